package events

import (
	"context"
	"log/slog"

	"github.com/uptrace/bun"
)

// WebhookConfig tunes webhook delivery. Zero fields take their defaults.
type WebhookConfig struct{}

// Webhooks delivers pending deliveries to merchants' endpoints.
type Webhooks struct {
	db  *bun.DB
	log *slog.Logger
	cfg WebhookConfig
	due *Signal
}

// NewWebhooks returns the delivery engine on db; due rings when deliveries
// may have become due (after the sequencer's batches).
func NewWebhooks(db *bun.DB, log *slog.Logger, cfg WebhookConfig, due *Signal) *Webhooks {
	return &Webhooks{db: db, log: log, cfg: cfg, due: due}
}

// Run delivers until ctx ends.
func (w *Webhooks) Run(ctx context.Context) { <-ctx.Done() }
