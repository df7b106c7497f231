package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
)

// e2eRun runs one settle command as the binary would and returns stdout.
func e2eRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	err := m.Run(context.Background(), args)
	if err != nil {
		t.Logf("settle %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), err
}

func e2eJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, err := e2eRun(t, args...)
	if err != nil {
		t.Fatalf("settle %s: %v", strings.Join(args, " "), err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("settle %s printed %q, not one JSON object", strings.Join(args, " "), out)
	}
	return v
}

// e2eServe starts `settle serve` on a free loopback port and returns its base
// URL and a function that stops it with SIGTERM's path (context cancel) and
// reports how serve returned.
func e2eServe(t *testing.T, dbURL string) (string, func() error) {
	t.Helper()
	return e2eServeEnv(t, dbURL, nil, nil)
}

// e2eServeEnv is e2eServe with environment variables, writing its log to
// logs when not nil.
func e2eServeEnv(t *testing.T, dbURL string, env map[string]string, logs *syncBuffer) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	if logs == nil {
		logs = &syncBuffer{}
	}
	m := &Main{Stdout: io.Discard, Stderr: logs, Getenv: func(k string) string { return env[k] },
		Ready: func(addr string) { ready <- addr }}
	go func() {
		done <- m.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database-url", dbURL,
			"--public-url", "https://pay.example.test", "--expire-interval", "50ms"})
	}()
	select {
	case addr := <-ready:
		return "http://" + addr, func() error { cancel(); return <-done }
	case err := <-done:
		t.Fatalf("serve ended before listening: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", nil
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func e2eDo(t *testing.T, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	return e2eDoWith(t, method, url, map[string]string{"Authorization": "Bearer " + key}, body)
}

func e2eDoWith(t *testing.T, method, url string, header map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}

// e2eEventually repeats do until it answers want, for at most ten times
// invoice.KeyRefreshInterval, and returns the last answer.
func e2eEventually(t *testing.T, do func() (int, map[string]any), want int) (int, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(10 * invoice.KeyRefreshInterval)
	for {
		status, v := do()
		if status == want || time.Now().After(deadline) {
			return status, v
		}
		time.Sleep(invoice.KeyRefreshInterval / 5)
	}
}

// TestWalkthrough follows the README: create a merchant, serve, create an
// invoice, read its status, pay it in the sandbox; then the key rules that
// the CLI controls (live gate, read scope, revocation) and a clean shutdown.
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, dialect)
			mer := e2eJSON(t, "merchants", "create", "--name", "Corner Café", "--database-url", db.URL)
			merchantID, _ := mer["merchant_id"].(string)
			testKey, _ := mer["test_api_key"].(string)
			if !strings.HasPrefix(merchantID, "mer_") || !strings.HasPrefix(testKey, "sk_test_") || len(mer) != 2 {
				t.Fatalf("merchants create printed %v", mer)
			}
			base, stop := e2eServe(t, db.URL)

			status, inv := e2eDo(t, "POST", base+"/api/v1/invoices", testKey, `{"amount":"25.00","currency":"USD","description":"Flat white"}`)
			if status != 201 || inv["status"] != "open" || !strings.HasPrefix(inv["payment_url"].(string), "https://pay.example.test/pay/") {
				t.Fatalf("create invoice: %d %v", status, inv)
			}
			id := inv["id"].(string)
			status, st := e2eDo(t, "GET", base+"/api/v1/invoices/"+id+"/status", testKey, "")
			if status != 200 || st["status"] != "open" || st["amount_due"] != "25.00" {
				t.Fatalf("status: %d %v", status, st)
			}
			status, _ = e2eDo(t, "POST", base+"/api/v1/test/invoices/"+id+"/simulate-payment", testKey, `{"amount":"25.00"}`)
			if status != 200 {
				t.Fatalf("simulate-payment: %d", status)
			}
			_, st = e2eDo(t, "GET", base+"/api/v1/invoices/"+id+"/status", testKey, "")
			if st["status"] != "paid" || st["amount_due"] != "0.00" {
				t.Fatalf("after payment: %v", st)
			}

			live := e2eJSON(t, "keys", "create", "--merchant", merchantID, "--mode", "live", "--scope", "merchant", "--database-url", db.URL)
			liveKey := live["api_key"].(string)
			if !strings.HasPrefix(liveKey, "sk_live_") || live["mode"] != "live" || live["scope"] != "merchant" {
				t.Fatalf("keys create printed %v", live)
			}
			status, p := e2eDo(t, "POST", base+"/api/v1/invoices", liveKey, `{"amount":"5.00","currency":"USD"}`)
			if status != 403 || p["code"] != "live_mode_disabled" {
				t.Fatalf("live key before enable-live: %d %v", status, p)
			}
			e2eJSON(t, "merchants", "enable-live", merchantID, "--database-url", db.URL)
			// The server learns of the change within invoice.KeyRefreshInterval.
			status, p = e2eEventually(t, func() (int, map[string]any) {
				return e2eDo(t, "GET", base+"/api/v1/invoices", liveKey, "")
			}, 200)
			if status != 200 || len(p["data"].([]any)) != 0 {
				t.Fatalf("live key after enable-live: %d %v", status, p)
			}
			// No live network has an RPC endpoint here and the merchant has
			// no rail account: nothing to pay with.
			status, p = e2eDo(t, "POST", base+"/api/v1/invoices", liveKey, `{"amount":"5.00","currency":"USD"}`)
			if status != 422 || p["code"] != "receiving_account_missing" {
				t.Fatalf("live invoice without a live network: %d %v", status, p)
			}

			read := e2eJSON(t, "keys", "create", "--merchant", merchantID, "--mode", "test", "--scope", "read", "--database-url", db.URL)
			readKey := read["api_key"].(string)
			if status, p = e2eDo(t, "POST", base+"/api/v1/invoices", readKey, `{"amount":"5.00","currency":"USD"}`); status != 403 || p["code"] != "insufficient_scope" {
				t.Fatalf("read key wrote: %d %v", status, p)
			}
			if status, _ = e2eDo(t, "GET", base+"/api/v1/invoices/"+id, readKey, ""); status != 200 {
				t.Fatalf("read key could not read: %d", status)
			}
			e2eJSON(t, "keys", "revoke", read["prefix"].(string), "--database-url", db.URL)
			if status, p = e2eEventually(t, func() (int, map[string]any) {
				return e2eDo(t, "GET", base+"/api/v1/invoices/"+id, readKey, "")
			}, 401); status != 401 {
				t.Fatalf("revoked key: %d %v", status, p)
			}
			if _, err := e2eRun(t, "keys", "revoke", "sk_test_nosuchkey", "--database-url", db.URL); err == nil {
				t.Fatal("revoking an unknown prefix succeeded")
			}

			if err := stop(); err != nil {
				t.Fatalf("serve did not shut down cleanly: %v", err)
			}
			if _, err := http.Get(base + "/healthz"); err == nil {
				t.Fatal("server still answers after shutdown")
			}
		})
	}
}

func TestExpiryRunsInServe(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, "sqlite")
	mer := e2eJSON(t, "merchants", "create", "--name", "Shop", "--database-url", db.URL)
	key := mer["test_api_key"].(string)
	base, stop := e2eServe(t, db.URL)
	defer stop()
	at := time.Now().Add(61 * time.Second).UTC().Format(time.RFC3339Nano)
	status, inv := e2eDo(t, "POST", base+"/api/v1/invoices", key, `{"amount":"1.00","currency":"USD","expires_at":"`+at+`"}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	// The expirer runs every 50 ms; move the invoice's expiry into the past
	// in the store rather than waiting a minute.
	if _, err := db.NewUpdate().TableExpr("invoices").Set("expires_at = ?", time.Now().Add(-time.Second).UTC()).
		Where("id = ?", inv["id"]).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, st := e2eDo(t, "GET", base+"/api/v1/invoices/"+inv["id"].(string)+"/status", key, "")
		if st["status"] == "expired" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("invoice not expired by the serve loop: %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMigrateAndOpenAPICommands(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new.db")
	if _, err := e2eRun(t, "migrate", "--database-url", "sqlite://"+path); err != nil {
		t.Fatal(err)
	}
	if _, err := e2eRun(t, "migrate", "--database-url", "sqlite://"+path); err != nil {
		t.Fatalf("second migrate is not a no-op: %v", err)
	}
	out, err := e2eRun(t, "openapi")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := openapi.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if out != string(spec) {
		t.Fatal("settle openapi differs from openapi.Spec()")
	}
	if _, err := e2eRun(t, "frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}
	if _, err := e2eRun(t, "migrate", "--database-url", "mysql://x"); err == nil {
		t.Fatal("unsupported database URL accepted")
	}
}

// TestTwoInstancesShareEvents runs two servers on one database: invoices
// created through either (with and without Idempotency-Key) appear once
// each, in one sequence, in the event feed read through the other.
func TestTwoInstancesShareEvents(t *testing.T) {
	t.Parallel()
	dialects := storetest.Dialects(t)
	if !slices.Contains(dialects, "postgres") {
		t.Skip("two instances share a database on Postgres only; set " + storetest.PostgresEnv)
	}
	db := storetest.Open(t, "postgres")
	mer := e2eJSON(t, "merchants", "create", "--name", "Shop", "--database-url", db.URL)
	key := mer["test_api_key"].(string)
	a, stopA := e2eServe(t, db.URL)
	defer stopA()
	b, stopB := e2eServe(t, db.URL)
	defer stopB()

	var created []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			base := a
			if i%2 == 1 {
				base = b
			}
			req, _ := http.NewRequest("POST", base+"/api/v1/invoices", strings.NewReader(`{"amount":"1.00","currency":"USD"}`))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			if i%4 < 2 {
				req.Header.Set("Idempotency-Key", fmt.Sprintf("k-%d", i))
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			var v map[string]any
			json.NewDecoder(res.Body).Decode(&v)
			if res.StatusCode != 201 {
				t.Errorf("create through %s: %d %v", base, res.StatusCode, v)
				return
			}
			mu.Lock()
			created = append(created, v["id"].(string))
			mu.Unlock()
		})
	}
	wg.Wait()

	for _, base := range []string{a, b} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, page := e2eDo(t, "GET", base+"/api/v1/events?limit=100", key, "")
			data, _ := page["data"].([]any)
			if status == 200 && len(data) == len(created) {
				seen := map[string]bool{}
				last := 0.0
				for _, raw := range data {
					ev := raw.(map[string]any)
					obj := ev["data"].(map[string]any)["object"].(map[string]any)
					seq := ev["sequence"].(float64)
					if seq <= last || seen[obj["id"].(string)] {
						t.Fatalf("feed through %s out of order or duplicated at %v", base, ev)
					}
					last = seq
					seen[obj["id"].(string)] = true
				}
				for _, id := range created {
					if !seen[id] {
						t.Fatalf("invoice %s missing from the feed through %s", id, base)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("feed through %s has %d events, want %d", base, len(data), len(created))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestServeRefusesBadSettings(t *testing.T) {
	t.Parallel()
	// serve is given an address already taken: a bad setting is refused
	// before anything is bound (and the test never binds the machine's
	// :8080, which another program may hold).
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for env, want := range map[string]string{
		"SETTLE_WEBHOOK_WORKERS":       "SETTLE_WEBHOOK_WORKERS",
		"SETTLE_WS_IDLE_TIMEOUT":       "SETTLE_WS_IDLE_TIMEOUT",
		"SETTLE_EXPIRE_INTERVAL":       "SETTLE_EXPIRE_INTERVAL",
		"SETTLE_WS_MAX_PER_IP":         "SETTLE_WS_MAX_PER_IP",
		"SETTLE_WEBHOOK_TIMEOUT":       "SETTLE_WEBHOOK_TIMEOUT",
		"SETTLE_WS_SEND_BUFFER":        "SETTLE_WS_SEND_BUFFER",
		"SETTLE_SHUTDOWN_GRACE":        "SETTLE_SHUTDOWN_GRACE",
		"SETTLE_WS_PING_INTERVAL":      "SETTLE_WS_PING_INTERVAL",
		"SETTLE_RPC_BASE":              "SETTLE_RPC_BASE: want a http(s) URL such as https://rpc.example/KEY",
		"SETTLE_WS_BASE_SEPOLIA":       "SETTLE_WS_BASE_SEPOLIA: want a ws(s) URL such as wss://rpc.example/KEY",
		"SETTLE_CONFIRMATIONS_POLYGON": "SETTLE_CONFIRMATIONS_POLYGON",
		"SETTLE_EVM_POLL_INTERVAL":     "SETTLE_EVM_POLL_INTERVAL",
		"SETTLE_CONFIG":                "config file",
		"SETTLE_PAYOR_WS_MAX_PER_IP":   "SETTLE_PAYOR_WS_MAX_PER_IP",
		"SETTLE_WEBHOOK_ALLOW_PRIVATE": "SETTLE_WEBHOOK_ALLOW_PRIVATE",
	} {
		var errOut bytes.Buffer
		m := &Main{Stdout: io.Discard, Stderr: &errOut, Getenv: func(k string) string {
			if k == env {
				return "not-a-number"
			}
			return ""
		}}
		err := m.Run(context.Background(), []string{"serve", "--addr", addr, "--database-url", "sqlite://" + filepath.Join(t.TempDir(), "x.db")})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=not-a-number: serve returned %v, want an error naming the variable", env, err)
		}
	}
	// A config file naming a network that does not exist, or a setting of a
	// network without its RPC URL.
	for body, want := range map[string]string{
		`{"networks":{"base_mainnet":{"rpc":"https://rpc.example"}}}`:           `unknown EVM or Solana network "base_mainnet"`,
		`{"networks":{"base":{"ws":"wss://rpc.example"}}}`:                      "network base has settings but no RPC URL",
		`{"networks":{"base":{"rpc":"https://rpc.example","confirmations":0}}}`: "networks.base.confirmations",
		`{"netwerks":{}}`: "unknown field",
	} {
		file := filepath.Join(t.TempDir(), "settle.json")
		os.WriteFile(file, []byte(body), 0o600)
		m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
		err := m.Run(context.Background(), []string{"serve", "--addr", addr, "--config", file, "--database-url", "sqlite://" + filepath.Join(t.TempDir(), "z.db")})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %s: serve returned %v, want %q", body, err, want)
		}
	}
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	err = m.Run(context.Background(), []string{"serve", "--addr", addr, "--webhook-workers", "0", "--database-url", "sqlite://" + filepath.Join(t.TempDir(), "y.db")})
	if err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Errorf("--webhook-workers 0: %v", err)
	}
	// A WebSocket cap is positive or -1 (no limit); 0 would silently mean
	// the default.
	for _, flag := range []string{"--ws-max-per-merchant", "--payor-ws-max-per-session"} {
		err = m.Run(context.Background(), []string{"serve", "--addr", addr, flag, "0", "--database-url", "sqlite://" + filepath.Join(t.TempDir(), "w.db")})
		if err == nil || !strings.Contains(err.Error(), "must be positive, or -1 for no limit") {
			t.Errorf("%s 0: %v", flag, err)
		}
	}
}
