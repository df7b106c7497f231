package openapi_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

func TestCreateInvoiceDefaults(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"})
		for field, want := range map[string]any{
			"object": "invoice", "mode": "test", "status": "open", "exception": "none",
			"amount": "25.00", "currency": "USD", "amount_paid": "0.00", "amount_due": "25.00",
			"merchant_order_id": "", "description": "", "redirect_url": "", "paid_at": nil,
		} {
			if inv[field] != want {
				t.Errorf("%s = %#v, want %#v", field, inv[field], want)
			}
		}
		if id := str(t, inv, "id"); !strings.HasPrefix(id, "inv_") || len(id) != len("inv_")+26 {
			t.Errorf("id %q, want inv_ and 26 characters", id)
		}
		if md, ok := inv["metadata"].(map[string]any); !ok || len(md) != 0 {
			t.Errorf("metadata %#v, want {}", inv["metadata"])
		}

		// Every test method offered here that settles USD, sandbox included.
		var want []any
		for _, m := range chains.Methods() {
			if m.Mode == invoice.ModeTest && m.Accepts("USD") && e.cat.Offered(m.Network) {
				want = append(want, m.ID)
			}
		}
		got, _ := inv["payment_methods"].([]any)
		if !slices.Equal(got, want) || !slices.Contains(got, any(chains.Sandbox)) || !slices.Contains(got, any("usdc_base_sepolia")) {
			t.Errorf("payment_methods %v, want %v", got, want)
		}

		created := parseTime(t, inv, "created_at")
		if d := time.Since(created); d < 0 || d > time.Minute {
			t.Errorf("created_at %v is not now", created)
		}
		if exp := parseTime(t, inv, "expires_at"); !exp.Equal(created.Add(900 * time.Second)) {
			t.Errorf("expires_at %v, want created_at + 900 s = %v", exp, created.Add(900*time.Second))
		}
		if up := parseTime(t, inv, "updated_at"); !up.Equal(created) {
			t.Errorf("updated_at %v, want created_at %v", up, created)
		}

		// payment_url is {public}/pay/{token}?sig={signature}, and the
		// session headers carry the same token and signature.
		headers, _ := inv["payment_session_headers"].(map[string]any)
		token, sig := str(t, headers, "x-session-token"), str(t, headers, "x-signature")
		u, err := url.Parse(str(t, inv, "payment_url"))
		if err != nil {
			t.Fatal(err)
		}
		if u.Scheme+"://"+u.Host != publicURL || u.Path != "/pay/"+token || u.Query().Get("sig") != sig || len(u.Query()) != 1 {
			t.Errorf("payment_url %s, want %s/pay/%s?sig=%s", u, publicURL, token, sig)
		}
		if len(token) < 20 || !e.signer.Verify(token, sig) {
			t.Errorf("session token %q with signature %q does not verify", token, sig)
		}

		// What was stored is what was answered, and the outbox has its event.
		got2 := e.mustStatus(e.do("GET", "/api/v1/invoices/"+str(t, inv, "id"), e.key, nil), http.StatusOK).JSON
		for field := range inv {
			if !equalJSON(got2[field], inv[field]) {
				t.Errorf("GET %s = %#v, created %#v", field, got2[field], inv[field])
			}
		}
		if len(got2) != len(inv) {
			t.Errorf("GET has %d fields, create %d", len(got2), len(inv))
		}
		if types := e.eventTypes(str(t, inv, "id")); !slices.Equal(types, []string{"invoice.created"}) {
			t.Errorf("events %v, want [invoice.created]", types)
		}

		// Other currencies get the methods that settle them, which in test
		// mode is at least the sandbox.
		eur := e.createInvoice(map[string]any{"amount": "10", "currency": "EUR"})
		if eur["amount"] != "10.00" || !slices.Equal(eur["payment_methods"].([]any), []any{"sandbox"}) {
			t.Errorf("EUR invoice: amount %v, methods %v; want 10.00 and [sandbox]", eur["amount"], eur["payment_methods"])
		}
	})
}

func TestCreateInvoiceFields(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		expiresAt := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
		inv := e.createInvoice(map[string]any{
			"amount": "1500", "currency": "JPY", "payment_methods": []string{"sandbox"},
			"merchant_order_id": "order-1042", "description": "2 × espresso",
			"metadata": map[string]string{"customer": "c_81"}, "redirect_url": "https://shop.example/thanks",
			"expires_at": expiresAt.Format(time.RFC3339),
		})
		for field, want := range map[string]any{
			"amount": "1500", "currency": "JPY", "amount_due": "1500", "amount_paid": "0",
			"merchant_order_id": "order-1042", "description": "2 × espresso", "redirect_url": "https://shop.example/thanks",
		} {
			if inv[field] != want {
				t.Errorf("%s = %#v, want %#v", field, inv[field], want)
			}
		}
		if md := inv["metadata"].(map[string]any); len(md) != 1 || md["customer"] != "c_81" {
			t.Errorf("metadata %v", md)
		}
		if got := parseTime(t, inv, "expires_at"); !got.Equal(expiresAt) {
			t.Errorf("expires_at %v, want %v", got, expiresAt)
		}
		// A method given without sandbox gets sandbox added in test mode.
		inv = e.createInvoice(map[string]any{"amount": "1", "currency": "USD", "payment_methods": []string{"usdc_sepolia"}, "expires_in": 3600})
		if !slices.Equal(inv["payment_methods"].([]any), []any{"sandbox", "usdc_sepolia"}) {
			t.Errorf("payment_methods %v, want [sandbox usdc_sepolia]", inv["payment_methods"])
		}
		if d := parseTime(t, inv, "expires_at").Sub(parseTime(t, inv, "created_at")); d != time.Hour {
			t.Errorf("expires_in 3600 gave expires_at created_at + %v", d)
		}
		// The limits themselves are allowed.
		for _, b := range []map[string]any{
			{"amount": "1000000000000", "currency": "USD", "expires_in": 60},
			{"amount": "0.01", "currency": "USD", "expires_in": 604800},
			{"amount": "1", "currency": "IDR"},
		} {
			e.createInvoice(b)
		}
		// A body of exactly 1 MiB is taken, with or without an Idempotency-Key.
		body := `{"amount":"25.00","currency":"USD"}`
		body += strings.Repeat(" ", 1<<20-len(body))
		e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, body), http.StatusCreated)
		e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, body, "Idempotency-Key", "one-mebibyte"), http.StatusCreated)
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, body+" "), http.StatusRequestEntityTooLarge, "body_too_large")
	})
}

func TestInvoiceStatus(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		id := str(t, e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"}), "id")
		e.clock.Advance(time.Second)
		e.simulate(id, map[string]any{"amount": "10.00"})
		inv := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON
		st := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/status", e.key, nil), http.StatusOK).JSON
		want := map[string]any{
			"id": id, "object": "invoice_status", "status": "open", "exception": "underpaid",
			"amount_paid": "10.00", "amount_due": "15.00", "updated_at": inv["updated_at"], "session_status": "created",
		}
		if len(st) != len(want) {
			t.Errorf("status has fields %v, want exactly %v", keys(st), keys(want))
		}
		for field, w := range want {
			if st[field] != w {
				t.Errorf("%s = %#v, want %#v", field, st[field], w)
			}
		}
		if !parseTime(t, st, "updated_at").After(parseTime(t, inv, "created_at")) {
			t.Errorf("updated_at %v did not move past created_at %v", st["updated_at"], inv["created_at"])
		}
		e.wantProblem(e.do("GET", "/api/v1/invoices/inv_nosuchinvoice/status", e.key, nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.do("GET", "/api/v1/invoices/inv_nosuchinvoice", e.key, nil), http.StatusNotFound, "not_found")
	})
}

func TestListInvoices(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		start := e.clock.Now()
		// Seven invoices an hour apart, newest last; the third is paid and
		// the fifth has an order id.
		var ids []string
		for i := range 7 {
			body := map[string]any{"amount": "25.00", "currency": "USD"}
			if i == 4 {
				body["merchant_order_id"] = "order-5"
			}
			id := str(t, e.createInvoice(body), "id")
			if i == 2 {
				e.simulate(id, map[string]any{"amount": "25.00"})
			}
			ids = append(ids, id)
			e.clock.Advance(time.Hour)
		}
		newestFirst := slices.Clone(ids)
		slices.Reverse(newestFirst)

		list := func(query string) ([]string, bool) {
			t.Helper()
			r := e.mustStatus(e.do("GET", "/api/v1/invoices"+query, e.key, nil), http.StatusOK).JSON
			if r["object"] != "list" {
				t.Errorf("object %v, want list", r["object"])
			}
			var out []string
			for _, v := range r["data"].([]any) {
				out = append(out, v.(map[string]any)["id"].(string))
			}
			more, ok := r["has_more"].(bool)
			if !ok {
				t.Errorf("has_more missing: %s", r)
			}
			return out, more
		}
		if got, more := list(""); !slices.Equal(got, newestFirst) || more {
			t.Errorf("default list %v (has_more %v), want %v", got, more, newestFirst)
		}

		// Pages of 3 by cursor cover everything once, in order.
		var paged []string
		after := ""
		for page := 0; ; page++ {
			q := "?limit=3"
			if after != "" {
				q += "&after=" + after
			}
			got, more := list(q)
			if len(got) > 3 {
				t.Fatalf("page %d has %d items", page, len(got))
			}
			paged = append(paged, got...)
			if !more {
				break
			}
			if page > 5 {
				t.Fatal("pagination does not end")
			}
			after = got[len(got)-1]
		}
		if !slices.Equal(paged, newestFirst) {
			t.Errorf("pages %v, want %v", paged, newestFirst)
		}
		if got, more := list("?limit=7"); len(got) != 7 || more {
			t.Errorf("limit=7 of 7: %d items, has_more %v", len(got), more)
		}
		if got, more := list("?limit=6"); len(got) != 6 || !more {
			t.Errorf("limit=6 of 7: %d items, has_more %v", len(got), more)
		}

		cases := []struct {
			name, query string
			want        []string
		}{
			{"status paid", "?status=paid", []string{ids[2]}},
			{"status open", "?status=open", without(newestFirst, ids[2])},
			{"status cancelled", "?status=cancelled", nil},
			{"merchant_order_id", "?merchant_order_id=order-5", []string{ids[4]}},
			{"created_gte", "?created_gte=" + at(start.Add(4*time.Hour+30*time.Minute)), []string{ids[6], ids[5]}},
			{"created_lte", "?created_lte=" + at(start.Add(90*time.Minute)), []string{ids[1], ids[0]}},
			{"created range", "?created_gte=" + at(start.Add(90*time.Minute)) + "&created_lte=" + at(start.Add(3*time.Hour+30*time.Minute)), []string{ids[3], ids[2]}},
			{"status and range", "?status=open&created_gte=" + at(start.Add(90*time.Minute)) + "&created_lte=" + at(start.Add(3*time.Hour+30*time.Minute)), []string{ids[3]}},
			{"after the last", "?after=" + ids[0], nil},
		}
		for _, tc := range cases {
			if got, more := list(tc.query); !slices.Equal(got, tc.want) || more {
				t.Errorf("%s: %v (has_more %v), want %v", tc.name, got, more, tc.want)
			}
		}

		for _, q := range []string{"?limit=0", "?limit=101", "?limit=-1"} {
			e.wantProblem(e.do("GET", "/api/v1/invoices"+q, e.key, nil), http.StatusUnprocessableEntity, "invalid_limit")
		}
		e.wantProblem(e.do("GET", "/api/v1/invoices?status=lost", e.key, nil), http.StatusUnprocessableEntity, "invalid_status")
		e.wantProblem(e.do("GET", "/api/v1/invoices?created_gte=yesterday", e.key, nil), http.StatusUnprocessableEntity, "validation_failed")
	})
}

func TestCancelInvoice(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		id := str(t, e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"}), "id")
		inv := e.mustStatus(e.do("POST", "/api/v1/invoices/"+id+"/cancel", e.key, nil), http.StatusOK).JSON
		if inv["status"] != "cancelled" || inv["exception"] != "none" || inv["id"] != id {
			t.Errorf("after cancel: %v", inv)
		}
		if types := e.eventTypes(id); !slices.Equal(types, []string{"invoice.created", "invoice.updated"}) {
			t.Errorf("events %v, want created then updated", types)
		}
		got := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/status", e.key, nil), http.StatusOK).JSON
		if got["status"] != "cancelled" {
			t.Errorf("status after cancel %v", got["status"])
		}
		// Cancelling twice is refused and writes nothing more.
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/cancel", e.key, nil), http.StatusConflict, "invoice_not_cancellable")
		if types := e.eventTypes(id); len(types) != 2 {
			t.Errorf("a refused cancel wrote events: %v", types)
		}
		// A payment that still arrives is recorded and flagged for refund.
		res := e.simulate(id, map[string]any{"amount": "25.00"})
		if inv := res["invoice"].(map[string]any); inv["status"] != "cancelled" || inv["exception"] != "overpaid" || inv["amount_paid"] != "25.00" {
			t.Errorf("payment to a cancelled invoice: %v", inv)
		}
		e.wantProblem(e.do("POST", "/api/v1/invoices/inv_nosuchinvoice/cancel", e.key, nil), http.StatusNotFound, "not_found")
	})
}

func TestSimulatePayment(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		newID := func() string {
			return str(t, e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"}), "id")
		}
		type want struct{ status, exception, paid, due, payment string }
		check := func(step string, res map[string]any, w want) {
			t.Helper()
			inv, _ := res["invoice"].(map[string]any)
			pay, _ := res["payment"].(map[string]any)
			got := want{fmtAny(inv["status"]), fmtAny(inv["exception"]), fmtAny(inv["amount_paid"]), fmtAny(inv["amount_due"]), fmtAny(pay["status"])}
			if got != w {
				t.Errorf("%s: got %+v, want %+v", step, got, w)
			}
			if pay["object"] != "payment" || pay["invoice_id"] != inv["id"] || pay["method"] != "sandbox" || pay["asset"] != "USD" {
				t.Errorf("%s: payment %v", step, pay)
			}
			if (inv["status"] == "paid") != (inv["paid_at"] != nil) {
				t.Errorf("%s: status %v with paid_at %v", step, inv["status"], inv["paid_at"])
			}
		}

		// pending → processing, then confirmed → paid.
		id := newID()
		res := e.simulate(id, map[string]any{"amount": "25.00", "status": "pending"})
		check("pending", res, want{"processing", "none", "0.00", "25.00", "pending"})
		tx := str(t, res["payment"].(map[string]any), "tx_id")
		res = e.simulate(id, map[string]any{"amount": "25.00", "status": "confirmed", "tx_id": tx})
		check("confirmed", res, want{"paid", "none", "25.00", "0.00", "confirmed"})
		if res["payment"].(map[string]any)["tx_id"] != tx {
			t.Errorf("confirming %s made another payment: %v", tx, res["payment"])
		}
		wantEvents := []string{"invoice.created", "invoice_payment.updated", "invoice.updated", "invoice_payment.updated", "invoice.updated"}
		if types := e.eventTypes(id); !slices.Equal(types, wantEvents) {
			t.Errorf("events %v, want %v", types, wantEvents)
		}
		// The same observation again changes nothing.
		res = e.simulate(id, map[string]any{"amount": "25.00", "status": "confirmed", "tx_id": tx})
		check("confirmed again", res, want{"paid", "none", "25.00", "0.00", "confirmed"})
		if types := e.eventTypes(id); len(types) != len(wantEvents) {
			t.Errorf("a repeated observation wrote events: %v", types)
		}
		if n := e.paymentCount(id); n != 1 {
			t.Errorf("%d payments, want 1", n)
		}

		// Defaults: method sandbox, status confirmed.
		res = e.simulate(newID(), map[string]any{"amount": "10.00"})
		check("partial", res, want{"open", "underpaid", "10.00", "15.00", "confirmed"})
		res = e.simulate(str(t, res["invoice"].(map[string]any), "id"), map[string]any{"amount": "15.00"})
		check("top-up", res, want{"paid", "none", "25.00", "0.00", "confirmed"})

		res = e.simulate(newID(), map[string]any{"amount": "30.00"})
		check("over", res, want{"paid", "overpaid", "30.00", "0.00", "confirmed"})

		// A pending payment reversed leaves the invoice open again.
		id = newID()
		res = e.simulate(id, map[string]any{"amount": "25.00", "status": "pending"})
		tx = str(t, res["payment"].(map[string]any), "tx_id")
		res = e.simulate(id, map[string]any{"amount": "25.00", "status": "reversed", "tx_id": tx})
		check("reversed", res, want{"open", "none", "0.00", "25.00", "reversed"})
		if n := e.paymentCount(id); n != 1 {
			t.Errorf("%d payments after reversal, want 1", n)
		}

		// A tx_id of one amount cannot be reported with another.
		r := e.do("POST", "/api/v1/test/invoices/"+id+"/simulate-payment", e.key, map[string]any{"amount": "20.00", "status": "confirmed", "tx_id": tx})
		e.wantProblem(r, http.StatusConflict, "conflict")

		// After expiry a payment is still recorded and marks the invoice late.
		id = str(t, e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "expires_in": 60}), "id")
		e.clock.Advance(2 * time.Minute)
		if _, err := e.svc.ExpireDue(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		res = e.simulate(id, map[string]any{"amount": "25.00"})
		check("late", res, want{"paid", "paid_late", "25.00", "0.00", "confirmed"})
	})
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		e.wantProblem(e.do("GET", "/nope", "", nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.do("GET", "/api/v1/nope", e.key, nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.do("POST", "/api/v1/invoices/x/y/z", e.key, "{}"), http.StatusNotFound, "not_found")
		r := e.do("DELETE", "/api/v1/invoices", e.key, nil)
		e.wantProblem(r, http.StatusMethodNotAllowed, "method_not_allowed")
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
			t.Errorf("405 with Allow %q, want GET and POST", allow)
		}
		if r.Header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
	})
}

func TestOpsEndpoints(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
			r := e.mustStatus(e.do("GET", path, "", nil), http.StatusOK)
			if r.JSON["status"] != want || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: %s (%s)", path, r.Raw, r.Header.Get("Content-Type"))
			}
		}
		// Request ids are taken from the caller or made up.
		r := e.do("GET", "/healthz", "", nil, "X-Request-Id", "req-from-caller")
		if got := r.Header.Get("X-Request-Id"); got != "req-from-caller" {
			t.Errorf("X-Request-Id %q, want the caller's", got)
		}

		e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"})
		e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"})
		paid := str(t, e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"}), "id")
		e.simulate(paid, map[string]any{"amount": "25.00"})
		e.do("GET", "/api/v1/invoices/inv_nosuchinvoice", e.key, nil)

		r = e.mustStatus(e.do("GET", "/metrics", "", nil), http.StatusOK)
		text := string(r.Raw)
		for _, want := range []string{
			`settle_invoices{status="open"} 2`,
			`settle_invoices{status="paid"} 1`,
			`settle_invoices{status="cancelled"} 0`,
			`settle_webhook_deliveries{status="pending"} 0`,
			`settle_webhook_deliveries{status="failed"} 0`,
			`settle_http_requests_total{method="POST",route="POST /api/v1/invoices",status="201"} 3`,
			`settle_http_requests_total{method="GET",route="GET /api/v1/invoices/{id}",status="404"} 1`,
			`settle_http_requests_total{method="GET",route="other",status="200"} 3`,
			`settle_http_request_duration_seconds_bucket{route="POST /api/v1/invoices",le="+Inf"} 3`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// eventTypes lists the types of an invoice's events in sequence order.
func (e *env) eventTypes(invoiceID string) []string {
	e.t.Helper()
	var types []string
	err := e.db.NewSelect().Model((*invoice.Event)(nil)).Column("type").
		Where("invoice_id = ?", invoiceID).OrderExpr("sequence").Scan(context.Background(), &types)
	if err != nil {
		e.t.Fatal(err)
	}
	return types
}

func (e *env) paymentCount(invoiceID string) int {
	e.t.Helper()
	n, err := e.db.NewSelect().Model((*invoice.Payment)(nil)).Where("invoice_id = ?", invoiceID).Count(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

func parseTime(t *testing.T, obj map[string]any, field string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, str(t, obj, field))
	if err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	return v
}

func at(t time.Time) string { return url.QueryEscape(t.UTC().Format(time.RFC3339Nano)) }

func without(ids []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(ids), func(s string) bool { return s == drop })
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func fmtAny(v any) string {
	s, _ := v.(string)
	return s
}

func equalJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k := range a {
			if !equalJSON(a[k], b[k]) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		return ok && slices.EqualFunc(a, b, equalJSON)
	default:
		return a == b
	}
}

func TestListDefaultLimit(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		for range 21 {
			e.createInvoice(map[string]any{"amount": "1.00", "currency": "USD"})
		}
		r := e.mustStatus(e.do("GET", "/api/v1/invoices", e.key, nil), http.StatusOK).JSON
		if data := r["data"].([]any); len(data) != 20 || r["has_more"] != true {
			t.Errorf("default page: %d invoices, has_more %v; want 20 and true", len(data), r["has_more"])
		}
		r = e.mustStatus(e.do("GET", "/api/v1/invoices?limit=100", e.key, nil), http.StatusOK).JSON
		if data := r["data"].([]any); len(data) != 21 || r["has_more"] != false {
			t.Errorf("limit=100: %d invoices, has_more %v; want 21 and false", len(data), r["has_more"])
		}
	})
}
