package events_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

func (e *whEnv) endpointRow(id string) events.Endpoint {
	e.t.Helper()
	var ep events.Endpoint
	if err := e.db.NewSelect().Model(&ep).Where("id = ?", id).Scan(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return ep
}

func (e *whEnv) disabledEvents() []invoice.Event {
	e.t.Helper()
	var evs []invoice.Event
	if err := e.db.NewSelect().Model(&evs).Where("type = ?", events.TypeWebhookEndpointDisabled).Scan(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// TestWebhookDisabledAfterFailingForDays: an endpoint whose attempts all
// fail for DisableAfter is disabled, once, with one
// webhook_endpoint.disabled event, which the merchant's other endpoint
// receives; its remaining deliveries are paused, and enabling it again
// resumes them.
func TestWebhookDisabledAfterFailingForDays(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		e := newWHEnv(t, db)
		down := newReceiver(t, func(int) int { return http.StatusInternalServerError })
		watcher := newReceiver(t, nil)
		dead := e.endpoint(down.URL, invoice.EventInvoiceCreated)
		ok := e.endpoint(watcher.URL, events.TypeWebhookEndpointDisabled)
		down.setSecret(dead.Secret)
		watcher.setSecret(ok.Secret)
		cfg := e.fastConfig()
		cfg.Schedule = []time.Duration{0, time.Hour, time.Hour, time.Hour}
		cfg.DisableAfter = 5 * 24 * time.Hour
		e.start(db, cfg)
		e.emit(6, invoice.EventInvoiceCreated)
		eventually(t, 10*time.Second, "a first failure", func() bool { return e.endpointRow(dead.ID).FailingSince != nil })
		// Each first attempt recorded (not only received) before the clock
		// moves, or its lease would expire under it.
		e.recorded(dead.ID, 6)
		if ep := e.endpointRow(dead.ID); !ep.Enabled || len(e.disabledEvents()) != 0 {
			t.Fatalf("disabled after one round of failures: %+v", ep)
		}
		e.clock.Advance(5*24*time.Hour + 2*time.Hour) // every retry is due, and 5 days have passed
		eventually(t, 10*time.Second, "the endpoint disabled", func() bool { return !e.endpointRow(dead.ID).Enabled })
		eventually(t, 10*time.Second, "the disabled event delivered", func() bool { return len(watcher.receipts()) == 1 })
		time.Sleep(100 * time.Millisecond)
		evs := e.disabledEvents()
		if len(evs) != 1 {
			t.Fatalf("%d webhook_endpoint.disabled events, want exactly 1", len(evs))
		}
		ep := e.endpointRow(dead.ID)
		if !strings.Contains(ep.DisabledReason, "every attempt failed since") {
			t.Fatalf("disabled_reason %q", ep.DisabledReason)
		}
		var body struct {
			Type string `json:"type"`
			Data struct {
				Object map[string]any `json:"object"`
			} `json:"data"`
		}
		r := watcher.receipts()[0]
		if err := json.Unmarshal(r.body, &body); err != nil || r.verifyErr != nil {
			t.Fatal(err, r.verifyErr)
		}
		obj := body.Data.Object
		if body.Type != events.TypeWebhookEndpointDisabled || obj["id"] != dead.ID || obj["enabled"] != false || obj["object"] != "webhook_endpoint" {
			t.Fatalf("disabled event %s", r.body)
		}
		if _, leaked := obj["secret"]; leaked || strings.Contains(string(r.body), dead.Secret) {
			t.Fatal("the disabled event carries the endpoint's secret")
		}
		if len(watcher.counts()) != 1 {
			t.Fatal("the watcher got events it did not ask for")
		}
		// Nothing more is attempted; the pending deliveries are paused.
		// Attempts in flight when the endpoint was disabled are recorded
		// first: they may reach the receiver after it was disabled.
		e.recorded(dead.ID, 6)
		before := len(down.receipts())
		e.clock.Advance(3 * time.Hour)
		time.Sleep(100 * time.Millisecond)
		if after := len(down.receipts()); after != before {
			t.Fatalf("a disabled endpoint got %d more requests", after-before)
		}
		for _, d := range e.deliveries(dead.ID) {
			if d.Status == events.DeliveryPending && d.NextAttemptAt != nil {
				t.Fatalf("pending delivery of a disabled endpoint still scheduled: %+v", d)
			}
		}
		// Enabled again, with a working receiver: everything pending arrives.
		down.status = func(int) int { return http.StatusOK }
		on := true
		if _, err := events.UpdateEndpoint(ctx, db, events.AddressPolicy{}, e.merchant, invoice.ModeTest, dead.ID,
			events.EndpointParams{Enabled: &on}, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if ep := e.endpointRow(dead.ID); ep.FailingSince != nil || ep.DisabledReason != "" || !ep.Enabled {
			t.Fatalf("re-enabled endpoint %+v: want failing_since and disabled_reason cleared", ep)
		}
		eventually(t, 10*time.Second, "every delivery to succeed after re-enabling", func() bool {
			for _, d := range e.deliveries(dead.ID) {
				if d.Status != events.DeliverySucceeded {
					return false
				}
			}
			return true
		})
	})
}

// TestWebhookGoneDisablesAtOnce: a 410 disables the endpoint at the first
// attempt, with one event, even with several attempts in flight.
func TestWebhookGoneDisablesAtOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newWHEnv(t, db)
		gone := newReceiver(t, func(int) int { return http.StatusGone })
		ep := e.endpoint(gone.URL)
		gone.setSecret(ep.Secret)
		e.start(db, e.fastConfig())
		e.emit(8, invoice.EventInvoiceCreated)
		eventually(t, 10*time.Second, "the endpoint disabled", func() bool { return !e.endpointRow(ep.ID).Enabled })
		e.recorded(ep.ID, 1) // the other attempts in flight, each a 410 too
		if n := len(e.disabledEvents()); n != 1 {
			t.Fatalf("%d disabled events, want 1", n)
		}
		if got := len(gone.receipts()); got > 4 {
			t.Fatalf("%d requests to a gone endpoint: want at most the %d in flight when it answered 410", got, 4)
		}
		if r := e.endpointRow(ep.ID).DisabledReason; !strings.Contains(r, "410") {
			t.Fatalf("disabled_reason %q", r)
		}
	})
}

// TestWebhookRetryAfter: a 429 with Retry-After puts the next attempt at
// least that far away, beyond the schedule's wait.
func TestWebhookRetryAfter(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := newWHEnv(t, db)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		t.Cleanup(srv.Close)
		ep := e.endpoint(srv.URL)
		e.start(db, e.fastConfig())
		start := e.clock.Now()
		e.emit(1, invoice.EventInvoiceCreated)
		eventually(t, 10*time.Second, "the first attempt", func() bool {
			ds := e.deliveries(ep.ID)
			return len(ds) == 1 && ds[0].Attempts == 1
		})
		d := e.deliveries(ep.ID)[0]
		if d.NextAttemptAt == nil || d.NextAttemptAt.Sub(start) < 59*time.Minute || d.LastStatusCode != 429 {
			t.Fatalf("next attempt at %v after a 429 with Retry-After: 3600 at %v", d.NextAttemptAt, start)
		}
	})
}

// TestWebhookLiveAddressGuard: a live endpoint whose host resolves to a
// loopback address at delivery time (as after DNS rebinding) is refused
// at connection, and the receiver never sees a request.
func TestWebhookLiveAddressGuard(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		e := newWHEnv(t, db)
		rc := newReceiver(t, nil)
		now := time.Now().UTC().Truncate(time.Microsecond)
		// Stored as if it had passed the check when registered.
		ep := events.Endpoint{ID: invoice.NewID("whe_", now), MerchantID: e.merchant, Mode: invoice.ModeLive,
			URL: strings.Replace(rc.URL, "127.0.0.1", "localhost", 1), EnabledEvents: []string{"*"}, Enabled: true,
			Secret: events.NewSecret(), CreatedAt: now, UpdatedAt: now}
		if _, err := db.NewInsert().Model(&ep).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		cfg := e.fastConfig()
		cfg.AllowPrivateAddresses = false // the default
		e.start(db, cfg)
		ev := newEvent(t, e.merchant, invoice.EventInvoiceCreated)
		ev.Mode = invoice.ModeLive
		if err := invoice.InsertEvents(ctx, db, ev); err != nil {
			t.Fatal(err)
		}
		e.written.Notify()
		eventually(t, 10*time.Second, "a refused attempt", func() bool {
			ds := e.deliveries(ep.ID)
			return len(ds) == 1 && ds[0].Attempts >= 1
		})
		d := e.deliveries(ep.ID)[0]
		if !strings.Contains(d.LastError, "address not allowed") || d.LastStatusCode != 0 {
			t.Fatalf("delivery %+v: want refused with address not allowed", d)
		}
		if n := len(rc.receipts()); n != 0 {
			t.Fatalf("the loopback receiver got %d requests from a live endpoint", n)
		}
	})
}

func TestAllowedAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"93.184.215.14", true}, {"2606:4700::1111", true}, {"8.8.8.8", true},
		{"172.32.0.1", true}, {"100.128.0.1", true},
		{"127.0.0.1", false}, {"127.1.2.3", false}, {"::1", false}, {"0.0.0.0", false}, {"::", false},
		{"10.1.2.3", false}, {"172.16.0.1", false}, {"172.31.255.255", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"169.254.1.1", false}, {"fe80::1", false}, {"fc00::1", false}, {"fd12::1", false},
		{"100.64.0.1", false}, {"100.127.255.255", false}, {"224.0.0.1", false}, {"239.1.1.1", false}, {"ff02::1", false},
		{"255.255.255.255", false}, {"198.18.0.1", false}, {"2002:a00:1::", false},
		// IPv4-mapped (::ffff:0:0/96): judged by the IPv4 address inside.
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"::ffff:169.254.169.254", false}, {"::ffff:8.8.8.8", true},
		// NAT64 (64:ff9b::/96): likewise.
		{"64:ff9b::a00:1", false}, {"64:ff9b::127.0.0.1", false}, {"64:ff9b::808:808", true},
		// IPv4-compatible (::/96, deprecated): refused whatever it embeds.
		{"::127.0.0.1", false}, {"::7f00:1", false}, {"::10.0.0.1", false}, {"::169.254.169.254", false}, {"::8.8.8.8", false},
		// IPv4-translated (::ffff:0:0:0/96, written ::ffff:0:a.b.c.d): likewise.
		{"::ffff:0:127.0.0.1", false}, {"::ffff:0:7f00:1", false}, {"::ffff:0:192.168.0.1", false}, {"::ffff:0:8.8.8.8", false},
		// Neighbours of those ranges stay public.
		{"::1:0:0:0", true}, {"::fffe:0:808:808", true},
	} {
		if got := events.AllowedAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("AllowedAddr(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		url  string
		mode invoice.Mode
		code string // "" for allowed
	}{
		{"http://93.184.215.14:8080/hook", invoice.ModeTest, ""},
		{"https://93.184.215.14/hook?x=1", invoice.ModeLive, ""},
		// Test mode takes http, but no more than live mode an address that
		// is not public.
		{"http://127.0.0.1:8080/hook", invoice.ModeTest, "url_not_allowed"},
		{"http://localhost/hook", invoice.ModeTest, "url_not_allowed"},
		{"http://10.0.0.5/hook", invoice.ModeTest, "url_not_allowed"},
		{"http://169.254.169.254/latest/meta-data", invoice.ModeTest, "url_not_allowed"},
		{"http://[::1]:8080/hook", invoice.ModeTest, "url_not_allowed"},
		{"http://[::127.0.0.1]/hook", invoice.ModeTest, "url_not_allowed"},
		{"https://[::127.0.0.1]/hook", invoice.ModeLive, "url_not_allowed"},
		{"http://[::ffff:0:127.0.0.1]/hook", invoice.ModeTest, "url_not_allowed"},
		{"https://[::ffff:0:127.0.0.1]/hook", invoice.ModeLive, "url_not_allowed"},
		{"http://[::ffff:127.0.0.1]/hook", invoice.ModeTest, "url_not_allowed"},
		{"http://[64:ff9b::127.0.0.1]/hook", invoice.ModeTest, "url_not_allowed"},
		{"http://93.184.215.14/hook", invoice.ModeLive, "url_not_allowed"},
		{"https://127.0.0.1/hook", invoice.ModeLive, "url_not_allowed"},
		{"https://localhost/hook", invoice.ModeLive, "url_not_allowed"},
		{"https://10.0.0.5/hook", invoice.ModeLive, "url_not_allowed"},
		{"https://169.254.169.254/latest/meta-data", invoice.ModeLive, "url_not_allowed"},
		{"https://[fd00::1]/hook", invoice.ModeLive, "url_not_allowed"},
		{"https://[::ffff:192.168.0.1]/hook", invoice.ModeLive, "url_not_allowed"},
		{"https://100.64.1.1/hook", invoice.ModeLive, "url_not_allowed"},
		{"not a url", invoice.ModeTest, "invalid_url"},
		{"ftp://example.com/hook", invoice.ModeTest, "invalid_url"},
		{"/relative", invoice.ModeTest, "invalid_url"},
		{"https://user:pw@93.184.215.14/hook", invoice.ModeLive, "invalid_url"},
		{"http://127.0.0.1:99999/hook", invoice.ModeTest, "invalid_url"},
		{"https://" + strings.Repeat("a", 2050) + ".example/", invoice.ModeTest, "invalid_url"},
	} {
		fe := events.AddressPolicy{}.CheckURL(ctx, tc.url, tc.mode)
		got := ""
		if fe != nil {
			got = fe.Code
			if fe.Field != "url" || fe.Rule == "" {
				t.Errorf("%s: field error %+v", tc.url, fe)
			}
		}
		if got != tc.code {
			t.Errorf("CheckURL(%.60q, %s) = %q (%v), want %q", tc.url, tc.mode, got, fe, tc.code)
		}
	}
	allow := events.AddressPolicy{AllowPrivate: true}
	for _, tc := range []struct {
		url  string
		mode invoice.Mode
	}{{"https://127.0.0.1/hook", invoice.ModeLive}, {"http://127.0.0.1:8080/hook", invoice.ModeTest}, {"http://[::127.0.0.1]/hook", invoice.ModeTest}} {
		if fe := allow.CheckURL(ctx, tc.url, tc.mode); fe != nil {
			t.Errorf("AllowPrivate, %s in %s mode: %v", tc.url, tc.mode, fe)
		}
	}
	if fe := allow.CheckURL(ctx, "http://127.0.0.1/hook", invoice.ModeLive); fe == nil || fe.Code != "url_not_allowed" {
		t.Errorf("AllowPrivate still requires https in live mode: %v", fe)
	}
}

// TestWebhookGracefulStop: stopping the engine waits for the attempt in
// flight and records it.
func TestWebhookGracefulStop(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, "sqlite")
	e := newWHEnv(t, db)
	rc := newReceiver(t, nil)
	release := make(chan struct{})
	rc.delay = release
	ep := e.endpoint(rc.URL)
	rc.setSecret(ep.Secret)
	w := events.NewWebhooks(db.DB, nil, e.fastConfig(), e.due)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	e.emit(1, invoice.EventInvoiceCreated)
	eventually(t, 10*time.Second, "the attempt in flight", func() bool {
		ds := e.deliveries(ep.ID)
		return len(ds) == 1 && ds[0].LockedUntil != nil
	})
	cancel()
	select {
	case <-done:
		t.Fatalf("Run returned with an attempt in flight: %+v %d", e.deliveries(ep.ID)[0], len(rc.receipts()))
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-done
	if d := e.deliveries(ep.ID)[0]; d.Status != events.DeliverySucceeded || d.LockedUntil != nil {
		t.Fatalf("after a graceful stop: %+v", d)
	}
}

// TestWebhookResponseExcerpt keeps the first 1 KiB of a chunked body, as
// valid UTF-8.
func TestWebhookResponseExcerpt(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, "sqlite")
	e := newWHEnv(t, db)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		for range 5 {
			w.Write([]byte(strings.Repeat("é", 300) + "\x00"))
			w.(http.Flusher).Flush() // chunked
		}
	}))
	t.Cleanup(srv.Close)
	ep := e.endpoint(srv.URL)
	e.start(db, e.fastConfig())
	e.emit(1, invoice.EventInvoiceCreated)
	var list []events.DeliveryObject
	eventually(t, 10*time.Second, "an attempt", func() bool {
		list, _, _ = events.ListDeliveries(context.Background(), db, events.DeliveryListParams{
			MerchantID: e.merchant, Mode: invoice.ModeTest, EndpointID: ep.ID})
		return len(list) == 1 && len(list[0].Attempts) > 0
	})
	ex := list[0].Attempts[0].ResponseExcerpt
	if n := len(ex); n < 1000 || n > 1024+3 || !strings.HasPrefix(ex, "éé") || strings.Contains(ex, "\x00") {
		t.Fatalf("excerpt of %d bytes: %q", n, ex)
	}
	if list[0].Attempts[0].StatusCode != 400 {
		t.Fatalf("status %d", list[0].Attempts[0].StatusCode)
	}
}
