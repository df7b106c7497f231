package chains

import (
	"errors"

	"github.com/gagliardetto/solana-go"
)

// Errors returned by [ParseSolanaAddress].
var (
	errSolanaAddressFormat = errors.New("must be a Solana public key: 32 bytes in base58 (32 to 44 characters, no 0, O, I or l)")
	errSolanaOffCurve      = errors.New("is not a wallet address (it is off the ed25519 curve, like a token account or a program-derived address): give the wallet that owns the token account")
)

// ParseSolanaAddress checks that s is a Solana wallet address: a base58
// public key of 32 bytes on the ed25519 curve. A token account or any other
// program-derived address is refused, because payments go to the associated
// token account of the wallet, which settle derives itself.
func ParseSolanaAddress(s string) (string, error) {
	pk, err := solana.PublicKeyFromBase58(s)
	if err != nil {
		return "", errSolanaAddressFormat
	}
	if !pk.IsOnCurve() {
		return "", errSolanaOffCurve
	}
	return pk.String(), nil
}
