//! Writes golden vectors for the trained digits models (`testdata/models/digits_{mlp,cnn,vit}.aiop`)
//! into `testdata/vectors/engine/`, in the same shape as the engine's own vectors.
//!
//! Inputs: the three constant extremes (`min`, `max`, `zero`) and the first test-split image of
//! each digit (`digit0` ... `digit9`), quantized as `pixel * 15 - 128`.
//!
//! Golden vectors are published once and never change: this refuses to overwrite a file whose
//! content would differ. `cargo run -p aiop-tools --example make_vectors`

use std::fs;
use std::path::{Path, PathBuf};

use aiop_engine::{Cost, KernelPath, LoadedModel, model_id};
use aiop_tools::data::Dataset;
use aiop_tools::eval::{quantize_input, top1};

fn publish(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    match fs::read(path) {
        Ok(existing) if existing == content => Ok(()),
        Ok(_) => anyhow::bail!("{} is published and would change; golden files never change", path.display()),
        Err(_) => Ok(fs::write(path, content)?),
    }
}

fn cost_json(c: &Cost) -> serde_json::Value {
    serde_json::json!({
        "ops": c.ops, "macs": c.macs, "elements": c.elements,
        "transcendentals": c.transcendentals, "arena_bytes": c.arena_bytes,
    })
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let test = Dataset::load_csv(&root.join("digits/test.csv"))?;
    let models = [
        (
            "digits_mlp",
            "8x8 digits MLP 64-32-10 + Softmax, trained (testdata/float/digits_mlp.*), int8 by aiop-tools quantize",
        ),
        (
            "digits_cnn",
            "8x8 digits CNN conv3x3x8-maxpool-conv3x3x16-maxpool-FC10, trained (testdata/float/digits_cnn.*), int8 by aiop-tools quantize",
        ),
        (
            "digits_vit",
            "8x8 digits vision transformer (4 patches of 4x4, width 32, 2 heads, 2 blocks), format v3, trained (testdata/float/digits_vit.*), int8 by aiop-tools quantize --format-version 3",
        ),
    ];
    let mut count = 0;
    for (name, description) in models {
        let bytes = fs::read(root.join(format!("models/{name}.aiop")))?;
        let model = LoadedModel::load(&bytes, KernelPath::Reference)?;
        let len = model.input_len();
        let mut inputs: Vec<(String, String, Vec<u8>)> = vec![
            ("min".into(), "input: min".into(), vec![0x80; len]),
            ("max".into(), "input: max".into(), vec![0x7f; len]),
            ("zero".into(), "input: zero".into(), vec![0; len]),
        ];
        for digit in 0..10 {
            let (index, sample) = test
                .samples
                .iter()
                .enumerate()
                .find(|(_, s)| s.label == digit)
                .ok_or_else(|| anyhow::anyhow!("no test image of digit {digit}"))?;
            let input = quantize_input(&model, &sample.values, 16.0)?;
            let predicted = top1(&model, &model.run(&input)?);
            inputs.push((
                format!("digit{digit}"),
                format!("input: testdata/digits/test.csv row {} (label {digit}, predicted {predicted})", index + 1),
                input,
            ));
        }
        for (label, what, input) in inputs {
            let output = model.run(&input)?;
            let vector = serde_json::json!({
                "description": format!("{description}; {what}"),
                "model": format!("../../models/{name}.aiop"),
                "model_id": format!("0x{}", hex::encode(model_id(&bytes))),
                "input": format!("0x{}", hex::encode(&input)),
                "output": format!("0x{}", hex::encode(&output)),
                "cost": cost_json(model.cost()),
            });
            let text = serde_json::to_string_pretty(&vector)? + "\n";
            publish(&root.join(format!("vectors/engine/{name}-{label}.json")), text.as_bytes())?;
            count += 1;
        }
    }
    println!("{count} vectors for the trained digits models");
    Ok(())
}
