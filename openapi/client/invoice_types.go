package client

import (
	"net/http"
	"time"
)

// Mode is test or live; a key of one mode never sees objects of the other.
type Mode string

// Modes.
const (
	ModeTest Mode = "test"
	ModeLive Mode = "live"
)

// Status is an invoice's status.
type Status string

// Statuses: open → processing → paid; open|processing → expired;
// open → cancelled; marked by hand, paid or invalid.
const (
	StatusOpen       Status = "open"
	StatusProcessing Status = "processing"
	StatusPaid       Status = "paid"
	StatusExpired    Status = "expired"
	StatusCancelled  Status = "cancelled"
	StatusInvalid    Status = "invalid" // marked invalid by hand: not to be fulfilled
)

// Terminal reports whether s is paid, expired, cancelled or invalid. (An
// expired invoice may still become paid with exception paid_late, and a
// reorg may move a paid one back; events say so.)
func (s Status) Terminal() bool {
	return s == StatusPaid || s == StatusExpired || s == StatusCancelled || s == StatusInvalid
}

// Exception flags an invoice that needs a person.
type Exception string

// Exceptions.
const (
	ExceptionNone      Exception = "none"
	ExceptionUnderpaid Exception = "underpaid"
	ExceptionOverpaid  Exception = "overpaid"
	ExceptionPaidLate  Exception = "paid_late"
	ExceptionMarked    Exception = "marked"
)

// Invoice is the spec's InvoiceObject. Amounts are decimal strings in the
// currency's units ("25.00"); never parse them into a float.
type Invoice struct {
	ID                    string            `json:"id"`
	Object                string            `json:"object"`
	Mode                  Mode              `json:"mode"`
	Status                Status            `json:"status"`
	Exception             Exception         `json:"exception"`
	Amount                string            `json:"amount"`
	Currency              string            `json:"currency"`
	AmountPaid            string            `json:"amount_paid"`
	AmountDue             string            `json:"amount_due"`
	PaymentMethods        []string          `json:"payment_methods"`
	MerchantOrderID       string            `json:"merchant_order_id"`
	Description           string            `json:"description"`
	Metadata              map[string]string `json:"metadata"`
	RedirectURL           string            `json:"redirect_url"`
	ExpiresAt             time.Time         `json:"expires_at"`
	CreatedAt             time.Time         `json:"created_at"`
	UpdatedAt             time.Time         `json:"updated_at"`
	PaidAt                *time.Time        `json:"paid_at"`
	PaymentURL            string            `json:"payment_url"`
	PaymentSessionHeaders SessionHeaders    `json:"payment_session_headers"`
	PaymentInstructions   []Instruction     `json:"payment_instructions"`
	Mark                  *Mark             `json:"mark,omitempty"` // set when resolved by hand
	Checkout              Checkout          `json:"checkout"`
	// Point of sale.
	TipAmount     string        `json:"tip_amount"` // the payor's tip, on top of Amount; AmountDue includes it
	AllowTip      bool          `json:"allow_tip"`
	TipCapPercent int           `json:"tip_cap_percent"`
	ScannedAt     *time.Time    `json:"scanned_at"`     // the payor's first open of the checkout (checkout.scanned)
	SessionStatus SessionStatus `json:"session_status"` // derived from status, exception, scanned_at and payments
	Fulfilment    Fulfilment    `json:"fulfilment"`
	QRPNG         string        `json:"qr_png,omitempty"`        // base64 PNG of PaymentURL, when created with Include: ["qr_png"]
	LocationID    string        `json:"location_id,omitempty"`   // point of sale: the scanned code's location
	QRSessionID   string        `json:"qr_session_id,omitempty"` // point of sale: the scan it was created for
	TerminalID    string        `json:"terminal_id"`             // the point-of-sale terminal that created it, or ""
}

// SessionStatus is the payment session's state, derived from the invoice.
type SessionStatus string

// Session statuses.
const (
	SessionCreated    SessionStatus = "created"
	SessionScanned    SessionStatus = "scanned"
	SessionConfirming SessionStatus = "confirming"
	SessionSucceeded  SessionStatus = "succeeded"
	SessionFailed     SessionStatus = "failed"
	SessionExpired    SessionStatus = "expired"
	SessionCancelled  SessionStatus = "cancelled"
)

// Fulfilment says whether a paid invoice's goods were handed over (the
// spec's FulfilmentObject): Status is not_required, pending or fulfilled.
type Fulfilment struct {
	Status      string     `json:"status"`
	FulfilledAt *time.Time `json:"fulfilled_at"`
}

// Checkout is the payor's side of an invoice as the merchant sees it (the
// spec's CheckoutObject): when instructions were first shown, and whether
// wrong signatures locked it. Lift a lock with UpdateCheckout.
type Checkout struct {
	OpenedAt  *time.Time `json:"opened_at"`  // nil until the payor is shown instructions
	Locked    bool       `json:"locked"`     // a lock is in force
	LockScope string     `json:"lock_scope"` // "none", "client" (some clients refused) or "session" (everyone)
	LockedAt  *time.Time `json:"locked_at"`
}

// Mark records who resolved an invoice by hand, when and why (the spec's
// MarkObject).
type Mark struct {
	Note     string    `json:"note"`
	MarkedBy string    `json:"marked_by"` // the prefix of the API key
	MarkedAt time.Time `json:"marked_at"`
}

// Instruction is what to send where for one method (the spec's
// Instruction).
type Instruction struct {
	Method        string `json:"method"`
	Network       string `json:"network"`
	Asset         string `json:"asset"`
	Address       string `json:"address"`
	Amount        string `json:"amount"`       // exact, in the asset's units
	AmountUnits   string `json:"amount_units"` // the same in base units
	ChainID       int64  `json:"chain_id,omitempty"`
	Token         string `json:"token,omitempty"`
	Confirmations int64  `json:"confirmations"`
	URI           string `json:"uri"` // for qris, the dynamic QRIS payload
	// Fiat rails only. Reference names the invoice: the payor puts it in
	// the transfer's reference or memo so the payment is matched at once.
	Reference     string `json:"reference,omitempty"`
	BankName      string `json:"bank_name,omitempty"`      // bank rails: the receiving bank
	AccountName   string `json:"account_name,omitempty"`   // bank rails: the account holder
	AccountNumber string `json:"account_number,omitempty"` // bank rails: the account to credit
	RoutingNumber string `json:"routing_number,omitempty"` // bank rails: ABA routing number
	QRISPayload   string `json:"qris_payload,omitempty"`   // qris: the dynamic payload to show as a QR code
	UniqueCode    int64  `json:"unique_code,omitempty"`    // qris: rupiah added so the payment names the invoice
	TotalAmount   string `json:"total_amount,omitempty"`
	WalletTip     string `json:"wallet_tip,omitempty"` // qris: the wallet asks for a tip (prompt, fixed, percent)   // qris: what the payor pays (amount + unique code), whole rupiah
}

// SessionHeaders authorise a payor's checkout session (the spec's
// SessionHeaders); give them to the payor's side, never the API key.
type SessionHeaders struct {
	SessionToken string `json:"x-session-token"`
	Signature    string `json:"x-signature"`
}

// Header returns the headers as HTTP headers.
func (h SessionHeaders) Header() http.Header {
	return http.Header{"X-Session-Token": {h.SessionToken}, "X-Signature": {h.Signature}}
}

// InvoiceStatus is what a poller needs (the spec's InvoiceStatus).
type InvoiceStatus struct {
	ID         string    `json:"id"`
	Object     string    `json:"object"`
	Status     Status    `json:"status"`
	Exception  Exception `json:"exception"`
	AmountPaid string    `json:"amount_paid"`
	AmountDue  string    `json:"amount_due"`
	UpdatedAt  time.Time `json:"updated_at"`
	// SessionStatus is the payment session's state (created, scanned,
	// confirming, succeeded, failed, expired, cancelled).
	SessionStatus SessionStatus `json:"session_status"`
}

// InvoiceList is one page of invoices, newest first.
type InvoiceList struct {
	Object  string    `json:"object"`
	Data    []Invoice `json:"data"`
	HasMore bool      `json:"has_more"`
}

// CreateInvoiceParams is the body of create-invoice.
type CreateInvoiceParams struct {
	Amount          string            `json:"amount"`   // decimal string, e.g. "25.00"
	Currency        string            `json:"currency"` // USD, EUR, GBP, SGD, JPY, IDR
	PaymentMethods  []string          `json:"payment_methods,omitempty"`
	MerchantOrderID string            `json:"merchant_order_id,omitempty"`
	Description     string            `json:"description,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	RedirectURL     string            `json:"redirect_url,omitempty"`
	ExpiresIn       int64             `json:"expires_in,omitempty"`      // seconds, 60–604800 (default 900)
	ExpiresAt       *time.Time        `json:"expires_at,omitempty"`      // instead of ExpiresIn
	AllowTip        bool              `json:"allow_tip,omitempty"`       // the payor may add a tip on the checkout
	TipCapPercent   int               `json:"tip_cap_percent,omitempty"` // with AllowTip; default 20
	Fulfilled       *bool             `json:"fulfilled,omitempty"`       // false: fulfilment pending until FulfilInvoice
	Include         []string          `json:"include,omitempty"`         // "qr_png": embed the payment_url's QR code
	// QRSessionID binds the invoice to a waiting QR session, which takes
	// exactly one (CodeQRSessionUsed for a second); implied with the
	// session's order key.
	QRSessionID string `json:"qr_session_id,omitempty"`
}

// ListInvoicesParams filters and pages list-invoices; zero fields are left
// out.
type ListInvoicesParams struct {
	Status          Status
	MerchantOrderID string
	CreatedGTE      time.Time
	CreatedLTE      time.Time
	After           string // the last id seen
	Limit           int    // 1–100, default 20
}

// Payment is a payment of an invoice (the spec's PaymentObject).
type Payment struct {
	ID          string `json:"id"`
	Object      string `json:"object"`
	Mode        Mode   `json:"mode"`
	InvoiceID   string `json:"invoice_id"`
	Method      string `json:"method"`
	Network     string `json:"network"`
	TxID        string `json:"tx_id"`
	Index       int64  `json:"index"`
	Asset       string `json:"asset"`
	Amount      string `json:"amount"`
	AmountUnits string `json:"amount_units"`
	Status      string `json:"status"` // pending, confirmed or reversed
	From        string `json:"from"`
	To          string `json:"to"`
	BlockNumber int64  `json:"block_number"`
	BlockHash   string `json:"block_hash"`
	// ReturnCode and ReturnReason: a rail payment its rail returned or
	// rejected (status reversed): the rail's reason code (ISO 20022 AC04,
	// NACHA R01, the card processor's) and its text.
	ReturnCode   string    `json:"return_code,omitempty"`
	ReturnReason string    `json:"return_reason,omitempty"`
	ObservedAt   time.Time `json:"observed_at"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// SimulatePaymentParams is the body of simulate-payment (test mode).
type SimulatePaymentParams struct {
	Amount string `json:"amount"`
	Method string `json:"method,omitempty"` // default sandbox
	Status string `json:"status,omitempty"` // pending, confirmed (default) or reversed
	TxID   string `json:"tx_id,omitempty"`  // of an earlier simulated payment, to move it on
	// ReturnCode: a rail method with status reversed (a return): the
	// rail's reason code (default AC04, R01 or card_closed).
	ReturnCode string `json:"return_code,omitempty"`
}

// SimulatedPayment is the answer of simulate-payment.
type SimulatedPayment struct {
	Invoice Invoice `json:"invoice"`
	Payment Payment `json:"payment"`
}
