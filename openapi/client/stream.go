package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
)

// StreamConfig tunes Stream; zero fields take the defaults.
type StreamConfig struct {
	// ReconnectInitial and ReconnectMax bound the backoff between
	// reconnections (default 250 ms growing to 30 s); it starts again from
	// ReconnectInitial once a connection has delivered an event.
	ReconnectInitial time.Duration
	ReconnectMax     time.Duration
	// PingInterval is how often {"type":"ping"} is sent (default 25 s), and
	// IdleTimeout drops a connection on which nothing, not even the pong,
	// has arrived for that long (default 65 s), to reconnect.
	PingInterval time.Duration
	IdleTimeout  time.Duration
	// Remember is how many delivered ids are kept to drop duplicates
	// (default 10,000).
	Remember int
	// OnDisconnect, when set, is called after each lost connection with
	// why and how long Stream waits before the next; for logs and tests.
	OnDisconnect func(err error, wait time.Duration)
}

func (s StreamConfig) withDefaults() StreamConfig {
	if s.ReconnectInitial <= 0 {
		s.ReconnectInitial = 250 * time.Millisecond
	}
	if s.ReconnectMax <= 0 {
		s.ReconnectMax = 30 * time.Second
	}
	if s.PingInterval <= 0 {
		s.PingInterval = 25 * time.Second
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = 65 * time.Second
	}
	if s.Remember <= 0 {
		s.Remember = 10_000
	}
	return s
}

// Stream follows the merchant WebSocket (GET /api/v1/ws) and yields each
// event of the key's merchant and mode, in sequence order. With after (an
// event id) it first gets every later event from the store, so nothing is
// missed since then; without it, events from the moment of connection.
//
// A lost connection is made again with backoff, resuming after the last
// event yielded, and any event whose id was already yielded is dropped: the
// loop sees each event once, with no gap. (Without after, a connection
// lost before the first event cannot resume and resumes live.) Stream ends
// when ctx ends, yielding ctx.Err(), or when the server refuses the
// connection for good (a bad key, an unknown cursor), yielding that *Error.
func (c *Client) Stream(ctx context.Context, after string) iter.Seq2[Event, error] {
	return c.StreamWith(ctx, after, StreamConfig{})
}

// StreamWith is Stream with its settings.
func (c *Client) StreamWith(ctx context.Context, after string, cfg StreamConfig) iter.Seq2[Event, error] {
	cfg = cfg.withDefaults()
	return func(yield func(Event, error) bool) {
		seen := newIDWindow(cfg.Remember)
		b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(cfg.ReconnectInitial),
			backoff.WithMaxInterval(cfg.ReconnectMax), backoff.WithMaxElapsedTime(0))
		for {
			stopped := false
			delivered := 0
			err := c.streamOnce(ctx, after, cfg, func(e Event) bool {
				if !seen.add(e.ID) {
					return true // already yielded
				}
				if !yield(e, nil) {
					stopped = true
					return false
				}
				after = e.ID
				delivered++
				return true
			})
			if stopped {
				return
			}
			if ctx.Err() != nil {
				yield(Event{}, ctx.Err())
				return
			}
			var e *Error
			if errors.As(err, &e) && !transient(err) && e.StatusCode != http.StatusRequestTimeout {
				yield(Event{}, err)
				return
			}
			if delivered > 0 {
				b.Reset()
			}
			wait := b.NextBackOff()
			if e != nil && e.RetryAfter > wait {
				wait = e.RetryAfter
			}
			if cfg.OnDisconnect != nil {
				cfg.OnDisconnect(err, wait)
			}
			if sleep(ctx, wait) != nil {
				yield(Event{}, ctx.Err())
				return
			}
		}
	}
}

// streamOnce holds one connection and hands each event to deliver until
// the connection ends or deliver returns false. It returns why the
// connection ended: an *Error when the handshake was refused.
func (c *Client) streamOnce(ctx context.Context, after string, cfg StreamConfig, deliver func(Event) bool) error {
	if c.baseErr != nil {
		return c.baseErr
	}
	u := "ws" + strings.TrimPrefix(c.base, "http") + wsPath
	if after != "" {
		u += "?after=" + url.QueryEscape(after)
	}
	h := http.Header{"User-Agent": {c.userAgent}}
	if c.apiKey != "" {
		h.Set("Authorization", "Bearer "+c.apiKey)
	}
	dialCtx, cancelDial := context.WithTimeout(ctx, cfg.IdleTimeout)
	conn, res, err := websocket.Dial(dialCtx, u, &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: h})
	cancelDial()
	if err != nil {
		if res != nil && res.StatusCode != http.StatusSwitchingProtocols {
			raw, _ := io.ReadAll(res.Body)
			return newError(res, raw)
		}
		return fmt.Errorf("websocket: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)

	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the client's keepalive; pongs and events prove the server alive
		t := time.NewTicker(cfg.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-connCtx.Done():
				return
			case <-t.C:
				if conn.Write(connCtx, websocket.MessageText, []byte(`{"type":"ping"}`)) != nil {
					return
				}
			}
		}
	}()
	for {
		readCtx, cancelRead := context.WithTimeout(connCtx, cfg.IdleTimeout)
		typ, data, err := conn.Read(readCtx)
		cancelRead()
		if err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var m struct {
			Type  string `json:"type"`
			Event *Event `json:"event"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("websocket: message %.100q: %w", data, err)
		}
		if m.Type != "event" || m.Event == nil {
			continue // a pong, or a message type this client does not know
		}
		if !deliver(*m.Event) {
			conn.Close(websocket.StatusNormalClosure, "")
			return nil
		}
	}
}

// idWindow remembers the last n ids added.
type idWindow struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newIDWindow(n int) *idWindow {
	return &idWindow{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add records id and reports whether it was new.
func (w *idWindow) add(id string) bool {
	if _, ok := w.set[id]; ok {
		return false
	}
	if old := w.ring[w.next]; old != "" {
		delete(w.set, old)
	}
	w.ring[w.next] = id
	w.next = (w.next + 1) % len(w.ring)
	w.set[id] = struct{}{}
	return true
}
