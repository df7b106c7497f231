package fiat

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// QRIS constants: Indonesia's currency (ISO 4217 numeric) and country.
const (
	qrisCurrencyIDR = "360"
	qrisCountry     = "ID"
	// initiationStatic and initiationDynamic are the values of ID 01.
	initiationStatic  = "11"
	initiationDynamic = "12"
	// maxBillNumber is the longest bill number (ID 62, sub-ID 01).
	maxBillNumber = 25
	// maxAmountDigits bounds ID 54 (13 characters in EMVCo MPM).
	maxAmountDigits = 13
	// maxIDRAmount is the largest amount ID 54 can carry.
	maxIDRAmount = 9_999_999_999_999
)

// ErrQRIS is wrapped by the errors of [ValidateQRIS], [Dynamic] and
// [NewQRISInstruction].
var ErrQRIS = errors.New("qris")

// ValidateQRIS parses a merchant's static (or dynamic) QRIS payload and
// checks what settle relies on: a valid EMVCo structure and CRC, point of
// initiation 11 or 12, at least one merchant account template (26–51), a
// four-digit merchant category code, currency 360 (IDR), country ID, and a
// merchant name and city.
func ValidateQRIS(s string) (Payload, error) {
	p, err := ParseEMVCo(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQRIS, err)
	}
	need := func(id, rule string, ok func(string) bool) error {
		v, found := p.Get(id)
		if !found || !ok(v) {
			return fmt.Errorf("%w: ID %s %s, got %q", ErrQRIS, id, rule, v)
		}
		return nil
	}
	nonEmpty := func(v string) bool { return strings.TrimSpace(v) != "" }
	checks := []error{
		need(idInitiation, "(point of initiation) must be 11 or 12", func(v string) bool { return v == initiationStatic || v == initiationDynamic }),
		need(idMCC, "(merchant category code) must be four digits", func(v string) bool { return len(v) == 4 && isDigits(v) }),
		need(idCurrency, "(currency) must be 360 for IDR", func(v string) bool { return v == qrisCurrencyIDR }),
		need(idCountry, "(country) must be ID", func(v string) bool { return v == qrisCountry }),
		need(idName, "(merchant name) is required", nonEmpty),
		need(idCity, "(merchant city) is required", nonEmpty),
	}
	if err := errors.Join(checks...); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(p, func(f Field) bool { n, _ := strconv.Atoi(f.ID); return n >= 26 && n <= 51 }) {
		return nil, fmt.Errorf("%w: no merchant account information (IDs 26–51)", ErrQRIS)
	}
	return p, nil
}

// Dynamic builds the dynamic payload that asks for exactly amount rupiah
// (a whole number such as "25042"; IDR has no minor units in QRIS) with bill
// as the bill number: point of initiation 12, ID 54 set, tip and convenience
// fee IDs 55–57 removed so the payor cannot change the total, ID 62 sub-ID
// 01 set (other sub-IDs kept), CRC recomputed.
func Dynamic(static, amount, bill string) (string, error) {
	return dynamic(static, amount, bill, false)
}

// DynamicWithTip is [Dynamic], except that the static payload's tip or
// convenience indicator (ID 55: 01 the wallet prompts for a tip, 02 a
// fixed fee in ID 56, 03 a percentage in ID 57) is kept: for an invoice
// that allows a tip, the payor's wallet then offers it as the merchant's
// own QR code does.
func DynamicWithTip(static, amount, bill string) (string, error) {
	return dynamic(static, amount, bill, true)
}

// WalletTip says how a payload's wallet adds a tip: "prompt" (ID 55 = 01),
// "fixed" (02), "percent" (03), or "" for none.
func WalletTip(payload string) string {
	p, err := ParseEMVCo(payload)
	if err != nil {
		return ""
	}
	switch v, _ := p.Get(idTip); v {
	case "01":
		return "prompt"
	case "02":
		return "fixed"
	case "03":
		return "percent"
	}
	return ""
}

func dynamic(static, amount, bill string, keepTip bool) (string, error) {
	p, err := ValidateQRIS(static)
	if err != nil {
		return "", err
	}
	if !isDigits(amount) || amount[0] == '0' || len(amount) > maxAmountDigits {
		return "", fmt.Errorf("%w: amount must be a whole number of rupiah without separators (1–%d digits), got %q", ErrQRIS, maxAmountDigits, amount)
	}
	if bill == "" || len(bill) > maxBillNumber || strings.ContainsFunc(bill, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return "", fmt.Errorf("%w: bill number must be 1–%d printable ASCII characters, got %q", ErrQRIS, maxBillNumber, bill)
	}
	additional, err := p.Template(idAdditional)
	if err != nil {
		return "", fmt.Errorf("%w: template 62: %w", ErrQRIS, err)
	}
	sub, err := EncodeTLV(Payload(additional).set("01", bill))
	if err != nil {
		return "", fmt.Errorf("%w: template 62: %w", ErrQRIS, err)
	}
	p = p.set(idInitiation, initiationDynamic).set(idAmount, amount).set(idAdditional, sub)
	if !keepTip {
		p = p.set(idTip, "").set(idTipFixed, "").set(idTipPercent, "")
	}
	out, err := p.Encode()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrQRIS, err)
	}
	return out, nil
}

// QRISInstruction is what the payor sees for a QRIS invoice.
type QRISInstruction struct {
	Payload     string `json:"qris_payload"` // dynamic EMVCo payload to render as a QR code
	UniqueCode  int64  `json:"unique_code"`  // rupiah added to the invoice amount
	TotalAmount int64  `json:"total_amount"` // what the payor pays: amount + unique code
}

// DefaultMaxUniqueCode is the largest unique code [NewQRISInstruction] adds
// by default: at most Rp999 on top of the invoice, room for 999 open
// invoices of one amount per merchant.
const DefaultMaxUniqueCode = 999

// UniqueCode picks the smallest code in 1..max such that amount+code is not
// among open, the totals of the merchant's other open QRIS invoices. A
// notification's amount then names exactly one invoice.
func UniqueCode(amount int64, open []int64, max int64) (int64, error) {
	taken := make(map[int64]bool, len(open))
	for _, t := range open {
		taken[t] = true
	}
	for c := int64(1); c <= max; c++ {
		if !taken[amount+c] {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d unique codes for Rp%d are taken by open invoices", ErrQRIS, max, amount)
}

// NewQRISInstruction prices an invoice of amount rupiah for QRIS: it picks a
// unique code against the open totals and builds the dynamic payload for the
// total, with bill (the invoice reference) as bill number. max ≤ 0 means
// [DefaultMaxUniqueCode].
func NewQRISInstruction(static string, amount int64, bill string, open []int64, max int64) (QRISInstruction, error) {
	return newQRISInstruction(static, amount, bill, open, max, false)
}

func newQRISInstruction(static string, amount int64, bill string, open []int64, max int64, keepTip bool) (QRISInstruction, error) {
	if amount <= 0 {
		return QRISInstruction{}, fmt.Errorf("%w: amount must be positive, got %d", ErrQRIS, amount)
	}
	if max <= 0 {
		max = DefaultMaxUniqueCode
	}
	if amount > maxIDRAmount-max {
		return QRISInstruction{}, fmt.Errorf("%w: amount %d is too large for QRIS", ErrQRIS, amount)
	}
	code, err := UniqueCode(amount, open, max)
	if err != nil {
		return QRISInstruction{}, err
	}
	total := amount + code
	payload, err := dynamic(static, strconv.FormatInt(total, 10), bill, keepTip)
	if err != nil {
		return QRISInstruction{}, err
	}
	return QRISInstruction{Payload: payload, UniqueCode: code, TotalAmount: total}, nil
}
