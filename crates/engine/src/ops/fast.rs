//! The fast path: matrix ops through `aiop-kernels`' packed, SIMD kernels.
//!
//! Conv2D becomes a matrix product: where its kernel rows are long enough, the kernel reads
//! them in place in the input ([`aiop_kernels::qgemm_gathered`]) and only the pixels at the
//! padded border get a row built; otherwise by im2col, in blocks of output pixels so its
//! scratch memory stays small and bounded whatever the model. Padded taps are filled with the
//! input zero point, which contributes exactly zero to every accumulator, as in the reference.

use alloc::vec;

use core::ops::Range;

use aiop_kernels::{KernelError, OutputStage, PackedMatrix, WindowGeometry, qgemm};

use crate::validate::Geometry;

/// Target size of the im2col scratch buffer on the AVX-512 path, in bytes (one block of
/// output pixels): small enough to stay in L2 with the kernel's copy of it. Measured on an AMD
/// EPYC with AVX-512 VNNI (`aiop model run --repeat`): resnet8 from about 440 to 270 µs, the
/// larger ResNet from 1,280 to 900 µs. The AVX2 path ran the larger ResNet about 13% slower
/// with blocks this small (its copy is 16-bit, twice the bytes), so it keeps the largest.
const IM2COL_AVX512_BLOCK_BYTES: usize = 32 * 1024;
/// Fewest output pixels per block while the block stays within [`IM2COL_MAX_BLOCK_BYTES`]:
/// each block streams the whole packed weight matrix once, so deep convolutions with many
/// output channels need enough rows per block to reuse it.
const IM2COL_MIN_BLOCK_ROWS: usize = 64;
/// Largest im2col scratch buffer, in bytes.
const IM2COL_MAX_BLOCK_BYTES: usize = 256 * 1024;

/// Conv2D as im2col blocks through `packed`'s kernel; the same bytes as
/// `aiop_kernels::reference::conv2d`.
pub fn conv2d(
    g: &Geometry,
    packed: &PackedMatrix,
    input: &[i8],
    input_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    let pointwise = g.window.kernel_h == 1
        && g.window.kernel_w == 1
        && g.window.stride_h == 1
        && g.window.stride_w == 1
        && g.window.pad_top == 0
        && g.window.pad_left == 0
        && g.window.out_h == g.window.in_h
        && g.window.out_w == g.window.in_w;
    if pointwise {
        // A 1x1 convolution is already a matrix product of the [H*W, Cin] image.
        return qgemm(packed, input, g.rows, input_zero_point, bias, stage, out);
    }
    if let Some(done) = conv2d_in_place(g, packed, input, input_zero_point, bias, stage, out) {
        return done;
    }
    let k = g.depth;
    let k_bytes = k.max(1);
    let target = if matches!(packed.path(), aiop_kernels::KernelPath::Avx512 | aiop_kernels::KernelPath::Amx) {
        IM2COL_AVX512_BLOCK_BYTES
    } else {
        IM2COL_MAX_BLOCK_BYTES
    };
    let block_rows = (target / k_bytes).max(IM2COL_MIN_BLOCK_ROWS).min(IM2COL_MAX_BLOCK_BYTES / k_bytes);
    // A whole number of the kernels' row tiles, so that no block ends in single rows.
    let block_rows = if block_rows >= 16 { block_rows & !15 } else { block_rows }.clamp(1, g.rows.max(1));
    let mut scratch = vec![0i8; block_rows * k];
    let fill = input_zero_point.clamp(-128, 127) as i8;
    let mut first = 0;
    // The output pixel of the next im2col row, advanced without a division per pixel.
    let out_w = g.window.out_w.max(1);
    let (mut oy, mut ox) = (0, 0);
    while first < g.rows {
        let rows = block_rows.min(g.rows - first);
        let lhs = &mut scratch[..rows * k];
        for row in lhs.chunks_exact_mut(k) {
            im2col_row(g, input, oy, ox, fill, row);
            ox += 1;
            if ox == out_w {
                (oy, ox) = (oy + 1, 0);
            }
        }
        let out_block = &mut out[first * g.cols..(first + rows) * g.cols];
        qgemm(packed, lhs, rows, input_zero_point, bias, stage, out_block)?;
        first += rows;
    }
    Ok(())
}

/// Most row offsets [`conv2d_in_place`] builds (`out_h * out_w * kernel_h`), and most bytes
/// of border rows it copies: beyond either the blocked im2col keeps memory small.
const IN_PLACE_MAX_OFFSETS: usize = 1 << 18;
const IN_PLACE_MAX_BORDER_BYTES: usize = 1 << 20;

/// Conv2D without the im2col copy where the kernel can read it in place: each output pixel's
/// row of the product is its `kernel_h` kernel rows, each `kernel_w * Cin` contiguous input
/// bytes (dilation 1 across), read where they are; only pixels whose window reaches into the
/// padding get a row built (by [`im2col_row`]). `None` where this does not apply or would not
/// be faster: kernel rows too short to read in place, more input to widen than the im2col
/// would copy (a large stride), or more offsets or border rows than the bounds above.
fn conv2d_in_place(
    g: &Geometry,
    packed: &PackedMatrix,
    input: &[i8],
    input_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Option<Result<(), KernelError>> {
    let w = &g.window;
    let run = w.kernel_w.checked_mul(w.in_c)?;
    let offsets_len = g.rows.checked_mul(w.kernel_h)?;
    if w.dilation_w != 1
        || !packed.gathers_in_place(run)
        || offsets_len > IN_PLACE_MAX_OFFSETS
        || input.len() > g.rows.saturating_mul(g.depth)
    {
        return None;
    }
    let border_pixels = (0..w.out_h)
        .map(|oy| {
            if inside(oy, w.stride_h, w.pad_top, w.kernel_h, w.dilation_h, w.in_h) {
                (0..w.out_w).filter(|&ox| !inside(ox, w.stride_w, w.pad_left, w.kernel_w, 1, w.in_w)).count()
            } else {
                w.out_w
            }
        })
        .sum::<usize>();
    if border_pixels.saturating_mul(g.depth) > IN_PLACE_MAX_BORDER_BYTES {
        return None;
    }
    let fill = input_zero_point.clamp(-128, 127) as i8;
    let mut border = vec![0i8; border_pixels * g.depth];
    let mut offsets = vec![0usize; offsets_len];
    let (mut next_border, row_bytes) = (0, w.in_w * w.in_c);
    let mut pixel_offsets = offsets.chunks_exact_mut(w.kernel_h.max(1));
    for oy in 0..w.out_h {
        let rows_inside = inside(oy, w.stride_h, w.pad_top, w.kernel_h, w.dilation_h, w.in_h);
        for ox in 0..w.out_w {
            let Some(at) = pixel_offsets.next() else { break };
            if rows_inside && inside(ox, w.stride_w, w.pad_left, w.kernel_w, 1, w.in_w) {
                // Inside the image, so these are the taps' own coordinates (no underflow).
                let (iy0, ix0) = (oy * w.stride_h - w.pad_top, ox * w.stride_w - w.pad_left);
                for (ky, o) in at.iter_mut().enumerate() {
                    *o = (iy0 + ky * w.dilation_h) * row_bytes + ix0 * w.in_c;
                }
            } else {
                let row = &mut border[next_border * g.depth..(next_border + 1) * g.depth];
                im2col_row(g, input, oy, ox, fill, row);
                for (ky, o) in at.iter_mut().enumerate() {
                    *o = input.len() + next_border * g.depth + ky * run;
                }
                next_border += 1;
            }
        }
    }
    let source = (input, border.as_slice());
    Some(aiop_kernels::qgemm_gathered(packed, source, &offsets, run, g.rows, input_zero_point, bias, stage, out))
}

/// Whether the window along one axis, from output coordinate `o`, lies inside the image: its
/// first and last taps are.
fn inside(o: usize, stride: usize, pad: usize, taps: usize, dilation: usize, size: usize) -> bool {
    let first = o.saturating_mul(stride);
    let last = first.saturating_add(taps.saturating_sub(1).saturating_mul(dilation));
    first >= pad && last < size.saturating_add(pad)
}

/// Whether every tap of output pixel `(oy, ox)`'s window lies inside the image.
fn window_inside(w: &WindowGeometry, oy: usize, ox: usize) -> bool {
    inside(oy, w.stride_h, w.pad_top, w.kernel_h, w.dilation_h, w.in_h)
        && inside(ox, w.stride_w, w.pad_left, w.kernel_w, w.dilation_w, w.in_w)
}

/// Writes the `KH * KW * Cin` input values under output pixel `(oy, ox)`, in weight order.
/// With dilation 1 the in-image taps of a kernel row are one contiguous run of the input row,
/// copied at once (a wide kernel over few channels would otherwise cost one tiny copy per tap).
fn im2col_row(g: &Geometry, input: &[i8], oy: usize, ox: usize, fill: i8, row: &mut [i8]) {
    let w = &g.window;
    let (c, kw) = (w.in_c, w.kernel_w);
    if w.dilation_w == 1 && window_inside(w, oy, ox) {
        // Away from every edge: each kernel row is one run of the input, no tap arithmetic.
        let (run, row_bytes) = (kw * c, w.in_w * c);
        let (iy0, ix0) = (oy * w.stride_h - w.pad_top, ox * w.stride_w - w.pad_left);
        for (ky, taps) in row.chunks_exact_mut(run.max(1)).take(w.kernel_h).enumerate() {
            let start = (iy0 + ky * w.dilation_h) * row_bytes + ix0 * c;
            copy_short(taps, &input[start..start + run]);
        }
        return;
    }
    // The in-image taps `lo..hi` of this pixel's columns: all of them away from the edges
    // (checked without the divisions of `taps_x`); validated sizes cannot overflow, so `None`
    // (which would mean every tap is outside) does not occur.
    let base = ox.saturating_mul(w.stride_w);
    let last = base.saturating_add(kw.saturating_sub(1).saturating_mul(w.dilation_w));
    let Range { start: lo, end: hi } = if base >= w.pad_left && last < w.in_w.saturating_add(w.pad_left) {
        0..kw
    } else {
        w.taps_x(ox).unwrap_or(0..0)
    };
    for ky in 0..w.kernel_h {
        let taps = &mut row[ky * kw * c..(ky + 1) * kw * c];
        let Some(iy) = w.tap_y(oy, ky) else {
            taps.fill(fill);
            continue;
        };
        if lo > 0 {
            taps[..lo * c].fill(fill);
        }
        if hi < kw {
            taps[hi * c..].fill(fill);
        }
        if hi == lo {
            continue;
        }
        // Tap `kx` reads column `ix0 + (kx - lo) * d`: with dilation 1 one contiguous run of
        // the input row, copied at once (a wide kernel over few channels would otherwise cost
        // one tiny copy per tap); dilated, every `d`-th pixel of the row, gathered without a
        // bounds decision per tap (and one byte at a time for a single channel).
        let (d, row_start) = (w.dilation_w, iy * w.in_w * c);
        let ix0 = ox * w.stride_w + lo * d - w.pad_left;
        if d == 1 {
            let start = row_start + ix0 * c;
            copy_short(&mut taps[lo * c..hi * c], &input[start..start + (hi - lo) * c]);
        } else {
            // The input pixels from tap `lo`'s to tap `hi - 1`'s, `d` pixels apart.
            let src = &input[row_start + ix0 * c..row_start + (ix0 + (hi - lo - 1) * d + 1) * c];
            let dst = &mut taps[lo * c..hi * c];
            // A copy of a few bytes through `copy_from_slice` is a call to `memcpy` per tap,
            // which dominated a dilated kernel over two channels; a fixed width is inlined.
            match c {
                1 => gather_dilated::<1>(src, d, dst),
                2 => gather_dilated::<2>(src, d, dst),
                3 => gather_dilated::<3>(src, d, dst),
                4 => gather_dilated::<4>(src, d, dst),
                8 => gather_dilated::<8>(src, d, dst),
                _ => {
                    for (to, from) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c).step_by(d)) {
                        to.copy_from_slice(from);
                    }
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)`, without a call to `memcpy` for the short runs of a small
/// kernel over few channels (a 5x5 kernel over 3 channels copies 15 bytes per kernel row):
/// up to 32 bytes as two fixed-size copies that overlap in the middle.
#[inline(always)]
fn copy_short(dst: &mut [i8], src: &[i8]) {
    let n = dst.len();
    if n != src.len() || n > 32 {
        dst.copy_from_slice(src);
    } else if n >= 16 {
        dst[..16].copy_from_slice(&src[..16]);
        dst[n - 16..].copy_from_slice(&src[n - 16..]);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
    }
}

/// Copies `C`-byte pixels `d` pixels apart in `src` into consecutive pixels of `dst`.
#[inline(always)]
fn gather_dilated<const C: usize>(src: &[i8], d: usize, dst: &mut [i8]) {
    for (to, from) in dst.chunks_exact_mut(C).zip(src.chunks_exact(C).step_by(d)) {
        to.copy_from_slice(from);
    }
}

/// Max pooling, the same bytes as [`crate::ops::reference::max_pool2d`]: each output pixel's
/// channels are reduced together over the window's in-image rows, so the inner loop runs over
/// contiguous channels (and vectorizes) instead of one tap lookup per channel.
pub fn max_pool2d(g: &Geometry, input: &[i8], clamp: crate::model::Clamp, out: &mut [i8]) {
    if sliding(g) {
        return max_pool2d_sliding(g, input, clamp, out);
    }
    let c = g.window.in_c;
    let mut acc = vec![i8::MIN; c];
    for oy in 0..g.window.out_h {
        let Range { start: y0, end: y1 } = g.window.rows_under(oy);
        for ox in 0..g.window.out_w {
            let Range { start: x0, end: x1 } = g.window.cols_under(ox);
            acc.fill(i8::MIN);
            for iy in y0..y1 {
                let row = &input[(iy * g.window.in_w + x0) * c..(iy * g.window.in_w + x1) * c];
                if c == 1 {
                    // One channel: a plain (vectorized) maximum of the row.
                    acc[0] = row.iter().fold(acc[0], |a, &v| a.max(v));
                    continue;
                }
                for pixel in row.chunks_exact(c) {
                    for (a, &v) in acc.iter_mut().zip(pixel) {
                        *a = (*a).max(v);
                    }
                }
            }
            let dst = &mut out[(oy * g.window.out_w + ox) * c..][..c];
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
    if sliding(g) {
        return average_pool2d_sliding(g, input, clamp, out);
    }
    let c = g.window.in_c;
    let mut sums = vec![0i32; c];
    for oy in 0..g.window.out_h {
        let Range { start: y0, end: y1 } = g.window.rows_under(oy);
        for ox in 0..g.window.out_w {
            let Range { start: x0, end: x1 } = g.window.cols_under(ox);
            sums.fill(0);
            for iy in y0..y1 {
                let row = &input[(iy * g.window.in_w + x0) * c..(iy * g.window.in_w + x1) * c];
                if c == 1 {
                    sums[0] += row.iter().map(|&v| i32::from(v)).sum::<i32>();
                    continue;
                }
                for pixel in row.chunks_exact(c) {
                    for (s, &v) in sums.iter_mut().zip(pixel) {
                        *s += i32::from(v);
                    }
                }
            }
            // Both ranges are at most an image side, so the product cannot overflow.
            let count = ((y1 - y0) * (x1 - x0)) as i64;
            let dst = &mut out[(oy * g.window.out_w + ox) * c..][..c];
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

/// Whether the sliding-window forms below are cheaper than the direct loops: the direct loop
/// visits `out_w * kernel_w` pixels per input row of a window, the sliding one about
/// `3 * in_w + out_w`. Windows that overlap little (small kernels, strides as wide as the
/// window) stay direct.
fn sliding(g: &Geometry) -> bool {
    g.window.kernel_w > 8
        && g.window.out_w.saturating_mul(g.window.kernel_w) > 4 * g.window.in_w.saturating_add(g.window.out_w)
}

/// Average of `sum` over `count` taps, rounding half away from zero (the reference's rule).
#[inline]
fn average(sum: i64, count: i64) -> i64 {
    if count == 0 {
        0
    } else if sum > 0 {
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    }
}

/// [`max_pool2d`] in time linear in the row width, whatever the window (van Herk /
/// Gil-Werman): each input row is cut into blocks of `kernel_w` pixels with running maxima
/// from each block's start (`pre`) and to its end (`suf`); a window of at most `kernel_w`
/// pixels is then at most one suffix and one prefix. The maximum is exact, so the bytes are
/// the reference's.
fn max_pool2d_sliding(g: &Geometry, input: &[i8], clamp: crate::model::Clamp, out: &mut [i8]) {
    let (c, w, kw) = (g.window.in_c, g.window.in_w, g.window.kernel_w.max(1));
    if c == 0 {
        return;
    }
    let mut pre = vec![i8::MIN; w * c];
    let mut suf = vec![i8::MIN; w * c];
    let mut acc = vec![i8::MIN; g.window.out_w * c];
    let max_into = |a: &mut [i8], v: &[i8]| {
        for (a, &v) in a.iter_mut().zip(v) {
            *a = (*a).max(v);
        }
    };
    for oy in 0..g.window.out_h {
        let Range { start: y0, end: y1 } = g.window.rows_under(oy);
        acc.fill(i8::MIN);
        for iy in y0..y1 {
            let row = &input[iy * w * c..(iy + 1) * w * c];
            for b0 in (0..w).step_by(kw) {
                let b1 = (b0 + kw).min(w);
                pre[b0 * c..(b0 + 1) * c].copy_from_slice(&row[b0 * c..(b0 + 1) * c]);
                for j in (b0 + 1) * c..b1 * c {
                    pre[j] = pre[j - c].max(row[j]);
                }
                suf[(b1 - 1) * c..b1 * c].copy_from_slice(&row[(b1 - 1) * c..b1 * c]);
                for j in (b0 * c..(b1 - 1) * c).rev() {
                    suf[j] = suf[j + c].max(row[j]);
                }
            }
            for ox in 0..g.window.out_w {
                let Range { start: x0, end: x1 } = g.window.cols_under(ox);
                if x0 == x1 {
                    continue;
                }
                let a = &mut acc[ox * c..(ox + 1) * c];
                let (first, last) = (x0 / kw, (x1 - 1) / kw);
                if first != last {
                    // A window of at most `kw` pixels spans two neighbouring blocks.
                    max_into(a, &suf[x0 * c..(x0 + 1) * c]);
                    max_into(a, &pre[(x1 - 1) * c..x1 * c]);
                } else if x0 % kw == 0 {
                    max_into(a, &pre[(x1 - 1) * c..x1 * c]);
                } else if x1 == ((first + 1) * kw).min(w) {
                    max_into(a, &suf[x0 * c..(x0 + 1) * c]);
                } else {
                    for p in x0..x1 {
                        max_into(a, &row[p * c..(p + 1) * c]);
                    }
                }
            }
        }
        let dst = &mut out[oy * g.window.out_w * c..(oy + 1) * g.window.out_w * c];
        for (d, &a) in dst.iter_mut().zip(&acc) {
            *d = crate::ops::reference::clamp_to(a.into(), clamp);
        }
    }
}

/// [`average_pool2d`] in time linear in the row width: each window's sum is the difference of
/// two prefix sums of its input row. Prefix sums wrap in `i32` at worst, and the difference
/// of two wrapped values is the true window sum modulo 2^32, which fits `i32` (see the
/// assertion above), so the sums and the bytes are the reference's.
fn average_pool2d_sliding(g: &Geometry, input: &[i8], clamp: crate::model::Clamp, out: &mut [i8]) {
    let (c, w) = (g.window.in_c, g.window.in_w);
    if c == 0 {
        return;
    }
    let mut prefix = vec![0i32; (w + 1) * c];
    let mut sums = vec![0i32; g.window.out_w * c];
    for oy in 0..g.window.out_h {
        let Range { start: y0, end: y1 } = g.window.rows_under(oy);
        sums.fill(0);
        for iy in y0..y1 {
            let row = &input[iy * w * c..(iy + 1) * w * c];
            for j in 0..w * c {
                prefix[j + c] = prefix[j].wrapping_add(i32::from(row[j]));
            }
            for ox in 0..g.window.out_w {
                let Range { start: x0, end: x1 } = g.window.cols_under(ox);
                let s = &mut sums[ox * c..(ox + 1) * c];
                let (hi, lo) = (&prefix[x1 * c..(x1 + 1) * c], &prefix[x0 * c..(x0 + 1) * c]);
                for ((s, &h), &l) in s.iter_mut().zip(hi).zip(lo) {
                    *s = s.wrapping_add(h.wrapping_sub(l));
                }
            }
        }
        for ox in 0..g.window.out_w {
            let Range { start: x0, end: x1 } = g.window.cols_under(ox);
            let count = ((y1 - y0) * (x1 - x0)) as i64;
            let dst = &mut out[(oy * g.window.out_w + ox) * c..][..c];
            for (d, &sum) in dst.iter_mut().zip(&sums[ox * c..(ox + 1) * c]) {
                *d = crate::ops::reference::clamp_to(average(i64::from(sum), count), clamp);
            }
        }
    }
}

/// Elements below which [`gelu`] evaluates each value directly: building the 256-entry table
/// costs 256 evaluations.
const GELU_TABLE_FROM: usize = 1024;

/// Gelu through a table of all 256 int8 inputs, built from
/// [`super::reference::gelu_value`]: the same bytes as [`super::reference::gelu`].
pub fn gelu(rounding: aiop_kernels::Rounding, p: &super::reference::GeluParams, input: &[i8], out: &mut [i8]) {
    if input.len() < GELU_TABLE_FROM {
        return super::reference::gelu(rounding, p, input, out);
    }
    let table: [i8; 256] = core::array::from_fn(|i| super::reference::gelu_value(rounding, p, i as u8 as i8));
    look_up(&table, input, out);
}

/// Each element of `input` mapped through `table` (indexed by the element's bits).
fn look_up(table: &[i8; 256], input: &[i8], out: &mut [i8]) {
    for (&x, o) in input.iter().zip(out.iter_mut()) {
        *o = table[usize::from(x as u8)];
    }
}

/// Elements below which an elementwise op is evaluated directly rather than through a
/// table: a table of every int8 value costs 256 evaluations.
const TABLE_FROM: usize = 256;

/// An elementwise int8 op (the output element a function of the input element alone, as
/// every unary op of `super::reference` is) through a table of all 256 inputs, which
/// `reference` itself fills: the same bytes as `reference(input, out)`.
pub fn unary_through_table(input: &[i8], out: &mut [i8], reference: impl Fn(&[i8], &mut [i8])) {
    if input.len() < TABLE_FROM {
        return reference(input, out);
    }
    let every_value: [i8; 256] = core::array::from_fn(|i| i as u8 as i8);
    let mut table = [0i8; 256];
    reference(&every_value, &mut table);
    look_up(&table, input, out);
}

/// HardSwish with every element evaluated by [`HardSwishFixedPoint`], directly below 256
/// elements, through a table of all 256 inputs from there on: the same bytes as
/// [`super::reference::hard_swish`]. (The reference's own per-element code ran near 6.5 ns an
/// element here, more than the Elementwise price of an element, and a table filled by it cost
/// two ops' prices: the search found both above ecrecover's line.)
pub fn hard_swish(p: &super::reference::HardSwishParams, input: &[i8], out: &mut [i8]) {
    let fixed_point = HardSwishFixedPoint::new(p);
    if input.len() < TABLE_FROM {
        for (&x, o) in input.iter().zip(out.iter_mut()) {
            *o = fixed_point.value(x);
        }
        return;
    }
    let table: [i8; 256] = core::array::from_fn(|i| fixed_point.value(i as u8 as i8));
    look_up(&table, input, out);
}

/// HardSwish's parameters, ready for [`HardSwishFixedPoint::value`]: the reference's 16-bit
/// fixed point, step for step, in `i32` without branches. Why each step equals the
/// reference's, for validated parameters (multipliers in `[0, 32767]`, reluish exponent in
/// `[-15, 15]`, output exponent in `[-15, 0]`; clamped here so the function is total):
/// - the saturating high multiplies never saturate: their second factor is a multiplier
///   (`>= 0`) or their first is the rounded reluish value (`>= 0`), so never both `i16::MIN`;
/// - a truncating division of `t` by `2^15` is `(t + [t < 0] * (2^15 - 1)) >> 15`, and the
///   reference's nudge `1 - 2^14` for a negative product is `2^14 - (2^15 - 1)`;
/// - every value stays in `i16`'s range where the reference casts (products of two `i16`
///   values and shifts of at most 14 bits fit `i32`), and the rounding division by a power of
///   two is the reference's formula in 32 bits, exact for exponents up to 15.
///
/// `hard_swish_fixed_point_equals_the_reference` checks all 256 inputs against the reference
/// over random and extreme parameters.
#[derive(Debug, Clone, Copy)]
pub struct HardSwishFixedPoint {
    input_zero_point: i32,
    output_zero_point: i16,
    reluish_multiplier: i32,
    output_multiplier: i32,
    pre_shift: u32,
    post_shift: u32,
    reluish_right: u32,
    output_right: u32,
}

impl HardSwishFixedPoint {
    /// The constants of `p`'s evaluation.
    pub fn new(p: &super::reference::HardSwishParams) -> Self {
        let reluish_exponent = i32::from(p.reluish_exponent.clamp(-15, 15));
        let (pre_shift, post_shift) = if reluish_exponent > 0 { ((reluish_exponent - 1) as u32, 1) } else { (0, 0) };
        HardSwishFixedPoint {
            input_zero_point: p.input_zero_point.clamp(-128, 127),
            output_zero_point: p.output_zero_point as i16,
            reluish_multiplier: i32::from(p.reluish_multiplier.max(0)),
            output_multiplier: i32::from(p.output_multiplier.max(0)),
            pre_shift,
            post_shift,
            reluish_right: (-reluish_exponent).max(0) as u32,
            output_right: (-i32::from(p.output_exponent.clamp(-15, 0))) as u32,
        }
    }

    /// HardSwish of one int8 input.
    #[inline]
    pub fn value(&self, x: i8) -> i8 {
        fn high_mul(a: i32, b: i32) -> i32 {
            let ab = a * b;
            let t = ab + (1 << 14) - ((ab >> 31) & 0x7FFF);
            (t + ((t >> 31) & 0x7FFF)) >> 15
        }
        fn divide_by_pot(x: i32, exponent: u32) -> i32 {
            let mask = (1i32 << exponent) - 1;
            let threshold = (mask >> 1) + ((x >> 31) & 1);
            (x >> exponent) + i32::from((x & mask) > threshold)
        }
        let i16_range = |v: i32| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
        let hires = (i32::from(x) - self.input_zero_point) * (1 << 7);
        let preshift_output = high_mul(hires, self.output_multiplier);
        let reluish = high_mul(i16_range(hires << self.pre_shift), self.reluish_multiplier);
        let reluish = divide_by_pot(i16_range(reluish << self.post_shift), self.reluish_right);
        let reluish = (reluish + (1 << 15)) >> 1;
        let product = reluish * preshift_output;
        let preshift = (product + ((product >> 31) & 0x7FFF)) >> 15;
        let value = (divide_by_pot(preshift, self.output_right) as i16).wrapping_add(self.output_zero_point);
        value.clamp(-128, 127) as i8
    }
}

/// Elements of Add requantized per call of the vector output stage, where the terms need
/// `i64` (no real model's do).
const ADD_BLOCK: usize = 1024;

/// Add (Sub with `subtract`) with each input's term ([`super::reference::add_term`]) read
/// from a table of all 256 values, the terms combined as the reference combines them
/// (saturated to `i32`), and the output rescale, zero point and clamp run by the kernels'
/// vector output stage, whose tests hold it equal to `OutputStage::apply`, the reference's own
/// rescale: the same bytes as [`super::reference::add`]. Terms within half of `i32`'s range
/// go to `aiop_kernels::requantize_term_sums` (lookups and stage in one pass, the second table
/// negated for Sub); others are combined here in `i64` and saturated first.
#[allow(clippy::too_many_arguments)]
pub fn add(
    path: aiop_kernels::KernelPath,
    rounding: aiop_kernels::Rounding,
    subtract: bool,
    p: &super::reference::Binary,
    scales: super::reference::AddScales,
    lhs: &[i8],
    rhs: &[i8],
    out: &mut [i8],
) -> Result<(), KernelError> {
    use super::reference::add_term;
    if out.len() < TABLE_FROM {
        super::reference::add(rounding, subtract, p, scales, lhs, rhs, out);
        return Ok(());
    }
    let term = |zero_point, scale| -> [i64; 256] {
        core::array::from_fn(|i| add_term(rounding, i as u8 as i8, zero_point, scales.left_shift, scale))
    };
    let (lhs_terms, rhs_terms) = (term(p.lhs_zero_point, scales.lhs_scale), term(p.rhs_zero_point, scales.rhs_scale));
    let stage = OutputStage {
        multiplier: &[scales.output_scale.multiplier],
        shift: &[scales.output_scale.shift],
        output_zero_point: p.output_zero_point,
        clamp_min: p.clamp.min,
        clamp_max: p.clamp.max,
        rounding,
    };
    // Terms of at most half of `i32::MAX` (every real model's: a byte's difference from the
    // zero point, shifted left 20 and scaled by less than one) combine in `i32` without the
    // saturation ever acting, so the tables can be `i32` and the sums plain adds (a negated
    // term fits as well).
    let half = |t: &[i64; 256]| t.iter().all(|&v| v.unsigned_abs() <= u64::from(i32::MAX as u32 / 2));
    if half(&lhs_terms) && half(&rhs_terms) {
        let sign = if subtract { -1 } else { 1 };
        let narrow = |t: &[i64; 256], sign: i64| -> [i32; 256] { core::array::from_fn(|i| (sign * t[i]) as i32) };
        return aiop_kernels::requantize_term_sums(
            path,
            &narrow(&lhs_terms, 1),
            &narrow(&rhs_terms, sign),
            lhs,
            rhs,
            &stage,
            out,
        );
    }
    let mut combined = [0i32; ADD_BLOCK];
    for ((o, a), b) in out.chunks_mut(ADD_BLOCK).zip(lhs.chunks(ADD_BLOCK)).zip(rhs.chunks(ADD_BLOCK)) {
        let len = o.len();
        for ((c, &a), &b) in combined.iter_mut().zip(a).zip(b) {
            let (a, b) = (lhs_terms[usize::from(a as u8)], rhs_terms[usize::from(b as u8)]);
            *c = super::reference::saturate_i32(if subtract { a - b } else { a + b });
        }
        aiop_kernels::requantize_uniform(path, &combined[..len], &stage, o)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::reference;
    use aiop_kernels::{KernelPath, WindowGeometry};
    use alloc::vec::Vec;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn bytes(&mut self, len: usize, extreme: bool) -> Vec<i8> {
            (0..len)
                .map(|_| {
                    let v = self.next();
                    if extreme { [i8::MIN, i8::MAX][(v & 1) as usize] } else { (v >> 24) as i8 }
                })
                .collect()
        }
    }

    /// A window of height 1: one input and output row, one kernel row, stride, dilation and
    /// depth multiplier 1; the caller fills in the width, channels and padding.
    fn one_row() -> WindowGeometry {
        WindowGeometry {
            in_h: 1,
            out_h: 1,
            kernel_h: 1,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            depth_multiplier: 1,
            ..WindowGeometry::default()
        }
    }

    /// Single rows (and a few short images) under wide windows, SAME-like and valid padding,
    /// strides 1..=4, channel counts 1..=40: the sliding forms against the reference.
    #[test]
    fn wide_pooling_windows_equal_the_reference() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut slid = 0;
        for case in 0..600 {
            let in_h = 1 + rng.below(3) * usize::from(case % 3 == 0);
            let in_w = 1 + rng.below(400);
            let c = 1 + rng.below(40);
            let kw = 1 + rng.below(in_w + 20);
            let kh = 1 + rng.below(in_h);
            let sw = 1 + rng.below(4);
            let pl = [0, kw / 2, kw - 1][rng.below(3)];
            let out_w = (in_w + pl).div_ceil(sw).max(1);
            let g = Geometry {
                out_len: in_h * out_w * c,
                window: WindowGeometry {
                    in_h,
                    in_w,
                    in_c: c,
                    out_h: in_h,
                    out_w,
                    kernel_h: kh,
                    kernel_w: kw,
                    stride_w: sw,
                    pad_top: kh / 2,
                    pad_left: pl,
                    ..one_row()
                },
                ..Geometry::default()
            };
            slid += usize::from(sliding(&g));
            let input = rng.bytes(in_h * in_w * c, case % 5 == 0);
            let lo = rng.below(256) as i32 - 128;
            let clamp = crate::model::Clamp { min: lo as i8, max: (lo + rng.below(256) as i32).min(127) as i8 };
            let (mut want, mut got) = (vec![0i8; g.out_len], vec![0i8; g.out_len]);
            reference::max_pool2d(&g, &input, clamp, &mut want);
            max_pool2d(&g, &input, clamp, &mut got);
            assert_eq!(got, want, "max pool {g:?}");
            reference::average_pool2d(&g, &input, clamp, &mut want);
            average_pool2d(&g, &input, clamp, &mut got);
            assert_eq!(got, want, "average pool {g:?}");
        }
        assert!(slid > 200, "only {slid} cases took the sliding forms");
    }

    /// Conv2D with wide single-row kernels (im2col's contiguous runs, clipped on either side),
    /// dilations 1 to 4 (the dilated gather clipped on either side, padding not a multiple of
    /// the dilation), channel counts 1..=40, both roundings, on every path.
    #[test]
    fn wide_conv_kernels_equal_the_reference() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for case in 0..300 {
            let in_w = 1 + rng.below(120);
            let in_c = 1 + rng.below(if case % 2 == 0 { 4 } else { 40 });
            let cols = 1 + rng.below(12);
            let kw = 1 + rng.below(in_w + 8);
            let dw = if case % 4 == 3 { 2 + rng.below(3) } else { 1 };
            let sw = 1 + rng.below(3);
            let pl = [0, kw / 2 * dw, (kw - 1) * dw, rng.below(kw * dw)][rng.below(4)];
            let out_w = (in_w + 2 * pl).saturating_sub(dw * (kw - 1) + 1) / sw + 1;
            let depth = kw * in_c;
            let g = Geometry {
                rows: out_w,
                depth,
                cols,
                out_len: out_w * cols,
                window: WindowGeometry {
                    in_w,
                    in_c,
                    out_w,
                    kernel_w: kw,
                    stride_w: sw,
                    dilation_w: dw,
                    pad_left: pl,
                    ..one_row()
                },
            };
            let input = rng.bytes(in_w * in_c, false);
            let weights: Vec<i8> = rng.bytes(cols * depth, false).into_iter().map(|v| v.max(-127)).collect();
            let bias: Vec<i32> = (0..cols).map(|_| rng.below(1 << 16) as i32 - (1 << 15)).collect();
            let multiplier: Vec<i32> = (0..cols).map(|_| (1 << 30) + rng.below(1 << 30) as i32).collect();
            let shift: Vec<i8> = (0..cols).map(|_| -(rng.below(20) as i8)).collect();
            let zp = rng.below(256) as i32 - 128;
            for rounding in [aiop_kernels::Rounding::Single, aiop_kernels::Rounding::Double] {
                let stage = OutputStage {
                    multiplier: &multiplier,
                    shift: &shift,
                    output_zero_point: 3,
                    clamp_min: -128,
                    clamp_max: 127,
                    rounding,
                };
                let mut want = vec![0i8; g.out_len];
                aiop_kernels::reference::conv2d(&g.window, cols, &input, zp, &weights, Some(&bias), &stage, &mut want);
                for path in KernelPath::available() {
                    let packed = PackedMatrix::pack(path, &weights, cols, depth).unwrap();
                    let mut got = vec![0i8; g.out_len];
                    conv2d(&g, &packed, &input, zp, Some(&bias), &stage, &mut got).unwrap();
                    assert_eq!(got, want, "{path} {rounding:?} {g:?}");
                }
            }
        }
    }

    type ElementwiseOp<'a> = dyn Fn(&[i8], &mut [i8]) + 'a;

    fn scale(rng: &mut Rng) -> crate::model::Scale {
        crate::model::Scale::new((rng.next() >> 33) as i32, -(rng.below(40) as i8) + 8)
    }

    /// Every elementwise op through its table, at lengths around the table's threshold and
    /// with random zero points and scales, equals the op's reference, under both roundings.
    #[test]
    fn elementwise_tables_equal_the_reference() {
        use aiop_kernels::Rounding;
        let mut rng = Rng(0x0dd5_eed5_0f7a_b1e5);
        for case in 0..400 {
            let len = [1, 255, TABLE_FROM - 1, TABLE_FROM, 3000][case % 5];
            let input = rng.bytes(len, case % 7 == 0);
            let rounding = [Rounding::Single, Rounding::Double][case % 2];
            let (zp_in, zp_out) = (rng.below(256) as i32 - 128, rng.below(256) as i32 - 128);
            let (s1, s2) = (scale(&mut rng), scale(&mut rng));
            let radius = 1 + rng.below(200) as i32;
            let hard_swish_params = reference::HardSwishParams {
                input_zero_point: zp_in,
                output_zero_point: zp_out,
                reluish_multiplier: rng.below(32768) as i16,
                reluish_exponent: rng.below(31) as i8 - 15,
                output_multiplier: rng.below(32768) as i16,
                output_exponent: -(rng.below(16) as i8),
            };
            let leaky = reference::LeakyReluScales { identity: s1, alpha: s2, alpha_negative: case % 3 == 0 };
            let ops: [(&str, &ElementwiseOp); 5] = [
                ("requantize", &|x, o| reference::requantize(rounding, s1, zp_in, zp_out, x, o)),
                ("leaky_relu", &|x, o| reference::leaky_relu(rounding, leaky, zp_in, zp_out, x, o)),
                ("hard_swish", &|x, o| reference::hard_swish(&hard_swish_params, x, o)),
                ("logistic", &|x, o| reference::logistic(rounding, zp_in, s1, radius, x, o)),
                ("tanh", &|x, o| reference::tanh(rounding, zp_in, s1, radius, x, o)),
            ];
            for (name, op) in ops {
                let mut want = vec![0i8; len];
                op(&input, &mut want);
                let mut got = vec![0i8; len];
                unary_through_table(&input, &mut got, op);
                assert_eq!(got, want, "{name}, case {case}, {len} elements");
            }
            let mut want = vec![0i8; len];
            reference::hard_swish(&hard_swish_params, &input, &mut want);
            let mut got = vec![0i8; len];
            hard_swish(&hard_swish_params, &input, &mut got);
            assert_eq!(got, want, "hard_swish's own table, case {case}, {len} elements");
        }
    }

    /// HardSwish's branch-free evaluation equals the reference on all 256 inputs, over random
    /// parameters and the ends of every range.
    #[test]
    fn hard_swish_fixed_point_equals_the_reference() {
        let every_value: [i8; 256] = core::array::from_fn(|i| i as u8 as i8);
        let mut rng = Rng(0x4a4d_5717_c400_0001);
        let multiplier = |rng: &mut Rng| [0, 1, 16_384, 32_766, 32_767, rng.below(32_768) as i16][rng.below(6)];
        for case in 0..20_000 {
            let p = reference::HardSwishParams {
                input_zero_point: [-128, 127, rng.below(256) as i32 - 128][case % 3],
                output_zero_point: [-128, 127, rng.below(256) as i32 - 128][(case / 3) % 3],
                reluish_multiplier: multiplier(&mut rng),
                reluish_exponent: rng.below(31) as i8 - 15,
                output_multiplier: multiplier(&mut rng),
                output_exponent: -(rng.below(16) as i8),
            };
            let mut want = [0i8; 256];
            reference::hard_swish(&p, &every_value, &mut want);
            let fixed_point = HardSwishFixedPoint::new(&p);
            assert_eq!(every_value.map(|x| fixed_point.value(x)), want, "{p:?}");
        }
    }

    /// Add and Sub through the term tables and the vector output stage equal the reference
    /// on every path, at lengths around the threshold and the block size.
    #[test]
    fn add_through_tables_equals_the_reference() {
        use aiop_kernels::Rounding;
        let mut rng = Rng(0xadd0_0000_5ab0_0001);
        let mut ran = Vec::new();
        for path in KernelPath::available() {
            ran.push(path.name());
            for case in 0..300 {
                let len = [TABLE_FROM - 1, TABLE_FROM, ADD_BLOCK + 17, 3 * ADD_BLOCK][case % 4];
                let (lhs, rhs) = (rng.bytes(len, case % 5 == 0), rng.bytes(len, case % 5 == 1));
                let rounding = [Rounding::Single, Rounding::Double][case % 2];
                let lo = rng.below(200) as i32 - 128;
                let p = reference::Binary {
                    lhs_zero_point: rng.below(256) as i32 - 128,
                    rhs_zero_point: rng.below(256) as i32 - 128,
                    output_zero_point: rng.below(256) as i32 - 128,
                    clamp: crate::model::Clamp {
                        min: lo as i8,
                        max: (lo + rng.below((128 - lo) as usize) as i32) as i8,
                    },
                };
                let scales = reference::AddScales {
                    left_shift: rng.below(24) as u8,
                    lhs_scale: scale(&mut rng),
                    rhs_scale: scale(&mut rng),
                    output_scale: scale(&mut rng),
                };
                let subtract = case % 3 == 0;
                let mut want = vec![0i8; len];
                reference::add(rounding, subtract, &p, scales, &lhs, &rhs, &mut want);
                let mut got = vec![0i8; len];
                add(path, rounding, subtract, &p, scales, &lhs, &rhs, &mut got).expect("lengths match");
                assert_eq!(got, want, "path {}, case {case}", path.name());
            }
        }
        std::eprintln!("add_through_tables_equals_the_reference: kernel paths run on this CPU: {ran:?}");
    }
}
