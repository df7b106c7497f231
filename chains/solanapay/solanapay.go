// Package solanapay writes and reads Solana Pay transfer requests
// (solana:<recipient>?amount=…&spl-token=…&reference=…&label=…&message=…&memo=…)
// as the Solana Pay specification defines them. It only handles the URLs:
// it makes no RPC call and does not handle transaction requests (the
// solana:https://… form, which needs an interactive server).
package solanapay

import (
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gagliardetto/solana-go"

	"github.com/settlepay/settle/invoice"
)

// Scheme is the URL scheme of Solana Pay requests.
const Scheme = "solana:"

// Request is a Solana Pay transfer request. Keys are base58 public keys.
type Request struct {
	Recipient string // wallet that receives (its associated token account for an SPL token)
	// Amount is a decimal such as "25.000137", written without exponent,
	// without leading zeros before the units and without trailing zeros after
	// the point; "" lets the wallet ask the payor.
	Amount     string
	SPLToken   string   // mint of the token; "" means native SOL
	References []string // keys the transaction must carry, so it can be found
	Label      string   // who is asking, for the wallet to show
	Message    string   // what for, for the wallet to show
	Memo       string   // put on chain by the wallet with the memo program
}

// Errors returned by [Parse] and [Request.Encode], wrapped with the part
// they concern.
var (
	ErrScheme             = errors.New(`must start with "solana:"`)
	ErrTransactionRequest = errors.New("is a transaction request (solana:<link>), not a transfer request")
	ErrKey                = errors.New("must be a base58 public key of 32 bytes")
	ErrAmount             = errors.New(`must be a plain decimal such as "25.5" (digits, at most one point, no sign or exponent)`)
	ErrDuplicate          = errors.New("is given more than once")
	ErrEncoding           = errors.New("is not valid percent-encoded UTF-8")
)

// FormatAmount writes units of a token with decimals in the form the
// specification asks for: no exponent, no trailing zeros after the point.
func FormatAmount(units invoice.Units, decimals int) string {
	s := units.Format(decimals)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Units returns the request's amount in base units of a token with
// decimals. It fails when there is no amount or when it has more fraction
// digits than the token.
func (r Request) Units(decimals int) (invoice.Units, error) {
	if r.Amount == "" {
		return invoice.Units{}, errors.New("amount: none given")
	}
	a, err := canonicalAmount(r.Amount)
	if err != nil {
		return invoice.Units{}, fmt.Errorf("amount: %w", err)
	}
	whole, frac, _ := strings.Cut(a, ".")
	if len(frac) > decimals {
		return invoice.Units{}, fmt.Errorf("amount: %s has more than the token's %d decimals", a, decimals)
	}
	v, ok := new(big.Int).SetString(whole+frac+strings.Repeat("0", decimals-len(frac)), 10)
	if !ok {
		return invoice.Units{}, fmt.Errorf("amount: %w", ErrAmount)
	}
	return invoice.BigUnits(v), nil
}

// Encode writes r as a URL, checking every key and the amount. Parameters
// come in the specification's order; values are percent-encoded (a space is
// %20), so that wallets decoding them with either URL rule read the same.
func (r Request) Encode() (string, error) {
	if _, err := key(r.Recipient); err != nil {
		return "", fmt.Errorf("recipient: %w", err)
	}
	var b strings.Builder
	b.WriteString(Scheme + r.Recipient)
	sep := "?"
	add := func(name, value string) {
		b.WriteString(sep + name + "=" + escape(value))
		sep = "&"
	}
	if r.Amount != "" {
		a, err := canonicalAmount(r.Amount)
		if err != nil {
			return "", fmt.Errorf("amount: %w", err)
		}
		add("amount", a)
	}
	if r.SPLToken != "" {
		if _, err := key(r.SPLToken); err != nil {
			return "", fmt.Errorf("spl-token: %w", err)
		}
		add("spl-token", r.SPLToken)
	}
	for _, ref := range r.References {
		if _, err := key(ref); err != nil {
			return "", fmt.Errorf("reference: %w", err)
		}
		add("reference", ref)
	}
	for _, p := range []struct{ name, value string }{{"label", r.Label}, {"message", r.Message}, {"memo", r.Memo}} {
		if !utf8.ValidString(p.value) {
			return "", fmt.Errorf("%s: %w", p.name, ErrEncoding)
		}
		if p.value != "" {
			add(p.name, p.value)
		}
	}
	return b.String(), nil
}

// Parse reads a transfer request. It follows the reference implementation:
// the scheme is case-insensitive, unknown parameters are ignored, a "+" in
// a value is a space; it is stricter where that one is silent: each of
// amount, spl-token, label, message and memo may appear once, and text must
// be valid UTF-8. The amount is returned in canonical form ("007.50" reads
// as "7.5").
func Parse(s string) (Request, error) {
	if len(s) < len(Scheme) || !strings.EqualFold(s[:len(Scheme)], Scheme) {
		return Request{}, ErrScheme
	}
	path, query, _ := strings.Cut(s[len(Scheme):], "?")
	path, _, _ = strings.Cut(path, "#")
	query, _, _ = strings.Cut(query, "#")
	recipient, err := url.PathUnescape(path)
	if err != nil {
		return Request{}, fmt.Errorf("recipient: %w", ErrEncoding)
	}
	if strings.Contains(recipient, ":") {
		return Request{}, ErrTransactionRequest
	}
	var r Request
	if r.Recipient, err = key(recipient); err != nil {
		return Request{}, fmt.Errorf("recipient: %w", err)
	}
	seen := map[string]bool{}
	for param := range strings.SplitSeq(query, "&") {
		if param == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(param, "=")
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil || !utf8.ValidString(value) {
			return Request{}, fmt.Errorf("parameter %q: %w", rawName, ErrEncoding)
		}
		once := slices.Contains([]string{"amount", "spl-token", "label", "message", "memo"}, name)
		if once && seen[name] {
			return Request{}, fmt.Errorf("%s: %w", name, ErrDuplicate)
		}
		seen[name] = true
		switch name {
		case "amount":
			if r.Amount, err = canonicalAmount(value); err != nil {
				return Request{}, fmt.Errorf("amount: %w", err)
			}
		case "spl-token":
			if r.SPLToken, err = key(value); err != nil {
				return Request{}, fmt.Errorf("spl-token: %w", err)
			}
		case "reference":
			ref, err := key(value)
			if err != nil {
				return Request{}, fmt.Errorf("reference: %w", err)
			}
			r.References = append(r.References, ref)
		case "label":
			r.Label = value
		case "message":
			r.Message = value
		case "memo":
			r.Memo = value
		}
	}
	return r, nil
}

// key checks a base58 public key and returns it in canonical form.
func key(s string) (string, error) {
	pk, err := solana.PublicKeyFromBase58(s)
	if err != nil {
		return "", ErrKey
	}
	return pk.String(), nil
}

// canonicalAmount checks a decimal (digits, optionally a point and more
// digits) and drops the zeros that do not change its value.
func canonicalAmount(s string) (string, error) {
	whole, frac, point := strings.Cut(s, ".")
	if !digits(whole) || (point && !digits(frac)) {
		return "", ErrAmount
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	if frac = strings.TrimRight(frac, "0"); frac != "" {
		return whole + "." + frac, nil
	}
	return whole, nil
}

func digits(s string) bool {
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

// escape percent-encodes every byte but the unreserved characters of
// RFC 3986.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
