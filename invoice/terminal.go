package invoice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
)

// Terminal is a point-of-sale device of a merchant, in one mode: it holds
// an API key of scope terminal (bound to its id) and a command secret that
// signs what it sends over its WebSocket (see VerifyCommand).
type Terminal struct {
	ID            string     `bun:"id,pk"`
	MerchantID    string     `bun:"merchant_id"`
	Mode          Mode       `bun:"mode"`
	Name          string     `bun:"name"`
	LocationID    string     `bun:"location_id,nullzero"`
	CommandSecret string     `bun:"command_secret"`
	KeyPrefix     string     `bun:"key_prefix"`
	CreatedAt     time.Time  `bun:"created_at"`
	DeletedAt     *time.Time `bun:"deleted_at"`
}

// TerminalObject is the public form of a terminal. Its key and command
// secret are shown only once, by create-terminal.
type TerminalObject struct {
	ID         string     `json:"id" example:"trm_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object     string     `json:"object" enum:"terminal"`
	Mode       Mode       `json:"mode" enum:"test,live"`
	Name       string     `json:"name" example:"Counter 1"`
	LocationID string     `json:"location_id" example:"loc_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"The location the terminal stands at; empty when none."`
	KeyPrefix  string     `json:"key_prefix" example:"sk_test_a1b2c3d4" doc:"Names the terminal's API key (scope terminal)."`
	CreatedAt  time.Time  `json:"created_at"`
	DeletedAt  *time.Time `json:"deleted_at" doc:"Set once the terminal is deleted (its key is revoked then)."`
}

// Object returns the public form of t.
func (t *Terminal) Object() TerminalObject {
	return TerminalObject{ID: t.ID, Object: "terminal", Mode: t.Mode, Name: t.Name, LocationID: t.LocationID,
		KeyPrefix: t.KeyPrefix, CreatedAt: t.CreatedAt, DeletedAt: t.DeletedAt}
}

// Limits on terminal input.
const (
	maxTerminalName = 100
	maxLocationID   = 64
	// MaxReferenceLen bounds a create_session reference.
	MaxReferenceLen = 200
)

// CreateTerminalParams is a new terminal as asked for.
type CreateTerminalParams struct {
	MerchantID string
	Mode       Mode
	Name       string
	LocationID string // optional: an active location of the merchant in Mode
}

// CreateTerminal stores a terminal with a fresh command secret and its API
// key of scope terminal, in one transaction, and returns it with the key's
// secret (the only time key and command secret are shown).
func (s *Service) CreateTerminal(ctx context.Context, p CreateTerminalParams) (Terminal, string, error) {
	var v ValidationError
	name := strings.TrimSpace(p.Name)
	if name == "" || utf8.RuneCountInString(name) > maxTerminalName || !utf8.ValidString(name) {
		v.add("name", "invalid_name", "1 to %d characters", maxTerminalName)
	}
	if len(p.LocationID) > maxLocationID || strings.ContainsAny(p.LocationID, " \t\r\n") {
		v.add("location_id", "invalid_location", "at most %d characters, no spaces", maxLocationID)
	}
	if err := v.err(); err != nil {
		return Terminal{}, "", err
	}
	if p.LocationID != "" {
		l, err := s.Location(ctx, p.MerchantID, p.Mode, p.LocationID)
		if errors.Is(err, ErrNotFound) || err == nil && l.DeactivatedAt != nil {
			v.add("location_id", "invalid_location", "no active location %s in %s mode (POST /api/v1/locations)", p.LocationID, p.Mode)
			return Terminal{}, "", v.err()
		}
		if err != nil {
			return Terminal{}, "", err
		}
	}
	now := s.Now()
	t := Terminal{ID: NewID("trm_", now), MerchantID: p.MerchantID, Mode: p.Mode, Name: name,
		LocationID: p.LocationID, CommandSecret: "tcs_" + randomToken(32), CreatedAt: now}
	var secret string
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		var key APIKey
		var err error
		if secret, key, err = s.CreateBoundKey(ctx, p.MerchantID, p.Mode, ScopeTerminal, t.ID); err != nil {
			return err
		}
		t.KeyPrefix = key.Prefix
		_, err = tx.NewInsert().Model(&t).Exec(ctx)
		return err
	})
	if err != nil {
		return Terminal{}, "", fmt.Errorf("create terminal: %w", err)
	}
	return t, secret, nil
}

// Terminal returns the merchant's terminal id in mode, deleted or not.
func (s *Service) Terminal(ctx context.Context, merchantID string, mode Mode, id string) (Terminal, error) {
	var t Terminal
	err := s.idb(ctx).NewSelect().Model(&t).
		Where("id = ? AND merchant_id = ? AND mode = ?", id, merchantID, mode).Scan(ctx)
	return t, notFound(err)
}

// ListTerminals returns one page of the merchant's terminals in mode,
// newest first (deleted ones included), and whether more follow.
func (s *Service) ListTerminals(ctx context.Context, merchantID string, mode Mode, after string, limit int) ([]Terminal, bool, error) {
	var out []Terminal
	q := s.idb(ctx).NewSelect().Model(&out).Where("merchant_id = ? AND mode = ?", merchantID, mode)
	more, err := Page(ctx, q, &out, after, limit)
	if err != nil {
		return nil, false, fmt.Errorf("list terminals: %w", err)
	}
	return out, more, nil
}

// DeleteTerminal revokes the terminal's key (which closes its sockets, see
// RevokeKey) and marks it deleted. Deleting twice is not an error.
func (s *Service) DeleteTerminal(ctx context.Context, merchantID string, mode Mode, id string) (Terminal, error) {
	t, err := s.Terminal(ctx, merchantID, mode, id)
	if err != nil {
		return Terminal{}, err
	}
	// The key first, committed on its own so that the hub, rung at once,
	// finds it revoked; a failure after it leaves a terminal that the
	// next DELETE finishes.
	if err := s.RevokeKey(ctx, t.KeyPrefix); err != nil {
		return Terminal{}, fmt.Errorf("delete terminal: %w", err)
	}
	if t.DeletedAt == nil {
		now := s.Now()
		t.DeletedAt = &now
		if _, err := s.idb(ctx).NewUpdate().Model(&t).Column("deleted_at").WherePK().Exec(ctx); err != nil {
			return Terminal{}, fmt.Errorf("delete terminal: %w", err)
		}
	}
	return t, nil
}

// ErrTerminalDeleted is returned by [Service.ActiveTerminal] for a deleted
// terminal.
var ErrTerminalDeleted = errors.New("terminal deleted")

// ActiveTerminal returns the terminal a key of scope terminal acts for, or
// ErrNotFound when p is not that terminal's key, or ErrTerminalDeleted.
func (s *Service) ActiveTerminal(ctx context.Context, p Principal, id string) (Terminal, error) {
	if p.Scope == ScopeTerminal && p.BoundTo != id {
		return Terminal{}, ErrNotFound
	}
	t, err := s.Terminal(ctx, p.MerchantID, p.Mode, id)
	if err != nil {
		return Terminal{}, err
	}
	if t.DeletedAt != nil {
		return Terminal{}, ErrTerminalDeleted
	}
	return t, nil
}

// ErrReplay is returned by [Service.UseNonce] for a nonce the terminal
// has used within the tolerance.
var ErrReplay = errors.New("nonce already used")

// UseNonce records that the terminal used nonce, keeping it until
// expires, or returns ErrReplay when it did already (on any instance: the
// table's primary key decides). It also forgets the terminal's expired
// nonces.
func (s *Service) UseNonce(ctx context.Context, terminalID, nonce string, expires time.Time) error {
	db := s.idb(ctx)
	now := s.Now()
	if _, err := db.NewDelete().TableExpr("terminal_nonces").
		Where("terminal_id = ? AND expires_at <= ?", terminalID, now).Exec(ctx); err != nil {
		return fmt.Errorf("use nonce: %w", err)
	}
	row := struct {
		bun.BaseModel `bun:"table:terminal_nonces"`
		TerminalID    string    `bun:"terminal_id"`
		Nonce         string    `bun:"nonce"`
		ExpiresAt     time.Time `bun:"expires_at"`
	}{TerminalID: terminalID, Nonce: nonce, ExpiresAt: expires.UTC().Truncate(time.Microsecond)}
	res, err := db.NewInsert().Model(&row).On("CONFLICT DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("use nonce: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrReplay
	}
	return nil
}

// TerminalSession is a create_session as the store keeps it.
type TerminalSession struct {
	TerminalID string
	Reference  string // "" for none: every command makes a new invoice
	Params     CreateParams
}

// CreateForTerminal creates the invoice of a terminal's create_session:
// p.Params with TerminalID set. A reference the terminal used before
// returns that invoice instead, with created false; two commands racing
// with one reference make one invoice.
func (s *Service) CreateForTerminal(ctx context.Context, ts TerminalSession) (inv Invoice, created bool, err error) {
	if len(ts.Reference) > MaxReferenceLen || !utf8.ValidString(ts.Reference) {
		return Invoice{}, false, &ValidationError{Fields: []*FieldError{{Field: "reference", Code: "invalid_reference",
			Rule: fmt.Sprintf("at most %d characters of valid UTF-8", MaxReferenceLen)}}}
	}
	if ts.Reference != "" {
		if inv, err := s.terminalSession(ctx, ts.TerminalID, ts.Reference); err == nil {
			return inv, false, nil
		} else if !errors.Is(err, ErrNotFound) {
			return Invoice{}, false, err
		}
	}
	ts.Params.TerminalID = ts.TerminalID
	err = s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		var err error
		if inv, err = s.Create(ctx, ts.Params); err != nil {
			return err
		}
		if ts.Reference == "" {
			return nil
		}
		row := struct {
			bun.BaseModel `bun:"table:terminal_sessions"`
			TerminalID    string `bun:"terminal_id"`
			Reference     string `bun:"reference"`
			InvoiceID     string `bun:"invoice_id"`
		}{TerminalID: ts.TerminalID, Reference: ts.Reference, InvoiceID: inv.ID}
		_, err = tx.NewInsert().Model(&row).Returning("NULL").Exec(ctx)
		return err
	})
	if err != nil && ts.Reference != "" {
		// Another command with this reference won the race: its invoice.
		if prev, perr := s.terminalSession(ctx, ts.TerminalID, ts.Reference); perr == nil {
			return prev, false, nil
		}
	}
	if err != nil {
		return Invoice{}, false, err
	}
	return inv, true, nil
}

func (s *Service) terminalSession(ctx context.Context, terminalID, reference string) (Invoice, error) {
	var inv Invoice
	err := s.idb(ctx).NewSelect().Model(&inv).
		Where("id = (SELECT invoice_id FROM terminal_sessions WHERE terminal_id = ? AND reference = ?)", terminalID, reference).
		Scan(ctx)
	return inv, notFound(err)
}

// TerminalInvoices returns one page of the terminal's invoices, newest
// first, created at or after since (when not zero).
func (s *Service) TerminalInvoices(ctx context.Context, terminalID string, since time.Time, after string, limit int) ([]Invoice, bool, error) {
	var out []Invoice
	q := s.idb(ctx).NewSelect().Model(&out).Where("terminal_id = ?", terminalID)
	if !since.IsZero() {
		q = q.Where("created_at >= ?", since.UTC())
	}
	more, err := Page(ctx, q, &out, after, limit)
	if err != nil {
		return nil, false, fmt.Errorf("list terminal invoices: %w", err)
	}
	return out, more, nil
}

// InvoiceTerminals returns, for each of ids that names an invoice, the
// terminal that created it ("" for none).
func (s *Service) InvoiceTerminals(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID         string         `bun:"id"`
		TerminalID sql.NullString `bun:"terminal_id"`
	}
	err := s.idb(ctx).NewSelect().TableExpr("invoices").Column("id", "terminal_id").
		Where("id IN (?)", bun.In(ids)).Scan(ctx, &rows)
	for _, r := range rows {
		out[r.ID] = r.TerminalID.String
	}
	return out, err
}
