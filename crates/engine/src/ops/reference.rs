//! Reference ops: the executable specification of every op, in plain loops.
//!
//! Each function follows the matching TensorFlow Lite int8 reference kernel, with the
//! engine's one requantization rule ([`aiop_kernels::requantize`], single rounding). Shapes
//! and parameter ranges were proven by validation, so indexing stays in bounds and the
//! accumulators cannot overflow (debug builds check that claim on every test run).

use aiop_kernels::{OutputStage, requantize};

use super::fixedpoint::{
    exp_on_negative_values, logistic_q4, reciprocal, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
    tanh_q4,
};
use crate::model::{Clamp, Scale};
use crate::validate::Geometry;

pub(crate) fn clamp_to(value: i64, clamp: Clamp) -> i8 {
    value.clamp(i64::from(clamp.min), i64::from(clamp.max)) as i8
}

/// The input coordinate a window tap reads, or `None` when it falls in the padding.
#[inline]
fn tap(out: usize, stride: usize, pad: usize, k: usize, dilation: usize, size: usize) -> Option<usize> {
    (out * stride + k * dilation).checked_sub(pad).filter(|&i| i < size)
}

/// Fully connected: a matrix product of the `rows x depth` input with the weights.
pub fn fully_connected(
    g: &Geometry,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    aiop_kernels::reference::qgemm(weights, g.cols, g.depth, input, g.rows, input_zero_point, bias, stage, out);
}

/// Conv2D over an `[H, W, Cin]` image with `[Cout, KH, KW, Cin]` weights. Taps in the
/// padding are skipped, which is the same as padding with the input zero point.
pub fn conv2d(
    g: &Geometry,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for oc in 0..g.cols {
                let mut acc = bias.map_or(0, |b| b[oc]);
                for ky in 0..g.kernel_h {
                    let Some(iy) = tap(oy, g.stride_h, g.pad_top, ky, g.dilation_h, g.in_h) else { continue };
                    for kx in 0..g.kernel_w {
                        let Some(ix) = tap(ox, g.stride_w, g.pad_left, kx, g.dilation_w, g.in_w) else { continue };
                        for ic in 0..g.in_c {
                            let x = i32::from(input[(iy * g.in_w + ix) * g.in_c + ic]);
                            let w = i32::from(weights[((oc * g.kernel_h + ky) * g.kernel_w + kx) * g.in_c + ic]);
                            acc += w * (x - input_zero_point);
                        }
                    }
                }
                out[(oy * g.out_w + ox) * g.cols + oc] = stage.apply(acc, oc);
            }
        }
    }
}

/// Depthwise Conv2D: output channel `ic * depth_multiplier + m` filters input channel `ic`
/// with weights `[KH, KW, Cout]`.
pub fn depthwise_conv2d(
    g: &Geometry,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for ic in 0..g.in_c {
                for m in 0..g.depth_multiplier {
                    let oc = ic * g.depth_multiplier + m;
                    let mut acc = bias.map_or(0, |b| b[oc]);
                    for ky in 0..g.kernel_h {
                        let Some(iy) = tap(oy, g.stride_h, g.pad_top, ky, g.dilation_h, g.in_h) else { continue };
                        for kx in 0..g.kernel_w {
                            let Some(ix) = tap(ox, g.stride_w, g.pad_left, kx, g.dilation_w, g.in_w) else { continue };
                            let x = i32::from(input[(iy * g.in_w + ix) * g.in_c + ic]);
                            let w = i32::from(weights[(ky * g.kernel_w + kx) * g.cols + oc]);
                            acc += w * (x - input_zero_point);
                        }
                    }
                    out[(oy * g.out_w + ox) * g.cols + oc] = stage.apply(acc, oc);
                }
            }
        }
    }
}

/// Visits the in-image taps of the pooling window of output pixel `(oy, ox)`.
fn pool_window(g: &Geometry, oy: usize, ox: usize, mut visit: impl FnMut(usize)) {
    for ky in 0..g.kernel_h {
        let Some(iy) = tap(oy, g.stride_h, g.pad_top, ky, 1, g.in_h) else { continue };
        for kx in 0..g.kernel_w {
            let Some(ix) = tap(ox, g.stride_w, g.pad_left, kx, 1, g.in_w) else { continue };
            visit(iy * g.in_w + ix);
        }
    }
}

/// Max pooling; a window entirely in the padding cannot occur (validation sizes the output so
/// every window overlaps the image), but would give the clamp minimum.
pub fn max_pool2d(g: &Geometry, input: &[i8], clamp: Clamp, out: &mut [i8]) {
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for c in 0..g.in_c {
                let mut max = i8::MIN;
                pool_window(g, oy, ox, |pixel| max = max.max(input[pixel * g.in_c + c]));
                out[(oy * g.out_w + ox) * g.in_c + c] = clamp_to(max.into(), clamp);
            }
        }
    }
}

/// Average pooling over the in-image taps only, rounding half away from zero.
pub fn average_pool2d(g: &Geometry, input: &[i8], clamp: Clamp, out: &mut [i8]) {
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for c in 0..g.in_c {
                let (mut sum, mut count) = (0i64, 0i64);
                pool_window(g, oy, ox, |pixel| {
                    sum += i64::from(input[pixel * g.in_c + c]);
                    count += 1;
                });
                let avg = if count == 0 {
                    0
                } else if sum > 0 {
                    (sum + count / 2) / count
                } else {
                    (sum - count / 2) / count
                };
                out[(oy * g.out_w + ox) * g.in_c + c] = clamp_to(avg, clamp);
            }
        }
    }
}

/// Zero points and scales of a two-input elementwise op.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    pub lhs_zero_point: i32,
    pub rhs_zero_point: i32,
    pub output_zero_point: i32,
    pub clamp: Clamp,
}

fn saturate_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// How Add rescales: both inputs are shifted left by `left_shift`, each rescaled by its own
/// scale to a common one, and the sum rescaled by `output_scale`.
#[derive(Debug, Clone, Copy)]
pub struct AddScales {
    pub left_shift: u8,
    pub lhs_scale: Scale,
    pub rhs_scale: Scale,
    pub output_scale: Scale,
}

/// Add: both inputs centered, shifted left by `left_shift`, rescaled to a common scale,
/// summed (saturated to `i32`), and rescaled to the output.
pub fn add(p: &Binary, scales: AddScales, lhs: &[i8], rhs: &[i8], out: &mut [i8]) {
    let AddScales { left_shift, lhs_scale, rhs_scale, output_scale } = scales;
    for ((o, &a), &b) in out.iter_mut().zip(lhs).zip(rhs) {
        // |x - zp| <= 255 and left_shift <= 23, so the shifted values fit in i32.
        let a = (i32::from(a) - p.lhs_zero_point) << left_shift;
        let b = (i32::from(b) - p.rhs_zero_point) << left_shift;
        let a = requantize(a, lhs_scale.multiplier, lhs_scale.shift);
        let b = requantize(b, rhs_scale.multiplier, rhs_scale.shift);
        let sum = saturate_i32(i64::from(a) + i64::from(b));
        let scaled = requantize(sum, output_scale.multiplier, output_scale.shift);
        *o = clamp_to(i64::from(scaled) + i64::from(p.output_zero_point), p.clamp);
    }
}

/// Mul: the product of the centered inputs, rescaled to the output.
pub fn mul(p: &Binary, output_scale: Scale, lhs: &[i8], rhs: &[i8], out: &mut [i8]) {
    for ((o, &a), &b) in out.iter_mut().zip(lhs).zip(rhs) {
        let product = (i32::from(a) - p.lhs_zero_point) * (i32::from(b) - p.rhs_zero_point);
        let scaled = requantize(product, output_scale.multiplier, output_scale.shift);
        *o = clamp_to(i64::from(scaled) + i64::from(p.output_zero_point), p.clamp);
    }
}

/// Softmax over the last axis (`depth` elements per row), gemmlowp-style: differences from the
/// row maximum are scaled by `beta` into 5 integer bits, exponentiated, summed with 12
/// integer bits, and normalized by a fixed-point reciprocal. Output zero point -128.
pub fn softmax(rows: usize, depth: usize, beta: Scale, diff_min: i32, input: &[i8], out: &mut [i8]) {
    for r in 0..rows {
        let row = &input[r * depth..(r + 1) * depth];
        let out_row = &mut out[r * depth..(r + 1) * depth];
        let max = row.iter().copied().max().unwrap_or(0);
        let scaled_diff = |x: i8| {
            let diff = i32::from(x) - i32::from(max);
            (diff >= diff_min).then(|| requantize(diff, beta.multiplier, beta.shift))
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
pub fn logistic(input_zero_point: i32, input_scale: Scale, radius: i32, input: &[i8], out: &mut [i8]) {
    for (o, &x) in out.iter_mut().zip(input) {
        let centered = i32::from(x) - input_zero_point;
        *o = if centered <= radius.saturating_neg() {
            i8::MIN
        } else if centered >= radius {
            i8::MAX
        } else {
            let q4 = requantize(centered, input_scale.multiplier, input_scale.shift);
            let q0 = logistic_q4(q4);
            (rounding_divide_by_pot(i64::from(q0), 23) - 128).clamp(-128, 127) as i8
        };
    }
}

/// Tanh with the input rescaled into 4 integer bits; output zero point 0, scale 1/128.
pub fn tanh(input_zero_point: i32, input_scale: Scale, radius: i32, input: &[i8], out: &mut [i8]) {
    for (o, &x) in out.iter_mut().zip(input) {
        let centered = i32::from(x) - input_zero_point;
        *o = if centered <= radius.saturating_neg() {
            i8::MIN
        } else if centered >= radius {
            i8::MAX
        } else {
            let q4 = requantize(centered, input_scale.multiplier, input_scale.shift);
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
