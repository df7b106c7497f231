package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/uptrace/bun"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/devchain"
	"github.com/settlepay/settle/chains/evm"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// reconcileRun runs `settle reconcile` with env and returns stdout.
func reconcileRun(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	err := m.Run(context.Background(), append([]string{"reconcile"}, args...))
	if err != nil && !errors.Is(err, errFailed) {
		t.Logf("settle reconcile: %v\n%s", err, errOut.String())
	}
	return out.String(), err
}

// discrepancyLines returns the table rows of a reconcile report.
func discrepancyLines(out string) []string {
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		for _, k := range []chains.DiscrepancyKind{chains.MissingOnChain, chains.AmountDiffers, chains.Reversed, chains.NotRecorded} {
			if strings.HasPrefix(l, string(k)+" ") {
				rows = append(rows, l)
			}
		}
	}
	return rows
}

// chainSum sums, independently of settle, every Transfer of the devnet
// token to addr that the chain holds.
func chainSum(t *testing.T, c *ethclient.Client, addr common.Address) (*big.Int, int) {
	t.Helper()
	logs, err := c.FilterLogs(t.Context(), ethereum.FilterQuery{
		FromBlock: big.NewInt(0), Addresses: []common.Address{devchain.TokenAddress},
		Topics: [][]common.Hash{{evm.TransferTopic}, nil, {common.BytesToHash(addr.Bytes())}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := new(big.Int)
	for _, lg := range logs {
		sum.Add(sum, new(big.Int).SetBytes(lg.Data))
	}
	return sum, len(logs)
}

// TestReconcileDevnet is issue 8's "done when": a few hundred invoices on
// `settle devnet` with every outcome; the reconciliation report's totals
// equal the chain's transfers; `settle reconcile` finds nothing; after one
// stored amount is tampered with, it prints exactly that one.
func TestReconcileDevnet(t *testing.T) {
	t.Parallel()
	begin := time.Now().UTC()
	dir := t.TempDir()
	dn := startDevnet(t, dir)
	api, key := dn["api_url"], dn["api_key"]
	dbURL := "sqlite://" + filepath.Join(dir, "settle.db")
	db, err := invoice.OpenDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	client, err := ethclient.Dial(dn["rpc_url"])
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	// Outcomes, by invoice number modulo 8.
	const (
		exact = iota
		underpaid
		overpaid
		toppedUp
		paidLate
		expired
		cancelled // every other one is paid after the cancellation
		open
		outcomes
	)
	const n = 240
	type inv struct {
		id    string
		units *big.Int // the unique amount asked
	}
	invoices := make([]inv, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				body := fmt.Sprintf(`{"amount":"%d.%02d","currency":"USD","payment_methods":["usdc_devnet"]}`, 1+i%40, i%100)
				status, v := e2eDo(t, "POST", api+"/api/v1/invoices", key, body)
				if status != 201 {
					errs <- fmt.Errorf("create %d: %d %v", i, status, v)
					return
				}
				ins := v["payment_instructions"].([]any)[0].(map[string]any)
				u, _ := new(big.Int).SetString(ins["amount_units"].(string), 10)
				invoices[i] = inv{id: v["id"].(string), units: u}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Expiry is a minute away at least: bring it forward in the store, as
	// time would, for the invoices to be paid late or left to expire.
	var due []string
	for i, v := range invoices {
		switch i % outcomes {
		case paidLate, expired:
			due = append(due, v.id)
		case cancelled:
			if status, p := e2eDo(t, "POST", api+"/api/v1/invoices/"+v.id+"/cancel", key, "{}"); status != 200 {
				t.Fatalf("cancel: %d %v", status, p)
			}
		}
	}
	if _, err := db.NewUpdate().Table("invoices").Set("expires_at = ?", time.Now().UTC().Add(-time.Second)).
		Where("id IN (?)", bun.In(due)).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}

	nonce, err := client.PendingNonceAt(t.Context(), devchain.WalletAddress)
	if err != nil {
		t.Fatal(err)
	}
	shop := common.HexToAddress(devnetShop)
	sent, transfers := new(big.Int), 0
	var last common.Hash
	pay := func(units *big.Int) {
		t.Helper()
		nn := nonce
		h, err := devchain.TransferWith(t.Context(), client, devchain.WalletKey(), devchain.TokenAddress, shop, units,
			devchain.TxOpts{Nonce: &nn, Tip: big.NewInt(1_000_000_000), FeeCap: big.NewInt(100_000_000_000)})
		if err != nil {
			t.Fatal(err)
		}
		nonce++
		sent.Add(sent, units)
		transfers++
		last = h
	}
	plus := func(u *big.Int, d int64) *big.Int { return new(big.Int).Add(u, big.NewInt(d)) }
	expected := 0 // payments settle should record against invoices
	for i, v := range invoices {
		switch i % outcomes {
		case exact:
			pay(v.units)
		case underpaid:
			pay(plus(v.units, -500_000)) // the code's digits stay: 0.50 short
		case overpaid:
			pay(plus(v.units, 2_500_000))
		case toppedUp:
			pay(plus(v.units, -300_000))
			pay(big.NewInt(300_000 + v.units.Int64()%10_000))
			expected++
		case cancelled:
			if i%16 == cancelled {
				pay(v.units)
			} else {
				continue
			}
		default:
			continue
		}
		expected++
	}
	pay(big.NewInt(4_242_420_000)) // matches no invoice: kept as an unmatched payment

	// The due invoices expire (the expirer sweeps every 5 s), then half
	// of them are paid late.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left int
		err := db.NewSelect().Table("invoices").ColumnExpr("count(*)").Where("id IN (?) AND status <> 'expired'", bun.In(due)).Scan(t.Context(), &left)
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d invoices did not expire", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, v := range invoices {
		if i%outcomes == paidLate {
			pay(v.units)
			expected++
		}
	}
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := devchain.WaitMined(wctx, client, last); err != nil {
		t.Fatal(err)
	}

	// The watcher records everything.
	query := "?from=" + begin.Add(-time.Minute).Format(time.RFC3339) + "&to=" + time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	var report struct {
		Payments []struct {
			PaymentID   string `json:"payment_id"`
			InvoiceID   string `json:"invoice_id"`
			TxID        string `json:"tx_id"`
			Status      string `json:"status"`
			Exception   string `json:"exception"`
			AmountUnits string `json:"amount_units"`
		} `json:"payments"`
		Totals []struct {
			AmountUnits string `json:"amount_units"`
			Payments    int    `json:"payments"`
			Pending     int    `json:"pending"`
		} `json:"totals"`
	}
	var unmatched []any
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, r := e2eDo(t, "GET", api+"/api/v1/reports/reconciliation"+query, key, "")
		raw, _ := json.Marshal(r)
		json.Unmarshal(raw, &report)
		_, u := e2eDo(t, "GET", api+"/api/v1/unmatched-payments", key, "")
		unmatched, _ = u["data"].([]any)
		confirmed := 0
		for _, p := range report.Payments {
			if p.Status == "confirmed" {
				confirmed++
			}
		}
		if confirmed == expected && len(unmatched) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d payments confirmed, %d unmatched", confirmed, expected, len(unmatched))
		}
		time.Sleep(100 * time.Millisecond)
	}
	exceptions := map[string]bool{}
	for _, p := range report.Payments {
		exceptions[p.Exception] = true
	}
	for _, e := range []string{"none", "underpaid", "overpaid", "paid_late"} {
		if !exceptions[e] {
			t.Errorf("no payment to an invoice with exception %s: the test lacks an outcome", e)
		}
	}

	// The report's confirmed totals and the unmatched payment are the
	// chain's transfers, summed by the test and by the chain.
	onChain, count := chainSum(t, client, shop)
	if onChain.Cmp(sent) != 0 || count != transfers {
		t.Fatalf("chain holds %s in %d transfers, the test sent %s in %d", onChain, count, sent, transfers)
	}
	reported := new(big.Int)
	for _, tot := range report.Totals {
		u, _ := new(big.Int).SetString(tot.AmountUnits, 10)
		reported.Add(reported, u)
	}
	u, _ := new(big.Int).SetString(unmatched[0].(map[string]any)["amount_units"].(string), 10)
	if reported.Add(reported, u); reported.Cmp(onChain) != 0 {
		t.Fatalf("report totals plus unmatched %s, chain %s", reported, onChain)
	}

	env := map[string]string{"SETTLE_RPC_DEVNET": dn["rpc_url"]}
	// Block times of a devnet mining every 200 ms run ahead of the clock.
	args := []string{"--network", "devnet", "--from", begin.Add(-time.Minute).Format(time.RFC3339),
		"--to", time.Now().UTC().Add(24 * time.Hour).Format(time.RFC3339), "--database-url", dbURL}
	out, err := reconcileRun(t, env, args...)
	if err != nil || !strings.Contains(out, "no discrepancies") || len(discrepancyLines(out)) != 0 {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	total := fmt.Sprintf("USDC: chain total %s in %d transfers, recorded total %s in %d\n",
		invoice.BigUnits(onChain).Format(6), count, invoice.BigUnits(onChain).Format(6), count)
	if !strings.Contains(out, total) || !strings.Contains(out, fmt.Sprintf("checked %d payments and 1 unmatched", expected)) {
		t.Errorf("reconcile summary:\n%s\nwant %q", out, total)
	}
	t.Logf("settle reconcile, clean:\n%s", out)

	// One stored amount tampered with: exactly that one is reported.
	victim := report.Payments[len(report.Payments)/2]
	if _, err := db.NewUpdate().Table("payments").Set("amount = ?", "1").Where("id = ?", victim.PaymentID).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	out, err = reconcileRun(t, env, args...)
	rows := discrepancyLines(out)
	if !errors.Is(err, errFailed) || len(rows) != 1 || !strings.Contains(out, "\n1 discrepancy\n") {
		t.Fatalf("after tampering: %v, %d rows\n%s", err, len(rows), out)
	}
	want := []string{"amount_differs", victim.TxID, victim.InvoiceID, " 0.000001 ", " " + mustUnits(t, victim.AmountUnits).Format(6) + " "}
	for _, w := range want {
		if !strings.Contains(rows[0], w) {
			t.Errorf("row %q lacks %q", rows[0], w)
		}
	}
	t.Logf("settle reconcile, tampered:\n%s", out)
}

func mustUnits(t *testing.T, s string) invoice.Units {
	t.Helper()
	u, err := invoice.ParseUnits(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestReconcileReadOnly runs `settle reconcile` on each database after
// `settle serve` has recorded payments and stopped, with the RPC from a
// config file: it writes nothing (every row of every table is the same
// after), finds nothing, then finds the payment mined after the stop.
func TestReconcileReadOnly(t *testing.T) {
	t.Parallel()
	chain, err := devchain.Start(devchain.Config{RPCAddr: "127.0.0.1:0", BlockTime: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	cfg := filepath.Join(t.TempDir(), "settle.json")
	os.WriteFile(cfg, []byte(`{"networks":{"devnet":{"rpc":"`+chain.HTTPURL()+`","confirmations":1}}}`), 0o600)
	var mu sync.Mutex // one payor wallet for every dialect
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, dialect)
			mer := e2eJSON(t, "merchants", "create", "--name", "Shop", "--database-url", db.URL)
			key := mer["test_api_key"].(string)
			base, stop := e2eServeEnv(t, db.URL, map[string]string{"SETTLE_CONFIG": cfg}, nil)
			shop := common.BytesToAddress([]byte("shop " + dialect))
			if status, p := e2eDo(t, "POST", base+"/api/v1/receiving-accounts", key, `{"network":"devnet","address":"`+shop.Hex()+`"}`); status != 201 {
				t.Fatalf("receiving account: %d %v", status, p)
			}
			var ids []string
			var asks []*big.Int
			for i := range 4 {
				status, inv := e2eDo(t, "POST", base+"/api/v1/invoices", key, fmt.Sprintf(`{"amount":"%d.00","currency":"USD","payment_methods":["usdc_devnet"]}`, i+1))
				if status != 201 {
					t.Fatalf("create: %d %v", status, inv)
				}
				u, _ := new(big.Int).SetString(inv["payment_instructions"].([]any)[0].(map[string]any)["amount_units"].(string), 10)
				ids, asks = append(ids, inv["id"].(string)), append(asks, u)
			}
			send := func(u *big.Int) common.Hash {
				mu.Lock()
				defer mu.Unlock()
				h, err := devchain.Transfer(t.Context(), chain.Client(), devchain.WalletKey(), chain.Token(), shop, u)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := devchain.WaitMined(t.Context(), chain.Client(), h); err != nil {
					t.Fatal(err)
				}
				return h
			}
			for _, u := range asks[:3] {
				send(u)
			}
			for _, id := range ids[:3] {
				deadline := time.Now().Add(30 * time.Second)
				for {
					if _, got := e2eDo(t, "GET", base+"/api/v1/invoices/"+id, key, ""); got["status"] == "paid" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s not paid", id)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			missed := send(asks[3])

			args := []string{"--network", "devnet", "--from", time.Now().UTC().Add(-time.Hour).Format(time.RFC3339),
				"--to", time.Now().UTC().Add(24 * time.Hour).Format(time.RFC3339), "--database-url", db.URL, "--config", cfg,
				"--merchant", mer["merchant_id"].(string), "--json"}
			// The connection reconcile opens refuses writes.
			roURL, err := readOnlyURL(db.URL)
			if err != nil {
				t.Fatal(err)
			}
			ro, err := invoice.OpenDB(roURL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ro.ExecContext(t.Context(), "UPDATE merchants SET name = name")
			if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), "-", ""), "readonly") {
				t.Errorf("a write on the read-only connection: %v", err)
			}
			ro.Close()

			before := storetest.Checksum(t, db)
			out, err := reconcileRun(t, nil, args...)
			if after := storetest.Checksum(t, db); after != before {
				t.Error("reconcile wrote to the database")
			}
			var rep chains.AuditReport
			if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
				t.Fatalf("reconcile --json printed %q: %v", out, jerr)
			}
			if !errors.Is(err, errFailed) || len(rep.Discrepancies) != 1 || rep.Payments != 3 || rep.Addresses != 1 {
				t.Fatalf("reconcile: %v %+v", err, rep)
			}
			d := rep.Discrepancies[0]
			if d.Kind != chains.NotRecorded || d.TxID != missed.Hex() || d.Chain != asks[3].String() || d.Recorded != "" {
				t.Errorf("discrepancy %+v: want the payment mined after the stop", d)
			}
			sum := new(big.Int).Add(asks[0], asks[1])
			sum.Add(sum, asks[2])
			if tot := rep.Totals; len(tot) != 1 || tot[0].RecordedUnits != sum.String() ||
				tot[0].ChainUnits != new(big.Int).Add(sum, asks[3]).String() || tot[0].ChainTransfers != 4 {
				t.Errorf("totals %+v", rep.Totals)
			}
		})
	}
}

// TestReconcileFlags checks that bad flags are refused with a message
// naming what is wrong, before any database or RPC is touched.
func TestReconcileFlags(t *testing.T) {
	t.Parallel()
	ok := []string{"--from", "2026-01-01", "--to", "2026-01-02"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no network", nil, ok, "--network is required"},
		{"unknown network", nil, append([]string{"--network", "dogechain"}, ok...), `unknown network "dogechain"`},
		{"solana without rpc", nil, append([]string{"--network", "solana_devnet"}, ok...), "no RPC configured for solana_devnet: set SETTLE_RPC_SOLANA_DEVNET"},
		{"sandbox", nil, append([]string{"--network", "sandbox"}, ok...), "reconcile supports EVM and Solana networks; sandbox is a"},
		{"no from", nil, []string{"--network", "base", "--to", "2026-01-02"}, "--from is required"},
		{"bad time", nil, []string{"--network", "base", "--from", "yesterday", "--to", "2026-01-02"}, `--from "yesterday": want an RFC 3339 time`},
		{"from after to", nil, []string{"--network", "base", "--from", "2026-01-02", "--to", "2026-01-01T12:00:00Z"}, "--to (2026-01-01T12:00:00Z) must be after --from"},
		{"from equals to", nil, []string{"--network", "base", "--from", "2026-01-02", "--to", "2026-01-02T00:00:00Z"}, "must be after --from"},
		{"no rpc", map[string]string{"SETTLE_RPC_SEPOLIA": "http://127.0.0.1:1"}, append([]string{"--network", "base"}, ok...), "no RPC configured for base: set SETTLE_RPC_BASE"},
		{"bad rpc", map[string]string{"SETTLE_RPC_BASE": "ftp://x"}, append([]string{"--network", "base"}, ok...), "SETTLE_RPC_BASE: want a http(s) URL"},
		{"argument", nil, append([]string{"--network", "base", "extra"}, ok...), "reconcile takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := reconcileRun(t, tc.env, tc.args...)
			if err == nil || errors.Is(err, errFailed) || !strings.Contains(err.Error(), tc.want) || out != "" {
				t.Errorf("err %v, out %q: want an error containing %q", err, out, tc.want)
			}
		})
	}
}

// TestReconcileSolana runs `settle reconcile` on a Solana network against a
// node that serves another cluster (refused), then its own with no
// receiving wallet (nothing to report, in slots). The audit itself is
// tested in chains/solana.
func TestReconcileSolana(t *testing.T) {
	t.Parallel()
	n, _ := chains.NetworkByID("solana_devnet")
	mainnet, _ := chains.NetworkByID("solana")
	node := func(genesis string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			if req.Method != "getGenesisHash" {
				t.Errorf("node: unexpected %s", req.Method)
			}
			json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": genesis})
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	db := storetest.Open(t, "sqlite")
	e2eJSON(t, "merchants", "create", "--name", "Shop", "--database-url", db.URL)
	args := []string{"--network", "solana_devnet", "--from", "2026-01-01", "--to", "2026-01-02", "--database-url", db.URL}
	out, err := reconcileRun(t, map[string]string{"SETTLE_RPC_SOLANA_DEVNET": node(mainnet.Genesis)}, args...)
	if err == nil || !strings.Contains(err.Error(), "rpc serves another cluster") || out != "" {
		t.Errorf("wrong cluster: err %v, out %q", err, out)
	}
	out, err = reconcileRun(t, map[string]string{"SETTLE_RPC_SOLANA_DEVNET": node(n.Genesis)}, args...)
	if err != nil || !strings.Contains(out, "reconcile solana_devnet, every merchant, no slot (2026-01-01T00:00:00Z to 2026-01-02T00:00:00Z)") ||
		!strings.Contains(out, "no discrepancies") {
		t.Errorf("err %v, out:\n%s", err, out)
	}
}

// TestDatabaseOpenErrors: a database that cannot be opened is named in the
// error, by its path or its URL without the password, on SQLite and on
// Postgres; reading (reconcile) creates no SQLite file.
func TestDatabaseOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o600)
	missing := "sqlite://" + filepath.Join(dir, "nowhere", "settle.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"reconcile, no such file", []string{"reconcile", "--network", "devnet", "--database-url", missing, "--from", "2026-01-01",
			"--to", "2026-01-02", "--data-dir", dir}, "cannot open database " + missing + ": no file"},
		{"reconcile, a directory", []string{"reconcile", "--network", "devnet", "--database-url", "sqlite://" + dir, "--from", "2026-01-01",
			"--to", "2026-01-02", "--data-dir", dir}, "cannot open database sqlite://" + dir + ": "},
		{"migrate, under a file", []string{"migrate", "--database-url", "sqlite://" + filepath.Join(notDir, "settle.db")},
			"cannot open database sqlite://" + filepath.Join(notDir, "settle.db") + ": "},
		{"serve, a directory", []string{"serve", "--database-url", "sqlite://" + dir},
			"cannot open database sqlite://" + dir + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SETTLE_RPC_DEVNET": "http://127.0.0.1:1"}
			m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
			err := m.Run(t.Context(), tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reconcile created the missing database's directory: %v", err)
	}

	pg := os.Getenv("SETTLE_TEST_POSTGRES_URL")
	if pg == "" {
		t.Skip("SETTLE_TEST_POSTGRES_URL not set: the Postgres case is not run")
	}
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(cmp.Or(u.User.Username(), "postgres"), "hunter2secret")
	u.Path = "/settle_no_such_database"
	for _, args := range [][]string{
		{"migrate", "--database-url", u.String()},
		{"reconcile", "--network", "devnet", "--database-url", u.String(), "--from", "2026-01-01", "--to", "2026-01-02", "--data-dir", dir},
	} {
		m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
			if k == "SETTLE_RPC_DEVNET" {
				return "http://127.0.0.1:1"
			}
			return ""
		}}
		err := m.Run(t.Context(), args)
		if err == nil || !strings.Contains(err.Error(), "cannot open database "+u.Redacted()) || strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("%s: %v: want the URL without its password", args[0], err)
		}
	}
}
