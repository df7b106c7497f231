package solana_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/settlepay/settle/chains"
	solwatch "github.com/settlepay/settle/chains/solana"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestLogsSubscribe has the watcher poll once an hour, so a payment is seen
// within the test only when a logsNotification wakes it. It follows a
// wallet's token account over logsSubscribe, reconnects after the node
// drops the connection (reading what landed meanwhile), and subscribes to a
// wallet registered later.
func TestLogsSubscribe(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db, "solana_devnet", solana.PublicKey{})
		ps := newPubSub(t, h.cluster)
		ata := mustATA(h)
		stop := h.watch(func(c *solwatch.Config) { c.Endpoint.WS = ps.URL(); c.PollInterval = time.Hour })

		// The first scan lists the token account; the watcher subscribes to
		// it, then scans once more for what landed before the subscription.
		ps.awaitLive(ata, 0)
		h.awaitStatus("subscribed", func(st chains.NetworkStatus) bool { return st.Subscribed })
		h.awaitScans(ata, 2)

		inv, in := h.invoice("3.00")
		r, u := request(t, in)
		e := h.pay(u, r.References[0], "confirmed")
		h.notify(ps, ata, e)
		h.await(inv.ID, "payment notified", paidWith(invoice.StatusProcessing, invoice.ExceptionNone, "0.00"))

		// The node drops the connection and refuses new ones while a payment
		// lands, then comes back: the watcher subscribes again and reads the
		// payment without a notification.
		from := h.cluster.next()
		conns := ps.connections()
		ps.setRefuse(true)
		ps.drop()
		gapInv, gapIn := h.invoice("4.00")
		gr, gu := request(t, gapIn)
		h.pay(gu, gr.References[0], "finalized")
		ps.setRefuse(false)
		ps.awaitLive(ata, from)
		if ps.connections() <= conns {
			t.Fatalf("subscribed again on %d connections, want a new one", ps.connections())
		}
		h.await(gapInv.ID, "payment landed while disconnected", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "4.00"))
		if st := h.monitor.Status()[h.network]; !st.Subscribed || !strings.HasPrefix(st.LastError, "logsSubscribe: ") {
			t.Errorf("after reconnecting: status %+v, want subscribed with the lost subscription as last error", st)
		}

		// Notifications work on the new connection.
		inv2, in2 := h.invoice("5.00")
		r2, u2 := request(t, in2)
		e2 := h.pay(u2, r2.References[0], "finalized")
		h.notify(ps, ata, e2)
		h.await(inv2.ID, "payment notified after reconnecting", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "5.00"))

		// Another merchant registers a wallet. The next scan (woken here by
		// a payment to the first wallet) follows its token account too and
		// subscribes to it.
		m2, _, err := h.svc.CreateMerchant(h.ctx, "Tea & Co")
		if err != nil {
			t.Fatal(err)
		}
		wallet2 := newKey()
		if _, err := h.ledger.CreateAccount(h.ctx, chains.AccountParams{
			MerchantID: m2.ID, Mode: h.mode, Network: h.network, Address: wallet2.String(),
		}); err != nil {
			t.Fatal(err)
		}
		ata2, _, _ := solana.FindAssociatedTokenAddress(wallet2, h.mint)
		inv3, in3 := h.invoice("6.00")
		r3, u3 := request(t, in3)
		h.notify(ps, ata, h.pay(u3, r3.References[0], "finalized"))
		h.await(inv3.ID, "payment notified", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "6.00"))
		ps.awaitLive(ata2.String(), 0)
		h.awaitScans(ata2.String(), 2) // its first read, then the scan after subscribing

		e4 := h.cluster.add(payment{payer: newKey(), wallet: wallet2, mint: h.mint, amount: 1_500_000, pre: 0}.tx("finalized"))
		h.notify(ps, ata2.String(), e4)
		deadline := time.Now().Add(20 * time.Second)
		for {
			us, _, err := h.ledger.UnmatchedList(h.ctx, m2.ID, h.mode, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(us) == 1 && us[0].TxID == e4.sig && us[0].Amount.String() == "1500000" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("payment to the new wallet: unmatched %+v", us)
			}
			time.Sleep(10 * time.Millisecond)
		}
		ps.awaitLive(ata, 0) // the first account's subscription is still there

		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if st := h.monitor.Status()[h.network]; st.Subscribed {
			t.Errorf("stopped watcher reports a live subscription: %+v", st)
		}
	})
}

// notify has the node send the logsNotification of e to account's
// subscription, then checks, once the watcher has read e, that nothing but
// the notification woke it: the account was not scanned between e landing
// and the notification.
func (h *harness) notify(ps *pubsub, account string, e *entry) {
	h.t.Helper()
	at, n := ps.notify(account, e)
	if n != 1 {
		h.t.Fatalf("notification of %s went to %d subscriptions, want 1", account, n)
	}
	h.t.Cleanup(func() {
		for _, s := range h.cluster.scanned(account) {
			if s > e.landed && s < at {
				h.t.Errorf("%s scanned after a payment landed but before its notification: polling, not the subscription", account)
			}
		}
	})
}

// awaitScans waits until address has been scanned n times.
func (h *harness) awaitScans(address string, n int) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(h.cluster.scanned(address)) < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s scanned %d times, want %d", address, len(h.cluster.scanned(address)), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// awaitStatus waits until the monitor's status of the network satisfies ok.
func (h *harness) awaitStatus(what string, ok func(chains.NetworkStatus) bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(h.monitor.Status()[h.network]) {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: status %+v", what, h.monitor.Status()[h.network])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLogsSubscribeUndecodable sends a notification solana-go cannot
// decode (a signature that is not one): the client ends that subscription
// with logsUnsubscribe, and the watcher subscribes again rather than going
// deaf to the account.
func TestLogsSubscribeUndecodable(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		h := newHarness(t, db, "solana_devnet", solana.PublicKey{})
		ps := newPubSub(t, h.cluster)
		ata := mustATA(h)
		h.watch(func(c *solwatch.Config) { c.Endpoint.WS = ps.URL(); c.PollInterval = time.Hour })
		ps.awaitLive(ata, 0)
		h.awaitScans(ata, 2)

		from := h.cluster.next()
		if _, n := ps.send(ata, map[string]any{"context": map[string]any{"slot": 1},
			"value": map[string]any{"signature": "not a signature", "err": nil, "logs": []string{}}}); n != 1 {
			t.Fatalf("sent to %d subscriptions", n)
		}
		ps.awaitLive(ata, from)
		deadline := time.Now().Add(20 * time.Second)
		for ps.unsubscribed() != 1 { // from solana-go, for the undecodable notification
			if time.Now().After(deadline) {
				t.Fatalf("%d logsUnsubscribe calls, want 1", ps.unsubscribed())
			}
			time.Sleep(5 * time.Millisecond)
		}
		h.awaitScans(ata, 3) // after subscribing again
		inv, in := h.invoice("2.00")
		r, u := request(t, in)
		h.notify(ps, ata, h.pay(u, r.References[0], "finalized"))
		h.await(inv.ID, "payment notified", paidWith(invoice.StatusPaid, invoice.ExceptionNone, "2.00"))
	})
}
