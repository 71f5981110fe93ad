//! The cases the gas schedule is measured on: the shipped models, and synthetic models built
//! on purpose to be as slow as possible per unit the schedule charges for.
//!
//! Every synthetic model is a pure function of its name (weights from a fixed-seed
//! generator), so two machines measure the same bytes.

use aiop_engine::{Clamp, ConvWindow, Model, ModelBuilder, Op, Padding, PoolWindow, Scale, Tensor, TensorId, encode};

use crate::GasBenchError;
use aiop_precompile::PrecompileSpec;

/// EIP-170: the largest contract code a chain accepts, so the largest model `infer` can read.
pub const MAX_CODE_SIZE: usize = 24_576;

/// How a case reaches the precompile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The model is deployed as a data contract and called with `infer(address, input)`.
    Deployed,
    /// The model is too large for contract code and is passed with `inferInline(model, input)`.
    Inline,
    /// The model's format is one the precompile does not accept yet (the MLPerf Tiny models are
    /// format v2): it is timed in the engine, `LoadedModel::load` and `run`, outside the EVM.
    Direct,
}

/// How a case's call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It returns the model's output.
    Success,
    /// Its header parses and prices it, but the model is refused when it is loaded: the whole
    /// model is decoded and validated first, and the call reverts charging the full price.
    RevertAtLoad,
}

/// One model-and-input pair to time.
#[derive(Debug, Clone)]
pub struct ModelCase {
    /// The case's name in the report (a shipped model's file stem).
    pub name: String,
    /// What the case is built to stress.
    pub about: &'static str,
    /// The encoded model.
    pub model: Vec<u8>,
    /// The input the model is called with (deterministic filler of the model's input length).
    pub input: Vec<u8>,
    /// How the call reaches the precompile.
    pub delivery: Delivery,
    /// How the call ends.
    pub outcome: Outcome,
    /// Part of the quick (CI smoke) run.
    pub quick: bool,
}

impl ModelCase {
    pub(crate) fn new(name: &str, about: &'static str, model: &Model, quick: bool) -> Result<Self, GasBenchError> {
        let bytes = encode(model).map_err(|e| GasBenchError::Case { case: name.to_owned(), reason: e.to_string() })?;
        let input_len = aiop_engine::check(&bytes)
            .map_err(|e| GasBenchError::Case { case: name.to_owned(), reason: e.to_string() })?
            .input_len as usize;
        let mut rng = SplitMix64(input_len as u64 ^ 0xA10F);
        let input = (0..input_len).map(|_| rng.next() as u8).collect();
        // Models that fit in contract code (with the 1-byte prefix and magic) are deployed.
        let delivery = if bytes.len() + 8 <= MAX_CODE_SIZE { Delivery::Deployed } else { Delivery::Inline };
        Ok(ModelCase { name: name.to_owned(), about, model: bytes, input, delivery, outcome: Outcome::Success, quick })
    }

    /// The same model with a header that understates its work: it declares no MACs, elements
    /// or transcendentals, so it is priced for bytes and ops alone; loading decodes and
    /// validates all of it before the lie is found (the last check the engine makes).
    fn with_lying_header(mut self, name: &str, about: &'static str) -> Self {
        // The header's MAC, element and transcendental counts: three u64 at bytes 16..40
        // (docs/model-format.md, section 2.1).
        self.model[16..40].fill(0);
        self.name = name.to_owned();
        self.about = about;
        self.outcome = Outcome::RevertAtLoad;
        self
    }
}

/// splitmix64: deterministic filler for weights and inputs.
#[derive(Debug)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn weights(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| ((self.next() % 255) as i32 - 127) as i8).collect()
    }
    pub(crate) fn bias(&mut self, n: usize) -> Vec<i32> {
        (0..n).map(|_| (self.next() % 4001) as i32 - 2000).collect()
    }
}

pub(crate) fn act(shape: &[u32], zero_point: i32) -> Tensor {
    Tensor::activation(shape, zero_point, Scale::from_ratio(1, 32))
}

/// A fully connected layer whose output scale keeps typical sums in range.
fn fc(b: &mut ModelBuilder, rng: &mut SplitMix64, input: TensorId, rows: u32, k: u32, n: u32) -> TensorId {
    let w = b.tensor(Tensor::weights(&[n, k], Scale::from_ratio(1, 127), rng.weights(k as usize * n as usize)));
    let bias = b.tensor(Tensor::bias(rng.bias(n as usize), Scale::from_ratio(1, 4096)));
    let shape: Vec<u32> = if rows == 1 { vec![n] } else { vec![rows, n] };
    let out = b.tensor(act(&shape, 0));
    let scale = Scale::from_ratio(1, 40 * u64::from(k).max(1));
    b.op(Op::FullyConnected {
        input,
        weights: w,
        bias: Some(bias),
        output: out,
        output_scales: vec![scale; n as usize],
        clamp: Clamp::NONE,
    });
    out
}

#[allow(clippy::too_many_arguments)] // every knob of a synthetic conv is a parameter on purpose
fn conv(
    b: &mut ModelBuilder,
    rng: &mut SplitMix64,
    input: TensorId,
    [h, w, cin]: [u32; 3],
    kernel: u32,
    cout: u32,
    depthwise: bool,
) -> TensorId {
    let window = ConvWindow { stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, padding: Padding::Same };
    let bias = b.tensor(Tensor::bias(rng.bias(cout as usize), Scale::from_ratio(1, 4096)));
    let out = b.tensor(act(&[h, w, cout], 0));
    let depth = u64::from(kernel * kernel * if depthwise { 1 } else { cin });
    let scales = vec![Scale::from_ratio(1, 40 * depth); cout as usize];
    if depthwise {
        let weights = b.tensor(Tensor::weights(
            &[kernel, kernel, cout],
            Scale::from_ratio(1, 127),
            rng.weights((kernel * kernel * cout) as usize),
        ));
        b.op(Op::DepthwiseConv2D {
            input,
            weights,
            bias: Some(bias),
            output: out,
            window,
            depth_multiplier: (cout / cin) as u16,
            output_scales: scales,
            clamp: Clamp::NONE,
        });
    } else {
        let weights = b.tensor(Tensor::weights(
            &[cout, kernel, kernel, cin],
            Scale::from_ratio(1, 127),
            rng.weights((cout * kernel * kernel * cin) as usize),
        ));
        b.op(Op::Conv2D {
            input,
            weights,
            bias: Some(bias),
            output: out,
            window,
            output_scales: scales,
            clamp: Clamp::NONE,
        });
    }
    out
}

fn single_fc(rows: u32, k: u32, n: u32, seed: u64) -> Model {
    let mut rng = SplitMix64(seed);
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let shape: Vec<u32> = if rows == 1 { vec![k] } else { vec![rows, k] };
    let x = b.tensor(act(&shape, 3));
    let y = fc(&mut b, &mut rng, x, rows, k, n);
    b.finish(x, y)
}

/// `ops` Adds on one-element tensors: nothing but per-op overhead.
fn tiny_ops(ops: usize) -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let mut x = b.tensor(act(&[1], 0));
    let input = x;
    let half = Scale::from_ratio(1, 2);
    for _ in 0..ops {
        let y = b.tensor(act(&[1], 0));
        b.op(Op::Add {
            lhs: x,
            rhs: x,
            output: y,
            left_shift: 20,
            lhs_scale: half,
            rhs_scale: half,
            output_scale: Scale::from_ratio(1, 1 << 20),
            clamp: Clamp::NONE,
        });
        x = y;
    }
    b.finish(input, x)
}

/// `ops` one-by-one FullyConnected layers without bias, chained: two tensors per op (weights,
/// output), the most ops and packed matrices per model byte, the densest work for loading.
fn fc_chain_no_bias(ops: usize, seed: u64) -> Model {
    let mut rng = SplitMix64(seed);
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let input = b.tensor(act(&[1], 3));
    let mut x = input;
    for _ in 0..ops {
        let w = b.tensor(Tensor::weights(&[1, 1], Scale::from_ratio(1, 127), rng.weights(1)));
        let y = b.tensor(act(&[1], 3));
        b.op(Op::FullyConnected {
            input: x,
            weights: w,
            bias: None,
            output: y,
            output_scales: vec![Scale::from_ratio(1, 40)],
            clamp: Clamp::NONE,
        });
        x = y;
    }
    b.finish(input, x)
}

/// Elementwise ops over a large activation: elements, no MACs.
fn elementwise(shape: [u32; 3], ops: usize, transcendental: bool) -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let mut x = b.tensor(act(&shape, 0));
    let input = x;
    for i in 0..ops {
        let op_out = |zp| Tensor::activation(&shape, zp, Scale::from_ratio(1, 32));
        x = if transcendental {
            if i % 2 == 0 {
                let y = b.tensor(op_out(-128));
                b.op(Op::Logistic {
                    input: x,
                    output: y,
                    input_scale: Scale::from_ratio(1 << 22, 1),
                    input_range_radius: 120,
                });
                y
            } else {
                let y = b.tensor(op_out(0));
                b.op(Op::Tanh {
                    input: x,
                    output: y,
                    input_scale: Scale::from_ratio(1 << 21, 1),
                    input_range_radius: 110,
                });
                y
            }
        } else if i % 2 == 0 {
            let y = b.tensor(op_out(0));
            b.op(Op::Mul { lhs: x, rhs: x, output: y, output_scale: Scale::from_ratio(1, 90), clamp: Clamp::NONE });
            y
        } else {
            let y = b.tensor(op_out(0));
            let half = Scale::from_ratio(1, 2);
            b.op(Op::Add {
                lhs: x,
                rhs: x,
                output: y,
                left_shift: 20,
                lhs_scale: half,
                rhs_scale: half,
                output_scale: Scale::from_ratio(1, 1 << 20),
                clamp: Clamp::NONE,
            });
            y
        };
    }
    b.finish(input, x)
}

fn softmax_rows(rows: u32, depth: u32) -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[rows, depth], 0));
    let y = b.tensor(Tensor::activation(&[rows, depth], -128, Scale::from_ratio(1, 256)));
    b.op(Op::Softmax { input: x, output: y, beta: Scale::from_ratio(1 << 23, 1), diff_min: -248 });
    b.finish(x, y)
}

fn pooling(shape: [u32; 3], filter: u16, average: bool) -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&shape, 0));
    let y = b.tensor(act(&shape, 0));
    let window = PoolWindow { filter_h: filter, filter_w: filter, stride_h: 1, stride_w: 1, padding: Padding::Same };
    if average {
        b.op(Op::AveragePool2D { input: x, output: y, window, clamp: Clamp::NONE });
    } else {
        b.op(Op::MaxPool2D { input: x, output: y, window, clamp: Clamp::NONE });
    }
    b.finish(x, y)
}

fn conv_stack(shape: [u32; 3], layers: &[(u32, u32, bool)], seed: u64) -> Model {
    let mut rng = SplitMix64(seed);
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let mut x = b.tensor(act(&shape, -5));
    let input = x;
    let [h, w, mut c] = shape;
    for &(kernel, cout, depthwise) in layers {
        x = conv(&mut b, &mut rng, x, [h, w, c], kernel, cout, depthwise);
        c = cout;
    }
    b.finish(input, x)
}

/// A fully connected layer with K = 1, sized so the encoded model is close to `target_bytes`:
/// the most model bytes (weights and bias) per MAC a model can have.
fn bytes_heavy(target_bytes: usize, seed: u64) -> Model {
    // Each output channel costs 1 weight byte, 4 bias bytes and 5 bytes of per-channel scale.
    let n = (target_bytes.saturating_sub(200) / 10) as u32;
    single_fc(1, 1, n, seed)
}

/// The synthetic worst cases, in report order.
pub fn synthetic_cases() -> Result<Vec<ModelCase>, GasBenchError> {
    let mut cases = vec![
        ModelCase::new("tiny-ops-512", "512 one-element Adds: per-op overhead", &tiny_ops(512), true)?,
        ModelCase::new("fc-k1-n4096", "K = 1, a wide layer: per-output overhead", &single_fc(1, 1, 4096, 11), true)?,
        ModelCase::new("fc-k4096-n1", "N = 1, a long reduction with one output", &single_fc(1, 4096, 1, 12), true)?,
        ModelCase::new("fc-odd-63x65", "odd K and N that defeat the SIMD tiles", &single_fc(1, 63, 65, 13), true)?,
        ModelCase::new("fc-odd-rows-7x33x17", "7 rows, odd K and N", &single_fc(7, 33, 17, 14), false)?,
        ModelCase::new(
            "fc-128x128",
            "a square matrix-vector layer that fits in code",
            &single_fc(1, 128, 128, 15),
            true,
        )?,
        ModelCase::new(
            "conv-odd-5x5",
            "5x5 conv with 3 input and 7 output channels (odd tiles)",
            &conv_stack([13, 11, 3], &[(5, 7, false)], 16),
            false,
        )?,
        ModelCase::new(
            "depthwise-32x32x64",
            "3x3 depthwise conv over 64 channels",
            &conv_stack([32, 32, 64], &[(3, 64, true)], 17),
            true,
        )?,
        ModelCase::new(
            "conv-32x32-16to32",
            "3x3 conv, 16 to 32 channels, 32x32 image: MAC heavy, fits in code",
            &conv_stack([32, 32, 16], &[(3, 32, false)], 18),
            true,
        )?,
        ModelCase::new(
            "elementwise-32k-x48",
            "48 Add/Mul ops over 32768 elements: elements, no MACs",
            &elementwise([64, 64, 8], 48, false),
            true,
        )?,
        ModelCase::new(
            "transcendental-32k-x16",
            "16 Logistic/Tanh ops over 32768 elements",
            &elementwise([64, 64, 8], 16, true),
            true,
        )?,
        ModelCase::new("softmax-8x4095", "Softmax over the widest rows allowed", &softmax_rows(8, 4095), true)?,
        ModelCase::new("maxpool-8x8-64x64x8", "8x8 max pooling, stride 1", &pooling([64, 64, 8], 8, false), true)?,
        ModelCase::new("avgpool-8x8-64x64x8", "8x8 average pooling, stride 1", &pooling([64, 64, 8], 8, true), false)?,
        ModelCase::new(
            "bytes-heavy-in-code",
            "the most model bytes per MAC that fits in contract code",
            &bytes_heavy(MAX_CODE_SIZE - 64, 19),
            true,
        )?,
        ModelCase::new(
            "bytes-heavy-inline-1mib",
            "1 MiB of model bytes with K = 1 (inferInline)",
            &bytes_heavy(1 << 20, 20),
            false,
        )?,
        ModelCase::new(
            "conv-stack-large",
            "three 3x3 convs on 32x32, 32 to 64 channels (inferInline)",
            &conv_stack([32, 32, 32], &[(3, 64, false), (3, 64, true), (3, 64, false)], 21),
            false,
        )?,
        ModelCase::new(
            "fc-chain-511",
            "511 one-by-one FullyConnected ops without bias: the most ops and packed matrices per byte (loading)",
            &fc_chain_no_bias(511, 24),
            false,
        )?,
        ModelCase::new(
            "gemm-256x1024x1024",
            "a 256-row 1024x1024 layer: the largest case timed (inferInline)",
            &single_fc(256, 1024, 1024, 22),
            false,
        )?,
    ];
    cases.push(
        ModelCase::new("tiny-ops-512", "", &tiny_ops(512), true)?
            .with_lying_header("lying-header-512-ops", "512 ops whose header declares no work: refused at load"),
    );
    cases.push(ModelCase::new("fc-chain-511", "", &fc_chain_no_bias(511, 24), false)?.with_lying_header(
        "lying-header-fc-chain-511",
        "511 one-by-one FullyConnected ops without bias (1023 tensors), its header declaring no work: refused at load",
    ));
    cases.push(ModelCase::new("bytes-heavy", "", &bytes_heavy(MAX_CODE_SIZE - 64, 23), true)?.with_lying_header(
        "lying-header-bytes-in-code",
        "the largest in-code model, its header declaring no work: refused at load",
    ));
    cases.sort_by_key(|c| !c.quick);
    Ok(cases)
}

/// The worst shapes `aiop bench gas --search --write-cases` found, one or more per op type,
/// as committed in `testdata/gas/searched-cases.json` (built in: the file is part of the
/// calibration, not of the machine that runs it). Each is rebuilt from its shape, so its bytes
/// are a pure function of the file.
pub fn searched_cases() -> Result<Vec<ModelCase>, GasBenchError> {
    const FILE: &str = include_str!("../../../testdata/gas/searched-cases.json");
    let file: crate::search::SearchedFile = serde_json::from_str(FILE)
        .map_err(|e| GasBenchError::Case { case: "testdata/gas/searched-cases.json".into(), reason: e.to_string() })?;
    file.cases.iter().map(|c| c.shape.case(SEARCHED_ABOUT)).collect()
}

/// What a searched case is, in the report.
pub const SEARCHED_ABOUT: &str = "worst shape found by `aiop bench gas --search` (testdata/gas/searched-cases.json)";

/// File-name prefix of the MLPerf Tiny models in `testdata/models`.
pub const MLPERF_PREFIX: &str = "mlperf_";

/// The models shipped in `testdata/models` whose format version the precompile accepts, each
/// with a deterministic input.
pub fn shipped_cases(dir: &std::path::Path, spec: &PrecompileSpec) -> Result<Vec<ModelCase>, GasBenchError> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| GasBenchError::Io { path: dir.display().to_string(), reason: e.to_string() })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "aiop"))
        .collect();
    paths.sort();
    let mut cases = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path)
            .map_err(|e| GasBenchError::Io { path: path.display().to_string(), reason: e.to_string() })?;
        let model = aiop_engine::decode(&bytes)
            .map_err(|e| GasBenchError::Case { case: name.clone(), reason: e.to_string() })?;
        let accepted = spec.formats.contains(&model.version);
        // Under a spec that does not accept format v2, the MLPerf Tiny models (format v2) are
        // timed in the engine. Other format-v2 files are test copies of v1 models.
        let mlperf = name.starts_with(MLPERF_PREFIX);
        if !accepted && !mlperf {
            continue;
        }
        let about =
            if mlperf { "MLPerf Tiny reference model (testdata/models)" } else { "shipped model (testdata/models)" };
        let mut case = ModelCase::new(&name, about, &model, true)?;
        // Keep the file's exact bytes (decode/encode is canonical, so they are the same).
        case.model = bytes;
        if !accepted {
            case.delivery = Delivery::Direct;
        }
        cases.push(case);
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_synthetic_case_is_deterministic_and_loads_or_fails_as_it_says() {
        let a = synthetic_cases().expect("cases build");
        let b = synthetic_cases().expect("cases build");
        assert!(a.len() >= 15);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.model, y.model, "{} is not deterministic", x.name);
            let header = aiop_engine::ModelHeader::parse(&x.model).expect("the header parses");
            assert_eq!(header.input_len as usize, x.input.len());
            match (x.outcome, aiop_engine::check(&x.model)) {
                (Outcome::Success, Ok(_)) => {}
                (Outcome::RevertAtLoad, Err(aiop_engine::EngineError::HeaderMismatch { .. })) => {}
                (outcome, result) => panic!("{}: {outcome:?} but {result:?}", x.name),
            }
        }
        assert!(a.iter().filter(|c| c.outcome == Outcome::RevertAtLoad).count() >= 2);
        let in_code = a.iter().find(|c| c.name == "bytes-heavy-in-code").expect("case");
        assert_eq!(in_code.delivery, Delivery::Deployed);
        assert!(in_code.model.len() > MAX_CODE_SIZE - 1024, "{} bytes", in_code.model.len());
    }

    #[test]
    fn every_searched_case_is_valid_in_its_op_s_format_and_deterministic() {
        let a = searched_cases().expect("the committed searched cases build");
        let b = searched_cases().expect("cases build");
        assert!(!a.is_empty(), "testdata/gas/searched-cases.json holds no case");
        const FILE: &str = include_str!("../../../testdata/gas/searched-cases.json");
        let file: crate::search::SearchedFile = serde_json::from_str(FILE).expect("the file parses");
        assert_eq!(file.cases.len(), a.len());
        for ((x, y), searched) in a.iter().zip(&b).zip(&file.cases) {
            assert_eq!(x.model, y.model, "{} is not deterministic", x.name);
            assert!(x.name.starts_with("searched-"), "{}", x.name);
            let model = aiop_engine::decode(&x.model).expect("decodes");
            // Format v1 for the v1 op types; the format v2 and v3 ops in the format that has them.
            assert_eq!(model.version, searched.shape.op.format(), "{}", x.name);
            aiop_engine::check(&x.model).unwrap_or_else(|e| panic!("{}: {e}", x.name));
        }
    }
}
