package invoice_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/settlepay/settle/invoice"
)

// TestSQLiteFileIsPrivate: the SQLite file settle creates (it holds the
// checkout HMAC key, webhook and rail secrets and the terms signing key)
// and its WAL and shared-memory files are 0600, and the directories it
// creates for it 0700; an existing directory keeps its mode.
func TestSQLiteFileIsPrivate(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		created    []string // directories settle creates
	}{
		{"in an existing directory", filepath.Join(base, "settle.db"), nil},
		{"in new directories", filepath.Join(base, "data", "sqlite", "settle.db"), []string{filepath.Join(base, "data"), filepath.Join(base, "data", "sqlite")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := invoice.OpenDB("sqlite://" + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// A write, so that SQLite makes its -wal and -shm files.
			if _, err := db.ExecContext(context.Background(), "CREATE TABLE t (x text); INSERT INTO t VALUES ('secret')"); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{tc.path, tc.path + "-wal", tc.path + "-shm"} {
				if mode := perm(t, f); mode != 0o600 {
					t.Errorf("%s is %v, want -rw-------", filepath.Base(f), mode)
				}
			}
			for _, d := range tc.created {
				if mode := perm(t, d); mode != 0o700 {
					t.Errorf("created directory %s is %v, want drwx------", d, mode)
				}
			}
			if mode := perm(t, base); mode != 0o755 {
				t.Errorf("the existing directory became %v", mode)
			}
		})
	}
}

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}
