package devchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/settlepay/settle/chains/devchain/token"
)

// Backend is what Transfer needs of a chain connection. *ethclient.Client
// (over HTTP or WebSocket) and [Chain.Client] both satisfy it.
type Backend interface {
	ethereum.ChainIDReader
	ethereum.GasEstimator
	ethereum.TransactionSender
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
}

// ReceiptReader is what WaitMined needs of a chain connection.
type ReceiptReader interface {
	TransactionReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error)
}

// ErrReverted is returned, with the receipt, by [WaitMined] when the
// transaction was mined but failed.
var ErrReverted = errors.New("transaction reverted")

// TxOpts overrides how a transaction is priced and ordered. The zero value
// takes the sender's pending nonce, the node's suggested tip and a fee cap
// of twice the head's base fee plus the tip.
//
// A replacement (same sender and nonce) is accepted only if both its Tip and
// its FeeCap are at least 10% above those of the transaction it replaces.
type TxOpts struct {
	// Nonce, when set, is used instead of the pending nonce: to send several
	// transactions before any is mined (the pool counts them asynchronously,
	// so the pending nonce can lag a send), or to replace one.
	Nonce *uint64
	// Tip, when set, is the priority fee per gas in wei.
	Tip *big.Int
	// FeeCap, when set, is the most paid per gas in wei, base fee and tip.
	FeeCap *big.Int
}

// Transfer sends, and does not wait for, an ERC-20 transfer of amount base
// units of token from key's address to to. It returns the transaction hash;
// see [WaitMined]. Gas is estimated, so a transfer that would revert (say,
// for want of balance) fails here rather than on chain.
func Transfer(ctx context.Context, b Backend, key *ecdsa.PrivateKey, tok, to common.Address, amount *big.Int) (common.Hash, error) {
	return TransferWith(ctx, b, key, tok, to, amount, TxOpts{})
}

// TransferWith is Transfer with the nonce or fees chosen by opts. After
// [Chain.Fork], sending a transfer with the nonce of one in an abandoned
// block and higher fees is how a test makes that one vanish for good.
func TransferWith(ctx context.Context, b Backend, key *ecdsa.PrivateKey, tok, to common.Address, amount *big.Int, opts TxOpts) (common.Hash, error) {
	data, err := token.ABI.Pack("transfer", to, amount)
	if err != nil {
		return common.Hash{}, fmt.Errorf("transfer: %w", err)
	}
	tx, err := send(ctx, b, key, &tok, nil, data, opts)
	if err != nil {
		return common.Hash{}, fmt.Errorf("transfer %s to %s: %w", amount, to, err)
	}
	return tx.Hash(), nil
}

// send signs and sends a dynamic-fee transaction from key. A nil to creates
// a contract. The default fee cap, twice the head's base fee plus the tip,
// rides out several full blocks.
func send(ctx context.Context, b Backend, key *ecdsa.PrivateKey, to *common.Address, value *big.Int, data []byte, opts TxOpts) (*types.Transaction, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	chainID, err := b.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("chain id: %w", err)
	}
	var nonce uint64
	if opts.Nonce != nil {
		nonce = *opts.Nonce
	} else if nonce, err = b.PendingNonceAt(ctx, from); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	tip := opts.Tip
	if tip == nil {
		if tip, err = b.SuggestGasTipCap(ctx); err != nil {
			return nil, fmt.Errorf("tip: %w", err)
		}
	}
	feeCap := opts.FeeCap
	if feeCap == nil {
		head, err := b.HeaderByNumber(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("head: %w", err)
		}
		feeCap = new(big.Int).Set(tip)
		if head.BaseFee != nil {
			feeCap.Add(feeCap, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
		}
	}
	if value == nil {
		value = new(big.Int)
	}
	gas, err := b.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Value: value, Data: data})
	if err != nil {
		return nil, fmt.Errorf("estimate gas: %w", err)
	}
	gas += gas / 5 // the state may move between estimate and inclusion
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID:   chainID,
		Nonce:     nonce,
		GasTipCap: tip,
		GasFeeCap: feeCap,
		Gas:       gas,
		To:        to,
		Value:     value,
		Data:      data,
	})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := b.SendTransaction(ctx, tx); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	return tx, nil
}

// pollEvery is how often WaitMined asks for the receipt.
const pollEvery = 100 * time.Millisecond

// WaitMined polls for the receipt of hash until there is one or ctx ends.
// A receipt with a failed status comes back with [ErrReverted]. Errors
// while polling (not found yet, a node still indexing, a dropped
// connection) are retried; the last one is reported if ctx ends first.
func WaitMined(ctx context.Context, r ReceiptReader, hash common.Hash) (*types.Receipt, error) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		rcpt, err := r.TransactionReceipt(ctx, hash)
		if err == nil {
			if rcpt.Status != types.ReceiptStatusSuccessful {
				return rcpt, fmt.Errorf("tx %s: %w", hash, ErrReverted)
			}
			return rcpt, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(err, ethereum.NotFound) || errors.Is(err, ctx.Err()) {
				return nil, fmt.Errorf("wait for tx %s: %w", hash, ctx.Err())
			}
			return nil, fmt.Errorf("wait for tx %s: %w (last error: %w)", hash, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// BalanceOf returns addr's balance of token in base units, at the latest
// block, by eth_call.
func BalanceOf(ctx context.Context, c ethereum.ContractCaller, tok, addr common.Address) (*big.Int, error) {
	data, err := token.ABI.Pack("balanceOf", addr)
	if err != nil {
		return nil, fmt.Errorf("balance of %s: %w", addr, err)
	}
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &tok, Data: data}, nil)
	if err != nil {
		return nil, fmt.Errorf("balance of %s: %w", addr, err)
	}
	vals, err := token.ABI.Unpack("balanceOf", out)
	if err != nil {
		return nil, fmt.Errorf("balance of %s: %w", addr, err)
	}
	bal, ok := vals[0].(*big.Int)
	if !ok {
		return nil, fmt.Errorf("balance of %s: unexpected %T", addr, vals[0])
	}
	return bal, nil
}
