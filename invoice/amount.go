package invoice

import (
	"database/sql/driver"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// Units is a non-negative or negative whole number of an asset's smallest
// unit: cents of USD, base units of USDC (10^-6). Money in settle is always
// Units plus the number of decimals of its currency or asset; never a float.
// The zero value is 0. Units is immutable: every operation returns a new one.
type Units struct{ v *big.Int }

// NewUnits returns n base units.
func NewUnits(n int64) Units { return Units{big.NewInt(n)} }

// BigUnits returns units of b (copied).
func BigUnits(b *big.Int) Units { return Units{new(big.Int).Set(b)} }

// ParseUnits reads a base-10 integer such as "2500000".
func ParseUnits(s string) (Units, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return Units{}, fmt.Errorf("not an integer: %q", s)
	}
	return Units{v}, nil
}

func (u Units) big() *big.Int {
	if u.v == nil {
		return new(big.Int)
	}
	return u.v
}

// Big returns a copy of u as a big.Int.
func (u Units) Big() *big.Int { return new(big.Int).Set(u.big()) }

// Add returns u + o.
func (u Units) Add(o Units) Units { return Units{new(big.Int).Add(u.big(), o.big())} }

// Sub returns u - o.
func (u Units) Sub(o Units) Units { return Units{new(big.Int).Sub(u.big(), o.big())} }

// Cmp compares u and o as big.Int.Cmp does.
func (u Units) Cmp(o Units) int { return u.big().Cmp(o.big()) }

// Sign returns -1, 0 or +1.
func (u Units) Sign() int { return u.big().Sign() }

// String returns u in base 10.
func (u Units) String() string { return u.big().String() }

// Rescale converts u from one number of decimals to another, rounding toward
// zero: 24.999999 USDC counts as 24.99 toward a USD invoice, never 25.00.
func (u Units) Rescale(from, to int) Units {
	switch {
	case from == to:
		return u
	case to > from:
		return Units{new(big.Int).Mul(u.big(), pow10(to-from))}
	default:
		return Units{new(big.Int).Quo(u.big(), pow10(from-to))}
	}
}

// Format writes u with exactly decimals digits after the point: "25.00".
func (u Units) Format(decimals int) string {
	s := new(big.Int).Abs(u.big()).String()
	sign := ""
	if u.Sign() < 0 {
		sign = "-"
	}
	if decimals <= 0 {
		return sign + s
	}
	if len(s) <= decimals {
		s = strings.Repeat("0", decimals-len(s)+1) + s
	}
	return sign + s[:len(s)-decimals] + "." + s[len(s)-decimals:]
}

// Scan implements sql.Scanner for NUMERIC (Postgres) and TEXT (SQLite) columns.
func (u *Units) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case int64:
		u.v = big.NewInt(v)
		return nil
	default:
		return fmt.Errorf("units: cannot scan %T", src)
	}
	p, err := ParseUnits(s)
	if err != nil {
		return err
	}
	*u = p
	return nil
}

// Value implements driver.Valuer.
func (u Units) Value() (driver.Value, error) { return u.String(), nil }

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// MaxAssetDecimals is the most decimals an asset's base unit may have
// (ERC-20 tokens use up to 18; Solana SPL tokens up to 9).
const MaxAssetDecimals = 36

// MaxAmount is the largest invoice amount in whole currency units (1e12).
const MaxAmount = 1_000_000_000_000

// ParseAmount reads a plain decimal string such as "25.00" into base units of
// a currency with the given decimals. It refuses signs, exponents, spaces,
// more fraction digits than the currency has, zero and amounts above
// MaxAmount; the error says which rule failed.
func ParseAmount(s string, decimals int) (Units, error) {
	if s == "" {
		return Units{}, fmt.Errorf("is required")
	}
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || (hasPoint && frac == "") || !digits(whole) || !digits(frac) {
		if strings.HasPrefix(s, "-") {
			return Units{}, fmt.Errorf("must be positive")
		}
		return Units{}, fmt.Errorf("must be a plain decimal string such as \"25.00\" (no sign, exponent or separators)")
	}
	if len(frac) > decimals {
		return Units{}, fmt.Errorf("at most %d decimals", decimals)
	}
	// A whole part longer than MaxAmount's is too large whatever it says;
	// refuse it before big.Int spends time on a megabyte of digits.
	if len(strings.TrimLeft(whole, "0")) > len(fmt.Sprint(int64(MaxAmount))) {
		return Units{}, fmt.Errorf("at most %d", int64(MaxAmount))
	}
	v, _ := new(big.Int).SetString(whole+frac+strings.Repeat("0", decimals-len(frac)), 10)
	u := Units{v}
	if u.Sign() == 0 {
		return Units{}, fmt.Errorf("must be greater than zero")
	}
	if u.Cmp(Units{new(big.Int).Mul(big.NewInt(MaxAmount), pow10(decimals))}) > 0 {
		return Units{}, fmt.Errorf("at most %d", int64(MaxAmount))
	}
	return u, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Currency is an ISO 4217 code that invoices may be priced in.
type Currency string

// currencies maps each supported currency to its number of decimals.
var currencies = map[Currency]int{
	"USD": 2, "EUR": 2, "GBP": 2, "SGD": 2, "JPY": 0, "IDR": 0,
}

// Decimals returns the currency's number of decimals and whether settle
// supports it.
func (c Currency) Decimals() (int, bool) {
	d, ok := currencies[c]
	return d, ok
}

// Currencies lists the supported currency codes.
func Currencies() []string {
	out := make([]string, 0, len(currencies))
	for c := range currencies {
		out = append(out, string(c))
	}
	slices.Sort(out)
	return out
}
