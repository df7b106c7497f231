package fiat

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

// ReferencePrefix starts every bank-transfer reference.
const ReferencePrefix = "ST-"

// referenceAlphabet is Crockford's base 32: digits and upper-case letters
// without I, L, O and U, so a reference survives being read aloud or typed.
const referenceAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// referenceBody is the number of random symbols; one check symbol follows.
const referenceBody = 5

// ErrBadReference is returned by [ParseReference] for text that is not a
// reference or whose check symbol does not match.
var ErrBadReference = errors.New("bad reference")

// NewReference returns a fresh random reference such as "ST-7K3Q9M": five
// random base-32 symbols (25 bits) and one check symbol. Uniqueness among a
// merchant's open invoices is the caller's to enforce (retry on collision).
func NewReference() string {
	var b [referenceBody]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("fiat: crypto/rand failed: %v", err)) // never happens on supported platforms
	}
	body := make([]byte, referenceBody)
	for i, v := range b {
		body[i] = referenceAlphabet[v&31] // 256 is a multiple of 32: no bias
	}
	return ReferencePrefix + string(body) + string(referenceAlphabet[checkSymbol(body)])
}

// checkSymbol computes the Damm check over GF(32): the state goes
// s ← 2·s ⊕ d for each symbol value d (2 is the polynomial x, modulo
// x⁵+x²+1), and the check symbol c is the one that brings the state back to
// zero, c = 2·s. x∘d = 2x ⊕ d is a totally anti-symmetric quasigroup, so
// every single-symbol substitution and every transposition of two adjacent
// different symbols (the check symbol included) changes the final state.
func checkSymbol(body []byte) byte {
	var s byte
	for _, c := range body {
		s = gf32Double(s) ^ byte(strings.IndexByte(referenceAlphabet, c))
	}
	return gf32Double(s)
}

func gf32Double(s byte) byte {
	s <<= 1
	if s&0x20 != 0 {
		s ^= 0x25 // x⁵ = x² + 1
	}
	return s
}

// ParseReference normalises what a payor typed into the canonical form
// "ST-XXXXXC": it ignores case, spaces and dashes, reads O as 0 and I or L
// as 1 (Crockford's decoding), and checks the check symbol.
func ParseReference(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case ' ', '-', '_', '\t':
			continue
		}
		b.WriteRune(r)
	}
	n := strings.ToUpper(b.String())
	if !strings.HasPrefix(n, "ST") {
		return "", fmt.Errorf("%w: must start with %q", ErrBadReference, ReferencePrefix)
	}
	body, ok := normaliseSymbols(n[2:])
	if !ok || len(body) != referenceBody+1 {
		return "", fmt.Errorf("%w: want %s and %d base-32 symbols", ErrBadReference, ReferencePrefix, referenceBody+1)
	}
	if checkSymbol(body[:referenceBody]) != byte(strings.IndexByte(referenceAlphabet, body[referenceBody])) {
		return "", fmt.Errorf("%w: check symbol does not match (mistyped?)", ErrBadReference)
	}
	return ReferencePrefix + string(body), nil
}

// normaliseSymbols maps upper-case text onto the alphabet, Crockford style.
func normaliseSymbols(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if strings.IndexByte(referenceAlphabet, c) < 0 {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

// FindReference returns the first valid reference inside free text such as
// a remittance line ("INV ST-7K3Q9M THANKS", "st 7k3q9m", "REF:ST7K3Q9M").
// A candidate is "ST", at most one separator, then six symbols, standing as
// a word of its own; candidates failing the check are skipped.
func FindReference(text string) (string, bool) {
	u := strings.ToUpper(text)
	for i := 0; i+2 <= len(u); i++ {
		if u[i] != 'S' || u[i+1] != 'T' || (i > 0 && isAlnum(u[i-1])) {
			continue
		}
		j := i + 2
		if j < len(u) && strings.IndexByte(" -_/:.#", u[j]) >= 0 {
			j++
		}
		end := j + referenceBody + 1
		if end > len(u) || (end < len(u) && isAlnum(u[end])) {
			continue
		}
		if ref, err := ParseReference("ST" + u[j:end]); err == nil {
			return ref, true
		}
	}
	return "", false
}

// findReferenceIn looks for a reference in each text in turn.
func findReferenceIn(texts ...string) (string, bool) {
	for _, t := range texts {
		if ref, ok := FindReference(t); ok {
			return ref, true
		}
	}
	return "", false
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
