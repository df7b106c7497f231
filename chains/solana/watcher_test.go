package solana_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/settlepay/settle/chains"
	solwatch "github.com/settlepay/settle/chains/solana"
	"github.com/settlepay/settle/chains/solanapay"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

func paidWith(status invoice.Status, exc invoice.Exception, paid string) func(s state) bool {
	return func(s state) bool {
		return s.inv.Status == status && s.inv.Exception == exc && s.inv.AmountPaid.Format(s.inv.Decimals) == paid
	}
}

// request reads an instruction's Solana Pay URL.
func request(t *testing.T, in invoice.Instruction) (solanapay.Request, int64) {
	t.Helper()
	r, err := solanapay.Parse(in.URI)
	if err != nil {
		t.Fatalf("instruction URI %s: %v", in.URI, err)
	}
	u, err := r.Units(6)
	if err != nil {
		t.Fatal(err)
	}
	return r, u.Big().Int64()
}

// TestRecordedTransfer replays a real mainnet-beta USDC transfer (and a SOL
// transfer) to a wallet registered as a receiving account: the transfer is
// decoded, validated from its token balances and kept as an unmatched
// payment (no invoice asked for 0.001 USDC); the SOL transfer counts for
// nothing.
func TestRecordedTransfer(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		wallet := solana.MustPublicKeyFromBase58("3i476kTBBTy7pBGx4CXwJpJ6phuwLQgcwLTdHhU3c7ui")
		h := newHarness(t, db, "solana", wallet)
		const ata = "H51DXRt3ubThhdhNeDMScfkbC5X4AWzYfHaZS3JKEfPh"
		var sigs []struct {
			Signature          string
			Slot               uint64
			BlockTime          int64
			ConfirmationStatus string
		}
		if err := json.Unmarshal(recorded(t, "getSignaturesForAddress_usdc_mainnet.json"), &sigs); err != nil || len(sigs) != 1 {
			t.Fatalf("signatures fixture: %v", err)
		}
		var sol struct {
			Slot        uint64
			BlockTime   int64
			Transaction struct{ Signatures []string }
		}
		solTx := recorded(t, "getTransaction_sol_transfer_jsonParsed_mainnet.json")
		if err := json.Unmarshal(solTx, &sol); err != nil {
			t.Fatal(err)
		}
		// A node lists, for the token account, the SOL transfer (as if it
		// mentioned it) and then the USDC transfer.
		h.cluster.add(&entry{sig: sol.Transaction.Signatures[0], slot: sol.Slot, blockTime: sol.BlockTime, status: "finalized",
			keys: []string{ata}, tx: solTx})
		usdc := h.cluster.add(&entry{sig: sigs[0].Signature, slot: sigs[0].Slot, blockTime: sigs[0].BlockTime,
			status: sigs[0].ConfirmationStatus, keys: []string{ata},
			tx: recorded(t, "getTransaction_usdc_transferChecked_jsonParsed_mainnet.json")})
		h.watch(func(c *solwatch.Config) { c.Backfill = 10 * 365 * 24 * time.Hour })

		deadline := time.Now().Add(20 * time.Second)
		for {
			cur, ok, err := h.ledger.Cursor(h.ctx, "solana", ata)
			if err != nil {
				t.Fatal(err)
			}
			if ok && cur.Signature == usdc.sig {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cursor %+v, want %s", cur, usdc.sig)
			}
			time.Sleep(10 * time.Millisecond)
		}
		us := h.unmatched()
		if len(us) != 1 {
			t.Fatalf("unmatched payments %+v, want the USDC transfer only", us)
		}
		u := us[0]
		if u.TxID != usdc.sig || u.Index != 2 || u.Amount.String() != "1000" || u.Method != "usdc_solana" ||
			u.From != "8fusVwhgo4oS1fGpZKeRaXrJXQk9auKnAgcj9A97wR3t" || u.To != wallet.String() ||
			u.Block != 184930610 || u.Status != invoice.PaymentConfirmed {
			t.Errorf("recorded transfer: %+v", u)
		}
	})
}

// TestOutcomes pays invoices every way a payor can and checks what the
// watcher and the invoice state machine make of it.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db, "solana_devnet", solana.PublicKey{})
		exact, exactIn := h.invoice("10.00")
		partial, partialIn := h.invoice("10.00")
		over, overIn := h.invoice("10.00")
		wrongMint, wrongMintIn := h.invoice("4.00")
		failed, failedIn := h.invoice("5.00")
		noRef, noRefIn := h.invoice("6.00")
		v0, v0In := h.invoice("7.00")

		// The instruction is a Solana Pay request to the wallet, for the
		// unique amount, with a reference of the invoice's own.
		r, units := request(t, exactIn)
		if r.Recipient != h.wallet.String() || r.SPLToken != h.mint.String() || len(r.References) != 1 ||
			r.Label != "Coffee & Co" || r.Message != "Two flat whites" || r.Memo != exact.ID ||
			exactIn.Address != h.wallet.String() || invoice.NewUnits(units).String() != exactIn.AmountUnits {
			t.Fatalf("instruction %+v reads as %+v", exactIn, r)
		}
		refs, err := h.ledger.InvoiceReferences(h.ctx, exact.ID)
		if err != nil || len(refs) != 1 || refs[0].Reference != r.References[0] || refs[0].Address != h.wallet.String() {
			t.Fatalf("stored references %+v, %v", refs, err)
		}
		other, _ := request(t, partialIn)
		if other.References[0] == r.References[0] {
			t.Fatal("two invoices share a reference")
		}
		h.watch(nil)

		// Exact, seen at confirmed (pending), then finalized (confirmed).
		e := h.pay(units, r.References[0], "confirmed")
		h.await(exact.ID, "exact, confirmed commitment", paidWith(invoice.StatusProcessing, invoice.ExceptionNone, "0.00"))
		h.cluster.set(e, func(e *entry) { e.status = "finalized" })
		s := h.await(exact.ID, "exact, finalized", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "10.00"))
		if p := s.payments[0]; len(s.payments) != 1 || p.Status != invoice.PaymentConfirmed || p.TxID != e.sig ||
			p.Block != int64(e.slot) || p.Index != 2 || p.Method != "usdc_solana_devnet" || p.To != h.wallet.String() {
			t.Errorf("exact payment: %+v", s.payments)
		}

		// Partial then top-up, both with the reference: the reference
		// decides, whatever the amount.
		pr, pu := request(t, partialIn)
		h.pay(4_000_000, pr.References[0], "finalized")
		h.await(partial.ID, "partial", paidWith(invoice.StatusOpen, invoice.ExceptionUnderpaid, "4.00"))
		h.pay(pu-4_000_000, pr.References[0], "finalized")
		s = h.await(partial.ID, "top-up", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "10.00"))
		if len(s.payments) != 2 {
			t.Errorf("partial then top-up: %d payments", len(s.payments))
		}

		// Over-payment.
		or, ou := request(t, overIn)
		h.pay(ou+2_500_000, or.References[0], "finalized")
		h.await(over.ID, "over-payment", paidWith(invoice.StatusPaid, invoice.ExceptionOverpaid, "12.50"))

		// Wrong mint: the right amount and reference in another token, in a
		// transaction that also mentions the USDC token account.
		wr, wu := request(t, wrongMintIn)
		usdcATA, _, _ := solana.FindAssociatedTokenAddress(h.wallet, h.mint)
		wrong := h.cluster.add(payment{payer: newKey(), wallet: h.wallet, mint: newKey(), amount: wu, pre: 0,
			reference: wr.References[0], touch: usdcATA}.tx("finalized"))

		// A failed transaction with the right amount and reference.
		fr, fu := request(t, failedIn)
		failedTx := h.cluster.add(payment{payer: newKey(), wallet: h.wallet, mint: h.mint, amount: fu, pre: 0,
			reference: fr.References[0], failed: true}.tx("finalized"))

		// No reference (a wallet that drops it): the unique amount decides.
		_, nu := request(t, noRefIn)
		h.pay(nu, "", "finalized")
		h.await(noRef.ID, "no reference", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "6.00"))

		// A version-0 transaction whose reference comes from a lookup table,
		// paying 8.00 with the unique code of the wrong-mint invoice: the
		// reference decides, not the code.
		vr, _ := request(t, v0In)
		h.cluster.add(payment{payer: newKey(), wallet: h.wallet, mint: h.mint, amount: 8_000_000 + wu%10_000, pre: 7_000_000,
			reference: vr.References[0], v0: true}.tx("finalized"))
		h.await(v0.ID, "version 0", paidWith(invoice.StatusPaid, invoice.ExceptionOverpaid, "8.00"))

		// By now every transaction before has been read.
		for _, id := range []string{wrongMint.ID, failed.ID} {
			s := h.await(id, "not paid", func(s state) bool { return true })
			if s.inv.Status != invoice.StatusOpen || len(s.payments) != 0 {
				t.Errorf("invoice %s paid by a wrong-mint or failed transaction: %s, %+v", id, s.inv.Status, s.payments)
			}
		}
		h.cluster.mu.Lock()
		wrongCalls, failedCalls := h.cluster.txCalls[wrong.sig], h.cluster.txCalls[failedTx.sig]
		h.cluster.mu.Unlock()
		if wrongCalls != 1 || failedCalls != 0 {
			t.Errorf("getTransaction calls: wrong mint %d (want 1), failed %d (want 0: its signature says it failed)", wrongCalls, failedCalls)
		}
		if us := h.unmatched(); len(us) != 0 {
			t.Errorf("unmatched payments %+v", us)
		}
	})
}

// TestDuplicatesAndPaging reads 20 real mainnet signatures (and 6 more) in
// pages of 7, from an RPC that repeats the last signature of each page at
// the start of the next, with the same transaction listed twice; each
// payment is recorded once. A restart after a failure part-way resumes
// from the cursor: no signature is skipped or read twice.
func TestDuplicatesAndPaging(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db, "solana_devnet", solana.PublicKey{})
		var page []struct {
			Signature string
			Slot      uint64
			BlockTime int64
		}
		if err := json.Unmarshal(recorded(t, "getSignaturesForAddress_page20_mainnet.json"), &page); err != nil || len(page) != 20 {
			t.Fatalf("page fixture: %d, %v", len(page), err)
		}
		var entries []*entry
		for i := len(page) - 1; i >= 0; i-- { // the fixture is newest first
			e := payment{payer: newKey(), wallet: h.wallet, mint: h.mint, amount: 1_000_000 + int64(i)*10_000, pre: 0}.tx("finalized")
			e.sig, e.slot, e.blockTime = page[i].Signature, page[i].Slot, page[i].BlockTime
			entries = append(entries, h.cluster.add(e))
		}
		h.cluster.mu.Lock()
		h.cluster.repeat, h.cluster.broken = true, entries[12].sig
		h.cluster.mu.Unlock()
		tune := func(c *solwatch.Config) { c.PageSize = 7; c.Backfill = 10 * 365 * 24 * time.Hour }
		stop := h.watch(tune)
		waitUnmatched := func(n int) {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for len(h.unmatched()) < n {
				if time.Now().After(deadline) {
					t.Fatalf("%d unmatched payments, want %d", len(h.unmatched()), n)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		waitUnmatched(12)
		time.Sleep(100 * time.Millisecond) // the watcher keeps failing on the 13th
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := len(h.unmatched()); got != 12 {
			t.Fatalf("%d payments recorded past a transaction that could not be read", got)
		}
		cur, _, _ := h.ledger.Cursor(h.ctx, "solana_devnet", mustATA(h))
		if cur.Signature != entries[11].sig {
			t.Fatalf("cursor at %s, want the 12th signature %s", cur.Signature, entries[11].sig)
		}

		// While down: the node heals, six more arrive, one listed twice.
		h.cluster.mu.Lock()
		h.cluster.broken = ""
		h.cluster.mu.Unlock()
		for i := range 6 {
			e := h.cluster.add(payment{payer: newKey(), wallet: h.wallet, mint: h.mint, amount: 2_000_000 + int64(i)*10_000, pre: 0}.tx("finalized"))
			if i == 3 {
				h.cluster.add(e)
			}
			entries = append(entries, e)
		}
		h.watch(tune)
		waitUnmatched(26)
		time.Sleep(100 * time.Millisecond)
		us := h.unmatched()
		seen := map[string]bool{}
		for _, u := range us {
			if seen[u.TxID] {
				t.Errorf("%s recorded twice", u.TxID)
			}
			seen[u.TxID] = true
		}
		if len(us) != 26 {
			t.Errorf("%d payments, want 26", len(us))
		}
		h.cluster.mu.Lock()
		defer h.cluster.mu.Unlock()
		for i, e := range entries[:12] {
			if n := h.cluster.txCalls[e.sig]; n != 1 {
				t.Errorf("transaction %d read %d times, want once (the restart re-read it)", i, n)
			}
		}
	})
}

func mustATA(h *harness) string {
	ata, _, err := solana.FindAssociatedTokenAddress(h.wallet, h.mint)
	if err != nil {
		h.t.Fatal(err)
	}
	return ata.String()
}

// TestDropped reverses a payment whose transaction the cluster forgets
// before it is finalized (its fork was abandoned).
func TestDropped(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db, "solana_devnet", solana.PublicKey{})
		inv, in := h.invoice("3.00")
		r, u := request(t, in)
		h.watch(nil)
		e := h.pay(u, r.References[0], "confirmed")
		h.await(inv.ID, "pending", func(s state) bool { return len(s.payments) == 1 && s.inv.Status == invoice.StatusProcessing })
		h.cluster.set(e, func(e *entry) { e.dropped = true })
		s := h.await(inv.ID, "reversed", func(s state) bool {
			return len(s.payments) == 1 && s.payments[0].Status == invoice.PaymentReversed
		})
		if s.inv.Status != invoice.StatusOpen || s.inv.AmountPaid.Sign() != 0 {
			t.Errorf("after reversal: %s, paid %s", s.inv.Status, s.inv.AmountPaid)
		}
	})
}

// TestRateLimited pays through a node that answers storms of HTTP 429.
func TestRateLimited(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db, "solana_devnet", solana.PublicKey{})
		inv, in := h.invoice("2.00")
		r, u := request(t, in)
		h.cluster.mu.Lock()
		h.cluster.storm = 40
		h.cluster.mu.Unlock()
		h.watch(nil)
		h.pay(u, r.References[0], "finalized")
		time.Sleep(20 * time.Millisecond)
		h.cluster.mu.Lock()
		h.cluster.storm = 40
		h.cluster.mu.Unlock()
		h.await(inv.ID, "paid through 429s", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "2.00"))
		st := h.monitor.Status()["solana_devnet"]
		if st.RPCErrors < 40 || st.Confirmed != "finalized" {
			t.Errorf("status %+v: want at least 40 RPC errors counted", st)
		}
	})
}

// TestWrongCluster refuses a node of another cluster.
func TestWrongCluster(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db, "solana_devnet", solana.PublicKey{})
		h.cluster.mu.Lock()
		h.cluster.genesis = mainnetGenesis
		h.cluster.mu.Unlock()
		n, _ := h.cat.Network("solana_devnet")
		if err := solwatch.CheckChain(h.ctx, n, chains.Endpoint{HTTP: h.cluster.URL()}); !errors.Is(err, solwatch.ErrWrongChain) {
			t.Errorf("CheckChain: %v", err)
		}
		stop := h.watch(nil)
		deadline := time.Now().Add(10 * time.Second)
		for h.cluster.count("getGenesisHash") < 2 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		if err := stop(); !errors.Is(err, solwatch.ErrWrongChain) {
			t.Errorf("Run: %v, want ErrWrongChain", err)
		}
		if n := h.cluster.count("getSignaturesForAddress"); n != 0 {
			t.Errorf("%d scans of another cluster", n)
		}
	})
}
