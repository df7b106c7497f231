package devchain_test

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/chains/devchain"
	"github.com/settlepay/settle/chains/devchain/token"
)

var (
	merchant = common.HexToAddress("0x00000000000000000000000000000000000000aa")
	other    = common.HexToAddress("0x00000000000000000000000000000000000000bb")
)

// start runs a devnet for the test and closes it when the test ends.
func start(t *testing.T, cfg devchain.Config) *devchain.Chain {
	t.Helper()
	c, err := devchain.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// dial connects ethclient to url and closes it when the test ends.
func dial(t *testing.T, url string) *ethclient.Client {
	t.Helper()
	ec, err := ethclient.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ec.Close)
	return ec
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// call makes an eth_call of a no-argument token method and returns its one result.
func call(t *testing.T, ctx context.Context, c ethereum.ContractCaller, tok common.Address, method string) any {
	t.Helper()
	data, err := token.ABI.Pack(method)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &tok, Data: data}, nil)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	vals, err := token.ABI.Unpack(method, out)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return vals[0]
}

// transferLogs returns the token's Transfer logs to addr, from genesis.
func transferLogs(t *testing.T, ctx context.Context, c ethereum.LogFilterer, tok, to common.Address) []types.Log {
	t.Helper()
	logs, err := c.FilterLogs(ctx, ethereum.FilterQuery{
		FromBlock: big.NewInt(0),
		Addresses: []common.Address{tok},
		Topics:    [][]common.Hash{{token.TransferEvent}, nil, {common.BytesToHash(to.Bytes())}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{RPCAddr: "127.0.0.1:0"})
	ctx := testContext(t)
	if !strings.HasPrefix(c.HTTPURL(), "http://127.0.0.1:") || strings.HasSuffix(c.HTTPURL(), ":0") {
		t.Fatalf("HTTPURL = %q, want http://127.0.0.1:<port>", c.HTTPURL())
	}
	ec := dial(t, c.HTTPURL())

	id, err := ec.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.Int64() != devchain.ChainID {
		t.Fatalf("chain id %s, want %d", id, devchain.ChainID)
	}
	if c.Token() != devchain.TokenAddress {
		t.Fatalf("token at %s, want %s", c.Token(), devchain.TokenAddress)
	}
	if code, err := ec.CodeAt(ctx, c.Token(), nil); err != nil || len(code) == 0 {
		t.Fatalf("token code: %d bytes, %v", len(code), err)
	}
	if got := call(t, ctx, ec, c.Token(), "decimals"); got != uint8(token.Decimals) {
		t.Errorf("decimals = %v, want %d", got, token.Decimals)
	}
	if got := call(t, ctx, ec, c.Token(), "symbol"); got != token.Symbol {
		t.Errorf("symbol = %v, want %s", got, token.Symbol)
	}
	if got := call(t, ctx, ec, c.Token(), "name"); got != token.Name {
		t.Errorf("name = %v, want %s", got, token.Name)
	}
	if got, err := devchain.BalanceOf(ctx, ec, c.Token(), devchain.WalletAddress); err != nil || got.Cmp(devchain.TokenSupply) != 0 {
		t.Fatalf("wallet balance = %v, %v; want %s", got, err, devchain.TokenSupply)
	}

	amount := big.NewInt(25_000_000) // 25.00 USDC
	hash, err := devchain.Transfer(ctx, ec, devchain.WalletKey(), c.Token(), merchant, amount)
	if err != nil {
		t.Fatal(err)
	}
	c.Commit()
	rcpt, err := devchain.WaitMined(ctx, ec, hash)
	if err != nil {
		t.Fatal(err)
	}

	logs := transferLogs(t, ctx, ec, c.Token(), merchant)
	if len(logs) != 1 {
		t.Fatalf("got %d Transfer logs to the merchant, want 1", len(logs))
	}
	l := logs[0]
	from := common.BytesToAddress(l.Topics[1].Bytes())
	if l.TxHash != hash || l.BlockNumber != rcpt.BlockNumber.Uint64() || from != devchain.WalletAddress || new(big.Int).SetBytes(l.Data).Cmp(amount) != 0 {
		t.Fatalf("unexpected log %+v", l)
	}
	if got, err := devchain.BalanceOf(ctx, ec, c.Token(), merchant); err != nil || got.Cmp(amount) != 0 {
		t.Fatalf("merchant balance = %v, %v; want %s", got, err, amount)
	}
}

func TestFinalizedTag(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{RPCAddr: "127.0.0.1:0"})
	ctx := testContext(t)
	ec := dial(t, c.HTTPURL())

	finalized := func() uint64 {
		t.Helper()
		h, err := ec.HeaderByNumber(ctx, big.NewInt(int64(rpc.FinalizedBlockNumber)))
		if err != nil {
			t.Fatal(err)
		}
		return h.Number.Uint64()
	}
	if got := finalized(); got != 0 {
		t.Fatalf("finalized at block 1 = %d, want 0", got)
	}
	for range 32 {
		c.Commit()
	}
	if got := finalized(); got != 32 {
		t.Fatalf("finalized at block 33 = %d, want 32", got)
	}
}

func TestWebSocket(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{RPCAddr: "127.0.0.1:0"})
	ctx := testContext(t)
	if !strings.HasPrefix(c.WSURL(), "ws://127.0.0.1:") {
		t.Fatalf("WSURL = %q, want ws://127.0.0.1:<port>", c.WSURL())
	}
	ws := dial(t, c.WSURL())

	heads := make(chan *types.Header, 4)
	hsub, err := ws.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatal(err)
	}
	defer hsub.Unsubscribe()
	logs := make(chan types.Log, 4)
	lsub, err := ws.SubscribeFilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{c.Token()}}, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer lsub.Unsubscribe()

	hash, err := devchain.Transfer(ctx, ws, devchain.WalletKey(), c.Token(), merchant, big.NewInt(3))
	if err != nil {
		t.Fatal(err)
	}
	head := c.Commit()
	select {
	case h := <-heads:
		if h.Hash() != head {
			t.Fatalf("new head %s, want the committed %s", h.Hash(), head)
		}
	case err := <-hsub.Err():
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no new head")
	}
	select {
	case l := <-logs:
		if l.TxHash != hash || l.BlockHash != head || l.Removed {
			t.Fatalf("unexpected log %+v", l)
		}
	case err := <-lsub.Err():
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no log")
	}
}

func TestBlockTime(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{BlockTime: 100 * time.Millisecond})
	ctx := testContext(t)
	cl := c.Client()
	for {
		n, err := cl.BlockNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n >= 3 { // block 1 is the token; 2 and 3 came on their own
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("head stuck at %d", n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestForkReplacesTransfer reorganises a transfer away: fork below its
// block, send a same-nonce replacement with a higher tip, mine past the old
// head. Without the replacement the pool would mine the transfer again.
func TestForkReplacesTransfer(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{})
	ctx := testContext(t)
	cl := c.Client()

	logs := make(chan types.Log, 8)
	sub, err := cl.SubscribeFilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{c.Token()}}, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	parent, err := cl.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := devchain.Transfer(ctx, cl, devchain.WalletKey(), c.Token(), merchant, big.NewInt(7))
	if err != nil {
		t.Fatal(err)
	}
	c.Commit()
	if _, err := devchain.WaitMined(ctx, cl, hash); err != nil {
		t.Fatal(err)
	}
	// Wait for the subscriber to see the transfer: log events travel
	// asynchronously, and a removal sent right after could overtake it.
	if l := nextLog(t, ctx, logs, sub, hash); l.Removed {
		t.Fatalf("transfer log removed before it was added: %+v", l)
	}
	tx, _, err := cl.TransactionByHash(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}

	if err := c.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	nonce := tx.Nonce()
	replacement, err := devchain.TransferWith(ctx, cl, devchain.WalletKey(), c.Token(), other, big.NewInt(1), devchain.TxOpts{
		Nonce:  &nonce,
		Tip:    new(big.Int).Mul(tx.GasTipCap(), big.NewInt(2)),
		FeeCap: new(big.Int).Mul(tx.GasFeeCap(), big.NewInt(2)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Commit()
	c.Commit()

	if _, err := devchain.WaitMined(ctx, cl, replacement); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.TransactionReceipt(ctx, hash); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("receipt of the replaced transfer: %v, want not found", err)
	}
	if got := transferLogs(t, ctx, cl, c.Token(), merchant); len(got) != 0 {
		t.Fatalf("replaced transfer still logged: %+v", got)
	}
	if got, err := devchain.BalanceOf(ctx, cl, c.Token(), merchant); err != nil || got.Sign() != 0 {
		t.Fatalf("merchant balance = %v, %v; want 0", got, err)
	}

	// After the transfer, the subscriber sees it removed and the replacement
	// added, in either order, and never the transfer again.
	var removed, added bool
	for !removed || !added {
		l := nextLog(t, ctx, logs, sub, hash, replacement)
		switch {
		case l.TxHash == hash && !l.Removed:
			t.Fatalf("the replaced transfer logged again: %+v", l)
		case l.TxHash == hash:
			removed = true
		case l.TxHash == replacement && !l.Removed:
			added = true
		default:
			t.Fatalf("unexpected log %+v", l)
		}
	}
}

// nextLog returns the next log of one of txs, skipping others: Fork
// delivers the fork point's own logs again (here the mint in block 1), and
// a fresh subscription may still get the logs of the block before it.
func nextLog(t *testing.T, ctx context.Context, logs <-chan types.Log, sub ethereum.Subscription, txs ...common.Hash) types.Log {
	t.Helper()
	for {
		select {
		case l := <-logs:
			if slices.Contains(txs, l.TxHash) {
				return l
			}
		case err := <-sub.Err():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("no log of %v", txs)
		}
	}
}

func TestFund(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{})
	ctx := testContext(t)
	cl := c.Client()
	payor := common.HexToAddress("0x00000000000000000000000000000000000000cc")
	wei, amount := big.NewInt(params.Ether), big.NewInt(100_000_000)
	if err := c.Fund(ctx, payor, wei, amount); err != nil {
		t.Fatal(err)
	}
	if got, err := cl.BalanceAt(ctx, payor, nil); err != nil || got.Cmp(wei) != 0 {
		t.Fatalf("ETH balance = %v, %v; want %s", got, err, wei)
	}
	if got, err := devchain.BalanceOf(ctx, cl, c.Token(), payor); err != nil || got.Cmp(amount) != 0 {
		t.Fatalf("token balance = %v, %v; want %s", got, err, amount)
	}
}

func TestTransferRevertsEarly(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{})
	ctx := testContext(t)
	tooMuch := new(big.Int).Add(devchain.TokenSupply, big.NewInt(1))
	if _, err := devchain.Transfer(ctx, c.Client(), devchain.WalletKey(), c.Token(), merchant, tooMuch); err == nil {
		t.Fatal("transfer of more than the supply was sent")
	}
}

func TestInProcessOnly(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{})
	if c.HTTPURL() != "" || c.WSURL() != "" {
		t.Fatalf("URLs %q %q, want none", c.HTTPURL(), c.WSURL())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if h := c.Commit(); h != (common.Hash{}) {
		t.Fatalf("Commit after Close = %s, want zero", h)
	}
	if err := c.Fork(common.Hash{}); !errors.Is(err, devchain.ErrClosed) {
		t.Fatalf("Fork after Close: %v, want ErrClosed", err)
	}
}

// TestWellKnownAddresses pins the addresses the docs and wallets quote.
func TestWellKnownAddresses(t *testing.T) {
	t.Parallel()
	if got, want := devchain.WalletAddress, common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"); got != want {
		t.Errorf("WalletAddress = %s, want %s", got, want)
	}
	if got, want := devchain.TokenAddress, common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3"); got != want {
		t.Errorf("TokenAddress = %s, want %s", got, want)
	}
	// The catalogue's usdc_devnet preset points at the same contract.
	if m, _ := chains.MethodByID("usdc_devnet"); m.Token != devchain.TokenAddress.Hex() {
		t.Errorf("usdc_devnet token %s, devnet deploys to %s", m.Token, devchain.TokenAddress.Hex())
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  devchain.Config
		want string
	}{
		{"negative block time", devchain.Config{BlockTime: -time.Second}, "block_time"},
		{"no port", devchain.Config{RPCAddr: "127.0.0.1"}, "rpc_addr"},
		{"no host", devchain.Config{RPCAddr: ":0"}, "rpc_addr"},
		{"bad port", devchain.Config{RPCAddr: "127.0.0.1:http"}, "rpc_addr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := devchain.Start(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, want an error about %s", err, tc.want)
			}
		})
	}
}

// rawCall makes a JSON-RPC call over HTTP and returns its result as JSON
// values, to check the shapes wallets and ethclient read.
func rawCall(t *testing.T, ctx context.Context, url, method string, params ...any) any {
	t.Helper()
	c, err := rpc.DialContext(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out any
	if err := c.CallContext(ctx, &out, method, params...); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return out
}

// TestForkRemovesLogsOverWebSocket checks that a logs subscriber over
// WebSocket sees a transfer's log again, marked removed, when a Fork takes
// its block off the chain, and that eth_getLogs and the receipt forget it.
func TestForkRemovesLogsOverWebSocket(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{RPCAddr: "127.0.0.1:0"})
	ctx := testContext(t)
	ws := dial(t, c.WSURL())
	logs := make(chan types.Log, 8)
	sub, err := ws.SubscribeFilterLogs(ctx, ethereum.FilterQuery{
		Addresses: []common.Address{c.Token()},
		Topics:    [][]common.Hash{{token.TransferEvent}},
	}, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	parent, err := ws.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := devchain.Transfer(ctx, ws, devchain.WalletKey(), c.Token(), merchant, big.NewInt(5))
	if err != nil {
		t.Fatal(err)
	}
	mined := c.Commit()
	added := nextLog(t, ctx, logs, sub, hash)
	if added.Removed || added.BlockHash != mined {
		t.Fatalf("added log %+v, want one in block %s", added, mined)
	}
	if err := c.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	removed := nextLog(t, ctx, logs, sub, hash)
	if !removed.Removed || removed.BlockHash != mined || removed.Index != added.Index {
		t.Fatalf("after the fork got %+v, want the log of block %s removed", removed, mined)
	}
	if got := transferLogs(t, ctx, ws, c.Token(), merchant); len(got) != 0 {
		t.Fatalf("eth_getLogs still has the forked-away transfer: %+v", got)
	}
	if _, err := ws.TransactionReceipt(ctx, hash); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("receipt after the fork: %v, want not found", err)
	}
	// The block itself is still known by hash, off the canonical chain.
	if got, err := ws.FilterLogs(ctx, ethereum.FilterQuery{BlockHash: &mined}); err != nil || len(got) != 1 || got[0].TxHash != hash {
		t.Fatalf("logs of the forked-away block by hash: %+v, %v", got, err)
	}
}

// TestCallAtBlock reads balanceOf by eth_call at the head and at a block
// before a transfer: every block's state is kept.
func TestCallAtBlock(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{})
	ctx := testContext(t)
	cl := c.Client()
	before, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Fund(ctx, merchant, nil, big.NewInt(42)); err != nil {
		t.Fatal(err)
	}
	data, err := token.ABI.Pack("balanceOf", merchant)
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Token()
	for _, tc := range []struct {
		block *big.Int
		want  int64
	}{{new(big.Int).SetUint64(before), 0}, {nil, 42}} {
		out, err := cl.CallContract(ctx, ethereum.CallMsg{To: &tok, Data: data}, tc.block)
		if err != nil {
			t.Fatal(err)
		}
		if got := new(big.Int).SetBytes(out); got.Int64() != tc.want {
			t.Errorf("balanceOf at block %v = %s, want %d", tc.block, got, tc.want)
		}
	}
}

// TestEstimateGas checks that an estimate is enough to mine the transfer,
// and that a transfer that would revert is refused with the contract's
// reason.
func TestEstimateGas(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{})
	ctx := testContext(t)
	cl := c.Client()
	tok := c.Token()
	data, err := token.ABI.Pack("transfer", merchant, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	gas, err := cl.EstimateGas(ctx, ethereum.CallMsg{From: devchain.WalletAddress, To: &tok, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if gas <= params.TxGas {
		t.Fatalf("estimate %d for a token transfer", gas)
	}
	tip, err := cl.SuggestGasTipCap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := cl.PendingNonceAt(ctx, devchain.WalletAddress)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := types.SignNewTx(devchain.WalletKey(), types.LatestSignerForChainID(big.NewInt(devchain.ChainID)), &types.DynamicFeeTx{
		ChainID: big.NewInt(devchain.ChainID), Nonce: nonce, GasTipCap: tip, GasFeeCap: big.NewInt(params.GWei * 10),
		Gas: gas, To: &tok, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	c.Commit()
	rcpt, err := devchain.WaitMined(ctx, cl, tx.Hash())
	if err != nil {
		t.Fatalf("transfer with the estimated %d gas: %v", gas, err)
	}
	if rcpt.GasUsed > gas {
		t.Fatalf("used %d gas, estimated %d", rcpt.GasUsed, gas)
	}

	tooMuch, err := token.ABI.Pack("transfer", devchain.WalletAddress, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.EstimateGas(ctx, ethereum.CallMsg{From: other, To: &tok, Data: tooMuch})
	var de rpc.DataError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "execution reverted: balance") {
		t.Fatalf("estimate of a transfer without balance: %v, want a revert with the reason", err)
	}
}

// TestRPCShapes checks the JSON of the calls wallets and ethclient make
// beyond the typed ones above: namespaces, tags, pending counts, full
// blocks, receipts and fee history.
func TestRPCShapes(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{RPCAddr: "127.0.0.1:0"})
	ctx := testContext(t)
	url := c.HTTPURL()
	ec := dial(t, url)

	if got := rawCall(t, ctx, url, "net_version"); got != "1337" {
		t.Errorf("net_version = %v", got)
	}
	if got, _ := rawCall(t, ctx, url, "web3_clientVersion").(string); !strings.Contains(got, "go-ethereum") {
		t.Errorf("web3_clientVersion = %q", got)
	}
	for _, tag := range []string{"earliest", "latest", "safe", "finalized", "pending"} {
		if b, ok := rawCall(t, ctx, url, "eth_getBlockByNumber", tag, false).(map[string]any); !ok || b["number"] == nil {
			t.Errorf("block %s: %v", tag, b)
		}
	}

	hash, err := devchain.Transfer(ctx, ec, devchain.WalletKey(), c.Token(), merchant, big.NewInt(9))
	if err != nil {
		t.Fatal(err)
	}
	// Sent, not mined: the pending nonce counts it once the pool has
	// promoted it (in the background), the latest does not.
	for rawCall(t, ctx, url, "eth_getTransactionCount", devchain.WalletAddress, "pending") != "0x2" {
		select {
		case <-ctx.Done():
			t.Fatalf("pending nonce %v never counted the sent transfer", rawCall(t, t.Context(), url, "eth_getTransactionCount", devchain.WalletAddress, "pending"))
		case <-time.After(10 * time.Millisecond):
		}
	}
	if latest := rawCall(t, ctx, url, "eth_getTransactionCount", devchain.WalletAddress, "latest"); latest != "0x1" {
		t.Errorf("latest nonce %v, want 0x1", latest)
	}
	if tx, ok := rawCall(t, ctx, url, "eth_getTransactionByHash", hash).(map[string]any); !ok || tx["blockHash"] != nil || tx["from"] == nil {
		t.Errorf("pending transaction %v", tx)
	}
	head := c.Commit()

	block, _ := rawCall(t, ctx, url, "eth_getBlockByNumber", "latest", true).(map[string]any)
	if block["hash"] != strings.ToLower(head.Hex()) {
		t.Errorf("latest block hash %v, want %s", block["hash"], head)
	}
	txs, _ := block["transactions"].([]any)
	if len(txs) != 1 {
		t.Fatalf("latest block transactions %v", block["transactions"])
	}
	tx := txs[0].(map[string]any)
	if tx["hash"] != strings.ToLower(hash.Hex()) || tx["blockHash"] != block["hash"] || !strings.EqualFold(tx["from"].(string), devchain.WalletAddress.Hex()) || tx["transactionIndex"] != "0x0" {
		t.Errorf("transaction in block %v", tx)
	}
	if u, ok := block["uncles"].([]any); !ok || len(u) != 0 {
		t.Errorf("uncles %v", block["uncles"])
	}
	if w, ok := block["withdrawals"].([]any); !ok || len(w) != 0 {
		t.Errorf("withdrawals %v", block["withdrawals"])
	}
	if got, err := ec.BlockByHash(ctx, head); err != nil || got.Hash() != head || len(got.Transactions()) != 1 {
		t.Errorf("ethclient block by hash: %v", err)
	}

	rcpt, _ := rawCall(t, ctx, url, "eth_getTransactionReceipt", hash).(map[string]any)
	if rcpt["blockHash"] != block["hash"] || rcpt["status"] != "0x1" || !strings.EqualFold(rcpt["to"].(string), c.Token().Hex()) ||
		rcpt["from"] == nil || rcpt["effectiveGasPrice"] == nil || rcpt["contractAddress"] != nil || len(rcpt["logs"].([]any)) != 1 {
		t.Errorf("receipt %v", rcpt)
	}

	if tip, ok := rawCall(t, ctx, url, "eth_maxPriorityFeePerGas").(string); !ok || tip == "0x0" {
		t.Errorf("eth_maxPriorityFeePerGas = %v", tip)
	}
	if gp, ok := rawCall(t, ctx, url, "eth_gasPrice").(string); !ok || gp == "0x0" {
		t.Errorf("eth_gasPrice = %v", gp)
	}
	// Blocks 1 (the token) and 2 (the transfer), and the next base fee.
	fh, err := ec.FeeHistory(ctx, 2, nil, []float64{50})
	if err != nil {
		t.Fatal(err)
	}
	if len(fh.BaseFee) != 3 || len(fh.GasUsedRatio) != 2 || len(fh.Reward) != 2 || fh.OldestBlock.Uint64() != 1 || fh.Reward[1][0].Sign() <= 0 {
		t.Errorf("fee history %+v", fh)
	}

	// eth_getLogs: by block hash, by range, and a reversed range refused.
	if got, err := ec.FilterLogs(ctx, ethereum.FilterQuery{BlockHash: &head}); err != nil || len(got) != 1 || got[0].TxHash != hash {
		t.Errorf("logs by block hash: %+v, %v", got, err)
	}
	n := block["number"].(string)
	if got := rawCall(t, ctx, url, "eth_getLogs", map[string]any{"fromBlock": n, "toBlock": n, "address": c.Token()}); len(got.([]any)) != 1 {
		t.Errorf("logs in block %s: %v", n, got)
	}
	if _, err := ec.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(2), ToBlock: big.NewInt(1)}); err == nil {
		t.Error("logs of a reversed range: no error")
	}
	if _, err := ec.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(1), ToBlock: big.NewInt(1000)}); err == nil {
		t.Error("logs of a range past the head: no error")
	}
}

// TestCORS checks that a page of any origin (a wallet, a dapp) may call the
// HTTP endpoint, and that a Host that is no IP nor localhost is refused.
func TestCORS(t *testing.T) {
	t.Parallel()
	c := start(t, devchain.Config{RPCAddr: "127.0.0.1:0"})
	req, err := http.NewRequest(http.MethodOptions, c.HTTPURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "https://wallet.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != "https://wallet.example" {
		t.Errorf("preflight Access-Control-Allow-Origin %q", got)
	}

	body := `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`
	req, err = http.NewRequest(http.MethodPost, c.HTTPURL(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Host = "evil.example"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("Host evil.example: status %d, want 403", resp.StatusCode)
	}
}

// TestCommitMinesEverySent sends transfers back to back from one sender
// (explicit nonces, as a payor's wallet does) and commits at once, on
// several chains at the same time: each block must hold every transfer
// sent before its Commit. Under load the pool used to leave the second of
// two transfers queued (its promotion merged into the reset Commit forces),
// and Commit sealed a block without it.
func TestCommitMinesEverySent(t *testing.T) {
	t.Parallel()
	for c := range 4 {
		t.Run(strconv.Itoa(c), func(t *testing.T) {
			t.Parallel()
			chain := start(t, devchain.Config{})
			ctx := testContext(t)
			nonce, err := chain.Client().PendingNonceAt(ctx, devchain.WalletAddress)
			if err != nil {
				t.Fatal(err)
			}
			for round := range 40 {
				sent := 2 + round%4
				var hashes []common.Hash
				for i := range sent {
					n := nonce
					h, err := devchain.TransferWith(ctx, chain.Client(), devchain.WalletKey(), chain.Token(), merchant,
						big.NewInt(int64(1000+i)), devchain.TxOpts{Nonce: &n})
					if err != nil {
						t.Fatal(err)
					}
					nonce++
					hashes = append(hashes, h)
				}
				head := chain.Commit()
				for _, h := range hashes {
					r, err := chain.Client().TransactionReceipt(ctx, h)
					if err != nil {
						t.Fatalf("round %d: transfer %s of %d sent before Commit was not mined: %v", round, h, sent, err)
					}
					if r.BlockHash != head || r.Status != types.ReceiptStatusSuccessful {
						t.Fatalf("round %d: transfer %s in block %s status %d, want the committed block %s", round, h, r.BlockHash, r.Status, head)
					}
				}
			}
		})
	}
}
