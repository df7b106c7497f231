package openapi_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor/browsertest"
)

// TestDocsTryItOut uses /docs in headless Chromium as a developer would:
// authorize with a test key, then "Try it out" on list-invoices, which
// calls the server the spec names (its public URL, this server) under the
// page's CSP and shows the merchant's invoice. The page's own rendering,
// CSP and offline behaviour are cmd/settle's TestDocsInBrowser. The docs
// touch no storage of their own: SQLite is enough.
func TestDocsTryItOut(t *testing.T) {
	t.Parallel()
	alloc := browsertest.Browser(t)
	e := setup(t, storetest.Open(t, "sqlite"))
	inv := e.mustStatus(e.do("POST", "/api/v1/invoices", e.key, map[string]any{"amount": "12.00", "currency": "USD", "description": "Docs test"}), http.StatusCreated)
	id := inv.JSON["id"].(string)

	// The listener comes first, so that the handler can name its address
	// as the public URL.
	srv := httptest.NewUnstartedServer(nil)
	public := "http://" + srv.Listener.Addr().(*net.TCPAddr).String()
	srv.Config.Handler = openapi.New(openapi.Deps{Invoices: e.svc, PublicURL: public + "/"})
	srv.Start()
	t.Cleanup(srv.Close)

	ctx := browsertest.Tab(t, alloc, 180*time.Second) // generous, for a loaded CI machine
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(public+"/docs")); err != nil {
		t.Fatal(err)
	}
	browsertest.Await(t, ctx, 60*time.Second, "servers", `[...document.querySelectorAll('.servers select option')].map((o) => o.value).join(' ') === '`+public+`'`)
	if err := chromedp.Do(ctx, chromedp.Click(`.btn.authorize`)); err != nil {
		t.Fatal(err)
	}
	browsertest.Await(t, ctx, 60*time.Second, "authorize dialog", `!!document.querySelector('.auth-container input')`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`.auth-container input`, e.key),
		chromedp.Click(`.btn.modal-btn.auth.authorize`),
		chromedp.Click(`.btn.modal-btn.auth.btn-done`),
		chromedp.Click(`#operations-Invoices-list-invoices .opblock-summary-control`),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Await(t, ctx, 60*time.Second, "try it out", `!!document.querySelector('#operations-Invoices-list-invoices .try-out__btn')`)
	if err := chromedp.Do(ctx, chromedp.Click(`#operations-Invoices-list-invoices .try-out__btn`)); err != nil {
		t.Fatal(err)
	}
	browsertest.Await(t, ctx, 60*time.Second, "execute", `!!document.querySelector('#operations-Invoices-list-invoices .btn.execute')`)
	if err := chromedp.Do(ctx, chromedp.Click(`#operations-Invoices-list-invoices .btn.execute`)); err != nil {
		t.Fatal(err)
	}
	browsertest.Await(t, ctx, 60*time.Second, "response", `(() => {
		const op = document.querySelector('#operations-Invoices-list-invoices');
		const status = op && op.querySelector('.live-responses-table tr.response .response-col_status');
		return !!status && status.textContent.trim().startsWith('200') && op.querySelector('.live-responses-table').textContent.includes('`+id+`') })()`)
	curl := browsertest.Eval[string](t, ctx, `document.querySelector('#operations-Invoices-list-invoices .curl-command').textContent`)
	if !strings.Contains(curl, public+"/api/v1/invoices") || !strings.Contains(curl, "Bearer "+e.key) {
		t.Errorf("request shown: %s", curl)
	}
	for _, name := range browsertest.Eval[[]string](t, ctx, `performance.getEntriesByType('resource').map((e) => e.name)`) {
		if !strings.HasPrefix(name, public+"/") {
			t.Errorf("request left the server: %s", name)
		}
	}
}
