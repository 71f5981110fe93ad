//! AVX2 kernels: exact `i8 x i8` products by sign-extending both sides to `i16` and
//! `vpmaddwd` (pairs of `i16` products summed into `i32`, which cannot overflow:
//! `2 * 128 * 128 < 2^31`), and a depthwise convolution in `i32` lanes.
//!
//! Must never: use `vpmaddubsw` (it saturates to `i16`: 255 * 127 * 2 > 32767), run on a CPU
//! without AVX2 (callers check), or read outside the slices it is given.
//! The output stage is the scalar `OutputStage::apply` (AVX2 has no 64-bit arithmetic
//! shift or 64-bit min/max; the scalar stage costs `n` per row against `n * k` MACs).

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use alloc::vec;
use alloc::vec::Vec;

use super::{StageVectors, round_up};
use crate::{DepthwiseGeometry, KernelError, OutputStage};

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
    let np = size / kp.max(1);
    let mut out = vec![0i8; size];
    let mut c0 = 0;
    while c0 < np && kp > 0 {
        let w = PANEL.min(np - c0);
        let panel = &mut out[c0 * kp..(c0 + w) * kp];
        for col in c0..(c0 + w).min(n) {
            let j = col - c0;
            for (kk, &v) in weights[col * k..(col + 1) * k].iter().enumerate() {
                panel[(kk / 2) * w * 2 + j * 2 + kk % 2] = v;
            }
        }
        c0 += w;
    }
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
    // refuses unless the CPU has AVX2.
    unsafe { gemm(packed, &xs, m, n, np, kp, &sv, stage, out) };
    Ok(())
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn gemm(
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
                    1 => tile::<MR, 1>(panel, xs, r, kp, c0, n, sv, stage, out),
                    _ => tile::<MR, 2>(panel, xs, r, kp, c0, n, sv, stage, out),
                }
                r += MR;
            }
            while r < m {
                match w / 8 {
                    1 => tile::<1, 1>(panel, xs, r, kp, c0, n, sv, stage, out),
                    _ => tile::<1, 2>(panel, xs, r, kp, c0, n, sv, stage, out),
                }
                r += 1;
            }
        }
        c0 += w;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn tile<const R: usize, const Y: usize>(
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
            let mut lanes = [0i32; 8];
            // SAFETY: the stage vectors are padded to a multiple of 8 >= col + 8; `lanes` is 32 bytes.
            unsafe {
                let fix = _mm256_loadu_si256(sv.fix.as_ptr().add(col).cast());
                _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi32(a, fix));
            }
            let row = &mut out[(r0 + i) * n..(r0 + i + 1) * n];
            for (j, &v) in lanes.iter().enumerate().take(n - col) {
                row[col + j] = stage.apply(v, col + j);
            }
        }
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
    // SAFETY: only reached through KernelPath::Avx2, which callers check is available.
    unsafe { depthwise_run(g, cols, np, input, input_zero_point, weights, &sv, stage, out) };
    crate::reference::depthwise_channels(g, cols, np..cols, input, input_zero_point, weights, bias, stage, out);
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn depthwise_run(
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
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let pixel = (oy * g.out_w + ox) * cols;
            for c in (0..np).step_by(8) {
                // SAFETY: `c + 8 <= np`, and the stage vectors have `np` entries.
                let mut acc = unsafe { _mm256_loadu_si256(sv.fix.as_ptr().add(c).cast()) };
                for ky in 0..g.kernel_h {
                    let Some(iy) = g.tap_y(oy, ky) else { continue };
                    for kx in 0..g.kernel_w {
                        let Some(ix) = g.tap_x(ox, kx) else { continue };
                        let xo = (iy * g.in_w + ix) * cols + c;
                        let wo = (ky * g.kernel_w + kx) * cols + c;
                        // SAFETY: both 8-byte reads are inside the checked buffers (`iy < in_h`,
                        // `ix < in_w`, `c + 8 <= cols`).
                        let (x, w) = unsafe {
                            (
                                _mm256_cvtepi8_epi32(_mm_loadl_epi64(input.as_ptr().add(xo).cast())),
                                _mm256_cvtepi8_epi32(_mm_loadl_epi64(weights.as_ptr().add(wo).cast())),
                            )
                        };
                        acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(w, _mm256_sub_epi32(x, zp)));
                    }
                }
                let mut lanes = [0i32; 8];
                // SAFETY: `lanes` is 32 bytes.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
                for (j, &v) in lanes.iter().enumerate() {
                    out[pixel + c + j] = stage.apply(v, c + j);
                }
            }
        }
    }
}
