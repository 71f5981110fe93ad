//! `aiop model ...`: look inside a model file and run it on the command line.

use aiop_precompile::storage::Layout;
use std::fmt::Write as _;
use std::path::PathBuf;

use aiop_engine::limits::{MAX_ARENA_BYTES, MAX_MACS, MAX_MODEL_BYTES, MAX_OPS, MAX_TENSORS};
use aiop_engine::{Clamp, ConvWindow, KernelChoice, LoadedModel, Model, Op, Padding, PoolWindow, Scale, TensorInfo};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::input::{parse_bytes_arg, read_model_file};

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Show a model's id, input and output, every op with its shapes and cost, and how close
    /// the model is to the engine's limits.
    Inspect(InspectArgs),
    /// Run a model on one input and print the output bytes as hex; `--inputs FILE` runs a
    /// batch (one 0x-hex input per line) and prints one 0x-hex output per line.
    Run(RunArgs),
    /// Train a float model of an architecture JSON on a CSV data set (deterministic for a
    /// seed); writes the weights as safetensors for `quantize`.
    Train(aiop_tools::cli::TrainArgs),
    /// Quantize a float model (safetensors + architecture JSON) to an aiop model, calibrating
    /// activation ranges on sample data.
    Quantize(aiop_tools::cli::QuantizeArgs),
    /// Top-1 accuracy of an aiop model on a data set, beside its float original when given.
    Eval(aiop_tools::cli::EvalArgs),
    /// Convert an int8 TensorFlow Lite model to an aiop model; unsupported ops are named.
    /// Bit-exact with LiteRT's reference kernels except CONV_2D, DEPTHWISE_CONV_2D and MUL,
    /// where LiteRT rounds twice and aiop once (±1 on rounding ties; docs/models.md).
    ImportTflite(aiop_tools::cli::ImportTfliteArgs),
    /// Deploy a model as a data contract through a node's JSON-RPC; prints its address.
    Deploy(aiop_node::cli::ModelDeployArgs),
    /// Call the inference precompile on a deployed model through a node's JSON-RPC.
    Call(aiop_node::cli::ModelCallArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The `.aiop` model file.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The `.aiop` model file.
    pub file: PathBuf,
    /// The input tensor's bytes: `0x`-prefixed hex, or `@path` to a file of raw bytes or of
    /// `0x` hex text.
    #[arg(long, value_name = "0xHEX|@PATH", required_unless_present = "inputs", conflicts_with = "inputs")]
    pub input: Option<String>,
    /// A batch of inputs: a text file (or `-` for stdin) with one `0x` hex input per line;
    /// blank lines are skipped. Prints one `0x` hex output per line, in the same order. The
    /// model is loaded once, so this is the fast way to run many inputs.
    #[arg(long, value_name = "FILE|-")]
    pub inputs: Option<PathBuf>,
    /// Kernel path: `auto` (fastest this CPU has), `reference`, `avx2`, `avx512` or `amx`. Every path
    /// gives the same bytes; forcing one the CPU lacks is an error.
    #[arg(long, env = "AIOP_KERNELS", default_value = "auto")]
    pub kernels: KernelChoice,
    /// Print JSON (output, model id, cost, kernel path) instead of the bare output hex; with
    /// `--inputs`, `outputs` is the list of outputs.
    #[arg(long)]
    pub json: bool,
    /// Time the model: after the first run, run the same input N more times and report the
    /// wall time per run (median and fastest, in nanoseconds; on stderr, or as `timing` with
    /// `--json`). The model stays loaded, so this is the time of `run` alone, on one thread.
    #[arg(long, value_name = "N", conflicts_with = "inputs", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub repeat: Option<u32>,
}

pub(crate) fn run(command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Inspect(args) => inspect(&args),
        ModelCommand::Run(args) => run_model(&args),
        ModelCommand::Train(args) => aiop_tools::cli::train(args),
        ModelCommand::Quantize(args) => aiop_tools::cli::quantize(args),
        ModelCommand::Eval(args) => aiop_tools::cli::eval(args),
        ModelCommand::ImportTflite(args) => aiop_tools::cli::import_tflite(args),
        ModelCommand::Deploy(args) => aiop_node::cli::run_model_deploy(args),
        ModelCommand::Call(args) => aiop_node::cli::run_model_call(args),
    }
}

fn load(file: &std::path::Path, kernels: KernelChoice) -> Result<(Vec<u8>, LoadedModel)> {
    let bytes = read_model_file(file)?;
    let path = kernels.resolve().context("choosing the kernel path")?;
    let model =
        LoadedModel::load(&bytes, path).with_context(|| format!("`{}` is not a valid aiop model", file.display()))?;
    Ok((bytes, model))
}

fn run_model(args: &RunArgs) -> Result<()> {
    let (bytes, model) = load(&args.file, args.kernels)?;
    if let Some(file) = &args.inputs {
        return run_batch(args, file, &bytes, &model);
    }
    let input = parse_bytes_arg(args.input.as_deref().unwrap_or_default())?;
    let output = model.run(&input)?;
    let timing = args.repeat.map(|runs| time_runs(&model, &input, runs)).transpose()?;
    if args.json {
        let mut report = json!({
            "model_id": hex0x(&aiop_engine::model_id(&bytes)),
            "kernels": model.path().name(),
            "output": hex0x(&output),
            "cost": cost_json(model.cost()),
        });
        if let Some(timing) = &timing {
            report["timing"] = timing.to_json();
        }
        crate::output::emit(&serde_json::to_string_pretty(&report)?)?;
    } else {
        crate::output::emit(&hex0x(&output))?;
        if let Some(timing) = &timing {
            eprintln!(
                "{} runs on {}: median {} ns, fastest {} ns",
                timing.samples.len(),
                model.path().name(),
                timing.median_ns(),
                timing.fastest_ns()
            );
        }
    }
    Ok(())
}

/// Wall times of repeated runs of one input, in nanoseconds, in the order they ran.
struct RunTiming {
    samples: Vec<u64>,
}

impl RunTiming {
    fn sorted(&self) -> Vec<u64> {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        sorted
    }

    fn median_ns(&self) -> u64 {
        let sorted = self.sorted();
        sorted[sorted.len() / 2]
    }

    fn fastest_ns(&self) -> u64 {
        self.samples.iter().copied().min().unwrap_or_default()
    }

    fn to_json(&self) -> serde_json::Value {
        json!({ "runs": self.samples.len(), "median_ns": self.median_ns(), "fastest_ns": self.fastest_ns(), "samples_ns": self.samples })
    }
}

/// `runs` more runs of `input` (the first run, already done, warmed the caches).
fn time_runs(model: &LoadedModel, input: &[u8], runs: u32) -> Result<RunTiming> {
    let mut samples = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let start = std::time::Instant::now();
        std::hint::black_box(model.run(std::hint::black_box(input))?);
        samples.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    Ok(RunTiming { samples })
}

/// `aiop model run FILE --inputs LIST`: one model load, one output line per input line.
fn run_batch(args: &RunArgs, file: &std::path::Path, bytes: &[u8], model: &LoadedModel) -> Result<()> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin().lock()).context("cannot read inputs from stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read inputs file `{}`", file.display()))?
    };
    let mut outputs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let where_ = || format!("`{}` line {}", file.display(), number + 1);
        if line.starts_with('@') {
            anyhow::bail!("{}: each line is one 0x-hex input, not @path", where_());
        }
        let input = parse_bytes_arg(line).with_context(where_)?;
        let output = model.run(&input).with_context(where_)?;
        outputs.push(hex0x(&output));
    }
    if args.json {
        let report = json!({
            "model_id": hex0x(&aiop_engine::model_id(bytes)),
            "kernels": model.path().name(),
            "outputs": outputs,
            "cost": cost_json(model.cost()),
        });
        crate::output::emit(&serde_json::to_string_pretty(&report)?)?;
    } else if !outputs.is_empty() {
        crate::output::emit(&outputs.join("\n"))?;
    }
    Ok(())
}

fn inspect(args: &InspectArgs) -> Result<()> {
    // Inspection never runs kernels; the reference path is always available.
    let (bytes, loaded) = load(&args.file, KernelChoice::Force(aiop_engine::KernelPath::Reference))?;
    let model = loaded.model();
    let cost = loaded.cost();
    let ops: Vec<OpRow> = model.ops.iter().zip(loaded.op_costs()).map(|(op, c)| OpRow::new(model, op, c)).collect();

    if args.json {
        let report = json!({
            "file": args.file.display().to_string(),
            "model_id": hex0x(&aiop_engine::model_id(&bytes)),
            "bytes": bytes.len(),
            "format_version": loaded.header().version,
            "input": tensor_json(loaded.input()),
            "output": tensor_json(loaded.output()),
            "tensors": model.tensors.len(),
            "cost": cost_json(cost),
            "ops": ops.iter().map(|r| json!({
                "op": r.name, "params": r.params, "inputs": r.inputs, "output": r.output,
                "macs": r.macs, "elements": r.elements, "transcendentals": r.transcendentals,
            })).collect::<Vec<_>>(),
            "limits": {
                "bytes": MAX_MODEL_BYTES, "ops": MAX_OPS, "tensors": MAX_TENSORS,
                "macs": MAX_MACS, "arena_bytes": MAX_ARENA_BYTES,
            },
            "accounts": Layout::of(bytes.len() as u64).accounts(),
            "infer_gas": call_prices(&loaded, Layout::of(bytes.len() as u64)).iter().map(|p| json!({
                "precompile": p.spec, "cold": p.cold, "warm": p.warm,
            })).collect::<Vec<_>>(),
        });
        crate::output::emit(&serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }

    let mut out = String::new();
    writeln!(out, "model      {}", args.file.display())?;
    writeln!(out, "id         {}", hex0x(&aiop_engine::model_id(&bytes)))?;
    writeln!(out, "format     aiop v{}", loaded.header().version)?;
    writeln!(out, "input      {}", describe_tensor(loaded.input()))?;
    writeln!(out, "output     {}", describe_tensor(loaded.output()))?;
    out.push('\n');
    let shapes: Vec<String> = ops.iter().map(|r| format!("{} -> {}", r.inputs.join(" "), r.output)).collect();
    let params_w = ops.iter().map(|r| r.params.len()).chain([6]).max().unwrap_or(6);
    let shapes_w = shapes.iter().map(String::len).chain([6]).max().unwrap_or(6);
    writeln!(
        out,
        "{:<3} {:<16} {:<params_w$} {:<shapes_w$} {:>12} {:>10}",
        "#", "op", "params", "shapes", "MACs", "elements"
    )?;
    for (index, (row, shapes)) in ops.iter().zip(&shapes).enumerate() {
        writeln!(
            out,
            "{:<3} {:<16} {:<params_w$} {:<shapes_w$} {:>12} {:>10}",
            index, row.name, row.params, shapes, row.macs, row.elements
        )?;
    }
    out.push('\n');
    writeln!(out, "cost and limits           used        limit   headroom")?;
    let rows: [(&str, u64, u64); 5] = [
        ("model bytes", bytes.len() as u64, MAX_MODEL_BYTES as u64),
        ("ops", cost.ops, MAX_OPS as u64),
        ("tensors", model.tensors.len() as u64, MAX_TENSORS as u64),
        ("MACs", cost.macs, MAX_MACS),
        ("arena bytes", cost.arena_bytes, MAX_ARENA_BYTES),
    ];
    for (what, used, limit) in rows {
        writeln!(out, "  {what:<18} {used:>11} {limit:>12}   {}", headroom(used, limit))?;
    }
    writeln!(out, "  {:<18} {:>11}", "elements", cost.elements)?;
    writeln!(out, "  {:<18} {:>11}", "transcendentals", cost.transcendentals)?;
    out.push('\n');
    let layout = Layout::of(bytes.len() as u64);
    match layout.chunks {
        0 => writeln!(out, "on chain   1 account (fits EIP-170's 24,576-byte code limit)")?,
        n => writeln!(
            out,
            "on chain   {} accounts: a manifest and {n} chunks (docs/storage.md; precompile v3 on)",
            n + 1
        )?,
    }
    writeln!(out, "gas per infer call      cold         warm   calls per 30M-gas block (cold)")?;
    for price in call_prices(&loaded, layout) {
        match price {
            CallPrice { spec, cold: Some(cold), warm: Some(warm) } => {
                writeln!(out, "  precompile {spec:<6} {cold:>11} {warm:>12}   {}", 30_000_000 / cold.max(1))?
            }
            CallPrice { spec, .. } => writeln!(out, "  precompile {spec:<6} cannot call it (format or storage)")?,
        }
    }
    crate::output::emit(&out)?;
    Ok(())
}

/// What one `infer` call on the stored model costs under one precompile spec (`None`: that
/// spec cannot call it).
struct CallPrice {
    spec: &'static str,
    cold: Option<u64>,
    warm: Option<u64>,
}

/// The price of an `infer` call under every precompile spec, stored as `aiop model deploy`
/// stores it: the same numbers `cost()` gives on chain (cold) and with every account warm.
fn call_prices(loaded: &LoadedModel, layout: Layout) -> Vec<CallPrice> {
    use aiop_precompile::{COLD_ACCOUNT_ACCESS_GAS, PrecompileSpec, WARM_ACCOUNT_ACCESS_GAS};
    PrecompileSpec::ALL
        .iter()
        .map(|spec| {
            let callable = spec.accepts_format(loaded.header().version) && (spec.manifests || layout.chunks == 0);
            let price = |access: u64| {
                let storage = if spec.manifests { layout.read_gas(access) } else { access };
                spec.schedule.infer_gas_loaded(loaded, loaded.input_len() as u64, storage)
            };
            CallPrice {
                spec: spec.version,
                cold: callable.then(|| price(COLD_ACCOUNT_ACCESS_GAS)),
                warm: callable.then(|| price(WARM_ACCOUNT_ACCESS_GAS)),
            }
        })
        .collect()
}

struct OpRow {
    name: &'static str,
    params: String,
    inputs: Vec<String>,
    output: String,
    macs: u64,
    elements: u64,
    transcendentals: u64,
}

impl OpRow {
    fn new(model: &Model, op: &Op, cost: &aiop_engine::Cost) -> Self {
        let shape = |id: u16| {
            let t = &model.tensors[usize::from(id)];
            let dims: Vec<String> = t.shape.iter().map(u32::to_string).collect();
            format!("[{}]", dims.join(","))
        };
        // Constants (weights, bias) are shown by the params; the shapes column is dataflow.
        let inputs =
            op.inputs().into_iter().filter(|&id| !model.tensors[usize::from(id)].is_constant()).map(shape).collect();
        OpRow {
            name: op.name(),
            params: op_params(model, op),
            inputs,
            output: shape(op.output()),
            macs: cost.macs,
            elements: cost.elements,
            transcendentals: cost.transcendentals,
        }
    }
}

fn op_params(model: &Model, op: &Op) -> String {
    let weights = |id: u16| {
        let dims: Vec<String> = model.tensors[usize::from(id)].shape.iter().map(u32::to_string).collect();
        format!("w[{}]", dims.join(","))
    };
    let clamp = |c: &Clamp| {
        if *c == Clamp::NONE { String::new() } else { format!(" clamp[{},{}]", c.min, c.max) }
    };
    match op {
        Op::FullyConnected { weights: w, clamp: c, .. } => format!("{}{}", weights(*w), clamp(c)),
        Op::Conv2D { weights: w, window, clamp: c, .. } => format!("{} {}{}", weights(*w), conv(window), clamp(c)),
        Op::DepthwiseConv2D { weights: w, window, depth_multiplier, clamp: c, .. } => {
            format!("{} {} dm{}{}", weights(*w), conv(window), depth_multiplier, clamp(c))
        }
        Op::MaxPool2D { window, clamp: c, .. } | Op::AveragePool2D { window, clamp: c, .. } => {
            format!("{}{}", pool(window), clamp(c))
        }
        Op::Add { left_shift, clamp: c, .. } | Op::Sub { left_shift, clamp: c, .. } => {
            format!("shift{left_shift}{}", clamp(c))
        }
        Op::Mul { clamp: c, .. } => clamp(c).trim_start().to_owned(),
        Op::Softmax { diff_min, .. } => format!("diff_min {diff_min}"),
        Op::Logistic { input_range_radius, .. } | Op::Tanh { input_range_radius, .. } => {
            format!("radius {input_range_radius}")
        }
        Op::Concatenation { inputs, axis, .. } => format!("{} inputs, axis {axis}", inputs.len()),
        Op::Pad { paddings, value, .. } => {
            let pairs: Vec<String> = paddings.iter().map(|(b, a)| format!("{b},{a}")).collect();
            format!("pad [{}] value {value}", pairs.join(" "))
        }
        Op::Mean { axes, .. } => {
            let axes: Vec<String> = (0..8).filter(|i| axes & (1 << i) != 0).map(|i: u32| i.to_string()).collect();
            format!("axes [{}]", axes.join(","))
        }
        Op::HardSwish { .. } | Op::LeakyRelu { .. } | Op::Requantize { .. } => String::new(),
        Op::Reshape { .. } | Op::ArgMax { .. } => String::new(),
        Op::BatchMatMul { transpose_rhs, clamp: c, .. } => {
            format!("{}{}", if *transpose_rhs { "rhs transposed" } else { "" }, clamp(c)).trim_start().to_owned()
        }
        Op::LayerNorm { gamma, epsilon, .. } => format!("gamma {} epsilon {epsilon}", weights(*gamma)),
        Op::Gelu { erf_clip, erf_one, .. } => format!("erf clip {erf_clip} one {erf_one}"),
        Op::Gather { table, .. } => format!("table {}", weights(*table)),
        Op::Transpose { perm, .. } => format!("perm {perm:?}"),
    }
}

fn padding(p: Padding) -> &'static str {
    match p {
        Padding::Same => "SAME",
        Padding::Valid => "VALID",
    }
}

fn conv(w: &ConvWindow) -> String {
    let mut s = format!("s{}x{} {}", w.stride_h, w.stride_w, padding(w.padding));
    if (w.dilation_h, w.dilation_w) != (1, 1) {
        s.push_str(&format!(" d{}x{}", w.dilation_h, w.dilation_w));
    }
    s
}

fn pool(w: &PoolWindow) -> String {
    format!("{}x{} s{}x{} {}", w.filter_h, w.filter_w, w.stride_h, w.stride_w, padding(w.padding))
}

fn describe_tensor(t: &TensorInfo) -> String {
    let dims: Vec<String> = t.shape.iter().map(u32::to_string).collect();
    format!(
        "{} [{}]  zero point {}  scale {} (multiplier {}, shift {})",
        t.dtype.name(),
        dims.join(","),
        t.zero_point,
        scale_text(t.scale),
        t.scale.multiplier,
        t.scale.shift
    )
}

/// The real value of one quantization step, for people; never used in computation.
fn scale_text(scale: Scale) -> String {
    if scale.multiplier == 0 {
        return "none".to_owned();
    }
    let value = f64::from(scale.multiplier) * 2f64.powi(i32::from(scale.shift) - 31);
    format!("{value:.6e}")
}

fn tensor_json(t: &TensorInfo) -> serde_json::Value {
    json!({
        "dtype": t.dtype.name(),
        "shape": t.shape,
        "zero_point": t.zero_point,
        "scale": { "multiplier": t.scale.multiplier, "shift": t.scale.shift },
    })
}

fn cost_json(c: &aiop_engine::Cost) -> serde_json::Value {
    json!({
        "ops": c.ops, "macs": c.macs, "elements": c.elements,
        "transcendentals": c.transcendentals, "arena_bytes": c.arena_bytes,
    })
}

fn headroom(used: u64, limit: u64) -> String {
    if used > limit {
        return "over".to_owned();
    }
    // Per mille in integers keeps tiny fractions visible without float formatting noise.
    let left = limit - used;
    let permille = u128::from(left) * 1000 / u128::from(limit.max(1));
    format!("{}.{}%", permille / 10, permille % 10)
}

pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}
