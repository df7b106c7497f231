package openapi_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

func TestWSResume(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := wsSetup(t, db, events.HubConfig{})
		first := e.dial("", e.key)
		e.createInvoices(e.merchant, 5, 1)
		seen := readEvents(t, first, 5, 5*time.Second)
		first.Close(websocket.StatusNormalClosure, "")

		// Events keep coming from several writers while the client is
		// away and while it reconnects.
		var writers sync.WaitGroup
		writers.Go(func() { e.createInvoices(e.merchant, 40, 4) })
		time.Sleep(20 * time.Millisecond)
		second := e.dial("?after="+seen[len(seen)-1].ID, e.key)
		writers.Wait()

		all := e.storedEvents(e.merchant)
		rest := readEvents(t, second, len(all)-len(seen), 5*time.Second)
		sameEvents(t, append(seen, rest...), all)
		expectNoMore(t, second, 200*time.Millisecond)
	})
}

func TestWSNoGapAtSeam(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := wsSetup(t, db, events.HubConfig{})
		e.createInvoices(e.merchant, 10, 1)
		cursor := e.storedEvents(e.merchant)[4]

		ctx, stop := context.WithCancel(context.Background())
		var writer sync.WaitGroup
		writer.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				e.createInvoices(e.merchant, 1, 1)
			}
		})
		time.Sleep(30 * time.Millisecond)
		conn := e.dial("?after="+cursor.ID, e.key)
		time.Sleep(200 * time.Millisecond)
		stop()
		writer.Wait()

		all := e.storedEvents(e.merchant)
		want := all[slices.IndexFunc(all, func(ev invoice.Event) bool { return ev.ID == cursor.ID })+1:]
		if len(want) < 10 {
			t.Fatalf("only %d events after the cursor; the writer did not run", len(want))
		}
		sameEvents(t, readEvents(t, conn, len(want), 5*time.Second), want)
		expectNoMore(t, conn, 200*time.Millisecond)
	})
}

func TestWSManyClients(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := wsSetup(t, db, events.HubConfig{MaxPerIP: 100})
		const clients, invoices = 50, 30
		conns := make([]*websocket.Conn, clients)
		for i := range conns {
			conns[i] = e.dial("", e.key)
		}
		e.createInvoices(e.merchant, invoices, 3)
		all := e.storedEvents(e.merchant)
		var wg sync.WaitGroup
		for _, conn := range conns {
			wg.Go(func() {
				sameEvents(t, readEvents(t, conn, len(all), 5*time.Second), all)
				expectNoMore(t, conn, 100*time.Millisecond)
			})
		}
		wg.Wait()
	})
}

// TestWSTwoInstances writes through instance A and reads on instance B.
// On Postgres B's hub never polls: only NOTIFY, through events.Listen, can
// wake it. On SQLite (one process by design) B is woken by its poll.
func TestWSTwoInstances(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		cfgB := events.HubConfig{PollInterval: 100 * time.Millisecond}
		var sigB *events.Signal
		listening := make(chan struct{}) // B's listener is connected
		dbB := db
		if db.Name == "postgres" {
			cfgB.PollInterval = time.Hour
			sigB = &events.Signal{}
			other, err := invoice.OpenDB(db.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			dbB = storetest.DB{Name: db.Name, URL: db.URL, DB: other}
			// The listener rings once when it is connected, then at every
			// notification: relayed to B's hub, the first ring also tells
			// the test that no notification can be missed from now on.
			heard := &events.Signal{}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { events.Listen(ctx, db.URL, events.SequencedChannel, heard, nil) })
			wg.Go(func() {
				for first := true; ; first = false {
					select {
					case <-ctx.Done():
						return
					case <-heard.C():
					}
					if first {
						close(listening)
					}
					sigB.Notify()
				}
			})
			t.Cleanup(func() { cancel(); wg.Wait() })
		} else {
			close(listening)
		}
		a := wsSetup(t, db, events.HubConfig{})
		b := wsInstance(t, dbB, cfgB, sigB)
		conn := b.dial("", a.key)
		select {
		case <-listening:
		case <-time.After(10 * time.Second):
			t.Fatal("B's listener did not connect")
		}

		var worst time.Duration
		for range 5 {
			inv := a.createInvoiceWith(a.key, map[string]any{"amount": "3.00", "currency": "USD"})
			got := readEvents(t, conn, 1, 5*time.Second)[0]
			latency := time.Since(got.CreatedAt)
			worst = max(worst, latency)
			if !strings.Contains(string(got.Data), str(t, inv, "id")) {
				t.Fatalf("event %s is not about invoice %s", got.ID, inv["id"])
			}
		}
		t.Logf("%s: event written through A reached a WebSocket on B in at most %s", db.Name, worst)
		if worst > 5*time.Second {
			t.Errorf("latency %s, want well under a second", worst)
		}
	})
}

func TestWSToken(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := wsSetup(t, db, events.HubConfig{})
		newToken := func(key string) string {
			t.Helper()
			res := e.mustStatus(e.do("POST", "/api/v1/ws-tokens", key, nil), http.StatusCreated)
			tok := str(t, res.JSON, "ws_token")
			if !strings.HasPrefix(tok, "wst_") || res.JSON["object"] != "ws_token" {
				t.Fatalf("token response %s", res.Raw)
			}
			exp, err := time.Parse(time.RFC3339Nano, str(t, res.JSON, "expires_at"))
			if err != nil || exp.Sub(time.Now()) < 4*time.Minute || exp.Sub(time.Now()) > 6*time.Minute {
				t.Fatalf("expires_at %v (%v), want 5 minutes from now", res.JSON["expires_at"], err)
			}
			return tok
		}
		refused := func(query string) {
			t.Helper()
			conn, res, err := e.tryDial(query, "", nil)
			if err == nil {
				conn.CloseNow()
				t.Fatalf("dial %s: accepted", query)
			}
			e.wantProblem(toResponse(t, res), http.StatusUnauthorized, "invalid_ws_token")
		}

		tok := newToken(e.key)
		var stored int
		if err := e.db.NewSelect().TableExpr("ws_tokens").ColumnExpr("count(*)").Where("hash LIKE ?", "wst_%").Scan(context.Background(), &stored); err != nil || stored != 0 {
			t.Fatalf("a token is stored in clear (%d rows, %v)", stored, err)
		}
		conn := e.dial("?ws_token="+tok, "")
		refused("?ws_token=" + tok) // single use
		e.createInvoices(e.merchant, 2, 1)
		readEvents(t, conn, 2, 5*time.Second)

		// With an Idempotency-Key the same token is answered again (and
		// stays single use).
		first := e.mustStatus(e.do("POST", "/api/v1/ws-tokens", e.key, nil, "Idempotency-Key", "ws-1"), http.StatusCreated)
		again := e.mustStatus(e.do("POST", "/api/v1/ws-tokens", e.key, nil, "Idempotency-Key", "ws-1"), http.StatusCreated)
		if first.JSON["ws_token"] != again.JSON["ws_token"] || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replayed token %v, want %v again", again.JSON["ws_token"], first.JSON["ws_token"])
		}
		e.dial("?ws_token="+str(t, first.JSON, "ws_token"), "").CloseNow()
		refused("?ws_token=" + str(t, again.JSON, "ws_token"))

		// A key of scope read may create one: the token only reads.
		readKey := e.newKey(e.merchant, invoice.ModeTest, invoice.ScopeRead)
		e.dial("?ws_token="+newToken(readKey), "").CloseNow()

		// Expired.
		old := newToken(e.key)
		e.clock.Advance(5*time.Minute + time.Second)
		refused("?ws_token=" + old)
		refused("?ws_token=wst_unknown")
		refused("?ws_token=")
		e.clock.Advance(-5*time.Minute - time.Second)

		// Two connections race for one token: exactly one wins.
		race := newToken(e.key)
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if c, _, err := e.tryDial("?ws_token="+race, "", nil); err == nil {
					won.Add(1)
					c.CloseNow()
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("%d connections used one token, want 1", won.Load())
		}

		// Another merchant's token never sees this merchant's events.
		other, otherKey := e.otherMerchant()
		theirs := e.dial("?ws_token="+newToken(otherKey), "")
		e.createInvoices(e.merchant, 3, 1)
		ids := e.createInvoices(other, 2, 1)
		got := readEvents(t, theirs, 2, 5*time.Second)
		for i, ev := range got {
			if !strings.Contains(string(ev.Data), ids[i]) {
				t.Errorf("other merchant got event %s: %s", ev.ID, ev.Data)
			}
		}
		expectNoMore(t, theirs, 200*time.Millisecond)
	})
}

func TestWSLimits(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Run("per IP", func(t *testing.T) {
			e := wsSetup(t, db, events.HubConfig{MaxPerIP: 3, MaxPerMerchant: -1})
			var held []*websocket.Conn
			for range 3 {
				held = append(held, e.dial("", e.key))
			}
			ce := closeStatus(t, e.dial("", e.key), 5*time.Second)
			if ce.Code != websocket.StatusPolicyViolation || ce.Reason != "too many connections from this IP address in test mode (limit 3)" {
				t.Errorf("close %d %q, want 1008 and the per-IP reason", ce.Code, ce.Reason)
			}
			// Another address is not counted with this one.
			conn, _, err := e.tryDial("", e.key, loopbackClient("127.0.0.2"))
			if err != nil {
				t.Fatal(err)
			}
			e.createInvoices(e.merchant, 1, 1)
			readEvents(t, conn, 1, 5*time.Second)
			// A place freed is taken again.
			held[0].Close(websocket.StatusNormalClosure, "")
			wsWaitFor(t, func() bool { return e.hub.Connections() == 3 })
			again := e.dial("", e.key)
			e.createInvoices(e.merchant, 1, 1)
			readEvents(t, again, 1, 5*time.Second)
		})
		t.Run("per merchant", func(t *testing.T) {
			e := wsSetup(t, db, events.HubConfig{MaxPerIP: -1, MaxPerMerchant: 2})
			e.dial("", e.key)
			e.dial("", e.key)
			conn, _, err := e.tryDial("", e.key, loopbackClient("127.0.0.3"))
			if err != nil {
				t.Fatal(err)
			}
			ce := closeStatus(t, conn, 5*time.Second)
			if ce.Code != websocket.StatusPolicyViolation || ce.Reason != "too many connections for this merchant in test mode (limit 2)" {
				t.Errorf("close %d %q, want 1008 and the per-merchant reason", ce.Code, ce.Reason)
			}
			_, otherKey := e.otherMerchant()
			e.dial("", otherKey) // another merchant has its own limit
		})
		// Test connections never take the live stream's places, nor live
		// ones the test stream's (issue 13: 100 test sockets locked a
		// merchant's live stream out).
		t.Run("per merchant and mode", func(t *testing.T) {
			e := wsSetup(t, db, events.HubConfig{MaxPerIP: -1, MaxPerMerchant: 2})
			live := e.liveKey()
			tests := []*websocket.Conn{e.dial("", e.key), e.dial("", e.key)}
			wantRefused(t, e.dial("", e.key), "too many connections for this merchant in test mode (limit 2)")
			// Test mode is full: the live stream still connects and streams.
			first := e.dial("", live)
			e.liveEvent()
			readEvents(t, first, 1, 5*time.Second)
			e.dial("", live)
			wantRefused(t, e.dial("", live), "too many connections for this merchant in live mode (limit 2)")
			// Live mode is full: a test place freed is still taken by a test
			// connection, which streams.
			tests[0].Close(websocket.StatusNormalClosure, "")
			wsWaitFor(t, func() bool { return e.hub.Connections() == 3 })
			again := e.dial("", e.key)
			e.createInvoices(e.merchant, 1, 1)
			readEvents(t, again, 1, 5*time.Second)
		})
		t.Run("per IP and mode", func(t *testing.T) {
			e := wsSetup(t, db, events.HubConfig{MaxPerIP: 2, MaxPerMerchant: -1})
			live := e.liveKey()
			e.dial("", e.key)
			e.dial("", e.key)
			wantRefused(t, e.dial("", e.key), "too many connections from this IP address in test mode (limit 2)")
			conn := e.dial("", live) // the same address, the other mode
			e.liveEvent()
			readEvents(t, conn, 1, 5*time.Second)
		})
	})
}

// wantRefused checks that an accepted connection is closed at once with
// 1008 and reason.
func wantRefused(t *testing.T, conn *websocket.Conn, reason string) {
	t.Helper()
	ce := closeStatus(t, conn, 5*time.Second)
	if ce.Code != websocket.StatusPolicyViolation || ce.Reason != reason {
		t.Errorf("close %d %q, want 1008 %q", ce.Code, ce.Reason, reason)
	}
}

func TestWSKeepalive(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := wsSetup(t, db, events.HubConfig{PingInterval: 100 * time.Millisecond, IdleTimeout: 500 * time.Millisecond})

		// A client that reads answers the server's pings and stays.
		alive := e.dial("", e.key)
		pongs := make(chan wsMessage, 1)
		go func() {
			for {
				m, err := readMessage(alive, 10*time.Second)
				if err != nil {
					close(pongs)
					return
				}
				pongs <- m
			}
		}()
		// A client that never reads answers nothing and is closed.
		idle := e.dial("", e.key)

		time.Sleep(1500 * time.Millisecond)
		if err := alive.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatalf("the reading client was disconnected: %v", err)
		}
		select {
		case m, ok := <-pongs:
			if !ok || m.Type != "pong" {
				t.Fatalf("got %+v (open %v), want a pong", m, ok)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no pong")
		}
		ce := closeStatus(t, idle, 5*time.Second)
		if ce.Code != websocket.StatusPolicyViolation || !strings.HasPrefix(ce.Reason, "idle") {
			t.Errorf("idle client closed with %d %q, want 1008 idle", ce.Code, ce.Reason)
		}
	})
}

func TestWSSlowReader(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		const buffer = 4
		e := wsSetup(t, db, events.HubConfig{SendBuffer: buffer})
		client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			// A 4 KiB receive buffer stops the server's writes soon.
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				c.(*net.TCPConn).SetReadBuffer(4096)
			}
			return c, err
		}}}
		if _, _, err := e.tryDial("", e.key, client); err != nil {
			t.Fatal(err)
		}
		// Big events fill the socket buffers quickly; the client never reads.
		pad := strings.Repeat("x", 100<<10)
		const n = 120
		now := time.Now().UTC()
		for i := range n {
			ev := invoice.Event{ID: invoice.NewID("evt_", now), MerchantID: e.merchant, Mode: invoice.ModeTest,
				Type: "invoice.updated", CreatedAt: now, Data: `{"object":{"pad":"` + pad + `"}}`}
			if err := invoice.InsertEvents(context.Background(), e.db.DB, ev); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 {
				e.svc.EventsWritten()
			}
		}
		e.svc.EventsWritten()
		// The server let go of the client, which never closed: it was
		// disconnected as a slow reader, its queue bounded by SendBuffer.
		wsWaitFor(t, func() bool { return e.hub.Connections() == 0 })
	})
}

func TestWSBadInput(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := wsSetup(t, db, events.HubConfig{})
		otherID, otherKey := e.otherMerchant()
		e.createInvoices(otherID, 1, 1)
		theirs := e.storedEvents(otherID)[0]
		tok := str(t, e.mustStatus(e.do("POST", "/api/v1/ws-tokens", e.key, nil), http.StatusCreated).JSON, "ws_token")
		before := e.counts()
		cases := []struct {
			name, query, key string
			status           int
			code             string
		}{
			{"unknown cursor", "?after=evt_nope", e.key, 422, "invalid_cursor"},
			{"empty cursor", "?after=", e.key, 422, "invalid_cursor"},
			{"other merchant's event", "?after=" + theirs.ID, e.key, 422, "invalid_cursor"},
			{"other merchant's event by token", "?after=" + theirs.ID + "&ws_token=" + tok, "", 422, "invalid_cursor"},
			{"bad key", "", otherKey + "x", 401, "invalid_api_key"},
			{"no credentials", "", "", 401, "unauthenticated"},
			{"bad token", "?ws_token=wst_x", "", 401, "invalid_ws_token"},
		}
		for _, tc := range cases {
			conn, res, err := e.tryDial(tc.query, tc.key, nil)
			if err == nil {
				conn.CloseNow()
				t.Errorf("%s: accepted", tc.name)
				continue
			}
			e.wantProblem(toResponse(t, res), tc.status, tc.code)
		}
		// Not a WebSocket request at all.
		e.wantProblem(e.do("GET", "/api/v1/ws", e.key, nil), http.StatusUpgradeRequired, "upgrade_required")
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("refused requests changed the store: %s, then %s", before, after)
		}
		// The token survived the refused upgrade and still works once.
		e.dial("?ws_token="+tok, "").CloseNow()
	})
}

// wsWaitFor polls cond for up to 5 seconds.
func wsWaitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
