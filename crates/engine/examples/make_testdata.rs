//! Writes the test models in `testdata/models/` and their golden vectors in
//! `testdata/vectors/engine/`.
//!
//! Golden vectors are published once and never change: this tool refuses to overwrite a
//! vector file whose content would differ. Run it only to add new models or vectors:
//! `cargo run -p aiop-engine --example make_testdata`.
//!
//! The models here have deterministic pseudo-random weights (the trained digits models come
//! from the models tooling); they exist to pin down every op's arithmetic, including the
//! extreme cases.

use std::fs;
use std::path::{Path, PathBuf};

use aiop_engine::{
    Clamp, ConvWindow, Cost, FormatVersion, KernelPath, LoadedModel, Model, ModelBuilder, Op, Padding, PoolWindow,
    Scale, Tensor, encode, model_id,
};

/// splitmix64: a tiny deterministic generator, so the models are reproducible everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u64) as i32
    }
    fn weights(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.range(-127, 127) as i8).collect()
    }
    fn bias(&mut self, n: usize, magnitude: i32) -> Vec<i32> {
        (0..n).map(|_| self.range(-magnitude, magnitude)).collect()
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn ratio(num: u64, den: u64) -> Scale {
    Scale::from_ratio(num, den)
}

/// Per-channel output scales around `num / den`, varied by channel so per-channel handling
/// is exercised.
fn channel_scales(channels: usize, num: u64, den: u64) -> Vec<Scale> {
    (0..channels).map(|c| ratio(num * (16 + (c as u64 % 5)), den * 16)).collect()
}

const RELU_FROM_MINUS_128: Clamp = Clamp { min: -128, max: 127 };

fn act(shape: &[u32], zp: i32) -> Tensor {
    Tensor::activation(shape, zp, ratio(1, 32))
}

#[allow(clippy::too_many_arguments)] // a test-data generator: every knob is a parameter on purpose
fn fc(b: &mut ModelBuilder, rng: &mut Rng, input: u16, k: u32, n: u32, out_zp: i32, clamp: Clamp, acc_den: u64) -> u16 {
    let w = b.tensor(Tensor::weights(&[n, k], ratio(1, 127), rng.weights((k * n) as usize)));
    let bias = b.tensor(Tensor::bias(rng.bias(n as usize, 2000), ratio(1, 4096)));
    let out = b.tensor(act(&[n], out_zp));
    b.op(Op::FullyConnected {
        input,
        weights: w,
        bias: Some(bias),
        output: out,
        output_scales: channel_scales(n as usize, 1, acc_den),
        clamp,
    });
    out
}

fn digits_mlp() -> Model {
    let mut rng = Rng(1);
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(Tensor::activation(&[64], -128, ratio(16, 255)));
    let h = fc(&mut b, &mut rng, x, 64, 32, -128, RELU_FROM_MINUS_128, 700);
    let logits = fc(&mut b, &mut rng, h, 32, 10, 0, Clamp::NONE, 900);
    let probs = b.tensor(act(&[10], -128));
    b.op(Op::Softmax { input: logits, output: probs, beta: ratio(1 << 23, 1), diff_min: -248 });
    b.finish(x, probs)
}

#[allow(clippy::too_many_arguments)]
fn conv(
    b: &mut ModelBuilder,
    rng: &mut Rng,
    input: u16,
    in_shape: [u32; 3],
    kernel: [u32; 2],
    cout: u32,
    window: ConvWindow,
    out_shape: [u32; 3],
    out_zp: i32,
    clamp: Clamp,
    den: u64,
) -> u16 {
    let [_, _, cin] = in_shape;
    let w = b.tensor(Tensor::weights(
        &[cout, kernel[0], kernel[1], cin],
        ratio(1, 127),
        rng.weights((cout * kernel[0] * kernel[1] * cin) as usize),
    ));
    let bias = b.tensor(Tensor::bias(rng.bias(cout as usize, 3000), ratio(1, 4096)));
    let out = b.tensor(act(&out_shape, out_zp));
    b.op(Op::Conv2D {
        input,
        weights: w,
        bias: Some(bias),
        output: out,
        window,
        output_scales: channel_scales(cout as usize, 1, den),
        clamp,
    });
    out
}

fn same(stride: u16) -> ConvWindow {
    ConvWindow { stride_h: stride, stride_w: stride, dilation_h: 1, dilation_w: 1, padding: Padding::Same }
}

fn digits_cnn() -> Model {
    let mut rng = Rng(2);
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(Tensor::activation(&[8, 8, 1], -128, ratio(16, 255)));
    let c1 = conv(&mut b, &mut rng, x, [8, 8, 1], [3, 3], 8, same(1), [8, 8, 8], -128, RELU_FROM_MINUS_128, 300);
    let p1 = b.tensor(act(&[4, 4, 8], -128));
    b.op(Op::MaxPool2D {
        input: c1,
        output: p1,
        window: PoolWindow { filter_h: 2, filter_w: 2, stride_h: 2, stride_w: 2, padding: Padding::Valid },
        clamp: Clamp::NONE,
    });
    let dw_w = b.tensor(Tensor::weights(&[3, 3, 8], ratio(1, 127), rng.weights(72)));
    let dw_b = b.tensor(Tensor::bias(rng.bias(8, 2000), ratio(1, 4096)));
    let d1 = b.tensor(act(&[4, 4, 8], -128));
    b.op(Op::DepthwiseConv2D {
        input: p1,
        weights: dw_w,
        bias: Some(dw_b),
        output: d1,
        window: same(1),
        depth_multiplier: 1,
        output_scales: channel_scales(8, 1, 120),
        clamp: RELU_FROM_MINUS_128,
    });
    let p2 = b.tensor(act(&[2, 2, 8], -128));
    b.op(Op::AveragePool2D {
        input: d1,
        output: p2,
        window: PoolWindow { filter_h: 2, filter_w: 2, stride_h: 2, stride_w: 2, padding: Padding::Valid },
        clamp: Clamp::NONE,
    });
    let flat = b.tensor(act(&[32], -128));
    b.op(Op::Reshape { input: p2, output: flat });
    let logits = fc(&mut b, &mut rng, flat, 32, 10, 0, Clamp::NONE, 450);
    b.finish(x, logits)
}

/// Every op at least once, with strides, dilation, VALID and asymmetric SAME padding,
/// depth multiplier 2, Add, Mul, Logistic, Tanh and ArgMax.
fn op_zoo() -> Model {
    let mut rng = Rng(3);
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[9, 7, 3], 5));
    // 2x2 SAME with stride 2 pads only at the bottom/right.
    let c1 =
        conv(&mut b, &mut rng, x, [9, 7, 3], [2, 2], 6, same(2), [5, 4, 6], -20, Clamp { min: -20, max: 100 }, 1400);
    // Dilation 2, VALID.
    let dil = ConvWindow { stride_h: 1, stride_w: 1, dilation_h: 2, dilation_w: 2, padding: Padding::Valid };
    let c2 = conv(&mut b, &mut rng, x, [9, 7, 3], [3, 2], 4, dil, [5, 5, 4], 3, Clamp::NONE, 1500);
    let dw_w = b.tensor(Tensor::weights(&[3, 3, 12], ratio(1, 127), rng.weights(108)));
    let d1 = b.tensor(act(&[3, 2, 12], -7));
    b.op(Op::DepthwiseConv2D {
        input: c1,
        weights: dw_w,
        bias: None,
        output: d1,
        window: ConvWindow { stride_h: 2, stride_w: 2, dilation_h: 1, dilation_w: 1, padding: Padding::Same },
        depth_multiplier: 2,
        output_scales: channel_scales(12, 1, 700),
        clamp: Clamp::NONE,
    });
    let p = b.tensor(act(&[3, 3, 4], 3));
    b.op(Op::AveragePool2D {
        input: c2,
        output: p,
        window: PoolWindow { filter_h: 3, filter_w: 3, stride_h: 2, stride_w: 2, padding: Padding::Same },
        clamp: Clamp::NONE,
    });
    let pf = b.tensor(act(&[36], 3));
    b.op(Op::Reshape { input: p, output: pf });
    let df = b.tensor(act(&[72], -7));
    b.op(Op::Reshape { input: d1, output: df });
    let a = fc(&mut b, &mut rng, df, 72, 36, 10, Clamp::NONE, 9000);
    let sum = b.tensor(act(&[36], -3));
    b.op(Op::Add {
        lhs: a,
        rhs: pf,
        output: sum,
        left_shift: 20,
        lhs_scale: ratio(1, 2),
        rhs_scale: ratio(3, 8),
        output_scale: ratio(1, 1 << 19),
        clamp: Clamp::NONE,
    });
    let prod = b.tensor(act(&[36], 1));
    b.op(Op::Mul { lhs: sum, rhs: a, output: prod, output_scale: ratio(1, 90), clamp: Clamp { min: -100, max: 100 } });
    let lg = b.tensor(act(&[36], -128));
    b.op(Op::Logistic { input: prod, output: lg, input_scale: ratio(1 << 22, 1), input_range_radius: 120 });
    let th = b.tensor(act(&[36], 0));
    b.op(Op::Tanh { input: sum, output: th, input_scale: ratio(1 << 21, 1), input_range_radius: 110 });
    let m = b.tensor(act(&[36], 0));
    b.op(Op::Mul { lhs: lg, rhs: th, output: m, output_scale: ratio(1, 128), clamp: Clamp::NONE });
    let grid = b.tensor(act(&[6, 6], 0));
    b.op(Op::Reshape { input: m, output: grid });
    let idx = b.tensor(Tensor { dtype: aiop_engine::DType::I32, ..Tensor::activation(&[6], 0, Scale::default()) });
    b.op(Op::ArgMax { input: grid, output: idx });
    b.finish(x, idx)
}

/// K at the accumulator bound: K * 127 * 255 is as close to i32::MAX as an integer K allows,
/// with every product at its extreme.
fn fc_accumulator_bound() -> Model {
    let k = (i32::MAX as u32) / (127 * 255); // 66311
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(Tensor::activation(&[k], 127, Scale::default()));
    let w = b.tensor(Tensor::weights(
        &[2, k],
        Scale::default(),
        (0..2 * k).map(|i| if i < k { -127 } else { 127 }).collect(),
    ));
    let y = b.tensor(act(&[2], 0));
    b.op(Op::FullyConnected {
        input: x,
        weights: w,
        bias: None,
        output: y,
        output_scales: vec![Scale::new(1 << 30, -23), Scale::new(i32::MAX, -31)],
        clamp: Clamp::NONE,
    });
    b.finish(x, y)
}

/// Requantization at the shift extremes (30 and -31) and extreme zero points.
fn fc_shift_extremes() -> Model {
    let mut rng = Rng(5);
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(Tensor::activation(&[16], -128, Scale::default()));
    let w = b.tensor(Tensor::weights(&[4, 16], Scale::default(), rng.weights(64)));
    let bias = b.tensor(Tensor::bias(vec![i32::MAX - 16 * 127 * 255, -1, 0, 1], Scale::default()));
    let y = b.tensor(act(&[4], 127));
    b.op(Op::FullyConnected {
        input: x,
        weights: w,
        bias: Some(bias),
        output: y,
        output_scales: vec![Scale::new(i32::MAX, 30), Scale::new(i32::MAX, -31), Scale::new(1, 30), Scale::new(0, 0)],
        clamp: Clamp::NONE,
    });
    b.finish(x, y)
}

/// Softmax with a steep beta and a large last axis, rows of 300.
fn softmax_wide() -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[2, 300], 0));
    let y = b.tensor(act(&[2, 300], -128));
    b.op(Op::Softmax { input: x, output: y, beta: ratio(1 << 21, 1), diff_min: -3000 });
    b.finish(x, y)
}

/// Max pooling with SAME padding (windows hanging over every border) and a ReLU6-like clamp.
fn maxpool_same() -> Model {
    let mut b = ModelBuilder::new(aiop_engine::FormatVersion::V1);
    let x = b.tensor(act(&[5, 5, 2], -128));
    let y = b.tensor(act(&[2, 2, 2], -128));
    b.op(Op::MaxPool2D {
        input: x,
        output: y,
        window: PoolWindow { filter_h: 4, filter_w: 3, stride_h: 3, stride_w: 3, padding: Padding::Same },
        clamp: Clamp { min: -128, max: 64 },
    });
    b.finish(x, y)
}

/// The same ops and parameters read as format version 2 (TensorFlow Lite Micro's semantics:
/// double rounding): the vectors then pin where the two rules part.
fn as_v2(mut model: Model) -> Model {
    model.version = FormatVersion::V2;
    model
}

/// Every op format version 2 adds, at extreme parameters: Sub with saturating output, Pad on
/// every side of a rank-3 tensor, Concatenation along the middle axis, Mean over two axes
/// (kept) and one (dropped), Requantize across zero points -128/127, LeakyRelu with a
/// negative slope, HardSwish with a left-shifting and a right-shifting reluish exponent.
fn v2_ops() -> Model {
    let mut b = ModelBuilder::new(FormatVersion::V2);
    let x = b.tensor(act(&[3, 4, 2], -128));
    let moved = b.tensor(act(&[3, 4, 2], 127));
    b.op(Op::Requantize { input: x, output: moved, scale: ratio(7, 3) });
    let diff = b.tensor(act(&[3, 4, 2], 5));
    b.op(Op::Sub {
        lhs: moved,
        rhs: x,
        output: diff,
        left_shift: 20,
        lhs_scale: ratio(1, 2),
        rhs_scale: ratio(3, 8),
        output_scale: ratio(1, 1 << 18),
        clamp: Clamp { min: -100, max: 120 },
    });
    let leaky = b.tensor(act(&[3, 4, 2], -3));
    b.op(Op::LeakyRelu {
        input: diff,
        output: leaky,
        identity_scale: ratio(5, 4),
        alpha_scale: ratio(1, 5),
        alpha_negative: true,
    });
    let swish_a = b.tensor(act(&[3, 4, 2], -20));
    b.op(Op::HardSwish {
        input: leaky,
        output: swish_a,
        reluish_multiplier: 21845,
        reluish_exponent: 3,
        output_multiplier: 30000,
        output_exponent: -6,
    });
    let swish_b = b.tensor(act(&[3, 4, 2], -20));
    b.op(Op::HardSwish {
        input: x,
        output: swish_b,
        reluish_multiplier: 18000,
        reluish_exponent: -2,
        output_multiplier: 20000,
        output_exponent: -9,
    });
    let padded = b.tensor(act(&[4, 7, 3], -20));
    b.op(Op::Pad { input: swish_a, output: padded, paddings: vec![(1, 0), (2, 1), (0, 1)], value: -20 });
    let swish_b_padded = b.tensor(act(&[4, 4, 3], -20));
    b.op(Op::Pad { input: swish_b, output: swish_b_padded, paddings: vec![(0, 1), (0, 0), (1, 0)], value: 9 });
    let joined = b.tensor(act(&[4, 11, 3], -20));
    b.op(Op::Concatenation { inputs: vec![padded, swish_b_padded], output: joined, axis: 1 });
    let kept = b.tensor(act(&[1, 11, 1], 10));
    b.op(Op::Mean { input: joined, output: kept, axes: 0b101, scale: Scale::new(1_431_655_765, -2) });
    let dropped = b.tensor(act(&[11], -60));
    b.op(Op::Mean { input: kept, output: dropped, axes: 0b101, scale: ratio(3, 1) });
    b.finish(x, dropped)
}

struct Case {
    name: &'static str,
    description: &'static str,
    model: Model,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "digits_mlp_random",
            description: "8x8 digits MLP 64-32-10 + Softmax, pseudo-random weights",
            model: digits_mlp(),
        },
        Case {
            name: "digits_cnn_random",
            description: "8x8 digits CNN: Conv2D, MaxPool, DepthwiseConv2D, AveragePool, Reshape, FC; pseudo-random weights",
            model: digits_cnn(),
        },
        Case {
            name: "op_zoo",
            description: "every op: strided/dilated/asymmetric-SAME conv, depth multiplier 2, Add, Mul, Logistic, Tanh, ArgMax",
            model: op_zoo(),
        },
        Case {
            name: "fc_accumulator_bound",
            description: "FullyConnected with K = 66311, the largest depth the int32 accumulator bound allows, at extreme values",
            model: fc_accumulator_bound(),
        },
        Case {
            name: "fc_shift_extremes",
            description: "requantization with shift 30 and -31, zero multiplier, bias near i32::MAX, zero points -128/127",
            model: fc_shift_extremes(),
        },
        Case {
            name: "softmax_wide",
            description: "Softmax over rows of 300 with a steep beta and diff_min cut-off",
            model: softmax_wide(),
        },
        Case {
            name: "maxpool_same",
            description: "MaxPool2D 4x3 stride 3 with SAME padding on every border and a clamp",
            model: maxpool_same(),
        },
        // Format version 2 (TensorFlow Lite Micro semantics). Appended after the version 1
        // cases, so the shared input generator gives those their published inputs.
        Case {
            name: "digits_cnn_random_v2",
            description: "format v2: the digits_cnn_random ops and weights with double rounding",
            model: as_v2(digits_cnn()),
        },
        Case {
            name: "op_zoo_v2",
            description: "format v2: the op_zoo ops and weights with double rounding",
            model: as_v2(op_zoo()),
        },
        Case {
            name: "fc_accumulator_bound_v2",
            description: "format v2: FullyConnected at the int32 accumulator bound, double rounding",
            model: as_v2(fc_accumulator_bound()),
        },
        Case {
            name: "fc_shift_extremes_v2",
            description: "format v2: requantization at shifts 30 and -31 (the left shift wraps in i32), zero multiplier",
            model: as_v2(fc_shift_extremes()),
        },
        Case {
            name: "softmax_wide_v2",
            description: "format v2: Softmax over rows of 300 with a steep beta and diff_min cut-off",
            model: as_v2(softmax_wide()),
        },
        Case {
            name: "v2_ops",
            description: "format v2: Sub, Pad, Concatenation, Mean, Requantize, LeakyRelu, HardSwish at extreme parameters",
            model: v2_ops(),
        },
        // Format version 3, appended last for the same reason.
        Case {
            name: "v3_attention",
            description: "format v3: an attention block over 4 tokens of 8: LayerNorm, Q/K/V FullyConnected, \
                          BatchMatMul (Q K^T), Softmax, BatchMatMul (P V), Transpose to two heads, Gelu, Gather",
            model: v3_attention(),
        },
    ]
}

/// Every op format version 3 adds, in the shape they take in a transformer: a pre-norm
/// attention block over `[4, 8]` tokens whose context is split into two heads, passed through
/// Gelu and used as indices into an embedding table.
fn v3_attention() -> Model {
    let mut rng = Rng(0x3a77);
    let mut b = ModelBuilder::new(FormatVersion::V3);
    let x = b.tensor(act(&[4, 8], -3));
    let gamma = b.tensor(Tensor::weights(&[8], ratio(1, 127), rng.weights(8)));
    let beta = b.tensor(Tensor::bias(rng.bias(8, 1 << 16), ratio(1, 4096 * 127)));
    let normalized = b.tensor(act(&[4, 8], 2));
    b.op(Op::LayerNorm {
        input: x,
        gamma,
        beta: Some(beta),
        output: normalized,
        epsilon: 4096,
        output_scale: ratio(1, 3000),
    });
    let mut project = |b: &mut ModelBuilder, zp: i32| {
        let w = b.tensor(Tensor::weights(&[8, 8], ratio(1, 127), rng.weights(64)));
        let bias = b.tensor(Tensor::bias(rng.bias(8, 500), ratio(1, 4096)));
        let out = b.tensor(act(&[4, 8], zp));
        b.op(Op::FullyConnected {
            input: normalized,
            weights: w,
            bias: Some(bias),
            output: out,
            output_scales: channel_scales(8, 1, 600),
            clamp: Clamp::NONE,
        });
        out
    };
    let (q, k, v) = (project(&mut b, 1), project(&mut b, -1), project(&mut b, 0));
    let scores = b.tensor(act(&[4, 4], -7));
    b.op(Op::BatchMatMul {
        lhs: q,
        rhs: k,
        output: scores,
        transpose_rhs: true,
        output_scale: ratio(1, 90),
        clamp: Clamp::NONE,
    });
    let weights = b.tensor(act(&[4, 4], -128));
    b.op(Op::Softmax { input: scores, output: weights, beta: ratio(1, 2), diff_min: -4000 });
    let context = b.tensor(act(&[4, 8], 4));
    b.op(Op::BatchMatMul {
        lhs: weights,
        rhs: v,
        output: context,
        transpose_rhs: false,
        output_scale: ratio(1, 200),
        clamp: Clamp::NONE,
    });
    let split = b.tensor(act(&[4, 2, 4], 4));
    b.op(Op::Reshape { input: context, output: split });
    let heads = b.tensor(act(&[2, 4, 4], 4));
    b.op(Op::Transpose { input: split, output: heads, perm: vec![1, 0, 2] });
    let activated = b.tensor(act(&[2, 4, 4], -100));
    b.op(Op::Gelu { input: heads, output: activated, erf_clip: 80, erf_one: 6_500, output_scale: ratio(1, 4000) });
    let table = b.tensor(Tensor::weights(&[40, 3], ratio(1, 127), rng.weights(120)));
    let embedded = b.tensor(Tensor::activation(&[2, 4, 4, 3], 0, ratio(1, 127)));
    b.op(Op::Gather { table, indices: activated, output: embedded });
    b.finish(x, embedded)
}

fn inputs(rng: &mut Rng, len: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("min", vec![0x80; len]),
        ("max", vec![0x7f; len]),
        ("zero", vec![0; len]),
        ("random1", rng.bytes(len)),
        ("random2", rng.bytes(len)),
        ("alternating", (0..len).map(|i| if i % 2 == 0 { 0x80 } else { 0x7f }).collect()),
    ]
}

fn cost_json(c: &Cost) -> serde_json::Value {
    serde_json::json!({
        "ops": c.ops, "macs": c.macs, "elements": c.elements,
        "transcendentals": c.transcendentals, "arena_bytes": c.arena_bytes,
    })
}

/// Writes `content` to `path` unless a different published file is already there.
fn publish(path: &Path, content: &[u8]) -> Result<(), String> {
    match fs::read(path) {
        Ok(existing) if existing == content => Ok(()),
        Ok(_) => Err(format!("{} is published and would change; golden files never change", path.display())),
        Err(_) => fs::write(path, content).map_err(|e| format!("{}: {e}", path.display())),
    }
}

fn main() -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let models_dir = root.join("models");
    let vectors_dir = root.join("vectors/engine");
    fs::create_dir_all(&models_dir).map_err(|e| e.to_string())?;
    fs::create_dir_all(&vectors_dir).map_err(|e| e.to_string())?;
    let mut rng = Rng(42);
    let mut count = 0;
    for case in cases() {
        let bytes = encode(&case.model).map_err(|e| format!("{}: {e}", case.name))?;
        publish(&models_dir.join(format!("{}.aiop", case.name)), &bytes)?;
        let loaded = LoadedModel::load(&bytes, KernelPath::Reference).map_err(|e| e.to_string())?;
        for (label, input) in inputs(&mut rng, loaded.input_len()) {
            let output = loaded.run(&input).map_err(|e| e.to_string())?;
            let vector = serde_json::json!({
                "description": format!("{}; input: {label}", case.description),
                "model": format!("../../models/{}.aiop", case.name),
                "model_id": format!("0x{}", hex::encode(model_id(&bytes))),
                "input": format!("0x{}", hex::encode(&input)),
                "output": format!("0x{}", hex::encode(&output)),
                "cost": cost_json(loaded.cost()),
            });
            let text = serde_json::to_string_pretty(&vector).map_err(|e| e.to_string())? + "\n";
            publish(&vectors_dir.join(format!("{}-{label}.json", case.name)), text.as_bytes())?;
            count += 1;
        }
        println!("{:<22} {:>7} bytes  {}", case.name, bytes.len(), hex::encode(&model_id(&bytes)[..8]));
    }
    println!("{count} vectors in {}", vectors_dir.display());
    Ok(())
}
