// Shared by the JavaScript client scripts (viem.mjs, ethers.mjs): arguments, dev accounts (devnet.json),
// the probe contract, the check harness (one JSON line per check, each with its own timeout)
// and an EIP-1186 proof verifier on @ethereumjs/mpt (independent of the client under test).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

export const HERE = path.dirname(new URL(import.meta.url).pathname);
export const ROOT = path.resolve(HERE, "..", "..", "..");
// The pinned npm packages live in .tools/npm (scripts/install-test-tools), outside this folder's
// module resolution: load them (their CommonJS builds) from there. AIOP_NPM_DIR overrides.
const npmDir = process.env.AIOP_NPM_DIR || path.join(ROOT, ".tools", "npm");
export const npm = createRequire(path.join(npmDir, "package.json"));
const { verifyMerkleProof } = npm("@ethereumjs/mpt");
const { RLP } = npm("@ethereumjs/rlp");

/// Arguments: --rpc URL --ws URL --interval-rpc URL --target aiop|anvil --account N, each
/// defaulting to the environment (RPC_URL, WS_URL, INTERVAL_RPC_URL, TARGET, ACCOUNT).
export function parseArgs(argv = process.argv.slice(2)) {
  const o = {
    rpc: process.env.RPC_URL,
    ws: process.env.WS_URL,
    intervalRpc: process.env.INTERVAL_RPC_URL,
    target: process.env.TARGET || "aiop",
    account: Number(process.env.ACCOUNT || "1"),
    only: process.env.ONLY || "",
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === "--rpc") o.rpc = v;
    else if (k === "--ws") o.ws = v;
    else if (k === "--interval-rpc") o.intervalRpc = v;
    else if (k === "--target") o.target = v;
    else if (k === "--account") o.account = Number(v);
    else if (k === "--only") o.only = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!o.rpc) throw new Error("no RPC URL (--rpc or RPC_URL)");
  if (!o.ws) o.ws = o.rpc.replace(/^http/, "ws");
  return o;
}

// The dev chain (devnet.json, shared with the Python scripts, cast.sh and run): the test
// mnemonic and its first ten keys (m/44'/60'/0'/0/i, anvil's and hardhat's dev accounts) and
// addresses, Multicall3, the inference precompile and the pre-deployed models (docs/node.md).
const DEVNET = JSON.parse(fs.readFileSync(path.join(HERE, "devnet.json"), "utf8"));
export const MNEMONIC = DEVNET.mnemonic;
export const DEV_KEYS = DEVNET.devKeys;
export const DEV_ADDRS = DEVNET.devAddrs;

export const PROBE = JSON.parse(fs.readFileSync(path.join(HERE, "..", "ClientProbe.json"), "utf8"));
export const MULTICALL3 = DEVNET.multicall3;
export const MULTICALL3_ABI = DEVNET.multicall3Abi;
export const PRECOMPILE = DEVNET.precompile;
export const DIGITS_MLP = DEVNET.digitsMlp;
export const MLPERF_KWS = DEVNET.mlperfKws;
export const IAIOP_ABI = JSON.parse(fs.readFileSync(path.join(ROOT, "contracts", "out", "IAiop.json"), "utf8")).abi;
// The 64 bytes the infer checks give the digits MLP.
export const DIGITS_INPUT = DEVNET.digitsInput;
// Runtime code for the code override: PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN.
export const RETURN_42 = DEVNET.returns42;
// A tip no node would pick by itself, so that eth_feeHistory's rewards can be traced to it.
export const DISTINCT_TIP = BigInt(DEVNET.distinctTip);

export class Skip extends Error {}

/// Promise rejections nobody awaited (a client's subscription that failed under it): a check
/// may watch this list to fail at once with the node's error rather than time out.
export const unhandled = [];
/// Rejects as soon as an unhandled rejection is recorded after `since` (an index into `unhandled`).
export function failOnUnhandled(since, ms) {
  return new Promise((_, reject) => {
    const end = Date.now() + ms;
    const tick = () => {
      // (ethers' "provider destroyed; cancelled request" comes from a provider already closed)
      const e = unhandled.slice(since).find((x) => !/provider destroyed/.test(errText(x)));
      if (e) return reject(new Error(`the client failed: ${errText(e)}`));
      if (Date.now() > end) return reject(new Error("timed out"));
      setTimeout(tick, 100);
    };
    tick();
  });
}

/// The check harness: `await h.check(name, async () => detail)` prints one JSON line, never throws.
export function harness(client, opts = {}) {
  // A client library may reject a promise nobody awaits (a WebSocket that fails under it):
  // log it and go on, the check that caused it times out or fails by itself.
  process.on("unhandledRejection", (e) => {
    unhandled.push(e);
    process.stderr.write(`[${client}] unhandled rejection: ${short(errText(e))}\n`);
  });
  process.on("uncaughtException", (e) => process.stderr.write(`[${client}] uncaught exception: ${short(errText(e))}\n`));
  const only = opts.only ? new RegExp(opts.only) : null;
  const results = [];
  const emitLine = (r) => {
    results.push(r);
    process.stdout.write(JSON.stringify(r) + "\n");
  };
  return {
    results,
    /// `setup`: run even when --only filters the check out (others need what it makes), silently.
    async check(name, fn, { timeout = 30_000, setup = false } = {}) {
      const quiet = only && !only.test(name);
      if (quiet && !setup) return undefined;
      const emit = quiet ? () => {} : emitLine;
      const t0 = Date.now();
      let timer;
      try {
        const detail = await Promise.race([
          fn(),
          new Promise((_, rej) => {
            timer = setTimeout(() => rej(new Error(`timed out after ${timeout / 1000}s`)), timeout);
          }),
        ]);
        emit({ client, check: name, ok: true, detail: short(detail), ms: Date.now() - t0 });
        return true;
      } catch (e) {
        if (e instanceof Skip) {
          emit({ client, check: name, ok: true, skip: true, detail: short(e.message), ms: Date.now() - t0 });
          return undefined;
        }
        emit({ client, check: name, ok: false, detail: short(errText(e)), ms: Date.now() - t0 });
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export function errText(e) {
  if (e === undefined || e === null) return String(e);
  // viem and ethers wrap the node's error: show the innermost message and code.
  let msg = e.shortMessage || e.message || String(e);
  let inner = e.cause;
  for (let i = 0; inner && i < 5; i++) {
    if (inner.code !== undefined && inner.message) msg += ` | ${inner.code}: ${inner.shortMessage || inner.message}`;
    inner = inner.cause;
  }
  if (e.info?.error) msg += ` | ${JSON.stringify(e.info.error)}`;
  if (e.error && typeof e.error === "object") msg += ` | ${JSON.stringify(e.error)}`;
  return msg;
}

export function short(x, n = 400) {
  let s = typeof x === "string" ? x : JSON.stringify(x, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  if (s === undefined) s = "";
  s = s.replace(/\s+/g, " ");
  return s.length > n ? s.slice(0, n) + "..." : s;
}

/// JSON with every object's keys sorted: what the aiop_modelInfo checks hash, the same bytes in
/// every client.
export function canonical(v) {
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  if (v && typeof v === "object") return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
  return JSON.stringify(v);
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export function need(value, what) {
  if (value === undefined || value === null) throw new Error(`needs ${what}, which failed`);
  return value;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Polls `fn` until it returns a truthy value or `ms` pass.
export async function until(fn, ms, what, step = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(step);
  }
}

/// A raw JSON-RPC call, bypassing the client (for setup only, never for what is checked).
export async function rawRpc(url, method, params = []) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const j = await res.json();
  if (j.error) throw new Error(`${method}: ${j.error.code} ${j.error.message}`);
  return j.result;
}

const hexToBytes = (h) => Uint8Array.from(Buffer.from(h.replace(/^0x/, "").padStart(2 * Math.ceil((h.length - 2) / 2), "0"), "hex"));
const bytesToBig = (b) => (b.length === 0 ? 0n : BigInt("0x" + Buffer.from(b).toString("hex")));
const bytesHex = (b) => "0x" + Buffer.from(b).toString("hex");

/// Verifies an eth_getProof answer (numbers as bigint or hex, as the client gives them) against
/// a state root with @ethereumjs/mpt: the account proof must prove exactly the account fields
/// the answer states, and each storage proof its value under the account's storageHash.
/// Returns a short description; throws on any mismatch.
export async function verifyProof(stateRoot, p) {
  const big = (v) => BigInt(v);
  const EMPTY_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421";
  const accountRlp = await verifyMerkleProof(hexToBytes(p.address), p.accountProof.map(hexToBytes), {
    root: hexToBytes(stateRoot),
    useKeyHashing: true,
  });
  if (accountRlp === null) {
    if (big(p.nonce) !== 0n || big(p.balance) !== 0n) throw new Error("account proven absent but the answer gives it a nonce or balance");
  } else {
    const [nonce, balance, storageHash, codeHash] = RLP.decode(accountRlp);
    const want = { nonce: big(p.nonce), balance: big(p.balance), storageHash: p.storageHash.toLowerCase(), codeHash: p.codeHash.toLowerCase() };
    const got = { nonce: bytesToBig(nonce), balance: bytesToBig(balance), storageHash: bytesHex(storageHash), codeHash: bytesHex(codeHash) };
    for (const k of Object.keys(want)) {
      if (want[k] !== got[k]) throw new Error(`account ${k}: proof has ${got[k]}, answer says ${want[k]}`);
    }
  }
  const storageRoot = accountRlp === null ? EMPTY_ROOT : p.storageHash;
  for (const s of p.storageProof) {
    const key = hexToBytes("0x" + BigInt(s.key).toString(16).padStart(64, "0"));
    // An empty storage trie is proven by no nodes at all, or by its one node, the empty string
    // 0x80 (whose keccak is the empty root; anvil sends that).
    const emptyTrie = storageRoot.toLowerCase() === EMPTY_ROOT && (s.proof.length === 0 || (s.proof.length === 1 && s.proof[0] === "0x80"));
    const v = emptyTrie ? null : await verifyMerkleProof(key, s.proof.map(hexToBytes), { root: hexToBytes(storageRoot), useKeyHashing: true });
    const got = v === null ? 0n : bytesToBig(RLP.decode(v));
    if (got !== big(s.value)) throw new Error(`slot ${s.key}: proof has ${got}, answer says ${s.value}`);
  }
  return `account ${accountRlp === null ? "absent" : "present"}, ${p.accountProof.length} nodes, ${p.storageProof.length} slots verified`;
}
