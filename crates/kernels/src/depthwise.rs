//! Depthwise 2-D convolution: shape checks and dispatch to the path's kernel.
//!
//! Must never: index outside a buffer (every length is checked here with checked
//! arithmetic before any kernel runs) or run a path the CPU lacks.

use alloc::vec;

use crate::{KernelError, KernelPath, OutputStage, check_len, reference};

/// The shape of a depthwise convolution (NHWC input, `[KH, KW, in_c * depth_multiplier]`
/// weights). Input row `iy` of output row `oy` and tap `ky` is
/// `oy * stride_h + ky * dilation_h - pad_top`, skipped when outside `0..in_h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DepthwiseGeometry {
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub depth_multiplier: usize,
}

impl DepthwiseGeometry {
    #[inline]
    pub(crate) fn tap_y(&self, oy: usize, ky: usize) -> Option<usize> {
        tap(oy, self.stride_h, self.pad_top, ky, self.dilation_h, self.in_h)
    }
    #[inline]
    pub(crate) fn tap_x(&self, ox: usize, kx: usize) -> Option<usize> {
        tap(ox, self.stride_w, self.pad_left, kx, self.dilation_w, self.in_w)
    }
}

/// Overflow is "outside the image": such a tap could never be inside it.
#[inline]
fn tap(out: usize, stride: usize, pad: usize, k: usize, dilation: usize, size: usize) -> Option<usize> {
    out.checked_mul(stride)?.checked_add(k.checked_mul(dilation)?)?.checked_sub(pad).filter(|&i| i < size)
}

fn mul(a: usize, b: usize) -> Result<usize, KernelError> {
    a.checked_mul(b).ok_or(KernelError::SizeOverflow { kernel: "depthwise_conv2d" })
}

/// `out[oy][ox][oc] = stage(bias[oc] + sum_taps w[ky][kx][oc] * (x[iy][ix][oc / dm] - zp), oc)`
/// on `path`; every path returns the same bytes as [`reference::depthwise_conv2d`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    path: KernelPath,
    g: &DepthwiseGeometry,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    const K: &str = "depthwise_conv2d";
    if !path.is_available() {
        return Err(KernelError::PathUnavailable(path.name()));
    }
    let cols = mul(g.in_c, g.depth_multiplier)?;
    let pixels_in = mul(g.in_h, g.in_w)?;
    check_len(K, "input", mul(pixels_in, g.in_c)?, input.len())?;
    check_len(K, "weights", mul(mul(g.kernel_h, g.kernel_w)?, cols)?, weights.len())?;
    check_len(K, "out", mul(mul(g.out_h, g.out_w)?, cols)?, out.len())?;
    if let Some(bias) = bias {
        check_len(K, "bias", cols, bias.len())?;
    }
    stage.check(K, cols)?;
    if path == KernelPath::Reference {
        reference::depthwise_conv2d(g, input, input_zero_point, weights, bias, stage, out);
        return Ok(());
    }
    // The SIMD kernels read one input channel per output channel; with a depth multiplier
    // above one, repeat each input channel `dm` times first (a copy, linear in the input).
    let expanded;
    let x: &[i8] = if g.depth_multiplier == 1 {
        input
    } else {
        let mut e = vec![0i8; mul(pixels_in, cols)?];
        if cols > 0 {
            for (dst, src) in e.chunks_exact_mut(cols).zip(input.chunks_exact(g.in_c.max(1))) {
                for (oc, d) in dst.iter_mut().enumerate() {
                    *d = src[oc / g.depth_multiplier];
                }
            }
        }
        expanded = e;
        &expanded
    };
    match path {
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => crate::x86::avx2::depthwise(g, cols, x, input_zero_point, weights, bias, stage, out),
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => crate::x86::avx512::depthwise(g, cols, x, input_zero_point, weights, bias, stage, out),
        _ => reference::depthwise_conv2d(g, input, input_zero_point, weights, bias, stage, out),
    }
    Ok(())
}
