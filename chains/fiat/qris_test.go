package fiat

import (
	"errors"
	"strings"
	"testing"
)

// staticQRIS is a real static QRIS payload from testdata/emvco/valid.txt,
// with a terminal label in template 62.
const staticQRIS = "00020101021126670016COM.NOBUBANK.WWW01189360050300000879140214703239147837910303UMI51440014ID.CO.QRIS.WWW0215ID20232709941630303UMI5204481253033605802ID5923GRANOOL STORE OK12295776006KEDIRI61056421262070703A0163047127"

func TestDynamic(t *testing.T) {
	t.Parallel()
	ref := NewReference()
	out, err := Dynamic(staticQRIS, "25042", ref)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseEMVCo(out) // checks the recomputed CRC
	if err != nil {
		t.Fatalf("dynamic payload does not parse: %v\n%s", err, out)
	}
	want := map[string]string{idInitiation: "12", idAmount: "25042", idCurrency: "360", idCountry: "ID", idName: "GRANOOL STORE OK1229577"}
	for id, v := range want {
		if got, _ := p.Get(id); got != v {
			t.Errorf("ID %s = %q, want %q", id, got, v)
		}
	}
	add, err := p.Template(idAdditional)
	if err != nil {
		t.Fatal(err)
	}
	if len(add) != 2 || add[0] != (Field{"01", ref}) || add[1] != (Field{"07", "A01"}) {
		t.Errorf("template 62 = %v, want bill number %s then terminal label A01", add, ref)
	}
	// Merchant account templates are kept byte for byte, in order.
	static, _ := ParseEMVCo(staticQRIS)
	for _, id := range []string{"26", "51", "52", "60", "61"} {
		a, _ := static.Get(id)
		b, _ := p.Get(id)
		if a != b {
			t.Errorf("ID %s changed: %q → %q", id, a, b)
		}
	}
	if !strings.HasPrefix(out, "000201010212") || !strings.Contains(out, "5303360540525042") {
		t.Errorf("amount not placed after currency: %s", out)
	}
	// Building again from the dynamic payload replaces, never duplicates.
	again, err := Dynamic(out, "777", "BILL-2")
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := ParseEMVCo(again)
	if v, _ := p2.Get(idAmount); v != "777" {
		t.Errorf("amount = %q after rebuild", v)
	}
}

func TestDynamicDropsTip(t *testing.T) {
	t.Parallel()
	static := qrisOf(t, "55", "01")
	out, err := Dynamic(static, "1000", "B1")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParseEMVCo(out)
	if _, ok := p.Get(idTip); ok {
		t.Errorf("tip indicator kept: %s", out)
	}
	if v, _ := p.Template(idAdditional); len(v) != 1 || v[0] != (Field{"01", "B1"}) {
		t.Errorf("template 62 = %v", v)
	}
}

func TestDynamicRefuses(t *testing.T) {
	t.Parallel()
	pix := samples(t, "testdata/emvco/valid.txt")[2] // Brazilian: currency 986, country BR
	for name, tc := range map[string]struct{ static, amount, bill, want string }{
		"bad CRC":          {staticQRIS[:len(staticQRIS)-1] + "8", "1000", "B", "CRC"},
		"not IDR":          {pix, "1000", "B", "360"},
		"no merchant name": {qrisOf(t, "59", ""), "1000", "B", "ID 59"},
		"no account":       {qrisOf(t, "26", ""), "1000", "B", "26–51"},
		"wrong country":    {qrisOf(t, "58", "SG"), "1000", "B", "ID 58"},
		"bad MCC":          {qrisOf(t, "52", "58A2"), "1000", "B", "ID 52"},
		"bad initiation":   {qrisOf(t, "01", "13"), "1000", "B", "ID 01"},
		"decimal amount":   {staticQRIS, "1000.50", "B", "amount"},
		"zero amount":      {staticQRIS, "0", "B", "amount"},
		"leading zero":     {staticQRIS, "0100", "B", "amount"},
		"amount too long":  {staticQRIS, "12345678901234", "B", "amount"},
		"empty bill":       {staticQRIS, "1000", "", "bill"},
		"long bill":        {staticQRIS, "1000", strings.Repeat("B", 26), "bill"},
	} {
		_, err := Dynamic(tc.static, tc.amount, tc.bill)
		if !errors.Is(err, ErrQRIS) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want ErrQRIS mentioning %q", name, err, tc.want)
		}
	}
}

func TestUniqueCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		amount int64
		open   []int64
		max    int64
		want   int64
		err    bool
	}{
		{"none open", 25000, nil, 999, 1, false},
		{"skips taken totals", 25000, []int64{25001, 25002, 25004}, 999, 3, false},
		{"other amounts do not matter", 25000, []int64{30001}, 999, 1, false},
		{"all taken", 100, []int64{101, 102, 103}, 3, 0, true},
	} {
		got, err := UniqueCode(tc.amount, tc.open, tc.max)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: UniqueCode = %d, %v; want %d (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestNewQRISInstruction(t *testing.T) {
	t.Parallel()
	in, err := NewQRISInstruction(staticQRIS, 25000, "ST-BILL", []int64{25001, 25002}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if in.UniqueCode != 3 || in.TotalAmount != 25003 {
		t.Fatalf("instruction = %+v, want code 3, total 25003", in)
	}
	p, err := ParseEMVCo(in.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Get(idAmount); v != "25003" {
		t.Errorf("payload amount = %q, want the total", v)
	}
	// The notification of the payment reads back the same total.
	got, err := ParseAmountIDR("Kamu berhasil menerima Rp25.003 dari JOHN DOE")
	if err != nil || got != in.TotalAmount {
		t.Errorf("ParseAmountIDR = %d, %v; want %d", got, err, in.TotalAmount)
	}
	for _, amount := range []int64{0, -5, maxIDRAmount} {
		if _, err := NewQRISInstruction(staticQRIS, amount, "B", nil, 0); !errors.Is(err, ErrQRIS) {
			t.Errorf("amount %d: error = %v, want ErrQRIS", amount, err)
		}
	}
}

// qrisOf builds a minimal static QRIS payload with field id set to value
// (or removed when value is empty).
func qrisOf(t *testing.T, id, value string) string {
	t.Helper()
	p := Payload{{"00", "01"}, {"01", "11"}, {"26", "0014ID.CO.QRIS.WWW0108123456780303UMI"},
		{"52", "5812"}, {"53", "360"}, {"58", "ID"}, {"59", "TOKO"}, {"60", "JAKARTA"}}
	s, err := p.set(id, value).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDynamicWithTip: for an invoice that allows a tip, the merchant's tip
// indicator and its value stay in the dynamic payload (the wallet offers
// the tip); the amount, bill number and CRC are set as usual.
func TestDynamicWithTip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id, indicator, valueID, value, want string
	}{
		{"55", "01", "", "", "prompt"},
		{"55", "02", idTipFixed, "2000", "fixed"},
		{"55", "03", idTipPercent, "10", "percent"},
	} {
		static := qrisOf(t, tc.id, tc.indicator)
		if tc.valueID != "" {
			p, _ := ParseEMVCo(static)
			s, err := p.set(tc.valueID, tc.value).Encode()
			if err != nil {
				t.Fatal(err)
			}
			static = s
		}
		out, err := DynamicWithTip(static, "25001", "B1")
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseEMVCo(out)
		if err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if v, _ := p.Get(idTip); v != tc.indicator {
			t.Errorf("%s: ID 55 = %q", tc.want, v)
		}
		if tc.valueID != "" {
			if v, _ := p.Get(tc.valueID); v != tc.value {
				t.Errorf("%s: ID %s = %q", tc.want, tc.valueID, v)
			}
		}
		if v, _ := p.Get(idAmount); v != "25001" {
			t.Errorf("%s: amount %q", tc.want, v)
		}
		if got := WalletTip(out); got != tc.want {
			t.Errorf("WalletTip = %q, want %q", got, tc.want)
		}
		stripped, _ := Dynamic(static, "25001", "B1")
		if WalletTip(stripped) != "" {
			t.Errorf("%s: Dynamic kept the tip indicator", tc.want)
		}
	}
	if got := WalletTip(staticQRIS); got != "" {
		t.Errorf("a payload without ID 55: WalletTip %q", got)
	}
}
