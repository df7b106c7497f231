package openapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
)

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		body := `{"amount":"25.00","currency":"USD","metadata":{"a":"1","b":"2"}}`
		first := e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, body, "Idempotency-Key", "k1"), http.StatusCreated)
		if first.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("first response has Idempotent-Replayed: %q", first.Header.Get("Idempotent-Replayed"))
		}
		before := e.counts()
		if before["invoices"] != 1 || before["idempotency_keys"] != 1 {
			t.Fatalf("after the first request: %v", before)
		}
		// The same content with other key order and spacing is the same request.
		for _, again := range []string{body, "{\n  \"metadata\": {\"b\": \"2\", \"a\": \"1\"},\n  \"currency\": \"USD\", \"amount\": \"25.00\"\n}"} {
			r := e.do("POST", "/api/v1/invoices", e.key, again, "Idempotency-Key", "k1")
			if r.Status != first.Status || !bytes.Equal(r.Raw, first.Raw) {
				t.Errorf("replay is %d %s, want %d %s", r.Status, r.Raw, first.Status, first.Raw)
			}
			if got := r.Header.Get("Idempotent-Replayed"); got != "true" {
				t.Errorf("Idempotent-Replayed %q, want true", got)
			}
			if got, want := r.Header.Get("Content-Type"), first.Header.Get("Content-Type"); got != want {
				t.Errorf("replayed Content-Type %q, want %q", got, want)
			}
		}
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("replays changed the store: before %v, after %v", before, after)
		}

		// Another body with the same key is refused; the key stays bound to
		// the first request.
		r := e.do("POST", "/api/v1/invoices", e.key, `{"amount":"26.00","currency":"USD"}`, "Idempotency-Key", "k1")
		e.wantProblem(r, http.StatusConflict, "idempotency_conflict")
		// So is the same body to another operation.
		r = e.do("POST", "/api/v1/invoices/"+str(t, first.JSON, "id")+"/cancel", e.key, body, "Idempotency-Key", "k1")
		e.wantProblem(r, http.StatusConflict, "idempotency_conflict")
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("conflicts changed the store: before %v, after %v", before, after)
		}
		r = e.do("POST", "/api/v1/invoices", e.key, body, "Idempotency-Key", "k1")
		if !bytes.Equal(r.Raw, first.Raw) {
			t.Errorf("after a conflict the key replays %s, want %s", r.Raw, first.Raw)
		}

		// Keys belong to a merchant and a mode: another merchant, or the
		// live key of the same one, may use the same key for its own request.
		_, otherKey := e.otherMerchant()
		other := e.mustStatus(e.do("POST", "/api/v1/invoices", otherKey, body, "Idempotency-Key", "k1"), http.StatusCreated)
		live := e.mustStatus(e.do("POST", "/api/v1/invoices", e.liveKey(), body, "Idempotency-Key", "k1"), http.StatusCreated)
		if other.JSON["id"] == first.JSON["id"] || live.JSON["id"] == first.JSON["id"] || other.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("a key of another merchant or mode replayed the first response")
		}
		// Without a key, every request is a new invoice.
		a := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"})
		b := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"})
		if a["id"] == b["id"] {
			t.Errorf("two requests without a key made one invoice")
		}
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, body, "Idempotency-Key", string(bytes.Repeat([]byte("k"), 256))),
			http.StatusBadRequest, "invalid_idempotency_key")
	})
}

// TestIdempotencyFailureDoesNotBurnKey checks that a refused request can be
// corrected and sent again under the same key.
func TestIdempotencyFailureDoesNotBurnKey(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, `{"amount":"25.001","currency":"USD"}`, "Idempotency-Key", "fix-me"),
			http.StatusUnprocessableEntity, "invalid_amount")
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, `{"amount":`, "Idempotency-Key", "fix-me"),
			http.StatusBadRequest, "malformed_json")
		if c := e.counts(); c["idempotency_keys"] != 0 || c["invoices"] != 0 {
			t.Fatalf("refused requests stored something: %v", c)
		}
		ok := e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, `{"amount":"25.00","currency":"USD"}`, "Idempotency-Key", "fix-me"), http.StatusCreated)
		again := e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, `{"amount":"25.00","currency":"USD"}`, "Idempotency-Key", "fix-me"), http.StatusCreated)
		if !bytes.Equal(ok.Raw, again.Raw) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("the corrected request is not replayed: %s then %s", ok.Raw, again.Raw)
		}

		// A cancel refused with 409 does not burn its key either: once the
		// reason is gone (here, never) the same key may be tried again and
		// is answered afresh, not from a stored failure.
		id := str(t, e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"}), "id")
		e.simulate(id, map[string]any{"amount": "25.00", "status": "pending"})
		for range 2 {
			r := e.do("POST", "/api/v1/invoices/"+id+"/cancel", e.key, nil, "Idempotency-Key", "cancel-"+id)
			e.wantProblem(r, http.StatusConflict, "invoice_not_cancellable")
			if r.Header.Get("Idempotent-Replayed") != "" {
				t.Errorf("a refused cancel was replayed")
			}
		}
	})
}

// TestIdempotencyExpiry checks that a key is forgotten after its TTL.
func TestIdempotencyExpiry(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, `{"amount":"25.00","currency":"USD"}`, "Idempotency-Key", "old"), http.StatusCreated)
		ctx := context.Background()
		n, err := openapi.PurgeIdempotency(ctx, db.DB, time.Now())
		if err != nil || n != 0 {
			t.Fatalf("purge of a fresh key: %d, %v; want 0, nil", n, err)
		}
		n, err = openapi.PurgeIdempotency(ctx, db.DB, time.Now().Add(openapi.IdempotencyTTL+time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("purge after the TTL: %d, %v; want 1, nil", n, err)
		}
		r := e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, `{"amount":"26.00","currency":"USD"}`, "Idempotency-Key", "old"), http.StatusCreated)
		if r.JSON["amount"] != "26.00" {
			t.Errorf("a purged key still answers with the old invoice: %s", r.Raw)
		}
	})
}

const concurrentClients = 16

// TestIdempotencyConcurrent sends the same request with the same key from
// many clients at once: exactly one invoice is made and every client gets it.
func TestIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		for round := range 3 {
			key := "concurrent-" + string(rune('a'+round))
			results := sendAll(t, e, func(int) *http.Request {
				return e.request("POST", "/api/v1/invoices", e.key, `{"amount":"25.00","currency":"USD"}`, "Idempotency-Key", key)
			})
			replayed := 0
			for i, r := range results {
				if r.Status != http.StatusCreated {
					t.Errorf("client %d: %d %s", i, r.Status, r.Raw)
					continue
				}
				if !bytes.Equal(r.Raw, results[0].Raw) {
					t.Errorf("client %d got %s, client 0 got %s", i, r.Raw, results[0].Raw)
				}
				if r.Header.Get("Idempotent-Replayed") == "true" {
					replayed++
				}
			}
			if replayed != concurrentClients-1 {
				t.Errorf("%d of %d responses replayed, want %d", replayed, concurrentClients, concurrentClients-1)
			}
			n, err := db.NewSelect().Model((*invoice.Invoice)(nil)).Where("merchant_id = ?", e.merchant).Count(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(round+1) {
				t.Errorf("round %d: %d invoices stored, want %d", round, n, round+1)
			}
		}

		// Concurrent refused requests each get their own refusal and leave
		// the key free.
		before := e.counts()
		for i, r := range sendAll(t, e, func(int) *http.Request {
			return e.request("POST", "/api/v1/invoices", e.key, `{"amount":"25.001","currency":"USD"}`, "Idempotency-Key", "concurrent-bad")
		}) {
			if r.Status != http.StatusUnprocessableEntity || r.JSON["code"] != "invalid_amount" {
				t.Errorf("bad request %d: %d %s", i, r.Status, r.Raw)
			}
		}
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("concurrent bad requests changed the store: before %v, after %v", before, after)
		}

		// Concurrent different requests under one key: one wins, every
		// other is refused as a conflict.
		won := 0
		for i, r := range sendAll(t, e, func(i int) *http.Request {
			body := fmt.Sprintf(`{"amount":"%d.00","currency":"USD"}`, i+1)
			return e.request("POST", "/api/v1/invoices", e.key, body, "Idempotency-Key", "concurrent-mixed")
		}) {
			switch {
			case r.Status == http.StatusCreated:
				won++
			case r.Status != http.StatusConflict || r.JSON["code"] != "idempotency_conflict":
				t.Errorf("mixed request %d: %d %s", i, r.Status, r.Raw)
			}
		}
		if won != 1 {
			t.Errorf("%d of the different requests under one key succeeded, want 1", won)
		}
		if after := e.counts(); after["invoices"] != before["invoices"]+1 {
			t.Errorf("different requests under one key stored %d invoices, want 1", after["invoices"]-before["invoices"])
		}
	})
}

// sendAll sends the requests made by req from concurrentClients goroutines
// released at once, and returns their answers in order.
func sendAll(t *testing.T, e *env, req func(i int) *http.Request) []response {
	t.Helper()
	reqs := make([]*http.Request, concurrentClients)
	for i := range reqs {
		reqs[i] = req(i)
	}
	results := make([]response, concurrentClients)
	errs := make([]error, concurrentClients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			<-start
			results[i], errs[i] = send(reqs[i])
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	return results
}
