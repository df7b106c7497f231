package evm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// The on-chain audit (`settle reconcile`) reads the chain again, compares it
// with what the store recorded, and reports every difference. It only reads:
// correcting the store is the watcher's work, or a person's.

// AuditClient is what the audit reads of a chain; *ethclient.Client and the
// devchain's client satisfy it.
type AuditClient interface {
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	TransactionReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error)
	FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error)
}

// AuditConfig says what to audit.
type AuditConfig struct {
	Network chains.Network
	// Methods are the network's payment methods with their tokens; Transfer
	// logs of other contracts are not payments.
	Methods []chains.Method
	// MerchantID narrows the audit to one merchant's records and addresses;
	// "" audits every merchant on the network.
	MerchantID string
	// FromBlock and ToBlock bound the audit, both included.
	FromBlock, ToBlock int64

	MaxRange     int64 // blocks per eth_getLogs (default 1000); halved when the provider refuses
	MaxAddresses int   // recipients per eth_getLogs (default 500)
	Workers      int   // receipts read at once (default 8)
}

// Dial connects to the endpoint's http URL and checks that it serves n's
// chain (ErrWrongChain otherwise).
func Dial(ctx context.Context, n chains.Network, e chains.Endpoint) (*ethclient.Client, error) {
	return dial(ctx, n, e)
}

// BlockRange maps the times [from, to) to the blocks whose timestamps fall
// in it, by binary search over header times (block timestamps never
// decrease). It returns first > last when no block falls in the range.
func BlockRange(ctx context.Context, c AuditClient, from, to time.Time) (first, last int64, err error) {
	var head *types.Header
	if err := retry(ctx, func() (err error) { head, err = c.HeaderByNumber(ctx, nil); return err }); err != nil {
		return 0, 0, fmt.Errorf("head: %w", err)
	}
	// atOrAfter returns the first block whose time is not before t, or
	// head+1.
	atOrAfter := func(t time.Time) (int64, error) {
		lo, hi := int64(0), head.Number.Int64()+1
		for lo < hi {
			mid := lo + (hi-lo)/2
			var h *types.Header
			if err := retry(ctx, func() (err error) { h, err = c.HeaderByNumber(ctx, big.NewInt(mid)); return err }); err != nil {
				return 0, fmt.Errorf("block %d: %w", mid, err)
			}
			if time.Unix(int64(h.Time), 0).Before(t) {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo, nil
	}
	if first, err = atOrAfter(from); err != nil {
		return 0, 0, err
	}
	end, err := atOrAfter(to)
	return first, end - 1, err
}

// record is a recorded transfer, payment or unmatched.
type record struct {
	id, invoiceID string
	method        chains.Method
	txID          string
	index         int64
	to            string
	amount        invoice.Units
	status        invoice.PaymentStatus
	block         int64
	blockHash     string
}

type key struct {
	tx    string
	index int64
}

// Audit compares what the store recorded on cfg.Network in the block range
// with the chain. Every recorded transfer (payment or unmatched) is read
// again from its receipt and log; every Transfer of the network's tokens to
// the receiving addresses in the range is summed and looked up in the store.
// A transfer recorded as reversed whose block is indeed gone is consistent.
// The report lists discrepancies in block order.
func Audit(ctx context.Context, c AuditClient, store chains.AuditRecords, cfg AuditConfig) (chains.AuditReport, error) {
	cfg.MaxRange = cmp.Or(max(cfg.MaxRange, 0), 1000)
	cfg.MaxAddresses = cmp.Or(max(cfg.MaxAddresses, 0), 500)
	cfg.Workers = cmp.Or(max(cfg.Workers, 0), 8)
	net := cfg.Network.ID
	rep := chains.AuditReport{Network: net, MerchantID: cfg.MerchantID, FromBlock: cfg.FromBlock, ToBlock: cfg.ToBlock,
		Totals: []chains.AuditTotal{}, Discrepancies: []chains.Discrepancy{}}
	byToken, byMethod := map[common.Address]chains.Method{}, map[string]chains.Method{}
	for _, m := range cfg.Methods {
		if m.Network == net && m.Token != "" {
			byToken[common.HexToAddress(m.Token)] = m
			byMethod[m.ID] = m
		}
	}
	if len(byToken) == 0 {
		return rep, fmt.Errorf("audit %s: no token to audit", net)
	}
	payments, unmatched, err := store.Recorded(ctx, net, cfg.MerchantID, cfg.FromBlock, cfg.ToBlock)
	if err != nil {
		return rep, err
	}
	rep.Payments, rep.Unmatched = len(payments), len(unmatched)
	inRange := records(payments, unmatched, byMethod)
	addresses, err := store.Receiving(ctx, net, cfg.MerchantID)
	if err != nil {
		return rep, err
	}
	rep.Addresses = len(addresses)
	onChain, err := transfers(ctx, c, cfg, slices.Collect(maps.Keys(byToken)), addresses)
	if err != nil {
		return rep, err
	}

	// A transfer on chain whose record is not in range (its record names an
	// older block) is looked up by transaction.
	recorded := map[key][]*record{}
	all := slices.Clone(inRange)
	for _, r := range inRange {
		recorded[key{r.txID, r.index}] = append(recorded[key{r.txID, r.index}], r)
	}
	var lookup []string
	seen := map[string]bool{}
	for _, lg := range onChain {
		if k := (key{lg.TxHash.Hex(), int64(lg.Index)}); recorded[k] == nil && !seen[k.tx] {
			seen[k.tx] = true
			lookup = append(lookup, k.tx)
		}
	}
	if len(lookup) > 0 {
		p, u, err := store.RecordedTx(ctx, net, cfg.MerchantID, lookup)
		if err != nil {
			return rep, err
		}
		for _, r := range records(p, u, byMethod) {
			if k := (key{r.txID, r.index}); !slices.ContainsFunc(recorded[k], func(o *record) bool { return o.id == r.id }) {
				recorded[k] = append(recorded[k], r)
				all = append(all, r)
			}
		}
	}

	found, err := checkRecords(ctx, c, cfg, all, byToken)
	if err != nil {
		return rep, err
	}
	reported := map[key]bool{}
	for _, d := range found {
		reported[key{d.TxID, d.Index}] = true
	}
	rep.Discrepancies = append(rep.Discrepancies, found...)

	// Totals, and the transfers on chain that the store does not count.
	sums := chains.AuditSums{}
	for _, r := range inRange {
		if r.status != invoice.PaymentReversed {
			sums.Recorded(r.method.Token, r.amount)
		}
	}
	for _, lg := range onChain {
		m := byToken[lg.Address]
		amount := invoice.BigUnits(new(big.Int).SetBytes(lg.Data))
		sums.Chain(m.Token, amount)
		k := key{lg.TxHash.Hex(), int64(lg.Index)}
		counted := slices.ContainsFunc(recorded[k], func(r *record) bool { return r.status != invoice.PaymentReversed })
		if counted || reported[k] {
			continue
		}
		to := common.BytesToAddress(lg.Topics[2].Bytes()).Hex()
		d := chains.Discrepancy{Kind: chains.NotRecorded, Network: net, TxID: k.tx, Index: k.index, Block: int64(lg.BlockNumber),
			Asset: m.Asset, Decimals: m.Decimals, Chain: amount.String(), Detail: "transfer to " + to + " is not recorded",
			Transfer: &chains.Transfer{Network: net, Token: lg.Address.Hex(), TxID: k.tx, Index: k.index,
				Block: int64(lg.BlockNumber), BlockHash: lg.BlockHash.Hex(),
				From: common.BytesToAddress(lg.Topics[1].Bytes()).Hex(), To: to, Amount: amount}}
		if rs := recorded[k]; len(rs) > 0 {
			d.PaymentID, d.InvoiceID = rs[0].id, rs[0].invoiceID
			d.Detail += fmt.Sprintf(" (recorded as reversed in block %d)", rs[0].block)
		}
		rep.Discrepancies = append(rep.Discrepancies, d)
	}
	rep.Finish(cfg.Methods, sums)
	return rep, nil
}

// records turns payments and unmatched payments into records.
func records(payments []invoice.Payment, unmatched []chains.Unmatched, byMethod map[string]chains.Method) []*record {
	out := make([]*record, 0, len(payments)+len(unmatched))
	for _, p := range payments {
		out = append(out, &record{id: p.ID, invoiceID: p.InvoiceID, method: method(byMethod, p.Method, p.Asset, p.Decimals),
			txID: p.TxID, index: p.Index, to: p.To, amount: p.Amount, status: p.Status, block: p.Block, blockHash: p.BlockHash})
	}
	for _, u := range unmatched {
		out = append(out, &record{id: u.ID, method: method(byMethod, u.Method, u.Asset, u.Decimals),
			txID: u.TxID, index: u.Index, to: u.To, amount: u.Amount, status: u.Status, block: u.Block, blockHash: u.BlockHash})
	}
	return out
}

// method returns the catalogue's method id, or one with no token (which no
// log can match) for a method the catalogue does not know.
func method(byMethod map[string]chains.Method, id, asset string, decimals int) chains.Method {
	if m, ok := byMethod[id]; ok {
		return m
	}
	return chains.Method{ID: id, Asset: asset, Decimals: decimals}
}

// transfers reads every ERC-20 Transfer of tokens to addresses in the
// configured blocks, in bounded ranges and batches of recipients.
func transfers(ctx context.Context, c AuditClient, cfg AuditConfig, tokens []common.Address, addresses []string) ([]types.Log, error) {
	var out []types.Log
	for len(addresses) > 0 {
		n := min(cfg.MaxAddresses, len(addresses))
		recipients := make([]common.Hash, n)
		for i, a := range addresses[:n] {
			recipients[i] = common.BytesToHash(common.HexToAddress(a).Bytes())
		}
		addresses = addresses[n:]
		rng := cfg.MaxRange
		for from := cfg.FromBlock; from <= cfg.ToBlock; {
			to := min(cfg.ToBlock, from+rng-1)
			q := ethereum.FilterQuery{FromBlock: big.NewInt(from), ToBlock: big.NewInt(to),
				Addresses: tokens, Topics: [][]common.Hash{{TransferTopic}, nil, recipients}}
			var logs []types.Log
			err := retry(ctx, func() (err error) {
				if logs, err = c.FilterLogs(ctx, q); refused(err) && to > from {
					return backoff.Permanent(err) // a range too wide: halved below
				}
				return err
			})
			if refused(err) && to > from {
				rng = max(1, (to-from+1)/2)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("eth_getLogs %d–%d: %w", from, to, err)
			}
			for _, lg := range logs {
				if !lg.Removed && len(lg.Topics) == 3 && len(lg.Data) == 32 {
					out = append(out, lg)
				}
			}
			from = to + 1
		}
	}
	return out, nil
}

// checkRecords reads each record's transaction receipt again (several at
// once) and returns the discrepancies found.
func checkRecords(ctx context.Context, c AuditClient, cfg AuditConfig, recs []*record, byToken map[common.Address]chains.Method) ([]chains.Discrepancy, error) {
	txs := map[string][]*record{}
	for _, r := range recs {
		txs[r.txID] = append(txs[r.txID], r)
	}
	var (
		mu    sync.Mutex
		out   []chains.Discrepancy
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, cfg.Workers)
	)
	for tx, rs := range txs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var found []chains.Discrepancy
			var rcpt *types.Receipt
			err := retry(ctx, func() (err error) { rcpt, err = c.TransactionReceipt(ctx, common.HexToHash(tx)); return err })
			if errors.Is(err, ethereum.NotFound) {
				rcpt, err = nil, nil
			}
			for _, r := range rs {
				if err != nil {
					break
				}
				var d *chains.Discrepancy
				if d, err = check(ctx, c, cfg.Network.ID, r, rcpt, byToken); d != nil {
					found = append(found, *d)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			out = append(out, found...)
			if err != nil && first == nil {
				first = fmt.Errorf("audit tx %s: %w", tx, err)
			}
		})
	}
	wg.Wait()
	return out, first
}

// check compares one record with its transaction's receipt (nil when the
// chain has no such transaction).
func check(ctx context.Context, c AuditClient, net string, r *record, rcpt *types.Receipt, byToken map[common.Address]chains.Method) (*chains.Discrepancy, error) {
	d := &chains.Discrepancy{Network: net, TxID: r.txID, Index: r.index, Block: r.block, PaymentID: r.id, InvoiceID: r.invoiceID,
		Asset: r.method.Asset, Decimals: r.method.Decimals, Recorded: r.amount.String()}
	var lg *types.Log
	if rcpt != nil && rcpt.Status == types.ReceiptStatusSuccessful {
		for _, l := range rcpt.Logs {
			if int64(l.Index) == r.index {
				lg = l
			}
		}
	}
	var chainAmount invoice.Units
	same := lg != nil && len(lg.Topics) == 3 && lg.Topics[0] == TransferTopic && len(lg.Data) == 32 &&
		byToken[lg.Address].ID == r.method.ID && r.method.Token != "" &&
		common.BytesToAddress(lg.Topics[2].Bytes()) == common.HexToAddress(r.to)
	if same {
		chainAmount = invoice.BigUnits(new(big.Int).SetBytes(lg.Data))
	}

	if r.status == invoice.PaymentReversed {
		// Consistent unless the chain holds the transfer after all.
		if !same {
			return nil, nil
		}
		d.Kind, d.Chain, d.Block = chains.NotRecorded, chainAmount.String(), rcpt.BlockNumber.Int64()
		d.Detail = fmt.Sprintf("recorded as reversed, but block %d holds the transfer", d.Block)
		return d, nil
	}
	switch {
	case rcpt == nil:
		canonical, err := canonicalHash(ctx, c, r.block)
		if err != nil {
			return nil, err
		}
		if r.blockHash != "" && !strings.EqualFold(canonical, r.blockHash) {
			d.Kind, d.Detail = chains.Reversed, fmt.Sprintf("block %d %s left the chain and the transaction is in no block", r.block, short(r.blockHash))
		} else {
			d.Kind, d.Detail = chains.MissingOnChain, "the chain has no such transaction"
		}
	case rcpt.Status != types.ReceiptStatusSuccessful:
		d.Kind, d.Detail = chains.MissingOnChain, "the transaction failed on chain"
	case !strings.EqualFold(rcpt.BlockHash.Hex(), r.blockHash):
		d.Kind = chains.Reversed
		d.Detail = fmt.Sprintf("block %d %s left the chain; the transaction is now in block %d", r.block, short(r.blockHash), rcpt.BlockNumber.Int64())
		if same {
			d.Chain = chainAmount.String()
		}
	case !same:
		d.Kind = chains.MissingOnChain
		d.Detail = fmt.Sprintf("log %d of the transaction is no Transfer of %s to %s", r.index, r.method.Asset, r.to)
	case chainAmount.Cmp(r.amount) != 0:
		d.Kind, d.Chain = chains.AmountDiffers, chainAmount.String()
		d.Detail = fmt.Sprintf("recorded %s %s, the chain shows %s", r.amount.Format(r.method.Decimals), r.method.Asset,
			chainAmount.Format(r.method.Decimals))
	default:
		return nil, nil
	}
	return d, nil
}

// canonicalHash returns the hash of block n on the canonical chain, or ""
// when the chain is shorter.
func canonicalHash(ctx context.Context, c AuditClient, n int64) (string, error) {
	var h *types.Header
	err := retry(ctx, func() (err error) { h, err = c.HeaderByNumber(ctx, big.NewInt(n)); return err })
	if errors.Is(err, ethereum.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return h.Hash().Hex(), nil
}

// retry runs call, retrying failures (timeouts, rate limits, dropped
// connections) with exponential backoff for up to a minute. "Not found"
// is an answer, not a failure.
func retry(ctx context.Context, call func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 100*time.Millisecond, 5*time.Second, time.Minute
	return backoff.Retry(func() error {
		err := call()
		if errors.Is(err, ethereum.NotFound) || ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx))
}

// short abbreviates a hash for a detail line.
func short(h string) string {
	if len(h) > 12 {
		return h[:10] + "…"
	}
	return h
}
