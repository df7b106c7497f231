package invoice

import (
	"context"
	"fmt"
	"time"
)

// PaymentListParams filters a merchant's payments. Zero values do not
// filter.
type PaymentListParams struct {
	MerchantID string
	Mode       Mode
	InvoiceID  string
	Method     string
	Status     PaymentStatus
	CreatedGTE *time.Time
	CreatedLT  *time.Time
	After      string // last payment id of the previous page
	Limit      int
}

// ListPayments returns payments newest first, and whether there are more.
func (s *Service) ListPayments(ctx context.Context, p PaymentListParams) ([]Payment, bool, error) {
	var out []Payment
	q := s.idb(ctx).NewSelect().Model(&out).Where("merchant_id = ? AND mode = ?", p.MerchantID, p.Mode)
	if p.InvoiceID != "" {
		q = q.Where("invoice_id = ?", p.InvoiceID)
	}
	if p.Method != "" {
		q = q.Where("method = ?", p.Method)
	}
	if p.Status != "" {
		q = q.Where("status = ?", p.Status)
	}
	if p.CreatedGTE != nil {
		q = q.Where("created_at >= ?", p.CreatedGTE.UTC())
	}
	if p.CreatedLT != nil {
		q = q.Where("created_at < ?", p.CreatedLT.UTC())
	}
	more, err := Page(ctx, q, &out, p.After, p.Limit)
	if err != nil {
		return nil, false, fmt.Errorf("list payments: %w", err)
	}
	return out, more, nil
}
