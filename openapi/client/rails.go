package client

import (
	"context"
	"net/url"
	"time"
)

// Rails: the fiat rails a merchant receives on through a rail account.
// The invoice method of each is the rail's id, except ACH, whose method is
// "ach_same_day".
const (
	RailFedNow     = "fednow"
	RailRTP        = "rtp"
	RailACH        = "ach"
	RailPushToCard = "push_to_card"
	RailQRIS       = "qris"
)

// RailAccount is where invoices of a mode are paid on one fiat rail (the
// spec's RailAccountObject): a US bank account for fednow, rtp and ach, a
// static QRIS payload for qris, a processor id for push_to_card.
type RailAccount struct {
	ID            string `json:"id"`
	Object        string `json:"object"`
	Mode          Mode   `json:"mode"`
	Rail          string `json:"rail"`
	BankName      string `json:"bank_name,omitempty"`
	AccountName   string `json:"account_name,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
	RoutingNumber string `json:"routing_number,omitempty"`
	QRISPayload   string `json:"qris_payload,omitempty"`
	ProcessorID   string `json:"processor_id,omitempty"`
	// CallbackSecret authenticates the rail's notifications for this
	// account. It is set only in the answer of CreateRailAccount: store it
	// in the bank's, processor's or forwarder's settings then.
	CallbackSecret string    `json:"callback_secret,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// RailAccountList lists the key's active rail accounts.
type RailAccountList struct {
	Object string        `json:"object"`
	Data   []RailAccount `json:"data"`
}

// CreateRailAccountParams is the body of create-rail-account: Rail and
// its receiving details. fednow, rtp and ach take BankName, AccountName,
// AccountNumber (4 to 17 digits) and RoutingNumber (nine-digit ABA); qris
// takes QRISPayload (the static payload) and optionally AccountName;
// push_to_card takes ProcessorID and optionally AccountName.
type CreateRailAccountParams struct {
	Rail          string `json:"rail"` // RailFedNow, RailRTP, RailACH, RailPushToCard or RailQRIS
	BankName      string `json:"bank_name,omitempty"`
	AccountName   string `json:"account_name,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
	RoutingNumber string `json:"routing_number,omitempty"`
	QRISPayload   string `json:"qris_payload,omitempty"`
	ProcessorID   string `json:"processor_id,omitempty"`
}

// DeletedRailAccount is the answer of delete-rail-account.
type DeletedRailAccount struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// UnmatchedRailCredit is a credit a rail reported that named no invoice,
// kept to be reconciled or refunded by hand (the spec's
// UnmatchedCreditObject).
type UnmatchedRailCredit struct {
	ID            string    `json:"id"`
	Object        string    `json:"object"`
	Mode          Mode      `json:"mode"`
	RailAccountID string    `json:"rail_account_id"`
	Rail          string    `json:"rail"`
	TxID          string    `json:"tx_id"` // the rail's id of the credit
	Currency      string    `json:"currency"`
	Amount        string    `json:"amount"` // decimal as the rail reported it
	Sender        string    `json:"sender"`
	Reference     string    `json:"reference"` // the remittance texts as received
	Detail        string    `json:"detail"`    // why it matched nothing
	ObservedAt    time.Time `json:"observed_at"`
	CreatedAt     time.Time `json:"created_at"`
}

// UnmatchedRailCreditList is one page of unmatched rail credits, newest
// first.
type UnmatchedRailCreditList struct {
	Object  string                `json:"object"`
	Data    []UnmatchedRailCredit `json:"data"`
	HasMore bool                  `json:"has_more"`
}

// CreateRailAccount adds where the key's mode is paid on a rail; there is
// one active account per rail and mode (CodeRailAccountExists otherwise).
// The answer is the only one that carries the account's CallbackSecret.
func (c *Client) CreateRailAccount(ctx context.Context, p CreateRailAccountParams, opts ...RequestOption) (*RailAccount, error) {
	var out RailAccount
	_, err := c.do(ctx, &call{op: opCreateRailAccount, body: p}, &out, opts...)
	return ptr(&out, err)
}

// ListRailAccounts lists the key's active rail accounts (without their
// secrets).
func (c *Client) ListRailAccounts(ctx context.Context) (*RailAccountList, error) {
	var out RailAccountList
	_, err := c.do(ctx, &call{op: opListRailAccounts}, &out)
	return ptr(&out, err)
}

// GetRailAccount retrieves a rail account (without its secret).
func (c *Client) GetRailAccount(ctx context.Context, id string) (*RailAccount, error) {
	var out RailAccount
	_, err := c.do(ctx, &call{op: opGetRailAccount, id: id}, &out)
	return ptr(&out, err)
}

// DeleteRailAccount stops new invoices from offering the rail and revokes
// the account's callback secret: notifications for it are refused.
func (c *Client) DeleteRailAccount(ctx context.Context, id string) (*DeletedRailAccount, error) {
	var out DeletedRailAccount
	_, err := c.do(ctx, &call{op: opDeleteRailAccount, id: id}, &out)
	return ptr(&out, err)
}

// ListUnmatchedRailCredits returns one page of the rail credits that named
// no invoice, newest first, after the id after (the last of the previous
// page) when set.
func (c *Client) ListUnmatchedRailCredits(ctx context.Context, after string, limit int) (*UnmatchedRailCreditList, error) {
	q := url.Values{}
	setPage(q, after, limit)
	var out UnmatchedRailCreditList
	_, err := c.do(ctx, &call{op: opListUnmatchedRail, query: q}, &out)
	return ptr(&out, err)
}

// RequestForPayment returns the ISO 20022 pain.013 (creditor payment
// activation request) for an open invoice's amount due over rail
// (RailFedNow or RailRTP), as XML, for your bank to send to the payor's.
// A rail the invoice is not payable by is CodeInvalidRail; an invoice no
// longer open is CodeInvoiceNotPayable.
func (c *Client) RequestForPayment(ctx context.Context, invoiceID, rail string) ([]byte, error) {
	var out []byte
	_, err := c.do(ctx, &call{op: opRequestForPayment, id: invoiceID, query: url.Values{"rail": {rail}},
		accept: "application/xml, application/problem+json"}, &out)
	if err != nil {
		return nil, err
	}
	return out, nil
}
