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

// wait returns the deliveries once there are at least n.
func (rc *receiver) wait(t *testing.T, n int) []delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.mu.Lock()
		got := slices.Clone(rc.got)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries, want %d", len(got), n)
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
		d := rc.wait(t, 1)[0]
		ev, err := client.VerifyWebhook(ep.Secret, d.header, d.body)
		if err != nil {
			t.Fatalf("a real delivery refused: %v", err)
		}
		got, err := ev.Invoice()
		if err != nil || ev.Type != client.EventInvoiceUpdated || got.ID != inv.ID || got.Status != client.StatusPaid || got.AmountPaid != "12.50" {
			t.Fatalf("event %+v: invoice %+v, %v", ev, got, err)
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

		// The delivery log, a retry (signed with the new secret) and a replay.
		// The receiver got the request before the engine recorded it: wait
		// for the recorded outcome.
		var dl *client.WebhookDeliveryList
		deadline := time.Now().Add(10 * time.Second)
		for {
			dl, err = e.c.ListWebhookDeliveries(ctx, ep.ID, client.ListWebhookDeliveriesParams{EventID: ev.ID})
			if err == nil && len(dl.Data) == 1 && dl.Data[0].Status == "pending" && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			break
		}
		if err != nil || len(dl.Data) != 1 || dl.Data[0].Status != "succeeded" || len(dl.Data[0].Attempts) == 0 || dl.Data[0].Attempts[0].StatusCode != 200 {
			t.Fatalf("deliveries %+v, %v", dl, err)
		}
		if _, err := e.c.RetryWebhookDelivery(ctx, dl.Data[0].ID); err != nil {
			t.Fatal(err)
		}
		again := rc.wait(t, 2)[1]
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

		// Read, change, list and delete it.
		desc, off := "all events, paused", false
		up, err := e.c.UpdateWebhookEndpoint(ctx, ep.ID, client.UpdateWebhookEndpointParams{Description: &desc, Enabled: &off, EnabledEvents: []string{"*"}})
		if err != nil || up.Description != desc || up.Enabled || up.Secret != "" {
			t.Fatalf("update: %+v, %v", up, err)
		}
		_, err = e.c.RetryWebhookDelivery(ctx, dl.Data[0].ID)
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
