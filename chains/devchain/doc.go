// Package devchain runs an EVM chain inside the process, for `settle devnet`
// and for tests: chain id 1337 with every fork on, the devnet token deployed
// and a funded, publicly known wallet, served over HTTP and WebSocket
// JSON-RPC on loopback when asked.
//
// The chain is go-ethereum's own blockchain, EVM, transaction pool and block
// builder (core, core/txpool, miner) with the genesis, consensus and block
// production of its simulated backend (ethclient/simulated and the
// simulated beacon), and a JSON-RPC of its own: the eth, net and web3 calls
// that ethclient, settle and wallets make, with go-ethereum's JSON shapes,
// gas estimator and gas price oracle, and eth_subscribe for newHeads and
// logs. It runs no p2p node: go-ethereum's node and eth service pulled
// pebble, LevelDB, zstd's C code, the p2p stack and more into the binary,
// nearly doubling a cold build of settle, for nothing a devnet uses.
//
// Blocks are mined on demand ([Chain.Commit]) or on a timer, and reorgs are
// made with [Chain.Fork]. The package also holds the few client helpers that
// pay with the token over any RPC connection ([Transfer], [WaitMined],
// [BalanceOf]), which `settle pay` uses against the devnet.
//
// It is not a node of any public network and keeps nothing on disk: a devnet
// starts from genesis every time and its state ends with [Chain.Close].
package devchain
