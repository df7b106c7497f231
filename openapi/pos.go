package openapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/payor"
)

// Point of sale, invoice side: the invoice's QR code for a terminal screen
// or a receipt, fulfilment by a vending machine, and the payor's tip.

// QR code sizes of GET /api/v1/invoices/{id}/qr, in pixels.
const (
	minQRSize     = 64
	maxQRSize     = 1024
	defaultQRSize = 320
)

type invoiceQRInput struct {
	InvoiceIDParam
	Format string `query:"format" enum:"png,svg" default:"png" doc:"png (a square of size pixels) or svg (scalable)."`
	Size   int    `query:"size" minimum:"64" maximum:"1024" default:"320" doc:"PNG: width and height in pixels, 64 to 1024."`
	Method string `query:"method" maxLength:"64" example:"usdc_base" doc:"Encode this method's own payment URI (EIP-681, Solana Pay, the QRIS payload) instead of payment_url."`
}

type fulfilInput struct {
	IdempotencyHeader
	InvoiceIDParam
}

// PayorTipBody is the payor's tip: an amount or a percent of the amount.
type PayorTipBody struct {
	Amount  string `json:"amount,omitempty" maxLength:"40" example:"2.50" doc:"Decimal string in the invoice currency; 0 for no tip."`
	Percent *int   `json:"percent,omitempty" minimum:"0" maximum:"100" example:"15" doc:"Percent of the invoice amount, rounded down to the currency's smallest unit. Give amount or percent."`
}

type payorTipInput struct {
	SessionHeaders
	Body PayorTipBody
}

func (s *server) registerPOS(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-invoice-qr", Method: http.MethodGet, Path: "/api/v1/invoices/{id}/qr",
		Summary: "QR code of an invoice", Tags: []string{"Invoices"}, Errors: errsRead,
		Description: "The invoice's payment_url as a QR code, for a terminal screen or a receipt; with method, that method's own payment URI (EIP-681, Solana Pay, the QRIS payload), which a wallet pays without opening the page. Fetching it is not a scan: checkout.scanned is the payor's first open of the checkout. A method without a URI (a bank transfer) answers 404 no_qr_code; one not on the invoice 422 invalid_payment_method. A terminal's key may fetch the QR codes of its own terminal's invoices, and a QR session's order key that of its session's invoice (any other is 404).",
		Metadata:    boundScopes,
		Responses: map[string]*huma.Response{"200": {Description: "The QR code", Content: map[string]*huma.MediaType{
			"image/png": {Schema: &huma.Schema{Type: "string", Format: "binary"}}, "image/svg+xml": {Schema: &huma.Schema{Type: "string"}},
		}}},
	}, s.invoiceQR)
	huma.Register(api, huma.Operation{
		OperationID: "fulfil-invoice", Method: http.MethodPost, Path: "/api/v1/invoices/{id}/fulfil",
		Summary: "Report an invoice's goods handed over", Tags: []string{"Invoices"}, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "For an invoice created with fulfilled: false (a vending machine): once it is paid, its fulfilment is pending until this call sets it fulfilled, with an invoice.updated event. Idempotent: calling again answers the invoice unchanged. An invoice not paid, or created without fulfilled: false, is refused with 409 invoice_not_fulfillable. A paid invoice never fulfilled is listed \"to refund\" by the reconciliation report after SETTLE_FULFILMENT_REFUND_AFTER (default 168h).",
	}, s.fulfilInvoice)
	huma.Register(api, huma.Operation{
		OperationID: "set-payor-tip", Method: http.MethodPost, Path: payorPrefix + "session/tip",
		Summary: "Add a tip", Tags: []string{"Payor"}, Security: []map[string][]string{}, MaxBodyBytes: humaMaxBodyBytes,
		Errors:      []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusLocked, http.StatusUnprocessableEntity, http.StatusTooManyRequests},
		Description: "On an invoice created with allow_tip: sets the tip (an amount, or a percent of the amount) that is added to the amount due, before a method is chosen. It may be changed until a method's instructions are shown or a payment is seen; after that 409 tip_closed. At most tip_cap_percent of the amount (422 tip_above_cap); 409 tip_not_allowed on an invoice without allow_tip. Answers the session with the new amount due. Authorised by the invoice's payment_session_headers, like every payor operation.",
	}, s.setPayorTip)
}

func (s *server) invoiceQR(ctx context.Context, in *invoiceQRInput) (*qrOutput, error) {
	inv, err := s.ownInvoice(ctx, principal(ctx), in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	text, _ := s.invoices.Checkout().Links(inv.SessionToken)
	if in.Method != "" {
		i := -1
		for j, ins := range inv.Instructions {
			if ins.Method == in.Method {
				i = j
			}
		}
		switch {
		case i < 0:
			return nil, problem(http.StatusUnprocessableEntity, "invalid_payment_method", "method: not a method with instructions on this invoice",
				&huma.ErrorDetail{Location: "query.method", Message: "not a method with instructions on this invoice", Value: in.Method})
		case inv.Instructions[i].URI == "":
			return nil, problem(http.StatusNotFound, "no_qr_code", "This method is a bank transfer: it has no payment URI to show as a QR code.")
		}
		text = inv.Instructions[i].URI
	}
	if in.Size == 0 {
		in.Size = defaultQRSize
	}
	var b []byte
	ct := "image/png"
	if in.Format == "svg" {
		b, err = payor.QRSVG(text)
		ct = "image/svg+xml"
	} else {
		b, err = payor.QRPNG(text, in.Size)
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &qrOutput{ContentType: ct, CacheControl: "private, max-age=60", Body: b}, nil
}

// createdInvoice is the created invoice's object with what include asked
// for: qr_png, the payment_url's QR code.
func (s *server) createdInvoice(out invoice.InvoiceObject, include []string) (invoice.InvoiceObject, error) {
	for _, what := range include {
		if what != "qr_png" {
			continue
		}
		b, err := payor.QRPNG(out.PaymentURL, defaultQRSize)
		if err != nil {
			return out, err
		}
		out.QRPNG = base64.StdEncoding.EncodeToString(b)
	}
	return out, nil
}

func (s *server) fulfilInvoice(ctx context.Context, in *fulfilInput) (*invoiceOutput, error) {
	p := principal(ctx)
	inv, err := s.invoices.Fulfil(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		if errors.Is(err, invoice.ErrNotFulfillable) {
			return nil, problem(http.StatusConflict, "invoice_not_fulfillable", "Only a paid invoice created with fulfilled: false can be fulfilled ("+err.Error()+").")
		}
		return nil, s.fail(ctx, err)
	}
	return &invoiceOutput{Body: inv.Object(s.invoices.Checkout())}, nil
}

func (s *server) setPayorTip(ctx context.Context, in *payorTipInput) (*struct{ Body payor.SessionView }, error) {
	sess, err := s.open(ctx, in.SessionHeaders)
	if err != nil {
		return nil, err
	}
	sess, err = s.payor.SetTip(ctx, sess, invoice.Tip{Amount: in.Body.Amount, Percent: in.Body.Percent}, s.reprice)
	switch {
	case errors.Is(err, invoice.ErrTipNotAllowed):
		return nil, problem(http.StatusConflict, "tip_not_allowed", "This invoice takes no tip.")
	case errors.Is(err, invoice.ErrTipClosed):
		return nil, problem(http.StatusConflict, "tip_closed", "The tip can no longer change: payment instructions were shown, a payment was seen, or the invoice is no longer open.")
	case err != nil:
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body payor.SessionView }{s.payor.View(sess, s.invoices.Now())}, nil
}

// reprice rewrites an invoice's instructions for its new total (amount and
// tip): the chains' amounts and payment URIs, then the rails'.
func (s *server) reprice(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) error {
	if err := s.ledger.Reprice(ctx, tx, inv); err != nil {
		return err
	}
	return s.rails.Reprice(ctx, tx, inv)
}
