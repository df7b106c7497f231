// Package storetest gives tests a fresh, migrated database on every dialect
// settle supports: SQLite always, and Postgres (a new schema per test) when
// SETTLE_TEST_POSTGRES_URL is set. On CI the variable is required, so that
// no storage test silently skips Postgres.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/migrations"
)

// PostgresEnv names the variable that holds a Postgres URL for tests.
const PostgresEnv = "SETTLE_TEST_POSTGRES_URL"

// DB is one test database.
type DB struct {
	Name string // "sqlite" or "postgres"
	URL  string // a URL OpenDB accepts, for tests that start a server process
	*bun.DB
}

// ForEachDB runs fn as a subtest on each dialect with a fresh database.
func ForEachDB(t *testing.T, fn func(t *testing.T, db DB)) {
	t.Helper()
	for _, name := range Dialects(t) {
		t.Run(name, func(t *testing.T) {
			fn(t, Open(t, name))
		})
	}
}

// Dialects lists the dialects this run tests.
func Dialects(t testing.TB) []string {
	t.Helper()
	if os.Getenv(PostgresEnv) != "" {
		return []string{"sqlite", "postgres"}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s must be set on CI so that storage tests run on Postgres too", PostgresEnv)
	}
	return []string{"sqlite"}
}

// Open returns a fresh migrated database of the dialect, removed at cleanup.
func Open(t testing.TB, dialect string) DB {
	t.Helper()
	db := OpenEmpty(t, dialect)
	if _, err := migrations.Up(context.Background(), db.DB); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return db
}

// OpenEmpty returns a fresh database of the dialect without any schema,
// for tests of the migrations themselves; it is removed at cleanup.
func OpenEmpty(t testing.TB, dialect string) DB {
	t.Helper()
	var dbURL string
	switch dialect {
	case "sqlite":
		dbURL = "sqlite://" + filepath.Join(t.TempDir(), "settle.db")
	case "postgres":
		dbURL = schemaURL(t)
	default:
		t.Fatalf("unknown dialect %q", dialect)
	}
	db, err := invoice.OpenDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if dialect == "postgres" {
		// The suite shares the server, and its max_connections, with
		// whatever else runs there (other suites included). ForEachDB opens
		// a subtest's database before the subtest pauses at t.Parallel: its
		// connections are closed while it waits instead of held idle (the
		// invoice and client tests alone held 27 at once, 12 so).
		db.SetConnMaxIdleTime(time.Second)
	}
	t.Cleanup(func() { db.Close() })
	return DB{Name: dialect, URL: dbURL, DB: db}
}

// schemaURL creates a schema of its own for the test and returns a URL whose
// connections use it; the schema is dropped at cleanup.
func schemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if err := adminExec(base, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema (is %s reachable?): %v", PostgresEnv, err)
	}
	t.Cleanup(func() { adminExec(base, "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return fmt.Sprint(u)
}

// adminExec runs one statement on a connection of its own, closed at once
// (a test holds none for its schema while it runs). A server with every
// connection slot taken, by this suite or by anything else on it, is waited
// for, up to a minute: it refuses a connection (SQLSTATE 53300) until one
// closes.
func adminExec(base, stmt string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := func() error {
			db, err := invoice.OpenDB(base)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.ExecContext(context.Background(), stmt)
			return err
		}()
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "53300" || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
