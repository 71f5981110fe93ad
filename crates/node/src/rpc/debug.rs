//! Methods that execute with an inspector: `debug_traceTransaction` and `debug_traceCall`
//! (geth's tracers, from revm-inspectors), `eth_createAccessList`, and `eth_getProof`. Each
//! runs on a snapshot under the RPC's gas cap and time budget.

use super::{RpcCtx, api::DebugApiServer, error, eth::state_block};
use crate::{
    error::{NodeError, Result},
    exec::BlockEnvInput,
    inspect,
    node::{Chain, Node},
    state::DevEdit,
};
use alloy_eips::BlockId;
use alloy_primitives::{Address, B256};
use alloy_rpc_types_eth::{AccessListResult, EIP1186AccountProofResponse, TransactionRequest};
use alloy_rpc_types_trace::geth::{GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace};
use alloy_serde::JsonStorageKey;
use jsonrpsee::core::RpcResult;
use revm::{DatabaseRef, database::CacheDB};

/// Applies the dev edits recorded for a block to the state before it, as block execution does.
fn apply_edits<DB: DatabaseRef>(db: &mut CacheDB<DB>, edits: &[DevEdit]) -> Result<()>
where
    NodeError: From<DB::Error>,
{
    for edit in edits {
        let address = edit.address();
        let mut info = db.basic_ref(address)?.unwrap_or_default();
        match edit {
            DevEdit::Balance(_, balance) => info.balance = *balance,
            DevEdit::Nonce(_, nonce) => info.nonce = *nonce,
            DevEdit::Code(_, code) => {
                let bytecode = revm::bytecode::Bytecode::new_raw(code.clone());
                info.code_hash = if code.is_empty() { alloy_primitives::KECCAK256_EMPTY } else { bytecode.hash_slow() };
                info.code = Some(bytecode);
            }
            DevEdit::Storage(_, slot, value) => {
                db.insert_account_storage(address, *slot, *value)?;
                continue;
            }
        }
        db.insert_account_info(address, info);
    }
    Ok(())
}

fn trace_mined(node: &Node, chain: &Chain, hash: B256, options: &GethDebugTracingOptions) -> Result<GethTrace> {
    let (block, index) = chain
        .transaction(&hash)?
        .ok_or_else(|| NodeError::StateUnavailable { number: 0, reason: format!("transaction {hash} is not mined") })?;
    let number = block.header.number;
    let mut parent = CacheDB::new(chain.state_at(number.saturating_sub(1))?);
    apply_edits(&mut parent, &chain.reader().dev_edits(number)?)?;
    let env = BlockEnvInput::from_header(&block.header, node.chain_id());
    let target =
        block.txs.get(index).ok_or_else(|| NodeError::Corrupt(format!("block {number} lost a transaction")))?;
    inspect::trace_transaction(node.factory(), parent, &env, block.hash, &block.txs[..index], target, options)
}

impl DebugApiServer for RpcCtx {
    fn trace_transaction(&self, hash: B256, options: Option<GethDebugTracingOptions>) -> RpcResult<GethTrace> {
        let options = options.unwrap_or_default();
        self.bounded(move |node, _| trace_mined(node, &node.read()?, hash, &options))
    }

    fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        options: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace> {
        let at = state_block(&self.chain()?, block)?;
        let options = options.unwrap_or_default();
        if options.block_overrides.is_some() {
            return Err(super::invalid_params("block overrides are not supported by this devnet"));
        }
        self.bounded(move |node, limits| {
            let chain = node.read()?;
            let (db, env, tx) =
                node.prepare_call(&chain, &request, Some(at), options.state_overrides.as_ref(), limits.gas_cap)?;
            inspect::trace_call(node.factory(), db, env, tx, &options.tracing_options)
        })
    }
}

impl RpcCtx {
    /// `eth_createAccessList`.
    pub(crate) fn access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<AccessListResult> {
        let at = state_block(&self.chain()?, block)?;
        self.bounded(move |node, limits| {
            let chain = node.read()?;
            let (db, env, tx) = node.prepare_call(&chain, &request, Some(at), None, limits.gas_cap)?;
            inspect::create_access_list(node.factory(), db, env, tx)
        })
    }

    /// `eth_getProof`, at the head only: proofs are built from the head's state in memory.
    pub(crate) fn account_proof(
        &self,
        address: Address,
        keys: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        const MAX_KEYS: usize = 1024;
        if keys.len() > MAX_KEYS {
            return Err(super::invalid_params(format!("{} storage keys asked for; at most {MAX_KEYS}", keys.len())));
        }
        let chain = self.chain()?;
        let at = state_block(&chain, block)?;
        let head = chain.head().header.number;
        if at != head {
            return Err(error(
                -32000,
                format!("proofs are served for the head block ({head}) only; block {at} is older"),
            ));
        }
        let slots: Vec<B256> = keys.iter().map(|k| k.as_b256()).collect();
        Ok(inspect::account_proof(chain.world(), address, &slots))
    }
}
