//! Looking into execution and state without changing it: geth-style traces
//! (`debug_traceCall`, `debug_traceTransaction`) and access lists (`eth_createAccessList`) with
//! revm-inspectors, and Merkle proofs of accounts and storage (`eth_getProof`) with alloy-trie.
//!
//! Every run here executes against a read-only view ([`DatabaseRef`]) or against a private
//! [`CacheDB`] over one, and the RPC layer wires these functions in.
//!
//! What it must never do: change the state it is given (nothing here commits to a database a
//! caller holds); execute a block's transactions differently from [`crate::exec`] (the replay in
//! [`trace_transaction`] runs the same alloy-evm block executor, with the same pre-execution
//! system calls); panic on any transaction, option or state a client can send.

use crate::{
    chain::DevSpec,
    error::{NodeError, Result, TxRejection},
    exec::{BlockEnvInput, NodeEvmFactory},
    state::WorldState,
};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_evm::{
    EvmEnv, EvmFactory, FromRecoveredTx,
    block::{BlockExecutionError, BlockExecutor},
    eth::{EthBlockExecutor, EthEvmContext, receipt_builder::AlloyReceiptBuilder},
};
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_rlp::EMPTY_STRING_CODE;
use alloy_rpc_types_eth::{
    AccessList, AccessListItem, AccessListResult, EIP1186AccountProofResponse, EIP1186StorageProof,
};
use alloy_rpc_types_trace::geth::{GethDebugTracerType, GethDebugTracingOptions, GethTrace};
use alloy_trie::{
    HashBuilder, Nibbles, TrieAccount,
    proof::{ProofNodes, ProofRetainer},
};
use revm::{
    DatabaseRef, Inspector,
    context::TxEnv,
    context_interface::result::{EVMError, ExecutionResult, HaltReason, ResultAndState},
    database::CacheDB,
    database_interface::WrapDatabaseRef,
};
use revm_inspectors::{
    access_list::AccessListInspector,
    tracing::{DebugInspector, DebugInspectorError, TransactionContext},
};
use std::{collections::BTreeMap, fmt::Debug};

/// The built-in tracers, for the error a client gets when it names another.
const TRACERS: &str = "callTracer, prestateTracer, 4byteTracer, flatCallTracer, muxTracer, erc7562Tracer, noopTracer, or none for the struct logger";

/// How many times [`create_access_list`] reruns a transaction before giving up on a stable list.
const MAX_ACCESS_LIST_RUNS: usize = 16;

/// Traces one transaction, as `debug_traceCall` does: executes `tx` on `db` under `env` with the
/// tracer `opts` names and returns its trace. Nothing is committed.
///
/// With no tracer, the struct logger runs (honouring `disableStorage`, `disableStack`,
/// `enableMemory`, `enableReturnData` and `limit`); `callTracer` (`onlyTopCall`, `withLog`),
/// `prestateTracer` (`diffMode`), `4byteTracer`, `flatCallTracer`, `muxTracer`,
/// `erc7562Tracer` and `noopTracer` are built in. Any other tracer name (or JavaScript) is
/// refused with a [`NodeError::Execution`] naming the supported ones; a transaction the EVM
/// refuses is a [`TxRejection::Invalid`].
pub fn trace_call<DB>(
    factory: &NodeEvmFactory,
    db: DB,
    env: EvmEnv,
    tx: TxEnv,
    opts: &GethDebugTracingOptions,
) -> Result<GethTrace>
where
    DB: DatabaseRef + Debug,
    DB::Error: std::error::Error + Send + Sync + 'static,
{
    trace_in_context(factory, &db, env, tx, opts, TransactionContext::default())
}

/// Traces transaction `target` of a block, as `debug_traceTransaction` does: on a private copy
/// of `parent_state` (the state before the block), applies the block's pre-execution system
/// calls (EIP-2935 parent hash, EIP-4788 beacon root) and executes `before` (the block's
/// transactions ahead of `target`, in order) exactly as block building does, then traces
/// `target` with `opts` as [`trace_call`] does. `block_hash` is the block's hash, reported by
/// the tracers that show it (`flatCallTracer`).
pub fn trace_transaction<DB>(
    factory: &NodeEvmFactory,
    parent_state: DB,
    block: &BlockEnvInput,
    block_hash: B256,
    before: &[Recovered<TxEnvelope>],
    target: &Recovered<TxEnvelope>,
    opts: &GethDebugTracingOptions,
) -> Result<GethTrace>
where
    DB: DatabaseRef + Debug,
    DB::Error: std::error::Error + Send + Sync + 'static,
{
    let mut db = CacheDB::new(parent_state);
    replay_before(factory, &mut db, block, before)?;
    let tx = TxEnv::from_recovered_tx(target.inner(), target.signer());
    let context = TransactionContext::default()
        .with_block_hash(block_hash)
        .with_tx_index(before.len())
        .with_tx_hash(*target.tx_hash());
    trace_in_context(factory, &db, block.evm_env(), tx, opts, context)
}

/// Runs the start of a block into `db`: its pre-execution system calls, then `before`, each
/// committed, through the same executor and context as [`crate::exec::execute_block`].
fn replay_before<DB>(
    factory: &NodeEvmFactory,
    db: &mut CacheDB<DB>,
    block: &BlockEnvInput,
    before: &[Recovered<TxEnvelope>],
) -> Result<()>
where
    DB: DatabaseRef + Debug,
    DB::Error: std::error::Error + Send + Sync + 'static,
{
    let evm = factory.create_evm(db, block.evm_env());
    let ctx = crate::exec::block_context(block, before.len());
    let spec = DevSpec;
    let mut executor = EthBlockExecutor::new(evm, ctx, &spec, AlloyReceiptBuilder::default());
    executor.apply_pre_execution_changes().map_err(replay_error)?;
    for tx in before {
        executor.execute_transaction(tx).map_err(replay_error)?;
    }
    Ok(())
}

fn replay_error(e: BlockExecutionError) -> NodeError {
    NodeError::Execution(format!("replaying the block up to the traced transaction failed: {e}"))
}

/// Traces `tx` with the tracer of `opts`, reporting `context` (hash, index, block hash).
fn trace_in_context<DB>(
    factory: &NodeEvmFactory,
    db: &DB,
    env: EvmEnv,
    tx: TxEnv,
    opts: &GethDebugTracingOptions,
    context: TransactionContext,
) -> Result<GethTrace>
where
    DB: DatabaseRef + Debug,
    DB::Error: std::error::Error + Send + Sync + 'static,
{
    if let Some(GethDebugTracerType::JsTracer(name)) = &opts.tracer {
        return Err(unknown_tracer(name));
    }
    let tracer = opts.tracer.as_ref().map(|t| t.as_str().to_owned()).unwrap_or_else(|| "struct logger".into());
    let mut inspector = DebugInspector::new(opts.clone()).map_err(|e| tracer_error(&tracer, e))?;
    let result = transact(factory, db, env.clone(), tx.clone(), &mut inspector)?;
    let mut view = db;
    let mut trace = inspector
        .get_result(Some(context), &tx, &env.block_env, &result, &mut view)
        .map_err(|e| tracer_error(&tracer, e))?;
    if let (GethTrace::Default(frame), Some(limit)) = (&mut trace, opts.config.limit.filter(|l| *l > 0)) {
        frame.struct_logs.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(trace)
}

fn unknown_tracer(name: &str) -> NodeError {
    let shown: String = name.chars().take(64).collect();
    let more = if shown.len() < name.len() { "…" } else { "" };
    NodeError::Execution(format!("unknown tracer `{shown}{more}`: this node has {TRACERS} (no JavaScript tracers)"))
}

fn tracer_error<E: std::fmt::Display>(tracer: &str, e: DebugInspectorError<E>) -> NodeError {
    match e {
        DebugInspectorError::InvalidTracerConfig => {
            NodeError::Execution(format!("invalid tracerConfig for {tracer}: it does not match that tracer's options"))
        }
        DebugInspectorError::UnsupportedTracer | DebugInspectorError::JsTracerNotEnabled => unknown_tracer(tracer),
        other => NodeError::Execution(format!("{tracer}: {other}")),
    }
}

/// Executes `tx` on a read-only view of `db` with `inspector`, without committing.
fn transact<'a, DB, I>(
    factory: &NodeEvmFactory,
    db: &'a DB,
    env: EvmEnv,
    tx: TxEnv,
    inspector: I,
) -> Result<ResultAndState<HaltReason>>
where
    DB: DatabaseRef + Debug,
    DB::Error: std::error::Error + Send + Sync + 'static,
    I: Inspector<EthEvmContext<WrapDatabaseRef<&'a DB>>>,
{
    let mut evm = factory.create_evm_with_inspector(WrapDatabaseRef(db), env, inspector);
    alloy_evm::Evm::transact(&mut evm, tx).map_err(evm_error)
}

fn evm_error<E: std::fmt::Display>(e: EVMError<E>) -> NodeError {
    match e {
        EVMError::Transaction(why) => TxRejection::Invalid(why.to_string()).into(),
        other => NodeError::Execution(other.to_string()),
    }
}

/// The access list of `tx`, as `eth_createAccessList` does: runs it with revm-inspectors'
/// [`AccessListInspector`] and, as geth does, reruns it with the list found until a run finds
/// no more (here at most 16 runs), then reports that list, the gas the last run used with it
/// and the run's failure, if any. The caller, the target (or the created address) and the precompiles
/// (the aiop precompile included) appear only where their storage is touched. Entries are
/// sorted by address, slots by key. `tx.access_list` seeds the list.
pub fn create_access_list<DB>(factory: &NodeEvmFactory, db: DB, env: EvmEnv, mut tx: TxEnv) -> Result<AccessListResult>
where
    DB: DatabaseRef + Debug,
    DB::Error: std::error::Error + Send + Sync + 'static,
{
    let mut list = sorted(tx.access_list.clone());
    for _ in 0..MAX_ACCESS_LIST_RUNS {
        tx.access_list = list.clone();
        let mut inspector = AccessListInspector::new(list.clone());
        let result = transact(factory, &db, env.clone(), tx.clone(), &mut inspector)?;
        // The inspector leaves out the caller, the target and every precompile of the EVM (the
        // aiop one is installed there) unless their storage is touched.
        let found = sorted(inspector.access_list());
        if found == list {
            return Ok(AccessListResult {
                access_list: found,
                gas_used: U256::from(result.result.tx_gas_used()),
                error: failure(&result.result),
            });
        }
        list = found;
    }
    Err(NodeError::Execution(format!(
        "the access list did not settle after {MAX_ACCESS_LIST_RUNS} runs: the transaction touches different state each time"
    )))
}

/// `list` with one entry per address, in address order, each with its slots in order.
fn sorted(list: AccessList) -> AccessList {
    let mut merged: BTreeMap<Address, std::collections::BTreeSet<B256>> = BTreeMap::new();
    for item in list.0 {
        merged.entry(item.address).or_default().extend(item.storage_keys);
    }
    AccessList(
        merged
            .into_iter()
            .map(|(address, slots)| AccessListItem { address, storage_keys: slots.into_iter().collect() })
            .collect(),
    )
}

/// Geth's error text of a failed execution (`None` for success).
fn failure(result: &ExecutionResult<HaltReason>) -> Option<String> {
    match result {
        ExecutionResult::Success { .. } => None,
        ExecutionResult::Revert { output, .. } => Some(match alloy_sol_types::decode_revert_reason(output) {
            Some(reason) => format!("execution reverted: {reason}"),
            None => "execution reverted".into(),
        }),
        ExecutionResult::Halt { reason: HaltReason::OutOfGas(_), .. } => Some("out of gas".into()),
        ExecutionResult::Halt { reason, .. } => Some(format!("execution halted: {reason:?}")),
    }
}

/// The Merkle proof of an account and some of its storage slots in `world`, as `eth_getProof`
/// returns it: the account-trie nodes from the state root down to `address` (keyed by
/// `keccak(address)`, valued by the RLP of its [`TrieAccount`], as [`WorldState::state_root`]
/// builds it), and for each slot the storage-trie nodes from the account's storage root down
/// to `keccak(slot)` (valued by the RLP of the value). An absent account (zero nonce and
/// balance, empty code and storage hashes) or slot (zero value) gets the exclusion proof: the
/// nodes down to where its path leaves the trie. An empty trie's proof is empty, as geth's.
pub fn account_proof(world: &WorldState, address: Address, slots: &[B256]) -> EIP1186AccountProofResponse {
    let no_storage = BTreeMap::new();
    let account = world.accounts.get(&address);
    let storage = account.map_or(&no_storage, |a| &a.storage);
    let (storage_hash, storage_proof) = storage_proofs(storage, slots);
    let leaves: BTreeMap<B256, Vec<u8>> = world
        .accounts
        .iter()
        .map(|(a, state)| {
            let storage_root = if *a == address { storage_hash } else { storage_root(&state.storage) };
            let leaf =
                TrieAccount { nonce: state.nonce, balance: state.balance, storage_root, code_hash: state.code_hash };
            (keccak256(a), alloy_rlp::encode(leaf))
        })
        .collect();
    let target = Nibbles::unpack(keccak256(address));
    let (_, nodes) = build_trie(&leaves, vec![target]);
    EIP1186AccountProofResponse {
        address,
        balance: account.map(|a| a.balance).unwrap_or_default(),
        code_hash: account.map_or(KECCAK256_EMPTY, |a| a.code_hash),
        nonce: account.map(|a| a.nonce).unwrap_or_default(),
        storage_hash,
        account_proof: proof_of(&nodes, &target),
        storage_proof,
    }
}

/// The storage root of `storage` and the proofs of `slots` in it.
fn storage_proofs(storage: &BTreeMap<U256, U256>, slots: &[B256]) -> (B256, Vec<EIP1186StorageProof>) {
    let targets: Vec<Nibbles> = slots.iter().map(|s| Nibbles::unpack(keccak256(s))).collect();
    let (root, nodes) = build_trie(&storage_leaves(storage), targets.clone());
    let proofs = slots
        .iter()
        .zip(&targets)
        .map(|(slot, target)| EIP1186StorageProof {
            key: (*slot).into(),
            value: storage.get(&U256::from_be_bytes(slot.0)).copied().unwrap_or_default(),
            proof: proof_of(&nodes, target),
        })
        .collect();
    (root, proofs)
}

fn storage_root(storage: &BTreeMap<U256, U256>) -> B256 {
    build_trie(&storage_leaves(storage), Vec::new()).0
}

/// The storage trie's leaves: `keccak(slot)` → RLP of the value, as the state root hashes them.
fn storage_leaves(storage: &BTreeMap<U256, U256>) -> BTreeMap<B256, Vec<u8>> {
    storage.iter().map(|(k, v)| (keccak256(B256::from(*k)), alloy_rlp::encode_fixed_size(v).to_vec())).collect()
}

/// The root of the trie of `leaves` (hashed keys, in order) and the nodes on the paths to
/// `targets`.
fn build_trie(leaves: &BTreeMap<B256, Vec<u8>>, targets: Vec<Nibbles>) -> (B256, ProofNodes) {
    let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(targets));
    for (key, value) in leaves {
        builder.add_leaf(Nibbles::unpack(key), value);
    }
    let root = builder.root();
    (root, builder.take_proof_nodes())
}

/// The nodes from the root to `target`, root first; none for an empty trie.
fn proof_of(nodes: &ProofNodes, target: &Nibbles) -> Vec<Bytes> {
    nodes
        .matching_nodes_sorted(target)
        .into_iter()
        .map(|(_, node)| node)
        .filter(|node| node.as_ref() != [EMPTY_STRING_CODE])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        chain::{DEV_CHAIN_ID, DEV_PRECOMPILE, dev_accounts, system_contracts},
        exec::evm_factory,
        state::RecentHashes,
        state::{AccountState, Overlay},
    };
    use aiop_kernels::KernelPath;
    use alloy_consensus::{TxEip1559, TypedTransaction, transaction::SignerRecoverable};
    use alloy_eips::eip2935::HISTORY_STORAGE_ADDRESS;
    use alloy_primitives::{TxKind, address};
    use alloy_rpc_types_trace::geth::{CallFrame, DefaultFrame, PreStateFrame};
    use revm::bytecode::Bytecode;
    use serde_json::json;

    /// Stores 42 in slot 0, reads slot 0, reads C's balance, then calls B, the identity
    /// precompile and the aiop precompile.
    const A: Address = address!("0x00000000000000000000000000000000000000aa");
    /// Increments slot 1, then logs the word 42.
    const B: Address = address!("0x00000000000000000000000000000000000000bb");
    /// A plain account whose balance A reads.
    const C: Address = address!("0x00000000000000000000000000000000000000cc");
    const IDENTITY: Address = address!("0x0000000000000000000000000000000000000004");
    const BASE_FEE: u64 = 7;

    fn code_a() -> Vec<u8> {
        // PUSH1 42 PUSH1 0 SSTORE; PUSH1 0 SLOAD POP
        let mut code = vec![0x60, 0x2a, 0x60, 0x00, 0x55, 0x60, 0x00, 0x54, 0x50];
        // PUSH20 C BALANCE POP
        code.push(0x73);
        code.extend_from_slice(C.as_slice());
        code.extend([0x31, 0x50]);
        for target in [B, IDENTITY, aiop_precompile::DEFAULT_ADDRESS] {
            // CALL(gas 0x8000, target, value 0, no input, no output) POP
            code.extend([0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x73]);
            code.extend_from_slice(target.as_slice());
            code.extend([0x61, 0x80, 0x00, 0xf1, 0x50]);
        }
        code.push(0x00);
        code
    }

    fn code_b() -> Vec<u8> {
        // PUSH1 1 SLOAD PUSH1 1 ADD PUSH1 1 SSTORE; PUSH1 42 PUSH1 0 MSTORE;
        // PUSH1 32 PUSH1 0 LOG0; STOP
        vec![
            0x60, 0x01, 0x54, 0x60, 0x01, 0x01, 0x60, 0x01, 0x55, 0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00,
            0xa0, 0x00,
        ]
    }

    fn put_code(world: &mut WorldState, address: Address, code: Vec<u8>, storage: &[(u64, u64)]) {
        let code_hash = keccak256(&code);
        world.codes.insert(code_hash, Bytecode::new_raw(code.into()));
        let storage = storage.iter().map(|(k, v)| (U256::from(*k), U256::from(*v))).collect();
        world.accounts.insert(address, AccountState { nonce: 1, balance: U256::ZERO, code_hash, storage });
    }

    fn world() -> WorldState {
        let mut world = WorldState::default();
        let rich = AccountState {
            balance: U256::from(10u64).pow(U256::from(21)),
            code_hash: KECCAK256_EMPTY,
            ..Default::default()
        };
        world.accounts.insert(dev_accounts()[0].address, rich.clone());
        world.accounts.insert(C, AccountState { balance: U256::from(3), ..rich });
        put_code(&mut world, A, code_a(), &[(0, 5)]);
        put_code(&mut world, B, code_b(), &[(1, 7)]);
        for (address, code) in system_contracts() {
            put_code(&mut world, address, code.to_vec(), &[]);
        }
        world
    }

    fn block() -> BlockEnvInput {
        BlockEnvInput {
            chain_id: DEV_CHAIN_ID,
            number: 5,
            timestamp: 60,
            parent_hash: B256::repeat_byte(0x11),
            base_fee: BASE_FEE,
            gas_limit: 30_000_000,
            beneficiary: address!("0x000000000000000000000000000000000000fee0"),
            prevrandao: B256::repeat_byte(0x22),
            extra_data: Bytes::new(),
        }
    }

    fn factory() -> NodeEvmFactory {
        evm_factory(KernelPath::Reference, aiop_precompile::Activations::from_genesis(DEV_PRECOMPILE))
            .expect("reference kernels are always available")
    }

    fn call_to(to: Address, data: Vec<u8>) -> TxEnv {
        TxEnv {
            caller: dev_accounts()[0].address,
            gas_limit: 1_000_000,
            gas_price: BASE_FEE as u128,
            kind: TxKind::Call(to),
            data: data.into(),
            chain_id: Some(DEV_CHAIN_ID),
            ..Default::default()
        }
    }

    fn options(value: serde_json::Value) -> GethDebugTracingOptions {
        serde_json::from_value(value).expect("valid tracing options")
    }

    fn trace(opts: serde_json::Value) -> GethTrace {
        let world = world();
        let hashes = RecentHashes::default();
        let overlay = Overlay::new(&world, &hashes);
        trace_call(&factory(), overlay, block().evm_env(), call_to(A, Vec::new()), &options(opts)).expect("traced")
    }

    fn struct_logs(opts: serde_json::Value) -> DefaultFrame {
        match trace(opts) {
            GethTrace::Default(frame) => frame,
            other => panic!("expected struct logs, got {other:?}"),
        }
    }

    fn call_frame(opts: serde_json::Value) -> CallFrame {
        match trace(opts) {
            GethTrace::CallTracer(frame) => frame,
            other => panic!("expected a call frame, got {other:?}"),
        }
    }

    fn word(n: u64) -> B256 {
        B256::from(U256::from(n))
    }

    #[test]
    fn struct_logger_records_opcodes_depths_and_storage() {
        let frame = struct_logs(json!({}));
        assert!(!frame.failed);
        let ops: Vec<(&str, u64)> = frame.struct_logs.iter().map(|l| (l.op.as_ref(), l.depth)).collect();
        assert_eq!(&ops[..5], &[("PUSH1", 1), ("PUSH1", 1), ("SSTORE", 1), ("PUSH1", 1), ("SLOAD", 1)]);
        assert!(ops.contains(&("BALANCE", 1)));
        assert_eq!(ops.iter().filter(|(op, depth)| *op == "CALL" && *depth == 1).count(), 3);
        // B's code runs one level down, after the first CALL.
        let first_call = ops.iter().position(|o| *o == ("CALL", 1)).expect("a call");
        assert_eq!(ops[first_call + 1..first_call + 4], [("PUSH1", 2), ("SLOAD", 2), ("PUSH1", 2)]);
        assert!(ops.contains(&("LOG0", 2)));
        let sstore = frame.struct_logs.iter().find(|l| l.op == "SSTORE").expect("an SSTORE");
        assert_eq!(sstore.storage.as_ref().and_then(|s| s.get(&word(0))), Some(&word(42)));
        assert_eq!(sstore.stack.as_deref(), Some(&[U256::from(42), U256::ZERO][..]));
        assert!(frame.struct_logs.iter().all(|l| l.memory.is_none()));
    }

    #[test]
    fn struct_logger_honours_its_options() {
        let frame = struct_logs(json!({ "disableStorage": true, "disableStack": true, "enableMemory": true }));
        assert!(frame.struct_logs.iter().all(|l| l.storage.is_none() && l.stack.is_none()));
        let after_mstore = frame.struct_logs.iter().find(|l| l.op == "LOG0").expect("a LOG0");
        let memory = after_mstore.memory.as_ref().expect("memory is recorded");
        assert_eq!(memory.first().map(|w| w.trim_start_matches("0x").to_owned()), Some(format!("{:064x}", 42)));
        assert_eq!(struct_logs(json!({ "limit": 3 })).struct_logs.len(), 3);
    }

    #[test]
    fn call_tracer_nests_the_inner_calls() {
        let root = call_frame(json!({ "tracer": "callTracer", "tracerConfig": { "withLog": true } }));
        assert_eq!(root.to, Some(A));
        assert_eq!(root.typ, "CALL");
        let targets: Vec<Option<Address>> = root.calls.iter().map(|c| c.to).collect();
        assert_eq!(targets, [Some(B), Some(IDENTITY), Some(aiop_precompile::DEFAULT_ADDRESS)]);
        let inner = &root.calls[0];
        assert_eq!(inner.from, A);
        assert_eq!(inner.logs.len(), 1);
        assert_eq!(inner.logs[0].data.as_ref().map(|d| d.as_ref()), Some(word(42).as_slice()));
        let top = call_frame(json!({ "tracer": "callTracer", "tracerConfig": { "onlyTopCall": true } }));
        assert!(top.calls.is_empty());
        let without_logs = call_frame(json!({ "tracer": "callTracer" }));
        assert!(without_logs.calls[0].logs.is_empty());
    }

    #[test]
    fn prestate_tracer_shows_the_touched_storage() {
        let GethTrace::PreStateTracer(PreStateFrame::Default(pre)) = trace(json!({ "tracer": "prestateTracer" }))
        else {
            panic!("expected a prestate frame");
        };
        assert_eq!(pre.0[&A].storage.get(&word(0)), Some(&word(5)));
        assert_eq!(pre.0[&B].storage.get(&word(1)), Some(&word(7)));
        assert_eq!(pre.0[&C].balance, Some(U256::from(3)));
        let GethTrace::PreStateTracer(PreStateFrame::Diff(diff)) =
            trace(json!({ "tracer": "prestateTracer", "tracerConfig": { "diffMode": true } }))
        else {
            panic!("expected a prestate diff");
        };
        assert_eq!(diff.pre[&B].storage.get(&word(1)), Some(&word(7)));
        assert_eq!(diff.post[&B].storage.get(&word(1)), Some(&word(8)));
        assert_eq!(diff.post[&A].storage.get(&word(0)), Some(&word(42)));
    }

    #[test]
    fn other_tracers_and_unknown_names() {
        let world = world();
        let mut data = vec![0x12, 0x34, 0x56, 0x78];
        data.extend([0u8; 32]);
        let opts = options(json!({ "tracer": "4byteTracer" }));
        let GethTrace::FourByteTracer(four) = trace_call(
            &factory(),
            Overlay::new(&world, &RecentHashes::default()),
            block().evm_env(),
            call_to(A, data),
            &opts,
        )
        .expect("traced") else {
            panic!("expected a 4byte frame");
        };
        assert_eq!(four.0.get("0x12345678-32"), Some(&1));
        assert!(matches!(trace(json!({ "tracer": "noopTracer" })), GethTrace::NoopTracer(_)));
        let GethTrace::FlatCallTracer(flat) = trace(json!({ "tracer": "flatCallTracer" })) else {
            panic!("expected flat calls");
        };
        // Calls to precompiles are left out unless asked for, as geth does.
        assert_eq!(flat.len(), 2);
        let GethTrace::FlatCallTracer(flat) =
            trace(json!({ "tracer": "flatCallTracer", "tracerConfig": { "includePrecompiles": true } }))
        else {
            panic!("expected flat calls");
        };
        assert_eq!(flat.len(), 4);
        let opts = options(json!({ "tracer": "fooTracer" }));
        let err = trace_call(
            &factory(),
            Overlay::new(&world, &RecentHashes::default()),
            block().evm_env(),
            call_to(A, vec![]),
            &opts,
        )
        .expect_err("an unknown tracer is refused");
        assert!(err.to_string().contains("unknown tracer `fooTracer`"), "{err}");
        let opts = options(json!({ "tracer": "callTracer", "tracerConfig": { "onlyTopCall": "yes" } }));
        let err = trace_call(
            &factory(),
            Overlay::new(&world, &RecentHashes::default()),
            block().evm_env(),
            call_to(A, vec![]),
            &opts,
        )
        .expect_err("a bad config is refused");
        assert!(err.to_string().contains("invalid tracerConfig for callTracer"), "{err}");
        let mut broke = call_to(A, vec![]);
        broke.caller = address!("0x00000000000000000000000000000000000000dd");
        let err = trace_call(
            &factory(),
            Overlay::new(&world, &RecentHashes::default()),
            block().evm_env(),
            broke,
            &options(json!({})),
        )
        .expect_err("a caller without funds is refused");
        assert!(matches!(err, NodeError::Rejected(TxRejection::Invalid(_))), "{err}");
    }

    fn signed(nonce: u64, to: Address, input: Vec<u8>) -> Recovered<TxEnvelope> {
        let tx = TypedTransaction::Eip1559(TxEip1559 {
            chain_id: DEV_CHAIN_ID,
            nonce,
            gas_limit: 1_000_000,
            max_fee_per_gas: 100,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(to),
            input: input.into(),
            ..Default::default()
        });
        crate::sign::sign_transaction(&dev_accounts()[0].key, tx)
            .expect("signed")
            .try_into_recovered()
            .expect("recoverable")
    }

    #[test]
    fn trace_transaction_sees_the_earlier_transactions_of_its_block() {
        let world = world();
        let hashes = RecentHashes::ending_at(4, vec![B256::ZERO; 5]);
        let first = signed(0, A, vec![]);
        let second = signed(1, B, vec![]);
        let opts = options(json!({ "tracer": "prestateTracer" }));
        let trace = trace_transaction(
            &factory(),
            Overlay::new(&world, &hashes),
            &block(),
            B256::repeat_byte(0x33),
            std::slice::from_ref(&first),
            &second,
            &opts,
        )
        .expect("traced");
        let GethTrace::PreStateTracer(PreStateFrame::Default(pre)) = trace else {
            panic!("expected a prestate frame");
        };
        // The first transaction incremented B's slot 1 from 7 and used the sender's nonce 0.
        assert_eq!(pre.0[&B].storage.get(&word(1)), Some(&word(8)));
        assert_eq!(pre.0[&dev_accounts()[0].address].nonce, Some(1));
        // The world itself is untouched.
        assert_eq!(world.storage(&B, &U256::from(1)), U256::from(7));

        // Replaying out of order is an error, not a panic.
        let err =
            trace_transaction(&factory(), Overlay::new(&world, &hashes), &block(), B256::ZERO, &[], &second, &opts)
                .expect_err("nonce 1 cannot come first");
        assert!(matches!(err, NodeError::Rejected(TxRejection::Invalid(_))), "{err}");
    }

    #[test]
    fn trace_transaction_applies_the_pre_execution_system_calls() {
        let world = world();
        let parent = block().number - 1;
        let read_parent_hash = signed(0, HISTORY_STORAGE_ADDRESS, word(parent).to_vec());
        let opts = options(json!({ "tracer": "callTracer" }));
        let trace = trace_transaction(
            &factory(),
            Overlay::new(&world, &RecentHashes::default()),
            &block(),
            B256::ZERO,
            &[],
            &read_parent_hash,
            &opts,
        )
        .expect("traced");
        let GethTrace::CallTracer(root) = trace else { panic!("expected a call frame") };
        assert_eq!(root.error, None);
        assert_eq!(
            root.output.as_ref().map(|d| d.as_ref()),
            Some(block().parent_hash.as_slice()),
            "EIP-2935 stored the parent hash"
        );
    }

    fn access_list(tx: TxEnv) -> AccessListResult {
        let world = world();
        create_access_list(&factory(), Overlay::new(&world, &RecentHashes::default()), block().evm_env(), tx)
            .expect("an access list")
    }

    #[test]
    fn access_list_lists_touched_slots_and_accounts_but_not_precompiles() {
        let result = access_list(call_to(A, vec![]));
        assert_eq!(result.error, None);
        let expected = AccessList(vec![
            AccessListItem { address: A, storage_keys: vec![word(0)] },
            AccessListItem { address: B, storage_keys: vec![word(1)] },
            AccessListItem { address: C, storage_keys: vec![] },
        ]);
        assert_eq!(result.access_list, expected);
        // Rerunning with the list gives the same list and the same gas.
        let mut with_list = call_to(A, vec![]);
        with_list.access_list = expected.clone();
        let again = access_list(with_list.clone());
        assert_eq!(again, result);
        // The gas reported is that of a run with the list included.
        let world = world();
        let hashes = RecentHashes::default();
        let mut evm = factory().create_evm(WrapDatabaseRef(Overlay::new(&world, &hashes)), block().evm_env());
        let run = alloy_evm::Evm::transact(&mut evm, with_list).expect("runs");
        assert_eq!(result.gas_used, U256::from(run.result.tx_gas_used()));
    }

    #[test]
    fn access_list_reports_a_failure() {
        let mut tx = call_to(A, vec![]);
        tx.gas_limit = 30_000;
        let result = access_list(tx);
        assert_eq!(result.error.as_deref(), Some("out of gas"));
    }

    fn verify_account(root: B256, proof: &EIP1186AccountProofResponse, world: &WorldState) {
        let expected = world.account(&proof.address).map(|a| {
            alloy_rlp::encode(TrieAccount {
                nonce: a.nonce,
                balance: a.balance,
                storage_root: proof.storage_hash,
                code_hash: a.code_hash,
            })
        });
        let key = Nibbles::unpack(keccak256(proof.address));
        alloy_trie::proof::verify_proof(root, key, expected, &proof.account_proof)
            .unwrap_or_else(|e| panic!("account {}: {e}", proof.address));
        for slot in &proof.storage_proof {
            let key = slot.key.as_b256();
            let value = world.storage(&proof.address, &U256::from_be_bytes(key.0));
            assert_eq!(slot.value, value);
            let expected = (!value.is_zero()).then(|| alloy_rlp::encode_fixed_size(&value).to_vec());
            alloy_trie::proof::verify_proof(proof.storage_hash, Nibbles::unpack(keccak256(key)), expected, &slot.proof)
                .unwrap_or_else(|e| panic!("account {} slot {key}: {e}", proof.address));
        }
    }

    #[test]
    fn account_proofs_verify_against_the_state_root() {
        let mut world = world();
        let big = address!("0x0000000000000000000000000000000000000b16");
        let storage: Vec<(u64, u64)> = (0..700u64).map(|i| (i * 3 + 1, i * i + 1)).collect();
        put_code(&mut world, big, vec![0x00], &storage);
        let root = world.clone().state_root();
        let absent = address!("0x00000000000000000000000000000000deadbeef");
        let slots = [word(1), word(4), word(0), word(2), word(2098), word(5000), B256::repeat_byte(0xff)];
        for address in [A, B, C, big, dev_accounts()[0].address, HISTORY_STORAGE_ADDRESS, absent] {
            let proof = account_proof(&world, address, &slots);
            assert_eq!(proof.address, address);
            assert!(!proof.account_proof.is_empty());
            assert_eq!(proof.storage_proof.len(), slots.len());
            match world.account(&address) {
                Some(account) => {
                    assert_eq!(
                        (proof.nonce, proof.balance, proof.code_hash),
                        (account.nonce, account.balance, account.code_hash)
                    );
                    let own_root = alloy_trie::root::storage_root_unhashed(
                        account.storage.iter().map(|(k, v)| (B256::from(*k), *v)),
                    );
                    assert_eq!(proof.storage_hash, own_root);
                }
                None => {
                    assert!(proof.is_empty(), "an absent account reads as empty");
                    assert!(proof.storage_proof.iter().all(|s| s.proof.is_empty() && s.value.is_zero()));
                }
            }
            verify_account(root, &proof, &world);
        }
        let big_proof = account_proof(&world, big, &slots);
        assert_eq!(big_proof.storage_proof[1].value, U256::from(2), "slot 4 is present");
        assert!(big_proof.storage_proof.iter().all(|s| !s.proof.is_empty()));
        // A wrong value does not verify.
        let key = Nibbles::unpack(keccak256(word(4)));
        let wrong = Some(alloy_rlp::encode_fixed_size(&U256::from(3)).to_vec());
        assert!(
            alloy_trie::proof::verify_proof(big_proof.storage_hash, key, wrong, &big_proof.storage_proof[1].proof)
                .is_err()
        );
    }
}
