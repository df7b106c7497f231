package client_test

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

// TestPaymentsMarksAndReport lists payments, resolves invoices by hand and
// reads the reconciliation report in JSON and CSV.
func TestPaymentsMarksAndReport(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		from := time.Now().Add(-time.Minute)
		full := e.createInvoice(ctx, "10.00")
		part := e.createInvoice(ctx, "5.00")
		open := e.createInvoice(ctx, "7.00")
		if _, err := e.c.SimulatePayment(ctx, full.ID, client.SimulatePaymentParams{Amount: "10.00"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.SimulatePayment(ctx, part.ID, client.SimulatePaymentParams{Amount: "3.00"}); err != nil {
			t.Fatal(err)
		}

		ip, err := e.c.ListInvoicePayments(ctx, full.ID)
		if err != nil || len(ip.Data) != 1 || ip.Data[0].InvoiceID != full.ID || ip.Data[0].Amount != "10.00" || ip.Data[0].Status != "confirmed" {
			t.Fatalf("invoice payments %+v, %v", ip, err)
		}
		var ids []string
		for p, err := range e.c.Payments(ctx, client.ListPaymentsParams{Status: "confirmed", Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, p.InvoiceID)
		}
		if !slices.Equal(ids, []string{part.ID, full.ID}) {
			t.Errorf("payments of %v, want newest first %v", ids, []string{part.ID, full.ID})
		}
		if l, err := e.c.ListPayments(ctx, client.ListPaymentsParams{InvoiceID: part.ID}); err != nil || len(l.Data) != 1 || l.Data[0].Amount != "3.00" {
			t.Errorf("payments of %s: %+v, %v", part.ID, l, err)
		}

		marked, err := e.c.MarkInvoice(ctx, part.ID, client.MarkInvoiceParams{Status: client.StatusPaid, Note: "the rest came by bank transfer"})
		if err != nil {
			t.Fatal(err)
		}
		if marked.Status != client.StatusPaid || marked.Exception != client.ExceptionMarked || marked.Mark == nil ||
			marked.Mark.Note != "the rest came by bank transfer" || !strings.HasPrefix(e.key, marked.Mark.MarkedBy) {
			t.Fatalf("marked %+v (mark %+v)", marked, marked.Mark)
		}
		if _, err := e.c.MarkInvoice(ctx, open.ID, client.MarkInvoiceParams{Status: client.StatusInvalid, Note: "test order"}); err != nil {
			t.Fatal(err)
		}
		if st, err := e.c.WaitForTerminalStatus(ctx, open.ID); err != nil || st.Status != client.StatusInvalid {
			t.Errorf("an invoice marked invalid: %+v, %v", st, err)
		}
		_, err = e.c.MarkInvoice(ctx, full.ID, client.MarkInvoiceParams{Status: "open", Note: "x"})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("marking open: %v, want a 422", err)
		}

		to := time.Now().Add(time.Minute)
		rep, err := e.c.ReconciliationReport(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		var inReport []string
		for _, p := range rep.Payments {
			inReport = append(inReport, p.InvoiceID)
		}
		slices.Sort(inReport)
		want := []string{full.ID, part.ID}
		slices.Sort(want)
		if rep.Object != "reconciliation_report" || rep.Mode != client.ModeTest || !slices.Equal(inReport, want) {
			t.Errorf("report %+v: payments of %v, want %v", rep, inReport, want)
		}
		csv, err := e.c.ReconciliationReportCSV(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(csv, []byte("\r\n")) || !bytes.Contains(csv, []byte(rep.Payments[0].PaymentID)) {
			t.Errorf("csv %q: want RFC 4180 rows with %s", csv, rep.Payments[0].PaymentID)
		}
		_, err = e.c.ReconciliationReport(ctx, to, from)
		if !errors.As(err, &ce) || ce.StatusCode/100 != 4 {
			t.Errorf("a backwards range: %v, want a 4xx problem", err)
		}
	})
}
