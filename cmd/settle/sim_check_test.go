package main

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// The simulation's invariants, checked against the store and the API.

// checkAll checks every invariant; the final check also audits the chain
// with `settle reconcile`.
func (s *sim) checkAll(final bool) {
	s.t.Helper()
	s.expectChain()
	for _, inv := range s.invoices {
		s.expect(inv)
		got := s.w.list(inv.m.key, "/api/v1/invoices/"+inv.id+"/payments")
		if diff := paymentsDiff(inv, got); diff != "" {
			s.fail("invoice %d (%s): %s", inv.n, inv.id, diff)
		}
		s.checkPaidIsConfirmed(inv, got)
	}
	for _, m := range s.merchants {
		s.checkUnmatched(m)
	}
	s.checkEvents()
	if final {
		s.checkReconcile()
	}
}

// checkPaidIsConfirmed: amount_paid is the sum of the confirmed payments
// settle lists, whatever the model thinks.
func (s *sim) checkPaidIsConfirmed(inv *simInvoice, payments []map[string]any) {
	s.t.Helper()
	scale := inv.decimals
	type row struct {
		units    *big.Int
		decimals int
	}
	var confirmed []row
	for _, p := range payments {
		units, _ := new(big.Int).SetString(fmt.Sprint(p["amount_units"]), 10)
		amount := fmt.Sprint(p["amount"])
		decimals := 0
		if _, frac, ok := strings.Cut(amount, "."); ok {
			decimals = len(frac)
		}
		scale = max(scale, decimals)
		if p["status"] == pConfirmed {
			confirmed = append(confirmed, row{units, decimals})
		}
	}
	sum := new(big.Int)
	for _, r := range confirmed {
		sum.Add(sum, new(big.Int).Mul(r.units, pow10(scale-r.decimals)))
	}
	sum.Quo(sum, pow10(scale-inv.decimals))
	a := s.w.api(inv.m.key, "GET", "/api/v1/invoices/"+inv.id, nil)
	if want := formatUnits(sum, inv.decimals); a.str("amount_paid") != want {
		s.fail("invoice %d (%s): amount_paid %s, its confirmed payments sum to %s", inv.n, inv.id, a.str("amount_paid"), want)
	}
}

// checkUnmatched: each merchant's unmatched rail credits are the model's,
// and so is the number of rail credits it has.
func (s *sim) checkUnmatched(m *simMerchant) {
	s.t.Helper()
	got := s.w.list(m.key, "/api/v1/rail-unmatched")
	want := 0
	for _, c := range m.unmatched {
		if c.chain {
			continue
		}
		want++
		if c.id == "" {
			continue // a QRIS credit: its answer names no id
		}
		found := false
		for _, g := range got {
			found = found || g["id"] == c.id
		}
		if !found {
			s.fail("merchant %d's unmatched credit %s is not in its list", m.n, c.id)
		}
	}
	if len(got) != want {
		s.fail("merchant %d keeps %d unmatched rail credits, the model %d", m.n, len(got), want)
	}
	n, err := s.w.db.NewSelect().Table("rail_credits").Where("merchant_id = ?", m.id).Count(context.Background())
	if err != nil {
		s.fail("count rail credits: %v", err)
	}
	if n != int64(m.credits) {
		s.fail("merchant %d has %d rail credits recorded, the model %d", m.n, n, m.credits)
	}
}

// checkEvents: every event numbered, without a gap; each merchant's feed
// is its own events in order; per invoice, one invoice.created and an
// invoice.updated for each change of status or exception, ending where the
// invoice is; per payment, an invoice_payment.updated for each change.
func (s *sim) checkEvents() {
	s.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := s.w.db.NewSelect().Table("events").Where("sequence IS NULL").Count(ctx)
		if err != nil {
			s.fail("count events: %v", err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			s.fail("%d events never numbered", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var seqs []int64
	if err := s.w.db.NewSelect().Table("events").Column("sequence").OrderExpr("sequence").Scan(ctx, &seqs); err != nil {
		s.fail("read sequences: %v", err)
	}
	for i, q := range seqs {
		if q != int64(i+1) {
			s.fail("event sequence has a gap or a repeat: position %d holds %d", i+1, q)
		}
	}
	total := 0
	for _, m := range s.merchants {
		feed := s.w.list(m.key, "/api/v1/events")
		total += len(feed)
		s.checkFeed(m, feed)
	}
	if total != len(seqs) {
		s.fail("the merchants' feeds hold %d events, the store %d", total, len(seqs))
	}
}

func (s *sim) checkFeed(m *simMerchant, feed []map[string]any) {
	s.t.Helper()
	mine := map[string]*simInvoice{}
	for _, inv := range s.invoices {
		if inv.m == m {
			mine[inv.id] = inv
		}
	}
	type state struct{ status, exception string }
	created := map[string]int{}
	at := map[string]state{}         // invoice → status and exception after its events so far
	paymentAt := map[string]string{} // payment → status after its events so far
	alerts := map[string]string{}    // alert → its state after its events so far
	var last float64
	for _, ev := range feed {
		seq, _ := ev["sequence"].(float64)
		if seq <= last {
			s.fail("merchant %d's feed is out of order at %v", m.n, ev["id"])
		}
		last = seq
		data, _ := ev["data"].(map[string]any)
		obj, _ := data["object"].(map[string]any)
		typ, _ := ev["type"].(string)
		invID, _ := obj["id"].(string)
		if typ == "invoice_payment.updated" {
			invID, _ = obj["invoice_id"].(string)
		}
		if typ == "system.alert" {
			s.checkAlert(m, mine, alerts, ev, obj)
			continue
		}
		if mine[invID] == nil {
			s.fail("merchant %d's feed holds %s %v of invoice %s, not its own", m.n, typ, ev["id"], invID)
		}
		switch typ {
		case "invoice.created":
			created[invID]++
			at[invID] = state{stOpen, exNone}
		case "invoice.updated":
			prev := at[invID]
			next := state{fmt.Sprint(obj["status"]), fmt.Sprint(obj["exception"])}
			if data["previous_status"] != prev.status {
				s.fail("invoice %s: invoice.updated %v says it was %v, it was %s", invID, ev["id"], data["previous_status"], prev.status)
			}
			if next == prev {
				s.fail("invoice %s: invoice.updated %v changes nothing (%v)", invID, ev["id"], next)
			}
			at[invID] = next
		case "invoice_payment.updated":
			id := fmt.Sprint(obj["id"])
			status := fmt.Sprint(obj["status"])
			if paymentAt[id] == status {
				s.fail("payment %s: invoice_payment.updated %v repeats status %s", id, ev["id"], status)
			}
			paymentAt[id] = status
		default:
			s.fail("merchant %d's feed holds an unexpected %s event", m.n, typ)
		}
	}
	for id, inv := range mine {
		if created[id] != 1 {
			s.fail("invoice %s has %d invoice.created events", id, created[id])
		}
		if got := at[id]; got != (state{inv.status, inv.exception}) {
			s.fail("invoice %d (%s): its events end at %v, it is %s/%s", inv.n, id, got, inv.status, inv.exception)
		}
		for _, p := range s.w.list(m.key, "/api/v1/invoices/"+id+"/payments") {
			if pid := fmt.Sprint(p["id"]); paymentAt[pid] != p["status"] {
				s.fail("payment %s: its events end at %q, it is %v", pid, paymentAt[pid], p["status"])
			}
		}
	}
}

// checkAlert checks one system.alert event of m's feed: an alert about
// m's own money (an unmatched payment or rail credit of its own, or an
// invoice of its own), fired once and resolved at most once after.
func (s *sim) checkAlert(m *simMerchant, mine map[string]*simInvoice, alerts map[string]string, ev, obj map[string]any) {
	s.t.Helper()
	id, kind, subject, state := fmt.Sprint(obj["id"]), fmt.Sprint(obj["kind"]), fmt.Sprint(obj["subject"]), fmt.Sprint(obj["state"])
	switch {
	case alerts[id] == "" && state != "firing", alerts[id] == "firing" && state != "resolved", alerts[id] == "resolved":
		s.fail("merchant %d: alert %s %s after %q (event %v)", m.n, id, state, alerts[id], ev["id"])
	}
	alerts[id] = state
	switch kind {
	case "unmatched_payment":
		for _, path := range []string{"/api/v1/unmatched-payments", "/api/v1/rail-unmatched"} {
			for _, u := range s.w.list(m.key, path) {
				if u["id"] == subject {
					return
				}
			}
		}
		s.fail("merchant %d's feed holds alert %s about unmatched money %s not its own", m.n, id, subject)
	case "refund_due":
		if mine[subject] == nil {
			s.fail("merchant %d's feed holds alert %s about invoice %s not its own", m.n, id, subject)
		}
	default:
		s.fail("merchant %d's feed holds an unexpected alert %s (%s)", m.n, id, kind)
	}
}

// checkReconcile runs `settle reconcile` on the devnet: the chain and the
// store agree.
func (s *sim) checkReconcile() {
	s.t.Helper()
	env := map[string]string{"SETTLE_RPC_DEVNET": s.w.chain.HTTPURL()}
	// Blocks mined on demand carry timestamps ahead of the clock.
	out, err := reconcileRun(s.t, env, "--network", "devnet", "--database-url", s.w.db.URL,
		"--from", s.begin.Add(-time.Hour).Format(time.RFC3339), "--to", time.Now().UTC().Add(30*24*time.Hour).Format(time.RFC3339))
	if lines := discrepancyLines(out); err != nil || len(lines) > 0 || !strings.Contains(out, "no discrepancies") {
		s.fail("settle reconcile: %v\n%s", err, out)
	}
	// It looked at every chain payment and unmatched transfer.
	payments, unmatched := 0, 0
	for _, inv := range s.invoices {
		for _, p := range inv.payments {
			if p.chain {
				payments++
			}
		}
	}
	for _, m := range s.merchants {
		for _, c := range m.unmatched {
			if c.chain {
				unmatched++
			}
		}
	}
	want := fmt.Sprintf("checked %d payment", payments)
	if !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf(" and %d unmatched ", unmatched)) {
		s.fail("settle reconcile did not check the %d chain payments and %d unmatched transfers:\n%s", payments, unmatched, out)
	}
	s.t.Logf("settle reconcile: %s", strings.TrimSpace(out[strings.Index(out, "checked"):]))
}
