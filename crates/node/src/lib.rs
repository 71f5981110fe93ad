//! aiop-node: the devnet for the aiop inference precompile.
//!
//! It builds a single-sequencer chain from the execution layer reth uses: transactions run
//! through alloy-evm's Ethereum block executor with a pluggable `EvmFactory` (the precompile's),
//! blocks carry a real state root (alloy-trie), receipts root, logs bloom and base fee, and each
//! block is committed to an embedded database (redb) atomically with its state. A jsonrpsee HTTP
//! server speaks the standard `eth_` methods that cast, viem and web3.py use, plus `aiop_`.
//!
//! Layout by domain: [`chain`] (genesis, dev accounts, hardforks), [`state`] (world state and
//! state root), [`exec`] (block execution), [`storage`] (redb), [`node`] (the running chain:
//! pool, mining), [`rpc`] (JSON-RPC), [`verify`] (replay from genesis), [`deploy`] (the
//! CREATE2 deployment plan of a model), [`client`] (`aiop model deploy|call` on alloy's
//! provider), [`cli`] (clap arguments and entry points).
//!
//! What it must never do: let anything but the block's transactions and header decide the state
//! (no clock, no randomness, no hash-map iteration order, no floats on the execution path); write
//! a block without its state, or state without its block; panic on any input a client can send.

pub mod chain;
pub mod cli;
pub mod client;
pub mod deploy;
pub mod error;
pub mod exec;
pub mod inspect;
pub mod node;
pub mod pool;
pub mod rpc;
pub mod sign;
pub mod state;
pub mod storage;
pub mod verify;

pub use error::NodeError;
