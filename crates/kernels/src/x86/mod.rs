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
pub(crate) struct StageVectors {
    /// `bias[c] - (lhs_offset) * row_sums[c]` (wrapping): the constant added to each raw dot
    /// product. `lhs_offset` is the zero point, plus 128 on the VNNI path.
    pub fix: alloc::vec::Vec<i32>,
    /// `max(multiplier, 0)` as i64.
    pub mult: alloc::vec::Vec<i64>,
    /// `Single`: `31 - clamp(shift, -31, 30)`, 1..=62. `Double`: `31 + right`, 31..=62.
    pub shr: alloc::vec::Vec<i64>,
    /// `Single`: `1 << (shr - 1)`. `Double`: `2^30 + [right > 0] * 2^(30 + right)`.
    pub round: alloc::vec::Vec<i64>,
    /// `Double` only (empty for `Single`): `left = max(clamp(shift, -31, 30), 0)`, the `i32`
    /// lanes' wrapping left shift before the multiply.
    pub left: alloc::vec::Vec<i32>,
    /// `Double` only (empty for `Single`): `[right > 0] * 2^31`, subtracted where the product is
    /// below `-2^30` (the high multiply's result is negative there).
    pub neg: alloc::vec::Vec<i64>,
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
        let double = stage.rounding == crate::Rounding::Double;
        let mut fix = alloc::vec![0i32; padded];
        let mut mult = alloc::vec![0i64; padded];
        let mut shr = alloc::vec![1i64; padded];
        let mut round = alloc::vec![1i64; padded];
        let (mut left, mut neg) =
            if double { (alloc::vec![0i32; padded], alloc::vec![0i64; padded]) } else { Default::default() };
        for c in 0..n.min(padded) {
            let b = bias.map_or(0, |b| b[c]);
            fix[c] = b.wrapping_sub(lhs_offset.wrapping_mul(row_sums.map_or(0, |s| s[c])));
            // The same clamps as `requantize` / `requantize_double`, so out-of-range
            // arguments behave identically.
            mult[c] = i64::from(stage.multiplier[c].max(0));
            let shift = i32::from(stage.shift[c]).clamp(-31, 30);
            if double {
                let right = i64::from((-shift).max(0));
                shr[c] = 31 + right;
                round[c] = (1i64 << 30) + if right > 0 { 1i64 << (30 + right) } else { 0 };
                left[c] = shift.max(0);
                neg[c] = if right > 0 { 1i64 << 31 } else { 0 };
            } else {
                let s = 31 - i64::from(shift);
                shr[c] = s;
                round[c] = 1i64 << (s - 1);
            }
        }
        StageVectors { fix, mult, shr, round, left, neg }
    }
}

/// Lays out row-major `n x k` weights in panels of `panel` columns (the last one narrower),
/// with `GROUP` consecutive `k` of a column side by side: for each group of `k`, the columns
/// of the panel in order. That is `out[(kk / GROUP) * w * GROUP + j * GROUP + kk % GROUP]` for
/// column `j` of a `w`-wide panel. `out` is zeroed and `kp` (a multiple of `GROUP`) long per
/// column; padding stays zero, so it adds nothing to a dot product.
pub(crate) fn pack_panels<const GROUP: usize>(
    weights: &[i8],
    n: usize,
    k: usize,
    kp: usize,
    panel: usize,
    out: &mut [i8],
) {
    let np = out.len() / kp.max(1);
    let mut c0 = 0;
    while c0 < np && kp > 0 {
        let w = panel.min(np - c0);
        let block = &mut out[c0 * kp..(c0 + w) * kp];
        for col in c0..(c0 + w).min(n) {
            // Walk the column's groups with a running offset: one fixed-size copy per group,
            // no divisions.
            let mut at = (col - c0) * GROUP;
            let mut groups = weights[col * k..(col + 1) * k].chunks_exact(GROUP);
            for group in &mut groups {
                block[at..at + GROUP].copy_from_slice(group);
                at += w * GROUP;
            }
            let rest = groups.remainder();
            if !rest.is_empty() {
                block[at..at + rest.len()].copy_from_slice(rest);
            }
        }
        c0 += w;
    }
}

/// Rounds `len` up to a multiple of `to` (a power of two), or `None` on overflow.
pub(crate) fn round_up(len: usize, to: usize) -> Option<usize> {
    len.checked_add(to - 1).map(|v| v & !(to - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout by its definition, one index computation per weight.
    fn pack_by_formula(
        weights: &[i8],
        n: usize,
        k: usize,
        kp: usize,
        np: usize,
        panel: usize,
        group: usize,
    ) -> Vec<i8> {
        let mut out = alloc::vec![0i8; np * kp];
        let mut c0 = 0;
        while c0 < np && kp > 0 {
            let w = panel.min(np - c0);
            for col in c0..(c0 + w).min(n) {
                for kk in 0..k {
                    out[c0 * kp + (kk / group) * w * group + (col - c0) * group + kk % group] = weights[col * k + kk];
                }
            }
            c0 += w;
        }
        out
    }

    #[test]
    fn pack_panels_is_the_layout_its_definition_gives() {
        let mut seed = 0x1234_5678u32;
        for (panel, group, col_multiple) in [(16, 2, 8), (64, 4, 16)] {
            for n in [1, 7, 8, 15, 16, 17, 63, 64, 65, 130] {
                for k in [0, 1, 2, 3, 4, 5, 31, 64, 127] {
                    let weights: Vec<i8> = (0..n * k)
                        .map(|_| {
                            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                            (seed >> 24) as i8
                        })
                        .collect();
                    let kp = round_up(k, group).unwrap();
                    let np = round_up(n, col_multiple).unwrap();
                    let mut out = alloc::vec![0i8; np * kp];
                    if group == 2 {
                        pack_panels::<2>(&weights, n, k, kp, panel, &mut out);
                    } else {
                        pack_panels::<4>(&weights, n, k, kp, panel, &mut out);
                    }
                    assert_eq!(out, pack_by_formula(&weights, n, k, kp, np, panel, group), "n {n} k {k} group {group}");
                }
            }
        }
    }
}
