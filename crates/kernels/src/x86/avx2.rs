//! AVX2 lanes for the [`crate::simd`] driver: exact `i8 x i8` products by sign-extending both
//! sides to `i16` and `vpmaddwd` (pairs of `i16` products summed into `i32`, which cannot
//! overflow: `2 * 128 * 128 < 2^31`), depthwise taps in `i16` pairs through the same
//! `vpmaddwd` (from rows of interleaved neighbours, padding included, where the shape admits
//! them, else for the pixels inside the image) or in `i32` lanes, and the output stage in
//! 64-bit lanes.
//!
//! Must never: use `vpmaddubsw` (it saturates to `i16`: 255 * 127 * 2 > 32767), run on a CPU
//! without AVX2 (an [`Avx2`] token exists only after [`Avx2::detect`]), or read outside the
//! pointers' documented extents. AVX2 lacks the 64-bit arithmetic shift and min/max, so they
//! are spelled exactly with `x ^ sign`, logical shifts, compares and blends.

use core::arch::x86_64::*;

use crate::OutputStage;
use crate::simd::{Isa, StageVectors, entry_points, lanes, one_intrinsic_lanes, requant_wide};

token! {
    /// Proof that this CPU has AVX2: only [`Avx2::detect`] makes one.
    Avx2: "avx2"
}

// SAFETY: the token is made only by `detect`, after the CPU check; each method computes what
// the trait documents (see the comments on each).
unsafe impl Isa for Avx2 {
    const NAME: &'static str = "avx2";
    const LANES: usize = 8;
    const GROUP: usize = 2;
    /// Two ymm registers of 8 `i32` accumulators.
    const PANEL: usize = 16;
    const MASKED_PARTIAL_LOADS: bool = false;
    const LHS_OFFSET: i32 = 0;
    const PAIRED_TAPS: bool = true;
    type V = __m256i;
    type X = i16;
    type W = __m256i;
    type Bytes = __m128i;

    fn widen(x: i8) -> i16 {
        i16::from(x)
    }

    /// Where the zero point is small, so that the clamp around it cannot overflow `i32`.
    fn double_in_i32(stage: &OutputStage<'_>) -> bool {
        crate::simd::zero_point_is_small(stage)
    }

    one_intrinsic_lanes! { "avx2";
        splat: _mm256_set1_epi32, add: _mm256_add_epi32, sub: _mm256_sub_epi32, mullo: _mm256_mullo_epi32,
        shl: _mm256_sllv_epi32, load_i32: _mm256_loadu_si256,
        splat_i64: _mm256_set1_epi64x, add_i64: _mm256_add_epi64, mul_i32: _mm256_mul_epi32,
        load_i64: _mm256_loadu_si256, store: _mm_storel_epi64,
    }

    lanes! { "avx2";
        fn load_weights(p: *const i8) -> __m256i {
            // SAFETY: 16 bytes readable at `p` (the caller's contract).
            _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(p.cast()) })
        }

        fn madd(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
            _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
        }

        /// Both sides sign-extended from 16 raw bytes.
        fn dot_chunk(acc: __m256i, x: *const i8, w: *const i8) -> __m256i {
            // SAFETY: 16 bytes readable at `x` and at `w` (the caller's contract).
            let (xv, wv) = unsafe {
                (_mm256_cvtepi8_epi16(_mm_loadu_si128(x.cast())), _mm256_cvtepi8_epi16(_mm_loadu_si128(w.cast())))
            };
            _mm256_add_epi32(acc, _mm256_madd_epi16(xv, wv))
        }

        /// The two taps' bytes interleaved, sign-extended to `i16` pairs `(a[j], b[j])`, then
        /// one `vpmaddwd` with the packed weight pairs: 16 products, exact (`|x|, |w| <= 128`).
        fn depthwise_pair(acc: __m256i, a: *const i8, b: *const i8, w: *const i32) -> __m256i {
            // SAFETY: 8 bytes readable at `a` and at `b`, 8 `i32` at `w` (the caller's contract).
            let (xa, xb, pairs) =
                unsafe { (_mm_loadl_epi64(a.cast()), _mm_loadl_epi64(b.cast()), _mm256_loadu_si256(w.cast())) };
            _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_unpacklo_epi8(xa, xb)), pairs))
        }

        /// The 8 bytes of each side interleaved, sign-extended to 16 `i16` and stored.
        fn interleave_pairs(a: *const i8, b: *const i8, dst: *mut i16) {
            // SAFETY: 8 bytes readable at `a` and at `b` (the caller's contract).
            let (xa, xb) = unsafe { (_mm_loadl_epi64(a.cast()), _mm_loadl_epi64(b.cast())) };
            // SAFETY: 32 bytes writable at `dst` (the caller's contract).
            unsafe { _mm256_storeu_si256(dst.cast(), _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(xa, xb))) }
        }

        /// `vpmaddwd` (exact: no pair is two `-2^15` products) and an add.
        fn madd_pairs(acc: __m256i, x: *const i16, w: *const i32) -> __m256i {
            // SAFETY: 32 bytes readable at `x` and at `w` (the caller's contract).
            let (x, w) = unsafe { (_mm256_loadu_si256(x.cast()), _mm256_loadu_si256(w.cast())) };
            _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
        }

        /// One broadcast, `vpmaddwd` and an add.
        fn madd_pairs_splat(acc: __m256i, x: *const i16, pair: i32) -> __m256i {
            // SAFETY: 32 bytes readable at `x` (the caller's contract).
            let x = unsafe { _mm256_loadu_si256(x.cast()) };
            _mm256_add_epi32(acc, _mm256_madd_epi16(x, _mm256_set1_epi32(pair)))
        }

        /// 16 bytes sign-extended to `i16`, `vpmaddwd` and an add.
        fn madd_pairs_bytes(acc: __m256i, x: *const i16, w: *const i8) -> __m256i {
            // SAFETY: 32 bytes readable at `x`, 16 at `w` (the caller's contract).
            let (x, w) = unsafe { (_mm256_loadu_si256(x.cast()), _mm256_cvtepi8_epi16(_mm_loadu_si128(w.cast()))) };
            _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
        }

        fn store_i32(v: __m256i, p: *mut i32) {
            // SAFETY: 32 bytes writable at `p` (the caller's contract).
            unsafe { _mm256_storeu_si256(p.cast(), v) }
        }

        /// Halves added in registers (wrapping, like any order of the lanes' sum).
        fn reduce_add(v: __m256i) -> i32 {
            let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
            _mm_cvtsi128_si32(s)
        }

        fn load_i8(p: *const i8) -> __m256i {
            // SAFETY: 8 bytes readable at `p` (the caller's contract).
            _mm256_cvtepi8_epi32(unsafe { _mm_loadl_epi64(p.cast()) })
        }

        fn load_i8_partial(p: *const i8, lanes: usize) -> __m256i {
            // AVX2 has no masked byte load: copy the `lanes` readable bytes into a zeroed buffer.
            let mut tmp = [0i8; 8];
            let lanes = lanes.min(8);
            // SAFETY: `lanes` bytes readable at `p` (the caller's contract), `tmp` holds 8.
            unsafe { core::ptr::copy_nonoverlapping(p, tmp.as_mut_ptr(), lanes) };
            // SAFETY: `tmp` is 8 bytes.
            _mm256_cvtepi8_epi32(unsafe { _mm_loadl_epi64(tmp.as_ptr().cast()) })
        }

        fn widen_halves(acc: __m256i) -> (__m256i, __m256i) {
            let lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc));
            (lo, _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(acc)))
        }

        fn sub_where_below(t: __m256i, p: __m256i, neg: __m256i) -> __m256i {
            let below = _mm256_cmpgt_epi64(_mm256_set1_epi64x(-(1i64 << 30)), p);
            _mm256_sub_epi64(t, _mm256_and_si256(below, neg))
        }

        /// AVX2 has no 64-bit arithmetic shift: `sign ^ ((t ^ sign) >> s)` with a logical
        /// shift is one (for negative `t`, `!t >> s == !(t >> s)`).
        fn sra_i64(t: __m256i, s: __m256i) -> __m256i {
            let sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), t);
            _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(t, sign), s), sign)
        }

        /// AVX2 has no 64-bit min/max: compare and blend.
        fn clamp_i64(y: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
            let y = _mm256_blendv_epi8(y, lo, _mm256_cmpgt_epi64(lo, y));
            _mm256_blendv_epi8(y, hi, _mm256_cmpgt_epi64(y, hi))
        }

        /// The low 32 bits of each 64-bit lane, in order, packed to bytes: the values are in
        /// `[-128, 127]`, so the saturating packs change nothing. The bytes are the low 8.
        fn narrow(a: __m256i, b: __m256i) -> __m128i {
            let idx = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
            let a = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(a, idx));
            let b = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, idx));
            let w = _mm_packs_epi32(a, b);
            _mm_packs_epi16(w, w)
        }

        /// The rule in `i32` lanes, in its two steps: `h = floor((a * M + 2^30) / 2^31)` for
        /// `a = acc << left` (each lane's exact product with `vpmuldq`, even lanes then odd;
        /// `h` fits in `i32`, so bits 31..62 of the sum are all of it), then the rounding
        /// divide by `2^right`, rounding half away from zero: `sign(h) * ((|h| + 2^right / 2)
        /// >> right)` (`h` lies in `[-2^31 + 1, 2^31 - 2]`, so `|h|` exists and the sum,
        /// shifted logically, stays below `2^32`; `vpsignd` puts the sign back), then
        /// `clamp(y + zp, min, max)` as `clamp(y, min - zp, max - zp) + zp`, which cannot
        /// overflow while the zero point is small; a larger one takes the `i64` lanes.
        fn requant_double(acc: __m256i, sv: &StageVectors, col: usize, stage: &OutputStage<'_>) -> __m128i {
            if !Self::double_in_i32(stage) {
                // SAFETY: forwarded (the caller's contract).
                return unsafe { requant_wide::<Self, true>(acc, sv, col, stage) };
            }
            // SAFETY: `left`, `mult_i32` and `right` hold `col + 8` entries for `Double` (the
            // caller's contract).
            let (left, mult, right) = unsafe {
                (
                    _mm256_loadu_si256(sv.left.as_ptr().add(col).cast()),
                    _mm256_loadu_si256(sv.mult_i32.as_ptr().add(col).cast()),
                    _mm256_loadu_si256(sv.right.as_ptr().add(col).cast()),
                )
            };
            let a = _mm256_sllv_epi32(acc, left);
            let nudge = _mm256_set1_epi64x(1 << 30);
            let even = _mm256_add_epi64(_mm256_mul_epi32(a, mult), nudge);
            let odd = _mm256_add_epi64(
                _mm256_mul_epi32(_mm256_srli_epi64::<32>(a), _mm256_srli_epi64::<32>(mult)),
                nudge,
            );
            let h = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<31>(even), _mm256_slli_epi64::<1>(odd));
            let half = _mm256_srli_epi32::<1>(_mm256_sllv_epi32(_mm256_set1_epi32(1), right));
            let rounded = _mm256_srlv_epi32(_mm256_add_epi32(_mm256_abs_epi32(h), half), right);
            let y = _mm256_sign_epi32(rounded, h);
            // `bounds` is `[min - zp, max - zp, zp]` of this stage (the caller's contract).
            let [lo, hi, zp] = sv.bounds;
            let (lo, hi, zp) = (_mm256_set1_epi32(lo), _mm256_set1_epi32(hi), _mm256_set1_epi32(zp));
            let y = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(y, lo), hi), zp);
            // The values are in `[-128, 127]`: the saturating packs change nothing.
            let w = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y));
            _mm_packs_epi16(w, w)
        }
    }

    entry_points!(Avx2, "avx2");
}
