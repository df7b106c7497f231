package openapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice/storetest"
)

// The rails' ledger rules (issue 13): a credit's identity is scoped to the
// rail account that received it, the UETR is one transfer's identity across
// message types and instant rails, and every signed credit ends as exactly
// one payment, unmatched credit or duplicate of the same merchant's.

// isoCredit is one credit of a camt.054 or pacs.008 written by isoDoc.
type isoCredit struct {
	svcrRef, uetr, e2e, txID, amount, rmt string
}

// camtDoc is a camt.054.001.08 with one entry per credit; each carries its
// own references at transaction level.
func camtDoc(credits ...isoCredit) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
 <GrpHdr><MsgId>CAMT-MSG</MsgId><CreDtTm>2025-01-02T10:00:00Z</CreDtTm></GrpHdr>
 <Ntfctn><Id>N1</Id><CreDtTm>2025-01-02T10:00:00Z</CreDtTm><Acct><Id><Othr><Id>000123456789</Id></Othr></Id></Acct>`)
	for _, c := range credits {
		refs := ""
		if c.svcrRef != "" {
			refs += "<AcctSvcrRef>" + c.svcrRef + "</AcctSvcrRef>"
		}
		refs += "<EndToEndId>" + c.e2e + "</EndToEndId>"
		if c.txID != "" {
			refs += "<TxId>" + c.txID + "</TxId>"
		}
		if c.uetr != "" {
			refs += "<UETR>" + c.uetr + "</UETR>"
		}
		fmt.Fprintf(&b, `
  <Ntry><Amt Ccy="USD">%s</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><DtTm>%s</DtTm></BookgDt>
   <NtryDtls><TxDtls><Refs>%s</Refs><Amt Ccy="USD">%s</Amt><CdtDbtInd>CRDT</CdtDbtInd>
    <RltdPties><Dbtr><Pty><Nm>JANE PAYOR</Nm></Pty></Dbtr></RltdPties>
    <RmtInf><Ustrd>%s</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>`, c.amount, time.Now().UTC().Format(time.RFC3339), refs, c.amount, c.rmt)
	}
	b.WriteString(`</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>`)
	return []byte(b.String())
}

// achCredit is a one-entry NACHA file: trace and amount in cents.
func achCredit(t *testing.T, trace string, cents int64, ref string) []byte {
	t.Helper()
	f := &fiat.ACHFile{Destination: "021000021", Origin: "011000138", Created: "250102", CreatedTime: "1030", IDModifier: "A",
		DestinationName: "EXAMPLE BANK", OriginName: "PAYOR BANK",
		Batches: []fiat.ACHBatch{{ServiceClass: 220, CompanyName: "PAYOR CORP", CompanyID: "1234567890", SECCode: "CCD",
			EntryDescription: "INVOICE", DescriptiveDate: "SD1300", EffectiveDate: "250102", OriginatorStatus: "1", ODFI: "01100013", Number: 1,
			Entries: []fiat.ACHEntry{{TransactionCode: 22, RDFI: "02100002", CheckDigit: "1", Account: "000123456789", Amount: cents,
				IndividualID: "PO-77", IndividualName: "TEST SHOP", Trace: trace, Addenda: []string{"RMR*IV*" + ref + "*PI*\\"}}}}}}
	b, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pushCredit(id string, cents int64, ref string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"type":"push_to_card.credited","amount":%d,"currency":"USD","card_last4":"4242","network":"visa","reference":%q,"created":%d}`,
		id, cents, ref, time.Now().Unix()))
}

// TestIssue13RailIdentityPerAccount: merchant B posts credits whose bank ids
// equal merchant A's later real credits; A's money is still A's payment,
// and no answer names the other merchant's objects.
func TestIssue13RailIdentityPerAccount(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		_, otherKey := e.otherMerchant()
		for _, tc := range []struct {
			rail, method, path, contentType string
			account                         func() map[string]any
			body                            func(ref string) []byte
		}{
			{"fednow", "fednow", "/api/v1/rails/fednow/notifications", "application/xml", func() map[string]any { return bankAccount("fednow") },
				func(ref string) []byte {
					return camtDoc(isoCredit{svcrRef: "SHARED-SVCR-1", e2e: "NOTPROVIDED", amount: "30.00", rmt: ref})
				}},
			{"ach", "ach_same_day", "/api/v1/rails/ach/files", "text/plain", func() map[string]any { return bankAccount("ach") },
				func(ref string) []byte { return achCredit(t, "011000130000042", 3000, ref) }},
			{"push_to_card", "push_to_card", "/api/v1/rails/push_to_card/notifications", "application/json",
				func() map[string]any { return map[string]any{"rail": "push_to_card", "processor_id": "acq_01"} },
				func(ref string) []byte { return pushCredit("ptc_SHARED_1", 3000, ref) }},
		} {
			t.Run(tc.rail, func(t *testing.T) {
				acctA, secretA := e.railAccount(e.key, tc.account())
				acctB, secretB := e.railAccount(otherKey, tc.account())
				// B first: its own invoice, paid with the shared bank id.
				invB := e.createInvoiceWith(otherKey, map[string]any{"amount": "30.00", "currency": "USD", "payment_methods": []string{tc.method}})
				resB := results(t, e.mustStatus(e.signed(tc.path, acctB, secretB, tc.body(str(t, instructions(t, invB)[0], "reference")), time.Now(), tc.contentType), http.StatusOK))
				if len(resB) != 1 || resB[0]["status"] != "matched" || resB[0]["invoice_id"] != str(t, invB, "id") {
					t.Fatalf("merchant B's credit: %v", resB)
				}
				// Then A's real credit with the same bank id.
				invA := e.createInvoice(map[string]any{"amount": "30.00", "currency": "USD", "payment_methods": []string{tc.method}})
				r := e.mustStatus(e.signed(tc.path, acctA, secretA, tc.body(str(t, instructions(t, invA)[0], "reference")), time.Now(), tc.contentType), http.StatusOK)
				resA := results(t, r)
				if len(resA) != 1 || resA[0]["status"] != "matched" || resA[0]["invoice_id"] != str(t, invA, "id") {
					t.Errorf("merchant A's credit: %s", r.Raw)
				}
				if strings.Contains(string(r.Raw), str(t, invB, "id")) || strings.Contains(string(r.Raw), fmt.Sprint(resB[0]["payment_id"])) {
					t.Errorf("merchant A's answer names merchant B's objects: %s", r.Raw)
				}
				e.wantPaid(str(t, invA, "id"))
				// A retry of A's credit is A's duplicate, naming A's payment only.
				dup := results(t, e.mustStatus(e.signed(tc.path, acctA, secretA, tc.body(str(t, instructions(t, invA)[0], "reference")), time.Now(), tc.contentType), http.StatusOK))
				if dup[0]["status"] != "duplicate" || dup[0]["payment_id"] != resA[0]["payment_id"] || dup[0]["invoice_id"] != str(t, invA, "id") {
					t.Errorf("A's retry: %v, want a duplicate of %v", dup, resA)
				}
			})
		}

		// Unmatched credits are kept per merchant too: B's unmatched id does
		// not swallow A's.
		t.Run("unmatched", func(t *testing.T) {
			acctA, secretA := e.railAccount(e.key, bankAccount("rtp"))
			acctB, secretB := e.railAccount(otherKey, bankAccount("rtp"))
			body := camtDoc(isoCredit{svcrRef: "SHARED-UNMATCHED", e2e: "NOTPROVIDED", amount: "9.13", rmt: "no reference"})
			for _, a := range [][2]string{{acctB, secretB}, {acctA, secretA}} {
				res := results(t, e.mustStatus(e.signed("/api/v1/rails/rtp/notifications", a[0], a[1], body, time.Now(), "application/xml"), http.StatusOK))
				if len(res) != 1 || res[0]["status"] != "unmatched" {
					t.Errorf("credit to %s: %v, want unmatched", a[0], res)
				}
			}
			for _, key := range []string{e.key, otherKey} {
				kept := e.mustStatus(e.do("GET", "/api/v1/rail-unmatched", key, nil), http.StatusOK)
				if n := strings.Count(string(kept.Raw), "SHARED-UNMATCHED"); n != 1 {
					t.Errorf("unmatched list holds the credit %d times, want once: %s", n, kept.Raw)
				}
			}
		})
	})
}

// TestIssue13UETRIsTheTransfer: a pacs.008 and a camt.054 of one transfer
// (same UETR, each with ids of its own), and the same UETR on FedNow and
// RTP, are one payment.
func TestIssue13UETRIsTheTransfer(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		fednow, fednowSecret := e.railAccount(e.key, bankAccount("fednow"))
		rtp, rtpSecret := e.railAccount(e.key, bankAccount("rtp"))
		inv := e.createInvoice(map[string]any{"amount": "30.00", "currency": "USD", "payment_methods": []string{"fednow", "rtp"}})
		id, ref := str(t, inv, "id"), str(t, instructions(t, inv)[0], "reference")
		const uetr = "8a562c67-ca16-48ba-b074-65581be6f011"

		first := results(t, e.mustStatus(e.signed("/api/v1/rails/fednow/notifications", fednow, fednowSecret,
			[]byte(pacs008(uetr, "E2E-"+ref, "30.00", ref)), time.Now(), "application/xml"), http.StatusOK))
		if first[0]["status"] != "matched" {
			t.Fatalf("pacs.008: %v", first)
		}
		for _, tc := range []struct {
			name, path, acct, secret string
			body                     []byte
		}{
			{"camt.054 of the same transfer", "/api/v1/rails/fednow/notifications", fednow, fednowSecret,
				camtDoc(isoCredit{svcrRef: "BANK-REF-77", uetr: strings.ToUpper(uetr), e2e: "E2E-" + ref, amount: "30.00", rmt: ref})},
			{"the same UETR on RTP", "/api/v1/rails/rtp/notifications", rtp, rtpSecret, []byte(pacs008(uetr, "E2E-"+ref, "30.00", ref))},
		} {
			res := results(t, e.mustStatus(e.signed(tc.path, tc.acct, tc.secret, tc.body, time.Now(), "application/xml"), http.StatusOK))
			if len(res) != 1 || res[0]["status"] != "duplicate" || res[0]["payment_id"] != first[0]["payment_id"] {
				t.Errorf("%s: %v, want a duplicate of %v", tc.name, res, first)
			}
		}
		got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON
		if got["amount_paid"] != "30.00" || got["exception"] != "none" {
			t.Errorf("invoice paid %v with exception %v, want 30.00 and none", got["amount_paid"], got["exception"])
		}
		if n := e.count("payments"); n != 1 {
			t.Errorf("%d payments for one transfer", n)
		}
	})
}

// TestIssue13QRISCallbackIdentity: a callback's reference is optional and
// not unique; amount and reference together (and the invoice they pay)
// identify a callback credit.
func TestIssue13QRISCallbackIdentity(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		_, secret := e.railAccount(e.key, map[string]any{"rail": "qris", "qris_payload": staticQRIS})
		idr := map[string]any{"amount": "25000", "currency": "IDR", "payment_methods": []string{"qris"}}
		first, second, third := e.createInvoice(idr), e.createInvoice(idr), e.createInvoice(idr)
		total := func(inv map[string]any) string { return str(t, instructions(t, inv)[0], "total_amount") }
		const path = "/api/v1/rails/qris/callback"
		post := func(body map[string]any) map[string]any {
			return e.mustStatus(e.do("POST", path, "", body, "X-Callback-Key", secret), http.StatusOK).JSON
		}

		a := post(map[string]any{"amount": total(first), "sender_name": "JANE", "reference": "optional-reference"})
		b := post(map[string]any{"amount": total(second), "sender_name": "JOHN", "reference": "optional-reference"})
		if a["status"] != "matched" || a["invoice_id"] != str(t, first, "id") || b["status"] != "matched" || b["invoice_id"] != str(t, second, "id") {
			t.Errorf("two payments with one reference: %v, %v; want each matched to its invoice", a, b)
		}
		// The documented body without a reference.
		c := post(map[string]any{"amount": total(third), "sender_name": "ANA"})
		if c["status"] != "matched" || c["invoice_id"] != str(t, third, "id") {
			t.Errorf("callback without reference: %v", c)
		}
		// Retries of each are duplicates of their own payment.
		for _, tc := range []struct {
			body map[string]any
			want map[string]any
		}{
			{map[string]any{"amount": total(first), "sender_name": "JANE", "reference": "optional-reference"}, a},
			{map[string]any{"amount": total(third), "sender_name": "ANA"}, c},
		} {
			if got := post(tc.body); got["status"] != "duplicate" || got["payment_id"] != tc.want["payment_id"] {
				t.Errorf("retry %v: %v, want a duplicate of %v", tc.body, got, tc.want)
			}
		}
		for _, inv := range []map[string]any{first, second, third} {
			e.wantPaid(str(t, inv, "id"))
		}
	})
}

// TestIssue13ForwardedNotifications: a phone app reusing a notification id
// for another payment is a new credit; only the credited amount is read.
func TestIssue13ForwardedNotifications(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		_, secret := e.railAccount(e.key, map[string]any{"rail": "qris", "qris_payload": staticQRIS})
		idr := map[string]any{"amount": "25000", "currency": "IDR", "payment_methods": []string{"qris"}}
		first, second := e.createInvoice(idr), e.createInvoice(idr)
		total := func(inv map[string]any) string {
			s := str(t, instructions(t, inv)[0], "total_amount")
			return s[:len(s)-3] + "." + s[len(s)-3:]
		}
		const path = "/api/v1/rails/qris/notifications"
		note := func(hash, msg string) map[string]any {
			return map[string]any{"app": "id.dana", "title": "Pembayaran diterima", "message": msg, "timestamp": time.Now().UnixMilli(),
				"device_id": "pixel-7", "notif_id": "7", "event_hash": hash}
		}
		a := e.mustStatus(e.do("POST", path, secret, note("h-1", "Kamu menerima Rp"+total(first)+" dari JOHN")), http.StatusOK).JSON
		// The app reuses notification id 7 for the next payment.
		b := e.mustStatus(e.do("POST", path, secret, note("h-2", "Saldo Rp1.000.000. Kamu menerima Rp"+total(second)+" dari JANE")), http.StatusOK).JSON
		if a["status"] != "matched" || a["invoice_id"] != str(t, first, "id") || b["status"] != "matched" || b["invoice_id"] != str(t, second, "id") {
			t.Errorf("two payments under one notification id: %v, %v", a, b)
		}
		if again := e.mustStatus(e.do("POST", path, secret, note("h-2", "Saldo Rp1.000.000. Kamu menerima Rp"+total(second)+" dari JANE")), http.StatusOK).JSON; again["status"] != "duplicate" {
			t.Errorf("the forwarder's retry: %v", again)
		}
		before := e.count("payments") + e.count("rail_unmatched")
		for _, msg := range []string{"Kamu menerima Rp 1e5 dari JOHN", "Kamu menerima Rp25.001 dan Rp25.002"} {
			e.wantProblem(e.do("POST", path, secret, note("h-"+msg, msg)), http.StatusUnprocessableEntity, "amount_unreadable")
		}
		if n := e.count("payments") + e.count("rail_unmatched"); n != before {
			t.Errorf("unreadable notifications stored %d rows", n-before)
		}
	})
}

// TestIssue13ConcurrentDuplicates: ten copies of one notification at once
// record one payment and say so once.
func TestIssue13ConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		acct, secret := e.railAccount(e.key, bankAccount("fednow"))
		inv := e.createInvoice(map[string]any{"amount": "30.00", "currency": "USD", "payment_methods": []string{"fednow"}})
		body := camtDoc(isoCredit{svcrRef: "CONCURRENT-1", e2e: "NOTPROVIDED", amount: "30.00", rmt: str(t, instructions(t, inv)[0], "reference")})
		var mu sync.Mutex
		statuses := map[string]int{}
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				r, err := send(e.request("POST", "/api/v1/rails/fednow/notifications", "", body, "Content-Type", "application/xml",
					"X-Settle-Account", acct, fiat.SignatureHeader, fiat.Sign([]byte(secret), body, time.Now())))
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("notification: %v %d %s", err, r.Status, r.Raw)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, res := range results(t, r) {
					statuses[res["status"].(string)]++
				}
			})
		}
		wg.Wait()
		if statuses["matched"] != 1 || statuses["duplicate"] != 9 {
			t.Errorf("answers %v, want 1 matched and 9 duplicate", statuses)
		}
		e.wantPaid(str(t, inv, "id"))
	})
}
