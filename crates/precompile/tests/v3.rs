//! Precompile v3 through the EVM: models stored across accounts (manifests), coded reverts,
//! `inferBatch` / `costBatch`, format v2, and what the cache may and may not change.

mod common;

use aiop_engine::{KernelPath, LoadedModel};
use aiop_precompile::{
    AiopConfig, AiopEvmFactory, CacheConfig, Manifest, PrecompileSpec, abi, chunk_code,
    revert::{self, INVALID_MODEL, MALFORMED_HEADER},
    storage::{MAX_CHUNK_PAYLOAD, chunk_payloads},
};
use alloy_primitives::{Address, B256, Bytes, U256, address, keccak256};
use alloy_sol_types::SolCall;
use common::*;

const V3: PrecompileSpec = PrecompileSpec::V3;

fn v3_factory(cache: CacheConfig) -> AiopEvmFactory {
    AiopEvmFactory::new(AiopConfig { cache, ..AiopConfig::from_genesis(V3) }).expect("fastest kernels")
}

fn model_file(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("testdata/models").join(format!("{name}.aiop"))).expect("testdata model")
}

/// Places `model` in state as chunk accounts and a manifest; returns (manifest, chunks).
fn place_chunked<F>(chain: &mut Chain<F>, tag: u8, model: &[u8]) -> (Address, Vec<Address>)
where
    F: alloy_evm::EvmFactory<
            Tx = revm::context::TxEnv,
            Spec = revm::primitives::hardfork::SpecId,
            BlockEnv = revm::context::BlockEnv,
            HaltReason = revm::context_interface::result::HaltReason,
        >,
{
    let mut chunks = Vec::new();
    for (i, payload) in chunk_payloads(model).enumerate() {
        let address = Address::from_slice(&[&[0x71, tag][..], &[0u8; 16], &[0, i as u8 + 1]].concat());
        chain.set_code(address, chunk_code(payload));
        chunks.push(address);
    }
    let manifest = Manifest { id: keccak256(model), model_len: model.len() as u32, chunks: chunks.clone() };
    let address = Address::from_slice(&[&[0x72, tag][..], &[0u8; 18]].concat());
    chain.set_code(address, manifest.code());
    (address, chunks)
}

fn reference_output(model: &[u8], input: &[u8]) -> Vec<u8> {
    LoadedModel::load(model, KernelPath::Reference).expect("loads").run(input).expect("runs")
}

fn input_for(model: &[u8], seed: u8) -> Vec<u8> {
    let len = aiop_engine::check(model).expect("valid").input_len as usize;
    (0..len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed)).collect()
}

fn infer(model: Address, input: &[u8]) -> Bytes {
    abi::inferCall { model, input: input.to_vec().into() }.abi_encode().into()
}

fn cost(model: Address, len: usize) -> Bytes {
    abi::costCall { model, inputLength: U256::from(len) }.abi_encode().into()
}

fn quoted(m: &Measured) -> u64 {
    assert!(m.ok, "cost reverted: {:?}", revert::describe(&m.ret));
    abi::costCall::abi_decode_returns(&m.ret).expect("uint256").to::<u64>()
}

/// The code and details of coded revert data, checking it is exactly one table entry.
fn coded(m: &Measured) -> (u16, U256, U256) {
    assert!(!m.ok, "expected a revert");
    assert_eq!(m.ret.len(), 100, "coded revert data is a selector and three words: 0x{}", hex::encode(&m.ret));
    revert::decode(&m.ret).unwrap_or_else(|| panic!("not an AiopError of the table: 0x{}", hex::encode(&m.ret)))
}

fn word(address: Address) -> U256 {
    U256::from_be_slice(address.as_slice())
}

#[test]
fn mlperf_tiny_models_stored_across_accounts_run_and_cost_what_infer_charges() {
    let mut probe = Probe::new(v3_factory(CacheConfig::default()));
    for (tag, name) in ["mlperf_kws", "mlperf_ad", "mlperf_resnet8"].into_iter().enumerate() {
        let model = model_file(name);
        assert!(model.len() > MAX_CHUNK_PAYLOAD, "{name} needs more than one account");
        let (manifest, chunks) = place_chunked(&mut probe.chain, tag as u8, &model);
        let input = input_for(&model, tag as u8);
        let expected = reference_output(&model, &input);
        let price = quoted(&probe.measure(cost(manifest, input.len()), CALL_GAS));
        // The off-chain quote (`aiop model inspect`) is the same number.
        let loaded = LoadedModel::load(&model, KernelPath::Reference).expect("loads");
        let read = aiop_precompile::storage::Layout::of(model.len() as u64).read_gas(2600);
        assert_eq!(price, V3.schedule.infer_gas_loaded(&loaded, input.len() as u64, read), "{name}");
        for round in 0..2 {
            // Cold (a fresh transaction), first with an empty cache and then from the cache.
            let m = probe.measure(infer(manifest, &input), CALL_GAS);
            assert!(m.ok, "{name}: {:?}", revert::describe(&m.ret));
            assert_eq!(abi::inferCall::abi_decode_returns(&m.ret).unwrap().as_ref(), &expected[..], "{name}");
            assert_eq!(m.gas, price, "{name}, round {round}: cost() is what infer charges cold");
        }
        // Every account already warm: 2500 less for each one read.
        let mut warm = chunks.clone();
        warm.push(manifest);
        let m = probe.measure_warm(infer(manifest, &input), CALL_GAS, &warm);
        assert_eq!(m.gas, price - 2500 * warm.len() as u64, "{name} warm");
        // One gas short halts; exactly the price is enough.
        let short = probe.measure(infer(manifest, &input), price - 1);
        assert!(!short.ok && short.ret.is_empty(), "{name}: a short call halts");
        assert!(probe.measure(infer(manifest, &input), price).ok, "{name}: the price is enough");
        // modelInfo gives the manifest's id, which is the model's.
        let info = probe.measure(abi::modelInfoCall { model: manifest }.abi_encode(), CALL_GAS);
        let info = abi::modelInfoCall::abi_decode_returns(&info.ret).expect("ModelInfo");
        assert_eq!(info.id, keccak256(&model), "{name}");
        assert_eq!(info.modelLength, U256::from(model.len()), "{name}");
    }
}

#[test]
fn single_account_models_keep_working_under_v3_with_their_outputs() {
    let mut probe = Probe::new(v3_factory(CacheConfig::default()));
    for (i, name) in ["digits_mlp", "digits_cnn", "op_zoo", "op_zoo_v2", "v2_ops"].into_iter().enumerate() {
        let model = model_file(name);
        let address = model_address(i);
        probe.chain.set_model(address, &model);
        let input = input_for(&model, 3);
        let m = probe.measure(infer(address, &input), CALL_GAS);
        assert!(m.ok, "{name}: {:?}", revert::describe(&m.ret));
        assert_eq!(abi::inferCall::abi_decode_returns(&m.ret).unwrap().as_ref(), &reference_output(&model, &input)[..]);
        assert_eq!(m.gas, quoted(&probe.measure(cost(address, input.len()), CALL_GAS)), "{name}");
        let inline = abi::inferInlineCall { model: model.clone().into(), input: input.clone().into() }.abi_encode();
        let m = probe.measure(inline, CALL_GAS);
        assert!(m.ok, "{name} inline: {:?}", revert::describe(&m.ret));
    }
}

#[test]
fn broken_manifests_revert_with_their_code_and_nothing_is_cached_that_changes_a_later_call() {
    let mut probe = Probe::new(v3_factory(CacheConfig::default()));
    let model = model_file("mlperf_kws");
    let input = input_for(&model, 1);
    let (good, chunks) = place_chunked(&mut probe.chain, 9, &model);
    assert!(probe.measure(infer(good, &input), CALL_GAS).ok);
    let manifest = Manifest { id: keccak256(&model), model_len: model.len() as u32, chunks: chunks.clone() };
    let place = |probe: &mut Probe<AiopEvmFactory>, at: Address, code: Vec<u8>| probe.chain.set_code(at, code);
    let at = address!("0x7300000000000000000000000000000000000001");

    // A chunk that has no code.
    let missing = address!("0x7400000000000000000000000000000000000001");
    place(&mut probe, at, Manifest { chunks: vec![chunks[0], missing], ..manifest.clone() }.code());
    assert_eq!(coded(&probe.measure(infer(at, &input), CALL_GAS)), (24, word(missing), U256::from(1)));
    // Deploying it later makes the same manifest work: the failure was not cached.
    probe.chain.set_code(missing, chunk_code(&model[MAX_CHUNK_PAYLOAD..]));
    assert!(probe.measure(infer(at, &input), CALL_GAS).ok, "the chunk is there now");

    // A chunk whose code is not a chunk (a model account).
    let not_chunk = address!("0x7400000000000000000000000000000000000002");
    probe.chain.set_model(not_chunk, &model[MAX_CHUNK_PAYLOAD..]);
    place(&mut probe, at, Manifest { chunks: vec![chunks[0], not_chunk], ..manifest.clone() }.code());
    assert_eq!(coded(&probe.measure(infer(at, &input), CALL_GAS)), (25, word(not_chunk), U256::from(1)));

    // Chunks in the wrong order: the bytes do not hash to the id.
    place(&mut probe, at, Manifest { chunks: vec![chunks[1], chunks[0]], ..manifest.clone() }.code());
    let reordered = [&model[MAX_CHUNK_PAYLOAD..], &model[..MAX_CHUNK_PAYLOAD]].concat();
    let m = probe.measure(infer(at, &input), CALL_GAS);
    assert_eq!(coded(&m), (27, U256::from_be_bytes(keccak256(&model).0), U256::from_be_bytes(keccak256(&reordered).0)));
    // A wrong declared length, and a wrong id.
    place(&mut probe, at, Manifest { model_len: model.len() as u32 - 1, ..manifest.clone() }.code());
    assert_eq!(
        coded(&probe.measure(infer(at, &input), CALL_GAS)),
        (26, U256::from(model.len() - 1), U256::from(model.len()))
    );
    place(&mut probe, at, Manifest { id: B256::repeat_byte(1), ..manifest.clone() }.code());
    assert_eq!(coded(&probe.measure(infer(at, &input), CALL_GAS)).0, 27);
    // Malformed manifests: version, length, chunk count.
    let mut code = manifest.code();
    code[5] = 9;
    place(&mut probe, at, code);
    assert_eq!(coded(&probe.measure(infer(at, &input), CALL_GAS)), (20, word(at), U256::from(9)));
    let mut code = manifest.code();
    code.push(0);
    let len = code.len();
    place(&mut probe, at, code);
    assert_eq!(coded(&probe.measure(infer(at, &input), CALL_GAS)), (21, word(at), U256::from(len)));
    let mut code = manifest.code();
    code[42..44].copy_from_slice(&0u16.to_be_bytes());
    place(&mut probe, at, code);
    assert_eq!(coded(&probe.measure(infer(at, &input), CALL_GAS)), (22, word(at), U256::ZERO));
    // The good manifest still gives the same output and gas after all of that.
    let again = probe.measure(infer(good, &input), CALL_GAS);
    assert!(again.ok);
    assert_eq!(abi::inferCall::abi_decode_returns(&again.ret).unwrap().as_ref(), &reference_output(&model, &input)[..]);
}

#[test]
fn every_refusal_is_an_entry_of_the_code_table_and_reads_back_as_text() {
    let mut probe = Probe::new(v3_factory(CacheConfig::default()));
    let mlp = model_file("digits_mlp");
    let mlp_at = model_address(0);
    probe.chain.set_model(mlp_at, &mlp);
    let input = input_for(&mlp, 0);
    let eoa = address!("0x2000000000000000000000000000000000000002");
    let bad_header = address!("0x3000000000000000000000000000000000000003");
    probe.chain.set_code(bad_header, b"\xfeAIOP\x01".to_vec());
    let future = address!("0x3000000000000000000000000000000000000005");
    let mut v9 = mlp.clone();
    v9[4] = 9;
    probe.chain.set_model(future, &v9);
    let corrupt_at = address!("0x3000000000000000000000000000000000000004");
    let mut corrupt = mlp.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xFF;
    corrupt.push(0);
    probe.chain.set_model(corrupt_at, &corrupt);
    let mut dirty = infer(mlp_at, &input).to_vec();
    dirty[4] = 1;
    let batch = |inputs: Vec<Vec<u8>>| -> Bytes {
        abi::inferBatchCall { model: mlp_at, inputs: inputs.into_iter().map(Bytes::from).collect() }.abi_encode().into()
    };
    let selector = |data: &[u8]| U256::from(u32::from_be_bytes(data[..4].try_into().unwrap()));
    let cases: Vec<(&str, Bytes, u16)> = vec![
        ("short calldata", vec![1u8].into(), 1),
        ("unknown selector", vec![0xde, 0xad, 0xbe, 0xef].into(), 2),
        ("dirty address", dirty.clone().into(), 3),
        ("no code", infer(eoa, &input), 16),
        ("not a model", infer(probe.probe, &input), 17),
        (
            "inline not a model",
            abi::inferInlineCall { model: vec![1, 2, 3].into(), input: input.clone().into() }.abi_encode().into(),
            18,
        ),
        ("a format the engine does not know", infer(future, &input), MALFORMED_HEADER + 4),
        ("malformed header", infer(bad_header, &input), MALFORMED_HEADER + 2),
        ("wrong input length", infer(mlp_at, &input[1..]), 48),
        ("wrong cost length", cost(mlp_at, 63), 48),
        ("empty batch", batch(vec![]), 49),
        ("batch too large", batch(vec![input.clone(); 257]), 50),
        ("batch input length", batch(vec![input.clone(), input[1..].to_vec()]), 48),
        ("invalid model", infer(corrupt_at, &input), INVALID_MODEL + 6),
    ];
    for (what, data, code) in cases {
        let m = probe.measure(data.clone(), CALL_GAS);
        let (got, d0, _) = coded(&m);
        assert_eq!(got, code, "{what}: {:?}", revert::describe(&m.ret));
        let text = revert::describe(&m.ret).expect("every code has a text");
        assert!(text.starts_with(&format!("AiopError {code} ")), "{what}: {text}");
        if code == 2 || code == 3 {
            assert_eq!(d0, selector(&data), "{what}");
        }
    }
    // Value sent with a CALL.
    let data = callWithValueCall { target: AIOP, data: infer(mlp_at, &input) }.abi_encode();
    let out = success_output(&probe.chain.call_with_value(probe.probe, data, U256::from(5)));
    let r = callWithValueCall::abi_decode_returns(&out).unwrap();
    assert_eq!(revert::decode(&r.ret), Some((4, U256::from(5), U256::ZERO)));
}

#[test]
fn infer_batch_gives_each_output_and_pays_the_load_once() {
    let mut probe = Probe::new(v3_factory(CacheConfig::DISABLED));
    let model = model_file("mlperf_kws");
    let (manifest, _) = place_chunked(&mut probe.chain, 3, &model);
    let inputs: Vec<Vec<u8>> = (0..3).map(|s| input_for(&model, s)).collect();
    let call = abi::inferBatchCall { model: manifest, inputs: inputs.iter().cloned().map(Bytes::from).collect() };
    let m = probe.measure(call.abi_encode(), CALL_GAS);
    assert!(m.ok, "{:?}", revert::describe(&m.ret));
    let outputs = abi::inferBatchCall::abi_decode_returns(&m.ret).expect("bytes[]");
    for (input, output) in inputs.iter().zip(&outputs) {
        assert_eq!(output.as_ref(), &reference_output(&model, input)[..]);
    }
    let count = |n: usize| abi::costBatchCall {
        model: manifest,
        inputLength: U256::from(inputs[0].len()),
        count: U256::from(n),
    };
    let batch_price = quoted(&probe.measure(count(3).abi_encode(), CALL_GAS));
    assert_eq!(m.gas, batch_price, "costBatch is what inferBatch charges");
    let one = quoted(&probe.measure(cost(manifest, inputs[0].len()), CALL_GAS));
    assert_eq!(quoted(&probe.measure(count(1).abi_encode(), CALL_GAS)), one, "a batch of one costs an infer");
    assert!(batch_price < 3 * one, "the batch saves the load and the reads: {batch_price} vs {}", 3 * one);
    let m = probe.measure(count(0).abi_encode(), CALL_GAS);
    assert_eq!(coded(&m).0, 49);
}

#[test]
fn models_deployed_and_used_in_one_transaction_and_chunks_that_cannot_be_destroyed() {
    let mut chain = Chain::new(v3_factory(CacheConfig::default()));
    let probe = chain.deploy_artifact("AiopProbe", &[]);
    let model = model_file("mlperf_kws");
    let input = input_for(&model, 5);
    let expected = reference_output(&model, &input);
    // AiopLib.deployAny: chunks and manifest created and used in the same transaction.
    let call = deployAndInferCall { model: model.clone().into(), input: input.clone().into() };
    let out = success_output(&chain.call(probe, call.abi_encode()));
    let r = deployAndInferCall::abi_decode_returns(&out).unwrap();
    assert_eq!(r.output.as_ref(), &expected[..]);
    let manifest = r.handle;
    // A chunk's code starts with INVALID: calling it fails, it cannot SELFDESTRUCT, and the
    // model stays the same in later transactions (EIP-6780: only a contract created in the same
    // transaction can be deleted, and only by running SELFDESTRUCT).
    let chunks = aiop_precompile::Manifest::parse(&code_at(&mut chain, manifest)).expect("a manifest").chunks;
    let poke = pokeThenInferCall { target: chunks[0], model: manifest, input: input.clone().into() };
    let out = success_output(&chain.call(probe, poke.abi_encode()));
    let r = pokeThenInferCall::abi_decode_returns(&out).unwrap();
    assert!(!r.poked, "a data contract cannot run");
    assert_eq!(r.output.as_ref(), &expected[..]);
    assert!(!code_at(&mut chain, chunks[0]).is_empty());
    // A contract created and destroyed in one transaction, where a manifest expects a chunk:
    // the call in that transaction and every later one revert with the chunk missing.
    let salt = B256::repeat_byte(0x42);
    let doomed = probe.create2(salt, keccak256([0x60, 0x00, 0xff]));
    let tricky = Manifest { id: keccak256(&model), model_len: model.len() as u32, chunks: vec![chunks[0], doomed] };
    let tricky_at = address!("0x7500000000000000000000000000000000000001");
    chain.set_code(tricky_at, tricky.code());
    let call = createSelfDestructThenInferCall { salt, manifest: tricky_at, input: input.clone().into() };
    let out = success_output(&chain.call(probe, call.abi_encode()));
    let r = createSelfDestructThenInferCall::abi_decode_returns(&out).unwrap();
    assert_eq!(r.created, doomed);
    assert!(!r.ok);
    assert_eq!(revert::decode(&r.ret), Some((24, word(doomed), U256::from(1))));
    assert!(code_at(&mut chain, doomed).is_empty(), "deleted at the end of its creating transaction");
    let later = chain.call(AIOP, infer(tricky_at, &input));
    assert!(!later.is_success());
}

fn code_at<F>(chain: &mut Chain<F>, address: Address) -> Vec<u8> {
    use revm::Database;
    let info = chain.db.basic(address).ok().flatten();
    info.and_then(|i| i.code.map(|c| c.original_bytes().to_vec())).unwrap_or_default()
}

#[test]
fn results_and_gas_do_not_depend_on_the_cache_or_the_kernel_path_under_v3() {
    let model = model_file("mlperf_kws");
    let input = input_for(&model, 2);
    let mut seen = Vec::new();
    for path in KernelPath::available() {
        for cache in [CacheConfig::DISABLED, CacheConfig::default()] {
            let factory = AiopEvmFactory::new(AiopConfig { cache, kernel_path: path, ..AiopConfig::from_genesis(V3) })
                .expect("available");
            let mut probe = Probe::new(factory);
            let (manifest, _) = place_chunked(&mut probe.chain, 1, &model);
            let runs: Vec<Measured> = (0..2).map(|_| probe.measure(infer(manifest, &input), CALL_GAS)).collect();
            seen.push((path, runs));
        }
    }
    let paths: Vec<&str> = KernelPath::available().map(|p| p.name()).collect();
    eprintln!("v3 cache/kernel equality ran on kernel paths: {}", paths.join(", "));
    let first = seen[0].1[0].clone();
    for (path, runs) in &seen {
        for m in runs {
            assert_eq!(m, &first, "{path}");
        }
    }
}

#[test]
fn format_v2_models_are_refused_before_v3_and_run_from_it() {
    let model = model_file("op_zoo_v2");
    let input = input_for(&model, 0);
    let mut v2 = Probe::new(factory_for(PrecompileSpec::V2));
    v2.chain.set_model(model_address(0), &model);
    let m = v2.measure(infer(model_address(0), &input), CALL_GAS);
    assert!(revert_reason(&m.ret).contains("model format version 2 is not supported"));
    let mut v3 = Probe::new(factory_for(V3));
    v3.chain.set_model(model_address(0), &model);
    assert!(v3.measure(infer(model_address(0), &input), CALL_GAS).ok);
}

mod registry {
    alloy_sol_types::sol! {
        function register(string name, address model, uint64 version, uint256 feePerCall) external;
        function read(bytes pixels) external payable returns (uint256 digit);
        function owed(address author) external view returns (uint256);
        function withdraw() external;
        function infer(string name, bytes input) external payable returns (bytes output);
    }
}

#[test]
fn the_model_registry_pays_the_author_per_call_and_a_contract_pays_through_it() {
    use alloy_sol_types::SolValue;
    let mut chain = Chain::new(v3_factory(CacheConfig::default()));
    let model = model_file("digits_mlp");
    let model_at = model_address(0);
    chain.set_model(model_at, &model);
    let registry = chain.deploy_artifact("ModelRegistry", &[]);
    let fee = U256::from(1_000_000u64);
    let register = registry::registerCall { name: "digits".into(), model: model_at, version: 1, feePerCall: fee };
    assert!(chain.call(registry, register.abi_encode()).is_success(), "registered");
    // A contract that pays the fee through the registry.
    let reader = chain.deploy_artifact("PaidDigitReader", &(registry, "digits".to_string()).abi_encode_params());
    let pixels = input_for(&model, 4);
    let scores = reference_output(&model, &pixels);
    let expected = (0..scores.len()).max_by_key(|&i| (scores[i] as i8, std::cmp::Reverse(i))).unwrap();
    let read = registry::readCall { pixels: pixels.clone().into() };
    let out = success_output(&chain.call_with_value(reader, read.abi_encode(), fee));
    assert_eq!(registry::readCall::abi_decode_returns(&out).unwrap(), U256::from(expected));
    // Too little fee is refused; the fee is owed to the author (the caller that registered).
    let short = chain.call_with_value(reader, read.abi_encode(), fee - U256::from(1));
    assert!(!short.is_success(), "a call paying less than the fee reverts");
    let owed = success_output(&chain.call(registry, registry::owedCall { author: CALLER }.abi_encode()));
    assert_eq!(registry::owedCall::abi_decode_returns(&owed).unwrap(), fee);
    assert!(chain.call(registry, registry::withdrawCall {}.abi_encode()).is_success());
    let owed = success_output(&chain.call(registry, registry::owedCall { author: CALLER }.abi_encode()));
    assert_eq!(registry::owedCall::abi_decode_returns(&owed).unwrap(), U256::ZERO);
    // Used directly, the registry returns the model's output.
    let direct = registry::inferCall { name: "digits".into(), input: pixels.into() };
    let out = success_output(&chain.call_with_value(registry, direct.abi_encode(), fee));
    assert_eq!(registry::inferCall::abi_decode_returns(&out).unwrap().as_ref(), &scores[..]);
}
