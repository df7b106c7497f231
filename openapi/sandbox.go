package openapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice"
)

// SimulatePaymentBody is a payment to pretend happened.
type SimulatePaymentBody struct {
	Method string                `json:"method,omitempty" default:"sandbox" example:"sandbox" doc:"One of the invoice's payment methods."`
	Amount string                `json:"amount" example:"25.00" doc:"Decimal string in the method's asset (the invoice currency for sandbox)."`
	Status invoice.PaymentStatus `json:"status,omitempty" enum:"pending,confirmed,reversed" default:"confirmed" example:"pending" doc:"What the simulated network reports."`
	TxID   string                `json:"tx_id,omitempty" maxLength:"100" example:"sim_4f7c2a9d0e1b" doc:"Id of an earlier simulated payment to move on (confirm or reverse it); omit for a new payment."`
	// ReturnCode is the rail's reason for a simulated return.
	ReturnCode string `json:"return_code,omitempty" maxLength:"35" example:"AC04" doc:"A rail method with status reversed: the rail's return reason code (default AC04 on fednow and rtp, R01 on ach_same_day, card_closed on push_to_card)."`
}

type simulateInput struct {
	IdempotencyHeader
	InvoiceIDParam
	Body SimulatePaymentBody
}

// SimulatedPayment is the invoice and payment after a simulation.
type SimulatedPayment struct {
	Invoice invoice.InvoiceObject `json:"invoice"`
	Payment invoice.PaymentObject `json:"payment"`
}

func (s *server) registerSandbox(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "simulate-payment", Method: http.MethodPost, Path: "/api/v1/test/invoices/{id}/simulate-payment",
		Summary: "Simulate a payment (test mode)", Tags: []string{"Test mode"}, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "Applies a payment observation through the same function the chain watchers use, so an integration can be tried end to end before any chain is configured. Test keys only. Send status pending then confirmed with the returned tx_id to walk the whole life of a payment, or reversed to undo it. A fiat rail method (fednow, rtp, ach_same_day, push_to_card, qris) records a confirmed payment on the rail, with a tx_id shaped like the rail's, as its notification would (rails are final: no pending; for qris send the total_amount). Status reversed with the tx_id and amount of such a payment (not qris) is the rail returning it, as a pacs.004, NACHA return or push_to_card.returned would: the payment is reversed with return_code (optional) and its meaning, and the terminal socket shows payment_failed.",
	}, s.simulatePayment)
}

func (s *server) simulatePayment(ctx context.Context, in *simulateInput) (*struct{ Body SimulatedPayment }, error) {
	p := principal(ctx)
	if p.Mode != invoice.ModeTest {
		return nil, problem(http.StatusForbidden, "test_mode_only", "Payments can only be simulated with a test key.")
	}
	inv, err := s.invoices.Get(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	inv, pay, err := s.simulate(ctx, inv, in.Body)
	if err != nil {
		return nil, err
	}
	return &struct{ Body SimulatedPayment }{SimulatedPayment{Invoice: inv.Object(s.invoices.Checkout()), Payment: pay.Object()}}, nil
}

// simulate applies the payment b describes to inv, a test invoice, through
// the function the watchers and the rails use. It is the one path of every
// simulated payment: the merchant's endpoint and the hosted page's Simulate
// payment button (payor.go) both come here. Errors are problems.
func (s *server) simulate(ctx context.Context, inv invoice.Invoice, b SimulatePaymentBody) (invoice.Invoice, invoice.Payment, error) {
	var none invoice.Payment
	if inv.Mode != invoice.ModeTest {
		return inv, none, problem(http.StatusForbidden, "test_mode_only", "Payments can only be simulated on test invoices.")
	}
	if b.Method == "" {
		b.Method = chains.Sandbox
	}
	if b.Status == "" {
		b.Status = invoice.PaymentConfirmed
	}
	m, ok := chains.MethodByID(b.Method)
	if !ok || !slices.Contains(inv.PaymentMethods, b.Method) {
		return inv, none, problem(http.StatusUnprocessableEntity, "invalid_payment_method", "method: not one of this invoice's payment methods",
			&huma.ErrorDetail{Location: "body.method", Message: "not one of this invoice's payment methods", Value: b.Method})
	}
	if fiat.IsRail(m.Network) {
		return s.simulateRail(ctx, inv, m, b)
	}
	asset, decimals := m.Asset, m.Decimals
	if m.ID == chains.Sandbox {
		asset, decimals = string(inv.Currency), inv.Decimals
	}
	amount, err := invoice.ParseAmount(b.Amount, decimals)
	if err != nil {
		msg := err.Error() + " for " + asset
		return inv, none, problem(http.StatusUnprocessableEntity, "invalid_amount", "amount: "+msg,
			&huma.ErrorDetail{Location: "body.amount", Message: msg, Value: b.Amount})
	}
	if b.TxID != "" {
		// A tx_id moves on a payment simulated earlier for this invoice;
		// made up, it would record a payment nobody simulated.
		payments, err := s.invoices.Payments(ctx, inv.ID)
		if err != nil {
			return inv, none, s.fail(ctx, err)
		}
		if !slices.ContainsFunc(payments, func(p invoice.Payment) bool { return p.Network == chains.Sandbox && p.TxID == b.TxID }) {
			return inv, none, problem(http.StatusUnprocessableEntity, "invalid_tx_id", "tx_id: no simulated payment of this invoice has this tx_id",
				&huma.ErrorDetail{Location: "body.tx_id", Message: "no simulated payment of this invoice has this tx_id", Value: b.TxID})
		}
	}
	if b.TxID == "" {
		if b.Status == invoice.PaymentReversed {
			return inv, none, problem(http.StatusUnprocessableEntity, "invalid_tx_id", "tx_id: give the tx_id of the simulated payment to reverse",
				&huma.ErrorDetail{Location: "body.tx_id", Message: "required to reverse a payment"})
		}
		b.TxID = invoice.NewID("sim_", s.invoices.Now())
	}
	inv, pay, err := s.invoices.Apply(ctx, invoice.Observation{
		InvoiceID: inv.ID, Method: m.ID, Network: chains.Sandbox, TxID: b.TxID,
		Asset: asset, Decimals: decimals, Amount: amount, Status: b.Status,
		From: "sandbox-payor", To: "sandbox", ObservedAt: s.invoices.Now(),
	})
	if err != nil {
		return inv, none, s.fail(ctx, err)
	}
	return inv, pay, nil
}

// simulateRail records a confirmed rail payment as the rail's notification
// would: instant rails are final, so there is nothing to move on.
func (s *server) simulateRail(ctx context.Context, inv invoice.Invoice, m chains.Method, b SimulatePaymentBody) (invoice.Invoice, invoice.Payment, error) {
	var none invoice.Payment
	if b.Status == invoice.PaymentReversed {
		return s.simulateRailReturn(ctx, inv, m, b)
	}
	if b.ReturnCode != "" {
		return inv, none, problem(http.StatusUnprocessableEntity, "invalid_return_code", "return_code: only a return (status reversed) has one",
			&huma.ErrorDetail{Location: "body.return_code", Message: "only with status reversed", Value: b.ReturnCode})
	}
	if b.Status != invoice.PaymentConfirmed {
		return inv, none, problem(http.StatusUnprocessableEntity, "invalid_status", "status: rail payments are final when notified; simulate confirmed, or reversed with the tx_id of one to return it",
			&huma.ErrorDetail{Location: "body.status", Message: "rail payments are confirmed, or reversed by a return", Value: b.Status})
	}
	if b.TxID != "" {
		return inv, none, problem(http.StatusUnprocessableEntity, "invalid_tx_id", "tx_id: a rail payment has nothing to move on",
			&huma.ErrorDetail{Location: "body.tx_id", Message: "not taken for a rail method", Value: b.TxID})
	}
	amount, err := invoice.ParseAmount(b.Amount, inv.Decimals)
	if err != nil {
		msg := err.Error() + " for " + string(inv.Currency)
		return inv, none, problem(http.StatusUnprocessableEntity, "invalid_amount", "amount: "+msg,
			&huma.ErrorDetail{Location: "body.amount", Message: msg, Value: b.Amount})
	}
	inv, pay, err := s.rails.Simulate(ctx, inv, m.ID, amount)
	if err != nil {
		return inv, none, s.fail(ctx, err)
	}
	return inv, pay, nil
}

// simulateRailReturn has the rail return the rail payment b.TxID of inv,
// through the one reversal real returns use.
func (s *server) simulateRailReturn(ctx context.Context, inv invoice.Invoice, m chains.Method, b SimulatePaymentBody) (invoice.Invoice, invoice.Payment, error) {
	var none invoice.Payment
	if b.TxID == "" || m.Network == fiat.RailQRIS {
		msg := "give the tx_id of the simulated rail payment to return"
		if m.Network == fiat.RailQRIS {
			msg = "qris payments are not returned by the rail"
		}
		return inv, none, problem(http.StatusUnprocessableEntity, "invalid_tx_id", "tx_id: "+msg,
			&huma.ErrorDetail{Location: "body.tx_id", Message: msg, Value: b.TxID})
	}
	o, err := s.rails.SimulateReturn(ctx, inv, m.ID, b.TxID, b.Amount, b.ReturnCode)
	if errors.Is(err, fiat.ErrReturnMismatch) {
		return inv, none, problem(http.StatusConflict, "return_mismatch", err.Error()+": nothing was reversed.")
	}
	if errors.Is(err, fiat.ErrUnknownCredit) {
		return inv, none, problem(http.StatusUnprocessableEntity, "invalid_tx_id", "tx_id: no "+m.ID+" payment of this invoice has this tx_id",
			&huma.ErrorDetail{Location: "body.tx_id", Message: "no rail payment of this invoice has this tx_id", Value: b.TxID})
	}
	if err != nil {
		return inv, none, s.fail(ctx, err)
	}
	if inv, err = s.invoices.Get(ctx, inv.MerchantID, inv.Mode, inv.ID); err != nil {
		return inv, none, s.fail(ctx, err)
	}
	payments, err := s.invoices.Payments(ctx, inv.ID)
	if err != nil {
		return inv, none, s.fail(ctx, err)
	}
	for _, p := range payments {
		if p.ID == o.PaymentID {
			return inv, p, nil
		}
	}
	return inv, none, s.fail(ctx, fmt.Errorf("simulated return: payment %s not found", o.PaymentID))
}
