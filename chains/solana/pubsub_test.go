package solana_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// pubsub is a Solana PubSub (WebSocket JSON-RPC) node on loopback that
// speaks logsSubscribe with a mentions filter and logsUnsubscribe, in the
// shapes a validator's RPC uses. It shares the cluster's order, so a test
// can tell whether a scan followed a notification. It can drop every
// connection and refuse new ones.
type pubsub struct {
	t       *testing.T
	cluster *cluster
	srv     *httptest.Server

	mu       sync.Mutex
	nextID   uint64
	conns    map[*websocket.Conn]bool
	subs     map[uint64]logsSub // live subscriptions by id
	refuse   bool               // answer upgrades with HTTP 503
	accepted int                // connections accepted
	unsubs   int                // logsUnsubscribe calls answered
}

// logsSub is one live logsSubscribe.
type logsSub struct {
	conn    *websocket.Conn
	account string
	at      int64 // when it was made, in the cluster's order
}

func newPubSub(t *testing.T, cl *cluster) *pubsub {
	p := &pubsub{t: t, cluster: cl, nextID: 40_000, conns: map[*websocket.Conn]bool{}, subs: map[uint64]logsSub{}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(func() {
		p.drop()
		p.srv.Close()
	})
	return p
}

// URL is the ws:// address of the node.
func (p *pubsub) URL() string { return "ws" + strings.TrimPrefix(p.srv.URL, "http") }

func (p *pubsub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	refuse := p.refuse
	p.mu.Unlock()
	if refuse {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		p.t.Errorf("pubsub: accept: %v", err)
		return
	}
	p.mu.Lock()
	p.conns[conn] = true
	p.accepted++
	p.mu.Unlock()
	defer p.forget(conn)
	ctx := context.Background() // the connection ends with forget
	for {
		typ, msg, err := conn.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			p.t.Errorf("pubsub: %v message", typ)
			continue
		}
		if err := conn.Write(ctx, websocket.MessageText, p.answer(conn, msg)); err != nil {
			return
		}
	}
}

// answer handles one JSON-RPC request on conn.
func (p *pubsub) answer(conn *websocket.Conn, msg []byte) []byte {
	var req struct {
		JSONRPC string            `json:"jsonrpc"`
		ID      json.RawMessage   `json:"id"`
		Method  string            `json:"method"`
		Params  []json.RawMessage `json:"params"`
	}
	reply := func(result any, fail string) []byte {
		out := map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result}
		if fail != "" {
			p.t.Errorf("pubsub: %s: %s", fail, msg)
			delete(out, "result")
			out["error"] = map[string]any{"code": -32602, "message": "Invalid params: " + fail}
		}
		raw, _ := json.Marshal(out)
		return raw
	}
	if err := json.Unmarshal(msg, &req); err != nil || req.JSONRPC != "2.0" || len(req.ID) == 0 {
		return reply(nil, "not a JSON-RPC 2.0 request")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch req.Method {
	case "logsSubscribe":
		var filter struct {
			Mentions []string `json:"mentions"`
		}
		var config map[string]any
		if len(req.Params) != 2 || json.Unmarshal(req.Params[0], &filter) != nil || len(filter.Mentions) != 1 ||
			json.Unmarshal(req.Params[1], &config) != nil {
			return reply(nil, "want [{mentions: [account]}, {commitment}]")
		}
		if !reflect.DeepEqual(config, map[string]any{"commitment": "confirmed"}) {
			return reply(nil, "want commitment confirmed")
		}
		p.nextID++
		p.subs[p.nextID] = logsSub{conn: conn, account: filter.Mentions[0], at: p.cluster.next()}
		return reply(p.nextID, "")
	case "logsUnsubscribe":
		var id uint64
		if len(req.Params) != 1 || json.Unmarshal(req.Params[0], &id) != nil {
			return reply(nil, "want [subscription id]")
		}
		s, ok := p.subs[id]
		if !ok || s.conn != conn {
			return reply(nil, "no such subscription")
		}
		delete(p.subs, id)
		p.unsubs++
		return reply(true, "")
	default:
		return reply(nil, "unexpected method "+req.Method)
	}
}

// forget ends conn and its subscriptions.
func (p *pubsub) forget(conn *websocket.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, conn)
	for id, s := range p.subs {
		if s.conn == conn {
			delete(p.subs, id)
		}
	}
	conn.CloseNow()
}

// drop cuts every connection without a close handshake, as a node
// restarting or a load balancer does.
func (p *pubsub) drop() {
	p.mu.Lock()
	conns := make([]*websocket.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		p.forget(c)
	}
}

// setRefuse has the node refuse (or accept again) new connections.
func (p *pubsub) setRefuse(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
}

// notify sends a logsNotification for a transaction mentioning account to
// each of its subscriptions, and returns when, in the cluster's order (before
// sending), and to how many.
func (p *pubsub) notify(account string, e *entry) (at int64, n int) {
	return p.send(account, map[string]any{
		"context": map[string]any{"slot": e.slot},
		"value": map[string]any{"signature": e.sig, "err": nil, "logs": []string{
			"Program " + tokenProgram + " invoke [1]",
			"Program log: Instruction: TransferChecked",
			"Program " + tokenProgram + " consumed 6200 of 200000 compute units",
			"Program " + tokenProgram + " success",
		}},
	})
}

// send sends a logsNotification with result to each of account's
// subscriptions.
func (p *pubsub) send(account string, result any) (at int64, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at = p.cluster.next()
	for id, s := range p.subs {
		if s.account != account {
			continue
		}
		raw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "logsNotification", "params": map[string]any{
			"result": result, "subscription": id,
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.conn.Write(ctx, websocket.MessageText, raw); err == nil {
			n++
		}
		cancel()
	}
	return at, n
}

// awaitLive waits until account has a live subscription made after the
// point from in the cluster's order, and returns when it was made.
func (p *pubsub) awaitLive(account string, from int64) int64 {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.mu.Lock()
		at := int64(0)
		for _, s := range p.subs {
			if s.account == account && s.at > from {
				at = s.at
			}
		}
		p.mu.Unlock()
		if at != 0 {
			return at
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("pubsub: no logsSubscribe for %s", account)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// connections returns how many connections the node accepted.
func (p *pubsub) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// unsubscribed returns how many logsUnsubscribe calls the node answered.
func (p *pubsub) unsubscribed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unsubs
}
