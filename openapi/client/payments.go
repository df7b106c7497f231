package client

import (
	"context"
	"iter"
	"net/url"
	"time"
)

// PaymentDetails is a payment as the payments list shows it (the spec's
// Payment): the PaymentObject with its confirmations and explorer link.
type PaymentDetails struct {
	Payment
	Confirmations         int64  `json:"confirmations"` // as this server last saw the network
	ConfirmationsRequired int64  `json:"confirmations_required"`
	ExplorerURL           string `json:"explorer_url,omitempty"`
}

// PaymentList is one page of payments, newest first.
type PaymentList struct {
	Object  string           `json:"object"`
	Data    []PaymentDetails `json:"data"`
	HasMore bool             `json:"has_more"`
}

// ListPaymentsParams filters and pages list-payments; zero fields are left
// out.
type ListPaymentsParams struct {
	InvoiceID  string
	Method     string
	Status     string // pending, confirmed or reversed
	CreatedGTE time.Time
	CreatedLT  time.Time
	After      string
	Limit      int
}

// MarkInvoiceParams is the body of mark-invoice.
type MarkInvoiceParams struct {
	Status Status `json:"status"` // StatusPaid or StatusInvalid
	Note   string `json:"note"`   // why; kept with the invoice
}

// ListPayments returns one page of the payments of the key's merchant and
// mode.
func (c *Client) ListPayments(ctx context.Context, p ListPaymentsParams) (*PaymentList, error) {
	q := url.Values{}
	set(q, "invoice_id", p.InvoiceID)
	set(q, "method", p.Method)
	set(q, "status", p.Status)
	setTime(q, "created_gte", p.CreatedGTE)
	setTime(q, "created_lt", p.CreatedLT)
	setPage(q, p.After, p.Limit)
	var out PaymentList
	_, err := c.do(ctx, &call{op: opListPayments, query: q}, &out)
	return ptr(&out, err)
}

// Payments walks every payment p selects, page after page, newest first.
func (c *Client) Payments(ctx context.Context, p ListPaymentsParams) iter.Seq2[PaymentDetails, error] {
	return pages(func(after string) ([]PaymentDetails, bool, error) {
		p.After = after
		l, err := c.ListPayments(ctx, p)
		if err != nil {
			return nil, false, err
		}
		return l.Data, l.HasMore, nil
	}, p.After, func(pd PaymentDetails) string { return pd.ID })
}

// ListInvoicePayments returns an invoice's payments.
func (c *Client) ListInvoicePayments(ctx context.Context, invoiceID string) (*PaymentList, error) {
	var out PaymentList
	_, err := c.do(ctx, &call{op: opListInvoicePayments, id: invoiceID}, &out)
	return ptr(&out, err)
}

// MarkInvoice resolves an invoice by hand: paid or invalid, with exception
// marked and the note kept. Later payments are still recorded but no
// longer move it.
func (c *Client) MarkInvoice(ctx context.Context, id string, p MarkInvoiceParams, opts ...RequestOption) (*Invoice, error) {
	var out Invoice
	_, err := c.do(ctx, &call{op: opMarkInvoice, id: id, body: p}, &out, opts...)
	return ptr(&out, err)
}

// Report is the reconciliation report of a time range (the spec's
// Report).
type Report struct {
	Object    string          `json:"object"`
	Mode      Mode            `json:"mode"`
	From      time.Time       `json:"from"`
	To        time.Time       `json:"to"`
	RangeNote string          `json:"range_note,omitempty"` // what was assumed when no range was given
	Payments  []ReportPayment `json:"payments"`
	Totals    []ReportTotal   `json:"totals"`
	Attention []ReportInvoice `json:"attention"` // invoices that need a person
}

// ReportPayment is a payment recorded in the range, with its invoice.
type ReportPayment struct {
	PaymentID         string    `json:"payment_id"`
	CreatedAt         time.Time `json:"created_at"`
	Method            string    `json:"method"`
	Network           string    `json:"network"`
	Asset             string    `json:"asset"`
	TxID              string    `json:"tx_id"`
	Index             int64     `json:"index"`
	From              string    `json:"from"`
	To                string    `json:"to"`
	BlockNumber       int64     `json:"block_number"`
	Amount            string    `json:"amount"`
	AmountUnits       string    `json:"amount_units"`
	Status            string    `json:"status"`
	InvoiceID         string    `json:"invoice_id"`
	MerchantOrderID   string    `json:"merchant_order_id"`
	InvoiceStatus     string    `json:"invoice_status"`
	Exception         string    `json:"exception"`
	Currency          string    `json:"currency"`
	InvoiceAmount     string    `json:"invoice_amount"`
	InvoiceTipAmount  string    `json:"invoice_tip_amount"`
	InvoiceAmountPaid string    `json:"invoice_amount_paid"`
}

// ReportTotal is the confirmed sum of a day (UTC), asset and network.
type ReportTotal struct {
	Date        string `json:"date"`
	Asset       string `json:"asset"`
	Network     string `json:"network"`
	Amount      string `json:"amount"`
	AmountUnits string `json:"amount_units"`
	Payments    int64  `json:"payments"`
	Pending     int64  `json:"pending"`
	Reversed    int64  `json:"reversed"`
}

// ReportInvoice is an invoice that needs attention.
type ReportInvoice struct {
	InvoiceID       string    `json:"invoice_id"`
	MerchantOrderID string    `json:"merchant_order_id"`
	Status          string    `json:"status"`
	Exception       string    `json:"exception"`
	Fulfilment      string    `json:"fulfilment"` // pending with a "to refund" reason: paid, never fulfilled
	Reason          string    `json:"reason"`
	Currency        string    `json:"currency"`
	Amount          string    `json:"amount"`
	TipAmount       string    `json:"tip_amount"`
	AmountPaid      string    `json:"amount_paid"`
	AmountDue       string    `json:"amount_due"`
	CreatedAt       time.Time `json:"created_at"`
}

// ReconciliationReport returns the report of [from, to) (at most 366
// days); zero from and to mean today (UTC), which RangeNote then says.
func (c *Client) ReconciliationReport(ctx context.Context, from, to time.Time) (*Report, error) {
	var out Report
	_, err := c.do(ctx, reportCall(from, to, "json"), &out)
	return ptr(&out, err)
}

// ReconciliationReportCSV returns the same report as one RFC 4180 table.
func (c *Client) ReconciliationReportCSV(ctx context.Context, from, to time.Time) ([]byte, error) {
	r := reportCall(from, to, "csv")
	r.accept = "text/csv, application/problem+json"
	var out []byte
	_, err := c.do(ctx, r, &out)
	return out, err
}

func reportCall(from, to time.Time, format string) *call {
	q := url.Values{"format": {format}}
	setTime(q, "from", from)
	setTime(q, "to", to)
	return &call{op: opReport, query: q}
}
