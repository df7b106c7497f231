package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/chains/fiat"
)

// The messages of the money simulation's banks, processors and phones, in
// the rails' own formats.

// simCamt is a camt.054.001.08 of one booked credit, booked now.
func simCamt(svcrRef, uetr, e2e, amount, rmt string) []byte {
	refs := "<AcctSvcrRef>" + svcrRef + "</AcctSvcrRef><EndToEndId>" + e2e + "</EndToEndId>"
	if uetr != "" {
		refs += "<UETR>" + uetr + "</UETR>"
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
 <GrpHdr><MsgId>CAMT-` + svcrRef + `</MsgId><CreDtTm>` + time.Now().UTC().Format(time.RFC3339) + `</CreDtTm></GrpHdr>
 <Ntfctn><Id>N1</Id><Acct><Id><Othr><Id>000123456789</Id></Othr></Id></Acct>
  <Ntry><Amt Ccy="USD">` + amount + `</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
   <BookgDt><DtTm>` + time.Now().UTC().Format(time.RFC3339Nano) + `</DtTm></BookgDt>
   <NtryDtls><TxDtls><Refs>` + refs + `</Refs><Amt Ccy="USD">` + amount + `</Amt><CdtDbtInd>CRDT</CdtDbtInd>
    <RltdPties><Dbtr><Pty><Nm>SIM PAYOR</Nm></Pty></Dbtr></RltdPties>
    <RmtInf><Ustrd>` + rmt + `</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Ntfctn>
</BkToCstmrDbtCdtNtfctn></Document>`)
}

// simPacs is a pacs.008.001.08 in its envelope, as FedNow and RTP send it.
func simPacs(uetr, e2e, amount, rmt string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<Message xmlns="urn:tch"><AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><BizMsgIdr>B-` + uetr + `</BizMsgIdr><MsgDefIdr>pacs.008.001.08</MsgDefIdr></AppHdr>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf>
 <GrpHdr><MsgId>M-` + uetr + `</MsgId><CreDtTm>` + time.Now().UTC().Format(time.RFC3339) + `</CreDtTm><NbOfTxs>1</NbOfTxs></GrpHdr>
 <CdtTrfTxInf><PmtId><EndToEndId>` + e2e + `</EndToEndId><UETR>` + uetr + `</UETR></PmtId>
  <IntrBkSttlmAmt Ccy="USD">` + amount + `</IntrBkSttlmAmt><IntrBkSttlmDt>` + time.Now().UTC().Format(time.DateOnly) + `</IntrBkSttlmDt>
  <Dbtr><Nm>SIM PAYOR</Nm></Dbtr><CdtrAcct><Id><Othr><Id>000123456789</Id></Othr></Id></CdtrAcct>
  <RmtInf><Ustrd>` + rmt + `</Ustrd></RmtInf></CdtTrfTxInf>
</FIToFICstmrCdtTrf></Document></Message>`)
}

// simNACHA is a NACHA file of one credit entry of cents with trace.
func simNACHA(t *testing.T, trace string, cents int64, addenda string) []byte {
	t.Helper()
	f := &fiat.ACHFile{Destination: "021000021", Origin: "011000138", Created: "250102", CreatedTime: "1030", IDModifier: "A",
		DestinationName: "EXAMPLE BANK", OriginName: "PAYOR BANK",
		Batches: []fiat.ACHBatch{{ServiceClass: 220, CompanyName: "SIM PAYOR", CompanyID: "1234567890", SECCode: "CCD",
			EntryDescription: "INVOICE", DescriptiveDate: "SD1300", EffectiveDate: "250102", OriginatorStatus: "1", ODFI: "01100013", Number: 1,
			Entries: []fiat.ACHEntry{{TransactionCode: 22, RDFI: "02100002", CheckDigit: "1", Account: "000123456789", Amount: cents,
				IndividualID: "SIM", IndividualName: "TEST SHOP", Trace: trace, Addenda: []string{addenda}}}}}}
	b, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// simPush is a push-to-card notification; created is rounded up so that a
// processor's clock never puts it before it happened.
func simPush(id string, cents int64, ref string) []byte {
	created := time.Now().Add(time.Second).Unix()
	return []byte(fmt.Sprintf(`{"id":%q,"type":"push_to_card.credited","amount":%d,"currency":"USD","card_last4":"4242","network":"visa","reference":%q,"created":%d}`,
		id, cents, ref, created))
}

// simForwarded is what a notification forwarder posts.
func simForwarded(notif, hash, message string) []byte {
	b, _ := json.Marshal(map[string]any{"app": "id.dana", "title": "Pembayaran diterima", "message": message,
		"timestamp": time.Now().UnixMilli(), "device_id": "sim-phone", "notif_id": notif, "event_hash": hash})
	return b
}

// simCallback is a QRIS aggregator's callback; an empty reference is left out.
func simCallback(total int64, reference string) []byte {
	body := map[string]any{"amount": total, "sender_name": "SIM PAYOR"}
	if reference != "" {
		body["reference"] = reference
	}
	b, _ := json.Marshal(body)
	return b
}

// rupiah writes whole rupiah as an Indonesian e-wallet does: Rp25.042.
func rupiah(v int64) string {
	s := fmt.Sprint(v)
	var parts []string
	for len(s) > 3 {
		parts = append([]string{s[len(s)-3:]}, parts...)
		s = s[:len(s)-3]
	}
	return "Rp" + strings.Join(append([]string{s}, parts...), ".")
}
