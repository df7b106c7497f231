package payor_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/settlepay/settle/payor"
)

func TestSignerLinksVerify(t *testing.T) {
	t.Parallel()
	s := payor.NewSigner([]byte("0123456789abcdef0123456789abcdef"), "https://pay.example.com/")
	u, h := s.Links("tok123")
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Scheme != "https" || parsed.Host != "pay.example.com" || parsed.Path != "/pay/tok123" {
		t.Fatalf("payment_url %s: want https://pay.example.com/pay/tok123?sig=…", u)
	}
	sig := parsed.Query().Get("sig")
	if sig != h.Signature || h.SessionToken != "tok123" || len(sig) != 64 {
		t.Fatalf("url sig %q, headers %+v: want the same 64-hex signature", sig, h)
	}
	if !s.Verify("tok123", sig) {
		t.Fatal("own signature does not verify")
	}
	for _, bad := range []string{"", sig[:63], strings.ToUpper(sig), sig[:63] + "0"} {
		if bad != sig && s.Verify("tok123", bad) {
			t.Fatalf("signature %q verified", bad)
		}
	}
	if s.Verify("tok124", sig) {
		t.Fatal("signature verified for another token")
	}
	other := payor.NewSigner([]byte("another secret key of 32 bytes!!"), "https://pay.example.com")
	if other.Verify("tok123", sig) {
		t.Fatal("signature verified under another secret")
	}
}

func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	// HMAC-SHA256(key="0123456789abcdef0123456789abcdef", "settle/session/v1:tok123"),
	// computed independently with: printf 'settle/session/v1:tok123' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
	const want = "6ed9eae695984a28e13698ab04a253b2da50c171ecb11b74232f83ec32b86e1c"
	s := payor.NewSigner([]byte("0123456789abcdef0123456789abcdef"), "")
	if got := s.Sign("tok123"); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}
