package openapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
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

// TestWebhookIdempotencyAfterRotation: an idempotent retry of a create or
// of a rotate-secret answers the secret again only while it is current;
// after a rotation (or a delete) the retry is 409 secret_rotated and shows
// neither the old secret nor the new one. The stored answer keeps no copy
// of a secret.
func TestWebhookIdempotencyAfterRotation(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		body := map[string]any{"url": "http://93.184.215.14:9/hook"}
		first := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, body, "Idempotency-Key", "create-1"), http.StatusCreated)
		id, s1 := str(t, first.JSON, "id"), str(t, first.JSON, "secret")
		var stored []string
		if err := db.NewSelect().TableExpr("idempotency_keys").Column("response_body").Scan(t.Context(), &stored); err != nil {
			t.Fatal(err)
		}
		if len(stored) != 1 || strings.Contains(stored[0], s1) || !strings.Contains(stored[0], id) {
			t.Fatalf("stored answers %q: want the endpoint without its secret", stored)
		}
		// Still current: the retry is the first answer, byte for byte.
		again := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, body, "Idempotency-Key", "create-1"), http.StatusCreated)
		if !bytes.Equal(again.Raw, first.Raw) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry before rotation %s, want %s", again.Raw, first.Raw)
		}

		rotated := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints/"+id+"/rotate-secret", e.key, nil, "Idempotency-Key", "rotate-1"), http.StatusOK)
		s2 := str(t, rotated.JSON, "secret")
		late := e.do("POST", "/api/v1/webhook-endpoints", e.key, body, "Idempotency-Key", "create-1")
		e.wantProblem(late, http.StatusConflict, "secret_rotated")
		if bytes.Contains(late.Raw, []byte(s1)) || bytes.Contains(late.Raw, []byte(s2)) {
			t.Fatalf("the refused retry shows a secret: %s", late.Raw)
		}
		// The rotation's own retry answers its secret while it is current.
		if r := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints/"+id+"/rotate-secret", e.key, nil, "Idempotency-Key", "rotate-1"), http.StatusOK); !bytes.Equal(r.Raw, rotated.Raw) {
			t.Fatalf("rotate retry %s, want %s", r.Raw, rotated.Raw)
		}
		s3 := str(t, e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints/"+id+"/rotate-secret", e.key, nil), http.StatusOK).JSON, "secret")
		late = e.do("POST", "/api/v1/webhook-endpoints/"+id+"/rotate-secret", e.key, nil, "Idempotency-Key", "rotate-1")
		e.wantProblem(late, http.StatusConflict, "secret_rotated")
		if bytes.Contains(late.Raw, []byte(s2)) || bytes.Contains(late.Raw, []byte(s3)) {
			t.Fatalf("the refused rotate retry shows a secret: %s", late.Raw)
		}
		if n := e.webhookCounts()["webhook_endpoints"]; n != 1 {
			t.Fatalf("%d endpoints, want 1", n)
		}
		// A deleted endpoint's secret is not current either.
		second := e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, body, "Idempotency-Key", "create-2"), http.StatusCreated)
		e.mustStatus(e.do("DELETE", "/api/v1/webhook-endpoints/"+str(t, second.JSON, "id"), e.key, nil), http.StatusOK)
		e.wantProblem(e.do("POST", "/api/v1/webhook-endpoints", e.key, body, "Idempotency-Key", "create-2"), http.StatusConflict, "secret_rotated")
	})
}

// TestIdempotencyCoversQuery: the query string is part of the request an
// Idempotency-Key is bound to: another ?after= under the same key is 409
// idempotency_conflict, and the same parameters however escaped replay.
func TestIdempotencyCoversQuery(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		id := str(t, e.mustStatus(e.do("POST", "/api/v1/webhook-endpoints", e.key, map[string]any{"url": "http://93.184.215.14:9/hook"}), http.StatusCreated).JSON, "id")
		first := str(t, e.createInvoice(map[string]any{"amount": "1.00", "currency": "USD"}), "id")
		e.createInvoice(map[string]any{"amount": "2.00", "currency": "USD"})
		e.createInvoice(map[string]any{"amount": "3.00", "currency": "USD"})
		seqAndFanOut(t, e)
		var evs []string
		if err := db.NewSelect().TableExpr("events").Column("id").Where("merchant_id = ?", e.merchant).OrderExpr("sequence").Scan(t.Context(), &evs); err != nil || len(evs) != 3 {
			t.Fatalf("events %v, %v (first invoice %s)", evs, err, first)
		}
		path := "/api/v1/webhook-endpoints/" + id + "/replay"
		r := e.mustStatus(e.do("POST", path+"?after="+evs[0], e.key, nil, "Idempotency-Key", "replay-1"), http.StatusOK)
		if r.JSON["replayed"] != float64(2) {
			t.Fatalf("replay after the first event: %s", r.Raw)
		}
		before := e.webhookCounts()
		other := e.do("POST", path+"?after="+evs[1], e.key, nil, "Idempotency-Key", "replay-1")
		e.wantProblem(other, http.StatusConflict, "idempotency_conflict")
		e.wantProblem(e.do("POST", path, e.key, nil, "Idempotency-Key", "replay-1"), http.StatusConflict, "idempotency_conflict")
		if after := e.webhookCounts(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("refused requests changed the store: %v → %v", before, after)
		}
		// The same query, escaped otherwise: the same request.
		same := e.mustStatus(e.do("POST", path+"?after="+strings.Replace(evs[0], "_", "%5F", 1), e.key, nil, "Idempotency-Key", "replay-1"), http.StatusOK)
		if !bytes.Equal(same.Raw, r.Raw) || same.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("same query %s (replayed %q), want %s", same.Raw, same.Header.Get("Idempotent-Replayed"), r.Raw)
		}
	})
}
