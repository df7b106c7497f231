// Package evm watches EVM networks for ERC-20 Transfer logs of the
// catalogue's stablecoins, with go-ethereum's ethclient, and reports them to
// the chains ledger: pending at inclusion, confirmed at depth (or at the
// finalized tag), reversed when their block leaves the canonical chain.
//
// Reading is at-least-once and resumes from checkpoints stored with their
// block hashes, so a restart misses nothing and a reorg is found even when it
// happened while settle was down. One instance scans a network at a time,
// under a lease in the database.
package evm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// TransferTopic is the ERC-20 Transfer(address,address,uint256) event id.
var TransferTopic = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))

// Ledger is what the watcher needs from the store (chains.Ledger).
type Ledger interface {
	Record(ctx context.Context, t chains.Transfer) error
	Pending(ctx context.Context, network string) ([]chains.Transfer, error)
	Watched(ctx context.Context, network string, max int) ([]string, error)
	Checkpoints(ctx context.Context, network string) ([]chains.Checkpoint, error)
	Advance(ctx context.Context, cp chains.Checkpoint, keep int) error
	Rewind(ctx context.Context, network string, block int64) error
	Lease(ctx context.Context, network, holder string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, network, holder string) error
}

// Config is one network's watcher.
type Config struct {
	Network  chains.Network // Confirmations already overridden by the endpoint
	Endpoint chains.Endpoint
	Tokens   []string // contracts whose Transfer logs are read
	Holder   string   // this instance, for the lease

	MaxRange     int64         // blocks per eth_getLogs (default 1000); halved when the provider refuses
	PollInterval time.Duration // head polling (default 2 s); new heads over ws wake it sooner
	MaxWatched   int           // filter logs by recipient up to this many addresses (default 500)
	LeaseTTL     time.Duration // default 15 s
	CallTimeout  time.Duration // per RPC call (default 10 s)
	Keep         int           // checkpoints kept (default 256)
	// MaxProviderLag demotes, with several providers, one whose head lags
	// the best one's by more than this many blocks (default 8).
	MaxProviderLag int64
	// StartBlock is where a network never scanned before starts; 0 means
	// the head less the confirmation depth.
	StartBlock int64

	Monitor *chains.Monitor
	Log     *slog.Logger
}

// ErrWrongChain is returned when the RPC serves another chain than the
// network's preset.
var ErrWrongChain = errors.New("rpc serves another chain")

// Watcher follows one EVM network.
type Watcher struct {
	cfg    Config
	ledger Ledger
	tokens []common.Address
	wake   chan struct{}
	rng    int64

	// What the store holds for this network, kept while this watcher holds
	// the lease (only the holder writes it), so that a tick reads the store
	// only for what can change under it (the addresses to watch): fresh is
	// false until the first tick after taking the lease, and after any
	// failed tick, when everything is read again.
	fresh     bool
	cps       []chains.Checkpoint // newest first, as Checkpoints returns them
	pending   bool                // there may be pending transfers (settle reads them)
	headHash  string              // the head the last complete tick reached
	providers *Providers          // with several RPC providers
	advances  int                 // checkpoints written since the last pruning
}

// New returns a watcher for cfg reporting to ledger.
func New(cfg Config, ledger Ledger) *Watcher {
	if cfg.MaxRange <= 0 {
		cfg.MaxRange = 1000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.MaxWatched <= 0 {
		cfg.MaxWatched = 500
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 256
	}
	if cfg.MaxProviderLag <= 0 {
		cfg.MaxProviderLag = 8
	}
	if cfg.Monitor == nil {
		cfg.Monitor = chains.NewMonitor(nil)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Log = cfg.Log.With("network", cfg.Network.ID)
	w := &Watcher{cfg: cfg, ledger: ledger, wake: make(chan struct{}, 1), rng: cfg.MaxRange}
	for _, t := range cfg.Tokens {
		w.tokens = append(w.tokens, common.HexToAddress(t))
	}
	return w
}

// CheckChain dials endpoint and verifies it serves the network's chain id.
func CheckChain(ctx context.Context, n chains.Network, e chains.Endpoint) error {
	c, err := dial(ctx, n, e)
	if err == nil {
		c.Close()
	}
	return err
}

// dial connects to the endpoint's http URL and checks the chain id.
func dial(ctx context.Context, n chains.Network, e chains.Endpoint) (*ethclient.Client, error) {
	c, _, err := dialProviders(ctx, n, e, nil)
	return c, err
}

// dialProviders connects to the endpoint, through a Providers transport
// when it has several, and checks the chain id.
func dialProviders(ctx context.Context, n chains.Network, e chains.Endpoint, log *slog.Logger) (*ethclient.Client, *Providers, error) {
	var prov *Providers
	var c *ethclient.Client
	if len(e.Providers) > 1 {
		prov = NewProviders(e.Providers)
		prov.Quorum, prov.Log = e.Quorum, log
		rc, err := rpc.DialOptions(ctx, e.Providers[0], rpc.WithHTTPClient(&http.Client{Transport: prov}))
		if err != nil {
			return nil, nil, err
		}
		c = ethclient.NewClient(rc)
	} else {
		var err error
		if c, err = ethclient.DialContext(ctx, e.HTTP); err != nil {
			return nil, nil, err
		}
	}
	id, err := c.ChainID(ctx)
	if err == nil && id.Int64() != n.ChainID {
		err = fmt.Errorf("%w: %s reports chain id %s, %s is %d", ErrWrongChain, redact(e.HTTP), id, n.ID, n.ChainID)
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, prov, nil
}

// Run watches until ctx ends. It returns ErrWrongChain when the RPC serves
// another chain; every other failure (an RPC down for hours included) is
// retried with backoff, so Run returns nil otherwise.
func (w *Watcher) Run(ctx context.Context) error {
	var c *ethclient.Client
	var prov *Providers
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 500*time.Millisecond, time.Minute, 0
	for c == nil {
		dctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
		var err error
		c, prov, err = dialProviders(dctx, w.cfg.Network, w.cfg.Endpoint, w.cfg.Log)
		cancel()
		switch {
		case errors.Is(err, ErrWrongChain):
			return err
		case ctx.Err() != nil:
			return nil
		case err != nil:
			w.cfg.Monitor.RPCError(w.cfg.Network.ID, "eth_chainId", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(b.NextBackOff()):
			}
		}
	}
	defer c.Close()
	if prov != nil {
		prov.MaxLag = w.cfg.MaxProviderLag
		go prov.Heads(ctx, w.cfg.PollInterval)
		w.providers = prov
	}
	if w.cfg.Endpoint.WS != "" {
		go w.subscribe(ctx)
	}
	w.cfg.Monitor.Update(w.cfg.Network.ID, func(st *chains.NetworkStatus) {
		st.Confirmed = "depth"
		if w.cfg.Endpoint.Finalized {
			st.Confirmed = "finalized"
		}
	})
	defer w.ledger.Release(context.WithoutCancel(ctx), w.cfg.Network.ID, w.cfg.Holder) //nolint:errcheck // the lease runs out by itself

	fails := backoff.NewExponentialBackOff()
	fails.InitialInterval, fails.MaxInterval, fails.MaxElapsedTime = 500*time.Millisecond, 30*time.Second, 0
	poll := time.NewTicker(w.cfg.PollInterval)
	defer poll.Stop()
	var leased time.Time // when the lease was last taken or renewed
	for {
		wait := time.Duration(0)
		held, err := true, error(nil)
		if time.Since(leased) > w.cfg.LeaseTTL/3 {
			if held, err = w.ledger.Lease(ctx, w.cfg.Network.ID, w.cfg.Holder, w.cfg.LeaseTTL); held {
				leased = time.Now()
			} else {
				w.fresh = false // another instance writes meanwhile
			}
		}
		if err == nil && held {
			if err = w.tick(ctx, c); err != nil {
				w.fresh = false
			}
		}
		w.cfg.Monitor.Update(w.cfg.Network.ID, func(st *chains.NetworkStatus) {
			st.Leased = err == nil && held
			if w.providers != nil {
				st.Providers = w.providers.Status()
			}
		})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			wait = fails.NextBackOff()
			w.cfg.Log.WarnContext(ctx, "watcher: scan failed, retrying", "err", err, "in", wait)
			w.cfg.Monitor.Update(w.cfg.Network.ID, func(st *chains.NetworkStatus) {
				st.LastError, st.LastErrAt = err.Error(), time.Now().UTC()
			})
		default:
			fails.Reset()
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		case <-w.wake:
		}
	}
}

// subscribe wakes the scan loop on every new head, over the ws endpoint,
// reconnecting with backoff. Polling goes on regardless.
func (w *Watcher) subscribe(ctx context.Context) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = time.Second, time.Minute, 0
	for ctx.Err() == nil {
		err := w.follow(ctx)
		w.cfg.Monitor.Update(w.cfg.Network.ID, func(st *chains.NetworkStatus) { st.Subscribed = false })
		if ctx.Err() != nil {
			return
		}
		d := b.NextBackOff()
		w.cfg.Log.WarnContext(ctx, "watcher: head subscription lost, polling meanwhile", "err", err, "retry_in", d)
		w.cfg.Monitor.RPCError(w.cfg.Network.ID, "eth_subscribe", err)
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
}

func (w *Watcher) follow(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	c, err := ethclient.DialContext(dctx, w.cfg.Endpoint.WS)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	heads := make(chan *types.Header, 16)
	sub, err := c.SubscribeNewHead(ctx, heads)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	w.cfg.Monitor.Update(w.cfg.Network.ID, func(st *chains.NetworkStatus) { st.Subscribed = true })
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-sub.Err():
			if err == nil {
				err = errors.New("subscription closed")
			}
			return err
		case <-heads:
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// tick brings the network up to date once: reorg check, pending payments,
// then new blocks up to the head.
func (w *Watcher) tick(ctx context.Context, c *ethclient.Client) error {
	net := w.cfg.Network.ID
	head, err := w.header(ctx, c, nil)
	if err != nil {
		return err
	}
	var finalized int64 = -1
	if w.cfg.Endpoint.Finalized {
		f, err := w.header(ctx, c, big.NewInt(int64(rpc.FinalizedBlockNumber)))
		if err != nil {
			return err
		}
		finalized = f.Number.Int64()
	}
	headN := head.Number.Int64()
	if w.fresh && head.Hash().Hex() == w.headHash {
		// Nothing moved since the last tick: still up to date.
		w.cfg.Monitor.Update(net, func(st *chains.NetworkStatus) { st.LastOKAt = time.Now().UTC() })
		return nil
	}
	if !w.fresh {
		if w.cps, err = w.ledger.Checkpoints(ctx, net); err != nil {
			return err
		}
		w.pending, w.fresh = true, true
	}
	confirmed := func(block int64) bool {
		if finalized >= 0 {
			return block <= finalized
		}
		return headN-block+1 >= int64(w.cfg.Network.Confirmations)
	}
	cursor, err := w.cursor(ctx, c, headN)
	if err != nil {
		return err
	}
	if err := w.settle(ctx, c, headN, confirmed); err != nil {
		return err
	}
	for from := cursor + 1; from <= headN; {
		if err := ctx.Err(); err != nil {
			return err
		}
		to := min(headN, from+w.rng-1)
		n, err := w.scan(ctx, c, from, to, confirmed)
		if err != nil {
			return err
		}
		if n < to-from+1 {
			to = from + n - 1 // the range was narrowed
		}
		cursor, from = to, to+1
		w.cfg.Monitor.Update(net, func(st *chains.NetworkStatus) {
			st.Head, st.Scanned, st.Lag = headN, cursor, headN-cursor
		})
	}
	w.cfg.Monitor.Update(net, func(st *chains.NetworkStatus) {
		st.Head, st.Scanned, st.Lag, st.LastOKAt = headN, cursor, headN-cursor, time.Now().UTC()
	})
	w.headHash = head.Hash().Hex()
	return nil
}

// cursor returns the last block scanned, after checking that it is still
// canonical. After a reorg it rewinds to the newest checkpoint still on the
// chain. With no checkpoint yet, scanning starts at the head less the depth.
func (w *Watcher) cursor(ctx context.Context, c *ethclient.Client, head int64) (int64, error) {
	net := w.cfg.Network.ID
	cps := w.cps
	if len(cps) == 0 {
		start := max(0, head-int64(w.cfg.Network.Confirmations))
		if w.cfg.StartBlock > 0 {
			start = min(head, w.cfg.StartBlock-1)
		}
		h, err := w.header(ctx, c, big.NewInt(start))
		if err != nil {
			return 0, err
		}
		w.cfg.Log.InfoContext(ctx, "watcher: first scan", "from_block", start+1)
		return start, w.advance(ctx, chains.Checkpoint{Network: net, Block: start, Hash: h.Hash().Hex()})
	}
	for i, cp := range cps {
		canonical, err := w.canonical(ctx, c, cp.Block, head)
		if err != nil {
			return 0, err
		}
		if canonical == cp.Hash {
			if i > 0 {
				w.cfg.Log.WarnContext(ctx, "watcher: reorg, rescanning", "from_block", cp.Block+1, "replaced_checkpoint", cps[0].Block)
				if err := w.ledger.Rewind(ctx, net, cp.Block); err != nil {
					return 0, err
				}
				w.cps = cps[i:]
			}
			return cp.Block, nil
		}
	}
	// Deeper than every checkpoint kept: rescan them all.
	oldest := cps[len(cps)-1].Block - 1
	w.cfg.Log.ErrorContext(ctx, "watcher: reorg deeper than the checkpoints kept", "rescan_from", oldest+1)
	h, err := w.header(ctx, c, big.NewInt(max(0, oldest)))
	if err != nil {
		return 0, err
	}
	if err := w.ledger.Rewind(ctx, net, -1); err != nil {
		return 0, err
	}
	w.cps = nil
	return oldest, w.advance(ctx, chains.Checkpoint{Network: net, Block: oldest, Hash: h.Hash().Hex()})
}

// pruneEvery is how many checkpoints the watcher writes between two
// prunings of the older ones in the store.
const pruneEvery = 32

// advance records that the network is scanned up to cp, in the store and
// in the watcher's copy, keeping the newest Keep checkpoints (the store
// prunes every pruneEvery writes, so it holds a few more meanwhile).
func (w *Watcher) advance(ctx context.Context, cp chains.Checkpoint) error {
	keep := 0 // no pruning this time
	if w.advances++; w.advances >= pruneEvery {
		keep, w.advances = w.cfg.Keep, 0
	}
	if err := w.ledger.Advance(ctx, cp, keep); err != nil {
		return err
	}
	w.cps = append([]chains.Checkpoint{cp}, w.cps[:min(len(w.cps), w.cfg.Keep-1)]...)
	return nil
}

// canonical returns the hash of block number n on the canonical chain, or
// "" when the chain is shorter.
func (w *Watcher) canonical(ctx context.Context, c *ethclient.Client, n, head int64) (string, error) {
	if n > head {
		return "", nil
	}
	h, err := w.header(ctx, c, big.NewInt(n))
	if errors.Is(err, ethereum.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return h.Hash().Hex(), nil
}

// settle confirms pending transfers deep enough and reverses those whose
// block is no longer canonical.
func (w *Watcher) settle(ctx context.Context, c *ethclient.Client, head int64, confirmed func(int64) bool) error {
	if !w.pending {
		return nil // none since the last look, and only this watcher makes them
	}
	pending, err := w.ledger.Pending(ctx, w.cfg.Network.ID)
	if err != nil {
		return err
	}
	still := false
	defer func() {
		if err == nil {
			w.pending = still
		}
	}()
	hashes := map[int64]string{}
	for _, t := range pending {
		h, ok := hashes[t.Block]
		if !ok {
			if h, err = w.canonical(ctx, c, t.Block, head); err != nil {
				return err
			}
			hashes[t.Block] = h
		}
		switch {
		case h != t.BlockHash:
			t.Status = invoice.PaymentReversed
			w.cfg.Log.WarnContext(ctx, "watcher: payment left the chain", "tx", t.TxID, "block", t.Block)
		case confirmed(t.Block):
			t.Status = invoice.PaymentConfirmed
		default:
			still = true
			continue
		}
		if err = w.record(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// record reports t to the ledger. A transfer the store contradicts (the same
// log recorded with another amount) is logged and passed over rather than
// stopping the network's scan for good.
func (w *Watcher) record(ctx context.Context, t chains.Transfer) error {
	err := w.ledger.Record(ctx, t)
	if errors.Is(err, invoice.ErrConflict) {
		w.cfg.Log.ErrorContext(ctx, "watcher: transfer contradicts the store; passed over", "tx", t.TxID, "index", t.Index, "err", err)
		return nil
	}
	return err
}

// scan reads Transfer logs in [from, to], records them and advances the
// cursor. It returns how many blocks it covered: fewer than asked when the
// provider refused the range and it was halved.
func (w *Watcher) scan(ctx context.Context, c *ethclient.Client, from, to int64, confirmed func(int64) bool) (int64, error) {
	net := w.cfg.Network.ID
	watched, err := w.ledger.Watched(ctx, net, w.cfg.MaxWatched)
	if err != nil {
		return 0, err
	}
	topics := [][]common.Hash{{TransferTopic}}
	if watched != nil {
		if len(watched) == 0 {
			topics = append(topics, nil, []common.Hash{{}}) // nobody to watch: an empty answer, cheaply
		} else {
			recipients := make([]common.Hash, len(watched))
			for i, a := range watched {
				recipients[i] = common.BytesToHash(common.HexToAddress(a).Bytes())
			}
			topics = append(topics, nil, recipients)
		}
	}
	end, err := w.header(ctx, c, big.NewInt(to))
	if err != nil {
		return 0, err
	}
	var logs []types.Log
	for {
		q := ethereum.FilterQuery{FromBlock: big.NewInt(from), ToBlock: big.NewInt(to), Addresses: w.tokens, Topics: topics}
		err = w.retry(ctx, "eth_getLogs", func(ctx context.Context) error {
			var err error
			logs, err = c.FilterLogs(ctx, q)
			if refused(err) && to > from {
				return backoff.Permanent(err)
			}
			return err
		})
		if err == nil {
			break
		}
		if !refused(err) || to <= from {
			return 0, err
		}
		w.rng = max(1, (to-from+1)/2)
		w.cfg.Log.InfoContext(ctx, "watcher: provider refused the block range, halving", "blocks", to-from+1, "now", w.rng, "err", err)
		if to = from + w.rng - 1; to != end.Number.Int64() {
			if end, err = w.header(ctx, c, big.NewInt(to)); err != nil {
				return 0, err
			}
		}
	}
	// A reorg while reading would mix two chains: read the end again.
	again, err := w.header(ctx, c, big.NewInt(to))
	if err != nil {
		return 0, err
	}
	if again.Hash() != end.Hash() {
		return 0, errors.New("the chain changed while reading logs")
	}
	slices.SortFunc(logs, func(a, b types.Log) int {
		return cmp.Or(cmp.Compare(a.BlockNumber, b.BlockNumber), cmp.Compare(a.Index, b.Index))
	})
	now := time.Now().UTC()
	for _, lg := range logs {
		if lg.Removed || len(lg.Topics) != 3 || len(lg.Data) != 32 {
			continue // not an ERC-20 Transfer (ERC-721 has 4 topics)
		}
		t := chains.Transfer{
			Network: net, Token: lg.Address.Hex(), TxID: lg.TxHash.Hex(), Index: int64(lg.Index),
			Block: int64(lg.BlockNumber), BlockHash: lg.BlockHash.Hex(),
			From: common.BytesToAddress(lg.Topics[1].Bytes()).Hex(), To: common.BytesToAddress(lg.Topics[2].Bytes()).Hex(),
			Amount: invoice.BigUnits(new(big.Int).SetBytes(lg.Data)), Status: invoice.PaymentPending, ObservedAt: now,
		}
		if confirmed(t.Block) {
			t.Status = invoice.PaymentConfirmed
		} else {
			w.pending = true
		}
		if err := w.record(ctx, t); err != nil {
			return 0, err
		}
	}
	if err := w.advance(ctx, chains.Checkpoint{Network: net, Block: to, Hash: end.Hash().Hex()}); err != nil {
		return 0, err
	}
	return to - from + 1, nil
}

// header reads a header (nil: the latest), with retries.
func (w *Watcher) header(ctx context.Context, c *ethclient.Client, n *big.Int) (*types.Header, error) {
	var h *types.Header
	err := w.retry(ctx, "eth_getBlockByNumber", func(ctx context.Context) error {
		var err error
		h, err = c.HeaderByNumber(ctx, n)
		if errors.Is(err, ethereum.NotFound) {
			return backoff.Permanent(err)
		}
		return err
	})
	return h, err
}

// retry runs call with a per-call timeout, retrying failures (network
// errors, timeouts, rate limits, server errors) with exponential backoff for
// up to a minute. Every failure is counted.
func (w *Watcher) retry(ctx context.Context, method string, call func(ctx context.Context) error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 100*time.Millisecond, 5*time.Second, time.Minute
	return backoff.Retry(func() error {
		cctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
		defer cancel()
		err := call(cctx)
		if err != nil && ctx.Err() == nil {
			w.cfg.Monitor.RPCError(w.cfg.Network.ID, method, err)
		}
		if ctx.Err() != nil {
			return backoff.Permanent(ctx.Err())
		}
		return err
	}, backoff.WithContext(b, ctx))
}

// refused reports whether the provider answered a call with a JSON-RPC
// error (as it does for a block range or result set above its limit),
// rather than failing to answer.
func refused(err error) bool {
	var rerr rpc.Error
	return errors.As(err, &rerr)
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
