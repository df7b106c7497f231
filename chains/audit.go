package chains

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// This file holds the ledger's read-only queries for the on-chain audit
// (`settle reconcile`): what the store says happened on a network, for the
// auditor to compare with what the chain says. None of them writes.

// Recorded returns the payments and the unmatched payments recorded on
// network in blocks from to to (both included), whatever their status, of
// merchantID when it is not "" and of every merchant otherwise, in block
// and log order.
func (l *Ledger) Recorded(ctx context.Context, network, merchantID string, from, to int64) ([]invoice.Payment, []Unmatched, error) {
	return l.recorded(ctx, network, merchantID, func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("block_number >= ? AND block_number <= ?", from, to)
	})
}

// RecordedTx returns the payments and unmatched payments recorded on network
// for the transactions txIDs, as Recorded does: the audit looks up transfers
// the chain shows whose record is not where it expected it (a record of an
// older block, before a reorg moved the transaction).
func (l *Ledger) RecordedTx(ctx context.Context, network, merchantID string, txIDs []string) ([]invoice.Payment, []Unmatched, error) {
	var payments []invoice.Payment
	var unmatched []Unmatched
	const chunk = 500
	for len(txIDs) > 0 {
		n := min(chunk, len(txIDs))
		p, u, err := l.recorded(ctx, network, merchantID, func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("tx_id IN (?)", bun.In(txIDs[:n]))
		})
		if err != nil {
			return nil, nil, err
		}
		payments, unmatched = append(payments, p...), append(unmatched, u...)
		txIDs = txIDs[n:]
	}
	return payments, unmatched, nil
}

func (l *Ledger) recorded(ctx context.Context, network, merchantID string, where func(*bun.SelectQuery) *bun.SelectQuery) ([]invoice.Payment, []Unmatched, error) {
	db := l.inv.IDB(ctx)
	var payments []invoice.Payment
	q := db.NewSelect().Model(&payments).Where("network = ?", network).Apply(where)
	if merchantID != "" {
		q = q.Where("merchant_id = ?", merchantID)
	}
	if err := q.OrderExpr("block_number, log_index, id").Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("recorded payments on %s: %w", network, err)
	}
	var unmatched []Unmatched
	q = db.NewSelect().Model(&unmatched).Where("network = ?", network).Apply(where)
	if merchantID != "" {
		q = q.Where("merchant_id = ?", merchantID)
	}
	if err := q.OrderExpr("block_number, log_index, id").Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("recorded unmatched payments on %s: %w", network, err)
	}
	return payments, unmatched, nil
}

// Receiving returns every address on network that receives for merchantID
// (every merchant when ""): receiving addresses, deleted ones included (a
// transfer to them is still kept), and the addresses derived for invoices
// from an xpub.
func (l *Ledger) Receiving(ctx context.Context, network, merchantID string) ([]string, error) {
	query := "SELECT address FROM receiving_accounts WHERE network = ? AND kind = ?"
	args := []any{network, AccountAddress}
	if merchantID != "" {
		query += " AND merchant_id = ?"
		args = append(args, merchantID)
	}
	query += " UNION SELECT d.address FROM deposits AS d JOIN receiving_accounts AS a ON a.id = d.account_id " +
		"WHERE d.network = ? AND d.amount_units = ''"
	args = append(args, network)
	if merchantID != "" {
		query += " AND a.merchant_id = ?"
		args = append(args, merchantID)
	}
	out := []string{}
	if err := l.inv.IDB(ctx).NewRaw(query, args...).Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("receiving addresses on %s: %w", network, err)
	}
	return out, nil
}

// NetworkMethods returns the methods paying on network, their tokens
// filled in, in catalogue order.
func (c *Catalogue) NetworkMethods(network string) []Method {
	var out []Method
	for _, m := range methods {
		if m.Network == network {
			m, _ = c.Method(m.ID)
			out = append(out, m)
		}
	}
	return out
}

// The on-chain audit (`settle reconcile`, chains/evm and chains/solana)
// reads the chain again, compares it with what the store recorded, and
// reports every difference in these shapes. It only reads: correcting the
// store is the watcher's work, or a person's.

// DiscrepancyKind is the kind of a difference between the store and the
// chain.
type DiscrepancyKind string

// Kinds of discrepancy.
const (
	// MissingOnChain: a recorded transfer the chain does not hold (no such
	// transaction, a failed one, or no transfer of the token to the
	// recorded address at the recorded index), while the recorded block is
	// still canonical.
	MissingOnChain DiscrepancyKind = "missing_on_chain"
	// AmountDiffers: the transfer is on chain with another amount.
	AmountDiffers DiscrepancyKind = "amount_differs"
	// Reversed: a transfer recorded as pending or confirmed whose block
	// left the canonical chain (EVM), or recorded as pending whose
	// transaction the cluster no longer knows (Solana).
	Reversed DiscrepancyKind = "reversed"
	// NotRecorded: a transfer to a receiving address that the store does
	// not count: never recorded (a missed payment), or recorded as reversed
	// while the chain holds it.
	NotRecorded DiscrepancyKind = "not_recorded"
)

// AuditRecords is what an audit reads of the store (the Ledger).
type AuditRecords interface {
	Recorded(ctx context.Context, network, merchantID string, from, to int64) ([]invoice.Payment, []Unmatched, error)
	RecordedTx(ctx context.Context, network, merchantID string, txIDs []string) ([]invoice.Payment, []Unmatched, error)
	Receiving(ctx context.Context, network, merchantID string) ([]string, error)
}

// Discrepancy is one difference between the store and the chain. Amounts
// are integer base units of the asset, as decimal strings; "" where one
// side has nothing.
type Discrepancy struct {
	Kind      DiscrepancyKind `json:"kind"`
	Network   string          `json:"network"`
	TxID      string          `json:"tx_id"`
	Index     int64           `json:"index"`                // log index (EVM), token account's key index (Solana)
	Block     int64           `json:"block_number"`         // block (EVM), slot (Solana)
	PaymentID string          `json:"payment_id,omitempty"` // pay_…, or upa_… for an unmatched payment
	InvoiceID string          `json:"invoice_id,omitempty"`
	Asset     string          `json:"asset"`
	Decimals  int             `json:"decimals"`
	Recorded  string          `json:"recorded_units,omitempty"`
	Chain     string          `json:"chain_units,omitempty"`
	Detail    string          `json:"detail"`
	// Transfer is, for not_recorded, the transfer as the chain holds it,
	// for `settle rescan` to record (nil where the audit cannot build it).
	Transfer *Transfer `json:"-"`
}

// AuditTotal sums one token over the audited range: every transfer the
// chain shows to the receiving addresses, and every recorded transfer that
// is not reversed (payments and unmatched payments). Without discrepancies
// the two are equal.
type AuditTotal struct {
	Asset          string `json:"asset"`
	Token          string `json:"token"` // contract or mint
	Decimals       int    `json:"decimals"`
	ChainUnits     string `json:"chain_units"`
	ChainTransfers int    `json:"chain_transfers"`
	RecordedUnits  string `json:"recorded_units"`
	Recorded       int    `json:"recorded"`
}

// AuditReport is the outcome of an audit. FromBlock and ToBlock bound the
// blocks (slots) audited.
type AuditReport struct {
	Network       string        `json:"network"`
	MerchantID    string        `json:"merchant_id,omitempty"`
	FromBlock     int64         `json:"from_block"`
	ToBlock       int64         `json:"to_block"`
	Addresses     int           `json:"addresses"` // receiving addresses (wallets) whose transfers were read
	Payments      int           `json:"payments_checked"`
	Unmatched     int           `json:"unmatched_checked"`
	Totals        []AuditTotal  `json:"totals"`
	Discrepancies []Discrepancy `json:"discrepancies"`
}

// AuditSums adds up, per token, the transfers an audit finds on chain and
// the recorded transfers that are not reversed.
type AuditSums map[string]*auditSum

type auditSum struct {
	chain, recorded invoice.Units
	nChain, nRec    int
}

func (s AuditSums) get(token string) *auditSum {
	if s[token] == nil {
		s[token] = &auditSum{}
	}
	return s[token]
}

// Chain counts a transfer of token seen on chain.
func (s AuditSums) Chain(token string, amount invoice.Units) {
	t := s.get(token)
	t.chain, t.nChain = t.chain.Add(amount), t.nChain+1
}

// Recorded counts a recorded transfer of token.
func (s AuditSums) Recorded(token string, amount invoice.Units) {
	t := s.get(token)
	t.recorded, t.nRec = t.recorded.Add(amount), t.nRec+1
}

// Finish adds to r the totals of the tokens of methods (the audited
// network's, in their order) and sorts its discrepancies by block, tx,
// index and kind.
func (r *AuditReport) Finish(methods []Method, sums AuditSums) {
	for _, m := range methods {
		if s := sums[m.Token]; s != nil && m.Network == r.Network {
			r.Totals = append(r.Totals, AuditTotal{Asset: m.Asset, Token: m.Token, Decimals: m.Decimals,
				ChainUnits: s.chain.String(), ChainTransfers: s.nChain, RecordedUnits: s.recorded.String(), Recorded: s.nRec})
			delete(sums, m.Token)
		}
	}
	slices.SortFunc(r.Discrepancies, func(a, b Discrepancy) int {
		return cmp.Or(cmp.Compare(a.Block, b.Block), strings.Compare(a.TxID, b.TxID), cmp.Compare(a.Index, b.Index),
			strings.Compare(string(a.Kind), string(b.Kind)))
	})
}
