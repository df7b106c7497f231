// Package migrations holds settle's SQL schema as embedded migrations, one
// folder per SQL dialect with the same migration names, and applies them with
// bun's migrator. It knows nothing of the domain; it only brings a database
// to the newest schema, and is safe to run from several processes at once.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// For returns the migrations written for db's dialect.
func For(db *bun.DB) (*migrate.Migrations, error) {
	dir := "sqlite"
	if db.Dialect().Name() == dialect.PG {
		dir = "postgres"
	}
	sub, err := fs.Sub(files, dir)
	if err != nil {
		return nil, err
	}
	m := migrate.NewMigrations()
	if err := m.Discover(sub); err != nil {
		return nil, fmt.Errorf("discover %s migrations: %w", dir, err)
	}
	return m, nil
}

// Up applies every migration not yet applied and returns their names. When
// another process holds the migration lock, Up waits for it (up to a minute)
// rather than failing, so several `settle serve` may start together.
func Up(ctx context.Context, db *bun.DB) ([]string, error) {
	ms, err := For(db)
	if err != nil {
		return nil, err
	}
	m := migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true))
	if err := retry(ctx, func() error { return m.Init(ctx) }); err != nil {
		return nil, fmt.Errorf("init migration tables: %w", err)
	}
	if err := retry(ctx, func() error { return m.Lock(ctx) }); err != nil {
		return nil, fmt.Errorf("lock migrations: %w", err)
	}
	defer m.Unlock(context.WithoutCancel(ctx)) //nolint:errcheck // best effort; a stale lock is reported by the next Up
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var names []string
	for _, mg := range group.Migrations {
		names = append(names, mg.Name+"_"+mg.Comment)
	}
	return names, nil
}

func retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
