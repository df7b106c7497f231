package events_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// hubEnv is a hub and a sequencer running on a database with two merchants.
type hubEnv struct {
	db      storetest.DB
	hub     *events.Hub
	written *events.Signal
	a, b    string // merchant ids
	stop    func()
}

func newHubEnv(t *testing.T, db storetest.DB, cfg events.HubConfig) *hubEnv {
	t.Helper()
	ctx := context.Background()
	svc := invoice.NewService(db.DB, nil, nil, nil)
	a, _, err := svc.CreateMerchant(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := svc.CreateMerchant(ctx, "B")
	if err != nil {
		t.Fatal(err)
	}
	written, sequenced := &events.Signal{}, &events.Signal{}
	seq := events.NewSequencer(db.DB, nil, written, sequenced)
	hub := events.NewHub(db.DB, nil, cfg, sequenced)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { seq.Run(runCtx) })
	wg.Go(func() { hub.Run(runCtx) })
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return &hubEnv{db: db, hub: hub, written: written, a: a.ID, b: b.ID, stop: stop}
}

// write stores events of merchant and wakes the sequencer.
func (e *hubEnv) write(t *testing.T, merchant string, n int) []invoice.Event {
	t.Helper()
	out := make([]invoice.Event, n)
	for i := range out {
		out[i] = newEvent(t, merchant, invoice.EventInvoiceCreated)
		if err := invoice.InsertEvents(context.Background(), e.db.DB, out[i]); err != nil {
			t.Fatal(err)
		}
	}
	e.written.Notify()
	return out
}

func (e *hubEnv) subscribe(t *testing.T, merchant, ip string) *events.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.hub.Subscribe(ctx, events.Subscriber{MerchantID: merchant, Mode: invoice.ModeTest, IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// take collects n messages from s.
func take(t *testing.T, s *events.Subscription, n int) []events.Message {
	t.Helper()
	var out, buf []events.Message
	deadline := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case <-s.Ready():
			buf = s.Take(buf)
			out = append(out, buf...)
		case <-deadline:
			t.Fatalf("got %d of %d messages", len(out), n)
		}
	}
	return out
}

func TestHubFansOutInOrder(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newHubEnv(t, db, events.HubConfig{Page: 3}) // pages smaller than a burst
		subA1, subA2, subB := e.subscribe(t, e.a, "10.0.0.1"), e.subscribe(t, e.a, "10.0.0.2"), e.subscribe(t, e.b, "10.0.0.3")
		time.Sleep(50 * time.Millisecond)
		var wantA, wantB []invoice.Event
		for range 4 {
			wantA = append(wantA, e.write(t, e.a, 3)...)
			wantB = append(wantB, e.write(t, e.b, 1)...)
		}
		for _, s := range []*events.Subscription{subA1, subA2} {
			got := take(t, s, len(wantA))
			for i, m := range got {
				if i > 0 && m.Sequence <= got[i-1].Sequence {
					t.Fatalf("sequence %d after %d", m.Sequence, got[i-1].Sequence)
				}
				if want := `"id":"` + wantA[i].ID + `"`; !contains(m.Data, want) {
					t.Fatalf("message %d is %s, want event %s", i, m.Data, wantA[i].ID)
				}
			}
		}
		got := take(t, subB, len(wantB))
		for i, m := range got {
			if !contains(m.Data, wantB[i].ID) {
				t.Fatalf("merchant B got %s, want %s", m.Data, wantB[i].ID)
			}
		}
	})
}

func TestHubSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newHubEnv(t, db, events.HubConfig{SendBuffer: 3})
		slow := e.subscribe(t, e.a, "10.0.0.1")
		fast := e.subscribe(t, e.a, "10.0.0.2")
		for range 5 {
			e.write(t, e.a, 2)
			take(t, fast, 2) // keeps up
		}
		select {
		case <-slow.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the slow subscriber was not dropped")
		}
		if !errors.Is(slow.Err(), events.ErrSlowReader) {
			t.Errorf("slow subscriber ended with %v, want ErrSlowReader", slow.Err())
		}
		if fast.Err() != nil {
			t.Errorf("the subscriber that kept up was dropped: %v", fast.Err())
		}
		if n := e.hub.Connections(); n != 1 {
			t.Errorf("hub holds %d subscriptions, want 1", n)
		}
		if q := slow.Take(nil); len(q) > 3 {
			t.Errorf("slow queue holds %d messages, more than SendBuffer", len(q))
		}
	})
}

func TestHubLimitsAndStop(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newHubEnv(t, db, events.HubConfig{MaxPerIP: 2, MaxPerMerchant: 3})
		ctx := context.Background()
		s1 := e.subscribe(t, e.a, "10.0.0.1")
		e.subscribe(t, e.a, "10.0.0.1")
		if _, err := e.hub.Subscribe(ctx, events.Subscriber{MerchantID: e.b, Mode: invoice.ModeTest, IP: "10.0.0.1"}); !errors.Is(err, events.ErrTooManyForIP) {
			t.Errorf("third from one IP: %v, want ErrTooManyForIP", err)
		}
		e.subscribe(t, e.a, "10.0.0.2")
		if _, err := e.hub.Subscribe(ctx, events.Subscriber{MerchantID: e.a, Mode: invoice.ModeTest, IP: "10.0.0.3"}); !errors.Is(err, events.ErrTooManyForMerchant) {
			t.Errorf("fourth of one merchant: %v, want ErrTooManyForMerchant", err)
		}
		s1.Close()
		s1.Close() // twice is harmless
		e.subscribe(t, e.a, "10.0.0.1")

		e.stop()
		if _, err := e.hub.Subscribe(ctx, events.Subscriber{MerchantID: e.b, Mode: invoice.ModeTest, IP: "10.0.0.9"}); !errors.Is(err, events.ErrHubStopped) {
			t.Errorf("after stop: %v, want ErrHubStopped", err)
		}
		if n := e.hub.Connections(); n != 0 {
			t.Errorf("%d subscriptions after stop", n)
		}
	})
}

// TestHubLimitsPerMode: each mode has its own places, per merchant and per
// IP address.
func TestHubLimitsPerMode(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newHubEnv(t, db, events.HubConfig{MaxPerIP: 2, MaxPerMerchant: 2})
		ctx := context.Background()
		sub := func(mode invoice.Mode, ip string) error {
			s, err := e.hub.Subscribe(ctx, events.Subscriber{MerchantID: e.a, Mode: mode, IP: ip})
			if err == nil {
				t.Cleanup(s.Close)
			}
			return err
		}
		for _, ip := range []string{"10.0.0.1", "10.0.0.1"} {
			if err := sub(invoice.ModeTest, ip); err != nil {
				t.Fatal(err)
			}
		}
		if err := sub(invoice.ModeTest, "10.0.0.1"); !errors.Is(err, events.ErrTooManyForIP) || !strings.Contains(err.Error(), "in test mode (limit 2)") {
			t.Errorf("third test from one IP: %v", err)
		}
		if err := sub(invoice.ModeTest, "10.0.0.2"); !errors.Is(err, events.ErrTooManyForMerchant) || !strings.Contains(err.Error(), "in test mode (limit 2)") {
			t.Errorf("third test of one merchant: %v", err)
		}
		for range 2 {
			if err := sub(invoice.ModeLive, "10.0.0.1"); err != nil {
				t.Errorf("live beside a full test mode: %v", err)
			}
		}
		if err := sub(invoice.ModeLive, "10.0.0.3"); !errors.Is(err, events.ErrTooManyForMerchant) || !strings.Contains(err.Error(), "in live mode (limit 2)") {
			t.Errorf("third live of one merchant: %v", err)
		}
	})
}

// TestHubEndRevoked: the subscriptions opened with a revoked key end with
// ErrKeyRevoked and free their places; the others stay.
func TestHubEndRevoked(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newHubEnv(t, db, events.HubConfig{})
		ctx := context.Background()
		svc := invoice.NewService(db.DB, nil, nil, nil)
		_, revoked, err := svc.CreateKey(ctx, e.a, invoice.ModeTest, invoice.ScopeMerchant)
		if err != nil {
			t.Fatal(err)
		}
		_, kept, err := svc.CreateKey(ctx, e.a, invoice.ModeTest, invoice.ScopeMerchant)
		if err != nil {
			t.Fatal(err)
		}
		sub := func(prefix string) *events.Subscription {
			s, err := e.hub.Subscribe(ctx, events.Subscriber{MerchantID: e.a, Mode: invoice.ModeTest, KeyPrefix: prefix, IP: "10.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			return s
		}
		gone1, gone2, stays := sub(revoked.Prefix), sub(revoked.Prefix), sub(kept.Prefix)
		if err := e.hub.EndRevoked(ctx, svc); err != nil || stays.Err() != nil || gone1.Err() != nil {
			t.Fatalf("nothing revoked yet: %v, %v, %v", err, stays.Err(), gone1.Err())
		}
		if err := svc.RevokeKey(ctx, revoked.Prefix); err != nil {
			t.Fatal(err)
		}
		if err := e.hub.EndRevoked(ctx, svc); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*events.Subscription{gone1, gone2} {
			if !errors.Is(s.Err(), events.ErrKeyRevoked) {
				t.Errorf("subscription of the revoked key: %v, want ErrKeyRevoked", s.Err())
			}
		}
		if stays.Err() != nil {
			t.Errorf("subscription of another key ended: %v", stays.Err())
		}
		if n := e.hub.Connections(); n != 1 {
			t.Errorf("hub holds %d subscriptions, want 1", n)
		}
	})
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
