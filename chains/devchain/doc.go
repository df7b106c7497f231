// Package devchain runs an EVM chain inside the process, for `settle devnet`
// and for tests: go-ethereum's simulated chain (chain id 1337, every fork on),
// with the devnet token deployed and a funded, publicly known wallet, served
// over HTTP and WebSocket JSON-RPC on loopback when asked.
//
// Blocks are mined on demand ([Chain.Commit]) or on a timer, and reorgs are
// made with [Chain.Fork]. The package also holds the few client helpers that
// pay with the token over any RPC connection ([Transfer], [WaitMined],
// [BalanceOf]), which `settle pay` uses against the devnet.
//
// It is not a node of any public network and keeps nothing on disk: a devnet
// starts from genesis every time and its state ends with [Chain.Close].
package devchain
