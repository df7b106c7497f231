package invoice

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
)

// This file holds the point of sale's printed codes: locations (sales
// channels), static QR codes bound to them, and the QR sessions a scan
// opens. A session asks the code's receiver (a vending machine, a till) to
// start an order through a durable request (QRRequest) that the events
// package sends; the order becomes exactly one invoice bound to the
// session.

// Location is a merchant's sales channel: a shop, a machine, a table area.
type Location struct {
	bun.BaseModel `bun:"table:locations"`
	ID            string     `bun:"id,pk"`
	MerchantID    string     `bun:"merchant_id"`
	Mode          Mode       `bun:"mode"`
	Name          string     `bun:"name"`
	CreatedAt     time.Time  `bun:"created_at"`
	DeactivatedAt *time.Time `bun:"deactivated_at"`
}

// LocationObject is the public form of a location.
type LocationObject struct {
	ID            string     `json:"id" example:"loc_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object        string     `json:"object" enum:"location"`
	Mode          Mode       `json:"mode" enum:"test,live"`
	Name          string     `json:"name" example:"Vending machine, hall B"`
	Active        bool       `json:"active" doc:"False once deactivated: its codes open no session."`
	CreatedAt     time.Time  `json:"created_at"`
	DeactivatedAt *time.Time `json:"deactivated_at"`
}

// Object returns the public form of l.
func (l *Location) Object() LocationObject {
	return LocationObject{ID: l.ID, Object: "location", Mode: l.Mode, Name: l.Name, Active: l.DeactivatedAt == nil,
		CreatedAt: l.CreatedAt, DeactivatedAt: l.DeactivatedAt}
}

// QRCode is a static code printed on a sticker: scanning it opens a QR
// session that asks StartURL, signed with Secret, to start an order.
type QRCode struct {
	bun.BaseModel         `bun:"table:qr_codes"`
	ID                    string     `bun:"id,pk"`
	MerchantID            string     `bun:"merchant_id"`
	Mode                  Mode       `bun:"mode"`
	LocationID            string     `bun:"location_id"`
	Code                  string     `bun:"code"` // the serial in the printed URL
	Description           string     `bun:"description"`
	AllowTip              bool       `bun:"allow_tip"`
	AllowDynamicInvoice   bool       `bun:"allow_dynamic_invoice"`
	OrderTimeoutSeconds   int64      `bun:"order_timeout_seconds"`
	PaymentTimeoutSeconds int64      `bun:"payment_timeout_seconds"`
	StartURL              string     `bun:"start_url"`
	Secret                string     `bun:"secret"` // whsec_…: kept, since every start request is signed with it
	CreatedAt             time.Time  `bun:"created_at"`
	DeactivatedAt         *time.Time `bun:"deactivated_at"`
}

// QRCodeObject is the public form of a QR code; URL is filled by the API,
// which knows the public address.
type QRCodeObject struct {
	ID                    string     `json:"id" example:"qrc_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object                string     `json:"object" enum:"qr_code"`
	Mode                  Mode       `json:"mode" enum:"test,live"`
	LocationID            string     `json:"location_id" example:"loc_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	QRCode                string     `json:"qr_code" example:"hall-b-07" doc:"The serial in the printed URL."`
	URL                   string     `json:"url" example:"https://pay.example/q/mer_06f0r5v3q8k2d1b4n7m9c0x2zs/hall-b-07" doc:"What the printed QR code encodes: /q/{merchant}/{qr_code} under the server's public URL."`
	Description           string     `json:"description"`
	AllowTip              bool       `json:"allow_tip"`
	AllowDynamicInvoice   bool       `json:"allow_dynamic_invoice" doc:"Whether a scan whose dynamic data has amount and currency creates its invoice at once (pay at table)."`
	OrderTimeoutSeconds   int64      `json:"order_timeout_seconds" example:"120"`
	PaymentTimeoutSeconds int64      `json:"payment_timeout_seconds" example:"900"`
	StartWebhookURL       string     `json:"qr_start_webhook_url" example:"https://machine.example/settle/start"`
	StartWebhookSecret    string     `json:"qr_start_webhook_secret,omitempty" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" doc:"Signs the start requests; shown only in the response that creates the code."`
	Active                bool       `json:"active"`
	CreatedAt             time.Time  `json:"created_at"`
	DeactivatedAt         *time.Time `json:"deactivated_at"`
}

// Object returns the public form of c without its secret or URL.
func (c *QRCode) Object() QRCodeObject {
	return QRCodeObject{
		ID: c.ID, Object: "qr_code", Mode: c.Mode, LocationID: c.LocationID, QRCode: c.Code, Description: c.Description,
		AllowTip: c.AllowTip, AllowDynamicInvoice: c.AllowDynamicInvoice,
		OrderTimeoutSeconds: c.OrderTimeoutSeconds, PaymentTimeoutSeconds: c.PaymentTimeoutSeconds,
		StartWebhookURL: c.StartURL, Active: c.DeactivatedAt == nil, CreatedAt: c.CreatedAt, DeactivatedAt: c.DeactivatedAt,
	}
}

// QRSessionStatus is where a scan stands.
type QRSessionStatus string

// QR session statuses. A session is waiting until its invoice exists
// (invoiced), the receiver says it is down (down), every start request
// failed (failed), the payor leaves (canceled) or the order timeout passes
// (timed_out); all but waiting are final.
const (
	QRWaiting  QRSessionStatus = "waiting"
	QRDown     QRSessionStatus = "down"
	QRFailed   QRSessionStatus = "failed"
	QRInvoiced QRSessionStatus = "invoiced"
	QRCanceled QRSessionStatus = "canceled"
	QRTimedOut QRSessionStatus = "timed_out"
)

// QRSession is one scan of a static code.
type QRSession struct {
	bun.BaseModel         `bun:"table:qr_sessions"`
	ID                    string          `bun:"id,pk"`
	MerchantID            string          `bun:"merchant_id"`
	Mode                  Mode            `bun:"mode"`
	QRCodeID              string          `bun:"qr_code_id"`
	LocationID            string          `bun:"location_id"`
	Token                 string          `bun:"token"` // the payor's handle on the session
	Status                QRSessionStatus `bun:"status"`
	Dynamic               string          `bun:"dynamic"` // the scan's dynamic JSON object, or ""
	AllowTip              bool            `bun:"allow_tip"`
	OrderTimeoutSeconds   int64           `bun:"order_timeout_seconds"`
	PaymentTimeoutSeconds int64           `bun:"payment_timeout_seconds"`
	DownText              string          `bun:"down_text"`
	InvoiceID             string          `bun:"invoice_id,nullzero"`
	OrderExpiresAt        time.Time       `bun:"order_expires_at"`
	CreatedAt             time.Time       `bun:"created_at"`
	UpdatedAt             time.Time       `bun:"updated_at"`
}

// QRSessionObject is the public form of a QR session.
type QRSessionObject struct {
	ID                    string          `json:"id" example:"qrs_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object                string          `json:"object" enum:"qr_session"`
	Mode                  Mode            `json:"mode" enum:"test,live"`
	QRID                  string          `json:"qr_id" example:"qrc_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	LocationID            string          `json:"location_id" example:"loc_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Status                QRSessionStatus `json:"status" enum:"waiting,down,failed,invoiced,canceled,timed_out"`
	Dynamic               map[string]any  `json:"dynamic" doc:"The scan's dynamic data, or null."`
	AllowTip              bool            `json:"allow_tip"`
	OrderTimeoutSeconds   int64           `json:"order_timeout_seconds"`
	PaymentTimeoutSeconds int64           `json:"payment_timeout_seconds"`
	DownResponseText      string          `json:"down_response_text" doc:"What the receiver said when it answered 412 (status down)."`
	InvoiceID             string          `json:"invoice_id" doc:"The session's one invoice, once created."`
	OrderExpiresAt        time.Time       `json:"order_expires_at"`
	CreatedAt             time.Time       `json:"created_at"`
	UpdatedAt             time.Time       `json:"updated_at"`
}

// Object returns the public form of q.
func (q *QRSession) Object() QRSessionObject {
	var dyn map[string]any
	if q.Dynamic != "" {
		json.Unmarshal([]byte(q.Dynamic), &dyn)
	}
	return QRSessionObject{
		ID: q.ID, Object: "qr_session", Mode: q.Mode, QRID: q.QRCodeID, LocationID: q.LocationID, Status: q.Status,
		Dynamic: dyn, AllowTip: q.AllowTip, OrderTimeoutSeconds: q.OrderTimeoutSeconds, PaymentTimeoutSeconds: q.PaymentTimeoutSeconds,
		DownResponseText: q.DownText, InvoiceID: q.InvoiceID, OrderExpiresAt: q.OrderExpiresAt, CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt,
	}
}

// QR request kinds: the start of an order, then, when the payor leaves or
// the order times out before an invoice exists, a notice of it.
const (
	QRRequestStart    = "start_qr_session"
	QRRequestCanceled = "canceled"
	QRRequestTimedOut = "timed_out"
)

// QRRequest is one request to a code's receiver, kept until it is
// delivered or its attempts are spent (the events package sends it).
type QRRequest struct {
	bun.BaseModel  `bun:"table:qr_session_requests"`
	ID             string     `bun:"id,pk"`
	SessionID      string     `bun:"session_id"`
	Kind           string     `bun:"kind"`
	IdempotencyKey string     `bun:"idempotency_key"`
	Body           string     `bun:"body"` // the signed JSON; emptied once done (it may hold the order key)
	Attempts       int        `bun:"attempts"`
	NextAttemptAt  *time.Time `bun:"next_attempt_at"`
	LockedUntil    *time.Time `bun:"locked_until"`
	LastStatus     int        `bun:"last_status"`
	LastError      string     `bun:"last_error"`
	Outcome        string     `bun:"outcome"`
	CreatedAt      time.Time  `bun:"created_at"`
	DoneAt         *time.Time `bun:"done_at"`
}

// Event types of QR sessions.
const (
	EventQRSessionCreated = "qr_session.created"
	EventQRSessionUpdated = "qr_session.updated"
)

// Sentinel errors of QR sessions.
var (
	// ErrQRSessionUsed is returned by [Service.Create] for a session that
	// already has its invoice.
	ErrQRSessionUsed = errors.New("qr session already has its invoice")
	// ErrQRSessionClosed is returned by [Service.Create] for a session that
	// is down, failed, canceled or past its order timeout.
	ErrQRSessionClosed = errors.New("qr session is closed")
	// ErrQRInactive is returned by [Service.StartQRSession] for a code or
	// location that is deactivated.
	ErrQRInactive = errors.New("qr code is deactivated")
)

// Limits on codes and scans.
const (
	MinOrderTimeout       = 5
	MaxOrderTimeout       = 3600
	DefaultOrderTimeout   = 120
	DefaultPaymentTimeout = DefaultExpiresIn
	// MaxDynamicBytes bounds a scan's dynamic data (the JSON, decoded from
	// the URL).
	MaxDynamicBytes = 4800
	// maxDynamicKeyLen leaves room for the "dynamic." prefix within a
	// metadata key's 40 characters.
	maxDynamicKeyLen = maxMetadataKeyLen - len(dynamicPrefix)
	dynamicPrefix    = "dynamic."
	maxDownText      = 500
	maxNameLen       = 200
)

// serialPattern is what a merchant-chosen serial may be: 3 to 64 ASCII
// letters, digits, '-' and '_', starting with a letter or digit (safe in a
// URL path without escaping; case-sensitive).
var serialPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$`)

// ValidSerial reports whether s may be a QR code's serial.
func ValidSerial(s string) bool { return serialPattern.MatchString(s) }

// NewSerial returns a generated serial: 16 characters of lower-case
// Crockford base32 (80 random bits).
func NewSerial() string { return randomToken(10) }

// QRCodeParams is a new code as asked for. StartURL must already be
// checked against the address policy and Secret generated by the caller.
type QRCodeParams struct {
	MerchantID, LocationID, Code, Description, StartURL, Secret string
	Mode                                                        Mode
	AllowTip, AllowDynamicInvoice                               bool
	OrderTimeoutSeconds, PaymentTimeoutSeconds                  int64 // 0: defaults
}

func (p *QRCodeParams) check() error {
	var v ValidationError
	if p.Code == "" {
		p.Code = NewSerial()
	} else if !ValidSerial(p.Code) {
		v.add("qr_code", "invalid_qr_code", "3 to 64 characters of A-Z, a-z, 0-9, '-' and '_', starting with a letter or digit")
	}
	if p.OrderTimeoutSeconds == 0 {
		p.OrderTimeoutSeconds = DefaultOrderTimeout
	}
	if p.OrderTimeoutSeconds < MinOrderTimeout || p.OrderTimeoutSeconds > MaxOrderTimeout {
		v.add("order_timeout_seconds", "invalid_timeout", "must be between %d and %d seconds", MinOrderTimeout, MaxOrderTimeout)
	}
	if p.PaymentTimeoutSeconds == 0 {
		p.PaymentTimeoutSeconds = DefaultPaymentTimeout
	}
	if p.PaymentTimeoutSeconds < MinExpiresIn || p.PaymentTimeoutSeconds > MaxExpiresIn {
		v.add("payment_timeout_seconds", "invalid_timeout", "must be between %d and %d seconds", MinExpiresIn, MaxExpiresIn)
	}
	checkText(&v, "description", p.Description, maxTextLen)
	return v.err()
}

// ParseDynamic checks a scan's dynamic data: a JSON object of at most
// MaxDynamicBytes whose keys are 1 to 32 characters and whose values are
// strings (at most 500 characters), numbers or booleans. It returns the
// object in compact form. The error says what is wrong, for a person.
func ParseDynamic(raw string) (string, map[string]string, error) {
	if len(raw) > MaxDynamicBytes {
		return "", nil, fmt.Errorf("the order data is %d bytes; at most %d are allowed", len(raw), MaxDynamicBytes)
	}
	if !utf8.ValidString(raw) {
		return "", nil, errors.New("the order data is not valid UTF-8")
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
		return "", nil, errors.New("the order data is not a JSON object")
	}
	flat := make(map[string]string, len(obj))
	for k, v := range obj {
		if strings.ContainsRune(k, 0) {
			return "", nil, errors.New("the order data contains a NUL character")
		}
		if k == "" || utf8.RuneCountInString(k) > maxDynamicKeyLen {
			return "", nil, fmt.Errorf("the order data has a key of %d characters; keys are 1 to %d", utf8.RuneCountInString(k), maxDynamicKeyLen)
		}
		var val any
		d := json.NewDecoder(strings.NewReader(string(v)))
		d.UseNumber()
		d.Decode(&val)
		switch x := val.(type) {
		case string:
			if strings.ContainsRune(x, 0) {
				return "", nil, errors.New("the order data contains a NUL character")
			}
			if utf8.RuneCountInString(x) > maxMetadataValLen {
				return "", nil, fmt.Errorf("the order data's %q is longer than %d characters", k, maxMetadataValLen)
			}
			flat[k] = x
		case json.Number:
			flat[k] = x.String()
		case bool:
			flat[k] = fmt.Sprint(x)
		default:
			return "", nil, fmt.Errorf("the order data's %q is not a string, number or boolean", k)
		}
	}
	if len(flat) > MaxMetadataKeys {
		return "", nil, fmt.Errorf("the order data has %d keys; at most %d are allowed", len(flat), MaxMetadataKeys)
	}
	compact, _ := json.Marshal(obj)
	return string(compact), flat, nil
}

// mergeDynamic adds a session's dynamic data to an invoice's metadata as
// "dynamic.<key>", without overriding the merchant's own keys and within
// the metadata limits.
func mergeDynamic(md map[string]string, dynamic string) {
	if dynamic == "" {
		return
	}
	_, flat, err := ParseDynamic(dynamic)
	if err != nil {
		return
	}
	size := 0
	for k, v := range md {
		size += len(k) + len(v)
	}
	for k, v := range flat {
		key := dynamicPrefix + k
		if _, taken := md[key]; taken || len(md) >= MaxMetadataKeys || size+len(key)+len(v) > MaxMetadataBytes {
			continue
		}
		md[key] = v
		size += len(key) + len(v)
	}
}
