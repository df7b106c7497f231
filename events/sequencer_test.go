package events_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

func newEvent(t *testing.T, merchant, typ string) invoice.Event {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	return invoice.Event{ID: invoice.NewID("evt_", now), MerchantID: merchant, Mode: invoice.ModeTest,
		Type: typ, CreatedAt: now, Data: `{"object":{}}`}
}

func sequences(t *testing.T, db bun.IDB) map[string]int64 {
	t.Helper()
	var rows []invoice.Event
	if err := db.NewSelect().Model(&rows).Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.ID] = r.Sequence
	}
	return out
}

// TestSequencerCommitOrder writes an event in a transaction that stays open
// while a later one commits: the late commit must get the higher sequence,
// so a reader that saw the first sequence never misses the second.
func TestSequencerCommitOrder(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		svc := invoice.NewService(db.DB, nil, nil, nil)
		m, _, err := svc.CreateMerchant(ctx, "Shop")
		if err != nil {
			t.Fatal(err)
		}
		seq := events.NewSequencer(db.DB, nil, &events.Signal{}, &events.Signal{})
		early := newEvent(t, m.ID, invoice.EventInvoiceCreated) // written first, committed last
		late := newEvent(t, m.ID, invoice.EventInvoiceCreated)
		if db.Name == "postgres" {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := invoice.InsertEvents(ctx, tx, early); err != nil {
				t.Fatal(err)
			}
			if err := invoice.InsertEvents(ctx, db, late); err != nil {
				t.Fatal(err)
			}
			if n, err := seq.Step(ctx); err != nil || n != 1 {
				t.Fatalf("step with an open transaction: %d, %v; want 1", n, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		} else {
			// SQLite has one writer: commit order is write order.
			if err := invoice.InsertEvents(ctx, db, late); err != nil {
				t.Fatal(err)
			}
			if n, err := seq.Step(ctx); err != nil || n != 1 {
				t.Fatalf("step: %d, %v; want 1", n, err)
			}
			if err := invoice.InsertEvents(ctx, db, early); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := seq.Step(ctx); err != nil || n != 1 {
			t.Fatalf("second step: %d, %v; want 1", n, err)
		}
		got := sequences(t, db)
		if got[late.ID] != 1 || got[early.ID] != 2 {
			t.Fatalf("sequences %v: want the one committed first to be 1", got)
		}
		if n, err := seq.Step(ctx); err != nil || n != 0 {
			t.Fatalf("idle step: %d, %v", n, err)
		}
	})
}

func TestSequencerBatchesAndFanOut(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		svc := invoice.NewService(db.DB, nil, nil, nil)
		m, _, _ := svc.CreateMerchant(ctx, "Shop")
		other, _, _ := svc.CreateMerchant(ctx, "Other")
		now := time.Now().UTC().Truncate(time.Microsecond)
		endpoints := []events.Endpoint{
			{ID: "whe_all", MerchantID: m.ID, Mode: invoice.ModeTest, URL: "http://127.0.0.1/a", EnabledEvents: []string{"*"}, Enabled: true, Secret: "whsec_x", CreatedAt: now, UpdatedAt: now},
			{ID: "whe_paid", MerchantID: m.ID, Mode: invoice.ModeTest, URL: "http://127.0.0.1/b", EnabledEvents: []string{invoice.EventInvoiceUpdated}, Enabled: true, Secret: "whsec_x", CreatedAt: now, UpdatedAt: now},
			{ID: "whe_off", MerchantID: m.ID, Mode: invoice.ModeTest, URL: "http://127.0.0.1/c", EnabledEvents: []string{"*"}, Enabled: false, Secret: "whsec_x", CreatedAt: now, UpdatedAt: now},
			{ID: "whe_live", MerchantID: m.ID, Mode: invoice.ModeLive, URL: "https://x.example/d", EnabledEvents: []string{"*"}, Enabled: true, Secret: "whsec_x", CreatedAt: now, UpdatedAt: now},
			{ID: "whe_other", MerchantID: other.ID, Mode: invoice.ModeTest, URL: "http://127.0.0.1/e", EnabledEvents: []string{"*"}, Enabled: true, Secret: "whsec_x", CreatedAt: now, UpdatedAt: now},
		}
		if _, err := db.NewInsert().Model(&endpoints).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		var written []invoice.Event
		for i := range 7 {
			typ := invoice.EventInvoiceCreated
			if i%2 == 1 {
				typ = invoice.EventInvoiceUpdated
			}
			written = append(written, newEvent(t, m.ID, typ))
		}
		if err := invoice.InsertEvents(ctx, db, written...); err != nil {
			t.Fatal(err)
		}
		seq := events.NewSequencer(db.DB, nil, &events.Signal{}, &events.Signal{})
		seq.Batch = 3
		for _, want := range []int{3, 3, 1, 0} {
			if n, err := seq.Step(ctx); err != nil || n != want {
				t.Fatalf("step = %d, %v; want %d", n, err, want)
			}
		}
		got := sequences(t, db)
		for i, e := range written {
			if got[e.ID] != int64(i+1) {
				t.Fatalf("event %d has sequence %d, want %d (write order)", i, got[e.ID], i+1)
			}
		}
		var deliveries []events.Delivery
		if err := db.NewSelect().Model(&deliveries).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, d := range deliveries {
			count[d.EndpointID]++
			if d.Status != events.DeliveryPending || d.NextAttemptAt == nil {
				t.Fatalf("delivery %+v is not pending and due", d)
			}
		}
		if count["whe_all"] != 7 || count["whe_paid"] != 3 || len(count) != 2 {
			t.Fatalf("deliveries per endpoint %v: want whe_all 7, whe_paid 3, nothing else", count)
		}
	})
}

// TestSequencerVacuums: on Postgres the sequencer vacuums the events table
// every VacuumEvery events it numbers, so that the dead versions its
// updates leave in the indexes of events do not make each scan for
// unsequenced events grow with the table when autovacuum does not run.
func TestSequencerVacuums(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		if db.Name != "postgres" {
			t.Skip("SQLite keeps no dead row versions in its indexes")
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		svc := invoice.NewService(db.DB, nil, nil, nil)
		m, _, _ := svc.CreateMerchant(ctx, "Shop")
		var written []invoice.Event
		for range 30 {
			written = append(written, newEvent(t, m.ID, invoice.EventInvoiceCreated))
		}
		if err := invoice.InsertEvents(ctx, db, written...); err != nil {
			t.Fatal(err)
		}
		seq := events.NewSequencer(db.DB, nil, &events.Signal{}, &events.Signal{})
		seq.Batch, seq.VacuumEvery, seq.Interval = 10, 20, 10*time.Millisecond
		done := make(chan struct{})
		go func() { seq.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var vacuums int64
			if err := db.NewRaw("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'events' AND schemaname = current_schema()").
				Scan(ctx, &vacuums); err != nil {
				t.Fatal(err)
			}
			if vacuums > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the events table was never vacuumed")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestSequencersRace runs three sequencers at once (three instances on one
// database) while writers commit events, and a reader that reads the
// numbered events as a client resuming by sequence would. The reader must
// only ever see a gapless prefix 1..k (a number visible before a lower one
// would be skipped for good by a client that resumed past it); at the end
// every event has exactly one number, 1..N, and every endpoint one
// delivery per event it wants.
func TestSequencersRace(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		svc := invoice.NewService(db.DB, nil, nil, nil)
		m, _, _ := svc.CreateMerchant(ctx, "Shop")
		other, _, _ := svc.CreateMerchant(ctx, "Other") // no endpoint
		now := time.Now().UTC().Truncate(time.Microsecond)
		ep := events.Endpoint{ID: "whe_all", MerchantID: m.ID, Mode: invoice.ModeTest, URL: "http://127.0.0.1/a",
			EnabledEvents: []string{"*"}, Enabled: true, Secret: "whsec_x", CreatedAt: now, UpdatedAt: now}
		if _, err := db.NewInsert().Model(&ep).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		const writers, perWriter = 4, 60
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					merchant := m.ID
					if (w+i)%3 == 0 {
						merchant = other.ID
					}
					if err := invoice.InsertEvents(ctx, db, newEvent(t, merchant, invoice.EventInvoiceCreated)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		writing := make(chan struct{})
		go func() { wg.Wait(); close(writing) }()

		const total = writers * perWriter
		var seqs sync.WaitGroup
		for range 3 {
			seq := events.NewSequencer(db.DB, nil, &events.Signal{}, &events.Signal{})
			seq.Batch = 7
			seqs.Go(func() {
				for {
					_, err := seq.Step(ctx)
					if err != nil {
						t.Errorf("step: %v", err)
						return
					}
					var left int64
					if left, err = db.NewSelect().TableExpr("events").Where("sequence IS NULL").Count(ctx); err != nil {
						t.Error(err)
						return
					}
					select {
					case <-writing:
						if left == 0 {
							return
						}
					default:
					}
				}
			})
		}
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			for {
				var got []int64
				if err := db.NewSelect().TableExpr("events").Column("sequence").Where("sequence IS NOT NULL").
					OrderExpr("sequence").Scan(ctx, &got); err != nil {
					t.Error(err)
					return
				}
				for i, s := range got {
					if s != int64(i+1) {
						t.Errorf("a reader saw sequences %v…: %d visible before %d", got[:min(len(got), i+1)], s, i+1)
						return
					}
				}
				if len(got) == total {
					return
				}
			}
		}()
		seqs.Wait()
		<-readerDone
		if t.Failed() {
			return
		}
		got := sequences(t, db)
		seen := map[int64]bool{}
		for id, s := range got {
			if s < 1 || s > total || seen[s] {
				t.Fatalf("event %s has sequence %d (of %d, seen before: %v)", id, s, total, seen[s])
			}
			seen[s] = true
		}
		if len(got) != total {
			t.Fatalf("%d events, want %d", len(got), total)
		}
		var deliveries []events.Delivery
		if err := db.NewSelect().Model(&deliveries).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, d := range deliveries {
			per[d.EventID]++
		}
		var want int
		for id := range got {
			var e invoice.Event
			if err := db.NewSelect().Model(&e).Where("id = ?", id).Scan(ctx); err != nil {
				t.Fatal(err)
			}
			if e.MerchantID == m.ID {
				want++
				if per[id] != 1 {
					t.Fatalf("event %s has %d deliveries, want 1", id, per[id])
				}
			} else if per[id] != 0 {
				t.Fatalf("event %s of a merchant without endpoints has %d deliveries", id, per[id])
			}
		}
		if len(deliveries) != want {
			t.Fatalf("%d deliveries, want %d", len(deliveries), want)
		}
	})
}
