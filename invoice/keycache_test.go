package invoice_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestKeyCache checks that, while the key watcher runs, a resolved key costs
// no lookup, and that a revocation or a live gate lifted by another process
// (another Service on the same database) still reaches this one within
// a few refresh intervals; without the watcher every request looks up.
func TestKeyCache(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		other := invoice.NewService(db.DB, nil, nil, nil) // another process
		read, _, err := other.CreateKey(b.ctx, b.merchant, invoice.ModeTest, invoice.ScopeRead)
		if err != nil {
			t.Fatal(err)
		}
		liveKey, live, err := other.CreateKey(b.ctx, b.merchant, invoice.ModeLive, invoice.ScopeMerchant)
		if err != nil {
			t.Fatal(err)
		}
		setScope := func(scope invoice.Scope) {
			t.Helper()
			if _, err := db.NewUpdate().TableExpr("api_keys").Set("scope = ?", scope).
				Where("hash <> ''").Exec(b.ctx); err != nil {
				t.Fatal(err)
			}
		}
		scopeOf := func() invoice.Scope {
			t.Helper()
			p, err := b.svc.Authenticate(b.ctx, read)
			if err != nil {
				t.Fatal(err)
			}
			return p.Scope
		}

		// Without the watcher, a change in the store shows at once.
		setScope(invoice.ScopeMerchant)
		if got := scopeOf(); got != invoice.ScopeMerchant {
			t.Fatalf("scope %s without cache, want merchant", got)
		}
		setScope(invoice.ScopeRead)

		ctx, stop := context.WithCancel(b.ctx)
		done := make(chan struct{})
		go func() { b.svc.RunKeyWatcher(ctx, 20*time.Millisecond, nil); close(done) }()
		// The cache is on once a lookup answers from memory what the store
		// no longer says: flip the scope in the store until one does.
		scope := invoice.ScopeRead
		waitFor(t, func() bool {
			if scope == invoice.ScopeRead {
				scope = invoice.ScopeMerchant
			} else {
				scope = invoice.ScopeRead
			}
			setScope(scope)
			return scopeOf() != scope
		})

		// Another process lifts the live gate: the cached principal goes.
		p, err := b.svc.Authenticate(b.ctx, liveKey)
		if err != nil || p.LiveEnabled {
			t.Fatalf("live key before enable-live: %+v, %v", p, err)
		}
		if err := other.EnableLive(b.ctx, b.merchant); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			p, err := b.svc.Authenticate(b.ctx, liveKey)
			return err == nil && p.LiveEnabled
		})

		// Another process revokes the key: refused within a few intervals.
		if err := other.RevokeKey(b.ctx, live.Prefix); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			_, err := b.svc.Authenticate(b.ctx, liveKey)
			return errors.Is(err, invoice.ErrUnauthenticated)
		})

		// This process revokes: refused at once.
		if _, err := b.svc.Authenticate(b.ctx, read); err != nil {
			t.Fatal(err)
		}
		readPrefix := read[:len("sk_test_")+8]
		if err := b.svc.RevokeKey(b.ctx, readPrefix); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.Authenticate(b.ctx, read); !errors.Is(err, invoice.ErrUnauthenticated) {
			t.Fatalf("key revoked in this process still accepted: %v", err)
		}

		stop()
		<-done
	})
}

// TestKeysRevoked: OnKeysRevoked rings at once for a revocation in this
// process and, while the key watcher runs, for one made by another process;
// RevokedKeys then names the revoked keys among those asked about.
func TestKeysRevoked(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		var rings atomic.Int32
		b.svc.OnKeysRevoked(func() { rings.Add(1) })
		other := invoice.NewService(db.DB, nil, nil, nil) // another process
		var prefixes []string
		for range 3 {
			_, k, err := b.svc.CreateKey(b.ctx, b.merchant, invoice.ModeTest, invoice.ScopeMerchant)
			if err != nil {
				t.Fatal(err)
			}
			prefixes = append(prefixes, k.Prefix)
		}
		revokedOf := func() []string {
			t.Helper()
			got, err := b.svc.RevokedKeys(b.ctx, append(slices.Clone(prefixes), "sk_test_gone0000"))
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			return got
		}
		if got := revokedOf(); !slices.Equal(got, []string{"sk_test_gone0000"}) {
			t.Fatalf("revoked %v before any revocation, want only the unknown key", got)
		}

		if err := b.svc.RevokeKey(b.ctx, prefixes[0]); err != nil {
			t.Fatal(err)
		}
		if rings.Load() != 1 {
			t.Fatalf("rung %d times by a revocation in this process, want at once", rings.Load())
		}

		ctx, stop := context.WithCancel(b.ctx)
		done := make(chan struct{})
		go func() { b.svc.RunKeyWatcher(ctx, 20*time.Millisecond, nil); close(done) }()
		waitFor(t, func() bool { return rings.Load() == 2 }) // the watcher starts: it may have missed one
		if err := other.RevokeKey(b.ctx, prefixes[1]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return rings.Load() == 3 })
		want := []string{prefixes[0], prefixes[1], "sk_test_gone0000"}
		slices.Sort(want)
		if got := revokedOf(); !slices.Equal(got, want) {
			t.Errorf("revoked %v, want %v", got, want)
		}
		// Lifting a live gate moves the revision but revokes nothing.
		if err := other.EnableLive(b.ctx, b.merchant); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if rings.Load() != 3 {
			t.Errorf("rung %d times, want 3: enable-live revokes nothing", rings.Load())
		}
		stop()
		<-done
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeyRevocationNotified: on Postgres a revocation by another process
// reaches this one through a KeysChannel notification, at once, however
// long the watcher's own poll: here it polls once an hour.
func TestKeyRevocationNotified(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		if db.Name != "postgres" {
			t.Skip("SQLite has no notifications; its watcher polls (TestKeyCache)")
		}
		b := setup(t, db)
		other := invoice.NewService(db.DB, nil, nil, nil) // another process
		key, k, err := other.CreateKey(b.ctx, b.merchant, invoice.ModeTest, invoice.ScopeMerchant)
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(b.ctx)
		defer stop()
		changed, connected := &events.Signal{}, &events.Signal{}
		go events.ListenAll(ctx, db.URL, map[string]*events.Signal{
			invoice.KeysChannel: changed, "settle_test_listening": connected,
		}, nil)
		<-connected.C() // rung once LISTEN is in place on both channels
		done := make(chan struct{})
		go func() { b.svc.RunKeyWatcher(ctx, time.Hour, changed.C); close(done) }()
		defer func() { stop(); <-done }()
		// The cache is on once a lookup answers from memory what the store
		// no longer says: flip the scope in the store under each answer.
		waitFor(t, func() bool {
			before, err := b.svc.Authenticate(b.ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			flipped := invoice.ScopeRead
			if before.Scope == invoice.ScopeRead {
				flipped = invoice.ScopeMerchant
			}
			if _, err := db.NewUpdate().TableExpr("api_keys").Set("scope = ?", flipped).
				Where("prefix = ?", k.Prefix).Exec(b.ctx); err != nil {
				t.Fatal(err)
			}
			after, err := b.svc.Authenticate(b.ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			return after.Scope == before.Scope
		})
		if err := other.RevokeKey(b.ctx, k.Prefix); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			_, err := b.svc.Authenticate(b.ctx, key)
			return errors.Is(err, invoice.ErrUnauthenticated)
		})
	})
}
