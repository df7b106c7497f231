package chains

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Errors returned by [ParseTransferURI]; address errors are those of
// [ParseEVMAddress], prefixed with the part they concern.
var (
	errURIForm    = errors.New("must have the form ethereum:<token>@<chain id>/transfer?address=<to>&uint256=<amount>")
	errURIChainID = errors.New("chain id must be a positive decimal integer without leading zeros")
	errURIParams  = errors.New("must have exactly the parameters address and uint256")
	errURIAmount  = errors.New("uint256 must be a whole number of base units, written as digits (2500000) or with an exponent (25e5, 2.5e6)")
	errURIRange   = errors.New("uint256 exceeds 2^256-1")
)

// maxUint256 is 2^256-1, the largest amount an ERC-20 transfer can carry.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// TransferURI returns the EIP-681 payment request that makes a wallet call
// transfer(to, units) on the ERC-20 contract token on chain chainID:
//
//	ethereum:<token>@<chainID>/transfer?address=<to>&uint256=<units>
//
// token and to are written in EIP-55 form; they are expected to have passed
// [ParseEVMAddress], and one that does not is written unchanged, so that the
// URI fails to parse rather than name another address. units is the amount
// in the token's base units, written as a plain decimal integer (nil means
// 0); it must not be negative. Some wallets write amounts such as 2.5e6, but
// a plain integer is read the same by all of them.
func TransferURI(token string, chainID int64, to string, units *big.Int) string {
	amount := "0"
	if units != nil {
		amount = units.String()
	}
	return "ethereum:" + checksummed(token) + "@" + strconv.FormatInt(chainID, 10) +
		"/transfer?address=" + checksummed(to) + "&uint256=" + amount
}

// checksummed returns the EIP-55 form of a valid address, or s unchanged.
func checksummed(s string) string {
	if a, err := ParseEVMAddress(s); err == nil {
		return a
	}
	return s
}

// ParseTransferURI reads an ERC-20 transfer request in the form written by
// [TransferURI]. The chain id is required (a payment on the wrong chain is
// lost to the merchant), the two parameters may come in either order, and
// the amount may be a plain integer or a number with an exponent (25e5,
// 2.5e6) as long as it is a whole number of base units below 2^256.
// Addresses are returned in EIP-55 form.
func ParseTransferURI(s string) (token string, chainID int64, to string, units *big.Int, err error) {
	rest, ok := strings.CutPrefix(s, "ethereum:")
	if !ok {
		return "", 0, "", nil, errURIForm
	}
	target, rest, ok := strings.Cut(rest, "@")
	if !ok {
		return "", 0, "", nil, errURIForm
	}
	chain, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return "", 0, "", nil, errURIForm
	}
	function, query, ok := strings.Cut(rest, "?")
	if !ok || function != "transfer" {
		return "", 0, "", nil, errURIForm
	}

	if token, err = ParseEVMAddress(target); err != nil {
		return "", 0, "", nil, fmt.Errorf("token: %w", err)
	}
	if chainID, err = parseChainID(chain); err != nil {
		return "", 0, "", nil, err
	}

	var address, amount string
	var seenAddress, seenAmount bool
	for param := range strings.SplitSeq(query, "&") {
		key, value, _ := strings.Cut(param, "=")
		switch {
		case key == "address" && !seenAddress:
			address, seenAddress = value, true
		case key == "uint256" && !seenAmount:
			amount, seenAmount = value, true
		default:
			return "", 0, "", nil, errURIParams
		}
	}
	if !seenAddress || !seenAmount {
		return "", 0, "", nil, errURIParams
	}
	if to, err = ParseEVMAddress(address); err != nil {
		return "", 0, "", nil, fmt.Errorf("address: %w", err)
	}
	if units, err = parseUint256(amount); err != nil {
		return "", 0, "", nil, err
	}
	return token, chainID, to, units, nil
}

// parseChainID reads a positive decimal chain id in canonical form.
func parseChainID(s string) (int64, error) {
	if !isDigits(s) || (s[0] == '0') {
		return 0, errURIChainID
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errURIChainID
	}
	return id, nil
}

// parseUint256 reads a whole amount written as digits ("2500000") or as a
// mantissa with an exponent ("25e5", "2.5e6"). The integer part has no
// leading zeros, except a lone 0 ("0.5e1"); there are no signs.
func parseUint256(s string) (*big.Int, error) {
	mantissa, exponent, scientific := strings.Cut(s, "e")
	if !scientific {
		mantissa, exponent, scientific = strings.Cut(s, "E")
	}
	whole, fraction, hasPoint := strings.Cut(mantissa, ".")
	if !isDigits(whole) || (len(whole) > 1 && whole[0] == '0') {
		return nil, errURIAmount
	}
	if hasPoint && (!scientific || !isDigits(fraction)) {
		return nil, errURIAmount
	}
	shift := 0
	if scientific {
		// Two digits reach past 10^77, the size of 2^256.
		if !isDigits(exponent) || len(exponent) > 2 {
			return nil, errURIAmount
		}
		shift, _ = strconv.Atoi(exponent)
	}
	digits := whole + fraction
	shift -= len(fraction)
	if shift < 0 {
		// The exponent does not cover the fraction: what it leaves after
		// the point must be zeros.
		cut := len(digits) + shift
		if strings.Trim(digits[cut:], "0") != "" {
			return nil, errURIAmount
		}
		digits, shift = digits[:cut], 0
	}
	if len(strings.TrimLeft(digits, "0"))+shift > len(maxUint256.String()) {
		return nil, errURIRange
	}
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, errURIAmount
	}
	if shift > 0 {
		n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(shift)), nil))
	}
	if n.Cmp(maxUint256) > 0 {
		return nil, errURIRange
	}
	return n, nil
}

// isDigits reports whether s is one or more ASCII decimal digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
