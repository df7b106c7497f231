package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/payor"
)

// benchWebhooks is `settle bench webhooks`: a self-contained measure of
// webhook delivery. It runs, in this process, a database (a fresh SQLite
// file unless --database-url says otherwise), the sequencer, the webhook
// engine and a receiver on 127.0.0.1 that verifies every signature as a
// merchant would; it creates invoices for --duration and reports
// deliveries per second and the latency from each event's created_at to
// its receipt. Nothing leaves the machine.
func (m *Main) benchWebhooks(ctx context.Context, args []string) error {
	var c whBenchConfig
	fs := newFlagSet("bench webhooks", m.Stderr)
	fs.StringVar(&c.DatabaseURL, "database-url", "", "database to run on (default: a fresh SQLite file in a temporary directory); a postgres:// URL gets a new merchant")
	fs.IntVar(&c.Concurrency, "concurrency", 16, "webhook workers (WebhookConfig.Workers)")
	fs.IntVar(&c.PerEndpoint, "per-endpoint", 0, "attempts in flight per endpoint (default: concurrency / endpoints, at least 1)")
	fs.IntVar(&c.Endpoints, "endpoints", 1, "endpoints, each receiving every event")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to create invoices")
	fs.Float64Var(&c.Rate, "rate", 200, "invoices created per second (0: as fast as the store takes them)")
	fs.DurationVar(&c.Drain, "drain", 60*time.Second, "how long to wait for outstanding deliveries after the last invoice")
	fs.BoolVar(&c.Spread, "spread", false, "give each endpoint its own merchant and create invoices for them in turn: one delivery per event (default: every endpoint gets every event)")
	fs.IntVar(&c.Hanging, "hanging", 0, "endpoints, of --endpoints, that never answer (each attempt waits for --timeout); the figures count the healthy ones only")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "webhook attempt timeout (WebhookConfig.Timeout)")
	fs.IntVar(&c.Backlog, "backlog", 0, "deliveries queued before the engine starts (events written straight to the outbox); their drain is timed apart")
	fs.BoolVar(&c.Explain, "explain", false, "on Postgres, print EXPLAIN (ANALYZE, BUFFERS) of one claim (rolled back) before the engine starts, to stderr")
	fs.BoolVar(&c.JSON, "json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench webhooks: unexpected arguments %q", fs.Args())
	}
	switch {
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return fmt.Errorf("bench webhooks: --concurrency %d: want 1 to 1024", c.Concurrency)
	case c.Endpoints < 1 || c.Endpoints > 100:
		return fmt.Errorf("bench webhooks: --endpoints %d: want 1 to 100", c.Endpoints)
	case c.Duration <= 0 || c.Duration > time.Hour:
		return fmt.Errorf("bench webhooks: --duration %s: want up to an hour", c.Duration)
	case c.Rate < 0:
		return fmt.Errorf("bench webhooks: --rate %v: want ≥ 0", c.Rate)
	case c.Hanging < 0 || c.Hanging >= c.Endpoints:
		return fmt.Errorf("bench webhooks: --hanging %d: want 0 to endpoints-1", c.Hanging)
	case c.Backlog < 0 || c.Backlog > 10_000_000:
		return fmt.Errorf("bench webhooks: --backlog %d: want 0 to 10,000,000", c.Backlog)
	case c.Timeout <= 0:
		return fmt.Errorf("bench webhooks: --timeout %s: want > 0", c.Timeout)
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = max(c.Concurrency/c.Endpoints, 1)
	}
	c.explain = m.Stderr
	res, err := runWebhookBench(ctx, c)
	if err != nil {
		return fmt.Errorf("bench webhooks: %w", err)
	}
	if err := m.printResult(res, c.JSON); err != nil {
		return err
	}
	if res.Missing > 0 || res.Duplicates > 0 || res.Unverified > 0 {
		return fmt.Errorf("bench webhooks: %w: %d missing, %d duplicate, %d unverified deliveries",
			errFailed, res.Missing, res.Duplicates, res.Unverified)
	}
	return nil
}

type whBenchConfig struct {
	DatabaseURL string
	Concurrency int
	PerEndpoint int
	Endpoints   int
	Duration    time.Duration
	Rate        float64
	Drain       time.Duration
	Spread      bool
	Hanging     int
	Timeout     time.Duration
	Backlog     int
	Explain     bool
	JSON        bool
	explain     io.Writer
}

// whBenchResult is what a run measured. Latencies are whole microseconds,
// from an event's created_at to the receiver reading its request, at the
// healthy endpoints, for the events written during the run (not the
// backlog).
type whBenchResult struct {
	Database           string       `json:"database"`
	Concurrency        int          `json:"concurrency"`
	PerEndpoint        int          `json:"per_endpoint"`
	Endpoints          int          `json:"endpoints"`
	Spread             bool         `json:"spread"`     // one merchant per endpoint, one delivery per event
	Hanging            int          `json:"hanging"`    // endpoints that never answer
	Events             int          `json:"events"`     // invoice.created events written
	Expected           int          `json:"expected"`   // deliveries of those events to healthy endpoints
	Delivered          int          `json:"delivered"`  // distinct (endpoint, webhook-id) received
	Missing            int          `json:"missing"`    // expected but not received before the drain ended
	Duplicates         int          `json:"duplicates"` // requests beyond the first per (endpoint, webhook-id)
	Unverified         int          `json:"unverified"` // requests whose signature did not verify
	FailedAttempts     int          `json:"failed_attempts"`
	HangingInFlight    int          `json:"hanging_in_flight"` // attempts to hanging endpoints in flight at the end
	DurationSeconds    float64      `json:"duration_seconds"`  // first event to last receipt
	DeliveriesPerSec   float64      `json:"deliveries_per_second"`
	EventsPerSec       float64      `json:"events_per_second"` // events over the time spent writing them
	RequiredPerSec     float64      `json:"required_per_second"`
	DeliveredPerSec    float64      `json:"delivered_per_second"` // deliveries over the span from first to last receipt
	KeepUp             float64      `json:"keep_up"`              // delivered_per_second / required_per_second
	Latency            benchLatency `json:"latency_us"`
	Backlog            int          `json:"backlog"` // deliveries queued before the engine started
	BacklogHealthy     int          `json:"backlog_healthy"`
	BacklogSeconds     float64      `json:"backlog_seconds"` // engine start to the last backlog receipt
	BacklogPerSec      float64      `json:"backlog_per_second"`
	FirstVerifyFailure string       `json:"first_verify_failure,omitempty"`
}

// whReceiver is the bench's merchant: it verifies and times every request.
// Requests to a hanging endpoint are held until the client gives up.
type whReceiver struct {
	mu        sync.Mutex
	verifiers []*standardwebhooks.Webhook
	hanging   []bool
	seen      map[string]int // endpoint index + webhook-id → requests
	latencies []time.Duration
	first     time.Time
	last      time.Time
	live      bool // counting the run's events; before, the backlog's
	backlog   int
	res       *whBenchResult
	got       chan struct{}
}

func (rc *whReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/e/"))
	if err != nil || i < 0 || i >= len(rc.verifiers) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if rc.hanging[i] {
		<-r.Context().Done()
		return
	}
	verr := rc.verifiers[i].Verify(body, r.Header)
	var ev struct {
		CreatedAt time.Time `json:"created_at"`
	}
	json.Unmarshal(body, &ev)
	key := strconv.Itoa(i) + "/" + r.Header.Get("webhook-id")
	rc.mu.Lock()
	rc.seen[key]++
	first := rc.seen[key] == 1
	switch {
	case verr != nil:
		rc.res.Unverified++
		if rc.res.FirstVerifyFailure == "" {
			rc.res.FirstVerifyFailure = verr.Error()
		}
	case first && !rc.live:
		rc.backlog++
		rc.last = at
	case first:
		rc.res.Delivered++
		rc.latencies = append(rc.latencies, at.Sub(ev.CreatedAt))
		if rc.first.IsZero() {
			rc.first = at
		}
		rc.last = at
	default:
		rc.res.Duplicates++
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	if first && verr == nil {
		select {
		case rc.got <- struct{}{}:
		default:
		}
	}
}

// wait waits until done holds (checked at each receipt) or bound passes.
func (rc *whReceiver) wait(ctx context.Context, bound time.Duration, done func() bool) error {
	t := time.NewTimer(bound)
	defer t.Stop()
	for {
		rc.mu.Lock()
		ok := done()
		rc.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-rc.got:
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func runWebhookBench(ctx context.Context, c whBenchConfig) (*whBenchResult, error) {
	dbURL := c.DatabaseURL
	if dbURL == "" {
		dir, err := os.MkdirTemp("", "settle-bench-webhooks-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		dbURL = "sqlite://" + filepath.Join(dir, "settle.db")
	}
	quiet := slog.New(slog.DiscardHandler)
	db, err := openMigrated(ctx, dbURL, quiet)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	key := make([]byte, 32)
	rand.Read(key)
	svc := invoice.NewService(db, nil, payor.NewSigner([]byte(hex.EncodeToString(key)), "http://127.0.0.1"), quiet)
	merchants := 1
	if c.Spread {
		merchants = c.Endpoints
	}
	var merchantIDs []string
	for i := range merchants {
		m, _, err := svc.CreateMerchant(ctx, fmt.Sprintf("Webhook bench %s #%d", time.Now().UTC().Format(time.RFC3339), i))
		if err != nil {
			return nil, err
		}
		merchantIDs = append(merchantIDs, m.ID)
	}

	res := &whBenchResult{Database: redactURL(dbURL), Concurrency: c.Concurrency, PerEndpoint: c.PerEndpoint,
		Endpoints: c.Endpoints, Spread: c.Spread, Hanging: c.Hanging}
	rc := &whReceiver{seen: map[string]int{}, res: res, got: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	var endpointIDs, hangingIDs []string
	for i := range c.Endpoints {
		u := fmt.Sprintf("http://%s/e/%d", ln.Addr(), i)
		ep, err := events.CreateEndpoint(ctx, db, events.AddressPolicy{AllowPrivate: true}, merchantIDs[i%merchants], invoice.ModeTest,
			events.EndpointParams{URL: &u, EnabledEvents: []string{invoice.EventInvoiceCreated}}, time.Now())
		if err != nil {
			return nil, err
		}
		wh, err := standardwebhooks.NewWebhook(ep.Secret)
		if err != nil {
			return nil, err
		}
		hangs := i >= c.Endpoints-c.Hanging
		rc.verifiers = append(rc.verifiers, wh)
		rc.hanging = append(rc.hanging, hangs)
		endpointIDs = append(endpointIDs, ep.ID)
		if hangs {
			hangingIDs = append(hangingIDs, ep.ID)
		}
	}
	// healthyShare is how many healthy deliveries n events make.
	healthyShare := func(n int) int {
		if !c.Spread {
			return n * (c.Endpoints - c.Hanging)
		}
		h := 0
		for k := range n {
			if k%c.Endpoints < c.Endpoints-c.Hanging {
				h++
			}
		}
		return h
	}

	written, sequenced := &events.Signal{}, &events.Signal{}
	svc.OnEventsWritten(written.Notify)
	seq := events.NewSequencer(db, quiet, written, sequenced)
	work, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { seq.Run(work) })

	if c.Backlog > 0 {
		n, err := writeBacklog(ctx, db, c, merchantIDs, written)
		if err != nil {
			return nil, fmt.Errorf("backlog: %w", err)
		}
		res.Backlog, res.BacklogHealthy = c.Backlog, healthyShare(n)
	}
	// The receiver is on loopback, which only an operator's opt-in allows.
	cfg := events.WebhookConfig{Workers: c.Concurrency, PerEndpoint: c.PerEndpoint, Timeout: c.Timeout, AllowPrivateAddresses: true}
	if c.Explain && db.Dialect().Name() == dialect.PG {
		plan, err := events.ExplainClaim(ctx, db, cfg, c.Concurrency)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(c.explain, "claim of %d with %d deliveries queued:\n%s\n", c.Concurrency, c.Backlog, plan)
	}
	engine := events.NewWebhooks(db, quiet, cfg, sequenced)
	engineStart := time.Now()
	wg.Go(func() { engine.Run(work) })
	if res.BacklogHealthy > 0 {
		if err := rc.wait(ctx, c.Drain, func() bool { return rc.backlog >= res.BacklogHealthy }); err != nil {
			return nil, err
		}
		rc.mu.Lock()
		res.BacklogSeconds = round(rc.last.Sub(engineStart).Seconds(), 3)
		res.BacklogPerSec = round(float64(rc.backlog)/rc.last.Sub(engineStart).Seconds(), 1)
		if rc.backlog < res.BacklogHealthy {
			rc.mu.Unlock()
			return nil, fmt.Errorf("backlog: %d of %d deliveries within --drain %s", rc.backlog, res.BacklogHealthy, c.Drain)
		}
		rc.mu.Unlock()
	}
	rc.mu.Lock()
	rc.live = true
	rc.mu.Unlock()

	// Write: one goroutine per connection the store has worth using, each
	// paced to its share of the rate (eight on Postgres: a create is a few
	// round trips, and four fell short of 1,000/s on a loaded machine).
	writers := 8
	if db.Dialect().Name() != dialect.PG {
		writers = 1
	}
	start := time.Now()
	deadline := start.Add(c.Duration)
	var mu sync.Mutex
	var createErr error
	var firstWrite, lastWrite time.Time
	var next atomic.Int64
	healthy := 0 // events written whose deliveries go to healthy endpoints
	var writeWG sync.WaitGroup
	for range writers {
		writeWG.Go(func() {
			var tick *time.Ticker
			if c.Rate > 0 {
				tick = time.NewTicker(time.Duration(float64(time.Second) * float64(writers) / c.Rate))
				defer tick.Stop()
			}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if tick != nil {
					select {
					case <-tick.C:
					case <-ctx.Done():
						return
					}
				}
				k := int(next.Add(1) - 1)
				_, err := svc.Create(ctx, invoice.CreateParams{MerchantID: merchantIDs[k%merchants], Mode: invoice.ModeTest,
					Amount: "25.00", Currency: "USD", PaymentMethods: []string{"sandbox"}})
				mu.Lock()
				if err != nil && createErr == nil && ctx.Err() == nil {
					createErr = err
				}
				if err == nil {
					res.Events++
					if !c.Spread || k%merchants < c.Endpoints-c.Hanging {
						healthy++
					}
					lastWrite = time.Now()
					if firstWrite.IsZero() {
						firstWrite = lastWrite
					}
				}
				mu.Unlock()
			}
		})
	}
	writeWG.Wait()
	if createErr != nil {
		return nil, fmt.Errorf("create invoice: %w", createErr)
	}
	res.Expected = healthy
	if !c.Spread {
		res.Expected = res.Events * (c.Endpoints - c.Hanging)
	}
	if err := rc.wait(ctx, c.Drain, func() bool { return res.Delivered >= res.Expected }); err != nil {
		return nil, err
	}
	inFlight, err := db.NewSelect().Model((*events.Delivery)(nil)).
		Where("endpoint_id IN (?) AND status = ? AND locked_until > ?", bun.In(append(hangingIDs, "")), events.DeliveryPending, time.Now().UTC()).Count(ctx)
	if err != nil {
		return nil, err
	}
	res.HangingInFlight = int(inFlight)
	stop()
	srv.Close() // ends the hanging requests: the engine records them and stops
	wg.Wait()

	n, err := db.NewSelect().Model((*events.Attempt)(nil)).
		Where("endpoint_id IN (?) AND (status_code < 200 OR status_code > 299)", bun.In(endpointIDs)).Count(context.Background())
	if err != nil {
		return nil, err
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	res.FailedAttempts = int(n)
	res.Missing = res.Expected - res.Delivered
	if res.Delivered == 0 {
		return nil, errors.New("nothing was delivered")
	}
	elapsed := rc.last.Sub(start)
	res.DurationSeconds = round(elapsed.Seconds(), 3)
	res.DeliveriesPerSec = round(float64(res.Delivered)/elapsed.Seconds(), 1)
	// Written and delivered rates each over their own span (first to last
	// write; first to last receipt), n items making n-1 intervals: an engine
	// that keeps up spans what the writers span, shifted by the latency, and
	// keep_up is 1 (within the jitter of the first and last latencies).
	writeSpan := lastWrite.Sub(firstWrite).Seconds()
	if span := rc.last.Sub(rc.first).Seconds(); span > 0 && writeSpan > 0 && res.Delivered > 1 && res.Events > 1 {
		share := float64(res.Expected) / float64(res.Events) // healthy deliveries per event
		res.EventsPerSec = round(float64(res.Events-1)/writeSpan, 1)
		res.RequiredPerSec = round(float64(res.Events-1)/writeSpan*share, 1)
		res.DeliveredPerSec = round(float64(res.Delivered-1)/span, 1)
		res.KeepUp = round(float64(res.Delivered-1)/span/(float64(res.Events-1)/writeSpan*share), 3)
	}
	res.Latency = summarise(rc.latencies)
	return res, nil
}

// writeBacklog writes events straight to the outbox, in batches, so that
// c.Backlog deliveries are queued before the engine starts, and waits until
// the sequencer has fanned them out. It returns the events written.
func writeBacklog(ctx context.Context, db *bun.DB, c whBenchConfig, merchantIDs []string, written *events.Signal) (int, error) {
	n := c.Backlog
	if !c.Spread {
		n = (c.Backlog + c.Endpoints - 1) / c.Endpoints
	}
	for k := 0; k < n; k += 500 {
		batch := make([]invoice.Event, 0, 500)
		for j := k; j < min(k+500, n); j++ {
			now := time.Now().UTC()
			batch = append(batch, invoice.Event{ID: invoice.NewID("evt_", now), MerchantID: merchantIDs[j%len(merchantIDs)],
				Mode: invoice.ModeTest, Type: invoice.EventInvoiceCreated, CreatedAt: now, Data: `{"object":{"object":"invoice"}}`})
		}
		if err := invoice.InsertEvents(ctx, db, batch...); err != nil {
			return 0, err
		}
		written.Notify()
	}
	want := n
	if !c.Spread {
		want = n * c.Endpoints
	}
	for {
		got, err := db.NewSelect().Model((*events.Delivery)(nil)).Count(ctx)
		if err != nil || int(got) >= want {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *whBenchResult) writeText(w io.Writer) error {
	us := func(v int64) string { return (time.Duration(v) * time.Microsecond).String() }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "database\t%s\n", r.Database)
	fmt.Fprintf(tw, "workers\t%d\t(%d per endpoint, %d endpoints, %d hanging, spread %t)\n", r.Concurrency, r.PerEndpoint, r.Endpoints, r.Hanging, r.Spread)
	if r.Backlog > 0 {
		fmt.Fprintf(tw, "backlog\t%d\t(%d to healthy endpoints drained in %.3fs: %.1f/s)\n", r.Backlog, r.BacklogHealthy, r.BacklogSeconds, r.BacklogPerSec)
	}
	fmt.Fprintf(tw, "events\t%d\t(%.1f/s written)\n", r.Events, r.EventsPerSec)
	fmt.Fprintf(tw, "deliveries\t%d of %d\t(%d missing, %d duplicate, %d unverified, %d failed attempts)\n",
		r.Delivered, r.Expected, r.Missing, r.Duplicates, r.Unverified, r.FailedAttempts)
	fmt.Fprintf(tw, "duration\t%.3fs\n", r.DurationSeconds)
	fmt.Fprintf(tw, "deliveries/s\t%.1f\n", r.DeliveriesPerSec)
	fmt.Fprintf(tw, "keep-up\t%.3f\t(%.1f/s delivered, first to last receipt; %.1f/s required by the writes)\n", r.KeepUp, r.DeliveredPerSec, r.RequiredPerSec)
	if r.Hanging > 0 {
		fmt.Fprintf(tw, "hanging in flight\t%d\t(attempts to the hanging endpoints at the end)\n", r.HangingInFlight)
	}
	fmt.Fprintf(tw, "latency p50\t%s\t(event created_at → receiver)\n", us(r.Latency.P50))
	fmt.Fprintf(tw, "latency p90\t%s\n", us(r.Latency.P90))
	fmt.Fprintf(tw, "latency p99\t%s\n", us(r.Latency.P99))
	fmt.Fprintf(tw, "latency max\t%s\n", us(r.Latency.Max))
	if r.FirstVerifyFailure != "" {
		fmt.Fprintf(tw, "first verify failure\t%s\n", r.FirstVerifyFailure)
	}
	return tw.Flush()
}
