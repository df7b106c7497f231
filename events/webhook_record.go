package events

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/invoice"
)

// maxRecordBatch is the most outcomes written in one batch.
const maxRecordBatch = 500

// result is the outcome of one attempt of a claimed delivery.
type result struct {
	c claimed
	o outcome
}

// recordLoop writes outcomes until in is closed: each batch is every
// outcome that arrived while the previous one was written, so under load
// one write records many attempts and an idle engine records each at once.
// Successes are written together; a failure, which reads and may disable
// its endpoint, is written in a transaction of its own.
func (w *Webhooks) recordLoop(ctx context.Context, in <-chan result) {
	for r := range in {
		batch := []result{r}
	more:
		for len(batch) < maxRecordBatch {
			select {
			case r, ok := <-in:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		w.recordBatch(ctx, batch)
		w.wake.Notify() // leases released: endpoints at their limit have room
		w.vacuum(ctx, len(batch))
	}
}

// vacuum counts n attempts recorded and, every VacuumEvery or a tenth of
// the queue, whichever is more, vacuums the webhook queue on Postgres in the
// background, one vacuum at a time (SKIP_LOCKED leaves it to another
// instance's vacuum in progress). A vacuum reads the whole queue's indexes,
// so its cost grows with the backlog; spacing vacuums by the queue's size
// keeps their cost per delivery the same at any backlog. The vacuum also
// updates the row count the claim is planned with; the column statistics
// come from the ANALYZE at start (prune).
func (w *Webhooks) vacuum(ctx context.Context, n int) {
	if w.cfg.VacuumEvery <= 0 || w.db.Dialect().Name() != dialect.PG {
		return
	}
	every := max(w.cfg.VacuumEvery, int(w.queueSize.Load()/10))
	if w.sinceVacuum += n; w.sinceVacuum < every || !w.vacuuming.CompareAndSwap(false, true) {
		return
	}
	w.sinceVacuum = 0
	w.background.Go(func() {
		defer w.vacuuming.Store(false)
		if _, err := w.db.ExecContext(ctx, "VACUUM (SKIP_LOCKED) webhook_queue"); err != nil {
			w.log.WarnContext(ctx, "vacuum webhook queue", "err", err)
			return
		}
		var rows float64
		if err := w.db.NewRaw("SELECT reltuples FROM pg_class WHERE oid = 'webhook_queue'::regclass").Scan(ctx, &rows); err == nil {
			w.queueSize.Store(int64(max(rows, 0)))
		}
	})
}

func (w *Webhooks) recordBatch(ctx context.Context, batch []result) {
	var ok []result
	for _, r := range batch {
		if r.o.ok() {
			ok = append(ok, r)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := w.record(rctx, r.c, r.o); err != nil {
			// The lease expires and the attempt is made again: at least once.
			w.log.WarnContext(ctx, "record webhook attempt", "delivery_id", r.c.delivery.ID, "err", err)
		}
		cancel()
	}
	if len(ok) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	if w.db.Dialect().Name() == dialect.PG {
		err = w.recordSucceededPG(rctx, ok)
	} else {
		err = w.recordSucceeded(rctx, ok)
	}
	if err != nil {
		w.log.WarnContext(ctx, "record webhook attempts", "attempts", len(ok), "err", err)
	}
}

// attempts returns the attempt rows of a batch.
func (w *Webhooks) attempts(batch []result, now time.Time) []Attempt {
	out := make([]Attempt, len(batch))
	for i, r := range batch {
		out[i] = Attempt{
			ID: invoice.NewID("wha_", now), DeliveryID: r.c.delivery.ID, EndpointID: r.c.delivery.EndpointID,
			AttemptedAt: r.o.at, StatusCode: r.o.status, LatencyMS: r.o.latency.Milliseconds(),
			ResponseExcerpt: r.o.excerpt, Error: r.o.err,
		}
	}
	return out
}

// recordSucceededPG records successful attempts on Postgres in one
// statement: the attempt rows, each delivery succeeded (only where this
// worker's lease still holds: a delivery replayed or taken over meanwhile
// keeps just its attempt row), their queue rows removed, and the failure
// run of their endpoints ended.
func (w *Webhooks) recordSucceededPG(ctx context.Context, batch []result) error {
	now := w.now()
	var values strings.Builder
	args := []any{w.db.NewInsert().Model(ptr(w.attempts(batch, now)))}
	for i, r := range batch {
		if i > 0 {
			values.WriteString(", ")
		}
		values.WriteString("(?, ?, ?::timestamptz, ?::int, ?::int)")
		args = append(args, r.c.delivery.ID, r.c.delivery.EndpointID, r.c.lease, r.c.delivery.Attempts+1, r.o.status)
	}
	args = append(args, DeliverySucceeded, now)
	var done []string
	err := w.db.NewRaw(`WITH a AS (?), v(id, endpoint_id, lease, attempts, code) AS (VALUES `+values.String()+`),
d AS (UPDATE webhook_deliveries d SET status = ?, attempts = v.attempts, next_attempt_at = NULL, locked_until = NULL,
	last_status_code = v.code, last_error = '', updated_at = ?
	FROM v WHERE d.id = v.id AND d.locked_until = v.lease RETURNING d.id),
q AS (DELETE FROM webhook_queue q USING d WHERE q.delivery_id = d.id),
e AS (UPDATE webhook_endpoints SET failing_since = NULL
	WHERE id IN (SELECT endpoint_id FROM v) AND failing_since IS NOT NULL)
SELECT id FROM d`, args...).Scan(ctx, &done)
	if err != nil {
		return err
	}
	w.logRecorded(ctx, batch, done)
	return nil
}

func ptr[T any](v T) *T { return &v }

// recordSucceeded records successful attempts in one transaction, a
// statement per delivery: on SQLite these are calls, not round trips.
func (w *Webhooks) recordSucceeded(ctx context.Context, batch []result) error {
	now := w.now()
	attempts := w.attempts(batch, now)
	var done []string
	err := w.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		done = done[:0]
		if _, err := tx.NewInsert().Model(&attempts).Returning("NULL").Exec(ctx); err != nil {
			return fmt.Errorf("insert attempts: %w", err)
		}
		endpoints := map[string]bool{}
		for _, r := range batch {
			endpoints[r.c.delivery.EndpointID] = true
			res, err := tx.NewUpdate().Model((*Delivery)(nil)).
				Set("status = ?, attempts = ?, next_attempt_at = NULL, locked_until = NULL", DeliverySucceeded, r.c.delivery.Attempts+1).
				Set("last_status_code = ?, last_error = '', updated_at = ?", r.o.status, now).
				Where("id = ? AND locked_until = ?", r.c.delivery.ID, r.c.lease).Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				done = append(done, r.c.delivery.ID)
			}
		}
		if err := dequeue(ctx, tx, done); err != nil {
			return err
		}
		ids := make([]string, 0, len(endpoints))
		for id := range endpoints {
			ids = append(ids, id)
		}
		_, err := tx.NewUpdate().Model((*Endpoint)(nil)).Set("failing_since = NULL").
			Where("id IN (?) AND failing_since IS NOT NULL", bun.In(ids)).Exec(ctx)
		return err
	})
	if err != nil {
		return err
	}
	w.logRecorded(ctx, batch, done)
	return nil
}

// logRecorded logs each successful attempt of batch, saying which ones
// found their lease gone (done lists those that held it).
func (w *Webhooks) logRecorded(ctx context.Context, batch []result, done []string) {
	held := make(map[string]bool, len(done))
	for _, id := range done {
		held[id] = true
	}
	for _, r := range batch {
		d := r.c.delivery
		if !held[d.ID] {
			w.log.InfoContext(ctx, "webhook delivery was replayed or taken over while an attempt was in flight; only the attempt is recorded", "delivery_id", d.ID)
			continue
		}
		w.log.DebugContext(ctx, "webhook attempt", "delivery_id", d.ID, "endpoint_id", d.EndpointID,
			"event_id", d.EventID, "status_code", r.o.status, "outcome", DeliverySucceeded)
	}
}
