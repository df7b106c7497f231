package openapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// queryLog records the statements bun sends while on.
type queryLog struct {
	mu      sync.Mutex
	on      bool
	queries []string
}

func (l *queryLog) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (l *queryLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.on {
		l.queries = append(l.queries, e.Query)
	}
}

// during returns the statements sent while fn runs.
func (l *queryLog) during(fn func()) []string {
	l.mu.Lock()
	l.on, l.queries = true, nil
	l.mu.Unlock()
	fn()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	return l.queries
}

func counting(queries []string, substr string) int {
	n := 0
	for _, q := range queries {
		if strings.Contains(q, substr) {
			n++
		}
	}
	return n
}

// A USD invoice offers the four US rails by default. Their accounts are
// read in one query, and a merchant with none keeps the one-statement
// create on Postgres (on SQLite: one transaction of two inserts).
func TestCreateRailAccountsOneQuery(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupOffering(t, db, nil) // the sandbox and the rails only
		log := &queryLog{}
		db.AddQueryHook(log)
		body := map[string]any{"amount": "25.00", "currency": "USD"}
		e.createInvoice(body) // the key is cached from now on

		var inv map[string]any
		queries := log.during(func() { inv = e.createInvoice(body) })
		if got := inv["payment_methods"].([]any); !slices.Equal(got, []any{"sandbox"}) {
			t.Errorf("payment_methods %v, want [sandbox]: no rail account", got)
		}
		if n := counting(queries, "rail_accounts"); n != 1 {
			t.Errorf("%d rail_accounts queries, want 1:\n%s", n, strings.Join(queries, "\n"))
		}
		// Authentication aside (its key cache is not at stake here).
		queries = slices.DeleteFunc(queries, func(q string) bool { return strings.Contains(q, "api_keys") })
		want := 5 // the lookup, BEGIN, two inserts, COMMIT
		if db.Name == "postgres" {
			want = 2 // the lookup, then WITH invoice AS (INSERT …) INSERT INTO events
		}
		if len(queries) != want {
			t.Errorf("%d statements per create, want %d:\n%s", len(queries), want, strings.Join(queries, "\n"))
		}

		// With a FedNow account the invoice offers it, in a transaction
		// that writes its reference; the accounts are still one query.
		e.mustStatus(e.do("POST", "/api/v1/rail-accounts", e.key, bankAccount("fednow")), http.StatusCreated)
		queries = log.during(func() { inv = e.createInvoice(body) })
		if got := inv["payment_methods"].([]any); !slices.Equal(got, []any{"sandbox", "fednow"}) {
			t.Errorf("payment_methods %v, want [sandbox fednow]", got)
		}
		if n := counting(queries, "rail_accounts"); n != 1 {
			t.Errorf("%d rail_accounts queries, want 1:\n%s", n, strings.Join(queries, "\n"))
		}
		if counting(queries, "invoice_references") != 1 || counting(queries, "BEGIN") != 1 {
			t.Errorf("want a transaction writing the reference:\n%s", strings.Join(queries, "\n"))
		}
	})
}

// A USD test invoice offers the stablecoins of every test EVM network with
// an endpoint. The merchant's receiving accounts on them are read in one
// query; with none, nothing chain-specific is written and the create keeps
// its one statement on Postgres; with an address on each, a unique amount
// is taken on each in the invoice's transaction.
func TestCreateReceivingAccountsOneQuery(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		endpoints := map[string]chains.Endpoint{}
		for _, n := range chains.Networks() {
			if n.Kind == chains.KindEVM && n.Mode == invoice.ModeTest {
				endpoints[n.ID] = chains.Endpoint{HTTP: "http://127.0.0.1:9"}
			}
		}
		e := setupOffering(t, db, endpoints) // an address on each network
		log := &queryLog{}
		db.AddQueryHook(log)
		body := map[string]any{"amount": "25.00", "currency": "USD"}
		_, otherKey := e.otherMerchant() // no receiving account
		e.createInvoice(body)            // the keys are cached from now on
		e.createInvoiceWith(otherKey, body)

		var inv map[string]any
		queries := log.during(func() { inv = e.createInvoiceWith(otherKey, body) })
		if got := inv["payment_methods"].([]any); !slices.Equal(got, []any{"sandbox"}) {
			t.Errorf("payment_methods %v, want [sandbox]: no receiving account", got)
		}
		if n := counting(queries, "receiving_accounts"); n != 1 {
			t.Errorf("%d receiving_accounts queries, want 1:\n%s", n, strings.Join(queries, "\n"))
		}
		queries = slices.DeleteFunc(queries, func(q string) bool { return strings.Contains(q, "api_keys") })
		want := 6 // the two lookups, BEGIN, two inserts, COMMIT
		if db.Name == "postgres" {
			want = 3 // the two lookups, then WITH invoice AS (INSERT …) INSERT INTO events
		}
		if len(queries) != want {
			t.Errorf("without accounts: %d statements per create, want %d:\n%s", len(queries), want, strings.Join(queries, "\n"))
		}
		t.Logf("without receiving accounts: %d statements per create", len(queries))

		queries = log.during(func() { inv = e.createInvoice(body) })
		networks := map[string]bool{}
		for _, id := range inv["payment_methods"].([]any) {
			if m, _ := chains.MethodByID(id.(string)); endpoints[m.Network].HTTP != "" {
				networks[m.Network] = true
			}
		}
		if len(networks) != len(endpoints) {
			t.Errorf("payment_methods %v on %v, want every one of %d networks", inv["payment_methods"], networks, len(endpoints))
		}
		if n := counting(queries, "receiving_accounts"); n != 1 {
			t.Errorf("%d receiving_accounts queries, want 1:\n%s", n, strings.Join(queries, "\n"))
		}
		if counting(queries, "INSERT INTO \"deposits\"") != len(endpoints) || counting(queries, "BEGIN") != 1 {
			t.Errorf("want one transaction taking a unique amount on each of %d networks:\n%s", len(endpoints), strings.Join(queries, "\n"))
		}
		queries = slices.DeleteFunc(queries, func(q string) bool { return strings.Contains(q, "api_keys") })
		t.Logf("with an address on each of %d networks: %d statements per create", len(endpoints), len(queries))
	})
}
