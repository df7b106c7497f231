package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

func TestFromStoredShape(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	stored := invoice.Event{
		Sequence: 7, ID: "evt_1", MerchantID: "mer_1", Mode: invoice.ModeTest,
		Type: invoice.EventInvoiceUpdated, InvoiceID: "inv_1", CreatedAt: at,
		Data: `{"object":{"id":"inv_1","status":"paid"},"previous_status":"processing"}`,
	}
	b, err := json.Marshal(events.FromStored(stored))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": "evt_1", "object": "event", "type": "invoice.updated", "created_at": "2026-11-23T12:00:00Z",
		"mode": "test", "sequence": float64(7),
		"data": map[string]any{"object": map[string]any{"id": "inv_1", "status": "paid"}, "previous_status": "processing"},
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Fatalf("event JSON\n got %s\nwant %s", g, w)
	}
	if _, ok := got["merchant_id"]; ok {
		t.Fatal("the public event must not carry internal columns")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
