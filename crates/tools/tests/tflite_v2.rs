//! Format v2 import: each operator it adds, from a small `.tflite` built here, with the
//! parameters TensorFlow Lite Micro's `Prepare` derives, worked out by hand in the comments
//! (`QuantizeMultiplier(r)`: `frexp(r) = (q, e)`, multiplier `round(q * 2^31)`, shift `e`).
//! Also: what v2 changed in the ops v1 has, and that v1 refuses the ops it lacks, by name.
//!
//! The TFLM build these follow is the pinned oracle (`scripts/requirements.txt`); where its
//! compiled `Prepare` computes in double and older sources computed in `float`, a case whose
//! result differs between the two pins the double one.

mod common;

use aiop_engine::{Clamp, FormatVersion, Model, Op, Scale};
use common::{F, FLOAT32, INT8, INT32, Tflite, single};

const ADD: i32 = 0;
const CONCATENATION: i32 = 2;
const FULLY_CONNECTED: i32 = 9;
const LOGISTIC: i32 = 14;
const SOFTMAX: i32 = 25;
const PAD: i32 = 34;
const MEAN: i32 = 40;
const SUB: i32 = 41;
const DIV: i32 = 42;
const SQUEEZE: i32 = 43;
const PADV2: i32 = 60;
const EXPAND_DIMS: i32 = 70;
const LEAKY_RELU: i32 = 98;
const QUANTIZE: i32 = 114;
const HARD_SWISH: i32 = 117;

const RELU: i8 = 1;

fn import(file: &[u8], version: FormatVersion) -> Model {
    let model = aiop_tools::tflite::import(file, version).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.version, version);
    aiop_engine::encode(&model).unwrap_or_else(|e| panic!("the engine rejects the import: {e}"));
    model
}

fn v2(file: &[u8]) -> Model {
    import(file, FormatVersion::V2)
}

fn import_err(file: &[u8], version: FormatVersion) -> String {
    aiop_tools::tflite::import(file, version).expect_err("must be refused").to_string()
}

/// `x (0.1, 0) -> QUANTIZE -> r (0.3, 2)`, then `code(x, r) -> (0.7, -3)` with fused RELU.
fn binary(code: i32) -> Vec<u8> {
    let mut t = Tflite::new();
    let x = t.act(&[1, 8], 0.1, 0);
    let r = t.act(&[1, 8], 0.3, 2);
    let y = t.act(&[1, 8], 0.7, -3);
    t.op(QUANTIZE, &[x], &[r], None);
    t.op(code, &[x, r], &[y], Some(vec![(0, F::I8(RELU))]));
    t.finish(x, y)
}

#[test]
fn sub_derives_its_scales_as_add_does() {
    // twice_max = 2 * max(0.1f, 0.3f) = 0.6000000238 (double); 0.1f / 0.6 = 0.1666666672 ->
    // (0.66666667, -2) -> 1431655730; 0.3f / 0.6 = 0.5 -> (2^30, 0); 0.6 / (2^20 * 0.7f) ->
    // (0.857142..., -20) -> 1840700374. (In float, as the August 2026 sources had SUB, they
    // would be 1431655680 and 1840700416.) RELU at output zero point -3: [-3, 127].
    for code in [SUB, ADD] {
        let m = v2(&binary(code));
        let (Op::Sub { left_shift, lhs_scale, rhs_scale, output_scale, clamp, .. }
        | Op::Add { left_shift, lhs_scale, rhs_scale, output_scale, clamp, .. }) = m.ops[1]
        else {
            panic!("{:?}", m.ops)
        };
        assert_eq!(m.ops[1].name(), if code == SUB { "Sub" } else { "Add" });
        assert_eq!(left_shift, 20);
        assert_eq!(lhs_scale, Scale::new(1431655730, -2));
        assert_eq!(rhs_scale, Scale::new(1 << 30, 0));
        assert_eq!(output_scale, Scale::new(1840700374, -20));
        assert_eq!(clamp, Clamp { min: -3, max: 127 });
    }
}

#[test]
fn quantize_int8_to_int8_is_requantize() {
    // 0.5f / 0.2f = 0.5 / 0.200000003 = 2.4999999627 -> frexp (0.62499999, 2) -> 1342177260.
    let file = single(QUANTIZE, (&[1, 6], 0.5, 3), (&[1, 6], 0.2, -1), None);
    let m = v2(&file);
    assert!(matches!(m.ops[..], [Op::Requantize { scale: Scale { multiplier: 1342177260, shift: 2 }, .. }]), "{m:?}");
    assert_eq!((m.tensors[0].zero_point, m.tensors[1].zero_point), (3, -1));

    // A float QUANTIZE (float model input) is refused with the conversion hint.
    let mut t = Tflite::new();
    let x = t.tensor(&[1, 6], FLOAT32, &[], &[], None);
    let y = t.act(&[1, 6], 0.2, -1);
    t.op(QUANTIZE, &[x], &[y], None);
    let err = import_err(&t.finish(x, y), FormatVersion::V2);
    assert!(err.contains("inference_input_type"), "{err}");
}

#[test]
fn concatenation_needs_equal_quantization() {
    // [1, 2, 2, 3] twice along the last axis: the engine's axis 2 of [2, 2, 6] (batch dropped).
    let mut t = Tflite::new();
    let x = t.act(&[1, 2, 2, 3], 0.5, 1);
    let y = t.act(&[1, 2, 2, 6], 0.5, 1);
    t.op(CONCATENATION, &[x, x], &[y], Some(vec![(0, F::I32(-1))]));
    let m = v2(&t.finish(x, y));
    let Op::Concatenation { ref inputs, axis, .. } = m.ops[0] else { panic!("{:?}", m.ops) };
    assert_eq!((inputs.len(), axis), (2, 2));
    assert_eq!(m.tensors[1].shape, [2, 2, 6]);

    // Three inputs along axis 1 (H): engine axis 0.
    let mut t = Tflite::new();
    let x = t.act(&[1, 2, 2, 3], 0.5, 1);
    let y = t.act(&[1, 6, 2, 3], 0.5, 1);
    t.op(CONCATENATION, &[x, x, x], &[y], Some(vec![(0, F::I32(1))]));
    assert!(matches!(v2(&t.finish(x, y)).ops[..], [Op::Concatenation { axis: 0, .. }]));

    // An input with another scale: refused (TFLM requires equal scale and zero point).
    let mut t = Tflite::new();
    let x = t.act(&[1, 4], 0.5, 1);
    let r = t.act(&[1, 4], 0.25, 1);
    let y = t.act(&[1, 8], 0.5, 1);
    t.op(QUANTIZE, &[x], &[r], None);
    t.op(CONCATENATION, &[x, r], &[y], Some(vec![(0, F::I32(1))]));
    let err = import_err(&t.finish(x, y), FormatVersion::V2);
    assert!(err.contains("operator 1 (CONCATENATION)") && err.contains("scale 0.25"), "{err}");
    assert!(err.contains("requires every input to have the output's"), "{err}");

    // A fused activation: refused, as TFLM does.
    let mut t = Tflite::new();
    let x = t.act(&[1, 4], 0.5, 1);
    let y = t.act(&[1, 8], 0.5, 1);
    t.op(CONCATENATION, &[x, x], &[y], Some(vec![(0, F::I32(1)), (1, F::I8(RELU))]));
    let err = import_err(&t.finish(x, y), FormatVersion::V2);
    assert!(err.contains("no fused activation"), "{err}");
}

/// `x [1, 3, 3, 2] -> PAD(V2) [[0, 0], [1, 1], [2, 0], [0, 0]] -> [1, 5, 5, 2]`.
fn pad_model(code: i32, x_q: (f32, i64), y_q: (f32, i64), constant: Option<(i8, f32, i64)>) -> Vec<u8> {
    let mut t = Tflite::new();
    let x = t.act(&[1, 3, 3, 2], x_q.0, x_q.1);
    let y = t.act(&[1, 5, 5, 2], y_q.0, y_q.1);
    let p = t.int32s(&[4, 2], &[0, 0, 1, 1, 2, 0, 0, 0]);
    let mut inputs = vec![x, p];
    if let Some((value, scale, zp)) = constant {
        inputs.push(t.tensor(&[1], INT8, &[scale], &[zp], Some(vec![value as u8])));
    }
    t.op(code, &inputs, &[y], None);
    t.finish(x, y)
}

#[test]
fn pad_value_is_the_output_zero_point_or_padv2s_constant() {
    let m = v2(&pad_model(PAD, (0.5, -5), (0.5, -5), None));
    let Op::Pad { ref paddings, value, .. } = m.ops[0] else { panic!("{:?}", m.ops) };
    assert_eq!((paddings.as_slice(), value), (&[(1, 1), (2, 0), (0, 0)][..], -5));

    let m = v2(&pad_model(PADV2, (0.5, -5), (0.5, -5), Some((7, 0.5, -5))));
    assert!(matches!(m.ops[..], [Op::Pad { value: 7, .. }]), "{m:?}");

    // TFLM copies the input bytes whatever the two quantizations are; the value is the output's
    // zero point.
    let m = v2(&pad_model(PAD, (0.5, -5), (0.25, 3), None));
    assert!(matches!(m.ops[..], [Op::Pad { value: 3, .. }]), "{m:?}");

    // PADV2's constant must be quantized as the output is.
    let err = import_err(&pad_model(PADV2, (0.5, -5), (0.5, -5), Some((7, 0.5, 0))), FormatVersion::V2);
    assert!(err.contains("constant value's quantization"), "{err}");
}

/// `x -> MEAN(axes) -> y`.
fn mean_model(x: (&[i32], f32, i64), axes: &[i32], keep_dims: bool, y: (&[i32], f32, i64)) -> Vec<u8> {
    let mut t = Tflite::new();
    let xi = t.act(x.0, x.1, x.2);
    let yi = t.act(y.0, y.1, y.2);
    let a = t.int32s(&[axes.len() as i32], axes);
    t.op(MEAN, &[xi, a], &[yi], Some(vec![(0, F::U8(keep_dims.into()))]));
    t.finish(xi, yi)
}

#[test]
fn mean_folds_the_element_count_into_its_scale() {
    // 0.5 / 0.25 = 2 -> (2^30, 2). Count 16: shift = min(floor(log2 16) = 4, 32, 31 + 2) = 4;
    // multiplier = (2^30 << 4) / 16 = 2^30; shift 2 - 4 = -2.
    let file = mean_model((&[1, 4, 4, 8], 0.5, 1), &[1, 2], true, (&[1, 1, 1, 8], 0.25, -2));
    let m = v2(&file);
    assert!(
        matches!(m.ops[..], [Op::Mean { axes: 0b011, scale: Scale { multiplier: 0x4000_0000, shift: -2 }, .. }]),
        "{m:?}"
    );

    // Without keep_dims the file's output is [1, 8]: the engine's Mean writes [1, 1, 8] and a
    // Reshape gives the file's shape.
    let file = mean_model((&[1, 4, 4, 8], 0.5, 1), &[1, 2], false, (&[1, 8], 0.25, -2));
    let m = v2(&file);
    assert!(matches!(m.ops[..], [Op::Mean { axes: 0b011, .. }, Op::Reshape { .. }]), "{m:?}");

    // Equal quantizations still requantize (TFLM's only int8 path since 2023): 1.0 -> (2^30, 1);
    // count 5: shift = min(2, 32, 32) = 2; (2^30 << 2) / 5 = 4294967296 / 5 = 858993459; 1 - 2 = -1.
    let file = mean_model((&[2, 5, 3], 1.0, 4), &[1], false, (&[2, 3], 1.0, 4));
    let m = v2(&file);
    assert!(matches!(m.ops[..], [Op::Mean { axes: 0b010, scale: Scale { multiplier: 858993459, shift: -1 }, .. }]));

    // A negative and a repeated axis name one axis. 0.1f / 0.3f (in double) = 0.333333325 ->
    // (0.66666665, -1) -> 1431655730; count 7: shift = min(2, 32, 31 - 1) = 2;
    // (1431655730 << 2) / 7 = 5726622920 / 7 = 818088988 (truncated); -1 - 2 = -3.
    let file = mean_model((&[2, 5, 7], 0.1, 0), &[-1, 2], false, (&[2, 5], 0.3, 0));
    let m = v2(&file);
    assert!(matches!(m.ops[..], [Op::Mean { axes: 0b100, scale: Scale { multiplier: 818088988, shift: -3 }, .. }]));

    // Reducing only the batch axis divides by 1: a Requantize by QuantizeMultiplier(2) = (2^30, 2).
    let file = mean_model((&[1, 4, 4, 8], 0.5, 1), &[0], true, (&[1, 4, 4, 8], 0.25, -2));
    let m = v2(&file);
    assert!(matches!(m.ops[..], [Op::Requantize { scale: Scale { multiplier: 0x4000_0000, shift: 2 }, .. }]));
}

#[test]
fn hard_swish_params() {
    // input 1/16: hires = 2^-11. output 1/32: 2^-11 / 2^-5 = 2^-6 -> (2^30, -5) -> int16
    // (2^30 + 2^15) >> 16 = 16384. reluish: 2^-11 / (3 / 32768) = 16/3 = 5.3333 -> (0.6667, 3)
    // -> 1431655765 -> (1431655765 + 32768) >> 16 = 21845.
    let m = v2(&single(HARD_SWISH, (&[1, 8], 1.0 / 16.0, 2), (&[1, 8], 1.0 / 32.0, -4), None));
    assert!(
        matches!(
            m.ops[..],
            [Op::HardSwish {
                reluish_multiplier: 21845,
                reluish_exponent: 3,
                output_multiplier: 16384,
                output_exponent: -5,
                ..
            }]
        ),
        "{m:?}"
    );
    // input 0.1f: hires = 0.1f / 128; reluish = hires / (3 / 32768) = 8.53333346 ->
    // (0.53333334, 4) -> 1145324629 -> (1145324629 + 32768) >> 16 = 17476; output: hires /
    // 0.05f = 1/64 -> (2^30, -5) -> 16384.
    let m = v2(&single(HARD_SWISH, (&[1, 8], 0.1, 0), (&[1, 8], 0.05, 0), None));
    assert!(matches!(
        m.ops[..],
        [Op::HardSwish {
            reluish_multiplier: 17476,
            reluish_exponent: 4,
            output_multiplier: 16384,
            output_exponent: -5,
            ..
        }]
    ));
    // input 0.16905782 (0x3e2d1d7e), output 0.06039122 (0x3d775cc9): hires = 0.00132076419 (float);
    // hires / output = 0.0218700 (double) -> (0.69984, -5) -> 1502904267 -> 22932 (in float:
    // 1502904320 -> 22933); reluish = 14.426267 -> (0.90164, 4) -> 1936260779 -> 29545.
    let (x, y) = (f32::from_bits(0x3e2d_1d7e), f32::from_bits(0x3d77_5cc9));
    let m = v2(&single(HARD_SWISH, (&[1, 8], x, 0), (&[1, 8], y, 0), None));
    assert!(matches!(
        m.ops[..],
        [Op::HardSwish {
            reluish_multiplier: 29545,
            reluish_exponent: 4,
            output_multiplier: 22932,
            output_exponent: -5,
            ..
        }]
    ));
}

#[test]
fn leaky_relu_identity_and_alpha() {
    // identity 0.5 / 0.25 = 2 -> (2^30, 2); alpha 0.5 * 0.2f / 0.25 = 0.40000000596
    // -> (0.80000001, -1) -> round(0.8000000119 * 2^31) = 1717986944.
    let file = single(LEAKY_RELU, (&[1, 8], 0.5, 0), (&[1, 8], 0.25, 0), Some(vec![(0, F::F32(0.2))]));
    let m = v2(&file);
    let Op::LeakyRelu { identity_scale, alpha_scale, alpha_negative, .. } = m.ops[0] else { panic!("{:?}", m.ops) };
    assert_eq!(
        (identity_scale, alpha_scale, alpha_negative),
        (Scale::new(1 << 30, 2), Scale::new(1717986944, -1), false)
    );

    // A negative alpha: QuantizeMultiplier(-0.5) = (-2^30, 0); the kernel negates the product.
    let file = single(LEAKY_RELU, (&[1, 8], 1.0, 0), (&[1, 8], 1.0, 0), Some(vec![(0, F::F32(-0.5))]));
    let m = v2(&file);
    let Op::LeakyRelu { identity_scale, alpha_scale, alpha_negative, .. } = m.ops[0] else { panic!("{:?}", m.ops) };
    assert_eq!((identity_scale, alpha_scale, alpha_negative), (Scale::new(1 << 30, 1), Scale::new(1 << 30, 0), true));

    // Double, not float: 0.041f * 0.39f / 0.066f = 0.2422727264 -> (0.96909091, -2) ->
    // 2081106873 (the float quotient would give 2081106944); identity 0.041f / 0.066f =
    // 0.62121214 -> (0.62121214, 0) -> 1334042916.
    let (x, alpha, y) = (f32::from_bits(0x3d27_ef9e), f32::from_bits(0x3ec7_ae14), f32::from_bits(0x3d87_2b02));
    let file = single(LEAKY_RELU, (&[1, 8], x, 0), (&[1, 8], y, 0), Some(vec![(0, F::F32(alpha))]));
    let m = v2(&file);
    let Op::LeakyRelu { identity_scale, alpha_scale, alpha_negative, .. } = m.ops[0] else { panic!("{:?}", m.ops) };
    assert_eq!(
        (identity_scale, alpha_scale, alpha_negative),
        (Scale::new(1334042916, 0), Scale::new(2081106873, -2), false)
    );
}

#[test]
fn squeeze_and_expand_dims_are_reshapes() {
    let m = v2(&single(SQUEEZE, (&[1, 1, 8], 0.5, 0), (&[8], 0.5, 0), Some(vec![])));
    assert!(matches!(m.ops[..], [Op::Reshape { .. }]));
    let mut t = Tflite::new();
    let x = t.act(&[8], 0.5, 0);
    let y = t.act(&[1, 8], 0.5, 0);
    let axis = t.int32s(&[1], &[0]);
    t.op(EXPAND_DIMS, &[x, axis], &[y], None);
    let m = v2(&t.finish(x, y));
    assert!(matches!(m.ops[..], [Op::Reshape { .. }]));
    assert_eq!(m.tensors[1].shape, [1, 8]);
}

/// Format v1 refuses each operator only v2 has, naming it; v2 still names what it lacks.
#[test]
fn each_version_names_the_ops_it_lacks() {
    let q = |shape: &'static [i32]| (shape, 0.5f32, 0i64);
    let files = [
        ("SUB", binary(SUB), 1),
        ("QUANTIZE", single(QUANTIZE, q(&[1, 8]), q(&[1, 8]), None), 0),
        ("PAD", pad_model(PAD, (0.5, 0), (0.5, 0), None), 0),
        ("PADV2", pad_model(PADV2, (0.5, 0), (0.5, 0), None), 0),
        ("MEAN", mean_model(q(&[1, 8]), &[1], true, q(&[1, 1])), 0),
        ("HARD_SWISH", single(HARD_SWISH, q(&[1, 8]), q(&[1, 8]), None), 0),
        ("LEAKY_RELU", single(LEAKY_RELU, q(&[1, 8]), q(&[1, 8]), None), 0),
        ("SQUEEZE", single(SQUEEZE, q(&[1, 8]), q(&[8]), None), 0),
        ("EXPAND_DIMS", single(EXPAND_DIMS, q(&[8]), q(&[1, 8]), None), 0),
    ];
    for (name, file, first) in files {
        // The first operator v1 lacks is the one named (binary() starts with a QUANTIZE).
        let named = if first == 1 { "QUANTIZE" } else { name };
        let err = import_err(&file, FormatVersion::V1);
        assert!(err.contains(&format!("operator 0 is {named} (format v1 does not have it")), "{name}: {err}");
        assert!(err.contains("--format-version 2"), "{err}");
        aiop_tools::tflite::import(&file, FormatVersion::V2).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let mut t = Tflite::new();
    let x = t.act(&[1, 8], 0.5, 0);
    let y = t.act(&[1, 8], 0.5, 0);
    t.op(DIV, &[x, x], &[y], None);
    let err = import_err(&t.finish(x, y), FormatVersion::V2);
    assert!(err.contains("operator 0 is DIV, which aiop cannot import"), "{err}");
}

/// `x [1, 4] -> FULLY_CONNECTED (per-tensor weights) -> y [1, 2]`.
fn fc_model(x_scale: f32, w_scale: f32, y_scale: f32, bias_scale: f32) -> Vec<u8> {
    let mut t = Tflite::new();
    let x = t.act(&[1, 4], x_scale, 0);
    let w = t.tensor(&[2, 4], INT8, &[w_scale], &[0], Some(vec![1, 2, 3, 4, 5, 6, 7, 8]));
    let b =
        t.tensor(&[2], INT32, &[bias_scale], &[0], Some([10i32, -10].iter().flat_map(|v| v.to_le_bytes()).collect()));
    let y = t.act(&[1, 2], y_scale, 0);
    t.op(FULLY_CONNECTED, &[x, w, b], &[y], None);
    t.finish(x, y)
}

#[test]
fn per_tensor_fully_connected_scale_and_bias_check() {
    // The pinned TFLM build's GetQuantizedConvolutionMultipler multiplies the scales in double
    // (as LiteRT, v1, does): 1740290376, shift -9. (With the product in float, as the August
    // 2026 sources have it, it would be 1740290456; MLPerf Tiny's ad01 then differs from TFLM.)
    let (x, w, y) = (f32::from_bits(0x3c6a_5330), f32::from_bits(0x3d2e_2de9), f32::from_bits(0x3ec4_bc5c));
    let file = fc_model(x, w, y, x * w);
    let scales = |m: &Model| match &m.ops[0] {
        Op::FullyConnected { output_scales, .. } => output_scales.clone(),
        other => panic!("{other:?}"),
    };
    for version in FormatVersion::ALL {
        assert_eq!(scales(&import(&file, version)), [Scale::new(1740290376, -9); 2], "{version}");
    }

    // TFLM rejects a bias scale more than 2% of an output step away from input * weight.
    let file = fc_model(0.5, 0.01, 0.1, 0.5 * 0.01 * 2.0);
    let err = import_err(&file, FormatVersion::V2);
    assert!(err.contains("bias scale"), "{err}");
    import(&file, FormatVersion::V1);
}

#[test]
fn softmax_scaling_caps_at_2_31_in_v2() {
    let softmax =
        |beta: f32| single(SOFTMAX, (&[1, 10], 0.625, 0), (&[1, 10], 1.0 / 256.0, -128), Some(vec![(0, F::F32(beta))]));
    // beta * scale = 10: 10 * 2^26 = 671088640 -> (0.625, 30) -> 1342177280; radius
    // floor(31 * 2^26 / 2^30) = 1. Below both caps: v1 and v2 agree.
    for version in FormatVersion::ALL {
        let m = import(&softmax(16.0), version);
        assert!(
            matches!(m.ops[..], [Op::Softmax { beta: Scale { multiplier: 1342177280, shift: 30 }, diff_min: -1, .. }]),
            "{version}: {m:?}"
        );
    }
    // beta * scale = 20: v1 caps the multiplier at 2^30 - 1 (shift 30); v2's cap 2^31 - 1 gives
    // a left shift of 31, which no engine scale holds: refused.
    let m = import(&softmax(32.0), FormatVersion::V1);
    assert!(matches!(m.ops[..], [Op::Softmax { beta: Scale { multiplier: 2147483646, shift: 30 }, .. }]), "{m:?}");
    let err = import_err(&softmax(32.0), FormatVersion::V2);
    assert!(err.contains("beta * input scale"), "{err}");
}

#[test]
fn logistic_output_scale_is_free_in_v2() {
    // TFLM checks only LOGISTIC's output zero point; LiteRT (v1) also its scale 1/256.
    let file = single(LOGISTIC, (&[1, 8], 0.1, 0), (&[1, 8], 1.0 / 128.0, -128), None);
    v2(&file);
    assert!(import_err(&file, FormatVersion::V1).contains("output quantization must be"));
}
