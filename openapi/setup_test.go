package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// env is one running API on one database, with a merchant and its test key.
type env struct {
	t        *testing.T
	db       storetest.DB
	svc      *invoice.Service
	srv      *httptest.Server
	merchant string
	key      string
}

func setup(t *testing.T, db storetest.DB) *env {
	t.Helper()
	svc := invoice.NewService(db.DB, nil, payor.NewSigner([]byte("0123456789abcdef0123456789abcdef"), "http://pay.test"), nil)
	srv := httptest.NewServer(openapi.New(openapi.Deps{Invoices: svc}))
	t.Cleanup(srv.Close)
	m, key, err := svc.CreateMerchant(context.Background(), "Test Shop")
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, svc: svc, srv: srv, merchant: m.ID, key: key}
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	JSON   map[string]any
}

func (e *env) do(method, path, key string, body any, headers ...string) response {
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
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	json.Unmarshal(raw, &out.JSON)
	return out
}

func (e *env) mustStatus(r response, want int) response {
	e.t.Helper()
	if r.Status != want {
		e.t.Fatalf("status %d, want %d: %s", r.Status, want, r.Raw)
	}
	return r
}

func (e *env) createInvoice(body map[string]any) map[string]any {
	e.t.Helper()
	return e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, body), http.StatusCreated).JSON
}

var _ = time.Second
