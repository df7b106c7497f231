package invoice

import "time"

// Invoice is a request for an amount of a currency, as stored.
type Invoice struct {
	ID              string            `bun:"id,pk"`
	MerchantID      string            `bun:"merchant_id"`
	Mode            Mode              `bun:"mode"`
	Status          Status            `bun:"status"`
	Exception       Exception         `bun:"exception"`
	Currency        Currency          `bun:"currency"`
	Decimals        int               `bun:"decimals"`
	Amount          Units             `bun:"amount,type:text"`
	AmountPaid      Units             `bun:"amount_paid,type:text"`
	PaymentMethods  []string          `bun:"payment_methods,type:text"`
	MerchantOrderID string            `bun:"merchant_order_id"`
	Description     string            `bun:"description"`
	Metadata        map[string]string `bun:"metadata,type:text"`
	RedirectURL     string            `bun:"redirect_url"`
	SessionToken    string            `bun:"session_token"`
	Instructions    []Instruction     `bun:"instructions,type:text"`
	ExpiresAt       time.Time         `bun:"expires_at"`
	CreatedAt       time.Time         `bun:"created_at"`
	UpdatedAt       time.Time         `bun:"updated_at"`
	PaidAt          *time.Time        `bun:"paid_at"`
	MarkNote        string            `bun:"mark_note"`
	MarkedBy        string            `bun:"marked_by"`
	MarkedAt        *time.Time        `bun:"marked_at"`
	// The checkout's state (see checkout.go); the payor package writes it.
	CheckoutOpenedAt *time.Time   `bun:"checkout_opened_at"`
	CheckoutLockedAt *time.Time   `bun:"checkout_locked_at"`
	CheckoutLock     CheckoutLock `bun:"checkout_lock"`
	// Point of sale (see pos.go): the payor's first open of the checkout,
	// payments returned or rejected, the tip and the fulfilment.
	ScannedAt      *time.Time `bun:"scanned_at"`
	FailedPayments int        `bun:"failed_payments"` // payments reversed (returned, rejected, reorged out); [Next] keeps it
	AllowTip       bool       `bun:"allow_tip"`
	TipCapPercent  int        `bun:"tip_cap_percent"`
	TipAmount      Units      `bun:"tip_amount,type:text"`
	Fulfilment     Fulfilment `bun:"fulfilment"`
	FulfilledAt    *time.Time `bun:"fulfilled_at"`
	// Point of sale: the location and the QR session (a scan of a static
	// code) the invoice was created for, if any.
	LocationID  string `bun:"location_id,nullzero"`
	QRSessionID string `bun:"qr_session_id,nullzero"`
	// TerminalID is the point-of-sale terminal that created it, if any.
	TerminalID string `bun:"terminal_id,nullzero"`
}

// Total is what the payor owes in all: the amount and the tip.
func (inv *Invoice) Total() Units { return inv.Amount.Add(inv.TipAmount) }

// AmountDue is what is still to be paid: the amount and the tip less
// confirmed payments, never below zero.
func (inv *Invoice) AmountDue() Units {
	due := inv.Total().Sub(inv.AmountPaid)
	if due.Sign() < 0 {
		return Units{}
	}
	return due
}

// Payment is one transfer toward an invoice, identified on its network by
// transaction id and index (log index, instruction index, rail line).
type Payment struct {
	ID         string        `bun:"id,pk"`
	InvoiceID  string        `bun:"invoice_id"`
	MerchantID string        `bun:"merchant_id"`
	Mode       Mode          `bun:"mode"`
	Method     string        `bun:"method"`
	Network    string        `bun:"network"`
	TxID       string        `bun:"tx_id"`
	Index      int64         `bun:"log_index"`
	CreditID   string        `bun:"credit_id"` // rails: the rail credit it records; "" for chain transfers
	Asset      string        `bun:"asset"`
	Decimals   int           `bun:"decimals"`
	Amount     Units         `bun:"amount,type:text"`
	Status     PaymentStatus `bun:"status"`
	From       string        `bun:"from_address"`
	To         string        `bun:"to_address"`
	Block      int64         `bun:"block_number"`
	BlockHash  string        `bun:"block_hash"`
	// ReturnCode and ReturnReason are the rail's reason for returning or
	// rejecting a reversed rail payment (ISO 20022 AC04 "Closed account
	// number", NACHA R01 "Insufficient funds", a card processor's word).
	ReturnCode   string    `bun:"return_code"`
	ReturnReason string    `bun:"return_reason"`
	ObservedAt   time.Time `bun:"observed_at"`
	CreatedAt    time.Time `bun:"created_at"`
	UpdatedAt    time.Time `bun:"updated_at"`
}

// Observation is what a watcher, a rail or the sandbox saw of one payment.
// Observations are delivered at least once and applied exactly once: the key
// is (Network, TxID, Index, CreditID).
type Observation struct {
	InvoiceID string
	Method    string
	Network   string
	TxID      string
	Index     int64
	// CreditID names the rail credit (chains/fiat) a rail payment records:
	// a rail's own ids are unique only per bank account, so the credit, not
	// the id, is what is applied once. Chain transfers leave it empty.
	CreditID  string
	Asset     string
	Decimals  int
	Amount    Units // in the asset's base units
	Status    PaymentStatus
	From, To  string
	Block     int64  // block or slot that holds it; 0 when the network has none
	BlockHash string // hash of that block, to tell a reorg
	// ReturnCode and ReturnReason say why a rail returned or rejected the
	// payment; kept with a reversed status only.
	ReturnCode, ReturnReason string
	ObservedAt               time.Time
}

// Instruction tells the payor how to pay an invoice with one method: what to
// send, where. The chains package writes them when the invoice is created;
// this package only stores and shows them.
type Instruction struct {
	Method        string `json:"method" example:"usdc_base"`
	Network       string `json:"network" example:"base"`
	Asset         string `json:"asset" example:"USDC"`
	Token         string `json:"token,omitempty" example:"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913" doc:"Token contract or mint."`
	ChainID       int64  `json:"chain_id,omitempty" example:"8453"`
	Address       string `json:"address" example:"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" doc:"Send to this address."`
	Amount        string `json:"amount" example:"25.000137" doc:"Exact amount to send, in the asset's units; it may carry a few base units more than the invoice so that the payment is told apart."`
	AmountUnits   string `json:"amount_units" example:"25000137" doc:"The same amount in the asset's base units."`
	Confirmations int    `json:"confirmations" example:"10" doc:"Blocks after which the payment counts as confirmed."`
	URI           string `json:"uri" example:"ethereum:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913@8453/transfer?address=0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed&uint256=25000137" doc:"Payment request URI for wallets (EIP-681 on EVM networks, Solana Pay on Solana, the dynamic QRIS payload for qris)."`
	// Fiat rails only (fednow, rtp, ach_same_day, push_to_card, qris).
	Reference     string `json:"reference,omitempty" example:"ST-7K3Q9M" doc:"Fiat rails: the invoice's reference; put it in the transfer's reference or memo so the payment is matched at once."`
	BankName      string `json:"bank_name,omitempty" example:"First Example Bank" doc:"Bank rails: the receiving bank."`
	AccountName   string `json:"account_name,omitempty" example:"Test Shop LLC" doc:"Bank rails: the account holder to pay."`
	AccountNumber string `json:"account_number,omitempty" example:"000123456789" doc:"Bank rails: the account to credit."`
	RoutingNumber string `json:"routing_number,omitempty" example:"021000021" doc:"Bank rails: the receiving bank's ABA routing number."`
	QRISPayload   string `json:"qris_payload,omitempty" example:"00020101021226…6304ABCD" doc:"qris: the dynamic EMVCo payload to show as a QR code (also in uri)."`
	UniqueCode    int64  `json:"unique_code,omitempty" example:"42" doc:"qris: rupiah added to the invoice amount so the payment names this invoice."`
	TotalAmount   string `json:"total_amount,omitempty" example:"25042" doc:"qris: what the payor pays, the amount plus unique_code, in whole rupiah."`
	WalletTip     string `json:"wallet_tip,omitempty" enum:"prompt,fixed,percent" example:"prompt" doc:"qris, on an invoice with allow_tip whose merchant QRIS has a tip indicator (ID 55): the payor's wallet asks for a tip (prompt) or adds a fixed or percentage fee; a payment above total_amount by at most the cap is recorded as the tip."`
}

// SessionHeaders authorise a payor's embedded checkout for one invoice.
type SessionHeaders struct {
	SessionToken string `json:"x-session-token" example:"3q2x8m1c4v7b9n0k5j6h2g4f8d1s3a7p"`
	Signature    string `json:"x-signature" example:"d6f1c0b4e2a9..."`
}

// Checkout turns an invoice's session token into the payor's handles. The
// payor package implements it; the invoice package only needs the result.
type Checkout interface {
	Links(sessionToken string) (paymentURL string, headers SessionHeaders)
}

// InvoiceObject is the public form of an invoice, in the API and in events.
type InvoiceObject struct {
	ID                    string            `json:"id" example:"inv_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object                string            `json:"object" enum:"invoice"`
	Mode                  Mode              `json:"mode" enum:"test,live"`
	Status                Status            `json:"status" enum:"open,processing,paid,expired,cancelled,invalid"`
	Exception             Exception         `json:"exception" enum:"none,underpaid,overpaid,paid_late,marked"`
	Amount                string            `json:"amount" example:"25.00" doc:"Decimal string in the currency's units."`
	Currency              Currency          `json:"currency" example:"USD"`
	AmountPaid            string            `json:"amount_paid" example:"0.00"`
	AmountDue             string            `json:"amount_due" example:"25.00" doc:"amount + tip_amount − amount_paid, never below zero."`
	TipAmount             string            `json:"tip_amount" example:"0.00" doc:"The tip the payor chose on the checkout (allow_tip); 0 without one. Part of what is due, stated apart from amount."`
	AllowTip              bool              `json:"allow_tip" doc:"Whether the payor may add a tip before the instructions are shown."`
	TipCapPercent         int               `json:"tip_cap_percent" example:"20" doc:"The most a tip may be, in percent of amount (0 when tips are not allowed)."`
	PaymentMethods        []string          `json:"payment_methods" nullable:"false" example:"[\"sandbox\",\"usdc_base_sepolia\"]"`
	MerchantOrderID       string            `json:"merchant_order_id" example:"order-1042"`
	Description           string            `json:"description" example:"2 × espresso"`
	Metadata              map[string]string `json:"metadata"`
	RedirectURL           string            `json:"redirect_url" example:"https://shop.example/thanks"`
	ExpiresAt             time.Time         `json:"expires_at"`
	CreatedAt             time.Time         `json:"created_at"`
	UpdatedAt             time.Time         `json:"updated_at"`
	PaidAt                *time.Time        `json:"paid_at"`
	PaymentURL            string            `json:"payment_url" example:"http://localhost:8080/pay/3q2x8m1c?sig=d6f1c0b4"`
	PaymentSessionHeaders SessionHeaders    `json:"payment_session_headers"`
	PaymentInstructions   []Instruction     `json:"payment_instructions" nullable:"false" doc:"What to send where, one entry per method that needs one (the sandbox needs none)."`
	Mark                  *MarkObject       `json:"mark" doc:"Set when the invoice was resolved by hand (exception marked)."`
	Checkout              CheckoutObject    `json:"checkout" doc:"The payor's side: when instructions were first shown, and whether wrong signatures locked the checkout."`
	ScannedAt             *time.Time        `json:"scanned_at" doc:"When the payor first opened the checkout (page, session or its QR code; checkout.scanned); null before."`
	SessionStatus         SessionStatus     `json:"session_status" enum:"created,scanned,confirming,succeeded,failed,expired,cancelled" doc:"The payment session's state, derived from status, exception, scanned_at and the payments (see the README's table)."`
	Fulfilment            FulfilmentObject  `json:"fulfilment" doc:"Whether the goods are still to be handed over (created with fulfilled: false) and when they were."`
	QRPNG                 string            `json:"qr_png,omitempty" doc:"Only in the response of create-invoice with include: [\"qr_png\"]: a PNG of payment_url (320 px), base64-encoded, for a terminal screen or a receipt."`
	LocationID            string            `json:"location_id,omitempty" example:"loc_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"The location whose QR code was scanned, if the invoice was created for a QR session."`
	QRSessionID           string            `json:"qr_session_id,omitempty" example:"qrs_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"The QR session (one scan of a static code) the invoice was created for."`
	TerminalID            string            `json:"terminal_id" example:"trm_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"The point-of-sale terminal that created the invoice; empty when none did."`
}

// MarkObject tells who resolved an invoice by hand, when and why.
type MarkObject struct {
	Note     string    `json:"note" example:"Paid by bank transfer, see statement 2026-11-03"`
	MarkedBy string    `json:"marked_by" example:"sk_test_a1b2c3d4" doc:"Prefix of the API key that marked it."`
	MarkedAt time.Time `json:"marked_at"`
}

// Object returns the public form of inv, with checkout handles from c.
func (inv *Invoice) Object(c Checkout) InvoiceObject {
	metadata := inv.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	methods := inv.PaymentMethods
	if methods == nil {
		methods = []string{}
	}
	instructions := inv.Instructions
	if instructions == nil {
		instructions = []Instruction{}
	}
	url, headers := c.Links(inv.SessionToken)
	var mark *MarkObject
	if inv.MarkedAt != nil {
		mark = &MarkObject{Note: inv.MarkNote, MarkedBy: inv.MarkedBy, MarkedAt: *inv.MarkedAt}
	}
	return InvoiceObject{
		ID: inv.ID, Object: "invoice", Mode: inv.Mode, Status: inv.Status, Exception: inv.Exception,
		Amount: inv.Amount.Format(inv.Decimals), Currency: inv.Currency,
		AmountPaid: inv.AmountPaid.Format(inv.Decimals), AmountDue: inv.AmountDue().Format(inv.Decimals),
		PaymentMethods: methods, MerchantOrderID: inv.MerchantOrderID, Description: inv.Description,
		Metadata: metadata, RedirectURL: inv.RedirectURL,
		ExpiresAt: inv.ExpiresAt, CreatedAt: inv.CreatedAt, UpdatedAt: inv.UpdatedAt, PaidAt: inv.PaidAt,
		PaymentURL: url, PaymentSessionHeaders: headers, PaymentInstructions: instructions, Mark: mark,
		Checkout:  inv.checkoutObject(),
		TipAmount: inv.TipAmount.Format(inv.Decimals), AllowTip: inv.AllowTip, TipCapPercent: inv.TipCapPercent,
		ScannedAt: inv.ScannedAt, SessionStatus: inv.SessionStatus(), Fulfilment: inv.fulfilmentObject(),
		LocationID: inv.LocationID, QRSessionID: inv.QRSessionID, TerminalID: inv.TerminalID,
	}
}

// PaymentObject is the public form of a payment, in the API and in events.
type PaymentObject struct {
	ID           string        `json:"id" example:"pay_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object       string        `json:"object" enum:"payment"`
	Mode         Mode          `json:"mode" enum:"test,live"`
	InvoiceID    string        `json:"invoice_id"`
	Method       string        `json:"method" example:"usdc_base"`
	Network      string        `json:"network" example:"base"`
	TxID         string        `json:"tx_id"`
	Index        int64         `json:"index"`
	Asset        string        `json:"asset" example:"USDC"`
	Amount       string        `json:"amount" example:"25.000000" doc:"Decimal string in the asset's units."`
	AmountUnits  string        `json:"amount_units" example:"25000000" doc:"Integer base units of the asset."`
	Status       PaymentStatus `json:"status" enum:"pending,confirmed,reversed" doc:"reversed: left the canonical chain, or returned or rejected by its rail (the payment_failed of other processors)."`
	From         string        `json:"from"`
	To           string        `json:"to"`
	Block        int64         `json:"block_number" doc:"Block (or slot) that holds the transfer; 0 where the network has none."`
	BlockHash    string        `json:"block_hash"`
	ReturnCode   string        `json:"return_code,omitempty" example:"AC04" doc:"A payment its rail returned or rejected (status reversed): the rail's reason code: ISO 20022 (FedNow, RTP: AC04, AM04, FOCR, MS03…), NACHA (ach_same_day: R01…R85), or the card processor's (push_to_card)."`
	ReturnReason string        `json:"return_reason,omitempty" example:"Closed account number" doc:"The return reason's text: the rail's own words when it sent some, else the code's meaning."`
	ObservedAt   time.Time     `json:"observed_at"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// Object returns the public form of p.
func (p *Payment) Object() PaymentObject {
	return PaymentObject{
		ID: p.ID, Object: "payment", Mode: p.Mode, InvoiceID: p.InvoiceID, Method: p.Method,
		Network: p.Network, TxID: p.TxID, Index: p.Index, Asset: p.Asset,
		Amount: p.Amount.Format(p.Decimals), AmountUnits: p.Amount.String(), Status: p.Status,
		From: p.From, To: p.To, Block: p.Block, BlockHash: p.BlockHash, ReturnCode: p.ReturnCode, ReturnReason: p.ReturnReason, ObservedAt: p.ObservedAt, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

// Event types written by this package.
const (
	EventInvoiceCreated        = "invoice.created"
	EventInvoiceUpdated        = "invoice.updated"
	EventInvoicePaymentUpdated = "invoice_payment.updated"
)

// Change is one thing that happened to an invoice, returned by [Next] and
// written to the outbox as one event.
type Change struct {
	Type           string
	PreviousStatus Status   // invoice.updated only
	Payment        *Payment // invoice_payment.updated only
}

// Event is a stored event: one row of the outbox, in sequence order.
type Event struct {
	ID         string    `bun:"id,pk"`
	Sequence   int64     `bun:"sequence,nullzero"` // 0 until the events sequencer assigns it
	MerchantID string    `bun:"merchant_id"`
	Mode       Mode      `bun:"mode"`
	Type       string    `bun:"type"`
	InvoiceID  string    `bun:"invoice_id,nullzero"`
	CreatedAt  time.Time `bun:"created_at"`
	Data       string    `bun:"data"` // JSON: {"object":{…}, …}
}
