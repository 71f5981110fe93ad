//! The digits pipeline: trains the float MLP and CNN on `testdata/digits/train.csv`, saves
//! them to `testdata/float/`, quantizes them (calibrated on the train split) to
//! `testdata/models/digits_{mlp,cnn}.aiop`, and evaluates both on the test split.
//!
//! `cargo run --release -p aiop-tools --example digits [-- --retrain]`
//!
//! Without `--retrain` the checked-in float weights are kept and only quantization and
//! evaluation run. The shipped `.aiop` models have published vectors: this refuses to replace
//! one with different bytes (delete it by hand only before the model is first published).

use std::path::{Path, PathBuf};

use aiop_tools::arch::{Arch, load_weights};
use aiop_tools::data::Dataset;
use aiop_tools::train::{TrainConfig, save, train};

fn publish(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    match std::fs::read(path) {
        Ok(existing) if existing == bytes => Ok(()),
        Ok(_) => anyhow::bail!("{} exists with other bytes; published models never change", path.display()),
        Err(_) => Ok(std::fs::write(path, bytes)?),
    }
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let retrain = std::env::args().any(|a| a == "--retrain");
    let train_set = Dataset::load_csv(&root.join("digits/train.csv"))?;
    let test_set = Dataset::load_csv(&root.join("digits/test.csv"))?;
    for (name, epochs) in [("digits_mlp", 80), ("digits_cnn", 60)] {
        let arch = Arch::load(&root.join(format!("float/{name}.json")))?;
        let weights = root.join(format!("float/{name}.safetensors"));
        if retrain || !weights.exists() {
            println!("training {name}");
            let config = TrainConfig { epochs, ..Default::default() };
            let params = train(&arch, &train_set, &config, |l| println!("  {l}"))?;
            save(&params, &weights)?;
        }
        let params = load_weights(&arch, &weights)?;
        let cal = aiop_tools::quantize::calibrate(&arch, &params, &train_set, true)?;
        // The published models are format v1; their bytes never change.
        let model = aiop_tools::quantize::quantize(&arch, &params, &cal, aiop_engine::FormatVersion::V1)?;
        let bytes = aiop_engine::encode(&model)?;
        let report = aiop_tools::eval::evaluate(&bytes, &test_set, Some((&arch, &params)), 1.0, false)?;
        println!("{name}: {} bytes, {} MACs\n{report}", bytes.len(), aiop_engine::check(&bytes)?.cost.macs);
        publish(&root.join(format!("models/{name}.aiop")), &bytes)?;
    }
    Ok(())
}
