package invoice_test

import (
	"context"
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
		processing := b.create(short)
		b.apply(obs(processing, "0xpending", "25", invoice.PaymentPending))
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
			{"processing", processing, "expired", "none", "processing"},
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

		// A payment for the processing invoice that confirms after expiry.
		got := b.apply(obs(processing, "0xpending", "25", invoice.PaymentConfirmed))
		if got.Status != invoice.StatusPaid || got.Exception != invoice.ExceptionPaidLate {
			t.Errorf("late confirmation: %s/%s, want paid/paid_late", got.Status, got.Exception)
		}
		want := map[string]int{"invoice.created": 1, "invoice_payment.updated": 2, "invoice.updated": 3}
		if counts := b.eventCounts(processing.ID); !maps.Equal(counts, want) {
			t.Errorf("processing invoice events %v, want %v", counts, want)
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
