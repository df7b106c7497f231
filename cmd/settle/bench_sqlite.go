package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// benchSQLiteRaw is `settle bench sqlite-raw`: SQLite's own ceiling for what
// POST /api/v1/invoices asks of it, with no HTTP, JSON decoding, auth or
// service code in between. It opens the database with invoice.OpenDB (the
// same modernc.org/sqlite driver, pragmas, BEGIN IMMEDIATE and single
// connection as `settle serve`), and N workers each repeat, for the
// duration, what the API sends for one create on SQLite for a merchant
// without rail accounts (known from memory after its first invoice, while
// the key watcher runs: see chains/fiat absentRails): one transaction with
// the invoice insert and its invoice.created event insert, rows of the same
// columns and shape. The workers queue for the one connection in Go, as the API's
// requests do. run.sh compares `settle bench create` on SQLite with it.
func (m *Main) benchSQLiteRaw(ctx context.Context, args []string) error {
	var c benchSQLiteConfig
	fs := newFlagSet("bench sqlite-raw", m.Stderr)
	fs.StringVar(&c.Database, "database", "", "sqlite://PATH of a database migrated by settle, with a merchant (required)")
	fs.StringVar(&c.Merchant, "merchant", "", "merchant id the rows belong to (default: the first merchant)")
	fs.IntVar(&c.Concurrency, "concurrency", 16, "number of workers, each with one create in flight")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to insert")
	fs.BoolVar(&c.JSON, "json", false, "print the result as one JSON object")
	checkpoint := fs.Bool("checkpoint", false, "only checkpoint the database's WAL into the file and truncate it (PRAGMA wal_checkpoint(TRUNCATE)), then exit; run.sh does this before each measured run")
	reset := fs.Bool("reset", false, "only delete the benchmarks' invoices and events (refused if the database holds any other invoice), then exit; run.sh does this before each run")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench sqlite-raw: unexpected arguments %q", fs.Args())
	}
	switch {
	case !strings.HasPrefix(c.Database, "sqlite:"):
		return fmt.Errorf("bench sqlite-raw: --database %q: want sqlite://PATH", c.Database)
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return fmt.Errorf("bench sqlite-raw: --concurrency %d: want 1 to 10000", c.Concurrency)
	case c.Duration <= 0:
		return fmt.Errorf("bench sqlite-raw: --duration %s: want a positive duration", c.Duration)
	}
	if *reset {
		if err := benchSQLiteReset(ctx, c.Database); err != nil {
			return fmt.Errorf("bench sqlite-raw: reset: %w", err)
		}
		return nil
	}
	if *checkpoint {
		if err := benchSQLiteCheckpoint(ctx, c.Database); err != nil {
			return fmt.Errorf("bench sqlite-raw: checkpoint: %w", err)
		}
		return nil
	}
	res, err := runBenchSQLiteRaw(ctx, c)
	if err != nil {
		return fmt.Errorf("bench sqlite-raw: %w", err)
	}
	if err := m.printResult(res, c.JSON); err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("bench sqlite-raw: %w: %d of %d creates failed", errFailed, res.Errors, res.Creates)
	}
	return nil
}

type benchSQLiteConfig struct {
	Database    string
	Merchant    string
	Concurrency int
	Duration    time.Duration
	JSON        bool
}

// benchSQLiteResult is what a raw run measured; field names match
// benchResult's where they mean the same (run.sh reads created_per_second).
type benchSQLiteResult struct {
	Database         string       `json:"database"`
	Concurrency      int          `json:"concurrency"`
	DurationSeconds  float64      `json:"duration_seconds"`
	Creates          int          `json:"creates"`
	Succeeded        int          `json:"succeeded"`
	Errors           int          `json:"errors"`
	FirstError       string       `json:"first_error,omitempty"`
	CreatedPerSecond float64      `json:"created_per_second"`
	Latency          benchLatency `json:"latency_us"`
}

// The statements, as bun writes them for invoice.Service.Create on SQLite,
// with the values as parameters.
const (
	benchInsertInvoice = `INSERT INTO "invoices" ("id", "merchant_id", "mode", "status", "exception", "currency", "decimals", "amount", "amount_paid", "payment_methods", "merchant_order_id", "description", "metadata", "redirect_url", "session_token", "instructions", "expires_at", "created_at", "updated_at", "paid_at", "mark_note", "marked_by", "marked_at", "checkout_opened_at", "checkout_locked_at", "checkout_lock", "scanned_at", "failed_payments", "allow_tip", "tip_cap_percent", "tip_amount", "fulfilment", "fulfilled_at", "location_id", "qr_session_id", "terminal_id") VALUES (?, ?, 'test', 'open', 'none', 'USD', 2, '2500', '0', '["sandbox"]', ?, '', '{}', '', ?, 'null', ?, ?, ?, NULL, '', '', NULL, NULL, NULL, '', NULL, 0, FALSE, 0, '0', 'not_required', NULL, NULL, NULL, NULL)`
	benchInsertEvent   = `INSERT INTO "events" ("id", "sequence", "merchant_id", "mode", "type", "invoice_id", "created_at", "data") VALUES (?, NULL, ?, 'test', 'invoice.created', ?, ?, ?)`
	// benchSQLiteTime is how bun's SQLite dialect writes a time.Time.
	benchSQLiteTime = "2006-01-02 15:04:05.999999-07:00"
)

func runBenchSQLiteRaw(ctx context.Context, c benchSQLiteConfig) (*benchSQLiteResult, error) {
	bdb, err := invoice.OpenDB(c.Database)
	if err != nil {
		return nil, err
	}
	defer bdb.Close()
	db := bdb.DB
	if c.Merchant == "" {
		if err := db.QueryRowContext(ctx, "SELECT id FROM merchants ORDER BY id LIMIT 1").Scan(&c.Merchant); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, errors.New("no merchant in the database: run `settle merchants create` first")
			}
			return nil, fmt.Errorf("find a merchant (is the database migrated?): %w", err)
		}
	}

	run := benchLoop(ctx, c.Concurrency, c.Duration, func(n int64) (string, string) {
		if err := benchSQLiteCreate(ctx, db, c.Merchant, n); err != nil {
			return "sqlite", err.Error()
		}
		return "", ""
	})
	elapsed, all := run.elapsed, run.latencies
	res := &benchSQLiteResult{Database: c.Database, Concurrency: c.Concurrency, DurationSeconds: round(elapsed.Seconds(), 3),
		Succeeded: run.succeeded, Errors: run.errors, FirstError: run.firstError}
	res.Creates = len(all)
	if res.Creates == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("no create completed")
	}
	res.CreatedPerSecond = round(float64(res.Succeeded)/elapsed.Seconds(), 1)
	res.Latency = summarise(all)
	return res, nil
}

// benchSQLiteCreate writes one invoice and its event as the API does, with
// values of the same shape: ids from invoice.NewID, a 32-character session
// token, a 64-hex-digit signature, the same event JSON.
func benchSQLiteCreate(ctx context.Context, db *sql.DB, merchant string, n int64) error {
	now := time.Now().UTC()
	invID, evtID := invoice.NewID("inv_", now), invoice.NewID("evt_", now)
	token, sig := benchRandHex(16), benchRandHex(32)
	order := "bench-" + strconv.FormatInt(n, 10)
	rfc := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.999999Z07:00") }
	expires := now.Add(15 * time.Minute)
	data := `{"object":{"id":"` + invID + `","object":"invoice","mode":"test","status":"open","exception":"none","amount":"25.00","currency":"USD",` +
		`"amount_paid":"0.00","amount_due":"25.00","tip_amount":"0.00","allow_tip":false,"tip_cap_percent":0,"payment_methods":["sandbox"],"merchant_order_id":"` + order +
		`","description":"","metadata":{},"redirect_url":"","expires_at":"` + rfc(expires) + `","created_at":"` + rfc(now) +
		`","updated_at":"` + rfc(now) + `","paid_at":null,"payment_url":"http://127.0.0.1:18400/pay/` + token + `?sig=` + sig +
		`","payment_session_headers":{"x-session-token":"` + token + `","x-signature":"` + sig +
		`"},"payment_instructions":[],"mark":null,"checkout":{"opened_at":null,"locked":false,"lock_scope":"none","locked_at":null},` +
		`"scanned_at":null,"session_status":"created","fulfilment":{"status":"not_required","fulfilled_at":null},"terminal_id":""}}`

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ts := now.Format(benchSQLiteTime)
	if _, err := tx.ExecContext(ctx, benchInsertInvoice, invID, merchant, order, token, expires.Format(benchSQLiteTime), ts, ts); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, benchInsertEvent, evtID, merchant, invID, ts, data); err != nil {
		return err
	}
	return tx.Commit()
}

// benchSQLiteCheckpoint copies the whole WAL into the database file and
// empties it, also while a server has the database open (it waits for the
// server's writer through the busy timeout), so that a measured run does
// not inherit the previous run's checkpoint work.
func benchSQLiteCheckpoint(ctx context.Context, dbURL string) error {
	bdb, err := invoice.OpenDB(dbURL)
	if err != nil {
		return err
	}
	defer bdb.Close()
	var busy, logPages, done int
	if err := bdb.DB.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done); err != nil {
		return err
	}
	if busy != 0 {
		return errors.New("the database was busy: the WAL was not wholly checkpointed")
	}
	return nil
}

// benchSQLiteReset deletes every invoice and event, so that a run starts
// from the same empty tables whichever side ran before it: the reference's
// events are never numbered, and a server started after it would have to
// number them all while it is measured. It refuses a database with an
// invoice the benchmarks did not create (merchant_order_id bench-N).
func benchSQLiteReset(ctx context.Context, dbURL string) error {
	bdb, err := invoice.OpenDB(dbURL)
	if err != nil {
		return err
	}
	defer bdb.Close()
	return bdb.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Table("invoices").Where("merchant_order_id NOT LIKE 'bench-%'").Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d invoices were not created by a benchmark: refusing to delete", n)
		}
		for _, table := range []string{"events", "invoices"} {
			if _, err := tx.NewDelete().Table(table).Where("1 = 1").Exec(ctx); err != nil {
				return fmt.Errorf("delete %s: %w", table, err)
			}
		}
		return nil
	})
}

func benchRandHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *benchSQLiteResult) writeText(w io.Writer) error {
	us := func(v int64) string { return (time.Duration(v) * time.Microsecond).String() }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\t%s (raw inserts, no API)\n", r.Database)
	fmt.Fprintf(tw, "concurrency\t%d\n", r.Concurrency)
	fmt.Fprintf(tw, "duration\t%.3fs\n", r.DurationSeconds)
	fmt.Fprintf(tw, "creates\t%d\t(%d committed, %d errors)\n", r.Creates, r.Succeeded, r.Errors)
	fmt.Fprintf(tw, "created/s\t%.1f\n", r.CreatedPerSecond)
	fmt.Fprintf(tw, "latency p50\t%s\n", us(r.Latency.P50))
	fmt.Fprintf(tw, "latency p90\t%s\n", us(r.Latency.P90))
	fmt.Fprintf(tw, "latency p99\t%s\n", us(r.Latency.P99))
	fmt.Fprintf(tw, "latency max\t%s\n", us(r.Latency.Max))
	if r.FirstError != "" {
		fmt.Fprintf(tw, "first error\t%s\n", r.FirstError)
	}
	return tw.Flush()
}
