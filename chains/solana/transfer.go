package solana

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/gagliardetto/solana-go/rpc"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// transfer reads what tx paid into a's token account, as Solana Pay's
// validateTransfer does: the transaction succeeded and the account's
// balance of the mint rose (post less pre token balance). ok is false when
// it paid nothing there. The returned transfer's Index is the token
// account's position among the transaction's keys, and its References are
// every key, for the ledger to find a Solana Pay reference among them.
func transfer(tx *rpc.GetParsedTransactionResult, a account) (t chains.Transfer, ok bool, err error) {
	if tx == nil || tx.Transaction == nil || tx.Meta == nil {
		return t, false, errors.New("transaction without message or meta")
	}
	if tx.Meta.Err != nil {
		return t, false, nil // failed: moved nothing
	}
	keys := tx.Transaction.Message.AccountKeys // jsonParsed lists loaded keys too
	index := -1
	refs := make([]string, len(keys))
	for i, k := range keys {
		refs[i] = k.PublicKey.String()
		if k.PublicKey == a.ata {
			index = i
		}
	}
	if index < 0 {
		return t, false, nil
	}
	balance := func(bs []rpc.TokenBalance, i int) (*big.Int, error) {
		for _, b := range bs {
			if int(b.AccountIndex) != i || b.Mint != a.mint {
				continue
			}
			if b.UiTokenAmount == nil {
				return nil, fmt.Errorf("token balance of account %d has no amount", i)
			}
			v, ok := new(big.Int).SetString(b.UiTokenAmount.Amount, 10)
			if !ok || v.Sign() < 0 {
				return nil, fmt.Errorf("token balance %q of account %d is not a base-unit amount", b.UiTokenAmount.Amount, i)
			}
			return v, nil
		}
		return new(big.Int), nil
	}
	pre, err := balance(tx.Meta.PreTokenBalances, index)
	if err != nil {
		return t, false, err
	}
	post, err := balance(tx.Meta.PostTokenBalances, index)
	if err != nil {
		return t, false, err
	}
	delta := new(big.Int).Sub(post, pre)
	if delta.Sign() <= 0 {
		return t, false, nil
	}
	// The payor is the owner of the account of the mint that lost most;
	// the fee payer when no such balance is reported.
	from := ""
	if len(keys) > 0 {
		from = keys[0].PublicKey.String()
	}
	most := new(big.Int)
	for _, b := range tx.Meta.PreTokenBalances {
		if b.Mint != a.mint || b.Owner == nil || b.UiTokenAmount == nil || int(b.AccountIndex) == index {
			continue
		}
		was, _ := new(big.Int).SetString(b.UiTokenAmount.Amount, 10)
		now, err := balance(tx.Meta.PostTokenBalances, int(b.AccountIndex))
		if was == nil || err != nil {
			continue
		}
		if lost := new(big.Int).Sub(was, now); lost.Cmp(most) > 0 {
			most, from = lost, b.Owner.String()
		}
	}
	return chains.Transfer{
		Token: a.mint.String(), Index: int64(index), Block: int64(tx.Slot),
		From: from, To: a.wallet.String(), Amount: invoice.BigUnits(delta), References: refs,
	}, true, nil
}
