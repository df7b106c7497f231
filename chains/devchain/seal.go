package devchain

import (
	"context"
	"crypto/rand"
	"errors"

	"github.com/ethereum/go-ethereum/beacon/engine"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/miner"
)

// epochLength is the number of blocks between finalized checkpoints, the
// simulated beacon's devEpochLength.
const epochLength = 32

// seal builds a block on the head from the pool, inserts it and makes it
// the head, as go-ethereum's simulated beacon does through the engine API
// (forkchoiceUpdated with attributes, getPayload, newPayload,
// forkchoiceUpdated), without the API: the timestamp is at least one second
// past the head's, the fee recipient is the zero address, the randomness
// fresh and the beacon root zero; safe is the new head and finalized the
// last epoch boundary. The caller holds c.mu.
func (c *Chain) seal(timestamp uint64) error {
	if timestamp <= c.lastTime {
		timestamp = c.lastTime + 1
	}
	// Transactions just sent may still be on their way into the pool's
	// pending set (it promotes them in the background): let it finish, so
	// that the block holds everything sent before Commit.
	if err := c.pool.Sync(); err != nil {
		return err
	}
	head := c.chain.CurrentBlock()
	var random common.Hash
	rand.Read(random[:])
	args := &miner.BuildPayloadArgs{
		Parent:       head.Hash(),
		Timestamp:    timestamp,
		FeeRecipient: common.Address{},
		Random:       random,
		Withdrawals:  types.Withdrawals{},
		BeaconRoot:   &common.Hash{},
		Version:      engine.PayloadV3,
	}
	payload, err := c.miner.BuildPayload(context.Background(), args, false)
	if err != nil {
		return err
	}
	if payload.ResolveFull() == nil {
		return errors.New("payload building stopped before a full block")
	}
	block, _, _, _ := payload.FullBlockAndReceipts()
	if block == nil {
		return errors.New("no block built")
	}
	if _, err := c.chain.InsertBlockWithoutSetHead(context.Background(), block, false); err != nil {
		return err
	}
	if _, err := c.chain.SetCanonical(block); err != nil {
		return err
	}
	c.lastTime = block.Time()
	c.setFinality(block.Header())
	return nil
}

// setFinality marks head safe and the last epoch boundary at or below it
// finalized (the simulated beacon's finalizedBlockHash).
func (c *Chain) setFinality(head *types.Header) {
	n := head.Number.Uint64()
	final := n
	if n%epochLength != 0 {
		final = (n - 1) / epochLength * epochLength
	}
	if h := c.chain.GetHeaderByNumber(final); h != nil {
		c.chain.SetFinalized(h)
	}
	c.chain.SetSafe(head)
}

// fork makes parent the head, as the simulated beacon's Fork does: the pool
// must hold nothing pending. The caller holds c.mu.
func (c *Chain) fork(parent common.Hash) error {
	c.pool.Sync()
	if pending, _ := c.pool.Pending(txpool.PendingFilter{}); len(pending) != 0 {
		return errors.New("pending block dirty")
	}
	block := c.chain.GetBlockByHash(parent)
	if block == nil {
		return errors.New("parent not found")
	}
	if _, err := c.chain.SetCanonical(block); err != nil {
		return err
	}
	c.setFinality(block.Header())
	return nil
}
