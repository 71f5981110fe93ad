//! Fitting the gas constants to measured times.
//!
//! Each case has work counts `x` (one for the base, ops, MACs, elements, transcendentals,
//! bytes) and a measured time `t`. A case "deserves" `y = t / r` gas, where `r` is the ns per
//! gas of ecrecover in the same run. We find non-negative constants `c` that make `c · x`
//! close to `y` in relative terms (least squares on `(c·x - y) / y`, exact NNLS by trying every
//! set of active terms, which is cheap for six terms), then scale `c` up just enough that no
//! case is cheaper than it deserves: `c · x >= y` for every case, so no case runs slower per
//! gas than ecrecover.

/// Names of the terms, in the order of [`Features::terms`].
pub const TERMS: [&str; 6] = ["base", "per op", "per MAC", "per element", "per transcendental", "per byte"];

/// Work counts of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    pub ops: u64,
    pub macs: u64,
    pub elements: u64,
    pub transcendentals: u64,
    /// Model bytes read plus input and output bytes.
    pub bytes: u64,
}

impl Features {
    pub fn terms(&self) -> [f64; 6] {
        [1.0, self.ops as f64, self.macs as f64, self.elements as f64, self.transcendentals as f64, self.bytes as f64]
    }
}

/// The result of a fit: gas per unit of each term (fractions of gas are allowed here; the
/// schedule rounds them up when it stores them).
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub constants: [f64; 6],
    /// How much the least-squares constants were scaled up to put every case under the line.
    pub safety_scale: f64,
    /// Coefficient of determination of the (unscaled) fit, in log space over the cases.
    pub r_squared: f64,
}

impl Fit {
    pub fn gas(&self, features: &Features) -> f64 {
        self.constants.iter().zip(features.terms()).map(|(c, x)| c * x).sum()
    }
}

/// Fits constants so that `gas(x_i) >= y_i` for all cases and is close to `y_i` otherwise.
/// `samples` are `(features, deserved_gas)`; returns `None` with fewer samples than terms.
pub fn fit(samples: &[(Features, f64)]) -> Option<Fit> {
    if samples.len() < TERMS.len() || samples.iter().any(|(_, y)| y.is_nan() || *y <= 0.0) {
        return None;
    }
    let mut best: Option<([f64; 6], f64)> = None;
    for mask in 1u32..(1 << TERMS.len()) {
        let Some(c) = least_squares(samples, mask) else { continue };
        if c.iter().any(|v| *v < 0.0) {
            continue;
        }
        let residual: f64 = samples
            .iter()
            .map(|(x, y)| {
                let g: f64 = c.iter().zip(x.terms()).map(|(c, x)| c * x).sum();
                ((g - y) / y).powi(2)
            })
            .sum();
        if best.as_ref().is_none_or(|(_, r)| residual < *r) {
            best = Some((c, residual));
        }
    }
    let (constants, _) = best?;
    let unscaled = Fit { constants, safety_scale: 1.0, r_squared: 0.0 };
    let r_squared = log_r_squared(samples, &unscaled);
    let scale = samples.iter().map(|(x, y)| y / unscaled.gas(x).max(f64::MIN_POSITIVE)).fold(0.0f64, f64::max);
    let safety_scale = scale.max(1.0);
    Some(Fit { constants: constants.map(|c| c * safety_scale), safety_scale, r_squared })
}

/// Weighted least squares restricted to the terms in `mask` (others fixed at zero).
fn least_squares(samples: &[(Features, f64)], mask: u32) -> Option<[f64; 6]> {
    let active: Vec<usize> = (0..TERMS.len()).filter(|i| mask & (1 << i) != 0).collect();
    let n = active.len();
    // Normalize each column so the normal equations are well conditioned.
    let mut norms = vec![0.0f64; n];
    for (x, y) in samples {
        let t = x.terms();
        for (j, &a) in active.iter().enumerate() {
            norms[j] = norms[j].max((t[a] / y).abs());
        }
    }
    if norms.contains(&0.0) {
        return None;
    }
    let mut ata = vec![vec![0.0f64; n]; n];
    let mut atb = vec![0.0f64; n];
    for (x, y) in samples {
        let t = x.terms();
        let row: Vec<f64> = active.iter().enumerate().map(|(j, &a)| t[a] / y / norms[j]).collect();
        for i in 0..n {
            atb[i] += row[i];
            for j in 0..n {
                ata[i][j] += row[i] * row[j];
            }
        }
    }
    let solution = solve(ata, atb)?;
    let mut c = [0.0f64; 6];
    for (j, &a) in active.iter().enumerate() {
        c[a] = solution[j] / norms[j];
    }
    Some(c)
}

/// Gaussian elimination with partial pivoting; `None` when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (offset, row) in lower.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0f64; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

fn log_r_squared(samples: &[(Features, f64)], fit: &Fit) -> f64 {
    let logs: Vec<(f64, f64)> = samples.iter().map(|(x, y)| (y.ln(), fit.gas(x).max(f64::MIN_POSITIVE).ln())).collect();
    let mean = logs.iter().map(|(y, _)| y).sum::<f64>() / logs.len() as f64;
    let total: f64 = logs.iter().map(|(y, _)| (y - mean).powi(2)).sum();
    let residual: f64 = logs.iter().map(|(y, g)| (y - g).powi(2)).sum();
    if total == 0.0 { 1.0 } else { 1.0 - residual / total }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(i: u64) -> Features {
        Features {
            ops: 1 + i % 7,
            macs: (i * 7919) % 100_000 + 10,
            elements: (i * 104_729) % 50_000 + 5,
            transcendentals: (i * 31) % 1000,
            bytes: 100 + (i * 6151) % 20_000,
        }
    }

    #[test]
    fn recovers_known_constants_and_puts_every_case_under_the_line() {
        let truth = [3000.0, 20.0, 0.01, 0.05, 0.5, 0.2];
        let samples: Vec<(Features, f64)> = (0..40)
            .map(|i| {
                let x = features(i);
                let y: f64 = truth.iter().zip(x.terms()).map(|(c, t)| c * t).sum();
                (x, y)
            })
            .collect();
        let fit = fit(&samples).expect("fits");
        for (c, t) in fit.constants.iter().zip(truth) {
            assert!((c - t).abs() <= t * 1e-6, "{c} vs {t}");
        }
        assert!(fit.r_squared > 0.999);
        for (x, y) in &samples {
            assert!(fit.gas(x) >= y * (1.0 - 1e-9));
        }
    }

    #[test]
    fn noisy_cases_are_all_covered_after_scaling() {
        let samples: Vec<(Features, f64)> = (0..30)
            .map(|i| {
                let x = features(i);
                let noise = 1.0 + ((i * 37) % 11) as f64 / 20.0;
                (x, (5000.0 + 0.02 * x.macs as f64 + 0.1 * x.elements as f64) * noise)
            })
            .collect();
        let fit = fit(&samples).expect("fits");
        assert!(fit.safety_scale >= 1.0);
        assert!(fit.constants.iter().all(|c| *c >= 0.0));
        for (x, y) in &samples {
            assert!(fit.gas(x) >= y * (1.0 - 1e-9), "case under-priced");
        }
    }

    #[test]
    fn too_few_samples_is_none() {
        assert!(fit(&[(features(1), 10.0)]).is_none());
    }
}
