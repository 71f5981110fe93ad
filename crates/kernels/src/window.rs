//! The geometry of a sliding window (convolution, depthwise convolution, pooling): the one
//! description of which input pixel each tap of each output pixel reads, shared by the
//! engine's validation, the reference kernels and the fast kernels.
//!
//! Must never: overflow (every coordinate is computed with checked arithmetic; an overflowing
//! tap is outside the image, which it could never be inside of).

use core::ops::Range;

/// An NHWC window: input `[in_h, in_w, in_c]`, output `[out_h, out_w, in_c *
/// depth_multiplier]` (depthwise) or `[out_h, out_w, cols]` (convolution, where the output
/// channel count is the caller's). Input row `iy` of output row `oy` and tap `ky` is
/// `oy * stride_h + ky * dilation_h - pad_top`, skipped when outside `0..in_h` (padding), and
/// likewise for columns. Pooling windows have dilation 1 and depth multiplier 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowGeometry {
    /// Input height, in pixels.
    pub in_h: usize,
    /// Input width, in pixels.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output height, in pixels.
    pub out_h: usize,
    /// Output width, in pixels.
    pub out_w: usize,
    /// Window (kernel) height, in taps.
    pub kernel_h: usize,
    /// Window (kernel) width, in taps.
    pub kernel_w: usize,
    /// Input rows between consecutive output rows.
    pub stride_h: usize,
    /// Input columns between consecutive output columns.
    pub stride_w: usize,
    /// Input rows between consecutive taps of a window column.
    pub dilation_h: usize,
    /// Input columns between consecutive taps of a window row.
    pub dilation_w: usize,
    /// Padding rows above the input (subtracted from every input row).
    pub pad_top: usize,
    /// Padding columns left of the input (subtracted from every input column).
    pub pad_left: usize,
    /// Output channels per input channel (depthwise; 1 for convolution and pooling).
    pub depth_multiplier: usize,
}

impl WindowGeometry {
    /// The input row under tap `ky` of output row `oy`, or `None` in the padding.
    #[inline]
    pub fn tap_y(&self, oy: usize, ky: usize) -> Option<usize> {
        tap(oy, self.stride_h, self.pad_top, ky, self.dilation_h, self.in_h)
    }

    /// The input column under tap `kx` of output column `ox`, or `None` in the padding.
    #[inline]
    pub fn tap_x(&self, ox: usize, kx: usize) -> Option<usize> {
        tap(ox, self.stride_w, self.pad_left, kx, self.dilation_w, self.in_w)
    }

    /// The taps `ky` of output row `oy` inside the image, as a range (empty as `0..0`), or
    /// `None` if an intermediate overflows (then ask [`WindowGeometry::tap_y`] per tap).
    #[inline]
    pub fn taps_y(&self, oy: usize) -> Option<Range<usize>> {
        tap_range(oy, self.stride_h, self.pad_top, self.kernel_h, self.dilation_h, self.in_h)
    }

    /// The taps `kx` of output column `ox` inside the image (see [`WindowGeometry::taps_y`]).
    #[inline]
    pub fn taps_x(&self, ox: usize) -> Option<Range<usize>> {
        tap_range(ox, self.stride_w, self.pad_left, self.kernel_w, self.dilation_w, self.in_w)
    }

    /// The input rows under output row `oy` of an undilated window (pooling): the rows of
    /// [`WindowGeometry::taps_y`], as input coordinates. Empty when no tap is inside.
    #[inline]
    pub fn rows_under(&self, oy: usize) -> Range<usize> {
        self.taps_y(oy).and_then(|k| coordinates(oy, self.stride_h, self.pad_top, k)).unwrap_or(0..0)
    }

    /// The input columns under output column `ox` of an undilated window (pooling).
    #[inline]
    pub fn cols_under(&self, ox: usize) -> Range<usize> {
        self.taps_x(ox).and_then(|k| coordinates(ox, self.stride_w, self.pad_left, k)).unwrap_or(0..0)
    }
}

/// Overflow is "outside the image": such a tap could never be inside it.
#[inline]
fn tap(out: usize, stride: usize, pad: usize, k: usize, dilation: usize, size: usize) -> Option<usize> {
    out.checked_mul(stride)?.checked_add(k.checked_mul(dilation)?)?.checked_sub(pad).filter(|&i| i < size)
}

/// Input coordinates of the in-image taps `k` (dilation 1): `out * stride + k - pad`.
fn coordinates(out: usize, stride: usize, pad: usize, k: Range<usize>) -> Option<Range<usize>> {
    if k.is_empty() {
        return Some(0..0);
    }
    let base = out.checked_mul(stride)?;
    Some(base.checked_add(k.start)?.checked_sub(pad)?..base.checked_add(k.end)?.checked_sub(pad)?)
}

/// The taps `k` in `0..kernel` of output coordinate `out` that fall inside `0..size` (a
/// contiguous range, since the tap coordinate grows with `k`), or `None` if an intermediate
/// overflows.
#[inline]
fn tap_range(
    out: usize,
    stride: usize,
    pad: usize,
    kernel: usize,
    dilation: usize,
    size: usize,
) -> Option<Range<usize>> {
    let base = out.checked_mul(stride)?;
    let limit = size.checked_add(pad)?;
    // Largest coordinate a tap below `kernel` can reach must not overflow either.
    base.checked_add(kernel.checked_mul(dilation)?)?;
    if dilation == 0 {
        let inside = base >= pad && base < limit;
        return Some(if inside { 0..kernel } else { 0..0 });
    }
    let lo = if base >= pad { 0 } else { (pad - base).div_ceil(dilation) };
    let hi = if base >= limit { 0 } else { (limit - base).div_ceil(dilation).min(kernel) };
    Some(if lo < hi { lo..hi } else { 0..0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ranges are exactly the taps `tap` accepts, over small windows of every kind.
    #[test]
    fn tap_ranges_are_the_in_image_taps() {
        for size in 1..7 {
            for kernel in 1..6 {
                for stride in 1..4 {
                    for dilation in 0..4 {
                        for pad in 0..6 {
                            for out in 0..8 {
                                let want: alloc::vec::Vec<usize> = (0..kernel)
                                    .filter(|&k| tap(out, stride, pad, k, dilation, size).is_some())
                                    .collect();
                                let got = tap_range(out, stride, pad, kernel, dilation, size).unwrap();
                                assert_eq!(got.collect::<alloc::vec::Vec<_>>(), want);
                                if dilation == 1 {
                                    let coords: alloc::vec::Vec<usize> =
                                        want.iter().filter_map(|&k| tap(out, stride, pad, k, 1, size)).collect();
                                    let range = tap_range(out, stride, pad, kernel, 1, size)
                                        .and_then(|k| coordinates(out, stride, pad, k))
                                        .unwrap();
                                    assert_eq!(range.collect::<alloc::vec::Vec<_>>(), coords);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
