package invoice_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// invoiceKeys is the public shape of an invoice (DESIGN.md, "Invoice"),
// with the point of sale's allow_tip, fulfilment, scanned_at,
// session_status, tip_amount and tip_cap_percent.
var invoiceKeys = []string{
	"allow_tip", "amount", "amount_due", "amount_paid", "checkout", "created_at", "currency", "description", "exception",
	"expires_at", "fulfilment", "id", "mark", "merchant_order_id", "metadata", "mode", "object", "paid_at", "payment_instructions", "payment_methods",
	"payment_session_headers", "payment_url", "redirect_url", "scanned_at", "session_status", "status", "terminal_id", "tip_amount", "tip_cap_percent", "updated_at",
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		created := b.create(func(p *invoice.CreateParams) {
			p.Amount = "1000000000000" // the maximum
			p.PaymentMethods = []string{"sandbox", "usdc_base_sepolia"}
			p.MerchantOrderID = "order-1042"
			p.Description = "2 × espresso"
			p.Metadata = map[string]string{"color": "blue", "émoji": "☕"}
			p.RedirectURL = "https://shop.example/thanks"
			p.ExpiresIn = 3600
		})
		got := b.get(created)

		if !strings.HasPrefix(got.ID, "inv_") || got.ID != created.ID {
			t.Errorf("id = %q, created %q", got.ID, created.ID)
		}
		if got.Status != invoice.StatusOpen || got.Exception != invoice.ExceptionNone || got.Mode != invoice.ModeTest {
			t.Errorf("status %s, exception %s, mode %s", got.Status, got.Exception, got.Mode)
		}
		if got.Amount.String() != "100000000000000" || got.Amount.Format(got.Decimals) != "1000000000000.00" || got.AmountPaid.Sign() != 0 {
			t.Errorf("amount %s (%d decimals), paid %s", got.Amount, got.Decimals, got.AmountPaid)
		}
		if !slices.Equal(got.PaymentMethods, []string{"sandbox", "usdc_base_sepolia"}) {
			t.Errorf("payment_methods = %v", got.PaymentMethods)
		}
		if got.Metadata["color"] != "blue" || got.Metadata["émoji"] != "☕" || len(got.Metadata) != 2 {
			t.Errorf("metadata = %v", got.Metadata)
		}
		if got.MerchantOrderID != "order-1042" || got.Description != "2 × espresso" || got.RedirectURL != "https://shop.example/thanks" {
			t.Errorf("text fields = %q %q %q", got.MerchantOrderID, got.Description, got.RedirectURL)
		}
		now := b.clock.Now()
		if !got.CreatedAt.Equal(now) || !got.UpdatedAt.Equal(now) || !got.ExpiresAt.Equal(now.Add(time.Hour)) || got.PaidAt != nil {
			t.Errorf("times: created %v updated %v expires %v paid %v (now %v)", got.CreatedAt, got.UpdatedAt, got.ExpiresAt, got.PaidAt, now)
		}
		if got.SessionToken == "" || got.SessionToken != created.SessionToken {
			t.Errorf("session token %q, created %q", got.SessionToken, created.SessionToken)
		}

		events := b.events(got.ID)
		if len(events) != 1 || events[0].Type != invoice.EventInvoiceCreated {
			t.Fatalf("events = %+v, want one invoice.created", events)
		}
		e := events[0]
		if !strings.HasPrefix(e.ID, "evt_") || e.MerchantID != b.merchant || e.Mode != invoice.ModeTest || e.Sequence != 0 {
			t.Errorf("event = %+v", e)
		}
		obj, _ := eventData(t, e)["object"].(map[string]any)
		if !slices.Equal(keysOf(obj), invoiceKeys) {
			t.Errorf("invoice object keys = %v\nwant %v", keysOf(obj), invoiceKeys)
		}
		if obj["object"] != "invoice" || obj["id"] != got.ID || obj["amount"] != "1000000000000.00" ||
			obj["amount_due"] != "1000000000000.00" || obj["amount_paid"] != "0.00" || obj["status"] != "open" ||
			obj["payment_url"] != "https://pay.test/pay/"+got.SessionToken || obj["paid_at"] != nil {
			t.Errorf("invoice object = %v", obj)
		}
	})
}

func TestCreateDefaults(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		got := b.get(b.create(func(p *invoice.CreateParams) { p.Currency = "JPY"; p.Amount = "1500" }))
		if !got.ExpiresAt.Equal(b.clock.Now().Add(invoice.DefaultExpiresIn * time.Second)) {
			t.Errorf("expires_at = %v, want default", got.ExpiresAt)
		}
		if obj := got.Object(fakeCheckout{}); obj.Metadata == nil || len(obj.Metadata) != 0 || len(got.Metadata) != 0 {
			t.Errorf("metadata = %v, public %v; want empty", got.Metadata, obj.Metadata)
		}
		if got.Amount.Format(got.Decimals) != "1500" || got.Decimals != 0 {
			t.Errorf("JPY amount = %s (%d)", got.Amount.Format(got.Decimals), got.Decimals)
		}
		at := b.clock.Now().Add(2 * time.Hour)
		got = b.get(b.create(func(p *invoice.CreateParams) { p.ExpiresAt = &at }))
		if !got.ExpiresAt.Equal(at) {
			t.Errorf("expires_at = %v, want %v", got.ExpiresAt, at)
		}
	})
}

func TestCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	soon := time.Date(2025, 3, 1, 12, 0, 30, 0, time.UTC)
	bigMeta := map[string]string{}
	for i := range 51 {
		bigMeta[strings.Repeat("k", 1+i%30)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	tests := []struct {
		name  string
		edit  func(*invoice.CreateParams)
		field string
	}{
		{"negative amount", func(p *invoice.CreateParams) { p.Amount = "-1.00" }, "amount"},
		{"zero amount", func(p *invoice.CreateParams) { p.Amount = "0" }, "amount"},
		{"exponent", func(p *invoice.CreateParams) { p.Amount = "1e3" }, "amount"},
		{"over-precise", func(p *invoice.CreateParams) { p.Amount = "1.001" }, "amount"},
		{"above 1e12", func(p *invoice.CreateParams) { p.Amount = "1000000000000.01" }, "amount"},
		{"unknown currency", func(p *invoice.CreateParams) { p.Currency = "XYZ" }, "currency"},
		{"no methods", func(p *invoice.CreateParams) { p.PaymentMethods = nil }, "payment_methods"},
		{"expires_in too short", func(p *invoice.CreateParams) { p.ExpiresIn = 59 }, "expires_in"},
		{"expires_in too long", func(p *invoice.CreateParams) { p.ExpiresIn = 604801 }, "expires_in"},
		{"expires_at too soon", func(p *invoice.CreateParams) { p.ExpiresAt = &soon }, "expires_at"},
		{"both expiries", func(p *invoice.CreateParams) { p.ExpiresAt = &soon; p.ExpiresIn = 600 }, "expires_in"},
		{"51 metadata keys", func(p *invoice.CreateParams) { p.Metadata = bigMeta }, "metadata"},
		{"metadata over 8 KiB", func(p *invoice.CreateParams) {
			p.Metadata = map[string]string{}
			for i := range 20 {
				p.Metadata[string(rune('a'+i))] = strings.Repeat("x", 450)
			}
		}, "metadata"},
		{"empty metadata key", func(p *invoice.CreateParams) { p.Metadata = map[string]string{"": "x"} }, "metadata"},
		{"redirect not http", func(p *invoice.CreateParams) { p.RedirectURL = "javascript:alert(1)" }, "redirect_url"},
		{"invalid UTF-8 description", func(p *invoice.CreateParams) { p.Description = "\xff" }, "description"},
	}
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := invoice.CreateParams{
					MerchantID: b.merchant, Mode: invoice.ModeTest, Amount: "25.00", Currency: "USD",
					PaymentMethods: []string{"sandbox"},
				}
				tc.edit(&p)
				_, err := b.svc.Create(b.ctx, p)
				var ve *invoice.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want a ValidationError", err)
				}
				if ve.Fields[0].Field != tc.field || ve.Fields[0].Code == "" || ve.Fields[0].Rule == "" {
					t.Errorf("field error = %+v, want field %s", ve.Fields[0], tc.field)
				}
			})
		}
		if n := b.count("invoices", "TRUE"); n != 0 {
			t.Errorf("%d invoices stored from bad input", n)
		}
		if n := b.count("events", "TRUE"); n != 0 {
			t.Errorf("%d events stored from bad input", n)
		}
	})
}

// TestCreateLiveNeedsPayableMethod: a live invoice none of whose methods
// has instructions would show its payor nothing to pay with, so it is
// refused (no_payable_method) and nothing is stored; a test invoice with the
// sandbox alone is fine (it is simulated), and a live one with instructions
// is created.
func TestCreateLiveNeedsPayableMethod(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		noInstructions := func(context.Context, bun.IDB, *invoice.Invoice) error { return nil }
		for _, tc := range []struct {
			name string
			edit func(*invoice.CreateParams)
		}{
			{"live without a prepare step", func(p *invoice.CreateParams) { p.Mode = invoice.ModeLive; p.PaymentMethods = []string{"usdc_base"} }},
			{"live whose prepare step gave no instructions", func(p *invoice.CreateParams) {
				p.Mode = invoice.ModeLive
				p.PaymentMethods = []string{"usdc_base"}
				p.Prepare = noInstructions
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := invoice.CreateParams{MerchantID: b.merchant, Amount: "25.00", Currency: "USD"}
				tc.edit(&p)
				_, err := b.svc.Create(b.ctx, p)
				var ve *invoice.ValidationError
				if !errors.As(err, &ve) || ve.Fields[0].Code != "no_payable_method" || ve.Fields[0].Field != "payment_methods" ||
					!strings.Contains(ve.Fields[0].Rule, "usdc_base") {
					t.Fatalf("err = %v, want no_payable_method naming the methods", err)
				}
			})
		}
		if n := b.count("invoices", "TRUE"); n != 0 {
			t.Errorf("%d invoices stored without a payable method", n)
		}
		if n := b.count("events", "TRUE"); n != 0 {
			t.Errorf("%d events stored without a payable method", n)
		}
		if inv := b.create(); inv.Mode != invoice.ModeTest || len(inv.Instructions) != 0 {
			t.Errorf("test invoice with the sandbox alone: %+v", inv)
		}
		if inv := b.create(payableLive); inv.Mode != invoice.ModeLive || len(inv.Instructions) != 1 {
			t.Errorf("live invoice with instructions: %+v", inv)
		}
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		other := b.newMerchant("Other Shop")
		var all []invoice.Invoice // oldest first
		for i := range 25 {
			b.clock.Advance(time.Second)
			order := "odd"
			if i%2 == 0 {
				order = "even"
			}
			all = append(all, b.create(func(p *invoice.CreateParams) { p.MerchantOrderID = order }))
			// Noise: another merchant's and a live invoice at the same instant.
			b.create(func(p *invoice.CreateParams) { p.MerchantID = other; p.MerchantOrderID = order })
			b.create(payableLive, func(p *invoice.CreateParams) { p.MerchantOrderID = order })
		}
		for _, i := range []int{3, 7, 11} {
			if _, err := b.svc.Cancel(b.ctx, b.merchant, invoice.ModeTest, all[i].ID); err != nil {
				t.Fatal(err)
			}
		}
		newestFirst := slices.Clone(all)
		slices.Reverse(newestFirst)
		ids := func(invs []invoice.Invoice) []string {
			out := make([]string, len(invs))
			for i, inv := range invs {
				out[i] = inv.ID
			}
			return out
		}
		base := invoice.ListParams{MerchantID: b.merchant, Mode: invoice.ModeTest}

		t.Run("pages", func(t *testing.T) {
			for _, limit := range []int{1, 7, 10, 24, 25, 100} {
				var seen []string
				p := base
				p.Limit = limit
				for pages := 0; ; pages++ {
					if pages > 30 {
						t.Fatal("pagination does not end")
					}
					page, more, err := b.svc.List(b.ctx, p)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > limit {
						t.Fatalf("limit %d: page of %d", limit, len(page))
					}
					seen = append(seen, ids(page)...)
					wantMore := len(seen) < 25
					if more != wantMore {
						t.Fatalf("limit %d after %d: has_more = %v, want %v", limit, len(seen), more, wantMore)
					}
					if !more {
						break
					}
					p.After = page[len(page)-1].ID
				}
				if !slices.Equal(seen, ids(newestFirst)) {
					t.Errorf("limit %d: pages give\n%v\nwant newest first\n%v", limit, seen, ids(newestFirst))
				}
			}
		})

		tests := []struct {
			name string
			edit func(*invoice.ListParams)
			want []invoice.Invoice // newest first
		}{
			{"status", func(p *invoice.ListParams) { p.Status = invoice.StatusCancelled },
				[]invoice.Invoice{all[11], all[7], all[3]}},
			{"merchant_order_id", func(p *invoice.ListParams) { p.MerchantOrderID = "odd" },
				filter(newestFirst, func(i int) bool { return i%2 == 1 })},
			{"created_gte", func(p *invoice.ListParams) { p.CreatedGTE = &all[20].CreatedAt },
				newestFirst[:5]},
			{"created_lte", func(p *invoice.ListParams) { p.CreatedLTE = &all[4].CreatedAt },
				newestFirst[20:]},
			{"created range", func(p *invoice.ListParams) {
				gte, lte := all[10].CreatedAt.Add(-time.Millisecond), all[12].CreatedAt.Add(time.Millisecond)
				p.CreatedGTE, p.CreatedLTE = &gte, &lte
			}, []invoice.Invoice{all[12], all[11], all[10]}},
			{"status and order", func(p *invoice.ListParams) {
				p.Status = invoice.StatusCancelled
				p.MerchantOrderID = "odd"
			}, []invoice.Invoice{all[11], all[7], all[3]}},
			{"after", func(p *invoice.ListParams) { p.After = all[2].ID }, []invoice.Invoice{all[1], all[0]}},
			{"nothing", func(p *invoice.ListParams) { p.MerchantOrderID = "none" }, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := base
				p.Limit = 100
				tc.edit(&p)
				got, more, err := b.svc.List(b.ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if more || !slices.Equal(ids(got), ids(tc.want)) {
					t.Errorf("got %v (has_more %v)\nwant %v", ids(got), more, ids(tc.want))
				}
			})
		}

		t.Run("limit bounds", func(t *testing.T) {
			for limit, want := range map[int]int{0: invoice.DefaultListLimit, -1: invoice.DefaultListLimit, 1000: 25} {
				p := base
				p.Limit = limit
				got, more, err := b.svc.List(b.ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != want || more != (want < 25) {
					t.Errorf("limit %d: %d invoices, has_more %v; want %d", limit, len(got), more, want)
				}
			}
		})

		t.Run("other merchant and mode", func(t *testing.T) {
			for _, p := range []invoice.ListParams{
				{MerchantID: other, Mode: invoice.ModeTest, Limit: 100},
				{MerchantID: b.merchant, Mode: invoice.ModeLive, Limit: 100},
			} {
				got, _, err := b.svc.List(b.ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 25 {
					t.Errorf("%s/%s: %d invoices, want 25", p.MerchantID, p.Mode, len(got))
				}
				for _, inv := range got {
					if inv.MerchantID != p.MerchantID || inv.Mode != p.Mode {
						t.Errorf("%s/%s lists %s of %s/%s", p.MerchantID, p.Mode, inv.ID, inv.MerchantID, inv.Mode)
					}
				}
			}
		})
	})
}

func filter(invs []invoice.Invoice, keep func(created int) bool) []invoice.Invoice {
	var out []invoice.Invoice
	for j, inv := range invs {
		if keep(len(invs) - 1 - j) {
			out = append(out, inv)
		}
	}
	return out
}

func TestIsolation(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		other := b.newMerchant("Other Shop")
		mine := b.create()
		live := b.create(payableLive)

		for _, tc := range []struct {
			name     string
			merchant string
			mode     invoice.Mode
			id       string
		}{
			{"other merchant", other, invoice.ModeTest, mine.ID},
			{"other mode", b.merchant, invoice.ModeLive, mine.ID},
			{"live from test", b.merchant, invoice.ModeTest, live.ID},
			{"unknown id", b.merchant, invoice.ModeTest, "inv_00000000000000000000000000"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := b.svc.Get(b.ctx, tc.merchant, tc.mode, tc.id); !errors.Is(err, invoice.ErrNotFound) {
					t.Errorf("Get: err = %v, want ErrNotFound", err)
				}
				if _, err := b.svc.Cancel(b.ctx, tc.merchant, tc.mode, tc.id); !errors.Is(err, invoice.ErrNotFound) {
					t.Errorf("Cancel: err = %v, want ErrNotFound", err)
				}
			})
		}
		if got := b.get(mine); got.Status != invoice.StatusOpen {
			t.Errorf("someone else's cancel moved the invoice to %s", got.Status)
		}
		if got := b.get(live); got.Status != invoice.StatusOpen {
			t.Errorf("a test-mode cancel moved the live invoice to %s", got.Status)
		}
		eventsOf := func(merchant string, mode invoice.Mode) ([]invoice.Event, error) {
			var evs []invoice.Event
			err := db.NewSelect().Model(&evs).Where("merchant_id = ? AND mode = ?", merchant, mode).Scan(b.ctx)
			return evs, err
		}
		evs, err := eventsOf(other, invoice.ModeTest)
		if err != nil || len(evs) != 0 {
			t.Errorf("other merchant has %d events (%v)", len(evs), err)
		}
		evs, err = eventsOf(b.merchant, invoice.ModeLive)
		if err != nil || len(evs) != 1 || evs[0].InvoiceID != live.ID {
			t.Errorf("live events = %+v (%v), want the live invoice's creation only", evs, err)
		}
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		inv := b.create()
		b.clock.Advance(time.Minute)
		got, err := b.svc.Cancel(b.ctx, b.merchant, invoice.ModeTest, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != invoice.StatusCancelled || !got.UpdatedAt.Equal(b.clock.Now()) {
			t.Errorf("cancel returned %s at %v", got.Status, got.UpdatedAt)
		}
		if stored := b.get(inv); stored.Status != invoice.StatusCancelled || !stored.UpdatedAt.Equal(b.clock.Now()) {
			t.Errorf("stored %s at %v", stored.Status, stored.UpdatedAt)
		}
		events := b.events(inv.ID)
		if len(events) != 2 || events[1].Type != invoice.EventInvoiceUpdated {
			t.Fatalf("events = %v", events)
		}
		data := eventData(t, events[1])
		if data["previous_status"] != "open" || data["object"].(map[string]any)["status"] != "cancelled" {
			t.Errorf("cancel event data = %v", data)
		}

		if _, err := b.svc.Cancel(b.ctx, b.merchant, invoice.ModeTest, inv.ID); !errors.Is(err, invoice.ErrNotCancellable) {
			t.Errorf("second cancel: err = %v", err)
		}
		paid := b.create()
		b.apply(obs(paid, "0xpaid", "25", invoice.PaymentConfirmed))
		before := len(b.events(paid.ID))
		if _, err := b.svc.Cancel(b.ctx, b.merchant, invoice.ModeTest, paid.ID); !errors.Is(err, invoice.ErrNotCancellable) {
			t.Errorf("cancel paid: err = %v", err)
		}
		if got := b.get(paid); got.Status != invoice.StatusPaid || len(b.events(paid.ID)) != before {
			t.Errorf("refused cancel changed the invoice (%s) or wrote events", got.Status)
		}
	})
}

func TestWithTxRollsBack(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		var id string
		errStop := errors.New("stop")
		err := db.RunInTx(b.ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			inv, err := b.svc.Create(invoice.WithTx(ctx, tx), invoice.CreateParams{
				MerchantID: b.merchant, Mode: invoice.ModeTest, Amount: "1.00", Currency: "USD", PaymentMethods: []string{"sandbox"},
			})
			if err != nil {
				return err
			}
			id = inv.ID
			if _, err := b.svc.Get(invoice.WithTx(ctx, tx), b.merchant, invoice.ModeTest, id); err != nil {
				return err
			}
			return errStop
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("err = %v", err)
		}
		if _, err := b.svc.Get(b.ctx, b.merchant, invoice.ModeTest, id); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("rolled-back invoice is visible: %v", err)
		}
		if n := b.count("events", "invoice_id = ?", id); n != 0 {
			t.Errorf("rolled-back invoice left %d events", n)
		}
	})
}

func TestCountByStatusAndPing(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		if err := b.svc.Ping(b.ctx); err != nil {
			t.Fatal(err)
		}
		b.create()
		b.create()
		c := b.create()
		if _, err := b.svc.Cancel(b.ctx, b.merchant, invoice.ModeTest, c.ID); err != nil {
			t.Fatal(err)
		}
		got, err := b.svc.CountByStatus(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[invoice.Status]int{"open": 2, "cancelled": 1, "processing": 0, "paid": 0, "expired": 0, "invalid": 0}
		if len(got) != len(want) {
			t.Errorf("CountByStatus = %v, want %v", got, want)
		}
		for s, n := range want {
			if got[s] != n {
				t.Errorf("CountByStatus = %v, want %v", got, want)
				break
			}
		}
	})
}
