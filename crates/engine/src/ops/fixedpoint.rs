//! Fixed-point arithmetic for Softmax, Logistic and Tanh, following gemmlowp's
//! `fixedpoint.h` (the arithmetic of TensorFlow Lite's int8 reference kernels).
//!
//! A value with `I` integer bits is an `i32` raw `r` standing for `r / 2^(31 - I)`.
//! Additions wrap (two's complement), exactly as gemmlowp's do on two's-complement machines,
//! so results equal TensorFlow Lite's even where an intermediate wraps. Division by a power
//! of two rounds half away from zero. No floating point: the constants below are gemmlowp's.

pub use aiop_kernels::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul};

#[inline]
fn rdbp32(x: i32, exponent: u32) -> i32 {
    rounding_divide_by_pot(i64::from(x), exponent) as i32
}

/// `x * 2^exponent`: saturating for positive exponents, rounding for negative ones.
#[inline]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent >= 0 {
        let shifted = i64::from(x) << exponent.min(32);
        shifted.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    } else {
        rdbp32(x, exponent.unsigned_abs())
    }
}

/// Changes the number of integer bits from `src` to `dst`.
#[inline]
fn rescale(x: i32, src: i32, dst: i32) -> i32 {
    saturating_rounding_multiply_by_pot(x, src - dst)
}

#[inline]
fn mul(a: i32, b: i32) -> i32 {
    saturating_rounding_doubling_high_mul(a, b)
}

/// `(a + b) / 2`, rounded half away from zero, without overflow.
#[inline]
fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// 1.0 with 0 integer bits is not representable; gemmlowp uses the largest value.
const ONE_Q0: i32 = i32::MAX;
/// 1.0 with 2 integer bits.
const ONE_Q2: i32 = 1 << 29;

/// Newton-Raphson iterations for `1 / (1 + a)`-like quotients; returns `x ~= 1 / half_denominator`
/// with 2 integer bits.
fn newton_reciprocal_q2(half_denominator: i32) -> i32 {
    const CONSTANT_48_OVER_17: i32 = 1_515_870_810;
    const CONSTANT_NEG_32_OVER_17: i32 = -1_010_580_540;
    let mut x = CONSTANT_48_OVER_17.wrapping_add(mul(half_denominator, CONSTANT_NEG_32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(mul(x, one_minus), 4, 2));
    }
    x
}

/// `1 / (1 + a)` for `a` in `[0, 1)` (0 integer bits in and out).
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let x = newton_reciprocal_q2(rounding_half_sum(a, ONE_Q0));
    // x approximates 1 / half_denominator with 2 integer bits, so 1 / (1 + a) is the same raw
    // value read with 1 integer bit; then rescale to 0 integer bits (saturating 2x).
    rescale(x, 1, 0)
}

/// `(1 - a) / (1 + a)` for `a` in `[0, 1)` (0 integer bits in and out).
pub fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let x = newton_reciprocal_q2(rounding_half_sum(a, ONE_Q0));
    rescale(x.wrapping_sub(ONE_Q2), 2, 0)
}

/// `exp(a)` for `a` in `[-1/4, 0)`, by a Taylor expansion around `-1/8`.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
    const CONSTANT_1_OVER_3: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly =
        saturating_rounding_multiply_by_pot(mul(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3).wrapping_add(x2), -1);
    CONSTANT_TERM.wrapping_add(mul(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// `exp(a)` for `a <= 0` with `INTEGER_BITS` integer bits; the result has 0 integer bits.
pub fn exp_on_negative_values<const INTEGER_BITS: i32>(a: i32) -> i32 {
    let fractional_bits = 31 - INTEGER_BITS;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        INTEGER_BITS,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);

    // exp(-2^e) for e = -2..=4, in Q0.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if INTEGER_BITS > exponent {
            let bit = fractional_bits + exponent;
            if remainder & (1i32 << bit) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if INTEGER_BITS > 5 {
        let clamp = -(1i32 << (36 - INTEGER_BITS).clamp(0, 30));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 { ONE_Q0 } else { result }
}

/// The logistic function of a value with 4 integer bits; the result has 0 integer bits.
pub fn logistic_q4(a: i32) -> i32 {
    if a == 0 {
        return 1 << 30; // 0.5
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values::<4>(abs.wrapping_neg()));
    if a > 0 { positive } else { ONE_Q0.wrapping_sub(positive) }
}

/// The hyperbolic tangent of a value with 4 integer bits; the result has 0 integer bits.
pub fn tanh_q4(a: i32) -> i32 {
    if a == 0 {
        return 0;
    }
    let non_positive = if a < 0 { a } else { a.wrapping_neg() };
    // tanh(|a|) = (1 - exp(-2|a|)) / (1 + exp(-2|a|)). Doubling is exact by reading the same raw
    // value with 5 integer bits instead of 4; shifting the raw value left would wrap for
    // |a| >= 8.
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values::<5>(non_positive));
    if a < 0 { t.wrapping_neg() } else { t }
}

/// `1 / x` for a positive `x` with `integer_bits` integer bits, as a Q0 value and the number of
/// bits the true reciprocal is above it (TensorFlow Lite's `GetReciprocal`).
pub fn reciprocal(x: i32, integer_bits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros().min(31);
    let bits_over_unit = integer_bits - headroom_plus_one as i32;
    let shifted_minus_one = ((x as u32) << headroom_plus_one).wrapping_sub(1u32 << 31) as i32;
    (one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), bits_over_unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srdhm_matches_definition() {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(saturating_rounding_doubling_high_mul(-(1 << 30), 1 << 30), -(1 << 29));
        // gemmlowp's nudge rounds 1.5 up to 2 and -1.5 up to -1.
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
    }

    #[test]
    fn rounding_divide_rounds_half_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(i64::from(i32::MAX), 62), 0);
        assert_eq!(rounding_divide_by_pot(1 << 40, 34), 64);
    }

    #[test]
    fn exp_hits_known_points() {
        // exp(0) = 1, exp(-1) = 0.3679, exp(-4) = 0.0183 (Q0 raw / 2^31).
        assert_eq!(exp_on_negative_values::<5>(0), i32::MAX);
        let e1 = exp_on_negative_values::<5>(-(1 << 26));
        assert!((e1 - 790_015_085).abs() < 1 << 10, "{e1}");
        let e4 = exp_on_negative_values::<4>(-(1 << 29));
        assert!((e4 - 39_332_535).abs() < 1 << 10, "{e4}");
    }

    #[test]
    fn logistic_and_tanh_are_odd_around_their_centres() {
        for raw in [1, 1000, 1 << 20, 1 << 26, 3 << 27] {
            let p = logistic_q4(raw);
            let n = logistic_q4(-raw);
            assert!((i64::from(p) + i64::from(n) - i64::from(i32::MAX)).abs() <= 1);
            assert_eq!(tanh_q4(raw), tanh_q4(-raw).wrapping_neg());
        }
        // logistic(1.0) = 0.7311; tanh(1.0) = 0.7616 (Q0).
        let l = logistic_q4(1 << 27);
        assert!((l - 1_569_936_343).abs() < 1 << 12, "{l}");
        let t = tanh_q4(1 << 27);
        assert!((t - 1_635_510_996).abs() < 1 << 12, "{t}");
    }

    #[test]
    fn reciprocal_of_two() {
        // 2.0 with 12 integer bits is raw 2^20; 1/2.0 comes back as (1.0 in Q0, 1 bit over unit).
        let (scale, bits) = reciprocal(2 << 19, 12);
        assert_eq!(bits, 1);
        assert!((i64::from(scale) - i64::from(i32::MAX)).abs() < 1 << 8, "{scale}");
    }

    #[test]
    fn tanh_is_monotonic_and_saturates_over_the_whole_q4_range() {
        // Sweep every 2^20-th raw value, including |a| >= 8 where a raw doubling would wrap.
        let mut previous = i32::MIN;
        let mut a = i32::MIN;
        loop {
            let t = tanh_q4(a);
            assert!(t >= previous, "tanh is not monotonic at raw {a}: {t} < {previous}");
            previous = t;
            match a.checked_add(1 << 20) {
                Some(next) => a = next,
                None => break,
            }
        }
        // tanh(9.0) and tanh(-16.0) are 1 and -1 to far better than an int8 step.
        let nine = 9 << 27;
        assert!(i32::MAX - tanh_q4(nine) < 1 << 20, "{}", tanh_q4(nine));
        assert!(tanh_q4(i32::MIN) + i32::MAX < 1 << 20, "{}", tanh_q4(i32::MIN));
        assert_eq!(tanh_q4(-nine), tanh_q4(nine).wrapping_neg());
    }

    #[test]
    fn one_over_one_plus_x_is_half_at_one_and_one_at_zero() {
        let half = one_over_one_plus_x_for_x_in_0_1(i32::MAX);
        assert!((i64::from(half) - (1i64 << 30)).abs() < 1 << 4, "{half}");
        let one = one_over_one_plus_x_for_x_in_0_1(0);
        assert!(i64::from(i32::MAX) - i64::from(one) < 1 << 4, "{one}");
    }
}
