package fiat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ErrNoAmount is returned by [ParseAmountIDR] when the text names no rupiah
// amount it can read exactly, or names several that could be the credit.
var ErrNoAmount = errors.New("no rupiah amount")

// ParseAmountIDR reads the credited rupiah amount of an e-wallet or bank
// notification, e.g. "Kamu berhasil menerima Rp25.042 dari JOHN DOE" → 25042.
// An amount follows "Rp" or "IDR" (any case, optional "." or ":" and
// spaces). Indonesian texts group thousands with '.' and use ',' for
// decimals ("Rp 25.042,00"); English-style texts do the opposite
// ("IDR 25,042.00"). A lone separator followed by exactly three digits groups
// thousands; otherwise the last separator is the decimal mark. A non-zero
// fraction is an error: QRIS rupiah are whole.
//
// Only the credited amount counts: an amount introduced as a balance
// ("Saldo Rp1.000.000", "sisa saldo") or a fee ("biaya admin Rp1.000") is
// left aside. Anything that leaves doubt is an error rather than a guess: a
// number that runs into letters ("Rp 1e5"), or two different amounts that
// could each be the credit.
func ParseAmountIDR(text string) (int64, error) {
	mentions, err := amountMentions(text)
	if err != nil {
		return 0, err
	}
	var credits, stated []int64
	for _, m := range mentions {
		switch m.role {
		case roleCredit:
			credits = appendNew(credits, m.value)
			stated = appendNew(stated, m.value)
		case roleUnstated:
			stated = appendNew(stated, m.value)
		}
	}
	// An amount said to be received wins over one merely mentioned.
	for _, set := range [][]int64{credits, stated} {
		switch len(set) {
		case 0:
			continue
		case 1:
			return set[0], nil
		default:
			return 0, fmt.Errorf("%w: several amounts (Rp%d and Rp%d) could be the credit in %q", ErrNoAmount, set[0], set[1], truncate(text, 80))
		}
	}
	if len(mentions) > 0 {
		return 0, fmt.Errorf("%w: only a balance or fee in %q", ErrNoAmount, truncate(text, 80))
	}
	return 0, fmt.Errorf("%w in %q", ErrNoAmount, truncate(text, 80))
}

// role is what the words before an amount say it is.
type role int

const (
	roleUnstated role = iota // nothing says what it is
	roleCredit               // received, paid in
	roleOther                // a balance or a fee: never the credit
)

type mention struct {
	value int64
	role  role
}

// Words that tell, within the few words before an amount, what it is.
var (
	creditWords = []string{"MASUK", "MENERIMA", "DITERIMA", "TERIMA", "BERTAMBAH", "PEMBAYARAN",
		"TRANSFER", "KREDIT", "RECEIVED", "RECEIVE", "CREDITED", "CREDIT", "PAYMENT", "PAID"}
	otherWords = []string{"SALDO", "BALANCE", "SISA", "BIAYA", "FEE", "ADMIN", "LIMIT"}
	// Words that join two amounts of one kind: "Rp1.000 dan Rp2.000".
	joinWords = []string{"DAN", "AND", "ATAU", "OR", "PLUS"}
)

// contextWords is how many words before an amount are read for its role.
const contextWords = 3

// amountMentions finds every "Rp"/"IDR" amount in text with its role.
func amountMentions(text string) ([]mention, error) {
	u := strings.ToUpper(text)
	var out []mention
	prevEnd := 0 // where the previous amount ended
	for i := 0; i < len(u); i++ {
		var n int
		switch {
		case strings.HasPrefix(u[i:], "IDR"):
			n = 3
		case strings.HasPrefix(u[i:], "RP"):
			n = 2
		default:
			continue
		}
		if i > 0 && isAlnum(u[i-1]) {
			continue
		}
		j := i + n
		if j < len(u) && (u[j] == '.' || u[j] == ':') {
			j++
		}
		for j < len(u) {
			if u[j] == ' ' {
				j++
			} else if strings.HasPrefix(u[j:], "\u00a0") { // no-break space
				j += len("\u00a0")
			} else {
				break
			}
		}
		k := j
		for k < len(u) && (u[k] >= '0' && u[k] <= '9' || u[k] == '.' || u[k] == ',') {
			k++
		}
		num := strings.TrimRight(u[j:k], ".,") // sentence punctuation
		if num == "" || num[0] < '0' || num[0] > '9' {
			continue // "Rp" as a word, not an amount
		}
		if k < len(u) && isAlnum(u[k]) {
			return nil, fmt.Errorf("%w: %q runs into %q", ErrNoAmount, num, truncate(u[k:], 8))
		}
		v, err := parseIDRNumber(num)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrNoAmount, num, err)
		}
		r, joined := roleBefore(u[prevEnd:i])
		if joined && len(out) > 0 {
			r = out[len(out)-1].role
		}
		out = append(out, mention{value: v, role: r})
		i, prevEnd = k-1, k
	}
	return out, nil
}

// roleBefore reads the last few words of before (upper case, the text since
// the previous amount) for what the amount that follows is. joined reports
// that only a conjunction stands between it and the previous amount, whose
// role it then shares.
func roleBefore(before string) (r role, joined bool) {
	// Only the same sentence speaks of the amount.
	sentence := before
	if end := strings.LastIndex(before, ". "); end >= 0 {
		sentence = before[end+1:]
	}
	words := strings.FieldsFunc(sentence, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(sentence) == len(before) && len(words) <= 1 && (len(words) == 0 || slices.Contains(joinWords, words[0])) {
		return roleUnstated, true
	}
	// The nearest telling word decides: "Saldo masuk Rp…" is money in,
	// "diterima, biaya admin Rp…" a fee.
	for i := len(words) - 1; i >= max(0, len(words)-contextWords); i-- {
		switch {
		case slices.Contains(creditWords, words[i]):
			return roleCredit, false
		case slices.Contains(otherWords, words[i]):
			return roleOther, false
		}
	}
	return roleUnstated, false
}

func appendNew(list []int64, v int64) []int64 {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// parseIDRNumber reads digits with '.'/',' separators as whole rupiah.
func parseIDRNumber(s string) (int64, error) {
	whole, frac := s, ""
	dots, commas := strings.Count(s, "."), strings.Count(s, ",")
	lastSep := strings.LastIndexAny(s, ".,")
	switch {
	case dots+commas == 0:
	case dots > 0 && commas > 0:
		// Both present: the last one is the decimal mark and must be single.
		mark := s[lastSep]
		if strings.Count(s, string(mark)) != 1 {
			return 0, fmt.Errorf("mixed separators")
		}
		whole, frac = s[:lastSep], s[lastSep+1:]
	case dots+commas == 1 && len(s)-lastSep-1 != 3:
		whole, frac = s[:lastSep], s[lastSep+1:]
	}
	if frac != "" && (len(frac) > 2 || strings.Trim(frac, "0") != "") {
		if len(frac) > 2 {
			return 0, fmt.Errorf("%d decimals", len(frac))
		}
		return 0, fmt.Errorf("fractional rupiah")
	}
	groups := strings.FieldsFunc(whole, func(r rune) bool { return r == '.' || r == ',' })
	if len(groups) == 0 || strings.Count(whole, ".")+strings.Count(whole, ",") != len(groups)-1 {
		return 0, fmt.Errorf("misplaced separator")
	}
	for i, g := range groups {
		if i > 0 && len(g) != 3 || i == 0 && len(groups) > 1 && len(g) > 3 {
			return 0, fmt.Errorf("thousands groups must have three digits")
		}
	}
	digits := strings.Join(groups, "")
	if len(digits) > maxAmountDigits {
		return 0, fmt.Errorf("more than %d digits", maxAmountDigits)
	}
	return strconv.ParseInt(digits, 10, 64)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Forwarded is the body an Android notification forwarder posts for each
// e-wallet or bank notification on the merchant's phone.
type Forwarded struct {
	App       string    `json:"app"`     // package name, e.g. "com.gojek.gopay"
	Title     string    `json:"title"`   // notification title
	Message   string    `json:"message"` // notification text
	Timestamp Timestamp `json:"timestamp"`
	DeviceID  string    `json:"device_id"`
	NotifID   string    `json:"notif_id"`   // forwarder's id of the notification
	EventHash string    `json:"event_hash"` // forwarder's hash of the event; "test" for a connection test
}

// ParseForwarded decodes a forwarder body. It requires event_hash and, unless
// the body is a connection test, a message.
func ParseForwarded(body []byte) (Forwarded, error) {
	var f Forwarded
	if err := json.Unmarshal(body, &f); err != nil {
		return Forwarded{}, fmt.Errorf("forwarded notification: %w", err)
	}
	if f.EventHash == "" {
		return Forwarded{}, fmt.Errorf("forwarded notification: event_hash is required")
	}
	if !f.IsTest() && strings.TrimSpace(f.Message) == "" && strings.TrimSpace(f.Title) == "" {
		return Forwarded{}, fmt.Errorf("forwarded notification: message is required")
	}
	return f, nil
}

// IsTest reports whether the forwarder is only testing the connection.
func (f Forwarded) IsTest() bool { return f.EventHash == "test" }

// ID is the de-duplication key: the forwarder's event hash, which stays the
// same when the forwarder retries the same notification.
func (f Forwarded) ID() string { return f.EventHash }

// Amount reads the credited rupiah from the message, else from the title.
func (f Forwarded) Amount() (int64, error) {
	v, err := ParseAmountIDR(f.Message)
	if errors.Is(err, ErrNoAmount) {
		if w, err2 := ParseAmountIDR(f.Title); err2 == nil {
			return w, nil
		}
	}
	return v, err
}

// Timestamp is a notification time sent as Unix seconds or milliseconds,
// as a number or a numeric string, or as RFC 3339 text.
type Timestamp struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := string(b)
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	if s == "" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1e11 || n < -1e11 { // milliseconds
			t.Time = time.UnixMilli(n).UTC()
		} else {
			t.Time = time.Unix(n, 0).UTC()
		}
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("timestamp: want Unix seconds, milliseconds or RFC 3339, got %q", s)
	}
	t.Time = v
	return nil
}

// QRISCallback is the body a QRIS aggregator or a merchant's own relay posts
// for a received payment.
type QRISCallback struct {
	Amount     Rupiah `json:"amount"`
	SenderName string `json:"sender_name"`
	Reference  string `json:"reference"` // the payer's or acquirer's reference; optional, not unique
}

// ParseQRISCallback decodes a callback; the amount is required.
func ParseQRISCallback(body []byte) (QRISCallback, error) {
	var c QRISCallback
	if err := json.Unmarshal(body, &c); err != nil {
		return QRISCallback{}, fmt.Errorf("qris callback: %w", err)
	}
	if c.Amount <= 0 {
		return QRISCallback{}, fmt.Errorf("qris callback: amount must be positive")
	}
	c.Reference = strings.TrimSpace(c.Reference)
	return c, nil
}

// Rupiah is a whole rupiah amount read from JSON as an integer or a numeric
// string ("25042", "25.042", "25042.00"), never through a float.
type Rupiah int64

// UnmarshalJSON implements json.Unmarshaler.
func (r *Rupiah) UnmarshalJSON(b []byte) error {
	s := string(b)
	if unq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unq)
	}
	if s == "" || !unicode.IsDigit(rune(s[0])) {
		return fmt.Errorf("amount: want a whole number of rupiah, got %s", b)
	}
	v, err := parseIDRNumber(s)
	if err != nil {
		return fmt.Errorf("amount: %s: %w", b, err)
	}
	*r = Rupiah(v)
	return nil
}
