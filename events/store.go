package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// ListParams selects a merchant's events after a cursor.
type ListParams struct {
	MerchantID string
	Mode       invoice.Mode
	After      int64  // sequence of the last event seen; 0 for the start
	Type       string // optional
	InvoiceID  string // optional
	TerminalID string // optional: only events of the invoices this terminal created
	Limit      int
}

// List returns sequenced events in sequence order after p.After, and
// whether more follow. Events not yet sequenced are not shown: they will
// appear after everything shown so far, never before it.
func List(ctx context.Context, db bun.IDB, p ListParams) ([]invoice.Event, bool, error) {
	var out []invoice.Event
	q := db.NewSelect().Model(&out).
		Where("merchant_id = ? AND mode = ? AND sequence > ?", p.MerchantID, p.Mode, p.After).
		OrderExpr("sequence").Limit(int64(p.Limit) + 1)
	if p.Type != "" {
		q = q.Where("type = ?", p.Type)
	}
	if p.InvoiceID != "" {
		q = q.Where("invoice_id = ?", p.InvoiceID)
	}
	if p.TerminalID != "" {
		q = q.Where("invoice_id IN (SELECT id FROM invoices WHERE terminal_id = ?)", p.TerminalID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("list events: %w", err)
	}
	more := len(out) > p.Limit
	if more {
		out = out[:p.Limit]
	}
	return out, more, nil
}

// Get returns the merchant's sequenced event id in mode, or
// invoice.ErrNotFound.
func Get(ctx context.Context, db bun.IDB, merchantID string, mode invoice.Mode, id string) (invoice.Event, error) {
	var e invoice.Event
	err := db.NewSelect().Model(&e).
		Where("id = ? AND merchant_id = ? AND mode = ? AND sequence IS NOT NULL", id, merchantID, mode).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return e, invoice.ErrNotFound
	}
	return e, err
}
