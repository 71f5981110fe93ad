//! Reference ops: the executable specification of every op, in plain loops.
//!
//! Each function follows the matching TensorFlow Lite (Micro) int8 reference kernel, with the
//! model version's requantization rule ([`Rounding`]: single rounding in format v1, double
//! rounding in v2). Shapes and parameter ranges were proven by validation, so indexing stays
//! in bounds and the accumulators cannot overflow. The matrix ops (FullyConnected, Conv2D,
//! DepthwiseConv2D) are not here: their one specification is `aiop_kernels::reference`, which
//! the interpreter's reference path runs and every fast kernel is tested against. Window taps
//! are [`aiop_kernels::WindowGeometry`]'s, the geometry validation proved.

use alloc::vec;

use aiop_kernels::Rounding;

use super::fixedpoint::{
    exp_on_negative_values, logistic_q4, reciprocal, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
    tanh_q4,
};
use crate::model::{Clamp, Scale};

#[inline]
fn requant(rounding: Rounding, x: i32, scale: Scale) -> i32 {
    rounding.apply(x, scale.multiplier, scale.shift)
}
use crate::validate::Geometry;

pub(crate) fn clamp_to(value: i64, clamp: Clamp) -> i8 {
    value.clamp(i64::from(clamp.min), i64::from(clamp.max)) as i8
}

/// Visits the in-image taps of the pooling window of output pixel `(oy, ox)`.
fn pool_window(g: &Geometry, oy: usize, ox: usize, mut visit: impl FnMut(usize)) {
    for ky in 0..g.window.kernel_h {
        let Some(iy) = g.window.tap_y(oy, ky) else { continue };
        for kx in 0..g.window.kernel_w {
            let Some(ix) = g.window.tap_x(ox, kx) else { continue };
            visit(iy * g.window.in_w + ix);
        }
    }
}

/// Max pooling; a window entirely in the padding cannot occur (validation sizes the output so
/// every window overlaps the image), but would give the clamp minimum.
pub fn max_pool2d(g: &Geometry, input: &[i8], clamp: Clamp, out: &mut [i8]) {
    for oy in 0..g.window.out_h {
        for ox in 0..g.window.out_w {
            for c in 0..g.window.in_c {
                let mut max = i8::MIN;
                pool_window(g, oy, ox, |pixel| max = max.max(input[pixel * g.window.in_c + c]));
                out[(oy * g.window.out_w + ox) * g.window.in_c + c] = clamp_to(max.into(), clamp);
            }
        }
    }
}

/// Average pooling over the in-image taps only, rounding half away from zero.
pub fn average_pool2d(g: &Geometry, input: &[i8], clamp: Clamp, out: &mut [i8]) {
    for oy in 0..g.window.out_h {
        for ox in 0..g.window.out_w {
            for c in 0..g.window.in_c {
                let (mut sum, mut count) = (0i64, 0i64);
                pool_window(g, oy, ox, |pixel| {
                    sum += i64::from(input[pixel * g.window.in_c + c]);
                    count += 1;
                });
                let avg = if count == 0 {
                    0
                } else if sum > 0 {
                    (sum + count / 2) / count
                } else {
                    (sum - count / 2) / count
                };
                out[(oy * g.window.out_w + ox) * g.window.in_c + c] = clamp_to(avg, clamp);
            }
        }
    }
}

/// Zero points and scales of a two-input elementwise op.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    /// Zero point of the first input.
    pub lhs_zero_point: i32,
    /// Zero point of the second input.
    pub rhs_zero_point: i32,
    /// Zero point of the output.
    pub output_zero_point: i32,
    /// Bounds of the int8 output.
    pub clamp: Clamp,
}

pub(crate) fn saturate_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// How Add rescales: both inputs are shifted left by `left_shift`, each rescaled by its own
/// scale to a common one, and the sum rescaled by `output_scale`.
#[derive(Debug, Clone, Copy)]
pub struct AddScales {
    /// Bits each centered input is shifted left before its rescale; at most 23.
    pub left_shift: u8,
    /// Rescales the shifted, centered first input to the common scale.
    pub lhs_scale: Scale,
    /// Rescales the shifted, centered second input to the common scale.
    pub rhs_scale: Scale,
    /// Rescales the sum (or difference) to the output scale.
    pub output_scale: Scale,
}

/// Add (or, with `subtract`, Sub): both inputs centered, shifted left by `left_shift`,
/// rescaled to a common scale, combined (saturated to `i32`), and rescaled to the output.
pub fn add(rounding: Rounding, subtract: bool, p: &Binary, scales: AddScales, lhs: &[i8], rhs: &[i8], out: &mut [i8]) {
    for ((o, &a), &b) in out.iter_mut().zip(lhs).zip(rhs) {
        let a = add_term(rounding, a, p.lhs_zero_point, scales.left_shift, scales.lhs_scale);
        let b = add_term(rounding, b, p.rhs_zero_point, scales.left_shift, scales.rhs_scale);
        *o = add_combine(rounding, subtract, p, scales.output_scale, a, b);
    }
}

/// One input of Add at the common scale: centered, shifted left, rescaled. A function of the
/// one int8 value, so the fast path may tabulate it.
pub(crate) fn add_term(rounding: Rounding, x: i8, zero_point: i32, left_shift: u8, scale: Scale) -> i64 {
    // |x - zp| <= 255 and left_shift <= 23, so the shifted value fits in i32.
    i64::from(requant(rounding, (i32::from(x) - zero_point) << left_shift, scale))
}

/// Add's output from its two terms ([`add_term`]): combined, saturated to `i32`, rescaled.
fn add_combine(rounding: Rounding, subtract: bool, p: &Binary, output_scale: Scale, a: i64, b: i64) -> i8 {
    let combined = saturate_i32(if subtract { a - b } else { a + b });
    let scaled = requant(rounding, combined, output_scale);
    clamp_to(i64::from(scaled) + i64::from(p.output_zero_point), p.clamp)
}

/// Mul: the product of the centered inputs, rescaled to the output.
pub fn mul(rounding: Rounding, p: &Binary, output_scale: Scale, lhs: &[i8], rhs: &[i8], out: &mut [i8]) {
    for ((o, &a), &b) in out.iter_mut().zip(lhs).zip(rhs) {
        let product = (i32::from(a) - p.lhs_zero_point) * (i32::from(b) - p.rhs_zero_point);
        let scaled = requant(rounding, product, output_scale);
        *o = clamp_to(i64::from(scaled) + i64::from(p.output_zero_point), p.clamp);
    }
}

/// Softmax over the last axis (`depth` elements per row), gemmlowp-style: differences from the
/// row maximum are scaled by `beta` into 5 integer bits, exponentiated, summed with 12
/// integer bits, and normalized by a fixed-point reciprocal. Output zero point -128.
pub fn softmax(
    rounding: Rounding,
    rows: usize,
    depth: usize,
    beta: Scale,
    diff_min: i32,
    input: &[i8],
    out: &mut [i8],
) {
    for r in 0..rows {
        let row = &input[r * depth..(r + 1) * depth];
        let out_row = &mut out[r * depth..(r + 1) * depth];
        let max = row.iter().copied().max().unwrap_or(0);
        let scaled_diff = |x: i8| {
            let diff = i32::from(x) - i32::from(max);
            (diff >= diff_min).then(|| requant(rounding, diff, beta))
        };
        // At most 4095 terms of at most 2^19 each: the sum fits in i32.
        let mut sum_of_exps: i32 = 0;
        for &x in row {
            if let Some(d) = scaled_diff(x) {
                sum_of_exps += rounding_divide_by_pot(i64::from(exp_on_negative_values::<5>(d)), 12) as i32;
            }
        }
        // The row maximum always contributes exp(0), so the sum is at least 2^19 and positive.
        let (inverse, bits_over_unit) = reciprocal(sum_of_exps, 12);
        for (o, &x) in out_row.iter_mut().zip(row) {
            *o = match scaled_diff(x) {
                Some(d) => {
                    let p = saturating_rounding_doubling_high_mul(inverse, exp_on_negative_values::<5>(d));
                    let exponent = (bits_over_unit + 31 - 8).max(0) as u32;
                    let unsat = rounding_divide_by_pot(i64::from(p), exponent);
                    (unsat - 128).clamp(-128, 127) as i8
                }
                None => i8::MIN,
            };
        }
    }
}

/// Logistic with the input rescaled into 4 integer bits; output zero point -128, scale 1/256.
pub fn logistic(
    rounding: Rounding,
    input_zero_point: i32,
    input_scale: Scale,
    radius: i32,
    input: &[i8],
    out: &mut [i8],
) {
    for (o, &x) in out.iter_mut().zip(input) {
        let centered = i32::from(x) - input_zero_point;
        *o = if centered <= radius.saturating_neg() {
            i8::MIN
        } else if centered >= radius {
            i8::MAX
        } else {
            let q4 = requant(rounding, centered, input_scale);
            let q0 = logistic_q4(q4);
            (rounding_divide_by_pot(i64::from(q0), 23) - 128).clamp(-128, 127) as i8
        };
    }
}

/// Tanh with the input rescaled into 4 integer bits; output zero point 0, scale 1/128.
pub fn tanh(rounding: Rounding, input_zero_point: i32, input_scale: Scale, radius: i32, input: &[i8], out: &mut [i8]) {
    for (o, &x) in out.iter_mut().zip(input) {
        let centered = i32::from(x) - input_zero_point;
        *o = if centered <= radius.saturating_neg() {
            i8::MIN
        } else if centered >= radius {
            i8::MAX
        } else {
            let q4 = requant(rounding, centered, input_scale);
            let q0 = tanh_q4(q4);
            rounding_divide_by_pot(i64::from(q0), 24).clamp(-128, 127) as i8
        };
    }
}

/// Index of the largest value of each row; the first one wins a tie.
pub fn argmax(rows: usize, depth: usize, input: &[i8], out: &mut [i32]) {
    for (r, o) in out.iter_mut().enumerate().take(rows) {
        let row = &input[r * depth..(r + 1) * depth];
        let mut best = 0usize;
        for (i, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = i;
            }
        }
        *o = best as i32;
    }
}

/// Concatenation along an axis: `outer` blocks, each the inputs' chunks in order. A chunk of
/// input `i` is `chunks[i]` elements (its axis length times the inner size).
pub fn concatenation(outer: usize, inputs: &[(&[i8], usize)], out: &mut [i8]) {
    let mut at = 0;
    for block in 0..outer {
        for &(values, chunk) in inputs {
            out[at..at + chunk].copy_from_slice(&values[block * chunk..(block + 1) * chunk]);
            at += chunk;
        }
    }
}

/// Row-major strides of a shape (last axis fastest), padded to rank 4 with leading 1s.
fn shape4(shape: &[u32]) -> [usize; 4] {
    let mut s = [1usize; 4];
    let offset = 4 - shape.len();
    for (i, &d) in shape.iter().enumerate() {
        s[offset + i] = d as usize;
    }
    s
}

/// Pad: every output element outside the copied input is `value`.
pub fn pad(in_shape: &[u32], paddings: &[(u32, u32)], value: i8, input: &[i8], out: &mut [i8]) {
    out.fill(value);
    let d = shape4(in_shape);
    let mut before = [0usize; 4];
    let mut out_d = d;
    let offset = 4 - paddings.len();
    for (i, &(b, a)) in paddings.iter().enumerate() {
        before[offset + i] = b as usize;
        out_d[offset + i] = d[offset + i] + b as usize + a as usize;
    }
    let mut src = 0;
    for i0 in 0..d[0] {
        for i1 in 0..d[1] {
            for i2 in 0..d[2] {
                let row = ((i0 + before[0]) * out_d[1] + i1 + before[1]) * out_d[2] + i2 + before[2];
                let start = row * out_d[3] + before[3];
                out[start..start + d[3]].copy_from_slice(&input[src..src + d[3]]);
                src += d[3];
            }
        }
    }
}

/// Mean over the axes in the bit mask `axes` of `count` elements each:
/// `clamp(requant(wrap32(sum - zp_in * count), scale) + zp_out)` (validation bounds `count` so
/// the centered sum cannot wrap).
#[allow(clippy::too_many_arguments)]
pub fn mean(
    rounding: Rounding,
    in_shape: &[u32],
    axes: u8,
    count: usize,
    scale: Scale,
    input_zero_point: i32,
    output_zero_point: i32,
    input: &[i8],
    out: &mut [i8],
) {
    let d = shape4(in_shape);
    let offset = 4 - in_shape.len();
    let reduced = |i: usize| i >= offset && axes & (1 << (i - offset)) != 0;
    // Output index of each input element: reduced axes collapse to 0. The output's own
    // shape (kept as 1 or dropped) has the same row-major order.
    let out_d: [usize; 4] = core::array::from_fn(|i| if reduced(i) { 1 } else { d[i] });
    let mut sums = vec![0i32; out.len()];
    let mut at = 0;
    for i0 in 0..d[0] {
        for i1 in 0..d[1] {
            for i2 in 0..d[2] {
                for i3 in 0..d[3] {
                    let idx = [i0, i1, i2, i3];
                    let o = (0..4).fold(0, |acc, i| acc * out_d[i] + if reduced(i) { 0 } else { idx[i] });
                    sums[o] = sums[o].wrapping_add(i32::from(input[at]));
                    at += 1;
                }
            }
        }
    }
    let offset = input_zero_point.wrapping_mul(count as i32);
    for (o, &sum) in out.iter_mut().zip(&sums) {
        let scaled = requant(rounding, sum.wrapping_sub(offset), scale);
        *o = (i64::from(scaled) + i64::from(output_zero_point)).clamp(-128, 127) as i8;
    }
}

/// TFLite's int8 QUANTIZE (requantization between two int8 quantizations).
pub fn requantize(
    rounding: Rounding,
    scale: Scale,
    input_zero_point: i32,
    output_zero_point: i32,
    input: &[i8],
    out: &mut [i8],
) {
    for (o, &x) in out.iter_mut().zip(input) {
        let scaled = requant(rounding, i32::from(x) - input_zero_point, scale);
        *o = (i64::from(scaled) + i64::from(output_zero_point)).clamp(-128, 127) as i8;
    }
}

/// The two slopes of a LeakyRelu: `identity` at or above the input zero point, `alpha`
/// (negated when `alpha_negative`) below.
#[derive(Debug, Clone, Copy)]
pub struct LeakyReluScales {
    /// Rescales centered inputs at or above 0.
    pub identity: Scale,
    /// Rescales centered inputs below 0, by the slope's magnitude.
    pub alpha: Scale,
    /// Whether the slope below zero is negative (the rescaled value is negated).
    pub alpha_negative: bool,
}

/// LeakyRelu, as TensorFlow Lite Micro's int8 kernel.
pub fn leaky_relu(
    rounding: Rounding,
    scales: LeakyReluScales,
    input_zero_point: i32,
    output_zero_point: i32,
    input: &[i8],
    out: &mut [i8],
) {
    for (o, &x) in out.iter_mut().zip(input) {
        let centered = i32::from(x) - input_zero_point;
        let scaled = if centered >= 0 {
            i64::from(requant(rounding, centered, scales.identity))
        } else {
            let magnitude = i64::from(requant(rounding, centered, scales.alpha));
            if scales.alpha_negative { -magnitude } else { magnitude }
        };
        *o = (scaled + i64::from(output_zero_point)).clamp(-128, 127) as i8;
    }
}

/// The HardSwish parameters, as TFLite's `HardSwishParams`.
#[derive(Debug, Clone, Copy)]
pub struct HardSwishParams {
    /// Zero point of the input.
    pub input_zero_point: i32,
    /// Zero point of the output.
    pub output_zero_point: i32,
    /// Q15 multiplier (`m / 2^15`) of the `relu6(x + 3) / 6` branch; in `[0, 32767]`.
    pub reluish_multiplier: i16,
    /// Power-of-two exponent of the reluish branch; in `[-15, 15]`.
    pub reluish_exponent: i8,
    /// Q15 multiplier (`m / 2^15`) taking the input to the output scale; in `[0, 32767]`.
    pub output_multiplier: i16,
    /// Power-of-two exponent of the output rescale; in `[-15, 0]`.
    pub output_exponent: i8,
}

fn srdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

fn sdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

fn saturating_left_shift16(x: i16, shift: u32) -> i16 {
    (i32::from(x) << shift.min(16)).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

fn rdbp16(x: i16, exponent: u32) -> i16 {
    rounding_divide_by_pot(i64::from(x), exponent) as i16
}

/// TFLite's int8 HARD_SWISH in 16-bit fixed point.
pub fn hard_swish(p: &HardSwishParams, input: &[i8], out: &mut [i8]) {
    for (o, &x) in out.iter_mut().zip(input) {
        // |x - zp| <= 255, so the value times 2^7 fits in i16.
        let centered = (i32::from(x) - p.input_zero_point) as i16;
        let hires = centered.wrapping_mul(1 << 7);
        let preshift_output = srdhm16(hires, p.output_multiplier);
        let mut reluish = hires;
        if p.reluish_exponent > 0 {
            reluish = saturating_left_shift16(reluish, (p.reluish_exponent - 1) as u32);
        }
        reluish = srdhm16(reluish, p.reluish_multiplier);
        if p.reluish_exponent > 0 {
            reluish = saturating_left_shift16(reluish, 1);
        }
        if p.reluish_exponent < 0 {
            reluish = rdbp16(reluish, p.reluish_exponent.unsigned_abs().into());
        }
        let reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let preshift = sdhm16(reluish, preshift_output);
        // TFLite adds the zero point in int16, wrapping, before the final clamp.
        let value = rdbp16(preshift, p.output_exponent.unsigned_abs().into()).wrapping_add(p.output_zero_point as i16);
        *o = value.clamp(-128, 127) as i8;
    }
}

/// `floor(sqrt(v))`, exactly, by the digit-by-digit method (no floating point).
pub fn isqrt(v: u64) -> u64 {
    let (mut rest, mut root) = (v, 0u64);
    // The highest power of four at or below `v`.
    let mut bit = if v == 0 { 0 } else { 1u64 << ((63 - v.leading_zeros()) & !1) };
    while bit != 0 {
        if rest >= root + bit {
            rest -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

/// Fractional bits of a LayerNorm's normalized value (`n_i`).
pub const LAYER_NORM_FRACTION_BITS: u32 = 12;

/// Parameters of a LayerNorm (format v3) besides its tensors' values.
#[derive(Debug, Clone, Copy)]
pub struct LayerNormParams {
    /// Zero point of the input.
    pub input_zero_point: i32,
    /// Zero point of the output.
    pub output_zero_point: i32,
    /// Added to the variance before the square root.
    pub epsilon: u32,
    /// Rescales `n * gamma + beta` to the output.
    pub output_scale: Scale,
}

/// LayerNorm over rows of `depth` elements (`docs/model-format.md`, "LayerNorm"): per row,
/// `d_i = depth * c_i - sum(c)` for `c_i = x_i - zp_in`,
/// `r = max(1, isqrt(floor(2^8 * sum(d^2) / depth) + epsilon))` (16 times the row's standard
/// deviation in units of `depth` input steps, so the square root keeps four more bits),
/// `recip = floor(2^48 / r)`, `n_i = sign(d_i) * ((|d_i| * recip + 2^31) >> 32)` (the
/// normalized value in Q12, rounded half away from zero), and
/// `out_i = clamp(requant(sat32(n_i * gamma_i + beta_i)) + zp_out)`.
pub fn layer_norm(
    rounding: Rounding,
    p: &LayerNormParams,
    depth: usize,
    gamma: &[i8],
    beta: Option<&[i32]>,
    input: &[i8],
    out: &mut [i8],
) {
    let d_len = depth as i64;
    for (x, y) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
        let sum: i64 = x.iter().map(|&v| i64::from(v) - i64::from(p.input_zero_point)).sum();
        let deviation = |v: i8| d_len * (i64::from(v) - i64::from(p.input_zero_point)) - sum;
        // |d| <= 510 * 4096 < 2^21, so the sum of squares is below 2^54 and 2^8 times it fits.
        let squares: u64 = x.iter().map(|&v| deviation(v).unsigned_abs().pow(2)).sum();
        let root = isqrt((squares << 8) / depth as u64 + u64::from(p.epsilon)).max(1);
        let recip = u128::from((1u64 << 48) / root);
        for (i, (&v, o)) in x.iter().zip(y.iter_mut()).enumerate() {
            let d = deviation(v);
            let magnitude = ((u128::from(d.unsigned_abs()) * recip + (1 << 31)) >> 32) as i64;
            let normalized = if d < 0 { -magnitude } else { magnitude };
            let acc = normalized * i64::from(gamma[i]) + beta.map_or(0, |b| i64::from(b[i]));
            let acc = acc.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            let scaled = i64::from(requant(rounding, acc, p.output_scale)) + i64::from(p.output_zero_point);
            *o = scaled.clamp(-128, 127) as i8;
        }
    }
}

/// Parameters of a Gelu (format v3).
#[derive(Debug, Clone, Copy)]
pub struct GeluParams {
    /// Zero point of the input.
    pub input_zero_point: i32,
    /// Zero point of the output.
    pub output_zero_point: i32,
    /// Where the erf polynomial reaches its maximum, in input steps scaled by sqrt 2.
    pub erf_clip: u16,
    /// The integer standing for 1 in the polynomial's units.
    pub erf_one: i32,
    /// Rescales `g` to the output.
    pub output_scale: Scale,
}

/// I-BERT's integer GELU of one int8 value: `t = (min(|c|, clip) - clip)^2`,
/// `l = sign(c) * (one - t)`, `g = c * (l + one)`, `clamp(requant(g) + zp_out)`.
pub fn gelu_value(rounding: Rounding, p: &GeluParams, x: i8) -> i8 {
    let c = i64::from(x) - i64::from(p.input_zero_point);
    let clip = i64::from(p.erf_clip);
    let t = (c.abs().min(clip) - clip).pow(2);
    let l = c.signum() * (i64::from(p.erf_one) - t);
    // Validation bounds |c| <= 255, one <= 2^21 and clip^2 <= 2^21: |g| < 2^31.
    let g = (c * (l + i64::from(p.erf_one))) as i32;
    let scaled = i64::from(requant(rounding, g, p.output_scale)) + i64::from(p.output_zero_point);
    scaled.clamp(-128, 127) as i8
}

/// Gelu, element by element.
pub fn gelu(rounding: Rounding, p: &GeluParams, input: &[i8], out: &mut [i8]) {
    for (&x, o) in input.iter().zip(out.iter_mut()) {
        *o = gelu_value(rounding, p, x);
    }
}

/// Gather: row `clamp(x - zp, 0, rows - 1)` of the `rows x depth` table for each index `x`.
pub fn gather(table: &[i8], rows: usize, depth: usize, zero_point: i32, indices: &[i8], out: &mut [i8]) {
    let last = rows.saturating_sub(1) as i64;
    for (&x, o) in indices.iter().zip(out.chunks_exact_mut(depth)) {
        let row = (i64::from(x) - i64::from(zero_point)).clamp(0, last) as usize;
        o.copy_from_slice(&table[row * depth..(row + 1) * depth]);
    }
}

/// Transpose: output axis `i` is input axis `perm[i]`; the output is written in order while
/// an odometer walks the input.
pub fn transpose(in_shape: &[u32], perm: &[u8], input: &[i8], out: &mut [i8]) {
    let rank = in_shape.len();
    let mut in_strides = [0usize; crate::limits::MAX_RANK];
    let mut stride = 1;
    for axis in (0..rank).rev() {
        in_strides[axis] = stride;
        stride *= in_shape[axis] as usize;
    }
    let (mut out_shape, mut steps) = ([0usize; crate::limits::MAX_RANK], [0usize; crate::limits::MAX_RANK]);
    for (axis, &p) in perm.iter().enumerate() {
        out_shape[axis] = in_shape[usize::from(p)] as usize;
        steps[axis] = in_strides[usize::from(p)];
    }
    let mut index = [0usize; crate::limits::MAX_RANK];
    let mut at = 0usize;
    for o in out.iter_mut() {
        *o = input[at];
        // Advance the odometer over the output's axes, last fastest.
        for axis in (0..rank).rev() {
            index[axis] += 1;
            at += steps[axis];
            if index[axis] < out_shape[axis] {
                break;
            }
            at -= steps[axis] * out_shape[axis];
            index[axis] = 0;
        }
    }
}
