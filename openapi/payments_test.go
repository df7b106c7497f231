package openapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// pay applies a sepolia USDC payment of units to invoice id, as the EVM
// watcher would.
func (e *env) pay(id, tx string, units int64, status invoice.PaymentStatus) {
	e.t.Helper()
	_, _, err := e.svc.Apply(context.Background(), invoice.Observation{
		InvoiceID: id, Method: "usdc_sepolia", Network: "sepolia", TxID: tx, Asset: "USDC", Decimals: 6,
		Amount: invoice.NewUnits(units), Status: status, From: "0x00000000000000000000000000000000000000aa",
		To: merchantAddress, Block: 100, BlockHash: "0xb1", ObservedAt: e.clock.Now(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestPaymentsAPI(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		a := str(t, e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"}), "id")
		b := str(t, e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD"}), "id")
		e.pay(a, "0xa1", 25_000_000, invoice.PaymentConfirmed)
		e.simulate(b, map[string]any{"amount": "4.00"})
		e.pay(b, "0xb2", 1_500_000, invoice.PaymentPending)

		all := e.mustStatus(e.do("GET", "/api/v1/payments", e.key, nil), http.StatusOK).JSON
		data := all["data"].([]any)
		if len(data) != 3 || all["has_more"] != false {
			t.Fatalf("payments %v", all)
		}
		newest := data[0].(map[string]any)
		if newest["tx_id"] != "0xb2" || newest["status"] != "pending" || newest["amount"] != "1.500000" ||
			newest["amount_units"] != "1500000" || newest["network"] != "sepolia" || newest["asset"] != "USDC" ||
			newest["from"] != "0x00000000000000000000000000000000000000aa" || newest["to"] != merchantAddress ||
			newest["block_number"] != 100.0 || newest["confirmations_required"] != 3.0 ||
			newest["explorer_url"] != "https://sepolia.etherscan.io/tx/0xb2" || newest["invoice_id"] != b {
			t.Errorf("newest payment %v", newest)
		}
		confirmed := data[2].(map[string]any)
		if confirmed["tx_id"] != "0xa1" || confirmed["confirmations"] != 3.0 {
			t.Errorf("confirmed payment %v", confirmed)
		}

		// Filters and pages.
		for query, want := range map[string][]string{
			"?invoice_id=" + b:                 {"0xb2", "sandbox"},
			"?method=usdc_sepolia":             {"0xb2", "0xa1"},
			"?status=confirmed":                {"sandbox", "0xa1"},
			"?status=pending":                  {"0xb2"},
			"?created_lt=2000-01-01T00:00:00Z": {},
		} {
			got := e.mustStatus(e.do("GET", "/api/v1/payments"+query, e.key, nil), http.StatusOK).JSON["data"].([]any)
			var txs []string
			for _, p := range got {
				tx := p.(map[string]any)["tx_id"].(string)
				if strings.HasPrefix(tx, "sim_") {
					tx = "sandbox"
				}
				txs = append(txs, tx)
			}
			if !slices.Equal(txs, want) && len(txs)+len(want) > 0 {
				t.Errorf("%s: %v, want %v", query, txs, want)
			}
		}
		page := e.mustStatus(e.do("GET", "/api/v1/payments?limit=2", e.key, nil), http.StatusOK).JSON
		last := page["data"].([]any)[1].(map[string]any)["id"].(string)
		rest := e.mustStatus(e.do("GET", "/api/v1/payments?limit=2&after="+last, e.key, nil), http.StatusOK).JSON
		if page["has_more"] != true || rest["has_more"] != false || len(rest["data"].([]any)) != 1 ||
			rest["data"].([]any)[0].(map[string]any)["tx_id"] != "0xa1" {
			t.Errorf("pages %v then %v", page, rest)
		}
		gte := url.QueryEscape(e.clock.Now().Add(-time.Hour).Format(time.RFC3339))
		if got := e.mustStatus(e.do("GET", "/api/v1/payments?created_gte="+gte, e.key, nil), http.StatusOK).JSON["data"].([]any); len(got) != 3 {
			t.Errorf("created_gte an hour ago: %d payments", len(got))
		}

		one := e.mustStatus(e.do("GET", "/api/v1/invoices/"+a+"/payments", e.key, nil), http.StatusOK).JSON["data"].([]any)
		if len(one) != 1 || one[0].(map[string]any)["tx_id"] != "0xa1" {
			t.Errorf("invoice payments %v", one)
		}

		// Another merchant sees none of it.
		_, other := e.otherMerchant()
		e.wantProblem(e.do("GET", "/api/v1/invoices/"+a+"/payments", other, nil), http.StatusNotFound, "not_found")
		if got := e.mustStatus(e.do("GET", "/api/v1/payments", other, nil), http.StatusOK).JSON["data"].([]any); len(got) != 0 {
			t.Errorf("other merchant sees %v", got)
		}
		e.wantProblem(e.do("GET", "/api/v1/payments?status=lost", e.key, nil), http.StatusUnprocessableEntity, "invalid_status")
	})
}

func TestMarkInvoice(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		id := str(t, e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"}), "id")
		e.pay(id, "0xc1", 20_000_000, invoice.PaymentConfirmed)
		before := e.counts()

		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/mark", e.key, map[string]any{"status": "expired", "note": "x"}), http.StatusUnprocessableEntity, "invalid_status")
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/mark", e.key, map[string]any{"status": "paid", "note": " "}), http.StatusUnprocessableEntity, "invalid_note")
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/mark", e.key, map[string]any{"status": "paid"}), http.StatusUnprocessableEntity, "invalid_note")
		read := e.newKey(e.merchant, invoice.ModeTest, invoice.ScopeRead)
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/mark", read, map[string]any{"status": "paid", "note": "x"}), http.StatusForbidden, "insufficient_scope")
		_, other := e.otherMerchant()
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/mark", other, map[string]any{"status": "paid", "note": "x"}), http.StatusNotFound, "not_found")
		if after := e.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("refused marks wrote: %v → %v", before, after)
		}

		inv := e.mustStatus(e.do("POST", "/api/v1/invoices/"+id+"/mark", e.key, map[string]any{"status": "paid", "note": "rest paid in cash"}), http.StatusOK).JSON
		mark, _ := inv["mark"].(map[string]any)
		if inv["status"] != "paid" || inv["exception"] != "marked" || mark["note"] != "rest paid in cash" ||
			mark["marked_by"] != e.key[:len("sk_test_")+8] || mark["marked_at"] == nil || inv["paid_at"] == nil {
			t.Fatalf("marked invoice %v", inv)
		}
		// The env runs no sequencer, so the event is read from the outbox.
		n, err := db.NewSelect().TableExpr("events").Where("invoice_id = ? AND type = 'invoice.updated' AND data LIKE ?", id, "%rest paid in cash%").Count(context.Background())
		if err != nil || n != 1 {
			t.Errorf("invoice.updated events with the mark: %d, %v", n, err)
		}

		// A later payment is recorded but moves nothing; marking invalid does.
		e.pay(id, "0xc2", 5_000_000, invoice.PaymentConfirmed)
		got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON
		if got["status"] != "paid" || got["exception"] != "marked" || got["amount_paid"] != "25.00" {
			t.Errorf("after a payment %v", got)
		}
		inv = e.mustStatus(e.do("POST", "/api/v1/invoices/"+id+"/mark", e.key, map[string]any{"status": "invalid", "note": "fraud"}), http.StatusOK).JSON
		if inv["status"] != "invalid" || inv["exception"] != "marked" || inv["paid_at"] != nil || inv["mark"].(map[string]any)["note"] != "fraud" {
			t.Errorf("marked invalid %v", inv)
		}
		if list := e.mustStatus(e.do("GET", "/api/v1/invoices?status=invalid", e.key, nil), http.StatusOK).JSON["data"].([]any); len(list) != 1 {
			t.Errorf("invalid invoices %v", list)
		}
	})
}

func TestReconciliationReport(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		create := func(amount, order string) string {
			return str(t, e.createInvoice(map[string]any{"amount": amount, "currency": "USD", "merchant_order_id": order, "expires_in": 600}), "id")
		}
		exact, under, over, late, cancelled := create("25.00", "o-exact"), create("10.00", "o-under"), create("5.00", "=HYPERLINK(\"x\")"),
			create("7.00", "o-late"), create("3.00", "o-cancel")
		e.pay(exact, "0x01", 25_000_001, invoice.PaymentConfirmed)
		e.pay(under, "0x02", 4_000_000, invoice.PaymentConfirmed)
		e.pay(over, "0x03", 6_000_000, invoice.PaymentConfirmed)
		e.pay(under, "0x04", 1_000_000, invoice.PaymentPending)
		e.mustStatus(e.do("POST", "/api/v1/invoices/"+cancelled+"/cancel", e.key, nil), http.StatusOK)
		e.pay(cancelled, "0x05", 3_000_000, invoice.PaymentConfirmed)
		e.clock.Advance(20 * time.Minute)
		e.pay(late, "0x06", 7_000_000, invoice.PaymentConfirmed)

		from := e.clock.Now().Add(-2 * time.Hour).UTC()
		to := e.clock.Now().Add(time.Hour).UTC()
		q := "?from=" + url.QueryEscape(from.Format(time.RFC3339)) + "&to=" + url.QueryEscape(to.Format(time.RFC3339))
		r := e.mustStatus(e.do("GET", "/api/v1/reports/reconciliation"+q, e.key, nil), http.StatusOK).JSON
		if len(r["payments"].([]any)) != 6 {
			t.Fatalf("report payments %v", r["payments"])
		}
		var confirmed, pending int
		var units int64
		for _, raw := range r["totals"].([]any) {
			tot := raw.(map[string]any)
			if tot["asset"] != "USDC" || tot["network"] != "sepolia" {
				t.Errorf("total %v", tot)
			}
			confirmed += int(tot["payments"].(float64))
			pending += int(tot["pending"].(float64))
			var u int64
			fmt.Sscan(tot["amount_units"].(string), &u)
			units += u
		}
		// The confirmed transfers: 25.000001 + 4 + 6 + 3 + 7.
		if confirmed != 5 || pending != 1 || units != 45_000_001 {
			t.Errorf("totals: %d confirmed, %d pending, %d units; %v", confirmed, pending, units, r["totals"])
		}
		attention := map[string]string{}
		for _, raw := range r["attention"].([]any) {
			a := raw.(map[string]any)
			attention[a["invoice_id"].(string)] = a["exception"].(string)
		}
		want := map[string]string{under: "underpaid", over: "overpaid", late: "paid_late", cancelled: "overpaid"}
		if fmt.Sprint(attention) != fmt.Sprint(want) {
			t.Errorf("attention %v, want %v", attention, want)
		}

		// The same as CSV, with a read key: one rectangular table.
		read := e.newKey(e.merchant, invoice.ModeTest, invoice.ScopeRead)
		res := e.mustStatus(e.do("GET", "/api/v1/reports/reconciliation"+q+"&format=csv", read, nil), http.StatusOK)
		if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.Contains(res.Header.Get("Content-Disposition"), ".csv") {
			t.Errorf("CSV headers %v", res.Header)
		}
		if !bytes.Contains(res.Raw, []byte("\r\n")) {
			t.Error("CSV lines do not end in CRLF")
		}
		records, err := csv.NewReader(bytes.NewReader(res.Raw)).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v\n%s", err, res.Raw)
		}
		kinds := map[string]int{}
		for _, rec := range records[1:] {
			kinds[rec[0]]++
		}
		if records[0][0] != "record" || kinds["payment"] != 6 || kinds["total"] != len(r["totals"].([]any)) || kinds["attention"] != 4 {
			t.Errorf("CSV records %v", kinds)
		}
		if !bytes.Contains(res.Raw, []byte(`"'=HYPERLINK(""x"")"`)) {
			t.Errorf("a merchant_order_id that looks like a formula is not made inert:\n%s", res.Raw)
		}

		// Nothing before the range; a bad range is refused.
		early := "?from=2001-01-01T00:00:00Z&to=2001-02-01T00:00:00Z"
		if got := e.mustStatus(e.do("GET", "/api/v1/reports/reconciliation"+early, e.key, nil), http.StatusOK).JSON; len(got["payments"].([]any)) != 0 {
			t.Errorf("2001: %v", got)
		}
		e.wantProblem(e.do("GET", "/api/v1/reports/reconciliation?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", e.key, nil), http.StatusUnprocessableEntity, "invalid_range")
		e.wantProblem(e.do("GET", "/api/v1/reports/reconciliation?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", e.key, nil), http.StatusUnprocessableEntity, "invalid_range")
		e.wantProblem(e.do("GET", "/api/v1/reports/reconciliation?to=2026-01-01T00:00:00Z", e.key, nil), http.StatusUnprocessableEntity, "invalid_range")
		e.wantProblem(e.do("GET", "/api/v1/reports/reconciliation"+q+"&format=xls", e.key, nil), http.StatusUnprocessableEntity, "invalid_format")
		e.wantProblem(e.do("GET", "/api/v1/reports/reconciliation?from=2026-01-01&to=yesterday", e.key, nil), http.StatusUnprocessableEntity, "invalid_range")
		e.wantProblem(e.do("GET", "/api/v1/reports/reconciliation?from=01/01/2026&to=2026-02-01", e.key, nil), http.StatusUnprocessableEntity, "invalid_range")

		// Dates as settle reconcile takes them (midnight UTC, to
		// exclusive), and no range at all for today (UTC), which the
		// report says.
		days := e.mustStatus(e.do("GET", "/api/v1/reports/reconciliation?from=2001-01-01&to=2001-02-01", e.key, nil), http.StatusOK).JSON
		if days["from"] != "2001-01-01T00:00:00Z" || days["to"] != "2001-02-01T00:00:00Z" || days["range_note"] != nil {
			t.Errorf("dates: from %v, to %v, note %v", days["from"], days["to"], days["range_note"])
		}
		today := e.mustStatus(e.do("GET", "/api/v1/reports/reconciliation", e.key, nil), http.StatusOK).JSON
		midnight := e.clock.Now().UTC().Truncate(24 * time.Hour)
		if today["from"] != midnight.Format(time.RFC3339) || today["to"] != midnight.Add(24*time.Hour).Format(time.RFC3339) ||
			!strings.Contains(fmt.Sprint(today["range_note"]), "today (UTC)") {
			t.Errorf("no range: from %v, to %v, note %v", today["from"], today["to"], today["range_note"])
		}
	})
}
