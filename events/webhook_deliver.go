package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/invoice"
)

// UserAgent is the User-Agent of every delivery.
const UserAgent = "settle-webhooks/1"

// outcome is what one attempt found.
type outcome struct {
	at         time.Time
	status     int // 0 when no response came
	latency    time.Duration
	excerpt    string
	err        string
	retryAfter string
}

func (o outcome) ok() bool { return o.err == "" && o.status >= 200 && o.status < 300 }

// send signs the event and POSTs it to the endpoint.
func (w *Webhooks) send(ctx context.Context, c claimed) outcome {
	o := outcome{at: w.now()}
	body, err := json.Marshal(FromStored(c.event))
	if err != nil {
		o.err = "encode event: " + err.Error()
		return o
	}
	// The receiver checks webhook-timestamp against its own clock: it is
	// the wall clock, whatever clock schedules the attempts.
	sent := time.Now()
	sig, err := Sign(c.endpoint.Secret, c.event.ID, sent, body)
	if err != nil {
		o.err = err.Error()
		return o
	}
	header := []string{
		"Content-Type", "application/json",
		"User-Agent", UserAgent,
		"webhook-id", c.event.ID,
		"webhook-timestamp", strconv.FormatInt(sent.Unix(), 10),
		"webhook-signature", sig,
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	start := time.Now()
	rep, err := w.client.post(ctx, c.endpoint.URL, header, body)
	o.latency = time.Since(start)
	var ne net.Error
	switch {
	case err == nil:
		o.status, o.excerpt, o.retryAfter = rep.status, rep.excerpt, rep.retryAfter
	case errors.Is(err, ErrAddressNotAllowed):
		// Refused before connecting: nothing was sent and no reply exists.
		// An endpoint stored before the rule held in its mode (or while
		// the operator allowed private addresses), or a name that now
		// resolves to a private address, fails this way at every attempt
		// until its URL is changed, and is disabled in the end like any
		// failing endpoint.
		o.err = truncate(err.Error(), 400) + " (webhooks reach public addresses only)"
		w.log.WarnContext(ctx, "webhook refused: the endpoint's address is not public", "delivery_id", c.delivery.ID,
			"endpoint_id", c.endpoint.ID, "merchant_id", c.endpoint.MerchantID, "mode", c.endpoint.Mode, "err", err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		o.err = fmt.Sprintf("no response within %s", w.cfg.Timeout)
	default:
		o.err = truncate(err.Error(), 500)
	}
	return o
}

// record stores one attempt and moves the delivery, its queue row and its
// endpoint on, in one transaction: success ends the delivery and clears the endpoint's
// failure run; failure schedules the next attempt (or fails the delivery)
// and may disable the endpoint.
func (w *Webhooks) record(ctx context.Context, c claimed, o outcome) error {
	now := w.now()
	d := c.delivery
	a := Attempt{
		ID: invoice.NewID("wha_", now), DeliveryID: d.ID, EndpointID: d.EndpointID, AttemptedAt: o.at,
		StatusCode: o.status, LatencyMS: o.latency.Milliseconds(), ResponseExcerpt: o.excerpt, Error: o.err,
	}
	d.Attempts++
	d.LastStatusCode, d.LastError, d.LockedUntil, d.UpdatedAt = o.status, o.err, nil, now
	if d.LastError == "" && !o.ok() {
		d.LastError = "HTTP " + strconv.Itoa(o.status)
	}
	var lost bool
	err := w.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&a).Returning("NULL").Exec(ctx); err != nil {
			return fmt.Errorf("insert attempt: %w", err)
		}
		if o.ok() {
			d.Status, d.NextAttemptAt, d.LastError = DeliverySucceeded, nil, ""
			if _, err := tx.NewUpdate().Model((*Endpoint)(nil)).Set("failing_since = NULL").
				Where("id = ? AND failing_since IS NOT NULL", d.EndpointID).Exec(ctx); err != nil {
				return err
			}
		} else if err := w.failed(ctx, tx, &d, o, now); err != nil {
			return err
		}
		// Only the holder of the lease moves the delivery; a worker whose
		// lease expired (and was taken over), or was released by a replay
		// made meanwhile, keeps just its attempt row.
		res, err := tx.NewUpdate().Model(&d).
			Column("status", "attempts", "next_attempt_at", "locked_until", "last_status_code", "last_error", "updated_at").
			WherePK().Where("locked_until = ?", c.lease).Exec(ctx)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		if lost = n == 0; lost {
			return nil
		}
		if d.Status == DeliveryPending {
			return schedule(ctx, tx, d.EndpointID, []string{d.ID}, d.NextAttemptAt)
		}
		return dequeue(ctx, tx, []string{d.ID})
	})
	if err == nil && lost {
		w.log.InfoContext(ctx, "webhook delivery was replayed or taken over while an attempt was in flight; only the attempt is recorded", "delivery_id", d.ID)
	}
	if err == nil {
		lvl := "succeeded"
		if !o.ok() {
			lvl = d.Status
		}
		w.log.DebugContext(ctx, "webhook attempt", "delivery_id", d.ID, "endpoint_id", d.EndpointID,
			"event_id", d.EventID, "status_code", o.status, "outcome", lvl)
	}
	return err
}

// failed schedules a failed delivery's next attempt, or fails it, and keeps
// the endpoint's health: its failure run starts now if none is running, and
// a 410 or a run of DisableAfter disables it.
func (w *Webhooks) failed(ctx context.Context, tx bun.Tx, d *Delivery, o outcome, now time.Time) error {
	ep := Endpoint{ID: d.EndpointID}
	q := tx.NewSelect().Model(&ep).WherePK()
	if tx.Dialect().Name() == dialect.PG {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return fmt.Errorf("read endpoint: %w", err)
	}
	if wait, ok := w.retryIn(d.Attempts, o, now); ok {
		next := now.Add(wait)
		d.Status, d.NextAttemptAt = DeliveryPending, &next
	} else {
		d.Status, d.NextAttemptAt = DeliveryFailed, nil
	}
	if ep.DeletedAt != nil {
		d.Status, d.NextAttemptAt = DeliveryFailed, nil
		return nil
	}
	if ep.FailingSince == nil {
		ep.FailingSince = &now
		if _, err := tx.NewUpdate().Model(&ep).Column("failing_since").WherePK().Exec(ctx); err != nil {
			return err
		}
	}
	if !ep.Enabled {
		if d.Status == DeliveryPending {
			d.NextAttemptAt = nil // paused with its endpoint
		}
		return nil
	}
	var reason string
	switch {
	case o.status == 410:
		reason = "the endpoint answered 410 Gone"
	case now.Sub(*ep.FailingSince) >= w.cfg.DisableAfter:
		reason = fmt.Sprintf("every attempt failed since %s", ep.FailingSince.Format(time.RFC3339))
	default:
		return nil
	}
	if d.Status == DeliveryPending {
		d.NextAttemptAt = nil
	}
	return w.disable(ctx, tx, &ep, reason, now)
}

// disable turns an endpoint off, pauses its deliveries and writes the
// webhook_endpoint.disabled event, in the caller's transaction (which holds
// the endpoint's row, so that the event is written once).
func (w *Webhooks) disable(ctx context.Context, tx bun.Tx, ep *Endpoint, reason string, now time.Time) error {
	ep.Enabled, ep.DisabledReason, ep.UpdatedAt = false, reason, now
	res, err := tx.NewUpdate().Model(ep).Column("enabled", "disabled_reason", "updated_at").
		WherePK().Where("enabled").Exec(ctx)
	if err != nil {
		return fmt.Errorf("disable endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // disabled meanwhile by someone else, who wrote the event
	}
	if err := pauseDeliveries(ctx, tx, ep.ID, now); err != nil {
		return err
	}
	data, err := json.Marshal(struct {
		Object EndpointObject `json:"object"`
	}{ep.Object()})
	if err != nil {
		return err
	}
	ev := invoice.Event{
		ID: invoice.NewID("evt_", now), MerchantID: ep.MerchantID, Mode: ep.Mode,
		Type: TypeWebhookEndpointDisabled, CreatedAt: now, Data: string(data),
	}
	if err := invoice.InsertEvents(ctx, tx, ev); err != nil {
		return fmt.Errorf("write %s: %w", TypeWebhookEndpointDisabled, err)
	}
	w.log.WarnContext(ctx, "webhook endpoint disabled", "endpoint_id", ep.ID, "merchant_id", ep.MerchantID, "reason", reason)
	return nil
}

// retryIn is the wait before the next attempt of a delivery that has failed
// attempts times, or false when its schedule is used up.
func (w *Webhooks) retryIn(attempts int, o outcome, now time.Time) (time.Duration, bool) {
	if attempts >= len(w.cfg.Schedule) {
		return 0, false
	}
	wait := w.jitter(w.cfg.Schedule[attempts])
	if o.status == 429 || o.status == 503 {
		if ra, ok := parseRetryAfter(o.retryAfter, now); ok && ra > wait {
			wait = min(ra, w.cfg.MaxRetryAfter)
		}
	}
	return wait, true
}

// jitter draws a wait within ±Jitter of d. backoff computes it; the wait
// itself is persisted as next_attempt_at, never slept through.
func (w *Webhooks) jitter(d time.Duration) time.Duration {
	if d <= 0 || w.cfg.Jitter <= 0 {
		return max(d, 0)
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(d), backoff.WithRandomizationFactor(w.cfg.Jitter),
		backoff.WithMultiplier(1), backoff.WithMaxInterval(d), backoff.WithMaxElapsedTime(0))
	return b.NextBackOff()
}
