package main

import (
	"math/big"
	"slices"
)

// This file is the money simulation's model: what settle must show for
// every invoice, payment and credit, worked out from the rules in
// DESIGN.md and the README independently of settle's code.

// simMerchant is one of the simulation's merchants.
type simMerchant struct {
	n       int // 0 or 1
	id, key string
	// xpub merchants receive each invoice on an address of its own; the
	// others on one address, invoices told apart by a unique amount.
	xpub    bool
	address string
	rails   map[string]simRailAccount // by rail
	// ids counts the bank ids this merchant's banks issued. Both merchants
	// count from 1, so that their banks issue the same ids.
	ids int
	// unmatched are the credits kept for this merchant: rail credits and
	// chain transfers no invoice expects.
	unmatched []*simCredit
	credits   int // rail credits recorded (matched or unmatched)
	notifs    []string
	// callbacks are what became of the QRIS callbacks sent, by their
	// identity: amount, reference and the invoice they pay.
	callbacks map[string]outcome
	// planned are QRIS amounts no invoice of the merchant has yet, whose
	// first total (the amount plus 1) a callback already paid, unmatched.
	planned []int64
}

type simRailAccount struct{ id, secret string }

// Statuses and exceptions as the API shows them.
const (
	stOpen, stProcessing, stPaid, stExpired, stCancelled = "open", "processing", "paid", "expired", "cancelled"
	exNone, exUnderpaid, exOverpaid, exLate              = "none", "underpaid", "overpaid", "paid_late"
	pPending, pConfirmed, pReversed                      = "pending", "confirmed", "reversed"
)

// simInvoice is an invoice as the model expects it.
type simInvoice struct {
	n        int
	id       string
	m        *simMerchant
	method   string // the one method besides sandbox
	currency string
	decimals int
	amount   int64 // in the currency's minor units
	asked    int64 // the most an instruction asks (the QRIS total), ≥ amount
	ref      string
	address  string   // devnet
	units    *big.Int // devnet: the exact amount asked, in token base units
	sandbox  bool     // the sandbox method is offered

	expired   bool // expires_at has passed (the simulation moved it)
	status    string
	exception string
	payments  []*simPayment
}

// simPayment is a payment as the model expects it.
type simPayment struct {
	inv      *simInvoice
	key      string // the payment id, or for chain transfers the tx hash
	chain    bool
	sandbox  string // the sandbox tx_id
	units    *big.Int
	decimals int
	status   string
	early    bool // first seen before expires_at
}

// simCredit is a rail credit or chain transfer no invoice took.
type simCredit struct {
	id     string // unmatched id (rail) or tx hash (chain)
	txID   string
	chain  bool
	status string // chain transfers: pending, confirmed, reversed
}

// paid is the confirmed total in the invoice's minor units: summed at the
// finest scale of its payments and rounded toward zero once.
func (inv *simInvoice) paid() int64 { return inv.total(pConfirmed) }

// total sums the payments of the statuses (and, with early, only those
// first seen before expires_at).
func (inv *simInvoice) total(statuses ...string) int64 { return inv.sum(false, statuses...) }

func (inv *simInvoice) sum(early bool, statuses ...string) int64 {
	scale := inv.decimals
	for _, p := range inv.payments {
		scale = max(scale, p.decimals)
	}
	sum := new(big.Int)
	for _, p := range inv.payments {
		if slices.Contains(statuses, p.status) && (!early || p.early) {
			sum.Add(sum, new(big.Int).Mul(p.units, pow10(scale-p.decimals)))
		}
	}
	return sum.Quo(sum, pow10(scale-inv.decimals)).Int64()
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// onTime: the money first seen before expiry, pending or confirmed,
// covers the amount ("open before", not "pay before").
func (inv *simInvoice) onTime() bool {
	return inv.sum(true, pPending, pConfirmed) >= inv.amount
}

func (inv *simInvoice) hasPending() bool {
	return slices.ContainsFunc(inv.payments, func(p *simPayment) bool { return p.status == pPending })
}

// settle moves the invoice after one of its payments appeared or changed.
func (inv *simInvoice) settle() {
	prevStatus, prevException := inv.status, inv.exception
	paid := inv.paid()
	if inv.status != stCancelled {
		switch {
		case paid >= inv.amount:
			inv.status = stPaid
		case inv.status == stExpired:
		case !inv.expired:
			inv.status = stOpen
			if inv.hasPending() {
				inv.status = stProcessing
			}
		case inv.onTime():
			inv.status = stProcessing
		default:
			inv.status = stExpired
		}
	}
	inv.exception = inv.exceptionAfter(prevStatus, prevException)
}

// expire is the expirer's move once expires_at has passed.
func (inv *simInvoice) expire() {
	inv.expired = true
	if (inv.status == stOpen || inv.status == stProcessing) && !inv.onTime() {
		prevStatus, prevException := inv.status, inv.exception
		inv.status = stExpired
		inv.exception = inv.exceptionAfter(prevStatus, prevException)
	}
}

func (inv *simInvoice) exceptionAfter(prevStatus, prevException string) string {
	paid := inv.paid()
	switch inv.status {
	case stCancelled:
		if paid > 0 {
			return exOverpaid
		}
		return exNone
	case stPaid:
		// Late once is late for good; paid after expiry is late when the
		// money seen in time did not cover the amount.
		late := prevStatus == stPaid && prevException == exLate ||
			prevStatus != stPaid && inv.expired && inv.sum(true, pConfirmed) < inv.amount
		switch {
		case late:
			return exLate
		case paid > inv.asked:
			return exOverpaid
		}
		return exNone
	}
	if paid > 0 {
		return exUnderpaid
	}
	return exNone
}

// cancellable: open, and nothing paid or on its way.
func (inv *simInvoice) cancellable() bool {
	return inv.status == stOpen && inv.paid() == 0 &&
		!slices.ContainsFunc(inv.payments, func(p *simPayment) bool { return p.status == pPending || p.status == pConfirmed })
}

// due is what is still to pay, in minor units (at least one unit).
func (inv *simInvoice) due() int64 { return max(inv.amount-inv.paid(), 1) }

// format writes minor units of the invoice's currency as a decimal.
func (inv *simInvoice) format(v int64) string { return formatUnits(big.NewInt(v), inv.decimals) }

func formatUnits(v *big.Int, decimals int) string {
	s := v.String()
	if decimals == 0 {
		return s
	}
	for len(s) <= decimals {
		s = "0" + s
	}
	return s[:len(s)-decimals] + "." + s[len(s)-decimals:]
}
