package fiat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// This file is the rails' ledger: every credit a rail reports is recorded
// once under its identity, and lands in exactly one place — a payment on
// an invoice or an unmatched credit of the account's merchant — or is a
// duplicate of that merchant's earlier credit.
//
// A credit's identity is scoped to the merchant and mode, never global:
// two merchants' banks may issue the same reference, and one merchant must
// neither lose a payment to another's nor learn of the other's objects.
// Within that scope it is the transfer's UETR when the message has one
// (the same in a pacs.008 and a camt.054 of one transfer, and on FedNow and
// RTP alike), else the rail account's id with the rail's own id of the
// credit (see [Incoming]).

// creditRecord is one rail credit under its identity (table rail_credits).
// The payment or unmatched credit it became carries its id as credit_id.
type creditRecord struct {
	bun.BaseModel `bun:"table:rail_credits"`

	ID         string       `bun:"id,pk"`
	MerchantID string       `bun:"merchant_id"`
	Mode       invoice.Mode `bun:"mode"`
	AccountID  string       `bun:"account_id"`
	Rail       string       `bun:"rail"`
	Identity   string       `bun:"identity"`
	TxID       string       `bun:"tx_id"`
	CreatedAt  time.Time    `bun:"created_at"`
}

// identity is what makes c the same credit as another of a's merchant:
// its UETR, else a's id with its key (and, for a credit whose key does not
// identify it alone, the invoice it pays).
func identity(a Account, c Incoming, invoiceID string) string {
	if c.UETR != "" {
		return "uetr:" + strings.ToLower(strings.TrimSpace(c.UETR))
	}
	id := a.ID + ":" + firstOf(c.Key, c.TxID)
	if c.PerInvoice {
		id += ":" + firstOf(invoiceID, "unmatched")
	}
	return id
}

// legacyIdentity is the key credits recorded before identities were scoped
// were registered under (migration 008): a retry of one of them is still a
// duplicate. QRIS ids are left out, since their old key was the flaw.
func legacyIdentity(a Account, c Incoming) string {
	if a.Rail == RailQRIS {
		return ""
	}
	return "legacy:" + a.Rail + ":" + c.TxID
}

// Receive records one credit to account a, in one transaction: matched to
// an invoice of the account's merchant and mode by reference, else by QRIS
// total (qris) or by amount and currency when exactly one open invoice
// offering the rail has that amount (the other rails), and applied as a
// confirmed payment; else kept as unmatched. A credit whose identity is
// already recorded is a duplicate, answered with what it became. Of
// concurrent copies of one credit exactly one is recorded: the others wait
// on the identity's unique key and then see it.
func (r *Rails) Receive(ctx context.Context, a Account, c Incoming) (Outcome, error) {
	var out Outcome
	err := r.inv.WithinTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		inv, why, err := r.match(ctx, tx, a, c)
		if err != nil {
			return err
		}
		l, err := r.record(ctx, tx, a, c, inv, why)
		out = l.Outcome
		return err
	})
	if err != nil {
		return Outcome{ID: c.TxID}, fmt.Errorf("receive %s credit %s: %w", a.Rail, c.TxID, err)
	}
	return out, nil
}

// landed is what became of a credit: the outcome, and for a payment the
// invoice as it now stands and the payment.
type landed struct {
	Outcome
	invoice invoice.Invoice
	payment invoice.Payment
}

// record registers c under its identity and lands it: applied to inv, or
// kept as unmatched (why) when inv is zero. A known identity is answered as
// a duplicate of what it became.
func (r *Rails) record(ctx context.Context, tx bun.IDB, a Account, c Incoming, inv invoice.Invoice, why string) (landed, error) {
	id := identity(a, c, inv.ID)
	if out, ok, err := r.prior(ctx, tx, a, c.TxID, id, legacyIdentity(a, c)); err != nil || ok {
		return landed{Outcome: out}, err
	}
	now := r.inv.Now()
	rec := creditRecord{ID: invoice.NewID("rcr_", now), MerchantID: a.MerchantID, Mode: a.Mode, AccountID: a.ID,
		Rail: a.Rail, Identity: id, TxID: c.TxID, CreatedAt: now}
	res, err := tx.NewInsert().Model(&rec).On("CONFLICT (merchant_id, mode, identity) DO NOTHING").Exec(ctx)
	if err != nil {
		return landed{}, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		// A concurrent copy committed it first (Postgres waits for it).
		out, ok, err := r.prior(ctx, tx, a, c.TxID, id, "")
		if err == nil && !ok {
			err = fmt.Errorf("credit %s is neither new nor recorded", id)
		}
		return landed{Outcome: out}, err
	}
	l := landed{Outcome: Outcome{ID: c.TxID}}
	if inv.ID == "" {
		u, err := r.keep(ctx, tx, a, c, why, rec.ID)
		l.Status, l.UnmatchedID = Unmatched, u.ID
		return l, err
	}
	l.invoice, l.payment, err = r.apply(ctx, a, inv, c, rec.ID)
	l.Status, l.InvoiceID, l.PaymentID = Matched, inv.ID, l.payment.ID
	return l, err
}

// prior finds a credit of a's merchant and mode recorded under identity
// (or legacy, when set) and answers what it became, as a duplicate.
func (r *Rails) prior(ctx context.Context, tx bun.IDB, a Account, txID, identity, legacy string) (Outcome, bool, error) {
	out := Outcome{ID: txID, Status: Duplicate}
	ids := []string{identity}
	if legacy != "" {
		ids = append(ids, legacy)
	}
	var credit string
	err := tx.NewSelect().Model((*creditRecord)(nil)).Column("id").
		Where("merchant_id = ? AND mode = ? AND identity IN (?)", a.MerchantID, a.Mode, bun.In(ids)).
		Limit(1).Scan(ctx, &credit)
	if errors.Is(err, sql.ErrNoRows) {
		return out, false, nil
	}
	if err != nil {
		return out, false, err
	}
	var pay invoice.Payment
	err = tx.NewSelect().Model(&pay).Column("id", "invoice_id").Where("credit_id = ?", credit).Limit(1).Scan(ctx)
	switch {
	case err == nil:
		out.InvoiceID, out.PaymentID = pay.InvoiceID, pay.ID
		return out, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return out, false, err
	}
	err = tx.NewSelect().Model((*UnmatchedCredit)(nil)).Column("id").Where("credit_id = ?", credit).Scan(ctx, &out.UnmatchedID)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil // a credit of before migration 008 whose row went elsewhere
	}
	return out, true, err
}
