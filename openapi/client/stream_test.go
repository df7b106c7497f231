package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/openapi/client"
)

// cutProxy forwards TCP connections to a target until cut closes every
// connection open at that moment; it keeps accepting new ones.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestStreamDropsDuplicates: a server that sends an event again after a
// reconnection (at-least-once) is seen once, and each reconnection asks
// for the events after the last one yielded.
func TestStreamDropsDuplicates(t *testing.T) {
	t.Parallel()
	// What each connection sends before the server drops it.
	script := [][]string{{"evt_1", "evt_2"}, {"evt_2", "evt_3", "evt_1"}, {"evt_4"}}
	var mu sync.Mutex
	var afters, auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(afters)
		afters = append(afters, r.URL.Query().Get("after"))
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path != "/api/v1/ws" || n >= len(script) {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for i, id := range script[n] {
			msg, _ := json.Marshal(map[string]any{"type": "event", "event": client.Event{ID: id, Object: "event", Type: "invoice.created", Sequence: int64(i + 1), Data: json.RawMessage(`{}`)}})
			conn.Write(r.Context(), websocket.MessageText, []byte(`{"type":"pong"}`))
			if conn.Write(r.Context(), websocket.MessageText, msg) != nil {
				return
			}
		}
		conn.Close(websocket.StatusGoingAway, "shutting down")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	var waits []time.Duration
	cfg := client.StreamConfig{ReconnectInitial: time.Millisecond, ReconnectMax: 5 * time.Millisecond,
		OnDisconnect: func(_ error, wait time.Duration) { waits = append(waits, wait) }}
	for ev, err := range client.New(srv.URL, "sk_test_k").StreamWith(ctx, "evt_0", cfg) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.ID)
		if len(got) == 4 {
			break
		}
	}
	if want := []string{"evt_1", "evt_2", "evt_3", "evt_4"}; !slices.Equal(got, want) {
		t.Errorf("yielded %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"evt_0", "evt_2", "evt_3"}; !slices.Equal(afters[:3], want) {
		t.Errorf("connected with after=%v, want %v", afters, want)
	}
	if auths[0] != "Bearer sk_test_k" {
		t.Errorf("Authorization %q", auths[0])
	}
	if len(waits) < 2 {
		t.Errorf("%d reconnections reported, want 2", len(waits))
	}
}

// TestStreamKeepalive: Stream pings with {"type":"ping"}; a server that
// answers keeps the connection, one that stays silent past IdleTimeout is
// left for a new connection.
func TestStreamKeepalive(t *testing.T) {
	t.Parallel()
	for _, answer := range []bool{true, false} {
		var mu sync.Mutex
		conns, pings := 0, 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer conn.CloseNow()
			mu.Lock()
			conns++
			mu.Unlock()
			for {
				_, data, err := conn.Read(r.Context())
				if err != nil {
					return
				}
				if string(data) == `{"type":"ping"}` {
					mu.Lock()
					pings++
					mu.Unlock()
					if answer && conn.Write(r.Context(), websocket.MessageText, []byte(`{"type":"pong"}`)) != nil {
						return
					}
				}
			}
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
		cfg := client.StreamConfig{PingInterval: 20 * time.Millisecond, IdleTimeout: 150 * time.Millisecond, ReconnectInitial: time.Millisecond}
		for _, err := range client.New(srv.URL, "k").StreamWith(ctx, "", cfg) {
			if err != context.DeadlineExceeded {
				t.Errorf("stream ended with %v", err)
			}
		}
		cancel()
		srv.Close()
		mu.Lock()
		if pings < 5 || (answer && conns != 1) || (!answer && conns < 2) {
			t.Errorf("answering pongs %v: %d connections, %d pings", answer, conns, pings)
		}
		mu.Unlock()
	}
}
