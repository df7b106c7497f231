package events

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// SecretPrefix starts every webhook signing secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// secretBytes is the size of a new signing key: the Standard Webhooks spec
// asks for 24 to 64 bytes.
const secretBytes = 32

// NewSecret returns a fresh signing secret: whsec_ and base64 of 32 random
// bytes.
func NewSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails (crypto/rand)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ErrBadSecret is returned by [Sign] for a secret that is not whsec_ and
// base64.
var ErrBadSecret = errors.New("webhook secret is not whsec_ followed by base64")

// Sign returns the webhook-signature header value of a message under the
// Standard Webhooks scheme ("v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body"), computed by the scheme's own Go library, which is
// also what merchants verify with.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil || !strings.HasPrefix(secret, SecretPrefix) {
		return "", ErrBadSecret
	}
	return wh.Sign(id, ts, body)
}
