package openapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/payor"
)

// pagePath is the hosted page's path of an invoice (payment_url without the
// public host).
func pagePath(t *testing.T, inv map[string]any) string {
	t.Helper()
	u, err := url.Parse(str(t, inv, "payment_url"))
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// invoiceOf reads an invoice as its merchant.
func (e *env) invoiceOf(id string) map[string]any {
	e.t.Helper()
	return e.mustStatus(e.do("GET", "/api/v1/invoices/"+id, e.key, nil), http.StatusOK).JSON
}

// TestCheckoutScannedOnce: the merchant's own QR fetch is no scan; then
// many concurrent page loads and payor session fetches record the scan
// exactly once, with exactly one checkout.scanned event carrying the
// invoice with its scanned_at, in the same transaction.
func TestCheckoutScannedOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "12.00", "currency": "USD"})
		id := str(t, inv, "id")
		if inv["scanned_at"] != nil || inv["session_status"] != "created" {
			t.Fatalf("new invoice: scanned_at %v, session_status %v", inv["scanned_at"], inv["session_status"])
		}
		e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/qr", e.key, nil), http.StatusOK)
		if got := e.invoiceOf(id); got["scanned_at"] != nil || len(e.eventsOf(id, payor.EventCheckoutScanned)) != 0 {
			t.Fatalf("the merchant's QR fetch counted as a scan: %v", got["scanned_at"])
		}
		token, sig := handles(t, inv)
		// A wrong signature opens nothing.
		e.payor("GET", "/api/v1/payor/session", token, "bad", nil)
		if got := e.invoiceOf(id); got["scanned_at"] != nil {
			t.Fatalf("a wrong signature counted as a scan")
		}
		page := pagePath(t, inv)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var r response
				var err error
				if i%2 == 0 {
					r, err = send(e.request("GET", page, "", nil))
				} else {
					req := e.request("GET", "/api/v1/payor/session", "", nil, "x-session-token", token, "x-signature", sig)
					r, err = send(req)
				}
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("open %d: %v %d %s", i, err, r.Status, r.Raw)
				}
			}()
		}
		wg.Wait()
		evs := e.eventsOf(id, payor.EventCheckoutScanned)
		if len(evs) != 1 {
			t.Fatalf("%d checkout.scanned events, want exactly 1", len(evs))
		}
		got := e.invoiceOf(id)
		scanned, _ := got["scanned_at"].(string)
		obj := evs[0]["object"].(map[string]any)
		if scanned == "" || obj["scanned_at"] != scanned || obj["session_status"] != "scanned" || got["session_status"] != "scanned" {
			t.Fatalf("invoice scanned_at %q (%v), event's %v (%v)", scanned, got["session_status"], obj["scanned_at"], obj["session_status"])
		}
		// Later opens change nothing.
		e.mustStatus(e.do("GET", page, "", nil), http.StatusOK)
		if again := e.invoiceOf(id); again["scanned_at"] != scanned || len(e.eventsOf(id, payor.EventCheckoutScanned)) != 1 {
			t.Errorf("a later open moved scanned_at to %v or wrote another event", again["scanned_at"])
		}

		// The payor's QR code fetch is a scan too.
		other := e.createInvoice(map[string]any{"amount": "12.00", "currency": "USD", "payment_methods": []string{"usdc_base_sepolia"}})
		token, sig = handles(t, other)
		r := e.payor("GET", "/api/v1/payor/session/qr?method=usdc_base_sepolia", token, sig, nil)
		e.mustStatus(r, http.StatusOK)
		if len(e.eventsOf(str(t, other, "id"), payor.EventCheckoutScanned)) != 1 || e.invoiceOf(str(t, other, "id"))["scanned_at"] == nil {
			t.Errorf("the payor's QR fetch recorded no scan")
		}
	})
}

// TestSessionStatusLifecycle follows session_status through every state
// over the real API: created, scanned, confirming, succeeded; failed after
// a returned payment; expired; cancelled.
func TestSessionStatusLifecycle(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		status := func(id string) string { return e.invoiceOf(id)["session_status"].(string) }
		want := func(id, s string) {
			t.Helper()
			if got := status(id); got != s {
				t.Errorf("session_status %q, want %q", got, s)
			}
		}
		inv := e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD"})
		id := str(t, inv, "id")
		want(id, "created")
		token, sig := handles(t, inv)
		e.mustStatus(e.payor("GET", "/api/v1/payor/session", token, sig, nil), http.StatusOK)
		want(id, "scanned")
		e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "sandbox"}), http.StatusOK)
		want(id, "scanned")
		pay := e.simulate(id, map[string]any{"amount": "10.00", "status": "pending"})
		want(id, "confirming")
		tx := pay["payment"].(map[string]any)["tx_id"]
		e.simulate(id, map[string]any{"amount": "10.00", "status": "confirmed", "tx_id": tx})
		want(id, "succeeded")

		// A payment the rail returns: the invoice is open again and the
		// session failed, until the payor pays again.
		failed := str(t, e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD"}), "id")
		pay = e.simulate(failed, map[string]any{"amount": "10.00", "status": "pending"})
		tx = pay["payment"].(map[string]any)["tx_id"]
		e.simulate(failed, map[string]any{"amount": "10.00", "status": "reversed", "tx_id": tx})
		want(failed, "failed")
		if evs := e.eventsOf(failed, invoice.EventInvoicePaymentUpdated); len(evs) != 2 ||
			evs[1]["object"].(map[string]any)["status"] != "reversed" {
			t.Errorf("the returned payment's invoice_payment.updated: %v", evs)
		}
		e.simulate(failed, map[string]any{"amount": "10.00"})
		want(failed, "succeeded")

		cancelled := str(t, e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD"}), "id")
		e.mustStatus(e.do("POST", "/api/v1/invoices/"+cancelled+"/cancel", e.key, nil), http.StatusOK)
		want(cancelled, "cancelled")

		expired := str(t, e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD", "expires_in": 60}), "id")
		e.clock.Advance(2 * time.Minute)
		if _, err := e.svc.ExpireDue(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		want(expired, "expired")
	})
}

// TestInvoiceQR: the merchant's QR code of payment_url or of a method's
// URI, as PNG of the asked size or SVG; bad sizes, formats and methods are
// problems.
func TestInvoiceQR(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD", "payment_methods": []string{"usdc_base_sepolia", "sandbox"}})
		id := str(t, inv, "id")
		base := "/api/v1/invoices/" + id + "/qr"
		for _, size := range []int{0, 64, 333, 1024} {
			path := base
			want := 320
			if size != 0 {
				path += "?size=" + itoa(size)
				want = size
			}
			r := e.mustStatus(e.do("GET", path, e.key, nil), http.StatusOK)
			img, err := png.Decode(bytes.NewReader(r.Raw))
			if err != nil || r.Header.Get("Content-Type") != "image/png" || img.Bounds().Dx() != want || img.Bounds().Dy() != want {
				t.Fatalf("size %d: %q %v %v", size, r.Header.Get("Content-Type"), err, img)
			}
			if exact, _ := payor.QRPNG(str(t, inv, "payment_url"), want); !bytes.Equal(exact, r.Raw) {
				t.Errorf("size %d: not the QR code of payment_url", size)
			}
		}
		r := e.mustStatus(e.do("GET", base+"?format=svg", e.key, nil), http.StatusOK)
		if svg, _ := payor.QRSVG(str(t, inv, "payment_url")); r.Header.Get("Content-Type") != "image/svg+xml" || !bytes.Equal(svg, r.Raw) {
			t.Errorf("svg: %q %s", r.Header.Get("Content-Type"), r.Raw)
		}
		uri := inv["payment_instructions"].([]any)[0].(map[string]any)["uri"].(string)
		r = e.mustStatus(e.do("GET", base+"?method=usdc_base_sepolia&format=svg", e.key, nil), http.StatusOK)
		if svg, _ := payor.QRSVG(uri); !strings.HasPrefix(uri, "ethereum:") || !bytes.Equal(svg, r.Raw) {
			t.Errorf("method: not the QR code of %s", uri)
		}
		// A read key may fetch it.
		e.mustStatus(e.do("GET", base, e.newKey(e.merchant, invoice.ModeTest, invoice.ScopeRead), nil), http.StatusOK)

		for _, tc := range []struct {
			query  string
			status int
			code   string
		}{
			{"?size=63", 422, "invalid_size"},
			{"?size=1025", 422, "invalid_size"},
			{"?size=big", 422, "invalid_size"},
			{"?format=gif", 422, "invalid_format"},
			{"?method=usdc_base", 422, "invalid_payment_method"},
			{"?method=sandbox", 422, "invalid_payment_method"}, // nothing to send anywhere: no URI
		} {
			e.wantProblem(e.do("GET", base+tc.query, e.key, nil), tc.status, tc.code)
		}
		e.wantProblem(e.do("GET", "/api/v1/invoices/inv_nope/qr", e.key, nil), 404, "not_found")
		_, otherKey := e.otherMerchant()
		e.wantProblem(e.do("GET", base, otherKey, nil), 404, "not_found")
	})
}

// TestCreateIncludeQRPNG: include ["qr_png"] embeds the payment_url's QR
// code as base64 PNG; without it the field is absent; an unknown include
// is refused and nothing is stored.
func TestCreateIncludeQRPNG(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		inv := e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD", "include": []string{"qr_png"}})
		b, err := base64.StdEncoding.DecodeString(str(t, inv, "qr_png"))
		if want, _ := payor.QRPNG(str(t, inv, "payment_url"), 320); err != nil || !bytes.Equal(b, want) {
			t.Errorf("qr_png is not the 320 px QR code of payment_url (%v)", err)
		}
		if got := e.invoiceOf(str(t, inv, "id")); got["qr_png"] != nil {
			t.Errorf("a later read carries qr_png")
		}
		if plain := e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD"}); plain["qr_png"] != nil {
			t.Errorf("qr_png without include")
		}
		before := e.counts()
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, map[string]any{"amount": "10.00", "currency": "USD", "include": []string{"qr_svg"}}), 422, "invalid_include")
		if after := e.counts(); after.String() != before.String() {
			t.Errorf("a refused create stored %v (was %v)", after, before)
		}
	})
}

// TestTips: a tip of 0, at the cap and above it (refused, nothing
// changes); the tip is added to the amount due, the instructions and the
// signed terms, written in an invoice.updated event, closed once the
// instructions are shown; amount + tip pays the invoice without exception;
// the reconciliation report and its CSV state it.
func TestTips(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		start := e.clock.Now().Add(-time.Minute)
		inv := e.createInvoice(map[string]any{"amount": "20.00", "currency": "USD", "allow_tip": true,
			"payment_methods": []string{"usdc_base_sepolia", "sandbox"}})
		id := str(t, inv, "id")
		if inv["allow_tip"] != true || inv["tip_cap_percent"] != 20.0 || inv["tip_amount"] != "0.00" || inv["amount_due"] != "20.00" {
			t.Fatalf("created %v %v %v %v", inv["allow_tip"], inv["tip_cap_percent"], inv["tip_amount"], inv["amount_due"])
		}
		before := inv["payment_instructions"].([]any)[0].(map[string]any)
		token, sig := handles(t, inv)
		tip := func(body any) response {
			return e.payor("POST", "/api/v1/payor/session/tip", token, sig, body)
		}
		sess := e.mustStatus(tip(map[string]any{"amount": "0"}), http.StatusOK).JSON
		if sess["amount_due"] != "20.00" || sess["tip"].(map[string]any)["amount"] != "0.00" || len(e.eventsOf(id, invoice.EventInvoiceUpdated)) != 0 {
			t.Errorf("tip 0: %v", sess)
		}
		if tv := sess["tip"].(map[string]any); tv["cap_amount"] != "4.00" || tv["open"] != true || !slices.Equal(tv["presets"].([]any), []any{10.0, 15.0, 20.0}) {
			t.Errorf("tip view %v", tv)
		}
		counted := e.counts()
		e.wantProblem(tip(map[string]any{"amount": "4.01"}), 422, "tip_above_cap")
		e.wantProblem(tip(map[string]any{"percent": 21}), 422, "tip_above_cap")
		e.wantProblem(tip(map[string]any{"amount": "1.001"}), 422, "invalid_tip")
		e.wantProblem(tip(map[string]any{"amount": "1.00", "percent": 5}), 422, "invalid_tip")
		if got := e.invoiceOf(id); got["tip_amount"] != "0.00" || e.counts().String() != counted.String() {
			t.Fatalf("a refused tip changed the invoice: %v", got["tip_amount"])
		}
		sess = e.mustStatus(tip(map[string]any{"percent": 10}), http.StatusOK).JSON
		if sess["amount_due"] != "22.00" {
			t.Errorf("10%%: amount_due %v", sess["amount_due"])
		}
		sess = e.mustStatus(tip(map[string]any{"amount": "4.00"}), http.StatusOK).JSON // at the cap
		got := e.invoiceOf(id)
		if sess["amount_due"] != "24.00" || got["tip_amount"] != "4.00" || got["amount"] != "20.00" || got["amount_due"] != "24.00" {
			t.Fatalf("at the cap: session due %v, invoice %v + %v due %v", sess["amount_due"], got["amount"], got["tip_amount"], got["amount_due"])
		}
		// The instructions ask for the new total and keep their unique code.
		after := got["payment_instructions"].([]any)[0].(map[string]any)
		oldUnits, newUnits := before["amount_units"].(string), after["amount_units"].(string)
		if !strings.HasPrefix(after["amount"].(string), "24.00") || oldUnits[len(oldUnits)-4:] != newUnits[len(newUnits)-4:] ||
			!strings.Contains(after["uri"].(string), "uint256="+newUnits) {
			t.Errorf("instructions after the tip: %v (before %v)", after, before)
		}
		var held int
		if err := db.DB.NewSelect().Table("deposits").ColumnExpr("count(*)").Where("invoice_id = ? AND amount_units = ?", id, newUnits).Scan(context.Background(), &held); err != nil || held != 1 {
			t.Errorf("deposit at %s: %d, %v", newUnits, held, err)
		}
		evs := e.eventsOf(id, invoice.EventInvoiceUpdated)
		if len(evs) != 2 || evs[1]["object"].(map[string]any)["tip_amount"] != "4.00" || evs[1]["previous_status"] != "open" {
			t.Errorf("tip events %v", evs)
		}

		ins := e.mustStatus(e.payor("POST", "/api/v1/payor/session/method", token, sig, map[string]any{"method": "usdc_base_sepolia"}), http.StatusOK).JSON
		claims := termsClaims(t, str(t, ins, "terms"))
		if claims["amount"] != "20.00" || claims["tip_amount"] != "4.00" ||
			claims["instructions"].([]any)[0].(map[string]any)["amount_units"] != newUnits {
			t.Errorf("signed terms %v", claims)
		}
		e.wantProblem(tip(map[string]any{"amount": "1.00"}), 409, "tip_closed")

		pay := e.simulate(id, map[string]any{"amount": "24.00"})
		paid := pay["invoice"].(map[string]any)
		if paid["status"] != "paid" || paid["exception"] != "none" || paid["amount_paid"] != "24.00" || paid["amount_due"] != "0.00" {
			t.Errorf("amount + tip paid: %v %v %v %v", paid["status"], paid["exception"], paid["amount_paid"], paid["amount_due"])
		}

		q := "/api/v1/reports/reconciliation?from=" + url.QueryEscape(start.UTC().Format(time.RFC3339)) +
			"&to=" + url.QueryEscape(e.clock.Now().Add(time.Minute).UTC().Format(time.RFC3339))
		rep := e.mustStatus(e.do("GET", q, e.key, nil), http.StatusOK).JSON
		p := rep["payments"].([]any)[0].(map[string]any)
		if p["invoice_amount"] != "20.00" || p["invoice_tip_amount"] != "4.00" || p["invoice_amount_paid"] != "24.00" {
			t.Errorf("report payment %v", p)
		}
		rows := csvRows(t, e.mustStatus(e.do("GET", q+"&format=csv", e.key, nil), http.StatusOK).Raw)
		if r := rows[1]; r["record"] != "payment" || r["invoice_amount"] != "20.00" || r["invoice_tip_amount"] != "4.00" {
			t.Errorf("CSV payment row %v", r)
		}

		// No tip on an invoice without allow_tip, nor past its cap setting.
		plain := e.createInvoice(map[string]any{"amount": "20.00", "currency": "USD"})
		token, sig = handles(t, plain)
		e.wantProblem(e.payor("POST", "/api/v1/payor/session/tip", token, sig, map[string]any{"amount": "1.00"}), 409, "tip_not_allowed")
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, map[string]any{"amount": "1.00", "currency": "USD", "tip_cap_percent": 10}), 422, "invalid_tip_cap")
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, map[string]any{"amount": "1.00", "currency": "USD", "allow_tip": true, "tip_cap_percent": 101}), 422, "invalid_tip_cap")
		capped := e.createInvoice(map[string]any{"amount": "10.00", "currency": "USD", "allow_tip": true, "tip_cap_percent": 15})
		token, sig = handles(t, capped)
		e.wantProblem(e.payor("POST", "/api/v1/payor/session/tip", token, sig, map[string]any{"percent": 20}), 422, "tip_above_cap")
		if s := e.mustStatus(e.payor("POST", "/api/v1/payor/session/tip", token, sig, map[string]any{"percent": 15}), http.StatusOK).JSON; s["amount_due"] != "11.50" {
			t.Errorf("15%% of 10.00: due %v", s["amount_due"])
		}
	})
}

// termsClaims decodes the payload of signed terms (the JWS is checked by
// the payor package's tests).
func termsClaims(t *testing.T, jws string) map[string]any {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("terms %q", jws)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// csvRows reads a report CSV into records by header name.
func csvRows(t *testing.T, raw []byte) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil || len(recs) < 1 {
		t.Fatalf("CSV: %v", err)
	}
	out := make([]map[string]string, len(recs))
	for i, r := range recs {
		out[i] = map[string]string{}
		for j, h := range recs[0] {
			out[i][h] = r[j]
		}
	}
	return out
}

// TestFulfilment: an invoice created with fulfilled: false is paid as
// usual with fulfilment pending; fulfil refuses it before it is paid, sets
// it fulfilled once with an invoice.updated event, and answers the same
// after; a paid invoice never fulfilled is "to refund" in the report after
// the refund delay (default 7 days), not before.
func TestFulfilment(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		start := e.clock.Now().Add(-time.Minute)
		vend := e.createInvoice(map[string]any{"amount": "3.50", "currency": "USD", "fulfilled": false, "merchant_order_id": "vend-1"})
		id := str(t, vend, "id")
		if f := vend["fulfilment"].(map[string]any); f["status"] != "pending" || f["fulfilled_at"] != nil {
			t.Fatalf("fulfilment %v", f)
		}
		plain := e.createInvoice(map[string]any{"amount": "3.50", "currency": "USD"})
		if f := plain["fulfilment"].(map[string]any); f["status"] != "not_required" {
			t.Fatalf("default fulfilment %v", f)
		}
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/fulfil", e.key, nil), 409, "invoice_not_fulfillable")
		e.simulate(id, map[string]any{"amount": "3.50"})
		e.simulate(str(t, plain, "id"), map[string]any{"amount": "3.50"})
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+str(t, plain, "id")+"/fulfil", e.key, nil), 409, "invoice_not_fulfillable")
		if got := e.invoiceOf(id); got["status"] != "paid" || got["fulfilment"].(map[string]any)["status"] != "pending" {
			t.Fatalf("paid vending invoice %v %v", got["status"], got["fulfilment"])
		}

		report := func() []any {
			q := "/api/v1/reports/reconciliation?from=" + url.QueryEscape(start.UTC().Format(time.RFC3339)) +
				"&to=" + url.QueryEscape(e.clock.Now().Add(time.Minute).UTC().Format(time.RFC3339))
			return e.mustStatus(e.do("GET", q, e.key, nil), http.StatusOK).JSON["attention"].([]any)
		}
		e.clock.Advance(invoice.DefaultFulfilmentRefundAfter - time.Hour)
		if att := report(); len(att) != 0 {
			t.Errorf("to refund before the delay: %v", att)
		}
		e.clock.Advance(2 * time.Hour)
		att := report()
		if len(att) != 1 || att[0].(map[string]any)["invoice_id"] != id || att[0].(map[string]any)["fulfilment"] != "pending" ||
			!strings.HasPrefix(att[0].(map[string]any)["reason"].(string), "to refund") {
			t.Fatalf("attention after the delay: %v", att)
		}
		q := "/api/v1/reports/reconciliation?format=csv&from=" + url.QueryEscape(start.UTC().Format(time.RFC3339)) +
			"&to=" + url.QueryEscape(e.clock.Now().Add(time.Minute).UTC().Format(time.RFC3339))
		rows := csvRows(t, e.mustStatus(e.do("GET", q, e.key, nil), http.StatusOK).Raw)
		last := rows[len(rows)-1]
		if last["record"] != "attention" || last["invoice_id"] != id || last["fulfilment"] != "pending" || !strings.HasPrefix(last["note"], "to refund") {
			t.Errorf("CSV attention row %v", last)
		}

		done := e.mustStatus(e.do("POST", "/api/v1/invoices/"+id+"/fulfil", e.key, nil), http.StatusOK).JSON
		f := done["fulfilment"].(map[string]any)
		if f["status"] != "fulfilled" || f["fulfilled_at"] == nil || done["status"] != "paid" {
			t.Fatalf("fulfilled %v", done)
		}
		evs := e.eventsOf(id, invoice.EventInvoiceUpdated)
		if n := len(evs); n < 2 || evs[n-1]["object"].(map[string]any)["fulfilment"].(map[string]any)["status"] != "fulfilled" || evs[n-1]["previous_status"] != "paid" {
			t.Fatalf("fulfil event: %v", evs)
		}
		again := e.mustStatus(e.do("POST", "/api/v1/invoices/"+id+"/fulfil", e.key, nil), http.StatusOK).JSON
		if again["fulfilment"].(map[string]any)["fulfilled_at"] != f["fulfilled_at"] || len(e.eventsOf(id, invoice.EventInvoiceUpdated)) != len(evs) {
			t.Errorf("fulfilling again changed the invoice or wrote an event")
		}
		if att := report(); len(att) != 0 {
			t.Errorf("still to refund once fulfilled: %v", att)
		}
		_, otherKey := e.otherMerchant()
		e.wantProblem(e.do("POST", "/api/v1/invoices/"+id+"/fulfil", otherKey, nil), 404, "not_found")
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestPushToCardReturned: a push the card network returns after the
// credit reverses its payment: the paid invoice is open again, its
// session_status failed, and the reversed payment's invoice_payment.updated
// is the payment_failed event; the same return again is a duplicate; an
// unknown or mismatched return changes nothing; a new push pays it.
func TestPushToCardReturned(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		acct, secret := e.railAccount(e.key, map[string]any{"rail": "push_to_card", "processor_id": "acq_visa_direct_01"})
		inv := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{"push_to_card"}})
		id, ref := str(t, inv, "id"), str(t, instructions(t, inv)[0], "reference")
		const path = "/api/v1/rails/push_to_card/notifications"
		push := func(body string) response {
			return e.signed(path, acct, secret, []byte(body), time.Now(), "application/json")
		}
		credit := `{"id":"ptc_01JPAID","type":"push_to_card.credited","amount":2500,"currency":"USD","card_last4":"4242","network":"visa","reference":"` + ref + `","created":` + itoa(int(time.Now().Unix())) + `}`
		if res := results(t, e.mustStatus(push(credit), http.StatusOK)); res[0]["status"] != "matched" {
			t.Fatalf("credit %v", res)
		}
		e.wantPaid(id)
		returned := func(original string, amount int) string {
			return `{"id":"ptcr_01JRET","type":"push_to_card.returned","original_id":"` + original + `","return_reason":"card_closed","amount":` + itoa(amount) +
				`,"currency":"USD","card_last4":"4242","network":"visa","created":` + itoa(int(time.Now().Unix())) + `}`
		}
		before := e.counts()
		e.wantProblem(push(returned("ptc_unknown", 2500)), 404, "credit_not_found")
		e.wantProblem(push(returned("ptc_01JPAID", 2400)), 409, "return_mismatch")
		if after := e.counts(); after.String() != before.String() {
			t.Fatalf("refused returns wrote %v (was %v)", after, before)
		}
		res := results(t, e.mustStatus(push(returned("ptc_01JPAID", 2500)), http.StatusOK))
		if res[0]["status"] != "returned" || res[0]["invoice_id"] != id || res[0]["payment_id"] == nil {
			t.Fatalf("return %v", res)
		}
		got := e.invoiceOf(id)
		if got["status"] != "open" || got["amount_paid"] != "0.00" || got["session_status"] != "failed" || got["paid_at"] != nil {
			t.Fatalf("after the return: %v %v %v", got["status"], got["amount_paid"], got["session_status"])
		}
		evs := e.eventsOf(id, invoice.EventInvoicePaymentUpdated)
		if len(evs) != 2 || evs[1]["object"].(map[string]any)["status"] != "reversed" || evs[1]["object"].(map[string]any)["id"] != res[0]["payment_id"] {
			t.Errorf("payment events %v", evs)
		}
		if o := evs[len(evs)-1]["object"].(map[string]any); o["return_code"] != "card_closed" || o["return_reason"] != "card closed" {
			t.Errorf("the processor's return reason on the reversed payment: %v", o)
		}
		if upd := e.eventsOf(id, invoice.EventInvoiceUpdated); len(upd) != 2 || upd[1]["previous_status"] != "paid" {
			t.Errorf("invoice.updated %v", upd)
		}
		if dup := results(t, e.mustStatus(push(returned("ptc_01JPAID", 2500)), http.StatusOK)); dup[0]["status"] != "duplicate" ||
			len(e.eventsOf(id, invoice.EventInvoicePaymentUpdated)) != 2 {
			t.Errorf("the same return again: %v", dup)
		}
		// Another merchant's account cannot return this merchant's credit.
		_, otherKey := e.otherMerchant()
		oacct, osecret := e.railAccount(otherKey, map[string]any{"rail": "push_to_card", "processor_id": "acq_visa_direct_02"})
		r := e.signed(path, oacct, osecret, []byte(returned("ptc_01JPAID", 2500)), time.Now(), "application/json")
		e.wantProblem(r, 404, "credit_not_found")

		again := `{"id":"ptc_01JAGAIN","type":"push_to_card.credited","amount":2500,"currency":"USD","card_last4":"1881","network":"visa","reference":"` + ref + `","created":` + itoa(int(time.Now().Unix())) + `}`
		e.mustStatus(push(again), http.StatusOK)
		if got := e.invoiceOf(id); got["status"] != "paid" || got["exception"] != "none" || got["session_status"] != "succeeded" {
			t.Errorf("paid again: %v %v %v", got["status"], got["exception"], got["session_status"])
		}
	})
}

// withTipIndicator returns the static QRIS payload with ID 55 (tip or
// convenience indicator) set to 01, "the wallet prompts for a tip", and its
// CRC recomputed.
func withTipIndicator(t *testing.T, static string) string {
	t.Helper()
	at := strings.Index(static, "5802ID")
	if at < 0 {
		t.Fatal("no country code in the static payload")
	}
	body := static[:at] + "550201" + static[at:len(static)-4]
	return body + strings.ToUpper(fmt.Sprintf("%04x", fiat.CRC16([]byte(body))))
}

// TestQRISWalletTip: a QRIS merchant whose static code prompts for a tip
// keeps that prompt in the dynamic payload of an invoice with allow_tip
// (not of one without); the payment of the total plus the wallet's tip,
// matched by reference, is paid without exception and states the tip; a
// wallet tip above the cap is an over-payment, not a tip.
func TestQRISWalletTip(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		_, secret := e.railAccount(e.key, map[string]any{"rail": "qris", "qris_payload": withTipIndicator(t, staticQRIS)})
		plain := instructions(t, e.createInvoice(map[string]any{"amount": "25000", "currency": "IDR", "payment_methods": []string{"qris"}}))[0]
		if plain["wallet_tip"] != nil || fiat.WalletTip(str(t, plain, "qris_payload")) != "" {
			t.Errorf("an invoice without allow_tip kept the tip prompt: %v", plain)
		}
		pay := func(inv map[string]any, extra int64) map[string]any {
			in := instructions(t, inv)[0]
			total, _ := strconv.ParseInt(str(t, in, "total_amount"), 10, 64)
			cb := map[string]any{"amount": strconv.FormatInt(total+extra, 10), "sender_name": "JANE", "reference": str(t, in, "reference")}
			r := e.mustStatus(e.do("POST", "/api/v1/rails/qris/callback", "", cb, "X-Callback-Key", secret), http.StatusOK).JSON
			if r["status"] != "matched" {
				t.Fatalf("callback %v", r)
			}
			return e.invoiceOf(str(t, inv, "id"))
		}

		inv := e.createInvoice(map[string]any{"amount": "25000", "currency": "IDR", "payment_methods": []string{"qris"}, "allow_tip": true})
		in := instructions(t, inv)[0]
		if in["wallet_tip"] != "prompt" || fiat.WalletTip(str(t, in, "qris_payload")) != "prompt" {
			t.Fatalf("the tip prompt was stripped: %v", in)
		}
		got := pay(inv, 2000)
		if got["status"] != "paid" || got["exception"] != "none" || got["tip_amount"] != "2000" || got["amount"] != "25000" || got["amount_due"] != "0" {
			t.Errorf("paid with a wallet tip: %v %v tip %v due %v", got["status"], got["exception"], got["tip_amount"], got["amount_due"])
		}
		evs := e.eventsOf(str(t, inv, "id"), invoice.EventInvoiceUpdated)
		if len(evs) != 2 || evs[0]["object"].(map[string]any)["tip_amount"] != "2000" || evs[1]["previous_status"] != "open" {
			t.Errorf("events %v", evs)
		}

		over := e.createInvoice(map[string]any{"amount": "25000", "currency": "IDR", "payment_methods": []string{"qris"}, "allow_tip": true})
		got = pay(over, 6000) // the cap is 20 %: 5000
		if got["status"] != "paid" || got["exception"] != "overpaid" || got["tip_amount"] != "0" {
			t.Errorf("a wallet tip above the cap: %v %v tip %v", got["status"], got["exception"], got["tip_amount"])
		}
	})
}

// TestTipThenStaleChoose: a session read before the payor's tip (another
// tab) still gets the instructions for the total with the tip when it
// chooses a method, and signed terms that state the tip.
func TestTipThenStaleChoose(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		checkout := payor.NewService(e.svc, e.cat, e.signer, payor.NewTerms(db.DB, e.clock.Now))
		inv := e.createInvoice(map[string]any{"amount": "20.00", "currency": "USD", "allow_tip": true, "payment_methods": []string{"usdc_base_sepolia"}})
		token, sig := handles(t, inv)
		ctx := context.Background()
		stale, err := checkout.Open(ctx, token, sig)
		if err != nil {
			t.Fatal(err)
		}
		e.mustStatus(e.payor("POST", "/api/v1/payor/session/tip", token, sig, map[string]any{"amount": "2.00"}), http.StatusOK)
		v, err := checkout.Choose(ctx, stale, "usdc_base_sepolia")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(v.Amount, "22.00") || termsClaims(t, v.Terms)["tip_amount"] != "2.00" {
			t.Errorf("instructions %s, terms %v: want the total with the tip", v.Amount, termsClaims(t, v.Terms))
		}
		e.wantProblem(e.payor("POST", "/api/v1/payor/session/tip", token, sig, map[string]any{"amount": "3.00"}), 409, "tip_closed")
	})
}

// withTipTags is staticQRIS with the EMVCo tip data objects tags (IDs
// 55–57, encoded) before the country code, its CRC recomputed.
func withTipTags(t *testing.T, tags string) string {
	t.Helper()
	at := strings.Index(staticQRIS, "5802ID")
	if at < 0 {
		t.Fatal("no country code in the static payload")
	}
	body := staticQRIS[:at] + tags + staticQRIS[at:len(staticQRIS)-4]
	return body + strings.ToUpper(fmt.Sprintf("%04x", fiat.CRC16([]byte(body))))
}

// TestQRISWalletTipByAmount pays QRIS invoices with callbacks that carry
// no reference, so that only the amount names the invoice, and the payor's
// wallet added the merchant's tip (its static payload's tags kept in the
// invoice's dynamic one) on top of the total:
//   - prompt (55 = 01): total + 2000 lands as the payment plus a 2000 tip,
//     paid without exception; sent again it is a duplicate (nothing moves);
//     above the cap, or on an invoice without allow_tip, it names no
//     invoice and is kept unmatched (the invoice stays open);
//   - two open invoices either of which the amount could pay with a tip:
//     kept unmatched, not guessed;
//   - a late tipped payment (after expires_at, within the hold) is paid
//     late with its tip;
//   - fixed fee (55 = 02, 56 = 2000): only total + 2000 is its tip;
//   - percentage (55 = 03, 57 = 10): total + 10 % of the total.
func TestQRISWalletTipByAmount(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		type variant struct {
			name, tags string
			tip        func(total int64) int64 // the wallet's tip on a total
			wrongTip   int64                   // a tip within the cap that this payload's wallet never adds (0: none)
		}
		e := setup(t, db)
		account := ""
		for _, v := range []variant{
			{"prompt", "550201", func(int64) int64 { return 2000 }, 0},
			{"fixed", "55020256042000", func(int64) int64 { return 2000 }, 1500},
			{"percent", "550203570210", func(total int64) int64 { return total / 10 }, 1000},
		} {
			t.Run(v.name, func(t *testing.T) {
				if account != "" { // one QRIS account at a time: this variant's payload
					e.mustStatus(e.do("DELETE", "/api/v1/rail-accounts/"+account, e.key, nil), http.StatusOK)
				}
				var secret string
				account, secret = e.railAccount(e.key, map[string]any{"rail": "qris", "qris_payload": withTipTags(t, v.tags)})
				// callback answers the outcome; an unmatched credit is a 404
				// no_matching_invoice, reported as status unmatched.
				callback := func(amount int64) map[string]any {
					t.Helper()
					r := e.do("POST", "/api/v1/rails/qris/callback", "", map[string]any{"amount": strconv.FormatInt(amount, 10), "sender_name": "JANE"},
						"X-Callback-Key", secret)
					if r.Status == http.StatusNotFound && r.JSON["code"] == "no_matching_invoice" {
						return map[string]any{"status": "unmatched"}
					}
					return e.mustStatus(r, http.StatusOK).JSON
				}
				totalOf := func(inv map[string]any) int64 {
					t.Helper()
					in := instructions(t, inv)[0]
					if in["wallet_tip"] == nil {
						t.Fatalf("instruction without wallet_tip: %v", in)
					}
					n, _ := strconv.ParseInt(str(t, in, "total_amount"), 10, 64)
					return n
				}
				newInvoice := func(amount string, tip bool) map[string]any {
					return e.createInvoice(map[string]any{"amount": amount, "currency": "IDR", "payment_methods": []string{"qris"}, "allow_tip": tip})
				}

				inv := newInvoice("25000", true)
				total := totalOf(inv)
				tip := v.tip(total)
				if v.wrongTip != 0 {
					if r := callback(total + v.wrongTip); r["status"] != "unmatched" {
						t.Errorf("a tip this wallet never adds: %v", r)
					}
				}
				r := callback(total + tip)
				if r["status"] != "matched" || r["invoice_id"] != inv["id"] {
					t.Fatalf("tipped callback: %v, want matched to %v", r, inv["id"])
				}
				got := e.invoiceOf(str(t, inv, "id"))
				if got["status"] != "paid" || got["exception"] != "none" || got["tip_amount"] != strconv.FormatInt(tip, 10) || got["amount_paid"] != strconv.FormatInt(total+tip, 10) || got["amount_due"] != "0" {
					t.Errorf("paid with a wallet tip of %d: %v %v tip %v paid %v due %v", tip, got["status"], got["exception"], got["tip_amount"], got["amount_paid"], got["amount_due"])
				}
				payments := e.count("payments")
				if r := callback(total + tip); r["status"] != "duplicate" || r["invoice_id"] != inv["id"] {
					t.Errorf("the same callback again: %v, want a duplicate of the payment", r)
				}
				if n := e.count("payments"); n != payments {
					t.Errorf("a repeated callback stored %d payments", n-payments)
				}
				if v.name != "prompt" {
					return
				}

				// Above the cap (20 % of 25000 = 5000): no invoice.
				capped := newInvoice("25000", true)
				if r := callback(totalOf(capped) + 5001); r["status"] != "unmatched" {
					t.Errorf("a tip above the cap: %v", r)
				}
				if got := e.invoiceOf(str(t, capped, "id")); got["status"] != "open" || got["amount_paid"] != "0" {
					t.Errorf("above the cap moved the invoice: %v %v", got["status"], got["amount_paid"])
				}
				// At the cap: the tip.
				if r := callback(totalOf(capped) + 5000); r["status"] != "matched" || r["invoice_id"] != capped["id"] {
					t.Errorf("a tip at the cap: %v", r)
				}
				if got := e.invoiceOf(str(t, capped, "id")); got["status"] != "paid" || got["exception"] != "none" || got["tip_amount"] != "5000" {
					t.Errorf("a tip at the cap: %v %v tip %v", got["status"], got["exception"], got["tip_amount"])
				}
				// Without allow_tip the payload has no tip tags: no match.
				plain := e.createInvoice(map[string]any{"amount": "30000", "currency": "IDR", "payment_methods": []string{"qris"}})
				pt, _ := strconv.ParseInt(str(t, instructions(t, plain)[0], "total_amount"), 10, 64)
				if r := callback(pt + 1000); r["status"] != "unmatched" {
					t.Errorf("a tip on an invoice without allow_tip: %v", r)
				}
				// Two invoices the amount could pay with a tip: not guessed.
				a, b := newInvoice("40000", true), newInvoice("40000", true)
				if r := callback(max(totalOf(a), totalOf(b)) + 3000); r["status"] != "unmatched" || !strings.Contains(fmt.Sprint(e.lastUnmatched()["detail"]), "several") {
					t.Errorf("ambiguous tipped amount: %v", r)
				}
				for _, x := range []map[string]any{a, b} {
					if got := e.invoiceOf(str(t, x, "id")); got["status"] != "open" || got["tip_amount"] != "0" {
						t.Errorf("ambiguous tipped amount moved %v: %v tip %v", x["id"], got["status"], got["tip_amount"])
					}
				}
				// Late, within the hold: paid late, with the tip.
				late := newInvoice("50000", true)
				e.clock.Advance(16 * time.Minute)
				if _, err := e.svc.ExpireDue(context.Background(), 100); err != nil {
					t.Fatal(err)
				}
				if got := e.invoiceOf(str(t, late, "id")); got["status"] != "expired" {
					t.Fatalf("late invoice %v", got["status"])
				}
				if r := callback(totalOf(late) + 2500); r["status"] != "matched" || r["invoice_id"] != late["id"] {
					t.Errorf("a late tipped payment: %v", r)
				}
				if got := e.invoiceOf(str(t, late, "id")); got["status"] != "paid" || got["exception"] != "paid_late" || got["tip_amount"] != "2500" {
					t.Errorf("a late tipped payment: %v %v tip %v", got["status"], got["exception"], got["tip_amount"])
				}
			})
		}
	})
}

// lastUnmatched is the newest kept rail credit.
func (e *env) lastUnmatched() map[string]any {
	e.t.Helper()
	d := e.mustStatus(e.do("GET", "/api/v1/rail-unmatched", e.key, nil), http.StatusOK).JSON["data"].([]any)
	if len(d) == 0 {
		e.t.Fatal("no unmatched rail credit")
	}
	return d[0].(map[string]any)
}
