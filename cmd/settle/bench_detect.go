//go:build !nodevnet

package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
	"github.com/ethereum/go-ethereum/common"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/devchain"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

// detectConfig is `settle bench detect`.
type detectConfig struct {
	Payments    int
	DatabaseURL string
	JSON        bool
}

// detectResult is detection latency: from the block holding a payment being
// committed to the invoice.updated (paid) event arriving at a webhook
// receiver and at a merchant WebSocket.
type detectResult struct {
	Payments int          `json:"payments"`
	Database string       `json:"database"`
	Webhook  benchLatency `json:"webhook_us"`
	Socket   benchLatency `json:"websocket_us"`
}

func (r *detectResult) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "payments\t%d\t(one block each, confirmations 1, %s)\n", r.Payments, r.Database)
	for _, row := range []struct {
		name string
		l    benchLatency
	}{{"webhook", r.Webhook}, {"websocket", r.Socket}} {
		ms := func(us int64) float64 { return float64(us) / 1000 }
		fmt.Fprintf(tw, "%s\tp50 %.1f ms\tp90 %.1f ms\tp99 %.1f ms\tmax %.1f ms\n", row.name, ms(row.l.P50), ms(row.l.P90), ms(row.l.P99), ms(row.l.Max))
	}
	return tw.Flush()
}

func (m *Main) benchDetect(ctx context.Context, args []string) error {
	var c detectConfig
	fs := newFlagSet("bench detect", m.Stderr)
	fs.IntVar(&c.Payments, "payments", 200, "payments, each in a block of its own")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "database of the server under test (default: a new SQLite file)")
	fs.BoolVar(&c.JSON, "json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if c.Payments < 1 {
		return fmt.Errorf("bench detect: payments must be positive")
	}
	res, err := m.runDetect(ctx, c)
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	return m.printResult(res, c.JSON)
}

// runDetect starts a chain and a server in this process, pays invoices one
// block at a time and times each block's commit to the paid event's arrival.
func (m *Main) runDetect(ctx context.Context, c detectConfig) (*detectResult, error) {
	chain, err := devchain.Start(devchain.Config{RPCAddr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	defer chain.Close()
	dbURL := c.DatabaseURL
	if dbURL == "" {
		dir, err := os.MkdirTemp("", "settle-bench-detect-")
		if err != nil {
			return nil, err
		}
		dbURL = "sqlite://" + filepath.Join(dir, "settle.db")
	}
	var cfg Config
	if err := m.flags(newFlagSet("bench detect", io.Discard), &cfg); err != nil {
		return nil, err
	}
	cfg.Addr, cfg.DatabaseURL, cfg.LogLevel = "127.0.0.1:0", dbURL, "error"
	cfg.Webhooks.AllowPrivateAddresses = true // the receiver is on loopback
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	arrivals := newArrivals()
	hook := &http.Server{Handler: arrivals, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go hook.Serve(ln)
	defer hook.Close()

	type setup struct {
		api, key string
	}
	ready := make(chan setup, 1)
	srvCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- m.run(srvCtx, cfg, serverOptions{
			endpoints: map[string]chains.Endpoint{"devnet": {HTTP: chain.HTTPURL(), WS: chain.WSURL(), Confirmations: 1}},
			tokens:    map[string]string{"devnet": chain.Token().Hex()},
			reset:     []string{"devnet"},
			log:       io.Discard,
			ready: func(ctx context.Context, addr string, svc *invoice.Service, ledger *chains.Ledger) error {
				mer, key, err := svc.CreateMerchant(ctx, "Bench Shop")
				if err != nil {
					return err
				}
				shop := make([]byte, 20) // an address of its own: the database may hold earlier runs
				rand.Read(shop)
				if _, err := ledger.CreateAccount(ctx, chains.AccountParams{MerchantID: mer.ID, Mode: invoice.ModeTest, Network: "devnet",
					Address: common.BytesToAddress(shop).Hex()}); err != nil {
					return err
				}
				url := "http://" + ln.Addr().String()
				ep, err := events.CreateEndpoint(ctx, svc.DB(), events.AddressPolicy{AllowPrivate: true}, mer.ID, invoice.ModeTest,
					events.EndpointParams{URL: &url, EnabledEvents: []string{invoice.EventInvoiceUpdated}}, svc.Now())
				if err != nil {
					return err
				}
				if arrivals.wh, err = standardwebhooks.NewWebhook(ep.Secret); err != nil {
					return err
				}
				ready <- setup{"http://" + addr, key}
				return nil
			},
		})
	}()
	var s setup
	select {
	case s = <-ready:
	case err := <-done:
		return nil, fmt.Errorf("server: %w", err)
	}

	ws, _, err := websocket.Dial(ctx, strings.Replace(s.api, "http", "ws", 1)+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + s.key}}})
	if err != nil {
		return nil, fmt.Errorf("merchant websocket: %w", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	go func() {
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var msg events.EventMessage
			if json.Unmarshal(data, &msg) == nil && msg.Event.Type == invoice.EventInvoiceUpdated {
				arrivals.record(&msg.Event.Data, "ws")
			}
		}
	}()

	var webhook, socket []time.Duration
	nonce, err := chain.Client().PendingNonceAt(ctx, devchain.WalletAddress)
	if err != nil {
		return nil, err
	}
	for i := range c.Payments {
		id, in, err := detectInvoice(ctx, s.api, s.key)
		if err != nil {
			return nil, err
		}
		units, _ := new(big.Int).SetString(in.AmountUnits, 10)
		n := nonce + uint64(i)
		if _, err := devchain.TransferWith(ctx, chain.Client(), devchain.WalletKey(), chain.Token(), common.HexToAddress(in.Address), units, devchain.TxOpts{Nonce: &n}); err != nil {
			return nil, err
		}
		committed := arrivals.expect(id)
		chain.Commit()
		at, err := arrivals.wait(ctx, id, 30*time.Second)
		if err != nil {
			return nil, err
		}
		webhook, socket = append(webhook, at["webhook"].Sub(committed)), append(socket, at["ws"].Sub(committed))
	}
	stop()
	if err := <-done; err != nil {
		return nil, err
	}
	db := "SQLite"
	if strings.HasPrefix(dbURL, "postgres") {
		db = "Postgres"
	}
	return &detectResult{Payments: c.Payments, Database: db, Webhook: summarise(webhook), Socket: summarise(socket)}, nil
}

func detectInvoice(ctx context.Context, api, key string) (string, invoice.Instruction, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/v1/invoices",
		strings.NewReader(`{"amount":"1.00","currency":"USD","payment_methods":["usdc_devnet"]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", invoice.Instruction{}, err
	}
	defer res.Body.Close()
	var inv invoice.InvoiceObject
	if err := json.NewDecoder(res.Body).Decode(&inv); err != nil || res.StatusCode != http.StatusCreated || len(inv.PaymentInstructions) == 0 {
		return "", invoice.Instruction{}, fmt.Errorf("create invoice: %s %v", res.Status, err)
	}
	return inv.ID, inv.PaymentInstructions[0], nil
}

// arrivals times the paid event of each invoice at each consumer.
type arrivals struct {
	mu   sync.Mutex
	wh   *standardwebhooks.Webhook
	seen map[string]map[string]time.Time // invoice → consumer → arrival
	wake chan struct{}
}

func newArrivals() *arrivals {
	return &arrivals{seen: map[string]map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if a.wh == nil || a.wh.Verify(body, r.Header) != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	var ev events.Event
	if json.Unmarshal(body, &ev) == nil {
		a.record(&ev.Data, "webhook")
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *arrivals) record(data *json.RawMessage, consumer string) {
	now := time.Now()
	var d struct {
		Object struct{ ID, Status string } `json:"object"`
	}
	if json.Unmarshal(*data, &d) != nil || d.Object.Status != string(invoice.StatusPaid) {
		return
	}
	a.mu.Lock()
	if at, ok := a.seen[d.Object.ID]; ok && at[consumer].IsZero() {
		at[consumer] = now
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// expect starts waiting for id and returns the starting time.
func (a *arrivals) expect(id string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen[id] = map[string]time.Time{}
	return time.Now()
}

func (a *arrivals) wait(ctx context.Context, id string, timeout time.Duration) (map[string]time.Time, error) {
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		at := a.seen[id]
		got := !at["webhook"].IsZero() && !at["ws"].IsZero()
		a.mu.Unlock()
		if got {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, errors.New("invoice " + id + " was not reported paid within " + timeout.String())
		case <-a.wake:
		}
	}
}
