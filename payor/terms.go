package payor

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/invoice"
)

// TermsType is the "typ" header of signed terms, so that a verifier never
// takes another JWS signed by these keys for payment terms (RFC 8725 §3.11).
const TermsType = "settle-terms+jwt"

// termsAlgorithm is the only algorithm terms are signed with.
const termsAlgorithm = jose.ES256

// TermsClaims are what a payor was promised: who is paid, how much, where
// to send it and until when. They carry no invoice id or session token, so
// that a payor can show them to anyone.
type TermsClaims struct {
	Merchant string `json:"merchant"`
	Amount   string `json:"amount"`
	// TipAmount is the tip the payor chose, on top of Amount (the
	// instructions ask for both); absent when the invoice takes no tip.
	TipAmount    string                `json:"tip_amount,omitempty"`
	Currency     string                `json:"currency"`
	Instructions []invoice.Instruction `json:"instructions"`
	// ExpiresAt is the registered claim "exp" and IssuedAt "iat", both
	// NumericDates (whole seconds since the epoch).
	ExpiresAt time.Time `json:"-"`
	IssuedAt  time.Time `json:"-"`
	// JTI ("jti") tells one signing apart from every other; Sign fills it
	// with random bytes when it is empty.
	JTI string `json:"jti"`
}

// termsJSON is TermsClaims as they are signed.
type termsJSON struct {
	claimsFields
	Expiry   int64 `json:"exp"`
	IssuedAt int64 `json:"iat"`
}

// claimsFields has the fields of TermsClaims without its methods, so that
// embedding it does not recurse into them.
type claimsFields TermsClaims

// MarshalJSON writes the claims with exp and iat as NumericDates.
func (c TermsClaims) MarshalJSON() ([]byte, error) {
	return json.Marshal(termsJSON{claimsFields: claimsFields(c), Expiry: c.ExpiresAt.Unix(), IssuedAt: c.IssuedAt.Unix()})
}

// UnmarshalJSON reads claims that MarshalJSON wrote.
func (c *TermsClaims) UnmarshalJSON(b []byte) error {
	var w termsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = TermsClaims(w.claimsFields)
	c.ExpiresAt = time.Unix(w.Expiry, 0).UTC()
	c.IssuedAt = time.Unix(w.IssuedAt, 0).UTC()
	return nil
}

// Terms signs checkout terms as compact JWS (ES256) with keys kept in the
// database, so that every process of one deployment signs with the same key
// and publishes the same set. Keys are P-256, stored as PKCS#8 PEM, and
// named by their RFC 7638 thumbprint.
//
// At most one key signs at a time: the newest that is not retired. A
// retired key stays in the published set until its publish_until, so that
// terms it signed still verify while their sessions last.
type Terms struct {
	db  bun.IDB
	now func() time.Time
}

// NewTerms returns terms kept in db; now is the clock (time.Now when nil).
func NewTerms(db bun.IDB, now func() time.Time) *Terms {
	if now == nil {
		now = time.Now
	}
	return &Terms{db: db, now: now}
}

// signingKey is one row of signing_keys.
type signingKey struct {
	bun.BaseModel `bun:"table:signing_keys"`

	KID          string     `bun:"kid,pk"`
	Algorithm    string     `bun:"algorithm"`
	PrivateKey   string     `bun:"private_key"`
	CreatedAt    time.Time  `bun:"created_at"`
	RetiredAt    *time.Time `bun:"retired_at"`
	PublishUntil *time.Time `bun:"publish_until"`
}

// Sign returns c signed with the current key as a compact JWS whose header
// names the key ("kid"). The first call on a database makes the key.
func (t *Terms) Sign(ctx context.Context, c TermsClaims) (string, error) {
	if c.ExpiresAt.IsZero() {
		return "", errors.New("sign terms: expires_at is required")
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = t.clock()
	}
	if c.JTI == "" {
		b := make([]byte, 16)
		rand.Read(b)
		c.JTI = hex.EncodeToString(b)
	}
	k, err := t.current(ctx)
	if err != nil {
		return "", err
	}
	priv, err := k.parse()
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: termsAlgorithm, Key: jose.JSONWebKey{Key: priv, KeyID: k.KID}},
		(&jose.SignerOptions{}).WithType(TermsType),
	)
	if err != nil {
		return "", fmt.Errorf("sign terms: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("sign terms: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign terms with %s: %w", k.KID, err)
	}
	return jws.CompactSerialize()
}

// JWKS returns the public keys that verify terms: the current key and every
// retired key not yet past its publish_until, newest first. It makes the
// first key if there is none, so that a set fetched before any terms were
// signed already holds the key that will sign them.
func (t *Terms) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	keys, err := t.published(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	if !hasCurrent(keys) {
		if err := t.create(ctx); err != nil {
			return jose.JSONWebKeySet{}, err
		}
		if keys, err = t.published(ctx); err != nil {
			return jose.JSONWebKeySet{}, err
		}
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		priv, err := k.parse()
		if err != nil {
			return jose.JSONWebKeySet{}, err
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key: priv.Public(), KeyID: k.KID, Algorithm: string(termsAlgorithm), Use: "sig",
		})
	}
	return set, nil
}

// Rotate makes a new key that signs from now on. The keys it replaces are
// retired and stay published for publishFor, which should be at least the
// longest session lifetime. Keys whose publication has ended are deleted.
func (t *Terms) Rotate(ctx context.Context, publishFor time.Duration) error {
	if publishFor < 0 {
		return fmt.Errorf("rotate terms key: publish_for %s is negative", publishFor)
	}
	k, err := newSigningKey()
	if err != nil {
		return err
	}
	err = t.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := lockKeys(ctx, tx); err != nil {
			return err
		}
		now := t.clock()
		until := now.Add(publishFor)
		_, err := tx.NewUpdate().Model((*signingKey)(nil)).
			Set("retired_at = ?", now).Set("publish_until = ?", until).
			Where("retired_at IS NULL").Exec(ctx)
		if err != nil {
			return err
		}
		var old []signingKey
		if err := tx.NewSelect().Model(&old).Where("publish_until IS NOT NULL").Scan(ctx); err != nil {
			return err
		}
		for _, o := range old {
			// Compared in Go: SQLite keeps timestamps as text.
			if !o.PublishUntil.After(now) {
				if _, err := tx.NewDelete().Model((*signingKey)(nil)).Where("kid = ?", o.KID).Exec(ctx); err != nil {
					return err
				}
			}
		}
		k.CreatedAt = now
		_, err = tx.NewInsert().Model(&k).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate terms key: %w", err)
	}
	return nil
}

// clock is the time in UTC at the database's precision.
func (t *Terms) clock() time.Time { return t.now().UTC().Truncate(time.Microsecond) }

// current returns the key that signs, making it if there is none.
func (t *Terms) current(ctx context.Context) (signingKey, error) {
	k, err := t.newest(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		if err = t.create(ctx); err == nil {
			k, err = t.newest(ctx)
		}
	}
	if err != nil {
		return signingKey{}, fmt.Errorf("terms key: %w", err)
	}
	return k, nil
}

// newest reads the newest key that is not retired.
func (t *Terms) newest(ctx context.Context) (signingKey, error) {
	var k signingKey
	err := t.db.NewSelect().Model(&k).Where("retired_at IS NULL").
		OrderExpr("created_at DESC, kid DESC").Limit(1).Scan(ctx)
	return k, err
}

// published reads every key whose publication has not ended, newest first.
func (t *Terms) published(ctx context.Context) ([]signingKey, error) {
	var all []signingKey
	if err := t.db.NewSelect().Model(&all).OrderExpr("created_at DESC, kid DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("terms keys: %w", err)
	}
	now := t.clock()
	keys := all[:0]
	for _, k := range all {
		if k.PublishUntil == nil || k.PublishUntil.After(now) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// create stores a new key unless one that signs exists already. Processes
// starting at once take turns: Postgres locks the table against other
// writers, and SQLite's transactions begin IMMEDIATE (see invoice.OpenDB),
// so the second one sees the first one's key and stores nothing.
func (t *Terms) create(ctx context.Context) error {
	k, err := newSigningKey()
	if err != nil {
		return err
	}
	err = t.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := lockKeys(ctx, tx); err != nil {
			return err
		}
		exists, err := tx.NewSelect().Model((*signingKey)(nil)).Where("retired_at IS NULL").Exists(ctx)
		if err != nil || exists {
			return err
		}
		k.CreatedAt = t.clock()
		_, err = tx.NewInsert().Model(&k).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("create terms key: %w", err)
	}
	return nil
}

// lockKeys keeps other writers of signing_keys out until tx ends; readers
// (Sign, JWKS) are not held up.
func lockKeys(ctx context.Context, tx bun.Tx) error {
	if tx.Dialect().Name() != dialect.PG {
		return nil
	}
	_, err := tx.ExecContext(ctx, "LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
	return err
}

// newSigningKey makes a P-256 key named by its thumbprint.
func newSigningKey() (signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return signingKey{}, fmt.Errorf("generate terms key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return signingKey{}, fmt.Errorf("encode terms key: %w", err)
	}
	pub := jose.JSONWebKey{Key: priv.Public()}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return signingKey{}, fmt.Errorf("terms key thumbprint: %w", err)
	}
	return signingKey{
		KID:        base64.RawURLEncoding.EncodeToString(thumb),
		Algorithm:  string(termsAlgorithm),
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}, nil
}

// parse decodes the stored private key.
func (k signingKey) parse() (*ecdsa.PrivateKey, error) {
	if k.Algorithm != string(termsAlgorithm) {
		return nil, fmt.Errorf("terms key %s: algorithm %q, want %s", k.KID, k.Algorithm, termsAlgorithm)
	}
	block, _ := pem.Decode([]byte(k.PrivateKey))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("terms key %s: not a PKCS#8 PEM block", k.KID)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("terms key %s: %w", k.KID, err)
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("terms key %s: not a P-256 key", k.KID)
	}
	return priv, nil
}

// hasCurrent reports whether keys hold one that signs.
func hasCurrent(keys []signingKey) bool {
	for _, k := range keys {
		if k.RetiredAt == nil {
			return true
		}
	}
	return false
}
