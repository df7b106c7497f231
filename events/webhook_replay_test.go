package events_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestWebhookReplayDuringAttempt: a replay made while an attempt of the
// same delivery is in flight is not lost when that attempt's outcome is
// recorded: the event is sent again, and the delivery ends succeeded on the
// replay's schedule, with both attempts logged.
func TestWebhookReplayDuringAttempt(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		e := newWHEnv(t, db)
		rc := newReceiver(t, nil)
		release := make(chan struct{})
		rc.delay = release
		var once sync.Once
		t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the server closes
		ep := e.endpoint(rc.URL)
		rc.setSecret(ep.Secret)
		e.start(db, e.fastConfig())
		ev := e.emit(1, invoice.EventInvoiceCreated)[0]
		eventually(t, 10*time.Second, "the first attempt in flight", func() bool {
			ds := e.deliveries(ep.ID)
			return len(ds) == 1 && ds[0].LockedUntil != nil
		})
		res, err := events.Replay(ctx, db, e.merchant, invoice.ModeTest, ep.ID, 0, e.clock.Now())
		if err != nil || res.Replayed != 1 {
			t.Fatalf("replay: %+v, %v", res, err)
		}
		once.Do(func() { close(release) }) // the first attempt now succeeds and is recorded
		eventually(t, 10*time.Second, "the replayed attempt, after the one in flight", func() bool {
			ds := e.deliveries(ep.ID)
			return rc.counts()[ev.ID] == 2 && len(ds) == 1 && ds[0].Status == events.DeliverySucceeded && ds[0].LockedUntil == nil
		})
		if d := e.deliveries(ep.ID)[0]; d.Attempts != 1 {
			t.Fatalf("delivery %+v: want 1 attempt on the replay's schedule", d)
		}
		// The two attempts may be recorded in either order.
		eventually(t, 10*time.Second, "both attempts logged", func() bool {
			list, _, err := events.ListDeliveries(ctx, db, events.DeliveryListParams{MerchantID: e.merchant, Mode: invoice.ModeTest, EndpointID: ep.ID})
			return err == nil && len(list) == 1 && len(list[0].Attempts) == 2
		})
	})
}
