package fiat

import (
	"context"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// walletTip records, before a QRIS payment of amount is applied to inv,
// the tip the payor's wallet added: on an invoice with allow_tip whose
// dynamic payload kept the merchant's tip indicator (wallet_tip), money
// above the instruction's total, up to the cap, is the tip, so the invoice
// is paid without exception and states it as tip_amount. Only the first
// payment of an untipped invoice can carry it (open, processing, or
// expired: a late payment is still paid with its tip, and paid_late);
// anything else is applied as it is (above the cap: over-paid, for the
// merchant to refund).
func (r *Rails) walletTip(ctx context.Context, inv invoice.Invoice, amount invoice.Units) (invoice.Invoice, error) {
	i, total, ok := tippable(inv)
	if !ok {
		return inv, nil
	}
	tip := amount.Sub(total)
	if tip.Sign() <= 0 {
		return inv, nil
	}
	return r.inv.TipFromWallet(ctx, inv.ID, tip, i)
}

// tippable returns the QRIS instruction of inv that kept the merchant's tip
// indicator and its total, when inv may still take a wallet's tip.
func tippable(inv invoice.Invoice) (int, invoice.Units, bool) {
	if !inv.AllowTip || inv.TipAmount.Sign() != 0 || inv.AmountPaid.Sign() != 0 ||
		inv.Status != invoice.StatusOpen && inv.Status != invoice.StatusProcessing && inv.Status != invoice.StatusExpired {
		return 0, invoice.Units{}, false
	}
	i := slices.IndexFunc(inv.Instructions, func(in invoice.Instruction) bool {
		return in.Network == RailQRIS && in.WalletTip != ""
	})
	if i < 0 {
		return 0, invoice.Units{}, false
	}
	total, err := invoice.ParseUnits(inv.Instructions[i].TotalAmount)
	if err != nil {
		return 0, invoice.Units{}, false
	}
	return i, total, true
}

// withWalletTip finds the invoices a QRIS credit of amount rupiah on
// account a may pay with a wallet's tip on top, when no held total is
// amount itself: invoices with allow_tip whose held total is below amount,
// whose dynamic payload kept the merchant's tip indicator, that take no
// tip or payment yet, and for which amount − total is a tip the payload's
// wallet may add (walletTipFits) within the invoice's cap. The caller
// takes the credit only when exactly one invoice is found. An invoice
// that took this very tip already is found too (repeatOfWalletTip), so
// that a retried notification is a duplicate, not a second credit.
func (r *Rails) withWalletTip(ctx context.Context, db bun.IDB, a Account, amount int64) ([]invoice.Invoice, error) {
	var codes []qrisCode
	// A tip is at most the amount (a cap of 100 %), so the total is more
	// than half of what was paid.
	if err := db.NewSelect().Model(&codes).
		Where("account_id = ? AND held_until > ? AND total_amount < ? AND total_amount * 2 > ?", a.ID, r.inv.Now(), amount, amount).
		Scan(ctx); err != nil {
		return nil, err
	}
	var out []invoice.Invoice
	for _, c := range codes {
		var inv invoice.Invoice
		if err := db.NewSelect().Model(&inv).Where("id = ?", c.InvoiceID).Scan(ctx); err != nil {
			return nil, err
		}
		if repeatOfWalletTip(inv, c.TotalAmount, amount) {
			// This credit again (a retried callback): the same invoice, so
			// that it is recognised as a duplicate.
			out = append(out, inv)
			continue
		}
		i, total, ok := tippable(inv)
		if !ok || !total.Big().IsInt64() || total.Big().Int64() != c.TotalAmount {
			continue
		}
		tip := amount - c.TotalAmount
		limit := new(big.Int).Mul(inv.Amount.Big(), big.NewInt(int64(inv.TipCapPercent)))
		if new(big.Int).Mul(big.NewInt(tip), big.NewInt(100)).Cmp(limit) > 0 {
			continue
		}
		if walletTipFits(inv.Instructions[i].QRISPayload, c.TotalAmount, tip) {
			out = append(out, inv)
		}
	}
	return out, nil
}

// repeatOfWalletTip reports whether inv, held at total, already took a
// wallet's tip that made its QRIS total amount.
func repeatOfWalletTip(inv invoice.Invoice, total, amount int64) bool {
	if inv.TipAmount.Sign() <= 0 || !inv.TipAmount.Big().IsInt64() || total+inv.TipAmount.Big().Int64() != amount {
		return false
	}
	return slices.ContainsFunc(inv.Instructions, func(in invoice.Instruction) bool {
		return in.Network == RailQRIS && in.WalletTip != "" && in.TotalAmount == strconv.FormatInt(amount, 10)
	})
}

// walletTipFits reports whether a wallet reading payload (a dynamic QRIS
// for total rupiah) may have added tip on top of it: any tip when it
// prompts (ID 55 = 01); the fixed fee of ID 56 (02); the percentage of ID
// 57 of the total (03), rounded down or up to a whole rupiah.
func walletTipFits(payload string, total, tip int64) bool {
	if tip <= 0 {
		return false
	}
	p, err := ParseEMVCo(payload)
	if err != nil {
		return false
	}
	kind, _ := p.Get(idTip)
	switch kind {
	case "01":
		return true
	case "02":
		fee, ok := hundredths(p, idTipFixed)
		return ok && tip >= fee/100 && tip <= (fee+99)/100
	case "03":
		pct, ok := hundredths(p, idTipPercent)
		if !ok {
			return false
		}
		// total × pct % in 1/10000 rupiah, then down and up to rupiah.
		exact := new(big.Int).Mul(big.NewInt(total), big.NewInt(pct))
		lo := new(big.Int).Quo(exact, big.NewInt(10000))
		hi := new(big.Int).Quo(new(big.Int).Add(exact, big.NewInt(9999)), big.NewInt(10000))
		return lo.Cmp(big.NewInt(tip)) <= 0 && hi.Cmp(big.NewInt(tip)) >= 0
	}
	return false
}

// hundredths reads the decimal value of root ID id of p (digits and at
// most one '.' with at most two decimals, positive) in hundredths.
func hundredths(p Payload, id string) (int64, bool) {
	v, _ := p.Get(id)
	whole, frac, _ := strings.Cut(v, ".")
	if len(frac) > 2 || !isDigits(whole+frac) || len(whole+frac) > 15 {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return n, err == nil && n > 0
}
