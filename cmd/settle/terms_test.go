package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/settlepay/settle/invoice/storetest"
)

// TestRotateTerms: `settle keys rotate-terms` makes a new signing key for
// payment terms while the old one stays in the running server's JWKS; with
// no publication time, the key it retires goes at once.
func TestRotateTerms(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, dialect)
			base, stop := e2eServe(t, db.URL)
			defer stop()
			jwks := func() []string {
				res, err := http.Get(base + "/.well-known/jwks.json")
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var set struct{ Keys []struct{ Kid string } }
				if err := json.NewDecoder(res.Body).Decode(&set); err != nil || res.StatusCode != 200 {
					t.Fatalf("jwks: %d %v", res.StatusCode, err)
				}
				var kids []string
				for _, k := range set.Keys {
					kids = append(kids, k.Kid)
				}
				slices.Sort(kids)
				return kids
			}
			first := jwks()
			if len(first) != 1 {
				t.Fatalf("first key set %v", first)
			}
			out := e2eJSON(t, "keys", "rotate-terms", "--database-url", db.URL)
			second := out["published_kids"].([]any)
			if len(second) != 2 || !slices.Contains(second, any(first[0])) {
				t.Fatalf("after rotation %v", out)
			}
			if got := jwks(); len(got) != 2 || !slices.Contains(got, first[0]) {
				t.Errorf("served after rotation %v", got)
			}
			// Retiring the second key with no publication time removes it
			// at once; the first stays for its seven days.
			out = e2eJSON(t, "keys", "rotate-terms", "--publish-for", "0s", "--database-url", db.URL)
			third := out["published_kids"].([]any)
			newest := slices.DeleteFunc(slices.Clone(second), func(k any) bool { return k == first[0] })[0]
			if len(third) != 2 || !slices.Contains(third, any(first[0])) || slices.Contains(third, newest) {
				t.Errorf("after rotation without publication %v (second key %v)", out, newest)
			}
			if got := jwks(); len(got) != 2 || slices.Contains(got, newest.(string)) {
				t.Errorf("served %v", got)
			}
		})
	}
}
