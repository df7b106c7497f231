package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/evm"
	"github.com/settlepay/settle/chains/solana"
)

// configFile is the optional JSON file of SETTLE_CONFIG / --config: the
// networks' endpoints, which are many and hold provider keys.
//
//	{"networks": {"base_sepolia": {"rpc": "https://…", "ws": "wss://…", "confirmations": 3}}}
//
// confirmations is a number of blocks or "finalized"; on Solana networks it
// is the commitment at which a payment is confirmed, "finalized" (the
// default) or "confirmed".
type configFile struct {
	Networks map[string]struct {
		RPC           json.RawMessage `json:"rpc"` // a URL, or a list of provider URLs
		WS            string          `json:"ws"`
		Confirmations json.RawMessage `json:"confirmations"` // a number or "finalized"
		Quorum        *bool           `json:"quorum"`
	} `json:"networks"`
}

// rpcList reads a config file's rpc: a URL or a list of URLs, as the
// comma-separated form SETTLE_RPC_* takes.
func rpcList(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", errors.New("want a URL or a list of URLs")
	}
	for _, u := range list {
		if strings.Contains(u, ",") {
			return "", fmt.Errorf("%q: a URL with a comma", u)
		}
	}
	return strings.Join(list, ","), nil
}

// networkEndpoints reads each network's endpoint from the config file, then
// from SETTLE_RPC_<NETWORK>, SETTLE_WS_<NETWORK> and
// SETTLE_CONFIRMATIONS_<NETWORK>, which win. A network with neither is not
// offered.
func (m *Main) networkEndpoints(file string) (map[string]chains.Endpoint, error) {
	out := map[string]chains.Endpoint{}
	set := func(network, what, value string) error {
		e := out[network]
		switch what {
		case "rpc":
			// One URL, or several comma-separated: the providers, in order
			// of preference, between which calls fail over.
			var urls []string
			for _, u := range strings.Split(value, ",") {
				if u = strings.TrimSpace(u); u == "" {
					continue
				}
				if err := checkURL(u, "http", "https"); err != nil {
					return err
				}
				if slices.Contains(urls, u) {
					return fmt.Errorf("provider %s is listed twice", redactURL(u))
				}
				urls = append(urls, u)
			}
			if len(urls) == 0 {
				return checkURL("", "http", "https")
			}
			if n, _ := chains.NetworkByID(network); n.Kind == chains.KindSolana && len(urls) > 1 {
				return errors.New("several providers are supported on EVM networks only; give Solana one RPC URL")
			}
			e.HTTP, e.Providers = urls[0], urls
		case "quorum":
			switch value {
			case "true":
				e.Quorum = true
			case "false":
				e.Quorum = false
			default:
				return fmt.Errorf("%q: want true or false", value)
			}
		case "ws":
			if err := checkURL(value, "ws", "wss"); err != nil {
				return err
			}
			e.WS = value
		case "confirmations":
			if n, _ := chains.NetworkByID(network); n.Kind == chains.KindSolana {
				if value != chains.CommitmentFinalized && value != chains.CommitmentConfirmed {
					return fmt.Errorf("%q is not a Solana commitment: \"finalized\" or \"confirmed\"", value)
				}
				e.Commitment = value
				break
			}
			if value == "finalized" {
				e.Finalized = true
				break
			}
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 || n > 10000 {
				return fmt.Errorf("%q is neither a number of blocks (1 to 10000) nor \"finalized\"", value)
			}
			e.Confirmations = n
		}
		out[network] = e
		return nil
	}
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		var cf configFile
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cf); err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, err)
		}
		for id, n := range cf.Networks {
			if !watchedNetwork(id) {
				return nil, fmt.Errorf("config file %s: unknown EVM or Solana network %q", file, id)
			}
			conf := strings.Trim(string(n.Confirmations), `"`)
			rpcs, err := rpcList(n.RPC)
			if err != nil {
				return nil, fmt.Errorf("config file %s: networks.%s.rpc: %w", file, id, err)
			}
			quorum := ""
			if n.Quorum != nil {
				quorum = strconv.FormatBool(*n.Quorum)
			}
			for what, v := range map[string]string{"rpc": rpcs, "ws": n.WS, "confirmations": conf, "quorum": quorum} {
				if v == "" {
					continue
				}
				if err := set(id, what, v); err != nil {
					return nil, fmt.Errorf("config file %s: networks.%s.%s: %w", file, id, what, err)
				}
			}
		}
	}
	for _, n := range chains.Networks() {
		if !watchedNetwork(n.ID) {
			continue
		}
		for what, prefix := range map[string]string{"rpc": "SETTLE_RPC_", "ws": "SETTLE_WS_", "confirmations": "SETTLE_CONFIRMATIONS_", "quorum": "SETTLE_QUORUM_"} {
			name := prefix + strings.ToUpper(n.ID)
			if v := m.Getenv(name); v != "" {
				if err := set(n.ID, what, v); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
			}
		}
	}
	for id, e := range out {
		if e.HTTP == "" {
			return nil, fmt.Errorf("network %s has settings but no RPC URL (SETTLE_RPC_%s)", id, strings.ToUpper(id))
		}
	}
	return out, nil
}

func watchedNetwork(id string) bool {
	n, ok := chains.NetworkByID(id)
	return ok && (n.Kind == chains.KindEVM || n.Kind == chains.KindSolana)
}

func checkURL(s string, schemes ...string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != schemes[0] && u.Scheme != schemes[1]) {
		return fmt.Errorf("want a %s(s) URL such as %s://rpc.example/KEY", schemes[0], schemes[1])
	}
	return nil
}

// checkChains asks every network's RPC for its chain id (EVM) or genesis
// hash (Solana), all at once, and
// refuses the networks whose RPC serves another chain. An RPC that does not
// answer is kept: its watcher retries.
func checkChains(ctx context.Context, cat *chains.Catalogue, log *slog.Logger) {
	var wg sync.WaitGroup
	for id, e := range cat.Endpoints() {
		n, _ := cat.Network(id)
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			var err error
			if n.Kind == chains.KindSolana {
				err = solana.CheckChain(cctx, n, e)
			} else {
				err = evm.CheckChain(cctx, n, e)
			}
			switch {
			case errors.Is(err, evm.ErrWrongChain), errors.Is(err, solana.ErrWrongChain):
				log.Error("network refused: its RPC serves another chain", "network", id, "err", err)
				cat.Refuse(id)
			case err != nil:
				log.Warn("network RPC does not answer yet; its watcher keeps trying", "network", id, "err", err)
			}
		})
	}
	wg.Wait()
}

// newWatcher returns the watcher of network id at endpoint e.
func newWatcher(c Config, cat *chains.Catalogue, id string, e chains.Endpoint, holder string,
	ledger *chains.Ledger, monitor *chains.Monitor, log *slog.Logger) chains.Watcher {
	n, _ := cat.Network(id)
	if n.Kind == chains.KindSolana {
		return solana.New(solana.Config{
			Network: n, Endpoint: e, Mints: cat.Tokens(id), Holder: holder, LeaseTTL: c.ChainLease,
			PollInterval: c.SolanaPoll, Monitor: monitor, Log: log,
		}, ledger)
	}
	return evm.New(evm.Config{
		Network: n, Endpoint: e, Tokens: cat.Tokens(id), Holder: holder, LeaseTTL: c.ChainLease,
		MaxRange: int64(c.EVMMaxRange), PollInterval: c.EVMPoll, MaxWatched: c.EVMMaxWatched,
		Monitor: monitor, Log: log,
	}, ledger)
}
