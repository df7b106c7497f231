package events

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

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
	// VacuumEvery is the fewest attempts this engine records between two
	// VACUUMs of the webhook queue on Postgres (default 1000; negative:
	// never); with a large backlog, a tenth of the queue. Every claim and
	// record leaves a dead row version in the queue and its indexes, in the
	// very range the next claims read; the queue holds only the backlog,
	// so vacuuming it is cheap, and without it (autovacuum off or behind)
	// claims would slow as deliveries pass.
	VacuumEvery int
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
	if c.VacuumEvery == 0 {
		c.VacuumEvery = 1000
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

	sinceVacuum int // attempts recorded since the last vacuum (recordLoop only)
	vacuuming   atomic.Bool
	queueSize   atomic.Int64   // rows in the queue at the last vacuum
	background  sync.WaitGroup // vacuums, waited for when Run returns
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
//
// One loop claims due deliveries in batches and hands each to a worker; a
// worker signs and posts it and passes the outcome to one recorder, which
// writes every outcome that has gathered meanwhile in one batch. A worker's
// slot is free as soon as its request ends; its delivery stays leased until
// the record is written.
func (w *Webhooks) Run(ctx context.Context) {
	if err := w.prune(ctx); err != nil && ctx.Err() == nil {
		w.log.WarnContext(ctx, "prune webhook queue", "err", err)
	}
	outcomes := make(chan result, w.cfg.Workers)
	recorded := make(chan struct{})
	go func() { defer close(recorded); w.recordLoop(context.WithoutCancel(ctx), outcomes) }()
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		close(outcomes)
		<-recorded
		w.background.Wait()
	}()
	slots := make(chan struct{}, w.cfg.Workers)
	tick := time.NewTicker(w.cfg.PollInterval)
	defer tick.Stop()
	// A claim waits for a quarter of the workers to be free while the
	// last one filled every free slot (more is due), so that each claim
	// takes a batch; when the last claim found less than it asked for, any
	// free slot claims at once.
	batch, short := max(w.cfg.Workers/4, 1), true
	for ctx.Err() == nil {
		due, wake := w.due.C(), w.wake.C()
		if free := cap(slots) - len(slots); free >= batch || free > 0 && short {
			claimed, err := w.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				w.log.WarnContext(ctx, "claim webhook deliveries", "err", err)
			}
			short = len(claimed) < free
			for _, c := range claimed {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-slots
						w.wake.Notify()
					}()
					// The attempt is not cut short when ctx ends:
					// shutting down waits for it and its record.
					outcomes <- result{c, w.send(context.WithoutCancel(ctx), c)}
				})
			}
		}
		select {
		case <-ctx.Done():
		case <-due:
			short = true // new deliveries, or a replay
		case <-wake:
		case <-tick.C:
			short = true // retries come due
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
