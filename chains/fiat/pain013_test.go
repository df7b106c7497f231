package fiat

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"
)

func paymentRequest() PaymentRequest {
	created := time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC)
	return PaymentRequest{
		MessageID: "inv_01JGX3ABCDEF", Reference: "ST-7K3Q9M", Amount: "25.00", Currency: "USD",
		Creditor: BankAccount{Name: "ACME STORE", BankName: "EXAMPLE BANK", AccountNumber: "000123456789", RoutingNumber: "021000021"},
		Created:  created, Expiry: created.Add(time.Hour), Note: "Order 1042",
	}
}

func TestBuildPain013(t *testing.T) {
	t.Parallel()
	out, err := BuildPain013(paymentRequest())
	if err != nil {
		t.Fatal(err)
	}
	// Read it back with a schema-shaped view independent of the writer's types.
	var doc struct {
		XMLName xml.Name
		Req     struct {
			MsgID   string `xml:"GrpHdr>MsgId"`
			NbOfTxs string `xml:"GrpHdr>NbOfTxs"`
			PmtInf  []struct {
				PmtMtd  string `xml:"PmtMtd"`
				Expiry  string `xml:"XpryDt>DtTm"`
				Execute string `xml:"ReqdExctnDt>DtTm"`
				Dbtr    string `xml:"Dbtr>Nm"`
				DbtrAgt string `xml:"DbtrAgt>FinInstnId>Othr>Id"`
				Tx      []struct {
					E2E     string   `xml:"PmtId>EndToEndId"`
					Amt     amount   `xml:"Amt>InstdAmt"`
					ClrSys  string   `xml:"CdtrAgt>FinInstnId>ClrSysMmbId>ClrSysId>Cd"`
					ABA     string   `xml:"CdtrAgt>FinInstnId>ClrSysMmbId>MmbId"`
					Cdtr    string   `xml:"Cdtr>Nm"`
					Account string   `xml:"CdtrAcct>Id>Othr>Id"`
					Ustrd   []string `xml:"RmtInf>Ustrd"`
				} `xml:"CdtTrfTx"`
			} `xml:"PmtInf"`
		} `xml:"CdtrPmtActvtnReq"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.XMLName.Space != Pain013Namespace || doc.XMLName.Local != "Document" {
		t.Errorf("root = %v", doc.XMLName)
	}
	r := doc.Req
	if r.MsgID != "inv_01JGX3ABCDEF" || r.NbOfTxs != "1" || len(r.PmtInf) != 1 || len(r.PmtInf[0].Tx) != 1 {
		t.Fatalf("structure: %+v", r)
	}
	p, tx := r.PmtInf[0], r.PmtInf[0].Tx[0]
	if p.PmtMtd != "TRF" || p.Execute != "2025-01-02T10:00:00Z" || p.Expiry != "2025-01-02T11:00:00Z" || p.Dbtr != notProvidedID || p.DbtrAgt != notProvidedID {
		t.Errorf("payment info: %+v", p)
	}
	if tx.E2E != "ST-7K3Q9M" || tx.Amt != (amount{"25.00", "USD"}) || tx.ClrSys != "USABA" || tx.ABA != "021000021" ||
		tx.Cdtr != "ACME STORE" || tx.Account != "000123456789" || strings.Join(tx.Ustrd, "|") != "ST-7K3Q9M|Order 1042" {
		t.Errorf("transaction: %+v", tx)
	}
	// Element order follows the schema sequence.
	s := string(out)
	order := []string{"<GrpHdr>", "<PmtInf>", "<PmtInfId>", "<PmtMtd>", "<ReqdExctnDt>", "<XpryDt>", "<Dbtr>", "<DbtrAgt>", "<CdtTrfTx>", "<PmtId>", "<Amt>", "<ChrgBr>", "<CdtrAgt>", "<Cdtr>", "<CdtrAcct>", "<RmtInf>"}
	last := -1
	for _, el := range order {
		i := strings.Index(s, el)
		if i <= last {
			t.Fatalf("%s out of order in\n%s", el, s)
		}
		last = i
	}
}

func TestBuildPain013Refuses(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(*PaymentRequest){
		"no message id":   func(r *PaymentRequest) { r.MessageID = "" },
		"long reference":  func(r *PaymentRequest) { r.Reference = strings.Repeat("R", 36) },
		"float-ish":       func(r *PaymentRequest) { r.Amount = "2.5e1" },
		"zero amount":     func(r *PaymentRequest) { r.Amount = "0.00" },
		"negative":        func(r *PaymentRequest) { r.Amount = "-25.00" },
		"currency":        func(r *PaymentRequest) { r.Currency = "usd" },
		"bad ABA check":   func(r *PaymentRequest) { r.Creditor.RoutingNumber = "021000022" },
		"no ABA":          func(r *PaymentRequest) { r.Creditor.RoutingNumber = "" },
		"bad debtor ABA":  func(r *PaymentRequest) { r.Debtor.RoutingNumber = "12345" },
		"expired already": func(r *PaymentRequest) { r.Expiry = r.Created },
		"no account":      func(r *PaymentRequest) { r.Creditor.AccountNumber = "" },
	} {
		r := paymentRequest()
		edit(&r)
		if _, err := BuildPain013(r); !errors.Is(err, ErrPaymentRequest) {
			t.Errorf("%s: error = %v, want ErrPaymentRequest", name, err)
		}
	}
}

func TestValidABA(t *testing.T) {
	t.Parallel()
	// Published routing numbers of US banks and the Federal Reserve.
	for _, s := range []string{"021000021", "011000138", "026009593", "121000358", "091000019"} {
		if !ValidABA(s) {
			t.Errorf("ValidABA(%s) = false", s)
		}
	}
	for _, s := range []string{"021000022", "12345678", "0210000210", "02100002A", ""} {
		if ValidABA(s) {
			t.Errorf("ValidABA(%q) = true", s)
		}
	}
}
