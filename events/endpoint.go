package events

import (
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// Event types. Invoice events are written by the invoice package; the
// others by this one and by payor.
const (
	TypeCheckoutOpened          = "checkout.opened"
	TypeCheckoutScanned         = "checkout.scanned"
	TypeCheckoutLocked          = "checkout.locked"
	TypeWebhookEndpointDisabled = "webhook_endpoint.disabled"
	TypeSystemAlert             = "system.alert" // written by package alerts
)

// Types lists every event type a filter may name.
var Types = []string{
	invoice.EventInvoiceCreated, invoice.EventInvoiceUpdated, invoice.EventInvoicePaymentUpdated,
	TypeCheckoutScanned, TypeCheckoutOpened, TypeCheckoutLocked, TypeWebhookEndpointDisabled,
	invoice.EventQRSessionCreated, invoice.EventQRSessionUpdated, TypeSystemAlert,
}

// Endpoint is a merchant's webhook endpoint in one mode.
type Endpoint struct {
	bun.BaseModel  `bun:"table:webhook_endpoints"`
	ID             string       `bun:"id,pk"`
	MerchantID     string       `bun:"merchant_id"`
	Mode           invoice.Mode `bun:"mode"`
	URL            string       `bun:"url"`
	Description    string       `bun:"description"`
	EnabledEvents  []string     `bun:"enabled_events,type:text"` // event types, or "*"
	Enabled        bool         `bun:"enabled"`
	Secret         string       `bun:"secret"` // whsec_…: kept, since every delivery is signed with it
	FailingSince   *time.Time   `bun:"failing_since"`
	DisabledReason string       `bun:"disabled_reason"`
	CreatedAt      time.Time    `bun:"created_at"`
	UpdatedAt      time.Time    `bun:"updated_at"`
	DeletedAt      *time.Time   `bun:"deleted_at"`
}

// Accepts reports whether the endpoint wants events of type t.
func (e *Endpoint) Accepts(t string) bool {
	return slices.Contains(e.EnabledEvents, "*") || slices.Contains(e.EnabledEvents, t)
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // waiting for its next attempt
	DeliverySucceeded = "succeeded" // an attempt got a 2xx
	DeliveryFailed    = "failed"    // every scheduled attempt failed
)

// Delivery is one event for one endpoint: created once, when the event is
// sequenced, and attempted until it succeeds or its schedule runs out.
type Delivery struct {
	bun.BaseModel  `bun:"table:webhook_deliveries"`
	ID             string       `bun:"id,pk"`
	EndpointID     string       `bun:"endpoint_id"`
	EventID        string       `bun:"event_id"`
	MerchantID     string       `bun:"merchant_id"`
	Mode           invoice.Mode `bun:"mode"`
	Status         string       `bun:"status"`
	Attempts       int          `bun:"attempts"`
	NextAttemptAt  *time.Time   `bun:"next_attempt_at"`
	LockedUntil    *time.Time   `bun:"locked_until"` // a worker's claim; an expired claim is retried
	LastStatusCode int          `bun:"last_status_code"`
	LastError      string       `bun:"last_error"`
	CreatedAt      time.Time    `bun:"created_at"`
	UpdatedAt      time.Time    `bun:"updated_at"`
}

// Attempt is the record of one try of a delivery.
type Attempt struct {
	bun.BaseModel   `bun:"table:webhook_attempts"`
	ID              string    `bun:"id,pk"`
	DeliveryID      string    `bun:"delivery_id"`
	EndpointID      string    `bun:"endpoint_id"`
	AttemptedAt     time.Time `bun:"attempted_at"`
	StatusCode      int       `bun:"status_code"` // 0 when no response came
	LatencyMS       int64     `bun:"latency_ms"`
	ResponseExcerpt string    `bun:"response_excerpt"` // the first 1 KiB of the body
	Error           string    `bun:"error"`
}
