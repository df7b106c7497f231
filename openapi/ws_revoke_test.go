package openapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestWSKeyRevoked (issue 13): revoking a key closes the WebSockets opened
// with it and with the ws_tokens it minted (1008 "api key revoked"), and
// its unused ws_tokens are refused; whether this process revokes it or
// another one does (seen through the key watcher). The sockets of the
// merchant's other keys stay open and keep streaming.
func TestWSKeyRevoked(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := wsSetup(t, db, events.HubConfig{})
		ctx := context.Background()
		keyA := e.key
		keyB := e.newKey(e.merchant, invoice.ModeTest, invoice.ScopeRead)
		keyC := e.newKey(e.merchant, invoice.ModeTest, invoice.ScopeMerchant)
		token := func(key string) string {
			t.Helper()
			return str(t, e.mustStatus(e.do("POST", "/api/v1/ws-tokens", key, nil), http.StatusCreated).JSON, "ws_token")
		}
		revoked := func(conns ...*websocket.Conn) {
			t.Helper()
			for _, c := range conns {
				ce := closeStatus(t, c, 10*time.Second)
				if ce.Code != websocket.StatusPolicyViolation || ce.Reason != "api key revoked" {
					t.Errorf("close %d %q, want 1008 \"api key revoked\"", ce.Code, ce.Reason)
				}
			}
		}
		refused := func(query, key, code string) {
			t.Helper()
			conn, res, err := e.tryDial(query, key, nil)
			if err == nil {
				conn.CloseNow()
				t.Fatalf("dial %s: accepted", query)
			}
			e.wantProblem(toResponse(t, res), http.StatusUnauthorized, code)
		}

		byKeyA, byTokenA, unusedA := e.dial("", keyA), e.dial("?ws_token="+token(keyA), ""), token(keyA)
		byKeyB, byTokenB, unusedB := e.dial("", keyB), e.dial("?ws_token="+token(keyB), ""), token(keyB)
		byKeyC, byTokenC := e.dial("", keyC), e.dial("?ws_token="+token(keyC), "")
		wsWaitFor(t, func() bool { return e.hub.Connections() == 6 })

		// This process revokes A.
		if err := e.svc.RevokeKey(ctx, keyPrefix(keyA)); err != nil {
			t.Fatal(err)
		}
		revoked(byKeyA, byTokenA)
		refused("?ws_token="+unusedA, "", "invalid_ws_token")
		refused("", keyA, "invalid_api_key")

		// Another process revokes B: this one learns it from the key
		// watcher's revision.
		other := invoice.NewService(db.DB, nil, nil, nil)
		if err := other.RevokeKey(ctx, keyPrefix(keyB)); err != nil {
			t.Fatal(err)
		}
		revoked(byKeyB, byTokenB)
		refused("?ws_token="+unusedB, "", "invalid_ws_token")

		// C's sockets never noticed: open, streaming, the only ones left.
		e.createInvoices(e.merchant, 1, 1)
		readEvents(t, byKeyC, 1, 5*time.Second)
		readEvents(t, byTokenC, 1, 5*time.Second)
		if n := e.hub.Connections(); n != 2 {
			t.Errorf("the hub holds %d connections, want C's 2", n)
		}
	})
}

// keyPrefix is the prefix `settle keys revoke` takes.
func keyPrefix(key string) string { return key[:len("sk_test_")+8] }
