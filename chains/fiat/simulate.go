package fiat

import (
	"context"
	"fmt"

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
