package client_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

// TestPointOfSale walks the invoice side of a point of sale through the
// client: an invoice with a tip and a pending fulfilment, its QR code for
// the terminal, the payor's tip, the payment of amount and tip, and the
// fulfilment.
func TestPointOfSale(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		no := false
		inv, err := e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "20.00", Currency: "USD",
			AllowTip: true, TipCapPercent: 15, Fulfilled: &no, Include: []string{"qr_png"}})
		if err != nil {
			t.Fatal(err)
		}
		if png, err := base64.StdEncoding.DecodeString(inv.QRPNG); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("qr_png: %d bytes, %v", len(inv.QRPNG), err)
		}
		if !inv.AllowTip || inv.TipCapPercent != 15 || inv.TipAmount != "0.00" || inv.Fulfilment.Status != "pending" ||
			inv.SessionStatus != client.SessionCreated || inv.ScannedAt != nil {
			t.Fatalf("created %+v", inv)
		}
		svg, ct, err := e.c.InvoiceQR(ctx, inv.ID, "svg", 0, "")
		if err != nil || ct != "image/svg+xml" || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("svg QR: %q, %v", ct, err)
		}
		_, _, err = e.c.InvoiceQR(ctx, inv.ID, "png", 2000, "")
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeInvalidSize)

		p := client.New(e.URL, "").PayorSession(inv.PaymentSessionHeaders)
		_, err = p.SetTip(ctx, client.PayorTipParams{Amount: "3.01"})
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeTipAboveCap)
		sess, err := p.SetTip(ctx, client.PayorTipParams{Amount: "3.00"})
		if err != nil || sess.AmountDue != "23.00" || sess.Tip.Amount != "3.00" || !sess.Tip.Open || sess.Tip.CapAmount != "3.00" {
			t.Fatalf("tipped session %+v, %v", sess, err)
		}
		_, err = e.c.FulfilInvoice(ctx, inv.ID)
		wantError(t, err, http.StatusConflict, client.CodeInvoiceNotFulfillable)
		if _, err := e.c.SimulatePayment(ctx, inv.ID, client.SimulatePaymentParams{Amount: "23.00"}); err != nil {
			t.Fatal(err)
		}
		done, err := e.c.FulfilInvoice(ctx, inv.ID)
		if err != nil || done.Status != client.StatusPaid || done.Exception != client.ExceptionNone || done.TipAmount != "3.00" ||
			done.Fulfilment.Status != "fulfilled" || done.Fulfilment.FulfilledAt == nil || done.SessionStatus != client.SessionSucceeded {
			t.Fatalf("fulfilled %+v, %v", done, err)
		}
	})
}
