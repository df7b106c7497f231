package openapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestBadInput sends every kind of bad request the API must refuse and
// checks that each gets its problem details and changes nothing stored.
func TestBadInput(t *testing.T) {
	t.Parallel()
	valid := func(extra ...any) map[string]any {
		b := map[string]any{"amount": "25.00", "currency": "USD"}
		for i := 0; i+1 < len(extra); i += 2 {
			b[extra[i].(string)] = extra[i+1]
		}
		return b
	}
	manyKeys := map[string]string{}
	for i := range invoice.MaxMetadataKeys + 1 {
		manyKeys[fmt.Sprintf("k%02d", i)] = "v"
	}
	bigValues := map[string]string{}
	for i := range 20 { // 20 × (3 + 500) bytes > 8 KiB, each value within its own limit
		bigValues[fmt.Sprintf("k%02d", i)] = strings.Repeat("x", 500)
	}
	type testCase struct {
		name    string
		body    any
		bodyFn  func() any          // the body, when it depends on before
		headers []string            // name, value pairs
		key     func(e *env) string // default the env's test key
		before  func(e *env) string // prepares and returns the path; runs before counting
		status  int
		code    string
		field   string // what the detail must name
	}
	var otherTx string // a tx_id simulated for another invoice
	cases := []testCase{
		{name: "malformed JSON", body: `{"amount": "25.00",`, status: 400, code: "malformed_json", field: "body"},
		{name: "empty body", body: "", status: 400, code: "malformed_json", field: "body"},
		{name: "not JSON", body: `amount=25.00&currency=USD`, status: 400, code: "malformed_json", field: "body"},
		{name: "not JSON content type", body: valid(), headers: []string{"Content-Type", "text/plain"}, status: 415, code: "unsupported_media_type", field: "text/plain"},
		{name: "not an object", body: `["25.00"]`, status: 422, code: "validation_failed", field: "body"},
		{name: "body over 1 MiB", body: `{"amount":"25.00","currency":"USD","description":"` + strings.Repeat("x", 1<<20) + `"}`,
			status: 413, code: "body_too_large", field: "body"},
		{name: "unknown field", body: valid("colour", "red"), status: 422, code: "unknown_field", field: "colour"},
		{name: "amount negative", body: valid("amount", "-5.00"), status: 422, code: "invalid_amount", field: "amount"},
		{name: "amount zero", body: valid("amount", "0.00"), status: 422, code: "invalid_amount", field: "amount"},
		{name: "amount too precise for USD", body: valid("amount", "1.001"), status: 422, code: "invalid_amount", field: "amount"},
		{name: "amount too precise for JPY", body: valid("amount", "1.5", "currency", "JPY"), status: 422, code: "invalid_amount", field: "amount"},
		{name: "amount with exponent", body: valid("amount", "1e3"), status: 422, code: "invalid_amount", field: "amount"},
		{name: "amount above 1e12", body: valid("amount", "1000000000000.01"), status: 422, code: "invalid_amount", field: "amount"},
		{name: "amount as a number", body: valid("amount", 25), status: 422, code: "invalid_amount", field: "amount"},
		{name: "amount missing", body: map[string]any{"currency": "USD"}, status: 422, code: "invalid_amount", field: "amount"},
		{name: "unknown currency", body: valid("currency", "XYZ"), status: 422, code: "invalid_currency", field: "currency"},
		{name: "unknown method", body: valid("payment_methods", []string{"usdc_nowhere"}), status: 422, code: "invalid_payment_method", field: "payment_methods"},
		{name: "live method with a test key", body: valid("payment_methods", []string{"usdc_base"}), status: 422, code: "invalid_payment_method", field: "payment_methods"},
		{name: "method that cannot settle the currency", body: valid("currency", "EUR", "payment_methods", []string{"usdc_base_sepolia"}), status: 422, code: "invalid_payment_method", field: "payment_methods"},
		{name: "metadata over 50 keys", body: valid("metadata", manyKeys), status: 422, code: "invalid_metadata", field: "metadata"},
		{name: "metadata over 8 KiB", body: valid("metadata", bigValues), status: 422, code: "invalid_metadata", field: "metadata"},
		{name: "metadata value not a string", body: valid("metadata", map[string]any{"n": 1}), status: 422, code: "invalid_metadata", field: "metadata"},
		{name: "expires_in 59", body: valid("expires_in", 59), status: 422, code: "invalid_expiry", field: "expires_in"},
		{name: "expires_in 604801", body: valid("expires_in", 604801), status: 422, code: "invalid_expiry", field: "expires_in"},
		{name: "expires_at in the past", body: valid("expires_at", time.Now().Add(-time.Hour).Format(time.RFC3339)), status: 422, code: "invalid_expiry", field: "expires_at"},
		{name: "expires_in and expires_at", body: valid("expires_in", 900, "expires_at", time.Now().Add(time.Hour).Format(time.RFC3339)), status: 422, code: "invalid_expiry", field: "expires_"},
		{name: "redirect_url not a URL", body: valid("redirect_url", "not a url"), status: 422, code: "invalid_url", field: "redirect_url"},
		{name: "redirect_url not http", body: valid("redirect_url", "javascript:alert(1)"), status: 422, code: "invalid_url", field: "redirect_url"},
		{name: "cancel a paid invoice", body: nil, status: 409, code: "invoice_not_cancellable",
			before: func(e *env) string {
				id := str(e.t, e.createInvoice(valid()), "id")
				e.simulate(id, map[string]any{"amount": "25.00"})
				return "/api/v1/invoices/" + id + "/cancel"
			}},
		{name: "cancel an invoice with a pending payment", body: nil, status: 409, code: "invoice_not_cancellable",
			before: func(e *env) string {
				id := str(e.t, e.createInvoice(valid()), "id")
				e.simulate(id, map[string]any{"amount": "25.00", "status": "pending"})
				return "/api/v1/invoices/" + id + "/cancel"
			}},
		{name: "cancel an expired invoice", body: nil, status: 409, code: "invoice_not_cancellable",
			before: func(e *env) string {
				id := str(e.t, e.createInvoice(valid("expires_in", 60)), "id")
				e.clock.Advance(61 * time.Second)
				if _, err := e.svc.ExpireDue(context.Background(), 100); err != nil {
					e.t.Fatal(err)
				}
				got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON
				if got["status"] != "expired" {
					e.t.Fatalf("invoice is %v after ExpireDue, want expired", got["status"])
				}
				return "/api/v1/invoices/" + id + "/cancel"
			}},
		{name: "simulate a payment with a live key", body: map[string]any{"amount": "25.00"}, status: 403, code: "test_mode_only",
			key: func(e *env) string { return e.liveKey() },
			before: func(e *env) string {
				// The live invoice is made with a key of its own, so that
				// the test counts from after it.
				live := e.createInvoiceWith(e.liveKey(), valid())
				return "/api/v1/test/invoices/" + str(e.t, live, "id") + "/simulate-payment"
			}},
		{name: "simulate an over-precise amount", body: map[string]any{"amount": "1.001"}, status: 422, code: "invalid_amount", field: "amount",
			before: func(e *env) string {
				return "/api/v1/test/invoices/" + str(e.t, e.createInvoice(valid()), "id") + "/simulate-payment"
			}},
		{name: "simulate a method the invoice lacks", body: map[string]any{"amount": "1.00", "method": "usdc_sepolia"}, status: 422, code: "invalid_payment_method", field: "method",
			before: func(e *env) string {
				return "/api/v1/test/invoices/" + str(e.t, e.createInvoice(valid("payment_methods", []string{"sandbox"})), "id") + "/simulate-payment"
			}},
		{name: "simulate with an unknown tx_id", body: map[string]any{"amount": "1.00", "status": "confirmed", "tx_id": "sim_made_up"}, status: 422, code: "invalid_tx_id", field: "tx_id",
			before: func(e *env) string {
				return "/api/v1/test/invoices/" + str(e.t, e.createInvoice(valid()), "id") + "/simulate-payment"
			}},
		{name: "simulate with another invoice's tx_id", status: 422, code: "invalid_tx_id", field: "tx_id",
			bodyFn: func() any { return map[string]any{"amount": "1.00", "status": "confirmed", "tx_id": otherTx} },
			before: func(e *env) string {
				first := str(e.t, e.createInvoice(valid()), "id")
				otherTx = str(e.t, e.simulate(first, map[string]any{"amount": "1.00", "status": "pending"})["payment"].(map[string]any), "tx_id")
				return "/api/v1/test/invoices/" + str(e.t, e.createInvoice(valid()), "id") + "/simulate-payment"
			}},
		{name: "simulate a reversal without tx_id", body: map[string]any{"amount": "1.00", "status": "reversed"}, status: 422, code: "invalid_tx_id", field: "tx_id",
			before: func(e *env) string {
				return "/api/v1/test/invoices/" + str(e.t, e.createInvoice(valid()), "id") + "/simulate-payment"
			}},
	}
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				defer func() { e.t = nil }()
				path := "/api/v1/invoices"
				if tc.before != nil {
					path = tc.before(e)
				}
				key := e.key
				if tc.key != nil {
					key = tc.key(e)
				}
				// Each request goes once without and once with an
				// Idempotency-Key, which takes another path through the
				// server: a refused request must not leave its key behind.
				body := tc.body
				if tc.bodyFn != nil {
					body = tc.bodyFn()
				}
				for _, idem := range [][]string{nil, {"Idempotency-Key", fmt.Sprintf("bad-input-%d", i)}} {
					headers := append(slices.Clone(tc.headers), idem...)
					before := e.counts()
					r := e.do("POST", path, key, body, headers...)
					t.Logf("%s", r.Raw)
					e.wantProblem(r, tc.status, tc.code)
					if detail, _ := r.JSON["detail"].(string); !strings.Contains(detail, tc.field) {
						t.Errorf("detail %q does not name %q", detail, tc.field)
					}
					if after := e.counts(); after.String() != before.String() {
						t.Errorf("store changed (headers %q): before %v, after %v", headers, before, after)
					}
				}
			})
		}
	})
}
