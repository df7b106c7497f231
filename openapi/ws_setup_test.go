package openapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// wsEnv is one running instance: the API with its sequencer and hub, on a
// database, with a merchant and its test key.
type wsEnv struct {
	*env
	hub *events.Hub
}

// wsSetup starts an instance with the hub configured as cfg.
func wsSetup(t *testing.T, db storetest.DB, cfg events.HubConfig) *wsEnv {
	t.Helper()
	e := wsInstance(t, db, cfg, nil)
	m, key, err := e.svc.CreateMerchant(context.Background(), "Test Shop")
	if err != nil {
		t.Fatal(err)
	}
	e.merchant, e.key = m.ID, key
	return e
}

// wsInstance starts an instance on db without creating a merchant. With
// a non-nil sequenced the hub is woken by it (the caller rings it);
// otherwise by the instance's own sequencer.
func wsInstance(t *testing.T, db storetest.DB, cfg events.HubConfig, sequenced *events.Signal) *wsEnv {
	t.Helper()
	c := &clock{}
	signer := payor.NewSigner(testSecret, publicURL)
	svc := invoice.NewService(db.DB, c, signer, nil)
	written := &events.Signal{}
	if sequenced == nil {
		sequenced = &events.Signal{}
	}
	svc.OnEventsWritten(written.Notify)
	// As in settle serve: revocations, here or seen by the key watcher,
	// ring the hub, which closes the connections of the revoked keys.
	revoked := &events.Signal{}
	svc.OnKeysRevoked(revoked.Notify)
	seq := events.NewSequencer(db.DB, nil, written, sequenced)
	seq.Interval = 50 * time.Millisecond
	hub := events.NewHub(db.DB, nil, cfg, sequenced)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { seq.Run(ctx) })
	wg.Go(func() { hub.Run(ctx) })
	wg.Go(func() { svc.RunKeyWatcher(ctx, invoice.KeyRefreshInterval, nil) })
	wg.Go(func() { hub.WatchKeys(ctx, svc, revoked.C) })
	srv := httptest.NewServer(openapi.New(openapi.Deps{Invoices: svc, Hub: hub}))
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
	})
	return &wsEnv{env: &env{t: t, db: db, svc: svc, clock: c, signer: signer, srv: srv}, hub: hub}
}

// createInvoices creates n invoices of merchant in test mode directly
// through the service, from workers goroutines, and returns their ids.
func (e *wsEnv) createInvoices(merchant string, n, workers int) []string {
	e.t.Helper()
	var mu sync.Mutex
	var ids []string
	var firstErr error
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				inv, err := e.svc.Create(context.Background(), invoice.CreateParams{
					MerchantID: merchant, Mode: invoice.ModeTest, Amount: "1.00", Currency: "USD",
					PaymentMethods: []string{"sandbox"}, MerchantOrderID: fmt.Sprint("order-", i),
				})
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				ids = append(ids, inv.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		e.t.Fatal(firstErr)
	}
	return ids
}

// storedEvents waits until every event is sequenced and returns the
// merchant's test-mode events in sequence order.
func (e *wsEnv) storedEvents(merchant string) []invoice.Event {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := e.db.NewSelect().TableExpr("events").Where("sequence IS NULL").Count(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d events still unsequenced", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var all []invoice.Event
	var after int64
	for {
		page, more, err := events.List(ctx, e.db.DB, events.ListParams{MerchantID: merchant, Mode: invoice.ModeTest, After: after, Limit: 100})
		if err != nil {
			e.t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			return all
		}
		after = page[len(page)-1].Sequence
	}
}

// liveEvent stores an event of the env merchant in live mode and wakes the
// sequencer.
func (e *wsEnv) liveEvent() invoice.Event {
	e.t.Helper()
	now := time.Now().UTC()
	ev := invoice.Event{ID: invoice.NewID("evt_", now), MerchantID: e.merchant, Mode: invoice.ModeLive,
		Type: "invoice.updated", CreatedAt: now, Data: `{"object":{}}`}
	if err := invoice.InsertEvents(context.Background(), e.db.DB, ev); err != nil {
		e.t.Fatal(err)
	}
	e.svc.EventsWritten()
	return ev
}

// wsURL is the WebSocket URL with query (which starts with ? or is empty).
func (e *wsEnv) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/v1/ws" + query
}

// dial connects with a key (or none, when empty) and fails the test if
// the connection is refused.
func (e *wsEnv) dial(query, key string) *websocket.Conn {
	e.t.Helper()
	conn, res, err := e.tryDial(query, key, nil)
	if err != nil {
		body := ""
		if res != nil {
			b, _ := io.ReadAll(res.Body)
			body = fmt.Sprintf(" (HTTP %d: %s)", res.StatusCode, b)
		}
		e.t.Fatalf("dial %s: %v%s", query, err, body)
	}
	return conn
}

func (e *wsEnv) tryDial(query, key string, client *http.Client) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPClient: client}
	if key != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + key}}
	}
	conn, res, err := websocket.Dial(ctx, e.wsURL(query), opts)
	if conn != nil {
		e.t.Cleanup(func() { conn.CloseNow() })
	}
	return conn, res, err
}

// wsMessage is any message from the server.
type wsMessage struct {
	Type  string        `json:"type"`
	Event *events.Event `json:"event"`
}

// readMessage reads one message within d.
func readMessage(conn *websocket.Conn, d time.Duration) (wsMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	typ, data, err := conn.Read(ctx)
	if err != nil {
		return wsMessage{}, err
	}
	var m wsMessage
	if typ != websocket.MessageText {
		return m, fmt.Errorf("message of type %v", typ)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("message %q: %w", data, err)
	}
	return m, nil
}

// readEvents reads n event messages, failing the test on anything else or
// after timeout.
func readEvents(t *testing.T, conn *websocket.Conn, n int, timeout time.Duration) []events.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	out := make([]events.Event, 0, n)
	for len(out) < n {
		m, err := readMessage(conn, time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		if m.Type != "event" || m.Event == nil {
			t.Fatalf("message of type %q, want event", m.Type)
		}
		out = append(out, *m.Event)
	}
	return out
}

// expectNoMore fails the test if an event arrives within d.
func expectNoMore(t *testing.T, conn *websocket.Conn, d time.Duration) {
	t.Helper()
	m, err := readMessage(conn, d)
	if err == nil {
		t.Fatalf("unexpected message %+v", m)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("connection ended: %v", err)
	}
}

// sameEvents checks that got is exactly want: the same ids in the same
// order, with strictly increasing sequences.
func sameEvents(t *testing.T, got []events.Event, want []invoice.Event) {
	t.Helper()
	for i := 1; i < len(got); i++ {
		if got[i].Sequence <= got[i-1].Sequence {
			t.Fatalf("sequence %d after %d at %d: out of order or duplicate", got[i].Sequence, got[i-1].Sequence, i)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Sequence != want[i].Sequence {
			t.Fatalf("event %d is %s (%d), want %s (%d)", i, got[i].ID, got[i].Sequence, want[i].ID, want[i].Sequence)
		}
	}
}

// closeStatus waits up to d for the connection to end and returns how.
func closeStatus(t *testing.T, conn *websocket.Conn, d time.Duration) websocket.CloseError {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_, err := readMessage(conn, time.Until(deadline))
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

// loopbackClient dials from the given loopback address (127.0.0.0/8 is
// all loopback on Linux), so a test can be several client IPs.
func loopbackClient(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// toResponse turns a refused handshake's answer into a response.
func toResponse(t *testing.T, res *http.Response) response {
	t.Helper()
	if res == nil {
		t.Fatal("no HTTP response")
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Path: res.Request.URL.Path, Status: res.StatusCode, Header: res.Header, Raw: raw}
	json.Unmarshal(raw, &r.JSON)
	return r
}
