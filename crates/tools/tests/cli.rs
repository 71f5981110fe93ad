//! The `aiop model quantize | eval | import-tflite` entry points, end to end on the checked-in
//! files, writing into a scratch directory.

use std::path::PathBuf;

use aiop_tools::cli::{EvalArgs, ImportTfliteArgs, QuantizeArgs, TrainArgs, eval, import_tflite, quantize, train};

fn testdata(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(p)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiop-tools-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

#[test]
fn train_is_reproducible_and_its_weights_quantize() {
    let run = |name: &str| {
        let output = scratch(name);
        train(TrainArgs {
            arch: testdata("float/digits_mlp.json"),
            data: testdata("digits/train.csv"),
            output: output.clone(),
            epochs: 2,
            seed: 7,
            learning_rate: 3e-3,
            weight_decay: 1e-4,
            cosine: false,
            shift: 0,
            qat_epochs: 0,
        })
        .expect("train");
        output
    };
    let (first, second) = (run("trained_a.safetensors"), run("trained_b.safetensors"));
    assert_eq!(
        std::fs::read(&first).expect("written"),
        std::fs::read(&second).expect("written"),
        "same seed, same weights"
    );
    let model = scratch("trained.aiop");
    quantize(QuantizeArgs {
        weights: first,
        arch: testdata("float/digits_mlp.json"),
        calib: testdata("digits/train.csv"),
        calib_limit: Some(200),
        output: model.clone(),
        format_version: 2,
    })
    .expect("the trained weights quantize");
    aiop_engine::check(&std::fs::read(&model).expect("written")).expect("valid model");
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
        format_version: 2,
    })
    .expect("quantize");
    let header = aiop_engine::check(&std::fs::read(&out).expect("written")).expect("valid model");
    assert_eq!(header.version, 2, "quantize writes format v2 by default");
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
    let args = |input: &str, output: &str, format_version: u8| ImportTfliteArgs {
        input: testdata(input),
        output: scratch(output),
        format_version,
    };
    for (version, name) in [(1, "conv_pool_v1.aiop"), (2, "conv_pool_v2.aiop")] {
        import_tflite(args("tflite/conv_pool.tflite", name, version)).expect("import");
        let header = aiop_engine::check(&std::fs::read(scratch(name)).expect("written")).expect("valid model");
        assert_eq!(header.version, version);
    }
    // SUB is a format v2 op: v1 names it; v2 imports it (this hand-made file's second SUB input
    // is written by nothing, which the engine's validation then reports).
    let err = import_tflite(args("tflite/unsupported_sub.tflite", "x.aiop", 1)).expect_err("SUB");
    assert!(format!("{err:#}").contains("operator 0 is SUB"), "{err:#}");
    let err = import_tflite(args("tflite/unsupported_sub.tflite", "sub.aiop", 2)).expect_err("dangling input");
    assert!(format!("{err:#}").contains("failed engine validation"), "{err:#}");
    let err = import_tflite(args("digits/README.md", "y.aiop", 2)).expect_err("not a flatbuffer");
    assert!(format!("{err:#}").contains("not a TensorFlow Lite flatbuffer"), "{err:#}");
}

/// `--format-version` defaults to 2 and takes only 1 or 2.
#[test]
fn format_version_flag() {
    use clap::Parser;
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ImportTfliteArgs,
    }
    let parsed = Cli::try_parse_from(["aiop", "in.tflite", "-o", "out.aiop"]).expect("parse");
    assert_eq!(parsed.args.format_version, 2);
    let parsed = Cli::try_parse_from(["aiop", "in.tflite", "-o", "out.aiop", "--format-version", "1"]).expect("parse");
    assert_eq!(parsed.args.format_version, 1);
    assert!(Cli::try_parse_from(["aiop", "in.tflite", "-o", "out.aiop", "--format-version", "3"]).is_err());
}

/// A vision transformer trains (with quantization-aware fine-tuning), quantizes only as
/// format v3, and its model is valid.
#[test]
fn vit_trains_and_quantizes_as_v3() {
    let weights = scratch("vit.safetensors");
    train(TrainArgs {
        arch: testdata("float/digits_vit.json"),
        data: testdata("digits/train.csv"),
        output: weights.clone(),
        epochs: 1,
        seed: 3,
        learning_rate: 1e-3,
        weight_decay: 0.1,
        cosine: true,
        shift: 1,
        qat_epochs: 1,
    })
    .expect("train");
    let args = |format_version: u8| QuantizeArgs {
        weights: weights.clone(),
        arch: testdata("float/digits_vit.json"),
        calib: testdata("digits/train.csv"),
        calib_limit: Some(100),
        output: scratch("vit.aiop"),
        format_version,
    };
    let err = quantize(args(2)).expect_err("v2 has no transformer ops");
    assert!(format!("{err:#}").contains("needs format v3"), "{err:#}");
    quantize(args(3)).expect("quantize");
    let header = aiop_engine::check(&std::fs::read(scratch("vit.aiop")).expect("written")).expect("valid model");
    assert_eq!(header.version, 3);
}
