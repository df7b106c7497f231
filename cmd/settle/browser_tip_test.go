package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/settlepay/settle/invoice/storetest"
)

// TestTipInBrowser opens the hosted page of an invoice that allows a tip,
// at 360 px: the tip step comes before the methods, with presets capped at
// the invoice's cap and a custom amount; a tip above the cap is refused on
// the page and changes nothing; a preset adds the tip to the total, and the
// payment of amount and tip makes the invoice paid without exception.
func TestTipInBrowser(t *testing.T) {
	t.Parallel()
	alloc := browser(t)
	db := storetest.Open(t, "sqlite")
	key := e2eJSON(t, "merchants", "create", "--name", "Corner Café", "--database-url", db.URL)["test_api_key"].(string)
	api, stop := e2eServe(t, db.URL)
	defer stop()
	status, inv := e2eDo(t, "POST", api+"/api/v1/invoices", key,
		`{"amount":"20.00","currency":"USD","description":"Lunch for two","allow_tip":true,"tip_cap_percent":15}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	link, err := url.Parse(inv["payment_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	ctx := tab(t, alloc, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2)),
		chromedp.Navigate(api+link.RequestURI())); err != nil {
		t.Fatal(err)
	}
	isVisible := func(sel string) string { return fmt.Sprintf("(%s)(%q)", visible, sel) }
	await(t, ctx, "the tip step", isVisible("#tip")+` && `+isVisible(`[data-percent="10"]`))
	if eval[bool](t, ctx, isVisible("#pick")) || eval[bool](t, ctx, isVisible("#simulate")) {
		t.Error("methods or payment shown before the tip step is answered")
	}
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#tip-presets button')].map((b) => b.innerText.replace(/\s+/g, ' ')).join('|')`); got != "10% $2.00|15% $3.00" {
		t.Errorf("presets %q, want 10%% and 15%% (the cap) with their amounts", got)
	}
	if got := eval[string](t, ctx, `document.getElementById('tip-cap').textContent`); got != "$3.00" {
		t.Errorf("cap %q", got)
	}
	screenshot(t, ctx, "checkout-phone-tip-step.png")

	// Above the cap: refused, shown, nothing stored.
	if err := chromedp.Do(ctx, chromedp.SendKeys("#tip-amount", "3.50"), chromedp.Click("#tip-custom")); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "the cap explained", isVisible("#tip-error")+` && document.getElementById('tip-error').textContent.includes('$3.00')`)
	if _, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+inv["id"].(string), key, ""); got["tip_amount"] != "0.00" || got["amount_due"] != "20.00" {
		t.Errorf("after a refused tip: %v due %v", got["tip_amount"], got["amount_due"])
	}
	screenshot(t, ctx, "checkout-phone-tip-above-cap.png")

	eval[bool](t, ctx, `window.settleTestMarker = true`)
	if err := chromedp.Do(ctx, chromedp.Click(`[data-percent="15"]`)); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "the payment step with the tip", isVisible("#simulate-full")+` && `+isVisible("#tip-line")+` && !`+isVisible("#tip"))
	if got := eval[string](t, ctx, `document.getElementById('amount').textContent`); !strings.Contains(got, "23.00") {
		t.Errorf("total %q, want 23.00", got)
	}
	if got := eval[string](t, ctx, `document.getElementById('tip-line').textContent`); !strings.Contains(got, "20.00") || !strings.Contains(got, "3.00") {
		t.Errorf("tip line %q", got)
	}
	await(t, ctx, "the full amount offered", `document.getElementById('simulate-full').textContent.includes('23.00')`)
	screenshot(t, ctx, "checkout-phone-tip-added.png")
	if err := chromedp.Do(ctx, chromedp.Click("#simulate-full")); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "paid", isVisible("#paid")+` && document.getElementById('status').dataset.status === 'paid'`)
	if !eval[bool](t, ctx, `window.settleTestMarker === true`) {
		t.Error("the page reloaded")
	}
	if got := eval[string](t, ctx, `document.getElementById('paid-amount').textContent`); !strings.Contains(got, "23.00") {
		t.Errorf("paid amount %q", got)
	}
	_, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+inv["id"].(string), key, "")
	if got["status"] != "paid" || got["exception"] != "none" || got["tip_amount"] != "3.00" || got["amount_paid"] != "23.00" ||
		got["session_status"] != "succeeded" || got["scanned_at"] == nil {
		t.Errorf("invoice %v/%v tip %v paid %v session %v scanned %v", got["status"], got["exception"], got["tip_amount"],
			got["amount_paid"], got["session_status"], got["scanned_at"])
	}
	screenshot(t, ctx, "checkout-phone-tip-paid.png")
}
