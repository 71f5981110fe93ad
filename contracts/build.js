// Compiles contracts/src/*.sol with solc-js (the version pinned in package.json) and writes one
// artifact per contract to contracts/out/<Contract>.json: { contractName, sourceName, compiler,
// abi, bytecode, deployedBytecode }. The Rust tests read these; rerun `npm run build` after
// changing a contract and commit the artifacts.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const srcDir = path.join(__dirname, "src");
const outDir = path.join(__dirname, "out");
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "prague",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

const sources = {};
for (const file of fs.readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(srcDir, file), "utf8") };
}
const input = { language: "Solidity", sources, settings };
const output = JSON.parse(
  solc.compile(JSON.stringify(input), {
    import: (p) => {
      const full = path.join(srcDir, p);
      return fs.existsSync(full) ? { contents: fs.readFileSync(full, "utf8") } : { error: `not found: ${p}` };
    },
  }),
);
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
let written = 0;
for (const sourceName of Object.keys(output.contracts).sort()) {
  for (const [contractName, c] of Object.entries(output.contracts[sourceName])) {
    if (c.evm.bytecode.object === "" && c.abi.length === 0) continue; // nothing to deploy or call
    const artifact = {
      contractName,
      sourceName: `src/${sourceName}`,
      compiler: { name: "solc-js", version: solc.version(), settings: { optimizer: settings.optimizer, evmVersion: settings.evmVersion } },
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    fs.writeFileSync(path.join(outDir, `${contractName}.json`), JSON.stringify(artifact, null, 2) + "\n");
    written += 1;
  }
}
console.log(`wrote ${written} artifacts to ${path.relative(process.cwd(), outDir) || "."}`);
