package events_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice/storetest"
)

// tcpPair returns both ends of a loopback TCP connection; small asks for
// small buffers, so that a client that does not read fills them soon.
func tcpPair(t *testing.T, small bool) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	server, client = s.(*net.TCPConn), c.(*net.TCPConn)
	if small {
		server.SetWriteBuffer(4096)
		client.SetReadBuffer(4096)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestSocketNeverBlocks: writes to a client that does not read return at
// once, wait in order, and past the limit fail with ErrSlowReader; once
// the client reads, what it gets is what was written, in order (those
// still waiting at the failure are dropped with the connection).
func TestSocketNeverBlocks(t *testing.T) {
	t.Parallel()
	server, client := tcpPair(t, true)
	const limit = 8
	sock := events.NewSocket(server, limit)
	var sent bytes.Buffer
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB, more than the buffers
	var err error
	for i := 0; err == nil; i++ {
		if i > 1000 {
			t.Fatal("1000 writes of 64 KiB to a client that never reads, and no ErrSlowReader")
		}
		chunk[0] = byte(i)
		done := make(chan struct{})
		go func() {
			defer close(done)
			var n int
			if n, err = sock.Write(chunk); err == nil && n != len(chunk) {
				t.Errorf("wrote %d of %d", n, len(chunk))
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a write blocked")
		}
		if err == nil {
			sent.Write(chunk)
		}
	}
	if !errors.Is(err, events.ErrSlowReader) {
		t.Fatalf("write failed with %v, want ErrSlowReader", err)
	}
	// The background writer may still be writing a batch; closing the
	// socket once it is done ends the stream.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sock.Flushed(ctx)
		sock.Close()
	}()
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(client)
	if len(got) > sent.Len() || !bytes.Equal(got, sent.Bytes()[:len(got)]) {
		t.Fatalf("client read %d bytes that are not a prefix of the %d written", len(got), sent.Len())
	}
	if len(got) == 0 {
		t.Error("client read nothing")
	}
}

// TestSocketFlushed: Flushed returns once what waited is sent.
func TestSocketFlushed(t *testing.T) {
	t.Parallel()
	server, client := tcpPair(t, false)
	sock := events.NewSocket(server, 1000)
	chunk := bytes.Repeat([]byte{'x'}, 1<<20) // more than the buffers take: some waits
	for range 16 {
		if _, err := sock.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	read := make(chan int, 1)
	go func() {
		n, _ := io.ReadFull(client, make([]byte, 16*len(chunk)))
		read <- n
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sock.Flushed(ctx); err != nil {
		t.Fatal(err)
	}
	if n := <-read; n != 16*len(chunk) {
		t.Errorf("client read %d bytes, want %d", n, 16*len(chunk))
	}
}

// TestSocketNoFrameAfterClose: once framed, a close frame written by the
// WebSocket library stops the hub's frames.
func TestSocketNoFrameAfterClose(t *testing.T) {
	t.Parallel()
	server, client := tcpPair(t, false)
	sock := events.NewSocket(server, 10)
	sock.Framed()
	if err := sock.WriteFrame([]byte{0x81, 2, '{', '}'}); err != nil {
		t.Fatal(err)
	}
	if _, err := sock.Write([]byte{0x88, 2, 0x03, 0xE8}); err != nil {
		t.Fatal(err)
	}
	if err := sock.WriteFrame([]byte{0x81, 2, '{', '}'}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("frame after close: %v, want net.ErrClosed", err)
	}
	got := make([]byte, 8)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x81, 2, '{', '}', 0x88, 2, 0x03, 0xE8}; !bytes.Equal(got, want) {
		t.Errorf("client read % x, want % x", got, want)
	}
}

// TestHubLive: a subscription goes live only with an empty queue; then it
// gets each later event's frame, written by the hub, in order, and none of
// another merchant's; the frame carries the message.
func TestHubLive(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newHubEnv(t, db, events.HubConfig{Page: 2})
		s := e.subscribe(t, e.a, "10.0.0.1")
		time.Sleep(50 * time.Millisecond)
		before := e.write(t, e.a, 1)
		select {
		case <-s.Ready():
		case <-time.After(5 * time.Second):
			t.Fatal("nothing queued")
		}
		frames := make(chan []byte, 100)
		write := func(f []byte) error { frames <- bytes.Clone(f); return nil }
		if s.Live(0, write) {
			t.Fatal("Live with an event in the queue")
		}
		queued := s.Take(nil)
		if len(queued) != 1 || !contains(queued[0].Data, before[0].ID) {
			t.Fatalf("queued %d messages, want the event written before Live", len(queued))
		}
		if !s.Live(queued[0].Sequence, write) {
			t.Fatal("Live with an empty queue refused")
		}
		want := e.write(t, e.a, 5)
		e.write(t, e.b, 2) // another merchant's
		for i, ev := range want {
			select {
			case f := <-frames:
				if f[0] != 0x81 || f[1] != 126 && int(f[1]) != len(f)-2 || f[1] == 126 && int(f[2])<<8|int(f[3]) != len(f)-4 {
					t.Fatalf("frame %d header % x for %d bytes", i, f[:4], len(f))
				}
				if !contains(f, `{"type":"event","event":{"id":"`+ev.ID+`"`) {
					t.Fatalf("frame %d: %s, want event %s", i, f, ev.ID)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("got %d of %d frames", i, len(want))
			}
		}
		e.write(t, e.a, 1) // a marker: nothing of merchant b came before it
		select {
		case f := <-frames:
			if contains(f, `"merchant`) || !contains(f, `"id":"evt_`) {
				t.Errorf("unexpected frame %s", f)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the marker did not come")
		}
		if len(frames) > 0 {
			t.Errorf("%d frames more than written", len(frames))
		}
		select {
		case <-s.Ready():
			t.Error("a live subscription queued events")
		default:
		}
	})
}

// TestHubLiveWriteError: an error from a live subscription's write ends it
// and frees its place.
func TestHubLiveWriteError(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newHubEnv(t, db, events.HubConfig{})
		s := e.subscribe(t, e.a, "10.0.0.1")
		if !s.Live(0, func([]byte) error { return events.ErrSlowReader }) {
			t.Fatal("Live refused")
		}
		e.write(t, e.a, 1)
		select {
		case <-s.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatal("not ended")
		}
		if !errors.Is(s.Err(), events.ErrSlowReader) {
			t.Errorf("ended with %v", s.Err())
		}
		if n := e.hub.Connections(); n != 0 {
			t.Errorf("hub holds %d subscriptions", n)
		}
	})
}
