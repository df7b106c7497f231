package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/docs"
)

// TestDocsInBrowser opens /docs of a real `settle serve` in headless
// Chromium: Swagger UI renders every operation of the server's own spec and
// one operation's details, with no console error, no CSP violation and no
// request to anywhere but the server itself (the page works with no
// internet connection).
func TestDocsInBrowser(t *testing.T) {
	t.Parallel()
	alloc := browser(t)
	db := storetest.Open(t, "sqlite")
	base, stop := e2eServe(t, db.URL)
	defer stop()

	res, err := http.Get(base + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") != docs.CSP {
		t.Fatalf("/docs: %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	// The served spec names the server by its public URL.
	var spec struct {
		Servers []struct{ URL string } `json:"servers"`
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Summary     string `json:"summary"`
		} `json:"paths"`
	}
	res, err = http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(res.Body).Decode(&spec)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Servers) != 1 || spec.Servers[0].URL != "https://pay.example.test" {
		t.Errorf("servers %+v, want the public URL", spec.Servers)
	}
	ops := 0
	for _, methods := range spec.Paths {
		ops += len(methods)
	}

	// The page parses a 1.7 MB bundle and renders every operation: generous
	// timeouts, for a loaded CI machine.
	ctx := tab(t, alloc, 180*time.Second)
	var mu sync.Mutex
	var requested []string
	chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, ev.Request.URL)
			mu.Unlock()
		}
	})
	// A violation is also a console error, which tab fails the test on;
	// the listener names the directive and what it blocked.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.effectiveDirective + ' ' + e.blockedURI));`}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/docs")); err != nil {
		t.Fatal(err)
	}
	awaitWithin(t, ctx, 90*time.Second, "operations rendered", `document.querySelectorAll('.opblock').length > 0 &&
		[...document.querySelectorAll('.opblock-summary-description')].some((e) => e.textContent === 'Create an invoice')`)
	if n := eval[int](t, ctx, `document.querySelectorAll('.opblock').length`); n != ops {
		t.Errorf("%d operations rendered, the spec has %d", n, ops)
	}
	if got := eval[string](t, ctx, `[...document.querySelectorAll('.servers select option')].map((o) => o.value).join(' ')`); got != "https://pay.example.test" {
		t.Errorf("servers offered: %q", got)
	}
	shot(t, ctx, chromedp.CaptureScreenshot(), "docs-top.png")
	// One operation opened: its parameters, body schema and examples render
	// (the syntax highlighter styles through the CSSOM, not inline styles).
	if err := chromedp.Do(ctx, chromedp.Click(`#operations-Invoices-create-invoice .opblock-summary-control`)); err != nil {
		t.Fatal(err)
	}
	awaitWithin(t, ctx, 60*time.Second, "create-invoice opened", `(() => { const op = document.querySelector('#operations-Invoices-create-invoice');
		return op && op.classList.contains('is-open') && op.textContent.includes('Idempotency-Key') && op.textContent.includes('merchant_order_id') })()`)
	// A moment for anything loaded late (fonts, images) to be requested.
	time.Sleep(500 * time.Millisecond)
	eval[bool](t, ctx, `(document.querySelector('#operations-Invoices-create-invoice').scrollIntoView(), true)`)
	shot(t, ctx, chromedp.CaptureScreenshot(), "docs-create-invoice.png")

	if v := eval[[]string](t, ctx, `window.__violations`); len(v) > 0 {
		t.Errorf("CSP violations: %v", v)
	}
	resources := eval[[]string](t, ctx, `performance.getEntriesByType('resource').map((e) => e.name)`)
	mu.Lock()
	all := append(slices.Clone(requested), resources...)
	mu.Unlock()
	origin, _ := url.Parse(base)
	var spec2, bundle bool
	for _, raw := range all {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "data" && u.Host != origin.Host) {
			t.Errorf("request left the server: %s", raw)
		}
		spec2 = spec2 || u.Path == "/openapi.json"
		bundle = bundle || strings.HasPrefix(u.Path, "/docs/assets/swagger-ui-bundle.js")
	}
	if !spec2 || !bundle {
		t.Errorf("requests %v: want the spec and the bundle from the server", all)
	}
}

// shot saves the PNG that capture takes into the artifacts folder.
func shot(t *testing.T, ctx context.Context, capture chromedp.Action[[]byte], name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, capture)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}
