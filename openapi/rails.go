package openapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice"
)

// railsPrefix holds the rails' notification endpoints, which authenticate
// by the rail account's callback secret instead of an API key.
const railsPrefix = "/api/v1/rails/"

// AccountHeader names the rail account a signed notification is for.
const AccountHeader = "X-Settle-Account"

// CreateRailAccountBody is a new rail account: the receiving details of one
// rail.
type CreateRailAccountBody struct {
	Rail          string `json:"rail" enum:"fednow,rtp,ach,push_to_card,qris" example:"fednow" doc:"The rail: fednow, rtp and ach take a US bank account; qris a static QRIS payload; push_to_card a processor id."`
	BankName      string `json:"bank_name,omitempty" maxLength:"140" example:"First Example Bank" doc:"fednow, rtp, ach: the receiving bank."`
	AccountName   string `json:"account_name,omitempty" maxLength:"140" example:"Test Shop LLC" doc:"fednow, rtp, ach: the account holder (required). qris, push_to_card: a display name (qris defaults to the payload's merchant name)."`
	AccountNumber string `json:"account_number,omitempty" maxLength:"17" example:"000123456789" doc:"fednow, rtp, ach: 4 to 17 digits."`
	RoutingNumber string `json:"routing_number,omitempty" maxLength:"9" example:"021000021" doc:"fednow, rtp, ach: nine-digit ABA routing number, check digit verified."`
	QRISPayload   string `json:"qris_payload,omitempty" maxLength:"512" example:"00020101021126…6304ABCD" doc:"qris: the merchant's static QRIS payload (EMVCo; CRC, currency 360 and country ID checked). Each invoice gets a dynamic payload built from it."`
	ProcessorID   string `json:"processor_id,omitempty" maxLength:"100" example:"acq_visa_direct_01" doc:"push_to_card: the card processor's id of your receiving account."`
}

type createRailAccountInput struct {
	IdempotencyHeader
	Body CreateRailAccountBody
}

// RailAccountIDParam is the {id} of a rail account path.
type RailAccountIDParam struct {
	ID string `path:"id" maxLength:"64" example:"rla_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Rail account id."`
}

// RailAccountList is every active rail account of the key's mode.
type RailAccountList struct {
	Object string                   `json:"object" enum:"list"`
	Data   []fiat.RailAccountObject `json:"data" nullable:"false"`
}

// DeletedRailAccount answers a delete.
type DeletedRailAccount struct {
	ID      string `json:"id" example:"rla_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object  string `json:"object" enum:"rail_account"`
	Deleted bool   `json:"deleted"`
}

// UnmatchedRailCreditList is one page of unmatched rail credits.
type UnmatchedRailCreditList struct {
	Object  string                       `json:"object" enum:"list"`
	Data    []fiat.UnmatchedCreditObject `json:"data" nullable:"false"`
	HasMore bool                         `json:"has_more" doc:"Whether another page follows; fetch it with after = the last id of data."`
}

type requestForPaymentInput struct {
	InvoiceIDParam
	Rail string `query:"rail" required:"true" enum:"fednow,rtp" doc:"The instant rail the request goes over."`
}

type xmlOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

// signedInput is a notification signed with the account's callback secret.
type signedInput struct {
	Account   string `header:"X-Settle-Account" maxLength:"64" example:"rla_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"The rail account the notification is for."`
	Signature string `header:"X-Settle-Signature" maxLength:"1024" example:"t=1735689600,v1=5257a869…" doc:"t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under the account's callback_secret>; t within 5 minutes of now."`
	RawBody   []byte
}

// RailNotificationResult says what became of each credit of a notification.
type RailNotificationResult struct {
	Object  string         `json:"object" enum:"rail_notification"`
	Rail    string         `json:"rail" example:"fednow"`
	Results []fiat.Outcome `json:"results" nullable:"false"`
}

type railResultOutput struct{ Body RailNotificationResult }

type qrisForwardedInput struct {
	Authorization string `header:"Authorization" example:"Bearer rcs_…" doc:"Bearer and the qris account's callback_secret."`
	RawBody       []byte
}

type qrisCallbackInput struct {
	CallbackKey string `header:"X-Callback-Key" example:"rcs_…" doc:"The qris account's callback_secret."`
	RawBody     []byte
}

// QRISAnswer answers a QRIS forwarder or callback.
type QRISAnswer struct {
	Status    string `json:"status" enum:"matched,duplicate,test" example:"matched"`
	Message   string `json:"message" example:"Payment recorded"`
	InvoiceID string `json:"invoice_id,omitempty"`
	PaymentID string `json:"payment_id,omitempty"`
}

var errsRail = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}

func (s *server) registerRails(api huma.API) {
	tags := []string{"Rail accounts"}
	huma.Register(api, huma.Operation{
		OperationID: "create-rail-account", Method: http.MethodPost, Path: "/api/v1/rail-accounts",
		Summary: "Add a rail account", Tags: tags, DefaultStatus: http.StatusCreated, Errors: errsWrite, MaxBodyBytes: humaMaxBodyBytes,
		Description: "Where invoices of this mode are paid on one fiat rail (fednow, rtp, ach: a US bank account; qris: a static QRIS payload; push_to_card: a processor id). One active account per rail and mode (409 rail_account_exists). The answer carries callback_secret, shown only here, which authenticates the rail's notifications.",
	}, s.createRailAccount)
	huma.Register(api, huma.Operation{
		OperationID: "list-rail-accounts", Method: http.MethodGet, Path: "/api/v1/rail-accounts",
		Summary: "List rail accounts", Tags: tags, Errors: errsRead,
	}, s.listRailAccounts)
	huma.Register(api, huma.Operation{
		OperationID: "get-rail-account", Method: http.MethodGet, Path: "/api/v1/rail-accounts/{id}",
		Summary: "Retrieve a rail account", Tags: tags, Errors: errsRead,
	}, s.getRailAccount)
	huma.Register(api, huma.Operation{
		OperationID: "delete-rail-account", Method: http.MethodDelete, Path: "/api/v1/rail-accounts/{id}",
		Summary: "Delete a rail account", Tags: tags, Errors: errsWrite,
		Description: "New invoices no longer offer the rail, and its callback secret is revoked: notifications for it are refused.",
	}, s.deleteRailAccount)
	huma.Register(api, huma.Operation{
		OperationID: "list-unmatched-rail-credits", Method: http.MethodGet, Path: "/api/v1/rail-unmatched",
		Summary: "List unmatched rail credits", Tags: tags, Errors: errsRead,
		Description: "Rail credits that named no invoice (no reference and no single open invoice of their amount, another currency), newest first, with why. Nothing a rail reports is dropped.",
	}, s.listUnmatchedRail)
	huma.Register(api, huma.Operation{
		OperationID: "get-request-for-payment", Method: http.MethodGet, Path: "/api/v1/invoices/{id}/request-for-payment",
		Summary: "ISO 20022 request for payment (pain.013)", Tags: []string{"Invoices"}, Errors: append(slices.Clone(errsRead), http.StatusConflict),
		Description: "A pain.013.001.07 creditor payment activation request for the invoice's amount due, with its reference as end-to-end id and remittance, addressed from your rail account; hand it to your bank to send over FedNow or RTP.",
		Responses: map[string]*huma.Response{"200": {Description: "The pain.013 document", Content: map[string]*huma.MediaType{
			"application/xml": {Schema: &huma.Schema{Type: "string"}},
		}}},
	}, s.requestForPayment)

	ntags := []string{"Rail notifications"}
	none := []map[string][]string{}
	signed := " Authenticated by the rail account: X-Settle-Account names it and X-Settle-Signature signs the exact body (t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\"> under its callback_secret, t within 5 minutes). A bad or stale signature is 401 and nothing is stored. Each credit ends as exactly one of: a payment (matched), an unmatched credit of this merchant (unmatched), or a duplicate of this merchant's earlier credit; identities are scoped to the rail account, never shared with another merchant."
	for _, rail := range []string{fiat.RailFedNow, fiat.RailRTP} {
		huma.Register(api, huma.Operation{
			OperationID: "receive-" + rail + "-notification", Method: http.MethodPost, Path: railsPrefix + rail + "/notifications",
			Summary: "Receive an ISO 20022 notification (" + rail + ")", Tags: ntags, Errors: errsRail, Security: none, MaxBodyBytes: humaMaxBodyBytes,
			Description: "A camt.054, pacs.008, pacs.004 or pacs.002 document (bare or in its AppHdr envelope). Each booked credit is matched by the invoice reference in EndToEndId or remittance information, else by amount and currency when exactly one open invoice offering the rail has that amount, and recorded as a confirmed payment; others are kept as unmatched. A credit with a UETR is that transfer however it arrives: its pacs.008 and its camt.054, on FedNow or RTP, make one payment. Returns and rejections of a credit recorded before reverse its payment (status returned; invoice_payment.updated with the payment reversed, the payment_failed of other processors; the reason code and text kept as the payment's return_code and return_reason): a pacs.004 payment return (TxInf: OrgnlUETR, else OrgnlTxId; RtrdIntrBkSttlmAmt; RtrRsnInf/Rsn/Cd), a camt.054 debit entry with RvslInd true or a return bank transaction code (PMNT, sub-family RRTN, ARET or RPCR; Refs UETR, else TxId; RtrInf/Rsn/Cd), a pacs.002 transaction with TxSts RJCT (StsRsnInf/Rsn/Cd; the amount in OrgnlTxRef compared when given). The credit is found by its UETR whichever message recorded it; without one, by the pacs.008's TxId it was recorded under. The same return again is a duplicate; an original this account's merchant never recorded is 404 credit_not_found, another amount 409 return_mismatch, and nothing of that return is changed." + signed,
		}, s.receiveISO20022(rail))
	}
	huma.Register(api, huma.Operation{
		OperationID: "receive-ach-file", Method: http.MethodPost, Path: railsPrefix + "ach/files",
		Summary: "Receive a NACHA file (Same-Day ACH)", Tags: ntags, Errors: errsRail, Security: none, MaxBodyBytes: humaMaxBodyBytes,
		Description: "A NACHA file whose batch and file controls check. Each live credit entry (codes 22, 32) is matched by the reference in its identification number or addenda, else by amount, and de-duplicated by effective date and trace number. A return of a credit (transaction code 21 or 31 with an addenda 99: reason R01–R85, original entry trace number, date of death, original RDFI) reverses the payment of this account's latest credit with that trace (status returned; invoice_payment.updated with the payment reversed; the R code and its meaning kept as return_code and return_reason). The same return again is a duplicate; an unknown trace is 404 credit_not_found, another amount 409 return_mismatch." + signed,
	}, s.receiveACH)
	huma.Register(api, huma.Operation{
		OperationID: "receive-push-to-card-notification", Method: http.MethodPost, Path: railsPrefix + "push_to_card/notifications",
		Summary: "Receive a push-to-card notification", Tags: ntags, Errors: errsRail, Security: none, MaxBodyBytes: humaMaxBodyBytes,
		Description: "The card processor's JSON notification that a push from the payor's card (Visa Direct, Mastercard Send) credited you: {id, type: push_to_card.credited, amount (minor units), currency, card_last4, network, reference, created}. Settle never pulls card funds. A push the card network returned after the credit comes as type push_to_card.returned with original_id (the credited push's id) and return_reason: its payment is reversed (status returned; invoice_payment.updated with the payment reversed, the payment_failed of other processors); an unknown original_id answers 404 credit_not_found." + signed,
	}, s.receivePush)
	huma.Register(api, huma.Operation{
		OperationID: "receive-qris-notification", Method: http.MethodPost, Path: railsPrefix + "qris/notifications",
		Summary: "Receive a forwarded QRIS e-wallet notification", Tags: ntags, Errors: errsRail, Security: none, MaxBodyBytes: humaMaxBodyBytes,
		Description: "What an Android notification forwarder posts: {app, title, message, timestamp, device_id, notif_id, event_hash}, with Authorization: Bearer <callback_secret>. The credited rupiah amount is read from the text (a balance or fee beside it is left aside) and names the open QRIS invoice whose total (amount + unique code) it is. A notification is identified by device_id, notif_id and event_hash together. event_hash \"test\" is a connection test (200, nothing stored); a notification seen before answers 200 with message \"Duplicate notification\"; no readable amount, or two amounts that could each be the credit, is 422 amount_unreadable (nothing stored); no invoice with that total is 404 no_matching_invoice (the credit is kept as unmatched).",
	}, s.receiveQRISForwarded)
	huma.Register(api, huma.Operation{
		OperationID: "receive-qris-callback", Method: http.MethodPost, Path: railsPrefix + "qris/callback",
		Summary: "Receive a QRIS payment callback", Tags: ntags, Errors: errsRail, Security: none, MaxBodyBytes: humaMaxBodyBytes,
		Description: "An aggregator's or relay's {amount, sender_name, reference?} with X-Callback-Key: <callback_secret>; matched by an invoice reference in reference, else by total. reference is optional and need not be unique: a callback is identified by its amount, its reference and the invoice it pays together, so a retry is a duplicate and another payment reusing a reference is not. Answers as the forwarder endpoint does.",
	}, s.receiveQRISCallback)
}

func (s *server) createRailAccount(ctx context.Context, in *createRailAccountInput) (*struct{ Body fiat.RailAccountObject }, error) {
	p := principal(ctx)
	b := in.Body
	a, err := s.rails.CreateAccount(ctx, fiat.AccountParams{
		MerchantID: p.MerchantID, Mode: p.Mode, Rail: b.Rail, BankName: b.BankName, AccountName: b.AccountName,
		AccountNumber: b.AccountNumber, RoutingNumber: b.RoutingNumber, QRISPayload: b.QRISPayload, ProcessorID: b.ProcessorID,
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := a.Object()
	out.CallbackSecret = a.CallbackSecret
	return &struct{ Body fiat.RailAccountObject }{out}, nil
}

func (s *server) listRailAccounts(ctx context.Context, _ *struct{}) (*struct{ Body RailAccountList }, error) {
	p := principal(ctx)
	list, err := s.rails.Accounts(ctx, p.MerchantID, p.Mode)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := RailAccountList{Object: "list", Data: make([]fiat.RailAccountObject, len(list))}
	for i := range list {
		out.Data[i] = list[i].Object()
	}
	return &struct{ Body RailAccountList }{out}, nil
}

func (s *server) getRailAccount(ctx context.Context, in *RailAccountIDParam) (*struct{ Body fiat.RailAccountObject }, error) {
	p := principal(ctx)
	a, err := s.rails.Account(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body fiat.RailAccountObject }{a.Object()}, nil
}

func (s *server) deleteRailAccount(ctx context.Context, in *RailAccountIDParam) (*struct{ Body DeletedRailAccount }, error) {
	p := principal(ctx)
	a, err := s.rails.DeleteAccount(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body DeletedRailAccount }{DeletedRailAccount{ID: a.ID, Object: "rail_account", Deleted: true}}, nil
}

func (s *server) listUnmatchedRail(ctx context.Context, in *listUnmatchedInput) (*struct{ Body UnmatchedRailCreditList }, error) {
	p := principal(ctx)
	list, more, err := s.rails.UnmatchedList(ctx, p.MerchantID, p.Mode, in.After, in.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := UnmatchedRailCreditList{Object: "list", Data: make([]fiat.UnmatchedCreditObject, len(list)), HasMore: more}
	for i := range list {
		out.Data[i] = list[i].Object()
	}
	return &struct{ Body UnmatchedRailCreditList }{out}, nil
}

func (s *server) requestForPayment(ctx context.Context, in *requestForPaymentInput) (*xmlOutput, error) {
	p := principal(ctx)
	inv, err := s.invoices.Get(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	m, _ := chains.MethodByID(in.Rail)
	if !slices.Contains(inv.PaymentMethods, m.ID) {
		return nil, problem(http.StatusUnprocessableEntity, "invalid_rail", "rail: this invoice is not payable by "+in.Rail,
			&huma.ErrorDetail{Location: "query.rail", Message: "not one of this invoice's payment methods", Value: in.Rail})
	}
	if inv.Status != invoice.StatusOpen && inv.Status != invoice.StatusProcessing || !s.invoices.Now().Before(inv.ExpiresAt) {
		return nil, problem(http.StatusConflict, "invoice_not_payable", "Only an open invoice before its expiry can be requested for payment.")
	}
	doc, err := s.rails.RequestForPayment(ctx, inv, in.Rail)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &xmlOutput{ContentType: "application/xml; charset=utf-8", Body: doc}, nil
}

// notificationFailed answers a notification that was not authenticated or
// could not be read; nothing was stored.
func (s *server) notificationFailed(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, fiat.ErrStale):
		return problem(http.StatusUnauthorized, "signature_expired", "The signature's timestamp is more than 5 minutes from now: a replay, or a clock far off. Nothing was stored.")
	case errors.Is(err, fiat.ErrUnauthenticated), errors.Is(err, fiat.ErrSignature):
		return problem(http.StatusUnauthorized, "invalid_signature", "The rail account, signature or callback key is wrong. Nothing was stored.")
	}
	return s.fail(ctx, err)
}

// unreadable answers an authenticated body that is not the rail's format.
func unreadable(err error) error {
	return problem(http.StatusUnprocessableEntity, "invalid_notification", "The body is not a notification of this rail: "+err.Error()+". Nothing was stored.")
}

func (s *server) receiveISO20022(rail string) func(context.Context, *signedInput) (*railResultOutput, error) {
	return func(ctx context.Context, in *signedInput) (*railResultOutput, error) {
		a, err := s.rails.Signed(ctx, rail, in.Account, in.Signature, in.RawBody)
		if err != nil {
			return nil, s.notificationFailed(ctx, err)
		}
		credits, err := fiat.ParseISO20022(in.RawBody)
		if err != nil {
			return nil, unreadable(err)
		}
		returns, err := fiat.ParseISO20022Returns(in.RawBody)
		if err != nil {
			return nil, unreadable(err)
		}
		res, err := s.receive(ctx, a, fiat.FromISO20022(credits))
		if err != nil {
			return nil, err
		}
		for _, r := range returns {
			if err := s.reverse(ctx, a, &res.Body, r.Reversal()); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
}

func (s *server) receiveACH(ctx context.Context, in *signedInput) (*railResultOutput, error) {
	a, err := s.rails.Signed(ctx, fiat.RailACH, in.Account, in.Signature, in.RawBody)
	if err != nil {
		return nil, s.notificationFailed(ctx, err)
	}
	f, err := fiat.ParseNACHA(in.RawBody)
	if err != nil {
		return nil, unreadable(err)
	}
	res, err := s.receive(ctx, a, fiat.FromNACHA(f, s.invoices.Now()))
	if err != nil {
		return nil, err
	}
	for _, r := range f.Returns() {
		if err := s.reverse(ctx, a, &res.Body, r.Reversal()); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (s *server) receivePush(ctx context.Context, in *signedInput) (*railResultOutput, error) {
	a, err := s.rails.Signed(ctx, fiat.RailPushToCard, in.Account, in.Signature, in.RawBody)
	if err != nil {
		return nil, s.notificationFailed(ctx, err)
	}
	n, err := fiat.ParsePushNotification([]byte(a.CallbackSecret), in.Signature, in.RawBody, s.invoices.Now())
	if errors.Is(err, fiat.ErrPushNotification) {
		return nil, unreadable(err)
	}
	if err != nil {
		return nil, s.notificationFailed(ctx, err)
	}
	if n.Type == fiat.PushReturned {
		return s.receiveReturn(ctx, a, n)
	}
	return s.receive(ctx, a, []fiat.Incoming{fiat.FromPush(n)})
}

// receiveReturn reverses the payment of a returned push.
func (s *server) receiveReturn(ctx context.Context, a fiat.Account, n fiat.PushNotification) (*railResultOutput, error) {
	c := fiat.FromPush(n)
	out := RailNotificationResult{Object: "rail_notification", Rail: a.Rail, Results: []fiat.Outcome{}}
	err := s.reverse(ctx, a, &out, fiat.Reversal{ID: n.ID, TxIDs: []string{n.OriginalID}, Amount: c.Amount, Currency: c.Currency,
		Code: n.ReturnReason, Reason: strings.ReplaceAll(n.ReturnReason, "_", " ")})
	if err != nil {
		return nil, err
	}
	return &railResultOutput{out}, nil
}

// reverse reverses the payment of the credit v returns and adds what
// became of it to out. An unknown credit is 404 credit_not_found, one of
// another amount 409 return_mismatch: nothing of that return is changed.
func (s *server) reverse(ctx context.Context, a fiat.Account, out *RailNotificationResult, v fiat.Reversal) error {
	o, err := s.rails.Return(ctx, a, v)
	switch {
	case errors.Is(err, fiat.ErrUnknownCredit):
		return problem(http.StatusNotFound, "credit_not_found", "No payment of credit "+o.ID+" was recorded on this account: nothing was reversed.")
	case errors.Is(err, fiat.ErrReturnMismatch):
		return problem(http.StatusConflict, "return_mismatch", err.Error()+": nothing was reversed.")
	case err != nil:
		return s.fail(ctx, err)
	}
	out.Results = append(out.Results, o)
	return nil
}

// receive records each credit and says what became of it.
func (s *server) receive(ctx context.Context, a fiat.Account, credits []fiat.Incoming) (*railResultOutput, error) {
	out := RailNotificationResult{Object: "rail_notification", Rail: a.Rail, Results: []fiat.Outcome{}}
	for _, c := range credits {
		o, err := s.rails.Receive(ctx, a, c)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out.Results = append(out.Results, o)
	}
	return &railResultOutput{out}, nil
}

func (s *server) receiveQRISForwarded(ctx context.Context, in *qrisForwardedInput) (*struct{ Body QRISAnswer }, error) {
	scheme, secret, _ := strings.Cut(in.Authorization, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		secret = ""
	}
	a, err := s.rails.Keyed(ctx, fiat.RailQRIS, strings.TrimSpace(secret))
	if err != nil {
		return nil, s.notificationFailed(ctx, err)
	}
	f, err := fiat.ParseForwarded(in.RawBody)
	if err != nil {
		return nil, unreadable(err)
	}
	if f.IsTest() {
		return &struct{ Body QRISAnswer }{QRISAnswer{Status: "test", Message: "Connection test received"}}, nil
	}
	c, err := fiat.FromForwarded(a, f, s.invoices.Now())
	if err != nil {
		return nil, problem(http.StatusUnprocessableEntity, "amount_unreadable", "No rupiah amount can be read from the notification: "+err.Error())
	}
	return s.answerQRIS(ctx, a, c)
}

func (s *server) receiveQRISCallback(ctx context.Context, in *qrisCallbackInput) (*struct{ Body QRISAnswer }, error) {
	a, err := s.rails.Keyed(ctx, fiat.RailQRIS, strings.TrimSpace(in.CallbackKey))
	if err != nil {
		return nil, s.notificationFailed(ctx, err)
	}
	cb, err := fiat.ParseQRISCallback(in.RawBody)
	if err != nil {
		return nil, unreadable(err)
	}
	return s.answerQRIS(ctx, a, fiat.FromQRISCallback(a, cb, s.invoices.Now()))
}

func (s *server) answerQRIS(ctx context.Context, a fiat.Account, c fiat.Incoming) (*struct{ Body QRISAnswer }, error) {
	o, err := s.rails.Receive(ctx, a, c)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	ans := QRISAnswer{Status: o.Status, InvoiceID: o.InvoiceID, PaymentID: o.PaymentID, Message: "Payment recorded"}
	switch o.Status {
	case fiat.Duplicate:
		ans.Message = "Duplicate notification"
	case fiat.Unmatched:
		return nil, problem(http.StatusNotFound, "no_matching_invoice", "No open QRIS invoice has total "+c.Amount+"; the credit is kept as unmatched (GET /api/v1/rail-unmatched).")
	}
	return &struct{ Body QRISAnswer }{ans}, nil
}
