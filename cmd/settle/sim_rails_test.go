package main

import (
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The money simulation's steps on the rails: new credits, replays, the same
// transfer again, copies at once, and a crash while one is on its way.

// railMethod is the invoice method paid through a rail.
var railMethod = map[string]string{"fednow": "fednow", "rtp": "rtp", "ach": "ach_same_day", "push_to_card": "push_to_card", "qris": "qris"}

// simUETR is the UETR a merchant's bank gives its n-th transfer: the same
// for both merchants' n-th, which must not matter.
func simUETR(n int) string { return fmt.Sprintf("%08x-5e77-4000-8000-%012x", n, n) }

// newNotification makes a credit never sent before to a merchant, with
// what it must become.
func (s *sim) newNotification() (sentNotification, outcome) {
	m := s.merchant()
	kinds := []string{"fednow pacs.008", "fednow camt.054", "rtp pacs.008", "rtp camt.054", "ach", "push_to_card", "qris forwarded", "qris callback"}
	kind := kinds[s.rng.IntN(len(kinds))]
	rail, _, _ := strings.Cut(kind, " ")
	if strings.HasPrefix(kind, "qris") {
		return s.qrisNotification(m, kind)
	}
	acct := m.rails[rail]
	sn := sentNotification{m: m, rail: rail, n: notification{path: "/api/v1/rails/" + rail + "/notifications", account: acct.id, secret: acct.secret, contentType: "application/xml"}}
	var want outcome
	var amount int64
	ref := ""
	usd := func(inv *simInvoice) bool { return inv.m == m && inv.currency == "USD" && inv.ref != "" }
	switch r := s.rng.IntN(10); {
	case r < 6: // with the invoice's reference
		inv, ok := pick(s, s.invoices, usd)
		if !ok {
			return s.newNotificationUnmatched(m, rail, kind, sn)
		}
		ref, amount = inv.ref, s.payAmount(inv)
		want = outcome{status: "matched", invoice: inv}
	case r < 8: // no reference: the one open invoice of that amount, if one
		inv, ok := pick(s, s.invoices, func(inv *simInvoice) bool { return usd(inv) && inv.method == railMethod[rail] })
		if !ok {
			return s.newNotificationUnmatched(m, rail, kind, sn)
		}
		amount = inv.amount
		want = outcome{status: "unmatched"}
		var candidates []*simInvoice
		for _, c := range s.invoices {
			if c.m == m && c.currency == "USD" && c.method == railMethod[rail] && c.amount == amount &&
				(c.status == stOpen || c.status == stProcessing) {
				candidates = append(candidates, c)
			}
		}
		if len(candidates) == 1 {
			want = outcome{status: "matched", invoice: candidates[0]}
		}
	default:
		return s.newNotificationUnmatched(m, rail, kind, sn)
	}
	s.fillBank(&sn, kind, amount, ref)
	return sn, want
}

// newNotificationUnmatched is a bank credit no invoice expects: no
// reference, and a number of cents no invoice amount has.
func (s *sim) newNotificationUnmatched(m *simMerchant, rail, kind string, sn sentNotification) (sentNotification, outcome) {
	s.fillBank(&sn, kind, int64(1+s.rng.IntN(300))*100+3, "")
	return sn, outcome{status: "unmatched"}
}

// fillBank writes the body of a bank or processor credit of amount cents.
func (s *sim) fillBank(sn *sentNotification, kind string, amount int64, ref string) {
	m := sn.m
	m.ids++
	n := m.ids
	dollars := formatUnits(big.NewInt(amount), 2)
	e2e, rmt := "NOTPROVIDED", "thank you"
	if ref != "" {
		e2e, rmt = ref, "Invoice "+ref
	}
	sn.amount, sn.reference = dollars, ref
	switch kind {
	case "fednow pacs.008", "rtp pacs.008":
		sn.uetr = simUETR(n)
		sn.n.body = simPacs(sn.uetr, e2e, dollars, rmt)
	case "fednow camt.054", "rtp camt.054":
		if s.rng.IntN(2) == 0 {
			sn.uetr = simUETR(n)
		}
		sn.n.body = simCamt(fmt.Sprintf("SVCR-%d", n), sn.uetr, e2e, dollars, rmt)
	case "ach":
		sn.n.path, sn.n.contentType = "/api/v1/rails/ach/files", "text/plain"
		addenda := "RMR*IV*NONE*PI*\\"
		if ref != "" {
			addenda = "RMR*IV*" + ref + "*PI*\\"
		}
		sn.n.body = simNACHA(s.t, fmt.Sprintf("0110001%08d", n), amount, addenda)
	case "push_to_card":
		sn.n.contentType = "application/json"
		sn.n.body = simPush(fmt.Sprintf("ptc_sim_%d", n), amount, ref)
	}
}

// qrisNotification is a forwarded notification or a callback: by total
// (or, for a callback, by the invoice's reference), or of a total nobody
// holds.
func (s *sim) qrisNotification(m *simMerchant, kind string) (sentNotification, outcome) {
	acct := m.rails["qris"]
	sn := sentNotification{m: m, rail: "qris", n: notification{account: acct.id, secret: acct.secret}}
	m.ids++
	n := m.ids
	var want outcome
	var inv *simInvoice
	total := int64(5_000_000 + 7*n) // a total no invoice holds
	if target, ok := pick(s, s.invoices, func(inv *simInvoice) bool { return inv.m == m && inv.method == "qris" }); ok && s.rng.IntN(5) > 0 {
		inv, total = target, target.asked
		want = outcome{status: "matched", invoice: inv}
	} else {
		want = outcome{status: "unmatched"}
	}
	if kind == "qris forwarded" {
		sn.n.path, sn.n.keyHeader = "/api/v1/rails/qris/notifications", "Authorization"
		notif := fmt.Sprint(n)
		if len(m.notifs) > 0 && s.rng.IntN(3) == 0 {
			notif = m.notifs[s.rng.IntN(len(m.notifs))] // the app reuses its notification ids
		}
		m.notifs = append(m.notifs, notif)
		msg := "Kamu menerima " + rupiah(total) + " dari SIM PAYOR"
		if s.rng.IntN(3) == 0 {
			msg = "Saldo " + rupiah(int64(1_000_000+n)) + ". " + msg // a balance before the credit
		}
		sn.n.body = simForwarded(notif, fmt.Sprintf("hash-%d", n), msg)
		sn.amount = fmt.Sprint(total)
		return sn, want
	}
	sn.n.path, sn.n.keyHeader = "/api/v1/rails/qris/callback", "X-Callback-Key"
	refs := []string{"", "optional-reference", "optional-reference", fmt.Sprintf("CB-%d", n)}
	if inv != nil {
		refs = append(refs, inv.ref)
	}
	ref := refs[s.rng.IntN(len(refs))]
	switch {
	case inv != nil && ref == inv.ref:
		total = s.payAmount(inv) // the reference names the invoice: any amount
	case inv == nil && s.rng.IntN(2) == 0:
		// A total that the next invoice of a new amount will hold: paid
		// before it existed, it is unmatched; the same callback after it
		// is another credit, that invoice's.
		if x, ok := s.freshQRISAmount(m); ok {
			total = x + 1
			m.planned = append(m.planned, x)
		}
	}
	if _, seen := m.callbacks[callbackKey(total, ref, inv)]; seen {
		// The same again would be a retry: another reference, matched by
		// the total.
		ref = fmt.Sprintf("CB-%d", n)
		if inv != nil {
			total = inv.asked
		}
	}
	sn.amount, sn.reference, sn.callback = fmt.Sprint(total), ref, callbackKey(total, ref, inv)
	sn.n.body = simCallback(total, ref)
	return sn, want
}

// callbackKey is a QRIS callback's identity: amount, reference and the
// invoice it pays.
func callbackKey(total int64, ref string, inv *simInvoice) string {
	target := "unmatched"
	if inv != nil {
		target = inv.id
	}
	return fmt.Sprintf("%d|%s|%s", total, ref, target)
}

// callbackTarget is the invoice a callback pays now: the one its reference
// names, else the one of m whose QRIS total it is.
func (s *sim) callbackTarget(m *simMerchant, total int64, ref string) *simInvoice {
	for _, inv := range s.invoices {
		if inv.m == m && inv.method == "qris" && (ref != "" && inv.ref == ref || inv.asked == total && !strings.HasPrefix(ref, "ST-")) {
			return inv
		}
	}
	return nil
}

// freshQRISAmount is an amount no QRIS invoice of m has or will have, whose
// first total (the amount plus 1) nobody holds.
func (s *sim) freshQRISAmount(m *simMerchant) (int64, bool) {
	for range 20 {
		x := int64(10_000 + 500*s.rng.IntN(180))
		if slices.Contains(m.planned, x) || slices.ContainsFunc(s.invoices, func(inv *simInvoice) bool {
			return inv.m == m && inv.method == "qris" && (inv.amount == x || inv.asked == x+1)
		}) {
			continue
		}
		return x, true
	}
	return 0, false
}

func (s *sim) railCredit() bool {
	sn, want := s.newNotification()
	s.record(sn, want, []answer{s.w.send(sn.n)})
	return true
}

func (s *sim) concurrentCopies() bool {
	sn, want := s.newNotification()
	s.record(sn, want, s.w.sendAll(sn.n, 2+s.rng.IntN(5)))
	return true
}

// record checks the answers to the copies of one new credit, exactly one of
// which records it, and applies it to the model.
func (s *sim) record(sn sentNotification, want outcome, answers []answer) {
	s.t.Helper()
	var got []outcome
	duplicates := 0
	for _, a := range answers {
		o, dup := s.readAnswer(sn, a)
		if dup {
			duplicates++
			got = append(got, o)
			continue
		}
		if o.status != want.status || want.invoice != nil && o.paymentID == "" {
			s.fail("%s credit %s: answered %d %s, want %s to invoice %v", sn.rail, sn.amount, a.status, a.raw, want.status, want.invoice)
		}
		if want.invoice != nil && (o.invoice == nil || o.invoice != want.invoice) {
			s.fail("%s credit %s: recorded for invoice %v, want %d (%s): %s", sn.rail, sn.amount, o.invoice, want.invoice.n, want.invoice.id, a.raw)
		}
		sn.outcome = o
	}
	if duplicates != len(answers)-1 || sn.outcome.status == "" {
		s.fail("%d copies of one %s credit: %d answered as duplicates, want %d: %v", len(answers), sn.rail, duplicates, len(answers)-1, answers)
	}
	for _, o := range got {
		if o.paymentID != sn.outcome.paymentID || o.unmatched != sn.outcome.unmatched {
			s.fail("a copy of a %s credit is a duplicate of %+v, the credit was recorded as %+v", sn.rail, o, sn.outcome)
		}
	}
	s.land(sn, sn.outcome)
}

// land applies a recorded credit to the model.
func (s *sim) land(sn sentNotification, o outcome) {
	sn.outcome = o
	m := sn.m
	m.credits++
	if sn.callback != "" {
		m.callbacks[sn.callback] = sn.outcome
	}
	switch sn.outcome.status {
	case "matched":
		inv := sn.outcome.invoice
		units, ok := new(big.Int).SetString(strings.ReplaceAll(sn.amount, ".", ""), 10)
		if !ok {
			s.fail("amount %q", sn.amount)
		}
		inv.payments = append(inv.payments, &simPayment{inv: inv, key: sn.outcome.paymentID, units: units, decimals: inv.decimals,
			status: pConfirmed, early: !inv.expired})
		inv.settle()
		s.expect(inv)
	case "unmatched":
		m.unmatched = append(m.unmatched, &simCredit{id: sn.outcome.unmatched})
	}
	s.sent = append(s.sent, sn)
}

// crashDuringCredit kills the server while a new credit is on its way, as
// a crash would; the rail, having no answer, sends it again to the fresh
// process. Whether the first copy was recorded or not, the credit is
// recorded once: the second answer is the credit, or its duplicate.
func (s *sim) crashDuringCredit() bool {
	sn, want := s.newNotification()
	first := make(chan struct{})
	go func() {
		defer close(first)
		s.w.trySend(sn.n) // answered or cut off: the rail cannot tell
	}()
	time.Sleep(time.Duration(s.rng.IntN(4000)) * time.Microsecond)
	s.w.stop(true)
	<-first
	s.w.start()
	a := s.w.send(sn.n)
	if o, dup := s.readAnswer(sn, a); dup {
		// The first copy was recorded before the crash: this answer says
		// as what.
		o.status = want.status
		if want.status == "matched" && (o.invoice != want.invoice || o.paymentID == "") ||
			want.status == "unmatched" && o.paymentID != "" {
			s.fail("%s credit recorded before a crash as %+v, want %s to %v", sn.rail, o, want.status, want.invoice)
		}
		s.land(sn, o)
		return true
	}
	s.record(sn, want, []answer{a})
	return true
}

// readAnswer reads what became of a credit, and whether it was a duplicate.
func (s *sim) readAnswer(sn sentNotification, a answer) (outcome, bool) {
	s.t.Helper()
	byID := func(id string) *simInvoice {
		for _, inv := range s.invoices {
			if inv.id == id {
				return inv
			}
		}
		return nil
	}
	if sn.rail == "qris" {
		switch {
		case a.status == http.StatusNotFound && a.str("code") == "no_matching_invoice":
			return outcome{status: "unmatched"}, false
		case a.status != http.StatusOK:
			s.fail("qris %s: %d %s", sn.n.path, a.status, a.raw)
		}
		o := outcome{status: a.str("status"), invoice: byID(a.str("invoice_id")), paymentID: a.str("payment_id")}
		if o.status == "duplicate" && o.paymentID == "" {
			o.status = "unmatched"
		}
		return o, a.str("status") == "duplicate"
	}
	if a.status != http.StatusOK {
		s.fail("%s notification: %d %s", sn.rail, a.status, a.raw)
	}
	results, _ := a.json["results"].([]any)
	if len(results) != 1 {
		s.fail("%s notification of one credit: %s", sn.rail, a.raw)
	}
	r := results[0].(map[string]any)
	str := func(k string) string { v, _ := r[k].(string); return v }
	o := outcome{status: str("status"), invoice: byID(str("invoice_id")), paymentID: str("payment_id"), unmatched: str("unmatched_id")}
	if str("invoice_id") != "" && o.invoice == nil || o.invoice != nil && o.invoice.m != sn.m {
		s.fail("merchant %d's %s credit names an invoice not its own: %s", sn.m.n, sn.rail, a.raw)
	}
	return o, o.status == "duplicate"
}

// railReplay sends a notification sent before again, as a bank retrying.
func (s *sim) railReplay() bool {
	if len(s.sent) == 0 {
		return false
	}
	sn := s.sent[s.rng.IntN(len(s.sent))]
	if sn.callback != "" {
		// A callback is the same credit only while it pays the same invoice.
		total, _ := strconv.ParseInt(sn.amount, 10, 64)
		inv := s.callbackTarget(sn.m, total, sn.reference)
		key := callbackKey(total, sn.reference, inv)
		if o, seen := sn.m.callbacks[key]; seen {
			sn.outcome = o
		} else {
			again := sn
			again.callback, again.outcome = key, outcome{}
			want := outcome{status: "unmatched"}
			if inv != nil {
				want = outcome{status: "matched", invoice: inv}
			}
			s.record(again, want, []answer{s.w.send(again.n)})
			return true
		}
	}
	s.expectDuplicate(sn, s.w.send(sn.n))
	return true
}

// sameTransfer sends a FedNow or RTP transfer with a UETR again in the
// other message type, or to the other instant rail.
func (s *sim) sameTransfer() bool {
	sn, ok := pick(s, s.sent, func(sn sentNotification) bool { return sn.uetr != "" })
	if !ok {
		return false
	}
	other := sn
	e2e, rmt := "NOTPROVIDED", "thank you"
	if sn.reference != "" {
		e2e, rmt = sn.reference, "Invoice "+sn.reference
	}
	if s.rng.IntN(2) == 0 {
		rail := map[string]string{"fednow": "rtp", "rtp": "fednow"}[sn.rail]
		acct := sn.m.rails[rail]
		other.n.path, other.n.account, other.n.secret = "/api/v1/rails/"+rail+"/notifications", acct.id, acct.secret
	} else if strings.Contains(string(sn.n.body), "pacs.008") {
		sn.m.ids++
		other.n.body = simCamt(fmt.Sprintf("SVCR-%d", sn.m.ids), strings.ToUpper(sn.uetr), e2e, sn.amount, rmt)
	} else {
		other.n.body = simPacs(sn.uetr, e2e, sn.amount, rmt)
	}
	s.expectDuplicate(sn, s.w.send(other.n))
	return true
}

// expectDuplicate checks that a is the duplicate of sn's credit.
func (s *sim) expectDuplicate(sn sentNotification, a answer) {
	s.t.Helper()
	o, dup := s.readAnswer(sn, a)
	if !dup || o.paymentID != sn.outcome.paymentID || o.unmatched != sn.outcome.unmatched {
		s.fail("%s credit sent again: answered %d %s, want a duplicate of %+v", sn.rail, a.status, a.raw, sn.outcome)
	}
}
