package openapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestQRTimedOut lets a scan's order timeout pass (on the test clock)
// after the receiver took the start: the session is timed_out, the
// receiver gets a signed timed_out request, the payor's poll says so and
// the order key creates nothing.
func TestQRTimedOut(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, true)
		rc := newStartReceiver(t, nil)
		code := e.newCode(rc.URL, map[string]any{"order_timeout_seconds": 30})
		rc.setSecret(str(t, code, "qr_start_webhook_secret"))
		scan := e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated).JSON
		waitFor(t, "the start request", func() bool { return len(rc.receipts()) == 1 })
		start := rc.receipts()[0].body
		sessionID := start["session_id"].(string)
		time.Sleep(100 * time.Millisecond) // the worker polls: nothing times out early
		if s := e.qrSession(sessionID); s.Status != invoice.QRWaiting {
			t.Fatalf("session %s before its timeout", s.Status)
		}
		e.clock.Advance(31 * time.Second)
		waitFor(t, "the timed_out request", func() bool { return len(rc.ofSession(sessionID, "timed_out")) == 1 })
		to := rc.ofSession(sessionID, "timed_out")[0]
		if to.verifyErr != nil || to.body["order_key"] != nil || to.body["qr_id"] != code["id"] {
			t.Errorf("timed_out request: %v %s", to.verifyErr, to.raw)
		}
		if s := e.qrSession(sessionID); s.Status != invoice.QRTimedOut {
			t.Errorf("session %s, want timed_out", s.Status)
		}
		st := e.mustStatus(e.do("GET", "/q/s/"+str(t, scan, "token"), "", nil), http.StatusOK).JSON
		if st["status"] != "timed_out" {
			t.Errorf("poll: %v", st)
		}
		e.wantProblem(e.do("POST", "/api/v1/invoices", start["order_key"].(string), map[string]any{"amount": "1.00", "currency": "USD"}), 409, "qr_session_closed")
	})
}

// TestQRStartFails makes every attempt fail: three requests, then the
// session is failed and the page's poll says so.
func TestQRStartFails(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, true)
		rc := newStartReceiver(t, func(int, startReceipt) (int, string) { return http.StatusBadGateway, "no" })
		code := e.newCode(rc.URL, nil)
		rc.setSecret(str(t, code, "qr_start_webhook_secret"))
		scan := e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated).JSON
		waitFor(t, "a failed session", func() bool {
			st := e.do("GET", "/q/s/"+str(t, scan, "token"), "", nil).JSON
			return st["status"] == "failed"
		})
		time.Sleep(200 * time.Millisecond) // no fourth attempt comes
		if n := len(rc.receipts()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
}

// TestQRStartSurvivesRestart stores a scan while no sender runs (a crash
// right after the scan): the sender started later delivers it.
func TestQRStartSurvivesRestart(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, false)
		rc := newStartReceiver(t, nil)
		code := e.newCode(rc.URL, nil)
		rc.setSecret(str(t, code, "qr_start_webhook_secret"))
		e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated)
		time.Sleep(100 * time.Millisecond)
		if n := len(rc.receipts()); n != 0 {
			t.Fatalf("%d requests without a sender", n)
		}
		e.run()
		waitFor(t, "the start request", func() bool { return len(rc.receipts()) == 1 })
		if err := rc.receipts()[0].verifyErr; err != nil {
			t.Error(err)
		}
	})
}

// TestQRDynamic scans codes with dynamic data: it reaches the start
// request and the invoice's metadata; oversized or malformed data is
// refused with a page a person can read, and opens no session; a code
// that allows it creates the invoice of a dynamic amount at once.
func TestQRDynamic(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, true)
		rc := newStartReceiver(t, nil)
		code := e.newCode(rc.URL, nil)
		rc.setSecret(str(t, code, "qr_start_webhook_secret"))
		dyn := `{"table":"12","waiter":"Ann","amount":"12.50","covers":4}`
		e.mustStatus(e.scan(str(t, code, "url"), "dynamic="+url.QueryEscape(dyn)), http.StatusCreated)
		waitFor(t, "the start request", func() bool { return len(rc.receipts()) == 1 })
		start := rc.receipts()[0].body
		want := map[string]any{}
		json.Unmarshal([]byte(dyn), &want)
		if got, _ := json.Marshal(start["dynamic"]); string(got) != mustJSON(want) {
			t.Errorf("start request dynamic %s, want %s", got, mustJSON(want))
		}
		inv := e.createInvoiceWith(start["order_key"].(string), map[string]any{"amount": "12.50", "currency": "USD"})
		md := inv["metadata"].(map[string]any)
		for k, v := range map[string]string{"dynamic.table": "12", "dynamic.waiter": "Ann", "dynamic.amount": "12.50", "dynamic.covers": "4"} {
			if md[k] != v {
				t.Errorf("metadata %s = %v, want %s (%v)", k, md[k], v, md)
			}
		}
		sess := e.mustStatus(e.do("GET", "/api/v1/qr-sessions/"+start["session_id"].(string), e.key, nil), http.StatusOK).JSON
		if sess["dynamic"].(map[string]any)["table"] != "12" {
			t.Errorf("session dynamic %v", sess["dynamic"])
		}

		before := sessions(t, e)
		big := dynamicOfSize(invoice.MaxDynamicBytes + 1)
		for _, tc := range []struct{ name, dynamic, says string }{
			{"oversized", big, "at most 4800"},
			{"malformed", `{"table":`, "not a JSON object"},
			{"array", `["table"]`, "not a JSON object"},
			{"nested", `{"table":{"n":1}}`, "not a string, number or boolean"},
			{"long key", `{"` + strings.Repeat("k", 33) + `":"1"}`, "keys are 1 to 32"},
		} {
			q := "dynamic=" + url.QueryEscape(tc.dynamic)
			page := e.do("GET", "/q/"+e.merchant+"/"+str(t, code, "qr_code")+"?"+q, "", nil)
			if page.Status != http.StatusBadRequest || !strings.Contains(page.Header.Get("Content-Type"), "text/html") ||
				!strings.Contains(string(page.Raw), "order data is not valid") || !strings.Contains(string(page.Raw), tc.says) {
				t.Errorf("%s: page %d %s", tc.name, page.Status, page.Raw)
			}
			if r := e.scan(str(t, code, "url"), q); r.Status != http.StatusBadRequest || !strings.Contains(str(t, r.JSON, "message"), tc.says) {
				t.Errorf("%s: start %d %s", tc.name, r.Status, r.Raw)
			}
		}
		if after := sessions(t, e); after != before {
			t.Errorf("refused scans opened %d sessions", after-before)
		}
		// Exactly the limit is taken.
		exact := dynamicOfSize(invoice.MaxDynamicBytes)
		if len(exact) != invoice.MaxDynamicBytes {
			t.Fatalf("built %d bytes", len(exact))
		}
		e.mustStatus(e.scan(str(t, code, "url"), "dynamic="+url.QueryEscape(exact)), http.StatusCreated)
		waitFor(t, "the start request of the largest dynamic data", func() bool { return len(rc.receipts()) == 2 })
		if got, _ := json.Marshal(rc.receipts()[1].body["dynamic"]); len(got) != invoice.MaxDynamicBytes {
			t.Errorf("start request carries %d bytes of dynamic data, want %d", len(got), invoice.MaxDynamicBytes)
		}

		// Pay at table: the invoice is created at the scan.
		direct := e.newCode(rc.URL, map[string]any{"allow_dynamic_invoice": true})
		n := len(rc.receipts())
		r := e.mustStatus(e.scan(str(t, direct, "url"), "dynamic="+url.QueryEscape(`{"amount":"18.40","currency":"USD","table":"7"}`)), http.StatusCreated).JSON
		if r["status"] != "invoiced" || !strings.HasPrefix(str(t, r, "payment_url"), e.srv.URL+"/pay/") {
			t.Fatalf("direct scan: %v", r)
		}
		sessAt, invAt, err := e.svc.QRSessionByToken(context.Background(), str(t, r, "token"))
		if err != nil || invAt == nil {
			t.Fatal(err)
		}
		if invAt.Amount.Format(invAt.Decimals) != "18.40" || invAt.Metadata["dynamic.table"] != "7" || invAt.QRSessionID != sessAt.ID || invAt.LocationID != direct["location_id"] {
			t.Errorf("direct invoice %+v", invAt)
		}
		time.Sleep(100 * time.Millisecond)
		if got := len(rc.receipts()); got != n {
			t.Errorf("a direct scan sent %d start requests", got-n)
		}
		bad := e.scan(str(t, direct, "url"), "dynamic="+url.QueryEscape(`{"amount":"18.405","currency":"USD"}`))
		if bad.Status != http.StatusBadRequest || !strings.Contains(str(t, bad.JSON, "message"), "amount") {
			t.Errorf("bad direct amount: %d %s", bad.Status, bad.Raw)
		}
		// Without allow_dynamic_invoice an amount is only data: a start
		// request goes to the receiver (the first scan above).
	})
}

// dynamicOfSize is a valid dynamic object of exactly n bytes.
func dynamicOfSize(n int) string {
	var parts []string
	size := 2
	for i := 0; ; i++ {
		key := fmt.Sprintf("k%02d", i)
		over := len(`"` + key + `":""`)
		if len(parts) > 0 {
			over++
		}
		left := n - size - over
		if left <= 400 {
			parts = append(parts, `"`+key+`":"`+strings.Repeat("y", left)+`"`)
			break
		}
		parts = append(parts, `"`+key+`":"`+strings.Repeat("y", 400)+`"`)
		size += over + 400
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestQRStartTimeout: a receiver that does not answer within the attempt
// timeout gets the same request again (same idempotency key and body).
func TestQRStartTimeout(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true, Timeout: 300 * time.Millisecond}, true)
		rc := newStartReceiver(t, func(n int, _ startReceipt) (int, string) {
			if n == 1 {
				time.Sleep(time.Second) // past the attempt's timeout
			}
			return http.StatusOK, `{"ok":true}`
		})
		code := e.newCode(rc.URL, nil)
		rc.setSecret(str(t, code, "qr_start_webhook_secret"))
		e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated)
		waitFor(t, "a second request", func() bool { return len(rc.receipts()) == 2 })
		reqs := rc.receipts()
		if string(reqs[0].raw) != string(reqs[1].raw) || reqs[0].header.Get("webhook-id") != reqs[1].header.Get("webhook-id") || reqs[1].verifyErr != nil {
			t.Errorf("retry differs: %s / %s", reqs[0].raw, reqs[1].raw)
		}
		time.Sleep(1200 * time.Millisecond)
		if n := len(rc.receipts()); n != 2 {
			t.Errorf("%d requests, want 2 (the second was answered)", n)
		}
		if s := e.qrSession(reqs[0].body["session_id"].(string)); s.Status != invoice.QRWaiting {
			t.Errorf("session %s", s.Status)
		}
	})
}

// TestQRStartWaitsForDue runs the sender with no polling to speak of (an
// hour): a scan wakes it, each retry is made when it falls due, and the
// order timeout is kept at its time, so an idle sender asks the store
// nothing between due moments.
func TestQRStartWaitsForDue(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true, PollInterval: time.Hour,
			Retries: []time.Duration{300 * time.Millisecond, 300 * time.Millisecond}}, true)
		rc := newStartReceiver(t, func(n int, _ startReceipt) (int, string) {
			if n < 3 {
				return http.StatusServiceUnavailable, "busy"
			}
			return http.StatusOK, ""
		})
		code := e.newCode(rc.URL, map[string]any{"order_timeout_seconds": 5})
		rc.setSecret(str(t, code, "qr_start_webhook_secret"))
		start := time.Now()
		e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated)
		waitFor(t, "three start requests", func() bool { return len(rc.receipts()) == 3 })
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("three attempts took %v with retries of 300 ms", d)
		}
		sessionID := rc.receipts()[0].body["session_id"].(string)
		waitFor(t, "the timed_out request", func() bool { return len(rc.ofSession(sessionID, "timed_out")) == 1 })
		if d := time.Since(start); d < 5*time.Second || d > 9*time.Second {
			t.Errorf("timed out after %v, want the order timeout of 5 s", d)
		}
	})
}
