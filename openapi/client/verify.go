package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// ErrInvalidWebhook is wrapped by every VerifyWebhook error that means the
// request is not an authentic delivery: answer it with 400 and ignore it.
var ErrInvalidWebhook = errors.New("invalid webhook")

// VerifyWebhook checks a webhook delivery's Standard Webhooks signature
// (webhook-id, webhook-timestamp within 5 minutes of now, webhook-signature)
// under the endpoint's secret (whsec_…), then decodes the event. Pass the
// body exactly as received, before any JSON decoding. The event's id is the
// webhook-id, the same in every attempt: de-duplicate by it.
func VerifyWebhook(secret string, headers http.Header, body []byte) (Event, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return Event{}, fmt.Errorf("webhook secret: %w", err)
	}
	if err := wh.Verify(body, headers); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalidWebhook, err)
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("%w: body: %v", ErrInvalidWebhook, err)
	}
	if id := headers.Get("webhook-id"); e.ID != id {
		return Event{}, fmt.Errorf("%w: event %q under webhook-id %q", ErrInvalidWebhook, e.ID, id)
	}
	return e, nil
}
