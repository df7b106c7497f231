package fiat

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// Reprice rewrites, in the caller's transaction, inv's rail instructions
// for its total (the amount and the payor's tip), before any was shown:
// bank transfers and push-to-card ask for the total under the same
// reference; QRIS gives up its held total and takes a unique code for the
// new one, with a new dynamic payload.
func (r *Rails) Reprice(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) error {
	total := inv.Total()
	for i := range inv.Instructions {
		in := &inv.Instructions[i]
		rail := railOf(in.Method)
		if rail == "" {
			continue
		}
		if rail != RailQRIS {
			in.Amount, in.AmountUnits = total.Format(inv.Decimals), total.String()
			continue
		}
		a, ok, err := r.accountFor(ctx, tx, inv.MerchantID, inv.Mode, rail)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("reprice %s: no %s account", inv.ID, rail)
		}
		if _, err := tx.NewDelete().Model((*qrisCode)(nil)).Where("invoice_id = ?", inv.ID).Exec(ctx); err != nil {
			return fmt.Errorf("reprice qris: %w", err)
		}
		q, err := r.qrisCode(ctx, tx, inv, a, in.Reference)
		if err != nil {
			return err
		}
		t := fmt.Sprint(q.TotalAmount)
		in.Amount, in.AmountUnits, in.TotalAmount = t, t, t
		in.QRISPayload, in.URI, in.UniqueCode = q.Payload, q.Payload, q.UniqueCode
		in.WalletTip = WalletTip(q.Payload)
	}
	return nil
}
