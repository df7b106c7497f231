package evm_test

import (
	"testing"
	"time"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/evm"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// watchProviders runs a watcher over the proxies' URLs as providers.
func (h *harness) watchProviders(confirmations int, quorum bool, maxRange int64, ps ...*proxy) (stop func()) {
	urls := make([]string, len(ps))
	for i, p := range ps {
		urls[i] = p.start(h.t)
	}
	return h.watch(urls[0], confirmations, func(c *evm.Config) {
		c.Endpoint.Providers, c.Endpoint.Quorum = urls, quorum
		c.MaxRange = maxRange
		c.Monitor = h.monitor
	})
}

// providerStatus returns the watcher's view of its providers once it
// has reported them after a scan.
func (h *harness) providerStatus() []chains.ProviderStatus {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := h.monitor.Status()["devnet"]
		if len(st.Providers) > 0 && st.Scanned >= h.head() {
			return st.Providers
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no provider status after 10 s: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// payAndConfirm pays a new invoice and waits until it is paid and its
// payment confirmed.
func (h *harness) payAndConfirm(amount string, blocks int) {
	h.t.Helper()
	inv, in := h.invoice(amount)
	h.pay(in.Address, in.AmountUnits)
	for range blocks {
		h.chain.Commit()
	}
	h.await(inv.ID, "paid through the providers", func(s state) bool {
		return s.inv.Status == invoice.StatusPaid && len(s.payments) == 1 && s.payments[0].Status == invoice.PaymentConfirmed
	})
}

// TestProviders runs the watcher over three providers in front of the
// chain, each misbehaving as real ones do, and checks that payments are
// confirmed, promptly, in each case, and that /readyz's provider status
// tells which provider did what.
func TestProviders(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Run("one down", func(t *testing.T) {
			h := newHarness(t, db)
			h.monitor = chains.NewMonitor(nil)
			h.account("0x0000000000000000000000000000000000000A01", "")
			down, a, b := &proxy{target: h.chain.HTTPURL()}, &proxy{target: h.chain.HTTPURL()}, &proxy{target: h.chain.HTTPURL()}
			down.down.Store(true)
			h.watchProviders(3, false, 1000, down, a, b)
			h.payAndConfirm("10.00", 3)
			st := h.providerStatus()
			if len(st) != 3 || st[0].Errors == 0 || st[0].LastError == "" || a.calls.Load()+b.calls.Load() == 0 {
				t.Fatalf("providers %+v", st)
			}
			// Down from the start, it is tried less and less: the others
			// take the calls.
			if down.calls.Load() > (a.calls.Load()+b.calls.Load())/2 {
				t.Errorf("the provider that is down got %d calls, the others %d and %d", down.calls.Load(), a.calls.Load(), b.calls.Load())
			}
		})
		t.Run("refuses ranges", func(t *testing.T) {
			h := newHarness(t, db)
			h.monitor = chains.NewMonitor(nil)
			h.account("0x0000000000000000000000000000000000000A02", "")
			// The strict one is configured first, so it is asked first.
			strict, lax := &proxy{target: h.chain.HTTPURL(), maxRange: 2}, &proxy{target: h.chain.HTTPURL()}
			for range 10 {
				h.chain.Commit() // blocks to read in one range at start
			}
			h.watchProviders(1, false, 1000, strict, lax)
			h.payAndConfirm("11.00", 1)
			st := h.providerStatus()
			if st[0].RefusesLogs == 0 || st[1].RefusesLogs != 0 {
				t.Fatalf("providers %+v: want the strict one's refusal learned", st)
			}
			// Learned once: later wide ranges go to the lax provider first.
			if n := strict.refusedRanges.Load(); n > 2 {
				t.Errorf("the strict provider refused %d ranges; a learned limit sends wide ones elsewhere", n)
			}
		})
		t.Run("lags", func(t *testing.T) {
			h := newHarness(t, db)
			h.monitor = chains.NewMonitor(nil)
			h.account("0x0000000000000000000000000000000000000A03", "")
			for range 30 {
				h.chain.Commit()
			}
			lagging, fresh := &proxy{target: h.chain.HTTPURL(), lag: 20}, &proxy{target: h.chain.HTTPURL()}
			h.watchProviders(1, false, 1000, lagging, fresh)
			h.payAndConfirm("12.00", 1)
			st := h.providerStatus()
			if !st[0].Demoted || st[1].Demoted || st[1].Head-st[0].Head != 20 {
				t.Fatalf("providers %+v: want the lagging one demoted", st)
			}
		})
		t.Run("lies about a block", func(t *testing.T) {
			h := newHarness(t, db)
			h.monitor = chains.NewMonitor(nil)
			h.account("0x0000000000000000000000000000000000000A04", "")
			liar, a, b := &proxy{target: h.chain.HTTPURL()}, &proxy{target: h.chain.HTTPURL()}, &proxy{target: h.chain.HTTPURL()}
			h.watchProviders(2, true, 1000, liar, a, b)
			liar.lieAbout.Store(-1) // every block read by number
			h.payAndConfirm("13.00", 2)
			st := h.providerStatus()
			for deadline := time.Now().Add(10 * time.Second); st[0].Disagreed == 0 && time.Now().Before(deadline); st = h.providerStatus() {
				time.Sleep(10 * time.Millisecond) // a late answer is judged after the read
			}
			if liar.lies.Load() == 0 || st[0].Disagreed == 0 || st[1].Disagreed != 0 || st[2].Disagreed != 0 {
				t.Fatalf("providers %+v (liar answered %d false hashes): want the liar reported", st, liar.lies.Load())
			}
		})
	})
}
