package invoice_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestSessionStatus is the table of the payment session's state: a pure
// function of the invoice's status, exception, scanned_at and its payments
// (failed_payments).
func TestSessionStatus(t *testing.T) {
	t.Parallel()
	scanned := t0
	tests := []struct {
		name      string
		status    invoice.Status
		exception invoice.Exception
		scanned   *time.Time
		failed    int
		want      invoice.SessionStatus
	}{
		{"new", invoice.StatusOpen, invoice.ExceptionNone, nil, 0, invoice.SessionCreated},
		{"opened by the payor", invoice.StatusOpen, invoice.ExceptionNone, &scanned, 0, invoice.SessionScanned},
		{"partly paid, waiting for the rest", invoice.StatusOpen, invoice.ExceptionUnderpaid, &scanned, 0, invoice.SessionScanned},
		{"a payment is seen", invoice.StatusProcessing, invoice.ExceptionNone, &scanned, 0, invoice.SessionConfirming},
		{"a payment is seen without an open (wallet paid the URI)", invoice.StatusProcessing, invoice.ExceptionNone, nil, 0, invoice.SessionConfirming},
		{"paid", invoice.StatusPaid, invoice.ExceptionNone, &scanned, 0, invoice.SessionSucceeded},
		{"paid over", invoice.StatusPaid, invoice.ExceptionOverpaid, &scanned, 0, invoice.SessionSucceeded},
		{"paid late", invoice.StatusPaid, invoice.ExceptionPaidLate, nil, 0, invoice.SessionSucceeded},
		{"paid after a return", invoice.StatusPaid, invoice.ExceptionNone, &scanned, 1, invoice.SessionSucceeded},
		{"marked paid", invoice.StatusPaid, invoice.ExceptionMarked, nil, 0, invoice.SessionSucceeded},
		{"payment returned", invoice.StatusOpen, invoice.ExceptionNone, &scanned, 1, invoice.SessionFailed},
		{"payment returned, never opened", invoice.StatusOpen, invoice.ExceptionNone, nil, 2, invoice.SessionFailed},
		{"another payment after a return", invoice.StatusProcessing, invoice.ExceptionNone, &scanned, 1, invoice.SessionConfirming},
		{"expired", invoice.StatusExpired, invoice.ExceptionNone, nil, 0, invoice.SessionExpired},
		{"expired underpaid", invoice.StatusExpired, invoice.ExceptionUnderpaid, &scanned, 0, invoice.SessionExpired},
		{"expired after a return", invoice.StatusExpired, invoice.ExceptionNone, &scanned, 1, invoice.SessionExpired},
		{"cancelled", invoice.StatusCancelled, invoice.ExceptionNone, nil, 0, invoice.SessionCancelled},
		{"cancelled, paid anyway", invoice.StatusCancelled, invoice.ExceptionOverpaid, &scanned, 0, invoice.SessionCancelled},
		{"marked invalid", invoice.StatusInvalid, invoice.ExceptionMarked, &scanned, 0, invoice.SessionCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := invoice.Invoice{Status: tc.status, Exception: tc.exception, ScannedAt: tc.scanned, FailedPayments: tc.failed}
			if got := inv.SessionStatus(); got != tc.want {
				t.Errorf("session_status = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestNextFailedPayments: the state machine counts the payments reversed
// (returned or rejected by a rail, or reorged out), which session_status
// reads; a reversal makes the session failed, a new payment moves it on.
func TestNextFailedPayments(t *testing.T) {
	t.Parallel()
	inv := state{status: invoice.StatusOpen}.build()
	p := pay("r1", "25.000000", invoice.PaymentPending)
	p.CreatedAt = before
	inv, _, err := invoice.Next(inv, []invoice.Payment{p}, invoice.Input{Kind: invoice.InputPayment, Payment: &p, Now: before})
	if err != nil || inv.Status != invoice.StatusProcessing || inv.FailedPayments != 0 || inv.SessionStatus() != invoice.SessionConfirming {
		t.Fatalf("pending: %s %d %s %v", inv.Status, inv.FailedPayments, inv.SessionStatus(), err)
	}
	p.Status = invoice.PaymentReversed
	inv, changes, err := invoice.Next(inv, []invoice.Payment{p}, invoice.Input{Kind: invoice.InputPayment, Payment: &p, Now: before})
	if err != nil || inv.Status != invoice.StatusOpen || inv.FailedPayments != 1 || inv.SessionStatus() != invoice.SessionFailed {
		t.Fatalf("returned: %s %d %s %v", inv.Status, inv.FailedPayments, inv.SessionStatus(), err)
	}
	if len(changes) != 2 || changes[0].Type != invoice.EventInvoicePaymentUpdated || changes[0].Payment.Status != invoice.PaymentReversed {
		t.Errorf("changes %+v: want the reversed payment's invoice_payment.updated (payment_failed), then invoice.updated", changes)
	}
	q := pay("r2", "25.000000", invoice.PaymentConfirmed)
	q.CreatedAt = before
	inv, _, err = invoice.Next(inv, []invoice.Payment{p, q}, invoice.Input{Kind: invoice.InputPayment, Payment: &q, Now: before})
	if err != nil || inv.Status != invoice.StatusPaid || inv.Exception != invoice.ExceptionNone || inv.SessionStatus() != invoice.SessionSucceeded {
		t.Fatalf("paid again: %s %s %s %v", inv.Status, inv.Exception, inv.SessionStatus(), err)
	}
}

// TestNextTip: with a tip, the invoice is paid at amount + tip, not at the
// amount; more than amount + tip is over-paid; amount_due includes it.
func TestNextTip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		paid          string
		wantStatus    invoice.Status
		wantException invoice.Exception
		wantDue       string
	}{
		{"the amount alone", "25.000000", invoice.StatusOpen, invoice.ExceptionUnderpaid, "5.00"},
		{"amount and tip", "30.000000", invoice.StatusPaid, invoice.ExceptionNone, "0.00"},
		{"above amount and tip", "30.010000", invoice.StatusPaid, invoice.ExceptionOverpaid, "0.00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := state{status: invoice.StatusOpen}.build()
			inv.AllowTip, inv.TipCapPercent, inv.TipAmount = true, 20, invoice.NewUnits(500)
			p := pay("t1", tc.paid, invoice.PaymentConfirmed)
			p.CreatedAt = before
			got, _, err := invoice.Next(inv, []invoice.Payment{p}, invoice.Input{Kind: invoice.InputPayment, Payment: &p, Now: before})
			if err != nil || got.Status != tc.wantStatus || got.Exception != tc.wantException || got.AmountDue().Format(2) != tc.wantDue {
				t.Errorf("got %s %s due %s (%v); want %s %s due %s", got.Status, got.Exception, got.AmountDue().Format(2), err,
					tc.wantStatus, tc.wantException, tc.wantDue)
			}
		})
	}
}

// TestSetTipRules: 0, percent, at the cap, above it (tip_above_cap, nothing
// written), on an invoice without allow_tip, and once a payment is seen.
func TestSetTipRules(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		inv := b.create(func(p *invoice.CreateParams) { p.AllowTip = true; p.Amount = "19.99" })
		if inv.TipCapPercent != invoice.DefaultTipCapPercent {
			t.Fatalf("default cap %d", inv.TipCapPercent)
		}
		pct := func(n int) *int { return &n }
		for _, tc := range []struct {
			tip      invoice.Tip
			want     string
			wantCode string
		}{
			{invoice.Tip{Amount: "0.00"}, "0.00", ""},
			{invoice.Tip{Percent: pct(15)}, "2.99", ""}, // 2.9985 rounded down
			{invoice.Tip{Percent: pct(20)}, "3.99", ""}, // the cap, 3.998, rounded down: never refused
			{invoice.Tip{Percent: pct(21)}, "", "tip_above_cap"},
			{invoice.Tip{Amount: "3.99"}, "3.99", ""}, // the most under a cap of 3.998
			{invoice.Tip{Amount: "4.00"}, "", "tip_above_cap"},
			{invoice.Tip{Amount: "-1"}, "", "invalid_tip"},
			{invoice.Tip{}, "", "invalid_tip"},
		} {
			before := b.eventCounts(inv.ID)[invoice.EventInvoiceUpdated]
			got, err := b.svc.SetTip(b.ctx, inv.ID, tc.tip, nil)
			var v *invoice.ValidationError
			switch {
			case tc.wantCode != "":
				if !errors.As(err, &v) || v.Fields[0].Code != tc.wantCode {
					t.Errorf("%+v: err %v, want %s", tc.tip, err, tc.wantCode)
				}
				if n := b.eventCounts(inv.ID)[invoice.EventInvoiceUpdated]; n != before {
					t.Errorf("%+v: a refused tip wrote an event", tc.tip)
				}
			case err != nil || got.TipAmount.Format(2) != tc.want:
				t.Errorf("%+v: tip %s, %v; want %s", tc.tip, got.TipAmount.Format(2), err, tc.want)
			}
		}
		if got := b.get(inv); got.TipAmount.Format(2) != "3.99" || got.AmountDue().Format(2) != "23.98" {
			t.Errorf("stored tip %s due %s", got.TipAmount.Format(2), got.AmountDue().Format(2))
		}
		b.apply(obs(inv, "0xp", "1.000000", invoice.PaymentPending))
		if _, err := b.svc.SetTip(b.ctx, inv.ID, invoice.Tip{Amount: "1.00"}, nil); !errors.Is(err, invoice.ErrTipClosed) {
			t.Errorf("after a payment: %v, want ErrTipClosed", err)
		}
		plain := b.create()
		if _, err := b.svc.SetTip(b.ctx, plain.ID, invoice.Tip{Amount: "1.00"}, nil); !errors.Is(err, invoice.ErrTipNotAllowed) {
			t.Errorf("without allow_tip: %v", err)
		}
	})
}

// TestCheckoutScannedOnceConcurrent: of many concurrent first opens,
// exactly one records scanned_at.
func TestCheckoutScannedOnceConcurrent(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		inv := b.create()
		var mu sync.Mutex
		firsts := 0
		var wg sync.WaitGroup
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := b.svc.WithinTx(b.ctx, func(ctx context.Context, tx bun.IDB) error {
					_, first, err := invoice.CheckoutScanned(ctx, tx, inv.ID, b.svc.Now())
					if first {
						mu.Lock()
						firsts++
						mu.Unlock()
					}
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := b.get(inv); firsts != 1 || got.ScannedAt == nil {
			t.Errorf("%d calls recorded the scan, scanned_at %v; want exactly 1", firsts, got.ScannedAt)
		}
	})
}
