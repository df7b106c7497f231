package invoice

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Point of sale, on the invoice itself: the payment session's state as the
// payor lives it (created, scanned, confirming, then an outcome), the tip a
// payor adds on the checkout, and the fulfilment a vending machine reports
// once the goods are out.

// SessionStatus is the payment session's state. It is not a second state
// machine: [Invoice.SessionStatus] derives it from the invoice's status,
// exception, scanned_at and its payments (failed_payments, which [Next]
// keeps).
type SessionStatus string

// Session statuses, in lifecycle order.
const (
	SessionCreated    SessionStatus = "created"    // nobody opened the checkout yet
	SessionScanned    SessionStatus = "scanned"    // the payor opened it (page, session or its QR code)
	SessionConfirming SessionStatus = "confirming" // a payment is seen, not yet final (status processing)
	SessionSucceeded  SessionStatus = "succeeded"  // paid
	SessionFailed     SessionStatus = "failed"     // open again after a payment was returned or rejected
	SessionExpired    SessionStatus = "expired"    // expired
	SessionCancelled  SessionStatus = "cancelled"  // cancelled by the merchant, or marked invalid
)

// SessionStatus derives the payment session's state from the invoice:
//
//	paid                                  → succeeded (whatever the exception)
//	processing                            → confirming
//	expired                               → expired
//	cancelled, invalid                    → cancelled
//	open with a payment reversed          → failed (returned or rejected; a new payment moves it on)
//	open, scanned_at set                  → scanned
//	open                                  → created
func (inv *Invoice) SessionStatus() SessionStatus {
	switch inv.Status {
	case StatusPaid:
		return SessionSucceeded
	case StatusProcessing:
		return SessionConfirming
	case StatusExpired:
		return SessionExpired
	case StatusCancelled, StatusInvalid:
		return SessionCancelled
	}
	switch {
	case inv.FailedPayments > 0:
		return SessionFailed
	case inv.ScannedAt != nil:
		return SessionScanned
	default:
		return SessionCreated
	}
}

// CheckoutScanned records, in the caller's transaction, that inv's payor
// first opened the checkout at at. It reports whether this call recorded it:
// of concurrent first opens exactly one does (the row is updated only while
// scanned_at is null, and a second writer re-reads it after the first
// commits), so that one writes the checkout.scanned event in the same
// transaction.
func CheckoutScanned(ctx context.Context, tx bun.IDB, id string, at time.Time) (Invoice, bool, error) {
	res, err := tx.NewUpdate().Model((*Invoice)(nil)).Set("scanned_at = ?", at).
		Where("id = ? AND scanned_at IS NULL", id).Exec(ctx)
	if err != nil {
		return Invoice{}, false, fmt.Errorf("record checkout scanned: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Invoice{}, false, err
	}
	inv, err := read(ctx, tx, id)
	return inv, n == 1, err
}

// Fulfilment tells whether the goods of a paid invoice are handed over.
type Fulfilment string

// Fulfilments.
const (
	FulfilmentNotRequired Fulfilment = "not_required" // the default: paid is done
	FulfilmentPending     Fulfilment = "pending"      // created with fulfilled: false; waits for POST …/fulfil
	FulfilmentFulfilled   Fulfilment = "fulfilled"    // the merchant reported the goods out
)

// FulfilmentObject is the fulfilment in the public invoice object.
type FulfilmentObject struct {
	Status      Fulfilment `json:"status" enum:"not_required,pending,fulfilled"`
	FulfilledAt *time.Time `json:"fulfilled_at" doc:"When POST /api/v1/invoices/{id}/fulfil was first called; null before."`
}

func (inv *Invoice) fulfilmentObject() FulfilmentObject {
	f := inv.Fulfilment
	if f == "" {
		f = FulfilmentNotRequired
	}
	return FulfilmentObject{Status: f, FulfilledAt: inv.FulfilledAt}
}

// ErrNotFulfillable is returned by [Service.Fulfil] for an invoice that is
// not paid, or was created without a pending fulfilment.
var ErrNotFulfillable = errors.New("invoice cannot be fulfilled")

// DefaultFulfilmentRefundAfter is how long a paid invoice may stay
// unfulfilled before the reconciliation report lists it to refund.
const DefaultFulfilmentRefundAfter = 7 * 24 * time.Hour

// SetFulfilmentRefundAfter sets how long a paid, never fulfilled invoice
// waits before the reconciliation report lists it "to refund"; ≤ 0 means
// [DefaultFulfilmentRefundAfter].
func (s *Service) SetFulfilmentRefundAfter(d time.Duration) { s.refundAfter = d }

func (s *Service) fulfilmentRefundAfter() time.Duration {
	if s.refundAfter <= 0 {
		return DefaultFulfilmentRefundAfter
	}
	return s.refundAfter
}

// Fulfil records that the goods of the merchant's paid invoice id were
// handed over, with an invoice.updated event. It is idempotent: an invoice
// already fulfilled is returned as it is, without an event. An invoice not
// paid, or created without a pending fulfilment, is refused with
// [ErrNotFulfillable].
func (s *Service) Fulfil(ctx context.Context, merchantID string, mode Mode, id string) (Invoice, error) {
	var out Invoice
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		inv, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if inv.MerchantID != merchantID || inv.Mode != mode {
			return ErrNotFound
		}
		out = inv
		switch {
		case inv.Fulfilment == FulfilmentFulfilled:
			return nil
		case inv.Fulfilment != FulfilmentPending:
			return fmt.Errorf("%w: it was created without fulfilled: false", ErrNotFulfillable)
		case inv.Status != StatusPaid:
			return fmt.Errorf("%w: it is %s, not paid", ErrNotFulfillable, inv.Status)
		}
		now := s.Now()
		inv.Fulfilment, inv.FulfilledAt, inv.UpdatedAt = FulfilmentFulfilled, &now, now
		if _, err := tx.NewUpdate().Model(&inv).Column("fulfilment", "fulfilled_at", "updated_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("fulfil: %w", err)
		}
		out = inv
		return s.writeEvents(ctx, tx, &inv, []Change{{Type: EventInvoiceUpdated, PreviousStatus: inv.Status}})
	})
	return out, err
}

// DefaultTipCapPercent is the most a tip may be, in percent of the amount,
// when the merchant allows tips without a cap of its own.
const DefaultTipCapPercent = 20

// Tip is a payor's tip: an amount in the invoice's currency, or a percent
// of its amount (rounded down to the currency's smallest unit, so that a
// percent within the cap is never refused for its rounding). Exactly one
// is given.
type Tip struct {
	Amount  string
	Percent *int
}

// Errors of [Service.SetTip].
var (
	// ErrTipNotAllowed is returned for an invoice created without allow_tip.
	ErrTipNotAllowed = errors.New("this invoice takes no tip")
	// ErrTipClosed is returned once payment instructions were shown or a
	// payment was seen, or the invoice is no longer open: the amount the
	// payor was asked for no longer changes.
	ErrTipClosed = errors.New("the tip can no longer change")
)

// tipUnits validates t against inv and returns the tip in the currency's
// base units.
func tipUnits(inv Invoice, t Tip) (Units, error) {
	var v ValidationError
	var tip Units
	switch {
	case (t.Amount == "") == (t.Percent == nil):
		v.add("amount", "invalid_tip", "give amount or percent, not both")
	case t.Percent != nil:
		if *t.Percent < 0 || *t.Percent > 100 {
			v.add("percent", "invalid_tip", "must be between 0 and 100")
			break
		}
		// amount × percent / 100, rounded down.
		n := new(big.Int).Mul(inv.Amount.Big(), big.NewInt(int64(*t.Percent)))
		tip = BigUnits(n.Quo(n, big.NewInt(100)))
	default:
		u, err := ParseAmount(t.Amount, inv.Decimals)
		if zero(t.Amount, inv.Decimals) {
			u, err = NewUnits(0), nil
		}
		if err != nil {
			v.add("amount", "invalid_tip", "%v for %s", err, inv.Currency)
			break
		}
		tip = u
	}
	if err := v.err(); err != nil {
		return Units{}, err
	}
	// tip ≤ amount × cap / 100, in integers.
	limit := new(big.Int).Mul(inv.Amount.Big(), big.NewInt(int64(inv.TipCapPercent)))
	if new(big.Int).Mul(tip.Big(), big.NewInt(100)).Cmp(limit) > 0 {
		field := "amount"
		if t.Percent != nil {
			field = "percent"
		}
		return Units{}, &ValidationError{Fields: []*FieldError{{Field: field, Code: "tip_above_cap",
			Rule: fmt.Sprintf("the tip may be at most %d%% of %s %s (%s)", inv.TipCapPercent, inv.Amount.Format(inv.Decimals), inv.Currency,
				BigUnits(new(big.Int).Quo(limit, big.NewInt(100))).Format(inv.Decimals))}}}
	}
	return tip, nil
}

// SetTip sets the tip of the invoice whose session is open as sess, before
// its payor is shown payment instructions: the tip is added to the amount
// due and reprice rewrites the invoice's instructions for the new total (in
// the same transaction: the chains' unique amounts, the QRIS totals). The
// payor may change the tip until instructions are shown, a payment is seen
// or the invoice is no longer open ([ErrTipClosed]). A changed tip writes
// invoice.updated; setting the same tip again changes nothing.
func (s *Service) SetTip(ctx context.Context, id string, t Tip, reprice func(ctx context.Context, tx bun.IDB, inv *Invoice) error) (Invoice, error) {
	var out Invoice
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		inv, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if !inv.AllowTip {
			return ErrTipNotAllowed
		}
		var seen int64
		if seen, err = tx.NewSelect().Model((*Payment)(nil)).Where("invoice_id = ?", id).Count(ctx); err != nil {
			return err
		}
		now := s.Now()
		if inv.Status != StatusOpen || seen > 0 || inv.CheckoutOpenedAt != nil || !now.Before(inv.ExpiresAt) {
			return ErrTipClosed
		}
		tip, err := tipUnits(inv, t)
		if err != nil {
			return err
		}
		out = inv
		if tip.Cmp(inv.TipAmount) == 0 {
			return nil
		}
		inv.TipAmount, inv.UpdatedAt = tip, now
		if reprice != nil {
			if err := reprice(ctx, tx, &inv); err != nil {
				return fmt.Errorf("reprice: %w", err)
			}
		}
		if _, err := tx.NewUpdate().Model(&inv).Column("tip_amount", "instructions", "updated_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("set tip: %w", err)
		}
		out = inv
		return s.writeEvents(ctx, tx, &inv, []Change{{Type: EventInvoiceUpdated, PreviousStatus: inv.Status}})
	})
	return out, err
}

// zero reports whether s is a plain decimal zero ("0", "0.00") with at most
// decimals fraction digits: no tip.
func zero(s string, decimals int) bool {
	whole, frac, point := strings.Cut(s, ".")
	return whole != "" && !(point && frac == "") && len(frac) <= decimals &&
		strings.Trim(whole, "0") == "" && strings.Trim(frac, "0") == ""
}

// TipFromWallet records tip, which the payor's wallet added on top of the
// total of instruction i (a QRIS payload that kept the merchant's tip
// indicator), as the invoice's tip when it is within the cap: instruction
// i then asks for its total with the tip, so paying that is no
// over-payment. Above the cap, or on an invoice that has a tip already,
// nothing changes. A recorded tip writes invoice.updated in the caller's
// transaction (the payment that carried it is applied next).
func (s *Service) TipFromWallet(ctx context.Context, id string, tip Units, i int) (Invoice, error) {
	var out Invoice
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		inv, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		out = inv
		if !inv.AllowTip || inv.TipAmount.Sign() != 0 || tip.Sign() <= 0 || i < 0 || i >= len(inv.Instructions) {
			return nil
		}
		limit := new(big.Int).Mul(inv.Amount.Big(), big.NewInt(int64(inv.TipCapPercent)))
		if new(big.Int).Mul(tip.Big(), big.NewInt(100)).Cmp(limit) > 0 {
			return nil
		}
		in := &inv.Instructions[i]
		total, err := ParseUnits(in.TotalAmount)
		if err != nil {
			return fmt.Errorf("wallet tip: instruction total %q: %w", in.TotalAmount, err)
		}
		t := total.Add(tip).String()
		in.TotalAmount, in.Amount, in.AmountUnits = t, t, t
		inv.TipAmount, inv.UpdatedAt = tip, s.Now()
		if _, err := tx.NewUpdate().Model(&inv).Column("tip_amount", "instructions", "updated_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("wallet tip: %w", err)
		}
		out = inv
		return s.writeEvents(ctx, tx, &inv, []Change{{Type: EventInvoiceUpdated, PreviousStatus: inv.Status}})
	})
	return out, err
}

// ToRefund returns the paid invoices, of every merchant, whose goods were
// never handed over within the refund time (see
// [Service.SetFulfilmentRefundAfter]): the reconciliation report's "to
// refund" ones, oldest paid first.
func (s *Service) ToRefund(ctx context.Context) ([]Invoice, error) {
	var out []Invoice
	err := s.idb(ctx).NewSelect().Model(&out).
		Where("status = ? AND fulfilment = ? AND paid_at <= ?", StatusPaid, FulfilmentPending, s.Now().Add(-s.fulfilmentRefundAfter())).
		OrderExpr("paid_at, id").Scan(ctx)
	return out, err
}
