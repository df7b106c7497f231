package events

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// HubConfig tunes the merchant WebSocket hub. Zero fields take the
// defaults below; a negative limit means no limit. Limits count the
// connections of one instance: behind a load balancer spreading clients
// over N instances, a client may hold up to N times as many. Both limits
// count each mode apart, so that test connections (a test suite, a
// developer's tabs) never lock out the live stream.
type HubConfig struct {
	// MaxPerIP is the most connections from one client IP address in one
	// mode (default 10).
	MaxPerIP int
	// MaxPerMerchant is the most connections of one merchant in one mode
	// (default 100).
	MaxPerMerchant int
	// PingInterval is how often the server sends a WebSocket ping frame on
	// each connection (default 30 s).
	PingInterval time.Duration
	// IdleTimeout closes a connection from which nothing (a message or the
	// pong to a ping) has come for this long (default 60 s).
	IdleTimeout time.Duration
	// SendBuffer is the most events waiting to be written to one
	// connection; a connection that falls further behind is closed as a
	// slow reader, so memory stays bounded (default 256).
	SendBuffer int
	// PollInterval is how often the hub looks for new events without
	// being woken, while it has subscribers (default 1 s).
	PollInterval time.Duration
	// Page is the most events read from the store at once (default 500).
	Page int
}

// Defaults of HubConfig.
const (
	DefaultMaxPerIP       = 10
	DefaultMaxPerMerchant = 100
	DefaultPingInterval   = 30 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultSendBuffer     = 256
	DefaultPollInterval   = time.Second
	defaultHubPage        = 500
)

func (c HubConfig) withDefaults() HubConfig {
	if c.MaxPerIP == 0 {
		c.MaxPerIP = DefaultMaxPerIP
	}
	if c.MaxPerMerchant == 0 {
		c.MaxPerMerchant = DefaultMaxPerMerchant
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.SendBuffer <= 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Page <= 0 {
		c.Page = defaultHubPage
	}
	return c
}

// Reasons a subscription is refused or ended; their text is the WebSocket
// close reason, so each stays well under 123 bytes.
var (
	// ErrTooManyForIP is returned by [Hub.Subscribe] when the client's IP
	// address holds MaxPerIP connections of the mode already.
	ErrTooManyForIP = errors.New("too many connections from this IP address")
	// ErrTooManyForMerchant is returned by [Hub.Subscribe] when the
	// merchant holds MaxPerMerchant connections of the mode already.
	ErrTooManyForMerchant = errors.New("too many connections for this merchant")
	// ErrKeyRevoked ends the subscriptions opened with an API key (or with
	// a ws_token it minted) once the key is revoked; see [Hub.WatchKeys].
	ErrKeyRevoked = errors.New("api key revoked")
	// ErrSlowReader ends a subscription whose client fell SendBuffer
	// events behind.
	ErrSlowReader = errors.New("slow reader: too many events waiting; reconnect with after")
	// ErrHubStopped ends every subscription when the hub stops, and is
	// returned by [Hub.Subscribe] afterwards.
	ErrHubStopped = errors.New("server shutting down; reconnect with after")
)

// Hub tails the sequenced events and fans them out to merchant WebSockets.
//
// The store is the truth: the hub keeps a cursor (the highest sequence it
// has published), wakes when the sequencer rings (on Postgres, through
// LISTEN/NOTIFY, whichever instance sequenced) or every PollInterval, reads
// what follows the cursor in sequence order, encodes each event once and
// hands the bytes to the subscribers of its merchant and mode.
//
// The fan-out runs on one goroutine per CPU, each serving a fixed share
// of the subscriptions in event order. A live subscription (see
// [Subscription.Live]) is written to directly from there, a non-blocking
// write per event and connection ([Socket]); one still catching up
// queues its events for its own goroutine. Nothing blocks: a queue or
// socket that overflows ends its subscription. Why: with 10,000
// connections an event is 10,000 writes; waking 10,000 goroutines for them
// cost as much CPU again as the writes, and that CPU is latency.
type Hub struct {
	db        *bun.DB
	log       *slog.Logger
	cfg       HubConfig
	sequenced *Signal

	ready     chan struct{} // closed once the cursor is known
	readyOnce sync.Once
	cursor    atomic.Int64

	shards []chan fanout // one per fan-out goroutine

	mu          sync.RWMutex
	next        int // the shard of the next subscription
	subs        map[subKey]map[*Subscription]struct{}
	perIP       map[ipKey]int
	perMerchant map[subKey]int
	count       int
	stopped     bool
}

type subKey struct {
	merchantID string
	mode       invoice.Mode
}

type ipKey struct {
	ip   string
	mode invoice.Mode
}

// Subscriber is who asks for a subscription: a merchant WebSocket.
type Subscriber struct {
	MerchantID string
	Mode       invoice.Mode // the events of this mode only
	// KeyPrefix names the API key the connection was opened with, or the
	// key that minted its ws_token: revoking that key ends it.
	KeyPrefix string
	IP        string // the address the connection comes from
}

// NewHub returns a hub on db; sequenced rings when new events are sequenced.
func NewHub(db *bun.DB, log *slog.Logger, cfg HubConfig, sequenced *Signal) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if sequenced == nil {
		sequenced = &Signal{}
	}
	h := &Hub{
		db: db, log: log, cfg: cfg.withDefaults(), sequenced: sequenced,
		ready: make(chan struct{}),
		subs:  map[subKey]map[*Subscription]struct{}{}, perIP: map[ipKey]int{}, perMerchant: map[subKey]int{},
	}
	h.shards = make([]chan fanout, runtime.GOMAXPROCS(0))
	for i := range h.shards {
		h.shards[i] = make(chan fanout, 16)
	}
	return h
}

// fanout is one page of events for the subscriptions of one shard:
// subs[i] are those that get msgs[i].
type fanout struct {
	msgs []Message
	subs [][]*Subscription
}

// Config returns the hub's configuration with defaults filled in.
func (h *Hub) Config() HubConfig { return h.cfg }

// Connections returns how many subscriptions the hub holds.
func (h *Hub) Connections() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.count
}

// Run tails the events until ctx ends, then ends every subscription with
// ErrHubStopped.
func (h *Hub) Run(ctx context.Context) {
	defer h.stop()
	var shards sync.WaitGroup
	defer shards.Wait()
	for _, ch := range h.shards {
		shards.Go(func() { h.deliver(ch) })
		defer close(ch)
	}
	for {
		last, err := maxSequence(ctx, h.db)
		if err == nil {
			h.cursor.Store(last)
			h.readyOnce.Do(func() { close(h.ready) })
			break
		}
		if ctx.Err() != nil {
			return
		}
		h.log.WarnContext(ctx, "hub: read the last sequence", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.cfg.PollInterval):
		}
	}
	t := time.NewTicker(h.cfg.PollInterval)
	defer t.Stop()
	// The poll is a safety net for a missed ring, and only matters to
	// subscribers: with none, the hub reads the store only when rung (or
	// after a failed read), so that an idle server costs the database
	// nothing here. Should a ring be missed meanwhile, the first
	// subscriber's next poll publishes from the older cursor: events
	// before its connection, which a resuming client skips by sequence.
	look := true
	for {
		// Take the wake-up channel before reading, so that a ring during
		// the read is not lost.
		wake := h.sequenced.C()
		if look || h.hasSubscribers() {
			err := h.Step(ctx)
			if err != nil && ctx.Err() == nil {
				h.log.WarnContext(ctx, "hub: read events", "err", err, "after", h.cursor.Load())
			}
			look = err != nil
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
			look = true
		case <-t.C:
		}
	}
}

// Step publishes every sequenced event after the cursor, in order, to the
// fan-out goroutines that Run starts (without them it blocks).
func (h *Hub) Step(ctx context.Context) error {
	for {
		if !h.hasSubscribers() {
			return h.skipAhead(ctx)
		}
		var page []invoice.Event
		err := h.db.NewSelect().Model(&page).Where("sequence > ?", h.cursor.Load()).
			OrderExpr("sequence").Limit(int64(h.cfg.Page)).Scan(ctx)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		msgs := make([]Message, len(page))
		for i, e := range page {
			if msgs[i], err = NewMessage(e); err != nil {
				return fmt.Errorf("encode event %s: %w", e.ID, err)
			}
		}
		h.publish(page, msgs)
		h.cursor.Store(page[len(page)-1].Sequence)
		if len(page) < h.cfg.Page {
			return nil
		}
	}
}

// skipAhead moves the cursor to the end of the store without reading the
// events, when nobody listens. The end is read before taking the lock: a
// subscriber that arrives after the lock replays the store, which already
// holds everything up to that end.
func (h *Hub) skipAhead(ctx context.Context) error {
	last, err := maxSequence(ctx, h.db)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count == 0 && last > h.cursor.Load() {
		h.cursor.Store(last)
	}
	return nil
}

func (h *Hub) hasSubscribers() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.count > 0
}

func maxSequence(ctx context.Context, db bun.IDB) (int64, error) {
	var last int64
	err := db.NewSelect().TableExpr("events").ColumnExpr("COALESCE(MAX(sequence), 0)").Scan(ctx, &last)
	return last, err
}

// publish hands each event to its merchant and mode's subscribers, through
// the fan-out goroutines. It holds the read lock only while it lists them.
func (h *Hub) publish(page []invoice.Event, msgs []Message) {
	work := make([]fanout, len(h.shards))
	h.mu.RLock()
	for i, e := range page {
		for s := range h.subs[subKey{e.MerchantID, e.Mode}] {
			w := &work[s.shard]
			if w.subs == nil {
				w.msgs, w.subs = msgs, make([][]*Subscription, len(msgs))
			}
			w.subs[i] = append(w.subs[i], s)
		}
	}
	h.mu.RUnlock()
	for i, w := range work {
		if w.subs != nil {
			h.shards[i] <- w
		}
	}
}

// deliver is a fan-out goroutine: it gives each page's events to its
// subscriptions, in order, and ends those that overflow or fail.
func (h *Hub) deliver(ch <-chan fanout) {
	for w := range ch {
		for i, m := range w.msgs {
			for _, s := range w.subs[i] {
				err := s.deliver(m, h.cfg.SendBuffer)
				if err == nil {
					continue
				}
				// Removed before it is ended, so that whoever sees it
				// ended finds its place free.
				h.remove(s)
				s.end(err)
				if errors.Is(err, ErrSlowReader) {
					h.log.Info("hub: slow reader disconnected", "merchant_id", s.merchantID, "send_buffer", h.cfg.SendBuffer)
				}
			}
		}
	}
}

// Subscribe registers c for its merchant's events in its mode, published
// from now on. It waits until the hub has started, and
// refuses with ErrTooManyForIP or ErrTooManyForMerchant (wrapped with the
// mode and the limit) over the limits. The caller must Close the
// subscription.
//
// To resume without a gap, subscribe first, then replay the store after
// the client's cursor, then deliver the subscription's events, skipping
// those at or below the last one replayed.
func (h *Hub) Subscribe(ctx context.Context, c Subscriber) (*Subscription, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	k, ik := subKey{c.MerchantID, c.Mode}, ipKey{c.IP, c.Mode}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.stopped:
		return nil, ErrHubStopped
	case h.cfg.MaxPerIP > 0 && h.perIP[ik] >= h.cfg.MaxPerIP:
		return nil, fmt.Errorf("%w in %s mode (limit %d)", ErrTooManyForIP, c.Mode, h.cfg.MaxPerIP)
	case h.cfg.MaxPerMerchant > 0 && h.perMerchant[k] >= h.cfg.MaxPerMerchant:
		return nil, fmt.Errorf("%w in %s mode (limit %d)", ErrTooManyForMerchant, c.Mode, h.cfg.MaxPerMerchant)
	}
	s := newSubscription(h, c)
	s.shard = h.next % len(h.shards)
	h.next++
	if h.subs[k] == nil {
		h.subs[k] = map[*Subscription]struct{}{}
	}
	h.subs[k][s] = struct{}{}
	h.perIP[ik]++
	h.perMerchant[k]++
	h.count++
	s.registered = true
	return s, nil
}

// remove unregisters s and frees its place in the limits; it does nothing
// the second time.
func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

func (h *Hub) removeLocked(s *Subscription) {
	if !s.registered {
		return
	}
	s.registered = false
	k := subKey{s.merchantID, s.mode}
	delete(h.subs[k], s)
	if len(h.subs[k]) == 0 {
		delete(h.subs, k)
	}
	ik := ipKey{s.ip, s.mode}
	if h.perIP[ik]--; h.perIP[ik] <= 0 {
		delete(h.perIP, ik)
	}
	if h.perMerchant[k]--; h.perMerchant[k] <= 0 {
		delete(h.perMerchant, k)
	}
	h.count--
}

func (h *Hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.readyOnce.Do(func() { close(h.ready) }) // Subscribe now says ErrHubStopped
	for _, set := range h.subs {
		for s := range set {
			s.end(ErrHubStopped)
			h.removeLocked(s)
		}
	}
}

// Message is one event as the WebSocket text message that carries it,
// encoded once for every subscriber.
type Message struct {
	Sequence int64
	// InvoiceID is the invoice the event is about ("" for none), for
	// connections that follow some invoices only (a terminal's).
	InvoiceID string
	Data      []byte // {"type":"event","event":{…}}
	// Frame is Data as one whole WebSocket text frame from a server
	// (RFC 6455 §5.2: final, unmasked, no extension), Data being its tail:
	// every connection is sent these same bytes.
	Frame []byte
}

// EventMessage is the WebSocket message that carries one event.
type EventMessage struct {
	Type  string `json:"type" enum:"event"`
	Event Event  `json:"event"`
}

// NewMessage encodes a stored event as its WebSocket message.
func NewMessage(e invoice.Event) (Message, error) {
	b, err := json.Marshal(EventMessage{Type: "event", Event: FromStored(e)})
	if err != nil {
		return Message{}, err
	}
	frame := appendFrameHeader(make([]byte, 0, 10+len(b)), len(b))
	frame = append(frame, b...)
	return Message{Sequence: e.Sequence, InvoiceID: e.InvoiceID, Data: frame[len(frame)-len(b):], Frame: frame}, nil
}

// appendFrameHeader appends the header of a final, unmasked text frame of
// n bytes.
func appendFrameHeader(b []byte, n int) []byte {
	const finText = 0x81
	switch {
	case n < 126:
		return append(b, finText, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, finText, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, finText, 127), uint64(n))
	}
}
