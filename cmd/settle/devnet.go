//go:build !nodevnet

package main

import (
	"cmp"
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
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/devchain"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

// devnetShop receives the demo merchant's payments on the devnet: the
// second account of the public development mnemonic (its key is as public
// as the wallet's; devnet only).
const devnetShop = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

// devnet runs the server on SQLite beside an in-process EVM chain with a
// test USDC, a funded payor wallet and a demo merchant ready to be paid.
func (m *Main) devnet(ctx context.Context, args []string) error {
	var c Config
	fs := newFlagSet("devnet", m.Stderr)
	if err := m.flags(fs, &c); err != nil {
		return err
	}
	rpcAddr := fs.String("rpc-addr", "127.0.0.1:8545", "address of the chain's JSON-RPC (HTTP and WebSocket); keep it on loopback")
	dataDir := fs.String("data-dir", defaultDataDir(), "where the database, log and devnet.json are kept")
	blockTime := fs.Duration("block-time", time.Second, "a block is mined this often")
	asJSON := fs.Bool("json", false, "print one JSON line once ready, instead of the banner")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	// The devnet's own inbox is on loopback, and so is whatever a developer
	// points its endpoints at: private addresses are allowed unless the
	// flag or its variable says otherwise.
	if !flagSet(fs, "webhook-allow-private") {
		c.Webhooks.AllowPrivateAddresses = true
	}
	if *blockTime <= 0 {
		return fmt.Errorf("block-time must be positive")
	}
	// The directory holds the database with every secret: when settle
	// creates it, it is this user's only, whatever the umask.
	if _, err := os.Stat(*dataDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(*dataDir, 0o700); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	c.DatabaseURL = "sqlite://" + filepath.Join(*dataDir, "settle.db")
	if err := c.validate(); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(*dataDir, "settle.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()

	started := time.Now().UTC().Truncate(time.Second)
	chain, err := devchain.Start(devchain.Config{RPCAddr: *rpcAddr, BlockTime: *blockTime})
	if err != nil {
		return fmt.Errorf("devnet chain: %w", err)
	}
	defer chain.Close()

	inbox := &webhookInbox{out: m.Stdout, quiet: *asJSON}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	inboxSrv := &http.Server{Handler: inbox, ReadHeaderTimeout: 5 * time.Second}
	go inboxSrv.Serve(ln)
	defer inboxSrv.Close()

	return m.run(ctx, c, serverOptions{
		endpoints: map[string]chains.Endpoint{"devnet": {HTTP: chain.HTTPURL(), WS: chain.WSURL(), Confirmations: 1}},
		tokens:    map[string]string{"devnet": chain.Token().Hex()},
		reset:     []string{"devnet"}, // a new chain every run
		log:       logFile,
		devnetPay: func(ctx context.Context, in invoice.Instruction) (string, error) {
			units, err := invoice.ParseUnits(in.AmountUnits)
			if err != nil {
				return "", err
			}
			hash, err := devchain.Transfer(ctx, chain.Client(), devchain.WalletKey(), common.HexToAddress(in.Token), common.HexToAddress(in.Address), units.Big())
			return hash.Hex(), err
		},
		ready: func(ctx context.Context, addr string, svc *invoice.Service, ledger *chains.Ledger) error {
			_, port, _ := net.SplitHostPort(addr)
			st, err := devnetSetup(ctx, svc, ledger, *dataDir, "http://"+ln.Addr().String()+"/webhooks", inbox)
			if err != nil {
				return fmt.Errorf("devnet setup: %w", err)
			}
			st.APIURL, st.RPCURL, st.WSURL, st.Token = "http://localhost:"+port, chain.HTTPURL(), chain.WSURL(), chain.Token().Hex()
			st.DatabaseURL, st.StartedAt = c.DatabaseURL, started
			raw, _ := json.MarshalIndent(st, "", "  ")
			if err := os.WriteFile(filepath.Join(*dataDir, "devnet.json"), raw, 0o600); err != nil {
				return err
			}
			if *asJSON {
				return json.NewEncoder(m.Stdout).Encode(map[string]string{
					"api_key": st.APIKey, "merchant_id": st.MerchantID, "api_url": st.APIURL, "rpc_url": st.RPCURL,
				})
			}
			fmt.Fprintf(m.Stdout, devnetBanner, st.APIURL, st.APIURL, st.APIKey, st.MerchantID, st.Shop, st.RPCURL, st.WSURL,
				st.Token, devchain.WalletAddress.Hex(), logFile.Name(), st.APIURL, st.APIKey)
			return nil
		},
	})
}

const devnetBanner = `settle devnet is running (test mode; a block every second; everything here is throwaway)

  API        %s   docs %s/docs
  API key    %s   (test mode)
  merchant   %s, paid at %s (unique amounts)
  chain      %s   %s   chain id 1337
  USDC       %s   (6 decimals)
  payor      %s   holds the USDC: settle pay INVOICE_ID pays from it
  webhooks   are printed below as they arrive; endpoints may be on loopback and private
             addresses here (--webhook-allow-private=false to refuse them, as serve does)
  log        %s

Try it:
  curl -s %s/api/v1/invoices -H "Authorization: Bearer %s" \
    -H "Content-Type: application/json" -d '{"amount":"25.00","currency":"USD","payment_methods":["usdc_devnet"]}'
  go run ./cmd/settle pay INVOICE_ID
  go run ./cmd/settle reconcile --network devnet

`

// devnetSetup makes (or, with the same data directory, finds again) the
// demo merchant, its key, its receiving account and a webhook endpoint to the
// inbox.
func devnetSetup(ctx context.Context, svc *invoice.Service, ledger *chains.Ledger, dir, inboxURL string, inbox *webhookInbox) (devnetState, error) {
	st, err := readDevnetState(dir)
	if err == nil {
		if p, aerr := svc.Authenticate(ctx, st.APIKey); aerr != nil || p.MerchantID != st.MerchantID {
			st = devnetState{}
		}
	} else {
		st = devnetState{}
	}
	if st.APIKey == "" {
		mer, key, err := svc.CreateMerchant(ctx, "Devnet Shop")
		if err != nil {
			return st, err
		}
		st.APIKey, st.MerchantID = key, mer.ID
	}
	accounts, err := ledger.Accounts(ctx, st.MerchantID, invoice.ModeTest)
	if err != nil {
		return st, err
	}
	if len(accounts) == 0 {
		a, err := ledger.CreateAccount(ctx, chains.AccountParams{
			MerchantID: st.MerchantID, Mode: invoice.ModeTest, Network: "devnet", Address: devnetShop,
		})
		if errors.Is(err, chains.ErrAccountExists) {
			// An earlier demo merchant in this data directory has it.
			b := make([]byte, 20)
			rand.Read(b)
			a, err = ledger.CreateAccount(ctx, chains.AccountParams{
				MerchantID: st.MerchantID, Mode: invoice.ModeTest, Network: "devnet", Address: common.BytesToAddress(b).Hex(),
			})
		}
		if err != nil {
			return st, err
		}
		accounts = append(accounts, a)
	}
	st.Shop = accounts[0].Address
	now := svc.Now()
	all := []string{"*"}
	var ep events.Endpoint
	if st.Webhook != "" {
		ep, err = events.UpdateEndpoint(ctx, svc.DB(), events.AddressPolicy{AllowPrivate: true}, st.MerchantID, invoice.ModeTest, st.Webhook,
			events.EndpointParams{URL: &inboxURL}, now)
	}
	if st.Webhook == "" || err != nil {
		desc := "settle devnet inbox"
		ep, err = events.CreateEndpoint(ctx, svc.DB(), events.AddressPolicy{AllowPrivate: true}, st.MerchantID, invoice.ModeTest,
			events.EndpointParams{URL: &inboxURL, Description: &desc, EnabledEvents: all}, now)
		if err != nil {
			return st, err
		}
	}
	st.Webhook = ep.ID
	return st, inbox.setSecret(ep.Secret)
}

// webhookInbox receives the demo merchant's webhooks, verifies them as a
// merchant would and prints one line each.
type webhookInbox struct {
	out   io.Writer
	quiet bool
	wh    *standardwebhooks.Webhook
}

func (b *webhookInbox) setSecret(secret string) (err error) {
	b.wh, err = standardwebhooks.NewWebhook(secret)
	return err
}

func (b *webhookInbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || b.wh == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	if err := b.wh.Verify(body, r.Header); err != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	if b.quiet {
		return
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Object         map[string]any `json:"object"`
			PreviousStatus string         `json:"previous_status"`
		} `json:"data"`
	}
	json.Unmarshal(body, &ev)
	o := ev.Data.Object
	line := fmt.Sprintf("webhook  %-24s %v", ev.Type, o["id"])
	switch o["object"] {
	case "invoice":
		if prev := ev.Data.PreviousStatus; prev != "" {
			line += fmt.Sprintf("  %s → %v", prev, o["status"])
		} else {
			line += fmt.Sprintf("  %v", o["status"])
		}
		if exc, _ := o["exception"].(string); exc != "" && exc != "none" {
			line += " (" + exc + ")"
		}
		line += fmt.Sprintf("  paid %v of %v %v", o["amount_paid"], o["amount"], o["currency"])
	case "payment":
		line += fmt.Sprintf("  %v %v %v  tx %v", o["status"], o["amount"], o["asset"], o["tx_id"])
	}
	fmt.Fprintln(b.out, line+"  (signature verified)")
}

// pay pays an invoice from the devnet wallet: what a payor's wallet does.
// It never sends a transfer that settle would credit to another invoice:
// an amount in whole cents gets the invoice's own code (its unique digits
// below a cent on a shared address) added, an amount with other digits
// below a cent is refused, and the ledger is asked which invoice the
// transfer would be credited to before it is sent.
func (m *Main) pay(ctx context.Context, args []string) error {
	var c Config
	fs := newFlagSet("pay", m.Stderr)
	if err := m.flags(fs, &c, "strict-config"); err != nil {
		return err
	}
	amount := fs.String("amount", "", "USDC to send in whole cents, e.g. 4 or 10.50; the invoice's code (its digits below a cent) is added (default: what the invoice still asks)")
	force := fs.Bool("force", false, "pay an invoice that is not open (paid, expired, cancelled…) or send a transfer that no invoice would be credited with; for testing over- and late payments")
	apiURL := fs.String("api-url", "", "the devnet's API (default: from DATA_DIR/devnet.json)")
	dataDir := fs.String("data-dir", defaultDataDir(), "the devnet's data directory")
	rest, err := parseArgs(fs, args)
	if err != nil || len(rest) != 1 {
		fmt.Fprintln(m.Stderr, "usage: settle pay INVOICE_ID [--amount X] [--force] [--api-url URL] [--data-dir DIR]")
		return errUsage
	}
	st, err := readDevnetState(*dataDir)
	if err != nil {
		return fmt.Errorf("no devnet found in %s (is `settle devnet` running with this --data-dir?): %w", *dataDir, err)
	}
	if *apiURL != "" {
		st.APIURL = strings.TrimRight(*apiURL, "/")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, st.APIURL+"/api/v1/invoices/"+rest[0], nil)
	req.Header.Set("Authorization", "Bearer "+st.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var inv invoice.InvoiceObject
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET invoice: %s: %s", resp.Status, raw)
	}
	if err := json.NewDecoder(resp.Body).Decode(&inv); err != nil {
		return err
	}
	var in *invoice.Instruction
	for i := range inv.PaymentInstructions {
		if inv.PaymentInstructions[i].Method == "usdc_devnet" {
			in = &inv.PaymentInstructions[i]
		}
	}
	if in == nil {
		return fmt.Errorf("invoice %s cannot be paid with usdc_devnet (methods %v)", inv.ID, inv.PaymentMethods)
	}
	if inv.Status != invoice.StatusOpen && !*force {
		return fmt.Errorf("invoice %s is %s, not open: %s; --force pays it anyway (to try an over- or late payment)",
			inv.ID, inv.Status, notOpenReason(inv))
	}
	units, err := payUnits(inv, *in, *amount)
	if err != nil {
		return err
	}

	// Which invoice the transfer will be credited to, asked of the
	// devnet's own ledger: a code may have been held by another invoice,
	// or an exact amount still be kept for one that has expired.
	db, err := openReadOnly(ctx, cmp.Or(st.DatabaseURL, "sqlite://"+filepath.Join(*dataDir, "settle.db")))
	if err != nil {
		return err
	}
	target, ok, err := chains.NewLedger(invoice.NewService(db, nil, nil, nil), nil).CreditedTo(ctx, in.Network, in.Address, units)
	db.Close()
	switch {
	case err != nil:
		return err
	case ok && target != inv.ID:
		return fmt.Errorf("%s USDC to %s would be credited to invoice %s, not %s; nothing sent", units.Format(6), in.Address, target, inv.ID)
	case !ok && !*force:
		return fmt.Errorf("%s USDC to %s would be credited to no invoice (kept as an unmatched payment); nothing sent (--force sends it anyway)",
			units.Format(6), in.Address)
	case !ok:
		fmt.Fprintf(m.Stdout, "paying %s USDC to %s: no invoice will be credited (an unmatched payment)\n", units.Format(6), in.Address)
	default:
		fmt.Fprintf(m.Stdout, "paying %s USDC to %s: credited to %s (%s, %s of %s %s due)\n", units.Format(6), in.Address, inv.ID,
			inv.Status, inv.AmountDue, inv.Amount, inv.Currency)
	}

	client, err := ethclient.DialContext(ctx, st.RPCURL)
	if err != nil {
		return err
	}
	defer client.Close()
	hash, err := devchain.Transfer(ctx, client, devchain.WalletKey(), common.HexToAddress(in.Token), common.HexToAddress(in.Address), units.Big())
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rcpt, err := devchain.WaitMined(wctx, client, hash)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("transaction %s not mined within a minute", hash.Hex())
		}
		return err
	}
	fmt.Fprintf(m.Stdout, "sent %s USDC to %s for %s\ntx %s in block %d\n", units.Format(6), in.Address, inv.ID, hash.Hex(), rcpt.BlockNumber)
	return nil
}

// codeModulus is one cent in USDC base units: invoice amounts are whole
// cents, so on a shared address the digits below a cent are the invoice's
// code.
const codeModulus = 10_000

// payUnits is what `settle pay` sends for invoice inv on instruction in:
// the amount still due, or amount (in whole cents, or carrying the
// invoice's own code), plus the invoice's code. On an address of the
// invoice's own (a derived address, code 0) any amount is its.
func payUnits(inv invoice.InvoiceObject, in invoice.Instruction, amount string) (invoice.Units, error) {
	asked, err := invoice.ParseUnits(in.AmountUnits)
	if err != nil {
		return invoice.Units{}, err
	}
	modulus := big.NewInt(codeModulus)
	code := invoice.BigUnits(new(big.Int).Mod(asked.Big(), modulus))
	if amount == "" {
		// Nothing paid yet, or (with --force) all of it: what it asks.
		due, err := invoice.ParseAmount(inv.AmountDue, 6)
		if err != nil {
			return asked, nil
		}
		if total, err := invoice.ParseAmount(inv.Amount, 6); err != nil || due.Cmp(total) >= 0 {
			return asked, nil
		}
		return due.Add(code), nil
	}
	units, err := invoice.ParseAmount(amount, 6)
	if err != nil {
		return invoice.Units{}, fmt.Errorf("--amount %s: %w", amount, err)
	}
	if code.Sign() == 0 {
		return units, nil
	}
	sub := invoice.BigUnits(new(big.Int).Mod(units.Big(), modulus))
	switch {
	case sub.Sign() == 0:
		return units.Add(code), nil
	case sub.Cmp(code) == 0:
		return units, nil
	}
	whole := units.Sub(sub)
	return invoice.Units{}, fmt.Errorf("--amount %s: its digits below a cent (%s) are not the code of invoice %s (%s), which settle reads "+
		"from a transfer's last digits to know which invoice it pays; give whole cents (--amount %s, sent as %s) or %s",
		amount, sub.Format(6), inv.ID, code.Format(6), whole.Rescale(6, 2).Format(2), whole.Add(code).Format(6), whole.Add(code).Format(6))
}

// notOpenReason says why an invoice that is not open should not be paid.
func notOpenReason(inv invoice.InvoiceObject) string {
	switch inv.Status {
	case invoice.StatusPaid:
		return fmt.Sprintf("%s of %s %s is paid already", inv.AmountPaid, inv.Amount, inv.Currency)
	case invoice.StatusProcessing:
		return "a payment to it is waiting for its confirmations; pay what is left once it is confirmed"
	case invoice.StatusExpired:
		return fmt.Sprintf("it expired at %s", inv.ExpiresAt.Format(time.RFC3339))
	case invoice.StatusCancelled:
		return "the merchant cancelled it; money sent to it is to be refunded"
	case invoice.StatusInvalid:
		return "it was marked invalid by hand"
	}
	return "it takes no payment"
}
