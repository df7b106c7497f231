#!/bin/sh
# Rebuilds Token.abi and Token.bin from Token.sol with solc 0.8.28 from npm,
# installed in a temporary directory that is removed afterwards.
set -eu
cd "$(dirname "$0")"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
npm install --prefix "$d" --no-save --no-package-lock --no-audit --no-fund solc@0.8.28
NODE_PATH="$d/node_modules" node compile.js
