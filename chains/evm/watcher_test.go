package evm_test

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/evm"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

func paidWith(status invoice.Status, exc invoice.Exception, paid string) func(s state) bool {
	return func(s state) bool {
		return s.inv.Status == status && s.inv.Exception == exc && s.inv.AmountPaid.Format(s.inv.Decimals) == paid
	}
}

func units(t *testing.T, in invoice.Instruction, delta int64) string {
	t.Helper()
	u, err := invoice.ParseUnits(in.AmountUnits)
	if err != nil {
		t.Fatal(err)
	}
	return u.Add(invoice.NewUnits(delta)).String()
}

// TestOutcomes pays invoices every way a payor can, on a real ERC-20 on the
// simulated chain, for both kinds of receiving account, and checks what the
// watcher and the invoice state machine make of it.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{chains.AccountAddress, chains.AccountXPub} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
				t.Parallel()
				h := newHarness(t, db)
				if kind == chains.AccountAddress {
					h.account(shopAddress, "")
				} else {
					h.account("", xpub)
					h.invoice("1.00") // takes 0/0, the devnet wallet's own address
				}
				h.watch("", 1, nil)

				exact, exactIn := h.invoice("10.00")
				partial, partialIn := h.invoice("10.00")
				over, overIn := h.invoice("10.00")
				late, lateIn := h.invoice("5.00")
				cancelled, cancelledIn := h.invoice("7.00")
				twoA, twoAIn := h.invoice("3.00")
				twoB, twoBIn := h.invoice("3.00")
				if kind == chains.AccountAddress {
					// One address, told apart by amount: 10.000001, 10.000002, …
					if exactIn.Address != shopAddress || partialIn.Address != shopAddress || exactIn.AmountUnits == partialIn.AmountUnits {
						t.Fatalf("shared address instructions: %+v %+v", exactIn, partialIn)
					}
				} else if exactIn.Address == partialIn.Address || exactIn.AmountUnits != "10000000" {
					t.Fatalf("xpub instructions: %+v %+v", exactIn, partialIn)
				}
				if want := "ethereum:" + h.chain.Token().Hex() + "@1337/transfer?address=" + exactIn.Address + "&uint256=" + exactIn.AmountUnits; exactIn.URI != want {
					t.Errorf("uri %s, want %s", exactIn.URI, want)
				}

				// Exact.
				h.pay(exactIn.Address, exactIn.AmountUnits)
				// Partial: 4.00 now (with the code's digits on a shared address).
				h.pay(partialIn.Address, units(t, partialIn, -6_000_000))
				// Over-payment.
				h.pay(overIn.Address, units(t, overIn, 2_500_000))
				// Two payments to two invoices in one block.
				h.pay(twoAIn.Address, twoAIn.AmountUnits)
				h.pay(twoBIn.Address, twoBIn.AmountUnits)
				if _, err := h.svc.Cancel(h.ctx, h.merchant, invoice.ModeTest, cancelled.ID); err != nil {
					t.Fatal(err)
				}
				h.chain.Commit()

				h.await(exact.ID, "exact", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "10.00"))
				h.await(partial.ID, "partial", paidWith(invoice.StatusOpen, invoice.ExceptionUnderpaid, "4.00"))
				h.await(over.ID, "over-payment", paidWith(invoice.StatusPaid, invoice.ExceptionOverpaid, "12.50"))
				h.await(twoA.ID, "first of two in a block", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "3.00"))
				h.await(twoB.ID, "second of two in a block", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "3.00"))

				// Top-up of the partial one; a payment to the cancelled one.
				h.pay(partialIn.Address, units(t, partialIn, -4_000_000))
				h.pay(cancelledIn.Address, cancelledIn.AmountUnits)
				h.chain.Commit()
				s := h.await(partial.ID, "top-up", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "10.00"))
				if len(s.payments) != 2 {
					t.Errorf("partial then top-up: %d payments, want 2", len(s.payments))
				}
				h.await(cancelled.ID, "paid after cancel", paidWith(invoice.StatusCancelled, invoice.ExceptionOverpaid, "7.00"))

				// After expiry: the invoice expires, then is paid.
				h.clock.Advance(time.Hour)
				if _, err := h.svc.ExpireDue(h.ctx, 100); err != nil {
					t.Fatal(err)
				}
				h.await(late.ID, "expired", paidWith(invoice.StatusExpired, invoice.ExceptionNone, "0.00"))
				h.pay(lateIn.Address, lateIn.AmountUnits)
				h.chain.Commit()
				h.await(late.ID, "paid late", paidWith(invoice.StatusPaid, invoice.ExceptionPaidLate, "5.00"))

				// Each payment was recorded once, confirmed, with its block.
				s = h.await(exact.ID, "exact", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "10.00"))
				if p := s.payments[0]; len(s.payments) != 1 || p.Status != invoice.PaymentConfirmed || p.Block == 0 ||
					p.BlockHash == "" || p.Method != "usdc_devnet" || p.Asset != "USDC" || p.To != exactIn.Address {
					t.Errorf("exact payment: %+v", s.payments)
				}
				if got := h.events(exact.ID); got[invoice.EventInvoicePaymentUpdated] != 1 || got[invoice.EventInvoiceUpdated] != 1 {
					t.Errorf("exact invoice events %v: want one payment event (confirmed at once, depth 1) and one update", got)
				}

				if kind == chains.AccountAddress {
					// An amount no invoice expects is kept for the merchant.
					h.pay(shopAddress, "123450000")
					h.chain.Commit()
					deadline := time.Now().Add(20 * time.Second)
					for {
						list, _, err := h.ledger.UnmatchedList(h.ctx, h.merchant, invoice.ModeTest, "", 10)
						if err != nil {
							t.Fatal(err)
						}
						if len(list) == 1 && list[0].Amount.String() == "123450000" && list[0].Status == invoice.PaymentConfirmed {
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("unmatched payments: %+v", list)
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			})
		})
	}
}

// TestReorg mines a payment, forks it away before it is confirmed, and
// checks that the payment is reversed and the invoice is back where it was,
// with events for both moves; then the same payment mined again counts.
func TestReorg(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db)
		h.account(shopAddress, "")
		h.watch("", 3, nil)
		inv, in := h.invoice("25.00")
		parent := h.chain.Commit() // the block to fork from
		nonce := h.nonce
		h.pay(in.Address, in.AmountUnits)
		h.chain.Commit()
		s := h.await(inv.ID, "pending", func(s state) bool {
			return s.inv.Status == invoice.StatusProcessing && len(s.payments) == 1 && s.payments[0].Status == invoice.PaymentPending
		})
		if s.inv.AmountPaid.Sign() != 0 {
			t.Fatalf("pending payment counted as paid: %s", s.inv.AmountPaid)
		}

		// A longer chain without the transfer (its nonce is taken by a
		// replacement that pays someone else).
		if err := h.chain.Fork(parent); err != nil {
			t.Fatal(err)
		}
		h.nonce = nonce
		h.payReplacing("0x000000000000000000000000000000000000dEaD", "1")
		for range 3 {
			h.chain.Commit()
		}
		s = h.await(inv.ID, "reversed", func(s state) bool {
			return s.inv.Status == invoice.StatusOpen && len(s.payments) == 1 && s.payments[0].Status == invoice.PaymentReversed
		})
		ev := h.events(inv.ID)
		// pending, reversed; open → processing → open.
		if ev[invoice.EventInvoicePaymentUpdated] != 2 || ev[invoice.EventInvoiceUpdated] != 2 {
			t.Errorf("events %v: want 2 invoice_payment.updated and 2 invoice.updated", ev)
		}

		// Paid again for real, now confirmed at depth 3.
		h.pay(in.Address, in.AmountUnits)
		for range 3 {
			h.chain.Commit()
		}
		s = h.await(inv.ID, "paid after the reorg", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "25.00"))
		if len(s.payments) != 2 {
			t.Errorf("payments %+v: want the reversed one and the confirmed one", s.payments)
		}
	})
}

// TestRestart stops the watcher, mines payments while it is down (and lets
// one pending payment be confirmed meanwhile), and checks that a new
// watcher picks everything up from the stored cursor exactly once.
func TestRestart(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db)
		h.account("", xpub)
		h.invoice("1.00")
		stop := h.watch("", 2, nil)
		first, firstIn := h.invoice("8.00")
		h.pay(firstIn.Address, firstIn.AmountUnits)
		h.chain.Commit()
		h.await(first.ID, "pending before the stop", func(s state) bool { return s.inv.Status == invoice.StatusProcessing })
		stop()

		var ids []string
		for range 5 {
			inv, in := h.invoice("2.00")
			h.pay(in.Address, in.AmountUnits)
			h.chain.Commit()
			ids = append(ids, inv.ID)
		}
		h.chain.Commit()

		stop = h.watch("", 2, nil)
		h.await(first.ID, "confirmed while down", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "8.00"))
		for _, id := range ids {
			s := h.await(id, "mined while down", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "2.00"))
			if len(s.payments) != 1 {
				t.Errorf("%s: %d payments, want 1", id, len(s.payments))
			}
		}
		// A third watcher over the same cursor adds nothing.
		stop()
		h.watch("", 2, nil)
		time.Sleep(200 * time.Millisecond)
		for _, id := range append(ids, first.ID) {
			if ev := h.events(id); ev[invoice.EventInvoicePaymentUpdated] > 2 || ev[invoice.EventInvoiceUpdated] > 2 {
				t.Errorf("%s: events %v, counted twice", id, ev)
			}
		}
	})
}

// TestFlakyProvider runs the watcher through a provider that fails 30 % of
// calls (503, 429, dropped connections), delays the rest, and refuses log
// ranges above 5 blocks; every payment still ends confirmed, once.
func TestFlakyProvider(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db)
		h.account(shopAddress, "")
		p := &proxy{target: h.chain.HTTPURL(), failRate: 0.3, maxDelay: 20 * time.Millisecond, maxRange: 5}
		mon := chains.NewMonitor(nil)
		// Blocks mined before the watcher starts make it catch up over
		// ranges wider than the provider takes.
		var ids []string
		for range 6 {
			inv, in := h.invoice("4.00")
			h.pay(in.Address, in.AmountUnits)
			for range 4 {
				h.chain.Commit()
			}
			ids = append(ids, inv.ID)
		}
		h.watch(p.start(t), 2, func(c *evm.Config) {
			c.Monitor, c.MaxRange = mon, 50
			c.StartBlock = 1 // the payments above are older than the first head
		})
		for range 3 {
			h.chain.Commit()
		}
		for _, id := range ids {
			s := h.await(id, "through the flaky provider", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "4.00"))
			if len(s.payments) != 1 {
				t.Errorf("%s: %d payments, want 1", id, len(s.payments))
			}
		}
		st := mon.Status()["devnet"]
		if p.failed.Load() == 0 || p.refusedRanges.Load() == 0 || st.RPCErrors == 0 || !strings.Contains(st.LastError, "eth_") {
			t.Errorf("the provider failed %d calls and refused %d ranges, the monitor counted %d errors (last %q): the test did not test",
				p.failed.Load(), p.refusedRanges.Load(), st.RPCErrors, st.LastError)
		}
	})
}

// TestReorgWhileDown forks a pending payment away while no watcher runs:
// the stored block hashes tell the next watcher, which reverses it.
func TestReorgWhileDown(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db)
		h.account(shopAddress, "")
		stop := h.watch("", 5, nil)
		inv, in := h.invoice("9.00")
		parent := h.chain.Commit()
		nonce := h.nonce
		h.pay(in.Address, in.AmountUnits)
		h.chain.Commit()
		h.chain.Commit()
		h.await(inv.ID, "pending", func(s state) bool { return s.inv.Status == invoice.StatusProcessing })
		stop()

		if err := h.chain.Fork(parent); err != nil {
			t.Fatal(err)
		}
		h.nonce = nonce
		h.payReplacing("0x000000000000000000000000000000000000dEaD", "1")
		for range 4 {
			h.chain.Commit()
		}
		h.watch("", 5, nil)
		h.await(inv.ID, "reversed after the restart", func(s state) bool {
			return s.inv.Status == invoice.StatusOpen && len(s.payments) == 1 && s.payments[0].Status == invoice.PaymentReversed
		})
	})
}

// TestFinalized confirms at the network's finalized block instead of a
// depth (the simulated chain finalizes every 32 blocks).
func TestFinalized(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db)
		h.account(shopAddress, "")
		h.watch("", 1, func(c *evm.Config) { c.Endpoint.Finalized = true })
		inv, in := h.invoice("2.00")
		h.pay(in.Address, in.AmountUnits)
		h.chain.Commit()
		h.await(inv.ID, "pending until finalized", func(s state) bool { return s.inv.Status == invoice.StatusProcessing })
		for range 10 {
			h.chain.Commit()
		}
		time.Sleep(100 * time.Millisecond)
		if s := h.await(inv.ID, "still pending", func(state) bool { return true }); s.inv.Status != invoice.StatusProcessing {
			t.Fatalf("confirmed at depth 11 before the finalized block passed it: %s", s.inv.Status)
		}
		for range 64 {
			h.chain.Commit()
		}
		h.await(inv.ID, "confirmed once finalized", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "2.00"))
	})
}

// countingLedger counts the watcher's reads and writes of the store.
type countingLedger struct {
	evm.Ledger
	mu    sync.Mutex
	calls map[string]int
}

func (l *countingLedger) count(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[name]++
}

func (l *countingLedger) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.calls)
}

func (l *countingLedger) Record(ctx context.Context, t chains.Transfer) error {
	l.count("Record")
	return l.Ledger.Record(ctx, t)
}

func (l *countingLedger) Pending(ctx context.Context, network string) ([]chains.Transfer, error) {
	l.count("Pending")
	return l.Ledger.Pending(ctx, network)
}

func (l *countingLedger) Watched(ctx context.Context, network string, max int) ([]string, error) {
	l.count("Watched")
	return l.Ledger.Watched(ctx, network, max)
}

func (l *countingLedger) Checkpoints(ctx context.Context, network string) ([]chains.Checkpoint, error) {
	l.count("Checkpoints")
	return l.Ledger.Checkpoints(ctx, network)
}

func (l *countingLedger) Advance(ctx context.Context, cp chains.Checkpoint, keep int) error {
	l.count("Advance")
	return l.Ledger.Advance(ctx, cp, keep)
}

// TestWatcherIdle: a watcher whose chain does not move asks the store
// nothing (its lease aside), however often it polls; a new block with no
// transfer for the merchant costs one read of the addresses to watch and
// one checkpoint written, nothing else.
func TestWatcherIdle(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db)
		h.account(shopAddress, "")
		p := &proxy{target: h.chain.HTTPURL()}
		n, _ := h.cat.Network("devnet")
		n.Confirmations = 1
		l := &countingLedger{Ledger: h.ledger, calls: map[string]int{}}
		ctx, cancel := context.WithCancel(h.ctx)
		done := make(chan error, 1)
		go func() {
			done <- evm.New(evm.Config{
				Network: n, Endpoint: chains.Endpoint{HTTP: p.start(t)}, Tokens: h.cat.Tokens("devnet"), Holder: "test",
				PollInterval: 5 * time.Millisecond, CallTimeout: 10 * time.Second, Log: h.log, // a failed tick reads everything again
			}, l).Run(ctx)
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("watcher: %v", err)
			}
		}()
		scannedTo := func(block int64) {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for {
				cps, err := h.ledger.Checkpoints(h.ctx, "devnet")
				if err != nil {
					t.Fatal(err)
				}
				if len(cps) > 0 && cps[0].Block == block {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("not scanned to block %d: checkpoints %+v", block, cps)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		// polled waits until the watcher has asked the chain n more times.
		polled := func(n int64) {
			t.Helper()
			target := p.calls.Load() + n
			deadline := time.Now().Add(20 * time.Second)
			for p.calls.Load() < target {
				if time.Now().After(deadline) {
					t.Fatalf("the watcher polled %d times, want %d", p.calls.Load()-target+n, n)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		scannedTo(h.head())
		polled(5) // whatever the catching up left in flight is done
		before := l.snapshot()
		polled(50)
		if after := l.snapshot(); !maps.Equal(before, after) {
			t.Fatalf("store calls while the chain stood still: before %v, after %v", before, after)
		}

		head := h.chain.Commit() // a block with nothing in it
		n2, err := h.chain.Client().HeaderByHash(h.ctx, head)
		if err != nil {
			t.Fatal(err)
		}
		scannedTo(n2.Number.Int64())
		polled(5)
		after := l.snapshot()
		diff := map[string]int{}
		for k, v := range after {
			if d := v - before[k]; d != 0 {
				diff[k] = d
			}
		}
		if want := map[string]int{"Watched": 1, "Advance": 1}; !maps.Equal(diff, want) {
			t.Fatalf("store calls for an empty block: %v, want %v", diff, want)
		}
	})
}
