//! Real numbers to the engine's integers, exactly as TensorFlow Lite's converter-side code does
//! it (`tensorflow/lite/kernels/internal/quantization_util.cc`, single-rounding build), so that
//! an imported model computes what LiteRT computes.

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
    if real == 0.0 {
        return Some(Scale::new(0, 0));
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
    if shift > 30 {
        shift = 30;
        q_fixed = (1 << 31) - 1;
    }
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
