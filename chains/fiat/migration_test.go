package fiat_test

import (
	"context"
	"testing"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/migrations"
)

// TestMigrationKeepsRailCredits upgrades a database holding rail credits
// recorded under the old global keys: each becomes a rail credit of its
// merchant, a bank's retry of one of them is still a duplicate, and the
// same bank id at another merchant is that merchant's own credit.
func TestMigrationKeepsRailCredits(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := storetest.OpenEmpty(t, dialect)
			upTo(t, db, "007")

			// Rows as settle wrote them at migration 007, in that schema.
			now := time.Now().UTC()
			exec(t, db, `INSERT INTO merchants (id, name, live_enabled, created_at) VALUES ('mer_before', 'Before', false, ?)`, now)
			exec(t, db, `INSERT INTO rail_accounts (id, merchant_id, mode, rail, bank_name, account_name, account_number, routing_number,
				qris_payload, processor_id, callback_secret, secret_hash, created_at) VALUES
				('rla_before', 'mer_before', 'test', 'fednow', 'First Example Bank', 'Shop', '000123456789', '021000021', '', '', 'rcs_x', 'h', ?)`, now)
			exec(t, db, `INSERT INTO invoices (id, merchant_id, mode, status, exception, currency, decimals, amount, amount_paid, payment_methods,
				merchant_order_id, description, metadata, redirect_url, session_token, expires_at, created_at, updated_at) VALUES
				('inv_before', 'mer_before', 'test', 'paid', 'none', 'USD', 2, '3000', '3000', '["fednow"]', '', '', '{}', '', 'tok', ?, ?, ?)`,
				now.Add(time.Hour), now, now)
			exec(t, db, `INSERT INTO payments (id, invoice_id, merchant_id, mode, method, network, tx_id, log_index, asset, decimals,
				amount, status, from_address, to_address, observed_at, created_at, updated_at) VALUES
				('pay_old1', 'inv_before', 'mer_before', 'test', 'fednow', 'fednow', 'OLD-REF-1', 0, 'USD', 2, '3000', 'confirmed', 'JANE', '000123456789', ?, ?, ?),
				('pay_chain', 'inv_before', 'mer_before', 'test', 'usdc_devnet', 'devnet', '0xabc', 3, 'USDC', 6, '1', 'confirmed', '0x1', '0x2', ?, ?, ?)`,
				now, now, now, now, now, now)
			exec(t, db, `INSERT INTO rail_unmatched (id, merchant_id, mode, account_id, rail, tx_id, currency, amount, sender, reference,
				detail, observed_at, created_at) VALUES ('rlu_old2', 'mer_before', 'test', 'rla_before', 'fednow', 'OLD-UNMATCHED', 'USD', '4.44', 'X', '', 'why', ?, ?)`,
				now, now)

			if _, err := migrations.Up(ctx, db.DB); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			svc := invoice.NewService(db.DB, nil, nil, nil)
			rails := fiat.NewRails(svc)
			a, err := rails.Account(ctx, "mer_before", invoice.ModeTest, "rla_before")
			if err != nil {
				t.Fatal(err)
			}
			var credits []string
			if err := db.NewSelect().TableExpr("payments").Column("credit_id").OrderExpr("id").Scan(ctx, &credits); err != nil {
				t.Fatal(err)
			}
			if len(credits) != 2 || credits[0] != "" || credits[1] != "rcr_old1" {
				t.Errorf("payments' credit ids %q, want the chain payment's empty and the rail payment's rcr_old1", credits)
			}
			if n, err := db.NewSelect().TableExpr("rail_credits").Where("merchant_id = ?", "mer_before").Count(ctx); err != nil || n != 2 {
				t.Errorf("rail credits %d, %v; want 2", n, err)
			}

			credit := func(tx string) fiat.Incoming {
				return fiat.Incoming{TxID: tx, Amount: "30.00", Currency: "USD", From: "JANE", ObservedAt: now}
			}
			if out, err := rails.Receive(ctx, a, credit("OLD-REF-1")); err != nil || out.Status != fiat.Duplicate || out.PaymentID != "pay_old1" || out.InvoiceID != "inv_before" {
				t.Errorf("retry of a payment recorded before: %+v, %v", out, err)
			}
			if out, err := rails.Receive(ctx, a, credit("OLD-UNMATCHED")); err != nil || out.Status != fiat.Duplicate || out.UnmatchedID != "rlu_old2" {
				t.Errorf("retry of an unmatched credit recorded before: %+v, %v", out, err)
			}
			other, _, err := svc.CreateMerchant(ctx, "After")
			if err != nil {
				t.Fatal(err)
			}
			b, err := rails.CreateAccount(ctx, fiat.AccountParams{MerchantID: other.ID, Mode: invoice.ModeTest, Rail: fiat.RailFedNow,
				BankName: "First Example Bank", AccountName: "Shop", AccountNumber: "000123456789", RoutingNumber: "021000021"})
			if err != nil {
				t.Fatal(err)
			}
			if out, err := rails.Receive(ctx, b, credit("OLD-REF-1")); err != nil || out.Status != fiat.Unmatched || out.UnmatchedID == "" {
				t.Errorf("the same bank id at another merchant: %+v, %v; want its own unmatched credit", out, err)
			}
		})
	}
}

// upTo applies the migrations up to and including name.
func upTo(t *testing.T, db storetest.DB, name string) {
	t.Helper()
	ctx := context.Background()
	all, err := migrations.For(db.DB)
	if err != nil {
		t.Fatal(err)
	}
	some := migrate.NewMigrations()
	for _, m := range all.Sorted() {
		if m.Name <= name {
			some.Add(m)
		}
	}
	mg := migrate.NewMigrator(db.DB, some)
	if err := mg.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := mg.Migrate(ctx); err != nil {
		t.Fatalf("migrate to %s: %v", name, err)
	}
}

func exec(t *testing.T, db storetest.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.NewRaw(query, args...).Exec(context.Background()); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
