package openapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

// Two answers carry a webhook endpoint's signing secret: create and
// rotate-secret. Their idempotency records keep, instead of the secret, a
// digest of it (no second copy of a secret in the store), and a replay puts
// the endpoint's secret back only while it is still the one answered. Once
// it has been rotated, or the endpoint deleted, the replay is refused with
// errSecretRotated: handing back a stale secret would have the merchant
// verify every later delivery against the wrong key, and the current one is
// shown only to whoever rotated it.

// errSecretRotated is returned by unsealSecret for a stored answer whose
// secret is no longer the endpoint's.
var errSecretRotated = errors.New("the secret of this answer was rotated since")

const sealPrefix = "sealed:sha256:"

// secretAnswer is what sealing looks at in a stored answer.
type secretAnswer struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

func sealOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return sealPrefix + hex.EncodeToString(sum[:])
}

// endpointAnswer reads body as a webhook endpoint with its secret; the
// answers of every other operation (an invoice's, on the creation path) are
// passed over without being parsed.
func endpointAnswer(body string) (secretAnswer, bool) {
	var a secretAnswer
	if !strings.Contains(body, `"webhook_endpoint"`) || json.Unmarshal([]byte(body), &a) != nil ||
		a.Object != "webhook_endpoint" || a.Secret == "" {
		return a, false
	}
	return a, true
}

// sealSecret returns the answer body to store: a webhook endpoint's secret
// replaced by its digest; any other body as it is.
func sealSecret(body string) string {
	a, ok := endpointAnswer(body)
	if !ok {
		return body
	}
	return strings.ReplaceAll(body, a.Secret, sealOf(a.Secret))
}

// unsealSecret returns the stored body to replay, with the endpoint's secret
// back in place if it is still the one answered, or errSecretRotated.
func (s *server) unsealSecret(ctx context.Context, p invoice.Principal, body string) (string, error) {
	a, ok := endpointAnswer(body)
	if !ok {
		return body, nil
	}
	ep, err := events.GetEndpoint(ctx, s.invoices.DB(), p.MerchantID, p.Mode, a.ID)
	switch {
	case errors.Is(err, invoice.ErrNotFound):
		return "", errSecretRotated
	case err != nil:
		return "", err
	case a.Secret == sealOf(ep.Secret):
		return strings.ReplaceAll(body, a.Secret, ep.Secret), nil
	case a.Secret == ep.Secret:
		return body, nil // stored before answers were sealed, and still current
	}
	return "", errSecretRotated
}
