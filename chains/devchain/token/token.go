// Package token is the devnet's ERC-20, "Settle Devnet USDC": its Solidity
// source, and the ABI and creation bytecode compiled from it, embedded. It
// holds no chain code; package devchain deploys it.
//
// Token.abi and Token.bin are committed, so building settle needs no Solidity
// toolchain. To reproduce them byte for byte from Token.sol (Node.js and the
// npm registry needed; nothing is left behind outside Token.abi and
// Token.bin):
//
//	go generate ./chains/devchain/token
//
// which runs compile.sh, that is, in this folder:
//
//	d=$(mktemp -d)
//	npm install --prefix "$d" --no-save --no-package-lock solc@0.8.28
//	NODE_PATH="$d/node_modules" node compile.js
//
// compile.js refuses any solc but 0.8.28 and compiles with the optimizer on
// (200 runs) for the paris EVM.
package token

//go:generate sh compile.sh

import (
	_ "embed"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// What the token says about itself (its name, symbol and decimals calls).
const (
	Name     = "Settle Devnet USDC"
	Symbol   = "USDC"
	Decimals = 6
)

var (
	//go:embed Token.abi
	abiJSON string
	//go:embed Token.bin
	binHex string
)

// ABI is the token's parsed interface: the ERC-20 calls, its constructor
// (uint256 supply, minted to the deployer) and the Transfer and Approval events.
var ABI = mustParse(abiJSON)

// Bytecode returns the creation code, to which the ABI-encoded constructor
// argument is appended to deploy. Each call returns a fresh copy.
func Bytecode() []byte { return common.FromHex(strings.TrimSpace(binHex)) }

// TransferEvent is the topic of Transfer(address indexed from, address
// indexed to, uint256 value), the log a payment leaves.
var TransferEvent = ABI.Events["Transfer"].ID

func mustParse(s string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(s))
	if err != nil {
		panic("token: embedded Token.abi: " + err.Error())
	}
	return a
}
