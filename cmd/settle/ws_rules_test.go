package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/invoice/storetest"
)

// TestServeWebSocketRules runs `settle serve` and checks the WebSocket rules
// it wires: `settle keys revoke`, run as another process, closes the
// merchant WebSocket opened with the key (1008 "api key revoked"), and
// SETTLE_PAYOR_WS_MAX_PER_SESSION caps the payor sockets of a session.
func TestServeWebSocketRules(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, dialect)
			mer := e2eJSON(t, "merchants", "create", "--name", "Shop", "--database-url", db.URL)
			key := mer["test_api_key"].(string)
			base, stop := e2eServeEnv(t, db.URL, map[string]string{"SETTLE_PAYOR_WS_MAX_PER_SESSION": "1"}, nil)
			defer stop()
			ws := "ws" + strings.TrimPrefix(base, "http")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			closedWith := func(c *websocket.Conn) websocket.CloseError {
				t.Helper()
				for {
					_, _, err := c.Read(ctx)
					var ce websocket.CloseError
					if errors.As(err, &ce) {
						return ce
					}
					if err != nil {
						t.Fatalf("connection ended without a close frame: %v", err)
					}
				}
			}

			merchantWS, _, err := websocket.Dial(ctx, ws+"/api/v1/ws", &websocket.DialOptions{
				HTTPHeader: http.Header{"Authorization": {"Bearer " + key}}})
			if err != nil {
				t.Fatal(err)
			}
			defer merchantWS.CloseNow()
			e2eJSON(t, "keys", "revoke", key[:len("sk_test_")+8], "--database-url", db.URL)
			if ce := closedWith(merchantWS); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "api key revoked" {
				t.Errorf("merchant WebSocket of the revoked key: close %d %q, want 1008 \"api key revoked\"", ce.Code, ce.Reason)
			}

			other := e2eJSON(t, "keys", "create", "--merchant", mer["merchant_id"].(string), "--mode", "test", "--scope", "merchant", "--database-url", db.URL)
			status, inv := e2eDo(t, "POST", base+"/api/v1/invoices", other["api_key"].(string), `{"amount":"5.00","currency":"USD"}`)
			if status != 201 {
				t.Fatalf("create invoice: %d %v", status, inv)
			}
			h := inv["payment_session_headers"].(map[string]any)
			url := ws + "/api/v1/payor/ws?token=" + h["x-session-token"].(string) + "&sig=" + h["x-signature"].(string)
			first, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer first.CloseNow()
			if _, msg, err := first.Read(ctx); err != nil || !strings.Contains(string(msg), "expires_in_seconds") {
				t.Fatalf("first payor socket: %s, %v", msg, err)
			}
			second, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer second.CloseNow()
			if ce := closedWith(second); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "too many connections for this checkout session (limit 1)" {
				t.Errorf("second payor socket of the session: close %d %q, want 1008 and the per-session reason", ce.Code, ce.Reason)
			}
		})
	}
}
