package events

import (
	"context"
	"time"
)

// RevokedKeys tells the hub which API keys are revoked; *invoice.Service
// is one.
type RevokedKeys interface {
	// RevokedKeys returns those of prefixes whose key is revoked.
	RevokedKeys(ctx context.Context, prefixes []string) ([]string, error)
}

// WatchKeys ends, with ErrKeyRevoked, every subscription opened with a key
// that is revoked: once at start, then each time the channel from changed
// closes (wire it to invoice's OnKeysRevoked, which rings at once for a
// revocation in this process and within the key watcher's interval for one
// in another), until ctx ends. A check the store cannot answer is tried
// again every PollInterval until it can. It runs beside Run, never in the
// publish path: a revocation costs one query for the keys the hub holds.
func (h *Hub) WatchKeys(ctx context.Context, keys RevokedKeys, changed func() <-chan struct{}) {
	for {
		// Take the wake-up channel before checking, so that a revocation
		// during the check is not lost.
		wake := changed()
		err := h.EndRevoked(ctx, keys)
		if ctx.Err() != nil {
			return
		}
		var retry <-chan time.Time
		if err != nil {
			h.log.WarnContext(ctx, "hub: check revoked keys", "err", err)
			retry = time.After(h.cfg.PollInterval)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-retry:
		}
	}
}

// EndRevoked asks keys which of the keys the subscriptions were opened
// with are revoked, and ends those subscriptions with ErrKeyRevoked (their
// places in the limits are freed at once).
func (h *Hub) EndRevoked(ctx context.Context, keys RevokedKeys) error {
	h.mu.RLock()
	held := map[string]bool{}
	for _, set := range h.subs {
		for s := range set {
			if s.keyPrefix != "" {
				held[s.keyPrefix] = true
			}
		}
	}
	h.mu.RUnlock()
	if len(held) == 0 {
		return nil
	}
	prefixes := make([]string, 0, len(held))
	for p := range held {
		prefixes = append(prefixes, p)
	}
	revoked, err := keys.RevokedKeys(ctx, prefixes)
	if err != nil || len(revoked) == 0 {
		return err
	}
	gone := make(map[string]int, len(revoked))
	for _, p := range revoked {
		gone[p] = 0
	}
	h.mu.Lock()
	for _, set := range h.subs {
		for s := range set {
			if n, ok := gone[s.keyPrefix]; ok {
				s.end(ErrKeyRevoked)
				h.removeLocked(s)
				gone[s.keyPrefix] = n + 1
			}
		}
	}
	h.mu.Unlock()
	for p, n := range gone {
		if n > 0 {
			h.log.InfoContext(ctx, "hub: connections of a revoked key closed", "key_prefix", p, "connections", n)
		}
	}
	return nil
}
