//! x86-64 SIMD kernels (AVX2 and AVX-512 VNNI) and the weight layouts they read.
//!
//! Each kernel here is a faster spelling of a function in [`crate::reference`] and must return
//! the same bytes for every input. All accumulation is wrapping `i32` arithmetic, like the
//! reference: sums are then equal modulo 2^32 in any order, hence equal.
//!
//! Code here must never: be called unless the CPU has the features (the dispatch in `lib.rs`
//! only selects a path whose [`crate::KernelPath::is_available`] is true, and `PackedMatrix`
//! can only be built for such a path), use `vpmaddubsw` (it saturates), use the saturating
//! `vpdpbusds`, or touch floating point.

pub(crate) mod avx2;
pub(crate) mod avx512;

/// Per-channel constants of the output stage, widened once per call so that the vector
/// requantization reads them with plain loads. Padded with zeros to a whole number of
/// vectors; padded lanes are computed and thrown away.
pub(crate) struct StageVectors {
    /// `bias[c] - (lhs_offset) * row_sums[c]` (wrapping): the constant added to each raw dot
    /// product. `lhs_offset` is the zero point, plus 128 on the VNNI path.
    pub fix: alloc::vec::Vec<i32>,
    /// `max(multiplier, 0)` as i64.
    pub mult: alloc::vec::Vec<i64>,
    /// `31 - clamp(shift, -31, 30)`, 1..=62.
    pub shr: alloc::vec::Vec<i64>,
    /// `1 << (shr - 1)`.
    pub round: alloc::vec::Vec<i64>,
}

impl StageVectors {
    /// Caller guarantees `row_sums`, `stage` and `bias` hold at least `n` channels.
    pub(crate) fn new(
        n: usize,
        padded: usize,
        row_sums: Option<&[i32]>,
        bias: Option<&[i32]>,
        lhs_offset: i32,
        stage: &crate::OutputStage<'_>,
    ) -> Self {
        let mut fix = alloc::vec![0i32; padded];
        let mut mult = alloc::vec![0i64; padded];
        let mut shr = alloc::vec![1i64; padded];
        let mut round = alloc::vec![1i64; padded];
        for c in 0..n.min(padded) {
            let b = bias.map_or(0, |b| b[c]);
            fix[c] = b.wrapping_sub(lhs_offset.wrapping_mul(row_sums.map_or(0, |s| s[c])));
            // The same clamps as `requantize`, so out-of-range arguments behave identically.
            mult[c] = i64::from(stage.multiplier[c].max(0));
            let s = 31 - i64::from(i32::from(stage.shift[c]).clamp(-31, 30));
            shr[c] = s;
            round[c] = 1i64 << (s - 1);
        }
        StageVectors { fix, mult, shr, round }
    }
}

/// Rounds `len` up to a multiple of `to` (a power of two), or `None` on overflow.
pub(crate) fn round_up(len: usize, to: usize) -> Option<usize> {
    len.checked_add(to - 1).map(|v| v & !(to - 1))
}
