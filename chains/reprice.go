package chains

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// Reprice rewrites, in the caller's transaction, inv's EVM and Solana
// instructions for its total (the amount and the payor's tip), before any
// was shown: on a shared address the invoice keeps its unique code and its
// deposit moves to the new exact amount (a tip is whole cents, so the code
// in the last digits still names the invoice); a derived address keeps the
// address and asks for the new amount; payment URIs are written again
// (Solana Pay keeps its reference).
func (l *Ledger) Reprice(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) error {
	var deposits []Deposit
	if err := tx.NewSelect().Model(&deposits).Where("invoice_id = ?", inv.ID).Scan(ctx); err != nil {
		return fmt.Errorf("reprice deposits: %w", err)
	}
	byNetwork := map[string]*Deposit{}
	for i := range deposits {
		byNetwork[deposits[i].Network] = &deposits[i]
	}
	base := inv.Total().Rescale(inv.Decimals, stableDecimals)
	now := l.inv.Now()
	for i := range inv.Instructions {
		in := &inv.Instructions[i]
		m, ok := l.cat.Method(in.Method)
		n, _ := l.cat.Network(m.Network)
		if !ok || (n.Kind != KindEVM && n.Kind != KindSolana) {
			continue
		}
		d := byNetwork[n.ID]
		if d == nil {
			return fmt.Errorf("reprice %s: invoice %s has no deposit on %s", in.Method, inv.ID, n.ID)
		}
		units := inv.Total().Rescale(inv.Decimals, m.Decimals)
		if d.AmountUnits != "" {
			units = base.Add(invoice.NewUnits(d.Code))
			if err := l.moveDeposit(ctx, tx, d, base, units, now); err != nil {
				return err
			}
		}
		in.Amount, in.AmountUnits = units.Format(m.Decimals), units.String()
		if n.Kind == KindSolana {
			uri, err := l.solanaPay(ctx, tx, inv, m, *d, units)
			if err != nil {
				return err
			}
			in.URI = uri
		} else {
			in.URI = TransferURI(m.Token, n.ChainID, d.Address, units.Big())
		}
	}
	return nil
}

// moveDeposit moves d, a shared-address deposit, to the exact amount
// units (base plus its code). A hold of another invoice on that amount is
// refused with ErrUniqueAmountsExhausted; a lapsed one is dropped.
func (l *Ledger) moveDeposit(ctx context.Context, tx bun.IDB, d *Deposit, base, units invoice.Units, now time.Time) error {
	if units.String() == d.AmountUnits {
		return nil
	}
	var other Deposit
	err := tx.NewSelect().Model(&other).
		Where("network = ? AND address = ? AND amount_units = ?", d.Network, d.Address, units.String()).Scan(ctx)
	switch {
	case err == nil && other.HeldUntil.After(now):
		return fmt.Errorf("%w: %s on %s is held by another open invoice", ErrUniqueAmountsExhausted, units, d.Address)
	case err == nil:
		if _, err := tx.NewDelete().Model(&other).WherePK().Exec(ctx); err != nil {
			return err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	_, err = tx.NewUpdate().Model((*Deposit)(nil)).Set("amount_units = ?, base_units = ?", units.String(), base.String()).
		Where("network = ? AND address = ? AND amount_units = ? AND invoice_id = ?", d.Network, d.Address, d.AmountUnits, d.InvoiceID).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("reprice deposit: %w", err)
	}
	d.AmountUnits, d.BaseUnits = units.String(), base.String()
	return nil
}
