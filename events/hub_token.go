package events

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// WSTokenTTL is how long a ws_token may be used.
const WSTokenTTL = 5 * time.Minute

// wsTokenPrefix starts every ws_token.
const wsTokenPrefix = "wst_"

// ErrInvalidWSToken is returned by [LookupWSToken] and [ConsumeWSToken]
// for a ws_token that is malformed, unknown, expired, already used or
// minted by a key since revoked; callers must not say which.
var ErrInvalidWSToken = errors.New("invalid ws_token")

// wsToken is a stored ws_token: only its SHA-256 hash is kept, with the
// prefix of the key that minted it, so that revoking the key makes its
// unused tokens unusable and ends the connections opened with the used
// ones.
type wsToken struct {
	bun.BaseModel `bun:"table:ws_tokens"`
	Hash          string       `bun:"hash,pk"`
	MerchantID    string       `bun:"merchant_id"`
	Mode          invoice.Mode `bun:"mode"`
	KeyPrefix     string       `bun:"key_prefix"`
	ExpiresAt     time.Time    `bun:"expires_at"`
	CreatedAt     time.Time    `bun:"created_at"`
}

// principal is what a connection opened with the token acts for: the
// token only reads, or, minted by a key of a bound scope (a terminal's),
// acts for that key's object only.
func (t wsToken) principal(ctx context.Context, db bun.IDB) (invoice.Principal, error) {
	p := invoice.Principal{MerchantID: t.MerchantID, Mode: t.Mode, Scope: invoice.ScopeRead, KeyPrefix: t.KeyPrefix}
	var key struct {
		Scope   invoice.Scope `bun:"scope"`
		BoundTo string        `bun:"bound_to"`
	}
	err := db.NewSelect().TableExpr("api_keys").Column("scope", "bound_to").Where("prefix = ?", t.KeyPrefix).Scan(ctx, &key)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return invoice.Principal{}, ErrInvalidWSToken
	case err != nil:
		return invoice.Principal{}, err
	}
	if key.Scope.Bound() {
		p.Scope, p.BoundTo = key.Scope, key.BoundTo
	}
	return p, nil
}

// wsTokenUsable is the condition of a token that may be used at now: known,
// not expired, and its key not revoked. The key is checked in the same
// statement that uses the token up, so a revocation committed before it is
// always seen (api_keys is invoice's table; reading it here saves a round
// trip per connection and a window between two statements).
func wsTokenUsable(token string, now time.Time) func(bun.QueryBuilder) bun.QueryBuilder {
	return func(q bun.QueryBuilder) bun.QueryBuilder {
		return q.Where("hash = ? AND expires_at > ?", hashWSToken(token), now.UTC()).
			Where("NOT EXISTS (SELECT 1 FROM api_keys AS k WHERE k.prefix = ?TableAlias.key_prefix AND k.revoked_at IS NOT NULL)")
	}
}

func hashWSToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CreateWSToken stores a new single-use ws_token for the principal's
// merchant and mode, minted by its key and valid WSTokenTTL from now, and
// returns it with its expiry. It also deletes expired tokens, so the table
// stays small.
func CreateWSToken(ctx context.Context, db bun.IDB, p invoice.Principal, now time.Time) (string, time.Time, error) {
	if p.KeyPrefix == "" {
		return "", time.Time{}, errors.New("create ws_token: the principal names no API key")
	}
	now = now.UTC().Truncate(time.Microsecond)
	token := wsTokenPrefix + rand.Text() // 128 random bits
	row := wsToken{Hash: hashWSToken(token), MerchantID: p.MerchantID, Mode: p.Mode, KeyPrefix: p.KeyPrefix,
		ExpiresAt: now.Add(WSTokenTTL), CreatedAt: now}
	if _, err := db.NewDelete().Model((*wsToken)(nil)).Where("expires_at <= ?", now).Exec(ctx); err != nil {
		return "", time.Time{}, err
	}
	if _, err := db.NewInsert().Model(&row).Exec(ctx); err != nil {
		return "", time.Time{}, err
	}
	return token, row.ExpiresAt, nil
}

// LookupWSToken returns what a valid ws_token acts for (its merchant and
// mode, scope read, and the key that minted it) without using it up, or
// ErrInvalidWSToken.
func LookupWSToken(ctx context.Context, db bun.IDB, token string, now time.Time) (invoice.Principal, error) {
	if !validWSToken(token) {
		return invoice.Principal{}, ErrInvalidWSToken
	}
	var row wsToken
	err := db.NewSelect().Model(&row).ApplyQueryBuilder(wsTokenUsable(token, now)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return invoice.Principal{}, ErrInvalidWSToken
	}
	if err != nil {
		return invoice.Principal{}, err
	}
	return row.principal(ctx, db)
}

// ConsumeWSToken uses up a valid ws_token and returns what it acts for, or
// ErrInvalidWSToken. The token is deleted by one conditional statement, so
// of two connections racing with it exactly one wins, and none after its
// key is revoked.
func ConsumeWSToken(ctx context.Context, db bun.IDB, token string, now time.Time) (invoice.Principal, error) {
	if !validWSToken(token) {
		return invoice.Principal{}, ErrInvalidWSToken
	}
	var rows []wsToken
	err := db.NewDelete().Model(&rows).ApplyQueryBuilder(wsTokenUsable(token, now)).
		Returning("merchant_id, mode, key_prefix").Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return invoice.Principal{}, err
	}
	if len(rows) != 1 {
		return invoice.Principal{}, ErrInvalidWSToken
	}
	return rows[0].principal(ctx, db)
}

func validWSToken(token string) bool {
	return len(token) > len(wsTokenPrefix) && len(token) <= 64 && token[:len(wsTokenPrefix)] == wsTokenPrefix
}
