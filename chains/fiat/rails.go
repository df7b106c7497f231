package fiat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// Rails is settle's side of the fiat rails, kept in the invoice store: rail
// accounts with their callback secrets, invoice references, QRIS unique
// codes and unmatched credits. It writes the payor's instructions when an
// invoice is created and turns authenticated rail notifications into
// payments through [invoice.Service.Apply], like the chain watchers.
type Rails struct {
	inv *invoice.Service
	// MaxUniqueCode is the largest QRIS unique code (rupiah added to an
	// invoice): how many open QRIS invoices of one amount an account can
	// hold. ≤ 0 means [DefaultMaxUniqueCode].
	MaxUniqueCode int64
	// Hold is how long a QRIS total stays reserved for its invoice after
	// the invoice expires, so that a late payment still finds it.
	Hold time.Duration

	absent absentRails
}

// NewRails returns the rails over inv's store.
func NewRails(inv *invoice.Service) *Rails {
	return &Rails{inv: inv, MaxUniqueCode: DefaultMaxUniqueCode, Hold: 7 * 24 * time.Hour}
}

// absentRails remembers, per merchant and mode, the rails found to have no
// active account, so that creating an invoice for a merchant without rail
// accounts (most of them) reads nothing: its insert is its one statement.
// An entry holds only in the config epoch of the read that filled it
// (invoice.Service.ConfigEpoch), which moves when an account is added or
// deleted here or on another instance, and at each look of the key watcher
// (every few seconds at most); without the key watcher nothing is kept.
type absentRails struct {
	mu sync.Mutex
	m  map[string]absentEntry // by merchant id and mode
}

type absentEntry struct {
	epoch uint64
	rails []string
}

// all reports whether every one of rails is known to have no active
// account of the merchant in mode.
func (a *absentRails) all(merchantID string, mode invoice.Mode, rails []string, inv *invoice.Service) bool {
	epoch, ok := inv.ConfigEpoch()
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, found := a.m[merchantID+" "+string(mode)]
	if !found || e.epoch != epoch {
		return false
	}
	for _, r := range rails {
		if !slices.Contains(e.rails, r) {
			return false
		}
	}
	return true
}

// note records which of rails had no account in found, as read in epoch.
func (a *absentRails) note(merchantID string, mode invoice.Mode, rails []string, found []Account, epoch uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := merchantID + " " + string(mode)
	e := a.m[key]
	if e.epoch != epoch {
		e = absentEntry{epoch: epoch}
	}
	for _, r := range rails {
		if !slices.ContainsFunc(found, func(acc Account) bool { return acc.Rail == r }) && !slices.Contains(e.rails, r) {
			e.rails = append(e.rails, r)
		}
	}
	if a.m == nil || len(a.m) >= maxAbsentEntries {
		a.m = map[string]absentEntry{}
	}
	a.m[key] = e
}

// maxAbsentEntries bounds absentRails' memory (one entry per merchant and
// mode that creates invoices); reaching it empties the map.
const maxAbsentEntries = 100_000

// ErrUniqueCodesExhausted is returned when every QRIS unique code for an
// amount is held by another open invoice of the account.
var ErrUniqueCodesExhausted = errors.New("unique codes exhausted")

// railOf returns the rail of method id, "" when it is not a rail method.
func railOf(id string) string {
	m, ok := chains.MethodByID(id)
	if !ok || !IsRail(m.Network) {
		return ""
	}
	return m.Network
}

// Prepare returns the hook invoice creation runs (after the chains
// ledger's): for each rail method it takes the merchant's rail account and
// writes the payor's instructions, with the invoice's reference and, for
// QRIS, a unique code and the dynamic payload. Methods whose rail has no
// account are dropped when chosen by default (requested false) and refused
// with receiving_account_missing when asked for. It returns nil when no
// method is a rail's.
//
// The merchant's accounts on those rails are read here, in one query
// through db (the caller's transaction, if any), not once per rail in the
// creating transaction: as under read committed, an account added or
// deleted meanwhile counts as added or deleted after the invoice. writes
// reports whether the hook may write (the merchant has an account on one
// of the rails); when false it only narrows or refuses the methods, and
// invoice creation keeps its one-statement insert.
func (r *Rails) Prepare(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, methods []string, requested bool) (hook func(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) error, writes bool, err error) {
	var rails []string
	for _, id := range methods {
		if rail := railOf(id); rail != "" && !slices.Contains(rails, rail) {
			rails = append(rails, rail)
		}
	}
	if len(rails) == 0 || r.absent.all(merchantID, mode, rails, r.inv) {
		return nil, false, nil
	}
	epoch, _ := r.inv.ConfigEpoch()
	var list []Account
	if err := db.NewSelect().Model(&list).
		Where("merchant_id = ? AND mode = ? AND rail IN (?) AND deleted_at IS NULL", merchantID, mode, bun.In(rails)).
		Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("rail accounts: %w", err)
	}
	r.absent.note(merchantID, mode, rails, list, epoch)
	accounts := map[string]Account{} // by rail; at most one is active
	for _, a := range list {
		accounts[a.Rail] = a
	}
	return func(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) error {
		var kept, missing []string
		ref := ""
		for _, id := range inv.PaymentMethods {
			rail := railOf(id)
			if rail == "" {
				kept = append(kept, id)
				continue
			}
			a, ok := accounts[rail]
			if !ok {
				missing = append(missing, rail)
				continue
			}
			var err error
			if ref == "" {
				if ref, err = r.newReference(ctx, tx, inv); err != nil {
					return err
				}
			}
			in, err := r.instruction(ctx, tx, inv, id, a, ref)
			if err != nil {
				return err
			}
			kept = append(kept, id)
			inv.Instructions = append(inv.Instructions, in)
		}
		if len(missing) > 0 && requested {
			return &invoice.ValidationError{Fields: []*invoice.FieldError{{
				Field: "payment_methods", Code: "receiving_account_missing",
				Rule: fmt.Sprintf("no rail account on %v in %s mode: add one with POST /api/v1/rail-accounts", missing, inv.Mode),
			}}}
		}
		if len(kept) == 0 {
			return &invoice.ValidationError{Fields: []*invoice.FieldError{{
				Field: "payment_methods", Code: "receiving_account_missing",
				Rule: fmt.Sprintf("no %s payment method can be paid: add a receiving account or a rail account", inv.Mode),
			}}}
		}
		inv.PaymentMethods = kept
		return nil
	}, len(accounts) > 0, nil
}

// instruction tells the payor how to pay inv by method on account a.
func (r *Rails) instruction(ctx context.Context, tx bun.IDB, inv *invoice.Invoice, method string, a Account, ref string) (invoice.Instruction, error) {
	m, _ := chains.MethodByID(method)
	in := invoice.Instruction{
		Method: m.ID, Network: m.Network, Asset: m.Asset,
		Amount: inv.Total().Format(inv.Decimals), AmountUnits: inv.Total().String(), Reference: ref,
	}
	switch a.Rail {
	case RailQRIS:
		q, err := r.qrisCode(ctx, tx, inv, a, ref)
		if err != nil {
			return in, err
		}
		total := fmt.Sprint(q.TotalAmount)
		in.Address, in.AccountName = a.AccountName, a.AccountName
		in.Amount, in.AmountUnits, in.TotalAmount = total, total, total
		in.QRISPayload, in.URI, in.UniqueCode = q.Payload, q.Payload, q.UniqueCode
		in.WalletTip = WalletTip(q.Payload)
	case RailPushToCard:
		in.Address, in.AccountName = a.ProcessorID, a.AccountName
	default:
		in.Address = a.AccountNumber
		in.BankName, in.AccountName, in.AccountNumber, in.RoutingNumber = a.BankName, a.AccountName, a.AccountNumber, a.RoutingNumber
	}
	return in, nil
}

// Reference is an invoice's bank-transfer reference.
type Reference struct {
	bun.BaseModel `bun:"table:invoice_references"`

	Reference  string       `bun:"reference,pk"`
	InvoiceID  string       `bun:"invoice_id"`
	MerchantID string       `bun:"merchant_id"`
	Mode       invoice.Mode `bun:"mode"`
	CreatedAt  time.Time    `bun:"created_at"`
}

// newReference stores a fresh reference for inv, drawing again on the rare
// collision with another invoice's.
func (r *Rails) newReference(ctx context.Context, tx bun.IDB, inv *invoice.Invoice) (string, error) {
	for range 8 {
		ref := Reference{Reference: NewReference(), InvoiceID: inv.ID, MerchantID: inv.MerchantID, Mode: inv.Mode, CreatedAt: r.inv.Now()}
		res, err := tx.NewInsert().Model(&ref).On("CONFLICT (reference) DO NOTHING").Exec(ctx)
		if err != nil {
			return "", fmt.Errorf("invoice reference: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return ref.Reference, nil
		}
	}
	return "", fmt.Errorf("invoice reference: eight collisions in a row")
}

// InvoiceReference returns the reference of invoice id, "" when it has none.
func (r *Rails) InvoiceReference(ctx context.Context, invoiceID string) (string, error) {
	var ref string
	err := r.inv.IDB(ctx).NewSelect().Model((*Reference)(nil)).Column("reference").
		Where("invoice_id = ?", invoiceID).Scan(ctx, &ref)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return ref, err
}

// qrisCode is one QRIS total held for an invoice.
type qrisCode struct {
	bun.BaseModel `bun:"table:qris_codes"`

	AccountID   string    `bun:"account_id,pk"`
	TotalAmount int64     `bun:"total_amount,pk"`
	Amount      int64     `bun:"amount"`
	UniqueCode  int64     `bun:"unique_code"`
	InvoiceID   string    `bun:"invoice_id"`
	HeldUntil   time.Time `bun:"held_until"`
	CreatedAt   time.Time `bun:"created_at"`
}

// qrisCode takes a unique code for inv on account a and builds its dynamic
// payload. The (account, total) key is unique: a total held by a
// concurrent creator makes the insert a no-op and the next code is tried.
// On Postgres an advisory lock per account also serialises creators, so
// they do not all race for the same first code.
func (r *Rails) qrisCode(ctx context.Context, tx bun.IDB, inv *invoice.Invoice, a Account, ref string) (QRISInstruction, error) {
	total := inv.Total()
	if inv.Currency != "IDR" || !total.Big().IsInt64() {
		return QRISInstruction{}, fmt.Errorf("qris: invoice %s is not a rupiah amount", inv.ID)
	}
	amount := total.Big().Int64()
	max := r.MaxUniqueCode
	if max <= 0 {
		max = DefaultMaxUniqueCode
	}
	if tx.Dialect().Name() == dialect.PG {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(?))", "qris:"+a.ID); err != nil {
			return QRISInstruction{}, fmt.Errorf("qris lock: %w", err)
		}
	}
	now := r.inv.Now()
	var open []int64
	if err := tx.NewSelect().Model((*qrisCode)(nil)).Column("total_amount").
		Where("account_id = ? AND total_amount > ? AND total_amount <= ? AND held_until > ?", a.ID, amount, amount+max, now).
		Scan(ctx, &open); err != nil {
		return QRISInstruction{}, err
	}
	for {
		q, err := newQRISInstruction(a.QRISPayload, amount, ref, open, max, inv.AllowTip)
		if err != nil {
			if len(open) >= int(max) {
				return QRISInstruction{}, fmt.Errorf("%w: %d open QRIS invoices of Rp%d on account %s", ErrUniqueCodesExhausted, max, amount, a.ID)
			}
			return QRISInstruction{}, err
		}
		row := qrisCode{AccountID: a.ID, TotalAmount: q.TotalAmount, Amount: amount, UniqueCode: q.UniqueCode,
			InvoiceID: inv.ID, HeldUntil: inv.ExpiresAt.Add(r.Hold), CreatedAt: now}
		res, err := tx.NewInsert().Model(&row).On("CONFLICT (account_id, total_amount) DO UPDATE").
			Set("amount = EXCLUDED.amount, unique_code = EXCLUDED.unique_code, invoice_id = EXCLUDED.invoice_id").
			Set("held_until = EXCLUDED.held_until, created_at = EXCLUDED.created_at").
			Where("?TableAlias.held_until <= ?", now).Exec(ctx)
		if err != nil {
			return QRISInstruction{}, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return q, nil
		}
		open = append(open, q.TotalAmount) // taken meanwhile
	}
}

// RequestForPayment writes the pain.013 request for payment of inv's amount
// due over rail (fednow or rtp), from the merchant's account on that rail,
// with the invoice reference as end-to-end id and remittance.
func (r *Rails) RequestForPayment(ctx context.Context, inv invoice.Invoice, rail string) ([]byte, error) {
	a, ok, err := r.accountFor(ctx, r.inv.IDB(ctx), inv.MerchantID, inv.Mode, rail)
	if err != nil {
		return nil, err
	}
	ref, err := r.InvoiceReference(ctx, inv.ID)
	if err != nil {
		return nil, err
	}
	if !ok || ref == "" {
		return nil, &invoice.ValidationError{Fields: []*invoice.FieldError{{
			Field: "rail", Code: "receiving_account_missing",
			Rule: fmt.Sprintf("no %s account behind this invoice: add one with POST /api/v1/rail-accounts", rail),
		}}}
	}
	now := r.inv.Now()
	return BuildPain013(PaymentRequest{
		MessageID: invoice.NewID("rfp_", now), Reference: ref, Amount: inv.AmountDue().Format(inv.Decimals),
		Currency: string(inv.Currency), Creditor: a.BankAccount(), Created: now, Expiry: inv.ExpiresAt,
		Note: inv.ID,
	})
}
