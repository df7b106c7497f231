package payor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// devnetPayment is the one devnet-wallet transfer of an invoice.
type devnetPayment struct {
	bun.BaseModel `bun:"table:devnet_payments"`

	InvoiceID string    `bun:"invoice_id,pk"`
	Method    string    `bun:"method"`
	TxID      string    `bun:"tx_id"`
	CreatedAt time.Time `bun:"created_at"`
}

// PayFromDevnet pays method's instruction from the devnet wallet, once per
// invoice however often it is asked: a press while the first is being sent
// waits for it, and every later press answers the first transfer's id.
// Presses are serialised in the process (settle devnet is one process, its
// chain in memory), which also keeps two transfers from taking the wallet's
// same nonce; the record's key makes the transfer one per invoice in the
// store.
func (s *Service) PayFromDevnet(ctx context.Context, sess Session, method string) (string, error) {
	in, ok := instruction(sess.Invoice, method)
	if !ok {
		return "", ErrNoMethod
	}
	if s.DevnetPay == nil || in.Network != "devnet" || sess.Invoice.Mode != invoice.ModeTest {
		return "", ErrNoDevnet
	}
	if s.closed(sess) {
		return "", ErrExpired
	}
	s.devnetMu.Lock()
	defer s.devnetMu.Unlock()
	db := s.inv.IDB(ctx)
	rec := devnetPayment{InvoiceID: sess.Invoice.ID}
	err := db.NewSelect().Model(&rec).WherePK().Scan(ctx)
	if err == nil {
		return rec.TxID, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read devnet payment: %w", err)
	}
	tx, err := s.DevnetPay(ctx, in)
	if err != nil {
		return "", err
	}
	// Recorded even if the request was cancelled meanwhile: the transfer
	// was sent.
	rec = devnetPayment{InvoiceID: sess.Invoice.ID, Method: method, TxID: tx, CreatedAt: s.inv.Now()}
	ctx = context.WithoutCancel(ctx)
	res, err := db.NewInsert().Model(&rec).On("CONFLICT (invoice_id) DO NOTHING").Exec(ctx)
	if err != nil {
		return "", fmt.Errorf("record devnet payment %s: %w", tx, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Another process recorded one first: answer the one recorded.
		if err := db.NewSelect().Model(&rec).WherePK().Scan(ctx); err != nil {
			return "", fmt.Errorf("read devnet payment: %w", err)
		}
	}
	return rec.TxID, nil
}
