//! Scalar reference kernels: the specification every optimized kernel is tested against, and
//! what the engine's reference path runs. Plain loops, in the obvious order, with no
//! cleverness. Sums wrap in `i32`: under the crate's precondition they cannot, and wrapping
//! keeps the kernels total (no overflow panic) when a caller breaks it.

use crate::{OutputStage, WindowGeometry};

/// `out[m][n] = stage(bias[n] + sum_k w[n][k] * (lhs[m][k] - lhs_zero_point), n)`.
/// Lengths are checked by the caller ([`crate::qgemm`]).
#[allow(clippy::too_many_arguments)]
pub fn qgemm(
    weights: &[i8],
    n: usize,
    k: usize,
    lhs: &[i8],
    m: usize,
    lhs_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for row in 0..m {
        let x = &lhs[row * k..(row + 1) * k];
        for col in 0..n {
            let w = &weights[col * k..(col + 1) * k];
            let mut acc = bias.map_or(0, |b| b[col]);
            for (&wv, &xv) in w.iter().zip(x) {
                acc = acc.wrapping_add(i32::from(wv).wrapping_mul(i32::from(xv).wrapping_sub(lhs_zero_point)));
            }
            out[row * n + col] = stage.apply(acc, col);
        }
    }
}

/// Conv2D, NHWC, over the `[in_h, in_w, in_c]` image with `[cols, KH, KW, in_c]` weights:
/// `out[oy][ox][oc] = stage(bias[oc] + sum_taps w[oc][ky][kx][ic] * (x[iy][ix][ic] - zp), oc)`.
/// Taps in the padding are skipped, which is the same as padding with the input zero point.
/// The caller checks the lengths.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    g: &WindowGeometry,
    cols: usize,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for oc in 0..cols {
                let mut acc = bias.map_or(0, |b| b[oc]);
                for ky in 0..g.kernel_h {
                    let Some(iy) = g.tap_y(oy, ky) else { continue };
                    for kx in 0..g.kernel_w {
                        let Some(ix) = g.tap_x(ox, kx) else { continue };
                        for ic in 0..g.in_c {
                            let x = i32::from(input[(iy * g.in_w + ix) * g.in_c + ic]);
                            let w = i32::from(weights[((oc * g.kernel_h + ky) * g.kernel_w + kx) * g.in_c + ic]);
                            acc = acc.wrapping_add(w.wrapping_mul(x.wrapping_sub(input_zero_point)));
                        }
                    }
                }
                out[(oy * g.out_w + ox) * cols + oc] = stage.apply(acc, oc);
            }
        }
    }
}

/// Depthwise 2-D convolution, NHWC: output channel `oc` filters input channel
/// `oc / depth_multiplier` with weights `[KH, KW, in_c * depth_multiplier]`; taps outside the
/// image are skipped (they would multiply `zp - zp = 0`). Lengths are checked by the caller
/// ([`crate::depthwise_conv2d`]).
pub fn depthwise_conv2d(
    g: &WindowGeometry,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let cols = g.in_c * g.depth_multiplier;
    let spec = DepthwiseInput { stride: g.in_c, depth_multiplier: g.depth_multiplier };
    depthwise(g, cols, spec, input, input_zero_point, weights, bias, stage, out);
}

/// The reference depthwise formula on an input already expanded to `cols` channels (depth
/// multiplier 1), for the scalar range kernel's shapes whose tap arithmetic would overflow.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_expanded(
    g: &WindowGeometry,
    cols: usize,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let spec = DepthwiseInput { stride: cols, depth_multiplier: 1 };
    depthwise(g, cols, spec, input, input_zero_point, weights, bias, stage, out);
}

/// How output channel `oc` finds its input value: channel `oc / depth_multiplier` of a pixel
/// `stride` channels wide.
#[derive(Clone, Copy)]
struct DepthwiseInput {
    stride: usize,
    depth_multiplier: usize,
}

#[allow(clippy::too_many_arguments)]
fn depthwise(
    g: &WindowGeometry,
    cols: usize,
    spec: DepthwiseInput,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for oc in 0..cols {
                // A zero multiplier means no channels, so this never divides by zero.
                let ic = oc / spec.depth_multiplier.max(1);
                let mut acc = bias.map_or(0, |b| b[oc]);
                for ky in 0..g.kernel_h {
                    let Some(iy) = g.tap_y(oy, ky) else { continue };
                    for kx in 0..g.kernel_w {
                        let Some(ix) = g.tap_x(ox, kx) else { continue };
                        let x = i32::from(input[(iy * g.in_w + ix) * spec.stride + ic]);
                        let w = i32::from(weights[(ky * g.kernel_w + kx) * cols + oc]);
                        acc = acc.wrapping_add(w.wrapping_mul(x.wrapping_sub(input_zero_point)));
                    }
                }
                out[(oy * g.out_w + ox) * cols + oc] = stage.apply(acc, oc);
            }
        }
    }
}

/// The product of two int8 activations, batch by batch:
/// `out[b][m][n] = stage(sum_k (lhs[b][m][k] - zp_lhs) * (rhs'[b][k][n] - zp_rhs), 0)` with
/// `rhs'[b][k][n]` read from `rhs[b][n][k]` when `shape.transpose_rhs`, else `rhs[b][k][n]`.
/// The caller checks the lengths ([`crate::batch_matmul`]).
pub fn batch_matmul(shape: &crate::ActivationProduct, lhs: &[i8], rhs: &[i8], stage: &OutputStage<'_>, out: &mut [i8]) {
    let crate::ActivationProduct { batch, m, k, n, transpose_rhs, lhs_zero_point, rhs_zero_point } = *shape;
    for b in 0..batch {
        for row in 0..m {
            for col in 0..n {
                let mut acc = 0i32;
                for d in 0..k {
                    let x = i32::from(lhs[(b * m + row) * k + d]).wrapping_sub(lhs_zero_point);
                    let y_at = if transpose_rhs { (b * n + col) * k + d } else { (b * k + d) * n + col };
                    let y = i32::from(rhs[y_at]).wrapping_sub(rhs_zero_point);
                    acc = acc.wrapping_add(x.wrapping_mul(y));
                }
                out[(b * m + row) * n + col] = stage.apply(acc, 0);
            }
        }
    }
}
