package fiat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/settlepay/settle/invoice"
)

// Returned is the outcome status of a rail's report that a credit it
// notified before came back (returned, rejected): its payment is reversed.
const Returned = "returned"

// ErrUnknownCredit is returned by [Rails.Return] when the account recorded
// no payment of the returned credit.
var ErrUnknownCredit = errors.New("no payment of this credit on the account")

// ErrReturnMismatch is returned by [Rails.Return] when the return's amount
// or currency is not the credit's.
var ErrReturnMismatch = errors.New("the return does not match the credit")

// Return reverses the payment that a's credit originalID recorded, because
// the rail reports it returned or rejected: the invoice loses that money
// (paid → open or expired again) and an invoice_payment.updated event with
// the payment reversed says so (other processors call it payment_failed);
// on an open invoice the session_status becomes failed. Reporting the same
// return again changes nothing and is answered as a duplicate.
func (r *Rails) Return(ctx context.Context, a Account, originalID, amount, currency string) (Outcome, error) {
	var p invoice.Payment
	err := r.inv.IDB(ctx).NewSelect().Model(&p).
		Where("network = ? AND tx_id = ? AND merchant_id = ? AND mode = ?", a.Rail, originalID, a.MerchantID, a.Mode).
		Where("credit_id IN (SELECT id FROM rail_credits WHERE account_id = ?)", a.ID).
		Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Outcome{ID: originalID}, ErrUnknownCredit
	}
	if err != nil {
		return Outcome{ID: originalID}, err
	}
	if p.Amount.Format(p.Decimals) != amount || p.Asset != currency {
		return Outcome{ID: originalID}, fmt.Errorf("%w: %s %s returned, %s %s credited", ErrReturnMismatch, amount, currency, p.Amount.Format(p.Decimals), p.Asset)
	}
	out := Outcome{ID: originalID, InvoiceID: p.InvoiceID, PaymentID: p.ID, Status: Returned}
	if p.Status == invoice.PaymentReversed {
		out.Status = Duplicate
		return out, nil
	}
	_, _, err = r.inv.Apply(ctx, invoice.Observation{
		InvoiceID: p.InvoiceID, Method: p.Method, Network: p.Network, TxID: p.TxID, Index: p.Index, CreditID: p.CreditID,
		Asset: p.Asset, Decimals: p.Decimals, Amount: p.Amount, Status: invoice.PaymentReversed,
		From: p.From, To: p.To, ObservedAt: r.inv.Now(),
	})
	if err != nil {
		return out, fmt.Errorf("return %s credit %s: %w", a.Rail, originalID, err)
	}
	return out, nil
}
