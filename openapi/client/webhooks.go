package client

import (
	"context"
	"net/url"
	"time"
)

// WebhookEndpoint is where events are POSTed (the spec's EndpointObject).
type WebhookEndpoint struct {
	ID             string     `json:"id"`
	Object         string     `json:"object"`
	Mode           Mode       `json:"mode"`
	URL            string     `json:"url"`
	Description    string     `json:"description"`
	EnabledEvents  []string   `json:"enabled_events"` // types, or ["*"]
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	FailingSince   *time.Time `json:"failing_since,omitempty"`
	// Secret (whsec_…) is shown only by create and rotate-secret; keep it
	// for VerifyWebhook.
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// WebhookEndpointList is one page of endpoints.
type WebhookEndpointList struct {
	Object  string            `json:"object"`
	Data    []WebhookEndpoint `json:"data"`
	HasMore bool              `json:"has_more"`
}

// CreateWebhookEndpointParams is the body of create-webhook-endpoint.
type CreateWebhookEndpointParams struct {
	URL           string   `json:"url"`
	Description   string   `json:"description,omitempty"`
	EnabledEvents []string `json:"enabled_events,omitempty"` // default ["*"]
	Enabled       *bool    `json:"enabled,omitempty"`        // default true
}

// UpdateWebhookEndpointParams changes the fields that are set.
type UpdateWebhookEndpointParams struct {
	URL           *string  `json:"url,omitempty"`
	Description   *string  `json:"description,omitempty"`
	EnabledEvents []string `json:"enabled_events,omitempty"` // replaces the list
	Enabled       *bool    `json:"enabled,omitempty"`
}

// DeletedWebhookEndpoint is the answer of delete-webhook-endpoint.
type DeletedWebhookEndpoint struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// WebhookDelivery is one event's delivery to one endpoint, with every
// attempt (the spec's DeliveryObject).
type WebhookDelivery struct {
	ID             string           `json:"id"`
	Object         string           `json:"object"`
	Mode           Mode             `json:"mode"`
	EndpointID     string           `json:"endpoint_id"`
	EventID        string           `json:"event_id"`
	EventType      string           `json:"event_type"`
	Status         string           `json:"status"` // pending, succeeded or failed
	AttemptCount   int64            `json:"attempt_count"`
	LastStatusCode int64            `json:"last_status_code"`
	LastError      string           `json:"last_error,omitempty"`
	NextAttemptAt  *time.Time       `json:"next_attempt_at,omitempty"`
	CreatedAt      time.Time        `json:"created_at"`
	UpdatedAt      time.Time        `json:"updated_at"`
	Attempts       []WebhookAttempt `json:"attempts"`
}

// WebhookAttempt is one attempt of a delivery (the spec's AttemptObject).
type WebhookAttempt struct {
	ID              string    `json:"id"`
	AttemptedAt     time.Time `json:"attempted_at"`
	StatusCode      int64     `json:"status_code"` // 0 when no answer came
	LatencyMS       int64     `json:"latency_ms"`
	ResponseExcerpt string    `json:"response_excerpt"`
	Error           string    `json:"error,omitempty"`
}

// WebhookDeliveryList is one page of deliveries, newest first.
type WebhookDeliveryList struct {
	Object  string            `json:"object"`
	Data    []WebhookDelivery `json:"data"`
	HasMore bool              `json:"has_more"`
}

// ListWebhookDeliveriesParams filters and pages list-webhook-deliveries.
type ListWebhookDeliveriesParams struct {
	Status  string // pending, succeeded or failed
	EventID string
	After   string
	Limit   int
}

// WebhookReplay is the answer of replay-webhook-endpoint.
type WebhookReplay struct {
	Object      string `json:"object"`
	EndpointID  string `json:"endpoint_id"`
	Replayed    int64  `json:"replayed"`
	HasMore     bool   `json:"has_more"` // replay again with after = LastEventID
	LastEventID string `json:"last_event_id,omitempty"`
}

// CreateWebhookEndpoint adds an endpoint; the answer carries its Secret.
func (c *Client) CreateWebhookEndpoint(ctx context.Context, p CreateWebhookEndpointParams, opts ...RequestOption) (*WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, &call{op: opCreateEndpoint, body: p}, &out, opts...)
	return ptr(&out, err)
}

// ListWebhookEndpoints returns one page of endpoints.
func (c *Client) ListWebhookEndpoints(ctx context.Context, after string, limit int) (*WebhookEndpointList, error) {
	q := url.Values{}
	setPage(q, after, limit)
	var out WebhookEndpointList
	_, err := c.do(ctx, &call{op: opListEndpoints, query: q}, &out)
	return ptr(&out, err)
}

// GetWebhookEndpoint retrieves an endpoint (without its secret).
func (c *Client) GetWebhookEndpoint(ctx context.Context, id string) (*WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, &call{op: opGetEndpoint, id: id}, &out)
	return ptr(&out, err)
}

// UpdateWebhookEndpoint changes the fields p sets.
func (c *Client) UpdateWebhookEndpoint(ctx context.Context, id string, p UpdateWebhookEndpointParams) (*WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, &call{op: opUpdateEndpoint, id: id, body: p}, &out)
	return ptr(&out, err)
}

// DeleteWebhookEndpoint deletes an endpoint; nothing more is sent to it.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, id string) (*DeletedWebhookEndpoint, error) {
	var out DeletedWebhookEndpoint
	_, err := c.do(ctx, &call{op: opDeleteEndpoint, id: id}, &out)
	return ptr(&out, err)
}

// RotateWebhookSecret gives the endpoint a new secret, returned in Secret;
// deliveries from now on are signed with it only.
func (c *Client) RotateWebhookSecret(ctx context.Context, id string, opts ...RequestOption) (*WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, &call{op: opRotateSecret, id: id}, &out, opts...)
	return ptr(&out, err)
}

// ListWebhookDeliveries returns one page of an endpoint's deliveries.
func (c *Client) ListWebhookDeliveries(ctx context.Context, endpointID string, p ListWebhookDeliveriesParams) (*WebhookDeliveryList, error) {
	q := url.Values{}
	set(q, "status", p.Status)
	set(q, "event_id", p.EventID)
	setPage(q, p.After, p.Limit)
	var out WebhookDeliveryList
	_, err := c.do(ctx, &call{op: opListDeliveries, id: endpointID, query: q}, &out)
	return ptr(&out, err)
}

// RetryWebhookDelivery makes one more attempt of a delivery at once.
func (c *Client) RetryWebhookDelivery(ctx context.Context, deliveryID string, opts ...RequestOption) (*WebhookDelivery, error) {
	var out WebhookDelivery
	_, err := c.do(ctx, &call{op: opRetryDelivery, id: deliveryID}, &out, opts...)
	return ptr(&out, err)
}

// ReplayWebhookEndpoint sends again every event after `after` (every event
// kept, when empty) that the endpoint accepts, up to 10,000 per call.
func (c *Client) ReplayWebhookEndpoint(ctx context.Context, endpointID, after string, opts ...RequestOption) (*WebhookReplay, error) {
	q := url.Values{}
	set(q, "after", after)
	var out WebhookReplay
	_, err := c.do(ctx, &call{op: opReplayEndpoint, id: endpointID, query: q}, &out, opts...)
	return ptr(&out, err)
}
