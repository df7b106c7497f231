package invoice

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Report is the reconciliation of one merchant and mode over [From, To):
// every payment recorded in the range with its invoice, the confirmed totals
// per day, asset and network, and the invoices that need a person.
type Report struct {
	Object    string          `json:"object" enum:"reconciliation_report"`
	Mode      Mode            `json:"mode" enum:"test,live"`
	From      time.Time       `json:"from"`
	To        time.Time       `json:"to"`
	RangeNote string          `json:"range_note,omitempty" doc:"Set when the range was not given: what was assumed (today, UTC)."`
	Payments  []ReportPayment `json:"payments" nullable:"false"`
	Totals    []ReportTotal   `json:"totals" nullable:"false"`
	Attention []ReportInvoice `json:"attention" nullable:"false" doc:"Invoices underpaid, overpaid, paid late or paid after cancellation, and paid invoices never fulfilled within the refund delay (to refund), among those created or paid in the range."`
}

// ReportPayment is one payment joined with its invoice.
type ReportPayment struct {
	PaymentID       string        `json:"payment_id"`
	CreatedAt       time.Time     `json:"created_at" doc:"When settle recorded the payment; the report's range applies to it."`
	Method          string        `json:"method" example:"usdc_base"`
	Network         string        `json:"network" example:"base"`
	Asset           string        `json:"asset" example:"USDC"`
	TxID            string        `json:"tx_id"`
	Index           int64         `json:"index"`
	From            string        `json:"from"`
	To              string        `json:"to"`
	Block           int64         `json:"block_number"`
	Amount          string        `json:"amount" example:"25.000001"`
	AmountUnits     string        `json:"amount_units" example:"25000001"`
	Status          PaymentStatus `json:"status" enum:"pending,confirmed,reversed"`
	InvoiceID       string        `json:"invoice_id"`
	MerchantOrderID string        `json:"merchant_order_id"`
	InvoiceStatus   Status        `json:"invoice_status"`
	Exception       Exception     `json:"exception"`
	Currency        Currency      `json:"currency" example:"USD"`
	AmountDue       string        `json:"invoice_amount" example:"25.00" doc:"The invoice's amount."`
	TipAmount       string        `json:"invoice_tip_amount" example:"0.00" doc:"The tip the payor added (paid on top of invoice_amount)."`
	AmountPaid      string        `json:"invoice_amount_paid" example:"25.00"`
}

// ReportTotal sums the confirmed payments of one day (UTC), asset and
// network.
type ReportTotal struct {
	Date        string `json:"date" example:"2026-11-27"`
	Asset       string `json:"asset" example:"USDC"`
	Network     string `json:"network" example:"base"`
	Amount      string `json:"amount" example:"1250.000042" doc:"Sum of the confirmed payments."`
	AmountUnits string `json:"amount_units" example:"1250000042"`
	Payments    int    `json:"payments" doc:"Confirmed payments counted."`
	Pending     int    `json:"pending" doc:"Payments not final yet (not in the sum)."`
	Reversed    int    `json:"reversed" doc:"Payments reversed (not in the sum)."`
}

// ReportInvoice is an invoice that needs attention.
type ReportInvoice struct {
	InvoiceID       string     `json:"invoice_id"`
	MerchantOrderID string     `json:"merchant_order_id"`
	Status          Status     `json:"status"`
	Exception       Exception  `json:"exception" enum:"none,underpaid,overpaid,paid_late"`
	Fulfilment      Fulfilment `json:"fulfilment" enum:"not_required,pending,fulfilled"`
	Reason          string     `json:"reason" example:"paid to a cancelled invoice"`
	Currency        Currency   `json:"currency"`
	Amount          string     `json:"amount"`
	TipAmount       string     `json:"tip_amount"`
	AmountPaid      string     `json:"amount_paid"`
	AmountDue       string     `json:"amount_due"`
	CreatedAt       time.Time  `json:"created_at"`
}

// attentionExceptions are the exceptions a finance team must look at.
var attentionExceptions = []Exception{ExceptionUnderpaid, ExceptionOverpaid, ExceptionPaidLate}

// ParseReportTime reads a report bound as `settle reconcile` and the
// reconciliation endpoint take it: an RFC 3339 time, or a date (2026-12-01)
// meaning midnight UTC at its start.
func ParseReportTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// TodayUTC is the report range of the UTC day of now, [midnight, midnight).
func TodayUTC(now time.Time) (from, to time.Time) {
	from = now.UTC().Truncate(24 * time.Hour)
	return from, from.Add(24 * time.Hour)
}

// Reconcile builds the report of merchantID's mode over [from, to).
func (s *Service) Reconcile(ctx context.Context, merchantID string, mode Mode, from, to time.Time) (Report, error) {
	from, to = from.UTC(), to.UTC()
	r := Report{Object: "reconciliation_report", Mode: mode, From: from, To: to,
		Payments: []ReportPayment{}, Totals: []ReportTotal{}, Attention: []ReportInvoice{}}
	db := s.idb(ctx)
	var payments []Payment
	err := db.NewSelect().Model(&payments).
		Where("merchant_id = ? AND mode = ? AND created_at >= ? AND created_at < ?", merchantID, mode, from, to).
		OrderExpr("created_at, id").Scan(ctx)
	if err != nil {
		return r, fmt.Errorf("reconcile payments: %w", err)
	}
	var invoices []Invoice
	q := db.NewSelect().Model(&invoices).
		Where("merchant_id = ? AND mode = ?", merchantID, mode).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("created_at >= ? AND created_at < ?", from, to).
				WhereOr("id IN (?)", db.NewSelect().Table("payments").Column("invoice_id").
					Where("merchant_id = ? AND mode = ? AND created_at >= ? AND created_at < ?", merchantID, mode, from, to))
		}).OrderExpr("id")
	if err := q.Scan(ctx); err != nil {
		return r, fmt.Errorf("reconcile invoices: %w", err)
	}
	byID := make(map[string]*Invoice, len(invoices))
	for i := range invoices {
		byID[invoices[i].ID] = &invoices[i]
	}
	type key struct{ date, asset, network string }
	totals := map[key]*ReportTotal{}
	sums := map[key]Units{}
	decimals := map[key]int{}
	for _, p := range payments {
		inv := byID[p.InvoiceID]
		if inv == nil {
			return r, fmt.Errorf("reconcile: payment %s has no invoice %s", p.ID, p.InvoiceID)
		}
		r.Payments = append(r.Payments, ReportPayment{
			PaymentID: p.ID, CreatedAt: p.CreatedAt, Method: p.Method, Network: p.Network, Asset: p.Asset,
			TxID: p.TxID, Index: p.Index, From: p.From, To: p.To, Block: p.Block,
			Amount: p.Amount.Format(p.Decimals), AmountUnits: p.Amount.String(), Status: p.Status,
			InvoiceID: inv.ID, MerchantOrderID: inv.MerchantOrderID, InvoiceStatus: inv.Status, Exception: inv.Exception,
			Currency: inv.Currency, AmountDue: inv.Amount.Format(inv.Decimals), TipAmount: inv.TipAmount.Format(inv.Decimals),
			AmountPaid: inv.AmountPaid.Format(inv.Decimals),
		})
		k := key{p.CreatedAt.UTC().Format(time.DateOnly), p.Asset, p.Network}
		t := totals[k]
		if t == nil {
			t = &ReportTotal{Date: k.date, Asset: k.asset, Network: k.network}
			totals[k] = t
		}
		switch p.Status {
		case PaymentConfirmed:
			t.Payments++
			sums[k] = sums[k].Add(p.Amount)
			decimals[k] = p.Decimals
		case PaymentPending:
			t.Pending++
		case PaymentReversed:
			t.Reversed++
		}
	}
	for k, t := range totals {
		t.Amount, t.AmountUnits = sums[k].Format(decimals[k]), sums[k].String()
		r.Totals = append(r.Totals, *t)
	}
	slices.SortFunc(r.Totals, func(a, b ReportTotal) int {
		return cmp.Or(strings.Compare(a.Date, b.Date), strings.Compare(a.Asset, b.Asset), strings.Compare(a.Network, b.Network))
	})
	now, after := s.Now(), s.fulfilmentRefundAfter()
	for _, inv := range invoices {
		reason := ""
		switch {
		case slices.Contains(attentionExceptions, inv.Exception):
			reason = attentionReason(inv)
		case toRefund(inv, now, after):
			reason = fmt.Sprintf("to refund: paid %s ago and never fulfilled (refund after %s)",
				now.Sub(*inv.PaidAt).Truncate(time.Second), after)
		default:
			continue
		}
		r.Attention = append(r.Attention, ReportInvoice{
			InvoiceID: inv.ID, MerchantOrderID: inv.MerchantOrderID, Status: inv.Status, Exception: inv.Exception,
			Fulfilment: inv.fulfilmentObject().Status, TipAmount: inv.TipAmount.Format(inv.Decimals),
			Reason: reason, Currency: inv.Currency, Amount: inv.Amount.Format(inv.Decimals),
			AmountPaid: inv.AmountPaid.Format(inv.Decimals), AmountDue: inv.AmountDue().Format(inv.Decimals), CreatedAt: inv.CreatedAt,
		})
	}
	return r, nil
}

// toRefund reports whether inv was paid at least after ago at now and its
// goods were never handed over (fulfilment still pending).
func toRefund(inv Invoice, now time.Time, after time.Duration) bool {
	return inv.Status == StatusPaid && inv.Fulfilment == FulfilmentPending && inv.PaidAt != nil &&
		!now.Before(inv.PaidAt.Add(after))
}

func attentionReason(inv Invoice) string {
	switch {
	case inv.Status == StatusCancelled:
		return "paid to a cancelled invoice: refund it"
	case inv.Exception == ExceptionUnderpaid:
		return "part of the amount is missing"
	case inv.Exception == ExceptionOverpaid:
		return "more than the amount was paid: refund the difference"
	default:
		return "paid after the invoice expired"
	}
}

// csvHeader is the one header of the report's CSV: every record has these
// fields; the first says which part of the report the record belongs to.
var csvHeader = []string{
	"record", "date", "invoice_id", "merchant_order_id", "invoice_status", "exception", "currency",
	"invoice_amount", "invoice_tip_amount", "invoice_amount_paid", "fulfilment", "payment_id", "method", "network", "asset", "tx_id", "index",
	"from", "to", "block_number", "amount", "amount_units", "payment_status", "created_at", "payments", "note",
}

// WriteCSV writes the report as one RFC 4180 table (CRLF line ends, one
// header): a record "payment" per payment, then "total" per day, asset and
// network, then "attention" per invoice needing a person. Dates and times
// are ISO 8601 in UTC; amounts are plain decimals.
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	rec := func(fields map[string]string) {
		row := make([]string, len(csvHeader))
		for i, h := range csvHeader {
			row[i] = fields[h]
			if h == "merchant_order_id" || h == "note" {
				row[i] = inert(row[i])
			}
		}
		cw.Write(row)
	}
	cw.Write(csvHeader)
	for _, p := range r.Payments {
		rec(map[string]string{
			"record": "payment", "date": p.CreatedAt.Format(time.DateOnly), "invoice_id": p.InvoiceID,
			"merchant_order_id": p.MerchantOrderID, "invoice_status": string(p.InvoiceStatus), "exception": string(p.Exception),
			"currency": string(p.Currency), "invoice_amount": p.AmountDue, "invoice_tip_amount": p.TipAmount,
			"invoice_amount_paid": p.AmountPaid,
			"payment_id":          p.PaymentID, "method": p.Method, "network": p.Network, "asset": p.Asset, "tx_id": p.TxID,
			"index": strconv.FormatInt(p.Index, 10), "from": p.From, "to": p.To, "block_number": strconv.FormatInt(p.Block, 10),
			"amount": p.Amount, "amount_units": p.AmountUnits, "payment_status": string(p.Status),
			"created_at": p.CreatedAt.Format(time.RFC3339Nano),
		})
	}
	for _, t := range r.Totals {
		rec(map[string]string{
			"record": "total", "date": t.Date, "network": t.Network, "asset": t.Asset, "amount": t.Amount,
			"amount_units": t.AmountUnits, "payment_status": "confirmed", "payments": strconv.Itoa(t.Payments),
			"note": fmt.Sprintf("%d pending, %d reversed not counted", t.Pending, t.Reversed),
		})
	}
	for _, a := range r.Attention {
		rec(map[string]string{
			"record": "attention", "date": a.CreatedAt.Format(time.DateOnly), "invoice_id": a.InvoiceID,
			"merchant_order_id": a.MerchantOrderID, "invoice_status": string(a.Status), "exception": string(a.Exception),
			"currency": string(a.Currency), "invoice_amount": a.Amount, "invoice_tip_amount": a.TipAmount,
			"invoice_amount_paid": a.AmountPaid, "fulfilment": string(a.Fulfilment),
			"created_at": a.CreatedAt.Format(time.RFC3339Nano), "note": a.Reason,
		})
	}
	cw.Flush()
	return cw.Error()
}

// inert keeps a spreadsheet from reading merchant-supplied text as a
// formula: text starting with = + - @ or a control character gets a leading
// apostrophe, as OWASP advises for CSV exports.
func inert(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
