package solana_test

import (
	"context"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/settlepay/settle/chains"
	solwatch "github.com/settlepay/settle/chains/solana"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

type fakeCheckout struct{}

func (fakeCheckout) Links(token string) (string, invoice.SessionHeaders) {
	return "https://pay.test/pay/" + token, invoice.SessionHeaders{SessionToken: token}
}

// harness is a merchant with a Solana wallet, its store and a cluster.
type harness struct {
	t        *testing.T
	ctx      context.Context
	cluster  *cluster
	svc      *invoice.Service
	cat      *chains.Catalogue
	ledger   *chains.Ledger
	monitor  *chains.Monitor
	network  string
	mode     invoice.Mode
	method   string
	mint     solana.PublicKey
	merchant string
	wallet   solana.PublicKey
}

// newHarness sets up network ("solana_devnet" or "solana") with its
// cluster; the merchant receives at wallet (a new one when zero).
func newHarness(t *testing.T, db storetest.DB, network string, wallet solana.PublicKey) *harness {
	t.Helper()
	genesis, mode := devnetGenesis, invoice.ModeTest
	if network == "solana" {
		genesis, mode = mainnetGenesis, invoice.ModeLive
	}
	cl := newCluster(t, genesis)
	svc := invoice.NewService(db.DB, &clock{}, fakeCheckout{}, nil)
	cat, err := chains.NewCatalogue(map[string]chains.Endpoint{network: {HTTP: cl.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	m, _, err := svc.CreateMerchant(ctx, "Coffee & Co")
	if err != nil {
		t.Fatal(err)
	}
	if wallet.IsZero() {
		wallet = newKey()
	}
	h := &harness{
		t: t, ctx: ctx, cluster: cl, svc: svc, cat: cat, ledger: chains.NewLedger(svc, cat), monitor: chains.NewMonitor(nil),
		network: network, mode: mode, method: "usdc_" + network, merchant: m.ID, wallet: wallet,
	}
	mt, _ := cat.Method(h.method)
	h.mint = solana.MustPublicKeyFromBase58(mt.Token)
	if _, err := h.ledger.CreateAccount(ctx, chains.AccountParams{
		MerchantID: m.ID, Mode: mode, Network: network, Address: wallet.String(),
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

// invoice creates an invoice payable in the network's USDC and returns it
// with its instruction.
func (h *harness) invoice(amount string) (invoice.Invoice, invoice.Instruction) {
	h.t.Helper()
	methods := []string{h.method}
	prepare, writes, err := h.ledger.Prepare(h.ctx, h.svc.IDB(h.ctx), h.merchant, h.mode, methods, true)
	if err != nil {
		h.t.Fatal(err)
	}
	inv, err := h.svc.Create(h.ctx, invoice.CreateParams{
		MerchantID: h.merchant, Mode: h.mode, Amount: amount, Currency: "USD", Description: "Two flat whites",
		PaymentMethods: methods, Prepare: prepare, PrepareReadOnly: !writes,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, in := range inv.Instructions {
		if in.Method == h.method {
			return inv, in
		}
	}
	h.t.Fatalf("invoice %s has no %s instruction: %+v", inv.ID, h.method, inv.Instructions)
	return inv, invoice.Instruction{}
}

// watch runs a watcher on the cluster until the test ends or stop is
// called; stop returns what Run returned.
func (h *harness) watch(tune func(*solwatch.Config)) (stop func() error) {
	n, _ := h.cat.Network(h.network)
	cfg := solwatch.Config{
		Network: n, Endpoint: chains.Endpoint{HTTP: h.cluster.URL()}, Mints: h.cat.Tokens(h.network), Holder: "test",
		PollInterval: 20 * time.Millisecond, CallTimeout: 2 * time.Second, DropAfter: 100 * time.Millisecond,
		RetryInitial: time.Millisecond, RetryMax: 20 * time.Millisecond, RetryFor: 500 * time.Millisecond,
		Monitor: h.monitor, Log: testLog(),
	}
	if tune != nil {
		tune(&cfg)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- solwatch.New(cfg, h.ledger).Run(ctx) }()
	var once sync.Once
	var err error
	halt := func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	var stopped atomic.Bool // by the test, which then checks the error
	h.t.Cleanup(func() {
		if err := halt(); err != nil && !stopped.Load() {
			h.t.Errorf("watcher: %v", err)
		}
	})
	return func() error {
		stopped.Store(true)
		return halt()
	}
}

// pay has the cluster include a payment to the merchant's wallet in USDC.
func (h *harness) pay(units int64, reference string, status string) *entry {
	return h.cluster.add(payment{payer: newKey(), wallet: h.wallet, mint: h.mint, amount: units, pre: 0, reference: reference}.tx(status))
}

// state is an invoice with its payments.
type state struct {
	inv      invoice.Invoice
	payments []invoice.Payment
}

// await polls the store until ok holds for the invoice, or fails the test.
func (h *harness) await(id, what string, ok func(s state) bool) state {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// A payment and the invoice state it leads to are written together:
		// the invoice agrees with its payments when they did not change
		// while it was read.
		var s state
		var err error
		if s.payments, err = h.svc.Payments(h.ctx, id); err != nil {
			h.t.Fatal(err)
		}
		if s.inv, err = h.svc.Get(h.ctx, h.merchant, h.mode, id); err != nil {
			h.t.Fatal(err)
		}
		after, err := h.svc.Payments(h.ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if reflect.DeepEqual(after, s.payments) && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: timed out; invoice %s %s/%s paid %s, payments %+v", what, id, s.inv.Status, s.inv.Exception,
				s.inv.AmountPaid.Format(s.inv.Decimals), s.payments)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unmatched returns the merchant's unmatched payments.
func (h *harness) unmatched() []chains.Unmatched {
	h.t.Helper()
	us, _, err := h.ledger.UnmatchedList(h.ctx, h.merchant, h.mode, "", 100)
	if err != nil {
		h.t.Fatal(err)
	}
	return us
}

// testLog shows the watcher's log with -v.
func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}
