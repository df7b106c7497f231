package events

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/invoice"
)

// DefaultSchedule is when a delivery is attempted: at once, then after each
// failure the next wait, about 28 hours in all; after the last it fails.
var DefaultSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// WebhookConfig tunes webhook delivery. Zero fields take their defaults.
type WebhookConfig struct {
	// Workers is the most attempts in flight at once in this process
	// (default 16).
	Workers int
	// PerEndpoint is the most attempts in flight to one endpoint, counted
	// across every instance on the database (default 4), so that a hanging
	// endpoint holds at most this many workers and others go on.
	PerEndpoint int
	// Timeout bounds one attempt, from dialling to the status line
	// (default 10 s): a 2xx within it is success.
	Timeout time.Duration
	// LeaseMargin is added to Timeout for a claim's lease (default 30 s):
	// an attempt whose worker died is made again once its lease expires.
	LeaseMargin time.Duration
	// Schedule[0] is when the first attempt is due (the sequencer makes
	// deliveries due at once); after the n-th failed attempt the next waits
	// Schedule[n]; after len(Schedule) failed attempts the delivery is
	// failed. Default DefaultSchedule.
	Schedule []time.Duration
	// Jitter spreads each wait over ±Jitter of itself (default 0.2;
	// negative for none).
	Jitter float64
	// MaxRetryAfter caps a Retry-After honoured on 429 and 503 (default 24 h).
	MaxRetryAfter time.Duration
	// DisableAfter disables an endpoint whose attempts have all failed for
	// this long (default 5 days); a 410 Gone disables it at once.
	DisableAfter time.Duration
	// PollInterval is how often due deliveries are looked for without a
	// wake-up (default 1 s): retries come due without one.
	PollInterval time.Duration
	// Now is the clock of schedules, leases and records (default
	// time.Now). The webhook-timestamp header is always the wall clock,
	// since receivers compare it with theirs.
	Now func() time.Time
	// AllowPrivateAddresses lets endpoints of both modes use loopback,
	// private and link-local addresses, when their URL is set and at every
	// delivery (default false: such targets are refused in every mode, or
	// a merchant could read services on settle's own network through the
	// deliveries list). `settle devnet`, whose inbox is on loopback, and
	// tests that deliver to local servers turn it on.
	AllowPrivateAddresses bool
	// TLS is the base TLS configuration of https deliveries (default: the
	// system's roots).
	TLS *tls.Config
}

func (c *WebhookConfig) defaults() {
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.LeaseMargin <= 0 {
		c.LeaseMargin = 30 * time.Second
	}
	if len(c.Schedule) == 0 {
		c.Schedule = DefaultSchedule
	}
	if c.Jitter == 0 {
		c.Jitter = 0.2
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 24 * time.Hour
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = 5 * 24 * time.Hour
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Webhooks delivers pending deliveries to merchants' endpoints: a pool of
// workers that claim due deliveries from the store (FOR UPDATE SKIP LOCKED
// on Postgres, so any number of instances share the work), sign and POST
// each event, and record every attempt with the next one's time. The store
// is the truth: a claim is a lease, and an attempt whose worker died is
// made again when its lease expires, with the same webhook-id.
type Webhooks struct {
	db     *bun.DB
	log    *slog.Logger
	cfg    WebhookConfig
	due    *Signal
	wake   Signal // a worker finished, or deliveries were made due here
	client *client
}

// NewWebhooks returns the delivery engine on db; due rings when deliveries
// may have become due (after the sequencer's batches).
func NewWebhooks(db *bun.DB, log *slog.Logger, cfg WebhookConfig, due *Signal) *Webhooks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if due == nil {
		due = &Signal{}
	}
	cfg.defaults()
	return &Webhooks{db: db, log: log, cfg: cfg, due: due, client: newClient(cfg.AllowPrivateAddresses, cfg.TLS)}
}

// Policy is the address policy endpoints are checked against.
func (w *Webhooks) Policy() AddressPolicy {
	return AddressPolicy{AllowPrivate: w.cfg.AllowPrivateAddresses}
}

// Notify wakes the workers: deliveries were made due (a retry, a replay).
func (w *Webhooks) Notify() { w.wake.Notify() }

// now is the configured clock at the precision both databases keep.
func (w *Webhooks) now() time.Time { return w.cfg.Now().UTC().Truncate(time.Microsecond) }

// Run delivers until ctx ends, then waits for the attempts in flight to
// finish and be recorded (at most Timeout).
func (w *Webhooks) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, w.cfg.Workers)
	tick := time.NewTicker(w.cfg.PollInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		due, wake := w.due.C(), w.wake.C()
		if free := cap(slots) - len(slots); free > 0 {
			claimed, err := w.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				w.log.WarnContext(ctx, "claim webhook deliveries", "err", err)
			}
			for _, c := range claimed {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-slots
						w.wake.Notify()
					}()
					w.attempt(ctx, c)
				})
			}
		}
		select {
		case <-ctx.Done():
		case <-due:
		case <-wake:
		case <-tick.C:
		}
	}
}

// claimed is one delivery this worker holds, with what it needs to send.
type claimed struct {
	delivery Delivery
	endpoint Endpoint
	event    invoice.Event
	lease    time.Time // the locked_until this claim wrote
}

// claim leases up to n due deliveries of enabled endpoints, no more per
// endpoint than PerEndpoint minus those already in flight anywhere.
func (w *Webhooks) claim(ctx context.Context, n int) ([]claimed, error) {
	now := w.now()
	lease := now.Add(w.cfg.Timeout + w.cfg.LeaseMargin)
	// Look before taking a write transaction: most wake-ups (every batch of
	// events, with or without endpoints) find nothing due.
	due, err := w.db.NewSelect().Model((*Delivery)(nil)).
		Where("status = ? AND next_attempt_at <= ?", DeliveryPending, now).Limit(1).Exists(ctx)
	if err != nil || !due {
		return nil, err
	}
	var picked []Delivery
	err = w.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var busy []struct {
			EndpointID string `bun:"endpoint_id"`
			N          int    `bun:"n"`
		}
		// A delivery in flight was due when claimed, so it lies in the
		// due part of the pending index.
		if err := tx.NewSelect().TableExpr("webhook_deliveries").ColumnExpr("endpoint_id, COUNT(*) AS n").
			Where("status = ? AND next_attempt_at <= ? AND locked_until > ?", DeliveryPending, now, now).
			GroupExpr("endpoint_id").Scan(ctx, &busy); err != nil {
			return fmt.Errorf("count in flight: %w", err)
		}
		room := map[string]int{}
		var full []string
		for _, b := range busy {
			room[b.EndpointID] = w.cfg.PerEndpoint - b.N
			if b.N >= w.cfg.PerEndpoint {
				full = append(full, b.EndpointID)
			}
		}
		var due []Delivery
		q := tx.NewSelect().Model(&due).
			Where("delivery.status = ? AND delivery.next_attempt_at <= ?", DeliveryPending, now).
			Where("(delivery.locked_until IS NULL OR delivery.locked_until <= ?)", now).
			Where("EXISTS (SELECT 1 FROM webhook_endpoints AS e WHERE e.id = delivery.endpoint_id AND e.enabled AND e.deleted_at IS NULL)").
			OrderExpr("delivery.next_attempt_at, delivery.id").Limit(int64(min(n*w.cfg.PerEndpoint, 1000)))
		if len(full) > 0 {
			q = q.Where("delivery.endpoint_id NOT IN (?)", bun.In(full))
		}
		if tx.Dialect().Name() == dialect.PG {
			q = q.For("UPDATE OF delivery SKIP LOCKED")
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("select due: %w", err)
		}
		picked = picked[:0]
		ids := []string{}
		for _, d := range due {
			if len(picked) == n {
				break
			}
			r, seen := room[d.EndpointID]
			if !seen {
				r = w.cfg.PerEndpoint
			}
			if r <= 0 {
				continue
			}
			room[d.EndpointID] = r - 1
			d.LockedUntil = &lease
			picked = append(picked, d)
			ids = append(ids, d.ID)
		}
		if len(ids) == 0 {
			return nil
		}
		_, err := tx.NewUpdate().Model((*Delivery)(nil)).Set("locked_until = ?, updated_at = ?", lease, now).
			Where("id IN (?)", bun.In(ids)).Exec(ctx)
		return err
	})
	if err != nil || len(picked) == 0 {
		return nil, err
	}
	// What is claimed is attempted, even if ctx ends meanwhile: Run waits.
	return w.load(context.WithoutCancel(ctx), picked, lease)
}

// load fetches the endpoints and events of claimed deliveries. A delivery
// whose endpoint or event cannot be read stays leased and is tried again
// when the lease expires.
func (w *Webhooks) load(ctx context.Context, picked []Delivery, lease time.Time) ([]claimed, error) {
	epIDs, evIDs := make([]string, 0, len(picked)), make([]string, 0, len(picked))
	for _, d := range picked {
		epIDs = append(epIDs, d.EndpointID)
		evIDs = append(evIDs, d.EventID)
	}
	var eps []Endpoint
	if err := w.db.NewSelect().Model(&eps).Where("id IN (?)", bun.In(epIDs)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("load endpoints: %w", err)
	}
	var evs []invoice.Event
	if err := w.db.NewSelect().Model(&evs).Where("id IN (?)", bun.In(evIDs)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	byEP := make(map[string]Endpoint, len(eps))
	for _, e := range eps {
		byEP[e.ID] = e
	}
	byEV := make(map[string]invoice.Event, len(evs))
	for _, e := range evs {
		byEV[e.ID] = e
	}
	out := make([]claimed, 0, len(picked))
	for _, d := range picked {
		ep, ok1 := byEP[d.EndpointID]
		ev, ok2 := byEV[d.EventID]
		if ok1 && ok2 {
			out = append(out, claimed{delivery: d, endpoint: ep, event: ev, lease: lease})
		}
	}
	return out, nil
}
