package fiat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Push-to-card event types: the only one that credits a merchant, and the
// processor's report that a credited push was returned (the card network
// rejected or reversed the original credit transaction after the
// processor's credit, e.g. a declined OCT or a closed account): the
// payment it recorded is reversed.
const (
	PushCredited = "push_to_card.credited"
	PushReturned = "push_to_card.returned"
)

// ErrPushNotification is wrapped by the validation errors of
// [ParsePushNotification].
var ErrPushNotification = errors.New("push-to-card notification")

// PushNotification is a card processor's notification that a push from the
// payor's card (an original credit transaction: Visa Direct, Mastercard
// Send) has credited the merchant. The shape follows what such processors
// send in their webhooks:
//
//	{"id":"ptc_01J…","type":"push_to_card.credited","amount":2500,
//	 "currency":"USD","card_last4":"4242","network":"visa",
//	 "reference":"ST-7K3Q9M","created":1735689600}
//
// amount is in the currency's minor units (an integer; a JSON fraction is
// refused), created is Unix seconds.
type PushNotification struct {
	ID        string `json:"id"` // processor's transaction id; the de-duplication key
	Type      string `json:"type"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`   // ISO 4217, upper case
	CardLast4 string `json:"card_last4"` // last four digits of the funding card
	Network   string `json:"network"`    // "visa" (Visa Direct) or "mastercard" (Mastercard Send)
	Reference string `json:"reference"`  // what the payor entered: the invoice reference
	Created   int64  `json:"created"`
	// Returns only (type push_to_card.returned): the id of the credited
	// push that was returned, and the network's reason.
	OriginalID   string `json:"original_id,omitempty"`
	ReturnReason string `json:"return_reason,omitempty"`
}

// CreatedAt is Created as a time.
func (n PushNotification) CreatedAt() time.Time { return time.Unix(n.Created, 0).UTC() }

// InvoiceReference returns the invoice reference the notification carries.
func (n PushNotification) InvoiceReference() (string, bool) { return FindReference(n.Reference) }

// ParsePushNotification authenticates body with the account's callback
// secret ([VerifySignature] on the [SignatureHeader] value) and decodes it.
// Forged, altered or stale bodies are refused before any field is read; so
// are bodies without id, a non-positive amount, an unknown currency code
// shape, a type other than [PushCredited] and [PushReturned], or a return
// without original_id. A return is shaped like the credit it returns:
//
//	{"id":"ptcr_01J…","type":"push_to_card.returned","original_id":"ptc_01J…",
//	 "return_reason":"card_closed","amount":2500,"currency":"USD",
//	 "card_last4":"4242","network":"visa","created":1735693200}
func ParsePushNotification(secret []byte, header string, body []byte, now time.Time) (PushNotification, error) {
	if err := VerifySignature(secret, header, body, now); err != nil {
		return PushNotification{}, err
	}
	var n PushNotification
	if err := json.Unmarshal(body, &n); err != nil {
		return PushNotification{}, fmt.Errorf("%w: %w", ErrPushNotification, err)
	}
	var errs []error
	if strings.TrimSpace(n.ID) == "" {
		errs = append(errs, fmt.Errorf("id is required"))
	}
	switch n.Type {
	case PushCredited:
	case PushReturned:
		if strings.TrimSpace(n.OriginalID) == "" {
			errs = append(errs, fmt.Errorf("original_id is required in a %s notification", PushReturned))
		}
	default:
		errs = append(errs, fmt.Errorf("type must be %q or %q, got %q", PushCredited, PushReturned, n.Type))
	}
	if n.Amount <= 0 {
		errs = append(errs, fmt.Errorf("amount must be a positive integer of minor units"))
	}
	if len(n.Currency) != 3 || strings.ToUpper(n.Currency) != n.Currency || !isAlpha(n.Currency) {
		errs = append(errs, fmt.Errorf("currency must be an upper-case ISO 4217 code, got %q", n.Currency))
	}
	if n.CardLast4 != "" && (len(n.CardLast4) != 4 || !isDigits(n.CardLast4)) {
		errs = append(errs, fmt.Errorf("card_last4 must be four digits"))
	}
	if err := errors.Join(errs...); err != nil {
		return PushNotification{}, fmt.Errorf("%w: %w", ErrPushNotification, err)
	}
	return n, nil
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
