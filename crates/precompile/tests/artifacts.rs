//! The Solidity artifacts in `contracts/out` that the tests use exist, and the interface the
//! contracts compile against is the precompile's ABI.

mod common;

use aiop_precompile::abi;
use alloy_sol_types::{SolCall, SolStruct};
use common::artifact;

/// Every artifact a test deploys or reads. Regenerate with `npm ci && npm run build` in contracts/.
const NEEDED: [(&str, bool); 7] = [
    ("IAiop", false),
    ("AiopLib", true),
    ("AiopProbe", true),
    ("DigitClassifier", true),
    ("KeywordSpotter", true),
    ("ModelRegistry", true),
    ("PaidDigitReader", true),
];

#[test]
fn contracts_out_has_every_artifact_the_tests_need() {
    for (name, deployable) in NEEDED {
        let a = artifact(name);
        assert_eq!(a["contractName"], name);
        assert!(a["abi"].is_array(), "{name}: no abi");
        let code = a["bytecode"].as_str().unwrap_or_default();
        assert!(code.starts_with("0x"), "{name}: no bytecode field");
        assert_eq!(code.len() > 2, deployable, "{name}: bytecode presence");
        assert!(a["compiler"]["version"].as_str().is_some_and(|v| v.starts_with("0.8.37")), "{name}: compiler");
    }
}

fn param_type(p: &serde_json::Value) -> String {
    p["type"].as_str().unwrap().to_string()
}

#[test]
fn the_solidity_interface_is_the_precompile_abi() {
    let a = artifact("IAiop");
    let mut signatures: Vec<String> = a["abi"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "function")
        .map(|f| {
            let inputs: Vec<String> = f["inputs"].as_array().unwrap().iter().map(param_type).collect();
            format!("{}({})", f["name"].as_str().unwrap(), inputs.join(","))
        })
        .collect();
    signatures.sort();
    let mut rust = vec![
        abi::inferCall::SIGNATURE.to_string(),
        abi::inferInlineCall::SIGNATURE.to_string(),
        abi::costCall::SIGNATURE.to_string(),
        abi::modelInfoCall::SIGNATURE.to_string(),
        abi::inferBatchCall::SIGNATURE.to_string(),
        abi::costBatchCall::SIGNATURE.to_string(),
    ];
    rust.sort();
    assert_eq!(signatures, rust);
    // The one error of the coded revert scheme.
    let errors: Vec<String> = a["abi"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "error")
        .map(|f| {
            let inputs: Vec<String> = f["inputs"].as_array().unwrap().iter().map(param_type).collect();
            format!("{}({})", f["name"].as_str().unwrap(), inputs.join(","))
        })
        .collect();
    assert_eq!(errors, vec![<abi::IAiop::AiopError as alloy_sol_types::SolError>::SIGNATURE.to_string()]);
    // modelInfo's struct: same fields, names and types.
    let info = a["abi"].as_array().unwrap().iter().find(|f| f["name"] == "modelInfo").unwrap();
    let fields: Vec<String> = info["outputs"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", param_type(c), c["name"].as_str().unwrap()))
        .collect();
    assert_eq!(format!("ModelInfo({})", fields.join(",")), abi::ModelInfo::eip712_root_type());
}
