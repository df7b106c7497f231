package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/openapi/client"
	"github.com/settlepay/settle/payor"
)

// server is a real settle API on a database, assembled as `settle serve`
// does: the invoice service, the sequencer, the webhook engine and the
// WebSocket hub running, the payor side and a catalogue in which every
// EVM network is offered (nothing dials its endpoint here).
type server struct {
	*httptest.Server
	svc  *invoice.Service
	stop func()
}

// testSecret signs checkout links and session headers in tests.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// newServer starts a server on db; stop ends it and everything it runs.
func newServer(db *bun.DB) (*server, error) {
	svc := invoice.NewService(db, nil, payor.NewSigner(testSecret, "http://pay.test"), nil)
	endpoints := map[string]chains.Endpoint{}
	for _, n := range chains.Networks() {
		if n.Kind == chains.KindEVM {
			endpoints[n.ID] = chains.Endpoint{HTTP: "http://127.0.0.1:9"}
		}
	}
	cat, err := chains.NewCatalogue(endpoints)
	if err != nil {
		return nil, err
	}
	written, sequenced := &events.Signal{}, &events.Signal{}
	svc.OnEventsWritten(written.Notify)
	seq := events.NewSequencer(db, nil, written, sequenced)
	seq.Interval = 10 * time.Millisecond
	wh := events.NewWebhooks(db, nil, events.WebhookConfig{
		AllowPrivateAddresses: true, // the receivers are httptest servers on loopback
		PollInterval:          20 * time.Millisecond,
		Schedule:              []time.Duration{0, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
	}, sequenced)
	hub := events.NewHub(db, nil, events.HubConfig{MaxPerIP: -1, MaxPerMerchant: -1, PollInterval: 100 * time.Millisecond}, sequenced)
	checkout := payor.NewService(svc, cat, payor.NewSigner(testSecret, "http://pay.test"), payor.NewTerms(db, svc.Now))
	qrStarts := events.NewQRStarts(svc, nil, events.QRStartConfig{AllowPrivateAddresses: true, PollInterval: 20 * time.Millisecond})
	handler := openapi.New(openapi.Deps{
		Invoices: svc, Webhooks: wh, Hub: hub, Ledger: chains.NewLedger(svc, cat),
		Payor: checkout, PayorWS: payor.NewSocket(checkout, sequenced.C, nil), Pages: payor.NewPages(checkout.Check),
		PayorRate: 1000, QRPages: payor.NewQRPages(svc, "http://pay.test"), QRStarts: qrStarts,
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { qrStarts.Run(ctx) })
	wg.Go(func() { seq.Run(ctx) })
	wg.Go(func() { wh.Run(ctx) })
	wg.Go(func() { hub.Run(ctx) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.record(r.Method, r.URL.Path)
		handler.ServeHTTP(w, r)
	}))
	return &server{Server: srv, svc: svc, stop: func() {
		cancel()
		wg.Wait()
		srv.CloseClientConnections()
		srv.Close()
	}}, nil
}

// env is one test's server, with a merchant and a client of its test key.
type env struct {
	*server
	t        *testing.T
	merchant string
	key      string
	c        *client.Client
}

// setup starts a server on db for the test and gives it a merchant.
func setup(t *testing.T, db storetest.DB) *env {
	t.Helper()
	srv, err := newServer(db.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	e := &env{server: srv, t: t}
	e.merchant, e.key = e.newMerchant()
	e.c = e.client(e.key)
	return e
}

// newMerchant creates a merchant and returns its id and test key.
func (e *env) newMerchant() (string, string) {
	e.t.Helper()
	m, key, err := e.svc.CreateMerchant(context.Background(), "Test Shop")
	if err != nil {
		e.t.Fatal(err)
	}
	return m.ID, key
}

// client returns a client of the server with key and quick retries.
func (e *env) client(key string, opts ...client.Option) *client.Client {
	return e.clientAt(e.URL, key, opts...)
}

func (e *env) clientAt(url, key string, opts ...client.Option) *client.Client {
	opts = append([]client.Option{client.WithRetryPolicy(client.RetryPolicy{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond})}, opts...)
	return client.New(url, key, opts...)
}

// ctx is a context that ends with the test or after 30 s.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createInvoice creates a sandbox invoice of amount USD.
func (e *env) createInvoice(ctx context.Context, amount string) *client.Invoice {
	e.t.Helper()
	inv, err := e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: amount, Currency: "USD", PaymentMethods: []string{"sandbox"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

// callLog is every method and path the test servers were asked, for the
// spec test.
type callLog struct {
	mu    sync.Mutex
	calls map[[2]string]int
}

var calls = &callLog{calls: map[[2]string]int{}}

func (l *callLog) record(method, path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[[2]string{method, path}]++
}

func (l *callLog) all() map[[2]string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[[2]string]int, len(l.calls))
	for k, v := range l.calls {
		out[k] = v
	}
	return out
}
