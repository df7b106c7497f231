// Package openapi is settle's HTTP API, described by OpenAPI 3.1 and built
// with huma: the operations, API-key authentication with scopes and modes,
// idempotency, the problem-details error model and the operational
// endpoints. It holds no business rules; it translates requests into calls
// on the domain packages. openapi.yaml beside this file is generated from
// the code (`settle openapi`) and a test keeps it current.
package openapi

import (
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/openapi/docs"
	"github.com/settlepay/settle/openapi/pos"
	"github.com/settlepay/settle/payor"
)

// maxBodyBytes is the largest request body accepted (1 MiB).
const maxBodyBytes = 1 << 20

// humaMaxBodyBytes is the operations' MaxBodyBytes: huma refuses a body that
// reaches its limit, so the limit is one byte above the largest body taken.
const humaMaxBodyBytes = maxBodyBytes + 1

// Version is the API version in the spec.
const Version = "1.0.0"

// DefaultServer is the server the checked-in spec names: "/", the server
// the spec is read from (OpenAPI 3.1 resolves a relative server URL against
// the document's), since settle is self-hosted and has no address of its
// own. A running server names its public URL instead (Deps.PublicURL).
const DefaultServer = "/"

// License is the spec's info.license. The repository has no LICENSE file
// and no licence is stated anywhere in it, so the spec says exactly that
// rather than inventing one; when the owners choose a licence, put its name
// here and its SPDX identifier in info.license.identifier.
const License = "No licence granted (the repository has no LICENSE file yet)"

// reference is the /docs page, built once for every handler.
var reference = sync.OnceValue(docs.New)

// Deps are what the API needs.
type Deps struct {
	Invoices *invoice.Service
	Webhooks *events.Webhooks // nil: webhook endpoints can be managed but nothing is sent
	Hub      *events.Hub      // nil: no merchant WebSocket
	Log      *slog.Logger
	Metrics  *Metrics // nil means a private registry, with the invoice counts
	// Ledger holds receiving accounts and the network catalogue; nil means
	// no network but the sandbox.
	Ledger  *chains.Ledger
	Monitor *chains.Monitor // nil: no watcher status in /readyz
	// Rails holds rail accounts and takes the rails' notifications; nil
	// means rails over Invoices with default settings.
	Rails *fiat.Rails
	// Payor is the payor side; nil means no payor API, pages or WebSocket.
	Payor   *payor.Service
	PayorWS http.Handler // GET /api/v1/payor/ws
	Pages   *payor.Pages // the hosted page and embed.js
	// QRPages serves the waiting pages of scanned QR codes and gives
	// codes their printable URL; nil means neither.
	QRPages *payor.QRPages
	// QRStarts sends QR sessions' start requests; nil means the webhook
	// address policy for start URLs and no wake-up after a scan.
	QRStarts *events.QRStarts
	// PayorRate is payor requests per second allowed per IP (burst 4×);
	// 0 means 20.
	PayorRate float64
	// PublicURL is the server's base URL as clients reach it
	// (SETTLE_PUBLIC_URL), the server the served spec names; "" means
	// DefaultServer, as in the checked-in spec.
	PublicURL string
}

type server struct {
	invoices *invoice.Service
	webhooks *events.Webhooks
	hub      *events.Hub
	log      *slog.Logger
	metrics  *Metrics
	ledger   *chains.Ledger
	monitor  *chains.Monitor
	rails    *fiat.Rails

	payor      *payor.Service
	payorWS    http.Handler
	pages      *payor.Pages
	payorLimit *ipLimiter
	qrPages    *payor.QRPages
	qrStarts   *events.QRStarts
}

// New returns the HTTP handler of the whole API.
func New(d Deps) http.Handler {
	s := &server{invoices: d.Invoices, webhooks: d.Webhooks, hub: d.Hub, log: d.Log, metrics: d.Metrics, ledger: d.Ledger, monitor: d.Monitor}
	s.payor, s.payorWS, s.pages = d.Payor, d.PayorWS, d.Pages
	s.qrPages, s.qrStarts = d.QRPages, d.QRStarts
	if s.qrPages != nil {
		s.qrPages.CreateInvoice = s.createQRInvoice
		if s.qrStarts != nil && s.qrPages.Wake == nil {
			s.qrPages.Wake = s.qrStarts.Wake
		}
	}
	if s.rails = d.Rails; s.rails == nil {
		s.rails = fiat.NewRails(d.Invoices)
	}
	if d.PayorRate <= 0 {
		d.PayorRate = 20
	}
	s.payorLimit = newIPLimiter(d.PayorRate, int(4*d.PayorRate))
	if s.ledger == nil {
		cat, _ := chains.NewCatalogue(nil)
		s.ledger = chains.NewLedger(d.Invoices, cat)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(d.Invoices, d.Hub)
	}
	mux := http.NewServeMux()
	api := newAPI(mux, d.PublicURL)
	api.UseMiddleware(func(ctx huma.Context, next func(huma.Context)) {
		if rt, ok := ctx.Context().Value(keyRoute).(*route); ok {
			rt.pattern = ctx.Operation().Method + " " + ctx.Operation().Path
		}
		if p := principal(ctx.Context()); p.Scope.Bound() && !allowsScope(ctx.Operation(), p.Scope) {
			r, w := humago.Unwrap(ctx)
			writeProblem(w, r, boundScopeRefused(p.Scope))
			return
		}
		next(ctx)
	})
	s.register(api)
	s.registerPayments(api)
	s.registerPayor(api, mux)
	s.registerWS(api, mux)
	s.registerOps(mux)
	pos.New().Register(mux)
	reference().Register(mux)
	mux.HandleFunc("GET /{$}", serveHome)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// This pattern catches every method, so the mux never answers 405
		// itself: find the methods the path has, if any.
		if allow := allowed(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, r, problem(http.StatusMethodNotAllowed, "method_not_allowed",
				r.Method+" is not allowed here; use "+strings.Join(allow, " or ")+"."))
			return
		}
		writeProblem(w, r, problem(http.StatusNotFound, "not_found", "No such endpoint; see /docs."))
	})
	return s.observe(s.limitPayor(s.rejectNUL(s.authenticate(s.idempotent(mux)))))
}

// allowed lists the methods other than r's that mux routes r's path to a
// handler of its own, rather than to the catch-all "/".
func allowed(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}

// Spec returns the OpenAPI document as YAML, without a database.
func Spec() ([]byte, error) {
	api := newAPI(http.NewServeMux(), "")
	s := &server{}
	s.register(api)
	s.registerPayments(api)
	s.registerPayor(api, http.NewServeMux())
	s.registerWS(api, http.NewServeMux())
	return api.OpenAPI().YAML()
}

// newAPI returns the huma API on mux, its spec naming publicURL as the
// server ("" means DefaultServer).
func newAPI(mux *http.ServeMux, publicURL string) huma.API {
	cfg := huma.DefaultConfig("settle API", Version)
	cfg.CreateHooks = nil // no $schema links in bodies: responses are exactly the documented objects
	// /docs is the docs package's page, served from the binary; huma's
	// own loads its scripts from a CDN.
	cfg.DocsPath = ""
	cfg.Info.License = &huma.License{Name: License}
	cfg.Servers = []*huma.Server{{URL: DefaultServer,
		Description: "The settle server this spec is read from; a running server's own /openapi.json names its public URL (SETTLE_PUBLIC_URL) here."}}
	if publicURL != "" {
		cfg.Servers = []*huma.Server{{URL: strings.TrimRight(publicURL, "/"), Description: "This server"}}
	}
	cfg.Info.Description = "Invoices for stablecoin and instant-rail checkout. " +
		"Authenticate with `Authorization: Bearer sk_test_…` or `sk_live_…`. " +
		"Every error is RFC 9457 problem details with a stable `code`. " +
		"The payor endpoints (`/api/v1/payor/…`) take the invoice's `payment_session_headers` instead of a key. " +
		"Every merchant POST takes an `Idempotency-Key` header: the same key, query and body within 24 hours returns the first response again; the same key with another query or body is refused with 409 `idempotency_conflict`. A retry that would show a webhook secret rotated since is refused with 409 `secret_rotated`."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"apiKey": {Type: "http", Scheme: "bearer", Description: "A secret key, sk_test_… or sk_live_…; keys of scope `read` may only read."},
	}
	cfg.Security = []map[string][]string{{"apiKey": {}}}
	// Problems written by huma name the request path, as writeProblem's do.
	cfg.Transformers = append(cfg.Transformers, func(ctx huma.Context, status string, v any) (any, error) {
		if p, ok := v.(*Problem); ok && p.Instance == "" {
			p.Instance = ctx.URL().Path
		}
		return v, nil
	})
	reg := cfg.Components.Schemas
	reg.RegisterTypeAlias(reflect.TypeFor[invoice.Units](), reflect.TypeFor[string]())
	return humago.New(mux, cfg)
}
