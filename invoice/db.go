package invoice

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // pure-Go database/sql driver "sqlite"
)

// DefaultDatabaseURL is used when SETTLE_DATABASE_URL is unset: an embedded
// SQLite file in the working directory.
const DefaultDatabaseURL = "sqlite://settle.db"

// OpenDB opens a database by URL: sqlite://PATH (relative or absolute; WAL
// mode, 10 s busy timeout, foreign keys on, write transactions taken
// immediately so they queue instead of failing) or postgres://… (pgx). A
// SQLite file that does not exist yet is created 0600, and its missing
// directories 0700 (see createPrivate).
func OpenDB(rawURL string) (*bun.DB, error) {
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"), strings.HasPrefix(rawURL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//")
		if path == "" {
			return nil, fmt.Errorf("database url %q: missing file path", rawURL)
		}
		path, query, _ := strings.Cut(path, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, fmt.Errorf("database url: %w", err)
		}
		if err := createPrivate(path, q); err != nil {
			return nil, fmt.Errorf("database url %q: %w", rawURL, err)
		}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Set("_txlock", "immediate")
		sqldb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, err
		}
		// SQLite has one writer; one connection queues writers in Go instead
		// of busy-waiting in the driver, and keeps reads consistent with them.
		sqldb.SetMaxOpenConns(1)
		return bun.NewDB(sqldb, sqlitedialect.New()), nil
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		cfg, err := pgx.ParseConfig(rawURL)
		if err != nil {
			return nil, fmt.Errorf("database url: %w", err)
		}
		// bun writes every value into the SQL text itself, so each statement
		// text is new: preparing it (pgx's default) costs a round trip and a
		// cache eviction for nothing. The simple protocol sends it as is.
		if !strings.Contains(rawURL, "default_query_exec_mode=") {
			cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		}
		sqldb := stdlib.OpenDB(*cfg)
		sqldb.SetMaxOpenConns(32)
		sqldb.SetMaxIdleConns(32)
		return bun.NewDB(sqldb, pgdialect.New()), nil
	default:
		return nil, fmt.Errorf("database url %q: want sqlite://PATH or postgres://…", rawURL)
	}
}

// createPrivate creates the SQLite file at path, and the directories it
// lacks, readable by this user only: the database holds the checkout HMAC
// key, webhook and rail secrets and the terms signing key. SQLite would
// create the file 0644 (less the umask); created here first, the file is
// 0600, and SQLite gives its -wal and -shm files the mode of the database
// file. The modes are set explicitly, whatever the umask. An existing file
// or directory is left as it is: its owner chose its mode.
func createPrivate(path string, q url.Values) error {
	if path == ":memory:" || q.Get("mode") == "memory" {
		return nil
	}
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) > 0 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		for _, d := range missing {
			if err := os.Chmod(d, 0o700); err != nil {
				return err
			}
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // created meanwhile by another process: its mode stands
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
