package client_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

// storedEventIDs waits until every event is numbered and returns the ids
// of the merchant's test events in sequence order, read from the store.
func (e *env) storedEventIDs(db storetest.DB) []string {
	e.t.Helper()
	ctx := context.Background()
	e.waitNumbered(db)
	var ids []string
	var after int64
	for {
		page, more, err := events.List(ctx, db.DB, events.ListParams{MerchantID: e.merchant, Mode: invoice.ModeTest, After: after, Limit: 100})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range page {
			ids = append(ids, ev.ID)
		}
		if !more {
			return ids
		}
		after = page[len(page)-1].Sequence
	}
}

// TestEvents walks the recovery feed across pages and from a cursor, and
// reads one event.
func TestEvents(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		var paid string
		for i := range 5 {
			inv := e.createInvoice(ctx, "3.00")
			if i == 2 {
				paid = inv.ID
				if _, err := e.c.SimulatePayment(ctx, inv.ID, client.SimulatePaymentParams{Amount: "3.00"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := e.storedEventIDs(db)
		if len(want) != 7 { // 5 created, 1 updated, 1 payment
			t.Fatalf("%d events stored, want 7", len(want))
		}
		var got []string
		var last int64
		for ev, err := range e.c.EventsWith(ctx, client.ListEventsParams{Limit: 2}) {
			if err != nil {
				t.Fatal(err)
			}
			if ev.Sequence <= last {
				t.Fatalf("sequence %d after %d", ev.Sequence, last)
			}
			last = ev.Sequence
			got = append(got, ev.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("walked %v\nwant %v", got, want)
		}
		got = got[:0]
		for ev, err := range e.c.Events(ctx, want[2]) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ev.ID)
		}
		if !slices.Equal(got, want[3:]) {
			t.Fatalf("after %s: %v, want %v", want[2], got, want[3:])
		}
		var updated []client.Event
		for ev, err := range e.c.EventsWith(ctx, client.ListEventsParams{Type: client.EventInvoiceUpdated, InvoiceID: paid}) {
			if err != nil {
				t.Fatal(err)
			}
			updated = append(updated, ev)
		}
		if len(updated) != 1 {
			t.Fatalf("%d invoice.updated events of %s, want 1", len(updated), paid)
		}
		ev, err := e.c.GetEvent(ctx, updated[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := ev.Invoice()
		if err != nil || inv.ID != paid || inv.Status != client.StatusPaid || ev.PreviousStatus() != client.StatusOpen {
			t.Fatalf("event %s: invoice %+v, %v, previous %q", ev.ID, inv, err, ev.PreviousStatus())
		}

		n := 0
		for _, err := range e.c.Events(ctx, "evt_unknown") {
			n++
			wantError(t, err, 422, client.CodeInvalidCursor)
		}
		if n != 1 {
			t.Errorf("a bad cursor yielded %d times, want one error", n)
		}
		for range e.c.EventsWith(ctx, client.ListEventsParams{Limit: 1}) {
			break // stopping early must not panic
		}
	})
}

// TestStream follows the merchant WebSocket from a cursor through a proxy,
// has the proxy cut every connection while events are written, and checks
// that the stream resumes with every event once, in order.
func TestStream(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		e.createInvoice(ctx, "1.00")
		e.createInvoice(ctx, "2.00")
		start := e.storedEventIDs(db)[0]

		p := newCutProxy(t, strings.TrimPrefix(e.URL, "http://"))
		c := e.clientAt("http://"+p.addr(), e.key)
		disconnects := make(chan error, 10)
		cfg := client.StreamConfig{ReconnectInitial: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
			OnDisconnect: func(err error, _ time.Duration) {
				if len(disconnects) == 0 {
					// Written while no connection is up: the next one must
					// replay them.
					e.createInvoice(ctx, "4.00")
					e.createInvoice(ctx, "5.00")
				}
				disconnects <- err
			}}
		streamCtx, stop := context.WithCancel(ctx)
		defer stop()
		got := make(chan client.Event, 100)
		ended := make(chan error, 1)
		go func() {
			for ev, err := range c.StreamWith(streamCtx, start, cfg) {
				if err != nil {
					ended <- err
					return
				}
				got <- ev
			}
		}()
		var ids []string
		read := func(n int) {
			t.Helper()
			for range n {
				select {
				case ev := <-got:
					ids = append(ids, ev.ID)
				case err := <-ended:
					t.Fatalf("stream ended: %v", err)
				case <-time.After(10 * time.Second):
					t.Fatalf("after %d events: no more", len(ids))
				}
			}
		}
		read(1) // the second invoice's, replayed
		e.createInvoice(ctx, "3.00")
		read(1) // live
		p.cut()
		read(2) // written while down
		e.createInvoice(ctx, "6.00")
		read(1)
		if len(disconnects) == 0 {
			t.Fatal("the proxy cut no connection")
		}
		want := e.storedEventIDs(db)[1:]
		if !slices.Equal(ids, want) {
			t.Fatalf("streamed %v\nwant     %v", ids, want)
		}
		select {
		case ev := <-got:
			t.Fatalf("extra event %s", ev.ID)
		case <-time.After(200 * time.Millisecond):
		}
		stop()
		if err := <-ended; err != context.Canceled {
			t.Errorf("stream ended with %v, want context.Canceled", err)
		}

		// Refusals no reconnection can fix end the stream with the problem.
		for _, tc := range []struct {
			key, after, code string
			status           int
		}{
			{"sk_test_wrong", "", client.CodeInvalidAPIKey, 401},
			{e.key, "evt_unknown", client.CodeInvalidCursor, 422},
		} {
			for _, err := range e.client(tc.key).Stream(ctx, tc.after) {
				wantError(t, err, tc.status, tc.code)
				break
			}
		}
	})
}

// waitNumbered waits until the sequencer has numbered every event written
// so far: events are listed only once numbered, moments after their commit.
func (e *env) waitNumbered(db storetest.DB) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := db.NewSelect().TableExpr("events").Where("sequence IS NULL").Count(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d events still unnumbered", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
