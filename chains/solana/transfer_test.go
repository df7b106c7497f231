package solana

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// fixture decodes a recorded getTransaction (jsonParsed) response.
func fixture(t *testing.T, file string) *rpc.GetParsedTransactionResult {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Result *rpc.GetParsedTransactionResult
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	return env.Result
}

// TestTransferValidation checks the rules of Solana Pay's validateTransfer
// on a real mainnet USDC transfer and on variations of it.
func TestTransferValidation(t *testing.T) {
	t.Parallel()
	usdc := solana.MustPublicKeyFromBase58("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
	wallet := solana.MustPublicKeyFromBase58("3i476kTBBTy7pBGx4CXwJpJ6phuwLQgcwLTdHhU3c7ui")
	ata, _, _ := solana.FindAssociatedTokenAddress(wallet, usdc)
	payer := solana.MustPublicKeyFromBase58("8fusVwhgo4oS1fGpZKeRaXrJXQk9auKnAgcj9A97wR3t")
	payerATA := solana.MustPublicKeyFromBase58("9rB2Poc468mPpY9WMUmaqEPsvJah8SpPB8bKqAjjXp5H")
	const file = "getTransaction_usdc_transferChecked_jsonParsed_mainnet.json"

	tr, ok, err := transfer(fixture(t, file), account{wallet: wallet, mint: usdc, ata: ata})
	if err != nil || !ok {
		t.Fatalf("recorded transfer: %v, %v", ok, err)
	}
	if tr.Amount.String() != "1000" || tr.Index != 2 || tr.From != payer.String() || tr.To != wallet.String() ||
		tr.Token != usdc.String() || tr.Block != 184930610 || len(tr.References) != 11 {
		t.Errorf("recorded transfer: %+v", tr)
	}

	for _, tc := range []struct {
		name string
		edit func(tx *rpc.GetParsedTransactionResult)
		a    account
	}{
		{name: "failed", edit: func(tx *rpc.GetParsedTransactionResult) {
			tx.Meta.Err = map[string]any{"InstructionError": []any{1, map[string]any{"Custom": 1}}}
		}},
		{name: "another mint", a: account{wallet: wallet, mint: solana.MustPublicKeyFromBase58("4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"), ata: ata}},
		{name: "not the recipient's token account", a: account{wallet: payer, mint: usdc, ata: solana.MustPublicKeyFromBase58("H51DXRt3ubThhdhNeDMScfkbC5X4AWzYfHaZS3JKEfPi")}},
		{name: "the payor's own account, whose balance fell", a: account{wallet: payer, mint: usdc, ata: payerATA}},
		{name: "balance did not rise", edit: func(tx *rpc.GetParsedTransactionResult) {
			tx.Meta.PostTokenBalances[0].UiTokenAmount.Amount = "0"
		}},
	} {
		tx := fixture(t, file)
		if tc.edit != nil {
			tc.edit(tx)
		}
		if tc.a.ata.IsZero() {
			tc.a = account{wallet: wallet, mint: usdc, ata: ata}
		}
		if tr, ok, err := transfer(tx, tc.a); ok || err != nil {
			t.Errorf("%s: counted as a payment: %+v, %v", tc.name, tr, err)
		}
	}

	tx := fixture(t, file)
	tx.Meta.PostTokenBalances[0].UiTokenAmount.Amount = "1e3"
	if _, _, err := transfer(tx, account{wallet: wallet, mint: usdc, ata: ata}); err == nil {
		t.Error("a token balance that is not a base-unit amount was accepted")
	}
	if _, ok, err := transfer(fixture(t, "getTransaction_sol_transfer_jsonParsed_mainnet.json"), account{wallet: wallet, mint: usdc, ata: ata}); ok || err != nil {
		t.Errorf("SOL transfer: %v, %v", ok, err)
	}
}
