package invoice

import (
	"context"

	"github.com/uptrace/bun"
)

// Page reads one page of q, a select on the model that out points at,
// newest first by id: the rows before the id `before` when it is set, at
// most limit of them (DefaultListLimit when limit ≤ 0, never more than
// MaxListLimit). It reports whether more rows follow.
func Page[T any](ctx context.Context, q *bun.SelectQuery, out *[]T, before string, limit int) (bool, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	if before != "" {
		q = q.Where("id < ?", before)
	}
	if err := q.OrderExpr("id DESC").Limit(int64(limit) + 1).Scan(ctx); err != nil {
		return false, err
	}
	more := len(*out) > limit
	if more {
		*out = (*out)[:limit]
	}
	return more, nil
}
