package events_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/settlepay/settle/events"
)

// The Standard Webhooks specification's example: secret, message id,
// timestamp, payload and the signature it gives.
const (
	swSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swTimestamp = 1614265330
	swPayload   = `{"test": 2432232314}`
	swSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	// swJWT is HS256 over swPayload under the secret's key, computed
	// outside Go (Python's hmac and base64).
	swJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0ZXN0IjogMjQzMjIzMjMxNH0.yG3crBNI2e8YHoGUTgShbkfyN0HM_yfvC8ZLucqTh-I"
)

// TestSignQRRequest checks a QR session request's headers against known
// answers: the Standard Webhooks signature and the JWT form.
func TestSignQRRequest(t *testing.T) {
	t.Parallel()
	h, err := events.SignQRRequest(swSecret, swID, time.Unix(swTimestamp, 0), []byte(swPayload))
	if err != nil {
		t.Fatal(err)
	}
	got := http.Header{}
	for i := 0; i+1 < len(h); i += 2 {
		got.Set(h[i], h[i+1])
	}
	for name, want := range map[string]string{
		"webhook-id": swID, "webhook-timestamp": "1614265330", "webhook-signature": swSignature,
		"Authorization": "Bearer " + swJWT, "Content-Type": "application/json",
	} {
		if got.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, got.Get(name), want)
		}
	}
	if _, err := events.SignQRRequest("not-a-secret", swID, time.Now(), []byte(swPayload)); err == nil {
		t.Error("signed with a malformed secret")
	}
}

// TestQRRequestVerifies checks fresh headers the way a receiver would:
// with the Standard Webhooks library, and the JWT with go-jose.
func TestQRRequestVerifies(t *testing.T) {
	t.Parallel()
	secret := events.NewSecret()
	body := []byte(`{"type":"start_qr_session","session_id":"qrs_x"}`)
	h, err := events.SignQRRequest(secret, "idk_1", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{}
	for i := 0; i+1 < len(h); i += 2 {
		header.Set(h[i], h[i+1])
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(body, header); err != nil {
		t.Errorf("standard webhooks: %v", err)
	}
	if err := wh.Verify([]byte(`{"type":"start_qr_session","session_id":"qrs_y"}`), header); err == nil {
		t.Error("a changed body verifies")
	}
	tok, err := jose.ParseSigned(header.Get("Authorization")[len("Bearer "):], []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	jwtKey, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, events.SecretPrefix))
	if err != nil {
		t.Fatal(err)
	}
	if payload, err := tok.Verify(jwtKey); err != nil || string(payload) != string(body) {
		t.Errorf("jwt: %v, payload %s", err, payload)
	}
}
