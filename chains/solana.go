package chains

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/uptrace/bun"
)

// Reference is a Solana Pay reference key issued to one invoice for
// payments to one wallet.
type Reference struct {
	bun.BaseModel `bun:"table:solana_references"`

	Reference string    `bun:"reference,pk"`
	Network   string    `bun:"network"`
	Address   string    `bun:"address"` // the wallet paid
	InvoiceID string    `bun:"invoice_id"`
	CreatedAt time.Time `bun:"created_at"`
}

// newReference issues a fresh reference key for inv's payments to wallet
// on network, in inv's creation transaction. The key is 32 random bytes:
// no one holds its private key, and none is needed.
func (l *Ledger) newReference(ctx context.Context, tx bun.IDB, network, wallet, invoiceID string) (string, error) {
	var k solana.PublicKey
	if _, err := rand.Read(k[:]); err != nil {
		return "", err
	}
	r := Reference{Reference: k.String(), Network: network, Address: wallet, InvoiceID: invoiceID, CreatedAt: l.inv.Now()}
	_, err := tx.NewInsert().Model(&r).Exec(ctx)
	return r.Reference, err
}

// referenced returns the invoice whose reference t carries for a payment to
// t.To, or "".
func (l *Ledger) referenced(ctx context.Context, db bun.IDB, t Transfer) (string, error) {
	if len(t.References) == 0 {
		return "", nil
	}
	var ids []string
	err := db.NewSelect().Model((*Reference)(nil)).Column("invoice_id").
		Where("network = ? AND address = ? AND reference IN (?)", t.Network, t.To, bun.In(t.References)).
		OrderExpr("reference").Limit(1).Scan(ctx, &ids)
	if err != nil || len(ids) == 0 {
		return "", err
	}
	return ids[0], nil
}

// InvoiceReferences returns the Solana Pay references issued to an invoice.
func (l *Ledger) InvoiceReferences(ctx context.Context, invoiceID string) ([]Reference, error) {
	var out []Reference
	err := l.inv.IDB(ctx).NewSelect().Model(&out).Where("invoice_id = ?", invoiceID).OrderExpr("network").Scan(ctx)
	return out, err
}

// Wallet is a Solana wallet some merchant receives with, and since when.
type Wallet struct {
	Address string    `bun:"address"`
	Since   time.Time `bun:"since"`
}

// Wallets returns the receiving wallets on a Solana network, deleted
// accounts included (invoices issued before still pay there), each with the
// time it was first registered.
func (l *Ledger) Wallets(ctx context.Context, network string) ([]Wallet, error) {
	var out []Wallet
	err := l.inv.IDB(ctx).NewSelect().Model((*Account)(nil)).
		ColumnExpr("address, MIN(created_at) AS since").
		Where("network = ? AND kind = ?", network, AccountAddress).
		GroupExpr("address").OrderExpr("address").Scan(ctx, &out)
	return out, err
}

// SignatureCursor is how far a Solana watcher has read one account's
// signatures: every signature up to Signature (in slot Slot) is read.
type SignatureCursor struct {
	bun.BaseModel `bun:"table:solana_cursors"`

	Network   string    `bun:"network,pk"`
	Account   string    `bun:"account,pk"`
	Signature string    `bun:"signature"`
	Slot      int64     `bun:"slot"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// Cursor returns the cursor of account on network; ok is false when the
// account was never read.
func (l *Ledger) Cursor(ctx context.Context, network, account string) (c SignatureCursor, ok bool, err error) {
	err = l.inv.IDB(ctx).NewSelect().Model(&c).Where("network = ? AND account = ?", network, account).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return SignatureCursor{}, false, nil
	}
	return c, err == nil, err
}

// MoveCursor records that c's account is read up to c.Signature.
func (l *Ledger) MoveCursor(ctx context.Context, c SignatureCursor) error {
	c.UpdatedAt = l.inv.Now()
	_, err := l.inv.IDB(ctx).NewInsert().Model(&c).On("CONFLICT (network, account) DO UPDATE").
		Set("signature = EXCLUDED.signature, slot = EXCLUDED.slot, updated_at = EXCLUDED.updated_at").Exec(ctx)
	return err
}
