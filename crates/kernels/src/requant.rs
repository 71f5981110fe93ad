//! Requantization: how an `i32` value is scaled by a Q31 multiplier and a power of two.
//!
//! Two rules exist, one per model-format version, and this is their one home:
//! - [`Rounding::Single`] (format v1): TensorFlow Lite's `TFLITE_SINGLE_ROUNDING` rule, one
//!   rounding half up in 64-bit arithmetic ([`requantize`]).
//! - [`Rounding::Double`] (format v2): TensorFlow Lite Micro's `MultiplyByQuantizedMultiplier`,
//!   gemmlowp's saturating rounding doubling high multiply (ties toward +infinity, like
//!   ARM's `VQRDMULH`) followed by a rounding divide by a power of two (ties away from zero)
//!   ([`requantize_double`]).

use crate::{KernelError, check_len};

/// Which requantization rule an output stage applies; fixed by the model-format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Format v1: [`requantize`].
    Single,
    /// Format v2: [`requantize_double`].
    Double,
}

impl Rounding {
    /// Scales `x` by `multiplier * 2^(shift - 31)` with this rule.
    #[inline]
    pub fn apply(self, x: i32, multiplier: i32, shift: i8) -> i32 {
        match self {
            Rounding::Single => requantize(x, multiplier, shift),
            Rounding::Double => requantize_double(x, multiplier, shift),
        }
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `a * b / 2^31` rounded to nearest, with
/// the single overflowing case `MIN * MIN` saturated to `MAX`. The nudge is `2^30` or
/// `1 - 2^30`, then a division truncating toward zero, as in gemmlowp's C++; for a negative
/// product that is `floor((ab + 2^30) / 2^31)`, so ties round toward +infinity on both
/// sides (`-0.5 -> 0`, `-1.5 -> -1`, `1.5 -> 2`), exactly like ARM's `VQRDMULH`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Rust's `/` truncates toward zero, as C++'s does; with MIN * MIN excluded,
    // |ab + nudge| / 2^31 < 2^31.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded half away from zero, for
/// `exponent` in `0..=62` (larger exponents are clamped to 62, where every `i32`-range input
/// gives 0). For `i32` inputs and exponents up to 31 this is bit-identical to gemmlowp's
/// 32-bit version: the low `exponent` bits and the arithmetic shift agree.
#[inline]
pub fn rounding_divide_by_pot(x: i64, exponent: u32) -> i64 {
    let exponent = exponent.min(62);
    let mask = (1i64 << exponent) - 1;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i64::from(x < 0);
    (x >> exponent) + i64::from(remainder > threshold)
}

/// TensorFlow Lite Micro's `MultiplyByQuantizedMultiplier` (the double-rounding rule):
/// `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^left, multiplier), right)`
/// with `left = max(shift, 0)` and `right = max(-shift, 0)`. The left shift wraps in `i32`
/// exactly as the 32-bit multiplication of the C++ code does on every machine it runs on.
///
/// Arguments are clamped into the valid ranges (`multiplier >= 0`, `shift` in `[-31, 30]`)
/// rather than trusted, so the function is total; validation makes the clamps no-ops.
#[inline]
pub fn requantize_double(x: i32, multiplier: i32, shift: i8) -> i32 {
    let shift = i32::from(shift).clamp(-31, 30);
    let multiplier = multiplier.max(0);
    let left = shift.max(0) as u32;
    let right = (-shift).max(0) as u32;
    let high = saturating_rounding_doubling_high_mul(x.wrapping_shl(left), multiplier);
    rounding_divide_by_pot(i64::from(high), right) as i32
}

/// Scales an `i32` accumulator by the real number `multiplier * 2^(shift - 31)` and rounds
/// half up, exactly: `(x * multiplier + 2^(30 - shift)) >> (31 - shift)` in 64-bit arithmetic,
/// then saturated to `i32`.
///
/// Preconditions (checked when a model is loaded): `0 <= multiplier <= i32::MAX` and
/// `-31 <= shift <= 30`. With them, `|x * multiplier| < 2^62` and the rounding term is at most
/// `2^61`, so the 64-bit sum cannot overflow. Out-of-range arguments are clamped into range
/// rather than trusted, so the function is total.
#[inline]
pub fn requantize(x: i32, multiplier: i32, shift: i8) -> i32 {
    let shift = i32::from(shift).clamp(-31, 30);
    let multiplier = i64::from(multiplier.max(0));
    let total_shift = 31 - shift; // 1..=62
    let round = 1i64 << (total_shift - 1);
    let scaled = (i64::from(x) * multiplier + round) >> total_shift;
    scaled.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// How an `i32` accumulator becomes an `i8` output: per-channel requantization, the output
/// zero point, and the fused activation as clamp bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputStage<'a> {
    /// One Q31 multiplier per output channel.
    pub multiplier: &'a [i32],
    /// One shift per output channel, in `[-31, 30]`.
    pub shift: &'a [i8],
    /// Added to each requantized value before the clamp.
    pub output_zero_point: i32,
    /// The lowest output value (the fused activation's lower bound).
    pub clamp_min: i8,
    /// The highest output value (the fused activation's upper bound).
    pub clamp_max: i8,
    /// The requantization rule (the model-format version's).
    pub rounding: Rounding,
}

impl OutputStage<'_> {
    /// The output value of channel `channel` for accumulator `acc`.
    #[inline]
    pub fn apply(&self, acc: i32, channel: usize) -> i8 {
        let scaled = self.rounding.apply(acc, self.multiplier[channel], self.shift[channel]);
        let shifted = i64::from(scaled) + i64::from(self.output_zero_point);
        shifted.clamp(i64::from(self.clamp_min), i64::from(self.clamp_max)) as i8
    }

    pub(crate) fn check(&self, kernel: &'static str, channels: usize) -> Result<(), KernelError> {
        check_len(kernel, "multiplier", channels, self.multiplier.len())?;
        check_len(kernel, "shift", channels, self.shift.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up() {
        // multiplier 2^30 with shift 0 is the real number 0.5.
        assert_eq!(requantize(3, 1 << 30, 0), 2); // 1.5 -> 2
        assert_eq!(requantize(-3, 1 << 30, 0), -1); // -1.5 -> -1 (half up, not away from zero)
        assert_eq!(requantize(5, 1 << 30, 0), 3);
        assert_eq!(requantize(-5, 1 << 30, 0), -2);
        assert_eq!(requantize(4, 1 << 30, 0), 2);
    }

    #[test]
    fn shift_extremes_do_not_overflow() {
        assert_eq!(requantize(i32::MAX, i32::MAX, 30), i32::MAX);
        assert_eq!(requantize(i32::MIN, i32::MAX, 30), i32::MIN);
        assert_eq!(requantize(i32::MIN, i32::MAX, -31), -1);
        assert_eq!(requantize(i32::MAX, i32::MAX, -31), 1);
        assert_eq!(requantize(12345, 0, 5), 0);
        // Out-of-range arguments are clamped, never trusted.
        assert_eq!(requantize(100, -5, 100), requantize(100, 0, 30));
    }

    #[test]
    fn double_rounding_matches_gemmlowp_examples() {
        // 0.5 as (2^30, 0): the high multiply alone rounds to nearest, ties toward +infinity
        // (VQRDMULH): 1.5 -> 2 but -1.5 -> -1.
        assert_eq!(requantize_double(3, 1 << 30, 0), 2);
        assert_eq!(requantize_double(-3, 1 << 30, 0), -1);
        assert_eq!(requantize_double(-1, 1 << 30, 0), 0); // -0.5 -> 0
        // 0.25 as (2^30, -1): srdhm(5, 2^30) = 3 (2.5 -> 3), then 3 / 2 = 1.5 -> 2; the exact
        // product 1.25 rounds to 1, so the two rules differ here.
        assert_eq!(requantize_double(5, 1 << 30, -1), 2);
        assert_eq!(requantize(5, 1 << 30, -1), 1);
        // srdhm(-2, 2^30) = -1 exactly, then -1 / 2 = -0.5 -> -1 (the divide's ties go away
        // from zero); the exact -0.5 rounds half up to 0 under single rounding.
        assert_eq!(requantize_double(-2, 1 << 30, -1), -1);
        assert_eq!(requantize(-2, 1 << 30, -1), 0);
        // srdhm(-7, 2^30) = -3 (-3.5 -> -3), then -3 / 2 = -1.5 -> -2.
        assert_eq!(requantize_double(-7, 1 << 30, -1), -2);
        // A positive shift wraps in i32 before the multiply, as TFLM's `x * (1 << shift)`.
        assert_eq!(requantize_double(1 << 30, 1 << 30, 2), 0);
        assert_eq!(requantize_double(i32::MIN, i32::MAX, -31), -1);
        assert_eq!(requantize_double(i32::MIN, i32::MAX, 0), i32::MIN + 1);
        assert_eq!(requantize_double(i32::MAX, i32::MAX, 0), i32::MAX - 1);
        assert_eq!(requantize_double(12345, 0, 5), 0);
        assert_eq!(requantize_double(100, -5, 100), requantize_double(100, 0, 30));
    }

    #[test]
    fn rounding_helpers_match_gemmlowp() {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1); // 0.5 -> 1
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0); // -0.5 -> 0
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1); // -1.5 -> -1
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX), i32::MIN + 1);
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(-4, 1), -2);
        assert_eq!(rounding_divide_by_pot(-1, 1), -1);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        assert_eq!(rounding_divide_by_pot(i64::from(i32::MIN), 31), -1);
    }

    /// proptest's seeded generator: a fixed stream, so a failure is reproducible.
    struct Rng(proptest::test_runner::TestRng);

    impl Rng {
        fn seeded(seed: u64) -> Self {
            use proptest::test_runner::{RngAlgorithm, TestRng};
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&seed.to_le_bytes());
            bytes[8..].copy_from_slice(&(!seed).to_le_bytes());
            Rng(TestRng::from_seed(RngAlgorithm::XorShift, &bytes))
        }
        fn next(&mut self) -> u64 {
            use proptest::prelude::Rng as _;
            self.0.next_u64()
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// An `i32` weighted toward the places rounding and overflow bugs live: the ends of
        /// the range, small values, and powers of two and their neighbours (exact halves).
        fn i32(&mut self) -> i32 {
            const EDGES: [i32; 9] = [i32::MIN, i32::MIN + 1, i32::MAX, i32::MAX - 1, 0, 1, -1, 1 << 30, -(1 << 30)];
            let v = match self.below(4) {
                0 => EDGES[self.below(EDGES.len() as u64) as usize],
                1 => self.below(2001) as i32 - 1000,
                2 => {
                    let p = 1i64 << self.below(32);
                    let v = (p * (self.below(3) as i64 + 1)).wrapping_add(self.below(3) as i64 - 1);
                    v as i32
                }
                _ => self.next() as i32,
            };
            if self.below(2) == 0 { v } else { v.wrapping_neg() }
        }
        fn multiplier(&mut self) -> i32 {
            match self.below(6) {
                0 => [0, 1, 1 << 30, (1 << 30) + 1, i32::MAX, i32::MAX - 1][self.below(6) as usize],
                1 => self.i32(), // out of range half the time: clamped
                2 => ((1u32 << 30) | (self.next() as u32 >> 2)) as i32,
                _ => (self.next() as u32 >> 1) as i32,
            }
        }
        fn shift(&mut self) -> i8 {
            match self.below(8) {
                0 => [-31, 30, 0, -1, 1, i8::MIN, i8::MAX, -32, 31][self.below(9) as usize],
                1 => self.next() as i8,
                _ => (self.below(62) as i8) - 31,
            }
        }
    }

    /// `p / 2^e` rounded to nearest, from the exact quotient and remainder; ties go away from
    /// zero or toward +infinity as asked.
    fn nearest_pow2(p: i128, e: u32, ties_away_from_zero: bool) -> i128 {
        let d = 1i128 << e;
        let (q, r) = (p.div_euclid(d), p.rem_euclid(d)); // p = q * d + r, 0 <= r < d
        match (2 * r).cmp(&d) {
            core::cmp::Ordering::Less => q,
            core::cmp::Ordering::Greater => q + 1,
            // q = floor(p / d) is already the tie's lower neighbour.
            core::cmp::Ordering::Equal if ties_away_from_zero && p < 0 => q,
            core::cmp::Ordering::Equal => q + 1,
        }
    }

    /// `SaturatingRoundingDoublingHighMul` by its meaning: VQRDMULH, `a * b / 2^31` rounded to
    /// nearest with ties toward +infinity, saturated to `i32`.
    fn srdhm_model(a: i32, b: i32) -> i128 {
        nearest_pow2(i128::from(a) * i128::from(b), 31, false).min(i128::from(i32::MAX))
    }

    /// `MultiplyByQuantizedMultiplier` by its meaning, in exact `i128` arithmetic.
    fn double_model(x: i32, multiplier: i32, shift: i8) -> i32 {
        let shift = i32::from(shift).clamp(-31, 30);
        let multiplier = multiplier.max(0);
        let (left, right) = (shift.max(0) as u32, (-shift).max(0) as u32);
        // `x * 2^left` reduced modulo 2^32 into the `i32` range: the wrapping multiply.
        let wide = (i128::from(x) << left).rem_euclid(1 << 32);
        let a = if wide >= 1 << 31 { wide - (1 << 32) } else { wide };
        let h = srdhm_model(a as i32, multiplier);
        let y = nearest_pow2(h, right, true);
        i32::try_from(y).expect("the double-rounding result fits i32")
    }

    /// The one-shift form the vector stages compute (see `simd::StageVectors`), in plain i64.
    fn double_one_shift(x: i32, multiplier: i32, shift: i8) -> i32 {
        let shift = i32::from(shift).clamp(-31, 30);
        let (left, right) = (shift.max(0) as u32, (-shift).max(0) as u32);
        let p = i64::from(x.wrapping_shl(left)) * i64::from(multiplier.max(0));
        let round = (1i64 << 30) + if right > 0 { 1i64 << (30 + right) } else { 0 };
        let neg = if right > 0 { 1i64 << 31 } else { 0 };
        let t = p + round - if p < -(1i64 << 30) { neg } else { 0 };
        i32::try_from(t >> (31 + right)).expect("in range without a clamp")
    }

    #[test]
    fn double_rounding_matches_exact_model_on_random_values() {
        let mut rng = Rng::seeded(0x5eed_0001);
        for _ in 0..1_000_000 {
            let (x, m, s) = (rng.i32(), rng.multiplier(), rng.shift());
            let want = double_model(x, m, s);
            assert_eq!(requantize_double(x, m, s), want, "x {x} multiplier {m} shift {s}");
            assert_eq!(double_one_shift(x, m, s), want, "one-shift form: x {x} multiplier {m} shift {s}");
            assert_eq!(Rounding::Double.apply(x, m, s), want);
        }
    }

    #[test]
    fn double_rounding_matches_exact_model_on_edges() {
        let xs: alloc::vec::Vec<i32> = (0..31)
            .flat_map(|k| {
                let p = 1i32 << k;
                [p, p - 1, p + 1, p.wrapping_mul(3)]
            })
            .chain([i32::MIN, i32::MIN + 1, i32::MAX, i32::MAX - 1, 0, -(1 << 30) - 1])
            .flat_map(|v| [v, v.wrapping_neg()])
            .collect();
        let ms = [0, 1, 2, 3, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, i32::MAX - 1, i32::MAX, -1, i32::MIN];
        for s in (-40i8..=40).chain([i8::MIN, i8::MAX]) {
            for &m in &ms {
                for &x in &xs {
                    let want = double_model(x, m, s);
                    assert_eq!(requantize_double(x, m, s), want, "x {x} multiplier {m} shift {s}");
                    assert_eq!(double_one_shift(x, m, s), want, "one-shift form: x {x} multiplier {m} shift {s}");
                }
            }
        }
    }

    #[test]
    fn rounding_helpers_match_exact_model_on_random_values() {
        let mut rng = Rng::seeded(0x5eed_0002);
        for _ in 0..500_000 {
            let (a, b) = (rng.i32(), rng.i32());
            let want = srdhm_model(a, b);
            assert_eq!(i128::from(saturating_rounding_doubling_high_mul(a, b)), want, "srdhm({a}, {b})");
            // gemmlowp's domain: i32 values, exponents 0..=31.
            let e = rng.below(32) as u32;
            let want = nearest_pow2(i128::from(a), e, true);
            assert_eq!(i128::from(rounding_divide_by_pot(i64::from(a), e)), want, "rdbp({a}, {e})");
            // The wider domain this crate documents: any i64, exponents 0..=62 (clamped above).
            let x = rng.next() as i64 >> rng.below(64);
            let e = rng.below(70) as u32;
            let want = nearest_pow2(i128::from(x), e.min(62), true);
            assert_eq!(i128::from(rounding_divide_by_pot(x, e)), want, "rdbp({x}, {e})");
        }
    }

    #[test]
    fn identity_scale() {
        // 2^30 * 2^(1-31) = 1.0
        for x in [-1000, -1, 0, 1, 7, 1 << 20] {
            assert_eq!(requantize(x, 1 << 30, 1), x);
        }
    }
}
