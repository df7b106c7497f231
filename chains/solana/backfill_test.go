package solana_test

import (
	"cmp"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	solwatch "github.com/settlepay/settle/chains/solana"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestBackfill reads a new wallet's token account for the first time: only
// transactions younger than Backfill before the wallet's registration are
// recorded (as unmatched payments here), so its old history is not; the
// reading goes on from there.
func TestBackfill(t *testing.T) {
	t.Parallel()
	const (
		minute = time.Minute
		second = time.Second
	)
	// past is a transaction in the account's history, with its block time
	// relative to the wallet's registration.
	type past struct {
		at       time.Duration
		recorded bool
	}
	cases := []struct {
		name     string
		backfill time.Duration // zero: the default, 10 min
		pageSize int
		history  []past // oldest first
	}{
		{name: "default, both sides of the cut-off", history: []past{
			{-24 * time.Hour, false}, {-10*minute - 2*second, false}, {-10*minute + 2*second, true}, {-minute, true}, {0, true},
		}},
		{name: "only history older than the cut-off", history: []past{
			{-30 * 24 * time.Hour, false}, {-time.Hour, false}, {-10*minute - 2*second, false},
		}},
		{name: "longer backfill, cut-off across pages", backfill: time.Hour, pageSize: 2, history: []past{
			{-2 * time.Hour, false}, {-time.Hour - 2*second, false}, {-time.Hour + 2*second, true}, {-11 * minute, true}, {0, true},
		}},
		{name: "no history", history: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
				t.Parallel()
				h := newHarness(t, db, "solana_devnet", solana.PublicKey{})
				wallets, err := h.ledger.Wallets(h.ctx, h.network)
				if err != nil || len(wallets) != 1 {
					t.Fatalf("wallets %+v, %v", wallets, err)
				}
				registered := wallets[0].Since
				if d := time.Since(registered); d < -time.Minute || d > time.Minute {
					t.Fatalf("wallet registered at %s, %s from now", registered, d)
				}
				var entries []*entry
				for i, p := range tc.history {
					e := payment{payer: newKey(), wallet: h.wallet, mint: h.mint, amount: 1_000_000 + int64(i)*10_000}.tx("finalized")
					e.blockTime = registered.Add(p.at).Unix()
					e.built["blockTime"] = e.blockTime
					entries = append(entries, h.cluster.add(e))
				}
				h.watch(func(c *solwatch.Config) { c.Backfill, c.PageSize = tc.backfill, tc.pageSize })

				// The first read is over once the cursor is at the newest
				// transaction; without history there is nothing to wait
				// for, and a transaction landing now is read.
				ata := mustATA(h)
				if len(entries) > 0 {
					h.awaitCursor(ata, entries[len(entries)-1].sig)
				}
				later := h.pay(2_000_000, "", "finalized")
				h.awaitCursor(ata, later.sig)

				recorded := map[string]bool{}
				for _, u := range h.unmatched() {
					recorded[u.TxID] = true
				}
				if !recorded[later.sig] {
					t.Errorf("payment after the first read not recorded")
				}
				h.cluster.mu.Lock()
				defer h.cluster.mu.Unlock()
				want := 1 // the later payment
				for i, p := range tc.history {
					e := entries[i]
					if p.recorded {
						want++
					}
					if recorded[e.sig] != p.recorded {
						t.Errorf("transaction at %s from registration (backfill %s): recorded %v, want %v",
							p.at, cmp.Or(tc.backfill, 10*time.Minute), recorded[e.sig], p.recorded)
					}
					if !p.recorded && h.cluster.txCalls[e.sig] != 0 {
						t.Errorf("transaction at %s from registration read, though older than the cut-off", p.at)
					}
				}
				if len(recorded) != want {
					t.Errorf("%d payments recorded, want %d", len(recorded), want)
				}
			})
		})
	}
}

// awaitCursor waits until the cursor of account is at signature.
func (h *harness) awaitCursor(account, signature string) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cur, ok, err := h.ledger.Cursor(h.ctx, h.network, account)
		if err != nil {
			h.t.Fatal(err)
		}
		if ok && cur.Signature == signature {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("cursor of %s at %+v, want %s", account, cur, signature)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
