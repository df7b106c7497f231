package fiat

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
)

func TestAccountParamsValidate(t *testing.T) {
	t.Parallel()
	bank := func(edit func(*AccountParams)) AccountParams {
		p := AccountParams{Rail: RailFedNow, BankName: "First Example Bank", AccountName: "Shop", AccountNumber: "000123456789", RoutingNumber: "021000021"}
		if edit != nil {
			edit(&p)
		}
		return p
	}
	for name, tc := range map[string]struct {
		p    AccountParams
		code string // "" means valid
	}{
		"fednow":              {bank(nil), ""},
		"ach trims spaces":    {bank(func(p *AccountParams) { p.Rail, p.AccountNumber = RailACH, " 1234 " }), ""},
		"bad check digit":     {bank(func(p *AccountParams) { p.RoutingNumber = "021000022" }), "invalid_routing_number"},
		"18-digit account":    {bank(func(p *AccountParams) { p.AccountNumber = strings.Repeat("1", 18) }), "invalid_account_number"},
		"no bank name":        {bank(func(p *AccountParams) { p.BankName = " " }), "invalid_bank_name"},
		"control in name":     {bank(func(p *AccountParams) { p.AccountName = "Sh\x01op" }), "invalid_account_name"},
		"processor on a bank": {bank(func(p *AccountParams) { p.ProcessorID = "x" }), "invalid_rail_account"},
		"qris":                {AccountParams{Rail: RailQRIS, QRISPayload: staticQRIS}, ""},
		"qris wrong currency": {AccountParams{Rail: RailQRIS, QRISPayload: qrisOf(t, "53", "840")}, "invalid_qris_payload"},
		"push":                {AccountParams{Rail: RailPushToCard, ProcessorID: "acq_1"}, ""},
		"push without id":     {AccountParams{Rail: RailPushToCard}, "invalid_processor_id"},
		"sandbox is no rail":  {AccountParams{Rail: "sandbox"}, "invalid_rail"},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := tc.p.validate()
			var v *invoice.ValidationError
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != "" && (!errors.As(err, &v) || v.Fields[0].Code != tc.code):
				t.Fatalf("err = %v, want code %s", err, tc.code)
			case tc.code == "" && a.Rail == RailQRIS && a.AccountName != "GRANOOL STORE OK1229577":
				t.Errorf("qris account name %q, want the payload's merchant name", a.AccountName)
			}
		})
	}
}

func TestIncomingIDs(t *testing.T) {
	t.Parallel()
	a := Account{ID: "rla_1", Rail: RailQRIS}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f, err := ParseForwarded([]byte(`{"app":"id.dana","message":"Kamu menerima Rp25.042","device_id":"d1","notif_id":"77","event_hash":"h"}`))
	if err != nil {
		t.Fatal(err)
	}
	in, err := FromForwarded(a, f, now)
	if err != nil || in.TxID != "rla_1:d1:77" || in.Amount != "25042" || in.Currency != "IDR" || !in.ObservedAt.Equal(now) {
		t.Errorf("FromForwarded = %+v, %v", in, err)
	}
	f.NotifID = ""
	if in, _ := FromForwarded(a, f, now); in.TxID != "rla_1:h" {
		t.Errorf("without notif_id: tx %q, want the event hash", in.TxID)
	}
	f.Message, f.Title = "Saldo bertambah", ""
	if _, err := FromForwarded(a, f, now); !errors.Is(err, ErrNoAmount) {
		t.Errorf("no amount: %v", err)
	}
	ref := NewReference()
	got := FromNACHA(achFile(ref), now)
	if len(got) != 2 || got[0].TxID != "250102:011000130000001" || got[0].Amount != "25.00" || got[1].Amount != "19.99" || got[0].From != "PAYOR CORP" {
		t.Fatalf("FromNACHA = %+v", got)
	}
	if r, ok := findReferenceIn(got[0].Texts...); !ok || r != ref {
		t.Errorf("reference in the addenda: %q, %v", r, ok)
	}
	push := FromPush(PushNotification{ID: "ptc_1", Amount: 150000, Currency: "JPY", Network: "visa", CardLast4: "4242", Reference: ref})
	if push.Amount != "150000" || push.From != "visa ****4242" {
		t.Errorf("FromPush = %+v", push)
	}
}
