package fiat

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestNewReferenceParses(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 2000 {
		ref := NewReference()
		if len(ref) != len(ReferencePrefix)+referenceBody+1 || !strings.HasPrefix(ref, ReferencePrefix) {
			t.Fatalf("NewReference() = %q, want ST- and six symbols", ref)
		}
		got, err := ParseReference(ref)
		if err != nil || got != ref {
			t.Fatalf("ParseReference(%q) = %q, %v", ref, got, err)
		}
		seen[ref] = true
	}
	if len(seen) < 1990 {
		t.Errorf("only %d distinct references in 2000", len(seen))
	}
}

// TestReferenceCheckCatchesTypos tries every single-symbol substitution and
// every adjacent transposition, check symbol included, on random references.
func TestReferenceCheckCatchesTypos(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		body := make([]byte, referenceBody)
		for i := range body {
			body[i] = referenceAlphabet[rng.IntN(32)]
		}
		sym := append(body, referenceAlphabet[checkSymbol(body)])
		valid := func(s []byte) bool {
			_, err := ParseReference(ReferencePrefix + string(s))
			return err == nil
		}
		if !valid(sym) {
			t.Fatalf("%s: own check fails", sym)
		}
		for i := range sym {
			for _, c := range []byte(referenceAlphabet) {
				if c == sym[i] {
					continue
				}
				typo := append([]byte(nil), sym...)
				typo[i] = c
				if valid(typo) {
					t.Fatalf("substitution %s → %s not caught", sym, typo)
				}
			}
			if i+1 < len(sym) && sym[i] != sym[i+1] {
				typo := append([]byte(nil), sym...)
				typo[i], typo[i+1] = typo[i+1], typo[i]
				if valid(typo) {
					t.Fatalf("transposition %s → %s not caught", sym, typo)
				}
			}
		}
	}
}

func TestParseReferenceNormalises(t *testing.T) {
	t.Parallel()
	body := []byte("70K1Q")
	ref := ReferencePrefix + string(body) + string(referenceAlphabet[checkSymbol(body)])
	tail := ref[len(ReferencePrefix):]
	for _, in := range []string{
		ref,
		strings.ToLower(ref),
		"ST" + tail,
		"st " + strings.ToLower(tail),
		" ST - " + tail[:3] + " " + tail[3:] + " ",
		"ST-7OKIQ" + tail[5:], // O read as 0, I as 1
		"ST-7oklq" + tail[5:], // l read as 1
	} {
		got, err := ParseReference(in)
		if err != nil || got != ref {
			t.Errorf("ParseReference(%q) = %q, %v; want %q", in, got, err, ref)
		}
	}
	for _, in := range []string{"", "ST-", "XX-" + tail, ref + "0", ref[:len(ref)-1], "ST-70K1QU", "ST-70K1Q!"} {
		if _, err := ParseReference(in); !errors.Is(err, ErrBadReference) {
			t.Errorf("ParseReference(%q) error = %v, want ErrBadReference", in, err)
		}
	}
}

func TestFindReference(t *testing.T) {
	t.Parallel()
	ref := NewReference()
	tail := ref[len(ReferencePrefix):]
	bad := ReferencePrefix + tail[:5] + string(referenceAlphabet[(strings.IndexByte(referenceAlphabet, tail[5])+1)%32])
	for _, tc := range []struct {
		text string
		want string
	}{
		{"INVOICE " + ref + " THANK YOU", ref},
		{"ref:" + strings.ToLower(ref), ref},
		{"REF:ST" + tail + "/RFB", ref},
		{"PAYMENT ST " + tail, ref},
		{bad + " then " + ref, ref},
		{"FIRST" + tail, ""}, // not a word of its own
		{"X" + ref + "Y", ""},
		{bad, ""},
		{"nothing here", ""},
		{"ST", ""},
	} {
		got, ok := FindReference(tc.text)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("FindReference(%q) = %q, %v; want %q", tc.text, got, ok, tc.want)
		}
	}
}
