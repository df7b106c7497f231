package client

import (
	"context"
	"net/url"
	"time"
)

// ReceivingAccount is where invoices of a mode are paid on one network
// (the spec's AccountObject): one address, or a watch-only xpub.
type ReceivingAccount struct {
	ID        string    `json:"id"`
	Object    string    `json:"object"`
	Mode      Mode      `json:"mode"`
	Network   string    `json:"network"`
	Kind      string    `json:"kind"` // address or xpub
	Address   string    `json:"address,omitempty"`
	Xpub      string    `json:"xpub,omitempty"`
	NextIndex int64     `json:"next_index"`
	CreatedAt time.Time `json:"created_at"`
}

// ReceivingAccountList lists the key's receiving accounts.
type ReceivingAccountList struct {
	Object string             `json:"object"`
	Data   []ReceivingAccount `json:"data"`
}

// CreateReceivingAccountParams is the body of create-receiving-account:
// Network and one of Address and Xpub.
type CreateReceivingAccountParams struct {
	Network string `json:"network"`
	Address string `json:"address,omitempty"`
	Xpub    string `json:"xpub,omitempty"`
}

// DeletedReceivingAccount is the answer of delete-receiving-account.
type DeletedReceivingAccount struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// UnmatchedPayment is a transfer to a receiving address that matched no
// invoice (the spec's UnmatchedObject).
type UnmatchedPayment struct {
	ID                 string    `json:"id"`
	Object             string    `json:"object"`
	Mode               Mode      `json:"mode"`
	ReceivingAccountID string    `json:"receiving_account_id"`
	Method             string    `json:"method"`
	Network            string    `json:"network"`
	TxID               string    `json:"tx_id"`
	Index              int64     `json:"index"`
	Asset              string    `json:"asset"`
	Amount             string    `json:"amount"`
	AmountUnits        string    `json:"amount_units"`
	Status             string    `json:"status"`
	From               string    `json:"from"`
	To                 string    `json:"to"`
	BlockNumber        int64     `json:"block_number"`
	BlockHash          string    `json:"block_hash"`
	ObservedAt         time.Time `json:"observed_at"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// UnmatchedPaymentList is one page of unmatched payments, newest first.
type UnmatchedPaymentList struct {
	Object  string             `json:"object"`
	Data    []UnmatchedPayment `json:"data"`
	HasMore bool               `json:"has_more"`
}

// Network is a network of the catalogue (the spec's NetworkObject).
type Network struct {
	ID            string   `json:"id"`
	Object        string   `json:"object"`
	Name          string   `json:"name"`
	Kind          string   `json:"kind"` // sandbox, evm, solana or rail
	Mode          Mode     `json:"mode"`
	ChainID       int64    `json:"chain_id,omitempty"`
	Confirmations int64    `json:"confirmations"`
	Offered       bool     `json:"offered"` // this server watches it
	Methods       []Method `json:"methods"`
}

// Method is a payment method of a network (the spec's MethodObject).
type Method struct {
	ID       string `json:"id"` // e.g. usdc_base_sepolia
	Label    string `json:"label"`
	Asset    string `json:"asset"`
	Decimals int64  `json:"decimals"`
	Token    string `json:"token,omitempty"`
}

// NetworkList is the catalogue of the key's mode.
type NetworkList struct {
	Object string    `json:"object"`
	Data   []Network `json:"data"`
}

// CreateReceivingAccount adds where the key's mode is paid on a network.
func (c *Client) CreateReceivingAccount(ctx context.Context, p CreateReceivingAccountParams, opts ...RequestOption) (*ReceivingAccount, error) {
	var out ReceivingAccount
	_, err := c.do(ctx, &call{op: opCreateAccount, body: p}, &out, opts...)
	return ptr(&out, err)
}

// ListReceivingAccounts lists the key's receiving accounts.
func (c *Client) ListReceivingAccounts(ctx context.Context) (*ReceivingAccountList, error) {
	var out ReceivingAccountList
	_, err := c.do(ctx, &call{op: opListAccounts}, &out)
	return ptr(&out, err)
}

// GetReceivingAccount retrieves a receiving account.
func (c *Client) GetReceivingAccount(ctx context.Context, id string) (*ReceivingAccount, error) {
	var out ReceivingAccount
	_, err := c.do(ctx, &call{op: opGetAccount, id: id}, &out)
	return ptr(&out, err)
}

// DeleteReceivingAccount stops new invoices from using an account.
func (c *Client) DeleteReceivingAccount(ctx context.Context, id string) (*DeletedReceivingAccount, error) {
	var out DeletedReceivingAccount
	_, err := c.do(ctx, &call{op: opDeleteAccount, id: id}, &out)
	return ptr(&out, err)
}

// ListUnmatchedPayments returns one page of unmatched payments.
func (c *Client) ListUnmatchedPayments(ctx context.Context, after string, limit int) (*UnmatchedPaymentList, error) {
	q := url.Values{}
	setPage(q, after, limit)
	var out UnmatchedPaymentList
	_, err := c.do(ctx, &call{op: opListUnmatched, query: q}, &out)
	return ptr(&out, err)
}

// ListNetworks returns the catalogue of the key's mode.
func (c *Client) ListNetworks(ctx context.Context) (*NetworkList, error) {
	var out NetworkList
	_, err := c.do(ctx, &call{op: opListNetworks}, &out)
	return ptr(&out, err)
}
