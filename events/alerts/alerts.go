// Package alerts tells operators and merchants, without their watching
// logs, when something needs them: a webhook endpoint failing for an hour,
// a network's watcher lagging or its provider down, unmatched money
// received, a refund not sent in time. A condition that starts to hold
// fires one alert, across instances, and its end resolves it: each is a
// system.alert event on the merchant's feed (webhooks, WebSockets, the
// events list) and an email to the operator over SMTP.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

// EventType is the type of the events alerts write.
const EventType = events.TypeSystemAlert

// Kinds of alert.
const (
	KindWebhookFailing = "webhook_endpoint_failing" // subject: the endpoint id
	KindNetworkLagging = "network_lagging"          // subject: the network id; the operator's
	KindNetworkDown    = "network_down"             // subject: the network id; the operator's
	KindUnmatched      = "unmatched_payment"        // subject: the unmatched payment or rail credit id
	KindRefundDue      = "refund_due"               // subject: the invoice id
)

// States of an alert.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// Alert is one condition, while it holds and after.
type Alert struct {
	bun.BaseModel `bun:"table:alerts"`

	ID         string       `bun:"id,pk"`
	MerchantID string       `bun:"merchant_id"` // "" for the operator's
	Mode       invoice.Mode `bun:"mode"`
	Kind       string       `bun:"kind"`
	Subject    string       `bun:"subject"`
	Message    string       `bun:"message"`
	State      string       `bun:"state"`
	FiredAt    time.Time    `bun:"fired_at"`
	ResolvedAt *time.Time   `bun:"resolved_at"`
	// MailDue is the notice still to email: Firing, Resolved or "".
	MailDue          string     `bun:"mail_due"`
	MailClaimedUntil *time.Time `bun:"mail_claimed_until"`
	MailAttempts     int        `bun:"mail_attempts"`
	MailError        string     `bun:"mail_error"`
	UpdatedAt        time.Time  `bun:"updated_at"`
}

// Object is the public form of an alert, the data of its events.
type Object struct {
	ID         string     `json:"id" example:"alr_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object     string     `json:"object" enum:"alert"`
	Kind       string     `json:"kind" enum:"webhook_endpoint_failing,network_lagging,network_down,unmatched_payment,refund_due"`
	Subject    string     `json:"subject" doc:"What the alert is about: an endpoint, network, unmatched payment or invoice id."`
	Message    string     `json:"message"`
	State      string     `json:"state" enum:"firing,resolved"`
	FiredAt    time.Time  `json:"fired_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

// Object returns the public form of a.
func (a *Alert) Object() Object {
	return Object{ID: a.ID, Object: "alert", Kind: a.Kind, Subject: a.Subject, Message: a.Message, State: a.State,
		FiredAt: a.FiredAt, ResolvedAt: a.ResolvedAt}
}

// Condition is something that holds now and needs someone: a merchant
// (MerchantID, Mode), or the operator (MerchantID ""), whose conditions
// are also told on the feeds of the merchants they affect.
type Condition struct {
	MerchantID string
	Mode       invoice.Mode
	Kind       string
	Subject    string
	Message    string
	Feeds      []Feed // operator's conditions: merchants told on their feeds too
}

// Feed is a merchant's event feed in one mode.
type Feed struct {
	MerchantID string
	Mode       invoice.Mode
}

// Source finds the conditions of one kind that hold now.
type Source interface {
	Kind() string
	// Check returns the conditions that hold at now, and whether this
	// instance can tell of subject at all (a network's watcher runs on the
	// instance holding its lease): an alert whose subject it cannot tell
	// of is neither fired nor resolved here.
	Check(ctx context.Context, now time.Time) (held []Condition, covers func(subject string) bool, err error)
}

// Config configures an Engine.
type Config struct {
	Interval time.Duration // between checks (default 30 s)
	Mailer   Mailer        // nil: no email
	// To are the operator's addresses, who get every alert by email.
	To []string
	// Now is the clock (default the service's).
	Now func() time.Time
	Log *slog.Logger
	// OnEventsWritten is called after a check wrote events (the sequencer's
	// wake-up).
	OnEventsWritten func()
}

// Engine checks the sources and keeps the alerts table in step with them.
type Engine struct {
	db      *bun.DB
	sources []Source
	cfg     Config
}

// New returns an engine over db checking sources.
func New(db *bun.DB, cfg Config, sources ...Source) *Engine {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Engine{db: db, sources: sources, cfg: cfg}
}

func (e *Engine) now() time.Time { return e.cfg.Now().UTC().Truncate(time.Microsecond) }

// Run checks every Interval until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	for {
		if err := e.Check(ctx); err != nil && ctx.Err() == nil {
			e.cfg.Log.WarnContext(ctx, "alerts: check", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check asks every source once, fires the alerts of new conditions,
// resolves those whose condition ended, and sends the emails due.
func (e *Engine) Check(ctx context.Context) error {
	var errs []error
	for _, s := range e.sources {
		if err := e.check(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Kind(), err))
		}
	}
	if err := e.mail(ctx); err != nil {
		errs = append(errs, fmt.Errorf("mail: %w", err))
	}
	return errors.Join(errs...)
}

type key struct {
	merchant string
	mode     invoice.Mode
	subject  string
}

func (e *Engine) check(ctx context.Context, s Source) error {
	now := e.now()
	held, covers, err := s.Check(ctx, now)
	if err != nil {
		return err
	}
	var open []Alert
	if err := e.db.NewSelect().Model(&open).Where("kind = ? AND state = ?", s.Kind(), Firing).Scan(ctx); err != nil {
		return err
	}
	holds := make(map[key]bool, len(held))
	for _, c := range held {
		holds[key{c.MerchantID, c.Mode, c.Subject}] = true
	}
	firing := make(map[key]bool, len(open))
	wrote := false
	for _, a := range open {
		k := key{a.MerchantID, a.Mode, a.Subject}
		firing[k] = true
		if holds[k] || !covers(a.Subject) {
			continue
		}
		ok, err := e.resolve(ctx, a, s, now)
		if err != nil {
			return err
		}
		wrote = wrote || ok
	}
	for _, c := range held {
		if firing[key{c.MerchantID, c.Mode, c.Subject}] {
			continue
		}
		ok, err := e.fire(ctx, c, now)
		if err != nil {
			return err
		}
		wrote = wrote || ok
	}
	if wrote && e.cfg.OnEventsWritten != nil {
		e.cfg.OnEventsWritten()
	}
	return nil
}

// fire records a new alert for c and its events, unless another instance
// fired it first (the partial unique index); it reports whether it wrote.
func (e *Engine) fire(ctx context.Context, c Condition, now time.Time) (bool, error) {
	a := Alert{ID: invoice.NewID("alr_", now), MerchantID: c.MerchantID, Mode: c.Mode, Kind: c.Kind, Subject: c.Subject,
		Message: c.Message, State: Firing, FiredAt: now, UpdatedAt: now}
	if len(e.cfg.To) > 0 && e.cfg.Mailer != nil {
		a.MailDue = Firing
	}
	wrote := false
	err := e.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewInsert().Model(&a).On("CONFLICT DO NOTHING").Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // fired by another instance
		}
		wrote = true
		return e.events(ctx, tx, &a, c.Feeds, now)
	})
	if err == nil && wrote {
		e.cfg.Log.WarnContext(ctx, "alert fired", "alert_id", a.ID, "kind", a.Kind, "subject", a.Subject, "merchant_id", a.MerchantID, "message", a.Message)
	}
	return wrote, err
}

// resolve ends alert a, unless another instance ended it first.
func (e *Engine) resolve(ctx context.Context, a Alert, s Source, now time.Time) (bool, error) {
	a.State, a.ResolvedAt, a.UpdatedAt = Resolved, &now, now
	if len(e.cfg.To) > 0 && e.cfg.Mailer != nil {
		a.MailDue = Resolved // a firing notice not yet sent is told in this one
	}
	wrote := false
	err := e.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model(&a).Column("state", "resolved_at", "mail_due", "updated_at").
			WherePK().Where("state = ?", Firing).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		wrote = true
		var feeds []Feed
		if a.MerchantID == "" {
			if feeds, err = affected(ctx, tx, s, a.Subject); err != nil {
				return err
			}
		}
		return e.events(ctx, tx, &a, feeds, now)
	})
	if err == nil && wrote {
		e.cfg.Log.InfoContext(ctx, "alert resolved", "alert_id", a.ID, "kind", a.Kind, "subject", a.Subject, "merchant_id", a.MerchantID)
	}
	return wrote, err
}

// affected asks an operator's source which merchants its subject touches.
func affected(ctx context.Context, db bun.IDB, s Source, subject string) ([]Feed, error) {
	if a, ok := s.(interface {
		Affected(ctx context.Context, db bun.IDB, subject string) ([]Feed, error)
	}); ok {
		return a.Affected(ctx, db, subject)
	}
	return nil, nil
}

// events writes a's system.alert event on its merchant's feed, or for an
// operator's alert on each of feeds.
func (e *Engine) events(ctx context.Context, tx bun.Tx, a *Alert, feeds []Feed, now time.Time) error {
	data, err := json.Marshal(struct {
		Object Object `json:"object"`
	}{a.Object()})
	if err != nil {
		return err
	}
	if a.MerchantID != "" {
		feeds = []Feed{{a.MerchantID, a.Mode}}
	}
	if len(feeds) == 0 {
		return nil
	}
	evs := make([]invoice.Event, len(feeds))
	for i, f := range feeds {
		evs[i] = invoice.Event{ID: invoice.NewID("evt_", now), MerchantID: f.MerchantID, Mode: f.Mode, Type: EventType,
			CreatedAt: now, Data: string(data)}
	}
	return invoice.InsertEvents(ctx, tx, evs...)
}
