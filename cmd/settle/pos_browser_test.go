package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCashierInBrowser signs a terminal in on the cashier screen (/pos)
// in headless Chromium, by keyboard only, at 390 px (a phone) and at
// 1024 px (a tablet at the counter): the cashier types an amount, turns
// the tip on and charges; the page shows the QR code of the payment page;
// the customer pays from the devnet wallet (a real ERC-20 transfer); the
// screen turns to paid, with a tone, and lists the sale among today's. A
// second sale is cancelled with Esc; at 1024 px a third, of one minute,
// expires and the screen turns red. No console error, CSP violation or
// exception may occur (see tab).
func TestCashierInBrowser(t *testing.T) {
	t.Parallel()
	alloc := browser(t)
	dn := startDevnet(t, t.TempDir())
	api, key := dn["api_url"], dn["api_key"]
	status, tm := e2eDo(t, "POST", api+"/api/v1/terminals", key, `{"name":"Counter 1"}`)
	if status != 201 {
		t.Fatalf("create terminal: %d %v", status, tm)
	}
	isVisible := func(sel string) string { return fmt.Sprintf("(%s)(%q)", visible, sel) }
	state := func(s string) string { return `document.body.dataset.state === '` + s + `'` }

	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
		amount        string
	}{
		{"390", 390, 844, true, "7.25"},
		{"1024", 1024, 768, false, "18.40"},
	} {
		t.Run(vp.name, func(t *testing.T) {
			ctx := tab(t, alloc, 240*time.Second)
			opts := []chromedp.EmulateViewportOption{}
			if vp.mobile {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2))
			}
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...), chromedp.Navigate(api+"/pos")); err != nil {
				t.Fatal(err)
			}
			await(t, ctx, "sign-in form focused", isVisible("#signin")+` && document.activeElement.id === 'terminal-id'`)
			// Keyboard only: type, Tab to the next field, Enter submits.
			keys := tm["id"].(string) + "\t" + tm["api_key"].(string) + "\t" + tm["command_secret"].(string) + "\r"
			if err := chromedp.Do(ctx, chromedp.KeyEvent(keys)); err != nil {
				t.Fatal(err)
			}
			await(t, ctx, "signed in and online", state("entry")+` && document.getElementById('link').dataset.link === 'on' && document.activeElement.id === 'amount'`)
			if got := eval[string](t, ctx, `sessionStorage.getItem('settle-pos')`); !strings.Contains(got, tm["command_secret"].(string)) {
				t.Errorf("the secret is not kept in sessionStorage: %q", got)
			}
			if got := eval[string](t, ctx, `localStorage.length + document.cookie`); got != "0" {
				t.Errorf("something was kept beyond the tab: %q", got)
			}
			await(t, ctx, "terminal name", `document.getElementById('terminal-name').textContent === 'Counter 1'`)

			// Count the tones the page starts (its beep), in the page's
			// own audio context.
			eval[string](t, ctx, `window.tones = 0; (orig => { AudioContext.prototype.createOscillator = function () {
				const o = orig.call(this); const start = o.start.bind(o); o.start = (...a) => { window.tones++; return start(...a); }; return o;
			}; })(AudioContext.prototype.createOscillator), ''`)
			// Amount, Tab to the currency, Tab to the tip, Space, Tab, Enter.
			if err := chromedp.Do(ctx, chromedp.KeyEvent(vp.amount+"\t\t \t\r")); err != nil {
				t.Fatal(err)
			}
			await(t, ctx, "QR code", state("sale")+` && document.getElementById('qr').naturalWidth > 0 && document.activeElement.id === 'cancel'`)
			id := eval[string](t, ctx, `document.getElementById('sale').dataset.invoice`)
			if got := eval[string](t, ctx, `document.getElementById('sale-amount').textContent`); got != vp.amount+" USD" {
				t.Errorf("sale amount %q", got)
			}
			if w := eval[float64](t, ctx, `document.documentElement.scrollWidth`); w > float64(vp.width) {
				t.Errorf("page is %v px wide in a %d px viewport", w, vp.width)
			}
			screenshot(t, ctx, "pos-"+vp.name+"-qr.png")
			status, inv := e2eDo(t, "GET", api+"/api/v1/invoices/"+id, key, "")
			if status != 200 || inv["terminal_id"] != tm["id"] || inv["amount"] != vp.amount || inv["allow_tip"] != true {
				t.Fatalf("invoice on screen: %d %v", status, inv)
			}
			if url := eval[string](t, ctx, `document.getElementById('sale-url').textContent`); url != inv["payment_url"] {
				t.Errorf("payment URL on screen %q, want %v", url, inv["payment_url"])
			}

			// The customer pays with the devnet wallet.
			h := inv["payment_session_headers"].(map[string]any)
			status, res := e2eDoWith(t, "POST", api+"/api/v1/payor/session/devnet-pay", map[string]string{
				"x-session-token": h["x-session-token"].(string), "x-signature": h["x-signature"].(string),
			}, `{"method":"usdc_devnet"}`)
			if status != 200 {
				t.Fatalf("devnet pay: %d %v", status, res)
			}
			await(t, ctx, "paid screen", state("paid")+" && "+isVisible("#paid")+` && document.activeElement.id === 'next-paid'`)
			if n := eval[float64](t, ctx, `window.tones`); n == 0 {
				t.Error("no sound on payment")
			}
			if got := eval[string](t, ctx, `document.getElementById('paid-amount').textContent`); got != vp.amount+" USD" {
				t.Errorf("paid amount %q", got)
			}
			if bg := eval[string](t, ctx, `getComputedStyle(document.getElementById('paid')).backgroundColor`); bg == "rgba(0, 0, 0, 0)" {
				t.Error("the paid screen has no colour")
			}
			await(t, ctx, "today's sales", fmt.Sprintf(`!!document.querySelector('#sales-list li[data-invoice=%q][data-status="paid"]')`, id))
			screenshot(t, ctx, "pos-"+vp.name+"-paid.png")

			// Enter: a new sale; Esc cancels it.
			if err := chromedp.Do(ctx, chromedp.KeyEvent("\r")); err != nil {
				t.Fatal(err)
			}
			await(t, ctx, "new sale", state("entry")+` && document.activeElement.id === 'amount'`)
			if err := chromedp.Do(ctx, chromedp.KeyEvent("1\r")); err != nil {
				t.Fatal(err)
			}
			await(t, ctx, "second sale", state("sale")+` && document.getElementById('sale').dataset.invoice !== '`+id+`'`)
			second := eval[string](t, ctx, `document.getElementById('sale').dataset.invoice`)
			if err := chromedp.Do(ctx, chromedp.KeyEvent("\x1b")); err != nil {
				t.Fatal(err)
			}
			await(t, ctx, "cancelled", state("entry")+fmt.Sprintf(` && !!document.querySelector('#sales-list li[data-invoice=%q][data-status="cancelled"]')`, second))
			if _, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+second, key, ""); got["status"] != "cancelled" {
				t.Errorf("second sale %v", got["status"])
			}
			if vp.name != "1024" {
				return
			}
			// A sale nobody pays within its minute turns the screen red.
			await(t, ctx, "entry after the cancel", state("entry")+` && document.activeElement.id === 'amount'`)
			eval[string](t, ctx, `document.getElementById('expires').value = '60', ''`)
			if err := chromedp.Do(ctx, chromedp.KeyEvent("2\r")); err != nil {
				t.Fatal(err)
			}
			await(t, ctx, "third sale", state("sale")+` && document.getElementById('sale').dataset.invoice !== '`+second+`'`)
			third := eval[string](t, ctx, `document.getElementById('sale').dataset.invoice`)
			if _, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+third, key, ""); got["expires_at"] == nil {
				t.Fatalf("third sale %v", got)
			}
			awaitWithin(t, ctx, 100*time.Second, "expired screen", state("expired")+" && "+isVisible("#expired")+` && document.activeElement.id === 'next-expired'`)
			if bg := eval[string](t, ctx, `getComputedStyle(document.getElementById('expired')).backgroundColor`); bg == "rgba(0, 0, 0, 0)" {
				t.Error("the expired screen has no colour")
			}
			if _, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+third, key, ""); got["status"] != "expired" {
				t.Errorf("third sale %v, want expired", got["status"])
			}
			screenshot(t, ctx, "pos-"+vp.name+"-expired.png")
		})
	}
}
