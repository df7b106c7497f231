package solanapay_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/settlepay/settle/chains/solanapay"
	"github.com/settlepay/settle/invoice"
)

const (
	wallet = "mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN" // the specification's examples' recipient
	usdc   = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
	ref1   = "82ZJ7nbGpixjeDCmEhUcmwXYfvurzAgGdtSMuHnUgyny"
	ref2   = "5ZCTNr1WJE3aV2i4fZy7ay3aWzKyV2XqXyfP5cL4LWUf"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    solanapay.Request
		want string
	}{
		// The specification's own examples.
		{"native SOL", solanapay.Request{Recipient: wallet, Amount: "1", Label: "Michael", Message: "Thanks for all the fish", Memo: "OrderId12345"},
			"solana:" + wallet + "?amount=1&label=Michael&message=Thanks%20for%20all%20the%20fish&memo=OrderId12345"},
		{"USDC", solanapay.Request{Recipient: wallet, Amount: "0.01", SPLToken: usdc},
			"solana:" + wallet + "?amount=0.01&spl-token=" + usdc},
		{"no amount", solanapay.Request{Recipient: wallet, Label: "Michael"}, "solana:" + wallet + "?label=Michael"},
		{"bare", solanapay.Request{Recipient: wallet}, "solana:" + wallet},
		{"references in order, canonical amount", solanapay.Request{Recipient: wallet, Amount: "0025.500000", SPLToken: usdc, References: []string{ref2, ref1}},
			"solana:" + wallet + "?amount=25.5&spl-token=" + usdc + "&reference=" + ref2 + "&reference=" + ref1},
		{"reserved characters escaped", solanapay.Request{Recipient: wallet, Label: "A&B=C+D?", Memo: "inv_1 é/#"},
			"solana:" + wallet + "?label=A%26B%3DC%2BD%3F&memo=inv_1%20%C3%A9%2F%23"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Encode\n got %s\nwant %s", got, tc.want)
			}
			back, err := solanapay.Parse(got)
			if err != nil {
				t.Fatalf("Parse(%s): %v", got, err)
			}
			again, _ := back.Encode()
			if again != got {
				t.Errorf("round trip: %s became %s", got, again)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		r    solanapay.Request
		want error
	}{
		{"no recipient", solanapay.Request{}, solanapay.ErrKey},
		{"EVM recipient", solanapay.Request{Recipient: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}, solanapay.ErrKey},
		{"exponent", solanapay.Request{Recipient: wallet, Amount: "1e3"}, solanapay.ErrAmount},
		{"negative", solanapay.Request{Recipient: wallet, Amount: "-1"}, solanapay.ErrAmount},
		{"point only", solanapay.Request{Recipient: wallet, Amount: "1."}, solanapay.ErrAmount},
		{"bad mint", solanapay.Request{Recipient: wallet, SPLToken: "usdc"}, solanapay.ErrKey},
		{"bad reference", solanapay.Request{Recipient: wallet, References: []string{"x"}}, solanapay.ErrKey},
		{"invalid UTF-8", solanapay.Request{Recipient: wallet, Memo: "\xff"}, solanapay.ErrEncoding},
	} {
		if _, err := tc.r.Encode(); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    solanapay.Request
		wantErr error
	}{
		{name: "spec example", in: "solana:" + wallet + "?amount=1&label=Michael&message=Thanks%20for%20all%20the%20fish&memo=OrderId12345",
			want: solanapay.Request{Recipient: wallet, Amount: "1", Label: "Michael", Message: "Thanks for all the fish", Memo: "OrderId12345"}},
		{name: "plus is a space, upper-case scheme, unknown parameter ignored", in: "SOLANA:" + wallet + "?message=two+words&foo=bar&amount=.5",
			wantErr: solanapay.ErrAmount},
		{name: "plus is a space", in: "SOLANA:" + wallet + "?message=two+words&foo=bar&amount=00.50",
			want: solanapay.Request{Recipient: wallet, Amount: "0.5", Message: "two words"}},
		{name: "two references", in: "solana:" + wallet + "?reference=" + ref1 + "&reference=" + ref2,
			want: solanapay.Request{Recipient: wallet, References: []string{ref1, ref2}}},
		{name: "transaction request", in: "solana:https%3A%2F%2Fexample.com%2Fpay", wantErr: solanapay.ErrTransactionRequest},
		{name: "other scheme", in: "ethereum:" + wallet, wantErr: solanapay.ErrScheme},
		{name: "short recipient", in: "solana:abc", wantErr: solanapay.ErrKey},
		{name: "exponent", in: "solana:" + wallet + "?amount=1e6", wantErr: solanapay.ErrAmount},
		{name: "negative", in: "solana:" + wallet + "?amount=-1", wantErr: solanapay.ErrAmount},
		{name: "two amounts", in: "solana:" + wallet + "?amount=1&amount=2", wantErr: solanapay.ErrDuplicate},
		{name: "bad mint", in: "solana:" + wallet + "?spl-token=" + wallet + "x", wantErr: solanapay.ErrKey},
		{name: "bad escape", in: "solana:" + wallet + "?memo=%zz", wantErr: solanapay.ErrEncoding},
		{name: "invalid UTF-8", in: "solana:" + wallet + "?memo=%ff", wantErr: solanapay.ErrEncoding},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := solanapay.Parse(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAmounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		units int64
		want  string
	}{{25_000_137, "25.000137"}, {25_000_000, "25"}, {1, "0.000001"}, {10, "0.00001"}, {1_500_000, "1.5"}, {0, "0"}} {
		got := solanapay.FormatAmount(invoice.NewUnits(tc.units), 6)
		if got != tc.want {
			t.Errorf("FormatAmount(%d) = %s, want %s", tc.units, got, tc.want)
		}
		u, err := solanapay.Request{Amount: got}.Units(6)
		if err != nil || u.Cmp(invoice.NewUnits(tc.units)) != 0 {
			t.Errorf("Units(%s) = %v, %v; want %d", got, u, err, tc.units)
		}
	}
	if _, err := (solanapay.Request{Amount: "0.0000001"}).Units(6); err == nil {
		t.Error("7 decimals of a 6-decimal token accepted")
	}
	if _, err := (solanapay.Request{}).Units(6); err == nil {
		t.Error("no amount accepted")
	}
}

// FuzzParse checks that whatever Parse accepts, Encode writes back and
// Parse reads again to the same request (and the same URL).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"solana:" + wallet + "?amount=1&label=Michael&message=Thanks%20for%20all%20the%20fish&memo=OrderId12345",
		"solana:" + wallet + "?amount=0.01&spl-token=" + usdc,
		"solana:" + wallet + "?amount=007.2500&spl-token=" + usdc + "&reference=" + ref1 + "&reference=" + ref2 + "&label=a+b&memo=%C3%A9",
		"SOLANA:" + wallet + "?x=y&&message=%26%3D%2B#frag",
		"solana:https://example.com/pay",
		"solana:" + wallet + "?amount=1e6",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := solanapay.Parse(s)
		if err != nil {
			return
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, which does not encode: %v", s, r, err)
		}
		back, err := solanapay.Parse(enc)
		if err != nil {
			t.Fatalf("Encode wrote %q, which does not parse: %v", enc, err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", s, back, r)
		}
		if again, _ := back.Encode(); again != enc {
			t.Fatalf("encoding not stable: %q then %q", enc, again)
		}
	})
}
