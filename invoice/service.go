package invoice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
)

// Errors callers branch on. The API maps each to a status and stable code.
var (
	// ErrNotFound is returned when an object does not exist, or belongs to
	// another merchant or mode: callers cannot tell those apart.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when an observation contradicts a stored one
	// (the same network transaction reported for two invoices).
	ErrConflict = errors.New("conflict")
)

// Clock tells the time; tests inject their own.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Service applies the domain's operations on a store, each in one
// transaction together with its events.
type Service struct {
	db       *bun.DB
	clock    Clock
	checkout Checkout
	log      *slog.Logger
	keys     keyCache
	written  func() // called after a commit that may have written events
	revoked  func() // called when keys may have been revoked
	epoch    atomic.Uint64
	// refundAfter: see SetFulfilmentRefundAfter.
	refundAfter time.Duration
}

// ConfigEpoch returns a number that moves whenever merchants' configuration
// (keys, live gates, accounts) may have changed, and whether caches of that
// configuration may be used at all: only while RunKeyWatcher runs, which
// moves the number at each of its looks and whenever an instance announces
// a change (ConfigChanged). A cache entry filled from a read that began in
// an epoch is good only while the epoch has not moved.
func (s *Service) ConfigEpoch() (uint64, bool) {
	e := s.epoch.Load()
	return e, s.keys.on()
}

// ConfigChanged is called after a change of a merchant's configuration that
// caches keyed by ConfigEpoch may hold (a rail account added or deleted): it
// moves the epoch here at once and, on Postgres, announces the change to
// every instance's key watcher, at commit when ctx carries a transaction.
func (s *Service) ConfigChanged(ctx context.Context) error {
	s.epoch.Add(1)
	return s.announceKeys(ctx)
}

// OnEventsWritten sets f to be called after every commit of this service
// that may have written events, so that the events package can sequence and
// deliver them at once instead of at its next poll. f must not block.
func (s *Service) OnEventsWritten(f func()) { s.written = f }

// OnKeysRevoked sets f to be called whenever API keys may have been
// revoked: at once after [Service.RevokeKey] in this process, and within
// KeyRefreshInterval of a revocation by another process while
// RunKeyWatcher runs. Holders of long-lived connections opened with a key
// (the merchant WebSocket hub) then ask [Service.RevokedKeys] which of
// theirs went. f must not block.
func (s *Service) OnKeysRevoked(f func()) { s.revoked = f }

func (s *Service) keysRevoked() {
	if s.revoked != nil {
		s.revoked()
	}
}

// EventsWritten is called by a caller that committed its own transaction
// (see WithTx) in which this service wrote events.
func (s *Service) EventsWritten() {
	if s.written != nil {
		s.written()
	}
}

// NewService returns a service on db. A nil clock means the system clock.
func NewService(db *bun.DB, clock Clock, checkout Checkout, log *slog.Logger) *Service {
	if clock == nil {
		clock = systemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: db, clock: clock, checkout: checkout, log: log}
	s.keys.reset(false)
	return s
}

// DB returns the service's database.
func (s *Service) DB() *bun.DB { return s.db }

// Checkout returns the checkout handles in use.
func (s *Service) Checkout() Checkout { return s.checkout }

// Now is the service's clock in UTC at microsecond precision, the precision
// both databases keep, so a value reads back as it was written.
func (s *Service) Now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// FieldError names an input field and the rule it broke.
type FieldError struct {
	Field string // JSON path below the body, e.g. "amount" or "metadata.color"
	Rule  string // e.g. "at most 2 decimals for USD"
	Code  string // stable machine code, e.g. "invalid_amount"
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

// ValidationError holds every field error of one request.
type ValidationError struct{ Fields []*FieldError }

func (e *ValidationError) Error() string {
	if len(e.Fields) == 0 {
		return "invalid input"
	}
	return e.Fields[0].Error()
}

func (e *ValidationError) add(field, code, format string, args ...any) {
	e.Fields = append(e.Fields, &FieldError{Field: field, Code: code, Rule: fmt.Sprintf(format, args...)})
}

func (e *ValidationError) err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Limits on invoice input.
const (
	MinExpiresIn      = 60
	MaxExpiresIn      = 7 * 24 * 3600
	DefaultExpiresIn  = 900
	MaxMetadataKeys   = 50
	MaxMetadataBytes  = 8 * 1024
	maxMetadataKeyLen = 40
	maxMetadataValLen = 500
	maxTextLen        = 1000
	maxOrderIDLen     = 200
	maxURLLen         = 2048
)

// CreateParams is a new invoice as asked for. PaymentMethods must already be
// checked against the network catalogue by the caller.
type CreateParams struct {
	MerchantID      string
	Mode            Mode
	Amount          string
	Currency        string
	PaymentMethods  []string
	MerchantOrderID string
	Description     string
	Metadata        map[string]string
	RedirectURL     string
	ExpiresIn       int64      // seconds; 0 means default unless ExpiresAt is set
	ExpiresAt       *time.Time // alternative to ExpiresIn
	// AllowTip lets the payor add a tip on the checkout, up to
	// TipCapPercent of the amount (0 means DefaultTipCapPercent).
	AllowTip      bool
	TipCapPercent int
	// Fulfilled false (not nil) makes a paid invoice wait for
	// [Service.Fulfil]: fulfilment pending.
	Fulfilled *bool
	// QRSessionID binds the invoice to a waiting QR session, which may
	// have only this one: the invoice takes the session's location, its
	// dynamic data as dynamic.* metadata and, without ExpiresIn or
	// ExpiresAt, its payment timeout. See claimQRSession.
	QRSessionID string
	// Prepare, when set, runs in the creating transaction before the invoice
	// is written: the chains package assigns deposit addresses and amounts
	// there and sets Instructions (it may also narrow PaymentMethods).
	Prepare func(ctx context.Context, tx bun.IDB, inv *Invoice) error
	// PrepareReadOnly says that Prepare writes nothing (it only narrows
	// the methods or refuses them): Create then runs it before a single
	// statement that writes the invoice and its event, without a
	// transaction of its own.
	PrepareReadOnly bool
	// TerminalID is the terminal creating it (a key of scope terminal), or
	// "", and LocationID that terminal's location, if it has one.
	TerminalID, LocationID string
}

// build validates p and returns the invoice it describes.
func (p CreateParams) build(now time.Time) (Invoice, error) {
	var v ValidationError
	cur := Currency(p.Currency)
	decimals, ok := cur.Decimals()
	if !ok {
		v.add("currency", "invalid_currency", "unsupported currency %q (supported: %v)", p.Currency, Currencies())
	}
	var amount Units
	if ok {
		var err error
		if amount, err = ParseAmount(p.Amount, decimals); err != nil {
			v.add("amount", "invalid_amount", "%v for %s", err, p.Currency)
		}
	}
	expiresAt := now.Add(DefaultExpiresIn * time.Second)
	switch {
	case p.ExpiresAt != nil && p.ExpiresIn != 0:
		v.add("expires_in", "invalid_expiry", "give expires_in or expires_at, not both")
	case p.ExpiresAt != nil:
		d := p.ExpiresAt.Sub(now)
		if d < MinExpiresIn*time.Second || d > MaxExpiresIn*time.Second {
			v.add("expires_at", "invalid_expiry", "must be between %d seconds and %d days from now", MinExpiresIn, MaxExpiresIn/86400)
		}
		expiresAt = p.ExpiresAt.UTC().Truncate(time.Microsecond)
	case p.ExpiresIn != 0:
		if p.ExpiresIn < MinExpiresIn || p.ExpiresIn > MaxExpiresIn {
			v.add("expires_in", "invalid_expiry", "must be between %d and %d seconds", MinExpiresIn, MaxExpiresIn)
		}
		expiresAt = now.Add(time.Duration(p.ExpiresIn) * time.Second)
	}
	checkMetadata(&v, p.Metadata)
	checkText(&v, "description", p.Description, maxTextLen)
	checkText(&v, "merchant_order_id", p.MerchantOrderID, maxOrderIDLen)
	if p.RedirectURL != "" {
		u, err := url.Parse(p.RedirectURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(p.RedirectURL) > maxURLLen {
			v.add("redirect_url", "invalid_url", "must be an absolute http(s) URL of at most %d characters", maxURLLen)
		}
	}
	tipCap := 0
	switch {
	case p.TipCapPercent != 0 && !p.AllowTip:
		v.add("tip_cap_percent", "invalid_tip_cap", "give tip_cap_percent only with allow_tip: true")
	case p.TipCapPercent < 0 || p.TipCapPercent > 100:
		v.add("tip_cap_percent", "invalid_tip_cap", "must be between 1 and 100")
	case p.AllowTip && p.TipCapPercent == 0:
		tipCap = DefaultTipCapPercent
	case p.AllowTip:
		tipCap = p.TipCapPercent
	}
	fulfilment := FulfilmentNotRequired
	if p.Fulfilled != nil && !*p.Fulfilled {
		fulfilment = FulfilmentPending
	}
	if len(p.PaymentMethods) == 0 {
		v.add("payment_methods", "invalid_payment_method", "at least one payment method is required")
	}
	if err := v.err(); err != nil {
		return Invoice{}, err
	}
	if p.Metadata == nil {
		p.Metadata = map[string]string{}
	}
	return Invoice{
		ID:              NewID("inv_", now),
		MerchantID:      p.MerchantID,
		Mode:            p.Mode,
		Status:          StatusOpen,
		Exception:       ExceptionNone,
		Currency:        cur,
		Decimals:        decimals,
		Amount:          amount,
		AmountPaid:      NewUnits(0),
		PaymentMethods:  p.PaymentMethods,
		MerchantOrderID: p.MerchantOrderID,
		Description:     p.Description,
		Metadata:        p.Metadata,
		RedirectURL:     p.RedirectURL,
		SessionToken:    randomToken(20),
		TerminalID:      p.TerminalID,
		LocationID:      p.LocationID,
		ExpiresAt:       expiresAt,
		CreatedAt:       now,
		UpdatedAt:       now,
		AllowTip:        p.AllowTip,
		TipCapPercent:   tipCap,
		TipAmount:       NewUnits(0),
		Fulfilment:      fulfilment,
	}, nil
}

func checkMetadata(v *ValidationError, md map[string]string) {
	if len(md) > MaxMetadataKeys {
		v.add("metadata", "invalid_metadata", "at most %d keys", MaxMetadataKeys)
	}
	size := 0
	for k, val := range md {
		size += len(k) + len(val)
		if k == "" || utf8.RuneCountInString(k) > maxMetadataKeyLen {
			v.add("metadata", "invalid_metadata", "keys must be 1 to %d characters", maxMetadataKeyLen)
		}
		if utf8.RuneCountInString(val) > maxMetadataValLen {
			v.add("metadata."+k, "invalid_metadata", "values must be at most %d characters", maxMetadataValLen)
		}
	}
	if size > MaxMetadataBytes {
		v.add("metadata", "invalid_metadata", "at most %d bytes of keys and values", MaxMetadataBytes)
	}
}

func checkText(v *ValidationError, field, s string, max int) {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		v.add(field, "invalid_"+field, "at most %d characters of valid UTF-8", max)
	}
}
