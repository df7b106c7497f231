// Package solana watches Solana clusters for payments in the catalogue's SPL
// tokens (USDC), with solana-go's RPC client, and reports them to the chains
// ledger the way Solana Pay's validateTransfer checks a transfer: the
// transaction succeeded, the recipient's associated token account for the
// mint gained the amount (pre and post token balances), and the invoice's
// reference key is among the account keys (else the amount decides, as on
// EVM networks).
//
// For every receiving wallet it follows the associated token account of each
// mint with getSignaturesForAddress from a cursor kept in the store, so a
// restart misses nothing. A payment is pending at the confirmed commitment,
// confirmed at the configured one (finalized by default), and reversed when
// its transaction disappears before that. logsSubscribe over WebSocket wakes
// the watcher early; polling goes on regardless. It does not read native SOL
// transfers, nor token accounts other than the associated ones.
package solana

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// Ledger is what the watcher needs from the store (chains.Ledger).
type Ledger interface {
	Record(ctx context.Context, t chains.Transfer) error
	Pending(ctx context.Context, network string) ([]chains.Transfer, error)
	Wallets(ctx context.Context, network string) ([]chains.Wallet, error)
	Cursor(ctx context.Context, network, account string) (chains.SignatureCursor, bool, error)
	MoveCursor(ctx context.Context, c chains.SignatureCursor) error
	Lease(ctx context.Context, network, holder string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, network, holder string) error
}

// Config is one Solana network's watcher. Zero fields take the defaults
// given.
type Config struct {
	Network  chains.Network  // with its Genesis hash
	Endpoint chains.Endpoint // HTTP, optional WS, Commitment
	Mints    []string        // SPL token mints paid in (the catalogue's Tokens)
	Holder   string          // this instance, for the lease

	PollInterval time.Duration // default 2 s; logsSubscribe notifications wake it sooner
	PageSize     int           // signatures per getSignaturesForAddress call (default 1000, the RPC's maximum)
	LeaseTTL     time.Duration // default 15 s
	CallTimeout  time.Duration // per RPC call (default 10 s)
	// DropAfter is how long a pending transaction may be unknown to the
	// cluster before it counts as reversed (default 2 min: longer than a
	// blockhash stays valid, so it can no longer land).
	DropAfter time.Duration
	// Backfill is how long before a wallet's registration its first read
	// looks back, to allow for clock skew (default 10 min).
	Backfill time.Duration
	// RetryInitial, RetryMax and RetryFor shape the backoff of a failed call
	// (defaults 200 ms, 5 s, 1 min); rate limits (HTTP 429) included. A lost
	// logs subscription is retried from RetryInitial up to a minute apart.
	RetryInitial, RetryMax, RetryFor time.Duration

	Monitor *chains.Monitor
	Log     *slog.Logger
}

// ErrWrongChain is returned when the RPC serves another cluster than the
// network's preset (its genesis hash differs).
var ErrWrongChain = errors.New("rpc serves another cluster")

// Watcher follows one Solana network.
type Watcher struct {
	cfg         Config
	ledger      Ledger
	confirmAt   rpc.ConfirmationStatusType
	wake        chan struct{}
	missing     map[string]time.Time // pending signatures the cluster did not know, since when
	mu          sync.Mutex
	accounts    []solana.PublicKey // token accounts followed, for logsSubscribe
	resubscribe chan struct{}
}

// New returns a watcher for cfg reporting to ledger.
func New(cfg Config, ledger Ledger) *Watcher {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PollInterval, 2*time.Second)
	def(&cfg.LeaseTTL, 15*time.Second)
	def(&cfg.CallTimeout, 10*time.Second)
	def(&cfg.DropAfter, 2*time.Minute)
	def(&cfg.Backfill, 10*time.Minute)
	def(&cfg.RetryInitial, 200*time.Millisecond)
	def(&cfg.RetryMax, 5*time.Second)
	def(&cfg.RetryFor, time.Minute)
	if cfg.PageSize <= 0 || cfg.PageSize > 1000 {
		cfg.PageSize = 1000
	}
	if cfg.Monitor == nil {
		cfg.Monitor = chains.NewMonitor(nil)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Log = cfg.Log.With("network", cfg.Network.ID)
	w := &Watcher{
		cfg: cfg, ledger: ledger, confirmAt: rpc.ConfirmationStatusFinalized,
		wake: make(chan struct{}, 1), missing: map[string]time.Time{}, resubscribe: make(chan struct{}, 1),
	}
	if cfg.Endpoint.Commitment == chains.CommitmentConfirmed {
		w.confirmAt = rpc.ConfirmationStatusConfirmed
	}
	return w
}

// CheckChain asks endpoint for its genesis hash and compares it with the
// network's.
func CheckChain(ctx context.Context, n chains.Network, e chains.Endpoint) error {
	c := rpc.New(e.HTTP)
	defer c.Close()
	return checkGenesis(ctx, c, n, e)
}

func checkGenesis(ctx context.Context, c *rpc.Client, n chains.Network, e chains.Endpoint) error {
	h, err := c.GetGenesisHash(ctx)
	if err != nil {
		return err
	}
	if h.String() != n.Genesis {
		return fmt.Errorf("%w: %s reports genesis hash %s, %s is %s", ErrWrongChain, redact(e.HTTP), h, n.ID, n.Genesis)
	}
	return nil
}

// Run watches until ctx ends. It returns ErrWrongChain when the RPC serves
// another cluster; every other failure is retried with backoff, so Run
// returns nil otherwise.
func (w *Watcher) Run(ctx context.Context) error {
	net := w.cfg.Network.ID
	c := rpc.New(w.cfg.Endpoint.HTTP)
	defer c.Close()
	b := w.backoff(0)
	for {
		err := w.retry(ctx, "getGenesisHash", func(ctx context.Context) error {
			err := checkGenesis(ctx, c, w.cfg.Network, w.cfg.Endpoint)
			if errors.Is(err, ErrWrongChain) {
				return backoff.Permanent(err)
			}
			return err
		})
		if errors.Is(err, ErrWrongChain) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			break
		}
		if !sleep(ctx, b.NextBackOff()) {
			return nil
		}
	}
	if w.cfg.Endpoint.WS != "" {
		sctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { w.subscribe(sctx) })
		defer wg.Wait()
		defer cancel()
	}
	w.cfg.Monitor.Update(net, func(st *chains.NetworkStatus) { st.Confirmed = string(w.confirmAt) })
	defer w.ledger.Release(context.WithoutCancel(ctx), net, w.cfg.Holder) //nolint:errcheck // the lease runs out by itself

	fails := w.backoff(0)
	fails.MaxInterval = 30 * time.Second
	poll := time.NewTicker(w.cfg.PollInterval)
	defer poll.Stop()
	var leased time.Time
	for {
		held, err := true, error(nil)
		if time.Since(leased) > w.cfg.LeaseTTL/3 {
			if held, err = w.ledger.Lease(ctx, net, w.cfg.Holder, w.cfg.LeaseTTL); held {
				leased = time.Now()
			}
		}
		if err == nil && held {
			err = w.tick(ctx, c)
		}
		w.cfg.Monitor.Update(net, func(st *chains.NetworkStatus) { st.Leased = err == nil && held })
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			wait := fails.NextBackOff()
			w.cfg.Log.WarnContext(ctx, "watcher: scan failed, retrying", "err", err, "in", wait)
			w.cfg.Monitor.Update(net, func(st *chains.NetworkStatus) {
				st.LastError, st.LastErrAt = err.Error(), time.Now().UTC()
			})
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		default:
			fails.Reset()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		case <-w.wake:
		}
	}
}

// tick brings the network up to date once: pending payments first, then
// every followed token account's new signatures.
func (w *Watcher) tick(ctx context.Context, c *rpc.Client) error {
	net := w.cfg.Network.ID
	var slot uint64
	if err := w.retry(ctx, "getSlot", func(ctx context.Context) (err error) {
		slot, err = c.GetSlot(ctx, rpc.CommitmentConfirmed)
		return err
	}); err != nil {
		return err
	}
	if err := w.settle(ctx, c); err != nil {
		return err
	}
	wallets, err := w.ledger.Wallets(ctx, net)
	if err != nil {
		return err
	}
	var accounts []solana.PublicKey
	for _, wl := range wallets {
		owner, err := solana.PublicKeyFromBase58(wl.Address)
		if err != nil {
			w.cfg.Log.ErrorContext(ctx, "watcher: receiving wallet is not a public key; passed over", "address", wl.Address)
			continue
		}
		for _, m := range w.cfg.Mints {
			mint, err := solana.PublicKeyFromBase58(m)
			if err != nil {
				return fmt.Errorf("mint %q: %w", m, err)
			}
			ata, _, err := solana.FindAssociatedTokenAddress(owner, mint)
			if err != nil {
				return err
			}
			accounts = append(accounts, ata)
			if err := w.follow(ctx, c, account{wallet: owner, mint: mint, ata: ata, since: wl.Since.Add(-w.cfg.Backfill)}); err != nil {
				return fmt.Errorf("token account %s: %w", ata, err)
			}
		}
	}
	w.setAccounts(accounts)
	w.cfg.Monitor.Update(net, func(st *chains.NetworkStatus) {
		st.Head, st.Scanned, st.Lag, st.LastOKAt = int64(slot), int64(slot), 0, time.Now().UTC()
	})
	return nil
}

// setAccounts records the token accounts followed, and has the
// subscription follow them too when they changed.
func (w *Watcher) setAccounts(accounts []solana.PublicKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if slices.Equal(accounts, w.accounts) {
		return
	}
	w.accounts = accounts
	select {
	case w.resubscribe <- struct{}{}:
	default:
	}
}

// status is the payment status of a transaction at confirmation status s.
func (w *Watcher) status(s rpc.ConfirmationStatusType) invoice.PaymentStatus {
	if s == rpc.ConfirmationStatusFinalized || s == w.confirmAt {
		return invoice.PaymentConfirmed
	}
	return invoice.PaymentPending
}

// record reports t to the ledger. A transfer the store contradicts is logged
// and passed over rather than stopping the network's scan for good.
func (w *Watcher) record(ctx context.Context, t chains.Transfer) error {
	err := w.ledger.Record(ctx, t)
	if errors.Is(err, invoice.ErrConflict) {
		w.cfg.Log.ErrorContext(ctx, "watcher: transfer contradicts the store; passed over", "tx", t.TxID, "index", t.Index, "err", err)
		return nil
	}
	return err
}

func (w *Watcher) backoff(maxElapsed time.Duration) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = w.cfg.RetryInitial, w.cfg.RetryMax, maxElapsed
	return b
}

// retry runs call with a per-call timeout, retrying failures (network
// errors, timeouts, HTTP 429 and 5xx, JSON-RPC errors) with exponential
// backoff for up to RetryFor. Every failure is counted.
func (w *Watcher) retry(ctx context.Context, method string, call func(ctx context.Context) error) error {
	return backoff.Retry(func() error {
		cctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
		defer cancel()
		err := call(cctx)
		if err != nil && ctx.Err() == nil {
			var perm *backoff.PermanentError
			if !errors.As(err, &perm) {
				w.cfg.Monitor.RPCError(w.cfg.Network.ID, method, err)
			}
		}
		if ctx.Err() != nil {
			return backoff.Permanent(ctx.Err())
		}
		return err
	}, backoff.WithContext(w.backoff(w.cfg.RetryFor), ctx))
}

// sleep waits d, or less when ctx ends; it reports whether ctx is still on.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// redact drops what may be a credential from an RPC URL (providers put API
// keys in the path or query) for logs.
func redact(u string) string {
	for i, c := range u {
		if i > 8 && (c == '/' || c == '?') {
			return u[:i] + "/…"
		}
	}
	return u
}
