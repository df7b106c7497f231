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
	ListenAll(ctx, url, map[string]*Signal{channel: sig}, log)
}

// ListenAll is Listen for several channels on one connection: each
// notification rings its channel's signal, and every signal rings after
// each (re)connection.
func ListenAll(ctx context.Context, url string, channels map[string]*Signal, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := backoff.NewExponentialBackOff()
	b.MaxElapsedTime = 0 // forever, until ctx ends
	b.MaxInterval = 10 * time.Second
	for ctx.Err() == nil {
		err := listenOnce(ctx, url, channels, b)
		if ctx.Err() != nil {
			return
		}
		wait := b.NextBackOff()
		log.WarnContext(ctx, "listen for notifications", "channels", len(channels), "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func listenOnce(ctx context.Context, url string, channels map[string]*Signal, b backoff.BackOff) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for channel := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return err
		}
	}
	b.Reset()
	for _, sig := range channels {
		sig.Notify()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if sig := channels[n.Channel]; sig != nil {
			sig.Notify()
		}
	}
}
