#!/usr/bin/env python3
"""The "first hour" of a dapp developer, through web3.py (pinned in scripts/requirements.txt),
against a node's JSON-RPC: one JSON line per check on stdout.

Arguments (each defaulting to the environment): --rpc URL (RPC_URL), --ws URL (WS_URL),
--interval-rpc URL (INTERVAL_RPC_URL, a node with one-second interval mining), --target
aiop|anvil (TARGET), --account N (ACCOUNT, the dev account this script sends from),
--only REGEX (ONLY). eth_getProof answers are verified here against the block's state root
with a Merkle-Patricia proof walker of its own (rlp + keccak), independent of the JS one.
"""
import asyncio
import json
import os
import re
import sys
import threading
import time

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_hash.auto import keccak
from hexbytes import HexBytes
import rlp
from web3 import AsyncWeb3, Web3
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.providers.persistent import WebSocketProvider

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "lib"))
from harness import DEVNET, DEV_KEYS, MNEMONIC, CheckFailed, Harness, Skip, arg_parser, short  # noqa: E402

MULTICALL3 = DEVNET["multicall3"]
# web3.py wants checksummed addresses: devnet.json has these two in lower case.
PRECOMPILE = Web3.to_checksum_address(DEVNET["precompile"])
DIGITS_MLP = Web3.to_checksum_address(DEVNET["digitsMlp"])
MLPERF_KWS = DEVNET["mlperfKws"]
DIGITS_INPUT = bytes.fromhex(DEVNET["digitsInput"][2:])
RETURN_42 = DEVNET["returns42"]
DISTINCT_TIP = DEVNET["distinctTip"]
EMPTY_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
MC3_ABI = DEVNET["multicall3Abi"]


def check_that(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def parse_args():
    p = arg_parser()
    p.add_argument("--ws", default=os.environ.get("WS_URL"))
    p.add_argument("--account", type=int, default=int(os.environ.get("ACCOUNT", "3")))
    a = p.parse_args()
    if not a.rpc:
        p.error("no RPC URL (--rpc or RPC_URL)")
    if not a.ws:
        a.ws = re.sub(r"^http", "ws", a.rpc)
    return a


ARGS = parse_args()
AIOP = ARGS.target == "aiop"
H = Harness("web3py", ARGS.only, __file__)
check = H.check


def need(v, what):
    if v is None:
        raise CheckFailed(f"needs {what}, which failed")
    return v


w3 = Web3(Web3.HTTPProvider(ARGS.rpc, request_kwargs={"timeout": 20}))
me = Account.from_key(DEV_KEYS[ARGS.account])
ADDR = me.address
w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(me), layer=0)
CHAIN_ID = w3.eth.chain_id
PROBE_ART = json.load(open(os.path.join(HERE, "ClientProbe.json")))
IAIOP_ABI = json.load(open(os.path.join(ROOT, "contracts", "out", "IAiop.json")))["abi"]
STORED_TOPIC = "0x" + keccak(b"Stored(address,uint256,bytes32)").hex()
SLOT0 = "0x" + "00" * 32
MAP_SLOT = "0x" + keccak(bytes.fromhex(ADDR[2:].lower().rjust(64, "0")) + (1).to_bytes(32, "big")).hex()
ctx = {}


def raw(method, params, w=None):
    """A JSON-RPC call through web3.py's provider (the client's transport and decoding)."""
    resp = (w or w3).provider.make_request(method, params)
    if "error" in resp:
        e = resp["error"]
        raise CheckFailed(f"{method}: {e.get('code')} {e.get('message')}" if isinstance(e, dict) else f"{method}: {e}")
    return resp["result"]


def fresh():
    return Account.create().address


def send(tx, w=None):
    w = w or w3
    tx = {"from": ADDR, **tx}
    h = w.eth.send_transaction(tx)
    r = w.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.1)
    return h, r


def send_estimated(tx):
    """Sends `tx` as web3.py does (no gas given). web3.py pads eth_estimateGas by 100 000 gas
    for eth_sendTransaction (its default BufferedGasEstimateMiddleware), so a transaction can
    succeed on an estimate that is too low: the node's own estimate, asked for the same
    transaction just before it is sent (automine: on the same state), must cover gasUsed."""
    est = w3.eth.estimate_gas({"from": ADDR, **tx})
    h, r = send(tx)
    check_that(r["status"] == 1, f"status {r['status']}")
    check_that(est >= r["gasUsed"], f"eth_estimateGas said {est}, the transaction used {r['gasUsed']}")
    return h, r


def ok_receipt(r, typ=None):
    check_that(r["status"] == 1, f"status {r['status']}")
    check_that(r["gasUsed"] > 0, "gasUsed 0")
    if typ is not None:
        check_that(int(r.get("type", -1)) == typ, f"receipt type {r.get('type')}, want {typ}")
    return f"block {r['blockNumber']} gasUsed {r['gasUsed']} effectiveGasPrice {r.get('effectiveGasPrice')}"


def probe():
    return w3.eth.contract(address=need(ctx.get("probe"), "deploy.contract"), abi=PROBE_ART["abi"])


def set_data(v):
    return probe().encode_abi("set", [v])


# ---- accounts and plain reads ----
@check("accounts.mnemonic")
def _():
    Account.enable_unaudited_hdwallet_features()
    accounts = w3.eth.accounts
    for i in range(10):
        derived = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address
        check_that(derived == Account.from_key(DEV_KEYS[i]).address, f"mnemonic account {i}")
        check_that(i < len(accounts) and accounts[i].lower() == derived.lower(), f"eth_accounts[{i}]")
    return f"{len(accounts)} accounts, the first ten are the mnemonic's"


@check("read.chainId")
def _():
    check_that(CHAIN_ID > 0 and int(raw("eth_chainId", []), 16) == CHAIN_ID, f"{CHAIN_ID}")
    return str(CHAIN_ID)


@check("read.blockNumber")
def _():
    n = w3.eth.block_number
    check_that(isinstance(n, int) and n >= 0, f"{n}")
    return str(n)


@check("read.getBalance")
def _():
    b = w3.eth.get_balance(ADDR)
    check_that(b > 10**18, f"{b}")
    return str(b)


@check("read.gasPrice")
def _():
    p = w3.eth.gas_price
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    check_that(p > 0 and p >= base, f"gas price {p}, base fee {base}")
    return f"{p}"


@check("read.maxPriorityFeePerGas")
def _():
    tip = w3.eth.max_priority_fee
    check_that(tip >= 0, f"{tip}")
    return f"{tip}"


# ---- deploy, then transactions of every type with estimated gas ----
@check("deploy.contract", setup=True)
def _():
    nonce = w3.eth.get_transaction_count(ADDR)
    factory = w3.eth.contract(abi=PROBE_ART["abi"], bytecode=PROBE_ART["bytecode"])
    # An explicit gas limit: estimation is what the tx.*.autogas checks test.
    h = factory.constructor().transact({"from": ADDR, "gas": 1_000_000})
    r = w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.1)
    check_that(r["status"] == 1, "deploy failed")
    want = Web3.to_checksum_address(keccak(rlp.encode([bytes.fromhex(ADDR[2:]), nonce]))[12:])
    check_that(r["contractAddress"] == want, f"contractAddress {r['contractAddress']}, want {want}")
    ctx["probe"] = want
    ctx["deploy_block"] = r["blockNumber"]
    return f"{want} {ok_receipt(r)}"


@check("tx.legacy.autogas")
def _():
    to = fresh()
    h, r = send({"to": to, "value": 12345, "gasPrice": w3.eth.gas_price})
    tx = w3.eth.get_transaction(h)
    check_that(int(tx["type"]) == 0, f"type {tx['type']}")
    check_that(w3.eth.get_balance(to) == 12345, "value not received")
    return ok_receipt(r, 0)


@check("tx.eip2930.autogas")
def _():
    p = need(ctx.get("probe"), "deploy.contract")
    al = [{"address": p, "storageKeys": [SLOT0]}]
    txp = {"to": p, "data": set_data(2930), "gasPrice": w3.eth.gas_price, "accessList": al, "type": 1}
    h, r = send_estimated(txp)
    tx = w3.eth.get_transaction(h)
    check_that(int(tx["type"]) == 1 and len(tx["accessList"]) == 1, f"tx {short(dict(tx))}")
    return ok_receipt(r, 1)


@check("tx.eip1559.autogas")
def _():
    p = need(ctx.get("probe"), "deploy.contract")
    al = [{"address": p, "storageKeys": [SLOT0]}]
    txp = {"to": p, "data": set_data(1559), "accessList": al}
    h, r = send_estimated(txp)
    tx = w3.eth.get_transaction(h)
    check_that(int(tx["type"]) == 2 and len(tx["accessList"]) == 1, f"type {tx['type']}")
    base = w3.eth.get_block(r["blockNumber"])["baseFeePerGas"]
    want = min(base + tx["maxPriorityFeePerGas"], tx["maxFeePerGas"])
    check_that(r["effectiveGasPrice"] == want, f"effectiveGasPrice {r['effectiveGasPrice']}, want {want}")
    return ok_receipt(r, 2)


@check("tx.eip7702.autogas")
def _():
    p = need(ctx.get("probe"), "deploy.contract")
    authority = Account.create()
    auth = authority.sign_authorization({"chainId": CHAIN_ID, "address": p, "nonce": 0})
    txp = {"to": authority.address, "data": set_data(7702), "authorizationList": [auth]}
    h, r = send_estimated(txp)
    code = w3.eth.get_code(authority.address)
    check_that(code.hex().lower().removeprefix("0x") == "ef0100" + p[2:].lower(), f"code of the authority {code.hex()}")
    check_that(int.from_bytes(w3.eth.get_storage_at(authority.address, 0), "big") == 7702, "delegated call did not store")
    return ok_receipt(r, 4)


FIXTURE = 6666
_fixture = {}
_fixture_lock = threading.Lock()


def fixture():
    """probe.set(FIXTURE), explicit gas, distinctive tip: what most later checks look at."""
    with _fixture_lock:
        if "r" not in _fixture and "e" not in _fixture:
            try:
                p = need(ctx.get("probe"), "deploy.contract")
                before = int.from_bytes(w3.eth.get_storage_at(p, 0), "big")
                h, r = send({"to": p, "data": set_data(FIXTURE), "gas": 150_000, "maxPriorityFeePerGas": DISTINCT_TIP, "maxFeePerGas": 10**14})
                check_that(r["status"] == 1, f"the fixture transaction probe.set({FIXTURE}) failed")
                _fixture["r"] = (h, r, before)
            except BaseException as e:  # noqa: BLE001
                _fixture["e"] = e
        if "e" in _fixture:
            raise CheckFailed(f"fixture: {_fixture['e']}")
        return _fixture["r"]


@check("tx.fixture")
def _():
    return ok_receipt(fixture()[1], 2)


# ---- reads that need the transactions ----
@check("read.getBlock.latest")
def _():
    b = w3.eth.get_block("latest")
    check_that(b["hash"] and b["parentHash"] and b["stateRoot"] and b["number"] >= 0 and "baseFeePerGas" in b, short(dict(b)))
    return f"#{b['number']} {b['hash'].hex()}"


@check("read.getBlock.byNumber")
def _():
    h, r, _b = fixture()
    b = w3.eth.get_block(r["blockNumber"])
    check_that(b["hash"] == r["blockHash"] and h in b["transactions"], "block/receipt mismatch")
    return f"#{b['number']} {len(b['transactions'])} txs"


@check("read.getBlock.byHash")
def _():
    h, r, _b = fixture()
    b = w3.eth.get_block(r["blockHash"])
    check_that(b["number"] == r["blockNumber"], f"number {b['number']}")
    check_that(w3.eth.get_block(b["parentHash"])["number"] == b["number"] - 1, "parent hash")
    return f"#{b['number']}"


@check("read.getBlock.fullTxs")
def _():
    h, r, _b = fixture()
    b = w3.eth.get_block(r["blockNumber"], full_transactions=True)
    tx = next((t for t in b["transactions"] if t["hash"] == h), None)
    check_that(tx is not None and tx["from"] == ADDR and int(tx["type"]) == 2, "full tx missing")
    return f"{len(b['transactions'])} full txs"


@check("read.getCode")
def _():
    p = need(ctx.get("probe"), "deploy.contract")
    code = w3.eth.get_code(p)
    check_that(code == HexBytes(PROBE_ART["deployedBytecode"]), f"code {code.hex()[:80]}")
    check_that(w3.eth.get_code(fresh()) == b"", "empty account has code")
    return f"{len(code)} bytes"


@check("read.getStorageAt")
def _():
    fixture()
    v = int.from_bytes(w3.eth.get_storage_at(ctx["probe"], 0), "big")
    m = int.from_bytes(w3.eth.get_storage_at(ctx["probe"], MAP_SLOT), "big")
    g = probe().functions.get().call()
    check_that(v == FIXTURE and m == FIXTURE and g == FIXTURE, f"slot0 {v} byWho {m} get {g}")
    return f"slot0 {v}"


@check("read.getTransactionCount")
def _():
    n = w3.eth.get_transaction_count(ADDR)
    p = w3.eth.get_transaction_count(ADDR, "pending")
    check_that(n >= 4 and p == n, f"latest {n} pending {p}")
    return str(n)


@check("read.feeHistory")
def _():
    fh = w3.eth.fee_history(4, "latest", [25, 50, 75])
    head = w3.eth.block_number
    n = len(fh["gasUsedRatio"])
    check_that(1 <= n <= 4 and len(fh["baseFeePerGas"]) == n + 1, f"lengths {n} {len(fh['baseFeePerGas'])}")
    check_that(len(fh["reward"]) == n and all(len(x) == 3 for x in fh["reward"]), f"reward {fh['reward']}")
    last = fh["oldestBlock"] + n - 1
    check_that(head - 1 <= last <= head, f"oldestBlock {fh['oldestBlock']} head {head}")
    return f"oldest {fh['oldestBlock']}, {n} blocks"


@check("read.feeHistory.rewards")
def _():
    h, r, _b = fixture()
    fh = w3.eth.fee_history(1, r["blockNumber"], [25, 50, 75])
    check_that(fh["oldestBlock"] == r["blockNumber"], f"oldestBlock {fh['oldestBlock']}")
    check_that(all(x == DISTINCT_TIP for x in fh["reward"][0]), f"rewards {fh['reward'][0]}, the block's only tx tipped {DISTINCT_TIP}")
    return f"rewards {fh['reward'][0]}"


# ---- events ----
@check("logs.byAddressTopic")
def _():
    h, r, _b = fixture()
    logs = probe().events.Stored().get_logs(from_block=ctx["deploy_block"], argument_filters={"who": ADDR})
    check_that(any(l["args"]["value"] == FIXTURE and l["transactionHash"] == h for l in logs), f"{len(logs)} logs")
    topic = "0x" + FIXTURE.to_bytes(32, "big").hex()
    raw_logs = w3.eth.get_logs({"address": ctx["probe"], "topics": [STORED_TOPIC, None, topic], "fromBlock": ctx["deploy_block"]})
    check_that(len(raw_logs) == 1 and raw_logs[0]["transactionHash"] == h, f"by value topic {len(raw_logs)}")
    return f"{len(logs)} logs"


@check("logs.byBlockHash")
def _():
    h, r, _b = fixture()
    logs = w3.eth.get_logs({"blockHash": r["blockHash"]})
    check_that(len(logs) == 1 and logs[0]["transactionHash"] == h and logs[0]["logIndex"] == 0, short([dict(l) for l in logs]))
    return "1 log"


@check("logs.fromBlockPastHead")
def _():
    fixture()
    head = w3.eth.block_number
    out = []
    for q in [{"fromBlock": head + 10, "toBlock": "latest"}, {"fromBlock": head + 1}, {"fromBlock": head + 5, "toBlock": head + 9}]:
        try:
            logs = w3.eth.get_logs(q)
        except Exception:  # noqa: BLE001 - an error is an acceptable answer
            out.append("error")
            continue
        check_that(len(logs) == 0, f"{len(logs)} logs for {q} (head {head})")
        out.append("[]")
    return ", ".join(out)


@check("filter.logs")
def _():
    p = need(ctx.get("probe"), "deploy.contract")
    f = w3.eth.filter({"address": p, "topics": [STORED_TOPIC]})
    h, _r = send({"to": p, "data": set_data(4242), "gas": 150_000})
    first = f.get_new_entries()
    second = f.get_new_entries()
    w3.eth.uninstall_filter(f.filter_id)
    check_that(len(first) == 1 and first[0]["transactionHash"] == h, f"first poll {len(first)}")
    check_that(len(second) == 0, f"second poll {len(second)}")
    return "1 then 0"


@check("filter.blocks")
def _():
    f = w3.eth.filter("latest")
    _h, r = send({"to": fresh(), "value": 1})
    hashes = f.get_new_entries()
    again = f.get_new_entries()
    w3.eth.uninstall_filter(f.filter_id)
    check_that(r["blockHash"] in hashes, f"{r['blockHash'].hex()} not in {len(hashes)} hashes")
    check_that(r["blockHash"] not in again, "reported twice")
    return f"{len(hashes)} new blocks"


# ---- subscriptions over WebSocket (AsyncWeb3 + WebSocketProvider, binary frames as by default) ----
def subscription(kind, arg, trigger, match, what):
    async def go():
        async with AsyncWeb3(WebSocketProvider(ARGS.ws, request_timeout=10)) as aw3:
            sub = await aw3.eth.subscribe(kind, arg) if arg is not None else await aw3.eth.subscribe(kind)
            loop = asyncio.get_running_loop()
            target = await loop.run_in_executor(None, trigger)
            seen = 0

            async def read():
                nonlocal seen
                async for msg in aw3.socket.process_subscriptions():
                    seen += 1
                    if msg.get("subscription") == sub and match(msg["result"], target):
                        return msg["result"]

            try:
                return await asyncio.wait_for(read(), 10)
            except asyncio.TimeoutError:
                raise CheckFailed(f"no {what} within 10s ({seen} others)") from None
            finally:
                try:
                    await aw3.eth.unsubscribe(sub)
                except Exception:  # noqa: BLE001
                    pass

    return asyncio.run(go())


@check("ws.newHeads")
def _():
    head = subscription("newHeads", None, lambda: send({"to": fresh(), "value": 1})[1], lambda b, r: b["number"] >= r["blockNumber"], "new head")
    return f"head #{head['number']}"


@check("ws.logs")
def _():
    p = need(ctx.get("probe"), "deploy.contract")
    log = subscription("logs", {"address": p}, lambda: send({"to": p, "data": set_data(777), "gas": 150_000})[0], lambda l, h: l["transactionHash"] == h, "log")
    return f"log of {log['transactionHash'].hex()}"


@check("ws.newPendingTransactions")
def _():
    got = subscription("newPendingTransactions", None, lambda: send({"to": fresh(), "value": 1})[0], lambda x, h: HexBytes(x) == HexBytes(h), "pending tx hash")
    return HexBytes(got).hex()


# ---- traces ----
@check("trace.struct")
def _():
    h, r, _b = fixture()
    t = w3.geth.debug.trace_transaction(h, {})
    logs = t["structLogs"]
    check_that(t["failed"] is False and len(logs) > 10, short(dict(t), 200))
    ops = {s["op"] for s in logs}
    check_that({"SSTORE", "LOG3"} <= ops and t["gas"] == r["gasUsed"], f"gas {t['gas']}")
    return f"{len(logs)} steps"


@check("trace.callTracer")
def _():
    h, r, _b = fixture()
    t = w3.geth.debug.trace_transaction(h, {"tracer": "callTracer", "tracerConfig": {"withLog": True}})
    check_that(t["type"] == "CALL" and t["to"].lower() == ctx["probe"].lower() and HexBytes(t["input"]) == HexBytes(set_data(FIXTURE)), short(dict(t), 200))
    check_that(int(t["gasUsed"]) == r["gasUsed"] and len(t.get("logs", [])) == 1, f"gasUsed {t['gasUsed']}")
    return f"CALL gasUsed {int(t['gasUsed'])}"


@check("trace.prestateTracer")
def _():
    h, r, before = fixture()
    t = dict(w3.geth.debug.trace_transaction(h, {"tracer": "prestateTracer"}))
    get = lambda a: next((v for k, v in t.items() if str(k).lower() == a.lower()), None)  # noqa: E731
    s, p = get(ADDR), get(ctx["probe"])
    check_that(s is not None and int(s["balance"]) > 0 and p is not None, short(t, 200))
    check_that(HexBytes(p["code"]) == HexBytes(PROBE_ART["deployedBytecode"]), "probe code")
    storage = {HexBytes(k): HexBytes(v) for k, v in (p.get("storage") or {}).items()}
    check_that(int.from_bytes(storage.get(HexBytes(SLOT0), b""), "big") == before, f"storage {short(p.get('storage'))}, slot 0 was {before}")
    return f"{len(t)} accounts"


@check("trace.call")
def _():
    p = need(ctx.get("probe"), "deploy.contract")
    t = raw("debug_traceCall", [{"from": ADDR, "to": p, "data": probe().encode_abi("get", [])}, "latest", {"tracer": "callTracer"}])
    check_that(t["type"] == "CALL" and int(t["output"], 16) > 0, short(t, 200))
    return f"output {t['output']}"


# ---- access lists, proofs, overrides ----
@check("accessList.create")
def _():
    p = need(ctx.get("probe"), "deploy.contract")
    r = w3.eth.create_access_list({"from": ADDR, "to": p, "data": set_data(99)}, "latest")
    entry = next((e for e in r["accessList"] if e["address"].lower() == p.lower()), None)
    keys = [HexBytes(k) for k in (entry or {}).get("storageKeys", [])]
    check_that(entry is not None and HexBytes(SLOT0) in keys and HexBytes(MAP_SLOT) in keys, f"list {short(r['accessList'])}")
    check_that(r["gasUsed"] > 21000, f"gasUsed {r['gasUsed']}")
    return f"{len(keys)} keys, gasUsed {r['gasUsed']}"


def nibbles(b):
    out = []
    for x in b:
        out += [x >> 4, x & 15]
    return out


def mpt_get(root, key, proof):
    """Walks an EIP-1186 proof from `root` along keccak(key); returns the value or None."""
    path = nibbles(keccak(key))
    nodes = [bytes(HexBytes(n)) for n in proof]
    if root == EMPTY_ROOT and not nodes:
        return None  # an empty trie is proven by no nodes at all
    want, i, k = root, 0, 0  # want: a 32-byte hash, or an inline (already decoded) node
    while True:
        if isinstance(want, list):
            node = want
        else:
            if want == b"":
                return None
            check_that(k < len(nodes), "proof ends before the key's leaf")
            enc = nodes[k]
            k += 1
            check_that(keccak(enc) == want if len(want) == 32 else enc == want, f"proof node {k - 1} does not hash to its reference")
            node = rlp.decode(enc)
        if node == b"":
            return None  # the empty trie's one node (0x80)
        if len(node) == 17:
            if i == len(path):
                return node[16] or None
            want, i = node[path[i]], i + 1
            if isinstance(want, bytes) and len(want) not in (0, 32):
                want = rlp.decode(want)
        elif len(node) == 2:
            hp = nibbles(node[0])
            flag = hp[0]
            seg = hp[2:] if flag % 2 == 0 else hp[1:]
            if flag >= 2:  # leaf
                return node[1] if path[i:] == seg else None
            if path[i:i + len(seg)] != seg:
                return None
            i += len(seg)
            want = node[1]
        else:
            raise CheckFailed(f"a proof node with {len(node)} items")


def verify_proof(state_root, p):
    acc = mpt_get(bytes(state_root), bytes(HexBytes(p["address"])), p["accountProof"])
    if acc is None:
        check_that(p["nonce"] == 0 and p["balance"] == 0, "proven absent, but has a nonce or balance")
        storage_root = EMPTY_ROOT
    else:
        nonce, balance, sroot, chash = rlp.decode(acc)
        got = (int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), sroot, chash)
        want = (p["nonce"], p["balance"], bytes(p["storageHash"]), bytes(p["codeHash"]))
        check_that(got == want, f"account: proof {got}, answer {want}")
        storage_root = sroot
    for s in p["storageProof"]:
        v = mpt_get(storage_root, int(HexBytes(s["key"]).hex() or "0", 16).to_bytes(32, "big"), s["proof"])
        got = int.from_bytes(rlp.decode(v), "big") if v else 0
        want = s["value"] if isinstance(s["value"], int) else int.from_bytes(bytes(HexBytes(s["value"])), "big")
        check_that(got == want, f"slot {HexBytes(s['key']).hex()}: proof {got}, answer {want}")
    return f"account {'absent' if acc is None else 'present'}, {len(p['accountProof'])} nodes, {len(p['storageProof'])} slots verified"


def proof_check(address, keys):
    n = w3.eth.block_number
    p = w3.eth.get_proof(address, keys, n)
    b = w3.eth.get_block(n)
    check_that(p["balance"] == w3.eth.get_balance(address, n), "balance differs from getBalance")
    verified = verify_proof(b["stateRoot"], p)
    # Not vacuous: another root, or a changed balance, must not verify.
    root = bytes(b["stateRoot"])
    for what, r, q in (("another root", root[:-1] + bytes([root[-1] ^ 1]), p), ("a changed balance", root, {**p, "balance": p["balance"] + 1})):
        try:
            verify_proof(r, q)
        except CheckFailed:
            continue
        raise CheckFailed(f"the proof also verifies with {what}")
    return f"{verified} at #{n}"


@check("proof.eoa")
def _():
    return proof_check(ADDR, [])


@check("proof.contract")
def _():
    return proof_check(need(ctx.get("probe"), "deploy.contract"), [SLOT0, MAP_SLOT])


@check("override.balance")
def _():
    who = fresh()
    v = probe().functions.balanceOf(who).call(state_override={who: {"balance": 123456789}})
    check_that(v == 123456789, f"balanceOf under the override {v}")
    return str(v)


@check("override.code")
def _():
    at = fresh()
    out = w3.eth.call({"to": at, "data": "0x"}, "latest", {at: {"code": RETURN_42}})
    check_that(int.from_bytes(out, "big") == 42, f"result {out.hex()}")
    return out.hex()


@check("override.stateDiff")
def _():
    p = need(ctx.get("probe"), "deploy.contract")
    v = probe().functions.get().call(state_override={p: {"stateDiff": {SLOT0: "0x" + (0xA1A1A1).to_bytes(32, "big").hex()}}})
    # 0xa1a1a1: a value no check stores, so only the override can make get() return it
    check_that(v == 0xA1A1A1, f"get() under the override {v}")
    return str(v)


# ---- historical state ----
@check("history.getBalance")
def _():
    b0 = need(ctx.get("deploy_block"), "deploy.contract")
    then, now = w3.eth.get_balance(ADDR, b0), w3.eth.get_balance(ADDR)
    check_that(then > now, f"at #{b0} {then}, now {now}")
    return f"#{b0}: {then} > {now}"


@check("history.getTransactionCount")
def _():
    b0 = need(ctx.get("deploy_block"), "deploy.contract")
    before, then, now = (w3.eth.get_transaction_count(ADDR, b) for b in (b0 - 1, b0, "latest"))
    check_that(then == before + 1 and now > then, f"{before} -> {then} -> {now}")
    return f"{before} -> {then} -> {now}"


@check("history.getStorageAt")
def _():
    b0 = need(ctx.get("deploy_block"), "deploy.contract")
    then = int.from_bytes(w3.eth.get_storage_at(ctx["probe"], 0, b0), "big")
    now = int.from_bytes(w3.eth.get_storage_at(ctx["probe"], 0), "big")
    check_that(then == 0 and now != 0, f"slot 0 at #{b0} {then}, now {now}")
    check_that(w3.eth.get_code(ctx["probe"], b0 - 1) == b"", "code before the deployment")
    return f"0 -> {now}"


@check("history.call")
def _():
    b0 = need(ctx.get("deploy_block"), "deploy.contract")
    then = probe().functions.get().call(block_identifier=b0)
    now = probe().functions.get().call()
    check_that(then == 0 and now != 0, f"get() at #{b0} {then}, now {now}")
    return f"0 -> {now}"


# ---- multicall: Multicall3.aggregate3 called directly ----
@check("multicall.aggregate3")
def _():
    p = probe()
    mc = w3.eth.contract(address=MULTICALL3, abi=MC3_ABI)
    res = mc.functions.aggregate3([
        (p.address, False, p.encode_abi("get", [])),
        (MULTICALL3, False, mc.encode_abi("getEthBalance", [ADDR])),
        (p.address, True, "0xdeadbeef"),
    ]).call()
    got = int.from_bytes(res[0][1], "big")
    bal = int.from_bytes(res[1][1], "big")
    check_that(res[0][0] and got == p.functions.get().call(), f"get {got}")
    check_that(res[1][0] and bal == w3.eth.get_balance(ADDR), f"balance {bal}")
    check_that(res[2][0] is False, "unknown selector should fail")
    return f"get {got}, balance {bal}"


# ---- signing with the node's dev accounts ----
@check("sign.personal")
def _():
    msg = "aiop first hour"
    sig = raw("personal_sign", ["0x" + msg.encode().hex(), ADDR])
    who = Account.recover_message(encode_defunct(text=msg), signature=sig)
    check_that(who == ADDR, f"recovered {who}")
    return sig[:18] + "..."


@check("sign.eth_sign")
def _():
    sig = w3.eth.sign(ADDR, text="aiop eth_sign")
    who = Account.recover_message(encode_defunct(text="aiop eth_sign"), signature=sig)
    check_that(who == ADDR, f"recovered {who}")
    return HexBytes(sig).hex()[:18] + "..."


@check("sign.typedDataV4")
def _():
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "Mail": [{"name": "from", "type": "address"}, {"name": "contents", "type": "string"}, {"name": "n", "type": "uint256"}],
        },
        "primaryType": "Mail",
        "domain": {"name": "aiop", "version": "1", "chainId": CHAIN_ID, "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
        "message": {"from": ADDR, "contents": "hello", "n": 7},
    }
    # web3.py's w3.eth.sign_typed_data sends eth_signTypedData; wallets speak _v4.
    sig = raw("eth_signTypedData_v4", [ADDR, typed])
    who = Account.recover_message(encode_typed_data(full_message=typed), signature=sig)
    check_that(who == ADDR, f"recovered {who}")
    local = me.sign_message(encode_typed_data(full_message=typed)).signature
    check_that(HexBytes(sig) == HexBytes(local), "differs from a local signature")
    return HexBytes(sig).hex()[:18] + "..."


@check("sign.transaction")
def _():
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    tx = {"from": ADDR, "to": ADDR, "value": 1, "gas": 21000, "nonce": w3.eth.get_transaction_count(ADDR),
          "chainId": CHAIN_ID, "maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9}
    # Through the node (the local signing middleware only handles eth_sendTransaction).
    signed = raw("eth_signTransaction", [{k: (hex(v) if isinstance(v, int) else v) for k, v in tx.items()}])
    raw_tx = signed["raw"] if isinstance(signed, dict) else signed
    who = Account.recover_transaction(raw_tx)
    check_that(who == ADDR, f"recovered {who}")
    return str(raw_tx)[:18] + "..."


# ---- the pool, on the interval-mining node ----
_pool = {}
_pool_lock = threading.Lock()


def pool():
    with _pool_lock:
        if not _pool:
            try:
                if not ARGS.interval_rpc:
                    raise CheckFailed("no interval-mining node (--interval-rpc)")
                iw3 = Web3(Web3.HTTPProvider(ARGS.interval_rpc, request_kwargs={"timeout": 20}))
                iw3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(me), layer=0)
                to = fresh()
                for attempt in (1, 2, 3):  # the transaction must still be pending when the pool is read
                    n0 = iw3.eth.block_number
                    end = time.time() + 5
                    while iw3.eth.block_number == n0:
                        check_that(time.time() < end, "no new block on the interval node in 5s")
                        time.sleep(0.05)
                    h = iw3.eth.send_transaction({"from": ADDR, "to": to, "value": 5})
                    got = {}
                    for m, f in (("status", iw3.geth.txpool.status), ("content", iw3.geth.txpool.content), ("inspect", iw3.geth.txpool.inspect)):
                        try:
                            got[m] = f()
                        except Exception as e:  # noqa: BLE001
                            got[m] = e
                    r = iw3.eth.wait_for_transaction_receipt(h, timeout=10, poll_latency=0.1)
                    content = got["content"]
                    if isinstance(content, Exception) or HexBytes(h).hex() in json.dumps(content, default=lambda v: HexBytes(v).hex() if isinstance(v, (bytes, HexBytes)) else str(v)).lower().replace("0x", ""):
                        break
                _pool.update(to=to, hash=h, receipt=r, **got)
            except BaseException as e:  # noqa: BLE001
                _pool["error"] = e
        if "error" in _pool:
            raise CheckFailed(f"pool setup: {_pool['error']}")
        return _pool


def toint(x):
    return int(x, 0) if isinstance(x, str) else int(x)


def unwrap(x):
    if isinstance(x, Exception):
        raise x
    return x


def mine_of(o):
    return next((v for k, v in (o.get("pending") or {}).items() if k.lower() == ADDR.lower()), {})


@check("txpool.status")
def _():
    s = unwrap(pool()["status"])
    check_that(toint(s["pending"]) >= 1 and "queued" in s, short(dict(s)))
    return f"pending {toint(s['pending'])}"


@check("txpool.content")
def _():
    p = pool()
    e = next((t for t in mine_of(unwrap(p["content"])).values() if HexBytes(t["hash"]) == HexBytes(p["hash"])), None)
    check_that(e is not None and e["to"].lower() == p["to"].lower(), short(str(p["content"]), 200))
    return f"nonce {toint(e['nonce'])}"


@check("txpool.inspect")
def _():
    p = pool()
    lines = list(mine_of(unwrap(p["inspect"])).values())
    check_that(lines and isinstance(lines[0], str) and p["to"][2:10].lower() in lines[0].lower(), short(str(p["inspect"]), 200))
    return lines[0]


@check("txpool.mined")
def _():
    r = pool()["receipt"]
    check_that(r["status"] == 1, "failed")
    return f"block {r['blockNumber']}"


# ---- dev cheats ----
@check("evm.snapshotRevert")
def _():
    to = fresh()
    n0 = w3.eth.block_number
    sid = raw("evm_snapshot", [])
    send({"to": to, "value": 99})
    check_that(w3.eth.get_balance(to) == 99, "transfer")
    ok = raw("evm_revert", [sid])
    after, n1 = w3.eth.get_balance(to), w3.eth.block_number
    check_that(ok is True and after == 0 and n1 == n0, f"revert {ok}, balance {after}, block {n1} (was {n0})")
    return f"snapshot {sid}"


@check("evm.increaseTime")
def _():
    t0 = w3.eth.get_block("latest")["timestamp"]
    raw("evm_increaseTime", [3600])
    raw("evm_mine", [])
    t1 = w3.eth.get_block("latest")["timestamp"]
    check_that(t1 >= t0 + 3600, f"{t0} -> {t1}")
    return f"+{t1 - t0}s"


@check("evm.mine")
def _():
    n0 = w3.eth.block_number
    raw("evm_mine", [])
    n1 = w3.eth.block_number
    check_that(n1 == n0 + 1, f"{n0} -> {n1}")
    return f"#{n1}"


@check("anvil.setBalance")
def _():
    who = fresh()
    raw("anvil_setBalance", [who, hex(42 * 10**18)])
    b = w3.eth.get_balance(who)
    check_that(b == 42 * 10**18, str(b))
    return str(b)


# ---- the inference precompile (aiop only) ----
def aiop_contract():
    return w3.eth.contract(address=PRECOMPILE, abi=IAIOP_ABI)


@check("precompile.modelInfo")
def _():
    if not AIOP:
        raise Skip("aiop only: no inference precompile")
    c = aiop_contract()
    out = w3.eth.call({"to": PRECOMPILE, "data": c.encode_abi("modelInfo", [DIGITS_MLP])})
    info = c.functions.modelInfo(DIGITS_MLP).call()
    check_that(info[11] == 64 and info[12] == 10, f"lengths {info[11]} {info[12]}")
    return f"keccak=0x{keccak(bytes(out)).hex()} len={len(out)}"


@check("precompile.infer")
def _():
    if not AIOP:
        raise Skip("aiop only: no inference precompile")
    out = aiop_contract().functions.infer(DIGITS_MLP, DIGITS_INPUT).call()
    check_that(len(out) == 10, f"output {out.hex()}")
    return f"keccak=0x{keccak(bytes(out)).hex()} out=0x{bytes(out).hex()}"


@check("precompile.mlperf")
def _():
    if not AIOP:
        raise Skip("aiop only: no inference precompile")
    out = w3.eth.call({"to": PRECOMPILE, "data": aiop_contract().encode_abi("modelInfo", [MLPERF_KWS])})
    check_that(len(out) > 0, "empty")
    return f"keccak=0x{keccak(bytes(out)).hex()} len={len(out)}"


@check("aiop.modelInfo")
def _():
    if not AIOP:
        raise Skip("aiop only: aiop_modelInfo")
    info = raw("aiop_modelInfo", [DIGITS_MLP])
    check_that(info["input"]["bytes"] == 64 and info["output"]["bytes"] == 10, short(info))
    canon = json.dumps(info, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"keccak=0x{keccak(canon.encode()).hex()} id={info['id']}"


H.exit()
