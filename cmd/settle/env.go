package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/settlepay/settle/chains"
)

// otherVariables are the SETTLE_* variables read besides the settings of
// the configuration table and the per-network ones: by the tests, the
// benchmarks and the Go SDK's examples. settle knows them, so they never
// warn.
var otherVariables = []string{
	"SETTLE_TEST_POSTGRES_URL", // storage tests also run on this Postgres
	"SETTLE_REQUIRE_BROWSER",   // browser tests fail without a browser
	"SETTLE_REQUIRE_SYSTEMD",   // the systemd unit test fails without systemd-analyze
	"SETTLE_REQUIRE_NODE",      // the TypeScript SDK's tests fail without node
	"SETTLE_TEST_BIN",          // the settle binary the TypeScript SDK's tests run
	"SETTLE_CHROMIUM",          // the browser tests' browser
	"SETTLE_REDOCLY",           // the Redocly CLI that lints the spec (openapi TestSpecLint)
	"SETTLE_TEST_ARTIFACTS",    // where browser tests leave screenshots
	"SETTLE_TEST_AS_BINARY",    // the money simulation runs settle as a binary
	"SETTLE_SIM_SEEDS",         // the money simulation's seeds
	"SETTLE_SIM_STEPS",         // and steps
	"SETTLE_BENCH_LARGE",       // the matching benchmark's large sizes
	"SETTLE_BENCH_POSTGRES",    // and its Postgres
	"SETTLE_BENCH_WS_KEY",      // `settle bench ws` hands its key to its clients
	"SETTLE_KEY",               // the Go SDK's examples: an API key
	"SETTLE_WEBHOOK_SECRET",    // and a webhook secret
}

// networkPrefixes are the per-network variables: the prefix, then the
// network id in capitals (SETTLE_RPC_BASE_SEPOLIA).
var networkPrefixes = []string{"SETTLE_RPC_", "SETTLE_WS_", "SETTLE_CONFIRMATIONS_", "SETTLE_QUORUM_"}

// knownVariables lists every SETTLE_* variable settle reads, with the
// per-network patterns spelt out for each EVM and Solana network.
func knownVariables() []string {
	var known []string
	for _, s := range settings {
		known = append(known, s.env)
	}
	known = append(known, otherVariables...)
	for _, n := range chains.Networks() {
		if watchedNetwork(n.ID) {
			for _, p := range networkPrefixes {
				known = append(known, p+strings.ToUpper(n.ID))
			}
		}
	}
	return known
}

// unknownVariables returns one message for each SETTLE_* variable of
// environ (KEY=VALUE entries) that settle does not know, with the closest
// known name when one is close: a misspelt setting is otherwise silently
// ignored.
func unknownVariables(environ []string) []string {
	known := knownVariables()
	var msgs []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "SETTLE_") || slices.Contains(known, name) {
			continue
		}
		msg := "unknown setting " + name
		if best := closest(name, known); best != "" {
			msg += "; did you mean " + best + "?"
		} else if p := networkPrefix(name); p != "" {
			var ids []string
			for _, n := range chains.Networks() {
				if watchedNetwork(n.ID) {
					ids = append(ids, strings.ToUpper(n.ID))
				}
			}
			msg += fmt.Sprintf(": %s is not a network settle watches (%s<NETWORK> takes one of %s)",
				strings.TrimPrefix(name, p), p, strings.Join(ids, ", "))
		}
		msgs = append(msgs, msg)
	}
	slices.Sort(msgs)
	return slices.Compact(msgs)
}

func networkPrefix(name string) string {
	for _, p := range networkPrefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return p
		}
	}
	return ""
}

// closest returns the known name nearest to name by edit distance (case
// aside), or ""
// when none is near enough to be a misspelling of it: within a third of
// the name's own part (after SETTLE_), and at least 2.
func closest(name string, known []string) string {
	limit := max(2, (len(name)-len("SETTLE_"))/3)
	best, bestD := "", limit+1
	upper := strings.ToUpper(name) // every known name is in capitals
	for _, k := range known {
		if d := editDistance(upper, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b: the
// insertions, deletions, substitutions and swaps of neighbours that turn
// one into the other.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// strictConfig reports whether unknown variables are refused: the
// --strict-config flag among args (read before the command parses them),
// else SETTLE_STRICT_CONFIG.
func (m *Main) strictConfig(args []string) (bool, error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "strict-config" {
			continue
		}
		if !hasValue {
			return true, nil
		}
		b, err := strconv.ParseBool(value)
		if err != nil {
			return false, fmt.Errorf("--strict-config=%s: want true or false", value)
		}
		return b, nil
	}
	if v := m.Getenv("SETTLE_STRICT_CONFIG"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("SETTLE_STRICT_CONFIG=%q: want true or false", v)
		}
		return b, nil
	}
	return false, nil
}

// checkVariables reports the SETTLE_* variables settle does not know on
// stderr: as warnings, or as errors that stop the command when strict.
func (m *Main) checkVariables(args []string) error {
	if m.Environ == nil {
		return nil
	}
	strict, err := m.strictConfig(args)
	if err != nil {
		return err
	}
	unknown := unknownVariables(m.Environ())
	for _, msg := range unknown {
		if strict {
			fmt.Fprintln(m.Stderr, "settle: error: "+msg)
		} else {
			fmt.Fprintln(m.Stderr, "settle: warning: "+msg)
		}
	}
	if strict && len(unknown) > 0 {
		return fmt.Errorf("%d unknown SETTLE_* %s refused (--strict-config)", len(unknown), plural(len(unknown), "variable", "variables"))
	}
	return nil
}
