package client

import (
	"context"
	"errors"
	"iter"
	"net/url"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// CreateInvoice creates an invoice in the key's mode. Pass
// WithIdempotencyKey (e.g. your order id) to make retries across processes
// safe; without it the client's own retries are still safe.
func (c *Client) CreateInvoice(ctx context.Context, p CreateInvoiceParams, opts ...RequestOption) (*Invoice, error) {
	var out Invoice
	_, err := c.do(ctx, &call{op: opCreateInvoice, body: p}, &out, opts...)
	return ptr(&out, err)
}

// GetInvoice retrieves an invoice.
func (c *Client) GetInvoice(ctx context.Context, id string) (*Invoice, error) {
	var out Invoice
	_, err := c.do(ctx, &call{op: opGetInvoice, id: id}, &out)
	return ptr(&out, err)
}

// GetInvoiceStatus retrieves an invoice's status, amounts paid and due.
func (c *Client) GetInvoiceStatus(ctx context.Context, id string) (*InvoiceStatus, error) {
	var out InvoiceStatus
	_, err := c.do(ctx, &call{op: opGetInvoiceStatus, id: id}, &out)
	return ptr(&out, err)
}

// ListInvoices returns one page of invoices, newest first.
func (c *Client) ListInvoices(ctx context.Context, p ListInvoicesParams) (*InvoiceList, error) {
	q := url.Values{}
	set(q, "status", string(p.Status))
	set(q, "merchant_order_id", p.MerchantOrderID)
	setTime(q, "created_gte", p.CreatedGTE)
	setTime(q, "created_lte", p.CreatedLTE)
	setPage(q, p.After, p.Limit)
	var out InvoiceList
	_, err := c.do(ctx, &call{op: opListInvoices, query: q}, &out)
	return ptr(&out, err)
}

// Invoices walks every invoice that p selects, page after page from
// p.After, newest first. An error ends the walk after it is yielded.
func (c *Client) Invoices(ctx context.Context, p ListInvoicesParams) iter.Seq2[Invoice, error] {
	return pages(func(after string) ([]Invoice, bool, error) {
		p.After = after
		l, err := c.ListInvoices(ctx, p)
		if err != nil {
			return nil, false, err
		}
		return l.Data, l.HasMore, nil
	}, p.After, func(inv Invoice) string { return inv.ID })
}

// CancelInvoice cancels an open invoice with nothing paid or pending; any
// other is refused with CodeInvoiceNotCancellable.
func (c *Client) CancelInvoice(ctx context.Context, id string, opts ...RequestOption) (*Invoice, error) {
	var out Invoice
	_, err := c.do(ctx, &call{op: opCancelInvoice, id: id}, &out, opts...)
	return ptr(&out, err)
}

// UpdateCheckoutParams says what UpdateCheckout does; set at least one.
type UpdateCheckoutParams struct {
	Unlock  bool `json:"unlock,omitempty"`   // lift every lock; the same link works again
	NewLink bool `json:"new_link,omitempty"` // a new payment_url and session headers; the old ones stop working
}

// UpdateCheckout unlocks an invoice's checkout after wrong signatures
// locked it, or issues a new link (and unlocks). The answer carries the
// new PaymentURL and PaymentSessionHeaders.
func (c *Client) UpdateCheckout(ctx context.Context, id string, p UpdateCheckoutParams, opts ...RequestOption) (*Invoice, error) {
	var out Invoice
	_, err := c.do(ctx, &call{op: opUpdateCheckout, id: id, body: p}, &out, opts...)
	return ptr(&out, err)
}

// InvoiceQR returns an invoice's QR code for a terminal screen or a
// receipt, as "png" (of size pixels, 64–1024; 0 for 320) or "svg", and its
// content type: the payment_url, or with method that method's own payment
// URI. Fetching it is not a scan.
func (c *Client) InvoiceQR(ctx context.Context, id, format string, size int, method string) ([]byte, string, error) {
	q := url.Values{}
	set(q, "format", format)
	if size != 0 {
		q.Set("size", strconv.Itoa(size))
	}
	set(q, "method", method)
	r := &call{op: opInvoiceQR, id: id, query: q, accept: "image/png, image/svg+xml, application/problem+json"}
	var out []byte
	meta, err := c.do(ctx, r, &out)
	if err != nil {
		return nil, "", err
	}
	return out, meta.header.Get("Content-Type"), nil
}

// FulfilInvoice reports the goods of a paid invoice created with
// Fulfilled: false handed over; calling again changes nothing.
func (c *Client) FulfilInvoice(ctx context.Context, id string, opts ...RequestOption) (*Invoice, error) {
	var out Invoice
	_, err := c.do(ctx, &call{op: opFulfilInvoice, id: id}, &out, opts...)
	return ptr(&out, err)
}

// SimulatePayment applies a sandbox (or any test method's) payment to a
// test invoice through the same path the chain watchers use. Test keys
// only.
func (c *Client) SimulatePayment(ctx context.Context, id string, p SimulatePaymentParams, opts ...RequestOption) (*SimulatedPayment, error) {
	var out SimulatedPayment
	_, err := c.do(ctx, &call{op: opSimulatePayment, id: id, body: p}, &out, opts...)
	return ptr(&out, err)
}

// WaitPolicy is the polling schedule of WaitForTerminalStatus.
type WaitPolicy struct {
	Initial time.Duration // first wait, default 500 ms
	Max     time.Duration // longest wait, default 10 s
}

// WaitForTerminalStatus polls the invoice's status, waiting longer each
// time (500 ms growing to 10 s), until it is paid, expired, cancelled or
// invalid (Status.Terminal), and returns that status. It ends early when ctx does, or on an error that
// retrying cannot fix (a 4xx such as not_found). For a quicker answer
// without polling, follow Stream or webhooks instead.
func (c *Client) WaitForTerminalStatus(ctx context.Context, id string) (*InvoiceStatus, error) {
	return c.WaitForTerminalStatusWith(ctx, id, WaitPolicy{})
}

// WaitForTerminalStatusWith is WaitForTerminalStatus with another schedule.
func (c *Client) WaitForTerminalStatusWith(ctx context.Context, id string, w WaitPolicy) (*InvoiceStatus, error) {
	if w.Initial <= 0 {
		w.Initial = 500 * time.Millisecond
	}
	if w.Max <= 0 {
		w.Max = 10 * time.Second
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(w.Initial), backoff.WithMaxInterval(w.Max), backoff.WithMaxElapsedTime(0))
	for {
		st, err := c.GetInvoiceStatus(ctx, id)
		switch {
		case err == nil && st.Status.Terminal():
			return st, nil
		case err != nil && !transient(err):
			return nil, err
		}
		if serr := sleep(ctx, b.NextBackOff()); serr != nil {
			return nil, errors.Join(serr, err)
		}
	}
}

// pages walks a cursor-paged list: fetch returns the page after a cursor
// and whether another follows; id gives an item's cursor.
func pages[T any](fetch func(after string) ([]T, bool, error), after string, id func(T) string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			items, more, err := fetch(after)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if !more || len(items) == 0 {
				return
			}
			after = id(items[len(items)-1])
		}
	}
}

// ptr returns v, or nil with err.
func ptr[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setTime(q url.Values, k string, t time.Time) {
	if !t.IsZero() {
		q.Set(k, t.Format(time.RFC3339Nano))
	}
}

func setPage(q url.Values, after string, limit int) {
	set(q, "after", after)
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
}
