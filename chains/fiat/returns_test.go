package fiat

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func readReturn(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/returns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseISO20022Returns reads the FedNow pacs.004, the camt.054 return
// entry and the RTP pacs.002 of testdata/returns (schema-validated, see its
// README); the expectations were read off the XML. None of them is a
// credit.
func TestParseISO20022Returns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		want []CreditReturn
	}{
		{"pacs004_fednow.xml", []CreditReturn{{ID: "RTR20250103000001", UETR: "e9b4b3c6-5f0e-4b8e-9d3a-2c1f7a6b8d10",
			TxID: "20250102011000138TX000001", InstrID: "I1", EndToEndID: "E2E-FEDNOW-0001", Amount: "25.00", Currency: "USD",
			Code: "AC04", Info: "Creditor account closed on 2025-01-02", Message: "pacs.004.001.10"}}},
		{"camt054_return.xml", []CreditReturn{{ID: "RTN-0001", UETR: "4c1d2e3f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
			TxID: "20250102011000138TX000002", InstrID: "I1", EndToEndID: "E2E-FEDNOW-0002", Amount: "25.00", Currency: "USD",
			Code: "MS03", Message: "camt.054.001.08"}}},
		// The second transaction is settled (ACSC): not a rejection.
		{"pacs002_rtp_rjct.xml", []CreditReturn{{ID: "STS20250103000001", Rejected: true, TxID: "20250102011000138RTPT0001",
			InstrID: "20250102011000138RTPI0001", EndToEndID: "E2E-RTP-0001", Amount: "25.00", Currency: "USD",
			Code: "AC03", Message: "pacs.002.001.10"}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data := readReturn(t, tc.file)
			got, err := ParseISO20022Returns(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d returns, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("return %d:\n got %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
			if credits, err := ParseISO20022(data); err != nil || len(credits) != 0 {
				t.Errorf("credits of a return: %+v, %v", credits, err)
			}
		})
	}

	// The reason text is the bank's words, else the code's meaning.
	v := CreditReturn{UETR: "U", TxID: "T", InstrID: "I", Amount: "1.00", Currency: "USD", Code: "AM04"}.Reversal()
	if v.Reason != "Insufficient funds" || v.Code != "AM04" || v.UETR != "U" || len(v.TxIDs) != 1 || v.TxIDs[0] != "T" {
		t.Errorf("reversal %+v", v)
	}

	// A debit that is not a return, and a pending return, are no returns;
	// a camt.054 credit has none either.
	camt := string(readReturn(t, "camt054_return.xml"))
	notReturn := strings.NewReplacer("<RvslInd>true</RvslInd>", "", "RRTN", "DMCT").Replace(camt)
	notReturn = notReturn[:strings.Index(notReturn, "<RtrInf>")] + notReturn[strings.Index(notReturn, "</RtrInf>")+len("</RtrInf>"):]
	pending := strings.Replace(camt, "<Cd>BOOK</Cd>", "<Cd>PDNG</Cd>", 1)
	for name, doc := range map[string]string{"plain debit": notReturn, "pending": pending,
		"credit": camt054v08("TX-1", "25.00", "USD", "BOOK", "CRDT", "ref")} {
		if r, err := ParseISO20022Returns([]byte(doc)); err != nil || len(r) != 0 {
			t.Errorf("%s: returns %+v, %v", name, r, err)
		}
	}
	// The bank transaction code alone marks a return.
	byCode := strings.Replace(camt, "<RvslInd>true</RvslInd>", "", 1)
	if r, err := ParseISO20022Returns([]byte(byCode)); err != nil || len(r) != 1 || r[0].UETR == "" {
		t.Errorf("return by bank transaction code: %+v, %v", r, err)
	}

	// A return without its amount, or with a bad one, is unreadable.
	p004 := string(readReturn(t, "pacs004_fednow.xml"))
	for name, doc := range map[string]string{
		"no amount":    strings.Replace(p004, `<RtrdIntrBkSttlmAmt Ccy="USD">25.00</RtrdIntrBkSttlmAmt>`, "", 1),
		"float amount": strings.Replace(p004, `>25.00</RtrdIntrBkSttlmAmt>`, `>2.5e1</RtrdIntrBkSttlmAmt>`, 1),
		"bad currency": strings.Replace(p004, `<RtrdIntrBkSttlmAmt Ccy="USD">`, `<RtrdIntrBkSttlmAmt Ccy="usd">`, 1),
	} {
		if _, err := ParseISO20022Returns([]byte(doc)); !errors.Is(err, ErrISO20022) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestParseNACHAReturn reads a Same-Day ACH return of a credit (transaction
// code 21 with its addenda 99, R01), laid out per the NACHA rules' return
// addenda; a bad reason code or trace is refused by record.
func TestParseNACHAReturn(t *testing.T) {
	t.Parallel()
	data := readReturn(t, "nacha_r01.ach")
	f, err := ParseNACHA(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Credits()) != 0 {
		t.Errorf("a return is no credit: %+v", f.Credits())
	}
	got := f.Returns()
	want := ACHCreditReturn{ACHReturn: ACHReturn{Code: "R01", OriginalTrace: "011000130000042", OriginalRDFI: "02100002",
		Info: "SAME-DAY CREDIT RETURNED"}, Trace: "021000020000001", Amount: 2500}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("returns %+v, want %+v", got, want)
	}
	v := got[0].Reversal()
	if v.Trace != "011000130000042" || v.Amount != "25.00" || v.Currency != "USD" || v.Code != "R01" ||
		v.Reason != "Insufficient funds: SAME-DAY CREDIT RETURNED" {
		t.Errorf("reversal %+v", v)
	}
	// Written back, the file is the same bytes.
	if b, err := f.Bytes(); err != nil || string(b) != string(data) {
		t.Errorf("round trip:\n%s\n%v", b, err)
	}
	death := ACHReturn{Code: "R15", DateOfDeath: "241231"}
	if r := death.Reason(); r != "Beneficiary or account holder deceased (date of death 241231)" {
		t.Errorf("R15 reason %q", r)
	}

	lines := strings.Split(string(data), "\n")
	for name, c := range map[string]struct {
		line int
		from string
		to   string
	}{
		"reason R00":       {3, "799R01", "799R00"},
		"reason R86":       {3, "799R01", "799R86"},
		"reason X01":       {3, "799R01", "799X01"},
		"trace not digits": {3, "799R01011000130000042", "799R0101100013000004A"},
	} {
		bad := append([]string(nil), lines...)
		bad[c.line] = strings.Replace(bad[c.line], c.from, c.to, 1)
		if _, err := ParseNACHA([]byte(strings.Join(bad, "\n"))); !errors.Is(err, ErrNACHA) || !strings.Contains(err.Error(), "record 4") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
