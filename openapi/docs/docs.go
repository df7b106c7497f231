// Package docs serves the browsable API reference at /docs: Swagger UI
// (the npm package swagger-ui-dist, vendored in assets/swagger-ui with its
// version and licence) over the server's own /openapi.json. Everything the
// page loads comes from the binary, so the reference works with no internet
// connection, under a CSP that allows nothing from elsewhere. It knows
// nothing of the API itself: the spec is whatever /openapi.json answers.
package docs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"

	"github.com/settlepay/settle/payor"
)

//go:embed assets
var assetFS embed.FS

// CSP is the Content-Security-Policy of /docs. Swagger UI runs with
// scripts, styles and fonts from this server only: no inline script or
// style element, no eval, no font or image from elsewhere (its icons are
// inline SVG and data: URIs in its stylesheet). The style attributes React
// sets from script go through the CSSOM, which style-src does not govern,
// so style-src needs no 'unsafe-inline'. connect-src 'self' lets the page
// fetch the spec and "Try it out" call this server, and nothing else.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// SpecPath is where the page loads the spec from.
const SpecPath = "/openapi.json"

// SwaggerUIVersion is the vendored swagger-ui-dist's version, as its
// README in assets/swagger-ui states.
const SwaggerUIVersion = "5.35.0"

// assets the page loads, by the name in /docs/assets/{file}, with their
// path in assetFS.
var assetPaths = map[string]string{
	"swagger-ui-bundle.js": "assets/swagger-ui/swagger-ui-bundle.js",
	"swagger-ui.css":       "assets/swagger-ui/swagger-ui.css",
	"docs.js":              "assets/docs.js",
	"docs.css":             "assets/docs.css",
}

// Reference serves the API reference page and its assets. They are read
// from the binary on the first request, not at start: a server nobody
// asks for /docs keeps the 1.7 MB bundle out of its heap and its resident
// pages.
type Reference struct {
	once   sync.Once
	page   []byte
	assets map[string]*asset
}

// asset is a static file with its validator; its gzipped form is made on
// the first request that takes it (the bundle is 1.7 MB, 0.45 MB gzipped),
// so that building a handler costs nothing.
type asset struct {
	body        []byte
	contentType string
	hash        string // first 16 hex digits of the SHA-256 of body

	gzOnce sync.Once
	gz     []byte
}

// New returns the reference; its page is rendered once, when first used.
func New() *Reference { return &Reference{} }

// load reads the assets and renders the page, once.
func (d *Reference) load() *Reference {
	d.once.Do(d.render)
	return d
}

func (d *Reference) render() {
	d.assets = map[string]*asset{}
	for name, path := range assetPaths {
		body, err := fs.ReadFile(assetFS, path)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		ct := "text/css; charset=utf-8"
		if strings.HasSuffix(name, ".js") {
			ct = "application/javascript; charset=utf-8"
		}
		d.assets[name] = &asset{body: body, contentType: ct, hash: hex.EncodeToString(sum[:8])}
	}
	t := template.Must(template.ParseFS(assetFS, "assets/index.html"))
	var b bytes.Buffer
	if err := t.Execute(&b, map[string]string{
		"SwaggerJS":  d.url("swagger-ui-bundle.js"),
		"SwaggerCSS": d.url("swagger-ui.css"),
		"DocsJS":     d.url("docs.js"),
		"DocsCSS":    d.url("docs.css"),
		"Spec":       SpecPath,
	}); err != nil {
		panic(err)
	}
	d.page = b.Bytes()
}

// URL is where the page loads the asset name: the version in the query
// changes with the content, so the response may be cached for good.
func (d *Reference) URL(name string) string {
	return d.load().url(name)
}

func (d *Reference) url(name string) string {
	return "/docs/assets/" + name + "?v=" + d.assets[name].hash
}

// Register adds GET /docs, GET /docs/ (a redirect) and GET
// /docs/assets/{file} to mux.
func (d *Reference) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /docs", d.servePage)
	mux.HandleFunc("GET /docs/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/docs", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /docs/assets/{file}", d.serveAsset)
}

func (d *Reference) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// The page names its assets by content: a short cache, so that a new
	// release's page (and through it, its assets) shows soon.
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(d.load().page)
}

func (d *Reference) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := d.load().assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache") // an unversioned URL revalidates with its ETag
	}
	h.Add("Vary", "Accept-Encoding")
	body, etag := a.body, `"`+a.hash+`"`
	if payor.AcceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = a.gzipped(), `"`+a.hash+`-gz"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if payor.ETagMatch(r.Header.Get("If-None-Match"), etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func (a *asset) gzipped() []byte {
	a.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(a.body)
		zw.Close()
		a.gz = buf.Bytes()
	})
	return a.gz
}
