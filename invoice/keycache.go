package invoice

import (
	"context"
	"sync"
	"time"
)

// KeyRefreshInterval is how often [Service.RunKeyWatcher] looks for
// revoked keys and newly live merchants when nothing wakes it (SQLite): the
// longest a change made by another process (`settle keys revoke`) takes to
// reach this one.
const KeyRefreshInterval = 250 * time.Millisecond

// KeyFallbackInterval is how often RunKeyWatcher looks when it is also
// woken by KeysChannel notifications (Postgres), which bring a change at
// once: the poll only bounds a change whose notification was lost while the
// listening connection was down.
const KeyFallbackInterval = 5 * time.Second

// KeysChannel is the Postgres NOTIFY channel on which a key revocation or a
// merchant going live is announced, in the transaction that makes it, to
// the key watchers of every instance.
const KeysChannel = "settle_keys"

// keyCacheTTL bounds how long a resolved key is trusted without a lookup,
// should the watcher miss a change.
const keyCacheTTL = 30 * time.Second

// keyCache remembers resolved API keys by hash so that a request costs no
// lookup. It is on only while RunKeyWatcher runs, which empties it whenever
// a key is revoked or a merchant's live gate changes. Each emptying starts a
// new generation, and a lookup that began in an older one is not cached, so
// a slow request cannot put a stale principal back after a revocation.
type keyCache struct {
	mu      sync.Mutex
	enabled bool
	gen     uint64
	entries map[string]cachedKey
}

type cachedKey struct {
	p  Principal
	at time.Time
}

func (c *keyCache) get(hash string, now time.Time) (Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || now.Sub(e.at) > keyCacheTTL {
		return Principal{}, false
	}
	return e.p, true
}

// generation returns the generation a lookup starts in.
func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *keyCache) put(hash string, p Principal, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.enabled && c.gen == gen {
		c.entries[hash] = cachedKey{p: p, at: now}
	}
}

// reset empties the cache and turns it on or off.
func (c *keyCache) reset(enabled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.enabled = enabled
	c.entries = make(map[string]cachedKey)
}

// on reports whether the cache is on (RunKeyWatcher runs and the database
// answers).
func (c *keyCache) on() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enabled
}

// flush empties the cache, leaving it on or off.
func (c *keyCache) flush() {
	c.mu.Lock()
	enabled := c.enabled
	c.mu.Unlock()
	c.reset(enabled)
}

// RunKeyWatcher turns on the cache of resolved API keys and keeps it true
// until ctx ends: every interval, and whenever the channel wake returns is
// closed (wake may be nil), it reads a revision of the keys (revoked keys,
// live merchants) and empties the cache when it moved. If the
// database does not answer, the cache is off until it does again. When the
// count of revoked keys moved (or the watcher starts or recovers, when it
// may have missed one), the OnKeysRevoked function is called after the
// cache is emptied, so that a connection whose key was checked from the
// cache after that call sees the revocation. Each look also moves
// ConfigEpoch.
func (s *Service) RunKeyWatcher(ctx context.Context, interval time.Duration, wake func() <-chan struct{}) {
	defer s.keys.reset(false)
	t := time.NewTicker(interval)
	defer t.Stop()
	var last keysRevision
	on := false
	for {
		var woken <-chan struct{}
		if wake != nil {
			woken = wake()
		}
		rev, err := s.keysRevision(ctx)
		s.epoch.Add(1)
		switch {
		case err != nil:
			if on && ctx.Err() == nil {
				s.log.WarnContext(ctx, "key watcher: cache off until the database answers", "err", err)
			}
			s.keys.reset(false)
			on = false
		case !on || rev != last:
			s.keys.reset(true)
			if !on || rev.Revoked != last.Revoked {
				s.keysRevoked()
			}
			last, on = rev, true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-woken:
		}
	}
}

// keysRevision moves whenever a key is revoked or a merchant goes live;
// neither is ever undone, so counting them is enough.
type keysRevision struct {
	Revoked int64 `bun:"revoked"`
	Live    int64 `bun:"live"`
}
