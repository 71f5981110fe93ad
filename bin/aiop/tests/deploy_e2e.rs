//! `aiop model deploy` end to end: a real `aiop node --dev` on an ephemeral port; models larger
//! than one contract deployed as chunks and a manifest through the CREATE2 proxy, called with
//! `aiop model call` and compared with `aiop model run`; a deploy killed with SIGKILL resumes.
//!
//! Set `AIOP_BIN` to test another build of the binary.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// Dev account 0 (`test test ... junk`, m/44'/60'/0'/0/0).
const KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ADDR0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// The deterministic deployment proxy.
const PROXY: &str = "0x4e59b44847b379578588920cA78FbF26c0B4956C";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn aiop_bin() -> PathBuf {
    std::env::var_os("AIOP_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aiop")))
}

fn model_path(name: &str) -> String {
    repo_root().join("testdata/models").join(name).to_string_lossy().into_owned()
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "aiop-deploy-e2e-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A running node; killed on drop.
struct NodeProc {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl NodeProc {
    fn start(tag: &str, extra: &[&str]) -> NodeProc {
        let dir = temp_dir(tag);
        let mut child = Command::new(aiop_bin())
            .args(["node", "--dev", "--http.port", "0", "--datadir"])
            .arg(dir.join("data"))
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the aiop binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Some(url) = line.trim().strip_prefix("HTTP JSON-RPC listening on ") {
                    let _ = tx.send(url.to_string());
                    sent = true;
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the node did not print its RPC address within 60 s")
        });
        NodeProc { child, url, dir }
    }

    /// A JSON-RPC call over a fresh connection (the `aiop` binary is the client under test, so
    /// the test speaks raw HTTP).
    fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        use std::io::{Read, Write};
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let addr = self.url.trim_start_matches("http://").trim_end_matches('/');
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or(&resp);
        let value: serde_json::Value = serde_json::from_str(body).expect("JSON response");
        value["result"].clone()
    }

    fn code(&self, address: &str) -> String {
        self.rpc("eth_getCode", serde_json::json!([address, "latest"])).as_str().expect("code").to_string()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn aiop(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(aiop_bin());
    cmd.args(args).current_dir(repo_root()).env_remove("AIOP_KERNELS").env_remove("ETH_RPC_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the aiop binary runs")
}

/// Stdout and stderr of a command that must succeed.
fn ok(out: Output, what: &str) -> (String, String) {
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).trim().to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    assert!(out.status.success(), "{what} failed ({}):\nstdout: {stdout}\nstderr: {stderr}", out.status);
    (stdout, stderr)
}

// The dev chain holds the MLPerf Tiny models at their salt-0 addresses already, so these tests
// deploy under salt 1 (`--salt 1`), where nothing is yet.
fn deploy(node: &NodeProc, model: &str) -> (String, String) {
    ok(
        aiop(&["model", "deploy", model, "--salt", "1", "--private-key", KEY0], &[("ETH_RPC_URL", &node.url)]),
        "aiop model deploy",
    )
}

/// The planned addresses (`--dry-run`, no node): every data contract, the handle last.
fn plan(model: &str) -> Vec<String> {
    let (address, stderr) =
        ok(aiop(&["model", "deploy", model, "--salt", "1", "--dry-run"], &[]), "aiop model deploy --dry-run");
    let planned: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("0x") && w.len() == 42))
        .map(String::from)
        .collect();
    assert_eq!(planned.last(), Some(&address), "{stderr}");
    planned
}

/// A deterministic input of the model's length.
fn input_for(model: &str) -> String {
    let header = aiop_engine::check(&std::fs::read(model).expect("model file")).expect("valid model");
    let bytes: Vec<u8> = (0..header.input_len as usize).map(|i| (i * 37 % 251) as u8).collect();
    format!("0x{}", hex::encode(bytes))
}

/// `aiop model call` through the node equals `aiop model run` of the same file and input.
fn assert_call_matches_run(node: &NodeProc, address: &str, model: &str, input: &str) -> String {
    let (local, _) = ok(aiop(&["model", "run", model, "--input", input], &[]), "aiop model run");
    let (called, _) = ok(aiop(&["model", "call", address, input, "--rpc-url", &node.url], &[]), "aiop model call");
    assert_eq!(called, local, "model call of {address} and model run of {model} differ");
    called
}

fn total_gas(stderr: &str) -> u64 {
    let after = stderr.split("total gas ").nth(1).unwrap_or_else(|| panic!("no total gas in {stderr}"));
    after.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn deploy_a_model_in_chunks_then_call_it_like_model_run() {
    let node = NodeProc::start("kws", &[]);
    let kws = model_path("mlperf_kws.aiop");
    let planned = plan(&kws);
    assert_eq!(planned.len(), 3, "mlperf_kws is 2 chunks + a manifest: {planned:?}");
    assert_ne!(node.code(PROXY), "0x", "the dev genesis has the deployment proxy");

    let (address, stderr) = deploy(&node, &kws);
    assert_eq!(address, planned[2], "the model's address is the planned manifest's");
    for needle in
        ["chunk 1/2", "chunk 2/2", "manifest", "deployed by tx 0x", "3 transactions (0 reused)", "model id 0x"]
    {
        assert!(stderr.contains(needle), "`{needle}` missing from\n{stderr}");
    }
    let gas = total_gas(&stderr);
    eprintln!("mlperf_kws: deploy gas {gas} in 3 transactions");
    assert!(gas > 5_000_000, "{gas}");
    // The manifest account: 0xFE "AIOM" version 1; the chunks: 0xFE "AIOC".
    assert!(node.code(&address).starts_with("0xfe41494f4d01"));
    assert!(node.code(&planned[0]).starts_with("0xfe41494f43"));

    // Call it through the precompile: the bytes of `aiop model run`, by positional input,
    // `--input` and `@file`.
    let input = input_for(&kws);
    let output = assert_call_matches_run(&node, &address, &kws, &input);
    let file = node.dir.join("input.hex");
    std::fs::write(&file, &input).unwrap();
    let at = format!("@{}", file.display());
    let (via_file, _) =
        ok(aiop(&["model", "call", &address, "--input", &at, "--rpc-url", &node.url], &[]), "aiop model call @file");
    assert_eq!(via_file, output);

    // A second run deploys nothing.
    let (again, stderr) = deploy(&node, &kws);
    assert_eq!(again, address);
    assert!(stderr.contains("nothing to deploy: all 3 data contracts are already on chain"), "{stderr}");
    assert!(!stderr.contains("deployed by tx"), "{stderr}");

    // A small model is one CREATE2 account, at its planned address; another salt, another one.
    let small = model_path("digits_mlp.aiop");
    let (one, stderr) = deploy(&node, &small);
    assert_eq!(vec![one.clone()], plan(&small));
    assert!(stderr.contains("model account"), "{stderr}");
    let (salted, _) = ok(
        aiop(&["model", "deploy", &small, "--salt", "7", "--private-key", KEY0, "--rpc-url", &node.url], &[]),
        "aiop model deploy --salt 7",
    );
    assert_ne!(salted, one);
    let digits_input = input_for(&small);
    assert_eq!(
        assert_call_matches_run(&node, &one, &small, &digits_input),
        assert_call_matches_run(&node, &salted, &small, &digits_input)
    );

    // A revert is described: a chunk is not a model, and the wrong input length is named.
    let out = aiop(&["model", "call", &planned[0], &input, "--rpc-url", &node.url], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("the precompile reverted: AiopError"), "{stderr}");
    let out = aiop(&["model", "call", &address, "0x0102", "--rpc-url", &node.url], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("AiopError") && stderr.contains("actual = 2"), "{stderr}");
}

#[test]
fn an_interrupted_deploy_resumes_and_reuses_the_chunks_on_chain() {
    let node = NodeProc::start("resume", &[]);
    let model = model_path("mlperf_resnet8.aiop");
    let planned = plan(&model);
    let chunks = planned.len() - 1;
    assert!(chunks >= 3, "{planned:?}");

    // Start a deploy and SIGKILL it as soon as its first chunk is mined.
    let mut child = Command::new(aiop_bin())
        .args(["model", "deploy", &model, "--salt", "1", "--private-key", KEY0, "--rpc-url", &node.url])
        .env_remove("ETH_RPC_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("aiop model deploy starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let first_mined = line.starts_with("chunk 1/") && line.contains("deployed by tx");
        seen.push(line);
        if first_mined {
            child.kill().expect("SIGKILL");
            break;
        }
    }
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the deploy finished before it was killed:\n{}", seen.join("\n"));
    assert_ne!(node.code(&planned[0]), "0x", "the first chunk is on chain");
    assert_eq!(node.code(&planned[chunks]), "0x", "the manifest is not on chain yet");

    // Resume: the first chunk is reused, the rest deployed, the model runs.
    let started = Instant::now();
    let (address, stderr) = deploy(&node, &model);
    assert_eq!(address, planned[chunks]);
    let line = |prefix: &str| stderr.lines().find(|l| l.starts_with(prefix)).unwrap_or_default().to_string();
    assert!(line("chunk 1/").contains("already on chain, reused"), "{stderr}");
    assert!(line("manifest").contains("deployed by tx"), "{stderr}");
    assert!(stderr.contains("reused), total gas"), "{stderr}");
    assert_call_matches_run(&node, &address, &model, &input_for(&model));
    let (_, stderr) = deploy(&node, &model);
    assert!(stderr.contains(&format!("nothing to deploy: all {} data contracts", chunks + 1)), "{stderr}");
    eprintln!("resumed in {:?}", started.elapsed());
}

#[test]
fn deploy_without_the_proxy_says_how_to_fix_it() {
    // A genesis whose alloc names the proxy's address with no code.
    let dir = temp_dir("noproxy");
    let genesis = dir.join("genesis.json");
    let text = serde_json::json!({
        "config": {"chainId": 4242, "pragueTime": 0, "aiop": {"activations": [{"block": 0, "precompile": "v3"}]}},
        "nonce": "0x0",
        "timestamp": "0x0",
        "extraData": "0x",
        "gasLimit": "0x1c9c380",
        "difficulty": "0x0",
        "alloc": {ADDR0: {"balance": "0x3635c9adc5dea00000"}, PROXY: {"balance": "0x0"}}
    });
    std::fs::write(&genesis, text.to_string()).unwrap();
    let node = NodeProc::start("noproxy-node", &["--chain", genesis.to_str().unwrap()]);
    assert_eq!(node.code(PROXY), "0x");
    let out = aiop(
        &[
            "model",
            "deploy",
            &model_path("digits_mlp.aiop"),
            "--salt",
            "1",
            "--private-key",
            KEY0,
            "--rpc-url",
            &node.url,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("deterministic deployment proxy") && stderr.contains("has no code"), "{stderr}");
    assert!(stderr.contains("genesis alloc"), "{stderr}");
    // An unreachable node is named as such.
    drop(node);
    let out = aiop(
        &[
            "model",
            "deploy",
            &model_path("digits_mlp.aiop"),
            "--salt",
            "1",
            "--private-key",
            KEY0,
            "--rpc-url",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("cannot reach the JSON-RPC endpoint"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_deploy_killed_while_its_transaction_is_pending_resumes() {
    // Interval mining: a transaction waits in the pool until the next block.
    let node = NodeProc::start("pending", &["--dev.block-time", "1s"]);
    let kws = model_path("mlperf_kws.aiop");
    let planned = plan(&kws);
    let nonce = |tag: &str| node.rpc("eth_getTransactionCount", serde_json::json!([ADDR0, tag]));
    let mut child = Command::new(aiop_bin())
        .args(["model", "deploy", &kws, "--salt", "1", "--private-key", KEY0, "--rpc-url", &node.url])
        .env_remove("ETH_RPC_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiop model deploy starts");
    // SIGKILL once the first chunk's transaction is in the pool, before it is mined.
    let started = Instant::now();
    while nonce("pending") == nonce("latest") {
        assert!(started.elapsed() < Duration::from_secs(30), "no transaction was sent");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(node.code(&planned[0]), "0x", "the first chunk is still pending");
    // The rerun waits for the pending transaction to land, reuses its chunk and sends nothing
    // that would collide with it.
    let (address, stderr) = deploy(&node, &kws);
    assert_eq!(address, planned[2]);
    let first = stderr.lines().find(|l| l.starts_with("chunk 1/")).unwrap_or_default();
    assert!(first.contains("already on chain, reused"), "{stderr}");
    assert!(stderr.contains("2 transactions (1 reused)"), "{stderr}");
    assert!(node.code(&address).starts_with("0xfe41494f4d01"));
    assert_call_matches_run(&node, &address, &kws, &input_for(&kws));
}
