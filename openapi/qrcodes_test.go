package openapi_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestLocationsAndQRCodes covers the merchant's side of static codes:
// locations and codes created, listed, read and deactivated; serial
// rules; the start URL's address rule; the printable PNG and SVG.
func TestLocationsAndQRCodes(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, false)
		loc := e.mustStatus(e.do("POST", "/api/v1/locations", e.key, map[string]any{"name": "Hall B"}), http.StatusCreated).JSON
		locID := str(t, loc, "id")
		if !strings.HasPrefix(locID, "loc_") || loc["object"] != "location" || loc["active"] != true || loc["mode"] != "test" {
			t.Fatalf("location %v", loc)
		}
		e.wantProblem(e.do("POST", "/api/v1/locations", e.key, map[string]any{"name": ""}), http.StatusUnprocessableEntity, "invalid_name")

		gen := e.mustStatus(e.do("POST", "/api/v1/qr-codes", e.key, map[string]any{
			"location_id": locID, "qr_start_webhook_url": "http://127.0.0.1:9/start", "allow_tip": true,
		}), http.StatusCreated).JSON
		serial := str(t, gen, "qr_code")
		if !invoice.ValidSerial(serial) || !strings.HasPrefix(str(t, gen, "id"), "qrc_") {
			t.Errorf("generated code %v", gen)
		}
		if want := e.srv.URL + "/q/" + e.merchant + "/" + serial; gen["url"] != want {
			t.Errorf("url %v, want %s", gen["url"], want)
		}
		if s := str(t, gen, "qr_start_webhook_secret"); !strings.HasPrefix(s, "whsec_") {
			t.Errorf("secret %q", s)
		}
		if gen["allow_tip"] != true || gen["order_timeout_seconds"] != float64(120) || gen["payment_timeout_seconds"] != float64(900) {
			t.Errorf("defaults: %v", gen)
		}
		got := e.mustStatus(e.do("GET", "/api/v1/qr-codes/"+str(t, gen, "id"), e.key, nil), http.StatusOK).JSON
		if _, shown := got["qr_start_webhook_secret"]; shown {
			t.Error("the secret is shown again on GET")
		}

		chosen := e.mustStatus(e.do("POST", "/api/v1/qr-codes", e.key, map[string]any{
			"location_id": locID, "qr_code": "Hall-B_07", "qr_start_webhook_url": "http://127.0.0.1:9/start",
		}), http.StatusCreated).JSON
		if chosen["qr_code"] != "Hall-B_07" {
			t.Errorf("chosen serial %v", chosen["qr_code"])
		}
		before := e.counts()
		for _, tc := range []struct {
			name   string
			body   map[string]any
			code   string
			status int
		}{
			{"taken serial", map[string]any{"qr_code": "Hall-B_07"}, "qr_code_taken", 422},
			{"short serial", map[string]any{"qr_code": "ab"}, "invalid_qr_code", 422},
			{"slash in serial", map[string]any{"qr_code": "ab/cd"}, "invalid_qr_code", 422},
			{"space in serial", map[string]any{"qr_code": "ab cd"}, "invalid_qr_code", 422},
			{"unknown location", map[string]any{"location_id": "loc_nope"}, "invalid_location", 422},
			{"no url", map[string]any{"qr_start_webhook_url": ""}, "invalid_url", 422},
			{"order timeout", map[string]any{"order_timeout_seconds": 1}, "invalid_timeout", 422},
		} {
			body := map[string]any{"location_id": locID, "qr_start_webhook_url": "http://127.0.0.1:9/start"}
			for k, v := range tc.body {
				body[k] = v
			}
			r := e.do("POST", "/api/v1/qr-codes", e.key, body)
			e.wantProblem(r, tc.status, tc.code)
		}
		// The serial is unique across modes: the printed URL names none.
		live := e.liveKey()
		liveLoc := e.mustStatus(e.do("POST", "/api/v1/locations", live, map[string]any{"name": "Live hall"}), http.StatusCreated).JSON
		e.wantProblem(e.do("POST", "/api/v1/qr-codes", live, map[string]any{
			"location_id": liveLoc["id"], "qr_code": "Hall-B_07", "qr_start_webhook_url": "https://127.0.0.1/start",
		}), 422, "qr_code_taken")
		// Live mode: https only.
		e.wantProblem(e.do("POST", "/api/v1/qr-codes", live, map[string]any{
			"location_id": liveLoc["id"], "qr_start_webhook_url": "http://127.0.0.1/start",
		}), 422, "url_not_allowed")
		if after := e.counts(); after["invoices"] != before["invoices"] {
			t.Errorf("refused codes changed invoices: %v → %v", before, after)
		}

		list := e.mustStatus(e.do("GET", "/api/v1/qr-codes?limit=1", e.key, nil), http.StatusOK).JSON
		if data := list["data"].([]any); len(data) != 1 || list["has_more"] != true || data[0].(map[string]any)["id"] != chosen["id"] {
			t.Errorf("list page 1: %v", list)
		}
		list = e.mustStatus(e.do("GET", "/api/v1/qr-codes?limit=1&after="+str(t, chosen, "id"), e.key, nil), http.StatusOK).JSON
		if data := list["data"].([]any); len(data) != 1 || list["has_more"] != false || data[0].(map[string]any)["id"] != gen["id"] {
			t.Errorf("list page 2: %v", list)
		}
		if n := len(e.mustStatus(e.do("GET", "/api/v1/qr-codes", live, nil), http.StatusOK).JSON["data"].([]any)); n != 0 {
			t.Errorf("a live key lists %d test codes", n)
		}
		locs := e.mustStatus(e.do("GET", "/api/v1/locations", e.key, nil), http.StatusOK).JSON
		if data := locs["data"].([]any); len(data) != 1 {
			t.Errorf("locations %v", locs)
		}

		// The printable code: PNG of the asked size, SVG.
		r := e.mustStatus(e.do("GET", "/api/v1/qr-codes/"+str(t, gen, "id")+"/qr?format=png&size=300", e.key, nil), http.StatusOK)
		img, err := png.Decode(bytes.NewReader(r.Raw))
		if err != nil || r.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("png: %v %s", err, r.Header.Get("Content-Type"))
		}
		if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 300 {
			t.Errorf("png size %v", b)
		}
		r = e.mustStatus(e.do("GET", "/api/v1/qr-codes/"+str(t, gen, "id")+"/qr?format=svg", e.key, nil), http.StatusOK)
		if !bytes.Contains(r.Raw, []byte("<svg")) || r.Header.Get("Content-Type") != "image/svg+xml" {
			t.Errorf("svg: %s", r.Header.Get("Content-Type"))
		}
		e.wantProblem(e.do("GET", "/api/v1/qr-codes/"+str(t, gen, "id")+"/qr?format=gif", e.key, nil), 422, "invalid_format")

		// Scanning: the page of an active code, then of a deactivated one.
		page := e.do("GET", "/q/"+e.merchant+"/"+serial, "", nil)
		if page.Status != 200 || !strings.Contains(string(page.Raw), "Starting your order") || page.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("waiting page: %d %s", page.Status, page.Raw)
		}
		if n := sessions(t, e); n != 0 {
			t.Errorf("a GET of the page opened %d sessions", n)
		}
		d := e.mustStatus(e.do("DELETE", "/api/v1/qr-codes/"+str(t, gen, "id"), e.key, nil), http.StatusOK).JSON
		if d["active"] != false || d["deactivated_at"] == nil {
			t.Errorf("deactivated: %v", d)
		}
		page = e.do("GET", "/q/"+e.merchant+"/"+serial, "", nil)
		if page.Status != http.StatusGone || !strings.Contains(string(page.Raw), "not in service") {
			t.Errorf("deactivated page: %d %s", page.Status, page.Raw)
		}
		if r := e.scan(str(t, gen, "url"), ""); r.Status != http.StatusGone {
			t.Errorf("scan of a deactivated code: %d %s", r.Status, r.Raw)
		}
		e.wantProblem(e.do("POST", "/api/v1/qr-codes", e.key, map[string]any{"location_id": locID, "qr_code": serial, "qr_start_webhook_url": "http://127.0.0.1:9/x"}), 422, "qr_code_taken")
		e.mustStatus(e.do("DELETE", "/api/v1/locations/"+locID, e.key, nil), http.StatusOK)
		if r := e.scan(str(t, chosen, "url"), ""); r.Status != http.StatusGone {
			t.Errorf("scan at a deactivated location: %d %s", r.Status, r.Raw)
		}
		if page := e.do("GET", "/q/"+e.merchant+"/nope-nope", "", nil); page.Status != 404 || !strings.Contains(string(page.Raw), "Unknown code") {
			t.Errorf("unknown code page: %d", page.Status)
		}
		other, otherKey := e.otherMerchant()
		_ = other
		e.wantProblem(e.do("GET", "/api/v1/qr-codes/"+str(t, chosen, "id"), otherKey, nil), 404, "not_found")
	})
}

func sessions(t *testing.T, e *qrEnv) int64 {
	t.Helper()
	n, err := e.db.NewSelect().TableExpr("qr_sessions").Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestQRStartURLGuard checks that a start URL goes through the webhooks'
// address guard: a loopback target is refused unless private addresses
// are allowed, when the code is created and again when a request is sent
// (a code stored with such a URL reaches nothing).
func TestQRStartURLGuard(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{}, true)
		loc := e.mustStatus(e.do("POST", "/api/v1/locations", e.key, map[string]any{"name": "Hall"}), http.StatusCreated).JSON
		for _, u := range []string{"http://127.0.0.1:8080/start", "http://10.0.0.1/start", "http://169.254.169.254/latest", "http://[::1]/x"} {
			r := e.do("POST", "/api/v1/qr-codes", e.key, map[string]any{"location_id": loc["id"], "qr_start_webhook_url": u})
			e.wantProblem(r, 422, "url_not_allowed")
		}
		rc := newStartReceiver(t, nil)
		c, err := e.svc.CreateQRCode(context.Background(), invoice.QRCodeParams{
			MerchantID: e.merchant, Mode: invoice.ModeTest, LocationID: str(t, loc, "id"), StartURL: rc.URL, Secret: events.NewSecret(),
		})
		if err != nil {
			t.Fatal(err)
		}
		r := e.mustStatus(e.do("POST", "/q/"+e.merchant+"/"+c.Code+"/sessions", "", nil), http.StatusCreated).JSON
		waitFor(t, "the session to fail", func() bool {
			return e.do("GET", "/q/s/"+str(t, r, "token"), "", nil).JSON["status"] == "failed"
		})
		if n := len(rc.receipts()); n != 0 {
			t.Errorf("the loopback receiver got %d requests", n)
		}
		var lastErr string
		if err := e.db.NewSelect().TableExpr("qr_session_requests").Column("last_error").Scan(context.Background(), &lastErr); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(lastErr, "not allowed") {
			t.Errorf("last error %q", lastErr)
		}
	})
}

// TestQRStartAndOrderKey scans a code whose receiver answers 200, checks
// the signed request (Standard Webhooks and JWT) and spends its order
// key: one invoice, bound to the session, readable with the key; a second
// create is refused, by the key and by the merchant.
func TestQRStartAndOrderKey(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, true)
		rc := newStartReceiver(t, nil)
		code := e.newCode(rc.URL, map[string]any{"allow_tip": true, "order_timeout_seconds": 300, "payment_timeout_seconds": 600})
		rc.setSecret(str(t, code, "qr_start_webhook_secret"))
		scan := e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated).JSON
		if scan["status"] != "waiting" || scan["token"] == "" {
			t.Fatalf("scan: %v", scan)
		}
		waitFor(t, "the start request", func() bool { return len(rc.receipts()) == 1 })
		req := rc.receipts()[0]
		if req.verifyErr != nil {
			t.Fatalf("signature: %v", req.verifyErr)
		}
		b := req.body
		sessionID := b["session_id"].(string)
		for k, want := range map[string]any{
			"type": "start_qr_session", "qr_id": code["id"], "location_id": code["location_id"], "qr_code": code["qr_code"],
			"allow_tip": true, "order_timeout_seconds": float64(300), "payment_timeout_seconds": float64(600), "dynamic": nil, "mode": "test",
		} {
			if b[k] != want {
				t.Errorf("start request %s = %v, want %v", k, b[k], want)
			}
		}
		if !strings.HasPrefix(sessionID, "qrs_") || b["idempotency_key"] != req.header.Get("webhook-id") || b["execute_at"] == nil {
			t.Errorf("start request ids: %s", req.raw)
		}
		// The JWT form: the same body, HS256 under the secret's key.
		bearer := strings.TrimPrefix(req.header.Get("Authorization"), "Bearer ")
		tok, err := jose.ParseSigned(bearer, []jose.SignatureAlgorithm{jose.HS256})
		if err != nil {
			t.Fatalf("jwt: %v", err)
		}
		key := whsecKey(t, str(t, code, "qr_start_webhook_secret"))
		payload, err := tok.Verify(key)
		if err != nil || !bytes.Equal(payload, req.raw) {
			t.Errorf("jwt verify: %v; payload equals body: %v", err, bytes.Equal(payload, req.raw))
		}
		if _, err := tok.Verify([]byte("another key of thirty-two bytes!")); err == nil {
			t.Error("jwt verifies under another key")
		}

		orderKey := b["order_key"].(string)
		// The merchant can read the session.
		sess := e.mustStatus(e.do("GET", "/api/v1/qr-sessions/"+sessionID, e.key, nil), http.StatusOK).JSON
		if sess["status"] != "waiting" {
			t.Errorf("session %v", sess)
		}
		other := e.createInvoice(map[string]any{"amount": "1.00", "currency": "USD"})
		inv := e.createInvoiceWith(orderKey, map[string]any{"amount": "2.50", "currency": "USD", "metadata": map[string]any{"slot": "A3"}})
		if inv["qr_session_id"] != sessionID || inv["location_id"] != code["location_id"] || inv["metadata"].(map[string]any)["slot"] != "A3" {
			t.Errorf("invoice %v", inv)
		}
		exp, _ := time.Parse(time.RFC3339Nano, str(t, inv, "expires_at"))
		created, _ := time.Parse(time.RFC3339Nano, str(t, inv, "created_at"))
		if d := exp.Sub(created); d != 600*time.Second {
			t.Errorf("expiry %v after creation, want the code's payment timeout 600s", d)
		}
		if inv["allow_tip"] != true || inv["tip_cap_percent"] != float64(20) {
			t.Errorf("a code with allow_tip made an invoice with allow_tip %v, cap %v", inv["allow_tip"], inv["tip_cap_percent"])
		}
		// Once: by the key, and by the merchant naming the session.
		e.wantProblem(e.do("POST", "/api/v1/invoices", orderKey, map[string]any{"amount": "2.50", "currency": "USD"}), 409, "qr_session_used")
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, map[string]any{"amount": "2.50", "currency": "USD", "qr_session_id": sessionID}), 409, "qr_session_used")
		// The key reads its invoice and its session, nothing else.
		e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, inv, "id"), orderKey, nil), http.StatusOK)
		e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, inv, "id")+"/status", orderKey, nil), http.StatusOK)
		e.mustStatus(e.do("GET", "/api/v1/qr-sessions/"+sessionID, orderKey, nil), http.StatusOK)
		e.wantProblem(e.do("GET", "/api/v1/invoices/"+str(t, other, "id"), orderKey, nil), 404, "not_found")
		e.wantProblem(e.do("GET", "/api/v1/invoices/"+str(t, other, "id")+"/status", orderKey, nil), 404, "not_found")
		// Its invoice's QR code (a machine's screen), not another's.
		if r := e.do("GET", "/api/v1/invoices/"+str(t, inv, "id")+"/qr", orderKey, nil); r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(r.Raw, []byte("\x89PNG")) {
			t.Errorf("order key's own QR code: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		e.wantProblem(e.do("GET", "/api/v1/invoices/"+str(t, other, "id")+"/qr", orderKey, nil), 404, "not_found")
		if s := e.qrSession(sessionID); s.Status != invoice.QRInvoiced || s.InvoiceID != inv["id"] {
			t.Errorf("session after invoice: %+v", s)
		}
		// The payor's poll now names the checkout.
		st := e.mustStatus(e.do("GET", "/q/s/"+str(t, scan, "token"), "", nil), http.StatusOK).JSON
		if st["status"] != "invoiced" || st["payment_url"] != inv["payment_url"] {
			t.Errorf("status %v", st)
		}
		// A canceled beacon after the invoice changes nothing.
		if r := e.do("POST", "/q/s/"+str(t, scan, "token")+"/cancel", "", nil); r.Status != http.StatusNoContent {
			t.Errorf("cancel: %d", r.Status)
		}
		if s := e.qrSession(sessionID); s.Status != invoice.QRInvoiced {
			t.Errorf("cancel moved an invoiced session to %s", s.Status)
		}
		// Events of the session, in the merchant's outbox: created, then
		// invoiced.
		var types []string
		if err := e.db.NewSelect().TableExpr("events").Column("type").Where("merchant_id = ? AND type LIKE 'qr_session.%'", e.merchant).
			OrderExpr("id").Scan(context.Background(), &types); err != nil {
			t.Fatal(err)
		}
		if strings.Join(types, ",") != "qr_session.created,qr_session.updated" {
			t.Errorf("qr session events %v", types)
		}
	})
}

// whsecKey is the HMAC key of a whsec_ secret.
func whsecKey(t *testing.T, secret string) []byte {
	t.Helper()
	k, err := base64Std(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestOrderKeyConcurrent creates a session's invoice from many requests
// at once with its order key: exactly one succeeds.
func TestOrderKeyConcurrent(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, true)
		rc := newStartReceiver(t, nil)
		code := e.newCode(rc.URL, nil)
		rc.setSecret(str(t, code, "qr_start_webhook_secret"))
		e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated)
		waitFor(t, "the start request", func() bool { return len(rc.receipts()) == 1 })
		b := rc.receipts()[0].body
		orderKey, sessionID := b["order_key"].(string), b["session_id"].(string)
		const n = 12
		statuses := make([]response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r, err := send(e.request("POST", "/api/v1/invoices", orderKey, map[string]any{"amount": "3.00", "currency": "USD"}))
				if err != nil {
					t.Error(err)
				}
				statuses[i] = r
			})
		}
		wg.Wait()
		created := 0
		for _, r := range statuses {
			switch {
			case r.Status == 201:
				created++
			case r.Status == 409 && r.JSON["code"] == "qr_session_used":
			default:
				t.Errorf("concurrent create: %d %s", r.Status, r.Raw)
			}
		}
		count, err := e.db.NewSelect().TableExpr("invoices").Where("qr_session_id = ?", sessionID).Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if created != 1 || count != 1 {
			t.Errorf("%d created, %d stored, want exactly one", created, count)
		}
	})
}

// TestOrderKeyRefusedElsewhere calls every operation of the spec but the
// five an order key may use, with an order key: each is refused with 403
// insufficient_scope, and nothing is stored.
func TestOrderKeyRefusedElsewhere(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, false)
		code := e.newCode("http://127.0.0.1:9/start", nil)
		r := e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated).JSON
		sess, _, err := e.svc.QRSessionByToken(context.Background(), str(t, r, "token"))
		if err != nil {
			t.Fatal(err)
		}
		key, _, err := e.svc.CreateBoundKey(context.Background(), e.merchant, invoice.ModeTest, invoice.ScopeOrder, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		allowed := map[string]bool{"create-invoice": true, "get-invoice": true, "get-invoice-status": true, "get-invoice-qr": true, "get-qr-session": true}
		before := e.counts()
		checked := 0
		for _, op := range specOperations(t) {
			if allowed[op.id] || op.public {
				continue
			}
			path := strings.NewReplacer("{id}", "x", "{network}", "x", "{rail}", "x", "{delivery_id}", "x", "{endpoint_id}", "x").Replace(op.path)
			var body any
			if op.method == "POST" || op.method == "PATCH" || op.method == "PUT" {
				body = map[string]any{}
			}
			r := e.do(op.method, path, key, body)
			if r.Status != http.StatusForbidden || r.JSON["code"] != "insufficient_scope" {
				t.Errorf("%s %s (%s): %d %s", op.method, op.path, op.id, r.Status, r.Raw)
			}
			checked++
		}
		if checked < 30 {
			t.Errorf("only %d operations checked", checked)
		}
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("store changed: %v → %v", before, after)
		}
		// Another session's id in the body is refused too.
		e.wantProblem(e.do("POST", "/api/v1/invoices", key, map[string]any{"amount": "1.00", "currency": "USD", "qr_session_id": "qrs_other"}), 403, "insufficient_scope")
	})
}
