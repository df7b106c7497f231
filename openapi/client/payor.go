package client

import (
	"context"
	"net/url"
	"time"
)

// PayorClient is the payor's side of one invoice, authorised by its
// payment_session_headers instead of an API key: what a wallet, an agent
// or your own checkout uses. Five wrong signatures from one client (IP
// address), or twenty in all, lock the session (CodeSessionLocked) until
// the merchant unlocks it or issues a new link (Client.UpdateCheckout).
type PayorClient struct {
	c *Client
	h SessionHeaders
}

// PayorSession returns the payor's client of the invoice whose
// payment_session_headers are h. The Client's API key, if any, is never
// sent on its requests, so New(baseURL, "") serves.
func (c *Client) PayorSession(h SessionHeaders) *PayorClient {
	return &PayorClient{c: c, h: h}
}

// PayorSession is what a payor may see of an invoice (the spec's
// SessionView).
type PayorSession struct {
	Object           string         `json:"object"`
	Merchant         PayorMerchant  `json:"merchant"`
	Mode             Mode           `json:"mode"`
	Amount           string         `json:"amount"`
	Currency         string         `json:"currency"`
	AmountPaid       string         `json:"amount_paid"`
	AmountDue        string         `json:"amount_due"`
	Total            string         `json:"total"` // amount and tip
	Status           Status         `json:"status"`
	Exception        Exception      `json:"exception"`
	Description      string         `json:"description"`
	ExpiresAt        time.Time      `json:"expires_at"`
	ExpiresInSeconds int64          `json:"expires_in_seconds"`
	RedirectURL      string         `json:"redirect_url"`
	Methods          []PayorMethod  `json:"methods"`
	Method           string         `json:"method"` // chosen; empty before
	Payments         []PayorPayment `json:"payments"`
	DevnetPay        bool           `json:"devnet_pay"`
	Tip              PayorTip       `json:"tip"`
}

// PayorTip says whether and how the payor may add a tip (the spec's
// TipView).
type PayorTip struct {
	Allowed    bool   `json:"allowed"`
	Open       bool   `json:"open"` // may still be set or changed
	CapPercent int    `json:"cap_percent"`
	CapAmount  string `json:"cap_amount"`
	Amount     string `json:"amount"`
	Presets    []int  `json:"presets"`
}

// PayorTipParams is a tip: an amount, or a percent of the amount (the
// spec's PayorTipBody).
type PayorTipParams struct {
	Amount  string `json:"amount,omitempty"`
	Percent *int   `json:"percent,omitempty"`
}

// SetTip sets the tip (on an invoice created with AllowTip) before a
// method is chosen, and returns the session with its new amount due.
func (p *PayorClient) SetTip(ctx context.Context, tip PayorTipParams) (*PayorSession, error) {
	var out PayorSession
	_, err := p.c.do(ctx, p.call(opPayorTip, nil, tip), &out)
	return ptr(&out, err)
}

// PayorMerchant is the merchant as a payor sees it (the spec's
// MerchantView).
type PayorMerchant struct {
	Name string `json:"name"`
}

// PayorMethod is a method on offer (the spec's MethodView).
type PayorMethod struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Asset       string `json:"asset"`
	Network     string `json:"network"`
	NetworkName string `json:"network_name"`
}

// PayorPayment is a payment as a payor sees it (the spec's PaymentView).
type PayorPayment struct {
	Amount                string `json:"amount"`
	Asset                 string `json:"asset"`
	Method                string `json:"method"`
	NetworkName           string `json:"network_name"`
	Status                string `json:"status"`
	Confirmations         int64  `json:"confirmations"`
	ConfirmationsRequired int64  `json:"confirmations_required"`
	TxID                  string `json:"tx_id"`
	ExplorerURL           string `json:"explorer_url,omitempty"`
}

// PaymentInstructions are what to send where for the chosen method, with
// signed terms (the spec's InstructionsView).
type PaymentInstructions struct {
	Instruction
	Object      string `json:"object"`
	NetworkName string `json:"network_name"`
	Label       string `json:"label"`
	QRPNG       string `json:"qr_png"` // path; fetch it with QR
	QRSVG       string `json:"qr_svg"`
	// Terms is a compact JWS (ES256, typ settle-terms+jwt) over the
	// merchant's name, the amount and these instructions; verify it against
	// the server's /.well-known/jwks.json.
	Terms string `json:"terms"`
}

// Get reads the session.
func (p *PayorClient) Get(ctx context.Context) (*PayorSession, error) {
	var out PayorSession
	_, err := p.c.do(ctx, p.call(opPayorSession, nil, nil), &out)
	return ptr(&out, err)
}

// ChooseMethod picks a method (one of the session's Methods) and returns
// its instructions; choosing again returns the same instructions. After
// the invoice's expires_at it fails with CodeSessionExpired unless the
// session was shown instructions before.
func (p *PayorClient) ChooseMethod(ctx context.Context, method string) (*PaymentInstructions, error) {
	var out PaymentInstructions
	_, err := p.c.do(ctx, p.call(opPayorMethod, nil, map[string]string{"method": method}), &out)
	return ptr(&out, err)
}

// QR returns the QR code of a method's payment URI as "png" or "svg" and
// its content type.
func (p *PayorClient) QR(ctx context.Context, method, format string) ([]byte, string, error) {
	q := url.Values{"method": {method}}
	set(q, "format", format)
	var out []byte
	r := p.call(opPayorQR, q, nil)
	r.accept = "image/png, image/svg+xml, application/problem+json"
	meta, err := p.c.do(ctx, r, &out)
	if err != nil {
		return nil, "", err
	}
	return out, meta.header.Get("Content-Type"), nil
}

// PayFromDevnet pays a devnet method's instructions from the devnet wallet
// of a server run as `settle devnet`, and returns the transaction id; the
// wallet pays an invoice once, and calling again returns the same id.
// Elsewhere it fails with CodeDevnetUnavailable.
func (p *PayorClient) PayFromDevnet(ctx context.Context, method string) (string, error) {
	var out struct {
		TxID string `json:"tx_id"`
	}
	_, err := p.c.do(ctx, p.call(opPayorDevnetPay, nil, map[string]string{"method": method}), &out)
	return out.TxID, err
}

// PayorSimulatedPayment is a payment simulated from a payor's session.
type PayorSimulatedPayment struct {
	TxID   string `json:"tx_id"`
	Amount string `json:"amount"`
	Status string `json:"status"` // confirmed
}

// SimulatePayment records a confirmed sandbox payment of amount (a decimal
// string in the invoice currency; "" for the amount still due) on a test
// invoice, as the hosted page's Simulate payment button does. On a live
// invoice it fails with CodeTestModeOnly.
func (p *PayorClient) SimulatePayment(ctx context.Context, amount string) (*PayorSimulatedPayment, error) {
	body := map[string]string{}
	if amount != "" {
		body["amount"] = amount
	}
	var out PayorSimulatedPayment
	_, err := p.c.do(ctx, p.call(opPayorSimulate, nil, body), &out)
	return ptr(&out, err)
}

func (p *PayorClient) call(op *operation, q url.Values, body any) *call {
	return &call{op: op, query: q, body: body, header: p.h.Header()}
}
