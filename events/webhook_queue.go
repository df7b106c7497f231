package events

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/invoice"
)

// This file holds the webhook queue (migration 011): one row per pending
// delivery with its endpoint, due time and lease, and the claim that takes
// due work from it. Deliveries keep their history and what the API shows;
// the queue only ever holds the backlog. Every change of a delivery's
// schedule writes both in one transaction (or statement).

// queued is a row of the webhook queue.
type queued struct {
	bun.BaseModel `bun:"table:webhook_queue"`
	DeliveryID    string     `bun:"delivery_id,pk"`
	EndpointID    string     `bun:"endpoint_id"`
	DueAt         *time.Time `bun:"due_at"`       // nil: paused with its endpoint
	LockedUntil   *time.Time `bun:"locked_until"` // the lease of an attempt in flight
}

// claimedRow is one row of the Postgres claim: the delivery as claimed, its
// endpoint and its event.
type claimedRow struct {
	Delivery Delivery      `bun:"embed:d_"`
	Endpoint Endpoint      `bun:"embed:e_"`
	Event    invoice.Event `bun:"embed:v_"`
}

// claim leases up to n due deliveries of enabled endpoints, at most
// PerEndpoint in flight per endpoint (counting the leases of every
// instance), oldest due first.
func (w *Webhooks) claim(ctx context.Context, n int) ([]claimed, error) {
	now := w.now()
	lease := now.Add(w.cfg.Timeout + w.cfg.LeaseMargin)
	if w.db.Dialect().Name() == dialect.PG {
		return w.claimPG(ctx, n, now, lease)
	}
	return w.claimSQLite(ctx, n, now, lease)
}

// claimPG is the claim on Postgres, one statement and one round trip:
//
//   - eps finds the endpoints that have queued work by skipping through
//     webhook_queue_due one endpoint at a time (a loose index scan), so
//     a backlog of any size costs one probe per endpoint;
//   - cand takes, per enabled endpoint, as many of its oldest due rows as
//     it has room for (PerEndpoint minus its unexpired leases, counted in
//     the small webhook_queue_leased index), then the n oldest of those:
//     an endpoint at its limit, a hanging one, adds nothing and is never
//     walked;
//   - chk reads each candidate's delivery by primary key: a queue row
//     whose delivery is no longer pending is deleted (stale), one whose
//     delivery holds a lease of its own takes that lease (held); neither
//     is claimed, and neither is seen again by the next claims;
//   - locked locks the rest, skipping any another claimer holds,
//     and re-checks that each is still due (Postgres re-evaluates the
//     condition on the newest version of a row changed since the
//     statement began, so a row another claimer took is skipped);
//   - the two updates lease the rows (locked_until, in the queue and in the
//     delivery); an attempt whose worker dies is due again when its lease
//     expires. A claim leaves due_at as it is, so the new version of a
//     queue row has the same key in webhook_queue_due as the old one, and
//     Postgres removes the old versions from the index pages the claims
//     work in (bottom-up deletion) between vacuums;
//   - the final select returns each delivery with its endpoint and event.
//
// The claim and the record write a delivery's lease (locked_until) and its
// queue row together; chk only repairs rows out of step (see
// [Webhooks.prune]).
func (w *Webhooks) claimPG(ctx context.Context, n int, now, lease time.Time) ([]claimed, error) {
	q, args := w.claimSQL(n, now, lease)
	var rows []claimedRow
	if err := w.db.NewRaw(q, args...).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	out := make([]claimed, len(rows))
	for i, r := range rows {
		out[i] = claimed{delivery: r.Delivery, endpoint: r.Endpoint, event: r.Event, lease: lease}
	}
	return out, nil
}

// claimSQL is the statement of claimPG and its arguments.
func (w *Webhooks) claimSQL(n int, now, lease time.Time) (string, []any) {
	q := `WITH RECURSIVE eps(id) AS (
	(SELECT endpoint_id FROM webhook_queue WHERE due_at IS NOT NULL ORDER BY endpoint_id LIMIT 1)
	UNION ALL
	SELECT (SELECT q.endpoint_id FROM webhook_queue q WHERE q.due_at IS NOT NULL AND q.endpoint_id > eps.id ORDER BY q.endpoint_id LIMIT 1)
	FROM eps WHERE eps.id IS NOT NULL
), cand AS (
	SELECT c.delivery_id, c.due_at FROM eps
	JOIN webhook_endpoints e ON e.id = eps.id AND e.enabled AND e.deleted_at IS NULL
	CROSS JOIN LATERAL (SELECT count(*) AS busy FROM webhook_queue l
		WHERE l.endpoint_id = eps.id AND l.locked_until IS NOT NULL AND l.locked_until > ?) b
	CROSS JOIN LATERAL (SELECT q.delivery_id, q.due_at FROM webhook_queue q
		WHERE q.endpoint_id = eps.id AND q.due_at IS NOT NULL AND q.due_at <= ? AND (q.locked_until IS NULL OR q.locked_until <= ?)
		ORDER BY q.endpoint_id, q.due_at LIMIT greatest(? - b.busy, 0)) c
	ORDER BY c.due_at LIMIT ?
), chk AS (
	SELECT cand.delivery_id, d.status, d.locked_until FROM cand LEFT JOIN webhook_deliveries d ON d.id = cand.delivery_id
), stale AS (
	DELETE FROM webhook_queue q USING chk
	WHERE q.delivery_id = chk.delivery_id AND chk.status IS DISTINCT FROM 'pending'
), held AS (
	UPDATE webhook_queue q SET locked_until = chk.locked_until FROM chk
	WHERE q.delivery_id = chk.delivery_id AND chk.status = 'pending' AND chk.locked_until > ?
), locked AS (
	SELECT q.delivery_id FROM webhook_queue q
	WHERE q.delivery_id IN (SELECT delivery_id FROM chk WHERE status = 'pending' AND (locked_until IS NULL OR locked_until <= ?))
	AND q.due_at <= ? AND (q.locked_until IS NULL OR q.locked_until <= ?)
	FOR UPDATE SKIP LOCKED
), leased AS (
	UPDATE webhook_queue q SET locked_until = ? FROM locked
	WHERE q.delivery_id = locked.delivery_id RETURNING q.delivery_id
), c AS (
	UPDATE webhook_deliveries d SET locked_until = ?, updated_at = ? FROM leased
	WHERE d.id = leased.delivery_id RETURNING d.*
)
SELECT ` + w.columns((*Delivery)(nil), "c", "d_") + `, ` + w.columns((*Endpoint)(nil), "e", "e_") + `, ` +
		w.columns((*invoice.Event)(nil), "v", "v_") + `
FROM c JOIN webhook_endpoints e ON e.id = c.endpoint_id JOIN events v ON v.id = c.event_id`
	return q, []any{now, now, now, w.cfg.PerEndpoint, n, now, now, now, now, lease, lease, now}
}

// columns lists the columns of model's table as alias.column AS prefix+column.
func (w *Webhooks) columns(model any, alias, prefix string) string {
	t := w.db.Table(reflect.TypeOf(model).Elem())
	cols := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		cols[i] = alias + "." + f.Name + " AS " + prefix + f.Name
	}
	return strings.Join(cols, ", ")
}

// claimSQLite is the claim on SQLite, which has one writer: a transaction
// that looks at each enabled endpoint with due work, takes as many of its
// oldest due rows as it has room for, and leases the n oldest of those.
// Its statements are calls within the process, not round trips.
func (w *Webhooks) claimSQLite(ctx context.Context, n int, now, lease time.Time) ([]claimed, error) {
	// Look before taking a write transaction: most wake-ups (every batch of
	// events, with or without endpoints) find nothing due.
	due, err := w.db.NewSelect().Model((*queued)(nil)).Where("due_at IS NOT NULL AND due_at <= ? AND (locked_until IS NULL OR locked_until <= ?)", now, now).Limit(1).Exists(ctx)
	if err != nil || !due {
		return nil, err
	}
	var picked []Delivery
	err = w.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var eps []string
		if err := tx.NewSelect().TableExpr("webhook_endpoints AS e").Column("e.id").
			Where("e.enabled AND e.deleted_at IS NULL").
			Where("EXISTS (SELECT 1 FROM webhook_queue q WHERE q.endpoint_id = e.id AND q.due_at IS NOT NULL AND q.due_at <= ?)", now).
			Scan(ctx, &eps); err != nil {
			return fmt.Errorf("endpoints with due work: %w", err)
		}
		var cands []queued
		for _, ep := range eps {
			busy, err := tx.NewSelect().Model((*queued)(nil)).
				Where("endpoint_id = ? AND locked_until IS NOT NULL AND locked_until > ?", ep, now).Count(ctx)
			if err != nil {
				return fmt.Errorf("count in flight: %w", err)
			}
			room := w.cfg.PerEndpoint - int(busy)
			if room <= 0 {
				continue
			}
			var some []queued
			if err := tx.NewSelect().Model(&some).
				Where("endpoint_id = ? AND due_at IS NOT NULL AND due_at <= ?", ep, now).
				Where("locked_until IS NULL OR locked_until <= ?", now).
				Where("EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = queued.delivery_id AND d.status = ? AND (d.locked_until IS NULL OR d.locked_until <= ?))", DeliveryPending, now).
				OrderExpr("due_at").Limit(int64(room)).Scan(ctx); err != nil {
				return fmt.Errorf("select due: %w", err)
			}
			cands = append(cands, some...)
		}
		slices.SortStableFunc(cands, func(a, b queued) int { return a.DueAt.Compare(*b.DueAt) })
		cands = cands[:min(len(cands), n)]
		if len(cands) == 0 {
			return nil
		}
		ids := make([]string, len(cands))
		for i, c := range cands {
			ids[i] = c.DeliveryID
		}
		if _, err := tx.NewUpdate().Model((*queued)(nil)).Set("locked_until = ?", lease).
			Where("delivery_id IN (?)", bun.In(ids)).Exec(ctx); err != nil {
			return fmt.Errorf("lease: %w", err)
		}
		if _, err := tx.NewUpdate().Model((*Delivery)(nil)).Set("locked_until = ?, updated_at = ?", lease, now).
			Where("id IN (?)", bun.In(ids)).Exec(ctx); err != nil {
			return fmt.Errorf("lease: %w", err)
		}
		return tx.NewSelect().Model(&picked).Where("id IN (?)", bun.In(ids)).Scan(ctx)
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

// prune removes the queue rows whose delivery is no longer pending. Every
// change of a delivery here keeps its queue row in step; rows are left
// behind only by an older settle, without the queue, that ran on the
// database meanwhile (a rolling upgrade). Claims repair such rows as they
// meet them; this removes them all when an engine starts. On Postgres it
// also refreshes the queue's statistics (as every periodic vacuum does), so
// that the planner knows how many rows an endpoint may have queued and
// reads them in index order, stopping at the claim's limit.
func (w *Webhooks) prune(ctx context.Context) error {
	_, err := w.db.NewDelete().Model((*queued)(nil)).
		Where("NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.id = queued.delivery_id AND d.status = ?)", DeliveryPending).
		Exec(ctx)
	if err == nil && w.db.Dialect().Name() == dialect.PG {
		_, err = w.db.ExecContext(ctx, "ANALYZE webhook_queue")
	}
	return err
}

// schedule sets the queue row of each delivery in ids to be due at due (nil:
// paused) with no lease, creating it if the delivery had none (it had
// succeeded or failed). The caller writes the deliveries themselves.
func schedule(ctx context.Context, tx bun.IDB, endpointID string, ids []string, due *time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	rows := make([]queued, len(ids))
	for i, id := range ids {
		rows[i] = queued{DeliveryID: id, EndpointID: endpointID, DueAt: due}
	}
	_, err := tx.NewInsert().Model(&rows).
		On("CONFLICT (delivery_id) DO UPDATE").Set("due_at = EXCLUDED.due_at, locked_until = NULL").
		Returning("NULL").Exec(ctx)
	return err
}

// dequeue removes the queue rows of deliveries that are done.
func dequeue(ctx context.Context, tx bun.IDB, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.NewDelete().Model((*queued)(nil)).Where("delivery_id IN (?)", bun.In(ids)).Exec(ctx)
	return err
}

// ExplainClaim returns Postgres's EXPLAIN (ANALYZE, BUFFERS) of one claim of
// n deliveries as the engine with cfg would make it now, run in a
// transaction that is rolled back, so nothing is claimed. For load tools
// that show the claim's cost at a given backlog.
func ExplainClaim(ctx context.Context, db *bun.DB, cfg WebhookConfig, n int) (string, error) {
	if db.Dialect().Name() != dialect.PG {
		return "", fmt.Errorf("explain claim: Postgres only")
	}
	w := NewWebhooks(db, nil, cfg, nil)
	now := w.now()
	q, args := w.claimSQL(n, now, now.Add(w.cfg.Timeout+w.cfg.LeaseMargin))
	var lines []string
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewRaw("EXPLAIN (ANALYZE, BUFFERS) "+q, args...).Scan(ctx, &lines); err != nil {
			return err
		}
		return errRollback
	})
	if err != nil && !errors.Is(err, errRollback) {
		return "", fmt.Errorf("explain claim: %w", err)
	}
	return strings.Join(lines, "\n"), nil
}

var errRollback = errors.New("rollback")
