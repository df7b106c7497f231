package invoice_test

import (
	"context"
	"errors"
	"testing"
	"time"

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
		go func() { b.svc.RunKeyWatcher(ctx, 20*time.Millisecond); close(done) }()
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
