package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The bench's clients are lean WebSocket readers of their own, so that
// the clients, which share the machine with the server, cost as little
// as they can and the figures are the server's: the handshake is done by
// hand on a plain TCP connection, and server frames are parsed from a
// reused buffer, with no allocation per message. Several connections are
// read by each of a few goroutines, each waiting on an epoll instance of
// its own (or, with --client-readers 0, one goroutine per connection).
// They speak enough of RFC 6455 to stay correct: pings are answered with
// masked pongs, a close frame ends the connection, fragmented messages
// are reassembled, and anything else a server may not send is an error.

// wsMaxMessage bounds a message the bench clients accept.
const wsMaxMessage = 1 << 20

// epollET is EPOLLET as the uint32 of EpollEvent.Events (syscall has it
// as a negative int).
const epollET = 1 << 31

// wsGUID is the RFC 6455 constant hashed into Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// benchClient is one WebSocket client: what it saw, as it reads. Only
// its reader touches rec and the stream until the readers have stopped;
// count and done are what the waiting side may look at meanwhile.
type benchClient struct {
	fd     atomic.Int64 // the socket, once the handshake is done; -1 once closed
	conn   net.Conn     // with --client-readers 0: read by its own goroutine
	stream wsStream
	rec    benchRecord
	count  atomic.Int64 // len(rec.Seqs)
	done   atomic.Bool  // the connection ended
}

// benchRecord is what one client saw: the sequence of every message and
// when it was read. It crosses from a child process in gob.
type benchRecord struct {
	Seqs []int64
	At   []int64 // unix nanoseconds
	Err  string  // why the connection ended early; empty if it was held
}

// benchClients are the merchant WebSockets of a run.
type benchClients struct {
	Clients        []*benchClient // nil where dialing failed
	ConnectSeconds float64
	firstErr       atomic.Value
	readers        sync.WaitGroup
	stopping       atomic.Bool
	epolls         []int
}

func (b *benchClients) fail(err error) { b.firstErr.CompareAndSwap(nil, err.Error()) }

func (b *benchClients) FirstError() string {
	s, _ := b.firstErr.Load().(string)
	return s
}

// openBenchClients dials n connections to rawURL, parallel at a time,
// read until ctx ends by readers goroutines multiplexed over epoll (see
// pollLoop for coalesce), or with readers 0 by one goroutine each.
func openBenchClients(ctx context.Context, rawURL, key string, n, parallel, readers int, coalesce time.Duration, expect int) *benchClients {
	b := &benchClients{Clients: make([]*benchClient, n)}
	u, err := url.Parse(rawURL)
	if err != nil {
		b.fail(err)
		return b
	}
	for range readers {
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			b.fail(fmt.Errorf("epoll: %w", err))
			return b
		}
		b.epolls = append(b.epolls, ep)
	}
	all := make([]*benchClient, n) // every slot, read by the epoll readers
	for i := range all {
		all[i] = &benchClient{rec: benchRecord{Seqs: make([]int64, 0, expect), At: make([]int64, 0, expect)}}
		all[i].fd.Store(-1)
	}
	for _, ep := range b.epolls {
		b.readers.Go(func() { b.pollLoop(ctx, ep, all, coalesce) })
	}
	var next atomic.Int64
	var dialers sync.WaitGroup
	t0 := time.Now()
	for range min(parallel, n) {
		dialers.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				bc := all[i]
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				conn, rest, err := wsDial(dctx, u, key)
				cancel()
				if err != nil {
					b.fail(fmt.Errorf("dial: %w", err))
					continue
				}
				bc.stream.init(rest)
				if readers == 0 {
					bc.conn = conn
					b.Clients[i] = bc
					if err := bc.handle(nil, -1, time.Now().UnixNano()); err != nil {
						bc.finish(ctx, err)
						continue
					}
					b.readers.Go(func() { bc.readConn(ctx) })
					continue
				}
				fd, err := detachFD(conn)
				if err != nil {
					b.fail(fmt.Errorf("dial: %w", err))
					continue
				}
				b.Clients[i] = bc
				bc.fd.Store(int64(fd))
				// Data that came with the handshake's answer.
				if err := bc.handle(nil, fd, time.Now().UnixNano()); err != nil {
					bc.finish(ctx, err)
					continue
				}
				ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(i)}
				if err := syscall.EpollCtl(b.epolls[i%readers], syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
					b.fail(fmt.Errorf("epoll: %w", err))
					bc.finish(ctx, err)
				}
			}
		})
	}
	dialers.Wait()
	b.ConnectSeconds = round(time.Since(t0).Seconds(), 3)
	return b
}

// wsDial opens a TCP connection to u and upgrades it to a WebSocket. It
// returns the bytes that came after the server's answer.
func wsDial(ctx context.Context, u *url.URL, key string) (net.Conn, []byte, error) {
	if u.Scheme != "ws" {
		return nil, nil, fmt.Errorf("%s: only ws:// is supported", u.Redacted())
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, nil, err
	}
	rest, err := wsHandshake(ctx, conn, u, key)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, rest, nil
}

func wsHandshake(ctx context.Context, conn net.Conn, u *url.URL, key string) ([]byte, error) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
		defer conn.SetDeadline(time.Time{})
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	challenge := base64.StdEncoding.EncodeToString(nonce)
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + challenge +
		"\r\nAuthorization: Bearer " + key + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 4096)
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("read the handshake answer: %w", err)
	}
	header, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("read the handshake answer: %w", err)
	}
	if proto, code, _ := strings.Cut(status, " "); !strings.HasPrefix(proto, "HTTP/1.") || !strings.HasPrefix(code, "101") {
		return nil, fmt.Errorf("handshake: %q, want 101 Switching Protocols", status)
	}
	sum := sha1.Sum([]byte(challenge + wsGUID))
	switch {
	case !strings.EqualFold(header.Get("Upgrade"), "websocket"):
		return nil, fmt.Errorf("handshake: Upgrade %q", header.Get("Upgrade"))
	case !strings.Contains(strings.ToLower(header.Get("Connection")), "upgrade"):
		return nil, fmt.Errorf("handshake: Connection %q", header.Get("Connection"))
	case header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return nil, fmt.Errorf("handshake: Sec-WebSocket-Accept %q does not match the key", header.Get("Sec-WebSocket-Accept"))
	case header.Get("Sec-WebSocket-Extensions") != "":
		return nil, fmt.Errorf("handshake: unasked-for extensions %q", header.Get("Sec-WebSocket-Extensions"))
	}
	rest, _ := br.Peek(br.Buffered())
	return bytes.Clone(rest), nil
}

// detachFD takes conn's socket out of the Go runtime's poller (so that
// only the bench's epoll is woken by it) and returns it, non-blocking.
func detachFD(conn net.Conn) (int, error) {
	defer conn.Close()
	sc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := sc.Control(func(s uintptr) {
		fd, derr = syscall.Dup(int(s))
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// pollLoop reads the connections registered on ep until ctx ends. It
// holds one buffer for all of them; a connection whose frame is cut by a
// read keeps only that frame's start.
//
// While connections are busy, it sleeps coalesce between polls, so that
// one wake-up reads many of them rather than each write from the server
// waking it (which would cost both processes a context switch per
// message). A message is then read, and its latency measured, up to
// coalesce late: the figures can only err on the slow side.
func (b *benchClients) pollLoop(ctx context.Context, ep int, all []*benchClient, coalesce time.Duration) {
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 256<<10)
	busy := false
	for !b.stopping.Load() && ctx.Err() == nil {
		wait := 100
		if busy && coalesce > 0 {
			time.Sleep(coalesce)
			wait = 0
		}
		n, err := syscall.EpollWait(ep, events, wait)
		busy = n > 0
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			b.fail(fmt.Errorf("epoll: %w", err))
			return
		}
		for _, ev := range events[:n] {
			bc := all[ev.Fd]
			fd := int(bc.fd.Load())
			if fd < 0 {
				continue
			}
			// Edge-triggered: read until a read comes back short (the
			// socket is then empty; new data raises a new edge).
			for {
				m, err := syscall.Read(fd, buf)
				if err == syscall.EINTR {
					continue
				}
				if err == syscall.EAGAIN {
					break
				}
				now := time.Now().UnixNano()
				if err == nil && m == 0 {
					err = io.EOF
				}
				if err == nil {
					err = bc.handle(buf[:m], fd, now)
				}
				if err != nil {
					syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, fd, nil)
					bc.finish(ctx, err)
					break
				}
				if m < len(buf) {
					break
				}
			}
		}
	}
}

// readConn is a connection's own reader, with --client-readers 0.
func (bc *benchClient) readConn(ctx context.Context) {
	buf := make([]byte, 4096)
	for {
		m, err := bc.conn.Read(buf)
		now := time.Now().UnixNano()
		if m > 0 {
			if herr := bc.handle(buf[:m], -1, now); herr != nil && err == nil {
				err = herr
			}
		}
		if err != nil {
			bc.finish(ctx, err)
			return
		}
	}
}

// finish records why the connection ended (unless the run is over) and
// closes it.
func (bc *benchClient) finish(ctx context.Context, err error) {
	if ctx.Err() == nil && bc.rec.Err == "" {
		bc.rec.Err = err.Error()
	}
	if fd := bc.fd.Swap(-1); fd >= 0 {
		syscall.Close(int(fd))
	}
	if bc.conn != nil {
		bc.conn.Close()
	}
	bc.done.Store(true)
}

// handle takes data read at now and records each complete message.
func (bc *benchClient) handle(data []byte, fd int, now int64) error {
	defer func() { bc.count.Store(int64(len(bc.rec.Seqs))) }()
	return bc.stream.feed(data, func(op byte, payload []byte) error {
		switch op {
		case wsOpText, wsOpBinary:
			if seq, ok := messageSequence(payload); ok {
				bc.rec.Seqs = append(bc.rec.Seqs, seq)
				bc.rec.At = append(bc.rec.At, now)
			}
			return nil
		case wsOpPing:
			return bc.send(fd, wsOpPong, payload)
		case wsOpClose:
			code, reason := 1005, ""
			if len(payload) >= 2 {
				code, reason = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
			}
			echo := []byte(nil)
			if len(payload) >= 2 {
				echo = payload[:2]
			}
			bc.send(fd, wsOpClose, echo)
			return fmt.Errorf("closed by the server: status %d, reason %q", code, reason)
		}
		return nil // a pong
	})
}

// send writes one masked client frame (a pong or a close: a few bytes
// into an empty send buffer).
func (bc *benchClient) send(fd int, op byte, payload []byte) error {
	frame, err := wsClientFrame(op, payload)
	if err != nil {
		return err
	}
	if bc.conn != nil {
		_, err = bc.conn.Write(frame)
		return err
	}
	for len(frame) > 0 {
		n, err := syscall.Write(fd, frame)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return errors.New("cannot answer a ping: send buffer full")
		case err != nil:
			return err
		}
		frame = frame[n:]
	}
	return nil
}

func wsClientFrame(op byte, payload []byte) ([]byte, error) {
	if len(payload) > 125 {
		return nil, errors.New("control frame too long")
	}
	frame := make([]byte, 6+len(payload))
	frame[0] = 0x80 | op
	frame[1] = 0x80 | byte(len(payload))
	if _, err := rand.Read(frame[2:6]); err != nil {
		return nil, err
	}
	for i, c := range payload {
		frame[6+i] = c ^ frame[2+i%4]
	}
	return frame, nil
}

// WebSocket opcodes.
const (
	wsOpContinuation = 0x0
	wsOpText         = 0x1
	wsOpBinary       = 0x2
	wsOpClose        = 0x8
	wsOpPing         = 0x9
	wsOpPong         = 0xA
)

// wsStream parses the frames a server sends.
type wsStream struct {
	pending []byte // the start of a frame a read cut
	frag    []byte // a fragmented message so far
	fragOp  byte
}

func (s *wsStream) init(rest []byte) { s.pending = rest }

// feed parses data (after what was pending) and calls on with every
// complete message or control frame, the payload valid only during the
// call.
func (s *wsStream) feed(data []byte, on func(op byte, payload []byte) error) error {
	if len(s.pending) > 0 {
		s.pending = append(s.pending, data...)
		data = s.pending
	}
	for {
		hdr, size, ok, err := wsFrameHeader(data)
		if err != nil {
			return err
		}
		if !ok || len(data) < hdr+size {
			break
		}
		b0 := data[0]
		payload := data[hdr : hdr+size]
		data = data[hdr+size:]
		fin, op := b0&0x80 != 0, b0&0x0F
		switch {
		case op >= wsOpClose:
			if !fin || size > 125 {
				return errors.New("protocol error: bad control frame")
			}
		case op == wsOpContinuation:
			if s.fragOp == 0 {
				return errors.New("protocol error: continuation with no message")
			}
			if len(s.frag)+size > wsMaxMessage {
				return errors.New("message too long")
			}
			s.frag = append(s.frag, payload...)
			if !fin {
				continue
			}
			op, payload = s.fragOp, s.frag
			s.frag, s.fragOp = s.frag[:0], 0
		case op != wsOpText && op != wsOpBinary:
			return fmt.Errorf("protocol error: opcode %d", op)
		case s.fragOp != 0:
			return errors.New("protocol error: new message inside a fragmented one")
		case !fin:
			s.frag, s.fragOp = append(s.frag[:0], payload...), op
			continue
		}
		if err := on(op, payload); err != nil {
			return err
		}
	}
	// Keep the start of a cut frame, in a buffer of the stream's own.
	switch {
	case len(data) == 0:
		s.pending = s.pending[:0]
	case len(s.pending) > 0:
		s.pending = append(s.pending[:0], data...) // data is a tail of pending: copy moves it forward
	default:
		s.pending = append(s.pending, data...)
	}
	return nil
}

// wsFrameHeader returns the length of the frame header at the start of
// data and of its payload; ok is false while the header is incomplete.
func wsFrameHeader(data []byte) (hdr, size int, ok bool, err error) {
	if len(data) < 2 {
		return 0, 0, false, nil
	}
	if data[0]&0x70 != 0 {
		return 0, 0, false, errors.New("protocol error: reserved bits set")
	}
	if data[1]&0x80 != 0 {
		return 0, 0, false, errors.New("protocol error: masked server frame")
	}
	hdr = 2
	n := uint64(data[1] & 0x7F)
	switch n {
	case 126:
		if len(data) < 4 {
			return 0, 0, false, nil
		}
		hdr, n = 4, uint64(binary.BigEndian.Uint16(data[2:]))
	case 127:
		if len(data) < 10 {
			return 0, 0, false, nil
		}
		hdr, n = 10, binary.BigEndian.Uint64(data[2:])
	}
	if n > wsMaxMessage {
		return 0, 0, false, fmt.Errorf("frame of %d bytes: too long", n)
	}
	return hdr, int(n), true, nil
}

// messageSequence finds the event's sequence, its last field, without
// decoding the rest of the message.
func messageSequence(data []byte) (int64, bool) {
	marker := []byte(`"sequence":`)
	i := bytes.LastIndex(data, marker)
	if i < 0 {
		return 0, false
	}
	rest := data[i+len(marker):]
	var seq int64
	n := 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		seq = seq*10 + int64(c-'0')
		n++
	}
	if n == 0 || n > 18 || n < len(rest) && rest[n] != ',' && rest[n] != '}' {
		return 0, false
	}
	return seq, true
}

// wait returns when every open client has read events messages, or after
// drain.
func (b *benchClients) wait(ctx context.Context, events int, drain time.Duration) {
	until := time.Now().Add(drain)
	for time.Now().Before(until) && ctx.Err() == nil {
		done := true
		for _, bc := range b.Clients {
			if bc != nil && !bc.done.Load() && bc.count.Load() < int64(events) {
				done = false
				break
			}
		}
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// records stops the readers, closes every connection and returns what
// each client saw; a client that never connected gives a nil record.
func (b *benchClients) records(stop func()) []*benchRecord {
	stop()
	b.stopping.Store(true)
	for _, bc := range b.Clients {
		if bc != nil && bc.conn != nil {
			bc.conn.Close()
		}
	}
	b.readers.Wait()
	for _, ep := range b.epolls {
		syscall.Close(ep)
	}
	out := make([]*benchRecord, len(b.Clients))
	for i, bc := range b.Clients {
		if bc != nil {
			if fd := bc.fd.Swap(-1); fd >= 0 {
				syscall.Close(int(fd))
			}
			out[i] = &bc.rec
		}
	}
	return out
}

func countNonNil(clients []*benchClient) int {
	n := 0
	for _, bc := range clients {
		if bc != nil {
			n++
		}
	}
	return n
}
