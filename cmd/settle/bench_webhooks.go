package main

import (
	"context"
	"errors"
)

// benchWebhooks measures webhook delivery.
func (m *Main) benchWebhooks(ctx context.Context, args []string) error {
	return errors.New("bench webhooks: not built yet")
}
