package openapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice/storetest"
)

// TestPayorSimulatePayment is the hosted page's Simulate payment button: on
// a test invoice the payor's session records a sandbox payment of part of
// the amount, then of the rest (the default), through the same function as
// the merchant's simulate-payment; the merchant sees underpaid, then paid.
// It works on that session's invoice only, never on a live invoice, and
// like the devnet wallet not after expiry on a session never shown
// instructions; a refusal changes nothing.
func TestPayorSimulatePayment(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{"sandbox"}})
		other := e.createInvoice(map[string]any{"amount": "7.00", "currency": "USD", "payment_methods": []string{"sandbox"}})
		token, sig := handles(t, inv)
		const path = "/api/v1/payor/session/simulate-payment"

		before := e.counts()
		e.wantProblem(e.payor("POST", path, token, sig[:len(sig)-1]+flip(sig[len(sig)-1]), map[string]any{}), http.StatusUnauthorized, "invalid_signature")
		e.wantProblem(e.payor("POST", path, token, sig, map[string]any{"amount": "1.001"}), http.StatusUnprocessableEntity, "invalid_amount")
		e.wantProblem(e.payor("POST", path, token, sig, map[string]any{"amount": "-1.00"}), http.StatusUnprocessableEntity, "invalid_amount")
		e.wantProblem(e.payor("POST", path, token, sig, map[string]any{"method": "usdc_base_sepolia"}), http.StatusUnprocessableEntity, "unknown_field")
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("refusals changed the store: %v → %v", before, after)
		}

		part := e.mustStatus(e.payor("POST", path, token, sig, map[string]any{"amount": "10.00"}), http.StatusOK).JSON
		if part["amount"] != "10.00" || part["status"] != "confirmed" || part["tx_id"] == "" {
			t.Errorf("part payment %v", part)
		}
		got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, inv, "id"), e.key, nil), http.StatusOK).JSON
		if got["status"] != "open" || got["exception"] != "underpaid" || got["amount_paid"] != "10.00" || got["amount_due"] != "15.00" {
			t.Fatalf("after the part: %v/%v paid %v due %v", got["status"], got["exception"], got["amount_paid"], got["amount_due"])
		}
		rest := e.mustStatus(e.payor("POST", path, token, sig, map[string]any{}), http.StatusOK).JSON
		if rest["amount"] != "15.00" {
			t.Errorf("the default amount is %v, want the 15.00 still due", rest["amount"])
		}
		got = e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, inv, "id"), e.key, nil), http.StatusOK).JSON
		if got["status"] != "paid" || got["exception"] != "none" || got["amount_paid"] != "25.00" {
			t.Fatalf("after the rest: %v/%v paid %v", got["status"], got["exception"], got["amount_paid"])
		}
		pays := e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, inv, "id")+"/payments", e.key, nil), http.StatusOK).JSON["data"].([]any)
		if len(pays) != 2 || pays[0].(map[string]any)["tx_id"] != part["tx_id"] || pays[1].(map[string]any)["tx_id"] != rest["tx_id"] {
			t.Errorf("payments %v", pays)
		}
		if got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, other, "id"), e.key, nil), http.StatusOK).JSON; got["amount_paid"] != "0.00" {
			t.Errorf("another invoice was paid: %v", got)
		}

		// A live invoice's payor cannot simulate anything.
		live := e.createInvoiceWith(e.liveKey(), map[string]any{"amount": "5.00", "currency": "USD", "payment_methods": []string{"usdc_base"}})
		lt, ls := handles(t, live)
		before = e.counts()
		e.wantProblem(e.payor("POST", path, lt, ls, map[string]any{"amount": "5.00"}), http.StatusForbidden, "test_mode_only")
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("a live refusal changed the store: %v → %v", before, after)
		}

		// Expired before its payor was shown anything: refused, as the
		// devnet wallet is.
		late := e.createInvoice(map[string]any{"amount": "3.00", "currency": "USD", "payment_methods": []string{"sandbox"}, "expires_in": 60})
		e.clock.Advance(2 * time.Minute)
		lt, ls = handles(t, late)
		e.wantProblem(e.payor("POST", path, lt, ls, map[string]any{}), http.StatusConflict, "session_expired")
	})
}
