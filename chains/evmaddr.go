package chains

import (
	"errors"

	"github.com/ethereum/go-ethereum/common"
)

// Errors returned by [ParseEVMAddress]. Their text is written to be shown to
// API users as the rule of a field error ("to: ..."), so it never repeats the
// input and never reveals the correctly checksummed form: a mixed-case address
// that fails its checksum most likely carries a typo, and suggesting the
// "fixed" spelling would defeat the point of the checksum.
var (
	errEVMAddressFormat   = errors.New("must be 0x followed by 40 hexadecimal digits")
	errEVMAddressZero     = errors.New("must not be the zero address")
	errEVMAddressChecksum = errors.New("mixed-case address does not match its EIP-55 checksum; it probably contains a typo")
)

// ParseEVMAddress checks that s is an EVM account address and returns it in
// its EIP-55 checksummed form.
//
// The input must be "0x" followed by exactly 40 hexadecimal digits, with no
// surrounding space. All-lower-case and all-upper-case digits carry no
// checksum and are accepted as they are; mixed case is taken as an EIP-55
// checksum and must match. The zero address is refused: funds sent there are
// lost.
func ParseEVMAddress(s string) (string, error) {
	if len(s) != 2+2*common.AddressLength || s[0] != '0' || s[1] != 'x' {
		return "", errEVMAddressFormat
	}
	var lower, upper bool
	for i := 2; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
		case 'a' <= c && c <= 'f':
			lower = true
		case 'A' <= c && c <= 'F':
			upper = true
		default:
			return "", errEVMAddressFormat
		}
	}
	addr := common.HexToAddress(s)
	if addr == (common.Address{}) {
		return "", errEVMAddressZero
	}
	sum := addr.Hex()
	if lower && upper && sum != s {
		return "", errEVMAddressChecksum
	}
	return sum, nil
}
