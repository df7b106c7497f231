package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/invoice"
)

// Payment is a payment as the merchant's finance team sees it: the
// recorded transfer, with its confirmations so far and an explorer link.
type Payment struct {
	invoice.PaymentObject
	Confirmations         int64  `json:"confirmations" doc:"Blocks on top of the payment's, counting its own, as this instance last saw the network; at least confirmations_required once confirmed, 0 while unknown."`
	ConfirmationsRequired int    `json:"confirmations_required" example:"10"`
	ExplorerURL           string `json:"explorer_url,omitempty" example:"https://basescan.org/tx/0x4f…"`
}

// PaymentList is one page of payments, newest first.
type PaymentList struct {
	Object  string    `json:"object" enum:"list"`
	Data    []Payment `json:"data" nullable:"false"`
	HasMore bool      `json:"has_more" doc:"Whether another page follows; fetch it with after = the last id of data."`
}

type listPaymentsInput struct {
	InvoiceID  string    `query:"invoice_id" maxLength:"64" doc:"Only this invoice's payments."`
	Method     string    `query:"method" maxLength:"64" example:"usdc_base" doc:"Only payments by this method."`
	Status     string    `query:"status" enum:"pending,confirmed,reversed" doc:"Only payments in this status."`
	CreatedGTE time.Time `query:"created_gte" doc:"Only payments recorded at or after this RFC 3339 time."`
	CreatedLT  time.Time `query:"created_lt" doc:"Only payments recorded before this RFC 3339 time."`
	After      string    `query:"after" maxLength:"64" doc:"Cursor: the last id of the previous page."`
	Limit      int       `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
}

type invoicePaymentsInput struct {
	InvoiceIDParam
}

type markInput struct {
	IdempotencyHeader
	InvoiceIDParam
	Body struct {
		Status string `json:"status" enum:"paid,invalid" example:"paid" doc:"paid: count it as paid whatever the payments say; invalid: not to be fulfilled."`
		Note   string `json:"note" minLength:"1" maxLength:"1000" example:"Paid by bank transfer, statement 2026-11-03" doc:"Why; kept with the invoice and who marked it."`
	}
}

type reportInput struct {
	From   string `query:"from" maxLength:"40" example:"2026-11-01" doc:"Start of the range, inclusive: an RFC 3339 time, or a date (midnight UTC). With to; neither means today (UTC)."`
	To     string `query:"to" maxLength:"40" example:"2026-12-01" doc:"End of the range, exclusive: an RFC 3339 time, or a date (midnight UTC, so to=2026-12-01 ends with November 30); at most 366 days after from."`
	Format string `query:"format" enum:"json,csv" default:"json"`
}

type reportOutput struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

func (s *server) registerPayments(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-payments", Method: http.MethodGet, Path: "/api/v1/payments",
		Summary: "List payments", Tags: []string{"Payments"}, Errors: errsRead,
		Description: "Every payment recorded for the key's merchant and mode, newest first, with network, asset, transaction, addresses, amount in decimal and base units, block, confirmations, status and an explorer link.",
	}, s.listPayments)
	huma.Register(api, huma.Operation{
		OperationID: "list-invoice-payments", Method: http.MethodGet, Path: "/api/v1/invoices/{id}/payments",
		Summary: "List an invoice's payments", Tags: []string{"Payments"}, Errors: errsRead,
	}, s.listInvoicePayments)
	huma.Register(api, huma.Operation{
		OperationID: "mark-invoice", Method: http.MethodPost, Path: "/api/v1/invoices/{id}/mark",
		Summary: "Resolve an invoice by hand", Tags: []string{"Invoices"}, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "Sets the status to paid or invalid with exception marked, keeps the note and the prefix of the key that did it, and emits invoice.updated. Later payments are still recorded but no longer move the invoice.",
	}, s.markInvoice)
	reportSchema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[invoice.Report](), true, "")
	huma.Register(api, huma.Operation{
		OperationID: "reconciliation-report", Method: http.MethodGet, Path: "/api/v1/reports/reconciliation",
		Summary: "Reconciliation report", Tags: []string{"Reports"}, Errors: errsRead,
		Description: "Every payment recorded in [from, to) joined with its invoice, the confirmed totals per day (UTC), asset and network, and the invoices needing attention (underpaid, overpaid, paid late, paid to a cancelled invoice). format=csv gives one RFC 4180 table (header once, CRLF, ISO 8601 UTC times, plain decimal amounts) whose first column says which part a record belongs to. Keys of scope read may fetch it.",
		Responses: map[string]*huma.Response{"200": {Description: "The report", Content: map[string]*huma.MediaType{
			"application/json": {Schema: reportSchema}, "text/csv": {Schema: &huma.Schema{Type: "string"}},
		}}},
	}, s.reconciliationReport)
}

func (s *server) paymentView(inv invoice.Invoice, p invoice.Payment) Payment {
	var head func(string) (int64, bool)
	if s.monitor != nil {
		head = s.monitor.Head
	}
	pr := s.ledger.Catalogue().Progress(inv, p, head)
	return Payment{PaymentObject: p.Object(), Confirmations: pr.Confirmations, ConfirmationsRequired: pr.Required, ExplorerURL: pr.ExplorerURL}
}

func (s *server) listPayments(ctx context.Context, in *listPaymentsInput) (*struct{ Body PaymentList }, error) {
	p := principal(ctx)
	lp := invoice.PaymentListParams{
		MerchantID: p.MerchantID, Mode: p.Mode, InvoiceID: in.InvoiceID, Method: in.Method,
		Status: invoice.PaymentStatus(in.Status), After: in.After, Limit: in.Limit,
	}
	if !in.CreatedGTE.IsZero() {
		lp.CreatedGTE = &in.CreatedGTE
	}
	if !in.CreatedLT.IsZero() {
		lp.CreatedLT = &in.CreatedLT
	}
	list, more, err := s.invoices.ListPayments(ctx, lp)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := PaymentList{Object: "list", Data: make([]Payment, len(list)), HasMore: more}
	ids := make([]string, len(list))
	for i, pay := range list {
		ids[i] = pay.InvoiceID
	}
	invoices, err := s.invoices.GetMany(ctx, p.MerchantID, p.Mode, ids)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	for i, pay := range list {
		out.Data[i] = s.paymentView(invoices[pay.InvoiceID], pay)
	}
	return &struct{ Body PaymentList }{out}, nil
}

func (s *server) listInvoicePayments(ctx context.Context, in *invoicePaymentsInput) (*struct{ Body PaymentList }, error) {
	p := principal(ctx)
	inv, err := s.invoices.Get(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	list, err := s.invoices.Payments(ctx, inv.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := PaymentList{Object: "list", Data: make([]Payment, len(list))}
	for i, pay := range list {
		out.Data[i] = s.paymentView(inv, pay)
	}
	return &struct{ Body PaymentList }{out}, nil
}

func (s *server) markInvoice(ctx context.Context, in *markInput) (*invoiceOutput, error) {
	p := principal(ctx)
	inv, err := s.invoices.Mark(ctx, p.MerchantID, p.Mode, in.ID, invoice.Mark{
		Status: invoice.Status(in.Body.Status), Note: in.Body.Note, By: p.KeyPrefix,
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &invoiceOutput{Body: inv.Object(s.invoices.Checkout())}, nil
}

// maxReportRange bounds one report, so that a request cannot ask the
// database for every payment ever made.
const maxReportRange = 366 * 24 * time.Hour

func (s *server) reconciliationReport(ctx context.Context, in *reportInput) (*reportOutput, error) {
	from, to, note, err := reportRange(in.From, in.To, s.invoices.Now())
	if err != nil {
		return nil, err
	}
	p := principal(ctx)
	r, err := s.invoices.Reconcile(ctx, p.MerchantID, p.Mode, from, to)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	r.RangeNote = note
	var buf bytes.Buffer
	if in.Format == "csv" {
		if err := r.WriteCSV(&buf); err != nil {
			return nil, s.fail(ctx, err)
		}
		name := "settle-reconciliation-" + r.From.Format("20060102") + "-" + r.To.Format("20060102") + ".csv"
		return &reportOutput{ContentType: "text/csv; charset=utf-8", ContentDisposition: `attachment; filename="` + name + `"`, Body: buf.Bytes()}, nil
	}
	if err := json.NewEncoder(&buf).Encode(r); err != nil {
		return nil, s.fail(ctx, err)
	}
	return &reportOutput{ContentType: "application/json", Body: buf.Bytes()}, nil
}

// reportRange reads the report's from and to (see reportInput): both, or
// neither for today (UTC), which note then says.
func reportRange(fromParam, toParam string, now time.Time) (from, to time.Time, note string, err error) {
	bad := func(loc, msg, value string) error {
		return problem(http.StatusUnprocessableEntity, "invalid_range", msg, &huma.ErrorDetail{Location: loc, Message: msg, Value: value})
	}
	switch {
	case fromParam == "" && toParam == "":
		from, to = invoice.TodayUTC(now)
		return from, to, "from and to were not given: today (UTC)", nil
	case fromParam == "" || toParam == "":
		return from, to, "", bad("query.from", "give both from and to, or neither for today (UTC)", fromParam+toParam)
	}
	var ok bool
	if from, ok = invoice.ParseReportTime(fromParam); !ok {
		return from, to, "", bad("query.from", "an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01)", fromParam)
	}
	if to, ok = invoice.ParseReportTime(toParam); !ok {
		return from, to, "", bad("query.to", "an RFC 3339 time (2026-12-01T00:00:00Z) or a date (2026-12-01)", toParam)
	}
	if !to.After(from) || to.Sub(from) > maxReportRange {
		return from, to, "", bad("query.to", "must be after from, by at most 366 days", toParam)
	}
	return from, to, "", nil
}
