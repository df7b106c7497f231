package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/evm"
	"github.com/settlepay/settle/invoice"
)

// rescanResult is what `settle rescan` prints.
type rescanResult struct {
	Network   string      `json:"network"`
	FromBlock int64       `json:"from_block"`
	ToBlock   int64       `json:"to_block"` // the last block read: at most the confirmed head
	Added     []evm.Added `json:"added"`
	// Other are the discrepancies a rescan does not correct (a recorded
	// transfer the chain does not hold, another amount, a reorged one):
	// `settle reconcile` lists them for a person.
	Other []chains.Discrepancy `json:"other_discrepancies"`
}

// rescan is `settle rescan`: it re-reads a range of an EVM network's
// confirmed blocks and records what the store does not count, through the
// watcher's ledger (see evm.Rescan). Running it twice changes nothing.
func (m *Main) rescan(ctx context.Context, args []string) error {
	var c Config
	fs := newFlagSet("rescan", m.Stderr)
	if err := m.flags(fs, &c, "database-url", "config", "evm-max-range"); err != nil {
		return err
	}
	network := fs.String("network", "", "EVM network id to rescan, e.g. base or devnet (required)")
	fromBlock := fs.String("from-block", "", "first block to read (or --from)")
	toBlock := fs.String("to-block", "", "last block to read, included (default: the confirmed head)")
	fromFlag := fs.String("from", "", "start of the range, RFC 3339 or a date (midnight UTC), included (or --from-block)")
	toFlag := fs.String("to", "", "end of the range, RFC 3339 or a date (midnight UTC), excluded (default: the confirmed head)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	dataDir := fs.String("data-dir", defaultDataDir(), "with --network devnet: the data directory of the running `settle devnet`")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return errUsage
	}
	if len(rest) > 0 {
		return fmt.Errorf("rescan takes no arguments, got %q", rest)
	}
	n, err := reconcileNetwork("rescan", *network)
	if err != nil {
		return err
	}
	if n.Kind != chains.KindEVM {
		return fmt.Errorf("rescan: %s is a %s network; rescan reads EVM networks (the Solana watcher pages each account's signatures from its stored cursor, so it resumes where it stopped)", n.ID, n.Kind)
	}
	switch {
	case (*fromBlock == "") == (*fromFlag == ""):
		return errors.New("rescan: give the start as --from-block N or as --from TIME (one of them)")
	case *toBlock != "" && *toFlag != "":
		return errors.New("rescan: give the end as --to-block N or as --to TIME, not both")
	case c.EVMMaxRange <= 0:
		return errors.New("rescan: --evm-max-range must be positive")
	}
	block := func(flag, s string) (int64, error) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("rescan: --%s %q: want a block number (0 or more)", flag, s)
		}
		return v, nil
	}
	var from, to int64 = 0, -1 // to -1: the confirmed head
	var fromTime, toTime time.Time
	if *fromBlock != "" {
		if from, err = block("from-block", *fromBlock); err != nil {
			return err
		}
	} else if fromTime, err = parseTime("from", *fromFlag); err != nil {
		return err
	}
	if *toBlock != "" {
		if to, err = block("to-block", *toBlock); err != nil {
			return err
		}
		if to < from {
			return fmt.Errorf("rescan: --to-block %d is before --from-block %d", to, from)
		}
	} else if *toFlag != "" {
		if toTime, err = parseTime("to", *toFlag); err != nil {
			return err
		}
		if !fromTime.IsZero() && !toTime.After(fromTime) {
			return fmt.Errorf("rescan: --to (%s) must be after --from (%s)", toTime.Format(time.RFC3339), fromTime.Format(time.RFC3339))
		}
	}

	tg, err := m.chainTarget("rescan", fs, &c, n, *dataDir, false)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	client, err := evm.Dial(dctx, tg.network, tg.endpoint)
	cancel()
	if err != nil {
		return fmt.Errorf("rescan: %s RPC: %w", n.ID, err)
	}
	defer client.Close()
	if !fromTime.IsZero() || !toTime.IsZero() {
		// Times become blocks as in reconcile; an open end is the head.
		first, last, err := evm.BlockRange(ctx, client, fromTime, orFarFuture(toTime))
		if err != nil {
			return fmt.Errorf("rescan: %s: %w", n.ID, err)
		}
		if !fromTime.IsZero() {
			from = first
		}
		if !toTime.IsZero() {
			to = last
		}
	}
	if to < 0 {
		to = 1<<62 - 1 // Rescan stops at the confirmed head
	}

	db, err := openMigrated(ctx, c.DatabaseURL, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("rescan: %w", err)
	}
	defer db.Close()
	ledger := chains.NewLedger(invoice.NewService(db, nil, nil, nil), tg.cat)
	rep, added, err := evm.Rescan(ctx, client, ledger, evm.RescanConfig{
		AuditConfig: evm.AuditConfig{Network: tg.network, Methods: tg.cat.NetworkMethods(n.ID), FromBlock: from, ToBlock: to,
			MaxRange: int64(c.EVMMaxRange)},
		Finalized: tg.endpoint.Finalized,
	})
	res := rescanResult{Network: n.ID, FromBlock: from, ToBlock: min(to, rep.ToBlock), Added: added, Other: []chains.Discrepancy{}}
	if res.Added == nil {
		res.Added = []evm.Added{}
	}
	for _, d := range rep.Discrepancies {
		if d.Kind != chains.NotRecorded || d.Transfer == nil {
			res.Other = append(res.Other, d)
		}
	}
	if perr := m.printResult(&res, *asJSON); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("rescan: %w", err)
	}
	return nil
}

// orFarFuture is t, or for a zero t a time after any block.
func orFarFuture(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().Add(100 * 365 * 24 * time.Hour)
	}
	return t
}

func (r *rescanResult) writeText(w io.Writer) error {
	if r.FromBlock > r.ToBlock {
		fmt.Fprintf(w, "rescan %s: no confirmed block from %d on; nothing read\n", r.Network, r.FromBlock)
	} else {
		fmt.Fprintf(w, "rescan %s, blocks %d–%d\n\n", r.Network, r.FromBlock, r.ToBlock)
	}
	if len(r.Added) == 0 {
		fmt.Fprintln(w, "nothing added: the store counts every transfer to a receiving address in the range")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "BLOCK\tTX\tINDEX\tTO\tAMOUNT\tRECORDED AS")
		for _, a := range r.Added {
			where := "payment " + a.PaymentID + " of " + a.InvoiceID
			if a.InvoiceID == "" {
				where = "unmatched " + a.UnmatchedID
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s %s\t%s\n", a.Block, a.TxID, a.Index, a.To, a.Amount, a.Asset, where)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nadded %d %s\n", len(r.Added), plural(len(r.Added), "transfer", "transfers"))
	}
	if k := len(r.Other); k > 0 {
		fmt.Fprintf(w, "%d other %s left as they are: see `settle reconcile --network %s`\n", k, plural(k, "discrepancy", "discrepancies"), r.Network)
	}
	return nil
}
