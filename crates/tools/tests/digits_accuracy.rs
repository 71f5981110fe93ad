//! The shipped digits models keep their float accuracy after quantization: int8 top-1 on the
//! held-out test split is at most 0.5 percentage points below the float model's.

use std::path::PathBuf;

use aiop_engine::FormatVersion;
use aiop_tools::arch::{Arch, load_weights};
use aiop_tools::data::Dataset;
use aiop_tools::eval::evaluate;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

const MAX_DROP_POINTS: f64 = 0.5;

fn check(name: &str, min_float: f64) {
    let arch = Arch::load(&root().join(format!("float/{name}.json"))).expect("arch");
    let params = load_weights(&arch, &root().join(format!("float/{name}.safetensors"))).expect("weights");
    let test = Dataset::load_csv(&root().join("digits/test.csv")).expect("test split");
    assert_eq!(test.len(), 360);
    let bytes = std::fs::read(root().join(format!("models/{name}.aiop"))).expect("model");
    let report = evaluate(&bytes, &test, Some((&arch, &params)), 1.0, false).expect("eval");
    println!("{name}\n{report}");
    let float = report.float_accuracy().expect("float accuracy");
    assert!(float >= min_float, "{name}: float accuracy {float:.2}% is below {min_float}%");
    assert!(
        report.int8_accuracy() >= float - MAX_DROP_POINTS,
        "{name}: int8 {:.2}% is more than {MAX_DROP_POINTS} points below float {float:.2}%",
        report.int8_accuracy()
    );
    assert!(report.agreement_rate().expect("agreement") >= 98.0, "{name}: int8 and float disagree too often");
}

#[test]
fn digits_mlp_int8_within_half_a_point_of_float() {
    check("digits_mlp", 96.0);
}

#[test]
fn digits_cnn_int8_within_half_a_point_of_float() {
    check("digits_cnn", 98.0);
}

/// Quantizing the checked-in float weights again (calibrating on the train split) gives a valid
/// model that also meets the threshold: the `quantize` path itself is tested, not only its output.
#[test]
fn requantizing_meets_the_threshold() {
    let train = Dataset::load_csv(&root().join("digits/train.csv")).expect("train split");
    let test = Dataset::load_csv(&root().join("digits/test.csv")).expect("test split");
    for name in ["digits_mlp", "digits_cnn"] {
        let arch = Arch::load(&root().join(format!("float/{name}.json"))).expect("arch");
        let params = load_weights(&arch, &root().join(format!("float/{name}.safetensors"))).expect("weights");
        let cal = aiop_tools::quantize::calibrate(&arch, &params, &train, false).expect("calibrate");
        for version in FormatVersion::ALL {
            let model = aiop_tools::quantize::quantize(&arch, &params, &cal, version).expect("quantize");
            let bytes = aiop_engine::encode(&model).expect("valid model");
            if version == FormatVersion::V1 {
                // Format v1 quantization is unchanged: it reproduces the published model.
                let published = std::fs::read(root().join(format!("models/{name}.aiop"))).expect("model");
                assert!(bytes == published, "{name}: v1 quantization no longer reproduces the published model");
            }
            let report = evaluate(&bytes, &test, Some((&arch, &params)), 1.0, false).expect("eval");
            let float = report.float_accuracy().expect("float");
            assert!(report.int8_accuracy() >= float - MAX_DROP_POINTS, "{name} {version}: {report}");
        }
    }
}
