package events

import (
	"context"
	"errors"
	"sync"

	"github.com/settlepay/settle/invoice"
)

// Subscription is one WebSocket's place in the hub: a bounded queue of the
// events published for its merchant and mode since it subscribed. It costs
// a few hundred bytes while idle; the queue grows only while its writer is
// behind, and never past the hub's SendBuffer.
type Subscription struct {
	hub        *Hub
	merchantID string
	mode       invoice.Mode
	keyPrefix  string
	ip         string
	registered bool // guarded by hub.mu
	shard      int  // the fan-out goroutine that serves it

	ctx    context.Context // ends when the hub ends the subscription
	cancel context.CancelCauseFunc
	ready  chan struct{} // holds a token while the queue is not empty

	mu    sync.Mutex
	queue []Message
	ended bool
	write func(frame []byte) error // set by Live
	after int64                    // Live's cursor
}

func newSubscription(h *Hub, c Subscriber) *Subscription {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Subscription{hub: h, merchantID: c.MerchantID, mode: c.Mode, keyPrefix: c.KeyPrefix, ip: c.IP,
		ctx: ctx, cancel: cancel, ready: make(chan struct{}, 1)}
}

// Ready has a value when events wait to be taken.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Context ends when the hub ends the subscription (a slow reader, its key
// revoked, or the hub stopping); context.Cause tells why. Writes to the client use it, so
// that a write blocked on a client that stopped reading is abandoned.
func (s *Subscription) Context() context.Context { return s.ctx }

// Err is why the hub ended the subscription, or nil.
func (s *Subscription) Err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	return context.Cause(s.ctx)
}

// Take returns the waiting events, oldest first, and empties the queue.
// buf, the slice a previous Take returned, is reused for the queue.
func (s *Subscription) Take(buf []Message) []Message {
	clear(buf)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.queue
	s.queue = buf[:0]
	return out
}

// Close unsubscribes; the caller must not use s afterwards.
func (s *Subscription) Close() {
	s.hub.remove(s)
	s.end(nil)
	s.mu.Lock()
	s.queue = nil
	s.mu.Unlock()
}

// Live hands the subscription's events, as whole WebSocket frames
// (Message.Frame), to write from now on, skipping
// those at or below after (the last sequence the caller sent). It reports
// false, and changes nothing, while events wait in the queue: Take and
// send them first, then try again.
//
// write is called on one of the hub's fan-out goroutines, for one event
// at a time, in order, and must not block (write to a [Socket]); an error
// it returns ends the subscription with that error. The frames are
// shared by every subscription: write must not change them. From then on Ready
// never fires: wait for Context to end.
func (s *Subscription) Live(after int64, write func(frame []byte) error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		return false
	}
	s.write, s.after = write, after
	return true
}

// deliver writes m (a live subscription) or queues it, and returns why the
// subscription must end: ErrSlowReader when its queue is full, the error
// of a write. It never blocks.
func (s *Subscription) deliver(m Message, limit int) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil
	}
	if write := s.write; write != nil {
		after := s.after
		s.mu.Unlock()
		if m.Sequence <= after {
			return nil // the caller of Live sent it already
		}
		if err := write(m.Frame); err != nil {
			if errors.Is(err, ErrSlowReader) {
				return ErrSlowReader
			}
			return err
		}
		return nil
	}
	if len(s.queue) >= limit {
		s.ended = true
		s.queue = nil
		s.mu.Unlock()
		return ErrSlowReader
	}
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
	return nil
}

// end stops the queue and ends the context with err (nil: closed by its
// owner).
func (s *Subscription) end(err error) {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	if err == nil {
		err = context.Canceled
	}
	s.cancel(err)
}
