package invoice

import (
	"errors"
	"slices"
	"time"
)

// Input is what can happen to an invoice.
type Input struct {
	Kind InputKind
	// Payment is the payment as it stands after an observation (InputPayment).
	Payment *Payment
	// Now is when the input is applied.
	Now time.Time
	// Mark is the resolution by hand (InputMark).
	Mark *Mark
}

// Mark is a person's resolution of an invoice: it becomes paid or invalid
// whatever its payments say, with the exception marked.
type Mark struct {
	Status Status // StatusPaid or StatusInvalid
	Note   string
	By     string // who: the API key's prefix
}

// InputKind names an input.
type InputKind int

// Inputs.
const (
	InputPayment InputKind = iota + 1 // a payment appeared or changed status
	InputExpire                       // the expirer found the invoice due
	InputCancel                       // the merchant cancels
	InputMark                         // the merchant resolves it by hand
)

// ErrMarkStatus is returned by [Next] for a mark to a status other than
// paid or invalid.
var ErrMarkStatus = errors.New("an invoice can be marked paid or invalid")

// ErrNotCancellable is returned by [Next] (and [Service.Cancel]) when the
// invoice is not open or already has money on it.
var ErrNotCancellable = errors.New("invoice cannot be cancelled")

// Next is the state machine: from an invoice, the payments recorded for it
// (payments already holds in.Payment at its new status) and one input, it
// returns the invoice as it must become and the changes to write as events.
// It does no I/O and reads no clock.
//
// The rules (DESIGN.md, "Invoice"; expiry is "open before", not "pay
// before"):
//   - confirmed payments ≥ amount → paid (overpaid above it; paid_late only
//     when the confirmed payments first seen before expires_at do not cover
//     the amount, i.e. money first seen after expiry was needed);
//   - otherwise, while before expires_at, processing if a payment is pending,
//     else open; after expires_at, processing while the payments first seen
//     before expires_at (pending or confirmed) cover the amount (see
//     [OnTime]), else expired; an invoice already expired stays expired
//     until money covers it;
//   - 0 < confirmed < amount carries the exception underpaid;
//   - a cancelled invoice stays cancelled and anything paid to it is flagged
//     overpaid, for the merchant to refund;
//   - a marked invoice keeps its status and exception; payments still count;
//   - a mark sets paid or invalid by hand, with the exception marked.
func Next(inv Invoice, payments []Payment, in Input) (Invoice, []Change, error) {
	prev := inv
	var changes []Change
	switch in.Kind {
	case InputCancel:
		// Any confirmed payment, even below a cent, is money to refund.
		if inv.Status != StatusOpen || inv.AmountPaid.Sign() > 0 ||
			hasStatus(payments, PaymentPending) || hasStatus(payments, PaymentConfirmed) {
			return inv, nil, ErrNotCancellable
		}
		inv.Status = StatusCancelled
	case InputExpire:
		if inv.Status != StatusOpen && inv.Status != StatusProcessing || in.Now.Before(inv.ExpiresAt) ||
			OnTime(inv, payments) {
			return inv, nil, nil
		}
		inv.Status = StatusExpired
	case InputPayment:
		changes = append(changes, Change{Type: EventInvoicePaymentUpdated, Payment: in.Payment})
		inv.AmountPaid = confirmedTotal(inv, payments)
		inv.FailedPayments = countStatus(payments, PaymentReversed)
		if inv.Exception != ExceptionMarked && inv.Status != StatusCancelled {
			inv.Status = settledStatus(inv, payments, in.Now)
		}
	case InputMark:
		if in.Mark == nil || in.Mark.Status != StatusPaid && in.Mark.Status != StatusInvalid {
			return inv, nil, ErrMarkStatus
		}
		inv.Status, inv.Exception = in.Mark.Status, ExceptionMarked
		inv.MarkNote, inv.MarkedBy = in.Mark.Note, in.Mark.By
		t := in.Now
		inv.MarkedAt = &t
		// A mark is always news, also when only its note changed.
		changes = append(changes, Change{Type: EventInvoiceUpdated, PreviousStatus: prev.Status})
	default:
		return inv, nil, errors.New("unknown input")
	}
	inv.Exception = exception(prev, inv, payments, in.Now)
	switch {
	case inv.Status == StatusPaid && prev.Status != StatusPaid:
		t := in.Now
		inv.PaidAt = &t
	case inv.Status != StatusPaid:
		inv.PaidAt = nil
	}
	if (inv.Status != prev.Status || inv.Exception != prev.Exception) && in.Kind != InputMark {
		changes = append(changes, Change{Type: EventInvoiceUpdated, PreviousStatus: prev.Status})
	}
	if len(changes) > 0 {
		inv.UpdatedAt = in.Now
	}
	return inv, changes, nil
}

// settledStatus is the status the payments call for.
func settledStatus(inv Invoice, payments []Payment, now time.Time) Status {
	switch {
	case inv.AmountPaid.Cmp(inv.Total()) >= 0:
		return StatusPaid
	case inv.Status == StatusExpired:
		// Terminal: a pending payment does not reopen it; only money that
		// confirms moves it (to paid).
		return StatusExpired
	case now.Before(inv.ExpiresAt):
		if hasStatus(payments, PaymentPending) {
			return StatusProcessing
		}
		return StatusOpen
	case OnTime(inv, payments):
		// Past expires_at, but the money was seen in time and is only
		// waiting for its confirmations (BTCPay keeps it processing).
		return StatusProcessing
	default:
		return StatusExpired
	}
}

// OnTime reports whether the payments first seen before inv's expires_at,
// pending or confirmed, cover its amount: the payor paid in time, whenever
// the network confirms it. Such an invoice is not expired at expires_at (it
// stays processing), and is paid without the exception paid_late when they
// confirm. The expirer uses it to skip such invoices without a write.
func OnTime(inv Invoice, payments []Payment) bool {
	return seenBefore(inv, payments, PaymentPending, PaymentConfirmed).Cmp(inv.Total()) >= 0
}

// seenBefore sums, as confirmedTotal does, the payments of the given
// statuses first seen before inv's expires_at.
func seenBefore(inv Invoice, payments []Payment, statuses ...PaymentStatus) Units {
	var early []Payment
	for _, p := range payments {
		if slices.Contains(statuses, p.Status) && FirstSeen(p).Before(inv.ExpiresAt) {
			p.Status = PaymentConfirmed // counted as confirmedTotal counts
			early = append(early, p)
		}
	}
	return confirmedTotal(inv, early)
}

// FirstSeen is when settle first saw a payment: when it recorded it
// (created_at; a status change keeps it), by the same clock as expires_at
// and the expirer. The observation's own time (a watcher's, a bank's
// booking time) is only the fallback for a payment not yet recorded: an
// outside clock does not decide what is late.
func FirstSeen(p Payment) time.Time {
	if p.CreatedAt.IsZero() {
		return p.ObservedAt
	}
	return p.CreatedAt
}

// exception is the exception for inv after a move from prev at now.
func exception(prev, inv Invoice, payments []Payment, now time.Time) Exception {
	paid := inv.AmountPaid.Sign() > 0
	switch {
	case inv.Exception == ExceptionMarked:
		return ExceptionMarked
	case inv.Status == StatusCancelled:
		if paid {
			return ExceptionOverpaid
		}
		return ExceptionNone
	case inv.Status == StatusPaid:
		// Late once means late for good: a later top-up does not hide it.
		// Paid after expires_at is late only when the money seen in time
		// does not cover the amount: confirming late is not paying late.
		late := prev.Status == StatusPaid && prev.Exception == ExceptionPaidLate ||
			prev.Status != StatusPaid && !now.Before(inv.ExpiresAt) &&
				seenBefore(inv, payments, PaymentConfirmed).Cmp(inv.Total()) < 0
		if late {
			return ExceptionPaidLate
		}
		if inv.AmountPaid.Cmp(asked(inv)) > 0 {
			return ExceptionOverpaid
		}
		return ExceptionNone
	case paid:
		return ExceptionUnderpaid
	default:
		return ExceptionNone
	}
}

// confirmedTotal sums confirmed payments in the invoice's currency units.
// It adds at a fine scale and rounds toward zero once, so ten payments of
// 0.009 USDC make 0.09 USD, not 0.00.
func confirmedTotal(inv Invoice, payments []Payment) Units {
	scale := inv.Decimals
	for _, p := range payments {
		scale = max(scale, p.Decimals)
	}
	var sum Units
	for _, p := range payments {
		if p.Status == PaymentConfirmed {
			sum = sum.Add(p.Amount.Rescale(p.Decimals, scale))
		}
	}
	return sum.Rescale(scale, inv.Decimals)
}

func countStatus(payments []Payment, s PaymentStatus) int {
	n := 0
	for _, p := range payments {
		if p.Status == s {
			n++
		}
	}
	return n
}

func hasStatus(payments []Payment, s PaymentStatus) bool {
	for _, p := range payments {
		if p.Status == s {
			return true
		}
	}
	return false
}

// asked is the most an instruction of inv asks the payor to send, in the
// invoice's currency, and at least the amount and tip: a rail's unique code (QRIS)
// is added to the amount, and paying exactly that is no over-payment.
// Stablecoin instructions carry their code below the currency's smallest
// unit, so they never raise it.
func asked(inv Invoice) Units {
	out := inv.Total()
	for _, in := range inv.Instructions {
		if in.Asset != string(inv.Currency) {
			continue
		}
		if u, err := ParseAmount(in.Amount, inv.Decimals); err == nil && u.Cmp(out) > 0 {
			out = u
		}
	}
	return out
}
