//! Block execution through alloy-evm's Ethereum block executor and the node's `EvmFactory`.
//!
//! Everything here is consensus: the result depends only on the parent state, the header
//! fields in [`BlockEnvInput`] and the transactions.

use crate::{
    chain::{BEACON_ROOT, DevSpec, SPEC},
    error::{NodeError, Result},
    state::{DevEdit, Diff, Overlay, RecentHashes, WorldState},
};
use aiop_kernels::KernelPath;
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH, Header, ReceiptEnvelope, TxEnvelope, TxReceipt,
    proofs::{calculate_receipt_root, calculate_transaction_root},
    transaction::Recovered,
};
use alloy_eips::{eip1559::BaseFeeParams, eip7685::Requests};
use alloy_evm::{
    EvmEnv, EvmFactory,
    block::{BlockExecutionError, BlockExecutor, BlockValidationError},
    eth::{EthBlockExecutionCtx, EthBlockExecutor, receipt_builder::AlloyReceiptBuilder},
};
use alloy_primitives::{Address, B256, Bloom, Bytes, U256};
use revm::{
    context::{BlockEnv, CfgEnv},
    context_interface::block::BlobExcessGasAndPrice,
    primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE,
};

/// The EVM factory the node executes with: Ethereum's, plus the aiop inference precompile at
/// its default address (`aiop_precompile::DEFAULT_ADDRESS`) with the chain's activations.
pub type NodeEvmFactory = aiop_precompile::AiopEvmFactory;

/// Builds the node's EVM factory for a chain's precompile `activations` (consensus, from its
/// genesis) and a kernel path (speed only: every path gives the same bytes and gas).
pub fn evm_factory(kernels: KernelPath, activations: aiop_precompile::Activations) -> Result<NodeEvmFactory> {
    aiop_precompile::AiopEvmFactory::new(aiop_precompile::AiopConfig {
        kernel_path: kernels,
        ..aiop_precompile::AiopConfig::new(activations)
    })
    .map_err(|e| NodeError::Kernels(e.to_string()))
}

/// The header fields that decide a block's execution.
#[derive(Debug, Clone)]
pub struct BlockEnvInput {
    /// Chain id.
    pub chain_id: u64,
    /// Block number.
    pub number: u64,
    /// Timestamp.
    pub timestamp: u64,
    /// Parent hash.
    pub parent_hash: B256,
    /// Base fee.
    pub base_fee: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// `mix_hash` (prevrandao).
    pub prevrandao: B256,
    /// Extra data.
    pub extra_data: Bytes,
}

impl BlockEnvInput {
    /// The env of a stored block.
    pub fn from_header(header: &Header, chain_id: u64) -> Self {
        BlockEnvInput {
            chain_id,
            number: header.number,
            timestamp: header.timestamp,
            parent_hash: header.parent_hash,
            base_fee: header.base_fee_per_gas.unwrap_or_default(),
            gas_limit: header.gas_limit,
            beneficiary: header.beneficiary,
            prevrandao: header.mix_hash,
            extra_data: header.extra_data.clone(),
        }
    }

    /// The revm environment.
    pub fn evm_env(&self) -> EvmEnv {
        let cfg_env = CfgEnv::new_with_spec(SPEC).with_chain_id(self.chain_id);
        let block_env = BlockEnv {
            number: U256::from(self.number),
            beneficiary: self.beneficiary,
            timestamp: U256::from(self.timestamp),
            gas_limit: self.gas_limit,
            basefee: self.base_fee,
            difficulty: U256::ZERO,
            prevrandao: Some(self.prevrandao),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE)),
            ..Default::default()
        };
        EvmEnv { cfg_env, block_env }
    }
}

/// The base fee of the block after `parent`.
pub fn next_base_fee(parent: &Header) -> u64 {
    parent.next_block_base_fee(BaseFeeParams::ethereum()).unwrap_or_default()
}

/// What executing a block produced.
#[derive(Debug)]
pub struct Executed {
    /// The transactions that were included (all of them when `skip_invalid` is false).
    pub included: Vec<Recovered<TxEnvelope>>,
    /// Transactions left out because they are invalid, with why.
    pub rejected: Vec<(B256, String)>,
    /// Transactions left out for a later block: they did not fit in the gas left, or an earlier
    /// transaction of their sender was left out.
    pub deferred: Vec<B256>,
    /// Receipts of `included`.
    pub receipts: Vec<ReceiptEnvelope>,
    /// Gas used by the block.
    pub gas_used: u64,
    /// EIP-7685 requests.
    pub requests: Requests,
    /// State changes.
    pub diff: Diff,
}

/// The execution context of a block of `tx_count` transactions: its parent, the (constant)
/// beacon root, no withdrawals. Block building, replay and tracing all use this one.
pub fn block_context(env: &BlockEnvInput, tx_count: usize) -> EthBlockExecutionCtx<'static> {
    EthBlockExecutionCtx {
        parent_hash: env.parent_hash,
        parent_beacon_block_root: Some(BEACON_ROOT),
        ommers: &[],
        withdrawals: Some(std::borrow::Cow::Owned(Vec::new())),
        extra_data: env.extra_data.clone(),
        tx_count_hint: Some(tx_count),
        slot_number: None,
    }
}

/// Executes a block's transactions on `world`, after the dev-mode `edits` recorded for it.
///
/// With `skip_invalid` (building a block), a transaction the EVM rejects (bad nonce, no funds)
/// is left out and reported, and one that does not fit in the gas left is deferred, as are the
/// later transactions of a sender whose transaction was left out. Without it (replaying a
/// stored block), any of these fails the block.
pub fn execute_block(
    factory: &NodeEvmFactory,
    world: &WorldState,
    hashes: &RecentHashes,
    env: &BlockEnvInput,
    txs: Vec<Recovered<TxEnvelope>>,
    edits: &[DevEdit],
    skip_invalid: bool,
) -> Result<Executed> {
    let mut overlay = Overlay::new(world, hashes);
    for edit in edits {
        overlay.apply_edit(edit);
    }
    let evm = factory.create_evm(overlay, env.evm_env());
    let ctx = block_context(env, txs.len());
    let spec = DevSpec;
    let mut executor = EthBlockExecutor::new(evm, ctx, &spec, AlloyReceiptBuilder::default());
    executor.apply_pre_execution_changes().map_err(exec_err)?;
    let mut included = Vec::with_capacity(txs.len());
    let mut rejected = Vec::new();
    let mut deferred = Vec::new();
    let mut held_back = std::collections::BTreeSet::new();
    for tx in txs {
        if held_back.contains(&tx.signer()) {
            deferred.push(*tx.tx_hash());
            continue;
        }
        match executor.execute_transaction(&tx) {
            Ok(_) => included.push(tx),
            Err(e) if skip_invalid => {
                held_back.insert(tx.signer());
                if matches!(
                    e,
                    BlockExecutionError::Validation(
                        BlockValidationError::TransactionGasLimitMoreThanAvailableBlockGas { .. }
                    )
                ) {
                    deferred.push(*tx.tx_hash());
                } else {
                    rejected.push((*tx.tx_hash(), e.to_string()));
                }
            }
            Err(e) => return Err(exec_err(e)),
        }
    }
    let (evm, result) = executor.finish().map_err(exec_err)?;
    let overlay = alloy_evm::Evm::into_db(evm);
    Ok(Executed {
        included,
        rejected,
        deferred,
        receipts: result.receipts,
        gas_used: result.gas_used,
        requests: result.requests,
        diff: overlay.diff,
    })
}

fn exec_err(e: BlockExecutionError) -> NodeError {
    NodeError::Execution(e.to_string())
}

/// The sealed header of an executed block, given the post-state root.
pub fn build_header(env: &BlockEnvInput, executed: &Executed, state_root: B256) -> Header {
    let mut logs_bloom = Bloom::ZERO;
    for receipt in &executed.receipts {
        logs_bloom.accrue_bloom(&receipt.bloom());
    }
    let txs: Vec<&TxEnvelope> = executed.included.iter().map(|t| t.inner()).collect();
    Header {
        parent_hash: env.parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: env.beneficiary,
        state_root,
        transactions_root: calculate_transaction_root(&txs),
        receipts_root: calculate_receipt_root(&executed.receipts),
        logs_bloom,
        difficulty: U256::ZERO,
        number: env.number,
        gas_limit: env.gas_limit,
        gas_used: executed.gas_used,
        timestamp: env.timestamp,
        extra_data: env.extra_data.clone(),
        mix_hash: env.prevrandao,
        nonce: Default::default(),
        base_fee_per_gas: Some(env.base_fee),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(BEACON_ROOT),
        requests_hash: Some(executed.requests.requests_hash()),
        ..Default::default()
    }
}
