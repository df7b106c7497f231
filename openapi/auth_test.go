package openapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

var newInvoice = map[string]any{"amount": "25.00", "currency": "USD"}

// TestAuthRefused checks that requests without a usable key are refused
// before they reach any operation, and change nothing.
func TestAuthRefused(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := context.Background()
		revoked, key, err := e.svc.CreateKey(ctx, e.merchant, invoice.ModeTest, invoice.ScopeMerchant)
		if err != nil {
			t.Fatal(err)
		}
		e.createInvoiceWith(revoked, newInvoice) // it works until revoked
		if err := e.svc.RevokeKey(ctx, key.Prefix); err != nil {
			t.Fatal(err)
		}
		id := str(t, e.createInvoice(newInvoice), "id")
		cases := []struct {
			name          string
			authorization string // "" sends no header
			code          string
		}{
			{"missing", "", "unauthenticated"},
			{"empty bearer", "Bearer ", "unauthenticated"},
			{"not bearer", "Basic dXNlcjpwYXNz", "unauthenticated"},
			{"bare key without scheme", e.key, "unauthenticated"},
			{"malformed key", "Bearer not-a-key", "invalid_api_key"},
			{"unknown test key", "Bearer sk_test_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "invalid_api_key"},
			{"unknown live key", "Bearer sk_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "invalid_api_key"},
			{"key with a character changed", "Bearer " + e.key[:len(e.key)-1] + flip(e.key[len(e.key)-1]), "invalid_api_key"},
			{"revoked key", "Bearer " + revoked, "invalid_api_key"},
		}
		requests := []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/invoices", nil},
			{"GET", "/api/v1/invoices/" + id, nil},
			{"GET", "/api/v1/invoices/" + id + "/status", nil},
			{"POST", "/api/v1/invoices", newInvoice},
			{"POST", "/api/v1/invoices/" + id + "/cancel", nil},
			{"POST", "/api/v1/test/invoices/" + id + "/simulate-payment", map[string]any{"amount": "25.00"}},
			{"GET", "/api/v1/no-such-thing", nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				before := e.counts()
				for _, rq := range requests {
					req := e.request(rq.method, rq.path, "", rq.body)
					if tc.authorization != "" {
						req.Header.Set("Authorization", tc.authorization)
					}
					r, err := send(req)
					if err != nil {
						t.Fatal(err)
					}
					e.wantProblem(r, http.StatusUnauthorized, tc.code)
					if r.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s %s: 401 without WWW-Authenticate", rq.method, rq.path)
					}
				}
				if after := e.counts(); after.String() != before.String() {
					t.Errorf("store changed: before %v, after %v", before, after)
				}
			})
		}
		e.t = t
		// The scheme is case-insensitive, and space around the key is no mistake.
		for _, auth := range []string{"bearer " + e.key, "BEARER  " + e.key + " "} {
			req := e.request("GET", "/api/v1/invoices/"+id, "", nil)
			req.Header.Set("Authorization", auth)
			r, err := send(req)
			if err != nil {
				t.Fatal(err)
			}
			e.mustStatus(r, http.StatusOK)
		}
		got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON
		if got["status"] != "open" {
			t.Errorf("invoice is %v after refused requests, want open", got["status"])
		}
	})
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

// TestReadScope checks that a key of scope read reads everything and
// writes nothing.
func TestReadScope(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		read := e.newKey(e.merchant, invoice.ModeTest, invoice.ScopeRead)
		id := str(t, e.createInvoice(newInvoice), "id")
		for _, path := range []string{"/api/v1/invoices", "/api/v1/invoices/" + id, "/api/v1/invoices/" + id + "/status"} {
			e.mustStatus(e.do("GET", path, read, nil), http.StatusOK)
		}
		before := e.counts()
		for _, path := range []string{"/api/v1/invoices", "/api/v1/invoices/" + id + "/cancel", "/api/v1/test/invoices/" + id + "/simulate-payment"} {
			r := e.do("POST", path, read, map[string]any{"amount": "25.00", "currency": "USD"}, "Idempotency-Key", "read-"+path)
			e.wantProblem(r, http.StatusForbidden, "insufficient_scope")
		}
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("store changed: before %v, after %v", before, after)
		}
		got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, read, nil), http.StatusOK).JSON
		if got["status"] != "open" {
			t.Errorf("invoice is %v after a read key tried to cancel it, want open", got["status"])
		}
	})
}

// TestLiveGate checks that live keys work only once an operator has enabled
// live mode for their merchant.
func TestLiveGate(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		live := e.newKey(e.merchant, invoice.ModeLive, invoice.ScopeMerchant)
		liveRead := e.newKey(e.merchant, invoice.ModeLive, invoice.ScopeRead)
		before := e.counts()
		e.wantProblem(e.do("GET", "/api/v1/invoices", live, nil), http.StatusForbidden, "live_mode_disabled")
		e.wantProblem(e.do("GET", "/api/v1/invoices", liveRead, nil), http.StatusForbidden, "live_mode_disabled")
		e.wantProblem(e.do("POST", "/api/v1/invoices", live, newInvoice), http.StatusForbidden, "live_mode_disabled")
		e.wantProblem(e.do("POST", "/api/v1/invoices", live, newInvoice, "Idempotency-Key", "gated"), http.StatusForbidden, "live_mode_disabled")
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("store changed: before %v, after %v", before, after)
		}
		// The test key is not gated.
		e.createInvoice(newInvoice)

		if err := e.svc.EnableLive(context.Background(), e.merchant); err != nil {
			t.Fatal(err)
		}
		inv := e.mustStatus(e.do("POST", "/api/v1/invoices", live, newInvoice, "Idempotency-Key", "gated"), http.StatusCreated).JSON
		if inv["mode"] != "live" {
			t.Errorf("mode %v, want live", inv["mode"])
		}
		methods, _ := inv["payment_methods"].([]any)
		if len(methods) == 0 || slices.Contains(methods, any("sandbox")) || !slices.Contains(methods, any("usdc_base")) {
			t.Errorf("live payment_methods %v: want the live methods, without sandbox", methods)
		}
		list := e.mustStatus(e.do("GET", "/api/v1/invoices", liveRead, nil), http.StatusOK).JSON
		if data, _ := list["data"].([]any); len(data) != 1 {
			t.Errorf("live list has %d invoices, want 1: %s", len(data), list)
		}
		e.wantProblem(e.do("POST", "/api/v1/invoices", liveRead, newInvoice), http.StatusForbidden, "insufficient_scope")
	})
}

// TestIsolation checks that a key sees only its own merchant's objects of
// its own mode, and that the others look as if they did not exist.
func TestIsolation(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		live := e.liveKey()
		_, otherKey := e.otherMerchant()
		mine := str(t, e.createInvoice(newInvoice), "id")
		liveInv := str(t, e.createInvoiceWith(live, newInvoice), "id")
		theirs := str(t, e.createInvoiceWith(otherKey, newInvoice), "id")

		cases := []struct {
			name, key, id string
		}{
			{"test key, live invoice", e.key, liveInv},
			{"live key, test invoice", live, mine},
			{"test key, other merchant's invoice", e.key, theirs},
			{"live key, other merchant's invoice", live, theirs},
			{"other merchant, my test invoice", otherKey, mine},
			{"other merchant, my live invoice", otherKey, liveInv},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				before := e.counts()
				for _, rq := range []struct{ method, path string }{
					{"GET", "/api/v1/invoices/" + tc.id},
					{"GET", "/api/v1/invoices/" + tc.id + "/status"},
					{"POST", "/api/v1/invoices/" + tc.id + "/cancel"},
				} {
					e.wantProblem(e.do(rq.method, rq.path, tc.key, nil), http.StatusNotFound, "not_found")
				}
				if tc.key != live { // a live key may not simulate at all
					r := e.do("POST", "/api/v1/test/invoices/"+tc.id+"/simulate-payment", tc.key, map[string]any{"amount": "25.00"})
					e.wantProblem(r, http.StatusNotFound, "not_found")
				}
				list := e.mustStatus(e.do("GET", "/api/v1/invoices", tc.key, nil), http.StatusOK).JSON
				for _, inv := range list["data"].([]any) {
					if inv.(map[string]any)["id"] == tc.id {
						t.Errorf("list shows %s to a key that must not see it", tc.id)
					}
				}
				if after := e.counts(); after.String() != before.String() {
					t.Errorf("store changed: before %v, after %v", before, after)
				}
			})
		}
		e.t = t
		// Each key still sees exactly its own invoice, which is untouched.
		for key, id := range map[string]string{e.key: mine, live: liveInv, otherKey: theirs} {
			list := e.mustStatus(e.do("GET", "/api/v1/invoices", key, nil), http.StatusOK).JSON
			data := list["data"].([]any)
			if len(data) != 1 || data[0].(map[string]any)["id"] != id {
				t.Errorf("list for the owner of %s: %s", id, list)
			}
			got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/status", key, nil), http.StatusOK).JSON
			if got["status"] != "open" {
				t.Errorf("%s is %v, want open", id, got["status"])
			}
		}
	})
}

// TestBoundScopeRefused checks that a key of a bound scope (a terminal's, a
// QR session's order key) is refused on every operation that does not list
// its scope, so the merchant's other data stays closed to it.
func TestBoundScopeRefused(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		id := str(t, e.createInvoice(newInvoice), "id")
		for _, scope := range []invoice.Scope{invoice.ScopeTerminal, invoice.ScopeOrder} {
			bound, _, err := e.svc.CreateBoundKey(context.Background(), e.merchant, invoice.ModeTest, scope, "trm_x")
			if err != nil {
				t.Fatal(err)
			}
			before := e.counts()
			for _, rq := range []struct {
				method, path string
				body         any
			}{
				{"GET", "/api/v1/invoices", nil},
				{"POST", "/api/v1/invoices/" + id + "/cancel", nil},
				{"GET", "/api/v1/events", nil},
				{"GET", "/api/v1/payments", nil},
				{"GET", "/api/v1/webhook-endpoints", nil},
				{"POST", "/api/v1/ws-tokens", nil},
				{"GET", "/api/v1/reports/reconciliation", nil},
			} {
				status, code := http.StatusForbidden, "insufficient_scope"
				// A terminal's key may use its own invoices (another's,
				// as this merchant's invoice is to it, are not found) and
				// mint a ws_token for its own socket (terminals_test.go).
				if scope == invoice.ScopeTerminal && strings.HasPrefix(rq.path, "/api/v1/invoices/") {
					status, code = http.StatusNotFound, "not_found"
				}
				if scope == invoice.ScopeTerminal && rq.path == "/api/v1/ws-tokens" {
					continue
				}
				e.wantProblem(e.do(rq.method, rq.path, bound, rq.body), status, code)
			}
			// An order key reads the invoice of its own QR session only
			// (TestQRStartAndOrderKey), a terminal's key its terminal's:
			// another one is not found.
			e.wantProblem(e.do("GET", "/api/v1/invoices/"+id, bound, nil), http.StatusNotFound, "not_found")
			if after := e.counts(); after.String() != before.String() {
				t.Errorf("%s: store changed: before %v, after %v", scope, before, after)
			}
		}
		if _, _, err := e.svc.CreateKey(context.Background(), e.merchant, invoice.ModeTest, invoice.ScopeTerminal); err == nil {
			t.Error("CreateKey minted an unbound key of scope terminal")
		}
	})
}
