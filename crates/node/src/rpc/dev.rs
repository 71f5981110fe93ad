//! The test helpers of hardhat and anvil: `evm_mine`, `evm_snapshot`, `evm_revert`,
//! `evm_increaseTime`, `evm_setNextBlockTimestamp`, and the `anvil_`/`hardhat_` state edits.
//! State edits seal a block that begins with them ([`crate::node::Node::apply_edits`]), so a
//! chain that used them still verifies.

use super::{
    RpcCtx,
    api::{AnvilApiServer, DevApiServer},
    invalid_params, node_error,
};
use crate::state::DevEdit;
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use jsonrpsee::core::RpcResult;

/// Most blocks one `anvil_mine` seals.
const MAX_MINE_BLOCKS: u64 = 10_000;

impl RpcCtx {
    fn edit(&self, edit: DevEdit) -> RpcResult<()> {
        self.node.apply_edits(vec![edit]).map_err(node_error)?;
        Ok(())
    }
}

impl DevApiServer for RpcCtx {
    fn mine(&self, timestamp: Option<U64>) -> RpcResult<String> {
        if let Some(timestamp) = timestamp {
            self.node.set_next_timestamp(timestamp.to()).map_err(node_error)?;
        }
        self.node.mine_pending().map_err(node_error)?;
        Ok("0x0".into())
    }

    fn snapshot(&self) -> RpcResult<U64> {
        self.node.take_snapshot().map(U64::from).map_err(node_error)
    }

    fn revert(&self, id: U64) -> RpcResult<bool> {
        self.node.revert_to_snapshot(id.to()).map_err(node_error)
    }

    fn increase_time(&self, seconds: U64) -> RpcResult<U64> {
        self.node.increase_time(seconds.to()).map(U64::from).map_err(node_error)
    }

    fn set_next_block_timestamp(&self, timestamp: U64) -> RpcResult<()> {
        self.node.set_next_timestamp(timestamp.to()).map_err(node_error)
    }
}

impl AnvilApiServer for RpcCtx {
    fn set_balance(&self, address: Address, balance: U256) -> RpcResult<()> {
        self.edit(DevEdit::Balance(address, balance))
    }

    fn set_code(&self, address: Address, code: Bytes) -> RpcResult<()> {
        self.edit(DevEdit::Code(address, code))
    }

    fn set_nonce(&self, address: Address, nonce: U64) -> RpcResult<()> {
        self.edit(DevEdit::Nonce(address, nonce.to()))
    }

    fn set_storage_at(&self, address: Address, slot: U256, value: B256) -> RpcResult<bool> {
        self.edit(DevEdit::Storage(address, slot, U256::from_be_bytes(value.0)))?;
        Ok(true)
    }

    fn mine(&self, blocks: Option<U64>, interval: Option<U64>) -> RpcResult<()> {
        let blocks = blocks.map_or(1, |b| b.saturating_to::<u64>());
        if blocks > MAX_MINE_BLOCKS {
            return Err(invalid_params(format!("at most {MAX_MINE_BLOCKS} blocks per call")));
        }
        let interval = interval.map(|i| i.saturating_to::<u64>());
        for _ in 0..blocks {
            if let Some(interval) = interval {
                let parent = self.chain()?.head().header.timestamp;
                self.node.set_next_timestamp(parent.saturating_add(interval.max(1))).map_err(node_error)?;
            }
            self.node.mine_pending().map_err(node_error)?;
        }
        Ok(())
    }
}
