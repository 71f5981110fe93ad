//! The one requantization rule of aiop (TensorFlow Lite's "single rounding").

use crate::{KernelError, check_len};

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
    pub output_zero_point: i32,
    pub clamp_min: i8,
    pub clamp_max: i8,
}

impl OutputStage<'_> {
    /// The output value of channel `channel` for accumulator `acc`.
    #[inline]
    pub fn apply(&self, acc: i32, channel: usize) -> i8 {
        let scaled = requantize(acc, self.multiplier[channel], self.shift[channel]);
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
    fn identity_scale() {
        // 2^30 * 2^(1-31) = 1.0
        for x in [-1000, -1, 0, 1, 7, 1 << 20] {
            assert_eq!(requantize(x, 1 << 30, 1), x);
        }
    }
}
