//! The one SIMD driver: tiling loops, tails, packing index math and the requantization
//! wrappers of every vector kernel, written once over an [`Isa`]. An ISA file (`x86/avx2.rs`,
//! `x86/avx512.rs`, [`emulated`]) holds only its lanes: loads, multiply-accumulates, stores,
//! the lane-level output stage.
//!
//! Soundness rests on the tokens: an [`Isa`] value exists only where its CPU check passed
//! (`Avx2::detect`, `Avx512::detect`), so the safe entry points here, which take one, may run
//! its instructions. Code here must never: read or write outside the slices it is given (each
//! `unsafe` block says which checked length bounds it), skip writing an output, or touch
//! floating point.

#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

#[cfg(test)]
pub(crate) mod emulated;
pub(crate) mod product;
#[cfg(test)]
mod tests;

use alloc::vec;
use alloc::vec::Vec;

use crate::aligned::LineAligned;
use crate::{KernelError, OutputStage, Rounding, WindowGeometry, check_len};

/// One instruction set's lanes. The value is a zero-sized token that only a successful CPU
/// check constructs, so holding one proves the CPU can run the methods.
///
/// The lane methods are `unsafe` because they read or write raw pointers (and, for hardware
/// ISAs, need the CPU features: the caller holds a token, or runs inside an entry point that
/// one called). Lane `j` of a vector is output column / channel `j` of its block.
///
/// # Safety
/// Implementors must construct the token only when the CPU runs every method, and the
/// methods must compute what their documentation says, lane for lane.
pub(crate) unsafe trait Isa: Copy {
    /// How tests name the ISA.
    #[cfg_attr(not(test), allow(dead_code))]
    const NAME: &'static str;
    /// `i32` lanes per vector: the columns of a tile, the channels of a depthwise block.
    const LANES: usize;
    /// Consecutive `k` of one column summed by one multiply-accumulate lane.
    const GROUP: usize;
    /// Columns per packed weight panel (a whole number of vectors, at most four).
    const PANEL: usize;
    /// Depth consumed per step by [`Isa::dot_chunk`] (the dot layout pads `k` to it): one
    /// vector of multiply-accumulate operands.
    const DOT_CHUNK: usize = Self::LANES * Self::GROUP;
    /// Whether [`Isa::load_i8_partial`] is a masked load, which the last, partial block of
    /// depthwise channels then uses for every tap. Without one it costs a copy, so that block
    /// reads whole vectors wherever the buffer holds them (the lanes past its channels read
    /// the next pixel's or tap's bytes, computed and thrown away) and partial ones only at
    /// the buffer's end.
    const MASKED_PARTIAL_LOADS: bool;
    /// Added to each activation by [`Isa::widen`] (128 where the multiply wants unsigned
    /// bytes); removed again through the per-column constant.
    const LHS_OFFSET: i32;
    /// Whether depthwise sums its taps two at a time (one `i16` pair multiply-accumulate per
    /// two taps, where the ISA has one that the weights' packing pays for) rather than one
    /// `mullo` per tap: through [`RowPairs`] ([`Isa::interleave_pairs`], [`Isa::madd_pairs`])
    /// where the shape admits them, else for the pixels inside the image through
    /// [`Isa::depthwise_pair`]. An ISA that sets it should override all three.
    const PAIRED_TAPS: bool = false;
    /// Whether the `i32`-lane double rounding reads the odd lanes' multipliers and the rounding
    /// halves prepared in the [`StageVectors`] (`mult_odd`, `round_half`) rather than deriving
    /// its constants in its lanes.
    const ROUNDING_VECTORS: bool = false;
    /// A vector of `LANES` `i32` lanes (or of the operands of a multiply-accumulate).
    type V: Copy;
    /// One activation as the multiply-accumulate reads it.
    type X: Copy + Default;
    /// `LANES / 2` `i64` lanes, where the output stage computes.
    type W: Copy;
    /// The `LANES` output bytes of [`requant`].
    type Bytes: Copy;

    /// `x + LHS_OFFSET` as the multiply reads it.
    fn widen(x: i8) -> Self::X;

    /// # Safety
    /// See [`Isa`].
    unsafe fn splat(v: i32) -> Self::V;
    /// Lane-wise wrapping `a + b`.
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `LANES` `i32` from `p`.
    ///
    /// # Safety
    /// `p` must be valid for reading `LANES` `i32`; see [`Isa`].
    unsafe fn load_i32(p: *const i32) -> Self::V;
    /// The `GROUP` activations at `p` (four bytes on the hardware ISAs), repeated for every
    /// lane.
    ///
    /// # Safety
    /// `p` must be valid for reading `GROUP` values; see [`Isa`].
    unsafe fn broadcast_group(p: *const Self::X) -> Self::V;
    /// `LANES * GROUP` packed weights (lane `j` takes bytes `j * GROUP..(j + 1) * GROUP`).
    ///
    /// # Safety
    /// `p` must be valid for reading `LANES * GROUP` bytes; see [`Isa`].
    unsafe fn load_weights(p: *const i8) -> Self::V;
    /// `acc[j] + sum_g x[j][g] * w[j][g]`, wrapping, exact (never saturating).
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn madd(acc: Self::V, x: Self::V, w: Self::V) -> Self::V;
    /// `acc` plus the products of the `DOT_CHUNK` raw activations at `x`, each widened in
    /// the lanes as [`Isa::widen`] does, with the weights at `w`, spread over the lanes in any
    /// order (only the lanes' sum is used).
    ///
    /// # Safety
    /// `x` and `w` must be valid for reading `DOT_CHUNK` bytes; see [`Isa`].
    unsafe fn dot_chunk(acc: Self::V, x: *const i8, w: *const i8) -> Self::V;
    /// The wrapping sum of the lanes.
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn reduce_add(v: Self::V) -> i32;
    /// `LANES` bytes at `p`, sign-extended to `i32`.
    ///
    /// # Safety
    /// `p` must be valid for reading `LANES` bytes; see [`Isa`].
    unsafe fn load_i8(p: *const i8) -> Self::V;
    /// The first `lanes` (below `LANES`) bytes at `p`, sign-extended; the other lanes 0 (and
    /// their bytes not read).
    ///
    /// # Safety
    /// `p` must be valid for reading `lanes` bytes, and `lanes < LANES`; see [`Isa`].
    unsafe fn load_i8_partial(p: *const i8, lanes: usize) -> Self::V;
    /// Lane-wise wrapping `a - b`.
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise wrapping `a * b` (the low 32 bits of the product).
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn mullo(a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise wrapping `acc << counts` (counts in `0..=30`).
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn shl(acc: Self::V, counts: Self::V) -> Self::V;
    /// The low and the high `LANES / 2` lanes, sign-extended to `i64`.
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn widen_halves(acc: Self::V) -> (Self::W, Self::W);
    /// `LANES / 2` `i64` from `p`.
    ///
    /// # Safety
    /// `p` must be valid for reading `LANES / 2` `i64`; see [`Isa`].
    unsafe fn load_i64(p: *const i64) -> Self::W;
    /// # Safety
    /// See [`Isa`].
    unsafe fn splat_i64(v: i64) -> Self::W;
    /// The exact products of the low, sign-extended 32 bits of each lane of `x` and `m`.
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn mul_i32(x: Self::W, m: Self::W) -> Self::W;
    /// Lane-wise `a + b` (the callers' sums cannot overflow).
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn add_i64(a: Self::W, b: Self::W) -> Self::W;
    /// `t - neg` in the lanes where `p < -2^30`, `t` elsewhere.
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn sub_where_below(t: Self::W, p: Self::W, neg: Self::W) -> Self::W;
    /// Lane-wise arithmetic `t >> s` (`s` in `1..=62`).
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn sra_i64(t: Self::W, s: Self::W) -> Self::W;
    /// Lane-wise `min(max(y, lo), hi)`.
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn clamp_i64(y: Self::W, lo: Self::W, hi: Self::W) -> Self::W;
    /// The `LANES` values of `lo` then `hi` (each in `[-128, 127]`) as bytes.
    ///
    /// # Safety
    /// See [`Isa`].
    unsafe fn narrow(lo: Self::W, hi: Self::W) -> Self::Bytes;
    /// Writes the `LANES` bytes to `dst`.
    ///
    /// # Safety
    /// `dst` must be valid for writing `LANES` bytes; see [`Isa`].
    unsafe fn store(bytes: Self::Bytes, dst: *mut i8);
    /// Writes the first `len` (below `LANES`) of the bytes to `dst`: by default through a
    /// buffer on the stack; an ISA with masked stores overrides it.
    ///
    /// # Safety
    /// `dst` must be valid for writing `len` bytes; see [`Isa`].
    #[inline(always)]
    unsafe fn store_prefix(bytes: Self::Bytes, dst: *mut i8, len: usize) {
        const { assert!(Self::LANES <= 16) };
        let mut tmp = [0i8; 16];
        // SAFETY: `tmp` holds 16 >= LANES bytes; `dst` holds `len <= LANES` (the caller's
        // contract).
        unsafe {
            Self::store(bytes, tmp.as_mut_ptr());
            core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, len.min(Self::LANES));
        }
    }

    /// `dst[j] = table.words[idx[j] as u8]` for the 64 `j < TERMS_CHUNK`: by default one
    /// scalar load each; an ISA with a byte permute over two registers overrides it. Called
    /// only inside the `requantize` entry point, whose features may be more than the others'
    /// (`entry_points!`'s `requantize_features`).
    ///
    /// # Safety
    /// `idx` must be valid for reading 64 bytes and `dst` for writing 64 `i32`; see [`Isa`].
    #[inline(always)]
    unsafe fn lookup_terms(table: &TermTable, idx: *const i8, dst: *mut i32) {
        for j in 0..TERMS_CHUNK {
            // SAFETY: `j < 64` (the caller's contract); the index is a byte, below 256.
            unsafe { *dst.add(j) = table.words[usize::from(*idx.add(j) as u8)] };
        }
    }

    /// Whether [`Isa::requant_double`] computes `stage` in `i32` lanes (reading `mult_i32` and
    /// `right` of the [`StageVectors`], and `mult_odd` and `round_half` where
    /// [`Isa::ROUNDING_VECTORS`]) rather than in `i64` lanes ([`requant_wide`]). The vectors
    /// are built for exactly this answer.
    fn double_in_i32(_stage: &OutputStage<'_>) -> bool {
        false
    }

    /// The whole output stage of `LANES` accumulators under [`Rounding::Double`]: by default
    /// [`requant_wide`], in `i64` lanes. AVX2 (no 64-bit arithmetic shift, minimum or maximum)
    /// and AVX-512 (fewer instructions than its 64-bit halves) compute it in `i32` lanes, as
    /// the rule itself is written, where [`Isa::double_in_i32`] says so.
    ///
    /// # Safety
    /// As [`requant`] with `DOUBLE`; see [`Isa`].
    #[inline(always)]
    unsafe fn requant_double(acc: Self::V, sv: &StageVectors, col: usize, stage: &OutputStage<'_>) -> Self::Bytes {
        // SAFETY: forwarded (the caller's contract).
        unsafe { requant_wide::<Self, true>(acc, sv, col, stage) }
    }

    /// `acc + a[j] * lo(w[j]) + b[j] * hi(w[j])` in lane `j`, wrapping, where `lo` and `hi`
    /// are the low and high `i16` halves of the packed pair `w[j]` (see [`PairedTaps`]):
    /// two depthwise taps of `LANES` channels, their inputs `a` and `b` taken as they are
    /// (the zero point is in the pixel's constant). The default is exact on any ISA through
    /// `mullo`; an ISA that sets [`Isa::PAIRED_TAPS`] overrides it with its pair
    /// multiply-accumulate.
    ///
    /// # Safety
    /// `a` and `b` must be valid for reading `LANES` bytes and `w` for `LANES` `i32`; see
    /// [`Isa`].
    #[inline(always)]
    unsafe fn depthwise_pair(acc: Self::V, a: *const i8, b: *const i8, w: *const i32) -> Self::V {
        // SAFETY: forwarded (the caller's contract).
        unsafe { depthwise_pair_by_mullo::<Self>(acc, a, b, w) }
    }

    /// Writes `2 * LANES` `i16` to `dst`: `a[j]` then `b[j]` for every lane `j`,
    /// sign-extended, the operand layout of [`Isa::madd_pairs`] (the rows [`RowPairs`] reads).
    /// The default is scalar; the hardware ISAs interleave in registers.
    ///
    /// # Safety
    /// `a` and `b` must be valid for reading `LANES` bytes and `dst` for writing `2 * LANES`
    /// `i16`; see [`Isa`].
    #[inline(always)]
    unsafe fn interleave_pairs(a: *const i8, b: *const i8, dst: *mut i16) {
        for j in 0..Self::LANES {
            // SAFETY: `j < LANES` (the caller's contract).
            unsafe {
                *dst.add(2 * j) = i16::from(*a.add(j));
                *dst.add(2 * j + 1) = i16::from(*b.add(j));
            }
        }
    }

    /// `acc[j] + x[2j] * lo(w[j]) + x[2j + 1] * hi(w[j])`, wrapping, where `lo` and `hi` are
    /// the low and high `i16` halves of `w[j]` (one `i16` pair multiply-accumulate; the
    /// callers' `x` and halves are bytes, so no product or pair sum overflows). The default
    /// goes through `mullo`; the hardware ISAs override it.
    ///
    /// # Safety
    /// `x` must be valid for reading `2 * LANES` `i16` and `w` for `LANES` `i32`; see [`Isa`].
    #[inline(always)]
    unsafe fn madd_pairs(acc: Self::V, x: *const i16, w: *const i32) -> Self::V {
        const { assert!(Self::LANES <= 16) };
        let (mut w_lo, mut w_hi, mut x_lo, mut x_hi) = ([0i32; 16], [0i32; 16], [0i32; 16], [0i32; 16]);
        for j in 0..Self::LANES {
            // SAFETY: `j < LANES` (the caller's contract).
            let (pair, first, second) = unsafe { (w.add(j).read_unaligned(), *x.add(2 * j), *x.add(2 * j + 1)) };
            (w_lo[j], w_hi[j], x_lo[j], x_hi[j]) = (i32::from(pair as i16), pair >> 16, first.into(), second.into());
        }
        // SAFETY: the arrays hold 16 >= LANES values.
        unsafe {
            let low = Self::mullo(Self::load_i32(x_lo.as_ptr()), Self::load_i32(w_lo.as_ptr()));
            let high = Self::mullo(Self::load_i32(x_hi.as_ptr()), Self::load_i32(w_hi.as_ptr()));
            Self::add(acc, Self::add(low, high))
        }
    }

    /// [`Isa::madd_pairs`] with every lane's `w` the same pair: `acc[j] + x[2j] * lo(pair) +
    /// x[2j + 1] * hi(pair)`, wrapping (the right factor's rows of pairs in
    /// [`batch_matmul`]; `|x| <= 128` and `|lo|, |hi| <= 255`, so nothing overflows). The
    /// default goes through [`Isa::madd_pairs`]; the hardware ISAs broadcast in a register.
    ///
    /// # Safety
    /// `x` must be valid for reading `2 * LANES` `i16`; see [`Isa`].
    #[inline(always)]
    unsafe fn madd_pairs_splat(acc: Self::V, x: *const i16, pair: i32) -> Self::V {
        const { assert!(Self::LANES <= 16) };
        let pairs = [pair; 16];
        // SAFETY: `pairs` holds 16 >= LANES `i32`; `x` is forwarded (the caller's contract).
        unsafe { Self::madd_pairs(acc, x, pairs.as_ptr()) }
    }

    /// `acc[j] + x[2j] * w[2j] + x[2j + 1] * w[2j + 1]`, wrapping, with the `2 * LANES` bytes
    /// at `w` sign-extended (the dot products of [`batch_matmul`] with a right factor stored
    /// by columns, read raw; `|x| <= 255`, so nothing overflows). The default goes through
    /// [`Isa::madd_pairs`]; the hardware ISAs widen in a register.
    ///
    /// # Safety
    /// `x` must be valid for reading `2 * LANES` `i16` and `w` for `2 * LANES` bytes; see
    /// [`Isa`].
    #[inline(always)]
    unsafe fn madd_pairs_bytes(acc: Self::V, x: *const i16, w: *const i8) -> Self::V {
        const { assert!(Self::LANES <= 16) };
        let mut pairs = [0i32; 16];
        for (j, pair) in pairs.iter_mut().enumerate().take(Self::LANES) {
            // SAFETY: `2j + 1 < 2 * LANES` (the caller's contract).
            let (lo, hi) = unsafe { (*w.add(2 * j), *w.add(2 * j + 1)) };
            *pair = i32::from(i16::from(lo) as u16) | (i32::from(hi) << 16);
        }
        // SAFETY: `pairs` holds 16 >= LANES `i32`; `x` is forwarded (the caller's contract).
        unsafe { Self::madd_pairs(acc, x, pairs.as_ptr()) }
    }

    /// Stores the `LANES` `i32` lanes of `v` at `p`.
    ///
    /// # Safety
    /// `p` must be valid for writing `LANES` `i32`; see [`Isa`].
    unsafe fn store_i32(v: Self::V, p: *mut i32);

    /// Whether [`Isa::gemm`] of `m` rows, `np` padded columns and depth `kp` widens the
    /// activations itself, reading them raw from [`Gemm::raw`]: then [`qgemm`] and
    /// [`qgemm_gathered`] build no widened copy, and `Gemm::xs` is empty. A pure function of
    /// the shape, so that the driver and the ISA agree.
    fn widens_rows_itself(_m: usize, _np: usize, _kp: usize) -> bool {
        false
    }

    /// [`gemm_body`] with this ISA's features enabled.
    fn gemm<const DOUBLE: bool>(self, p: &Gemm<'_, Self::X>, out: &mut [i8]);
    /// [`dot_body`] with this ISA's features enabled.
    fn dot(self, p: &Dot<'_>, out: &mut [i8]);
    /// [`requantize_body`] with this ISA's features enabled.
    fn requantize<const DOUBLE: bool>(self, p: &Requantize<'_>, out: &mut [i8]);
    /// [`depthwise_body`] with this ISA's features enabled.
    fn depthwise<const DOUBLE: bool>(self, p: &Depthwise<'_>, out: &mut [i8]);
    /// [`product::product_body`] with this ISA's features enabled.
    fn product(self, p: &product::Product<'_>, scratch: &mut product::Scratch, out: &mut [i8]);
}

/// Declares an ISA's lane methods inside its `unsafe impl Isa`: each becomes an `#[inline]`
/// `unsafe fn` with the ISA's target features, named once, so no lane can forget or misspell
/// them.
macro_rules! lanes {
    (
        $features:literal;
        $($(#[$attr:meta])* fn $name:ident $(<const $c:ident: $ct:ty>)? ($($args:tt)*) $(-> $ret:ty)? $body:block)*
    ) => {$(
        $(#[$attr])*
        ///
        /// # Safety
        /// As the [`Isa`] method's (the extents its pointers must be valid for), and the CPU must
        /// have the ISA's target features (its token proves it).
        #[inline]
        #[target_feature(enable = $features)]
        unsafe fn $name $(<const $c: $ct>)? ($($args)*) $(-> $ret)? $body
    )*};
}
pub(crate) use lanes;

/// The lanes that are one intrinsic on every ISA, from a table of the ISA's intrinsics (inside
/// its `unsafe impl Isa`).
macro_rules! one_intrinsic_lanes {
    (
        $features:literal;
        splat: $splat:path, add: $add:path, sub: $sub:path, mullo: $mullo:path, shl: $shl:path,
        load_i32: $load_i32:path,
        splat_i64: $splat_i64:path, add_i64: $add_i64:path, mul_i32: $mul_i32:path, load_i64: $load_i64:path,
        store: $store:path $(,)?
    ) => {
        $crate::simd::lanes! { $features;
            fn splat(v: i32) -> Self::V {
                $splat(v)
            }
            fn add(a: Self::V, b: Self::V) -> Self::V {
                $add(a, b)
            }
            fn sub(a: Self::V, b: Self::V) -> Self::V {
                $sub(a, b)
            }
            fn mullo(a: Self::V, b: Self::V) -> Self::V {
                $mullo(a, b)
            }
            fn broadcast_group(p: *const Self::X) -> Self::V {
                const { assert!(Self::GROUP * core::mem::size_of::<Self::X>() == 4) };
                // SAFETY: `GROUP` activations, four bytes, readable at `p` (the caller's contract).
                $splat(unsafe { p.cast::<i32>().read_unaligned() })
            }
            fn shl(acc: Self::V, counts: Self::V) -> Self::V {
                $shl(acc, counts)
            }
            fn load_i32(p: *const i32) -> Self::V {
                // SAFETY: `LANES` `i32` readable at `p` (the caller's contract).
                unsafe { $load_i32(p.cast()) }
            }
            fn splat_i64(v: i64) -> Self::W {
                $splat_i64(v)
            }
            fn add_i64(a: Self::W, b: Self::W) -> Self::W {
                $add_i64(a, b)
            }
            fn mul_i32(x: Self::W, m: Self::W) -> Self::W {
                $mul_i32(x, m)
            }
            fn load_i64(p: *const i64) -> Self::W {
                // SAFETY: `LANES / 2` `i64` readable at `p` (the caller's contract).
                unsafe { $load_i64(p.cast()) }
            }
            fn store(bytes: Self::Bytes, dst: *mut i8) {
                // SAFETY: `LANES` bytes writable at `dst` (the caller's contract).
                unsafe { $store(dst.cast(), bytes) }
            }
        }
    };
}
pub(crate) use one_intrinsic_lanes;

/// The five entry points of an [`Isa`] impl: each runs its `inline(always)` driver body inside
/// a function with the ISA's target features, so the lane methods inline into the loops.
/// (The emulated ISA, which needs none, calls the bodies directly.)
///
/// `gemm_body = path` runs that body for products instead of [`gemm_body`] (same contract).
macro_rules! entry_points {
    ($isa:ty, $features:literal) => {
        $crate::simd::entry_points!($isa, $features, gemm_body = crate::simd::gemm_body);
    };
    ($isa:ty, $features:literal, gemm_body = $($gemm_body:ident)::+) => {
        $crate::simd::entry_points!($isa, $features, gemm_body = $($gemm_body)::+, requantize_features = $features);
    };
    // `requantize_features`: the output stage alone may enable more than the other entry
    // points (the amx token's VBMI for `Isa::lookup_terms`), so that enabling it changes no
    // matrix, dot or depthwise kernel's code (the output stages alone compile with it).
    ($isa:ty, $features:literal, gemm_body = $($gemm_body:ident)::+, requantize_features = $requantize_features:literal) => {
        fn gemm<const DOUBLE: bool>(self, p: &$crate::simd::Gemm<'_, Self::X>, out: &mut [i8]) {
            /// # Safety
            /// The CPU must have the features; `p` must be as `simd::Gemm` says and `out` hold
            /// `m * n` bytes.
            #[target_feature(enable = $features)]
            unsafe fn enabled<const DOUBLE: bool>(
                p: &$crate::simd::Gemm<'_, <$isa as $crate::simd::Isa>::X>,
                out: &mut [i8],
            ) {
                // SAFETY: forwarded from `gemm`, whose `Gemm` was checked by `simd::qgemm`.
                unsafe { $($gemm_body)::+::<$isa, DOUBLE>(p, out) }
            }
            // SAFETY: `self` is a token, which exists only where the CPU has the features.
            unsafe { enabled::<DOUBLE>(p, out) }
        }
        fn dot(self, p: &$crate::simd::Dot<'_>, out: &mut [i8]) {
            /// # Safety
            /// The CPU must have the features; `p` must be as `simd::Dot` says and `out` hold
            /// `m * n` bytes.
            #[target_feature(enable = $features)]
            unsafe fn enabled(p: &$crate::simd::Dot<'_>, out: &mut [i8]) {
                // SAFETY: forwarded from `dot`, whose `Dot` was checked by `simd::qgemm`.
                unsafe { $crate::simd::dot_body::<$isa>(p, out) }
            }
            // SAFETY: as in `gemm`.
            unsafe { enabled(p, out) }
        }
        fn requantize<const DOUBLE: bool>(self, p: &$crate::simd::Requantize<'_>, out: &mut [i8]) {
            /// # Safety
            /// The CPU must have the features; `p` must be as `simd::Requantize` says and `out`
            /// hold at least `np` bytes.
            #[target_feature(enable = $requantize_features)]
            unsafe fn enabled<const DOUBLE: bool>(p: &$crate::simd::Requantize<'_>, out: &mut [i8]) {
                // SAFETY: forwarded from `requantize`, whose `Requantize` was built by
                // `simd::requantize_channels`, `simd::requantize_uniform` or
                // `simd::requantize_term_sums`.
                unsafe { $crate::simd::requantize_body::<$isa, DOUBLE>(p, out) }
            }
            // SAFETY: as in `gemm`.
            unsafe { enabled::<DOUBLE>(p, out) }
        }
        fn depthwise<const DOUBLE: bool>(self, p: &$crate::simd::Depthwise<'_>, out: &mut [i8]) {
            /// # Safety
            /// The CPU must have the features; `p` must be as `simd::Depthwise` says and `out`
            /// hold `out_h * out_w * cols` bytes.
            #[target_feature(enable = $features)]
            unsafe fn enabled<const DOUBLE: bool>(p: &$crate::simd::Depthwise<'_>, out: &mut [i8]) {
                // SAFETY: forwarded from `depthwise` (arguments checked by `simd::depthwise`).
                unsafe { $crate::simd::depthwise_body::<$isa, DOUBLE>(p, out) }
            }
            // SAFETY: as in `gemm`.
            unsafe { enabled::<DOUBLE>(p, out) }
        }
        fn product(
            self,
            p: &$crate::simd::product::Product<'_>,
            scratch: &mut $crate::simd::product::Scratch,
            out: &mut [i8],
        ) {
            /// # Safety
            /// The CPU must have the features; `p` and `scratch` must be as
            /// `simd::product::batch_matmul` builds them and `out` hold `batch * m * n` bytes.
            #[target_feature(enable = $features)]
            unsafe fn enabled(
                isa: $isa,
                p: &$crate::simd::product::Product<'_>,
                scratch: &mut $crate::simd::product::Scratch,
                out: &mut [i8],
            ) {
                // SAFETY: forwarded from `product` (built by `simd::product::batch_matmul`).
                unsafe { $crate::simd::product::product_body::<$isa>(isa, p, scratch, out) }
            }
            // SAFETY: as in `gemm`.
            unsafe { enabled(self, p, scratch, out) }
        }
    };
}
pub(crate) use entry_points;

/// Whether `stage`'s output zero point is small enough (within 2^16) that the clamp around it
/// cannot overflow `i32`: where an ISA computes double rounding in `i32` lanes
/// ([`Isa::double_in_i32`]).
pub(crate) fn zero_point_is_small(stage: &OutputStage<'_>) -> bool {
    (-(1 << 16)..=1 << 16).contains(&stage.output_zero_point)
}

/// Per-channel constants of the output stage, widened once per call so that the vector
/// requantization reads them with plain loads. Padded with zeros to a whole number of
/// vectors; padded lanes are computed and thrown away.
///
/// Both rules end in one rounding shift of the exact 64-bit product `a * M` (with
/// `a = x.wrapping_shl(left)`, `left = 0` for [`crate::Rounding::Single`]):
/// `y = (a * M + round - (a * M < -2^30 ? neg : 0)) >> shr`. For `Single` that is
/// [`crate::requantize`] itself (`neg` unused). For `Double` with `right = max(-shift, 0)`:
/// `SaturatingRoundingDoublingHighMul` is `h = floor((a * M + 2^30) / 2^31)` (the nudge
/// `1 - 2^30` and C++'s truncating division round negative products exactly as `floor` with
/// the nudge `2^30` does; `MIN * MIN` cannot occur as `M <= i32::MAX`), and
/// `RoundingDivideByPOT(h, right)` for `right >= 1` is `floor((h + 2^(right - 1) - [h < 0]) /
/// 2^right)`. Nested floors of integers compose (`floor((floor(p / a) + c) / b) =
/// floor((p + c * a) / (a * b))`) and `h < 0` iff `a * M < -2^30`, so `Double` is
/// `shr = 31 + right`, `round = 2^30 + [right > 0] * 2^(30 + right)`,
/// `neg = [right > 0] * 2^31`. `|a * M| < 2^62` and `round <= 2^61 + 2^30`, so the sum
/// never overflows, and every `Double` result already lies in `i32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageVectors {
    /// `bias[c] - (lhs_offset) * row_sums[c]` (wrapping): the constant added to each raw dot
    /// product. `lhs_offset` is the zero point plus [`Isa::LHS_OFFSET`].
    pub fix: Vec<i32>,
    /// `max(multiplier, 0)` as i64. Empty, like `shr`, `round` and `neg`, for `Double` where
    /// the ISA computes it in `i32` lanes ([`Isa::double_in_i32`]).
    pub mult: Vec<i64>,
    /// `Single`: `31 - clamp(shift, -31, 30)`, 1..=62. `Double`: `31 + right`, 31..=62.
    pub shr: Vec<i64>,
    /// `Single`: `1 << (shr - 1)`. `Double`: `2^30 + [right > 0] * 2^(30 + right)`.
    pub round: Vec<i64>,
    /// `Double` only (empty for `Single`): `left = max(clamp(shift, -31, 30), 0)`, the `i32`
    /// lanes' wrapping left shift before the multiply.
    pub left: Vec<i32>,
    /// `Double` only (empty for `Single`): `[right > 0] * 2^31`, subtracted where the product is
    /// below `-2^30` (the high multiply's result is negative there).
    pub neg: Vec<i64>,
    /// `Double` in `i32` lanes only (else empty): `max(multiplier, 0)` as `i32`, for an ISA
    /// that computes the rule in its two steps ([`Isa::requant_double`]).
    pub mult_i32: Vec<i32>,
    /// `Double` in `i32` lanes only (else empty): `right = max(-clamp(shift, -31, 30), 0)`,
    /// the rounding divide's exponent in those two steps.
    pub right: Vec<i32>,
    /// `Double` in `i32` lanes where [`Isa::ROUNDING_VECTORS`] (else empty): `mult_i32[j + 1]`
    /// at every even `j` (0 at odd ones), which a 64-bit lane's low half multiplies the odd
    /// lane by without a shift.
    pub mult_odd: Vec<i32>,
    /// `Double` in `i32` lanes where [`Isa::ROUNDING_VECTORS`] (else empty): `2^right / 2`
    /// (0 where `right` is 0), which the rounding divide adds to the magnitude before its shift.
    pub round_half: Vec<i32>,
    /// Whether any channel's `left` is above zero: where none is, the shift is skipped.
    pub shifts_left: bool,
    /// The stage's bounds less its output zero point, and the zero point: `clamp(y + zp, min,
    /// max)` is `clamp(y, min - zp, max - zp) + zp` where `y` and `zp` are small, as in those two
    /// steps. Held here, so that a vector stage splats them with plain loads.
    pub bounds: [i32; 3],
}

impl StageVectors {
    /// The vectors `I` reads: for `Double`, the `i64` forms only where `I` does not compute
    /// the rule in `i32` lanes for this stage ([`Isa::double_in_i32`]). One plain loop per
    /// vector, so that each compiles to vector code: this runs on every call that was not
    /// prepared at load. Caller guarantees `row_sums`, `stage` and `bias` hold at least `n`
    /// channels.
    pub(crate) fn new<I: Isa>(
        n: usize,
        padded: usize,
        row_sums: Option<&[i32]>,
        bias: Option<&[i32]>,
        lhs_offset: i32,
        stage: &OutputStage<'_>,
    ) -> Self {
        let n = n.min(padded);
        let double = stage.rounding == Rounding::Double;
        let wide = !double || !I::double_in_i32(stage);
        let mut sv = StageVectors {
            fix: vec![0i32; padded],
            mult: Vec::new(),
            shr: Vec::new(),
            round: Vec::new(),
            left: Vec::new(),
            neg: Vec::new(),
            mult_i32: Vec::new(),
            right: Vec::new(),
            mult_odd: Vec::new(),
            round_half: Vec::new(),
            shifts_left: false,
            bounds: {
                let zp = stage.output_zero_point;
                [i32::from(stage.clamp_min).wrapping_sub(zp), i32::from(stage.clamp_max).wrapping_sub(zp), zp]
            },
        };
        match (bias, row_sums) {
            (Some(b), Some(s)) => {
                for ((f, &b), &s) in sv.fix.iter_mut().zip(&b[..n]).zip(&s[..n]) {
                    *f = b.wrapping_sub(lhs_offset.wrapping_mul(s));
                }
            }
            (None, Some(s)) => {
                for (f, &s) in sv.fix.iter_mut().zip(&s[..n]) {
                    *f = lhs_offset.wrapping_mul(s).wrapping_neg();
                }
            }
            (Some(b), None) => sv.fix[..n].copy_from_slice(&b[..n]),
            (None, None) => {}
        }
        // The same clamps as `requantize` / `requantize_double`, so out-of-range arguments
        // behave identically.
        let multiplier = &stage.multiplier[..n];
        let shift = || stage.shift[..n].iter().map(|&s| i32::from(s).clamp(-31, 30));
        if wide {
            sv.mult = padded_vec(multiplier.iter().map(|&m| i64::from(m.max(0))), padded, 0);
        }
        if !double {
            sv.shr = padded_vec(shift().map(|s| 31 - i64::from(s)), padded, 1);
            sv.round = padded_vec(shift().map(|s| 1i64 << (30 - s)), padded, 1);
            return sv;
        }
        let right = |s: i32| (-s).max(0);
        sv.left = padded_vec(shift().map(|s| s.max(0)), padded, 0);
        sv.shifts_left = sv.left.iter().any(|&l| l > 0);
        if wide {
            sv.shr = padded_vec(shift().map(|s| 31 + i64::from(right(s))), padded, 1);
            sv.round = padded_vec(
                shift().map(|s| (1i64 << 30) + if right(s) > 0 { 1i64 << (30 + right(s)) } else { 0 }),
                padded,
                1,
            );
            sv.neg = padded_vec(shift().map(|s| if right(s) > 0 { 1i64 << 31 } else { 0 }), padded, 0);
        } else {
            sv.mult_i32 = padded_vec(multiplier.iter().map(|&m| m.max(0)), padded, 0);
            sv.right = padded_vec(shift().map(right), padded, 0);
            if I::ROUNDING_VECTORS {
                sv.mult_odd = (0..padded)
                    .map(|j| if j % 2 == 0 { sv.mult_i32.get(j + 1).copied().unwrap_or(0) } else { 0 })
                    .collect();
                sv.round_half = padded_vec(shift().map(|s| ((1i64 << right(s)) >> 1) as i32), padded, 0);
            }
        }
        sv
    }
}

/// `values`, then `pad` up to `len` entries.
fn padded_vec<T: Copy>(values: impl Iterator<Item = T>, len: usize, pad: T) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    v.extend(values);
    v.resize(len, pad);
    v
}

/// The stage vectors [`qgemm`] builds for a panel-layout product on `I` (`None` for the dot
/// layout, which needs none), built ahead of the calls that will use them.
pub(crate) fn prepare_stage<I: Isa>(
    n: usize,
    k: usize,
    row_sums: &[i32],
    lhs_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
) -> Option<StageVectors> {
    if use_dot(n, k) {
        return None;
    }
    let np = round_up(n, I::LANES)?;
    Some(StageVectors::new::<I>(n, np, Some(row_sums), bias, lhs_zero_point.wrapping_add(I::LHS_OFFSET), stage))
}

/// Rounds `len` up to a multiple of `to` (a power of two), or `None` on overflow.
pub(crate) fn round_up(len: usize, to: usize) -> Option<usize> {
    len.checked_add(to - 1).map(|v| v & !(to - 1))
}

/// Narrow, deep matrices (at most 8 columns, depth at least 128) use the dot layout: padding
/// them to a panel would stream several times their weight bytes. Each column is then its
/// own row of `k` bytes (padded to [`Isa::DOT_CHUNK`]) and one output is a horizontal sum.
pub(crate) fn use_dot(n: usize, k: usize) -> bool {
    n <= 8 && k >= 128
}

/// Packed size and reduction depth `(bytes, kp)`: `(round_up(n, LANES) * kp, round_up(k,
/// GROUP))` for panels, `(n * kp, round_up(k, DOT_CHUNK))` for the dot layout.
pub(crate) fn packed_dims<I: Isa>(n: usize, k: usize) -> Option<(usize, usize)> {
    if use_dot(n, k) {
        let kp = round_up(k, I::DOT_CHUNK)?;
        return Some((n.checked_mul(kp)?, kp));
    }
    let kp = round_up(k, I::GROUP)?;
    Some((round_up(n, I::LANES)?.checked_mul(kp)?, kp))
}

/// Lays out row-major `n x k` weights for `I`: the dot layout ([`use_dot`]), or panels of
/// `PANEL` columns (the last narrower, a whole number of vectors) with `GROUP` consecutive
/// `k` of a column side by side: for each group of `k`, the columns of the panel in order,
/// which is `out[c0 * kp + (kk / GROUP) * w * GROUP + j * GROUP + kk % GROUP]` for column
/// `c0 + j` of a `w`-wide panel. Padding is zero, so it adds nothing to a dot product. The
/// panels start on cache lines (whole tiles of them are read at once on the tiles' path).
pub(crate) fn pack<I: Isa>(weights: &[i8], n: usize, k: usize) -> Option<LineAligned<i8>> {
    let (size, kp) = packed_dims::<I>(n, k)?;
    let mut out = LineAligned::zeroed(size)?;
    if use_dot(n, k) {
        for (dst, src) in out.chunks_exact_mut(kp).zip(weights.chunks_exact(k)) {
            dst[..k].copy_from_slice(src);
        }
        return Some(out);
    }
    let np = out.len() / kp.max(1);
    let mut c0 = 0;
    while c0 < np && kp > 0 {
        let w = I::PANEL.min(np - c0);
        let block = &mut out[c0 * kp..(c0 + w) * kp];
        for col in c0..(c0 + w).min(n) {
            // Walk the column's groups with a running offset: one fixed-size copy per group,
            // no divisions.
            let mut at = (col - c0) * I::GROUP;
            let mut groups = weights[col * k..(col + 1) * k].chunks_exact(I::GROUP);
            for group in &mut groups {
                block[at..at + I::GROUP].copy_from_slice(group);
                at += w * I::GROUP;
            }
            let rest = groups.remainder();
            if !rest.is_empty() {
                block[at..at + rest.len()].copy_from_slice(rest);
            }
        }
        c0 += w;
    }
    Some(out)
}

/// A packed matrix product, checked by [`qgemm`]: `packed` is the panel layout of an
/// `n x kp` matrix (`np * kp` bytes), `xs` `m` rows of `kp` widened activations (or, where
/// the ISA [widens them itself](Isa::widens_rows_itself), empty and the rows in `raw`), `sv`
/// built from `stage` with `np` entries.
#[derive(Debug)]
pub(crate) struct Gemm<'a, X> {
    pub(crate) packed: &'a [i8],
    pub(crate) xs: &'a [X],
    pub(crate) raw: Option<RawRows<'a>>,
    pub(crate) m: usize,
    pub(crate) n: usize,
    pub(crate) np: usize,
    pub(crate) kp: usize,
    pub(crate) sv: &'a StageVectors,
    pub(crate) stage: &'a OutputStage<'a>,
    /// Where the rows are in `xs`. `None`: row `r` is `xs[r * kp..(r + 1) * kp]`. `Some`: row
    /// `r` is the `segments` runs `xs[offsets[r * segments + s]..][..segment_len]` in order
    /// (`segments * segment_len == kp`, `segment_len` a multiple of `GROUP`, every run inside
    /// `xs`: checked by [`qgemm_gathered`]).
    pub(crate) gather: Option<&'a [usize]>,
    pub(crate) segments: usize,
    pub(crate) segment_len: usize,
}

/// The activations as the caller gave them, for an ISA that widens them itself: the bytes
/// `image` then `extra`, where a gathered row's runs lie (`Gemm::gather` offsets index the
/// two as one), or, not gathered, row `r` at `image[r * row_len..][..row_len]` (`extra`
/// empty, `row_len` the depth before padding). Checked by [`qgemm`] and [`qgemm_gathered`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRows<'a> {
    pub(crate) image: &'a [i8],
    pub(crate) extra: &'a [i8],
    pub(crate) row_len: usize,
}

/// The activations of `rows` widened as [`Gemm::xs`] holds them: `gathered`, the image then
/// `extra` as one (the offsets index them); otherwise `m` rows of `row_len` widened bytes,
/// each padded to `kp` with zeros (which meet the weights' zero padding). The caller checked
/// that `m * kp` does not overflow.
pub(crate) fn widen_rows<I: Isa>(rows: &RawRows<'_>, gathered: bool, m: usize, kp: usize) -> Vec<I::X> {
    if gathered {
        let mut xs = Vec::with_capacity(rows.image.len() + rows.extra.len());
        xs.extend(rows.image.iter().chain(rows.extra).map(|&x| I::widen(x)));
        return xs;
    }
    let mut xs = vec![I::X::default(); m * kp];
    if rows.row_len > 0 {
        for (dst, src) in xs.chunks_exact_mut(kp).zip(rows.image.chunks_exact(rows.row_len)) {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = I::widen(s);
            }
        }
    }
    xs
}

impl<X> Gemm<'_, X> {
    /// The index in `xs` of segment `s` of row `r`.
    #[inline(always)]
    pub(crate) fn segment_start(&self, r: usize, s: usize) -> usize {
        match self.gather {
            None => r * self.kp,
            Some(offsets) => offsets[r * self.segments + s],
        }
    }
}

/// A dot-layout product, checked by [`qgemm`]: `packed` holds `n` rows of `kp` bytes (zero
/// past `k`), `lhs` the `m` rows of `k` raw activations; `kp = round_up(k, DOT_CHUNK)`.
#[derive(Debug)]
pub(crate) struct Dot<'a> {
    packed: &'a [i8],
    lhs: &'a [i8],
    m: usize,
    n: usize,
    k: usize,
    kp: usize,
    row_sums: &'a [i32],
    bias: Option<&'a [i32]>,
    lhs_offset: i32,
    stage: &'a OutputStage<'a>,
}

/// The output stage on whole vectors, built by [`requantize_channels`] or
/// [`requantize_uniform`]: `np`, a multiple of `LANES`, is at most `acc.len()`, and
/// `sv` is built from `stage` with `np` entries. With `terms` (built by
/// [`requantize_term_sums`], `uniform`, `acc` empty) the sums come from the two tables
/// instead, for every element of `terms`.
#[derive(Debug)]
pub(crate) struct Requantize<'a> {
    acc: &'a [i32],
    np: usize,
    /// Every element uses the first `LANES` constants of `sv` (all equal) rather than its own.
    uniform: bool,
    sv: &'a StageVectors,
    stage: &'a OutputStage<'a>,
    terms: Option<TermSums<'a>>,
}

/// 256 `i32` terms indexed by a byte read as unsigned, for [`requantize_term_sums`]: the words,
/// and the same words as four planes of bytes (plane `p` holds byte `p` of every word, the
/// lowest first) for an ISA that looks up bytes 64 at a time ([`Isa::lookup_terms`]).
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct TermTable {
    pub(crate) words: [i32; 256],
    pub(crate) planes: [[u8; 256]; 4],
}

impl TermTable {
    pub(crate) fn new(words: &[i32; 256]) -> Self {
        let planes = core::array::from_fn(|p| core::array::from_fn(|i| (words[i] >> (8 * p)) as u8));
        Self { words: *words, planes }
    }
}

/// The inputs of a term-sum stage: element `i` is `lhs_table.words[lhs[i] as u8] +
/// rhs_table.words[rhs[i] as u8]` (wrapping), for `i < lhs.len()`; `rhs` and the output are as
/// long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TermSums<'a> {
    lhs_table: &'a TermTable,
    rhs_table: &'a TermTable,
    lhs: &'a [i8],
    rhs: &'a [i8],
}

/// A depthwise convolution with depth multiplier 1, checked by [`depthwise`]: `input`
/// `in_h x in_w x cols`, `weights` `kernel_h x kernel_w x cols`, `sv` built from `stage` with
/// `round_up(cols, LANES)` entries.
#[derive(Debug)]
pub(crate) struct Depthwise<'a> {
    g: &'a WindowGeometry,
    cols: usize,
    input: &'a [i8],
    input_zero_point: i32,
    weights: &'a [i8],
    sv: &'a StageVectors,
    stage: &'a OutputStage<'a>,
    /// The taps in pairs for the pixels whose window lies inside the image, where packing
    /// them pays (see [`paired_taps`]); unused where `rows` is given.
    paired: Option<&'a PairedTaps>,
    /// The taps in pairs along one axis over rows of pairs prepared per call, where the
    /// layer's shape admits them (see [`row_pairs`]): then every pixel takes that path.
    rows: Option<&'a RowPairs>,
}

/// `qgemm` on weights packed by [`pack`] for `I`. Lengths of `lhs`, `bias`, `out` and the
/// stage were checked by [`crate::qgemm`]; the packed length is checked here.
#[allow(clippy::too_many_arguments)]
pub(crate) fn qgemm<I: Isa>(
    isa: I,
    packed: &[i8],
    row_sums: &[i32],
    n: usize,
    k: usize,
    lhs: &[i8],
    m: usize,
    lhs_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    prepared: Option<&StageVectors>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    let overflow = KernelError::SizeOverflow { kernel: "qgemm" };
    let (size, kp) = packed_dims::<I>(n, k).ok_or(overflow.clone())?;
    check_len("qgemm", "packed", size, packed.len())?;
    check_len("qgemm", "row_sums", n, row_sums.len())?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let lhs_offset = lhs_zero_point.wrapping_add(I::LHS_OFFSET);
    if use_dot(n, k) {
        // The dot lanes widen the raw activations themselves: no per-call copy.
        let p = Dot { packed, lhs, m, n, k, kp, row_sums, bias, lhs_offset, stage };
        isa.dot(&p, out);
        return Ok(());
    }
    let np = round_up(n, I::LANES).ok_or(overflow.clone())?;
    // The widened rows' size, checked whoever widens them.
    m.checked_mul(kp).ok_or(overflow)?;
    let rows = RawRows { image: lhs, extra: &[], row_len: k };
    let raw = I::widens_rows_itself(m, np, kp).then_some(rows);
    let xs = if raw.is_some() { Vec::new() } else { widen_rows::<I>(&rows, false, m, kp) };
    let built;
    let sv = match prepared {
        Some(sv) => sv,
        None => {
            built = StageVectors::new::<I>(n, np, Some(row_sums), bias, lhs_offset, stage);
            &built
        }
    };
    let p = Gemm { packed, xs: &xs, raw, m, n, np, kp, sv, stage, gather: None, segments: 1, segment_len: kp };
    match stage.rounding {
        Rounding::Single => isa.gemm::<false>(&p, out),
        Rounding::Double => isa.gemm::<true>(&p, out),
    }
    Ok(())
}

/// Whether [`qgemm_gathered`] can read runs of `segment_len` activations in place for an
/// `n x k` matrix on `I` (otherwise the caller copies the rows out and calls [`qgemm`]): the
/// panel layout, whole groups per run, and runs long enough that finding them costs less than
/// copying them.
pub(crate) fn gathers<I: Isa>(n: usize, k: usize, segment_len: usize) -> bool {
    !use_dot(n, k) && segment_len >= 16 && segment_len.is_multiple_of(I::GROUP)
}

/// `qgemm` on weights packed by [`pack`] for `I`, each row of activations gathered from runs
/// of `source` (the image, then `extra`) at `offsets` instead of copied out first: `image` and
/// `extra` are widened once, whatever the number of rows that read them. The caller checked
/// the lengths of `bias`, `out` and the stage and that [`gathers`] holds; the offsets and the
/// packed length are checked here.
#[allow(clippy::too_many_arguments)]
pub(crate) fn qgemm_gathered<I: Isa>(
    isa: I,
    packed: &[i8],
    row_sums: &[i32],
    n: usize,
    k: usize,
    (image, extra): (&[i8], &[i8]),
    offsets: &[usize],
    segment_len: usize,
    m: usize,
    lhs_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    prepared: Option<&StageVectors>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    let overflow = KernelError::SizeOverflow { kernel: "qgemm_gathered" };
    let (size, kp) = packed_dims::<I>(n, k).ok_or(overflow.clone())?;
    check_len("qgemm_gathered", "packed", size, packed.len())?;
    check_len("qgemm_gathered", "row_sums", n, row_sums.len())?;
    if m == 0 || n == 0 || segment_len == 0 || !segment_len.is_multiple_of(I::GROUP) || kp != k {
        return Err(KernelError::Length { kernel: "qgemm_gathered", buffer: "segment", expected: kp, actual: k });
    }
    let segments = k / segment_len;
    check_len("qgemm_gathered", "segments", k, segments.saturating_mul(segment_len))?;
    check_len("qgemm_gathered", "offsets", m.checked_mul(segments).ok_or(overflow.clone())?, offsets.len())?;
    let total = image.len().checked_add(extra.len()).ok_or(overflow.clone())?;
    if let Some(&bad) = offsets.iter().find(|&&o| o.checked_add(segment_len).is_none_or(|end| end > total)) {
        return Err(KernelError::Length { kernel: "qgemm_gathered", buffer: "offset", expected: total, actual: bad });
    }
    let np = round_up(n, I::LANES).ok_or(overflow)?;
    let rows = RawRows { image, extra, row_len: k };
    let raw = I::widens_rows_itself(m, np, kp).then_some(rows);
    let xs = if raw.is_some() { Vec::new() } else { widen_rows::<I>(&rows, true, m, kp) };
    let lhs_offset = lhs_zero_point.wrapping_add(I::LHS_OFFSET);
    let built;
    let sv = match prepared {
        Some(sv) => sv,
        None => {
            built = StageVectors::new::<I>(n, np, Some(row_sums), bias, lhs_offset, stage);
            &built
        }
    };
    let p = Gemm { packed, xs: &xs, raw, m, n, np, kp, sv, stage, gather: Some(offsets), segments, segment_len };
    match stage.rounding {
        Rounding::Single => isa.gemm::<false>(&p, out),
        Rounding::Double => isa.gemm::<true>(&p, out),
    }
    Ok(())
}

/// Rows of the left-hand side computed together by [`tile`].
const MR: usize = 4;
/// Rows per tile where the panel is at most two 8-lane vectors wide.
const WIDE_MR: usize = 6;

/// All panels and rows of the product: `MR`-row tiles, then single rows ([`row`]).
///
/// # Safety
/// The ISA's features must be enabled (a token was checked), `p` must be as [`Gemm`] says
/// and `out` hold `m * n` bytes.
#[inline(always)]
pub(crate) unsafe fn gemm_body<I: Isa, const DOUBLE: bool>(p: &Gemm<'_, I::X>, out: &mut [i8]) {
    let mut c0 = 0;
    while c0 < p.np {
        let w = I::PANEL.min(p.np - c0);
        let panel = &p.packed[c0 * p.kp..(c0 + w) * p.kp];
        let mut r = 0;
        // SAFETY (all calls): `panel` holds `w * kp` bytes with `w = vectors * LANES`, rows
        // `r..r + MR` (or `r`) are below `m`, and the features are the caller's.
        unsafe {
            // With 8-lane vectors (AVX2, 16 vector registers) a panel of at most two vectors
            // leaves room for six rows of accumulators (12, plus 2 weights and 1 activation):
            // a third fewer weight loads per multiply-accumulate. Wider ISAs keep `MR`: on
            // AVX-512 (Sapphire Rapids) six rows of four vectors ran 1.6x-1.9x the time of
            // four (784x576x64, 256x1024x1024), and six rows of one or two vectors gained at
            // most 8% (196x144x32) while the 256x1024x1024 GEMM, which never takes them, lost
            // 18% in the same build.
            if I::LANES == 8 && w / I::LANES <= 2 {
                while r + WIDE_MR <= p.m {
                    match w / I::LANES {
                        1 => tile::<I, WIDE_MR, 1, DOUBLE>(p, panel, r, c0, out),
                        _ => tile::<I, WIDE_MR, 2, DOUBLE>(p, panel, r, c0, out),
                    }
                    r += WIDE_MR;
                }
            }
            while r + MR <= p.m {
                match w / I::LANES {
                    1 => tile::<I, MR, 1, DOUBLE>(p, panel, r, c0, out),
                    2 => tile::<I, MR, 2, DOUBLE>(p, panel, r, c0, out),
                    3 => tile::<I, MR, 3, DOUBLE>(p, panel, r, c0, out),
                    _ => tile::<I, MR, 4, DOUBLE>(p, panel, r, c0, out),
                }
                r += MR;
            }
            while r < p.m {
                match w / I::LANES {
                    1 => row::<I, 1, DOUBLE>(p, panel, r, c0, out),
                    2 => row::<I, 2, DOUBLE>(p, panel, r, c0, out),
                    3 => row::<I, 3, DOUBLE>(p, panel, r, c0, out),
                    _ => row::<I, 4, DOUBLE>(p, panel, r, c0, out),
                }
                r += 1;
            }
        }
        c0 += w;
    }
}

/// `R` rows by `Y` vectors of output columns, accumulated over the whole depth in registers.
///
/// # Safety
/// As [`gemm_body`]; `panel` must hold `Y * LANES * kp` bytes and `r0 + R <= m`.
#[inline(always)]
unsafe fn tile<I: Isa, const R: usize, const Y: usize, const DOUBLE: bool>(
    p: &Gemm<'_, I::X>,
    panel: &[i8],
    r0: usize,
    c0: usize,
    out: &mut [i8],
) {
    let step = I::LANES * I::GROUP;
    // SAFETY: the features are the caller's.
    let mut acc = [[unsafe { I::splat(0) }; Y]; R];
    let (wp, xp) = (panel.as_ptr(), p.xs.as_ptr());
    let groups = p.segment_len / I::GROUP;
    for s in 0..p.segments {
        // SAFETY: segment `s` of each row `r0 + i < m` is `segment_len` values inside `xs`
        // (`Gemm`'s contract).
        let rows: [*const I::X; R] = core::array::from_fn(|i| unsafe { xp.add(p.segment_start(r0 + i, s)) });
        // SAFETY: segments of whole groups cover `kp` in order, so segment `s` starts at
        // group `s * groups` of the panel.
        let wseg = unsafe { wp.add(s * groups * Y * step) };
        // Two groups per trip halve the loop's own instructions, which otherwise crowd the
        // multiply-accumulates out of the front end.
        // SAFETY (all calls): group `g < groups` of each row's segment and of the panel's part
        // for it are readable; the features are the caller's.
        let mut g = 0;
        while g + 2 <= groups {
            unsafe {
                tile_group::<I, R, Y>(&mut acc, &rows, wseg, g);
                tile_group::<I, R, Y>(&mut acc, &rows, wseg, g + 1);
            }
            g += 2;
        }
        if g < groups {
            unsafe { tile_group::<I, R, Y>(&mut acc, &rows, wseg, g) };
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        for (y, &a) in acc_row.iter().enumerate() {
            // SAFETY: `c0 + Y * LANES <= np`, the stage vectors' length.
            unsafe { finish::<I, DOUBLE>(p, a, r0 + i, c0 + y * I::LANES, out) };
        }
    }
}

/// Group `g` of the depth for `R` rows by `Y` vectors of columns: one weight load per vector,
/// one broadcast per row, `R * Y` multiply-accumulates into `acc`.
///
/// A function, not a closure, because a closure does not inherit the target features of the
/// driver it is inlined into: where LLVM declines to inline it, every lane method in it
/// becomes a call through memory (AVX-512's `tile` did, with `R * Y = 16`: kws took 5.2x
/// its AVX2 time, resnet_large 11.5x). `inline(always)` puts the lanes back inside the enabled driver.
///
/// # Safety
/// As [`gemm_body`]; each row pointer must have `(g + 1) * GROUP` values readable and `wseg`
/// must hold group `g`'s `Y * LANES * GROUP` bytes at `g * Y * LANES * GROUP`.
#[inline(always)]
unsafe fn tile_group<I: Isa, const R: usize, const Y: usize>(
    acc: &mut [[I::V; Y]; R],
    rows: &[*const I::X; R],
    wseg: *const i8,
    g: usize,
) {
    let step = I::LANES * I::GROUP;
    // SAFETY: the caller's contract for `wseg`, `rows` and the features.
    unsafe {
        let mut w = [I::splat(0); Y];
        for (y, wy) in w.iter_mut().enumerate() {
            *wy = I::load_weights(wseg.add((g * Y + y) * step));
        }
        for (acc_row, &row) in acc.iter_mut().zip(rows) {
            let x = I::broadcast_group(row.add(g * I::GROUP));
            for (a, &wy) in acc_row.iter_mut().zip(&w) {
                *a = I::madd(*a, x, wy);
            }
        }
    }
}

/// One row (the matrix-vector case) by `Y` vectors of columns. With a single row, each
/// column's accumulator would be one chain of dependent multiply-accumulates, so the depth is
/// split over four independent accumulator sets, added at the end (wrapping `i32` addition
/// is associative, so the sum is the same).
///
/// # Safety
/// As [`tile`] with `R = 1`.
#[inline(always)]
unsafe fn row<I: Isa, const Y: usize, const DOUBLE: bool>(
    p: &Gemm<'_, I::X>,
    panel: &[i8],
    r0: usize,
    c0: usize,
    out: &mut [i8],
) {
    const U: usize = 4;
    let step = I::LANES * I::GROUP;
    // SAFETY: the features are the caller's.
    let mut acc = [[unsafe { I::splat(0) }; Y]; U];
    let (wp, xp) = (panel.as_ptr(), p.xs.as_ptr());
    let groups = p.segment_len / I::GROUP;
    for s in 0..p.segments {
        // SAFETY: segment `s` of row `r0 < m` is `segment_len` values inside `xs`, and it
        // meets the panel's groups from `s * groups` on (`Gemm`'s contract).
        let (row, wseg) = unsafe { (xp.add(p.segment_start(r0, s)), wp.add(s * groups * Y * step)) };
        // SAFETY (all calls): group `g < groups` of the segment and of the panel's part for it
        // are readable; the features are the caller's.
        let mut g = 0;
        while g + U <= groups {
            for (u, acc_u) in acc.iter_mut().enumerate() {
                unsafe { tile_group::<I, 1, Y>(core::array::from_mut(acc_u), &[row], wseg, g + u) };
            }
            g += U;
        }
        while g < groups {
            unsafe { tile_group::<I, 1, Y>(core::array::from_mut(&mut acc[0]), &[row], wseg, g) };
            g += 1;
        }
    }
    // Indexing four accumulator sets by column is clearer than zipping four iterators.
    #[allow(clippy::needless_range_loop)]
    for y in 0..Y {
        // SAFETY: the features are the caller's.
        let sum = unsafe { I::add(I::add(acc[0][y], acc[1][y]), I::add(acc[2][y], acc[3][y])) };
        // SAFETY: `c0 + Y * LANES <= np`, the stage vectors' length.
        unsafe { finish::<I, DOUBLE>(p, sum, r0, c0 + y * I::LANES, out) };
    }
}

/// Adds the per-column constant to the raw sums of columns `col..col + LANES` of row `r`,
/// requantizes and stores the columns below `n`.
///
/// # Safety
/// As [`gemm_body`]; `col + LANES <= np` and `r < m`.
#[inline(always)]
pub(crate) unsafe fn finish<I: Isa, const DOUBLE: bool>(
    p: &Gemm<'_, I::X>,
    acc: I::V,
    r: usize,
    col: usize,
    out: &mut [i8],
) {
    if col >= p.n {
        return;
    }
    // SAFETY: the stage vectors hold `np >= col + LANES` entries.
    let bytes =
        unsafe { requant::<I, DOUBLE>(I::add(acc, I::load_i32(p.sv.fix.as_ptr().add(col))), p.sv, col, p.stage) };
    // SAFETY: the features are the caller's.
    unsafe { store::<I>(bytes, &mut out[r * p.n + col..(r + 1) * p.n]) };
}

/// `stage.apply(acc[j], col + j)` for every lane, from the widened constants `sv`.
///
/// # Safety
/// The ISA's features must be enabled; `sv` must be built from `stage` with at least
/// `col + LANES` entries per vector, and `DOUBLE` must match `stage.rounding`.
#[inline(always)]
unsafe fn requant<I: Isa, const DOUBLE: bool>(
    acc: I::V,
    sv: &StageVectors,
    col: usize,
    stage: &OutputStage<'_>,
) -> I::Bytes {
    // SAFETY: forwarded (the caller's contract).
    unsafe {
        if DOUBLE { I::requant_double(acc, sv, col, stage) } else { requant_wide::<I, false>(acc, sv, col, stage) }
    }
}

/// [`Isa::depthwise_pair`] from `mullo`s, exact on any ISA: the pairs split into two vectors of
/// weights in scalar code, then one product per tap.
///
/// # Safety
/// As [`Isa::depthwise_pair`].
#[inline(always)]
pub(crate) unsafe fn depthwise_pair_by_mullo<I: Isa>(acc: I::V, a: *const i8, b: *const i8, w: *const i32) -> I::V {
    const { assert!(I::LANES <= 16) };
    let (mut lo, mut hi) = ([0i32; 16], [0i32; 16]);
    for j in 0..I::LANES {
        // SAFETY: `w` is valid for `LANES` reads (the caller's contract).
        let pair = unsafe { w.add(j).read_unaligned() };
        (lo[j], hi[j]) = (i32::from(pair as i16), pair >> 16);
    }
    // SAFETY: the caller's contract for `a` and `b`; `lo` and `hi` hold 16 >= LANES values.
    unsafe {
        let low = I::mullo(I::load_i8(a), I::load_i32(lo.as_ptr()));
        I::add(acc, I::add(low, I::mullo(I::load_i8(b), I::load_i32(hi.as_ptr()))))
    }
}

/// [`requant`] in the one-shift form: the double rounding's wrapping left shift in 32-bit
/// lanes, then each half in 64-bit lanes.
///
/// # Safety
/// As [`requant`].
#[inline(always)]
pub(crate) unsafe fn requant_wide<I: Isa, const DOUBLE: bool>(
    acc: I::V,
    sv: &StageVectors,
    col: usize,
    stage: &OutputStage<'_>,
) -> I::Bytes {
    // SAFETY: `sv.left` (filled for `Double`) and the other vectors hold `col + LANES`
    // entries; the features are the caller's.
    unsafe {
        let acc = if DOUBLE { I::shl(acc, I::load_i32(sv.left.as_ptr().add(col))) } else { acc };
        let (lo, hi) = I::widen_halves(acc);
        let half = I::LANES / 2;
        I::narrow(requant_half::<I, DOUBLE>(lo, sv, col, stage), requant_half::<I, DOUBLE>(hi, sv, col + half, stage))
    }
}

/// `LANES / 2` lanes of the output stage in its one-shift form (see [`StageVectors`]) for
/// channels `col..`: `(x * mult + round - [DOUBLE && x * mult < -2^30] * neg) >> shr`, clamped
/// to `i32` unless `DOUBLE` (its result is always in range), plus the output zero point,
/// clamped to the stage's bounds. `|x * M| < 2^62` and `round <= 2^61 + 2^30`: no sum
/// overflows.
///
/// # Safety
/// As [`requant`], for `col + LANES / 2` entries.
#[inline(always)]
unsafe fn requant_half<I: Isa, const DOUBLE: bool>(
    x: I::W,
    sv: &StageVectors,
    col: usize,
    stage: &OutputStage<'_>,
) -> I::W {
    // SAFETY: every vector of `sv` (`neg` too, for `Double`) holds `col + LANES / 2` entries;
    // the features are the caller's.
    unsafe {
        let p = I::mul_i32(x, I::load_i64(sv.mult.as_ptr().add(col)));
        let t = I::add_i64(p, I::load_i64(sv.round.as_ptr().add(col)));
        let t = if DOUBLE { I::sub_where_below(t, p, I::load_i64(sv.neg.as_ptr().add(col))) } else { t };
        let y = I::sra_i64(t, I::load_i64(sv.shr.as_ptr().add(col)));
        let y = if DOUBLE {
            y
        } else {
            I::clamp_i64(y, I::splat_i64(i64::from(i32::MIN)), I::splat_i64(i64::from(i32::MAX)))
        };
        let y = I::add_i64(y, I::splat_i64(i64::from(stage.output_zero_point)));
        I::clamp_i64(y, I::splat_i64(i64::from(stage.clamp_min)), I::splat_i64(i64::from(stage.clamp_max)))
    }
}

/// Stores up to `LANES` bytes into `dst` (fewer at the right edge of a matrix or the last
/// channels of a pixel).
///
/// # Safety
/// The ISA's features must be enabled (the caller runs inside an entry point).
#[inline(always)]
unsafe fn store<I: Isa>(bytes: I::Bytes, dst: &mut [i8]) {
    const { assert!(I::LANES <= 16) };
    if dst.len() >= I::LANES {
        // SAFETY: `dst` has at least `LANES` bytes; the features are the caller's.
        unsafe { I::store(bytes, dst.as_mut_ptr()) };
    } else {
        // SAFETY: `dst` has `len < LANES` bytes; the features are the caller's.
        unsafe { I::store_prefix(bytes, dst.as_mut_ptr(), dst.len()) };
    }
}

/// Each output is `sum(lhs_row * w_col)` over `DOT_CHUNK` steps of raw activations in four
/// independent accumulators, then a horizontal (wrapping) sum, the per-column constant and
/// the scalar output stage (at most 8 columns per row, so the stage is not the cost). The
/// last `k % DOT_CHUNK` activations of a row are copied once per row into a zeroed chunk;
/// its padding meets the weights' zero padding, so it adds nothing.
///
/// # Safety
/// The ISA's features must be enabled, `p` must be as [`Dot`] says, `row_sums` and `stage`
/// hold `n` channels (and `bias`, if given), and `out` `m * n` bytes.
#[inline(always)]
pub(crate) unsafe fn dot_body<I: Isa>(p: &Dot<'_>, out: &mut [i8]) {
    const MAX_CHUNK: usize = 64;
    const { assert!(I::DOT_CHUNK <= MAX_CHUNK) };
    let chunks = p.k / I::DOT_CHUNK;
    let rest = p.k % I::DOT_CHUNK;
    let mut tail = [0i8; MAX_CHUNK];
    for r in 0..p.m {
        let x = &p.lhs[r * p.k..(r + 1) * p.k];
        tail[..rest].copy_from_slice(&x[chunks * I::DOT_CHUNK..]);
        let (xp, tp) = (x.as_ptr(), tail.as_ptr());
        for c in 0..p.n {
            let wp = p.packed[c * p.kp..(c + 1) * p.kp].as_ptr();
            // SAFETY (all lane calls): chunk `i < k / DOT_CHUNK` is inside the `k`-long
            // activation row and the `kp`-long weight row; with a tail, chunk `k / DOT_CHUNK`
            // of the weight row is inside `kp = round_up(k, DOT_CHUNK)` and `tail` holds
            // `MAX_CHUNK >= DOT_CHUNK` bytes; the features are the caller's.
            let raw = unsafe {
                let chunk = |acc: I::V, i: usize| I::dot_chunk(acc, xp.add(i * I::DOT_CHUNK), wp.add(i * I::DOT_CHUNK));
                let zero = I::splat(0);
                let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
                let mut i = 0;
                while i + 4 <= chunks {
                    (a0, a1, a2, a3) = (chunk(a0, i), chunk(a1, i + 1), chunk(a2, i + 2), chunk(a3, i + 3));
                    i += 4;
                }
                while i < chunks {
                    a0 = chunk(a0, i);
                    i += 1;
                }
                if rest > 0 {
                    a1 = I::dot_chunk(a1, tp, wp.add(chunks * I::DOT_CHUNK));
                }
                I::reduce_add(I::add(I::add(a0, a1), I::add(a2, a3)))
            };
            let fix = p.bias.map_or(0, |b| b[c]).wrapping_sub(p.lhs_offset.wrapping_mul(p.row_sums[c]));
            out[r * p.n + c] = p.stage.apply(raw.wrapping_add(fix), c);
        }
    }
}

/// Applies the output stage to `acc` (one accumulator per channel), writing `out`: whole
/// vectors through the lanes, the last `len % LANES` channels in scalar code. Lengths were
/// checked by the caller.
pub(crate) fn requantize_channels<I: Isa>(isa: I, acc: &[i32], stage: &OutputStage<'_>, out: &mut [i8]) {
    let n = acc.len().min(out.len());
    let np = (n / I::LANES) * I::LANES;
    let sv = StageVectors::new::<I>(n, np, None, None, 0, stage);
    requantize_under_rounding(isa, &Requantize { acc, np, sv: &sv, stage, uniform: false, terms: None }, out);
    for c in np..n {
        out[c] = stage.apply(acc[c], c);
    }
}

/// Channel 0 of `stage` widened for one vector (every lane the same): the elementwise ops'
/// single scale.
pub(crate) fn one_scale_vectors<I: Isa>(stage: &OutputStage<'_>) -> StageVectors {
    let (multiplier, shift) = ([stage.multiplier[0]; 16], [stage.shift[0]; 16]);
    let one_vector = OutputStage { multiplier: &multiplier[..I::LANES], shift: &shift[..I::LANES], ..*stage };
    StageVectors::new::<I>(I::LANES, I::LANES, None, None, 0, &one_vector)
}

/// The `requantize` entry point under `p`'s rounding.
fn requantize_under_rounding<I: Isa>(isa: I, p: &Requantize<'_>, out: &mut [i8]) {
    match p.stage.rounding {
        Rounding::Single => isa.requantize::<false>(p, out),
        Rounding::Double => isa.requantize::<true>(p, out),
    }
}

/// Applies channel 0 of `stage` to every accumulator of `acc`, writing `out`. Lengths were
/// checked by the caller (`stage` has a channel).
pub(crate) fn requantize_uniform<I: Isa>(isa: I, acc: &[i32], stage: &OutputStage<'_>, out: &mut [i8]) {
    requantize_uniform_with(isa, acc, &one_scale_vectors::<I>(stage), stage, out);
}

/// [`requantize_uniform`] with the stage's vectors built once by the caller
/// ([`one_scale_vectors`]), for callers that requantize many short runs.
pub(crate) fn requantize_uniform_with<I: Isa>(
    isa: I,
    acc: &[i32],
    sv: &StageVectors,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let n = acc.len().min(out.len());
    let np = (n / I::LANES) * I::LANES;
    requantize_under_rounding(isa, &Requantize { acc, np, sv, stage, uniform: true, terms: None }, out);
    for c in np..n {
        out[c] = stage.apply(acc[c], 0);
    }
}

/// `out[i] = stage.apply(lhs_terms[lhs[i] as u8].wrapping_add(rhs_terms[rhs[i] as u8]), 0)`
/// for every element, for `terms = [lhs_terms, rhs_terms]` and `inputs = [lhs, rhs]`: the
/// lookups [`Isa::lookup_terms`], 64 at a time, then the uniform vector stage. Lengths were
/// checked by [`crate::requantize_term_sums`].
pub(crate) fn requantize_term_sums<I: Isa>(
    isa: I,
    terms: [&[i32; 256]; 2],
    inputs: [&[i8]; 2],
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    let ([lhs_terms, rhs_terms], [lhs, rhs]) = (terms, inputs);
    let n = lhs.len().min(rhs.len()).min(out.len());
    let (lhs_table, rhs_table) = (TermTable::new(lhs_terms), TermTable::new(rhs_terms));
    let terms = TermSums { lhs_table: &lhs_table, rhs_table: &rhs_table, lhs: &lhs[..n], rhs: &rhs[..n] };
    let sv = one_scale_vectors::<I>(stage);
    let p = Requantize { acc: &[], np: 0, sv: &sv, stage, uniform: true, terms: Some(terms) };
    requantize_under_rounding(isa, &p, &mut out[..n]);
}

/// Elements per [`Isa::lookup_terms`].
pub(crate) const TERMS_CHUNK: usize = 64;

/// [`requantize_term_sums`]'s loop: 64 elements' terms from each table into two buffers, then
/// their sums through the stage a vector at a time; a last partial chunk looks up a copy of
/// its indices padded with zeros and stores only its own bytes.
///
/// # Safety
/// The ISA's features must be enabled. (It runs the elements all three of `t.lhs`, `t.rhs`
/// and `out` have.)
#[inline(always)]
unsafe fn term_sums_body<I: Isa, const DOUBLE: bool>(p: &Requantize<'_>, t: &TermSums<'_>, out: &mut [i8]) {
    #[repr(C, align(64))]
    struct Terms([i32; TERMS_CHUNK]);
    let n = t.lhs.len().min(t.rhs.len()).min(out.len());
    let (mut lhs_terms, mut rhs_terms) = (Terms([0; TERMS_CHUNK]), Terms([0; TERMS_CHUNK]));
    // Only the last chunk can be partial: its indices are copied here.
    let (mut lhs_tail, mut rhs_tail) = ([0i8; TERMS_CHUNK], [0i8; TERMS_CHUNK]);
    let mut c = 0;
    while c < n {
        let len = TERMS_CHUNK.min(n - c);
        let (lhs_at, rhs_at) = if len == TERMS_CHUNK {
            (t.lhs[c..].as_ptr(), t.rhs[c..].as_ptr())
        } else {
            lhs_tail[..len].copy_from_slice(&t.lhs[c..n]);
            rhs_tail[..len].copy_from_slice(&t.rhs[c..n]);
            (lhs_tail.as_ptr(), rhs_tail.as_ptr())
        };
        // SAFETY: `lhs_at` and `rhs_at` have 64 readable bytes (`c + 64 <= n`, or the tail
        // copies); the buffers hold 64 `i32`; the features are the caller's.
        unsafe {
            I::lookup_terms(t.lhs_table, lhs_at, lhs_terms.0.as_mut_ptr());
            I::lookup_terms(t.rhs_table, rhs_at, rhs_terms.0.as_mut_ptr());
        }
        let mut v = 0;
        while v < len {
            // SAFETY: `v + LANES <= 64` (`LANES` divides 64); `sv` holds `LANES` entries,
            // read at 0; the features are the caller's.
            unsafe {
                let sum = I::add(I::load_i32(lhs_terms.0.as_ptr().add(v)), I::load_i32(rhs_terms.0.as_ptr().add(v)));
                let bytes = requant::<I, DOUBLE>(sum, p.sv, 0, p.stage);
                store::<I>(bytes, &mut out[c + v..c + len]);
            }
            v += I::LANES;
        }
        c += len;
    }
}

/// The output stage on channels `0..np`, `LANES` at a time.
///
/// # Safety
/// The ISA's features must be enabled, `p` must be as [`Requantize`] says, and `out` hold at
/// least `np` bytes.
#[inline(always)]
pub(crate) unsafe fn requantize_body<I: Isa, const DOUBLE: bool>(p: &Requantize<'_>, out: &mut [i8]) {
    if let Some(terms) = &p.terms {
        // SAFETY: forwarded (`requantize_term_sums` passes `out` as long as the terms).
        return unsafe { term_sums_body::<I, DOUBLE>(p, terms, out) };
    }
    for c in (0..p.np).step_by(I::LANES) {
        let constants = if p.uniform { 0 } else { c };
        // SAFETY: `c + LANES <= np <= acc.len()`, and `sv` has `np` entries (`LANES` if
        // uniform, read at 0).
        let bytes = unsafe { requant::<I, DOUBLE>(I::load_i32(p.acc.as_ptr().add(c)), p.sv, constants, p.stage) };
        // SAFETY: the features are the caller's.
        unsafe { store::<I>(bytes, &mut out[c..c + I::LANES]) };
    }
}

/// Channel counts below this run the scalar depthwise kernel: a vector with one or two lanes
/// in use loses to the scalar range kernel.
const SCALAR_DEPTHWISE_BELOW: usize = 3;

/// Depthwise convolution with depth multiplier 1 on `input` (`in_h x in_w x cols`); the
/// caller expands other multipliers. `LANES` channels per vector, the last block partial
/// (read as [`Isa::MASKED_PARTIAL_LOADS`] says, stored partially); fewer than 3 channels run
/// the scalar range kernel. The lengths the vector reads rely on are checked here.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise<I: Isa>(
    isa: I,
    g: &WindowGeometry,
    cols: usize,
    input: &[i8],
    input_zero_point: i32,
    weights: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    prepared: Option<&DepthwiseConstants>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    const K: &str = "depthwise_conv2d";
    let overflow = KernelError::SizeOverflow { kernel: K };
    let len = |a: usize, b: usize| a.checked_mul(b).and_then(|ab| ab.checked_mul(cols)).ok_or(overflow.clone());
    check_len(K, "input", len(g.in_h, g.in_w)?, input.len())?;
    check_len(K, "weights", len(g.kernel_h, g.kernel_w)?, weights.len())?;
    check_len(K, "out", len(g.out_h, g.out_w)?, out.len())?;
    if let Some(bias) = bias {
        check_len(K, "bias", cols, bias.len())?;
    }
    stage.check(K, cols)?;
    if cols < SCALAR_DEPTHWISE_BELOW {
        crate::depthwise::scalar_channels(g, cols, input, input_zero_point, weights, bias, stage, out);
        return Ok(());
    }
    let built;
    let constants = match prepared {
        Some(constants) => constants,
        None => {
            built = depthwise_constants::<I>(g, cols, weights, bias, input_zero_point, stage).ok_or(overflow)?;
            &built
        }
    };
    let (sv, paired, rows) = (&constants.stage, constants.paired.as_ref(), constants.rows.as_ref());
    let p = Depthwise { g, cols, input, input_zero_point, weights, sv, stage, paired, rows };
    match stage.rounding {
        Rounding::Single => isa.depthwise::<false>(&p, out),
        Rounding::Double => isa.depthwise::<true>(&p, out),
    }
    Ok(())
}

/// What [`depthwise`] builds from a layer's constants before its loop: the stage's widened
/// constants and the taps in pairs (where they pay). Built for exactly one set of arguments
/// (`crate::PreparedDepthwise` owns them together).
#[derive(Debug, Clone)]
pub(crate) struct DepthwiseConstants {
    stage: StageVectors,
    paired: Option<PairedTaps>,
    rows: Option<RowPairs>,
}

/// The constants of [`depthwise`] for these arguments, for `cols` channels of `I`; `None` on
/// a size overflow. The caller checked the lengths of `weights`, `bias` and the stage.
pub(crate) fn depthwise_constants<I: Isa>(
    g: &WindowGeometry,
    cols: usize,
    weights: &[i8],
    bias: Option<&[i32]>,
    input_zero_point: i32,
    stage: &OutputStage<'_>,
) -> Option<DepthwiseConstants> {
    depthwise_constants_choosing::<I>(g, cols, weights, bias, input_zero_point, stage, true)
}

/// [`depthwise_constants`], with [`RowPairs`] only where `rows_allowed` (the tests run the
/// per-pixel kernels on the shapes the rows would take too).
pub(crate) fn depthwise_constants_choosing<I: Isa>(
    g: &WindowGeometry,
    cols: usize,
    weights: &[i8],
    bias: Option<&[i32]>,
    input_zero_point: i32,
    stage: &OutputStage<'_>,
    rows_allowed: bool,
) -> Option<DepthwiseConstants> {
    if cols < SCALAR_DEPTHWISE_BELOW {
        return None;
    }
    let np = round_up(cols, I::LANES)?;
    let rows = if rows_allowed { row_pairs::<I>(g, cols, np, weights, bias, input_zero_point) } else { None };
    let paired = match rows {
        Some(_) => None,
        None => paired_taps::<I>(g, cols, cols - cols % I::LANES, weights, bias, input_zero_point),
    };
    Some(DepthwiseConstants { stage: StageVectors::new::<I>(cols, np, None, bias, 0, stage), paired, rows })
}

/// A depthwise kernel's weights two taps at a time, for the pixels whose whole window lies
/// inside the image: pair `q` of channel `c` holds taps `2q` and `2q + 1` in kernel order
/// (`ky * kernel_w + kx`, a zero weight after an odd last tap) as `(w1 << 16) | (w0 & 0xffff)`
/// at `weights[q * cols + c]`. Such a pixel's sum `bias + sum w * (x - zp)` is, modulo 2^32,
/// `fix + sum w * x` with `fix[c] = bias[c] - zp * sum_taps w[c]`, so the pairs read the
/// inputs as they are. Channels `0..cols`, whole vectors.
#[derive(Debug, Clone)]
pub(crate) struct PairedTaps {
    weights: Vec<i32>,
    fix: Vec<i32>,
    cols: usize,
}

/// Pixels whose window lies inside the image from which a depthwise call packs its taps in
/// pairs. Packing reads each weight once, about one such pixel's work in the per-tap loop, and
/// each of them then spends about 0.6x the instructions on its taps, so from 16 on the
/// packing costs at most a sixteenth of the per-tap work it replaces, on any shape (the count
/// is of those pixels only, so a wide kernel mostly in the padding never packs). Measured over
/// 16 channels: at 8 such pixels (a 1x2048 kernel) pairing was 1.08x the per-tap loop's time,
/// at 16 (1x1024) 0.94x.
const PAIRED_FROM_PIXELS: usize = 16;

/// The input column of output column `ox`'s first tap where its whole window lies inside the
/// image across (`span` is the window's width less one, in input columns, when below `in_w`);
/// compared, not divided as `taps_x` would, since this runs for every pixel.
#[inline(always)]
fn first_inside(g: &WindowGeometry, span: Option<usize>, ox: usize) -> Option<usize> {
    let ix = ox.checked_mul(g.stride_w)?.checked_sub(g.pad_left)?;
    (ix.checked_add(span?)? < g.in_w).then_some(ix)
}

/// The window's width less one in input columns, where it is narrower than the image (only
/// then can a window lie inside it across, and every tap's column offset is small).
fn inside_span(g: &WindowGeometry) -> Option<usize> {
    g.kernel_w.saturating_sub(1).checked_mul(g.dilation_w).filter(|&span| span < g.in_w)
}

/// Channels `0..paired_cols` (whole vectors) of `weights` packed as [`PairedTaps`], where `I`
/// has a pair multiply-accumulate, the kernel has two taps or more and at least
/// [`PAIRED_FROM_PIXELS`] output pixels have their whole window inside the image; else `None`.
fn paired_taps<I: Isa>(
    g: &WindowGeometry,
    cols: usize,
    paired_cols: usize,
    weights: &[i8],
    bias: Option<&[i32]>,
    input_zero_point: i32,
) -> Option<PairedTaps> {
    let taps = g.kernel_h.checked_mul(g.kernel_w)?;
    if !I::PAIRED_TAPS || paired_cols == 0 || taps < 2 {
        return None;
    }
    let span = inside_span(g);
    let rows_inside = (0..g.out_h).filter(|&oy| g.taps_y(oy) == Some(0..g.kernel_h)).count();
    let cols_inside =
        if rows_inside == 0 { 0 } else { (0..g.out_w).filter(|&ox| first_inside(g, span, ox).is_some()).count() };
    if rows_inside.saturating_mul(cols_inside) < PAIRED_FROM_PIXELS {
        return None;
    }
    let pairs = taps.div_ceil(2);
    let mut packed = vec![0i32; pairs.checked_mul(paired_cols)?];
    // Each channel's weight sum first, then its constant.
    let mut fix = vec![0i32; paired_cols];
    // `weights` holds `taps * cols` bytes (checked by `depthwise`) and `paired_cols <= cols`.
    for (q, dst) in packed.chunks_exact_mut(paired_cols).enumerate() {
        let first = &weights[2 * q * cols..][..paired_cols];
        if 2 * q + 1 == taps {
            for ((d, s), &w0) in dst.iter_mut().zip(&mut fix).zip(first) {
                *d = i32::from(w0 as i16 as u16);
                *s = s.wrapping_add(i32::from(w0));
            }
        } else {
            let second = &weights[(2 * q + 1) * cols..][..paired_cols];
            for (((d, s), &w0), &w1) in dst.iter_mut().zip(&mut fix).zip(first).zip(second) {
                *d = (i32::from(w1) << 16) | i32::from(w0 as i16 as u16);
                *s = s.wrapping_add(i32::from(w0) + i32::from(w1));
            }
        }
    }
    for (c, f) in fix.iter_mut().enumerate() {
        *f = bias.map_or(0, |b| b[c]).wrapping_sub(input_zero_point.wrapping_mul(*f));
    }
    Some(PairedTaps { weights: packed, fix, cols: paired_cols })
}

/// Along which axis of the kernel [`RowPairs`] pairs its taps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairAxis {
    /// Taps `kx = 2q` and `2q + 1` of each kernel row: a prepared row pairs each pixel with the
    /// one to its right.
    Across,
    /// Taps `ky = 2q` and `2q + 1` of each kernel column: a prepared row pairs each pixel with
    /// the one below it.
    Down,
}

/// A depthwise layer's taps in pairs along one axis of its kernel, for [`depthwise_rows`].
/// That kernel reads the input as rows of neighbour pairs (`Isa::interleave_pairs`), each row
/// built once per call and read by every window over it, so that two taps cost one `i16` pair
/// multiply-accumulate and no shuffle, where [`PairedTaps`] interleaves the inputs of each
/// pair of taps of each pixel anew. The rows cover the padding too, holding the input zero
/// point there: its taps add `w * zp`, which `fix` takes back, so the pixels at the edges take
/// the same loop as those inside.
#[derive(Debug, Clone)]
pub(crate) struct RowPairs {
    axis: PairAxis,
    /// Pair `t` of channel `c` at `t * np + c`, the pairs in the order the kernel reads them
    /// (`(ky, q)` across, `(q, kx)` down): `(w1 << 16) | (w0 & 0xffff)` of the pair's first
    /// and second tap, `w1 = 0` where an odd kernel has no second; 0 past `cols`.
    weights: LineAligned<i32>,
    /// `bias[c] - zp * sum_taps w[c]` over all the kernel's taps (wrapping): with the padding
    /// read as `zp`, a pixel's sum is `fix + sum w * x` modulo 2^32, as the reference's
    /// `bias + sum_inside w * (x - zp)`. 0 past `cols`.
    fix: Vec<i32>,
    /// `cols` rounded up to `LANES`: the channels of a prepared pixel.
    np: usize,
    /// Pairs per kernel row (across) or per pair of kernel rows (down).
    pairs_per_row: usize,
    /// Pixels of a prepared row: the padded columns under the windows,
    /// `(out_w - 1) * stride_w + kernel_w`.
    row_pixels: usize,
}

/// `i16` of prepared rows above which a layer keeps the per-pixel kernels (4 MiB: far above
/// the MLPerf Tiny models' rows, of at most 10 KiB).
const ROW_PAIRS_AT_MOST: usize = 1 << 21;

/// [`RowPairs`] for these arguments, where `I` has a pair multiply-accumulate and the shape
/// admits them; else `None` (then [`paired_taps`] and the per-tap loop). The shape must have
/// dilation 1, strides no larger than the kernel (so that no prepared row is skipped and few
/// prepared pixels go unread: across at an odd stride of 3 or more, some do), a byte zero
/// point (the padding's value), a kernel of two taps or more, no more than half its taps in
/// the padding (which the rows pay for and the per-tap loop skips), no more new pixels to
/// prepare per output than pairs of taps, and rows within [`ROW_PAIRS_AT_MOST`]. The pairs run
/// along the axis that needs fewer (across on a tie).
fn row_pairs<I: Isa>(
    g: &WindowGeometry,
    cols: usize,
    np: usize,
    weights: &[i8],
    bias: Option<&[i32]>,
    input_zero_point: i32,
) -> Option<RowPairs> {
    let (kh, kw) = (g.kernel_h, g.kernel_w);
    let taps = kh.checked_mul(kw)?;
    let admitted = I::PAIRED_TAPS
        && taps >= 2
        && (g.dilation_h, g.dilation_w) == (1, 1)
        && g.stride_h <= kh
        && g.stride_w <= kw
        && i8::try_from(input_zero_point).is_ok()
        && g.out_h > 0
        && g.out_w > 0;
    if !admitted {
        return None;
    }
    let inside_y = (0..g.out_h).try_fold(0usize, |n, oy| n.checked_add(g.taps_y(oy).map_or(0, |k| k.len())))?;
    let inside_x = (0..g.out_w).try_fold(0usize, |n, ox| n.checked_add(g.taps_x(ox).map_or(0, |k| k.len())))?;
    let all = taps.checked_mul(g.out_h)?.checked_mul(g.out_w)?;
    if inside_y.checked_mul(inside_x)?.checked_mul(2)? < all {
        return None;
    }
    let (across, down) = (kh.checked_mul(kw.div_ceil(2))?, kh.div_ceil(2).checked_mul(kw)?);
    let (axis, pairs_per_row) = if down < across { (PairAxis::Down, kw) } else { (PairAxis::Across, kw.div_ceil(2)) };
    // A window's stride brings `stride_h * stride_w` new pixels to prepare (half of them
    // across with an even stride, which reads only the even ones), each about as dear as a
    // pair of taps in the per-pixel kernels: more of them than the window has pairs, and those
    // kernels are the cheaper (3x3 at stride 3 is 9 against 6).
    let step = if axis == PairAxis::Across && g.stride_w.is_multiple_of(2) { 2 } else { 1 };
    if g.stride_h.checked_mul(g.stride_w)? > across.min(down).checked_mul(step)? {
        return None;
    }
    let row_pixels = (g.out_w - 1).checked_mul(g.stride_w)?.checked_add(kw)?;
    if kh.checked_mul(row_pixels)?.checked_mul(np)?.checked_mul(2)? > ROW_PAIRS_AT_MOST {
        return None;
    }
    // The pairs as (first tap, second tap) in kernel order `ky * kw + kx`, as the kernel reads them.
    let pairs: Vec<(usize, Option<usize>)> = match axis {
        PairAxis::Across => (0..kh)
            .flat_map(|ky| (0..kw).step_by(2).map(move |kx| (ky * kw + kx, (kx + 1 < kw).then_some(ky * kw + kx + 1))))
            .collect(),
        PairAxis::Down => (0..kh)
            .step_by(2)
            .flat_map(|ky| (0..kw).map(move |kx| (ky * kw + kx, (ky + 1 < kh).then_some((ky + 1) * kw + kx))))
            .collect(),
    };
    let mut packed = vec![0i32; pairs.len().checked_mul(np)?];
    // `weights` holds `taps * cols` bytes (checked by `depthwise`).
    for (dst, &(first, second)) in packed.chunks_exact_mut(np).zip(&pairs) {
        let w0 = &weights[first * cols..][..cols];
        match second {
            Some(second) => {
                let w1 = &weights[second * cols..][..cols];
                for ((d, &w0), &w1) in dst.iter_mut().zip(w0).zip(w1) {
                    *d = (i32::from(w1) << 16) | i32::from(w0 as i16 as u16);
                }
            }
            None => {
                for (d, &w0) in dst.iter_mut().zip(w0) {
                    *d = i32::from(w0 as i16 as u16);
                }
            }
        }
    }
    let mut fix = vec![0i32; np];
    for (c, f) in fix.iter_mut().take(cols).enumerate() {
        let sum = (0..taps).fold(0i32, |s, t| s.wrapping_add(i32::from(weights[t * cols + c])));
        *f = bias.map_or(0, |b| b[c]).wrapping_sub(input_zero_point.wrapping_mul(sum));
    }
    Some(RowPairs { axis, weights: LineAligned::copy_of(&packed)?, fix, np, pairs_per_row, row_pixels })
}

/// Prepared row `py` (a row of the padded image, `py - pad_top` in the input where it lies
/// inside) into `row`, `row_pixels` pixels of `np` pairs: pixel `px` pairs input pixel `(py,
/// px)` with its neighbour to the right (across) or below (down), each `zp` in the padding.
/// Across with an even stride only the even pixels are written, the only ones a window reads.
///
/// # Safety
/// The ISA's features must be enabled; `p` as [`Depthwise`] says, `rp` built for it, `padding`
/// `np` bytes of the zero point and `row` `row_pixels * np * 2` long.
#[inline(always)]
unsafe fn prepare_pair_row<I: Isa>(p: &Depthwise<'_>, rp: &RowPairs, py: usize, padding: &[i8], row: &mut [i16]) {
    let (g, cols, np) = (p.g, p.cols, rp.np);
    let input_row = |y: usize| y.checked_sub(g.pad_top).filter(|&iy| iy < g.in_h);
    let (second_row, second_column) = match rp.axis {
        PairAxis::Across => (input_row(py), 1),
        PairAxis::Down => (input_row(py + 1), 0),
    };
    let first_row = input_row(py);
    // The offset in `input` of padded pixel `(y, px)` on input row `y`, if inside.
    let offset = |y: Option<usize>, px: usize| {
        let ix = px.checked_sub(g.pad_left).filter(|&ix| ix < g.in_w)?;
        Some((y? * g.in_w + ix) * cols)
    };
    let step = if rp.axis == PairAxis::Across && g.stride_w.is_multiple_of(2) { 2 } else { 1 };
    let len = p.input.len();
    // The pixels whose two input pixels are inside, with a whole block of `np` bytes from the
    // second (the later in memory): `lo..hi`, in one loop without a test per pixel.
    let (mut lo, mut hi) = (0, 0);
    if let (Some(ya), Some(yb)) = (first_row, second_row)
        && let Some(whole) = len.checked_sub(np).map(|bytes| bytes / cols)
    {
        // The second pixel's index in `input` is `yb * in_w + px + second_column - pad_left`.
        let from = yb * g.in_w + second_column;
        lo = g.pad_left.next_multiple_of(step);
        // Saturating: the gate's taps inside the image keep `pad_left` small, but no sum here
        // needs to rely on it.
        hi = g
            .pad_left
            .saturating_add(g.in_w)
            .saturating_sub(second_column)
            .min(rp.row_pixels)
            .min(whole.saturating_add(1).saturating_add(g.pad_left).saturating_sub(from));
        let (base_a, base_b) = ((ya * g.in_w) * cols, from * cols);
        for px in (lo..hi).step_by(step) {
            let (a, b) = (base_a + (px - g.pad_left) * cols, base_b + (px - g.pad_left) * cols);
            for c in (0..cols).step_by(I::LANES) {
                // SAFETY: `a < b` and `b + np <= len` (`b / cols <= whole`), `c + LANES <= np`;
                // `2 * LANES` `i16` from `(px * np + c) * 2` in `row` (`px < row_pixels`); the
                // features are the caller's.
                unsafe {
                    let (xa, xb) = (p.input.as_ptr().add(a + c), p.input.as_ptr().add(b + c));
                    I::interleave_pairs(xa, xb, row.as_mut_ptr().add((px * np + c) * 2));
                }
            }
        }
    }
    for px in (0..rp.row_pixels).step_by(step).filter(|px| !(lo..hi).contains(px)) {
        let dst = &mut row[px * np * 2..][..np * 2];
        let (a, b) = (offset(first_row, px), offset(second_row, px + second_column));
        // In the padding, or at the input's end: the bytes from each pixel to the input's end,
        // or the padding's `np`; the last block through a buffer where fewer than `LANES` are
        // left (the lanes past `cols` meet zero weights and are not stored).
        let bytes = |at: Option<usize>| at.map_or(padding, |at| &p.input[at..]);
        let (a, b) = (bytes(a), bytes(b));
        for c in (0..cols).step_by(I::LANES) {
            let to = dst[2 * c..][..2 * I::LANES].as_mut_ptr();
            if a.len() >= c + I::LANES && b.len() >= c + I::LANES {
                // SAFETY: `LANES` bytes from `c` of both, `2 * LANES` `i16` at `to`; the
                // features are the caller's.
                unsafe { I::interleave_pairs(a.as_ptr().add(c), b.as_ptr().add(c), to) };
            } else {
                let lanes = (cols - c).min(I::LANES);
                let (mut xa, mut xb) = ([0i8; 16], [0i8; 16]);
                xa[..lanes].copy_from_slice(&a[c..c + lanes]);
                xb[..lanes].copy_from_slice(&b[c..c + lanes]);
                // SAFETY: 16 >= LANES bytes in both buffers; as above.
                unsafe { I::interleave_pairs(xa.as_ptr(), xb.as_ptr(), to) };
            }
        }
    }
}

/// Every channel of every output pixel through [`RowPairs`]: for each output row, the
/// prepared rows under it (a ring of `kernel_h`, each built when a window first reaches it),
/// then for each block of `LANES` channels each pixel's pairs of taps and its output stage.
///
/// Returns whether it wrote the output (always, but for a refused allocation of its rows).
///
/// # Safety
/// As [`depthwise_body`], with `rp` built for `p`'s arguments by [`row_pairs`].
#[inline(always)]
unsafe fn depthwise_rows<I: Isa, const DOUBLE: bool>(p: &Depthwise<'_>, rp: &RowPairs, out: &mut [i8]) -> bool {
    let (g, cols, np, kh) = (p.g, p.cols, rp.np, p.g.kernel_h);
    // Within `ROW_PAIRS_AT_MOST` (checked by `row_pairs`).
    let row_len = rp.row_pixels * np * 2;
    // On cache lines: each pixel's block of pairs is one line on AVX-512, read whole.
    // `row_pairs` bounds the ring far below what an allocation may hold, so this refusal is
    // not reached; were it, the per-pixel kernels would write the output instead.
    let Some(mut ring) = LineAligned::<i16>::zeroed(kh * row_len) else { return false };
    let mut held = vec![usize::MAX; kh];
    let padding = vec![p.input_zero_point as i8; np];
    let mut taps: Vec<(usize, usize)> = Vec::with_capacity(rp.weights.len() / np);
    // The rows a window reads are `base + i * step` for `i < rows`, all within `kh` of `base`,
    // so no two share a slot of the ring.
    let (rows, step) = match rp.axis {
        PairAxis::Across => (kh, 1),
        PairAxis::Down => (kh.div_ceil(2), 2),
    };
    for oy in 0..g.out_h {
        let base = oy * g.stride_h;
        taps.clear();
        for i in 0..rows {
            let py = base + i * step;
            let slot = py % kh;
            let row = &mut ring[slot * row_len..][..row_len];
            if held[slot] != py {
                // SAFETY: as this function's contract; `row` is `row_len` long.
                unsafe { prepare_pair_row::<I>(p, rp, py, &padding, row) };
                held[slot] = py;
            }
            // Pair `j` of this row starts `j * 2` pixels (across) or `j` pixels (down) after
            // the window's first column.
            let pixels_per_pair = if rp.axis == PairAxis::Across { 2 } else { 1 };
            taps.extend(
                (0..rp.pairs_per_row)
                    .map(|j| (slot * row_len + j * pixels_per_pair * np * 2, (i * rp.pairs_per_row + j) * np)),
            );
        }
        // Two outputs of `LANES` channels at a time, so that one's chain of multiply-accumulates
        // and output stage overlaps the other's: two pixels of one block of channels, which
        // share their weights and stage constants, or in a row of one pixel two blocks. An odd
        // last one is computed twice and stored once.
        let store_at = |out: &mut [i8], ox: usize, c: usize, bytes: I::Bytes| {
            let pixel = (oy * g.out_w + ox) * cols;
            // SAFETY: the features are the caller's.
            unsafe { store::<I>(bytes, &mut out[pixel + c..pixel + cols.min(c + I::LANES)]) };
        };
        let column = |ox: usize, c: usize| (ox * g.stride_w * np + c) * 2;
        if g.out_w > 1 {
            for c in (0..cols).step_by(I::LANES) {
                for ox in (0..g.out_w).step_by(2) {
                    let ox_next = (ox + 1).min(g.out_w - 1);
                    // SAFETY: as `two_outputs` requires: both pixels below `out_w`, `c` a block.
                    let (bytes, bytes_next) = unsafe {
                        two_outputs::<I, DOUBLE, true>(p, rp, &ring, &taps, (c, column(ox, c)), (c, column(ox_next, c)))
                    };
                    store_at(out, ox, c, bytes);
                    if ox_next > ox {
                        store_at(out, ox_next, c, bytes_next);
                    }
                }
            }
        } else {
            for c in (0..cols).step_by(2 * I::LANES) {
                let c_next = if c + I::LANES < cols { c + I::LANES } else { c };
                // SAFETY: as above, pixel 0 and two blocks.
                let (bytes, bytes_next) = unsafe {
                    two_outputs::<I, DOUBLE, false>(p, rp, &ring, &taps, (c, column(0, c)), (c_next, column(0, c_next)))
                };
                store_at(out, 0, c, bytes);
                if c_next > c {
                    store_at(out, 0, c_next, bytes_next);
                }
            }
        }
    }
    true
}

/// The output bytes of two blocks of `LANES` channels (`(c, column)`: the block's first channel
/// and its pixel's first pair in a prepared row) from the row's `taps` (each the offset of a
/// pair in `ring` and of its weights). `SAME_CHANNELS`: both are of the first's channels, whose
/// weights and stage constants they then share.
///
/// # Safety
/// The ISA's features must be enabled; `rp` built for `p`; each `c` a block below `cols` and
/// each `column` that of a pixel below `out_w` (see `depthwise_rows`), `taps` of prepared rows.
#[inline(always)]
unsafe fn two_outputs<I: Isa, const DOUBLE: bool, const SAME_CHANNELS: bool>(
    p: &Depthwise<'_>,
    rp: &RowPairs,
    ring: &[i16],
    taps: &[(usize, usize)],
    (c, column): (usize, usize),
    (c_next, column_next): (usize, usize),
) -> (I::Bytes, I::Bytes) {
    let c_next = if SAME_CHANNELS { c } else { c_next };
    // SAFETY: `fix` holds `np >= c + LANES` entries for both blocks.
    let (mut acc, mut acc_next) =
        unsafe { (I::load_i32(rp.fix.as_ptr().add(c)), I::load_i32(rp.fix.as_ptr().add(c_next))) };
    for &(xo, wo) in taps {
        // SAFETY: `xo + column` is pixel `ox * stride_w + j * pixels_per_pair <= (out_w - 1) *
        // stride_w + kernel_w - 1 < row_pixels`, channel `c` of a prepared row in the ring,
        // `2 * LANES` `i16` within it (`c + LANES <= np`); `wo + c + LANES` is within pair `t`'s
        // `np` weights; as for the second.
        unsafe {
            let w = rp.weights.as_ptr().add(wo + c);
            let w_next = if SAME_CHANNELS { w } else { rp.weights.as_ptr().add(wo + c_next) };
            acc = I::madd_pairs(acc, ring.as_ptr().add(xo + column), w);
            acc_next = I::madd_pairs(acc_next, ring.as_ptr().add(xo + column_next), w_next);
        }
    }
    // SAFETY: the stage vectors are padded to a multiple of LANES >= c + LANES.
    unsafe { (requant::<I, DOUBLE>(acc, p.sv, c, p.stage), requant::<I, DOUBLE>(acc_next, p.sv, c_next, p.stage)) }
}

/// Every channel of every output pixel, `LANES` at a time (the last block partial).
///
/// # Safety
/// The ISA's features must be enabled, `p` must be as [`Depthwise`] says, and `out` hold
/// `out_h x out_w x cols` bytes.
#[inline(always)]
pub(crate) unsafe fn depthwise_body<I: Isa, const DOUBLE: bool>(p: &Depthwise<'_>, out: &mut [i8]) {
    // SAFETY: forwarded; `rp` was built for these arguments (`DepthwiseConstants`).
    if let Some(rp) = p.rows
        && unsafe { depthwise_rows::<I, DOUBLE>(p, rp, out) }
    {
        return;
    }
    let (g, cols) = (p.g, p.cols);
    // SAFETY: the features are the caller's.
    let zp = unsafe { I::splat(p.input_zero_point) };
    let capacity = g.kernel_h.saturating_mul(g.kernel_w).min(1 << 16);
    let mut rows: Vec<(usize, usize)> = Vec::with_capacity(g.kernel_h.min(1 << 16));
    let (mut taps, mut row_taps, mut row_pairs) = (Vec::with_capacity(capacity), Vec::new(), Vec::new());
    let span = inside_span(g);
    for oy in 0..g.out_h {
        // The in-image rows of this output row, and the taps of a pixel whose window is inside
        // the image across, relative to its first input column: found once per output row,
        // so that only pixels at the left and right edges look for their taps.
        rows.clear();
        rows.extend((0..g.kernel_h).filter_map(|ky| Some((g.tap_y(oy, ky)? * g.in_w * cols, ky * g.kernel_w * cols))));
        row_taps.clear();
        if span.is_some() {
            for &(row, wrow) in &rows {
                row_taps.extend((0..g.kernel_w).map(|kx| (row + kx * g.dilation_w * cols, wrow + kx * cols)));
            }
        }
        // Where every kernel row is in the image, the row's taps are all the kernel's, in its
        // order: the input offsets of the pairs `PairedTaps` packed (an odd last tap pairs with
        // itself, against a zero weight).
        let paired = p.paired.filter(|_| span.is_some() && rows.len() == g.kernel_h);
        if paired.is_some() {
            row_pairs.clear();
            row_pairs.extend(row_taps.chunks(2).map(|pair| (pair[0].0, pair[pair.len() - 1].0)));
        }
        for ox in 0..g.out_w {
            let pixel = (oy * g.out_w + ox) * cols;
            let inside = first_inside(g, span, ox);
            let mut first_col = 0;
            if let (Some(ix), Some(paired)) = (inside, paired) {
                for c in (0..paired.cols).step_by(I::LANES) {
                    // SAFETY: `paired.fix` holds `paired.cols`, a multiple of LANES, entries.
                    let mut acc = unsafe { I::load_i32(paired.fix.as_ptr().add(c)) };
                    // SAFETY: each pair's offsets are two of the row's taps, inside the image
                    // from the pixel's first input column `ix` (as below); `c + LANES <=
                    // paired.cols <= cols`; pair `q` of these channels is at `q * paired.cols +
                    // c` of the packed weights, `row_pairs.len()` pairs of `paired.cols`.
                    let xs = unsafe { p.input.as_ptr().add(ix * cols + c) };
                    for (q, &(xa, xb)) in row_pairs.iter().enumerate() {
                        acc = unsafe {
                            let w = paired.weights.as_ptr().add(q * paired.cols + c);
                            I::depthwise_pair(acc, xs.add(xa), xs.add(xb), w)
                        };
                    }
                    // SAFETY: the stage vectors are padded to a multiple of LANES >= c + LANES.
                    let bytes = unsafe { requant::<I, DOUBLE>(acc, p.sv, c, p.stage) };
                    // SAFETY: the features are the caller's.
                    unsafe { store::<I>(bytes, &mut out[pixel + c..pixel + c + I::LANES]) };
                }
                first_col = paired.cols;
            }
            // The in-image taps of this pixel as offsets from `base`, for the other channel
            // blocks: the row's taps from the window's first input column where its last
            // column is in the image too, else this pixel's own.
            let (taps, base) = match inside {
                Some(ix) => (&row_taps, ix * cols),
                None => {
                    taps.clear();
                    for &(row, wrow) in &rows {
                        for kx in 0..g.kernel_w {
                            let Some(ix) = g.tap_x(ox, kx) else { continue };
                            taps.push((row + ix * cols, wrow + kx * cols));
                        }
                    }
                    (&taps, 0)
                }
            };
            for c in (first_col..cols).step_by(I::LANES) {
                let lanes = (cols - c).min(I::LANES);
                // SAFETY: the stage vectors are padded to a multiple of LANES >= c + LANES.
                let mut acc = unsafe { I::load_i32(p.sv.fix.as_ptr().add(c)) };
                // SAFETY (both loops): `base + xo` / `wo` start an in-image input pixel / a
                // kernel tap (built above from `iy < in_h` and an `ix < in_w`: the pixel's
                // first input column plus a tap inside the image across, or a checked tap),
                // each `cols` long, and `c + lanes <= cols`: every read of `lanes` bytes is
                // inside the checked buffers, and a whole vector is read past them only where
                // its `LANES` bytes are left in the buffer; the features are the caller's.
                let (xs, ws) = (unsafe { p.input.as_ptr().add(base) }, p.weights.as_ptr());
                if lanes == I::LANES {
                    for &(xo, wo) in taps {
                        acc = unsafe {
                            let (x, w) = (I::load_i8(xs.add(xo + c)), I::load_i8(ws.add(wo + c)));
                            I::add(acc, I::mullo(w, I::sub(x, zp)))
                        };
                    }
                } else {
                    // Whole vectors where `LANES` bytes are left in the buffer (see
                    // `Isa::MASKED_PARTIAL_LOADS`): the extra lanes are thrown away at the store.
                    let whole = |offset: usize, len: usize| !I::MASKED_PARTIAL_LOADS && offset + I::LANES <= len;
                    for &(xo, wo) in taps {
                        acc = unsafe {
                            let (xp, wp) = (xs.add(xo + c), ws.add(wo + c));
                            let x = if whole(base + xo + c, p.input.len()) {
                                I::load_i8(xp)
                            } else {
                                I::load_i8_partial(xp, lanes)
                            };
                            let w = if whole(wo + c, p.weights.len()) {
                                I::load_i8(wp)
                            } else {
                                I::load_i8_partial(wp, lanes)
                            };
                            I::add(acc, I::mullo(w, I::sub(x, zp)))
                        };
                    }
                }
                // SAFETY: the stage vectors are padded to a multiple of LANES >= c + LANES.
                let bytes = unsafe { requant::<I, DOUBLE>(acc, p.sv, c, p.stage) };
                // SAFETY: the features are the caller's.
                unsafe { store::<I>(bytes, &mut out[pixel + c..pixel + c + lanes]) };
            }
        }
    }
}
