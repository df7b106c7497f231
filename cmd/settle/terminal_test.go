package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/ethereum/go-ethereum/common"

	"github.com/settlepay/settle/chains/devchain"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// signTerminal returns cmd signed as a terminal signs its commands: ts and
// a fresh nonce added, sig = hex HMAC-SHA256 of "<ts>.<nonce>.<JCS>".
func signTerminal(t *testing.T, secret string, cmd map[string]any) []byte {
	t.Helper()
	ts := time.Now().Unix()
	n := make([]byte, 16)
	rand.Read(n)
	cmd["ts"], cmd["nonce"] = ts, hex.EncodeToString(n)
	raw, _ := json.Marshal(cmd)
	canonical, err := invoice.CanonicalCommand(raw)
	if err != nil {
		t.Fatal(err)
	}
	cmd["sig"] = hex.EncodeToString(invoice.SignCommand(secret, ts, cmd["nonce"].(string), canonical))
	out, _ := json.Marshal(cmd)
	return out
}

// terminalRead reads messages until one of type typ, within d.
func terminalRead(t *testing.T, conn *websocket.Conn, typ string, d time.Duration) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var seen []string
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s (seen %v): %v", typ, seen, err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if m["type"] == typ {
			return m
		}
		seen = append(seen, m["type"].(string))
	}
}

// TestTerminalDevnet is a sale at a terminal paid on a real chain: settle
// serve (two instances on Postgres) watching the devnet chain, a terminal
// created over the API, its WebSocket opened with its key, create_session,
// the customer opening the checkout (session_scanned on the socket), the
// customer's wallet sending the instruction's amount as an ERC-20
// transfer, and payment_confirmed on the terminal's socket; a command
// replayed to the other instance is refused.
func TestTerminalDevnet(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			chain, err := devchain.Start(devchain.Config{RPCAddr: "127.0.0.1:0", BlockTime: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer chain.Close()
			cfg := filepath.Join(t.TempDir(), "settle.json")
			os.WriteFile(cfg, []byte(`{"networks":{"devnet":{"rpc":"`+chain.HTTPURL()+`","ws":"`+chain.WSURL()+`","confirmations":2}}}`), 0o600)
			env := map[string]string{"SETTLE_CONFIG": cfg}
			db := storetest.Open(t, dialect)
			mer := e2eJSON(t, "merchants", "create", "--name", "Corner Café", "--database-url", db.URL)
			key := mer["test_api_key"].(string)
			a, stopA := e2eServeEnv(t, db.URL, env, nil)
			defer stopA()
			b := a
			if dialect == "postgres" {
				var stopB func() error
				b, stopB = e2eServeEnv(t, db.URL, env, nil)
				defer stopB()
			}
			if status, p := e2eDo(t, "POST", a+"/api/v1/receiving-accounts", key, `{"network":"devnet","address":"`+devnetShop+`"}`); status != 201 {
				t.Fatalf("receiving account: %d %v", status, p)
			}
			status, tm := e2eDo(t, "POST", a+"/api/v1/terminals", key, `{"name":"Counter 1"}`)
			if status != 201 {
				t.Fatalf("create terminal: %d %v", status, tm)
			}
			id, tkey, secret := tm["id"].(string), tm["api_key"].(string), tm["command_secret"].(string)

			dial := func(base string) *websocket.Conn {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/v1/ws/terminal/"+id,
					&websocket.DialOptions{HTTPHeader: http.Header{"api-key": {tkey}}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.CloseNow() })
				return conn
			}
			write := func(conn *websocket.Conn, frame []byte) {
				if err := conn.Write(context.Background(), websocket.MessageText, frame); err != nil {
					t.Fatal(err)
				}
			}
			conn := dial(b)
			create := signTerminal(t, secret, map[string]any{"type": "create_session", "command_id": "sale-1",
				"amount": "9.75", "currency": "USD", "methods": []string{"usdc_devnet"}, "reference": "till-0001", "allow_tip": false})
			write(conn, create)
			session := terminalRead(t, conn, "session", 10*time.Second)
			inv := session["invoice"].(map[string]any)
			if inv["terminal_id"] != id || session["created"] != true || !strings.HasPrefix(session["qr_png"].(string), "data:image/png;base64,") {
				t.Fatalf("session %v", session)
			}
			ins := session["payment_instructions"].([]any)[0].(map[string]any)
			if ins["method"] != "usdc_devnet" || ins["address"] != devnetShop {
				t.Fatalf("instructions %v", ins)
			}

			// The same frame again, to the other instance: refused there too.
			other := dial(a)
			write(other, create)
			if e := terminalRead(t, other, "error", 10*time.Second); e["code"] != "replayed_command" || e["command_id"] != "sale-1" {
				t.Fatalf("replayed create_session: %v", e)
			}

			// The customer scans the QR code: the checkout page opens, and
			// the terminal sees session_scanned.
			pu, err := url.Parse(inv["payment_url"].(string))
			if err != nil {
				t.Fatal(err)
			}
			page, err := http.Get(a + pu.RequestURI()) // the public URL's host is not this server's
			if err != nil {
				t.Fatal(err)
			}
			page.Body.Close()
			if page.StatusCode != http.StatusOK {
				t.Fatalf("checkout page: %d", page.StatusCode)
			}
			if sc := terminalRead(t, conn, "session_scanned", 10*time.Second); sc["invoice_id"] != inv["id"] {
				t.Fatalf("session_scanned %v", sc)
			}

			units, _ := new(big.Int).SetString(ins["amount_units"].(string), 10)
			if _, err := devchain.Transfer(t.Context(), chain.Client(), devchain.WalletKey(), chain.Token(), common.HexToAddress(devnetShop), units); err != nil {
				t.Fatal(err)
			}
			paid := terminalRead(t, conn, "payment_confirmed", 30*time.Second)
			if paid["invoice_id"] != inv["id"] || !strings.HasPrefix(paid["event_id"].(string), "evt_") {
				t.Fatalf("payment_confirmed %v", paid)
			}
			// The other instance streamed it too.
			if p := terminalRead(t, other, "payment_confirmed", 30*time.Second); p["event_id"] != paid["event_id"] {
				t.Errorf("other instance: %v, want event %v", p, paid["event_id"])
			}
			_, pays := e2eDo(t, "GET", a+"/api/v1/invoices/"+inv["id"].(string)+"/payments", key, "")
			if data := pays["data"].([]any); len(data) != 1 || data[0].(map[string]any)["status"] != "confirmed" {
				t.Fatalf("payments %v", pays)
			}
		})
	}
}
