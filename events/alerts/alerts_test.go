package alerts_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/events/alerts"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/payor"
)

// mailbox is a real SMTP server on loopback (emersion/go-smtp) that keeps
// what it receives; refuse makes it answer DATA with a temporary failure.
type mailbox struct {
	addr   string
	mu     sync.Mutex
	mails  []mail
	refuse bool
}

type mail struct {
	from string
	to   []string
	data string
}

func newMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	s := smtp.NewServer(mb)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return mb
}

func (mb *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{mb: mb}, nil }

func (mb *mailbox) received() []mail {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]mail(nil), mb.mails...)
}

func (mb *mailbox) setRefuse(v bool) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.refuse = v
}

type session struct {
	mb *mailbox
	m  mail
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.m.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error   { s.m.to = append(s.m.to, to); return nil }
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	if s.mb.refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.m.data = string(b)
	s.mb.mails = append(s.mb.mails, s.m)
	return nil
}
func (s *session) Reset()        { s.m = mail{} }
func (s *session) Logout() error { return nil }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	t        *testing.T
	ctx      context.Context
	db       storetest.DB
	clock    *clock
	svc      *invoice.Service
	mailbox  *mailbox
	merchant string
}

func newEnv(t *testing.T, db storetest.DB) *env {
	t.Helper()
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	signer := payor.NewSigner([]byte("0123456789abcdef0123456789abcdef"), "http://127.0.0.1")
	e := &env{t: t, ctx: t.Context(), db: db, clock: c, svc: invoice.NewService(db.DB, c, signer, nil), mailbox: newMailbox(t)}
	m, _, err := e.svc.CreateMerchant(e.ctx, "Shop")
	if err != nil {
		t.Fatal(err)
	}
	e.merchant = m.ID
	return e
}

// engine is one instance's engine over sources, mailing the operator.
func (e *env) engine(sources ...alerts.Source) *alerts.Engine {
	e.t.Helper()
	m, err := alerts.NewSMTP("smtp://"+e.mailbox.addr, "settle@example.com")
	if err != nil {
		e.t.Fatal(err)
	}
	return alerts.New(e.db.DB, alerts.Config{Mailer: m, To: []string{"ops@example.com"}, Now: e.clock.Now,
		Log: slog.New(slog.DiscardHandler)}, sources...)
}

func (e *env) check(engines ...*alerts.Engine) {
	e.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(engines))
	for i, en := range engines {
		wg.Go(func() { errs[i] = en.Check(e.ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.t.Fatal(err)
	}
}

// feed returns the merchant's system.alert events' alert states, in order.
func (e *env) feed(merchant string) []string {
	e.t.Helper()
	var evs []invoice.Event
	if err := e.db.NewSelect().Model(&evs).Where("merchant_id = ? AND type = ?", merchant, alerts.EventType).
		OrderExpr("id").Scan(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		switch {
		case strings.Contains(ev.Data, `"state":"firing"`):
			out[i] = "firing"
		case strings.Contains(ev.Data, `"state":"resolved"`):
			out[i] = "resolved"
		default:
			out[i] = ev.Data
		}
	}
	return out
}

// subjects are the Subject headers of the mails received.
func (e *env) subjects() []string {
	var out []string
	for _, m := range e.mailbox.received() {
		for line := range strings.Lines(m.data) {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				out = append(out, strings.TrimSpace(s))
			}
		}
	}
	return out
}

func (e *env) endpoint(failingSince *time.Time) events.Endpoint {
	e.t.Helper()
	now := e.clock.Now()
	ep := events.Endpoint{ID: invoice.NewID("whe_", now), MerchantID: e.merchant, Mode: invoice.ModeTest, URL: "https://shop.example/hooks",
		EnabledEvents: []string{"*"}, Enabled: true, Secret: "whsec_test", FailingSince: failingSince, CreatedAt: now, UpdatedAt: now}
	if _, err := e.db.NewInsert().Model(&ep).Exec(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	return ep
}

// TestWebhookFailingAlert: an endpoint failing for over an hour fires one
// alert, on two instances checking at once: one system.alert event on the
// merchant's feed and one email to the operator; checking again changes
// nothing; the endpoint's first success resolves it, with one event and
// one email. An endpoint failing for less than the hour fires nothing.
func TestWebhookFailingAlert(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := newEnv(t, db)
		since := e.clock.Now().Add(-61 * time.Minute)
		failing := e.endpoint(&since)
		recent := e.clock.Now().Add(-10 * time.Minute)
		e.endpoint(&recent)
		src := alerts.WebhookFailing{DB: db.DB, After: time.Hour}
		a, b := e.engine(src), e.engine(src)

		e.check(a, b)
		e.check(a, b)
		if got := e.feed(e.merchant); len(got) != 1 || got[0] != "firing" {
			t.Fatalf("feed after firing: %v", got)
		}
		if got := e.subjects(); len(got) != 1 || got[0] != "[settle] firing: webhook_endpoint_failing "+failing.ID {
			t.Fatalf("mails after firing: %v", got)
		}
		m := e.mailbox.received()[0]
		if m.from != "settle@example.com" || len(m.to) != 1 || m.to[0] != "ops@example.com" ||
			!strings.Contains(m.data, "has failed every attempt since") || !strings.Contains(m.data, e.merchant) {
			t.Fatalf("mail %+v", m)
		}

		if _, err := db.NewUpdate().Model((*events.Endpoint)(nil)).Set("failing_since = NULL").Where("id = ?", failing.ID).Exec(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.clock.add(time.Minute)
		e.check(a, b)
		e.check(a, b)
		if got := e.feed(e.merchant); len(got) != 2 || got[1] != "resolved" {
			t.Fatalf("feed after resolving: %v", got)
		}
		if got := e.subjects(); len(got) != 2 || got[1] != "[settle] resolved: webhook_endpoint_failing "+failing.ID {
			t.Fatalf("mails after resolving: %v", got)
		}
		if !strings.Contains(e.mailbox.received()[1].data, "resolved: ") {
			t.Errorf("resolved mail: %s", e.mailbox.received()[1].data)
		}
	})
}

// TestAlertMailRetried: a mail the server refuses is tried again, and the
// feed's event is written regardless.
func TestAlertMailRetried(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := newEnv(t, db)
		since := e.clock.Now().Add(-2 * time.Hour)
		e.endpoint(&since)
		en := e.engine(alerts.WebhookFailing{DB: db.DB})
		e.mailbox.setRefuse(true)
		if err := en.Check(e.ctx); err == nil || !strings.Contains(err.Error(), "try again later") {
			t.Fatalf("check with the mail refused: %v", err)
		}
		if got := e.feed(e.merchant); len(got) != 1 {
			t.Fatalf("feed: %v", got)
		}
		var a alerts.Alert
		if err := db.NewSelect().Model(&a).Scan(e.ctx); err != nil || a.MailAttempts != 1 || a.MailDue != alerts.Firing || a.MailError == "" {
			t.Fatalf("alert after a refused mail: %+v %v", a, err)
		}
		e.mailbox.setRefuse(false)
		e.check(en) // not yet due again
		if got := e.subjects(); len(got) != 0 {
			t.Fatalf("mailed before its retry: %v", got)
		}
		e.clock.add(2 * time.Minute)
		e.check(en)
		if got := e.subjects(); len(got) != 1 {
			t.Fatalf("mails after the retry: %v", got)
		}
		if err := db.NewSelect().Model(&a).WherePK().Scan(e.ctx); err != nil || a.MailDue != "" || a.MailAttempts != 0 {
			t.Fatalf("alert after the mail: %+v %v", a, err)
		}
	})
}

// TestUnmatchedAlert: money matching no invoice fires an alert until it is
// reversed; money that was unmatched before the window fires none.
func TestUnmatchedAlert(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := newEnv(t, db)
		cat, err := chains.NewCatalogue(map[string]chains.Endpoint{"devnet": {HTTP: "http://127.0.0.1:9"}})
		if err != nil {
			t.Fatal(err)
		}
		const token = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
		cat.SetToken("devnet", token)
		ledger := chains.NewLedger(e.svc, cat)
		shop := "0x00000000000000000000000000000000005EA77e"
		if _, err := ledger.CreateAccount(e.ctx, chains.AccountParams{MerchantID: e.merchant, Mode: invoice.ModeTest, Network: "devnet", Address: shop}); err != nil {
			t.Fatal(err)
		}
		transfer := func(tx string, status invoice.PaymentStatus) {
			t.Helper()
			if err := ledger.Record(e.ctx, chains.Transfer{Network: "devnet", Token: token, TxID: tx, Index: 0, Block: 7, BlockHash: "0xb7",
				From: "0x00000000000000000000000000000000000000aa", To: shop, Amount: invoice.NewUnits(4_560_000), Status: status,
				ObservedAt: e.clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		transfer("0xold", invoice.PaymentConfirmed)
		e.clock.add(25 * time.Hour) // alerting starts a day later
		transfer("0xnew", invoice.PaymentConfirmed)
		en := e.engine(alerts.Unmatched{DB: db.DB})
		e.check(en)
		if got := e.feed(e.merchant); len(got) != 1 || got[0] != "firing" {
			t.Fatalf("feed: %v", got)
		}
		e.clock.add(48 * time.Hour) // still unmatched, still firing, not told twice
		e.check(en)
		if got := e.feed(e.merchant); len(got) != 1 {
			t.Fatalf("feed two days on: %v", got)
		}
		if m := e.mailbox.received(); len(m) != 1 || !strings.Contains(m[0].data, "4.560000 USDC received on devnet (tx 0xnew) matches no invoice") {
			t.Fatalf("mails: %+v", m)
		}
		transfer("0xnew", invoice.PaymentReversed)
		e.check(en)
		if got := e.feed(e.merchant); len(got) != 2 || got[1] != "resolved" {
			t.Fatalf("feed after the reversal: %v", got)
		}
	})
}

// TestRefundDueAlert: a paid invoice never fulfilled within the refund
// time fires an alert; fulfilling it resolves it.
func TestRefundDueAlert(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := newEnv(t, db)
		e.svc.SetFulfilmentRefundAfter(24 * time.Hour)
		no := false
		inv, err := e.svc.Create(e.ctx, invoice.CreateParams{MerchantID: e.merchant, Mode: invoice.ModeTest, Amount: "3.00", Currency: "USD",
			PaymentMethods: []string{"sandbox"}, Fulfilled: &no})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.Apply(e.ctx, invoice.Observation{InvoiceID: inv.ID, Method: "sandbox", Network: "sandbox", TxID: "sbx_1",
			Asset: "USD", Decimals: 2, Amount: invoice.NewUnits(300), Status: invoice.PaymentConfirmed, ObservedAt: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		en := e.engine(alerts.RefundDue{Invoices: e.svc})
		e.check(en)
		if got := e.feed(e.merchant); len(got) != 0 {
			t.Fatalf("fired before the refund time: %v", got)
		}
		e.clock.add(25 * time.Hour)
		e.check(en)
		if got := e.feed(e.merchant); len(got) != 1 || got[0] != "firing" {
			t.Fatalf("feed after the refund time: %v", got)
		}
		if _, err := e.svc.Fulfil(e.ctx, e.merchant, invoice.ModeTest, inv.ID); err != nil {
			t.Fatal(err)
		}
		e.check(en)
		if got := e.feed(e.merchant); len(got) != 2 || got[1] != "resolved" {
			t.Fatalf("feed after fulfilment: %v", got)
		}
		if got := e.subjects(); len(got) != 2 || got[0] != "[settle] firing: refund_due "+inv.ID {
			t.Fatalf("mails: %v", got)
		}
	})
}

// TestNetworkAlerts: the instance holding a network's lease fires its
// lagging and down alerts (the operator's, told on the feeds of the
// merchants receiving on that network) and resolves them; an instance
// without the lease can tell nothing of the network and leaves them be.
func TestNetworkAlerts(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		t.Parallel()
		e := newEnv(t, db)
		cat, err := chains.NewCatalogue(map[string]chains.Endpoint{"devnet": {HTTP: "http://127.0.0.1:9"}})
		if err != nil {
			t.Fatal(err)
		}
		ledger := chains.NewLedger(e.svc, cat)
		if _, err := ledger.CreateAccount(e.ctx, chains.AccountParams{MerchantID: e.merchant, Mode: invoice.ModeTest, Network: "devnet",
			Address: "0x00000000000000000000000000000000005EA77e"}); err != nil {
			t.Fatal(err)
		}
		other, _, err := e.svc.CreateMerchant(e.ctx, "Elsewhere") // no account on devnet
		if err != nil {
			t.Fatal(err)
		}
		holder, bystander := chains.NewMonitor(nil), chains.NewMonitor(nil)
		engine := func(m *chains.Monitor) *alerts.Engine {
			lagging, down := alerts.NetworkSources(alerts.Networks{DB: db.DB, Monitor: m, Modes: map[string]invoice.Mode{"devnet": invoice.ModeTest},
				LagBlocks: 50, DownAfter: 5 * time.Minute, Started: e.clock.Now()})
			return e.engine(lagging, down)
		}
		a, b := engine(holder), engine(bystander)
		now := e.clock.Now()
		holder.Update("devnet", func(st *chains.NetworkStatus) {
			st.Leased, st.Head, st.Scanned, st.Lag, st.LastOKAt = true, 1000, 900, 100, now
		})
		bystander.Update("devnet", func(st *chains.NetworkStatus) { st.Head = 1000 })
		e.check(a, b)
		if got := e.feed(e.merchant); len(got) != 1 || got[0] != "firing" {
			t.Fatalf("lagging: feed %v", got)
		}
		if got := e.feed(other.ID); len(got) != 0 {
			t.Fatalf("a merchant not on the network was told: %v", got)
		}
		// Caught up, then its RPC fails for longer than DownAfter.
		holder.Update("devnet", func(st *chains.NetworkStatus) { st.Scanned, st.Lag = 1000, 0 })
		e.clock.add(10 * time.Minute)
		holder.Update("devnet", func(st *chains.NetworkStatus) {
			st.LastError, st.LastErrAt = "eth_blockNumber: connection refused", e.clock.Now()
		})
		e.check(b) // the bystander alone: nothing changes
		if got := e.feed(e.merchant); len(got) != 1 {
			t.Fatalf("the bystander changed alerts: %v", got)
		}
		e.check(a, b)
		if got := e.feed(e.merchant); len(got) != 3 || got[1] != "resolved" || got[2] != "firing" {
			t.Fatalf("caught up, then down: feed %v", got)
		}
		if got := e.subjects(); len(got) != 3 || !slices.Contains(got, "[settle] firing: network_down devnet") ||
			!slices.Contains(got, "[settle] resolved: network_lagging devnet") {
			t.Fatalf("mails: %v", got)
		}
		holder.Update("devnet", func(st *chains.NetworkStatus) { st.LastOKAt = e.clock.Now().Add(time.Second) })
		e.check(a, b)
		if got := e.feed(e.merchant); len(got) != 4 || got[3] != "resolved" {
			t.Fatalf("up again: feed %v", got)
		}
	})
}
