package pos_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/settlepay/settle/openapi/pos"
)

// TestScreen checks what /pos serves: the page under the strict CSP, with
// no inline script or style, and its assets at versioned URLs.
func TestScreen(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	pos.New().Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/pos")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") != pos.CSP || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("GET /pos: %d %v", res.StatusCode, res.Header)
	}
	if !strings.Contains(pos.CSP, "script-src 'self';") || strings.Contains(pos.CSP, "unsafe") || !strings.Contains(pos.CSP, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", pos.CSP)
	}
	page := string(body)
	if regexp.MustCompile(`<script>|<style|\sstyle="|\son[a-z]+="`).MatchString(page) {
		t.Error("the page has inline script or style, which the CSP refuses")
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/pos/assets/[^"]+)"`).FindAllStringSubmatch(page, -1) {
		res, err := http.Get(srv.URL + m[1])
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %d %q", m[1], res.StatusCode, res.Header.Get("Cache-Control"))
		}
	}
	if res, _ := http.Get(srv.URL + "/pos/assets/nope.js"); res.StatusCode != 404 {
		t.Errorf("unknown asset: %d", res.StatusCode)
	}
}
