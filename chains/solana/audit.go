package solana

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// The on-chain audit (`settle reconcile`) of a Solana network reads the
// cluster again, compares it with what the store recorded, and reports
// every difference, as the EVM audit does (chains/evm/audit.go), whose
// report it mirrors field for field: Block is the slot, TxID the signature
// and Index the recipient token account's position among the transaction's
// keys. It only reads.
//
// The time range is applied with the cluster's own block times: the
// signatures of each receiving wallet's associated token accounts carry
// theirs, and a recorded transaction's time is its block time from
// getTransaction. Only a recorded transaction the cluster does not know is
// placed by its recorded slot's time (getBlockTime); when that slot has no
// block either, the record is audited (and reported). Both sides are read at
// the confirmed commitment, the one the watcher records pending payments
// at, so a payment of the last seconds before finalization is not taken for
// missing.

// AuditClient is what the audit reads of a cluster; *rpc.Client satisfies
// it.
type AuditClient interface {
	GetSignaturesForAddressWithOpts(ctx context.Context, account solana.PublicKey, opts *rpc.GetSignaturesForAddressOpts) ([]*rpc.TransactionSignature, error)
	GetParsedTransaction(ctx context.Context, sig solana.Signature, opts *rpc.GetParsedTransactionOpts) (*rpc.GetParsedTransactionResult, error)
	GetBlockTime(ctx context.Context, slot uint64) (*solana.UnixTimeSeconds, error)
}

// AuditConfig says what to audit. Zero fields take the defaults given.
type AuditConfig struct {
	Network chains.Network
	// Methods are the network's payment methods with their mints; token
	// accounts of other mints are not read.
	Methods []chains.Method
	// MerchantID narrows the audit to one merchant's records and wallets;
	// "" audits every merchant on the network.
	MerchantID string
	// From and To bound the audit by block time, From included, To not.
	From, To time.Time

	PageSize    int           // signatures per getSignaturesForAddress (default 1000, the most)
	Workers     int           // transactions read at once (default 8)
	CallTimeout time.Duration // per RPC call (default 10 s)
	// RetryInitial, RetryMax and RetryFor shape the backoff of a failed call,
	// HTTP 429 included (defaults 200 ms, 5 s, 1 min).
	RetryInitial, RetryMax, RetryFor time.Duration
}

// Dial connects to the endpoint's HTTP URL and checks that it serves n's
// cluster (ErrWrongChain otherwise).
func Dial(ctx context.Context, n chains.Network, e chains.Endpoint) (*rpc.Client, error) {
	c := rpc.New(e.HTTP)
	if err := checkGenesis(ctx, c, n, e); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// record is a recorded transfer, payment or unmatched.
type record struct {
	id, invoiceID string
	unmatched     bool
	method        chains.Method
	txID          string
	index         int64
	to            string // the wallet
	amount        invoice.Units
	status        invoice.PaymentStatus
	block         int64
}

type key struct {
	tx    string
	index int64
}

// credit is a transfer the cluster shows into a followed token account.
type credit struct {
	key
	method chains.Method
	to     account
	amount invoice.Units
	slot   int64
}

// auditor holds what one audit read of the cluster.
type auditor struct {
	c        AuditClient
	cfg      AuditConfig
	store    chains.AuditRecords
	mints    []solana.PublicKey
	byMint   map[solana.PublicKey]chains.Method
	byMethod map[string]chains.Method
	order    []solana.Signature                                   // of the transactions in range, as listed
	txs      map[solana.Signature]*rpc.GetParsedTransactionResult // nil: the cluster does not know it
	times    map[uint64]*solana.UnixTimeSeconds                   // block times by slot; nil: none
}

// Audit compares what the store recorded on cfg.Network in the time range
// with the cluster. Every recorded transfer (payment or unmatched) is read
// again from its transaction and token balances; every transfer into the
// receiving wallets' associated token accounts in the range is summed and
// looked up in the store by signature and key index. A transfer recorded as
// reversed whose transaction is gone or failed is consistent. The report
// lists discrepancies in slot order.
func Audit(ctx context.Context, c AuditClient, store chains.AuditRecords, cfg AuditConfig) (chains.AuditReport, error) {
	if cfg.PageSize <= 0 || cfg.PageSize > 1000 {
		cfg.PageSize = 1000
	}
	cfg.Workers = cmp.Or(max(cfg.Workers, 0), 8)
	cfg.CallTimeout = cmp.Or(max(cfg.CallTimeout, 0), 10*time.Second)
	cfg.RetryInitial = cmp.Or(max(cfg.RetryInitial, 0), 200*time.Millisecond)
	cfg.RetryMax = cmp.Or(max(cfg.RetryMax, 0), 5*time.Second)
	cfg.RetryFor = cmp.Or(max(cfg.RetryFor, 0), time.Minute)
	net := cfg.Network.ID
	rep := chains.AuditReport{Network: net, MerchantID: cfg.MerchantID, FromBlock: math.MaxInt64, ToBlock: -1,
		Totals: []chains.AuditTotal{}, Discrepancies: []chains.Discrepancy{}}
	a := &auditor{c: c, cfg: cfg, store: store, byMint: map[solana.PublicKey]chains.Method{}, byMethod: map[string]chains.Method{},
		txs: map[solana.Signature]*rpc.GetParsedTransactionResult{}, times: map[uint64]*solana.UnixTimeSeconds{}}
	for _, m := range cfg.Methods {
		if m.Network == net && m.Token != "" {
			mint, err := solana.PublicKeyFromBase58(m.Token)
			if err != nil {
				return rep, fmt.Errorf("audit %s: mint %q: %w", net, m.Token, err)
			}
			a.byMint[mint], a.byMethod[m.ID] = m, m
			a.mints = append(a.mints, mint)
		}
	}
	if len(a.mints) == 0 {
		return rep, fmt.Errorf("audit %s: no token to audit", net)
	}
	wallets, err := store.Receiving(ctx, net, cfg.MerchantID)
	if err != nil {
		return rep, err
	}
	rep.Addresses = len(wallets)
	credits, before, after, err := a.credits(ctx, wallets)
	if err != nil {
		return rep, fmt.Errorf("audit %s: %w", net, err)
	}
	recs, err := a.records(ctx, credits, before, after)
	if err != nil {
		return rep, fmt.Errorf("audit %s: %w", net, err)
	}

	sums := chains.AuditSums{}
	recorded, reported := map[key][]*record{}, map[key]bool{}
	for _, r := range recs {
		if r.unmatched {
			rep.Unmatched++
		} else {
			rep.Payments++
		}
		k := key{r.txID, r.index}
		recorded[k] = append(recorded[k], r)
		rep.FromBlock, rep.ToBlock = min(rep.FromBlock, r.block), max(rep.ToBlock, r.block)
		if r.status != invoice.PaymentReversed {
			sums.Recorded(r.method.Token, r.amount)
		}
		if d := check(net, r, a.tx(r.txID)); d != nil {
			reported[k] = true
			rep.Discrepancies = append(rep.Discrepancies, *d)
		}
	}
	// Totals, and the transfers on chain that the store does not count.
	for _, cr := range credits {
		rep.FromBlock, rep.ToBlock = min(rep.FromBlock, cr.slot), max(rep.ToBlock, cr.slot)
		sums.Chain(cr.method.Token, cr.amount)
		counted := slices.ContainsFunc(recorded[cr.key], func(r *record) bool { return r.status != invoice.PaymentReversed })
		if !counted && !reported[cr.key] {
			rep.Discrepancies = append(rep.Discrepancies, chains.Discrepancy{Kind: chains.NotRecorded, Network: net, TxID: cr.tx,
				Index: cr.index, Block: cr.slot, Asset: cr.method.Asset, Decimals: cr.method.Decimals, Chain: cr.amount.String(),
				Detail: fmt.Sprintf("transfer to %s (token account %s) is not recorded", cr.to.wallet, cr.to.ata)})
		}
	}
	if rep.FromBlock > rep.ToBlock {
		rep.FromBlock, rep.ToBlock = 0, -1
	}
	rep.Finish(cfg.Methods, sums)
	return rep, nil
}

// credits returns the transfers into every wallet's associated token
// account of every mint in the range, once each, with the highest slot seen
// before the range (-1 when none) and the lowest seen after it (MaxInt64
// when none).
func (a *auditor) credits(ctx context.Context, wallets []string) (out []credit, before, after int64, err error) {
	before, after = -1, math.MaxInt64
	listed := map[solana.Signature][]account{}
	for _, w := range wallets {
		owner, err := solana.PublicKeyFromBase58(w)
		if err != nil {
			continue // not a wallet: nothing can pay into it
		}
		for _, mint := range a.mints {
			ata, _, err := solana.FindAssociatedTokenAddress(owner, mint)
			if err != nil {
				return nil, 0, 0, err
			}
			sigs, lo, hi, err := a.signatures(ctx, ata)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("token account %s: %w", ata, err)
			}
			before, after = max(before, lo), min(after, hi)
			for _, s := range sigs {
				if listed[s] == nil {
					a.order = append(a.order, s)
				}
				listed[s] = append(listed[s], account{wallet: owner, mint: mint, ata: ata})
			}
		}
	}
	if err := a.load(ctx, a.order); err != nil {
		return nil, 0, 0, err
	}
	for _, s := range a.order {
		tx := a.txs[s]
		if tx == nil {
			return nil, 0, 0, fmt.Errorf("the cluster lists %s but has no such transaction", s)
		}
		for _, acct := range listed[s] {
			t, ok, err := transfer(tx, acct)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("transaction %s: %w", s, err)
			}
			if ok {
				out = append(out, credit{key: key{s.String(), t.Index}, method: a.byMint[acct.mint], to: acct,
					amount: t.Amount, slot: t.Block})
			}
		}
	}
	return out, before, after, nil
}

// records returns what the store recorded in the range: between the slots
// known to be out of it, and whatever it recorded of the transactions in it,
// each read again from the cluster and kept when the cluster places it in
// the range.
func (a *auditor) records(ctx context.Context, credits []credit, before, after int64) ([]*record, error) {
	net, merchant := a.cfg.Network.ID, a.cfg.MerchantID
	payments, unmatched, err := a.store.Recorded(ctx, net, merchant, before+1, after-1)
	if err != nil {
		return nil, err
	}
	recs := records(payments, unmatched, a.byMethod)
	if len(a.order) > 0 {
		lookup := make([]string, len(a.order))
		for i, s := range a.order {
			lookup[i] = s.String()
		}
		p, u, err := a.store.RecordedTx(ctx, net, merchant, lookup)
		if err != nil {
			return nil, err
		}
		for _, r := range records(p, u, a.byMethod) {
			if !slices.ContainsFunc(recs, func(o *record) bool { return o.id == r.id }) {
				recs = append(recs, r)
			}
		}
	}
	var sigs []solana.Signature
	for _, r := range recs {
		if s, err := solana.SignatureFromBase58(r.txID); err == nil {
			sigs = append(sigs, s)
		}
	}
	if err := a.load(ctx, sigs); err != nil {
		return nil, err
	}
	var out []*record
	for _, r := range recs {
		in, err := a.inRange(ctx, r)
		if err != nil {
			return nil, err
		}
		if in {
			out = append(out, r)
		}
	}
	return out, nil
}

// records turns payments and unmatched payments into records.
func records(payments []invoice.Payment, unmatched []chains.Unmatched, byMethod map[string]chains.Method) []*record {
	out := make([]*record, 0, len(payments)+len(unmatched))
	for _, p := range payments {
		out = append(out, &record{id: p.ID, invoiceID: p.InvoiceID, method: method(byMethod, p.Method, p.Asset, p.Decimals),
			txID: p.TxID, index: p.Index, to: p.To, amount: p.Amount, status: p.Status, block: p.Block})
	}
	for _, u := range unmatched {
		out = append(out, &record{id: u.ID, unmatched: true, method: method(byMethod, u.Method, u.Asset, u.Decimals),
			txID: u.TxID, index: u.Index, to: u.To, amount: u.Amount, status: u.Status, block: u.Block})
	}
	return out
}

// method returns the catalogue's method id, or one without a mint (which
// nothing on chain matches) for a method the catalogue does not know.
func method(byMethod map[string]chains.Method, id, asset string, decimals int) chains.Method {
	if m, ok := byMethod[id]; ok {
		return m
	}
	return chains.Method{ID: id, Asset: asset, Decimals: decimals}
}

// signatures pages the signatures of a token account from the newest and
// returns those of successful transactions whose block time falls in the
// range, with the highest slot seen before the range (-1 when none) and the
// lowest seen after it (MaxInt64 when none). It stops at the first one
// older than the range.
func (a *auditor) signatures(ctx context.Context, ata solana.PublicKey) (in []solana.Signature, before, after int64, err error) {
	before, after = -1, math.MaxInt64
	limit := a.cfg.PageSize
	var cursor solana.Signature
	for {
		var page []*rpc.TransactionSignature
		if err := a.retry(ctx, func(ctx context.Context) (err error) {
			page, err = a.c.GetSignaturesForAddressWithOpts(ctx, ata, &rpc.GetSignaturesForAddressOpts{
				Limit: &limit, Before: cursor, Commitment: rpc.CommitmentConfirmed,
			})
			return err
		}); err != nil {
			return nil, 0, 0, fmt.Errorf("getSignaturesForAddress: %w", err)
		}
		for _, s := range page {
			t, known, err := a.when(ctx, s.BlockTime, s.Slot)
			switch {
			case err != nil:
				return nil, 0, 0, err
			case !known:
				return nil, 0, 0, fmt.Errorf("signature %s: slot %d has no block time", s.Signature, s.Slot)
			case t.Before(a.cfg.From):
				return in, int64(s.Slot), after, nil
			case !t.Before(a.cfg.To):
				after = int64(s.Slot)
			case s.Err == nil && !slices.Contains(in, s.Signature):
				in = append(in, s.Signature)
			}
		}
		if len(page) < limit {
			return in, before, after, nil
		}
		cursor = page[len(page)-1].Signature
	}
}

// load reads the transactions sigs not read yet, several at once.
func (a *auditor) load(ctx context.Context, sigs []solana.Signature) error {
	var todo []solana.Signature
	for _, s := range sigs {
		if _, done := a.txs[s]; !done {
			a.txs[s] = nil // filled in below
			todo = append(todo, s)
		}
	}
	got, errs := make([]*rpc.GetParsedTransactionResult, len(todo)), make([]error, len(todo))
	version := uint64(0)
	var wg sync.WaitGroup
	sem := make(chan struct{}, a.cfg.Workers)
	for i, s := range todo {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = a.retry(ctx, func(ctx context.Context) (err error) {
				got[i], err = a.c.GetParsedTransaction(ctx, s, &rpc.GetParsedTransactionOpts{
					Commitment: rpc.CommitmentConfirmed, MaxSupportedTransactionVersion: &version,
				})
				return err
			})
		})
	}
	wg.Wait()
	for i, s := range todo {
		if err := errs[i]; err != nil && !errors.Is(err, rpc.ErrNotFound) {
			return fmt.Errorf("getTransaction %s: %w", s, err)
		}
		a.txs[s] = got[i]
	}
	return nil
}

// tx returns the loaded transaction of a recorded signature, nil when the
// cluster does not know it (or it is no signature).
func (a *auditor) tx(txID string) *rpc.GetParsedTransactionResult {
	s, _ := solana.SignatureFromBase58(txID)
	return a.txs[s]
}

// inRange tells whether a record belongs to the audited range: by its
// transaction's block time, or when the cluster does not know the
// transaction, by its recorded slot's. A record whose time nothing tells is
// audited.
func (a *auditor) inRange(ctx context.Context, r *record) (bool, error) {
	var t time.Time
	known, err := false, error(nil)
	if tx := a.tx(r.txID); tx != nil {
		t, known, err = a.when(ctx, tx.BlockTime, tx.Slot)
	} else if r.block >= 0 {
		t, known, err = a.when(ctx, nil, uint64(r.block))
	}
	return !known || !t.Before(a.cfg.From) && t.Before(a.cfg.To), err
}

// when returns bt, or when nil the time of the block in slot (getBlockTime);
// known is false when the slot was skipped or the cluster keeps no block or
// time for it.
func (a *auditor) when(ctx context.Context, bt *solana.UnixTimeSeconds, slot uint64) (t time.Time, known bool, err error) {
	if bt != nil {
		return bt.Time(), true, nil
	}
	bt, ok := a.times[slot]
	if !ok {
		err = a.retry(ctx, func(ctx context.Context) (err error) {
			bt, err = a.c.GetBlockTime(ctx, slot)
			var rpcErr *jsonrpc.RPCError
			if errors.As(err, &rpcErr) && slices.Contains([]int{-32004, -32007, -32009}, rpcErr.Code) {
				bt, err = nil, nil // block not available, slot skipped, missing in long-term storage
			}
			return err
		})
		if err != nil {
			return t, false, fmt.Errorf("getBlockTime %d: %w", slot, err)
		}
		a.times[slot] = bt
	}
	if bt == nil {
		return t, false, nil
	}
	return bt.Time(), true, nil
}

// check compares one record with its transaction (nil when the cluster does
// not know it).
func check(net string, r *record, tx *rpc.GetParsedTransactionResult) *chains.Discrepancy {
	d := &chains.Discrepancy{Network: net, TxID: r.txID, Index: r.index, Block: r.block, PaymentID: r.id, InvoiceID: r.invoiceID,
		Asset: r.method.Asset, Decimals: r.method.Decimals, Recorded: r.amount.String()}
	failed := tx != nil && tx.Meta != nil && tx.Meta.Err != nil
	var chainAmount invoice.Units
	same, why := false, ""
	if tx != nil && !failed {
		chainAmount, same, why = paid(tx, r)
	}
	if r.status == invoice.PaymentReversed {
		// Consistent unless the cluster holds the transfer after all.
		if !same {
			return nil
		}
		d.Kind, d.Chain, d.Block = chains.NotRecorded, chainAmount.String(), int64(tx.Slot)
		d.Detail = fmt.Sprintf("recorded as reversed, but slot %d holds the transfer", tx.Slot)
		return d
	}
	switch {
	case tx == nil && r.status == invoice.PaymentPending:
		d.Kind, d.Detail = chains.Reversed, "the cluster no longer knows the transaction: its fork was abandoned"
	case tx == nil:
		d.Kind, d.Detail = chains.MissingOnChain, "the cluster has no such transaction"
	case failed:
		d.Kind, d.Detail = chains.MissingOnChain, "the transaction failed on chain"
	case !same:
		d.Kind, d.Detail = chains.MissingOnChain, why
	case chainAmount.Cmp(r.amount) != 0:
		d.Kind, d.Chain = chains.AmountDiffers, chainAmount.String()
		d.Detail = fmt.Sprintf("recorded %s %s, the chain shows %s", r.amount.Format(r.method.Decimals), r.method.Asset,
			chainAmount.Format(r.method.Decimals))
	default:
		return nil
	}
	return d
}

// paid returns what the successful transaction tx paid into the record's
// token account (the wallet's associated token account for the method's
// mint); same is false, with the reason, when it paid nothing there or the
// account is not the recorded key.
func paid(tx *rpc.GetParsedTransactionResult, r *record) (amount invoice.Units, same bool, why string) {
	wallet, err1 := solana.PublicKeyFromBase58(r.to)
	mint, err2 := solana.PublicKeyFromBase58(r.method.Token)
	if err1 != nil || err2 != nil {
		return amount, false, fmt.Sprintf("no token account of %s for %s", r.to, r.method.ID)
	}
	ata, _, err := solana.FindAssociatedTokenAddress(wallet, mint)
	if err != nil {
		return amount, false, err.Error()
	}
	t, ok, err := transfer(tx, account{wallet: wallet, mint: mint, ata: ata})
	switch {
	case err != nil:
		return amount, false, "transaction not understood: " + err.Error()
	case !ok:
		return amount, false, fmt.Sprintf("the transaction pays no %s into %s", r.method.Asset, ata)
	case t.Index != r.index:
		return amount, false, fmt.Sprintf("token account %s is key %d of the transaction, recorded %d", ata, t.Index, r.index)
	}
	return t.Amount, true, ""
}

// retry runs call with a per-call timeout, retrying failures (network
// errors, timeouts, HTTP 429 and 5xx, JSON-RPC errors) with exponential
// backoff. "Not found" is an answer, not a failure.
func (a *auditor) retry(ctx context.Context, call func(ctx context.Context) error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = a.cfg.RetryInitial, a.cfg.RetryMax, a.cfg.RetryFor
	return backoff.Retry(func() error {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
		defer cancel()
		err := call(cctx)
		if errors.Is(err, rpc.ErrNotFound) || ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx))
}
