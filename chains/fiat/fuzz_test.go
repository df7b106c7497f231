package fiat

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for every parser of outside input. Their seeds are the
// samples in testdata, so plain `go test` runs them once.

func FuzzParseEMVCo(f *testing.F) {
	for _, s := range append(samples(f, "testdata/emvco/valid.txt"), samples(f, "testdata/emvco/invalid.txt")...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseEMVCo(s)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to itself (CRC hex case aside).
		if out := p.String(); !strings.EqualFold(out, s) {
			t.Fatalf("round trip: %q → %q", s, out)
		}
		if v, ok := p.Get(idInitiation); ok && utf8.ValidString(s) {
			if d, err := Dynamic(s, "1000", "B1"); err == nil {
				if _, err := ParseEMVCo(d); err != nil {
					t.Fatalf("Dynamic(%q) gave an invalid payload %q: %v (initiation %s)", s, d, err, v)
				}
			}
		}
	})
}

func FuzzParseAmountIDR(f *testing.F) {
	for _, s := range []string{
		"Kamu berhasil menerima Rp25.042 dari JOHN DOE", "Dana masuk Rp 25.042,00", "IDR 25,042.00",
		"Rp.50.000,-", "Rp 1.2345", "Rp\u00a07.500", "rp", "IDR", "Rp 99.999.999.999.999.999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseAmountIDR(s)
		if err == nil && (v < 0 || v > maxIDRAmount) {
			t.Fatalf("ParseAmountIDR(%q) = %d out of range", s, v)
		}
	})
}

func FuzzParseISO20022(f *testing.F) {
	files, _ := filepath.Glob("testdata/iso20022/*.xml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(camt054v08("TX1", "25.00", "USD", "BOOK", "CRDT", "ST-7K3Q9M")))
	f.Add([]byte(pacs008Message("3f2f1c64-8b3e-4d55-9a53-2f0c4f3b7a10", "E2E", "1.00", "x")))
	returns, _ := filepath.Glob("testdata/returns/*.xml")
	for _, name := range returns {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		credits, err := ParseISO20022(b)
		if err != nil {
			return
		}
		for _, c := range credits {
			if c.ID == "" || !isISOAmount(c.Amount) || len(c.Currency) != 3 {
				t.Fatalf("accepted credit %+v", c)
			}
		}
		rets, err := ParseISO20022Returns(b)
		if err != nil {
			t.Fatalf("credits read, returns not: %v", err)
		}
		for _, r := range rets {
			if r.Amount == "" && !r.Rejected || r.Amount != "" && (!isISOAmount(r.Amount) || len(r.Currency) != 3) {
				t.Fatalf("accepted return %+v", r)
			}
		}
	})
}

func FuzzParseNACHA(f *testing.F) {
	files, _ := filepath.Glob("testdata/nacha/*.ach")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if b, err := achFile("ST-7K3Q9M").Bytes(); err == nil {
		f.Add(b)
	}
	if b, err := os.ReadFile("testdata/returns/nacha_r01.ach"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ParseNACHA(b)
		if err != nil {
			return
		}
		for _, c := range file.Credits() {
			if c.Amount <= 0 || !IsLiveCredit(c.TransactionCode) {
				t.Fatalf("credit %+v", c)
			}
		}
		// A file that parses writes back to one that parses the same.
		out, err := file.Bytes()
		if err != nil {
			return // fields a writer cannot hold, e.g. non-ASCII widths
		}
		again, err := ParseNACHA(out)
		if err != nil || !reflect.DeepEqual(again, file) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"ST-7K3Q9M", "st 7k3q9m", "ST-OIL000", "REF ST-ABCDEF thanks", "ST", ""} {
		f.Add(s)
	}
	f.Add(NewReference())
	f.Fuzz(func(t *testing.T, s string) {
		if ref, err := ParseReference(s); err == nil {
			if again, err := ParseReference(ref); err != nil || again != ref {
				t.Fatalf("canonical %q does not parse to itself: %q, %v", ref, again, err)
			}
		}
		if ref, ok := FindReference(s); ok {
			if _, err := ParseReference(ref); err != nil {
				t.Fatalf("FindReference(%q) = %q, invalid: %v", s, ref, err)
			}
		}
	})
}

func FuzzVerifySignature(f *testing.F) {
	f.Add("t=1735689600,v1=00", []byte("{}"))
	f.Add(Sign([]byte("s"), []byte("{}"), testNow), []byte("{}"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		// Only a header holding the true MAC (in any hex case) is accepted.
		want := Sign([]byte("s"), body, testNow)[len("t=1735689600,"):]
		if err := VerifySignature([]byte("s"), header, body, testNow); err == nil && !strings.Contains(strings.ToLower(header), want) {
			t.Fatalf("accepted %q", header)
		}
	})
}
