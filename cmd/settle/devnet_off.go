//go:build nodevnet

package main

import (
	"context"
	"errors"
)

// A release build (-tags nodevnet) leaves out the devnet: its in-process
// chain is go-ethereum's whole execution client (state, EVM, miner, txpool:
// about a tenth of the binary), which a server watching real networks never
// runs. The commands that need it say so. Tests are built without the tag
// (they drive the devnet).

var errNoDevnet = errors.New("this settle was built without the devnet (-tags nodevnet); run `go run ./cmd/settle devnet` from the source instead")

func (m *Main) devnet(context.Context, []string) error { return errNoDevnet }

func (m *Main) pay(context.Context, []string) error { return errNoDevnet }

func (m *Main) benchDetect(context.Context, []string) error { return errNoDevnet }
