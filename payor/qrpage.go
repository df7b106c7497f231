package payor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/settlepay/settle/invoice"
)

// QRPages serves what a payor sees after scanning a static QR code: the
// waiting page /q/{merchant}/{code}, which starts a QR session, follows it
// over a WebSocket (polling when the socket fails or is refused) and opens
// the checkout once the session's invoice exists, and the small endpoints
// its script uses:
//
//	POST /q/{merchant}/{code}/sessions  start a session (same query as the page)
//	GET  /q/s/{token}                   the session's status (and payment_url once invoiced)
//	GET  /q/s/{token}/ws                the same status, pushed as it changes (serveSocket)
//	POST /q/s/{token}/cancel            the payor left (sent as a beacon on pagehide)
//
// Nothing starts without the script: a GET changes nothing, so that link
// previews and prefetchers do not start orders.
type QRPages struct {
	inv    *invoice.Service
	base   string
	page   *template.Template
	failed *template.Template
	js     *asset
	css    *asset
	// Wake is called after a session is stored, so that its start request
	// is sent at once (events.QRStarts.Wake); nil means none.
	Wake func()
	// CreateInvoice creates the invoice of a dynamic scan that carries an
	// amount and currency, for a code that allows it, bound to the
	// session (openapi sets it; nil means such scans start an order like
	// any other).
	CreateInvoice func(ctx context.Context, sess invoice.QRSession, amount, currency, description string) (invoice.Invoice, error)
	Log           *slog.Logger
	// Changed is closed when events were numbered (a session's change
	// writes qr_session.updated in its transaction): it wakes the waiting
	// pages' sockets. nil means their polls alone (SocketPoll).
	Changed func() <-chan struct{}
	// SocketPoll (default DefaultQRSocketPoll) and SocketKeepAlive
	// (default DefaultQRSocketKeepAlive) time the sockets.
	SocketPoll, SocketKeepAlive time.Duration
	// MaxSocketsPerIP caps the waiting-page sockets open at once from one
	// client address (0: DefaultSocketsPerIP, -1: no cap) and
	// MaxSocketsPerSession those of one session (0:
	// DefaultSocketsPerSession), in this process, counted apart from the
	// checkout's sockets.
	MaxSocketsPerIP, MaxSocketsPerSession int

	perIP, perSession socketCount
}

// NewQRPages returns the QR pages of the invoices in inv, whose printed
// URLs are under publicURL.
func NewQRPages(inv *invoice.Service, publicURL string) *QRPages {
	return &QRPages{
		inv: inv, base: strings.TrimRight(publicURL, "/"),
		page:   template.Must(template.ParseFS(assetFS, "assets/qr.html")),
		failed: template.Must(template.ParseFS(assetFS, "assets/error.html")),
		js:     mustAsset("qr.js"), css: mustAsset("app.css"),
		Log: slog.New(slog.DiscardHandler),
	}
}

// URL is what a static code encodes: /q/{merchant}/{code} under the public
// URL. A merchant may print its own codes of it.
func (q *QRPages) URL(merchantID, code string) string {
	return q.base + "/q/" + url.PathEscape(merchantID) + "/" + url.PathEscape(code)
}

// Register adds the QR routes to mux.
func (q *QRPages) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /q/{merchant}/{code}", q.servePage)
	mux.HandleFunc("POST /q/{merchant}/{code}/sessions", q.start)
	mux.HandleFunc("GET /q/s/{token}", q.status)
	mux.HandleFunc("GET /q/s/{token}/ws", q.serveSocket)
	mux.HandleFunc("POST /q/s/{token}/cancel", q.cancel)
	mux.HandleFunc("GET /q/assets/qr.js", func(w http.ResponseWriter, r *http.Request) {
		cache := "no-cache"
		if r.URL.Query().Get("v") == q.js.hash {
			cache = "public, max-age=31536000, immutable"
		}
		serve(w, r, q.js, cache)
	})
}

// qrPageData fills qr.html.
type qrPageData struct {
	Merchant, Location, Start, AppCSS, QRJS string
	Test                                    bool
}

// scan is a request's code and dynamic data, checked.
type scan struct {
	code     invoice.QRCode
	loc      invoice.Location
	merchant invoice.Merchant
	dynamic  string
	flat     map[string]string
}

// readScan looks up the code of r and checks its dynamic data; on failure
// it returns what to tell the payor and the status.
func (q *QRPages) readScan(r *http.Request) (scan, int, failure) {
	var sc scan
	var err error
	gone := failure{Title: "This code is not in service", Message: "There is nothing to pay here. Ask the staff, or scan another code."}
	sc.code, sc.loc, err = q.inv.QRCodeBySerial(r.Context(), r.PathValue("merchant"), r.PathValue("code"))
	switch {
	case errors.Is(err, invoice.ErrNotFound):
		return sc, http.StatusNotFound, failure{Title: "Unknown code", Message: "This QR code is not known here. Check that you scanned the whole code."}
	case err != nil:
		q.Log.WarnContext(r.Context(), "qr page: code", "err", err)
		return sc, http.StatusInternalServerError, failure{Title: "Something went wrong", Message: "Try again in a moment."}
	case sc.code.DeactivatedAt != nil || sc.loc.DeactivatedAt != nil:
		return sc, http.StatusGone, gone
	}
	if sc.merchant, err = q.inv.Merchant(r.Context(), sc.code.MerchantID); err != nil {
		q.Log.WarnContext(r.Context(), "qr page: merchant", "err", err)
		return sc, http.StatusInternalServerError, failure{Title: "Something went wrong", Message: "Try again in a moment."}
	}
	if sc.code.Mode == invoice.ModeLive && !sc.merchant.LiveEnabled {
		return sc, http.StatusGone, gone
	}
	if r.URL.Query().Has("dynamic") {
		sc.dynamic, sc.flat, err = invoice.ParseDynamic(r.URL.Query().Get("dynamic"))
		if err != nil {
			return sc, http.StatusBadRequest, failure{Title: "This code's order data is not valid",
				Message: "The code carries order data that cannot be used (" + err.Error() + "). Ask the staff for a new code."}
		}
	}
	return sc, 0, failure{}
}

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", PageCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

func (q *QRPages) servePage(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	css := "/pay/assets/app.css?v=" + q.css.hash
	sc, status, f := q.readScan(r)
	if status != 0 {
		f.AppCSS = css
		var buf bytes.Buffer
		if err := q.failed.Execute(&buf, f); err != nil {
			http.Error(w, f.Title, status)
			return
		}
		w.WriteHeader(status)
		w.Write(buf.Bytes())
		return
	}
	start := r.URL.EscapedPath() + "/sessions"
	if r.URL.RawQuery != "" {
		start += "?" + r.URL.RawQuery
	}
	var buf bytes.Buffer
	err := q.page.Execute(&buf, qrPageData{
		Merchant: sc.merchant.Name, Location: sc.loc.Name, Start: start, Test: sc.code.Mode == invoice.ModeTest,
		AppCSS: css, QRJS: "/q/assets/qr.js?v=" + q.js.hash,
	})
	if err != nil {
		q.Log.ErrorContext(r.Context(), "qr page: render", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Write(buf.Bytes())
}

// qrStatus is what the waiting page's script reads.
type qrStatus struct {
	Token            string `json:"token,omitempty"`
	Status           string `json:"status"`
	DownResponseText string `json:"down_response_text,omitempty"`
	PaymentURL       string `json:"payment_url,omitempty"`
	ExpiresIn        int64  `json:"order_expires_in_seconds"`
	Title            string `json:"title,omitempty"`
	Message          string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (q *QRPages) start(w http.ResponseWriter, r *http.Request) {
	sc, status, f := q.readScan(r)
	if status != 0 {
		writeJSON(w, status, qrStatus{Status: "refused", Title: f.Title, Message: f.Message})
		return
	}
	direct := q.CreateInvoice != nil && sc.code.AllowDynamicInvoice && sc.flat["amount"] != "" && sc.flat["currency"] != ""
	sess, err := q.inv.StartQRSession(r.Context(), sc.code.MerchantID, sc.code.Code, sc.dynamic, !direct)
	if err != nil {
		q.Log.WarnContext(r.Context(), "qr page: start session", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, qrStatus{Status: "refused", Title: "This order could not start", Message: "Try again in a moment."})
		return
	}
	if direct {
		inv, err := q.CreateInvoice(r.Context(), sess, sc.flat["amount"], sc.flat["currency"], sc.flat["description"])
		if err != nil {
			q.inv.CancelQRSession(context.WithoutCancel(r.Context()), sess.Token)
			var v *invoice.ValidationError
			if errors.As(err, &v) {
				writeJSON(w, http.StatusBadRequest, qrStatus{Status: "refused", Title: "This code's order data is not valid",
					Message: "The amount or currency in this code cannot be paid (" + v.Error() + "). Ask the staff for a new code."})
				return
			}
			q.Log.WarnContext(r.Context(), "qr page: create invoice", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, qrStatus{Status: "refused", Title: "This order could not start", Message: "Try again in a moment."})
			return
		}
		sess.Status, sess.InvoiceID = invoice.QRInvoiced, inv.ID
		writeJSON(w, http.StatusCreated, q.statusOf(sess, &inv))
		return
	}
	if q.Wake != nil {
		q.Wake()
	}
	writeJSON(w, http.StatusCreated, q.statusOf(sess, nil))
}

func (q *QRPages) statusOf(sess invoice.QRSession, inv *invoice.Invoice) qrStatus {
	st := qrStatus{Token: sess.Token, Status: string(sess.Status), DownResponseText: sess.DownText,
		ExpiresIn: q.expiresIn(sess)}
	if inv != nil {
		st.PaymentURL, _ = q.inv.Checkout().Links(inv.SessionToken)
	}
	return st
}

// expiresIn is what is left of sess's order timeout, in whole seconds.
func (q *QRPages) expiresIn(sess invoice.QRSession) int64 {
	return max(0, int64(sess.OrderExpiresAt.Sub(q.inv.Now()).Seconds()))
}

func (q *QRPages) status(w http.ResponseWriter, r *http.Request) {
	sess, inv, err := q.inv.QRSessionByToken(r.Context(), r.PathValue("token"))
	switch {
	case errors.Is(err, invoice.ErrNotFound):
		writeJSON(w, http.StatusNotFound, qrStatus{Status: "unknown"})
		return
	case err != nil:
		q.Log.WarnContext(r.Context(), "qr page: status", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, qrStatus{Status: "unavailable"})
		return
	}
	st := q.statusOf(sess, inv)
	st.Token = ""
	writeJSON(w, http.StatusOK, st)
}

func (q *QRPages) cancel(w http.ResponseWriter, r *http.Request) {
	_, err := q.inv.CancelQRSession(r.Context(), r.PathValue("token"))
	switch {
	case errors.Is(err, invoice.ErrNotFound):
		w.WriteHeader(http.StatusNotFound)
	case err != nil:
		q.Log.WarnContext(r.Context(), "qr page: cancel", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
