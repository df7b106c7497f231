package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// testSecret and publicURL are the checkout signer's settings in tests.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

const publicURL = "http://pay.test"

// clock is the service's clock in tests: the real time plus an offset that
// a test moves forward instead of sleeping. Ids keep sorting by creation
// time because the real time still runs underneath.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// env is one running API on one database, with a merchant and its test key.
type env struct {
	t        *testing.T
	db       storetest.DB
	svc      *invoice.Service
	clock    *clock
	signer   *payor.Signer
	srv      *httptest.Server
	merchant string
	key      string
	cat      *chains.Catalogue
	ledger   *chains.Ledger
	rails    *fiat.Rails
}

func setup(t *testing.T, db storetest.DB) *env {
	t.Helper()
	// Every EVM network is offered (nothing dials these endpoints here), and
	// the merchant has an address on each: invoices get every method.
	endpoints := map[string]chains.Endpoint{}
	for _, n := range chains.Networks() {
		if n.Kind == chains.KindEVM {
			endpoints[n.ID] = chains.Endpoint{HTTP: "http://127.0.0.1:9"}
		}
	}
	return setupOffering(t, db, endpoints)
}

// setupOffering is setup offering the networks of endpoints (besides the
// sandbox and the rails), each with a receiving account of the merchant.
func setupOffering(t *testing.T, db storetest.DB, endpoints map[string]chains.Endpoint) *env {
	t.Helper()
	c := &clock{}
	signer := payor.NewSigner(testSecret, publicURL)
	svc := invoice.NewService(db.DB, c, signer, nil)
	cat, err := chains.NewCatalogue(endpoints)
	if err != nil {
		t.Fatal(err)
	}
	cat.SetToken("devnet", "0x5FbDB2315678afecb367f032d93F642f64180aa3")
	ledger := chains.NewLedger(svc, cat)
	checkout := payor.NewService(svc, cat, signer, payor.NewTerms(db.DB, c.Now))
	rails := fiat.NewRails(svc)
	socket := payor.NewSocket(checkout, nil, nil)
	socket.KeepAlive, socket.Poll = 300*time.Millisecond, 50*time.Millisecond
	srv := httptest.NewServer(openapi.New(openapi.Deps{
		Invoices: svc, Ledger: ledger, Payor: checkout, PayorWS: socket, Pages: payor.NewPages(checkout.Check), PayorRate: 1000,
		Rails: rails,
	}))
	t.Cleanup(srv.Close)
	m, key, err := svc.CreateMerchant(context.Background(), "Test Shop")
	if err != nil {
		t.Fatal(err)
	}
	for id := range endpoints {
		n, _ := chains.NetworkByID(id)
		if _, err := ledger.CreateAccount(context.Background(), chains.AccountParams{
			MerchantID: m.ID, Mode: n.Mode, Network: id, Address: merchantAddress,
		}); err != nil {
			t.Fatal(err)
		}
	}
	return &env{t: t, db: db, svc: svc, clock: c, signer: signer, srv: srv, merchant: m.ID, key: key, cat: cat, ledger: ledger, rails: rails}
}

// merchantAddress receives the env merchant's payments on every network.
const merchantAddress = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

// newKey creates another key for merchant.
func (e *env) newKey(merchant string, mode invoice.Mode, scope invoice.Scope) string {
	e.t.Helper()
	secret, _, err := e.svc.CreateKey(context.Background(), merchant, mode, scope)
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// liveKey enables live mode for the env's merchant and returns a live key.
func (e *env) liveKey() string {
	e.t.Helper()
	if err := e.svc.EnableLive(context.Background(), e.merchant); err != nil {
		e.t.Fatal(err)
	}
	return e.newKey(e.merchant, invoice.ModeLive, invoice.ScopeMerchant)
}

// otherMerchant creates a second merchant and returns its test key.
func (e *env) otherMerchant() (id, key string) {
	e.t.Helper()
	m, key, err := e.svc.CreateMerchant(context.Background(), "Other Shop")
	if err != nil {
		e.t.Fatal(err)
	}
	return m.ID, key
}

// response is a decoded answer.
type response struct {
	Path   string // of the request
	Status int
	Header http.Header
	Raw    []byte
	JSON   map[string]any
}

// request builds a request to the test server; body may be nil, a string,
// bytes or a value to marshal as JSON. headers are name, value pairs.
func (e *env) request(method, path, key string, body any, headers ...string) *http.Request {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// send sends req and decodes the answer; it is safe for concurrent use.
func send(req *http.Request) (response, error) {
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	out := response{Path: req.URL.Path, Status: res.StatusCode, Header: res.Header, Raw: raw}
	json.Unmarshal(raw, &out.JSON)
	return out, nil
}

func (e *env) do(method, path, key string, body any, headers ...string) response {
	e.t.Helper()
	r, err := send(e.request(method, path, key, body, headers...))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) mustStatus(r response, want int) response {
	e.t.Helper()
	if r.Status != want {
		e.t.Fatalf("status %d, want %d: %s", r.Status, want, r.Raw)
	}
	return r
}

// wantProblem checks that r is problem details with status and code.
func (e *env) wantProblem(r response, status int, code string) {
	e.t.Helper()
	if r.Status != status {
		e.t.Errorf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		e.t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if got, _ := r.JSON["code"].(string); got != code {
		e.t.Errorf("code %q, want %q: %s", got, code, r.Raw)
	}
	if got, _ := r.JSON["status"].(float64); int(got) != status {
		e.t.Errorf("problem status %v, want %d", r.JSON["status"], status)
	}
	if d, _ := r.JSON["detail"].(string); d == "" {
		e.t.Errorf("problem without detail: %s", r.Raw)
	}
	if got, _ := r.JSON["instance"].(string); got != r.Path {
		e.t.Errorf("instance %q, want the request path %q", got, r.Path)
	}
}

func (e *env) createInvoice(body map[string]any) map[string]any {
	e.t.Helper()
	return e.createInvoiceWith(e.key, body)
}

func (e *env) createInvoiceWith(key string, body map[string]any) map[string]any {
	e.t.Helper()
	return e.mustStatus(e.do("POST", "/api/v1/invoices", key, body), http.StatusCreated).JSON
}

// simulate simulates a payment on invoice id with the env's test key.
func (e *env) simulate(id string, body map[string]any) map[string]any {
	e.t.Helper()
	return e.mustStatus(e.do("POST", "/api/v1/test/invoices/"+id+"/simulate-payment", e.key, body), http.StatusOK).JSON
}

// counts are the row counts of the tables a request may write.
type counts map[string]int64

var countedTables = []string{"invoices", "events", "payments", "idempotency_keys"}

func (e *env) counts() counts {
	e.t.Helper()
	out := counts{}
	for _, table := range countedTables {
		n, err := e.db.NewSelect().TableExpr(table).Count(context.Background())
		if err != nil {
			e.t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

func (c counts) String() string {
	return fmt.Sprintf("invoices=%d events=%d payments=%d idempotency_keys=%d",
		c["invoices"], c["events"], c["payments"], c["idempotency_keys"])
}

// str reads a string field of a decoded object, failing when it is absent.
func str(t *testing.T, obj map[string]any, field string) string {
	t.Helper()
	s, ok := obj[field].(string)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a string", field, obj[field], obj[field])
	}
	return s
}
