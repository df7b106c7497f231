package client_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

// staticQRIS is a real static QRIS payload (chains/fiat/testdata/emvco).
const staticQRIS = "00020101021126570011ID.DANA.WWW011893600915303379682702090337968270303UMI51440014ID.CO.QRIS.WWW0215ID10265640751030303UMI5204737253033605802ID5909BoonTrack6012Kab. Bandung61054028663048DC1"

// fedNowAccount is a FedNow rail account; 021000021 has a valid ABA check
// digit.
var fedNowAccount = client.CreateRailAccountParams{
	Rail: client.RailFedNow, BankName: "First Example Bank", AccountName: "Test Shop LLC",
	AccountNumber: "000123456789", RoutingNumber: "021000021",
}

// TestRailAccounts adds FedNow and QRIS accounts, invoices over them, asks
// for a pain.013, reads the credits the bank reported for no invoice and
// deletes an account.
func TestRailAccounts(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)

		_, err := e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "25.00", Currency: "USD", PaymentMethods: []string{client.RailFedNow}})
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeReceivingAccountMissing)

		fed, err := e.c.CreateRailAccount(ctx, fedNowAccount, client.WithIdempotencyKey("fednow-account"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(fed.ID, "rla_") || !strings.HasPrefix(fed.CallbackSecret, "rcs_") || fed.Object != "rail_account" ||
			fed.Mode != client.ModeTest || fed.Rail != client.RailFedNow || fed.RoutingNumber != "021000021" || fed.CreatedAt.IsZero() {
			t.Fatalf("created %+v", fed)
		}
		// The same key again is the first answer, secret included; another
		// key is a second account on the rail, refused.
		if again, err := e.c.CreateRailAccount(ctx, fedNowAccount, client.WithIdempotencyKey("fednow-account")); err != nil || *again != *fed {
			t.Errorf("replayed creation %+v, %v; want %+v", again, err, fed)
		}
		_, err = e.c.CreateRailAccount(ctx, fedNowAccount)
		wantError(t, err, http.StatusConflict, client.CodeRailAccountExists)
		bad := fedNowAccount
		bad.Rail, bad.RoutingNumber = client.RailRTP, "021000022"
		_, err = e.c.CreateRailAccount(ctx, bad)
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeInvalidRoutingNumber)

		qris, err := e.c.CreateRailAccount(ctx, client.CreateRailAccountParams{Rail: client.RailQRIS, QRISPayload: staticQRIS})
		if err != nil {
			t.Fatal(err)
		}
		if qris.AccountName != "BoonTrack" || qris.QRISPayload != staticQRIS || qris.CallbackSecret == "" {
			t.Errorf("qris account %+v", qris)
		}

		got, err := e.c.GetRailAccount(ctx, fed.ID)
		if err != nil || got.CallbackSecret != "" || got.ID != fed.ID || got.AccountNumber != "000123456789" {
			t.Errorf("get %+v, %v", got, err)
		}
		list, err := e.c.ListRailAccounts(ctx)
		if err != nil || list.Object != "list" || len(list.Data) != 2 {
			t.Fatalf("list %+v, %v", list, err)
		}
		for _, a := range list.Data {
			if a.CallbackSecret != "" {
				t.Errorf("listed with its secret: %+v", a)
			}
		}

		// An invoice in USD paid by FedNow: the instruction is the bank
		// account and the invoice's reference.
		inv, err := e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "25.00", Currency: "USD", PaymentMethods: []string{client.RailFedNow}})
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.PaymentInstructions) != 1 {
			t.Fatalf("instructions %+v", inv.PaymentInstructions)
		}
		in := inv.PaymentInstructions[0]
		if in.Method != client.RailFedNow || in.Network != client.RailFedNow || in.Asset != "USD" || in.Amount != "25.00" || in.Reference == "" ||
			in.BankName != "First Example Bank" || in.AccountName != "Test Shop LLC" || in.AccountNumber != "000123456789" || in.RoutingNumber != "021000021" {
			t.Errorf("fednow instruction %+v", in)
		}

		// The pain.013 to hand to the bank: well-formed XML for the amount
		// due, with the reference as end-to-end id.
		doc, err := e.c.RequestForPayment(ctx, inv.ID, client.RailFedNow)
		if err != nil {
			t.Fatal(err)
		}
		if err := wellFormed(doc); err != nil {
			t.Errorf("pain.013 is not XML: %v\n%s", err, doc)
		}
		for _, want := range []string{"urn:iso:std:iso:20022:tech:xsd:pain.013.001.07", "<EndToEndId>" + in.Reference + "</EndToEndId>",
			`Ccy="USD">25.00<`, "<MmbId>021000021</MmbId>", "000123456789"} {
			if !bytes.Contains(doc, []byte(want)) {
				t.Errorf("pain.013 lacks %s:\n%s", want, doc)
			}
		}
		_, err = e.c.RequestForPayment(ctx, inv.ID, client.RailRTP)
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeInvalidRail)
		_, err = e.c.RequestForPayment(ctx, "inv_nobody", client.RailFedNow)
		wantError(t, err, http.StatusNotFound, client.CodeNotFound)

		// Paid (simulated, as the bank's notification would), it can no
		// longer be requested.
		sim, err := e.c.SimulatePayment(ctx, inv.ID, client.SimulatePaymentParams{Amount: "25.00", Method: client.RailFedNow})
		if err != nil || sim.Invoice.Status != client.StatusPaid || sim.Payment.Network != client.RailFedNow || sim.Payment.Amount != "25.00" {
			t.Fatalf("simulated fednow payment %+v, %v", sim, err)
		}
		_, err = e.c.RequestForPayment(ctx, inv.ID, client.RailFedNow)
		wantError(t, err, http.StatusConflict, client.CodeInvoiceNotPayable)

		// A QRIS invoice: the payor pays the total, amount plus unique code.
		idr, err := e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "25000", Currency: "IDR", PaymentMethods: []string{client.RailQRIS}})
		if err != nil {
			t.Fatal(err)
		}
		q := idr.PaymentInstructions[0]
		if q.Method != client.RailQRIS || q.UniqueCode <= 0 || q.TotalAmount != strconv.FormatInt(25000+q.UniqueCode, 10) ||
			q.QRISPayload == "" || q.URI != q.QRISPayload || q.Reference == "" {
			t.Errorf("qris instruction %+v", q)
		}

		// Credits the bank reports for no invoice are kept and listed,
		// newest first.
		if l, err := e.c.ListUnmatchedRailCredits(ctx, "", 0); err != nil || l.Object != "list" || len(l.Data) != 0 || l.HasMore {
			t.Errorf("unmatched before any credit: %+v, %v", l, err)
		}
		for _, tx := range []string{"FN-UETR-1", "FN-UETR-2"} {
			e.notifyFedNow(ctx, fed, pacs008(tx, "4.44"))
		}
		var seen []client.UnmatchedRailCredit
		after := ""
		for {
			page, err := e.c.ListUnmatchedRailCredits(ctx, after, 1)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, page.Data...)
			if !page.HasMore {
				break
			}
			after = page.Data[len(page.Data)-1].ID
		}
		if len(seen) != 2 || seen[0].TxID != "FN-UETR-2" || seen[1].TxID != "FN-UETR-1" {
			t.Fatalf("unmatched %+v", seen)
		}
		u := seen[1]
		if !strings.HasPrefix(u.ID, "rlu_") || u.Object != "unmatched_rail_credit" || u.Mode != client.ModeTest || u.RailAccountID != fed.ID ||
			u.Rail != client.RailFedNow || u.Amount != "4.44" || u.Currency != "USD" || u.Sender != "JOHN PAYOR" || u.Detail == "" || u.ObservedAt.IsZero() {
			t.Errorf("unmatched credit %+v", u)
		}

		// Deleted, the account is gone and invoices no longer offer it.
		del, err := e.c.DeleteRailAccount(ctx, fed.ID)
		if err != nil || !del.Deleted || del.ID != fed.ID || del.Object != "rail_account" {
			t.Fatalf("delete %+v, %v", del, err)
		}
		_, err = e.c.GetRailAccount(ctx, fed.ID)
		wantError(t, err, http.StatusNotFound, client.CodeNotFound)
		_, err = e.c.DeleteRailAccount(ctx, fed.ID)
		wantError(t, err, http.StatusNotFound, client.CodeNotFound)
		if l, err := e.c.ListRailAccounts(ctx); err != nil || len(l.Data) != 1 || l.Data[0].ID != qris.ID {
			t.Errorf("list after delete %+v, %v", l, err)
		}
		_, err = e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "25.00", Currency: "USD", PaymentMethods: []string{client.RailFedNow}})
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeReceivingAccountMissing)

		// Another merchant sees none of it.
		_, otherKey := e.newMerchant()
		other := e.client(otherKey)
		_, err = other.GetRailAccount(ctx, qris.ID)
		wantError(t, err, http.StatusNotFound, client.CodeNotFound)
		if l, err := other.ListUnmatchedRailCredits(ctx, "", 0); err != nil || len(l.Data) != 0 {
			t.Errorf("another merchant's unmatched credits %+v, %v", l, err)
		}
	})
}

// notifyFedNow posts body to the FedNow notification endpoint as the bank
// does, signed with the account's callback secret. The client has no
// method for this: banks call it, not a merchant.
func (e *env) notifyFedNow(ctx context.Context, a *client.RailAccount, body []byte) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", e.URL+"/api/v1/rails/fednow/notifications", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("X-Settle-Account", a.ID)
	req.Header.Set(fiat.SignatureHeader, fiat.Sign([]byte(a.CallbackSecret), body, time.Now()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(`"status":"unmatched"`)) {
		e.t.Fatalf("notification: %d %s", res.StatusCode, raw)
	}
}

// pacs008 is a FedNow pacs.008.001.08 credit of amount USD that names no
// invoice.
func pacs008(uetr, amount string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf>
 <GrpHdr><MsgId>M-` + uetr + `</MsgId><CreDtTm>2025-01-02T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs></GrpHdr>
 <CdtTrfTxInf><PmtId><InstrId>I1</InstrId><EndToEndId>NOTPROVIDED</EndToEndId><UETR>` + uetr + `</UETR></PmtId>
  <IntrBkSttlmAmt Ccy="USD">` + amount + `</IntrBkSttlmAmt><IntrBkSttlmDt>2025-01-02</IntrBkSttlmDt>
  <Dbtr><Nm>JOHN PAYOR</Nm></Dbtr><Cdtr><Nm>TEST SHOP</Nm></Cdtr>
  <CdtrAcct><Id><Othr><Id>000123456789</Id></Othr></Id></CdtrAcct>
  <RmtInf><Ustrd>thanks</Ustrd></RmtInf></CdtTrfTxInf>
</FIToFICstmrCdtTrf></Document>`)
}

// wellFormed reads doc to its end as XML.
func wellFormed(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		if _, err := d.Token(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// Receive on FedNow: add the rail account (keep its callback secret for
// the bank), invoice in USD over it and fetch the pain.013 to send the
// payor's bank.
func ExampleClient_CreateRailAccount() {
	ctx := context.Background()
	baseURL, apiKey := exampleServer() // your server and sk_test_… key

	c := client.New(baseURL, apiKey)
	acct, err := c.CreateRailAccount(ctx, client.CreateRailAccountParams{
		Rail: client.RailFedNow, BankName: "First Example Bank", AccountName: "Corner Café LLC",
		AccountNumber: "000123456789", RoutingNumber: "021000021",
	}, client.WithIdempotencyKey("fednow-account"))
	if err != nil {
		log.Fatal(err)
	}
	_ = acct.CallbackSecret // shown only now: store it in the bank's settings

	inv, err := c.CreateInvoice(ctx, client.CreateInvoiceParams{
		Amount: "25.00", Currency: "USD", PaymentMethods: []string{client.RailFedNow},
	})
	if err != nil {
		log.Fatal(err)
	}
	in := inv.PaymentInstructions[0]
	fmt.Println(in.Method, in.Amount, in.Asset, in.RoutingNumber, in.AccountNumber, in.Reference != "")

	pain013, err := c.RequestForPayment(ctx, inv.ID, client.RailFedNow)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bytes.Contains(pain013, []byte("<EndToEndId>"+in.Reference+"</EndToEndId>")))
	// Output:
	// fednow 25.00 USD 021000021 000123456789 true
	// true
}
