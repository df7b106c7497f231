package openapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

// Problem is an RFC 9457 problem details body with a stable machine code.
// Every error the API returns has this shape.
type Problem struct {
	Type     string              `json:"type,omitempty" format:"uri" default:"about:blank" doc:"A URI reference identifying the problem type."`
	Title    string              `json:"title" example:"Unprocessable Entity" doc:"Short summary of the problem type."`
	Status   int                 `json:"status" example:"422" doc:"HTTP status code."`
	Code     string              `json:"code" example:"invalid_amount" doc:"Stable machine-readable code; branch on this, not on the text."`
	Detail   string              `json:"detail,omitempty" example:"amount: at most 2 decimals for USD" doc:"What went wrong in this occurrence."`
	Instance string              `json:"instance,omitempty" format:"uri" doc:"The request path."`
	Errors   []*huma.ErrorDetail `json:"errors,omitempty" doc:"Field errors: location (body.amount), message and the offending value."`
}

func (p *Problem) Error() string  { return p.Detail }
func (p *Problem) GetStatus() int { return p.Status }

// ContentType implements huma.ContentTypeFilter.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

func problem(status int, code, detail string, errs ...*huma.ErrorDetail) *Problem {
	return &Problem{Title: http.StatusText(status), Status: status, Code: code, Detail: detail, Errors: errs}
}

// The one replacement of huma's error constructor: huma's own errors (bad
// JSON, schema validation, body size) get a code from their status.
func init() {
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		details := make([]*huma.ErrorDetail, 0, len(errs))
		for _, err := range errs {
			if err == nil {
				continue
			}
			var d *huma.ErrorDetail
			if !errors.As(err, &d) {
				d = &huma.ErrorDetail{Message: err.Error()}
			}
			if s, ok := d.Value.(string); ok && len(s) > 200 {
				d.Value = s[:200] + "…"
			}
			if strings.HasSuffix(d.Location, ".xpub") {
				d.Value = nil // may be a private key pasted by mistake: never echoed
			}
			// A missing property is a mistake in that property, not in
			// the object holding it: locate it there so that it gets the
			// field's code and the detail names the field first.
			if name, ok := strings.CutPrefix(d.Message, "expected required property "); ok {
				if name, ok = strings.CutSuffix(name, " to be present"); ok {
					d.Location += "." + name
					d.Message = "is required"
					d.Value = nil // the value was the whole object
				}
			}
			details = append(details, d)
		}
		if status == http.StatusBadRequest && len(details) == 0 && msg == "request body is required" {
			// An empty body is no JSON document either.
			details = append(details, &huma.ErrorDetail{Location: "body", Message: "is required"})
			msg = ""
		}
		if status == http.StatusUnsupportedMediaType {
			// huma's detail is "unknown content type: text/plain" with the
			// body as its value: say what to send instead, and echo only
			// the type.
			got := ""
			for _, d := range details {
				if ct, ok := strings.CutPrefix(d.Message, huma.ErrUnknownContentType.Error()+": "); ok {
					got = ct
				}
			}
			msg := "send Content-Type: application/json"
			if got != "" {
				msg += fmt.Sprintf(" (got %q)", got)
			}
			return problem(status, "unsupported_media_type", "Content-Type: "+msg,
				&huma.ErrorDetail{Location: "header.Content-Type", Message: msg, Value: got})
		}
		if status == http.StatusRequestEntityTooLarge {
			msg = fmt.Sprintf("body: at most %d bytes (1 MiB)", maxBodyBytes)
		}
		if status >= 500 {
			// Never show a wrapped driver or RPC error.
			return problem(status, codeFor(status, nil), "Internal error.")
		}
		if len(details) > 0 && (msg == "validation failed" || msg == "") {
			// Name the field as the domain's own errors do ("amount: …").
			msg = strings.TrimPrefix(details[0].Location, "body.") + ": " + details[0].Message
		}
		return problem(status, codeFor(status, details), msg, details...)
	}
}

func codeFor(status int, details []*huma.ErrorDetail) string {
	switch status {
	case http.StatusBadRequest:
		for _, d := range details {
			if d.Location == "body" {
				return "malformed_json"
			}
		}
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusUnprocessableEntity:
		for _, d := range details {
			if strings.Contains(d.Message, "unexpected property") {
				return "unknown_field"
			}
		}
		for _, d := range details {
			if code, ok := fieldCodes[fieldOf(d.Location)]; ok {
				return code
			}
		}
		return "validation_failed"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	default:
		if status >= 500 {
			return "internal_error"
		}
		return "bad_request"
	}
}

// fieldOf is the key of fieldCodes for an error location: the top-level
// property of the body ("body.metadata.color" → "metadata") or the
// parameter with its place ("query.limit").
func fieldOf(location string) string {
	if rest, ok := strings.CutPrefix(location, "body."); ok {
		field := strings.SplitN(rest, ".", 2)[0]
		field, _, _ = strings.Cut(field, "[") // include[0] → include
		return field
	}
	return location
}

// fieldCodes gives schema violations of a field the code the domain uses
// for that field, so a client sees one code per field whichever layer
// caught the mistake.
var fieldCodes = map[string]string{
	"amount":          "invalid_amount",
	"currency":        "invalid_currency",
	"expires_in":      "invalid_expiry",
	"expires_at":      "invalid_expiry",
	"metadata":        "invalid_metadata",
	"payment_methods": "invalid_payment_method",
	"redirect_url":    "invalid_url",
	"method":          "invalid_payment_method",
	"status":          "invalid_status",
	"tx_id":           "invalid_tx_id",
	"query.limit":     "invalid_limit",
	"query.type":      "invalid_event_type",
	"query.status":    "invalid_status",
	"query.after":     "invalid_cursor",
	"url":             "invalid_url",
	"enabled_events":  "invalid_event_type",
	"network":         "invalid_network",
	"address":         "invalid_address",
	"xpub":            "invalid_xpub",
	"note":            "invalid_note",
	"query.from":      "invalid_range",
	"query.to":        "invalid_range",
	"query.format":    "invalid_format",
	"rail":            "invalid_rail",
	"query.rail":      "invalid_rail",
	"bank_name":       "invalid_bank_name",
	"account_name":    "invalid_account_name",
	"account_number":  "invalid_account_number",
	"routing_number":  "invalid_routing_number",
	"qris_payload":    "invalid_qris_payload",
	"processor_id":    "invalid_processor_id",
	"tip_cap_percent": "invalid_tip_cap",
	"include":         "invalid_include",
	"percent":         "invalid_tip",
	"query.size":      "invalid_size",
	"query.method":    "invalid_payment_method",
}

// fail maps a domain error to its problem. This table is the one place
// where domain errors meet HTTP; anything unknown is logged and answered as
// a bare 500.
func (s *server) fail(ctx context.Context, err error) error {
	var v *invoice.ValidationError
	switch {
	case errors.As(err, &v):
		details := make([]*huma.ErrorDetail, len(v.Fields))
		for i, f := range v.Fields {
			details[i] = &huma.ErrorDetail{Location: "body." + f.Field, Message: f.Rule}
		}
		return problem(http.StatusUnprocessableEntity, v.Fields[0].Code, v.Error(), details...)
	case errors.Is(err, invoice.ErrNotFound):
		return problem(http.StatusNotFound, "not_found", "No such object.")
	case errors.Is(err, invoice.ErrNotCancellable):
		return problem(http.StatusConflict, "invoice_not_cancellable", "Only an open invoice with nothing paid or pending can be cancelled.")
	case errors.Is(err, events.ErrDeliveryInFlight):
		return problem(http.StatusConflict, "delivery_in_flight", "An attempt of this delivery is being made; retry after it is recorded.")
	case errors.Is(err, events.ErrEndpointDisabled):
		return problem(http.StatusConflict, "endpoint_disabled", "The endpoint is disabled; enable it first (PATCH enabled: true).")
	case errors.Is(err, chains.ErrAccountExists):
		return problem(http.StatusConflict, "receiving_account_exists", "There is already an active receiving account on this network in this mode (delete it first), or this address or key receives for another merchant.")
	case errors.Is(err, chains.ErrUniqueAmountsExhausted):
		return problem(http.StatusServiceUnavailable, "unique_amounts_exhausted", "Every unique amount near this one is held by another open invoice on the receiving address; retry later, use another amount, or receive with an xpub.")
	case errors.Is(err, fiat.ErrAccountExists):
		return problem(http.StatusConflict, "rail_account_exists", "There is already an active account on this rail in this mode; delete it first.")
	case errors.Is(err, fiat.ErrUniqueCodesExhausted):
		return problem(http.StatusServiceUnavailable, "unique_codes_exhausted", "Every QRIS unique code for this amount is held by another open invoice of the account; retry later or use another amount.")
	case errors.Is(err, invoice.ErrConflict):
		return problem(http.StatusConflict, "conflict", "The request conflicts with a recorded payment.")
	case errors.Is(err, context.Canceled):
		return problem(http.StatusServiceUnavailable, "unavailable", "The request was cancelled.")
	default:
		s.log.ErrorContext(ctx, "request failed", "err", err, "request_id", requestID(ctx))
		return problem(http.StatusInternalServerError, "internal_error", "Internal error.")
	}
}
