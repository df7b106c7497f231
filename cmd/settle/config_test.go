package main

import (
	"io"
	"testing"
)

// TestWebhookAllowPrivateSetting: private webhook addresses are refused
// unless the operator opts in, by variable or flag (the flag wins).
func TestWebhookAllowPrivateSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  string
		args []string
		want bool
	}{
		{"", nil, false},
		{"true", nil, true},
		{"1", nil, true},
		{"", []string{"--webhook-allow-private"}, true},
		{"true", []string{"--webhook-allow-private=false"}, false},
	} {
		m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
			if k == "SETTLE_WEBHOOK_ALLOW_PRIVATE" {
				return tc.env
			}
			return ""
		}}
		var c Config
		fs := newFlagSet("serve", io.Discard)
		if err := m.flags(fs, &c); err != nil {
			t.Fatal(err)
		}
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := c.Webhooks.AllowPrivateAddresses; got != tc.want {
			t.Errorf("SETTLE_WEBHOOK_ALLOW_PRIVATE=%q %v: AllowPrivateAddresses %v, want %v", tc.env, tc.args, got, tc.want)
		}
	}
}
