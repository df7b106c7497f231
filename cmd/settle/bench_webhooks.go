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
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = max(c.Concurrency/c.Endpoints, 1)
	}
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
	JSON        bool
}

// whBenchResult is what a run measured. Latencies are whole microseconds,
// from an event's created_at to the receiver reading its request.
type whBenchResult struct {
	Database           string       `json:"database"`
	Concurrency        int          `json:"concurrency"`
	PerEndpoint        int          `json:"per_endpoint"`
	Endpoints          int          `json:"endpoints"`
	Events             int          `json:"events"`     // invoice.created events written
	Expected           int          `json:"expected"`   // events × endpoints
	Delivered          int          `json:"delivered"`  // distinct (endpoint, webhook-id) received
	Missing            int          `json:"missing"`    // expected but not received before the drain ended
	Duplicates         int          `json:"duplicates"` // requests beyond the first per (endpoint, webhook-id)
	Unverified         int          `json:"unverified"` // requests whose signature did not verify
	FailedAttempts     int          `json:"failed_attempts"`
	DurationSeconds    float64      `json:"duration_seconds"` // first event to last receipt
	DeliveriesPerSec   float64      `json:"deliveries_per_second"`
	EventsPerSec       float64      `json:"events_per_second"`
	Latency            benchLatency `json:"latency_us"`
	FirstVerifyFailure string       `json:"first_verify_failure,omitempty"`
}

// whReceiver is the bench's merchant: it verifies and times every request.
type whReceiver struct {
	mu        sync.Mutex
	verifiers []*standardwebhooks.Webhook
	seen      map[string]int // endpoint index + webhook-id → requests
	latencies []time.Duration
	last      time.Time
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
	case first:
		rc.res.Delivered++
		rc.latencies = append(rc.latencies, at.Sub(ev.CreatedAt))
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
	merchant, _, err := svc.CreateMerchant(ctx, "Webhook bench "+time.Now().UTC().Format(time.RFC3339))
	if err != nil {
		return nil, err
	}

	res := &whBenchResult{Database: redactURL(dbURL), Concurrency: c.Concurrency, PerEndpoint: c.PerEndpoint, Endpoints: c.Endpoints}
	rc := &whReceiver{seen: map[string]int{}, res: res, got: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	var endpointIDs []string
	for i := range c.Endpoints {
		u := fmt.Sprintf("http://%s/e/%d", ln.Addr(), i)
		ep, err := events.CreateEndpoint(ctx, db, events.AddressPolicy{AllowPrivate: true}, merchant.ID, invoice.ModeTest,
			events.EndpointParams{URL: &u, EnabledEvents: []string{invoice.EventInvoiceCreated}}, time.Now())
		if err != nil {
			return nil, err
		}
		wh, err := standardwebhooks.NewWebhook(ep.Secret)
		if err != nil {
			return nil, err
		}
		rc.verifiers = append(rc.verifiers, wh)
		endpointIDs = append(endpointIDs, ep.ID)
	}

	written, sequenced := &events.Signal{}, &events.Signal{}
	svc.OnEventsWritten(written.Notify)
	seq := events.NewSequencer(db, quiet, written, sequenced)
	// The receiver is on loopback, which only an operator's opt-in allows.
	engine := events.NewWebhooks(db, quiet, events.WebhookConfig{
		Workers: c.Concurrency, PerEndpoint: c.PerEndpoint, AllowPrivateAddresses: true,
	}, sequenced)
	work, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { seq.Run(work) })
	wg.Go(func() { engine.Run(work) })
	defer func() { stop(); wg.Wait() }()

	// Write: one goroutine per connection the store has worth using, each
	// paced to its share of the rate.
	writers := 4
	if db.Dialect().Name() != dialect.PG {
		writers = 1
	}
	start := time.Now()
	deadline := start.Add(c.Duration)
	var mu sync.Mutex
	var createErr error
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
				_, err := svc.Create(ctx, invoice.CreateParams{MerchantID: merchant.ID, Mode: invoice.ModeTest,
					Amount: "25.00", Currency: "USD", PaymentMethods: []string{"sandbox"}})
				mu.Lock()
				if err != nil && createErr == nil && ctx.Err() == nil {
					createErr = err
				}
				if err == nil {
					res.Events++
				}
				mu.Unlock()
			}
		})
	}
	writeWG.Wait()
	if createErr != nil {
		return nil, fmt.Errorf("create invoice: %w", createErr)
	}
	res.Expected = res.Events * c.Endpoints
	drain := time.NewTimer(c.Drain)
	defer drain.Stop()
	for {
		rc.mu.Lock()
		done := res.Delivered >= res.Expected
		rc.mu.Unlock()
		if done {
			break
		}
		select {
		case <-rc.got:
		case <-drain.C:
			done = true
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if done {
			break
		}
	}
	stop()
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
	res.EventsPerSec = round(float64(res.Events)/c.Duration.Seconds(), 1)
	res.Latency = summarise(rc.latencies)
	return res, nil
}

func (r *whBenchResult) writeText(w io.Writer) error {
	us := func(v int64) string { return (time.Duration(v) * time.Microsecond).String() }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "database\t%s\n", r.Database)
	fmt.Fprintf(tw, "workers\t%d\t(%d per endpoint, %d endpoints)\n", r.Concurrency, r.PerEndpoint, r.Endpoints)
	fmt.Fprintf(tw, "events\t%d\t(%.1f/s written)\n", r.Events, r.EventsPerSec)
	fmt.Fprintf(tw, "deliveries\t%d of %d\t(%d missing, %d duplicate, %d unverified, %d failed attempts)\n",
		r.Delivered, r.Expected, r.Missing, r.Duplicates, r.Unverified, r.FailedAttempts)
	fmt.Fprintf(tw, "duration\t%.3fs\n", r.DurationSeconds)
	fmt.Fprintf(tw, "deliveries/s\t%.1f\n", r.DeliveriesPerSec)
	fmt.Fprintf(tw, "latency p50\t%s\t(event created_at → receiver)\n", us(r.Latency.P50))
	fmt.Fprintf(tw, "latency p90\t%s\n", us(r.Latency.P90))
	fmt.Fprintf(tw, "latency p99\t%s\n", us(r.Latency.P99))
	fmt.Fprintf(tw, "latency max\t%s\n", us(r.Latency.Max))
	if r.FirstVerifyFailure != "" {
		fmt.Fprintf(tw, "first verify failure\t%s\n", r.FirstVerifyFailure)
	}
	return tw.Flush()
}
