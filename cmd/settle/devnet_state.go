package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// devnetState is what `settle devnet` leaves in its data directory for
// `settle pay`, `settle reconcile --network devnet` and the next run.
type devnetState struct {
	APIKey      string    `json:"api_key"`
	MerchantID  string    `json:"merchant_id"`
	APIURL      string    `json:"api_url"`
	RPCURL      string    `json:"rpc_url"`
	WSURL       string    `json:"ws_rpc_url"`
	Token       string    `json:"token"`
	Webhook     string    `json:"webhook_endpoint_id"`
	Shop        string    `json:"receiving_address"`
	DatabaseURL string    `json:"database_url"`
	StartedAt   time.Time `json:"started_at"` // the chain's start: it is new every run
}

func defaultDataDir() string { return filepath.Join(os.TempDir(), "settle-devnet") }

func readDevnetState(dir string) (devnetState, error) {
	var st devnetState
	raw, err := os.ReadFile(filepath.Join(dir, "devnet.json"))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(raw, &st)
}
