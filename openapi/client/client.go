package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// DefaultUserAgent is sent when no WithUserAgent option is given.
const DefaultUserAgent = "settle-go"

// Client calls one settle server with one API key. It is safe for
// concurrent use.
type Client struct {
	base      string // without a trailing slash
	baseErr   error  // why baseURL is unusable, if it is
	apiKey    string
	http      *http.Client
	userAgent string
	retry     RetryPolicy
}

// RetryPolicy bounds the retries of idempotent requests: GETs, POSTs that
// carry an Idempotency-Key (every merchant POST does) and the payor's
// choice of method. They are retried on network errors, 429 and 5xx
// answers, waiting with exponential backoff from Initial up to Max, or the
// server's Retry-After when it asks for longer (up to MaxRetryAfter).
type RetryPolicy struct {
	MaxRetries    int           // default 4; negative for none
	Initial       time.Duration // default 250 ms
	Max           time.Duration // default 5 s
	MaxRetryAfter time.Duration // default 1 min
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxRetries == 0 {
		p.MaxRetries = 4
	}
	if p.Initial <= 0 {
		p.Initial = 250 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 5 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = time.Minute
	}
	return p
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default http.DefaultClient).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithRetryPolicy replaces the default retry policy.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *Client) { c.retry = p.withDefaults() } }

// New returns a client of the server at baseURL (e.g. "https://pay.example.com",
// without /api/v1) authenticated with apiKey (sk_test_… or sk_live_…). The
// key may be empty for a client that only opens payor sessions. A baseURL
// that does not parse makes every call fail with the parse error.
func New(baseURL, apiKey string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), apiKey: apiKey, http: http.DefaultClient, userAgent: DefaultUserAgent, retry: RetryPolicy{}.withDefaults()}
	if u, err := url.Parse(c.base); err != nil {
		c.baseErr = err
	} else if u.Scheme != "http" && u.Scheme != "https" {
		c.baseErr = fmt.Errorf("base URL %q: want http or https", baseURL)
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// RequestOption adjusts one request.
type RequestOption func(*call)

// WithIdempotencyKey sends key as the Idempotency-Key of a POST, e.g. your
// order id: a retry with the same key and body, even from another process,
// gets the first response again instead of doing the work twice. Without
// it the client makes up a random key per call, which makes its own
// retries safe.
func WithIdempotencyKey(key string) RequestOption { return func(r *call) { r.idemKey = key } }

// call is one request, made once or retried.
type call struct {
	op      *operation
	id      string     // the path parameter
	query   url.Values // may be nil
	body    any        // marshalled as JSON when not nil
	header  http.Header
	idemKey string
	accept  string // default JSON
}

// responseMeta is what a caller may want of an answer besides its body.
type responseMeta struct {
	header http.Header
}

// do makes the call, retrying what may be retried, and decodes a 2xx
// answer into out (unless out is nil or a *[]byte, which gets the raw body).
func (c *Client) do(ctx context.Context, r *call, out any, opts ...RequestOption) (responseMeta, error) {
	for _, o := range opts {
		o(r)
	}
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return responseMeta{}, fmt.Errorf("%s: encode body: %w", r.op.ID, err)
		}
	}
	if r.op.Keyed && r.idemKey == "" {
		r.idemKey = newIdempotencyKey()
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(c.retry.Initial), backoff.WithMaxInterval(c.retry.Max), backoff.WithMaxElapsedTime(0))
	for attempt := 0; ; attempt++ {
		meta, retryAfter, err := c.attempt(ctx, r, body, out)
		if err == nil || !r.op.retryable() || attempt >= c.retry.MaxRetries || !transient(err) || ctx.Err() != nil {
			return meta, err
		}
		wait := b.NextBackOff()
		if retryAfter > wait {
			wait = min(retryAfter, c.retry.MaxRetryAfter)
		}
		if werr := sleep(ctx, wait); werr != nil {
			return meta, err
		}
	}
}

// attempt makes one request; for a 429 or 503 it also returns the wait
// the server asked for.
func (c *Client) attempt(ctx context.Context, r *call, body []byte, out any) (responseMeta, time.Duration, error) {
	req, err := c.newRequest(ctx, r, body)
	if err != nil {
		return responseMeta{}, 0, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return responseMeta{}, 0, &netError{err: fmt.Errorf("%s: %w", r.op.ID, err)}
	}
	defer res.Body.Close()
	meta := responseMeta{header: res.Header}
	raw, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return meta, 0, &netError{err: fmt.Errorf("%s: read answer: %w", r.op.ID, err)}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		e := newError(res, raw)
		return meta, e.RetryAfter, e
	}
	switch o := out.(type) {
	case nil:
	case *[]byte:
		*o = raw
	default:
		if err := json.Unmarshal(raw, out); err != nil {
			return meta, 0, fmt.Errorf("%s: decode answer: %w", r.op.ID, err)
		}
	}
	return meta, 0, nil
}

func (c *Client) newRequest(ctx context.Context, r *call, body []byte) (*http.Request, error) {
	if c.baseErr != nil {
		return nil, fmt.Errorf("%s: %w", r.op.ID, c.baseErr)
	}
	u := c.base + r.op.path(url.PathEscape(r.id))
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.op.Method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.op.ID, err)
	}
	addHeaders(req.Header, r.header)
	accept := r.accept
	if accept == "" {
		accept = "application/json, application/problem+json"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !r.op.Payor && c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	if r.idemKey != "" {
		req.Header.Set("Idempotency-Key", r.idemKey)
	}
	return req, nil
}

func addHeaders(dst, src http.Header) {
	for k, vs := range src {
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// netError is a request that got no answer.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// transient reports whether the same request may succeed later: no answer
// came, or the server was overloaded or failing.
func transient(err error) bool {
	var ne *netError
	if errors.As(err, &ne) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && (e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500)
}

// parseRetryAfter reads a Retry-After of seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newIdempotencyKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "settle-go-" + hex.EncodeToString(b)
}
