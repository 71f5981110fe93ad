//! How the node's memory and speed change as its chain grows: mines `--blocks` blocks of one
//! transfer each on an in-process dev chain and prints, every `--every` blocks, the process's
//! resident memory, blocks per second over the last stretch, and `eth_call`s per second on the
//! head state (a call of the pre-deployed Multicall-free transfer path: a plain value call).
//!
//! Run: `cargo run --release -p aiop-node --example chain_growth -- --blocks 100000 --every 10000`

use aiop_engine::KernelPath;
use aiop_node::{
    chain::{DEV_CHAIN_ID, dev_accounts},
    node::{Node, NodeConfig, sign},
};
use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use std::time::Instant;

fn resident_mib() -> f64 {
    // statm's second field is resident pages; 4 KiB pages on x86-64 Linux.
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let blocks = arg("--blocks", 100_000);
    let every = arg("--every", 10_000).max(1);
    let calls = arg("--calls", 2_000);
    let dir = tempfile::tempdir()?;
    let node = Node::open(NodeConfig {
        datadir: dir.path().to_path_buf(),
        genesis: None,
        dev: true,
        block_time: None,
        kernels: KernelPath::fastest(),
    })?;
    let account = &dev_accounts()[0];
    let call = TransactionRequest {
        from: Some(account.address),
        to: Some(TxKind::Call(Address::with_last_byte(0x42))),
        value: Some(U256::from(1)),
        ..Default::default()
    };
    println!("| blocks | RSS MiB | blocks/s (last {every}) | eth_call/s |");
    println!("|---:|---:|---:|---:|");
    let mut stretch = Instant::now();
    for n in 1..=blocks {
        let tx = TxEip1559 {
            chain_id: DEV_CHAIN_ID,
            nonce: n - 1,
            gas_limit: 21_000,
            max_fee_per_gas: 20_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            // A new recipient each block, so the state grows as a real chain's does.
            to: TxKind::Call(Address::left_padding_from(&(n % 1000 + 0x1000).to_be_bytes())),
            value: U256::from(1),
            access_list: Default::default(),
            input: Default::default(),
        };
        node.submit(sign(tx, &account.key)?)?;
        if n % every == 0 {
            let blocks_per_s = every as f64 / stretch.elapsed().as_secs_f64();
            let started = Instant::now();
            for _ in 0..calls {
                node.call(&call, None, None, 50_000_000)?;
            }
            let calls_per_s = calls as f64 / started.elapsed().as_secs_f64();
            println!("| {n} | {:.1} | {blocks_per_s:.0} | {calls_per_s:.0} |", resident_mib());
            stretch = Instant::now();
        }
    }
    Ok(())
}
