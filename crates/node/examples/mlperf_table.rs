//! The MLPerf Tiny table of `docs/models.md`, measured on an in-process dev chain:
//! bytes, accounts, deploy gas (every CREATE2 transaction `aiop model deploy` sends, salt 1, as
//! mined), MACs, `infer` gas cold and warm (what `cost()` and the EVM charge), calls per
//! 30M-gas block, the `inferBatch` saving per input, and the time of one run per kernel path.
//!
//! Run: `cargo run --release -p aiop-node --example mlperf_table`

use std::time::Instant;

use aiop_engine::{KernelPath, LoadedModel};
use aiop_node::{
    chain::{DEV_CHAIN_ID, MLPERF_MODELS, dev_accounts},
    deploy::{DEPLOYER, plan},
    node::{Node, NodeConfig, sign},
};
use aiop_precompile::{COLD_ACCOUNT_ACCESS_GAS, DEFAULT_ADDRESS, WARM_ACCOUNT_ACCESS_GAS, abi, storage::Layout};
use alloy_consensus::TxEip1559;
use alloy_primitives::{B256, Bytes, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_sol_types::SolCall;
use revm::context_interface::result::ExecutionResult;

const BLOCK_GAS: u64 = 30_000_000;
const BATCH: u64 = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("aiop-mlperf-table-{}", std::process::id()));
    let node = Node::open(NodeConfig {
        datadir: dir.clone(),
        genesis: None,
        dev: true,
        block_time: None,
        kernels: KernelPath::fastest(),
    })?;
    let account = &dev_accounts()[0];
    let paths: Vec<KernelPath> = KernelPath::available().collect();
    let path_names: Vec<&str> = paths.iter().map(|p| p.name()).collect();
    println!(
        "| model | bytes | accounts | deploy gas | MACs | infer gas cold | warm | calls per 30M block | inferBatch({BATCH}) gas per input | {} |",
        path_names.iter().map(|p| format!("run, {p}")).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|{}", "---:|".repeat(paths.len()));
    for (name, bytes) in MLPERF_MODELS {
        let planned = plan(bytes, B256::with_last_byte(1))?;
        let mut deploy_gas = 0;
        for contract in &planned.contracts {
            let tx = TxEip1559 {
                chain_id: DEV_CHAIN_ID,
                nonce: node.pending_nonce(account.address)?,
                gas_limit: 29_000_000,
                max_fee_per_gas: 10_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(DEPLOYER),
                value: U256::ZERO,
                access_list: Default::default(),
                input: contract.calldata.clone(),
            };
            let hash = node.submit(sign(tx, &account.key)?)?;
            let chain = node.read()?;
            let (block, index) = chain.transaction(&hash)?.ok_or("the deploy transaction is not in a block")?;
            let receipt = &block.receipts[index];
            let before = if index == 0 { 0 } else { block.receipts[index - 1].cumulative_gas_used() };
            deploy_gas += receipt.cumulative_gas_used() - before;
        }
        let handle = planned.address();
        let loaded = LoadedModel::load(bytes, KernelPath::Reference)?;
        let input_len = loaded.input_len();
        let quote = |data: Vec<u8>| -> Result<u64, Box<dyn std::error::Error>> {
            let req = TransactionRequest::default().to(DEFAULT_ADDRESS).input(Bytes::from(data).into());
            match node.call(&req, None, None, 50_000_000)? {
                ExecutionResult::Success { output, .. } => {
                    Ok(abi::costCall::abi_decode_returns(output.data())?.to::<u64>())
                }
                other => Err(format!("{name}: cost reverted: {other:?}").into()),
            }
        };
        let cold = quote(abi::costCall { model: handle, inputLength: U256::from(input_len) }.abi_encode())?;
        let layout = Layout::of(bytes.len() as u64);
        let warm = cold - (COLD_ACCOUNT_ACCESS_GAS - WARM_ACCOUNT_ACCESS_GAS) * layout.accounts();
        let batch = quote(
            abi::costBatchCall { model: handle, inputLength: U256::from(input_len), count: U256::from(BATCH) }
                .abi_encode(),
        )?;
        let input: Vec<u8> = (0..input_len).map(|i| (i * 29 + 7) as u8).collect();
        let mut times = Vec::new();
        for &path in &paths {
            let model = LoadedModel::load(bytes, path)?;
            let runs = 5;
            let start = Instant::now();
            for _ in 0..runs {
                std::hint::black_box(model.run(&input)?);
            }
            times.push(format!("{:.2} ms", start.elapsed().as_secs_f64() * 1000.0 / runs as f64));
        }
        println!(
            "| `{name}` | {} | {} | {deploy_gas} | {} | {cold} | {warm} | {} | {} | {} |",
            bytes.len(),
            layout.accounts(),
            loaded.cost().macs,
            BLOCK_GAS / cold,
            batch / BATCH,
            times.join(" | ")
        );
    }
    drop(node);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
