// Package pos is the cashier screen of a point-of-sale terminal, served by
// settle at /pos: one HTML page with its script and style sheet, embedded,
// with no build step. The page signs in with a terminal's key and command
// secret (kept in the tab's sessionStorage), signs its commands in the
// browser with WebCrypto and drives the terminal WebSocket; every rule
// lives behind that socket, in openapi and invoice. The package only serves
// files: it reads no database and knows no invoice.
//
// It lives beneath openapi, the HTTP layer that mounts it (DESIGN: the
// point-of-sale screen beneath the HTTP layer), rather than in payor: the
// payor never sees it, a merchant's cashier does.
package pos

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var assetFS embed.FS

// CSP is the Content-Security-Policy of the cashier screen: as strict as
// the hosted checkout's (payor.PageCSP), and stricter where it can be:
// nobody frames the cashier's screen.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Screen serves the cashier screen.
type Screen struct {
	page   []byte
	assets map[string]asset
}

type asset struct {
	body        []byte
	contentType string
	hash        string
}

// New returns the screen with its page rendered once.
func New() *Screen {
	s := &Screen{assets: map[string]asset{}}
	for _, name := range []string{"app.js", "app.css"} {
		body, err := fs.ReadFile(assetFS, "assets/"+name)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		ct := "text/css; charset=utf-8"
		if strings.HasSuffix(name, ".js") {
			ct = "application/javascript; charset=utf-8"
		}
		s.assets[name] = asset{body: body, contentType: ct, hash: hex.EncodeToString(sum[:8])}
	}
	t := template.Must(template.ParseFS(assetFS, "assets/index.html"))
	var b bytes.Buffer
	if err := t.Execute(&b, map[string]string{
		"AppJS":  "/pos/assets/app.js?v=" + s.assets["app.js"].hash,
		"AppCSS": "/pos/assets/app.css?v=" + s.assets["app.css"].hash,
	}); err != nil {
		panic(err)
	}
	s.page = b.Bytes()
	return s
}

// Register adds GET /pos and GET /pos/assets/{file} to mux.
func (s *Screen) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /pos", s.servePage)
	mux.HandleFunc("GET /pos/assets/{file}", s.serveAsset)
}

func (s *Screen) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write(s.page)
}

func (s *Screen) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if r.Header.Get("If-None-Match") == `"`+a.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(a.body)
}
