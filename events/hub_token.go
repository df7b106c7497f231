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
// for a ws_token that is malformed, unknown, expired or already used;
// callers must not say which.
var ErrInvalidWSToken = errors.New("invalid ws_token")

// wsToken is a stored ws_token: only its SHA-256 hash is kept.
type wsToken struct {
	bun.BaseModel `bun:"table:ws_tokens"`
	Hash          string       `bun:"hash,pk"`
	MerchantID    string       `bun:"merchant_id"`
	Mode          invoice.Mode `bun:"mode"`
	ExpiresAt     time.Time    `bun:"expires_at"`
	CreatedAt     time.Time    `bun:"created_at"`
}

func hashWSToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CreateWSToken stores a new single-use ws_token for the merchant's mode,
// valid WSTokenTTL from now, and returns it with its expiry. It also
// deletes expired tokens, so the table stays small.
func CreateWSToken(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, now time.Time) (string, time.Time, error) {
	now = now.UTC().Truncate(time.Microsecond)
	token := wsTokenPrefix + rand.Text() // 128 random bits
	row := wsToken{Hash: hashWSToken(token), MerchantID: merchantID, Mode: mode,
		ExpiresAt: now.Add(WSTokenTTL), CreatedAt: now}
	if _, err := db.NewDelete().Model((*wsToken)(nil)).Where("expires_at <= ?", now).Exec(ctx); err != nil {
		return "", time.Time{}, err
	}
	if _, err := db.NewInsert().Model(&row).Exec(ctx); err != nil {
		return "", time.Time{}, err
	}
	return token, row.ExpiresAt, nil
}

// LookupWSToken returns the merchant and mode of a valid ws_token without
// using it up, or ErrInvalidWSToken.
func LookupWSToken(ctx context.Context, db bun.IDB, token string, now time.Time) (string, invoice.Mode, error) {
	if !validWSToken(token) {
		return "", "", ErrInvalidWSToken
	}
	var row wsToken
	err := db.NewSelect().Model(&row).
		Where("hash = ? AND expires_at > ?", hashWSToken(token), now.UTC()).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrInvalidWSToken
	}
	return row.MerchantID, row.Mode, err
}

// ConsumeWSToken uses up a valid ws_token and returns its merchant and
// mode, or ErrInvalidWSToken. The token is deleted by one conditional
// statement, so of two connections racing with it exactly one wins.
func ConsumeWSToken(ctx context.Context, db bun.IDB, token string, now time.Time) (string, invoice.Mode, error) {
	if !validWSToken(token) {
		return "", "", ErrInvalidWSToken
	}
	var rows []wsToken
	err := db.NewDelete().Model(&rows).
		Where("hash = ? AND expires_at > ?", hashWSToken(token), now.UTC()).
		Returning("merchant_id, mode").Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", "", err
	}
	if len(rows) != 1 {
		return "", "", ErrInvalidWSToken
	}
	return rows[0].MerchantID, rows[0].Mode, nil
}

func validWSToken(token string) bool {
	return len(token) > len(wsTokenPrefix) && len(token) <= 64 && token[:len(wsTokenPrefix)] == wsTokenPrefix
}
