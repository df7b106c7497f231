package openapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice/storetest"
)

// storedTables are every table a request could write to.
var storedTables = []string{
	"merchants", "api_keys", "invoices", "payments", "events", "idempotency_keys", "webhook_endpoints",
	"webhook_deliveries", "webhook_attempts", "receiving_accounts", "deposits", "unmatched_payments",
	"checkout_sessions", "ws_tokens", "rail_accounts", "rail_unmatched", "invoice_references", "qris_codes",
}

// fingerprint is a digest of every row of every table a request could
// change: equal fingerprints mean nothing was stored, changed or deleted.
func (e *env) fingerprint() string {
	e.t.Helper()
	h := sha256.New()
	for _, table := range storedTables {
		var rows []map[string]any
		if err := e.db.NewSelect().TableExpr(table).OrderExpr("1").Scan(context.Background(), &rows); err != nil {
			e.t.Fatalf("read %s: %v", table, err)
		}
		raw, _ := json.Marshal(rows)
		fmt.Fprintf(h, "%s:%d:%s\n", table, len(rows), raw)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestNULRefused: a NUL character in a string field of a body (as a JSON
// \u0000 escape or a raw byte), a path id or a query value is a 400
// invalid_string problem on every route, with or without credentials, and
// nothing is stored; on Postgres these were 500s, and SQLite stored them.
func TestNULRefused(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"})
		invID := str(t, inv, "id")
		token, sig := handles(t, inv)
		ep := str(t, e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://93.184.215.14/hook"}), http.StatusCreated).JSON, "id")
		railID, railSecret := e.railAccount(e.key, map[string]any{"rail": "push_to_card", "processor_id": "acq_visa_direct_01", "account_name": "Test Shop"})
		push := `{"id":"ptc_1\u0000","type":"push_to_card.credited","amount":2500,"currency":"USD","card_last4":"4242","network":"visa","reference":"nobody\u0000","created":` +
			fmt.Sprint(time.Now().Unix()) + `}`
		const nul = `\u0000`
		cases := []struct {
			name, method, path string
			key                bool // send the merchant key
			body               string
			headers            []string
			where              string // what the detail names
		}{
			{"invoice description", "POST", "/api/v1/invoices", true, `{"amount":"25.00","currency":"USD","description":"a` + nul + `b"}`, nil, "body"},
			{"invoice merchant_order_id", "POST", "/api/v1/invoices", true, `{"amount":"25.00","currency":"USD","merchant_order_id":"order` + nul + `"}`, nil, "body"},
			{"invoice metadata value", "POST", "/api/v1/invoices", true, `{"amount":"25.00","currency":"USD","metadata":{"k":"v` + nul + `"}}`, nil, "body"},
			{"invoice metadata key", "POST", "/api/v1/invoices", true, `{"amount":"25.00","currency":"USD","metadata":{"k` + nul + `":"v"}}`, nil, "body"},
			{"invoice amount", "POST", "/api/v1/invoices", true, `{"amount":"25.00` + nul + `","currency":"USD"}`, nil, "body"},
			{"invoice redirect_url", "POST", "/api/v1/invoices", true, `{"amount":"25.00","currency":"USD","redirect_url":"https://shop.example/` + nul + `"}`, nil, "body"},
			{"invoice, with an idempotency key", "POST", "/api/v1/invoices", true, `{"amount":"25.00","currency":"USD","description":"` + nul + `"}`, []string{"Idempotency-Key", "nul-1"}, "body"},
			{"invoice, raw NUL byte", "POST", "/api/v1/invoices", true, "{\"amount\":\"25.00\",\"currency\":\"USD\",\"description\":\"a\x00b\"}", nil, "body"},
			{"mark note", "POST", "/api/v1/invoices/" + invID + "/mark", true, `{"status":"invalid","note":"fraud` + nul + `"}`, nil, "body"},
			{"webhook endpoint description", "POST", "/api/v1/webhook-endpoints", true, `{"url":"http://93.184.215.14/hook","description":"` + nul + `"}`, nil, "body"},
			{"webhook endpoint update", "PATCH", "/api/v1/webhook-endpoints/" + ep, true, `{"description":"x` + nul + `"}`, nil, "body"},
			{"receiving account address", "POST", "/api/v1/receiving-accounts", true, `{"network":"base","address":"0x` + nul + `"}`, nil, "body"},
			{"rail account name", "POST", "/api/v1/rail-accounts", true, `{"rail":"push_to_card","processor_id":"acq_2","account_name":"` + nul + `"}`, nil, "body"},
			{"payor method", "POST", "/api/v1/payor/session/method", false, `{"method":"usdc_base_sepolia` + nul + `"}`, []string{"x-session-token", token, "x-signature", sig}, "body"},
			{"simulated payment tx_id", "POST", "/api/v1/test/invoices/" + invID + "/simulate-payment", true, `{"amount":"1.00","tx_id":"tx` + nul + `"}`, nil, "body"},
			{"path id", "GET", "/api/v1/invoices/inv_%00", true, "", nil, "path"},
			{"path id, no key", "GET", "/api/v1/invoices/inv_%00", false, "", nil, "path"},
			{"path id of a write", "POST", "/api/v1/invoices/inv_%00/cancel", true, "", nil, "path"},
			{"path id of an endpoint", "GET", "/api/v1/webhook-endpoints/whe%00/deliveries", true, "", nil, "path"},
			{"path id of a delivery", "POST", "/api/v1/deliveries/whd_%00/retry", true, "", nil, "path"},
			{"hosted page", "GET", "/pay/a%00b", false, "", nil, "path"},
			{"query value", "GET", "/api/v1/invoices?merchant_order_id=a%00b", true, "", nil, "query.merchant_order_id"},
			{"query value, no key", "GET", "/api/v1/invoices?merchant_order_id=a%00b", false, "", nil, "query.merchant_order_id"},
			{"query cursor", "GET", "/api/v1/events?after=evt_%00", true, "", nil, "query.after"},
			{"query filter", "GET", "/api/v1/payments?invoice_id=%00", true, "", nil, "query.invoice_id"},
			{"query of a write", "POST", "/api/v1/webhook-endpoints/" + ep + "/replay?after=evt%00", true, "", nil, "query.after"},
			{"query name", "GET", "/api/v1/invoices?a%00=1", true, "", nil, "query"},
			{"WebSocket cursor", "GET", "/api/v1/ws?after=evt_%00", true, "", nil, "query.after"},
			{"WebSocket token", "GET", "/api/v1/ws?ws_token=wst_%00", false, "", nil, "query.ws_token"},
			{"QR method", "GET", "/api/v1/payor/session/qr?method=%00&format=png", false, "", []string{"x-session-token", token, "x-signature", sig}, "query.method"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				defer func() { e.t = nil }()
				key := ""
				if tc.key {
					key = e.key
				}
				var body any
				if tc.body != "" {
					body = tc.body
				}
				before := e.fingerprint()
				r := e.do(tc.method, tc.path, key, body, tc.headers...)
				e.wantProblem(r, http.StatusBadRequest, "invalid_string")
				if detail, _ := r.JSON["detail"].(string); !strings.HasPrefix(detail, tc.where+":") || !strings.Contains(detail, "NUL") {
					t.Errorf("detail %q: want it to name %s and NUL", detail, tc.where)
				}
				if after := e.fingerprint(); after != before {
					t.Errorf("the store changed")
				}
			})
		}
		// A rail notification, signed by the rail account: the signature is
		// good, the body is not.
		t.Run("rail notification", func(t *testing.T) {
			e.t = t
			defer func() { e.t = nil }()
			before := e.fingerprint()
			r := e.signed("/api/v1/rails/push_to_card/notifications", railID, railSecret, []byte(push), time.Now(), "application/json")
			e.wantProblem(r, http.StatusBadRequest, "invalid_string")
			if after := e.fingerprint(); after != before {
				t.Errorf("the store changed")
			}
		})
		// Text that only looks like an escape is kept as it is.
		t.Run("escaped backslash", func(t *testing.T) {
			e.t = t
			defer func() { e.t = nil }()
			got := e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, `{"amount":"25.00","currency":"USD","description":"C:\\u0000"}`), http.StatusCreated).JSON
			if got["description"] != `C:\u0000` {
				t.Errorf("description %q, want the text C:\\u0000", got["description"])
			}
		})
		// A header that becomes an id. net/http refuses a NUL in a header
		// value before any handler runs, so the request is handed to the
		// API's handler directly, as another transport could.
		t.Run("header", func(t *testing.T) {
			e.t = t
			defer func() { e.t = nil }()
			before := e.fingerprint()
			req := httptest.NewRequest("POST", "/api/v1/invoices", strings.NewReader(`{"amount":"25.00","currency":"USD"}`))
			req.Header.Set("Authorization", "Bearer "+e.key)
			req.Header.Set("Content-Type", "application/json")
			req.Header["Idempotency-Key"] = []string{"a\x00b"}
			rec := httptest.NewRecorder()
			e.srv.Config.Handler.ServeHTTP(rec, req)
			var p map[string]any
			json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != http.StatusBadRequest || p["code"] != "invalid_string" || !strings.HasPrefix(fmt.Sprint(p["detail"]), "header.Idempotency-Key:") {
				t.Errorf("%d %s: want 400 invalid_string naming the header", rec.Code, rec.Body)
			}
			if after := e.fingerprint(); after != before {
				t.Errorf("the store changed")
			}
		})
	})
}
