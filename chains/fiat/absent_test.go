package fiat_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// railReads counts the statements that read rail accounts.
type railReads struct{ n atomic.Int64 }

func (h *railReads) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (h *railReads) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if strings.HasPrefix(e.Query, "SELECT") && strings.Contains(e.Query, `"rail_accounts"`) {
		h.n.Add(1)
	}
}

// TestAbsentRailsCached: while the key watcher runs, creating an invoice for
// a merchant without rail accounts reads none after the first time; an
// account added by another instance is offered as soon as that instance's
// change reaches this one (a notification on Postgres, the watcher's next
// look on SQLite), one added or deleted here at once; without the watcher every
// creation reads.
func TestAbsentRailsCached(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		reads := &railReads{}
		db.AddQueryHook(reads)
		svc := invoice.NewService(db.DB, nil, nil, nil)
		rails := fiat.NewRails(svc)
		m, _, err := svc.CreateMerchant(ctx, "Café")
		if err != nil {
			t.Fatal(err)
		}
		methods := []string{"sandbox", "fednow", "rtp"}
		prepare := func() (writes bool) {
			t.Helper()
			hook, writes, err := rails.Prepare(ctx, svc.IDB(ctx), m.ID, invoice.ModeTest, methods, false)
			if err != nil {
				t.Fatal(err)
			}
			if !writes {
				// Read or remembered, the missing rails are dropped.
				inv := &invoice.Invoice{Mode: invoice.ModeTest, PaymentMethods: slices.Clone(methods)}
				if err := hook(ctx, svc.IDB(ctx), inv); err != nil || !slices.Equal(inv.PaymentMethods, []string{"sandbox"}) {
					t.Fatalf("without rail accounts the methods are %v (%v), want [sandbox]", inv.PaymentMethods, err)
				}
				// And refused when asked for.
				hook, _, err := rails.Prepare(ctx, svc.IDB(ctx), m.ID, invoice.ModeTest, methods, true)
				if err != nil {
					t.Fatal(err)
				}
				var ve *invoice.ValidationError
				if err := hook(ctx, svc.IDB(ctx), &invoice.Invoice{Mode: invoice.ModeTest, PaymentMethods: slices.Clone(methods)}); !errors.As(err, &ve) {
					t.Fatalf("rails asked for without accounts: %v, want receiving_account_missing", err)
				}
			}
			return writes
		}
		readsOf := func(f func() bool) (bool, int64) {
			before := reads.n.Load()
			w := f()
			return w, reads.n.Load() - before
		}

		// No watcher: nothing is cached.
		for range 2 {
			if w, n := readsOf(prepare); w || n != 2 {
				t.Fatalf("without the watcher: writes %v, %d reads; want false, 2", w, n)
			}
		}

		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		interval := 20 * time.Millisecond
		var wake func() <-chan struct{}
		if db.Name == "postgres" {
			// Only a notification can bring the other instance's change.
			interval = time.Hour
			changed, connected := &events.Signal{}, &events.Signal{}
			go events.ListenAll(wctx, db.URL, map[string]*events.Signal{
				invoice.KeysChannel: changed, "settle_test_listening": connected,
			}, nil)
			<-connected.C()
			wake = changed.C
		}
		go func() { svc.RunKeyWatcher(wctx, interval, wake); close(done) }()
		defer func() { stop(); <-done }()
		waitUntil(t, func() bool { _, on := svc.ConfigEpoch(); return on })

		// Once read, the absence is remembered (within the epoch: retry
		// until two creations fall in one).
		waitUntil(t, func() bool {
			prepare()
			_, n := readsOf(prepare)
			return n == 0
		})

		other := fiat.NewRails(invoice.NewService(db.DB, nil, nil, nil)) // another instance
		a, err := other.CreateAccount(ctx, fiat.AccountParams{MerchantID: m.ID, Mode: invoice.ModeTest, Rail: fiat.RailFedNow,
			BankName: "First Example Bank", AccountName: "Café", AccountNumber: "000123456789", RoutingNumber: "021000021"})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, prepare) // offered: the hook writes a reference

		// Deleted here: at once no longer offered.
		if _, err := rails.DeleteAccount(ctx, m.ID, invoice.ModeTest, a.ID); err != nil {
			t.Fatal(err)
		}
		// Read again, not taken from memory (a notification of the other
		// instance's create arriving now moves the epoch once more and
		// costs a second read; remembering is checked next).
		if w, n := readsOf(prepare); w || n < 1 {
			t.Fatalf("after deleting the account here: writes %v, %d reads; want false and a read", w, n)
		}
		// Added here while its absence is remembered: at once offered.
		waitUntil(t, func() bool { _, n := readsOf(prepare); return n == 0 })
		if _, err := rails.CreateAccount(ctx, fiat.AccountParams{MerchantID: m.ID, Mode: invoice.ModeTest, Rail: fiat.RailRTP,
			BankName: "First Example Bank", AccountName: "Café", AccountNumber: "000123456789", RoutingNumber: "021000021"}); err != nil {
			t.Fatal(err)
		}
		if !prepare() {
			t.Fatal("an account added here is not offered at once")
		}
	})
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
