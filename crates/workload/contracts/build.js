#!/usr/bin/env node
// Compiles contracts/src/*.sol with the solc pinned in package.json and writes, for every
// contract, out/<Name>.runtime.hex (deployed code), out/<Name>.creation.hex (init code),
// out/<Name>.abi.json and out/<Name>.storage.json (the storage layout the Rust generator
// relies on). The Rust workload generator (crates/workload/build.rs) embeds the .hex files.
//
// Usage: cd contracts && npm ci && npm run build   (or ./build.sh)
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const EXPECTED_SOLC = require("./package.json").devDependencies.solc;
const srcDir = path.join(__dirname, "src");
const outDir = path.join(__dirname, "out");

const version = solc.version();
if (!version.startsWith(EXPECTED_SOLC + "+")) {
  console.error(`solc ${version} is not the pinned ${EXPECTED_SOLC}: run \`npm ci\``);
  process.exit(1);
}

const sources = {};
for (const file of fs.readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(srcDir, file), "utf8") };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    // No metadata hash in the bytecode: editing a comment must not change the code.
    metadata: { bytecodeHash: "none" },
    outputSelection: {
      "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"] },
    },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const diagnostic of output.errors || []) {
  // SELFDESTRUCT is deprecated (EIP-6780); Child uses it on purpose.
  if (diagnostic.severity === "warning" && /selfdestruct/.test(diagnostic.message)) continue;
  console.error(diagnostic.formattedMessage);
  if (diagnostic.severity === "error") failed = true;
}
if (failed) process.exit(1);

fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir);
const written = [];
for (const file of Object.keys(output.contracts).sort()) {
  for (const name of Object.keys(output.contracts[file]).sort()) {
    const contract = output.contracts[file][name];
    const runtime = contract.evm.deployedBytecode.object;
    if (runtime.length === 0) continue; // interfaces
    const storage = contract.storageLayout.storage.map((s) => ({
      label: s.label,
      slot: Number(s.slot),
      offset: s.offset,
      type: contract.storageLayout.types[s.type].label,
    }));
    fs.writeFileSync(path.join(outDir, `${name}.runtime.hex`), runtime + "\n");
    fs.writeFileSync(path.join(outDir, `${name}.creation.hex`), contract.evm.bytecode.object + "\n");
    fs.writeFileSync(path.join(outDir, `${name}.abi.json`), JSON.stringify(contract.abi, null, 2) + "\n");
    fs.writeFileSync(path.join(outDir, `${name}.storage.json`), JSON.stringify(storage, null, 2) + "\n");
    written.push(`${name} (${runtime.length / 2} bytes)`);
  }
}
fs.writeFileSync(path.join(outDir, "VERSION"), `solc ${version}, evmVersion cancun, optimizer runs 200\n`);
console.log(`solc ${version}: ${written.join(", ")}`);
