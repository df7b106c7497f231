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

// Simulate records a test-mode payment of amount (in the invoice's
// currency units) to inv by rail method, as the rail's notification would:
// network the rail, a tx_id shaped like the rail's own ids, the payor's
// reference, to the merchant's rail account, confirmed. It is recorded as
// a rail credit and applied like a real notification's.
func (r *Rails) Simulate(ctx context.Context, inv invoice.Invoice, method string, amount invoice.Units) (invoice.Invoice, invoice.Payment, error) {
	rail := railOf(method)
	if rail == "" {
		return inv, invoice.Payment{}, fmt.Errorf("simulate: %s is not a rail method", method)
	}
	if inv.Mode != invoice.ModeTest {
		return inv, invoice.Payment{}, fmt.Errorf("simulate: invoice %s is not a test invoice", inv.ID)
	}
	a, ok, err := r.accountFor(ctx, r.inv.IDB(ctx), inv.MerchantID, inv.Mode, rail)
	if err != nil {
		return inv, invoice.Payment{}, err
	}
	if !ok {
		a = Account{ID: "sandbox", Rail: rail, MerchantID: inv.MerchantID, Mode: inv.Mode}
	}
	ref, err := r.InvoiceReference(ctx, inv.ID)
	if err != nil {
		return inv, invoice.Payment{}, err
	}
	now := r.inv.Now()
	// The random part of an id keeps simulations apart; each rail's shape
	// is what its notifications carry as the credit's id.
	rnd := invoice.NewID("", now)
	digits := func(n int) string {
		out := make([]byte, n)
		for i := range out {
			out[i] = '0' + rnd[len(rnd)-1-i%len(rnd)]%10
		}
		return string(out)
	}
	var tx, from string
	switch rail {
	case RailFedNow, RailRTP:
		tx, from = "SIM"+now.Format("20060102")+rnd[len(rnd)-12:], "SANDBOX PAYOR"
	case RailACH:
		tx, from = now.Format("060102")+":"+"09100001"+digits(7), "SANDBOX PAYOR"
	case RailPushToCard:
		tx, from = "ptc_sim_"+rnd[len(rnd)-16:], "visa ****4242"
	case RailQRIS:
		tx, from = a.ID+":sim:"+rnd[len(rnd)-12:], "SANDBOX PAYOR"
	}
	c := Incoming{
		TxID: tx, Amount: amount.Format(inv.Decimals), Currency: string(inv.Currency), From: from,
		Texts: []string{ref}, ObservedAt: now,
	}
	var l landed
	err = r.inv.WithinTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		var err error
		l, err = r.record(ctx, tx, a, c, inv, "")
		return err
	})
	return l.invoice, l.payment, err
}

// SimulateReturn reports, in test mode, that the rail returned the credit
// of inv's rail payment txID, as the rail's return would: through
// [Rails.Return] (amount, in the invoice's currency, must be the
// payment's: else [ErrReturnMismatch]), with code (default: AC04 on FedNow and RTP, R01 on
// Same-Day ACH, card_closed on push-to-card) and its meaning. QRIS has no
// returns. An unknown txID is [ErrUnknownCredit].
func (r *Rails) SimulateReturn(ctx context.Context, inv invoice.Invoice, method, txID, amount, code string) (Outcome, error) {
	rail := railOf(method)
	if rail == "" || rail == RailQRIS {
		return Outcome{}, fmt.Errorf("simulate: %s has no returns", method)
	}
	if inv.Mode != invoice.ModeTest {
		return Outcome{}, fmt.Errorf("simulate: invoice %s is not a test invoice", inv.ID)
	}
	var account string
	err := r.inv.IDB(ctx).NewSelect().TableExpr("rail_credits").Column("account_id").
		Where("id = (SELECT credit_id FROM payments WHERE invoice_id = ? AND network = ? AND tx_id = ? LIMIT 1)", inv.ID, rail, txID).
		Scan(ctx, &account)
	if errors.Is(err, sql.ErrNoRows) {
		return Outcome{ID: txID}, ErrUnknownCredit
	}
	if err != nil {
		return Outcome{ID: txID}, err
	}
	reason := ""
	switch rail {
	case RailFedNow, RailRTP:
		code = firstOf(code, "AC04")
		reason = ISOReasonText(code)
	case RailACH:
		code = firstOf(code, "R01")
		reason = ACHReasonText(code)
	case RailPushToCard:
		code = firstOf(code, "card_closed")
		reason = strings.ReplaceAll(code, "_", " ")
	}
	a := Account{ID: account, Rail: rail, MerchantID: inv.MerchantID, Mode: inv.Mode}
	return r.Return(ctx, a, Reversal{TxIDs: []string{txID}, Amount: amount, Currency: string(inv.Currency), Code: code, Reason: firstOf(reason, "Return reason "+code)})
}
