package chains_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// testXPub is the account key m/44'/60'/0' of the public development
// mnemonic "test test … junk".
const testXPub = "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP"

const (
	shopAddress  = "0x00000000000000000000000000000000005EA77e" // a merchant's single receiving address
	otherAddress = "0x1111111111111111111111111111111111111111" // nobody's
	devnetToken  = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
	sepoliaToken = "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"
)

// fakeClock stands still until a test moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fakeCheckout struct{}

func (fakeCheckout) Links(token string) (string, invoice.SessionHeaders) {
	return "https://pay.test/pay/" + token, invoice.SessionHeaders{SessionToken: token}
}

// bundle is a ledger on one fresh database, with a merchant.
type bundle struct {
	t        *testing.T
	ctx      context.Context
	db       storetest.DB
	clock    *fakeClock
	svc      *invoice.Service
	cat      *chains.Catalogue
	ledger   *chains.Ledger
	merchant string
	tx       int // transfers made, for unique tx ids
}

func setup(t *testing.T, db storetest.DB) *bundle {
	t.Helper()
	clock := &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc := invoice.NewService(db.DB, clock, fakeCheckout{}, nil)
	cat, err := chains.NewCatalogue(map[string]chains.Endpoint{"devnet": {HTTP: "http://127.0.0.1:9"}})
	if err != nil {
		t.Fatal(err)
	}
	cat.SetToken("devnet", devnetToken)
	b := &bundle{t: t, ctx: t.Context(), db: db, clock: clock, svc: svc, cat: cat, ledger: chains.NewLedger(svc, cat)}
	b.merchant = b.newMerchant()
	return b
}

func (b *bundle) newMerchant() string {
	b.t.Helper()
	m, _, err := b.svc.CreateMerchant(b.ctx, "Shop")
	if err != nil {
		b.t.Fatal(err)
	}
	return m.ID
}

// account gives merchant a devnet receiving address or xpub.
func (b *bundle) account(merchant, network, address, xpub string) chains.Account {
	b.t.Helper()
	a, err := b.ledger.CreateAccount(b.ctx, chains.AccountParams{
		MerchantID: merchant, Mode: invoice.ModeTest, Network: network, Address: address, XPub: xpub,
	})
	if err != nil {
		b.t.Fatalf("create account: %v", err)
	}
	return a
}

var devnetMethods = []string{chains.Sandbox, "usdc_devnet"}

// create makes an invoice of the merchant payable in devnet USDC, as
// requested methods.
func (b *bundle) create(merchant, amount string, expiresIn int64) (invoice.Invoice, error) {
	return b.createWith(invoice.CreateParams{
		MerchantID: merchant, Mode: invoice.ModeTest, Amount: amount, Currency: "USD", ExpiresIn: expiresIn,
		PaymentMethods: devnetMethods,
	}, true)
}

// createWith creates p with the ledger's hook as the API sets it: read-only
// when the merchant has no receiving account on p's networks.
func (b *bundle) createWith(p invoice.CreateParams, requested bool) (invoice.Invoice, error) {
	hook, writes, err := b.ledger.Prepare(b.ctx, b.svc.IDB(b.ctx), p.MerchantID, p.Mode, p.PaymentMethods, requested)
	if err != nil {
		return invoice.Invoice{}, err
	}
	p.Prepare, p.PrepareReadOnly = hook, !writes
	return b.svc.Create(b.ctx, p)
}

// invoice is create that must succeed; it returns the devnet instruction.
func (b *bundle) invoice(merchant, amount string, expiresIn int64) (invoice.Invoice, invoice.Instruction) {
	b.t.Helper()
	inv, err := b.create(merchant, amount, expiresIn)
	if err != nil {
		b.t.Fatalf("create invoice of %s: %v", amount, err)
	}
	for _, in := range inv.Instructions {
		if in.Method == "usdc_devnet" {
			return inv, in
		}
	}
	b.t.Fatalf("invoice %s has no usdc_devnet instruction: %+v", inv.ID, inv.Instructions)
	return inv, invoice.Instruction{}
}

// transfer is a new devnet USDC transfer, pending in block 100.
func (b *bundle) transfer(to string, units int64) chains.Transfer {
	b.tx++
	return chains.Transfer{
		Network: "devnet", Token: devnetToken, TxID: fmt.Sprintf("0x%064x", b.tx), Index: 1, Block: 100,
		BlockHash: "0xb100", From: otherAddress, To: to, Amount: invoice.NewUnits(units),
		Status: invoice.PaymentPending, ObservedAt: b.clock.Now(),
	}
}

func (b *bundle) record(tr chains.Transfer) {
	b.t.Helper()
	if err := b.ledger.Record(b.ctx, tr); err != nil {
		b.t.Fatalf("record %s: %v", tr.TxID, err)
	}
}

func (b *bundle) count(table string) int64 {
	b.t.Helper()
	n, err := b.db.NewSelect().TableExpr(table).Count(b.ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

func (b *bundle) payments(invoiceID string) []invoice.Payment {
	b.t.Helper()
	ps, err := b.svc.Payments(b.ctx, invoiceID)
	if err != nil {
		b.t.Fatal(err)
	}
	return ps
}

func (b *bundle) unmatched(merchant string) []chains.Unmatched {
	b.t.Helper()
	us, _, err := b.ledger.UnmatchedList(b.ctx, merchant, invoice.ModeTest, "", 100)
	if err != nil {
		b.t.Fatal(err)
	}
	return us
}

func validationCode(err error) string {
	var v *invoice.ValidationError
	if !errors.As(err, &v) || len(v.Fields) == 0 {
		return ""
	}
	return v.Fields[0].Field + "/" + v.Fields[0].Code
}

func TestCreateAccountRefuses(t *testing.T) {
	t.Parallel()
	const xprv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
	tests := []struct {
		name string
		p    chains.AccountParams
		want string // field/code
	}{
		{name: "unknown network", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "bitcoin", Address: shopAddress}, want: "network/invalid_network"},
		{name: "sandbox", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "sandbox", Address: shopAddress}, want: "network/invalid_network"},
		{name: "EVM address on solana", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "solana_devnet", Address: shopAddress}, want: "address/invalid_address"},
		{name: "live network in test mode", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "base", Address: shopAddress}, want: "network/invalid_network"},
		{name: "test network in live mode", p: chains.AccountParams{Mode: invoice.ModeLive, Network: "devnet", Address: shopAddress}, want: "network/invalid_network"},
		{name: "address and xpub", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "devnet", Address: shopAddress, XPub: testXPub}, want: "address/invalid_receiving_account"},
		{name: "neither", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "devnet"}, want: "address/invalid_receiving_account"},
		{name: "bad checksum", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "devnet", Address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}, want: "address/invalid_address"},
		{name: "zero address", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "devnet", Address: "0x0000000000000000000000000000000000000000"}, want: "address/invalid_address"},
		{name: "xprv", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "devnet", XPub: xprv}, want: "xpub/invalid_xpub"},
		{name: "xpub with a typo", p: chains.AccountParams{Mode: invoice.ModeTest, Network: "devnet", XPub: testXPub[:50] + "z" + testXPub[51:]}, want: "xpub/invalid_xpub"},
	}
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		for _, tc := range tests {
			tc.p.MerchantID = b.merchant
			_, err := b.ledger.CreateAccount(b.ctx, tc.p)
			if got := validationCode(err); got != tc.want {
				t.Errorf("%s: err = %v (%s), want %s", tc.name, err, got, tc.want)
			}
		}
		if n := b.count("receiving_accounts"); n != 0 {
			t.Errorf("%d accounts stored by refused requests", n)
		}
	})
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		other := b.newMerchant()
		dev := b.account(b.merchant, "devnet", strings.ToLower(shopAddress), "")
		if dev.Address != shopAddress || dev.Kind != chains.AccountAddress {
			t.Errorf("account = %+v, want the EIP-55 address %s", dev, shopAddress)
		}
		_, err := b.ledger.CreateAccount(b.ctx, chains.AccountParams{MerchantID: b.merchant, Mode: invoice.ModeTest, Network: "devnet", XPub: testXPub})
		if !errors.Is(err, chains.ErrAccountExists) {
			t.Fatalf("second devnet account: err = %v, want ErrAccountExists", err)
		}
		sep := b.account(b.merchant, "sepolia", "", testXPub)
		b.account(other, "devnet", otherAddress, "") // another merchant's own devnet account
		// An address or a key receives for one merchant only.
		for _, p := range []chains.AccountParams{{Network: "devnet", Address: shopAddress}, {Network: "sepolia", XPub: testXPub}} {
			p.MerchantID, p.Mode = b.newMerchant(), invoice.ModeTest
			if _, err := b.ledger.CreateAccount(b.ctx, p); !errors.Is(err, chains.ErrAccountExists) {
				t.Errorf("another merchant's address or key %+v: err = %v, want ErrAccountExists", p, err)
			}
		}
		if _, err := b.ledger.CreateAccount(b.ctx, chains.AccountParams{MerchantID: b.merchant, Mode: invoice.ModeLive, Network: "base", Address: shopAddress}); err != nil {
			t.Fatalf("live account: %v", err)
		}

		ids := func() []string {
			as, err := b.ledger.Accounts(b.ctx, b.merchant, invoice.ModeTest)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, a := range as {
				out = append(out, a.ID)
			}
			return out
		}
		if got := ids(); !slices.Equal(got, []string{dev.ID, sep.ID}) {
			t.Errorf("Accounts = %v, want %v", got, []string{dev.ID, sep.ID})
		}
		if a, err := b.ledger.Account(b.ctx, b.merchant, invoice.ModeTest, dev.ID); err != nil || a.Address != shopAddress {
			t.Errorf("Account = %+v, %v", a, err)
		}
		if _, err := b.ledger.Account(b.ctx, other, invoice.ModeTest, dev.ID); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("Account of another merchant: err = %v, want ErrNotFound", err)
		}
		if _, err := b.ledger.Account(b.ctx, b.merchant, invoice.ModeLive, dev.ID); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("Account in the other mode: err = %v, want ErrNotFound", err)
		}
		if _, err := b.ledger.DeleteAccount(b.ctx, other, invoice.ModeTest, dev.ID); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("DeleteAccount by another merchant: err = %v, want ErrNotFound", err)
		}

		if _, err := b.ledger.DeleteAccount(b.ctx, b.merchant, invoice.ModeTest, dev.ID); err != nil {
			t.Fatal(err)
		}
		if got := ids(); !slices.Equal(got, []string{sep.ID}) {
			t.Errorf("Accounts after delete = %v, want %v", got, []string{sep.ID})
		}
		if _, err := b.ledger.Account(b.ctx, b.merchant, invoice.ModeTest, dev.ID); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("Account after delete: err = %v, want ErrNotFound", err)
		}
		if _, err := b.ledger.DeleteAccount(b.ctx, b.merchant, invoice.ModeTest, dev.ID); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("delete twice: err = %v, want ErrNotFound", err)
		}
		again := b.account(b.merchant, "devnet", "", testXPub)
		if got := ids(); !slices.Equal(got, []string{sep.ID, again.ID}) {
			t.Errorf("Accounts after re-adding = %v, want %v", got, []string{sep.ID, again.ID})
		}
	})
}

// derived returns the addresses 0/from … 0/to-1 of key.
func derived(t *testing.T, key string, from, to uint32) []string {
	t.Helper()
	x, err := chains.ParseXPub(key)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := from; i < to; i++ {
		a, err := x.Address(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestXPubAddressesAreNeverReused(t *testing.T) {
	t.Parallel()
	want := derived(t, testXPub, 0, 4)
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		a := b.account(b.merchant, "devnet", "", testXPub)
		var got []string
		for range 3 {
			inv, in := b.invoice(b.merchant, "10.00", 0)
			if in.AmountUnits != "10000000" || in.Amount != "10.000000" {
				t.Errorf("derived address instruction amount = %s (%s), want the invoice's 10.000000", in.Amount, in.AmountUnits)
			}
			if !slices.Equal(inv.PaymentMethods, devnetMethods) {
				t.Errorf("methods = %v", inv.PaymentMethods)
			}
			got = append(got, in.Address)
		}
		if !slices.Equal(got, want[:3]) {
			t.Fatalf("addresses = %v, want 0/0…0/2 %v", got, want[:3])
		}
		if _, err := b.ledger.DeleteAccount(b.ctx, b.merchant, invoice.ModeTest, a.ID); err != nil {
			t.Fatal(err)
		}
		// Given again, with the white space of a paste.
		again := b.account(b.merchant, "devnet", "", " "+testXPub+"\n")
		if again.NextIndex != 3 || again.XPub != testXPub {
			t.Errorf("re-added account = next %d xpub %q, want next 3", again.NextIndex, again.XPub)
		}
		if _, in := b.invoice(b.merchant, "10.00", 0); in.Address != want[3] {
			t.Errorf("after re-adding the key: address %s, want 0/3 %s", in.Address, want[3])
		}
	})
}

// TestXPubGivenAsTPubIsNotReused: a tpub is the same key (same addresses)
// under another version; given after the xpub was deleted, it must go on
// where the xpub stopped.
func TestXPubGivenAsTPubIsNotReused(t *testing.T) {
	t.Parallel()
	k, err := hdkeychain.NewKeyFromString(testXPub)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := k.CloneWithVersion([]byte{0x04, 0x35, 0x87, 0xcf})
	if err != nil {
		t.Fatal(err)
	}
	tpub := tk.String()
	want := derived(t, testXPub, 0, 2)
	if got := derived(t, tpub, 0, 2); !slices.Equal(got, want) {
		t.Fatalf("tpub addresses %v, xpub %v", got, want)
	}
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		a := b.account(b.merchant, "devnet", "", testXPub)
		if _, in := b.invoice(b.merchant, "10.00", 0); in.Address != want[0] {
			t.Fatalf("address %s, want 0/0 %s", in.Address, want[0])
		}
		if _, err := b.ledger.DeleteAccount(b.ctx, b.merchant, invoice.ModeTest, a.ID); err != nil {
			t.Fatal(err)
		}
		b.account(b.merchant, "devnet", "", tpub)
		inv, err := b.create(b.merchant, "10.00", 0)
		if err != nil {
			t.Fatalf("invoice after re-adding the key as a tpub: %v", err)
		}
		if got := inv.Instructions[0].Address; got != want[1] {
			t.Errorf("address %s, want 0/1 %s", got, want[1])
		}
	})
}

func TestUniqueAmounts(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		b.ledger.Hold = time.Minute
		b.account(b.merchant, "devnet", shopAddress, "")
		units := func(amount string, expiresIn int64) (invoice.Invoice, string) {
			t.Helper()
			inv, in := b.invoice(b.merchant, amount, expiresIn)
			if in.Address != shopAddress {
				t.Errorf("address %s, want the shared %s", in.Address, shopAddress)
			}
			return inv, in.AmountUnits
		}
		_, first := units("10.00", 60) // expires first
		_, second := units("10.00", 3600)
		_, third := units("10.00", 3600)
		if got := []string{first, second, third}; !slices.Equal(got, []string{"10000001", "10000002", "10000003"}) {
			t.Errorf("amounts = %v, want codes 1, 2, 3", got)
		}
		// A code is unique on the whole address, whatever the amount.
		if _, u := units("25.00", 3600); u != "25000004" {
			t.Errorf("25.00 got %s, want code 4", u)
		}
		// Expired, but held: code 1 still belongs to the first invoice.
		b.clock.Advance(61 * time.Second)
		if _, u := units("10.00", 3600); u != "10000005" {
			t.Errorf("during the hold got %s, want code 5", u)
		}
		// The hold has passed: code 1 is given out again.
		b.clock.Advance(time.Minute)
		inv, u := units("10.00", 3600)
		if u != "10000001" {
			t.Fatalf("after the hold got %s, want code 1 again", u)
		}
		if _, u := units("10.00", 3600); u != "10000006" {
			t.Errorf("next got %s, want code 6", u)
		}
		// A payment of the amount now pays the new holder.
		b.record(b.transfer(shopAddress, 10000001))
		if ps := b.payments(inv.ID); len(ps) != 1 {
			t.Errorf("new holder of code 1 has %d payments, want 1", len(ps))
		}
	})
}

func TestUniqueAmountsExhausted(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		a := b.account(b.merchant, "devnet", shopAddress, "")
		// Every code is held for 10.00 (as after 9,999 open invoices).
		holder, _ := b.invoice(b.merchant, "10.00", 3600)
		now := b.clock.Now()
		var ds []chains.Deposit
		for code := int64(2); code <= chains.MaxUniqueOffset; code++ {
			ds = append(ds, chains.Deposit{
				Network: "devnet", Address: shopAddress, AmountUnits: fmt.Sprint(10_000_000 + code), BaseUnits: "10000000",
				Code: code, InvoiceID: holder.ID, AccountID: a.ID, HeldUntil: now.Add(time.Hour), CreatedAt: now,
			})
		}
		for batch := range slices.Chunk(ds, 1000) {
			if _, err := b.db.NewInsert().Model(&batch).Exec(b.ctx); err != nil {
				t.Fatal(err)
			}
		}

		// Another amount still gets a code: unique for its amount only.
		other, in := b.invoice(b.merchant, "20.00", 3600)
		if in.AmountUnits != "20000001" {
			t.Errorf("20.00 got %s, want code 1 (per amount)", in.AmountUnits)
		}
		if _, in := b.invoice(b.merchant, "20.00", 3600); in.AmountUnits != "20000002" {
			t.Errorf("second 20.00 got %s, want code 2", in.AmountUnits)
		}

		invoices, deposits, events := b.count("invoices"), b.count("deposits"), b.count("events")
		_, err := b.create(b.merchant, "10.00", 3600)
		if !errors.Is(err, chains.ErrUniqueAmountsExhausted) {
			t.Fatalf("10.00 with every code held: err = %v, want ErrUniqueAmountsExhausted", err)
		}
		if i, d, e := b.count("invoices"), b.count("deposits"), b.count("events"); i != invoices || d != deposits || e != events {
			t.Errorf("failed creation wrote rows: invoices %d→%d, deposits %d→%d, events %d→%d", invoices, i, deposits, d, events, e)
		}

		// Code 1 is now held twice (10.000001 and 20.000001): a partial
		// payment ending in it cannot be told apart.
		partial := b.transfer(shopAddress, 5_000_001)
		b.record(partial)
		if ps := b.payments(other.ID); len(ps) != 0 {
			t.Errorf("ambiguous partial payment applied to %s: %+v", other.ID, ps)
		}
		if ps := b.payments(holder.ID); len(ps) != 0 {
			t.Errorf("ambiguous partial payment applied to %s: %+v", holder.ID, ps)
		}
		if us := b.unmatched(b.merchant); len(us) != 1 || us[0].TxID != partial.TxID {
			t.Errorf("unmatched = %+v, want the ambiguous partial payment", us)
		}
		// The exact amount still finds its invoice.
		b.record(b.transfer(shopAddress, 20_000_001))
		if ps := b.payments(other.ID); len(ps) != 1 {
			t.Errorf("exact payment: %d payments, want 1", len(ps))
		}
	})
}

func TestPrepareWithoutAccount(t *testing.T) {
	t.Parallel()
	if hook, writes, err := chains.NewLedger(nil, nil).Prepare(context.Background(), nil, "", invoice.ModeTest, []string{chains.Sandbox}, true); hook != nil || writes || err != nil {
		t.Error("Prepare for the sandbox only is not nil")
	}
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		_, err := b.create(b.merchant, "10.00", 0)
		if got := validationCode(err); got != "payment_methods/receiving_account_missing" {
			t.Errorf("requested method without account: err = %v, want receiving_account_missing", err)
		}
		if n := b.count("invoices"); n != 0 {
			t.Errorf("%d invoices stored by a refused creation", n)
		}

		methods, err := b.cat.Choose(invoice.ModeTest, "USD", nil)
		// The fiat rails' methods are the rails' Prepare to keep or drop
		// (chains/fiat); the ledger leaves them alone.
		methods = slices.DeleteFunc(methods, func(id string) bool {
			m, _ := chains.MethodByID(id)
			n, _ := chains.NetworkByID(m.Network)
			return n.Kind == chains.KindRail
		})
		if err != nil || !slices.Equal(methods, devnetMethods) {
			t.Fatalf("Choose = %v, %v", methods, err)
		}
		inv, err := b.createWith(invoice.CreateParams{
			MerchantID: b.merchant, Mode: invoice.ModeTest, Amount: "10.00", Currency: "USD",
			PaymentMethods: methods,
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(inv.PaymentMethods, []string{chains.Sandbox}) || len(inv.Instructions) != 0 {
			t.Errorf("default methods without account: methods %v, instructions %+v; want the sandbox alone", inv.PaymentMethods, inv.Instructions)
		}
		got, err := b.svc.Get(b.ctx, b.merchant, invoice.ModeTest, inv.ID)
		if err != nil || !slices.Equal(got.PaymentMethods, []string{chains.Sandbox}) {
			t.Errorf("stored methods = %v, %v", got.PaymentMethods, err)
		}

		// Live mode has no sandbox to fall back on.
		live := []string{"usdc_base"}
		_, err = b.createWith(invoice.CreateParams{
			MerchantID: b.merchant, Mode: invoice.ModeLive, Amount: "10.00", Currency: "USD",
			PaymentMethods: live,
		}, false)
		if got := validationCode(err); got != "payment_methods/receiving_account_missing" {
			t.Errorf("live invoice with no account: err = %v, want receiving_account_missing", err)
		}
	})
}

func TestRecord(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		b.account(b.merchant, "devnet", shopAddress, "")
		a, _ := b.invoice(b.merchant, "10.00", 3600) // code 1
		c, _ := b.invoice(b.merchant, "10.00", 3600) // code 2
		xpubShop := b.newMerchant()
		b.account(xpubShop, "devnet", "", testXPub)
		d, din := b.invoice(xpubShop, "10.00", 3600)

		t.Run("exact amount", func(t *testing.T) {
			tr := b.transfer(shopAddress, 10_000_002)
			b.record(tr)
			ps := b.payments(c.ID)
			if len(ps) != 1 || ps[0].TxID != tr.TxID || ps[0].Status != invoice.PaymentPending || ps[0].Method != "usdc_devnet" {
				t.Fatalf("payments of the holder of 10.000002: %+v", ps)
			}
			payments, events := b.count("payments"), b.count("events")
			b.record(tr)
			if p, e := b.count("payments"), b.count("events"); p != payments || e != events {
				t.Errorf("recording twice wrote rows: payments %d→%d, events %d→%d", payments, p, events, e)
			}
			tr.Status = invoice.PaymentConfirmed
			b.record(tr)
			if ps := b.payments(c.ID); len(ps) != 1 || ps[0].Status != invoice.PaymentConfirmed {
				t.Errorf("after confirmation: %+v", ps)
			}
			if inv, err := b.svc.Get(b.ctx, b.merchant, invoice.ModeTest, c.ID); err != nil || inv.Status != invoice.StatusPaid {
				t.Errorf("invoice = %s, %v; want paid", inv.Status, err)
			}
		})
		t.Run("partial payment by its code", func(t *testing.T) {
			tr := b.transfer(shopAddress, 4_000_001)
			b.record(tr)
			if ps := b.payments(a.ID); len(ps) != 1 || ps[0].TxID != tr.TxID || ps[0].Amount.String() != "4000001" {
				t.Errorf("payments of the holder of code 1: %+v", ps)
			}
		})
		t.Run("derived address takes any amount", func(t *testing.T) {
			b.record(b.transfer(din.Address, 123))
			if ps := b.payments(d.ID); len(ps) != 1 || ps[0].Amount.String() != "123" {
				t.Errorf("payments of the derived address's invoice: %+v", ps)
			}
		})
		t.Run("unknown address is ignored", func(t *testing.T) {
			payments, unmatched, events := b.count("payments"), b.count("unmatched_payments"), b.count("events")
			b.record(b.transfer(otherAddress, 10_000_001))
			b.record(b.transfer(otherAddress, 5))
			if p, u, e := b.count("payments"), b.count("unmatched_payments"), b.count("events"); p != payments || u != unmatched || e != events {
				t.Errorf("rows written: payments %d→%d, unmatched %d→%d, events %d→%d", payments, p, unmatched, u, events, e)
			}
		})
		t.Run("token not in the catalogue", func(t *testing.T) {
			tr := b.transfer(shopAddress, 10_000_001)
			tr.Token = sepoliaToken
			if err := b.ledger.Record(b.ctx, tr); err == nil {
				t.Error("transfer of an unknown token recorded")
			}
		})
		t.Run("unmatched stays unmatched", func(t *testing.T) {
			before := len(b.unmatched(b.merchant))
			wrong := b.transfer(shopAddress, 7_000_000) // no code
			late := b.transfer(shopAddress, 30_000_003) // code 3, held by nobody yet
			b.record(wrong)
			b.record(late)
			us := b.unmatched(b.merchant)
			if len(us) != before+2 || us[0].TxID != late.TxID || us[1].TxID != wrong.TxID {
				t.Fatalf("unmatched = %+v, want the two new transfers first", us)
			}
			if u := us[0]; u.Amount.String() != "30000003" || u.To != shopAddress || u.Method != "usdc_devnet" || u.Status != invoice.PaymentPending {
				t.Errorf("unmatched = %+v", u)
			}
			// An invoice now takes that very amount; the transfer was kept
			// before it existed and stays where it is.
			e, in := b.invoice(b.merchant, "30.00", 3600)
			if in.AmountUnits != "30000003" {
				t.Fatalf("new invoice got %s, want 30000003", in.AmountUnits)
			}
			late.Status = invoice.PaymentConfirmed
			b.record(late)
			if ps := b.payments(e.ID); len(ps) != 0 {
				t.Errorf("kept transfer moved to %s: %+v", e.ID, ps)
			}
			if us := b.unmatched(b.merchant); us[0].TxID != late.TxID || us[0].Status != invoice.PaymentConfirmed {
				t.Errorf("kept transfer = %+v, want confirmed", us[0])
			}
		})
		t.Run("unmatched status", func(t *testing.T) {
			tr := b.transfer(shopAddress, 8_000_000)
			status := func() invoice.PaymentStatus {
				for _, u := range b.unmatched(b.merchant) {
					if u.TxID == tr.TxID {
						return u.Status
					}
				}
				t.Fatalf("%s not kept", tr.TxID)
				return ""
			}
			steps := []struct {
				in, want invoice.PaymentStatus
			}{
				{invoice.PaymentPending, invoice.PaymentPending},
				{invoice.PaymentConfirmed, invoice.PaymentConfirmed},
				{invoice.PaymentPending, invoice.PaymentConfirmed}, // stale report
				{invoice.PaymentReversed, invoice.PaymentReversed},
				{invoice.PaymentPending, invoice.PaymentPending}, // mined again
			}
			for i, s := range steps {
				tr.Status = s.in
				tr.Block++
				b.record(tr)
				if got := status(); got != s.want {
					t.Errorf("step %d: reported %s, status %s, want %s", i, s.in, got, s.want)
				}
			}
		})
		t.Run("deleted account still keeps transfers", func(t *testing.T) {
			gone := b.newMerchant()
			acc := b.account(gone, "devnet", otherAddress, "")
			if _, err := b.ledger.DeleteAccount(b.ctx, gone, invoice.ModeTest, acc.ID); err != nil {
				t.Fatal(err)
			}
			b.record(b.transfer(otherAddress, 1_000_000))
			if us := b.unmatched(gone); len(us) != 1 || us[0].AccountID != acc.ID {
				t.Errorf("unmatched of the deleted account = %+v", us)
			}
		})
	})
}

func TestLease(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		lease := func(holder string, want bool) {
			t.Helper()
			got, err := b.ledger.Lease(b.ctx, "devnet", holder, 10*time.Second)
			if err != nil || got != want {
				t.Errorf("Lease(%s) = %v, %v; want %v", holder, got, err, want)
			}
		}
		lease("a", true)
		lease("b", false)
		if ok, err := b.ledger.Lease(b.ctx, "sepolia", "b", 10*time.Second); !ok || err != nil {
			t.Errorf("lease on another network = %v, %v", ok, err)
		}
		b.clock.Advance(8 * time.Second)
		lease("a", true) // renewed: runs to 18 s
		b.clock.Advance(8 * time.Second)
		lease("b", false)
		b.clock.Advance(3 * time.Second)
		lease("b", true) // a's has run out
		lease("a", false)
		if err := b.ledger.Release(b.ctx, "devnet", "a"); err != nil { // not a's to release
			t.Fatal(err)
		}
		lease("a", false)
		if err := b.ledger.Release(b.ctx, "devnet", "b"); err != nil {
			t.Fatal(err)
		}
		lease("a", true)
	})
}

func TestCheckpoints(t *testing.T) {
	t.Parallel()
	blocks := func(cps []chains.Checkpoint) []int64 {
		var out []int64
		for _, cp := range cps {
			out = append(out, cp.Block)
		}
		return out
	}
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		check := func(network string, want ...int64) {
			t.Helper()
			cps, err := b.ledger.Checkpoints(b.ctx, network)
			if err != nil {
				t.Fatal(err)
			}
			if got := blocks(cps); !slices.Equal(got, want) {
				t.Errorf("%s checkpoints = %v, want %v", network, got, want)
			}
			for _, cp := range cps {
				if cp.Hash != fmt.Sprintf("0x%d", cp.Block) || cp.Network != network {
					t.Errorf("checkpoint = %+v", cp)
				}
			}
		}
		advance := func(network string, block int64, keep int) {
			t.Helper()
			err := b.ledger.Advance(b.ctx, chains.Checkpoint{Network: network, Block: block, Hash: fmt.Sprintf("0x%d", block)}, keep)
			if err != nil {
				t.Fatal(err)
			}
		}
		check("devnet")
		for n := int64(1); n <= 6; n++ {
			advance("devnet", n, 3)
		}
		advance("sepolia", 9, 3)
		check("devnet", 6, 5, 4)
		check("sepolia", 9)
		advance("devnet", 6, 3) // again, as after a restart
		check("devnet", 6, 5, 4)
		if err := b.ledger.Rewind(b.ctx, "devnet", 4); err != nil {
			t.Fatal(err)
		}
		check("devnet", 4)
		check("sepolia", 9)
		if err := b.ledger.ResetNetwork(b.ctx, "devnet"); err != nil {
			t.Fatal(err)
		}
		check("devnet")

		// Scans cover ranges of blocks: the newest keep checkpoints are
		// kept, however far apart.
		for _, n := range []int64{100, 200, 300, 400} {
			advance("base", n, 3)
		}
		check("base", 400, 300, 200)
	})
}

func TestWatched(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		watched := func(network string, max int) []string {
			t.Helper()
			got, err := b.ledger.Watched(b.ctx, network, max)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			return got
		}
		if got := watched("devnet", 10); got == nil || len(got) != 0 {
			t.Errorf("nothing to watch: Watched = %#v, want an empty list (nil means every transfer)", got)
		}
		b.account(b.merchant, "devnet", shopAddress, "")
		b.invoice(b.merchant, "10.00", 0) // on the shared address
		b.invoice(b.merchant, "12.00", 0)
		xpubShop := b.newMerchant()
		b.account(xpubShop, "devnet", "", testXPub)
		b.invoice(xpubShop, "10.00", 0)
		b.invoice(xpubShop, "10.00", 0)
		b.account(b.newMerchant(), "sepolia", otherAddress, "")

		want := append(derived(t, testXPub, 0, 2), shopAddress)
		slices.Sort(want)
		if got := watched("devnet", 3); !slices.Equal(got, want) {
			t.Errorf("Watched = %v, want %v", got, want)
		}
		if got, err := b.ledger.Watched(b.ctx, "devnet", 2); got != nil || err != nil {
			t.Errorf("more than max: Watched = %v, %v; want nil", got, err)
		}
		if got := watched("sepolia", 3); !slices.Equal(got, []string{otherAddress}) {
			t.Errorf("sepolia: Watched = %v", got)
		}
	})
}

func TestPending(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		b.account(b.merchant, "devnet", shopAddress, "")
		b.account(b.merchant, "sepolia", otherAddress, "")
		_, in := b.invoice(b.merchant, "10.00", 0)
		_, in2 := b.invoice(b.merchant, "10.00", 0)

		paid := b.transfer(shopAddress, 10_000_001)
		paid.Block = 7
		b.record(paid)
		kept := b.transfer(shopAddress, 1_230_000) // no code: unmatched
		kept.Block, kept.Index = 5, 3
		b.record(kept)
		done := b.transfer(shopAddress, 10_000_002)
		done.Status = invoice.PaymentConfirmed
		b.record(done)
		doneKept := b.transfer(shopAddress, 2_000_000)
		doneKept.Status = invoice.PaymentConfirmed
		b.record(doneKept)
		gone := b.transfer(shopAddress, 3_000_000)
		b.record(gone)
		gone.Status = invoice.PaymentReversed
		b.record(gone)
		sep := b.transfer(otherAddress, 1)
		sep.Network, sep.Token = "sepolia", sepoliaToken
		b.record(sep)

		if us := b.unmatched(b.merchant); len(us) != 4 {
			t.Fatalf("%d unmatched, want 4", len(us))
		}
		got, err := b.ledger.Pending(b.ctx, "devnet")
		if err != nil {
			t.Fatal(err)
		}
		want := []chains.Transfer{kept, paid}
		if len(got) != len(want) {
			t.Fatalf("Pending = %+v, want %s and %s", got, kept.TxID, paid.TxID)
		}
		for i, g := range got {
			w := want[i]
			if g.TxID != w.TxID || g.Index != w.Index || g.Block != w.Block || g.BlockHash != w.BlockHash ||
				g.Token != devnetToken || g.Network != "devnet" || g.To != w.To || g.From != w.From ||
				g.Amount.Cmp(w.Amount) != 0 || g.Status != invoice.PaymentPending || !g.ObservedAt.Equal(w.ObservedAt) {
				t.Errorf("Pending[%d] = %+v, want %+v", i, g, w)
			}
		}
		if in.AmountUnits != "10000001" || in2.AmountUnits != "10000002" {
			t.Errorf("amounts %s %s", in.AmountUnits, in2.AmountUnits)
		}
		if got, err := b.ledger.Pending(b.ctx, "sepolia"); err != nil || len(got) != 1 || got[0].TxID != sep.TxID || got[0].Token != sepoliaToken {
			t.Errorf("sepolia: Pending = %+v, %v", got, err)
		}
	})
}
