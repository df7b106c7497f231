package openapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

type listEventsInput struct {
	After     string `query:"after" maxLength:"64" example:"evt_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Cursor: the id of the last event you have; the list starts after it. Omit to start at the oldest event."`
	Type      string `query:"type" enum:"invoice.created,invoice.updated,invoice_payment.updated,checkout.scanned,checkout.opened,checkout.locked,webhook_endpoint.disabled,qr_session.created,qr_session.updated,system.alert" doc:"Only events of this type."`
	InvoiceID string `query:"invoice_id" maxLength:"64" doc:"Only events of this invoice."`
	Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
}

// EventList is one page of events, oldest first.
type EventList struct {
	Object  string         `json:"object" enum:"list"`
	Data    []events.Event `json:"data" nullable:"false"`
	HasMore bool           `json:"has_more" doc:"Whether more events follow; fetch them with after = the last id of data."`
}

type eventIDInput struct {
	ID string `path:"id" maxLength:"64" example:"evt_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Event id."`
}

func (s *server) registerEvents(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-events", Method: http.MethodGet, Path: "/api/v1/events",
		Summary: "List events", Tags: []string{"Events"}, Errors: errsRead,
		Description: "Every change as one event, in sequence order: the recovery feed for a merchant that missed webhooks or was offline. Pass the id of the last event you processed as after; an event never appears before one already listed. Events are kept at least 30 days.",
	}, s.listEvents)
	huma.Register(api, huma.Operation{
		OperationID: "get-event", Method: http.MethodGet, Path: "/api/v1/events/{id}",
		Summary: "Retrieve an event", Tags: []string{"Events"}, Errors: errsRead,
	}, s.getEvent)
}

func (s *server) listEvents(ctx context.Context, in *listEventsInput) (*struct{ Body EventList }, error) {
	p := principal(ctx)
	lp := events.ListParams{MerchantID: p.MerchantID, Mode: p.Mode, Type: in.Type, InvoiceID: in.InvoiceID, Limit: in.Limit}
	after, err := s.cursor(ctx, p, in.After)
	if err != nil {
		return nil, err
	}
	lp.After = after
	list, more, err := events.List(ctx, s.invoices.IDB(ctx), lp)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := EventList{Object: "list", Data: make([]events.Event, len(list)), HasMore: more}
	for i, e := range list {
		out.Data[i] = events.FromStored(e)
	}
	return &struct{ Body EventList }{out}, nil
}

// cursor resolves an `after` event id of the principal's merchant and mode
// to its sequence (0 for none). An id that names no such event is a 422
// invalid_cursor problem; every other error has already been through fail.
func (s *server) cursor(ctx context.Context, p invoice.Principal, id string) (int64, error) {
	if id == "" {
		return 0, nil
	}
	e, err := events.Get(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, id)
	switch {
	case errors.Is(err, invoice.ErrNotFound):
		return 0, badCursor(id)
	case err != nil:
		return 0, s.fail(ctx, err)
	}
	return e.Sequence, nil
}

func badCursor(id string) *Problem {
	return problem(http.StatusUnprocessableEntity, "invalid_cursor", "after: no such event",
		&huma.ErrorDetail{Location: "query.after", Message: "no such event", Value: id})
}

func (s *server) getEvent(ctx context.Context, in *eventIDInput) (*struct{ Body events.Event }, error) {
	p := principal(ctx)
	e, err := events.Get(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body events.Event }{events.FromStored(e)}, nil
}
