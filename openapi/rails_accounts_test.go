package openapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice/storetest"
)

func TestRailAccountsAPI(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		const path = "/api/v1/rail-accounts"
		created := e.mustStatus(e.do("POST", path, e.key, bankAccount("fednow")), http.StatusCreated).JSON
		id, secret := str(t, created, "id"), str(t, created, "callback_secret")
		if !strings.HasPrefix(id, "rla_") || !strings.HasPrefix(secret, "rcs_") || len(secret) < 40 {
			t.Errorf("id %q, secret %q", id, secret)
		}
		if created["object"] != "rail_account" || created["mode"] != "test" || created["routing_number"] != "021000021" {
			t.Errorf("created %v", created)
		}
		got := e.mustStatus(e.do("GET", path+"/"+id, e.key, nil), http.StatusOK)
		if _, ok := got.JSON["callback_secret"]; ok || strings.Contains(string(got.Raw), secret) {
			t.Errorf("GET shows the secret again: %s", got.Raw)
		}
		list := e.mustStatus(e.do("GET", path, e.key, nil), http.StatusOK)
		if strings.Contains(string(list.Raw), secret) || len(list.JSON["data"].([]any)) != 1 {
			t.Errorf("list %s", list.Raw)
		}
		e.wantProblem(e.do("POST", path, e.key, bankAccount("fednow")), http.StatusConflict, "rail_account_exists")

		_, other := e.otherMerchant()
		e.wantProblem(e.do("GET", path+"/"+id, other, nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.do("DELETE", path+"/"+id, other, nil), http.StatusNotFound, "not_found")
		if l := e.mustStatus(e.do("GET", path, other, nil), http.StatusOK).JSON["data"].([]any); len(l) != 0 {
			t.Errorf("another merchant lists %v", l)
		}
		e.wantProblem(e.do("GET", path+"/"+id, e.liveKey(), nil), http.StatusNotFound, "not_found")

		before := e.count("rail_accounts")
		with := func(rail string, k string, v any) map[string]any {
			b := bankAccount(rail)
			b[k] = v
			return b
		}
		for name, tc := range map[string]struct {
			body map[string]any
			code string
		}{
			"unknown rail":          {map[string]any{"rail": "swift"}, "invalid_rail"},
			"bad routing digit":     {with("rtp", "routing_number", "021000022"), "invalid_routing_number"},
			"routing letters":       {with("rtp", "routing_number", "02100002X"), "invalid_routing_number"},
			"short account":         {with("ach", "account_number", "12"), "invalid_account_number"},
			"account with letters":  {with("ach", "account_number", "12AB5678"), "invalid_account_number"},
			"no account name":       {with("ach", "account_name", ""), "invalid_account_name"},
			"qris bad crc":          {map[string]any{"rail": "qris", "qris_payload": staticQRIS[:len(staticQRIS)-4] + "0000"}, "invalid_qris_payload"},
			"qris not a payload":    {map[string]any{"rail": "qris", "qris_payload": "hello"}, "invalid_qris_payload"},
			"push without id":       {map[string]any{"rail": "push_to_card"}, "invalid_processor_id"},
			"qris field on fednow":  {with("rtp", "qris_payload", staticQRIS), "invalid_rail_account"},
			"unknown field":         {with("rtp", "iban", "DE89"), "unknown_field"},
			"routing number length": {with("rtp", "routing_number", "0210000210"), "invalid_routing_number"},
		} {
			t.Run(name, func(t *testing.T) {
				e.wantProblem(e.do("POST", path, e.key, tc.body), http.StatusUnprocessableEntity, tc.code)
			})
		}
		if n := e.count("rail_accounts"); n != before {
			t.Errorf("refused creations stored %d accounts", n-before)
		}

		del := e.mustStatus(e.do("DELETE", path+"/"+id, e.key, nil), http.StatusOK).JSON
		if del["deleted"] != true {
			t.Errorf("delete %v", del)
		}
		e.wantProblem(e.do("GET", path+"/"+id, e.key, nil), http.StatusNotFound, "not_found")
		e.mustStatus(e.do("POST", path, e.key, bankAccount("fednow")), http.StatusCreated)
	})
}

func TestRailMethodsOnInvoices(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := setup(t, db)
		usd := map[string]any{"amount": "25.00", "currency": "USD"}
		inv := e.createInvoice(usd)
		if slices.Contains(inv["payment_methods"].([]any), any("fednow")) {
			t.Errorf("a merchant without rail accounts is offered fednow: %v", inv["payment_methods"])
		}
		e.wantProblem(e.do("POST", "/api/v1/invoices", e.key, map[string]any{"amount": "25.00", "currency": "USD", "payment_methods": []string{"fednow"}}),
			http.StatusUnprocessableEntity, "receiving_account_missing")

		e.railAccount(e.key, bankAccount("fednow"))
		e.railAccount(e.key, map[string]any{"rail": "push_to_card", "processor_id": "acq_01"})
		inv = e.createInvoice(usd)
		methods := inv["payment_methods"].([]any)
		if !slices.Contains(methods, any("fednow")) || !slices.Contains(methods, any("push_to_card")) || slices.Contains(methods, any("rtp")) {
			t.Errorf("methods %v, want fednow and push_to_card but not rtp", methods)
		}
		var ref string
		for _, in := range instructions(t, inv) {
			switch in["method"] {
			case "fednow":
				ref = str(t, in, "reference")
				if in["bank_name"] != "First Example Bank" || in["account_name"] != "Test Shop LLC" || in["account_number"] != "000123456789" ||
					in["routing_number"] != "021000021" || in["amount"] != "25.00" || in["asset"] != "USD" || in["network"] != "fednow" {
					t.Errorf("fednow instruction %v", in)
				}
			case "push_to_card":
				if in["address"] != "acq_01" || in["reference"] == "" {
					t.Errorf("push_to_card instruction %v", in)
				}
			}
		}
		if got, err := fiat.ParseReference(ref); err != nil || got != ref {
			t.Errorf("reference %q: %v", ref, err)
		}
		// A live key sees the rails too (they serve both modes).
		live := e.liveKey()
		e.railAccount(live, bankAccount("rtp"))
		linv := e.createInvoiceWith(live, map[string]any{"amount": "3.00", "currency": "USD", "payment_methods": []string{"rtp"}})
		if !slices.Equal(linv["payment_methods"].([]any), []any{"rtp"}) {
			t.Errorf("live methods %v", linv["payment_methods"])
		}

		// pain.013 for the merchant's bank.
		id := str(t, inv, "id")
		rfp := e.mustStatus(e.do("GET", "/api/v1/invoices/"+id+"/request-for-payment?rail=fednow", e.key, nil), http.StatusOK)
		if ct := rfp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
			t.Errorf("Content-Type %q", ct)
		}
		for _, want := range []string{fiat.Pain013Namespace, "<EndToEndId>" + ref + "</EndToEndId>", `Ccy="USD">25.00<`, "<MmbId>021000021</MmbId>", "000123456789"} {
			if !strings.Contains(string(rfp.Raw), want) {
				t.Errorf("pain.013 lacks %s:\n%s", want, rfp.Raw)
			}
		}
		e.wantProblem(e.do("GET", "/api/v1/invoices/"+id+"/request-for-payment?rail=rtp", e.key, nil), http.StatusUnprocessableEntity, "invalid_rail")
		e.wantProblem(e.do("GET", "/api/v1/invoices/"+id+"/request-for-payment?rail=ach", e.key, nil), http.StatusUnprocessableEntity, "invalid_rail")
	})
}
