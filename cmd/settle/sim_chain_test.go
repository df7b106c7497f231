package main

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// The money simulation's steps on the chain.

// tokenPerMinor is how many token base units (6 decimals) make one cent.
var tokenPerMinor = big.NewInt(10_000)

func (s *sim) chainPayment() bool {
	inv, ok := pick(s, s.invoices, func(inv *simInvoice) bool { return inv.units != nil })
	if !ok {
		return false
	}
	// On a shared address the digits below a cent name the invoice; they
	// stay in every amount sent to it (a partial payment, a top-up).
	code := new(big.Int).Mod(inv.units, tokenPerMinor)
	units := new(big.Int).Set(inv.units)
	if inv.paid() > 0 || s.rng.IntN(3) == 0 {
		units.Add(new(big.Int).Mul(big.NewInt(s.payAmount(inv)), tokenPerMinor), code)
	}
	to := inv.address
	if !inv.m.xpub {
		to = inv.m.address
	}
	tx, parent := s.w.transfer(to, units)
	s.chainConfirmed()
	p := &simPayment{inv: inv, key: strings.ToLower(tx.Hex()), chain: true, units: units, decimals: 6, status: pPending, early: !inv.expired}
	inv.payments = append(inv.payments, p)
	inv.settle()
	s.lastPay = &pendingTransfer{tx: tx, parent: parent, nonce: s.w.nonce - 1, pay: p}
	if s.rng.IntN(10) == 0 {
		s.w.restart(true) // a crash while the watcher may be reading the block
	}
	s.expectChain()
	return true
}

// chainUnmatched sends a transfer no invoice expects to the shared address
// (whole cents: no code).
func (s *sim) chainUnmatched() bool {
	m, ok := pick(s, s.merchants, func(m *simMerchant) bool { return !m.xpub })
	if !ok {
		return false
	}
	units := new(big.Int).Mul(big.NewInt(int64(1+s.rng.IntN(50_000))), tokenPerMinor)
	tx, parent := s.w.transfer(m.address, units)
	s.chainConfirmed()
	c := &simCredit{id: strings.ToLower(tx.Hex()), txID: strings.ToLower(tx.Hex()), chain: true, status: pPending}
	m.unmatched = append(m.unmatched, c)
	s.lastPay = &pendingTransfer{tx: tx, parent: parent, nonce: s.w.nonce - 1, unmatched: c}
	s.expectChain()
	return true
}

func (s *sim) mineBlock() bool {
	s.w.mine(common.Hash{})
	s.chainConfirmed()
	s.lastPay = nil
	s.expectChain()
	return true
}

// chainConfirmed is the model's view after a new block: every transfer
// that was pending is now at the devnet's depth.
func (s *sim) chainConfirmed() {
	for _, inv := range s.invoices {
		moved := false
		for _, p := range inv.payments {
			if p.chain && p.status == pPending {
				p.status, moved = pConfirmed, true
			}
		}
		if moved {
			inv.settle()
		}
	}
	for _, m := range s.merchants {
		for _, c := range m.unmatched {
			if c.chain && c.status == pPending {
				c.status = pConfirmed
			}
		}
	}
	s.lastPay = nil
}

// reorgAway forks the newest transfer's block away and replaces the
// transfer: it is reversed before it confirmed.
func (s *sim) reorgAway() bool {
	lp := s.lastPay
	if lp == nil {
		return false
	}
	s.w.dropAndFork(lp.parent, lp.nonce)
	s.lastPay = nil
	// The replacement's block, and one more: nothing else was pending.
	if lp.pay != nil {
		lp.pay.status = pReversed
		lp.pay.inv.settle()
	} else {
		lp.unmatched.status = pReversed
	}
	s.expectChain()
	return true
}

// reorgAgain forks the newest transfer's block away; the transfer is mined
// again in another block and is the same payment, still pending.
func (s *sim) reorgAgain() bool {
	lp := s.lastPay
	if lp == nil {
		return false
	}
	s.w.remine(lp.parent, lp.tx)
	rc, err := s.w.eth.TransactionReceipt(context.Background(), lp.tx)
	if err != nil {
		s.fail("receipt of the transfer mined again: %v", err)
	}
	s.expectBlock(lp, strings.ToLower(rc.BlockHash.Hex()))
	s.expectChain()
	return true
}

// expectChain waits until settle shows every invoice with chain payments,
// and every unmatched transfer, as the model has them.
func (s *sim) expectChain() {
	s.t.Helper()
	for _, inv := range s.invoices {
		if inv.units != nil && len(inv.payments) > 0 {
			s.expectPayments(inv)
			s.expect(inv)
		}
	}
	for _, m := range s.merchants {
		if !m.xpub {
			s.expectUnmatchedTransfers(m)
		}
	}
}

// expectPayments waits until settle lists inv's payments with the model's
// statuses.
func (s *sim) expectPayments(inv *simInvoice) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.w.list(inv.m.key, "/api/v1/invoices/"+inv.id+"/payments")
		if diff := paymentsDiff(inv, got); diff == "" {
			return
		} else if time.Now().After(deadline) {
			s.fail("invoice %d (%s) payments: %s", inv.n, inv.id, diff)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// paymentsDiff says how settle's payments of inv differ from the model's.
func paymentsDiff(inv *simInvoice, got []map[string]any) string {
	if len(got) != len(inv.payments) {
		return fmt.Sprintf("settle lists %d payments, the model %d: %v / %s", len(got), len(inv.payments), got, inv.describe())
	}
	for _, p := range inv.payments {
		found := false
		for _, g := range got {
			id, _ := g["id"].(string)
			tx, _ := g["tx_id"].(string)
			if p.key != id && !(p.chain && strings.EqualFold(p.key, tx)) {
				continue
			}
			found = true
			if g["status"] != p.status || g["amount_units"] != p.units.String() {
				return fmt.Sprintf("payment %s is %v %v in settle, %s %s in the model", p.key, g["status"], g["amount_units"], p.status, p.units)
			}
		}
		if !found {
			return fmt.Sprintf("payment %s of the model is not in settle: %v", p.key, got)
		}
	}
	return ""
}

// expectBlock waits until settle has the pending transfer in block hash.
func (s *sim) expectBlock(lp *pendingTransfer, hash string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var rows []map[string]any
		if lp.pay != nil {
			rows = s.w.list(lp.pay.inv.m.key, "/api/v1/invoices/"+lp.pay.inv.id+"/payments")
		} else {
			for _, m := range s.merchants {
				if !m.xpub {
					rows = s.w.list(m.key, "/api/v1/unmatched-payments")
				}
			}
		}
		for _, r := range rows {
			if strings.EqualFold(fmt.Sprint(r["tx_id"]), lp.tx.Hex()) && strings.EqualFold(fmt.Sprint(r["block_hash"]), hash) && r["status"] == pPending {
				return
			}
		}
		if time.Now().After(deadline) {
			s.fail("transfer %s mined again in block %s: settle shows %v", lp.tx.Hex(), hash, rows)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectUnmatchedTransfers waits until m's unmatched transfers are the
// model's, with its statuses.
func (s *sim) expectUnmatchedTransfers(m *simMerchant) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.w.list(m.key, "/api/v1/unmatched-payments")
		diff := ""
		want := 0
		for _, c := range m.unmatched {
			if !c.chain {
				continue
			}
			want++
			found := false
			for _, g := range got {
				if strings.EqualFold(fmt.Sprint(g["tx_id"]), c.txID) {
					found = true
					if g["status"] != c.status {
						diff = fmt.Sprintf("unmatched transfer %s is %v in settle, %s in the model", c.txID, g["status"], c.status)
					}
				}
			}
			if !found {
				diff = "unmatched transfer " + c.txID + " is not in settle"
			}
		}
		if diff == "" && len(got) != want {
			diff = fmt.Sprintf("settle keeps %d unmatched transfers, the model %d", len(got), want)
		}
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			s.fail("merchant %d: %s", m.n, diff)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
