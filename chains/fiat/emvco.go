package fiat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrEMVCo is wrapped by every error of [ParseEMVCo] and [ParseTLV].
var ErrEMVCo = errors.New("emvco payload")

// Field is one EMVCo data object: a two-digit ID and its value. The value of
// a template (IDs 26–51, 62, 64 and 80–99 at the root) is itself a list of
// fields; read it with [ParseTLV].
type Field struct {
	ID    string
	Value string
}

// Payload is a merchant-presented QR payload (EMVCo MPM) as its root fields
// in order, the CRC (ID 63) last.
type Payload []Field

// EMVCo root IDs used here.
const (
	idFormat     = "00"
	idInitiation = "01"
	idMCC        = "52"
	idCurrency   = "53"
	idAmount     = "54"
	idTip        = "55"
	idTipFixed   = "56"
	idTipPercent = "57"
	idCountry    = "58"
	idName       = "59"
	idCity       = "60"
	idAdditional = "62"
	idCRC        = "63"
)

// isTemplate reports whether a root ID holds nested data objects.
func isTemplate(id string) bool {
	n, _ := strconv.Atoi(id)
	return n >= 26 && n <= 51 || n == 62 || n == 64 || n >= 80 && n <= 99
}

// ParseTLV splits one level of EMVCo data objects: ID (two digits), length
// (two digits, counted in characters, as the specification's UTF-8 merchant
// names in template 64 require) and value.
func ParseTLV(s string) ([]Field, error) {
	var out []Field
	for rest := s; rest != ""; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: truncated data object %q", ErrEMVCo, rest)
		}
		id, ln := rest[:2], rest[2:4]
		if !isDigits(id) || !isDigits(ln) {
			return nil, fmt.Errorf("%w: bad ID or length %q", ErrEMVCo, rest[:4])
		}
		n, _ := strconv.Atoi(ln)
		rest = rest[4:]
		end := runeOffset(rest, n)
		if end < 0 {
			return nil, fmt.Errorf("%w: ID %s claims %d characters, %d left", ErrEMVCo, id, n, utf8.RuneCountInString(rest))
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: ID %s is empty", ErrEMVCo, id)
		}
		out = append(out, Field{ID: id, Value: rest[:end]})
		rest = rest[end:]
	}
	return out, nil
}

// runeOffset returns the byte offset after n runes of s, or -1.
func runeOffset(s string, n int) int {
	off := 0
	for i := 0; i < n; i++ {
		if off >= len(s) {
			return -1
		}
		_, size := utf8.DecodeRuneInString(s[off:])
		off += size
	}
	return off
}

// EncodeTLV writes fields as EMVCo data objects. A value longer than 99
// characters cannot be encoded.
func EncodeTLV(fields []Field) (string, error) {
	var b strings.Builder
	for _, f := range fields {
		n := utf8.RuneCountInString(f.Value)
		if len(f.ID) != 2 || !isDigits(f.ID) || n == 0 || n > 99 {
			return "", fmt.Errorf("%w: ID %q: value must be 1–99 characters, has %d", ErrEMVCo, f.ID, n)
		}
		fmt.Fprintf(&b, "%s%02d%s", f.ID, n, f.Value)
	}
	return b.String(), nil
}

// CRC16 is CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no
// reflection, no final XOR), the EMVCo payload checksum.
func CRC16(data []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, b := range data {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// ParseEMVCo parses a merchant-presented payload and checks its structure:
// every root data object well formed, every template parsing as nested data
// objects, ID 00 first with "01", and ID 63 last holding the CRC of
// everything before its value (including "6304") as four upper- or
// lower-case hex digits.
func ParseEMVCo(s string) (Payload, error) {
	fields, err := ParseTLV(s)
	if err != nil {
		return nil, err
	}
	if len(fields) < 2 || fields[0].ID != idFormat || fields[0].Value != "01" {
		return nil, fmt.Errorf("%w: must start with payload format indicator 000201", ErrEMVCo)
	}
	last := fields[len(fields)-1]
	if last.ID != idCRC || len(last.Value) != 4 {
		return nil, fmt.Errorf("%w: must end with CRC data object 6304xxxx", ErrEMVCo)
	}
	want := fmt.Sprintf("%04X", CRC16([]byte(s[:len(s)-4])))
	if !strings.EqualFold(last.Value, want) {
		return nil, fmt.Errorf("%w: CRC is %s, payload gives %s", ErrEMVCo, last.Value, want)
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.ID] {
			return nil, fmt.Errorf("%w: ID %s appears twice", ErrEMVCo, f.ID)
		}
		seen[f.ID] = true
		if isTemplate(f.ID) {
			if _, err := ParseTLV(f.Value); err != nil {
				return nil, fmt.Errorf("template %s: %w", f.ID, err)
			}
		}
	}
	return Payload(fields), nil
}

// Get returns the value of root ID id.
func (p Payload) Get(id string) (string, bool) {
	for _, f := range p {
		if f.ID == id {
			return f.Value, true
		}
	}
	return "", false
}

// Template returns the nested fields of template id (nil if absent).
func (p Payload) Template(id string) ([]Field, error) {
	v, ok := p.Get(id)
	if !ok {
		return nil, nil
	}
	return ParseTLV(v)
}

// String encodes the payload with its CRC recomputed; it returns "" when a
// field cannot be encoded (use [Payload.Encode] for the error).
func (p Payload) String() string {
	s, _ := p.Encode()
	return s
}

// Encode writes the payload, dropping any CRC field and appending a fresh one.
func (p Payload) Encode() (string, error) {
	body := make([]Field, 0, len(p))
	for _, f := range p {
		if f.ID != idCRC {
			body = append(body, f)
		}
	}
	s, err := EncodeTLV(body)
	if err != nil {
		return "", err
	}
	s += idCRC + "04"
	return s + fmt.Sprintf("%04X", CRC16([]byte(s))), nil
}

// set replaces field id in place, or inserts it before the first field with
// a larger ID (the CRC stays last); an empty value removes the field.
func (p Payload) set(id, value string) Payload {
	out := make(Payload, 0, len(p)+1)
	done := false
	for _, f := range p {
		switch {
		case f.ID == id:
			if value != "" {
				out = append(out, Field{id, value})
			}
			done = true
			continue
		case !done && value != "" && (f.ID > id || f.ID == idCRC):
			out = append(out, Field{id, value})
			done = true
		}
		out = append(out, f)
	}
	if !done && value != "" {
		out = append(out, Field{id, value})
	}
	return out
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
