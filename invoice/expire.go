package invoice

import (
	"context"
	"time"
)

// RunExpirer moves due invoices to expired every interval until ctx ends.
// Several processes may run it on one database: each invoice moves under
// its row lock, and an invoice already moved is left alone.
func (s *Service) RunExpirer(ctx context.Context, interval time.Duration) {
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
