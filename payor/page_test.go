package payor_test

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/payor"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; frame-ancestors *; base-uri 'none'; form-action 'none'"

// pagesSetup serves the pages over a stub check that knows a few sessions by
// token, each with the signature "good".
func pagesSetup(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var (
		mu      sync.Mutex
		checked []string
	)
	check := func(_ context.Context, token, sig string) (payor.PageInfo, error) {
		mu.Lock()
		checked = append(checked, token+"/"+sig)
		mu.Unlock()
		switch token {
		case "locked":
			return payor.PageInfo{Locked: true}, payor.ErrLocked
		case "broken":
			return payor.PageInfo{}, errors.New("database is on fire")
		case "test", "live", "evil":
		default:
			return payor.PageInfo{}, invoice.ErrNotFound
		}
		if sig != "good" {
			return payor.PageInfo{}, payor.ErrBadSignature
		}
		switch token {
		case "evil":
			return payor.PageInfo{Merchant: `<script>alert(1)</script> "Shop"`, Mode: "live"}, nil
		case "test":
			return payor.PageInfo{Merchant: "Devnet Shop", Mode: "test"}, nil
		}
		return payor.PageInfo{Merchant: "Corner Café", Mode: "live"}, nil
	}
	mux := http.NewServeMux()
	payor.NewPages(check).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(checked)
	}
}

// plain asks for no compression unless a test does.
var plain = &http.Transport{DisableCompression: true}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := plain.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestPageStatuses(t *testing.T) {
	t.Parallel()
	srv, _ := pagesSetup(t)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		want       []string
		wantNot    []string
	}{
		{"live", "/pay/live?sig=good", 200, []string{"Corner Café", `id="amount"`, `id="countdown"`, `id="status"`}, []string{"Test mode"}},
		{"test mode has the banner", "/pay/test?sig=good", 200, []string{"Devnet Shop", "Test mode — no real money"}, nil},
		{"embedded", "/pay/live?sig=good&embed=1&origin=https%3A%2F%2Fshop.example", 200, []string{`class="embed"`, "Corner Café"}, nil},
		{"merchant name is escaped", "/pay/evil?sig=good", 200, []string{"&lt;script&gt;alert(1)&lt;/script&gt; &#34;Shop&#34;"}, []string{"<script>alert"}},
		{"bad signature", "/pay/live?sig=bad", 403, []string{"not valid"}, []string{"Corner Café", "Test mode"}},
		{"bad signature, test session", "/pay/test?sig=bad", 403, []string{"not valid"}, []string{"Devnet Shop", "Test mode"}},
		{"missing signature", "/pay/live", 403, []string{"not valid"}, []string{"Corner Café"}},
		{"unknown session", "/pay/nope?sig=good", 404, []string{"not found"}, nil},
		{"locked", "/pay/locked?sig=good", 423, []string{"locked"}, nil},
		{"check fails", "/pay/broken?sig=good", 500, []string{"went wrong"}, []string{"fire"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, body := get(t, srv.URL+tc.path)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d\n%s", res.StatusCode, tc.wantStatus, body)
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": wantCSP,
				"Referrer-Policy":         "no-referrer",
				"X-Content-Type-Options":  "nosniff",
				"Cache-Control":           "no-store",
				"Content-Type":            "text/html; charset=utf-8",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if res.Header.Get("X-Frame-Options") != "" {
				t.Error("X-Frame-Options set: merchants could not embed the page")
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(body, w) {
					t.Errorf("body has %q", w)
				}
			}
			selfContained(t, body)
		})
	}
}

// selfContained fails unless html works under the page's CSP and offline: no
// inline script or style, no URL of another host.
func selfContained(t *testing.T, html string) {
	t.Helper()
	for _, m := range regexp.MustCompile(`(?is)<script\b[^>]*>`).FindAllString(html, -1) {
		if !regexp.MustCompile(`\ssrc="/[^/]`).MatchString(m) {
			t.Errorf("inline or foreign script: %s", m)
		}
	}
	if n := strings.Count(strings.ToLower(html), "</script>"); n != len(regexp.MustCompile(`(?is)<script\b[^>]*>\s*</script>`).FindAllString(html, -1)) {
		t.Error("a script element has a body")
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)<style\b`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)https?:`),
		regexp.MustCompile(`(?i)(src|href)\s*=\s*"//`),
		regexp.MustCompile(`(?i)javascript:`),
	} {
		if m := bad.FindString(html); m != "" {
			t.Errorf("page has %q (CSP forbids it, or it needs the network)", m)
		}
	}
}

func TestPageAssets(t *testing.T) {
	t.Parallel()
	srv, _ := pagesSetup(t)
	_, page := get(t, srv.URL+"/pay/live?sig=good")
	for _, tc := range []struct {
		file, contentType string
	}{
		{"app.js", "application/javascript; charset=utf-8"},
		{"app.css", "text/css; charset=utf-8"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			ref := regexp.MustCompile(`"(/pay/assets/` + regexp.QuoteMeta(tc.file) + `\?v=[0-9a-f]{16})"`).FindStringSubmatch(page)
			if ref == nil {
				t.Fatalf("page does not load a versioned %s", tc.file)
			}
			res, body := get(t, srv.URL+ref[1])
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != tc.contentType {
				t.Fatalf("GET %s: %d %q, want 200 %q", ref[1], res.StatusCode, res.Header.Get("Content-Type"), tc.contentType)
			}
			want, err := os.ReadFile(filepath.Join("assets", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if body != string(want) {
				t.Fatal("served body differs from the file")
			}
			if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Errorf("versioned Cache-Control %q, want immutable", cc)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			etag := res.Header.Get("ETag")
			res, _ = get(t, srv.URL+ref[1], "If-None-Match", etag)
			if res.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match %s: %d, want 304", etag, res.StatusCode)
			}

			res, _ = get(t, srv.URL+"/pay/assets/"+tc.file)
			if cc := res.Header.Get("Cache-Control"); res.StatusCode != 200 || cc != "no-cache" {
				t.Errorf("unversioned: %d, Cache-Control %q; want 200, no-cache", res.StatusCode, cc)
			}

			res, gz := get(t, srv.URL+ref[1], "Accept-Encoding", "br, gzip")
			if res.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(strings.NewReader(gz))
				if err != nil {
					t.Fatal(err)
				}
				plain, err := io.ReadAll(zr)
				if err != nil || string(plain) != string(want) {
					t.Fatalf("gzipped body does not inflate to the file: %v", err)
				}
				if res.Header.Get("ETag") == etag {
					t.Error("gzip and identity share an ETag")
				}
			}
		})
	}
	for _, path := range []string{"/pay/assets/page.html", "/pay/assets/error.html", "/pay/assets/embed.js", "/pay/assets/..%2fpage.go"} {
		if res, _ := get(t, srv.URL+path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

func TestEmbedJS(t *testing.T) {
	t.Parallel()
	srv, checked := pagesSetup(t)
	res, body := get(t, srv.URL+"/embed.js")
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/javascript") {
		t.Errorf("Content-Type %q, want application/javascript", ct)
	}
	if !strings.Contains(body, "window.Settle") {
		t.Error("embed.js does not define window.Settle")
	}
	if res.Header.Get("ETag") == "" || res.Header.Get("Cache-Control") == "" {
		t.Error("embed.js has no validators")
	}
	if c := checked(); len(c) != 0 {
		t.Errorf("assets checked sessions: %v", c)
	}
}

func TestPageChecksFirst(t *testing.T) {
	t.Parallel()
	srv, checked := pagesSetup(t)
	get(t, srv.URL+"/pay/live?sig=good")
	get(t, srv.URL+"/pay/test?sig="+strings.Repeat("a", 129))
	if got := fmt.Sprint(checked()); got != "[live/good]" {
		t.Fatalf("checks %s, want [live/good]: an over-long signature is refused unseen", got)
	}
}

// TestScriptsParse runs node --check over the page's scripts, to catch a
// syntax error that only a browser would otherwise see.
func TestScriptsParse(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	for _, f := range []string{"app.js", "embed.js"} {
		out, err := exec.Command(node, "--check", filepath.Join("assets", f)).CombinedOutput()
		if err != nil {
			t.Errorf("node --check %s: %v\n%s", f, err, out)
		}
	}
}
