package fiat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of a rail notification body.
const SignatureHeader = "X-Settle-Signature"

// SignatureTolerance is how far a signature's timestamp may be from now,
// either way, before the notification is refused as a replay (or a clock
// far off).
const SignatureTolerance = 5 * time.Minute

// Signature errors, returned by [VerifySignature]; callers answer 401 to
// both and never apply the body.
var (
	ErrSignature = errors.New("bad signature")
	ErrStale     = errors.New("signature timestamp outside tolerance")
)

// Sign returns the header value that authenticates body at time t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under secret>" (the
// scheme Stripe uses, so processors that sign that way work unchanged).
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a [SignatureHeader] value against body with the
// account's callback secret. Several v1 entries may be present (a secret
// being rotated); one matching is enough. The timestamp is part of what is
// signed and must be within [SignatureTolerance] of now, so a captured
// notification cannot be replayed later; replays inside the window are
// caught by de-duplicating on the rail's transaction id. Comparison is in
// constant time.
func VerifySignature(secret []byte, header string, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no secret configured", ErrSignature)
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want \"t=<unix>,v1=<hex>\"", ErrSignature)
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		ok = hmac.Equal(s, want) || ok
	}
	if !ok {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return fmt.Errorf("%w: signed %s ago", ErrStale, d.Round(time.Second))
	}
	return nil
}
