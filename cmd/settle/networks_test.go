package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestProvidersConfig reads several RPC providers per network, from a
// comma-separated SETTLE_RPC_* and from a config file's list, with the
// quorum setting; Solana takes one.
func TestProvidersConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SETTLE_RPC_BASE":    "https://a.example/KEY, https://b.example/rpc,https://c.example",
		"SETTLE_QUORUM_BASE": "true",
	}
	m := &Main{Getenv: func(k string) string { return env[k] }}
	eps, err := m.networkEndpoints("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://a.example/KEY", "https://b.example/rpc", "https://c.example"}
	if e := eps["base"]; e.HTTP != want[0] || !slices.Equal(e.Providers, want) || !e.Quorum {
		t.Errorf("endpoint %+v", e)
	}
	for v, msg := range map[string]string{
		"https://a.example,https://a.example": "listed twice",
		"https://a.example,ftp://b.example":   "want a http(s) URL",
		" , ":                                 "want a http(s) URL",
	} {
		env["SETTLE_RPC_BASE"] = v
		if _, err := m.networkEndpoints(""); err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "SETTLE_RPC_BASE") {
			t.Errorf("SETTLE_RPC_BASE=%q: %v, want %q", v, err, msg)
		}
	}
	env = map[string]string{"SETTLE_RPC_SOLANA": "https://a.example,https://b.example"}
	if _, err := m.networkEndpoints(""); err == nil || !strings.Contains(err.Error(), "EVM networks only") {
		t.Errorf("two Solana providers: %v", err)
	}
	env = map[string]string{"SETTLE_RPC_BASE": "https://a.example", "SETTLE_QUORUM_BASE": "yes"}
	if _, err := m.networkEndpoints(""); err == nil || !strings.Contains(err.Error(), "want true or false") {
		t.Errorf("SETTLE_QUORUM_BASE=yes: %v", err)
	}

	file := filepath.Join(t.TempDir(), "settle.json")
	os.WriteFile(file, []byte(`{"networks": {"polygon": {"rpc": ["https://p1.example", "https://p2.example"], "quorum": true}, "base": {"rpc": "https://one.example"}}}`), 0o600)
	m = &Main{Getenv: func(string) string { return "" }}
	eps, err = m.networkEndpoints(file)
	if err != nil || !slices.Equal(eps["polygon"].Providers, []string{"https://p1.example", "https://p2.example"}) || !eps["polygon"].Quorum ||
		eps["base"].HTTP != "https://one.example" || len(eps["base"].Providers) != 1 {
		t.Errorf("config file: %+v, %v", eps, err)
	}
	os.WriteFile(file, []byte(`{"networks": {"polygon": {"rpc": 7}}}`), 0o600)
	if _, err := m.networkEndpoints(file); err == nil || !strings.Contains(err.Error(), "want a URL or a list of URLs") {
		t.Errorf("rpc 7: %v", err)
	}
}
