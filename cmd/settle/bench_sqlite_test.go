package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/settlepay/settle/invoice/storetest"
)

// runSQLiteRawCmd runs `settle bench sqlite-raw … --json` as the binary
// would and decodes its result.
func runSQLiteRawCmd(t *testing.T, args ...string) (benchSQLiteResult, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	err := m.Run(context.Background(), append([]string{"bench", "sqlite-raw", "--json"}, args...))
	var res benchSQLiteResult
	if stdout.Len() > 0 {
		if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
			t.Fatalf("output is not one JSON object (%v; run error %v): %q, stderr %q", jerr, err, stdout.String(), stderr.String())
		}
	}
	return res, stderr.String(), err
}

// rowShapes returns the shapes of the rows of table matching where: per
// column (but skip), its SQLite storage class and its value with fractions
// of seconds dropped and every run of letters and digits made "x", so that
// two rows written alike have the same shape whatever their ids and times.
func rowShapes(t *testing.T, db storetest.DB, table, where string, skip ...string) map[string]bool {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT name FROM pragma_table_info(?) ORDER BY cid", table)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(skip, c) {
			cols = append(cols, fmt.Sprintf("'%s=' || typeof(%s) || ':' || COALESCE(%[2]s, '')", c, c))
		}
	}
	rows.Close()
	rows, err = db.QueryContext(context.Background(), "SELECT "+strings.Join(cols, " || ' ' || ")+" FROM "+table+" WHERE "+where)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	fraction, word := regexp.MustCompile(`\.[0-9]+`), regexp.MustCompile(`[0-9A-Za-z]+`)
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out[word.ReplaceAllString(fraction.ReplaceAllString(s, ""), "x")] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBenchSQLiteRawWritesWhatTheAPIWrites(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, "sqlite")
	e := newBenchEnv(t, db)
	// A few invoices through the API, to compare the raw rows with; marked
	// by their description (text either way, so their storage classes stay).
	if res, err := runBenchCmd(t, "--url", e.url, "--key", e.key, "--concurrency", "1", "--duration", "50ms"); err != nil || res.Succeeded < 1 {
		t.Fatalf("API create: %v (%+v)", err, res)
	}
	if _, err := db.ExecContext(context.Background(), "UPDATE invoices SET description = 'api'"); err != nil {
		t.Fatal(err)
	}
	apiInvoices := countRows(t, db, "invoices")

	res, stderr, err := runSQLiteRawCmd(t, "--database", db.URL, "--concurrency", "4", "--duration", "300ms")
	if err != nil {
		t.Fatalf("sqlite-raw: %v (%+v), stderr %q", err, res, stderr)
	}
	if res.Errors != 0 || res.Succeeded == 0 || res.Creates != res.Succeeded || res.Concurrency != 4 || res.CreatedPerSecond <= 0 {
		t.Fatalf("result %+v", res)
	}
	// --checkpoint empties the WAL the run filled, with the API's
	// connection still open.
	walPath := strings.TrimPrefix(db.URL, "sqlite://") + "-wal"
	if fi, err := os.Stat(walPath); err != nil || fi.Size() == 0 {
		t.Fatalf("WAL after the run: %v, %v: want a non-empty file", fi, err)
	}
	if _, stderr, err := runSQLiteRawCmd(t, "--database", db.URL, "--checkpoint"); err != nil {
		t.Fatalf("--checkpoint: %v, stderr %q", err, stderr)
	}
	if fi, err := os.Stat(walPath); err != nil || fi.Size() != 0 {
		t.Fatalf("WAL after --checkpoint: %v, %v: want an empty file", fi, err)
	}
	if got := countRows(t, db, "invoices"); got != apiInvoices+res.Succeeded {
		t.Errorf("invoices %d, want %d from the API + %d raw", got, apiInvoices, res.Succeeded)
	}
	if got := countRows(t, db, "events"); got != apiInvoices+res.Succeeded {
		t.Errorf("events %d, want one per invoice (%d)", got, apiInvoices+res.Succeeded)
	}
	var orphans int
	if err := db.QueryRowContext(context.Background(),
		"SELECT COUNT(*) FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.invoice_id = i.id AND e.type = 'invoice.created' AND e.data LIKE '%\"id\":\"' || i.id || '\"%')").Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d invoices without their invoice.created event", orphans)
	}
	var distinct int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(DISTINCT merchant_order_id) FROM invoices WHERE merchant_order_id LIKE 'bench-%' AND description = ''").Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	if distinct != res.Succeeded {
		t.Errorf("%d distinct merchant_order_id among the raw rows, want %d", distinct, res.Succeeded)
	}
	// Same columns, same storage classes as the API's rows (bun writes
	// times as text, amounts as text): the raw bench stores what the API stores.
	for _, tc := range []struct{ table, where string }{
		{"invoices", "description = '%s'"},
		{"events", "invoice_id IN (SELECT id FROM invoices WHERE description = '%s')"},
	} {
		// description is the marker; data, the event's JSON, holds the
		// server's own URL: its length is compared below.
		api := rowShapes(t, db, tc.table, fmt.Sprintf(tc.where, "api"), "description", "data")
		raw := rowShapes(t, db, tc.table, fmt.Sprintf(tc.where, ""), "description", "data")
		if len(api) != 1 || len(raw) != 1 || !maps.Equal(api, raw) {
			t.Errorf("%s: rows of the API %v, raw %v: want one and the same shape", tc.table, api, raw)
		}
	}
	var apiLen, rawMin, rawMax int
	if err := db.QueryRowContext(context.Background(), "SELECT MIN(length(data)) FROM events WHERE invoice_id IN (SELECT id FROM invoices WHERE description = 'api')").Scan(&apiLen); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(context.Background(), "SELECT MIN(length(data)), MAX(length(data)) FROM events WHERE invoice_id IN (SELECT id FROM invoices WHERE description = '')").Scan(&rawMin, &rawMax); err != nil {
		t.Fatal(err)
	}
	if rawMin < apiLen-40 || rawMax > apiLen+40 {
		t.Errorf("event data %d–%d bytes, the API's %d", rawMin, rawMax, apiLen)
	}

	// --reset empties invoices and events for the next run, and refuses a
	// database holding an invoice no benchmark made.
	if _, stderr, err := runSQLiteRawCmd(t, "--database", db.URL, "--reset"); err != nil {
		t.Fatalf("--reset: %v, stderr %q", err, stderr)
	}
	if inv, ev := countRows(t, db, "invoices"), countRows(t, db, "events"); inv != 0 || ev != 0 {
		t.Fatalf("after --reset: %d invoices, %d events; want none", inv, ev)
	}
	if res, err := runBenchCmd(t, "--url", e.url, "--key", e.key, "--concurrency", "1", "--duration", "50ms"); err != nil || res.Succeeded < 1 {
		t.Fatalf("API create: %v (%+v)", err, res)
	}
	if _, err := db.ExecContext(context.Background(), "UPDATE invoices SET merchant_order_id = 'order-1'"); err != nil {
		t.Fatal(err)
	}
	before := countRows(t, db, "invoices")
	if _, _, err := runSQLiteRawCmd(t, "--database", db.URL, "--reset"); err == nil || !strings.Contains(err.Error(), "not created by a benchmark") {
		t.Fatalf("--reset of a database with a merchant's invoice: %v, want a refusal", err)
	}
	if got := countRows(t, db, "invoices"); got != before {
		t.Fatalf("a refused --reset left %d invoices of %d", got, before)
	}
}

func TestBenchSQLiteRawRefuses(t *testing.T) {
	t.Parallel()
	empty := storetest.Open(t, "sqlite") // migrated, no merchant
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "want sqlite://PATH"},
		{[]string{"--database", "postgres://x@127.0.0.1/db"}, "want sqlite://PATH"},
		{[]string{"--database", empty.URL, "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"--database", empty.URL, "--duration", "0s"}, "--duration 0s"},
		{[]string{"--database", empty.URL, "--duration", "50ms"}, "no merchant"},
	} {
		_, _, err := runSQLiteRawCmd(t, tc.args...)
		if err == nil || errors.Is(err, errFailed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
