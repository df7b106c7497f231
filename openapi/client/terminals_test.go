package client_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

// TestTerminals walks a terminal through the client: created with its key
// and secret, listed, read by its own key, used to create an invoice of
// its own, whose events and the terminal's invoices it reads, then
// deleted, after which its key is refused.
func TestTerminals(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		loc, err := e.c.CreateLocation(ctx, client.CreateLocationParams{Name: "Café"})
		if err != nil {
			t.Fatal(err)
		}
		tm, err := e.c.CreateTerminal(ctx, client.CreateTerminalParams{Name: "Counter 1", LocationID: loc.ID})
		if err != nil {
			t.Fatal(err)
		}
		if tm.Object != "terminal" || tm.Name != "Counter 1" || tm.LocationID != loc.ID || tm.APIKey == "" || tm.CommandSecret == "" || tm.DeletedAt != nil {
			t.Fatalf("terminal %+v", tm)
		}
		list, err := e.c.ListTerminals(ctx, "", 10)
		if err != nil || len(list.Data) != 1 || list.Data[0].ID != tm.ID || list.HasMore {
			t.Fatalf("list %+v, %v", list, err)
		}
		own := e.client(tm.APIKey)
		if got, err := own.GetTerminal(ctx, tm.ID); err != nil || got.KeyPrefix != tm.KeyPrefix {
			t.Fatalf("get with its own key %+v, %v", got, err)
		}
		inv, err := own.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "3.50", Currency: "USD"})
		if err != nil || inv.TerminalID != tm.ID || inv.LocationID != loc.ID {
			t.Fatalf("invoice of the terminal %+v, %v", inv, err)
		}
		invs, err := own.ListTerminalInvoices(ctx, tm.ID, time.Now().Add(-time.Hour), "", 10)
		if err != nil || len(invs.Data) != 1 || invs.Data[0].ID != inv.ID {
			t.Fatalf("terminal invoices %+v, %v", invs, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			evs, err := own.ListInvoiceEvents(ctx, inv.ID, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs.Data) > 0 {
				if evs.Data[0].Type != client.EventInvoiceCreated {
					t.Errorf("events %+v", evs.Data)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no events")
			}
			time.Sleep(20 * time.Millisecond)
		}
		_, err = own.ListInvoices(ctx, client.ListInvoicesParams{})
		wantError(t, err, http.StatusForbidden, client.CodeInsufficientScope)

		del, err := e.c.DeleteTerminal(ctx, tm.ID)
		if err != nil || del.DeletedAt == nil {
			t.Fatalf("delete %+v, %v", del, err)
		}
		_, err = own.GetTerminal(ctx, tm.ID)
		wantError(t, err, http.StatusUnauthorized, client.CodeInvalidAPIKey)
	})
}
