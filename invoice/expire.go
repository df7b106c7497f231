package invoice

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// DefaultExpireInterval is how often [Service.RunExpirer] sweeps when given
// no interval.
const DefaultExpireInterval = 5 * time.Second

// RunExpirer moves due invoices to expired every interval until ctx ends.
// Several processes may run it on one database: each invoice moves under
// its row lock, and an invoice already moved is left alone.
func (s *Service) RunExpirer(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultExpireInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := s.ExpireDue(ctx, 500)
			if err != nil {
				if ctx.Err() == nil {
					s.log.WarnContext(ctx, "expire invoices", "err", err)
				}
				break
			}
			if n > 0 {
				s.log.InfoContext(ctx, "expired invoices", "count", n)
			}
			if n < 500 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ExpireDue moves up to limit open or processing invoices whose expires_at
// has passed to expired, each in its own transaction, and says how many it
// moved (an invoice another process moved first is not counted). A
// processing invoice whose payments seen in time cover its amount is not
// due (see [OnTime]): it is skipped without a write, and the scan goes on
// past it in (expires_at, id) order, so that such invoices never hold back
// the ones behind them.
func (s *Service) ExpireDue(ctx context.Context, limit int) (int, error) {
	now := s.Now()
	n := 0
	var afterAt time.Time
	var afterID string
	for n < limit {
		var due []Invoice
		q := s.idb(ctx).NewSelect().Model(&due).Column("id", "status", "amount", "decimals", "expires_at").
			Where("status IN (?, ?) AND expires_at <= ?", StatusOpen, StatusProcessing, now)
		if afterID != "" {
			q = q.Where("(expires_at > ? OR expires_at = ? AND id > ?)", afterAt, afterAt, afterID)
		}
		if err := q.OrderExpr("expires_at, id").Limit(int64(limit)).Scan(ctx); err != nil {
			return n, fmt.Errorf("find due invoices: %w", err)
		}
		onTime, err := s.onTime(ctx, due)
		if err != nil {
			return n, err
		}
		for _, inv := range due {
			if onTime[inv.ID] || n >= limit {
				continue
			}
			moved, changed, err := s.transition(ctx, "", "", inv.ID, Input{Kind: InputExpire})
			if err != nil {
				return n, fmt.Errorf("expire %s: %w", inv.ID, err)
			}
			if changed && moved.Status == StatusExpired {
				n++
			}
		}
		if len(due) < limit {
			break
		}
		afterAt, afterID = due[len(due)-1].ExpiresAt, due[len(due)-1].ID
	}
	return n, nil
}

// onTime says which of the processing invoices in invs are covered by
// payments seen before their expiry, reading their payments in one query.
func (s *Service) onTime(ctx context.Context, invs []Invoice) (map[string]bool, error) {
	var ids []string
	for _, inv := range invs {
		if inv.Status == StatusProcessing {
			ids = append(ids, inv.ID)
		}
	}
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	var payments []Payment
	if err := s.idb(ctx).NewSelect().Model(&payments).Where("invoice_id IN (?)", bun.In(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("read payments of due invoices: %w", err)
	}
	byInvoice := map[string][]Payment{}
	for _, p := range payments {
		byInvoice[p.InvoiceID] = append(byInvoice[p.InvoiceID], p)
	}
	for _, inv := range invs {
		if inv.Status == StatusProcessing && OnTime(inv, byInvoice[inv.ID]) {
			out[inv.ID] = true
		}
	}
	return out, nil
}
