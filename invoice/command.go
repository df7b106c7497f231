package invoice

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// A terminal signs each command it sends over its WebSocket with its
// command secret:
//
//	sig = hex(HMAC-SHA256(command_secret, "<ts>.<nonce>.<JCS of the command without sig>"))
//
// where the command is the JSON object sent, with integer "ts" (Unix
// seconds) and string "nonce" (16 to 64 characters of [A-Za-z0-9_-]) among
// its members, and JCS is the JSON Canonicalization Scheme (RFC 8785):
// members sorted by their names' UTF-16 code units, no whitespace, strings
// escaped as ECMAScript's JSON.stringify escapes them. A browser computes it
// as JSON.stringify of the object with sorted keys. Numbers must be
// integers of at most 15 digits (their canonical form is then their
// decimal digits), so no float formatting enters the signature.

// CommandTolerance is how far a command's ts may be from the server's
// clock, either way; its nonce is remembered for twice as long.
const CommandTolerance = 5 * time.Minute

// Reasons a command is refused; [CommandError.Code] is the stable code.
var (
	ErrCommandMalformed = errors.New("malformed command")
	ErrCommandSignature = errors.New("bad command signature")
	ErrCommandStale     = errors.New("stale command")
)

// CommandError says why a command was refused, for the terminal.
type CommandError struct {
	Code    string // invalid_command, invalid_signature, stale_command, replayed_command
	Message string
	Err     error
}

func (e *CommandError) Error() string { return e.Message }
func (e *CommandError) Unwrap() error { return e.Err }

func malformed(format string, args ...any) error {
	return &CommandError{Code: "invalid_command", Message: fmt.Sprintf(format, args...), Err: ErrCommandMalformed}
}

var nonceRe = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// Command is a verified command's envelope; Raw holds all its members
// for the caller to decode.
type Command struct {
	Type  string
	ID    string // the terminal's command_id, echoed in the answer; may be empty
	TS    int64
	Nonce string
	Raw   []byte // the command as received
}

// CommandID reads the command_id of a message that may not verify, so an
// error can name it.
func CommandID(raw []byte) string {
	var m struct {
		ID any `json:"command_id"`
	}
	json.Unmarshal(raw, &m)
	if s, ok := m.ID.(string); ok && len(s) <= 64 {
		return s
	}
	return ""
}

// VerifyCommand checks a command's form, its signature with secret and its
// timestamp against now. It does not check the nonce against earlier ones
// (see [Service.UseNonce]).
func VerifyCommand(secret string, raw []byte, now time.Time) (Command, error) {
	if !utf8.Valid(raw) {
		return Command{}, malformed("the command is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return Command{}, malformed("the command must be one JSON object")
	}
	if dec.More() {
		return Command{}, malformed("the command must be one JSON object")
	}
	var c Command
	c.Raw = raw
	var ok bool
	if c.Type, ok = obj["type"].(string); !ok || c.Type == "" {
		return Command{}, malformed("type: required, a string")
	}
	if v, present := obj["command_id"]; present {
		if c.ID, ok = v.(string); !ok || len(c.ID) > 64 {
			return Command{}, malformed("command_id: a string of at most 64 characters")
		}
	}
	sig, ok := obj["sig"].(string)
	if !ok || sig == "" {
		return Command{}, &CommandError{Code: "invalid_signature", Message: "sig: required: hex HMAC-SHA256 of \"<ts>.<nonce>.<canonical command>\" with the terminal's command secret", Err: ErrCommandSignature}
	}
	ts, ok := obj["ts"].(json.Number)
	if !ok {
		return Command{}, malformed("ts: required, an integer (Unix seconds)")
	}
	if c.TS, ok = canonicalInt(ts); !ok {
		return Command{}, malformed("ts: required, an integer (Unix seconds)")
	}
	if c.Nonce, ok = obj["nonce"].(string); !ok || !nonceRe.MatchString(c.Nonce) {
		return Command{}, malformed("nonce: required, 16 to 64 characters of A-Z, a-z, 0-9, _ and -")
	}
	delete(obj, "sig")
	var b bytes.Buffer
	if err := appendCanonical(&b, obj, 0); err != nil {
		return Command{}, err
	}
	want := SignCommand(secret, c.TS, c.Nonce, b.Bytes())
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return Command{}, &CommandError{Code: "invalid_signature", Message: "sig does not match: sign \"<ts>.<nonce>.<canonical command>\" (RFC 8785 JSON of the command without sig) with HMAC-SHA256 and the terminal's command secret, in hex", Err: ErrCommandSignature}
	}
	at := time.Unix(c.TS, 0)
	if d := now.Sub(at); d > CommandTolerance || d < -CommandTolerance {
		return Command{}, &CommandError{Code: "stale_command", Err: ErrCommandStale,
			Message: fmt.Sprintf("ts %d is %s from the server's time %d; commands must be signed within %s of it", c.TS, d.Abs().Round(time.Second), now.Unix(), CommandTolerance)}
	}
	return c, nil
}

// SignCommand returns the HMAC-SHA256 of "<ts>.<nonce>.<canonical>" with
// secret: what a command's sig carries, hex-encoded.
func SignCommand(secret string, ts int64, nonce string, canonical []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.%s.", ts, nonce)
	m.Write(canonical)
	return m.Sum(nil)
}

// CanonicalCommand returns the RFC 8785 form of a command's JSON without
// its sig member: what is signed after "<ts>.<nonce>.".
func CanonicalCommand(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, malformed("the command must be one JSON object")
	}
	delete(obj, "sig")
	var b bytes.Buffer
	err := appendCanonical(&b, obj, 0)
	return b.Bytes(), err
}

// canonicalInt accepts an integer of at most 15 digits written as JCS
// writes it (no sign but minus, no leading zero, fraction or exponent).
func canonicalInt(n json.Number) (int64, bool) {
	s := string(n)
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" || len(digits) > 15 || (len(digits) > 1 && digits[0] == '0') || s == "-0" {
		return 0, false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

const maxCommandDepth = 8

func appendCanonical(b *bytes.Buffer, v any, depth int) error {
	if depth > maxCommandDepth {
		return malformed("the command nests too deep")
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		if _, ok := canonicalInt(v); !ok {
			return malformed("numbers must be integers of at most 15 digits (amounts are strings): %s", v)
		}
		b.WriteString(string(v))
	case string:
		appendJCSString(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := appendCanonical(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b))) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			appendJCSString(b, k)
			b.WriteByte(':')
			if err := appendCanonical(b, v[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return malformed("unexpected value %T", v)
	}
	return nil
}

// appendJCSString writes s as ECMAScript's JSON.stringify does (RFC 8785
// section 3.2.2.2): only '"', '\\' and control characters are escaped.
func appendJCSString(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[r>>4])
				b.WriteByte(hexDigits[r&0xF])
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
