//! Scalar reference kernels: the specification every optimized kernel is tested against.
//! Plain loops, in the obvious order, with no cleverness.

use crate::OutputStage;

/// `out[m][n] = stage(bias[n] + sum_k w[n][k] * (lhs[m][k] - lhs_zero_point), n)`.
/// Lengths are checked by the caller ([`crate::qgemm`]).
#[allow(clippy::too_many_arguments)]
pub fn qgemm(
    weights: &[i8],
    n: usize,
    k: usize,
    lhs: &[i8],
    m: usize,
    lhs_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) {
    for row in 0..m {
        let x = &lhs[row * k..(row + 1) * k];
        for col in 0..n {
            let w = &weights[col * k..(col + 1) * k];
            // Wrapping adds cannot wrap under the crate's precondition; they keep the kernel
            // total (no overflow panic) when a caller breaks it.
            let mut acc = bias.map_or(0, |b| b[col]);
            for (&wv, &xv) in w.iter().zip(x) {
                acc = acc.wrapping_add(i32::from(wv).wrapping_mul(i32::from(xv).wrapping_sub(lhs_zero_point)));
            }
            out[row * n + col] = stage.apply(acc, col);
        }
    }
}
