package main

import (
	"io"
	"os"
	"strings"
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

// TestREADMEConfigurationTable: every setting of `settle serve` has its row
// in the README's configuration table, with its variable, flag and default.
func TestREADMEConfigurationTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		row := "| `" + s.env + "` | `--" + s.flag + "` | "
		i := strings.Index(string(readme), row)
		if i < 0 {
			t.Errorf("README has no configuration row for %s (--%s)", s.env, s.flag)
			continue
		}
		if s.def != "" && s.env != "SETTLE_DATABASE_URL" && !strings.HasPrefix(string(readme[i+len(row):]), "`"+s.def+"`") {
			t.Errorf("README's row of %s does not give the default %q", s.env, s.def)
		}
	}
}
