package fiat

import (
	"fmt"
	"strconv"
	"strings"
)

// Bytes writes the file as NACHA records separated by newlines: header,
// batches with computed batch controls, file control and padding to a
// multiple of ten records. Batch numbers and addenda indicators and
// sequences are taken from the data; control totals are computed. It is the
// inverse of [ParseNACHA] and lets tests (and the devnet) build files a bank
// would send.
func (f *ACHFile) Bytes() ([]byte, error) {
	w := &nachaWriter{}
	w.rec("1", "01", right(f.Destination, 10), right(f.Origin, 10), f.Created, left(f.CreatedTime, 4),
		left(f.IDModifier, 1), "094", "10", "1", left(f.DestinationName, 23), left(f.OriginName, 23), left(f.ReferenceCode, 8))
	var file nachaControl
	for _, b := range f.Batches {
		w.rec("5", zeros(int64(b.ServiceClass), 3), left(b.CompanyName, 16), left(b.CompanyData, 20), left(b.CompanyID, 10),
			left(b.SECCode, 3), left(b.EntryDescription, 10), left(b.DescriptiveDate, 6), left(b.EffectiveDate, 6),
			"   ", left(b.OriginatorStatus, 1), left(b.ODFI, 8), zeros(int64(b.Number), 7))
		var c nachaControl
		for _, e := range b.Entries {
			if e.Amount < 0 {
				return nil, fmt.Errorf("%w: batch %d: entry %s: negative amount", ErrNACHA, b.Number, e.Trace)
			}
			if len(e.Trace) != 15 || !isDigits(e.Trace) {
				return nil, fmt.Errorf("%w: batch %d: trace %q must be 15 digits", ErrNACHA, b.Number, e.Trace)
			}
			indicator := "0"
			if len(e.Addenda) > 0 || e.Return != nil {
				indicator = "1"
			}
			w.rec("6", zeros(int64(e.TransactionCode), 2), left(e.RDFI, 8), left(e.CheckDigit, 1), left(e.Account, 17),
				zeros(e.Amount, 10), left(e.IndividualID, 15), left(e.IndividualName, 22), left(e.Discretionary, 2),
				indicator, e.Trace)
			for i, a := range e.Addenda {
				w.rec("7", "05", left(a, 80), zeros(int64(i+1), 4), e.Trace[8:])
			}
			addenda := int64(len(e.Addenda))
			if r := e.Return; r != nil {
				w.rec("7", "99", left(r.Code, 3), left(r.OriginalTrace, 15), left(r.DateOfDeath, 6), left(r.OriginalRDFI, 8),
					left(r.Info, 44), e.Trace)
				addenda++
			}
			rdfi, err := strconv.ParseInt(e.RDFI, 10, 64)
			if err != nil || len(e.RDFI) != 8 {
				return nil, fmt.Errorf("%w: batch %d: receiving DFI %q must be 8 digits", ErrNACHA, b.Number, e.RDFI)
			}
			c.entries += 1 + addenda
			c.hash += rdfi
			if isDebit(e.TransactionCode) {
				c.debit += e.Amount
			} else {
				c.credit += e.Amount
			}
		}
		c.hash %= 1e10
		w.rec("8", zeros(int64(b.ServiceClass), 3), zeros(c.entries, 6), zeros(c.hash, 10), zeros(c.debit, 12),
			zeros(c.credit, 12), left(b.CompanyID, 10), left("", 19), left("", 6), left(b.ODFI, 8), zeros(int64(b.Number), 7))
		file = nachaControl{file.entries + c.entries, file.hash + c.hash, file.debit + c.debit, file.credit + c.credit}
	}
	blocks := (len(w.recs) + 1 + 9) / 10
	w.rec("9", zeros(int64(len(f.Batches)), 6), zeros(int64(blocks), 6), zeros(file.entries, 8), zeros(file.hash%1e10, 10),
		zeros(file.debit, 12), zeros(file.credit, 12), left("", 39))
	for len(w.recs)%10 != 0 {
		w.recs = append(w.recs, strings.Repeat("9", nachaRecord))
	}
	if w.err != nil {
		return nil, w.err
	}
	return []byte(strings.Join(w.recs, "\n") + "\n"), nil
}

type nachaWriter struct {
	recs []string
	err  error
}

// rec joins fields into one record; a field that overflowed its width (see
// left, right, zeros) makes the record the wrong length and an error.
func (w *nachaWriter) rec(fields ...string) {
	r := strings.Join(fields, "")
	if len(r) != nachaRecord && w.err == nil {
		w.err = fmt.Errorf("%w: record %d (type %s) would be %d characters: a field is too long", ErrNACHA, len(w.recs)+1, fields[0], len(r))
	}
	w.recs = append(w.recs, r)
}

// left pads s with spaces to n; a longer s is kept whole so rec notices.
func left(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// right pads s on the left with spaces to n.
func right(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat(" ", n-len(s)) + s
}

// zeros writes v zero-padded to n digits.
func zeros(v int64, n int) string { return fmt.Sprintf("%0*d", n, v) }
