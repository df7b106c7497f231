// Package events turns the changes the invoice package writes to its outbox
// into events merchants receive: the public event shape now, and (in later
// work) signed webhook deliveries with retries, the merchant WebSocket hub
// and recovery by cursor; it also sends QR sessions' start requests to
// static codes' receivers (qr_start.go). It does not decide what happened to an invoice;
// it only carries what the store recorded, once per event id.
package events

import (
	"encoding/json"
	"time"

	"github.com/settlepay/settle/invoice"
)

// Event is the public form of one stored event, as webhooks, the WebSocket
// and the recovery API show it.
type Event struct {
	ID        string          `json:"id" example:"evt_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object    string          `json:"object" enum:"event"`
	Type      string          `json:"type" example:"invoice.updated"`
	CreatedAt time.Time       `json:"created_at"`
	Mode      invoice.Mode    `json:"mode" enum:"test,live"`
	Data      json.RawMessage `json:"data" doc:"{\"object\": the invoice or payment as it was after the change, …}"`
	Sequence  int64           `json:"sequence" doc:"Position in the merchant's stream of events; increases with every event."`
}

// FromStored returns the public form of a stored event.
func FromStored(e invoice.Event) Event {
	return Event{
		ID: e.ID, Object: "event", Type: e.Type, CreatedAt: e.CreatedAt, Mode: e.Mode,
		Data: json.RawMessage(e.Data), Sequence: e.Sequence,
	}
}
