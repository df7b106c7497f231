package openapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/events"
)

// CreateWebhookEndpointBody is a new webhook endpoint.
type CreateWebhookEndpointBody struct {
	URL           string   `json:"url" maxLength:"2048" example:"https://shop.example/webhooks/settle" doc:"Where events are POSTed. A host that resolves to public addresses only, in both modes (not loopback, private, link-local or reserved; checked again at every delivery), unless the operator allows private addresses. Live mode: https; test mode also takes http."`
	Description   string   `json:"description,omitempty" maxLength:"1000" example:"Order fulfilment"`
	EnabledEvents []string `json:"enabled_events,omitempty" maxItems:"32" example:"[\"invoice.updated\"]" doc:"Event types to send: invoice.created, invoice.updated, invoice_payment.updated, checkout.scanned, checkout.opened, checkout.locked, webhook_endpoint.disabled, qr_session.created, qr_session.updated, system.alert; or [\"*\"] for all (the default)."`
	Enabled       *bool    `json:"enabled,omitempty" example:"true" doc:"Default true."`
}

// UpdateWebhookEndpointBody changes the fields it names.
type UpdateWebhookEndpointBody struct {
	URL           *string  `json:"url,omitempty" maxLength:"2048" example:"https://shop.example/webhooks/settle"`
	Description   *string  `json:"description,omitempty" maxLength:"1000" example:"Order fulfilment"`
	EnabledEvents []string `json:"enabled_events,omitempty" maxItems:"32" example:"[\"*\"]" doc:"Replaces the list; see create."`
	Enabled       *bool    `json:"enabled,omitempty" example:"true" doc:"Enabling a disabled endpoint clears disabled_reason and failing_since and resumes its paused deliveries."`
}

// WebhookEndpointIDParam is the {id} of an endpoint path.
type WebhookEndpointIDParam struct {
	ID string `path:"id" maxLength:"64" example:"whe_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Webhook endpoint id."`
}

// WebhookEndpointList is one page of endpoints, newest first.
type WebhookEndpointList struct {
	Object  string                  `json:"object" enum:"list"`
	Data    []events.EndpointObject `json:"data" nullable:"false"`
	HasMore bool                    `json:"has_more" doc:"Whether another page follows; fetch it with after = the last id of data."`
}

// DeletedWebhookEndpoint answers a delete.
type DeletedWebhookEndpoint struct {
	ID      string `json:"id" example:"whe_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object  string `json:"object" enum:"webhook_endpoint"`
	Deleted bool   `json:"deleted"`
}

// WebhookDeliveryList is one page of an endpoint's deliveries, newest
// first, each with its attempts.
type WebhookDeliveryList struct {
	Object  string                  `json:"object" enum:"list"`
	Data    []events.DeliveryObject `json:"data" nullable:"false"`
	HasMore bool                    `json:"has_more" doc:"Whether another page follows; fetch it with after = the last id of data."`
}

// WebhookReplay says what a replay did.
type WebhookReplay struct {
	Object      string `json:"object" enum:"webhook_replay"`
	EndpointID  string `json:"endpoint_id" example:"whe_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Replayed    int    `json:"replayed" doc:"Deliveries created or made due again, one per event the endpoint accepts."`
	LastEventID string `json:"last_event_id,omitempty" doc:"The last event looked at; replay again with after = this id while has_more."`
	HasMore     bool   `json:"has_more" doc:"More events follow than one replay sends (10,000)."`
}

type createWebhookEndpointInput struct {
	IdempotencyHeader
	Body CreateWebhookEndpointBody
}

type updateWebhookEndpointInput struct {
	WebhookEndpointIDParam
	Body UpdateWebhookEndpointBody
}

type rotateSecretInput struct {
	IdempotencyHeader
	WebhookEndpointIDParam
}

type listWebhookEndpointsInput struct {
	After string `query:"after" maxLength:"64" doc:"Cursor: the last id of the previous page."`
	Limit int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
}

type listDeliveriesInput struct {
	WebhookEndpointIDParam
	Status  string `query:"status" enum:"pending,succeeded,failed" doc:"Only deliveries in this status."`
	EventID string `query:"event_id" maxLength:"64" doc:"Only the delivery of this event."`
	After   string `query:"after" maxLength:"64" doc:"Cursor: the last id of the previous page."`
	Limit   int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
}

type retryDeliveryInput struct {
	IdempotencyHeader
	ID string `path:"id" maxLength:"64" example:"whd_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Delivery id."`
}

type replayInput struct {
	IdempotencyHeader
	WebhookEndpointIDParam
	After string `query:"after" maxLength:"64" example:"evt_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Cursor: re-send the events after this one. Omit to re-send every event kept."`
}

type endpointOutput struct{ Body events.EndpointObject }

// registerWebhooks adds the webhook endpoint and delivery operations.
func (s *server) registerWebhooks(api huma.API) {
	tags := []string{"Webhooks"}
	huma.Register(api, huma.Operation{
		OperationID: "create-webhook-endpoint", Method: http.MethodPost, Path: "/api/v1/webhook-endpoints",
		Summary: "Create a webhook endpoint", Tags: tags, DefaultStatus: http.StatusCreated,
		Description: "Events of the key's mode are POSTed to the URL, signed with the Standard Webhooks scheme (webhook-id = the event id, webhook-timestamp, webhook-signature). The answer carries the signing secret, shown only here and on rotate-secret. A 2xx within 10 s is success; otherwise the delivery is retried with backoff for about a day, and an endpoint failing for 5 days (or answering 410 Gone) is disabled with a webhook_endpoint.disabled event.",
		Errors:      errsWrite, MaxBodyBytes: humaMaxBodyBytes,
	}, s.createWebhookEndpoint)
	huma.Register(api, huma.Operation{
		OperationID: "list-webhook-endpoints", Method: http.MethodGet, Path: "/api/v1/webhook-endpoints",
		Summary: "List webhook endpoints", Tags: tags, Errors: errsRead,
	}, s.listWebhookEndpoints)
	huma.Register(api, huma.Operation{
		OperationID: "get-webhook-endpoint", Method: http.MethodGet, Path: "/api/v1/webhook-endpoints/{id}",
		Summary: "Retrieve a webhook endpoint", Tags: tags, Errors: errsRead,
	}, s.getWebhookEndpoint)
	huma.Register(api, huma.Operation{
		OperationID: "update-webhook-endpoint", Method: http.MethodPatch, Path: "/api/v1/webhook-endpoints/{id}",
		Summary: "Update a webhook endpoint", Tags: tags, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "Changes the fields given. Disabling pauses the endpoint's pending deliveries; enabling resumes them.",
	}, s.updateWebhookEndpoint)
	huma.Register(api, huma.Operation{
		OperationID: "delete-webhook-endpoint", Method: http.MethodDelete, Path: "/api/v1/webhook-endpoints/{id}",
		Summary: "Delete a webhook endpoint", Tags: tags, Errors: errsWrite,
		Description: "Nothing more is sent to it; its pending deliveries end as failed.",
	}, s.deleteWebhookEndpoint)
	huma.Register(api, huma.Operation{
		OperationID: "rotate-webhook-endpoint-secret", Method: http.MethodPost, Path: "/api/v1/webhook-endpoints/{id}/rotate-secret",
		Summary: "Rotate a webhook endpoint's secret", Tags: tags, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "Replaces the signing secret and returns the endpoint with the new one; deliveries from now on are signed with it only.",
	}, s.rotateWebhookSecret)
	huma.Register(api, huma.Operation{
		OperationID: "list-webhook-deliveries", Method: http.MethodGet, Path: "/api/v1/webhook-endpoints/{id}/deliveries",
		Summary: "List an endpoint's deliveries", Tags: tags, Errors: errsRead,
		Description: "One delivery per event sent to the endpoint, newest first, each with every attempt: time, status code, latency, the first 1 KiB of the response and the error.",
	}, s.listWebhookDeliveries)
	huma.Register(api, huma.Operation{
		OperationID: "retry-webhook-delivery", Method: http.MethodPost, Path: "/api/v1/deliveries/{id}/retry",
		Summary: "Retry a delivery now", Tags: tags, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "Makes one more attempt at once, whatever the delivery's status, with the same webhook-id. Refused with 409 delivery_in_flight while an attempt is being made and 409 endpoint_disabled while the endpoint is disabled.",
	}, s.retryWebhookDelivery)
	huma.Register(api, huma.Operation{
		OperationID: "replay-webhook-endpoint", Method: http.MethodPost, Path: "/api/v1/webhook-endpoints/{id}/replay",
		Summary: "Re-send events to an endpoint", Tags: tags, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "Creates or resets a delivery, due now, for every event after the cursor that the endpoint accepts (up to 10,000 per call; see has_more). Receivers de-duplicate by webhook-id.",
	}, s.replayWebhooks)
}

func (s *server) whPolicy() events.AddressPolicy {
	if s.webhooks != nil {
		return s.webhooks.Policy()
	}
	return events.AddressPolicy{}
}

func (s *server) createWebhookEndpoint(ctx context.Context, in *createWebhookEndpointInput) (*endpointOutput, error) {
	p := principal(ctx)
	b := in.Body
	params := events.EndpointParams{URL: &b.URL, Description: &b.Description, EnabledEvents: b.EnabledEvents, Enabled: b.Enabled}
	ep, err := events.CreateEndpoint(ctx, s.invoices.IDB(ctx), s.whPolicy(), p.MerchantID, p.Mode, params, s.invoices.Now())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := ep.Object()
	out.Secret = ep.Secret
	return &endpointOutput{out}, nil
}

func (s *server) listWebhookEndpoints(ctx context.Context, in *listWebhookEndpointsInput) (*struct{ Body WebhookEndpointList }, error) {
	p := principal(ctx)
	list, more, err := events.ListEndpoints(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, in.After, in.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := WebhookEndpointList{Object: "list", Data: make([]events.EndpointObject, len(list)), HasMore: more}
	for i := range list {
		out.Data[i] = list[i].Object()
	}
	return &struct{ Body WebhookEndpointList }{out}, nil
}

func (s *server) getWebhookEndpoint(ctx context.Context, in *WebhookEndpointIDParam) (*endpointOutput, error) {
	p := principal(ctx)
	ep, err := events.GetEndpoint(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &endpointOutput{ep.Object()}, nil
}

func (s *server) updateWebhookEndpoint(ctx context.Context, in *updateWebhookEndpointInput) (*endpointOutput, error) {
	p := principal(ctx)
	b := in.Body
	params := events.EndpointParams{URL: b.URL, Description: b.Description, EnabledEvents: b.EnabledEvents, Enabled: b.Enabled}
	ep, err := events.UpdateEndpoint(ctx, s.invoices.IDB(ctx), s.whPolicy(), p.MerchantID, p.Mode, in.ID, params, s.invoices.Now())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if s.webhooks != nil && ep.Enabled {
		s.webhooks.Notify()
	}
	return &endpointOutput{ep.Object()}, nil
}

func (s *server) deleteWebhookEndpoint(ctx context.Context, in *WebhookEndpointIDParam) (*struct{ Body DeletedWebhookEndpoint }, error) {
	p := principal(ctx)
	ep, err := events.DeleteEndpoint(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, in.ID, s.invoices.Now())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body DeletedWebhookEndpoint }{DeletedWebhookEndpoint{ID: ep.ID, Object: "webhook_endpoint", Deleted: true}}, nil
}

func (s *server) rotateWebhookSecret(ctx context.Context, in *rotateSecretInput) (*endpointOutput, error) {
	p := principal(ctx)
	ep, err := events.RotateSecret(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, in.ID, s.invoices.Now())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := ep.Object()
	out.Secret = ep.Secret
	return &endpointOutput{out}, nil
}

func (s *server) listWebhookDeliveries(ctx context.Context, in *listDeliveriesInput) (*struct{ Body WebhookDeliveryList }, error) {
	p := principal(ctx)
	list, more, err := events.ListDeliveries(ctx, s.invoices.IDB(ctx), events.DeliveryListParams{
		MerchantID: p.MerchantID, Mode: p.Mode, EndpointID: in.ID, Status: in.Status, EventID: in.EventID,
		After: in.After, Limit: in.Limit,
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body WebhookDeliveryList }{WebhookDeliveryList{Object: "list", Data: list, HasMore: more}}, nil
}

func (s *server) retryWebhookDelivery(ctx context.Context, in *retryDeliveryInput) (*struct{ Body events.DeliveryObject }, error) {
	p := principal(ctx)
	d, err := events.RetryDelivery(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, in.ID, s.invoices.Now())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if s.webhooks != nil {
		s.webhooks.Notify()
	}
	return &struct{ Body events.DeliveryObject }{d}, nil
}

func (s *server) replayWebhooks(ctx context.Context, in *replayInput) (*struct{ Body WebhookReplay }, error) {
	p := principal(ctx)
	after, err := s.cursor(ctx, p, in.After)
	if err != nil {
		return nil, err
	}
	res, err := events.Replay(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, in.ID, after, s.invoices.Now())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if s.webhooks != nil {
		s.webhooks.Notify()
	}
	return &struct{ Body WebhookReplay }{WebhookReplay{
		Object: "webhook_replay", EndpointID: in.ID, Replayed: res.Replayed, LastEventID: res.LastEventID, HasMore: res.HasMore,
	}}, nil
}
