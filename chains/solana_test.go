package chains_test

import (
	"testing"

	"github.com/gagliardetto/solana-go"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/solanapay"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

const (
	devnetUSDC = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
	// solanaWallet is the owner of the token account in the recorded
	// mainnet transfer of chains/solana/testdata.
	solanaWallet = "3i476kTBBTy7pBGx4CXwJpJ6phuwLQgcwLTdHhU3c7ui"
)

func TestParseSolanaAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{solanaWallet, true},
		{"H51DXRt3ubThhdhNeDMScfkbC5X4AWzYfHaZS3JKEfPh", false}, // its associated token account: off curve
		{"3i476kTBBTy7pBGx4CXwJpJ6phuwLQgcwLTdHhU3c7u", false},  // a character short
		{"3i476kTBBTy7pBGx4CXwJpJ6phuwLQgcwLTdHhU3c70i", false}, // 0 is not base58
		{shopAddress, false},
		{"", false},
	} {
		got, err := chains.ParseSolanaAddress(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.in) {
			t.Errorf("ParseSolanaAddress(%q) = %q, %v; want ok %v", tc.in, got, err, tc.ok)
		}
	}
}

// solanaInvoice creates an invoice payable in devnet USDC.
func (b *bundle) solanaInvoice(amount string) (invoice.Invoice, invoice.Instruction, solanapay.Request) {
	b.t.Helper()
	methods := []string{chains.Sandbox, "usdc_solana_devnet"}
	inv, err := b.createWith(invoice.CreateParams{
		MerchantID: b.merchant, Mode: invoice.ModeTest, Amount: amount, Currency: "USD", Description: "Tea, 2 × 50 g",
		PaymentMethods: methods,
	}, true)
	if err != nil {
		b.t.Fatalf("create invoice: %v", err)
	}
	for _, in := range inv.Instructions {
		if in.Method == "usdc_solana_devnet" {
			r, err := solanapay.Parse(in.URI)
			if err != nil {
				b.t.Fatalf("instruction URI %q: %v", in.URI, err)
			}
			return inv, in, r
		}
	}
	b.t.Fatalf("no Solana instruction: %+v", inv.Instructions)
	return inv, invoice.Instruction{}, solanapay.Request{}
}

// TestSolanaLedger covers what the Solana watcher relies on: receiving
// wallets, Solana Pay instructions with a stored reference, matching by
// reference before amount, and signature cursors.
func TestSolanaLedger(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		if _, err := b.ledger.CreateAccount(b.ctx, chains.AccountParams{MerchantID: b.merchant, Mode: invoice.ModeTest,
			Network: "solana_devnet", XPub: testXPub}); validationCode(err) != "xpub/invalid_receiving_account" {
			t.Errorf("xpub on Solana: %v", err)
		}
		if _, err := b.ledger.CreateAccount(b.ctx, chains.AccountParams{MerchantID: b.merchant, Mode: invoice.ModeLive,
			Network: "solana_devnet", Address: solanaWallet}); validationCode(err) != "network/invalid_network" {
			t.Errorf("devnet wallet in live mode: %v", err)
		}
		acc := b.account(b.merchant, "solana_devnet", solanaWallet, "")
		if acc.Kind != chains.AccountAddress || acc.Address != solanaWallet {
			t.Fatalf("account %+v", acc)
		}
		ws, err := b.ledger.Wallets(b.ctx, "solana_devnet")
		if err != nil || len(ws) != 1 || ws[0].Address != solanaWallet || !ws[0].Since.Equal(acc.CreatedAt) {
			t.Fatalf("wallets %+v, %v", ws, err)
		}

		first, firstIn, firstReq := b.solanaInvoice("10.00")
		second, secondIn, secondReq := b.solanaInvoice("10.00")
		if firstIn.Address != solanaWallet || firstIn.Token != devnetUSDC || firstIn.AmountUnits != "10000001" ||
			firstIn.Amount != "10.000001" || firstIn.URI != mustEncode(t, firstReq) {
			t.Errorf("instruction %+v", firstIn)
		}
		if firstReq.Recipient != solanaWallet || firstReq.Amount != "10.000001" || firstReq.SPLToken != devnetUSDC ||
			firstReq.Label != "Shop" || firstReq.Message != "Tea, 2 × 50 g" || firstReq.Memo != first.ID || len(firstReq.References) != 1 {
			t.Errorf("request %+v", firstReq)
		}
		if secondIn.AmountUnits != "10000002" || secondReq.References[0] == firstReq.References[0] {
			t.Errorf("second invoice shares the amount or reference: %+v %+v", secondIn, secondReq)
		}
		if _, err := solana.PublicKeyFromBase58(firstReq.References[0]); err != nil {
			t.Errorf("reference %s: %v", firstReq.References[0], err)
		}

		pay := func(sig string, units int64, refs ...string) chains.Transfer {
			return chains.Transfer{Network: "solana_devnet", Token: devnetUSDC, TxID: sig, Index: 2, Block: 1000,
				From: "8fusVwhgo4oS1fGpZKeRaXrJXQk9auKnAgcj9A97wR3t", To: solanaWallet, Amount: invoice.NewUnits(units),
				Status: invoice.PaymentConfirmed, ObservedAt: b.clock.Now(), References: append(refs, solanaWallet, devnetUSDC)}
		}
		// The second invoice's reference with the first's exact amount: the
		// reference decides.
		b.record(pay("sig1", 10_000_001, secondReq.References[0]))
		if ps := b.payments(second.ID); len(ps) != 1 || len(b.payments(first.ID)) != 0 {
			t.Errorf("payment by reference went to the wrong invoice: second %+v", ps)
		}
		// Recorded again (the signature delivered twice): once.
		b.record(pay("sig1", 10_000_001, secondReq.References[0]))
		if ps := b.payments(second.ID); len(ps) != 1 {
			t.Errorf("%d payments after a duplicate", len(ps))
		}
		// No reference: the amount decides.
		b.record(pay("sig2", 10_000_001))
		if ps := b.payments(first.ID); len(ps) != 1 {
			t.Errorf("payment by amount: %+v", ps)
		}
		// A reference issued for another wallet does not count: kept as
		// unmatched (no amount matches either).
		other := pay("sig3", 123_000_000, firstReq.References[0])
		other.To = "8fusVwhgo4oS1fGpZKeRaXrJXQk9auKnAgcj9A97wR3t"
		b.record(other)
		if ps := b.payments(first.ID); len(ps) != 1 {
			t.Errorf("reference honoured for another recipient: %+v", ps)
		}

		// Cursors.
		if _, ok, err := b.ledger.Cursor(b.ctx, "solana_devnet", "ata"); ok || err != nil {
			t.Errorf("cursor before any read: %v, %v", ok, err)
		}
		for _, c := range []chains.SignatureCursor{{Signature: "s1", Slot: 10}, {Signature: "s2", Slot: 12}} {
			c.Network, c.Account = "solana_devnet", "ata"
			if err := b.ledger.MoveCursor(b.ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if c, ok, err := b.ledger.Cursor(b.ctx, "solana_devnet", "ata"); !ok || err != nil || c.Signature != "s2" || c.Slot != 12 {
			t.Errorf("cursor %+v, %v, %v", c, ok, err)
		}
	})
}

func mustEncode(t *testing.T, r solanapay.Request) string {
	t.Helper()
	s, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTxURL(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"solana":        "https://explorer.solana.com/tx/abc",
		"solana_devnet": "https://explorer.solana.com/tx/abc?cluster=devnet",
		"base":          "https://basescan.org/tx/abc",
		"devnet":        "",
	} {
		n, _ := chains.NetworkByID(id)
		if got := n.TxURL("abc"); got != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
}
