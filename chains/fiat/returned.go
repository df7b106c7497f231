package fiat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

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

// A Reversal is a rail's report that a credit it notified before came back:
// a push-to-card return, an ISO 20022 pacs.004 payment return, a camt.054
// return entry or a pacs.002 rejection (FedNow, RTP), a NACHA return entry
// (Same-Day ACH). It names the original credit by the ids that credit may
// have been recorded under, tried in order.
type Reversal struct {
	// UETR is the original transfer's UETR: the identity its credit was
	// recorded under whichever message (pacs.008 or camt.054) brought it.
	UETR string
	// TxIDs are ids the rail may have recorded the credit under (its tx
	// id): the processor's push id; a pacs.008's transaction id, a
	// camt.054's account servicer reference.
	TxIDs []string
	// Trace is a NACHA return's original entry trace number: the credit
	// was recorded as "<effective date>:<trace>", and the most recent
	// such credit of the account is the one returned.
	Trace string
	// Amount and Currency are what came back, as a decimal in the
	// currency's units; an empty Amount (a pacs.002 rejection without its
	// original amount) is not compared.
	Amount, Currency string
	// Code and Reason are the rail's reason: kept on the reversed payment.
	Code, Reason string
	// ID is the return's own id, named by the outcome when the return
	// names no original.
	ID string
}

// Original is the id the outcome names: the first id of the original
// credit given, else the return's own.
func (v Reversal) Original() string {
	return firstOf(append(append([]string{v.UETR}, v.TxIDs...), v.Trace, v.ID)...)
}

// Return reverses the payment that a's credit named by v recorded, because
// the rail reports it returned or rejected: the invoice loses that money
// (paid → open or expired again) and an invoice_payment.updated event with
// the payment reversed says so (other processors call it payment_failed);
// on an open invoice the session_status becomes failed. The reason code and
// text are kept on the payment. Reporting the same return again changes
// nothing and is answered as a duplicate. Only a credit of a's merchant and
// mode is ever found: another merchant's is [ErrUnknownCredit].
func (r *Rails) Return(ctx context.Context, a Account, v Reversal) (Outcome, error) {
	original := strings.TrimSpace(v.Original())
	p, err := r.returnedPayment(ctx, a, v)
	if errors.Is(err, sql.ErrNoRows) {
		return Outcome{ID: original}, ErrUnknownCredit
	}
	if err != nil {
		return Outcome{ID: original}, err
	}
	if strings.TrimSpace(v.Amount) != "" {
		amount, err := invoice.ParseAmount(strings.TrimSpace(v.Amount), p.Decimals)
		if err != nil || amount.Cmp(p.Amount) != 0 || p.Asset != strings.TrimSpace(v.Currency) {
			return Outcome{ID: original}, fmt.Errorf("%w: %s %s returned, %s %s credited", ErrReturnMismatch, v.Amount, v.Currency, p.Amount.Format(p.Decimals), p.Asset)
		}
	}
	out := Outcome{ID: original, InvoiceID: p.InvoiceID, PaymentID: p.ID, Status: Returned}
	if p.Status == invoice.PaymentReversed {
		out.Status = Duplicate
		return out, nil
	}
	_, _, err = r.inv.Apply(ctx, invoice.Observation{
		InvoiceID: p.InvoiceID, Method: p.Method, Network: p.Network, TxID: p.TxID, Index: p.Index, CreditID: p.CreditID,
		Asset: p.Asset, Decimals: p.Decimals, Amount: p.Amount, Status: invoice.PaymentReversed,
		From: p.From, To: p.To, ObservedAt: r.inv.Now(),
		ReturnCode: truncate(strings.TrimSpace(v.Code), 35), ReturnReason: truncate(strings.TrimSpace(v.Reason), 500),
	})
	if err != nil {
		return out, fmt.Errorf("return %s credit %s: %w", a.Rail, original, err)
	}
	return out, nil
}

// returnedPayment finds the payment of a's merchant and mode that recorded
// the credit v names: by the transfer's UETR (its identity, the same for
// the credit's pacs.008 and camt.054), else by a tx id of the account's
// credits, else by a NACHA trace. sql.ErrNoRows when none did.
func (r *Rails) returnedPayment(ctx context.Context, a Account, v Reversal) (invoice.Payment, error) {
	db := r.inv.IDB(ctx)
	var p invoice.Payment
	find := func(q func(*bun.SelectQuery) *bun.SelectQuery) (bool, error) {
		err := q(db.NewSelect().Model(&p).Where("merchant_id = ? AND mode = ?", a.MerchantID, a.Mode)).Limit(1).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	}
	if u := strings.ToLower(strings.TrimSpace(v.UETR)); u != "" {
		ok, err := find(func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("credit_id IN (SELECT id FROM rail_credits WHERE merchant_id = ? AND mode = ? AND identity = ?)", a.MerchantID, a.Mode, "uetr:"+u)
		})
		if ok || err != nil {
			return p, err
		}
	}
	ofAccount := func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("network = ?", a.Rail).Where("credit_id IN (SELECT id FROM rail_credits WHERE account_id = ?)", a.ID)
	}
	for _, id := range v.TxIDs {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		ok, err := find(func(q *bun.SelectQuery) *bun.SelectQuery { return ofAccount(q).Where("tx_id = ?", id) })
		if ok || err != nil {
			return p, err
		}
	}
	if t := strings.TrimSpace(v.Trace); t != "" && isDigits(t) {
		ok, err := find(func(q *bun.SelectQuery) *bun.SelectQuery {
			return ofAccount(q).Where("tx_id LIKE ?", "%:"+t).OrderExpr("created_at DESC, id DESC")
		})
		if ok || err != nil {
			return p, err
		}
	}
	return p, sql.ErrNoRows
}
