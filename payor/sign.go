// Package payor is everything the payor touches: checkout sessions and their
// signed handles, signed payment terms, QR codes, the payor WebSocket, the
// hosted page and the embeddable widget, and the waiting page of a scanned
// static QR code (qrpage.go). It shows a payor only what a payor
// may see: the merchant's display name and the one invoice.
package payor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/url"
	"strings"
	"sync"

	"github.com/settlepay/settle/invoice"
)

// Signer makes and checks the handles of checkout sessions: the hosted
// page's URL and the headers of an embedded checkout. Both carry the
// session token and its HMAC-SHA256 under the server's secret key.
type Signer struct {
	secret    []byte
	publicURL string
	// macs holds keyed HMACs for reuse: a reset one starts from its keyed
	// state instead of hashing the key again (each create signs its token).
	macs sync.Pool
}

// NewSigner returns a signer for secret whose pages live under publicURL
// (such as "https://pay.example.com").
func NewSigner(secret []byte, publicURL string) *Signer {
	s := &Signer{secret: secret, publicURL: strings.TrimRight(publicURL, "/")}
	s.macs.New = func() any { return hmac.New(sha256.New, s.secret) }
	return s
}

// Sign returns the signature of a session token.
func (s *Signer) Sign(token string) string {
	mac := s.macs.Get().(hash.Hash)
	mac.Write([]byte("settle/session/v1:"))
	mac.Write([]byte(token))
	var sum [sha256.Size]byte
	sig := hex.EncodeToString(mac.Sum(sum[:0]))
	mac.Reset()
	s.macs.Put(mac)
	return sig
}

// Verify reports, in constant time, whether sig is token's signature.
func (s *Signer) Verify(token, sig string) bool {
	want := s.Sign(token)
	return hmac.Equal([]byte(want), []byte(sig))
}

// Links implements invoice.Checkout.
func (s *Signer) Links(token string) (string, invoice.SessionHeaders) {
	sig := s.Sign(token)
	return s.publicURL + "/pay/" + url.PathEscape(token) + "?sig=" + sig,
		invoice.SessionHeaders{SessionToken: token, Signature: sig}
}
