package chains_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// BenchmarkMatch records transfers against a store holding open invoices,
// half on derived (xpub) addresses and half on one shared address told apart
// by unique amounts. SQLite always; Postgres too with SETTLE_BENCH_POSTGRES=1
// (and SETTLE_TEST_POSTGRES_URL); 1,000,000 open invoices with
// SETTLE_BENCH_LARGE=1. Sub-benchmarks:
//
//   - miss: a transfer to an address nobody has, which Record looks up
//     (payments, unmatched, deposits by exact amount and by code, accounts)
//     and drops: the lookups alone, no write;
//   - pay: a transfer of the exact amount, each to the next invoice, applied
//     as a confirmed payment (the payment, the invoice and its events
//     written). After every invoice was paid once, the next round pays them
//     again with new transactions (overpaid);
//   - unmatched: a transfer to the shared address of an amount nobody holds,
//     kept as an unmatched payment.
func BenchmarkMatch(b *testing.B) {
	dialects := []string{"sqlite"}
	if os.Getenv("SETTLE_BENCH_POSTGRES") == "1" {
		if os.Getenv(storetest.PostgresEnv) == "" {
			b.Fatalf("SETTLE_BENCH_POSTGRES=1 needs %s", storetest.PostgresEnv)
		}
		dialects = append(dialects, "postgres")
	}
	sizes := []int{1000, 100_000}
	if os.Getenv("SETTLE_BENCH_LARGE") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	for _, dialect := range dialects {
		b.Run(dialect, func(b *testing.B) {
			for _, n := range sizes {
				b.Run(fmt.Sprintf("open=%d", n), func(b *testing.B) {
					s := newMatchStore(b, dialect, n)
					each := func(n int) int { return n }
					b.Run("miss", func(b *testing.B) {
						none := func(int) int { return 0 }
						s.run(b, "unmatched_payments", none, func(i int) chains.Transfer {
							return s.transfer(otherAddress, invoice.NewUnits(5_000_000+int64(i%chains.MaxUniqueOffset)+1))
						})
					})
					b.Run("pay", func(b *testing.B) {
						s.run(b, "payments", each, func(int) chains.Transfer {
							t := s.targets[s.paid%len(s.targets)]
							s.paid++
							return s.transfer(t.to, t.amount)
						})
					})
					b.Run("unmatched", func(b *testing.B) {
						s.run(b, "unmatched_payments", each, func(int) chains.Transfer {
							return s.transfer(shopAddress, invoice.NewUnits(999_000_000)) // no code, no invoice
						})
					})
				})
			}
		})
	}
}

// matchStore is a ledger over n open invoices.
type matchStore struct {
	ctx     context.Context
	db      storetest.DB
	ledger  *chains.Ledger
	targets []target // the invoices' addresses and exact amounts, derived and shared in turn
	tx      int      // transfers made, for unique tx ids
	paid    int      // pay transfers made
}

// forever is how long a derived address is held.
var forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

type target struct {
	to     string
	amount invoice.Units
}

func newMatchStore(b *testing.B, dialect string, n int) *matchStore {
	b.Helper()
	ctx := context.Background()
	db := storetest.Open(b, dialect)
	svc := invoice.NewService(db.DB, nil, fakeCheckout{}, nil)
	cat, err := chains.NewCatalogue(map[string]chains.Endpoint{"devnet": {HTTP: "http://127.0.0.1:9"}})
	if err != nil {
		b.Fatal(err)
	}
	cat.SetToken("devnet", devnetToken)
	ledger := chains.NewLedger(svc, cat)
	account := func(address, xpub string) chains.Account {
		m, _, err := svc.CreateMerchant(ctx, "Shop")
		if err != nil {
			b.Fatal(err)
		}
		a, err := ledger.CreateAccount(ctx, chains.AccountParams{
			MerchantID: m.ID, Mode: invoice.ModeTest, Network: "devnet", Address: address, XPub: xpub,
		})
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	keyed, shared := account("", testXPub), account(shopAddress, "")

	start := time.Now()
	now := svc.Now()
	expires, held := now.Add(24*time.Hour), now.Add(24*time.Hour+ledger.Hold)
	m, _ := cat.Method("usdc_devnet")
	s := &matchStore{ctx: ctx, db: db, ledger: ledger, targets: make([]target, 0, n)}
	const batch = 1000
	invs := make([]invoice.Invoice, 0, batch)
	deps := make([]chains.Deposit, 0, batch)
	flush := func() {
		if len(invs) == 0 {
			return
		}
		if _, err := db.NewInsert().Model(&invs).Returning("NULL").Exec(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := db.NewInsert().Model(&deps).Returning("NULL").Exec(ctx); err != nil {
			b.Fatal(err)
		}
		invs, deps = invs[:0], deps[:0]
	}
	for i := range n {
		var a chains.Account
		var cents int64
		var d chains.Deposit
		if i%2 == 0 { // a derived address of its own
			a, cents = keyed, 1000
			addr, err := chains.ParseEVMAddress(fmt.Sprintf("0xd%039x", i))
			if err != nil {
				b.Fatal(err)
			}
			d = chains.Deposit{Address: addr, BaseUnits: "10000000", HeldUntil: forever}
		} else { // the shared address, a distinct amount
			j := int64(i / 2)
			a, cents = shared, (j/chains.MaxUniqueOffset+1)*100
			base := cents * 10_000
			d = chains.Deposit{Address: shopAddress, BaseUnits: fmt.Sprint(base), Code: j%chains.MaxUniqueOffset + 1, HeldUntil: held}
			d.AmountUnits = fmt.Sprint(base + d.Code)
		}
		id := invoice.NewID("inv_", now)
		units := invoice.NewUnits(cents * 10_000)
		if d.AmountUnits != "" {
			units, _ = invoice.ParseUnits(d.AmountUnits)
		}
		d.Network, d.InvoiceID, d.AccountID, d.CreatedAt = "devnet", id, a.ID, now
		invs = append(invs, invoice.Invoice{
			ID: id, MerchantID: a.MerchantID, Mode: invoice.ModeTest, Status: invoice.StatusOpen,
			Exception: invoice.ExceptionNone, Currency: "USD", Decimals: 2, Amount: invoice.NewUnits(cents),
			AmountPaid: invoice.NewUnits(0), PaymentMethods: []string{chains.Sandbox, m.ID}, Metadata: map[string]string{},
			SessionToken: id, ExpiresAt: expires, CreatedAt: now, UpdatedAt: now,
			Instructions: []invoice.Instruction{{
				Method: m.ID, Network: "devnet", Asset: m.Asset, Token: m.Token, ChainID: 1337, Address: d.Address,
				Amount: units.Format(m.Decimals), AmountUnits: units.String(), Confirmations: 1,
				URI: chains.TransferURI(m.Token, 1337, d.Address, units.Big()),
			}},
		})
		deps = append(deps, d)
		s.targets = append(s.targets, target{to: d.Address, amount: units})
		if len(invs) == batch {
			flush()
		}
	}
	flush()
	if dialect == "postgres" {
		// As autovacuum would have by the time a store holds this many.
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: %d open invoices and deposits inserted in %v", dialect, n, time.Since(start).Round(time.Millisecond))
	// Pay in a fixed but scattered order, not in insertion order.
	rnd := rand.New(rand.NewPCG(1, 2))
	rnd.Shuffle(len(s.targets), func(i, j int) { s.targets[i], s.targets[j] = s.targets[j], s.targets[i] })
	return s
}

func (s *matchStore) transfer(to string, amount invoice.Units) chains.Transfer {
	s.tx++
	return chains.Transfer{
		Network: "devnet", Token: devnetToken, TxID: fmt.Sprintf("0x%064x", s.tx), Index: 0, Block: int64(s.tx),
		BlockHash: "0xb", From: otherAddress, To: to, Amount: amount, Status: invoice.PaymentConfirmed,
		ObservedAt: time.Now(),
	}
}

// run records b.N transfers made by next and reports their rate. It then
// checks that they left want more rows in table.
func (s *matchStore) run(b *testing.B, table string, want func(n int) int, next func(i int) chains.Transfer) {
	before := s.count(b, table)
	ts := make([]chains.Transfer, b.N)
	for i := range ts {
		ts[i] = next(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range ts {
		if err := s.ledger.Record(s.ctx, ts[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
	if got := s.count(b, table) - before; got != int64(want(b.N)) {
		b.Fatalf("%d transfers added %d rows to %s, want %d", b.N, got, table, want(b.N))
	}
}

func (s *matchStore) count(b *testing.B, table string) int64 {
	n, err := s.db.NewSelect().TableExpr(table).Count(s.ctx)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
