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

// Transfer is one token transfer a watcher saw, at the status it has now.
// Watchers report transfers at least once; the ledger records each once,
// keyed by (Network, TxID, Index).
type Transfer struct {
	Network    string
	Token      string // contract address or mint
	TxID       string
	Index      int64 // log index in the block
	Block      int64
	BlockHash  string
	From, To   string
	Amount     invoice.Units // in the token's base units
	Status     invoice.PaymentStatus
	ObservedAt time.Time
	// References are keys that may name the invoice paid (Solana: every
	// account key of the transaction). One issued as a Solana Pay reference
	// for a payment to To decides the invoice before the amount is matched.
	References []string
}

// Unmatched is a transfer to a merchant's receiving address that no invoice
// expects (a wrong amount, a payment long after expiry): kept, not dropped.
type Unmatched struct {
	bun.BaseModel `bun:"table:unmatched_payments"`

	ID         string                `bun:"id,pk"`
	MerchantID string                `bun:"merchant_id"`
	Mode       invoice.Mode          `bun:"mode"`
	AccountID  string                `bun:"account_id"`
	Method     string                `bun:"method"`
	Network    string                `bun:"network"`
	TxID       string                `bun:"tx_id"`
	Index      int64                 `bun:"log_index"`
	Asset      string                `bun:"asset"`
	Decimals   int                   `bun:"decimals"`
	Amount     invoice.Units         `bun:"amount,type:text"`
	Status     invoice.PaymentStatus `bun:"status"`
	From       string                `bun:"from_address"`
	To         string                `bun:"to_address"`
	Block      int64                 `bun:"block_number"`
	BlockHash  string                `bun:"block_hash"`
	ObservedAt time.Time             `bun:"observed_at"`
	CreatedAt  time.Time             `bun:"created_at"`
	UpdatedAt  time.Time             `bun:"updated_at"`
}

// UnmatchedObject is the public form of an unmatched payment.
type UnmatchedObject struct {
	ID          string                `json:"id" example:"upa_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object      string                `json:"object" enum:"unmatched_payment"`
	Mode        invoice.Mode          `json:"mode" enum:"test,live"`
	AccountID   string                `json:"receiving_account_id"`
	Method      string                `json:"method" example:"usdc_base"`
	Network     string                `json:"network" example:"base"`
	TxID        string                `json:"tx_id"`
	Index       int64                 `json:"index"`
	Asset       string                `json:"asset" example:"USDC"`
	Amount      string                `json:"amount" example:"12.500000"`
	AmountUnits string                `json:"amount_units" example:"12500000"`
	Status      invoice.PaymentStatus `json:"status" enum:"pending,confirmed,reversed"`
	From        string                `json:"from"`
	To          string                `json:"to"`
	Block       int64                 `json:"block_number"`
	BlockHash   string                `json:"block_hash"`
	ObservedAt  time.Time             `json:"observed_at"`
	CreatedAt   time.Time             `json:"created_at"`
	UpdatedAt   time.Time             `json:"updated_at"`
}

// Object returns the public form of u.
func (u *Unmatched) Object() UnmatchedObject {
	return UnmatchedObject{
		ID: u.ID, Object: "unmatched_payment", Mode: u.Mode, AccountID: u.AccountID, Method: u.Method,
		Network: u.Network, TxID: u.TxID, Index: u.Index, Asset: u.Asset,
		Amount: u.Amount.Format(u.Decimals), AmountUnits: u.Amount.String(), Status: u.Status,
		From: u.From, To: u.To, Block: u.Block, BlockHash: u.BlockHash,
		ObservedAt: u.ObservedAt, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
}

// Record applies one transfer: to the invoice that already holds it, else
// to the invoice its recipient and amount match, else as an unmatched
// payment of the merchant whose address received it. A transfer to nobody
// settle knows is ignored. Recording the same transfer again changes nothing.
func (l *Ledger) Record(ctx context.Context, t Transfer) error {
	m, ok := l.cat.MethodForToken(t.Network, t.Token)
	if !ok {
		return fmt.Errorf("record %s/%s: token %s is not in the catalogue", t.Network, t.TxID, t.Token)
	}
	db := l.inv.IDB(ctx)
	var invoiceID string
	err := db.NewSelect().Model((*invoice.Payment)(nil)).Column("invoice_id").
		Where("network = ? AND tx_id = ? AND log_index = ? AND credit_id = ''", t.Network, t.TxID, t.Index).Scan(ctx, &invoiceID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if invoiceID == "" {
		kept, err := db.NewSelect().Model((*Unmatched)(nil)).
			Where("network = ? AND tx_id = ? AND log_index = ?", t.Network, t.TxID, t.Index).Exists(ctx)
		if err != nil {
			return err
		}
		if kept {
			return l.unmatched(ctx, m, t)
		}
		if invoiceID, err = l.referenced(ctx, db, t); err != nil {
			return err
		}
	}
	if invoiceID == "" {
		d, ok, err := l.match(ctx, db, t.Network, t.To, t.Amount)
		if err != nil {
			return err
		}
		if !ok {
			return l.unmatched(ctx, m, t)
		}
		invoiceID = d.InvoiceID
	}
	_, _, err = l.inv.Apply(ctx, invoice.Observation{
		InvoiceID: invoiceID, Method: m.ID, Network: t.Network, TxID: t.TxID, Index: t.Index,
		Asset: m.Asset, Decimals: m.Decimals, Amount: t.Amount, Status: t.Status,
		From: t.From, To: t.To, Block: t.Block, BlockHash: t.BlockHash, ObservedAt: t.ObservedAt,
	})
	return err
}

// unmatched keeps (or moves) a transfer that no invoice expects, when it
// went to a merchant's receiving address.
func (l *Ledger) unmatched(ctx context.Context, m Method, t Transfer) error {
	db := l.inv.IDB(ctx)
	var a Account
	err := db.NewSelect().Model(&a).Where("network = ? AND address = ?", t.Network, t.To).
		OrderExpr("deleted_at IS NULL DESC, id DESC").Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // not ours
	}
	if err != nil {
		return err
	}
	now := l.inv.Now()
	u := Unmatched{
		ID: invoice.NewID("upa_", now), MerchantID: a.MerchantID, Mode: a.Mode, AccountID: a.ID,
		Method: m.ID, Network: t.Network, TxID: t.TxID, Index: t.Index, Asset: m.Asset, Decimals: m.Decimals,
		Amount: t.Amount, Status: t.Status, From: t.From, To: t.To, Block: t.Block, BlockHash: t.BlockHash,
		ObservedAt: t.ObservedAt.UTC().Truncate(time.Microsecond), CreatedAt: now, UpdatedAt: now,
	}
	q := db.NewInsert().Model(&u).On("CONFLICT (network, tx_id, log_index) DO UPDATE").
		Set("status = EXCLUDED.status, updated_at = EXCLUDED.updated_at")
	if t.Status == invoice.PaymentReversed {
		q = q.Where("?TableAlias.status <> ?", invoice.PaymentReversed)
	} else {
		// Mined again after a reorg: the new block. A confirmed one is not
		// moved back to pending by a stale report.
		q = q.Set("block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash").
			Where("NOT (?TableAlias.status = ? AND EXCLUDED.status = ?)", invoice.PaymentConfirmed, invoice.PaymentPending)
	}
	_, err = q.Exec(ctx)
	return err
}

// UnmatchedList pages the merchant's unmatched payments in mode, newest
// first, before the id `before` when set.
func (l *Ledger) UnmatchedList(ctx context.Context, merchantID string, mode invoice.Mode, before string, limit int64) ([]Unmatched, bool, error) {
	out := []Unmatched{}
	q := l.inv.IDB(ctx).NewSelect().Model(&out).Where("merchant_id = ? AND mode = ?", merchantID, mode)
	more, err := invoice.Page(ctx, q, &out, before, int(limit))
	if err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// Pending returns the transfers on network that are in a block but not yet
// confirmed: recorded payments and unmatched ones.
func (l *Ledger) Pending(ctx context.Context, network string) ([]Transfer, error) {
	var rows []struct {
		Method    string        `bun:"method"`
		TxID      string        `bun:"tx_id"`
		Index     int64         `bun:"log_index"`
		Amount    invoice.Units `bun:"amount"`
		From      string        `bun:"from_address"`
		To        string        `bun:"to_address"`
		Block     int64         `bun:"block_number"`
		BlockHash string        `bun:"block_hash"`
		Observed  time.Time     `bun:"observed_at"`
	}
	const cols = "method, tx_id, log_index, amount, from_address, to_address, block_number, block_hash, observed_at"
	err := l.inv.IDB(ctx).NewRaw("SELECT "+cols+" FROM payments WHERE network = ? AND status = ? UNION ALL "+
		"SELECT "+cols+" FROM unmatched_payments WHERE network = ? AND status = ? ORDER BY block_number, log_index",
		network, invoice.PaymentPending, network, invoice.PaymentPending).Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	out := make([]Transfer, 0, len(rows))
	for _, r := range rows {
		m, _ := l.cat.Method(r.Method)
		out = append(out, Transfer{
			Network: network, Token: m.Token, TxID: r.TxID, Index: r.Index, Block: r.Block, BlockHash: r.BlockHash,
			From: r.From, To: r.To, Amount: r.Amount, Status: invoice.PaymentPending, ObservedAt: r.Observed,
		})
	}
	return out, nil
}

// Watched returns every address on network a transfer could be matched to
// or kept for: receiving addresses and derived deposit addresses. It returns
// nil when there are more than max, for the watcher to read every transfer.
func (l *Ledger) Watched(ctx context.Context, network string, max int) ([]string, error) {
	out := []string{}
	err := l.inv.IDB(ctx).NewRaw("SELECT address FROM receiving_accounts WHERE network = ? AND kind = ? UNION "+
		"SELECT address FROM deposits WHERE network = ? AND amount_units = '' LIMIT ?",
		network, AccountAddress, network, max+1).Scan(ctx, &out)
	if err != nil || len(out) > max {
		return nil, err
	}
	if out == nil {
		out = []string{} // nobody to watch, which is not "watch everyone"
	}
	return out, nil
}

// Checkpoint is a block a watcher has scanned up to, with its hash.
type Checkpoint struct {
	bun.BaseModel `bun:"table:chain_checkpoints"`

	Network   string    `bun:"network,pk"`
	Block     int64     `bun:"block_number,pk"`
	Hash      string    `bun:"block_hash"`
	CreatedAt time.Time `bun:"created_at"`
}

// Checkpoints returns network's checkpoints, newest first. The first is the
// cursor: every block up to it has been scanned.
func (l *Ledger) Checkpoints(ctx context.Context, network string) ([]Checkpoint, error) {
	var out []Checkpoint
	err := l.inv.IDB(ctx).NewSelect().Model(&out).Where("network = ?", network).OrderExpr("block_number DESC").Scan(ctx)
	return out, err
}

// Advance records that network is scanned up to cp, keeping the newest keep
// checkpoints (enough to find a fork point after a reorg); keep 0 prunes
// nothing this time.
func (l *Ledger) Advance(ctx context.Context, cp Checkpoint, keep int) error {
	db := l.inv.IDB(ctx)
	cp.CreatedAt = l.inv.Now()
	if _, err := db.NewInsert().Model(&cp).On("CONFLICT (network, block_number) DO UPDATE").
		Set("block_hash = EXCLUDED.block_hash, created_at = EXCLUDED.created_at").Exec(ctx); err != nil {
		return err
	}
	if keep <= 0 {
		return nil
	}
	_, err := db.NewDelete().Model((*Checkpoint)(nil)).
		Where("network = ? AND block_number < (SELECT block_number FROM chain_checkpoints WHERE network = ? ORDER BY block_number DESC LIMIT 1 OFFSET ?)",
			cp.Network, cp.Network, max(keep, 1)-1).Exec(ctx)
	return err
}

// Rewind forgets network's checkpoints above block (a reorg replaced them).
func (l *Ledger) Rewind(ctx context.Context, network string, block int64) error {
	_, err := l.inv.IDB(ctx).NewDelete().Model((*Checkpoint)(nil)).
		Where("network = ? AND block_number > ?", network, block).Exec(ctx)
	return err
}

// Lease takes or renews holder's lease on scanning network for ttl. It
// reports false while another holder's lease runs.
func (l *Ledger) Lease(ctx context.Context, network, holder string, ttl time.Duration) (bool, error) {
	now := l.inv.Now()
	row := struct {
		bun.BaseModel `bun:"table:chain_leases"`
		Network       string    `bun:"network,pk"`
		Holder        string    `bun:"holder"`
		ExpiresAt     time.Time `bun:"expires_at"`
	}{Network: network, Holder: holder, ExpiresAt: now.Add(ttl)}
	res, err := l.inv.IDB(ctx).NewInsert().Model(&row).On("CONFLICT (network) DO UPDATE").
		Set("holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at").
		Where("?TableAlias.holder = EXCLUDED.holder OR ?TableAlias.expires_at < ?", now).Exec(ctx)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Release gives up holder's lease on network.
func (l *Ledger) Release(ctx context.Context, network, holder string) error {
	_, err := l.inv.IDB(ctx).NewRaw("DELETE FROM chain_leases WHERE network = ? AND holder = ?", network, holder).Exec(ctx)
	return err
}

// ResetNetwork forgets where network was scanned: for the devnet, whose
// chain starts anew with every run.
func (l *Ledger) ResetNetwork(ctx context.Context, network string) error {
	return l.Rewind(ctx, network, -1)
}
