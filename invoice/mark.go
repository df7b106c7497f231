package invoice

import (
	"context"
	"strings"
)

// Mark resolves an invoice by hand: paid or invalid, exception marked, with
// the note and who did it kept, and an invoice.updated event.
func (s *Service) Mark(ctx context.Context, merchantID string, mode Mode, id string, m Mark) (Invoice, error) {
	v := &ValidationError{}
	if m.Status != StatusPaid && m.Status != StatusInvalid {
		v.add("status", "invalid_status", "must be paid or invalid")
	}
	if strings.TrimSpace(m.Note) == "" {
		v.add("note", "invalid_note", "say why the invoice is marked")
	}
	checkText(v, "note", m.Note, 1000)
	if err := v.err(); err != nil {
		return Invoice{}, err
	}
	inv, _, err := s.transition(ctx, merchantID, mode, id, Input{Kind: InputMark, Mark: &m})
	return inv, err
}
