package devchain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/eth/gasestimator"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
)

type hexUint = hexutil.Uint

// gasCap bounds eth_call and eth_estimateGas, go-ethereum's default
// (--rpc.gascap).
const gasCap = 50_000_000

// txFeeCap is the most fee a transaction sent over RPC may offer, in wei,
// go-ethereum's default (--rpc.txfeecap, 1 ether).
var txFeeCap = big.NewInt(params.Ether)

// estimateErrorRatio lets eth_estimateGas stop its binary search within
// 1.5% of the lowest limit, as go-ethereum's does.
const estimateErrorRatio = 0.015

// ethAPI is the eth namespace: what ethclient, settle and wallets use of
// go-ethereum's (internal/ethapi and eth/filters), answered with the same
// JSON shapes.
type ethAPI struct{ c *Chain }

func (a *ethAPI) config() *params.ChainConfig { return a.c.chain.Config() }

// ChainId is the chain id, 1337.
func (a *ethAPI) ChainId() *hexutil.Big { return (*hexutil.Big)(a.config().ChainID) }

// BlockNumber is the head's number.
func (a *ethAPI) BlockNumber() hexutil.Uint64 {
	return hexutil.Uint64(a.c.chain.CurrentBlock().Number.Uint64())
}

// Syncing is false: the devnet is its own source of truth.
func (a *ethAPI) Syncing() bool { return false }

// Accounts is empty: the devnet holds no keys for callers.
func (a *ethAPI) Accounts() []common.Address { return []common.Address{} }

// GasPrice suggests a legacy gas price: the suggested tip plus the head's
// base fee.
func (a *ethAPI) GasPrice(ctx context.Context) (*hexutil.Big, error) {
	tip, err := a.c.gpo.SuggestTipCap(ctx)
	if err != nil {
		return nil, err
	}
	if head := a.c.chain.CurrentBlock(); head.BaseFee != nil {
		tip.Add(tip, head.BaseFee)
	}
	return (*hexutil.Big)(tip), nil
}

// MaxPriorityFeePerGas suggests a tip, from the tips of recent blocks.
func (a *ethAPI) MaxPriorityFeePerGas(ctx context.Context) (*hexutil.Big, error) {
	tip, err := a.c.gpo.SuggestTipCap(ctx)
	if err != nil {
		return nil, err
	}
	return (*hexutil.Big)(tip), nil
}

type feeHistoryResult struct {
	OldestBlock      *hexutil.Big     `json:"oldestBlock"`
	Reward           [][]*hexutil.Big `json:"reward,omitempty"`
	BaseFee          []*hexutil.Big   `json:"baseFeePerGas,omitempty"`
	GasUsedRatio     []float64        `json:"gasUsedRatio"`
	BlobBaseFee      []*hexutil.Big   `json:"baseFeePerBlobGas,omitempty"`
	BlobGasUsedRatio []float64        `json:"blobGasUsedRatio,omitempty"`
}

// FeeHistory is the base fees, gas used ratios and tip percentiles of up to
// blockCount blocks ending at lastBlock, as wallets ask for.
func (a *ethAPI) FeeHistory(ctx context.Context, blockCount hexutil.Uint64, lastBlock rpc.BlockNumber, rewardPercentiles []float64) (*feeHistoryResult, error) {
	oldest, reward, baseFee, gasUsed, blobBaseFee, blobGasUsed, err := a.c.gpo.FeeHistory(ctx, uint64(blockCount), lastBlock, rewardPercentiles)
	if err != nil {
		return nil, err
	}
	big := func(xs []*big.Int) []*hexutil.Big {
		out := make([]*hexutil.Big, len(xs))
		for i, x := range xs {
			out[i] = (*hexutil.Big)(x)
		}
		return out
	}
	res := &feeHistoryResult{OldestBlock: (*hexutil.Big)(oldest), GasUsedRatio: gasUsed}
	if reward != nil {
		res.Reward = make([][]*hexutil.Big, len(reward))
		for i, r := range reward {
			res.Reward[i] = big(r)
		}
	}
	if baseFee != nil {
		res.BaseFee = big(baseFee)
	}
	if blobBaseFee != nil {
		res.BlobBaseFee = big(blobBaseFee)
	}
	if blobGasUsed != nil {
		res.BlobGasUsedRatio = blobGasUsed
	}
	return res, nil
}

// header resolves a block number or tag to a header of the canonical chain
// (pending: the block the miner would build now).
func (a *ethAPI) header(n rpc.BlockNumber) (*types.Header, error) {
	bc := a.c.chain
	var h *types.Header
	switch n {
	case rpc.LatestBlockNumber:
		h = bc.CurrentBlock()
	case rpc.PendingBlockNumber:
		if b, _, _ := a.c.miner.Pending(); b != nil {
			return b.Header(), nil
		}
		h = bc.CurrentBlock()
	case rpc.SafeBlockNumber:
		if h = bc.CurrentSafeBlock(); h == nil {
			return nil, errors.New("safe block not found")
		}
	case rpc.FinalizedBlockNumber:
		if h = bc.CurrentFinalBlock(); h == nil {
			return nil, errors.New("finalized block not found")
		}
	case rpc.EarliestBlockNumber:
		h = bc.GetHeaderByNumber(0)
	default:
		if n < 0 {
			return nil, fmt.Errorf("unsupported block tag %d", n)
		}
		h = bc.GetHeaderByNumber(uint64(n))
	}
	return h, nil
}

// block resolves a block number or tag to a block, nil if there is none.
func (a *ethAPI) block(n rpc.BlockNumber) (*types.Block, error) {
	if n == rpc.PendingBlockNumber {
		if b, _, _ := a.c.miner.Pending(); b != nil {
			return b, nil
		}
	}
	h, err := a.header(n)
	if err != nil || h == nil {
		return nil, err
	}
	return a.c.chain.GetBlock(h.Hash(), h.Number.Uint64()), nil
}

// stateAndHeader is the state after the block named by bnh (latest if
// nil), the pending block's for "pending".
func (a *ethAPI) stateAndHeader(bnh *rpc.BlockNumberOrHash) (*state.StateDB, *types.Header, error) {
	if bnh == nil {
		latest := rpc.BlockNumberOrHashWithNumber(rpc.LatestBlockNumber)
		bnh = &latest
	}
	var h *types.Header
	if n, ok := bnh.Number(); ok {
		if n == rpc.PendingBlockNumber {
			if b, _, st := a.c.miner.Pending(); b != nil && st != nil {
				return st, b.Header(), nil
			}
		}
		var err error
		if h, err = a.header(n); err != nil {
			return nil, nil, err
		}
	} else if hash, ok := bnh.Hash(); ok {
		h = a.c.chain.GetHeaderByHash(hash)
		if h != nil && bnh.RequireCanonical && a.c.chain.GetCanonicalHash(h.Number.Uint64()) != hash {
			return nil, nil, errors.New("hash is not currently canonical")
		}
	}
	if h == nil {
		return nil, nil, errors.New("header not found")
	}
	st, err := a.c.chain.StateAt(h.Root, h.Number, h.Time)
	if err != nil {
		return nil, nil, err
	}
	return st, h, nil
}

// GetBlockByNumber is the block at number or tag, with full transactions
// or their hashes; null if there is none.
func (a *ethAPI) GetBlockByNumber(number rpc.BlockNumber, fullTx bool) (map[string]any, error) {
	b, err := a.block(number)
	if err != nil || b == nil {
		return nil, err
	}
	return a.marshalBlock(b, fullTx)
}

// GetBlockByHash is the block with hash, canonical or not; null if unknown.
func (a *ethAPI) GetBlockByHash(hash common.Hash, fullTx bool) (map[string]any, error) {
	b := a.c.chain.GetBlockByHash(hash)
	if b == nil {
		return nil, nil
	}
	return a.marshalBlock(b, fullTx)
}

// GetBlockTransactionCountByNumber counts the block's transactions.
func (a *ethAPI) GetBlockTransactionCountByNumber(number rpc.BlockNumber) (*hexutil.Uint, error) {
	b, err := a.block(number)
	if err != nil || b == nil {
		return nil, err
	}
	n := hexutil.Uint(len(b.Transactions()))
	return &n, nil
}

// GetTransactionByHash is the canonical transaction with hash, or the
// pool's; null if neither has it.
func (a *ethAPI) GetTransactionByHash(hash common.Hash) (map[string]any, error) {
	if lookup, tx := a.c.chain.GetCanonicalTransaction(hash); tx != nil {
		h := a.c.chain.GetHeaderByHash(lookup.BlockHash)
		if h == nil {
			return nil, nil
		}
		return a.marshalTx(tx, h, lookup.Index)
	}
	if tx := a.c.pool.Get(hash); tx != nil {
		return a.marshalTx(tx, nil, 0)
	}
	return nil, nil
}

// GetTransactionReceipt is the receipt of the canonical transaction with
// hash; null if it is not mined on the canonical chain.
func (a *ethAPI) GetTransactionReceipt(hash common.Hash) (map[string]any, error) {
	lookup, tx := a.c.chain.GetCanonicalTransaction(hash)
	if tx == nil {
		return nil, nil
	}
	rcpt, err := a.c.chain.GetCanonicalReceipt(tx, lookup.BlockHash, lookup.BlockIndex, lookup.Index)
	if err != nil {
		return nil, err
	}
	h := a.c.chain.GetHeaderByHash(lookup.BlockHash)
	if h == nil {
		return nil, nil
	}
	return a.marshalReceipt(rcpt, tx, h)
}

// GetBlockReceipts is the receipts of every transaction of a block.
func (a *ethAPI) GetBlockReceipts(bnh rpc.BlockNumberOrHash) ([]map[string]any, error) {
	var b *types.Block
	if n, ok := bnh.Number(); ok {
		var err error
		if b, err = a.block(n); err != nil {
			return nil, err
		}
	} else if hash, ok := bnh.Hash(); ok {
		b = a.c.chain.GetBlockByHash(hash)
	}
	if b == nil {
		return nil, nil
	}
	rcpts := a.c.chain.GetReceiptsByHash(b.Hash())
	txs := b.Transactions()
	if len(rcpts) != len(txs) {
		return nil, fmt.Errorf("receipts of block %s not found", b.Hash())
	}
	out := make([]map[string]any, len(txs))
	for i, tx := range txs {
		m, err := a.marshalReceipt(rcpts[i], tx, b.Header())
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// SendRawTransaction adds a signed transaction to the pool and returns its
// hash. As go-ethereum's RPC does by default, it takes only replay-protected
// (EIP-155) transactions offering at most 1 ether of fees.
func (a *ethAPI) SendRawTransaction(input hexutil.Bytes) (common.Hash, error) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(input); err != nil {
		return common.Hash{}, err
	}
	if !tx.Protected() {
		return common.Hash{}, errors.New("only replay-protected (EIP-155) transactions allowed over RPC")
	}
	if fee := new(big.Int).Mul(tx.GasFeeCap(), new(big.Int).SetUint64(tx.Gas())); fee.Cmp(txFeeCap) > 0 {
		return common.Hash{}, fmt.Errorf("tx fee (%s wei) exceeds the configured cap (%s wei)", fee, txFeeCap)
	}
	// sync: wait until the pool has promoted the transaction to pending.
	// Otherwise, under load, its promotion can be merged into the reset
	// that Commit's pool.Sync forces, and a reset promotes only from the
	// account's nonce in the head state: a transaction queued behind
	// another pending one from the same sender then stays queued, and the
	// block Commit seals leaves it out (seen as "the second of two
	// transfers sent before Commit is never mined").
	if err := a.c.pool.Add([]*types.Transaction{tx}, true)[0]; err != nil {
		return common.Hash{}, err
	}
	return tx.Hash(), nil
}

// GetTransactionCount is addr's nonce at a block; at "pending" it counts
// the pool's transactions too.
func (a *ethAPI) GetTransactionCount(addr common.Address, bnh rpc.BlockNumberOrHash) (*hexutil.Uint64, error) {
	if n, ok := bnh.Number(); ok && n == rpc.PendingBlockNumber {
		nonce := hexutil.Uint64(a.c.pool.PoolNonce(addr))
		return &nonce, nil
	}
	st, _, err := a.stateAndHeader(&bnh)
	if err != nil {
		return nil, err
	}
	nonce := hexutil.Uint64(st.GetNonce(addr))
	return &nonce, nil
}

// GetBalance is addr's balance in wei at a block.
func (a *ethAPI) GetBalance(addr common.Address, bnh rpc.BlockNumberOrHash) (*hexutil.Big, error) {
	st, _, err := a.stateAndHeader(&bnh)
	if err != nil {
		return nil, err
	}
	return (*hexutil.Big)(st.GetBalance(addr).ToBig()), nil
}

// GetCode is the code at addr at a block.
func (a *ethAPI) GetCode(addr common.Address, bnh rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	st, _, err := a.stateAndHeader(&bnh)
	if err != nil {
		return nil, err
	}
	return st.GetCode(addr), nil
}

// GetStorageAt is the storage slot key of addr at a block.
func (a *ethAPI) GetStorageAt(addr common.Address, key common.Hash, bnh rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	st, _, err := a.stateAndHeader(&bnh)
	if err != nil {
		return nil, err
	}
	v := st.GetState(addr, key)
	return v[:], nil
}

// callArgs are the transaction fields of eth_call and eth_estimateGas.
type callArgs struct {
	From                 *common.Address   `json:"from"`
	To                   *common.Address   `json:"to"`
	Gas                  *hexutil.Uint64   `json:"gas"`
	GasPrice             *hexutil.Big      `json:"gasPrice"`
	MaxFeePerGas         *hexutil.Big      `json:"maxFeePerGas"`
	MaxPriorityFeePerGas *hexutil.Big      `json:"maxPriorityFeePerGas"`
	Value                *hexutil.Big      `json:"value"`
	Nonce                *hexutil.Uint64   `json:"nonce"`
	Data                 *hexutil.Bytes    `json:"data"`
	Input                *hexutil.Bytes    `json:"input"`
	AccessList           *types.AccessList `json:"accessList"`
	ChainID              *hexutil.Big      `json:"chainId"`
}

// message turns args into a message as go-ethereum's TransactionArgs
// CallDefaults and ToMessage do: a missing gas is gas (0: left for the
// estimator), fees default to zero (the call then runs with no base fee).
func (args callArgs) message(gas uint64, baseFee, chainID *big.Int) (*core.Message, error) {
	if args.GasPrice != nil && (args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil) {
		return nil, errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	if args.ChainID != nil && args.ChainID.ToInt().Cmp(chainID) != 0 {
		return nil, fmt.Errorf("chainId does not match node's (have=%v, want=%v)", args.ChainID.ToInt(), chainID)
	}
	if args.Data != nil && args.Input != nil && !bytesEqual(*args.Data, *args.Input) {
		return nil, errors.New(`both "data" and "input" are set and not equal. Please use "input" to pass transaction call data`)
	}
	if args.Gas != nil {
		gas = min(uint64(*args.Gas), gasCap)
	}
	u256 := func(b *hexutil.Big) (*uint256.Int, error) {
		if b == nil {
			return new(uint256.Int), nil
		}
		v, overflow := uint256.FromBig(b.ToInt())
		if overflow {
			return nil, errors.New("value does not fit 256 bits")
		}
		return v, nil
	}
	var gasPrice, feeCap, tip *uint256.Int
	var err error
	if args.GasPrice != nil || baseFee == nil {
		if gasPrice, err = u256(args.GasPrice); err != nil {
			return nil, err
		}
		feeCap, tip = gasPrice, gasPrice
	} else {
		if feeCap, err = u256(args.MaxFeePerGas); err != nil {
			return nil, err
		}
		if tip, err = u256(args.MaxPriorityFeePerGas); err != nil {
			return nil, err
		}
		gasPrice = new(uint256.Int)
		if feeCap.BitLen() > 0 || tip.BitLen() > 0 {
			gasPrice.Add(tip, uint256.MustFromBig(baseFee))
			if gasPrice.Cmp(feeCap) > 0 {
				gasPrice = feeCap
			}
		}
	}
	value, err := u256(args.Value)
	if err != nil {
		return nil, err
	}
	msg := &core.Message{
		To:        args.To,
		Value:     value,
		GasLimit:  gas,
		GasPrice:  gasPrice,
		GasFeeCap: feeCap,
		GasTipCap: tip,
	}
	if args.From != nil {
		msg.From = *args.From
	}
	if args.Nonce != nil {
		msg.Nonce = uint64(*args.Nonce)
	}
	if args.Input != nil {
		msg.Data = *args.Input
	} else if args.Data != nil {
		msg.Data = *args.Data
	}
	if args.AccessList != nil {
		msg.AccessList = *args.AccessList
	}
	return msg.SkipNonceCheck().SkipEOACheck().SkipGasLimitCapCheck(), nil
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// revertError is a call's revert, with its data, as go-ethereum reports it
// (code 3), so that clients can decode the reason.
type revertError struct {
	error
	reason string // hex-encoded revert data
}

func (e *revertError) ErrorCode() int         { return 3 }
func (e *revertError) ErrorData() interface{} { return e.reason }

func newRevertError(revert []byte) *revertError {
	err := vm.ErrExecutionReverted
	if reason, errUnpack := abi.UnpackRevert(revert); errUnpack == nil {
		err = fmt.Errorf("%w: %v", vm.ErrExecutionReverted, reason)
	}
	return &revertError{error: err, reason: hexutil.Encode(revert)}
}

// Call runs a message on a copy of the state after a block (latest by
// default) and returns its output; nothing is kept.
func (a *ethAPI) Call(ctx context.Context, args callArgs, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	st, h, err := a.stateAndHeader(bnh)
	if err != nil {
		return nil, err
	}
	msg, err := args.message(gasCap, h.BaseFee, a.config().ChainID)
	if err != nil {
		return nil, err
	}
	blockCtx := core.NewEVMBlockContext(h, a.c.chain, nil)
	if msg.GasPrice.Sign() == 0 {
		blockCtx.BaseFee = new(big.Int) // a call that pays nothing runs without a base fee
	}
	evm := vm.NewEVM(blockCtx, st, a.config(), vm.Config{NoBaseFee: true})
	defer evm.Release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		evm.Cancel()
	}()
	res, err := core.ApplyMessage(evm, msg, core.NewGasPool(gasCap))
	if err := st.Error(); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("err: %w (supplied gas %d)", err, msg.GasLimit)
	}
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		return nil, newRevertError(res.Revert())
	}
	return res.Return(), res.Err
}

// EstimateGas finds the least gas the message needs at a block (latest by
// default) with go-ethereum's estimator: a binary search over executions.
func (a *ethAPI) EstimateGas(ctx context.Context, args callArgs, bnh *rpc.BlockNumberOrHash) (hexutil.Uint64, error) {
	st, h, err := a.stateAndHeader(bnh)
	if err != nil {
		return 0, err
	}
	msg, err := args.message(0, h.BaseFee, a.config().ChainID)
	if err != nil {
		return 0, err
	}
	opts := &gasestimator.Options{
		Config:     a.config(),
		Chain:      a.c.chain,
		Header:     h,
		State:      st,
		ErrorRatio: estimateErrorRatio,
	}
	gas, revert, err := gasestimator.Estimate(ctx, msg, opts, gasCap)
	if err != nil {
		if errors.Is(err, vm.ErrExecutionReverted) {
			return 0, newRevertError(revert)
		}
		return 0, err
	}
	return hexutil.Uint64(gas), nil
}

// filterCriteria is an eth_getLogs or logs-subscription query, parsed as
// go-ethereum's filters.FilterCriteria is.
type filterCriteria struct {
	BlockHash *common.Hash
	FromBlock *rpc.BlockNumber
	ToBlock   *rpc.BlockNumber
	Addresses []common.Address
	Topics    [][]common.Hash
}

func (f *filterCriteria) UnmarshalJSON(data []byte) error {
	var raw struct {
		BlockHash *common.Hash     `json:"blockHash"`
		FromBlock *rpc.BlockNumber `json:"fromBlock"`
		ToBlock   *rpc.BlockNumber `json:"toBlock"`
		Addresses any              `json:"address"`
		Topics    []any            `json:"topics"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw.BlockHash != nil && (raw.FromBlock != nil || raw.ToBlock != nil) {
		return errors.New("cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
	}
	f.BlockHash, f.FromBlock, f.ToBlock = raw.BlockHash, raw.FromBlock, raw.ToBlock
	switch addrs := raw.Addresses.(type) {
	case nil:
	case string:
		addr, err := decodeAddress(addrs)
		if err != nil {
			return fmt.Errorf("invalid address: %v", err)
		}
		f.Addresses = []common.Address{addr}
	case []any:
		for i, x := range addrs {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("non-string address at index %d", i)
			}
			addr, err := decodeAddress(s)
			if err != nil {
				return fmt.Errorf("invalid address at index %d: %v", i, err)
			}
			f.Addresses = append(f.Addresses, addr)
		}
	default:
		return errors.New("invalid addresses in query")
	}
	if len(raw.Topics) > 4 {
		return errors.New("exceed max topics")
	}
	f.Topics = make([][]common.Hash, len(raw.Topics))
	for i, t := range raw.Topics {
		switch t := t.(type) {
		case nil: // any topic
		case string:
			top, err := decodeTopic(t)
			if err != nil {
				return err
			}
			f.Topics[i] = []common.Hash{top}
		case []any:
			for _, x := range t {
				if x == nil { // null in a set matches anything
					f.Topics[i] = nil
					break
				}
				s, ok := x.(string)
				if !ok {
					return errors.New("invalid topic(s)")
				}
				top, err := decodeTopic(s)
				if err != nil {
					return err
				}
				f.Topics[i] = append(f.Topics[i], top)
			}
		default:
			return errors.New("invalid topic(s)")
		}
	}
	return nil
}

func decodeAddress(s string) (common.Address, error) {
	b, err := hexutil.Decode(s)
	if err == nil && len(b) != common.AddressLength {
		err = fmt.Errorf("hex has invalid length %d after decoding; expected %d for address", len(b), common.AddressLength)
	}
	return common.BytesToAddress(b), err
}

func decodeTopic(s string) (common.Hash, error) {
	b, err := hexutil.Decode(s)
	if err == nil && len(b) != common.HashLength {
		err = fmt.Errorf("hex has invalid length %d after decoding; expected %d for topic", len(b), common.HashLength)
	}
	return common.BytesToHash(b), err
}

// matches tells whether l passes the query's addresses and topics.
func (f *filterCriteria) matches(l *types.Log) bool {
	if len(f.Addresses) > 0 && !containsAddr(f.Addresses, l.Address) {
		return false
	}
	if len(f.Topics) > len(l.Topics) {
		return false
	}
	for i, set := range f.Topics {
		if len(set) > 0 && !containsHash(set, l.Topics[i]) {
			return false
		}
	}
	return true
}

// mayMatch tells whether a block with bloom may hold a matching log.
func (f *filterCriteria) mayMatch(bloom types.Bloom) bool {
	if len(f.Addresses) > 0 {
		found := false
		for _, addr := range f.Addresses {
			if types.BloomLookup(bloom, addr) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, set := range f.Topics {
		found := len(set) == 0
		for _, t := range set {
			if types.BloomLookup(bloom, t) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func containsAddr(xs []common.Address, x common.Address) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func containsHash(xs []common.Hash, x common.Hash) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// blockLogs appends the logs of block hash that match f.
func (a *ethAPI) blockLogs(out []*types.Log, f *filterCriteria, h *types.Header) []*types.Log {
	if !f.mayMatch(h.Bloom) {
		return out
	}
	for _, r := range a.c.chain.GetReceiptsByHash(h.Hash()) {
		for _, l := range r.Logs {
			if f.matches(l) {
				cp := *l // the receipts are cached: never hand out theirs
				out = append(out, &cp)
			}
		}
	}
	return out
}

// rangeEnd resolves a getLogs bound: a number, or a tag for the head, the
// safe or the finalized block. Pending logs are not served, as in
// go-ethereum.
func (a *ethAPI) rangeEnd(n *rpc.BlockNumber) (uint64, error) {
	if n == nil {
		return a.c.chain.CurrentBlock().Number.Uint64(), nil
	}
	if *n == rpc.PendingBlockNumber {
		return 0, errors.New("pending logs are not supported")
	}
	if *n >= 0 {
		return uint64(*n), nil
	}
	h, err := a.header(*n)
	if err != nil {
		return 0, err
	}
	return h.Number.Uint64(), nil
}

// GetLogs is the logs matching crit in one block (blockHash), or in the
// canonical blocks fromBlock to toBlock (both latest by default). As in
// go-ethereum, a range reaching past the head is an error.
func (a *ethAPI) GetLogs(crit filterCriteria) ([]*types.Log, error) {
	out := []*types.Log{}
	if crit.BlockHash != nil {
		h := a.c.chain.GetHeaderByHash(*crit.BlockHash)
		if h == nil {
			return nil, errors.New("unknown block")
		}
		return a.blockLogs(out, &crit, h), nil
	}
	from, err := a.rangeEnd(crit.FromBlock)
	if err != nil {
		return nil, err
	}
	to, err := a.rangeEnd(crit.ToBlock)
	if err != nil {
		return nil, err
	}
	if from > to {
		return nil, errInvalidBlockRange
	}
	for n := from; n <= to; n++ {
		h := a.c.chain.GetHeaderByNumber(n)
		if h == nil { // past the head, or a Fork shortened the chain meanwhile
			return nil, errInvalidBlockRange
		}
		out = a.blockLogs(out, &crit, h)
	}
	return out, nil
}

var errInvalidBlockRange = errors.New("invalid block range params")

// NewHeads notifies the header of each new head (eth_subscribe newHeads).
// After a Fork, the fork point is announced again as the head.
func (a *ethAPI) NewHeads(ctx context.Context) (*rpc.Subscription, error) {
	notifier, ok := rpc.NotifierFromContext(ctx)
	if !ok {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	rpcSub := notifier.CreateSubscription()
	events := make(chan core.ChainEvent)
	sub := a.c.chain.SubscribeChainEvent(events)
	go func() {
		defer sub.Unsubscribe()
		for {
			select {
			case ev := <-events:
				notifier.Notify(rpcSub.ID, ev.Header)
			case <-rpcSub.Err():
				return
			case <-sub.Err():
				return
			case <-a.c.stop:
				return
			}
		}
	}()
	return rpcSub, nil
}

// Logs notifies each log matching crit as its block joins the canonical
// chain, and again with removed set when a Fork takes the block off it
// (eth_subscribe logs). Logs are sent in the order the chain emits them:
// the removals of a reorganisation before the logs of the new branch.
func (a *ethAPI) Logs(ctx context.Context, crit filterCriteria) (*rpc.Subscription, error) {
	notifier, ok := rpc.NotifierFromContext(ctx)
	if !ok {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	if crit.BlockHash != nil {
		return nil, errors.New("cannot subscribe to the logs of a given block hash")
	}
	rpcSub := notifier.CreateSubscription()
	// Unbuffered, so that each event is handed over before the chain sends
	// the next: removals then arrive before the logs that replace them.
	logs := make(chan []*types.Log)
	removed := make(chan core.RemovedLogsEvent)
	subs := []event.Subscription{a.c.chain.SubscribeLogsEvent(logs), a.c.chain.SubscribeRemovedLogsEvent(removed)}
	notify := func(ls []*types.Log) {
		for _, l := range ls {
			if crit.inRange(l.BlockNumber) && crit.matches(l) {
				notifier.Notify(rpcSub.ID, l)
			}
		}
	}
	go func() {
		defer func() {
			for _, s := range subs {
				s.Unsubscribe()
			}
		}()
		for {
			select {
			case ls := <-logs:
				notify(ls)
			case ev := <-removed:
				notify(ev.Logs)
			case <-rpcSub.Err():
				return
			case <-subs[0].Err():
				return
			case <-subs[1].Err():
				return
			case <-a.c.stop:
				return
			}
		}
	}()
	return rpcSub, nil
}

// inRange applies a subscription's numeric fromBlock and toBlock; tags put
// no bound, as in go-ethereum.
func (f *filterCriteria) inRange(n uint64) bool {
	if f.FromBlock != nil && *f.FromBlock >= 0 && uint64(*f.FromBlock) > n {
		return false
	}
	if f.ToBlock != nil && *f.ToBlock >= 0 && uint64(*f.ToBlock) < n {
		return false
	}
	return true
}
