//! Real numbers to the engine's integers, exactly as TensorFlow Lite's preparation code does
//! it (`tensorflow/lite/kernels/internal/quantization_util.cc`), so that an imported model
//! computes what the runtime computes.
//!
//! Format v1 follows LiteRT's single-rounding build ([`quantize_multiplier`],
//! [`softmax_params`]). Format v2 follows TensorFlow Lite Micro, op by op: its default
//! (double-rounding) build of `QuantizeMultiplier` ([`quantize_multiplier_raw`]) and each
//! kernel's `Prepare`, in the precision it computes in.
//!
//! The reference for v2 is the TFLM build the project pins as its oracle (PyPI
//! `tflite-micro==0.dev20261023182759`, `scripts/requirements.txt`). Its compiled `Prepare`
//! functions compute every ratio in double (SUB like ADD, HARD_SWISH's and LEAKY_RELU's ratios,
//! a per-tensor FULLY_CONNECTED's scale product), where the tflite-micro sources of August 2026
//! still computed those in `float`; only HARD_SWISH's `input_scale / 128` and the fused
//! activation bounds are `float` there.

use aiop_engine::Scale;

/// `(m, e)` with `x = m * 2^e` and `m` in `[0.5, 1)` for finite positive `x` (C's `frexp`).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (x, bias) = if x.abs() < f64::MIN_POSITIVE { (x * 2f64.powi(64), -64) } else { (x, 0) };
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let mantissa = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (mantissa, exponent + bias)
}

/// TensorFlow Lite's `QuantizeMultiplier` with `TFLITE_SINGLE_ROUNDING`: the `Scale` whose
/// value `multiplier * 2^(shift - 31)` is nearest to `real` (rounding half away from zero),
/// with shifts below -31 flushed to zero and shifts above 30 saturated.
///
/// Returns `None` for a negative, infinite or NaN `real`.
pub fn quantize_multiplier(real: f64) -> Option<Scale> {
    if !(real.is_finite() && real >= 0.0) {
        return None;
    }
    let (q_fixed, shift) = quantize_multiplier_signed(real)?;
    if shift > 30 {
        return Some(Scale::new(i32::MAX, 30));
    }
    // A non-negative real gives q_fixed in [0, 2^31) after renormalization.
    Some(Scale::new(q_fixed as i32, shift as i8))
}

/// The real value of a `Scale`.
pub fn scale_value(s: Scale) -> f64 {
    f64::from(s.multiplier) * 2f64.powi(i32::from(s.shift) - 31)
}

/// Softmax input scaling (TensorFlow Lite's `PreprocessSoftmaxScaling` with 5 integer bits and
/// `CalculateInputRadius`): the engine's `beta` scale and `diff_min`.
pub fn softmax_params(beta: f64, input_scale: f64) -> Option<(Scale, i32)> {
    const INTEGER_BITS: i32 = 5;
    let max_real = ((1u64 << 30) - 1) as f64;
    let real = (beta * input_scale * (1u64 << (31 - INTEGER_BITS)) as f64).min(max_real);
    if real <= 1.0 {
        return None;
    }
    let scale = quantize_multiplier(real)?;
    if scale.shift < 0 {
        return None;
    }
    let radius = input_radius(INTEGER_BITS, i32::from(scale.shift), 31);
    Some((scale, -radius))
}

/// TensorFlow Lite's `CalculateInputRadius`.
pub fn input_radius(integer_bits: i32, left_shift: i32, total_signed_bits: i32) -> i32 {
    let max = ((1i64 << integer_bits) - 1) as f64 * (1u64 << (total_signed_bits - integer_bits)) as f64
        / (1u64 << left_shift) as f64;
    max.floor() as i32
}

/// The engine-side parameters of Logistic or Tanh for an input of scale `input_scale`
/// (TensorFlow Lite Micro's preparation: 4 integer bits, `frexp` without renormalization).
pub fn q4_input_params(input_scale: f64) -> Option<(Scale, i32)> {
    let real = input_scale * (1u64 << 27) as f64;
    let (q, shift) = frexp(real);
    let m = (q * (1u64 << 31) as f64).round() as i64;
    if !(0..=30).contains(&shift) || m > i64::from(i32::MAX) {
        return None;
    }
    Some((Scale::new(m as i32, shift as i8), input_radius(4, shift, 31)))
}

/// TensorFlow Lite Micro's `QuantizeMultiplier` (default, double-rounding build) as it stores
/// it: `(multiplier, shift)` with `real = multiplier * 2^(shift - 31)`, the multiplier
/// `round_half_away(frexp_mantissa * 2^31)` (renormalized when that is `2^31`), shifts below -31
/// flushed to `(0, 0)`, and large shifts kept (this build does not saturate them).
///
/// Returns `None` for a negative, infinite or NaN `real`.
pub fn quantize_multiplier_raw(real: f64) -> Option<(i32, i32)> {
    if real < 0.0 {
        return None;
    }
    let (q_fixed, shift) = quantize_multiplier_signed(real)?;
    Some((i32::try_from(q_fixed).ok()?, shift))
}

/// TFLM's `QuantizeMultiplier` for a real of either sign, before the final cast to `int32_t`:
/// for a negative real the mantissa rounds to a negative multiplier, and a magnitude that rounds
/// to `2^31` is not renormalized (TFLM's check compares with `+2^31` only), so it comes back as
/// `-2^31`. `None` for an infinite or NaN `real`.
pub fn quantize_multiplier_signed(real: f64) -> Option<(i64, i32)> {
    if !real.is_finite() {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = (q * (1u64 << 31) as f64).round() as i64;
    if q_fixed == 1 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    Some((q_fixed, shift))
}

/// [`quantize_multiplier_raw`] as an engine [`Scale`]; `None` also when the shift is over 30
/// (a real number of at least 2^30, which the engine's scales cannot hold).
pub fn quantize_multiplier_v2(real: f64) -> Option<Scale> {
    let (m, s) = quantize_multiplier_raw(real)?;
    (s <= 30).then(|| Scale::new(m, s as i8))
}

/// TensorFlow Lite's `QuantizeMultiplierSmallerThanOneExp`: `real` must be in `(0, 1)` and the
/// shift must come out at most 0 (TFLM aborts otherwise; here: `None`).
pub fn quantize_multiplier_smaller_than_one(real: f64) -> Option<Scale> {
    if !(real > 0.0 && real < 1.0) {
        return None;
    }
    let (m, s) = quantize_multiplier_raw(real)?;
    (s <= 0).then(|| Scale::new(m, s as i8))
}

/// Format v2 Softmax input scaling: TFLM's `PreprocessSoftmaxScaling` (double-rounding build:
/// the real multiplier is capped at `2^31 - 1`), `QuantizeMultiplierGreaterThanOne`, and
/// `diff_min = -CalculateInputRadius(5, left_shift)`.
///
/// `None` when `beta * input_scale * 2^26 <= 1` (TFLM aborts) or when the left shift would be
/// 31 (`beta * input_scale >= 16`), which the engine's scales cannot hold.
pub fn softmax_params_v2(beta: f64, input_scale: f64) -> Option<(Scale, i32)> {
    const INTEGER_BITS: i32 = 5;
    let max_real = ((1u64 << 31) - 1) as f64;
    let real = (beta * input_scale * (1u64 << (31 - INTEGER_BITS)) as f64).min(max_real);
    if real <= 1.0 || real.is_nan() {
        return None;
    }
    let (m, shift) = quantize_multiplier_raw(real)?;
    if !(0..=30).contains(&shift) {
        return None;
    }
    Some((Scale::new(m, shift as i8), -input_radius(INTEGER_BITS, shift, 31)))
}

/// The inputs' and output's rescaling of an int8 ADD or SUB: `(lhs, rhs, output)`, all with
/// the left shift of 20 applied to the centered inputs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParams {
    /// Rescales the shifted left input: `lhs_scale / (2 * max(lhs_scale, rhs_scale))`.
    pub lhs: Scale,
    /// Rescales the shifted right input: `rhs_scale / (2 * max(lhs_scale, rhs_scale))`.
    pub rhs: Scale,
    /// Rescales the sum into the output: `2 * max(lhs_scale, rhs_scale) / (2^20 * output_scale)`.
    pub output: Scale,
}

/// The left shift TFLM applies to both int8 inputs of ADD and SUB.
pub const ADD_LEFT_SHIFT: u8 = 20;

/// TFLM's `CalculateOpDataAdd` and `CalculateOpDataSub` (int8; the pinned build compiles both
/// alike): `twice_max_input_scale = 2 * max(s1, s2)` and the three ratios in double
/// precision, each through `QuantizeMultiplierSmallerThanOneExp`.
pub fn add_params_v2(lhs: f32, rhs: f32, output: f32) -> Option<AddParams> {
    let twice_max = 2.0 * f64::from(lhs.max(rhs));
    Some(AddParams {
        lhs: quantize_multiplier_smaller_than_one(f64::from(lhs) / twice_max)?,
        rhs: quantize_multiplier_smaller_than_one(f64::from(rhs) / twice_max)?,
        output: quantize_multiplier_smaller_than_one(
            twice_max / (f64::from(1u32 << ADD_LEFT_SHIFT) * f64::from(output)),
        )?,
    })
}

/// The requantization of TFLM's int8 MEAN (`reference_ops::QuantizedMeanOrSum`, the only int8
/// path since TFLM #1908, April 2023): `QuantizeMultiplier(input_scale / output_scale)` in
/// double, then the division by the element count folded in:
/// `shift = min(floor(log2(count)), 32, 31 + s)`, `multiplier = (M << shift) / count`
/// (truncating), `s -= shift`. `None` when the final shift is outside the engine's `[-31, 30]`.
pub fn mean_scale_v2(input_scale: f32, output_scale: f32, count: u64) -> Option<Scale> {
    if count == 0 || count > i64::MAX as u64 {
        return None;
    }
    let (m, s) = quantize_multiplier_raw(f64::from(input_scale) / f64::from(output_scale))?;
    let shift = (63 - count.leading_zeros() as i32).min(32).min(31 + s);
    if shift < 0 {
        return None;
    }
    let multiplier = ((i64::from(m) << shift) / count as i64) as i32;
    let final_shift = s - shift;
    (-31..=30).contains(&final_shift).then(|| Scale::new(multiplier, final_shift as i8))
}

/// TensorFlow Lite's `DownScaleInt32ToInt16Multiplier`: a Q31 multiplier rounded to Q15.
pub fn down_scale_to_i16(multiplier: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if multiplier >= i32::MAX - ROUNDING {
        return i16::MAX;
    }
    ((multiplier + ROUNDING) >> 16) as i16
}

/// TFLM's `HardSwishParams` for int8: `(reluish_multiplier, reluish_exponent,
/// output_multiplier, output_exponent)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardSwishParams {
    /// Q15 multiplier of `hires_input_scale / (3 / 32768)`.
    pub reluish_multiplier: i16,
    /// Power-of-two exponent of that ratio.
    pub reluish_exponent: i32,
    /// Q15 multiplier of `hires_input_scale / output_scale`.
    pub output_multiplier: i16,
    /// Power-of-two exponent of that ratio (never above 0).
    pub output_exponent: i32,
}

/// TFLM's `HardSwishPrepare` (int8), in the pinned build's precisions:
/// `hires_input_scale = (1 / 128) * input_scale` in `float`, then `hires / output_scale` and
/// `hires / (3 / 32768)` in double, each through `QuantizeMultiplier` and
/// `DownScaleInt32ToInt16Multiplier`. `None` when TFLM rejects it (an output exponent above 0)
/// or a ratio is not finite.
pub fn hard_swish_params(input_scale: f32, output_scale: f32) -> Option<HardSwishParams> {
    let hires = f64::from((1.0f32 / 128.0) * input_scale);
    let reluish_scale = 3.0 / 32768.0;
    let (om, oe) = quantize_multiplier_raw(hires / f64::from(output_scale))?;
    if oe > 0 {
        return None;
    }
    let (rm, re) = quantize_multiplier_raw(hires / reluish_scale)?;
    Some(HardSwishParams {
        reluish_multiplier: down_scale_to_i16(rm),
        reluish_exponent: re,
        output_multiplier: down_scale_to_i16(om),
        output_exponent: oe,
    })
}

/// The LeakyRelu scales of format v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakyReluScales {
    /// The identity scale, `input_scale / output_scale`.
    pub identity: Scale,
    /// The magnitude of the alpha multiplier.
    pub alpha: Scale,
    /// The alpha multiplier is negative (TFLM negates the scaled value).
    pub alpha_negative: bool,
}

/// TFLM's `CalculateOpDataLeakyRelu` (int8): the identity scale from `input_scale /
/// output_scale` and the alpha scale from `input_scale * alpha / output_scale`, both in double
/// (the pinned build), through `QuantizeMultiplier`. A negative alpha gives a negative
/// multiplier, whose magnitude the kernel uses before negating the result.
///
/// `None` for a shift over 30, or a negative alpha whose multiplier comes out as `-2^31`
/// (TFLM then negates `INT32_MIN`, which overflows).
pub fn leaky_relu_scales(input_scale: f32, alpha: f32, output_scale: f32) -> Option<LeakyReluScales> {
    let (input_scale, output_scale) = (f64::from(input_scale), f64::from(output_scale));
    let identity = quantize_multiplier_v2(input_scale / output_scale)?;
    let (m, shift) = quantize_multiplier_signed(input_scale * f64::from(alpha) / output_scale)?;
    let magnitude = i32::try_from(m.checked_abs()?).ok()?;
    if shift > 30 {
        return None;
    }
    Some(LeakyReluScales { identity, alpha: Scale::new(magnitude, shift as i8), alpha_negative: m < 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(3.0), (0.75, 2));
        let (m, e) = frexp(1e-310);
        assert!((0.5..1.0).contains(&m));
        assert_eq!(m * 2f64.powi(e), 1e-310);
    }

    #[test]
    fn tflm_build_quantize_multiplier() {
        // No saturation of large shifts in TFLM's (double-rounding) build.
        assert_eq!(quantize_multiplier_raw(1e12), Some((1953125000, 40)));
        assert_eq!(quantize_multiplier_v2(1e12), None);
        assert_eq!(quantize_multiplier_v2(0.5), Some(Scale::new(1 << 30, 0)));
        // A negative real keeps its sign; a magnitude rounding to 2^31 is not renormalized.
        assert_eq!(quantize_multiplier_signed(-0.75), Some((-(3 << 29), 0)));
        assert_eq!(quantize_multiplier_signed(-(1.0 - 1e-12)), Some((-(1 << 31), 0)));
        assert_eq!(quantize_multiplier_smaller_than_one(1.0), None);
        assert_eq!(quantize_multiplier_smaller_than_one(1.0 - 1e-12), None, "rounds up to shift 1");
        assert_eq!(quantize_multiplier_smaller_than_one(0.25), Some(Scale::new(1 << 30, -1)));
    }

    #[test]
    fn mean_scale_folds_the_count() {
        // 2^30 << 4 / 16 = 2^30, shift 2 - 4.
        assert_eq!(mean_scale_v2(0.5, 0.25, 16), Some(Scale::new(1 << 30, -2)));
        // Count 1: unchanged.
        assert_eq!(mean_scale_v2(0.5, 0.25, 1), Some(Scale::new(1 << 30, 2)));
        // The shift is capped at 31 + s: s = -31 allows none.
        let (m, s) = quantize_multiplier_raw(f64::from(1e-9f32) / 1.0).unwrap();
        assert_eq!(s, -29);
        assert_eq!(mean_scale_v2(1e-9, 1.0, 8), Some(Scale::new(((i64::from(m) << 2) / 8) as i32, -31)));
        // ... and at 32.
        assert_eq!(mean_scale_v2(1.0, 1.0, 1 << 40), Some(Scale::new(((1i64 << 62) >> 40) as i32, -31)));
        assert_eq!(mean_scale_v2(1.0, 1.0, 0), None);
    }

    #[test]
    fn down_scale_saturates() {
        assert_eq!(down_scale_to_i16(1 << 30), 16384);
        assert_eq!(down_scale_to_i16(i32::MAX - (1 << 15) - 1), 32767);
        assert_eq!(down_scale_to_i16(i32::MAX), 32767);
        assert_eq!(down_scale_to_i16(0x7fff_0000 - 1), 32767);
        assert_eq!(down_scale_to_i16(0x7ffe_7fff), 32766);
    }

    #[test]
    fn softmax_v2_caps_at_2_31() {
        // 1 * (1/16) * 2^26 = 2^22 -> (2^30, 23); radius floor(31 * 2^26 / 2^23) = 248.
        assert_eq!(softmax_params_v2(1.0, 1.0 / 16.0), Some((Scale::new(1 << 30, 23), -248)));
        assert_eq!(softmax_params_v2(1.0, 16.0), None, "shift 31");
        assert_eq!(softmax_params_v2(1.0, 1e-9), None, "at most 1: TFLM aborts");
    }

    #[test]
    fn quantize_multiplier_matches_tflite() {
        assert_eq!(quantize_multiplier(0.5), Some(Scale::new(1 << 30, 0)));
        assert_eq!(quantize_multiplier(1.0), Some(Scale::new(1 << 30, 1)));
        // Rounds up to 2^31: renormalized.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), Some(Scale::new(1 << 30, 1)));
        assert_eq!(quantize_multiplier(1e-30), Some(Scale::new(0, 0)));
        assert_eq!(quantize_multiplier(1e12), Some(Scale::new(i32::MAX, 30)));
        assert_eq!(quantize_multiplier(-1.0), None);
        let s = quantize_multiplier(0.0123).unwrap();
        assert!((scale_value(s) - 0.0123).abs() < 1e-11);
    }
}
