package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/settlepay/settle/chains/devchain"
	"github.com/settlepay/settle/chains/fiat"
	"github.com/settlepay/settle/invoice/storetest"
)

// This file is the money simulation's world: a settle server run as the
// binary runs it (`settle serve`, restarted as a fresh instance on the same
// database), a devnet chain it watches, and the banks, processors and
// phones that post rail notifications to it.

// world is everything outside the model.
type world struct {
	t      *testing.T
	db     storetest.DB
	chain  *devchain.Chain
	eth    *ethclient.Client
	nonce  uint64
	env    map[string]string
	logs   *logTail
	base   string      // the running server's URL
	proc   *os.Process // the running server
	exited chan struct{}
	starts int
	http   *http.Client
}

// asBinaryEnv makes this test binary run as the settle binary.
const asBinaryEnv = "SETTLE_TEST_AS_BINARY"

// TestMain runs the settle binary when a test starts this test binary as
// one (the money simulation's server process), else the tests.
func TestMain(m *testing.M) {
	if os.Getenv(asBinaryEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// logTail keeps the last of a server's log.
type logTail struct {
	mu sync.Mutex
	b  []byte
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if len(l.b) > 256*1024 {
		l.b = l.b[len(l.b)-128*1024:]
	}
	return len(p), nil
}

func (l *logTail) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b
	if len(b) > 8*1024 {
		b = b[len(b)-8*1024:]
	}
	return string(b)
}

// simConfirmations is the devnet depth in the simulation: a payment is
// pending for one block, long enough to be reorged away.
const simConfirmations = 2

func newWorld(t *testing.T, db storetest.DB) *world {
	t.Helper()
	chain, err := devchain.Start(devchain.Config{RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	eth, err := ethclient.Dial(chain.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eth.Close)
	nonce, err := eth.PendingNonceAt(context.Background(), devchain.WalletAddress)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		t: t, db: db, chain: chain, eth: eth, nonce: nonce, logs: &logTail{},
		env: map[string]string{
			"SETTLE_RPC_DEVNET":           chain.HTTPURL(),
			"SETTLE_WS_DEVNET":            chain.WSURL(),
			"SETTLE_CONFIRMATIONS_DEVNET": fmt.Sprint(simConfirmations),
			"SETTLE_EVM_POLL_INTERVAL":    "50ms",
			"SETTLE_CHAIN_LEASE":          "1s", // a killed server's successor takes the chain over soon
			"SETTLE_LOG_LEVEL":            "info",
		},
		http: &http.Client{Timeout: 30 * time.Second},
	}
	t.Cleanup(func() {
		if w.proc != nil {
			w.proc.Kill()
			<-w.exited
		}
	})
	return w
}

// start runs `settle serve` on the world's database as a process of its
// own: this test binary, run as the settle binary (see TestMain).
func (w *world) start() {
	w.t.Helper()
	args := []string{"serve", "--addr", "127.0.0.1:0", "--database-url", w.db.URL, "--expire-interval", "20ms", "--shutdown-grace", "5s"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{asBinaryEnv + "=1", "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(), "PATH=" + os.Getenv("PATH")}
	for k, v := range w.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	addr := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		// The log, kept for a failure's report; the first line that says
		// where it serves gives the address.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Bytes()
			w.logs.Write(line)
			w.logs.Write([]byte{'\n'})
			var l struct{ Msg, Addr string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "settle serving" {
				select {
				case addr <- l.Addr:
				default:
				}
			}
		}
		cmd.Wait()
		close(exited)
	}()
	select {
	case a := <-addr:
		w.base = "http://" + a
		w.proc, w.exited = cmd.Process, exited
		w.starts++
	case <-exited:
		w.t.Fatalf("settle serve ended before serving:\n%s", w.logs.tail())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		w.t.Fatalf("settle serve did not start:\n%s", w.logs.tail())
	}
}

// stop ends the server: with SIGTERM, which drains it, or killed at once,
// as a crash would.
func (w *world) stop(kill bool) {
	w.t.Helper()
	if w.proc == nil {
		return
	}
	sig := os.Signal(syscall.SIGTERM)
	if kill {
		sig = os.Kill
	}
	w.proc.Signal(sig)
	select {
	case <-w.exited:
	case <-time.After(30 * time.Second):
		w.proc.Kill()
		<-w.exited
		w.t.Fatalf("settle serve did not stop on %v:\n%s", sig, w.logs.tail())
	}
	w.proc = nil
}

// restart stops the server (killing it when kill) and starts a fresh
// process on the same database: nothing in its memory survives, only what
// it stored.
func (w *world) restart(kill bool) {
	w.t.Helper()
	w.stop(kill)
	w.start()
}

// answer is a decoded HTTP answer.
type answer struct {
	status int
	raw    []byte
	json   map[string]any
}

func (a answer) str(field string) string {
	s, _ := a.json[field].(string)
	return s
}

// call sends one request to the server; body is JSON unless it is []byte.
func (w *world) call(method, path string, body any, header ...string) answer {
	w.t.Helper()
	a, err := w.try(method, path, body, header...)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// try is call for a request that may find no server (one killed meanwhile).
func (w *world) try(method, path string, body any, header ...string) (answer, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, w.base+path, rd)
	if err != nil {
		return answer{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := w.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: res.StatusCode, raw: raw}
	json.Unmarshal(raw, &a.json)
	return a, nil
}

// api is a call with a merchant's key.
func (w *world) api(key, method, path string, body any) answer {
	w.t.Helper()
	return w.call(method, path, body, "Authorization", "Bearer "+key)
}

// list reads every page of a list endpoint.
func (w *world) list(key, path string) []map[string]any {
	w.t.Helper()
	var out []map[string]any
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	after := ""
	for {
		p := path + sep + "limit=100"
		if after != "" {
			p += "&after=" + after
		}
		a := w.api(key, "GET", p, nil)
		if a.status != http.StatusOK {
			w.t.Fatalf("GET %s: %d %s", p, a.status, a.raw)
		}
		data, _ := a.json["data"].([]any)
		for _, d := range data {
			out = append(out, d.(map[string]any))
		}
		if more, _ := a.json["has_more"].(bool); !more || len(data) == 0 {
			return out
		}
		after = data[len(data)-1].(map[string]any)["id"].(string)
	}
}

// --- the chain ---

// transfer sends units of the devnet token from the wallet to to and mines
// it in a block of its own; it returns the transaction and the block's
// parent, from which a reorg forks.
func (w *world) transfer(to string, units *big.Int) (tx, parent common.Hash) {
	w.t.Helper()
	head, err := w.eth.HeaderByNumber(context.Background(), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	n := w.nonce
	tx, err = devchain.TransferWith(context.Background(), w.eth, devchain.WalletKey(), devchain.TokenAddress,
		common.HexToAddress(to), units, devchain.TxOpts{Nonce: &n, Tip: big.NewInt(1_000_000_000), FeeCap: big.NewInt(100_000_000_000)})
	if err != nil {
		w.t.Fatal(err)
	}
	w.nonce++
	w.mine(tx)
	return tx, head.Hash()
}

// mine commits a block, waiting first until the pool holds want (when set).
func (w *world) mine(want common.Hash) {
	w.t.Helper()
	if want != (common.Hash{}) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, pending, err := w.eth.TransactionByHash(context.Background(), want); err == nil && pending {
				break
			}
			if time.Now().After(deadline) {
				w.t.Fatalf("transaction %s never reached the pool", want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	w.chain.Commit()
}

// dropAndFork forks from parent and mines, in place of the transfer that
// used nonce, a replacement paying nobody settle knows: the transfer
// leaves the chain for good.
func (w *world) dropAndFork(parent common.Hash, nonce uint64) {
	w.t.Helper()
	if err := w.chain.Fork(parent); err != nil {
		w.t.Fatal(err)
	}
	n := nonce
	tx, err := devchain.TransferWith(context.Background(), w.eth, devchain.WalletKey(), devchain.TokenAddress,
		common.HexToAddress("0x000000000000000000000000000000000000dEaD"), big.NewInt(1),
		devchain.TxOpts{Nonce: &n, Tip: big.NewInt(5_000_000_000), FeeCap: big.NewInt(200_000_000_000)})
	if err != nil {
		w.t.Fatal(err)
	}
	w.mine(tx)
	w.chain.Commit()
}

// remine forks from parent: the abandoned block's transfer goes back to the
// pool and is mined again in another block.
func (w *world) remine(parent, tx common.Hash) {
	w.t.Helper()
	if err := w.chain.Fork(parent); err != nil {
		w.t.Fatal(err)
	}
	w.mine(tx)
}

// simTPub is merchant B's watch-only key: BIP 32 test vector 1 as a tpub.
func simTPub(t *testing.T) string {
	t.Helper()
	k, err := hdkeychain.NewKeyFromString("xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8")
	if err != nil {
		t.Fatal(err)
	}
	tk, err := k.CloneWithVersion([]byte{0x04, 0x35, 0x87, 0xcf})
	if err != nil {
		t.Fatal(err)
	}
	return tk.String()
}

// --- the rails ---

// notification is one message as a bank, processor or phone sends it.
type notification struct {
	path        string
	body        []byte
	contentType string
	account     string // signed rails
	secret      string
	keyHeader   string // QRIS: the header that carries the secret
}

// send posts n, signed now when the rail signs.
func (w *world) send(n notification) answer {
	w.t.Helper()
	a, err := w.trySend(n)
	if err != nil {
		w.t.Fatalf("POST %s: %v", n.path, err)
	}
	return a
}

func (w *world) trySend(n notification) (answer, error) {
	if n.keyHeader != "" {
		value := n.secret
		if n.keyHeader == "Authorization" {
			value = "Bearer " + n.secret
		}
		return w.try("POST", n.path, n.body, n.keyHeader, value)
	}
	return w.try("POST", n.path, n.body, "Content-Type", n.contentType,
		"X-Settle-Account", n.account, fiat.SignatureHeader, fiat.Sign([]byte(n.secret), n.body, time.Now()))
}

// sendAll posts n k times at once.
func (w *world) sendAll(n notification, k int) []answer {
	w.t.Helper()
	out := make([]answer, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() { out[i], errs[i] = w.trySend(n) }) // no Fatal off the test's goroutine
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		w.t.Fatalf("POST %s: %v", n.path, err)
	}
	return out
}
