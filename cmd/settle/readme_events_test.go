package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/payor"
)

// TestREADMEEventTypes: the README's list of events (API overview,
// "Events.") names exactly the types a webhook endpoint with ["*"]
// receives, and that list holds every type the code writes.
func TestREADMEEventTypes(t *testing.T) {
	t.Parallel()
	written := []string{
		invoice.EventInvoiceCreated, invoice.EventInvoiceUpdated, invoice.EventInvoicePaymentUpdated,
		payor.EventCheckoutScanned, payor.EventCheckoutOpened, payor.EventCheckoutLocked, events.TypeWebhookEndpointDisabled,
	}
	all := &events.Endpoint{EnabledEvents: []string{"*"}}
	for _, typ := range written {
		if !slices.Contains(events.Types, typ) || !all.Accepts(typ) {
			t.Errorf("%s is written but not among events.Types, or not sent to a [\"*\"] endpoint", typ)
		}
	}

	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	at := strings.Index(readme, "\n**Events.**")
	if at < 0 {
		t.Fatal(`README has no "**Events.**" paragraph`)
	}
	para := readme[at+1:]
	para = para[:strings.Index(para+"\n\n", "\n\n")]
	var listed []string
	for _, m := range regexp.MustCompile("`([a-z_]+\\.[a-z_]+)`").FindAllStringSubmatch(para, -1) {
		if !strings.HasPrefix(m[1], "data.") && !slices.Contains(listed, m[1]) { // data.previous_status is a field
			listed = append(listed, m[1])
		}
	}
	want := slices.Clone(events.Types)
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("the README's Events paragraph lists %v; the code's event types are %v", listed, want)
	}
}
