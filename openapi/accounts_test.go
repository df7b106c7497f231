package openapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// devXPub is the account key m/44'/60'/0' of the Hardhat and Anvil
// development mnemonic; devAddresses are its receive addresses 0/0, 0/1 and
// 0/2, the first accounts every Ethereum developer knows.
const devXPub = "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP"

var devAddresses = []string{
	"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
	"0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
	"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
}

// bip32Vector1XPrv is the private master key of BIP32 test vector 1: a
// private key that must never be taken.
const bip32Vector1XPrv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"

// eip55Address is an EIP-55 test vector; the API gets it in lower and upper
// case and must answer with this spelling.
const eip55Address = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"

// Tokens and chain ids of the test networks, as the presets have them.
const (
	usdcSepolia     = "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"
	usdcBaseSepolia = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
	devnetToken     = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
)

func TestReceivingAccountAddress(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		_, key := e.otherMerchant()
		const path = "/api/v1/receiving-accounts"
		if ids := e.accountIDs(key); len(ids) != 0 {
			t.Fatalf("a new merchant has accounts %v", ids)
		}

		acct := e.mustStatus(e.do("POST", path, key, map[string]any{
			"network": "base_sepolia", "address": strings.ToLower(eip55Address),
		}), http.StatusCreated).JSON
		id := str(t, acct, "id")
		if !strings.HasPrefix(id, "rac_") || len(id) != len("rac_")+26 {
			t.Errorf("id %q, want rac_ and 26 characters", id)
		}
		for field, want := range map[string]any{
			"object": "receiving_account", "mode": "test", "network": "base_sepolia",
			"kind": "address", "address": eip55Address, "next_index": float64(0),
		} {
			if acct[field] != want {
				t.Errorf("%s = %#v, want %#v", field, acct[field], want)
			}
		}
		if _, ok := acct["xpub"]; ok {
			t.Errorf("an address account has an xpub: %s", acct)
		}
		parseTime(t, acct, "created_at")

		if ids := e.accountIDs(key); !slices.Equal(ids, []string{id}) {
			t.Errorf("list %v, want [%s]", ids, id)
		}
		got := e.mustStatus(e.do("GET", path+"/"+id, key, nil), http.StatusOK).JSON
		if !equalJSON(got, acct) {
			t.Errorf("GET %s = %v, created %v", id, got, acct)
		}
		// Another merchant, or the other mode, does not see it.
		e.wantProblem(e.do("GET", path+"/"+id, e.key, nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.do("DELETE", path+"/"+id, e.key, nil), http.StatusNotFound, "not_found")
		if ids := e.accountIDs(e.key); slices.Contains(ids, id) {
			t.Errorf("the env merchant's list %v holds the other merchant's account", ids)
		}

		// One active account a network and mode, whatever its kind.
		for _, body := range []map[string]any{
			{"network": "base_sepolia", "address": merchantAddress},
			{"network": "base_sepolia", "xpub": devXPub},
		} {
			e.wantProblem(e.do("POST", path, key, body), http.StatusConflict, "receiving_account_exists")
		}
		if ids := e.accountIDs(key); !slices.Equal(ids, []string{id}) {
			t.Errorf("after the refused second account: list %v, want [%s]", ids, id)
		}

		// New invoices get the account's method, with the unique amount.
		inv := e.createInvoiceWith(key, map[string]any{"amount": "25.00", "currency": "USD"})
		if !slices.Equal(inv["payment_methods"].([]any), []any{"sandbox", "usdc_base_sepolia"}) {
			t.Errorf("payment_methods %v, want [sandbox usdc_base_sepolia]", inv["payment_methods"])
		}
		ins := instructions(t, inv)
		if len(ins) != 1 || ins[0]["address"] != eip55Address || ins[0]["amount_units"] != "25000001" {
			t.Errorf("payment_instructions %v, want one to %s of 25000001", ins, eip55Address)
		}

		del := e.mustStatus(e.do("DELETE", path+"/"+id, key, nil), http.StatusOK).JSON
		if want := map[string]any{"id": id, "object": "receiving_account", "deleted": true}; !equalJSON(del, want) {
			t.Errorf("DELETE = %v, want %v", del, want)
		}
		e.wantProblem(e.do("GET", path+"/"+id, key, nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.do("DELETE", path+"/"+id, key, nil), http.StatusNotFound, "not_found")
		if ids := e.accountIDs(key); len(ids) != 0 {
			t.Errorf("list after delete %v, want none", ids)
		}
		// New invoices no longer use it; the invoice made before keeps its
		// instructions.
		after := e.createInvoiceWith(key, map[string]any{"amount": "25.00", "currency": "USD"})
		if !slices.Equal(after["payment_methods"].([]any), []any{"sandbox"}) || len(instructions(t, after)) != 0 {
			t.Errorf("invoice after delete: methods %v, instructions %v; want [sandbox] and none", after["payment_methods"], after["payment_instructions"])
		}
		old := e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, inv, "id"), key, nil), http.StatusOK).JSON
		if !equalJSON(old["payment_instructions"], inv["payment_instructions"]) {
			t.Errorf("instructions of the earlier invoice changed to %v", old["payment_instructions"])
		}

		// The network is free again; an all-upper-case address carries no
		// checksum and is taken as well.
		again := e.mustStatus(e.do("POST", path, key, map[string]any{
			"network": "base_sepolia", "address": "0x" + strings.ToUpper(eip55Address[2:]),
		}), http.StatusCreated).JSON
		if again["id"] == id || again["address"] != eip55Address {
			t.Errorf("account made again: %v, want a new id and address %s", again, eip55Address)
		}
		if ids := e.accountIDs(key); !slices.Equal(ids, []string{str(t, again, "id")}) {
			t.Errorf("list %v, want [%s]", ids, again["id"])
		}
	})
}

func TestReceivingAccountXPub(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		_, key := e.otherMerchant()
		const path = "/api/v1/receiving-accounts"
		acct := e.mustStatus(e.do("POST", path, key, map[string]any{"network": "sepolia", "xpub": devXPub}), http.StatusCreated).JSON
		id := str(t, acct, "id")
		for field, want := range map[string]any{
			"object": "receiving_account", "mode": "test", "network": "sepolia",
			"kind": "xpub", "xpub": devXPub, "next_index": float64(0),
		} {
			if acct[field] != want {
				t.Errorf("%s = %#v, want %#v", field, acct[field], want)
			}
		}
		if _, ok := acct["address"]; ok {
			t.Errorf("an xpub account has an address: %s", acct)
		}
		e.wantProblem(e.do("POST", path, key, map[string]any{"network": "sepolia", "address": eip55Address}),
			http.StatusConflict, "receiving_account_exists")

		nextIndex := func() float64 {
			t.Helper()
			n, _ := e.mustStatus(e.do("GET", path+"/"+id, key, nil), http.StatusOK).JSON["next_index"].(float64)
			return n
		}
		// Each invoice gets the next derived address and the invoice's
		// amount exactly: the address alone tells invoices apart.
		for i, addr := range devAddresses[:2] {
			inv := e.createInvoiceWith(key, map[string]any{"amount": "12.34", "currency": "USD", "payment_methods": []string{"usdc_sepolia"}})
			if !slices.Equal(inv["payment_methods"].([]any), []any{"sandbox", "usdc_sepolia"}) {
				t.Errorf("invoice %d: payment_methods %v", i, inv["payment_methods"])
			}
			ins := instructions(t, inv)
			if len(ins) != 1 {
				t.Fatalf("invoice %d: %d instructions, want 1: %v", i, len(ins), ins)
			}
			want := map[string]any{
				"method": "usdc_sepolia", "network": "sepolia", "asset": "USDC", "token": usdcSepolia,
				"chain_id": float64(11155111), "address": addr, "amount": "12.340000", "amount_units": "12340000",
				"confirmations": float64(3),
				"uri":           "ethereum:" + usdcSepolia + "@11155111/transfer?address=" + addr + "&uint256=12340000",
			}
			if !equalJSON(ins[0], want) {
				t.Errorf("invoice %d: instruction\n got %v\nwant %v", i, ins[0], want)
			}
			if n := nextIndex(); n != float64(i+1) {
				t.Errorf("after invoice %d: next_index %v, want %d", i, n, i+1)
			}
		}

		// The key given again after a delete goes on where it stopped: a
		// derived address is never given out twice.
		e.mustStatus(e.do("DELETE", path+"/"+id, key, nil), http.StatusOK)
		acct = e.mustStatus(e.do("POST", path, key, map[string]any{"network": "sepolia", "xpub": devXPub}), http.StatusCreated).JSON
		id = str(t, acct, "id")
		if acct["next_index"] != float64(2) {
			t.Errorf("re-added key: next_index %v, want 2", acct["next_index"])
		}
		inv := e.createInvoiceWith(key, map[string]any{"amount": "12.34", "currency": "USD", "payment_methods": []string{"usdc_sepolia"}})
		if ins := instructions(t, inv); len(ins) != 1 || ins[0]["address"] != devAddresses[2] {
			t.Errorf("invoice after re-adding the key: instructions %v, want address %s", ins, devAddresses[2])
		}
	})
}

// TestReceivingAccountBadInput sends every kind of bad account the API must
// refuse and checks that each gets its problem, located at its field, and
// that nothing is stored.
func TestReceivingAccountBadInput(t *testing.T) {
	t.Parallel()
	valid := "0x" + strings.ToLower(eip55Address[2:])
	// One letter of a checksummed address in the wrong case.
	badChecksum := "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	type testCase struct {
		name     string
		body     any
		key      func(e *env) string // default the other merchant's test key
		code     string
		location string // of errors[0]
		mention  string // the detail must contain it
	}
	cases := []testCase{
		{name: "unknown network", body: map[string]any{"network": "nowhere", "address": valid}, code: "invalid_network", location: "body.network", mention: "network"},
		{name: "sandbox network", body: map[string]any{"network": "sandbox", "address": valid}, code: "invalid_network", location: "body.network", mention: "network"},
		{name: "EVM address on a solana network", body: map[string]any{"network": "solana_devnet", "address": valid}, code: "invalid_address", location: "body.address", mention: "Solana public key"},
		{name: "solana token account", body: map[string]any{"network": "solana_devnet", "address": "H51DXRt3ubThhdhNeDMScfkbC5X4AWzYfHaZS3JKEfPh"}, code: "invalid_address", location: "body.address", mention: "not a wallet"},
		{name: "xpub on a solana network", body: map[string]any{"network": "solana_devnet", "xpub": "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP"}, code: "invalid_receiving_account", location: "body.xpub", mention: "wallet address"},
		{name: "live network with a test key", body: map[string]any{"network": "base", "address": valid}, code: "invalid_network", location: "body.network", mention: "live"},
		{name: "test network with a live key", body: map[string]any{"network": "base_sepolia", "address": valid}, code: "invalid_network", location: "body.network", mention: "test",
			key: func(e *env) string { return e.liveKey() }},
		{name: "address with a bad checksum", body: map[string]any{"network": "sepolia", "address": badChecksum}, code: "invalid_address", location: "body.address", mention: "checksum"},
		{name: "address not hex", body: map[string]any{"network": "sepolia", "address": "0x" + strings.Repeat("g", 40)}, code: "invalid_address", location: "body.address", mention: "address"},
		{name: "address too short", body: map[string]any{"network": "sepolia", "address": valid[:41]}, code: "invalid_address", location: "body.address", mention: "address"},
		{name: "address too long", body: map[string]any{"network": "sepolia", "address": valid + "0"}, code: "invalid_address", location: "body.address", mention: "address"},
		{name: "address without 0x", body: map[string]any{"network": "sepolia", "address": "00" + valid[2:]}, code: "invalid_address", location: "body.address", mention: "address"},
		{name: "address with spaces", body: map[string]any{"network": "sepolia", "address": " " + valid}, code: "invalid_address", location: "body.address", mention: "address"},
		{name: "zero address", body: map[string]any{"network": "sepolia", "address": "0x" + strings.Repeat("0", 40)}, code: "invalid_address", location: "body.address", mention: "zero"},
		{name: "private key", body: map[string]any{"network": "sepolia", "xpub": bip32Vector1XPrv}, code: "invalid_xpub", location: "body.xpub", mention: "private key"},
		{name: "garbage xpub", body: map[string]any{"network": "sepolia", "xpub": "not-an-xpub"}, code: "invalid_xpub", location: "body.xpub", mention: "xpub"},
		{name: "xpub with a typo", body: map[string]any{"network": "sepolia", "xpub": devXPub[:100] + "A" + devXPub[101:]}, code: "invalid_xpub", location: "body.xpub", mention: "checksum"},
		{name: "truncated xpub", body: map[string]any{"network": "sepolia", "xpub": devXPub[:100]}, code: "invalid_xpub", location: "body.xpub", mention: "xpub"},
		{name: "address and xpub", body: map[string]any{"network": "sepolia", "address": valid, "xpub": devXPub}, code: "invalid_receiving_account", location: "body.address", mention: "not both"},
		{name: "neither address nor xpub", body: map[string]any{"network": "sepolia"}, code: "invalid_receiving_account", location: "body.address", mention: "address"},
		{name: "address over 64 characters", body: map[string]any{"network": "sepolia", "address": valid + strings.Repeat("0", 30)}, code: "invalid_address", location: "body.address", mention: "address"},
		{name: "xpub over 128 characters", body: map[string]any{"network": "sepolia", "xpub": devXPub + strings.Repeat("x", 30)}, code: "invalid_xpub", location: "body.xpub", mention: "xpub"},
		{name: "private key with trailing space over 128 characters", body: map[string]any{"network": "sepolia", "xpub": bip32Vector1XPrv + strings.Repeat(" ", 20)}, code: "invalid_xpub", location: "body.xpub", mention: "xpub"},
		{name: "network missing", body: map[string]any{"address": valid}, code: "invalid_network", location: "body.network", mention: "network"},
		{name: "network over 32 characters", body: map[string]any{"network": strings.Repeat("n", 33), "address": valid}, code: "invalid_network", location: "body.network", mention: "network"},
		{name: "unknown field", body: map[string]any{"network": "sepolia", "address": valid, "label": "main"}, code: "unknown_field", location: "body.label", mention: "label"},
	}
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		otherID, otherKey := e.otherMerchant()
		// The merchant has an account already, so that "nothing stored"
		// compares against something.
		e.mustStatus(e.do("POST", "/api/v1/receiving-accounts", otherKey,
			map[string]any{"network": "base_sepolia", "address": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"}), http.StatusCreated)
		listed := e.accountIDs(otherKey)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				defer func() { e.t = nil }()
				key := otherKey
				if tc.key != nil {
					key = tc.key(e)
				}
				listedBefore := e.accountIDs(key)
				// Once without and once with an Idempotency-Key: a refused
				// request must not leave its key behind either.
				for _, idem := range [][]string{nil, {"Idempotency-Key", fmt.Sprintf("bad-account-%d", i)}} {
					rows, keys := e.rowCount("receiving_accounts"), e.rowCount("idempotency_keys")
					r := e.do("POST", "/api/v1/receiving-accounts", key, tc.body, idem...)
					t.Logf("%s", r.Raw)
					e.wantProblem(r, http.StatusUnprocessableEntity, tc.code)
					if locs := locations(r); len(locs) == 0 || locs[0] != tc.location {
						t.Errorf("errors located at %v, want %s first", locs, tc.location)
					}
					if detail, _ := r.JSON["detail"].(string); !strings.Contains(detail, tc.mention) {
						t.Errorf("detail %q does not mention %q", detail, tc.mention)
					}
					if strings.Contains(string(r.Raw), bip32Vector1XPrv[4:]) {
						t.Errorf("the answer repeats the private key: %s", r.Raw)
					}
					if got := e.rowCount("receiving_accounts"); got != rows {
						t.Errorf("receiving_accounts rows %d, before %d", got, rows)
					}
					if got := e.rowCount("idempotency_keys"); got != keys {
						t.Errorf("idempotency_keys rows %d, before %d", got, keys)
					}
					if got := e.accountIDs(key); !slices.Equal(got, listedBefore) {
						t.Errorf("list %v, before %v", got, listedBefore)
					}
				}
			})
		}
		e.t = t

		// A read key lists and reads accounts but cannot add or delete one.
		readKey := e.newKey(otherID, invoice.ModeTest, invoice.ScopeRead)
		rows := e.rowCount("receiving_accounts")
		e.wantProblem(e.do("POST", "/api/v1/receiving-accounts", readKey,
			map[string]any{"network": "sepolia", "address": eip55Address}), http.StatusForbidden, "insufficient_scope")
		if got := e.accountIDs(readKey); !slices.Equal(got, listed) {
			t.Errorf("read key lists %v, want %v", got, listed)
		}
		e.mustStatus(e.do("GET", "/api/v1/receiving-accounts/"+listed[0], readKey, nil), http.StatusOK)
		e.wantProblem(e.do("DELETE", "/api/v1/receiving-accounts/"+listed[0], readKey, nil), http.StatusForbidden, "insufficient_scope")
		e.mustStatus(e.do("GET", "/api/v1/unmatched-payments", readKey, nil), http.StatusOK)
		if got := e.rowCount("receiving_accounts"); got != rows {
			t.Errorf("receiving_accounts rows %d after the read key's writes, before %d", got, rows)
		}
		if got := e.accountIDs(otherKey); !slices.Equal(got, listed) {
			t.Errorf("list %v after every refused request, want %v", got, listed)
		}
	})
}

// TestInvoiceInstructions checks what invoices of a merchant with an address
// account on every network tell the payor: one instruction per EVM method,
// to the address, with an amount unique among open invoices.
func TestInvoiceInstructions(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		evm := []string{"usdc_sepolia", "usdc_base_sepolia", "usdc_polygon_amoy", "usdc_arbitrum_sepolia", "usdc_devnet"}
		want := map[string]struct {
			network, token string
			chainID        int64
			confirmations  int
		}{
			"usdc_sepolia":          {"sepolia", usdcSepolia, 11155111, 3},
			"usdc_base_sepolia":     {"base_sepolia", usdcBaseSepolia, 84532, 3},
			"usdc_polygon_amoy":     {"polygon_amoy", "0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582", 80002, 3},
			"usdc_arbitrum_sepolia": {"arbitrum_sepolia", "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d", 421614, 3},
			"usdc_devnet":           {"devnet", devnetToken, 1337, 1},
		}
		check := func(inv map[string]any, units string) {
			t.Helper()
			if got := inv["payment_methods"].([]any); !slices.Equal(got, toAny(append([]string{"sandbox"}, evm...))) {
				t.Errorf("payment_methods %v, want sandbox and %v", got, evm)
			}
			ins := instructions(t, inv)
			if len(ins) != len(evm) {
				t.Fatalf("%d instructions, want %d: %v", len(ins), len(evm), ins)
			}
			n, _ := strconv.ParseInt(units, 10, 64)
			amount := fmt.Sprintf("%d.%06d", n/1_000_000, n%1_000_000)
			for i, m := range evm {
				w := want[m]
				exp := map[string]any{
					"method": m, "network": w.network, "asset": "USDC", "token": w.token, "chain_id": float64(w.chainID),
					"address": merchantAddress, "amount": amount, "amount_units": units, "confirmations": float64(w.confirmations),
					"uri": fmt.Sprintf("ethereum:%s@%d/transfer?address=%s&uint256=%s", w.token, w.chainID, merchantAddress, units),
				}
				if !equalJSON(ins[i], exp) {
					t.Errorf("instruction %d\n got %v\nwant %v", i, ins[i], exp)
				}
			}
		}
		body := map[string]any{"amount": "25.00", "currency": "USD"}
		first := e.createInvoice(body)
		check(first, "25000001")
		check(e.createInvoice(body), "25000002")
		// The code is free on the whole address, not only for the amount, so
		// that a partial payment is still told apart by its last digits.
		check(e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD"}), "10000003")
		// What is stored is what was answered.
		got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, first, "id"), e.key, nil), http.StatusOK).JSON
		if !equalJSON(got["payment_instructions"], first["payment_instructions"]) {
			t.Errorf("GET payment_instructions %v, created %v", got["payment_instructions"], first["payment_instructions"])
		}
		// The sandbox alone needs no instruction.
		sandbox := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{"sandbox"}})
		if len(instructions(t, sandbox)) != 0 {
			t.Errorf("sandbox invoice has instructions %v", sandbox["payment_instructions"])
		}
		// Choosing one method gives that instruction only.
		one := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{"usdc_base_sepolia"}})
		if ins := instructions(t, one); len(ins) != 1 || ins[0]["method"] != "usdc_base_sepolia" || ins[0]["amount_units"] != "25000004" {
			t.Errorf("one method: instructions %v, want usdc_base_sepolia of 25000004", ins)
		}
	})
}

func TestInvoiceInstructionsIdempotent(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		body := map[string]any{"amount": "25.00", "currency": "USD"}
		first := e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, body, "Idempotency-Key", "order-7"), http.StatusCreated)
		replay := e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, body, "Idempotency-Key", "order-7"), http.StatusCreated)
		if replay.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("second create not replayed: headers %v", replay.Header)
		}
		if replay.JSON["id"] != first.JSON["id"] || !equalJSON(replay.JSON["payment_instructions"], first.JSON["payment_instructions"]) {
			t.Errorf("replay %s\nfirst %s", replay.Raw, first.Raw)
		}
		for _, in := range instructions(t, first.JSON) {
			if in["amount_units"] != "25000001" {
				t.Errorf("first invoice: %v of %v, want 25000001", in["method"], in["amount_units"])
			}
		}
		// The replay took no unique amount: the next invoice has the second.
		for _, in := range instructions(t, e.createInvoice(body)) {
			if in["amount_units"] != "25000002" {
				t.Errorf("next invoice: %v of %v, want 25000002", in["method"], in["amount_units"])
			}
		}
		if n := e.rowCount("deposits"); n != 2*5 {
			t.Errorf("%d deposits, want 2 invoices × 5 networks", n)
		}
	})
}

func TestInvoiceWithoutReceivingAccount(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		_, key := e.otherMerchant()
		inv := e.createInvoiceWith(key, map[string]any{"amount": "25.00", "currency": "USD"})
		if !slices.Equal(inv["payment_methods"].([]any), []any{"sandbox"}) || len(instructions(t, inv)) != 0 {
			t.Errorf("methods %v, instructions %v; want [sandbox] and none", inv["payment_methods"], inv["payment_instructions"])
		}
		for _, methods := range [][]string{{"usdc_base_sepolia"}, {"sandbox", "usdc_base_sepolia"}} {
			before := e.counts()
			r := e.do("POST", "/api/v1/invoices", key, map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": methods})
			e.wantProblem(r, http.StatusUnprocessableEntity, "receiving_account_missing")
			if locs := locations(r); len(locs) == 0 || locs[0] != "body.payment_methods" {
				t.Errorf("%v: errors located at %v, want body.payment_methods", methods, locs)
			}
			if detail, _ := r.JSON["detail"].(string); !strings.Contains(detail, "base_sepolia") {
				t.Errorf("%v: detail %q does not name base_sepolia", methods, detail)
			}
			if after := e.counts(); after.String() != before.String() {
				t.Errorf("%v: store changed: before %v, after %v", methods, before, after)
			}
		}
		if n := e.rowCount("deposits"); n != 0 {
			t.Errorf("%d deposits after refused invoices, want 0", n)
		}
	})
}

func TestListNetworks(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		// list returns the networks key sees, by id, and their ids in order.
		list := func(key string) (map[string]map[string]any, []string) {
			t.Helper()
			r := e.mustStatus(e.do("GET", "/api/v1/networks", key, nil), http.StatusOK).JSON
			if r["object"] != "list" {
				t.Errorf("object %v, want list", r["object"])
			}
			byID := map[string]map[string]any{}
			var ids []string
			for _, v := range r["data"].([]any) {
				n := v.(map[string]any)
				ids = append(ids, str(t, n, "id"))
				byID[str(t, n, "id")] = n
			}
			return byID, ids
		}
		check := func(nets map[string]map[string]any, ids []string, mode string, want []string) {
			t.Helper()
			if !slices.Equal(ids, want) {
				t.Errorf("%s networks %v, want %v", mode, ids, want)
			}
			for _, id := range want {
				n := nets[id]
				if n == nil {
					continue
				}
				kind := str(t, n, "kind")
				if n["object"] != "network" || n["mode"] != mode || str(t, n, "name") == "" {
					t.Errorf("%s: %v", id, n)
				}
				// Every EVM network has an endpoint here, the sandbox and
				// the rails need none; no Solana cluster is configured.
				if offered := n["offered"].(bool); offered != (kind != "solana") {
					t.Errorf("%s (%s): offered %v", id, kind, offered)
				}
				if (kind == "evm") != (n["chain_id"] != nil) {
					t.Errorf("%s (%s): chain_id %v", id, kind, n["chain_id"])
				}
				methods, _ := n["methods"].([]any)
				if len(methods) == 0 {
					t.Errorf("%s has no methods", id)
				}
				for _, v := range methods {
					m := v.(map[string]any)
					token, _ := m["token"].(string)
					if kind == "sandbox" {
						if m["id"] != "sandbox" || token != "" {
							t.Errorf("sandbox method %v", m)
						}
						continue
					}
					if kind == "rail" {
						// A rail settles its own currency: USD in cents, IDR in rupiah.
						if token != "" || m["asset"] == "USD" && m["decimals"] != float64(2) || m["asset"] == "IDR" && m["decimals"] != float64(0) {
							t.Errorf("rail method %v", m)
						}
						continue
					}
					if token == "" || m["decimals"] != float64(6) || m["asset"] != "USDC" && m["asset"] != "USDT" ||
						m["id"] != strings.ToLower(fmtAny(m["asset"]))+"_"+id || str(t, m, "label") == "" {
						t.Errorf("%s method %v", id, m)
					}
				}
			}
		}

		test, ids := list(e.key)
		check(test, ids, "test", []string{"sandbox", "sepolia", "base_sepolia", "polygon_amoy", "arbitrum_sepolia", "devnet", "solana_devnet", "fednow", "rtp", "ach", "push_to_card", "qris"})
		if n := test["sepolia"]; n["chain_id"] != float64(11155111) || n["confirmations"] != float64(3) || n["name"] != "Sepolia" {
			t.Errorf("sepolia %v", n)
		}
		if n := test["devnet"]; n != nil {
			if m := n["methods"].([]any); len(m) != 1 || m[0].(map[string]any)["token"] != devnetToken || m[0].(map[string]any)["id"] != "usdc_devnet" {
				t.Errorf("devnet methods %v, want usdc_devnet with token %s", m, devnetToken)
			}
		}
		if n := test["base_sepolia"]; n != nil {
			if m := n["methods"].([]any); len(m) != 1 || m[0].(map[string]any)["token"] != usdcBaseSepolia {
				t.Errorf("base_sepolia methods %v", m)
			}
		}

		live, ids := list(e.liveKey())
		check(live, ids, "live", []string{"ethereum", "base", "polygon", "arbitrum", "solana", "fednow", "rtp", "ach", "push_to_card", "qris"})
		if m := live["ethereum"]["methods"].([]any); len(m) != 2 {
			t.Errorf("ethereum methods %v, want usdc and usdt", m)
		}
	})
}

func TestUnmatchedPaymentsEmpty(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		r := e.mustStatus(e.do("GET", "/api/v1/unmatched-payments", e.key, nil), http.StatusOK)
		if r.JSON["object"] != "list" || r.JSON["has_more"] != false || !strings.Contains(string(r.Raw), `"data":[]`) {
			t.Errorf("unmatched payments %s, want an empty list", r.Raw)
		}
		e.wantProblem(e.do("GET", "/api/v1/unmatched-payments?limit=0", e.key, nil), http.StatusUnprocessableEntity, "invalid_limit")
		e.wantProblem(e.do("GET", "/api/v1/unmatched-payments", "", nil), http.StatusUnauthorized, "unauthenticated")
	})
}

func TestReadyzWithoutMonitor(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		r := e.mustStatus(e.do("GET", "/readyz", "", nil), http.StatusOK)
		if !equalJSON(r.JSON, map[string]any{"status": "ready"}) || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("/readyz %s (%s), want exactly {\"status\":\"ready\"}", r.Raw, r.Header.Get("Content-Type"))
		}
	})
}

// accountIDs lists the ids of the receiving accounts key sees.
func (e *env) accountIDs(key string) []string {
	e.t.Helper()
	r := e.mustStatus(e.do("GET", "/api/v1/receiving-accounts", key, nil), http.StatusOK).JSON
	if r["object"] != "list" {
		e.t.Errorf("object %v, want list", r["object"])
	}
	data, ok := r["data"].([]any)
	if !ok {
		e.t.Fatalf("data is %T, want a list", r["data"])
	}
	ids := []string{}
	for _, v := range data {
		ids = append(ids, str(e.t, v.(map[string]any), "id"))
	}
	return ids
}

// rowCount counts the rows of table, every merchant's.
func (e *env) rowCount(table string) int64 {
	e.t.Helper()
	n, err := e.db.NewSelect().TableExpr(table).Count(context.Background())
	if err != nil {
		e.t.Fatalf("count %s: %v", table, err)
	}
	return int64(n)
}

// instructions returns an invoice's payment_instructions.
func instructions(t *testing.T, inv map[string]any) []map[string]any {
	t.Helper()
	list, ok := inv["payment_instructions"].([]any)
	if !ok {
		t.Fatalf("payment_instructions is %T, want a list", inv["payment_instructions"])
	}
	out := make([]map[string]any, len(list))
	for i, v := range list {
		out[i] = v.(map[string]any)
	}
	return out
}

// locations returns the location of each error of a problem.
func locations(r response) []string {
	var out []string
	errs, _ := r.JSON["errors"].([]any)
	for _, v := range errs {
		d, _ := v.(map[string]any)
		loc, _ := d["location"].(string)
		out = append(out, loc)
	}
	return out
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
