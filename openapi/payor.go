package openapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/time/rate"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/payor"
)

const payorPrefix = "/api/v1/payor/"

// SessionHeaders are the payor's credentials: the invoice's
// payment_session_headers.
type SessionHeaders struct {
	SessionToken string `header:"x-session-token" required:"true" maxLength:"128" doc:"The invoice's payment_session_headers.x-session-token."`
	Signature    string `header:"x-signature" required:"true" maxLength:"128" doc:"The invoice's payment_session_headers.x-signature."`
}

type chooseMethodInput struct {
	SessionHeaders
	Body struct {
		Method string `json:"method" maxLength:"64" example:"usdc_base_sepolia" doc:"One of the session's methods."`
	}
}

type qrInput struct {
	SessionHeaders
	Method string `query:"method" required:"true" maxLength:"64" example:"usdc_base_sepolia"`
	Format string `query:"format" enum:"png,svg" default:"png"`
}

type qrOutput struct {
	ContentType  string `header:"Content-Type"`
	CacheControl string `header:"Cache-Control"`
	Body         []byte
}

type payorSimulateInput struct {
	SessionHeaders
	Body struct {
		Amount string `json:"amount,omitempty" maxLength:"40" example:"12.50" doc:"Decimal string in the invoice currency; default: the amount still due."`
	}
}

// PayorSimulatedPayment answers a payment simulated from the hosted page:
// the payment, not the merchant's invoice object.
type PayorSimulatedPayment struct {
	TxID   string                `json:"tx_id" example:"sim_4f7c2a9d0e1b"`
	Amount string                `json:"amount" example:"12.50"`
	Status invoice.PaymentStatus `json:"status" enum:"pending,confirmed,reversed"`
}

// DevnetPayment answers a devnet payment.
type DevnetPayment struct {
	TxID string `json:"tx_id" example:"0x4f…"`
}

func (s *server) registerPayor(api huma.API, mux *http.ServeMux) {
	tags := []string{"Payor"}
	errs := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusLocked, http.StatusUnprocessableEntity, http.StatusTooManyRequests}
	desc := "Authorised by the invoice's payment_session_headers, not an API key; compared in constant time. A client (IP address) that sent 5 wrong signatures for a session is refused with 423 session_locked; 20 in all, from any clients, lock the session for everyone, until the merchant unlocks it or issues a new link (POST /api/v1/invoices/{id}/checkout). Rate limited per IP (429 rate_limited). Shows the payor the merchant's display name and this invoice, nothing else."
	huma.Register(api, huma.Operation{
		OperationID: "get-payor-session", Method: http.MethodGet, Path: payorPrefix + "session",
		Summary: "The checkout session", Tags: tags, Errors: errs, Description: desc, Security: []map[string][]string{},
	}, s.payorSession)
	huma.Register(api, huma.Operation{
		OperationID: "choose-payor-method", Method: http.MethodPost, Path: payorPrefix + "session/method",
		Summary: "Choose a method and get the instructions", Tags: tags, Errors: errs, Security: []map[string][]string{},
		MaxBodyBytes: humaMaxBodyBytes,
		Description:  "Returns what to send where (address, exact amount, payment URI, QR paths) and signed terms, and records that the payor was shown them (the first time, a checkout.opened event). Expiry is \"open before\": after expires_at a session never shown instructions is refused with 409 session_expired (and no checkout.opened is written), while one shown them before still gets them. " + desc,
	}, s.choosePayorMethod)
	huma.Register(api, huma.Operation{
		OperationID: "get-payor-qr", Method: http.MethodGet, Path: payorPrefix + "session/qr",
		Summary: "QR code of a method's payment URI", Tags: tags, Errors: errs, Security: []map[string][]string{},
		Description: "PNG or SVG. After expires_at, only for a session shown instructions before (else 409 session_expired). " + desc,
		Responses: map[string]*huma.Response{"200": {Description: "The QR code", Content: map[string]*huma.MediaType{
			"image/png": {Schema: &huma.Schema{Type: "string", Format: "binary"}}, "image/svg+xml": {Schema: &huma.Schema{Type: "string"}},
		}}},
	}, s.payorQR)
	huma.Register(api, huma.Operation{
		OperationID: "pay-from-devnet", Method: http.MethodPost, Path: payorPrefix + "session/devnet-pay",
		Summary: "Pay from the devnet wallet (settle devnet only)", Tags: tags, Errors: errs, Security: []map[string][]string{},
		MaxBodyBytes: humaMaxBodyBytes,
		Description:  "Sends the exact amount of a devnet method from the devnet's public test wallet, once per invoice: pressing again, even at the same moment, answers the first transfer's tx_id. Only when the server runs `settle devnet`, on test invoices. " + desc,
	}, s.payFromDevnet)
	huma.Register(api, huma.Operation{
		OperationID: "simulate-payor-payment", Method: http.MethodPost, Path: payorPrefix + "session/simulate-payment",
		Summary: "Simulate a payment (test mode)", Tags: tags, Errors: append([]int{http.StatusForbidden}, errs...), Security: []map[string][]string{},
		MaxBodyBytes: humaMaxBodyBytes,
		Description:  "The hosted page's **Simulate payment** button: records a confirmed sandbox payment of `amount` (default: the amount still due) on this session's invoice, through the same function as POST /api/v1/test/invoices/{id}/simulate-payment. Test invoices only (else 403 `test_mode_only`); like the devnet wallet, refused with 409 `session_expired` after expires_at on a session never shown instructions. " + desc,
	}, s.simulatePayorPayment)
	if s.payor == nil {
		return // Spec: the operations only
	}
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		keys, err := s.payor.Terms().JWKS(r.Context())
		if err != nil {
			s.unavailable(w, r, "jwks", err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		json.NewEncoder(w).Encode(keys)
	})
	if s.payorWS != nil {
		mux.Handle("GET "+payorPrefix+"ws", s.payorWS)
	}
	if s.pages != nil {
		s.pages.Register(mux)
	}
}

// open checks the payor's headers and maps the refusals to problems.
func (s *server) open(ctx context.Context, h SessionHeaders) (payor.Session, error) {
	if s.payor == nil {
		return payor.Session{}, problem(http.StatusNotFound, "not_found", "This server has no checkout.")
	}
	sess, err := s.payor.Open(ctx, h.SessionToken, h.Signature)
	if err != nil {
		return sess, s.payorFail(ctx, err)
	}
	return sess, nil
}

func (s *server) payorFail(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, payor.ErrBadSignature):
		return problem(http.StatusUnauthorized, "invalid_signature", "The x-signature does not match the x-session-token.")
	case errors.Is(err, payor.ErrLocked):
		return problem(http.StatusLocked, "session_locked", "This checkout session is locked after too many failed signature checks; the merchant can unlock it or issue a new link.")
	case errors.Is(err, payor.ErrNoMethod):
		return problem(http.StatusUnprocessableEntity, "invalid_payment_method", "method: not one of this session's methods",
			&huma.ErrorDetail{Location: "body.method", Message: "not one of this session's methods"})
	case errors.Is(err, payor.ErrNoDevnet):
		return problem(http.StatusNotFound, "devnet_unavailable", "This server has no devnet wallet for this method (run settle devnet).")
	case errors.Is(err, payor.ErrTestOnly):
		return problem(http.StatusForbidden, "test_mode_only", "Payments can only be simulated on test invoices.")
	case errors.Is(err, payor.ErrExpired):
		return problem(http.StatusConflict, "session_expired", "This checkout expired before payment instructions were shown; ask the merchant for a new invoice.")
	}
	return s.fail(ctx, err)
}

func (s *server) payorSession(ctx context.Context, in *SessionHeaders) (*struct{ Body payor.SessionView }, error) {
	sess, err := s.open(ctx, *in)
	if err != nil {
		return nil, err
	}
	if err := s.payor.Scanned(ctx, &sess); err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body payor.SessionView }{s.payor.View(sess, s.invoices.Now())}, nil
}

func (s *server) choosePayorMethod(ctx context.Context, in *chooseMethodInput) (*struct{ Body payor.InstructionsView }, error) {
	sess, err := s.open(ctx, in.SessionHeaders)
	if err != nil {
		return nil, err
	}
	v, err := s.payor.Choose(ctx, sess, in.Body.Method)
	if err != nil {
		return nil, s.payorFail(ctx, err)
	}
	return &struct{ Body payor.InstructionsView }{v}, nil
}

func (s *server) payorQR(ctx context.Context, in *qrInput) (*qrOutput, error) {
	sess, err := s.open(ctx, in.SessionHeaders)
	if err != nil {
		return nil, err
	}
	if in.Format == "" {
		in.Format = "png"
	}
	b, ct, err := s.payor.QR(ctx, sess, in.Method, in.Format)
	if err != nil {
		if errors.Is(err, payor.ErrNoQR) {
			return nil, problem(http.StatusNotFound, "no_qr_code", "This method is a bank transfer: it has no payment URI to show as a QR code.")
		}
		if errors.Is(err, payor.ErrNoMethod) {
			return nil, problem(http.StatusUnprocessableEntity, "invalid_payment_method", "method: not one of this session's methods",
				&huma.ErrorDetail{Location: "query.method", Message: "not one of this session's methods", Value: in.Method})
		}
		return nil, s.payorFail(ctx, err)
	}
	return &qrOutput{ContentType: ct, CacheControl: "private, max-age=300", Body: b}, nil
}

func (s *server) payFromDevnet(ctx context.Context, in *chooseMethodInput) (*struct{ Body DevnetPayment }, error) {
	sess, err := s.open(ctx, in.SessionHeaders)
	if err != nil {
		return nil, err
	}
	tx, err := s.payor.PayFromDevnet(ctx, sess, in.Body.Method)
	if err != nil {
		return nil, s.payorFail(ctx, err)
	}
	return &struct{ Body DevnetPayment }{DevnetPayment{TxID: tx}}, nil
}

func (s *server) simulatePayorPayment(ctx context.Context, in *payorSimulateInput) (*struct{ Body PayorSimulatedPayment }, error) {
	sess, err := s.open(ctx, in.SessionHeaders)
	if err != nil {
		return nil, err
	}
	if err := s.payor.CanSimulate(sess); err != nil {
		return nil, s.payorFail(ctx, err)
	}
	inv := sess.Invoice
	amount := in.Body.Amount
	if amount == "" {
		amount = inv.AmountDue().Format(inv.Decimals)
	}
	_, pay, err := s.simulate(ctx, inv, SimulatePaymentBody{Method: chains.Sandbox, Amount: amount, Status: invoice.PaymentConfirmed})
	if err != nil {
		return nil, err
	}
	return &struct{ Body PayorSimulatedPayment }{PayorSimulatedPayment{TxID: pay.TxID, Amount: pay.Amount.Format(pay.Decimals), Status: pay.Status}}, nil
}

// ipLimiter limits payor requests per client IP: a token bucket each,
// forgotten after ten idle minutes.
type ipLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

func newIPLimiter(perSecond float64, burst int) *ipLimiter {
	return &ipLimiter{every: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

func (l *ipLimiter) allow(r *http.Request) bool {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[ip]
	if !ok {
		b = &bucket{l: rate.NewLimiter(l.every, l.burst)}
		l.buckets[ip] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}

// limitPayor refuses payor requests (API, WebSocket, pages) over the
// per-IP rate with 429 rate_limited, and tells the payor package which
// client the others come from (wrong signatures are counted per client).
func (s *server) limitPayor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !strings.HasPrefix(p, payorPrefix) && !strings.HasPrefix(p, "/pay/") {
			next.ServeHTTP(w, r)
			return
		}
		if s.payorLimit != nil && !s.payorLimit.allow(r) {
			w.Header().Set("Retry-After", "1")
			writeProblem(w, r, problem(http.StatusTooManyRequests, "rate_limited", "Too many requests from this address; slow down."))
			return
		}
		next.ServeHTTP(w, r.WithContext(payor.WithClient(r.Context(), r.RemoteAddr)))
	})
}
