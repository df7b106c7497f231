package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Problem is the RFC 9457 problem details the server answers every error
// with (the spec's Problem schema).
type Problem struct {
	Type     string        `json:"type,omitempty"`
	Title    string        `json:"title"`
	Status   int           `json:"status"`
	Code     string        `json:"code"` // stable: branch on this, not on the text
	Detail   string        `json:"detail,omitempty"`
	Instance string        `json:"instance,omitempty"`
	Errors   []ErrorDetail `json:"errors,omitempty"`
}

// ErrorDetail is one field error of a Problem (the spec's ErrorDetail).
type ErrorDetail struct {
	Location string `json:"location,omitempty"` // e.g. body.amount
	Message  string `json:"message,omitempty"`
	Value    any    `json:"value,omitempty"`
}

// Error is a non-2xx answer of the server. Use errors.As to get it and
// switch on Code:
//
//	var e *client.Error
//	if errors.As(err, &e) && e.Code == client.CodeInvalidAmount { … }
type Error struct {
	Problem
	// StatusCode is the HTTP status of the answer (Problem.Status says the
	// same when the answer was problem details).
	StatusCode int
	// RequestID is the server's X-Request-Id, for its logs.
	RequestID string
	// RetryAfter is the wait a 429 or 503 asked for; 0 when none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "settle: %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	switch {
	case e.Detail != "":
		b.WriteString(": " + e.Detail)
	case e.Title != "":
		b.WriteString(": " + e.Title)
	}
	return b.String()
}

// newError decodes a non-2xx answer. An answer that is not problem details
// (a proxy's error page) keeps the HTTP status text as its title and the
// start of its body as the detail.
func newError(res *http.Response, raw []byte) *Error {
	e := &Error{StatusCode: res.StatusCode, RequestID: res.Header.Get("X-Request-Id")}
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = parseRetryAfter(res.Header.Get("Retry-After"))
	}
	if json.Unmarshal(raw, &e.Problem) != nil || e.Problem.Status == 0 {
		excerpt := strings.TrimSpace(string(raw))
		if len(excerpt) > 200 {
			excerpt = excerpt[:200] + "…"
		}
		e.Problem = Problem{Title: http.StatusText(res.StatusCode), Status: res.StatusCode, Detail: excerpt}
	}
	return e
}

// Codes of Problem.Code that callers commonly branch on. The server's list
// (README, "Errors") may grow; an unknown code is still a valid Error.
const (
	CodeMalformedJSON           = "malformed_json"
	CodeInvalidString           = "invalid_string"
	CodeBodyTooLarge            = "body_too_large"
	CodeUnsupportedMediaType    = "unsupported_media_type"
	CodeUnknownField            = "unknown_field"
	CodeValidationFailed        = "validation_failed"
	CodeInvalidAmount           = "invalid_amount"
	CodeInvalidCurrency         = "invalid_currency"
	CodeInvalidPaymentMethod    = "invalid_payment_method"
	CodeReceivingAccountMissing = "receiving_account_missing"
	CodeInvalidNetwork          = "invalid_network"
	CodeInvalidAddress          = "invalid_address"
	CodeInvalidXpub             = "invalid_xpub"
	CodeInvalidReceivingAccount = "invalid_receiving_account"
	CodeReceivingAccountExists  = "receiving_account_exists"
	CodeUniqueAmountsExhausted  = "unique_amounts_exhausted"
	CodeInvalidRail             = "invalid_rail"
	CodeInvalidRailAccount      = "invalid_rail_account"
	CodeInvalidRoutingNumber    = "invalid_routing_number"
	CodeInvalidAccountNumber    = "invalid_account_number"
	CodeInvalidQRISPayload      = "invalid_qris_payload"
	CodeRailAccountExists       = "rail_account_exists"
	CodeInvoiceNotPayable       = "invoice_not_payable"
	CodeInvalidMetadata         = "invalid_metadata"
	CodeInvalidExpiry           = "invalid_expiry"
	CodeInvalidURL              = "invalid_url"
	CodeInvalidStatus           = "invalid_status"
	CodeInvalidLimit            = "invalid_limit"
	CodeInvalidTxID             = "invalid_tx_id"
	CodeInvalidCursor           = "invalid_cursor"
	CodeInvalidEventType        = "invalid_event_type"
	CodeURLNotAllowed           = "url_not_allowed"
	CodeInvalidIdempotencyKey   = "invalid_idempotency_key"
	CodeUnauthenticated         = "unauthenticated"
	CodeInvalidAPIKey           = "invalid_api_key"
	CodeInvalidWSToken          = "invalid_ws_token"
	CodeInsufficientScope       = "insufficient_scope"
	CodeLiveModeDisabled        = "live_mode_disabled"
	CodeTestModeOnly            = "test_mode_only"
	CodeNotFound                = "not_found"
	CodeMethodNotAllowed        = "method_not_allowed"
	CodeUpgradeRequired         = "upgrade_required"
	CodeInvoiceNotCancellable   = "invoice_not_cancellable"
	CodeInvoiceNotFulfillable   = "invoice_not_fulfillable"
	CodeTipAboveCap             = "tip_above_cap"
	CodeTipClosed               = "tip_closed"
	CodeTipNotAllowed           = "tip_not_allowed"
	CodeInvalidTip              = "invalid_tip"
	CodeNoQRCode                = "no_qr_code"
	CodeInvalidSize             = "invalid_size"
	CodeIdempotencyConflict     = "idempotency_conflict"
	CodeSecretRotated           = "secret_rotated"
	CodeDeliveryInFlight        = "delivery_in_flight"
	CodeEndpointDisabled        = "endpoint_disabled"
	CodeInvalidSignature        = "invalid_signature"
	CodeSessionLocked           = "session_locked"
	CodeSessionExpired          = "session_expired"
	CodeRateLimited             = "rate_limited"
	CodeDevnetUnavailable       = "devnet_unavailable"
	CodeConflict                = "conflict"
	CodeUnavailable             = "unavailable"
	CodeInternalError           = "internal_error"
)
