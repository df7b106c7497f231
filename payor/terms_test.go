package payor_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/payor"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 23, 20, 15, 0, 0, time.UTC)}
}

// testClaims are terms as the payor API signs them, at now.
func testClaims(now time.Time) payor.TermsClaims {
	return payor.TermsClaims{
		Merchant: "Devnet Shop", Amount: "25.00", Currency: "USD",
		Instructions: []invoice.Instruction{{
			Method: "usdc_devnet", Network: "devnet", Asset: "USDC",
			Token: "0x5FbDB2315678afecb367f032d93F642f64180aa3", ChainID: 1337,
			Address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", Amount: "25.000001", AmountUnits: "25000001",
			Confirmations: 1,
			URI:           "ethereum:0x5FbDB2315678afecb367f032d93F642f64180aa3@1337/transfer?address=0x70997970C51812dc3A010C7d01b50e0d17dc79C8&uint256=25000001",
		}},
		ExpiresAt: now.Add(15 * time.Minute), IssuedAt: now,
	}
}

// verify checks jws as a payor's wallet would: ES256 only, the key chosen
// by kid from the published set. It returns the claims and the kid.
func verify(t *testing.T, terms *payor.Terms, jws string) (payor.TermsClaims, string, error) {
	t.Helper()
	set, err := terms.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as /.well-known/jwks.json serves it.
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var published jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &published); err != nil {
		t.Fatal(err)
	}
	sig, err := jose.ParseSignedCompact(jws, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return payor.TermsClaims{}, "", err
	}
	if len(sig.Signatures) != 1 {
		t.Fatalf("%d signatures, want 1", len(sig.Signatures))
	}
	h := sig.Signatures[0].Header
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != payor.TermsType {
		t.Errorf("typ %v, want %s", typ, payor.TermsType)
	}
	keys := published.Key(h.KeyID)
	if len(keys) != 1 {
		return payor.TermsClaims{}, h.KeyID, fmt.Errorf("kid %q: %d published keys", h.KeyID, len(keys))
	}
	payload, err := sig.Verify(keys[0])
	if err != nil {
		return payor.TermsClaims{}, h.KeyID, err
	}
	var c payor.TermsClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c, h.KeyID, nil
}

// mustVerify is verify for terms that must verify.
func mustVerify(t *testing.T, terms *payor.Terms, jws string) (payor.TermsClaims, string) {
	t.Helper()
	c, kid, err := verify(t, terms, jws)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return c, kid
}

func mustSign(t *testing.T, terms *payor.Terms, c payor.TermsClaims) string {
	t.Helper()
	jws, err := terms.Sign(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

func TestTermsSignVerify(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		clock := newClock()
		terms := payor.NewTerms(db.DB, clock.Now)
		want := testClaims(clock.Now())
		want.JTI = "4f1c2a"
		jws := mustSign(t, terms, want)
		got, kid := mustVerify(t, terms, jws)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("claims round trip:\n got %+v\nwant %+v", got, want)
		}
		if kid == "" {
			t.Error("no kid in the header")
		}

		// The payload as a verifier sees it: registered claims by their
		// names, NumericDates, nothing that names the invoice or session.
		var raw map[string]any
		if err := json.Unmarshal(payloadOf(t, jws), &raw); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]any{
			"merchant": "Devnet Shop", "amount": "25.00", "currency": "USD", "jti": "4f1c2a",
			"exp": float64(want.ExpiresAt.Unix()), "iat": float64(want.IssuedAt.Unix()),
		} {
			if raw[name] != v {
				t.Errorf("claim %s = %v, want %v", name, raw[name], v)
			}
		}
		if len(raw) != 7 {
			t.Errorf("claims %v: want merchant, amount, currency, instructions, exp, iat, jti", raw)
		}
	})
}

func TestTermsJTIUnique(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		clock := newClock()
		terms := payor.NewTerms(db.DB, clock.Now)
		seen := map[string]bool{}
		for range 5 {
			c, _ := mustVerify(t, terms, mustSign(t, terms, testClaims(clock.Now())))
			if c.JTI == "" || seen[c.JTI] {
				t.Fatalf("jti %q: want a new one on every signing", c.JTI)
			}
			seen[c.JTI] = true
		}
		if _, err := terms.Sign(context.Background(), payor.TermsClaims{Merchant: "x"}); err == nil {
			t.Error("terms without an expiry were signed")
		}
	})
}

func TestTermsTampered(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		clock := newClock()
		terms := payor.NewTerms(db.DB, clock.Now)
		jws := mustSign(t, terms, testClaims(clock.Now()))
		parts := strings.Split(jws, ".")
		if len(parts) != 3 {
			t.Fatalf("%q is not compact JWS", jws)
		}
		payload := payloadOf(t, jws)
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			t.Fatal(err)
		}
		sig[len(sig)/2] ^= 1
		seg := []byte(parts[1])
		i := len(seg) / 2
		if seg[i] == 'A' {
			seg[i] = 'B'
		} else {
			seg[i] = 'A'
		}

		for _, tc := range []struct {
			name string
			jws  string
		}{
			{"amount", join(parts[0], []byte(strings.Replace(string(payload), `"amount":"25.00"`, `"amount":"26.00"`, 1)), parts[2])},
			{"address", join(parts[0], []byte(strings.Replace(string(payload), "0x7099", "0x7098", 1)), parts[2])},
			{"payload segment", parts[0] + "." + string(seg) + "." + parts[2]},
			{"signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)},
			{"signature dropped", parts[0] + "." + parts[1] + "."},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.jws == jws {
					t.Fatal("nothing was changed")
				}
				if c, _, err := verify(t, terms, tc.jws); err == nil {
					t.Fatalf("tampered terms verified: %+v", c)
				}
			})
		}
	})
}

func TestTermsRotate(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		ctx := context.Background()
		clock := newClock()
		terms := payor.NewTerms(db.DB, clock.Now)
		old := mustSign(t, terms, testClaims(clock.Now()))
		_, oldKID := mustVerify(t, terms, old)

		clock.Add(time.Minute)
		if err := terms.Rotate(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		fresh := mustSign(t, terms, testClaims(clock.Now()))
		_, newKID := mustVerify(t, terms, fresh)
		if newKID == oldKID {
			t.Fatalf("signed with %s after rotating", oldKID)
		}
		if _, kid := mustVerify(t, terms, old); kid != oldKID {
			t.Fatalf("old terms name %s, want %s", kid, oldKID)
		}
		if got := kids(t, terms); !reflect.DeepEqual(got, []string{newKID, oldKID}) {
			t.Fatalf("published %v, want [new old] = %v", got, []string{newKID, oldKID})
		}

		// Just before publish_until the old key is still out; at it, it is
		// gone, and the old terms no longer verify.
		clock.Add(time.Hour - time.Microsecond)
		if got := kids(t, terms); len(got) != 2 {
			t.Fatalf("published %v before publish_until, want both keys", got)
		}
		clock.Add(time.Microsecond)
		if got := kids(t, terms); !reflect.DeepEqual(got, []string{newKID}) {
			t.Fatalf("published %v after publish_until, want only %s", got, newKID)
		}
		if _, _, err := verify(t, terms, old); err == nil {
			t.Fatal("terms of an unpublished key verified")
		}
		mustVerify(t, terms, fresh)

		// Rotating again retires the second key and deletes the first.
		if err := terms.Rotate(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := kids(t, terms); len(got) != 2 || got[1] != newKID {
			t.Fatalf("published %v after the second rotation, want [third %s]", got, newKID)
		}
		n, err := db.NewSelect().Table("signing_keys").Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("%d stored keys, want 2 (the unpublished one deleted)", n)
		}
	})
}

func TestTermsKeysPersist(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		clock := newClock()
		first := payor.NewTerms(db.DB, clock.Now)
		_, kid := mustVerify(t, first, mustSign(t, first, testClaims(clock.Now())))

		// Another process: its own connections to the same database.
		other, err := invoice.OpenDB(db.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		second := payor.NewTerms(other, clock.Now)
		jws := mustSign(t, second, testClaims(clock.Now()))
		if _, got := mustVerify(t, first, jws); got != kid {
			t.Fatalf("a new Terms signed with %s, want the stored %s", got, kid)
		}
	})
}

func TestTermsFirstKeyRace(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		const processes = 4
		clock := newClock()
		all := make([]*payor.Terms, processes)
		for i := range all {
			other, err := invoice.OpenDB(db.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			all[i] = payor.NewTerms(other, clock.Now)
		}
		start := make(chan struct{})
		signed := make([]string, processes)
		errs := make([]error, processes)
		var wg sync.WaitGroup
		for i, terms := range all {
			wg.Go(func() {
				<-start
				signed[i], errs[i] = terms.Sign(context.Background(), testClaims(clock.Now()))
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		kidsSeen := map[string]bool{}
		for _, jws := range signed {
			_, kid := mustVerify(t, all[0], jws)
			kidsSeen[kid] = true
		}
		n, err := db.NewSelect().Table("signing_keys").Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || len(kidsSeen) != 1 {
			t.Fatalf("%d stored keys, %d kids used: want one key", n, len(kidsSeen))
		}
	})
}

func TestTermsJWKSShape(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		terms := payor.NewTerms(db.DB, newClock().Now)
		// Before anything was signed the set already holds the key that
		// will sign.
		set, err := terms.JWKS(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Keys) != 1 {
			t.Fatalf("jwks %s: want one key", raw)
		}
		k := doc.Keys[0]
		for name, want := range map[string]string{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig"} {
			if k[name] != want {
				t.Errorf("jwks %s = %v, want %s", name, k[name], want)
			}
		}
		for _, name := range []string{"kid", "x", "y"} {
			if s, _ := k[name].(string); s == "" {
				t.Errorf("jwks %s missing", name)
			}
		}
		if _, ok := k["d"]; ok {
			t.Fatalf("jwks %s publishes the private key", raw)
		}
		_, kid := mustVerify(t, terms, mustSign(t, terms, testClaims(time.Now())))
		if kid != k["kid"] {
			t.Errorf("signed with %s, published %v", kid, k["kid"])
		}
	})
}

// kids lists the published key ids in order.
func kids(t *testing.T, terms *payor.Terms) []string {
	t.Helper()
	set, err := terms.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// payloadOf decodes the payload segment of a compact JWS.
func payloadOf(t *testing.T, jws string) []byte {
	t.Helper()
	parts := strings.Split(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// join re-encodes a compact JWS around payload.
func join(header string, payload []byte, sig string) string {
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + sig
}
