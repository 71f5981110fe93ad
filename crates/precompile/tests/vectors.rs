//! Precompile-level golden vectors, one set per gas schedule: `testdata/vectors/precompile/`
//! for v1 and `testdata/vectors/precompile-v2/` for v2. Each file is a call to the precompile
//! (calldata, the gas it is given, the model account cold) and what it must return (status,
//! return data, gas used), so another client can check itself against this one.
//!
//! `cargo test -p aiop-precompile --test vectors -- --ignored` writes vectors that do not exist
//! yet and refuses to change a published one: a new gas schedule gets a new set.

mod common;

use std::path::PathBuf;

use aiop_precompile::{AiopConfig, AiopEvmFactory, GasSchedule, abi};
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use common::*;
use serde_json::{Value, json};

/// The published vector set of `schedule`.
fn vectors_dir(schedule: &GasSchedule) -> PathBuf {
    let base = repo_root().join("testdata/vectors");
    if schedule.version == "v1" {
        base.join("precompile")
    } else {
        base.join(format!("precompile-{}", schedule.version))
    }
}

/// A probe chain whose precompile prices with `schedule`.
fn probe(schedule: GasSchedule) -> Probe<AiopEvmFactory> {
    Probe::new(AiopEvmFactory::new(AiopConfig { schedule, ..AiopConfig::default() }).expect("default kernel path"))
}

fn status(m: &Measured) -> &'static str {
    match (m.ok, m.ret.is_empty()) {
        (true, _) => "success",
        (false, true) => "halt",
        (false, false) => "revert",
    }
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

struct Case {
    name: String,
    description: String,
    model: Option<(String, Address)>,
    calldata: Bytes,
    gas_limit: u64,
}

/// The cases, with every testdata model placed at `model_address(i)` in `probe`'s chain.
fn cases(probe: &mut Probe<AiopEvmFactory>, schedule: &GasSchedule) -> Vec<Case> {
    let mut cases = Vec::new();
    let models = testdata_models();
    for (i, (name, bytes)) in models.iter().enumerate() {
        let address = model_address(i);
        probe.chain.set_model(address, bytes);
        let model = Some((name.clone(), address));
        let vectors = engine_vectors(name);
        for v in vectors.iter().take(3) {
            let case = v.name.rsplit_once('-').map(|(_, c)| c).unwrap_or(&v.name);
            cases.push(Case {
                name: format!("{name}-infer-{case}"),
                description: format!("infer({name}) on the input of engine vector {}", v.name),
                model: model.clone(),
                calldata: abi::inferCall { model: address, input: v.input.clone().into() }.abi_encode().into(),
                gas_limit: CALL_GAS,
            });
        }
        let input = &vectors[0].input;
        let header = aiop_engine::check(bytes).expect("testdata models are valid");
        let price = schedule.infer_gas(&header, bytes.len() as u64, input.len() as u64, 2600);
        cases.push(Case {
            name: format!("{name}-infer-out-of-gas"),
            description: format!("infer({name}) given one gas less than cost(): halts, consuming all of it"),
            model: model.clone(),
            calldata: abi::inferCall { model: address, input: input.clone().into() }.abi_encode().into(),
            gas_limit: price - 1,
        });
        cases.push(Case {
            name: format!("{name}-infer-wrong-input-length"),
            description: format!("infer({name}) with one input byte too many: reverts"),
            model: model.clone(),
            calldata: abi::inferCall { model: address, input: [input.as_slice(), &[0]].concat().into() }
                .abi_encode()
                .into(),
            gas_limit: CALL_GAS,
        });
        cases.push(Case {
            name: format!("{name}-cost"),
            description: format!("cost({name}, input length)"),
            model: model.clone(),
            calldata: abi::costCall { model: address, inputLength: U256::from(input.len()) }.abi_encode().into(),
            gas_limit: CALL_GAS,
        });
        cases.push(Case {
            name: format!("{name}-model-info"),
            description: format!("modelInfo({name})"),
            model: model.clone(),
            calldata: abi::modelInfoCall { model: address }.abi_encode().into(),
            gas_limit: CALL_GAS,
        });
        if bytes.len() <= 8192 {
            cases.push(Case {
                name: format!("{name}-infer-inline"),
                description: format!("inferInline({name}) on the input of engine vector {}", vectors[0].name),
                model: None,
                calldata: abi::inferInlineCall { model: bytes.clone().into(), input: input.clone().into() }
                    .abi_encode()
                    .into(),
                gas_limit: CALL_GAS,
            });
        }
    }
    cases.push(Case {
        name: "no-code-at-model-address".into(),
        description: "infer on an address with no code: reverts".into(),
        model: None,
        calldata: abi::inferCall { model: Address::repeat_byte(0x55), input: vec![0u8; 64].into() }.abi_encode().into(),
        gas_limit: CALL_GAS,
    });
    cases.push(Case {
        name: "unknown-selector".into(),
        description: "calldata with a selector IAiop does not have: reverts".into(),
        model: None,
        calldata: vec![0xde, 0xad, 0xbe, 0xef].into(),
        gas_limit: CALL_GAS,
    });
    cases
}

fn vector_json(case: &Case, m: &Measured, schedule: &GasSchedule) -> Value {
    json!({
        "description": case.description,
        "schedule": schedule.version,
        "model": case.model.as_ref().map(|(name, _)| format!("../../models/{name}.aiop")),
        "model_address": case.model.as_ref().map(|(_, a)| a.to_string()),
        "model_account": "cold",
        "precompile_address": AIOP.to_string(),
        "calldata": hex0x(&case.calldata),
        "gas_limit": case.gas_limit,
        "status": status(m),
        "return_data": hex0x(&m.ret),
        "gas_used": m.gas,
    })
}

#[test]
#[ignore = "writes testdata/vectors/precompile*; run by hand to add vectors"]
fn generate_precompile_vectors() {
    // Schedules priced from the loaded model (v3) get their vectors with the precompile that
    // charges them that way; until then only v1 and v2 have published sets.
    for schedule in GasSchedule::ALL.into_iter().filter(GasSchedule::priced_by_header) {
        let mut probe = probe(schedule);
        let dir = vectors_dir(&schedule);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut written, mut kept) = (0, 0);
        for case in cases(&mut probe, &schedule) {
            let m = probe.measure(case.calldata.clone(), case.gas_limit);
            let text = serde_json::to_string_pretty(&vector_json(&case, &m, &schedule)).unwrap() + "\n";
            let path = dir.join(format!("{}.json", case.name));
            match std::fs::read_to_string(&path) {
                Ok(published) if published == text => kept += 1,
                Ok(_) => panic!(
                    "{} is published and would change; published vectors never change: add a new gas schedule version with new files",
                    path.display()
                ),
                Err(_) => {
                    std::fs::write(&path, text).unwrap();
                    written += 1;
                }
            }
        }
        eprintln!("schedule {}: wrote {written} new vectors, {kept} unchanged", schedule.version);
    }
}

/// Checks every published vector of `schedule` against a precompile pricing with it.
fn check_vector_set(schedule: GasSchedule) -> usize {
    let mut probe = probe(schedule);
    let models = testdata_models();
    let dir = vectors_dir(&schedule);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} exists: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "expected the published vectors in {}, found {}", dir.display(), files.len());
    let hex_field =
        |v: &Value, f: &str| -> Vec<u8> { hex::decode(v[f].as_str().unwrap().trim_start_matches("0x")).unwrap() };
    for path in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(v["schedule"], schedule.version, "{}", path.display());
        if let Some(model) = v["model"].as_str() {
            let bytes = std::fs::read(dir.join(model)).unwrap();
            let address: Address = v["model_address"].as_str().unwrap().parse().unwrap();
            assert!(models.iter().any(|(_, b)| *b == bytes));
            probe.chain.set_model(address, &bytes);
        }
        let m = probe.measure(hex_field(&v, "calldata"), v["gas_limit"].as_u64().unwrap());
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(status(&m), v["status"], "{name}");
        assert_eq!(hex0x(&m.ret), v["return_data"].as_str().unwrap(), "{name}");
        assert_eq!(m.gas, v["gas_used"].as_u64().unwrap(), "{name}");
    }
    files.len()
}

#[test]
fn precompile_vectors_v1_match() {
    check_vector_set(GasSchedule::V1);
}

#[test]
fn precompile_vectors_v2_match() {
    check_vector_set(GasSchedule::V2);
}

#[test]
fn every_schedule_has_a_vector_set_and_the_sets_differ_only_in_gas() {
    // Same calls, same outputs: a schedule changes gas and nothing else (an out-of-gas case
    // differs in its gas limit, which is one less than the schedule's price).
    let names = |s: &GasSchedule| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(vectors_dir(s))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let v1 = names(&GasSchedule::V1);
    for schedule in GasSchedule::ALL[1..].iter().filter(|s| s.priced_by_header()) {
        assert_eq!(names(schedule), v1, "schedule {} has other cases than v1", schedule.version);
        for name in &v1 {
            let read = |s: &GasSchedule| -> Value {
                serde_json::from_str(&std::fs::read_to_string(vectors_dir(s).join(name)).unwrap()).unwrap()
            };
            let (old, new) = (read(&GasSchedule::V1), read(schedule));
            if !name.contains("out-of-gas") {
                assert_eq!(old["calldata"], new["calldata"], "{name}");
            }
            assert_eq!(old["status"], new["status"], "{name}");
            if old["status"] == "success" && !name.ends_with("-cost.json") {
                assert_eq!(old["return_data"], new["return_data"], "{name}");
            }
        }
    }
}
