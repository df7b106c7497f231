package chains

import (
	"bytes"
	"errors"
	"strings"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// BIP32 version bytes. Only the two public ones are accepted; the private
// ones are recognised so the refusal can say why.
var (
	versionXPub = []byte{0x04, 0x88, 0xb2, 0x1e} // mainnet public, "xpub"
	versionTPub = []byte{0x04, 0x35, 0x87, 0xcf} // testnet public, "tpub"
	versionXPrv = []byte{0x04, 0x88, 0xad, 0xe4} // mainnet private, "xprv"
	versionTPrv = []byte{0x04, 0x35, 0x83, 0x94} // testnet private, "tprv"
)

// serializedXKeyLen is a BIP32 serialization with its checksum: version (4),
// depth (1), parent fingerprint (4), child number (4), chain code (32), key
// data (33), checksum (4).
const serializedXKeyLen = 4 + 1 + 4 + 4 + 32 + 33 + 4

// Errors returned by [ParseXPub] and [XPub.Address]. Like the address errors
// they are the rule of a field error and never repeat the input, which could
// be a private key pasted by mistake.
var (
	errXPubEmpty    = errors.New("must be an extended public key (xpub or tpub)")
	errXPubBase58   = errors.New("must be an extended public key (xpub or tpub); it contains characters that are not base58")
	errXPubLength   = errors.New("has the wrong length for an extended public key; it may be truncated")
	errXPubPrivate  = errors.New("is a private key; settle never accepts private keys, give the account's extended public key (xpub) instead")
	errXPubChecksum = errors.New("checksum does not match; the key probably contains a typo")
	errXPubVersion  = errors.New("must be an xpub or tpub; other versions such as ypub and zpub are Bitcoin script types")
	errXPubKey      = errors.New("does not hold a valid secp256k1 public key")
	errXPubIndex    = errors.New("address index must be below 2^31 (hardened indexes need the private key)")
	errXPubNone     = errors.New("no extended public key")
)

// XPub is a watch-only BIP32 extended public key for an Ethereum account.
// It derives receive addresses without ever holding a private key. The zero
// XPub holds no key; its Address method returns an error.
//
// An XPub is immutable and safe for concurrent use.
type XPub struct {
	key     *hdkeychain.ExtendedKey // as given, for String and Depth
	receive *hdkeychain.ExtendedKey // key/0, the receive chain
}

// ParseXPub parses a base58 BIP32 extended public key with the xpub
// (mainnet) or tpub (testnet) version; surrounding white space is ignored.
// Both versions give the same Ethereum addresses. Private keys (xprv, tprv,
// or any key whose data is a private key) are refused, as are other versions
// (ypub, zpub, ...), bad checksums, wrong lengths and points that are not on
// the curve.
//
// The expected key is the account-level key, m/44'/60'/0' for the first
// Ethereum account, which is what wallets export; [XPub.Address] then gives
// the addresses wallets show, m/44'/60'/0'/0/index. ParseXPub does not
// enforce the depth (see [XPub.Depth]).
func ParseXPub(s string) (XPub, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return XPub{}, errXPubEmpty
	}
	raw := base58.Decode(s) // empty when s has a character outside base58
	if len(raw) == 0 {
		return XPub{}, errXPubBase58
	}
	if len(raw) != serializedXKeyLen {
		return XPub{}, errXPubLength
	}
	// Refuse a private key before anything else, even one with a typo, so
	// the user learns what they pasted. Key data starting with 0x00 is a
	// private key whatever the version says.
	version := raw[:4]
	if bytes.Equal(version, versionXPrv) || bytes.Equal(version, versionTPrv) || raw[45] == 0x00 {
		return XPub{}, errXPubPrivate
	}
	key, err := hdkeychain.NewKeyFromString(s)
	switch {
	case errors.Is(err, hdkeychain.ErrBadChecksum):
		return XPub{}, errXPubChecksum
	case errors.Is(err, hdkeychain.ErrInvalidKeyLen):
		return XPub{}, errXPubLength
	case err != nil:
		return XPub{}, errXPubKey
	}
	if !bytes.Equal(version, versionXPub) && !bytes.Equal(version, versionTPub) {
		return XPub{}, errXPubVersion
	}
	if key.IsPrivate() {
		return XPub{}, errXPubPrivate
	}
	receive, err := key.Derive(0)
	if err != nil {
		// Only at depth 255, or with odds of about 1 in 2^127.
		return XPub{}, errXPubKey
	}
	return XPub{key: key, receive: receive}, nil
}

// String returns the key in base58, as parsed without surrounding space, or
// "" for the zero XPub.
func (x XPub) String() string {
	if x.key == nil {
		return ""
	}
	return x.key.String()
}

// Depth is the key's depth below the master key: 3 for the account key
// m/44'/60'/0', 0 for a master key.
func (x XPub) Depth() uint8 {
	if x.key == nil {
		return 0
	}
	return x.key.Depth()
}

// Address derives the receive address at index, the non-hardened path
// 0/index below the key, and returns it in EIP-55 form. index must be below
// 2^31. In the vanishingly rare case (about 1 in 2^127) that the child is not
// a valid key, Address returns an error and the caller moves to the next
// index, as BIP32 prescribes.
func (x XPub) Address(index uint32) (string, error) {
	if x.receive == nil {
		return "", errXPubNone
	}
	if index >= hdkeychain.HardenedKeyStart {
		return "", errXPubIndex
	}
	child, err := x.receive.Derive(index)
	if err != nil {
		return "", err
	}
	pub, err := child.ECPubKey()
	if err != nil {
		return "", err
	}
	// An Ethereum address is the last 20 bytes of the Keccak-256 of the
	// uncompressed point without its 0x04 prefix.
	uncompressed := pub.SerializeUncompressed()
	return common.BytesToAddress(crypto.Keccak256(uncompressed[1:])[12:]).Hex(), nil
}
