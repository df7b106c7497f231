package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// Location is a sales channel that QR codes belong to (the spec's
// LocationObject).
type Location struct {
	ID            string     `json:"id"`
	Object        string     `json:"object"`
	Mode          Mode       `json:"mode"`
	Name          string     `json:"name"`
	Active        bool       `json:"active"`
	CreatedAt     time.Time  `json:"created_at"`
	DeactivatedAt *time.Time `json:"deactivated_at"`
}

// LocationList is one page of locations, newest first.
type LocationList struct {
	Object  string     `json:"object"`
	Data    []Location `json:"data"`
	HasMore bool       `json:"has_more"`
}

// CreateLocationParams is the body of create-location.
type CreateLocationParams struct {
	Name string `json:"name"`
}

// QRCode is a static, printable code (the spec's QRCodeObject). Scanning
// URL opens a waiting page that sends a signed start_qr_session request to
// StartWebhookURL.
type QRCode struct {
	ID                    string `json:"id"`
	Object                string `json:"object"`
	Mode                  Mode   `json:"mode"`
	LocationID            string `json:"location_id"`
	QRCode                string `json:"qr_code"` // the serial in URL
	URL                   string `json:"url"`
	Description           string `json:"description"`
	AllowTip              bool   `json:"allow_tip"`
	AllowDynamicInvoice   bool   `json:"allow_dynamic_invoice"`
	OrderTimeoutSeconds   int64  `json:"order_timeout_seconds"`
	PaymentTimeoutSeconds int64  `json:"payment_timeout_seconds"`
	StartWebhookURL       string `json:"qr_start_webhook_url"`
	// StartWebhookSecret (whsec_…) signs the start requests; it is set
	// only in the answer of CreateQRCode.
	StartWebhookSecret string     `json:"qr_start_webhook_secret,omitempty"`
	Active             bool       `json:"active"`
	CreatedAt          time.Time  `json:"created_at"`
	DeactivatedAt      *time.Time `json:"deactivated_at"`
}

// QRCodeList is one page of QR codes, newest first.
type QRCodeList struct {
	Object  string   `json:"object"`
	Data    []QRCode `json:"data"`
	HasMore bool     `json:"has_more"`
}

// CreateQRCodeParams is the body of create-qr-code; zero fields take the
// server's defaults (a generated serial, 120 s order timeout, 900 s
// payment timeout).
type CreateQRCodeParams struct {
	LocationID            string `json:"location_id"`
	QRCode                string `json:"qr_code,omitempty"`
	Description           string `json:"description,omitempty"`
	AllowTip              bool   `json:"allow_tip,omitempty"`
	AllowDynamicInvoice   bool   `json:"allow_dynamic_invoice,omitempty"`
	OrderTimeoutSeconds   int64  `json:"order_timeout_seconds,omitempty"`
	PaymentTimeoutSeconds int64  `json:"payment_timeout_seconds,omitempty"`
	StartWebhookURL       string `json:"qr_start_webhook_url"`
}

// QR session statuses.
const (
	QRSessionWaiting  = "waiting"
	QRSessionDown     = "down"
	QRSessionFailed   = "failed"
	QRSessionInvoiced = "invoiced"
	QRSessionCanceled = "canceled"
	QRSessionTimedOut = "timed_out"
)

// QRSession is one scan of a static code (the spec's QRSessionObject).
type QRSession struct {
	ID                    string         `json:"id"`
	Object                string         `json:"object"`
	Mode                  Mode           `json:"mode"`
	QRID                  string         `json:"qr_id"`
	LocationID            string         `json:"location_id"`
	Status                string         `json:"status"`
	Dynamic               map[string]any `json:"dynamic"`
	AllowTip              bool           `json:"allow_tip"`
	OrderTimeoutSeconds   int64          `json:"order_timeout_seconds"`
	PaymentTimeoutSeconds int64          `json:"payment_timeout_seconds"`
	DownResponseText      string         `json:"down_response_text"`
	InvoiceID             string         `json:"invoice_id"`
	OrderExpiresAt        time.Time      `json:"order_expires_at"`
	CreatedAt             time.Time      `json:"created_at"`
	UpdatedAt             time.Time      `json:"updated_at"`
}

// CreateLocation adds a location in the key's mode.
func (c *Client) CreateLocation(ctx context.Context, p CreateLocationParams, opts ...RequestOption) (*Location, error) {
	var out Location
	_, err := c.do(ctx, &call{op: opCreateLocation, body: p}, &out, opts...)
	return ptr(&out, err)
}

// ListLocations returns one page of locations, newest first.
func (c *Client) ListLocations(ctx context.Context, after string, limit int) (*LocationList, error) {
	q := url.Values{}
	setPage(q, after, limit)
	var out LocationList
	_, err := c.do(ctx, &call{op: opListLocations, query: q}, &out)
	return ptr(&out, err)
}

// GetLocation retrieves a location.
func (c *Client) GetLocation(ctx context.Context, id string) (*Location, error) {
	var out Location
	_, err := c.do(ctx, &call{op: opGetLocation, id: id}, &out)
	return ptr(&out, err)
}

// DeactivateLocation deactivates a location: scans of its codes open no
// session.
func (c *Client) DeactivateLocation(ctx context.Context, id string) (*Location, error) {
	var out Location
	_, err := c.do(ctx, &call{op: opDeactivateLocation, id: id}, &out)
	return ptr(&out, err)
}

// CreateQRCode adds a static code; the answer is the only one that
// carries its StartWebhookSecret.
func (c *Client) CreateQRCode(ctx context.Context, p CreateQRCodeParams, opts ...RequestOption) (*QRCode, error) {
	var out QRCode
	_, err := c.do(ctx, &call{op: opCreateQRCode, body: p}, &out, opts...)
	return ptr(&out, err)
}

// ListQRCodes returns one page of QR codes, newest first.
func (c *Client) ListQRCodes(ctx context.Context, after string, limit int) (*QRCodeList, error) {
	q := url.Values{}
	setPage(q, after, limit)
	var out QRCodeList
	_, err := c.do(ctx, &call{op: opListQRCodes, query: q}, &out)
	return ptr(&out, err)
}

// GetQRCode retrieves a QR code (without its secret).
func (c *Client) GetQRCode(ctx context.Context, id string) (*QRCode, error) {
	var out QRCode
	_, err := c.do(ctx, &call{op: opGetQRCode, id: id}, &out)
	return ptr(&out, err)
}

// DeactivateQRCode takes a code out of service; its serial stays taken.
func (c *Client) DeactivateQRCode(ctx context.Context, id string) (*QRCode, error) {
	var out QRCode
	_, err := c.do(ctx, &call{op: opDeactivateQRCode, id: id}, &out)
	return ptr(&out, err)
}

// QRCodeImage returns the printable code as "png" (size pixels; 0 for
// the server's default) or "svg".
func (c *Client) QRCodeImage(ctx context.Context, id, format string, size int) ([]byte, error) {
	q := url.Values{"format": {format}}
	if size > 0 {
		q.Set("size", strconv.Itoa(size))
	}
	var out []byte
	_, err := c.do(ctx, &call{op: opQRCodeImage, id: id, query: q, accept: "image/png, image/svg+xml, application/problem+json"}, &out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetQRSession retrieves a QR session; a session's one-time order key
// may read its own.
func (c *Client) GetQRSession(ctx context.Context, id string) (*QRSession, error) {
	var out QRSession
	_, err := c.do(ctx, &call{op: opGetQRSession, id: id}, &out)
	return ptr(&out, err)
}
