package devchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/beacon"
	"github.com/ethereum/go-ethereum/consensus/ethash"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/txpool/legacypool"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/gasprice"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/miner"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/settlepay/settle/chains/devchain/token"
)

// ChainID is the devnet's chain id, the one go-ethereum's simulated chain
// always has (params.AllDevChainProtocolChanges).
const ChainID = 1337

// walletKeyHex is the first account of the Hardhat/Anvil/Foundry test
// mnemonic ("test test … junk"), chosen because wallets and developers
// already know it as a throwaway key.
const walletKeyHex = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

// WalletKey returns the devnet wallet's private key, a fresh copy per call.
//
// THIS KEY IS PUBLIC. It is the first account of the well-known Hardhat and
// Anvil test mnemonic, printed in their documentation; bots sweep anything
// sent to its address on a real network within seconds. It exists only so
// that a devnet has a payor: at genesis it holds [WalletETH], and it deploys
// the token and so holds its whole [TokenSupply]. Never use it, or an
// address derived from it, outside a devnet or a test.
func WalletKey() *ecdsa.PrivateKey {
	k, err := crypto.HexToECDSA(walletKeyHex)
	if err != nil {
		panic("devchain: wallet key: " + err.Error())
	}
	return k
}

// WalletAddress is the address of [WalletKey],
// 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266.
var WalletAddress = crypto.PubkeyToAddress(WalletKey().PublicKey)

// TokenAddress is where [Start] deploys the token: the wallet's first
// contract (nonce 0), so it is the same on every devnet,
// 0x5FbDB2315678afecb367f032d93F642f64180aa3.
var TokenAddress = crypto.CreateAddress(WalletAddress, 0)

var (
	// WalletETH is the wallet's balance at genesis, in wei: 10,000 ETH.
	WalletETH = new(big.Int).Mul(big.NewInt(10_000), big.NewInt(params.Ether))
	// TokenSupply is the token's whole supply in base units, minted to the
	// wallet when Start deploys it: 1,000,000,000 USDC.
	TokenSupply = new(big.Int).Mul(big.NewInt(1_000_000_000), big.NewInt(1_000_000))
)

// ErrClosed is returned by [Chain.Fork] after [Chain.Close].
var ErrClosed = errors.New("devchain: chain closed")

// Config says how to run a devnet. The zero value is an in-process chain
// that mines only on Commit.
type Config struct {
	// RPCAddr is the host:port to serve JSON-RPC on, HTTP and WebSocket on
	// the same port. Port 0 picks a free one; HTTPURL and WSURL report it.
	// Keep the host on loopback: the wallet key is public and the chain
	// answers any origin. Empty serves nothing (Client still works).
	RPCAddr string
	// BlockTime, when positive, mines a block every BlockTime, empty or not.
	// Zero mines only on Commit. Block timestamps are whole seconds and
	// strictly increasing, so a BlockTime under a second makes block time
	// run ahead of the wall clock by a second per block.
	BlockTime time.Duration
}

func (c Config) validate() error {
	if c.BlockTime < 0 {
		return fmt.Errorf("block_time: must not be negative, got %s", c.BlockTime)
	}
	if c.RPCAddr != "" {
		if _, _, err := splitAddr(c.RPCAddr); err != nil {
			return err
		}
	}
	return nil
}

func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("rpc_addr: want host:port such as 127.0.0.1:0, got %q", addr)
	}
	port, err := strconv.Atoi(p)
	if host == "" || err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("rpc_addr: want host:port such as 127.0.0.1:0, got %q", addr)
	}
	return host, port, nil
}

// Chain is a running devnet. Its methods are safe for concurrent use.
type Chain struct {
	chain  *core.BlockChain
	pool   *txpool.TxPool
	miner  *miner.Miner
	gpo    *gasprice.Oracle
	rpc    *rpc.Server
	client *ethclient.Client
	http   *http.Server // nil without RPCAddr

	httpURL string
	wsURL   string

	// mu serialises block production (Commit, Fork, the BlockTime miner)
	// and guards lastTime.
	mu       sync.Mutex
	closed   bool
	lastTime uint64 // timestamp of the last block sealed

	fundMu sync.Mutex // one Fund at a time, so wallet nonces do not collide

	stop      chan struct{} // closed by Close to end the miner and subscriptions
	minerDone chan struct{} // closed by the miner when it returns; nil without one
	closeOnce sync.Once
	closeErr  error
}

// gasCeil is the block gas limit, go-ethereum's default miner gas ceiling
// (ethconfig.Defaults.Miner.GasCeil, which the simulated backend uses).
const gasCeil = 60_000_000

// minerTip is the smallest tip the miner takes and the gas price oracle's
// starting suggestion, as in go-ethereum's defaults (Miner.GasPrice).
var minerTip = big.NewInt(params.GWei / 1000)

// Start runs a new devnet: genesis with the wallet funded, the RPC servers
// if cfg asks for them, the token deployed from the wallet in block 1, and
// the BlockTime miner. The chain is ready to use when Start returns; Close
// stops it.
//
// The chain is the one go-ethereum's simulated backend runs (same genesis,
// fork rules, consensus and block building) assembled from its core parts,
// without the p2p node: see the package documentation.
func Start(cfg Config) (*Chain, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("devchain: %w", err)
	}
	alloc := core.SystemContractAllocs()
	maps.Copy(alloc, types.GenesisAlloc{WalletAddress: {Balance: WalletETH}})
	genesis := &core.Genesis{
		Config:   params.AllDevChainProtocolChanges,
		GasLimit: gasCeil,
		Alloc:    alloc,
	}
	// Archive mode keeps every block's state (a devnet's is tiny), so a call
	// at any block and a Fork to any depth find theirs.
	bcConf := core.DefaultConfig().WithArchive(true)
	bcConf.TxLookupLimit = 0 // look up every transaction by hash
	bc, err := core.NewBlockChain(rawdb.NewMemoryDatabase(), genesis, beacon.New(ethash.NewFaker()), bcConf)
	if err != nil {
		return nil, fmt.Errorf("devchain: blockchain: %w", err)
	}
	poolConf := legacypool.DefaultConfig
	poolConf.NoLocals = true
	poolConf.Journal = ""
	legacy := legacypool.New(poolConf, bc)
	pool, err := txpool.New(poolConf.PriceLimit, bc, []txpool.SubPool{legacy})
	if err != nil {
		bc.Stop()
		return nil, fmt.Errorf("devchain: txpool: %w", err)
	}
	// As the simulated beacon starts: genesis is head, safe and finalized.
	gen := bc.CurrentBlock()
	bc.SetFinalized(gen)
	bc.SetSafe(gen)

	c := &Chain{
		chain:    bc,
		pool:     pool,
		lastTime: gen.Time,
		stop:     make(chan struct{}),
	}
	minerConf := miner.DefaultConfig
	minerConf.GasCeil = gasCeil
	minerConf.GasPrice = minerTip
	// The miner stops filling a block when Recommit (2 s by default) has
	// passed since it began, and seals what it has. A devnet block is built
	// on demand from what was sent before Commit, so on a starved machine
	// too it is never cut short.
	minerConf.Recommit = time.Hour
	c.miner = miner.New(backend{c}, minerConf, bc.Engine())
	c.gpo = gasprice.NewOracle(oracleBackend{c}, gasprice.Config{
		Blocks:           20,
		Percentile:       60,
		MaxHeaderHistory: 1024,
		MaxBlockHistory:  1024,
		MaxPrice:         gasprice.DefaultMaxPrice,
		IgnorePrice:      gasprice.DefaultIgnorePrice,
	}, minerTip)
	if c.rpc, err = newRPCServer(c); err != nil {
		c.shutdown()
		return nil, fmt.Errorf("devchain: rpc: %w", err)
	}
	c.client = ethclient.NewClient(rpc.DialInProc(c.rpc))
	if cfg.RPCAddr != "" {
		if err := c.serve(cfg.RPCAddr); err != nil {
			c.shutdown()
			return nil, fmt.Errorf("devchain: rpc: %w", err)
		}
	}
	if err := c.deploy(); err != nil {
		c.Close()
		return nil, fmt.Errorf("devchain: deploy token: %w", err)
	}
	if cfg.BlockTime > 0 {
		c.minerDone = make(chan struct{})
		go c.mine(cfg.BlockTime)
	}
	return c, nil
}

// backend is what go-ethereum's miner needs of the chain.
type backend struct{ c *Chain }

func (b backend) BlockChain() *core.BlockChain { return b.c.chain }
func (b backend) TxPool() *txpool.TxPool       { return b.c.pool }

// deploy creates the token from the wallet at nonce 0, minting TokenSupply
// to it, and mines it.
func (c *Chain) deploy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args, err := token.ABI.Pack("", TokenSupply)
	if err != nil {
		return err
	}
	nonce := uint64(0)
	tx, err := send(ctx, c.client, WalletKey(), nil, nil, append(token.Bytecode(), args...), TxOpts{Nonce: &nonce})
	if err != nil {
		return err
	}
	c.Commit()
	rcpt, err := WaitMined(ctx, c.client, tx.Hash())
	if err != nil {
		return err
	}
	if rcpt.ContractAddress != TokenAddress {
		return fmt.Errorf("deployed at %s, want %s", rcpt.ContractAddress, TokenAddress)
	}
	return nil
}

func (c *Chain) mine(every time.Duration) {
	defer close(c.minerDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.Commit()
		}
	}
}

// HTTPURL is the HTTP JSON-RPC endpoint, such as http://127.0.0.1:43817, or
// "" when Config.RPCAddr was empty.
func (c *Chain) HTTPURL() string { return c.httpURL }

// WSURL is the WebSocket JSON-RPC endpoint (eth_subscribe newHeads and logs),
// such as ws://127.0.0.1:43817, or "" when Config.RPCAddr was empty.
func (c *Chain) WSURL() string { return c.wsURL }

// Token is the address of the devnet token, always [TokenAddress].
func (c *Chain) Token() common.Address { return TokenAddress }

// Client is an in-process client of the chain's JSON-RPC, with
// subscriptions. It is closed by Close.
func (c *Chain) Client() *ethclient.Client { return c.client }

// Commit mines a block now with whatever the pool holds and returns the new
// head's hash. After Close it does nothing and returns the zero hash.
//
// The "finalized" tag follows the simulated beacon's 32-block epochs: it
// names block 0 until block 32 is mined, then 32 until 64, and so on; "safe"
// is the head.
func (c *Chain) Commit() common.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return common.Hash{}
	}
	if err := c.seal(uint64(time.Now().Unix())); err != nil {
		log.Warn("devchain: sealing a block failed", "err", err)
	}
	c.syncPool()
	return c.chain.CurrentBlock().Hash()
}

// Fork makes the block parent the head, leaving the blocks after it off
// the canonical chain (subscribers see their logs as removed), so that the
// next Commit builds a competing branch. The pool must be empty: mine or
// drop pending transactions first. Safe becomes parent, and finalized the
// last 32-block boundary at or below it.
//
// The transactions of the abandoned blocks go back to the pool and the next
// Commit mines them again. To make one disappear, send a replacement with
// the same nonce and fees at least 10% higher ([TransferWith]) before
// committing.
func (c *Chain) Fork(parent common.Hash) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if err := c.fork(parent); err != nil {
		return fmt.Errorf("devchain: fork at %s: %w", parent, err)
	}
	c.syncPool()
	return nil
}

// syncPool brings the transaction pool up to the new head before Commit or
// Fork returns; otherwise a transaction sent right after a Fork is checked
// against the abandoned head's state ("nonce too low"). The head event is
// already queued for the pool, but one Sync may be served before it, so
// the second is the one that counts.
func (c *Chain) syncPool() {
	c.pool.Sync()
	c.pool.Sync()
}

// Fund sends wei (for gas) and amount base units of the token from the
// wallet to addr, mines them and waits for both receipts. A nil or zero
// value sends nothing of that kind. Fund works out the wallet's nonces
// itself, so other senders from the wallet should not race it.
func (c *Chain) Fund(ctx context.Context, addr common.Address, wei, amount *big.Int) error {
	c.fundMu.Lock()
	defer c.fundMu.Unlock()
	key := WalletKey()
	nonce, err := c.client.PendingNonceAt(ctx, WalletAddress)
	if err != nil {
		return fmt.Errorf("fund %s: nonce: %w", addr, err)
	}
	var hashes []common.Hash
	if wei != nil && wei.Sign() > 0 {
		n := nonce
		tx, err := send(ctx, c.client, key, &addr, wei, nil, TxOpts{Nonce: &n})
		if err != nil {
			return fmt.Errorf("fund %s: eth: %w", addr, err)
		}
		hashes = append(hashes, tx.Hash())
		nonce++
	}
	if amount != nil && amount.Sign() > 0 {
		n := nonce
		h, err := TransferWith(ctx, c.client, key, TokenAddress, addr, amount, TxOpts{Nonce: &n})
		if err != nil {
			return fmt.Errorf("fund %s: token: %w", addr, err)
		}
		hashes = append(hashes, h)
	}
	if len(hashes) == 0 {
		return nil
	}
	c.Commit()
	for _, h := range hashes {
		if _, err := WaitMined(ctx, c.client, h); err != nil {
			return fmt.Errorf("fund %s: tx %s: %w", addr, h, err)
		}
	}
	return nil
}

// Close stops the miner, the RPC servers and the chain, whose state is
// gone. It is safe to call more than once.
func (c *Chain) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		if c.minerDone != nil {
			<-c.minerDone
		}
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.client.Close()
		c.closeErr = c.shutdown()
	})
	return c.closeErr
}

// shutdown stops what Start started, in reverse order.
func (c *Chain) shutdown() error {
	var err error
	if c.http != nil {
		err = c.http.Close()
	}
	if c.rpc != nil {
		c.rpc.Stop()
	}
	err = errors.Join(err, c.pool.Close())
	c.chain.Stop()
	return err
}
