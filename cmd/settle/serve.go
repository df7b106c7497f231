package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/events/alerts"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/migrations"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

func (m *Main) serve(ctx context.Context, args []string) error {
	var c Config
	fs := newFlagSet("serve", m.Stderr)
	if err := m.flags(fs, &c); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if err := c.validate(); err != nil {
		return err
	}
	return m.run(ctx, c, serverOptions{})
}

// serverOptions are what `settle devnet` adds to a plain `settle serve`.
type serverOptions struct {
	endpoints map[string]chains.Endpoint // more networks
	tokens    map[string]string          // token contracts of presets without one
	reset     []string                   // networks whose chain starts anew: forget their checkpoints
	ready     func(ctx context.Context, addr string, svc *invoice.Service, ledger *chains.Ledger) error
	devnetPay func(ctx context.Context, in invoice.Instruction) (string, error) // the hosted page's devnet button
	log       io.Writer                                                         // default Stderr
}

// serverGCPercent is the server's garbage collection target (GOGC), unless
// the environment sets GOGC. The server's live heap is small and most of
// what it allocates is one request's garbage (JSON, SQL text, rows): at 200 %
// of the live heap instead of Go's 100 % it collects half as often, for a few
// MiB more of heap (the README's Performance section measures both).
const serverGCPercent = 200

// run serves until ctx ends.
func (m *Main) run(ctx context.Context, c Config, o serverOptions) error {
	if m.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
	logw := o.log
	if logw == nil {
		logw = m.Stderr
	}
	log, err := newLogger(logw, c.LogLevel)
	if err != nil {
		return err
	}
	// The network settings are read before the address is bound: a bad
	// one is reported as such, not hidden behind a port in use.
	endpoints, err := m.networkEndpoints(c.ConfigFile)
	if err != nil {
		return err
	}
	maps.Copy(endpoints, o.endpoints)
	cat, err := chains.NewCatalogue(endpoints)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if c.PublicURL == "" {
		// The port actually bound, also when c.Addr asked for any (":0").
		c.PublicURL = "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	for n, t := range o.tokens {
		cat.SetToken(n, t)
	}
	db, err := openMigrated(ctx, c.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, signer, err := newService(ctx, db, c, log)
	if err != nil {
		return err
	}
	// Events: writers ring written; the sequencer numbers what they wrote
	// and rings sequenced, which wakes the webhook workers and the hub here
	// and, through Postgres NOTIFY, on every other instance.
	written, sequenced := &events.Signal{}, &events.Signal{}
	svc.OnEventsWritten(written.Notify)
	sequencer := events.NewSequencer(db, log, written, sequenced)
	webhooks := events.NewWebhooks(db, log, c.Webhooks, sequenced)
	hub := events.NewHub(db, log, c.Hub, sequenced)
	// A key revoked here, or by another process (seen by the key watcher),
	// rings keysRevoked: the hub closes the WebSockets opened with it.
	keysRevoked := &events.Signal{}
	svc.OnKeysRevoked(keysRevoked.Notify)
	svc.SetFulfilmentRefundAfter(c.RefundAfter)
	ledger := chains.NewLedger(svc, cat)
	ledger.Hold = c.UniqueHold
	for _, n := range o.reset {
		if err := ledger.ResetNetwork(ctx, n); err != nil {
			return err
		}
	}
	checkChains(ctx, cat, log)
	metrics := openapi.NewMetrics(svc, hub)
	monitor := chains.NewMonitor(metrics.Registry())
	checkout := payor.NewService(svc, cat, signer, payor.NewTerms(db, svc.Now))
	checkout.DevnetPay = o.devnetPay
	checkout.Head = monitor.Head
	checkout.Log = log
	payorWS := payor.NewSocket(checkout, sequenced.C, log)
	payorWS.MaxPerIP, payorWS.MaxPerSession = c.PayorWSPerIP, c.PayorWSPerSess
	// Scans of static QR codes: the waiting pages, and the sender of their
	// start requests (same address rules as webhooks).
	qrStarts := events.NewQRStarts(svc, log, events.QRStartConfig{AllowPrivateAddresses: c.Webhooks.AllowPrivateAddresses})
	qrPages := payor.NewQRPages(svc, c.PublicURL)
	qrPages.Log = log
	// The waiting pages' sockets wake on the same numbered events as the
	// checkout's (a session's change writes qr_session.updated), under
	// the payor WebSocket's caps (counted apart).
	qrPages.Changed = sequenced.C
	qrPages.MaxSocketsPerIP, qrPages.MaxSocketsPerSession = c.PayorWSPerIP, c.PayorWSPerSess
	handler := openapi.New(openapi.Deps{
		Invoices: svc, Webhooks: webhooks, Hub: hub, Log: log, Metrics: metrics, Ledger: ledger, Monitor: monitor,
		Payor: checkout, PayorWS: payorWS, Pages: payor.NewPages(checkout.Check),
		PayorRate: float64(c.PayorRate), Rails: fiat.NewRails(svc),
		QRPages: qrPages, QRStarts: qrStarts, PublicURL: c.PublicURL,
	})

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { svc.RunExpirer(work, c.ExpireInterval) })
	if db.Dialect().Name() == dialect.PG {
		// Notifications wake the key watcher and the hub's and webhooks'
		// readers at once; their polls are only fallbacks.
		keysChanged := &events.Signal{}
		wg.Go(func() { svc.RunKeyWatcher(work, invoice.KeyFallbackInterval, keysChanged.C) })
		wg.Go(func() {
			events.ListenAll(work, c.DatabaseURL, map[string]*events.Signal{
				events.SequencedChannel: sequenced, invoice.KeysChannel: keysChanged,
			}, log)
		})
	} else {
		wg.Go(func() { svc.RunKeyWatcher(work, invoice.KeyRefreshInterval, nil) })
	}
	wg.Go(func() { sequencer.Run(work) })
	wg.Go(func() { webhooks.Run(work) })
	wg.Go(func() { qrStarts.Run(work) })
	wg.Go(func() { hub.Run(work) })
	wg.Go(func() { hub.WatchKeys(work, svc, keysRevoked.C) })
	wg.Go(func() { purgeLoop(work, db, log) })
	alerter, err := newAlerter(db, svc, monitor, cat, c.Alerts, written.Notify, log)
	if err != nil {
		srv.Close()
		stopWork()
		wg.Wait()
		return err
	}
	wg.Go(func() { alerter.Run(work) })
	holder := instanceID()
	for id, e := range cat.Endpoints() {
		w := newWatcher(c, cat, id, e, holder, ledger, monitor, log)
		wg.Go(func() {
			if err := w.Run(work); err != nil {
				log.Error("network refused", "network", id, "err", err)
				cat.Refuse(id)
				monitor.Update(id, func(st *chains.NetworkStatus) { st.Refused = err.Error() })
			}
		})
	}

	log.Info("settle serving", "addr", ln.Addr().String(), "public_url", c.PublicURL, "database", redactURL(c.DatabaseURL))
	if c.Webhooks.AllowPrivateAddresses {
		log.Warn("webhook endpoints may be on loopback and private addresses (SETTLE_WEBHOOK_ALLOW_PRIVATE): every merchant can reach this network through them")
	}
	if o.ready != nil {
		if err := o.ready(ctx, ln.Addr().String(), svc, ledger); err != nil {
			srv.Close()
			stopWork()
			wg.Wait()
			return err
		}
	}
	if m.Ready != nil {
		m.Ready(ln.Addr().String())
	}
	select {
	case err := <-served:
		stopWork()
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", c.ShutdownGrace.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownGrace)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopWork()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// openMigrated opens the database and applies pending migrations.
func openMigrated(ctx context.Context, url string, log *slog.Logger) (*bun.DB, error) {
	db, err := openDatabase(ctx, url)
	if err != nil {
		return nil, err
	}
	applied, err := migrations.Up(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", redactURL(url), err)
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "migrations", applied)
	}
	return db, nil
}

// newService wires the invoice service with the checkout signer, whose key
// is SETTLE_SECRET_KEY or else one generated once and kept in the database
// (so every instance on one database signs alike).
func newService(ctx context.Context, db *bun.DB, c Config, log *slog.Logger) (*invoice.Service, *payor.Signer, error) {
	secret := c.SecretKey
	if secret == "" {
		var err error
		secret, err = invoice.Setting(ctx, db, "secret_key", func() string {
			b := make([]byte, 32)
			rand.Read(b)
			return hex.EncodeToString(b)
		})
		if err != nil {
			return nil, nil, err
		}
	}
	signer := payor.NewSigner([]byte(secret), c.PublicURL)
	return invoice.NewService(db, nil, signer, log), signer, nil
}

// instanceID names this process in leases.
func instanceID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// purgeLoop deletes idempotency records past their 24 hours, hourly.
func purgeLoop(ctx context.Context, db *bun.DB, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := openapi.PurgeIdempotency(ctx, db, time.Now()); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("purge idempotency keys", "err", err)
		} else if n > 0 {
			log.Info("purged idempotency keys", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newAlerter is the alert engine of c over every source settle has.
func newAlerter(db *bun.DB, svc *invoice.Service, monitor *chains.Monitor, cat *chains.Catalogue, c alertConfig,
	written func(), log *slog.Logger) (*alerts.Engine, error) {
	cfg := alerts.Config{Interval: c.Interval, To: c.recipients(), Log: log, Now: svc.Now, OnEventsWritten: written}
	if c.SMTPURL != "" {
		m, err := alerts.NewSMTP(c.SMTPURL, c.From)
		if err != nil {
			return nil, err
		}
		cfg.Mailer = m
	}
	modes := map[string]invoice.Mode{}
	for id := range cat.Endpoints() {
		if n, ok := cat.Network(id); ok {
			modes[id] = n.Mode
		}
	}
	lagging, down := alerts.NetworkSources(alerts.Networks{DB: db, Monitor: monitor, Modes: modes,
		LagBlocks: int64(c.LagBlocks), DownAfter: c.DownAfter, Started: time.Now()})
	return alerts.New(db, cfg,
		alerts.WebhookFailing{DB: db, After: c.WebhookFailing},
		alerts.Unmatched{DB: db},
		alerts.RefundDue{Invoices: svc},
		lagging, down,
	), nil
}
