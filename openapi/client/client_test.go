package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

// TestInvoiceLifecycle creates an invoice, pays it in two steps through
// simulate-payment and sees WaitForTerminalStatus return only once it is
// paid.
func TestInvoiceLifecycle(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		inv, err := e.c.CreateInvoice(ctx, client.CreateInvoiceParams{
			Amount: "25.00", Currency: "USD", PaymentMethods: []string{"sandbox"},
			MerchantOrderID: "order-1042", Description: "2 × espresso", Metadata: map[string]string{"customer": "c_81"},
			RedirectURL: "https://shop.example/thanks", ExpiresIn: 600,
		})
		if err != nil {
			t.Fatal(err)
		}
		if inv.Status != client.StatusOpen || inv.Amount != "25.00" || inv.AmountDue != "25.00" || inv.AmountPaid != "0.00" ||
			inv.Mode != client.ModeTest || inv.MerchantOrderID != "order-1042" || inv.Metadata["customer"] != "c_81" ||
			!slices.Equal(inv.PaymentMethods, []string{"sandbox"}) || inv.PaidAt != nil {
			t.Fatalf("created %+v", inv)
		}
		if inv.PaymentURL == "" || inv.PaymentSessionHeaders.SessionToken == "" || inv.PaymentSessionHeaders.Signature == "" {
			t.Fatalf("no checkout: %+v", inv)
		}
		if d := inv.ExpiresAt.Sub(inv.CreatedAt); d != 600*time.Second {
			t.Errorf("expires %v after creation, want 10m", d)
		}
		got, err := e.c.GetInvoice(ctx, inv.ID)
		if err != nil || got.ID != inv.ID || got.Description != "2 × espresso" {
			t.Fatalf("get: %+v, %v", got, err)
		}

		type result struct {
			st  *client.InvoiceStatus
			err error
		}
		done := make(chan result, 1)
		go func() {
			st, err := e.c.WaitForTerminalStatusWith(ctx, inv.ID, client.WaitPolicy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond})
			done <- result{st, err}
		}()
		sim, err := e.c.SimulatePayment(ctx, inv.ID, client.SimulatePaymentParams{Amount: "25.00", Status: "pending"})
		if err != nil {
			t.Fatal(err)
		}
		if sim.Invoice.Status != client.StatusProcessing || sim.Payment.Status != "pending" || sim.Payment.TxID == "" {
			t.Fatalf("pending payment: %+v", sim)
		}
		select {
		case r := <-done:
			t.Fatalf("WaitForTerminalStatus returned %+v, %v while the invoice is processing", r.st, r.err)
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := e.c.SimulatePayment(ctx, inv.ID, client.SimulatePaymentParams{Amount: "25.00", TxID: sim.Payment.TxID}); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.st.Status != client.StatusPaid || r.st.AmountPaid != "25.00" || r.st.AmountDue != "0.00" || r.st.ID != inv.ID {
			t.Fatalf("terminal status %+v", r.st)
		}
		if got, _ := e.c.GetInvoice(ctx, inv.ID); got.PaidAt == nil || got.Exception != client.ExceptionNone {
			t.Errorf("paid invoice %+v", got)
		}
	})
}

// TestListAndCancel pages through invoices with filters and cancels one.
func TestListAndCancel(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		var ids []string
		for i := range 7 {
			inv, err := e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "1.00", Currency: "USD", MerchantOrderID: fmt.Sprint("order-", i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, inv.ID)
		}
		for _, id := range ids[:2] {
			if _, err := e.c.SimulatePayment(ctx, id, client.SimulatePaymentParams{Amount: "1.00"}); err != nil {
				t.Fatal(err)
			}
		}
		page, err := e.c.ListInvoices(ctx, client.ListInvoicesParams{Limit: 3})
		if err != nil || len(page.Data) != 3 || !page.HasMore || page.Data[0].ID != ids[6] {
			t.Fatalf("first page %+v, %v", page, err)
		}
		var walked []string
		for inv, err := range e.c.Invoices(ctx, client.ListInvoicesParams{Limit: 2}) {
			if err != nil {
				t.Fatal(err)
			}
			walked = append(walked, inv.ID)
		}
		want := slices.Clone(ids)
		slices.Reverse(want)
		if !slices.Equal(walked, want) {
			t.Fatalf("walked %v, want newest first %v", walked, want)
		}
		var paid []string
		for inv, err := range e.c.Invoices(ctx, client.ListInvoicesParams{Status: client.StatusPaid, Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			paid = append(paid, inv.ID)
		}
		if !slices.Equal(paid, []string{ids[1], ids[0]}) {
			t.Errorf("paid %v, want %v", paid, ids[:2])
		}
		byOrder, err := e.c.ListInvoices(ctx, client.ListInvoicesParams{MerchantOrderID: "order-4", CreatedGTE: time.Now().Add(-time.Hour)})
		if err != nil || len(byOrder.Data) != 1 || byOrder.Data[0].ID != ids[4] {
			t.Errorf("by order id: %+v, %v", byOrder, err)
		}

		cancelled, err := e.c.CancelInvoice(ctx, ids[6])
		if err != nil || cancelled.Status != client.StatusCancelled {
			t.Fatalf("cancel: %+v, %v", cancelled, err)
		}
		if st, err := e.c.WaitForTerminalStatus(ctx, ids[6]); err != nil || st.Status != client.StatusCancelled {
			t.Errorf("wait on a cancelled invoice: %+v, %v", st, err)
		}
		wantError(t, e.cancel(ids[0]), http.StatusConflict, client.CodeInvoiceNotCancellable)
	})
}

func (e *env) cancel(id string) error {
	_, err := e.c.CancelInvoice(testContext(e.t), id)
	return err
}

// TestErrors checks that problems decode into *client.Error with their
// code, status and field errors, and that errors no retry can fix end
// WaitForTerminalStatus at once.
func TestErrors(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		_, err := e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "25.001", Currency: "USD"})
		ce := wantError(t, err, http.StatusUnprocessableEntity, client.CodeInvalidAmount)
		if ce != nil && (len(ce.Errors) == 0 || ce.Errors[0].Location != "body.amount" || ce.Detail == "" || ce.RequestID == "") {
			t.Errorf("problem %+v", ce.Problem)
		}
		_, err = e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "25.00", Currency: "XYZ"})
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeInvalidCurrency)
		_, err = e.c.GetInvoice(ctx, "inv_doesnotexist")
		wantError(t, err, http.StatusNotFound, client.CodeNotFound)
		_, err = e.client("sk_test_wrong").ListInvoices(ctx, client.ListInvoicesParams{})
		wantError(t, err, http.StatusUnauthorized, client.CodeInvalidAPIKey)

		// A 404 is final: one request, not a wait until ctx ends (counted
		// at the server, not timed).
		missing := "inv_missing_" + db.Name
		asked := func() (n int) {
			for k, v := range calls.all() {
				if k[0] == "GET" && strings.Contains(k[1], missing) {
					n += v
				}
			}
			return n
		}
		_, err = e.c.WaitForTerminalStatus(ctx, missing)
		wantError(t, err, http.StatusNotFound, client.CodeNotFound)
		if n := asked(); n != 1 {
			t.Errorf("WaitForTerminalStatus asked %d times for a missing invoice, want once", n)
		}
		if _, err := client.New("::bad", "k").GetInvoice(ctx, "inv_x"); err == nil {
			t.Error("a bad base URL gave no error")
		}
	})
}

// wantError checks that err is a *client.Error of status and code.
func wantError(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Errorf("error %v (%T), want *client.Error %d %s", err, err, status, code)
		return nil
	}
	if ce.StatusCode != status || ce.Status != status || ce.Code != code {
		t.Errorf("error %d/%d %q (%v), want %d %q", ce.StatusCode, ce.Status, ce.Code, ce, status, code)
	}
	return ce
}
