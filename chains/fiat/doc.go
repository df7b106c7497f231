// Package fiat is the format layer of settle's instant fiat rails: it builds
// what a payor or a bank needs to pay an invoice (a typable bank reference, an
// ISO 20022 pain.013 request for payment, a dynamic QRIS EMVCo payload) and
// parses what each rail sends back (ISO 20022 camt.054 and pacs.008 for FedNow
// and RTP, NACHA files for Same-Day ACH, a processor's signed JSON for
// push-to-card, forwarded Indonesian e-wallet notifications for QRIS).
//
// The format files (emvco, qris, iso20022, pain013, nacha, pushcard,
// notification, hmac, reference) do no I/O. [Rails] is the storage layer on
// top of them, in the invoice store: rail accounts with their callback
// secrets (accounts.go), the invoice-creation hook that writes references,
// bank details and QRIS unique codes (rails.go), and [Rails.Receive], which
// matches each authenticated credit to an invoice and applies it through
// [invoice.Service.Apply], keyed by the rail's own transaction id, or keeps
// it as unmatched (match.go), and [Rails.Return], the one reversal of a
// credit a rail returned or rejected (returned.go): a push-to-card return,
// an ISO 20022 pacs.004, camt.054 return entry or pacs.002 rejection
// (iso20022_return.go), a NACHA return entry with its addenda 99 (nacha.go).
// It serves no HTTP: package openapi does.
// Money is never a float: amounts are decimal strings or int64 minor units.
//
// Push-to-card is a payout rail: card networks let a card holder's bank push
// funds (Visa Direct, Mastercard Send) but a merchant may not pull card funds
// through it to pay for goods. Settle therefore only ingests a processor's
// signed notification that a push from the payor's card has credited the
// merchant; it never initiates one.
package fiat
