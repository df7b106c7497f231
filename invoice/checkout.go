package invoice

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// The checkout is the payor's side of an invoice. The payor package keeps
// its working state (signature checks per client, the method chosen); what
// the merchant needs to know of it is kept here, on the invoice, so that the
// invoice object and its events show it: when the payor was first shown
// instructions, and whether too many wrong signatures locked the checkout.

// CheckoutLock says who is refused after too many wrong signatures.
type CheckoutLock string

// Checkout locks, from the weakest.
const (
	CheckoutUnlocked    CheckoutLock = ""        // nobody is refused
	CheckoutLockClient  CheckoutLock = "client"  // the clients that sent too many are refused; others may still open it
	CheckoutLockSession CheckoutLock = "session" // everyone is refused until the merchant unlocks it or issues a new link
)

// CheckoutObject is the checkout's state in the public invoice object.
type CheckoutObject struct {
	OpenedAt  *time.Time `json:"opened_at" doc:"When the payor was first shown payment instructions (checkout.opened); null before."`
	Locked    bool       `json:"locked" doc:"Whether a lock is in force (lock_scope says whose); POST /api/v1/invoices/{id}/checkout lifts it."`
	LockScope string     `json:"lock_scope" enum:"none,client,session" doc:"client: a client (IP address) sent 5 wrong signatures and is refused, others may still open the checkout; session: 20 wrong signatures in all, everyone is refused."`
	LockedAt  *time.Time `json:"locked_at" doc:"When the lock in force was set; null when unlocked."`
}

func (inv *Invoice) checkoutObject() CheckoutObject {
	o := CheckoutObject{OpenedAt: inv.CheckoutOpenedAt, LockScope: "none"}
	if inv.CheckoutLock != CheckoutUnlocked {
		o.Locked, o.LockScope, o.LockedAt = true, string(inv.CheckoutLock), inv.CheckoutLockedAt
	}
	return o
}

// CheckoutOpened records, in the caller's transaction, that inv's payor was
// shown instructions at at, unless an earlier time is recorded, and returns
// the invoice as it now stands.
func CheckoutOpened(ctx context.Context, tx bun.IDB, id string, at time.Time) (Invoice, error) {
	_, err := tx.NewUpdate().Model((*Invoice)(nil)).Set("checkout_opened_at = COALESCE(checkout_opened_at, ?)", at).
		Where("id = ?", id).Exec(ctx)
	if err != nil {
		return Invoice{}, fmt.Errorf("record checkout opened: %w", err)
	}
	return read(ctx, tx, id)
}

// CheckoutLocked records, in the caller's transaction, a lock of inv's
// checkout set at at. A session lock outranks a client lock, which never
// replaces it. It returns the invoice as it now stands.
func CheckoutLocked(ctx context.Context, tx bun.IDB, id string, scope CheckoutLock, at time.Time) (Invoice, error) {
	q := tx.NewUpdate().Model((*Invoice)(nil)).Set("checkout_lock = ?, checkout_locked_at = ?", scope, at).Where("id = ?", id)
	if scope != CheckoutLockSession {
		q = q.Where("checkout_lock <> ?", CheckoutLockSession)
	}
	if _, err := q.Exec(ctx); err != nil {
		return Invoice{}, fmt.Errorf("record checkout lock: %w", err)
	}
	return read(ctx, tx, id)
}

// ResetCheckout lifts every lock of the merchant's invoice id in mode and,
// with newToken, gives it a new session token, so that its old payment_url
// and session headers stop working at once. reset runs in the same
// transaction with the invoice as it now stands: the payor package clears
// its counts of wrong signatures there. Nothing else of the invoice
// changes, and no event is written: the merchant asked for it and gets the
// invoice back.
func (s *Service) ResetCheckout(ctx context.Context, merchantID string, mode Mode, id string, newToken bool,
	reset func(ctx context.Context, tx bun.IDB, inv Invoice) error) (Invoice, error) {
	var out Invoice
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		inv, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if inv.MerchantID != merchantID || inv.Mode != mode {
			return ErrNotFound
		}
		inv.CheckoutLock, inv.CheckoutLockedAt = CheckoutUnlocked, nil
		if newToken {
			inv.SessionToken = randomToken(20)
		}
		if _, err := tx.NewUpdate().Model(&inv).Column("checkout_lock", "checkout_locked_at", "session_token").
			WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("reset checkout: %w", err)
		}
		out = inv
		if reset == nil {
			return nil
		}
		return reset(ctx, tx, inv)
	})
	return out, err
}

// read returns invoice id as the transaction sees it.
func read(ctx context.Context, tx bun.IDB, id string) (Invoice, error) {
	var inv Invoice
	err := tx.NewSelect().Model(&inv).Where("id = ?", id).Scan(ctx)
	return inv, notFound(err)
}
