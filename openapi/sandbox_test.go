package openapi_test

import (
	"net/http"
	"testing"

	"github.com/settlepay/settle/invoice/storetest"
)

func TestSimulatePaymentLifecycle(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"})
		id := inv["id"].(string)
		r := e.mustStatus(e.do("POST", "/api/v1/test/invoices/"+id+"/simulate-payment", e.key,
			map[string]any{"amount": "10.00", "status": "pending"}), http.StatusOK)
		t.Logf("%s", r.Raw)
	})
}
