#!/usr/bin/env node
// The "first hour" of a dapp developer, through ethers v6 (pinned in scripts/package.json),
// against a node's JSON-RPC: one JSON line per check on stdout. Arguments and environment:
// lib/common.mjs (--rpc, --ws, --interval-rpc, --target aiop|anvil, --account N). What ethers
// has no method for (feeHistory, filters, traces, proofs, overrides, txpool, evm_*) goes
// through provider.send, and its answers are checked here.
import * as C from "./lib/common.mjs";
const ethers = C.npm("ethers");
const {
  JsonRpcProvider,
  WebSocketProvider,
  Wallet,
  HDNodeWallet,
  Contract,
  ContractFactory,
  Interface,
  Transaction,
  getCreateAddress,
  keccak256,
  toUtf8Bytes,
  hexlify,
  zeroPadValue,
  toBeHex,
  AbiCoder,
  verifyMessage,
  verifyTypedData,
  parseEther,
  id: topicOf,
} = ethers;

const { assert, need, Skip } = C;
const args = C.parseArgs();
const h = C.harness("ethers", { only: args.only });
const aiop = args.target === "aiop";
const same = (a, b) => typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

const chainId = Number(await C.rawRpc(args.rpc, "eth_chainId"));
const provider = new JsonRpcProvider(args.rpc, chainId, { staticNetwork: true, cacheTimeout: -1 }); // batches requests, as by default
provider.pollingInterval = 100;
const me = new Wallet(C.DEV_KEYS[args.account], provider);
const addr = me.address;
const iface = new Interface(C.PROBE.abi);
const coder = AbiCoder.defaultAbiCoder();
const STORED_TOPIC = topicOf("Stored(address,uint256,bytes32)");
const mapSlot = keccak256(coder.encode(["address", "uint256"], [addr, 1n]));
const slot0 = zeroPadValue("0x00", 32);
const ctx = {};
const fresh = () => Wallet.createRandom().address;
const send = (m, p) => provider.send(m, p);

async function sendTx(tx, signer = me) {
  const resp = await signer.sendTransaction(tx);
  const receipt = await resp.wait(1, 20_000);
  return { hash: resp.hash, receipt, resp };
}
function okReceipt(r, type) {
  assert(r.status === 1, `status ${r.status}`);
  assert(r.gasUsed > 0n, "gasUsed 0");
  if (type !== undefined) assert(r.type === type, `receipt type ${r.type}, want ${type}`);
  return `block ${r.blockNumber} gasUsed ${r.gasUsed} effectiveGasPrice ${r.gasPrice}`;
}
const setData = (v) => iface.encodeFunctionData("set", [BigInt(v)]);
const probeC = () => new Contract(need(ctx.probe, "deploy.contract"), C.PROBE.abi, me);

// ---- accounts and plain reads ----
await h.check("accounts.mnemonic", async () => {
  const accounts = await provider.listAccounts();
  for (let i = 0; i < 10; i++) {
    const derived = HDNodeWallet.fromPhrase(C.MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).address;
    assert(derived === C.DEV_ADDRS[i], `mnemonic account ${i} is ${derived}`);
    assert(accounts[i] && same(accounts[i].address, derived), `eth_accounts[${i}] = ${accounts[i]?.address}`);
  }
  return `${accounts.length} accounts, the first ten are the mnemonic's`;
});
await h.check("read.chainId", async () => {
  const net = await new JsonRpcProvider(args.rpc).getNetwork();
  assert(Number(net.chainId) === chainId && chainId > 0, `chain id ${net.chainId}`);
  return `${net.chainId}`;
});
await h.check("read.blockNumber", async () => {
  const n = await provider.getBlockNumber();
  assert(Number.isInteger(n) && n >= 0, `${n}`);
  return `${n}`;
});
await h.check("read.getBalance", async () => {
  const b = await provider.getBalance(addr);
  assert(b > parseEther("1"), `${b}`);
  return `${b}`;
});
await h.check("read.gasPrice", async () => {
  const fd = await provider.getFeeData();
  const block = await provider.getBlock("latest");
  assert(fd.gasPrice > 0n && fd.gasPrice >= block.baseFeePerGas, `gasPrice ${fd.gasPrice}, base fee ${block.baseFeePerGas}`);
  return `${fd.gasPrice}`;
});
await h.check("read.maxPriorityFeePerGas", async () => {
  const tip = BigInt(await send("eth_maxPriorityFeePerGas", []));
  const fd = await provider.getFeeData();
  assert(tip >= 0n && fd.maxFeePerGas >= fd.maxPriorityFeePerGas, `tip ${tip}, feeData ${fd.maxFeePerGas}/${fd.maxPriorityFeePerGas}`);
  return `tip ${tip}, feeData maxFee ${fd.maxFeePerGas}`;
});

// ---- deploy, then transactions of every type with estimated gas ----
await h.check("deploy.contract", async () => {
  const nonce = await provider.getTransactionCount(addr);
  const factory = new ContractFactory(C.PROBE.abi, C.PROBE.bytecode, me);
  // An explicit gas limit: estimation is what the tx.*.autogas checks test.
  const c = await factory.deploy({ gasLimit: 1_000_000n });
  const receipt = await c.deploymentTransaction().wait(1, 20_000);
  const want = getCreateAddress({ from: addr, nonce });
  assert(same(receipt.contractAddress, want) && same(await c.getAddress(), want), `contractAddress ${receipt.contractAddress}, want ${want}`);
  ctx.probe = want;
  ctx.deployBlock = receipt.blockNumber;
  return `${want} ${okReceipt(receipt)}`;
}, { setup: true });
await h.check("tx.legacy.autogas", async () => {
  const to = fresh();
  const { hash, receipt } = await sendTx({ type: 0, to, value: 12345n });
  const tx = await provider.getTransaction(hash);
  assert(tx.type === 0 && tx.gasPrice > 0n, `tx type ${tx.type}`);
  assert((await provider.getBalance(to)) === 12345n, "value not received");
  return okReceipt(receipt, 0);
});
await h.check("tx.eip2930.autogas", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const accessList = [{ address: probe, storageKeys: [slot0] }];
  const { hash, receipt } = await sendTx({ type: 1, to: probe, data: setData(2930), accessList });
  const tx = await provider.getTransaction(hash);
  assert(tx.type === 1 && tx.accessList?.length === 1 && same(tx.accessList[0].address, probe), `tx ${tx.type} ${C.short(tx.accessList)}`);
  return okReceipt(receipt, 1);
});
await h.check("tx.eip1559.autogas", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const accessList = [{ address: probe, storageKeys: [slot0] }];
  const { hash, receipt } = await sendTx({ type: 2, to: probe, data: setData(1559), accessList });
  const tx = await provider.getTransaction(hash);
  assert(tx.type === 2 && tx.maxPriorityFeePerGas > 0n && tx.accessList?.length === 1, `tx ${tx.type}`);
  const block = await provider.getBlock(receipt.blockNumber);
  const eff = block.baseFeePerGas + tx.maxPriorityFeePerGas;
  assert(receipt.gasPrice === (eff < tx.maxFeePerGas ? eff : tx.maxFeePerGas), `effectiveGasPrice ${receipt.gasPrice}`);
  return okReceipt(receipt, 2);
});
await h.check("tx.eip7702.autogas", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const authority = Wallet.createRandom(provider);
  const auth = await authority.authorize({ address: probe });
  const { receipt } = await sendTx({ type: 4, to: authority.address, data: setData(7702), authorizationList: [auth] });
  const code = await provider.getCode(authority.address);
  assert(same(code, "0xef0100" + probe.slice(2)), `code of the authority ${code}`);
  const v = await provider.getStorage(authority.address, 0);
  assert(BigInt(v) === 7702n, `delegated call did not store: ${v}`);
  return okReceipt(receipt, 4);
});

// The transaction most later checks look at: probe.set(FIXTURE), explicit gas, distinctive tip.
const FIXTURE = 5555n;
let fixtureP;
const fixture = () => (fixtureP ??= (async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const before = BigInt(await provider.getStorage(probe, 0));
  const { hash, receipt } = await sendTx({ type: 2, to: probe, data: setData(FIXTURE), gasLimit: 150_000n, maxPriorityFeePerGas: C.DISTINCT_TIP, maxFeePerGas: parseEther("0.0001") });
  assert(receipt.status === 1, `the fixture transaction probe.set(${FIXTURE}) failed`);
  return { hash, receipt, before };
})());
await h.check("tx.fixture", async () => okReceipt((await fixture()).receipt, 2));

// ---- reads that need the transactions ----
await h.check("read.getBlock.latest", async () => {
  const b = await provider.getBlock("latest");
  assert(b && b.hash && b.parentHash && b.stateRoot && b.number >= 0 && b.baseFeePerGas !== null, C.short(b));
  return `#${b.number} ${b.hash}`;
});
await h.check("read.getBlock.byNumber", async () => {
  const { receipt } = await fixture();
  const b = await provider.getBlock(receipt.blockNumber);
  assert(b.hash === receipt.blockHash && b.transactions.includes(receipt.hash), `block ${b.hash} vs receipt ${receipt.blockHash}`);
  return `#${b.number} ${b.transactions.length} txs`;
});
await h.check("read.getBlock.byHash", async () => {
  const { receipt } = await fixture();
  const b = await provider.getBlock(receipt.blockHash);
  assert(b.number === receipt.blockNumber, `number ${b.number}`);
  const parent = await provider.getBlock(b.parentHash);
  assert(parent.number === b.number - 1, "parent hash does not name the previous block");
  return `#${b.number}`;
});
await h.check("read.getBlock.fullTxs", async () => {
  const { receipt } = await fixture();
  const b = await provider.getBlock(receipt.blockNumber, true);
  const tx = b.prefetchedTransactions.find((t) => t.hash === receipt.hash);
  assert(tx && same(tx.from, addr) && tx.type === 2 && tx.blockHash === receipt.blockHash, C.short(tx));
  return `${b.prefetchedTransactions.length} full txs`;
});
await h.check("read.getCode", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const code = await provider.getCode(probe);
  assert(code === C.PROBE.deployedBytecode, `code ${C.short(code, 80)}`);
  assert((await provider.getCode(fresh())) === "0x", "empty account has code");
  return `${(code.length - 2) / 2} bytes`;
});
await h.check("read.getStorageAt", async () => {
  await fixture();
  const v = await provider.getStorage(ctx.probe, 0);
  const m = await provider.getStorage(ctx.probe, mapSlot);
  const viaCall = await probeC().get();
  assert(BigInt(v) === FIXTURE && viaCall === FIXTURE && BigInt(m) === FIXTURE, `slot 0 ${v}, byWho ${m}, get() ${viaCall}`);
  return `slot0 ${BigInt(v)}`;
});
await h.check("read.getTransactionCount", async () => {
  const n = await provider.getTransactionCount(addr, "latest");
  const p = await provider.getTransactionCount(addr, "pending");
  assert(n >= 4 && p === n, `latest ${n} pending ${p}`);
  return `${n}`;
});
await h.check("read.feeHistory", async () => {
  const fh = await send("eth_feeHistory", ["0x4", "latest", [25, 50, 75]]);
  const head = await provider.getBlockNumber();
  const n = fh.gasUsedRatio.length;
  assert(n >= 1 && n <= 4 && fh.baseFeePerGas.length === n + 1, `lengths ${n} ${fh.baseFeePerGas.length}`);
  assert(fh.reward.length === n && fh.reward.every((r) => r.length === 3), `reward ${C.short(fh.reward)}`);
  const last = Number(fh.oldestBlock) + n - 1;
  assert(last <= head && last >= head - 1, `oldestBlock ${fh.oldestBlock}, head ${head}`);
  return `oldest ${Number(fh.oldestBlock)}, ${n} blocks`;
});
await h.check("read.feeHistory.rewards", async () => {
  const { receipt } = await fixture();
  const fh = await send("eth_feeHistory", [toBeHex(1), toBeHex(receipt.blockNumber), [25, 50, 75]]);
  assert(Number(fh.oldestBlock) === receipt.blockNumber, `oldestBlock ${fh.oldestBlock}`);
  assert(fh.reward[0].every((x) => BigInt(x) === C.DISTINCT_TIP), `rewards ${fh.reward[0]}, the block's only tx tipped ${C.DISTINCT_TIP}`);
  return `rewards ${fh.reward[0].map(BigInt).join(",")}`;
});

// ---- events ----
await h.check("logs.byAddressTopic", async () => {
  const { hash } = await fixture();
  const c = probeC();
  const events = await c.queryFilter(c.filters.Stored(addr), 0, "latest");
  assert(events.some((e) => e.args.value === FIXTURE && e.transactionHash === hash), `events ${events.map((e) => e.args?.value)}`);
  const raw = await provider.getLogs({ address: ctx.probe, topics: [STORED_TOPIC, null, toBeHex(FIXTURE, 32)], fromBlock: ctx.deployBlock });
  assert(raw.length === 1 && raw[0].transactionHash === hash, `by value topic ${raw.length}`);
  const [tag] = coder.decode(["bytes32"], raw[0].data);
  assert(tag === keccak256(coder.encode(["uint256"], [FIXTURE])), "data");
  return `${events.length} events`;
});
await h.check("logs.byBlockHash", async () => {
  const { receipt } = await fixture();
  const logs = await provider.getLogs({ blockHash: receipt.blockHash });
  assert(logs.length === 1 && logs[0].transactionHash === receipt.hash && logs[0].index === 0 && logs[0].blockNumber === receipt.blockNumber, C.short(logs));
  return "1 log";
});
await h.check("logs.fromBlockPastHead", async () => {
  await fixture();
  const head = await provider.getBlockNumber();
  const outcomes = [];
  for (const q of [{ fromBlock: head + 10, toBlock: "latest" }, { fromBlock: head + 1 }, { fromBlock: head + 5, toBlock: head + 9 }]) {
    let logs;
    try {
      logs = await provider.getLogs(q);
    } catch (e) {
      outcomes.push("error");
      continue;
    }
    assert(logs.length === 0, `${logs.length} logs for ${C.short(q)} (head ${head})`);
    outcomes.push("[]");
  }
  return outcomes.join(", ");
});
await h.check("filter.logs", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const id = await send("eth_newFilter", [{ address: probe, topics: [STORED_TOPIC] }]);
  const { hash } = await sendTx({ to: probe, data: setData(4242), gasLimit: 150_000n });
  const first = await send("eth_getFilterChanges", [id]);
  const second = await send("eth_getFilterChanges", [id]);
  await send("eth_uninstallFilter", [id]);
  assert(first.length === 1 && first[0].transactionHash === hash, `first poll ${C.short(first)}`);
  assert(BigInt(first[0].topics[2]) === 4242n, "topic");
  assert(second.length === 0, `second poll gave ${second.length}`);
  return "1 then 0";
});
await h.check("filter.blocks", async () => {
  const id = await send("eth_newBlockFilter", []);
  const { receipt } = await sendTx({ to: fresh(), value: 1n });
  const hashes = await send("eth_getFilterChanges", [id]);
  const again = await send("eth_getFilterChanges", [id]);
  await send("eth_uninstallFilter", [id]);
  assert(hashes.includes(receipt.blockHash), `${receipt.blockHash} not in ${C.short(hashes)}`);
  assert(!again.includes(receipt.blockHash), "block reported twice");
  return `${hashes.length} new blocks`;
});

// ---- subscriptions over WebSocket (ethers' WebSocketProvider must not take the process down) ----
async function subscription(event, trigger, match, what) {
  const wsp = new WebSocketProvider(args.ws, chainId, { staticNetwork: true });
  wsp.websocket.onerror = (e) => process.stderr.write(`[ethers] websocket error: ${e?.message ?? e}\n`);
  const seen = [];
  let resolve;
  const got = new Promise((r) => (resolve = r));
  const listener = (...xs) => {
    seen.push(xs[0]);
    if (match(xs[0])) resolve(xs[0]);
  };
  const since = C.unhandled.length;
  const failed = C.failOnUnhandled(since, 60_000);
  failed.catch(() => {});
  try {
    await Promise.race([wsp._waitUntilReady?.() ?? Promise.resolve(), failed, C.sleep(5000).then(() => { throw new Error("WebSocket not ready in 5s"); })]);
    await wsp.on(event, listener);
    await Promise.race([C.sleep(500), failed]);
    await trigger();
    const early = seen.find(match);
    return early ?? (await Promise.race([got, failed, C.sleep(10_000).then(() => { throw new Error(`no ${what} within 10s (${seen.length} others)`); })]));
  } finally {
    try { await wsp.off(event, listener); } catch {}
    try { await wsp.destroy(); } catch {}
    await C.sleep(200); // let the destroyed provider's cancelled requests reject here, not in the next check
  }
}
await h.check("ws.newHeads", async () => {
  let r;
  const n = await subscription("block", async () => { r = (await sendTx({ to: fresh(), value: 1n })).receipt; }, (b) => r && b >= r.blockNumber, "new head");
  return `head #${n}`;
});
await h.check("ws.logs", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  let hash;
  const log = await subscription({ address: probe, topics: [STORED_TOPIC] }, async () => { hash = (await sendTx({ to: probe, data: setData(777), gasLimit: 150_000n })).hash; }, (l) => hash && l.transactionHash === hash, "log");
  assert(BigInt(log.topics[2]) === 777n, "topic");
  return `log of ${log.transactionHash}`;
});
await h.check("ws.newPendingTransactions", async () => {
  let hash;
  const x = await subscription("pending", async () => { hash = (await sendTx({ to: fresh(), value: 1n })).hash; }, (t) => hash && t === hash, "pending tx hash");
  return `${x}`;
});

// ---- traces ----
await h.check("trace.struct", async () => {
  const { hash, receipt } = await fixture();
  const t = await send("debug_traceTransaction", [hash, {}]);
  assert(t.failed === false && t.structLogs?.length > 10, `trace ${C.short(t, 200)}`);
  const ops = new Set(t.structLogs.map((s) => s.op));
  assert(ops.has("SSTORE") && ops.has("LOG3") && BigInt(t.gas) === receipt.gasUsed, `ops/gas ${t.gas}`);
  return `${t.structLogs.length} steps`;
});
await h.check("trace.callTracer", async () => {
  const { hash, receipt } = await fixture();
  const t = await send("debug_traceTransaction", [hash, { tracer: "callTracer", tracerConfig: { withLog: true } }]);
  assert(t.type === "CALL" && same(t.to, ctx.probe) && same(t.from, addr) && t.input === setData(FIXTURE), C.short(t, 200));
  assert(BigInt(t.gasUsed) === receipt.gasUsed && t.logs?.length === 1, `gasUsed ${t.gasUsed}`);
  return `CALL gasUsed ${BigInt(t.gasUsed)}`;
});
await h.check("trace.prestateTracer", async () => {
  const { hash, before } = await fixture();
  const t = await send("debug_traceTransaction", [hash, { tracer: "prestateTracer" }]);
  const get = (a) => t[Object.keys(t).find((k) => same(k, a))];
  const s = get(addr);
  const p = get(ctx.probe);
  assert(s && BigInt(s.balance) > 0n && p && p.code === C.PROBE.deployedBytecode, C.short(t, 200));
  assert(BigInt(p.storage?.[slot0] ?? "0x0") === before, `storage ${C.short(p.storage)}, slot 0 was ${before}`);
  return `${Object.keys(t).length} accounts`;
});
await h.check("trace.call", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const t = await send("debug_traceCall", [{ from: addr, to: probe, data: iface.encodeFunctionData("get") }, "latest", { tracer: "callTracer" }]);
  assert(t.type === "CALL" && BigInt(t.output) > 0n, C.short(t, 200));
  return `output ${t.output}`;
});

// ---- access lists, proofs, overrides ----
await h.check("accessList.create", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const r = await send("eth_createAccessList", [{ from: addr, to: probe, data: setData(99) }, "latest"]);
  const entry = r.accessList.find((e) => same(e.address, probe));
  assert(entry && entry.storageKeys.includes(slot0) && entry.storageKeys.includes(mapSlot), `list ${C.short(r.accessList)}`);
  assert(BigInt(r.gasUsed) > 21000n, `gasUsed ${r.gasUsed}`);
  const est = await provider.estimateGas({ from: addr, to: probe, data: setData(99), accessList: r.accessList, type: 2 });
  assert(est >= BigInt(r.gasUsed), `estimate ${est} < gasUsed ${r.gasUsed}`);
  return `${entry.storageKeys.length} keys, gasUsed ${BigInt(r.gasUsed)}`;
});
async function proofCheck(address, keys) {
  const n = await provider.getBlockNumber();
  const [p, b] = await Promise.all([send("eth_getProof", [address, keys, toBeHex(n)]), provider.getBlock(n)]);
  assert(BigInt(p.balance) === (await provider.getBalance(address, n)), "balance differs from getBalance");
  return `${await C.verifyProof(b.stateRoot, p)} at #${n}`;
}
await h.check("proof.eoa", () => proofCheck(addr, []));
await h.check("proof.contract", () => proofCheck(need(ctx.probe, "deploy.contract"), [slot0, mapSlot]));
await h.check("override.balance", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const who = fresh();
  const data = iface.encodeFunctionData("balanceOf", [who]);
  const out = await send("eth_call", [{ to: probe, data }, "latest", { [who]: { balance: toBeHex(123456789n) } }]);
  const [v] = iface.decodeFunctionResult("balanceOf", out);
  assert(v === 123456789n, `balanceOf under the override ${v}`);
  return `${v}`;
});
await h.check("override.code", async () => {
  const at = fresh();
  const out = await send("eth_call", [{ to: at, data: "0x" }, "latest", { [at]: { code: C.RETURN_42 } }]);
  assert(BigInt(out) === 42n, `result ${out}`);
  return out;
});
await h.check("override.stateDiff", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const out = await send("eth_call", [{ to: probe, data: iface.encodeFunctionData("get") }, "latest", { [probe]: { stateDiff: { [slot0]: toBeHex(0xa1a1a1n, 32) } } }]);
  // 0xa1a1a1: a value no check stores, so only the override can make get() return it
  assert(BigInt(out) === 0xa1a1a1n, `get() under the override ${out}`);
  return "0xa1a1a1";
});

// ---- historical state ----
await h.check("history.getBalance", async () => {
  const b0 = need(ctx.deployBlock, "deploy.contract");
  const [then, now] = await Promise.all([provider.getBalance(addr, b0), provider.getBalance(addr)]);
  assert(then > now, `at #${b0} ${then}, now ${now}`);
  return `#${b0}: ${then} > ${now}`;
});
await h.check("history.getTransactionCount", async () => {
  const b0 = need(ctx.deployBlock, "deploy.contract");
  const before = await provider.getTransactionCount(addr, b0 - 1);
  const then = await provider.getTransactionCount(addr, b0);
  const now = await provider.getTransactionCount(addr);
  assert(then === before + 1 && now > then, `${before} -> ${then} -> ${now}`);
  return `${before} -> ${then} -> ${now}`;
});
await h.check("history.getStorageAt", async () => {
  const b0 = need(ctx.deployBlock, "deploy.contract");
  const then = await provider.getStorage(ctx.probe, 0, b0);
  const now = await provider.getStorage(ctx.probe, 0);
  assert(BigInt(then) === 0n && BigInt(now) !== 0n, `slot 0 at #${b0} ${then}, now ${now}`);
  assert((await provider.getCode(ctx.probe, b0 - 1)) === "0x", "code before the deployment");
  return `0 -> ${BigInt(now)}`;
});
await h.check("history.call", async () => {
  const b0 = need(ctx.deployBlock, "deploy.contract");
  const then = await probeC().get({ blockTag: b0 });
  const now = await probeC().get();
  assert(then === 0n && now !== 0n, `get() at #${b0} ${then}, now ${now}`);
  return `0 -> ${now}`;
});

// ---- multicall: Multicall3.aggregate3 called directly ----
await h.check("multicall.aggregate3", async () => {
  const probe = need(ctx.probe, "deploy.contract");
  const mc = new Contract(C.MULTICALL3, C.MULTICALL3_ABI, provider);
  const mci = mc.interface;
  const res = await mc.aggregate3.staticCall([
    { target: probe, allowFailure: false, callData: iface.encodeFunctionData("get") },
    { target: C.MULTICALL3, allowFailure: false, callData: mci.encodeFunctionData("getEthBalance", [addr]) },
    { target: C.MULTICALL3, allowFailure: false, callData: mci.encodeFunctionData("getBlockNumber") },
    { target: probe, allowFailure: true, callData: "0xdeadbeef" },
  ]);
  const [got] = iface.decodeFunctionResult("get", res[0].returnData);
  const [bal] = mci.decodeFunctionResult("getEthBalance", res[1].returnData);
  const [bn] = mci.decodeFunctionResult("getBlockNumber", res[2].returnData);
  assert(got === (await probeC().get()) && bal === (await provider.getBalance(addr)), `get ${got}, balance ${bal}`);
  assert(res[3].success === false, "unknown selector should fail");
  return `get ${got}, block ${bn}`;
});

// ---- signing with the node's dev accounts ----
await h.check("sign.personal", async () => {
  const signer = await provider.getSigner(addr);
  const sig = await signer.signMessage("aiop first hour");
  assert(same(verifyMessage("aiop first hour", sig), addr) && sig === (await me.signMessage("aiop first hour")), `recovered ${verifyMessage("aiop first hour", sig)}`);
  return `${sig.slice(0, 18)}...`;
});
await h.check("sign.eth_sign", async () => {
  const data = hexlify(toUtf8Bytes("aiop eth_sign"));
  const sig = await send("eth_sign", [addr, data]);
  assert(same(verifyMessage(toUtf8Bytes("aiop eth_sign"), sig), addr), "recovered another address");
  return `${sig.slice(0, 18)}...`;
});
await h.check("sign.typedDataV4", async () => {
  const signer = await provider.getSigner(addr);
  const domain = { name: "aiop", version: "1", chainId, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" };
  const types = { Mail: [{ name: "from", type: "address" }, { name: "contents", type: "string" }, { name: "n", type: "uint256" }] };
  const value = { from: addr, contents: "hello", n: 7n };
  const sig = await signer.signTypedData(domain, types, value);
  assert(same(verifyTypedData(domain, types, value, sig), addr) && sig === (await me.signTypedData(domain, types, value)), "recovered another address");
  return `${sig.slice(0, 18)}...`;
});
await h.check("sign.transaction", async () => {
  const signer = await provider.getSigner(addr);
  const fd = await provider.getFeeData();
  const raw = await signer.signTransaction({ to: addr, value: 1n, gasLimit: 21000n, nonce: await provider.getTransactionCount(addr), chainId, type: 2, maxFeePerGas: fd.maxFeePerGas, maxPriorityFeePerGas: fd.maxPriorityFeePerGas });
  const tx = Transaction.from(raw);
  assert(same(tx.from, addr) && tx.value === 1n, `from ${tx.from}`);
  return `${raw.slice(0, 18)}...`;
});

// ---- the pool, on the interval-mining node ----
let poolP;
const pool = () => (poolP ??= (async () => {
  if (!args.intervalRpc) throw new Error("no interval-mining node (--interval-rpc)");
  const ip = new JsonRpcProvider(args.intervalRpc, undefined, { batchMaxCount: 1, cacheTimeout: -1 });
  ip.pollingInterval = 100;
  const iw = new Wallet(C.DEV_KEYS[args.account], ip);
  const to = fresh();
  // Up to three tries: the transaction must still be pending when the pool is read.
  for (let attempt = 1; ; attempt++) {
    const n0 = await ip.getBlockNumber();
    await C.until(async () => (await ip.getBlockNumber()) > n0, 5000, "a new block on the interval node");
    const resp = await iw.sendTransaction({ to, value: 5n });
    const [status, content, inspect] = await Promise.all(["txpool_status", "txpool_content", "txpool_inspect"].map((m) => ip.send(m, []).catch((e) => e)));
    const receipt = await resp.wait(1, 10_000);
    const seen = !(content instanceof Error) && JSON.stringify(content).includes(resp.hash);
    if (seen || attempt === 3 || content instanceof Error) return { to, hash: resp.hash, status, content, inspect, receipt };
  }
})());
const mineOf = (o) => Object.entries(o.pending || {}).find(([k]) => same(k, addr))?.[1] || {};
const unwrap = (x) => { if (x instanceof Error) throw x; return x; };
await h.check("txpool.status", async () => {
  const s = unwrap((await pool()).status);
  assert(Number(s.pending) >= 1 && s.queued !== undefined, C.short(s));
  return `pending ${Number(s.pending)}`;
});
await h.check("txpool.content", async () => {
  const p = await pool();
  const e = Object.values(mineOf(unwrap(p.content))).find((t) => t.hash === p.hash);
  assert(e && same(e.to, p.to), `txpool_content ${C.short(p.content, 200)}`);
  return `nonce ${Number(e.nonce)}`;
});
await h.check("txpool.inspect", async () => {
  const p = await pool();
  const line = Object.values(mineOf(unwrap(p.inspect)))[0];
  assert(typeof line === "string" && line.toLowerCase().includes(p.to.slice(2, 10).toLowerCase()), C.short(p.inspect, 200));
  return `"${line}"`;
});
await h.check("txpool.mined", async () => {
  const p = await pool();
  assert(p.receipt.status === 1, "failed");
  return `block ${p.receipt.blockNumber}`;
});

// ---- dev cheats ----
await h.check("evm.snapshotRevert", async () => {
  const to = fresh();
  const n0 = await provider.getBlockNumber();
  const id = await send("evm_snapshot", []);
  await sendTx({ to, value: 99n });
  assert((await provider.getBalance(to)) === 99n, "transfer");
  const reverted = await send("evm_revert", [id]);
  const after = await provider.getBalance(to);
  const n1 = await provider.getBlockNumber();
  assert(reverted === true && after === 0n && n1 === n0, `revert ${reverted}, balance ${after}, block ${n1} (was ${n0})`);
  return `snapshot ${id}`;
});
await h.check("evm.increaseTime", async () => {
  const t0 = (await provider.getBlock("latest")).timestamp;
  await send("evm_increaseTime", [3600]);
  await send("evm_mine", []);
  const t1 = (await provider.getBlock("latest")).timestamp;
  assert(t1 >= t0 + 3600, `${t0} -> ${t1}`);
  return `+${t1 - t0}s`;
});
await h.check("evm.mine", async () => {
  const n0 = await provider.getBlockNumber();
  await send("evm_mine", []);
  const n1 = await provider.getBlockNumber();
  assert(n1 === n0 + 1, `${n0} -> ${n1}`);
  return `#${n1}`;
});
await h.check("anvil.setBalance", async () => {
  const who = fresh();
  await send("anvil_setBalance", [who, toBeHex(parseEther("42"))]);
  const b = await provider.getBalance(who);
  assert(b === parseEther("42"), `${b}`);
  return `${b}`;
});

// ---- the inference precompile (aiop only) ----
const aiopC = new Contract(C.PRECOMPILE, C.IAIOP_ABI, provider);
await h.check("precompile.modelInfo", async () => {
  if (!aiop) throw new Skip("aiop only: no inference precompile");
  const out = await provider.call({ to: C.PRECOMPILE, data: aiopC.interface.encodeFunctionData("modelInfo", [C.DIGITS_MLP]) });
  const [info] = aiopC.interface.decodeFunctionResult("modelInfo", out);
  assert(info.inputLength === 64n && info.outputLength === 10n, `lengths ${info.inputLength} ${info.outputLength}`);
  return `keccak=${keccak256(out)} len=${(out.length - 2) / 2}`;
});
await h.check("precompile.infer", async () => {
  if (!aiop) throw new Skip("aiop only: no inference precompile");
  const out = await aiopC.infer(C.DIGITS_MLP, C.DIGITS_INPUT);
  assert((out.length - 2) / 2 === 10, `output ${out}`);
  return `keccak=${keccak256(out)} out=${out}`;
});
await h.check("precompile.mlperf", async () => {
  if (!aiop) throw new Skip("aiop only: no inference precompile");
  const out = await provider.call({ to: C.PRECOMPILE, data: aiopC.interface.encodeFunctionData("modelInfo", [C.MLPERF_KWS]) });
  assert(out.length > 2, "empty");
  return `keccak=${keccak256(out)} len=${(out.length - 2) / 2}`;
});
await h.check("aiop.modelInfo", async () => {
  if (!aiop) throw new Skip("aiop only: aiop_modelInfo");
  const info = await send("aiop_modelInfo", [C.DIGITS_MLP]);
  assert(info.input?.bytes === 64 && info.output?.bytes === 10, C.short(info));
  return `keccak=${keccak256(toUtf8Bytes(C.canonical(info)))} id=${info.id}`;
});
provider.destroy();
process.exit(0);
