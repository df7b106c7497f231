package events

import "sync"

// Signal wakes every waiter at once, any number of times, without ever
// blocking the one who signals: waiters take C() and wait for it to close.
// A notification that comes while nobody waits is not lost: the next C()
// is already closed.
type Signal struct {
	mu      sync.Mutex
	ch      chan struct{}
	pending bool
}

// C returns a channel that is closed at the next Notify (or at once, if one
// came since the last C).
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending {
		s.pending = false
		c := make(chan struct{})
		close(c)
		return c
	}
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes everyone waiting on a channel from C.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.pending = true
		return
	}
	close(s.ch)
	s.ch = nil
}
