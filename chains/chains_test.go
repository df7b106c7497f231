package chains_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

func TestCatalogueIsConsistent(t *testing.T) {
	t.Parallel()
	want := []string{"ethereum", "base", "polygon", "arbitrum", "sepolia", "base_sepolia", "polygon_amoy",
		"arbitrum_sepolia", "devnet", "solana", "solana_devnet", "fednow", "rtp", "ach", "push_to_card", "qris"}
	for _, id := range want {
		if _, ok := chains.NetworkByID(id); !ok {
			t.Errorf("network %s missing from the catalogue", id)
		}
	}
	seen := map[string]bool{}
	for _, m := range chains.Methods() {
		if seen[m.ID] {
			t.Errorf("method %s listed twice", m.ID)
		}
		seen[m.ID] = true
		n, ok := chains.NetworkByID(m.Network)
		if !ok {
			t.Errorf("method %s: unknown network %s", m.ID, m.Network)
			continue
		}
		if m.Mode != n.Mode {
			t.Errorf("method %s is %s mode on a %s network", m.ID, m.Mode, n.Mode)
		}
		if n.Kind == chains.KindRail && (m.Mode != "" || !m.InMode(invoice.ModeTest) || !m.InMode(invoice.ModeLive)) {
			t.Errorf("rail method %s is not of both modes", m.ID)
		}
		if m.ID != chains.Sandbox && n.Kind != chains.KindRail && m.ID != strings.ToLower(m.Asset)+"_"+m.Network {
			t.Errorf("method id %s is not <asset>_<network>", m.ID)
		}
	}
	for _, id := range []string{"usdc_base", "usdc_base_sepolia", "usdc_solana", "usdc_solana_devnet", "usdc_devnet", "sandbox",
		"fednow", "rtp", "ach_same_day", "push_to_card", "qris"} {
		if !seen[id] {
			t.Errorf("method %s missing", id)
		}
	}
}

func TestChoose(t *testing.T) {
	t.Parallel()
	endpoints := map[string]chains.Endpoint{}
	for _, n := range chains.Networks() {
		if n.ID != chains.Sandbox && n.Kind != chains.KindRail && n.ID != "polygon_amoy" && n.ID != "arbitrum" {
			endpoints[n.ID] = chains.Endpoint{HTTP: "http://127.0.0.1:1"}
		}
	}
	cat, err := chains.NewCatalogue(endpoints)
	if err != nil {
		t.Fatal(err)
	}
	cat.SetToken("devnet", "0x5FbDB2315678afecb367f032d93F642f64180aa3")
	bare, _ := chains.NewCatalogue(nil)
	tests := []struct {
		name      string
		mode      invoice.Mode
		currency  invoice.Currency
		requested []string
		want      []string // nil: check wantErr
		wantErr   string
		cat       *chains.Catalogue // default: every network but polygon_amoy and arbitrum
	}{
		{name: "test default has sandbox and testnets only", mode: invoice.ModeTest, currency: "USD",
			want: []string{"sandbox", "usdc_sepolia", "usdc_base_sepolia", "usdc_arbitrum_sepolia", "usdc_devnet", "usdc_solana_devnet",
				"fednow", "rtp", "ach_same_day", "push_to_card"}},
		{name: "live default has mainnets only", mode: invoice.ModeLive, currency: "USD",
			want: []string{"usdc_ethereum", "usdt_ethereum", "usdc_base", "usdc_polygon", "usdt_polygon", "usdc_solana",
				"fednow", "rtp", "ach_same_day", "push_to_card"}},
		{name: "without endpoints the sandbox and the rails", mode: invoice.ModeTest, currency: "USD", cat: bare,
			want: []string{"sandbox", "fednow", "rtp", "ach_same_day", "push_to_card"}},
		{name: "without endpoints live has the rails", mode: invoice.ModeLive, currency: "USD", cat: bare,
			want: []string{"fednow", "rtp", "ach_same_day", "push_to_card"}},
		{name: "rails need no endpoint in either mode", mode: invoice.ModeLive, currency: "USD", cat: bare,
			requested: []string{"fednow", "ach_same_day"}, want: []string{"fednow", "ach_same_day"}},
		{name: "requested rail in test mode gets the sandbox too", mode: invoice.ModeTest, currency: "USD", cat: bare,
			requested: []string{"rtp"}, want: []string{"sandbox", "rtp"}},
		{name: "qris settles IDR in live mode", mode: invoice.ModeLive, currency: "IDR", want: []string{"qris"}},
		{name: "qris cannot settle USD", mode: invoice.ModeTest, currency: "USD", requested: []string{"qris"}, wantErr: "cannot settle USD"},
		{name: "a USD rail cannot settle IDR", mode: invoice.ModeLive, currency: "IDR", requested: []string{"fednow"}, wantErr: "cannot settle IDR"},
		{name: "method of a network without endpoint", mode: invoice.ModeTest, currency: "USD", requested: []string{"usdc_polygon_amoy"}, wantErr: "has no RPC endpoint"},
		{name: "devnet without its endpoint", mode: invoice.ModeTest, currency: "USD", cat: bare, requested: []string{"usdc_devnet"}, wantErr: "not offered"},
		{name: "test EUR offers the sandbox", mode: invoice.ModeTest, currency: "EUR", want: []string{"sandbox"}},
		{name: "live EUR has no method", mode: invoice.ModeLive, currency: "EUR", wantErr: "no live payment method settles EUR"},
		{name: "requested test method gets the sandbox too", mode: invoice.ModeTest, currency: "USD",
			requested: []string{"usdc_base_sepolia"}, want: []string{"sandbox", "usdc_base_sepolia"}},
		{name: "live method on a test invoice", mode: invoice.ModeTest, currency: "USD", requested: []string{"usdc_base"}, wantErr: "is for live mode"},
		{name: "test method on a live invoice", mode: invoice.ModeLive, currency: "USD", requested: []string{"usdc_base_sepolia"}, wantErr: "is for test mode"},
		{name: "sandbox on a live invoice", mode: invoice.ModeLive, currency: "USD", requested: []string{"sandbox"}, wantErr: "is for test mode"},
		{name: "unknown method", mode: invoice.ModeTest, currency: "USD", requested: []string{"btc_lightning"}, wantErr: "unknown payment method"},
		{name: "stablecoin cannot settle JPY", mode: invoice.ModeTest, currency: "JPY", requested: []string{"usdc_sepolia"}, wantErr: "cannot settle JPY"},
		{name: "duplicate", mode: invoice.ModeTest, currency: "USD", requested: []string{"sandbox", "sandbox"}, wantErr: "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.cat
			if c == nil {
				c = cat
			}
			got, err := c.Choose(tc.mode, tc.currency, tc.requested)
			if tc.wantErr != "" {
				var v *invoice.ValidationError
				if !errors.As(err, &v) || !strings.Contains(err.Error(), tc.wantErr) || v.Fields[0].Code != "invalid_payment_method" {
					t.Fatalf("err = %v, want a payment_methods validation error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Choose = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
