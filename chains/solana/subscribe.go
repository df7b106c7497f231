package solana

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/ws"

	"github.com/settlepay/settle/chains"
)

// subscribe wakes the scan loop whenever a followed token account is
// mentioned in a transaction's logs, over the ws endpoint. solana-go's
// client does not reconnect, so this does, with backoff (from RetryInitial
// up to a minute, starting over after a subscription held for a minute, so
// a node that drops every connection at once is not hammered); accounts
// newly followed are subscribed on the same connection. Polling goes on
// regardless.
func (w *Watcher) subscribe(ctx context.Context) {
	b := w.backoff(0)
	b.MaxInterval = time.Minute
	for ctx.Err() == nil {
		start := time.Now()
		live, err := w.listen(ctx)
		w.cfg.Monitor.Update(w.cfg.Network.ID, func(st *chains.NetworkStatus) { st.Subscribed = false })
		if ctx.Err() != nil {
			return
		}
		if live && time.Since(start) > time.Minute {
			b.Reset()
		}
		if errors.Is(err, errResubscribe) {
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

// errResubscribe ends a connection whose subscriptions no longer match the
// accounts followed (one is no longer followed).
var errResubscribe = errors.New("accounts followed changed")

// listen subscribes to every followed account's logs and wakes the scan
// loop on each notification, until the connection fails or an account is
// no longer followed; accounts newly followed are added as they come. live
// reports whether the subscriptions were made.
//
// Every subscription is followed by a scan: what landed before it (while
// disconnected, or between an account's first read and its subscription)
// is read then, and what lands after it is notified.
//
// It never calls solana-go's Unsubscribe: that closes the subscription's
// channel while the client's reader may still be sending on it (a panic).
// Closing the connection ends the node's subscriptions just as well.
func (w *Watcher) listen(ctx context.Context) (live bool, err error) {
	accounts := w.followed()
	if len(accounts) == 0 { // the first scan has not listed them yet
		select {
		case <-ctx.Done():
			return false, nil
		case <-w.resubscribe:
			return false, errResubscribe
		}
	}
	dctx, dcancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	c, err := ws.Connect(dctx, w.cfg.Endpoint.WS)
	dcancel()
	if err != nil {
		return false, err
	}
	defer c.Close()
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	errs := make(chan error, 1)
	subscribed := map[solana.PublicKey]bool{}
	add := func(accounts []solana.PublicKey) error {
		added := false
		for _, a := range accounts {
			if subscribed[a] {
				continue
			}
			sub, err := c.LogsSubscribeMentions(a, rpc.CommitmentConfirmed)
			if err != nil {
				return err
			}
			subscribed[a], added = true, true
			wg.Go(func() {
				for {
					res, err := sub.Recv(lctx)
					if err == nil && res == nil {
						err = ws.ErrSubscriptionClosed
					}
					if err != nil {
						select {
						case errs <- err:
						default:
						}
						return
					}
					w.wakeUp()
				}
			})
		}
		if added {
			w.wakeUp()
		}
		return nil
	}
	if err := add(accounts); err != nil {
		return false, err
	}
	w.cfg.Monitor.Update(w.cfg.Network.ID, func(st *chains.NetworkStatus) { st.Subscribed = true })
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case err := <-errs:
			return true, err
		case <-w.resubscribe:
			now := w.followed()
			for a := range subscribed {
				if !slices.Contains(now, a) {
					return true, errResubscribe
				}
			}
			if err := add(now); err != nil {
				return true, err
			}
		}
	}
}

// followed returns the token accounts the scan loop follows.
func (w *Watcher) followed() []solana.PublicKey {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.accounts
}

// wakeUp has the scan loop scan now, or once more when it is scanning.
func (w *Watcher) wakeUp() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}
