package evm_test

import (
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/evm"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// audit runs the audit of the harness's devnet over blocks from..to.
func (h *harness) audit(from, to int64, merchant string) chains.AuditReport {
	h.t.Helper()
	n, _ := h.cat.Network("devnet")
	rep, err := evm.Audit(h.ctx, h.chain.Client(), h.ledger, evm.AuditConfig{
		Network: n, Methods: h.cat.NetworkMethods("devnet"), MerchantID: merchant, FromBlock: from, ToBlock: to,
		MaxRange: 3, MaxAddresses: 1, // several ranges and batches, as against a strict provider
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return rep
}

func (h *harness) head() int64 {
	h.t.Helper()
	n, err := h.chain.Client().BlockNumber(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return int64(n)
}

// paymentOf returns the one payment of invoice id.
func (h *harness) paymentOf(id string) invoice.Payment {
	h.t.Helper()
	ps, err := h.svc.Payments(h.ctx, id)
	if err != nil || len(ps) != 1 {
		h.t.Fatalf("payments of %s: %v %+v", id, err, ps)
	}
	return ps[0]
}

// TestAudit plants each kind of discrepancy on the simulated chain (a
// recorded payment whose transaction never existed, a stored amount
// tampered with, a confirmed payment whose block was reorged away, a
// transfer mined while the watcher was down) and checks that the audit
// finds each exactly once, reports nothing else, sums the chain's
// transfers, and writes nothing.
func TestAudit(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db)
		h.account(shopAddress, "")
		stop := h.watch("", 1, nil)
		start := h.head() + 1
		sent := invoice.Units{} // everything sent to the shop, by the test's own count

		exact, exactIn := h.invoice("10.00")
		tampered, tamperedIn := h.invoice("20.00")
		partial, partialIn := h.invoice("30.00")
		reorged, reorgedIn := h.invoice("40.00")
		forged, _ := h.invoice("50.00")
		_, missedIn := h.invoice("60.00")
		for _, p := range []struct{ to, units string }{
			{exactIn.Address, exactIn.AmountUnits},
			{tamperedIn.Address, tamperedIn.AmountUnits},
			{partialIn.Address, units(t, partialIn, -10_000_000)},
			{shopAddress, "777000000"}, // matches nothing: kept as an unmatched payment
		} {
			h.pay(p.to, p.units)
			u, _ := invoice.ParseUnits(p.units)
			sent = sent.Add(u)
		}
		h.chain.Commit()
		h.await(exact.ID, "exact", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "10.00"))
		h.await(tampered.ID, "tampered", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "20.00"))
		h.await(partial.ID, "partial", paidWith(invoice.StatusOpen, invoice.ExceptionUnderpaid, "20.00"))
		awaitUnmatched(t, h, 1)

		// The reorg victim: confirmed at depth 1, then its block is replaced
		// while no watcher runs (a reorg deeper than the confirmation depth).
		parent := h.chain.Commit()
		nonce := h.nonce
		reorgedTx := h.pay(reorgedIn.Address, reorgedIn.AmountUnits)
		h.chain.Commit()
		h.await(reorged.ID, "reorged, before the reorg", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "40.00"))

		// Everything recorded: nothing to report, and the totals agree.
		rep := h.audit(start, h.head(), "")
		if len(rep.Discrepancies) != 0 {
			t.Fatalf("clean store: discrepancies %+v", rep.Discrepancies)
		}
		u, _ := invoice.ParseUnits(reorgedIn.AmountUnits)
		if tot := rep.Totals; len(tot) != 1 || tot[0].ChainUnits != sent.Add(u).String() || tot[0].RecordedUnits != tot[0].ChainUnits ||
			tot[0].ChainTransfers != 5 || tot[0].Recorded != 5 || rep.Payments != 4 || rep.Unmatched != 1 {
			t.Fatalf("clean store: report %+v, want 5 transfers of %s", rep, sent.Add(u))
		}
		stop()

		if err := h.chain.Fork(parent); err != nil {
			t.Fatal(err)
		}
		h.nonce = nonce
		h.payReplacing("0x000000000000000000000000000000000000dEaD", "1")
		h.chain.Commit()
		// Missed: paid while the watcher is down, never recorded.
		missedTx := h.pay(missedIn.Address, missedIn.AmountUnits)
		h.chain.Commit()
		u, _ = invoice.ParseUnits(missedIn.AmountUnits)
		sent = sent.Add(u)
		h.chain.Commit()

		// Forged: a payment recorded for a transaction that never existed,
		// in a block that did.
		end := h.head()
		block, err := h.chain.Client().HeaderByNumber(h.ctx, big.NewInt(end))
		if err != nil {
			t.Fatal(err)
		}
		forgedTx := common.BytesToHash(crypto.Keccak256([]byte("forged " + db.Name))).Hex()
		if _, _, err := h.svc.Apply(h.ctx, invoice.Observation{
			InvoiceID: forged.ID, Method: "usdc_devnet", Network: "devnet", TxID: forgedTx, Index: 0, Asset: "USDC", Decimals: 6,
			Amount: invoice.NewUnits(50_000_000), Status: invoice.PaymentConfirmed, From: devchainWallet, To: shopAddress,
			Block: end, BlockHash: block.Hash().Hex(), ObservedAt: time.Now(),
		}); err != nil {
			t.Fatal(err)
		}
		// Tampered: the stored amount of a real payment changed by hand.
		tamperedPay := h.paymentOf(tampered.ID)
		stored := tamperedPay.Amount.Add(invoice.NewUnits(997))
		if _, err := db.NewUpdate().Table("payments").Set("amount = ?", stored.String()).Where("id = ?", tamperedPay.ID).Exec(h.ctx); err != nil {
			t.Fatal(err)
		}

		before := storetest.Checksum(t, db)
		rep = h.audit(start, end, "")
		if after := storetest.Checksum(t, db); after != before {
			t.Error("the audit changed the database")
		}
		reorgedPay := h.paymentOf(reorged.ID)
		want := map[chains.DiscrepancyKind]chains.Discrepancy{
			chains.MissingOnChain: {TxID: forgedTx, PaymentID: h.paymentOf(forged.ID).ID, InvoiceID: forged.ID, Recorded: "50000000"},
			chains.AmountDiffers: {TxID: tamperedPay.TxID, PaymentID: tamperedPay.ID, InvoiceID: tampered.ID, Recorded: stored.String(),
				Chain: tamperedIn.AmountUnits},
			chains.Reversed:    {TxID: reorgedTx.Hex(), PaymentID: reorgedPay.ID, InvoiceID: reorged.ID, Recorded: reorgedIn.AmountUnits},
			chains.NotRecorded: {TxID: missedTx.Hex(), Chain: missedIn.AmountUnits},
		}
		if len(rep.Discrepancies) != len(want) {
			t.Errorf("%d discrepancies, want %d: %+v", len(rep.Discrepancies), len(want), rep.Discrepancies)
		}
		for _, d := range rep.Discrepancies {
			w, ok := want[d.Kind]
			if !ok || d.TxID != w.TxID || d.PaymentID != w.PaymentID || d.InvoiceID != w.InvoiceID ||
				d.Recorded != w.Recorded || d.Chain != w.Chain || d.Network != "devnet" || d.Asset != "USDC" || d.Detail == "" {
				t.Errorf("discrepancy %+v\nwant %+v", d, w)
			}
			delete(want, d.Kind)
		}
		for k := range want {
			t.Errorf("no %s found", k)
		}
		// The chain total is what the test sent to the shop and is still
		// on chain; the recorded total counts the forged, reorged and
		// tampered payments instead of the missed one.
		reorgedUnits, _ := invoice.ParseUnits(reorgedIn.AmountUnits)
		recorded := sent.Sub(u).Add(invoice.NewUnits(50_000_000)).Add(invoice.NewUnits(997)).Add(reorgedUnits)
		if tot := rep.Totals; len(tot) != 1 || tot[0].ChainUnits != sent.String() || tot[0].RecordedUnits != recorded.String() {
			t.Errorf("totals %+v: want chain %s, recorded %s", rep.Totals, sent, recorded)
		}

		// Narrowed to another merchant, the store and the chain agree on
		// nothing at all.
		if rep := h.audit(start, end, "mer_nobody"); len(rep.Discrepancies) != 0 || rep.Payments != 0 || rep.Addresses != 0 {
			t.Errorf("another merchant: %+v", rep)
		}
	})
}

// devchainWallet is the payor of every transfer here.
const devchainWallet = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

func awaitUnmatched(t *testing.T, h *harness, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, _, err := h.ledger.UnmatchedList(h.ctx, h.merchant, invoice.ModeTest, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == n && !slices.ContainsFunc(list, func(u chains.Unmatched) bool { return u.Status != invoice.PaymentConfirmed }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("unmatched payments: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAuditBlockRange maps times to blocks: [from, to) holds exactly the
// blocks stamped in it.
func TestAuditBlockRange(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db)
		for range 8 {
			h.chain.Commit()
		}
		c := h.chain.Client()
		at := func(n int64) time.Time {
			hd, err := c.HeaderByNumber(h.ctx, big.NewInt(n))
			if err != nil {
				t.Fatal(err)
			}
			return time.Unix(int64(hd.Time), 0)
		}
		head := h.head()
		for _, tc := range []struct {
			name        string
			from, to    time.Time
			first, last int64
		}{
			{"blocks 3 to 5", at(3), at(6), 3, 5},
			{"within a second", at(4).Add(-time.Millisecond), at(4).Add(time.Millisecond), 4, 4},
			{"everything", at(0).Add(-time.Hour), at(head).Add(time.Hour), 0, head},
			{"before genesis", at(0).Add(-2 * time.Hour), at(0).Add(-time.Hour), 0, -1},
			{"after the head", at(head).Add(time.Hour), at(head).Add(2 * time.Hour), head + 1, head},
		} {
			first, last, err := evm.BlockRange(h.ctx, c, tc.from, tc.to)
			if err != nil || first != tc.first || last != tc.last {
				t.Errorf("%s: blocks %d–%d (%v), want %d–%d", tc.name, first, last, err, tc.first, tc.last)
			}
		}
	})
}
