//! The `aiop model ...` subcommands: clap argument structs and one `run` function each, for
//! the `aiop` binary to wire in (`aiop model quantize | eval | import-tflite | train`).

use std::path::PathBuf;

use aiop_engine::FormatVersion;
use anyhow::Context;
use clap::Args;

use crate::arch::{Arch, load_weights};
use crate::data::Dataset;
use crate::error::{read, write};

/// `aiop model quantize`: float weights + architecture + calibration data -> aiop model.
#[derive(Debug, Clone, Args)]
pub struct QuantizeArgs {
    /// Float weights (safetensors; names `<layer>.weight`, `<layer>.bias`).
    #[arg(long)]
    pub weights: PathBuf,
    /// Architecture description (JSON; see docs/models.md).
    #[arg(long)]
    pub arch: PathBuf,
    /// Calibration data (CSV `label,v0,v1,...`), usually the training split.
    #[arg(long)]
    pub calib: PathBuf,
    /// Use only the first N calibration samples.
    #[arg(long)]
    pub calib_limit: Option<usize>,
    /// Where to write the aiop model.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Model-format version to write: 2 (TensorFlow Lite Micro semantics, double rounding),
    /// 1 (single rounding), or 3 (version 2 and the transformer ops; a `vit` architecture needs it).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub format_version: u8,
}

/// `aiop model eval`: int8 accuracy through the engine (and float accuracy through candle).
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// The aiop model.
    pub model: PathBuf,
    /// Labelled data (CSV `label,v0,v1,...`), e.g. testdata/digits/test.csv.
    #[arg(long)]
    pub data: PathBuf,
    /// Float weights to compare with (needs --arch).
    #[arg(long, requires = "arch")]
    pub weights: Option<PathBuf>,
    /// Architecture description of the float model (needs --weights).
    #[arg(long, requires = "weights")]
    pub arch: Option<PathBuf>,
    /// Divide each data value by this before quantizing it (when no --arch gives it).
    #[arg(long, default_value_t = 1.0)]
    pub input_divisor: f32,
    /// Fail (exit status 1) when int8 accuracy is more than this many percentage points below float.
    #[arg(long)]
    pub max_drop: Option<f64>,
}

/// `aiop model import-tflite`: an int8 .tflite model -> aiop model.
#[derive(Debug, Clone, Args)]
pub struct ImportTfliteArgs {
    /// The .tflite file (int8 weights and activations).
    pub input: PathBuf,
    /// Where to write the aiop model.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Model-format version to write: 2 (TensorFlow Lite Micro's int8 kernels, double rounding;
    /// adds SUB, CONCATENATION, PAD, PADV2, MEAN, QUANTIZE, HARD_SWISH, LEAKY_RELU, SQUEEZE,
    /// EXPAND_DIMS) or 1 (single rounding; refuses the operators it lacks, by name).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub format_version: u8,
}

/// The model-format version a `--format-version` value names.
pub fn format_version(value: u8) -> anyhow::Result<FormatVersion> {
    FormatVersion::from_byte(value).ok_or_else(|| anyhow::anyhow!("format version {value}: aiop has versions 1 to 3"))
}

/// `aiop model train`: trains a float model (candle-nn) and saves safetensors.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// The architecture JSON (as `quantize` takes it).
    #[arg(long)]
    pub arch: PathBuf,
    /// Training data (CSV `label,v0,v1,...`).
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the float weights (safetensors).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Passes over the data.
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    /// Seed of the initial weights and the shuffling: the same seed gives the same weights.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// AdamW's learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub learning_rate: f64,
    /// AdamW's weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Decay the learning rate to zero along a half cosine.
    #[arg(long)]
    pub cosine: bool,
    /// Move each training image by up to this many pixels (augmentation; 0: none).
    #[arg(long, default_value_t = 0)]
    pub shift: usize,
    /// A vision transformer only: after the float epochs, this many epochs of
    /// quantization-aware fine-tuning (int8 tensors simulated with ranges calibrated on the
    /// training data, at a tenth of the learning rate).
    #[arg(long, default_value_t = 0)]
    pub qat_epochs: usize,
}

/// Runs `aiop model quantize`: writes the model and prints a one-line summary of it.
pub fn quantize(args: QuantizeArgs) -> anyhow::Result<()> {
    let arch = Arch::load(&args.arch)?;
    let params = load_weights(&arch, &args.weights)?;
    let calib = Dataset::load_csv(&args.calib)?.take(args.calib_limit);
    let version = format_version(args.format_version)?;
    let model = if arch.vit.is_some() {
        let ranges = crate::vit::calibrate(&arch, &params, &calib, None, true)?;
        crate::vit::quantize(&arch, &params, &ranges, version)?
    } else {
        let cal = crate::quantize::calibrate(&arch, &params, &calib, true)?;
        crate::quantize::quantize(&arch, &params, &cal, version)?
    };
    let bytes = aiop_engine::encode(&model).context("the quantized model failed engine validation")?;
    write(&args.output, &bytes)?;
    let header = aiop_engine::check(&bytes)?;
    println!(
        "{}: format {}, {} bytes, {} ops, {} MACs, id 0x{}",
        args.output.display(),
        model.version,
        bytes.len(),
        model.ops.len(),
        header.cost.macs,
        hex::encode(aiop_engine::model_id(&bytes))
    );
    Ok(())
}

/// Runs `aiop model eval`: prints the report, and fails when int8 accuracy is more than
/// `--max-drop` points below float.
pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let bytes = read(&args.model)?;
    let data = Dataset::load_csv(&args.data)?;
    let float = match (&args.arch, &args.weights) {
        (Some(a), Some(w)) => {
            let arch = Arch::load(a)?;
            let params = load_weights(&arch, w)?;
            Some((arch, params))
        }
        _ => None,
    };
    let report = crate::eval::evaluate(&bytes, &data, float.as_ref().map(|(a, p)| (a, p)), args.input_divisor, true)?;
    print!("{report}");
    if let (Some(max), Some(fl)) = (args.max_drop, report.float_accuracy()) {
        let drop = fl - report.int8_accuracy();
        anyhow::ensure!(drop <= max, "int8 accuracy is {drop:.2} points below float, over the allowed {max}");
    }
    Ok(())
}

/// Runs `aiop model import-tflite`: writes the model and prints a one-line summary of it.
pub fn import_tflite(args: ImportTfliteArgs) -> anyhow::Result<()> {
    let data = read(&args.input)?;
    let model = crate::tflite::import(&data, format_version(args.format_version)?)
        .with_context(|| format!("importing {}", args.input.display()))?;
    let bytes = aiop_engine::encode(&model).context("the imported model failed engine validation")?;
    write(&args.output, &bytes)?;
    println!(
        "{}: format {}, {} bytes, {} ops, id 0x{}",
        args.output.display(),
        model.version,
        bytes.len(),
        model.ops.len(),
        hex::encode(aiop_engine::model_id(&bytes))
    );
    Ok(())
}

/// Runs `aiop model train`: trains, prints the mean loss every ten epochs, and writes the
/// safetensors.
pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    let arch = Arch::load(&args.arch)?;
    let data = Dataset::load_csv(&args.data)?;
    let config = crate::train::TrainConfig {
        epochs: args.epochs,
        seed: args.seed,
        learning_rate: args.learning_rate,
        weight_decay: args.weight_decay,
        cosine: args.cosine,
        shift: args.shift,
        ..Default::default()
    };
    let mut params = crate::train::train(&arch, &data, &config, |line| println!("{line}"))?;
    if args.qat_epochs > 0 {
        anyhow::ensure!(arch.vit.is_some(), "--qat-epochs needs a vit architecture");
        let ranges = crate::vit::calibrate(&arch, &params, &data, None, false)?;
        let qat =
            crate::train::TrainConfig { epochs: args.qat_epochs, learning_rate: args.learning_rate / 10.0, ..config };
        println!("quantization-aware fine-tuning");
        params = crate::vit::fine_tune(&arch, &params, &data, &qat, &ranges, |line| println!("{line}"))?;
    }
    crate::train::save(&params, &args.output)?;
    println!("{}: saved", args.output.display());
    Ok(())
}
