package fiat

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Pain013Namespace is the version of the request for payment settle writes:
// the one FedNow and RTP accept.
const Pain013Namespace = nsPrefix + "pain.013.001.07"

// notProvidedID fills identification elements the schema requires when the
// payor's bank is not known yet (the request goes to the merchant's bank,
// which routes it once the payor is identified).
const notProvidedID = "NOTPROVIDED"

// ErrPaymentRequest is wrapped by the validation errors of [BuildPain013].
var ErrPaymentRequest = errors.New("payment request")

// BankAccount is a US account reachable over FedNow, RTP or ACH.
type BankAccount struct {
	Name          string // account holder
	BankName      string
	AccountNumber string
	RoutingNumber string // nine-digit ABA routing number
}

// PaymentRequest is what a pain.013 request for payment asks for.
type PaymentRequest struct {
	MessageID string // unique per request, at most 35 characters
	Reference string // invoice reference: end-to-end id and remittance
	Amount    string // decimal, e.g. "25.00"
	Currency  string // ISO 4217
	Creditor  BankAccount
	Debtor    BankAccount // optional: the payor, when known
	Created   time.Time
	Expiry    time.Time // the invoice's expiry; the request expires with it
	Note      string    // optional extra remittance line
}

// BuildPain013 writes a pain.013.001.07 creditor payment activation request
// (request for payment) for one invoice: the reference is the end-to-end id
// and the first unstructured remittance line, the creditor agent is the ABA
// routing number (clearing system USABA), and the requested execution date
// and expiry follow the invoice.
func BuildPain013(r PaymentRequest) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	agent := func(a BankAccount) *finInstn {
		if a.RoutingNumber == "" {
			return &finInstn{Othr: &idOnly{ID: notProvidedID}}
		}
		return &finInstn{ClrSysMmbID: &clrSysMmb{Cd: "USABA", MmbID: a.RoutingNumber}, Nm: a.BankName}
	}
	acct := func(a BankAccount) *cashAccount {
		if a.AccountNumber == "" {
			return nil
		}
		return &cashAccount{ID: idOnly{ID: a.AccountNumber}}
	}
	debtorName := firstOf(r.Debtor.Name, notProvidedID)
	rmt := []string{r.Reference}
	if r.Note != "" {
		rmt = append(rmt, r.Note)
	}
	doc := pain013Doc{
		Xmlns: Pain013Namespace,
		Req: cdtrPmtActvtnReq{
			GrpHdr: groupHeader{
				MsgID: r.MessageID, CreDtTm: isoDateTime(r.Created), NbOfTxs: "1",
				InitgPty: partyName{Nm: r.Creditor.Name},
			},
			PmtInf: paymentInfo{
				PmtInfID:    r.MessageID,
				PmtMtd:      "TRF",
				ReqdExctnDt: dateTimeChoice{DtTm: isoDateTime(r.Created)},
				XpryDt:      dateTimeChoice{DtTm: isoDateTime(r.Expiry)},
				Dbtr:        partyName{Nm: debtorName},
				DbtrAcct:    acct(r.Debtor),
				DbtrAgt:     agentOf(agent(r.Debtor)),
				CdtTrfTx: creditTransfer{
					PmtID:    paymentID{InstrID: r.Reference, EndToEndID: r.Reference},
					Amt:      instdAmt{Amt: amount{Value: r.Amount, Ccy: r.Currency}},
					ChrgBr:   "SLEV",
					CdtrAgt:  agentOf(agent(r.Creditor)),
					Cdtr:     partyName{Nm: r.Creditor.Name},
					CdtrAcct: acct(r.Creditor),
					RmtInf:   unstructured{Ustrd: rmt},
				},
			},
		},
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPaymentRequest, err)
	}
	return append([]byte(xml.Header), out...), nil
}

func (r PaymentRequest) validate() error {
	var errs []error
	field := func(name, v string, max int) {
		if strings.TrimSpace(v) == "" || len(v) > max {
			errs = append(errs, fmt.Errorf("%s: required, at most %d characters", name, max))
		}
	}
	field("message_id", r.MessageID, 35)
	field("reference", r.Reference, 35)
	field("creditor.name", r.Creditor.Name, 140)
	field("creditor.account_number", r.Creditor.AccountNumber, 34)
	if !isISOAmount(r.Amount) || strings.Trim(r.Amount, "0.") == "" {
		errs = append(errs, fmt.Errorf("amount: a positive decimal with at most 5 fraction digits, got %q", r.Amount))
	}
	if len(r.Currency) != 3 || !isAlpha(r.Currency) {
		errs = append(errs, fmt.Errorf("currency: an upper-case ISO 4217 code, got %q", r.Currency))
	}
	for name, a := range map[string]BankAccount{"creditor": r.Creditor, "debtor": r.Debtor} {
		if a.RoutingNumber != "" && !ValidABA(a.RoutingNumber) {
			errs = append(errs, fmt.Errorf("%s.routing_number: nine digits with a valid ABA check digit, got %q", name, a.RoutingNumber))
		}
	}
	if r.Creditor.RoutingNumber == "" {
		errs = append(errs, fmt.Errorf("creditor.routing_number: required"))
	}
	if r.Created.IsZero() || !r.Expiry.After(r.Created) {
		errs = append(errs, fmt.Errorf("expiry: must be after created"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrPaymentRequest, err)
	}
	return nil
}

// ValidABA reports whether s is a nine-digit ABA routing number whose check
// digit holds: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10).
func ValidABA(s string) bool {
	if len(s) != 9 || !isDigits(s) {
		return false
	}
	w := [3]int{3, 7, 1}
	sum := 0
	for i := 0; i < 9; i++ {
		sum += w[i%3] * int(s[i]-'0')
	}
	return sum%10 == 0
}

func isoDateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// The pain.013.001.07 elements written, in schema order.
type pain013Doc struct {
	XMLName xml.Name         `xml:"Document"`
	Xmlns   string           `xml:"xmlns,attr"`
	Req     cdtrPmtActvtnReq `xml:"CdtrPmtActvtnReq"`
}

type cdtrPmtActvtnReq struct {
	GrpHdr groupHeader `xml:"GrpHdr"`
	PmtInf paymentInfo `xml:"PmtInf"`
}

type groupHeader struct {
	MsgID    string    `xml:"MsgId"`
	CreDtTm  string    `xml:"CreDtTm"`
	NbOfTxs  string    `xml:"NbOfTxs"`
	InitgPty partyName `xml:"InitgPty"`
}

type partyName struct {
	Nm string `xml:"Nm"`
}

type paymentInfo struct {
	PmtInfID    string         `xml:"PmtInfId"`
	PmtMtd      string         `xml:"PmtMtd"`
	ReqdExctnDt dateTimeChoice `xml:"ReqdExctnDt"`
	XpryDt      dateTimeChoice `xml:"XpryDt"`
	Dbtr        partyName      `xml:"Dbtr"`
	DbtrAcct    *cashAccount   `xml:"DbtrAcct,omitempty"`
	DbtrAgt     agentID        `xml:"DbtrAgt"`
	CdtTrfTx    creditTransfer `xml:"CdtTrfTx"`
}

type dateTimeChoice struct {
	DtTm string `xml:"DtTm"`
}

type cashAccount struct {
	ID idOnly `xml:"Id>Othr"`
}

type idOnly struct {
	ID string `xml:"Id"`
}

type agentID struct {
	FinInstnID *finInstn `xml:"FinInstnId"`
}

func agentOf(f *finInstn) agentID { return agentID{FinInstnID: f} }

type finInstn struct {
	ClrSysMmbID *clrSysMmb `xml:"ClrSysMmbId,omitempty"`
	Nm          string     `xml:"Nm,omitempty"`
	Othr        *idOnly    `xml:"Othr,omitempty"`
}

type clrSysMmb struct {
	Cd    string `xml:"ClrSysId>Cd"`
	MmbID string `xml:"MmbId"`
}

type creditTransfer struct {
	PmtID    paymentID    `xml:"PmtId"`
	Amt      instdAmt     `xml:"Amt"`
	ChrgBr   string       `xml:"ChrgBr"`
	CdtrAgt  agentID      `xml:"CdtrAgt"`
	Cdtr     partyName    `xml:"Cdtr"`
	CdtrAcct *cashAccount `xml:"CdtrAcct,omitempty"`
	RmtInf   unstructured `xml:"RmtInf"`
}

type paymentID struct {
	InstrID    string `xml:"InstrId"`
	EndToEndID string `xml:"EndToEndId"`
}

type instdAmt struct {
	Amt amount `xml:"InstdAmt"`
}

type unstructured struct {
	Ustrd []string `xml:"Ustrd"`
}
