package invoice_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// fakeClock is the service's clock in tests: it stands still until a test
// moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeCheckout gives predictable checkout handles.
type fakeCheckout struct{}

func (fakeCheckout) Links(token string) (string, invoice.SessionHeaders) {
	return "https://pay.test/pay/" + token, invoice.SessionHeaders{SessionToken: token, Signature: "sig-" + token}
}

// bundle is one service on one fresh database, with a merchant.
type bundle struct {
	t        *testing.T
	ctx      context.Context
	db       storetest.DB
	svc      *invoice.Service
	clock    *fakeClock
	merchant string
}

func setup(t *testing.T, db storetest.DB) *bundle {
	t.Helper()
	clock := &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc := invoice.NewService(db.DB, clock, fakeCheckout{}, nil)
	b := &bundle{t: t, ctx: context.Background(), db: db, svc: svc, clock: clock}
	b.merchant = b.newMerchant("Test Shop")
	return b
}

func (b *bundle) newMerchant(name string) string {
	b.t.Helper()
	m, _, err := b.svc.CreateMerchant(b.ctx, name)
	if err != nil {
		b.t.Fatal(err)
	}
	return m.ID
}

// create stores a 25.00 USD test invoice of the bundle's merchant, changed by
// edit if given.
func (b *bundle) create(edit ...func(*invoice.CreateParams)) invoice.Invoice {
	b.t.Helper()
	p := invoice.CreateParams{
		MerchantID: b.merchant, Mode: invoice.ModeTest, Amount: "25.00", Currency: "USD",
		PaymentMethods: []string{"sandbox"},
	}
	for _, e := range edit {
		e(&p)
	}
	inv, err := b.svc.Create(b.ctx, p)
	if err != nil {
		b.t.Fatalf("create: %v", err)
	}
	return inv
}

func (b *bundle) get(inv invoice.Invoice) invoice.Invoice {
	b.t.Helper()
	got, err := b.svc.Get(b.ctx, inv.MerchantID, inv.Mode, inv.ID)
	if err != nil {
		b.t.Fatalf("get %s: %v", inv.ID, err)
	}
	return got
}

// obs is a USDC observation of amount (decimal string) for inv.
func obs(inv invoice.Invoice, tx, amount string, status invoice.PaymentStatus) invoice.Observation {
	return invoice.Observation{
		InvoiceID: inv.ID, Method: "sandbox", Network: "sandbox", TxID: tx, Index: 0,
		Asset: "USDC", Decimals: 6, Amount: mustUnits(amount, 6), Status: status,
		From: "0xfrom", To: "0xto", ObservedAt: time.Date(2025, 3, 1, 12, 0, 30, 0, time.UTC),
	}
}

func (b *bundle) apply(o invoice.Observation) invoice.Invoice {
	b.t.Helper()
	inv, _, err := b.svc.Apply(b.ctx, o)
	if err != nil {
		b.t.Fatalf("apply %s %s: %v", o.TxID, o.Status, err)
	}
	return inv
}

// events returns the events of one invoice, in the order they were written
// (ids increase within a process; sequences are assigned later).
func (b *bundle) events(invoiceID string) []invoice.Event {
	b.t.Helper()
	var out []invoice.Event
	err := b.db.NewSelect().Model(&out).Where("invoice_id = ?", invoiceID).OrderExpr("id").Scan(b.ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

// eventCounts counts an invoice's events by type.
func (b *bundle) eventCounts(invoiceID string) map[string]int {
	b.t.Helper()
	out := map[string]int{}
	for _, e := range b.events(invoiceID) {
		out[e.Type]++
	}
	return out
}

// count counts rows of table matching where.
func (b *bundle) count(table, where string, args ...any) int {
	b.t.Helper()
	n, err := b.db.NewSelect().TableExpr(table).Where(where, args...).Count(b.ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	return int(n)
}

// eventData decodes an event's data.
func eventData(t *testing.T, e invoice.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(e.Data), &m); err != nil {
		t.Fatalf("event %s data: %v", e.ID, err)
	}
	return m
}

// payableLive makes an invoice live, payable by FedNow to a bank account (as the
// rails' Prepare would set it): a live invoice needs a method a payor can use.
func payableLive(p *invoice.CreateParams) {
	p.Mode = invoice.ModeLive
	p.PaymentMethods = []string{"fednow"}
	p.Prepare = func(_ context.Context, _ bun.IDB, inv *invoice.Invoice) error {
		inv.Instructions = append(inv.Instructions, invoice.Instruction{
			Method: "fednow", Network: "fednow", Asset: "USD", Amount: "25.00", AmountUnits: "2500",
			Address: "000123456789", Reference: "SETTLE-TEST",
		})
		return nil
	}
}
