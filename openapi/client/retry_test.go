package client_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

// flaky is a proxy in front of the server that fails requests as its rule
// says: the rule sees each request and how many came before it for the
// same method and path.
type flaky struct {
	*httptest.Server
	mu       sync.Mutex
	attempts map[string][]http.Header // by method and path: each attempt's headers
	replayed []string                 // Idempotent-Replayed of each forwarded answer
}

// fault is what the proxy does with one request.
type fault struct {
	status     int    // answer this status instead of the server's
	forward    bool   // forward the request first (the server does the work; its answer is lost)
	retryAfter string // Retry-After of the answer
}

func newFlaky(t *testing.T, target string, rule func(r *http.Request, n int) fault) *flaky {
	t.Helper()
	f := &flaky{attempts: map[string][]http.Header{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		k := r.Method + " " + r.URL.Path
		n := len(f.attempts[k])
		f.attempts[k] = append(f.attempts[k], r.Header.Clone())
		f.mu.Unlock()
		ft := rule(r, n)
		if ft.status == 0 || ft.forward {
			req, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
			req.Header = r.Header.Clone()
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer res.Body.Close()
			f.mu.Lock()
			f.replayed = append(f.replayed, res.Header.Get("Idempotent-Replayed"))
			f.mu.Unlock()
			if ft.status == 0 {
				for k, vs := range res.Header {
					w.Header()[k] = vs
				}
				w.WriteHeader(res.StatusCode)
				io.Copy(w, res.Body)
				return
			}
		}
		if ft.retryAfter != "" {
			w.Header().Set("Retry-After", ft.retryAfter)
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(ft.status)
		io.WriteString(w, "<html>upstream trouble</html>")
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *flaky) headers(method, path string) []http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[method+" "+path]
}

// TestRetries: a POST whose answer is lost is retried under the same
// Idempotency-Key and creates one invoice; a 429 is retried after its
// Retry-After; requests that are not idempotent are not retried.
func TestRetries(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		f := newFlaky(t, e.URL, func(r *http.Request, n int) fault {
			switch {
			case r.Method == "POST" && r.URL.Path == "/api/v1/invoices" && n == 0:
				return fault{status: http.StatusBadGateway, forward: true}
			case r.Method == "GET" && r.URL.Path == "/api/v1/invoices" && n == 0:
				return fault{status: http.StatusTooManyRequests, retryAfter: "1"}
			case r.Method == "DELETE":
				return fault{status: http.StatusServiceUnavailable}
			}
			return fault{}
		})
		c := e.clientAt(f.URL, e.key)
		inv, err := c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "5.00", Currency: "USD"})
		if err != nil {
			t.Fatal(err)
		}
		tries := f.headers("POST", "/api/v1/invoices")
		if len(tries) != 2 {
			t.Fatalf("%d attempts, want 2", len(tries))
		}
		key := tries[0].Get("Idempotency-Key")
		if key == "" || tries[1].Get("Idempotency-Key") != key {
			t.Fatalf("idempotency keys %q then %q: want the same one, made up by the client", key, tries[1].Get("Idempotency-Key"))
		}
		if f.replayed[1] != "true" {
			t.Errorf("the retry was not answered from the idempotency record (Idempotent-Replayed %q)", f.replayed[1])
		}

		start := time.Now()
		list, err := c.ListInvoices(ctx, client.ListInvoicesParams{})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("retried a 429 after %v, want its Retry-After of 1 s", d)
		}
		if len(list.Data) != 1 || list.Data[0].ID != inv.ID {
			t.Fatalf("invoices %+v: want only %s, created once", list.Data, inv.ID)
		}

		_, err = c.DeleteWebhookEndpoint(ctx, "whe_x")
		if ce := wantError(t, err, http.StatusServiceUnavailable, ""); ce != nil && ce.Title != "Service Unavailable" {
			t.Errorf("non-problem answer decoded as %+v", ce.Problem)
		}
		if n := len(f.headers("DELETE", "/api/v1/webhook-endpoints/whe_x")); n != 1 {
			t.Errorf("DELETE sent %d times, want once (not idempotent by key)", n)
		}
	})
}

// TestIdempotencyKey: the caller's key makes a repeat return the same
// invoice, and the same key with another body is a conflict.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		p := client.CreateInvoiceParams{Amount: "9.00", Currency: "EUR", MerchantOrderID: "order-7"}
		a, err := e.c.CreateInvoice(ctx, p, client.WithIdempotencyKey("order-7"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.c.CreateInvoice(ctx, p, client.WithIdempotencyKey("order-7"))
		if err != nil || b.ID != a.ID {
			t.Fatalf("repeat gave %+v, %v; want %s", b, err, a.ID)
		}
		c, err := e.c.CreateInvoice(ctx, p)
		if err != nil || c.ID == a.ID {
			t.Fatalf("without a key: %+v, %v; want a new invoice", c, err)
		}
		p.Amount = "10.00"
		_, err = e.c.CreateInvoice(ctx, p, client.WithIdempotencyKey("order-7"))
		wantError(t, err, http.StatusConflict, client.CodeIdempotencyConflict)
	})
}
