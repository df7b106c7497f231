package openapi_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// readReturn reads a return sample of chains/fiat/testdata/returns (see
// its README for where each comes from and what it was checked against).
func readReturn(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../chains/fiat/testdata/returns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// achEdit parses a NACHA file, edits its first entry and writes it back
// with its controls computed again.
func achEdit(t *testing.T, file string, edit func(*fiat.ACHEntry)) string {
	t.Helper()
	f, err := fiat.ParseNACHA([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	edit(&f.Batches[0].Entries[0])
	b, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// railReturnCase is one rail's return of a credit: the credit (paying the
// invoice of reference ref), the rail's return of it, the same return
// naming a credit never recorded, and one of another amount.
type railReturnCase struct {
	name, rail, method, path, contentType string
	credit                                func(t *testing.T, ref string) string
	ret, unknown, mismatch                func(t *testing.T) string
	code, reason                          string
}

func railReturnCases() []railReturnCase {
	const fednow, rtp = "/api/v1/rails/fednow/notifications", "/api/v1/rails/rtp/notifications"
	const uetrA, uetrB = "e9b4b3c6-5f0e-4b8e-9d3a-2c1f7a6b8d10", "4c1d2e3f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
	const otherUETR = "00000000-1111-4222-8333-444444444444"
	file := func(name string) func(t *testing.T) string {
		return func(t *testing.T) string { return readReturn(t, name) }
	}
	edited := func(name string, r *strings.Replacer) func(t *testing.T) string {
		return func(t *testing.T) string { return r.Replace(readReturn(t, name)) }
	}
	return []railReturnCase{{
		// The credit came as a camt.054, its return as a pacs.004: the
		// UETR is the transfer's identity whichever message carries it.
		name: "fednow pacs.004", rail: "fednow", method: "fednow", path: fednow, contentType: "application/xml",
		credit: func(t *testing.T, ref string) string {
			return string(camtDoc(isoCredit{svcrRef: "CR-A", uetr: uetrA, e2e: "E2E-FEDNOW-0001", amount: "25.00", rmt: ref}))
		},
		ret:      file("pacs004_fednow.xml"),
		unknown:  edited("pacs004_fednow.xml", strings.NewReplacer(uetrA, otherUETR)),
		mismatch: edited("pacs004_fednow.xml", strings.NewReplacer(`>25.00</RtrdIntrBkSttlmAmt>`, `>24.00</RtrdIntrBkSttlmAmt>`)),
		code:     "AC04", reason: "Creditor account closed on 2025-01-02",
	}, {
		// The credit came as a pacs.008, its return as a camt.054 entry.
		name: "fednow camt.054 return", rail: "fednow", method: "fednow", path: fednow, contentType: "application/xml",
		credit:   func(t *testing.T, ref string) string { return pacs008(uetrB, "E2E-FEDNOW-0002", "25.00", ref) },
		ret:      file("camt054_return.xml"),
		unknown:  edited("camt054_return.xml", strings.NewReplacer(uetrB, otherUETR, "20250102011000138TX000002", "X", "<InstrId>I1</InstrId>", "")),
		mismatch: edited("camt054_return.xml", strings.NewReplacer("25.00", "24.00")),
		code:     "MS03", reason: "Not specified reason agent generated",
	}, {
		// An RTP pacs.008 without UETR is recorded under its TxId, which
		// the pacs.002 rejecting it names.
		name: "rtp pacs.002 RJCT", rail: "rtp", method: "rtp", path: rtp, contentType: "application/xml",
		credit: func(t *testing.T, ref string) string {
			return strings.Replace(pacs008("U", "E2E-RTP-0001", "25.00", ref), "<UETR>U</UETR>", "<TxId>20250102011000138RTPT0001</TxId>", 1)
		},
		ret:      file("pacs002_rtp_rjct.xml"),
		unknown:  edited("pacs002_rtp_rjct.xml", strings.NewReplacer("RTPT0001", "RTPT0009", "RTPI0001", "RTPI0009")),
		mismatch: edited("pacs002_rtp_rjct.xml", strings.NewReplacer(`>25.00</IntrBkSttlmAmt>`, `>24.00</IntrBkSttlmAmt>`)),
		code:     "AC03", reason: "Invalid creditor account number",
	}, {
		name: "ach R01", rail: "ach", method: "ach_same_day", path: "/api/v1/rails/ach/files", contentType: "text/plain",
		credit: func(t *testing.T, ref string) string { return string(achCredit(t, "011000130000042", 2500, ref)) },
		ret:    file("nacha_r01.ach"),
		unknown: func(t *testing.T) string {
			return achEdit(t, readReturn(t, "nacha_r01.ach"), func(e *fiat.ACHEntry) { e.Return.OriginalTrace = "011000130000043" })
		},
		mismatch: func(t *testing.T) string {
			return achEdit(t, readReturn(t, "nacha_r01.ach"), func(e *fiat.ACHEntry) { e.Amount = 2400 })
		},
		code: "R01", reason: "Insufficient funds: SAME-DAY CREDIT RETURNED",
	}}
}

// TestRailReturns (issue 15, point 3): on FedNow, RTP and Same-Day ACH a
// credit the rail returns or rejects reverses its payment through the one
// reversal push-to-card returns use: the paid invoice is open again with
// nothing paid, its session_status failed, the reversed payment's
// invoice_payment.updated (the terminal's payment_failed) carries the
// reason code and text, which the API shows. The same return again is a
// duplicate; a return of an unknown credit or of another amount, and one
// from another merchant's account, change nothing. Every credit stays in
// exactly one place and amount_paid is the sum of the confirmed payments.
func TestRailReturns(t *testing.T) {
	t.Parallel()
	for _, c := range railReturnCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
				t.Parallel()
				e := setup(t, db)
				acct, secret := e.railAccount(e.key, bankAccount(c.rail))
				post := func(account, secret, body string) response {
					return e.signed(c.path, account, secret, []byte(body), time.Now(), c.contentType)
				}
				inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{c.method}})
				id, ref := str(t, inv, "id"), str(t, instructions(t, inv)[0], "reference")
				if res := results(t, e.mustStatus(post(acct, secret, c.credit(t, ref)), http.StatusOK)); len(res) != 1 || res[0]["status"] != "matched" {
					t.Fatalf("credit %v", res)
				}
				e.wantPaid(id)

				// Refused returns change nothing: an unknown credit, another
				// amount, and the right return from another merchant's
				// account (which authenticates it as that merchant's).
				before := e.counts()
				e.wantProblem(post(acct, secret, c.unknown(t)), http.StatusNotFound, "credit_not_found")
				e.wantProblem(post(acct, secret, c.mismatch(t)), http.StatusConflict, "return_mismatch")
				_, otherKey := e.otherMerchant()
				oacct, osecret := e.railAccount(otherKey, bankAccount(c.rail))
				e.wantProblem(post(oacct, osecret, c.ret(t)), http.StatusNotFound, "credit_not_found")
				if after := e.counts(); after.String() != before.String() {
					t.Fatalf("refused returns wrote %v (was %v)", after, before)
				}
				e.wantPaid(id)

				res := results(t, e.mustStatus(post(acct, secret, c.ret(t)), http.StatusOK))
				if len(res) != 1 || res[0]["status"] != "returned" || res[0]["invoice_id"] != id || res[0]["payment_id"] == nil {
					t.Fatalf("return %v", res)
				}
				got := e.invoiceOf(id)
				if got["status"] != "open" || got["amount_paid"] != "0.00" || got["session_status"] != "failed" || got["paid_at"] != nil {
					t.Fatalf("after the return: status %v amount_paid %v session_status %v paid_at %v", got["status"], got["amount_paid"], got["session_status"], got["paid_at"])
				}
				pays := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/payments", e.key, nil), http.StatusOK).JSON["data"].([]any)
				if len(pays) != 1 {
					t.Fatalf("payments %v", pays)
				}
				p := pays[0].(map[string]any)
				if p["id"] != res[0]["payment_id"] || p["status"] != "reversed" || p["return_code"] != c.code || p["return_reason"] != c.reason {
					t.Errorf("the reversed payment in the API: %v", p)
				}
				evs := e.eventsOf(id, invoice.EventInvoicePaymentUpdated)
				if len(evs) != 2 {
					t.Fatalf("invoice_payment.updated events %v", evs)
				}
				if o := evs[1]["object"].(map[string]any); o["status"] != "reversed" || o["id"] != res[0]["payment_id"] || o["return_code"] != c.code || o["return_reason"] != c.reason {
					t.Errorf("the reversal's event %v", o)
				}
				if upd := e.eventsOf(id, invoice.EventInvoiceUpdated); len(upd) != 2 || upd[1]["previous_status"] != "paid" {
					t.Errorf("invoice.updated %v", upd)
				}

				// The same return again: a duplicate, counted once.
				before = e.counts()
				dup := results(t, e.mustStatus(post(acct, secret, c.ret(t)), http.StatusOK))
				if len(dup) != 1 || dup[0]["status"] != "duplicate" || dup[0]["payment_id"] != res[0]["payment_id"] {
					t.Errorf("the same return again: %v", dup)
				}
				if after := e.counts(); after.String() != before.String() {
					t.Errorf("a duplicate return wrote %v (was %v)", after, before)
				}
				e.wantInvariants()
			})
		})
	}
}

// wantInvariants checks the ledger's rules over everything the test wrote:
// each rail credit landed in exactly one place (one payment or one
// unmatched credit), and each invoice's amount_paid is the sum of its
// confirmed payments.
func (e *env) wantInvariants() {
	e.t.Helper()
	ctx := context.Background()
	var misplaced int
	err := e.db.NewSelect().TableExpr("rail_credits AS c").ColumnExpr("count(*)").
		Where("(SELECT count(*) FROM payments p WHERE p.credit_id = c.id) + (SELECT count(*) FROM rail_unmatched u WHERE u.credit_id = c.id) <> 1").
		Scan(ctx, &misplaced)
	if err != nil || misplaced != 0 {
		e.t.Errorf("rail credits not in exactly one place: %d, %v", misplaced, err)
	}
	var invs []invoice.Invoice
	if err := e.db.NewSelect().Model(&invs).Scan(ctx); err != nil {
		e.t.Fatal(err)
	}
	for _, inv := range invs {
		var pays []invoice.Payment
		if err := e.db.NewSelect().Model(&pays).Where("invoice_id = ? AND status = ?", inv.ID, invoice.PaymentConfirmed).Scan(ctx); err != nil {
			e.t.Fatal(err)
		}
		sum := invoice.NewUnits(0)
		for _, p := range pays {
			sum = sum.Add(p.Amount)
		}
		if sum.Cmp(inv.AmountPaid) != 0 {
			e.t.Errorf("invoice %s: amount_paid %s, confirmed payments %s", inv.ID, inv.AmountPaid, sum)
		}
	}
}

// TestSimulateRailReturns: in test mode a simulated rail payment can be
// returned by its rail (status reversed with its tx_id), through the one
// reversal real returns use: the reason code (given or the rail's default)
// and its meaning are kept, the invoice is open again with session_status
// failed, a second return changes nothing; an unknown tx_id, another
// amount and QRIS are refused.
func TestSimulateRailReturns(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		for _, rail := range []string{"fednow", "rtp", "ach"} {
			e.railAccount(e.key, bankAccount(rail))
		}
		e.railAccount(e.key, map[string]any{"rail": "push_to_card", "processor_id": "acq_01"})
		e.railAccount(e.key, map[string]any{"rail": "qris", "qris_payload": staticQRIS})
		for _, tc := range []struct{ method, code, wantCode, wantReason string }{
			{"fednow", "", "AC04", "Closed account number"},
			{"rtp", "AM04", "AM04", "Insufficient funds"},
			{"ach_same_day", "", "R01", "Insufficient funds"},
			{"ach_same_day", "R15", "R15", "Beneficiary or account holder deceased"},
			{"push_to_card", "", "card_closed", "card closed"},
		} {
			id := str(t, e.createInvoice(map[string]any{"amount": "12.00", "currency": "USD", "payment_methods": []string{tc.method}}), "id")
			tx := str(t, e.simulate(id, map[string]any{"method": tc.method, "amount": "12.00"})["payment"].(map[string]any), "tx_id")
			path := "/api/v1/test/invoices/" + id + "/simulate-payment"
			e.wantProblem(e.do("POST", path, e.key, map[string]any{"method": tc.method, "amount": "12.00", "status": "reversed"}), http.StatusUnprocessableEntity, "invalid_tx_id")
			e.wantProblem(e.do("POST", path, e.key, map[string]any{"method": tc.method, "amount": "12.00", "status": "reversed", "tx_id": tx + "X"}), http.StatusUnprocessableEntity, "invalid_tx_id")
			e.wantProblem(e.do("POST", path, e.key, map[string]any{"method": tc.method, "amount": "11.00", "status": "reversed", "tx_id": tx}), http.StatusConflict, "return_mismatch")
			e.wantPaid(id)
			r := e.simulate(id, map[string]any{"method": tc.method, "amount": "12.00", "status": "reversed", "tx_id": tx, "return_code": tc.code})
			pay, inv := r["payment"].(map[string]any), r["invoice"].(map[string]any)
			if pay["status"] != "reversed" || pay["tx_id"] != tx || pay["return_code"] != tc.wantCode || pay["return_reason"] != tc.wantReason {
				t.Errorf("%s: returned payment %v", tc.method, pay)
			}
			if inv["status"] != "open" || inv["amount_paid"] != "0.00" || inv["session_status"] != "failed" {
				t.Errorf("%s: invoice after the return %v %v %v", tc.method, inv["status"], inv["amount_paid"], inv["session_status"])
			}
			n := len(e.eventsOf(id, invoice.EventInvoicePaymentUpdated))
			e.simulate(id, map[string]any{"method": tc.method, "amount": "12.00", "status": "reversed", "tx_id": tx})
			if again := len(e.eventsOf(id, invoice.EventInvoicePaymentUpdated)); again != n || n != 2 {
				t.Errorf("%s: payment events %d then %d, want 2 and no more", tc.method, n, again)
			}
		}
		id := str(t, e.createInvoice(map[string]any{"amount": "12000", "currency": "IDR", "payment_methods": []string{"qris"}}), "id")
		tx := str(t, e.simulate(id, map[string]any{"method": "qris", "amount": "12001"})["payment"].(map[string]any), "tx_id")
		e.wantProblem(e.do("POST", "/api/v1/test/invoices/"+id+"/simulate-payment", e.key, map[string]any{"method": "qris", "amount": "12001", "status": "reversed", "tx_id": tx}),
			http.StatusUnprocessableEntity, "invalid_tx_id")
		e.wantInvariants()
	})
}

// TestTerminalRailReturn: a counter sale paid by Same-Day ACH whose
// credit the bank then returns (NACHA R01) shows payment_failed on the
// terminal's socket, carrying the reversed payment with its reason.
func TestTerminalRailReturn(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := termSetup(t, db)
		acct, secret := e.railAccount(e.key, bankAccount("ach"))
		tm := e.createTerminal("Till 1")
		conn := e.openTerminal(tm, "")
		send1(t, conn, sign(t, tm.Secret, map[string]any{"type": "create_session", "command_id": "c1",
			"amount": "25.00", "currency": "USD", "methods": []string{"ach_same_day"}}))
		s, _ := waitType(t, conn, "session")
		id, ref := str(t, s.Invoice, "id"), str(t, instructions(t, s.Invoice)[0], "reference")
		const path = "/api/v1/rails/ach/files"
		e.mustStatus(e.signed(path, acct, secret, achCredit(t, "011000130000042", 2500, ref), time.Now(), "text/plain"), http.StatusOK)
		if m, _ := waitType(t, conn, "payment_confirmed"); m.InvoiceID != id {
			t.Fatalf("payment_confirmed %+v", m)
		}
		e.mustStatus(e.signed(path, acct, secret, []byte(readReturn(t, "nacha_r01.ach")), time.Now(), "text/plain"), http.StatusOK)
		m, _ := waitType(t, conn, "payment_failed")
		if m.InvoiceID != id || m.EventType != "invoice_payment.updated" ||
			!strings.Contains(string(m.Data), `"status":"reversed"`) || !strings.Contains(string(m.Data), `"return_code":"R01"`) {
			t.Errorf("payment_failed %+v %s", m, m.Data)
		}
	})
}

// TestConcurrentReturns: the same pacs.004 delivered eight times at once
// reverses the payment once: one invoice_payment.updated, amount_paid 0,
// every answer 200.
func TestConcurrentReturns(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		acct, secret := e.railAccount(e.key, bankAccount("fednow"))
		const path = "/api/v1/rails/fednow/notifications"
		inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{"fednow"}})
		id, ref := str(t, inv, "id"), str(t, instructions(t, inv)[0], "reference")
		e.mustStatus(e.signed(path, acct, secret, []byte(pacs008("e9b4b3c6-5f0e-4b8e-9d3a-2c1f7a6b8d10", "E2E", "25.00", ref)), time.Now(), "application/xml"), http.StatusOK)
		e.wantPaid(id)
		body := []byte(readReturn(t, "pacs004_fednow.xml"))
		answers := make(chan response, 8)
		for range 8 {
			go func() { answers <- e.signed(path, acct, secret, body, time.Now(), "application/xml") }()
		}
		for range 8 {
			if r := <-answers; r.Status != http.StatusOK {
				t.Errorf("concurrent return answered %d: %s", r.Status, r.Raw)
			}
		}
		if evs := e.eventsOf(id, invoice.EventInvoicePaymentUpdated); len(evs) != 2 {
			t.Errorf("%d invoice_payment.updated events, want 2 (confirmed, reversed once)", len(evs))
		}
		if got := e.invoiceOf(id); got["amount_paid"] != "0.00" || got["status"] != "open" {
			t.Errorf("after the returns: %v %v", got["status"], got["amount_paid"])
		}
		e.wantInvariants()
	})
}
