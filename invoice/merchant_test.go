package invoice_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		m, testKey, err := b.svc.CreateMerchant(b.ctx, "Keys Shop")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.ID, "mer_") || m.LiveEnabled || !strings.HasPrefix(testKey, "sk_test_") {
			t.Fatalf("merchant %+v, key %q", m, testKey)
		}
		stored, err := b.svc.Merchant(b.ctx, m.ID)
		if err != nil || stored.Name != "Keys Shop" || stored.LiveEnabled || !stored.CreatedAt.Equal(b.clock.Now()) {
			t.Errorf("stored merchant %+v, %v", stored, err)
		}

		p, err := b.svc.Authenticate(b.ctx, testKey)
		if err != nil {
			t.Fatal(err)
		}
		if p.MerchantID != m.ID || p.Mode != invoice.ModeTest || p.Scope != invoice.ScopeMerchant || p.LiveEnabled ||
			!strings.HasPrefix(testKey, p.KeyPrefix) || len(p.KeyPrefix) != len("sk_test_")+8 {
			t.Errorf("principal %+v", p)
		}

		liveKey, liveRow, err := b.svc.CreateKey(b.ctx, m.ID, invoice.ModeLive, invoice.ScopeRead)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(liveKey, "sk_live_") || liveRow.Hash != sha256Hex(liveKey) || !strings.HasPrefix(liveKey, liveRow.Prefix) {
			t.Errorf("live key %q, row %+v", liveKey, liveRow)
		}
		p, err = b.svc.Authenticate(b.ctx, liveKey)
		if err != nil || p.Mode != invoice.ModeLive || p.Scope != invoice.ScopeRead || p.LiveEnabled {
			t.Errorf("live principal %+v, %v", p, err)
		}
		if err := b.svc.EnableLive(b.ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		if p, err = b.svc.Authenticate(b.ctx, liveKey); err != nil || !p.LiveEnabled {
			t.Errorf("after EnableLive: %+v, %v", p, err)
		}
		if err := b.svc.EnableLive(b.ctx, m.ID); err != nil {
			t.Errorf("EnableLive twice: %v", err)
		}

		// Only the SHA-256 hash is stored: no column of any key row holds
		// the secret, or its part beyond the shown prefix.
		var rows []map[string]any
		if err := db.NewSelect().TableExpr("api_keys").Scan(b.ctx, &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 { // setup's merchant, this one's test key, the live key
			t.Errorf("%d key rows, want 3", len(rows))
		}
		dump := fmt.Sprint(rows)
		for _, secret := range []string{testKey, liveKey} {
			if strings.Contains(dump, secret) || strings.Contains(dump, secret[len("sk_test_")+8:]) {
				t.Errorf("api_keys holds the secret %s…: %s", secret[:12], dump)
			}
			if !strings.Contains(dump, sha256Hex(secret)) {
				t.Errorf("api_keys lacks the SHA-256 of %s…", secret[:12])
			}
		}

		if err := b.svc.RevokeKey(b.ctx, liveRow.Prefix); err != nil {
			t.Fatal(err)
		}
		if err := b.svc.RevokeKey(b.ctx, liveRow.Prefix); err != nil {
			t.Errorf("revoking twice: %v", err)
		}
		if _, err := b.svc.Authenticate(b.ctx, liveKey); !errors.Is(err, invoice.ErrUnauthenticated) {
			t.Errorf("revoked key: err = %v", err)
		}
		if _, err := b.svc.Authenticate(b.ctx, testKey); err != nil {
			t.Errorf("revoking one key revoked another: %v", err)
		}

		for name, secret := range map[string]string{
			"unknown":         "sk_test_" + strings.Repeat("a", 32),
			"changed":         changeLast(testKey),
			"empty":           "",
			"no prefix":       testKey[len("sk_test_"):],
			"other prefix":    "pk_test_" + testKey[len("sk_test_"):],
			"too long":        testKey + strings.Repeat("a", 200),
			"prefix only":     p.KeyPrefix,
			"hash as the key": sha256Hex(testKey),
		} {
			if _, err := b.svc.Authenticate(b.ctx, secret); !errors.Is(err, invoice.ErrUnauthenticated) {
				t.Errorf("%s key: err = %v, want ErrUnauthenticated", name, err)
			}
		}

		if _, _, err := b.svc.CreateKey(b.ctx, "mer_unknown", invoice.ModeTest, invoice.ScopeRead); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("key for unknown merchant: %v", err)
		}
		var ve *invoice.ValidationError
		if _, _, err := b.svc.CreateKey(b.ctx, m.ID, "prod", invoice.ScopeRead); !errors.As(err, &ve) {
			t.Errorf("bad mode: %v", err)
		}
		if _, _, err := b.svc.CreateKey(b.ctx, m.ID, invoice.ModeTest, "admin"); !errors.As(err, &ve) {
			t.Errorf("bad scope: %v", err)
		}
		if err := b.svc.RevokeKey(b.ctx, "sk_test_nothing"); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("revoke unknown: %v", err)
		}
		if err := b.svc.EnableLive(b.ctx, "mer_unknown"); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("enable unknown: %v", err)
		}
		if _, err := b.svc.Merchant(b.ctx, "mer_unknown"); !errors.Is(err, invoice.ErrNotFound) {
			t.Errorf("unknown merchant: %v", err)
		}
		for _, name := range []string{"", strings.Repeat("x", 201)} {
			if _, _, err := b.svc.CreateMerchant(b.ctx, name); !errors.As(err, &ve) {
				t.Errorf("merchant name of %d characters: %v", len(name), err)
			}
		}
	})
}

// changeLast returns s with its last character replaced by another.
func changeLast(s string) string {
	if strings.HasSuffix(s, "a") {
		return s[:len(s)-1] + "b"
	}
	return s[:len(s)-1] + "a"
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestSetting(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		b := setup(t, db)
		first, err := invoice.Setting(b.ctx, db, "secret_key", func() string { return "one" })
		if err != nil || first != "one" {
			t.Fatalf("first = %q, %v", first, err)
		}
		second, err := invoice.Setting(b.ctx, db, "secret_key", func() string { return "two" })
		if err != nil || second != "one" {
			t.Errorf("second = %q, %v; want the stored value", second, err)
		}
		other, err := invoice.Setting(b.ctx, db, "other", func() string { return "three" })
		if err != nil || other != "three" {
			t.Errorf("other = %q, %v", other, err)
		}

		// Concurrent first calls agree on one value.
		const n = 8
		got := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := invoice.Setting(b.ctx, db, "raced", func() string { return fmt.Sprint("value-", i) })
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
				}
				got[i] = v
			}()
		}
		wg.Wait()
		for i := range got {
			if got[i] != got[0] || got[i] == "" {
				t.Fatalf("concurrent first calls disagree: %v", got)
			}
		}
	})
}

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	var prev string
	for i := range 1000 {
		id := invoice.NewID("inv_", t0.Add(timeMillis(i)))
		if len(id) != len("inv_")+26 || seen[id] {
			t.Fatalf("id %q (length %d, duplicate %v)", id, len(id), seen[id])
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("ids do not sort by time: %s after %s", id, prev)
		}
		prev = id
		for _, c := range id[4:] {
			if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
				t.Fatalf("id %q has %q", id, c)
			}
		}
	}
}

func TestNewIDIncreasesWithinAMillisecond(t *testing.T) {
	t.Parallel()
	at := time.Now()
	prev := invoice.NewID("evt_", at)
	for range 10000 {
		id := invoice.NewID("evt_", at)
		if id <= prev {
			t.Fatalf("id %s does not sort after %s from the same millisecond", id, prev)
		}
		prev = id
	}
}
