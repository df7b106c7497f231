package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// openDatabase opens the database at url and connects to it at once, so
// that a wrong path, a missing database or an unreachable server is
// reported with the database's name (the URL without its password) rather
// than as a driver's code at the first query.
func openDatabase(ctx context.Context, url string) (*bun.DB, error) {
	return openAs(ctx, url, url)
}

// openReadOnly opens the database at url so that it cannot be written
// (see readOnlyURL). A SQLite file must exist: reading creates none.
func openReadOnly(ctx context.Context, url string) (*bun.DB, error) {
	if path, ok := sqlitePath(url); ok {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cannot open database %s: no file %s", dbName(url), path)
		}
	}
	ro, err := readOnlyURL(url)
	if err != nil {
		return nil, fmt.Errorf("cannot open database %s: %w", dbName(url), err)
	}
	return openAs(ctx, ro, url)
}

// openAs opens url and names it as name in errors.
func openAs(ctx context.Context, url, name string) (*bun.DB, error) {
	db, err := invoice.OpenDB(url)
	if err != nil {
		return nil, fmt.Errorf("cannot open database %s: %w", dbName(name), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot open database %s: %w", dbName(name), err)
	}
	return db, nil
}

// sqlitePath returns the file of a sqlite: URL.
func sqlitePath(url string) (string, bool) {
	if !strings.HasPrefix(url, "sqlite:") {
		return "", false
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//"), "?")
	return path, path != "" && path != ":memory:"
}

// dbName is url as errors name it: a Postgres URL without its password.
func dbName(url string) string {
	if strings.HasPrefix(url, "sqlite:") {
		return url
	}
	return redactURL(url)
}
