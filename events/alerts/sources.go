package alerts

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

func coversAll(string) bool { return true }

// WebhookFailing holds for a webhook endpoint whose attempts have all
// failed for After (default an hour), until one succeeds or the endpoint
// is deleted.
type WebhookFailing struct {
	DB    bun.IDB
	After time.Duration
}

func (WebhookFailing) Kind() string { return KindWebhookFailing }

func (s WebhookFailing) Check(ctx context.Context, now time.Time) ([]Condition, func(string) bool, error) {
	after := s.After
	if after <= 0 {
		after = time.Hour
	}
	var rows []struct {
		ID           string       `bun:"id"`
		MerchantID   string       `bun:"merchant_id"`
		Mode         invoice.Mode `bun:"mode"`
		URL          string       `bun:"url"`
		FailingSince time.Time    `bun:"failing_since"`
		Enabled      bool         `bun:"enabled"`
	}
	err := s.DB.NewSelect().TableExpr("webhook_endpoints").Column("id", "merchant_id", "mode", "url", "failing_since", "enabled").
		Where("deleted_at IS NULL AND failing_since IS NOT NULL AND failing_since <= ?", now.Add(-after)).Scan(ctx, &rows)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Condition, len(rows))
	for i, r := range rows {
		msg := fmt.Sprintf("Webhook endpoint %s (%s) has failed every attempt since %s.", r.ID, r.URL, r.FailingSince.UTC().Format(time.RFC3339))
		if !r.Enabled {
			msg += " It is disabled: re-enable it once it answers."
		}
		out[i] = Condition{MerchantID: r.MerchantID, Mode: r.Mode, Kind: KindWebhookFailing, Subject: r.ID, Message: msg}
	}
	return out, coversAll, nil
}

// Unmatched holds for money a merchant received that no invoice expects
// (an unmatched chain payment or rail credit) from when it arrives (within
// Window, default a day, of the check: older money was there before
// alerting) until it is no longer unmatched money (a chain payment
// reversed).
type Unmatched struct {
	DB     bun.IDB
	Window time.Duration
}

func (Unmatched) Kind() string { return KindUnmatched }

func (s Unmatched) Check(ctx context.Context, now time.Time) ([]Condition, func(string) bool, error) {
	window := s.Window
	if window <= 0 {
		window = 24 * time.Hour
	}
	since := now.Add(-window)
	firing := s.DB.NewSelect().TableExpr("alerts AS a").ColumnExpr("1").
		Where("a.kind = ? AND a.state = ? AND a.subject = u.id", KindUnmatched, Firing)
	var chain []chains.Unmatched
	if err := s.DB.NewSelect().Model(&chain).ModelTableExpr("unmatched_payments AS u").ColumnExpr("u.*").
		Where("u.status <> ?", invoice.PaymentReversed).
		Where("u.created_at >= ? OR EXISTS (?)", since, firing).Scan(ctx); err != nil {
		return nil, nil, err
	}
	var rail []struct {
		ID         string       `bun:"id"`
		MerchantID string       `bun:"merchant_id"`
		Mode       invoice.Mode `bun:"mode"`
		Rail       string       `bun:"rail"`
		Currency   string       `bun:"currency"`
		Amount     string       `bun:"amount"`
		Sender     string       `bun:"sender"`
	}
	if err := s.DB.NewSelect().TableExpr("rail_unmatched AS u").Column("id", "merchant_id", "mode", "rail", "currency", "amount", "sender").
		Where("u.created_at >= ? OR EXISTS (?)", since, firing).Scan(ctx, &rail); err != nil {
		return nil, nil, err
	}
	out := make([]Condition, 0, len(chain)+len(rail))
	for _, u := range chain {
		out = append(out, Condition{MerchantID: u.MerchantID, Mode: u.Mode, Kind: KindUnmatched, Subject: u.ID,
			Message: fmt.Sprintf("%s %s received on %s (tx %s) matches no invoice: it is kept as unmatched payment %s.",
				u.Amount.Format(u.Decimals), u.Asset, u.Network, u.TxID, u.ID)})
	}
	for _, u := range rail {
		out = append(out, Condition{MerchantID: u.MerchantID, Mode: u.Mode, Kind: KindUnmatched, Subject: u.ID,
			Message: fmt.Sprintf("%s %s received on %s from %q matches no invoice: it is kept as unmatched rail credit %s.",
				u.Amount, u.Currency, u.Rail, u.Sender, u.ID)})
	}
	return out, coversAll, nil
}

// RefundDue holds for a paid invoice whose goods were never handed over
// within the refund time (the reconciliation report's "to refund"), until
// it is fulfilled.
type RefundDue struct {
	Invoices *invoice.Service
}

func (RefundDue) Kind() string { return KindRefundDue }

func (s RefundDue) Check(ctx context.Context, now time.Time) ([]Condition, func(string) bool, error) {
	due, err := s.Invoices.ToRefund(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Condition, len(due))
	for i, inv := range due {
		out[i] = Condition{MerchantID: inv.MerchantID, Mode: inv.Mode, Kind: KindRefundDue, Subject: inv.ID,
			Message: fmt.Sprintf("Invoice %s was paid %s ago (%s %s) and never fulfilled: refund it, or fulfil it (POST /api/v1/invoices/%s/fulfil).",
				inv.ID, now.Sub(*inv.PaidAt).Truncate(time.Minute), inv.AmountPaid.Format(inv.Decimals), inv.Currency, inv.ID)}
	}
	return out, coversAll, nil
}

// Networks tells of the networks this instance watches (holds the lease
// of): one lagging more than LagBlocks behind its head (default 50), or
// not brought up to date for DownAfter (default 5 minutes) while its RPC
// fails. These are the operator's alerts; the merchants with a receiving
// account on the network are told on their feeds too.
type Networks struct {
	DB        bun.IDB
	Monitor   *chains.Monitor
	Modes     map[string]invoice.Mode // network id → its mode
	LagBlocks int64
	DownAfter time.Duration
	// Started is when the watchers started: a network never up to date
	// counts from then.
	Started time.Time
	kind    string
}

// NetworkSources returns the two network sources, lagging and down.
func NetworkSources(n Networks) (lagging, down Source) {
	l, d := n, n
	l.kind, d.kind = KindNetworkLagging, KindNetworkDown
	return &l, &d
}

func (s *Networks) Kind() string { return s.kind }

func (s *Networks) Check(ctx context.Context, now time.Time) ([]Condition, func(string) bool, error) {
	lagBlocks, downAfter := s.LagBlocks, s.DownAfter
	if lagBlocks <= 0 {
		lagBlocks = 50
	}
	if downAfter <= 0 {
		downAfter = 5 * time.Minute
	}
	status := s.Monitor.Status()
	ids := make([]string, 0, len(status))
	for id := range status {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Condition
	for _, id := range ids {
		st := status[id]
		if !st.Leased {
			continue
		}
		var msg string
		switch s.kind {
		case KindNetworkLagging:
			if st.Lag > lagBlocks {
				msg = fmt.Sprintf("The %s watcher is %d blocks behind the head (%d scanned of %d): payments are seen late.", id, st.Lag, st.Scanned, st.Head)
			}
		case KindNetworkDown:
			ok := st.LastOKAt
			if ok.IsZero() {
				ok = s.Started
			}
			if !st.LastErrAt.IsZero() && st.LastErrAt.After(ok) && now.Sub(ok) >= downAfter {
				msg = fmt.Sprintf("The %s watcher has not read the network since %s: its RPC fails (%s). Payments on %s are not seen until it answers.",
					id, ok.UTC().Format(time.RFC3339), st.LastError, id)
			}
		}
		if msg == "" {
			continue
		}
		feeds, err := s.Affected(ctx, s.DB, id)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Condition{Kind: s.kind, Subject: id, Message: msg, Feeds: feeds})
	}
	covers := func(id string) bool { return status[id].Leased }
	return out, covers, nil
}

// Affected returns the feeds of the merchants with a receiving account on
// the network, in its mode.
func (s *Networks) Affected(ctx context.Context, db bun.IDB, network string) ([]Feed, error) {
	var ids []string
	mode := s.Modes[network]
	if err := db.NewSelect().TableExpr("receiving_accounts").ColumnExpr("DISTINCT merchant_id").
		Where("network = ? AND mode = ? AND deleted_at IS NULL", network, mode).OrderExpr("merchant_id").Scan(ctx, &ids); err != nil {
		return nil, err
	}
	out := make([]Feed, len(ids))
	for i, id := range ids {
		out[i] = Feed{id, mode}
	}
	return out, nil
}
