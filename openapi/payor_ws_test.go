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

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/payor"
)

// payorSocket opens the payor WebSocket of a session from client (nil: the
// default address) and returns it with its first message; a socket closed
// before any message gives the close error instead.
func (e *env) payorSocket(client *http.Client, token, sig string) (*websocket.Conn, map[string]any, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/v1/payor/ws?token=" + token + "&sig=" + sig
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		e.t.Fatalf("dial the payor socket: %v", err)
	}
	e.t.Cleanup(func() { c.CloseNow() })
	_, b, err := c.Read(ctx)
	if err != nil {
		return c, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("message %q: %v", b, err)
	}
	return c, m, nil
}

// TestPayorSocketCaps (issue 13: one address held 679 payor sockets in
// 30 s): with the default caps, the eleventh socket of one checkout session
// and the twenty-first from one address are accepted and closed at once
// with 1008 and a reason naming the cap; another address is not counted
// with the first, and a place freed is taken again.
func TestPayorSocketCaps(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		session := func() [2]string {
			token, sig := handles(t, e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD"}))
			return [2]string{token, sig}
		}
		accepted := func(client *http.Client, s [2]string) *websocket.Conn {
			t.Helper()
			c, m, err := e.payorSocket(client, s[0], s[1])
			if err != nil || m["expires_in_seconds"] == nil {
				t.Fatalf("socket refused: %v, %v", m, err)
			}
			return c
		}
		refused := func(s [2]string, reason string) {
			t.Helper()
			_, m, err := e.payorSocket(nil, s[0], s[1])
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != reason {
				t.Fatalf("socket over the cap: message %v, %v; want a close 1008 %q", m, err, reason)
			}
		}

		one, two, three := session(), session(), session()
		var ofOne []*websocket.Conn
		for range payor.DefaultSocketsPerSession {
			ofOne = append(ofOne, accepted(nil, one))
		}
		refused(one, "too many connections for this checkout session (limit 10)")
		for range payor.DefaultSocketsPerIP - payor.DefaultSocketsPerSession {
			accepted(nil, two)
		}
		refused(three, "too many connections from this IP address (limit 20)")
		accepted(loopbackClient("127.0.0.2"), three) // another address

		// A tab closed gives its place back.
		ofOne[0].Close(websocket.StatusNormalClosure, "")
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, m, err := e.payorSocket(nil, one[0], one[1])
			if err == nil && m["expires_in_seconds"] != nil {
				break
			}
			c.CloseNow()
			if time.Now().After(deadline) {
				t.Fatalf("the freed place was not given back: %v, %v", m, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestPayorSocketPaidLate (issue 13: a session paid late opened with
// expires_in_seconds -29): a session past its expiry, paid late, is told
// {"expired":true} at once, and no message ever counts below zero.
func TestPayorSocketPaidLate(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD", "expires_in": 60, "payment_methods": []string{"usdc_sepolia"}})
		token, sig := handles(t, inv)
		e.clock.Advance(60*time.Second + 29*time.Second)
		if _, err := e.svc.ExpireDue(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		units, err := invoice.ParseUnits("5000000")
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := e.svc.Apply(context.Background(), invoice.Observation{
			InvoiceID: str(t, inv, "id"), Method: "usdc_sepolia", Network: "sepolia", TxID: "0xlate", Asset: "USDC", Decimals: 6,
			Amount: units, Status: invoice.PaymentConfirmed, From: "0x1", To: merchantAddress, ObservedAt: e.clock.Now(),
		})
		if err != nil || got.Status != invoice.StatusPaid || got.Exception != invoice.ExceptionPaidLate {
			t.Fatalf("late payment: %s/%s, %v", got.Status, got.Exception, err)
		}

		c, first, err := e.payorSocket(nil, token, sig)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) != 1 || first["expired"] != true {
			t.Errorf("first message %v, want {\"expired\":true}", first)
		}
		// Keepalives come every 300 ms here: a second of them shows none
		// counts down, let alone below zero.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				break
			}
			if strings.Contains(string(b), "expires_in_seconds") {
				t.Errorf("message %s on a session past expiry", b)
			}
		}
	})
}
