package solana

import (
	"context"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/settlepay/settle/invoice"
)

// statusBatch is the most signatures getSignatureStatuses takes at once.
const statusBatch = 256

// settle confirms pending payments that reached the configured commitment
// and reverses those whose transaction failed or has been unknown to the
// cluster for DropAfter (its fork was abandoned).
func (w *Watcher) settle(ctx context.Context, c *rpc.Client) error {
	pending, err := w.ledger.Pending(ctx, w.cfg.Network.ID)
	if err != nil {
		return err
	}
	still := map[string]bool{}
	for start := 0; start < len(pending); start += statusBatch {
		batch := pending[start:min(len(pending), start+statusBatch)]
		sigs := make([]solana.Signature, len(batch))
		for i, t := range batch {
			if sigs[i], err = solana.SignatureFromBase58(t.TxID); err != nil {
				return err
			}
		}
		var res *rpc.GetSignatureStatusesResult
		if err := w.retry(ctx, "getSignatureStatuses", func(ctx context.Context) (err error) {
			res, err = c.GetSignatureStatuses(ctx, true, sigs...)
			return err
		}); err != nil {
			return err
		}
		for i, t := range batch {
			var st *rpc.SignatureStatusesResult
			if i < len(res.Value) {
				st = res.Value[i]
			}
			switch {
			case st == nil:
				since, ok := w.missing[t.TxID]
				if !ok {
					w.missing[t.TxID] = time.Now()
				}
				still[t.TxID] = true
				if !ok || time.Since(since) < w.cfg.DropAfter {
					continue
				}
				w.cfg.Log.WarnContext(ctx, "watcher: payment's transaction left the cluster", "tx", t.TxID, "slot", t.Block)
				t.Status = invoice.PaymentReversed
			case st.Err != nil:
				t.Status = invoice.PaymentReversed
			case w.status(st.ConfirmationStatus) == invoice.PaymentConfirmed:
				t.Status = invoice.PaymentConfirmed
			default:
				continue
			}
			if err := w.record(ctx, t); err != nil {
				return err
			}
		}
	}
	for sig := range w.missing {
		if !still[sig] {
			delete(w.missing, sig)
		}
	}
	return nil
}
