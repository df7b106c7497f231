package payor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/invoice"
)

// Defaults of the waiting page's socket.
const (
	// DefaultQRSocketPoll is the safety net behind Changed: how often an
	// open waiting-page socket reads its session when no event woke it.
	DefaultQRSocketPoll = 5 * time.Second
	// DefaultQRSocketKeepAlive is how often an idle socket is sent the
	// session's status again (its order countdown), so that proxies keep
	// it open.
	DefaultQRSocketKeepAlive = 15 * time.Second
)

// serveSocket is GET /q/s/{token}/ws, the waiting page's WebSocket: the
// session's status (as GET /q/s/{token} answers it) at once and whenever it
// changes, woken by the events of the session (qr_session.updated, written
// in the transaction that changes it, rings Changed once numbered) with a
// poll every Poll behind them. Once the session is final (invoiced with
// its payment_url, down with its text, failed, canceled, timed_out) the
// status is sent and the socket closed (1000). The session's token is the
// only capability, as for GET /q/s/{token}: nothing of other sessions or of
// the merchant beyond the session's own checkout link is sent.
//
// Refusals (caps, an unknown token) are an accepted socket closed at once
// with 1008 and the reason; the page then polls GET /q/s/{token}.
func (q *QRPages) serveSocket(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	// The address's place is taken before the session is read, so that a
	// flood from one address costs no database work.
	var (
		sess    invoice.QRSession
		inv     *invoice.Invoice
		readErr error
		changed <-chan struct{}
	)
	releaseIP, refused := q.perIP.take(clientIP(r), limit(q.MaxSocketsPerIP, DefaultSocketsPerIP), ErrTooManyFromIP)
	if refused == nil {
		defer releaseIP()
		// Changed is taken before the first read: a change committed after
		// the read rings it.
		if q.Changed != nil {
			changed = q.Changed()
		}
		sess, inv, readErr = q.inv.QRSessionByToken(r.Context(), token)
		if readErr == nil {
			var releaseSession func()
			releaseSession, refused = q.perSession.take(sess.ID, limit(q.MaxSocketsPerSession, DefaultSocketsPerSession), ErrTooManyForQRSession)
			if refused == nil {
				defer releaseSession()
			}
		}
	}
	// The page's own origin only (the default check): the page is served
	// by this host.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	switch {
	case refused != nil:
		c.Close(websocket.StatusPolicyViolation, refused.Error())
		return
	case errors.Is(readErr, invoice.ErrNotFound):
		c.Close(websocket.StatusPolicyViolation, "no session")
		return
	case readErr != nil:
		q.Log.WarnContext(r.Context(), "qr socket: read session", "err", readErr)
		c.Close(websocket.StatusTryAgainLater, "try again")
		return
	}
	c.SetReadLimit(128)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Reads nothing but keeps control frames flowing and sees the close.
	ctx = c.CloseRead(ctx)
	send := func(st qrStatus) bool {
		b, _ := json.Marshal(st)
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return c.Write(wctx, websocket.MessageText, b) == nil
	}
	last := q.statusOf(sess, inv)
	last.Token = "" // the page has it; a message never carries it
	if !send(last) {
		return
	}
	if sess.Status != invoice.QRWaiting {
		c.Close(websocket.StatusNormalClosure, "session "+string(sess.Status))
		return
	}
	poll := time.NewTicker(durationOr(q.SocketPoll, DefaultQRSocketPoll))
	defer poll.Stop()
	keep := time.NewTicker(durationOr(q.SocketKeepAlive, DefaultQRSocketKeepAlive))
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keep.C:
			last.ExpiresIn = q.expiresIn(sess)
			if !send(last) {
				return
			}
			continue
		case <-changed:
			changed = q.Changed()
		case <-poll.C:
		}
		cur, curInv, err := q.inv.QRSessionByToken(ctx, token)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, invoice.ErrNotFound) {
				q.Log.WarnContext(ctx, "qr socket: read session", "err", err)
			}
			continue // the next change or poll reads again
		}
		st := q.statusOf(cur, curInv)
		st.Token = ""
		if st.Status == last.Status && st.DownResponseText == last.DownResponseText && st.PaymentURL == last.PaymentURL {
			continue
		}
		if !send(st) {
			return
		}
		sess, last = cur, st
		if cur.Status != invoice.QRWaiting && (cur.Status != invoice.QRInvoiced || st.PaymentURL != "") {
			c.Close(websocket.StatusNormalClosure, "session "+string(cur.Status))
			return
		}
	}
}

func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
