package openapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/payor"
)

// terminalWSPrefix starts GET /api/v1/ws/terminal/{terminal_id}, served by
// the mux (an upgrade is no huma operation) and described on
// create-terminal.
const terminalWSPrefix = "/api/v1/ws/terminal/"

// terminalWSDescription documents the terminal WebSocket, which the spec
// cannot list as an operation of its own.
const terminalWSDescription = "\n\n**The terminal WebSocket** is `GET /api/v1/ws/terminal/{terminal_id}` (upgrade to WebSocket), authenticated with the terminal's key in an `api-key` header or as `Authorization: Bearer sk_…`, or, for browsers, with `?ws_token=` minted by that key (POST /api/v1/ws-tokens). Another terminal's key is refused with 404 `not_found`, a key of another scope with 403 `insufficient_scope`. " +
	"Limits, ping frames (every 30 s; closed after 60 s without a frame from the client), revocation (deleting the terminal closes its sockets with 1008 `api key revoked`) and `?after=<event id>` replay are those of the merchant WebSocket; the cursor must name an event of this terminal's invoices.\n\n" +
	"**Commands** are JSON text frames, each signed with the command secret: `sig = hex(HMAC-SHA256(command_secret, \"<ts>.<nonce>.\" + JCS(command without sig)))` where `ts` is the Unix time in seconds (an integer member of the command, within 5 minutes of the server's clock), `nonce` a member of 16 to 64 characters of `[A-Za-z0-9_-]` never used before by the terminal (nonces are kept, across instances, for 10 minutes), and JCS the RFC 8785 canonical JSON (members sorted, no whitespace; in a browser JSON.stringify of the object with sorted keys). Numbers must be integers; amounts are strings. " +
	"`{\"type\":\"create_session\",\"command_id\":\"c1\",\"ts\":…,\"nonce\":\"…\",\"amount\":\"12.50\",\"currency\":\"USD\",\"methods\":[\"usdc_base\"],\"reference\":\"sale-1042\",\"allow_tip\":false,\"sig\":\"…\"}` creates an invoice of the terminal (methods optional; a reference the terminal used before returns that invoice again, `created: false`) and is answered `{\"type\":\"session\",\"command_id\":\"c1\",\"created\":true,\"invoice\":{…},\"payment_url\":\"…\",\"qr_png\":\"data:image/png;base64,…\",\"payment_instructions\":[…]}`; " +
	"`{\"type\":\"cancel_session\",\"invoice_id\":\"inv_…\",…}` cancels one of its open invoices (answered with the same `session` message); `{\"type\":\"ping\",…}` is answered `{\"type\":\"pong\",\"command_id\":…}`. " +
	"A refused command is answered `{\"type\":\"error\",\"code\":\"…\",\"message\":\"…\",\"command_id\":…}`, with code `invalid_command`, `invalid_signature`, `stale_command`, `replayed_command`, `unknown_command`, or the code the REST API gives the same mistake (`invalid_amount`, `not_found`, `invoice_not_cancellable`, …); the socket stays open.\n\n" +
	"**Stream**: the events of the terminal's invoices, as `{\"type\":…,\"event_id\":\"evt_…\",\"event_type\":…,\"sequence\":N,\"invoice_id\":\"inv_…\",\"created_at\":…,\"data\":{…}}` (data as in the event), with `type`: `session_created` (invoice.created), `session_scanned` (checkout.scanned), `payment_confirmed` (invoice.updated to paid), `payment_failed` (invoice_payment.updated to reversed), `session_expired` (invoice.updated to expired), `session_cancelled` (invoice.updated to cancelled), and `session_updated` for every other event of the invoice (checkout.opened, processing, a payment seen or confirmed). Reconnect with `after` = the last event_id received to lose nothing."

// Terminal stream message types, by settle event (see terminalType).
const (
	termSessionCreated   = "session_created"
	termSessionScanned   = "session_scanned"
	termPaymentConfirmed = "payment_confirmed"
	termPaymentFailed    = "payment_failed"
	termSessionExpired   = "session_expired"
	termSessionCancelled = "session_cancelled"
	termSessionUpdated   = "session_updated"
)

// terminalType names a settle event on the terminal's stream: status is
// data.object.status (the invoice's, or the payment's for
// invoice_payment.updated).
func terminalType(eventType, status string) string {
	switch eventType {
	case invoice.EventInvoiceCreated:
		return termSessionCreated
	case payor.EventCheckoutScanned:
		return termSessionScanned
	case invoice.EventInvoiceUpdated:
		switch invoice.Status(status) {
		case invoice.StatusPaid:
			return termPaymentConfirmed
		case invoice.StatusExpired:
			return termSessionExpired
		case invoice.StatusCancelled:
			return termSessionCancelled
		}
	case invoice.EventInvoicePaymentUpdated:
		if invoice.PaymentStatus(status) == invoice.PaymentReversed {
			return termPaymentFailed
		}
	}
	return termSessionUpdated
}

// TerminalEventMessage is one event of the terminal's stream.
type TerminalEventMessage struct {
	Type      string          `json:"type" enum:"session_created,session_scanned,payment_confirmed,payment_failed,session_expired,session_cancelled,session_updated"`
	EventID   string          `json:"event_id" doc:"The settle event: resume with after = this id."`
	EventType string          `json:"event_type" example:"invoice.updated"`
	Sequence  int64           `json:"sequence"`
	InvoiceID string          `json:"invoice_id"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data" doc:"The event's data: {\"object\": the invoice or payment, …}."`
}

// TerminalSessionMessage answers create_session and cancel_session.
type TerminalSessionMessage struct {
	Type                string                `json:"type" enum:"session"`
	CommandID           string                `json:"command_id"`
	Created             bool                  `json:"created" doc:"false when the reference named an invoice already, or for cancel_session."`
	Invoice             invoice.InvoiceObject `json:"invoice"`
	PaymentURL          string                `json:"payment_url"`
	QRPNG               string                `json:"qr_png,omitempty" doc:"The payment_url as a QR code, a data: URL of a PNG."`
	PaymentInstructions []invoice.Instruction `json:"payment_instructions"`
}

// terminalError is a refused command.
type terminalError struct {
	Type      string  `json:"type"`
	Code      string  `json:"code"`
	Message   string  `json:"message"`
	CommandID *string `json:"command_id"`
}

// terminalQRSize is the side in pixels of a session's QR code.
const terminalQRSize = 480

// terminalReadLimit bounds one command.
const terminalReadLimit = 16 << 10

// terminalKey is the key a terminal request carries: Authorization:
// Bearer, else the api-key header.
func terminalKey(r *http.Request) string {
	if k := bearerSecret(r); k != "" {
		return k
	}
	return strings.TrimSpace(r.Header.Get("Api-Key"))
}

// serveTerminalWS is GET /api/v1/ws/terminal/{terminal_id}, checked as
// serveTerminalWS serves a terminal's socket: everything that can be
// refused with a problem is refused before the upgrade, and the credential
// is checked again once the subscription is registered.
func (s *server) serveTerminalWS(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.hub == nil {
		writeProblem(w, r, problem(http.StatusServiceUnavailable, "unavailable", "The terminal WebSocket is not enabled on this server."))
		return
	}
	p, token, ok := s.wsPrincipal(w, r, "terminal websocket")
	if !ok {
		return
	}
	if p.Scope != invoice.ScopeTerminal {
		writeProblem(w, r, problem(http.StatusForbidden, "insufficient_scope", "The terminal WebSocket takes the terminal's own key (scope terminal) or a ws_token minted by it."))
		return
	}
	t, err := s.invoices.ActiveTerminal(ctx, p, r.PathValue("terminal_id"))
	switch {
	case errors.Is(err, invoice.ErrNotFound), errors.Is(err, invoice.ErrTerminalDeleted):
		writeProblem(w, r, problem(http.StatusNotFound, "not_found", "No such terminal."))
		return
	case err != nil:
		s.unavailable(w, r, "terminal websocket", err)
		return
	}
	after, replay, ok := s.resumeFrom(w, r, "terminal websocket", func(id string) (int64, error) { return s.terminalCursor(ctx, p, t.ID, id) })
	if !ok {
		return
	}
	sub, refused, ok := s.subscribe(w, r, p, token, terminalKey(r), "terminal websocket")
	if !ok {
		return
	}
	if sub != nil {
		defer sub.Close()
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	c := &terminalConn{s: s, p: p, t: t, sub: sub, cfg: s.hub.Config(), mine: map[string]bool{}}
	c.seen.Store(time.Now().UnixNano())
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // by key or token, never by cookie
		OnPongReceived:     func(context.Context, []byte) { c.seen.Store(time.Now().UnixNano()) },
	})
	if err != nil {
		return
	}
	if refused != nil {
		conn.Close(websocket.StatusPolicyViolation, refused.Error())
		return
	}
	c.conn = conn
	c.run(replay, after)
}

// terminalCursor resolves an `after` event id to its sequence: it must
// name an event of one of the terminal's invoices.
func (s *server) terminalCursor(ctx context.Context, p invoice.Principal, terminalID, id string) (int64, error) {
	e, err := events.Get(ctx, s.invoices.DB(), p.MerchantID, p.Mode, id)
	switch {
	case errors.Is(err, invoice.ErrNotFound):
		return 0, badCursor(id)
	case err != nil:
		return 0, err
	}
	owners, err := s.invoices.InvoiceTerminals(ctx, []string{e.InvoiceID})
	if err != nil {
		return 0, err
	}
	if e.InvoiceID == "" || owners[e.InvoiceID] != terminalID {
		return 0, badCursor(id)
	}
	return e.Sequence, nil
}

// terminalConn is one accepted terminal WebSocket. Unlike the merchant
// socket it never goes live on the hub's shared frames: each event is
// filtered to the terminal's invoices and renamed, on the connection's
// own goroutine (terminals are few; their merchant's other events pass by
// unread).
type terminalConn struct {
	s    *server
	p    invoice.Principal
	t    invoice.Terminal
	sub  *events.Subscription
	cfg  events.HubConfig
	conn *websocket.Conn
	seen atomic.Int64 // unix nanoseconds of the last frame from the client
	mine map[string]bool
}

// terminalWriteTimeout bounds one write to a client that stopped reading.
const terminalWriteTimeout = 10 * time.Second

func (c *terminalConn) run(replay bool, after int64) {
	defer c.conn.CloseNow()
	c.conn.SetReadLimit(terminalReadLimit)
	// Reads get a context of their own: cancelling a read's context makes
	// coder/websocket drop the connection without a close frame, and the
	// hub's reason must be sent first.
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	over, stopOver := context.WithCancel(c.sub.Context())
	defer stopOver()
	go c.read(readCtx, func() { stopReading(); stopOver() })
	go c.keepalive(over)
	last := after
	if replay {
		var err error
		if last, err = c.replay(over, after); err != nil {
			c.end(err)
			return
		}
	}
	var batch []events.Message
	for {
		select {
		case <-over.Done():
			if readCtx.Err() == nil {
				c.end(c.sub.Err())
			}
			return
		case <-c.sub.Ready():
			batch = c.sub.Take(batch)
			if err := c.stream(over, batch, &last); err != nil {
				c.end(err)
				return
			}
		}
	}
}

// stream sends the events of batch that are the terminal's and after
// last, and moves last.
func (c *terminalConn) stream(ctx context.Context, batch []events.Message, last *int64) error {
	var unknown []string
	for _, m := range batch {
		if _, ok := c.mine[m.InvoiceID]; !ok && m.InvoiceID != "" && m.Sequence > *last {
			unknown = append(unknown, m.InvoiceID)
		}
	}
	if len(unknown) > 0 {
		owners, err := c.s.invoices.InvoiceTerminals(ctx, unknown)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.s.log.Warn("terminal websocket", "err", err, "terminal_id", c.t.ID)
			return errWSReplay
		}
		if len(c.mine) > 10000 {
			clear(c.mine) // other terminals' invoices pile up on a busy merchant
		}
		for _, id := range unknown {
			c.mine[id] = owners[id] == c.t.ID
		}
	}
	for _, m := range batch {
		if m.Sequence <= *last || !c.mine[m.InvoiceID] {
			continue
		}
		var em struct {
			Event events.Event `json:"event"`
		}
		if err := json.Unmarshal(m.Data, &em); err != nil {
			return err
		}
		if err := c.send(terminalMessage(em.Event, m.InvoiceID)); err != nil {
			return err
		}
		*last = m.Sequence
	}
	return nil
}

// terminalMessage renames one event of the terminal's invoice invoiceID.
func terminalMessage(e events.Event, invoiceID string) TerminalEventMessage {
	var data struct {
		Object struct {
			Status string `json:"status"`
		} `json:"object"`
	}
	json.Unmarshal(e.Data, &data)
	return TerminalEventMessage{Type: terminalType(e.Type, data.Object.Status), EventID: e.ID, EventType: e.Type,
		Sequence: e.Sequence, InvoiceID: invoiceID, CreatedAt: e.CreatedAt, Data: e.Data}
}

// replay sends the stored events of the terminal's invoices after the
// cursor and returns the sequence of the last one sent.
func (c *terminalConn) replay(ctx context.Context, after int64) (int64, error) {
	last := after
	for {
		list, more, err := events.List(ctx, c.s.invoices.DB(), events.ListParams{
			MerchantID: c.p.MerchantID, Mode: c.p.Mode, TerminalID: c.t.ID, After: last, Limit: wsReplayPage})
		if err != nil {
			if ctx.Err() != nil {
				return last, nil
			}
			c.s.log.Warn("terminal websocket replay", "err", err, "terminal_id", c.t.ID)
			return last, errWSReplay
		}
		for _, e := range list {
			c.mine[e.InvoiceID] = true
			if err := c.send(terminalMessage(events.FromStored(e), e.InvoiceID)); err != nil {
				return last, err
			}
			last = e.Sequence
		}
		if !more {
			return last, nil
		}
	}
}

// send writes one message; a client that takes no message for
// terminalWriteTimeout is dropped (coder/websocket closes on a timed-out
// write).
func (c *terminalConn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), terminalWriteTimeout)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// end closes the connection with the reason the stream ended; nil means
// the client left or the connection broke.
func (c *terminalConn) end(err error) {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
	case errors.Is(err, events.ErrHubStopped):
		c.conn.Close(websocket.StatusGoingAway, err.Error())
	case errors.Is(err, events.ErrSlowReader), errors.Is(err, events.ErrKeyRevoked):
		c.conn.Close(websocket.StatusPolicyViolation, err.Error())
	default:
		c.conn.Close(websocket.StatusInternalError, "internal error; reconnect with after")
	}
}

// keepalive pings every PingInterval and closes a connection idle for
// IdleTimeout, as the merchant socket does.
func (c *terminalConn) keepalive(ctx context.Context) {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle := time.Since(time.Unix(0, c.seen.Load()))
		if idle >= c.cfg.IdleTimeout {
			c.conn.Close(websocket.StatusPolicyViolation, "idle: nothing received for "+c.cfg.IdleTimeout.String())
			return
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.IdleTimeout-idle)
		c.conn.Ping(pctx)
		cancel()
	}
}

// read takes the terminal's commands one at a time and answers each.
func (c *terminalConn) read(ctx context.Context, done context.CancelFunc) {
	defer done()
	for {
		typ, data, err := c.conn.Read(ctx)
		if err != nil {
			return
		}
		c.seen.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			c.fail(data, &invoice.CommandError{Code: "invalid_command", Message: "commands are JSON text frames"})
			continue
		}
		if err := c.command(ctx, data); err != nil {
			return
		}
	}
}

// command verifies and runs one command; it returns an error only when
// the connection failed.
func (c *terminalConn) command(ctx context.Context, raw []byte) error {
	now := c.s.invoices.Now()
	cmd, err := invoice.VerifyCommand(c.t.CommandSecret, raw, now)
	if err != nil {
		return c.fail(raw, err)
	}
	switch err := c.s.invoices.UseNonce(ctx, c.t.ID, cmd.Nonce, now.Add(2*invoice.CommandTolerance)); {
	case errors.Is(err, invoice.ErrReplay):
		return c.fail(raw, &invoice.CommandError{Code: "replayed_command", Message: "nonce " + cmd.Nonce + " was used before by this terminal: a command is run once; sign each with a fresh nonce"})
	case err != nil:
		return c.fail(raw, err)
	}
	switch cmd.Type {
	case "ping":
		return c.send(struct {
			Type      string `json:"type"`
			CommandID string `json:"command_id"`
		}{"pong", cmd.ID})
	case "create_session":
		return c.createSession(ctx, cmd)
	case "cancel_session":
		return c.cancelSession(ctx, cmd)
	}
	return c.fail(raw, &invoice.CommandError{Code: "unknown_command", Message: "type: unknown command " + cmd.Type + "; use create_session, cancel_session or ping"})
}

// CreateSessionCommand is the create_session command (besides the
// envelope: type, command_id, ts, nonce, sig).
type CreateSessionCommand struct {
	Amount      string   `json:"amount"`
	Currency    string   `json:"currency"`
	Methods     []string `json:"methods"`
	Reference   string   `json:"reference"`
	Description string   `json:"description"`
	// AllowTip lets the payor add a tip on the checkout (the invoice's
	// allow_tip, with the default cap).
	AllowTip bool `json:"allow_tip"`
	// ExpiresIn is how long the customer has to pay, in seconds (the
	// invoice's expires_in, 60–604800; 0 means the default, 900).
	ExpiresIn int64 `json:"expires_in"`
}

func (c *terminalConn) createSession(ctx context.Context, cmd invoice.Command) error {
	var in CreateSessionCommand
	if err := json.Unmarshal(cmd.Raw, &in); err != nil {
		return c.fail(cmd.Raw, &invoice.CommandError{Code: "invalid_command", Message: "create_session: " + err.Error()})
	}
	if len(in.Methods) > 32 {
		return c.fail(cmd.Raw, &invoice.CommandError{Code: "invalid_payment_method", Message: "methods: at most 32"})
	}
	params, err := c.s.createParams(ctx, c.p, CreateInvoiceBody{Amount: in.Amount, Currency: in.Currency,
		PaymentMethods: in.Methods, MerchantOrderID: in.Reference, Description: in.Description, AllowTip: in.AllowTip,
		ExpiresIn: in.ExpiresIn})
	if err != nil {
		return c.fail(cmd.Raw, err)
	}
	params.LocationID = c.t.LocationID
	inv, created, err := c.s.invoices.CreateForTerminal(ctx, invoice.TerminalSession{TerminalID: c.t.ID, Reference: in.Reference, Params: params})
	if err != nil {
		return c.fail(cmd.Raw, err)
	}
	return c.sendSession(cmd.ID, inv, created)
}

func (c *terminalConn) cancelSession(ctx context.Context, cmd invoice.Command) error {
	var in struct {
		InvoiceID string `json:"invoice_id"`
	}
	if err := json.Unmarshal(cmd.Raw, &in); err != nil || in.InvoiceID == "" {
		return c.fail(cmd.Raw, &invoice.CommandError{Code: "invalid_command", Message: "cancel_session: invoice_id is required"})
	}
	if _, err := c.s.ownInvoice(ctx, c.p, in.InvoiceID); err != nil {
		return c.fail(cmd.Raw, err)
	}
	inv, err := c.s.invoices.Cancel(ctx, c.p.MerchantID, c.p.Mode, in.InvoiceID)
	if err != nil {
		return c.fail(cmd.Raw, err)
	}
	return c.sendSession(cmd.ID, inv, false)
}

func (c *terminalConn) sendSession(commandID string, inv invoice.Invoice, created bool) error {
	obj := inv.Object(c.s.invoices.Checkout())
	msg := TerminalSessionMessage{Type: "session", CommandID: commandID, Created: created, Invoice: obj,
		PaymentURL: obj.PaymentURL, PaymentInstructions: obj.PaymentInstructions}
	if obj.PaymentURL != "" && inv.Status == invoice.StatusOpen {
		png, err := payor.QRPNG(obj.PaymentURL, terminalQRSize)
		if err != nil {
			return c.fail(nil, err)
		}
		msg.QRPNG = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	}
	return c.send(msg)
}

// fail answers a refused command with its code; errors the API knows get
// the API's code, others are logged and answered internal_error.
func (c *terminalConn) fail(raw []byte, err error) error {
	msg := terminalError{Type: "error"}
	if id := invoice.CommandID(raw); id != "" {
		msg.CommandID = &id
	}
	var ce *invoice.CommandError
	var pr *Problem
	switch {
	case errors.As(err, &ce):
		msg.Code, msg.Message = ce.Code, ce.Message
	case errors.As(c.s.fail(context.Background(), err), &pr):
		msg.Code, msg.Message = pr.Code, pr.Detail
	}
	return c.send(msg)
}
