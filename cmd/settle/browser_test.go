package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/payor/browsertest"
)

// browser starts headless Chromium for the test (browsertest.Browser).
func browser(t *testing.T) context.Context { return browsertest.Browser(t) }

// tab opens a new tab that fails the test on console errors (a CSP
// violation, a script error) and on uncaught exceptions.
func tab(t *testing.T, alloc context.Context, timeout time.Duration) context.Context {
	return browsertest.Tab(t, alloc, timeout)
}

// artifacts is where the browser tests leave their screenshots:
// SETTLE_TEST_ARTIFACTS, else a folder in the system's temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("SETTLE_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "settle-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// await polls a JavaScript expression until it is true.
func await(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	browsertest.Await(t, ctx, 30*time.Second, what, expr)
}

// awaitWithin is await with a timeout of its own.
func awaitWithin(t *testing.T, ctx context.Context, timeout time.Duration, what, expr string) {
	t.Helper()
	browsertest.Await(t, ctx, timeout, what, expr)
}

// checkoutFrame is a browser context inside the checkout iframe that the
// page of ctx mounted from api: the iframe is a target of its own (another
// origin), so it is looked into there.
func checkoutFrame(t *testing.T, ctx context.Context, api string) context.Context {
	t.Helper()
	targets, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range targets {
		if ti.Type == "iframe" && strings.HasPrefix(ti.URL, api+"/pay/") {
			frame, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID))
			t.Cleanup(cancel)
			return frame
		}
	}
	for _, ti := range targets {
		t.Logf("target %s %s", ti.Type, ti.URL)
	}
	t.Fatal("no iframe target for the checkout")
	return nil
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	return browsertest.Eval[T](t, ctx, expr)
}

const visible = `(s) => { const e = document.querySelector(s); return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0; }`

// TestCheckoutInBrowser opens the hosted page of a devnet invoice in
// headless Chromium, on a desktop and at 360 px wide: the payor picks the
// devnet USDC method, sees the QR code, address and amount, pays with the
// devnet wallet, and the page turns to paid without a reload.
func TestCheckoutInBrowser(t *testing.T) {
	t.Parallel()
	alloc := browser(t)
	dn := startDevnet(t, t.TempDir())
	api, key := dn["api_url"], dn["api_key"]
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Thanks</title><p>Thank you for your order.`)
	}))
	defer shop.Close()

	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"desktop", 1280, 900, false},
		{"phone", 360, 740, true},
	} {
		t.Run(vp.name, func(t *testing.T) {
			status, inv := e2eDo(t, "POST", api+"/api/v1/invoices", key,
				`{"amount":"25.00","currency":"USD","payment_methods":["usdc_devnet"],"description":"Two flat whites","redirect_url":"`+shop.URL+`/thanks"}`)
			if status != 201 {
				t.Fatalf("create: %d %v", status, inv)
			}
			want := inv["payment_instructions"].([]any)[0].(map[string]any)
			ctx := tab(t, alloc, 90*time.Second)
			if !vp.mobile {
				// The server's root, opened in a browser: a page, not a
				// JSON 404, and nothing in it breaks the CSP.
				if err := chromedp.Do(ctx, chromedp.Navigate(api+"/")); err != nil {
					t.Fatal(err)
				}
				if got := eval[string](t, ctx, `document.querySelector('h1').textContent + ' ' + [...document.links].map((a) => a.getAttribute('href')).join(' ')`); !strings.Contains(got, "settle") ||
					!strings.Contains(got, "/docs") || !strings.Contains(got, "/healthz") || !strings.Contains(got, "/readyz") {
					t.Errorf("home page: %q", got)
				}
			}
			opts := []chromedp.EmulateViewportOption{}
			if vp.mobile {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2))
			}
			err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...), chromedp.Navigate(inv["payment_url"].(string)))
			if err != nil {
				t.Fatal(err)
			}
			isVisible := func(sel string) string { return fmt.Sprintf("(%s)(%q)", visible, sel) }
			await(t, ctx, "method picker", isVisible(`[data-method="usdc_devnet"]`))
			if got := eval[string](t, ctx, `document.getElementById('merchant').textContent`); got != "Devnet Shop" {
				t.Errorf("merchant %q", got)
			}
			if got := eval[string](t, ctx, `document.getElementById('amount').textContent`); !strings.Contains(got, "25.00") {
				t.Errorf("amount %q", got)
			}
			if !eval[bool](t, ctx, isVisible("#test-banner")) {
				t.Error("no test-mode banner")
			}
			if cd := eval[string](t, ctx, `document.getElementById('countdown').textContent`); !strings.Contains(cd, ":") || cd == "--:--" {
				t.Errorf("countdown %q", cd)
			}

			if err := chromedp.Do(ctx, chromedp.Click(`[data-method="usdc_devnet"]`)); err != nil {
				t.Fatal(err)
			}
			await(t, ctx, "QR code", `(() => { const i = document.querySelector('#qr img, #qr svg'); return !!i && (i.tagName !== 'IMG' || i.naturalWidth > 0); })()`)
			if got := eval[string](t, ctx, `document.getElementById('address').textContent.trim()`); got != want["address"] {
				t.Errorf("address %q, want %v", got, want["address"])
			}
			if got := eval[string](t, ctx, `document.getElementById('pay-amount').textContent`); !strings.Contains(got, want["amount"].(string)) {
				t.Errorf("amount to send %q, want %v", got, want["amount"])
			}
			if href := eval[string](t, ctx, `document.getElementById('wallet-link').getAttribute('href')`); href != want["uri"] {
				t.Errorf("wallet link %q, want %v", href, want["uri"])
			}
			// The devnet's address is shared: the amount's last digits
			// (25.000001 for 25.00) are marked and explained.
			tail := strings.TrimPrefix(want["amount"].(string), "25.00")
			if tail == want["amount"] || strings.Trim(tail, "0") == "" {
				t.Fatalf("instruction amount %v has no unique digits", want["amount"])
			}
			if got := eval[string](t, ctx, `document.getElementById('unique-digits').textContent`); got != tail {
				t.Errorf("marked digits %q, want %q", got, tail)
			}
			if !eval[bool](t, ctx, isVisible("#unique-hint")) {
				t.Error("the unique digits are not explained")
			} else if got := eval[string](t, ctx, `document.getElementById('unique-hint').textContent`); !strings.Contains(got, "identify your payment") ||
				!strings.Contains(got, "send exactly "+want["amount"].(string)) {
				t.Errorf("unique digits hint %q", got)
			}
			if w := eval[float64](t, ctx, `document.documentElement.scrollWidth`); w > float64(vp.width) {
				t.Errorf("page is %v px wide in a %d px viewport", w, vp.width)
			}
			screenshot(t, ctx, "checkout-"+vp.name+"-instructions.png")

			// A marker on window survives only if the page is never reloaded.
			eval[bool](t, ctx, `window.settleTestMarker = true`)
			if err := chromedp.Do(ctx, chromedp.Click(`#devnet-pay`)); err != nil {
				t.Fatal(err)
			}
			await(t, ctx, "paid screen", isVisible("#paid")+` && document.getElementById('status').dataset.status === 'paid'`)
			if !eval[bool](t, ctx, `window.settleTestMarker === true`) {
				t.Error("the page reloaded to show the payment")
			}
			if got := eval[string](t, ctx, `document.getElementById('paid-amount').textContent`); !strings.Contains(got, "25.00") {
				t.Errorf("paid amount %q", got)
			}
			// The paid screen names the transaction; the devnet has no
			// explorer, so no link.
			_, pays := e2eDo(t, "GET", api+"/api/v1/invoices/"+inv["id"].(string)+"/payments", key, "")
			data := pays["data"].([]any)
			if len(data) != 1 {
				t.Fatalf("payments %v", pays)
			}
			if got := eval[string](t, ctx, `[...document.querySelectorAll('#paid-tx .tx-id')].map((e) => e.textContent).join()`); got != data[0].(map[string]any)["tx_id"] {
				t.Errorf("paid screen shows transaction %q, want %v", got, data[0].(map[string]any)["tx_id"])
			}
			if !eval[bool](t, ctx, isVisible("#paid-tx")) || eval[bool](t, ctx, `!!document.querySelector('#paid-tx a')`) {
				t.Error("paid screen: want the transaction id visible and no explorer link on the devnet")
			}
			screenshot(t, ctx, "checkout-"+vp.name+"-paid.png")
			if err := chromedp.Do(ctx, chromedp.Click(`#return`)); err != nil {
				t.Fatal(err)
			}
			// Poll from here: a navigation ends the page's own polling.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				if loc == shop.URL+"/thanks" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("return button led to %q", loc)
				}
			}
			_, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+inv["id"].(string), key, "")
			if got["status"] != "paid" {
				t.Errorf("invoice %v", got)
			}
		})
	}
}

// TestEmbeddedCheckout mounts the checkout with embed.js into a merchant's
// page on another origin: the iframe shows the invoice, and when it is paid
// the host page receives settle:paid through Settle.mount's callback.
func TestEmbeddedCheckout(t *testing.T) {
	t.Parallel()
	alloc := browser(t)
	dn := startDevnet(t, t.TempDir())
	api, key := dn["api_url"], dn["api_key"]
	status, inv := e2eDo(t, "POST", api+"/api/v1/invoices", key, `{"amount":"12.50","currency":"USD","payment_methods":["usdc_devnet"]}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	h := inv["payment_session_headers"].(map[string]any)

	// The merchant's page: its backend put the two headers into the page.
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Shop</title><h1>Your order</h1><div id="pay"></div>
<script src="%s/embed.js"></script>
<script>
window.events = [];
Settle.mount(document.getElementById('pay'), {
  sessionToken: %q, signature: %q,
  onPaid() { window.events.push('paid'); },
  onClosed() { window.events.push('closed'); },
});
</script>`, api, h["x-session-token"], h["x-signature"])
	}))
	defer shop.Close()

	ctx := tab(t, alloc, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(shop.URL)); err != nil {
		t.Fatal(err)
	}
	// The iframe reports its height once the checkout has rendered.
	await(t, ctx, "iframe sized to its content", `(() => { const f = document.querySelector('#pay iframe'); return !!f && f.style.height !== '640px'; })()`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.events.length === 0`)); err != nil {
		t.Fatal(err)
	}
	status, res := e2eDoWith(t, "POST", api+"/api/v1/payor/session/devnet-pay", map[string]string{
		"x-session-token": h["x-session-token"].(string), "x-signature": h["x-signature"].(string),
	}, `{"method":"usdc_devnet"}`)
	if status != 200 {
		t.Fatalf("devnet pay: %d %v", status, res)
	}
	await(t, ctx, "settle:paid on the host page", `window.events.includes('paid')`)
	frame := checkoutFrame(t, ctx, api)
	await(t, frame, "the embedded checkout shows paid", fmt.Sprintf("(%s)('#paid')", visible))
	await(t, ctx, "iframe grown to the paid screen", `document.querySelector('#pay iframe').getBoundingClientRect().height > 200`)
	screenshot(t, ctx, "checkout-embedded-paid.png")
	if err := chromedp.Do(frame, chromedp.Click("#return")); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "settle:closed on the host page", `window.events.join() === 'paid,closed'`)
}

// TestBankTransferInBrowser opens the hosted page of an invoice payable by
// FedNow at 360 px: the payor sees the bank details and the reference, no
// QR code, and the page turns to paid when the rail's payment arrives.
func TestBankTransferInBrowser(t *testing.T) {
	t.Parallel()
	alloc := browser(t)
	dn := startDevnet(t, t.TempDir())
	api, key := dn["api_url"], dn["api_key"]
	status, acct := e2eDo(t, "POST", api+"/api/v1/rail-accounts", key,
		`{"rail":"fednow","bank_name":"First Example Bank","account_name":"Devnet Shop LLC","account_number":"000123456789","routing_number":"021000021"}`)
	if status != 201 {
		t.Fatalf("rail account: %d %v", status, acct)
	}
	status, inv := e2eDo(t, "POST", api+"/api/v1/invoices", key, `{"amount":"25.00","currency":"USD","payment_methods":["fednow"]}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	ref := inv["payment_instructions"].([]any)[0].(map[string]any)["reference"].(string)

	ctx := tab(t, alloc, 60*time.Second)
	err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2)),
		chromedp.Navigate(inv["payment_url"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	isVisible := func(sel string) string { return fmt.Sprintf("(%s)(%q)", visible, sel) }
	await(t, ctx, "method picker", isVisible(`[data-method="fednow"]`))
	if err := chromedp.Do(ctx, chromedp.Click(`[data-method="fednow"]`)); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "reference", isVisible("#reference"))
	for sel, want := range map[string]string{"#reference": ref, "#address": "000123456789", "#routing-number": "021000021",
		"#bank-name": "First Example Bank", "#pay-amount": "25.00"} {
		if got := eval[string](t, ctx, fmt.Sprintf("document.querySelector(%q).textContent.trim()", sel)); got != want {
			t.Errorf("%s %q, want %q", sel, got, want)
		}
	}
	if eval[bool](t, ctx, isVisible("#qr")) || eval[bool](t, ctx, isVisible("#wallet-link")) {
		t.Error("a bank transfer shows a QR code or a wallet link")
	}
	screenshot(t, ctx, "checkout-phone-bank-transfer.png")
	status, _ = e2eDo(t, "POST", api+"/api/v1/test/invoices/"+inv["id"].(string)+"/simulate-payment", key, `{"method":"fednow","amount":"25.00"}`)
	if status != 200 {
		t.Fatalf("simulate: %d", status)
	}
	await(t, ctx, "paid screen", isVisible("#paid"))
}

// TestLatePaymentInBrowser: the payor was shown the instructions, the
// checkout expired on the open page, and a payment sent late still turns
// the page to paid, flagged as late, without a reload.
func TestLatePaymentInBrowser(t *testing.T) {
	t.Parallel()
	alloc := browser(t)
	dir := t.TempDir()
	dn := startDevnet(t, dir)
	api, key := dn["api_url"], dn["api_key"]
	status, inv := e2eDo(t, "POST", api+"/api/v1/invoices", key, `{"amount":"9.00","currency":"USD","payment_methods":["usdc_devnet"]}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	ctx := tab(t, alloc, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(inv["payment_url"].(string))); err != nil {
		t.Fatal(err)
	}
	isVisible := func(sel string) string { return fmt.Sprintf("(%s)(%q)", visible, sel) }
	await(t, ctx, "method picker", isVisible(`[data-method="usdc_devnet"]`))
	if err := chromedp.Do(ctx, chromedp.Click(`[data-method="usdc_devnet"]`)); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "instructions", isVisible("#devnet-pay"))

	// The clock stands in for fifteen minutes: the invoice is due now.
	db, err := invoice.OpenDB("sqlite://" + filepath.Join(dir, "settle.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.NewUpdate().Table("invoices").Set("expires_at = ?", time.Now().UTC().Add(-time.Second)).
		Where("id = ?", inv["id"]).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "expired screen", isVisible("#expired"))
	eval[bool](t, ctx, `window.settleTestMarker = true`)
	h := inv["payment_session_headers"].(map[string]any)
	status, res := e2eDoWith(t, "POST", api+"/api/v1/payor/session/devnet-pay", map[string]string{
		"x-session-token": h["x-session-token"].(string), "x-signature": h["x-signature"].(string),
	}, `{"method":"usdc_devnet"}`)
	if status != 200 {
		t.Fatalf("late devnet pay: %d %v", status, res)
	}
	await(t, ctx, "paid late", isVisible("#paid")+` && `+isVisible("#paid-note"))
	if !eval[bool](t, ctx, `window.settleTestMarker === true`) {
		t.Error("the page reloaded to show the late payment")
	}
	if _, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+inv["id"].(string), key, ""); got["status"] != "paid" || got["exception"] != "paid_late" {
		t.Errorf("invoice %v/%v, want paid/paid_late", got["status"], got["exception"])
	}
}

// TestSimulatePaymentInBrowser opens the hosted page of a sandbox-only
// invoice on `settle serve` without networks: the one method (Simulate
// payment, marked as test mode) is chosen on arrival; a part payment turns
// the page to underpaid, the rest to paid, without a reload.
func TestSimulatePaymentInBrowser(t *testing.T) {
	t.Parallel()
	alloc := browser(t)
	db := storetest.Open(t, "sqlite")
	key := e2eJSON(t, "merchants", "create", "--name", "Corner Café", "--database-url", db.URL)["test_api_key"].(string)
	api, stop := e2eServe(t, db.URL)
	defer stop()
	status, inv := e2eDo(t, "POST", api+"/api/v1/invoices", key, `{"amount":"25.00","currency":"USD","description":"Two flat whites"}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	if m := inv["payment_methods"].([]any); len(m) != 1 || m[0] != "sandbox" {
		t.Fatalf("payment methods %v: want the sandbox alone", m)
	}
	// serve's public URL is not this test's address: keep the path.
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
	await(t, ctx, "Simulate payment, chosen on arrival", isVisible("#simulate-full")+
		` && document.querySelector('[data-method="sandbox"]').getAttribute('aria-pressed') === 'true'`)
	if got := eval[string](t, ctx, `document.getElementById('methods').innerText`); !strings.Contains(got, "Simulate payment") || !strings.Contains(got, "Test mode") {
		t.Errorf("method picker %q: want Simulate payment, marked as test mode", got)
	}
	if !eval[bool](t, ctx, isVisible("#test-banner")) || !strings.Contains(eval[string](t, ctx, `document.getElementById('simulate-note').textContent`), "Test mode") {
		t.Error("the simulated payment is not marked as test mode")
	}
	if got := eval[string](t, ctx, `document.getElementById('simulate-part').textContent`); !strings.Contains(got, "12.50") {
		t.Errorf("part button %q, want half of 25.00", got)
	}
	eval[bool](t, ctx, `window.settleTestMarker = true`)

	if err := chromedp.Do(ctx, chromedp.Click("#simulate-part")); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "underpaid", isVisible("#underpaid")+` && document.getElementById('status').dataset.status === 'underpaid'`)
	if got := eval[string](t, ctx, `document.getElementById('amount-due').textContent`); !strings.Contains(got, "12.50") {
		t.Errorf("amount due %q", got)
	}
	await(t, ctx, "the rest offered", `document.getElementById('simulate-full').textContent.includes('12.50') && !document.getElementById('simulate-full').disabled`)
	screenshot(t, ctx, "checkout-phone-simulate-underpaid.png")

	if err := chromedp.Do(ctx, chromedp.Click("#simulate-full")); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "paid", isVisible("#paid")+` && document.getElementById('status').dataset.status === 'paid'`)
	if !eval[bool](t, ctx, `window.settleTestMarker === true`) {
		t.Error("the page reloaded")
	}
	_, got := e2eDo(t, "GET", api+"/api/v1/invoices/"+inv["id"].(string), key, "")
	if got["status"] != "paid" || got["amount_paid"] != "25.00" || got["exception"] != "none" {
		t.Errorf("invoice %v/%v paid %v", got["status"], got["exception"], got["amount_paid"])
	}
	_, pays := e2eDo(t, "GET", api+"/api/v1/invoices/"+inv["id"].(string)+"/payments", key, "")
	var want []string
	for _, p := range pays["data"].([]any) {
		want = append(want, p.(map[string]any)["tx_id"].(string))
	}
	if shown := eval[string](t, ctx, `[...document.querySelectorAll('#paid-tx .tx-id')].map((e) => e.textContent).join()`); len(want) != 2 || shown != strings.Join(want, ",") {
		t.Errorf("paid screen shows transactions %q, want %v", shown, want)
	}
	screenshot(t, ctx, "checkout-phone-simulate-paid.png")
}

// TestPaidExplorerLinkInBrowser: the paid screen links each transaction to
// the network's explorer where it has one. settle serve offers Base Sepolia
// (its RPC does not answer: no chain is run here), and the payment is
// recorded as its watcher reports one, through invoice.Apply.
func TestPaidExplorerLinkInBrowser(t *testing.T) {
	t.Parallel()
	alloc := browser(t)
	db := storetest.Open(t, "sqlite")
	key := e2eJSON(t, "merchants", "create", "--name", "Corner Café", "--database-url", db.URL)["test_api_key"].(string)
	api, stop := e2eServeEnv(t, db.URL, map[string]string{"SETTLE_RPC_BASE_SEPOLIA": "http://127.0.0.1:9"}, nil)
	defer stop()
	const shop = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	if status, p := e2eDo(t, "POST", api+"/api/v1/receiving-accounts", key, `{"network":"base_sepolia","address":"`+shop+`"}`); status != 201 {
		t.Fatalf("receiving account: %d %v", status, p)
	}
	status, inv := e2eDo(t, "POST", api+"/api/v1/invoices", key, `{"amount":"9.00","currency":"USD","payment_methods":["usdc_base_sepolia"]}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, inv)
	}
	in := inv["payment_instructions"].([]any)[0].(map[string]any)
	units, err := invoice.ParseUnits(in["amount_units"].(string))
	if err != nil {
		t.Fatal(err)
	}
	tx := "0x" + strings.Repeat("4f", 32)
	// The service as serve builds it: the same secret signs the links.
	svc, _, err := newService(t.Context(), db.DB, Config{PublicURL: "https://pay.example.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Apply(t.Context(), invoice.Observation{
		InvoiceID: inv["id"].(string), Method: "usdc_base_sepolia", Network: "base_sepolia", TxID: tx,
		Asset: "USDC", Decimals: 6, Amount: units, Status: invoice.PaymentConfirmed,
		From: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", To: shop, Block: 100, BlockHash: "0x" + strings.Repeat("ab", 32),
		ObservedAt: time.Now().UTC(),
	}); err != nil {
		t.Fatal(err)
	}
	link, err := url.Parse(inv["payment_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	ctx := tab(t, alloc, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(api+link.RequestURI())); err != nil {
		t.Fatal(err)
	}
	await(t, ctx, "paid", fmt.Sprintf("(%s)('#paid')", visible))
	if got := eval[string](t, ctx, `document.querySelector('#paid-tx .tx-id').textContent`); got != tx {
		t.Errorf("transaction %q, want %s", got, tx)
	}
	a := eval[map[string]string](t, ctx, `(() => { const a = document.querySelector('#paid-tx a.explorer'); return a ? {href: a.href, text: a.textContent, rel: a.rel} : {}; })()`)
	if a["href"] != "https://sepolia.basescan.org/tx/"+tx || !strings.Contains(a["text"], "Base Sepolia") || !strings.Contains(a["rel"], "noopener") {
		t.Errorf("explorer link %v", a)
	}
}
