package payor

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// Wrong signatures are counted per session and per client. A client that
// sends ClientFailedChecks of them is refused from then on, but others (the
// payor, who holds the right link) are not: a stranger who learnt the token
// cannot lock the payor out alone. Only SessionFailedChecks in all, from
// however many clients, lock the session for everyone. Either lock writes a
// checkout.locked event and shows on the invoice; the merchant lifts them,
// or issues a new link, with [Service.Reset].
const (
	ClientFailedChecks  = 5
	SessionFailedChecks = 20
)

// EventCheckoutLocked is written when wrong signatures lock a checkout, for
// one client or for everyone, in the transaction that locks it.
const EventCheckoutLocked = "checkout.locked"

// clientChecks counts one client's wrong signatures for one session.
type clientChecks struct {
	bun.BaseModel `bun:"table:checkout_clients"`

	InvoiceID    string     `bun:"invoice_id,pk"`
	Client       string     `bun:"client,pk"`
	FailedChecks int        `bun:"failed_checks"`
	LockedAt     *time.Time `bun:"locked_at"`
	UpdatedAt    time.Time  `bun:"updated_at"`
}

type clientKey struct{}

// WithClient returns ctx carrying the address of the payor's client, as
// http.Request.RemoteAddr gives it: wrong signatures are counted per client.
// The HTTP layer sets it on every payor request.
func WithClient(ctx context.Context, remoteAddr string) context.Context {
	return context.WithValue(ctx, clientKey{}, Client(remoteAddr))
}

// clientOf is the client ctx carries; "" (one unknown client) without one.
func clientOf(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(string)
	return c
}

// Client is the client a remote address ("host:port" or a bare host) is
// counted as: its IPv4 address, or the /64 of an IPv6 address, the network
// one subscriber is usually given (counting single IPv6 addresses would
// let one client pose as many).
func Client(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if len(host) > 64 {
			host = host[:64]
		}
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// locked reports whether c (the session's checks, read by Open) or client's
// own count refuse client.
func (s *Service) locked(ctx context.Context, c checkout, client string) (bool, error) {
	if c.LockedAt != nil {
		return true, nil
	}
	if c.FailedChecks == 0 {
		return false, nil // nobody sent a wrong signature: no client is locked
	}
	return s.inv.IDB(ctx).NewSelect().Model((*clientChecks)(nil)).
		Where("invoice_id = ? AND client = ? AND locked_at IS NOT NULL", c.InvoiceID, client).Exists(ctx)
}

// countFailure counts a wrong signature from client for invoiceID's
// session and locks what reached its limit, in one transaction with the
// checkout.locked event and the invoice's checkout state.
func (s *Service) countFailure(ctx context.Context, invoiceID, client string) error {
	now := s.inv.Now()
	return s.inv.WithinTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		var total, mine int
		c := checkout{InvoiceID: invoiceID, FailedChecks: 1, UpdatedAt: now}
		err := tx.NewInsert().Model(&c).On("CONFLICT (invoice_id) DO UPDATE").
			Set("failed_checks = ?TableAlias.failed_checks + 1, updated_at = EXCLUDED.updated_at").
			Returning("failed_checks").Scan(ctx, &total)
		if err != nil {
			return fmt.Errorf("count wrong signature: %w", err)
		}
		cc := clientChecks{InvoiceID: invoiceID, Client: client, FailedChecks: 1, UpdatedAt: now}
		err = tx.NewInsert().Model(&cc).On("CONFLICT (invoice_id, client) DO UPDATE").
			Set("failed_checks = ?TableAlias.failed_checks + 1, updated_at = EXCLUDED.updated_at").
			Returning("failed_checks").Scan(ctx, &mine)
		if err != nil {
			return fmt.Errorf("count wrong signature: %w", err)
		}
		// Each lock is set once (locked_at IS NULL): the update that sets
		// it is the one that writes the event.
		scope := invoice.CheckoutUnlocked
		if total >= SessionFailedChecks {
			res, err := tx.NewUpdate().Model((*checkout)(nil)).Set("locked_at = ?, locked_by = ?", now, client).
				Where("invoice_id = ? AND locked_at IS NULL", invoiceID).Exec(ctx)
			if err != nil {
				return fmt.Errorf("lock session: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				scope = invoice.CheckoutLockSession
			}
		}
		if mine >= ClientFailedChecks {
			res, err := tx.NewUpdate().Model((*clientChecks)(nil)).Set("locked_at = ?", now).
				Where("invoice_id = ? AND client = ? AND locked_at IS NULL", invoiceID, client).Exec(ctx)
			if err != nil {
				return fmt.Errorf("lock client: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 && scope == invoice.CheckoutUnlocked {
				scope = invoice.CheckoutLockClient
			}
		}
		if scope == invoice.CheckoutUnlocked {
			return nil
		}
		inv, err := invoice.CheckoutLocked(ctx, tx, invoiceID, scope, now)
		if err != nil {
			return err
		}
		s.Log.WarnContext(ctx, "checkout locked", "invoice_id", invoiceID, "lock_scope", string(scope),
			"client", client, "failed_checks", total)
		data, err := json.Marshal(map[string]any{"object": inv.Object(s.inv.Checkout()), "lock_scope": scope})
		if err != nil {
			return err
		}
		return invoice.InsertEvents(ctx, tx, invoice.Event{
			ID: invoice.NewID("evt_", now), MerchantID: inv.MerchantID, Mode: inv.Mode, Type: EventCheckoutLocked,
			InvoiceID: inv.ID, CreatedAt: now, Data: string(data),
		})
	})
}

// Reset lifts every lock of the merchant's invoice id in mode, for the
// session and each client, and forgets their wrong signatures; with
// newLink it also gives the invoice a new session token, so that the old
// payment_url and session headers stop working at once (an unknown token is
// 404). What the payor was shown, and the method chosen, are kept.
func (s *Service) Reset(ctx context.Context, merchantID string, mode invoice.Mode, id string, newLink bool) (invoice.Invoice, error) {
	now := s.inv.Now()
	return s.inv.ResetCheckout(ctx, merchantID, mode, id, newLink, func(ctx context.Context, tx bun.IDB, inv invoice.Invoice) error {
		if _, err := tx.NewDelete().Model((*clientChecks)(nil)).Where("invoice_id = ?", inv.ID).Exec(ctx); err != nil {
			return fmt.Errorf("reset checkout: %w", err)
		}
		_, err := tx.NewUpdate().Model((*checkout)(nil)).
			Set("failed_checks = 0, locked_at = NULL, locked_by = '', updated_at = ?", now).
			Where("invoice_id = ?", inv.ID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("reset checkout: %w", err)
		}
		return nil
	})
}
