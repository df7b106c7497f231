package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// benchEnv is the real API on a fresh database, with a merchant's test key.
type benchEnv struct {
	db  storetest.DB
	url string
	key string
}

func newBenchEnv(t *testing.T, db storetest.DB) benchEnv {
	t.Helper()
	svc := invoice.NewService(db.DB, nil, payor.NewSigner([]byte("0123456789abcdef0123456789abcdef"), "http://pay.test"), nil)
	srv := httptest.NewServer(openapi.New(openapi.Deps{Invoices: svc}))
	t.Cleanup(srv.Close)
	_, key, err := svc.CreateMerchant(context.Background(), "Bench Shop")
	if err != nil {
		t.Fatal(err)
	}
	return benchEnv{db: db, url: srv.URL, key: key}
}

// runBenchCmd runs `settle bench create … --json` as the binary would and
// decodes its result.
func runBenchCmd(t *testing.T, args ...string) (benchResult, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	err := m.Run(context.Background(), append([]string{"bench", "create", "--json"}, args...))
	var res benchResult
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		t.Fatalf("bench output is not one JSON object (%v; run error %v): %q, stderr %q", jerr, err, stdout.String(), stderr.String())
	}
	return res, err
}

func countRows(t *testing.T, db storetest.DB, table string) int {
	t.Helper()
	n, err := db.NewSelect().Table(table).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestBenchCreateMatchesStore(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newBenchEnv(t, db)
		res, err := runBenchCmd(t, "--url", e.url, "--key", e.key, "--concurrency", "4", "--duration", "300ms")
		if err != nil {
			t.Fatalf("bench: %v (%+v)", err, res)
		}
		if res.Errors != 0 || len(res.ErrorsByStatus) != 0 {
			t.Fatalf("errors %d %v: %s", res.Errors, res.ErrorsByStatus, res.FirstError)
		}
		if res.Succeeded == 0 || res.Requests != res.Succeeded {
			t.Fatalf("requests %d, succeeded %d", res.Requests, res.Succeeded)
		}
		if got := countRows(t, db, "invoices"); got != res.Succeeded {
			t.Errorf("invoices in the store %d, reported created %d", got, res.Succeeded)
		}
		if got := countRows(t, db, "events"); got != res.Succeeded {
			t.Errorf("events in the store %d, reported created %d", got, res.Succeeded)
		}
		var orders []string
		if err := db.NewSelect().Table("invoices").Column("merchant_order_id").Scan(context.Background(), &orders); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, o := range orders {
			if !strings.HasPrefix(o, "bench-") || seen[o] {
				t.Fatalf("merchant_order_id %q is not a fresh bench-<n>", o)
			}
			seen[o] = true
		}
		l := res.Latency
		if !(0 < l.P50 && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("latencies out of order: %+v", l)
		}
		if res.RequestsPerSecond <= 0 || res.Concurrency != 4 {
			t.Errorf("result %+v", res)
		}
	})
}

func TestBenchCreateWrongKey(t *testing.T) {
	t.Parallel()
	e := newBenchEnv(t, storetest.Open(t, "sqlite"))
	res, err := runBenchCmd(t, "--url", e.url, "--key", "sk_test_wrongwrongwrongwrongwrong", "--concurrency", "4", "--duration", "300ms")
	if !errors.Is(err, errFailed) {
		t.Fatalf("err %v, want errFailed", err)
	}
	if res.Requests == 0 || res.Succeeded != 0 || res.Errors != res.Requests {
		t.Fatalf("requests %d, succeeded %d, errors %d", res.Requests, res.Succeeded, res.Errors)
	}
	if len(res.ErrorsByStatus) != 1 || res.ErrorsByStatus["401"] != res.Requests {
		t.Fatalf("errors by status %v, want all 401", res.ErrorsByStatus)
	}
	if !strings.Contains(res.FirstError, "invalid_api_key") {
		t.Errorf("first error %q does not show the problem code", res.FirstError)
	}
	if got := countRows(t, e.db, "invoices"); got != 0 {
		t.Errorf("%d invoices stored with a wrong key", got)
	}
}

func TestBenchCreateTransportErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close() // nothing listens there any more
	res, err := runBenchCmd(t, "--url", url, "--key", "sk_test_x", "--concurrency", "2", "--duration", "100ms")
	if !errors.Is(err, errFailed) {
		t.Fatalf("err %v, want errFailed", err)
	}
	if res.Succeeded != 0 || res.ErrorsByStatus["transport"] != res.Requests || res.Requests == 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestBenchCreateFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--key", ""},
		{"--key", "k", "--url", "ftp://host"},
		{"--key", "k", "--url", "localhost:8080"},
		{"--key", "k", "--concurrency", "0"},
		{"--key", "k", "--duration", "0s"},
		{"--key", "k", "--amount", "1e3"},
		{"--key", "k", "--amount", "-5"},
		{"--key", "k", "--currency", "usd"},
	} {
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := m.Run(ctx, append([]string{"bench", "create"}, args...))
		cancel()
		if err == nil || out.Len() > 0 && strings.Contains(out.String(), "requests/s") {
			t.Errorf("%v: err %v, output %q; want a refusal before any request", args, err, out.String())
		}
	}
}

func TestSummarise(t *testing.T) {
	t.Parallel()
	d := make([]time.Duration, 0, 100)
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := summarise(d)
	want := benchLatency{Min: 1000, Mean: 50500, P50: 50000, P90: 90000, P99: 99000, Max: 100000}
	if got != want {
		t.Errorf("summarise = %+v, want %+v", got, want)
	}
	if one := summarise([]time.Duration{7 * time.Microsecond}); one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Errorf("one sample: %+v", one)
	}
}
