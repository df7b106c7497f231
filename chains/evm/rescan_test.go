package evm_test

import (
	"testing"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/evm"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// rescan runs a rescan of the harness's devnet over blocks from..to at the
// given confirmation depth.
func (h *harness) rescan(from, to int64, confirmations int) (chains.AuditReport, []evm.Added) {
	h.t.Helper()
	n, _ := h.cat.Network("devnet")
	n.Confirmations = confirmations
	rep, added, err := evm.Rescan(h.ctx, h.chain.Client(), h.ledger, evm.RescanConfig{AuditConfig: evm.AuditConfig{
		Network: n, Methods: h.cat.NetworkMethods("devnet"), FromBlock: from, ToBlock: to, MaxRange: 3, MaxAddresses: 1,
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	return rep, added
}

// TestRescan pays while no watcher runs (settle down, or its provider
// failing): an exact payment, a partial one, a transfer no invoice expects,
// and one in a block not yet confirmed. A rescan of the range records the
// confirmed three through the ledger (the invoices paid and underpaid,
// their events written, the stray transfer kept unmatched), leaves the
// unconfirmed one to the watcher, and a second rescan changes nothing.
// What was already recorded is not touched.
func TestRescan(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db)
		h.account(shopAddress, "")
		start := h.head() + 1

		// Recorded by a watcher before it stopped.
		stop := h.watch("", 1, nil)
		seen, seenIn := h.invoice("5.00")
		h.pay(seenIn.Address, seenIn.AmountUnits)
		h.chain.Commit()
		h.await(seen.ID, "seen", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "5.00"))
		stop()

		// Missed.
		exact, exactIn := h.invoice("10.00")
		partial, partialIn := h.invoice("30.00")
		late, lateIn := h.invoice("7.00")
		h.pay(exactIn.Address, exactIn.AmountUnits)
		h.pay(partialIn.Address, units(t, partialIn, -10_000_000))
		h.pay(shopAddress, "777000000")
		h.chain.Commit()
		h.chain.Commit()
		h.pay(lateIn.Address, lateIn.AmountUnits)
		h.chain.Commit() // the head: one confirmation of the three needed
		end := h.head()

		rep, added := h.rescan(start, end, 3)
		if rep.ToBlock != end-2 {
			t.Errorf("rescanned up to block %d, want the confirmed head %d", rep.ToBlock, end-2)
		}
		if len(added) != 3 {
			t.Fatalf("added %d transfers, want 3: %+v", len(added), added)
		}
		got := map[string]evm.Added{}
		for _, a := range added {
			if a.Status != invoice.PaymentConfirmed || a.Network != "devnet" || a.Asset != "USDC" {
				t.Errorf("added %+v", a)
			}
			got[a.AmountUnits] = a
		}
		if a := got[exactIn.AmountUnits]; a.InvoiceID != exact.ID || a.PaymentID == "" || a.UnmatchedID != "" {
			t.Errorf("exact payment landed as %+v, want on %s", a, exact.ID)
		}
		if a := got[units(t, partialIn, -10_000_000)]; a.InvoiceID != partial.ID {
			t.Errorf("partial payment landed as %+v, want on %s", a, partial.ID)
		}
		if a := got["777000000"]; a.InvoiceID != "" || a.UnmatchedID == "" {
			t.Errorf("stray transfer landed as %+v, want unmatched", a)
		}
		h.await(exact.ID, "exact, rescanned", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "10.00"))
		h.await(partial.ID, "partial, rescanned", paidWith(invoice.StatusOpen, invoice.ExceptionUnderpaid, "20.00"))
		awaitUnmatched(t, h, 1)
		if ev := h.events(exact.ID); ev[invoice.EventInvoiceUpdated] == 0 {
			t.Errorf("exact invoice's events %v: want its update", ev)
		}
		if s := h.await(late.ID, "late", func(state) bool { return true }); len(s.payments) != 0 {
			t.Errorf("unconfirmed payment recorded by the rescan: %+v", s.payments)
		}
		if s := h.await(seen.ID, "seen", func(state) bool { return true }); len(s.payments) != 1 {
			t.Errorf("the payment recorded before: %+v", s.payments)
		}

		// Again: nothing to add, nothing changed.
		before := storetest.Checksum(t, db)
		if _, again := h.rescan(start, end, 3); len(again) != 0 {
			t.Errorf("second rescan added %+v", again)
		}
		if storetest.Checksum(t, db) != before {
			t.Error("the second rescan changed the database")
		}

		// Once confirmed, the late one is added too, and only it.
		h.chain.Commit()
		h.chain.Commit()
		if _, more := h.rescan(start, h.head(), 3); len(more) != 1 || more[0].InvoiceID != late.ID {
			t.Errorf("rescan after confirmation added %+v, want the late payment on %s", more, late.ID)
		}
		h.await(late.ID, "late, rescanned", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "7.00"))
	})
}
