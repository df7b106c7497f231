package fiat

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNACHA is wrapped by every error of [ParseNACHA] and [ACHFile.Bytes].
var ErrNACHA = errors.New("nacha")

// nachaRecord is the fixed record length of a NACHA file.
const nachaRecord = 94

// ACHFile is a NACHA file: a header and its batches.
type ACHFile struct {
	Destination     string // immediate destination (routing number, may be space-led)
	Origin          string // immediate origin
	Created         string // file creation date YYMMDD
	CreatedTime     string // HHMM, may be blank
	IDModifier      string // A–Z or 0–9
	DestinationName string
	OriginName      string
	ReferenceCode   string
	Batches         []ACHBatch
}

// ACHBatch is one batch: a company's entries of one SEC code and date.
type ACHBatch struct {
	ServiceClass     int    // 200 mixed, 220 credits only, 225 debits only
	CompanyName      string // the originator, e.g. the payor's company
	CompanyData      string // company discretionary data
	CompanyID        string
	SECCode          string // PPD, CCD, CTX, WEB…
	EntryDescription string
	DescriptiveDate  string // Same-Day ACH often carries "SD1300" here
	EffectiveDate    string // YYMMDD
	OriginatorStatus string
	ODFI             string // originating DFI, eight digits
	Number           int
	Entries          []ACHEntry
}

// ACHEntry is one entry detail record and its addenda.
type ACHEntry struct {
	TransactionCode int
	RDFI            string // receiving DFI, eight digits
	CheckDigit      string
	Account         string
	Amount          int64  // cents
	IndividualID    string // identification number (payor puts the reference here)
	IndividualName  string // receiver name (or company name for CCD)
	Discretionary   string
	Trace           string   // fifteen digits: ODFI and sequence
	Addenda         []string // columns 4–83 of each addenda (for type 05: payment related information)
	// Return is the entry's return addenda (type 99), for a return entry.
	Return *ACHReturn
}

// ACHReturn is a return addenda record (type code 99): why the receiving
// bank returned an entry, and which entry.
type ACHReturn struct {
	Code          string // return reason R01…R85
	OriginalTrace string // the returned entry's trace number, fifteen digits
	DateOfDeath   string // YYMMDD for R14 and R15, else ""
	OriginalRDFI  string // the returned entry's receiving DFI, eight digits
	Info          string // addenda information
}

// ACHCredit is a credit entry to the merchant with its batch context.
type ACHCredit struct {
	ACHEntry
	SECCode          string
	CompanyName      string
	CompanyID        string
	EntryDescription string
	EffectiveDate    string // YYMMDD
}

// ID is the de-duplication key: the trace number, which is unique within a
// file and is kept by every bank that forwards the entry, qualified by the
// effective date because originating banks reuse sequences over time.
func (c ACHCredit) ID() string { return c.EffectiveDate + ":" + c.Trace }

// InvoiceReference finds an invoice reference in the identification number
// or the addenda's payment related information.
func (c ACHCredit) InvoiceReference() (string, bool) {
	return findReferenceIn(append([]string{c.IndividualID}, c.Addenda...)...)
}

// IsLiveCredit reports whether a transaction code moves money into the
// receiver's account: 22 (checking) or 32 (savings). Prenotes (23, 33),
// zero-dollar remittance entries (24, 34), returns and debits are not.
func IsLiveCredit(code int) bool { return code == 22 || code == 32 }

// isDebit reports whether a code debits the receiver (counted on the debit
// side of the control totals).
func isDebit(code int) bool {
	d := code % 10
	return d >= 5 && d <= 9
}

// Credits lists the file's live credit entries, in file order.
func (f *ACHFile) Credits() []ACHCredit {
	var out []ACHCredit
	for _, b := range f.Batches {
		for _, e := range b.Entries {
			if IsLiveCredit(e.TransactionCode) && e.Amount > 0 {
				out = append(out, ACHCredit{ACHEntry: e, SECCode: b.SECCode, CompanyName: b.CompanyName,
					CompanyID: b.CompanyID, EntryDescription: b.EntryDescription, EffectiveDate: b.EffectiveDate})
			}
		}
	}
	return out
}

// ParseNACHA reads a NACHA file (records of 94 characters, one per line or
// back to back) and checks it: record order, numeric fields, addenda
// sequence, and every batch and file control (counts, entry hash, debit and
// credit totals) against the entries. A mismatch is an error naming the
// record.
func ParseNACHA(data []byte) (*ACHFile, error) {
	recs, err := nachaRecords(data)
	if err != nil {
		return nil, err
	}
	p := &nachaParser{recs: recs}
	return p.file()
}

func nachaRecords(data []byte) ([]string, error) {
	var lines []string
	if !bytes.ContainsAny(data, "\r\n") && len(data)%nachaRecord == 0 {
		for i := 0; i < len(data); i += nachaRecord {
			lines = append(lines, string(data[i:i+nachaRecord]))
		}
	} else {
		for l := range strings.SplitSeq(string(data), "\n") {
			if l = strings.TrimRight(l, "\r"); l != "" {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrNACHA)
	}
	for i, l := range lines {
		if len(l) != nachaRecord {
			return nil, fmt.Errorf("%w: record %d has %d characters, want %d", ErrNACHA, i+1, len(l), nachaRecord)
		}
	}
	return lines, nil
}

// nachaParser walks the records; errors name the 1-based record number.
type nachaParser struct {
	recs []string
	i    int
	err  error
}

func (p *nachaParser) fail(format string, a ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: record %d: %s", ErrNACHA, p.i+1, fmt.Sprintf(format, a...))
	}
}

// field returns columns from..to (1-based, inclusive) of the current record.
func (p *nachaParser) field(from, to int) string { return p.recs[p.i][from-1 : to] }

func (p *nachaParser) text(from, to int) string { return strings.TrimSpace(p.field(from, to)) }

func (p *nachaParser) num(name string, from, to int) int64 {
	s := p.field(from, to)
	if !isDigits(s) {
		p.fail("%s (columns %d–%d) must be digits, got %q", name, from, to, s)
		return 0
	}
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func (p *nachaParser) kind() byte { return p.recs[p.i][0] }

func (p *nachaParser) file() (*ACHFile, error) {
	if p.kind() != '1' {
		p.fail("file must start with a file header (type 1)")
		return nil, p.err
	}
	f := &ACHFile{
		Destination: p.text(4, 13), Origin: p.text(14, 23), Created: p.field(24, 29), CreatedTime: p.text(30, 33),
		IDModifier: p.field(34, 34), DestinationName: p.text(41, 63), OriginName: p.text(64, 86), ReferenceCode: p.text(87, 94),
	}
	p.num("file creation date", 24, 29)
	if p.field(35, 37) != "094" {
		p.fail("record size must be 094")
	}
	p.i++
	var entries, hash, debit, credit int64
	for p.err == nil && p.i < len(p.recs) && p.kind() == '5' {
		b, c := p.batch()
		f.Batches = append(f.Batches, b)
		entries, hash, debit, credit = entries+c.entries, hash+c.hash, debit+c.debit, credit+c.credit
	}
	if p.err != nil {
		return nil, p.err
	}
	if p.i >= len(p.recs) || p.kind() != '9' || strings.Trim(p.recs[p.i], "9") == "" {
		p.fail("want a batch header (type 5) or the file control (type 9)")
		return nil, p.err
	}
	got := nachaControl{entries: p.num("entry/addenda count", 14, 21), hash: p.num("entry hash", 22, 31),
		debit: p.num("total debit", 32, 43), credit: p.num("total credit", 44, 55)}
	if n := p.num("batch count", 2, 7); p.err == nil && n != int64(len(f.Batches)) {
		p.fail("batch count is %d, file has %d batches", n, len(f.Batches))
	}
	blocks := p.num("block count", 8, 13)
	p.compare("file control", got, nachaControl{entries, hash % 1e10, debit, credit})
	p.i++
	if want := int64((p.i + 9) / 10); p.err == nil && blocks != want {
		p.fail("block count is %d, file has %d records (%d blocks)", blocks, p.i, want)
	}
	for ; p.err == nil && p.i < len(p.recs); p.i++ {
		if strings.Trim(p.recs[p.i], "9") != "" {
			p.fail("only padding (all 9s) may follow the file control")
		}
	}
	return f, p.err
}

// nachaControl are the totals a control record asserts.
type nachaControl struct{ entries, hash, debit, credit int64 }

func (p *nachaParser) compare(what string, got, want nachaControl) {
	switch {
	case got.entries != want.entries:
		p.fail("%s entry/addenda count is %d, entries give %d", what, got.entries, want.entries)
	case got.hash != want.hash:
		p.fail("%s entry hash is %d, entries give %d", what, got.hash, want.hash)
	case got.debit != want.debit:
		p.fail("%s total debit is %d, entries give %d", what, got.debit, want.debit)
	case got.credit != want.credit:
		p.fail("%s total credit is %d, entries give %d", what, got.credit, want.credit)
	}
}

func (p *nachaParser) batch() (ACHBatch, nachaControl) {
	b := ACHBatch{
		ServiceClass: int(p.num("service class code", 2, 4)), CompanyName: p.text(5, 20), CompanyData: p.text(21, 40),
		CompanyID: p.text(41, 50), SECCode: p.field(51, 53), EntryDescription: p.text(54, 63),
		DescriptiveDate: p.text(64, 69), EffectiveDate: p.field(70, 75), OriginatorStatus: p.field(79, 79),
		ODFI: p.field(80, 87), Number: int(p.num("batch number", 88, 94)),
	}
	p.num("effective entry date", 70, 75)
	p.i++
	var c nachaControl
	for p.err == nil && p.i < len(p.recs) && p.kind() == '6' {
		e := p.entry()
		c.entries += 1 + int64(len(e.Addenda))
		if e.Return != nil {
			c.entries++
		}
		rdfi, _ := strconv.ParseInt(e.RDFI, 10, 64)
		c.hash += rdfi
		switch {
		case isDebit(e.TransactionCode):
			c.debit += e.Amount
		default:
			c.credit += e.Amount
		}
		b.Entries = append(b.Entries, e)
	}
	if p.err != nil {
		return b, c
	}
	if p.i >= len(p.recs) || p.kind() != '8' {
		p.fail("want an entry (type 6) or the batch control (type 8)")
		return b, c
	}
	c.hash %= 1e10
	got := nachaControl{entries: p.num("entry/addenda count", 5, 10), hash: p.num("entry hash", 11, 20),
		debit: p.num("total debit", 21, 32), credit: p.num("total credit", 33, 44)}
	if sc := int(p.num("service class code", 2, 4)); p.err == nil && sc != b.ServiceClass {
		p.fail("batch control service class %d differs from its header's %d", sc, b.ServiceClass)
	}
	if n := int(p.num("batch number", 88, 94)); p.err == nil && n != b.Number {
		p.fail("batch control number %d differs from its header's %d", n, b.Number)
	}
	p.compare(fmt.Sprintf("batch %d control", b.Number), got, c)
	p.i++
	return b, c
}

func (p *nachaParser) entry() ACHEntry {
	e := ACHEntry{
		TransactionCode: int(p.num("transaction code", 2, 3)), RDFI: p.field(4, 11), CheckDigit: p.field(12, 12),
		Account: p.text(13, 29), Amount: p.num("amount", 30, 39), IndividualID: p.text(40, 54),
		IndividualName: p.text(55, 76), Discretionary: p.text(77, 78), Trace: p.field(80, 94),
	}
	p.num("receiving DFI", 4, 11)
	p.num("trace number", 80, 94)
	indicator := p.field(79, 79)
	if indicator != "0" && indicator != "1" {
		p.fail("addenda record indicator must be 0 or 1, got %q", indicator)
	}
	p.i++
	for p.err == nil && p.i < len(p.recs) && p.kind() == '7' {
		if indicator != "1" {
			p.fail("addenda record for an entry whose addenda indicator is 0")
			break
		}
		// Type 05 numbers its addenda; IAT (10–18), NOC (98) and return
		// (99) addenda lay out columns 4–87 otherwise.
		if p.field(2, 3) == "05" {
			seq := p.num("addenda sequence number", 84, 87)
			if p.err == nil && seq != int64(len(e.Addenda)+1) {
				p.fail("addenda sequence number is %d, want %d", seq, len(e.Addenda)+1)
			}
		}
		if p.field(88, 94) != e.Trace[8:] {
			p.fail("addenda entry detail sequence %q does not match trace %q", p.field(88, 94), e.Trace)
		}
		if p.field(2, 3) == "99" {
			e.Return = p.returnAddenda(e.Return != nil)
			p.i++
			continue
		}
		e.Addenda = append(e.Addenda, p.text(4, 83))
		p.i++
	}
	return e
}

// returnAddenda reads a return addenda (type 99): reason code R01…R85 in
// columns 4–6, the original entry's trace number (7–21), a date of death
// (22–27, blank unless R14 or R15), the original receiving DFI (28–35) and
// addenda information (36–79).
func (p *nachaParser) returnAddenda(again bool) *ACHReturn {
	r := &ACHReturn{Code: p.field(4, 6), OriginalTrace: p.field(7, 21), DateOfDeath: p.text(22, 27),
		OriginalRDFI: p.field(28, 35), Info: p.text(36, 79)}
	if again {
		p.fail("an entry has one return addenda")
	}
	if n, err := strconv.Atoi(r.Code[1:]); r.Code[0] != 'R' || !isDigits(r.Code[1:]) || err != nil || n < 1 || n > 85 {
		p.fail("return reason code (columns 4–6) must be R01 to R85, got %q", r.Code)
	}
	p.num("original entry trace number", 7, 21)
	if r.DateOfDeath != "" {
		p.num("date of death", 22, 27)
	}
	p.num("original receiving DFI", 28, 35)
	return r
}

// ACHCreditReturn is a return of a credit entry: a return entry (code 21
// for a checking credit, 31 for a savings credit) with its addenda 99.
type ACHCreditReturn struct {
	ACHReturn
	Trace  string // the return entry's own trace number
	Amount int64  // cents
}

// Reason is the return reason's meaning, with the date of death when the
// reason is a death.
func (r ACHReturn) Reason() string {
	text := firstOf(ACHReasonText(r.Code), "Return reason "+r.Code)
	if r.DateOfDeath != "" {
		text += " (date of death " + r.DateOfDeath + ")"
	}
	if r.Info != "" {
		text += ": " + r.Info
	}
	return text
}

// Returns lists the file's returns of credit entries, in file order.
func (f *ACHFile) Returns() []ACHCreditReturn {
	var out []ACHCreditReturn
	for _, b := range f.Batches {
		for _, e := range b.Entries {
			if e.Return != nil && (e.TransactionCode == 21 || e.TransactionCode == 31) {
				out = append(out, ACHCreditReturn{ACHReturn: *e.Return, Trace: e.Trace, Amount: e.Amount})
			}
		}
	}
	return out
}

// ACHReasonText is the meaning of a NACHA return reason code, "" for one
// not listed.
func ACHReasonText(code string) string { return achReasons[strings.TrimSpace(code)] }

// achReasons are the NACHA return reason codes' meanings.
var achReasons = map[string]string{
	"R01": "Insufficient funds",
	"R02": "Account closed",
	"R03": "No account/unable to locate account",
	"R04": "Invalid account number structure",
	"R05": "Unauthorized debit to consumer account using corporate SEC code",
	"R06": "Returned per ODFI's request",
	"R07": "Authorization revoked by customer",
	"R08": "Payment stopped",
	"R09": "Uncollected funds",
	"R10": "Customer advises originator is not known to receiver or not authorized",
	"R11": "Customer advises entry not in accordance with the terms of the authorization",
	"R12": "Account sold to another DFI",
	"R13": "Invalid ACH routing number",
	"R14": "Representative payee deceased or unable to continue in that capacity",
	"R15": "Beneficiary or account holder deceased",
	"R16": "Account frozen/entry returned per OFAC instruction",
	"R17": "Entry with invalid account number initiated under questionable circumstances",
	"R20": "Non-transaction account",
	"R21": "Invalid company identification",
	"R22": "Invalid individual ID number",
	"R23": "Credit entry refused by receiver",
	"R24": "Duplicate entry",
	"R29": "Corporate customer advises not authorized",
	"R31": "Permissible return entry (CCD and CTX only)",
	"R33": "Return of XCK entry",
	"R37": "Source document presented for payment",
	"R51": "Item related to RCK entry is ineligible or RCK entry is improper",
	"R61": "Misrouted return",
	"R62": "Return of erroneous or reversing debit",
	"R67": "Duplicate return",
	"R68": "Untimely return",
	"R69": "Field error(s)",
	"R70": "Permissible return entry not accepted/return not requested by ODFI",
	"R80": "IAT entry coding error",
	"R81": "Non-participant in IAT program",
	"R82": "Invalid foreign receiving DFI identification",
	"R83": "Foreign receiving DFI unable to settle",
	"R84": "Entry not processed by gateway",
	"R85": "Incorrectly coded outbound international payment",
}
