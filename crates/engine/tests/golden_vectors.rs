//! Every published golden vector, under every kernel path this CPU has: same output bytes,
//! same cost, same model id. A vector that stops matching is a consensus break.

use std::fs;
use std::path::{Path, PathBuf};

use aiop_engine::{KernelPath, LoadedModel, model_id};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/engine")
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).expect("vector hex")
}

fn load_vectors() -> Vec<(PathBuf, serde_json::Value)> {
    let mut files: Vec<PathBuf> = fs::read_dir(vectors_dir())
        .expect("testdata/vectors/engine exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let v = serde_json::from_str(&fs::read_to_string(&p).expect("read vector")).expect("vector json");
            (p, v)
        })
        .collect()
}

fn model_bytes(vector_path: &Path, v: &serde_json::Value) -> Vec<u8> {
    let model = vector_path.parent().unwrap().join(v["model"].as_str().expect("model path"));
    fs::read(&model).unwrap_or_else(|e| panic!("{}: {e}", model.display()))
}

#[test]
fn every_vector_matches_on_every_available_path() {
    let vectors = load_vectors();
    assert!(vectors.len() >= 40, "expected the published vectors, found {}", vectors.len());
    let paths: Vec<KernelPath> = KernelPath::available().collect();
    eprintln!("golden vectors: {} files, kernel paths run on this CPU: {paths:?}", vectors.len());
    for (path, v) in &vectors {
        let bytes = model_bytes(path, v);
        assert_eq!(
            format!("0x{}", hex::encode(model_id(&bytes))),
            v["model_id"].as_str().unwrap(),
            "{}",
            path.display()
        );
        let input = unhex(v["input"].as_str().unwrap());
        let expected = unhex(v["output"].as_str().unwrap());
        for &kernels in &paths {
            let model = LoadedModel::load(&bytes, kernels).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let output = model.run(&input).unwrap();
            assert_eq!(hex::encode(&output), hex::encode(&expected), "{} on {kernels}", path.display());
            let c = model.cost();
            let cost = &v["cost"];
            assert_eq!(
                (c.ops, c.macs, c.elements, c.transcendentals, c.arena_bytes),
                (
                    cost["ops"].as_u64().unwrap(),
                    cost["macs"].as_u64().unwrap(),
                    cost["elements"].as_u64().unwrap(),
                    cost["transcendentals"].as_u64().unwrap(),
                    cost["arena_bytes"].as_u64().unwrap()
                ),
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn every_model_in_testdata_reencodes_to_the_same_bytes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models");
    let mut seen = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "aiop") {
            let bytes = fs::read(&path).unwrap();
            let model = aiop_engine::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(aiop_engine::encode(&model).unwrap(), bytes, "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 2);
}
