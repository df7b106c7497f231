package solana

import (
	"context"
	"errors"
	"time"

	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/ws"

	"github.com/settlepay/settle/chains"
)

// subscribe wakes the scan loop whenever a followed token account is
// mentioned in a transaction's logs, over the ws endpoint. solana-go's
// client does not reconnect, so this does, with backoff; it subscribes again
// when the accounts followed change. Polling goes on regardless.
func (w *Watcher) subscribe(ctx context.Context) {
	b := w.backoff(0)
	b.InitialInterval, b.MaxInterval = max(w.cfg.RetryInitial, time.Second), time.Minute
	for ctx.Err() == nil {
		err := w.listen(ctx)
		w.cfg.Monitor.Update(w.cfg.Network.ID, func(st *chains.NetworkStatus) { st.Subscribed = false })
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errResubscribe) {
			b.Reset()
			continue
		}
		d := b.NextBackOff()
		w.cfg.Log.WarnContext(ctx, "watcher: logs subscription lost, polling meanwhile", "err", err, "retry_in", d)
		w.cfg.Monitor.RPCError(w.cfg.Network.ID, "logsSubscribe", err)
		if !sleep(ctx, d) {
			return
		}
	}
}

var errResubscribe = errors.New("accounts followed changed")

// listen subscribes to every followed account's logs and wakes the scan
// loop on each notification, until the connection fails or the accounts
// change.
func (w *Watcher) listen(ctx context.Context) error {
	// Wait until the first scan has listed the accounts.
	w.mu.Lock()
	accounts := w.accounts
	w.mu.Unlock()
	if len(accounts) == 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-w.resubscribe:
			return errResubscribe
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dctx, dcancel := context.WithTimeout(lctx, w.cfg.CallTimeout)
	c, err := ws.Connect(dctx, w.cfg.Endpoint.WS)
	dcancel()
	if err != nil {
		return err
	}
	defer c.Close()
	errs := make(chan error, len(accounts))
	for _, a := range accounts {
		sub, err := c.LogsSubscribeMentions(a, rpc.CommitmentConfirmed)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		go func() {
			for {
				if _, err := sub.Recv(lctx); err != nil {
					errs <- err
					return
				}
				select {
				case w.wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	w.cfg.Monitor.Update(w.cfg.Network.ID, func(st *chains.NetworkStatus) { st.Subscribed = true })
	select {
	case <-ctx.Done():
		return nil
	case <-w.resubscribe:
		return errResubscribe
	case err := <-errs:
		return err
	}
}
