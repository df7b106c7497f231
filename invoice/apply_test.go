package invoice_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// paymentKeys is the public shape of a payment.
var paymentKeys = []string{
	"amount", "amount_units", "asset", "block_hash", "block_number", "created_at", "from", "id", "index", "invoice_id", "method",
	"mode", "network", "object", "observed_at", "status", "to", "tx_id", "updated_at",
}

// TestApplyWritesEvents follows one invoice through payments and checks,
// after every step, the invoice, its payments, and the events written with
// them (counted per type, so a missing or doubled event fails).
func TestApplyWritesEvents(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		inv := b.create()
		a := obs(inv, "0xa", "25", invoice.PaymentPending)
		c := obs(inv, "0xc", "10", invoice.PaymentConfirmed)
		with := func(o invoice.Observation, s invoice.PaymentStatus) invoice.Observation { o.Status = s; return o }

		steps := []struct {
			name         string
			obs          invoice.Observation
			wantStatus   invoice.Status
			wantExc      invoice.Exception
			wantPaid     string
			wantPayments map[string]invoice.PaymentStatus // by tx id
			wantCounts   map[string]int                   // cumulative, by event type
			wantPrev     invoice.Status                   // previous_status of a new invoice.updated, if any
		}{
			{"pending", a, "processing", "none", "0.00",
				map[string]invoice.PaymentStatus{"0xa": "pending"},
				map[string]int{"invoice.created": 1, "invoice_payment.updated": 1, "invoice.updated": 1}, "open"},
			{"pending again changes nothing", a, "processing", "none", "0.00",
				map[string]invoice.PaymentStatus{"0xa": "pending"},
				map[string]int{"invoice.created": 1, "invoice_payment.updated": 1, "invoice.updated": 1}, ""},
			{"confirmed", with(a, "confirmed"), "paid", "none", "25.00",
				map[string]invoice.PaymentStatus{"0xa": "confirmed"},
				map[string]int{"invoice.created": 1, "invoice_payment.updated": 2, "invoice.updated": 2}, "processing"},
			{"stale pending does not move a confirmed payment back", a, "paid", "none", "25.00",
				map[string]invoice.PaymentStatus{"0xa": "confirmed"},
				map[string]int{"invoice.created": 1, "invoice_payment.updated": 2, "invoice.updated": 2}, ""},
			{"confirmed again changes nothing", with(a, "confirmed"), "paid", "none", "25.00",
				map[string]invoice.PaymentStatus{"0xa": "confirmed"},
				map[string]int{"invoice.created": 1, "invoice_payment.updated": 2, "invoice.updated": 2}, ""},
			{"over-payment", c, "paid", "overpaid", "35.00",
				map[string]invoice.PaymentStatus{"0xa": "confirmed", "0xc": "confirmed"},
				map[string]int{"invoice.created": 1, "invoice_payment.updated": 3, "invoice.updated": 3}, "paid"},
			{"reorg reverses the first payment", with(a, "reversed"), "open", "underpaid", "10.00",
				map[string]invoice.PaymentStatus{"0xa": "reversed", "0xc": "confirmed"},
				map[string]int{"invoice.created": 1, "invoice_payment.updated": 4, "invoice.updated": 4}, "paid"},
			{"the reversed payment is mined again", with(a, "pending"), "processing", "underpaid", "10.00",
				map[string]invoice.PaymentStatus{"0xa": "pending", "0xc": "confirmed"},
				map[string]int{"invoice.created": 1, "invoice_payment.updated": 5, "invoice.updated": 5}, "open"},
			{"and confirms", with(a, "confirmed"), "paid", "overpaid", "35.00",
				map[string]invoice.PaymentStatus{"0xa": "confirmed", "0xc": "confirmed"},
				map[string]int{"invoice.created": 1, "invoice_payment.updated": 6, "invoice.updated": 6}, "processing"},
		}
		for _, st := range steps {
			b.clock.Advance(time.Second)
			before := b.events(inv.ID)
			got, pay, err := b.svc.Apply(b.ctx, st.obs)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			stored := b.get(inv)
			for _, g := range []invoice.Invoice{got, stored} {
				if g.Status != st.wantStatus || g.Exception != st.wantExc || g.AmountPaid.Format(2) != st.wantPaid {
					t.Errorf("%s: invoice %s/%s paid %s, want %s/%s paid %s", st.name,
						g.Status, g.Exception, g.AmountPaid.Format(2), st.wantStatus, st.wantExc, st.wantPaid)
				}
			}
			if (stored.Status == invoice.StatusPaid) != (stored.PaidAt != nil) {
				t.Errorf("%s: status %s with paid_at %v", st.name, stored.Status, stored.PaidAt)
			}
			if pay.TxID != st.obs.TxID || pay.Status != st.wantPayments[st.obs.TxID] {
				t.Errorf("%s: Apply returned payment %s %s", st.name, pay.TxID, pay.Status)
			}
			payments, err := b.svc.Payments(b.ctx, inv.ID)
			if err != nil {
				t.Fatal(err)
			}
			gotPayments := map[string]invoice.PaymentStatus{}
			for _, p := range payments {
				gotPayments[p.TxID] = p.Status
			}
			if !maps.Equal(gotPayments, st.wantPayments) {
				t.Errorf("%s: payments %v, want %v", st.name, gotPayments, st.wantPayments)
			}
			if counts := b.eventCounts(inv.ID); !maps.Equal(counts, st.wantCounts) {
				t.Errorf("%s: events %v, want %v", st.name, counts, st.wantCounts)
			}

			// The new events: their shapes and previous_status.
			after := b.events(inv.ID)
			for _, e := range after[len(before):] {
				if !e.CreatedAt.Equal(b.clock.Now()) || e.MerchantID != b.merchant || e.Mode != invoice.ModeTest {
					t.Errorf("%s: event %s at %v for %s/%s", st.name, e.Type, e.CreatedAt, e.MerchantID, e.Mode)
				}
				data := eventData(t, e)
				obj, _ := data["object"].(map[string]any)
				switch e.Type {
				case invoice.EventInvoicePaymentUpdated:
					if !slices.Equal(keysOf(obj), paymentKeys) {
						t.Errorf("%s: payment object keys %v\nwant %v", st.name, keysOf(obj), paymentKeys)
					}
					if obj["object"] != "payment" || obj["tx_id"] != st.obs.TxID || obj["invoice_id"] != inv.ID ||
						obj["status"] != string(pay.Status) || obj["amount"] != st.obs.Amount.Format(6) ||
						obj["amount_units"] != st.obs.Amount.String() || obj["id"] != pay.ID {
						t.Errorf("%s: payment object %v", st.name, obj)
					}
				case invoice.EventInvoiceUpdated:
					if data["previous_status"] != string(st.wantPrev) {
						t.Errorf("%s: previous_status %v, want %q", st.name, data["previous_status"], st.wantPrev)
					}
					if !slices.Equal(keysOf(obj), invoiceKeys) {
						t.Errorf("%s: invoice object keys %v", st.name, keysOf(obj))
					}
					if obj["status"] != string(st.wantStatus) || obj["exception"] != string(st.wantExc) ||
						obj["amount_paid"] != st.wantPaid || obj["id"] != inv.ID {
						t.Errorf("%s: invoice object %v", st.name, obj)
					}
				default:
					t.Errorf("%s: unexpected event %s", st.name, e.Type)
				}
			}
			if st.wantPrev == "" && len(after) != len(before) {
				t.Errorf("%s: %d new events, want none", st.name, len(after)-len(before))
			}
		}
	})
}

func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		inv := b.create()
		o := obs(inv, "0xsame", "25", invoice.PaymentConfirmed)
		first, pay1, err := b.svc.Apply(b.ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		events := b.events(inv.ID)
		b.clock.Advance(time.Minute)
		second, pay2, err := b.svc.Apply(b.ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if pay1.ID != pay2.ID || second.Status != first.Status || !second.UpdatedAt.Equal(first.UpdatedAt) ||
			second.AmountPaid.Cmp(first.AmountPaid) != 0 || !second.PaidAt.Equal(*first.PaidAt) {
			t.Errorf("second apply: %+v / %+v\nfirst: %+v / %+v", second, pay2, first, pay1)
		}
		if n := b.count("payments", "TRUE"); n != 1 {
			t.Errorf("%d payments, want 1", n)
		}
		if again := b.events(inv.ID); len(again) != len(events) || len(events) != 3 {
			t.Errorf("events: %d after the first apply, %d after the second; want 3 and 3", len(events), len(again))
		}
	})
}

func TestApplyConflict(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		first := b.create()
		second := b.create()
		b.apply(obs(first, "0xdup", "25", invoice.PaymentPending))

		for _, tc := range []struct {
			name string
			obs  invoice.Observation
		}{
			{"same transaction for another invoice", obs(second, "0xdup", "25", invoice.PaymentPending)},
			{"confirmed for another invoice", obs(second, "0xdup", "25", invoice.PaymentConfirmed)},
			{"same transaction, other amount", obs(first, "0xdup", "24", invoice.PaymentConfirmed)},
			{"same transaction and status, other amount", obs(first, "0xdup", "24", invoice.PaymentPending)},
			{"same transaction, other decimals", func() invoice.Observation {
				o := obs(first, "0xdup", "25", invoice.PaymentPending)
				o.Decimals, o.Amount = 2, invoice.NewUnits(25000000)
				return o
			}()},
			{"same transaction, other asset", func() invoice.Observation {
				o := obs(first, "0xdup", "25", invoice.PaymentConfirmed)
				o.Asset = "USDT"
				return o
			}()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, _, err := b.svc.Apply(b.ctx, tc.obs); !errors.Is(err, invoice.ErrConflict) {
					t.Fatalf("err = %v, want ErrConflict", err)
				}
			})
		}
		if got := b.get(second); got.Status != invoice.StatusOpen || got.AmountPaid.Sign() != 0 {
			t.Errorf("second invoice moved to %s, paid %s", got.Status, got.AmountPaid)
		}
		if n := b.count("payments", "invoice_id = ?", second.ID); n != 0 {
			t.Errorf("second invoice has %d payments", n)
		}
		if counts := b.eventCounts(second.ID); !maps.Equal(counts, map[string]int{"invoice.created": 1}) {
			t.Errorf("second invoice events %v", counts)
		}
		if got := b.get(first); got.Status != invoice.StatusProcessing {
			t.Errorf("first invoice is %s", got.Status)
		}
		payments, _ := b.svc.Payments(b.ctx, first.ID)
		if len(payments) != 1 || payments[0].Status != invoice.PaymentPending || payments[0].Amount.String() != "25000000" {
			t.Errorf("first invoice's payment changed: %+v", payments)
		}
		// The same transaction at another index is another payment.
		o := obs(second, "0xdup", "25", invoice.PaymentConfirmed)
		o.Index = 1
		if got := b.apply(o); got.Status != invoice.StatusPaid {
			t.Errorf("index 1: %s", got.Status)
		}
	})
}

func TestApplyRefuses(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		inv := b.create()
		o := obs(inv, "0xok", "25", invoice.PaymentConfirmed)
		if _, _, err := b.svc.Apply(b.ctx, func() invoice.Observation { o := o; o.InvoiceID = "inv_unknown"; return o }()); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("unknown invoice: err = %v, want ErrNotFound", err)
		}
		for name, edit := range map[string]func(*invoice.Observation){
			"no network":        func(o *invoice.Observation) { o.Network = "" },
			"no tx id":          func(o *invoice.Observation) { o.TxID = "" },
			"unknown status":    func(o *invoice.Observation) { o.Status = "settled" },
			"negative amount":   func(o *invoice.Observation) { o.Amount = invoice.NewUnits(-1) },
			"negative decimals": func(o *invoice.Observation) { o.Decimals = -1 },
		} {
			bad := o
			edit(&bad)
			if _, _, err := b.svc.Apply(b.ctx, bad); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		// A payment the database refuses for another reason than its key is
		// an error, not a conflict (which callers treat as final).
		nul := o
		nul.TxID = "0x\x00"
		if _, _, err := b.svc.Apply(b.ctx, nul); err == nil || errors.Is(err, invoice.ErrConflict) {
			t.Errorf("NUL in tx id: err = %v, want an error that is not ErrConflict", err)
		}
		if n := b.count("payments", "TRUE"); n != 0 {
			t.Errorf("%d payments stored from refused observations", n)
		}
		if got := b.get(inv); got.Status != invoice.StatusOpen || len(b.events(inv.ID)) != 1 {
			t.Errorf("refused observations moved the invoice to %s", got.Status)
		}
	})
}

// TestApplyLargeAmounts stores amounts beyond int64 (an 18-decimal token) and
// reads them back exactly, and rounds toward zero against the currency.
func TestApplyLargeAmounts(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		inv := b.create()
		o := obs(inv, "0xdai", "1", invoice.PaymentConfirmed)
		o.Decimals, o.Asset, o.Amount = 18, "DAI", mustUnits("24.999999999999999999", 18)
		if got := b.apply(o); got.Status != invoice.StatusOpen || got.Exception != invoice.ExceptionUnderpaid || got.AmountPaid.Format(2) != "24.99" {
			t.Errorf("after 24.999…9 DAI: %s/%s %s", got.Status, got.Exception, got.AmountPaid.Format(2))
		}
		b.clock.Advance(time.Second)
		top := obs(inv, "0xdai2", "1", invoice.PaymentConfirmed)
		top.Decimals, top.Asset, top.Amount = 18, "DAI", invoice.NewUnits(1)
		if got := b.apply(top); got.Status != invoice.StatusPaid || got.Exception != invoice.ExceptionNone || got.AmountPaid.Format(2) != "25.00" {
			t.Errorf("after the top-up: %s/%s %s", got.Status, got.Exception, got.AmountPaid.Format(2))
		}
		payments, err := b.svc.Payments(b.ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(payments) != 2 || payments[0].Amount.String() != "24999999999999999999" || payments[1].Amount.String() != "1" {
			t.Errorf("payments read back as %v", payments)
		}
	})
}

// TestApplyConcurrent delivers observations from many goroutines at once, as
// several watchers (or instances) would. Exactly-once matters most on
// Postgres, where they really run in parallel.
func TestApplyConcurrent(t *testing.T) {
	t.Parallel()
	const n = 8
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		run := func(f func(i int) error) []error {
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = f(i)
				}()
			}
			close(start)
			wg.Wait()
			return errs
		}

		t.Run("same observation", func(t *testing.T) {
			inv := b.create()
			o := obs(inv, "0xrace", "25", invoice.PaymentConfirmed)
			for i, err := range run(func(int) error { _, _, err := b.svc.Apply(b.ctx, o); return err }) {
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
				}
			}
			if n := b.count("payments", "invoice_id = ?", inv.ID); n != 1 {
				t.Errorf("%d payments, want 1", n)
			}
			if got := b.get(inv); got.AmountPaid.Format(2) != "25.00" || got.Status != invoice.StatusPaid || got.Exception != invoice.ExceptionNone {
				t.Errorf("invoice %s/%s paid %s, want paid once", got.Status, got.Exception, got.AmountPaid.Format(2))
			}
			want := map[string]int{"invoice.created": 1, "invoice_payment.updated": 1, "invoice.updated": 1}
			if counts := b.eventCounts(inv.ID); !maps.Equal(counts, want) {
				t.Errorf("events %v, want %v", counts, want)
			}
		})

		t.Run("different payments to one invoice", func(t *testing.T) {
			inv := b.create(func(p *invoice.CreateParams) { p.Amount = "40.00" })
			for i, err := range run(func(i int) error {
				_, _, err := b.svc.Apply(b.ctx, obs(inv, fmt.Sprintf("0xpart%d", i), "5", invoice.PaymentConfirmed))
				return err
			}) {
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
				}
			}
			if got := b.get(inv); got.AmountPaid.Format(2) != "40.00" || got.Status != invoice.StatusPaid {
				t.Errorf("invoice %s paid %s, want paid 40.00 (no lost update)", got.Status, got.AmountPaid.Format(2))
			}
			if counts := b.eventCounts(inv.ID); counts["invoice_payment.updated"] != n || counts["invoice.updated"] != 2 {
				t.Errorf("events %v, want %d payment events and 2 invoice updates (underpaid, then paid)", counts, n)
			}
		})

		t.Run("same transaction for different invoices", func(t *testing.T) {
			invs := make([]invoice.Invoice, n)
			for i := range invs {
				invs[i] = b.create()
			}
			errs := run(func(i int) error {
				_, _, err := b.svc.Apply(b.ctx, obs(invs[i], "0xcontested", "25", invoice.PaymentConfirmed))
				return err
			})
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, invoice.ErrConflict):
					t.Errorf("goroutine %d: %v, want nil or ErrConflict", i, err)
				}
			}
			if won != 1 {
				t.Errorf("%d invoices took the transaction, want 1", won)
			}
			if n := b.count("payments", "tx_id = ?", "0xcontested"); n != 1 {
				t.Errorf("%d payments stored, want 1", n)
			}
			paid := 0
			for _, inv := range invs {
				if b.get(inv).Status == invoice.StatusPaid {
					paid++
				}
			}
			if paid != 1 {
				t.Errorf("%d invoices paid, want 1", paid)
			}
		})
	})
}
