package fiat

import (
	"context"
	"slices"

	"github.com/settlepay/settle/invoice"
)

// walletTip records, before a QRIS payment of amount is applied to inv,
// the tip the payor's wallet added: on an invoice with allow_tip whose
// dynamic payload kept the merchant's tip indicator (wallet_tip), money
// above the instruction's total, up to the cap, is the tip, so the invoice
// is paid without exception and states it as tip_amount. Only the first
// payment of an untipped invoice can carry it; anything else is applied
// as it is (above the cap: over-paid, for the merchant to refund).
func (r *Rails) walletTip(ctx context.Context, inv invoice.Invoice, amount invoice.Units) (invoice.Invoice, error) {
	if !inv.AllowTip || inv.TipAmount.Sign() != 0 || inv.AmountPaid.Sign() != 0 ||
		inv.Status != invoice.StatusOpen && inv.Status != invoice.StatusProcessing {
		return inv, nil
	}
	i := slices.IndexFunc(inv.Instructions, func(in invoice.Instruction) bool {
		return in.Network == RailQRIS && in.WalletTip != ""
	})
	if i < 0 {
		return inv, nil
	}
	total, err := invoice.ParseUnits(inv.Instructions[i].TotalAmount)
	if err != nil {
		return inv, nil
	}
	tip := amount.Sub(total)
	if tip.Sign() <= 0 {
		return inv, nil
	}
	return r.inv.TipFromWallet(ctx, inv.ID, tip, i)
}
