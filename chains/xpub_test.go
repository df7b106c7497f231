package chains

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/crypto"
)

// devMnemonic is the development mnemonic of Hardhat and Anvil; its first
// accounts are known to every Ethereum developer.
const devMnemonic = "test test test test test test test test test test test junk"

// BIP32 test vector 1, chain m (seed 000102030405060708090a0b0c0d0e0f).
const (
	bip32Vector1XPub = "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8"
	bip32Vector1XPrv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
)

// devAccount returns the private extended key m/44'/60'/0' of devMnemonic.
func devAccount(t testing.TB) *hdkeychain.ExtendedKey {
	t.Helper()
	// BIP39: the seed is PBKDF2-HMAC-SHA512 of the mnemonic, salted with
	// "mnemonic" and an empty passphrase.
	seed, err := pbkdf2.Key(sha512.New, devMnemonic, []byte("mnemonic"), 2048, 64)
	if err != nil {
		t.Fatal(err)
	}
	key, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{44, 60, 0} {
		if key, err = key.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			t.Fatal(err)
		}
	}
	return key
}

// neuter returns the base58 extended public key of k with the given version.
func neuter(t testing.TB, k *hdkeychain.ExtendedKey, version []byte) string {
	t.Helper()
	pub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	if pub, err = pub.CloneWithVersion(version); err != nil {
		t.Fatal(err)
	}
	return pub.String()
}

func TestXPubAddressDevMnemonic(t *testing.T) {
	t.Parallel()
	account := devAccount(t)
	want := []string{
		"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
		"0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
		"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
	}
	for _, version := range [][]byte{versionXPub, versionTPub} {
		s := neuter(t, account, version)
		x, err := ParseXPub(s)
		if err != nil {
			t.Fatalf("ParseXPub(%s): %v", s, err)
		}
		if x.String() != s {
			t.Errorf("String() = %s; want %s", x.String(), s)
		}
		if x.Depth() != 3 {
			t.Errorf("Depth() = %d; want 3", x.Depth())
		}
		for i, w := range want {
			got, err := x.Address(uint32(i))
			if err != nil || got != w {
				t.Errorf("%s: Address(%d) = %s, %v; want %s", s[:4], i, got, err, w)
			}
		}
	}
}

// Addresses from the watch-only key match those of the private keys at
// m/44'/60'/0'/0/index, converted by go-ethereum's own PubkeyToAddress.
func TestXPubAddressMatchesPrivateDerivation(t *testing.T) {
	t.Parallel()
	account := devAccount(t)
	x, err := ParseXPub(neuter(t, account, versionXPub))
	if err != nil {
		t.Fatal(err)
	}
	receive, err := account.Derive(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{0, 1, 2, 3, 19, 1000, hdkeychain.HardenedKeyStart - 1} {
		child, err := receive.Derive(i)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := child.ECPrivKey()
		if err != nil {
			t.Fatal(err)
		}
		want := crypto.PubkeyToAddress(priv.ToECDSA().PublicKey).Hex()
		got, err := x.Address(i)
		if err != nil || got != want {
			t.Errorf("Address(%d) = %s, %v; want %s", i, got, err, want)
		}
	}
}

func TestParseXPubBIP32Vector1(t *testing.T) {
	t.Parallel()
	x, err := ParseXPub(bip32Vector1XPub)
	if err != nil {
		t.Fatalf("ParseXPub: %v", err)
	}
	if x.String() != bip32Vector1XPub || x.Depth() != 0 {
		t.Errorf("String() = %s, Depth() = %d; want the input at depth 0", x, x.Depth())
	}
	if _, err := x.Address(0); err != nil {
		t.Errorf("Address(0): %v", err)
	}
	// Surrounding white space, as pasted from a file, is dropped.
	y, err := ParseXPub("  " + bip32Vector1XPub + "\n")
	if err != nil || y.String() != bip32Vector1XPub {
		t.Errorf("ParseXPub with spaces = %s, %v; want %s", y, err, bip32Vector1XPub)
	}
}

func TestParseXPubRefuses(t *testing.T) {
	t.Parallel()
	master, err := hdkeychain.NewKeyFromString(bip32Vector1XPrv)
	if err != nil {
		t.Fatal(err)
	}
	withVersion := func(version []byte, private bool) string {
		k := master
		if !private {
			if k, err = k.Neuter(); err != nil {
				t.Fatal(err)
			}
		}
		if k, err = k.CloneWithVersion(version); err != nil {
			t.Fatal(err)
		}
		return k.String()
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{name: "empty", in: "", wantErr: errXPubEmpty},
		{name: "spaces", in: " \t\n", wantErr: errXPubEmpty},
		{name: "xprv", in: bip32Vector1XPrv, wantErr: errXPubPrivate},
		{name: "xprv with a typo", in: bip32Vector1XPrv[:60] + "z" + bip32Vector1XPrv[61:], wantErr: errXPubPrivate},
		{name: "tprv", in: withVersion(versionTPrv, true), wantErr: errXPubPrivate},
		{name: "yprv", in: withVersion([]byte{0x04, 0x9d, 0x78, 0x78}, true), wantErr: errXPubPrivate},
		{name: "private key data under xpub version", in: withVersion(versionXPub, true), wantErr: errXPubPrivate},
		{name: "ypub", in: withVersion([]byte{0x04, 0x9d, 0x7c, 0xb2}, false), wantErr: errXPubVersion},
		{name: "zpub", in: withVersion([]byte{0x04, 0xb2, 0x47, 0x46}, false), wantErr: errXPubVersion},
		{name: "unknown version", in: withVersion([]byte{0x01, 0x02, 0x03, 0x04}, false), wantErr: errXPubVersion},
		{name: "bad checksum", in: bip32Vector1XPub[:len(bip32Vector1XPub)-1] + "9", wantErr: errXPubChecksum},
		{name: "typo in the middle", in: bip32Vector1XPub[:50] + "z" + bip32Vector1XPub[51:], wantErr: errXPubChecksum},
		{name: "truncated", in: bip32Vector1XPub[:len(bip32Vector1XPub)-4], wantErr: errXPubLength},
		{name: "extra characters", in: bip32Vector1XPub + "zz", wantErr: errXPubLength},
		{name: "not base58", in: bip32Vector1XPub[:10] + "0" + bip32Vector1XPub[11:], wantErr: errXPubBase58},
		{name: "evm address", in: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", wantErr: errXPubBase58},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x, err := ParseXPub(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseXPub(%q) = %v; want %v", tc.in, err, tc.wantErr)
			}
			if x.String() != "" {
				t.Errorf("ParseXPub returned a key with an error")
			}
			if in := strings.TrimSpace(tc.in); in != "" && strings.Contains(err.Error(), in) {
				t.Errorf("error %q repeats the input", err)
			}
		})
	}
}

func TestXPubAddressRefuses(t *testing.T) {
	t.Parallel()
	x, err := ParseXPub(bip32Vector1XPub)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart + 44, 1<<32 - 1} {
		if got, err := x.Address(i); !errors.Is(err, errXPubIndex) {
			t.Errorf("Address(%d) = %s, %v; want %v", i, got, err, errXPubIndex)
		}
	}
	var zero XPub
	if got, err := zero.Address(0); err == nil {
		t.Errorf("zero XPub Address(0) = %s; want an error", got)
	}
	if zero.String() != "" {
		t.Errorf("zero XPub String() = %q; want \"\"", zero.String())
	}
}

func FuzzParseXPub(f *testing.F) {
	f.Add(bip32Vector1XPub)
	f.Add(bip32Vector1XPrv)
	f.Add(bip32Vector1XPub[:len(bip32Vector1XPub)-1] + "9")
	f.Add(neuter(f, devAccount(f), versionTPub))
	f.Add("")
	f.Add("xpub")
	f.Fuzz(func(t *testing.T, s string) {
		x, err := ParseXPub(s)
		if err != nil {
			if x.String() != "" {
				t.Fatalf("ParseXPub(%q) returned a key with error %v", s, err)
			}
			return
		}
		y, err := ParseXPub(x.String())
		if err != nil || y.String() != x.String() {
			t.Fatalf("ParseXPub(%q) = %q, %v; want it to re-parse to itself", x.String(), y.String(), err)
		}
		a, errA := x.Address(0)
		b, errB := y.Address(0)
		if a != b || (errA == nil) != (errB == nil) {
			t.Fatalf("Address(0) differs after re-parse: %s, %v; %s, %v", a, errA, b, errB)
		}
		if errA == nil {
			if _, err := ParseEVMAddress(a); err != nil {
				t.Fatalf("Address(0) = %s, which ParseEVMAddress refuses: %v", a, err)
			}
		}
	})
}
