package chains

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/chains/solanapay"
	"github.com/settlepay/settle/invoice"
)

// Deposit is how a transfer finds its invoice: a recipient on a network and,
// for a shared address, the exact amount. AmountUnits is "" for a derived
// (xpub) address, which takes any amount and is never given out again.
type Deposit struct {
	bun.BaseModel `bun:"table:deposits"`

	Network     string    `bun:"network,pk"`
	Address     string    `bun:"address,pk"`
	AmountUnits string    `bun:"amount_units,pk"`
	BaseUnits   string    `bun:"base_units"`
	Code        int64     `bun:"code"` // base units added to make the amount unique; 0 for a derived address
	InvoiceID   string    `bun:"invoice_id"`
	AccountID   string    `bun:"account_id"`
	HeldUntil   time.Time `bun:"held_until"`
	CreatedAt   time.Time `bun:"created_at"`
}

// MaxUniqueOffset is how many base units at most are added to an invoice's
// amount to make it unique on a shared address: 0.009999 of a 6-decimal
// stablecoin, less than a cent. Offsets start at 1.
const MaxUniqueOffset = 9999

// ErrUniqueAmountsExhausted is returned when every unique amount near an
// invoice's amount is held by another open invoice on the same address.
var ErrUniqueAmountsExhausted = errors.New("unique amounts exhausted")

// forever is the hold of a derived address: it is never given out again.
var forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Prepare returns the hook that invoice creation runs (in its transaction
// when the hook writes): for each EVM or Solana network among the invoice's
// methods it takes a deposit on the merchant's receiving account and writes
// the payor's instructions (on Solana, a Solana Pay request with a fresh
// reference). Methods whose network has no receiving account are dropped
// when they were chosen by default (requested false) and refused when the
// merchant asked for them.
// It returns nil when no method needs a deposit.
//
// The merchant's accounts on those networks are read here, in one query
// through db (the caller's transaction, if any), not once per network in the
// creating transaction: as under read committed, an account added or
// deleted meanwhile counts as added or deleted after the invoice. writes
// reports whether the hook may write (the merchant has an account on one of
// the networks: a unique amount or a derived address is taken there); when
// false it only narrows or refuses the methods, and invoice creation keeps
// its one-statement insert.
func (l *Ledger) Prepare(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, methods []string, requested bool) (hook func(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) error, writes bool, err error) {
	if !slices.ContainsFunc(methods, func(id string) bool {
		m, _ := MethodByID(id)
		n, _ := NetworkByID(m.Network)
		return n.Kind == KindEVM || n.Kind == KindSolana
	}) {
		return nil, false, nil
	}
	var networks []string
	for _, id := range methods {
		m, ok := l.cat.Method(id)
		n, _ := l.cat.Network(m.Network)
		if ok && (n.Kind == KindEVM || n.Kind == KindSolana) && !slices.Contains(networks, n.ID) {
			networks = append(networks, n.ID)
		}
	}
	var list []Account
	if err := db.NewSelect().Model(&list).
		Where("merchant_id = ? AND mode = ? AND network IN (?) AND deleted_at IS NULL", merchantID, mode, bun.In(networks)).
		Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("receiving accounts: %w", err)
	}
	accounts := map[string]Account{} // by network; at most one is active
	for _, a := range list {
		accounts[a.Network] = a
	}
	return func(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) error {
		deposits := map[string]Deposit{} // by network
		var kept []string
		var missing []string
		var err error
		for _, id := range inv.PaymentMethods {
			m, ok := l.cat.Method(id)
			n, _ := l.cat.Network(m.Network)
			if !ok || (n.Kind != KindEVM && n.Kind != KindSolana) {
				kept = append(kept, id)
				continue
			}
			d, ok := deposits[n.ID]
			if !ok {
				a, ok := accounts[n.ID]
				if !ok {
					missing = append(missing, n.ID)
					continue
				}
				if d, err = l.deposit(ctx, tx, inv, a); err != nil {
					return err
				}
				deposits[n.ID] = d
			}
			kept = append(kept, id)
			units := invoice.NewUnits(0)
			if d.AmountUnits != "" {
				units, _ = invoice.ParseUnits(d.AmountUnits)
			} else {
				units = inv.Total().Rescale(inv.Decimals, m.Decimals)
			}
			in := invoice.Instruction{
				Method: m.ID, Network: n.ID, Asset: m.Asset, Token: m.Token, ChainID: n.ChainID,
				Address: d.Address, Amount: units.Format(m.Decimals), AmountUnits: units.String(),
				Confirmations: n.Confirmations,
			}
			if n.Kind == KindSolana {
				if in.URI, err = l.solanaPay(ctx, tx, inv, m, d, units); err != nil {
					return err
				}
			} else {
				in.URI = TransferURI(m.Token, n.ChainID, d.Address, units.Big())
			}
			inv.Instructions = append(inv.Instructions, in)
		}
		if len(missing) > 0 && requested {
			slices.Sort(missing)
			missing = slices.Compact(missing)
			return &invoice.ValidationError{Fields: []*invoice.FieldError{{
				Field: "payment_methods", Code: "receiving_account_missing",
				Rule: fmt.Sprintf("no receiving account on %v in %s mode: add one with POST /api/v1/receiving-accounts", missing, inv.Mode),
			}}}
		}
		if len(kept) == 0 {
			return &invoice.ValidationError{Fields: []*invoice.FieldError{{
				Field: "payment_methods", Code: "receiving_account_missing",
				Rule: fmt.Sprintf("no %s payment method can be paid: add a receiving account with POST /api/v1/receiving-accounts", inv.Mode),
			}}}
		}
		inv.PaymentMethods = kept
		return nil
	}, len(accounts) > 0, nil
}

// solanaPay returns the Solana Pay request of method m for inv, paid to
// deposit d, with a fresh reference key (one per invoice and network). Its
// label is the merchant's name, its message the invoice's description and
// its memo the invoice id.
func (l *Ledger) solanaPay(ctx context.Context, tx bun.IDB, inv *invoice.Invoice, m Method, d Deposit, units invoice.Units) (string, error) {
	var ref string
	err := tx.NewSelect().Model((*Reference)(nil)).Column("reference").
		Where("invoice_id = ? AND network = ?", inv.ID, m.Network).Limit(1).Scan(ctx, &ref)
	if errors.Is(err, sql.ErrNoRows) {
		ref, err = l.newReference(ctx, tx, m.Network, d.Address, inv.ID)
	}
	if err != nil {
		return "", fmt.Errorf("solana pay reference: %w", err)
	}
	var merchant string
	if err := tx.NewSelect().Table("merchants").Column("name").Where("id = ?", inv.MerchantID).Scan(ctx, &merchant); err != nil {
		return "", fmt.Errorf("merchant name: %w", err)
	}
	return solanapay.Request{
		Recipient: d.Address, Amount: solanapay.FormatAmount(units, m.Decimals), SPLToken: m.Token,
		References: []string{ref}, Label: merchant, Message: inv.Description, Memo: inv.ID,
	}.Encode()
}

// deposit takes a deposit for inv on the merchant's account a.
func (l *Ledger) deposit(ctx context.Context, tx bun.IDB, inv *invoice.Invoice, a Account) (Deposit, error) {
	network := a.Network
	now := l.inv.Now()
	base := inv.Total().Rescale(inv.Decimals, stableDecimals)
	d := Deposit{Network: network, BaseUnits: base.String(), InvoiceID: inv.ID, AccountID: a.ID, CreatedAt: now}
	if a.Kind == AccountXPub {
		x, err := ParseXPub(a.XPub)
		if err != nil {
			return Deposit{}, err
		}
		d.HeldUntil = forever
		// The next index whose address was never given out: the same key
		// may have been registered before (deleted, or spelt as a tpub).
		for {
			var next int64
			if err := tx.NewRaw("UPDATE receiving_accounts SET next_index = next_index + 1 WHERE id = ? RETURNING next_index", a.ID).
				Scan(ctx, &next); err != nil {
				return Deposit{}, fmt.Errorf("next derived address: %w", err)
			}
			if d.Address, err = x.Address(uint32(next - 1)); err != nil {
				return Deposit{}, err
			}
			res, err := tx.NewInsert().Model(&d).On("CONFLICT (network, address, amount_units) DO NOTHING").Exec(ctx)
			if err != nil {
				return Deposit{}, err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				return d, nil
			}
		}
	}
	d.Address, d.HeldUntil = a.Address, inv.ExpiresAt.Add(l.Hold)
	// A code free on the whole address lets a partial payment, a top-up or
	// an over-payment still be told apart by its last digits; with every
	// code in use there, one free for this amount still matches exact
	// payments.
	held := func(q *bun.SelectQuery) (map[int64]bool, error) {
		var codes []int64
		err := q.Model((*Deposit)(nil)).Column("code").Distinct().
			Where("network = ? AND address = ? AND held_until > ? AND amount_units <> ''", network, d.Address, now).
			Limit(MaxUniqueOffset+1).Scan(ctx, &codes)
		set := make(map[int64]bool, len(codes))
		for _, c := range codes {
			set[c] = true
		}
		return set, err
	}
	taken, err := held(tx.NewSelect())
	if err != nil {
		return Deposit{}, err
	}
	perAmount := len(taken) >= MaxUniqueOffset
	if perAmount {
		if taken, err = held(tx.NewSelect().Where("base_units = ?", d.BaseUnits)); err != nil {
			return Deposit{}, err
		}
	}
	for code := int64(1); code <= MaxUniqueOffset; code++ {
		if taken[code] {
			continue
		}
		d.Code, d.AmountUnits = code, base.Add(invoice.NewUnits(code)).String()
		// A row still held (taken by a concurrent creator) makes the
		// upsert a no-op: next code.
		res, err := tx.NewInsert().Model(&d).
			On("CONFLICT (network, address, amount_units) DO UPDATE").
			Set("base_units = EXCLUDED.base_units, code = EXCLUDED.code, invoice_id = EXCLUDED.invoice_id").
			Set("account_id = EXCLUDED.account_id, held_until = EXCLUDED.held_until, created_at = EXCLUDED.created_at").
			Where("?TableAlias.held_until <= ?", now).Exec(ctx)
		if err != nil {
			return Deposit{}, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return d, nil
		}
	}
	return Deposit{}, fmt.Errorf("%w: %d open invoices of %s on %s", ErrUniqueAmountsExhausted,
		MaxUniqueOffset, inv.Amount.Format(inv.Decimals), d.Address)
}

// stableDecimals is the decimals of every catalogue stablecoin on EVM
// networks; unique amounts are keyed in these base units.
const stableDecimals = 6

// match finds the invoice a transfer of amount to address on network pays:
// a derived address takes any amount; on a shared address, the exact unique
// amount, else the one invoice holding the code in the amount's last digits
// (a partial payment, a top-up, an over-payment).
func (l *Ledger) match(ctx context.Context, db bun.IDB, network, to string, amount invoice.Units) (Deposit, bool, error) {
	// Two primary-key lookups: one IN ('', ?) lets Postgres's planner,
	// which sees '' on half the rows, pick a scan of the whole table.
	var ds []Deposit
	for _, units := range []string{amount.String(), ""} {
		err := db.NewSelect().Model(&ds).Where("network = ? AND address = ? AND amount_units = ?", network, to, units).Scan(ctx)
		if err != nil || len(ds) > 0 {
			return first(ds), len(ds) > 0, err
		}
	}
	code := new(big.Int).Mod(amount.Big(), big.NewInt(codeModulus)).Int64()
	if code == 0 || code > MaxUniqueOffset {
		return Deposit{}, false, nil
	}
	err := db.NewSelect().Model(&ds).
		Where("network = ? AND address = ? AND code = ? AND held_until > ? AND amount_units <> ''", network, to, code, l.inv.Now()).
		Limit(2).Scan(ctx)
	if err != nil || len(ds) != 1 {
		return Deposit{}, false, err // none, or ambiguous: kept as unmatched
	}
	return ds[0], true, nil
}

// codeModulus is one cent in stablecoin base units: invoice amounts are
// whole cents, so the digits below a cent carry the code.
const codeModulus = 10_000

func first(ds []Deposit) Deposit {
	if len(ds) == 0 {
		return Deposit{}
	}
	return ds[0]
}
