package invoice

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidSerial(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		serial string
		want   bool
	}{
		{"abc", true}, {"Hall-B_07", true}, {"0a-", true}, {strings.Repeat("a", 64), true},
		{"ab", false}, {strings.Repeat("a", 65), false}, {"-abc", false}, {"_abc", false},
		{"ab/cd", false}, {"ab cd", false}, {"ab%20", false}, {"café", false}, {"ab.cd", false}, {"", false},
	} {
		if got := ValidSerial(tc.serial); got != tc.want {
			t.Errorf("ValidSerial(%q) = %v, want %v", tc.serial, got, tc.want)
		}
	}
	for range 20 {
		if s := NewSerial(); !ValidSerial(s) || len(s) != 16 {
			t.Errorf("generated serial %q", s)
		}
	}
}

func TestParseDynamic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		wantErr  string
	}{
		{"strings", `{"table":"12","waiter":"Ann"}`, map[string]string{"table": "12", "waiter": "Ann"}, ""},
		{"number kept as written", `{"amount":12.50,"covers":4}`, map[string]string{"amount": "12.50", "covers": "4"}, ""},
		{"boolean", `{"vip":true}`, map[string]string{"vip": "true"}, ""},
		{"empty object", `{}`, map[string]string{}, ""},
		{"not json", `table=12`, nil, "not a JSON object"},
		{"truncated", `{"table":`, nil, "not a JSON object"},
		{"array", `[1]`, nil, "not a JSON object"},
		{"null", `null`, nil, "not a JSON object"},
		{"trailing", `{"a":"1"} {"b":"2"}`, nil, "not a JSON object"},
		{"nested", `{"a":{"b":1}}`, nil, "not a string, number or boolean"},
		{"null value", `{"a":null}`, nil, "not a string, number or boolean"},
		{"empty key", `{"":"1"}`, nil, "keys are 1 to 32"},
		{"long key", `{"` + strings.Repeat("k", 33) + `":"1"}`, nil, "keys are 1 to 32"},
		{"long value", `{"a":"` + strings.Repeat("v", 501) + `"}`, nil, "longer than 500"},
		{"too big", `{"a":"` + strings.Repeat("v", MaxDynamicBytes) + `"}`, nil, "at most 4800"},
		{"nul in key", `{"\u0000":"1"}`, nil, "NUL"},
		{"nul in value", `{"a":"x\u0000"}`, nil, "NUL"},
		{"bad utf-8", "{\"a\":\"\xff\"}", nil, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compact, flat, err := ParseDynamic(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(flat) != len(tc.want) {
				t.Errorf("flat %v, want %v", flat, tc.want)
			}
			for k, v := range tc.want {
				if flat[k] != v {
					t.Errorf("%s = %q, want %q", k, flat[k], v)
				}
			}
			if !json.Valid([]byte(compact)) {
				t.Errorf("compact %q is not JSON", compact)
			}
		})
	}
}

// TestMergeDynamic: the merchant's own keys win, and the metadata limits
// hold.
func TestMergeDynamic(t *testing.T) {
	t.Parallel()
	md := map[string]string{"dynamic.table": "mine", "order": "42"}
	mergeDynamic(md, `{"table":"12","waiter":"Ann"}`)
	if md["dynamic.table"] != "mine" || md["dynamic.waiter"] != "Ann" || md["order"] != "42" {
		t.Errorf("merged %v", md)
	}
	full := map[string]string{}
	for i := range MaxMetadataKeys {
		full[strings.Repeat("k", i+1)] = "v"
	}
	mergeDynamic(full, `{"table":"12"}`)
	if len(full) != MaxMetadataKeys {
		t.Errorf("%d keys after merging into full metadata", len(full))
	}
}

// FuzzParseDynamic: whatever a URL carries, ParseDynamic either refuses
// it or returns JSON within the limits whose values fit the metadata.
func FuzzParseDynamic(f *testing.F) {
	for _, s := range []string{`{"table":"12"}`, `{"amount":12.5,"currency":"USD"}`, `{"a":{"b":1}}`, `[]`, `{"a":"\u00e9"}`, `{"a":1e400}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		compact, flat, err := ParseDynamic(in)
		if err != nil {
			return
		}
		if len(in) > MaxDynamicBytes || !json.Valid([]byte(compact)) || len(flat) > MaxMetadataKeys {
			t.Fatalf("accepted %q as %q", in, compact)
		}
		for k, v := range flat {
			if strings.ContainsRune(k+v, 0) {
				t.Fatalf("accepted a NUL in %q", in)
			}
			if k == "" || utf8.RuneCountInString(k) > maxDynamicKeyLen || utf8.RuneCountInString(v) > maxMetadataValLen {
				t.Fatalf("accepted %q with %q=%q", in, k, v)
			}
		}
		md := map[string]string{}
		mergeDynamic(md, compact)
		var v ValidationError
		checkMetadata(&v, md)
		if err := v.err(); err != nil {
			t.Fatalf("merged metadata of %q is invalid: %v", in, err)
		}
	})
}
