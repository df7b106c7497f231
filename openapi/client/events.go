package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"time"
)

// Event types.
const (
	EventInvoiceCreated          = "invoice.created"
	EventInvoiceUpdated          = "invoice.updated"
	EventInvoicePaymentUpdated   = "invoice_payment.updated"
	EventCheckoutScanned         = "checkout.scanned"
	EventCheckoutOpened          = "checkout.opened"
	EventCheckoutLocked          = "checkout.locked"
	EventWebhookEndpointDisabled = "webhook_endpoint.disabled"
	EventQRSessionCreated        = "qr_session.created"
	EventQRSessionUpdated        = "qr_session.updated"
	EventSystemAlert             = "system.alert"
)

// Event is one change (the spec's Event). The same event, with the same
// id, may reach you by webhook, WebSocket and the events list: de-duplicate
// by ID.
type Event struct {
	ID        string    `json:"id"`
	Object    string    `json:"object"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Mode      Mode      `json:"mode"`
	// Data is {"object": the invoice or payment as it was after the
	// change, …}; see DecodeObject, Invoice and PreviousStatus.
	Data     json.RawMessage `json:"data"`
	Sequence int64           `json:"sequence"` // increases with every event
}

// DecodeObject decodes data.object into v.
func (e Event) DecodeObject(v any) error {
	var d struct {
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	if len(d.Object) == 0 {
		return fmt.Errorf("event %s: no data.object", e.ID)
	}
	if err := json.Unmarshal(d.Object, v); err != nil {
		return fmt.Errorf("event %s: data.object: %w", e.ID, err)
	}
	return nil
}

// Invoice returns the invoice of an invoice.created, invoice.updated,
// checkout.opened or checkout.locked event as it was after the change.
func (e Event) Invoice() (*Invoice, error) {
	var inv Invoice
	if err := e.DecodeObject(&inv); err != nil {
		return nil, err
	}
	if inv.Object != "invoice" {
		return nil, fmt.Errorf("event %s (%s) carries a %q, not an invoice", e.ID, e.Type, inv.Object)
	}
	return &inv, nil
}

// PreviousStatus is the status an invoice.updated event moved from; empty
// for other events.
func (e Event) PreviousStatus() Status {
	var d struct {
		PreviousStatus Status `json:"previous_status"`
	}
	json.Unmarshal(e.Data, &d)
	return d.PreviousStatus
}

// EventList is one page of events, oldest first.
type EventList struct {
	Object  string  `json:"object"`
	Data    []Event `json:"data"`
	HasMore bool    `json:"has_more"`
}

// ListEventsParams filters and pages list-events; zero fields are left out.
type ListEventsParams struct {
	After     string // the id of the last event you have
	Type      string // one of the Event… constants
	InvoiceID string
	Limit     int // 1–100, default 20
}

// ListEvents returns one page of the recovery feed, in sequence order.
func (c *Client) ListEvents(ctx context.Context, p ListEventsParams) (*EventList, error) {
	q := url.Values{}
	set(q, "type", p.Type)
	set(q, "invoice_id", p.InvoiceID)
	setPage(q, p.After, p.Limit)
	var out EventList
	_, err := c.do(ctx, &call{op: opListEvents, query: q}, &out)
	return ptr(&out, err)
}

// GetEvent retrieves one event.
func (c *Client) GetEvent(ctx context.Context, id string) (*Event, error) {
	var out Event
	_, err := c.do(ctx, &call{op: opGetEvent, id: id}, &out)
	return ptr(&out, err)
}

// Events walks the recovery feed from the event after `after` (from the
// oldest when empty) to the newest, page by page (100 at a time), in
// sequence order. Keep the id of the last event you processed and pass it
// next time. An error ends the walk after it is yielded.
func (c *Client) Events(ctx context.Context, after string) iter.Seq2[Event, error] {
	return c.EventsWith(ctx, ListEventsParams{After: after, Limit: 100})
}

// EventsWith is Events with filters and a page size.
func (c *Client) EventsWith(ctx context.Context, p ListEventsParams) iter.Seq2[Event, error] {
	return pages(func(after string) ([]Event, bool, error) {
		p.After = after
		l, err := c.ListEvents(ctx, p)
		if err != nil {
			return nil, false, err
		}
		return l.Data, l.HasMore, nil
	}, p.After, func(e Event) string { return e.ID })
}

// WSToken is a single-use credential for the merchant WebSocket, for a
// browser (the spec's WSToken).
type WSToken struct {
	Object    string    `json:"object"`
	WSToken   string    `json:"ws_token"` // pass as ?ws_token= to GET /api/v1/ws
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateWSToken returns a token good for one WebSocket connection within 5
// minutes, to hand to a browser instead of the API key.
func (c *Client) CreateWSToken(ctx context.Context, opts ...RequestOption) (*WSToken, error) {
	var out WSToken
	_, err := c.do(ctx, &call{op: opWSToken}, &out, opts...)
	return ptr(&out, err)
}
