package chains

import "github.com/settlepay/settle/invoice"

// Progress is how far a payment has come on its network, for people to
// read: confirmations so far and needed, and where to see the transaction.
type Progress struct {
	Confirmations int64  // blocks on top of the payment's, counting its own; 0 while unknown
	Required      int    // confirmations at which it is final
	ExplorerURL   string // "" for networks without an explorer (the sandbox, the devnet)
}

// Progress tells how far p (a payment toward inv) has come, given head, the
// newest block of a network as the watchers last saw it (nil: unknown).
func (c *Catalogue) Progress(inv invoice.Invoice, p invoice.Payment, head func(network string) (int64, bool)) Progress {
	var out Progress
	if n, ok := c.Network(p.Network); ok {
		out.Required = n.Confirmations
		out.ExplorerURL = n.TxURL(p.TxID)
	}
	for _, in := range inv.Instructions {
		if in.Method == p.Method {
			out.Required = in.Confirmations
		}
	}
	if head != nil && p.Block > 0 {
		if h, ok := head(p.Network); ok && h >= p.Block {
			out.Confirmations = h - p.Block + 1
		}
	}
	if p.Status == invoice.PaymentConfirmed {
		out.Confirmations = max(out.Confirmations, int64(out.Required))
	}
	return out
}

// Head returns the newest block of network as its watcher last reported it.
func (m *Monitor) Head(network string) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.status[network]
	return st.Head, ok && st.Head > 0
}
