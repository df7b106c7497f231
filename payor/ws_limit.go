package payor

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// Defaults of the payor WebSocket's caps. A checkout page opens one socket
// per tab; ten tabs of one checkout, or twenty checkouts behind one
// address, are far beyond what a payor does (one address once held 679 in
// 30 s).
const (
	DefaultSocketsPerIP      = 20
	DefaultSocketsPerSession = 10
)

// Reasons a payor socket is refused; their text is the close reason.
var (
	// ErrTooManyFromIP refuses a socket from an address that holds
	// MaxPerIP payor sockets already.
	ErrTooManyFromIP = errors.New("too many connections from this IP address")
	// ErrTooManyForSession refuses a socket for a checkout session that
	// holds MaxPerSession sockets already.
	ErrTooManyForSession = errors.New("too many connections for this checkout session")
	// ErrTooManyForQRSession refuses a waiting-page socket for a QR
	// session that holds MaxSocketsPerSession sockets already.
	ErrTooManyForQRSession = errors.New("too many connections for this QR session")
)

// socketCount counts the open payor sockets by key (an address, a
// session) and refuses one over its limit.
type socketCount struct {
	mu   sync.Mutex
	open map[string]int
}

// take counts one more socket for key, or refuses with err (wrapped with
// the limit) when key holds limit already; limit < 0 means no limit. The
// returned function gives the place back.
func (c *socketCount) take(key string, limit int, err error) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit >= 0 && c.open[key] >= limit {
		return nil, fmt.Errorf("%w (limit %d)", err, limit)
	}
	if c.open == nil {
		c.open = map[string]int{}
	}
	c.open[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.open[key]--; c.open[key] <= 0 {
				delete(c.open, key)
			}
		})
	}, nil
}

// limit is the configured cap: zero means the default.
func limit(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// clientIP is the address a request comes from. Behind a reverse proxy
// every payor shares the proxy's address, and the per-IP cap counts the
// proxy: raise it (or turn it off with -1) there.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
