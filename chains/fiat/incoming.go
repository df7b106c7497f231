package fiat

import (
	"fmt"
	"strconv"
	"time"

	"github.com/settlepay/settle/invoice"
)

// FromISO20022 turns the credits of a camt.054 or pacs.008 into incoming
// credits: the rail's id (account servicer's reference, UETR, …) as tx id,
// the UETR as the transfer's identity, the end-to-end id and remittance as
// texts that may hold the reference.
func FromISO20022(credits []Credit) []Incoming {
	out := make([]Incoming, 0, len(credits))
	for _, c := range credits {
		// A booking date alone does not say whether the money came before
		// an invoice's expiry: then it was seen when settle received it.
		observed := c.BookedAt
		if c.DateOnly {
			observed = time.Time{}
		}
		out = append(out, Incoming{
			TxID: c.ID, UETR: c.UETR, Amount: c.Amount, Currency: c.Currency, From: c.Debtor,
			Texts: []string{c.EndToEndID, c.Reference}, ObservedAt: observed,
		})
	}
	return out
}

// FromNACHA turns a NACHA file's live credit entries into incoming credits
// in USD: effective date and trace as tx id, the originator's company name
// as sender, the identification number and addenda as texts.
func FromNACHA(f *ACHFile, now time.Time) []Incoming {
	var out []Incoming
	for _, c := range f.Credits() {
		out = append(out, Incoming{
			TxID: c.ID(), Amount: invoice.NewUnits(c.Amount).Format(2), Currency: "USD",
			From: firstOf(c.CompanyName, c.IndividualName), Texts: append([]string{c.IndividualID}, c.Addenda...),
			ObservedAt: now,
		})
	}
	return out
}

// FromPush turns a push-to-card notification into an incoming credit; its
// minor units are formatted at the currency's decimals (2 when settle does
// not price invoices in it, which leaves the credit unmatched anyway).
func FromPush(n PushNotification) Incoming {
	decimals, ok := invoice.Currency(n.Currency).Decimals()
	if !ok {
		decimals = 2
	}
	from := n.Network
	if n.CardLast4 != "" {
		from += " ****" + n.CardLast4
	}
	return Incoming{
		TxID: n.ID, Amount: invoice.NewUnits(n.Amount).Format(decimals), Currency: n.Currency,
		From: from, Texts: []string{n.Reference}, ObservedAt: n.CreatedAt(),
	}
}

// FromForwarded turns a forwarded e-wallet notification to account a into
// an incoming rupiah credit. Its tx id is the account's id with the
// device's notification id (ids only unique per phone), or the event hash
// when the forwarder gives no notification id. Its identity adds the event
// hash to the notification id: a forwarder retrying sends both again, but
// some e-wallet apps reuse a notification id for the next payment, which
// then comes with another hash.
func FromForwarded(a Account, f Forwarded, now time.Time) (Incoming, error) {
	amount, err := f.Amount()
	if err != nil {
		return Incoming{}, err
	}
	id := f.EventHash
	if f.NotifID != "" {
		id = f.DeviceID + ":" + f.NotifID
	}
	observed := f.Timestamp.Time
	if observed.IsZero() {
		observed = now
	}
	return Incoming{
		TxID: a.ID + ":" + id, Key: "notification:" + f.DeviceID + ":" + f.NotifID + ":" + f.EventHash,
		Amount: strconv.FormatInt(amount, 10), Currency: "IDR",
		From: firstOf(f.App, "e-wallet"), Texts: []string{f.Title, f.Message}, ObservedAt: observed,
	}, nil
}

// FromQRISCallback turns a QRIS callback to account a into an incoming
// rupiah credit. A callback's reference is optional and need not be unique
// (the aggregators' own example sends "optional-reference"), so its
// identity is the amount, the reference and the invoice it pays together:
// a retry is a duplicate, another payment that reuses the reference is not.
func FromQRISCallback(a Account, c QRISCallback, now time.Time) Incoming {
	amount := fmt.Sprint(int64(c.Amount))
	return Incoming{
		TxID: a.ID + ":" + firstOf(c.Reference, amount), Key: "callback:" + amount + ":" + c.Reference, PerInvoice: true,
		Amount: amount, Currency: "IDR", From: c.SenderName, Texts: []string{c.Reference}, ObservedAt: now,
	}
}

// Reversal is a NACHA credit return as [Rails.Return] takes it: the
// original credit found by its trace number (it was recorded as
// "<effective date>:<trace>"), the amount in USD, the R code and its
// meaning (with the date of death and the addenda information).
func (r ACHCreditReturn) Reversal() Reversal {
	return Reversal{
		ID: r.Trace, Trace: r.OriginalTrace, Amount: invoice.NewUnits(r.Amount).Format(2), Currency: "USD",
		Code: r.Code, Reason: r.ACHReturn.Reason(),
	}
}
