//! `aiop chain verify`: re-executes every stored block from genesis and checks gas used,
//! receipts root, logs bloom, state root and block hash against what was stored.

use crate::{
    error::{NodeError, Result},
    exec::{BlockEnvInput, build_header, evm_factory, execute_block},
    node::genesis_block,
    storage::Store,
};
use aiop_kernels::KernelPath;
use alloy_consensus::proofs::calculate_receipt_root;
use alloy_genesis::Genesis;
use std::{path::Path, time::Instant};

/// What a successful verification covered.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Blocks re-executed (excluding genesis).
    pub blocks: u64,
    /// Transactions re-executed.
    pub txs: u64,
    /// Gas re-executed.
    pub gas: u64,
    /// Blocks that began with dev-mode state edits (`anvil_setBalance` and the like), replayed
    /// as recorded.
    pub edited_blocks: u64,
    /// Seconds taken.
    pub seconds: f64,
}

/// Replays the chain in `datadir` with `kernels`. Fails with [`NodeError::Mismatch`] naming the
/// first block that differs.
pub fn verify(datadir: &Path, kernels: KernelPath, progress: bool) -> Result<VerifyReport> {
    if !datadir.join("aiop.redb").exists() {
        return Err(NodeError::Corrupt(format!("no chain database in {}", datadir.display())));
    }
    let store = Store::open(datadir)?;
    let json = store.genesis_json()?.ok_or_else(|| NodeError::Corrupt("the database has no genesis".into()))?;
    let genesis: Genesis = serde_json::from_str(&json).map_err(|e| NodeError::Corrupt(e.to_string()))?;
    let chain_id = genesis.config.chain_id;
    let (genesis_blk, mut world) = genesis_block(&genesis);
    let stored0 = store.block(0)?;
    if stored0.hash != genesis_blk.hash {
        return Err(NodeError::Mismatch {
            number: 0,
            what: format!("genesis hash {} != stored {}", genesis_blk.hash, stored0.hash),
        });
    }
    let count = store.block_count()?;
    let factory = evm_factory(kernels, crate::chain::activations(&genesis)?)?;
    let mut hashes = crate::state::RecentHashes::default();
    hashes.push(genesis_blk.hash);
    let mut previous = genesis_blk.hash;
    let bar = if progress {
        let bar = indicatif::ProgressBar::new(count.saturating_sub(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} verify [{bar:40}] {pos}/{len} blocks {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = Instant::now();
    let (mut txs, mut gas, mut edited) = (0u64, 0u64, 0u64);
    for n in 1..count {
        let stored = store.block(n)?;
        let mismatch = |what: String| NodeError::Mismatch { number: n, what };
        if stored.header.parent_hash != previous {
            return Err(mismatch("parent hash does not link to the previous block".into()));
        }
        let env = BlockEnvInput::from_header(&stored.header, chain_id);
        let edits = store.dev_edits(n)?;
        let executed = execute_block(&factory, &world, &hashes, &env, stored.txs.clone(), &edits, false)
            .map_err(|e| mismatch(format!("re-execution failed: {e}")))?;
        if executed.gas_used != stored.header.gas_used {
            return Err(mismatch(format!("gas used {} != stored {}", executed.gas_used, stored.header.gas_used)));
        }
        let receipts_root = calculate_receipt_root(&executed.receipts);
        if receipts_root != stored.header.receipts_root {
            return Err(mismatch(format!("receipts root {receipts_root} != stored {}", stored.header.receipts_root)));
        }
        world.apply(&executed.diff);
        let state_root = world.state_root();
        if state_root != stored.header.state_root {
            return Err(mismatch(format!("state root {state_root} != stored {}", stored.header.state_root)));
        }
        let header = build_header(&env, &executed, state_root);
        if header.logs_bloom != stored.header.logs_bloom {
            return Err(mismatch("logs bloom differs".into()));
        }
        let hash = header.hash_slow();
        if hash != stored.hash {
            return Err(mismatch(format!("block hash {hash} != stored {}", stored.hash)));
        }
        txs += stored.txs.len() as u64;
        gas += stored.header.gas_used;
        hashes.push(hash);
        previous = hash;
        edited += u64::from(!edits.is_empty());
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(VerifyReport {
        blocks: count.saturating_sub(1),
        txs,
        gas,
        edited_blocks: edited,
        seconds: started.elapsed().as_secs_f64(),
    })
}
