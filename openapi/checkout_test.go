package openapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// from returns an HTTP client whose connections leave from the loopback
// address ip (127.0.0.2, …): to the server, another client.
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// payorFrom is env.payor from the client c.
func (e *env) payorFrom(c *http.Client, method, path, token, sig string, body any) response {
	e.t.Helper()
	req := e.request(method, path, "", body)
	req.Header.Set("x-session-token", token)
	req.Header.Set("x-signature", sig)
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var raw json.RawMessage
	json.NewDecoder(res.Body).Decode(&raw)
	out := response{Path: req.URL.Path, Status: res.StatusCode, Header: res.Header, Raw: raw}
	json.Unmarshal(raw, &out.JSON)
	return out
}

// eventsOf returns the data of the invoice's events of type typ, oldest
// first.
func (e *env) eventsOf(invoiceID, typ string) []map[string]any {
	e.t.Helper()
	var rows []invoice.Event
	if err := e.db.DB.NewSelect().Model(&rows).Where("invoice_id = ? AND type = ?", invoiceID, typ).
		OrderExpr("created_at, id").Scan(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		if err := json.Unmarshal([]byte(r.Data), &out[i]); err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

// checkoutOf is the invoice's checkout object, read by the merchant.
func (e *env) checkoutOf(id string) map[string]any {
	e.t.Helper()
	inv := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON
	c, ok := inv["checkout"].(map[string]any)
	if !ok {
		e.t.Fatalf("invoice without checkout: %v", inv)
	}
	return c
}

// TestCheckoutLockPerClient: five wrong signatures lock out the client that
// sent them, not the payor on another address; twenty in all lock the
// session for everyone. Each lock writes one checkout.locked event and
// shows on the invoice; the merchant unlocks it.
func TestCheckoutLockPerClient(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD"})
		id := str(t, inv, "id")
		token, sig := handles(t, inv)
		wrong := strings.Repeat("0", 64)
		buyer, stranger := from(t, "127.0.0.2"), from(t, "127.0.0.3")
		if c := e.checkoutOf(id); c["locked"] != false || c["lock_scope"] != "none" || c["opened_at"] != nil || c["locked_at"] != nil {
			t.Fatalf("new invoice's checkout %v", c)
		}

		for range payor.ClientFailedChecks {
			e.wantProblem(e.payorFrom(stranger, "GET", "/api/v1/payor/session", token, wrong, nil), http.StatusUnauthorized, "invalid_signature")
		}
		// The stranger is locked out, even with the right signature; the
		// buyer is not.
		e.wantProblem(e.payorFrom(stranger, "GET", "/api/v1/payor/session", token, sig, nil), http.StatusLocked, "session_locked")
		e.mustStatus(e.payorFrom(buyer, "GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK)
		e.mustStatus(e.payorFrom(buyer, "POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_sepolia"}), http.StatusOK)
		c := e.checkoutOf(id)
		if c["locked"] != true || c["lock_scope"] != "client" || c["locked_at"] == nil || c["opened_at"] == nil {
			t.Errorf("checkout after a client lock: %v", c)
		}
		locks := e.eventsOf(id, "checkout.locked")
		if len(locks) != 1 || locks[0]["lock_scope"] != "client" {
			t.Fatalf("checkout.locked events %v, want one of scope client", locks)
		}
		obj := locks[0]["object"].(map[string]any)
		if obj["id"] != id || obj["object"] != "invoice" || obj["checkout"].(map[string]any)["lock_scope"] != "client" {
			t.Errorf("checkout.locked carries %v", obj)
		}

		// Twenty in all, from several clients, lock everyone out.
		for i, ip := range []string{"127.0.0.4", "127.0.0.5", "127.0.0.6"} {
			c := from(t, ip)
			for range payor.ClientFailedChecks {
				e.wantProblem(e.payorFrom(c, "GET", "/api/v1/payor/session", token, wrong, nil), http.StatusUnauthorized, "invalid_signature")
			}
			if i < 2 {
				e.mustStatus(e.payorFrom(buyer, "GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK)
			}
		}
		e.wantProblem(e.payorFrom(buyer, "GET", "/api/v1/payor/session", token, sig, nil), http.StatusLocked, "session_locked")
		e.wantProblem(e.payorFrom(buyer, "POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_sepolia"}), http.StatusLocked, "session_locked")
		if c := e.checkoutOf(id); c["locked"] != true || c["lock_scope"] != "session" {
			t.Errorf("checkout after 20 wrong signatures: %v", c)
		}
		var scopes []any
		for _, ev := range e.eventsOf(id, "checkout.locked") {
			scopes = append(scopes, ev["lock_scope"])
		}
		if want := []any{"client", "client", "client", "session"}; !equalJSON(scopes, want) {
			t.Errorf("checkout.locked scopes %v, want %v", scopes, want)
		}

		// The merchant unlocks it: the same link works again for everyone,
		// and the counts start afresh.
		before := e.counts()
		un := e.mustStatus(e.do("POST", "/api/v1/invoices/"+id+"/checkout", e.key, map[string]any{"unlock": true}), http.StatusOK).JSON
		if c := un["checkout"].(map[string]any); c["locked"] != false || c["lock_scope"] != "none" || c["locked_at"] != nil || c["opened_at"] == nil {
			t.Errorf("checkout after unlock: %v", c)
		}
		if un["payment_url"] != inv["payment_url"] {
			t.Errorf("unlock changed the link: %v", un["payment_url"])
		}
		if after := e.counts(); after["events"] != before["events"] || after["invoices"] != before["invoices"] {
			t.Errorf("unlock wrote %v, then %v", before, after)
		}
		e.mustStatus(e.payorFrom(buyer, "GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK)
		e.mustStatus(e.payorFrom(stranger, "GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK)
		for range payor.ClientFailedChecks - 1 {
			e.wantProblem(e.payorFrom(stranger, "GET", "/api/v1/payor/session", token, wrong, nil), http.StatusUnauthorized, "invalid_signature")
		}
		e.mustStatus(e.payorFrom(stranger, "GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK)
	})
}

// TestCheckoutNewLink: the merchant issues a fresh link; the old token and
// its payor WebSocket stop working, the new one opens, and a retry with the
// same Idempotency-Key answers the same link instead of a third.
func TestCheckoutNewLink(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD"})
		id := str(t, inv, "id")
		token, sig := handles(t, inv)
		for range payor.ClientFailedChecks {
			e.wantProblem(e.payor("GET", "/api/v1/payor/session", token, "00", nil), http.StatusUnauthorized, "invalid_signature")
		}
		e.wantProblem(e.payor("GET", "/api/v1/payor/session", token, sig, nil), http.StatusLocked, "session_locked")

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A socket on the old link from another client (this one is locked).
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/api/v1/payor/ws?token="+token+"&sig="+sig,
			&websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), "expires_in_seconds") {
			t.Fatalf("first message %s, %v", b, err)
		}

		first := e.mustStatus(e.do("POST", "/api/v1/invoices/"+id+"/checkout", e.key, map[string]any{"new_link": true}, "Idempotency-Key", "relink-1"), http.StatusOK)
		fresh := first.JSON
		newToken, newSig := handles(t, fresh)
		if newToken == token || newSig == sig || fresh["payment_url"] == inv["payment_url"] || !strings.Contains(fresh["payment_url"].(string), newToken) {
			t.Fatalf("new link %v / %s, %s; was %v", fresh["payment_url"], newToken, newSig, inv["payment_url"])
		}
		if c := fresh["checkout"].(map[string]any); c["locked"] != false {
			t.Errorf("a new link is unlocked: %v", c)
		}
		replay := e.mustStatus(e.do("POST", "/api/v1/invoices/"+id+"/checkout", e.key, map[string]any{"new_link": true}, "Idempotency-Key", "relink-1"), http.StatusOK)
		if replay.Header.Get("Idempotent-Replayed") != "true" || string(replay.Raw) != string(first.Raw) {
			t.Errorf("retry: %s (replayed %q), want the first answer", replay.Raw, replay.Header.Get("Idempotent-Replayed"))
		}
		if got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON; got["payment_url"] != fresh["payment_url"] {
			t.Errorf("stored link %v, want %v", got["payment_url"], fresh["payment_url"])
		}

		e.wantProblem(e.payor("GET", "/api/v1/payor/session", token, sig, nil), http.StatusNotFound, "not_found")
		e.mustStatus(e.payor("GET", "/api/v1/payor/session", newToken, newSig, nil), http.StatusOK)
		// The old link's socket is told, and closed.
		told := false
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !told {
					t.Errorf("old socket ended with %v (told: %v), want a message and a policy-violation close", err, told)
				}
				break
			}
			told = told || strings.Contains(string(b), "replaced")
		}

		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/checkout", e.key, map[string]any{}), http.StatusUnprocessableEntity, "validation_failed")
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/checkout", e.key, map[string]any{"unlock": "yes"}), http.StatusUnprocessableEntity, "validation_failed")
		_, otherKey := e.otherMerchant()
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/checkout", otherKey, map[string]any{"new_link": true}), http.StatusNotFound, "not_found")
		e.mustStatus(e.payor("GET", "/api/v1/payor/session", newToken, newSig, nil), http.StatusOK)
	})
}

// TestCheckoutOpenBefore: expiry is "open before". Eleven minutes after
// expires_at, a session never shown refuses instructions, their QR code and
// the devnet wallet, and writes no checkout.opened; a session shown before
// expiry still gets them.
func TestCheckoutOpenBefore(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		unseen := e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD", "expires_in": 60})
		seen := e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD", "expires_in": 60})
		uTok, uSig := handles(t, unseen)
		sTok, sSig := handles(t, seen)
		shown := e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", sTok, sSig, map[string]any{"method": "usdc_sepolia"}), http.StatusOK).JSON
		e.clock.Advance(12 * time.Minute) // expired 11 minutes ago

		e.wantProblem(e.payor("POST", "/api/v1/payor/session/method", uTok, uSig, map[string]any{"method": "usdc_sepolia"}), http.StatusConflict, "session_expired")
		e.wantProblem(e.payor("GET", "/api/v1/payor/session/qr?method=usdc_sepolia&format=svg", uTok, uSig, nil), http.StatusConflict, "session_expired")
		if n := len(e.eventsOf(str(t, unseen, "id"), "checkout.opened")); n != 0 {
			t.Errorf("%d checkout.opened for a session opened after expiry", n)
		}
		if c := e.checkoutOf(str(t, unseen, "id")); c["opened_at"] != nil {
			t.Errorf("checkout of the unseen invoice %v", c)
		}
		// Its session still reads (the page shows it expired).
		if s := e.mustStatus(e.payor("GET", "/api/v1/payor/session", uTok, uSig, nil), http.StatusOK).JSON; s["expires_in_seconds"] != 0.0 || s["method"] != "" {
			t.Errorf("unseen session %v", s)
		}

		again := e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", sTok, sSig, map[string]any{"method": "usdc_sepolia"}), http.StatusOK).JSON
		if again["address"] != shown["address"] || again["amount"] != shown["amount"] {
			t.Errorf("instructions after expiry %v, want %v", again, shown)
		}
		e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", sTok, sSig, map[string]any{"method": "usdc_base_sepolia"}), http.StatusOK)
		e.mustStatus(e.payor("GET", "/api/v1/payor/session/qr?method=usdc_sepolia&format=svg", sTok, sSig, nil), http.StatusOK)
		if n := len(e.eventsOf(str(t, seen, "id"), "checkout.opened")); n != 1 {
			t.Errorf("%d checkout.opened for the seen invoice, want 1", n)
		}
		c := e.checkoutOf(str(t, seen, "id"))
		if at, err := time.Parse(time.RFC3339Nano, c["opened_at"].(string)); err != nil || !at.Before(e.clock.Now().Add(-11*time.Minute)) {
			t.Errorf("opened_at %v, %v: want the time it was first shown", c["opened_at"], err)
		}
	})
}

// TestPayorOnTimePayment: a payment seen before expires_at keeps its
// invoice processing past expiry, and confirming later makes it paid
// without paid_late; money first seen after expiry is late.
func TestPayorOnTimePayment(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		onTime := e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD", "expires_in": 60})
		late := e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD", "expires_in": 60})
		sim := e.simulate(str(t, onTime, "id"), map[string]any{"amount": "5.00", "status": "pending"})
		txID := str(t, sim["payment"].(map[string]any), "tx_id")
		e.clock.Advance(2 * time.Minute)
		if _, err := e.svc.ExpireDue(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		if got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, onTime, "id"), e.key, nil), http.StatusOK).JSON; got["status"] != "processing" {
			t.Fatalf("at expiry with a payment seen in time: %v, want processing", got["status"])
		}
		if got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, late, "id"), e.key, nil), http.StatusOK).JSON; got["status"] != "expired" {
			t.Fatalf("unpaid at expiry: %v, want expired", got["status"])
		}
		e.simulate(str(t, onTime, "id"), map[string]any{"amount": "5.00", "status": "confirmed", "tx_id": txID})
		e.simulate(str(t, late, "id"), map[string]any{"amount": "5.00", "status": "confirmed"})
		for _, tc := range []struct {
			inv  map[string]any
			want string
		}{{onTime, "none"}, {late, "paid_late"}} {
			got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, tc.inv, "id"), e.key, nil), http.StatusOK).JSON
			if got["status"] != "paid" || got["exception"] != tc.want {
				t.Errorf("%s: %v/%v, want paid/%s", got["id"], got["status"], got["exception"], tc.want)
			}
		}
	})
}

// TestDevnetPayOnce: however often and however fast the devnet button is
// pressed, one transfer is sent and every press answers its id.
func TestDevnetPayOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		const presses = 8
		// The first transfer is sent only once every press has reached the
		// server: they all overlap it.
		var arrived, sent atomic.Int32
		all := make(chan struct{})
		checkout := payor.NewService(e.svc, e.cat, e.signer, payor.NewTerms(db.DB, e.clock.Now))
		checkout.DevnetPay = func(ctx context.Context, in invoice.Instruction) (string, error) {
			n := sent.Add(1)
			select {
			case <-all:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			return fmt.Sprintf("0xtransfer%d", n), nil
		}
		api := openapi.New(openapi.Deps{Invoices: e.svc, Ledger: e.ledger, Payor: checkout, PayorRate: 1000})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/devnet-pay") && arrived.Add(1) == presses {
				close(all)
			}
			api.ServeHTTP(w, r)
		}))
		defer srv.Close()
		e.srv = srv
		inv := e.createInvoice(map[string]any{"amount": "9.00", "currency": "USD", "payment_methods": []string{"usdc_devnet"}})
		token, sig := handles(t, inv)
		e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_devnet"}), http.StatusOK)

		txs := make([]string, presses)
		var wg sync.WaitGroup
		for i := range presses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := send(e.request("POST", "/api/v1/payor/session/devnet-pay", "", map[string]any{"method": "usdc_devnet"},
					"x-session-token", token, "x-signature", sig))
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("press %d: %d %s, %v", i, r.Status, r.Raw, err)
					return
				}
				txs[i], _ = r.JSON["tx_id"].(string)
			}()
		}
		wg.Wait()
		later := e.mustStatus(e.payor("POST", "/api/v1/payor/session/devnet-pay", token, sig, map[string]any{"method": "usdc_devnet"}), http.StatusOK).JSON
		txs = append(txs, later["tx_id"].(string))
		if n := sent.Load(); n != 1 {
			t.Errorf("%d transfers sent, want 1", n)
		}
		for i, tx := range txs {
			if tx != "0xtransfer1" {
				t.Errorf("press %d answered %q, want 0xtransfer1", i, tx)
			}
		}
	})
}
