package fiat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// Rail ids: the network ids of the rails in the chains catalogue.
const (
	RailFedNow     = "fednow"
	RailRTP        = "rtp"
	RailACH        = "ach"
	RailPushToCard = "push_to_card"
	RailQRIS       = "qris"
)

// IsRail reports whether network is a fiat rail of the catalogue.
func IsRail(network string) bool {
	n, ok := chains.NetworkByID(network)
	return ok && n.Kind == chains.KindRail
}

// isBank reports whether rail is paid into a US bank account.
func isBank(rail string) bool { return rail == RailFedNow || rail == RailRTP || rail == RailACH }

// Account is where a merchant receives on one rail in one mode, and the
// secret that authenticates that rail's notifications for it.
type Account struct {
	bun.BaseModel `bun:"table:rail_accounts"`

	ID             string       `bun:"id,pk"`
	MerchantID     string       `bun:"merchant_id"`
	Mode           invoice.Mode `bun:"mode"`
	Rail           string       `bun:"rail"`
	BankName       string       `bun:"bank_name"`
	AccountName    string       `bun:"account_name"`
	AccountNumber  string       `bun:"account_number"`
	RoutingNumber  string       `bun:"routing_number"`
	QRISPayload    string       `bun:"qris_payload"` // the merchant's static payload
	ProcessorID    string       `bun:"processor_id"`
	CallbackSecret string       `bun:"callback_secret"`
	SecretHash     string       `bun:"secret_hash"`
	CreatedAt      time.Time    `bun:"created_at"`
	DeletedAt      *time.Time   `bun:"deleted_at"`
}

// RailAccountObject is the public form of a rail account. CallbackSecret is
// set only in the answer to its creation.
type RailAccountObject struct {
	ID             string       `json:"id" example:"rla_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object         string       `json:"object" enum:"rail_account"`
	Mode           invoice.Mode `json:"mode" enum:"test,live"`
	Rail           string       `json:"rail" enum:"fednow,rtp,ach,push_to_card,qris"`
	BankName       string       `json:"bank_name,omitempty" example:"First Example Bank"`
	AccountName    string       `json:"account_name,omitempty" example:"Test Shop LLC"`
	AccountNumber  string       `json:"account_number,omitempty" example:"000123456789"`
	RoutingNumber  string       `json:"routing_number,omitempty" example:"021000021"`
	QRISPayload    string       `json:"qris_payload,omitempty" example:"00020101021126…6304ABCD"`
	ProcessorID    string       `json:"processor_id,omitempty" example:"acq_visa_direct_01"`
	CallbackSecret string       `json:"callback_secret,omitempty" example:"rcs_Q2hhbmdlIG1lIQ…" doc:"Authenticates the rail's notifications for this account. Shown only in the answer to the creation: store it in the bank's, processor's or forwarder's settings."`
	CreatedAt      time.Time    `json:"created_at"`
}

// Object returns the public form of a, without its secret.
func (a *Account) Object() RailAccountObject {
	return RailAccountObject{
		ID: a.ID, Object: "rail_account", Mode: a.Mode, Rail: a.Rail, BankName: a.BankName,
		AccountName: a.AccountName, AccountNumber: a.AccountNumber, RoutingNumber: a.RoutingNumber,
		QRISPayload: a.QRISPayload, ProcessorID: a.ProcessorID, CreatedAt: a.CreatedAt,
	}
}

// BankAccount returns the account as pain.013 names it.
func (a *Account) BankAccount() BankAccount {
	return BankAccount{Name: a.AccountName, BankName: a.BankName, AccountNumber: a.AccountNumber, RoutingNumber: a.RoutingNumber}
}

// ErrAccountExists is returned by [Rails.CreateAccount] when the merchant
// already has an active account on the rail in that mode.
var ErrAccountExists = errors.New("rail account exists")

// ErrUnauthenticated is returned when a notification's account, signature
// or key is wrong; callers answer 401 and store nothing.
var ErrUnauthenticated = errors.New("rail notification not authenticated")

// AccountParams is a new rail account as asked for.
type AccountParams struct {
	MerchantID    string
	Mode          invoice.Mode
	Rail          string
	BankName      string
	AccountName   string
	AccountNumber string
	RoutingNumber string
	QRISPayload   string
	ProcessorID   string
}

// validate checks p for its rail and returns the account it describes.
func (p AccountParams) validate() (Account, error) {
	var v invoice.ValidationError
	fail := func(field, code, format string, args ...any) {
		v.Fields = append(v.Fields, &invoice.FieldError{Field: field, Code: code, Rule: fmt.Sprintf(format, args...)})
	}
	text := func(field, s string, required bool, max int) string {
		s = strings.TrimSpace(s)
		switch {
		case s == "" && required:
			fail(field, "invalid_"+field, "required for rail %s", p.Rail)
		case len(s) > max || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 }):
			fail(field, "invalid_"+field, "at most %d characters, no control characters", max)
		}
		return s
	}
	unexpected := func(field, value string) {
		if value != "" {
			fail(field, "invalid_rail_account", "not taken by rail %s", p.Rail)
		}
	}
	a := Account{MerchantID: p.MerchantID, Mode: p.Mode, Rail: p.Rail}
	switch {
	case isBank(p.Rail):
		a.BankName = text("bank_name", p.BankName, true, 140)
		a.AccountName = text("account_name", p.AccountName, true, 140)
		a.AccountNumber = strings.TrimSpace(p.AccountNumber)
		if n := len(a.AccountNumber); n < 4 || n > 17 || !isDigits(a.AccountNumber) {
			fail("account_number", "invalid_account_number", "4 to 17 digits")
		}
		a.RoutingNumber = strings.TrimSpace(p.RoutingNumber)
		if !ValidABA(a.RoutingNumber) {
			fail("routing_number", "invalid_routing_number", "nine digits with a valid ABA check digit")
		}
		unexpected("qris_payload", p.QRISPayload)
		unexpected("processor_id", p.ProcessorID)
	case p.Rail == RailQRIS:
		payload, err := ValidateQRIS(p.QRISPayload)
		if err != nil {
			fail("qris_payload", "invalid_qris_payload", "%v", err)
		} else {
			a.QRISPayload = strings.TrimSpace(p.QRISPayload)
			a.AccountName, _ = payload.Get(idName)
		}
		if name := text("account_name", p.AccountName, false, 140); name != "" {
			a.AccountName = name
		}
		unexpected("bank_name", p.BankName)
		unexpected("account_number", p.AccountNumber)
		unexpected("routing_number", p.RoutingNumber)
		unexpected("processor_id", p.ProcessorID)
	case p.Rail == RailPushToCard:
		a.ProcessorID = text("processor_id", p.ProcessorID, true, 100)
		a.AccountName = text("account_name", p.AccountName, false, 140)
		unexpected("bank_name", p.BankName)
		unexpected("account_number", p.AccountNumber)
		unexpected("routing_number", p.RoutingNumber)
		unexpected("qris_payload", p.QRISPayload)
	default:
		fail("rail", "invalid_rail", "unknown rail %q (fednow, rtp, ach, push_to_card, qris)", p.Rail)
	}
	if len(v.Fields) > 0 {
		return Account{}, &v
	}
	return a, nil
}

// newSecret returns a fresh callback secret and its lookup hash.
func newSecret() (secret, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("fiat: crypto/rand failed: %v", err))
	}
	secret = "rcs_" + base64.RawURLEncoding.EncodeToString(b)
	return secret, secretHash(secret)
}

func secretHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CreateAccount validates p and stores the account with a fresh callback
// secret, which the returned account carries (the only time it is shown).
func (r *Rails) CreateAccount(ctx context.Context, p AccountParams) (Account, error) {
	a, err := p.validate()
	if err != nil {
		return Account{}, err
	}
	now := r.inv.Now()
	a.ID, a.CreatedAt = invoice.NewID("rla_", now), now
	a.CallbackSecret, a.SecretHash = newSecret()
	_, err = r.inv.IDB(ctx).NewInsert().Model(&a).Exec(ctx)
	if err != nil && isUniqueViolation(err) {
		return Account{}, fmt.Errorf("%w: %s already has an active account in %s mode", ErrAccountExists, p.Rail, p.Mode)
	}
	if err != nil {
		return Account{}, err
	}
	// Invoices created from now on offer the rail (see absentRails).
	return a, r.inv.ConfigChanged(ctx)
}

func isUniqueViolation(err error) bool {
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint") || strings.Contains(s, "SQLSTATE 23505")
}

// Accounts lists the merchant's active rail accounts in mode, oldest first.
func (r *Rails) Accounts(ctx context.Context, merchantID string, mode invoice.Mode) ([]Account, error) {
	out := []Account{}
	err := r.inv.IDB(ctx).NewSelect().Model(&out).
		Where("merchant_id = ? AND mode = ? AND deleted_at IS NULL", merchantID, mode).OrderExpr("id").Scan(ctx)
	return out, err
}

// Account returns one active rail account of the merchant.
func (r *Rails) Account(ctx context.Context, merchantID string, mode invoice.Mode, id string) (Account, error) {
	var a Account
	err := r.inv.IDB(ctx).NewSelect().Model(&a).
		Where("id = ? AND merchant_id = ? AND mode = ? AND deleted_at IS NULL", id, merchantID, mode).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return a, invoice.ErrNotFound
	}
	return a, err
}

// accountFor returns the merchant's active account on rail, ok false when
// there is none.
func (r *Rails) accountFor(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, rail string) (Account, bool, error) {
	var a Account
	err := db.NewSelect().Model(&a).
		Where("merchant_id = ? AND mode = ? AND rail = ? AND deleted_at IS NULL", merchantID, mode, rail).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	return a, err == nil, err
}

// DeleteAccount stops offering the account to new invoices and revokes its
// callback secret: notifications signed with it are refused from now on.
func (r *Rails) DeleteAccount(ctx context.Context, merchantID string, mode invoice.Mode, id string) (Account, error) {
	a, err := r.Account(ctx, merchantID, mode, id)
	if err != nil {
		return a, err
	}
	now := r.inv.Now()
	a.DeletedAt = &now
	if _, err = r.inv.IDB(ctx).NewUpdate().Model(&a).Column("deleted_at").WherePK().Exec(ctx); err != nil {
		return a, err
	}
	return a, r.inv.ConfigChanged(ctx)
}

// Signed authenticates a signed notification for rail: id names the
// account (the X-Settle-Account header), header is the [SignatureHeader]
// value. Every failure is [ErrUnauthenticated], wrapping the reason.
func (r *Rails) Signed(ctx context.Context, rail, id, header string, body []byte) (Account, error) {
	var a Account
	err := r.inv.IDB(ctx).NewSelect().Model(&a).Where("id = ? AND rail = ? AND deleted_at IS NULL", id, rail).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("%w: no active %s account %q", ErrUnauthenticated, rail, id)
	}
	if err != nil {
		return Account{}, err
	}
	if err := VerifySignature([]byte(a.CallbackSecret), header, body, r.inv.Now()); err != nil {
		return Account{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return a, nil
}

// Keyed authenticates a notification for rail that carries the account's
// callback secret itself (a bearer or callback key): the account is found
// by the secret's hash and the secret compared in constant time.
func (r *Rails) Keyed(ctx context.Context, rail, secret string) (Account, error) {
	var a Account
	if secret == "" {
		return Account{}, fmt.Errorf("%w: no key", ErrUnauthenticated)
	}
	err := r.inv.IDB(ctx).NewSelect().Model(&a).
		Where("secret_hash = ? AND rail = ? AND deleted_at IS NULL", secretHash(secret), rail).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("%w: unknown key", ErrUnauthenticated)
	}
	if err != nil {
		return Account{}, err
	}
	if subtle.ConstantTimeCompare([]byte(a.CallbackSecret), []byte(secret)) != 1 {
		return Account{}, fmt.Errorf("%w: unknown key", ErrUnauthenticated)
	}
	return a, nil
}
