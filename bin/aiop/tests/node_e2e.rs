//! `aiop node` end to end: a real node process on an ephemeral port, driven by a real client
//! (Foundry's `cast`, found through `AIOP_CAST` or `PATH`) and by raw HTTP.
//!
//! Set `AIOP_BIN` to test another build of the binary (any program with the same `node`,
//! `chain verify` and `model deploy|call` subcommands).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// Dev account 0 (`test test ... junk`, m/44'/60'/0'/0/0).
const KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ADDR0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const ADDR1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// The pre-deployed trained digits MLP (example model 0).
const MLP: &str = "0x00000000000000000000000000000000a10d0000";
/// The pre-deployed trained digits CNN (example model 1).
const CNN: &str = "0x00000000000000000000000000000000a10d0001";
/// The precompile's default address.
const PRECOMPILE: &str = "0x00000000000000000000000000000000000a1000";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn aiop_bin() -> PathBuf {
    std::env::var_os("AIOP_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aiop")))
}

fn cast_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AIOP_CAST") {
        return PathBuf::from(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("cast");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Foundry's `cast` is required by the node end-to-end tests: install it with \
         `npm install -g @foundry-rs/cast` (or set AIOP_CAST to its path)"
    );
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "aiop-node-e2e-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A running node; killed (SIGKILL) on drop.
struct NodeProc {
    child: Child,
    url: String,
}

impl NodeProc {
    fn start(datadir: &Path, extra: &[&str]) -> NodeProc {
        let mut cmd = Command::new(aiop_bin());
        cmd.args(["node", "--dev", "--http.port", "0", "--datadir"])
            .arg(datadir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("the aiop binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let mut sent = false;
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if !sent && let Some(url) = line.trim().strip_prefix("HTTP JSON-RPC listening on ") {
                    let _ = tx.send(url.to_string());
                    sent = true;
                }
                line.clear();
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the node did not print its RPC address within 60 s")
        });
        NodeProc { child, url }
    }

    fn addr(&self) -> String {
        self.url.trim_start_matches("http://").trim_end_matches('/').to_string()
    }

    /// SIGTERM and wait: a clean shutdown.
    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "the node exited with {status} on SIGTERM");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the node did not stop within 30 s of SIGTERM");
    }

    /// SIGKILL: no chance to clean up.
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("command runs")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn cast(node: &NodeProc, args: &[&str]) -> String {
    ok(run(Command::new(cast_bin()).args(args).env("ETH_RPC_URL", &node.url)), &format!("cast {}", args.join(" ")))
}

fn cast_fails(node: &NodeProc, args: &[&str]) -> String {
    let out = run(Command::new(cast_bin()).args(args).env("ETH_RPC_URL", &node.url));
    // cast 1.x may print a server error and still exit 0; the error text is what counts.
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() || stderr.contains("Error"),
        "cast {} should fail; stdout: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn aiop(args: &[&str]) -> Output {
    run(Command::new(aiop_bin()).args(args).current_dir(repo_root()).env_remove("AIOP_KERNELS"))
}

/// Raw HTTP POST; returns the body.
fn post(node: &NodeProc, body: &str) -> String {
    let mut s = TcpStream::connect(node.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        node.addr(),
        body.len()
    )
    .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or(resp)
}

fn rpc(node: &NodeProc, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    serde_json::from_str(&post(node, &body)).expect("JSON response")
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Initcode deploying `runtime` (PUSH1 len, PUSH1 10, PUSH0, CODECOPY, PUSH1 len, PUSH0, RETURN).
fn initcode(runtime: &str) -> String {
    let len = runtime.len() / 2;
    assert!(len < 256);
    format!("0x60{len:02x}600a5f3960{len:02x}5ff3{runtime}")
}

/// A contract that emits LOG1(topic 0xabab..., data = 42) on any call.
fn log_contract() -> String {
    initcode(&format!("602a5f527f{}60205fa100", "ab".repeat(32)))
}

#[test]
fn node_serves_cast_transfer_deploy_call_receipts_logs() {
    let dir = temp_dir("cast");
    let node = NodeProc::start(&dir, &[]);
    assert_eq!(cast(&node, &["chain-id"]), "1337");
    assert_eq!(cast(&node, &["block-number"]), "0");
    assert_eq!(cast(&node, &["balance", ADDR0]), "10000000000000000000000");
    let client = cast(&node, &["client"]);
    assert!(client.starts_with("aiop/"), "{client}");

    // A transfer.
    let receipt = json(&cast(&node, &["send", "--private-key", KEY0, ADDR1, "--value", "1ether", "--json"]));
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["gasUsed"], "0x5208");
    assert_eq!(cast(&node, &["balance", ADDR1]), "10001000000000000000000");
    assert_eq!(cast(&node, &["block-number"]), "1");
    let tx = json(&cast(&node, &["tx", receipt["transactionHash"].as_str().unwrap(), "--json"]));
    assert_eq!(tx["from"].as_str().unwrap().to_lowercase(), ADDR0.to_lowercase());

    // eth_sendTransaction from an unlocked dev account.
    let receipt = json(&cast(&node, &["send", "--unlocked", "--from", ADDR1, ADDR0, "--value", "5", "--json"]));
    assert_eq!(receipt["status"], "0x1");

    // Deploy a model with `aiop model deploy`; its code is 0xFE then the model bytes.
    let model_path = repo_root().join("testdata/models/digits_cnn_random.aiop");
    let out = aiop(&["model", "deploy", model_path.to_str().unwrap(), "--rpc-url", &node.url, "--private-key", KEY0]);
    let address = ok(out, "aiop model deploy");
    let code = cast(&node, &["code", &address]);
    let model_hex = hex::encode(std::fs::read(&model_path).unwrap());
    assert_eq!(code, format!("0xfe{model_hex}"));
    let info = rpc(&node, "aiop_modelInfo", serde_json::json!([address]));
    assert_eq!(info["result"]["modelBytes"], model_hex.len() / 2, "{info}");

    // A contract that logs; call it; read the receipt and the logs back.
    let deployed = json(&cast(&node, &["send", "--private-key", KEY0, "--create", &log_contract(), "--json"]));
    let logger = deployed["contractAddress"].as_str().unwrap().to_string();
    let receipt = json(&cast(&node, &["send", "--private-key", KEY0, &logger, "--json"]));
    assert_eq!(receipt["logs"][0]["topics"][0], format!("0x{}", "ab".repeat(32)));
    assert_eq!(receipt["logs"][0]["data"], format!("0x{:064x}", 42));
    let logs = json(&cast(&node, &["logs", "--from-block", "0", "--address", &logger, "--json"]));
    assert_eq!(logs.as_array().unwrap().len(), 1);
    assert_eq!(logs[0]["transactionHash"], receipt["transactionHash"]);
    let by_topic = rpc(
        &node,
        "eth_getLogs",
        serde_json::json!([{"fromBlock": "0x0", "topics": [format!("0x{}", "ab".repeat(32))]}]),
    );
    assert_eq!(by_topic["result"].as_array().unwrap().len(), 1);

    // Block, receipts root and state are served.
    let block = json(&cast(&node, &["block", "latest", "--json"]));
    assert_eq!(block["number"], receipt["blockNumber"]);
    assert_eq!(block["hash"], receipt["blockHash"]);
    let by_hash = rpc(&node, "eth_getBlockByHash", serde_json::json!([block["hash"], true]));
    assert_eq!(by_hash["result"]["transactions"][0]["hash"], receipt["transactionHash"]);
    let estimate: u64 = cast(&node, &["estimate", &logger]).parse().unwrap();
    assert!(estimate >= 21_000 + 375 * 2, "{estimate}");
    node.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn node_precompile_call_matches_model_run() {
    let dir = temp_dir("precompile");
    let node = NodeProc::start(&dir, &[]);
    let input = format!("0x{}", "05".repeat(64));
    // Off-chain at the node, through the precompile with eth_call, and the CLI's model run.
    let offchain = rpc(&node, "aiop_infer", serde_json::json!([MLP, input]));
    let offchain = offchain["result"].as_str().unwrap_or_else(|| panic!("aiop_infer: {offchain}")).to_string();
    let via_cast = cast(&node, &["call", PRECOMPILE, "infer(address,bytes)(bytes)", MLP, &input]);
    let via_cli = ok(aiop(&["model", "call", MLP, "--input", &input, "--rpc-url", &node.url]), "aiop model call");
    let model_path = repo_root().join("testdata/models/digits_mlp.aiop");
    let run = aiop(&["model", "run", model_path.to_str().unwrap(), "--input", &input]);
    let local = ok(run, "aiop model run");
    assert_eq!(via_cast, offchain);
    assert_eq!(via_cli, offchain);
    assert!(local.contains(offchain.trim_start_matches("0x")), "model run printed {local}, node {offchain}");

    // The example classifier contract: deploy it on the MLP, classify, read the event back.
    let artifact: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_root().join("contracts/out/DigitClassifier.json")).unwrap())
            .unwrap();
    let bytecode = artifact["bytecode"].as_str().unwrap().to_string();
    let bytecode = if bytecode.starts_with("0x") { bytecode } else { format!("0x{bytecode}") };
    let deployed = json(&cast(
        &node,
        &["send", "--private-key", KEY0, "--create", &bytecode, "constructor(address)", MLP, "--json"],
    ));
    assert_eq!(deployed["status"], "0x1", "{deployed}");
    let classifier = deployed["contractAddress"].as_str().unwrap().to_string();
    let receipt =
        json(&cast(&node, &["send", "--private-key", KEY0, &classifier, "classify(bytes)", &input, "--json"]));
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let log = &receipt["logs"][0];
    let topic0 = cast(&node, &["keccak", "Classified(address,uint8,bytes)"]);
    assert_eq!(log["topics"][0], topic0);
    let decoded = cast(&node, &["abi-decode", "--input", "f(uint8,bytes)", log["data"].as_str().unwrap()]);
    let scores = offchain.trim_start_matches("0x");
    assert!(decoded.contains(scores), "event {decoded} does not carry the scores {scores}");
    let digit = cast(&node, &["call", &classifier, "classify(bytes)(uint8)", &input]);
    let bytes = hex::decode(scores).unwrap();
    let argmax = (0..bytes.len()).max_by_key(|i| (bytes[*i] as i8, std::cmp::Reverse(*i))).unwrap();
    assert_eq!(digit, argmax.to_string());
    let logs = json(&cast(&node, &["logs", "--from-block", "0", "--address", &classifier, "--json"]));
    assert_eq!(logs.as_array().unwrap().len(), 1);
    node.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn node_restarts_after_kill9_with_blocks_and_state() {
    let dir = temp_dir("restart");
    let node = NodeProc::start(&dir, &[]);
    for _ in 0..3 {
        cast(&node, &["send", "--private-key", KEY0, ADDR1, "--value", "1000"]);
    }
    let deployed = json(&cast(&node, &["send", "--private-key", KEY0, "--create", &log_contract(), "--json"]));
    let logger = deployed["contractAddress"].as_str().unwrap().to_string();
    let head = json(&cast(&node, &["block", "latest", "--json"]));
    let balance = cast(&node, &["balance", ADDR1]);
    node.kill9();

    let node = NodeProc::start(&dir, &[]);
    let again = json(&cast(&node, &["block", "latest", "--json"]));
    assert_eq!(again["hash"], head["hash"]);
    assert_eq!(again["stateRoot"], head["stateRoot"]);
    assert_eq!(cast(&node, &["balance", ADDR1]), balance);
    assert_eq!(cast(&node, &["nonce", ADDR0]), "4");
    assert!(cast(&node, &["code", &logger]).len() > 10);
    let tx = deployed["transactionHash"].as_str().unwrap();
    assert_eq!(json(&cast(&node, &["receipt", tx, "--json"]))["status"], "0x1");
    // The chain goes on from there.
    cast(&node, &["send", "--private-key", KEY0, ADDR1, "--value", "1"]);
    assert_eq!(cast(&node, &["block-number"]), "5");
    node.kill9();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn node_chain_with_inference_verifies_under_reference_kernels() {
    let dir = temp_dir("verify");
    let node = NodeProc::start(&dir, &["--kernels", "auto"]);
    let model_path = repo_root().join("testdata/models/digits_mlp.aiop");
    let deployed = ok(
        aiop(&["model", "deploy", model_path.to_str().unwrap(), "--rpc-url", &node.url, "--private-key", KEY0]),
        "aiop model deploy",
    );
    for (i, model) in [MLP, CNN, deployed.as_str()].iter().enumerate() {
        let input = format!("0x{}", format!("{:02x}", 3 * i + 1).repeat(64));
        let data = cast(&node, &["calldata", "infer(address,bytes)", model, &input]);
        let receipt = json(&cast(&node, &["send", "--private-key", KEY0, PRECOMPILE, &data, "--json"]));
        assert_eq!(receipt["status"], "0x1", "inference transaction on {model}: {receipt}");
        assert!(
            u64::from_str_radix(receipt["gasUsed"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap() >= 25_000
        );
    }
    cast(&node, &["send", "--private-key", KEY0, ADDR1, "--value", "1"]);
    node.stop();
    let out = aiop(&["chain", "verify", "--datadir", dir.to_str().unwrap(), "--kernels", "reference", "--quiet"]);
    let text = ok(out, "aiop chain verify");
    assert!(text.contains("verified 5 blocks"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn node_rejects_bad_input_and_keeps_serving() {
    let dir = temp_dir("bad");
    let node = NodeProc::start(&dir, &[]);
    let code = |body: &str| -> i64 {
        let v = json(&post(&node, body));
        v["error"]["code"].as_i64().unwrap_or_else(|| panic!("no error for {body}: {v}"))
    };
    assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber""#), -32700);
    assert_eq!(code("not json at all"), -32700);
    assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"eth_noSuchMethod","params":[]}"#), -32601);
    assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0xnothex"]}"#), -32602);
    assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x02f8"]}"#), -32602);
    assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x1234"]}"#), -32602);
    // A nonce gap is queued, as geth and anvil queue it, not refused and not mined.
    let gap = cast(&node, &["send", "--async", "--private-key", KEY0, "--nonce", "7", ADDR1, "--value", "1"]);
    assert!(gap.starts_with("0x"), "{gap}");
    assert_eq!(rpc(&node, "txpool_status", serde_json::json!([]))["result"]["queued"], "0x1");
    assert_eq!(cast(&node, &["block-number"]), "0");
    // Stale nonce, no funds, wrong chain id: -32000 with the reason.
    cast(&node, &["send", "--private-key", KEY0, ADDR1, "--value", "1"]);
    let stale = cast_fails(&node, &["send", "--private-key", KEY0, "--nonce", "0", ADDR1, "--value", "1"]);
    assert!(stale.contains("nonce too low"), "{stale}");
    let poor = "0x0000000000000000000000000000000000000000000000000000000000000001";
    let broke = cast_fails(&node, &["send", "--private-key", poor, "--gas-limit", "21000", ADDR1, "--value", "1"]);
    assert!(broke.contains("insufficient funds"), "{broke}");
    let signed = cast(
        &node,
        &[
            "mktx",
            "--private-key",
            KEY0,
            "--chain",
            "1",
            "--nonce",
            "1",
            "--gas-limit",
            "21000",
            "--gas-price",
            "10gwei",
            ADDR1,
        ],
    );
    let wrong_chain = rpc(&node, "eth_sendRawTransaction", serde_json::json!([signed]));
    assert_eq!(wrong_chain["error"]["code"], -32000, "{wrong_chain}");
    assert!(wrong_chain["error"]["message"].as_str().unwrap().contains("chain id"));
    // A revert carries code 3 and the data.
    let reverter =
        json(&cast(&node, &["send", "--private-key", KEY0, "--create", &initcode("60aa5f5260205ffd"), "--json"]));
    let reverter = reverter["contractAddress"].as_str().unwrap().to_string();
    let reverted = rpc(&node, "eth_call", serde_json::json!([{"to": reverter}, "latest"]));
    assert_eq!(reverted["error"]["code"], 3, "{reverted}");
    assert_eq!(reverted["error"]["data"], format!("0x{:064x}", 0xaa));
    // Still serving, and the chain only has the good transactions.
    assert_eq!(cast(&node, &["block-number"]), "2");
    let batch = post(
        &node,
        r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"net_version"}]"#,
    );
    let batch = json(&batch);
    assert_eq!(batch[1]["result"], "1337");
    node.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn node_block_time_mode_seals_on_interval() {
    let dir = temp_dir("interval");
    let node = NodeProc::start(&dir, &["--dev.block-time", "300ms"]);
    let hash = cast(&node, &["send", "--private-key", KEY0, ADDR1, "--value", "1", "--async"]);
    let receipt = json(&cast(&node, &["receipt", &hash, "--json"]));
    assert_eq!(receipt["status"], "0x1");
    std::thread::sleep(Duration::from_millis(1500));
    let n: u64 = cast(&node, &["block-number"]).parse().unwrap();
    assert!(n >= 3, "only {n} blocks after 1.5 s at 300 ms");
    rpc(&node, "evm_mine", serde_json::json!([]));
    let m: u64 = cast(&node, &["block-number"]).parse().unwrap();
    assert!(m > n, "evm_mine sealed no block");
    node.stop();
    let out = aiop(&["chain", "verify", "--datadir", dir.to_str().unwrap(), "--quiet"]);
    ok(out, "aiop chain verify");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn node_runs_a_geth_style_genesis() {
    let dir = temp_dir("genesis");
    let genesis = dir.join("genesis.json");
    let funded = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
    let text = serde_json::json!({
        "config": {"chainId": 4242, "pragueTime": 0, "aiop": {"activations": [{"block": 0, "precompile": "v3"}]}},
        "nonce": "0x0",
        "timestamp": "0x0",
        "extraData": "0x",
        "gasLimit": "0x2faf080",
        "difficulty": "0x0",
        "alloc": {funded: {"balance": "0x3635c9adc5dea00000"}}
    });
    std::fs::write(&genesis, text.to_string()).unwrap();
    let data = dir.join("data");
    let node = NodeProc::start(&data, &["--chain", genesis.to_str().unwrap()]);
    assert_eq!(cast(&node, &["chain-id"]), "4242");
    assert_eq!(cast(&node, &["balance", funded]), "1000000000000000000000");
    assert_eq!(cast(&node, &["balance", ADDR0]), "0");
    let key2 = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
    let receipt = json(&cast(&node, &["send", "--private-key", key2, ADDR1, "--value", "1", "--json"]));
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(json(&cast(&node, &["block", "0", "--json"]))["gasLimit"], "0x2faf080");
    node.stop();
    // Restarting without --chain uses the stored genesis; a different --chain is refused.
    let node = NodeProc::start(&data, &[]);
    assert_eq!(cast(&node, &["chain-id"]), "4242");
    assert_eq!(cast(&node, &["block-number"]), "1");
    node.stop();
    let other = dir.join("other.json");
    let mut text2 = text.clone();
    text2["config"]["chainId"] = serde_json::json!(4343);
    std::fs::write(&other, text2.to_string()).unwrap();
    let mut child = Command::new(aiop_bin())
        .args(["node", "--http.port", "0", "--datadir"])
        .arg(&data)
        .arg("--chain")
        .arg(&other)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the node accepted a different genesis for an existing datadir");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).expect("stderr");
    assert!(!status.success());
    assert!(stderr.contains("genesis"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn node_survives_kill9_under_load_and_verifies() {
    let dir = temp_dir("load");
    let node = NodeProc::start(&dir, &[]);
    // Pre-sign a stream of transfers, then send them as fast as possible and kill -9 midway.
    let raw: Vec<String> = (0..40)
        .map(|nonce| {
            cast(
                &node,
                &[
                    "mktx",
                    "--private-key",
                    KEY0,
                    "--nonce",
                    &nonce.to_string(),
                    "--gas-limit",
                    "21000",
                    "--gas-price",
                    "10gwei",
                    "--priority-gas-price",
                    "1gwei",
                    ADDR1,
                    "--value",
                    "1",
                ],
            )
        })
        .collect();
    let addr = node.addr();
    let progress = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = progress.clone();
    let sender = std::thread::spawn(move || {
        let mut confirmed = Vec::new();
        for tx in raw {
            let body =
                serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [tx]});
            let body = body.to_string();
            let Ok(mut s) = TcpStream::connect(&addr) else { break };
            let request = format!(
                "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if s.write_all(request.as_bytes()).is_err() {
                break;
            }
            let mut resp = String::new();
            if s.read_to_string(&mut resp).is_err() {
                break;
            }
            match resp.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(b).ok()) {
                Some(v) if v["result"].is_string() => {
                    confirmed.push(v["result"].as_str().unwrap().to_string());
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                _ => break,
            }
        }
        confirmed
    });
    // Kill while the stream is in full flow: after the tenth confirmation.
    let started = Instant::now();
    while progress.load(Ordering::SeqCst) < 10 && started.elapsed() < Duration::from_secs(30) {
        std::thread::yield_now();
    }
    node.kill9();
    let confirmed = sender.join().unwrap();
    eprintln!("{} of 40 transactions confirmed before kill -9", confirmed.len());

    let node = NodeProc::start(&dir, &[]);
    let head: u64 = cast(&node, &["block-number"]).parse().unwrap();
    assert!(head as usize >= confirmed.len(), "head {head} but {} transactions were confirmed", confirmed.len());
    for hash in &confirmed {
        assert_eq!(json(&cast(&node, &["receipt", hash, "--json"]))["status"], "0x1", "{hash} lost after kill -9");
    }
    assert_eq!(cast(&node, &["nonce", ADDR0]), head.to_string());
    node.stop();
    ok(aiop(&["chain", "verify", "--datadir", dir.to_str().unwrap(), "--quiet"]), "aiop chain verify");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn node_polling_filters_report_new_blocks_and_logs() {
    let dir = temp_dir("filters");
    let node = NodeProc::start(&dir, &[]);
    let deployed = json(&cast(&node, &["send", "--private-key", KEY0, "--create", &log_contract(), "--json"]));
    let logger = deployed["contractAddress"].as_str().unwrap().to_string();
    let blocks = rpc(&node, "eth_newBlockFilter", serde_json::json!([]))["result"].clone();
    let logs = rpc(&node, "eth_newFilter", serde_json::json!([{"address": logger}]))["result"].clone();
    assert_eq!(rpc(&node, "eth_getFilterChanges", serde_json::json!([blocks]))["result"], serde_json::json!([]));
    let receipt = json(&cast(&node, &["send", "--private-key", KEY0, &logger, "--json"]));
    let new_blocks = rpc(&node, "eth_getFilterChanges", serde_json::json!([blocks]));
    assert_eq!(new_blocks["result"], serde_json::json!([receipt["blockHash"]]));
    let new_logs = rpc(&node, "eth_getFilterChanges", serde_json::json!([logs]));
    assert_eq!(new_logs["result"][0]["transactionHash"], receipt["transactionHash"], "{new_logs}");
    assert_eq!(rpc(&node, "eth_getFilterChanges", serde_json::json!([logs]))["result"], serde_json::json!([]));
    assert_eq!(rpc(&node, "eth_getFilterLogs", serde_json::json!([logs]))["result"].as_array().unwrap().len(), 1);
    assert_eq!(rpc(&node, "eth_uninstallFilter", serde_json::json!([logs]))["result"], true);
    assert_eq!(rpc(&node, "eth_getFilterChanges", serde_json::json!([logs]))["error"]["code"], -32000);
    node.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn node_holds_every_mlperf_tiny_model_where_deploy_puts_it_and_cast_infer_matches_model_run() {
    let dir = temp_dir("mlperf");
    let node = NodeProc::start(&dir, &[]);
    let mut kws_address = String::new();
    for name in ["mlperf_kws", "mlperf_vww", "mlperf_resnet8", "mlperf_resnet_large", "mlperf_ad", "mlperf_str_ww"] {
        let file = repo_root().join(format!("testdata/models/{name}.aiop"));
        let file = file.to_str().unwrap();
        // The dev chain pre-deploys it at the address `aiop model deploy` (salt 0) plans.
        let address = ok(aiop(&["model", "deploy", file, "--dry-run"]), "aiop model deploy --dry-run");
        let redeploy = aiop(&["model", "deploy", file, "--private-key", KEY0, "--rpc-url", &node.url]);
        let said = String::from_utf8_lossy(&redeploy.stderr).to_string();
        assert!(redeploy.status.success() && said.contains("nothing to deploy"), "{name}: {said}");
        // cast call infer gives exactly the bytes of `aiop model run`.
        let bytes = std::fs::read(file).unwrap();
        let len = aiop_engine::check(&bytes).expect("valid").input_len as usize;
        let input = format!("0x{}", (0..len).map(|i| format!("{:02x}", (i * 29 + 7) % 256)).collect::<String>());
        let via_cast = cast(&node, &["call", PRECOMPILE, "infer(address,bytes)(bytes)", &address, &input]);
        let local = ok(aiop(&["model", "run", file, "--input", &input]), "aiop model run");
        assert_eq!(local.lines().next().unwrap_or_default(), via_cast, "{name}");
        // Deployed again with `aiop model deploy` under another salt: the same bytes there.
        let fresh = ok(
            aiop(&["model", "deploy", file, "--salt", "2", "--quiet", "--private-key", KEY0, "--rpc-url", &node.url]),
            "aiop model deploy --salt 2",
        );
        assert_ne!(fresh, address, "{name}");
        let again = cast(&node, &["call", PRECOMPILE, "infer(address,bytes)(bytes)", &fresh, &input]);
        assert_eq!(again, via_cast, "{name} deployed by aiop model deploy");
        // cost() is the price `aiop model inspect` quotes, cold, for the dev chain's precompile.
        let quoted = cast(&node, &["call", PRECOMPILE, "cost(address,uint256)(uint256)", &address, &len.to_string()]);
        let inspect = json(&ok(aiop(&["model", "inspect", file, "--json"]), "aiop model inspect"));
        let dev = aiop_node::chain::DEV_PRECOMPILE.version;
        let quote = inspect["infer_gas"].as_array().unwrap().iter().find(|p| p["precompile"] == dev).unwrap().clone();
        assert_eq!(quoted.split_whitespace().next().unwrap(), quote["cold"].to_string(), "{name}");
        // The node's own methods go through the precompile, so manifests work there too.
        let offchain = rpc(&node, "aiop_infer", serde_json::json!([address, input]));
        assert_eq!(offchain["result"].as_str(), Some(via_cast.as_str()), "{name}: {offchain}");
        let info = rpc(&node, "aiop_modelInfo", serde_json::json!([address]));
        assert_eq!(info["result"]["modelBytes"], bytes.len(), "{name}: {info}");
        assert_eq!(info["result"]["inferGas"].to_string(), quote["cold"].to_string(), "{name}: {info}");
        assert_eq!(info["result"]["input"]["bytes"], len, "{name}: {info}");
        eprintln!("{name}: at {address}, infer costs {quoted} gas cold");
        if name == "mlperf_kws" {
            kws_address = address;
        }
    }
    // A refusal comes back as the precompile's coded revert: code 3, the AiopError bytes as data.
    let refused = rpc(&node, "aiop_infer", serde_json::json!([kws_address, "0x00"]));
    assert_eq!(refused["error"]["code"], 3, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("execution reverted: AiopError 48"), "{refused}");
    assert!(refused["error"]["data"].as_str().unwrap_or_default().starts_with("0x6985af73"), "{refused}");
    // The keyword-spotter example contract on the pre-deployed model.
    let artifact: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_root().join("contracts/out/KeywordSpotter.json")).unwrap()).unwrap();
    let bytecode = artifact["bytecode"].as_str().unwrap().to_string();
    let deployed = json(&cast(
        &node,
        &["send", "--private-key", KEY0, "--create", &bytecode, "constructor(address)", &kws_address, "--json"],
    ));
    assert_eq!(deployed["status"], "0x1", "{deployed}");
    let spotter = deployed["contractAddress"].as_str().unwrap().to_string();
    let features = format!("0x{}", "00".repeat(490));
    let receipt = json(&cast(&node, &["send", "--private-key", KEY0, &spotter, "spot(bytes)", &features, "--json"]));
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let topic0 = cast(&node, &["keccak", "KeywordSpotted(address,uint256,string,int8)"]);
    assert_eq!(receipt["logs"][0]["topics"][0], topic0);
    let classified = cast(&node, &["call", &spotter, "classify(bytes)(uint256,int8)", &features]);
    let scores = cast(&node, &["call", PRECOMPILE, "infer(address,bytes)(bytes)", &kws_address, &features]);
    let scores = hex::decode(scores.trim_start_matches("0x")).unwrap();
    let best = (0..scores.len()).max_by_key(|i| (scores[*i] as i8, std::cmp::Reverse(*i))).unwrap();
    assert_eq!(classified.lines().next().unwrap(), best.to_string(), "{classified}");
    // Code that is neither a model nor a manifest (the deployment proxy) reverts with the
    // specified AiopError (selector 0x6985af73), code 17 NotAModel.
    let proxy = "0x4e59b44847b379578588920cA78FbF26c0B4956C";
    let refused = cast_fails(&node, &["call", PRECOMPILE, "infer(address,bytes)(bytes)", proxy, &features]);
    assert!(refused.contains("6985af73") || refused.contains("AiopError"), "{refused}");
    let described = aiop(&["model", "call", proxy, &features, "--rpc-url", &node.url]);
    let said = String::from_utf8_lossy(&described.stderr).to_string();
    assert!(!described.status.success() && said.contains("AiopError 17 NotAModel"), "{said}");
    // A broken manifest (its second chunk was never deployed) reverts with its reason.
    let kws = std::fs::read(repo_root().join("testdata/models/mlperf_kws.aiop")).unwrap();
    let chunks = vec![alloy_primitives::Address::repeat_byte(0x55); 2];
    let manifest =
        aiop_precompile::Manifest { id: alloy_primitives::keccak256(&kws), model_len: kws.len() as u32, chunks };
    let initcode = aiop_precompile::data_contract_initcode(&manifest.code()).unwrap();
    let created = json(&cast(
        &node,
        &["send", "--private-key", KEY0, "--create", &format!("0x{}", hex::encode(initcode)), "--json"],
    ));
    let broken = created["contractAddress"].as_str().unwrap().to_string();
    let described = aiop(&["model", "call", &broken, &features, "--rpc-url", &node.url]);
    let said = String::from_utf8_lossy(&described.stderr).to_string();
    assert!(!described.status.success() && said.contains("AiopError 24 ChunkMissing"), "{said}");
    node.stop();
    let _ = std::fs::remove_dir_all(dir);
}
