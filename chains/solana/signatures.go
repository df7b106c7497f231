package solana

import (
	"context"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/settlepay/settle/chains"
)

// account is a token account followed: the associated token account of a
// receiving wallet for one mint.
type account struct {
	wallet, mint, ata solana.PublicKey
	since             time.Time // the first read looks back no further
}

// follow reads the token account's signatures newer than its cursor, pages
// them from newest to oldest until the cursor, then handles them oldest
// first, moving the cursor after each: a crash part-way resumes after the
// last one handled, and nothing between is skipped.
func (w *Watcher) follow(ctx context.Context, c *rpc.Client, a account) error {
	net := w.cfg.Network.ID
	cur, ok, err := w.ledger.Cursor(ctx, net, a.ata.String())
	if err != nil {
		return err
	}
	var until solana.Signature
	if ok {
		if until, err = solana.SignatureFromBase58(cur.Signature); err != nil {
			return err
		}
	}
	var sigs []*rpc.TransactionSignature
	var before solana.Signature
	// older is the newest signature older than the first read's start: the
	// cursor to begin from when nothing newer is to be read.
	var older *rpc.TransactionSignature
	limit := w.cfg.PageSize
paging:
	for {
		var page []*rpc.TransactionSignature
		err := w.retry(ctx, "getSignaturesForAddress", func(ctx context.Context) (err error) {
			page, err = c.GetSignaturesForAddressWithOpts(ctx, a.ata, &rpc.GetSignaturesForAddressOpts{
				Limit: &limit, Before: before, Until: until, Commitment: rpc.CommitmentConfirmed,
			})
			return err
		})
		if err != nil {
			return err
		}
		for _, s := range page {
			switch {
			case ok && int64(s.Slot) < cur.Slot:
				// The cursor's signature was not found (its transaction
				// left the chain): nothing older is new.
				break paging
			case !ok && s.BlockTime != nil && s.BlockTime.Time().Before(a.since):
				older = s
				break paging
			}
			sigs = append(sigs, s)
		}
		if len(page) < limit {
			break
		}
		before = page[len(page)-1].Signature
	}
	if len(sigs) == 0 && older != nil {
		return w.ledger.MoveCursor(ctx, chains.SignatureCursor{Network: net, Account: a.ata.String(),
			Signature: older.Signature.String(), Slot: int64(older.Slot)})
	}
	seen := make(map[solana.Signature]bool, len(sigs))
	for i := len(sigs) - 1; i >= 0; i-- {
		s := sigs[i]
		if seen[s.Signature] {
			continue // an RPC that repeats a signature across pages
		}
		seen[s.Signature] = true
		if s.Err == nil {
			if err := w.handle(ctx, c, a, s); err != nil {
				return err
			}
		}
		if err := w.ledger.MoveCursor(ctx, chains.SignatureCursor{Network: net, Account: a.ata.String(),
			Signature: s.Signature.String(), Slot: int64(s.Slot)}); err != nil {
			return err
		}
	}
	return nil
}

// handle loads the transaction of s and records the payment it makes to a,
// if any.
func (w *Watcher) handle(ctx context.Context, c *rpc.Client, a account, s *rpc.TransactionSignature) error {
	var tx *rpc.GetParsedTransactionResult
	version := uint64(0)
	err := w.retry(ctx, "getTransaction", func(ctx context.Context) (err error) {
		tx, err = c.GetParsedTransaction(ctx, s.Signature, &rpc.GetParsedTransactionOpts{
			Commitment: rpc.CommitmentConfirmed, MaxSupportedTransactionVersion: &version,
		})
		return err
	})
	if err != nil {
		return err
	}
	t, ok, err := transfer(tx, a)
	if err != nil {
		w.cfg.Log.WarnContext(ctx, "watcher: transaction not understood; passed over", "tx", s.Signature, "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	t.Network, t.TxID, t.ObservedAt = w.cfg.Network.ID, s.Signature.String(), time.Now().UTC()
	t.Status = w.status(s.ConfirmationStatus)
	return w.record(ctx, t)
}
