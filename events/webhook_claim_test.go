package events_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// overlapReceiver answers 200 to every request and records, per
// webhook-id, how many requests it got and the most it held at once.
type overlapReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	inFlight map[string]int
	most     map[string]int
	total    map[string]int
}

func newOverlapReceiver(t *testing.T) *overlapReceiver {
	t.Helper()
	rc := &overlapReceiver{inFlight: map[string]int{}, most: map[string]int{}, total: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		rc.mu.Lock()
		rc.inFlight[id]++
		rc.total[id]++
		rc.most[id] = max(rc.most[id], rc.inFlight[id])
		rc.mu.Unlock()
		time.Sleep(time.Millisecond) // long enough for a second claim of the same delivery to overlap
		rc.mu.Lock()
		rc.inFlight[id]--
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

// TestWebhookBatchClaimsTwoClaimers: two engines (two instances, each with
// its own connection pool on Postgres) start together on a backlog queued
// before either runs, so that their batch claims race from the first one.
// Every delivery is sent exactly once, never two requests of one at once,
// and the store records one successful attempt per delivery and an empty
// queue.
func TestWebhookBatchClaimsTwoClaimers(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		e := newWHEnv(t, db)
		const endpoints, n = 3, 60
		var rcs []*overlapReceiver
		var eps []events.Endpoint
		for range endpoints {
			rc := newOverlapReceiver(t)
			rcs = append(rcs, rc)
			eps = append(eps, e.endpoint(rc.URL))
		}
		sent := e.emit(n, invoice.EventInvoiceCreated)
		eventually(t, 10*time.Second, "the backlog queued", func() bool {
			c, err := db.NewSelect().TableExpr("webhook_queue").Count(ctx)
			return err == nil && c == endpoints*n
		})
		second := db
		if db.Name == "postgres" {
			other, err := invoice.OpenDB(db.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			second = storetest.DB{Name: db.Name, URL: db.URL, DB: other}
		}
		cfg := e.fastConfig()
		cfg.Workers, cfg.PerEndpoint = 8, 4
		e.start(db, cfg)
		e.start(second, cfg)
		for _, ep := range eps {
			e.recorded(ep.ID, n)
		}
		for i, rc := range rcs {
			rc.mu.Lock()
			for _, ev := range sent {
				if rc.total[ev.ID] != 1 || rc.most[ev.ID] != 1 {
					t.Errorf("endpoint %d: event %s sent %d times, at most %d at once; want once", i, ev.ID, rc.total[ev.ID], rc.most[ev.ID])
				}
			}
			rc.mu.Unlock()
		}
		for _, ep := range eps {
			for _, d := range e.deliveries(ep.ID) {
				if d.Status != events.DeliverySucceeded || d.Attempts != 1 || d.LockedUntil != nil || d.NextAttemptAt != nil {
					t.Fatalf("delivery %+v: want succeeded at its one attempt", d)
				}
			}
		}
		attempts, err := db.NewSelect().Model((*events.Attempt)(nil)).Count(ctx)
		if err != nil || attempts != endpoints*n {
			t.Fatalf("%d attempts recorded (%v), want %d", attempts, err, endpoints*n)
		}
		queued, err := db.NewSelect().TableExpr("webhook_queue").Count(ctx)
		if err != nil || queued != 0 {
			t.Fatalf("%d deliveries still queued (%v), want none", queued, err)
		}
	})
}

// TestWebhookHangingEndpointBacklog: an endpoint that never answers, with a
// backlog older than everything else, beside nine healthy endpoints. The
// claims take the oldest due work first, yet the hanging endpoint holds
// only its PerEndpoint leases: while they hang, every healthy endpoint gets
// all its deliveries recorded as succeeded, and the hanging endpoint's
// backlog waits in the queue untouched.
func TestWebhookHangingEndpointBacklog(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		e := newWHEnv(t, db)
		hanging := newReceiver(t, nil)
		release := make(chan struct{})
		hanging.delay = release
		var once sync.Once
		t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the server closes
		slow := e.endpoint(hanging.URL)
		hanging.setSecret(slow.Secret)
		const old, n = 40, 15
		e.emit(old, invoice.EventInvoiceUpdated) // the hanging endpoint's older backlog
		eventually(t, 10*time.Second, "the older backlog queued", func() bool { return len(e.deliveries(slow.ID)) == old })
		var healthy []events.Endpoint
		var receivers []*receiver
		for range 9 {
			rc := newReceiver(t, nil)
			ep := e.endpoint(rc.URL)
			rc.setSecret(ep.Secret)
			healthy = append(healthy, ep)
			receivers = append(receivers, rc)
		}
		cfg := e.fastConfig()
		cfg.Workers, cfg.PerEndpoint, cfg.Timeout = 6, 2, time.Minute
		e.start(db, cfg)
		e.emit(n, invoice.EventInvoiceCreated)
		for i, ep := range healthy {
			ds := e.recorded(ep.ID, n)
			if len(ds) != n {
				t.Fatalf("healthy endpoint: %d deliveries, want %d", len(ds), n)
			}
			for _, d := range ds {
				if d.Status != events.DeliverySucceeded || d.Attempts != 1 {
					t.Fatalf("healthy delivery %+v: want succeeded at its one attempt while the other endpoint hangs", d)
				}
			}
			if got := e.attemptCount(ep.ID); got != n {
				t.Fatalf("healthy endpoint: %d attempts recorded for %d deliveries; want one each", got, n)
			}
			for id, c := range receivers[i].counts() {
				if c != 1 {
					t.Fatalf("webhook %s sent %d times; want once", id, c)
				}
			}
		}
		ds := e.deliveries(slow.ID)
		leased := 0
		for _, d := range ds {
			if d.LockedUntil != nil {
				leased++
			}
			if d.Attempts != 0 || d.Status != events.DeliveryPending {
				t.Fatalf("hanging endpoint's delivery %+v: want pending, no attempt recorded", d)
			}
		}
		if len(ds) != old+n || leased != cfg.PerEndpoint {
			t.Fatalf("hanging endpoint: %d deliveries, %d leased; want %d, %d (its limit)", len(ds), leased, old+n, cfg.PerEndpoint)
		}
		var q []struct {
			Leased bool `bun:"leased"`
			N      int  `bun:"n"`
		}
		if err := db.NewSelect().TableExpr("webhook_queue").ColumnExpr("locked_until IS NOT NULL AS leased, count(*) AS n").
			Where("endpoint_id = ?", slow.ID).GroupExpr("locked_until IS NOT NULL").OrderExpr("1").Scan(ctx, &q); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(q); got != fmt.Sprintf("[{false %d} {true %d}]", old+n-cfg.PerEndpoint, cfg.PerEndpoint) {
			t.Fatalf("hanging endpoint's queue (leased, count): %s", got)
		}
		once.Do(func() { close(release) })
		e.recorded(slow.ID, old+n)
	})
}
