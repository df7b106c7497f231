package openapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

func TestWebhookEndpointCRUD(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		created := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, map[string]any{
			"url": "http://93.184.215.14:9/hooks", "description": "orders",
		}), http.StatusCreated).JSON
		id := str(t, created, "id")
		secret := str(t, created, "secret")
		if !strings.HasPrefix(id, "whe_") || !strings.HasPrefix(secret, "whsec_") || len(secret) < len("whsec_")+32 {
			t.Fatalf("created %v", created)
		}
		if _, err := standardwebhooks.NewWebhook(secret); err != nil {
			t.Fatalf("secret is not Standard Webhooks format: %v", err)
		}
		if created["object"] != "webhook_endpoint" || created["mode"] != "test" || created["enabled"] != true ||
			fmt.Sprint(created["enabled_events"]) != "[*]" || created["description"] != "orders" {
			t.Fatalf("created %v", created)
		}
		got := e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints/"+id, e.key, nil), http.StatusOK)
		if _, shown := got.JSON["secret"]; shown || strings.Contains(string(got.Raw), secret) {
			t.Fatalf("GET shows the secret: %s", got.Raw)
		}
		second := str(t, e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, map[string]any{
			"url": "http://93.184.215.14:9/b", "enabled_events": []string{"invoice.updated", "invoice.created", "invoice.updated"}, "enabled": false,
		}), http.StatusCreated).JSON, "id")
		page := e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints?limit=1", e.key, nil), http.StatusOK).JSON
		data := page["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["id"] != second || page["has_more"] != true || page["object"] != "list" {
			t.Fatalf("first page %v", page)
		}
		page = e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints?limit=1&after="+second, e.key, nil), http.StatusOK).JSON
		data = page["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["id"] != id || page["has_more"] != false {
			t.Fatalf("second page %v", page)
		}
		b := e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints/"+second, e.key, nil), http.StatusOK).JSON
		if fmt.Sprint(b["enabled_events"]) != "[invoice.created invoice.updated]" || b["enabled"] != false {
			t.Fatalf("second endpoint %v", b)
		}

		patched := e.mustStatus(e.do("PATCH", "/api/v1/webhook-endpoints/"+id, e.key, map[string]any{
			"description": "fulfilment", "enabled_events": []string{"invoice_payment.updated"}, "enabled": false,
		}), http.StatusOK).JSON
		if patched["description"] != "fulfilment" || patched["enabled"] != false || patched["url"] != "http://93.184.215.14:9/hooks" ||
			fmt.Sprint(patched["enabled_events"]) != "[invoice_payment.updated]" {
			t.Fatalf("patched %v", patched)
		}
		patched = e.mustStatus(e.do("PATCH", "/api/v1/webhook-endpoints/"+id, e.key, map[string]any{"enabled": true, "url": "http://93.184.215.14:10/x"}), http.StatusOK).JSON
		if patched["enabled"] != true || patched["url"] != "http://93.184.215.14:10/x" || patched["description"] != "fulfilment" {
			t.Fatalf("re-enabled %v", patched)
		}

		rotated := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints/"+id+"/rotate-secret", e.key, nil), http.StatusOK).JSON
		if s := str(t, rotated, "secret"); s == secret || !strings.HasPrefix(s, "whsec_") {
			t.Fatalf("rotated secret %q (was %q)", s, secret)
		}

		del := e.mustStatus(e.do("DELETE", "/api/v1/webhook-endpoints/"+id, e.key, nil), http.StatusOK).JSON
		if del["deleted"] != true || del["id"] != id {
			t.Fatalf("delete %v", del)
		}
		e.wantProblem(e.do("GET", "/api/v1/webhook-endpoints/"+id, e.key, nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.do("DELETE", "/api/v1/webhook-endpoints/"+id, e.key, nil), http.StatusNotFound, "not_found")
		page = e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints", e.key, nil), http.StatusOK).JSON
		if data := page["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != second {
			t.Fatalf("list after delete %v", page)
		}
		// A read key reads, and may not write.
		read := e.newKey(e.merchant, invoice.ModeTest, invoice.ScopeRead)
		e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints/"+second, read, nil), http.StatusOK)
		e.wantProblem(e.do("POST", "/api/v1/webhook-endpoints", read, map[string]any{"url": "http://93.184.215.14:9/"}), http.StatusForbidden, "insufficient_scope")
	})
}

// TestWebhookBadInput: each bad request is a 4xx with a stable code, and
// nothing is stored.
func TestWebhookBadInput(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		live := e.liveKey()
		_, otherKey := e.otherMerchant()
		theirs := str(t, e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", otherKey, map[string]any{"url": "http://93.184.215.14:9/"}), http.StatusCreated).JSON, "id")
		mine := str(t, e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://93.184.215.14:9/"}), http.StatusCreated).JSON, "id")
		// A delivery of the other merchant's endpoint.
		e.createInvoiceWith(otherKey, map[string]any{"amount": "1.00", "currency": "USD"})
		var theirDelivery string
		seqAndFanOut(t, e)
		if err := db.NewSelect().TableExpr("webhook_deliveries").Column("id").Where("endpoint_id = ?", theirs).Limit(1).Scan(t.Context(), &theirDelivery); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, method, path, key string
			body                    any
			status                  int
			code                    string
		}{
			{"unknown event type", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://93.184.215.14:9/", "enabled_events": []string{"invoice.created", "invoice.exploded"}}, 422, "invalid_event_type"},
			{"no event types", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://93.184.215.14:9/", "enabled_events": []string{}}, 422, "invalid_event_type"},
			{"event types not a list", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://93.184.215.14:9/", "enabled_events": "*"}, 422, "invalid_event_type"},
			{"url missing", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"description": "x"}, 422, "invalid_url"},
			{"url not a URL", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "not a url"}, 422, "invalid_url"},
			{"url not http", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "ftp://127.0.0.1/x"}, 422, "invalid_url"},
			{"url with credentials", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://u:p@127.0.0.1/x"}, 422, "invalid_url"},
			{"unknown field", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://93.184.215.14:9/", "secret": "whsec_mine"}, 422, "unknown_field"},
			{"live http", "POST", "/api/v1/webhook-endpoints", live, map[string]any{"url": "http://93.184.215.14/hook"}, 422, "url_not_allowed"},
			{"live loopback", "POST", "/api/v1/webhook-endpoints", live, map[string]any{"url": "https://127.0.0.1/hook"}, 422, "url_not_allowed"},
			{"live localhost", "POST", "/api/v1/webhook-endpoints", live, map[string]any{"url": "https://localhost/hook"}, 422, "url_not_allowed"},
			{"live private", "POST", "/api/v1/webhook-endpoints", live, map[string]any{"url": "https://10.1.2.3/hook"}, 422, "url_not_allowed"},
			{"live metadata", "POST", "/api/v1/webhook-endpoints", live, map[string]any{"url": "https://169.254.169.254/latest/meta-data/"}, 422, "url_not_allowed"},
			{"live unique local v6", "POST", "/api/v1/webhook-endpoints", live, map[string]any{"url": "https://[fd00::1]/hook"}, 422, "url_not_allowed"},
			{"live CGNAT", "POST", "/api/v1/webhook-endpoints", live, map[string]any{"url": "https://100.64.0.1/hook"}, 422, "url_not_allowed"},
			// Test mode takes http, but not a host that is not public: any
			// merchant could otherwise read services on settle's network.
			{"test loopback", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://127.0.0.1:9/"}, 422, "url_not_allowed"},
			{"test localhost", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://localhost:8080/"}, 422, "url_not_allowed"},
			{"test private", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://192.168.1.1/admin"}, 422, "url_not_allowed"},
			{"test metadata", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://169.254.169.254/latest/meta-data/"}, 422, "url_not_allowed"},
			{"test IPv4-compatible loopback", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://[::127.0.0.1]/"}, 422, "url_not_allowed"},
			{"test IPv4-translated loopback", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://[::ffff:0:127.0.0.1]/"}, 422, "url_not_allowed"},
			{"test IPv4-mapped loopback", "POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://[::ffff:127.0.0.1]/"}, 422, "url_not_allowed"},
			{"live IPv4-compatible loopback", "POST", "/api/v1/webhook-endpoints", live, map[string]any{"url": "https://[::127.0.0.1]/"}, 422, "url_not_allowed"},
			{"patch to loopback", "PATCH", "/api/v1/webhook-endpoints/" + mine, e.key, map[string]any{"url": "http://127.0.0.1:6379/"}, 422, "url_not_allowed"},
			{"patch to a bad type", "PATCH", "/api/v1/webhook-endpoints/" + mine, e.key, map[string]any{"enabled_events": []string{"nope"}}, 422, "invalid_event_type"},
			{"patch to a bad url", "PATCH", "/api/v1/webhook-endpoints/" + mine, e.key, map[string]any{"url": "mailto:x@y"}, 422, "invalid_url"},
			{"other merchant: get", "GET", "/api/v1/webhook-endpoints/" + theirs, e.key, nil, 404, "not_found"},
			{"other merchant: patch", "PATCH", "/api/v1/webhook-endpoints/" + theirs, e.key, map[string]any{"enabled": false}, 404, "not_found"},
			{"other merchant: delete", "DELETE", "/api/v1/webhook-endpoints/" + theirs, e.key, nil, 404, "not_found"},
			{"other merchant: rotate", "POST", "/api/v1/webhook-endpoints/" + theirs + "/rotate-secret", e.key, nil, 404, "not_found"},
			{"other merchant: deliveries", "GET", "/api/v1/webhook-endpoints/" + theirs + "/deliveries", e.key, nil, 404, "not_found"},
			{"other merchant: replay", "POST", "/api/v1/webhook-endpoints/" + theirs + "/replay", e.key, nil, 404, "not_found"},
			{"other merchant: retry delivery", "POST", "/api/v1/deliveries/" + theirDelivery + "/retry", e.key, nil, 404, "not_found"},
			{"other mode: get", "GET", "/api/v1/webhook-endpoints/" + mine, live, nil, 404, "not_found"},
			{"other mode: replay", "POST", "/api/v1/webhook-endpoints/" + mine + "/replay", live, nil, 404, "not_found"},
			{"unknown delivery", "POST", "/api/v1/deliveries/whd_nope/retry", e.key, nil, 404, "not_found"},
			{"replay after an unknown event", "POST", "/api/v1/webhook-endpoints/" + mine + "/replay?after=evt_nope", e.key, nil, 422, "invalid_cursor"},
			{"deliveries with a bad status", "GET", "/api/v1/webhook-endpoints/" + mine + "/deliveries?status=lost", e.key, nil, 422, "invalid_status"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := e.webhookCounts()
				beforeMine := e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints/"+mine, e.key, nil), 200).Raw
				r := e.do(tc.method, tc.path, tc.key, tc.body)
				e.wantProblem(r, tc.status, tc.code)
				if after := e.webhookCounts(); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Errorf("rows changed: %v → %v", before, after)
				}
				if afterMine := e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints/"+mine, e.key, nil), 200).Raw; string(afterMine) != string(beforeMine) {
					t.Errorf("endpoint changed: %s → %s", beforeMine, afterMine)
				}
			})
		}
		// The other merchant's endpoint is untouched.
		got := e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints/"+theirs, otherKey, nil), 200).JSON
		if got["enabled"] != true {
			t.Fatalf("their endpoint %v", got)
		}
		// A public https URL is accepted in live mode (an IP literal: no DNS
		// lookup, no connection in this test).
		e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", live, map[string]any{"url": "https://93.184.215.14/hook"}), http.StatusCreated)
	})
}

// seqAndFanOut runs one sequencer step, so that written events get their
// deliveries, for tests without a running engine.
func seqAndFanOut(t *testing.T, e *env) {
	t.Helper()
	if _, err := newSequencer(e).Step(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookDeliveriesAPI: a receiver failing twice gets the event on the
// third attempt, the attempts are listed with their status codes, a manual
// retry makes one more attempt with the same webhook-id, a rotated secret
// signs what follows, and a replay re-sends events after a cursor.
func TestWebhookDeliveriesAPI(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setupWebhooks(t, db)
		rc := newHookReceiver(t, func(n int) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		created := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, map[string]any{
			"url": rc.URL + "/hook", "enabled_events": []string{"invoice.created"},
		}), http.StatusCreated).JSON
		id, oldSecret := str(t, created, "id"), str(t, created, "secret")
		rc.setSecret(oldSecret)
		inv := str(t, e.createInvoice(map[string]any{"amount": "5.00", "currency": "USD"}), "id")

		var deliveries []any
		waitFor(t, "the delivery to succeed", func() bool {
			page := e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints/"+id+"/deliveries", e.key, nil), 200).JSON
			deliveries = page["data"].([]any)
			return len(deliveries) == 1 && deliveries[0].(map[string]any)["status"] == "succeeded"
		})
		d := deliveries[0].(map[string]any)
		attempts := d["attempts"].([]any)
		var codes []string
		for _, a := range attempts {
			codes = append(codes, fmt.Sprint(a.(map[string]any)["status_code"]))
		}
		if strings.Join(codes, ",") != "503,503,200" || d["attempt_count"] != float64(3) || d["event_type"] != "invoice.created" {
			t.Fatalf("delivery %v: want attempts 503, 503, 200", d)
		}
		eventID := str(t, d, "event_id")
		for _, r := range rc.receipts() {
			if r.verifyErr != nil || r.id != eventID {
				t.Fatalf("receipt %s: %v", r.id, r.verifyErr)
			}
			var body map[string]any
			json.Unmarshal(r.body, &body)
			if obj := body["data"].(map[string]any)["object"].(map[string]any); obj["id"] != inv {
				t.Fatalf("body %s: want invoice %s", r.body, inv)
			}
		}

		// A receiver sees a request before the engine records its outcome:
		// wait for the recorded state, so that what follows starts from it.
		succeeded := func(eventID string) bool {
			page := e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints/"+id+"/deliveries?event_id="+eventID, e.key, nil), 200).JSON
			data := page["data"].([]any)
			return len(data) == 1 && data[0].(map[string]any)["status"] == "succeeded"
		}

		// Retry: one more attempt now, same webhook-id.
		deliveryID := str(t, d, "id")
		retried := e.mustStatus(e.do("POST", "/api/v1/deliveries/"+deliveryID+"/retry", e.key, nil), http.StatusOK).JSON
		if retried["status"] != "pending" || retried["id"] != deliveryID {
			t.Fatalf("retry %v", retried)
		}
		waitFor(t, "the retried attempt, recorded", func() bool { return len(rc.receipts()) == 4 && succeeded(eventID) })
		if r := rc.receipts()[3]; r.id != eventID || r.verifyErr != nil {
			t.Fatalf("retry sent %s (%v), want %s", r.id, r.verifyErr, eventID)
		}

		// Rotate: what follows is signed with the new secret only. The
		// receiver fails each event's first two requests, so the second
		// event comes three times.
		newSecret := str(t, e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints/"+id+"/rotate-secret", e.key, nil), 200).JSON, "secret")
		rc.setSecret(newSecret)
		e.createInvoice(map[string]any{"amount": "6.00", "currency": "USD"})
		waitFor(t, "the next event", func() bool { return len(rc.receipts()) == 5 })
		last := rc.receipts()[4]
		if last.verifyErr != nil {
			t.Fatalf("new secret does not verify: %v", last.verifyErr)
		}
		old, _ := standardwebhooks.NewWebhook(oldSecret)
		if err := old.Verify(last.body, last.header); err == nil {
			t.Fatal("the old secret still verifies deliveries after rotation")
		}
		waitFor(t, "the second event to succeed", func() bool { return rc.count(last.id) == 3 && succeeded(last.id) })

		// Replay everything after the first event: the second comes again.
		r := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints/"+id+"/replay?after="+url.QueryEscape(eventID), e.key, nil), http.StatusOK).JSON
		if r["replayed"] != float64(1) || r["has_more"] != false || r["object"] != "webhook_replay" {
			t.Fatalf("replay %v", r)
		}
		waitFor(t, "the replayed event", func() bool { return rc.count(last.id) == 4 && succeeded(last.id) })
		if n := rc.count(eventID); n != 4 {
			t.Fatalf("the first event was sent %d times, want 4: the replay took it too", n)
		}
		// Replay from the start: both invoice.created events.
		r = e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints/"+id+"/replay", e.key, nil), http.StatusOK).JSON
		if r["replayed"] != float64(2) {
			t.Fatalf("replay from the start %v", r)
		}
		waitFor(t, "both replayed events, recorded", func() bool {
			return rc.count(eventID) == 5 && rc.count(last.id) == 5 && succeeded(eventID) && succeeded(last.id)
		})
		if n := len(rc.receipts()); n != 10 {
			t.Fatalf("%d requests, want 10", n)
		}
		if page := e.mustStatus(e.do("GET", "/api/v1/webhook-endpoints/"+id+"/deliveries?status=pending", e.key, nil), 200).JSON; len(page["data"].([]any)) != 0 {
			t.Fatalf("pending deliveries left %v", page)
		}
	})
}
