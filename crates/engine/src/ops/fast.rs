//! The fast path: matrix ops through `aiop-kernels`' packed, SIMD kernels.
//!
//! Conv2D becomes a matrix product by im2col, done in blocks of output pixels so its scratch
//! memory stays small and bounded whatever the model. Padded taps are filled with the input
//! zero point, which contributes exactly zero to every accumulator, as in the reference.

use alloc::vec;

use aiop_kernels::{
    DepthwiseGeometry, KernelError, KernelPath, OutputStage, PackedMatrix, depthwise_conv2d as depthwise, qgemm,
};

use crate::validate::Geometry;

/// Largest im2col scratch buffer, in bytes (one block of output pixels).
const IM2COL_BLOCK_BYTES: usize = 256 * 1024;

pub fn fully_connected(
    g: &Geometry,
    packed: &PackedMatrix,
    input: &[i8],
    input_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    qgemm(packed, input, g.rows, input_zero_point, bias, stage, out)
}

pub fn conv2d(
    g: &Geometry,
    packed: &PackedMatrix,
    input: &[i8],
    input_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    let pointwise = g.kernel_h == 1
        && g.kernel_w == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && g.pad_top == 0
        && g.pad_left == 0
        && g.out_h == g.in_h
        && g.out_w == g.in_w;
    if pointwise {
        // A 1x1 convolution is already a matrix product of the [H*W, Cin] image.
        return qgemm(packed, input, g.rows, input_zero_point, bias, stage, out);
    }
    let k = g.depth;
    let block_rows = (IM2COL_BLOCK_BYTES / k.max(1)).clamp(1, g.rows.max(1));
    let mut scratch = vec![0i8; block_rows * k];
    let fill = input_zero_point.clamp(-128, 127) as i8;
    let mut first = 0;
    while first < g.rows {
        let rows = block_rows.min(g.rows - first);
        let lhs = &mut scratch[..rows * k];
        for (r, row) in lhs.chunks_exact_mut(k).enumerate() {
            im2col_row(g, input, first + r, fill, row);
        }
        let out_block = &mut out[first * g.cols..(first + rows) * g.cols];
        qgemm(packed, lhs, rows, input_zero_point, bias, stage, out_block)?;
        first += rows;
    }
    Ok(())
}

/// Writes the `KH * KW * Cin` input values under output pixel `pixel`, in weight order.
fn im2col_row(g: &Geometry, input: &[i8], pixel: usize, fill: i8, row: &mut [i8]) {
    let (oy, ox) = (pixel / g.out_w, pixel % g.out_w);
    let c = g.in_c;
    for ky in 0..g.kernel_h {
        let iy = (oy * g.stride_h + ky * g.dilation_h).checked_sub(g.pad_top).filter(|&y| y < g.in_h);
        for kx in 0..g.kernel_w {
            let dst = &mut row[(ky * g.kernel_w + kx) * c..][..c];
            let ix = (ox * g.stride_w + kx * g.dilation_w).checked_sub(g.pad_left).filter(|&x| x < g.in_w);
            match (iy, ix) {
                (Some(iy), Some(ix)) => dst.copy_from_slice(&input[(iy * g.in_w + ix) * c..][..c]),
                _ => dst.fill(fill),
            }
        }
    }
}

/// Depthwise Conv2D on `path`'s kernel (weights are read as stored: `[KH, KW, Cout]` is
/// already channel-contiguous, the order the SIMD kernels want).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    path: KernelPath,
    g: &Geometry,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    let dg = DepthwiseGeometry {
        in_h: g.in_h,
        in_w: g.in_w,
        in_c: g.in_c,
        out_h: g.out_h,
        out_w: g.out_w,
        kernel_h: g.kernel_h,
        kernel_w: g.kernel_w,
        stride_h: g.stride_h,
        stride_w: g.stride_w,
        dilation_h: g.dilation_h,
        dilation_w: g.dilation_w,
        pad_top: g.pad_top,
        pad_left: g.pad_left,
        depth_multiplier: g.depth_multiplier,
    };
    depthwise(path, &dg, input, input_zero_point, weights, bias, stage, out)
}

/// The input coordinates `[start, end)` under the window of output coordinate `out` along one
/// axis: the taps `out * stride + k - pad` for `k < kernel` that fall inside `0..size` (the
/// reference's `tap` with dilation 1, as a range).
fn window_range(out: usize, stride: usize, pad: usize, kernel: usize, size: usize) -> (usize, usize) {
    let first = out * stride;
    let start = first.saturating_sub(pad);
    let end = (first + kernel).saturating_sub(pad).min(size);
    (start, end.max(start))
}

/// Max pooling, the same bytes as [`crate::ops::reference::max_pool2d`]: each output pixel's
/// channels are reduced together over the window's in-image rows, so the inner loop runs over
/// contiguous channels (and vectorizes) instead of one tap lookup per channel.
pub fn max_pool2d(g: &Geometry, input: &[i8], clamp: crate::model::Clamp, out: &mut [i8]) {
    let c = g.in_c;
    let mut acc = vec![i8::MIN; c];
    for oy in 0..g.out_h {
        let (y0, y1) = window_range(oy, g.stride_h, g.pad_top, g.kernel_h, g.in_h);
        for ox in 0..g.out_w {
            let (x0, x1) = window_range(ox, g.stride_w, g.pad_left, g.kernel_w, g.in_w);
            acc.fill(i8::MIN);
            for iy in y0..y1 {
                let row = &input[(iy * g.in_w + x0) * c..(iy * g.in_w + x1) * c];
                for pixel in row.chunks_exact(c) {
                    for (a, &v) in acc.iter_mut().zip(pixel) {
                        *a = (*a).max(v);
                    }
                }
            }
            let dst = &mut out[(oy * g.out_w + ox) * c..][..c];
            for (d, &a) in dst.iter_mut().zip(&acc) {
                *d = crate::ops::reference::clamp_to(a.into(), clamp);
            }
        }
    }
}

/// A window sums at most one input tensor's worth of int8 values, so an `i32` sum cannot
/// overflow: `128 * MAX_TENSOR_ELEMENTS <= 2^31`.
const _: () = assert!(128 * crate::limits::MAX_TENSOR_ELEMENTS <= 1 << 31);

/// Average pooling over the in-image taps, rounding half away from zero, the same bytes as
/// [`crate::ops::reference::average_pool2d`], with the channel-contiguous loop of [`max_pool2d`]
/// and `i32` sums (see the assertion above).
pub fn average_pool2d(g: &Geometry, input: &[i8], clamp: crate::model::Clamp, out: &mut [i8]) {
    let c = g.in_c;
    let mut sums = vec![0i32; c];
    for oy in 0..g.out_h {
        let (y0, y1) = window_range(oy, g.stride_h, g.pad_top, g.kernel_h, g.in_h);
        for ox in 0..g.out_w {
            let (x0, x1) = window_range(ox, g.stride_w, g.pad_left, g.kernel_w, g.in_w);
            sums.fill(0);
            for iy in y0..y1 {
                let row = &input[(iy * g.in_w + x0) * c..(iy * g.in_w + x1) * c];
                for pixel in row.chunks_exact(c) {
                    for (s, &v) in sums.iter_mut().zip(pixel) {
                        *s += i32::from(v);
                    }
                }
            }
            // Both ranges are at most an image side, so the product cannot overflow.
            let count = ((y1 - y0) * (x1 - x0)) as i64;
            let dst = &mut out[(oy * g.out_w + ox) * c..][..c];
            for (d, &sum) in dst.iter_mut().zip(&sums) {
                let sum = i64::from(sum);
                let avg = if count == 0 {
                    0
                } else if sum > 0 {
                    (sum + count / 2) / count
                } else {
                    (sum - count / 2) / count
                };
                *d = crate::ops::reference::clamp_to(avg, clamp);
            }
        }
    }
}
