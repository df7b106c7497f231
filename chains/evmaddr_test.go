package chains

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEVMAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		// Checksummed vectors from the EIP-55 specification.
		{name: "eip55 mixed 1", in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", want: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},
		{name: "eip55 mixed 2", in: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", want: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"},
		{name: "eip55 mixed 3", in: "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", want: "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"},
		{name: "eip55 mixed 4", in: "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", want: "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"},
		{name: "eip55 all caps", in: "0x52908400098527886E0F7030069857D2E4169EE7", want: "0x52908400098527886E0F7030069857D2E4169EE7"},
		{name: "eip55 all caps 2", in: "0x8617E340B3D01FA5F11F306F4090FD50E238070D", want: "0x8617E340B3D01FA5F11F306F4090FD50E238070D"},
		{name: "eip55 all lower", in: "0xde709f2102306220921060314715629080e2fb77", want: "0xde709f2102306220921060314715629080e2fb77"},
		{name: "eip55 all lower 2", in: "0x27b1fdb04752bbc536007a920d24acb045561c26", want: "0x27b1fdb04752bbc536007a920d24acb045561c26"},

		{name: "lower case is checksummed", in: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", want: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},
		{name: "upper case is checksummed", in: "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", want: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},
		{name: "digits only", in: "0x1111111111111111111111111111111111111111", want: "0x1111111111111111111111111111111111111111"},
		{name: "anvil account 0", in: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", want: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"},

		{name: "one case flipped", in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", wantErr: errEVMAddressChecksum},
		{name: "one digit changed", in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAee", wantErr: errEVMAddressChecksum},
		{name: "zero address", in: "0x0000000000000000000000000000000000000000", wantErr: errEVMAddressZero},
		{name: "empty", in: "", wantErr: errEVMAddressFormat},
		{name: "no prefix", in: "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", wantErr: errEVMAddressFormat},
		{name: "upper X prefix", in: "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", wantErr: errEVMAddressFormat},
		{name: "too short", in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", wantErr: errEVMAddressFormat},
		{name: "too long", in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", wantErr: errEVMAddressFormat},
		{name: "not hex", in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", wantErr: errEVMAddressFormat},
		{name: "leading space", in: " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", wantErr: errEVMAddressFormat},
		{name: "trailing newline", in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n", wantErr: errEVMAddressFormat},
		{name: "solana address", in: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", wantErr: errEVMAddressFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseEVMAddress(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseEVMAddress(%q) = %q, %v; want error %v", tc.in, got, err, tc.wantErr)
				}
				if got != "" {
					t.Errorf("ParseEVMAddress(%q) returned %q with an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseEVMAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// The checksum error must not hand out the corrected spelling.
func TestParseEVMAddressErrorHidesChecksum(t *testing.T) {
	t.Parallel()
	_, err := ParseEVMAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(strings.ToLower(err.Error()), "5aaeb6053f") {
		t.Fatalf("error %q reveals the address", err)
	}
}

func FuzzParseEVMAddress(f *testing.F) {
	for _, s := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
		"0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
		"0x0000000000000000000000000000000000000000",
		"0x",
		"",
		"0xzz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseEVMAddress(s)
		if err != nil {
			if got != "" {
				t.Fatalf("ParseEVMAddress(%q) returned %q with error %v", s, got, err)
			}
			return
		}
		if !strings.EqualFold(got, s) {
			t.Fatalf("ParseEVMAddress(%q) = %q, a different address", s, got)
		}
		again, err := ParseEVMAddress(got)
		if err != nil || again != got {
			t.Fatalf("ParseEVMAddress(%q) = %q, %v; want it to re-parse to itself", got, again, err)
		}
	})
}
