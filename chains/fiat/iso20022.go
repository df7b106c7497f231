package fiat

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/settlepay/settle/invoice"
)

// ErrISO20022 is wrapped by every error of [ParseISO20022].
var ErrISO20022 = errors.New("iso 20022")

// Message definitions [ParseISO20022] reads (any version of each).
const (
	nsPrefix = "urn:iso:std:iso:20022:tech:xsd:"
	camt054  = "camt.054"
	pacs008  = "pacs.008"
	pacs004  = "pacs.004"
	pacs002  = "pacs.002"
)

// Credit is one incoming credit transfer reported by a bank message.
type Credit struct {
	// ID is the rail's own id of the transaction, the de-duplication key:
	// the account servicer's reference, else the UETR, else the
	// transaction id; for an entry without any, its message and position.
	ID         string
	EndToEndID string
	UETR       string
	// Reference is the remittance information: unstructured lines,
	// structured creditor references and additional information, joined
	// with " / ".
	Reference string
	Amount    string // decimal as the message has it, e.g. "1500.00"
	Currency  string // ISO 4217
	Debtor    string // debtor name, if given
	Account   string // the credited account as reported (IBAN or other id)
	BookedAt  time.Time
	// DateOnly says that BookedAt is a date (midnight UTC) without a time
	// of day: when in that day the money came is not known.
	DateOnly bool
	Message  string // message definition, e.g. "camt.054.001.08"
}

// Units returns the amount in base units of a currency with decimals.
func (c Credit) Units(decimals int) (invoice.Units, error) {
	u, err := invoice.ParseAmount(c.Amount, decimals)
	if err != nil {
		return invoice.Units{}, fmt.Errorf("credit %s amount %s %s: %w", c.ID, c.Amount, c.Currency, err)
	}
	return u, nil
}

// InvoiceReference finds an invoice reference in the end-to-end id or the
// remittance information.
func (c Credit) InvoiceReference() (string, bool) { return findReferenceIn(c.EndToEndID, c.Reference) }

// ParseISO20022 reads the credits of a camt.054 (bank-to-customer debit
// credit notification) or pacs.008 (FI-to-FI customer credit transfer)
// document, bare or inside a business message envelope (AppHdr plus
// Document, as FedNow and RTP send them). Debits, reversals and entries not
// yet booked (status other than BOOK) are left out. Other documents are an
// error.
func ParseISO20022(data []byte) ([]Credit, error) {
	msg, doc, err := decodeISO20022(data)
	if err != nil {
		return nil, err
	}
	switch {
	case doc.Camt054 != nil:
		return doc.Camt054.credits(msg)
	case doc.Pacs008 != nil:
		return doc.Pacs008.credits(msg)
	}
	return nil, nil // a pacs.004 or pacs.002: returns only (ParseISO20022Returns)
}

// decodeISO20022 finds the Document of data and decodes the message it
// holds: one of the four read, else an error.
func decodeISO20022(data []byte) (string, *document, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return "", nil, fmt.Errorf("%w: no Document element", ErrISO20022)
		}
		if err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrISO20022, err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "Document" {
			continue
		}
		msg, ok := strings.CutPrefix(start.Name.Space, nsPrefix)
		if !ok {
			return "", nil, fmt.Errorf("%w: Document namespace %q is not ISO 20022", ErrISO20022, start.Name.Space)
		}
		var doc document
		if err := dec.DecodeElement(&doc, &start); err != nil {
			return "", nil, fmt.Errorf("%w: %s: %w", ErrISO20022, msg, err)
		}
		one := document{}
		switch {
		case strings.HasPrefix(msg, camt054+".") && doc.Camt054 != nil:
			one.Camt054 = doc.Camt054
		case strings.HasPrefix(msg, pacs008+".") && doc.Pacs008 != nil:
			one.Pacs008 = doc.Pacs008
		case strings.HasPrefix(msg, pacs004+".") && doc.Pacs004 != nil:
			one.Pacs004 = doc.Pacs004
		case strings.HasPrefix(msg, pacs002+".") && doc.Pacs002 != nil:
			one.Pacs002 = doc.Pacs002
		default:
			return "", nil, fmt.Errorf("%w: %s is not a camt.054, pacs.008, pacs.004 or pacs.002 document", ErrISO20022, msg)
		}
		return msg, &one, nil
	}
}

// document holds the messages read; encoding/xml matches the local
// names, which are the same in every version from .001.02 on.
type document struct {
	Camt054 *camt054Doc `xml:"BkToCstmrDbtCdtNtfctn"`
	Pacs008 *pacs008Doc `xml:"FIToFICstmrCdtTrf"`
	Pacs004 *pacs004Doc `xml:"PmtRtr"`
	Pacs002 *pacs002Doc `xml:"FIToFIPmtStsRpt"`
}

type amount struct {
	Value string `xml:",chardata"`
	Ccy   string `xml:"Ccy,attr"`
}

type dateOrTime struct {
	Dt   string `xml:"Dt"`
	DtTm string `xml:"DtTm"`
}

// party is a name either direct (up to .06) or under Pty (.07 on).
type party struct {
	Nm    string `xml:"Nm"`
	PtyNm string `xml:"Pty>Nm"`
}

func (p party) name() string { return strings.TrimSpace(firstOf(p.Nm, p.PtyNm)) }

type accountID struct {
	IBAN string `xml:"Id>IBAN"`
	Othr string `xml:"Id>Othr>Id"`
}

func (a accountID) id() string { return strings.TrimSpace(firstOf(a.IBAN, a.Othr)) }

type remittance struct {
	Ustrd []string `xml:"Ustrd"`
	Strd  []struct {
		Ref         []string `xml:"CdtrRefInf>Ref"`
		AddtlRmtInf []string `xml:"AddtlRmtInf"`
	} `xml:"Strd"`
}

func (r *remittance) parts() []string {
	if r == nil {
		return nil
	}
	out := append([]string(nil), r.Ustrd...)
	for _, s := range r.Strd {
		out = append(out, s.Ref...)
		out = append(out, s.AddtlRmtInf...)
	}
	return out
}

type camt054Doc struct {
	MsgID  string `xml:"GrpHdr>MsgId"`
	Ntfctn []struct {
		ID   string    `xml:"Id"`
		Acct accountID `xml:"Acct"`
		Ntry []struct {
			Amt       amount `xml:"Amt"`
			CdtDbtInd string `xml:"CdtDbtInd"`
			RvslInd   bool   `xml:"RvslInd"`
			Sts       struct {
				Code string `xml:",chardata"` // up to .06
				Cd   string `xml:"Cd"`        // .07 on
			} `xml:"Sts"`
			BookgDt     dateOrTime `xml:"BookgDt"`
			AcctSvcrRef string     `xml:"AcctSvcrRef"`
			BkTxCd      bankTxCode `xml:"BkTxCd"`
			TxDtls      []struct {
				AcctSvcrRef string      `xml:"Refs>AcctSvcrRef"`
				InstrID     string      `xml:"Refs>InstrId"`
				BkTxCd      bankTxCode  `xml:"BkTxCd"`
				RtrInf      *reason     `xml:"RtrInf"`
				EndToEndID  string      `xml:"Refs>EndToEndId"`
				TxID        string      `xml:"Refs>TxId"`
				UETR        string      `xml:"Refs>UETR"`
				Amt         *amount     `xml:"Amt"`
				TxAmt       *amount     `xml:"AmtDtls>TxAmt>Amt"` // .02
				CdtDbtInd   string      `xml:"CdtDbtInd"`
				Dbtr        party       `xml:"RltdPties>Dbtr"`
				RmtInf      *remittance `xml:"RmtInf"`
				AddtlTxInf  string      `xml:"AddtlTxInf"`
			} `xml:"NtryDtls>TxDtls"`
			AddtlNtryInf string `xml:"AddtlNtryInf"`
		} `xml:"Ntry"`
	} `xml:"Ntfctn"`
}

func (d *camt054Doc) credits(msg string) ([]Credit, error) {
	var out []Credit
	for ni, n := range d.Ntfctn {
		for ei, e := range n.Ntry {
			status := strings.TrimSpace(firstOf(e.Sts.Cd, e.Sts.Code))
			if e.CdtDbtInd != "CRDT" || e.RvslInd || (status != "" && status != "BOOK") {
				continue
			}
			booked, err := parseISODate(e.BookgDt)
			if err != nil {
				return nil, fmt.Errorf("%w: %s entry %d: %w", ErrISO20022, msg, ei+1, err)
			}
			base := Credit{Account: n.Acct.id(), BookedAt: booked, DateOnly: strings.TrimSpace(e.BookgDt.DtTm) == "", Message: msg}
			if len(e.TxDtls) == 0 {
				c := base
				c.ID = firstOf(e.AcctSvcrRef, positionalID(d.MsgID, n.ID, ni, ei, 0))
				c.Amount, c.Currency = e.Amt.Value, e.Amt.Ccy
				c.Reference = joinParts(e.AddtlNtryInf)
				if err := c.check(); err != nil {
					return nil, err
				}
				out = append(out, c)
				continue
			}
			for ti, tx := range e.TxDtls {
				if tx.CdtDbtInd != "" && tx.CdtDbtInd != "CRDT" {
					continue
				}
				c := base
				entryRef := e.AcctSvcrRef
				if entryRef != "" && len(e.TxDtls) > 1 {
					entryRef = fmt.Sprintf("%s/%d", entryRef, ti+1)
				}
				c.ID = firstOf(tx.AcctSvcrRef, tx.UETR, tx.TxID, entryRef, positionalID(d.MsgID, n.ID, ni, ei, ti+1))
				c.EndToEndID, c.UETR = notProvided(tx.EndToEndID), tx.UETR
				switch {
				case tx.Amt != nil:
					c.Amount, c.Currency = tx.Amt.Value, tx.Amt.Ccy
				case tx.TxAmt != nil:
					c.Amount, c.Currency = tx.TxAmt.Value, tx.TxAmt.Ccy
				case len(e.TxDtls) == 1:
					c.Amount, c.Currency = e.Amt.Value, e.Amt.Ccy
				default:
					return nil, fmt.Errorf("%w: %s entry %d transaction %d has no amount", ErrISO20022, msg, ei+1, ti+1)
				}
				c.Debtor = tx.Dbtr.name()
				c.Reference = joinParts(append(tx.RmtInf.parts(), tx.AddtlTxInf)...)
				if err := c.check(); err != nil {
					return nil, err
				}
				out = append(out, c)
			}
		}
	}
	return out, nil
}

type pacs008Doc struct {
	MsgID       string `xml:"GrpHdr>MsgId"`
	SttlmDt     string `xml:"GrpHdr>IntrBkSttlmDt"`
	CdtTrfTxInf []struct {
		EndToEndID string      `xml:"PmtId>EndToEndId"`
		TxID       string      `xml:"PmtId>TxId"`
		UETR       string      `xml:"PmtId>UETR"`
		Amt        amount      `xml:"IntrBkSttlmAmt"`
		SttlmDt    string      `xml:"IntrBkSttlmDt"`
		Dbtr       party       `xml:"Dbtr"`
		CdtrAcct   accountID   `xml:"CdtrAcct"`
		RmtInf     *remittance `xml:"RmtInf"`
	} `xml:"CdtTrfTxInf"`
}

func (d *pacs008Doc) credits(msg string) ([]Credit, error) {
	out := make([]Credit, 0, len(d.CdtTrfTxInf))
	for i, tx := range d.CdtTrfTxInf {
		booked, err := parseISODate(dateOrTime{Dt: firstOf(tx.SttlmDt, d.SttlmDt)})
		if err != nil {
			return nil, fmt.Errorf("%w: %s transaction %d: %w", ErrISO20022, msg, i+1, err)
		}
		c := Credit{
			ID:         firstOf(tx.UETR, tx.TxID, positionalID(d.MsgID, "", 0, 0, i+1)),
			EndToEndID: notProvided(tx.EndToEndID),
			UETR:       tx.UETR,
			Reference:  joinParts(tx.RmtInf.parts()...),
			Amount:     tx.Amt.Value,
			Currency:   tx.Amt.Ccy,
			Debtor:     tx.Dbtr.name(),
			Account:    tx.CdtrAcct.id(),
			BookedAt:   booked,
			DateOnly:   true, // a settlement date
			Message:    msg,
		}
		if err := c.check(); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// check trims a credit's fields and validates amount and currency.
func (c *Credit) check() error {
	c.ID, c.Amount, c.Currency = strings.TrimSpace(c.ID), strings.TrimSpace(c.Amount), strings.TrimSpace(c.Currency)
	if c.ID == "" {
		return fmt.Errorf("%w: %s credit without any id", ErrISO20022, c.Message)
	}
	if !isISOAmount(c.Amount) {
		return fmt.Errorf("%w: %s credit %s: amount %q is not a decimal with at most 5 fraction digits", ErrISO20022, c.Message, c.ID, c.Amount)
	}
	if len(c.Currency) != 3 || !isAlpha(c.Currency) {
		return fmt.Errorf("%w: %s credit %s: currency %q is not an ISO 4217 code", ErrISO20022, c.Message, c.ID, c.Currency)
	}
	return nil
}

// isISOAmount follows ActiveCurrencyAndAmount: up to 18 digits, up to 5
// after the point, no sign.
func isISOAmount(s string) bool {
	whole, frac, point := strings.Cut(s, ".")
	return isDigits(whole) && (!point || isDigits(frac)) && len(frac) <= 5 && len(whole)+len(frac) <= 18
}

func parseISODate(d dateOrTime) (time.Time, error) {
	switch {
	case strings.TrimSpace(d.Dt) != "":
		t, err := time.Parse(time.DateOnly, strings.TrimSpace(d.Dt))
		if err != nil {
			return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", d.Dt)
		}
		return t, nil
	case strings.TrimSpace(d.DtTm) != "":
		v := strings.TrimSpace(d.DtTm)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("date-time %q: want ISO 8601", v)
	}
	return time.Time{}, nil
}

// positionalID names a transaction that carries no id of its own by its
// message and position, stable when the same message is delivered again.
func positionalID(msgID, ntfctnID string, n, e, t int) string {
	return fmt.Sprintf("%s/%s/%d/%d/%d", strings.TrimSpace(msgID), strings.TrimSpace(ntfctnID), n+1, e+1, t)
}

// notProvided drops the ISO 20022 placeholder for a missing end-to-end id.
func notProvided(s string) string {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "NOTPROVIDED") {
		return ""
	}
	return s
}

func joinParts(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, " / ")
}

func firstOf(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
