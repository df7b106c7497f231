package fiat

import (
	"fmt"
	"strings"
	"testing"
)

// withTipTags returns staticQRIS with the EMVCo tip data objects tags (IDs
// 55–57, already encoded) before the country code, and its CRC recomputed.
func withTipTags(t *testing.T, tags string) string {
	t.Helper()
	at := strings.Index(staticQRIS, "5802ID")
	if at < 0 {
		t.Fatal("no country code in the static payload")
	}
	body := staticQRIS[:at] + tags + staticQRIS[at:len(staticQRIS)-4]
	out := body + fmt.Sprintf("%04X", CRC16([]byte(body)))
	if _, err := ValidateQRIS(out); err != nil {
		t.Fatalf("built payload: %v", err)
	}
	return out
}

// TestWalletTipFits reads the tip a wallet may add from real dynamic QRIS
// payloads (the static one with its tip tags kept by DynamicWithTip): any
// tip for a prompt (55 = 01), exactly the fixed fee of 56 (02), the
// percentage of 57 of the total rounded down or up (03); nothing for a
// payload without the tags or with a broken value.
func TestWalletTipFits(t *testing.T) {
	const total = 25042
	for _, tc := range []struct {
		name, tags string
		fits       []int64
		not        []int64
	}{
		{"prompt", "550201", []int64{1, 2000, 25042}, []int64{0, -5}},
		{"fixed", "55020256042000", []int64{2000}, []int64{1999, 2001, 1000}},
		{"fixed with decimals", "55020256072500.00", []int64{2500}, []int64{2499, 2501}},
		{"percent", "550203570210", []int64{2504, 2505}, []int64{2503, 2506, 2000}},
		{"percent with decimals", "55020357043.75", []int64{939, 940}, []int64{938, 941}}, // 25042 × 3.75 % = 939.075
		{"none", "", nil, []int64{1, 2000}},
		{"fixed without a value", "550202", nil, []int64{1, 2000}},
		{"percent not a number", "5502035703abc", nil, []int64{1, 2504}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			static := staticQRIS
			if tc.tags != "" {
				static = withTipTags(t, tc.tags)
			}
			dyn, err := DynamicWithTip(static, fmt.Sprint(total), "B1")
			if err != nil {
				t.Fatal(err)
			}
			for _, tip := range tc.fits {
				if !walletTipFits(dyn, total, tip) {
					t.Errorf("tip %d does not fit %s", tip, dyn)
				}
			}
			for _, tip := range tc.not {
				if walletTipFits(dyn, total, tip) {
					t.Errorf("tip %d fits %s", tip, dyn)
				}
			}
		})
	}
}
