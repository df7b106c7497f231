package client

import "strings"

// operation is one operation of the spec that the client calls. Every
// request the client makes goes through one of these, so the table below
// is the whole surface of the client, and a test checks it against
// openapi/openapi.yaml: the path, the method, the operationId and whether
// it takes an Idempotency-Key must all be the spec's.
type operation struct {
	ID     string // operationId in the spec
	Method string
	Path   string // the spec's template, with {id} for the path parameter
	// Keyed operations take an Idempotency-Key; the client always sends
	// one, so they are retried like GETs.
	Keyed bool
	// Repeatable marks an unkeyed operation the server documents as safe
	// to repeat (choosing a payor method returns the same instructions).
	Repeatable bool
	// Payor operations are authorised by session headers, not the API key.
	Payor bool
}

// retryable reports whether a failed attempt may be made again.
func (op *operation) retryable() bool {
	return op.Method == "GET" || op.Keyed || op.Repeatable
}

// path fills the template's {id} with id (already escaped).
func (op *operation) path(id string) string {
	return strings.Replace(op.Path, "{id}", id, 1)
}

var (
	opCreateInvoice    = &operation{ID: "create-invoice", Method: "POST", Path: "/api/v1/invoices", Keyed: true}
	opListInvoices     = &operation{ID: "list-invoices", Method: "GET", Path: "/api/v1/invoices"}
	opGetInvoice       = &operation{ID: "get-invoice", Method: "GET", Path: "/api/v1/invoices/{id}"}
	opGetInvoiceStatus = &operation{ID: "get-invoice-status", Method: "GET", Path: "/api/v1/invoices/{id}/status"}
	opCancelInvoice    = &operation{ID: "cancel-invoice", Method: "POST", Path: "/api/v1/invoices/{id}/cancel", Keyed: true}
	opSimulatePayment  = &operation{ID: "simulate-payment", Method: "POST", Path: "/api/v1/test/invoices/{id}/simulate-payment", Keyed: true}
	opMarkInvoice      = &operation{ID: "mark-invoice", Method: "POST", Path: "/api/v1/invoices/{id}/mark", Keyed: true}
	opUpdateCheckout   = &operation{ID: "update-invoice-checkout", Method: "POST", Path: "/api/v1/invoices/{id}/checkout", Keyed: true}
	opInvoiceQR        = &operation{ID: "get-invoice-qr", Method: "GET", Path: "/api/v1/invoices/{id}/qr"}
	opFulfilInvoice    = &operation{ID: "fulfil-invoice", Method: "POST", Path: "/api/v1/invoices/{id}/fulfil", Keyed: true}
	opPayorTip         = &operation{ID: "set-payor-tip", Method: "POST", Path: "/api/v1/payor/session/tip", Payor: true}

	opListPayments        = &operation{ID: "list-payments", Method: "GET", Path: "/api/v1/payments"}
	opListInvoicePayments = &operation{ID: "list-invoice-payments", Method: "GET", Path: "/api/v1/invoices/{id}/payments"}
	opReport              = &operation{ID: "reconciliation-report", Method: "GET", Path: "/api/v1/reports/reconciliation"}

	opListEvents = &operation{ID: "list-events", Method: "GET", Path: "/api/v1/events"}
	opGetEvent   = &operation{ID: "get-event", Method: "GET", Path: "/api/v1/events/{id}"}
	opWSToken    = &operation{ID: "create-ws-token", Method: "POST", Path: "/api/v1/ws-tokens", Keyed: true}

	opCreateEndpoint = &operation{ID: "create-webhook-endpoint", Method: "POST", Path: "/api/v1/webhook-endpoints", Keyed: true}
	opListEndpoints  = &operation{ID: "list-webhook-endpoints", Method: "GET", Path: "/api/v1/webhook-endpoints"}
	opGetEndpoint    = &operation{ID: "get-webhook-endpoint", Method: "GET", Path: "/api/v1/webhook-endpoints/{id}"}
	opUpdateEndpoint = &operation{ID: "update-webhook-endpoint", Method: "PATCH", Path: "/api/v1/webhook-endpoints/{id}"}
	opDeleteEndpoint = &operation{ID: "delete-webhook-endpoint", Method: "DELETE", Path: "/api/v1/webhook-endpoints/{id}"}
	opRotateSecret   = &operation{ID: "rotate-webhook-endpoint-secret", Method: "POST", Path: "/api/v1/webhook-endpoints/{id}/rotate-secret", Keyed: true}
	opListDeliveries = &operation{ID: "list-webhook-deliveries", Method: "GET", Path: "/api/v1/webhook-endpoints/{id}/deliveries"}
	opReplayEndpoint = &operation{ID: "replay-webhook-endpoint", Method: "POST", Path: "/api/v1/webhook-endpoints/{id}/replay", Keyed: true}
	opRetryDelivery  = &operation{ID: "retry-webhook-delivery", Method: "POST", Path: "/api/v1/deliveries/{id}/retry", Keyed: true}

	opCreateRailAccount = &operation{ID: "create-rail-account", Method: "POST", Path: "/api/v1/rail-accounts", Keyed: true}
	opListRailAccounts  = &operation{ID: "list-rail-accounts", Method: "GET", Path: "/api/v1/rail-accounts"}
	opGetRailAccount    = &operation{ID: "get-rail-account", Method: "GET", Path: "/api/v1/rail-accounts/{id}"}
	opDeleteRailAccount = &operation{ID: "delete-rail-account", Method: "DELETE", Path: "/api/v1/rail-accounts/{id}"}
	opListUnmatchedRail = &operation{ID: "list-unmatched-rail-credits", Method: "GET", Path: "/api/v1/rail-unmatched"}
	opRequestForPayment = &operation{ID: "get-request-for-payment", Method: "GET", Path: "/api/v1/invoices/{id}/request-for-payment"}

	opCreateAccount      = &operation{ID: "create-receiving-account", Method: "POST", Path: "/api/v1/receiving-accounts", Keyed: true}
	opListAccounts       = &operation{ID: "list-receiving-accounts", Method: "GET", Path: "/api/v1/receiving-accounts"}
	opGetAccount         = &operation{ID: "get-receiving-account", Method: "GET", Path: "/api/v1/receiving-accounts/{id}"}
	opDeleteAccount      = &operation{ID: "delete-receiving-account", Method: "DELETE", Path: "/api/v1/receiving-accounts/{id}"}
	opListUnmatched      = &operation{ID: "list-unmatched-payments", Method: "GET", Path: "/api/v1/unmatched-payments"}
	opListNetworks       = &operation{ID: "list-networks", Method: "GET", Path: "/api/v1/networks"}
	opCreateLocation     = &operation{ID: "create-location", Method: "POST", Path: "/api/v1/locations", Keyed: true}
	opListLocations      = &operation{ID: "list-locations", Method: "GET", Path: "/api/v1/locations"}
	opGetLocation        = &operation{ID: "get-location", Method: "GET", Path: "/api/v1/locations/{id}"}
	opDeactivateLocation = &operation{ID: "deactivate-location", Method: "DELETE", Path: "/api/v1/locations/{id}"}
	opCreateQRCode       = &operation{ID: "create-qr-code", Method: "POST", Path: "/api/v1/qr-codes", Keyed: true}
	opListQRCodes        = &operation{ID: "list-qr-codes", Method: "GET", Path: "/api/v1/qr-codes"}
	opGetQRCode          = &operation{ID: "get-qr-code", Method: "GET", Path: "/api/v1/qr-codes/{id}"}
	opDeactivateQRCode   = &operation{ID: "deactivate-qr-code", Method: "DELETE", Path: "/api/v1/qr-codes/{id}"}
	opQRCodeImage        = &operation{ID: "get-qr-code-image", Method: "GET", Path: "/api/v1/qr-codes/{id}/qr"}
	opGetQRSession       = &operation{ID: "get-qr-session", Method: "GET", Path: "/api/v1/qr-sessions/{id}"}

	opPayorSession   = &operation{ID: "get-payor-session", Method: "GET", Path: "/api/v1/payor/session", Payor: true}
	opPayorMethod    = &operation{ID: "choose-payor-method", Method: "POST", Path: "/api/v1/payor/session/method", Payor: true, Repeatable: true}
	opPayorQR        = &operation{ID: "get-payor-qr", Method: "GET", Path: "/api/v1/payor/session/qr", Payor: true}
	opPayorDevnetPay = &operation{ID: "pay-from-devnet", Method: "POST", Path: "/api/v1/payor/session/devnet-pay", Payor: true}
	opPayorSimulate  = &operation{ID: "simulate-payor-payment", Method: "POST", Path: "/api/v1/payor/session/simulate-payment", Payor: true}

	opCreateTerminal       = &operation{ID: "create-terminal", Method: "POST", Path: "/api/v1/terminals", Keyed: true}
	opListTerminals        = &operation{ID: "list-terminals", Method: "GET", Path: "/api/v1/terminals"}
	opGetTerminal          = &operation{ID: "get-terminal", Method: "GET", Path: "/api/v1/terminals/{id}"}
	opDeleteTerminal       = &operation{ID: "delete-terminal", Method: "DELETE", Path: "/api/v1/terminals/{id}"}
	opListTerminalInvoices = &operation{ID: "list-terminal-invoices", Method: "GET", Path: "/api/v1/terminals/{id}/invoices"}
	opListInvoiceEvents    = &operation{ID: "list-invoice-events", Method: "GET", Path: "/api/v1/invoices/{id}/events"}
)

// operations lists every operation above, for the spec test. The rails'
// notification endpoints (/api/v1/rails/…) are not among them: banks, card
// processors and QRIS forwarders call those, not a merchant's backend.
var operations = []*operation{
	opCreateInvoice, opListInvoices, opGetInvoice, opGetInvoiceStatus, opCancelInvoice, opSimulatePayment, opMarkInvoice,
	opUpdateCheckout, opInvoiceQR, opFulfilInvoice,
	opListPayments, opListInvoicePayments, opReport,
	opListEvents, opGetEvent, opWSToken,
	opCreateEndpoint, opListEndpoints, opGetEndpoint, opUpdateEndpoint, opDeleteEndpoint, opRotateSecret,
	opListDeliveries, opReplayEndpoint, opRetryDelivery,
	opCreateAccount, opListAccounts, opGetAccount, opDeleteAccount, opListUnmatched, opListNetworks,
	opCreateRailAccount, opListRailAccounts, opGetRailAccount, opDeleteRailAccount, opListUnmatchedRail, opRequestForPayment,
	opCreateLocation, opListLocations, opGetLocation, opDeactivateLocation,
	opCreateQRCode, opListQRCodes, opGetQRCode, opDeactivateQRCode, opQRCodeImage, opGetQRSession,
	opPayorSession, opPayorMethod, opPayorQR, opPayorDevnetPay, opPayorSimulate, opPayorTip,
	opCreateTerminal, opListTerminals, opGetTerminal, opDeleteTerminal, opListTerminalInvoices, opListInvoiceEvents,
}

// wsPath is the merchant WebSocket. The spec cannot list an upgrade as an
// operation; it documents it on create-ws-token.
const wsPath = "/api/v1/ws"
