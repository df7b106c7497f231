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
// {"expires_in_seconds":N} at once and every KeepAlive, {"expired":true} at
// expiry (the connection stays open), and {"status":…} whenever the invoice
// changes. The push is only a trigger: the page reads the session again.
type Socket struct {
	svc *Service
	// Changed is closed when events were numbered (anything may have
	// changed); nil means polling alone.
	Changed   func() <-chan struct{}
	KeepAlive time.Duration // default 15 s
	Poll      time.Duration // safety net behind Changed, default 10 s
	Log       *slog.Logger
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
	sess, openErr := k.svc.Open(r.Context(), q.Get("token"), q.Get("sig"))
	// The page's own origin only; the page is served by this host.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
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
	expired := func(inv invoice.Invoice, now time.Time) bool {
		return inv.Status == invoice.StatusExpired || inv.Status != invoice.StatusPaid && inv.Status != invoice.StatusCancelled && !now.Before(inv.ExpiresAt)
	}
	if expired(inv, now) {
		send(map[string]bool{"expired": true})
	} else if !send(map[string]int64{"expires_in_seconds": int64(inv.ExpiresAt.Sub(now).Seconds())}) {
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
			if !send(map[string]int64{"expires_in_seconds": max(0, int64(inv.ExpiresAt.Sub(k.svc.inv.Now()).Seconds()))}) {
				return
			}
			continue
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
