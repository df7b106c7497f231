package openapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// setupWebhooks is setup with the sequencer and the webhook engine running
// (short schedule and poll).
func setupWebhooks(t *testing.T, db storetest.DB) *env {
	t.Helper()
	c := &clock{}
	signer := payor.NewSigner(testSecret, publicURL)
	svc := invoice.NewService(db.DB, c, signer, nil)
	written, sequenced := &events.Signal{}, &events.Signal{}
	svc.OnEventsWritten(written.Notify)
	seq := events.NewSequencer(db.DB, nil, written, sequenced)
	seq.Interval = 10 * time.Millisecond
	wh := events.NewWebhooks(db.DB, nil, events.WebhookConfig{
		AllowPrivateAddresses: true, // the receivers are httptest servers on loopback
		PollInterval:          10 * time.Millisecond, Now: c.Now,
		Schedule: []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
	}, sequenced)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { seq.Run(ctx) })
	wg.Go(func() { wh.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	srv := httptest.NewServer(openapi.New(openapi.Deps{Invoices: svc, Webhooks: wh}))
	t.Cleanup(srv.Close)
	m, key, err := svc.CreateMerchant(context.Background(), "Test Shop")
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, svc: svc, clock: c, signer: signer, srv: srv, merchant: m.ID, key: key}
}

// hookReceiver is a merchant's endpoint that verifies each request with
// the Standard Webhooks library under the secret it is given.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	secret string
	got    []hookReceipt
	perID  map[string]int
	status func(n int) int // by the count of requests for the webhook-id
}

type hookReceipt struct {
	id        string
	body      []byte
	header    http.Header
	verifyErr error
}

func newHookReceiver(t *testing.T, status func(n int) int) *hookReceiver {
	t.Helper()
	if status == nil {
		status = func(int) int { return http.StatusOK }
	}
	rc := &hookReceiver{perID: map[string]int{}, status: status}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		var verr error
		if wh, err := standardwebhooks.NewWebhook(rc.secret); err != nil {
			verr = err
		} else {
			verr = wh.Verify(body, r.Header)
		}
		id := r.Header.Get("webhook-id")
		rc.perID[id]++
		n := rc.perID[id]
		rc.got = append(rc.got, hookReceipt{id: id, body: body, header: r.Header.Clone(), verifyErr: verr})
		rc.mu.Unlock()
		w.WriteHeader(rc.status(n))
		io.WriteString(w, "ok")
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *hookReceiver) setSecret(s string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = s
}

func (rc *hookReceiver) receipts() []hookReceipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hookReceipt(nil), rc.got...)
}

// count is how many requests came for one webhook-id.
func (rc *hookReceiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.perID[id]
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// webhookCounts are the rows of the webhook tables.
func (e *env) webhookCounts() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"webhook_endpoints", "webhook_deliveries", "webhook_attempts", "events", "idempotency_keys"} {
		n, err := e.db.NewSelect().TableExpr(table).Count(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		out[table] = int(n)
	}
	return out
}

func newSequencer(e *env) *events.Sequencer {
	return events.NewSequencer(e.db.DB, nil, &events.Signal{}, &events.Signal{})
}
