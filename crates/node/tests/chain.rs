//! The chain in process: blocks through the node, persistence, replay verification, and
//! verification naming the first tampered block.

use aiop_kernels::KernelPath;
use aiop_node::{
    NodeError,
    chain::{DEV_CHAIN_ID, dev_accounts, model_address},
    node::{Node, NodeConfig, sign},
    storage::Store,
    verify::verify,
};
use alloy_consensus::TxEip1559;
use alloy_primitives::{Bytes, TxKind, U256};

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("aiop-node-test-").tempdir().expect("tempdir")
}

fn open(dir: &std::path::Path) -> Node {
    Node::open(NodeConfig {
        datadir: dir.to_path_buf(),
        genesis: None,
        dev: true,
        block_time: None,
        kernels: KernelPath::Reference,
    })
    .expect("node opens")
}

fn tx(node: &Node, to: TxKind, input: Vec<u8>, value: u64) -> alloy_consensus::TxEnvelope {
    let account = &dev_accounts()[0];
    let t = TxEip1559 {
        chain_id: DEV_CHAIN_ID,
        nonce: node.pending_nonce(account.address).expect("nonce"),
        gas_limit: 1_000_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value: U256::from(value),
        access_list: Default::default(),
        input: Bytes::from(input),
    };
    sign(t, &account.key).expect("signs")
}

/// Runtime: SSTORE(slot 0, CALLVALUE+1); SSTORE(slot 1, NUMBER); LOG0(0, 0).
fn storage_contract() -> Vec<u8> {
    let runtime = [0x34, 0x60, 0x01, 0x01, 0x5f, 0x55, 0x43, 0x60, 0x01, 0x55, 0x5f, 0x5f, 0xa0, 0x00];
    let mut init = vec![0x60, runtime.len() as u8, 0x60, 0x0a, 0x5f, 0x39, 0x60, runtime.len() as u8, 0x5f, 0xf3];
    init.extend_from_slice(&runtime);
    init
}

#[test]
fn blocks_persist_and_verify_and_tampering_is_named() {
    let dir = tempdir();
    let bob = dev_accounts()[1].address;
    let contract;
    {
        let node = open(dir.path());
        node.submit(tx(&node, TxKind::Call(bob), vec![], 1000)).expect("transfer");
        let hash = node.submit(tx(&node, TxKind::Create, storage_contract(), 0)).expect("deploy");
        let n = node.read().unwrap().transaction(&hash).unwrap().expect("mined").0.header.number;
        assert_eq!(n, 2);
        contract = dev_accounts()[0].address.create(1);
        for v in 0..3 {
            node.submit(tx(&node, TxKind::Call(contract), vec![], v)).expect("call");
        }
        // A call to a pre-deployed model account (plain code, no precompile involved).
        node.submit(tx(&node, TxKind::Call(model_address(1)), vec![1, 2, 3], 0)).expect("call model account");
        let chain = node.read().unwrap();
        assert_eq!(chain.head().header.number, 6);
        let acct = chain.world().account(&contract).expect("deployed");
        assert_eq!(acct.storage[&U256::ZERO], U256::from(3));
        assert_eq!(acct.storage[&U256::from(1)], U256::from(5));
        assert_eq!(chain.block(3).unwrap().unwrap().receipts[0].logs().len(), 1);
    }
    // Reopen: same head, same state.
    {
        let node = open(dir.path());
        let chain = node.read().unwrap();
        assert_eq!(chain.head().header.number, 6);
        assert_eq!(chain.world().storage(&contract, &U256::ZERO), U256::from(3));
    }
    let report = verify(dir.path(), KernelPath::Reference, false).expect("verifies");
    assert_eq!(report.blocks, 6);
    assert_eq!(report.txs, 6);

    // Tamper with block 4's gas used: verify names block 4.
    let store = Store::open(dir.path()).expect("store");
    let mut header = store.block(4).expect("block 4").header;
    header.gas_used += 1;
    store.replace_header_for_tests(&header).expect("tamper");
    drop(store);
    match verify(dir.path(), KernelPath::Reference, false) {
        Err(aiop_node::NodeError::Mismatch { number, what }) => {
            assert_eq!(number, 4, "{what}");
            assert!(what.contains("gas used"), "{what}");
        }
        other => panic!("expected a mismatch at block 4, got {other:?}"),
    }
}

#[test]
fn inference_blocks_built_with_fastest_kernels_verify_under_reference() {
    use alloy_sol_types::SolCall;
    let dir = tempdir();
    {
        let node = Node::open(NodeConfig {
            datadir: dir.path().to_path_buf(),
            genesis: None,
            dev: true,
            block_time: None,
            kernels: KernelPath::fastest(),
        })
        .expect("node opens");
        for (i, model) in [0usize, 1, 2, 3, 7].into_iter().enumerate() {
            let info = node.read().unwrap().world().code(&model_address(model));
            let bytes = aiop_node::chain::model_from_code(&info).expect("a model");
            let len = aiop_engine::check(bytes).expect("valid").input_len as usize;
            let input: Vec<u8> = (0..len).map(|j| (j * 31 + i * 7) as u8).collect();
            let call = aiop_precompile::abi::inferCall { model: model_address(model), input: input.into() };
            let hash = node
                .submit(tx(&node, TxKind::Call(aiop_precompile::DEFAULT_ADDRESS), call.abi_encode(), 0))
                .expect("inference tx");
            let chain = node.read().unwrap();
            let (block, idx) = chain.transaction(&hash).unwrap().expect("mined");
            assert!(block.receipts[idx].status(), "inference on model {model} failed");
        }
    }
    let report = verify(dir.path(), KernelPath::Reference, false).expect("verifies under the reference kernels");
    assert_eq!(report.txs, 5);
}

#[test]
fn a_block_the_database_does_not_commit_is_never_served_and_the_node_goes_on() {
    let dir = tempdir();
    let bob = dev_accounts()[1].address;
    let node = open(dir.path());
    node.submit(tx(&node, TxKind::Call(bob), vec![], 1000)).expect("transfer");
    let (head, root, balance) = {
        let chain = node.read().unwrap();
        (chain.head().hash, chain.head().header.state_root, chain.world().account(&bob).unwrap().balance)
    };

    node.store_for_tests().fail_commits_for_tests(true);
    let refused = tx(&node, TxKind::Call(bob), vec![], 7);
    let err = node.submit(refused.clone()).expect_err("a failed commit is an error");
    assert!(matches!(err, NodeError::Commit { number: 2, head: 1, .. }), "{err}");
    {
        let chain = node.read().unwrap();
        assert_eq!(chain.head().hash, head, "the uncommitted block is not the head");
        assert_eq!(chain.head().header.state_root, root);
        assert_eq!(chain.world().account(&bob).unwrap().balance, balance, "no state from the uncommitted block");
        assert!(chain.transaction(refused.tx_hash()).unwrap().is_none());
    }

    // The transaction the failed block held is still pending, not lost: once the disk
    // recovers the next block takes it, and a restart shows what memory showed.
    assert!(node.pending().unwrap().iter().any(|t| t.tx_hash() == refused.tx_hash()));
    node.store_for_tests().fail_commits_for_tests(false);
    node.mine_pending().expect("committed this time");
    assert!(node.read().unwrap().transaction(refused.tx_hash()).unwrap().is_some());
    let head = node.read().unwrap().head().clone();
    assert_eq!(head.header.number, 2);
    drop(node);
    let reopened = open(dir.path());
    let chain = reopened.read().unwrap();
    assert_eq!(chain.head().hash, head.hash);
    assert_eq!(chain.world().account(&bob).unwrap().balance, balance + U256::from(7));
    drop(chain);
    drop(reopened);
    assert_eq!(verify(dir.path(), KernelPath::Reference, false).expect("verifies").blocks, 2);
}

#[test]
fn rejected_transactions_leave_no_block() {
    let dir = tempdir();
    let node = open(dir.path());
    let bob = dev_accounts()[1].address;
    let good = tx(&node, TxKind::Call(bob), vec![], 1);
    node.submit(good.clone()).expect("first");
    let err = node.submit(good).expect_err("replay is refused");
    assert!(err.to_string().contains("already known") || err.to_string().contains("nonce too low"), "{err}");
    // Intrinsic gas too low is caught by the executor; no block is sealed for it.
    let account = &dev_accounts()[0];
    let t = TxEip1559 {
        chain_id: DEV_CHAIN_ID,
        nonce: node.pending_nonce(account.address).expect("nonce"),
        gas_limit: 20_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(bob),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let err = node.submit(sign(t, &account.key).unwrap()).expect_err("intrinsic gas");
    assert!(!err.to_string().is_empty());
    assert_eq!(node.read().unwrap().head().header.number, 1);
}

fn open_with(dir: &std::path::Path, genesis: alloy_genesis::Genesis, kernels: KernelPath) -> Node {
    Node::open(NodeConfig { datadir: dir.to_path_buf(), genesis: Some(genesis), dev: true, block_time: None, kernels })
        .expect("node opens")
}

/// Submits `data` to the precompile in its own block: (block number, success, gas used).
fn call_precompile(node: &Node, data: Vec<u8>) -> (u64, bool, u64) {
    let hash = node.submit(tx(node, TxKind::Call(aiop_precompile::DEFAULT_ADDRESS), data, 0)).expect("tx");
    let chain = node.read().unwrap();
    let (block, idx) = chain.transaction(&hash).unwrap().expect("mined");
    (block.header.number, block.receipts[idx].status(), block.header.gas_used)
}

#[test]
fn the_chain_runs_the_precompile_its_genesis_names_and_verify_replays_with_it() {
    use aiop_node::chain::{activations, dev_genesis, set_activations};
    use aiop_precompile::{Activations, GasSchedule, PrecompileSpec};
    use alloy_sol_types::SolCall;

    let model = model_address(0);
    let gas_used = |spec: PrecompileSpec| {
        let dir = tempdir();
        let mut genesis = dev_genesis();
        set_activations(&mut genesis, &Activations::from_genesis(spec));
        let node = open_with(dir.path(), genesis, KernelPath::fastest());
        let call = aiop_precompile::abi::inferCall { model, input: vec![7u8; 64].into() };
        let (_, ok, used) = call_precompile(&node, call.abi_encode());
        assert!(ok);
        drop(node);
        verify(dir.path(), KernelPath::Reference, false).expect("replays with the stored genesis's precompile");
        used
    };
    let code = dev_genesis().alloc[&model].code.clone().expect("model code");
    let bytes = aiop_node::chain::model_from_code(&code).expect("a model");
    let header = aiop_engine::check(bytes).expect("valid");
    let price = |s: GasSchedule| s.infer_gas(&header, bytes.len() as u64, 64, 2600);
    let (v1, v2) = (gas_used(PrecompileSpec::V1), gas_used(PrecompileSpec::V2));
    assert_eq!(v1 as i128 - v2 as i128, price(GasSchedule::V1) as i128 - price(GasSchedule::V2) as i128);
    assert_eq!(
        activations(&dev_genesis()).expect("named").list(),
        Activations::from_genesis(aiop_node::chain::DEV_PRECOMPILE).list(),
        "the dev genesis names its precompile explicitly"
    );

    // The form chains wrote before activations existed still names one spec from genesis on.
    let mut old = dev_genesis();
    old.config.extra_fields.insert("aiop".into(), serde_json::json!({ "gasSchedule": "v1" }));
    assert_eq!(activations(&old).expect("known").spec_at(5), PrecompileSpec::V1);

    // Unknown names, no name at all, and malformed lists are refused with what would be right.
    let mut unknown = dev_genesis();
    unknown
        .config
        .extra_fields
        .insert("aiop".into(), serde_json::json!({ "activations": [{"block": 0, "precompile": "v9"}] }));
    let error = activations(&unknown).expect_err("v9 is unknown").to_string();
    assert!(error.contains("`v9`") && error.contains("v1, v2, v3"), "{error}");
    let mut silent = dev_genesis();
    silent.config.extra_fields.remove("aiop");
    let error = activations(&silent).expect_err("a chain must name its precompile").to_string();
    assert!(error.contains("activations"), "{error}");
    let mut late = dev_genesis();
    late.config
        .extra_fields
        .insert("aiop".into(), serde_json::json!({ "activations": [{"block": 4, "precompile": "v3"}] }));
    assert!(activations(&late).expect_err("must start at genesis").to_string().contains("block 0"));

    // An existing datadir keeps its activations: opening it with a genesis naming others is refused.
    let dir = tempdir();
    drop(open(dir.path()));
    let mut other = dev_genesis();
    set_activations(&mut other, &Activations::from_genesis(PrecompileSpec::V1));
    let refused = Node::open(NodeConfig {
        datadir: dir.path().to_path_buf(),
        genesis: Some(other),
        dev: true,
        block_time: None,
        kernels: KernelPath::Reference,
    });
    let Err(error) = refused else { panic!("a genesis naming other activations was accepted") };
    let error = error.to_string();
    assert!(error.contains("precompile v1 from block 0"), "{error}");
}

#[test]
fn a_chain_upgraded_at_an_activation_block_runs_each_block_by_its_spec_and_replays_under_reference() {
    use aiop_node::chain::{dev_genesis, set_activations};
    use aiop_precompile::{Activation, Activations, PrecompileSpec};
    use alloy_sol_types::SolCall;

    const UPGRADE: u64 = 4;
    let dir = tempdir();
    let mut genesis = dev_genesis();
    let history = Activations::new(vec![
        Activation { block: 0, spec: PrecompileSpec::V2 },
        Activation { block: UPGRADE, spec: PrecompileSpec::V3 },
    ])
    .expect("a valid history");
    set_activations(&mut genesis, &history);
    let node = open_with(dir.path(), genesis, KernelPath::fastest());
    let v2_model =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models/digits_cnn_random_v2.aiop"))
            .expect("a format v2 model");
    let len = aiop_engine::check(&v2_model).expect("valid").input_len as usize;
    let inline = aiop_precompile::abi::inferInlineCall { model: v2_model.clone().into(), input: vec![3u8; len].into() };
    let infer = aiop_precompile::abi::inferCall { model: model_address(0), input: vec![7u8; 64].into() };
    let mut seen = Vec::new();
    while node.read().unwrap().head().header.number < UPGRADE + 1 {
        let (n, inline_ok, _) = call_precompile(&node, inline.abi_encode());
        let (m, infer_ok, infer_gas) = call_precompile(&node, infer.abi_encode());
        seen.push((n, inline_ok, m, infer_ok, infer_gas));
    }
    for &(n, inline_ok, m, infer_ok, _) in &seen {
        assert_eq!(inline_ok, n >= UPGRADE, "format v2 is accepted from the activation block on (block {n})");
        assert!(infer_ok, "a format v1 model runs under both specs (block {m})");
    }
    let before = seen.iter().find(|s| s.2 < UPGRADE).expect("a block before").4;
    let after = seen.iter().find(|s| s.2 >= UPGRADE).expect("a block after").4;
    assert_ne!(before, after, "the upgrade reprices infer");
    drop(node);
    let report = verify(dir.path(), KernelPath::Reference, false).expect("the upgraded chain replays under reference");
    assert_eq!(report.txs, 2 * seen.len() as u64);
}
