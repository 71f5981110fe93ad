#!/usr/bin/env node
// The "first hour" of a dapp developer, through viem (pinned in scripts/package.json), against
// a node's JSON-RPC: one JSON line per check on stdout. Arguments and environment: lib/common.mjs
// (--rpc, --ws, --interval-rpc, --target aiop|anvil, --account N).
import * as C from "./lib/common.mjs";
const {
  createPublicClient,
  createWalletClient,
  createTestClient,
  http,
  webSocket,
  defineChain,
  parseEther,
  keccak256,
  toHex,
  toBytes,
  encodeFunctionData,
  decodeFunctionResult,
  getContractAddress,
  recoverMessageAddress,
  recoverTypedDataAddress,
  recoverTransactionAddress,
  pad,
  isAddressEqual,
  parseAbiItem,
  encodeAbiParameters,
} = C.npm("viem");
const { privateKeyToAccount, mnemonicToAccount, generatePrivateKey } = C.npm("viem/accounts");

const { assert, need, Skip } = C;
const args = C.parseArgs();
const h = C.harness("viem", { only: args.only });
const aiop = args.target === "aiop";

const chainId = Number(await C.rawRpc(args.rpc, "eth_chainId"));
const chain = defineChain({
  id: chainId,
  name: args.target,
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [args.rpc], webSocket: [args.ws] } },
  contracts: { multicall3: { address: C.MULTICALL3 } },
});
const transport = http(args.rpc, { timeout: 20_000 });
const pub = createPublicClient({ chain, transport, pollingInterval: 100, cacheTime: 0 });
const me = privateKeyToAccount(C.DEV_KEYS[args.account]);
const wallet = createWalletClient({ account: me, chain, transport, pollingInterval: 100 });
const rpcWallet = createWalletClient({ account: C.DEV_ADDRS[args.account], chain, transport });
const test = createTestClient({ mode: "anvil", chain, transport });
const abi = C.PROBE.abi;
const storedEvent = parseAbiItem("event Stored(address indexed who, uint256 indexed value, bytes32 tag)");
const STORED_TOPIC = keccak256(toBytes("Stored(address,uint256,bytes32)"));
const ctx = {};

async function send(tx) {
  const hash = await wallet.sendTransaction(tx);
  const receipt = await pub.waitForTransactionReceipt({ hash, timeout: 20_000 });
  return { hash, receipt };
}
function okReceipt(r, type) {
  assert(r.status === "success", `status ${r.status}`);
  assert(r.gasUsed > 0n, "gasUsed 0");
  if (type) assert(r.type === type, `receipt type ${r.type}, want ${type}`);
  return `block ${r.blockNumber} gasUsed ${r.gasUsed} effectiveGasPrice ${r.effectiveGasPrice}`;
}
const setData = (v) => encodeFunctionData({ abi, functionName: "set", args: [BigInt(v)] });
const fresh = () => privateKeyToAccount(generatePrivateKey()).address;

// ---- accounts and plain reads ----
await h.check("accounts.mnemonic", async () => {
  const accounts = await pub.request({ method: "eth_accounts" });
  for (let i = 0; i < 10; i++) {
    const derived = mnemonicToAccount(C.MNEMONIC, { addressIndex: i }).address;
    assert(derived === C.DEV_ADDRS[i], `mnemonic account ${i} is ${derived}`);
    assert(accounts[i] && isAddressEqual(accounts[i], derived), `eth_accounts[${i}] = ${accounts[i]}, mnemonic gives ${derived}`);
  }
  return `${accounts.length} accounts, the first ten are the mnemonic's`;
});
await h.check("read.chainId", async () => {
  const id = await pub.getChainId();
  assert(id === chainId && id > 0, `chain id ${id}`);
  return `${id}`;
});
await h.check("read.blockNumber", async () => {
  const n = await pub.getBlockNumber();
  assert(typeof n === "bigint" && n >= 0n, `${n}`);
  return `${n}`;
});
await h.check("read.getBalance", async () => {
  const b = await pub.getBalance({ address: me.address });
  assert(b > parseEther("1"), `balance ${b}`);
  return `${b}`;
});
await h.check("read.gasPrice", async () => {
  const p = await pub.getGasPrice();
  const block = await pub.getBlock();
  assert(p > 0n, `gas price ${p}`);
  assert(p >= block.baseFeePerGas, `gas price ${p} below the base fee ${block.baseFeePerGas}`);
  return `${p} (base fee ${block.baseFeePerGas})`;
});
await h.check("read.maxPriorityFeePerGas", async () => {
  const tip = await pub.estimateMaxPriorityFeePerGas();
  const fees = await pub.estimateFeesPerGas();
  assert(tip >= 0n && fees.maxFeePerGas >= fees.maxPriorityFeePerGas, `tip ${tip}, fees ${fees.maxFeePerGas}`);
  return `tip ${tip}, maxFee ${fees.maxFeePerGas}`;
});

// ---- deploy, then transactions of every type with estimated gas ----
await h.check("deploy.contract", async () => {
  const nonce = await pub.getTransactionCount({ address: me.address });
  // An explicit gas limit: estimation is what the tx.*.autogas checks test.
  const hash = await wallet.deployContract({ abi, bytecode: C.PROBE.bytecode, gas: 1_000_000n });
  const r = await pub.waitForTransactionReceipt({ hash, timeout: 20_000 });
  assert(r.status === "success", `status ${r.status}`);
  const want = getContractAddress({ from: me.address, nonce: BigInt(nonce) });
  assert(r.contractAddress && isAddressEqual(r.contractAddress, want), `contractAddress ${r.contractAddress}, want ${want}`);
  ctx.probe = r.contractAddress;
  ctx.deployBlock = r.blockNumber;
  return `${r.contractAddress} ${okReceipt(r)}`;
}, { setup: true });
await h.check("tx.legacy.autogas", async () => {
  const to = fresh();
  const { hash, receipt } = await send({ type: "legacy", to, value: 12345n });
  const tx = await pub.getTransaction({ hash });
  assert(tx.type === "legacy" && tx.gasPrice > 0n, `tx type ${tx.type}`);
  assert((await pub.getBalance({ address: to })) === 12345n, "value not received");
  ctx.legacyTx = hash;
  return okReceipt(receipt, "legacy");
});
await h.check("tx.eip2930.autogas", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const accessList = [{ address: probe, storageKeys: [pad("0x0")] }];
  const { hash, receipt } = await send({ type: "eip2930", to: probe, data: setData(2930), accessList });
  const tx = await pub.getTransaction({ hash });
  assert(tx.type === "eip2930", `tx type ${tx.type}`);
  assert(tx.accessList?.length === 1 && isAddressEqual(tx.accessList[0].address, probe), `accessList ${C.short(tx.accessList)}`);
  return okReceipt(receipt, "eip2930");
});
await h.check("tx.eip1559.autogas", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const accessList = [{ address: probe, storageKeys: [pad("0x0")] }];
  const { hash, receipt } = await send({ to: probe, data: setData(1559), accessList });
  const tx = await pub.getTransaction({ hash });
  assert(tx.type === "eip1559" && tx.maxPriorityFeePerGas > 0n, `tx type ${tx.type} tip ${tx.maxPriorityFeePerGas}`);
  assert(tx.accessList?.length === 1, "accessList lost");
  const block = await pub.getBlock({ blockNumber: receipt.blockNumber });
  const eff = block.baseFeePerGas + tx.maxPriorityFeePerGas;
  assert(receipt.effectiveGasPrice === (eff < tx.maxFeePerGas ? eff : tx.maxFeePerGas), `effectiveGasPrice ${receipt.effectiveGasPrice}, base fee ${block.baseFeePerGas}`);
  return okReceipt(receipt, "eip1559");
});
await h.check("tx.eip7702.autogas", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const authority = privateKeyToAccount(generatePrivateKey());
  const authorization = await wallet.signAuthorization({ account: authority, contractAddress: probe });
  const { receipt } = await send({ authorizationList: [authorization], to: authority.address, data: setData(7702) });
  const code = await pub.getCode({ address: authority.address });
  assert(code?.toLowerCase() === ("0xef0100" + probe.slice(2)).toLowerCase(), `code of the authority ${code}`);
  const slot = await pub.getStorageAt({ address: authority.address, slot: "0x0" });
  assert(BigInt(slot) === 7702n, `delegated call did not store: slot 0 = ${slot}`);
  return okReceipt(receipt, "eip7702");
});

// The transaction most later checks look at: probe.set(FIXTURE) with an explicit gas limit
// (so that it does not hang on estimation) and a distinctive tip (for eth_feeHistory).
const FIXTURE = 4444n;
let fixtureP;
const fixture = () => (fixtureP ??= (async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const before = await pub.getStorageAt({ address: probe, slot: "0x0" });
  const { hash, receipt } = await send({ to: probe, data: setData(FIXTURE), gas: 150_000n, maxPriorityFeePerGas: C.DISTINCT_TIP, maxFeePerGas: parseEther("0.0001") });
  assert(receipt.status === "success", `the fixture transaction probe.set(${FIXTURE}) failed: ${receipt.status}`);
  return { hash, receipt, before: BigInt(before ?? 0) };
})());
await h.check("tx.fixture", async () => okReceipt((await fixture()).receipt, "eip1559"));

// ---- reads that need the transactions ----
await h.check("read.getBlock.latest", async () => {
  const b = await pub.getBlock();
  assert(b.hash && b.parentHash && b.stateRoot && b.number >= 0n && b.baseFeePerGas !== null, C.short(b));
  assert(typeof b.transactions[0] !== "object", "hashes expected");
  return `#${b.number} ${b.hash}`;
});
await h.check("read.getBlock.byNumber", async () => {
  const r = (await fixture()).receipt;
  const b = await pub.getBlock({ blockNumber: r.blockNumber });
  assert(b.hash === r.blockHash, `hash ${b.hash}, receipt says ${r.blockHash}`);
  assert(b.transactions.includes(r.transactionHash), "tx not in block");
  return `#${b.number} ${b.transactions.length} txs`;
});
await h.check("read.getBlock.byHash", async () => {
  const r = (await fixture()).receipt;
  const b = await pub.getBlock({ blockHash: r.blockHash });
  assert(b.number === r.blockNumber, `number ${b.number}`);
  const parent = await pub.getBlock({ blockHash: b.parentHash });
  assert(parent.number === b.number - 1n, "parent hash does not name the previous block");
  return `#${b.number}`;
});
await h.check("read.getBlock.fullTxs", async () => {
  const r = (await fixture()).receipt;
  const b = await pub.getBlock({ blockNumber: r.blockNumber, includeTransactions: true });
  const tx = b.transactions.find((t) => t.hash === r.transactionHash);
  assert(tx && typeof tx === "object", "full tx missing");
  assert(tx.blockHash === r.blockHash && isAddressEqual(tx.from, me.address) && tx.type === "eip1559", C.short(tx));
  return `${b.transactions.length} full txs`;
});
await h.check("read.getCode", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const code = await pub.getCode({ address: probe });
  assert(code === C.PROBE.deployedBytecode, `code ${C.short(code, 80)}`);
  const none = await pub.getCode({ address: fresh() });
  assert(none === undefined || none === "0x", `empty account code ${none}`);
  return `${(code.length - 2) / 2} bytes`;
});
await h.check("read.getStorageAt", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const v = await pub.getStorageAt({ address: probe, slot: "0x0" });
  const viaCall = await pub.readContract({ address: probe, abi, functionName: "get" });
  assert(BigInt(v) === viaCall && viaCall === FIXTURE, `slot 0 ${v}, get() ${viaCall}`);
  const mapSlot = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [me.address, 1n]));
  const m = await pub.getStorageAt({ address: probe, slot: mapSlot });
  assert(BigInt(m) === FIXTURE, `byWho slot ${m}`);
  return `slot0 ${BigInt(v)}`;
});
await h.check("read.getTransactionCount", async () => {
  const n = await pub.getTransactionCount({ address: me.address });
  const pending = await pub.getTransactionCount({ address: me.address, blockTag: "pending" });
  assert(n >= 4 && pending === n, `latest ${n} pending ${pending}`);
  return `${n}`;
});
await h.check("read.feeHistory", async () => {
  const fh = await pub.getFeeHistory({ blockCount: 4, rewardPercentiles: [25, 50, 75] });
  const head = await pub.getBlockNumber();
  const n = fh.gasUsedRatio.length;
  assert(n >= 1 && n <= 4, `gasUsedRatio length ${n}`);
  assert(fh.baseFeePerGas.length === n + 1, `baseFeePerGas length ${fh.baseFeePerGas.length}`);
  assert(fh.reward.length === n && fh.reward.every((r) => r.length === 3), `reward shape ${C.short(fh.reward)}`);
  assert(fh.oldestBlock + BigInt(n) - 1n <= head && fh.oldestBlock + BigInt(n) - 1n >= head - 1n, `oldestBlock ${fh.oldestBlock}, head ${head}`);
  assert(fh.gasUsedRatio.every((g) => g >= 0 && g <= 1), "gasUsedRatio out of range");
  return `oldest ${fh.oldestBlock}, ${n} blocks`;
});
await h.check("read.feeHistory.rewards", async () => {
  const r = (await fixture()).receipt;
  const fh = await pub.getFeeHistory({ blockCount: 1, blockNumber: r.blockNumber, rewardPercentiles: [25, 50, 75] });
  assert(fh.oldestBlock === r.blockNumber, `oldestBlock ${fh.oldestBlock}, asked for ${r.blockNumber}`);
  const block = await pub.getBlock({ blockNumber: r.blockNumber });
  assert(fh.baseFeePerGas[0] === block.baseFeePerGas, `baseFee ${fh.baseFeePerGas[0]} vs block ${block.baseFeePerGas}`);
  // The block holds our transaction alone (automine): every percentile is its tip.
  assert(fh.reward[0].every((x) => x === C.DISTINCT_TIP), `rewards ${fh.reward[0]}, the block's only tx tipped ${C.DISTINCT_TIP}`);
  return `rewards ${fh.reward[0].join(",")}`;
});

// ---- events ----
await h.check("logs.byAddressTopic", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const logs = await pub.getLogs({ address: probe, event: storedEvent, args: { who: me.address }, fromBlock: 0n, toBlock: "latest" });
  const values = logs.map((l) => l.args.value);
  assert(values.includes(FIXTURE), `values ${values}`);
  const byTopic = await pub.getLogs({ address: probe, event: storedEvent, args: { value: FIXTURE }, fromBlock: ctx.deployBlock });
  assert(byTopic.length === 1 && byTopic[0].topics[0] === STORED_TOPIC, `by value topic: ${byTopic.length} logs`);
  const l = byTopic[0];
  assert(l.args.tag === keccak256(encodeAbiParameters([{ type: "uint256" }], [FIXTURE])) && l.transactionHash === (await fixture()).hash, "data not decoded");
  return `${logs.length} logs`;
});
await h.check("logs.byBlockHash", async () => {
  const r = (await fixture()).receipt;
  const logs = await pub.getLogs({ blockHash: r.blockHash });
  assert(logs.length === 1 && logs[0].transactionHash === r.transactionHash && logs[0].logIndex === 0, C.short(logs));
  assert(logs[0].blockNumber === r.blockNumber && logs[0].blockHash === r.blockHash, "log block fields");
  return `${logs.length} log, index ${logs[0].logIndex}`;
});
await h.check("logs.fromBlockPastHead", async () => {
  need(ctx.probe, "deploy.contract");
  const head = await pub.getBlockNumber();
  // [] or an error (geth: "invalid block range") are both right; the head's logs are not.
  const outcomes = [];
  for (const q of [{ fromBlock: head + 10n, toBlock: "latest" }, { fromBlock: head + 1n }, { fromBlock: head + 5n, toBlock: head + 9n }]) {
    try {
      const logs = await pub.getLogs(q);
      assert(logs.length === 0, `${logs.length} logs for ${C.short(q)} (head ${head})`);
      outcomes.push("[]");
    } catch (e) {
      if (e.message.includes("logs for")) throw e;
      outcomes.push(`error ${e.cause?.code ?? ""}`);
    }
  }
  return outcomes.join(", ");
});
await h.check("filter.logs", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const filter = await pub.createContractEventFilter({ address: probe, abi, eventName: "Stored" });
  const { hash } = await send({ to: probe, data: setData(4242) });
  const first = await pub.getFilterChanges({ filter });
  const second = await pub.getFilterChanges({ filter });
  await pub.uninstallFilter({ filter });
  assert(first.length === 1 && first[0].transactionHash === hash && first[0].args.value === 4242n, `first poll ${C.short(first)}`);
  assert(second.length === 0, `second poll gave ${second.length} again`);
  return "1 then 0";
});
await h.check("filter.blocks", async () => {
  const filter = await pub.createBlockFilter();
  const { receipt } = await send({ to: fresh(), value: 1n });
  const hashes = await pub.getFilterChanges({ filter });
  const again = await pub.getFilterChanges({ filter });
  await pub.uninstallFilter({ filter });
  assert(hashes.includes(receipt.blockHash), `block ${receipt.blockHash} not in ${C.short(hashes)}`);
  assert(again.length === 0 || !again.includes(receipt.blockHash), "block reported twice");
  return `${hashes.length} new blocks`;
});

// ---- subscriptions over WebSocket ----
function wsClient() {
  return createPublicClient({ chain, transport: webSocket(args.ws, { timeout: 10_000, reconnect: false }) });
}
async function subscription(watch, trigger, match, what) {
  const ws = wsClient();
  let unwatch;
  try {
    const seen = [];
    const got = new Promise((resolve, reject) => {
      unwatch = watch(ws, (item) => {
        seen.push(item);
        if (match(item)) resolve(item);
      }, reject);
    });
    got.catch(() => {}); // awaited below; a rejection before that is not "unhandled"
    await C.sleep(500); // let the subscription be acknowledged
    const t = await trigger();
    // The notification may have come before the trigger returned (and knew what to match).
    const early = seen.find(match);
    const item = early ?? (await Promise.race([got, C.sleep(10_000).then(() => { throw new Error(`no ${what} within 10s (${seen.length} others)`); })]));
    return { item, t, seen };
  } finally {
    try { unwatch?.(); } catch {}
    try { (await ws.transport.getRpcClient()).close(); } catch {}
  }
}
await h.check("ws.newHeads", async () => {
  let target;
  const { item } = await subscription(
    (ws, on, err) => ws.watchBlocks({ onBlock: on, onError: err, poll: false, emitOnBegin: false }),
    async () => { target = (await send({ to: fresh(), value: 1n })).receipt; },
    (b) => target && b.number >= target.blockNumber,
    "new head",
  );
  assert(item.hash && item.parentHash, "header fields");
  return `head #${item.number}`;
});
await h.check("ws.logs", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  let hash;
  const { item } = await subscription(
    (ws, on, err) => ws.watchContractEvent({ address: probe, abi, eventName: "Stored", poll: false, onLogs: (ls) => ls.forEach(on), onError: err }),
    async () => { hash = (await send({ to: probe, data: setData(777) })).hash; },
    (l) => hash && l.transactionHash === hash,
    "log",
  );
  assert(item.args.value === 777n, `value ${item.args.value}`);
  return `log of ${item.transactionHash}`;
});
await h.check("ws.newPendingTransactions", async () => {
  let hash;
  const { item } = await subscription(
    (ws, on, err) => ws.watchPendingTransactions({ poll: false, onTransactions: (hs) => hs.forEach(on), onError: err }),
    async () => { hash = (await send({ to: fresh(), value: 1n })).hash; },
    (x) => hash && x === hash,
    "pending tx hash",
  );
  return `${item}`;
});

// ---- traces ----
const trace = (method, params) => pub.request({ method, params });
await h.check("trace.struct", async () => {
  const { hash } = (await fixture());
  const t = await trace("debug_traceTransaction", [hash, {}]);
  assert(t.failed === false && Array.isArray(t.structLogs) && t.structLogs.length > 10, `trace ${C.short(t, 200)}`);
  const ops = new Set(t.structLogs.map((s) => s.op));
  assert(ops.has("SSTORE") && ops.has("LOG3"), `ops ${[...ops].slice(0, 20)}`);
  const r = (await fixture()).receipt;
  assert(BigInt(t.gas) === r.gasUsed, `trace gas ${t.gas}, receipt gasUsed ${r.gasUsed}`);
  return `${t.structLogs.length} steps, gas ${t.gas}`;
});
await h.check("trace.callTracer", async () => {
  const { hash } = (await fixture());
  const t = await trace("debug_traceTransaction", [hash, { tracer: "callTracer", tracerConfig: { withLog: true } }]);
  assert(t.type === "CALL" && isAddressEqual(t.to, ctx.probe) && isAddressEqual(t.from, me.address), C.short(t, 200));
  assert(t.input === setData(FIXTURE), `input ${t.input}`);
  assert(BigInt(t.gasUsed) === (await fixture()).receipt.gasUsed, `gasUsed ${t.gasUsed}`);
  assert(t.logs?.length === 1, `logs ${C.short(t.logs)}`);
  return `CALL gasUsed ${BigInt(t.gasUsed)}`;
});
await h.check("trace.prestateTracer", async () => {
  const { hash } = (await fixture());
  const t = await trace("debug_traceTransaction", [hash, { tracer: "prestateTracer" }]);
  const key = (a) => Object.keys(t).find((k) => isAddressEqual(k, a));
  const sender = t[key(me.address)];
  const probe = t[key(ctx.probe)];
  assert(sender && BigInt(sender.balance) > 0n && sender.nonce > 0, `sender ${C.short(sender)}`);
  assert(probe && probe.code === C.PROBE.deployedBytecode, `probe ${C.short(probe, 100)}`);
  const { before } = await fixture();
  assert(probe.storage && BigInt(probe.storage[pad("0x0")] ?? "0x0") === before, `probe storage ${C.short(probe.storage)}, slot 0 was ${before}`);
  return `${Object.keys(t).length} accounts`;
});
await h.check("trace.call", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const t = await trace("debug_traceCall", [{ from: me.address, to: probe, data: encodeFunctionData({ abi, functionName: "get" }) }, "latest", { tracer: "callTracer" }]);
  assert(t.type === "CALL" && BigInt(t.output) > 0n, C.short(t, 200));
  const s = await trace("debug_traceCall", [{ from: me.address, to: probe, data: setData(5) }, "latest", {}]);
  assert(s.failed === false && s.structLogs.some((x) => x.op === "SSTORE"), "struct logger");
  return `output ${t.output}`;
});

// ---- access lists, proofs, overrides ----
await h.check("accessList.create", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const r = await pub.createAccessList({ account: me.address, to: probe, data: setData(99) });
  const entry = r.accessList.find((e) => isAddressEqual(e.address, probe));
  const mapSlot = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [me.address, 1n]));
  assert(entry && entry.storageKeys.includes(pad("0x0")) && entry.storageKeys.includes(mapSlot), `list ${C.short(r.accessList)}`);
  assert(r.gasUsed > 21000n, `gasUsed ${r.gasUsed}`);
  const est = await pub.estimateGas({ account: me.address, to: probe, data: setData(99), accessList: r.accessList });
  assert(est >= r.gasUsed, `estimate with the list ${est} < its gasUsed ${r.gasUsed}`);
  return `${entry.storageKeys.length} keys, gasUsed ${r.gasUsed}`;
});
async function proofCheck(address, storageKeys) {
  const blockNumber = await pub.getBlockNumber();
  const [p, block] = await Promise.all([pub.getProof({ address, storageKeys, blockNumber }), pub.getBlock({ blockNumber })]);
  const balance = await pub.getBalance({ address, blockNumber });
  assert(p.balance === balance, `proof balance ${p.balance}, getBalance ${balance}`);
  const verified = await C.verifyProof(block.stateRoot, p);
  // The verifier is not vacuous: the same proof against another root, or with a changed
  // balance, must not verify.
  const otherRoot = block.stateRoot.slice(0, -2) + (block.stateRoot.endsWith("00") ? "01" : "00");
  for (const [what, root, q] of [["another root", otherRoot, p], ["a changed balance", block.stateRoot, { ...p, balance: p.balance + 1n }]]) {
    const accepted = await C.verifyProof(root, q).then(() => true, () => false);
    assert(!accepted, `the proof also verifies with ${what}`);
  }
  return `${verified} at #${blockNumber}`;
}
await h.check("proof.eoa", () => proofCheck(me.address, []));
await h.check("proof.contract", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const mapSlot = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [me.address, 1n]));
  return proofCheck(probe, [pad("0x0"), mapSlot, pad("0x5")]);
});
await h.check("override.balance", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const who = fresh();
  const v = await pub.readContract({ address: probe, abi, functionName: "balanceOf", args: [who], stateOverride: [{ address: who, balance: 123456789n }] });
  assert(v === 123456789n, `balanceOf under the override ${v}`);
  const plain = await pub.readContract({ address: probe, abi, functionName: "balanceOf", args: [who] });
  assert(plain === 0n, `without override ${plain}`);
  return `${v}`;
});
await h.check("override.code", async () => {
  const at = fresh();
  const r = await pub.call({ to: at, data: "0x", stateOverride: [{ address: at, code: C.RETURN_42 }] });
  assert(r.data && BigInt(r.data) === 42n, `result ${r.data}`);
  return r.data;
});
await h.check("override.stateDiff", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const v = await pub.readContract({ address: probe, abi, functionName: "get", stateOverride: [{ address: probe, stateDiff: [{ slot: pad("0x0"), value: pad("0xa1a1a1") }] }] });
  // 0xa1a1a1: a value no check stores, so only the override can make get() return it
  assert(v === 0xa1a1a1n, `get() under the override ${v}`);
  return `${v}`;
});

// ---- historical state ----
await h.check("history.getBalance", async () => {
  const b0 = need(ctx.deployBlock, "deploy.contract");
  const [then, now] = await Promise.all([pub.getBalance({ address: me.address, blockNumber: b0 }), pub.getBalance({ address: me.address })]);
  assert(then > now, `balance at #${b0} ${then}, now ${now}`);
  return `#${b0}: ${then} > ${now}`;
});
await h.check("history.getTransactionCount", async () => {
  const b0 = need(ctx.deployBlock, "deploy.contract");
  const then = await pub.getTransactionCount({ address: me.address, blockNumber: b0 });
  const before = await pub.getTransactionCount({ address: me.address, blockNumber: b0 - 1n });
  const now = await pub.getTransactionCount({ address: me.address });
  assert(then === before + 1 && now > then, `nonce at #${b0 - 1n} ${before}, at #${b0} ${then}, now ${now}`);
  return `${before} -> ${then} -> ${now}`;
});
await h.check("history.getStorageAt", async () => {
  const b0 = need(ctx.deployBlock, "deploy.contract");
  const then = await pub.getStorageAt({ address: ctx.probe, slot: "0x0", blockNumber: b0 });
  const now = await pub.getStorageAt({ address: ctx.probe, slot: "0x0" });
  assert(BigInt(then) === 0n && BigInt(now) !== 0n, `slot 0 at #${b0} ${then}, now ${now}`);
  const code = await pub.getCode({ address: ctx.probe, blockNumber: b0 - 1n });
  assert(code === undefined || code === "0x", `code before the deployment ${C.short(code, 40)}`);
  return `0 -> ${BigInt(now)}`;
});
await h.check("history.call", async () => {
  const b0 = need(ctx.deployBlock, "deploy.contract");
  const then = await pub.readContract({ address: ctx.probe, abi, functionName: "get", blockNumber: b0 });
  const now = await pub.readContract({ address: ctx.probe, abi, functionName: "get" });
  assert(then === 0n && now !== 0n, `get() at #${b0} ${then}, now ${now}`);
  return `0 -> ${now}`;
});

// ---- multicall ----
await h.check("multicall.aggregate3", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const res = await pub.multicall({
    contracts: [
      { address: probe, abi, functionName: "get" },
      { address: C.MULTICALL3, abi: C.MULTICALL3_ABI, functionName: "getEthBalance", args: [me.address] },
      { address: probe, abi, functionName: "spin" }, // fails (out of gas): allowFailure
    ],
  });
  const want = await pub.readContract({ address: probe, abi, functionName: "get" });
  assert(res[0].status === "success" && res[0].result === want, `get ${C.short(res[0])}`);
  assert(res[1].status === "success" && res[1].result === (await pub.getBalance({ address: me.address })), `balance ${C.short(res[1])}`);
  assert(res[2].status === "failure", "spin() should fail");
  return `get ${res[0].result}, balance ${res[1].result}`;
}, { timeout: 60_000 });

// ---- signing with the node's dev accounts ----
const addr = C.DEV_ADDRS[args.account];
await h.check("sign.personal", async () => {
  const message = "aiop first hour";
  const signature = await rpcWallet.signMessage({ message });
  const who = await recoverMessageAddress({ message, signature });
  assert(isAddressEqual(who, addr), `recovered ${who}`);
  assert(signature === (await me.signMessage({ message })), "signature differs from a local signature");
  return `${signature.slice(0, 18)}...`;
});
await h.check("sign.eth_sign", async () => {
  const data = toHex("aiop eth_sign");
  const signature = await pub.request({ method: "eth_sign", params: [addr, data] });
  const who = await recoverMessageAddress({ message: { raw: data }, signature });
  assert(isAddressEqual(who, addr), `recovered ${who}`);
  return `${signature.slice(0, 18)}...`;
});
const typed = {
  domain: { name: "aiop", version: "1", chainId, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" },
  types: { Mail: [{ name: "from", type: "address" }, { name: "contents", type: "string" }, { name: "n", type: "uint256" }] },
  primaryType: "Mail",
  message: { from: addr, contents: "hello", n: 7n },
};
await h.check("sign.typedDataV4", async () => {
  const signature = await rpcWallet.signTypedData(typed);
  const who = await recoverTypedDataAddress({ ...typed, signature });
  assert(isAddressEqual(who, addr), `recovered ${who}`);
  assert(signature === (await me.signTypedData(typed)), "signature differs from a local signature");
  return `${signature.slice(0, 18)}...`;
});
await h.check("sign.transaction", async () => {
  const nonce = await pub.getTransactionCount({ address: addr });
  const fees = await pub.estimateFeesPerGas();
  const serialized = await rpcWallet.signTransaction({ to: addr, value: 1n, gas: 21000n, nonce, ...fees, chain });
  const who = await recoverTransactionAddress({ serializedTransaction: serialized });
  assert(isAddressEqual(who, addr), `recovered ${who}`);
  return `${serialized.slice(0, 18)}...`;
});

// ---- the pool, on the interval-mining node ----
let pool;
async function poolSetup() {
  if (!args.intervalRpc) throw new Error("no interval-mining node (--interval-rpc)");
  const ichain = defineChain({ ...chain, id: Number(await C.rawRpc(args.intervalRpc, "eth_chainId")), rpcUrls: { default: { http: [args.intervalRpc] } } });
  const it = http(args.intervalRpc);
  const ipub = createPublicClient({ chain: ichain, transport: it, pollingInterval: 100, cacheTime: 0 });
  const iwal = createWalletClient({ account: me, chain: ichain, transport: it });
  const to = fresh();
  // Up to three tries: the transaction must still be pending when the pool is read.
  for (let attempt = 1; ; attempt++) {
    const n0 = await ipub.getBlockNumber();
    await C.until(async () => (await ipub.getBlockNumber()) > n0, 5000, "a new block on the interval node");
    const hash = await iwal.sendTransaction({ to, value: 5n });
    const [status, content, inspect] = await Promise.all(["txpool_status", "txpool_content", "txpool_inspect"].map((m) => ipub.request({ method: m }).catch((e) => e)));
    const receipt = await ipub.waitForTransactionReceipt({ hash, timeout: 10_000 });
    const seen = !(content instanceof Error) && JSON.stringify(content).includes(hash);
    if (seen || attempt === 3 || content instanceof Error) return { to, hash, status, content, inspect, receipt };
  }
}
const poolOnce = () => (pool ??= poolSetup());
const mineOf = (o) => Object.entries(o.pending || {}).find(([k]) => isAddressEqual(k, me.address))?.[1] || {};
const unwrap = (x) => { if (x instanceof Error) throw x; return x; };
await h.check("txpool.status", async () => {
  const p = await poolOnce();
  const status = unwrap(p.status);
  assert(Number(status.pending) >= 1 && status.queued !== undefined, `txpool_status ${C.short(status)}`);
  return `pending ${Number(status.pending)} queued ${Number(status.queued)}`;
});
await h.check("txpool.content", async () => {
  const p = await poolOnce();
  const entry = Object.values(mineOf(unwrap(p.content))).find((t) => t.hash === p.hash);
  assert(entry && isAddressEqual(entry.to, p.to) && BigInt(entry.value) === 5n, `txpool_content lacks the tx: ${C.short(p.content, 200)}`);
  return `nonce ${Number(entry.nonce)}`;
});
await h.check("txpool.inspect", async () => {
  const p = await poolOnce();
  const line = Object.values(mineOf(unwrap(p.inspect)))[0];
  assert(typeof line === "string" && line.toLowerCase().includes(p.to.slice(2, 10).toLowerCase()), `txpool_inspect ${C.short(p.inspect, 200)}`);
  return `"${line}"`;
});
await h.check("txpool.mined", async () => {
  const p = await poolOnce();
  assert(p.receipt.status === "success", "the pooled transaction failed");
  return `block ${p.receipt.blockNumber}`;
});

// ---- dev cheats ----
await h.check("evm.snapshotRevert", async () => {
  const to = fresh();
  const n0 = await pub.getBlockNumber();
  const id = await test.snapshot();
  await send({ to, value: 99n });
  assert((await pub.getBalance({ address: to })) === 99n, "transfer before revert");
  await test.revert({ id });
  const after = await pub.getBalance({ address: to });
  const n1 = await pub.getBlockNumber();
  assert(after === 0n && n1 === n0, `after revert: balance ${after}, block ${n1} (was ${n0})`);
  return `snapshot ${id}, back to #${n1}`;
});
await h.check("evm.increaseTime", async () => {
  const t0 = (await pub.getBlock()).timestamp;
  await test.increaseTime({ seconds: 3600 });
  await pub.request({ method: "evm_mine" });
  const t1 = (await pub.getBlock()).timestamp;
  assert(t1 >= t0 + 3600n, `timestamp ${t0} -> ${t1}`);
  return `+${t1 - t0}s`;
});
await h.check("evm.mine", async () => {
  const n0 = await pub.getBlockNumber();
  await pub.request({ method: "evm_mine" });
  const n1 = await pub.getBlockNumber();
  assert(n1 === n0 + 1n, `${n0} -> ${n1}`);
  return `#${n1}`;
});
await h.check("anvil.setBalance", async () => {
  const who = fresh();
  await test.setBalance({ address: who, value: parseEther("42") });
  const b = await pub.getBalance({ address: who });
  assert(b === parseEther("42"), `balance ${b}`);
  return `${b}`;
});

// ---- the inference precompile (aiop only) ----
async function rawCall(data, to = C.PRECOMPILE) {
  const r = await pub.call({ to, data });
  assert(r.data && r.data.length > 2, `empty result`);
  return r.data;
}
await h.check("precompile.modelInfo", async () => {
  if (!aiop) throw new Skip("aiop only: no inference precompile");
  const data = encodeFunctionData({ abi: C.IAIOP_ABI, functionName: "modelInfo", args: [C.DIGITS_MLP] });
  const out = await rawCall(data);
  const info = decodeFunctionResult({ abi: C.IAIOP_ABI, functionName: "modelInfo", data: out });
  assert(info.inputLength === 64n && info.outputLength === 10n, `lengths ${info.inputLength} ${info.outputLength}`);
  return `keccak=${keccak256(out)} len=${(out.length - 2) / 2}`;
});
await h.check("precompile.infer", async () => {
  if (!aiop) throw new Skip("aiop only: no inference precompile");
  const out = await pub.readContract({ address: C.PRECOMPILE, abi: C.IAIOP_ABI, functionName: "infer", args: [C.DIGITS_MLP, C.DIGITS_INPUT] });
  assert((out.length - 2) / 2 === 10, `output ${out}`);
  return `keccak=${keccak256(out)} out=${out}`;
});
await h.check("precompile.mlperf", async () => {
  if (!aiop) throw new Skip("aiop only: no inference precompile");
  const out = await rawCall(encodeFunctionData({ abi: C.IAIOP_ABI, functionName: "modelInfo", args: [C.MLPERF_KWS] }));
  return `keccak=${keccak256(out)} len=${(out.length - 2) / 2}`;
});
await h.check("aiop.modelInfo", async () => {
  if (!aiop) throw new Skip("aiop only: aiop_modelInfo");
  const info = await pub.request({ method: "aiop_modelInfo", params: [C.DIGITS_MLP] });
  assert(info.input?.bytes === 64 && info.output?.bytes === 10, C.short(info));
  return `keccak=${keccak256(toHex(C.canonical(info)))} id=${info.id}`;
});
process.exit(0);
