package fiat

import (
	"errors"
	"testing"
	"time"
)

func TestParseAmountIDR(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		want int64
	}{
		{"Kamu berhasil menerima Rp25.042 dari JOHN DOE", 25042},          // GoPay
		{"Kamu menerima Rp 25.042 dari JOHN DOE via QRIS.", 25042},        // DANA
		{"Pembayaran QRIS sebesar Rp25.042 telah diterima", 25042},        // ShopeePay
		{"Dana masuk Rp 25.042,00 dari JOHN DOE ke rekening 1234", 25042}, // BCA
		{"Transfer masuk IDR 25,042.00 from JOHN DOE", 25042},             // English locale
		{"Anda menerima transfer Rp1.500.000 dari BUDI", 1500000},         // OVO
		{"Terima uang Rp.50.000,- dari SITI", 50000},                      // ",-" suffix
		{"RP 5000 masuk", 5000},                                           // no separators
		{"Rp\u00a07.500 diterima", 7500},                                  // no-break space
		{"Saldo masuk: IDR:1.000.000,00. Saldo Rp 2.000.000", 1000000},    // money in, then the balance
		{"Saldo Rp1.000.000. Kamu menerima Rp25.042 dari JANE", 25042},    // a balance quoted first
		{"Kamu menerima Rp25.042 dari JANE. Sisa saldo Rp 1.025.042", 25042},
		{"Pembayaran Rp25.042 diterima, biaya admin Rp1.000", 25042},        // a fee beside it
		{"Rp 10.000 masuk dari BUDI", 10000},                                // the word after the amount
		{"Promo Rp5.000 hari ini. Kamu menerima Rp25.042 dari JANE", 25042}, // the credit over an amount merely named
		{"Kamu menerima Rp25.042 (Rp25.042 dari JANE)", 25042},              // the same amount twice
		{"Kamu menerima Rp 1e5 dari JOHN", -1},                              // a number that runs into letters
		{"Kamu menerima Rp25.001 dan Rp25.002", -1},                         // two credits: which?
		{"Rp25.001 dan Rp25.002 dari JOHN", -1},                             // two amounts, neither said
		{"Saldo kamu Rp 1.000.000", -1},                                     // only a balance
		{"Kamu menerima Rp25.042,5 dari X", -1},                             // fractional rupiah
		{"Rp 25.04.2", -1},                                                  // bad groups
		{"Rp 1.2345", -1},                                                   // four-digit group... with 4 decimals
		{"Rp25.042,00.00", -1},                                              // mixed separators twice
		{"Kamu menerima uang dari JOHN DOE", -1},                            // no amount
		{"Total 25.042 diterima", -1},                                       // no currency marker
		{"GRP 25.000", -1},                                                  // marker inside a word
		{"Rp 99.999.999.999.999.999", -1},                                   // too many digits
	} {
		got, err := ParseAmountIDR(tc.text)
		if tc.want < 0 {
			if !errors.Is(err, ErrNoAmount) {
				t.Errorf("ParseAmountIDR(%q) = %d, %v; want ErrNoAmount", tc.text, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAmountIDR(%q) = %d, %v; want %d", tc.text, got, err, tc.want)
		}
	}
}

func TestParseForwarded(t *testing.T) {
	t.Parallel()
	body := []byte(`{"app":"com.gojek.gopay","title":"Pembayaran diterima","message":"Kamu berhasil menerima Rp25.042 dari JOHN DOE","timestamp":1735689600123,"device_id":"dev-1","notif_id":"42","event_hash":"9f8e7d"}`)
	f, err := ParseForwarded(body)
	if err != nil {
		t.Fatal(err)
	}
	if f.IsTest() || f.ID() != "9f8e7d" || f.App != "com.gojek.gopay" || f.DeviceID != "dev-1" {
		t.Errorf("forwarded = %+v", f)
	}
	if want := time.UnixMilli(1735689600123).UTC(); !f.Timestamp.Equal(want) {
		t.Errorf("timestamp = %v, want %v", f.Timestamp, want)
	}
	if v, err := f.Amount(); err != nil || v != 25042 {
		t.Errorf("Amount() = %d, %v", v, err)
	}
	// Amount in the title only.
	f2, _ := ParseForwarded([]byte(`{"title":"Rp 10.000 masuk","message":"dari BUDI","event_hash":"h2","timestamp":"2025-01-01T00:00:00Z"}`))
	if v, err := f2.Amount(); err != nil || v != 10000 {
		t.Errorf("title amount = %d, %v", v, err)
	}
	test, err := ParseForwarded([]byte(`{"app":"forwarder","event_hash":"test","timestamp":"1735689600"}`))
	if err != nil || !test.IsTest() || test.Timestamp.Unix() != 1735689600 {
		t.Errorf("connection test = %+v, %v", test, err)
	}
	for name, b := range map[string]string{
		"not JSON":      `{`,
		"no event_hash": `{"message":"Rp 1.000"}`,
		"no message":    `{"event_hash":"h"}`,
		"bad timestamp": `{"message":"Rp 1.000","event_hash":"h","timestamp":"yesterday"}`,
	} {
		if _, err := ParseForwarded([]byte(b)); err == nil {
			t.Errorf("%s: ParseForwarded accepted %s", name, b)
		}
	}
}

func TestParseQRISCallback(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]int64{
		`{"amount":25042,"sender_name":"JOHN DOE","reference":"QR123"}`:      25042,
		`{"amount":"25042","sender_name":"JOHN DOE","reference":"QR123"}`:    25042,
		`{"amount":"25.042","sender_name":"JOHN DOE","reference":"QR123"}`:   25042,
		`{"amount":"25042.00","sender_name":"JOHN DOE","reference":"QR123"}`: 25042,
	} {
		c, err := ParseQRISCallback([]byte(body))
		if err != nil || int64(c.Amount) != want || c.SenderName != "JOHN DOE" || c.Reference != "QR123" {
			t.Errorf("ParseQRISCallback(%s) = %+v, %v", body, c, err)
		}
	}
	// The reference is optional, as the aggregators document it.
	if c, err := ParseQRISCallback([]byte(`{"amount":1000,"sender_name":"ANA"}`)); err != nil || c.Amount != 1000 || c.Reference != "" {
		t.Errorf("callback without reference = %+v, %v", c, err)
	}
	for _, body := range []string{
		`{"amount":25042.5,"reference":"R"}`,
		`{"amount":-1,"reference":"R"}`,
		`{"amount":0,"reference":"R"}`,
		`{"amount":1e3,"reference":"R"}`,
		`{"amount":true,"reference":"R"}`,
		`{"reference":"R"}`,
	} {
		if c, err := ParseQRISCallback([]byte(body)); err == nil {
			t.Errorf("ParseQRISCallback(%s) = %+v, want an error", body, c)
		}
	}
}
