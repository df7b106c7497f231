package devchain

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

// The JSON shapes below are go-ethereum's (internal/ethapi RPCMarshalBlock,
// RPCTransaction, MarshalReceipt): each starts from the type's own JSON
// encoding and adds what the RPC adds.

// fields is v's JSON object, for adding fields to.
func fields(v any) (map[string]any, error) {
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(enc, &raw); err != nil {
		return nil, err
	}
	m := make(map[string]any, len(raw)+8)
	for k, v := range raw {
		m[k] = v
	}
	return m, nil
}

// marshalBlock is b's header with its size, uncles, withdrawals and
// transactions, in full or as hashes.
func (a *ethAPI) marshalBlock(b *types.Block, fullTx bool) (map[string]any, error) {
	m, err := fields(b.Header())
	if err != nil {
		return nil, err
	}
	m["size"] = hexutil.Uint64(b.Size())
	m["uncles"] = []common.Hash{}
	if b.Header().WithdrawalsHash != nil {
		ws := b.Withdrawals()
		if ws == nil {
			ws = types.Withdrawals{}
		}
		m["withdrawals"] = ws
	}
	txs := b.Transactions()
	if !fullTx {
		hashes := make([]common.Hash, len(txs))
		for i, tx := range txs {
			hashes[i] = tx.Hash()
		}
		m["transactions"] = hashes
		return m, nil
	}
	full := make([]map[string]any, len(txs))
	for i, tx := range txs {
		if full[i], err = a.marshalTx(tx, b.Header(), uint64(i)); err != nil {
			return nil, err
		}
	}
	m["transactions"] = full
	return m, nil
}

// marshalTx is tx with its sender and, when h is not nil, the block it is
// in and the gas price it paid there; pending otherwise.
func (a *ethAPI) marshalTx(tx *types.Transaction, h *types.Header, index uint64) (map[string]any, error) {
	m, err := fields(tx)
	if err != nil {
		return nil, err
	}
	from, err := types.Sender(types.LatestSignerForChainID(a.config().ChainID), tx)
	if err != nil {
		return nil, err
	}
	m["from"] = from
	if h == nil {
		m["blockHash"], m["blockNumber"], m["transactionIndex"] = nil, nil, nil
		if tx.Type() != types.LegacyTxType && tx.Type() != types.AccessListTxType {
			m["gasPrice"] = (*hexutil.Big)(tx.GasFeeCap())
		}
		return m, nil
	}
	m["blockHash"] = h.Hash()
	m["blockNumber"] = (*hexutil.Big)(h.Number)
	m["blockTimestamp"] = hexutil.Uint64(h.Time)
	m["transactionIndex"] = hexutil.Uint64(index)
	if tx.Type() != types.LegacyTxType && tx.Type() != types.AccessListTxType {
		m["gasPrice"] = (*hexutil.Big)(effectiveGasPrice(tx, h.BaseFee))
	}
	return m, nil
}

func effectiveGasPrice(tx *types.Transaction, baseFee *big.Int) *big.Int {
	if baseFee == nil {
		return tx.GasPrice()
	}
	return new(big.Int).Add(baseFee, tx.EffectiveGasTipValue(baseFee))
}

// marshalReceipt is r with the sender and recipient of its transaction tx
// in block h.
func (a *ethAPI) marshalReceipt(r *types.Receipt, tx *types.Transaction, h *types.Header) (map[string]any, error) {
	m, err := fields(r)
	if err != nil {
		return nil, err
	}
	from, err := types.Sender(types.MakeSigner(a.config(), h.Number, h.Time), tx)
	if err != nil {
		return nil, err
	}
	m["from"] = from
	m["to"] = tx.To()
	if r.Logs == nil {
		m["logs"] = []*types.Log{}
	}
	if tx.To() != nil || r.ContractAddress == (common.Address{}) {
		m["contractAddress"] = nil
	}
	return m, nil
}

// oracleBackend is what go-ethereum's gas price oracle reads of the chain.
type oracleBackend struct{ c *Chain }

func (b oracleBackend) api() *ethAPI { return &ethAPI{c: b.c} }

func (b oracleBackend) HeaderByNumber(_ context.Context, n rpc.BlockNumber) (*types.Header, error) {
	h, err := b.api().header(n)
	if err == nil && h == nil {
		err = errors.New("header not found")
	}
	return h, err
}

func (b oracleBackend) BlockByNumber(_ context.Context, n rpc.BlockNumber) (*types.Block, error) {
	blk, err := b.api().block(n)
	if err == nil && blk == nil {
		err = errors.New("block not found")
	}
	return blk, err
}

func (b oracleBackend) GetReceipts(_ context.Context, hash common.Hash) (types.Receipts, error) {
	return b.c.chain.GetReceiptsByHash(hash), nil
}

func (b oracleBackend) Pending() (*types.Block, types.Receipts, *state.StateDB) {
	return b.c.miner.Pending()
}

func (b oracleBackend) ChainConfig() *params.ChainConfig { return b.c.chain.Config() }

func (b oracleBackend) SubscribeChainHeadEvent(ch chan<- core.ChainHeadEvent) event.Subscription {
	return b.c.chain.SubscribeChainHeadEvent(ch)
}
