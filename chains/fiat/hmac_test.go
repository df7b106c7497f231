package fiat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	// Computed independently: the HMAC of "<t>.<body>" in hex.
	secret, body := []byte("whsec_test"), []byte(`{"a":1}`)
	at := time.Unix(1735689600, 0)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1735689600." + string(body)))
	want := "t=1735689600,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign(secret, body, at); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	secret, body := []byte("acct-secret"), []byte(`<Document/>`)
	now := time.Unix(1735689600, 0)
	good := Sign(secret, body, now.Add(-time.Minute))
	rotated := Sign([]byte("old"), body, now) + "," + strings.Split(Sign(secret, body, now), ",")[1]
	for _, tc := range []struct {
		name   string
		secret []byte
		header string
		body   []byte
		want   error
	}{
		{"valid", secret, good, body, nil},
		{"valid with spaces", secret, strings.ReplaceAll(good, ",", ", "), body, nil},
		{"one of two signatures matches", secret, rotated, body, nil},
		{"altered body", secret, good, []byte(`<Document>x</Document>`), ErrSignature},
		{"other secret", []byte("other"), good, body, ErrSignature},
		{"no secret", nil, good, body, ErrSignature},
		{"empty header", secret, "", body, ErrSignature},
		{"no timestamp", secret, good[strings.Index(good, ",")+1:], body, ErrSignature},
		{"timestamp changed", secret, strings.Replace(good, "t=17", "t=18", 1), body, ErrSignature},
		{"truncated signature", secret, good[:len(good)-2], body, ErrSignature},
		{"replayed after tolerance", secret, Sign(secret, body, now.Add(-SignatureTolerance-time.Second)), body, ErrStale},
		{"from the future", secret, Sign(secret, body, now.Add(SignatureTolerance+time.Second)), body, ErrStale},
	} {
		err := VerifySignature(tc.secret, tc.header, tc.body, now)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: VerifySignature = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// testNow is a fixed clock for signature tests.
var testNow = time.Unix(1735689600, 0)
