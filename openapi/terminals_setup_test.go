package openapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// termEnv is a whole instance as settle serve runs it (payor side, ledger,
// sequencer, hub, key watcher) with a merchant and its test key.
type termEnv struct {
	*env
	hub *events.Hub
}

// termSetup starts an instance on db with a new merchant.
func termSetup(t *testing.T, db storetest.DB) *termEnv {
	t.Helper()
	return termSetupWith(t, db, events.HubConfig{})
}

// termSetupWith is termSetup with the hub configured as cfg.
func termSetupWith(t *testing.T, db storetest.DB, cfg events.HubConfig) *termEnv {
	t.Helper()
	e := termInstanceWith(t, db, cfg)
	m, key, err := e.svc.CreateMerchant(context.Background(), "Corner Café")
	if err != nil {
		t.Fatal(err)
	}
	e.merchant, e.key = m.ID, key
	return e
}

// termInstance starts one more instance on db, without a merchant.
func termInstance(t *testing.T, db storetest.DB) *termEnv {
	t.Helper()
	return termInstanceWith(t, db, events.HubConfig{})
}

func termInstanceWith(t *testing.T, db storetest.DB, cfg events.HubConfig) *termEnv {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	c := &clock{}
	signer := payor.NewSigner(testSecret, publicURL)
	svc := invoice.NewService(db.DB, c, signer, nil)
	written, sequenced, revoked := &events.Signal{}, &events.Signal{}, &events.Signal{}
	svc.OnEventsWritten(written.Notify)
	svc.OnKeysRevoked(revoked.Notify)
	cat, err := chains.NewCatalogue(nil)
	if err != nil {
		t.Fatal(err)
	}
	ledger := chains.NewLedger(svc, cat)
	checkout := payor.NewService(svc, cat, signer, payor.NewTerms(db.DB, c.Now))
	seq := events.NewSequencer(db.DB, nil, written, sequenced)
	seq.Interval = 50 * time.Millisecond
	hub := events.NewHub(db.DB, nil, cfg, sequenced)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { seq.Run(ctx) })
	wg.Go(func() { hub.Run(ctx) })
	wg.Go(func() { svc.RunKeyWatcher(ctx, invoice.KeyRefreshInterval, nil) })
	wg.Go(func() { hub.WatchKeys(ctx, svc, revoked.C) })
	srv := httptest.NewServer(openapi.New(openapi.Deps{
		Invoices: svc, Ledger: ledger, Payor: checkout, Pages: payor.NewPages(checkout.Check), PayorRate: 1000,
		Rails: fiat.NewRails(svc), Hub: hub,
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		cancel()
		wg.Wait()
		srv.Close()
	})
	return &termEnv{env: &env{t: t, db: db, svc: svc, clock: c, signer: signer, srv: srv, cat: cat, ledger: ledger}, hub: hub}
}

// terminal is a created terminal with its once-shown credentials.
type terminal struct {
	ID, Key, Secret string
}

// createTerminal creates a terminal with the merchant key.
func (e *env) createTerminal(name string) terminal {
	e.t.Helper()
	r := e.mustStatus(e.do("POST", "/api/v1/terminals", e.key, map[string]any{"name": name}), http.StatusCreated)
	return terminal{ID: str(e.t, r.JSON, "id"), Key: str(e.t, r.JSON, "api_key"), Secret: str(e.t, r.JSON, "command_secret")}
}

// terminalURL is the terminal's WebSocket URL with query.
func (e *env) terminalURL(id, query string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/v1/ws/terminal/" + id + query
}

// dialTerminal opens terminal id's socket with headers (name, value pairs).
func (e *env) dialTerminal(id, query string, headers ...string) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	conn, res, err := websocket.Dial(ctx, e.terminalURL(id, query), &websocket.DialOptions{HTTPHeader: h})
	if conn != nil {
		e.t.Cleanup(func() { conn.CloseNow() })
	}
	return conn, res, err
}

// openTerminal opens tm's socket with its key in the api-key header.
func (e *env) openTerminal(tm terminal, query string) *websocket.Conn {
	e.t.Helper()
	conn, res, err := e.dialTerminal(tm.ID, query, "api-key", tm.Key)
	if err != nil {
		e.t.Fatalf("dial terminal: %v (%v)", err, toResponseOrNil(e.t, res))
	}
	return conn
}

func toResponseOrNil(t *testing.T, res *http.Response) any {
	if res == nil {
		return nil
	}
	return string(toResponse(t, res).Raw)
}

// nonce returns a fresh command nonce.
func nonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sign returns cmd as a signed command frame: ts (unless set) is now,
// nonce (unless set) fresh, sig as the protocol defines it.
func sign(t *testing.T, secret string, cmd map[string]any) []byte {
	t.Helper()
	if _, ok := cmd["ts"]; !ok {
		cmd["ts"] = time.Now().Unix()
	}
	if _, ok := cmd["nonce"]; !ok {
		cmd["nonce"] = nonce()
	}
	raw, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	canonical, err := invoice.CanonicalCommand(raw)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := cmd["ts"].(int64)
	mac := invoice.SignCommand(secret, ts, cmd["nonce"].(string), canonical)
	cmd["sig"] = hex.EncodeToString(mac)
	out, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// termMessage is any message of the terminal socket.
type termMessage struct {
	Type      string          `json:"type"`
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	CommandID *string         `json:"command_id"`
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Sequence  int64           `json:"sequence"`
	InvoiceID string          `json:"invoice_id"`
	Created   bool            `json:"created"`
	Invoice   map[string]any  `json:"invoice"`
	QRPNG     string          `json:"qr_png"`
	PayURL    string          `json:"payment_url"`
	Data      json.RawMessage `json:"data"`
}

// send writes a frame.
func send1(t *testing.T, conn *websocket.Conn, frame []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, frame); err != nil {
		t.Fatal(err)
	}
}

// readTerm reads one message within d.
func readTerm(conn *websocket.Conn, d time.Duration) (termMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, data, err := conn.Read(ctx)
	if err != nil {
		return termMessage{}, err
	}
	var m termMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("message %q: %w", data, err)
	}
	return m, nil
}

// waitType reads until a message of type typ (skipping others, which it
// returns too) or fails after 10 s.
// Messages skipped by an earlier call are kept in pending (per
// connection) and looked at first: the stream's session_created may come
// before the session answer that waitType was waiting for.
func waitType(t *testing.T, conn *websocket.Conn, typ string) (termMessage, []termMessage) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var skipped []termMessage
	pendingMu.Lock()
	queued := pending[conn]
	delete(pending, conn)
	pendingMu.Unlock()
	for i, m := range queued {
		if m.Type == typ {
			keep(conn, queued[i+1:])
			return m, skipped
		}
		skipped = append(skipped, m)
	}
	for {
		m, err := readTerm(conn, time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s (after %d others: %+v): %v", typ, len(skipped), skipped, err)
		}
		if m.Type == typ {
			keep(conn, skipped)
			return m, skipped
		}
		skipped = append(skipped, m)
	}
}

var (
	pendingMu sync.Mutex
	pending   = map[*websocket.Conn][]termMessage{}
)

// keep queues stream messages skipped while waiting for a command's
// answer, for the next waitType on conn.
func keep(conn *websocket.Conn, ms []termMessage) {
	var stream []termMessage
	for _, m := range ms {
		if m.EventID != "" {
			stream = append(stream, m)
		}
	}
	if len(stream) == 0 {
		return
	}
	pendingMu.Lock()
	pending[conn] = append(pending[conn], stream...)
	pendingMu.Unlock()
}
