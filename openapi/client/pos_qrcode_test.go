package client_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

// TestPointOfSaleQRCode manages a location and a static code with the client,
// scans the code, and lets the receiver create the session's invoice with
// its one-time order key through the client, as a vending machine would.
func TestPointOfSaleQRCode(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		var mu sync.Mutex
		var starts []map[string]any
		machine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, _ := io.ReadAll(r.Body)
			var b map[string]any
			json.Unmarshal(raw, &b)
			mu.Lock()
			starts = append(starts, b)
			mu.Unlock()
		}))
		defer machine.Close()

		loc, err := e.c.CreateLocation(ctx, client.CreateLocationParams{Name: "Hall B"})
		if err != nil || !strings.HasPrefix(loc.ID, "loc_") || !loc.Active {
			t.Fatalf("location %+v, %v", loc, err)
		}
		code, err := e.c.CreateQRCode(ctx, client.CreateQRCodeParams{LocationID: loc.ID, QRCode: "hall-b-01", StartWebhookURL: machine.URL})
		if err != nil || code.StartWebhookSecret == "" || code.URL != "http://pay.test/q/"+e.merchant+"/hall-b-01" {
			t.Fatalf("code %+v, %v", code, err)
		}
		_, err = e.c.CreateQRCode(ctx, client.CreateQRCodeParams{LocationID: loc.ID, QRCode: "hall-b-01", StartWebhookURL: machine.URL})
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeQRCodeTaken)
		if got, err := e.c.GetQRCode(ctx, code.ID); err != nil || got.StartWebhookSecret != "" || got.QRCode != "hall-b-01" {
			t.Errorf("get %+v, %v", got, err)
		}
		if l, err := e.c.ListQRCodes(ctx, "", 10); err != nil || len(l.Data) != 1 {
			t.Errorf("list %+v, %v", l, err)
		}
		if l, err := e.c.ListLocations(ctx, "", 10); err != nil || len(l.Data) != 1 {
			t.Errorf("locations %+v, %v", l, err)
		}
		if got, err := e.c.GetLocation(ctx, loc.ID); err != nil || got.Name != "Hall B" {
			t.Errorf("get location %+v, %v", got, err)
		}
		png, err := e.c.QRCodeImage(ctx, code.ID, "png", 256)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("png: %v", err)
		}
		svg, err := e.c.QRCodeImage(ctx, code.ID, "svg", 0)
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("svg: %v", err)
		}

		// The payor's page starts the session (its script's first call).
		u, _ := url.Parse(code.URL)
		res, err := http.Post(e.URL+u.Path+"/sessions", "", nil)
		if err != nil || res.StatusCode != http.StatusCreated {
			t.Fatalf("scan: %v %v", res, err)
		}
		res.Body.Close()
		var start map[string]any
		for deadline := time.Now().Add(10 * time.Second); start == nil; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			if len(starts) > 0 {
				start = starts[0]
			}
			mu.Unlock()
			if time.Now().After(deadline) {
				t.Fatal("no start request")
			}
		}
		order := e.client(start["order_key"].(string))
		inv, err := order.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "2.50", Currency: "USD"})
		if err != nil || inv.QRSessionID != start["session_id"] || inv.LocationID != loc.ID {
			t.Fatalf("order invoice %+v, %v", inv, err)
		}
		_, err = order.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "2.50", Currency: "USD"})
		wantError(t, err, http.StatusConflict, client.CodeQRSessionUsed)
		if s, err := order.GetQRSession(ctx, inv.QRSessionID); err != nil || s.Status != client.QRSessionInvoiced || s.InvoiceID != inv.ID {
			t.Errorf("session %+v, %v", s, err)
		}
		if got, err := order.GetInvoice(ctx, inv.ID); err != nil || got.ID != inv.ID {
			t.Errorf("order key reads its invoice: %v", err)
		}
		_, err = order.ListInvoices(ctx, client.ListInvoicesParams{})
		wantError(t, err, http.StatusForbidden, client.CodeInsufficientScope)

		if d, err := e.c.DeactivateQRCode(ctx, code.ID); err != nil || d.Active {
			t.Errorf("deactivate code %+v, %v", d, err)
		}
		if d, err := e.c.DeactivateLocation(ctx, loc.ID); err != nil || d.Active {
			t.Errorf("deactivate location %+v, %v", d, err)
		}
	})
}
