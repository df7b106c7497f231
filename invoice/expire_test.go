package invoice_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

func timeMillis(i int) time.Duration { return time.Duration(i) * time.Millisecond }

func TestExpireDue(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		short := func(p *invoice.CreateParams) { p.ExpiresIn = 60 }
		long := func(p *invoice.CreateParams) { p.ExpiresIn = 3600 }

		open := b.create(short)
		// Seen in time (obs is seen 30 s after creation), not yet confirmed:
		// expiry is "open before", so it is not due.
		processing := b.create(short)
		b.apply(obs(processing, "0xpending", "25", invoice.PaymentPending))
		partial := b.create(short)
		b.apply(obs(partial, "0xpendingpart", "20", invoice.PaymentPending))
		underpaid := b.create(short)
		b.apply(obs(underpaid, "0xpart", "10", invoice.PaymentConfirmed))
		paid := b.create(short)
		b.apply(obs(paid, "0xpaid", "25", invoice.PaymentConfirmed))
		cancelled := b.create(short)
		if _, err := b.svc.Cancel(b.ctx, b.merchant, invoice.ModeTest, cancelled.ID); err != nil {
			t.Fatal(err)
		}
		notDue := b.create(long)
		otherMerchant := b.create(short, func(p *invoice.CreateParams) { p.MerchantID = b.newMerchant("Other") })

		b.clock.Advance(59 * time.Second)
		if n, err := b.svc.ExpireDue(b.ctx, 100); err != nil || n != 0 {
			t.Fatalf("before expires_at: ExpireDue = %d, %v; want 0", n, err)
		}
		b.clock.Advance(time.Second) // exactly expires_at
		n, err := b.svc.ExpireDue(b.ctx, 100)
		if err != nil || n != 4 {
			t.Fatalf("ExpireDue = %d, %v; want 4", n, err)
		}

		for _, tc := range []struct {
			name     string
			inv      invoice.Invoice
			want     invoice.Status
			wantExc  invoice.Exception
			wantPrev invoice.Status // "" when no invoice.updated is expected from the expirer
		}{
			{"open", open, "expired", "none", "open"},
			{"processing, covered in time", processing, "processing", "none", ""},
			{"processing, too little in time", partial, "expired", "none", "processing"},
			{"underpaid", underpaid, "expired", "underpaid", "open"},
			{"other merchant", otherMerchant, "expired", "none", "open"},
			{"paid", paid, "paid", "none", ""},
			{"cancelled", cancelled, "cancelled", "none", ""},
			{"not due", notDue, "open", "none", ""},
		} {
			got := b.get(tc.inv)
			if got.Status != tc.want || got.Exception != tc.wantExc {
				t.Errorf("%s: %s/%s, want %s/%s", tc.name, got.Status, got.Exception, tc.want, tc.wantExc)
			}
			events := b.events(tc.inv.ID)
			last := events[len(events)-1]
			expiredNow := last.Type == invoice.EventInvoiceUpdated && last.CreatedAt.Equal(b.clock.Now())
			if expiredNow != (tc.wantPrev != "") {
				t.Errorf("%s: last event %s at %v", tc.name, last.Type, last.CreatedAt)
				continue
			}
			if expiredNow {
				data := eventData(t, last)
				if data["previous_status"] != string(tc.wantPrev) || data["object"].(map[string]any)["status"] != "expired" {
					t.Errorf("%s: event data %v", tc.name, data)
				}
			}
		}

		// Nothing left to do; the next run writes nothing.
		before := b.count("events", "TRUE")
		b.clock.Advance(time.Hour)
		if n, err := b.svc.ExpireDue(b.ctx, 100); err != nil || n != 1 {
			t.Errorf("an hour later: ExpireDue = %d, %v; want 1 (the long invoice)", n, err)
		}
		if n, err := b.svc.ExpireDue(b.ctx, 100); err != nil || n != 0 {
			t.Errorf("again: ExpireDue = %d, %v; want 0", n, err)
		}
		if got := b.count("events", "TRUE"); got != before+1 {
			t.Errorf("%d new events, want 1", got-before)
		}

		// The processing invoice's payment, seen in time, confirms after
		// expiry: paid, on time.
		got := b.apply(obs(processing, "0xpending", "25", invoice.PaymentConfirmed))
		if got.Status != invoice.StatusPaid || got.Exception != invoice.ExceptionNone {
			t.Errorf("confirmation after expiry of a payment seen in time: %s/%s, want paid/none", got.Status, got.Exception)
		}
		want := map[string]int{"invoice.created": 1, "invoice_payment.updated": 2, "invoice.updated": 2}
		if counts := b.eventCounts(processing.ID); !maps.Equal(counts, want) {
			t.Errorf("processing invoice events %v, want %v", counts, want)
		}
		// Money first seen after expiry is late (obs dates the observation
		// in time; what counts is when settle first recorded it).
		if got := b.apply(obs(open, "0xlate", "25", invoice.PaymentConfirmed)); got.Status != invoice.StatusPaid || got.Exception != invoice.ExceptionPaidLate {
			t.Errorf("payment first seen after expiry: %s/%s, want paid/paid_late", got.Status, got.Exception)
		}
	})
}

func TestExpireDueLimit(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		for range 5 {
			b.create(func(p *invoice.CreateParams) { p.ExpiresIn = 60 })
		}
		b.clock.Advance(time.Hour)
		for _, want := range []int{2, 2, 1, 0} {
			if n, err := b.svc.ExpireDue(b.ctx, 2); err != nil || n != want {
				t.Fatalf("ExpireDue(2) = %d, %v; want %d", n, err, want)
			}
		}
	})
}

// TestExpireDueOnTime: a processing invoice whose payment was seen in time
// is never expired, however often the expirer runs and however many such
// invoices come first; it expires once that payment is reversed.
func TestExpireDueOnTime(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		var held []invoice.Invoice
		for i := range 5 {
			inv := b.create(func(p *invoice.CreateParams) { p.ExpiresIn = 60 })
			b.apply(obs(inv, fmt.Sprintf("0xheld%d", i), "25", invoice.PaymentPending))
			held = append(held, inv)
		}
		// Due after all the held ones: a scan that stopped at the first
		// page of them would never reach it.
		last := b.create(func(p *invoice.CreateParams) { p.ExpiresIn = 120 })
		b.clock.Advance(time.Hour)
		if n, err := b.svc.ExpireDue(b.ctx, 2); err != nil || n != 1 {
			t.Fatalf("ExpireDue(2) = %d, %v; want 1 (the open invoice behind five processing ones)", n, err)
		}
		if got := b.get(last); got.Status != invoice.StatusExpired {
			t.Errorf("the open invoice is %s, want expired", got.Status)
		}
		for range 2 {
			if n, err := b.svc.ExpireDue(b.ctx, 2); err != nil || n != 0 {
				t.Fatalf("again: ExpireDue(2) = %d, %v; want 0", n, err)
			}
		}
		for _, inv := range held {
			if got := b.get(inv); got.Status != invoice.StatusProcessing {
				t.Errorf("%s: %s, want processing", inv.ID, got.Status)
			}
			if counts := b.eventCounts(inv.ID); counts[invoice.EventInvoiceUpdated] != 1 {
				t.Errorf("%s: events %v, want only open → processing", inv.ID, counts)
			}
		}
		// Reversed after expiry: nothing seen in time is left.
		if got := b.apply(obs(held[0], "0xheld0", "25", invoice.PaymentReversed)); got.Status != invoice.StatusExpired {
			t.Errorf("reversed after expiry: %s, want expired", got.Status)
		}
	})
}

// TestExpireDueConcurrent runs several expirers at once, as several
// instances would: each invoice is expired once, with one event, and counted
// by the expirer that moved it only.
func TestExpireDueConcurrent(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		var invs []invoice.Invoice
		for range 12 {
			invs = append(invs, b.create(func(p *invoice.CreateParams) { p.ExpiresIn = 60 }))
		}
		b.clock.Advance(time.Hour)
		const workers = 4
		counts := make([]int, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := b.svc.ExpireDue(b.ctx, 100)
				if err != nil {
					t.Errorf("expirer %d: %v", i, err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		total := 0
		for _, n := range counts {
			total += n
		}
		if total != len(invs) {
			t.Errorf("expirers counted %v, %d in all; want %d", counts, total, len(invs))
		}
		for _, inv := range invs {
			want := map[string]int{"invoice.created": 1, "invoice.updated": 1}
			if got := b.eventCounts(inv.ID); !maps.Equal(got, want) || b.get(inv).Status != invoice.StatusExpired {
				t.Errorf("%s: events %v, status %s", inv.ID, got, b.get(inv).Status)
			}
		}
	})
}

// TestExpireDueInTx expires invoices in a caller's transaction; another
// expirer that found the same invoices due before that commit waits for their
// row locks, then finds them already moved and counts none of them.
func TestExpireDueInTx(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		inv := b.create(func(p *invoice.CreateParams) { p.ExpiresIn = 60 })
		b.clock.Advance(time.Hour)
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()

		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if n, err := b.svc.ExpireDue(invoice.WithTx(ctx, tx), 10); err != nil || n != 1 {
			t.Fatalf("ExpireDue in a transaction = %d, %v; want 1", n, err)
		}
		type result struct {
			n   int
			err error
		}
		other := make(chan result, 1)
		if db.Name == "postgres" {
			go func() {
				n, err := b.svc.ExpireDue(ctx, 10)
				other <- result{n, err}
			}()
			// Wait until the second expirer waits for the row lock.
			for {
				var waiting int
				err := db.NewRaw("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE ?",
					"%"+inv.ID+"%").Scan(ctx, &waiting)
				if err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatal("the second expirer never waited for the lock")
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if db.Name == "postgres" {
			if r := <-other; r.err != nil || r.n != 0 {
				t.Errorf("the second expirer = %d, %v; want 0: it moved nothing", r.n, r.err)
			}
		}
		if got := b.get(inv); got.Status != invoice.StatusExpired {
			t.Errorf("status %s", got.Status)
		}
		if counts := b.eventCounts(inv.ID); counts[invoice.EventInvoiceUpdated] != 1 {
			t.Errorf("events %v, want one invoice.updated", counts)
		}
	})
}

func TestRunExpirer(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		inv := b.create(func(p *invoice.CreateParams) { p.ExpiresIn = 60 })
		b.clock.Advance(time.Minute)
		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			b.svc.RunExpirer(ctx, 0) // 0: the default interval; the first sweep is at once
		}()
		// The expirer sweeps at once on start; wait for its result, not for time.
		deadline := time.After(10 * time.Second)
		for b.get(inv).Status != invoice.StatusExpired {
			select {
			case <-deadline:
				t.Fatal("the expirer did not expire the invoice")
			case <-time.After(5 * time.Millisecond):
			}
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("RunExpirer did not return when its context ended")
		}
	})
}
