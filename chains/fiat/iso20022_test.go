package fiat

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/iso20022/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseISO20022BankSamples reads real bank camt.054 files (see
// testdata/iso20022/README.md); the expectations were read off the XML.
func TestParseISO20022BankSamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file    string
		n       int
		sum     string // total of the credits, in cents
		first   Credit // fields of the first credit that are checked
		message string
	}{
		{"camt054_ch_credit.xml", 1, "150000", Credit{ID: "074820002ZZ9J42U", Amount: "1500.00", Currency: "CHF", Account: "CH2909000000250094239"}, "camt.054.001.04"},
		{"camt054_ch_debit.xml", 0, "0", Credit{}, ""},
		{"camt054_ch_esr.xml", 5, "153700", Credit{ID: "180315CH02ZX5RI3", EndToEndID: "EndToEndId-001-02-02", Amount: "250.00", Currency: "CHF", Debtor: "Bernasconi Maria", Reference: "120000000000234478943216899 / ?REJECT?0"}, "camt.054.001.04"},
		{"camt054_ch_batch.xml", 6, "150000", Credit{ID: "0000000000000001", EndToEndID: "EndToEndId-001-03-01", Amount: "400.00", Currency: "CHF", Debtor: "Bernasconi Maria", Reference: "Kontouebertrag / ?REJECT?0 / ?ERROR?000"}, "camt.054.001.04"},
		{"camt054_ch_chdd.xml", 2, "450", Credit{ID: "201-31295208-1", EndToEndID: "E2EId-CHDD-1", Amount: "1.50", Currency: "CHF", Debtor: "Maria Bernasconi", Reference: "Rechnung 1001"}, "camt.054.001.04"},
		// camt.054.001.02: amounts under AmtDtls, two debit entries and a
		// reversed INFO entry left out.
		{"camt054_fi.xml", 6, "550000", Credit{ID: "D091029N987654321S001", Amount: "1900.00", Currency: "EUR", Debtor: "PAYERS NAME1", Account: "FI7433010001222090", Reference: "3900 / 12344"}, "camt.054.001.02"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			credits, err := ParseISO20022(readSample(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(credits) != tc.n {
				t.Fatalf("%d credits, want %d: %+v", len(credits), tc.n, credits)
			}
			sum, ids := new(big.Int), map[string]bool{}
			for _, c := range credits {
				u, err := c.Units(2)
				if err != nil {
					t.Fatal(err)
				}
				sum.Add(sum, u.Big())
				if ids[c.ID] {
					t.Errorf("duplicate id %s", c.ID)
				}
				ids[c.ID] = true
				if c.Message != tc.message || c.BookedAt.IsZero() {
					t.Errorf("credit %s: message %q, booked %v", c.ID, c.Message, c.BookedAt)
				}
			}
			if sum.String() != tc.sum {
				t.Errorf("sum = %s cents, want %s", sum, tc.sum)
			}
			if tc.n == 0 {
				return
			}
			f, w := credits[0], tc.first
			if f.ID != w.ID || f.EndToEndID != w.EndToEndID || f.Amount != w.Amount || f.Currency != w.Currency ||
				f.Debtor != w.Debtor || f.Reference != w.Reference || (w.Account != "" && f.Account != w.Account) {
				t.Errorf("first credit\n got %+v\nwant %+v", f, w)
			}
		})
	}
}

func TestParseISO20022RefusesOtherDocuments(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string][]byte{
		"pain.002":        readSample(t, "pain002_status_report.xml"),
		"not xml":         []byte("hello"),
		"no document":     []byte("<a><b/></a>"),
		"other namespace": []byte(`<Document xmlns="urn:example"><BkToCstmrDbtCdtNtfctn/></Document>`),
		"bad amount":      []byte(camt054v08("TX1", "12,50", "USD", "BOOK", "CRDT", "")),
		"bad currency":    []byte(camt054v08("TX1", "12.50", "US", "BOOK", "CRDT", "")),
		"bad date":        []byte(strings.Replace(camt054v08("TX1", "12.50", "USD", "BOOK", "CRDT", ""), "<Dt>2025-01-02</Dt>", "<Dt>02.01.2025</Dt>", 1)),
	} {
		if _, err := ParseISO20022(doc); !errors.Is(err, ErrISO20022) {
			t.Errorf("%s: error = %v, want ErrISO20022", name, err)
		}
	}
}

// camt054v08 builds a camt.054.001.08 notification of one entry with one
// transaction, as a FedNow or RTP participant bank sends it.
func camt054v08(txID, amount, ccy, status, cdtDbt, ref string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
 <BkToCstmrDbtCdtNtfctn>
  <GrpHdr><MsgId>20250102BANK0001</MsgId><CreDtTm>2025-01-02T10:00:00Z</CreDtTm></GrpHdr>
  <Ntfctn>
   <Id>N1</Id><CreDtTm>2025-01-02T10:00:00Z</CreDtTm>
   <Acct><Id><Othr><Id>000123456789</Id></Othr></Id></Acct>
   <Ntry>
    <Amt Ccy="%[3]s">%[2]s</Amt><CdtDbtInd>%[5]s</CdtDbtInd><Sts><Cd>%[4]s</Cd></Sts>
    <BookgDt><Dt>2025-01-02</Dt></BookgDt>
    <AcctSvcrRef>ENTRY-%[1]s</AcctSvcrRef>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>
    <NtryDtls><TxDtls>
     <Refs><MsgId>FEDNOW-MSG-1</MsgId><EndToEndId>%[6]s</EndToEndId><TxId>%[1]s</TxId><UETR>8a562c67-ca16-48ba-b074-65581be6f011</UETR></Refs>
     <Amt Ccy="%[3]s">%[2]s</Amt><CdtDbtInd>%[5]s</CdtDbtInd>
     <RltdPties><Dbtr><Pty><Nm>JANE PAYOR</Nm></Pty></Dbtr></RltdPties>
     <RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>%[6]s</Ref></CdtrRefInf></Strd></RmtInf>
    </TxDtls></NtryDtls>
   </Ntry>
  </Ntfctn>
 </BkToCstmrDbtCdtNtfctn>
</Document>`, txID, amount, ccy, status, cdtDbt, ref)
}

// pacs008Message builds a FedNow-style pacs.008.001.08 inside its business
// message envelope (AppHdr then Document).
func pacs008Message(uetr, e2e, amount, ustrd string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Message xmlns="urn:tch">
 <AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02">
  <Fr><FIId><FinInstnId><ClrSysMmbId><MmbId>011000138</MmbId></ClrSysMmbId></FinInstnId></FIId></Fr>
  <To><FIId><FinInstnId><ClrSysMmbId><MmbId>021000021</MmbId></ClrSysMmbId></FinInstnId></FIId></To>
  <BizMsgIdr>20250102011000138A0000001</BizMsgIdr><MsgDefIdr>pacs.008.001.08</MsgDefIdr><CreDt>2025-01-02T10:00:00Z</CreDt>
 </AppHdr>
 <Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
  <FIToFICstmrCdtTrf>
   <GrpHdr><MsgId>20250102011000138A0000001</MsgId><CreDtTm>2025-01-02T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs><SttlmInf><SttlmMtd>CLRG</SttlmMtd><ClrSys><Cd>FDN</Cd></ClrSys></SttlmInf></GrpHdr>
   <CdtTrfTxInf>
    <PmtId><InstrId>I1</InstrId><EndToEndId>%[2]s</EndToEndId><UETR>%[1]s</UETR></PmtId>
    <PmtTpInf><LclInstrm><Prtry>FDNA</Prtry></LclInstrm></PmtTpInf>
    <IntrBkSttlmAmt Ccy="USD">%[3]s</IntrBkSttlmAmt><IntrBkSttlmDt>2025-01-02</IntrBkSttlmDt>
    <ChrgBr>SLEV</ChrgBr>
    <Dbtr><Nm>JANE PAYOR</Nm></Dbtr>
    <DbtrAcct><Id><Othr><Id>987654321</Id></Othr></Id></DbtrAcct>
    <DbtrAgt><FinInstnId><ClrSysMmbId><ClrSysId><Cd>USABA</Cd></ClrSysId><MmbId>011000138</MmbId></ClrSysMmbId></FinInstnId></DbtrAgt>
    <CdtrAgt><FinInstnId><ClrSysMmbId><ClrSysId><Cd>USABA</Cd></ClrSysId><MmbId>021000021</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>
    <Cdtr><Nm>ACME STORE</Nm></Cdtr>
    <CdtrAcct><Id><Othr><Id>000123456789</Id></Othr></Id></CdtrAcct>
    <RmtInf><Ustrd>%[4]s</Ustrd></RmtInf>
   </CdtTrfTxInf>
  </FIToFICstmrCdtTrf>
 </Document>
</Message>`, uetr, e2e, amount, ustrd)
}

func TestParseISO20022BuiltMessages(t *testing.T) {
	t.Parallel()
	ref := NewReference()
	credits, err := ParseISO20022([]byte(camt054v08("TX-001", "25.00", "USD", "BOOK", "CRDT", ref)))
	if err != nil {
		t.Fatal(err)
	}
	want := Credit{ID: "8a562c67-ca16-48ba-b074-65581be6f011", EndToEndID: ref, UETR: "8a562c67-ca16-48ba-b074-65581be6f011", Reference: ref, Amount: "25.00",
		Currency: "USD", Debtor: "JANE PAYOR", Account: "000123456789", BookedAt: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), DateOnly: true, Message: "camt.054.001.08"}
	if len(credits) != 1 || credits[0] != want {
		t.Fatalf("camt.054.001.08:\n got %+v\nwant %+v", credits, want)
	}
	if got, ok := credits[0].InvoiceReference(); !ok || got != ref {
		t.Errorf("InvoiceReference = %q, %v", got, ok)
	}
	// Pending, debit and reversed entries are not credits.
	for _, doc := range []string{
		camt054v08("TX-002", "25.00", "USD", "PDNG", "CRDT", ref),
		camt054v08("TX-003", "25.00", "USD", "BOOK", "DBIT", ref),
		strings.Replace(camt054v08("TX-004", "25.00", "USD", "BOOK", "CRDT", ref), "<Sts>", "<RvslInd>true</RvslInd><Sts>", 1),
	} {
		if c, err := ParseISO20022([]byte(doc)); err != nil || len(c) != 0 {
			t.Errorf("want no credits, got %+v, %v", c, err)
		}
	}

	uetr := "3f2f1c64-8b3e-4d55-9a53-2f0c4f3b7a10"
	credits, err = ParseISO20022([]byte(pacs008Message(uetr, "NOTPROVIDED", "1234.56", "Invoice "+strings.ToLower(ref)+" thanks")))
	if err != nil {
		t.Fatal(err)
	}
	want = Credit{ID: uetr, UETR: uetr, Reference: "Invoice " + strings.ToLower(ref) + " thanks", Amount: "1234.56", Currency: "USD",
		Debtor: "JANE PAYOR", Account: "000123456789", BookedAt: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), DateOnly: true, Message: "pacs.008.001.08"}
	if len(credits) != 1 || credits[0] != want {
		t.Fatalf("pacs.008.001.08:\n got %+v\nwant %+v", credits, want)
	}
	if got, ok := credits[0].InvoiceReference(); !ok || got != ref {
		t.Errorf("InvoiceReference = %q, %v", got, ok)
	}
	if u, err := credits[0].Units(2); err != nil || u.String() != "123456" {
		t.Errorf("Units(2) = %v, %v", u, err)
	}
	if _, err := credits[0].Units(0); err == nil {
		t.Error("Units(0) accepted cents")
	}
}
