//! AVX-512 VNNI kernels: `vpdpbusd` matrix products, a depthwise convolution, and a 64-bit
//! vector requantization, each the exact twin of its scalar reference.
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes. Activations are made unsigned by
//! `x ^ 0x80`, which is `x + 128`; the extra `128 * row_sum[n]` is subtracted together with the
//! zero-point correction in one per-column constant. The non-saturating form wraps, and so
//! does the reference, so the results agree bit for bit.
//!
//! Must never: run on a CPU without avx512f + avx512bw + avx512vnni (callers check), read
//! outside the slices it is given (every pointer offset below is bounded by a length the
//! caller checked), or use the saturating `vpdpbusds`.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use alloc::vec;
use alloc::vec::Vec;

use super::{StageVectors, round_up};
use crate::{DepthwiseGeometry, KernelError, OutputStage, Rounding};

/// Columns per packed panel: four zmm registers of 16 `i32` accumulators.
const PANEL: usize = 64;
/// Rows of the left-hand side computed together (4 x 4 = 16 accumulators).
const MR: usize = 4;

/// Packed size and reduction depth: `(round_up(n, 16) * round_up(k, 4), round_up(k, 4))` for
/// panels, `(n * round_up(k, 64), round_up(k, 64))` for the dot layout.
pub(crate) fn packed_dims(n: usize, k: usize) -> Option<(usize, usize)> {
    if use_dot(n, k) {
        let kp = round_up(k, 64)?;
        return Some((n.checked_mul(kp)?, kp));
    }
    let kp = round_up(k, 4)?;
    let np = round_up(n, 16)?;
    Some((np.checked_mul(kp)?, kp))
}

/// Narrow, deep matrices (at most 8 columns) use the dot layout: padding them to a 16-column
/// panel would stream at least twice the weight bytes. Each column is then its own row of
/// `k` bytes (padded to 64) and one output is a horizontal sum of `vpdpbusd` lanes.
fn use_dot(n: usize, k: usize) -> bool {
    n <= 8 && k >= 128
}

/// Lays out row-major `n x k` weights in panels of 64 columns (the last one 16, 32 or 48
/// wide); within a panel, for each group of four `k`, the four bytes of each column side by
/// side, which is the operand order of `vpdpbusd`. Padding is zero and adds nothing.
pub(crate) fn pack(weights: &[i8], n: usize, k: usize) -> Option<Vec<i8>> {
    let (size, kp) = packed_dims(n, k)?;
    if use_dot(n, k) {
        let mut out = vec![0i8; size];
        for (dst, src) in out.chunks_exact_mut(kp).zip(weights.chunks_exact(k)) {
            dst[..k].copy_from_slice(src);
        }
        return Some(out);
    }
    let mut out = vec![0i8; size];
    super::pack_panels::<4>(weights, n, k, kp, PANEL, &mut out);
    Some(out)
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
    let np = round_up(n, 16).ok_or(overflow.clone())?;
    // Activations as unsigned bytes x + 128, rows padded to a multiple of 4 (padding meets
    // zero weights).
    let mut xs = vec![0u8; m.checked_mul(kp).ok_or(overflow)?];
    if k > 0 {
        for (dst, src) in xs.chunks_exact_mut(kp).zip(lhs.chunks_exact(k)) {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = (s as u8) ^ 0x80;
            }
        }
    }
    if use_dot(n, k) {
        // SAFETY: as below; the dot layout holds `n * kp` bytes (checked above) and `xs`
        // `m * kp`.
        unsafe { dot(packed, &xs, m, n, kp, row_sums, bias, lhs_zero_point.wrapping_add(128), stage, out) };
        return Ok(());
    }
    let sv = StageVectors::new(n, np, Some(row_sums), bias, lhs_zero_point.wrapping_add(128), stage);
    // SAFETY: this path is only reachable for a PackedMatrix packed for Avx512, which
    // `PackedMatrix::pack` refuses unless the CPU has avx512f, avx512bw and avx512vnni;
    // `packed` holds `size` bytes (checked above), `xs` `m * kp`, `out` `m * n` (checked by
    // the caller), and `sv` was built for `stage` with `np` entries.
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
/// The CPU must have avx512f, avx512bw and avx512vnni. `packed` must hold the panel layout
/// of [`pack`] (`np * kp` bytes), `xs` `m * kp` bytes, `out` `m * n` bytes; `sv` must be
/// built from `stage` with `np` entries, and `DOUBLE` must be
/// `stage.rounding == Rounding::Double`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn gemm<const DOUBLE: bool>(
    packed: &[i8],
    xs: &[u8],
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
        // SAFETY (all tile calls): `panel` holds `w * kp` bytes, `xs` holds `m * kp`, rows
        // `r..r + MR` (or `r`) are below `m`, and `out` holds `m * n` (checked by the caller);
        // the CPU features are those of this function.
        unsafe {
            while r + MR <= m {
                match w / 16 {
                    1 => tile::<MR, 1, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                    2 => tile::<MR, 2, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                    3 => tile::<MR, 3, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                    _ => tile::<MR, 4, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                }
                r += MR;
            }
            while r < m {
                match w / 16 {
                    1 => row::<1, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                    2 => row::<2, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                    3 => row::<3, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                    _ => row::<4, DOUBLE>(panel, xs, r, kp, c0, n, sv, stage, out),
                }
                r += 1;
            }
        }
        c0 += w;
    }
}

/// `R` rows by `Z * 16` columns of output, accumulated over the whole depth in registers.
///
/// # Safety
/// The CPU must have avx512f, avx512bw and avx512vnni. `panel` must hold `Z * 16 * kp`
/// bytes, `xs` rows `r0..r0 + R` of `kp` bytes, `out` `(r0 + R) * n` bytes; `sv` must be
/// built from `stage` with at least `c0 + Z * 16` entries, and `DOUBLE` must be
/// `stage.rounding == Rounding::Double`.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile<const R: usize, const Z: usize, const DOUBLE: bool>(
    panel: &[i8],
    xs: &[u8],
    r0: usize,
    kp: usize,
    c0: usize,
    n: usize,
    sv: &StageVectors,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let mut acc = [[_mm512_setzero_si512(); Z]; R];
    let wp = panel.as_ptr();
    let xp = xs.as_ptr();
    for g in 0..kp / 4 {
        let mut w = [_mm512_setzero_si512(); Z];
        for (z, wz) in w.iter_mut().enumerate() {
            // SAFETY: the panel is `Z * 16` columns by `kp` bytes; group `g < kp / 4` spans
            // bytes `g * Z * 64 .. (g + 1) * Z * 64`, inside it.
            *wz = unsafe { _mm512_loadu_si512(wp.add(g * Z * 64 + z * 64).cast()) };
        }
        for (i, acc_row) in acc.iter_mut().enumerate() {
            // SAFETY: row `r0 + i < m` of `xs` has `kp` bytes and `g * 4 + 4 <= kp`.
            let x4 = unsafe { xp.add((r0 + i) * kp + g * 4).cast::<i32>().read_unaligned() };
            let x = _mm512_set1_epi32(x4);
            for (a, &wz) in acc_row.iter_mut().zip(&w) {
                *a = _mm512_dpbusd_epi32(*a, x, wz);
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        for (z, &a) in acc_row.iter().enumerate() {
            let col = c0 + z * 16;
            if col >= n {
                continue;
            }
            // SAFETY: the stage vectors are padded to a multiple of 16 columns >= col + 16.
            let bytes = unsafe {
                let fix = _mm512_loadu_si512(sv.fix.as_ptr().add(col).cast());
                requant16::<DOUBLE>(_mm512_add_epi32(a, fix), sv, col, stage)
            };
            store16(bytes, &mut out[(r0 + i) * n + col..(r0 + i + 1) * n]);
        }
    }
}

/// One row (the matrix-vector case) by `Z * 16` columns. With a single row, each column's
/// accumulator would be one chain of dependent `vpdpbusd` (latency ~4 cycles each), so the
/// depth is split over four independent accumulator sets, added at the end (wrapping `i32`
/// addition is associative, so the sum is the same).
///
/// # Safety
/// As [`tile`] with `R = 1`.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn row<const Z: usize, const DOUBLE: bool>(
    panel: &[i8],
    xs: &[u8],
    r0: usize,
    kp: usize,
    c0: usize,
    n: usize,
    sv: &StageVectors,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    const U: usize = 4;
    let mut acc = [[_mm512_setzero_si512(); Z]; U];
    let wp = panel.as_ptr();
    let xp = xs.as_ptr();
    let groups = kp / 4;
    let mut g = 0;
    while g + U <= groups {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            // SAFETY: row `r0 < m` of `xs` has `kp` bytes and `(g + u) * 4 + 4 <= kp`.
            let x = _mm512_set1_epi32(unsafe { xp.add(r0 * kp + (g + u) * 4).cast::<i32>().read_unaligned() });
            for (z, a) in acc_u.iter_mut().enumerate() {
                // SAFETY: group `g + u < kp / 4` of the `Z * 16`-column panel is in bounds.
                let w = unsafe { _mm512_loadu_si512(wp.add((g + u) * Z * 64 + z * 64).cast()) };
                *a = _mm512_dpbusd_epi32(*a, x, w);
            }
        }
        g += U;
    }
    while g < groups {
        // SAFETY: as above, for the last `groups % U` groups.
        let x = _mm512_set1_epi32(unsafe { xp.add(r0 * kp + g * 4).cast::<i32>().read_unaligned() });
        for (z, a) in acc[0].iter_mut().enumerate() {
            // SAFETY: as above.
            let w = unsafe { _mm512_loadu_si512(wp.add(g * Z * 64 + z * 64).cast()) };
            *a = _mm512_dpbusd_epi32(*a, x, w);
        }
        g += 1;
    }
    // Indexing four accumulator sets by column is clearer than zipping four iterators.
    #[allow(clippy::needless_range_loop)]
    for z in 0..Z {
        let col = c0 + z * 16;
        if col >= n {
            continue;
        }
        let sum = _mm512_add_epi32(_mm512_add_epi32(acc[0][z], acc[1][z]), _mm512_add_epi32(acc[2][z], acc[3][z]));
        // SAFETY: the stage vectors are padded to a multiple of 16 columns >= col + 16.
        let bytes = unsafe {
            let fix = _mm512_loadu_si512(sv.fix.as_ptr().add(col).cast());
            requant16::<DOUBLE>(_mm512_add_epi32(sum, fix), sv, col, stage)
        };
        store16(bytes, &mut out[r0 * n + col..(r0 + 1) * n]);
    }
}

/// The dot layout: each output is `sum(xs_row * w_col)` over 64-byte chunks, in four
/// independent accumulators, then a horizontal (wrapping) sum, the per-column constant and
/// the scalar output stage (at most 8 columns per row, so the stage is not the cost).
///
/// # Safety
/// The CPU must have avx512f, avx512bw and avx512vnni. `packed` must hold `n * kp` bytes,
/// `xs` `m * kp`, `out` `m * n`, `row_sums` and `stage` `n` channels (and `bias` if given);
/// `kp` must be a multiple of 64.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dot(
    packed: &[i8],
    xs: &[u8],
    m: usize,
    n: usize,
    kp: usize,
    row_sums: &[i32],
    bias: Option<&[i32]>,
    lhs_offset: i32,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let chunks = kp / 64;
    for r in 0..m {
        let xp = xs[r * kp..(r + 1) * kp].as_ptr();
        for c in 0..n {
            let wp = packed[c * kp..(c + 1) * kp].as_ptr();
            let mut acc = [_mm512_setzero_si512(); 4];
            let mut i = 0;
            while i < chunks {
                let a = &mut acc[i % 4];
                // SAFETY: chunk `i < kp / 64` of a `kp`-byte row is in bounds for both rows.
                let (x, w) =
                    unsafe { (_mm512_loadu_si512(xp.add(i * 64).cast()), _mm512_loadu_si512(wp.add(i * 64).cast())) };
                *a = _mm512_dpbusd_epi32(*a, x, w);
                i += 1;
            }
            let sum = _mm512_add_epi32(_mm512_add_epi32(acc[0], acc[1]), _mm512_add_epi32(acc[2], acc[3]));
            let fix = bias.map_or(0, |b| b[c]).wrapping_sub(lhs_offset.wrapping_mul(row_sums[c]));
            out[r * n + c] = stage.apply(_mm512_reduce_add_epi32(sum).wrapping_add(fix), c);
        }
    }
}

/// Stores up to 16 bytes of `bytes` into `dst` (fewer at the right edge of a matrix).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn store16(bytes: __m128i, dst: &mut [i8]) {
    if dst.len() >= 16 {
        // SAFETY: `dst` has at least 16 bytes.
        unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), bytes) };
    } else {
        let mut tmp = [0i8; 16];
        // SAFETY: `tmp` is 16 bytes.
        unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes) };
        let len = dst.len();
        dst.copy_from_slice(&tmp[..len]);
    }
}

/// `OutputStage::apply` on 16 accumulators of channels `col..col + 16`. For double
/// rounding, the wrapping `i32` left shift is done here, in 32-bit lanes, before widening
/// (`vpsllvd` counts are `0..=30`).
///
/// # Safety
/// The CPU must have avx512f, avx512bw and avx512vnni. `sv` must be built from `stage` and
/// hold at least `col + 16` entries per vector, and `DOUBLE` must be
/// `stage.rounding == Rounding::Double` (so that `sv.left` and `sv.neg` are filled).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn requant16<const DOUBLE: bool>(
    acc: __m512i,
    sv: &StageVectors,
    col: usize,
    stage: &OutputStage<'_>,
) -> __m128i {
    let acc = if DOUBLE {
        // SAFETY: `sv.left` holds at least `col + 16` entries (forwarded from the caller).
        _mm512_sllv_epi32(acc, unsafe { _mm512_loadu_si512(sv.left.as_ptr().add(col).cast()) })
    } else {
        acc
    };
    let lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc));
    let hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(acc));
    // SAFETY: forwarded from the caller.
    let (a, b) = unsafe { (requant8::<DOUBLE>(lo, sv, col, stage), requant8::<DOUBLE>(hi, sv, col + 8, stage)) };
    _mm_unpacklo_epi64(_mm512_cvtepi64_epi8(a), _mm512_cvtepi64_epi8(b))
}

/// Eight lanes of `requantize` (or, with `DOUBLE`, `requantize_double`), then zero point
/// and clamp, in 64-bit lanes: the product `x * multiplier` is exact (`_mm512_mul_epi32`
/// multiplies the sign-extended low halves), the rounding add cannot overflow
/// (|x * M| < 2^62, round <= 2^61 + 2^30), `vpsravq` is the arithmetic shift of the
/// reference, and the two clamps are the reference's two clamps. Double rounding subtracts
/// `sv.neg` where the product is below `-2^30` (see [`StageVectors`]) and needs no `i32`
/// clamp: its result is always in range.
///
/// # Safety
/// The CPU must have avx512f, avx512bw and avx512vnni. `sv` must be built from `stage` and
/// hold at least `col + 8` entries per vector, and `DOUBLE` must be
/// `stage.rounding == Rounding::Double`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn requant8<const DOUBLE: bool>(x: __m512i, sv: &StageVectors, col: usize, stage: &OutputStage<'_>) -> __m512i {
    // SAFETY: forwarded from the caller.
    let (m, s, r) = unsafe {
        (
            _mm512_loadu_si512(sv.mult.as_ptr().add(col).cast()),
            _mm512_loadu_si512(sv.shr.as_ptr().add(col).cast()),
            _mm512_loadu_si512(sv.round.as_ptr().add(col).cast()),
        )
    };
    let p = _mm512_mul_epi32(x, m);
    let t = _mm512_add_epi64(p, r);
    let y = if DOUBLE {
        // SAFETY: `sv.neg` holds at least `col + 8` entries (forwarded from the caller).
        let neg = unsafe { _mm512_loadu_si512(sv.neg.as_ptr().add(col).cast()) };
        let below = _mm512_cmplt_epi64_mask(p, _mm512_set1_epi64(-(1i64 << 30)));
        _mm512_srav_epi64(_mm512_mask_sub_epi64(t, below, t, neg), s)
    } else {
        let y = _mm512_srav_epi64(t, s);
        _mm512_min_epi64(
            _mm512_max_epi64(y, _mm512_set1_epi64(i64::from(i32::MIN))),
            _mm512_set1_epi64(i64::from(i32::MAX)),
        )
    };
    let y = _mm512_add_epi64(y, _mm512_set1_epi64(i64::from(stage.output_zero_point)));
    _mm512_min_epi64(
        _mm512_max_epi64(y, _mm512_set1_epi64(i64::from(stage.clamp_min))),
        _mm512_set1_epi64(i64::from(stage.clamp_max)),
    )
}

/// Applies the output stage to `acc` (one accumulator per channel), writing `out`.
/// Lengths were checked by the caller.
pub(crate) fn requantize_channels(acc: &[i32], stage: &OutputStage<'_>, out: &mut [i8]) {
    let n = acc.len();
    let np = (n / 16) * 16;
    let sv = StageVectors::new(n, np, None, None, 0, stage);
    // SAFETY: only reached through KernelPath::Avx512, which callers check is available; `sv`
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

/// The output stage on channels `0..np`, 16 at a time.
///
/// # Safety
/// The CPU must have avx512f, avx512bw and avx512vnni. `np` must be a multiple of 16 and at
/// most `acc.len()` and `out.len()`; `sv` must be built from `stage` with `np` entries, and
/// `DOUBLE` must be `stage.rounding == Rounding::Double`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn requantize_run<const DOUBLE: bool>(
    acc: &[i32],
    np: usize,
    sv: &StageVectors,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for c in (0..np).step_by(16) {
        // SAFETY: `c + 16 <= np <= acc.len()`, and `sv` has `np` entries.
        let bytes = unsafe { requant16::<DOUBLE>(_mm512_loadu_si512(acc.as_ptr().add(c).cast()), sv, c, stage) };
        store16(bytes, &mut out[c..c + 16]);
    }
}

/// Channel counts below this run the scalar depthwise kernel (see [`depthwise`]).
const SCALAR_DEPTHWISE_BELOW: usize = 3;

/// Depthwise convolution with depth multiplier 1 on `input` (`in_h x in_w x cols`); the
/// caller expands other multipliers. 16 channels per vector; the remainder channels use the
/// scalar formula. Lengths were checked by the caller.
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
    // Stage vectors padded to whole vectors; the last, partial block of channels is read
    // with masked loads (masked-off bytes are not accessed) and stored partially.
    if cols < SCALAR_DEPTHWISE_BELOW {
        // A vector of 16 lanes with one to three in use loses to the scalar range kernel.
        return crate::depthwise::scalar_channels(g, cols, 0..cols, input, input_zero_point, weights, bias, stage, out);
    }
    let Some(np) = round_up(cols, 16) else { return };
    let sv = StageVectors::new(cols, np, None, bias, 0, stage);
    // SAFETY: only reached through KernelPath::Avx512, which callers check is available; the
    // buffer lengths were checked by the caller and `sv` was built from `stage` with
    // `round_up(cols, 16)` entries.
    unsafe {
        match stage.rounding {
            Rounding::Single => depthwise_run::<false>(g, cols, input, input_zero_point, weights, &sv, stage, out),
            Rounding::Double => depthwise_run::<true>(g, cols, input, input_zero_point, weights, &sv, stage, out),
        }
    };
}

/// Every output pixel, 16 channels at a time (the last block masked).
///
/// # Safety
/// The CPU must have avx512f, avx512bw and avx512vnni. `input` (`in_h x in_w x cols`),
/// `weights` (`kernel_h x kernel_w x cols`) and `out` (`out_h x out_w x cols`) must have the
/// lengths `g` and `cols` give; `sv` must be built from `stage` with `round_up(cols, 16)`
/// entries, and `DOUBLE` must be `stage.rounding == Rounding::Double`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn depthwise_run<const DOUBLE: bool>(
    g: &DepthwiseGeometry,
    cols: usize,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    sv: &StageVectors,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let zp = _mm512_set1_epi32(input_zero_point);
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
            for c in (0..cols).step_by(16) {
                let lanes = (cols - c).min(16);
                let mask: __mmask64 = (1u64 << lanes) - 1;
                // SAFETY: the stage vectors are padded to a multiple of 16 >= c + 16.
                let mut acc = unsafe { _mm512_loadu_si512(sv.fix.as_ptr().add(c).cast()) };
                for &(xo, wo) in &taps {
                    // SAFETY: `xo` / `wo` start an in-image input pixel / a kernel tap (built
                    // above from `iy < in_h`, `ix < in_w`), each `cols` long; the mask enables
                    // only bytes `c..c + lanes` with `c + lanes <= cols`, and masked-off bytes
                    // are not accessed.
                    // Full blocks use plain 16-byte loads (measured faster than masked ones).
                    let (x, w) = unsafe {
                        let (xp, wp) = (input.as_ptr().add(xo + c), weights.as_ptr().add(wo + c));
                        if lanes == 16 {
                            (_mm_loadu_si128(xp.cast()), _mm_loadu_si128(wp.cast()))
                        } else {
                            (
                                _mm512_castsi512_si128(_mm512_maskz_loadu_epi8(mask, xp.cast())),
                                _mm512_castsi512_si128(_mm512_maskz_loadu_epi8(mask, wp.cast())),
                            )
                        }
                    };
                    let x = _mm512_cvtepi8_epi32(x);
                    let w = _mm512_cvtepi8_epi32(w);
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(w, _mm512_sub_epi32(x, zp)));
                }
                // SAFETY: the stage vectors are padded to a multiple of 16 >= c + 16.
                let bytes = unsafe { requant16::<DOUBLE>(acc, sv, c, stage) };
                store16(bytes, &mut out[pixel + c..pixel + c + lanes]);
            }
        }
    }
}
