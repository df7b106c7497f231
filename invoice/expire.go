package invoice

import (
	"context"
	"time"
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
