package fiat

import (
	"fmt"
	"strings"
)

// CreditReturn is a bank message's report that a credit to the merchant
// came back: a pacs.004 payment return, a camt.054 entry reversing a credit
// (a debit with the reversal indicator set, or with a return bank
// transaction code), or a pacs.002 status report rejecting the credit's
// pacs.008 (transaction status RJCT). It names the original credit by the
// ids of its pacs.008.
type CreditReturn struct {
	// ID is the return's own id: the return id (RtrId), the status id
	// (StsId) or the account servicer's reference of the return entry.
	ID string
	// Rejected says a pacs.002 rejected the credit rather than a return
	// sending it back.
	Rejected bool
	// The original credit transfer's ids (OrgnlUETR, OrgnlTxId,
	// OrgnlInstrId, OrgnlEndToEndId of a pacs.004 or pacs.002; the
	// return entry's Refs in a camt.054).
	UETR, TxID, InstrID, EndToEndID string
	// Amount and Currency are what came back (RtrdIntrBkSttlmAmt, the
	// entry's amount, a pacs.002's OrgnlTxRef IntrBkSttlmAmt); Amount is
	// "" when a rejection does not state it.
	Amount, Currency string
	// Code is the ISO 20022 external return or status reason code (AC04,
	// AM04, FOCR, MS03…) or a proprietary one; Info the additional
	// information lines.
	Code, Info string
	Message    string // message definition, e.g. "pacs.004.001.10"
}

// Reversal is the return as [Rails.Return] takes it: the original credit
// is found by its UETR (its identity however it was recorded), else by its
// pacs.008 transaction id (the tx id of a credit recorded from a pacs.008
// without UETR). The instruction and end-to-end ids are not used: they
// are not unique (an end-to-end id is the payor's, often the invoice
// reference) and a credit is not recorded under them. The reason text is
// the message's additional information, else the code's meaning.
func (c CreditReturn) Reversal() Reversal {
	return Reversal{
		ID: c.ID, UETR: c.UETR, TxIDs: []string{c.TxID}, Amount: c.Amount, Currency: c.Currency,
		Code: c.Code, Reason: firstOf(c.Info, ISOReasonText(c.Code)),
	}
}

// ParseISO20022Returns reads the returns and rejections of credits in a
// pacs.004 (payment return), camt.054 (return entries) or pacs.002
// (transactions with status RJCT) document, bare or in its envelope. A
// pacs.008 has none; other documents are an error.
func ParseISO20022Returns(data []byte) ([]CreditReturn, error) {
	msg, doc, err := decodeISO20022(data)
	if err != nil {
		return nil, err
	}
	var out []CreditReturn
	switch {
	case doc.Pacs004 != nil:
		out = doc.Pacs004.returns(msg)
	case doc.Pacs002 != nil:
		out = doc.Pacs002.rejections(msg)
	case doc.Camt054 != nil:
		out = doc.Camt054.returns(msg)
	}
	for i := range out {
		if err := out[i].check(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reason is a return or status reason: Rsn (Cd or Prtry) and AddtlInf.
type reason struct {
	Cd       string   `xml:"Rsn>Cd"`
	Prtry    string   `xml:"Rsn>Prtry"`
	AddtlInf []string `xml:"AddtlInf"`
}

func (r *reason) code() string {
	if r == nil {
		return ""
	}
	return strings.TrimSpace(firstOf(r.Cd, r.Prtry))
}

func (r *reason) info() string {
	if r == nil {
		return ""
	}
	return joinParts(r.AddtlInf...)
}

// firstReason is the first of a list of reasons (RtrRsnInf, StsRsnInf).
func firstReason(rs []reason) *reason {
	if len(rs) == 0 {
		return nil
	}
	return &rs[0]
}

// bankTxCode is a structured bank transaction code (BkTxCd>Domn).
type bankTxCode struct {
	Domain    string `xml:"Domn>Cd"`
	Family    string `xml:"Domn>Fmly>Cd"`
	SubFamily string `xml:"Domn>Fmly>SubFmlyCd"`
}

// isReturn reports whether the code books a returned payment: domain
// PMNT with sub-family RRTN (reversal due to payment return), ARET (ACH
// return) or RPCR (reversal due to a payment cancellation request).
func (b bankTxCode) isReturn() bool {
	switch strings.TrimSpace(b.SubFamily) {
	case "RRTN", "ARET", "RPCR":
		return strings.TrimSpace(b.Domain) == "" || strings.TrimSpace(b.Domain) == "PMNT"
	}
	return false
}

type pacs004Doc struct {
	MsgID string `xml:"GrpHdr>MsgId"`
	TxInf []struct {
		RtrID      string   `xml:"RtrId"`
		InstrID    string   `xml:"OrgnlInstrId"`
		EndToEndID string   `xml:"OrgnlEndToEndId"`
		TxID       string   `xml:"OrgnlTxId"`
		UETR       string   `xml:"OrgnlUETR"`
		Amt        amount   `xml:"RtrdIntrBkSttlmAmt"`
		Rsn        []reason `xml:"RtrRsnInf"`
	} `xml:"TxInf"`
}

func (d *pacs004Doc) returns(msg string) []CreditReturn {
	out := make([]CreditReturn, 0, len(d.TxInf))
	for i, tx := range d.TxInf {
		r := firstReason(tx.Rsn)
		out = append(out, CreditReturn{
			ID: firstOf(tx.RtrID, positionalID(d.MsgID, "", 0, 0, i+1)), UETR: tx.UETR, TxID: tx.TxID, InstrID: tx.InstrID,
			EndToEndID: notProvided(tx.EndToEndID), Amount: tx.Amt.Value, Currency: tx.Amt.Ccy,
			Code: r.code(), Info: r.info(), Message: msg,
		})
	}
	return out
}

type pacs002Doc struct {
	MsgID       string `xml:"GrpHdr>MsgId"`
	TxInfAndSts []struct {
		StsID      string   `xml:"StsId"`
		InstrID    string   `xml:"OrgnlInstrId"`
		EndToEndID string   `xml:"OrgnlEndToEndId"`
		TxID       string   `xml:"OrgnlTxId"`
		UETR       string   `xml:"OrgnlUETR"`
		TxSts      string   `xml:"TxSts"`
		Rsn        []reason `xml:"StsRsnInf"`
		Amt        *amount  `xml:"OrgnlTxRef>IntrBkSttlmAmt"`
	} `xml:"TxInfAndSts"`
}

// rejections are the transactions the report rejects (RJCT); accepted or
// pending ones say nothing new of a credit already notified.
func (d *pacs002Doc) rejections(msg string) []CreditReturn {
	var out []CreditReturn
	for i, tx := range d.TxInfAndSts {
		if strings.TrimSpace(tx.TxSts) != "RJCT" {
			continue
		}
		r := firstReason(tx.Rsn)
		c := CreditReturn{
			ID: firstOf(tx.StsID, positionalID(d.MsgID, "", 0, 0, i+1)), Rejected: true, UETR: tx.UETR, TxID: tx.TxID,
			InstrID: tx.InstrID, EndToEndID: notProvided(tx.EndToEndID), Code: r.code(), Info: r.info(), Message: msg,
		}
		if tx.Amt != nil {
			c.Amount, c.Currency = tx.Amt.Value, tx.Amt.Ccy
		}
		out = append(out, c)
	}
	return out
}

// returns are the booked debit entries that send back a credit: the
// reversal indicator set, or a return bank transaction code on the entry
// or its transaction. Each transaction of such an entry is one return.
func (d *camt054Doc) returns(msg string) []CreditReturn {
	var out []CreditReturn
	for ni, n := range d.Ntfctn {
		for ei, e := range n.Ntry {
			status := strings.TrimSpace(firstOf(e.Sts.Cd, e.Sts.Code))
			if e.CdtDbtInd != "DBIT" || (status != "" && status != "BOOK") {
				continue
			}
			entryReturn := e.RvslInd || e.BkTxCd.isReturn()
			if len(e.TxDtls) == 0 {
				if entryReturn {
					out = append(out, CreditReturn{ID: firstOf(e.AcctSvcrRef, positionalID(d.MsgID, n.ID, ni, ei, 0)),
						Amount: e.Amt.Value, Currency: e.Amt.Ccy, Info: joinParts(e.AddtlNtryInf), Message: msg})
				}
				continue
			}
			for ti, tx := range e.TxDtls {
				if !entryReturn && !tx.BkTxCd.isReturn() && tx.RtrInf == nil || tx.CdtDbtInd != "" && tx.CdtDbtInd != "DBIT" {
					continue
				}
				c := CreditReturn{
					ID:   firstOf(tx.AcctSvcrRef, e.AcctSvcrRef, positionalID(d.MsgID, n.ID, ni, ei, ti+1)),
					UETR: tx.UETR, TxID: tx.TxID, InstrID: tx.InstrID, EndToEndID: notProvided(tx.EndToEndID),
					Code: tx.RtrInf.code(), Info: firstOf(tx.RtrInf.info(), joinParts(tx.AddtlTxInf)), Message: msg,
				}
				switch {
				case tx.Amt != nil:
					c.Amount, c.Currency = tx.Amt.Value, tx.Amt.Ccy
				case tx.TxAmt != nil:
					c.Amount, c.Currency = tx.TxAmt.Value, tx.TxAmt.Ccy
				case len(e.TxDtls) == 1:
					c.Amount, c.Currency = e.Amt.Value, e.Amt.Ccy
				}
				out = append(out, c)
			}
		}
	}
	return out
}

// check trims a return's fields and validates what it states.
func (c *CreditReturn) check() error {
	c.ID, c.Amount, c.Currency = strings.TrimSpace(c.ID), strings.TrimSpace(c.Amount), strings.TrimSpace(c.Currency)
	c.UETR, c.TxID, c.InstrID = strings.TrimSpace(c.UETR), strings.TrimSpace(c.TxID), strings.TrimSpace(c.InstrID)
	if c.Amount == "" && !c.Rejected {
		return fmt.Errorf("%w: %s return %s has no returned amount", ErrISO20022, c.Message, c.ID)
	}
	if c.Amount != "" && !isISOAmount(c.Amount) {
		return fmt.Errorf("%w: %s return %s: amount %q is not a decimal with at most 5 fraction digits", ErrISO20022, c.Message, c.ID, c.Amount)
	}
	if c.Amount != "" && (len(c.Currency) != 3 || !isAlpha(c.Currency)) {
		return fmt.Errorf("%w: %s return %s: currency %q is not an ISO 4217 code", ErrISO20022, c.Message, c.ID, c.Currency)
	}
	return nil
}

// isoReasons are the meanings of the ISO 20022 external return and status
// reason codes (ExternalReturnReason1Code, ExternalStatusReason1Code) that
// FedNow and RTP returns and rejections use most.
var isoReasons = map[string]string{
	"AC01": "Incorrect account number",
	"AC02": "Invalid debtor account number",
	"AC03": "Invalid creditor account number",
	"AC04": "Closed account number",
	"AC06": "Blocked account",
	"AC07": "Closed creditor account number",
	"AC13": "Invalid debtor account type",
	"AC14": "Invalid creditor account type",
	"AG01": "Transaction forbidden",
	"AG02": "Invalid bank operation code",
	"AG03": "Transaction not supported",
	"AM02": "Not allowed amount",
	"AM04": "Insufficient funds",
	"AM05": "Duplication",
	"AM09": "Wrong amount",
	"BE01": "Inconsistent with end customer",
	"BE04": "Missing creditor address",
	"CUST": "Requested by customer",
	"DUPL": "Duplicate payment",
	"DS24": "Waiting time expired",
	"FF02": "Syntax error",
	"FOCR": "Following cancellation request",
	"FRAD": "Fraudulent origin",
	"MD07": "End customer deceased",
	"MS02": "Not specified reason customer generated",
	"MS03": "Not specified reason agent generated",
	"NARR": "Narrative",
	"NOAS": "No answer from customer",
	"RC01": "Bank identifier incorrect",
	"RR04": "Regulatory reason",
	"TECH": "Technical problem",
	"TM01": "Invalid cut off time",
	"UPAY": "Undue payment",
}

// ISOReasonText is the meaning of an ISO 20022 return or status reason
// code, "" for one not listed.
func ISOReasonText(code string) string { return isoReasons[strings.TrimSpace(code)] }
