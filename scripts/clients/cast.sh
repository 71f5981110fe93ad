#!/usr/bin/env bash
# The "first hour" of a dapp developer, through Foundry's cast (pinned in scripts/package.json),
# against a node's JSON-RPC: one JSON line per check on stdout.
#
#   RPC_URL=http://... [WS_URL=ws://...] [INTERVAL_RPC_URL=http://...] [TARGET=aiop|anvil]
#   [ACCOUNT=4] [ONLY=regex] [CAST=path/to/cast] scripts/clients/cast.sh
#
# (or the same as --rpc/--ws/--interval-rpc/--target/--account/--only arguments). Each check
# runs in its own shell under `timeout`; what later checks need (the probe's address, the
# fixture transaction) is passed through files in a scratch folder. JSON is taken apart with
# node (lib/j.mjs), never with cast's own decoding of what is being checked.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
while [ $# -gt 0 ]; do
  case "$1" in
    --rpc) RPC_URL=$2 ;;
    --ws) WS_URL=$2 ;;
    --interval-rpc) INTERVAL_RPC_URL=$2 ;;
    --target) TARGET=$2 ;;
    --account) ACCOUNT=$2 ;;
    --only) ONLY=$2 ;;
    *) echo "cast.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
: "${RPC_URL:?no RPC URL (--rpc or RPC_URL)}"
export RPC_URL
export WS_URL=${WS_URL:-${RPC_URL/http/ws}}
export INTERVAL_RPC_URL=${INTERVAL_RPC_URL:-}
export TARGET=${TARGET:-aiop}
export ACCOUNT=${ACCOUNT:-4}
ONLY=${ONLY:-}
# The platform binary itself rather than npm's node wrapper (.bin/cast), when it is there.
real_cast=$root/.tools/npm/node_modules/@foundry-rs/cast-linux-$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')/bin/cast
[ -x "$real_cast" ] || real_cast=$root/.tools/npm/node_modules/.bin/cast
export CAST=${CAST:-$real_cast}
export ETH_RPC_URL=$RPC_URL
export FOUNDRY_DISABLE_NIGHTLY_WARNING=1 NO_COLOR=1
export HERE=$here ROOT=$root
STATE=$(mktemp -d)
export STATE
trap 'rm -rf "$STATE"' EXIT

# The dev chain (lib/devnet.json, shared with the other scripts): this account's key, the
# mnemonic, Multicall3, the precompile and the models, and the values the checks send.
eval "$(node -e '
const d = require(process.argv[1]);
const v = { KEY: d.devKeys[process.argv[2]] ?? "", MNEMONIC: d.mnemonic, MULTICALL3: d.multicall3, PRECOMPILE: d.precompile, DIGITS_MLP: d.digitsMlp,
  MLPERF_KWS: d.mlperfKws, DIGITS_INPUT: d.digitsInput, RETURN_42: d.returns42, DISTINCT_TIP: d.distinctTip };
for (const [k, x] of Object.entries(v)) console.log(`export ${k}=${JSON.stringify(String(x))}`);
' "$here/lib/devnet.json" "$ACCOUNT")"
ADDR=$("$CAST" wallet address --private-key "$KEY")
export ADDR
export FIXTURE=7777
export SLOT0=0x0000000000000000000000000000000000000000000000000000000000000000
BYTECODE=$(node -e 'process.stdout.write(require(process.argv[1]).bytecode)' "$here/ClientProbe.json")
DEPLOYED=$(node -e 'process.stdout.write(require(process.argv[1]).deployedBytecode)' "$here/ClientProbe.json")
export BYTECODE DEPLOYED

# ---- helpers (exported: each check runs in `bash -c`) ----
c() { "$CAST" "$@"; }
# num: the number alone from cast's decoded output ("123456789 [1.234e8]").
num() { awk '{print $1}'; }
# j EXPR: evaluates a JavaScript expression on the JSON read from stdin (as x); prints strings bare.
j() { node "$HERE/lib/j.mjs" "$@"; }
fail() { echo "$*" >&2; exit 1; }
skip() { echo "$*" >&2; exit 77; }
need() { [ -s "$STATE/$1" ] || fail "needs $2, which failed"; cat "$STATE/$1"; }
fresh() { c wallet new --json | j 'x[0].address'; }
lc() { tr 'A-F' 'a-f'; }
# send ARGS...: cast send --json, waits for the receipt; fails unless the receipt says success.
send() {
  local out
  out=$(c send --private-key "$KEY" --json "$@" 2>&1) || fail "cast send: $(echo "$out" | tail -3)"
  [ "$(echo "$out" | j 'x.status')" = "0x1" ] || fail "status $(echo "$out" | j 'x.status') ($(echo "$out" | j 'x.transactionHash'))"
  echo "$out"
}
okr() { echo "$1" | j '`block ${BigInt(x.blockNumber)} gasUsed ${BigInt(x.gasUsed)} effectiveGasPrice ${BigInt(x.effectiveGasPrice)}`'; }
fixture() { need fixture.json "tx.fixture"; }
export -f c num j fail skip need fresh lc send okr fixture

only_ok() { [ -z "$ONLY" ] || [[ "$1" =~ $ONLY ]]; }
# check NAME FUNCTION [TIMEOUT]: runs FUNCTION in its own shell; stdout's last line is the detail.
check() {
  local name=$1 fn=$2 t=${3:-40} quiet=""
  if ! only_ok "$name"; then
    # deploy.contract runs even when --only filters it out (the others need its contract).
    [ "$name" = deploy.contract ] || return 0
    quiet=1
  fi
  local t0 out rc
  t0=$(date +%s%3N)
  out=$(timeout "$t" bash -c "set -euo pipefail; $fn" 2>"$STATE/stderr")
  rc=$?
  local ms=$(( $(date +%s%3N) - t0 ))
  local detail
  if [ $rc -eq 0 ]; then detail=$(echo "$out" | tail -1); else detail=$(tail -c 600 "$STATE/stderr"); fi
  [ $rc -eq 124 ] && detail="timed out after ${t}s; $detail"
  [ -z "$quiet" ] || return 0
  node -e '
    const [name, rc, detail, ms] = process.argv.slice(1);
    const r = { client: "cast", check: name, ok: rc === "0" || rc === "77", detail: detail.replace(/\s+/g, " ").trim().slice(0, 400), ms: Number(ms) };
    if (rc === "77") r.skip = true;
    console.log(JSON.stringify(r));' "$name" "$rc" "$detail" "$ms"
}

# ---- accounts and plain reads ----
accounts_mnemonic() {
  accts=$(c rpc eth_accounts)
  for i in 0 1 2 3 4 5 6 7 8 9; do
    d=$(c wallet address --mnemonic "$MNEMONIC" --mnemonic-index $i)
    a=$(echo "$accts" | j "x[$i] || ''")
    [ "$(echo "$d" | lc)" = "$(echo "$a" | lc)" ] || fail "eth_accounts[$i] = $a, mnemonic gives $d"
  done
  echo "the first ten eth_accounts are the mnemonic's"
}
read_chainId() { id=$(c chain-id) && [ "$id" -gt 0 ] && [ "$(c rpc eth_chainId | j 'Number(x)')" = "$id" ] && echo "$id"; }
read_blockNumber() { n=$(c block-number) && [ "$n" -ge 0 ] && echo "$n"; }
read_getBalance() { b=$(c balance "$ADDR") && [ "${#b}" -gt 19 ] || fail "balance $b"; echo "$b"; }
read_gasPrice() {
  p=$(c gas-price); base=$(c base-fee)
  node -e 'process.exit(BigInt(process.argv[1]) >= BigInt(process.argv[2]) && BigInt(process.argv[1]) > 0n ? 0 : 1)' "$p" "$base" || fail "gas price $p, base fee $base"
  echo "$p (base fee $base)"
}
read_maxPriorityFeePerGas() { t=$(c rpc eth_maxPriorityFeePerGas | j 'BigInt(x).toString()') && echo "$t"; }
export -f accounts_mnemonic read_chainId read_blockNumber read_getBalance read_gasPrice read_maxPriorityFeePerGas

# ---- deploy, then transactions of every type with estimated gas ----
deploy_contract() {
  nonce=$(c nonce "$ADDR")
  # An explicit gas limit: estimation is what the tx.*.autogas checks test.
  r=$(send --gas-limit 1000000 --create "$BYTECODE")
  a=$(echo "$r" | j 'x.contractAddress')
  want=$(c compute-address "$ADDR" --nonce "$nonce" | sed 's/.*: //')
  [ "$(echo "$a" | lc)" = "$(echo "$want" | lc)" ] || fail "contractAddress $a, want $want"
  echo "$a" > "$STATE/probe"
  echo "$r" | j 'Number(x.blockNumber)' > "$STATE/deploy_block"
  echo "$a $(okr "$r")"
}
tx_legacy() {
  to=$(fresh)
  r=$(send --legacy "$to" --value 12345)
  [ "$(echo "$r" | j 'x.type')" = "0x0" ] || fail "receipt type $(echo "$r" | j 'x.type')"
  [ "$(c balance "$to")" = "12345" ] || fail "value not received"
  okr "$r"
}
tx_2930() {
  p=$(need probe deploy.contract)
  r=$(send --legacy --access-list "[{\"address\":\"$p\",\"storageKeys\":[\"$SLOT0\"]}]" "$p" "set(uint256)" 2930)
  [ "$(echo "$r" | j 'x.type')" = "0x1" ] || fail "receipt type $(echo "$r" | j 'x.type') (want 0x1)"
  okr "$r"
}
tx_1559() {
  p=$(need probe deploy.contract)
  r=$(send --access-list "[{\"address\":\"$p\",\"storageKeys\":[\"$SLOT0\"]}]" "$p" "set(uint256)" 1559)
  [ "$(echo "$r" | j 'x.type')" = "0x2" ] || fail "receipt type $(echo "$r" | j 'x.type')"
  tx=$(c tx "$(echo "$r" | j 'x.transactionHash')" --json)
  [ "$(echo "$tx" | j 'x.accessList.length')" = "1" ] || fail "accessList lost"
  okr "$r"
}
tx_7702() {
  p=$(need probe deploy.contract)
  w=$(c wallet new --json)
  akey=$(echo "$w" | j 'x[0].private_key'); aaddr=$(echo "$w" | j 'x[0].address')
  auth=$(c wallet sign-auth "$p" --private-key "$akey") || fail "sign-auth: $auth"
  r=$(send --auth "$auth" "$aaddr" "set(uint256)" 7702)
  [ "$(echo "$r" | j 'x.type')" = "0x4" ] || fail "receipt type $(echo "$r" | j 'x.type')"
  code=$(c code "$aaddr")
  [ "$(echo "$code" | lc)" = "0xef0100$(echo "${p#0x}" | lc)" ] || fail "code of the authority $code"
  [ "$(c storage "$aaddr" 0 | j 'String(BigInt(x))')" = "7702" ] || fail "delegated call did not store"
  okr "$r"
}
tx_fixture() {
  p=$(need probe deploy.contract)
  c storage "$p" 0 | j 'String(BigInt(x))' > "$STATE/fixture_before"
  r=$(send --gas-limit 150000 --priority-gas-price "$DISTINCT_TIP" --gas-price 100000000000000 "$p" "set(uint256)" "$FIXTURE")
  echo "$r" > "$STATE/fixture.json"
  okr "$r"
}
export -f deploy_contract tx_legacy tx_2930 tx_1559 tx_7702 tx_fixture

# ---- reads that need the transactions ----
block_latest() { b=$(c block latest --json); echo "$b" | j 'x.hash && x.parentHash && x.stateRoot && x.baseFeePerGas ? `#${Number(x.number)} ${x.hash}` : process.exit(1)'; }
block_number() {
  f=$(fixture); n=$(echo "$f" | j 'Number(x.blockNumber)')
  b=$(c block "$n" --json)
  [ "$(echo "$b" | j 'x.hash')" = "$(echo "$f" | j 'x.blockHash')" ] || fail "hash differs from the receipt's"
  echo "$b" | j "x.transactions.includes('$(echo "$f" | j x.transactionHash)') ? '#$n ' + x.transactions.length + ' txs' : process.exit(1)"
}
block_hash() {
  f=$(fixture); h=$(echo "$f" | j 'x.blockHash')
  b=$(c block "$h" --json)
  [ "$(echo "$b" | j 'Number(x.number)')" = "$(echo "$f" | j 'Number(x.blockNumber)')" ] || fail "number differs"
  ph=$(echo "$b" | j 'x.parentHash')
  [ "$(c block "$ph" --json | j 'Number(x.number)')" = "$(( $(echo "$b" | j 'Number(x.number)') - 1 ))" ] || fail "parent hash"
  echo "#$(echo "$b" | j 'Number(x.number)')"
}
block_full() {
  f=$(fixture); n=$(echo "$f" | j 'Number(x.blockNumber)'); h=$(echo "$f" | j 'x.transactionHash')
  c block "$n" --full --json | j "(t => t && t.from.toLowerCase() === '$(echo "$ADDR" | lc)' && t.type === '0x2' ? x.transactions.length + ' full txs' : process.exit(1))(x.transactions.find(t => t.hash === '$h'))"
}
get_code() {
  p=$(need probe deploy.contract)
  [ "$(c code "$p")" = "$DEPLOYED" ] || fail "code differs"
  [ "$(c code "$(fresh)")" = "0x" ] || fail "empty account has code"
  echo "$(( (${#DEPLOYED} - 2) / 2 )) bytes"
}
get_storage() {
  fixture >/dev/null; p=$(cat "$STATE/probe")
  v=$(c storage "$p" 0 | j 'String(BigInt(x))')
  g=$(c call "$p" "get()(uint256)" | num)
  slot=$(c index address "$ADDR" 1)
  m=$(c storage "$p" "$slot" | j 'String(BigInt(x))')
  [ "$v" = "$FIXTURE" ] && [ "$g" = "$FIXTURE" ] && [ "$m" = "$FIXTURE" ] || fail "slot0 $v get $g byWho $m"
  echo "slot0 $v"
}
get_nonce() {
  n=$(c nonce "$ADDR"); p=$(c nonce "$ADDR" --block pending)
  [ "$n" -ge 4 ] && [ "$n" = "$p" ] || fail "latest $n pending $p"
  echo "$n"
}
fee_history() {
  fh=$(c rpc --raw eth_feeHistory '["0x4","latest",[25,50,75]]'); head=$(c block-number)
  echo "$fh" | j "(n => n >= 1 && n <= 4 && x.baseFeePerGas.length === n + 1 && x.reward.length === n && x.reward.every(r => r.length === 3) && Number(x.oldestBlock) + n - 1 >= $head - 1 ? 'oldest ' + Number(x.oldestBlock) + ', ' + n + ' blocks' : (console.error(JSON.stringify(x)), process.exit(1)))(x.gasUsedRatio.length)"
}
fee_rewards() {
  f=$(fixture); n=$(echo "$f" | j 'x.blockNumber')
  fh=$(c rpc --raw eth_feeHistory "[\"0x1\",\"$n\",[25,50,75]]")
  echo "$fh" | j "Number(x.oldestBlock) === Number('$n') && x.reward[0].every(r => BigInt(r) === ${DISTINCT_TIP}n) ? 'rewards ' + x.reward[0].map(BigInt).join(',') : (console.error('rewards ' + x.reward[0].map(BigInt) + ', the block\'s only tx tipped $DISTINCT_TIP'), process.exit(1))"
}
export -f block_latest block_number block_hash block_full get_code get_storage get_nonce fee_history fee_rewards

# ---- events ----
logs_topic() {
  f=$(fixture); p=$(cat "$STATE/probe"); from=$(cat "$STATE/deploy_block"); h=$(echo "$f" | j x.transactionHash)
  l=$(c logs --json --from-block "$from" --to-block latest --address "$p" "Stored(address indexed,uint256 indexed,bytes32)" "$ADDR")
  echo "$l" | j "x.some(l => l.transactionHash === '$h') ? '' : process.exit(1)" >/dev/null || fail "no log of the fixture among $(echo "$l" | j x.length)"
  l2=$(c logs --json --from-block "$from" --address "$p" "Stored(address indexed,uint256 indexed,bytes32)" "" "$FIXTURE")
  echo "$l2" | j "x.length === 1 && x[0].transactionHash === '$h' ? x.length + ' log by value topic' : process.exit(1)" || fail "by value topic: $(echo "$l2" | j x.length)"
}
logs_hash() {
  f=$(fixture); bh=$(echo "$f" | j x.blockHash); h=$(echo "$f" | j x.transactionHash)
  c rpc --raw eth_getLogs "[{\"blockHash\":\"$bh\"}]" | j "x.length === 1 && x[0].transactionHash === '$h' && Number(x[0].logIndex) === 0 ? '1 log' : (console.error(JSON.stringify(x)), process.exit(1))"
}
logs_past_head() {
  fixture >/dev/null; head=$(c block-number); out=""
  for q in "{\"fromBlock\":\"$(c to-hex $((head + 10)))\",\"toBlock\":\"latest\"}" "{\"fromBlock\":\"$(c to-hex $((head + 1)))\"}" "{\"fromBlock\":\"$(c to-hex $((head + 5)))\",\"toBlock\":\"$(c to-hex $((head + 9)))\"}"; do
    if r=$(c rpc --raw eth_getLogs "[$q]" 2>/dev/null); then
      [ "$(echo "$r" | j x.length)" = "0" ] || fail "$(echo "$r" | j x.length) logs for $q (head $head)"
      out="$out []"
    else out="$out error"; fi
  done
  echo "$out"
}
filter_logs() {
  p=$(need probe deploy.contract)
  id=$(c rpc --raw eth_newFilter "[{\"address\":\"$p\"}]" | j x)
  h=$(send --gas-limit 150000 "$p" "set(uint256)" 4242 | j x.transactionHash)
  first=$(c rpc eth_getFilterChanges "$id"); second=$(c rpc eth_getFilterChanges "$id"); c rpc eth_uninstallFilter "$id" >/dev/null
  echo "$first" | j "x.length === 1 && x[0].transactionHash === '$h' ? '' : process.exit(1)" >/dev/null || fail "first poll: $first"
  [ "$(echo "$second" | j x.length)" = "0" ] || fail "second poll: $second"
  echo "1 then 0"
}
filter_blocks() {
  id=$(c rpc eth_newBlockFilter | j x)
  bh=$(send "$(fresh)" --value 1 | j x.blockHash)
  hs=$(c rpc eth_getFilterChanges "$id"); again=$(c rpc eth_getFilterChanges "$id"); c rpc eth_uninstallFilter "$id" >/dev/null
  echo "$hs" | j "x.includes('$bh') ? x.length + ' new blocks' : process.exit(1)" || fail "$bh not in $hs"
  echo "$again" | j "x.includes('$bh') ? process.exit(1) : ''" >/dev/null || fail "reported twice"
}
export -f logs_topic logs_hash logs_past_head filter_logs filter_blocks

# ---- subscriptions: `cast logs --subscribe` over WebSocket ----
ws_logs() {
  p=$(need probe deploy.contract)
  out="$STATE/ws_logs.out"
  # (text output: with --json, cast 1.7 prints nothing until it exits)
  timeout 20 "$CAST" logs --subscribe --rpc-url "$WS_URL" --address "$p" > "$out" 2>"$STATE/ws_logs.err" &
  pid=$!
  sleep 1.5
  kill -0 $pid 2>/dev/null || fail "cast logs --subscribe exited: $(tail -c 300 "$STATE/ws_logs.err")"
  h=$(send --gas-limit 150000 "$p" "set(uint256)" 778 | j x.transactionHash)
  for _ in $(seq 50); do grep -q "$h" "$out" && break; sleep 0.2; done
  kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  grep -q "$h" "$out" || fail "no log within 10s: $(head -c 200 "$out") $(tail -c 300 "$STATE/ws_logs.err")"
  echo "log of $h"
}
export -f ws_logs

# ---- traces: the debug_ methods, `cast run` and `cast call --trace` ----
trace_struct() {
  f=$(fixture); h=$(echo "$f" | j x.transactionHash); g=$(echo "$f" | j 'Number(x.gasUsed)')
  c rpc debug_traceTransaction "$h" '{}' | j "(ops => x.failed === false && ops.has('SSTORE') && ops.has('LOG3') && Number(x.gas) === $g ? x.structLogs.length + ' steps' : (console.error(JSON.stringify(x).slice(0, 300)), process.exit(1)))(new Set((x.structLogs || []).map(s => s.op)))"
}
trace_call_tracer() {
  f=$(fixture); h=$(echo "$f" | j x.transactionHash); g=$(echo "$f" | j 'Number(x.gasUsed)'); p=$(cat "$STATE/probe")
  c rpc debug_traceTransaction "$h" '{"tracer":"callTracer","tracerConfig":{"withLog":true}}' | j "x.type === 'CALL' && x.to.toLowerCase() === '$(echo "$p" | lc)' && Number(x.gasUsed) === $g && (x.logs || []).length === 1 ? 'CALL gasUsed ' + Number(x.gasUsed) : (console.error(JSON.stringify(x).slice(0, 300)), process.exit(1))"
}
trace_prestate() {
  f=$(fixture); h=$(echo "$f" | j x.transactionHash); p=$(cat "$STATE/probe"); before=$(cat "$STATE/fixture_before")
  c rpc debug_traceTransaction "$h" '{"tracer":"prestateTracer"}' | j "(g => (s => s && s.code === '$DEPLOYED' && BigInt((s.storage || {})['$SLOT0'] || 0) === ${before}n && g('$ADDR') ? Object.keys(x).length + ' accounts' : (console.error(JSON.stringify(s).slice(0, 300)), process.exit(1)))(g('$p')))(a => x[Object.keys(x).find(k => k.toLowerCase() === a.toLowerCase())])"
}
trace_call() {
  p=$(need probe deploy.contract)
  c rpc --raw debug_traceCall "[{\"from\":\"$ADDR\",\"to\":\"$p\",\"data\":\"$(c sig 'get()')\"},\"latest\",{\"tracer\":\"callTracer\"}]" | j "x.type === 'CALL' && BigInt(x.output) > 0n ? 'output ' + x.output : process.exit(1)"
}
cast_run() {
  h=$(fixture | j x.transactionHash)
  out=$(c run "$h" 2>&1) || fail "cast run: $(echo "$out" | tail -5)"
  echo "$out" | grep -q "Transaction successfully executed" || fail "cast run: $(echo "$out" | tail -5)"
  echo "$out" | grep -q "Stored" || echo "$out" | grep -q "emit" || fail "no event in the trace: $(echo "$out" | head -8)"
  echo "$(echo "$out" | grep -c .) lines; $(echo "$out" | grep -o 'Gas used: [0-9]*' | head -1)"
}
cast_call_trace() {
  p=$(need probe deploy.contract)
  out=$(c call --trace "$p" "set(uint256)" 31 --from "$ADDR" 2>&1) || fail "cast call --trace: $(echo "$out" | tail -5)"
  echo "$out" | grep -q "Transaction successfully executed" || fail "$(echo "$out" | tail -5)"
  echo "$out" | grep -qi "emit\|Stored" || fail "no event in the trace: $(echo "$out" | head -8)"
  echo "$(echo "$out" | grep -c .) lines"
}
export -f trace_struct trace_call_tracer trace_prestate trace_call cast_run cast_call_trace

# ---- access lists, proofs, overrides ----
access_list() {
  p=$(need probe deploy.contract); slot=$(c index address "$ADDR" 1)
  c access-list "$p" "set(uint256)" 99 --from "$ADDR" --json | j "(e => e && e.storageKeys.includes('$SLOT0') && e.storageKeys.includes('$slot') && BigInt(x.gasUsed) > 21000n ? e.storageKeys.length + ' keys, gasUsed ' + BigInt(x.gasUsed) : (console.error(JSON.stringify(x)), process.exit(1)))((x.accessList || x.access_list || []).find(e => e.address.toLowerCase() === '$(echo "$p" | lc)'))"
}
proof_of() {
  n=$(c block-number)
  pr=$(c proof "$1" "${@:2}" --block "$n") || fail "cast proof: $pr"
  root=$(c block "$n" --json | j x.stateRoot)
  bal=$(c balance "$1" --block "$n")
  [ "$(echo "$pr" | j 'BigInt(x.balance).toString()')" = "$bal" ] || fail "balance differs from cast balance"
  echo "$pr" | node "$HERE/lib/verify-proof.mjs" "$root" && echo " at #$n"
}
proof_eoa() { proof_of "$ADDR" | tr -d '\n'; }
proof_contract() { p=$(need probe deploy.contract); proof_of "$p" 0 "$(c index address "$ADDR" 1)" | tr -d '\n'; }
override_balance() {
  p=$(need probe deploy.contract); who=$(fresh)
  v=$(c call --override-balance "$who:123456789" "$p" "balanceOf(address)(uint256)" "$who" | num)
  [ "$v" = "123456789" ] || fail "balanceOf under the override: $v"
  echo "$v"
}
override_code() {
  at=$(fresh)
  v=$(c call "$at" --override-code "$at:$RETURN_42")
  [ "$(echo "$v" | j 'String(BigInt(x))')" = "42" ] || fail "result $v"
  echo "$v"
}
override_state_diff() {
  p=$(need probe deploy.contract)
  v=$(c call --override-state-diff "$p:0:10592673" "$p" "get()(uint256)" | num)
  [ "$v" = "10592673" ] || fail "get() under the override $v (a value no check stores)"
  echo "$v"
}
export -f access_list proof_of proof_eoa proof_contract override_balance override_code override_state_diff

# ---- historical state ----
hist_balance() {
  b0=$(need deploy_block deploy.contract)
  then=$(c balance "$ADDR" --block "$b0"); now=$(c balance "$ADDR")
  node -e 'process.exit(BigInt(process.argv[1]) > BigInt(process.argv[2]) ? 0 : 1)' "$then" "$now" || fail "at #$b0 $then, now $now"
  echo "#$b0: $then > $now"
}
hist_nonce() {
  b0=$(need deploy_block deploy.contract)
  before=$(c nonce "$ADDR" --block $((b0 - 1))); then=$(c nonce "$ADDR" --block "$b0"); now=$(c nonce "$ADDR")
  [ "$then" = "$((before + 1))" ] && [ "$now" -gt "$then" ] || fail "$before -> $then -> $now"
  echo "$before -> $then -> $now"
}
hist_storage() {
  b0=$(need deploy_block deploy.contract); p=$(cat "$STATE/probe")
  then=$(c storage "$p" 0 --block "$b0" | j 'String(BigInt(x))'); now=$(c storage "$p" 0 | j 'String(BigInt(x))')
  [ "$then" = "0" ] && [ "$now" != "0" ] || fail "slot 0 at #$b0 $then, now $now"
  [ "$(c code "$p" --block $((b0 - 1)))" = "0x" ] || fail "code before the deployment"
  echo "0 -> $now"
}
hist_call() {
  b0=$(need deploy_block deploy.contract); p=$(cat "$STATE/probe")
  then=$(c call --block "$b0" "$p" "get()(uint256)" | num); now=$(c call "$p" "get()(uint256)" | num)
  [ "$then" = "0" ] && [ "$now" != "0" ] || fail "get() at #$b0 $then, now $now"
  echo "0 -> $now"
}
export -f hist_balance hist_nonce hist_storage hist_call

# ---- multicall: Multicall3.aggregate3 called directly ----
multicall() {
  p=$(need probe deploy.contract)
  get=$(c sig 'get()'); bal=$(c calldata 'getEthBalance(address)' "$ADDR")
  out=$(c call "$MULTICALL3" "aggregate3((address,bool,bytes)[])((bool,bytes)[])" "[($p,false,$get),($MULTICALL3,false,$bal),($p,true,0xdeadbeef)]") || fail "aggregate3: $out"
  want_get=$(c call "$p" "get()(uint256)" | num | j 'BigInt(x).toString(16)'); want_bal=$(c balance "$ADDR" | j 'BigInt(x).toString(16)')
  echo "$out" | grep -q "(true, 0x0*$want_get)" || fail "get: $out"
  echo "$out" | grep -q "(true, 0x0*$want_bal)" || fail "balance: $out"
  echo "$out" | grep -q "(false," || fail "unknown selector should fail: $out"
  echo "3 calls"
}
export -f multicall

# ---- signing with the node's dev accounts ----
sign_personal() {
  msg="aiop first hour"
  sig=$(c rpc personal_sign "$(c from-utf8 "$msg")" "$ADDR" | j x) || fail "$sig"
  c wallet verify --address "$ADDR" "$msg" "$sig" >/dev/null 2>&1 || fail "does not verify: $sig"
  [ "$sig" = "$(c wallet sign --private-key "$KEY" "$msg")" ] || fail "differs from cast wallet sign"
  echo "${sig:0:18}..."
}
sign_eth() {
  sig=$(c rpc eth_sign "$ADDR" "$(c from-utf8 'aiop eth_sign')" | j x) || fail "$sig"
  c wallet verify --address "$ADDR" "aiop eth_sign" "$sig" >/dev/null 2>&1 || fail "does not verify: $sig"
  echo "${sig:0:18}..."
}
sign_typed() {
  cid=$(c chain-id)
  typed="{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"string\"},{\"name\":\"chainId\",\"type\":\"uint256\"},{\"name\":\"verifyingContract\",\"type\":\"address\"}],\"Mail\":[{\"name\":\"from\",\"type\":\"address\"},{\"name\":\"contents\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"uint256\"}]},\"primaryType\":\"Mail\",\"domain\":{\"name\":\"aiop\",\"version\":\"1\",\"chainId\":$cid,\"verifyingContract\":\"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC\"},\"message\":{\"from\":\"$ADDR\",\"contents\":\"hello\",\"n\":7}}"
  sig=$(c rpc --raw eth_signTypedData_v4 "[\"$ADDR\",$typed]" | j x) || fail "$sig"
  c wallet verify --address "$ADDR" --data "$typed" "$sig" >/dev/null 2>&1 || fail "does not verify: $sig"
  [ "$sig" = "$(c wallet sign --private-key "$KEY" --data "$typed")" ] || fail "differs from cast wallet sign --data"
  echo "${sig:0:18}..."
}
sign_tx() {
  n=$(c nonce "$ADDR"); cid=$(c chain-id); base=$(c base-fee)
  rawtx=$(c rpc --raw eth_signTransaction "[{\"from\":\"$ADDR\",\"to\":\"$ADDR\",\"value\":\"0x1\",\"gas\":\"0x5208\",\"nonce\":\"$(c to-hex "$n")\",\"chainId\":\"$(c to-hex "$cid")\",\"maxFeePerGas\":\"$(c to-hex $((base * 2 + 1000000000)))\",\"maxPriorityFeePerGas\":\"0x3b9aca00\"}]" | j 'typeof x === "string" ? x : x.raw') || fail "$rawtx"
  signer=$(c decode-transaction "$rawtx" | j '(typeof x === "string" ? JSON.parse(x) : x).signer')
  [ "$(echo "$signer" | lc)" = "$(echo "$ADDR" | lc)" ] || fail "signer $signer"
  echo "${rawtx:0:18}..."
}
export -f sign_personal sign_eth sign_typed sign_tx

# ---- the pool, on the interval-mining node ----
pool_setup() {
  [ -n "$INTERVAL_RPC_URL" ] || fail "no interval-mining node (--interval-rpc)"
  export ETH_RPC_URL=$INTERVAL_RPC_URL
  to=$(fresh)
  # Up to three tries: the transaction must still be pending when the pool is read.
  for try in 1 2 3; do
    n0=$(c block-number)
    for _ in $(seq 100); do [ "$(c block-number)" != "$n0" ] && break; sleep 0.05; done
    h=$(c send --private-key "$KEY" --async --gas-limit 21000 "$to" --value 5) || fail "send: $h"
    # All three at once, before the next block takes the transaction out of the pool.
    c rpc txpool_status > "$STATE/pool_status" 2>&1 &
    c rpc txpool_content > "$STATE/pool_content" 2>&1 &
    c rpc txpool_inspect > "$STATE/pool_inspect" 2>&1 &
    wait
    c receipt "$h" --json > "$STATE/pool_receipt" 2>&1
    grep -q "$h" "$STATE/pool_content" && break
    echo "try $try: $h was mined before the pool was read" >&2
  done
  echo "$to" > "$STATE/pool_to"; echo "$h" > "$STATE/pool_hash"
  echo "sent $h"
}
pool_status() {
  c=$(need pool_status "the pool setup"); echo "$c" | j "Number(x.pending) >= 1 && x.queued !== undefined ? 'pending ' + Number(x.pending) : (console.error(JSON.stringify(x)), process.exit(1))" || fail "$c"
}
pool_content() {
  c=$(need pool_content "the pool setup"); h=$(cat "$STATE/pool_hash"); to=$(cat "$STATE/pool_to" | lc)
  echo "$c" | j "(m => (e => e && e.to.toLowerCase() === '$to' ? 'nonce ' + Number(e.nonce) : process.exit(1))(Object.values(m).find(t => t.hash === '$h')))(Object.entries(x.pending || {}).find(([k]) => k.toLowerCase() === '$(echo "$ADDR" | lc)')?.[1] || {})" || fail "$(echo "$c" | head -c 300)"
}
pool_inspect() {
  c=$(need pool_inspect "the pool setup"); to=$(cat "$STATE/pool_to" | lc)
  echo "$c" | j "(l => typeof l === 'string' && l.toLowerCase().includes('${to:2:8}') ? l : process.exit(1))(Object.values(Object.entries(x.pending || {}).find(([k]) => k.toLowerCase() === '$(echo "$ADDR" | lc)')?.[1] || {})[0])" || fail "$(echo "$c" | head -c 300)"
}
pool_mined() { r=$(need pool_receipt "the pool setup"); echo "$r" | j "x.status === '0x1' ? 'block ' + Number(x.blockNumber) : process.exit(1)" || fail "$r"; }
export -f pool_setup pool_status pool_content pool_inspect pool_mined

# ---- dev cheats ----
evm_snapshot_revert() {
  to=$(fresh); n0=$(c block-number)
  id=$(c rpc evm_snapshot | j x) || fail "$id"
  send "$to" --value 99 >/dev/null
  [ "$(c balance "$to")" = "99" ] || fail "transfer"
  ok=$(c rpc evm_revert "$id" | j x)
  [ "$ok" = "true" ] && [ "$(c balance "$to")" = "0" ] && [ "$(c block-number)" = "$n0" ] || fail "revert $ok, balance $(c balance "$to"), block $(c block-number) (was $n0)"
  echo "snapshot $id"
}
evm_increase_time() {
  t0=$(c block latest --json | j 'Number(x.timestamp)')
  c rpc evm_increaseTime 3600 >/dev/null || fail "evm_increaseTime"
  c rpc evm_mine >/dev/null || fail "evm_mine"
  t1=$(c block latest --json | j 'Number(x.timestamp)')
  [ "$t1" -ge $((t0 + 3600)) ] || fail "$t0 -> $t1"
  echo "+$((t1 - t0))s"
}
evm_mine() { n0=$(c block-number); c rpc evm_mine >/dev/null || fail "evm_mine"; n1=$(c block-number); [ "$n1" = $((n0 + 1)) ] || fail "$n0 -> $n1"; echo "#$n1"; }
anvil_set_balance() {
  who=$(fresh); c rpc anvil_setBalance "$who" 0x246ddf97976680000 >/dev/null || fail "anvil_setBalance"
  b=$(c balance "$who"); [ "$b" = "42000000000000000000" ] || fail "$b"; echo "$b"
}
export -f evm_snapshot_revert evm_increase_time evm_mine anvil_set_balance

# ---- the inference precompile (aiop only) ----
pc_model_info() {
  [ "$TARGET" = aiop ] || skip "aiop only: no inference precompile"
  out=$(c call "$PRECOMPILE" "$(c calldata 'modelInfo(address)' "$DIGITS_MLP")") || fail "$out"
  [ ${#out} -gt 2 ] || fail "empty"
  echo "keccak=$(c keccak "$out") len=$(( (${#out} - 2) / 2 ))"
}
pc_infer() {
  [ "$TARGET" = aiop ] || skip "aiop only: no inference precompile"
  out=$(c call "$PRECOMPILE" "infer(address,bytes)(bytes)" "$DIGITS_MLP" "$DIGITS_INPUT") || fail "$out"
  [ ${#out} = 22 ] || fail "output $out"
  echo "keccak=$(c keccak "$out") out=$out"
}
pc_mlperf() {
  [ "$TARGET" = aiop ] || skip "aiop only: no inference precompile"
  out=$(c call "$PRECOMPILE" "$(c calldata 'modelInfo(address)' "$MLPERF_KWS")") || fail "$out"
  echo "keccak=$(c keccak "$out") len=$(( (${#out} - 2) / 2 ))"
}
aiop_model_info() {
  [ "$TARGET" = aiop ] || skip "aiop only: aiop_modelInfo"
  info=$(c rpc aiop_modelInfo "$DIGITS_MLP") || fail "$info"
  canon=$(echo "$info" | j 'JSON.stringify(((f) => f(f, x))((f, v) => Array.isArray(v) ? v.map(e => f(f, e)) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map(k => [k, f(f, v[k])])) : v))')
  echo "keccak=$(c keccak "$canon") id=$(echo "$info" | j x.id)"
}
export -f pc_model_info pc_infer pc_mlperf aiop_model_info

check accounts.mnemonic accounts_mnemonic
check read.chainId read_chainId
check read.blockNumber read_blockNumber
check read.getBalance read_getBalance
check read.gasPrice read_gasPrice
check read.maxPriorityFeePerGas read_maxPriorityFeePerGas
check deploy.contract deploy_contract
check tx.legacy.autogas tx_legacy
check tx.eip2930.autogas tx_2930
check tx.eip1559.autogas tx_1559
check tx.eip7702.autogas tx_7702
check tx.fixture tx_fixture
check read.getBlock.latest block_latest
check read.getBlock.byNumber block_number
check read.getBlock.byHash block_hash
check read.getBlock.fullTxs block_full
check read.getCode get_code
check read.getStorageAt get_storage
check read.getTransactionCount get_nonce
check read.feeHistory fee_history
check read.feeHistory.rewards fee_rewards
check logs.byAddressTopic logs_topic
check logs.byBlockHash logs_hash
check logs.fromBlockPastHead logs_past_head
check filter.logs filter_logs
check filter.blocks filter_blocks
check ws.logs ws_logs
if only_ok ws.newHeads; then
  node -e 'console.log(JSON.stringify({client:"cast",check:"ws.newHeads",ok:true,skip:true,detail:"cast has no command that subscribes to new heads"}))'
fi
if only_ok ws.newPendingTransactions; then
  node -e 'console.log(JSON.stringify({client:"cast",check:"ws.newPendingTransactions",ok:true,skip:true,detail:"cast has no command that subscribes to pending transactions"}))'
fi
check trace.struct trace_struct
check trace.callTracer trace_call_tracer
check trace.prestateTracer trace_prestate
check trace.call trace_call
check cast.run cast_run 60
check cast.callTrace cast_call_trace 60
check accessList.create access_list
check proof.eoa proof_eoa
check proof.contract proof_contract
check override.balance override_balance
check override.code override_code
check override.stateDiff override_state_diff
check history.getBalance hist_balance
check history.getTransactionCount hist_nonce
check history.getStorageAt hist_storage
check history.call hist_call
check multicall.aggregate3 multicall
check sign.personal sign_personal
check sign.eth_sign sign_eth
check sign.typedDataV4 sign_typed
check sign.transaction sign_tx
if only_ok txpool; then
  timeout 30 bash -c pool_setup >/dev/null 2>"$STATE/pool_err" || echo "pool setup: $(cat "$STATE/pool_err")" >&2
fi
check txpool.status pool_status
check txpool.content pool_content
check txpool.inspect pool_inspect
check txpool.mined pool_mined
check evm.snapshotRevert evm_snapshot_revert
check evm.increaseTime evm_increase_time
check evm.mine evm_mine
check anvil.setBalance anvil_set_balance
check precompile.modelInfo pc_model_info
check precompile.infer pc_infer
check precompile.mlperf pc_mlperf
check aiop.modelInfo aiop_model_info
exit 0
