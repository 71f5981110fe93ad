//! The product of two activations (attention scores and values): [`batch_matmul`].
//!
//! Neither factor is known at load, so nothing is packed ahead: the vector paths lay both out
//! on every call, in linear passes, and sum `i16` pairs into `i32` (`vpmaddwd` on AVX2,
//! `vpdpwssd` on AVX-512), tiles of rows and columns sharing their loads
//! ([`crate::simd::product`]). The sums wrap like the reference's; under the engine's bound
//! (`K * 255 * 255` fits `i32`) they cannot, so any order gives the reference's bytes.

use crate::{KernelError, KernelPath, OutputStage, check_len, reference};
#[cfg(target_arch = "x86_64")]
use crate::{simd, x86};

/// The shape and zero points of a [`batch_matmul`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationProduct {
    /// Number of independent products.
    pub batch: usize,
    /// Rows of the left factor and of the output.
    pub m: usize,
    /// The reduction depth.
    pub k: usize,
    /// Columns of the right factor and of the output.
    pub n: usize,
    /// Whether the right factor is stored `[batch][n][k]` rather than `[batch][k][n]`.
    pub transpose_rhs: bool,
    /// Subtracted from every left value.
    pub lhs_zero_point: i32,
    /// Subtracted from every right value.
    pub rhs_zero_point: i32,
}

/// `out[b][m][n] = stage(sum_k (lhs[b][m][k] - zp_lhs) * (rhs'[b][k][n] - zp_rhs), 0)`, with a
/// one-channel `stage`; the bytes of [`reference::batch_matmul`] on every path.
pub fn batch_matmul(
    path: KernelPath,
    shape: &ActivationProduct,
    lhs: &[i8],
    rhs: &[i8],
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    let overflow = KernelError::SizeOverflow { kernel: "batch_matmul" };
    let size = |a: usize, b: usize| shape.batch.checked_mul(a)?.checked_mul(b);
    check_len("batch_matmul", "lhs", size(shape.m, shape.k).ok_or(overflow.clone())?, lhs.len())?;
    check_len("batch_matmul", "rhs", size(shape.k, shape.n).ok_or(overflow.clone())?, rhs.len())?;
    check_len("batch_matmul", "out", size(shape.m, shape.n).ok_or(overflow)?, out.len())?;
    stage.check("batch_matmul", 1)?;
    let unavailable = KernelError::PathUnavailable(path.name());
    // The vector driver centers bytes into `i16`, which a zero point beyond a byte would
    // overflow: such products (which the engine's int8 tensors never have) take the reference.
    let byte = |z: i32| (-128..=127).contains(&z);
    let vector_ran = match path {
        KernelPath::Reference => false,
        _ if !(byte(shape.lhs_zero_point) && byte(shape.rhs_zero_point)) => {
            path.is_available().then_some(false).ok_or(unavailable)?
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => {
            simd::product::batch_matmul(x86::Avx2::detect().ok_or(unavailable)?, shape, lhs, rhs, stage, out)
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => {
            simd::product::batch_matmul(x86::Avx512::detect().ok_or(unavailable)?, shape, lhs, rhs, stage, out)
        }
        #[cfg(target_arch = "x86_64")]
        // Products of two activations need no tiles: the AVX-512 lanes.
        KernelPath::Amx => {
            simd::product::batch_matmul(x86::Avx512Amx::detect().ok_or(unavailable)?, shape, lhs, rhs, stage, out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => return Err(unavailable),
    };
    if !vector_ran {
        reference::batch_matmul(shape, lhs, rhs, stage, out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::Rounding;

    /// A deterministic byte stream (xorshift) for the property tests.
    fn bytes(seed: u64, len: usize) -> Vec<i8> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as i8
            })
            .collect()
    }

    #[test]
    fn hand_computed_product_and_transpose() {
        // [[1, 2], [3, 4]] (zp 1: centered [[0, 1], [2, 3]]) times [[5, 6], [7, 8]] (zp -1:
        // centered [[6, 7], [8, 9]]) = [[8, 9], [36, 41]]; multiplier 2^30 (0.5), shift 0.
        let stage = OutputStage {
            multiplier: &[1 << 30],
            shift: &[0],
            output_zero_point: 0,
            clamp_min: -128,
            clamp_max: 127,
            rounding: Rounding::Double,
        };
        let lhs = [1, 2, 3, 4];
        let shape = ActivationProduct {
            batch: 1,
            m: 2,
            k: 2,
            n: 2,
            transpose_rhs: false,
            lhs_zero_point: 1,
            rhs_zero_point: -1,
        };
        let transposed = ActivationProduct { transpose_rhs: true, ..shape };
        for path in KernelPath::available() {
            let mut out = [0i8; 4];
            batch_matmul(path, &shape, &lhs, &[5, 6, 7, 8], &stage, &mut out).unwrap();
            assert_eq!(out, [4, 5, 18, 21], "{path}");
            batch_matmul(path, &transposed, &lhs, &[5, 7, 6, 8], &stage, &mut out).unwrap();
            assert_eq!(out, [4, 5, 18, 21], "{path}");
        }
    }

    #[test]
    fn every_path_matches_the_reference() {
        let ran: Vec<_> = KernelPath::available().map(|p| p.name()).collect();
        std::println!("batch_matmul paths run: {ran:?}");
        let shapes =
            [(1, 1, 1, 1), (2, 3, 5, 7), (4, 16, 8, 16), (1, 9, 33, 17), (3, 2, 64, 1), (1, 1, 300, 3), (2, 5, 0, 3)];
        for (case, &(batch, m, k, n)) in shapes.iter().enumerate() {
            for transpose_rhs in [false, true] {
                let shape = ActivationProduct {
                    batch,
                    m,
                    k,
                    n,
                    transpose_rhs,
                    lhs_zero_point: -128 + case as i32 * 37,
                    rhs_zero_point: 127 - case as i32 * 41,
                };
                let lhs = bytes(case as u64 * 2 + 1, batch * m * k);
                let rhs = bytes(case as u64 * 2 + 2, batch * k * n);
                let stage = OutputStage {
                    multiplier: &[1_518_500_250],
                    shift: &[-9],
                    output_zero_point: 3,
                    clamp_min: -120,
                    clamp_max: 120,
                    rounding: Rounding::Double,
                };
                let mut expected = vec![0i8; batch * m * n];
                reference::batch_matmul(&shape, &lhs, &rhs, &stage, &mut expected);
                for path in KernelPath::available() {
                    let mut out = vec![0i8; batch * m * n];
                    batch_matmul(path, &shape, &lhs, &rhs, &stage, &mut out).unwrap();
                    assert_eq!(out, expected, "{path} {shape:?}");
                }
            }
        }
    }

    #[test]
    fn zero_points_beyond_a_byte_match_the_reference() {
        let stage = OutputStage {
            multiplier: &[1_518_500_250],
            shift: &[-20],
            output_zero_point: 0,
            clamp_min: -128,
            clamp_max: 127,
            rounding: Rounding::Single,
        };
        for (lhs_zero_point, rhs_zero_point) in [(300, -7), (5, -70_000), (i32::MIN, i32::MAX)] {
            for (m, k, n) in [(2, 3, 1), (5, 40, 20), (1, 70, 3)] {
                for transpose_rhs in [false, true] {
                    let shape = ActivationProduct { batch: 2, m, k, n, transpose_rhs, lhs_zero_point, rhs_zero_point };
                    let (lhs, rhs) = (bytes(7, 2 * m * k), bytes(8, 2 * k * n));
                    let mut expected = vec![0i8; 2 * m * n];
                    reference::batch_matmul(&shape, &lhs, &rhs, &stage, &mut expected);
                    for path in KernelPath::available() {
                        let mut out = vec![0i8; 2 * m * n];
                        batch_matmul(path, &shape, &lhs, &rhs, &stage, &mut out).unwrap();
                        assert_eq!(out, expected, "{path} {shape:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let stage = OutputStage {
            multiplier: &[1 << 30],
            shift: &[0],
            output_zero_point: 0,
            clamp_min: -128,
            clamp_max: 127,
            rounding: Rounding::Double,
        };
        let shape = ActivationProduct {
            batch: 1,
            m: 2,
            k: 2,
            n: 2,
            transpose_rhs: false,
            lhs_zero_point: 0,
            rhs_zero_point: 0,
        };
        let mut out = [0i8; 4];
        assert!(batch_matmul(KernelPath::Reference, &shape, &[0; 3], &[0; 4], &stage, &mut out).is_err());
        let huge = ActivationProduct { batch: usize::MAX, ..shape };
        assert!(batch_matmul(KernelPath::Reference, &huge, &[0; 4], &[0; 4], &stage, &mut out).is_err());
    }
}
