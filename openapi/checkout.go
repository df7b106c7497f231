package openapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/invoice"
)

// UpdateCheckoutBody says what to do with an invoice's checkout.
type UpdateCheckoutBody struct {
	Unlock  bool `json:"unlock,omitempty" example:"true" doc:"Lift every lock of the checkout (the session's and each client's) and forget the wrong signatures counted so far; the same link works again."`
	NewLink bool `json:"new_link,omitempty" example:"false" doc:"Issue a new session token and signature (a new payment_url and payment_session_headers): the old link and headers stop working at once (404). Lifts the locks too."`
}

type updateCheckoutInput struct {
	IdempotencyHeader
	InvoiceIDParam
	Body UpdateCheckoutBody
}

func (s *server) registerCheckout(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "update-invoice-checkout", Method: http.MethodPost, Path: "/api/v1/invoices/{id}/checkout",
		Summary: "Unlock an invoice's checkout or issue a new link", Tags: []string{"Invoices"},
		Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "Wrong signatures lock a checkout: a client (IP address) after 5 is refused, the whole session after 20 in all (a checkout.locked event says so, and the invoice's checkout.locked turns true). " +
			"`{\"unlock\":true}` lifts the locks; `{\"new_link\":true}` also replaces the session token, so that only the new payment_url and payment_session_headers (in the answer) work. " +
			"Answers the invoice. What the payor was shown is kept, and the invoice's expiry does not change.",
	}, s.updateCheckout)
}

func (s *server) updateCheckout(ctx context.Context, in *updateCheckoutInput) (*invoiceOutput, error) {
	if !in.Body.Unlock && !in.Body.NewLink {
		return nil, problem(http.StatusUnprocessableEntity, "validation_failed", "body: set unlock or new_link to true",
			&huma.ErrorDetail{Location: "body", Message: "set unlock or new_link to true"})
	}
	p := principal(ctx)
	var inv invoice.Invoice
	var err error
	if s.payor != nil {
		inv, err = s.payor.Reset(ctx, p.MerchantID, p.Mode, in.ID, in.Body.NewLink)
	} else {
		inv, err = s.invoices.ResetCheckout(ctx, p.MerchantID, p.Mode, in.ID, in.Body.NewLink, nil)
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &invoiceOutput{Body: inv.Object(s.invoices.Checkout())}, nil
}
