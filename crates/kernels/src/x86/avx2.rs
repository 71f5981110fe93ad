//! AVX2 kernels: exact `i8 x i8` products by sign-extending both sides to `i16` and
//! `vpmaddwd` (pairs of `i16` products summed into `i32`, which cannot overflow:
//! `2 * 128 * 128 < 2^31`), and a depthwise convolution in `i32` lanes.
//!
//! Must never: use `vpmaddubsw` (it saturates to `i16`: 255 * 127 * 2 > 32767), run on a CPU
//! without AVX2 (callers check), or read outside the slices it is given.
//! The output stage is vectorized in 64-bit lanes; AVX2 lacks the 64-bit arithmetic shift
//! and min/max, so they are spelled exactly with `x ^ sign`, logical shifts and compares.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use alloc::vec;
use alloc::vec::Vec;

use super::{StageVectors, round_up};
use crate::{DepthwiseGeometry, KernelError, OutputStage, Rounding};

/// Columns per packed panel: two ymm registers of 8 `i32` accumulators.
const PANEL: usize = 16;
/// Rows of the left-hand side computed together (4 x 2 = 8 accumulators).
const MR: usize = 4;

/// Packed size and reduction depth: `(round_up(n, 8) * round_up(k, 2), round_up(k, 2))`.
pub(crate) fn packed_dims(n: usize, k: usize) -> Option<(usize, usize)> {
    let kp = round_up(k, 2)?;
    let np = round_up(n, 8)?;
    Some((np.checked_mul(kp)?, kp))
}

/// Panels of 16 columns (the last may be 8); within a panel, for each pair of `k`, the two
/// bytes of each column side by side: sign-extended, that is the `i16` pair `vpmaddwd`
/// multiplies by the broadcast pair of activations.
pub(crate) fn pack(weights: &[i8], n: usize, k: usize) -> Option<Vec<i8>> {
    let (size, kp) = packed_dims(n, k)?;
    let mut out = vec![0i8; size];
    super::pack_panels::<2>(weights, n, k, kp, PANEL, &mut out);
    Some(out)
}

/// Narrow, deep matrices (at most 8 columns, depth at least 128) skip the panels: a panel
/// pads to 8 columns, so a single column would stream 8x its weights. [`dot`] reads the
/// row-major weights directly instead.
pub(crate) fn use_dot(n: usize, k: usize) -> bool {
    n <= 8 && k >= 128
}

/// `qgemm` for [`use_dot`] shapes on the row-major weights: each output is the dot product
/// of an activation row and a weight row (16 `i16` products per `vpmaddwd`, four
/// independent accumulators), plus `bias - zp * row_sum` (wrapping, the same sum modulo 2^32
/// as the reference's), through the scalar output stage (at most 8 per row). Lengths were
/// checked by [`crate::qgemm`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn dot(
    rows: &[i8],
    row_sums: &[i32],
    n: usize,
    k: usize,
    lhs: &[i8],
    m: usize,
    lhs_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for r in 0..m {
        let x = &lhs[r * k..(r + 1) * k];
        for c in 0..n {
            let w = &rows[c * k..(c + 1) * k];
            // SAFETY: only reached through KernelPath::Avx2, which callers check is
            // available; both slices are `k` long.
            let raw = unsafe { dot_row(x, w) };
            let fix = bias.map_or(0, |b| b[c]).wrapping_sub(lhs_zero_point.wrapping_mul(row_sums[c]));
            out[r * n + c] = stage.apply(raw.wrapping_add(fix), c);
        }
    }
}

/// `sum(x[i] * w[i])` in wrapping `i32`.
///
/// # Safety
/// The CPU must have AVX2, and `w` must be at least as long as `x`.
#[target_feature(enable = "avx2")]
unsafe fn dot_row(x: &[i8], w: &[i8]) -> i32 {
    let k = x.len();
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut i = 0;
    while i + 64 <= k {
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: `i + j * 16 + 16 <= k`, inside both slices.
            let (xv, wv) = unsafe {
                (
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(xp.add(i + j * 16).cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.add(i + j * 16).cast())),
                )
            };
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wv));
        }
        i += 64;
    }
    while i + 16 <= k {
        // SAFETY: `i + 16 <= k`, inside both slices.
        let (xv, wv) = unsafe {
            (
                _mm256_cvtepi8_epi16(_mm_loadu_si128(xp.add(i).cast())),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.add(i).cast())),
            )
        };
        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(xv, wv));
        i += 16;
    }
    let sum = _mm256_add_epi32(_mm256_add_epi32(acc[0], acc[1]), _mm256_add_epi32(acc[2], acc[3]));
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` is 32 bytes.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), sum) };
    let mut total = lanes.iter().fold(0i32, |s, &v| s.wrapping_add(v));
    for j in i..k {
        total = total.wrapping_add(i32::from(x[j]) * i32::from(w[j]));
    }
    total
}

/// `qgemm` on packed weights. Lengths were checked by [`crate::qgemm`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn qgemm(
    packed: &[i8],
    row_sums: &[i32],
    n: usize,
    k: usize,
    lhs: &[i8],
    m: usize,
    lhs_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    let overflow = KernelError::SizeOverflow { kernel: "qgemm" };
    let (size, kp) = packed_dims(n, k).ok_or(overflow.clone())?;
    crate::check_len("qgemm", "packed", size, packed.len())?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let np = round_up(n, 8).ok_or(overflow.clone())?;
    // Activations sign-extended to i16, rows padded to even length.
    let mut xs = vec![0i16; m.checked_mul(kp).ok_or(overflow)?];
    if k > 0 {
        for (dst, src) in xs.chunks_exact_mut(kp).zip(lhs.chunks_exact(k)) {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = i16::from(s);
            }
        }
    }
    let sv = StageVectors::new(n, np, Some(row_sums), bias, lhs_zero_point, stage);
    // SAFETY: reachable only for a PackedMatrix packed for Avx2, which `PackedMatrix::pack`
    // refuses unless the CPU has AVX2; `packed` holds `size` bytes (checked above), `xs`
    // `m * kp` values, `out` `m * n` bytes (checked by the caller), and `sv` was built for
    // `stage` with `np` entries.
    unsafe {
        match stage.rounding {
            Rounding::Single => gemm::<false>(packed, &xs, m, n, np, kp, &sv, stage, out),
            Rounding::Double => gemm::<true>(packed, &xs, m, n, np, kp, &sv, stage, out),
        }
    };
    Ok(())
}

/// All panels and rows of the product, through the output stage (`DOUBLE`: whether `stage`
/// and `sv` use [`Rounding::Double`]).
///
/// # Safety
/// The CPU must have AVX2. `packed` must hold the [`pack`] layout of an `n x kp` matrix
/// (`np * kp` bytes), `xs` `m * kp` values, `out` `m * n` bytes; `sv` must be built from
/// `stage` with `np` entries, and `DOUBLE` must be `stage.rounding == Rounding::Double`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn gemm<const DOUBLE: bool>(
    packed: &[i8],
    xs: &[i16],
    m: usize,
    n: usize,
    np: usize,
    kp: usize,
    sv: &StageVectors,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let mut c0 = 0;
    while c0 < np {
        let w = PANEL.min(np - c0);
        let panel = &packed[c0 * kp..(c0 + w) * kp];
        let mut r = 0;
        // SAFETY (all tile calls): `panel` holds `w * kp` bytes, `xs` holds `m * kp` values,
        // rows `r..r + MR` (or `r`) are below `m`; the CPU feature is this function's.
        unsafe {
            while r + MR <= m {
                match w / 8 {
                    1 => tile::<MR, 1, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                    _ => tile::<MR, 2, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                }
                r += MR;
            }
            while r < m {
                match w / 8 {
                    1 => tile::<1, 1, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                    _ => tile::<1, 2, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                }
                r += 1;
            }
        }
        c0 += w;
    }
}

/// `R` rows by `Y * 8` columns of output, accumulated over the whole depth in registers.
///
/// # Safety
/// The CPU must have AVX2. `panel` must hold `Y * 8 * kp` bytes, `xs` rows `r0..r0 + R` of
/// `kp` values, `out` `(r0 + R) * n` bytes; `sv` must be built from `stage` with at least
/// `c0 + Y * 8` entries, and `DOUBLE` must be `stage.rounding == Rounding::Double`.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn tile<const R: usize, const Y: usize, const DOUBLE: bool>(
    panel: &[i8],
    xs: &[i16],
    r0: usize,
    kp: usize,
    c0: usize,
    n: usize,
    sv: &StageVectors,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let mut acc = [[_mm256_setzero_si256(); Y]; R];
    let wp = panel.as_ptr();
    let xp = xs.as_ptr();
    for g in 0..kp / 2 {
        let mut w = [_mm256_setzero_si256(); Y];
        for (y, wy) in w.iter_mut().enumerate() {
            // SAFETY: the panel is `Y * 8` columns by `kp` bytes; pair `g < kp / 2` spans bytes
            // `g * Y * 16 .. (g + 1) * Y * 16`.
            *wy = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(wp.add(g * Y * 16 + y * 16).cast()) });
        }
        for (i, acc_row) in acc.iter_mut().enumerate() {
            // SAFETY: row `r0 + i < m` of `xs` has `kp` values and `g * 2 + 2 <= kp`.
            let x2 = unsafe { xp.add((r0 + i) * kp + g * 2).cast::<i32>().read_unaligned() };
            let x = _mm256_set1_epi32(x2);
            for (a, &wy) in acc_row.iter_mut().zip(&w) {
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(x, wy));
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        for (y, &a) in acc_row.iter().enumerate() {
            let col = c0 + y * 8;
            if col >= n {
                continue;
            }
            // SAFETY: the stage vectors are padded to a multiple of 8 >= col + 8.
            let bytes = unsafe {
                let fix = _mm256_loadu_si256(sv.fix.as_ptr().add(col).cast());
                requant8::<DOUBLE>(_mm256_add_epi32(a, fix), sv, col, stage)
            };
            store8(bytes, &mut out[(r0 + i) * n + col..(r0 + i + 1) * n]);
        }
    }
}

/// Stores up to 8 bytes (the low half of `bytes`) into `dst`.
#[inline]
#[target_feature(enable = "avx2")]
fn store8(bytes: __m128i, dst: &mut [i8]) {
    if dst.len() >= 8 {
        // SAFETY: `dst` has at least 8 bytes.
        unsafe { _mm_storel_epi64(dst.as_mut_ptr().cast(), bytes) };
    } else {
        let mut tmp = [0i8; 16];
        // SAFETY: `tmp` is 16 bytes.
        unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes) };
        let len = dst.len();
        dst.copy_from_slice(&tmp[..len]);
    }
}

/// `OutputStage::apply` on 8 accumulators of channels `col..col + 8`; the result bytes are
/// the low 8 of the returned vector. Values end in `[-128, 127]`, so the saturating packs at
/// the end change nothing. For double rounding, the wrapping `i32` left shift is done here,
/// in 32-bit lanes, before widening (`vpsllvd` counts are `0..=30`).
///
/// # Safety
/// The CPU must have AVX2. `sv` must be built from `stage` and hold at least `col + 8`
/// entries per vector, and `DOUBLE` must be `stage.rounding == Rounding::Double` (so that
/// `sv.left` and `sv.neg` are filled).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn requant8<const DOUBLE: bool>(
    acc: __m256i,
    sv: &StageVectors,
    col: usize,
    stage: &OutputStage<'_>,
) -> __m128i {
    let acc = if DOUBLE {
        // SAFETY: `sv.left` holds at least `col + 8` entries (forwarded from the caller).
        _mm256_sllv_epi32(acc, unsafe { _mm256_loadu_si256(sv.left.as_ptr().add(col).cast()) })
    } else {
        acc
    };
    let lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc));
    let hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(acc));
    // SAFETY: forwarded from the caller.
    let (a, b) = unsafe { (requant4::<DOUBLE>(lo, sv, col, stage), requant4::<DOUBLE>(hi, sv, col + 4, stage)) };
    // The low 32 bits of each 64-bit lane, in order.
    let idx = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    let a = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(a, idx));
    let b = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, idx));
    let w = _mm_packs_epi32(a, b);
    _mm_packs_epi16(w, w)
}

#[inline]
#[target_feature(enable = "avx2")]
fn min64(a: __m256i, b: __m256i) -> __m256i {
    _mm256_blendv_epi8(a, b, _mm256_cmpgt_epi64(a, b))
}

#[inline]
#[target_feature(enable = "avx2")]
fn max64(a: __m256i, b: __m256i) -> __m256i {
    _mm256_blendv_epi8(a, b, _mm256_cmpgt_epi64(b, a))
}

/// Four lanes of `requantize` (or, with `DOUBLE`, `requantize_double`), zero point and clamp,
/// in 64-bit lanes: `vpmuldq` gives the exact `x * multiplier` (of the low, sign-extended
/// 32 bits of each lane); the rounding add cannot overflow (|x * M| < 2^62,
/// round <= 2^61 + 2^30); the arithmetic shift is `sign ^ ((t ^ sign) >> s)` with a logical
/// shift (for negative `t`, `!t >> s == !(t >> s)`); min/max are compare-and-blend. Double
/// rounding subtracts `sv.neg` where the product is below `-2^30` (see [`StageVectors`]) and
/// needs no `i32` clamp: its result is always in range.
///
/// # Safety
/// The CPU must have AVX2. `sv` must be built from `stage` and hold at least `col + 4`
/// entries per vector, and `DOUBLE` must be `stage.rounding == Rounding::Double`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn requant4<const DOUBLE: bool>(x: __m256i, sv: &StageVectors, col: usize, stage: &OutputStage<'_>) -> __m256i {
    // SAFETY: forwarded from the caller.
    let (m, s, r) = unsafe {
        (
            _mm256_loadu_si256(sv.mult.as_ptr().add(col).cast()),
            _mm256_loadu_si256(sv.shr.as_ptr().add(col).cast()),
            _mm256_loadu_si256(sv.round.as_ptr().add(col).cast()),
        )
    };
    let p = _mm256_mul_epi32(x, m);
    let t = _mm256_add_epi64(p, r);
    let t = if DOUBLE {
        // SAFETY: `sv.neg` holds at least `col + 4` entries (forwarded from the caller).
        let neg = unsafe { _mm256_loadu_si256(sv.neg.as_ptr().add(col).cast()) };
        let below = _mm256_cmpgt_epi64(_mm256_set1_epi64x(-(1i64 << 30)), p);
        _mm256_sub_epi64(t, _mm256_and_si256(below, neg))
    } else {
        t
    };
    let sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), t);
    let y = _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(t, sign), s), sign);
    let y = if DOUBLE {
        y
    } else {
        max64(min64(y, _mm256_set1_epi64x(i64::from(i32::MAX))), _mm256_set1_epi64x(i64::from(i32::MIN)))
    };
    let y = _mm256_add_epi64(y, _mm256_set1_epi64x(i64::from(stage.output_zero_point)));
    min64(max64(y, _mm256_set1_epi64x(i64::from(stage.clamp_min))), _mm256_set1_epi64x(i64::from(stage.clamp_max)))
}

/// Applies the output stage to `acc` (one accumulator per channel), writing `out`.
/// Lengths were checked by the caller.
pub(crate) fn requantize_channels(acc: &[i32], stage: &OutputStage<'_>, out: &mut [i8]) {
    let n = acc.len();
    let np = (n / 8) * 8;
    let sv = StageVectors::new(n, np, None, None, 0, stage);
    // SAFETY: only reached through KernelPath::Avx2, which callers check is available; `sv`
    // was built from `stage` with `np <= acc.len() = out.len()` entries.
    unsafe {
        match stage.rounding {
            Rounding::Single => requantize_run::<false>(acc, np, &sv, stage, out),
            Rounding::Double => requantize_run::<true>(acc, np, &sv, stage, out),
        }
    };
    for c in np..n {
        out[c] = stage.apply(acc[c], c);
    }
}

/// The output stage on channels `0..np`, 8 at a time.
///
/// # Safety
/// The CPU must have AVX2. `np` must be a multiple of 8 and at most `acc.len()` and
/// `out.len()`; `sv` must be built from `stage` with `np` entries, and `DOUBLE` must be
/// `stage.rounding == Rounding::Double`.
#[target_feature(enable = "avx2")]
unsafe fn requantize_run<const DOUBLE: bool>(
    acc: &[i32],
    np: usize,
    sv: &StageVectors,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for c in (0..np).step_by(8) {
        // SAFETY: `c + 8 <= np <= acc.len()`, and `sv` has `np` entries.
        let bytes = unsafe { requant8::<DOUBLE>(_mm256_loadu_si256(acc.as_ptr().add(c).cast()), sv, c, stage) };
        store8(bytes, &mut out[c..c + 8]);
    }
}

/// Depthwise convolution with depth multiplier 1, 8 channels per vector; remainder channels
/// use the scalar formula. Lengths were checked by the caller.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise(
    g: &DepthwiseGeometry,
    cols: usize,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let np = (cols / 8) * 8;
    let sv = StageVectors::new(cols, np, None, bias, 0, stage);
    if np > 0 {
        // SAFETY: only reached through KernelPath::Avx2, which callers check is available; the
        // buffer lengths were checked by the caller and `sv` was built from `stage` with `np`
        // entries.
        unsafe {
            match stage.rounding {
                Rounding::Single => {
                    depthwise_run::<false>(g, cols, np, input, input_zero_point, weights, &sv, stage, out)
                }
                Rounding::Double => {
                    depthwise_run::<true>(g, cols, np, input, input_zero_point, weights, &sv, stage, out)
                }
            }
        };
    }
    crate::depthwise::scalar_channels(g, cols, np..cols, input, input_zero_point, weights, bias, stage, out);
}

/// Channels `0..np` of every output pixel, 8 at a time.
///
/// # Safety
/// The CPU must have AVX2. `input` (`in_h x in_w x cols`), `weights` (`kernel_h x kernel_w x
/// cols`) and `out` (`out_h x out_w x cols`) must have the lengths `g` and `cols` give;
/// `np` must be a multiple of 8 and at most `cols`; `sv` must be built from `stage` with
/// `np` entries, and `DOUBLE` must be `stage.rounding == Rounding::Double`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn depthwise_run<const DOUBLE: bool>(
    g: &DepthwiseGeometry,
    cols: usize,
    np: usize,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    sv: &StageVectors,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let zp = _mm256_set1_epi32(input_zero_point);
    let mut taps: Vec<(usize, usize)> = Vec::with_capacity(g.kernel_h.saturating_mul(g.kernel_w).min(1 << 16));
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let pixel = (oy * g.out_w + ox) * cols;
            // The in-image taps of this pixel, found once for all channel blocks.
            taps.clear();
            for ky in 0..g.kernel_h {
                let Some(iy) = g.tap_y(oy, ky) else { continue };
                for kx in 0..g.kernel_w {
                    let Some(ix) = g.tap_x(ox, kx) else { continue };
                    taps.push(((iy * g.in_w + ix) * cols, (ky * g.kernel_w + kx) * cols));
                }
            }
            for c in (0..np).step_by(8) {
                // SAFETY: `c + 8 <= np`, and the stage vectors have `np` entries.
                let mut acc = unsafe { _mm256_loadu_si256(sv.fix.as_ptr().add(c).cast()) };
                for &(xo, wo) in &taps {
                    // SAFETY: `xo` / `wo` start an in-image input pixel / a kernel tap (built
                    // above from `iy < in_h`, `ix < in_w`), each `cols` long, and
                    // `c + 8 <= cols`: both reads are inside the checked buffers.
                    let (x, w) = unsafe {
                        (
                            _mm256_cvtepi8_epi32(_mm_loadl_epi64(input.as_ptr().add(xo + c).cast())),
                            _mm256_cvtepi8_epi32(_mm_loadl_epi64(weights.as_ptr().add(wo + c).cast())),
                        )
                    };
                    acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(w, _mm256_sub_epi32(x, zp)));
                }
                // SAFETY: the stage vectors have `np >= c + 8` entries.
                let bytes = unsafe { requant8::<DOUBLE>(acc, sv, c, stage) };
                store8(bytes, &mut out[pixel + c..pixel + c + 8]);
            }
        }
    }
}
