package fiat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePushNotification(t *testing.T) {
	t.Parallel()
	secret := []byte("ptc-secret")
	now := time.Unix(1735689700, 0)
	ref := NewReference()
	body := []byte(`{"id":"ptc_01JGX3","type":"push_to_card.credited","amount":2500,"currency":"USD","card_last4":"4242","network":"visa","reference":"` + ref + `","created":1735689600}`)
	n, err := ParsePushNotification(secret, Sign(secret, body, now), body, now)
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != "ptc_01JGX3" || n.Amount != 2500 || n.Currency != "USD" || n.CardLast4 != "4242" || n.Network != "visa" {
		t.Errorf("notification = %+v", n)
	}
	if !n.CreatedAt().Equal(time.Unix(1735689600, 0)) {
		t.Errorf("CreatedAt = %v", n.CreatedAt())
	}
	if got, ok := n.InvoiceReference(); !ok || got != ref {
		t.Errorf("InvoiceReference = %q, %v; want %q", got, ok, ref)
	}

	// Forged, altered and replayed bodies are refused before decoding.
	if _, err := ParsePushNotification(secret, Sign([]byte("guess"), body, now), body, now); !errors.Is(err, ErrSignature) {
		t.Errorf("forged: %v", err)
	}
	altered := []byte(strings.Replace(string(body), "2500", "250000", 1))
	if _, err := ParsePushNotification(secret, Sign(secret, body, now), altered, now); !errors.Is(err, ErrSignature) {
		t.Errorf("altered amount: %v", err)
	}
	if _, err := ParsePushNotification(secret, Sign(secret, body, now), body, now.Add(time.Hour)); !errors.Is(err, ErrStale) {
		t.Errorf("replayed an hour later: %v", err)
	}

	for name, b := range map[string]string{
		"float amount":   `{"id":"p","type":"push_to_card.credited","amount":25.00,"currency":"USD"}`,
		"zero amount":    `{"id":"p","type":"push_to_card.credited","amount":0,"currency":"USD"}`,
		"no id":          `{"type":"push_to_card.credited","amount":1,"currency":"USD"}`,
		"other type":     `{"id":"p","type":"push_to_card.reversed","amount":1,"currency":"USD"}`,
		"bad currency":   `{"id":"p","type":"push_to_card.credited","amount":1,"currency":"usd"}`,
		"bad card_last4": `{"id":"p","type":"push_to_card.credited","amount":1,"currency":"USD","card_last4":"42"}`,
		"not JSON":       `{"id":`,
	} {
		_, err := ParsePushNotification(secret, Sign(secret, []byte(b), now), []byte(b), now)
		if !errors.Is(err, ErrPushNotification) {
			t.Errorf("%s: error = %v, want ErrPushNotification", name, err)
		}
	}
}

// TestParsePushReturn: a processor's return of a credited push names the
// original push; without original_id it is refused.
func TestParsePushReturn(t *testing.T) {
	t.Parallel()
	secret := []byte("ptc-secret")
	now := time.Unix(1735693300, 0)
	body := []byte(`{"id":"ptcr_01JGX4","type":"push_to_card.returned","original_id":"ptc_01JGX3","return_reason":"card_closed","amount":2500,"currency":"USD","card_last4":"4242","network":"visa","created":1735693200}`)
	n, err := ParsePushNotification(secret, Sign(secret, body, now), body, now)
	if err != nil {
		t.Fatal(err)
	}
	if n.Type != PushReturned || n.OriginalID != "ptc_01JGX3" || n.ReturnReason != "card_closed" || n.Amount != 2500 {
		t.Errorf("return = %+v", n)
	}
	bad := []byte(`{"id":"ptcr_1","type":"push_to_card.returned","amount":2500,"currency":"USD"}`)
	if _, err := ParsePushNotification(secret, Sign(secret, bad, now), bad, now); !errors.Is(err, ErrPushNotification) || !strings.Contains(err.Error(), "original_id") {
		t.Errorf("return without original_id: %v", err)
	}
}
