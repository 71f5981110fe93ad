//! Format version 2: small cases worked out by hand (the arithmetic is in the comments) for
//! the double-rounding rule and every op version 2 adds, run on every kernel path this CPU has.
//! TensorFlow Lite Micro itself is the oracle in `scripts/check_tflm.sh`; these pin the
//! formulas of `docs/model-format.md` independently of it.

mod common;

use aiop_engine::{Clamp, FormatVersion, Model, ModelBuilder, Op, Scale, Tensor, encode};
use common::{act, run};

/// 0.5 and 1.0 as Scales (multiplier * 2^(shift - 31)).
const HALF: Scale = Scale::new(1 << 30, 0);
const ONE: Scale = Scale::new(1 << 30, 1);
/// 0.25 = 2^30 * 2^(-1 - 31).
const QUARTER: Scale = Scale::new(1 << 30, -1);

fn unary(in_shape: &[u32], zp_in: i32, out_shape: &[u32], zp_out: i32, op: impl Fn(u16, u16) -> Op) -> Model {
    common::unary(FormatVersion::V2, in_shape, zp_in, out_shape, zp_out, op)
}

fn fully_connected(version: FormatVersion, scale: Scale) -> Model {
    let mut b = ModelBuilder::new(version);
    let x = act(&mut b, &[1], 0);
    let w = b.tensor(Tensor::weights(&[4, 1], Scale::default(), vec![3, -3, 5, -5]));
    let y = act(&mut b, &[4], 0);
    b.op(Op::FullyConnected {
        input: x,
        weights: w,
        bias: None,
        output: y,
        output_scales: vec![scale; 4],
        clamp: Clamp::NONE,
    });
    b.finish(x, y)
}

#[test]
fn version_2_rounds_twice_half_away_from_zero() {
    // acc = w * 1 = 3, -3, 5, -5.
    // x 0.5: v2's high multiply srdhm(acc, 2^30) rounds half up, like v1: 1.5 -> 2, -1.5 -> -1,
    // 2.5 -> 3, -2.5 -> -2.
    assert_eq!(run(&fully_connected(FormatVersion::V2, HALF), &[1]), [2, -1, 3, -2]);
    assert_eq!(run(&fully_connected(FormatVersion::V1, HALF), &[1]), [2, -1, 3, -2]);
    // x 0.25: v2 takes those halves (2, -1, 3, -2) and divides by 2 rounding half away from
    // zero: 1, -0.5 -> -1, 1.5 -> 2, -1. v1 rounds the exact 0.75, -0.75, 1.25, -1.25 once:
    // 1, -1, 1, -1. The two rules differ on the third.
    assert_eq!(run(&fully_connected(FormatVersion::V2, QUARTER), &[1]), [1, -1, 2, -1]);
    assert_eq!(run(&fully_connected(FormatVersion::V1, QUARTER), &[1]), [1, -1, 1, -1]);
}

#[test]
fn sub_rescales_each_input_then_subtracts() {
    // Both sides read x (zp 1), with different scales. left_shift 1:
    // a = (x - 1) * 2 * 1.0, c = (x - 1) * 2 * 0.5 = x - 1; out = (a - c) * 1.0 + 10 = x + 9,
    // clamped at 100.
    let mut b = ModelBuilder::new(FormatVersion::V2);
    let x = act(&mut b, &[3], 1);
    let y = act(&mut b, &[3], 10);
    b.op(Op::Sub {
        lhs: x,
        rhs: x,
        output: y,
        left_shift: 1,
        lhs_scale: ONE,
        rhs_scale: HALF,
        output_scale: ONE,
        clamp: Clamp { min: -128, max: 100 },
    });
    assert_eq!(run(&b.finish(x, y), &[1, 5, 120]), [10, 14, 100]);
}

#[test]
fn concatenation_joins_along_any_axis() {
    // [2, 2] joined with itself along axis 1 gives [2, 4]: each row twice.
    let mut b = ModelBuilder::new(FormatVersion::V2);
    let x = act(&mut b, &[2, 2], 3);
    let y = act(&mut b, &[2, 4], 3);
    b.op(Op::Concatenation { inputs: vec![x, x], output: y, axis: 1 });
    assert_eq!(run(&b.finish(x, y), &[1, 2, 3, 4]), [1, 2, 1, 2, 3, 4, 3, 4]);
    // Along axis 0: the blocks one after the other.
    let mut b = ModelBuilder::new(FormatVersion::V2);
    let x = act(&mut b, &[2, 2], 3);
    let y = act(&mut b, &[4, 2], 3);
    b.op(Op::Concatenation { inputs: vec![x, x], output: y, axis: 0 });
    assert_eq!(run(&b.finish(x, y), &[1, 2, 3, 4]), [1, 2, 3, 4, 1, 2, 3, 4]);
}

#[test]
fn concatenation_needs_one_quantization() {
    let mut b = ModelBuilder::new(FormatVersion::V2);
    let x = act(&mut b, &[2], 3);
    let y = act(&mut b, &[4], 4);
    b.op(Op::Concatenation { inputs: vec![x, x], output: y, axis: 0 });
    assert!(encode(&b.finish(x, y)).is_err());
}

#[test]
fn pad_surrounds_with_the_value() {
    // [1, 2] padded by (1, 0) rows and (1, 2) columns: [2, 5].
    let model = unary(&[1, 2], 0, &[2, 5], 0, |x, y| Op::Pad {
        input: x,
        output: y,
        paddings: vec![(1, 0), (1, 2)],
        value: -7,
    });
    assert_eq!(run(&model, &[5, 6]), [-7, -7, -7, -7, -7, -7, 5, 6, -7, -7]);
}

#[test]
fn mean_requantizes_the_centered_sum() {
    // Rows of [2, 3] averaged over axis 1 with zp_in 1: centered sums (3+4+5) - 3 = 9 and
    // (-2-1+0) - 3 = -6; scale 0.25 (as a tool folds 1/3 and rescaling into it):
    // srdhm(9, 2^30) = 4.5 -> 5 (half up), rdbp(5, 1) = 2.5 -> 3 (half away from zero);
    // srdhm(-6, 2^30) = -3, rdbp(-3, 1) = -1.5 -> -2; plus zp_out -4: -1 and -6. Kept as [2, 1] or dropped to [2], the bytes agree.
    for out_shape in [&[2u32, 1][..], &[2]] {
        let model =
            unary(&[2, 3], 1, out_shape, -4, |x, y| Op::Mean { input: x, output: y, axes: 0b10, scale: QUARTER });
        assert_eq!(run(&model, &[3, 4, 5, -2, -1, 0]), [-1, -6]);
    }
    // All axes of a [2, 2]: one value, shape [1].
    let model = unary(&[2, 2], 0, &[1], 0, |x, y| Op::Mean { input: x, output: y, axes: 0b11, scale: QUARTER });
    // sum 10 * 0.25: srdhm(10, 2^30) = 5, rdbp(5, 1) = 3.
    assert_eq!(run(&model, &[1, 2, 3, 4]), [3]);
}

#[test]
fn mean_refuses_empty_axes_and_a_wrong_output() {
    let bad_axes = unary(&[2, 3], 0, &[2, 3], 0, |x, y| Op::Mean { input: x, output: y, axes: 0, scale: ONE });
    assert!(encode(&bad_axes).is_err());
    let axis_beyond_rank =
        unary(&[2, 3], 0, &[2, 3], 0, |x, y| Op::Mean { input: x, output: y, axes: 0b100, scale: ONE });
    assert!(encode(&axis_beyond_rank).is_err());
    let wrong_shape = unary(&[2, 3], 0, &[3], 0, |x, y| Op::Mean { input: x, output: y, axes: 0b10, scale: ONE });
    assert!(encode(&wrong_shape).is_err());
}

#[test]
fn requantize_moves_between_quantizations() {
    // (x - 2) * 0.5 (srdhm: half up), + (-3), saturated to int8.
    let model = unary(&[4], 2, &[4], -3, |x, y| Op::Requantize { input: x, output: y, scale: HALF });
    // x=5: 1.5 -> 2 -> -1; x=-1: -1.5 -> -1 -> -4; x=127: 62.5 -> 63 -> 60; x=-128: -65 -> -68.
    assert_eq!(run(&model, &[5, -1, 127, -128]), [-1, -4, 60, -68]);
}

#[test]
fn leaky_relu_uses_alpha_below_the_zero_point() {
    let model = |alpha_negative| {
        unary(&[3], 0, &[3], 1, move |x, y| Op::LeakyRelu {
            input: x,
            output: y,
            identity_scale: ONE,
            alpha_scale: QUARTER,
            alpha_negative,
        })
    };
    // x = 10: 10 + 1. x = -10: -10 * 0.25: srdhm(-10, 2^30) = -5 (exact), rdbp(-5, 1) = -2.5
    // -> -3 (ties away from zero);
    // + 1 = -2 (or, negated for a negative alpha, 3 + 1 = 4). x = 0: identity, 1.
    assert_eq!(run(&model(false), &[10, -10, 0]), [11, -2, 1]);
    assert_eq!(run(&model(true), &[10, -10, 0]), [11, 4, 1]);
}

#[test]
fn hard_swish_in_sixteen_bit_fixed_point() {
    // Multipliers 0.5 in Q15 (16384), reluish exponent 0, output exponent -7, zero points 0.
    // x = 64: hires = 8192; pre = srdhm16(8192, 16384) = 4096; reluish = srdhm16(8192, 16384)
    //   = 4096, then (4096 + 32768) >> 1 = 18432; sdhm16(18432, 4096) = 2304; 2304 / 2^7 = 18.
    // x = -64: pre = srdhm16(-8192, 16384) = trunc(-4096.49) = -4096; reluish = -4096 ->
    //   (-4096 + 32768) >> 1 = 14336; sdhm16(14336, -4096) = -1792; -1792 / 2^7 = -14.
    // x = 0: 0.
    let model = unary(&[3], 0, &[3], 0, |x, y| Op::HardSwish {
        input: x,
        output: y,
        reluish_multiplier: 16384,
        reluish_exponent: 0,
        output_multiplier: 16384,
        output_exponent: -7,
    });
    assert_eq!(run(&model, &[64, -64, 0]), [18, -14, 0]);
}

#[test]
fn version_1_models_cannot_use_version_2_ops() {
    let mut b = ModelBuilder::new(FormatVersion::V1);
    let x = act(&mut b, &[2], 0);
    let y = act(&mut b, &[2], 0);
    b.op(Op::Requantize { input: x, output: y, scale: ONE });
    let err = encode(&b.finish(x, y)).unwrap_err().to_string();
    assert!(err.contains("needs format v2"), "{err}");
    // And the byte-level op code is unknown to a version 1 decoder.
    let v2 = encode(&unary(&[2], 0, &[2], 0, |x, y| Op::Requantize { input: x, output: y, scale: ONE })).unwrap();
    let mut as_v1 = v2.clone();
    as_v1[4] = 1;
    assert!(matches!(aiop_engine::decode(&as_v1), Err(aiop_engine::EngineError::UnknownOp { code: 17, .. })));
}

#[test]
fn every_version_2_op_round_trips_and_is_canonical() {
    let models = [
        unary(&[2, 2], 0, &[3, 3], 0, |x, y| Op::Pad { input: x, output: y, paddings: vec![(0, 1), (1, 0)], value: 3 }),
        unary(&[2, 2], 5, &[2], 6, |x, y| Op::Mean { input: x, output: y, axes: 1, scale: HALF }),
        unary(&[2], 0, &[2], 0, |x, y| Op::LeakyRelu {
            input: x,
            output: y,
            identity_scale: ONE,
            alpha_scale: HALF,
            alpha_negative: true,
        }),
    ];
    for model in models {
        let bytes = encode(&model).unwrap();
        assert_eq!(aiop_engine::decode(&bytes).unwrap(), model);
        assert_eq!(bytes[4], 2, "version byte");
        // The sign byte of LeakyRelu and every other enumerated byte take only listed values.
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] = 7;
        if matches!(model.ops[0], Op::LeakyRelu { .. }) {
            assert!(aiop_engine::decode(&bad).is_err());
        }
    }
}
