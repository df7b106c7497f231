package client_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

// receiver is a merchant's webhook endpoint that keeps every request.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []delivery
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{r.Header.Clone(), body})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

// delivered waits until n attempts to the endpoint are recorded in all and
// none of its deliveries is pending, and returns them with the requests the
// receiver got. The receiver has a request before the engine records its
// outcome (under load, well before): a test that reads the delivery log, or
// changes the endpoint, waits for the recorded state, never for its receiver.
func (rc *receiver) delivered(t *testing.T, c *client.Client, endpointID string, n int) ([]delivery, []client.WebhookDelivery) {
	t.Helper()
	ctx := testContext(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		dl, err := c.ListWebhookDeliveries(ctx, endpointID, client.ListWebhookDeliveriesParams{})
		if err != nil {
			t.Fatal(err)
		}
		attempts, pending := 0, 0
		for _, d := range dl.Data {
			attempts += len(d.Attempts)
			if d.Status == "pending" {
				pending++
			}
		}
		if attempts >= n && pending == 0 {
			rc.mu.Lock()
			defer rc.mu.Unlock()
			return slices.Clone(rc.got), dl.Data
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts recorded, %d deliveries pending: want %d attempts, none pending", attempts, pending, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebhooks manages an endpoint through the client and verifies real
// deliveries from the webhook engine with VerifyWebhook: accepted as sent,
// refused when tampered with or checked under another secret.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		rc := newReceiver(t)
		ep, err := e.c.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointParams{
			URL: rc.URL, Description: "orders", EnabledEvents: []string{client.EventInvoiceUpdated},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ep.Secret, "whsec_") || !ep.Enabled || !slices.Equal(ep.EnabledEvents, []string{"invoice.updated"}) {
			t.Fatalf("endpoint %+v", ep)
		}
		inv := e.createInvoice(ctx, "12.50")
		if _, err := e.c.SimulatePayment(ctx, inv.ID, client.SimulatePaymentParams{Amount: "12.50"}); err != nil {
			t.Fatal(err)
		}
		got, dl := rc.delivered(t, e.c, ep.ID, 1)
		if len(got) != 1 || len(dl) != 1 || dl[0].Status != "succeeded" || len(dl[0].Attempts) != 1 || dl[0].Attempts[0].StatusCode != 200 {
			t.Fatalf("requests %d, deliveries %+v: want one, succeeded", len(got), dl)
		}
		d := got[0]
		ev, err := client.VerifyWebhook(ep.Secret, d.header, d.body)
		if err != nil {
			t.Fatalf("a real delivery refused: %v", err)
		}
		paid, err := ev.Invoice()
		if err != nil || ev.Type != client.EventInvoiceUpdated || paid.ID != inv.ID || paid.Status != client.StatusPaid || paid.AmountPaid != "12.50" {
			t.Fatalf("event %+v: invoice %+v, %v", ev, paid, err)
		}
		if stored, err := e.c.GetEvent(ctx, ev.ID); err != nil || stored.Sequence != ev.Sequence {
			t.Errorf("the delivered event is not %+v: %v", stored, err)
		}
		tampered := bytes.Replace(d.body, []byte(`"12.50"`), []byte(`"1250.00"`), 1)
		if bytes.Equal(tampered, d.body) {
			t.Fatal("nothing to tamper with")
		}
		if _, err := client.VerifyWebhook(ep.Secret, d.header, tampered); !errors.Is(err, client.ErrInvalidWebhook) {
			t.Errorf("tampered body: %v, want ErrInvalidWebhook", err)
		}
		other, err := e.c.RotateWebhookSecret(ctx, ep.ID)
		if err != nil || other.Secret == ep.Secret || !strings.HasPrefix(other.Secret, "whsec_") {
			t.Fatalf("rotate: %+v, %v", other, err)
		}
		if _, err := client.VerifyWebhook(other.Secret, d.header, d.body); !errors.Is(err, client.ErrInvalidWebhook) {
			t.Errorf("verified under another secret: %v", err)
		}

		// A retry (signed with the new secret) and a replay.
		if dl[0].EventID != ev.ID {
			t.Fatalf("delivery %+v: want event %s", dl[0], ev.ID)
		}
		if _, err := e.c.RetryWebhookDelivery(ctx, dl[0].ID); err != nil {
			t.Fatal(err)
		}
		got, _ = rc.delivered(t, e.c, ep.ID, 2)
		again := got[1]
		if ev2, err := client.VerifyWebhook(other.Secret, again.header, again.body); err != nil || ev2.ID != ev.ID {
			t.Errorf("retried delivery: %+v, %v", ev2, err)
		}
		if _, err := client.VerifyWebhook(ep.Secret, again.header, again.body); err == nil {
			t.Error("a delivery after rotation verified under the old secret")
		}
		rp, err := e.c.ReplayWebhookEndpoint(ctx, ep.ID, "")
		if err != nil || rp.Replayed != 1 || rp.EndpointID != ep.ID {
			t.Errorf("replay %+v, %v: want the one invoice.updated", rp, err)
		}
		if got, dl = rc.delivered(t, e.c, ep.ID, 3); len(got) != 3 || len(dl) != 1 || dl[0].Status != "succeeded" {
			t.Errorf("after the replay: %d requests, deliveries %+v", len(got), dl)
		}

		// Read, change, list and delete it.
		desc, off := "all events, paused", false
		up, err := e.c.UpdateWebhookEndpoint(ctx, ep.ID, client.UpdateWebhookEndpointParams{Description: &desc, Enabled: &off, EnabledEvents: []string{"*"}})
		if err != nil || up.Description != desc || up.Enabled || up.Secret != "" {
			t.Fatalf("update: %+v, %v", up, err)
		}
		_, err = e.c.RetryWebhookDelivery(ctx, dl[0].ID)
		wantError(t, err, http.StatusConflict, client.CodeEndpointDisabled)
		if g, err := e.c.GetWebhookEndpoint(ctx, ep.ID); err != nil || g.URL != rc.URL || g.Enabled || !slices.Equal(g.EnabledEvents, []string{"*"}) {
			t.Errorf("get: %+v, %v", g, err)
		}
		list, err := e.c.ListWebhookEndpoints(ctx, "", 10)
		if err != nil || len(list.Data) != 1 || list.Data[0].ID != ep.ID {
			t.Errorf("list: %+v, %v", list, err)
		}
		if del, err := e.c.DeleteWebhookEndpoint(ctx, ep.ID); err != nil || !del.Deleted || del.ID != ep.ID {
			t.Errorf("delete: %+v, %v", del, err)
		}
		_, err = e.c.GetWebhookEndpoint(ctx, ep.ID)
		wantError(t, err, http.StatusNotFound, client.CodeNotFound)
	})
}

// TestVerifyWebhookRefusals covers what needs no server: a missing or
// malformed header and a bad secret.
func TestVerifyWebhookRefusals(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","object":"event"}`)
	h := http.Header{"Webhook-Id": {"evt_1"}, "Webhook-Timestamp": {"1"}, "Webhook-Signature": {"v1,AAAA"}}
	if _, err := client.VerifyWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, body); !errors.Is(err, client.ErrInvalidWebhook) {
		t.Errorf("stale, wrong signature: %v", err)
	}
	if _, err := client.VerifyWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", http.Header{}, body); !errors.Is(err, client.ErrInvalidWebhook) {
		t.Errorf("no headers: %v", err)
	}
	if _, err := client.VerifyWebhook("whsec_!!!", h, body); err == nil || errors.Is(err, client.ErrInvalidWebhook) {
		t.Errorf("a secret that is not base64: %v, want a secret error", err)
	}
}
