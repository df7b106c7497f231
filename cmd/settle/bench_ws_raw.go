package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

// rawWSServer is the reference of `settle bench ws --server raw`: the
// least a server can do to send each event to every connection, to show
// what the kernel alone costs on this machine. It answers the WebSocket
// handshake by hand, keeps each connection's socket out of the Go
// runtime's poller, and sends an event as settle's hub does (one frame,
// encoded once, written to each socket with one non-blocking write, from
// one goroutine per CPU, each owning a share of the sockets), but with no
// database, sequencer, hub, subscription or HTTP handler in between: the
// event is framed and written the moment it is made.
type rawWSServer struct {
	ln net.Listener

	mu     sync.Mutex
	shards [][]int // sockets, by writing goroutine
	next   int
	count  atomic.Int64

	blocked atomic.Int64 // writes the kernel did not take whole (the reference has no queue)
	failed  atomic.Int64
}

func startRawWSServer() (*rawWSServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &rawWSServer{ln: ln, shards: make([][]int, runtime.NumCPU())}
	go s.accept()
	return s, nil
}

func (s *rawWSServer) accept() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.upgrade(conn)
	}
}

// upgrade answers one handshake and registers the socket.
func (s *rawWSServer) upgrade(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil || !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || req.Header.Get("Sec-WebSocket-Key") == "" {
		conn.Close()
		return
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + wsGUID))
	answer := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
	if _, err := conn.Write([]byte(answer)); err != nil {
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	fd, err := detachFD(conn)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.shards[s.next%len(s.shards)] = append(s.shards[s.next%len(s.shards)], fd)
	s.next++
	s.mu.Unlock()
	s.count.Add(1)
}

// publish writes frame to every socket, each writing goroutine its share,
// and returns when all are written.
func (s *rawWSServer) publish(frame []byte) {
	s.mu.Lock()
	shards := make([][]int, len(s.shards))
	copy(shards, s.shards)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, fds := range shards {
		wg.Go(func() {
			for _, fd := range fds {
				n, err := syscall.Write(fd, frame)
				for err == syscall.EINTR {
					n, err = syscall.Write(fd, frame)
				}
				switch {
				case errors.Is(err, syscall.EAGAIN) || err == nil && n < len(frame):
					s.blocked.Add(1)
				case err != nil:
					s.failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
}

func (s *rawWSServer) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fds := range s.shards {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}
	s.shards = nil
}

// rawWSEvents makes the reference's events from a template: one stored
// event of settle's (so that each message has settle's size and shape),
// with its own sequence and the time it was made.
type rawWSEvents struct {
	template invoice.Event
	made     []invoice.Event
}

// next makes the next event, stamped now, and its frame.
func (r *rawWSEvents) next() ([]byte, error) {
	e := r.template
	e.Sequence = int64(len(r.made) + 1)
	e.CreatedAt = time.Now()
	m, err := events.NewMessage(e)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	r.made = append(r.made, e)
	return m.Frame, nil
}

// all is the events made so far (nil for a run of settle).
func (r *rawWSEvents) all() []invoice.Event {
	if r == nil {
		return nil
	}
	return r.made
}

// rawWSTemplate creates one invoice through settle's service and returns
// its stored event.
func rawWSTemplate(ctx context.Context, svc *invoice.Service, merchantID string) (invoice.Event, error) {
	inv, err := svc.Create(ctx, invoice.CreateParams{MerchantID: merchantID, Mode: invoice.ModeTest,
		Amount: "1.00", Currency: "USD", PaymentMethods: []string{"sandbox"}, MerchantOrderID: "bench-ws-0"})
	if err != nil {
		return invoice.Event{}, err
	}
	var e invoice.Event
	err = svc.DB().NewSelect().Model(&e).Where("invoice_id = ?", inv.ID).Limit(1).Scan(ctx)
	return e, err
}
