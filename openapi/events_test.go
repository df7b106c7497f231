package openapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice/storetest"
)

// sequence runs the events sequencer until nothing is left, as serve's
// sequencer loop would.
func (e *env) sequence() {
	e.t.Helper()
	seq := events.NewSequencer(e.db.DB, nil, &events.Signal{}, &events.Signal{})
	for {
		n, err := seq.Step(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

type eventPage struct {
	ids, types []string
	seqs       []float64
	more       bool
}

func (e *env) eventPage(key, query string) eventPage {
	e.t.Helper()
	r := e.mustStatus(e.do("GET", "/api/v1/events"+query, key, nil), http.StatusOK)
	var p eventPage
	for _, raw := range r.JSON["data"].([]any) {
		ev := raw.(map[string]any)
		if ev["object"] != "event" || ev["mode"] != "test" {
			e.t.Fatalf("event %v", ev)
		}
		if _, ok := ev["data"].(map[string]any)["object"].(map[string]any); !ok {
			e.t.Fatalf("event %v has no data.object", ev)
		}
		p.ids = append(p.ids, ev["id"].(string))
		p.types = append(p.types, ev["type"].(string))
		p.seqs = append(p.seqs, ev["sequence"].(float64))
	}
	p.more = r.JSON["has_more"].(bool)
	return p
}

func TestEventsRecovery(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		first := e.createInvoice(map[string]any{"amount": "25.00", "currency": "USD"})
		e.sequence()
		if p := e.eventPage(e.key, ""); len(p.ids) != 1 || p.types[0] != "invoice.created" || p.more {
			t.Fatalf("first page %+v", p)
		}
		// A payment: invoice_payment.updated then invoice.updated.
		e.simulate(str(t, first, "id"), map[string]any{"amount": "25.00"})
		var ids []string
		for i := range 7 {
			inv := e.createInvoice(map[string]any{"amount": fmt.Sprintf("%d.00", i+1), "currency": "USD"})
			ids = append(ids, str(t, inv, "id"))
		}
		// Not yet sequenced: not listed, so a reader never sees them out of order.
		if p := e.eventPage(e.key, ""); len(p.ids) != 1 {
			t.Fatalf("unsequenced events listed: %+v", p)
		}
		e.sequence()

		all := e.eventPage(e.key, "?limit=100")
		if len(all.ids) != 10 || all.more {
			t.Fatalf("all events: %+v", all)
		}
		if !slices.IsSorted(all.seqs) || len(slices.Compact(slices.Clone(all.seqs))) != 10 {
			t.Fatalf("sequences %v not strictly increasing", all.seqs)
		}
		if all.types[1] != "invoice_payment.updated" || all.types[2] != "invoice.updated" {
			t.Fatalf("types %v: the payment's events must follow in the order they were written", all.types)
		}

		// Paging by cursor: pages of 3 join up to the whole list, no gap, no duplicate.
		var paged []string
		after := ""
		for {
			p := e.eventPage(e.key, "?limit=3"+after)
			paged = append(paged, p.ids...)
			if !p.more {
				break
			}
			after = "&after=" + p.ids[len(p.ids)-1]
		}
		if !slices.Equal(paged, all.ids) {
			t.Fatalf("pages %v\nwant %v", paged, all.ids)
		}

		// Filters.
		if p := e.eventPage(e.key, "?type=invoice.updated"); len(p.ids) != 1 || p.ids[0] != all.ids[2] {
			t.Fatalf("type filter: %+v", p)
		}
		if p := e.eventPage(e.key, "?invoice_id="+ids[3]); len(p.ids) != 1 || p.types[0] != "invoice.created" {
			t.Fatalf("invoice filter: %+v", p)
		}

		// One event by id.
		one := e.mustStatus(e.do("GET", "/api/v1/events/"+all.ids[2], e.key, nil), http.StatusOK).JSON
		if one["id"] != all.ids[2] || one["type"] != "invoice.updated" || one["sequence"] != all.seqs[2] {
			t.Fatalf("get event: %v", one)
		}
		data := one["data"].(map[string]any)
		if data["previous_status"] != "open" || data["object"].(map[string]any)["status"] != "paid" {
			t.Fatalf("invoice.updated data: %v", data)
		}
	})
}

func TestEventsIsolationAndBadInput(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		e.createInvoice(map[string]any{"amount": "1.00", "currency": "USD"})
		_, otherKey := e.otherMerchant()
		other := e.createInvoiceWith(otherKey, map[string]any{"amount": "2.00", "currency": "USD"})
		live := e.liveKey()
		e.createInvoiceWith(live, map[string]any{"amount": "3.00", "currency": "USD"})
		e.sequence()

		mine := e.eventPage(e.key, "")
		theirs := e.eventPage(otherKey, "")
		if len(mine.ids) != 1 || len(theirs.ids) != 1 || mine.ids[0] == theirs.ids[0] {
			t.Fatalf("mine %v theirs %v", mine.ids, theirs.ids)
		}
		r := e.mustStatus(e.do("GET", "/api/v1/events", live, nil), http.StatusOK)
		liveData := r.JSON["data"].([]any)
		if len(liveData) != 1 || liveData[0].(map[string]any)["mode"] != "live" {
			t.Fatalf("live key sees %v", liveData)
		}

		before := e.counts()
		// Another merchant's event is not found, nor usable as a cursor.
		e.wantProblem(e.do("GET", "/api/v1/events/"+theirs.ids[0], e.key, nil), http.StatusNotFound, "not_found")
		e.wantProblem(e.do("GET", "/api/v1/events?after="+theirs.ids[0], e.key, nil), http.StatusUnprocessableEntity, "invalid_cursor")
		e.wantProblem(e.do("GET", "/api/v1/events?after=evt_nope", e.key, nil), http.StatusUnprocessableEntity, "invalid_cursor")
		e.wantProblem(e.do("GET", "/api/v1/events?type=invoice.paid", e.key, nil), http.StatusUnprocessableEntity, "invalid_event_type")
		e.wantProblem(e.do("GET", "/api/v1/events?limit=101", e.key, nil), http.StatusUnprocessableEntity, "invalid_limit")
		e.wantProblem(e.do("GET", "/api/v1/events", "", nil), http.StatusUnauthorized, "unauthenticated")
		if p := e.eventPage(e.key, "?invoice_id="+str(t, other, "id")); len(p.ids) != 0 {
			t.Fatalf("filter by another merchant's invoice lists %v", p.ids)
		}
		if after := e.counts(); after.String() != before.String() {
			t.Fatalf("store changed: %v → %v", before, after)
		}
	})
}
