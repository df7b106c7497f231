package openapi

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// rejectNUL refuses, with 400 invalid_string, every request that carries the
// NUL character (U+0000) in its path, a query parameter's name or value, a
// header, or its body (a raw 0x00 byte in any body; a \u0000 escape in a
// JSON one). No input of this API has a use for it, and it must never reach
// the store: Postgres refuses it in text (which was a 500) while SQLite keeps
// it, so the same request would be stored on one database and fail on the
// other. It is one check for every route, the hosted page included, before
// authentication: the answer does not depend on who asks.
func (s *server) rejectNUL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		where := nulIn(r)
		if where == "" && r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
			if err != nil {
				writeProblem(w, r, problem(http.StatusBadRequest, "bad_request", "Cannot read the request body."))
				return
			}
			// A body over the limit is refused downstream as too large;
			// what was read is put back in front of the rest.
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
			if len(body) <= maxBodyBytes && bodyHasNUL(body, isJSON(r.Header.Get("Content-Type"))) {
				where = "body"
			}
		}
		if where == "" {
			next.ServeHTTP(w, r)
			return
		}
		writeProblem(w, r, problem(http.StatusBadRequest, "invalid_string",
			where+": must not contain the NUL character (U+0000)",
			&huma.ErrorDetail{Location: where, Message: "must not contain the NUL character (U+0000)"}))
	})
}

// nulIn names where in r's path, query or headers a NUL is, or "".
func nulIn(r *http.Request) string {
	if strings.ContainsRune(r.URL.Path, 0) { // decoded: %00 is a NUL here
		return "path"
	}
	if strings.Contains(r.URL.RawQuery, "%00") {
		// Decoded as the handlers will read it (a pair that does not
		// decode is dropped by them too).
		q, _ := url.ParseQuery(r.URL.RawQuery)
		for k, vs := range q {
			if strings.ContainsRune(k, 0) {
				return "query"
			}
			for _, v := range vs {
				if strings.ContainsRune(v, 0) {
					return "query." + k
				}
			}
		}
	}
	// net/http refuses control characters in header values before any
	// handler runs; this keeps the rule whatever transport brought them.
	for k, vs := range r.Header {
		for _, v := range vs {
			if strings.ContainsRune(v, 0) {
				return "header." + k
			}
		}
	}
	return ""
}

// isJSON reports whether a request body of this Content-Type is read as
// JSON: huma takes a body without one as JSON too.
func isJSON(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// bodyHasNUL reports whether body holds a NUL byte or, read as JSON, a
// \u0000 escape: one whose backslash is not itself escaped (an odd run of
// backslashes before the u).
func bodyHasNUL(body []byte, asJSON bool) bool {
	if bytes.IndexByte(body, 0) >= 0 {
		return true
	}
	if !asJSON {
		return false
	}
	for i := 0; ; {
		j := bytes.Index(body[i:], []byte(`u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		n := 0
		for k := at - 1; k >= 0 && body[k] == '\\'; k-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
		i = at + 1
	}
}
