package openapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

// CreateTerminalBody is a new point-of-sale terminal.
type CreateTerminalBody struct {
	Name       string `json:"name" minLength:"1" maxLength:"100" example:"Counter 1" doc:"Shown in listings and on the cashier screen."`
	LocationID string `json:"location_id,omitempty" maxLength:"64" example:"loc_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"An active location of the merchant in this mode (POST /api/v1/locations) the terminal stands at, optional: its invoices carry it."`
}

type createTerminalInput struct {
	IdempotencyHeader
	Body CreateTerminalBody
}

// NewTerminal is a terminal as created: the only answer that shows its key
// and command secret.
type NewTerminal struct {
	invoice.TerminalObject
	APIKey        string `json:"api_key" example:"sk_test_4f5g6h7j8k9m0n1p2q3r4s5t6v7w8x9y" doc:"The terminal's API key, scope terminal: it may create invoices of this terminal, read and cancel them, read their events and open this terminal's WebSocket; nothing else. Shown only now."`
	CommandSecret string `json:"command_secret" example:"tcs_3q2x8m1c4v7b9n0k5j6h2g4f8d1s3a7p" doc:"Signs the terminal's WebSocket commands (HMAC-SHA256, see the terminal WebSocket). Shown only now."`
}

// TerminalIDParam is the {id} of a terminal path.
type TerminalIDParam struct {
	ID string `path:"id" maxLength:"64" example:"trm_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Terminal id."`
}

type deleteTerminalInput struct {
	TerminalIDParam
}

// TerminalList is one page of terminals, newest first.
type TerminalList struct {
	Object  string                   `json:"object" enum:"list"`
	Data    []invoice.TerminalObject `json:"data" nullable:"false"`
	HasMore bool                     `json:"has_more" doc:"Whether another page follows; fetch it with after = the last id of data."`
}

type listTerminalInvoicesInput struct {
	TerminalIDParam
	Since time.Time `query:"since" doc:"Only invoices created at or after this RFC 3339 time (e.g. the start of today)."`
	After string    `query:"after" maxLength:"64" doc:"Cursor: the last id of the previous page."`
	Limit int       `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
}

type listInvoiceEventsInput struct {
	InvoiceIDParam
	After string `query:"after" maxLength:"64" doc:"Cursor: the id of the last event you have."`
	Limit int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
}

func (s *server) registerTerminals(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-terminal", Method: http.MethodPost, Path: "/api/v1/terminals",
		Summary: "Create a terminal", Tags: []string{"Terminals"}, DefaultStatus: http.StatusCreated,
		Description: "Creates a point-of-sale terminal in the key's mode and returns, this once, its API key (scope terminal) and its command secret; the cashier screen at `/pos` signs in with the terminal id, key and secret. " + terminalWSDescription,
		Errors:      errsWrite, MaxBodyBytes: humaMaxBodyBytes,
	}, s.createTerminal)
	huma.Register(api, huma.Operation{
		OperationID: "list-terminals", Method: http.MethodGet, Path: "/api/v1/terminals",
		Summary: "List terminals", Tags: []string{"Terminals"}, Errors: errsRead,
		Description: "Newest first, deleted ones included, paged by cursor.",
	}, s.listTerminals)
	huma.Register(api, huma.Operation{
		OperationID: "get-terminal", Method: http.MethodGet, Path: "/api/v1/terminals/{id}",
		Summary: "Retrieve a terminal", Tags: []string{"Terminals"}, Errors: errsRead,
		Description: "A terminal's own key may read it.", Metadata: terminalScope,
	}, s.getTerminal)
	huma.Register(api, huma.Operation{
		OperationID: "delete-terminal", Method: http.MethodDelete, Path: "/api/v1/terminals/{id}",
		Summary: "Delete a terminal", Tags: []string{"Terminals"}, Errors: errsWrite,
		Description: "Revokes the terminal's key, which closes its WebSockets within 250 ms, and marks it deleted. Its invoices stay.",
	}, s.deleteTerminal)
	huma.Register(api, huma.Operation{
		OperationID: "list-terminal-invoices", Method: http.MethodGet, Path: "/api/v1/terminals/{id}/invoices",
		Summary: "List a terminal's invoices", Tags: []string{"Terminals"}, Errors: errsRead,
		Description: "The invoices the terminal created, newest first (today's sales with since = the start of the day). A terminal's own key may call it.",
		Metadata:    terminalScope,
	}, s.listTerminalInvoices)
	huma.Register(api, huma.Operation{
		OperationID: "list-invoice-events", Method: http.MethodGet, Path: "/api/v1/invoices/{id}/events",
		Summary: "List an invoice's events", Tags: []string{"Events"}, Errors: errsRead,
		Description: "The invoice's events in sequence order, after the cursor. A terminal's key may read those of its own invoices.",
		Metadata:    terminalScope,
	}, s.listInvoiceEvents)
}

func (s *server) createTerminal(ctx context.Context, in *createTerminalInput) (*struct{ Body NewTerminal }, error) {
	p := principal(ctx)
	t, key, err := s.invoices.CreateTerminal(ctx, invoice.CreateTerminalParams{
		MerchantID: p.MerchantID, Mode: p.Mode, Name: in.Body.Name, LocationID: in.Body.LocationID})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body NewTerminal }{NewTerminal{TerminalObject: t.Object(), APIKey: key, CommandSecret: t.CommandSecret}}, nil
}

func (s *server) listTerminals(ctx context.Context, in *listPageInput) (*struct{ Body TerminalList }, error) {
	p := principal(ctx)
	list, more, err := s.invoices.ListTerminals(ctx, p.MerchantID, p.Mode, in.After, in.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := TerminalList{Object: "list", Data: make([]invoice.TerminalObject, len(list)), HasMore: more}
	for i := range list {
		out.Data[i] = list[i].Object()
	}
	return &struct{ Body TerminalList }{out}, nil
}

// terminal returns p's terminal id; a terminal's key sees only its own.
func (s *server) terminal(ctx context.Context, p invoice.Principal, id string) (invoice.Terminal, error) {
	if p.Scope == invoice.ScopeTerminal && p.BoundTo != id {
		return invoice.Terminal{}, invoice.ErrNotFound
	}
	return s.invoices.Terminal(ctx, p.MerchantID, p.Mode, id)
}

func (s *server) getTerminal(ctx context.Context, in *TerminalIDParam) (*struct{ Body invoice.TerminalObject }, error) {
	t, err := s.terminal(ctx, principal(ctx), in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body invoice.TerminalObject }{t.Object()}, nil
}

func (s *server) deleteTerminal(ctx context.Context, in *deleteTerminalInput) (*struct{ Body invoice.TerminalObject }, error) {
	p := principal(ctx)
	t, err := s.invoices.DeleteTerminal(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body invoice.TerminalObject }{t.Object()}, nil
}

func (s *server) listTerminalInvoices(ctx context.Context, in *listTerminalInvoicesInput) (*listInvoicesOutput, error) {
	t, err := s.terminal(ctx, principal(ctx), in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	list, more, err := s.invoices.TerminalInvoices(ctx, t.ID, in.Since, in.After, in.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := InvoiceList{Object: "list", Data: make([]invoice.InvoiceObject, len(list)), HasMore: more}
	for i := range list {
		out.Data[i] = list[i].Object(s.invoices.Checkout())
	}
	return &listInvoicesOutput{Body: out}, nil
}

func (s *server) listInvoiceEvents(ctx context.Context, in *listInvoiceEventsInput) (*struct{ Body EventList }, error) {
	p := principal(ctx)
	inv, err := s.ownInvoice(ctx, p, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	after, err := s.cursor(ctx, p, in.After)
	if err != nil {
		return nil, err
	}
	list, more, err := events.List(ctx, s.invoices.IDB(ctx), events.ListParams{
		MerchantID: p.MerchantID, Mode: p.Mode, InvoiceID: inv.ID, After: after, Limit: max(in.Limit, 1)})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := EventList{Object: "list", Data: make([]events.Event, len(list)), HasMore: more}
	for i, e := range list {
		out.Data[i] = events.FromStored(e)
	}
	return &struct{ Body EventList }{out}, nil
}
