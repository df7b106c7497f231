package openapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice/storetest"
)

// staticQRIS is a real static QRIS payload (chains/fiat/testdata/emvco).
const staticQRIS = "00020101021126570011ID.DANA.WWW011893600915303379682702090337968270303UMI51440014ID.CO.QRIS.WWW0215ID10265640751030303UMI5204737253033605802ID5909BoonTrack6012Kab. Bandung61054028663048DC1"

// bankAccount is a rail account body for a bank rail; 021000021 has a
// valid ABA check digit.
func bankAccount(rail string) map[string]any {
	return map[string]any{"rail": rail, "bank_name": "First Example Bank", "account_name": "Test Shop LLC",
		"account_number": "000123456789", "routing_number": "021000021"}
}

// railAccount creates a rail account with key and returns its id and secret.
func (e *env) railAccount(key string, body map[string]any) (id, secret string) {
	e.t.Helper()
	a := e.mustStatus(e.do("POST", "/api/v1/rail-accounts", key, body), http.StatusCreated).JSON
	return str(e.t, a, "id"), str(e.t, a, "callback_secret")
}

// signed posts body to a rail endpoint as the rail would, signed at t.
func (e *env) signed(path, account, secret string, body []byte, t time.Time, contentType string) response {
	e.t.Helper()
	return e.do("POST", path, "", body, "Content-Type", contentType,
		"X-Settle-Account", account, fiat.SignatureHeader, fiat.Sign([]byte(secret), body, t))
}

// count counts rows of table.
func (e *env) count(table string) int64 {
	e.t.Helper()
	n, err := e.db.NewSelect().TableExpr(table).Count(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// wantPaid checks that invoice id is paid and that its invoice.updated
// event to paid is in the outbox, once.
func (e *env) wantPaid(id string) {
	e.t.Helper()
	inv := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON
	if inv["status"] != "paid" {
		e.t.Errorf("invoice %s is %v, want paid: %s", id, inv["status"], e.do("GET", "/api/v1/invoices/"+id, e.key, nil).Raw)
	}
	n, err := e.db.NewSelect().TableExpr("events").
		Where("invoice_id = ? AND type = 'invoice.updated' AND data LIKE ?", id, `%"status":"paid"%`).Count(context.Background())
	if err != nil || n != 1 {
		e.t.Errorf("invoice.updated events to paid for %s: %d, %v; want 1", id, n, err)
	}
}

// results returns the per-credit outcomes of a rail notification answer.
func results(t *testing.T, r response) []map[string]any {
	t.Helper()
	var out []map[string]any
	list, _ := r.JSON["results"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

func TestISO20022Notifications(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		for _, rail := range []string{"fednow", "rtp"} {
			t.Run(rail, func(t *testing.T) {
				acct, secret := e.railAccount(e.key, bankAccount(rail))
				path := "/api/v1/rails/" + rail + "/notifications"
				inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{rail}})
				id, ref := str(t, inv, "id"), str(t, instructions(t, inv)[0], "reference")
				body := []byte(camt054(rail+"-TX-1", "25.00", "INV "+ref+" THANKS"))
				payments := e.count("payments")

				// Forged, replayed, unknown account, another rail's account: refused, nothing stored.
				e.wantProblem(e.signed(path, acct, "rcs_wrong", body, time.Now(), "application/xml"), http.StatusUnauthorized, "invalid_signature")
				e.wantProblem(e.signed(path, acct, secret, body, time.Now().Add(-10*time.Minute), "application/xml"), http.StatusUnauthorized, "signature_expired")
				e.wantProblem(e.signed(path, "rla_nobody", secret, body, time.Now(), "application/xml"), http.StatusUnauthorized, "invalid_signature")
				tampered := e.do("POST", path, "", []byte(camt054(rail+"-TX-1", "99.00", ref)), "Content-Type", "application/xml",
					"X-Settle-Account", acct, fiat.SignatureHeader, fiat.Sign([]byte(secret), body, time.Now()))
				e.wantProblem(tampered, http.StatusUnauthorized, "invalid_signature")
				e.wantProblem(e.signed(path, acct, secret, []byte("<Document/>"), time.Now(), "application/xml"), http.StatusUnprocessableEntity, "invalid_notification")
				if n := e.count("payments"); n != payments {
					t.Fatalf("refused notifications stored %d payments", n-payments)
				}

				r := e.mustStatus(e.signed(path, acct, secret, body, time.Now(), "application/xml"), http.StatusOK)
				res := results(t, r)
				if len(res) != 1 || res[0]["status"] != "matched" || res[0]["invoice_id"] != id || res[0]["id"] != rail+"-TX-1" {
					t.Fatalf("results %s", r.Raw)
				}
				e.wantPaid(id)
				pays := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/payments", e.key, nil), http.StatusOK).JSON["data"].([]any)
				p := pays[0].(map[string]any)
				if len(pays) != 1 || p["network"] != rail || p["method"] != rail || p["status"] != "confirmed" || p["asset"] != "USD" ||
					p["amount"] != "25.00" || p["from"] != "JANE PAYOR" || p["to"] != "000123456789" || p["id"] != res[0]["payment_id"] {
					t.Errorf("payments %v", pays)
				}
				// The same message again (a bank retry, freshly signed) is a duplicate.
				again := results(t, e.mustStatus(e.signed(path, acct, secret, body, time.Now(), "application/xml"), http.StatusOK))
				if again[0]["status"] != "duplicate" || again[0]["payment_id"] != res[0]["payment_id"] {
					t.Errorf("replay: %v", again)
				}
				if n := e.count("payments"); n != payments+1 {
					t.Errorf("payments %d, want %d", n, payments+1)
				}

				// No reference: the one open invoice of that amount offering the rail.
				one := str(t, e.createInvoice(map[string]any{"amount": "17.35", "currency": "USD", "payment_methods": []string{rail}}), "id")
				byAmount := results(t, e.mustStatus(e.signed(path, acct, secret, []byte(pacs008(rail+"-uetr-2", "NOTPROVIDED", "17.35", "thanks")), time.Now(), "application/xml"), http.StatusOK))
				if byAmount[0]["status"] != "matched" || byAmount[0]["invoice_id"] != one {
					t.Errorf("amount match: %v", byAmount)
				}
				e.wantPaid(one)
				// An amount nobody expects is kept, not lost.
				lost := results(t, e.mustStatus(e.signed(path, acct, secret, []byte(pacs008(rail+"-uetr-3", "NOTPROVIDED", "4.44", "??")), time.Now(), "application/xml"), http.StatusOK))
				if lost[0]["status"] != "unmatched" {
					t.Errorf("unknown amount: %v", lost)
				}
				kept := e.mustStatus(e.do("GET", "/api/v1/rail-unmatched", e.key, nil), http.StatusOK)
				if !strings.Contains(string(kept.Raw), rail+"-uetr-3") || !strings.Contains(string(kept.Raw), `"amount":"4.44"`) {
					t.Errorf("unmatched list %s", kept.Raw)
				}
			})
		}
	})
}

func TestACHFile(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		acct, secret := e.railAccount(e.key, bankAccount("ach"))
		inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{"ach_same_day"}})
		id, ref := str(t, inv, "id"), str(t, instructions(t, inv)[0], "reference")
		body := achCredit(t, "011000130000001", 2500, ref)
		const path = "/api/v1/rails/ach/files"
		e.wantProblem(e.signed(path, acct, "rcs_forged", body, time.Now(), "text/plain"), http.StatusUnauthorized, "invalid_signature")
		e.wantProblem(e.signed(path, acct, secret, body[:len(body)-10], time.Now(), "text/plain"), http.StatusUnprocessableEntity, "invalid_notification")
		res := results(t, e.mustStatus(e.signed(path, acct, secret, body, time.Now(), "text/plain"), http.StatusOK))
		if len(res) != 1 || res[0]["status"] != "matched" || res[0]["invoice_id"] != id || res[0]["id"] != "250102:011000130000001" {
			t.Fatalf("results %v", res)
		}
		e.wantPaid(id)
		if dup := results(t, e.mustStatus(e.signed(path, acct, secret, body, time.Now(), "text/plain"), http.StatusOK)); dup[0]["status"] != "duplicate" {
			t.Errorf("resent file: %v", dup)
		}
		if n := e.count("payments"); n != 1 {
			t.Errorf("payments %d, want 1", n)
		}
	})
}

func TestPushToCard(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		acct, secret := e.railAccount(e.key, map[string]any{"rail": "push_to_card", "processor_id": "acq_visa_direct_01"})
		inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{"push_to_card"}})
		id, ref := str(t, inv, "id"), str(t, instructions(t, inv)[0], "reference")
		body := []byte(fmt.Sprintf(`{"id":"ptc_01JTEST","type":"push_to_card.credited","amount":2500,"currency":"USD","card_last4":"4242","network":"visa","reference":%q,"created":%d}`,
			ref, time.Now().Unix()))
		const path = "/api/v1/rails/push_to_card/notifications"
		e.wantProblem(e.signed(path, acct, "rcs_forged", body, time.Now(), "application/json"), http.StatusUnauthorized, "invalid_signature")
		e.wantProblem(e.signed(path, acct, secret, body, time.Now().Add(6*time.Minute), "application/json"), http.StatusUnauthorized, "signature_expired")
		bad := []byte(`{"id":"ptc_x","type":"push_to_card.credited","amount":25.5,"currency":"USD"}`)
		e.wantProblem(e.signed(path, acct, secret, bad, time.Now(), "application/json"), http.StatusUnprocessableEntity, "invalid_notification")
		if n := e.count("payments"); n != 0 {
			t.Fatalf("refused notifications stored %d payments", n)
		}
		res := results(t, e.mustStatus(e.signed(path, acct, secret, body, time.Now(), "application/json"), http.StatusOK))
		if res[0]["status"] != "matched" || res[0]["invoice_id"] != id || res[0]["id"] != "ptc_01JTEST" {
			t.Fatalf("results %v", res)
		}
		e.wantPaid(id)
		if dup := results(t, e.mustStatus(e.signed(path, acct, secret, body, time.Now(), "application/json"), http.StatusOK)); dup[0]["status"] != "duplicate" {
			t.Errorf("replay: %v", dup)
		}
		pay := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/payments", e.key, nil), http.StatusOK).JSON["data"].([]any)
		if len(pay) != 1 || pay[0].(map[string]any)["from"] != "visa ****4242" || pay[0].(map[string]any)["network"] != "push_to_card" {
			t.Errorf("payments %v", pay)
		}
	})
}

// camt054 is a camt.054.001.08 credit of amount USD with remittance rmt.
func camt054(tx, amount, rmt string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
 <GrpHdr><MsgId>MSG-` + tx + `</MsgId><CreDtTm>2025-01-02T10:00:00Z</CreDtTm></GrpHdr>
 <Ntfctn><Id>N1</Id><CreDtTm>2025-01-02T10:00:00Z</CreDtTm><Acct><Id><Othr><Id>000123456789</Id></Othr></Id></Acct>
  <Ntry><Amt Ccy="USD">` + amount + `</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2025-01-02</Dt></BookgDt>
   <AcctSvcrRef>ENTRY-` + tx + `</AcctSvcrRef>
   <NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId><TxId>` + tx + `</TxId></Refs>
    <Amt Ccy="USD">` + amount + `</Amt><CdtDbtInd>CRDT</CdtDbtInd>
    <RltdPties><Dbtr><Pty><Nm>JANE PAYOR</Nm></Pty></Dbtr></RltdPties>
    <RmtInf><Ustrd>` + rmt + `</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Ntfctn>
</BkToCstmrDbtCdtNtfctn></Document>`
}

// pacs008 is a pacs.008.001.08 in its envelope, as FedNow and RTP send it.
func pacs008(uetr, e2e, amount, rmt string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<Message xmlns="urn:tch"><AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><BizMsgIdr>B1</BizMsgIdr><MsgDefIdr>pacs.008.001.08</MsgDefIdr></AppHdr>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf>
 <GrpHdr><MsgId>M-` + uetr + `</MsgId><CreDtTm>2025-01-02T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs></GrpHdr>
 <CdtTrfTxInf><PmtId><InstrId>I1</InstrId><EndToEndId>` + e2e + `</EndToEndId><UETR>` + uetr + `</UETR></PmtId>
  <IntrBkSttlmAmt Ccy="USD">` + amount + `</IntrBkSttlmAmt><IntrBkSttlmDt>2025-01-02</IntrBkSttlmDt>
  <Dbtr><Nm>JOHN PAYOR</Nm></Dbtr><Cdtr><Nm>TEST SHOP</Nm></Cdtr>
  <CdtrAcct><Id><Othr><Id>000123456789</Id></Othr></Id></CdtrAcct>
  <RmtInf><Ustrd>` + rmt + `</Ustrd></RmtInf></CdtTrfTxInf>
</FIToFICstmrCdtTrf></Document></Message>`
}

// createConcurrently creates n invoices at once and returns the answers.
func (e *env) createConcurrently(n int, body map[string]any) []response {
	e.t.Helper()
	out := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := send(e.request("POST", "/api/v1/invoices", e.key, body))
			if err != nil {
				e.t.Error(err)
			}
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

func TestQRIS(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		acct, secret := e.railAccount(e.key, map[string]any{"rail": "qris", "qris_payload": staticQRIS})
		idr := map[string]any{"amount": "25000", "currency": "IDR", "payment_methods": []string{"qris"}}
		inv := e.createInvoice(idr)
		id, in := str(t, inv, "id"), instructions(t, inv)[0]
		payload, ref := str(t, in, "qris_payload"), str(t, in, "reference")
		p, err := fiat.ParseEMVCo(payload) // checks the CRC too
		if err != nil {
			t.Fatalf("dynamic payload %q: %v", payload, err)
		}
		initiation, _ := p.Get("01")
		amount, _ := p.Get("54")
		bill, _ := p.Template("62")
		if initiation != "12" || amount != in["total_amount"] || in["total_amount"] != "25001" || in["unique_code"] != 1.0 ||
			in["uri"] != payload || in["amount"] != "25001" || len(bill) == 0 || bill[0] != (fiat.Field{ID: "01", Value: ref}) {
			t.Errorf("instruction %v; payload 01=%s 54=%s 62=%v", in, initiation, amount, bill)
		}

		const path = "/api/v1/rails/qris/notifications"
		note := func(notif, msg string) map[string]any {
			return map[string]any{"app": "id.dana", "title": "Pembayaran diterima", "message": msg, "timestamp": time.Now().UnixMilli(),
				"device_id": "pixel-7", "notif_id": notif, "event_hash": "h-" + notif}
		}
		e.wantProblem(e.do("POST", path, "rcs_wrong", note("1", "Kamu menerima Rp25.001")), http.StatusUnauthorized, "invalid_signature")
		e.wantProblem(e.do("POST", path, "", note("1", "Kamu menerima Rp25.001")), http.StatusUnauthorized, "invalid_signature")
		test := e.mustStatus(e.do("POST", path, secret, map[string]any{"event_hash": "test"}), http.StatusOK).JSON
		if test["status"] != "test" {
			t.Errorf("connection test: %v", test)
		}
		e.wantProblem(e.do("POST", path, secret, note("2", "Saldo kamu bertambah")), http.StatusUnprocessableEntity, "amount_unreadable")
		if n := e.count("payments") + e.count("rail_unmatched"); n != 0 {
			t.Fatalf("refused notifications stored %d rows", n)
		}
		got := e.mustStatus(e.do("POST", path, secret, note("3", "Kamu berhasil menerima Rp25.001 dari JOHN DOE")), http.StatusOK).JSON
		if got["status"] != "matched" || got["invoice_id"] != id {
			t.Fatalf("notification: %v", got)
		}
		e.wantPaid(id)
		// The unique code is part of what was asked: no over-payment.
		if inv := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON; inv["exception"] != "none" || inv["amount_paid"] != "25001" {
			t.Errorf("paid QRIS invoice %v/%v, want none/25001", inv["exception"], inv["amount_paid"])
		}
		dup := e.mustStatus(e.do("POST", path, secret, note("3", "Kamu berhasil menerima Rp25.001 dari JOHN DOE")), http.StatusOK).JSON
		if dup["status"] != "duplicate" || dup["message"] != "Duplicate notification" || dup["payment_id"] != got["payment_id"] {
			t.Errorf("duplicate: %v", dup)
		}
		e.wantProblem(e.do("POST", path, secret, note("4", "Kamu menerima Rp7.777")), http.StatusNotFound, "no_matching_invoice")
		if n := e.count("rail_unmatched"); n != 1 {
			t.Errorf("unmatched rows %d, want 1 (kept, not lost)", n)
		}

		// The callback of an aggregator, keyed by X-Callback-Key.
		second := e.createInvoice(idr)
		total := str(t, instructions(t, second)[0], "total_amount")
		if total != "25002" {
			t.Errorf("second invoice of the same amount: total %s, want 25002", total)
		}
		cb := map[string]any{"amount": total, "sender_name": "JANE", "reference": "QR-REF-1"}
		e.wantProblem(e.do("POST", "/api/v1/rails/qris/callback", "", cb, "X-Callback-Key", "rcs_nope"), http.StatusUnauthorized, "invalid_signature")
		r := e.mustStatus(e.do("POST", "/api/v1/rails/qris/callback", "", cb, "X-Callback-Key", secret), http.StatusOK).JSON
		if r["status"] != "matched" || r["invoice_id"] != str(t, second, "id") {
			t.Errorf("callback: %v", r)
		}
		e.wantPaid(str(t, second, "id"))
		if again := e.mustStatus(e.do("POST", "/api/v1/rails/qris/callback", "", cb, "X-Callback-Key", secret), http.StatusOK).JSON; again["message"] != "Duplicate notification" {
			t.Errorf("callback again: %v", again)
		}
		if n := e.count("payments"); n != 2 {
			t.Errorf("payments %d, want 2", n)
		}
		pays := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/payments", e.key, nil), http.StatusOK).JSON["data"].([]any)
		if pay := pays[0].(map[string]any); pay["network"] != "qris" || pay["asset"] != "IDR" || pay["amount"] != "25001" || pay["to"] != acct {
			t.Errorf("payment %v", pay)
		}
	})
}

func TestQRISUniqueCodes(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		e.railAccount(e.key, map[string]any{"rail": "qris", "qris_payload": staticQRIS})
		const n = 24
		seen := map[string]bool{}
		for _, r := range e.createConcurrently(n, map[string]any{"amount": "50000", "currency": "IDR", "payment_methods": []string{"qris"}}) {
			if r.Status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
			total := str(t, instructions(t, r.JSON)[0], "total_amount")
			if seen[total] {
				t.Errorf("total %s given to two open invoices", total)
			}
			seen[total] = true
		}
		if len(seen) != n {
			t.Errorf("%d distinct totals for %d invoices", len(seen), n)
		}

		e.rails.MaxUniqueCode = 3
		body := map[string]any{"amount": "70000", "currency": "IDR", "payment_methods": []string{"qris"}}
		for range 3 {
			e.createInvoice(body)
		}
		before := e.counts()
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, body), http.StatusServiceUnavailable, "unique_codes_exhausted")
		if after := e.counts(); after["invoices"] != before["invoices"] || after["events"] != before["events"] {
			t.Errorf("refused creation stored something: %v → %v", before, after)
		}
	})
}

func TestSimulateRailPayments(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		for _, rail := range []string{"fednow", "rtp", "ach"} {
			e.railAccount(e.key, bankAccount(rail))
		}
		e.railAccount(e.key, map[string]any{"rail": "push_to_card", "processor_id": "acq_01"})
		e.railAccount(e.key, map[string]any{"rail": "qris", "qris_payload": staticQRIS})
		for method, tc := range map[string]struct{ currency, amount, pay, network, tx string }{
			"fednow":       {"USD", "12.00", "12.00", "fednow", "SIM"},
			"rtp":          {"USD", "12.00", "12.00", "rtp", "SIM"},
			"ach_same_day": {"USD", "12.00", "12.00", "ach", ":09100001"},
			"push_to_card": {"USD", "12.00", "12.00", "push_to_card", "ptc_sim_"},
			"qris":         {"IDR", "12000", "12001", "qris", ":sim:"},
		} {
			t.Run(method, func(t *testing.T) {
				id := str(t, e.createInvoice(map[string]any{"amount": tc.amount, "currency": tc.currency, "payment_methods": []string{method}}), "id")
				e.wantProblem(e.do("POST", "/api/v1/test/invoices/"+id+"/simulate-payment", e.key, map[string]any{"method": method, "amount": tc.pay, "status": "pending"}),
					http.StatusUnprocessableEntity, "invalid_status")
				r := e.simulate(id, map[string]any{"method": method, "amount": tc.pay})
				pay := r["payment"].(map[string]any)
				if pay["network"] != tc.network || pay["method"] != method || pay["status"] != "confirmed" || pay["amount"] != tc.pay ||
					pay["asset"] != tc.currency || !strings.Contains(str(t, pay, "tx_id"), tc.tx) {
					t.Errorf("payment %v", pay)
				}
				e.wantPaid(id)
			})
		}
	})
}
