package fiat

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// samples reads one sample per line, skipping blank lines and # comments.
func samples(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCRC16CheckValue(t *testing.T) {
	t.Parallel()
	if got := CRC16([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("CRC16(123456789) = %04X, want 29B1", got)
	}
}

func TestParseEMVCoKnownGood(t *testing.T) {
	t.Parallel()
	for _, s := range samples(t, "testdata/emvco/valid.txt") {
		p, err := ParseEMVCo(s)
		if err != nil {
			t.Errorf("ParseEMVCo(%.40s…): %v", s, err)
			continue
		}
		// Re-encoding the parsed fields gives the payload back, CRC and all.
		if got := p.String(); got != s {
			t.Errorf("round trip:\n got %s\nwant %s", got, s)
		}
	}
}

func TestParseEMVCoRefusesBadCRC(t *testing.T) {
	t.Parallel()
	for _, s := range samples(t, "testdata/emvco/invalid.txt") {
		if _, err := ParseEMVCo(s); !errors.Is(err, ErrEMVCo) {
			t.Errorf("ParseEMVCo(%.50s…) error = %v, want ErrEMVCo", s, err)
		}
	}
	var bad []string
	for _, s := range samples(t, "testdata/emvco/valid.txt") {
		// Change one character of the data: the CRC no longer matches.
		i := strings.Index(s, "5802") + 4
		bad = append(bad, s[:i]+strings.Map(func(r rune) rune { return r ^ 1 }, s[i:i+1])+s[i+1:])
	}
	for _, s := range bad {
		if _, err := ParseEMVCo(s); !errors.Is(err, ErrEMVCo) || !strings.Contains(err.Error(), "CRC") {
			t.Errorf("ParseEMVCo(%.50s…) error = %v, want a CRC error", s, err)
		}
	}
}

func TestParseEMVCoStructure(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]string{
		"empty":             "",
		"truncated":         "000201010",
		"length too long":   "000201019912",
		"non-digit length":  "00020101AB12",
		"no CRC":            "00020101021153033605802ID",
		"format not first":  "01021100020163040000",
		"bad template":      withCRC("0002010102112605ABCDE"),
		"duplicate ID":      withCRC("00020101021101021153033605802ID"),
		"empty data object": withCRC("000201010011"),
	} {
		if _, err := ParseEMVCo(s); !errors.Is(err, ErrEMVCo) {
			t.Errorf("%s: ParseEMVCo(%q) error = %v, want ErrEMVCo", name, s, err)
		}
	}
}

// withCRC appends "6304" and the correct CRC to a raw payload body.
func withCRC(body string) string {
	body += "6304"
	return body + fmt.Sprintf("%04X", CRC16([]byte(body)))
}

func TestParseTLVCountsCharacters(t *testing.T) {
	t.Parallel()
	got, err := ParseTLV("0104最佳运输0202北京")
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{"01", "最佳运输"}, {"02", "北京"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("ParseTLV = %v, want %v", got, want)
	}
	if s, _ := EncodeTLV(got); s != "0104最佳运输0202北京" {
		t.Fatalf("EncodeTLV = %q", s)
	}
	if _, err := EncodeTLV([]Field{{"01", strings.Repeat("x", 100)}}); err == nil {
		t.Fatal("EncodeTLV accepted a 100-character value")
	}
}
