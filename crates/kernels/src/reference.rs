//! Scalar reference kernels: the specification every optimized kernel is tested against.
//! Plain loops, in the obvious order, with no cleverness.

use crate::{DepthwiseGeometry, OutputStage};

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
            // Wrapping adds cannot wrap under the crate's precondition; they keep the kernel
            // total (no overflow panic) when a caller breaks it.
            let mut acc = bias.map_or(0, |b| b[col]);
            for (&wv, &xv) in w.iter().zip(x) {
                acc = acc.wrapping_add(i32::from(wv).wrapping_mul(i32::from(xv).wrapping_sub(lhs_zero_point)));
            }
            out[row * n + col] = stage.apply(acc, col);
        }
    }
}

/// Depthwise 2-D convolution, NHWC: output channel `ic * depth_multiplier + m` filters input
/// channel `ic` with weights `[KH, KW, in_c * depth_multiplier]`; taps outside the image are
/// skipped (they would multiply `zp - zp = 0`). Lengths are checked by the caller
/// ([`crate::depthwise_conv2d`]).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    g: &DepthwiseGeometry,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let cols = g.in_c * g.depth_multiplier;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for ic in 0..g.in_c {
                for m in 0..g.depth_multiplier {
                    let oc = ic * g.depth_multiplier + m;
                    let mut acc = bias.map_or(0, |b| b[oc]);
                    for ky in 0..g.kernel_h {
                        let Some(iy) = g.tap_y(oy, ky) else { continue };
                        for kx in 0..g.kernel_w {
                            let Some(ix) = g.tap_x(ox, kx) else { continue };
                            let x = i32::from(input[(iy * g.in_w + ix) * g.in_c + ic]);
                            let w = i32::from(weights[(ky * g.kernel_w + kx) * cols + oc]);
                            acc = acc.wrapping_add(w.wrapping_mul(x.wrapping_sub(input_zero_point)));
                        }
                    }
                    out[(oy * g.out_w + ox) * cols + oc] = stage.apply(acc, oc);
                }
            }
        }
    }
}

/// The reference depthwise formula for channels `channels` only, on an input already
/// expanded to `cols` channels (depth multiplier 1): the tail the SIMD kernels leave.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_channels(
    g: &DepthwiseGeometry,
    cols: usize,
    channels: core::ops::Range<usize>,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for oc in channels.clone() {
                let mut acc = bias.map_or(0, |b| b[oc]);
                for ky in 0..g.kernel_h {
                    let Some(iy) = g.tap_y(oy, ky) else { continue };
                    for kx in 0..g.kernel_w {
                        let Some(ix) = g.tap_x(ox, kx) else { continue };
                        let x = i32::from(input[(iy * g.in_w + ix) * cols + oc]);
                        let w = i32::from(weights[(ky * g.kernel_w + kx) * cols + oc]);
                        acc = acc.wrapping_add(w.wrapping_mul(x.wrapping_sub(input_zero_point)));
                    }
                }
                out[(oy * g.out_w + ox) * cols + oc] = stage.apply(acc, oc);
            }
        }
    }
}
