package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/evm"
	"github.com/settlepay/settle/chains/solana"
	"github.com/settlepay/settle/invoice"
)

// reconcile is `settle reconcile`: the on-chain audit of one network (EVM or
// Solana) over a time range. It re-reads every payment recorded in the range
// from the chain, sums every transfer the chain shows to the receiving
// addresses, and prints the discrepancies; it exits with status 1 when there
// is any. It never writes: the database is opened read-only.
func (m *Main) reconcile(ctx context.Context, args []string) error {
	var c Config
	fs := newFlagSet("reconcile", m.Stderr)
	if err := m.flags(fs, &c, "database-url", "config", "evm-max-range"); err != nil {
		return err
	}
	network := fs.String("network", "", "network id to audit, e.g. base, solana or devnet (required)")
	fromFlag := fs.String("from", "", "start of the range, RFC 3339 or a date (midnight UTC), included (required; on the devnet, default its start)")
	toFlag := fs.String("to", "", "end of the range, RFC 3339 or a date (midnight UTC), excluded (required; on the devnet, default after its last block)")
	merchant := fs.String("merchant", "", "audit one merchant's payments and addresses (default: every merchant)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	dataDir := fs.String("data-dir", defaultDataDir(), "with --network devnet: the data directory of the running `settle devnet`, whose database and RPC are audited")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return errUsage
	}
	if len(rest) > 0 {
		return fmt.Errorf("reconcile takes no arguments, got %q", rest)
	}
	n, err := reconcileNetwork("reconcile", *network)
	if err != nil {
		return err
	}
	var from, to time.Time
	if n.ID != "devnet" {
		if from, to, err = reconcileRange(*fromFlag, *toFlag, time.Time{}, false); err != nil {
			return err
		}
	}
	if c.EVMMaxRange <= 0 {
		return errors.New("reconcile: --evm-max-range must be positive")
	}
	tg, err := m.chainTarget("reconcile", fs, &c, n, *dataDir, *fromFlag == "")
	if err != nil {
		return err
	}
	n, e, cat := tg.network, tg.endpoint, tg.cat
	if n.ID == "devnet" {
		if from, to, err = reconcileRange(*fromFlag, *toFlag, tg.devnetStart, true); err != nil {
			return err
		}
	}

	db, err := openReadOnly(ctx, c.DatabaseURL)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	defer db.Close()
	ledger := chains.NewLedger(invoice.NewService(db, nil, nil, nil), cat)

	var rep chains.AuditReport
	if n.Kind == chains.KindSolana {
		rep, err = reconcileSolana(ctx, n, e, ledger, cat, *merchant, from, to)
	} else {
		rep, to, err = reconcileEVM(ctx, n, e, ledger, cat, *merchant, from, to, c.EVMMaxRange)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		err = m.printJSON(struct {
			From time.Time `json:"from"`
			To   time.Time `json:"to"`
			chains.AuditReport
		}{from, to, rep})
	} else {
		err = printAudit(m.Stdout, rep, n.Kind, from, to)
	}
	if err != nil {
		return err
	}
	if k := len(rep.Discrepancies); k > 0 {
		return fmt.Errorf("reconcile %s: %w: %d %s", n.ID, errFailed, k, plural(k, "discrepancy", "discrepancies"))
	}
	return nil
}

// chainTarget is what `settle reconcile` and `settle rescan` read: a
// network, its RPC endpoint and catalogue, and (in c) the database.
type chainTarget struct {
	network     chains.Network
	endpoint    chains.Endpoint
	cat         *chains.Catalogue
	devnetStart time.Time // on the devnet, when it started
}

// chainTarget finds network n's RPC (SETTLE_RPC_*, the config file, or on
// the devnet its data directory's devnet.json, which also gives the
// database unless --database-url is set and, when needStart, the devnet's
// start).
func (m *Main) chainTarget(cmd string, fs *flag.FlagSet, c *Config, n chains.Network, dataDir string, needStart bool) (chainTarget, error) {
	endpoints, err := m.networkEndpoints(c.ConfigFile)
	if err != nil {
		return chainTarget{}, err
	}
	tg := chainTarget{network: n}
	e, ok := endpoints[n.ID]
	// The devnet is found by its data directory: its devnet.json names its
	// database and RPC, which a setting given explicitly overrides.
	if n.ID == "devnet" && (!ok || !flagSet(fs, "database-url") || needStart) {
		st, err := readDevnetState(dataDir)
		if err != nil && (!ok || !flagSet(fs, "database-url")) {
			return tg, fmt.Errorf("%s: no devnet found in %s (start `settle devnet --data-dir %s`, or give --database-url and SETTLE_RPC_DEVNET): %w",
				cmd, dataDir, dataDir, err)
		}
		if !ok && st.RPCURL != "" {
			e, ok = chains.Endpoint{HTTP: st.RPCURL, WS: st.WSURL, Confirmations: 1}, true
		}
		if !flagSet(fs, "database-url") && st.DatabaseURL != "" {
			c.DatabaseURL = st.DatabaseURL
		}
		tg.devnetStart = st.StartedAt
	}
	if !ok {
		return tg, fmt.Errorf("%s: no RPC configured for %s: set SETTLE_RPC_%s or give it in the config file (--config)",
			cmd, n.ID, strings.ToUpper(n.ID))
	}
	if tg.cat, err = chains.NewCatalogue(map[string]chains.Endpoint{n.ID: e}); err != nil {
		return tg, err
	}
	tg.network, _ = tg.cat.Network(n.ID)
	tg.endpoint = e
	return tg, nil
}

// reconcileEVM audits an EVM network over the blocks whose timestamps fall
// in [from, to); a zero to means up to the head, and the end of the range
// is returned.
func reconcileEVM(ctx context.Context, n chains.Network, e chains.Endpoint, ledger *chains.Ledger, cat *chains.Catalogue,
	merchant string, from, to time.Time, maxRange int) (chains.AuditReport, time.Time, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	client, err := evm.Dial(dctx, n, e)
	cancel()
	if err != nil {
		if n.ID == "devnet" {
			err = fmt.Errorf("%w (is `settle devnet` running?)", err)
		}
		return chains.AuditReport{}, to, fmt.Errorf("reconcile: %s RPC: %w", n.ID, err)
	}
	defer client.Close()
	if to.IsZero() {
		head, err := client.HeaderByNumber(ctx, nil)
		if err != nil {
			return chains.AuditReport{}, to, fmt.Errorf("reconcile: %s head: %w", n.ID, err)
		}
		to = time.Unix(int64(head.Time)+1, 0).UTC()
	}
	first, last, err := evm.BlockRange(ctx, client, from, to)
	if err != nil {
		return chains.AuditReport{}, to, fmt.Errorf("reconcile: %s: %w", n.ID, err)
	}
	rep, err := evm.Audit(ctx, client, ledger, evm.AuditConfig{
		Network: n, Methods: cat.NetworkMethods(n.ID), MerchantID: merchant,
		FromBlock: first, ToBlock: last, MaxRange: int64(maxRange),
	})
	if err != nil {
		return rep, to, fmt.Errorf("reconcile: %w", err)
	}
	return rep, to, nil
}

// reconcileSolana audits a Solana network over the transactions whose block
// times fall in [from, to); its report's blocks are slots.
func reconcileSolana(ctx context.Context, n chains.Network, e chains.Endpoint, ledger *chains.Ledger, cat *chains.Catalogue,
	merchant string, from, to time.Time) (chains.AuditReport, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	client, err := solana.Dial(dctx, n, e)
	cancel()
	if err != nil {
		return chains.AuditReport{}, fmt.Errorf("reconcile: %s RPC: %w", n.ID, err)
	}
	defer client.Close()
	r, err := solana.Audit(ctx, client, ledger, solana.AuditConfig{
		Network: n, Methods: cat.NetworkMethods(n.ID), MerchantID: merchant, From: from, To: to,
	})
	if err != nil {
		return r, fmt.Errorf("reconcile: %w", err)
	}
	return r, nil
}

// reconcileNetwork returns the network to audit: a known EVM or Solana
// network.
func reconcileNetwork(cmd, id string) (chains.Network, error) {
	if id == "" {
		return chains.Network{}, fmt.Errorf("%s: --network is required", cmd)
	}
	supported := func(n chains.Network) bool { return n.Kind == chains.KindEVM || n.Kind == chains.KindSolana }
	n, ok := chains.NetworkByID(id)
	if !ok {
		var ids []string
		for _, n := range chains.Networks() {
			if supported(n) {
				ids = append(ids, n.ID)
			}
		}
		return n, fmt.Errorf("%s: unknown network %q (EVM and Solana networks: %s)", cmd, id, strings.Join(ids, ", "))
	}
	if !supported(n) {
		return n, fmt.Errorf("%s supports EVM and Solana networks; %s is a %s network", cmd, id, n.Kind)
	}
	return n, nil
}

// reconcileRange reads --from and --to. On the devnet (devnet true), no
// --from means its start and no --to (a zero to) up to its last block: its
// block times may run ahead of the clock.
func reconcileRange(fromFlag, toFlag string, start time.Time, devnet bool) (from, to time.Time, err error) {
	if fromFlag != "" || start.IsZero() {
		if from, err = parseTime("from", fromFlag); err != nil {
			return from, to, err
		}
	} else {
		from = start.Add(-time.Second)
	}
	if toFlag == "" && devnet {
		return from, to, nil
	}
	if to, err = parseTime("to", toFlag); err != nil {
		return from, to, err
	}
	if !to.After(from) {
		return from, to, fmt.Errorf("reconcile: --to (%s) must be after --from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	return from, to, nil
}

// parseTime reads an RFC 3339 time or a date (midnight UTC).
func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("reconcile: --%s is required", flag)
	}
	if t, ok := invoice.ParseReportTime(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("reconcile: --%s %q: want an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01)", flag, s)
}

// readOnlyURL opens the database so that it cannot be written: SQLite in
// read-only mode, Postgres with read-only transactions by default.
func readOnlyURL(raw string) (string, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite:"):
		sep := "?"
		if strings.Contains(raw, "?") {
			sep = "&"
		}
		return raw + sep + "mode=ro", nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return "", fmt.Errorf("database url: %w", err)
		}
		q := u.Query()
		q.Set("default_transaction_read_only", "on")
		u.RawQuery = q.Encode()
		return u.String(), nil
	default:
		return raw, nil // OpenDB names what it accepts
	}
}

// printAudit writes the report as a table of discrepancies and a summary;
// on a Solana network (kind) blocks are slots.
func printAudit(w io.Writer, rep chains.AuditReport, kind chains.Kind, from, to time.Time) error {
	who := "every merchant"
	if rep.MerchantID != "" {
		who = "merchant " + rep.MerchantID
	}
	unit := "block"
	if kind == chains.KindSolana {
		unit = "slot"
	}
	blocks := fmt.Sprintf("%ss %d–%d", unit, rep.FromBlock, rep.ToBlock)
	if rep.FromBlock > rep.ToBlock {
		blocks = "no " + unit
	}
	fmt.Fprintf(w, "reconcile %s, %s, %s (%s to %s)\n\n", rep.Network, who, blocks, from.Format(time.RFC3339), to.Format(time.RFC3339))
	if len(rep.Discrepancies) == 0 {
		fmt.Fprintln(w, "no discrepancies")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tTX\tINDEX\tINVOICE\tRECORDED\tON CHAIN\tDETAIL")
		for _, d := range rep.Discrepancies {
			ref := cmp.Or(d.InvoiceID, d.PaymentID, "–")
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.Kind, d.TxID, d.Index, ref,
				amount(d.Recorded, d.Decimals), amount(d.Chain, d.Decimals), d.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nchecked %d %s and %d unmatched against the chain's transfers to %d %s\n",
		rep.Payments, plural(rep.Payments, "payment", "payments"), rep.Unmatched, rep.Addresses, plural(rep.Addresses, "address", "addresses"))
	for _, t := range rep.Totals {
		fmt.Fprintf(w, "%s: chain total %s in %d %s, recorded total %s in %d\n", t.Asset,
			amount(t.ChainUnits, t.Decimals), t.ChainTransfers, plural(t.ChainTransfers, "transfer", "transfers"),
			amount(t.RecordedUnits, t.Decimals), t.Recorded)
	}
	if k := len(rep.Discrepancies); k > 0 {
		if _, err := fmt.Fprintf(w, "%d %s\n", k, plural(k, "discrepancy", "discrepancies")); err != nil {
			return err
		}
	}
	// Missed transfers are for `settle rescan` to record.
	first, last, missed := int64(0), int64(0), 0
	for _, d := range rep.Discrepancies {
		if d.Kind == chains.NotRecorded && d.Transfer != nil {
			if missed == 0 || d.Block < first {
				first = d.Block
			}
			last, missed = max(last, d.Block), missed+1
		}
	}
	if missed > 0 && kind == chains.KindEVM {
		_, err := fmt.Fprintf(w, "%d not recorded: `settle rescan --network %s --from-block %d --to-block %d` records %s through the ledger\n",
			missed, rep.Network, first, last, plural(missed, "it", "them"))
		return err
	}
	return nil
}

// amount formats base units with the asset's decimals, "–" for none.
func amount(units string, decimals int) string {
	if units == "" {
		return "–"
	}
	u, err := invoice.ParseUnits(units)
	if err != nil {
		return units
	}
	return u.Format(decimals)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
