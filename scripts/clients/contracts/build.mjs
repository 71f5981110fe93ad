// Compiles ClientProbe.sol with solc-js 0.8.37 (the version contracts/package.json pins) into
// ../ClientProbe.json (abi, bytecode, deployedBytecode). Run once after changing the source:
//   npm install --prefix /tmp/solc solc@0.8.37 && NODE_PATH=/tmp/solc/node_modules node build.mjs
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const solc = require("solc");
const here = path.dirname(new URL(import.meta.url).pathname);
const input = {
  language: "Solidity",
  sources: { "ClientProbe.sol": { content: fs.readFileSync(path.join(here, "ClientProbe.sol"), "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "prague",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
for (const e of out.errors || []) console.error(e.formattedMessage);
if ((out.errors || []).some((e) => e.severity === "error")) process.exit(1);
const c = out.contracts["ClientProbe.sol"].ClientProbe;
const artifact = {
  contractName: "ClientProbe",
  compiler: { name: "solc-js", version: solc.version(), settings: { optimizer: input.settings.optimizer, evmVersion: "prague" } },
  abi: c.abi,
  bytecode: "0x" + c.evm.bytecode.object,
  deployedBytecode: "0x" + c.evm.deployedBytecode.object,
};
fs.writeFileSync(path.join(here, "..", "ClientProbe.json"), JSON.stringify(artifact, null, 2) + "\n");
console.log("wrote ClientProbe.json");
