package openapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/payor/browsertest"
)

// qrAwaitAcross is browsertest.Await across a navigation, which ends a Poll: it
// evaluates expr again and again, taking an error as false.
func qrAwaitAcross(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
			t.Fatalf("%s (%s): timed out\npage text:\n%s", what, expr, page)
		}
	}
}

// pushedOnly checks that the waiting page of a subtest learnt everything
// over its socket: at least one upgrade and not one status poll since
// polls0 and sockets0.
func (e *qrEnv) pushedOnly(t *testing.T, ctx context.Context, polls0, sockets0 int64) {
	t.Helper()
	if n := e.sockets.Load() - sockets0; n < 1 {
		t.Errorf("the waiting page opened no WebSocket")
	}
	if n := e.polls.Load() - polls0; n != 0 {
		t.Errorf("the waiting page polled %d times; the change must come over the socket", n)
	}
}

// TestQRScanInBrowser scans static codes in headless Chromium, each with a
// local receiver (a vending machine) that verifies the Standard Webhooks
// signature:
//   - the receiver answers 200 and creates the invoice with the one-time
//     order key: the waiting page turns into the checkout by itself;
//   - the receiver answers 412 with a down_response_text: the page shows it;
//   - the receiver fails twice and answers the third request: three
//     requests with one idempotency key, all validly signed, then the
//     checkout as before;
//   - the payor leaves before the invoice: the session is canceled and the
//     receiver gets a signed canceled request;
//   - a proxy refuses the page's WebSocket: the page polls and still turns
//     into the checkout.
//
// Every change but the last reaches the page over its WebSocket
// (/q/s/{token}/ws), woken by the session's qr_session.updated event: the
// page makes no status poll at all (the server counts them), and the
// socket's own safety-net poll is an hour.
func TestQRScanInBrowser(t *testing.T) {
	t.Parallel()
	alloc := browsertest.Browser(t)
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, true)
		// createOrder is what the machine does once it accepted a start:
		// it creates the invoice with the key it was given.
		created := make(chan map[string]any, 4)
		createOrder := func(req startReceipt) {
			time.Sleep(300 * time.Millisecond) // the page is already waiting
			r, err := send(e.request("POST", "/api/v1/invoices", req.body["order_key"].(string),
				map[string]any{"amount": "2.50", "currency": "USD", "description": "Sparkling water"}))
			if err != nil || r.Status != http.StatusCreated {
				t.Errorf("machine's create: %v %d %s", err, r.Status, r.Raw)
				return
			}
			created <- r.JSON
		}

		t.Run("accepted", func(t *testing.T) {
			rc := newStartReceiver(t, func(n int, req startReceipt) (int, string) {
				if req.body["type"] == "start_qr_session" {
					go createOrder(req)
				}
				return 200, `{"ok":true}`
			})
			code := e.newCode(rc.URL, nil)
			rc.setSecret(str(t, code, "qr_start_webhook_secret"))
			ctx := browsertest.Tab(t, alloc, 60*time.Second)
			polls0, sockets0 := e.polls.Load(), e.sockets.Load()
			if err := chromedp.Do(ctx, chromedp.Navigate(str(t, code, "url"))); err != nil {
				t.Fatal(err)
			}
			qrAwaitAcross(t, ctx, "checkout page", `location.pathname.startsWith('/pay/') && !!document.getElementById('amount') && document.getElementById('amount').textContent.includes('2.50')`)
			e.pushedOnly(t, ctx, polls0, sockets0)
			inv := <-created
			if loc := browsertest.Eval[string](t, ctx, `location.href`); loc != inv["payment_url"] {
				t.Errorf("page at %s, want the invoice's payment_url %v", loc, inv["payment_url"])
			}
			reqs := rc.receipts()
			if len(reqs) != 1 || reqs[0].verifyErr != nil {
				t.Fatalf("receiver got %d requests (%v)", len(reqs), reqs)
			}
			if inv["qr_session_id"] != reqs[0].body["session_id"] {
				t.Errorf("invoice for session %v, start was for %v", inv["qr_session_id"], reqs[0].body["session_id"])
			}
		})

		t.Run("down", func(t *testing.T) {
			rc := newStartReceiver(t, func(int, startReceipt) (int, string) {
				return http.StatusPreconditionFailed, `{"down_response_text":"Machine is down!"}`
			})
			code := e.newCode(rc.URL, nil)
			rc.setSecret(str(t, code, "qr_start_webhook_secret"))
			ctx := browsertest.Tab(t, alloc, 60*time.Second)
			polls0, sockets0 := e.polls.Load(), e.sockets.Load()
			if err := chromedp.Do(ctx, chromedp.Navigate(str(t, code, "url"))); err != nil {
				t.Fatal(err)
			}
			browsertest.Await(t, ctx, 20*time.Second, "down text", `document.querySelector('[data-testid=down-text]').textContent === 'Machine is down!' && !document.getElementById('qr-failure').hidden`)
			e.pushedOnly(t, ctx, polls0, sockets0)
			if reqs := rc.receipts(); len(reqs) != 1 || reqs[0].verifyErr != nil {
				t.Errorf("a 412 is not retried: %d requests", len(reqs))
			}
			sess := e.qrSession(rc.receipts()[0].body["session_id"].(string))
			if sess.Status != "down" || sess.DownText != "Machine is down!" {
				t.Errorf("session %+v", sess)
			}
			e.wantProblem(e.do("POST", "/api/v1/invoices", rc.receipts()[0].body["order_key"].(string),
				map[string]any{"amount": "1.00", "currency": "USD"}), http.StatusConflict, "qr_session_closed")
		})

		t.Run("third attempt", func(t *testing.T) {
			rc := newStartReceiver(t, func(n int, req startReceipt) (int, string) {
				if n < 3 {
					return http.StatusInternalServerError, `{"error":"busy"}`
				}
				go createOrder(req)
				return 200, `{"ok":true}`
			})
			code := e.newCode(rc.URL, nil)
			rc.setSecret(str(t, code, "qr_start_webhook_secret"))
			ctx := browsertest.Tab(t, alloc, 60*time.Second)
			polls0, sockets0 := e.polls.Load(), e.sockets.Load()
			if err := chromedp.Do(ctx, chromedp.Navigate(str(t, code, "url"))); err != nil {
				t.Fatal(err)
			}
			qrAwaitAcross(t, ctx, "checkout page", `location.pathname.startsWith('/pay/') && !!document.getElementById('amount') && document.getElementById('amount').textContent.includes('2.50')`)
			e.pushedOnly(t, ctx, polls0, sockets0)
			<-created
			reqs := rc.receipts()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3", len(reqs))
			}
			for i, r := range reqs {
				if r.verifyErr != nil {
					t.Errorf("request %d: signature: %v", i+1, r.verifyErr)
				}
				if r.body["idempotency_key"] != reqs[0].body["idempotency_key"] || r.header.Get("webhook-id") != reqs[0].header.Get("webhook-id") {
					t.Errorf("request %d: idempotency key %v / webhook-id %s differ from the first", i+1, r.body["idempotency_key"], r.header.Get("webhook-id"))
				}
				if string(r.raw) != string(reqs[0].raw) {
					t.Errorf("request %d: body differs from the first", i+1)
				}
			}
		})

		t.Run("order times out", func(t *testing.T) {
			rc := newStartReceiver(t, nil)
			code := e.newCode(rc.URL, map[string]any{"order_timeout_seconds": 30})
			rc.setSecret(str(t, code, "qr_start_webhook_secret"))
			ctx := browsertest.Tab(t, alloc, 60*time.Second)
			polls0, sockets0 := e.polls.Load(), e.sockets.Load()
			if err := chromedp.Do(ctx, chromedp.Navigate(str(t, code, "url"))); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the start request", func() bool { return len(rc.receipts()) == 1 })
			browsertest.Await(t, ctx, 20*time.Second, "socket open", `document.getElementById('qr').dataset.transport === 'socket'`)
			e.clock.Advance(31 * time.Second)
			browsertest.Await(t, ctx, 20*time.Second, "timed out text", `document.getElementById('qr-failure-title').textContent === 'This order timed out' && !document.getElementById('qr-failure').hidden`)
			e.pushedOnly(t, ctx, polls0, sockets0)
			sessionID := rc.receipts()[0].body["session_id"].(string)
			waitFor(t, "the timed_out request", func() bool { return len(rc.ofSession(sessionID, "timed_out")) == 1 })
		})

		t.Run("bad dynamic data", func(t *testing.T) {
			code := e.newCode("http://127.0.0.1:9/start", nil)
			ctx := browsertest.Tab(t, alloc, 60*time.Second, "the server responded with a status of 400")
			for _, dyn := range []string{`{"table":`, dynamicOfSize(4801)} {
				// The refusal is a 400 page, which Chromium logs as a
				// failed load: that entry is expected.
				if err := chromedp.Do(ctx, chromedp.Navigate(str(t, code, "url")+"?dynamic="+url.QueryEscape(dyn))); err != nil {
					t.Fatal(err)
				}
				text := browsertest.Eval[string](t, ctx, `document.querySelector('h1').textContent + ' / ' + document.querySelector('main p').textContent`)
				if !strings.Contains(text, "order data is not valid") || !strings.Contains(text, "Ask the staff") {
					t.Errorf("page reads %q", text)
				}
			}
		})

		t.Run("pay at table", func(t *testing.T) {
			rc := newStartReceiver(t, nil)
			code := e.newCode(rc.URL, map[string]any{"allow_dynamic_invoice": true})
			ctx := browsertest.Tab(t, alloc, 60*time.Second)
			dyn := url.QueryEscape(`{"amount":"18.40","currency":"USD","table":"7","waiter":"Ann"}`)
			if err := chromedp.Do(ctx, chromedp.Navigate(str(t, code, "url")+"?dynamic="+dyn)); err != nil {
				t.Fatal(err)
			}
			qrAwaitAcross(t, ctx, "checkout page", `location.pathname.startsWith('/pay/') && !!document.getElementById('amount') && document.getElementById('amount').textContent.includes('18.40')`)
			if n := len(rc.receipts()); n != 0 {
				t.Errorf("pay at table sent %d start requests", n)
			}
		})

		t.Run("payor leaves", func(t *testing.T) {
			rc := newStartReceiver(t, nil)
			code := e.newCode(rc.URL, nil)
			rc.setSecret(str(t, code, "qr_start_webhook_secret"))
			ctx := browsertest.Tab(t, alloc, 60*time.Second)
			if err := chromedp.Do(ctx, chromedp.Navigate(str(t, code, "url"))); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the start request", func() bool { return len(rc.receipts()) == 1 })
			browsertest.Await(t, ctx, 20*time.Second, "waiting", `document.getElementById('qr').dataset.status === 'waiting'`)
			if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
				t.Fatal(err)
			}
			sessionID := rc.receipts()[0].body["session_id"].(string)
			waitFor(t, "the canceled request", func() bool { return len(rc.ofSession(sessionID, "canceled")) == 1 })
			c := rc.ofSession(sessionID, "canceled")[0]
			if c.verifyErr != nil || c.body["idempotency_key"] == rc.receipts()[0].body["idempotency_key"] || c.body["order_key"] != nil {
				t.Errorf("canceled request: %v %s", c.verifyErr, c.raw)
			}
			if s := e.qrSession(sessionID); s.Status != "canceled" {
				t.Errorf("session %s, want canceled", s.Status)
			}
		})

		t.Run("socket refused", func(t *testing.T) {
			// A proxy in front answers the upgrade 503: Chromium logs the
			// failed handshake, which is expected here.
			e.refuseSockets.Store(true)
			defer e.refuseSockets.Store(false)
			rc := newStartReceiver(t, func(n int, req startReceipt) (int, string) {
				if req.body["type"] == "start_qr_session" {
					go createOrder(req)
				}
				return 200, `{"ok":true}`
			})
			code := e.newCode(rc.URL, nil)
			rc.setSecret(str(t, code, "qr_start_webhook_secret"))
			ctx := browsertest.Tab(t, alloc, 60*time.Second, "WebSocket connection to")
			polls0, sockets0 := e.polls.Load(), e.sockets.Load()
			if err := chromedp.Do(ctx, chromedp.Navigate(str(t, code, "url"))); err != nil {
				t.Fatal(err)
			}
			qrAwaitAcross(t, ctx, "checkout page", `location.pathname.startsWith('/pay/') && !!document.getElementById('amount') && document.getElementById('amount').textContent.includes('2.50')`)
			<-created
			if e.sockets.Load()-sockets0 < 1 || e.polls.Load()-polls0 < 1 {
				t.Errorf("refused socket: %d upgrades, %d polls; want the page to try the socket, then poll", e.sockets.Load()-sockets0, e.polls.Load()-polls0)
			}
		})
	})
}
