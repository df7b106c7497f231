package evm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/devchain"
	"github.com/settlepay/settle/chains/evm"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/payor"
)

// xpub is the account key m/44'/60'/0' of the public development mnemonic
// "test test … junk"; its addresses 0/i are well known (0/0 is the devnet
// wallet itself, so invoices here start at 0/1).
const xpub = "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP"

// shopAddress is a merchant's single receiving address.
const shopAddress = "0x00000000000000000000000000000000005EA77e"

type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// harness is a merchant, its store and a devnet chain.
type harness struct {
	t        *testing.T
	ctx      context.Context
	chain    *devchain.Chain
	clock    *clock
	svc      *invoice.Service
	cat      *chains.Catalogue
	ledger   *chains.Ledger
	merchant string
	nonce    uint64
	log      *slog.Logger
	sent     []sent          // every transfer pay and payReplacing sent, for diagnose
	monitor  *chains.Monitor // the watchers' when set
}

// sent is a transfer the harness sent.
type sent struct {
	hash  common.Hash
	to    string
	units string
}

func newHarness(t *testing.T, db storetest.DB) *harness {
	t.Helper()
	chain, err := devchain.Start(devchain.Config{RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	c := &clock{}
	svc := invoice.NewService(db.DB, c, payor.NewSigner([]byte("0123456789abcdef0123456789abcdef"), "http://localhost"), nil)
	cat, err := chains.NewCatalogue(map[string]chains.Endpoint{"devnet": {HTTP: chain.HTTPURL()}})
	if err != nil {
		t.Fatal(err)
	}
	cat.SetToken("devnet", chain.Token().Hex())
	ctx := t.Context()
	m, _, err := svc.CreateMerchant(ctx, "Shop")
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := chain.Client().PendingNonceAt(ctx, devchain.WalletAddress)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{
		t: t, ctx: ctx, chain: chain, clock: c, svc: svc, cat: cat, ledger: chains.NewLedger(svc, cat),
		merchant: m.ID, nonce: nonce, log: testLog(t),
	}
}

// account gives the merchant a receiving address or xpub on the devnet.
func (h *harness) account(address, xpub string) chains.Account {
	h.t.Helper()
	a, err := h.ledger.CreateAccount(h.ctx, chains.AccountParams{
		MerchantID: h.merchant, Mode: invoice.ModeTest, Network: "devnet", Address: address, XPub: xpub,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// invoice creates an invoice payable in devnet USDC and returns it with its
// instruction.
func (h *harness) invoice(amount string) (invoice.Invoice, invoice.Instruction) {
	h.t.Helper()
	methods := []string{chains.Sandbox, "usdc_devnet"}
	prepare, writes, err := h.ledger.Prepare(h.ctx, h.svc.IDB(h.ctx), h.merchant, invoice.ModeTest, methods, true)
	if err != nil {
		h.t.Fatal(err)
	}
	inv, err := h.svc.Create(h.ctx, invoice.CreateParams{
		MerchantID: h.merchant, Mode: invoice.ModeTest, Amount: amount, Currency: "USD",
		PaymentMethods: methods, Prepare: prepare, PrepareReadOnly: !writes,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, in := range inv.Instructions {
		if in.Method == "usdc_devnet" {
			return inv, in
		}
	}
	h.t.Fatalf("invoice %s has no usdc_devnet instruction: %+v", inv.ID, inv.Instructions)
	return inv, invoice.Instruction{}
}

// pay sends (does not mine) units base units of USDC to to.
func (h *harness) pay(to string, units string) common.Hash {
	h.t.Helper()
	n, ok := new(big.Int).SetString(units, 10)
	if !ok {
		h.t.Fatalf("units %q", units)
	}
	nonce := h.nonce
	hash, err := devchain.TransferWith(h.ctx, h.chain.Client(), devchain.WalletKey(), h.chain.Token(),
		common.HexToAddress(to), n, devchain.TxOpts{Nonce: &nonce})
	if err != nil {
		h.t.Fatal(err)
	}
	h.nonce++
	h.sent = append(h.sent, sent{hash, to, units})
	return hash
}

// payReplacing sends a transfer with the next nonce and fees high enough to
// replace a transaction of that nonce dropped by a fork.
func (h *harness) payReplacing(to string, units string) common.Hash {
	h.t.Helper()
	n, _ := new(big.Int).SetString(units, 10)
	nonce := h.nonce
	tip, feeCap := big.NewInt(50_000_000_000), big.NewInt(500_000_000_000)
	hash, err := devchain.TransferWith(h.ctx, h.chain.Client(), devchain.WalletKey(), h.chain.Token(),
		common.HexToAddress(to), n, devchain.TxOpts{Nonce: &nonce, Tip: tip, FeeCap: feeCap})
	if err != nil {
		h.t.Fatal(err)
	}
	h.nonce++
	h.sent = append(h.sent, sent{hash, to, units})
	return hash
}

// watch runs a watcher on the chain through url (the chain's own when "")
// until the test ends or stop is called.
func (h *harness) watch(url string, confirmations int, tune func(*evm.Config)) (stop func()) {
	if url == "" {
		url = h.chain.HTTPURL()
	}
	n, _ := h.cat.Network("devnet")
	n.Confirmations = confirmations
	cfg := evm.Config{
		Network: n, Endpoint: chains.Endpoint{HTTP: url}, Tokens: h.cat.Tokens("devnet"), Holder: "test",
		PollInterval: 20 * time.Millisecond, CallTimeout: 2 * time.Second, Log: h.log,
	}
	if tune != nil {
		tune(&cfg)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- evm.New(cfg, h.ledger).Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("watcher: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// state is an invoice with its payments.
type state struct {
	inv      invoice.Invoice
	payments []invoice.Payment
}

// await polls the store until ok holds for the invoice, or fails the test.
func (h *harness) await(id, what string, ok func(s state) bool) state {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var s state
	for {
		var err error
		if s.inv, err = h.svc.Get(h.ctx, h.merchant, invoice.ModeTest, id); err != nil {
			h.t.Fatal(err)
		}
		if s.payments, err = h.svc.Payments(h.ctx, id); err != nil {
			h.t.Fatal(err)
		}
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			h.diagnose()
			h.t.Fatalf("%s: timed out; invoice %s %s/%s paid %s, payments %+v", what, id, s.inv.Status, s.inv.Exception,
				s.inv.AmountPaid.Format(s.inv.Decimals), s.payments)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// diagnose logs what the chain and the store hold, so that a timed-out
// wait says whether a transfer was never mined, mined and reverted, not
// scanned, or scanned and not matched.
func (h *harness) diagnose() {
	ctx := context.WithoutCancel(h.ctx)
	c := h.chain.Client()
	if head, err := c.BlockNumber(ctx); err == nil {
		h.t.Logf("diagnose: chain head %d", head)
	}
	for _, s := range h.sent {
		r, err := c.TransactionReceipt(ctx, s.hash)
		if err != nil {
			h.t.Logf("diagnose: %s to %s (%s): no receipt: %v", s.hash.Hex(), s.to, s.units, err)
			continue
		}
		h.t.Logf("diagnose: %s to %s (%s): block %d status %d logs %d gas %d", s.hash.Hex(), s.to, s.units,
			r.BlockNumber, r.Status, len(r.Logs), r.GasUsed)
	}
	cps, err := h.ledger.Checkpoints(ctx, "devnet")
	h.t.Logf("diagnose: checkpoints %+v %v", cps, err)
	list, _, err := h.ledger.UnmatchedList(ctx, h.merchant, invoice.ModeTest, "", 100)
	for _, u := range list {
		h.t.Logf("diagnose: unmatched %s to %s amount %s block %d status %s", u.TxID, u.To, u.Amount, u.Block, u.Status)
	}
	if err != nil {
		h.t.Logf("diagnose: unmatched: %v", err)
	}
	var ds []chains.Deposit
	err = h.svc.DB().NewSelect().Model(&ds).Scan(ctx)
	for _, d := range ds {
		h.t.Logf("diagnose: deposit %s %s %q %s held until %s", d.InvoiceID, d.Address, d.AmountUnits, d.Network, d.HeldUntil.Format(time.RFC3339))
	}
	if err != nil {
		h.t.Logf("diagnose: deposits: %v", err)
	}
}

// events counts the invoice's events by type.
func (h *harness) events(id string) map[string]int {
	h.t.Helper()
	var types []string
	if err := h.svc.DB().NewSelect().Model((*invoice.Event)(nil)).Column("type").
		Where("invoice_id = ?", id).Scan(h.ctx, &types); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int{}
	for _, t := range types {
		out[t]++
	}
	return out
}

// proxy is a JSON-RPC provider in front of the chain that misbehaves as
// real ones do: it fails a share of calls (HTTP 503 or 429, or a dropped
// connection), delays others, and refuses eth_getLogs ranges above a limit
// with a JSON-RPC error.
type proxy struct {
	target   string
	failRate float64
	maxDelay time.Duration
	maxRange int64 // 0: no limit

	// down fails every call; lag answers the head as this many blocks
	// older; lieAbout (when not 0) answers another hash for that block
	// (-1: for every block asked for by number).
	down     atomic.Bool
	lag      int64
	lieAbout atomic.Int64

	calls, failed, refusedRanges, lies atomic.Int64
}

func (p *proxy) start(t *testing.T) string {
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	if p.maxDelay > 0 {
		time.Sleep(rand.N(p.maxDelay))
	}
	if p.down.Load() {
		p.failed.Add(1)
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		return
	}
	if rand.Float64() < p.failRate {
		p.failed.Add(1)
		switch rand.N(3) {
		case 0:
			http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		case 1:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "rate limited", http.StatusTooManyRequests)
		default:
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
				return
			}
		}
		return
	}
	if p.maxRange > 0 {
		var req struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		if json.Unmarshal(body, &req) == nil && req.Method == "eth_getLogs" && len(req.Params) == 1 {
			var q struct{ FromBlock, ToBlock string }
			json.Unmarshal(req.Params[0], &q)
			from, _ := new(big.Int).SetString(trimHex(q.FromBlock), 16)
			to, _ := new(big.Int).SetString(trimHex(q.ToBlock), 16)
			if from != nil && to != nil && to.Int64()-from.Int64()+1 > p.maxRange {
				p.refusedRanges.Add(1)
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID,
					"error": map[string]any{"code": -32005, "message": "query exceeds max block range 5"}})
				return
			}
		}
	}
	var call struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	json.Unmarshal(body, &call)
	if p.lag > 0 && (call.Method == "eth_blockNumber" || call.Method == "eth_getBlockByNumber" && len(call.Params) > 0 && string(call.Params[0]) == `"latest"`) {
		head, err := p.head()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		old, _ := json.Marshal(fmt.Sprintf("0x%x", max(head-p.lag, 0)))
		if call.Method == "eth_blockNumber" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": call.ID, "result": json.RawMessage(old)})
			return
		}
		call.Params[0] = old
		body, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": call.ID, "method": call.Method, "params": call.Params})
	}
	resp, err := http.Post(p.target, "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if n := p.lieAbout.Load(); n != 0 && call.Method == "eth_getBlockByNumber" && len(call.Params) > 0 &&
		(n < 0 && strings.HasPrefix(string(call.Params[0]), `"0x`) || string(call.Params[0]) == fmt.Sprintf(`"0x%x"`, n)) {
		var reply map[string]any
		if json.Unmarshal(data, &reply) == nil {
			if blk, ok := reply["result"].(map[string]any); ok {
				blk["hash"] = "0x1111111111111111111111111111111111111111111111111111111111111111"
				data, _ = json.Marshal(reply)
				p.lies.Add(1)
			}
		}
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	w.Write(data)
}

// head is the chain's real head.
func (p *proxy) head() (int64, error) {
	resp, err := http.Post(p.target, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct{ Result string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimPrefix(r.Result, "0x"), 16, 64)
}

func trimHex(s string) string {
	if len(s) > 2 && s[:2] == "0x" {
		return s[2:]
	}
	return s
}

// testLog writes the watcher's warnings to the test's output: shown when
// the test fails (or with -v), and told apart from parallel tests' output.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
