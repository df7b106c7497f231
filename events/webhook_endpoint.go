package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/invoice"
)

// Limits on endpoint input.
const (
	maxEndpointURLLen     = 2048
	maxEndpointDescLen    = 1000
	maxEnabledEventsItems = 32
)

// EndpointObject is the public form of a webhook endpoint. Secret is set
// only in the answers to create and rotate-secret.
type EndpointObject struct {
	ID             string       `json:"id" example:"whe_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object         string       `json:"object" enum:"webhook_endpoint"`
	Mode           invoice.Mode `json:"mode" enum:"test,live"`
	URL            string       `json:"url" example:"https://shop.example/webhooks/settle"`
	Description    string       `json:"description"`
	EnabledEvents  []string     `json:"enabled_events" example:"[\"invoice.updated\"]" doc:"Event types sent to this endpoint, or [\"*\"] for all."`
	Enabled        bool         `json:"enabled"`
	DisabledReason string       `json:"disabled_reason,omitempty" doc:"Why settle disabled the endpoint (410 Gone, or failing for days); empty when enabled."`
	FailingSince   *time.Time   `json:"failing_since,omitempty" doc:"Start of the current run of failed attempts; absent while deliveries succeed."`
	Secret         string       `json:"secret,omitempty" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" doc:"The signing secret (Standard Webhooks); shown only when the endpoint is created and when the secret is rotated."`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
}

// Object returns the public form of e, without its secret.
func (e *Endpoint) Object() EndpointObject {
	events := e.EnabledEvents
	if events == nil {
		events = []string{}
	}
	return EndpointObject{
		ID: e.ID, Object: "webhook_endpoint", Mode: e.Mode, URL: e.URL, Description: e.Description,
		EnabledEvents: events, Enabled: e.Enabled, DisabledReason: e.DisabledReason,
		FailingSince: e.FailingSince, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}
}

// EndpointParams are the fields of an endpoint a merchant sets. On update,
// nil means unchanged; on create, a nil URL is an error, nil EnabledEvents
// means ["*"] and nil Enabled means true.
type EndpointParams struct {
	URL           *string
	Description   *string
	EnabledEvents []string
	Enabled       *bool
}

// validate checks p against the rules of mode and returns every field
// error at once.
func (p EndpointParams) validate(ctx context.Context, policy AddressPolicy, mode invoice.Mode, create bool) error {
	var v invoice.ValidationError
	add := func(field, code, rule string) {
		v.Fields = append(v.Fields, &invoice.FieldError{Field: field, Code: code, Rule: rule})
	}
	switch {
	case p.URL != nil:
		if fe := policy.CheckURL(ctx, *p.URL, mode); fe != nil {
			v.Fields = append(v.Fields, fe)
		}
	case create:
		add("url", "invalid_url", "is required")
	}
	if p.Description != nil && (!utf8.ValidString(*p.Description) || utf8.RuneCountInString(*p.Description) > maxEndpointDescLen) {
		add("description", "invalid_description", fmt.Sprintf("at most %d characters of valid UTF-8", maxEndpointDescLen))
	}
	if p.EnabledEvents != nil {
		switch {
		case len(p.EnabledEvents) == 0:
			add("enabled_events", "invalid_event_type", `at least one event type, or ["*"] for all`)
		case len(p.EnabledEvents) > maxEnabledEventsItems:
			add("enabled_events", "invalid_event_type", fmt.Sprintf("at most %d event types", maxEnabledEventsItems))
		default:
			for _, t := range p.EnabledEvents {
				if t != "*" && !slices.Contains(Types, t) {
					add("enabled_events", "invalid_event_type", fmt.Sprintf("unknown event type %q (known: %v, or \"*\")", t, Types))
					break
				}
			}
		}
	}
	if len(v.Fields) > 0 {
		return &v
	}
	return nil
}

// normalEvents sorts and de-duplicates event types; "*" stands alone.
func normalEvents(types []string) []string {
	if slices.Contains(types, "*") {
		return []string{"*"}
	}
	out := slices.Clone(types)
	slices.Sort(out)
	return slices.Compact(out)
}

// CreateEndpoint validates p and stores a new endpoint of the merchant in
// mode, with a fresh secret.
func CreateEndpoint(ctx context.Context, db bun.IDB, policy AddressPolicy, merchantID string, mode invoice.Mode, p EndpointParams, now time.Time) (Endpoint, error) {
	if err := p.validate(ctx, policy, mode, true); err != nil {
		return Endpoint{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	ep := Endpoint{
		ID: invoice.NewID("whe_", now), MerchantID: merchantID, Mode: mode, URL: *p.URL,
		EnabledEvents: []string{"*"}, Enabled: true, Secret: NewSecret(), CreatedAt: now, UpdatedAt: now,
	}
	if p.Description != nil {
		ep.Description = *p.Description
	}
	if p.EnabledEvents != nil {
		ep.EnabledEvents = normalEvents(p.EnabledEvents)
	}
	if p.Enabled != nil {
		ep.Enabled = *p.Enabled
	}
	if _, err := db.NewInsert().Model(&ep).Returning("NULL").Exec(ctx); err != nil {
		return Endpoint{}, fmt.Errorf("create endpoint: %w", err)
	}
	return ep, nil
}

// GetEndpoint returns the merchant's endpoint id in mode, or
// invoice.ErrNotFound (also for a deleted one).
func GetEndpoint(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, id string) (Endpoint, error) {
	return getEndpoint(ctx, db, merchantID, mode, id, false)
}

func getEndpoint(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, id string, forUpdate bool) (Endpoint, error) {
	var ep Endpoint
	q := db.NewSelect().Model(&ep).
		Where("id = ? AND merchant_id = ? AND mode = ? AND deleted_at IS NULL", id, merchantID, mode)
	if forUpdate && db.Dialect().Name() == dialect.PG {
		q = q.For("UPDATE")
	}
	err := q.Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return ep, invoice.ErrNotFound
	}
	return ep, err
}

// ListEndpoints returns one page of the merchant's endpoints in mode,
// newest first, after the cursor (an endpoint id), and whether more follow.
func ListEndpoints(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, after string, limit int) ([]Endpoint, bool, error) {
	limit = pageLimit(limit)
	var out []Endpoint
	q := db.NewSelect().Model(&out).
		Where("merchant_id = ? AND mode = ? AND deleted_at IS NULL", merchantID, mode).
		OrderExpr("id DESC").Limit(int64(limit) + 1)
	if after != "" {
		q = q.Where("id < ?", after)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("list endpoints: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

func pageLimit(limit int) int {
	if limit <= 0 {
		return invoice.DefaultListLimit
	}
	return min(limit, invoice.MaxListLimit)
}

// UpdateEndpoint applies p to the merchant's endpoint. Enabling a disabled
// endpoint clears its failure record and makes its paused deliveries due;
// disabling it pauses them.
func UpdateEndpoint(ctx context.Context, db bun.IDB, policy AddressPolicy, merchantID string, mode invoice.Mode, id string, p EndpointParams, now time.Time) (Endpoint, error) {
	if err := p.validate(ctx, policy, mode, false); err != nil {
		return Endpoint{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	var ep Endpoint
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if ep, err = getEndpoint(ctx, tx, merchantID, mode, id, true); err != nil {
			return err
		}
		was := ep.Enabled
		if p.URL != nil {
			ep.URL = *p.URL
		}
		if p.Description != nil {
			ep.Description = *p.Description
		}
		if p.EnabledEvents != nil {
			ep.EnabledEvents = normalEvents(p.EnabledEvents)
		}
		if p.Enabled != nil {
			ep.Enabled = *p.Enabled
		}
		if ep.Enabled && !was {
			ep.FailingSince, ep.DisabledReason = nil, ""
		}
		ep.UpdatedAt = now
		if _, err := tx.NewUpdate().Model(&ep).
			Column("url", "description", "enabled_events", "enabled", "failing_since", "disabled_reason", "updated_at").
			WherePK().Exec(ctx); err != nil {
			return err
		}
		switch {
		case ep.Enabled && !was:
			return resumeDeliveries(ctx, tx, ep.ID, now)
		case !ep.Enabled && was:
			return pauseDeliveries(ctx, tx, ep.ID, now)
		}
		return nil
	})
	if err != nil {
		return Endpoint{}, fmt.Errorf("update endpoint %s: %w", id, err)
	}
	return ep, nil
}

// DeleteEndpoint deletes the merchant's endpoint (kept, marked deleted, with
// its delivery history) and ends its pending deliveries as failed.
func DeleteEndpoint(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, id string, now time.Time) (Endpoint, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var ep Endpoint
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if ep, err = getEndpoint(ctx, tx, merchantID, mode, id, true); err != nil {
			return err
		}
		ep.DeletedAt, ep.Enabled, ep.UpdatedAt = &now, false, now
		if _, err := tx.NewUpdate().Model(&ep).Column("deleted_at", "enabled", "updated_at").WherePK().Exec(ctx); err != nil {
			return err
		}
		queue := tx.NewSelect().Model((*queued)(nil)).Column("delivery_id").Where("endpoint_id = ?", ep.ID)
		if _, err := tx.NewUpdate().Model((*Delivery)(nil)).
			Set("status = ?, next_attempt_at = NULL, last_error = ?, updated_at = ?", DeliveryFailed, "endpoint deleted", now).
			Where("id IN (?) AND status = ?", queue, DeliveryPending).Exec(ctx); err != nil {
			return err
		}
		_, err = tx.NewDelete().Model((*queued)(nil)).Where("endpoint_id = ?", ep.ID).Exec(ctx)
		return err
	})
	if err != nil {
		return Endpoint{}, fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	return ep, nil
}

// RotateSecret gives the merchant's endpoint a new secret; deliveries from
// now on are signed with it only.
func RotateSecret(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, id string, now time.Time) (Endpoint, error) {
	now = now.UTC().Truncate(time.Microsecond)
	ep, err := GetEndpoint(ctx, db, merchantID, mode, id)
	if err != nil {
		return ep, err
	}
	ep.Secret, ep.UpdatedAt = NewSecret(), now
	res, err := db.NewUpdate().Model(&ep).Column("secret", "updated_at").WherePK().Where("deleted_at IS NULL").Exec(ctx)
	if err != nil {
		return Endpoint{}, fmt.Errorf("rotate secret of %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Endpoint{}, invoice.ErrNotFound
	}
	return ep, nil
}

// pauseDeliveries takes an endpoint's pending deliveries off the schedule
// (next_attempt_at and their queue rows' due_at NULL), so that claims never
// look at them while it is disabled. One in flight is paused when its
// attempt is recorded.
func pauseDeliveries(ctx context.Context, tx bun.IDB, endpointID string, now time.Time) error {
	return reschedule(ctx, tx, endpointID, true, nil, now)
}

// resumeDeliveries makes an endpoint's paused deliveries due now.
func resumeDeliveries(ctx context.Context, tx bun.IDB, endpointID string, now time.Time) error {
	return reschedule(ctx, tx, endpointID, false, &now, now)
}

// reschedule sets the next attempt of an endpoint's queued deliveries that
// are scheduled (scheduled true) or paused (false) to due, through the
// queue, which holds only pending deliveries.
func reschedule(ctx context.Context, tx bun.IDB, endpointID string, scheduled bool, due *time.Time, now time.Time) error {
	which := "due_at IS NULL"
	if scheduled {
		which = "due_at IS NOT NULL"
	}
	sel := tx.NewSelect().Model((*queued)(nil)).Column("delivery_id").Where("endpoint_id = ? AND "+which, endpointID)
	if _, err := tx.NewUpdate().Model((*Delivery)(nil)).Set("next_attempt_at = ?, updated_at = ?", due, now).
		Where("id IN (?) AND status = ?", sel, DeliveryPending).Exec(ctx); err != nil {
		return err
	}
	_, err := tx.NewUpdate().Model((*queued)(nil)).Set("due_at = ?", due).Where("endpoint_id = ? AND "+which, endpointID).Exec(ctx)
	return err
}
