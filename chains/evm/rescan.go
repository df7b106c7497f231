package evm

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// RescanLedger is what a rescan reads and writes (the chains Ledger): the
// audit's reads, and Record, the watcher's one way into the store.
type RescanLedger interface {
	chains.AuditRecords
	Record(ctx context.Context, t chains.Transfer) error
}

// RescanConfig says what to rescan: the audit's range and network, and how
// the network confirms (the watcher's setting).
type RescanConfig struct {
	AuditConfig
	// Finalized confirms at the `finalized` block tag, as the watcher does
	// with it; otherwise at Network.Confirmations.
	Finalized bool
}

// Added is one transfer a rescan recorded, and where it landed.
type Added struct {
	Network     string                `json:"network"`
	TxID        string                `json:"tx_id"`
	Index       int64                 `json:"index"`
	Block       int64                 `json:"block_number"`
	BlockHash   string                `json:"block_hash"`
	From        string                `json:"from"`
	To          string                `json:"to"`
	Asset       string                `json:"asset"`
	Amount      string                `json:"amount"`       // in the asset, e.g. 3.210000
	AmountUnits string                `json:"amount_units"` // in base units
	Status      invoice.PaymentStatus `json:"status"`
	InvoiceID   string                `json:"invoice_id,omitempty"`   // credited to this invoice
	PaymentID   string                `json:"payment_id,omitempty"`   // as this payment
	UnmatchedID string                `json:"unmatched_id,omitempty"` // or kept as this unmatched payment
}

// Rescan re-reads the network's confirmed blocks in the range (a range
// reaching past the confirmed head is cut there: newer blocks are the
// watcher's) and records, through the same ledger as the watcher, every
// Transfer to a receiving address that the store does not count: a
// payment missed while settle was down or its provider failed. Each goes
// where the watcher would have put it (the invoice it pays, or the
// merchant's unmatched payments). The audit finds them, so a second
// rescan of the same range finds nothing and changes nothing. Other
// discrepancies are left in the report for a person (`settle reconcile`).
// It returns the audit report from before the rescan recorded anything,
// with ToBlock the last block read, and what it added.
func Rescan(ctx context.Context, c AuditClient, ledger RescanLedger, cfg RescanConfig) (chains.AuditReport, []Added, error) {
	confirmed, err := confirmedHead(ctx, c, cfg)
	if err != nil {
		return chains.AuditReport{}, nil, err
	}
	cfg.ToBlock = min(cfg.ToBlock, confirmed)
	if cfg.FromBlock > cfg.ToBlock {
		return chains.AuditReport{Network: cfg.Network.ID, MerchantID: cfg.MerchantID, FromBlock: cfg.FromBlock, ToBlock: cfg.ToBlock}, nil, nil
	}
	rep, err := Audit(ctx, c, ledger, cfg.AuditConfig)
	if err != nil {
		return rep, nil, err
	}
	var added []Added
	now := time.Now().UTC()
	for _, d := range rep.Discrepancies {
		if d.Kind != chains.NotRecorded || d.Transfer == nil {
			continue
		}
		t := *d.Transfer
		t.Status, t.ObservedAt = invoice.PaymentConfirmed, now
		if err := ledger.Record(ctx, t); err != nil {
			return rep, added, fmt.Errorf("record %s/%d: %w", t.TxID, t.Index, err)
		}
		a := Added{Network: t.Network, TxID: t.TxID, Index: t.Index, Block: t.Block, BlockHash: t.BlockHash,
			From: t.From, To: t.To, Asset: d.Asset, Amount: t.Amount.Format(d.Decimals), AmountUnits: t.Amount.String(), Status: t.Status}
		payments, unmatched, err := ledger.RecordedTx(ctx, t.Network, "", []string{t.TxID})
		if err != nil {
			return rep, added, err
		}
		for _, p := range payments {
			if p.Index == t.Index {
				a.InvoiceID, a.PaymentID = p.InvoiceID, p.ID
			}
		}
		for _, u := range unmatched {
			if u.Index == t.Index {
				a.UnmatchedID = u.ID
			}
		}
		added = append(added, a)
	}
	return rep, added, nil
}

// confirmedHead is the newest block the watcher counts as confirmed.
func confirmedHead(ctx context.Context, c AuditClient, cfg RescanConfig) (int64, error) {
	var n *big.Int // the head
	if cfg.Finalized {
		n = big.NewInt(int64(rpc.FinalizedBlockNumber))
	}
	var h *types.Header
	if err := retry(ctx, func() (err error) { h, err = c.HeaderByNumber(ctx, n); return err }); err != nil {
		return 0, fmt.Errorf("head: %w", err)
	}
	if cfg.Finalized {
		return h.Number.Int64(), nil
	}
	return h.Number.Int64() - int64(max(cfg.Network.Confirmations, 1)) + 1, nil
}
