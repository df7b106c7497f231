package payor

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// Errors the payor API maps to problems.
var (
	ErrBadSignature = errors.New("bad session signature")
	ErrLocked       = errors.New("session locked")
	ErrNoMethod     = errors.New("not a payment method of this invoice")
	ErrNoDevnet     = errors.New("no devnet wallet here")
	ErrNoQR         = errors.New("this method has nothing to scan (a bank transfer)")
	// ErrExpired is returned for instructions (and their QR code) asked
	// after expires_at of a session never shown them before: expiry is
	// "open before", not "pay before".
	ErrExpired = errors.New("checkout expired before it was opened")
)

// EventCheckoutOpened is written once per invoice, when its payor is first
// shown payment instructions.
const EventCheckoutOpened = "checkout.opened"

// EventCheckoutScanned is written once per invoice, when its payor first
// opens the checkout: the hosted page, the payor session or a QR code of
// the session, whichever comes first (payment_session.scanned elsewhere).
const EventCheckoutScanned = "checkout.scanned"

// checkout is the payor's side of an invoice, as stored.
type checkout struct {
	bun.BaseModel `bun:"table:checkout_sessions"`

	InvoiceID    string     `bun:"invoice_id,pk"`
	FailedChecks int        `bun:"failed_checks"` // in all, from every client
	LockedAt     *time.Time `bun:"locked_at"`     // locked for everyone
	LockedBy     string     `bun:"locked_by"`     // the client whose wrong signature locked it
	OpenedAt     *time.Time `bun:"opened_at"`
	Method       string     `bun:"method"`
	UpdatedAt    time.Time  `bun:"updated_at"`
}

// Service is what the payor API, the payor WebSocket and the hosted page
// do with a session.
type Service struct {
	inv    *invoice.Service
	cat    *chains.Catalogue
	signer *Signer
	terms  *Terms
	// DevnetPay, when set (by `settle devnet`), pays an instruction from the
	// devnet wallet and returns the transaction id.
	DevnetPay func(ctx context.Context, in invoice.Instruction) (string, error)
	// Head, when set, returns a network's newest block, from which a
	// pending payment's confirmations are counted.
	Head func(network string) (int64, bool)
	// Log receives the locks of checkouts; it discards by default.
	Log *slog.Logger

	devnetMu sync.Mutex // one devnet payment at a time (see PayFromDevnet)
}

// NewService returns the payor side over inv.
func NewService(inv *invoice.Service, cat *chains.Catalogue, signer *Signer, terms *Terms) *Service {
	return &Service{inv: inv, cat: cat, signer: signer, terms: terms, Log: slog.New(slog.DiscardHandler)}
}

// Terms returns the terms signer (for /.well-known/jwks.json).
func (s *Service) Terms() *Terms { return s.terms }

// Session is one invoice as its payor may see it, after the handles were
// checked.
type Session struct {
	Invoice  invoice.Invoice
	Merchant string
	Payments []invoice.Payment
	checkout checkout
}

// Open checks a session's handles: the token must name an invoice, the
// session must not be locked for everyone nor for the client ctx carries
// (see WithClient), and sig must be the token's signature (in constant
// time). Every wrong signature is counted, per client and in all (see
// ClientFailedChecks).
func (s *Service) Open(ctx context.Context, token, sig string) (Session, error) {
	var sess Session
	if token == "" || len(token) > 128 {
		return sess, invoice.ErrNotFound
	}
	inv, err := s.inv.BySessionToken(ctx, token)
	if err != nil {
		return sess, err
	}
	db := s.inv.IDB(ctx)
	c := checkout{InvoiceID: inv.ID}
	if err := db.NewSelect().Model(&c).WherePK().Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return sess, err
	}
	client := clientOf(ctx)
	if locked, err := s.locked(ctx, c, client); err != nil || locked {
		if err == nil {
			err = ErrLocked
		}
		return sess, err
	}
	if !s.signer.Verify(token, sig) {
		if err := s.countFailure(ctx, inv.ID, client); err != nil {
			return sess, err
		}
		return sess, ErrBadSignature
	}
	m, err := s.inv.Merchant(ctx, inv.MerchantID)
	if err != nil {
		return sess, err
	}
	payments, err := s.inv.Payments(ctx, inv.ID)
	if err != nil {
		return sess, err
	}
	return Session{Invoice: inv, Merchant: m.Name, Payments: payments, checkout: c}, nil
}

// MethodView is a payment method as the payor sees it.
type MethodView struct {
	ID          string `json:"id" example:"usdc_base"`
	Label       string `json:"label" example:"USDC on Base"`
	Asset       string `json:"asset" example:"USDC"`
	Network     string `json:"network" example:"base"`
	NetworkName string `json:"network_name" example:"Base"`
}

// PaymentView is a payment as the payor sees it.
type PaymentView struct {
	Amount                string                `json:"amount" example:"25.000001"`
	Asset                 string                `json:"asset" example:"USDC"`
	Method                string                `json:"method" example:"usdc_base"`
	NetworkName           string                `json:"network_name" example:"Base"`
	Status                invoice.PaymentStatus `json:"status" enum:"pending,confirmed,reversed"`
	Confirmations         int64                 `json:"confirmations" doc:"Blocks on top of the payment's, counting its own; 0 while unknown."`
	ConfirmationsRequired int                   `json:"confirmations_required" example:"10"`
	TxID                  string                `json:"tx_id"`
	ExplorerURL           string                `json:"explorer_url,omitempty"`
}

// MerchantView is all a payor learns of the merchant.
type MerchantView struct {
	Name string `json:"name" example:"Corner Café"`
}

// SessionView is the payor's view of a session.
type SessionView struct {
	Object           string            `json:"object" enum:"checkout_session"`
	Merchant         MerchantView      `json:"merchant"`
	Mode             invoice.Mode      `json:"mode" enum:"test,live"`
	Amount           string            `json:"amount" example:"25.00"`
	Currency         invoice.Currency  `json:"currency" example:"USD"`
	AmountPaid       string            `json:"amount_paid" example:"0.00"`
	AmountDue        string            `json:"amount_due" example:"25.00" doc:"total − amount_paid."`
	Total            string            `json:"total" example:"25.00" doc:"What the payor pays in all: amount and tip."`
	Tip              TipView           `json:"tip" doc:"Whether and how the payor may add a tip (before choosing a method)."`
	Status           invoice.Status    `json:"status" enum:"open,processing,paid,expired,cancelled,invalid"`
	Exception        invoice.Exception `json:"exception" enum:"none,underpaid,overpaid,paid_late,marked"`
	Description      string            `json:"description"`
	ExpiresAt        time.Time         `json:"expires_at"`
	ExpiresInSeconds int64             `json:"expires_in_seconds"`
	RedirectURL      string            `json:"redirect_url"`
	Methods          []MethodView      `json:"methods" nullable:"false"`
	Method           string            `json:"method" doc:"The method the payor chose; empty before."`
	Payments         []PaymentView     `json:"payments" nullable:"false"`
	DevnetPay        bool              `json:"devnet_pay" doc:"This server can pay the invoice from its devnet wallet (settle devnet)."`
}

// View returns what the payor may see of sess at now: the merchant's
// display name and this invoice, nothing else.
func (s *Service) View(sess Session, now time.Time) SessionView {
	inv := sess.Invoice
	v := SessionView{
		Object: "checkout_session", Merchant: MerchantView{Name: sess.Merchant}, Mode: inv.Mode,
		Amount: inv.Amount.Format(inv.Decimals), Currency: inv.Currency,
		AmountPaid: inv.AmountPaid.Format(inv.Decimals), AmountDue: inv.AmountDue().Format(inv.Decimals),
		Total:  inv.Total().Format(inv.Decimals),
		Status: inv.Status, Exception: inv.Exception, Description: inv.Description,
		ExpiresAt: inv.ExpiresAt, ExpiresInSeconds: max(0, int64(inv.ExpiresAt.Sub(now).Seconds())),
		RedirectURL: inv.RedirectURL, Methods: []MethodView{}, Method: sess.checkout.Method, Payments: []PaymentView{},
		Tip: tipView(inv, len(sess.Payments), now),
	}
	for _, in := range offered(inv) {
		m, _ := s.cat.Method(in.Method)
		n, _ := s.cat.Network(in.Network)
		v.Methods = append(v.Methods, MethodView{ID: m.ID, Label: m.Label, Asset: in.Asset, Network: n.ID, NetworkName: n.Name})
		if n.ID == "devnet" && s.DevnetPay != nil {
			v.DevnetPay = true
		}
	}
	for _, p := range sess.Payments {
		v.Payments = append(v.Payments, s.paymentView(inv, p))
	}
	return v
}

func (s *Service) paymentView(inv invoice.Invoice, p invoice.Payment) PaymentView {
	pr := s.cat.Progress(inv, p, s.Head)
	pv := PaymentView{
		Amount: p.Amount.Format(p.Decimals), Asset: p.Asset, Method: p.Method, Status: p.Status, TxID: p.TxID,
		Confirmations: pr.Confirmations, ConfirmationsRequired: pr.Required, ExplorerURL: pr.ExplorerURL,
	}
	if n, ok := s.cat.Network(p.Network); ok {
		pv.NetworkName = n.Name
	}
	return pv
}

// InstructionsView tells the payor what to send where.
type InstructionsView struct {
	Object      string `json:"object" enum:"payment_instructions"`
	NetworkName string `json:"network_name" example:"Base"`
	Label       string `json:"label" example:"USDC on Base"`
	invoice.Instruction
	QRPNG string `json:"qr_png" doc:"Path of the QR code of uri as PNG (send the session headers); empty for bank transfers, which have no uri."`
	QRSVG string `json:"qr_svg" doc:"The same as SVG."`
	Terms string `json:"terms" doc:"Compact JWS (ES256) over the merchant's display name, the amount, the instructions and the expiry, with a unique jti; verify it with /.well-known/jwks.json."`
}

// instruction returns the invoice's instruction for method.
func instruction(inv invoice.Invoice, method string) (invoice.Instruction, bool) {
	offer := offered(inv)
	i := slices.IndexFunc(offer, func(in invoice.Instruction) bool { return in.Method == method })
	if i < 0 {
		return invoice.Instruction{}, false
	}
	return offer[i], true
}

// offered lists what the payor may pay inv with: its instructions and, on a
// test invoice, the sandbox, whose "instruction" is the invoice's own amount
// (nothing to send anywhere: the page simulates the payment, see CanSimulate).
func offered(inv invoice.Invoice) []invoice.Instruction {
	if inv.Mode != invoice.ModeTest || !slices.Contains(inv.PaymentMethods, chains.Sandbox) {
		return inv.Instructions
	}
	return append(slices.Clip(inv.Instructions), invoice.Instruction{
		Method: chains.Sandbox, Network: chains.Sandbox, Asset: string(inv.Currency),
		Amount: inv.Total().Format(inv.Decimals), AmountUnits: inv.Total().String(),
	})
}

// Choose records that the payor picked method and was shown its
// instructions, writes checkout.opened the first time, and returns the
// instructions with signed terms. After expires_at only a session shown
// instructions before gets them (a payor who saw them may still be paying);
// any other gets ErrExpired, and no checkout.opened is written.
func (s *Service) Choose(ctx context.Context, sess Session, method string) (InstructionsView, error) {
	in, ok := instruction(sess.Invoice, method)
	if !ok {
		return InstructionsView{}, ErrNoMethod
	}
	inv := sess.Invoice
	now := s.inv.Now()
	var first bool
	var cur invoice.Invoice // the invoice as this transaction sees it, when read again
	err := s.inv.WithinTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		if !now.Before(inv.ExpiresAt) {
			// Read and written at once, so that a first opening racing
			// with expiry cannot slip through.
			res, err := tx.NewUpdate().Model((*checkout)(nil)).Set("method = ?, updated_at = ?", method, now).
				Where("invoice_id = ? AND opened_at IS NOT NULL", inv.ID).Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return ErrExpired
			}
			return nil
		}
		c := checkout{InvoiceID: inv.ID, Method: method, OpenedAt: &now, UpdatedAt: now}
		// opened_at is kept from the first time; RETURNING tells whether
		// this call set it.
		var opened time.Time
		err := tx.NewInsert().Model(&c).On("CONFLICT (invoice_id) DO UPDATE").
			Set("method = EXCLUDED.method, updated_at = EXCLUDED.updated_at").
			Set("opened_at = COALESCE(?TableAlias.opened_at, EXCLUDED.opened_at)").
			Returning("opened_at").Scan(ctx, &opened)
		if err != nil {
			return err
		}
		if err := s.scan(ctx, tx, inv, now); err != nil {
			return err
		}
		if first = opened.Equal(now); !first {
			if inv.AllowTip {
				// A tip set since the session was read changed the
				// instructions: show the ones in force.
				return tx.NewSelect().Model(&cur).Where("id = ?", inv.ID).Scan(ctx)
			}
			return nil
		}
		// Recording the opening takes the invoice's row: a tip set
		// before it is read here, one set after it is refused.
		cur, err = invoice.CheckoutOpened(ctx, tx, inv.ID, now)
		if err != nil {
			return err
		}
		data, err := json.Marshal(map[string]any{"object": cur.Object(s.inv.Checkout()), "method": method})
		if err != nil {
			return err
		}
		return invoice.InsertEvents(ctx, tx, invoice.Event{
			ID: invoice.NewID("evt_", now), MerchantID: inv.MerchantID, Mode: inv.Mode, Type: EventCheckoutOpened,
			InvoiceID: inv.ID, CreatedAt: now, Data: string(data),
		})
	})
	if err != nil {
		return InstructionsView{}, err
	}
	if cur.ID != "" {
		inv = cur
		if in, ok = instruction(inv, method); !ok {
			return InstructionsView{}, ErrNoMethod
		}
	}
	m, _ := s.cat.Method(method)
	n, _ := s.cat.Network(in.Network)
	jti := make([]byte, 16)
	rand.Read(jti)
	terms, err := s.terms.Sign(ctx, TermsClaims{
		Merchant: sess.Merchant, Amount: inv.Amount.Format(inv.Decimals), TipAmount: tipClaim(inv), Currency: string(inv.Currency),
		Instructions: []invoice.Instruction{in}, ExpiresAt: inv.ExpiresAt, IssuedAt: now, JTI: hex.EncodeToString(jti),
	})
	if err != nil {
		return InstructionsView{}, fmt.Errorf("sign terms: %w", err)
	}
	v := InstructionsView{Object: "payment_instructions", NetworkName: n.Name, Label: m.Label, Instruction: in, Terms: terms}
	if in.URI != "" {
		qr := "/api/v1/payor/session/qr?method=" + method + "&format="
		v.QRPNG, v.QRSVG = qr+"png", qr+"svg"
	}
	return v, nil
}

// QR returns the QR code of method's payment URI as PNG or SVG; after
// expires_at, only for a session shown instructions before (see Choose).
func (s *Service) QR(ctx context.Context, sess Session, method, format string) ([]byte, string, error) {
	in, ok := instruction(sess.Invoice, method)
	if !ok {
		return nil, "", ErrNoMethod
	}
	if s.closed(sess) {
		return nil, "", ErrExpired
	}
	if err := s.Scanned(ctx, &sess); err != nil {
		return nil, "", err
	}
	if in.URI == "" {
		return nil, "", ErrNoQR
	}
	if format == "svg" {
		b, err := QRSVG(in.URI)
		return b, "image/svg+xml", err
	}
	b, err := QRPNG(in.URI, 320)
	return b, "image/png", err
}

// closed reports whether sess is past expiry without ever having been
// shown instructions: it may not be shown them now.
func (s *Service) closed(sess Session) bool {
	return sess.checkout.OpenedAt == nil && !s.inv.Now().Before(sess.Invoice.ExpiresAt)
}

// Check is the hosted page's check: it opens the session and tells the
// page what it may show.
func (s *Service) Check(ctx context.Context, token, sig string) (PageInfo, error) {
	sess, err := s.Open(ctx, token, sig)
	if err != nil {
		return PageInfo{Locked: errors.Is(err, ErrLocked)}, err
	}
	if err := s.Scanned(ctx, &sess); err != nil {
		return PageInfo{}, err
	}
	return PageInfo{Merchant: sess.Merchant, Mode: string(sess.Invoice.Mode)}, nil
}
