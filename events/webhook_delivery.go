package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// Errors of the delivery operations.
var (
	// ErrDeliveryInFlight is returned by [RetryDelivery] while an attempt
	// of the delivery is being made.
	ErrDeliveryInFlight = errors.New("an attempt of this delivery is in flight")
	// ErrEndpointDisabled is returned by [RetryDelivery] for a delivery to
	// a disabled endpoint: enable it first.
	ErrEndpointDisabled = errors.New("the endpoint is disabled")
)

// MaxReplay is the most events one replay call re-sends.
const MaxReplay = 10000

// DeliveryObject is the public form of a delivery with its attempts.
type DeliveryObject struct {
	ID             string          `json:"id" example:"whd_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object         string          `json:"object" enum:"webhook_delivery"`
	Mode           invoice.Mode    `json:"mode" enum:"test,live"`
	EndpointID     string          `json:"endpoint_id" example:"whe_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	EventID        string          `json:"event_id" example:"evt_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Sent as webhook-id: the same in every attempt."`
	EventType      string          `json:"event_type" example:"invoice.updated"`
	Status         string          `json:"status" enum:"pending,succeeded,failed"`
	AttemptCount   int             `json:"attempt_count" doc:"Attempts made on the current schedule (a replay starts a new one)."`
	NextAttemptAt  *time.Time      `json:"next_attempt_at,omitempty" doc:"When the next attempt is due; absent when none is scheduled (done, or the endpoint is disabled)."`
	LastStatusCode int             `json:"last_status_code" doc:"Status of the last response; 0 when none came."`
	LastError      string          `json:"last_error,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	Attempts       []AttemptObject `json:"attempts" nullable:"false" doc:"Every attempt, oldest first."`
}

// AttemptObject is the public form of one attempt.
type AttemptObject struct {
	ID              string    `json:"id" example:"wha_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	AttemptedAt     time.Time `json:"attempted_at"`
	StatusCode      int       `json:"status_code" doc:"HTTP status of the response; 0 when none came."`
	LatencyMS       int64     `json:"latency_ms"`
	ResponseExcerpt string    `json:"response_excerpt" doc:"The first 1 KiB of the response body."`
	Error           string    `json:"error,omitempty" doc:"Why no usable response came (timeout, refused connection, address not allowed)."`
}

func deliveryObject(d Delivery, eventType string, attempts []Attempt) DeliveryObject {
	out := DeliveryObject{
		ID: d.ID, Object: "webhook_delivery", Mode: d.Mode, EndpointID: d.EndpointID, EventID: d.EventID,
		EventType: eventType, Status: d.Status, AttemptCount: d.Attempts, NextAttemptAt: d.NextAttemptAt,
		LastStatusCode: d.LastStatusCode, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		Attempts: make([]AttemptObject, len(attempts)),
	}
	for i, a := range attempts {
		out.Attempts[i] = AttemptObject{ID: a.ID, AttemptedAt: a.AttemptedAt, StatusCode: a.StatusCode,
			LatencyMS: a.LatencyMS, ResponseExcerpt: a.ResponseExcerpt, Error: a.Error}
	}
	return out
}

// DeliveryListParams selects one page of an endpoint's deliveries.
type DeliveryListParams struct {
	MerchantID string
	Mode       invoice.Mode
	EndpointID string
	Status     string // optional
	EventID    string // optional
	After      string // the last delivery id of the previous page
	Limit      int
}

// ListDeliveries returns one page of an endpoint's deliveries, newest
// first, with their attempts, and whether more follow. An endpoint of
// another merchant or mode, or a deleted one, is invoice.ErrNotFound.
func ListDeliveries(ctx context.Context, db bun.IDB, p DeliveryListParams) ([]DeliveryObject, bool, error) {
	if _, err := GetEndpoint(ctx, db, p.MerchantID, p.Mode, p.EndpointID); err != nil {
		return nil, false, err
	}
	limit := pageLimit(p.Limit)
	var ds []Delivery
	q := db.NewSelect().Model(&ds).Where("endpoint_id = ?", p.EndpointID).OrderExpr("id DESC").Limit(int64(limit) + 1)
	if p.Status != "" {
		q = q.Where("status = ?", p.Status)
	}
	if p.EventID != "" {
		q = q.Where("event_id = ?", p.EventID)
	}
	if p.After != "" {
		q = q.Where("id < ?", p.After)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("list deliveries: %w", err)
	}
	more := len(ds) > limit
	if more {
		ds = ds[:limit]
	}
	out, err := deliveryObjects(ctx, db, ds)
	return out, more, err
}

// deliveryObjects adds the event types and attempts of deliveries.
func deliveryObjects(ctx context.Context, db bun.IDB, ds []Delivery) ([]DeliveryObject, error) {
	out := make([]DeliveryObject, 0, len(ds))
	if len(ds) == 0 {
		return out, nil
	}
	ids, evIDs := make([]string, len(ds)), make([]string, len(ds))
	for i, d := range ds {
		ids[i], evIDs[i] = d.ID, d.EventID
	}
	var types []struct {
		ID   string `bun:"id"`
		Type string `bun:"type"`
	}
	if err := db.NewSelect().TableExpr("events").Column("id", "type").Where("id IN (?)", bun.In(evIDs)).Scan(ctx, &types); err != nil {
		return nil, fmt.Errorf("event types: %w", err)
	}
	typeOf := map[string]string{}
	for _, t := range types {
		typeOf[t.ID] = t.Type
	}
	var attempts []Attempt
	if err := db.NewSelect().Model(&attempts).Where("delivery_id IN (?)", bun.In(ids)).
		OrderExpr("attempted_at, id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("attempts: %w", err)
	}
	byDelivery := map[string][]Attempt{}
	for _, a := range attempts {
		byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], a)
	}
	for _, d := range ds {
		out = append(out, deliveryObject(d, typeOf[d.EventID], byDelivery[d.ID]))
	}
	return out, nil
}

// RetryDelivery makes the merchant's delivery due now, whatever its status:
// one more attempt, with the same webhook-id. (A failed delivery whose
// schedule is used up fails again if that attempt fails.)
func RetryDelivery(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, id string, now time.Time) (DeliveryObject, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var d Delivery
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		err := tx.NewSelect().Model(&d).Where("id = ? AND merchant_id = ? AND mode = ?", id, merchantID, mode).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return invoice.ErrNotFound
		}
		if err != nil {
			return err
		}
		ep, err := getEndpoint(ctx, tx, merchantID, mode, d.EndpointID, true)
		if err != nil {
			return err // deleted: its deliveries are gone with it
		}
		if !ep.Enabled {
			return ErrEndpointDisabled
		}
		if d.Status == DeliveryPending && d.LockedUntil != nil && d.LockedUntil.After(now) {
			return ErrDeliveryInFlight
		}
		d.Status, d.NextAttemptAt, d.LockedUntil, d.UpdatedAt = DeliveryPending, &now, nil, now
		res, err := tx.NewUpdate().Model(&d).Column("status", "next_attempt_at", "locked_until", "updated_at").
			WherePK().Where("locked_until IS NULL OR locked_until <= ?", now).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrDeliveryInFlight
		}
		return schedule(ctx, tx, d.EndpointID, []string{d.ID}, &now)
	})
	if err != nil {
		return DeliveryObject{}, fmt.Errorf("retry delivery %s: %w", id, err)
	}
	out, err := deliveryObjects(ctx, db, []Delivery{d})
	if err != nil {
		return DeliveryObject{}, err
	}
	return out[0], nil
}

// ReplayResult says what a replay did.
type ReplayResult struct {
	Replayed    int    // deliveries created or made due again
	LastEventID string // the last event looked at; empty when none
	HasMore     bool   // more events follow: replay again after LastEventID
}

// Replay creates or resets a delivery to the merchant's endpoint for every
// sequenced event after the sequence after (0 for all) that the endpoint
// accepts, up to MaxReplay events: each is due now on a fresh schedule
// (paused if the endpoint is disabled), with its event id as webhook-id.
//
// A reset also releases the lease of an attempt in flight: that worker then
// records only its attempt row (it moves a delivery only while it holds the
// lease), so the replay is never overwritten by the outcome of an attempt
// made before it, and the replayed attempt follows without waiting for the
// lease to expire.
func Replay(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, endpointID string, after int64, now time.Time) (ReplayResult, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var res ReplayResult
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		ep, err := getEndpoint(ctx, tx, merchantID, mode, endpointID, true)
		if err != nil {
			return err
		}
		var evs []struct {
			ID   string `bun:"id"`
			Type string `bun:"type"`
		}
		if err := tx.NewSelect().TableExpr("events").Column("id", "type").
			Where("merchant_id = ? AND mode = ? AND sequence > ?", merchantID, mode, after).
			OrderExpr("sequence").Limit(MaxReplay+1).Scan(ctx, &evs); err != nil {
			return fmt.Errorf("select events: %w", err)
		}
		if res.HasMore = len(evs) > MaxReplay; res.HasMore {
			evs = evs[:MaxReplay]
		}
		if len(evs) > 0 {
			res.LastEventID = evs[len(evs)-1].ID
		}
		var due *time.Time
		if ep.Enabled {
			due = &now
		}
		var ids []string
		var fresh []Delivery
		for _, e := range evs {
			if ep.Accepts(e.Type) {
				ids = append(ids, e.ID)
				fresh = append(fresh, NewDelivery(&ep, e.ID, now))
			}
		}
		for start := 0; start < len(ids); start += 500 {
			end := min(start+500, len(ids))
			if err := InsertDeliveries(ctx, tx, fresh[start:end]); err != nil {
				return fmt.Errorf("insert deliveries: %w", err)
			}
			var reset []string
			if err := tx.NewUpdate().Model((*Delivery)(nil)).
				Set("status = ?, attempts = 0, next_attempt_at = ?, locked_until = NULL, updated_at = ?", DeliveryPending, due, now).
				Where("endpoint_id = ? AND event_id IN (?)", ep.ID, bun.In(ids[start:end])).Returning("id").Scan(ctx, &reset); err != nil {
				return fmt.Errorf("reset deliveries: %w", err)
			}
			if err := schedule(ctx, tx, ep.ID, reset, due); err != nil {
				return fmt.Errorf("queue deliveries: %w", err)
			}
		}
		res.Replayed = len(ids)
		return nil
	})
	if err != nil {
		return ReplayResult{}, fmt.Errorf("replay to %s: %w", endpointID, err)
	}
	return res, nil
}

// DeliveryCounts counts deliveries by status, all merchants and modes, for
// metrics.
func DeliveryCounts(ctx context.Context, db bun.IDB) (map[string]int, error) {
	var rows []struct {
		Status string `bun:"status"`
		N      int    `bun:"n"`
	}
	err := db.NewSelect().Model((*Delivery)(nil)).ColumnExpr("status, count(*) AS n").Group("status").Scan(ctx, &rows)
	out := map[string]int{DeliveryPending: 0, DeliverySucceeded: 0, DeliveryFailed: 0}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, err
}
