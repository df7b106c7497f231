package invoice

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// Merchant is an account that creates invoices.
type Merchant struct {
	ID          string    `bun:"id,pk"`
	Name        string    `bun:"name"`
	LiveEnabled bool      `bun:"live_enabled"`
	CreatedAt   time.Time `bun:"created_at"`
}

// Scope limits what an API key may do.
type Scope string

// Scopes.
const (
	ScopeMerchant Scope = "merchant" // everything
	ScopeRead     Scope = "read"     // reads and reports only
	// Bound scopes: a key minted for one object (its APIKey.BoundTo), which
	// may do only what that object does. The API refuses such a key on
	// every route that does not allow it by name.
	ScopeTerminal Scope = "terminal" // a point-of-sale terminal (trm_…)
	ScopeOrder    Scope = "order"    // one invoice for one scan of a static QR code (qrs_…)
)

// Valid reports whether s is a scope an operator may mint a key of
// (bound scopes are minted with their object).
func (s Scope) Valid() bool { return s == ScopeMerchant || s == ScopeRead }

// Bound reports whether keys of scope s act for one object only.
func (s Scope) Bound() bool { return s == ScopeTerminal || s == ScopeOrder }

// APIKey is a stored key: only its SHA-256 hash and a short prefix that
// names it in listings and `settle keys revoke`.
type APIKey struct {
	Prefix     string     `bun:"prefix,pk"`
	Hash       string     `bun:"hash"`
	MerchantID string     `bun:"merchant_id"`
	Mode       Mode       `bun:"mode"`
	Scope      Scope      `bun:"scope"`
	BoundTo    string     `bun:"bound_to"` // the object a bound scope acts for, else ""
	CreatedAt  time.Time  `bun:"created_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
}

// Principal is who an API request acts for, resolved from its key.
type Principal struct {
	MerchantID  string
	Mode        Mode
	Scope       Scope
	BoundTo     string // a bound scope's object (Scope.Bound), else ""
	KeyPrefix   string
	LiveEnabled bool // the merchant's live gate, read with the key
}

// ErrUnauthenticated is returned by [Service.Authenticate] for a key that is
// malformed, unknown or revoked; callers must not say which.
var ErrUnauthenticated = errors.New("invalid API key")

// keyPrefixLen is how many random characters of a key its prefix shows.
const keyPrefixLen = 8

// newAPIKey returns a fresh secret key and its stored form.
func newAPIKey(merchantID string, mode Mode, scope Scope, now time.Time) (string, APIKey) {
	secret := "sk_" + string(mode) + "_" + randomToken(20)
	return secret, APIKey{
		Prefix:     secret[:len("sk_"+string(mode)+"_")+keyPrefixLen],
		Hash:       hashKey(secret),
		MerchantID: merchantID,
		Mode:       mode,
		Scope:      scope,
		CreatedAt:  now,
	}
}

func hashKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// looksLikeKey rejects what cannot be a key before any lookup.
func looksLikeKey(s string) bool {
	return (strings.HasPrefix(s, "sk_test_") || strings.HasPrefix(s, "sk_live_")) && len(s) < 100
}
