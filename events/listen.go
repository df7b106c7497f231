package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5"
)

// Listen rings sig for every NOTIFY on channel of the Postgres database at
// url, until ctx ends, reconnecting with backoff when the connection drops.
// It also rings sig after each (re)connection, since notifications sent
// while it was away are lost: the store stays the truth, the ring only says
// "look now".
func Listen(ctx context.Context, url, channel string, sig *Signal, log *slog.Logger) {
	b := backoff.NewExponentialBackOff()
	b.MaxElapsedTime = 0 // forever, until ctx ends
	b.MaxInterval = 10 * time.Second
	for ctx.Err() == nil {
		err := listenOnce(ctx, url, channel, sig, b)
		if ctx.Err() != nil {
			return
		}
		wait := b.NextBackOff()
		log.WarnContext(ctx, "listen for notifications", "channel", channel, "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func listenOnce(ctx context.Context, url, channel string, sig *Signal, b backoff.BackOff) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	b.Reset()
	sig.Notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		sig.Notify()
	}
}
