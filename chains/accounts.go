package chains

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

// Account kinds.
const (
	AccountAddress = "address" // one address; invoices told apart by a unique amount
	AccountXPub    = "xpub"    // watch-only key; one derived address an invoice
)

// Account is where a merchant receives on one network in one mode.
type Account struct {
	bun.BaseModel `bun:"table:receiving_accounts"`

	ID         string       `bun:"id,pk"`
	MerchantID string       `bun:"merchant_id"`
	Mode       invoice.Mode `bun:"mode"`
	Network    string       `bun:"network"`
	Kind       string       `bun:"kind"`
	Address    string       `bun:"address"` // EIP-55, or a Solana wallet in base58; "" for an xpub
	XPub       string       `bun:"xpub"`
	NextIndex  int64        `bun:"next_index"`
	CreatedAt  time.Time    `bun:"created_at"`
	DeletedAt  *time.Time   `bun:"deleted_at"`
}

// AccountObject is the public form of an account.
type AccountObject struct {
	ID        string       `json:"id" example:"rac_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object    string       `json:"object" enum:"receiving_account"`
	Mode      invoice.Mode `json:"mode" enum:"test,live"`
	Network   string       `json:"network" example:"base"`
	Kind      string       `json:"kind" enum:"address,xpub"`
	Address   string       `json:"address,omitempty" example:"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"`
	XPub      string       `json:"xpub,omitempty"`
	NextIndex int64        `json:"next_index" doc:"For an xpub: the index of the next derived address (path 0/index below the key)."`
	CreatedAt time.Time    `json:"created_at"`
}

// Object returns the public form of a.
func (a *Account) Object() AccountObject {
	return AccountObject{
		ID: a.ID, Object: "receiving_account", Mode: a.Mode, Network: a.Network, Kind: a.Kind,
		Address: a.Address, XPub: a.XPub, NextIndex: a.NextIndex, CreatedAt: a.CreatedAt,
	}
}

// ErrAccountExists is returned when the merchant already has an active
// account on the network in that mode.
var ErrAccountExists = errors.New("receiving account exists")

// Ledger is what settle knows of chains, kept in the invoice store:
// receiving accounts, deposits (how a transfer finds its invoice), unmatched
// payments, scan checkpoints and leases. Watchers report through it.
type Ledger struct {
	inv *invoice.Service
	cat *Catalogue
	// Hold is how long a unique amount stays reserved for its invoice after
	// the invoice expires, so that a late payment still finds it.
	Hold time.Duration
}

// NewLedger returns the ledger over inv's store.
func NewLedger(inv *invoice.Service, cat *Catalogue) *Ledger {
	return &Ledger{inv: inv, cat: cat, Hold: 7 * 24 * time.Hour}
}

// Catalogue returns the catalogue the ledger was made with.
func (l *Ledger) Catalogue() *Catalogue { return l.cat }

// AccountParams is a new receiving account as asked for.
type AccountParams struct {
	MerchantID string
	Mode       invoice.Mode
	Network    string
	Address    string
	XPub       string
}

// CreateAccount validates p and stores the account.
func (l *Ledger) CreateAccount(ctx context.Context, p AccountParams) (Account, error) {
	var v invoice.ValidationError
	fail := func(field, code, format string, args ...any) {
		v.Fields = append(v.Fields, &invoice.FieldError{Field: field, Code: code, Rule: fmt.Sprintf(format, args...)})
	}
	n, ok := NetworkByID(p.Network)
	switch {
	case !ok || n.Kind == KindSandbox:
		fail("network", "invalid_network", "unknown network %q", p.Network)
	case n.Kind != KindEVM && n.Kind != KindSolana:
		fail("network", "invalid_network", "network %q does not take receiving accounts yet", p.Network)
	case n.Mode != p.Mode:
		fail("network", "invalid_network", "network %q is for %s mode, this key is %s mode", p.Network, n.Mode, p.Mode)
	}
	a := Account{MerchantID: p.MerchantID, Mode: p.Mode, Network: p.Network}
	switch {
	case p.Address != "" && p.XPub != "":
		fail("address", "invalid_receiving_account", "give address or xpub, not both")
	case p.Address != "" && n.Kind == KindSolana:
		addr, err := ParseSolanaAddress(p.Address)
		if err != nil {
			fail("address", "invalid_address", "%v", err)
		}
		a.Kind, a.Address = AccountAddress, addr
	case p.XPub != "" && n.Kind == KindSolana:
		fail("xpub", "invalid_receiving_account", "a Solana network takes a wallet address, not an xpub")
	case p.Address != "":
		addr, err := ParseEVMAddress(p.Address)
		if err != nil {
			fail("address", "invalid_address", "%v", err)
		}
		a.Kind, a.Address = AccountAddress, addr
	case p.XPub != "":
		x, err := ParseXPub(p.XPub)
		if err == nil {
			_, err = x.Address(0)
		}
		if err != nil {
			fail("xpub", "invalid_xpub", "%v", err)
		}
		a.Kind, a.XPub = AccountXPub, x.String()
	default:
		fail("address", "invalid_receiving_account", "give an address or an xpub")
	}
	if len(v.Fields) > 0 {
		return Account{}, &v
	}
	if a.Kind == AccountXPub {
		// A key given again (after a delete) goes on where it stopped:
		// a derived address is never given out twice.
		if err := l.inv.IDB(ctx).NewSelect().Model((*Account)(nil)).ColumnExpr("COALESCE(MAX(next_index), 0)").
			Where("network = ? AND xpub = ?", a.Network, a.XPub).Scan(ctx, &a.NextIndex); err != nil {
			return Account{}, err
		}
	}
	now := l.inv.Now()
	a.ID, a.CreatedAt = invoice.NewID("rac_", now), now
	_, err := l.inv.IDB(ctx).NewInsert().Model(&a).Exec(ctx)
	if err != nil && isUniqueViolation(err) {
		return Account{}, fmt.Errorf("%w: %s already has an active account of this mode, or this address or key receives for another merchant", ErrAccountExists, p.Network)
	}
	return a, err
}

func isUniqueViolation(err error) bool {
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint") || strings.Contains(s, "SQLSTATE 23505")
}

// Accounts lists the merchant's active accounts in mode, oldest first.
func (l *Ledger) Accounts(ctx context.Context, merchantID string, mode invoice.Mode) ([]Account, error) {
	out := []Account{}
	err := l.inv.IDB(ctx).NewSelect().Model(&out).
		Where("merchant_id = ? AND mode = ? AND deleted_at IS NULL", merchantID, mode).OrderExpr("id").Scan(ctx)
	return out, err
}

// Account returns one active account of the merchant.
func (l *Ledger) Account(ctx context.Context, merchantID string, mode invoice.Mode, id string) (Account, error) {
	var a Account
	err := l.inv.IDB(ctx).NewSelect().Model(&a).
		Where("id = ? AND merchant_id = ? AND mode = ? AND deleted_at IS NULL", id, merchantID, mode).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return a, invoice.ErrNotFound
	}
	return a, err
}

// DeleteAccount stops offering the account to new invoices. Invoices that
// already carry its address are still watched and matched.
func (l *Ledger) DeleteAccount(ctx context.Context, merchantID string, mode invoice.Mode, id string) (Account, error) {
	a, err := l.Account(ctx, merchantID, mode, id)
	if err != nil {
		return a, err
	}
	now := l.inv.Now()
	a.DeletedAt = &now
	_, err = l.inv.IDB(ctx).NewUpdate().Model(&a).Column("deleted_at").WherePK().Exec(ctx)
	return a, err
}
