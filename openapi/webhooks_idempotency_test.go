package openapi_test

import (
	"net/http"
	"testing"

	"github.com/settlepay/settle/invoice/storetest"
)

// TestWebhookIdempotency: creating an endpoint twice with one
// Idempotency-Key stores one endpoint and answers the same (secret
// included) both times.
func TestWebhookIdempotency(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		body := map[string]any{"url": "http://93.184.215.14:9/hook"}
		first := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, body, "Idempotency-Key", "wh-1"), http.StatusCreated)
		again := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, body, "Idempotency-Key", "wh-1"), http.StatusCreated)
		if string(first.Raw) != string(again.Raw) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %s, first %s", again.Raw, first.Raw)
		}
		if n := e.webhookCounts()["webhook_endpoints"]; n != 1 {
			t.Fatalf("%d endpoints stored, want 1", n)
		}
	})
}
