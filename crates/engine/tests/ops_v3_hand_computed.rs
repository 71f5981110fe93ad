//! Format version 3: the integer-only transformer ops (BatchMatMul, LayerNorm, Gelu, Gather,
//! Transpose) on small cases worked out by hand (the arithmetic is in the comments), run on
//! every kernel path this CPU has, and the rules validation adds for them.

mod common;

use aiop_engine::{Clamp, EngineError, FormatVersion, Model, ModelBuilder, Op, Scale, Tensor, encode, ops::reference};
use common::{act, run};

/// 0.5, 1 and 2^-9 as Scales (multiplier * 2^(shift - 31)).
const HALF: Scale = Scale::new(1 << 30, 0);
const ONE: Scale = Scale::new(1 << 30, 1);
const ONE_512TH: Scale = Scale::new(1 << 30, -8);

fn unary(in_shape: &[u32], zp_in: i32, out_shape: &[u32], zp_out: i32, op: impl Fn(u16, u16) -> Op) -> Model {
    common::unary(FormatVersion::V3, in_shape, zp_in, out_shape, zp_out, op)
}

/// The product of a `[1, 2, 2]` input with its own transpose (made by a Transpose op): both
/// factors of a BatchMatMul are activations.
fn self_product(transpose_rhs: bool, zp: i32, scale: Scale) -> Model {
    let mut b = ModelBuilder::new(FormatVersion::V3);
    let x = act(&mut b, &[1, 2, 2], zp);
    let xt = act(&mut b, &[1, 2, 2], zp);
    let y = act(&mut b, &[1, 2, 2], 0);
    b.op(Op::Transpose { input: x, output: xt, perm: vec![0, 2, 1] });
    b.op(Op::BatchMatMul { lhs: x, rhs: xt, output: y, transpose_rhs, output_scale: scale, clamp: Clamp::NONE });
    b.finish(x, y)
}

#[test]
fn batch_matmul_of_an_activation_with_its_transpose() {
    // x = [[1, 2], [3, 4]] with zp 1: centered A = [[0, 1], [2, 3]], A^T = [[0, 2], [1, 3]].
    // A * A^T = [[1, 3], [3, 13]]; times 1: the same.
    assert_eq!(run(&self_product(false, 1, ONE), &[1, 2, 3, 4]), [1, 3, 3, 13]);
    // transpose_rhs reads the rhs A^T as stored [N, K], i.e. A^T^T = A: A * A =
    // [[2, 3], [6, 11]]; times 0.5 with double rounding (half away from zero): [1, 2, 3, 6].
    assert_eq!(run(&self_product(true, 1, HALF), &[1, 2, 3, 4]), [1, 2, 3, 6]);
}

#[test]
fn batch_matmul_saturates_to_the_clamp() {
    // x = [[127, 127], [127, 127]] with zp -128: centered 255 each; 255 * 255 * 2 = 130050,
    // times 1 clamps to 127. With zp 127 and x = -128: the same magnitude.
    assert_eq!(run(&self_product(false, -128, ONE), &[127; 4]), [127; 4]);
    assert_eq!(run(&self_product(false, 127, ONE), &[-128; 4]), [127; 4]);
}

fn layer_norm(depth: u32, gamma: Vec<i8>, beta: Option<Vec<i32>>, epsilon: u32) -> Model {
    let mut b = ModelBuilder::new(FormatVersion::V3);
    let x = act(&mut b, &[2, depth], 0);
    let g = b.tensor(Tensor::weights(&[depth], Scale::default(), gamma));
    let beta = beta.map(|v| b.tensor(Tensor::bias(v, Scale::default())));
    let y = act(&mut b, &[2, depth], 0);
    b.op(Op::LayerNorm { input: x, gamma: g, beta, output: y, epsilon, output_scale: ONE_512TH });
    b.finish(x, y)
}

#[test]
fn layer_norm_normalizes_each_row() {
    // Row [0, 2] (mean 1, std 1): sum 2, d = [2*0 - 2, 2*2 - 2] = [-2, 2], sum d^2 = 8,
    // 2^8 * 8 / 2 = 1024, r = isqrt(1024) = 32, recip = 2^48 / 32 = 2^43,
    // n = 2 * 2^43 / 2^32 = 4096 = 1.0 in Q12: [-4096, 4096]; gamma 1, times 2^-9: [-8, 8].
    // Row [5, 5]: d = [0, 0], r = max(1, isqrt(0)) = 1, n = 0: [0, 0].
    assert_eq!(run(&layer_norm(2, vec![1, 1], None, 0), &[0, 2, 5, 5]), [-8, 8, 0, 0]);
    // gamma [3, -2], beta [512, 0]: [-3 * 4096 + 512, -2 * 4096] / 512 = [-23, -16]; the
    // constant row gives beta / 512 = [1, 0].
    assert_eq!(run(&layer_norm(2, vec![3, -2], Some(vec![512, 0]), 0), &[0, 2, 5, 5]), [-23, -16, 1, 0]);
    // epsilon 3072 makes r = isqrt(1024 + 3072) = 64: n = 2 * 2^42 / 2^32 = 2048: [-4, 4].
    assert_eq!(run(&layer_norm(2, vec![1, 1], None, 3072), &[0, 2, 5, 5]), [-4, 4, 0, 0]);
}

#[test]
fn layer_norm_of_four_values_and_of_extremes() {
    // Row [0, 0, 2, 2]: sum 4, d = [-4, -4, 4, 4], sum d^2 = 64, 2^8 * 64 / 4 = 4096, r = 64,
    // recip = 2^42, n = 4 * 2^42 / 2^32 = 4096: [-8, -8, 8, 8]. Row [-128, 127, -128, 127]
    // (mean -0.5, std 127.5): d = [-510, 510, -510, 510], sum d^2 = 4 * 260100, times 2^8 / 4
    // = 66585600 = 8160^2, r = 8160, recip = floor(2^48 / 8160), n = 510 * recip / 2^32
    // rounds to 4096 again.
    let model = layer_norm(4, vec![1; 4], None, 0);
    assert_eq!(run(&model, &[0, 0, 2, 2, -128, 127, -128, 127]), [-8, -8, 8, 8, -8, 8, -8, 8]);
}

fn gelu(erf_clip: u16, erf_one: i32, output_scale: Scale, shape: &[u32]) -> Model {
    unary(shape, 0, shape, 0, |input, output| Op::Gelu { input, output, erf_clip, erf_one, output_scale })
}

#[test]
fn gelu_follows_the_i_bert_polynomial() {
    // clip 4, one 20. c = 2: t = (2 - 4)^2 = 4, l = 20 - 4 = 16, g = 2 * (16 + 20) = 72.
    // c = -2: l = -16, g = -2 * (-16 + 20) = -8. c = 5: t = 0, l = 20, g = 5 * 40 = 200.
    // c = -5: l = -20, g = 0 (the negative tail vanishes). c = 0: 0. c = 4: 4 * 40 = 160.
    // Times 0.5 (double rounding, half away from zero): [36, -4, 100, 0, 0, 80].
    let model = gelu(4, 20, HALF, &[6]);
    assert_eq!(run(&model, &[2, -2, 5, -5, 0, 4]), [36, -4, 100, 0, 0, 80]);
    // Times 1: 200 clamps to 127.
    assert_eq!(run(&gelu(4, 20, ONE, &[1]), &[5]), [127]);
}

#[test]
fn gelu_table_path_matches_the_formula_for_every_byte() {
    // 2048 elements: the fast path's table is used (it starts at 1024 elements).
    let model = gelu(200, 40_000, Scale::new(1_518_500_250, -12), &[2048]);
    let input: Vec<i8> = (0..2048).map(|i| (i % 256) as u8 as i8).collect();
    let out = run(&model, &input);
    let p = reference::GeluParams {
        input_zero_point: 0,
        output_zero_point: 0,
        erf_clip: 200,
        erf_one: 40_000,
        output_scale: Scale::new(1_518_500_250, -12),
    };
    for (&x, &y) in input.iter().zip(&out) {
        assert_eq!(y, reference::gelu_value(aiop_engine::model::Rounding::Double, &p, x), "x = {x}");
    }
}

#[test]
fn gather_picks_rows_and_clamps_indices() {
    let mut b = ModelBuilder::new(FormatVersion::V3);
    let table = b.tensor(Tensor::weights(&[3, 2], Scale::default(), vec![1, 2, 3, 4, 5, 6]));
    let x = act(&mut b, &[4], -128);
    let y = b.tensor(Tensor::activation(&[4, 2], 0, Scale::default()));
    b.op(Op::Gather { table, indices: x, output: y });
    let model = b.finish(x, y);
    // Indices x - (-128): [0, 2, 1, 255 -> clamped to 2].
    assert_eq!(run(&model, &[-128, -126, -127, 127]), [1, 2, 5, 6, 3, 4, 5, 6]);
}

#[test]
fn transpose_reorders_axes() {
    // [[1, 2, 3], [4, 5, 6]] transposed: [[1, 4], [2, 5], [3, 6]].
    let model = unary(&[2, 3], 0, &[3, 2], 0, |input, output| Op::Transpose { input, output, perm: vec![1, 0] });
    assert_eq!(run(&model, &[1, 2, 3, 4, 5, 6]), [1, 4, 2, 5, 3, 6]);
    // [2, 2, 3] with perm [2, 0, 1]: out[c][a][b] = in[a][b][c].
    let model =
        unary(&[2, 2, 3], 0, &[3, 2, 2], 0, |input, output| Op::Transpose { input, output, perm: vec![2, 0, 1] });
    let input: Vec<i8> = (0..12).collect();
    assert_eq!(run(&model, &input), [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
}

#[test]
fn isqrt_is_the_floor_of_the_square_root() {
    for v in (0..100_000u64).chain([u64::MAX, u64::MAX - 1, 1 << 62, (1 << 32) - 1, 1 << 32]) {
        let r = reference::isqrt(v);
        assert!(r * r <= v && (r + 1).checked_mul(r + 1).is_none_or(|s| s > v), "isqrt({v}) = {r}");
    }
}

fn invalid(model: &Model) -> String {
    match encode(model) {
        Err(EngineError::InvalidOp { reason, .. }) => reason,
        other => panic!("expected an invalid op, got {other:?}"),
    }
}

#[test]
fn validation_refuses_what_the_ops_cannot_compute() {
    // Version 2 models cannot use version 3 ops.
    let mut b = ModelBuilder::new(FormatVersion::V2);
    let x = act(&mut b, &[2, 3], 0);
    let y = act(&mut b, &[3, 2], 0);
    b.op(Op::Transpose { input: x, output: y, perm: vec![1, 0] });
    assert!(invalid(&b.finish(x, y)).contains("needs format v3"));
    // Not a permutation.
    let bad = unary(&[2, 3], 0, &[3, 2], 0, |input, output| Op::Transpose { input, output, perm: vec![1, 1] });
    assert!(invalid(&bad).contains("not a permutation"));
    // Quantization must not change through a Transpose.
    let bad = unary(&[2, 3], 0, &[3, 2], 5, |input, output| Op::Transpose { input, output, perm: vec![1, 0] });
    assert!(invalid(&bad).contains("same zero point"));
    // Gelu parameters out of range.
    assert!(invalid(&gelu(1449, 20, HALF, &[1])).contains("erf clip"));
    assert!(invalid(&gelu(4, 0, HALF, &[1])).contains("erf one"));
    assert!(invalid(&gelu(4, (1 << 21) + 1, HALF, &[1])).contains("erf one"));
    // LayerNorm: gamma of the wrong length, beta too large, depth over the limit.
    let mut b = ModelBuilder::new(FormatVersion::V3);
    let x = act(&mut b, &[2, 4], 0);
    let g = b.tensor(Tensor::weights(&[3], Scale::default(), vec![1; 3]));
    let y = act(&mut b, &[2, 4], 0);
    b.op(Op::LayerNorm { input: x, gamma: g, beta: None, output: y, epsilon: 0, output_scale: ONE });
    assert!(invalid(&b.finish(x, y)).contains("gamma shape"));
    assert!(invalid(&layer_norm(2, vec![1, 1], Some(vec![(1 << 30) + 1, 0]), 0)).contains("beta"));
    assert!(invalid(&layer_norm(4097, vec![1; 4097], None, 0)).contains("at most 4096"));
    // BatchMatMul: depth mismatch, batch mismatch, and a depth the accumulator cannot hold.
    let matmul = |lhs: &[u32], rhs: &[u32], out: &[u32], transpose_rhs: bool| {
        let mut b = ModelBuilder::new(FormatVersion::V3);
        let x = act(&mut b, lhs, 0);
        let r = act(&mut b, rhs, 0);
        let y = act(&mut b, out, 0);
        // The rhs is the input reshaped (every case below keeps the element count).
        b.op(Op::Reshape { input: x, output: r });
        b.op(Op::BatchMatMul { lhs: x, rhs: r, output: y, transpose_rhs, output_scale: ONE, clamp: Clamp::NONE });
        b.finish(x, y)
    };
    assert!(invalid(&matmul(&[2, 3], &[3, 2], &[2, 3], false)).contains("output shape"));
    assert!(invalid(&matmul(&[2, 3], &[2, 3], &[2, 2], false)).contains("depth"));
    assert!(invalid(&matmul(&[2, 2, 3], &[3, 2, 2], &[2, 2, 2], true)).contains("batch axes"));
    assert!(invalid(&matmul(&[1, 33026], &[1, 33026], &[1, 1], true)).contains("overflow"));
    // Gather: the output must have the table's quantization.
    let mut b = ModelBuilder::new(FormatVersion::V3);
    let table = b.tensor(Tensor::weights(&[3, 2], Scale::default(), vec![1; 6]));
    let x = act(&mut b, &[4], 0);
    let y = act(&mut b, &[4, 2], 3);
    b.op(Op::Gather { table, indices: x, output: y });
    assert!(invalid(&b.finish(x, y)).contains("table's zero point"));
}
