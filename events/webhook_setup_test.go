package events_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// offsetClock is the real time plus an offset a test moves instead of
// sleeping.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// whEnv is a database with a merchant and a running sequencer.
type whEnv struct {
	t        *testing.T
	db       storetest.DB
	merchant string
	written  *events.Signal
	due      *events.Signal
	clock    *offsetClock
}

func newWHEnv(t *testing.T, db storetest.DB) *whEnv {
	t.Helper()
	svc := invoice.NewService(db.DB, nil, nil, nil)
	m, _, err := svc.CreateMerchant(context.Background(), "Shop")
	if err != nil {
		t.Fatal(err)
	}
	e := &whEnv{t: t, db: db, merchant: m.ID, written: &events.Signal{}, due: &events.Signal{}, clock: &offsetClock{}}
	seq := events.NewSequencer(db.DB, nil, e.written, e.due)
	seq.Interval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); seq.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// fastConfig is a configuration with a short schedule and poll, for tests.
func (e *whEnv) fastConfig() events.WebhookConfig {
	return events.WebhookConfig{
		Workers: 8, PerEndpoint: 4, Timeout: 5 * time.Second, PollInterval: 10 * time.Millisecond,
		Schedule: []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		Now:      e.clock.Now,
		// The receivers are httptest servers on loopback: opted in here,
		// as an operator would, never by a weaker default.
		AllowPrivateAddresses: true,
	}
}

// start runs an engine on db until the test ends.
func (e *whEnv) start(db storetest.DB, cfg events.WebhookConfig) *events.Webhooks {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(e.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := events.NewWebhooks(db.DB, log, cfg, e.due)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return w
}

// endpoint creates a test-mode endpoint for the merchant.
func (e *whEnv) endpoint(url string, types ...string) events.Endpoint {
	e.t.Helper()
	p := events.EndpointParams{URL: &url}
	if len(types) > 0 {
		p.EnabledEvents = types
	}
	ep, err := events.CreateEndpoint(context.Background(), e.db, events.AddressPolicy{AllowPrivate: true}, e.merchant, invoice.ModeTest, p, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return ep
}

// emit writes n events of type typ and wakes the sequencer.
func (e *whEnv) emit(n int, typ string) []invoice.Event {
	e.t.Helper()
	out := make([]invoice.Event, n)
	for i := range out {
		out[i] = newEvent(e.t, e.merchant, typ)
	}
	if err := invoice.InsertEvents(context.Background(), e.db, out...); err != nil {
		e.t.Fatal(err)
	}
	e.written.Notify()
	return out
}

func (e *whEnv) deliveries(endpointID string) []events.Delivery {
	e.t.Helper()
	var ds []events.Delivery
	if err := e.db.NewSelect().Model(&ds).Where("endpoint_id = ?", endpointID).OrderExpr("id").Scan(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// attemptCount is how many attempts to the endpoint are recorded.
func (e *whEnv) attemptCount(endpointID string) int {
	e.t.Helper()
	n, err := e.db.NewSelect().Model((*events.Attempt)(nil)).Where("endpoint_id = ?", endpointID).Count(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

// recorded waits until at least n attempts to the endpoint are recorded
// and none is in flight, and returns its deliveries. A receiver has a
// request before the engine records its outcome (and, under load, well
// before): a test that then reads deliveries or attempts, or moves the
// clock, waits for this, never for its receiver.
//
// The attempts are counted before the deliveries are read: an attempt row
// and its delivery's outcome are written together, so every counted
// attempt shows in the deliveries read after it. (Read the other way
// round, a delivery still waiting for its claim could be read as pending,
// then claimed, sent and counted before the count.)
func (e *whEnv) recorded(endpointID string, n int) []events.Delivery {
	e.t.Helper()
	var ds []events.Delivery
	eventually(e.t, 10*time.Second, fmt.Sprintf("%d attempts to %s recorded, none in flight", n, endpointID), func() bool {
		if e.attemptCount(endpointID) < n {
			return false
		}
		ds = e.deliveries(endpointID)
		for _, d := range ds {
			if d.LockedUntil != nil {
				return false
			}
		}
		return true
	})
	return ds
}

// eventually polls cond until it holds or the bound passes.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receipt is one request a receiver got.
type receipt struct {
	id        string
	body      []byte
	header    http.Header
	verifyErr error
	at        time.Time
}

// receiver is a merchant's endpoint: it verifies every request with the
// Standard Webhooks library and answers with status(n), n counting the
// requests for that webhook-id from 1.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	secret   string
	got      []receipt
	perID    map[string]int
	status   func(n int) int
	delay    chan struct{} // when set, every request waits for it to close
	arrivals chan struct{}
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	if status == nil {
		status = func(int) int { return http.StatusOK }
	}
	rc := &receiver{perID: map[string]int{}, status: status, arrivals: make(chan struct{}, 10000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		secret, delay := rc.secret, rc.delay
		rc.mu.Unlock()
		if delay != nil {
			<-delay
		}
		var verr error
		if wh, err := standardwebhooks.NewWebhook(secret); err != nil {
			verr = err
		} else {
			verr = wh.Verify(body, r.Header)
		}
		id := r.Header.Get("webhook-id")
		rc.mu.Lock()
		rc.perID[id]++
		n := rc.perID[id]
		rc.got = append(rc.got, receipt{id: id, body: body, header: r.Header.Clone(), verifyErr: verr, at: time.Now()})
		rc.mu.Unlock()
		code := rc.status(n)
		if code == http.StatusOK {
			io.WriteString(w, `{"received":true}`)
			rc.arrivals <- struct{}{}
			return
		}
		w.WriteHeader(code)
		io.WriteString(w, "nope")
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setSecret(s string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = s
}

func (rc *receiver) receipts() []receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receipt(nil), rc.got...)
}

// counts returns how many requests each webhook-id got.
func (rc *receiver) counts() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.perID))
	for k, v := range rc.perID {
		out[k] = v
	}
	return out
}
