// Compiles Token.sol into Token.abi and Token.bin with the npm package solc,
// pinned below. compile.sh installs solc and runs it; see token.go.
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const want = '0.8.28';
if (!solc.version().startsWith(want + '+')) {
  console.error(`solc ${solc.version()}: want ${want}`);
  process.exit(1);
}
const dir = __dirname;
const src = fs.readFileSync(path.join(dir, 'Token.sol'), 'utf8');
const input = {language: 'Solidity', sources: {'Token.sol': {content: src}},
  settings: {evmVersion: 'paris', optimizer: {enabled: true, runs: 200},
    outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}}}};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
if (out.errors) {
  for (const e of out.errors) console.error(e.formattedMessage);
  if (out.errors.some(e => e.severity === 'error')) process.exit(1);
}
const c = out.contracts['Token.sol'].Token;
fs.writeFileSync(path.join(dir, 'Token.abi'), JSON.stringify(c.abi) + '\n');
fs.writeFileSync(path.join(dir, 'Token.bin'), c.evm.bytecode.object + '\n');
console.log('solc', solc.version(), 'bytecode bytes', c.evm.bytecode.object.length / 2);
