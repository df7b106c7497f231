package fiat

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readNACHA(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/nacha/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseNACHASamples reads published NACHA files (see
// testdata/nacha/README.md); expectations were read off the records.
func TestParseNACHASamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file    string
		batches int
		credits int
		total   int64 // of the live credits, cents
		first   ACHCredit
	}{
		// Four batches: PPD debits, PPD micro-deposit credits, IAT with
		// addenda 10–16; no padding after the file control.
		{"20110805A.ach", 4, 20, 200, ACHCredit{ACHEntry: ACHEntry{TransactionCode: 22, RDFI: "02120002", CheckDigit: "5",
			Account: "998412345", Amount: 8, IndividualID: "A251", IndividualName: "NATHAN NELSON", Trace: "042000010000001"},
			SECCode: "PPD", CompanyName: "EXAMPLE COMPANY", CompanyID: "0231380104", EntryDescription: "VERIFY", EffectiveDate: "110808"}},
		// Savings credits (32) with type 05 addenda, debits (27) beside them.
		{"two-micro-deposits.ach", 2, 4, 44 + 32 + 2 + 42, ACHCredit{ACHEntry: ACHEntry{TransactionCode: 32, RDFI: "12104288", CheckDigit: "2",
			Account: "322580734", Amount: 44, IndividualID: "e681e50d1cc83dc", IndividualName: "Distracted Austin", Discretionary: "Mo",
			Trace: "121042886829038", Addenda: []string{"paygate transaction"}},
			SECCode: "PPD", CompanyName: "Moov - paygate m", CompanyID: "001", EntryDescription: "Moov, Inc", EffectiveDate: "200325"}},
		{"ppd-debit.ach", 1, 0, 0, ACHCredit{}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data := readNACHA(t, tc.file)
			if tc.file == "20110805A.ach" {
				// As published, its file control counts five batches for the
				// four it holds (batch 2 is missing); the parser says so.
				_, err := ParseNACHA(data)
				if !errors.Is(err, ErrNACHA) || !strings.Contains(err.Error(), "batch count is 5, file has 4 batches") {
					t.Fatalf("published file: error = %v, want the batch count mismatch", err)
				}
				data = bytes.Replace(data, []byte("\n9000005"), []byte("\n9000004"), 1)
			}
			f, err := ParseNACHA(data)
			if err != nil {
				t.Fatal(err)
			}
			credits := f.Credits()
			if len(f.Batches) != tc.batches || len(credits) != tc.credits {
				t.Fatalf("%d batches, %d credits; want %d, %d", len(f.Batches), len(credits), tc.batches, tc.credits)
			}
			var total int64
			for _, c := range credits {
				total += c.Amount
			}
			if total != tc.total {
				t.Errorf("credits total %d cents, want %d", total, tc.total)
			}
			if tc.credits > 0 && !reflect.DeepEqual(credits[0], tc.first) {
				t.Errorf("first credit\n got %+v\nwant %+v", credits[0], tc.first)
			}
			// Writing the parsed file back gives a file that parses the same.
			out, err := f.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseNACHA(out)
			if err != nil {
				t.Fatalf("re-parse: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(again, f) {
				t.Errorf("round trip differs")
			}
		})
	}
}

// achFile is a Same-Day ACH file as the merchant's bank would deliver it:
// one CCD batch with a credit carrying the reference in the addenda, one
// with it in the identification number, a prenote and a debit.
func achFile(ref string) *ACHFile {
	return &ACHFile{
		Destination: "021000021", Origin: "011000138", Created: "250102", CreatedTime: "1030", IDModifier: "A",
		DestinationName: "EXAMPLE BANK", OriginName: "PAYOR BANK",
		Batches: []ACHBatch{{
			ServiceClass: 200, CompanyName: "PAYOR CORP", CompanyID: "1234567890", SECCode: "CCD",
			EntryDescription: "INVOICE", DescriptiveDate: "SD1300", EffectiveDate: "250102", OriginatorStatus: "1", ODFI: "01100013", Number: 1,
			Entries: []ACHEntry{
				{TransactionCode: 22, RDFI: "02100002", CheckDigit: "1", Account: "000123456789", Amount: 2500, IndividualID: "PO-77", IndividualName: "ACME STORE",
					Trace: "011000130000001", Addenda: []string{"RMR*IV*" + ref + "*PI*25.00\\"}},
				{TransactionCode: 32, RDFI: "02100002", CheckDigit: "1", Account: "000123456789", Amount: 1999, IndividualID: strings.ToLower(ref), IndividualName: "ACME STORE",
					Trace: "011000130000002"},
				{TransactionCode: 23, RDFI: "02100002", CheckDigit: "1", Account: "000123456789", Amount: 0, IndividualName: "ACME STORE", Trace: "011000130000003"},
				{TransactionCode: 27, RDFI: "02100002", CheckDigit: "1", Account: "000123456789", Amount: 700, IndividualName: "ACME STORE", Trace: "011000130000004"},
			},
		}},
	}
}

func TestParseNACHABuilt(t *testing.T) {
	t.Parallel()
	ref := NewReference()
	data, err := achFile(ref).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(data, []byte("\n")); lines%10 != 0 {
		t.Errorf("%d records, want a multiple of ten", lines)
	}
	for name, in := range map[string][]byte{
		"newlines":     data,
		"CRLF":         bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")),
		"back to back": bytes.ReplaceAll(data, []byte("\n"), nil),
	} {
		f, err := ParseNACHA(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		credits := f.Credits()
		if len(credits) != 2 {
			t.Fatalf("%s: %d credits, want the two live ones", name, len(credits))
		}
		for i, c := range credits {
			if got, ok := c.InvoiceReference(); !ok || got != ref {
				t.Errorf("%s: credit %d reference = %q, %v; want %q", name, i, got, ok, ref)
			}
		}
		if credits[0].ID() != "250102:011000130000001" || credits[0].Amount != 2500 || credits[1].Amount != 1999 || credits[0].SECCode != "CCD" {
			t.Errorf("%s: credits = %+v", name, credits)
		}
	}
}

func TestParseNACHARefusesBadControls(t *testing.T) {
	t.Parallel()
	good, err := achFile(NewReference()).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	recs := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	edit := func(kind byte, from int, repl string) []byte {
		out := append([]string(nil), recs...)
		for i, r := range out {
			if r[0] == kind && !strings.HasPrefix(r, "9999999999") {
				out[i] = r[:from-1] + repl + r[from-1+len(repl):]
				break
			}
		}
		return []byte(strings.Join(out, "\n"))
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"entry amount changed":  {edit('6', 30, "0000002600"), "total credit"},
		"entry RDFI changed":    {edit('6', 4, "02100003"), "entry hash"},
		"batch count wrong":     {edit('8', 5, "000009"), "entry/addenda count"},
		"file total wrong":      {edit('9', 44, "000000009999"), "total credit"},
		"file batch count":      {edit('9', 2, "000002"), "batch count"},
		"block count":           {edit('9', 8, "000009"), "block count"},
		"non-digit amount":      {edit('6', 30, "00000025A0"), "amount"},
		"addenda seq":           {edit('7', 84, "0002"), "addenda sequence"},
		"addenda trace":         {edit('7', 88, "9999999"), "trace"},
		"short record":          {[]byte(strings.Replace(string(good), recs[2], recs[2][:90], 1)), "characters"},
		"no file header":        {[]byte(strings.Join(recs[1:], "\n")), "file header"},
		"no file control":       {[]byte(strings.Join(recs[:8], "\n")), "file control"},
		"record after control":  {[]byte(string(good) + recs[2] + "\n"), "padding"},
		"empty":                 {nil, "empty"},
		"batch control missing": {[]byte(strings.Join(append(append([]string{}, recs[:7]...), recs[8:]...), "\n")), "batch control"},
	} {
		_, err := ParseNACHA(tc.data)
		if !errors.Is(err, ErrNACHA) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want ErrNACHA mentioning %q", name, err, tc.want)
		}
	}
}
