package client_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi/client"
)

const merchantAddress = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

// TestPayorSession adds a receiving account, creates an invoice payable on
// Base Sepolia, and walks the payor's side with the session headers only:
// the session, the instructions with signed terms, the QR codes.
func TestPayorSession(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		ctx := testContext(t)
		nets, err := e.c.ListNetworks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(nets.Data, func(n client.Network) bool { return n.ID == "base_sepolia" })
		if i < 0 || !nets.Data[i].Offered || nets.Data[i].Mode != client.ModeTest ||
			!slices.ContainsFunc(nets.Data[i].Methods, func(m client.Method) bool { return m.ID == "usdc_base_sepolia" && m.Decimals == 6 }) {
			t.Fatalf("networks %+v", nets.Data)
		}
		acc, err := e.c.CreateReceivingAccount(ctx, client.CreateReceivingAccountParams{Network: "base_sepolia", Address: merchantAddress})
		if err != nil || acc.Kind != "address" || acc.Address != merchantAddress {
			t.Fatalf("account %+v, %v", acc, err)
		}
		_, err = e.c.CreateReceivingAccount(ctx, client.CreateReceivingAccountParams{Network: "base_sepolia", Address: merchantAddress})
		wantError(t, err, http.StatusConflict, client.CodeReceivingAccountExists)
		if l, err := e.c.ListReceivingAccounts(ctx); err != nil || len(l.Data) != 1 || l.Data[0].ID != acc.ID {
			t.Errorf("accounts %+v, %v", l, err)
		}
		if g, err := e.c.GetReceivingAccount(ctx, acc.ID); err != nil || g.Network != "base_sepolia" {
			t.Errorf("account %+v, %v", g, err)
		}

		inv, err := e.c.CreateInvoice(ctx, client.CreateInvoiceParams{Amount: "25.00", Currency: "USD", PaymentMethods: []string{"usdc_base_sepolia"}, RedirectURL: "https://shop.example/thanks"})
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.PaymentInstructions) != 1 || inv.PaymentInstructions[0].Address != merchantAddress || !strings.HasPrefix(inv.PaymentInstructions[0].Amount, "25.00") {
			t.Fatalf("instructions %+v", inv.PaymentInstructions)
		}
		p := client.New(e.URL, "").PayorSession(inv.PaymentSessionHeaders)
		sess, err := p.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sess.Merchant.Name != "Test Shop" || sess.Amount != "25.00" || sess.Currency != "USD" || sess.Status != client.StatusOpen ||
			sess.Method != "" || len(sess.Methods) != 2 || sess.Methods[0].ID != "usdc_base_sepolia" || sess.Methods[1].ID != "sandbox" || sess.RedirectURL != "https://shop.example/thanks" {
			t.Fatalf("session %+v", sess)
		}
		ins, err := p.ChooseMethod(ctx, "usdc_base_sepolia")
		if err != nil {
			t.Fatal(err)
		}
		if ins.Instruction != inv.PaymentInstructions[0] || ins.Object != "payment_instructions" || strings.Count(ins.Terms, ".") != 2 || ins.Label == "" {
			t.Fatalf("instructions %+v, want %+v with terms", ins, inv.PaymentInstructions[0])
		}
		if again, err := p.ChooseMethod(ctx, "usdc_base_sepolia"); err != nil || again.Instruction != ins.Instruction {
			t.Errorf("choosing again: %+v, %v", again, err)
		}
		if sess, _ := p.Get(ctx); sess == nil || sess.Method != "usdc_base_sepolia" {
			t.Errorf("session after choosing: %+v", sess)
		}
		png, ct, err := p.QR(ctx, "usdc_base_sepolia", "png")
		if err != nil || ct != "image/png" || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("png QR: %q, %d bytes, %v", ct, len(png), err)
		}
		svg, ct, err := p.QR(ctx, "usdc_base_sepolia", "svg")
		if err != nil || ct != "image/svg+xml" || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("svg QR: %q, %v", ct, err)
		}
		_, err = p.ChooseMethod(ctx, "usdc_base")
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeInvalidPaymentMethod)
		if sim, err := p.SimulatePayment(ctx, "5.00"); err != nil || sim.Amount != "5.00" || sim.Status != "confirmed" || sim.TxID == "" {
			t.Errorf("simulated payment %+v, %v", sim, err)
		}
		_, err = p.PayFromDevnet(ctx, "usdc_base_sepolia")
		wantError(t, err, http.StatusNotFound, client.CodeDevnetUnavailable)
		bad := inv.PaymentSessionHeaders
		bad.Signature = strings.Repeat("0", len(bad.Signature))
		_, err = e.c.PayorSession(bad).Get(ctx)
		wantError(t, err, http.StatusUnauthorized, client.CodeInvalidSignature)

		e.waitNumbered(db)
		n := 0
		for ev, err := range e.c.EventsWith(ctx, client.ListEventsParams{Type: client.EventCheckoutOpened}) {
			if err != nil {
				t.Fatal(err)
			}
			if got, err := ev.Invoice(); err != nil || got.ID != inv.ID {
				t.Errorf("checkout.opened of %+v, %v", got, err)
			}
			n++
		}
		if n != 1 {
			t.Errorf("%d checkout.opened events, want 1", n)
		}

		// The merchant's side of the checkout: unlock, then a new link.
		un, err := e.c.UpdateCheckout(ctx, inv.ID, client.UpdateCheckoutParams{Unlock: true})
		if err != nil || un.Checkout.Locked || un.Checkout.LockScope != "none" || un.Checkout.OpenedAt == nil || un.PaymentURL != inv.PaymentURL {
			t.Errorf("unlocked: %+v, %v", un, err)
		}
		_, err = e.c.UpdateCheckout(ctx, inv.ID, client.UpdateCheckoutParams{})
		wantError(t, err, http.StatusUnprocessableEntity, client.CodeValidationFailed)
		fresh, err := e.c.UpdateCheckout(ctx, inv.ID, client.UpdateCheckoutParams{NewLink: true})
		if err != nil || fresh.PaymentURL == inv.PaymentURL || fresh.PaymentSessionHeaders == inv.PaymentSessionHeaders {
			t.Fatalf("new link: %+v, %v", fresh, err)
		}
		_, err = p.Get(ctx)
		wantError(t, err, http.StatusNotFound, client.CodeNotFound)
		if sess, err := e.c.PayorSession(fresh.PaymentSessionHeaders).Get(ctx); err != nil || sess.Method != "usdc_base_sepolia" {
			t.Errorf("session on the new link: %+v, %v", sess, err)
		}

		if u, err := e.c.ListUnmatchedPayments(ctx, "", 5); err != nil || len(u.Data) != 0 || u.HasMore {
			t.Errorf("unmatched %+v, %v", u, err)
		}
		if tok, err := e.c.CreateWSToken(ctx); err != nil || !strings.HasPrefix(tok.WSToken, "wst_") || tok.ExpiresAt.IsZero() {
			t.Errorf("ws token %+v, %v", tok, err)
		}
		if d, err := e.c.DeleteReceivingAccount(ctx, acc.ID); err != nil || !d.Deleted {
			t.Errorf("delete account %+v, %v", d, err)
		}
	})
}
