//! AVX-512 VNNI lanes for the [`crate::simd`] driver: `vpdpbusd` products, depthwise taps in
//! `i16` pairs (through `vpdpwssd` from rows of interleaved neighbours, padding included,
//! where the shape admits them, else through `vpmaddwd` for the pixels inside the image) or in
//! `i32` lanes with masked loads for the last channels, and the output stage in 64-bit lanes.
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes. Activations are made unsigned by
//! `x ^ 0x80`, which is `x + 128` ([`Isa::LHS_OFFSET`]); the extra `128 * row_sum[n]` is
//! subtracted together with the zero-point correction in one per-column constant. The
//! non-saturating form wraps, and so does the reference, so the results agree bit for bit.
//!
//! Must never: run on a CPU without avx512f + avx512bw + avx512vnni (an [`Avx512`] token
//! exists only after [`Avx512::detect`]), read outside the pointers' documented extents, or
//! use the saturating `vpdpbusds`.

use core::arch::x86_64::*;

use crate::simd::{Isa, entry_points, lanes, one_intrinsic_lanes};

token! {
    /// Proof that this CPU has avx512f, avx512bw and avx512vnni: only [`Avx512::detect`] makes one.
    Avx512: "avx512f", "avx512bw", "avx512vnni"
}

/// Everything of an [`Isa`] impl but its name and entry points: the AVX-512 VNNI lanes, which
/// [`crate::x86::Avx512Amx`] shares (its tokens exist only where these features do).
macro_rules! avx512_lanes {
    () => {
        const LANES: usize = 16;
        const GROUP: usize = 4;
        /// Four zmm registers of 16 `i32` accumulators.
        const PANEL: usize = 64;
        const MASKED_PARTIAL_LOADS: bool = true;
        const LHS_OFFSET: i32 = 128;
        const PAIRED_TAPS: bool = true;
        const ROUNDING_VECTORS: bool = true;
        type V = __m512i;
        type X = u8;
        type W = __m512i;
        type Bytes = __m128i;

        fn widen(x: i8) -> u8 {
            (x as u8) ^ 0x80
        }

        /// Where the zero point is small, so that the clamp around it cannot overflow `i32`.
        fn double_in_i32(stage: &$crate::OutputStage<'_>) -> bool {
            $crate::simd::zero_point_is_small(stage)
        }

        one_intrinsic_lanes! { "avx512f,avx512bw,avx512vnni";
            splat: _mm512_set1_epi32, add: _mm512_add_epi32, sub: _mm512_sub_epi32, mullo: _mm512_mullo_epi32,
            shl: _mm512_sllv_epi32, load_i32: _mm512_loadu_si512,
            splat_i64: _mm512_set1_epi64, add_i64: _mm512_add_epi64, mul_i32: _mm512_mul_epi32,
            load_i64: _mm512_loadu_si512, store: _mm_storeu_si128,
        }

        lanes! { "avx512f,avx512bw,avx512vnni";
            fn load_weights(p: *const i8) -> __m512i {
                // SAFETY: 64 bytes readable at `p` (the caller's contract).
                unsafe { _mm512_loadu_si512(p.cast()) }
            }

            fn madd(acc: __m512i, x: __m512i, w: __m512i) -> __m512i {
                _mm512_dpbusd_epi32(acc, x, w)
            }

            /// The raw activations made unsigned in the lanes: `x ^ 0x80`, as [`Isa::widen`].
            fn dot_chunk(acc: __m512i, x: *const i8, w: *const i8) -> __m512i {
                // SAFETY: 64 bytes readable at `x` and at `w` (the caller's contract).
                let (x, w) = unsafe { (_mm512_loadu_si512(x.cast()), _mm512_loadu_si512(w.cast())) };
                _mm512_dpbusd_epi32(acc, _mm512_xor_si512(x, _mm512_set1_epi8(i8::MIN)), w)
            }

            /// The two taps' 16 bytes interleaved (`unpacklo`/`unpackhi` give channels 0..8 and
            /// 8..16 as pairs `(a[j], b[j])`), sign-extended to 32 `i16`, then one `vpmaddwd` with
            /// the packed weight pairs: 32 products, exact (`|x|, |w| <= 128`), where two
            /// `vpmulld` took twice the multiply micro-ops.
            fn depthwise_pair(acc: __m512i, a: *const i8, b: *const i8, w: *const i32) -> __m512i {
                // SAFETY: 16 bytes readable at `a` and at `b`, 16 `i32` at `w` (the caller's contract).
                let (xa, xb, pairs) =
                    unsafe { (_mm_loadu_si128(a.cast()), _mm_loadu_si128(b.cast()), _mm512_loadu_si512(w.cast())) };
                let interleaved =
                    _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(_mm_unpacklo_epi8(xa, xb)), _mm_unpackhi_epi8(xa, xb));
                _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_cvtepi8_epi16(interleaved), pairs))
            }

            /// The 16 bytes of each side interleaved as in [`Isa::depthwise_pair`], sign-extended
            /// to 32 `i16` and stored.
            fn interleave_pairs(a: *const i8, b: *const i8, dst: *mut i16) {
                // SAFETY: 16 bytes readable at `a` and at `b` (the caller's contract).
                let (xa, xb) = unsafe { (_mm_loadu_si128(a.cast()), _mm_loadu_si128(b.cast())) };
                let interleaved =
                    _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(_mm_unpacklo_epi8(xa, xb)), _mm_unpackhi_epi8(xa, xb));
                // SAFETY: 64 bytes writable at `dst` (the caller's contract).
                unsafe { _mm512_storeu_si512(dst.cast(), _mm512_cvtepi8_epi16(interleaved)) }
            }

            /// One `vpdpwssd` (the wrapping, not the saturating, form).
            fn madd_pairs(acc: __m512i, x: *const i16, w: *const i32) -> __m512i {
                // SAFETY: 64 bytes readable at `x` and at `w` (the caller's contract).
                let (x, w) = unsafe { (_mm512_loadu_si512(x.cast()), _mm512_loadu_si512(w.cast())) };
                _mm512_dpwssd_epi32(acc, x, w)
            }

            /// One `vpdpwssd` with the pair broadcast.
            fn madd_pairs_splat(acc: __m512i, x: *const i16, pair: i32) -> __m512i {
                // SAFETY: 64 bytes readable at `x` (the caller's contract).
                let x = unsafe { _mm512_loadu_si512(x.cast()) };
                _mm512_dpwssd_epi32(acc, x, _mm512_set1_epi32(pair))
            }

            /// 32 bytes sign-extended to `i16` and one `vpdpwssd`.
            fn madd_pairs_bytes(acc: __m512i, x: *const i16, w: *const i8) -> __m512i {
                // SAFETY: 64 bytes readable at `x`, 32 at `w` (the caller's contract).
                let (x, w) =
                    unsafe { (_mm512_loadu_si512(x.cast()), _mm512_cvtepi8_epi16(_mm256_loadu_si256(w.cast()))) };
                _mm512_dpwssd_epi32(acc, x, w)
            }

            fn store_i32(v: __m512i, p: *mut i32) {
                // SAFETY: 64 bytes writable at `p` (the caller's contract).
                unsafe { _mm512_storeu_si512(p.cast(), v) }
            }

            fn reduce_add(v: __m512i) -> i32 {
                _mm512_reduce_add_epi32(v)
            }

            /// Full blocks use plain 16-byte loads (measured faster than masked ones).
            fn load_i8(p: *const i8) -> __m512i {
                // SAFETY: 16 bytes readable at `p` (the caller's contract).
                _mm512_cvtepi8_epi32(unsafe { _mm_loadu_si128(p.cast()) })
            }

            fn load_i8_partial(p: *const i8, lanes: usize) -> __m512i {
                let mask: __mmask64 = (1u64 << lanes.min(16)) - 1;
                // SAFETY: the mask enables only bytes `0..lanes`, readable (the caller's contract);
                // masked-off bytes are not accessed.
                _mm512_cvtepi8_epi32(_mm512_castsi512_si128(unsafe { _mm512_maskz_loadu_epi8(mask, p.cast()) }))
            }

            fn widen_halves(acc: __m512i) -> (__m512i, __m512i) {
                let lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc));
                (lo, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(acc)))
            }

            fn sub_where_below(t: __m512i, p: __m512i, neg: __m512i) -> __m512i {
                let below = _mm512_cmplt_epi64_mask(p, _mm512_set1_epi64(-(1i64 << 30)));
                _mm512_mask_sub_epi64(t, below, t, neg)
            }

            /// `vpsravq`, the reference's arithmetic shift.
            fn sra_i64(t: __m512i, s: __m512i) -> __m512i {
                _mm512_srav_epi64(t, s)
            }

            fn clamp_i64(y: __m512i, lo: __m512i, hi: __m512i) -> __m512i {
                _mm512_min_epi64(_mm512_max_epi64(y, lo), hi)
            }

            fn store_prefix(bytes: __m128i, dst: *mut i8, len: usize) {
                let mask: __mmask64 = (1u64 << len.min(16)) - 1;
                // SAFETY: the mask enables only bytes `0..len`, writable (the caller's contract);
                // masked-off bytes are not accessed. (The 512-bit form: AVX-512BW alone.)
                unsafe { _mm512_mask_storeu_epi8(dst.cast(), mask, _mm512_castsi128_si512(bytes)) }
            }

            fn narrow(a: __m512i, b: __m512i) -> __m128i {
                _mm_unpacklo_epi64(_mm512_cvtepi64_epi8(a), _mm512_cvtepi64_epi8(b))
            }

            /// The rule in its two steps in `i32` lanes, as AVX2 computes it (see there), and
            /// `vpmovdb` to narrow: 16 outputs from two `vpmuldq` and no widening to 64-bit
            /// halves. The rounding divide is rounding half away from zero, computed on the
            /// magnitude: `sign(h) * ((|h| + 2^right / 2) >> right)`, a logical shift (`h` lies
            /// in `[-2^31 + 1, 2^31 - 2]`, so `|h|` exists and the sum stays below `2^32`).
            /// Five instructions, where the comparison of the remainder with half of `2^right`
            /// (`(h >> right) + [(h & mask) > (mask >> 1) + [h < 0]]`) took eight.
            fn requant_double(
                acc: __m512i,
                sv: &$crate::simd::StageVectors,
                col: usize,
                stage: &$crate::OutputStage<'_>,
            ) -> __m128i {
                if !Self::double_in_i32(stage) {
                    // SAFETY: forwarded (the caller's contract).
                    return unsafe { $crate::simd::requant_wide::<Self, true>(acc, sv, col, stage) };
                }
                // SAFETY: `left`, `mult_i32`, `mult_odd`, `right` and `round_half` hold `col + 16`
                // entries for `Double` (the caller's contract).
                let (left, mult, mult_odd, right, half) = unsafe {
                    (
                        _mm512_loadu_si512(sv.left.as_ptr().add(col).cast()),
                        _mm512_loadu_si512(sv.mult_i32.as_ptr().add(col).cast()),
                        _mm512_loadu_si512(sv.mult_odd.as_ptr().add(col).cast()),
                        _mm512_loadu_si512(sv.right.as_ptr().add(col).cast()),
                        _mm512_loadu_si512(sv.round_half.as_ptr().add(col).cast()),
                    )
                };
                let a = if sv.shifts_left { _mm512_sllv_epi32(acc, left) } else { acc };
                let nudge = _mm512_set1_epi64(1 << 30);
                let even = _mm512_add_epi64(_mm512_mul_epi32(a, mult), nudge);
                let odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64::<32>(a), mult_odd), nudge);
                let h = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64::<31>(even), _mm512_slli_epi64::<1>(odd));
                let zero = _mm512_setzero_si512();
                let rounded = _mm512_srlv_epi32(_mm512_add_epi32(_mm512_abs_epi32(h), half), right);
                let negative = _mm512_cmplt_epi32_mask(h, zero);
                let y = _mm512_mask_sub_epi32(rounded, negative, zero, rounded);
                // `bounds` is `[min - zp, max - zp, zp]` of this stage (the caller's contract).
                let [lo, hi, zp] = sv.bounds;
                let (lo, hi, zp) = (_mm512_set1_epi32(lo), _mm512_set1_epi32(hi), _mm512_set1_epi32(zp));
                // The values are in `[-128, 127]`: the truncating narrow changes nothing.
                _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(y, lo), hi), zp))
            }

        }
    };
}
pub(crate) use avx512_lanes;

// SAFETY: the token is made only by `detect`, after the CPU check; each method computes what
// the trait documents (see the comments on each).
unsafe impl Isa for Avx512 {
    const NAME: &'static str = "avx512";
    avx512_lanes!();
    entry_points!(Avx512, "avx512f,avx512bw,avx512vnni");
}
