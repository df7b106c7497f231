package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/settlepay/settle/chains"
)

// genesisNode answers getGenesisHash with hash, as a Solana RPC node.
func genesisNode(t *testing.T, hash string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		if req.Method != "getGenesisHash" {
			t.Errorf("unexpected %s", body)
		}
		json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": hash})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSolanaNetworkConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SETTLE_RPC_SOLANA_DEVNET":           "https://devnet.example/rpc",
		"SETTLE_WS_SOLANA_DEVNET":            "wss://devnet.example/ws",
		"SETTLE_CONFIRMATIONS_SOLANA_DEVNET": "confirmed",
	}
	m := &Main{Getenv: func(k string) string { return env[k] }}
	eps, err := m.networkEndpoints("")
	if err != nil {
		t.Fatal(err)
	}
	if e := eps["solana_devnet"]; e.HTTP != env["SETTLE_RPC_SOLANA_DEVNET"] || e.WS != env["SETTLE_WS_SOLANA_DEVNET"] || e.Commitment != "confirmed" {
		t.Errorf("endpoint %+v", e)
	}

	env["SETTLE_CONFIRMATIONS_SOLANA_DEVNET"] = "32"
	if _, err := m.networkEndpoints(""); err == nil || !strings.Contains(err.Error(), "SETTLE_CONFIRMATIONS_SOLANA_DEVNET") {
		t.Errorf("a depth for Solana: %v", err)
	}

	file := filepath.Join(t.TempDir(), "settle.json")
	os.WriteFile(file, []byte(`{"networks": {"solana": {"rpc": "https://mainnet.example/rpc", "confirmations": "finalized"}}}`), 0o600)
	m = &Main{Getenv: func(string) string { return "" }}
	eps, err = m.networkEndpoints(file)
	if err != nil || eps["solana"].HTTP != "https://mainnet.example/rpc" || eps["solana"].Commitment != "finalized" {
		t.Errorf("config file: %+v, %v", eps, err)
	}
}

// TestSolanaClusterChecked refuses a network whose RPC is another cluster
// and keeps the one that is the cluster it claims.
func TestSolanaClusterChecked(t *testing.T) {
	t.Parallel()
	cat, err := chains.NewCatalogue(map[string]chains.Endpoint{
		"solana_devnet": {HTTP: genesisNode(t, "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d")}, // mainnet's
		"solana":        {HTTP: genesisNode(t, "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d")},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkChains(t.Context(), cat, slog.New(slog.DiscardHandler))
	if cat.Offered("solana_devnet") || !cat.Offered("solana") {
		t.Errorf("offered: devnet %v (want false), mainnet %v (want true)", cat.Offered("solana_devnet"), cat.Offered("solana"))
	}
}
