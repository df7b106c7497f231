package events_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// lockedBuffer is a log sink read while the engine writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWebhookTestModePrivateRefused: test-mode endpoints stored with a
// loopback URL (before the rule held in test mode, or while the operator
// allowed private addresses) are refused at connection by an engine with
// the default policy: the receiver never sees a request, each attempt
// records the reason and no response excerpt, and the refusal is logged.
func TestWebhookTestModePrivateRefused(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		e := newWHEnv(t, db)
		rc := newReceiver(t, nil)
		urls := []string{rc.URL + "/hook", strings.Replace(rc.URL, "127.0.0.1", "localhost", 1) + "/hook"}
		var eps []events.Endpoint
		for _, u := range urls {
			ep, err := events.CreateEndpoint(ctx, db, events.AddressPolicy{AllowPrivate: true}, e.merchant, invoice.ModeTest,
				events.EndpointParams{URL: &u}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			eps = append(eps, ep)
		}
		logs := &lockedBuffer{}
		cfg := e.fastConfig()
		cfg.AllowPrivateAddresses = false            // the default
		cfg.Schedule = []time.Duration{0, time.Hour} // one attempt now, the next far off
		w := events.NewWebhooks(db.DB, slog.New(slog.NewJSONHandler(logs, nil)), cfg, e.due)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); w.Run(runCtx) }()
		t.Cleanup(func() { cancel(); <-done })
		e.emit(1, invoice.EventInvoiceCreated)
		for _, ep := range eps {
			var list []events.DeliveryObject
			eventually(t, 10*time.Second, "a refused attempt to "+ep.URL, func() bool {
				list, _, _ = events.ListDeliveries(ctx, db, events.DeliveryListParams{MerchantID: e.merchant, Mode: invoice.ModeTest, EndpointID: ep.ID})
				return len(list) == 1 && len(list[0].Attempts) >= 1 && list[0].AttemptCount >= 1
			})
			d, a := list[0], list[0].Attempts[0]
			if !strings.Contains(d.LastError, "address not allowed") || d.LastStatusCode != 0 || d.Status != events.DeliveryPending || d.NextAttemptAt == nil {
				t.Errorf("%s: delivery %+v: want refused (address not allowed), to be retried", ep.URL, d)
			}
			if a.StatusCode != 0 || a.ResponseExcerpt != "" || !strings.Contains(a.Error, "address not allowed") {
				t.Errorf("%s: attempt %+v: want no status, no excerpt, the reason", ep.URL, a)
			}
			if !strings.Contains(logs.String(), `"endpoint_id":"`+ep.ID+`"`) {
				t.Errorf("%s: no log line names the endpoint: %s", ep.URL, logs.String())
			}
		}
		if n := len(rc.receipts()); n != 0 {
			t.Fatalf("the loopback receiver got %d requests from test-mode endpoints", n)
		}
		if !strings.Contains(logs.String(), "webhook refused") {
			t.Fatalf("the refusal is not logged: %s", logs.String())
		}
	})
}
