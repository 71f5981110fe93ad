//! Depthwise 2-D convolution: shape checks and dispatch to the path's kernel.
//!
//! Must never: index outside a buffer (every length is checked here with checked
//! arithmetic before any kernel runs) or run a path the CPU lacks.

#[cfg(target_arch = "x86_64")]
use alloc::borrow::Cow;
#[cfg(target_arch = "x86_64")]
use alloc::vec;
use core::ops::Range;

#[cfg(target_arch = "x86_64")]
use crate::simd;
use alloc::vec::Vec;

use crate::{KernelError, KernelPath, OutputStage, Rounding, WindowGeometry, check_len, reference};

/// The depthwise formula on an input already expanded to `cols` channels (depth multiplier
/// 1), in scalar code without a bounds test per tap: the in-image
/// taps of each output pixel are a range per axis ([`WindowGeometry::taps_y`]), and each channel's sum is
/// `bias + sum(w * x) - zp * sum(w)`, equal to the reference's wrapping sum of
/// `w * (x - zp)` modulo 2^32. Used for channel counts too small for a vector (below 3).
#[allow(clippy::too_many_arguments)]
pub(crate) fn scalar_channels(
    g: &WindowGeometry,
    cols: usize,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    // Tap ranges whose arithmetic would overflow cannot come from a validated model; the
    // reference, which checks every tap, answers for them.
    let ranges_fit = (0..g.out_h).all(|oy| g.taps_y(oy).is_some()) && (0..g.out_w).all(|ox| g.taps_x(ox).is_some());
    if !ranges_fit {
        return reference::depthwise_expanded(g, cols, input, input_zero_point, weights, bias, stage, out);
    }
    for oy in 0..g.out_h {
        let Range { start: ky0, end: ky1 } = g.taps_y(oy).unwrap_or(0..0);
        for ox in 0..g.out_w {
            let Range { start: kx0, end: kx1 } = g.taps_x(ox).unwrap_or(0..0);
            let taps = kx1 - kx0;
            let pixel = (oy * g.out_w + ox) * cols;
            for oc in 0..cols {
                let (mut xw, mut ws) = (0i32, 0i32);
                for ky in ky0..ky1 {
                    if taps == 0 {
                        break;
                    }
                    // In range by `taps_y` / `taps_x`: the first and last taps are inside the image.
                    let iy = oy * g.stride_h + ky * g.dilation_h - g.pad_top;
                    let ix = ox * g.stride_w + kx0 * g.dilation_w - g.pad_left;
                    let x = &input[(iy * g.in_w + ix) * cols + oc..];
                    let w = &weights[(ky * g.kernel_w + kx0) * cols + oc..];
                    let (xstep, wstep) = (g.dilation_w * cols, cols);
                    if xstep == 1 && wstep == 1 {
                        for (&xv, &wv) in x[..taps].iter().zip(&w[..taps]) {
                            xw = xw.wrapping_add(i32::from(wv) * i32::from(xv));
                            ws = ws.wrapping_add(i32::from(wv));
                        }
                    } else {
                        for (&xv, &wv) in x.iter().step_by(xstep.max(1)).zip(w.iter().step_by(wstep)).take(taps) {
                            let xv = if xstep == 0 { x[0] } else { xv };
                            xw = xw.wrapping_add(i32::from(wv) * i32::from(xv));
                            ws = ws.wrapping_add(i32::from(wv));
                        }
                    }
                }
                let acc = bias.map_or(0, |b| b[oc]).wrapping_add(xw).wrapping_sub(input_zero_point.wrapping_mul(ws));
                out[pixel + oc] = stage.apply(acc, oc);
            }
        }
    }
}

fn mul(a: usize, b: usize) -> Result<usize, KernelError> {
    a.checked_mul(b).ok_or(KernelError::SizeOverflow { kernel: "depthwise_conv2d" })
}

/// `out[oy][ox][oc] = stage(bias[oc] + sum_taps w[ky][kx][oc] * (x[iy][ix][oc / dm] - zp), oc)`
/// on `path`; every path returns the same bytes as [`reference::depthwise_conv2d`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    path: KernelPath,
    g: &WindowGeometry,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    checked(path, g, input, input_zero_point, weights, bias, stage, None, out)
}

/// [`depthwise_conv2d`], with the vector kernel's per-call constants `prepared` for exactly
/// these arguments, if given (see [`PreparedDepthwise`]).
#[allow(clippy::too_many_arguments)]
fn checked(
    path: KernelPath,
    g: &WindowGeometry,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    prepared: Option<&Prepared>,
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
    #[cfg(not(target_arch = "x86_64"))]
    let _ = prepared;
    let unavailable = KernelError::PathUnavailable(path.name());
    match path {
        KernelPath::Reference => {
            reference::depthwise_conv2d(g, input, input_zero_point, weights, bias, stage, out);
            Ok(())
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => {
            let isa = crate::x86::Avx2::detect().ok_or(unavailable)?;
            let x = one_input_per_output(g, input, pixels_in, cols)?;
            simd::depthwise(isa, g, cols, &x, input_zero_point, weights, bias, stage, prepared, out)
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => {
            let isa = crate::x86::Avx512::detect().ok_or(unavailable)?;
            let x = one_input_per_output(g, input, pixels_in, cols)?;
            simd::depthwise(isa, g, cols, &x, input_zero_point, weights, bias, stage, prepared, out)
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Amx => {
            let isa = crate::x86::Avx512Amx::detect().ok_or(unavailable)?;
            let x = one_input_per_output(g, input, pixels_in, cols)?;
            simd::depthwise(isa, g, cols, &x, input_zero_point, weights, bias, stage, prepared, out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => Err(unavailable),
    }
}

/// What the vector kernel builds from a layer's constants on every call: the output stage's
/// widened constants and, where they pay, the taps in pairs.
#[cfg(target_arch = "x86_64")]
pub(crate) type Prepared = simd::DepthwiseConstants;
#[cfg(not(target_arch = "x86_64"))]
pub(crate) type Prepared = ();

/// Outputs above which [`PreparedDepthwise::new`] prepares nothing (2^26: the engine's arena
/// holds 2^25 bytes).
const PREPARE_AT_MOST_OUTPUTS: usize = 1 << 26;

/// A depthwise layer prepared once for one path: its geometry, weights, bias, input zero
/// point and output stage, owned, with what the vector kernel would otherwise build from them
/// on every call. [`PreparedDepthwise::run`] returns the bytes of [`depthwise_conv2d`] on the
/// same arguments; only the input varies, so nothing it holds can disagree with a call.
#[derive(Debug, Clone)]
pub struct PreparedDepthwise {
    path: KernelPath,
    geometry: WindowGeometry,
    input_zero_point: i32,
    weights: Vec<i8>,
    bias: Option<Vec<i32>>,
    multiplier: Vec<i32>,
    shift: Vec<i8>,
    /// The output zero point and bounds, and the rule.
    output: (i32, i8, i8, Rounding),
    prepared: Option<Prepared>,
}

impl PreparedDepthwise {
    /// Checks the lengths as [`depthwise_conv2d`] does and builds the kernel's constants for
    /// `path` (none for the reference path, or for channels too few for a vector).
    pub fn new(
        path: KernelPath,
        g: &WindowGeometry,
        weights: &[i8],
        input_zero_point: i32,
        bias: Option<&[i32]>,
        stage: &OutputStage<'_>,
    ) -> Result<Self, KernelError> {
        const K: &str = "PreparedDepthwise::new";
        if !path.is_available() {
            return Err(KernelError::PathUnavailable(path.name()));
        }
        let cols = mul(g.in_c, g.depth_multiplier)?;
        // The input's size too, which every run checks its input against.
        mul(mul(g.in_h, g.in_w)?, g.in_c)?;
        let outputs = mul(mul(g.out_h, g.out_w)?, cols)?;
        check_len(K, "weights", mul(mul(g.kernel_h, g.kernel_w)?, cols)?, weights.len())?;
        if let Some(bias) = bias {
            check_len(K, "bias", cols, bias.len())?;
        }
        stage.check(K, cols)?;
        #[cfg(target_arch = "x86_64")]
        let prepared = match path {
            // Finding the taps to pair walks the output's rows and columns, which a call bounds
            // by its buffer; a layer of more outputs than any model's arena holds is prepared
            // with nothing, and its calls build the constants as `depthwise_conv2d` does.
            _ if outputs > PREPARE_AT_MOST_OUTPUTS => None,
            KernelPath::Reference => None,
            KernelPath::Avx2 => {
                simd::depthwise_constants::<crate::x86::Avx2>(g, cols, weights, bias, input_zero_point, stage)
            }
            KernelPath::Avx512 => {
                simd::depthwise_constants::<crate::x86::Avx512>(g, cols, weights, bias, input_zero_point, stage)
            }
            KernelPath::Amx => {
                simd::depthwise_constants::<crate::x86::Avx512Amx>(g, cols, weights, bias, input_zero_point, stage)
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let prepared = None;
        Ok(PreparedDepthwise {
            path,
            geometry: *g,
            input_zero_point,
            weights: weights.to_vec(),
            bias: bias.map(<[i32]>::to_vec),
            multiplier: stage.multiplier.to_vec(),
            shift: stage.shift.to_vec(),
            output: (stage.output_zero_point, stage.clamp_min, stage.clamp_max, stage.rounding),
            prepared,
        })
    }

    /// [`depthwise_conv2d`] on `input` with the prepared layer's arguments.
    pub fn run(&self, input: &[i8], out: &mut [i8]) -> Result<(), KernelError> {
        let (output_zero_point, clamp_min, clamp_max, rounding) = self.output;
        let stage = OutputStage {
            multiplier: &self.multiplier,
            shift: &self.shift,
            output_zero_point,
            clamp_min,
            clamp_max,
            rounding,
        };
        let (g, bias) = (&self.geometry, self.bias.as_deref());
        checked(self.path, g, input, self.input_zero_point, &self.weights, bias, &stage, self.prepared.as_ref(), out)
    }

    /// The path the layer was prepared for.
    pub fn path(&self) -> KernelPath {
        self.path
    }
}

/// The SIMD kernels read one input channel per output channel; with a depth multiplier above
/// one, each input channel is repeated `dm` times first (a copy, linear in the input).
#[cfg(target_arch = "x86_64")]
fn one_input_per_output<'a>(
    g: &WindowGeometry,
    input: &'a [i8],
    pixels_in: usize,
    cols: usize,
) -> Result<Cow<'a, [i8]>, KernelError> {
    if g.depth_multiplier == 1 {
        return Ok(Cow::Borrowed(input));
    }
    let mut e = vec![0i8; mul(pixels_in, cols)?];
    if cols > 0 {
        // Output channel `oc` reads input channel `oc / dm`: each input value fills its `dm`
        // consecutive slots (no division per element).
        for (dst, src) in e.chunks_exact_mut(cols).zip(input.chunks_exact(g.in_c.max(1))) {
            for (slots, &v) in dst.chunks_exact_mut(g.depth_multiplier).zip(src) {
                slots.fill(v);
            }
        }
    }
    Ok(Cow::Owned(e))
}
