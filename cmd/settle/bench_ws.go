package main

import (
	"context"
	"errors"
)

// benchWS measures merchant WebSockets.
func (m *Main) benchWS(ctx context.Context, args []string) error {
	return errors.New("bench ws: not built yet")
}
