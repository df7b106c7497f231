package client_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/migrations"
	"github.com/settlepay/settle/openapi/client"
)

// exampleServers are stopped when the tests end.
var exampleServers struct {
	sync.Mutex
	stops []func()
}

// exampleServer starts a settle server on a fresh SQLite database for one
// example and returns its URL and a merchant's test key.
func exampleServer() (baseURL, apiKey string) {
	dir, err := os.MkdirTemp("", "settle-client-example")
	if err != nil {
		log.Fatal(err)
	}
	db, err := invoice.OpenDB("sqlite://" + filepath.Join(dir, "settle.db"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := migrations.Up(context.Background(), db); err != nil {
		log.Fatal(err)
	}
	srv, err := newServer(db)
	if err != nil {
		log.Fatal(err)
	}
	exampleServers.Lock()
	exampleServers.stops = append(exampleServers.stops, func() { srv.stop(); db.Close(); os.RemoveAll(dir) })
	exampleServers.Unlock()
	_, key, err := srv.svc.CreateMerchant(context.Background(), "Corner Café")
	if err != nil {
		log.Fatal(err)
	}
	return srv.URL, key
}

// TestMain stops the examples' servers and, after a successful run, checks
// every request the servers received against the spec.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	exampleServers.Lock()
	for _, stop := range exampleServers.stops {
		stop()
	}
	exampleServers.Unlock()
	if code == 0 {
		full := flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == ""
		s, err := readSpec()
		if err == nil {
			err = checkCalls(s, full)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "requests against the spec:\n%v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// The life of an invoice in test mode: create it, pay it in the sandbox,
// wait for it to be paid.
func Example() {
	ctx := context.Background()
	baseURL, apiKey := exampleServer() // your server and sk_test_… key

	c := client.New(baseURL, apiKey)
	inv, err := c.CreateInvoice(ctx, client.CreateInvoiceParams{
		Amount: "25.00", Currency: "USD", MerchantOrderID: "order-1042",
	}, client.WithIdempotencyKey("order-1042"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(inv.Status, inv.Amount, inv.Currency)

	if _, err := c.SimulatePayment(ctx, inv.ID, client.SimulatePaymentParams{Amount: "25.00"}); err != nil {
		log.Fatal(err)
	}
	st, err := c.WaitForTerminalStatus(ctx, inv.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Status, st.AmountPaid, st.AmountDue)
	// Output:
	// open 25.00 USD
	// paid 25.00 0.00
}

// Errors are *client.Error with the problem's stable code.
func ExampleError() {
	ctx := context.Background()
	baseURL, apiKey := exampleServer()
	c := client.New(baseURL, apiKey)

	_, err := c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "25.001", Currency: "USD"})
	var e *client.Error
	if errors.As(err, &e) {
		switch e.Code {
		case client.CodeInvalidAmount:
			fmt.Println(e.StatusCode, e.Code, e.Errors[0].Location)
		default:
			fmt.Println("other problem:", e)
		}
	}
	// Output:
	// 422 invalid_amount body.amount
}

// A recovery loop: walk the feed from the last event handled, keep the new
// last id, come back later. Events are listed once numbered, a few
// milliseconds after their change.
func ExampleClient_Events() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	baseURL, apiKey := exampleServer()
	c := client.New(baseURL, apiKey)
	inv, err := c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "5.00", Currency: "USD"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.SimulatePayment(ctx, inv.ID, client.SimulatePaymentParams{Amount: "5.00"}); err != nil {
		log.Fatal(err)
	}

	cursor := "" // the last event id handled: store it with your data
	for handled := 0; handled < 3; time.Sleep(50 * time.Millisecond) {
		for ev, err := range c.Events(ctx, cursor) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println(ev.Type)
			cursor, handled = ev.ID, handled+1
		}
	}
	// Output:
	// invoice.created
	// invoice_payment.updated
	// invoice.updated
}

// Follow events live over the merchant WebSocket, resuming after the last
// event handled; a lost connection is made again by Stream itself.
func ExampleClient_Stream() {
	ctx := context.Background()
	c := client.New("https://pay.example.com", os.Getenv("SETTLE_KEY"))
	cursor := "evt_06f0r5v3q8k2d1b4n7m9c0x2zs" // the last event id you stored
	for ev, err := range c.Stream(ctx, cursor) {
		if err != nil {
			log.Fatal(err) // ctx ended, or the server refused the key or cursor
		}
		if ev.Type == client.EventInvoiceUpdated {
			inv, _ := ev.Invoice()
			fmt.Println(inv.ID, ev.PreviousStatus(), "→", inv.Status)
		}
		cursor = ev.ID
	}
}

// The payor's side, with the invoice's session headers instead of an API
// key: read the session, choose a method, get what to send where.
func ExampleClient_PayorSession() {
	ctx := context.Background()
	baseURL, apiKey := exampleServer()
	merchant := client.New(baseURL, apiKey)
	if _, err := merchant.CreateReceivingAccount(ctx, client.CreateReceivingAccountParams{
		Network: "base_sepolia", Address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
	}); err != nil {
		log.Fatal(err)
	}
	inv, err := merchant.CreateInvoice(ctx, client.CreateInvoiceParams{
		Amount: "25.00", Currency: "USD", PaymentMethods: []string{"usdc_base_sepolia"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// On the payor's side: only the two headers travel there.
	payor := client.New(baseURL, "").PayorSession(inv.PaymentSessionHeaders)
	sess, err := payor.Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sess.Merchant.Name, sess.Amount, sess.Currency, sess.Methods[0].ID)
	ins, err := payor.ChooseMethod(ctx, sess.Methods[0].ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ins.Asset, "on", ins.NetworkName, "to", ins.Address, strings.HasPrefix(ins.Amount, "25.00"))
	// Output:
	// Corner Café 25.00 USD usdc_base_sepolia
	// USDC on Base Sepolia to 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed true
}

// A webhook handler: verify, then act once per event id.
func ExampleVerifyWebhook() {
	secret := os.Getenv("SETTLE_WEBHOOK_SECRET") // whsec_…, from CreateWebhookEndpoint
	http.HandleFunc("/webhooks/settle", func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		ev, err := client.VerifyWebhook(secret, r.Header, body)
		if err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		if ev.Type == client.EventInvoiceUpdated {
			inv, _ := ev.Invoice()
			log.Printf("invoice %s is %s (event %s)", inv.ID, inv.Status, ev.ID)
		}
		w.WriteHeader(http.StatusNoContent) // a 2xx within 10 s, or it is sent again
	})
}

func readBody(r *http.Request) ([]byte, error) {
	defer r.Body.Close()
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}
