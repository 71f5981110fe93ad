//! Rough throughput of the devnet: blocks/s (one transfer per block, committed to redb with
//! fsync), eth_call/s and aiop_infer/s over HTTP. `cargo run --release -p aiop-node --example node_bench`.

use aiop_kernels::KernelChoice;
use aiop_node::{
    chain::{DEV_CHAIN_ID, dev_accounts, model_address},
    node::{Node, NodeConfig, sign},
    rpc::{RpcCtx, ServerConfig, serve},
};
use alloy_consensus::TxEip1559;
use alloy_primitives::{Bytes, TxKind, U256};
use serde_json::json;
use std::{sync::Arc, time::Instant};

fn main() -> anyhow::Result<()> {
    let blocks: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(300);
    let calls: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir()?;
    let kernels = KernelChoice::Auto.resolve().map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = NodeConfig { datadir: dir.path().to_path_buf(), genesis: None, dev: true, block_time: None, kernels };
    let node = Node::open(config.clone())?;
    let alice = &dev_accounts()[0];
    let bob = dev_accounts()[1].address;
    let started = Instant::now();
    for nonce in 0..blocks {
        let tx = TxEip1559 {
            chain_id: DEV_CHAIN_ID,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(bob),
            value: U256::from(1),
            access_list: Default::default(),
            input: Bytes::new(),
        };
        node.submit(sign(tx, &alice.key)?)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "blocks: {blocks} one-transfer blocks in {secs:.2} s = {:.0} blocks/s (redb commit with fsync each)",
        blocks as f64 / secs
    );
    // Inference transactions (digits MLP through the precompile), one per block.
    let infer_blocks = blocks / 3;
    let started = Instant::now();
    for i in 0..infer_blocks {
        use alloy_sol_types::SolCall;
        let input = Bytes::from(vec![(i % 251) as u8; 64]);
        let data = aiop_node::client::inferCall { model: model_address(0), input }.abi_encode();
        let tx = TxEip1559 {
            chain_id: DEV_CHAIN_ID,
            nonce: blocks + i,
            gas_limit: 200_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(aiop_node::client::PRECOMPILE_ADDRESS),
            value: U256::ZERO,
            access_list: Default::default(),
            input: data.into(),
        };
        node.submit(sign(tx, &alice.key)?)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "blocks: {infer_blocks} one-inference blocks (digits MLP) in {secs:.2} s = {:.0} blocks/s",
        infer_blocks as f64 / secs
    );
    drop(node);
    for path in [aiop_kernels::KernelPath::Reference, kernels] {
        let report = aiop_node::verify::verify(dir.path(), path, false)?;
        println!(
            "chain verify ({path:?}): {} blocks, {} txs in {:.2} s = {:.0} blocks/s",
            report.blocks,
            report.txs,
            report.seconds,
            report.blocks as f64 / report.seconds
        );
    }
    let node = Arc::new(Node::open(config)?);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (_handle, addr) = runtime.block_on(serve(
        RpcCtx::new(node.clone()),
        &ServerConfig { addr: "127.0.0.1:0".parse()?, ..ServerConfig::default() },
    ))?;
    let url = format!("http://{addr}");
    let client = aiop_node::client::connect(&url)?;
    let request = |method: &'static str, params: serde_json::Value| {
        let client = client.clone();
        async move {
            use alloy_provider::Provider;
            client.raw_request::<_, Bytes>(method.into(), params).await
        }
    };
    let call = json!([{"from": alice.address, "to": bob, "value": "0x1"}, "latest"]);
    let started = Instant::now();
    for _ in 0..calls {
        runtime.block_on(request("eth_call", call.clone()))?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("eth_call (transfer), 1 client (alloy provider, keep-alive): {:.0} calls/s", calls as f64 / secs);
    let input = Bytes::from(vec![5u8; 64]);
    let started = Instant::now();
    for _ in 0..calls {
        runtime.block_on(request("aiop_infer", json!([model_address(0), input])))?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("aiop_infer (digits MLP, {kernels:?}): {:.0} calls/s", calls as f64 / secs);
    let data = {
        use alloy_sol_types::SolCall;
        Bytes::from(aiop_node::client::inferCall { model: model_address(0), input: input.clone() }.abi_encode())
    };
    let pcall = json!([{"to": aiop_node::client::PRECOMPILE_ADDRESS, "input": data}, "latest"]);
    let started = Instant::now();
    for _ in 0..calls {
        runtime.block_on(request("eth_call", pcall.clone()))?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("eth_call to the precompile infer(digits MLP): {:.0} calls/s", calls as f64 / secs);
    Ok(())
}
