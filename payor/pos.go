package payor

import (
	"context"
	"encoding/json"
	"math/big"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// Scanned records, the first time the payor opens sess's checkout (the
// hosted page, the session or a QR code of the session), that the checkout
// was scanned, with one checkout.scanned event in the same transaction;
// sess then holds the invoice as it now stands. Later opens, and
// concurrent first opens that lost the race, write nothing.
func (s *Service) Scanned(ctx context.Context, sess *Session) error {
	if sess.Invoice.ScannedAt != nil {
		return nil // the usual case: no write
	}
	now := s.inv.Now()
	err := s.inv.WithinTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		return s.scan(ctx, tx, sess.Invoice, now)
	})
	if err != nil {
		return err
	}
	sess.Invoice.ScannedAt = &now
	return nil
}

// scan records the first open of inv's checkout at now in tx, and its
// event, unless one is recorded already.
func (s *Service) scan(ctx context.Context, tx bun.IDB, inv invoice.Invoice, now time.Time) error {
	if inv.ScannedAt != nil {
		return nil
	}
	cur, first, err := invoice.CheckoutScanned(ctx, tx, inv.ID, now)
	if err != nil || !first {
		return err
	}
	data, err := json.Marshal(map[string]any{"object": cur.Object(s.inv.Checkout())})
	if err != nil {
		return err
	}
	return invoice.InsertEvents(ctx, tx, invoice.Event{
		ID: invoice.NewID("evt_", now), MerchantID: inv.MerchantID, Mode: inv.Mode, Type: EventCheckoutScanned,
		InvoiceID: inv.ID, CreatedAt: now, Data: string(data),
	})
}

// TipView tells the payor whether and how a tip may be added.
type TipView struct {
	Allowed    bool   `json:"allowed" doc:"The merchant lets the payor add a tip."`
	Open       bool   `json:"open" doc:"The tip may still be set or changed: before a method is chosen and before any payment."`
	CapPercent int    `json:"cap_percent" example:"20" doc:"The most a tip may be, in percent of amount."`
	CapAmount  string `json:"cap_amount" example:"5.00" doc:"The same cap as an amount."`
	Amount     string `json:"amount" example:"2.50" doc:"The tip chosen so far (0 before)."`
	Presets    []int  `json:"presets" nullable:"false" example:"[10,15,20]" doc:"Percentages the page offers, none above the cap."`
}

// tipPresets are the percentages the hosted page offers, cut at the cap.
var tipPresets = []int{10, 15, 20}

func tipView(inv invoice.Invoice, payments int, now time.Time) TipView {
	v := TipView{Allowed: inv.AllowTip, CapPercent: inv.TipCapPercent, Amount: inv.TipAmount.Format(inv.Decimals), Presets: []int{}}
	if !inv.AllowTip {
		v.CapAmount = invoice.NewUnits(0).Format(inv.Decimals)
		return v
	}
	v.Open = inv.Status == invoice.StatusOpen && payments == 0 && inv.CheckoutOpenedAt == nil && now.Before(inv.ExpiresAt)
	cap := inv.Amount.Big()
	cap.Mul(cap, bigInt(int64(inv.TipCapPercent)))
	cap.Quo(cap, bigInt(100))
	v.CapAmount = invoice.BigUnits(cap).Format(inv.Decimals)
	for _, p := range tipPresets {
		if p <= inv.TipCapPercent {
			v.Presets = append(v.Presets, p)
		}
	}
	return v
}

// tipClaim is the tip in the signed terms: "" (left out) when the invoice
// takes none.
func tipClaim(inv invoice.Invoice) string {
	if !inv.AllowTip {
		return ""
	}
	return inv.TipAmount.Format(inv.Decimals)
}

// SetTip sets the tip of sess's invoice (see [invoice.Service.SetTip]);
// reprice rewrites its instructions for the new total. It answers the
// session as it now stands.
func (s *Service) SetTip(ctx context.Context, sess Session, t invoice.Tip, reprice func(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) error) (Session, error) {
	inv, err := s.inv.SetTip(ctx, sess.Invoice.ID, t, reprice)
	if err != nil {
		return sess, err
	}
	sess.Invoice = inv
	return sess, nil
}

func bigInt(n int64) *big.Int { return big.NewInt(n) }
