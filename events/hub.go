package events

import (
	"context"
	"log/slog"

	"github.com/uptrace/bun"
)

// HubConfig tunes the merchant WebSocket hub. Zero fields take defaults.
type HubConfig struct{}

// Hub tails the sequenced events and fans them out to merchant WebSockets.
type Hub struct {
	db        *bun.DB
	log       *slog.Logger
	cfg       HubConfig
	sequenced *Signal
}

// NewHub returns a hub on db; sequenced rings when new events are sequenced.
func NewHub(db *bun.DB, log *slog.Logger, cfg HubConfig, sequenced *Signal) *Hub {
	return &Hub{db: db, log: log, cfg: cfg, sequenced: sequenced}
}

// Run tails the events until ctx ends.
func (h *Hub) Run(ctx context.Context) { <-ctx.Done() }
