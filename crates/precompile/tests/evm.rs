//! Real EVM execution: revm through `AiopEvmFactory`, a Solidity caller contract, the testdata
//! models deployed as code.

mod common;

use std::sync::Arc;

use aiop_engine::{KernelPath, LoadedModel};
use aiop_precompile::{
    AiopConfig, AiopEvmFactory, AiopPrecompile, CacheConfig, abi, model_code, model_deploy_initcode,
};
use alloy_evm::EthEvmFactory;
use alloy_primitives::{Address, Bytes, U256, address};
use alloy_sol_types::{SolCall, SolEvent};
use common::*;
use revm::context_interface::result::ExecutionResult;

fn infer_data(model: Address, input: &[u8]) -> Bytes {
    abi::inferCall { model, input: input.to_vec().into() }.abi_encode().into()
}

fn cost_data(model: Address, len: usize) -> Bytes {
    abi::costCall { model, inputLength: U256::from(len) }.abi_encode().into()
}

/// A probe chain with every testdata model placed at `model_address(i)`.
fn chain_with_models(factory: AiopEvmFactory) -> (Probe<AiopEvmFactory>, Vec<(String, Vec<u8>)>) {
    let mut probe = Probe::new(factory);
    let models = testdata_models();
    for (i, (_, bytes)) in models.iter().enumerate() {
        probe.chain.set_model(model_address(i), bytes);
    }
    (probe, models)
}

#[test]
fn infer_from_a_contract_returns_the_engine_output_for_every_model_and_vector() {
    let (mut probe, models) = chain_with_models(aiop_factory());
    let mut checked = 0;
    for (i, (name, bytes)) in models.iter().enumerate() {
        let engine = LoadedModel::load(bytes, KernelPath::Reference).unwrap();
        let vectors = engine_vectors(name);
        assert!(!vectors.is_empty(), "no engine vectors for {name}");
        for v in vectors {
            let direct = engine.run(&v.input).unwrap();
            assert_eq!(direct, v.output, "{}: engine disagrees with its golden vector", v.name);
            let call = inferViaCall { model: model_address(i), input: v.input.clone().into() };
            let out = success_output(&probe.chain.call(probe.probe, call.abi_encode()));
            let output = inferViaCall::abi_decode_returns(&out).unwrap();
            assert_eq!(output.as_ref(), &direct[..], "{}", v.name);
            checked += 1;
        }
    }
    assert!(checked >= models.len());
}

#[test]
fn models_deployed_with_the_initcode_builders_run() {
    let mut probe = Probe::new(aiop_factory());
    let mut deployed = 0;
    for (name, bytes) in testdata_models() {
        if bytes.len() + 1 > 24_576 {
            continue; // over EIP-170's code size limit: genesis allocation only
        }
        // Rust builder, deployed by a transaction.
        let rust = probe.chain.create(model_deploy_initcode(&bytes).unwrap());
        // Solidity builder (AiopLib.deployModel), deployed by a contract.
        let out =
            success_output(&probe.chain.call(probe.probe, deployCall { model: bytes.clone().into() }.abi_encode()));
        let solidity = deployCall::abi_decode_returns(&out).unwrap();
        for address in [rust, solidity] {
            use revm::Database;
            let info = probe.chain.db.basic(address).unwrap().unwrap();
            assert_eq!(info.code.unwrap().original_bytes().as_ref(), &model_code(&bytes)[..], "{name}");
            let v = &engine_vectors(&name)[0];
            let m = probe.measure(infer_data(address, &v.input), CALL_GAS);
            assert!(m.ok, "{name}: {}", revert_reason(&m.ret));
            assert_eq!(abi::inferCall::abi_decode_returns(&m.ret).unwrap().as_ref(), &v.output[..]);
        }
        // Calling the data contract itself halts at 0xFE.
        assert!(matches!(probe.chain.call(rust, Bytes::new()), ExecutionResult::Halt { .. }));
        deployed += 1;
    }
    assert!(deployed >= 5);
}

#[test]
fn cost_equals_the_gas_infer_uses_for_every_model_cold_and_warm() {
    let (mut probe, models) = chain_with_models(aiop_factory());
    for (i, (name, bytes)) in models.iter().enumerate() {
        let address = model_address(i);
        let input = &engine_vectors(name)[0].input;
        let quoted = probe.measure(cost_data(address, input.len()), CALL_GAS);
        assert!(quoted.ok, "{name}: {}", revert_reason(&quoted.ret));
        let quoted = abi::costCall::abi_decode_returns(&quoted.ret).unwrap().to::<u64>();
        let cold = probe.measure(infer_data(address, input), CALL_GAS);
        assert!(cold.ok, "{name}");
        assert_eq!(cold.gas, quoted, "{name}: cost() must equal the gas a cold infer uses");
        let warm = probe.measure_warm(infer_data(address, input), CALL_GAS, &[address]);
        assert_eq!(warm.gas, quoted - 2500, "{name}: a warm model account costs 2500 less");
        assert_eq!(warm.ret, cold.ret);
        // And it is the formula of docs/gas.md.
        let header = aiop_engine::check(bytes).unwrap();
        assert_eq!(quoted, LEGACY.schedule.infer_gas(&header, bytes.len() as u64, input.len() as u64, 2600));
        // cost() then infer() in one call: the model is warm for infer.
        let out = success_output(
            &probe
                .chain
                .call(probe.probe, costThenInferCall { model: address, input: input.clone().into() }.abi_encode()),
        );
        let r = costThenInferCall::abi_decode_returns(&out).unwrap();
        assert_eq!(r.quoted.to::<u64>(), quoted);
        assert_eq!(r.output, abi::inferCall::abi_decode_returns(&cold.ret).unwrap());
    }
}

#[test]
fn too_little_gas_halts_before_running_inference() {
    let factory = aiop_factory();
    let (mut probe, models) = chain_with_models(factory.clone());
    for (i, (name, _)) in models.iter().enumerate() {
        let address = model_address(i);
        let input = &engine_vectors(name)[0].input;
        let quoted = probe.measure(cost_data(address, input.len()), CALL_GAS);
        let quoted = abi::costCall::abi_decode_returns(&quoted.ret).unwrap().to::<u64>();
        let before = factory.precompile().cache().stats();
        let short = probe.measure(infer_data(address, input), quoted - 1);
        assert!(!short.ok, "{name}");
        assert!(short.ret.is_empty(), "a halt returns no data");
        assert_eq!(short.gas, quoted - 1, "{name}: a halt consumes all the gas it was given");
        // The model was never loaded (the load is the first thing after the gas check).
        assert_eq!(factory.precompile().cache().stats(), before, "{name}");
        let exact = probe.measure(infer_data(address, input), quoted);
        assert!(exact.ok, "{name}: exactly cost() gas is enough");
    }
}

#[test]
fn every_failure_reverts_with_its_reason() {
    let (mut probe, models) = chain_with_models(aiop_factory());
    let schedule = LEGACY.schedule;
    let mlp = models.iter().position(|(n, _)| n == "digits_mlp").unwrap();
    let mlp_address = model_address(mlp);
    let input = engine_vectors("digits_mlp")[0].input.clone();
    let eoa = address!("0x2000000000000000000000000000000000000002");

    let expect = |m: Measured, gas: u64, needle: &str| {
        assert!(!m.ok, "{needle}: should fail");
        let reason = revert_reason(&m.ret);
        assert!(reason.contains(needle), "reason {reason:?} does not mention {needle:?}");
        assert_eq!(m.gas, gas, "{needle}: gas charged");
    };

    // No code at the address (cold account: query base + 2600).
    expect(probe.measure(infer_data(eoa, &input), CALL_GAS), schedule.query_base + 2600, "has no code");
    // Code that is not a model: the probe itself (warm: it is the running contract).
    let probe_address = probe.probe;
    expect(probe.measure(infer_data(probe_address, &input), CALL_GAS), schedule.query_base + 100, "not an aiop model");
    // A malformed header.
    let bad_header = address!("0x3000000000000000000000000000000000000003");
    probe.chain.set_code(bad_header, b"\xfeAIOP\x07".to_vec());
    expect(
        probe.measure(infer_data(bad_header, &input), CALL_GAS),
        schedule.query_base + 2600,
        "malformed model header",
    );
    // A format v2 model: valid, but not accepted before the precompile upgrade that activates
    // it; refused at the header, for the query price, with the same bytes as before the
    // engine could read v2.
    let v2 = std::fs::read(common::repo_root().join("testdata/models/op_zoo_v2.aiop")).unwrap();
    aiop_engine::check(&v2).expect("a valid v2 model");
    let v2_address = address!("0x3000000000000000000000000000000000000005");
    probe.chain.set_model(v2_address, &v2);
    let m = probe.measure(infer_data(v2_address, &input), CALL_GAS);
    expect(m.clone(), schedule.query_base + 2600, "model format version 2 is not supported");
    assert_eq!(
        revert_reason(&m.ret),
        "aiop: malformed model header: model format version 2 is not supported; this engine reads version 1"
    );
    // A valid header over a corrupted body: refused at load, charging the full price.
    let mlp_bytes = &models[mlp].1;
    let mut corrupted = mlp_bytes.clone();
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0xFF;
    corrupted.push(0);
    let bad_body = address!("0x3000000000000000000000000000000000000004");
    probe.chain.set_model(bad_body, &corrupted);
    let header = aiop_engine::format::ModelHeader::parse(&corrupted).unwrap();
    let full = schedule.infer_gas(&header, corrupted.len() as u64, input.len() as u64, 2600);
    expect(probe.measure(infer_data(bad_body, &input), CALL_GAS), full, "invalid model");
    // Wrong input length.
    expect(
        probe.measure(infer_data(mlp_address, &input[1..]), CALL_GAS),
        schedule.query_base + 2600,
        "takes exactly 64 bytes",
    );
    expect(probe.measure(cost_data(mlp_address, 63), CALL_GAS), schedule.query_base + 2600, "takes exactly 64 bytes");
    // Unknown selector, short calldata, bad ABI.
    expect(probe.measure(vec![0xde, 0xad, 0xbe, 0xef], CALL_GAS), schedule.query_base, "unknown function selector");
    expect(probe.measure(vec![0x01], CALL_GAS), schedule.query_base, "too short for a function selector");
    let mut truncated = infer_data(mlp_address, &input).to_vec();
    truncated.truncate(40);
    expect(probe.measure(truncated, CALL_GAS), schedule.query_base, "does not ABI-decode as infer(address,bytes)");
    // An address argument with dirty high bytes is not valid ABI.
    let mut dirty = infer_data(mlp_address, &input).to_vec();
    dirty[4] = 0x01;
    expect(probe.measure(dirty, CALL_GAS), schedule.query_base, "does not ABI-decode as infer(address,bytes)");
    // Value sent (a CALL with value through the probe).
    let data = callWithValueCall { target: AIOP, data: infer_data(mlp_address, &input) }.abi_encode();
    let out = success_output(&probe.chain.call_with_value(probe.probe, data, U256::from(1)));
    let r = callWithValueCall::abi_decode_returns(&out).unwrap();
    assert!(!r.ok);
    assert!(revert_reason(&r.ret).contains("takes no value"), "{}", revert_reason(&r.ret));
    // DELEGATECALL from a payable function moves no ether to the precompile: it runs.
    let data = delegateWithValueCall { target: AIOP, data: infer_data(mlp_address, &input) }.abi_encode();
    let out = success_output(&probe.chain.call_with_value(probe.probe, data, U256::from(1)));
    let r = delegateWithValueCall::abi_decode_returns(&out).unwrap();
    assert!(r.ok, "{}", revert_reason(&r.ret));
    assert_eq!(
        abi::inferCall::abi_decode_returns(&r.ret).unwrap().as_ref(),
        &engine_vectors("digits_mlp")[0].output[..]
    );
    // A failure with less gas than its charge halts out of gas.
    let m = probe.measure(infer_data(eoa, &input), schedule.query_base + 2599);
    assert!(!m.ok && m.ret.is_empty());
}

#[test]
fn a_top_level_transaction_and_staticcall_both_work() {
    let (mut probe, models) = chain_with_models(aiop_factory());
    let mlp = models.iter().position(|(n, _)| n == "digits_mlp").unwrap();
    let v = &engine_vectors("digits_mlp")[0];
    // A transaction straight to the precompile (CALL from an EOA).
    let out = success_output(&probe.chain.call(AIOP, infer_data(model_address(mlp), &v.input)));
    assert_eq!(abi::inferCall::abi_decode_returns(&out).unwrap().as_ref(), &v.output[..]);
    // measure() uses STATICCALL; inferVia() calls a `view` interface function (STATICCALL too).
    let m = probe.measure(infer_data(model_address(mlp), &v.input), CALL_GAS);
    assert!(m.ok);
    assert_eq!(m.ret, out);
}

#[test]
fn model_info_describes_the_model() {
    let (mut probe, models) = chain_with_models(aiop_factory());
    for (i, (name, bytes)) in models.iter().enumerate() {
        let m = probe.measure(abi::modelInfoCall { model: model_address(i) }.abi_encode(), CALL_GAS);
        assert!(m.ok, "{name}: {}", revert_reason(&m.ret));
        let info = abi::modelInfoCall::abi_decode_returns(&m.ret).unwrap();
        let loaded = LoadedModel::load(bytes, KernelPath::Reference).unwrap();
        assert_eq!(info, aiop_precompile::model_info(&loaded, alloy_primitives::keccak256(bytes)));
        assert_eq!(info.id.0, aiop_engine::model_id(bytes));
        assert_eq!(info.inputShape, loaded.input().shape);
        assert_eq!(info.inputLength, U256::from(loaded.input_len()));
        assert_eq!(info.macs, U256::from(loaded.cost().macs));
        assert_eq!(m.gas, LEGACY.schedule.model_info_gas(loaded.header(), bytes.len() as u64, 2600), "{name}");
    }
}

#[test]
fn infer_inline_matches_infer_without_the_account_access() {
    let (mut probe, models) = chain_with_models(aiop_factory());
    for (i, (name, bytes)) in models.iter().enumerate() {
        let v = &engine_vectors(name)[0];
        let by_address = probe.measure(infer_data(model_address(i), &v.input), CALL_GAS);
        let inline = probe.measure(
            abi::inferInlineCall { model: bytes.clone().into(), input: v.input.clone().into() }.abi_encode(),
            CALL_GAS,
        );
        assert!(inline.ok, "{name}: {}", revert_reason(&inline.ret));
        assert_eq!(inline.ret, by_address.ret, "{name}");
        assert_eq!(inline.gas, by_address.gas - 2600, "{name}");
    }
    // Not a model.
    let m =
        probe.measure(abi::inferInlineCall { model: vec![1, 2, 3].into(), input: Bytes::new() }.abi_encode(), CALL_GAS);
    assert!(revert_reason(&m.ret).contains("not an aiop model"));
}

/// Index of the first largest int8 value.
fn argmax_first(output: &[u8]) -> u8 {
    let mut best = 0;
    for (i, &b) in output.iter().enumerate() {
        if (b as i8) > (output[best] as i8) {
            best = i;
        }
    }
    best as u8
}

#[test]
fn digit_classifier_emits_the_engine_class() {
    let (mut probe, models) = chain_with_models(aiop_factory());
    for model_name in ["digits_mlp", "digits_cnn"] {
        let index = models.iter().position(|(n, _)| n == model_name).unwrap();
        let args = alloy_sol_types::SolValue::abi_encode(&model_address(index));
        let classifier = probe.chain.deploy_artifact("DigitClassifier", &args);
        for v in engine_vectors(model_name).iter().filter(|v| v.name.contains("digit")) {
            let expected = argmax_first(&v.output);
            let result = probe.chain.call(classifier, classifyCall { pixels: v.input.clone().into() }.abi_encode());
            let ExecutionResult::Success { logs, output, .. } = &result else { panic!("{result:?}") };
            assert_eq!(classifyCall::abi_decode_returns(output.data()).unwrap(), expected, "{}", v.name);
            let event = Classified::decode_log_data(&logs[0].data).unwrap();
            assert_eq!(event.digit, expected);
            assert_eq!(event.scores.as_ref(), &v.output[..]);
            let pixels: Vec<i8> = v.input.iter().map(|&b| b as i8).collect();
            let out = success_output(&probe.chain.call(classifier, predictCall { pixels }.abi_encode()));
            assert_eq!(predictCall::abi_decode_returns(&out).unwrap(), expected);
        }
    }
}

/// Runs every model's vectors through `factory` (twice, so a cache goes cold then warm) and
/// returns (output, gas) of each call.
fn run_all(factory: AiopEvmFactory) -> Vec<(bool, Bytes, u64)> {
    let (mut probe, models) = chain_with_models(factory);
    let mut results = Vec::new();
    for _round in 0..2 {
        for (i, (name, _)) in models.iter().enumerate() {
            for v in engine_vectors(name) {
                let m = probe.measure(infer_data(model_address(i), &v.input), CALL_GAS);
                results.push((m.ok, m.ret, m.gas));
            }
        }
    }
    results
}

fn factory_with(cache: CacheConfig, kernel_path: KernelPath) -> AiopEvmFactory {
    AiopEvmFactory::new(AiopConfig { cache, kernel_path, ..AiopConfig::from_genesis(LEGACY) }).unwrap()
}

#[test]
fn results_and_gas_do_not_depend_on_the_cache_or_the_kernel_path() {
    let fastest = KernelPath::fastest();
    let reference = run_all(factory_with(CacheConfig::DISABLED, KernelPath::Reference));
    assert!(reference.iter().all(|(ok, _, _)| *ok));
    let cached = factory_with(CacheConfig::default(), fastest);
    assert_eq!(run_all(cached.clone()), reference, "cache on, cold then warm");
    assert!(cached.precompile().cache().stats().hits > 0);
    // The same cache, already warm from the run above, in a new chain.
    assert_eq!(run_all(cached), reference, "cache warm from the start");
    assert_eq!(run_all(factory_with(CacheConfig::DISABLED, fastest)), reference, "cache off");
    let tiny = CacheConfig { max_entries: 1, max_bytes: 16 << 10 };
    assert_eq!(run_all(factory_with(tiny, fastest)), reference, "cache evicting all the time");
}

#[test]
fn an_unavailable_kernel_path_is_a_configuration_error() {
    for path in KernelPath::ALL {
        let built = AiopPrecompile::new(AiopConfig { kernel_path: path, ..AiopConfig::from_genesis(LEGACY) });
        assert_eq!(built.is_ok(), path.is_available(), "{path:?}");
    }
}

#[test]
fn the_address_is_configurable() {
    let other = address!("0x00000000000000000000000000000000000b2000");
    let precompile =
        Arc::new(AiopPrecompile::new(AiopConfig { address: other, ..AiopConfig::from_genesis(LEGACY) }).unwrap());
    let mut chain = Chain::new(AiopEvmFactory::from_precompile(precompile));
    let (_, bytes) = &testdata_models().into_iter().find(|(n, _)| n == "digits_mlp").unwrap();
    let model = model_address(0);
    chain.set_model(model, bytes);
    let v = &engine_vectors("digits_mlp")[0];
    let out = success_output(&chain.call(other, infer_data(model, &v.input)));
    assert_eq!(abi::inferCall::abi_decode_returns(&out).unwrap().as_ref(), &v.output[..]);
    // Nothing at the default address any more: a plain call to an empty account.
    let out = success_output(&chain.call(AIOP, infer_data(model, &v.input)));
    assert!(out.is_empty());
}

/// Plain transfers, deployments and calls: the same results and gas with and without the
/// precompile installed.
fn plain_transactions<F>(factory: F) -> Vec<ExecutionResult>
where
    F: alloy_evm::EvmFactory<
            Tx = revm::context::TxEnv,
            Spec = revm::primitives::hardfork::SpecId,
            BlockEnv = revm::context::BlockEnv,
            HaltReason = revm::context_interface::result::HaltReason,
        >,
{
    let mut chain = Chain::new(factory);
    let mut results = Vec::new();
    let alice = address!("0x4000000000000000000000000000000000000004");
    // Transfers.
    for value in [1u64, 1_000_000, 0] {
        results.push(chain.call_with_value(alice, Bytes::new(), U256::from(value)));
    }
    // Deployments.
    let probe = chain.deploy_artifact("AiopProbe", &[]);
    let classifier_args = alloy_sol_types::SolValue::abi_encode(&alice);
    let classifier = chain.deploy_artifact("DigitClassifier", &classifier_args);
    let model = chain.create(model_deploy_initcode(b"AIOP-not-a-real-model").unwrap());
    results.push(chain.call(Address::ZERO, Bytes::new()));
    // Calls: a standard precompile through the probe, a failing call, a revert, a halt.
    let data = measureCall { target: IDENTITY, data: vec![7u8; 100].into(), gasLimit: U256::from(100_000) };
    results.push(chain.call(probe, data.abi_encode()));
    results.push(chain.call(classifier, classifyCall { pixels: vec![1u8; 3].into() }.abi_encode()));
    results.push(chain.call(model, Bytes::new()));
    let deploy = deployCall { model: b"AIOP".to_vec().into() };
    results.push(chain.call(probe, deploy.abi_encode()));
    results.push(chain.call_with_value(
        probe,
        callWithValueCall { target: alice, data: Bytes::new() }.abi_encode(),
        U256::from(5),
    ));
    results
}

#[test]
fn ordinary_transactions_are_untouched() {
    let with = plain_transactions(aiop_factory());
    let without = plain_transactions(EthEvmFactory::default());
    assert_eq!(with.len(), without.len());
    for (i, (a, b)) in with.iter().zip(&without).enumerate() {
        assert_eq!(a, b, "transaction {i}");
    }
}

#[test]
fn the_precompile_is_installed_stateful_so_reth_never_caches_it_by_input() {
    use alloy_evm::{Evm, EvmFactory, precompiles::Precompile};
    let chain = Chain::new(aiop_factory());
    let mut evm = chain.factory.create_evm(revm::database::EmptyDB::default(), chain.env());
    let precompiles = evm.precompiles_mut();
    let precompile = precompiles.get(&AIOP).expect("installed at the default address");
    assert!(!precompile.supports_caching());
    assert_eq!(precompile.precompile_id().name(), aiop_precompile::PRECOMPILE_NAME);
    // The standard precompiles are still there.
    assert!(precompiles.get(&IDENTITY).is_some());
}
