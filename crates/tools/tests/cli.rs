//! The `aiop model quantize | eval | import-tflite` entry points, end to end on the checked-in
//! files, writing into a scratch directory.

use std::path::PathBuf;

use aiop_tools::cli::{EvalArgs, ImportTfliteArgs, QuantizeArgs, eval, import_tflite, quantize};

fn testdata(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(p)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiop-tools-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

#[test]
fn quantize_then_eval() {
    let out = scratch("mlp.aiop");
    quantize(QuantizeArgs {
        weights: testdata("float/digits_mlp.safetensors"),
        arch: testdata("float/digits_mlp.json"),
        calib: testdata("digits/train.csv"),
        calib_limit: Some(500),
        output: out.clone(),
    })
    .expect("quantize");
    aiop_engine::check(&std::fs::read(&out).expect("written")).expect("valid model");
    eval(EvalArgs {
        model: out,
        data: testdata("digits/test.csv"),
        weights: Some(testdata("float/digits_mlp.safetensors")),
        arch: Some(testdata("float/digits_mlp.json")),
        input_divisor: 1.0,
        max_drop: Some(1.0),
    })
    .expect("eval");
}

#[test]
fn eval_fails_over_max_drop() {
    // The random-weight model is at chance level: far below the float model.
    let err = eval(EvalArgs {
        model: testdata("models/digits_mlp_random.aiop"),
        data: testdata("digits/test.csv"),
        weights: Some(testdata("float/digits_mlp.safetensors")),
        arch: Some(testdata("float/digits_mlp.json")),
        input_divisor: 1.0,
        max_drop: Some(0.5),
    })
    .expect_err("must fail");
    assert!(err.to_string().contains("below float"), "{err}");
}

#[test]
fn import_tflite_writes_a_valid_model_and_names_unsupported_ops() {
    let out = scratch("conv_pool.aiop");
    import_tflite(ImportTfliteArgs { input: testdata("tflite/conv_pool.tflite"), output: out.clone() })
        .expect("import");
    aiop_engine::check(&std::fs::read(&out).expect("written")).expect("valid model");
    let err =
        import_tflite(ImportTfliteArgs { input: testdata("tflite/unsupported_sub.tflite"), output: scratch("x.aiop") })
            .expect_err("SUB");
    assert!(format!("{err:#}").contains("operator 0 is SUB"), "{err:#}");
    let err = import_tflite(ImportTfliteArgs { input: testdata("digits/README.md"), output: scratch("y.aiop") })
        .expect_err("not a flatbuffer");
    assert!(format!("{err:#}").contains("not a TensorFlow Lite flatbuffer"), "{err:#}");
}
