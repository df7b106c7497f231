package openapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/settlepay/settle/invoice/storetest"
)

// TestHome: a person who opens the server's root in a browser gets a small
// HTML page saying what this is, with links to the docs, the spec and the
// health endpoints, under a CSP that allows no script; other methods on /
// are 405 and unknown paths stay JSON 404s.
func TestHome(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, "sqlite"))
	r := e.do("GET", "/", "", nil, "Accept", "text/html")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s\n%s", r.Status, r.Header.Get("Content-Type"), r.Raw)
	}
	body := string(r.Raw)
	for _, link := range []string{`href="/docs"`, `href="/healthz"`, `href="/readyz"`, `href="/openapi.json"`} {
		if !strings.Contains(body, link) {
			t.Errorf("home page has no %s", link)
		}
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q: want default-src 'none', no script, no unsafe-inline", csp)
	}
	if strings.Contains(body, "<script") {
		t.Error("home page has a script")
	}
	for _, path := range []string{"/docs", "/healthz", "/readyz", "/openapi.json"} {
		if r := e.do("GET", path, "", nil); r.Status != http.StatusOK {
			t.Errorf("the home page links to %s, which answers %d", path, r.Status)
		}
	}
	e.wantProblem(e.do("POST", "/", "", nil), http.StatusMethodNotAllowed, "method_not_allowed")
	e.wantProblem(e.do("GET", "/nowhere", "", nil), http.StatusNotFound, "not_found")
}

// TestUnsupportedMediaType: a body sent as anything but JSON is 415 with
// problem details that say which Content-Type to send, and echo the type
// sent, not the body.
func TestUnsupportedMediaType(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, "sqlite"))
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/xml; charset=utf-8"} {
		r := e.do("POST", "/api/v1/invoices", e.key, `{"amount":"25.00","currency":"USD","description":"secret words"}`, "Content-Type", ct)
		e.wantProblem(r, http.StatusUnsupportedMediaType, "unsupported_media_type")
		detail, _ := r.JSON["detail"].(string)
		if !strings.Contains(detail, "send Content-Type: application/json") || !strings.Contains(detail, strings.Split(ct, ";")[0]) {
			t.Errorf("%s: detail %q does not say to send Content-Type: application/json and what was sent", ct, detail)
		}
		if strings.Contains(string(r.Raw), "secret words") {
			t.Errorf("%s: the problem echoes the body: %s", ct, r.Raw)
		}
		errs, _ := r.JSON["errors"].([]any)
		if len(errs) != 1 || errs[0].(map[string]any)["location"] != "header.Content-Type" {
			t.Errorf("%s: errors %v, want one at header.Content-Type", ct, errs)
		}
	}
}
