package openapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice/storetest"
)

// qrSocket dials the waiting page's socket of token.
func (e *qrEnv) qrSocket(ctx context.Context, token string) *websocket.Conn {
	e.t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/q/s/"+token+"/ws", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.CloseNow() })
	return c
}

// readQR reads one status message, or the close that ends the socket
// (status and reason; -1 for a message).
func readQR(t *testing.T, ctx context.Context, c *websocket.Conn) (map[string]any, websocket.StatusCode, string) {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read: %v", err)
		}
		return nil, ce.Code, ce.Reason
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message %s: %v", b, err)
	}
	return m, -1, ""
}

// TestQRWaitingSocket follows scans over the waiting page's socket
// (GET /q/s/{token}/ws), whose safety-net poll is an hour here, so every
// change comes from the session's events:
//   - waiting at once, then invoiced with the invoice's own payment_url the
//     moment the machine creates it with its order key, then closed 1000;
//   - down with the receiver's text the moment it answers 412;
//   - a socket of a finished session gets its final status and is closed;
//   - an unknown token and a socket over the per-session cap are closed
//     1008, and nothing is sent on them;
//   - a message carries the session's status only, never its token, the
//     order key or another session.
func TestQRWaitingSocket(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupQR(t, db, events.QRStartConfig{AllowPrivateAddresses: true}, true)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		t.Run("invoiced", func(t *testing.T) {
			rc := newStartReceiver(t, nil)
			code := e.newCode(rc.URL, nil)
			other := e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated).JSON
			scan := e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated).JSON
			token := str(t, scan, "token")
			c := e.qrSocket(ctx, token)
			m, _, _ := readQR(t, ctx, c)
			if m["status"] != "waiting" || m["payment_url"] != nil || m["token"] != nil {
				t.Fatalf("first message %v", m)
			}
			waitFor(t, "both start requests", func() bool { return len(rc.receipts()) == 2 })
			var orderKey string
			for _, r := range rc.receipts() {
				if e.qrSession(r.body["session_id"].(string)).Token == token {
					orderKey = r.body["order_key"].(string)
				}
			}
			inv := e.mustStatus(e.do("POST", "/api/v1/invoices", orderKey, map[string]any{"amount": "3.20", "currency": "USD"}), http.StatusCreated).JSON
			m, _, _ = readQR(t, ctx, c)
			if m["status"] != "invoiced" || m["payment_url"] != inv["payment_url"] {
				t.Fatalf("after the invoice: %v, want invoiced with %v", m, inv["payment_url"])
			}
			for k := range m {
				if k != "status" && k != "payment_url" && k != "order_expires_in_seconds" {
					t.Errorf("message carries %q", k)
				}
			}
			if _, code, _ := readQR(t, ctx, c); code != websocket.StatusNormalClosure {
				t.Errorf("closed with %d, want 1000", code)
			}
			// The other scan is still waiting, and its socket says so.
			o := e.qrSocket(ctx, str(t, other, "token"))
			if m, _, _ := readQR(t, ctx, o); m["status"] != "waiting" {
				t.Errorf("other session: %v", m)
			}
			// A socket of the invoiced session: its status, then the end.
			again := e.qrSocket(ctx, token)
			if m, _, _ := readQR(t, ctx, again); m["status"] != "invoiced" || m["payment_url"] != inv["payment_url"] {
				t.Errorf("invoiced session's socket: %v", m)
			}
			if _, code, _ := readQR(t, ctx, again); code != websocket.StatusNormalClosure {
				t.Errorf("closed with %d, want 1000", code)
			}
		})

		t.Run("down", func(t *testing.T) {
			release := make(chan struct{})
			rc := newStartReceiver(t, func(int, startReceipt) (int, string) {
				<-release // answers once the socket is open
				return http.StatusPreconditionFailed, `{"down_response_text":"Machine is down!"}`
			})
			code := e.newCode(rc.URL, nil)
			scan := e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated).JSON
			c := e.qrSocket(ctx, str(t, scan, "token"))
			if m, _, _ := readQR(t, ctx, c); m["status"] != "waiting" {
				t.Fatalf("first message %v", m)
			}
			close(release)
			m, _, _ := readQR(t, ctx, c)
			if m["status"] != "down" || m["down_response_text"] != "Machine is down!" {
				t.Fatalf("after the 412: %v", m)
			}
		})

		t.Run("refused", func(t *testing.T) {
			c := e.qrSocket(ctx, "qrtoken-nobody-has")
			if m, code, reason := readQR(t, ctx, c); m != nil || code != websocket.StatusPolicyViolation || reason != "no session" {
				t.Errorf("unknown token: %v %d %q", m, code, reason)
			}
			e.pages.MaxSocketsPerSession = 1
			defer func() { e.pages.MaxSocketsPerSession = 0 }()
			rc := newStartReceiver(t, nil)
			code := e.newCode(rc.URL, nil)
			scan := e.mustStatus(e.scan(str(t, code, "url"), ""), http.StatusCreated).JSON
			first := e.qrSocket(ctx, str(t, scan, "token"))
			if m, _, _ := readQR(t, ctx, first); m["status"] != "waiting" {
				t.Fatalf("first socket: %v", m)
			}
			second := e.qrSocket(ctx, str(t, scan, "token"))
			if m, code, reason := readQR(t, ctx, second); m != nil || code != websocket.StatusPolicyViolation || !strings.Contains(reason, "too many connections for this QR session") {
				t.Errorf("second socket: %v %d %q", m, code, reason)
			}
		})
	})
}
