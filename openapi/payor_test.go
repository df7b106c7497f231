package openapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-jose/go-jose/v4"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// handles returns an invoice's payor headers.
func handles(t *testing.T, inv map[string]any) (token, sig string) {
	t.Helper()
	h := inv["payment_session_headers"].(map[string]any)
	return h["x-session-token"].(string), h["x-signature"].(string)
}

func (e *env) payor(method, path, token, sig string, body any) response {
	e.t.Helper()
	req := e.request(method, path, "", body)
	if token != "" {
		req.Header.Set("x-session-token", token)
	}
	if sig != "" {
		req.Header.Set("x-signature", sig)
	}
	r, err := send(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// TestPayorSession reads a session, chooses a method, gets its QR codes and
// signed terms, and checks that the payor sees nothing of the merchant but
// its display name.
func TestPayorSession(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "description": "2 × espresso",
			"metadata": map[string]string{"internal": "secret-note"}, "redirect_url": "https://shop.example/thanks"})
		token, sig := handles(t, inv)

		sess := e.mustStatus(e.payor("GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK).JSON
		if sess["merchant"].(map[string]any)["name"] != "Test Shop" || sess["amount"] != "25.00" || sess["status"] != "open" ||
			sess["redirect_url"] != "https://shop.example/thanks" || sess["method"] != "" {
			t.Fatalf("session %v", sess)
		}
		raw, _ := json.Marshal(sess)
		for _, leak := range []string{e.merchant, "secret-note", str(t, inv, "id"), "sk_test"} {
			if strings.Contains(string(raw), leak) {
				t.Errorf("the payor's session shows %q: %s", leak, raw)
			}
		}
		var methods []string
		for _, m := range sess["methods"].([]any) {
			methods = append(methods, m.(map[string]any)["id"].(string))
		}
		// A test invoice offers the sandbox last: the page's Simulate
		// payment button.
		if len(methods) < 2 || methods[len(methods)-1] != "sandbox" || !slices.Contains(methods, "usdc_base_sepolia") {
			t.Errorf("methods %v: want the chain methods, then the sandbox", methods)
		}

		ins := e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_base_sepolia"}), http.StatusOK).JSON
		if ins["address"] != merchantAddress || ins["amount"] == "" || !strings.HasPrefix(ins["uri"].(string), "ethereum:0x036CbD53842c5426634e7929541eC2318f3dCF7e@84532/transfer?") {
			t.Fatalf("instructions %v", ins)
		}
		// The terms verify with the published key, and not once tampered.
		jwks := e.mustStatus(e.do("GET", "/.well-known/jwks.json", "", nil), http.StatusOK).Raw
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) == 0 {
			t.Fatalf("jwks %s: %v", jwks, err)
		}
		terms := ins["terms"].(string)
		jws, err := jose.ParseSigned(terms, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		keys := set.Key(jws.Signatures[0].Header.KeyID)
		if len(keys) != 1 {
			t.Fatalf("kid %q not in %s", jws.Signatures[0].Header.KeyID, jwks)
		}
		payload, err := jws.Verify(keys[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		json.Unmarshal(payload, &claims)
		if claims["merchant"] != "Test Shop" || claims["amount"] != "25.00" || claims["jti"] == "" || claims["exp"] == nil {
			t.Errorf("claims %v", claims)
		}
		parts := strings.Split(terms, ".")
		parts[1] = strings.Replace(parts[1], parts[1][5:6], map[bool]string{true: "A", false: "B"}[parts[1][5:6] != "A"], 1)
		if tampered, err := jose.ParseSigned(strings.Join(parts, "."), []jose.SignatureAlgorithm{jose.ES256}); err == nil {
			if _, err := tampered.Verify(keys[0].Key); err == nil {
				t.Error("tampered terms verify")
			}
		}

		for format, ct := range map[string]string{"png": "image/png", "svg": "image/svg+xml"} {
			r := e.mustStatus(e.payor("GET", "/api/v1/payor/session/qr?method=usdc_base_sepolia&format="+format, token, sig, nil), http.StatusOK)
			if got := r.Header.Get("Content-Type"); got != ct || len(r.Raw) < 100 {
				t.Errorf("qr %s: %s, %d bytes", format, got, len(r.Raw))
			}
		}
		// The sandbox has nothing to send anywhere: its "instructions" are
		// the invoice's amount, no address, nothing to scan.
		sb := e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "sandbox"}), http.StatusOK).JSON
		if sb["network"] != "sandbox" || sb["amount"] != "25.00" || sb["asset"] != "USD" || sb["address"] != "" || sb["uri"] != "" || sb["qr_png"] != "" {
			t.Errorf("sandbox instructions %v", sb)
		}
		e.wantProblem(e.payor("GET", "/api/v1/payor/session/qr?method=sandbox&format=svg", token, sig, nil), http.StatusNotFound, "no_qr_code")
		e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_base_sepolia"}), http.StatusOK)
		e.wantProblem(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_base"}), http.StatusUnprocessableEntity, "invalid_payment_method")
		e.wantProblem(e.payor("POST", "/api/v1/payor/session/devnet-pay", token, sig, map[string]any{"method": "usdc_devnet"}), http.StatusNotFound, "devnet_unavailable")

		// Chosen twice: checkout.opened once; the session remembers.
		e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_sepolia"}), http.StatusOK)
		if got := e.mustStatus(e.payor("GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK).JSON["method"]; got != "usdc_sepolia" {
			t.Errorf("method %v after choosing usdc_sepolia", got)
		}
		var opened int
		if err := db.DB.NewSelect().Model((*invoice.Event)(nil)).Where("invoice_id = ? AND type = 'checkout.opened'", str(t, inv, "id")).
			ColumnExpr("count(*)").Scan(context.Background(), &opened); err != nil || opened != 1 {
			t.Errorf("checkout.opened events: %d, %v; want 1", opened, err)
		}
		// An API key is not a payor credential, and the payor headers are
		// not an API key.
		e.wantProblem(e.do("GET", "/api/v1/invoices", "", nil, "x-session-token", token, "x-signature", sig), http.StatusUnauthorized, "unauthenticated")
	})
}

// TestPayorLockout: five wrong signatures lock the session for the client
// that sent them, even with the right one afterwards; an unknown session is
// 404. (TestCheckoutLockPerClient: other clients are not locked out.)
func TestPayorLockout(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		token, sig := handles(t, e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD"}))
		other, otherSig := handles(t, e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD"}))
		e.wantProblem(e.payor("GET", "/api/v1/payor/session", "nosuchtoken", sig, nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.payor("GET", "/api/v1/payor/session", token, otherSig, nil), http.StatusUnauthorized, "invalid_signature")
		e.mustStatus(e.payor("GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK)
		for range 4 {
			e.wantProblem(e.payor("GET", "/api/v1/payor/session", token, strings.Repeat("0", 64), nil), http.StatusUnauthorized, "invalid_signature")
		}
		e.wantProblem(e.payor("GET", "/api/v1/payor/session", token, sig, nil), http.StatusLocked, "session_locked")
		e.wantProblem(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_sepolia"}), http.StatusLocked, "session_locked")
		// Another session is untouched.
		e.mustStatus(e.payor("GET", "/api/v1/payor/session", other, otherSig, nil), http.StatusOK)
	})
}

// TestPayorLatePayment: a payor shown the instructions pays after expiry;
// the invoice is paid, flagged paid_late.
func TestPayorLatePayment(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD", "expires_in": 60})
		token, sig := handles(t, inv)
		ins := e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_sepolia"}), http.StatusOK).JSON
		e.clock.Advance(2 * time.Minute)
		if _, err := e.svc.ExpireDue(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		units, _ := invoice.ParseUnits(ins["amount_units"].(string))
		got, _, err := e.svc.Apply(context.Background(), invoice.Observation{
			InvoiceID: str(t, inv, "id"), Method: "usdc_sepolia", Network: "sepolia", TxID: "0xabc", Asset: "USDC", Decimals: 6,
			Amount: units, Status: invoice.PaymentConfirmed, From: "0x1", To: merchantAddress, ObservedAt: e.clock.Now(),
		})
		if err != nil || got.Status != invoice.StatusPaid || got.Exception != invoice.ExceptionPaidLate {
			t.Fatalf("late payment: %s/%s, %v", got.Status, got.Exception, err)
		}
		sess := e.mustStatus(e.payor("GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK).JSON
		if sess["status"] != "paid" || sess["exception"] != "paid_late" || len(sess["payments"].([]any)) != 1 {
			t.Errorf("session after the late payment: %v", sess)
		}
	})
}

// TestPayorSocket follows the payor WebSocket's messages: the countdown at
// once and as keepalive, a status trigger on a payment, expiry; and a
// refusal for an unknown session.
func TestPayorSocket(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		dial := func(token, sig string) *websocket.Conn {
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/api/v1/payor/ws?token="+token+"&sig="+sig, nil)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		next := func(c *websocket.Conn) map[string]any {
			t.Helper()
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			var m map[string]any
			json.Unmarshal(b, &m)
			return m
		}

		c := dial("nosuchtoken", "00")
		if m := next(c); m["message"] == nil {
			t.Errorf("unknown session: %v", m)
		}
		if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("unknown session not closed: %v", err)
		}

		inv := e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD", "expires_in": 60})
		token, sig := handles(t, inv)
		c = dial(token, sig)
		defer c.CloseNow()
		if m := next(c); m["expires_in_seconds"] == nil || m["expires_in_seconds"].(float64) > 60 || m["expires_in_seconds"].(float64) < 50 {
			t.Fatalf("first message %v", m)
		}
		if m := next(c); m["expires_in_seconds"] == nil {
			t.Fatalf("keepalive %v", m)
		}
		e.simulate(str(t, inv, "id"), map[string]any{"amount": "1.00"})
		for {
			m := next(c)
			if m["status"] != nil {
				if m["status"] != "open" { // underpaid, still open
					t.Errorf("status trigger %v", m)
				}
				if len(m) != 1 {
					t.Errorf("the trigger carries more than the status: %v", m)
				}
				break
			}
		}
		// Expiry comes on its own clock: 59 s on, it is a second away.
		e.clock.Advance(59 * time.Second)
		for {
			if m := next(c); m["expired"] == true {
				break
			}
		}
		// After expiry a new connection is told at once.
		c2 := dial(token, sig)
		defer c2.CloseNow()
		if m := next(c2); m["expired"] != true {
			t.Errorf("expired session: %v", m)
		}
	})
}

// TestPayorRateLimit: payor requests from one address over the rate are
// refused with 429 rate_limited and Retry-After; the merchant API is not
// limited by it.
func TestPayorRateLimit(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		token, sig := handles(t, e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD"}))
		checkout := payor.NewService(e.svc, e.cat, e.signer, payor.NewTerms(db.DB, e.clock.Now))
		limited := httptest.NewServer(openapi.New(openapi.Deps{Invoices: e.svc, Ledger: e.ledger, Payor: checkout, PayorRate: 1}))
		defer limited.Close()
		e.srv = limited
		var ok, refused int
		for range 10 {
			r := e.payor("GET", "/api/v1/payor/session", token, sig, nil)
			switch r.Status {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				refused++
				e.wantProblem(r, http.StatusTooManyRequests, "rate_limited")
				if r.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
			default:
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
		}
		// A burst of 4 at 1 per second: 4 or 5 pass within the loop.
		if ok < 4 || ok > 5 || refused != 10-ok {
			t.Errorf("%d answered, %d refused", ok, refused)
		}
		r := e.do("GET", "/api/v1/invoices", e.key, nil)
		e.mustStatus(r, http.StatusOK)
	})
}

// TestPayorBankRail: a bank transfer's instructions carry the account and
// the reference, and no QR code (there is no payment URI to scan); QRIS
// carries its payload to scan.
func TestPayorBankRail(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		e.railAccount(e.key, bankAccount("fednow"))
		token, sig := handles(t, e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{"fednow"}}))
		ins := e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "fednow"}), http.StatusOK).JSON
		ref, _ := ins["reference"].(string)
		if !strings.HasPrefix(ref, "ST-") || ins["account_number"] != "000123456789" || ins["routing_number"] != "021000021" ||
			ins["bank_name"] != "First Example Bank" || ins["amount"] != "25.00" || ins["qr_png"] != "" || ins["uri"] != "" {
			t.Errorf("fednow instructions %v", ins)
		}
		e.wantProblem(e.payor("GET", "/api/v1/payor/session/qr?method=fednow&format=svg", token, sig, nil), http.StatusNotFound, "no_qr_code")

		e.railAccount(e.key, map[string]any{"rail": "qris", "qris_payload": staticQRIS})
		token, sig = handles(t, e.createInvoice(map[string]any{"amount": "25000", "currency": "IDR", "payment_methods": []string{"qris"}}))
		ins = e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "qris"}), http.StatusOK).JSON
		if payload, _ := ins["qris_payload"].(string); payload == "" || ins["uri"] != payload || ins["qr_svg"] == "" {
			t.Errorf("qris instructions %v", ins)
		}
		svg := e.mustStatus(e.payor("GET", "/api/v1/payor/session/qr?method=qris&format=svg", token, sig, nil), http.StatusOK)
		if !strings.Contains(string(svg.Raw), "<svg") {
			t.Errorf("qris QR %.100s", svg.Raw)
		}
	})
}
