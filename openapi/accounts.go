package openapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/chains"
)

// CreateReceivingAccountBody is a new receiving account: an address or an
// xpub on one network.
type CreateReceivingAccountBody struct {
	Network string `json:"network" maxLength:"32" example:"base_sepolia" doc:"Network id (GET /api/v1/networks lists them); of the key's mode."`
	Address string `json:"address,omitempty" maxLength:"64" example:"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" doc:"One EVM address receiving every invoice; EIP-55 checksum checked when mixed case. Each invoice is told apart by a unique amount: its amount plus 1 to 9,999 base units (under a cent), which the payor is shown as the exact amount to send."`
	XPub    string `json:"xpub,omitempty" maxLength:"128" example:"xpub6C…" doc:"Watch-only BIP32 extended public key (xpub or tpub), e.g. your wallet's account key m/44'/60'/0'. Each invoice gets the next address 0/i below it, never reused. Private keys are refused."`
}

// ReceivingAccountIDParam is the {id} of a receiving account path.
type ReceivingAccountIDParam struct {
	ID string `path:"id" maxLength:"64" example:"rac_06f0r5v3q8k2d1b4n7m9c0x2zs" doc:"Receiving account id."`
}

// ReceivingAccountList is every active receiving account of the key's mode.
type ReceivingAccountList struct {
	Object string                 `json:"object" enum:"list"`
	Data   []chains.AccountObject `json:"data" nullable:"false"`
}

// DeletedReceivingAccount answers a delete.
type DeletedReceivingAccount struct {
	ID      string `json:"id" example:"rac_06f0r5v3q8k2d1b4n7m9c0x2zs"`
	Object  string `json:"object" enum:"receiving_account"`
	Deleted bool   `json:"deleted"`
}

// UnmatchedPaymentList is one page of unmatched payments, newest first.
type UnmatchedPaymentList struct {
	Object  string                   `json:"object" enum:"list"`
	Data    []chains.UnmatchedObject `json:"data" nullable:"false"`
	HasMore bool                     `json:"has_more" doc:"Whether another page follows; fetch it with after = the last id of data."`
}

type createReceivingAccountInput struct {
	IdempotencyHeader
	Body CreateReceivingAccountBody
}

type listUnmatchedInput struct {
	After string `query:"after" maxLength:"64" doc:"Cursor: the last id of the previous page."`
	Limit int64  `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
}

type accountOutput struct{ Body chains.AccountObject }

func (s *server) registerAccounts(api huma.API) {
	tags := []string{"Receiving accounts"}
	huma.Register(api, huma.Operation{
		OperationID: "create-receiving-account", Method: http.MethodPost, Path: "/api/v1/receiving-accounts",
		Summary: "Add a receiving account", Tags: tags, DefaultStatus: http.StatusCreated,
		Description: "Where invoices of this mode are paid on one network: one address (invoices told apart by a unique amount) or a watch-only xpub (one derived address per invoice). One active account per network and mode; settle never holds a private key.",
		Errors:      errsWrite, MaxBodyBytes: humaMaxBodyBytes,
	}, s.createReceivingAccount)
	huma.Register(api, huma.Operation{
		OperationID: "list-receiving-accounts", Method: http.MethodGet, Path: "/api/v1/receiving-accounts",
		Summary: "List receiving accounts", Tags: tags, Errors: errsRead,
	}, s.listReceivingAccounts)
	huma.Register(api, huma.Operation{
		OperationID: "get-receiving-account", Method: http.MethodGet, Path: "/api/v1/receiving-accounts/{id}",
		Summary: "Retrieve a receiving account", Tags: tags, Errors: errsRead,
	}, s.getReceivingAccount)
	huma.Register(api, huma.Operation{
		OperationID: "delete-receiving-account", Method: http.MethodDelete, Path: "/api/v1/receiving-accounts/{id}",
		Summary: "Delete a receiving account", Tags: tags, Errors: errsWrite,
		Description: "New invoices no longer use it; payments to invoices that already carry its address are still detected.",
	}, s.deleteReceivingAccount)
	huma.Register(api, huma.Operation{
		OperationID: "list-unmatched-payments", Method: http.MethodGet, Path: "/api/v1/unmatched-payments",
		Summary: "List unmatched payments", Tags: tags, Errors: errsRead,
		Description: "Transfers to your receiving addresses that match no invoice (an amount no open invoice expects, or a payment long after expiry), newest first, with their chain status. Nothing sent to you is dropped.",
	}, s.listUnmatched)
}

func (s *server) createReceivingAccount(ctx context.Context, in *createReceivingAccountInput) (*accountOutput, error) {
	p := principal(ctx)
	a, err := s.ledger.CreateAccount(ctx, chains.AccountParams{
		MerchantID: p.MerchantID, Mode: p.Mode, Network: in.Body.Network, Address: in.Body.Address, XPub: in.Body.XPub,
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &accountOutput{a.Object()}, nil
}

func (s *server) listReceivingAccounts(ctx context.Context, _ *struct{}) (*struct{ Body ReceivingAccountList }, error) {
	p := principal(ctx)
	list, err := s.ledger.Accounts(ctx, p.MerchantID, p.Mode)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := ReceivingAccountList{Object: "list", Data: make([]chains.AccountObject, len(list))}
	for i := range list {
		out.Data[i] = list[i].Object()
	}
	return &struct{ Body ReceivingAccountList }{out}, nil
}

func (s *server) getReceivingAccount(ctx context.Context, in *ReceivingAccountIDParam) (*accountOutput, error) {
	p := principal(ctx)
	a, err := s.ledger.Account(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &accountOutput{a.Object()}, nil
}

func (s *server) deleteReceivingAccount(ctx context.Context, in *ReceivingAccountIDParam) (*struct{ Body DeletedReceivingAccount }, error) {
	p := principal(ctx)
	a, err := s.ledger.DeleteAccount(ctx, p.MerchantID, p.Mode, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &struct{ Body DeletedReceivingAccount }{DeletedReceivingAccount{ID: a.ID, Object: "receiving_account", Deleted: true}}, nil
}

func (s *server) listUnmatched(ctx context.Context, in *listUnmatchedInput) (*struct{ Body UnmatchedPaymentList }, error) {
	p := principal(ctx)
	list, more, err := s.ledger.UnmatchedList(ctx, p.MerchantID, p.Mode, in.After, in.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := UnmatchedPaymentList{Object: "list", Data: make([]chains.UnmatchedObject, len(list)), HasMore: more}
	for i := range list {
		out.Data[i] = list[i].Object()
	}
	return &struct{ Body UnmatchedPaymentList }{out}, nil
}
