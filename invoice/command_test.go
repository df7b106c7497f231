package invoice_test

import (
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// The known answer below was computed by Node.js (JSON.stringify of the
// object with sorted keys; crypto.createHmac), as a browser terminal signs:
// the Go side must agree byte for byte on the canonical form, whatever
// escapes, member order and whitespace the frame itself used.
const (
	kaSecret    = "tcs_example_secret"
	kaCanonical = "{\"allow_tip\":true,\"amount\":\"12.50\",\"command_id\":\"c1\",\"currency\":\"USD\",\"methods\":[\"usdc_devnet\"],\"nonce\":\"0123456789abcdef0123456789abcdef\",\"reference\":\"Café \\\"7\\\"\\n\\u0001<&>\u2028\",\"ts\":1764780000,\"type\":\"create_session\"}"
	kaSig       = "8989615dfca82bf72f53c2c497fff1679b3b85cd2ca879aa46be1af81d176c90"
	// The same command as Go's encoder would send it (\u003c for <, …), in
	// another order and with spaces.
	kaFrame = `{ "type": "create_session", "sig": "` + kaSig + `", "ts": 1764780000, "nonce": "0123456789abcdef0123456789abcdef",
	  "reference": "Caf\u00e9 \"7\"\n\u0001\u003c\u0026\u003e\u2028", "methods": ["usdc_devnet"], "currency": "USD",
	  "command_id": "c1", "amount": "12.50", "allow_tip": true }`
)

// TestCommandWorkedExample is the report's worked example: the same
// canonical form signed by `openssl dgst -sha256 -hmac`.
func TestCommandWorkedExample(t *testing.T) {
	t.Parallel()
	frame := `{"type":"create_session","command_id":"c1","ts":1764780000,"nonce":"0123456789abcdef0123456789abcdef",` +
		`"amount":"12.50","currency":"USD","reference":"sale-1042","allow_tip":false,` +
		`"sig":"3806d5cb805255940d2a338453e8ee1140ddd5db1002baca971320de046643d5"}`
	if _, err := invoice.VerifyCommand("tcs_example_secret", []byte(frame), time.Unix(1764780000, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestCommandKnownAnswer(t *testing.T) {
	t.Parallel()
	canonical, err := invoice.CanonicalCommand([]byte(kaFrame))
	if err != nil {
		t.Fatal(err)
	}
	if string(canonical) != kaCanonical {
		t.Fatalf("canonical form\n%s\nwant\n%s", canonical, kaCanonical)
	}
	if got := hex.EncodeToString(invoice.SignCommand(kaSecret, 1764780000, "0123456789abcdef0123456789abcdef", canonical)); got != kaSig {
		t.Fatalf("sig %s, want %s", got, kaSig)
	}
	cmd, err := invoice.VerifyCommand(kaSecret, []byte(kaFrame), time.Unix(1764780000+299, 0))
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Type != "create_session" || cmd.ID != "c1" || cmd.TS != 1764780000 || cmd.Nonce != "0123456789abcdef0123456789abcdef" {
		t.Errorf("command %+v", cmd)
	}
}

func TestVerifyCommandRefusals(t *testing.T) {
	t.Parallel()
	at := time.Unix(1764780000, 0)
	for _, tc := range []struct {
		name, secret, frame string
		now                 time.Time
		code                string
	}{
		{"other secret", "tcs_other", kaFrame, at, "invalid_signature"},
		{"changed amount", kaSecret, replace(kaFrame, `"12.50"`, `"12.51"`), at, "invalid_signature"},
		{"added member", kaSecret, replace(kaFrame, `"allow_tip": true`, `"allow_tip": true, "x": 1`), at, "invalid_signature"},
		{"no sig", kaSecret, replace(kaFrame, `"sig"`, `"sog"`), at, "invalid_signature"},
		{"sig not hex", kaSecret, replace(kaFrame, kaSig, "zz"), at, "invalid_signature"},
		{"stale", kaSecret, kaFrame, at.Add(5*time.Minute + time.Second), "stale_command"},
		{"from the future", kaSecret, kaFrame, at.Add(-5*time.Minute - time.Second), "stale_command"},
		{"ts a string", kaSecret, replace(kaFrame, `"ts": 1764780000`, `"ts": "1764780000"`), at, "invalid_command"},
		{"ts a float", kaSecret, replace(kaFrame, `"ts": 1764780000`, `"ts": 1764780000.0`), at, "invalid_command"},
		{"ts exponent", kaSecret, replace(kaFrame, `"ts": 1764780000`, `"ts": 1.76478e9`), at, "invalid_command"},
		{"short nonce", kaSecret, replace(kaFrame, `"0123456789abcdef0123456789abcdef"`, `"0123"`), at, "invalid_command"},
		{"nonce with a dot", kaSecret, replace(kaFrame, `"0123456789abcdef0123456789abcdef"`, `"0123456789abcdef.0123"`), at, "invalid_command"},
		{"float member", kaSecret, replace(kaFrame, `"allow_tip": true`, `"allow_tip": 0.5`), at, "invalid_command"},
		{"no type", kaSecret, replace(kaFrame, `"type"`, `"typo"`), at, "invalid_command"},
		{"array", kaSecret, `[1,2]`, at, "invalid_command"},
		{"two objects", kaSecret, kaFrame + `{}`, at, "invalid_command"},
		{"not UTF-8", kaSecret, "{\"type\":\"\xff\"}", at, "invalid_command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := invoice.VerifyCommand(tc.secret, []byte(tc.frame), tc.now)
			var ce *invoice.CommandError
			if !errors.As(err, &ce) || ce.Code != tc.code || ce.Message == "" {
				t.Fatalf("err %v, want code %s", err, tc.code)
			}
		})
	}
}

func replace(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	panic("replace: " + old + " not found")
}

// FuzzVerifyCommand checks that no frame makes VerifyCommand panic, and
// that the canonical form is a fixed point: the canonical form of a
// canonical form is itself (so signer and verifier cannot drift).
func FuzzVerifyCommand(f *testing.F) {
	f.Add([]byte(kaFrame))
	f.Add([]byte(`{"type":"ping","ts":1764780000,"nonce":"0123456789abcdef","sig":"00"}`))
	f.Add([]byte(`{"a":[{"b":[[null]]}],"type":"x","ts":-1,"nonce":"________________","sig":""}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		invoice.VerifyCommand(kaSecret, frame, time.Unix(1764780000, 0))
		canonical, err := invoice.CanonicalCommand(frame)
		if err != nil {
			return
		}
		again, err := invoice.CanonicalCommand(canonical)
		if err != nil || string(again) != string(canonical) {
			t.Fatalf("canonical form %q is not canonical: %q, %v", canonical, again, err)
		}
	})
}

// TestUseNonce checks that a nonce is taken once per terminal, also by two
// callers at once, and forgotten after it expires.
func TestUseNonce(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		b := setup(t, db)
		a, _, err := b.svc.CreateTerminal(b.ctx, invoice.CreateTerminalParams{MerchantID: b.merchant, Mode: invoice.ModeTest, Name: "A"})
		if err != nil {
			t.Fatal(err)
		}
		other, _, err := b.svc.CreateTerminal(b.ctx, invoice.CreateTerminalParams{MerchantID: b.merchant, Mode: invoice.ModeTest, Name: "B"})
		if err != nil {
			t.Fatal(err)
		}
		expires := b.clock.Now().Add(10 * time.Minute)
		var wg sync.WaitGroup
		results := make([]error, 8)
		for i := range results {
			wg.Go(func() { results[i] = b.svc.UseNonce(b.ctx, a.ID, "nonce-0000000001", expires) })
		}
		wg.Wait()
		ok := 0
		for _, err := range results {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, invoice.ErrReplay):
				t.Fatalf("UseNonce: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent uses of one nonce succeeded, want 1", ok, len(results))
		}
		if err := b.svc.UseNonce(b.ctx, other.ID, "nonce-0000000001", expires); err != nil {
			t.Fatalf("another terminal's nonce: %v", err)
		}
		b.clock.Advance(11 * time.Minute)
		if err := b.svc.UseNonce(b.ctx, a.ID, "nonce-0000000002", b.clock.Now().Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := b.svc.UseNonce(b.ctx, a.ID, "nonce-0000000001", b.clock.Now().Add(10*time.Minute)); err != nil {
			t.Fatalf("an expired nonce is not forgotten: %v", err)
		}
	})
}
