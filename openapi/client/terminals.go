package client

import (
	"context"
	"net/url"
	"time"
)

// Terminal is a point-of-sale terminal (the spec's TerminalObject).
type Terminal struct {
	ID         string     `json:"id"`
	Object     string     `json:"object"`
	Mode       Mode       `json:"mode"`
	Name       string     `json:"name"`
	LocationID string     `json:"location_id"`
	KeyPrefix  string     `json:"key_prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	DeletedAt  *time.Time `json:"deleted_at"` // set once deleted
}

// NewTerminal is a terminal as created, with its API key (scope terminal)
// and its command secret, both shown only this once.
type NewTerminal struct {
	Terminal
	APIKey        string `json:"api_key"`
	CommandSecret string `json:"command_secret"`
}

// TerminalList is one page of terminals, newest first.
type TerminalList struct {
	Object  string     `json:"object"`
	Data    []Terminal `json:"data"`
	HasMore bool       `json:"has_more"`
}

// CreateTerminalParams is the body of create-terminal.
type CreateTerminalParams struct {
	Name       string `json:"name"`
	LocationID string `json:"location_id,omitempty"`
}

// CreateTerminal creates a terminal in the key's mode.
func (c *Client) CreateTerminal(ctx context.Context, p CreateTerminalParams, opts ...RequestOption) (*NewTerminal, error) {
	var out NewTerminal
	_, err := c.do(ctx, &call{op: opCreateTerminal, body: p}, &out, opts...)
	return ptr(&out, err)
}

// ListTerminals returns one page of terminals, deleted ones included.
func (c *Client) ListTerminals(ctx context.Context, after string, limit int) (*TerminalList, error) {
	q := url.Values{}
	setPage(q, after, limit)
	var out TerminalList
	_, err := c.do(ctx, &call{op: opListTerminals, query: q}, &out)
	return ptr(&out, err)
}

// GetTerminal retrieves a terminal; a terminal's own key may.
func (c *Client) GetTerminal(ctx context.Context, id string) (*Terminal, error) {
	var out Terminal
	_, err := c.do(ctx, &call{op: opGetTerminal, id: id}, &out)
	return ptr(&out, err)
}

// DeleteTerminal revokes the terminal's key, closing its sockets, and
// marks it deleted.
func (c *Client) DeleteTerminal(ctx context.Context, id string) (*Terminal, error) {
	var out Terminal
	_, err := c.do(ctx, &call{op: opDeleteTerminal, id: id}, &out)
	return ptr(&out, err)
}

// ListTerminalInvoices returns one page of the invoices a terminal
// created, newest first, created at or after since when it is not zero.
func (c *Client) ListTerminalInvoices(ctx context.Context, id string, since time.Time, after string, limit int) (*InvoiceList, error) {
	q := url.Values{}
	setTime(q, "since", since)
	setPage(q, after, limit)
	var out InvoiceList
	_, err := c.do(ctx, &call{op: opListTerminalInvoices, id: id, query: q}, &out)
	return ptr(&out, err)
}

// ListInvoiceEvents returns one page of an invoice's events after the
// event id after, in sequence order.
func (c *Client) ListInvoiceEvents(ctx context.Context, id, after string, limit int) (*EventList, error) {
	q := url.Values{}
	setPage(q, after, limit)
	var out EventList
	_, err := c.do(ctx, &call{op: opListInvoiceEvents, id: id, query: q}, &out)
	return ptr(&out, err)
}
