package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

func (m *Main) migrate(ctx context.Context, args []string) error {
	var c Config
	fs := newFlagSet("migrate", m.Stderr)
	if err := m.flags(fs, &c, "database-url"); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	db, err := openMigrated(ctx, c.DatabaseURL, slog.New(slog.NewTextHandler(m.Stderr, nil)))
	if err != nil {
		return err
	}
	return db.Close()
}

// admin opens the database for an administrative command.
func (m *Main) admin(ctx context.Context, name string, args []string, define func(fs *flag.FlagSet)) (*invoice.Service, []string, error) {
	var c Config
	fs := newFlagSet(name, m.Stderr)
	if err := m.flags(fs, &c, "database-url"); err != nil {
		return nil, nil, err
	}
	if define != nil {
		define(fs)
	}
	rest, err := parseArgs(fs, args)
	if err != nil {
		return nil, nil, errUsage
	}
	db, err := openMigrated(ctx, c.DatabaseURL, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	return invoice.NewService(db, nil, nil, nil), rest, nil
}

func (m *Main) printJSON(v any) error {
	enc := json.NewEncoder(m.Stdout)
	return enc.Encode(v)
}

func (m *Main) merchants(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "create":
		var name string
		svc, _, err := m.admin(ctx, "merchants create", args[1:], func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "merchant display name (required)")
		})
		if err != nil {
			return err
		}
		defer svc.DB().Close()
		if name == "" {
			return errors.New("merchants create: --name is required")
		}
		mer, key, err := svc.CreateMerchant(ctx, name)
		if err != nil {
			return err
		}
		return m.printJSON(map[string]string{"merchant_id": mer.ID, "test_api_key": key})
	case "enable-live":
		svc, rest, err := m.admin(ctx, "merchants enable-live", args[1:], nil)
		if err != nil {
			return err
		}
		defer svc.DB().Close()
		if len(rest) != 1 {
			return errors.New("merchants enable-live: give one merchant id")
		}
		if err := svc.EnableLive(ctx, rest[0]); err != nil {
			return fmt.Errorf("merchant %s: %w", rest[0], err)
		}
		return m.printJSON(map[string]any{"merchant_id": rest[0], "live_enabled": true})
	default:
		return fmt.Errorf("merchants: unknown subcommand %q (create, enable-live)", args[0])
	}
}

func (m *Main) keys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "create":
		var merchant, mode, scope string
		svc, _, err := m.admin(ctx, "keys create", args[1:], func(fs *flag.FlagSet) {
			fs.StringVar(&merchant, "merchant", "", "merchant id (required)")
			fs.StringVar(&mode, "mode", "test", "test or live")
			fs.StringVar(&scope, "scope", "merchant", "merchant (everything) or read (reads and reports)")
		})
		if err != nil {
			return err
		}
		defer svc.DB().Close()
		secret, key, err := svc.CreateKey(ctx, merchant, invoice.Mode(mode), invoice.Scope(scope))
		if err != nil {
			return fmt.Errorf("keys create: %w", err)
		}
		return m.printJSON(map[string]string{"api_key": secret, "prefix": key.Prefix, "mode": string(key.Mode), "scope": string(key.Scope)})
	case "revoke":
		svc, rest, err := m.admin(ctx, "keys revoke", args[1:], nil)
		if err != nil {
			return err
		}
		defer svc.DB().Close()
		if len(rest) != 1 {
			return errors.New("keys revoke: give one key prefix")
		}
		if err := svc.RevokeKey(ctx, rest[0]); err != nil {
			return fmt.Errorf("key %s: %w", rest[0], err)
		}
		return m.printJSON(map[string]any{"prefix": rest[0], "revoked": true})
	case "rotate-terms":
		publishFor := time.Duration(invoice.MaxExpiresIn)*time.Second + time.Hour
		svc, _, err := m.admin(ctx, "keys rotate-terms", args[1:], func(fs *flag.FlagSet) {
			fs.DurationVar(&publishFor, "publish-for", publishFor, "how long the old key stays in /.well-known/jwks.json (at least the longest session)")
		})
		if err != nil {
			return err
		}
		defer svc.DB().Close()
		terms := payor.NewTerms(svc.DB(), svc.Now)
		if err := terms.Rotate(ctx, publishFor); err != nil {
			return err
		}
		keys, err := terms.JWKS(ctx)
		if err != nil {
			return err
		}
		kids := []string{}
		for _, k := range keys.Keys {
			kids = append(kids, k.KeyID)
		}
		return m.printJSON(map[string]any{"rotated": true, "published_kids": kids, "old_keys_published_for": publishFor.String()})
	default:
		return fmt.Errorf("keys: unknown subcommand %q (create, revoke, rotate-terms)", args[0])
	}
}

func (m *Main) openapi(args []string) error {
	if len(args) > 0 {
		return errors.New("openapi takes no arguments")
	}
	spec, err := openapi.Spec()
	if err != nil {
		return err
	}
	_, err = m.Stdout.Write(spec)
	return err
}

// redactURL hides a database password in logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
