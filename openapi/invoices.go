package openapi

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// IdempotencyHeader documents the header on every POST.
type IdempotencyHeader struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes the request safe to retry: the same key and body within 24 hours return the first response again (with Idempotent-Replayed: true); the same key with another body is refused with 409 idempotency_conflict." example:"order-1042-create"`
}

// CreateInvoiceBody is a new invoice.
type CreateInvoiceBody struct {
	Amount          string            `json:"amount" example:"25.00" doc:"Decimal string in the currency's units, > 0 and at most 1e12, with no more decimals than the currency has (2 for USD); no sign or exponent."`
	Currency        string            `json:"currency" enum:"EUR,GBP,IDR,JPY,SGD,USD" example:"USD" doc:"ISO 4217 currency of the amount."`
	PaymentMethods  []string          `json:"payment_methods,omitempty" maxItems:"32" example:"[\"sandbox\"]" doc:"Method ids (usdc_base, usdc_base_sepolia, sandbox, …) of the key's mode. Default: every method of the key's mode that settles the currency; test mode always includes sandbox."`
	MerchantOrderID string            `json:"merchant_order_id,omitempty" maxLength:"200" example:"order-1042" doc:"Your own reference, searchable with the list filter."`
	Description     string            `json:"description,omitempty" maxLength:"1000" example:"2 × espresso" doc:"Shown to the payor."`
	Metadata        map[string]string `json:"metadata,omitempty" maxProperties:"50" example:"{\"customer\":\"c_81\"}" doc:"Up to 50 string keys (≤ 40 characters) and string values (≤ 500), 8 KiB in all."`
	RedirectURL     string            `json:"redirect_url,omitempty" format:"uri" maxLength:"2048" example:"https://shop.example/thanks" doc:"Where the hosted page sends the payor afterwards."`
	ExpiresIn       int64             `json:"expires_in,omitempty" minimum:"60" maximum:"604800" example:"900" doc:"Seconds from now until the invoice stops taking new payors (default 900). Give this or expires_at."`
	ExpiresAt       *time.Time        `json:"expires_at,omitempty" example:"2030-01-31T12:00:00Z" doc:"Alternative to expires_in: an RFC 3339 time 60 s to 7 days ahead."`
	AllowTip        bool              `json:"allow_tip,omitempty" example:"true" doc:"Let the payor add a tip on the checkout before the instructions are shown (presets and a custom amount, never above tip_cap_percent); the tip is added to the amount due and stated as tip_amount."`
	TipCapPercent   int               `json:"tip_cap_percent,omitempty" minimum:"1" maximum:"100" example:"20" doc:"With allow_tip: the most a tip may be, in percent of amount (default 20)."`
	Fulfilled       *bool             `json:"fulfilled,omitempty" example:"false" doc:"false: once paid, the invoice's fulfilment is pending until POST /api/v1/invoices/{id}/fulfil (vending); the reconciliation report lists it to refund if never fulfilled. Default true (nothing to report)."`
	Include         []string          `json:"include,omitempty" maxItems:"4" uniqueItems:"true" enum:"qr_png" example:"[\"qr_png\"]" doc:"Extras to embed in the response: qr_png, the payment_url as a base64 PNG."`
	QRSessionID     string            `json:"qr_session_id,omitempty" maxLength:"64" example:"qrs_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Binds the invoice to a waiting QR session (a scan of a static code), which gets exactly one invoice: a second is refused with 409 qr_session_used, and a session that is down, failed, canceled or past its order timeout with 409 qr_session_closed. The invoice takes the session's location_id, its dynamic data as dynamic.* metadata and, without expires_in or expires_at, the code's payment timeout. With the session's one-time order key this is implied."`
}

type createInvoiceInput struct {
	IdempotencyHeader
	Body CreateInvoiceBody
}

type invoiceOutput struct {
	Body invoice.InvoiceObject
}

// InvoiceStatus is the small, cheap-to-poll view of an invoice.
type InvoiceStatus struct {
	ID         string            `json:"id" example:"inv_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object     string            `json:"object" enum:"invoice_status"`
	Status     invoice.Status    `json:"status" enum:"open,processing,paid,expired,cancelled,invalid"`
	Exception  invoice.Exception `json:"exception" enum:"none,underpaid,overpaid,paid_late,marked"`
	AmountPaid string            `json:"amount_paid" example:"0.00"`
	AmountDue  string            `json:"amount_due" example:"25.00"`
	UpdatedAt  time.Time         `json:"updated_at"`
	// SessionStatus is there for terminals that poll: a scan shows.
	SessionStatus invoice.SessionStatus `json:"session_status" enum:"created,scanned,confirming,succeeded,failed,expired,cancelled" doc:"The payment session's state (see the invoice's session_status)."`
}

// InvoiceIDParam is the {id} of an invoice path.
type InvoiceIDParam struct {
	ID string `path:"id" maxLength:"64" example:"inv_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Invoice id."`
}

type cancelInput struct {
	IdempotencyHeader
	InvoiceIDParam
}

type listInvoicesInput struct {
	Status          string    `query:"status" enum:"open,processing,paid,expired,cancelled,invalid" doc:"Only invoices in this status."`
	MerchantOrderID string    `query:"merchant_order_id" maxLength:"200" doc:"Only invoices with this merchant_order_id."`
	CreatedGTE      time.Time `query:"created_gte" doc:"Only invoices created at or after this RFC 3339 time."`
	CreatedLTE      time.Time `query:"created_lte" doc:"Only invoices created at or before this RFC 3339 time."`
	After           string    `query:"after" maxLength:"64" doc:"Cursor: the last id of the previous page."`
	Limit           int       `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
}

// InvoiceList is one page of invoices, newest first.
type InvoiceList struct {
	Object  string                  `json:"object" enum:"list"`
	Data    []invoice.InvoiceObject `json:"data" nullable:"false"`
	HasMore bool                    `json:"has_more" doc:"Whether another page follows; fetch it with after = the last id of data."`
}

type listInvoicesOutput struct{ Body InvoiceList }

var (
	errsRead  = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity}
	errsWrite = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}
)

func (s *server) register(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-invoice", Method: http.MethodPost, Path: "/api/v1/invoices",
		Summary: "Create an invoice", Tags: []string{"Invoices"}, DefaultStatus: http.StatusCreated,
		Description: "Creates an invoice in the key's mode and returns it with its hosted payment_url and the payment_session_headers for an embedded checkout. A terminal's key (scope terminal) may call it: the invoice then carries that terminal_id, which nothing else sets.",
		Errors:      errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Metadata: boundScopes,
	}, s.createInvoice)
	huma.Register(api, huma.Operation{
		OperationID: "get-invoice", Method: http.MethodGet, Path: "/api/v1/invoices/{id}",
		Summary: "Retrieve an invoice", Tags: []string{"Invoices"}, Errors: errsRead,
		Metadata: boundScopes,
	}, s.getInvoice)
	huma.Register(api, huma.Operation{
		OperationID: "get-invoice-status", Method: http.MethodGet, Path: "/api/v1/invoices/{id}/status",
		Summary: "Retrieve an invoice's status", Tags: []string{"Invoices"}, Errors: errsRead,
		Description: "The fields a poller needs: status, exception, amounts paid and due, and session_status (a terminal sees the payor's scan).",
		Metadata:    boundScopes,
	}, s.getInvoiceStatus)
	huma.Register(api, huma.Operation{
		OperationID: "list-invoices", Method: http.MethodGet, Path: "/api/v1/invoices",
		Summary: "List invoices", Tags: []string{"Invoices"}, Errors: errsRead,
		Description: "Newest first, filtered, and paged by cursor: pass the last id you saw as after.",
	}, s.listInvoices)
	huma.Register(api, huma.Operation{
		OperationID: "cancel-invoice", Method: http.MethodPost, Path: "/api/v1/invoices/{id}/cancel",
		Summary: "Cancel an invoice", Tags: []string{"Invoices"}, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "Cancels an open invoice with nothing paid or pending; anything else is refused with 409 invoice_not_cancellable. A payment that still arrives is recorded and flagged for refund.",
		Metadata:    terminalScope,
	}, s.cancelInvoice)
	s.registerPOS(api)
	s.registerCheckout(api)
	s.registerSandbox(api)
	s.registerEvents(api)
	s.registerWebhooks(api)
	s.registerAccounts(api)
	s.registerNetworks(api)
	s.registerRails(api)
	s.registerQRCodes(api)
	s.registerTerminals(api)
}

func (s *server) createInvoice(ctx context.Context, in *createInvoiceInput) (*invoiceOutput, error) {
	p := principal(ctx)
	b := in.Body
	if p.Scope == invoice.ScopeOrder {
		// A QR session's one-time key creates that session's invoice only.
		if b.QRSessionID != "" && b.QRSessionID != p.BoundTo {
			return nil, problem(http.StatusForbidden, "insufficient_scope", "This order key creates the invoice of its own QR session only.")
		}
		b.QRSessionID = p.BoundTo
	}
	params, err := s.createParams(ctx, p, b)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if p.Scope == invoice.ScopeTerminal {
		// A terminal's key creates its terminal's invoices, and no other,
		// at its location.
		t, err := s.invoices.Terminal(ctx, p.MerchantID, p.Mode, p.BoundTo)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		params.TerminalID, params.LocationID = t.ID, t.LocationID
	}
	_, obj, err := s.invoices.CreateObject(ctx, params)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out, err := s.createdInvoice(obj, b.Include)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &invoiceOutput{Body: out}, nil
}

// createParams turns a new invoice's body into the parameters of
// invoice.Create, with the chains' and rails' creation hooks.
func (s *server) createParams(ctx context.Context, p invoice.Principal, b CreateInvoiceBody) (invoice.CreateParams, error) {
	methods, err := s.ledger.Catalogue().Choose(p.Mode, invoice.Currency(b.Currency), b.PaymentMethods)
	if err != nil {
		return invoice.CreateParams{}, err
	}
	requested := len(b.PaymentMethods) > 0
	deposits, depositsWrite, err := s.ledger.Prepare(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, methods, requested)
	if err != nil {
		return invoice.CreateParams{}, err
	}
	rails, railsWrite, err := s.rails.Prepare(ctx, s.invoices.IDB(ctx), p.MerchantID, p.Mode, methods, requested)
	if err != nil {
		return invoice.CreateParams{}, err
	}
	return invoice.CreateParams{
		MerchantID: p.MerchantID, Mode: p.Mode,
		Amount: b.Amount, Currency: b.Currency, PaymentMethods: methods,
		MerchantOrderID: b.MerchantOrderID, Description: b.Description, Metadata: b.Metadata,
		RedirectURL: b.RedirectURL, ExpiresIn: b.ExpiresIn, ExpiresAt: b.ExpiresAt, QRSessionID: b.QRSessionID,
		AllowTip: b.AllowTip, TipCapPercent: b.TipCapPercent, Fulfilled: b.Fulfilled,
		Prepare:         prepareAll(deposits, rails),
		PrepareReadOnly: !depositsWrite && !railsWrite,
	}, nil
}

// createQRInvoice creates the invoice of a dynamic scan that names its
// amount and currency (payor.QRPages.CreateInvoice).
func (s *server) createQRInvoice(ctx context.Context, sess invoice.QRSession, amount, currency, description string) (invoice.Invoice, error) {
	if len([]rune(description)) > 1000 {
		description = ""
	}
	return s.newInvoice(ctx, sess.MerchantID, sess.Mode, CreateInvoiceBody{
		Amount: amount, Currency: currency, Description: description, QRSessionID: sess.ID,
	})
}

// newInvoice creates an invoice of b for the merchant in mode, with its
// methods' deposits and rail instructions.
func (s *server) newInvoice(ctx context.Context, merchantID string, mode invoice.Mode, b CreateInvoiceBody) (invoice.Invoice, error) {
	params, err := s.createParams(ctx, invoice.Principal{MerchantID: merchantID, Mode: mode}, b)
	if err != nil {
		return invoice.Invoice{}, err
	}
	return s.invoices.Create(ctx, params)
}

// prepareAll runs the non-nil creation hooks in order (the chains' deposits,
// then the rails'); it is nil when all are.
func prepareAll(hooks ...func(context.Context, bun.IDB, *invoice.Invoice) error) func(context.Context, bun.IDB, *invoice.Invoice) error {
	hooks = slices.DeleteFunc(hooks, func(h func(context.Context, bun.IDB, *invoice.Invoice) error) bool { return h == nil })
	if len(hooks) == 0 {
		return nil
	}
	return func(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) error {
		for _, h := range hooks {
			if err := h(ctx, tx, inv); err != nil {
				return err
			}
		}
		return nil
	}
}

func (s *server) getInvoice(ctx context.Context, in *InvoiceIDParam) (*invoiceOutput, error) {
	inv, err := s.ownInvoice(ctx, principal(ctx), in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &invoiceOutput{Body: inv.Object(s.invoices.Checkout())}, nil
}

func (s *server) getInvoiceStatus(ctx context.Context, in *InvoiceIDParam) (*struct{ Body InvoiceStatus }, error) {
	inv, err := s.ownInvoice(ctx, principal(ctx), in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body InvoiceStatus }{InvoiceStatus{
		ID: inv.ID, Object: "invoice_status", Status: inv.Status, Exception: inv.Exception,
		AmountPaid: inv.AmountPaid.Format(inv.Decimals), AmountDue: inv.AmountDue().Format(inv.Decimals),
		UpdatedAt: inv.UpdatedAt, SessionStatus: inv.SessionStatus(),
	}}, nil
}

func (s *server) listInvoices(ctx context.Context, in *listInvoicesInput) (*listInvoicesOutput, error) {
	p := principal(ctx)
	lp := invoice.ListParams{
		MerchantID: p.MerchantID, Mode: p.Mode, Status: invoice.Status(in.Status),
		MerchantOrderID: in.MerchantOrderID, After: in.After, Limit: in.Limit,
	}
	if !in.CreatedGTE.IsZero() {
		lp.CreatedGTE = &in.CreatedGTE
	}
	if !in.CreatedLTE.IsZero() {
		lp.CreatedLTE = &in.CreatedLTE
	}
	list, more, err := s.invoices.List(ctx, lp)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := InvoiceList{Object: "list", Data: make([]invoice.InvoiceObject, len(list)), HasMore: more}
	for i := range list {
		out.Data[i] = list[i].Object(s.invoices.Checkout())
	}
	return &listInvoicesOutput{Body: out}, nil
}

func (s *server) cancelInvoice(ctx context.Context, in *cancelInput) (*invoiceOutput, error) {
	p := principal(ctx)
	if _, err := s.ownInvoice(ctx, p, in.ID); err != nil {
		return nil, s.fail(ctx, err)
	}
	inv, err := s.invoices.Cancel(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &invoiceOutput{Body: inv.Object(s.invoices.Checkout())}, nil
}

// ownInvoice returns the invoice id of p's merchant and mode; for a
// terminal's key, only one its terminal created, and for an order key only
// its QR session's (invoice.ErrNotFound for any other).
func (s *server) ownInvoice(ctx context.Context, p invoice.Principal, id string) (invoice.Invoice, error) {
	inv, err := s.invoices.Get(ctx, p.MerchantID, p.Mode, id)
	if err == nil && (p.Scope == invoice.ScopeTerminal && inv.TerminalID != p.BoundTo ||
		p.Scope == invoice.ScopeOrder && inv.QRSessionID != p.BoundTo) {
		return invoice.Invoice{}, invoice.ErrNotFound
	}
	return inv, err
}

// terminalScope is the metadata of operations a terminal's key may call;
// boundScopes of those a QR session's order key may call too (creating its
// one invoice and reading it).
var (
	terminalScope = map[string]any{scopesKey: []invoice.Scope{invoice.ScopeTerminal}}
	boundScopes   = map[string]any{scopesKey: []invoice.Scope{invoice.ScopeTerminal, invoice.ScopeOrder}}
)
