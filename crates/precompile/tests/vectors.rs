//! Precompile-level golden vectors: `testdata/vectors/precompile/*.json`, each a call to the
//! precompile (calldata, the gas it is given, the model account cold) and what it must return
//! (status, return data, gas used), so another client can check itself against this one.
//!
//! `cargo test -p aiop-precompile --test vectors -- --ignored` writes vectors that do not exist
//! yet and refuses to change a published one: a new gas schedule gets new files.

mod common;

use std::path::PathBuf;

use aiop_precompile::{AiopEvmFactory, GasSchedule, abi};
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use common::*;
use serde_json::{Value, json};

fn vectors_dir() -> PathBuf {
    repo_root().join("testdata/vectors/precompile")
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
fn cases(probe: &mut Probe<AiopEvmFactory>) -> Vec<Case> {
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
        let price = GasSchedule::V1.infer_gas(&header, bytes.len() as u64, input.len() as u64, 2600);
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

fn vector_json(case: &Case, m: &Measured) -> Value {
    json!({
        "description": case.description,
        "schedule": GasSchedule::V1.version,
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
#[ignore = "writes testdata/vectors/precompile; run by hand to add vectors"]
fn generate_precompile_vectors() {
    let mut probe = Probe::new(aiop_factory());
    std::fs::create_dir_all(vectors_dir()).unwrap();
    let (mut written, mut kept) = (0, 0);
    for case in cases(&mut probe) {
        let m = probe.measure(case.calldata.clone(), case.gas_limit);
        let text = serde_json::to_string_pretty(&vector_json(&case, &m)).unwrap() + "\n";
        let path = vectors_dir().join(format!("{}.json", case.name));
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
    eprintln!("wrote {written} new vectors, {kept} unchanged");
}

#[test]
fn precompile_vectors_match() {
    let mut probe = Probe::new(aiop_factory());
    let models = testdata_models();
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("testdata/vectors/precompile exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "expected the published vectors, found {}", files.len());
    let hex_field =
        |v: &Value, f: &str| -> Vec<u8> { hex::decode(v[f].as_str().unwrap().trim_start_matches("0x")).unwrap() };
    for path in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(v["schedule"], "v1", "{}", path.display());
        if let Some(model) = v["model"].as_str() {
            let bytes = std::fs::read(vectors_dir().join(model)).unwrap();
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
}
