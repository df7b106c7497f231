package payor

import (
	"errors"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// ErrTestOnly refuses a simulated payment on a live invoice.
var ErrTestOnly = errors.New("payments can only be simulated on a test invoice")

// CanSimulate tells whether the payor of sess may simulate a sandbox payment
// (the hosted page's Simulate payment button): only on a test invoice that
// offers the sandbox, and, as for the devnet wallet, not after expires_at on
// a session never shown instructions. The payment itself is applied by the
// same function as the merchant's simulate-payment endpoint; the session
// names the invoice, so no other invoice can be reached.
func (s *Service) CanSimulate(sess Session) error {
	if sess.Invoice.Mode != invoice.ModeTest {
		return ErrTestOnly
	}
	if _, ok := instruction(sess.Invoice, chains.Sandbox); !ok {
		return ErrNoMethod
	}
	if s.closed(sess) {
		return ErrExpired
	}
	return nil
}
