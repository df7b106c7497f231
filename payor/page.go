package payor

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/settlepay/settle/invoice"
)

//go:embed assets
var assetFS embed.FS

// PageCSP is the Content-Security-Policy of the hosted page and its error
// pages. Everything comes from this server; frame-ancestors is open because
// merchants embed the page in an iframe, and nothing else is loosened.
const PageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; frame-ancestors *; base-uri 'none'; form-action 'none'"

// PageInfo is what the hosted page may show before its script has loaded.
type PageInfo struct {
	Merchant string // the merchant's display name
	Mode     string // "test" or "live"
	Locked   bool   // too many wrong signatures: the session is closed for good
}

// Pages serves the hosted checkout page, its assets and embed.js. The page is
// a shell: its script reads the session from the payor API and keeps it up to
// date over the payor WebSocket. Pages holds no session logic of its own; it
// asks check whether a token and signature open a session.
type Pages struct {
	check  func(ctx context.Context, token, sig string) (PageInfo, error)
	page   *template.Template
	failed *template.Template
	assets map[string]*asset // app.js, app.css
	embed  *asset
	// Log receives failures of check other than the expected ones; it
	// discards by default.
	Log *slog.Logger
}

// asset is a static file with its validators, ready to send.
type asset struct {
	name, contentType string
	body, gz          []byte // gz is nil when compressing does not pay
	hash              string // first 16 hex digits of the SHA-256 of body
}

// NewPages returns the pages over check, which must return ErrBadSignature
// for a wrong signature, invoice.ErrNotFound for an unknown session and
// ErrLocked (or a PageInfo with Locked) for a locked one.
func NewPages(check func(ctx context.Context, token, sig string) (PageInfo, error)) *Pages {
	p := &Pages{
		check:  check,
		page:   template.Must(template.ParseFS(assetFS, "assets/page.html")),
		failed: template.Must(template.ParseFS(assetFS, "assets/error.html")),
		assets: map[string]*asset{},
		Log:    slog.New(slog.DiscardHandler),
	}
	for _, name := range []string{"app.js", "app.css"} {
		p.assets[name] = mustAsset(name)
	}
	p.embed = mustAsset("embed.js")
	return p
}

func mustAsset(name string) *asset {
	body, err := fs.ReadFile(assetFS, "assets/"+name)
	if err != nil {
		panic(err)
	}
	a := &asset{name: name, body: body, contentType: "text/css; charset=utf-8"}
	if strings.HasSuffix(name, ".js") {
		a.contentType = "application/javascript; charset=utf-8"
	}
	sum := sha256.Sum256(body)
	a.hash = hex.EncodeToString(sum[:8])
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	if buf.Len() < len(body)*9/10 {
		a.gz = buf.Bytes()
	}
	return a
}

// Register adds GET /pay/{token}, GET /pay/assets/{file} and GET /embed.js
// to mux.
func (p *Pages) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /pay/{token}", p.servePage)
	mux.HandleFunc("GET /pay/assets/{file}", p.serveAsset)
	mux.HandleFunc("GET /embed.js", p.serveEmbed)
}

// pageData fills page.html.
type pageData struct {
	Merchant string
	Test     bool
	Embed    bool
	AppJS    string
	AppCSS   string
}

// failure fills error.html; it never carries anything of the session.
type failure struct {
	Title, Message string
	AppCSS         string
	Embed          bool
}

// maxSig bounds the signature the page passes on, as the payor API does.
const maxSig = 128

func (p *Pages) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", PageCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Content-Type", "text/html; charset=utf-8")

	embedded := r.URL.Query().Get("embed") == "1"
	css := p.url(p.assets["app.css"])
	sig := r.URL.Query().Get("sig")
	// A missing signature is not a guess at one: it costs the session
	// nothing and the database no visit.
	if sig == "" || len(sig) > maxSig {
		p.fail(w, http.StatusForbidden, failure{AppCSS: css, Embed: embedded,
			Title:   "This payment link is not valid",
			Message: "Open the complete link you were given, or ask the merchant for a new one."})
		return
	}
	info, err := p.check(r.Context(), r.PathValue("token"), sig)
	switch {
	case errors.Is(err, ErrLocked) || (err == nil && info.Locked):
		p.fail(w, http.StatusLocked, failure{AppCSS: css, Embed: embedded,
			Title:   "This checkout is locked",
			Message: "It was opened too many times with a wrong link. Ask the merchant for a new payment link."})
		return
	case errors.Is(err, ErrBadSignature):
		p.fail(w, http.StatusForbidden, failure{AppCSS: css, Embed: embedded,
			Title:   "This payment link is not valid",
			Message: "Open the complete link you were given, or ask the merchant for a new one."})
		return
	case errors.Is(err, invoice.ErrNotFound):
		p.fail(w, http.StatusNotFound, failure{AppCSS: css, Embed: embedded,
			Title:   "Checkout not found",
			Message: "There is no checkout at this address. Check the link, or ask the merchant for a new one."})
		return
	case err != nil:
		p.Log.WarnContext(r.Context(), "hosted page: check session", "err", err)
		p.fail(w, http.StatusInternalServerError, failure{AppCSS: css, Embed: embedded,
			Title:   "Something went wrong",
			Message: "The checkout could not be loaded. Try again in a moment."})
		return
	}
	var buf bytes.Buffer
	err = p.page.Execute(&buf, pageData{
		Merchant: info.Merchant, Test: info.Mode == "test", Embed: embedded,
		AppJS: p.url(p.assets["app.js"]), AppCSS: css,
	})
	if err != nil {
		p.Log.ErrorContext(r.Context(), "hosted page: render", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Write(buf.Bytes())
}

func (p *Pages) fail(w http.ResponseWriter, status int, f failure) {
	var buf bytes.Buffer
	if err := p.failed.Execute(&buf, f); err != nil {
		http.Error(w, f.Title, status)
		return
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// url is where the page loads a: the version in the query makes the URL
// change with the content, so the response may be cached for good.
func (p *Pages) url(a *asset) string {
	return "/pay/assets/" + a.name + "?v=" + a.hash
}

func (p *Pages) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := p.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	cache := "no-cache" // an unversioned URL revalidates with its ETag
	if r.URL.Query().Get("v") == a.hash {
		cache = "public, max-age=31536000, immutable"
	}
	serve(w, r, a, cache)
}

func (p *Pages) serveEmbed(w http.ResponseWriter, r *http.Request) {
	// Merchants' pages load it cross-origin under a fixed URL: short
	// caching, so that a new release reaches them soon.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	serve(w, r, p.embed, "public, max-age=300")
}

// serve sends a with its validators, gzipped when the client takes it, and
// answers a matching If-None-Match with 304.
func serve(w http.ResponseWriter, r *http.Request, a *asset, cache string) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", cache)
	body, etag := a.body, `"`+a.hash+`"`
	if a.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if AcceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = a.gz, `"`+a.hash+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	if ETagMatch(r.Header.Get("If-None-Match"), etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// AcceptsGzip reports whether an Accept-Encoding header takes gzip.
func AcceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// ETagMatch reports whether an If-None-Match header names etag (weakly, as
// RFC 9110 asks for If-None-Match).
func ETagMatch(header, etag string) bool {
	for part := range strings.SplitSeq(header, ",") {
		t := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
