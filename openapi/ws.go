package openapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

// wsPath is the merchant WebSocket. It is served by the mux directly (an
// upgrade is no huma operation) and described on create-ws-token.
const wsPath = "/api/v1/ws"

// wsTokensPath creates ws_tokens; keys of scope read may use it too, since
// the token only reads.
const wsTokensPath = "/api/v1/ws-tokens"

// wsReplayPage is how many stored events one replay query reads.
const wsReplayPage = 100

// wsDescription documents GET /api/v1/ws, which the spec cannot list as an
// operation of its own.
const wsDescription = "Returns a single-use token for the merchant WebSocket, for browsers, which cannot send an Authorization header with a WebSocket; it is valid for 5 minutes, for one connection, in the key's mode.\n\n" +
	"**The merchant WebSocket** is `GET /api/v1/ws` (upgrade to WebSocket), authenticated with `Authorization: Bearer sk_…` or with `?ws_token=wst_…` from this operation (used up when the connection is accepted; an unknown, expired or used token, or one minted by a key since revoked, is refused with 401 `invalid_ws_token`). " +
	"With `?after=<event id>` it first replays every later event of the key's merchant and mode from the store, then streams new ones live, in sequence order, with no gap and no duplicate between the two; without `after` it streams events from the moment of connection. An `after` that names no event of the merchant and mode is refused before the upgrade with 422 `invalid_cursor`.\n\n" +
	"Messages from the server are text frames `{\"type\":\"event\",\"event\":{…}}` (the event as in list-events; see the EventMessage schema); a client may send `{\"type\":\"ping\"}` and gets `{\"type\":\"pong\"}`. The server sends a WebSocket ping frame every 30 seconds and closes a connection from which nothing (not even a pong) has come for 60 seconds.\n\n" +
	"Limits: 10 connections per client IP address and 100 per merchant on each server, each counted per mode (test connections never take the places of live ones). A connection over a limit is accepted and at once closed with status 1008 (policy violation) and the reason `too many connections from this IP address in test mode (limit 10)` or `too many connections for this merchant in live mode (limit 100)`. " +
	"Revoking an API key closes, within 250 ms, every connection opened with it or with a ws_token it minted (1008, reason `api key revoked`), and its unused ws_tokens are refused from then on. " +
	"A client that falls 256 events behind is closed (1008, reason starting `slow reader`), and one open while the server shuts down is closed with 1001; either may reconnect with `after` = the last event id it received and lose nothing."

// WSToken is a short-lived credential for the merchant WebSocket.
type WSToken struct {
	Object    string    `json:"object" enum:"ws_token"`
	WSToken   string    `json:"ws_token" example:"wst_6HVQJ3ZB2K4M7N5P8R9T0W1XYZ" doc:"Pass as ?ws_token= to GET /api/v1/ws; good for one connection."`
	ExpiresAt time.Time `json:"expires_at" doc:"The token is refused from this time on (5 minutes after creation)."`
}

type createWSTokenInput struct {
	IdempotencyHeader
}

// wsPong answers a client's {"type":"ping"}.
var wsPong = []byte(`{"type":"pong"}`)

// registerWS adds the merchant WebSocket and its tokens.
func (s *server) registerWS(api huma.API, mux *http.ServeMux) {
	huma.Register(api, huma.Operation{
		OperationID: "create-ws-token", Method: http.MethodPost, Path: wsTokensPath,
		Summary: "Create a WebSocket token", Tags: []string{"Events"}, DefaultStatus: http.StatusCreated,
		Description: wsDescription, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Metadata: terminalScope,
	}, s.createWSToken)
	api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[events.EventMessage](), true, "WebSocketEventMessage")
	mux.HandleFunc("GET "+wsPath, s.serveWS)
	mux.HandleFunc("GET "+terminalWSPrefix+"{terminal_id}", s.serveTerminalWS)
}

func (s *server) createWSToken(ctx context.Context, _ *createWSTokenInput) (*struct{ Body WSToken }, error) {
	p := principal(ctx)
	// In the idempotency layer's transaction when there is one (SQLite has
	// a single connection: another would wait for it forever).
	token, expires, err := events.CreateWSToken(ctx, s.invoices.IDB(ctx), p, s.invoices.Now())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body WSToken }{WSToken{Object: "ws_token", WSToken: token, ExpiresAt: expires}}, nil
}

func invalidWSToken() *Problem {
	return problem(http.StatusUnauthorized, "invalid_ws_token", "The ws_token is unknown, expired, already used or minted by a revoked key; create a new one with POST /api/v1/ws-tokens.")
}

// serveWS is GET /api/v1/ws. Everything that can be refused with a problem
// is checked before the upgrade; the ws_token (which authenticate lets
// through without a bearer key) is looked up first and used up last, just
// before the upgrade, so a refused request does not waste it.
//
// The credential is checked again once the subscription is registered (the
// token is used up then, and a bearer key is resolved again): a key revoked
// before that check is refused here, and one revoked after it finds the
// subscription registered when the hub looks for its connections
// (Hub.WatchKeys), so no connection outlives its key.
func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.hub == nil {
		writeProblem(w, r, problem(http.StatusServiceUnavailable, "unavailable", "The merchant WebSocket is not enabled on this server."))
		return
	}
	p, token, ok := s.wsPrincipal(w, r, "websocket")
	if !ok {
		return
	}
	if p.Scope.Bound() { // a terminal's key, or a ws_token it minted: its own socket only
		writeProblem(w, r, boundScopeRefused(p.Scope))
		return
	}
	after, replay, ok := s.resumeFrom(w, r, "websocket", func(id string) (int64, error) { return s.cursor(ctx, p, id) })
	if !ok {
		return
	}
	sub, refused, ok := s.subscribe(w, r, p, token, bearerSecret(r), "websocket")
	if !ok {
		return
	}
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()

	// The server's read and write timeouts were set on the connection for
	// ordinary requests; a hijacked WebSocket keeps them unless cleared.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	c := &wsConn{s: s, p: p, sub: sub, cfg: s.hub.Config()}
	c.seen.Store(time.Now().UnixNano())
	hw := &socketHijacker{ResponseWriter: w, limit: c.cfg.SendBuffer}
	conn, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		// Authentication is by key or token, never by cookie, so another
		// site's page cannot borrow a session: any origin may connect.
		InsecureSkipVerify: true,
		OnPongReceived:     func(context.Context, []byte) { c.seen.Store(time.Now().UnixNano()) },
	})
	if err != nil {
		return // Accept has answered
	}
	if refused != nil {
		conn.Close(websocket.StatusPolicyViolation, refused.Error())
		return
	}
	c.conn, c.sock = conn, hw.sock
	if c.run(replay, after) {
		sub = nil // the connection lives on, and closes its subscription at the end
	}
}

// socketHijacker hands coder/websocket the connection as an
// events.Socket, so that no write to it blocks: the hub writes to
// thousands of them in turn (see events.Hub).
type socketHijacker struct {
	http.ResponseWriter
	limit int
	sock  *events.Socket
}

func (h *socketHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil { // the 101 answer, if still buffered
		conn.Close()
		return nil, nil, err
	}
	h.sock = events.NewSocket(conn, h.limit)
	brw.Writer.Reset(h.sock)
	return h.sock, brw, nil
}

func (h *socketHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// wsConn is one accepted merchant WebSocket. The handler's goroutine
// writes the replay and the events published meanwhile, then hands the
// subscription to the hub, which writes the live events itself (a
// non-blocking write on the socket from its fan-out goroutines), and
// returns; one more goroutine reads; a timer pings now and then; the end
// (the client leaving, or the hub ending the subscription) runs as a
// context.AfterFunc. A goroutine runs for a while only when the client's
// socket buffer is full (see events.Socket).
type wsConn struct {
	s      *server
	p      invoice.Principal
	sub    *events.Subscription
	cfg    events.HubConfig
	conn   *websocket.Conn
	sock   *events.Socket
	seen   atomic.Int64 // unix nanoseconds of the last frame from the client
	pingMu sync.Mutex   // guards pinger, which the timer's own function resets
	pinger *time.Timer
	// writing counts the writes under way; when the hub ends the
	// subscription during one, the connection is closed to unblock it.
	writing atomic.Int32
}

func (c *wsConn) run(replay bool, after int64) (detached bool) {
	c.conn.SetReadLimit(1024)
	readCtx, stopReading := context.WithCancel(context.Background())
	// over ends when the client leaves or the hub ends the subscription:
	// the loop below waits on two channels, not three.
	over, stopOver := context.WithCancel(c.sub.Context())
	go c.read(readCtx, func() { stopReading(); stopOver() })
	c.pingMu.Lock()
	c.pinger = time.AfterFunc(c.cfg.PingInterval, func() { c.ping(readCtx) })
	c.pingMu.Unlock()
	// Writes carry no context of their own (coder/websocket would arm and
	// disarm a context.AfterFunc on every one): a write blocked on a client
	// that stopped reading is abandoned by closing the connection, here,
	// when the hub ends the subscription (a slow reader, or the hub
	// stopping). Between writes, the loop below sees the end and closes
	// with the reason instead.
	stopUnblocking := context.AfterFunc(c.sub.Context(), func() {
		if c.writing.Load() > 0 {
			c.conn.CloseNow()
		}
	})
	cleanup := func() {
		stopUnblocking()
		c.pingMu.Lock()
		c.pinger.Stop()
		c.pingMu.Unlock()
		stopOver()
		stopReading()
		c.conn.CloseNow()
	}
	defer func() {
		if !detached {
			cleanup()
		}
	}()

	last := after
	if replay {
		var err error
		if last, err = c.replay(over, after); err != nil {
			c.end(err)
			return false
		}
	}
	// Send what was published during the replay, until nothing waits:
	// the hub then writes the rest.
	var batch []events.Message
	for !c.live(last) {
		select {
		case <-over.Done():
			c.ended(readCtx)
			return false
		case <-c.sub.Ready():
			batch = c.sub.Take(batch)
			for _, m := range batch {
				if m.Sequence <= last {
					continue // the replay sent it already
				}
				if err := c.write(m.Data); err != nil {
					if cause := c.sub.Err(); cause != nil || !errors.Is(err, events.ErrSlowReader) {
						err = cause
					}
					c.end(err)
					return false
				}
				last = m.Sequence
			}
		}
	}
	// Live: the hub writes the events, the reader reads, the timer pings.
	// Nothing is left for this goroutine but waiting for the end, which
	// costs a goroutine's stack (the handler's, the deepest) per
	// connection; the end is handled when it comes instead, and the
	// handler returns (the connection is hijacked: the server is done
	// with it).
	context.AfterFunc(over, func() {
		c.ended(readCtx)
		cleanup()
		c.sub.Close()
	})
	return true
}

// ended closes the connection with the reason the hub ended the
// subscription, unless the client left or the connection broke.
func (c *wsConn) ended(readCtx context.Context) {
	if readCtx.Err() == nil {
		c.end(c.sub.Err())
	}
}

// live hands the subscription to the hub unless events wait in its queue.
// The hub then writes each event's frame, the same bytes for every
// connection, straight to the socket: from here on this connection writes
// only pongs, pings and the close, each flushed whole.
func (c *wsConn) live(last int64) bool {
	if !c.sub.Live(last, c.sock.WriteFrame) {
		return false
	}
	c.sock.Framed()
	return true
}

// replay sends the stored events after the cursor and returns the
// sequence of the last one sent. ctx ends when the client leaves or the
// hub ends the subscription.
func (c *wsConn) replay(ctx context.Context, after int64) (int64, error) {
	last := after
	for {
		list, more, err := events.List(ctx, c.s.invoices.DB(), events.ListParams{
			MerchantID: c.p.MerchantID, Mode: c.p.Mode, After: last, Limit: wsReplayPage})
		if err != nil {
			if ctx.Err() != nil {
				return last, nil // the client left, or the hub ended the subscription; run sees which
			}
			c.s.log.Warn("websocket replay", "err", err, "merchant_id", c.p.MerchantID)
			return last, errWSReplay
		}
		for _, e := range list {
			m, err := events.NewMessage(e)
			if err != nil {
				c.s.log.Error("websocket replay", "err", err, "event_id", e.ID)
				return last, errWSReplay
			}
			if err := c.write(m.Data); err != nil {
				return last, c.sub.Err()
			}
			last = e.Sequence
			// At the client's pace: the socket never blocks, so wait
			// here for what it could not send at once.
			if err := c.sock.Flushed(ctx); err != nil {
				return last, c.sub.Err()
			}
		}
		if !more {
			return last, nil
		}
	}
}

// write sends one text message, unless the subscription has ended; see
// run for how a blocked write is abandoned.
func (c *wsConn) write(p []byte) error {
	c.writing.Add(1)
	defer c.writing.Add(-1)
	select {
	case <-c.sub.Context().Done():
		return c.sub.Err()
	default:
	}
	return c.conn.Write(context.Background(), websocket.MessageText, p)
}

var errWSReplay = errors.New("cannot read the stored events now; reconnect with after")

// read takes the client's messages: {"type":"ping"} is answered, anything
// else is ignored. Every frame, pongs included, counts as a sign of life.
func (c *wsConn) read(ctx context.Context, done context.CancelFunc) {
	defer done()
	for {
		typ, data, err := c.conn.Read(ctx)
		if err != nil {
			return
		}
		c.seen.Store(time.Now().UnixNano())
		var msg struct {
			Type string `json:"type"`
		}
		if typ == websocket.MessageText && json.Unmarshal(data, &msg) == nil && msg.Type == "ping" {
			if err := c.write(wsPong); err != nil {
				return
			}
		}
	}
}

// ping runs on the timer: it closes a connection idle for IdleTimeout, and
// otherwise sends a ping frame and waits for its pong (which the reader
// records) at most until the connection would be idle.
func (c *wsConn) ping(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	idle := time.Since(time.Unix(0, c.seen.Load()))
	if idle >= c.cfg.IdleTimeout {
		c.conn.Close(websocket.StatusPolicyViolation, "idle: nothing received for "+c.cfg.IdleTimeout.String())
		return
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, c.cfg.IdleTimeout-idle)
	c.conn.Ping(pctx)
	cancel()
	if ctx.Err() == nil {
		c.pingMu.Lock()
		defer c.pingMu.Unlock()
		c.pinger.Reset(max(c.cfg.PingInterval-time.Since(start), time.Millisecond))
	}
}

// end closes the connection with the reason the stream ended; nil means
// the connection is already broken.
func (c *wsConn) end(err error) {
	switch {
	case err == nil:
	case errors.Is(err, events.ErrHubStopped):
		c.conn.Close(websocket.StatusGoingAway, err.Error())
	case errors.Is(err, events.ErrSlowReader), errors.Is(err, events.ErrKeyRevoked):
		c.conn.Close(websocket.StatusPolicyViolation, err.Error())
	default:
		c.conn.Close(websocket.StatusInternalError, err.Error())
	}
}

// clientIP is the address the connection comes from. Behind a reverse
// proxy every client shares the proxy's address; the per-IP limit then
// counts the proxy.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// headerHasToken reports whether a comma-separated header lists token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// subscribe checks that r asks for a WebSocket and subscribes p to the
// hub, counted against the connection limits. A subscription refused by a
// limit comes back as refused (the socket is then accepted only to be
// closed with the reason); any other failure is answered here, ok false.
// Once subscribed, the credential the connection came with, its ws_token
// or its key, is checked again (using the token up), so that a revocation
// between the first check and the subscription is not missed: the key
// cache is emptied before the hub is told of a revocation. The caller
// closes a non-nil sub.
func (s *server) subscribe(w http.ResponseWriter, r *http.Request, p invoice.Principal, token, key, what string) (sub *events.Subscription, refused error, ok bool) {
	ctx := r.Context()
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		writeProblem(w, r, problem(http.StatusUpgradeRequired, "upgrade_required", "This is a WebSocket endpoint: connect with a WebSocket client."))
		return nil, nil, false
	}
	sub, refused = s.hub.Subscribe(ctx, events.Subscriber{MerchantID: p.MerchantID, Mode: p.Mode, KeyPrefix: p.KeyPrefix, IP: clientIP(r)})
	if refused != nil && !errors.Is(refused, events.ErrTooManyForIP) && !errors.Is(refused, events.ErrTooManyForMerchant) {
		s.unavailable(w, r, what, refused)
		return nil, nil, false
	}
	if refused != nil {
		return sub, refused, true
	}
	var err error
	if token != "" {
		_, err = events.ConsumeWSToken(ctx, s.invoices.DB(), token, s.invoices.Now())
	} else {
		_, err = s.invoices.Authenticate(ctx, key)
	}
	if err == nil {
		return sub, nil, true
	}
	if sub != nil {
		sub.Close()
	}
	switch {
	case errors.Is(err, events.ErrInvalidWSToken):
		writeProblem(w, r, invalidWSToken()) // used by another connection, or its key revoked
	case errors.Is(err, invoice.ErrUnauthenticated):
		writeProblem(w, r, invalidAPIKey(w))
	default:
		s.unavailable(w, r, what, err)
	}
	return nil, nil, false
}

// wsPrincipal is who a WebSocket request acts for: the key's principal
// (authenticate checked it), or, for a browser's request with no key, its
// ws_token's (looked up, not used up: token is returned for subscribe to
// use once the subscription is registered). A bad token is answered here,
// ok false.
func (s *server) wsPrincipal(w http.ResponseWriter, r *http.Request, what string) (p invoice.Principal, token string, ok bool) {
	ctx := r.Context()
	if p = principal(ctx); p.MerchantID != "" {
		return p, "", true
	}
	token = r.URL.Query().Get("ws_token")
	p, err := events.LookupWSToken(ctx, s.invoices.DB(), token, s.invoices.Now())
	switch {
	case errors.Is(err, events.ErrInvalidWSToken):
		writeProblem(w, r, invalidWSToken())
		return p, "", false
	case err != nil:
		s.unavailable(w, r, what, err)
		return p, "", false
	}
	if rt, ok := ctx.Value(keyRoute).(*route); ok {
		rt.merchantID = p.MerchantID
	}
	return p, token, true
}

// resumeFrom reads a WebSocket request's ?after=<event id>: whether to
// replay, and the sequence to replay after, which cursor finds (an event
// of the merchant's, or of a terminal's invoices). A bad cursor is
// answered here, ok false.
func (s *server) resumeFrom(w http.ResponseWriter, r *http.Request, what string, cursor func(id string) (int64, error)) (after int64, replay, ok bool) {
	if !r.URL.Query().Has("after") {
		return 0, false, true
	}
	id := r.URL.Query().Get("after")
	if len(id) > 64 {
		id = id[:64]
	}
	if id == "" { // asked to resume, but from nothing
		writeProblem(w, r, badCursor(id))
		return 0, false, false
	}
	after, err := cursor(id)
	if err != nil {
		var pr *Problem
		if errors.As(err, &pr) {
			writeProblem(w, r, pr)
		} else {
			s.unavailable(w, r, what, err)
		}
		return 0, false, false
	}
	return after, true, true
}
