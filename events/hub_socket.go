package events

import (
	"bytes"
	"context"
	"net"
	"sync"
	"syscall"
)

// Socket is the connection under a merchant WebSocket, made so that a
// write never waits for the client: the hub's fan-out goroutines write
// each event to thousands of sockets in turn, and one client that stops
// reading must not hold up the others.
//
// A write is tried once, without blocking, straight on the socket (one
// system call, on the caller's goroutine: no goroutine is woken per
// message); what the kernel does not take at once waits in order and a
// goroutine started for the purpose writes it, blocking, until nothing
// waits. While anything waits, later writes queue behind it, so the bytes
// go out in the order they were written. More than limit writes waiting
// make the socket fail with ErrSlowReader. Connections without a file
// descriptor (TLS served by this process) always take the waiting path.
type Socket struct {
	net.Conn
	raw   syscall.RawConn // nil: no direct writes
	limit int

	mu       sync.Mutex
	framed   bool // each Write is one whole frame; see Framed
	closing  bool // a close frame was written: no more frames
	pending  [][]byte
	draining bool          // a goroutine is writing pending
	drained  chan struct{} // closed when that goroutine ends
	err      error         // once set, every write fails with it
}

// NewSocket returns c as a Socket on which at most limit writes wait.
func NewSocket(c net.Conn, limit int) *Socket {
	s := &Socket{Conn: c, limit: max(limit, 1)}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			s.raw = raw
		}
	}
	return s
}

// Framed tells the socket that from now on each Write is one whole
// WebSocket frame, as coder/websocket's are once a connection writes only
// control frames and short messages (each is flushed whole from a 4 KiB
// buffer), so that WriteFrame may put frames of its own between them.
func (s *Socket) Framed() {
	s.mu.Lock()
	s.framed = true
	s.mu.Unlock()
}

// WriteFrame writes one whole WebSocket frame without blocking, between
// the frames written with Write (see Framed); after a close frame it
// fails with net.ErrClosed, since nothing may follow one.
func (s *Socket) WriteFrame(frame []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return net.ErrClosed
	}
	_, err := s.write(frame)
	return err
}

// Write writes p without blocking; see Socket. It reports len(p) written
// once p is sent or waits to be.
func (s *Socket) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	const finClose = 0x88
	if s.framed && len(p) > 0 && p[0] == finClose {
		s.closing = true
	}
	return s.write(p)
}

func (s *Socket) write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	if !s.draining {
		var err error
		if n, err = s.tryWrite(p); err != nil {
			s.err = err
			return n, err
		}
		if n == len(p) {
			return n, nil
		}
	}
	if len(s.pending) >= s.limit {
		s.err = ErrSlowReader
		return n, s.err
	}
	s.pending = append(s.pending, bytes.Clone(p[n:]))
	if !s.draining {
		s.draining = true
		s.drained = make(chan struct{})
		go s.drain()
	}
	return len(p), nil
}

// tryWrite makes one non-blocking write of p and returns how much the
// kernel took (0 when its send buffer is full).
func (s *Socket) tryWrite(p []byte) (int, error) {
	if s.raw == nil {
		return 0, nil
	}
	var n int
	var werr error
	err := s.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), p)
			if werr != syscall.EINTR {
				return true
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}

// drain writes what waits, blocking, until nothing does or a write fails
// (closing the connection makes a blocked write fail).
func (s *Socket) drain() {
	for {
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 || s.err != nil {
			s.draining = false
			close(s.drained)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		bufs := net.Buffers(batch)
		if _, err := bufs.WriteTo(s.Conn); err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
		}
	}
}

// Flushed waits until nothing written waits to be sent, so that a writer
// with much to send (a replay) goes at the client's pace rather than
// filling the queue.
func (s *Socket) Flushed(ctx context.Context) error {
	s.mu.Lock()
	draining, drained, err := s.draining, s.drained, s.err
	s.mu.Unlock()
	if err != nil || !draining {
		return err
	}
	select {
	case <-drained:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close closes the connection; a write waiting in the background fails.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.err == nil {
		s.err = net.ErrClosed
	}
	s.mu.Unlock()
	return s.Conn.Close()
}
