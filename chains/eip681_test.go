package chains

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

const (
	usdcBase     = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913" // USDC on Base
	anvilAccount = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
)

func TestTransferURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		token   string
		chainID int64
		to      string
		units   *big.Int
		want    string
	}{
		{
			name: "usdc on base", token: usdcBase, chainID: 8453, to: anvilAccount, units: big.NewInt(2_500_000),
			want: "ethereum:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913@8453/transfer?address=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266&uint256=2500000",
		},
		{
			name: "lower-case addresses are checksummed", token: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913", chainID: 1, to: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", units: big.NewInt(1),
			want: "ethereum:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913@1/transfer?address=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266&uint256=1",
		},
		{
			name: "nil units", token: usdcBase, chainID: 84532, to: anvilAccount,
			want: "ethereum:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913@84532/transfer?address=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266&uint256=0",
		},
		{
			name: "max uint256", token: usdcBase, chainID: 1, to: anvilAccount, units: maxUint256,
			want: "ethereum:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913@1/transfer?address=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266&uint256=115792089237316195423570985008687907853269984665640564039457584007913129639935",
		},
		{
			name: "an invalid address is not rewritten", token: usdcBase, chainID: 1, to: "0xnope", units: big.NewInt(1),
			want: "ethereum:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913@1/transfer?address=0xnope&uint256=1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := TransferURI(tc.token, tc.chainID, tc.to, tc.units); got != tc.want {
				t.Errorf("TransferURI = %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseTransferURI(t *testing.T) {
	t.Parallel()
	const prefix = "ethereum:" + usdcBase + "@8453/transfer?"
	tests := []struct {
		name    string
		in      string
		want    string // units in decimal
		wantErr error
	}{
		{name: "plain", in: prefix + "address=" + anvilAccount + "&uint256=2500000", want: "2500000"},
		{name: "parameters swapped", in: prefix + "uint256=2500000&address=" + anvilAccount, want: "2500000"},
		{name: "zero", in: prefix + "address=" + anvilAccount + "&uint256=0", want: "0"},
		{name: "integer exponent", in: prefix + "address=" + anvilAccount + "&uint256=25e5", want: "2500000"},
		{name: "decimal exponent", in: prefix + "address=" + anvilAccount + "&uint256=2.5e6", want: "2500000"},
		{name: "upper-case exponent", in: prefix + "address=" + anvilAccount + "&uint256=2.5E6", want: "2500000"},
		{name: "fraction with trailing zeros", in: prefix + "address=" + anvilAccount + "&uint256=2.500e1", want: "25"},
		{name: "lone zero before point", in: prefix + "address=" + anvilAccount + "&uint256=0.5e1", want: "5"},
		{name: "max uint256", in: prefix + "address=" + anvilAccount + "&uint256=" + maxUint256.String(), want: maxUint256.String()},
		{name: "1e77", in: prefix + "address=" + anvilAccount + "&uint256=1e77", want: "1" + strings.Repeat("0", 77)},

		{name: "not a whole number", in: prefix + "address=" + anvilAccount + "&uint256=2.5e0", wantErr: errURIAmount},
		{name: "decimal without exponent", in: prefix + "address=" + anvilAccount + "&uint256=2.5", wantErr: errURIAmount},
		{name: "negative", in: prefix + "address=" + anvilAccount + "&uint256=-1", wantErr: errURIAmount},
		{name: "plus sign", in: prefix + "address=" + anvilAccount + "&uint256=+1", wantErr: errURIAmount},
		{name: "negative exponent", in: prefix + "address=" + anvilAccount + "&uint256=25e-1", wantErr: errURIAmount},
		{name: "leading zero", in: prefix + "address=" + anvilAccount + "&uint256=007", wantErr: errURIAmount},
		{name: "empty amount", in: prefix + "address=" + anvilAccount + "&uint256=", wantErr: errURIAmount},
		{name: "hex amount", in: prefix + "address=" + anvilAccount + "&uint256=0x10", wantErr: errURIAmount},
		{name: "three-digit exponent", in: prefix + "address=" + anvilAccount + "&uint256=1e100", wantErr: errURIAmount},
		{name: "above uint256", in: prefix + "address=" + anvilAccount + "&uint256=115792089237316195423570985008687907853269984665640564039457584007913129639936", wantErr: errURIRange},
		{name: "1e78", in: prefix + "address=" + anvilAccount + "&uint256=1e78", wantErr: errURIRange},
		{name: "1.2e77", in: prefix + "address=" + anvilAccount + "&uint256=1.2e77", wantErr: errURIRange},

		{name: "missing amount", in: prefix + "address=" + anvilAccount, wantErr: errURIParams},
		{name: "missing address", in: prefix + "uint256=1", wantErr: errURIParams},
		{name: "repeated address", in: prefix + "address=" + anvilAccount + "&address=" + anvilAccount + "&uint256=1", wantErr: errURIParams},
		{name: "extra parameter", in: prefix + "address=" + anvilAccount + "&uint256=1&gas=21000", wantErr: errURIParams},
		{name: "bad recipient checksum", in: prefix + "address=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92267&uint256=1", wantErr: errEVMAddressChecksum},
		{name: "zero recipient", in: prefix + "address=0x0000000000000000000000000000000000000000&uint256=1", wantErr: errEVMAddressZero},
		{name: "bad token", in: "ethereum:0x833589@8453/transfer?address=" + anvilAccount + "&uint256=1", wantErr: errEVMAddressFormat},

		{name: "no chain id", in: "ethereum:" + usdcBase + "/transfer?address=" + anvilAccount + "&uint256=1", wantErr: errURIForm},
		{name: "chain id zero", in: "ethereum:" + usdcBase + "@0/transfer?address=" + anvilAccount + "&uint256=1", wantErr: errURIChainID},
		{name: "chain id leading zero", in: "ethereum:" + usdcBase + "@08453/transfer?address=" + anvilAccount + "&uint256=1", wantErr: errURIChainID},
		{name: "chain id too big", in: "ethereum:" + usdcBase + "@9223372036854775808/transfer?address=" + anvilAccount + "&uint256=1", wantErr: errURIChainID},
		{name: "other function", in: "ethereum:" + usdcBase + "@8453/approve?address=" + anvilAccount + "&uint256=1", wantErr: errURIForm},
		{name: "native transfer", in: "ethereum:" + anvilAccount + "@8453?value=1e18", wantErr: errURIForm},
		{name: "pay prefix", in: "ethereum:pay-" + usdcBase + "@8453/transfer?address=" + anvilAccount + "&uint256=1", wantErr: errEVMAddressFormat},
		{name: "other scheme", in: "bitcoin:" + usdcBase + "@8453/transfer?address=" + anvilAccount + "&uint256=1", wantErr: errURIForm},
		{name: "empty", in: "", wantErr: errURIForm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token, chainID, to, units, err := ParseTransferURI(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseTransferURI(%q) error = %v; want %v", tc.in, err, tc.wantErr)
				}
				if token != "" || chainID != 0 || to != "" || units != nil {
					t.Errorf("ParseTransferURI returned values with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTransferURI(%q): %v", tc.in, err)
			}
			if token != usdcBase || chainID != 8453 || to != anvilAccount || units.String() != tc.want {
				t.Errorf("ParseTransferURI(%q) = %s, %d, %s, %s; want %s, 8453, %s, %s", tc.in, token, chainID, to, units, usdcBase, anvilAccount, tc.want)
			}
		})
	}
}

func FuzzTransferURIRoundTrip(f *testing.F) {
	f.Add(common.HexToAddress(usdcBase).Bytes(), int64(8453), common.HexToAddress(anvilAccount).Bytes(), big.NewInt(2_500_000).Bytes())
	f.Add(common.HexToAddress(usdcBase).Bytes(), int64(1), common.HexToAddress(anvilAccount).Bytes(), []byte{})
	f.Add(common.HexToAddress(usdcBase).Bytes(), int64(1<<63-1), common.HexToAddress(anvilAccount).Bytes(), maxUint256.Bytes())
	f.Fuzz(func(t *testing.T, tokenBytes []byte, chainID int64, toBytes []byte, unitBytes []byte) {
		token, to := common.BytesToAddress(tokenBytes), common.BytesToAddress(toBytes)
		if len(tokenBytes) != 20 || len(toBytes) != 20 || token == (common.Address{}) || to == (common.Address{}) ||
			chainID <= 0 || len(unitBytes) > 32 {
			return
		}
		units := new(big.Int).SetBytes(unitBytes)
		uri := TransferURI(token.Hex(), chainID, to.Hex(), units)
		gotToken, gotChainID, gotTo, gotUnits, err := ParseTransferURI(uri)
		if err != nil {
			t.Fatalf("ParseTransferURI(%s): %v", uri, err)
		}
		if gotToken != token.Hex() || gotChainID != chainID || gotTo != to.Hex() || gotUnits.Cmp(units) != 0 {
			t.Fatalf("ParseTransferURI(%s) = %s, %d, %s, %s; want %s, %d, %s, %s",
				uri, gotToken, gotChainID, gotTo, gotUnits, token.Hex(), chainID, to.Hex(), units)
		}
	})
}

func FuzzParseTransferURI(f *testing.F) {
	const prefix = "ethereum:" + usdcBase + "@8453/transfer?address=" + anvilAccount + "&uint256="
	for _, amount := range []string{"2500000", "25e5", "2.5e6", "2.50e1", "0.5e1", "1e77", "1e78", "2.5", "-1", "", "9e99"} {
		f.Add(prefix + amount)
	}
	f.Add("ethereum:" + usdcBase + "@1/transfer?uint256=1&address=" + anvilAccount)
	f.Add("ethereum:")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		token, chainID, to, units, err := ParseTransferURI(s)
		if err != nil {
			return
		}
		if units.Sign() < 0 || units.Cmp(maxUint256) > 0 || chainID <= 0 {
			t.Fatalf("ParseTransferURI(%q) = %d, %s; out of range", s, chainID, units)
		}
		uri := TransferURI(token, chainID, to, units)
		token2, chainID2, to2, units2, err := ParseTransferURI(uri)
		if err != nil || token2 != token || chainID2 != chainID || to2 != to || units2.Cmp(units) != 0 {
			t.Fatalf("ParseTransferURI(%q) after TransferURI = %s, %d, %s, %s, %v; want %s, %d, %s, %s",
				uri, token2, chainID2, to2, units2, err, token, chainID, to, units)
		}
	})
}
