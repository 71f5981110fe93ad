//! The shipped vision transformer (`testdata/models/digits_vit.aiop`, format v3): its int8 top-1
//! through the engine on the held-out test split is within 1 percentage point of its float
//! model's, quantizing the checked-in float weights again reproduces the published bytes, and
//! the float simulation of the int8 model the quantizer calibrates with agrees with the engine.

use std::path::PathBuf;

use aiop_engine::{FormatVersion, KernelPath, LoadedModel};
use aiop_tools::arch::{Arch, load_weights};
use aiop_tools::data::Dataset;
use aiop_tools::eval::{evaluate, int8_predictions, quantize_input};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

const MAX_DROP_POINTS: f64 = 1.0;

fn load() -> (Arch, std::collections::HashMap<String, candle_core::Tensor>, Dataset, Dataset) {
    let arch = Arch::load(&root().join("float/digits_vit.json")).expect("arch");
    let params = load_weights(&arch, &root().join("float/digits_vit.safetensors")).expect("weights");
    let train = Dataset::load_csv(&root().join("digits/train.csv")).expect("train split");
    let test = Dataset::load_csv(&root().join("digits/test.csv")).expect("test split");
    (arch, params, train, test)
}

#[test]
fn digits_vit_int8_within_a_point_of_float() {
    let (arch, params, _, test) = load();
    assert_eq!(test.len(), 360);
    let bytes = std::fs::read(root().join("models/digits_vit.aiop")).expect("model");
    assert_eq!(aiop_engine::check(&bytes).expect("valid").version, 3);
    let report = evaluate(&bytes, &test, Some((&arch, &params)), 1.0, false).expect("eval");
    println!("digits_vit\n{report}");
    let float = report.float_accuracy().expect("float accuracy");
    assert!(float >= 96.0, "float accuracy {float:.2}% is below 96%");
    assert!(
        report.int8_accuracy() >= float - MAX_DROP_POINTS,
        "int8 {:.2}% is more than {MAX_DROP_POINTS} point below float {float:.2}%",
        report.int8_accuracy()
    );
    assert!(report.agreement_rate().expect("agreement") >= 98.0, "int8 and float disagree too often");
}

/// Every kernel path this CPU has computes the reference path's output bytes on every test image.
#[test]
fn digits_vit_is_the_same_on_every_kernel_path() {
    let (_, _, _, test) = load();
    let bytes = std::fs::read(root().join("models/digits_vit.aiop")).expect("model");
    let reference = LoadedModel::load(&bytes, KernelPath::Reference).expect("load");
    for path in KernelPath::available() {
        let model = LoadedModel::load(&bytes, path).expect("load");
        for (i, s) in test.samples.iter().enumerate() {
            let input = quantize_input(&model, &s.values, 16.0).expect("input");
            assert_eq!(model.run(&input).expect("run"), reference.run(&input).expect("run"), "{path}, image {i}");
        }
    }
}

/// Calibrating on the train split and quantizing the checked-in float weights gives the
/// published bytes; and the float simulation of that int8 model (every int8 tensor rounded to
/// its calibrated steps) picks the engine's class on nearly every test image.
#[test]
fn requantizing_reproduces_the_published_model() {
    let (arch, params, train, test) = load();
    let ranges = aiop_tools::vit::calibrate(&arch, &params, &train, None, false).expect("calibrate");
    let model = aiop_tools::vit::quantize(&arch, &params, &ranges, FormatVersion::V3).expect("quantize");
    let bytes = aiop_engine::encode(&model).expect("valid model");
    let published = std::fs::read(root().join("models/digits_vit.aiop")).expect("model");
    assert!(bytes == published, "quantization no longer reproduces the published model");

    let engine = int8_predictions(&bytes, &test, arch.input_divisor, false).expect("engine");
    let rows: Vec<&[f32]> = test.samples.iter().map(|s| s.values.as_slice()).collect();
    let simulated = aiop_tools::vit::predict(&arch, &params, &rows, Some(&ranges)).expect("simulation");
    let same = engine.iter().zip(&simulated).filter(|(a, b)| a == b).count();
    assert!(same * 100 >= test.len() * 98, "the simulation agrees with the engine on only {same} of {}", test.len());
    for version in [FormatVersion::V1, FormatVersion::V2] {
        let err = aiop_tools::vit::quantize(&arch, &params, &ranges, version).expect_err("needs v3");
        assert!(err.to_string().contains("needs format v3"), "{err}");
    }
}
