package solana_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go/rpc"

	"github.com/settlepay/settle/chains"
	solwatch "github.com/settlepay/settle/chains/solana"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// withBlockTime serves the cluster with getBlockTime too, from the block
// times of its transactions, dropped ones included (their slot stays); a
// slot without one is skipped, as a node answers. It counts the calls.
func withBlockTime(t *testing.T, c *cluster, calls *int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params []uint64        `json:"params"`
		}
		if json.Unmarshal(body, &req) != nil || req.Method != "getBlockTime" {
			r.Body = io.NopCloser(bytes.NewReader(body))
			c.ServeHTTP(w, r)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		*calls++
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID,
			"error": map[string]any{"code": -32007, "message": fmt.Sprintf("Slot %d was skipped, or missing due to ledger jump to recent snapshot", req.Params[0])}}
		for _, e := range c.entries {
			if e.slot == req.Params[0] {
				resp = map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": e.blockTime}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAudit records payments before, in and after an audited range, audits
// the range (nothing to report, totals equal), then plants one discrepancy
// of each kind in the range and one outside it: the audit finds each in
// range exactly once, nothing else, and leaves the database as it was.
func TestAudit(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db, "solana_devnet", newKey())
		base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
		from, to := base.Add(time.Hour), base.Add(4*time.Hour)
		// pay lands a payment (with reference ref, or none) at base+at.
		amounts := map[*entry]int64{}
		pay := func(at time.Duration, units int64, ref, status string) *entry {
			e := payment{payer: newKey(), wallet: h.wallet, mint: h.mint, amount: units, pre: 0, reference: ref}.tx(status)
			e.blockTime = base.Add(at).Unix()
			e.built["blockTime"] = e.blockTime
			amounts[e] = units
			return h.cluster.add(e)
		}
		// units sums the amounts of payments, as the store has them.
		units := func(es ...*entry) string {
			var sum int64
			for _, e := range es {
				sum += amounts[e]
			}
			return invoice.NewUnits(sum).String()
		}
		// Invoices paid at these minutes after base: four before the range,
		// six in it (one seen only at the confirmed commitment: pending),
		// one after it; and a transfer in range that matches no invoice.
		var ids []string
		var paid []*entry
		var stray *entry
		for i, at := range []time.Duration{0, 10, 20, 30, 60, 90, 120, 150, 165, 180, 300} {
			inv, in := h.invoice(fmt.Sprintf("%d.00", 10+i))
			r, units := request(t, in)
			ids = append(ids, inv.ID)
			if at == 300 {
				stray = pay(210*time.Minute, 1_234_567, "", "finalized")
			}
			status := "finalized"
			if at == 165 {
				status = "confirmed"
			}
			paid = append(paid, pay(at*time.Minute, units, r.References[0], status))
		}
		stop := h.watch(func(c *solwatch.Config) { c.Backfill = 48 * time.Hour })
		for i, id := range ids {
			want := invoice.PaymentConfirmed
			if paid[i].status == "confirmed" {
				want = invoice.PaymentPending
			}
			h.await(id, "recorded", func(s state) bool { return len(s.payments) == 1 && s.payments[0].Status == want })
		}
		for len(h.unmatched()) != 1 {
			time.Sleep(10 * time.Millisecond)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		first, c, d, e, pending, after := paid[3], paid[5], paid[6], paid[7], paid[8], paid[10]
		inRange := append(slices.Clone(paid[4:10]), stray)
		// Outside the range, changed by hand: not this audit's business.
		for _, x := range []*entry{first, after} {
			if _, err := db.NewRaw("UPDATE payments SET amount = ? WHERE tx_id = ?", "5", x.sig).Exec(h.ctx); err != nil {
				t.Fatal(err)
			}
		}

		var blockTimes int
		client := rpc.New(withBlockTime(t, h.cluster, &blockTimes))
		n, _ := h.cat.Network(h.network)
		audit := func() chains.AuditReport {
			t.Helper()
			sum := storetest.Checksum(t, db)
			rep, err := solwatch.Audit(h.ctx, client, h.ledger, solwatch.AuditConfig{
				Network: n, Methods: h.cat.NetworkMethods(h.network), MerchantID: h.merchant, From: from, To: to,
				PageSize: 2, RetryInitial: time.Millisecond, RetryMax: 10 * time.Millisecond, RetryFor: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if storetest.Checksum(t, db) != sum {
				t.Error("the audit changed the database")
			}
			return rep
		}

		scans := h.cluster.count("getSignaturesForAddress")
		rep := audit()
		// Newest first in pages of 2: (stray, after), (…), …, the fifth
		// page reaching the range's start; nothing older is read.
		if n := h.cluster.count("getSignaturesForAddress") - scans; n != 5 {
			t.Errorf("getSignaturesForAddress asked %d times, want 5", n)
		}
		if len(rep.Discrepancies) != 0 || rep.Payments != 6 || rep.Unmatched != 1 || rep.Addresses != 1 ||
			rep.FromBlock != int64(inRange[0].slot) || rep.ToBlock != int64(stray.slot) {
			t.Fatalf("clean audit: %+v", rep)
		}
		if tot := rep.Totals; len(tot) != 1 || tot[0].Token != h.mint.String() || tot[0].ChainTransfers != 7 || tot[0].Recorded != 7 ||
			tot[0].ChainUnits != units(inRange...) || tot[0].RecordedUnits != tot[0].ChainUnits {
			t.Fatalf("clean audit totals %+v, want %s in 7 on both sides", rep.Totals, units(inRange...))
		}
		if blockTimes != 0 {
			t.Errorf("clean audit asked getBlockTime %d times; every time was in the signatures and transactions", blockTimes)
		}

		// Plant one of each kind in the range, and a transaction unknown to
		// the node after it.
		for _, x := range []*entry{d, pending, after} { // recorded, and unknown to the node
			h.cluster.set(x, func(e *entry) { e.dropped = true })
		}
		if _, err := db.NewRaw("UPDATE payments SET amount = ? WHERE tx_id = ?", "1", c.sig).Exec(h.ctx); err != nil {
			t.Fatal(err)
		}
		h.cluster.set(e, func(e *entry) { // failed on chain, its balances untouched
			e.err = map[string]any{"InstructionError": []any{0, map[string]any{"Custom": 1}}}
			e.built["meta"].(map[string]any)["err"] = e.err
		})
		missed := pay(200*time.Minute, 777, "", "finalized")
		h.cluster.mu.Lock()
		h.cluster.storm = 3 // and rate limits to ride out
		h.cluster.mu.Unlock()

		rep = audit()
		type found struct {
			kind     chains.DiscrepancyKind
			tx       string
			recorded string
			chain    string
		}
		var got []found
		for _, x := range rep.Discrepancies {
			got = append(got, found{x.Kind, x.TxID, x.Recorded, x.Chain})
			if x.Network != h.network || x.Decimals != 6 || x.Asset != "USDC" || x.Index != 2 || x.Detail == "" {
				t.Errorf("discrepancy %+v", x)
			}
		}
		want := []found{
			{chains.AmountDiffers, c.sig, "1", units(c)},
			{chains.MissingOnChain, d.sig, units(d), ""},
			{chains.MissingOnChain, e.sig, units(e), ""},
			{chains.Reversed, pending.sig, units(pending), ""},
			{chains.NotRecorded, missed.sig, "", "777"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("discrepancies\n got %+v\nwant %+v\n%+v", got, want, rep.Discrepancies)
		}
		for _, x := range rep.Discrepancies {
			if x.Kind == chains.MissingOnChain && x.TxID == e.sig && !strings.Contains(x.Detail, "failed") {
				t.Errorf("failed transaction reported as %q", x.Detail)
			}
		}
		onChain := units(paid[4], c, paid[9], stray, missed)
		amounts[c] = 1 // as stored now
		recorded := units(inRange...)
		if tot := rep.Totals; len(tot) != 1 || tot[0].ChainUnits != onChain || tot[0].ChainTransfers != 5 ||
			tot[0].RecordedUnits != recorded || tot[0].Recorded != 7 {
			t.Errorf("totals %+v, want chain %s in 5, recorded %s in 7", rep.Totals, onChain, recorded)
		}
		if blockTimes != 3 {
			t.Errorf("getBlockTime asked %d times, want 3 (the slots of the unknown transactions)", blockTimes)
		}
	})
}
