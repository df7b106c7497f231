package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/settlepay/settle/chains/devchain"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// receiver is a merchant's webhook endpoint: it verifies each delivery and
// keeps the events.
type receiver struct {
	mu     sync.Mutex
	wh     *standardwebhooks.Webhook
	events []map[string]any
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wh == nil || r.wh.Verify(body, req.Header) != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	var ev map[string]any
	json.Unmarshal(body, &ev)
	r.events = append(r.events, ev)
	w.WriteHeader(http.StatusNoContent)
}

// await waits for an invoice.updated event of invoice id with status.
func (r *receiver) await(t *testing.T, id, status string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, ev := range r.events {
			obj := ev["data"].(map[string]any)["object"].(map[string]any)
			if ev["type"] == "invoice.updated" && obj["id"] == id && obj["status"] == status {
				r.mu.Unlock()
				return obj
			}
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no invoice.updated %s for %s", status, id)
	return nil
}

// startDevnet runs `settle devnet --json` and returns what it printed.
func startDevnet(t *testing.T, dir string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var logs syncBuffer
	m := &Main{Stdout: pw, Stderr: &logs, Getenv: func(string) string { return "" }}
	go func() {
		done <- m.Run(ctx, []string{"devnet", "--json", "--addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0",
			"--data-dir", dir, "--block-time", "200ms"})
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("devnet: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("devnet printed nothing: %v\n%s", err, logs.String())
	}
	go io.Copy(io.Discard, pr)
	var out map[string]string
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("devnet printed %q: %v", line, err)
	}
	for _, k := range []string{"api_key", "merchant_id", "api_url", "rpc_url"} {
		if out[k] == "" {
			t.Fatalf("devnet --json line %q lacks %s", line, k)
		}
	}
	return out
}

// TestDevnet is the README's walk-through: `settle devnet`, a webhook
// endpoint, an invoice, `settle pay`, and the paid webhook; then a partial
// payment and the chain's status in /readyz and /metrics.
func TestDevnet(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "settle-devnet") // created by settle devnet
	dn := startDevnet(t, dir)
	api, key := dn["api_url"], dn["api_key"]
	// The data directory holds the database with every secret: this user's
	// only, whatever the umask.
	for name, want := range map[string]os.FileMode{
		"": 0o700, "settle.db": 0o600, "settle.db-wal": 0o600, "settle.db-shm": 0o600, "settle.log": 0o600, "devnet.json": 0o600,
	} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s/%s: %v", filepath.Base(dir), name, err)
		} else if st.Mode().Perm() != want {
			t.Errorf("%s/%s is %v, want %v", filepath.Base(dir), name, st.Mode().Perm(), want)
		}
	}

	rcv := &receiver{}
	hook := httptest.NewServer(rcv)
	defer hook.Close()
	status, ep := e2eDo(t, "POST", api+"/api/v1/webhook-endpoints", key, `{"url":"`+hook.URL+`"}`)
	if status != 201 {
		t.Fatalf("webhook endpoint: %d %v", status, ep)
	}
	rcv.mu.Lock()
	rcv.wh, _ = standardwebhooks.NewWebhook(ep["secret"].(string))
	rcv.mu.Unlock()

	status, inv := e2eDo(t, "POST", api+"/api/v1/invoices", key, `{"amount":"25.00","currency":"USD","payment_methods":["usdc_devnet"]}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	id := inv["id"].(string)
	ins := inv["payment_instructions"].([]any)[0].(map[string]any)
	if ins["method"] != "usdc_devnet" || ins["address"] != devnetShop || ins["amount"] != "25.000001" ||
		ins["token"] != devchain.TokenAddress.Hex() || ins["chain_id"] != 1337.0 {
		t.Fatalf("instructions %v", ins)
	}
	out, err := e2eRun(t, "pay", id, "--data-dir", dir)
	if err != nil || !strings.Contains(out, "sent 25.000001 USDC to "+devnetShop) {
		t.Fatalf("pay: %v %q", err, out)
	}
	paid := rcv.await(t, id, "paid")
	if paid["amount_paid"] != "25.00" || paid["exception"] != "none" {
		t.Errorf("paid invoice %v", paid)
	}

	// A partial payment carries the invoice's code in its last digits.
	status, inv = e2eDo(t, "POST", api+"/api/v1/invoices", key, `{"amount":"10.00","currency":"USD","payment_methods":["usdc_devnet"]}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	id2 := inv["id"].(string)
	code := inv["payment_instructions"].([]any)[0].(map[string]any)["amount"].(string)[len("10.00"):]
	if _, err := e2eRun(t, "pay", id2, "--data-dir", dir, "--amount", "4.00"+code); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+id2, key, "")
		if got["exception"] == "underpaid" && got["amount_due"] == "6.00" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partial payment: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The walk-through's last step: `settle reconcile --network devnet`
	// finds the devnet's database and RPC by its data directory alone.
	out, err = reconcileRun(t, nil, "--network", "devnet", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "no discrepancies") || !strings.Contains(out, "checked 2 payments and 0 unmatched") {
		t.Errorf("settle reconcile --network devnet: %v\n%s", err, out)
	}
	t.Logf("settle reconcile --network devnet:\n%s", out)

	// The watcher reports itself.
	res, err := http.Get(api + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Networks map[string]struct {
			Head, Scanned int64
			Leased        bool
			Subscribed    bool
		}
	}
	json.NewDecoder(res.Body).Decode(&ready)
	res.Body.Close()
	if n := ready.Networks["devnet"]; !n.Leased || !n.Subscribed || n.Head == 0 || n.Scanned == 0 {
		t.Errorf("readyz devnet %+v: want leased, subscribed, scanning", n)
	}
	res, err = http.Get(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, m := range []string{`settle_chain_head_block{network="devnet"}`, `settle_chain_lag_blocks{network="devnet"}`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "devnet.json")); err != nil {
		t.Error(err)
	}
}

// TestServeNetworks runs `settle serve` with RPC endpoints from the
// environment and a config file: a network whose RPC serves another chain is
// refused with a log line; the devnet's is offered. On Postgres, two
// instances watch the same chain and a payment is recorded once.
func TestServeNetworks(t *testing.T) {
	t.Parallel()
	chain, err := devchain.Start(devchain.Config{RPCAddr: "127.0.0.1:0", BlockTime: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	cfg := filepath.Join(t.TempDir(), "settle.json")
	os.WriteFile(cfg, []byte(`{"networks":{"devnet":{"rpc":"`+chain.HTTPURL()+`","ws":"`+chain.WSURL()+`","confirmations":1}}}`), 0o600)
	env := map[string]string{
		"SETTLE_CONFIG":      cfg,
		"SETTLE_RPC_SEPOLIA": chain.HTTPURL(), // chain id 1337, not 11155111
	}
	dialect := "sqlite"
	if slices.Contains(storetest.Dialects(t), "postgres") {
		dialect = "postgres"
	}
	db := storetest.Open(t, dialect)
	mer := e2eJSON(t, "merchants", "create", "--name", "Shop", "--database-url", db.URL)
	key := mer["test_api_key"].(string)
	var logs syncBuffer
	a, stopA := e2eServeEnv(t, db.URL, env, &logs)
	defer stopA()
	bases := []string{a}
	if dialect == "postgres" {
		b, stopB := e2eServeEnv(t, db.URL, env, nil)
		defer stopB()
		bases = append(bases, b)
	}
	if !strings.Contains(logs.String(), "rpc serves another chain") || !strings.Contains(logs.String(), `"network":"sepolia"`) {
		t.Errorf("no log line refusing sepolia:\n%s", logs.String())
	}
	_, nets := e2eDo(t, "GET", a+"/api/v1/networks", key, "")
	offered := map[string]bool{}
	for _, n := range nets["data"].([]any) {
		n := n.(map[string]any)
		offered[n["id"].(string)] = n["offered"].(bool)
	}
	if !offered["devnet"] || offered["sepolia"] || offered["base_sepolia"] {
		t.Fatalf("offered %v: want devnet only", offered)
	}
	if status, p := e2eDo(t, "POST", a+"/api/v1/invoices", key, `{"amount":"1.00","currency":"USD","payment_methods":["usdc_sepolia"]}`); status != 422 {
		t.Errorf("invoice on a refused network: %d %v", status, p)
	}
	if status, p := e2eDo(t, "POST", a+"/api/v1/receiving-accounts", key, `{"network":"devnet","address":"`+devnetShop+`"}`); status != 201 {
		t.Fatalf("receiving account: %d %v", status, p)
	}
	status, inv := e2eDo(t, "POST", a+"/api/v1/invoices", key, `{"amount":"3.00","currency":"USD","payment_methods":["usdc_devnet"]}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	ins := inv["payment_instructions"].([]any)[0].(map[string]any)
	units, _ := new(big.Int).SetString(ins["amount_units"].(string), 10)
	if _, err := devchain.Transfer(t.Context(), chain.Client(), devchain.WalletKey(), chain.Token(), common.HexToAddress(devnetShop), units); err != nil {
		t.Fatal(err)
	}
	id := inv["id"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, got := e2eDo(t, "GET", bases[len(bases)-1]+"/api/v1/invoices/"+id, key, "")
		if got["status"] == "paid" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not paid: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Exactly one instance holds the lease; the payment is there once.
	time.Sleep(500 * time.Millisecond)
	leased := 0
	for _, base := range bases {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var ready struct {
			Networks map[string]struct{ Leased bool }
		}
		json.NewDecoder(res.Body).Decode(&ready)
		res.Body.Close()
		if ready.Networks["devnet"].Leased {
			leased++
		}
	}
	if leased != 1 {
		t.Errorf("%d instances hold the devnet lease, want 1", leased)
	}
	_, evs := e2eDo(t, "GET", a+"/api/v1/events?limit=100", key, "")
	payments := 0
	for _, ev := range evs["data"].([]any) {
		if ev.(map[string]any)["type"] == "invoice_payment.updated" {
			payments++
		}
	}
	if payments != 1 {
		t.Errorf("%d invoice_payment.updated events, want 1 (confirmed at once, recorded once)", payments)
	}
}

// TestDevnetPay: `settle pay` never sends a transfer that settle would
// credit to another invoice. Two invoices share the demo merchant's
// address; `--amount 4` on the second sends 4 plus its own code and is
// credited to it (underpaid), the first untouched; amounts carrying another
// invoice's digits are refused; `settle pay` then pays the rest. An
// invoice that is not open is refused unless --force.
func TestDevnetPay(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "settle-devnet")
	dn := startDevnet(t, dir)
	api, key := dn["api_url"], dn["api_key"]
	create := func(amount string) (string, string) {
		t.Helper()
		status, inv := e2eDo(t, "POST", api+"/api/v1/invoices", key, `{"amount":"`+amount+`","currency":"USD","payment_methods":["usdc_devnet"]}`)
		if status != 201 {
			t.Fatalf("create: %d %v", status, inv)
		}
		return inv["id"].(string), inv["payment_instructions"].([]any)[0].(map[string]any)["amount"].(string)
	}
	get := func(id string) map[string]any {
		t.Helper()
		_, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+id, key, "")
		return got
	}
	await := func(id, status, exception, paid string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := get(id)
			if got["status"] == status && got["exception"] == exception && got["amount_paid"] == paid {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v %v paid %v, want %s %s paid %s", id, got["status"], got["exception"], got["amount_paid"], status, exception, paid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	pay := func(args ...string) (string, string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		err := m.Run(t.Context(), append([]string{"pay", "--data-dir", dir}, args...))
		return out.String(), errOut.String(), err
	}

	first, firstAsks := create("25.00")
	second, secondAsks := create("10.00")
	firstCode, secondCode := firstAsks[len("25.00"):], secondAsks[len("10.00"):]
	if firstCode == secondCode || firstCode == "0000" {
		t.Fatalf("codes %s and %s: want two codes on one shared address", firstCode, secondCode)
	}

	// Digits below a cent that are not the second invoice's own: refused,
	// with the amount to use, and nothing sent.
	for _, amount := range []string{"4.00" + firstCode, "4.000099"} {
		out, _, err := pay(second, "--amount", amount)
		if err == nil || !strings.Contains(err.Error(), "not the code of invoice "+second) ||
			!strings.Contains(err.Error(), "--amount 4.00, sent as 4.00"+secondCode) || out != "" {
			t.Errorf("pay --amount %s: %v %q: want a refusal naming 4.00%s", amount, err, out, secondCode)
		}
	}
	// An exact amount still kept for another invoice (as for one whose
	// hold ended after its code went to the second): the ledger would
	// credit that one, so nothing is sent.
	third, _ := create("7.00")
	db, err := invoice.OpenDB("sqlite://" + filepath.Join(dir, "settle.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.NewUpdate().Table("deposits").Set("amount_units = ?", "700"+secondCode).
		Set("held_until = ?", time.Now().UTC().Add(-time.Hour)).Where("invoice_id = ?", third).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	if out, _, err := pay(second, "--amount", "7"); err == nil || out != "" ||
		!strings.Contains(err.Error(), "7.00"+secondCode+" USDC to "+devnetShop+" would be credited to invoice "+third+", not "+second) {
		t.Errorf("pay --amount 7 with 7.00%s kept for %s: %v %q", secondCode, third, err, out)
	}

	// Whole cents: the invoice's code is added, and the transfer is
	// credited to the invoice named.
	out, _, err := pay(second, "--amount", "4")
	if err != nil || !strings.Contains(out, "paying 4.00"+secondCode+" USDC to "+devnetShop+": credited to "+second) ||
		!strings.Contains(out, "sent 4.00"+secondCode+" USDC to "+devnetShop+" for "+second) {
		t.Fatalf("pay --amount 4: %v %q", err, out)
	}
	await(second, "open", "underpaid", "4.00")
	if got := get(first); got["status"] != "open" || got["amount_paid"] != "0.00" || got["exception"] != "none" {
		t.Errorf("the first invoice was touched: %v %v paid %v", got["status"], got["exception"], got["amount_paid"])
	}
	// The rest: what is due, with the code.
	if out, _, err := pay(second); err != nil || !strings.Contains(out, "sent 6.00"+secondCode+" USDC") {
		t.Fatalf("pay the rest: %v %q", err, out)
	}
	await(second, "paid", "none", "10.00")

	// Paid: refused, unless --force (an over-payment).
	if out, _, err := pay(second); err == nil || !strings.Contains(err.Error(), "invoice "+second+" is paid, not open") || out != "" {
		t.Errorf("pay a paid invoice: %v %q", err, out)
	}
	if out, _, err := pay(second, "--force", "--amount", "1"); err != nil || !strings.Contains(out, "sent 1.00"+secondCode) {
		t.Fatalf("pay --force: %v %q", err, out)
	}
	await(second, "paid", "overpaid", "11.00")

	// Cancelled: refused.
	if status, p := e2eDo(t, "POST", api+"/api/v1/invoices/"+first+"/cancel", key, "{}"); status != 200 {
		t.Fatalf("cancel: %d %v", status, p)
	}
	if out, _, err := pay(first); err == nil || !strings.Contains(err.Error(), "is cancelled, not open") || out != "" {
		t.Errorf("pay a cancelled invoice: %v %q", err, out)
	}
	// The binary exits non-zero on a refusal.
	if _, stderr, code := runBinary(t, nil, "pay", "--data-dir", dir, first); code == 0 || !strings.Contains(stderr, "is cancelled, not open") {
		t.Errorf("settle pay on a cancelled invoice: exit status %d, stderr %q", code, stderr)
	}
}
