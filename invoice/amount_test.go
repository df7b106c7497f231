package invoice_test

import (
	"database/sql/driver"
	"math/big"
	"strings"
	"testing"

	"github.com/settlepay/settle/invoice"
)

func TestParseAmount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		decimals int
		want     string // base units; "" when refused
		wantErr  string // part of the error
	}{
		{in: "25.00", decimals: 2, want: "2500"},
		{in: "25", decimals: 2, want: "2500"},
		{in: "25.5", decimals: 2, want: "2550"},
		{in: "0.01", decimals: 2, want: "1"},
		{in: "0.5", decimals: 2, want: "50"},
		{in: "1000", decimals: 0, want: "1000"},
		{in: "24.999999", decimals: 6, want: "24999999"},
		{in: "007.50", decimals: 2, want: "750"},
		{in: "1000000000000", decimals: 2, want: "100000000000000"},
		{in: "1000000000000.00", decimals: 2, want: "100000000000000"},
		{in: "000001000000000000", decimals: 0, want: "1000000000000"},

		{in: "", decimals: 2, wantErr: "required"},
		{in: "-1", decimals: 2, wantErr: "positive"},
		{in: "-0.01", decimals: 2, wantErr: "positive"},
		{in: "0", decimals: 2, wantErr: "greater than zero"},
		{in: "0.00", decimals: 2, wantErr: "greater than zero"},
		{in: "000", decimals: 0, wantErr: "greater than zero"},
		{in: "1e3", decimals: 2, wantErr: "plain decimal"},
		{in: "1E3", decimals: 2, wantErr: "plain decimal"},
		{in: "2.5e-1", decimals: 2, wantErr: "plain decimal"},
		{in: "+1", decimals: 2, wantErr: "plain decimal"},
		{in: " 1", decimals: 2, wantErr: "plain decimal"},
		{in: "1 ", decimals: 2, wantErr: "plain decimal"},
		{in: "1.", decimals: 2, wantErr: "plain decimal"},
		{in: ".5", decimals: 2, wantErr: "plain decimal"},
		{in: ".", decimals: 2, wantErr: "plain decimal"},
		{in: "1,000", decimals: 2, wantErr: "plain decimal"},
		{in: "1_000", decimals: 2, wantErr: "plain decimal"},
		{in: "1.000.00", decimals: 2, wantErr: "plain decimal"},
		{in: "0x10", decimals: 2, wantErr: "plain decimal"},
		{in: "NaN", decimals: 2, wantErr: "plain decimal"},
		{in: "Infinity", decimals: 2, wantErr: "plain decimal"},
		{in: "１", decimals: 2, wantErr: "plain decimal"}, // full-width digit
		{in: "25.001", decimals: 2, wantErr: "at most 2 decimals"},
		{in: "25.000", decimals: 2, wantErr: "at most 2 decimals"},
		{in: "1.5", decimals: 0, wantErr: "at most 0 decimals"},
		{in: "1.0000001", decimals: 6, wantErr: "at most 6 decimals"},
		{in: "1000000000000.01", decimals: 2, wantErr: "at most 1000000000000"},
		{in: "1000000000001", decimals: 2, wantErr: "at most 1000000000000"},
		{in: "99999999999999999999999999999999", decimals: 2, wantErr: "at most 1000000000000"},
		{in: strings.Repeat("9", 100_000), decimals: 2, wantErr: "at most 1000000000000"},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := invoice.ParseAmount(tc.in, tc.decimals)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseAmount(%q, %d) = %s, %v; want error containing %q", tc.in, tc.decimals, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("ParseAmount(%q, %d) = %s, %v; want %s", tc.in, tc.decimals, got, err, tc.want)
			}
		})
	}
}

func TestUnitsFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		units    int64
		decimals int
		want     string
	}{
		{0, 2, "0.00"},
		{1, 2, "0.01"},
		{10, 2, "0.10"},
		{99, 2, "0.99"},
		{100, 2, "1.00"},
		{2500, 2, "25.00"},
		{-5, 2, "-0.05"},
		{-2500, 2, "-25.00"},
		{24999999, 6, "24.999999"},
		{1, 6, "0.000001"},
		{1000, 0, "1000"},
		{0, 0, "0"},
		{-7, 0, "-7"},
	}
	for _, tc := range tests {
		if got := invoice.NewUnits(tc.units).Format(tc.decimals); got != tc.want {
			t.Errorf("NewUnits(%d).Format(%d) = %q, want %q", tc.units, tc.decimals, got, tc.want)
		}
	}
	if got := (invoice.Units{}).Format(2); got != "0.00" {
		t.Errorf("zero Units formats as %q", got)
	}
	big18, _ := invoice.ParseUnits("123456789012345678901234567890")
	if got := big18.Format(18); got != "123456789012.345678901234567890" {
		t.Errorf("18 decimals: %q", got)
	}
}

func TestUnitsRescale(t *testing.T) {
	t.Parallel()
	tests := []struct {
		units    int64
		from, to int
		want     int64
	}{
		{24999999, 6, 2, 2499}, // 24.999999 USDC → 24.99 USD: toward zero, never up
		{25000000, 6, 2, 2500},
		{9999, 6, 2, 0},
		{2500, 2, 6, 25000000},
		{2500, 2, 2, 2500},
		{-24999999, 6, 2, -2499}, // toward zero for negatives too
		{5, 0, 18, 5_000_000_000_000_000_000},
	}
	for _, tc := range tests {
		got := invoice.NewUnits(tc.units).Rescale(tc.from, tc.to)
		if got.Cmp(invoice.NewUnits(tc.want)) != 0 {
			t.Errorf("Rescale(%d, %d→%d) = %s, want %d", tc.units, tc.from, tc.to, got, tc.want)
		}
	}
	// Beyond int64.
	got := invoice.NewUnits(1).Rescale(0, 30)
	want := new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil)
	if got.Big().Cmp(want) != 0 {
		t.Errorf("Rescale(1, 0→30) = %s", got)
	}
}

func TestUnitsArithmeticIsImmutable(t *testing.T) {
	t.Parallel()
	a := invoice.NewUnits(10)
	b := invoice.NewUnits(3)
	if got := a.Add(b); got.String() != "13" {
		t.Errorf("Add = %s", got)
	}
	if got := a.Sub(b); got.String() != "7" {
		t.Errorf("Sub = %s", got)
	}
	if got := b.Sub(a); got.Sign() != -1 || got.String() != "-7" {
		t.Errorf("Sub below zero = %s", got)
	}
	if a.String() != "10" || b.String() != "3" {
		t.Errorf("operands changed: %s, %s", a, b)
	}
	a.Big().SetInt64(99)
	if a.String() != "10" {
		t.Errorf("Big exposed the internal value: %s", a)
	}
	var zero invoice.Units
	if zero.Sign() != 0 || zero.String() != "0" || zero.Cmp(invoice.NewUnits(0)) != 0 || zero.Add(a).String() != "10" {
		t.Errorf("zero value is not 0")
	}
}

func TestUnitsScanValue(t *testing.T) {
	t.Parallel()
	huge := "123456789012345678901234567890123456789"
	for _, s := range []string{"0", "1", "2500", "-42", huge} {
		u, err := invoice.ParseUnits(s)
		if err != nil {
			t.Fatal(err)
		}
		v, err := u.Value()
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []any{v, []byte(v.(string))} {
			var back invoice.Units
			if err := back.Scan(src); err != nil {
				t.Fatalf("Scan(%T %v): %v", src, src, err)
			}
			if back.Cmp(u) != 0 {
				t.Errorf("round trip of %s through %T gave %s", s, src, back)
			}
		}
	}
	var u invoice.Units
	if err := u.Scan(int64(2500)); err != nil || u.String() != "2500" {
		t.Errorf("Scan(int64) = %s, %v", u, err)
	}
	for _, bad := range []any{"2.5e3", "", "abc", 1.5, nil} {
		var u invoice.Units
		if err := u.Scan(bad); err == nil {
			t.Errorf("Scan(%#v) accepted as %s", bad, u)
		}
	}
	var _ driver.Valuer = invoice.Units{}
	if v, _ := (invoice.Units{}).Value(); v != "0" {
		t.Errorf("zero Value = %v", v)
	}
}

func TestCurrencies(t *testing.T) {
	t.Parallel()
	for cur, want := range map[invoice.Currency]int{"USD": 2, "EUR": 2, "JPY": 0, "IDR": 0} {
		if d, ok := cur.Decimals(); !ok || d != want {
			t.Errorf("%s: %d, %v", cur, d, ok)
		}
	}
	for _, cur := range []invoice.Currency{"usd", "XXX", ""} {
		if _, ok := cur.Decimals(); ok {
			t.Errorf("%q supported", cur)
		}
	}
	list := invoice.Currencies()
	if len(list) < 4 || !strings.Contains(strings.Join(list, ","), "USD") {
		t.Errorf("Currencies() = %v", list)
	}
	for i := 1; i < len(list); i++ {
		if list[i-1] >= list[i] {
			t.Errorf("Currencies() not sorted: %v", list)
		}
	}
}

// FuzzParseAmount checks that ParseAmount never panics, that what it accepts
// is positive and at most MaxAmount, and that Format writes it back in a form
// that parses to the same units.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"25.00", "0.01", "1e3", "-1", "1000000000000", "007.50", ".5", "1.", "1,000"} {
		f.Add(s, uint8(2))
	}
	f.Add("24.999999", uint8(6))
	f.Add("1000", uint8(0))
	max := new(big.Int).SetInt64(invoice.MaxAmount)
	f.Fuzz(func(t *testing.T, s string, d uint8) {
		decimals := int(d % 19)
		u, err := invoice.ParseAmount(s, decimals)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if u.Sign() <= 0 {
			t.Fatalf("ParseAmount(%q) = %s, not positive", s, u)
		}
		limit := new(big.Int).Mul(max, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil))
		if u.Big().Cmp(limit) > 0 {
			t.Fatalf("ParseAmount(%q) = %s, above the maximum", s, u)
		}
		formatted := u.Format(decimals)
		back, err := invoice.ParseAmount(formatted, decimals)
		if err != nil {
			t.Fatalf("ParseAmount(%q) = %s formats as %q, which does not parse: %v", s, u, formatted, err)
		}
		if back.Cmp(u) != 0 {
			t.Fatalf("round trip %q → %s → %q → %s", s, u, formatted, back)
		}
		if again := back.Format(decimals); again != formatted {
			t.Fatalf("Format is not stable: %q then %q", formatted, again)
		}
	})
}
