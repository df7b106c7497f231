package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestWebhookSignaturesVerify delivers events to a receiver that verifies
// each with the Standard Webhooks library, as a merchant would; the same
// request with a tampered body or an old timestamp fails verification.
func TestWebhookSignaturesVerify(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newWHEnv(t, db)
		rc := newReceiver(t, nil)
		ep := e.endpoint(rc.URL+"/hooks?src=settle", invoice.EventInvoiceCreated)
		rc.setSecret(ep.Secret)
		e.start(db, e.fastConfig())
		sent := e.emit(3, invoice.EventInvoiceCreated)
		e.emit(1, invoice.EventInvoiceUpdated) // filtered out
		if ds := e.recorded(ep.ID, 3); len(ds) != 3 {
			t.Fatalf("%d deliveries, want 3 (one per invoice.created event)", len(ds))
		}
		got := rc.receipts()
		if len(got) != 3 {
			t.Fatalf("%d requests, want 3 (one per invoice.created event)", len(got))
		}
		want := map[string]invoice.Event{}
		for _, ev := range sent {
			want[ev.ID] = ev
		}
		wh, _ := standardwebhooks.NewWebhook(ep.Secret)
		for _, r := range got {
			if r.verifyErr != nil {
				t.Fatalf("receiver could not verify %s: %v", r.id, r.verifyErr)
			}
			ev, ok := want[r.id]
			if !ok {
				t.Fatalf("webhook-id %q is no event sent", r.id)
			}
			var body events.Event
			if err := json.Unmarshal(r.body, &body); err != nil || body.ID != ev.ID || body.Type != ev.Type || body.Object != "event" || body.Sequence == 0 {
				t.Fatalf("body %s (%v): want the event %s with its sequence", r.body, err, ev.ID)
			}
			if ct, ua := r.header.Get("Content-Type"), r.header.Get("User-Agent"); ct != "application/json" || ua != events.UserAgent {
				t.Fatalf("Content-Type %q, User-Agent %q", ct, ua)
			}
			tampered := bytes.Replace(r.body, []byte(`"event"`), []byte(`"evenT"`), 1)
			if err := wh.Verify(tampered, r.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
				t.Fatalf("tampered body verified: %v", err)
			}
			// An old request, replayed: signed correctly, but 6 minutes old.
			old := time.Now().Add(-6 * time.Minute)
			sig, err := events.Sign(ep.Secret, r.id, old, r.body)
			if err != nil {
				t.Fatal(err)
			}
			h := r.header.Clone()
			h.Set("webhook-timestamp", strconv.FormatInt(old.Unix(), 10))
			h.Set("webhook-signature", sig)
			if err := wh.Verify(r.body, h); !errors.Is(err, standardwebhooks.ErrMessageTooOld) {
				t.Fatalf("old timestamp: %v, want ErrMessageTooOld", err)
			}
			if err := wh.VerifyIgnoringTimestamp(r.body, h); err != nil {
				t.Fatalf("the old request's signature itself should be valid: %v", err)
			}
		}
		other, _ := standardwebhooks.NewWebhook(events.NewSecret())
		if err := other.Verify(got[0].body, got[0].header); err == nil {
			t.Fatal("another secret verified the delivery")
		}
		for _, d := range e.deliveries(ep.ID) {
			if d.Status != events.DeliverySucceeded || d.Attempts != 1 || d.LockedUntil != nil {
				t.Fatalf("delivery %+v: want succeeded after 1 attempt, unlocked", d)
			}
		}
	})
}

// TestSignKnownAnswer checks Sign against the library on a fixed message.
func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	got, err := events.Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" // the Standard Webhooks spec's example
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	lib, _ := wh.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	if lib != got {
		t.Fatalf("library signs %s, Sign %s", lib, got)
	}
	if _, err := events.Sign("whsec_not base64!", "id", ts, body); !errors.Is(err, events.ErrBadSecret) {
		t.Fatalf("bad secret: %v", err)
	}
	s := events.NewSecret()
	if !strings.HasPrefix(s, "whsec_") || len(s) != len("whsec_")+44 || s == events.NewSecret() {
		t.Fatalf("NewSecret = %q: want whsec_ and base64 of 32 random bytes", s)
	}
}

// TestWebhookRetriesUntilSuccess: a receiver that fails the first 3
// attempts gets the event on the 4th, and every attempt is recorded.
func TestWebhookRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newWHEnv(t, db)
		rc := newReceiver(t, func(n int) int {
			if n <= 3 {
				return []int{500, 502, 404}[n-1]
			}
			return 200
		})
		ep := e.endpoint(rc.URL)
		rc.setSecret(ep.Secret)
		e.start(db, e.fastConfig())
		ev := e.emit(1, invoice.EventInvoiceCreated)[0]
		eventually(t, 10*time.Second, "the 4th attempt", func() bool {
			ds := e.deliveries(ep.ID)
			return len(ds) == 1 && ds[0].Status == events.DeliverySucceeded
		})
		if c := rc.counts()[ev.ID]; c != 4 {
			t.Fatalf("receiver got %d requests for the event, want 4", c)
		}
		list, _, err := events.ListDeliveries(context.Background(), db, events.DeliveryListParams{
			MerchantID: e.merchant, Mode: invoice.ModeTest, EndpointID: ep.ID})
		if err != nil || len(list) != 1 {
			t.Fatalf("list deliveries: %d, %v", len(list), err)
		}
		d := list[0]
		if d.AttemptCount != 4 || d.Status != "succeeded" || d.EventID != ev.ID || d.EventType != ev.Type || d.LastStatusCode != 200 {
			t.Fatalf("delivery %+v", d)
		}
		var codes []int
		for _, a := range d.Attempts {
			codes = append(codes, a.StatusCode)
		}
		if want := []int{500, 502, 404, 200}; !equalInts(codes, want) {
			t.Fatalf("attempt status codes %v, want %v", codes, want)
		}
		if d.Attempts[0].ResponseExcerpt != "nope" || d.Attempts[3].ResponseExcerpt != `{"received":true}` {
			t.Fatalf("excerpts %q, %q", d.Attempts[0].ResponseExcerpt, d.Attempts[3].ResponseExcerpt)
		}
		for _, r := range rc.receipts() {
			if r.verifyErr != nil || r.id != ev.ID {
				t.Fatalf("attempt with webhook-id %s: %v", r.id, r.verifyErr)
			}
		}
		var got events.Endpoint
		if err := db.NewSelect().Model(&got).Where("id = ?", ep.ID).Scan(context.Background()); err != nil || got.FailingSince != nil || !got.Enabled {
			t.Fatalf("endpoint after a success: %+v, %v; want enabled, failing_since cleared", got, err)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWebhookScheduleRunsOut: after len(Schedule) failed attempts the
// delivery is failed and no further request is made.
func TestWebhookScheduleRunsOut(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newWHEnv(t, db)
		rc := newReceiver(t, func(int) int { return 500 })
		ep := e.endpoint(rc.URL)
		rc.setSecret(ep.Secret)
		cfg := e.fastConfig()
		cfg.Schedule = cfg.Schedule[:3]
		e.start(db, cfg)
		ev := e.emit(1, invoice.EventInvoiceCreated)[0]
		eventually(t, 10*time.Second, "the delivery to fail", func() bool {
			ds := e.deliveries(ep.ID)
			return len(ds) == 1 && ds[0].Status == events.DeliveryFailed
		})
		time.Sleep(50 * time.Millisecond)
		if c := rc.counts()[ev.ID]; c != 3 {
			t.Fatalf("%d attempts, want 3 (the schedule's length)", c)
		}
		d := e.deliveries(ep.ID)[0]
		if d.NextAttemptAt != nil || d.LastStatusCode != 500 || d.LastError != "HTTP 500" {
			t.Fatalf("failed delivery %+v", d)
		}
	})
}

// TestWebhookSlowEndpointIsolated: an endpoint that hangs holds at most its
// PerEndpoint workers; a healthy endpoint of the same events gets all of
// them while the hanging one still hangs.
func TestWebhookSlowEndpointIsolated(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newWHEnv(t, db)
		hanging := newReceiver(t, nil)
		release := make(chan struct{})
		hanging.delay = release
		var once sync.Once
		t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the server closes
		healthy := newReceiver(t, nil)
		slow := e.endpoint(hanging.URL)
		fast := e.endpoint(healthy.URL)
		hanging.setSecret(slow.Secret)
		healthy.setSecret(fast.Secret)
		cfg := e.fastConfig()
		cfg.Workers, cfg.PerEndpoint, cfg.Timeout = 4, 2, time.Minute
		e.start(db, cfg)
		const n = 20
		start := time.Now()
		sent := e.emit(n, invoice.EventInvoiceCreated)
		eventually(t, 15*time.Second, "every event at the healthy endpoint while the other hangs", func() bool {
			return len(healthy.counts()) == n
		})
		took := time.Since(start)
		inFlight, _ := e.db.NewSelect().Model((*events.Delivery)(nil)).
			Where("endpoint_id = ? AND locked_until IS NOT NULL AND status = ?", slow.ID, events.DeliveryPending).Count(context.Background())
		if inFlight != 2 {
			t.Fatalf("%d deliveries to the hanging endpoint in flight, want its limit 2", inFlight)
		}
		select {
		case <-hanging.arrivals:
			t.Fatal("the hanging endpoint answered before it was released")
		default:
		}
		t.Logf("%d events reached the healthy endpoint in %s while the other hung", n, took)
		once.Do(func() { close(release) })
		eventually(t, 15*time.Second, "the hanging endpoint, once released, to get every event", func() bool {
			return len(hanging.counts()) == n
		})
		for _, ev := range sent {
			if healthy.counts()[ev.ID] != 1 {
				t.Fatalf("healthy endpoint got %s %d times", ev.ID, healthy.counts()[ev.ID])
			}
		}
	})
}

// TestWebhookCrashedAttemptIsRetried: a delivery claimed by a worker that
// died (lease set, no attempt recorded) is delivered, with the same
// webhook-id, once its lease expires, and not before.
func TestWebhookCrashedAttemptIsRetried(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		e := newWHEnv(t, db)
		rc := newReceiver(t, nil)
		ep := e.endpoint(rc.URL)
		rc.setSecret(ep.Secret)
		// Sequence the event (and create its delivery) with no engine.
		ev := e.emit(1, invoice.EventInvoiceCreated)[0]
		eventually(t, 5*time.Second, "the delivery", func() bool { return len(e.deliveries(ep.ID)) == 1 })
		// The crashed worker's claim: leased for a minute, never recorded.
		lease := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
		if _, err := db.NewUpdate().Model((*events.Delivery)(nil)).Set("locked_until = ?", lease).
			Where("endpoint_id = ?", ep.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		e.start(db, e.fastConfig()) // the restarted process
		time.Sleep(200 * time.Millisecond)
		if len(rc.receipts()) != 0 {
			t.Fatal("a delivery under another worker's unexpired lease was attempted")
		}
		e.clock.Advance(2 * time.Minute) // the lease expires
		eventually(t, 10*time.Second, "the delivery after its lease expired", func() bool {
			ds := e.deliveries(ep.ID)
			return ds[0].Status == events.DeliverySucceeded
		})
		got := rc.receipts()
		if len(got) != 1 || got[0].id != ev.ID || got[0].verifyErr != nil {
			t.Fatalf("receipts %+v: want one, webhook-id %s, verified", got, ev.ID)
		}
		if d := e.deliveries(ep.ID)[0]; d.Attempts != 1 {
			t.Fatalf("attempts %d, want 1", d.Attempts)
		}
	})
}

// TestWebhookTwoEngines runs two engines (two instances, each with its own
// connection pool on Postgres) on one database: every event reaches the
// receiver exactly once when every attempt succeeds.
func TestWebhookTwoEngines(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newWHEnv(t, db)
		rc := newReceiver(t, nil)
		rc2 := newReceiver(t, nil)
		ep := e.endpoint(rc.URL)
		ep2 := e.endpoint(rc2.URL)
		rc.setSecret(ep.Secret)
		rc2.setSecret(ep2.Secret)
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
		e.start(db, cfg)
		e.start(second, cfg)
		const n = 80
		sent := e.emit(n, invoice.EventInvoiceCreated)
		eventually(t, 20*time.Second, "every event at both endpoints", func() bool {
			return len(rc.counts()) == n && len(rc2.counts()) == n
		})
		e.recorded(ep.ID, n)
		e.recorded(ep2.ID, n)
		for _, r := range []*receiver{rc, rc2} {
			counts := r.counts()
			for _, ev := range sent {
				if counts[ev.ID] != 1 {
					t.Fatalf("event %s received %d times, want once", ev.ID, counts[ev.ID])
				}
			}
			for _, got := range r.receipts() {
				if got.verifyErr != nil {
					t.Fatal(got.verifyErr)
				}
			}
		}
		attempts, err := db.NewSelect().Model((*events.Attempt)(nil)).Count(context.Background())
		if err != nil || attempts != 2*n {
			t.Fatalf("%d attempts recorded (%v), want %d", attempts, err, 2*n)
		}
	})
}
