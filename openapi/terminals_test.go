package openapi_test

import (
	"context"
	"encoding/base64"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestTerminalSale drives a sale as a terminal does: create_session over
// its WebSocket, the session answered with its invoice, payment URL and QR
// code, session_created on the stream, a payment (the sandbox's), and
// payment_confirmed; then a reconnect with after resumes where it left.
func TestTerminalSale(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := termSetup(t, db)
		tm := e.createTerminal("Counter 1")
		conn := e.openTerminal(tm, "")

		send1(t, conn, sign(t, tm.Secret, map[string]any{"type": "create_session", "command_id": "c1",
			"amount": "12.50", "currency": "USD", "methods": []string{"sandbox"}, "reference": "sale-1", "allow_tip": true}))
		session, _ := waitType(t, conn, "session")
		if session.CommandID == nil || *session.CommandID != "c1" || !session.Created {
			t.Fatalf("session answer %+v", session)
		}
		id := str(t, session.Invoice, "id")
		if session.Invoice["allow_tip"] != true {
			t.Errorf("create_session with allow_tip: invoice allow_tip %v", session.Invoice["allow_tip"])
		}
		if got := str(t, session.Invoice, "terminal_id"); got != tm.ID {
			t.Errorf("invoice terminal_id %q, want %q", got, tm.ID)
		}
		if session.PayURL == "" || session.PayURL != session.Invoice["payment_url"] {
			t.Errorf("payment_url %q, invoice's %v", session.PayURL, session.Invoice["payment_url"])
		}
		b64, ok := strings.CutPrefix(session.QRPNG, "data:image/png;base64,")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil {
			t.Fatalf("qr_png %.40q…: %v", session.QRPNG, err)
		}
		if img, err := png.Decode(strings.NewReader(string(raw))); err != nil || img.Bounds().Dx() < 100 {
			t.Fatalf("qr_png is no QR image: %v", err)
		}
		created, _ := waitType(t, conn, "session_created")
		if created.InvoiceID != id || created.EventType != "invoice.created" || !strings.HasPrefix(created.EventID, "evt_") {
			t.Fatalf("session_created %+v", created)
		}

		// The same reference again: the same invoice, no second one.
		send1(t, conn, sign(t, tm.Secret, map[string]any{"type": "create_session", "command_id": "c2",
			"amount": "12.50", "currency": "USD", "methods": []string{"sandbox"}, "reference": "sale-1"}))
		again, _ := waitType(t, conn, "session")
		if again.Created || str(t, again.Invoice, "id") != id {
			t.Fatalf("second create_session with reference sale-1: created %v, invoice %v, want %s again", again.Created, again.Invoice["id"], id)
		}
		list := e.mustStatus(e.do("GET", "/api/v1/terminals/"+tm.ID+"/invoices", tm.Key, nil), http.StatusOK)
		if n := len(list.JSON["data"].([]any)); n != 1 {
			t.Fatalf("terminal has %d invoices, want 1: %s", n, list.Raw)
		}

		// The customer opens the checkout: session_scanned.
		h := session.Invoice["payment_session_headers"].(map[string]any)
		e.mustStatus(e.do("GET", "/api/v1/payor/session", "", nil,
			"x-session-token", h["x-session-token"].(string), "x-signature", h["x-signature"].(string)), http.StatusOK)
		scanned, before := waitType(t, conn, "session_scanned")
		if scanned.InvoiceID != id || scanned.EventType != "checkout.scanned" || len(before) != 0 {
			t.Fatalf("session_scanned %+v after %+v", scanned, before)
		}

		e.simulate(id, map[string]any{"amount": "12.50"})
		paid, skipped := waitType(t, conn, "payment_confirmed")
		if paid.InvoiceID != id || paid.EventType != "invoice.updated" || !strings.Contains(string(paid.Data), `"status":"paid"`) {
			t.Fatalf("payment_confirmed %+v", paid)
		}
		for _, m := range skipped {
			if m.Type != "session_updated" || m.EventID == "" {
				t.Errorf("unexpected message before payment_confirmed: %+v", m)
			}
		}
		conn.Close(websocket.StatusNormalClosure, "")

		// Resume after session_created: everything since, in order, once.
		again2 := e.openTerminal(tm, "?after="+created.EventID)
		var got []termMessage
		for {
			m, err := readTerm(again2, 2*time.Second)
			if err != nil {
				break
			}
			got = append(got, m)
		}
		want := append(append([]termMessage{scanned}, skipped...), paid)
		if len(got) != len(want) {
			t.Fatalf("replay gave %d messages, want %d: %+v", len(got), len(want), got)
		}
		for i := range want {
			if got[i].EventID != want[i].EventID || got[i].Type != want[i].Type {
				t.Errorf("replay %d: %s %s, want %s %s", i, got[i].Type, got[i].EventID, want[i].Type, want[i].EventID)
			}
		}
	})
}

// TestTerminalCancelAndExpire checks session_cancelled and
// session_expired on the stream, and cancel_session of another
// terminal's invoice refused.
func TestTerminalCancelAndExpire(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := termSetup(t, db)
		tm, other := e.createTerminal("A"), e.createTerminal("B")
		conn := e.openTerminal(tm, "")
		send1(t, conn, sign(t, tm.Secret, map[string]any{"type": "create_session", "amount": "3.00", "currency": "USD"}))
		s1, _ := waitType(t, conn, "session")
		id := str(t, s1.Invoice, "id")

		otherConn := e.openTerminal(other, "")
		send1(t, otherConn, sign(t, other.Secret, map[string]any{"type": "cancel_session", "command_id": "x", "invoice_id": id}))
		if m, _ := waitType(t, otherConn, "error"); m.Code != "not_found" {
			t.Errorf("cancel of another terminal's invoice: %+v", m)
		}
		send1(t, conn, sign(t, tm.Secret, map[string]any{"type": "cancel_session", "command_id": "k", "invoice_id": id}))
		if m, _ := waitType(t, conn, "session"); m.Invoice["status"] != "cancelled" {
			t.Errorf("cancel_session answer %+v", m)
		}
		if m, _ := waitType(t, conn, "session_cancelled"); m.InvoiceID != id {
			t.Errorf("session_cancelled %+v", m)
		}
		// The other terminal saw none of it.
		if m, err := readTerm(otherConn, 300*time.Millisecond); err == nil {
			t.Errorf("another terminal got %+v", m)
		}

		send1(t, conn, sign(t, tm.Secret, map[string]any{"type": "create_session", "amount": "4.00", "currency": "USD"}))
		s2, _ := waitType(t, conn, "session")
		// A payment seen, then reversed: payment_failed.
		sim := e.simulate(str(t, s2.Invoice, "id"), map[string]any{"amount": "4.00", "status": "pending"})
		tx := str(t, sim["payment"].(map[string]any), "tx_id")
		e.simulate(str(t, s2.Invoice, "id"), map[string]any{"amount": "4.00", "status": "reversed", "tx_id": tx})
		if m, _ := waitType(t, conn, "payment_failed"); m.InvoiceID != str(t, s2.Invoice, "id") || m.EventType != "invoice_payment.updated" {
			t.Errorf("payment_failed %+v", m)
		}
		e.clock.Advance(time.Hour)
		if _, err := e.svc.ExpireDue(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		if m, _ := waitType(t, conn, "session_expired"); m.InvoiceID != str(t, s2.Invoice, "id") {
			t.Errorf("session_expired %+v", m)
		}
	})
}

// TestTerminalCommandsRefused checks that a forged, replayed, stale or
// malformed command is answered with an error naming it, changes nothing,
// and leaves the socket open; and that a replay sent to another instance
// on the same database is refused too.
func TestTerminalCommandsRefused(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := termSetup(t, db)
		tm := e.createTerminal("Counter 1")
		conn := e.openTerminal(tm, "")
		create := func(extra map[string]any) map[string]any {
			cmd := map[string]any{"type": "create_session", "command_id": "c", "amount": "1.00", "currency": "USD"}
			for k, v := range extra {
				cmd[k] = v
			}
			return cmd
		}
		before := e.counts()
		refuse := func(name string, frame []byte, code string) {
			t.Helper()
			send1(t, conn, frame)
			m, err := readTerm(conn, 5*time.Second)
			for err == nil && m.EventID != "" { // the stream's, not the answer
				m, err = readTerm(conn, 5*time.Second)
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if m.Type != "error" || m.Code != code || m.Message == "" {
				t.Errorf("%s: %+v, want error %s", name, m, code)
			}
		}
		refuse("forged", sign(t, "tcs_not_the_secret", create(nil)), "invalid_signature")
		tampered := sign(t, tm.Secret, create(nil))
		tampered = []byte(strings.Replace(string(tampered), `"1.00"`, `"100.00"`, 1))
		refuse("tampered", tampered, "invalid_signature")
		refuse("unsigned", []byte(`{"type":"create_session","ts":1,"nonce":"0123456789abcdef","amount":"1.00","currency":"USD"}`), "invalid_signature")
		refuse("stale", sign(t, tm.Secret, create(map[string]any{"ts": time.Now().Add(-6 * time.Minute).Unix()})), "stale_command")
		refuse("future", sign(t, tm.Secret, create(map[string]any{"ts": time.Now().Add(6 * time.Minute).Unix()})), "stale_command")
		refuse("short nonce", sign(t, tm.Secret, create(map[string]any{"nonce": "abc"})), "invalid_command")
		refuse("float", []byte(`{"type":"create_session","ts":`+strconv.FormatInt(time.Now().Unix(), 10)+`,"nonce":"0123456789abcdef","tip":1.5,"sig":"00"}`), "invalid_command")
		refuse("not json", []byte(`create_session`), "invalid_command")
		refuse("unknown", sign(t, tm.Secret, map[string]any{"type": "refund"}), "unknown_command")
		refuse("bad amount", sign(t, tm.Secret, create(map[string]any{"amount": "1.005"})), "invalid_amount")
		if after := e.counts(); after["invoices"] != before["invoices"] {
			t.Fatalf("refused commands created invoices: %v → %v", before, after)
		}

		good := sign(t, tm.Secret, create(nil))
		send1(t, conn, good)
		if m, _ := waitType(t, conn, "session"); !m.Created {
			t.Fatalf("signed command: %+v", m)
		}
		refuse("replayed", good, "replayed_command")

		// Another instance on the same database refuses it too.
		other := termInstance(t, db)
		conn2, res, err := other.dialTerminal(tm.ID, "", "Authorization", "Bearer "+tm.Key)
		if err != nil {
			t.Fatalf("dial the other instance: %v %v", err, toResponseOrNil(t, res))
		}
		send1(t, conn2, good)
		if m, _ := waitType(t, conn2, "error"); m.Code != "replayed_command" {
			t.Errorf("replay on another instance: %+v", m)
		}
		list := e.mustStatus(e.do("GET", "/api/v1/terminals/"+tm.ID+"/invoices", e.key, nil), http.StatusOK)
		if n := len(list.JSON["data"].([]any)); n != 1 {
			t.Fatalf("terminal has %d invoices, want 1", n)
		}
		// ping still works on the same socket.
		send1(t, conn, sign(t, tm.Secret, map[string]any{"type": "ping", "command_id": "p"}))
		if m, _ := waitType(t, conn, "pong"); m.CommandID == nil || *m.CommandID != "p" {
			t.Errorf("pong %+v", m)
		}
	})
}

// TestTerminalKeyScope checks what a terminal's key may do: its own
// invoices, events and socket, nothing of the merchant's or another
// terminal's.
func TestTerminalKeyScope(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := termSetup(t, db)
		tm, other := e.createTerminal("A"), e.createTerminal("B")
		merchantInv := str(t, e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD"}), "id")
		own := e.createInvoiceWith(tm.Key, map[string]any{"amount": "5.00", "currency": "USD"})
		if got := str(t, own, "terminal_id"); got != tm.ID {
			t.Fatalf("invoice of a terminal key: terminal_id %q, want %q", got, tm.ID)
		}
		ownID := str(t, own, "id")
		otherID := str(t, e.createInvoiceWith(other.Key, map[string]any{"amount": "5.00", "currency": "USD"}), "id")
		// terminal_id cannot be set by a body.
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, map[string]any{"amount": "5.00", "currency": "USD", "terminal_id": tm.ID}), http.StatusUnprocessableEntity, "unknown_field")

		before := e.counts()
		for _, rq := range []struct{ method, path string }{
			{"GET", "/api/v1/invoices"},
			{"GET", "/api/v1/events"},
			{"GET", "/api/v1/payments"},
			{"GET", "/api/v1/webhook-endpoints"},
			{"POST", "/api/v1/webhook-endpoints"},
			{"GET", "/api/v1/terminals"},
			{"POST", "/api/v1/terminals"},
			{"DELETE", "/api/v1/terminals/" + other.ID},
			{"DELETE", "/api/v1/terminals/" + tm.ID},
			{"GET", "/api/v1/receiving-accounts"},
			{"POST", "/api/v1/test/invoices/" + ownID + "/simulate-payment"},
		} {
			e.wantProblem(e.do(rq.method, rq.path, tm.Key, nil), http.StatusForbidden, "insufficient_scope")
		}
		for _, path := range []string{
			"/api/v1/invoices/" + otherID, "/api/v1/invoices/" + merchantInv, "/api/v1/invoices/" + otherID + "/status",
			"/api/v1/invoices/" + otherID + "/events", "/api/v1/terminals/" + other.ID, "/api/v1/terminals/" + other.ID + "/invoices",
			"/api/v1/invoices/" + otherID + "/qr", "/api/v1/invoices/" + merchantInv + "/qr", "/api/v1/invoices/" + merchantInv + "/qr?format=svg",
		} {
			e.wantProblem(e.do("GET", path, tm.Key, nil), http.StatusNotFound, "not_found")
		}
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+otherID+"/cancel", tm.Key, nil), http.StatusNotFound, "not_found")
		if after := e.counts(); after.String() != before.String() {
			t.Fatalf("refused requests changed the store: %v → %v", before, after)
		}
		e.mustStatus(e.do("GET", "/api/v1/invoices/"+ownID, tm.Key, nil), http.StatusOK)
		e.mustStatus(e.do("GET", "/api/v1/terminals/"+tm.ID, tm.Key, nil), http.StatusOK)
		// Its own invoices' QR codes, for its screen.
		qrs := []struct{ query, ct, magic string }{{"", "image/png", "\x89PNG"}, {"?format=svg&size=256", "image/svg+xml", "<svg"}}
		for _, q := range qrs {
			r := e.do("GET", "/api/v1/invoices/"+ownID+"/qr"+q.query, tm.Key, nil)
			if r.Status != http.StatusOK || r.Header.Get("Content-Type") != q.ct || !strings.Contains(string(r.Raw[:min(len(r.Raw), 200)]), q.magic) {
				t.Errorf("own QR code %s: %d %s %.40q", q.query, r.Status, r.Header.Get("Content-Type"), r.Raw)
			}
		}
		if evs := e.invoiceEvents(ownID, tm.Key); evs[0]["type"] != "invoice.created" {
			t.Errorf("own invoice's events: %v", evs)
		}
		mine := e.mustStatus(e.do("GET", "/api/v1/terminals/"+tm.ID+"/invoices", tm.Key, nil), http.StatusOK)
		if d := mine.JSON["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != ownID {
			t.Errorf("terminal invoices: %s", mine.Raw)
		}
		e.mustStatus(e.do("POST", "/api/v1/invoices/"+ownID+"/cancel", tm.Key, nil), http.StatusOK)

		// Sockets: not the merchant's, not another terminal's; a ws_token
		// it mints opens its own only.
		wsBase := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/v1/ws"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, res, err := websocket.Dial(ctx, wsBase, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tm.Key}}})
		if err == nil {
			t.Fatal("merchant socket accepted a terminal key")
		}
		e.wantProblem(toResponse(t, res), http.StatusForbidden, "insufficient_scope")
		_, res, err = e.dialTerminal(other.ID, "", "api-key", tm.Key)
		if err == nil {
			t.Fatal("another terminal's socket accepted the key")
		}
		e.wantProblem(toResponse(t, res), http.StatusNotFound, "not_found")
		_, res, err = e.dialTerminal(tm.ID, "", "Authorization", "Bearer "+e.key)
		if err == nil {
			t.Fatal("terminal socket accepted the merchant key")
		}
		e.wantProblem(toResponse(t, res), http.StatusForbidden, "insufficient_scope")

		token := func() string {
			return str(t, e.mustStatus(e.do("POST", "/api/v1/ws-tokens", tm.Key, nil), http.StatusCreated).JSON, "ws_token")
		}
		_, res, err = websocket.Dial(ctx, wsBase+"?ws_token="+token(), nil)
		if err == nil {
			t.Fatal("merchant socket accepted a terminal's ws_token")
		}
		e.wantProblem(toResponse(t, res), http.StatusForbidden, "insufficient_scope")
		_, res, err = e.dialTerminal(other.ID, "?ws_token="+token())
		if err == nil {
			t.Fatal("another terminal's socket accepted a terminal's ws_token")
		}
		e.wantProblem(toResponse(t, res), http.StatusNotFound, "not_found")
		conn, res, err := e.dialTerminal(tm.ID, "?ws_token="+token())
		if err != nil {
			t.Fatalf("own socket with a ws_token: %v %v", err, toResponseOrNil(t, res))
		}
		conn.Close(websocket.StatusNormalClosure, "")
		// A cursor of another terminal's events is refused.
		evID := e.invoiceEvents(otherID, e.key)[0]["id"].(string)
		_, res, err = e.dialTerminal(tm.ID, "?after="+evID, "api-key", tm.Key)
		if err == nil {
			t.Fatal("a cursor of another terminal's event was taken")
		}
		e.wantProblem(toResponse(t, res), http.StatusUnprocessableEntity, "invalid_cursor")
	})
}

// TestTerminalLifecycle checks create, list, get and delete: deleting
// revokes the key, closing the terminal's socket.
func TestTerminalLifecycle(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := termSetup(t, db)
		e.wantProblem(e.do("POST", "/api/v1/terminals", e.key, map[string]any{"name": ""}), http.StatusUnprocessableEntity, "invalid_name")
		e.wantProblem(e.do("POST", "/api/v1/terminals", e.key, map[string]any{"name": "Counter 1", "location_id": "loc_1"}), http.StatusUnprocessableEntity, "invalid_location")
		_, otherKey := e.otherMerchant()
		theirs := e.mustStatus(e.do("POST", "/api/v1/locations", otherKey, map[string]any{"name": "Elsewhere"}), http.StatusCreated)
		e.wantProblem(e.do("POST", "/api/v1/terminals", e.key, map[string]any{"name": "Counter 1", "location_id": str(t, theirs.JSON, "id")}), http.StatusUnprocessableEntity, "invalid_location")
		loc := str(t, e.mustStatus(e.do("POST", "/api/v1/locations", e.key, map[string]any{"name": "Café"}), http.StatusCreated).JSON, "id")
		created := e.mustStatus(e.do("POST", "/api/v1/terminals", e.key, map[string]any{"name": "Counter 1", "location_id": loc}), http.StatusCreated)
		for _, f := range []string{"api_key", "command_secret"} {
			if !strings.HasPrefix(str(t, created.JSON, f), map[string]string{"api_key": "sk_test_", "command_secret": "tcs_"}[f]) {
				t.Errorf("%s: %v", f, created.JSON[f])
			}
		}
		tm := terminal{ID: str(t, created.JSON, "id"), Key: str(t, created.JSON, "api_key")}
		if !strings.HasPrefix(tm.ID, "trm_") || created.JSON["location_id"] != loc || created.JSON["mode"] != "test" {
			t.Errorf("created %s", created.Raw)
		}
		// Its invoices are at its location, over the API and the socket.
		if inv := e.createInvoiceWith(tm.Key, newInvoice); inv["terminal_id"] != tm.ID || inv["location_id"] != loc {
			t.Errorf("a terminal's invoice: terminal %v, location %v", inv["terminal_id"], inv["location_id"])
		}
		e.createTerminal("Counter 2")
		page := e.mustStatus(e.do("GET", "/api/v1/terminals?limit=1", e.key, nil), http.StatusOK)
		if page.JSON["has_more"] != true || len(page.JSON["data"].([]any)) != 1 {
			t.Errorf("first page %s", page.Raw)
		}
		last := page.JSON["data"].([]any)[0].(map[string]any)["id"].(string)
		next := e.mustStatus(e.do("GET", "/api/v1/terminals?limit=1&after="+last, e.key, nil), http.StatusOK)
		if next.JSON["has_more"] != false || next.JSON["data"].([]any)[0].(map[string]any)["id"] != tm.ID {
			t.Errorf("second page %s", next.Raw)
		}
		got := e.mustStatus(e.do("GET", "/api/v1/terminals/"+tm.ID, e.key, nil), http.StatusOK)
		if _, ok := got.JSON["api_key"]; ok || strings.Contains(string(got.Raw), "tcs_") {
			t.Errorf("get shows a secret: %s", got.Raw)
		}
		e.wantProblem(e.do("GET", "/api/v1/terminals/"+tm.ID, otherKey, nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.do("DELETE", "/api/v1/terminals/"+tm.ID, otherKey, nil), http.StatusNotFound, "not_found")

		conn := e.openTerminal(tm, "")
		del := e.mustStatus(e.do("DELETE", "/api/v1/terminals/"+tm.ID, e.key, nil), http.StatusOK)
		if del.JSON["deleted_at"] == nil {
			t.Errorf("deleted %s", del.Raw)
		}
		if ce := closeStatus(t, conn, 5*time.Second); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "api key revoked" {
			t.Errorf("socket closed with %v %q", ce.Code, ce.Reason)
		}
		e.wantProblem(e.do("GET", "/api/v1/terminals/"+tm.ID, tm.Key, nil), http.StatusUnauthorized, "invalid_api_key")
		e.mustStatus(e.do("DELETE", "/api/v1/terminals/"+tm.ID, e.key, nil), http.StatusOK)
	})
}

// invoiceEvents waits until the invoice's events are sequenced (at least
// one) and returns them, read with key.
func (e *env) invoiceEvents(id, key string) []map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/events", key, nil), http.StatusOK)
		if data := r.JSON["data"].([]any); len(data) > 0 {
			out := make([]map[string]any, len(data))
			for i, d := range data {
				out[i] = d.(map[string]any)
			}
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no events of %s: %s", id, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTerminalSocketRules checks that the terminal socket keeps the
// merchant socket's rules: its connection limits (counted with the
// merchant's sockets), the keepalive that closes an idle client, and a
// checkout.scanned event of its invoice streamed as session_scanned.
func TestTerminalSocketRules(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := termSetupWith(t, db, events.HubConfig{MaxPerMerchant: 2, PingInterval: 200 * time.Millisecond, IdleTimeout: time.Second})
		tm := e.createTerminal("A")
		first := e.openTerminal(tm, "")
		// The merchant's own socket takes the second place.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		merchant, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/api/v1/ws",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + e.key}}})
		if err != nil {
			t.Fatal(err)
		}
		defer merchant.CloseNow()
		over := e.openTerminal(tm, "")
		if ce := closeStatus(t, over, 5*time.Second); ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "too many connections for this merchant in test mode (limit 2)") {
			t.Errorf("third connection closed with %v %q", ce.Code, ce.Reason)
		}

		// A scan of the terminal's invoice by the payor reaches it as
		// session_scanned.
		send1(t, first, sign(t, tm.Secret, map[string]any{"type": "create_session", "amount": "2.00", "currency": "USD"}))
		s, _ := waitType(t, first, "session")
		id := str(t, s.Invoice, "id")
		h := s.Invoice["payment_session_headers"].(map[string]any)
		e.mustStatus(e.do("GET", "/api/v1/payor/session", "", nil,
			"x-session-token", h["x-session-token"].(string), "x-signature", h["x-signature"].(string)), http.StatusOK)
		if m, _ := waitType(t, first, "session_scanned"); m.InvoiceID != id || m.EventType != "checkout.scanned" {
			t.Errorf("session_scanned %+v", m)
		}

		// A client that answers no ping is closed once idle; one that
		// reads (and so answers pings) stays.
		first.CloseNow()
		merchant.CloseNow()
		wsWaitFor(t, func() bool { return e.hub.Connections() == 0 })
		alive := e.openTerminal(tm, "")
		idle := e.openTerminal(tm, "")
		readErr := make(chan error, 1)
		go func() {
			for {
				if _, err := readTerm(alive, 10*time.Second); err != nil {
					readErr <- err
					return
				}
			}
		}()
		time.Sleep(2500 * time.Millisecond) // reading would answer the pings
		ce := closeStatus(t, idle, 5*time.Second)
		if ce.Code != websocket.StatusPolicyViolation || !strings.HasPrefix(ce.Reason, "idle") {
			t.Errorf("idle client closed with %d %q, want 1008 idle", ce.Code, ce.Reason)
		}
		time.Sleep(500 * time.Millisecond)
		send1(t, alive, sign(t, tm.Secret, map[string]any{"type": "ping"}))
		select {
		case err := <-readErr:
			t.Fatalf("the reading client was disconnected: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
	})
}
