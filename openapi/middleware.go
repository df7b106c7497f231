package openapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/settlepay/settle/invoice"
)

type ctxKey int

const keyRoute ctxKey = iota

// principal is who authenticate found the request to act for; the zero
// Principal before it (and on paths it leaves alone).
func principal(ctx context.Context) invoice.Principal {
	if rt, ok := ctx.Value(keyRoute).(*route); ok {
		return rt.principal
	}
	return invoice.Principal{}
}

func requestID(ctx context.Context) string {
	if rt, ok := ctx.Value(keyRoute).(*route); ok {
		return rt.id
	}
	return ""
}

// route is what the layers of one request share, in one value of its
// context (one context and one request copy for all): its id (set by
// observe), the operation's path template (set by a huma middleware), the
// principal (set by authenticate) and the merchant, which observe's
// metrics and log line read afterwards.
type route struct {
	id, pattern, merchantID string
	principal               invoice.Principal
}

// writeProblem writes p as problem+json from outside huma.
func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	p.Instance = r.URL.Path
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// unavailable logs a failure of the store behind a request (what names the
// step) and answers 503 without showing it.
func (s *server) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), what, "err", err, "request_id", requestID(r.Context()))
	writeProblem(w, r, problem(http.StatusServiceUnavailable, "unavailable", "Try again shortly."))
}

// recorder keeps the status and, when asked, a copy of the body.
type recorder struct {
	http.ResponseWriter
	status int
	body   *bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	if r.body == nil {
		r.ResponseWriter.WriteHeader(status)
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.body != nil {
		return r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe gives each request an id, logs it and counts it.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			// An id, not a secret: the runtime's ChaCha8 generator
			// (math/rand/v2) is enough, without a system call.
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], rand.Uint64())
			id = "req_" + hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		rt := &route{id: id, pattern: "other"}
		ctx := context.WithValue(r.Context(), keyRoute, rt)
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(ctx))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		elapsed := time.Since(start)
		s.metrics.observe(r.Method, rt.pattern, rec.status, elapsed)
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(ctx, level, "request",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", rt.pattern),
			slog.Int("status", rec.status), slog.Int64("duration_us", elapsed.Microseconds()),
			slog.String("merchant_id", rt.merchantID))
	})
}

// bearerSecret is the key in the request's Authorization header, or "".
// The scheme name is case-insensitive (RFC 9110, section 11.1).
func bearerSecret(r *http.Request) string {
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(secret)
}

// invalidAPIKey is the answer to an unknown or revoked key.
func invalidAPIKey(w http.ResponseWriter) *Problem {
	w.Header().Set("WWW-Authenticate", `Bearer realm="settle", error="invalid_token"`)
	return problem(http.StatusUnauthorized, "invalid_api_key", "The API key is unknown or revoked.")
}

// scopesKey names an operation's metadata entry listing the bound scopes
// (invoice.Scope.Bound) that may call it, as a []invoice.Scope. Keys of a
// bound scope are refused on every operation that does not list theirs, so
// a new endpoint is closed to them until it says otherwise.
const scopesKey = "bound_scopes"

// allowsScope reports whether op lists the bound scope s.
func allowsScope(op *huma.Operation, s invoice.Scope) bool {
	scopes, _ := op.Metadata[scopesKey].([]invoice.Scope)
	return slices.Contains(scopes, s)
}

// boundScopeRefused is the answer to a bound key outside its operations.
func boundScopeRefused(s invoice.Scope) *Problem {
	return problem(http.StatusForbidden, "insufficient_scope", "This key has the "+string(s)+" scope, which may not use this endpoint.")
}

// authenticate resolves the bearer key of every /api/v1 request and applies
// the scope and live-gate rules; it leaves other paths alone.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The payor API takes the session's own headers (payor.go).
		// The rails' notifications authenticate by the rail account's
		// callback secret (rails.go).
		if !strings.HasPrefix(r.URL.Path, "/api/v1/") || strings.HasPrefix(r.URL.Path, payorPrefix) || strings.HasPrefix(r.URL.Path, railsPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		// A browser cannot send headers with a WebSocket: GET /api/v1/ws may
		// come with ?ws_token= instead, which the WebSocket handler looks up
		// and uses up itself (ws.go), so that a refused upgrade keeps it.
		terminalWS := r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, terminalWSPrefix)
		if r.Method == http.MethodGet && (r.URL.Path == wsPath || terminalWS) && r.Header.Get("Authorization") == "" &&
			r.Header.Get("Api-Key") == "" && r.URL.Query().Has("ws_token") {
			next.ServeHTTP(w, r)
			return
		}
		secret := bearerSecret(r)
		if secret == "" && terminalWS {
			// A terminal's socket also takes its key in an api-key header.
			secret = strings.TrimSpace(r.Header.Get("Api-Key"))
		}
		if secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="settle"`)
			writeProblem(w, r, problem(http.StatusUnauthorized, "unauthenticated", "Send an API key as Authorization: Bearer sk_…"))
			return
		}
		p, err := s.invoices.Authenticate(r.Context(), secret)
		switch {
		case errors.Is(err, invoice.ErrUnauthenticated):
			writeProblem(w, r, invalidAPIKey(w))
			return
		case err != nil:
			s.unavailable(w, r, "authenticate", err)
			return
		case p.Mode == invoice.ModeLive && !p.LiveEnabled:
			writeProblem(w, r, problem(http.StatusForbidden, "live_mode_disabled", "Live mode is not enabled for this merchant yet; an operator enables it with `settle merchants enable-live`."))
			return
		case p.Scope == invoice.ScopeRead && r.Method != http.MethodGet && r.Method != http.MethodHead && r.URL.Path != wsTokensPath:
			writeProblem(w, r, problem(http.StatusForbidden, "insufficient_scope", "This key has the read scope; writing needs a key of scope merchant."))
			return
		}
		if rt, ok := r.Context().Value(keyRoute).(*route); ok {
			rt.merchantID, rt.principal = p.MerchantID, p
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyRoute, &route{pattern: "other", merchantID: p.MerchantID, principal: p})))
	})
}
