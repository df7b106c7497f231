package openapi_test

import (
	"encoding/base64"
	"strings"

	"context"
	"encoding/json"
	"gopkg.in/yaml.v2"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// qrEnv is an env whose server also serves the QR pages under its own
// (loopback) URL, so that a browser can follow the payment_url, with the
// sender of start requests running (short retries, fast poll).
type qrEnv struct {
	*env
	starts *events.QRStarts
	pages  *payor.QRPages
	run    func() // starts the sender; setupQR runs it unless told not to
	// polls counts the waiting pages' status polls (GET /q/s/{token}) and
	// sockets their WebSocket upgrades (GET /q/s/{token}/ws); with
	// refuseSockets set, those upgrades are answered 503 (a proxy that
	// passes no WebSocket).
	polls, sockets atomic.Int64
	refuseSockets  atomic.Bool
}

func setupQR(t *testing.T, db storetest.DB, cfg events.QRStartConfig, start bool) *qrEnv {
	t.Helper()
	c := &clock{}
	var handler http.Handler
	e := &qrEnv{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/q/s/") {
			if strings.HasSuffix(r.URL.Path, "/ws") {
				e.sockets.Add(1)
				if e.refuseSockets.Load() {
					http.Error(w, "no websockets here", http.StatusServiceUnavailable)
					return
				}
			} else {
				e.polls.Add(1)
			}
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	signer := payor.NewSigner(testSecret, srv.URL)
	svc := invoice.NewService(db.DB, c, signer, nil)
	// The events path of a server: writes ring the sequencer, which rings
	// sequenced once it numbered them; that wakes the waiting pages'
	// sockets.
	written, sequenced := &events.Signal{}, &events.Signal{}
	svc.OnEventsWritten(written.Notify)
	seq := events.NewSequencer(db.DB, nil, written, sequenced)
	cat, err := chains.NewCatalogue(nil)
	if err != nil {
		t.Fatal(err)
	}
	ledger := chains.NewLedger(svc, cat)
	checkout := payor.NewService(svc, cat, signer, payor.NewTerms(db.DB, c.Now))
	socket := payor.NewSocket(checkout, nil, nil)
	socket.KeepAlive, socket.Poll = 300*time.Millisecond, 50*time.Millisecond
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.Retries == nil {
		cfg.Retries = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}
	}
	cfg.Now = c.Now
	starts := events.NewQRStarts(svc, nil, cfg)
	pages := payor.NewQRPages(svc, srv.URL)
	// The sockets' safety-net poll is an hour: what a page sees in a test
	// came from the events path.
	pages.Changed, pages.SocketPoll = sequenced.C, time.Hour
	handler = openapi.New(openapi.Deps{
		Invoices: svc, Ledger: ledger, Payor: checkout, PayorWS: socket, Pages: payor.NewPages(checkout.Check), PayorRate: 1000,
		Rails: fiat.NewRails(svc), QRPages: pages, QRStarts: starts,
	})
	m, key, err := svc.CreateMerchant(context.Background(), "Corner Vending")
	if err != nil {
		t.Fatal(err)
	}
	e.env = &env{t: t, db: db, svc: svc, clock: c, signer: signer, srv: srv, merchant: m.ID, key: key, cat: cat, ledger: ledger}
	e.starts, e.pages = starts, pages
	seqCtx, stopSeq := context.WithCancel(context.Background())
	var seqWG sync.WaitGroup
	seqWG.Go(func() { seq.Run(seqCtx) })
	t.Cleanup(func() { srv.CloseClientConnections(); stopSeq(); seqWG.Wait() })
	var once sync.Once
	e.run = func() {
		once.Do(func() {
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { starts.Run(ctx) })
			t.Cleanup(func() { cancel(); wg.Wait() })
		})
	}
	if start {
		e.run()
	}
	return e
}

// newCode creates a location and a QR code sending to target; extra
// fields go into the code's body. It returns the code object.
func (e *qrEnv) newCode(target string, extra map[string]any) map[string]any {
	e.t.Helper()
	loc := e.mustStatus(e.do("POST", "/api/v1/locations", e.key, map[string]any{"name": "Hall B"}), http.StatusCreated).JSON
	body := map[string]any{"location_id": loc["id"], "qr_start_webhook_url": target}
	for k, v := range extra {
		body[k] = v
	}
	return e.mustStatus(e.do("POST", "/api/v1/qr-codes", e.key, body), http.StatusCreated).JSON
}

// scan does what the waiting page's script does first: it starts a
// session for the code's URL (with query, e.g. dynamic data) and returns
// the answer.
func (e *qrEnv) scan(codeURL, query string) response {
	e.t.Helper()
	u, err := url.Parse(codeURL)
	if err != nil {
		e.t.Fatal(err)
	}
	p := u.Path + "/sessions"
	if query != "" {
		p += "?" + query
	}
	return e.do("POST", p, "", nil)
}

// startReceiver is a code's receiver (a vending machine): it verifies
// each request with the Standard Webhooks library under the code's
// secret, records it, and answers as answer says for the n-th request
// of an idempotency key.
type startReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	secret string
	got    []startReceipt
	answer func(n int, req startReceipt) (int, string)
}

type startReceipt struct {
	body      map[string]any
	raw       []byte
	header    http.Header
	verifyErr error
	at        time.Time
}

func newStartReceiver(t *testing.T, answer func(n int, req startReceipt) (int, string)) *startReceiver {
	t.Helper()
	rc := &startReceiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rec := startReceipt{raw: raw, header: r.Header.Clone(), at: time.Now()}
		json.Unmarshal(raw, &rec.body)
		if wh, err := standardwebhooks.NewWebhook(rc.secret); err != nil {
			rec.verifyErr = err
		} else {
			rec.verifyErr = wh.Verify(raw, r.Header)
		}
		rc.got = append(rc.got, rec)
		n := 0
		for _, g := range rc.got {
			if g.body["idempotency_key"] == rec.body["idempotency_key"] {
				n++
			}
		}
		answer := rc.answer
		rc.mu.Unlock()
		status, body := http.StatusOK, `{"ok":true}`
		if answer != nil {
			status, body = answer(n, rec)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *startReceiver) setSecret(s string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = s
}

func (rc *startReceiver) receipts() []startReceipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]startReceipt(nil), rc.got...)
}

// ofSession are the receipts of one session, of one type.
func (rc *startReceiver) ofSession(session, typ string) []startReceipt {
	var out []startReceipt
	for _, r := range rc.receipts() {
		if r.body["session_id"] == session && r.body["type"] == typ {
			out = append(out, r)
		}
	}
	return out
}

// qrSession reads a session's status straight from the store.
func (e *qrEnv) qrSession(id string) invoice.QRSession {
	e.t.Helper()
	m, _ := e.svc.Merchant(context.Background(), e.merchant)
	q, err := e.svc.QRSession(context.Background(), m.ID, invoice.ModeTest, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

func base64Std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// specOp is one operation of the served spec.
type specOp struct {
	id, method, path string
	public           bool // security: [] (payor and rail endpoints)
}

// specOperations lists the operations of the served /openapi.json.
func specOperations(t *testing.T) []specOp {
	t.Helper()
	spec, err := openapi.Spec()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                 `yaml:"operationId"`
			Security    *[]map[string][]string `yaml:"security"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	var out []specOp
	for path, ops := range doc.Paths {
		for method, op := range ops {
			out = append(out, specOp{id: op.OperationID, method: strings.ToUpper(method), path: path,
				public: op.Security != nil && len(*op.Security) == 0})
		}
	}
	return out
}
