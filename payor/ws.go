package payor

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/settlepay/settle/invoice"
)

// Socket serves the payor WebSocket, GET /api/v1/payor/ws?token=…&sig=…:
// {"expires_in_seconds":N} at once and every KeepAlive until expiry,
// {"expired":true} once expires_at has passed (at once for a session
// already past it, paid late or not; the connection stays open), and
// {"status":…} whenever the invoice changes. N is never negative. The push
// is only a trigger: the page reads the session again.
type Socket struct {
	svc *Service
	// Changed is closed when events were numbered (anything may have
	// changed); nil means polling alone.
	Changed   func() <-chan struct{}
	KeepAlive time.Duration // default 15 s
	Poll      time.Duration // safety net behind Changed, default 10 s
	Log       *slog.Logger
	// MaxPerIP caps the sockets open at once from one client IP address
	// (0: DefaultSocketsPerIP, -1: no cap), and MaxPerSession those of one
	// checkout session (0: DefaultSocketsPerSession, -1: no cap), in this
	// process. A socket over a cap is accepted and closed at once with
	// 1008 and a reason naming the cap; the hosted page then polls and
	// tries again later.
	MaxPerIP      int
	MaxPerSession int

	perIP, perSession socketCount
}

// NewSocket returns the payor WebSocket over svc.
func NewSocket(svc *Service, changed func() <-chan struct{}, log *slog.Logger) *Socket {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Socket{svc: svc, Changed: changed, KeepAlive: 15 * time.Second, Poll: 10 * time.Second, Log: log}
}

func (k *Socket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// The address's place is taken before the session is read, so that a
	// flood from one address costs no database work.
	var sess Session
	var openErr error
	releaseIP, refused := k.perIP.take(clientIP(r), limit(k.MaxPerIP, DefaultSocketsPerIP), ErrTooManyFromIP)
	if refused == nil {
		defer releaseIP()
		sess, openErr = k.svc.Open(r.Context(), q.Get("token"), q.Get("sig"))
		if openErr == nil {
			var releaseSession func()
			releaseSession, refused = k.perSession.take(sess.Invoice.ID, limit(k.MaxPerSession, DefaultSocketsPerSession), ErrTooManyForSession)
			if refused == nil {
				defer releaseSession()
			}
		}
	}
	// The page's own origin only; the page is served by this host.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	if refused != nil {
		c.Close(websocket.StatusPolicyViolation, refused.Error())
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		// Reads nothing but keeps control frames flowing and sees the close.
		c.CloseRead(ctx)
		<-ctx.Done()
	}()
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return c.Write(wctx, websocket.MessageText, b) == nil
	}
	if openErr != nil {
		msg := "This checkout session does not exist."
		switch {
		case errors.Is(openErr, ErrLocked):
			msg = "This checkout session is locked after too many failed signature checks."
		case errors.Is(openErr, ErrBadSignature):
			msg = "The signature of this checkout link is not valid."
		case !errors.Is(openErr, invoice.ErrNotFound):
			msg = "The checkout session cannot be read now; try again."
			k.Log.WarnContext(ctx, "payor ws: open session", "err", openErr)
		}
		send(map[string]string{"message": msg})
		c.Close(websocket.StatusPolicyViolation, "no session")
		return
	}
	inv := sess.Invoice
	now := k.svc.inv.Now()
	// The time to pay is up once expires_at has passed, whatever the
	// status: a session paid late is past it too, and is told so rather
	// than counted down below zero (issue 13: one opened with -29).
	expired := func(inv invoice.Invoice, now time.Time) bool {
		return inv.Status == invoice.StatusExpired || !now.Before(inv.ExpiresAt)
	}
	countdown := func(now time.Time) map[string]int64 {
		return map[string]int64{"expires_in_seconds": max(0, int64(inv.ExpiresAt.Sub(now).Seconds()))}
	}
	if expired(inv, now) {
		send(map[string]bool{"expired": true})
	} else if !send(countdown(now)) {
		return
	}
	sentExpired := expired(inv, now)
	keep := time.NewTicker(k.KeepAlive)
	defer keep.Stop()
	poll := time.NewTicker(k.Poll)
	defer poll.Stop()
	var atExpiry <-chan time.Time
	if !sentExpired {
		t := time.NewTimer(inv.ExpiresAt.Sub(now))
		defer t.Stop()
		atExpiry = t.C
	}
	var changed <-chan struct{}
	if k.Changed != nil {
		changed = k.Changed()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-keep.C:
			if sentExpired {
				continue
			}
			if now := k.svc.inv.Now(); !expired(inv, now) {
				if !send(countdown(now)) {
					return
				}
				continue
			} // else past expiry before the timer: say so below
		case <-atExpiry:
		case <-changed:
			changed = k.Changed()
		case <-poll.C:
		}
		now := k.svc.inv.Now()
		cur, err := k.svc.inv.BySessionToken(ctx, inv.SessionToken)
		if errors.Is(err, invoice.ErrNotFound) {
			// The merchant issued a new link: this one no longer opens.
			send(map[string]string{"message": "This checkout link was replaced; ask the merchant for the new one."})
			c.Close(websocket.StatusPolicyViolation, "no session")
			return
		}
		if err != nil {
			continue
		}
		if cur.Status != inv.Status || cur.Exception != inv.Exception || cur.AmountPaid.Cmp(inv.AmountPaid) != 0 || !cur.UpdatedAt.Equal(inv.UpdatedAt) {
			if !send(map[string]string{"status": string(cur.Status)}) {
				return
			}
		}
		inv = cur
		if !sentExpired && expired(cur, now) {
			if !send(map[string]bool{"expired": true}) {
				return
			}
			sentExpired = true
		}
	}
}
