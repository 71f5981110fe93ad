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
