// Command settle is the one binary of settle: the server and its
// administration.
//
//	settle serve                    run the API (migrates first)
//	settle devnet                   the API beside an in-process EVM chain, ready to pay
//	settle pay INVOICE_ID           pay an invoice from the devnet wallet
//	settle migrate                  apply database migrations
//	settle merchants create --name  create a merchant and its first test key
//	settle merchants enable-live ID lift a merchant's live gate
//	settle keys create|revoke       manage API keys
//	settle openapi                  print the OpenAPI spec (YAML)
//	settle bench create             load-test invoice creation over HTTP
//
// Configuration comes from flags and SETTLE_* environment variables; a flag
// wins over its variable. See README.md for the table.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Environ: os.Environ}
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "settle:", err)
		}
		os.Exit(2 - boolToInt(errors.Is(err, errFailed)))
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// errUsage is returned after usage was printed; errFailed marks a command
// that ran and found a failure (exit status 1 rather than 2).
var (
	errUsage  = errors.New("usage")
	errFailed = errors.New("failed")
)

// Main is the program with its outside world injected, so tests run it as
// the binary runs.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Environ, if set, lists the environment (KEY=VALUE), for the check of
	// SETTLE_* variables settle does not know.
	Environ func() []string
	// Ready, if set, receives the address serve listens on once it does.
	Ready func(addr string)
}

const usage = `settle — invoices for stablecoin and instant-rail checkout

usage:
  settle serve [flags]                          run the API server (applies migrations first)
  settle devnet [--json] [--addr A] [--rpc-addr A] [--data-dir D]
                                                the server on SQLite beside a local EVM chain with test USDC
  settle pay INVOICE_ID [--amount X] [--force] [--data-dir D]
                                                pay an invoice from the devnet wallet
  settle migrate [flags]                        apply database migrations
  settle merchants create --name NAME           create a merchant; prints its first test key
  settle merchants enable-live MERCHANT_ID      allow the merchant's live keys
  settle keys create --merchant ID --mode test|live --scope merchant|read
  settle keys revoke PREFIX                     revoke a key by its prefix (sk_test_xxxxxxxx)
  settle keys rotate-terms [--publish-for D]    new signing key for payment terms; old ones stay in the JWKS for D
  settle openapi                                print the OpenAPI spec as YAML
  settle reconcile --network N --from T --to T  audit recorded payments against the chain
  settle reconcile --network devnet [--data-dir D]
                                                the same on a running devnet, found by its data directory
  settle rescan --network N (--from-block B | --from T) [--to-block B | --to T]
                                                record transfers the store missed in an EVM network's confirmed blocks
  settle bench create --url URL --key KEY [--concurrency N] [--duration D]

Run "settle COMMAND -h" for a command's flags. Every command warns of a
SETTLE_* variable it does not know (--strict-config: refuses it).
`

// Run runs one command.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errUsage
	}
	if args[0] != "help" && args[0] != "-h" && args[0] != "--help" {
		if err := m.checkVariables(args[1:]); err != nil {
			return err
		}
	}
	switch args[0] {
	case "serve":
		return m.serve(ctx, args[1:])
	case "devnet":
		return m.devnet(ctx, args[1:])
	case "pay":
		return m.pay(ctx, args[1:])
	case "migrate":
		return m.migrate(ctx, args[1:])
	case "merchants":
		return m.merchants(ctx, args[1:])
	case "keys":
		return m.keys(ctx, args[1:])
	case "openapi":
		return m.openapi(args[1:])
	case "bench":
		return m.bench(ctx, args[1:])
	case "reconcile":
		return m.reconcile(ctx, args[1:])
	case "rescan":
		return m.rescan(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	default:
		fmt.Fprintf(m.Stderr, "settle: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}
