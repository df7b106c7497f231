package evm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/settlepay/settle/chains"
)

// Providers spreads one network's JSON-RPC calls over several providers
// as an http.RoundTripper under go-ethereum's rpc client, so that the
// watcher and the audit read through it unchanged. Each call goes to the
// healthiest provider and fails over at once, to the next, on an error,
// a server error or a refusal:
//
//   - health is a score of recent errors and latency; a provider whose
//     head lags the best one by more than MaxLag blocks is demoted (used
//     only when no other answers);
//   - an eth_getLogs range a provider refuses is remembered for that
//     provider alone: a larger range goes to another provider first, and
//     only when every one refuses does the watcher see the refusal (and
//     halve the range);
//   - with Quorum, a block read by number (eth_getBlockByNumber with a
//     number, as the watcher does to confirm a payment at depth and to
//     check its checkpoints) is asked of two providers, and trusted only
//     when two agree on its hash; a provider that answers another hash is
//     counted as lying and the read fails until two agree.
type Providers struct {
	MaxLag int64 // blocks (default 8)
	Quorum bool
	Log    *slog.Logger

	base      http.RoundTripper
	providers []*provider
}

type provider struct {
	url string

	mu        sync.Mutex
	errors    float64       // decaying count of recent failures
	latency   time.Duration // moving average
	head      int64
	refuses   int64 // smallest eth_getLogs range refused (0: none)
	lies      int64 // block hashes that disagreed with two others
	calls     int64
	lastError string
}

// NewProviders returns the failover transport over urls (http or https
// JSON-RPC endpoints).
func NewProviders(urls []string) *Providers {
	p := &Providers{base: http.DefaultTransport, MaxLag: 8}
	for _, u := range urls {
		p.providers = append(p.providers, &provider{url: u})
	}
	return p
}

// Status returns each provider's health, in configuration order.
func (p *Providers) Status() []chains.ProviderStatus {
	best := p.bestHead()
	out := make([]chains.ProviderStatus, len(p.providers))
	for i, pr := range p.providers {
		pr.mu.Lock()
		out[i] = chains.ProviderStatus{URL: redact(pr.url), Head: pr.head, Demoted: p.demoted(pr, best), Errors: int(pr.errors + 0.5),
			LatencyMS: pr.latency.Milliseconds(), RefusesLogs: pr.refuses, Disagreed: pr.lies, Calls: pr.calls, LastError: pr.lastError}
		pr.mu.Unlock()
	}
	return out
}

func (p *Providers) bestHead() int64 {
	var best int64
	for _, pr := range p.providers {
		pr.mu.Lock()
		best = max(best, pr.head)
		pr.mu.Unlock()
	}
	return best
}

// demoted reports, with pr locked, whether pr lags the best head too far.
func (p *Providers) demoted(pr *provider, best int64) bool {
	return pr.head > 0 && best-pr.head > p.MaxLag
}

// slowStep is the latency that counts against a provider like one recent
// error in ten: providers within it of each other keep their configured
// order (the operator's preference).
const slowStep = 250 * time.Millisecond

// order is the providers in the order to try them for a call: the
// healthy by score (recent errors, contradicted hashes, latency in steps
// of slowStep), then in configured order, then the demoted; for
// eth_getLogs of span blocks, those known to refuse it last.
func (p *Providers) order(span int64) []*provider {
	best := p.bestHead()
	type ranked struct {
		pr      *provider
		demoted bool
		refuses bool
		score   float64
		i       int
	}
	rs := make([]ranked, len(p.providers))
	for i, pr := range p.providers {
		pr.mu.Lock()
		rs[i] = ranked{pr: pr, demoted: p.demoted(pr, best), refuses: span > 0 && pr.refuses > 0 && span >= pr.refuses,
			score: pr.errors*10 + float64(pr.lies)*100 + float64(pr.latency/slowStep), i: i}
		pr.mu.Unlock()
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		switch {
		case a.refuses != b.refuses:
			return boolCmp(a.refuses, b.refuses)
		case a.demoted != b.demoted:
			return boolCmp(a.demoted, b.demoted)
		case a.score != b.score:
			if a.score < b.score {
				return -1
			}
			return 1
		}
		return a.i - b.i
	})
	out := make([]*provider, len(rs))
	for i, r := range rs {
		out[i] = r.pr
	}
	return out
}

func boolCmp(a, b bool) int {
	if a == b {
		return 0
	}
	if a {
		return 1
	}
	return -1
}

// rpcCall is the part of a JSON-RPC request the transport reads.
type rpcCall struct {
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

// rpcReply is the part of a JSON-RPC response it reads.
type rpcReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// RoundTrip sends one JSON-RPC request (or batch) to the providers.
func (p *Providers) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	var call rpcCall
	single := json.Unmarshal(body, &call) == nil // a batch is an array
	span := int64(0)
	if single && call.Method == "eth_getLogs" {
		span = logsSpan(call.Params)
	}
	if single && p.Quorum && call.Method == "eth_getBlockByNumber" && numbered(call.Params) && len(p.providers) > 1 {
		return p.quorum(req, body)
	}
	var last *http.Response
	var lastErr error
	for _, pr := range p.order(span) {
		resp, reply, err := p.send(req, pr, body, single)
		if err != nil {
			lastErr = err
			continue
		}
		if single && reply.Error != nil && span > 0 {
			// A refused range: remember it for this provider, try another.
			pr.mu.Lock()
			if pr.refuses == 0 || span < pr.refuses {
				pr.refuses = span
			}
			pr.mu.Unlock()
			last = resp
			continue
		}
		if single && call.Method == "eth_blockNumber" && reply.Error == nil {
			p.sawHead(pr, reply.Result)
		}
		return resp, nil
	}
	if last != nil {
		return last, nil // every provider refused: the caller halves the range
	}
	return nil, fmt.Errorf("every RPC provider failed: %w", lastErr)
}

// send makes the call to one provider; a transport error, a status other
// than 200 or an unreadable answer is a failure, counted against it.
func (p *Providers) send(req *http.Request, pr *provider, body []byte, single bool) (*http.Response, rpcReply, error) {
	var reply rpcReply
	u, err := url.Parse(pr.url)
	if err != nil {
		return nil, reply, err
	}
	out := req.Clone(req.Context())
	out.URL, out.Host = u, u.Host
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	start := time.Now()
	resp, err := p.base.RoundTrip(out)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if err == nil && single {
			if jerr := json.Unmarshal(data, &reply); jerr != nil {
				err = fmt.Errorf("unreadable answer: %w", jerr)
			}
		}
	}
	p.record(pr, time.Since(start), err)
	if err != nil {
		return nil, reply, fmt.Errorf("%s: %w", redact(pr.url), err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	return resp, reply, nil
}

func (p *Providers) record(pr *provider, took time.Duration, err error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.calls++
	pr.errors *= 0.9 // the last twenty or so calls count
	if err != nil {
		pr.errors++
		pr.lastError = err.Error()
		return
	}
	if pr.latency == 0 {
		pr.latency = took
	} else {
		pr.latency = (pr.latency*7 + took) / 8
	}
}

func (p *Providers) sawHead(pr *provider, result json.RawMessage) {
	var hex string
	if json.Unmarshal(result, &hex) != nil {
		return
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(hex, "0x"), 16, 64)
	if err != nil {
		return
	}
	pr.mu.Lock()
	pr.head = n
	pr.mu.Unlock()
}

// quorum asks every provider for the block at once and answers as soon as
// two agree on its hash; every answer, also one arriving later, that
// names another hash than the agreed one is counted as a lie.
func (p *Providers) quorum(req *http.Request, body []byte) (*http.Response, error) {
	type answer struct {
		pr   *provider
		resp *http.Response
		hash string
		rpc  bool // a JSON-RPC error (no such block): the answer as it is
		err  error
	}
	answers := make(chan answer, len(p.providers))
	for _, pr := range p.providers {
		go func() {
			// Detached from the caller, so that a late answer is still
			// judged after the caller has its result.
			r := req.Clone(context.WithoutCancel(req.Context()))
			resp, reply, err := p.send(r, pr, body, true)
			a := answer{pr: pr, resp: resp, err: err}
			if err == nil {
				var blk struct {
					Hash string `json:"hash"`
				}
				json.Unmarshal(reply.Result, &blk)
				a.hash, a.rpc = blk.Hash, reply.Error != nil
			}
			answers <- a
		}()
	}
	var got []answer
	var lastErr error
	agreed := ""
	for received := 1; received <= len(p.providers); received++ {
		a := <-answers
		switch {
		case a.err != nil:
			lastErr = a.err
			continue
		case a.rpc:
			return a.resp, nil
		}
		for _, b := range got {
			if b.hash == a.hash {
				agreed = a.hash
			}
		}
		got = append(got, a)
		if agreed == "" {
			continue
		}
		for _, b := range got {
			if b.hash != agreed {
				p.lied(b.pr, agreed, b.hash)
			}
		}
		// The rest are judged as they come.
		go func(left int) {
			for range left {
				if b := <-answers; b.err == nil && !b.rpc && b.hash != agreed {
					p.lied(b.pr, agreed, b.hash)
				}
			}
		}(len(p.providers) - received)
		return a.resp, nil
	}
	if len(got) > 0 {
		hashes := make([]string, len(got))
		for i, a := range got {
			hashes[i] = redact(a.pr.url) + " " + a.hash
		}
		return nil, fmt.Errorf("no two RPC providers agree on the block: %s", strings.Join(hashes, ", "))
	}
	return nil, fmt.Errorf("every RPC provider failed: %w", lastErr)
}

func (p *Providers) lied(pr *provider, want, got string) {
	pr.mu.Lock()
	pr.lies++
	pr.lastError = "answered block hash " + got + " where two others answered " + want
	pr.mu.Unlock()
	if p.Log != nil {
		p.Log.Warn("rpc provider contradicted by two others; not trusted for that block", "provider", redact(pr.url), "hash", got, "agreed", want)
	}
}

// Heads asks each provider for its head (eth_blockNumber) until ctx ends,
// every interval, for demotion.
func (p *Providers) Heads(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`)
	for {
		for _, pr := range p.providers {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, pr.url, bytes.NewReader(body))
			if err != nil {
				continue
			}
			req.Header.Set("Content-Type", "application/json")
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if _, reply, err := p.send(req.WithContext(cctx), pr, body, true); err == nil && reply.Error == nil {
				p.sawHead(pr, reply.Result)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logsSpan is the number of blocks an eth_getLogs filter covers (0 when
// not given as numbers).
func logsSpan(params []json.RawMessage) int64 {
	if len(params) != 1 {
		return 0
	}
	var q struct{ FromBlock, ToBlock string }
	if json.Unmarshal(params[0], &q) != nil {
		return 0
	}
	from, ok1 := new(big.Int).SetString(strings.TrimPrefix(q.FromBlock, "0x"), 16)
	to, ok2 := new(big.Int).SetString(strings.TrimPrefix(q.ToBlock, "0x"), 16)
	if !ok1 || !ok2 || to.Cmp(from) < 0 {
		return 0
	}
	return to.Int64() - from.Int64() + 1
}

// numbered reports whether eth_getBlockByNumber names a block by number
// (not latest, safe, finalized or pending).
func numbered(params []json.RawMessage) bool {
	if len(params) == 0 {
		return false
	}
	var tag string
	return json.Unmarshal(params[0], &tag) == nil && strings.HasPrefix(tag, "0x")
}
