package invoice_test

import (
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
)

// The state machine is specified by this table: every status crossed with
// every input, plus the stories DESIGN.md tells (partial then top-up,
// late payment, reorg, cancelled invoice paid anyway, marked invoices, a
// 6-decimal asset against a 2-decimal currency).

var (
	t0       = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	expires  = t0.Add(15 * time.Minute)
	before   = t0.Add(5 * time.Minute)  // still open
	after    = t0.Add(20 * time.Minute) // past expires_at
	paidTime = t0.Add(2 * time.Minute)  // when a "paid" fixture was paid
)

// pay is a USDC payment (6 decimals) of amount in whole-currency notation.
// When it was first seen (recorded) is left to TestNext: a payment of the
// state was seen before expires_at, a new one at the input's time, and a
// payment that changes status keeps the time it was first seen (see seenAt
// to say otherwise).
func pay(id, amount string, status invoice.PaymentStatus) invoice.Payment {
	return invoice.Payment{
		ID: id, InvoiceID: "inv_1", Network: "base", TxID: "0x" + id, Asset: "USDC",
		Decimals: 6, Amount: mustUnits(amount, 6), Status: status,
	}
}

// seenAt is p first seen, recorded, at t.
func seenAt(p invoice.Payment, t time.Time) invoice.Payment {
	p.CreatedAt = t
	return p
}

// observedAt is p as observed at t by the watcher's or the rail's clock.
func observedAt(p invoice.Payment, t time.Time) invoice.Payment {
	p.ObservedAt = t
	return p
}

// many returns n payments of amount each, all confirmed.
func many(n int, amount string) []invoice.Payment {
	out := make([]invoice.Payment, n)
	for i := range out {
		out[i] = pay(fmt.Sprintf("m%d", i), amount, invoice.PaymentConfirmed)
	}
	return out
}

func mustUnits(s string, decimals int) invoice.Units {
	u, err := invoice.ParseAmount(s, decimals)
	if err != nil {
		panic(fmt.Sprintf("units %q: %v", s, err))
	}
	return u
}

// state is an invoice of 25.00 USD as it stands before the input.
type state struct {
	status    invoice.Status
	exception invoice.Exception
	payments  []invoice.Payment
}

// build returns the stored invoice for st: amount_paid is what its confirmed
// payments sum to (computed here independently of the package), and paid_at
// is set when it is paid.
func (st state) build() invoice.Invoice {
	sum := new(big.Int)
	for _, p := range st.payments {
		if p.Status == invoice.PaymentConfirmed {
			sum.Add(sum, p.Amount.Big())
		}
	}
	sum.Quo(sum, big.NewInt(10_000)) // 6 decimals → 2, toward zero
	exc := st.exception
	if exc == "" {
		exc = invoice.ExceptionNone
	}
	inv := invoice.Invoice{
		ID: "inv_1", MerchantID: "mer_1", Mode: invoice.ModeTest, Status: st.status, Exception: exc,
		Currency: "USD", Decimals: 2, Amount: invoice.NewUnits(2500), AmountPaid: invoice.NewUnits(sum.Int64()),
		ExpiresAt: expires, CreatedAt: t0, UpdatedAt: t0,
	}
	if st.status == invoice.StatusPaid {
		p := paidTime
		inv.PaidAt = &p
	}
	return inv
}

// input is one input; for payments, the payment at its new status. A payment
// whose id is among the state's payments replaces it (a status change).
type input struct {
	kind    invoice.InputKind
	payment invoice.Payment
	mark    invoice.Status
	at      time.Time
}

func observe(p invoice.Payment, at time.Time) input {
	return input{kind: invoice.InputPayment, payment: p, at: at}
}
func expire(at time.Time) input { return input{kind: invoice.InputExpire, at: at} }
func cancel() input             { return input{kind: invoice.InputCancel, at: before} }
func mark(st invoice.Status, at time.Time) input {
	return input{kind: invoice.InputMark, mark: st, at: at}
}

// label names the input for the coverage check.
func (in input) label() string {
	switch in.kind {
	case invoice.InputPayment:
		return "payment " + string(in.payment.Status)
	case invoice.InputExpire:
		if in.at.Before(expires) {
			return "expire before"
		}
		return "expire after"
	case invoice.InputCancel:
		return "cancel"
	case invoice.InputMark:
		return "mark " + string(in.mark)
	}
	return "?"
}

type result struct {
	status     invoice.Status
	exception  invoice.Exception
	amountPaid string // formatted in USD
	paidAt     paidAt
}

type paidAt int

const (
	paidAtNil  paidAt = iota // not paid
	paidAtNow                // paid by this input: paid_at is the input's time
	paidAtKept               // stays paid: paid_at is unchanged
)

type event struct {
	typ  string
	prev invoice.Status // invoice.updated only
}

var paymentUpdated = event{typ: invoice.EventInvoicePaymentUpdated}

func updated(prev invoice.Status) event { return event{typ: invoice.EventInvoiceUpdated, prev: prev} }

const (
	open       = invoice.StatusOpen
	processing = invoice.StatusProcessing
	paid       = invoice.StatusPaid
	expired    = invoice.StatusExpired
	cancelled  = invoice.StatusCancelled
	invalid    = invoice.StatusInvalid

	none      = invoice.ExceptionNone
	underpaid = invoice.ExceptionUnderpaid
	overpaid  = invoice.ExceptionOverpaid
	paidLate  = invoice.ExceptionPaidLate
	marked    = invoice.ExceptionMarked

	pending   = invoice.PaymentPending
	confirmed = invoice.PaymentConfirmed
	reversed  = invoice.PaymentReversed
)

var transitionTests = []struct {
	name       string
	from       state
	in         input
	want       result // ignored when wantErr is set: the invoice must not change
	wantEvents []event
	wantErr    error
}{
	// --- open ---
	{
		name:       "open: pending payment of the full amount",
		from:       state{status: open},
		in:         observe(pay("p1", "25", pending), before),
		want:       result{processing, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "open: confirmed payment of the full amount",
		from:       state{status: open},
		in:         observe(pay("p1", "25", confirmed), before),
		want:       result{paid, none, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "open: partial payment confirmed",
		from:       state{status: open},
		in:         observe(pay("p1", "10", confirmed), before),
		want:       result{open, underpaid, "10.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "open: partial then top-up",
		from:       state{status: open, exception: underpaid, payments: []invoice.Payment{pay("p1", "10", confirmed)}},
		in:         observe(pay("p2", "15", confirmed), before),
		want:       result{paid, none, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "open: partial then a second partial stays underpaid without an invoice event",
		from:       state{status: open, exception: underpaid, payments: []invoice.Payment{pay("p1", "10", confirmed)}},
		in:         observe(pay("p2", "5", confirmed), before),
		want:       result{open, underpaid, "15.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "open: over-payment",
		from:       state{status: open},
		in:         observe(pay("p1", "30", confirmed), before),
		want:       result{paid, overpaid, "30.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "open: a payment first seen reversed is recorded and changes nothing else",
		from:       state{status: open},
		in:         observe(pay("p1", "25", reversed), before),
		want:       result{open, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "open: confirmed after expires_at, before the expirer ran, is paid late",
		from:       state{status: open},
		in:         observe(pay("p1", "25", confirmed), after),
		want:       result{paid, paidLate, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "open: pending after expires_at expires the invoice",
		from:       state{status: open},
		in:         observe(pay("p1", "25", pending), after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name: "open: expire before expires_at is a no-op",
		from: state{status: open},
		in:   expire(before),
		want: result{open, none, "0.00", paidAtNil},
	},
	{
		name:       "open: expire at exactly expires_at",
		from:       state{status: open},
		in:         expire(expires),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{updated(open)},
	},
	{
		name:       "open: expire after expires_at",
		from:       state{status: open},
		in:         expire(after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{updated(open)},
	},
	{
		name:       "open: expire with a partial payment keeps underpaid",
		from:       state{status: open, exception: underpaid, payments: []invoice.Payment{pay("p1", "10", confirmed)}},
		in:         expire(after),
		want:       result{expired, underpaid, "10.00", paidAtNil},
		wantEvents: []event{updated(open)},
	},
	{
		name:       "open: cancel",
		from:       state{status: open},
		in:         cancel(),
		want:       result{cancelled, none, "0.00", paidAtNil},
		wantEvents: []event{updated(open)},
	},
	{
		name:       "open: cancel after a reversed payment (no money on it)",
		from:       state{status: open, payments: []invoice.Payment{pay("p1", "25", reversed)}},
		in:         cancel(),
		want:       result{cancelled, none, "0.00", paidAtNil},
		wantEvents: []event{updated(open)},
	},
	{
		name:    "open: cancel refused with money on it",
		from:    state{status: open, exception: underpaid, payments: []invoice.Payment{pay("p1", "10", confirmed)}},
		in:      cancel(),
		wantErr: invoice.ErrNotCancellable,
	},
	{
		name:    "open: cancel refused with a confirmed payment below a cent",
		from:    state{status: open, payments: []invoice.Payment{pay("p1", "0.000001", confirmed)}},
		in:      cancel(),
		wantErr: invoice.ErrNotCancellable,
	},
	{
		name:    "open: cancel refused with a pending payment",
		from:    state{status: open, payments: []invoice.Payment{pay("p1", "10", pending)}},
		in:      cancel(),
		wantErr: invoice.ErrNotCancellable,
	},

	// --- USDC (6 decimals) against USD (2 decimals) ---
	{
		name:       "usdc: 24.999999 USDC is underpaid, rounded toward zero",
		from:       state{status: open},
		in:         observe(pay("p1", "24.999999", confirmed), before),
		want:       result{open, underpaid, "24.99", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "usdc: 24.999999 plus 0.000001 is paid exactly",
		from:       state{status: open, exception: underpaid, payments: []invoice.Payment{pay("p1", "24.999999", confirmed)}},
		in:         observe(pay("p2", "0.000001", confirmed), before),
		want:       result{paid, none, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "usdc: ten payments of 0.009 make 0.09, not 0.00",
		from:       state{status: open, exception: underpaid, payments: many(9, "0.009")},
		in:         observe(pay("p1", "0.009", confirmed), before),
		want:       result{open, underpaid, "0.09", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name: "usdc: 24.90 plus 10000 payments of 0.00001 is paid",
		from: state{status: open, exception: underpaid,
			payments: append(many(9999, "0.00001"), pay("big", "24.90", confirmed))},
		in:         observe(pay("p1", "0.00001", confirmed), before),
		want:       result{paid, none, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "usdc: a sub-cent first payment is recorded without an exception",
		from:       state{status: open},
		in:         observe(pay("p1", "0.009999", confirmed), before),
		want:       result{open, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},

	// --- processing: p1 (25) is pending ---
	{
		name:       "processing: the pending payment confirms",
		from:       state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:         observe(pay("p1", "25", confirmed), before),
		want:       result{paid, none, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(processing)},
	},
	{
		name:       "processing: a second pending payment",
		from:       state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:         observe(pay("p2", "5", pending), before),
		want:       result{processing, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "processing: reversal of the pending payment goes back to open",
		from:       state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:         observe(pay("p1", "25", reversed), before),
		want:       result{open, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(processing)},
	},
	{
		name:       "processing: reversal after expires_at expires it",
		from:       state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:         observe(pay("p1", "25", reversed), after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(processing)},
	},
	{
		name:       "processing: pending seen before expires_at confirms after it: paid on time",
		from:       state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:         observe(pay("p1", "25", confirmed), after),
		want:       result{paid, none, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(processing)},
	},
	{
		name: "processing: part seen in time, the rest first seen after expires_at: paid late",
		from: state{status: processing, payments: []invoice.Payment{
			pay("p1", "10", pending), seenAt(pay("p2", "15", confirmed), after)}},
		in:         observe(pay("p1", "10", confirmed), after),
		want:       result{paid, paidLate, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(processing)},
	},
	{
		name:       "processing: pending first seen after expires_at confirms: paid late",
		from:       state{status: processing, payments: []invoice.Payment{seenAt(pay("p1", "25", pending), after)}},
		in:         observe(pay("p1", "25", confirmed), after),
		want:       result{paid, paidLate, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(processing)},
	},
	{
		name:       "processing: past expires_at, a late pending payment beside the one in time: stays processing",
		from:       state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:         observe(pay("p2", "5", pending), after),
		want:       result{processing, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "processing: past expires_at, the payment in time is reversed, a late one is pending: expired",
		from:       state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending), seenAt(pay("p2", "25", pending), after)}},
		in:         observe(pay("p1", "25", reversed), after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(processing)},
	},
	{
		name:       "open: pending, dated before expires_at by an outside clock but first recorded after it, expires it",
		from:       state{status: open},
		in:         observe(observedAt(pay("p1", "25", pending), before), after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "open: confirmed, dated before expires_at by an outside clock but first recorded after it, is paid late",
		from:       state{status: open},
		in:         observe(observedAt(pay("p1", "25", confirmed), before), after),
		want:       result{paid, paidLate, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(open)},
	},
	{
		name:       "processing: a partial confirms and another stays pending",
		from:       state{status: processing, payments: []invoice.Payment{pay("p1", "10", pending), pay("p2", "15", pending)}},
		in:         observe(pay("p1", "10", confirmed), before),
		want:       result{processing, underpaid, "10.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(processing)},
	},
	{
		name: "processing: the last pending part confirms",
		from: state{status: processing, exception: underpaid,
			payments: []invoice.Payment{pay("p1", "10", confirmed), pay("p2", "15", pending)}},
		in:         observe(pay("p2", "15", confirmed), before),
		want:       result{paid, none, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(processing)},
	},
	{
		name: "processing: expire before expires_at is a no-op",
		from: state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:   expire(before),
		want: result{processing, none, "0.00", paidAtNil},
	},
	{
		name: "processing: expire after expires_at is a no-op while payments seen in time cover the amount",
		from: state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:   expire(after),
		want: result{processing, none, "0.00", paidAtNil},
	},
	{
		name: "processing: expire after expires_at is a no-op for a confirmed part and a pending rest, both in time",
		from: state{status: processing, exception: underpaid,
			payments: []invoice.Payment{pay("p1", "10", confirmed), pay("p2", "15", pending)}},
		in:   expire(after),
		want: result{processing, underpaid, "10.00", paidAtNil},
	},
	{
		name:       "processing: expire after expires_at with too little seen in time",
		from:       state{status: processing, payments: []invoice.Payment{pay("p1", "20", pending)}},
		in:         expire(after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{updated(processing)},
	},
	{
		name:       "processing: expire after expires_at when the covering payment was first seen after it",
		from:       state{status: processing, payments: []invoice.Payment{seenAt(pay("p1", "25", pending), expires)}},
		in:         expire(after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{updated(processing)},
	},
	{
		name:    "processing: cancel refused",
		from:    state{status: processing, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:      cancel(),
		wantErr: invoice.ErrNotCancellable,
	},

	// --- paid: p1 (25) is confirmed ---
	{
		name:       "paid: another payment pending",
		from:       state{status: paid, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:         observe(pay("p2", "5", pending), before),
		want:       result{paid, none, "25.00", paidAtKept},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "paid: another payment confirmed is an over-payment",
		from:       state{status: paid, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:         observe(pay("p2", "5", confirmed), after),
		want:       result{paid, overpaid, "30.00", paidAtKept},
		wantEvents: []event{paymentUpdated, updated(paid)},
	},
	{
		name:       "paid: reorg reverses the payment before expires_at: back to open",
		from:       state{status: paid, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:         observe(pay("p1", "25", reversed), before),
		want:       result{open, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(paid)},
	},
	{
		name:       "paid: reorg while another payment is pending: back to processing",
		from:       state{status: paid, payments: []invoice.Payment{pay("p1", "25", confirmed), pay("p2", "25", pending)}},
		in:         observe(pay("p1", "25", reversed), before),
		want:       result{processing, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(paid)},
	},
	{
		name:       "paid: reorg after expires_at: expired",
		from:       state{status: paid, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:         observe(pay("p1", "25", reversed), after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(paid)},
	},
	{
		name:       "paid: reorg of one of two parts: open and underpaid",
		from:       state{status: paid, payments: []invoice.Payment{pay("p1", "10", confirmed), pay("p2", "15", confirmed)}},
		in:         observe(pay("p2", "15", reversed), before),
		want:       result{open, underpaid, "10.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(paid)},
	},
	{
		name: "paid: reversal of the surplus clears overpaid",
		from: state{status: paid, exception: overpaid,
			payments: []invoice.Payment{pay("p1", "25", confirmed), pay("p2", "5", confirmed)}},
		in:         observe(pay("p2", "5", reversed), before),
		want:       result{paid, none, "25.00", paidAtKept},
		wantEvents: []event{paymentUpdated, updated(paid)},
	},
	{
		name:       "paid: paid_late stays paid_late after a top-up",
		from:       state{status: paid, exception: paidLate, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:         observe(pay("p2", "5", confirmed), after),
		want:       result{paid, paidLate, "30.00", paidAtKept},
		wantEvents: []event{paymentUpdated},
	},
	{
		name: "paid: expire before expires_at is a no-op",
		from: state{status: paid, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:   expire(before),
		want: result{paid, none, "25.00", paidAtKept},
	},
	{
		name: "paid: expire after expires_at is a no-op",
		from: state{status: paid, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:   expire(after),
		want: result{paid, none, "25.00", paidAtKept},
	},
	{
		name:    "paid: cancel refused",
		from:    state{status: paid, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:      cancel(),
		wantErr: invoice.ErrNotCancellable,
	},

	// --- expired ---
	{
		name:       "expired: pending payment leaves it expired",
		from:       state{status: expired},
		in:         observe(pay("p1", "25", pending), after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "expired: payment after expiry is paid late",
		from:       state{status: expired},
		in:         observe(pay("p1", "25", confirmed), after),
		want:       result{paid, paidLate, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(expired)},
	},
	{
		name:       "expired: a pending payment seen before expiry confirms after it: paid on time",
		from:       state{status: expired, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:         observe(pay("p1", "25", confirmed), after),
		want:       result{paid, none, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(expired)},
	},
	{
		name:       "expired: partial payment after expiry is underpaid",
		from:       state{status: expired},
		in:         observe(pay("p1", "10", confirmed), after),
		want:       result{expired, underpaid, "10.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(expired)},
	},
	{
		name:       "expired: underpaid topped up after expiry is paid late",
		from:       state{status: expired, exception: underpaid, payments: []invoice.Payment{pay("p1", "10", confirmed)}},
		in:         observe(pay("p2", "15", confirmed), after),
		want:       result{paid, paidLate, "25.00", paidAtNow},
		wantEvents: []event{paymentUpdated, updated(expired)},
	},
	{
		name:       "expired: reversal of a pending payment",
		from:       state{status: expired, payments: []invoice.Payment{pay("p1", "25", pending)}},
		in:         observe(pay("p1", "25", reversed), after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "expired: reversal of the partial payment clears underpaid",
		from:       state{status: expired, exception: underpaid, payments: []invoice.Payment{pay("p1", "10", confirmed)}},
		in:         observe(pay("p1", "10", reversed), after),
		want:       result{expired, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(expired)},
	},
	{
		name: "expired: expire again is a no-op",
		from: state{status: expired},
		in:   expire(after),
		want: result{expired, none, "0.00", paidAtNil},
	},
	{
		name: "expired: expire before expires_at is a no-op",
		from: state{status: expired},
		in:   expire(before),
		want: result{expired, none, "0.00", paidAtNil},
	},
	{
		name:    "expired: cancel refused",
		from:    state{status: expired},
		in:      cancel(),
		wantErr: invoice.ErrNotCancellable,
	},

	// --- cancelled ---
	{
		name:       "cancelled: pending payment is recorded, status stays",
		from:       state{status: cancelled},
		in:         observe(pay("p1", "25", pending), before),
		want:       result{cancelled, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "cancelled: confirmed payment is recorded and flagged overpaid for refund",
		from:       state{status: cancelled},
		in:         observe(pay("p1", "25", confirmed), before),
		want:       result{cancelled, overpaid, "25.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(cancelled)},
	},
	{
		name:       "cancelled: reversal of what was paid to it clears the flag",
		from:       state{status: cancelled, exception: overpaid, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:         observe(pay("p1", "25", reversed), before),
		want:       result{cancelled, none, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated, updated(cancelled)},
	},
	{
		name: "cancelled: expire before expires_at is a no-op",
		from: state{status: cancelled},
		in:   expire(before),
		want: result{cancelled, none, "0.00", paidAtNil},
	},
	{
		name: "cancelled: expire after expires_at is a no-op",
		from: state{status: cancelled},
		in:   expire(after),
		want: result{cancelled, none, "0.00", paidAtNil},
	},
	{
		name:    "cancelled: cancel again refused",
		from:    state{status: cancelled},
		in:      cancel(),
		wantErr: invoice.ErrNotCancellable,
	},

	// --- marked: resolved by hand, payments still count ---
	{
		name:       "marked: open invoice paid in full keeps status and exception",
		from:       state{status: open, exception: marked, payments: []invoice.Payment{pay("p1", "10", confirmed)}},
		in:         observe(pay("p2", "15", confirmed), before),
		want:       result{open, marked, "25.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "marked: paid invoice reversed keeps status and exception",
		from:       state{status: paid, exception: marked, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:         observe(pay("p1", "25", reversed), before),
		want:       result{paid, marked, "0.00", paidAtKept},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "marked: expired invoice paid late keeps status and exception",
		from:       state{status: expired, exception: marked},
		in:         observe(pay("p1", "25", confirmed), after),
		want:       result{expired, marked, "25.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "marked invalid: a payment is recorded, status and exception stay",
		from:       state{status: invalid, exception: marked},
		in:         observe(pay("p1", "25", confirmed), before),
		want:       result{invalid, marked, "25.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "marked invalid: a pending payment is recorded",
		from:       state{status: invalid, exception: marked},
		in:         observe(pay("p1", "25", pending), before),
		want:       result{invalid, marked, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name:       "marked invalid: a reversal is recorded",
		from:       state{status: invalid, exception: marked, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:         observe(pay("p1", "25", reversed), before),
		want:       result{invalid, marked, "0.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
	{
		name: "marked invalid: expire before is a no-op",
		from: state{status: invalid, exception: marked},
		in:   expire(before),
		want: result{invalid, marked, "0.00", paidAtNil},
	},
	{
		name: "marked invalid: expire after is a no-op",
		from: state{status: invalid, exception: marked},
		in:   expire(after),
		want: result{invalid, marked, "0.00", paidAtNil},
	},
	{
		name:    "marked invalid: cancel refused",
		from:    state{status: invalid, exception: marked},
		in:      cancel(),
		wantErr: invoice.ErrNotCancellable,
	},
	{
		name:       "mark paid: an underpaid open invoice becomes paid, marked",
		from:       state{status: open, exception: underpaid, payments: []invoice.Payment{pay("p1", "10", confirmed)}},
		in:         mark(paid, before),
		want:       result{paid, marked, "10.00", paidAtNow},
		wantEvents: []event{updated(open)},
	},
	{
		name:       "mark invalid: a paid invoice becomes invalid, paid_at cleared",
		from:       state{status: paid, payments: []invoice.Payment{pay("p1", "25", confirmed)}},
		in:         mark(invalid, after),
		want:       result{invalid, marked, "25.00", paidAtNil},
		wantEvents: []event{updated(paid)},
	},
	{
		name:       "mark again: the note changes, an event says so",
		from:       state{status: paid, exception: marked},
		in:         mark(paid, before),
		want:       result{paid, marked, "0.00", paidAtKept},
		wantEvents: []event{updated(paid)},
	},
	{
		name:    "mark: only paid or invalid",
		from:    state{status: open},
		in:      mark(expired, before),
		wantErr: invoice.ErrMarkStatus,
	},
	{
		name:       "marked: cancelled invoice paid keeps the mark",
		from:       state{status: cancelled, exception: marked},
		in:         observe(pay("p1", "25", confirmed), before),
		want:       result{cancelled, marked, "25.00", paidAtNil},
		wantEvents: []event{paymentUpdated},
	},
}

func TestNext(t *testing.T) {
	t.Parallel()
	for _, tc := range transitionTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inv := tc.from.build()
			payments := append([]invoice.Payment(nil), tc.from.payments...)
			for i := range payments {
				if payments[i].CreatedAt.IsZero() {
					payments[i].CreatedAt = before
				}
			}
			in := invoice.Input{Kind: tc.in.kind, Now: tc.in.at}
			if tc.in.kind == invoice.InputPayment {
				p := tc.in.payment
				if p.CreatedAt.IsZero() {
					p.CreatedAt = tc.in.at
				}
				replaced := false
				for i := range payments {
					if payments[i].ID == p.ID {
						if tc.in.payment.CreatedAt.IsZero() {
							p.CreatedAt = payments[i].CreatedAt // a status change: first seen back then
						}
						payments[i], replaced = p, true
					}
				}
				if !replaced {
					payments = append(payments, p)
				}
				in.Payment = &p
			}
			if tc.in.kind == invoice.InputMark {
				in.Mark = &invoice.Mark{Status: tc.in.mark, Note: "by hand", By: "sk_test_12345678"}
			}

			got, changes, err := invoice.Next(inv, payments, in)

			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if len(changes) != 0 {
					t.Errorf("changes = %+v on error, want none", changes)
				}
				if !sameInvoice(got, inv) {
					t.Errorf("invoice changed on error:\n got %+v\nwant %+v", got, inv)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.Status != tc.want.status || got.Exception != tc.want.exception {
				t.Errorf("status, exception = %s, %s; want %s, %s", got.Status, got.Exception, tc.want.status, tc.want.exception)
			}
			if s := got.AmountPaid.Format(got.Decimals); s != tc.want.amountPaid {
				t.Errorf("amount_paid = %s, want %s", s, tc.want.amountPaid)
			}
			if due, wantDue := got.AmountDue(), got.Amount.Sub(got.AmountPaid); wantDue.Sign() >= 0 && due.Cmp(wantDue) != 0 || wantDue.Sign() < 0 && due.Sign() != 0 {
				t.Errorf("amount_due = %s with amount_paid %s", due, got.AmountPaid)
			}
			switch tc.want.paidAt {
			case paidAtNil:
				if got.PaidAt != nil {
					t.Errorf("paid_at = %v, want nil", *got.PaidAt)
				}
			case paidAtNow:
				if got.PaidAt == nil || !got.PaidAt.Equal(tc.in.at) {
					t.Errorf("paid_at = %v, want %v", got.PaidAt, tc.in.at)
				}
			case paidAtKept:
				if got.PaidAt == nil || !got.PaidAt.Equal(paidTime) {
					t.Errorf("paid_at = %v, want the original %v", got.PaidAt, paidTime)
				}
			}
			var gotEvents []event
			for _, c := range changes {
				gotEvents = append(gotEvents, event{typ: c.Type, prev: c.PreviousStatus})
				if c.Type == invoice.EventInvoicePaymentUpdated {
					if c.Payment == nil || c.Payment.ID != tc.in.payment.ID || c.Payment.Status != tc.in.payment.Status {
						t.Errorf("payment change carries %+v, want the observed payment", c.Payment)
					}
				}
			}
			if fmt.Sprint(gotEvents) != fmt.Sprint(tc.wantEvents) {
				t.Errorf("events = %v, want %v", gotEvents, tc.wantEvents)
			}
			wantUpdated := inv.UpdatedAt
			if len(changes) > 0 {
				wantUpdated = tc.in.at
			}
			if !got.UpdatedAt.Equal(wantUpdated) {
				t.Errorf("updated_at = %v, want %v", got.UpdatedAt, wantUpdated)
			}
			if got.ID != inv.ID || got.Amount.Cmp(inv.Amount) != 0 || !got.ExpiresAt.Equal(inv.ExpiresAt) {
				t.Errorf("identity or amount changed: %+v", got)
			}
		})
	}
}

// TestNextCoversEveryPair keeps the table honest: every status meets every
// input at least once.
func TestNextCoversEveryPair(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, tc := range transitionTests {
		seen[string(tc.from.status)+" × "+tc.in.label()] = true
	}
	inputs := []string{"payment pending", "payment confirmed", "payment reversed", "expire before", "expire after", "cancel"}
	for _, st := range invoice.Statuses {
		for _, in := range inputs {
			if !seen[string(st)+" × "+in] {
				t.Errorf("no case for %s × %s", st, in)
			}
		}
	}
}

func TestNextUnknownInput(t *testing.T) {
	t.Parallel()
	inv := state{status: open}.build()
	if _, _, err := invoice.Next(inv, nil, invoice.Input{Kind: 99, Now: before}); err == nil {
		t.Fatal("unknown input accepted")
	}
}

func sameInvoice(a, b invoice.Invoice) bool {
	return a.Status == b.Status && a.Exception == b.Exception && a.AmountPaid.Cmp(b.AmountPaid) == 0 &&
		a.UpdatedAt.Equal(b.UpdatedAt) && (a.PaidAt == nil) == (b.PaidAt == nil)
}

func TestStatusValid(t *testing.T) {
	t.Parallel()
	for _, s := range invoice.Statuses {
		if !s.Valid() || s.String() != string(s) {
			t.Errorf("%q: Valid = false", s)
		}
	}
	for _, s := range []invoice.Status{"", "Open", "refunded"} {
		if s.Valid() {
			t.Errorf("%q: Valid = true", s)
		}
	}
	if !invoice.StatusPaid.Terminal() || invoice.StatusProcessing.Terminal() || invoice.StatusOpen.Terminal() {
		t.Error("Terminal wrong")
	}
	if invoice.PaymentStatus("settled").Valid() || !invoice.PaymentReversed.Valid() {
		t.Error("PaymentStatus.Valid wrong")
	}
	if invoice.Mode("prod").Valid() || !invoice.ModeLive.Valid() {
		t.Error("Mode.Valid wrong")
	}
}

// TestNextHighPrecisionAsset sums payments of an asset finer than 18
// decimals exactly before rounding once toward the currency.
func TestNextHighPrecisionAsset(t *testing.T) {
	t.Parallel()
	fine := func(id, amount string) invoice.Payment {
		p := pay(id, "1", confirmed)
		p.Decimals, p.Amount = 24, mustUnits(amount, 24)
		return p
	}
	payments := []invoice.Payment{fine("a", "24.999999999999999999999999"), fine("b", "0.000000000000000000000001")}
	inv := state{status: open}.build()
	got, _, err := invoice.Next(inv, payments, invoice.Input{Kind: invoice.InputPayment, Payment: &payments[1], Now: before})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != paid || got.AmountPaid.Format(2) != "25.00" {
		t.Errorf("%s paid %s, want paid 25.00", got.Status, got.AmountPaid.Format(2))
	}
}

// TestNextUniqueCode: paying exactly what a rail's instruction asks (the
// amount plus a QRIS unique code) is paid, not overpaid; more than that is.
func TestNextUniqueCode(t *testing.T) {
	t.Parallel()
	inv := state{status: open}.build()
	inv.Instructions = []invoice.Instruction{{Method: "qris", Network: "qris", Asset: "USD", Amount: "25.42", AmountUnits: "2542"}}
	for _, tc := range []struct {
		paid string
		want invoice.Exception
	}{{"25.42", none}, {"25.43", overpaid}, {"25.00", none}} {
		units, err := invoice.ParseAmount(tc.paid, 2)
		if err != nil {
			t.Fatal(err)
		}
		p := invoice.Payment{ID: "p1", InvoiceID: inv.ID, Asset: "USD", Decimals: 2, Amount: units, Status: confirmed}
		got, _, err := invoice.Next(inv, []invoice.Payment{p}, invoice.Input{Kind: invoice.InputPayment, Payment: &p, Now: before})
		if err != nil || got.Status != paid || got.Exception != tc.want {
			t.Errorf("paid %s: %s/%s, %v; want paid/%s", tc.paid, got.Status, got.Exception, err, tc.want)
		}
	}
}
