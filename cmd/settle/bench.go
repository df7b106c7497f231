package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// bench is `settle bench create`: a closed-loop load generator for
// POST /api/v1/invoices. Each of N workers sends one request at a time over
// its own keep-alive connection until the duration is over; a request in
// flight at the deadline is allowed to finish, so every invoice the server
// committed is counted. Latencies are kept exactly (one entry per request)
// and reported as nearest-rank percentiles.
// printResult prints a load tool's result as text, or as one JSON object.
func (m *Main) printResult(res interface{ writeText(io.Writer) error }, asJSON bool) error {
	if asJSON {
		return m.printJSON(res)
	}
	return res.writeText(m.Stdout)
}

func (m *Main) bench(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "webhooks":
			return m.benchWebhooks(ctx, args[1:])
		case "ws":
			return m.benchWS(ctx, args[1:])
		case "detect":
			return m.benchDetect(ctx, args[1:])
		case "sqlite-raw":
			return m.benchSQLiteRaw(ctx, args[1:])
		}
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(m.Stderr, "usage: settle bench create|webhooks|ws|detect|sqlite-raw [flags]; settle bench create --url URL --key KEY [--concurrency N] [--duration D] [--json]\n")
		return errUsage
	}
	var c benchConfig
	fs := newFlagSet("bench create", m.Stderr)
	fs.StringVar(&c.URL, "url", "http://localhost:8080", "base URL of the settle server (only this host is contacted)")
	fs.StringVar(&c.Key, "key", "", "API key (sk_test_… of scope merchant) the invoices are created with (required)")
	fs.IntVar(&c.Concurrency, "concurrency", 16, "number of workers, each with one request in flight")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to send requests")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "timeout of one request")
	fs.StringVar(&c.Currency, "currency", "USD", "currency of the invoices")
	fs.StringVar(&c.Amount, "amount", "25.00", "amount of the invoices, a decimal string")
	fs.BoolVar(&c.JSON, "json", false, "print the result as one JSON object")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench create: unexpected arguments %q", fs.Args())
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("bench create: %w", err)
	}
	res, err := runBench(ctx, c)
	if err != nil {
		return fmt.Errorf("bench create: %w", err)
	}
	if err := m.printResult(res, c.JSON); err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("bench create: %w: %d of %d requests got no 201 Created", errFailed, res.Errors, res.Requests)
	}
	return nil
}

// benchConfig is one load run.
type benchConfig struct {
	URL         string
	Key         string
	Concurrency int
	Duration    time.Duration
	Timeout     time.Duration
	Currency    string
	Amount      string
	JSON        bool

	endpoint string // URL + /api/v1/invoices
}

var (
	benchAmount   = regexp.MustCompile(`^[0-9]{1,13}(\.[0-9]{1,18})?$`)
	benchCurrency = regexp.MustCompile(`^[A-Z]{3}$`)
)

func (c *benchConfig) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want an absolute http(s) URL", c.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--url %q: give the server's base URL, without query or fragment", c.URL)
	}
	// The base URL, or the endpoint itself.
	c.endpoint = strings.TrimSuffix(strings.TrimRight(c.URL, "/"), "/api/v1/invoices") + "/api/v1/invoices"
	switch {
	case c.Key == "":
		return errors.New("--key is required")
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return fmt.Errorf("--concurrency %d: want 1 to 10000", c.Concurrency)
	case c.Duration <= 0:
		return fmt.Errorf("--duration %s: want a positive duration", c.Duration)
	case c.Timeout <= 0:
		return fmt.Errorf("--timeout %s: want a positive duration", c.Timeout)
	case !benchAmount.MatchString(c.Amount):
		return fmt.Errorf("--amount %q: want a decimal string such as 25.00", c.Amount)
	case !benchCurrency.MatchString(c.Currency):
		return fmt.Errorf("--currency %q: want an ISO 4217 code such as USD", c.Currency)
	}
	return nil
}

// benchResult is what a run measured. Latencies are whole microseconds.
type benchResult struct {
	URL               string         `json:"url"`
	Concurrency       int            `json:"concurrency"`
	DurationSeconds   float64        `json:"duration_seconds"` // wall time from the first request to the last answer
	Requests          int            `json:"requests"`
	Succeeded         int            `json:"succeeded"` // 201 Created
	Errors            int            `json:"errors"`
	ErrorsByStatus    map[string]int `json:"errors_by_status"` // "401", "500", … and "transport"
	FirstError        string         `json:"first_error,omitempty"`
	RequestsPerSecond float64        `json:"requests_per_second"` // all completed requests / duration
	CreatedPerSecond  float64        `json:"created_per_second"`  // 201s / duration
	Latency           benchLatency   `json:"latency_us"`
}

// benchLatency summarises every request's latency, failed ones included.
type benchLatency struct {
	Min  int64 `json:"min"`
	Mean int64 `json:"mean"`
	P50  int64 `json:"p50"`
	P90  int64 `json:"p90"`
	P99  int64 `json:"p99"`
	Max  int64 `json:"max"`
}

// benchRun is what benchLoop measured: each call's latency, the successes,
// the failures by kind, the first failure's detail and the time it took.
type benchRun struct {
	latencies  []time.Duration
	succeeded  int
	errors     int
	failed     map[string]int
	firstError string
	elapsed    time.Duration
}

// benchLoop runs concurrency workers, each calling op with the next number
// of a shared sequence until d has passed or ctx ends, and tallies them. op
// returns "" on success, else the failure's kind and detail; a failure once
// ctx has ended is an interruption, counted as neither.
func benchLoop(ctx context.Context, concurrency int, d time.Duration, op func(n int64) (kind, detail string)) benchRun {
	type worker struct {
		latencies  []time.Duration
		ok         int
		failed     map[string]int
		firstError string
	}
	var seq atomic.Int64
	workers := make([]*worker, concurrency)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{latencies: make([]time.Duration, 0, 1024), failed: map[string]int{}}
		workers[i] = w
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := seq.Add(1)
				t0 := time.Now()
				kind, detail := op(n)
				if kind != "" && ctx.Err() != nil {
					return // interrupted: neither a success nor a failure
				}
				w.latencies = append(w.latencies, time.Since(t0))
				if kind == "" {
					w.ok++
					continue
				}
				w.failed[kind]++
				if w.firstError == "" {
					w.firstError = detail
				}
			}
		})
	}
	wg.Wait()
	r := benchRun{elapsed: time.Since(start), failed: map[string]int{}}
	for _, w := range workers {
		r.latencies = append(r.latencies, w.latencies...)
		r.succeeded += w.ok
		for k, v := range w.failed {
			r.failed[k] += v
			r.errors += v
		}
		if r.firstError == "" {
			r.firstError = w.firstError
		}
	}
	return r
}

func runBench(ctx context.Context, c benchConfig) (*benchResult, error) {
	post, closeAll := benchPoster(c)
	defer closeAll()
	run := benchLoop(ctx, c.Concurrency, c.Duration, func(n int64) (string, string) {
		// The amount and currency passed validate (digits and a point,
		// capital letters), so the body needs no JSON escaping.
		body := []byte(`{"amount":"` + c.Amount + `","currency":"` + c.Currency +
			`","merchant_order_id":"bench-` + strconv.FormatInt(n, 10) + `"}`)
		status, excerpt, err := post(ctx, body)
		switch {
		case err != nil:
			return "transport", err.Error()
		case status != http.StatusCreated:
			return strconv.Itoa(status), fmt.Sprintf("HTTP %d: %s", status, excerpt)
		}
		return "", ""
	})
	elapsed, all := run.elapsed, run.latencies
	res := &benchResult{URL: c.endpoint, Concurrency: c.Concurrency, DurationSeconds: round(elapsed.Seconds(), 3),
		Succeeded: run.succeeded, Errors: run.errors, ErrorsByStatus: run.failed, FirstError: run.firstError}
	res.Requests = len(all)
	if res.Requests == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("no request completed")
	}
	res.RequestsPerSecond = round(float64(res.Requests)/elapsed.Seconds(), 1)
	res.CreatedPerSecond = round(float64(res.Succeeded)/elapsed.Seconds(), 1)
	res.Latency = summarise(all)
	return res, nil
}

// benchPoster returns how the workers post a create-invoice request and
// read the whole answer: its status and, for an answer other than 201, the
// start of its body (a problem document).
//
// Over http:// each request goes out on one of Concurrency keep-alive
// connections held by this goroutine-free client (rawConn), so that the
// load generator costs the machine it shares with the server about what
// pgbench costs as the reference's: Go's http.Client hands every request
// between goroutines and allocates a request and a transport round trip,
// about twice the CPU. Over https:// it is Go's http.Client.
func benchPoster(c benchConfig) (post func(ctx context.Context, body []byte) (int, string, error), closeAll func()) {
	u, _ := url.Parse(c.endpoint) // validated
	if u.Scheme == "http" {
		conns := make(chan *rawConn, c.Concurrency)
		for range c.Concurrency {
			conns <- &rawConn{addr: u.Host, host: u.Host, path: u.RequestURI(), key: c.Key, timeout: c.Timeout}
		}
		return func(ctx context.Context, body []byte) (int, string, error) {
				rc := <-conns
				defer func() { conns <- rc }()
				return rc.post(ctx, body)
			}, func() {
				for range c.Concurrency {
					(<-conns).close()
				}
			}
	}
	tr := &http.Transport{
		Proxy:               nil, // only ever the given URL, never an environment proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        c.Concurrency,
		MaxIdleConnsPerHost: c.Concurrency,
		MaxConnsPerHost:     c.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	client := &http.Client{
		Transport: tr,
		Timeout:   c.Timeout,
		// A redirect would send the key elsewhere; report it instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(ctx context.Context, body []byte) (int, string, error) {
		return benchRequest(ctx, client, c.endpoint, c.Key, body)
	}, tr.CloseIdleConnections
}

// benchRequest sends one create-invoice request with client and reads the
// whole answer, so the connection goes back to the pool.
func benchRequest(ctx context.Context, client *http.Client, endpoint, key string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	return readBenchAnswer(res)
}

// readBenchAnswer reads res whole and closes its body.
func readBenchAnswer(res *http.Response) (int, string, error) {
	defer res.Body.Close()
	var excerpt []byte
	if res.StatusCode != http.StatusCreated {
		excerpt, _ = io.ReadAll(io.LimitReader(res.Body, 300))
	}
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return 0, "", err
	}
	return res.StatusCode, strings.TrimSpace(string(excerpt)), nil
}

// rawConn is one keep-alive HTTP/1.1 connection that posts requests one at
// a time: the request written from a reused buffer, the answer parsed by
// net/http's own ReadResponse (chunked bodies, Connection: close). Any
// error closes it; the next post dials again.
type rawConn struct {
	addr, host, path, key string
	timeout               time.Duration

	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

func (rc *rawConn) post(ctx context.Context, body []byte) (int, string, error) {
	if rc.conn == nil {
		d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", rc.addr)
		if err != nil {
			return 0, "", err
		}
		rc.conn, rc.r = conn, bufio.NewReader(conn)
	}
	rc.buf = append(rc.buf[:0], "POST "...)
	rc.buf = append(rc.buf, rc.path...)
	rc.buf = append(rc.buf, " HTTP/1.1\r\nHost: "...)
	rc.buf = append(rc.buf, rc.host...)
	rc.buf = append(rc.buf, "\r\nAuthorization: Bearer "...)
	rc.buf = append(rc.buf, rc.key...)
	rc.buf = append(rc.buf, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	rc.buf = strconv.AppendInt(rc.buf, int64(len(body)), 10)
	rc.buf = append(rc.buf, "\r\n\r\n"...)
	rc.buf = append(rc.buf, body...)
	deadline := time.Now().Add(rc.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	rc.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { rc.conn.SetDeadline(time.Unix(1, 0)) }) // interrupt at once
	defer stop()
	if _, err := rc.conn.Write(rc.buf); err != nil {
		rc.close()
		return 0, "", err
	}
	res, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		rc.close()
		return 0, "", err
	}
	status, excerpt, err := readBenchAnswer(res)
	if err != nil || res.Close {
		rc.close()
	}
	return status, excerpt, err
}

func (rc *rawConn) close() {
	if rc.conn != nil {
		rc.conn.Close()
		rc.conn = nil
	}
}

// summarise sorts the latencies in place and picks nearest-rank
// percentiles: the p-th percentile is the smallest value with at least p %
// of the values at or below it.
func summarise(d []time.Duration) benchLatency {
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	rank := func(p int) int64 {
		i := (p*len(d) + 99) / 100 // ceil(p/100 · n)
		return d[max(i, 1)-1].Microseconds()
	}
	return benchLatency{
		Min: d[0].Microseconds(), Mean: (sum / time.Duration(len(d))).Microseconds(),
		P50: rank(50), P90: rank(90), P99: rank(99), Max: d[len(d)-1].Microseconds(),
	}
}

func round(f float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(f*p) / p
}

func (r *benchResult) writeText(w io.Writer) error {
	us := func(v int64) string { return (time.Duration(v) * time.Microsecond).String() }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\tPOST %s\n", r.URL)
	fmt.Fprintf(tw, "concurrency\t%d\n", r.Concurrency)
	fmt.Fprintf(tw, "duration\t%.3fs\n", r.DurationSeconds)
	fmt.Fprintf(tw, "requests\t%d\t(%d created, %d errors)\n", r.Requests, r.Succeeded, r.Errors)
	fmt.Fprintf(tw, "requests/s\t%.1f\t(created/s %.1f)\n", r.RequestsPerSecond, r.CreatedPerSecond)
	fmt.Fprintf(tw, "latency p50\t%s\n", us(r.Latency.P50))
	fmt.Fprintf(tw, "latency p90\t%s\n", us(r.Latency.P90))
	fmt.Fprintf(tw, "latency p99\t%s\n", us(r.Latency.P99))
	fmt.Fprintf(tw, "latency max\t%s\n", us(r.Latency.Max))
	fmt.Fprintf(tw, "latency mean\t%s\n", us(r.Latency.Mean))
	fmt.Fprintf(tw, "errors\t%d\n", r.Errors)
	kinds := make([]string, 0, len(r.ErrorsByStatus))
	for k := range r.ErrorsByStatus {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(tw, "  %s\t%d\n", k, r.ErrorsByStatus[k])
	}
	if r.FirstError != "" {
		fmt.Fprintf(tw, "first error\t%s\n", r.FirstError)
	}
	return tw.Flush()
}
