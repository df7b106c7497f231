package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/invoice"
)

// SequencedChannel is the Postgres NOTIFY channel on which a sequencer
// announces new sequence numbers to every instance.
const SequencedChannel = "settle_sequenced"

// Sequencer gives stored events their public sequence numbers, in commit
// order, and fans each event out to the webhook endpoints that want it, in
// the same transaction.
//
// Why: Postgres assigns identity values when a row is inserted, but rows
// become visible when their transaction commits, and those orders differ; a
// reader resuming "after sequence N" would skip a row committed late. Here
// sequences are assigned only to rows already committed, and a batch's
// numbers become visible together and after every lower one (on Postgres
// the unique index on sequence serialises sequencers that clash, see
// numberPG; SQLite has one writer), so the sequenced prefix of the table
// only ever grows at its end.
type Sequencer struct {
	db       *bun.DB
	log      *slog.Logger
	written  *Signal // rung by writers of events (invoice.Service.OnEventsWritten)
	sequence *Signal // rung after each batch is committed
	// Interval is the poll for rows written by other processes (a CLI
	// command, an instance that stopped before numbering its own): this
	// process's writers ring written, and every instance runs a sequencer,
	// so the poll is a fallback and an idle one costs one indexed read. Batch is
	// the most events sequenced in one transaction. Coalesce is the longest
	// a wake-up waits for more writes to join its batch: it waits a
	// millisecond per event the last batch numbered (one when it numbered
	// none), up to Coalesce. A lone payment's event is numbered within a
	// millisecond or so; under load (more than about a thousand events a
	// second) batches grow until each waits Coalesce, and one transaction
	// numbers many events instead of a few.
	Interval time.Duration
	Batch    int
	Coalesce time.Duration
	// VacuumEvery is how many events this sequencer numbers between two
	// VACUUMs of the events table on Postgres (0: never). Numbering an
	// event updates its row, and the dead version stays in every index of
	// events, the partial one of unsequenced events included, until a
	// vacuum: without one (autovacuum off or behind) each scan for
	// unsequenced events reads all of them and grows with the table.
	VacuumEvery int
	sinceVacuum int
	vacuuming   atomic.Bool
	now         func() time.Time
}

// NewSequencer returns a sequencer on db. written wakes it; it rings
// sequenced after each batch.
func NewSequencer(db *bun.DB, log *slog.Logger, written, sequenced *Signal) *Sequencer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sequencer{db: db, log: log, written: written, sequence: sequenced,
		Interval: time.Second, Batch: 500, Coalesce: 20 * time.Millisecond, VacuumEvery: 10000, now: time.Now}
}

// Run sequences until ctx ends.
func (s *Sequencer) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	look := true // after a poll, look before writing; after a ring, something was written
	for {
		wake := s.written.C()
		n, err := s.step(ctx, look)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.WarnContext(ctx, "sequence events", "err", err)
		case n > 0:
			s.sequence.Notify()
			s.vacuum(ctx, n)
		}
		if n == s.Batch {
			look = false
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
			look = false
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.coalesce(n)):
			}
		case <-t.C:
			look = true
		}
	}
}

// coalesce is how long a wake-up waits for more writes after a batch of n:
// a millisecond per event (at least one), at most Coalesce.
func (s *Sequencer) coalesce(n int) time.Duration {
	return min(s.Coalesce, time.Duration(max(n, 1))*time.Millisecond)
}

// vacuum counts n events numbered and, every VacuumEvery, vacuums the
// events table on Postgres in the background, one vacuum at a time. SKIP_LOCKED
// leaves it to another instance's vacuum in progress.
func (s *Sequencer) vacuum(ctx context.Context, n int) {
	if s.VacuumEvery <= 0 || s.db.Dialect().Name() != dialect.PG {
		return
	}
	if s.sinceVacuum += n; s.sinceVacuum < s.VacuumEvery || !s.vacuuming.CompareAndSwap(false, true) {
		return
	}
	s.sinceVacuum = 0
	go func() {
		defer s.vacuuming.Store(false)
		if _, err := s.db.ExecContext(ctx, "VACUUM (SKIP_LOCKED) events"); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "vacuum events", "err", err)
		}
	}()
}

// Step sequences one batch of committed, unsequenced events and creates
// their deliveries; it returns how many it sequenced.
func (s *Sequencer) Step(ctx context.Context) (int, error) { return s.step(ctx, true) }

// step is Step; look first checks, with one indexed read, that anything
// waits: an idle poll then costs no write transaction (which on SQLite
// would hold up every writer).
func (s *Sequencer) step(ctx context.Context, look bool) (int, error) {
	if look {
		waiting, err := s.db.NewSelect().TableExpr("events").Where("sequence IS NULL").Limit(1).Exists(ctx)
		if err != nil || !waiting {
			return 0, err
		}
	}
	if s.db.Dialect().Name() == dialect.PG {
		return s.stepPG(ctx)
	}
	var events []invoice.Event
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var last int64
		if err := tx.NewSelect().TableExpr("events").ColumnExpr("COALESCE(MAX(sequence), 0)").Scan(ctx, &last); err != nil {
			return err
		}
		res, err := tx.NewRaw(`UPDATE events SET sequence = r.seq FROM (
			SELECT id, ? + ROW_NUMBER() OVER (ORDER BY id) AS seq
			FROM (SELECT id FROM events WHERE sequence IS NULL ORDER BY id LIMIT ?) AS batch
		) AS r WHERE events.id = r.id`, last, s.Batch).Exec(ctx)
		if err != nil {
			return fmt.Errorf("assign sequences: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		if err := tx.NewSelect().Model(&events).Column("id", "merchant_id", "mode", "type").
			Where("sequence > ?", last).OrderExpr("sequence").Scan(ctx); err != nil {
			return err
		}
		if err := s.fanOut(ctx, tx, events); err != nil {
			return fmt.Errorf("fan out: %w", err)
		}
		return nil
	})
	return len(events), err
}

// numberPG numbers a batch on Postgres, announces it on SequencedChannel
// and returns the events numbered, each with whether its merchant has a
// webhook endpoint in its mode, in one statement.
//
// It takes no lock. Two sequencers (two instances) that number at once
// both start after the same MAX(sequence): the unique index on sequence
// makes the second wait for the first to commit and then fail on the first
// number they share (unique_violation), so numbers stay gapless and a
// sequence becomes visible only with every lower one; the second tries
// again and numbers what is left. "sequence IS NULL" is checked again on
// the row being updated, so a row the first numbered meanwhile is skipped,
// never numbered twice.
const numberPG = `WITH last AS (SELECT COALESCE(MAX(sequence), 0) AS n FROM events),
batch AS (
	SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn
	FROM (SELECT id FROM events WHERE sequence IS NULL ORDER BY id LIMIT ?) AS b
),
numbered AS (
	UPDATE events SET sequence = last.n + batch.rn FROM batch, last
	WHERE events.id = batch.id AND events.sequence IS NULL
	RETURNING events.id, events.merchant_id, events.mode, events.type
),
notified AS (SELECT pg_notify(?, '') WHERE EXISTS (SELECT 1 FROM numbered))
SELECT numbered.id, numbered.merchant_id, numbered.mode, numbered.type,
	EXISTS (SELECT 1 FROM webhook_endpoints AS ep WHERE ep.merchant_id = numbered.merchant_id
		AND ep.mode = numbered.mode AND ep.enabled AND ep.deleted_at IS NULL) AS fan_out
FROM numbered LEFT JOIN notified ON true`

// stepPG is step on Postgres: one statement numbers, notifies and says
// which events have endpoints; only those are fanned out, in the same
// transaction. A clash with another instance's sequencer is tried again.
func (s *Sequencer) stepPG(ctx context.Context) (int, error) {
	for attempt := 1; ; attempt++ {
		n, err := s.numberAndFanOut(ctx)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && attempt < 5 {
			continue // another sequencer committed these numbers first
		}
		return n, err
	}
}

func (s *Sequencer) numberAndFanOut(ctx context.Context) (int, error) {
	var n int
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var rows []struct {
			invoice.Event
			FanOut bool `bun:"fan_out"`
		}
		if err := tx.NewRaw(numberPG, s.Batch, SequencedChannel).Scan(ctx, &rows); err != nil {
			return fmt.Errorf("assign sequences: %w", err)
		}
		n = len(rows)
		var wanted []invoice.Event
		for _, r := range rows {
			if r.FanOut {
				wanted = append(wanted, r.Event)
			}
		}
		if len(wanted) == 0 {
			return nil
		}
		if err := s.fanOut(ctx, tx, wanted); err != nil {
			return fmt.Errorf("fan out: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// fanOut creates one pending delivery per event and endpoint that wants it.
// An endpoint created after an event does not get it (as with Stripe);
// replay sends older events on request.
func (s *Sequencer) fanOut(ctx context.Context, tx bun.IDB, events []invoice.Event) error {
	merchants := map[string]bool{}
	for _, e := range events {
		merchants[e.MerchantID] = true
	}
	ids := make([]string, 0, len(merchants))
	for m := range merchants {
		ids = append(ids, m)
	}
	var endpoints []Endpoint
	if err := tx.NewSelect().Model(&endpoints).
		Where("merchant_id IN (?) AND enabled AND deleted_at IS NULL", bun.In(ids)).Scan(ctx); err != nil {
		return err
	}
	if len(endpoints) == 0 {
		return nil
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	var deliveries []Delivery
	for _, e := range events {
		for i := range endpoints {
			ep := &endpoints[i]
			if ep.MerchantID != e.MerchantID || ep.Mode != e.Mode || !ep.Accepts(e.Type) {
				continue
			}
			deliveries = append(deliveries, NewDelivery(ep, e.ID, now))
		}
	}
	return InsertDeliveries(ctx, tx, deliveries)
}

// NewDelivery returns a pending delivery of an event to ep, due now.
func NewDelivery(ep *Endpoint, eventID string, now time.Time) Delivery {
	return Delivery{
		ID: invoice.NewID("whd_", now), EndpointID: ep.ID, EventID: eventID,
		MerchantID: ep.MerchantID, Mode: ep.Mode, Status: DeliveryPending,
		NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now,
	}
}

// InsertDeliveries stores deliveries; one that exists for the same endpoint
// and event is left as it is.
func InsertDeliveries(ctx context.Context, db bun.IDB, deliveries []Delivery) error {
	if len(deliveries) == 0 {
		return nil
	}
	_, err := db.NewInsert().Model(&deliveries).On("CONFLICT (endpoint_id, event_id) DO NOTHING").
		Returning("NULL").Exec(ctx)
	return err
}
