//! The JSON-RPC methods as clients call them, in process (jsonrpsee's module, no sockets):
//! each fixed wrong result, the pool's queueing, historical state, dev helpers, traces, access
//! lists, proofs, signing, subscriptions and the limits.

use aiop_kernels::KernelPath;
use aiop_node::{
    chain::{DEV_CHAIN_ID, MULTICALL3, dev_accounts},
    node::{Node, NodeConfig, sign},
    rpc::{RpcCtx, RpcLimits, module},
    verify::verify,
};
use alloy_consensus::{TxEip1559, TxEnvelope};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use jsonrpsee::{RpcModule, core::server::Subscription};
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};

struct Devnet {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    node: Arc<Node>,
    rpc: RpcModule<()>,
}

fn devnet(block_time: Option<Duration>) -> Devnet {
    devnet_with(block_time, RpcLimits::default())
}

fn devnet_with(block_time: Option<Duration>, limits: RpcLimits) -> Devnet {
    let dir = tempfile::Builder::new().prefix("aiop-rpc-test-").tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let node = Arc::new(
        Node::open(NodeConfig {
            datadir: path.clone(),
            genesis: None,
            dev: true,
            block_time,
            kernels: KernelPath::Reference,
        })
        .expect("node opens"),
    );
    let rpc = module(RpcCtx::with_limits(node.clone(), limits));
    Devnet { _dir: dir, dir: path, node, rpc }
}

impl Devnet {
    /// The result of a call, or its error object as JSON.
    async fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let (response, _) = self.rpc.raw_json_request(&request, 1).await.expect("a response");
        let response: Value = serde_json::from_str(response.get()).expect("JSON");
        match response.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(response["result"].clone()),
        }
    }

    async fn ok(&self, method: &str, params: Value) -> Value {
        self.call(method, params.clone()).await.unwrap_or_else(|e| panic!("{method} {params} failed: {e}"))
    }

    async fn head(&self) -> u64 {
        quantity(&self.ok("eth_blockNumber", json!([])).await)
    }
}

fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().expect("a quantity").trim_start_matches("0x"), 16).expect("hex")
}

fn alice() -> Address {
    dev_accounts()[0].address
}

fn bob() -> Address {
    dev_accounts()[1].address
}

fn transfer(nonce: u64, to: Address, value: u64, gas_limit: u64, tip: u128) -> TxEnvelope {
    let tx = TxEip1559 {
        chain_id: DEV_CHAIN_ID,
        nonce,
        gas_limit,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(to),
        value: U256::from(value),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    sign(tx, &dev_accounts()[0].key).expect("signs")
}

fn raw(tx: &TxEnvelope) -> String {
    format!("0x{}", alloy_primitives::hex::encode(tx.encoded_2718()))
}

/// Deploys runtime code `runtime` from alice and returns its address.
async fn deploy(net: &Devnet, runtime: &[u8]) -> Address {
    let mut init =
        vec![0x60, runtime.len() as u8, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, runtime.len() as u8, 0x60, 0x00, 0xf3];
    init.extend_from_slice(runtime);
    let hash = net
        .ok(
            "eth_sendTransaction",
            json!([{"from": alice(), "data": format!("0x{}", alloy_primitives::hex::encode(&init))}]),
        )
        .await;
    let receipt = net.ok("eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(receipt["status"], "0x1", "the deploy succeeded: {receipt}");
    receipt["contractAddress"].as_str().unwrap().parse().unwrap()
}

/// Runtime: SSTORE(0, CALLDATALOAD(0)); SLOAD(1) returned as one word.
const STORE_AND_READ: [u8; 14] = [0x5f, 0x35, 0x5f, 0x55, 0x60, 0x01, 0x54, 0x5f, 0x52, 0x60, 0x20, 0x5f, 0xf3, 0x00];

#[tokio::test]
async fn estimates_count_access_and_authorization_lists() {
    let net = devnet(None);
    let target = deploy(&net, &STORE_AND_READ).await;
    let call = json!({"from": alice(), "to": target, "data": format!("0x{:064x}", 5)});
    let plain = quantity(&net.ok("eth_estimateGas", json!([call])).await);
    let mut listed = call.clone();
    listed["accessList"] = json!([{"address": bob(), "storageKeys": [B256::with_last_byte(9)]}]);
    let with_list = quantity(&net.ok("eth_estimateGas", json!([listed])).await);
    // EIP-2930: 2400 per address and 1900 per key, on top of what the call itself uses.
    assert!(with_list >= plain + 4300 - plain / 100, "{with_list} vs {plain}");
    // A transaction sent with the estimate succeeds (the bug: estimates without the list
    // made every access-listed transaction run out of gas).
    let mut sent = listed.clone();
    sent["gas"] = json!(format!("0x{with_list:x}"));
    sent["maxFeePerGas"] = json!("0x4a817c800");
    let hash = net.ok("eth_sendTransaction", json!([sent])).await;
    assert_eq!(net.ok("eth_getTransactionReceipt", json!([hash])).await["status"], "0x1");

    // EIP-7702: each authorization costs 25000 (an empty authority) up front.
    let authorization =
        alloy_eips::eip7702::Authorization { chain_id: U256::from(DEV_CHAIN_ID), address: target, nonce: 0 };
    let key = &dev_accounts()[2].key;
    let (sig, recid) = key.sign_prehash_recoverable(authorization.signature_hash().as_slice()).unwrap();
    let signed = authorization.into_signed(Signature::from_signature_and_parity(sig, recid.is_y_odd()));
    let mut delegated = json!({"from": alice(), "to": bob(), "maxFeePerGas": "0x4a817c800"});
    let base = quantity(&net.ok("eth_estimateGas", json!([delegated])).await);
    delegated["authorizationList"] = json!([signed]);
    let with_auth = quantity(&net.ok("eth_estimateGas", json!([delegated])).await);
    assert!(with_auth >= base + 12_500, "{with_auth} vs {base}");
    let hash = net.ok("eth_sendTransaction", json!([delegated])).await;
    assert_eq!(net.ok("eth_getTransactionReceipt", json!([hash])).await["status"], "0x1");
    let code = net.ok("eth_getCode", json!([dev_accounts()[2].address])).await;
    assert!(code.as_str().unwrap().starts_with("0xef0100"), "the authority is delegated: {code}");
}

#[tokio::test]
async fn logs_past_the_head_are_empty_and_ranges_are_bounded() {
    let net = devnet(None);
    // Runtime: LOG0(0, 0).
    let emitter = deploy(&net, &[0x5f, 0x5f, 0xa0, 0x00]).await;
    net.ok("eth_sendTransaction", json!([{"from": alice(), "to": emitter}])).await;
    let head = net.head().await;
    let at_head = net.ok("eth_getLogs", json!([{"fromBlock": format!("0x{head:x}"), "address": emitter}])).await;
    assert_eq!(at_head.as_array().unwrap().len(), 1);
    let future = net.ok("eth_getLogs", json!([{"fromBlock": format!("0x{:x}", head + 1), "address": emitter}])).await;
    assert_eq!(future, json!([]), "a poller asking for the next block sees nothing yet");
    let reversed = net.call("eth_getLogs", json!([{"fromBlock": "0x2", "toBlock": "0x1"}])).await;
    assert_eq!(reversed.unwrap_err()["code"], -32602);
    let addresses: Vec<Address> = (0..2000u64).map(|i| Address::left_padding_from(&i.to_be_bytes())).collect();
    let too_wide = net.call("eth_getLogs", json!([{"address": addresses}])).await;
    assert_eq!(too_wide.unwrap_err()["code"], -32602);
}

#[tokio::test]
async fn fee_history_reports_the_tips_paid_and_refuses_what_geth_refuses() {
    let net = devnet(None);
    let tip = 3_000_000_000u128;
    net.ok("eth_sendRawTransaction", json!([raw(&transfer(0, bob(), 1, 21_000, tip))])).await;
    let history = net.ok("eth_feeHistory", json!(["0x1", "latest", [50.0]])).await;
    assert_eq!(history["reward"][0][0], json!(format!("0x{tip:x}")), "{history}");
    let many: Vec<f64> = (0..200_000).map(|i| f64::from(i % 100)).collect();
    assert_eq!(net.call("eth_feeHistory", json!(["0x1", "latest", many])).await.unwrap_err()["code"], -32602);
    assert_eq!(net.call("eth_feeHistory", json!(["0x1", "latest", [60.0, 10.0]])).await.unwrap_err()["code"], -32602);
    let wide = net.ok("eth_feeHistory", json!(["0x100000", "latest", []])).await;
    assert!(wide["baseFeePerGas"].as_array().unwrap().len() <= 1025);
}

#[tokio::test]
async fn calls_honour_state_overrides_and_read_older_blocks() {
    let net = devnet(None);
    // Runtime: BALANCE(CALLDATALOAD(0)) returned.
    let reader = [0x5f, 0x35, 0x31, 0x5f, 0x52, 0x60, 0x20, 0x5f, 0xf3];
    let code = format!("0x{}", alloy_primitives::hex::encode(reader));
    let target = Address::with_last_byte(0x77);
    let input = format!("0x{:0>64}", alloy_primitives::hex::encode(bob()));
    let overrides = json!({ target.to_string(): {"code": code}, bob().to_string(): {"balance": "0x1234"} });
    let out = net.ok("eth_call", json!([{"to": target, "data": input}, "latest", overrides])).await;
    assert_eq!(out, json!(format!("0x{:064x}", 0x1234)), "both overrides apply");
    assert_eq!(net.ok("eth_call", json!([{"to": target, "data": input}])).await, json!("0x"), "and nothing stays");
    let bad = json!({ target.to_string(): {"state": {}, "stateDiff": {}} });
    assert_eq!(net.call("eth_call", json!([{"to": target}, "latest", bad])).await.unwrap_err()["code"], -32602);

    // History: bob's balance and a contract's storage before and after.
    let before = net.head().await;
    let balance_before = net.ok("eth_getBalance", json!([bob(), "latest"])).await;
    let store = deploy(&net, &STORE_AND_READ).await;
    net.ok("eth_sendTransaction", json!([{"from": alice(), "to": store, "data": format!("0x{:064x}", 7)}])).await;
    let set_at = net.head().await;
    net.ok("eth_sendTransaction", json!([{"from": alice(), "to": bob(), "value": "0x64"}])).await;
    let old = format!("0x{before:x}");
    assert_eq!(net.ok("eth_getBalance", json!([bob(), old])).await, balance_before);
    assert_ne!(net.ok("eth_getBalance", json!([bob(), "latest"])).await, balance_before);
    assert_eq!(net.ok("eth_getCode", json!([store, old])).await, json!("0x"));
    let slot = |n: u64| net.ok("eth_getStorageAt", json!([store, "0x0", format!("0x{n:x}")]));
    assert_eq!(slot(set_at - 1).await, json!(format!("0x{:064x}", 0)));
    assert_eq!(slot(set_at).await, json!(format!("0x{:064x}", 7)));
    assert_eq!(
        quantity(&net.ok("eth_getTransactionCount", json!([alice(), old])).await) + 3,
        quantity(&net.ok("eth_getTransactionCount", json!([alice(), "latest"])).await)
    );
    let future = net.call("eth_getBalance", json!([bob(), format!("0x{:x}", set_at + 100)])).await;
    assert_eq!(future.unwrap_err()["message"], "header not found");
    // A call at an older block sees that block's balance.
    let then =
        net.ok("eth_call", json!([{"to": target, "data": input}, old, { target.to_string(): {"code": code} }])).await;
    assert_eq!(
        U256::from_str_radix(then.as_str().unwrap().trim_start_matches("0x"), 16).unwrap(),
        U256::from_str_radix(balance_before.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    );
}

#[tokio::test]
async fn nonce_gaps_queue_and_interval_blocks_keep_what_does_not_fit() {
    // Automine: a gap waits in the pool, and filling it mines both.
    let net = devnet(None);
    net.ok("eth_sendRawTransaction", json!([raw(&transfer(1, bob(), 1, 21_000, 1_000_000_000))])).await;
    assert_eq!(net.ok("txpool_status", json!([])).await, json!({"pending": "0x0", "queued": "0x1"}));
    let content = net.ok("txpool_content", json!([])).await;
    assert!(content["queued"][alice().to_string()]["1"].is_object(), "{content}");
    assert_eq!(quantity(&net.ok("eth_getTransactionCount", json!([alice(), "pending"])).await), 0);
    net.ok("eth_sendRawTransaction", json!([raw(&transfer(0, bob(), 1, 21_000, 1_000_000_000))])).await;
    assert_eq!(quantity(&net.ok("eth_getTransactionCount", json!([alice(), "latest"])).await), 2);
    assert_eq!(net.ok("txpool_status", json!([])).await, json!({"pending": "0x0", "queued": "0x0"}));

    // Interval mining: 60 transactions with a 29M gas limit each; a 30M block takes the ones
    // whose limit fits in the gas left, and the rest wait for the next block instead of being
    // dropped.
    let net = devnet(Some(Duration::from_secs(3600)));
    let mut hashes = Vec::new();
    for nonce in 0..60 {
        hashes.push(
            net.ok("eth_sendRawTransaction", json!([raw(&transfer(nonce, bob(), 1, 29_000_000, 1_000_000_000))])).await,
        );
    }
    assert_eq!(net.ok("txpool_status", json!([])).await["pending"], json!("0x3c"));
    net.ok("evm_mine", json!([])).await;
    let first =
        net.ok("eth_getBlockByNumber", json!(["latest", false])).await["transactions"].as_array().unwrap().len();
    assert!(first > 0 && first < 60, "{first} fit");
    let left = quantity(&net.ok("txpool_status", json!([])).await["pending"]);
    assert_eq!(left as usize, 60 - first, "what did not fit is still pending");
    while quantity(&net.ok("txpool_status", json!([])).await["pending"]) > 0 {
        net.ok("evm_mine", json!([])).await;
    }
    for hash in hashes {
        assert_eq!(
            net.ok("eth_getTransactionReceipt", json!([hash])).await["status"],
            "0x1",
            "every acknowledged tx is mined"
        );
    }
}

#[tokio::test]
async fn raw_transactions_are_checked_for_trailing_bytes_and_size() {
    let net = devnet(None);
    let tx = raw(&transfer(0, bob(), 1, 21_000, 1_000_000_000));
    let trailing = net.call("eth_sendRawTransaction", json!([format!("{tx}00")])).await;
    assert_eq!(trailing.unwrap_err()["code"], -32602);
    let big = TxEip1559 {
        chain_id: DEV_CHAIN_ID,
        nonce: 0,
        gas_limit: 29_000_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1,
        to: TxKind::Call(bob()),
        value: U256::ZERO,
        access_list: Default::default(),
        input: Bytes::from(vec![1u8; 200 * 1024]),
    };
    let big = raw(&sign(big, &dev_accounts()[0].key).unwrap());
    let refused = net.call("eth_sendRawTransaction", json!([big])).await.unwrap_err();
    assert!(refused["message"].as_str().unwrap().contains("oversized"), "{refused}");
    net.ok("eth_sendRawTransaction", json!([tx])).await;
}

#[tokio::test]
async fn snapshots_revert_and_state_edits_are_replayable() {
    let net = devnet(None);
    let id = net.ok("evm_snapshot", json!([])).await;
    let head = net.head().await;
    let balance = net.ok("eth_getBalance", json!([bob()])).await;
    let hash = net.ok("eth_sendTransaction", json!([{"from": alice(), "to": bob(), "value": "0x1"}])).await;
    assert_eq!(net.head().await, head + 1);
    assert_eq!(net.ok("evm_revert", json!([id])).await, json!(true));
    assert_eq!(net.head().await, head);
    assert_eq!(net.ok("eth_getBalance", json!([bob()])).await, balance);
    assert_eq!(net.ok("eth_getTransactionReceipt", json!([hash])).await, Value::Null);
    assert_eq!(net.ok("evm_revert", json!([id])).await, json!(false), "a snapshot is used once");
    // The same transaction again after the revert: it is new to the chain.
    net.ok("eth_sendTransaction", json!([{"from": alice(), "to": bob(), "value": "0x1"}])).await;

    net.ok("anvil_setBalance", json!([Address::with_last_byte(0x99), "0x3e8"])).await;
    assert_eq!(net.ok("eth_getBalance", json!([Address::with_last_byte(0x99)])).await, json!("0x3e8"));
    net.ok("anvil_setCode", json!([Address::with_last_byte(0x98), "0x5f5ff3"])).await;
    net.ok("hardhat_setStorageAt", json!([Address::with_last_byte(0x98), "0x1", format!("0x{:064x}", 5)])).await;
    assert_eq!(
        net.ok("eth_getStorageAt", json!([Address::with_last_byte(0x98), "0x1"])).await,
        json!(format!("0x{:064x}", 5))
    );
    let offset = quantity(&net.ok("evm_increaseTime", json!(["0xe10"])).await);
    assert_eq!(offset, 3600);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    net.ok("evm_mine", json!([])).await;
    let after = quantity(&net.ok("eth_getBlockByNumber", json!(["latest", false])).await["timestamp"]);
    assert!(after >= now + 3600, "{now} -> {after}");
    drop(net.rpc);
    // Calls run on their own threads, which let go of the node just after they answer.
    let mut node = net.node;
    let node = loop {
        match Arc::try_unwrap(node) {
            Ok(node) => break node,
            Err(shared) => {
                node = shared;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    drop(node);
    let report = verify(&net.dir, KernelPath::Reference, false).expect("the chain with edits verifies");
    assert_eq!(report.edited_blocks, 3);
}

#[tokio::test]
async fn traces_access_lists_proofs_and_multicall() {
    let net = devnet(None);
    let store = deploy(&net, &STORE_AND_READ).await;
    let call = json!({"from": alice(), "to": store, "data": format!("0x{:064x}", 7)});
    let hash = net.ok("eth_sendTransaction", json!([call])).await;
    // A later block, so the trace replays on historical state.
    net.ok("eth_sendTransaction", json!([{"from": alice(), "to": store, "data": format!("0x{:064x}", 8)}])).await;
    let receipt = net.ok("eth_getTransactionReceipt", json!([hash])).await;
    let logs = net.ok("debug_traceTransaction", json!([hash])).await;
    assert_eq!(logs["gas"], json!(quantity(&receipt["gasUsed"])), "the replay uses the gas the block did");
    let ops: Vec<&str> = logs["structLogs"].as_array().unwrap().iter().map(|l| l["op"].as_str().unwrap()).collect();
    assert!(ops.contains(&"SSTORE") && ops.contains(&"SLOAD"), "{ops:?}");
    let calls = net.ok("debug_traceTransaction", json!([hash, {"tracer": "callTracer"}])).await;
    assert_eq!(calls["to"], json!(store.to_string().to_lowercase()));
    let prestate = net
        .ok("debug_traceTransaction", json!([hash, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": true}}]))
        .await;
    assert!(prestate["post"][store.to_string().to_lowercase()]["storage"].is_object(), "{prestate}");
    let traced = net.ok("debug_traceCall", json!([call, "latest", {"tracer": "callTracer"}])).await;
    assert_eq!(traced["type"], "CALL");
    assert!(net.call("debug_traceCall", json!([call, "latest", {"tracer": "jsTracer"}])).await.is_err());

    let list = net.ok("eth_createAccessList", json!([call])).await;
    let entry = &list["accessList"][0];
    assert_eq!(entry["address"], json!(store.to_string().to_lowercase()), "{list}");
    assert_eq!(entry["storageKeys"].as_array().unwrap().len(), 2, "slots 0 and 1: {list}");

    let proof = net.ok("eth_getProof", json!([store, [B256::ZERO], "latest"])).await;
    assert!(!proof["accountProof"].as_array().unwrap().is_empty());
    assert_eq!(proof["storageProof"][0]["value"], "0x8");
    let root = net.ok("eth_getBlockByNumber", json!(["latest", false])).await["stateRoot"].clone();
    let first_node = proof["accountProof"][0].as_str().unwrap();
    let first = alloy_primitives::hex::decode(first_node).unwrap();
    assert_eq!(json!(keccak256(first).to_string()), root, "the proof starts at the state root");
    assert!(net.call("eth_getProof", json!([store, [], "0x1"])).await.is_err(), "older blocks are refused");

    // Multicall3 is at its usual address: getBlockNumber() through aggregate3.
    let code = net.ok("eth_getCode", json!([MULTICALL3])).await;
    assert!(code.as_str().unwrap().len() > 1000);
    let number = net.ok("eth_call", json!([{"to": MULTICALL3, "data": "0x42cbb15c"}])).await;
    let number = U256::from_str_radix(number.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(number, U256::from(net.head().await + 1), "calls run as the next block");
}

#[tokio::test]
async fn dev_accounts_sign_messages_typed_data_and_transactions() {
    let net = devnet(None);
    let message = "0x68656c6c6f";
    let personal = net.ok("personal_sign", json!([message, alice()])).await;
    assert_eq!(personal, net.ok("eth_sign", json!([alice(), message])).await);
    let sig: Signature =
        Signature::from_raw(&alloy_primitives::hex::decode(personal.as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(sig.recover_address_from_msg(b"hello").unwrap(), alice());
    let typed = json!({
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}], "Mail": [{"name": "contents", "type": "string"}]},
        "primaryType": "Mail", "domain": {"name": "aiop"}, "message": {"contents": "hi"}
    });
    let from_object = net.ok("eth_signTypedData_v4", json!([alice(), typed])).await;
    let from_string = net.ok("eth_signTypedData_v4", json!([alice(), typed.to_string()])).await;
    assert_eq!(from_object, from_string);
    let signed = net.ok("eth_signTransaction", json!([{"from": alice(), "to": bob(), "value": "0x1"}])).await;
    let hash = net.ok("eth_sendRawTransaction", json!([signed])).await;
    assert_eq!(net.ok("eth_getTransactionReceipt", json!([hash])).await["status"], "0x1");
    let unknown = net.call("personal_sign", json!([message, Address::with_last_byte(1)])).await;
    assert!(unknown.unwrap_err()["message"].as_str().unwrap().contains("unknown account"));
}

#[tokio::test]
async fn subscriptions_and_filters_see_new_blocks_logs_and_pending_transactions() {
    let net = devnet(Some(Duration::from_secs(3600)));
    let mut heads: Subscription = net.rpc.subscribe_unbounded("eth_subscribe", ["newHeads"]).await.expect("subscribes");
    let mut pending: Subscription =
        net.rpc.subscribe_unbounded("eth_subscribe", ["newPendingTransactions"]).await.expect("subscribes");
    let mut logs: Subscription =
        net.rpc.subscribe_unbounded("eth_subscribe", (json!("logs"), json!({}))).await.expect("subscribes");
    let filter = net.ok("eth_newPendingTransactionFilter", json!([])).await;
    let hash = net.ok("eth_sendRawTransaction", json!([raw(&transfer(0, bob(), 1, 21_000, 1))])).await;
    let (announced, _) = pending.next::<Value>().await.expect("an item").expect("decodes");
    assert_eq!(announced, hash);
    assert_eq!(net.ok("eth_getFilterChanges", json!([filter])).await, json!([hash]));
    net.ok("evm_mine", json!([])).await;
    let (head, _) = heads.next::<Value>().await.expect("an item").expect("decodes");
    assert_eq!(quantity(&head["number"]), net.head().await);
    // A block with a log: deploy an emitter, then call it.
    let node = net.node.clone();
    let init = [0x60, 0x04, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x04, 0x60, 0x00, 0xf3, 0x5f, 0x5f, 0xa0, 0x00];
    let deploy = TxEip1559 {
        chain_id: DEV_CHAIN_ID,
        nonce: 1,
        gas_limit: 100_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1,
        to: TxKind::Create,
        value: U256::ZERO,
        access_list: Default::default(),
        input: Bytes::from(init.to_vec()),
    };
    node.submit(sign(deploy, &dev_accounts()[0].key).unwrap()).unwrap();
    let emitter = alice().create(1);
    node.submit(transfer(2, emitter, 0, 100_000, 1)).unwrap();
    node.mine_pending().unwrap();
    let (log, _) =
        tokio::time::timeout(Duration::from_secs(10), logs.next::<Value>()).await.expect("in time").unwrap().unwrap();
    assert_eq!(log["address"], json!(emitter.to_string().to_lowercase()));
}

#[tokio::test]
async fn calls_are_capped_by_the_rpc_gas_cap_and_time_budget() {
    let limits = RpcLimits { gas_cap: 3_000_000, evm_timeout: Duration::from_secs(30), ..RpcLimits::default() };
    let net = devnet_with(None, limits);
    // Runtime: an endless loop (JUMPDEST; PUSH0; JUMP).
    let looped = deploy(&net, &[0x5b, 0x5f, 0x56]).await;
    let traced = net
        .ok("debug_traceCall", json!([{"to": looped, "gas": "0x3b9aca00"}, "latest", {"tracer": "callTracer"}]))
        .await;
    assert_eq!(traced["gasUsed"], json!("0x2dc6c0"), "a billion gas asked for, the cap used: {traced}");
    let out = net.call("eth_call", json!([{"to": looped, "gas": "0x3b9aca00"}])).await.unwrap_err();
    assert!(out["message"].as_str().unwrap().contains("OutOfGas"), "{out}");
    assert!(net.call("eth_estimateGas", json!([{"to": looped}])).await.is_err());

    let limits = RpcLimits { evm_timeout: Duration::from_millis(1), ..RpcLimits::default() };
    let net = devnet_with(None, limits);
    let looped = deploy(&net, &[0x5b, 0x5f, 0x56]).await;
    let out = net.call("eth_call", json!([{"to": looped}])).await.unwrap_err();
    assert!(out["message"].as_str().unwrap().contains("timeout"), "{out}");
}
