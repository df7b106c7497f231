package invoice

import (
	"database/sql"
	"fmt"
	"net/url"
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
// immediately so they queue instead of failing) or postgres://… (pgx).
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
