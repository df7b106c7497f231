package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/settlepay/settle/chains/devchain"
)

// rescanRun runs `settle rescan` and returns stdout.
func rescanRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	err := m.Run(context.Background(), append([]string{"rescan"}, args...))
	if err != nil {
		t.Logf("settle rescan: %v\n%s", err, errOut.String())
	}
	return out.String(), err
}

// TestRescanDevnet misses a payment for real on a running `settle devnet`:
// a transfer to an address that becomes a merchant's receiving address
// only after the watcher has read its block. `settle reconcile` reports it
// not recorded and names the rescan that records it; `settle rescan`
// records it through the ledger (kept as the merchant's unmatched
// payment, no invoice expecting it), a second rescan adds nothing, and
// reconcile then finds the store and the chain in agreement.
func TestRescanDevnet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dn := startDevnet(t, dir)
	api := dn["api_url"]
	dbURL := "sqlite://" + filepath.Join(dir, "settle.db")
	client, err := ethclient.Dial(dn["rpc_url"])
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	// The transfer, to nobody settle knows yet.
	shop := common.HexToAddress("0x00000000000000000000000000000000c0ffee01")
	tx, err := devchain.TransferWith(t.Context(), client, devchain.WalletKey(), devchain.TokenAddress, shop, big.NewInt(3_210_000), devchain.TxOpts{})
	if err != nil {
		t.Fatal(err)
	}
	var block int64
	read := func() bool {
		r, err := client.TransactionReceipt(t.Context(), tx)
		if err != nil {
			return false
		}
		block = r.BlockNumber.Int64()
		status, ready := e2eDo(t, "GET", api+"/readyz", "", "")
		nets, _ := ready["networks"].(map[string]any)
		dev, _ := nets["devnet"].(map[string]any)
		scanned, _ := dev["scanned"].(float64)
		return status == 200 && int64(scanned) > block
	}
	for deadline := time.Now().Add(20 * time.Second); !read(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the transfer was not mined and read by the watcher within 20 s")
		}
	}

	// Then the address becomes a merchant's.
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	if err := m.Run(t.Context(), []string{"merchants", "create", "--database-url", dbURL, "--name", "Late shop"}); err != nil {
		t.Fatalf("merchants create: %v\n%s", err, out.String())
	}
	var merchant struct {
		Key string `json:"test_api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &merchant); err != nil {
		t.Fatal(err)
	}
	if status, v := e2eDo(t, "POST", api+"/api/v1/receiving-accounts", merchant.Key, `{"network":"devnet","address":"`+shop.Hex()+`"}`); status != 201 {
		t.Fatalf("receiving account: %d %v", status, v)
	}
	unmatched := func() []any {
		status, v := e2eDo(t, "GET", api+"/api/v1/unmatched-payments", merchant.Key, "")
		if status != 200 {
			t.Fatalf("unmatched payments: %d %v", status, v)
		}
		return v["data"].([]any)
	}
	if got := unmatched(); len(got) != 0 {
		t.Fatalf("before the rescan the merchant has unmatched payments %v", got)
	}

	rep, err := reconcileRun(t, nil, "--network", "devnet", "--data-dir", dir)
	if !errors.Is(err, errFailed) || len(discrepancyLines(rep)) != 1 || !strings.Contains(rep, "not_recorded") || !strings.Contains(rep, tx.Hex()) {
		t.Fatalf("reconcile before the rescan (%v):\n%s", err, rep)
	}
	if !strings.Contains(rep, "settle rescan --network devnet --from-block ") {
		t.Errorf("reconcile does not name the rescan:\n%s", rep)
	}

	res, err := rescanRun(t, "--network", "devnet", "--data-dir", dir, "--from-block", "0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r rescanResult
	if err := json.Unmarshal([]byte(res), &r); err != nil {
		t.Fatalf("rescan --json printed %q: %v", res, err)
	}
	if len(r.Added) != 1 || r.Added[0].TxID != tx.Hex() || r.Added[0].UnmatchedID == "" || r.Added[0].Block != block ||
		r.Added[0].AmountUnits != "3210000" || r.Added[0].Amount != "3.210000" || len(r.Other) != 0 || r.ToBlock < block {
		t.Fatalf("rescan: %+v", r)
	}
	got := unmatched()
	if len(got) != 1 || got[0].(map[string]any)["tx_id"] != tx.Hex() || got[0].(map[string]any)["amount"] != "3.210000" {
		t.Fatalf("after the rescan the merchant's unmatched payments are %v", got)
	}

	text, err := rescanRun(t, "--network", "devnet", "--data-dir", dir, "--from-block", "0")
	if err != nil || !strings.Contains(text, "nothing added") {
		t.Fatalf("second rescan (%v):\n%s", err, text)
	}
	if got := unmatched(); len(got) != 1 {
		t.Fatalf("after the second rescan: %v", got)
	}
	if rep, err := reconcileRun(t, nil, "--network", "devnet", "--data-dir", dir); err != nil || len(discrepancyLines(rep)) != 0 {
		t.Fatalf("reconcile after the rescan (%v):\n%s", err, rep)
	}
}

// TestRescanFlags refuses what cannot be rescanned, before any RPC call.
func TestRescanFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-block", "1"}, "--network is required"},
		{[]string{"--network", "nowhere", "--from-block", "1"}, "unknown network"},
		{[]string{"--network", "solana", "--from-block", "1"}, "rescan reads EVM networks"},
		{[]string{"--network", "base"}, "--from-block N or as --from TIME"},
		{[]string{"--network", "base", "--from-block", "1", "--from", "2026-12-01"}, "one of them"},
		{[]string{"--network", "base", "--from-block", "x"}, "want a block number"},
		{[]string{"--network", "base", "--from-block", "9", "--to-block", "3"}, "before --from-block"},
		{[]string{"--network", "base", "--from", "2026-12-02", "--to", "2026-12-01"}, "must be after"},
		{[]string{"--network", "base", "--from-block", "1", "--to-block", "2", "--to", "2026-12-01"}, "not both"},
		{[]string{"--network", "base", "--from-block", "1"}, "no RPC configured for base"},
	} {
		var out, errOut bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		err := m.Run(context.Background(), append([]string{"rescan"}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
		if out.Len() > 0 {
			t.Errorf("%v: printed %q", tc.args, out.String())
		}
	}
}
