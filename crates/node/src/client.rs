//! A small JSON-RPC client (plain HTTP/1.1 over TCP) for `aiop model deploy|call`, so that
//! users without Foundry can deploy a model and call the precompile.

use crate::{chain::parse_key, node::sign};
use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U256};
use anyhow::{Context, anyhow, bail};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

/// The precompile's default address.
pub const PRECOMPILE_ADDRESS: Address = aiop_precompile::DEFAULT_ADDRESS;

pub use aiop_precompile::abi::inferCall;

/// A JSON-RPC endpoint (`http://host:port/path`).
#[derive(Debug, Clone)]
pub struct RpcClient {
    host: String,
    port: u16,
    path: String,
}

impl RpcClient {
    /// Parses an `http://` URL.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let rest =
            url.strip_prefix("http://").ok_or_else(|| anyhow!("--rpc-url must start with http:// (got {url})"))?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().with_context(|| format!("bad port in {url}"))?),
            None => (hostport.to_string(), 80),
        };
        Ok(RpcClient { host, port, path: path.to_string() })
    }

    /// Calls `method` and decodes the result.
    pub fn request<T: DeserializeOwned>(&self, method: &str, params: Value) -> anyhow::Result<T> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))
            .with_context(|| format!("cannot connect to {}:{} (is the node running?)", self.host, self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(300)))?;
        write!(
            stream,
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.path,
            self.host,
            self.port,
            body.len(),
            body
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| anyhow!("malformed HTTP response from {}", self.host))?;
        let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
        let mut body = response[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body)?;
        }
        let value: Value = serde_json::from_slice(&body)
            .with_context(|| format!("{method}: the response is not JSON: {}", String::from_utf8_lossy(&body)))?;
        if let Some(error) = value.get("error") {
            bail!("{method} failed: {error}");
        }
        serde_json::from_value(value.get("result").cloned().unwrap_or(Value::Null))
            .with_context(|| format!("{method}: unexpected result {value}"))
    }
}

fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or_else(|| anyhow!("bad chunked body"))?;
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end])?.trim(), 16)?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).ok_or_else(|| anyhow!("truncated chunk"))?);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

/// What `model deploy` did.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The model's address.
    pub address: Address,
    /// Deployment transaction.
    pub tx_hash: B256,
    /// Block it landed in.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
}

/// Sends a signed EIP-1559 transaction and waits for its receipt.
pub fn send_and_wait(
    client: &RpcClient,
    key_hex: &str,
    to: TxKind,
    input: Bytes,
    value: U256,
) -> anyhow::Result<Value> {
    let key = parse_key(key_hex)?;
    let from = Address::from_private_key(&key);
    let chain_id: U64 = client.request("eth_chainId", json!([]))?;
    let nonce: U64 = client.request("eth_getTransactionCount", json!([from, "pending"]))?;
    let gas_price: U256 = client.request("eth_gasPrice", json!([]))?;
    let tip: U256 = client.request("eth_maxPriorityFeePerGas", json!([]))?;
    let request = match to {
        TxKind::Call(a) => json!({"from": from, "to": a, "input": input, "value": value}),
        TxKind::Create => json!({"from": from, "input": input, "value": value}),
    };
    let gas: U64 = client.request("eth_estimateGas", json!([request]))?;
    let tx = TxEip1559 {
        chain_id: chain_id.to(),
        nonce: nonce.to(),
        gas_limit: gas.to::<u64>() + gas.to::<u64>() / 10,
        max_fee_per_gas: gas_price.to::<u128>() * 2,
        max_priority_fee_per_gas: tip.to(),
        to,
        value,
        access_list: Default::default(),
        input,
    };
    let raw = Bytes::from(sign(tx, &key)?.encoded_2718());
    let hash: B256 = client.request("eth_sendRawTransaction", json!([raw]))?;
    let started = Instant::now();
    loop {
        let receipt: Value = client.request("eth_getTransactionReceipt", json!([hash]))?;
        if !receipt.is_null() {
            return Ok(receipt);
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("transaction {hash} was not mined within 120 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Deploys a model file as a data contract.
pub fn deploy_model(rpc_url: &str, key_hex: &str, model: &[u8]) -> anyhow::Result<Deployed> {
    aiop_engine::check(model).map_err(|e| anyhow!("not a valid aiop model: {e}"))?;
    // EIP-170: deployed code is at most 24 576 bytes (the 0xFE prefix included).
    const MAX_CODE_SIZE: usize = 24_576;
    if model.len() + 1 > MAX_CODE_SIZE {
        bail!(
            "the model is {} bytes; a transaction can deploy at most {} bytes of code (EIP-170). \
             Put it in a genesis `alloc` instead (code = 0xFE + model bytes) and start the node with --chain",
            model.len(),
            MAX_CODE_SIZE - 1
        );
    }
    let client = RpcClient::new(rpc_url)?;
    let initcode = Bytes::from(aiop_precompile::model_deploy_initcode(model)?);
    let receipt = send_and_wait(&client, key_hex, TxKind::Create, initcode, U256::ZERO)?;
    if receipt["status"] != json!("0x1") {
        bail!("deployment failed: {receipt}");
    }
    let parse = |k: &str| -> anyhow::Result<u64> {
        Ok(serde_json::from_value::<U64>(receipt[k].clone()).with_context(|| format!("receipt field {k}"))?.to())
    };
    Ok(Deployed {
        address: serde_json::from_value(receipt["contractAddress"].clone())?,
        tx_hash: serde_json::from_value(receipt["transactionHash"].clone())?,
        block: parse("blockNumber")?,
        gas_used: parse("gasUsed")?,
    })
}

/// Calls the precompile's `infer(model, input)` with `eth_call` and returns the output bytes.
pub fn call_model(rpc_url: &str, model: Address, input: Bytes, precompile: Address) -> anyhow::Result<Bytes> {
    use alloy_sol_types::SolCall;
    let client = RpcClient::new(rpc_url)?;
    let data = Bytes::from(inferCall { model, input }.abi_encode());
    let out: Bytes = client.request("eth_call", json!([{"to": precompile, "input": data}, "latest"]))?;
    if out.is_empty() {
        bail!("the precompile at {precompile} returned nothing: is the aiop precompile active on this chain?");
    }
    let decoded =
        inferCall::abi_decode_returns(&out).map_err(|e| anyhow!("cannot decode the precompile's output: {e}"))?;
    Ok(decoded)
}

/// Runs a model off-chain at the node (`aiop_infer`).
pub fn infer_offchain(rpc_url: &str, model: Address, input: Bytes) -> anyhow::Result<Bytes> {
    RpcClient::new(rpc_url)?.request("aiop_infer", json!([model, input]))
}
