package fiat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// Incoming is one credit a rail reported to a merchant's rail account, in
// the rail's terms, before it is matched to an invoice.
type Incoming struct {
	TxID string // the rail's own id of the credit, the payment's tx_id
	// Key identifies the credit within the rail account when TxID alone
	// does not ("" means TxID): see [identity].
	Key string
	// UETR, when the message carries one, identifies the transfer itself,
	// across message types and across the merchant's instant rails.
	UETR string
	// PerInvoice says that Key does not identify the credit alone: a QRIS
	// callback's reference is optional and need not be unique, so the
	// invoice its amount pays is part of its identity.
	PerInvoice bool
	Amount     string // decimal as the rail sent it, e.g. "25.00" or "25042"
	Currency   string // ISO 4217
	From       string // debtor, sender or card
	// Texts may hold the invoice reference (end-to-end id, remittance,
	// individual id, addenda, the payor's reference).
	Texts      []string
	ObservedAt time.Time
}

// Outcome is what became of one credit.
type Outcome struct {
	ID          string `json:"id" example:"AAAASESS-FP-ACCR001" doc:"The rail's id of the credit."`
	Status      string `json:"status" enum:"matched,duplicate,unmatched,returned" doc:"matched: recorded as a payment now; duplicate: this account's merchant already has this credit (as a payment, or kept unmatched), or this return; unmatched: no invoice expects it, kept for you (GET /api/v1/rail-unmatched); returned: the rail returned a credit recorded before, its payment is now reversed."`
	InvoiceID   string `json:"invoice_id,omitempty" example:"inv_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	PaymentID   string `json:"payment_id,omitempty" example:"pay_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	UnmatchedID string `json:"unmatched_id,omitempty" example:"rlu_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"The unmatched credit it was kept as."`
}

// Outcome statuses.
const (
	Matched   = "matched"
	Duplicate = "duplicate"
	Unmatched = "unmatched"
)

// match finds the invoice c pays, or says why none.
func (r *Rails) match(ctx context.Context, db bun.IDB, a Account, c Incoming) (invoice.Invoice, string, error) {
	cur := invoice.Currency(strings.ToUpper(c.Currency))
	decimals, ok := cur.Decimals()
	if !ok {
		return invoice.Invoice{}, "currency " + c.Currency + " is not one settle prices invoices in", nil
	}
	amount, err := invoice.ParseAmount(c.Amount, decimals)
	if err != nil {
		return invoice.Invoice{}, "amount: " + err.Error(), nil
	}
	var inv invoice.Invoice
	if ref, ok := findReferenceIn(c.Texts...); ok {
		err := db.NewSelect().Model(&inv).
			Where("id = (SELECT invoice_id FROM invoice_references WHERE reference = ? AND merchant_id = ? AND mode = ?)", ref, a.MerchantID, a.Mode).
			Scan(ctx)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return inv, "", err
		}
		if inv.ID != "" && inv.Currency == cur {
			return inv, "", nil
		}
		if inv.ID != "" {
			return invoice.Invoice{}, fmt.Sprintf("reference %s names an invoice in %s, the credit is in %s", ref, inv.Currency, cur), nil
		}
	}
	var candidates []invoice.Invoice
	if a.Rail == RailQRIS {
		if !amount.Big().IsInt64() {
			return invoice.Invoice{}, "amount out of range", nil
		}
		err = db.NewSelect().Model(&candidates).
			Where("id IN (SELECT invoice_id FROM qris_codes WHERE account_id = ? AND total_amount = ? AND held_until > ?)", a.ID, amount.Big().Int64(), r.inv.Now()).
			Limit(2).Scan(ctx)
	} else {
		method := methodOf(a.Rail)
		err = db.NewSelect().Model(&candidates).
			Where("merchant_id = ? AND mode = ? AND status IN (?, ?) AND currency = ? AND amount = ?",
				a.MerchantID, a.Mode, invoice.StatusOpen, invoice.StatusProcessing, cur, amount).
			Where("payment_methods LIKE ?", `%"`+method+`"%`).Limit(2).Scan(ctx)
	}
	if err != nil {
		return invoice.Invoice{}, "", err
	}
	if a.Rail == RailQRIS && len(candidates) == 0 {
		// No total is the amount: the payor's wallet may have added the
		// merchant's tip on top of one (an invoice that allows tips).
		tipped, err := r.withWalletTip(ctx, db, a, amount.Big().Int64())
		if err != nil {
			return invoice.Invoice{}, "", err
		}
		switch {
		case len(tipped) == 1 && tipped[0].Currency == cur:
			return tipped[0], "", nil
		case len(tipped) > 1:
			return invoice.Invoice{}, "no reference, and several open invoices could take this amount with a wallet tip", nil
		}
	}
	switch len(candidates) {
	case 1:
		if candidates[0].Currency != cur {
			return invoice.Invoice{}, "the invoice with this total is not in " + string(cur), nil
		}
		return candidates[0], "", nil
	case 0:
		return invoice.Invoice{}, "no reference, and no open invoice of this amount", nil
	default:
		return invoice.Invoice{}, "no reference, and several open invoices of this amount", nil
	}
}

// methodOf returns the catalogue method paying through rail.
func methodOf(rail string) string {
	for _, m := range chains.Methods() {
		if m.Network == rail {
			return m.ID
		}
	}
	return ""
}

// apply records c, registered as credit, as a confirmed payment of inv:
// instant rails are final when notified.
func (r *Rails) apply(ctx context.Context, a Account, inv invoice.Invoice, c Incoming, credit string) (invoice.Invoice, invoice.Payment, error) {
	amount, err := invoice.ParseAmount(c.Amount, inv.Decimals)
	if err != nil {
		return inv, invoice.Payment{}, fmt.Errorf("credit %s: %w", c.TxID, err)
	}
	to := a.AccountNumber
	if to == "" {
		to = a.ID
	}
	observed := c.ObservedAt
	if observed.IsZero() {
		observed = r.inv.Now()
	}
	if a.Rail == RailQRIS {
		if inv, err = r.walletTip(ctx, inv, amount); err != nil {
			return inv, invoice.Payment{}, err
		}
	}
	return r.inv.Apply(ctx, invoice.Observation{
		InvoiceID: inv.ID, Method: methodOf(a.Rail), Network: a.Rail, TxID: c.TxID, CreditID: credit,
		Asset: string(inv.Currency), Decimals: inv.Decimals, Amount: amount, Status: invoice.PaymentConfirmed,
		From: c.From, To: to, ObservedAt: observed,
	})
}

// UnmatchedCredit is a rail credit no invoice expects, kept for the
// merchant to reconcile or refund.
type UnmatchedCredit struct {
	bun.BaseModel `bun:"table:rail_unmatched"`

	ID         string       `bun:"id,pk"`
	MerchantID string       `bun:"merchant_id"`
	Mode       invoice.Mode `bun:"mode"`
	AccountID  string       `bun:"account_id"`
	Rail       string       `bun:"rail"`
	TxID       string       `bun:"tx_id"`
	CreditID   string       `bun:"credit_id"` // the rail credit it records
	Currency   string       `bun:"currency"`
	Amount     string       `bun:"amount"` // decimal as the rail sent it
	Sender     string       `bun:"sender"`
	Reference  string       `bun:"reference"` // the texts that might have named an invoice
	Detail     string       `bun:"detail"`    // why it matched nothing
	ObservedAt time.Time    `bun:"observed_at"`
	CreatedAt  time.Time    `bun:"created_at"`
}

// UnmatchedCreditObject is the public form of an unmatched rail credit.
type UnmatchedCreditObject struct {
	ID         string       `json:"id" example:"rlu_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object     string       `json:"object" enum:"unmatched_rail_credit"`
	Mode       invoice.Mode `json:"mode" enum:"test,live"`
	AccountID  string       `json:"rail_account_id"`
	Rail       string       `json:"rail" example:"fednow"`
	TxID       string       `json:"tx_id" doc:"The rail's id of the credit."`
	Currency   string       `json:"currency" example:"USD"`
	Amount     string       `json:"amount" example:"25.00" doc:"Decimal as the rail reported it."`
	Sender     string       `json:"sender"`
	Reference  string       `json:"reference" doc:"Remittance texts as received."`
	Detail     string       `json:"detail" example:"no reference, and no open invoice of this amount"`
	ObservedAt time.Time    `json:"observed_at"`
	CreatedAt  time.Time    `json:"created_at"`
}

// Object returns the public form of u.
func (u *UnmatchedCredit) Object() UnmatchedCreditObject {
	return UnmatchedCreditObject{
		ID: u.ID, Object: "unmatched_rail_credit", Mode: u.Mode, AccountID: u.AccountID, Rail: u.Rail, TxID: u.TxID,
		Currency: u.Currency, Amount: u.Amount, Sender: u.Sender, Reference: u.Reference, Detail: u.Detail,
		ObservedAt: u.ObservedAt, CreatedAt: u.CreatedAt,
	}
}

// keep stores c, registered as credit, as an unmatched credit of a's
// merchant.
func (r *Rails) keep(ctx context.Context, tx bun.IDB, a Account, c Incoming, why, credit string) (UnmatchedCredit, error) {
	now := r.inv.Now()
	observed := c.ObservedAt
	if observed.IsZero() {
		observed = now
	}
	u := UnmatchedCredit{
		ID: invoice.NewID("rlu_", now), MerchantID: a.MerchantID, Mode: a.Mode, AccountID: a.ID, Rail: a.Rail,
		TxID: c.TxID, CreditID: credit, Currency: c.Currency, Amount: c.Amount, Sender: c.From,
		Reference: truncate(strings.Join(c.Texts, " / "), 500), Detail: why,
		ObservedAt: observed.UTC().Truncate(time.Microsecond), CreatedAt: now,
	}
	_, err := tx.NewInsert().Model(&u).Exec(ctx)
	return u, err
}

// UnmatchedList pages the merchant's unmatched rail credits in mode,
// newest first, before the id `before` when set.
func (r *Rails) UnmatchedList(ctx context.Context, merchantID string, mode invoice.Mode, before string, limit int64) ([]UnmatchedCredit, bool, error) {
	out := []UnmatchedCredit{}
	q := r.inv.IDB(ctx).NewSelect().Model(&out).Where("merchant_id = ? AND mode = ?", merchantID, mode)
	more, err := invoice.Page(ctx, q, &out, before, int(limit))
	if err != nil {
		return nil, false, err
	}
	return out, more, nil
}
