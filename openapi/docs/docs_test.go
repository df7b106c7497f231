package docs_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/settlepay/settle/openapi/docs"
)

func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultTransport.RoundTrip(req) // no automatic gzip, no redirects
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// TestReference serves the page and its assets: a strict CSP that allows
// nothing from elsewhere, assets named by content and cached for good,
// gzip, revalidation, and nothing else under /docs/assets.
func TestReference(t *testing.T) {
	t.Parallel()
	d := docs.New()
	mux := http.NewServeMux()
	d.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, unsafe := range []string{"unsafe", "http:", "https:", "*", "data: blob:"} {
		if strings.Contains(docs.CSP, unsafe) {
			t.Errorf("CSP allows %q: %s", unsafe, docs.CSP)
		}
	}
	res, page := get(t, srv.URL+"/docs", nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") != docs.CSP ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("/docs: %d %v", res.StatusCode, res.Header)
	}
	if !bytes.Contains(page, []byte(`data-spec="`+docs.SpecPath+`"`)) || bytes.Contains(page, []byte("<style")) ||
		regexp.MustCompile(`<script>|<script [^>]*>[^<]`).Match(page) || regexp.MustCompile(`(src|href)="(https?:)?//`).Match(page) {
		t.Errorf("page: want the spec's path, no inline script or style, nothing from elsewhere:\n%s", page)
	}
	for _, name := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "docs.js", "docs.css"} {
		url := d.URL(name)
		if !bytes.Contains(page, []byte(`"`+url+`"`)) {
			t.Errorf("page does not load %s", url)
		}
		res, body := get(t, srv.URL+url, nil)
		if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: %d %v", url, res.StatusCode, res.Header)
		}
		sum := sha256.Sum256(body)
		if !strings.HasSuffix(url, "?v="+hex.EncodeToString(sum[:8])) {
			t.Errorf("%s: version is not the content's hash", url)
		}
		zres, zbody := get(t, srv.URL+url, map[string]string{"Accept-Encoding": "gzip"})
		if zres.Header.Get("Content-Encoding") != "gzip" || len(zbody) >= len(body) {
			t.Errorf("%s gzipped: %v, %d bytes of %d", url, zres.Header, len(zbody), len(body))
		} else if zr, err := gzip.NewReader(bytes.NewReader(zbody)); err != nil {
			t.Error(err)
		} else if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, body) {
			t.Errorf("%s: gzipped body is not the asset (%v)", url, err)
		}
		if res, _ := get(t, srv.URL+url, map[string]string{"If-None-Match": zres.Header.Get("ETag"), "Accept-Encoding": "gzip"}); res.StatusCode != http.StatusNotModified {
			t.Errorf("%s revalidated: %d", url, res.StatusCode)
		}
		if res, _ := get(t, srv.URL+"/docs/assets/"+name, nil); res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s without its version: %d %q", name, res.StatusCode, res.Header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/docs/assets/LICENSE", "/docs/assets/index.html", "/docs/assets/..%2fdocs.go", "/docs/assets/swagger-ui%2fNOTICE"} {
		if res, _ := get(t, srv.URL+path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, res.StatusCode)
		}
	}
	if res, _ := get(t, srv.URL+"/docs/", nil); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/docs" {
		t.Errorf("/docs/: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestVendoredSwaggerUI keeps assets/swagger-ui what its README says: the
// files of swagger-ui-dist at SwaggerUIVersion, unchanged, with their
// licence.
func TestVendoredSwaggerUI(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("assets/swagger-ui/README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("swagger-ui-dist@"+docs.SwaggerUIVersion)) {
		t.Errorf("README does not name swagger-ui-dist@%s", docs.SwaggerUIVersion)
	}
	listed := regexp.MustCompile(`(?m)^([0-9a-f]{64})  (\S+)$`).FindAllSubmatch(readme, -1)
	if len(listed) != 5 {
		t.Fatalf("README lists %d files with their SHA-256, want 5", len(listed))
	}
	for _, m := range listed {
		body, err := os.ReadFile("assets/swagger-ui/" + string(m[2]))
		if err != nil {
			t.Error(err)
			continue
		}
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != string(m[1]) {
			t.Errorf("%s is not the file the README lists (changed without updating it?)", m[2])
		}
	}
	bundle, err := os.ReadFile("assets/swagger-ui/swagger-ui-bundle.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bundle, []byte(`PACKAGE_VERSION:"`+docs.SwaggerUIVersion+`"`)) {
		t.Errorf("swagger-ui-bundle.js is not version %s", docs.SwaggerUIVersion)
	}
	license, err := os.ReadFile("assets/swagger-ui/LICENSE")
	if err != nil || !bytes.Contains(license, []byte("Apache License")) {
		t.Errorf("LICENSE: %v", err)
	}
}
