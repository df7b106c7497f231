package openapi

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// homeCSS is the home page's only style, allowed by its hash: the page
// runs under a CSP as strict as the hosted checkout's, with no script.
const homeCSS = `body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}` +
	`h1{font-size:1.5rem;margin-bottom:.25rem}p.lead{margin-top:0;color:#555}code{font-size:.9em}` +
	`li{margin:.4rem 0}a{color:#0b57d0}@media (prefers-color-scheme:dark){body{background:#111;color:#eee}p.lead{color:#aaa}a{color:#8ab4f8}}`

// homeHTML is what GET / shows a person who opens the server in a browser:
// what this is and where to go; it carries nothing of any merchant.
var homeHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>settle</title>
<link rel="icon" href="data:,">
<style>` + homeCSS + `</style>
</head>
<body>
<main>
<h1>settle</h1>
<p class="lead">A self-hosted invoice processor for stablecoin and instant-rail checkout. This server answers the settle API; there is nothing to see here without an API key.</p>
<ul>
<li><a href="/docs">API documentation</a> (the OpenAPI spec, browsable)</li>
<li><a href="/openapi.json">/openapi.json</a> and <a href="/openapi.yaml">/openapi.yaml</a>: the spec itself</li>
<li><a href="/healthz">/healthz</a>: liveness, <a href="/readyz">/readyz</a>: readiness (the database and the chain watchers)</li>
</ul>
<p>The API lives under <code>/api/v1</code> and takes <code>Authorization: Bearer sk_test_…</code> or <code>sk_live_…</code>. A payor opens the <code>payment_url</code> of an invoice, not this page.</p>
</main>
</body>
</html>
`

// homeCSP allows the one inline style by its hash, and nothing else.
var homeCSP = func() string {
	sum := sha256.Sum256([]byte(homeCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src data:; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

// serveHome answers GET / with homeHTML.
func serveHome(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", homeCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "public, max-age=300")
	if r.Method == http.MethodHead {
		return
	}
	strings.NewReader(homeHTML).WriteTo(w)
}
