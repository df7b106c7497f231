package chains

import (
	"context"

	"github.com/settlepay/settle/invoice"
)

// CreditedTo returns the invoice a transfer of amount to address on network
// would be credited to if it were seen now, by the same rule the watchers
// apply (an exact unique amount, a derived address, else the code in the
// amount's last digits); ok is false when it would match no invoice and be
// kept as an unmatched payment. A payor's wallet that acts for one invoice
// (`settle pay`) asks it before it sends.
func (l *Ledger) CreditedTo(ctx context.Context, network, address string, amount invoice.Units) (invoiceID string, ok bool, err error) {
	d, ok, err := l.match(ctx, l.inv.IDB(ctx), network, address, amount)
	return d.InvoiceID, ok, err
}
