//! The golden vectors of a precompile spec from v3 on, `testdata/vectors/precompile-<spec>/`:
//! every model of `testdata/models` whose format the spec accepts (the MLPerf Tiny models
//! stored across accounts) called through `infer`, `inferBatch`, `cost`, `costBatch`,
//! `modelInfo` and `inferInline`, and one call per reachable revert code. Each file names the
//! state it needs: the model file and how it is stored (one account, or chunks and a manifest
//! laid out as `docs/storage.md` says), plus any extra account code in hex. The test files
//! `vectors_v3.rs` to `vectors_v6.rs` run it for their spec.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::*;
use aiop_precompile::{
    AiopConfig, AiopEvmFactory, Manifest, PrecompileSpec, abi, chunk_code, storage::chunk_payloads,
    storage::fits_one_account,
};
use alloy_primitives::{Address, Bytes, U256, address, keccak256};
use alloy_sol_types::SolCall;
use serde_json::{Value, json};

fn dir(spec: PrecompileSpec) -> PathBuf {
    repo_root().join(format!("testdata/vectors/precompile-{}", spec.version))
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// How a model sits in state for a vector.
struct Placement {
    name: String,
    handle: Address,
    chunks: Vec<Address>,
}

/// Where model `index` and its chunks live: one account, or a manifest and chunks.
fn place(chain_codes: &mut BTreeMap<Address, Vec<u8>>, index: usize, name: &str, model: &[u8]) -> Placement {
    let handle = model_address(index);
    if fits_one_account(model) {
        chain_codes.insert(handle, aiop_precompile::model_code(model));
        return Placement { name: name.into(), handle, chunks: Vec::new() };
    }
    let chunks: Vec<Address> = chunk_payloads(model)
        .enumerate()
        .map(|(i, payload)| {
            let address = Address::from_slice(&[&[0x71, index as u8 + 1][..], &[0u8; 16], &[0, i as u8 + 1]].concat());
            chain_codes.insert(address, chunk_code(payload));
            address
        })
        .collect();
    let manifest = Manifest { id: keccak256(model), model_len: model.len() as u32, chunks: chunks.clone() };
    chain_codes.insert(handle, manifest.code());
    Placement { name: name.into(), handle, chunks }
}

struct Case {
    name: String,
    description: String,
    placement: Option<usize>,
    extra: Vec<(Address, Vec<u8>)>,
    calldata: Bytes,
    gas_limit: u64,
}

/// The models the spec accepts, by name: each one's index is its placement.
fn models(spec: PrecompileSpec) -> Vec<(String, Vec<u8>)> {
    let mut models: Vec<(String, Vec<u8>)> = std::fs::read_dir(repo_root().join("testdata/models"))
        .expect("testdata/models")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "aiop"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .filter(|(_, bytes)| aiop_engine::check(bytes).is_ok_and(|h| spec.accepts_format(h.version)))
        .collect();
    models.sort();
    models
}

fn probe_on(spec: PrecompileSpec, kernel_path: aiop_engine::KernelPath) -> Probe<AiopEvmFactory> {
    Probe::new(AiopEvmFactory::new(AiopConfig { kernel_path, ..AiopConfig::from_genesis(spec) }).expect("available"))
}

fn probe(spec: PrecompileSpec) -> Probe<AiopEvmFactory> {
    probe_on(spec, aiop_engine::KernelPath::fastest())
}

/// Every placement and every case. `price` measures what `cost` returns for a model.
fn cases(spec: PrecompileSpec, probe: &mut Probe<AiopEvmFactory>) -> (Vec<Placement>, Vec<Case>) {
    let mut codes = BTreeMap::new();
    let mut placements = Vec::new();
    let mut cases = Vec::new();
    for (i, (name, bytes)) in models(spec).iter().enumerate() {
        let p = place(&mut codes, i, name, bytes);
        let handle = p.handle;
        placements.push(p);
        let header = aiop_engine::check(bytes).expect("valid");
        let vectors = engine_vectors(name);
        let inputs: Vec<(String, Vec<u8>)> = if vectors.is_empty() {
            vec![("generated".into(), (0..header.input_len).map(|j| (j * 13 % 256) as u8).collect())]
        } else {
            vectors
                .iter()
                .take(2)
                .map(|v| (v.name.rsplit_once('-').map(|(_, c)| c).unwrap_or(&v.name).to_owned(), v.input.clone()))
                .collect()
        };
        let at = Some(i);
        let case = |suffix: &str, description: String, calldata: Bytes, gas_limit: u64| Case {
            name: format!("{name}-{suffix}"),
            description,
            placement: at,
            extra: Vec::new(),
            calldata,
            gas_limit,
        };
        for (label, input) in &inputs {
            let call = abi::inferCall { model: handle, input: input.clone().into() };
            cases.push(case(
                &format!("infer-{label}"),
                format!("infer({name}) on input {label}"),
                call.abi_encode().into(),
                CALL_GAS,
            ));
        }
        let input = &inputs[0].1;
        for (k, v) in &codes {
            probe.chain.set_code(*k, v.clone());
        }
        let cost_call = abi::costCall { model: handle, inputLength: U256::from(input.len()) };
        let quoted = probe.measure(cost_call.abi_encode(), CALL_GAS);
        let price = abi::costCall::abi_decode_returns(&quoted.ret).expect("cost").to::<u64>();
        let infer_call = abi::inferCall { model: handle, input: input.clone().into() };
        cases.push(case(
            "infer-out-of-gas",
            format!("infer({name}) given one gas less than cost(): halts"),
            infer_call.abi_encode().into(),
            price - 1,
        ));
        let longer = abi::inferCall { model: handle, input: [input.as_slice(), &[0]].concat().into() };
        cases.push(case(
            "infer-wrong-input-length",
            format!("infer({name}) with one byte too many: AiopError 48"),
            longer.abi_encode().into(),
            CALL_GAS,
        ));
        cases.push(case("cost", format!("cost({name}, input length)"), cost_call.abi_encode().into(), CALL_GAS));
        cases.push(case(
            "model-info",
            format!("modelInfo({name})"),
            abi::modelInfoCall { model: handle }.abi_encode().into(),
            CALL_GAS,
        ));
        let batch: Vec<Bytes> =
            inputs.iter().map(|(_, x)| Bytes::from(x.clone())).chain([Bytes::from(input.clone())]).collect();
        let n = batch.len();
        cases.push(case(
            "infer-batch",
            format!("inferBatch({name}) on {n} inputs"),
            abi::inferBatchCall { model: handle, inputs: batch }.abi_encode().into(),
            CALL_GAS,
        ));
        let cost_batch =
            abi::costBatchCall { model: handle, inputLength: U256::from(input.len()), count: U256::from(n) };
        cases.push(case(
            "cost-batch",
            format!("costBatch({name}, input length, {n})"),
            cost_batch.abi_encode().into(),
            CALL_GAS,
        ));
        if bytes.len() <= 8192 {
            let inline = abi::inferInlineCall { model: bytes.clone().into(), input: input.clone().into() };
            cases.push(Case {
                placement: None,
                ..case("infer-inline", format!("inferInline({name})"), inline.abi_encode().into(), CALL_GAS)
            });
        }
    }
    // Refusals: one call per reachable code.
    let kws = placements.iter().position(|p| p.name == "mlperf_kws").expect("mlperf_kws");
    let kws_bytes = &models(spec)[kws].1;
    let chunks = placements[kws].chunks.clone();
    let good = Manifest { id: keccak256(kws_bytes), model_len: kws_bytes.len() as u32, chunks: chunks.clone() };
    let kws_input = vec![0u8; 490];
    let broken = address!("0x7300000000000000000000000000000000000001");
    let infer_broken = abi::inferCall { model: broken, input: kws_input.clone().into() }.abi_encode();
    let mut refusal = |name: &str, description: &str, extra: Vec<(Address, Vec<u8>)>, calldata: Vec<u8>| {
        cases.push(Case {
            name: format!("revert-{name}"),
            description: description.into(),
            placement: Some(kws),
            extra,
            calldata: calldata.into(),
            gas_limit: CALL_GAS,
        })
    };
    let missing = address!("0x7400000000000000000000000000000000000001");
    refusal("no-selector", "one byte of calldata: AiopError 1", vec![], vec![1]);
    refusal("unknown-selector", "selector 0xdeadbeef: AiopError 2", vec![], vec![0xde, 0xad, 0xbe, 0xef]);
    let mut dirty = abi::inferCall { model: placements[kws].handle, input: kws_input.clone().into() }.abi_encode();
    dirty[4] = 1;
    refusal("bad-calldata", "an address argument with a dirty high byte: AiopError 3", vec![], dirty);
    refusal(
        "no-code",
        "infer on an account with no code: AiopError 16",
        vec![],
        abi::inferCall { model: missing, input: kws_input.clone().into() }.abi_encode(),
    );
    refusal(
        "not-a-model",
        "infer on an account whose code is not a model: AiopError 17",
        vec![(broken, vec![0x60, 0x00])],
        infer_broken.clone(),
    );
    refusal(
        "inline-not-a-model",
        "inferInline on bytes that are not a model: AiopError 18",
        vec![],
        abi::inferInlineCall { model: vec![1, 2, 3].into(), input: kws_input.clone().into() }.abi_encode(),
    );
    let with = |m: &Manifest| vec![(broken, m.code())];
    let mut bad_version = good.code();
    bad_version[5] = 9;
    refusal(
        "manifest-version",
        "a manifest of layout version 9: AiopError 20",
        vec![(broken, bad_version)],
        infer_broken.clone(),
    );
    let mut long = good.code();
    long.push(0);
    refusal(
        "manifest-length",
        "a manifest one byte longer than its chunk count says: AiopError 21",
        vec![(broken, long)],
        infer_broken.clone(),
    );
    let mut zero = good.code();
    zero[42..44].copy_from_slice(&[0, 0]);
    zero.truncate(44);
    refusal(
        "manifest-chunk-count",
        "a manifest naming no chunks: AiopError 22",
        vec![(broken, zero)],
        infer_broken.clone(),
    );
    refusal(
        "manifest-model-length",
        "a manifest declaring a 5 MiB model: AiopError 23",
        with(&Manifest { model_len: 5 << 20, ..good.clone() }),
        infer_broken.clone(),
    );
    refusal(
        "chunk-missing",
        "a manifest naming a chunk with no code: AiopError 24",
        with(&Manifest { chunks: vec![chunks[0], missing], ..good.clone() }),
        infer_broken.clone(),
    );
    let model_account = placements.iter().find(|p| p.chunks.is_empty()).expect("a single-account model").handle;
    refusal(
        "not-a-chunk",
        "a manifest naming a model account as a chunk: AiopError 25",
        with(&Manifest { chunks: vec![chunks[0], model_account], ..good.clone() }),
        infer_broken.clone(),
    );
    refusal(
        "assembled-length",
        "a manifest declaring one byte less than its chunks hold: AiopError 26",
        with(&Manifest { model_len: good.model_len - 1, ..good.clone() }),
        infer_broken.clone(),
    );
    refusal(
        "model-id-mismatch",
        "a manifest with its chunks swapped: AiopError 27",
        with(&Manifest { chunks: vec![chunks[1], chunks[0]], ..good.clone() }),
        infer_broken.clone(),
    );
    refusal(
        "malformed-header",
        "a model account holding a truncated header: AiopError 514",
        vec![(broken, b"\xfeAIOP\x01".to_vec())],
        infer_broken.clone(),
    );
    refusal("unknown-format", "a model of format version 9: AiopError 516", vec![(broken, b"\xfeAIOP\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec())], infer_broken.clone());
    let handle = placements[kws].handle;
    refusal(
        "empty-batch",
        "inferBatch with no inputs: AiopError 49",
        vec![],
        abi::inferBatchCall { model: handle, inputs: vec![] }.abi_encode(),
    );
    refusal(
        "batch-too-large",
        "inferBatch with 257 inputs: AiopError 50",
        vec![],
        abi::inferBatchCall { model: handle, inputs: vec![Bytes::from(kws_input.clone()); 257] }.abi_encode(),
    );
    let mut corrupt = models(spec)[kws].1.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xFF;
    corrupt.push(0);
    refusal(
        "invalid-model",
        "inferInline of a model with a corrupted last op: AiopError 256 + engine code",
        vec![],
        abi::inferInlineCall { model: corrupt.into(), input: kws_input.clone().into() }.abi_encode(),
    );
    (placements, cases)
}

fn measure(
    spec: PrecompileSpec,
    probe: &mut Probe<AiopEvmFactory>,
    all: &[(String, Vec<u8>)],
    placements: &[Placement],
    case: &Case,
) -> (Measured, Value) {
    let mut state = json!(null);
    if let Some(i) = case.placement {
        let (name, bytes) = &all[i];
        let mut codes = BTreeMap::new();
        place(&mut codes, i, name, bytes);
        for (k, v) in codes {
            probe.chain.set_code(k, v);
        }
        let p = &placements[i];
        state = json!({
            "model": format!("../../models/{name}.aiop"),
            "model_id": keccak256(bytes).to_string(),
            "storage": if p.chunks.is_empty() { "account" } else { "manifest" },
            "model_address": p.handle.to_string(),
            "chunk_addresses": p.chunks.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        });
    }
    for (address, code) in &case.extra {
        probe.chain.set_code(*address, code.clone());
    }
    let extra: Vec<Value> =
        case.extra.iter().map(|(a, c)| json!({ "address": a.to_string(), "code": hex0x(c) })).collect();
    let m = probe.measure(case.calldata.clone(), case.gas_limit);
    let status = match (m.ok, m.ret.is_empty()) {
        (true, _) => "success",
        (false, true) => "halt",
        (false, false) => "revert",
    };
    let vector = json!({
        "precompile": spec.version,
        "schedule": spec.schedule.version,
        "name": case.name,
        "description": case.description,
        "state": state,
        "extra_accounts": extra,
        "accounts": "cold",
        "precompile_address": AIOP.to_string(),
        "calldata": hex0x(&case.calldata),
        "gas_limit": case.gas_limit,
        "status": status,
        "return_data": hex0x(&m.ret),
        "revert_text": if status == "revert" { aiop_precompile::revert::describe(&m.ret) } else { None },
        "gas_used": m.gas,
    });
    // Extra accounts are cleared so the next case sees only its own state.
    for (address, _) in &case.extra {
        probe.chain.set_code(*address, Vec::new());
    }
    (m, vector)
}

/// Writes the spec's vectors that do not exist yet; refuses to change a published one.
pub(crate) fn generate(spec: PrecompileSpec) {
    let mut probe = probe(spec);
    let (placements, cases) = cases(spec, &mut probe);
    let all = models(spec);
    std::fs::create_dir_all(dir(spec)).unwrap();
    let (mut written, mut kept) = (0, 0);
    for case in &cases {
        let (_, vector) = measure(spec, &mut probe, &all, &placements, case);
        let text = serde_json::to_string_pretty(&vector).unwrap() + "\n";
        let path = dir(spec).join(format!("{}.json", case.name));
        match std::fs::read_to_string(&path) {
            Ok(published) if published == text => kept += 1,
            Ok(_) => panic!("{} is published and would change; published vectors never change", path.display()),
            Err(_) => {
                std::fs::write(&path, text).unwrap();
                written += 1;
            }
        }
    }
    eprintln!("precompile {}: wrote {written} new vectors, {kept} unchanged", spec.version);
}

/// Checks every published vector of the spec on every kernel path this CPU has.
pub(crate) fn check(spec: PrecompileSpec) {
    let (placements, cases) = cases(spec, &mut probe(spec));
    let paths: Vec<aiop_engine::KernelPath> = aiop_engine::KernelPath::available().collect();
    for &path in &paths {
        check_on(spec, path, &placements, &cases);
    }
    let names: Vec<&str> = paths.iter().map(|p| p.name()).collect();
    eprintln!("precompile {} vectors matched on kernel paths: {}", spec.version, names.join(", "));
}

fn check_on(spec: PrecompileSpec, path: aiop_engine::KernelPath, placements: &[Placement], cases: &[Case]) {
    let mut probe = probe_on(spec, path);
    let all = models(spec);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir(spec))
        .unwrap_or_else(|e| panic!("{} exists: {e}", dir(spec).display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), cases.len(), "every case has a published vector and nothing else is there");
    let by_name: BTreeMap<String, &Case> = cases.iter().map(|c| (c.name.clone(), c)).collect();
    let mut revert_codes = std::collections::BTreeSet::new();
    for path in &files {
        let published: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let name = published["name"].as_str().unwrap().to_owned();
        let case = by_name.get(&name).unwrap_or_else(|| panic!("{name} is not a case"));
        if let Some(model) = published["state"]["model"].as_str() {
            let bytes = std::fs::read(dir(spec).join(model)).unwrap();
            assert_eq!(keccak256(&bytes).to_string(), published["state"]["model_id"], "{name}: the model file changed");
        }
        let (m, now) = measure(spec, &mut probe, &all, placements, case);
        assert_eq!(now, published, "{name}");
        if let Some((code, _, _)) = aiop_precompile::revert::decode(&m.ret) {
            revert_codes.insert(code);
        } else {
            assert!(m.ok || m.ret.is_empty(), "{name}: a revert carries something not in the code table");
        }
    }
    eprintln!(
        "precompile {} on {path}: {} vectors matched; revert codes pinned: {revert_codes:?}",
        spec.version,
        files.len()
    );
    assert!(revert_codes.len() >= 18, "every reachable revert code is pinned: {revert_codes:?}");
}
