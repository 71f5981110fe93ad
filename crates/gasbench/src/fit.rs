//! Fitting the gas constants to measured times.
//!
//! Each case has work counts `x` (the terms of a schedule: for v3 the base, the model bytes,
//! the input and output bytes, then every count of every op class, [`loaded_term_names`]; for
//! the part charged before loading the base, the model bytes and the declared op and tensor
//! counts, [`LOAD_TERMS`]) and a measured time `t`. At ecrecover's rate `r` (ns per gas, same run) the case deserves
//! `y = t / r` gas. The fit asks for `margin` of headroom on top, for the noise between one run
//! and the next, and solves the linear program
//!
//! ```text
//! minimise   Σ_i w_i · (c · x_i) / y_i          (the weighted mean price, relative to deserved)
//! subject to c · x_i >= (1 + margin) · y_i      (no case slower per gas than ecrecover)
//!            c >= 0
//! ```
//!
//! so every case is covered and the typical ones (weighted higher) sit as close to the line as
//! the worst ones allow. Scaling all constants by one factor after a least-squares fit, the
//! obvious alternative, lets the single worst case overprice everything else.
//!
//! The program has one variable per term and one constraint per case; it is solved through its
//! dual (one constraint per term, one variable per case), whose origin is feasible, with a
//! dense simplex and Bland's rule. Terms no case uses stay at zero.

use aiop_engine::{OpClass, OpWork};

/// Names of the header terms of schedules v1 and v2, in the order of [`Features::terms`].
pub const TERMS: [&str; 6] = ["base", "per op", "per MAC", "per element", "per transcendental", "per byte"];

/// Work counts of one call as the header states them (schedules v1, v2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    /// Number of ops.
    pub ops: u64,
    /// Multiply-accumulates, plus one per window element a pooling op reads.
    pub macs: u64,
    /// Activation elements read and written by all ops.
    pub elements: u64,
    /// Fixed-point exponential and reciprocal evaluations.
    pub transcendentals: u64,
    /// Model bytes read plus input and output bytes.
    pub bytes: u64,
}

impl Features {
    /// The counts as fit terms, in [`TERMS`] order (the base term is 1).
    pub fn terms(&self) -> Vec<f64> {
        vec![
            1.0,
            self.ops as f64,
            self.macs as f64,
            self.elements as f64,
            self.transcendentals as f64,
            self.bytes as f64,
        ]
    }
}

/// Index of the first per-class term in the loaded-model (v3) term layout: terms 0, 1, 2 are
/// the base, the model bytes (load) and the input and output bytes.
pub const LOADED_CLASS_TERMS: usize = 3;
/// Number of terms of the loaded-model (v3) layout.
pub const LOADED_TERMS: usize = LOADED_CLASS_TERMS + OpClass::COUNT * OpWork::COUNTS;

/// Names of the loaded-model (v3) terms, in [`loaded_terms`] order.
pub fn loaded_term_names() -> Vec<String> {
    let mut names = vec!["base".to_owned(), "per model byte (load)".to_owned(), "per input/output byte".to_owned()];
    for class in OpClass::ALL {
        for count in OpWork::COUNT_NAMES {
            names.push(format!("{} per {count}", class.name()));
        }
    }
    names
}

/// The loaded-model (v3) terms of one call: the base, the model bytes, the input and output
/// bytes, then every count of every op summed per class.
pub fn loaded_terms(model_len: u64, io_bytes: u64, work: &[OpWork]) -> Vec<f64> {
    let mut terms = vec![0.0; LOADED_TERMS];
    terms[0] = 1.0;
    terms[1] = model_len as f64;
    terms[2] = io_bytes as f64;
    for op in work {
        let at = LOADED_CLASS_TERMS + op.class.index() * OpWork::COUNTS;
        for (t, count) in terms[at..at + OpWork::COUNTS].iter_mut().zip(op.counts()) {
            *t += count as f64;
        }
    }
    terms
}

/// Names of the terms of the part charged before loading, in [`load_terms`] order.
pub const LOAD_TERMS: [&str; 4] = ["base (before loading)", "per model byte", "per declared op", "per declared tensor"];

/// The terms the fit offers for [`aiop_precompile::GasSchedule::load_gas`]: the base, the
/// model bytes, and the op and tensor counts the header declares (which bound the records
/// the decoder reads). Schedules v3 to v5 price the first 48 KiB of bytes instead of the
/// counts; the fit no longer offers that term.
pub fn load_terms(model_len: u64, header: &aiop_engine::ModelHeader) -> Vec<f64> {
    vec![1.0, model_len as f64, f64::from(header.op_count), f64::from(header.tensor_count)]
}

/// One case to fit: its terms, the gas it deserves, and how much its closeness counts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// The case's work counts, one per term of the layout being fitted.
    pub terms: Vec<f64>,
    /// Gas the case deserves at ecrecover's rate: its time divided by ecrecover's ns per gas.
    pub deserved_gas: f64,
    /// How much the case's price relative to its deserved gas counts in the objective (>= 0).
    pub weight: f64,
}

/// The result of a fit: gas per unit of each term (fractions of gas are allowed here; a
/// schedule stores them in milligas or microgas, rounded up).
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Gas per unit of each term, in the order of the samples' terms.
    pub constants: Vec<f64>,
    /// The headroom asked for: every case gets at least `1 + margin` times what it deserves.
    pub margin: f64,
    /// Coefficient of determination of fitted against deserved gas, in log space.
    pub r_squared: f64,
    /// Smallest and largest ratio of fitted to deserved gas over the cases.
    pub spread: (f64, f64),
}

impl Fit {
    /// The gas the fitted constants charge for `terms`.
    pub fn gas(&self, terms: &[f64]) -> f64 {
        self.constants.iter().zip(terms).map(|(c, x)| c * x).sum()
    }
}

/// Fits constants so that every case gets at least `(1 + margin)` times its deserved gas, at
/// the least weighted mean price. `None` with no samples, a deserved gas that is not a
/// positive number, or a negative weight or margin.
pub fn fit(samples: &[Sample], margin: f64) -> Option<Fit> {
    let width = samples.first()?.terms.len();
    let valid =
        |s: &Sample| s.deserved_gas.is_finite() && s.deserved_gas > 0.0 && s.weight >= 0.0 && s.terms.len() == width;
    if width == 0 || !samples.iter().all(valid) || margin.is_nan() || margin < 0.0 {
        return None;
    }
    let targets: Vec<f64> = samples.iter().map(|s| s.deserved_gas * (1.0 + margin)).collect();
    // Column scales: term j in units of the largest share of a target it makes up. A term no
    // case uses stays at zero.
    let mut scales = vec![0.0f64; width];
    for (s, t) in samples.iter().zip(&targets) {
        for (scale, x) in scales.iter_mut().zip(&s.terms) {
            *scale = scale.max(x / t);
        }
    }
    let used: Vec<usize> = (0..width).filter(|&j| scales[j] > 0.0).collect();
    // Row i of the scaled constraint matrix: x_ij / (t_i · s_j), all in [0, 1].
    let rows: Vec<Vec<f64>> =
        samples.iter().zip(&targets).map(|(s, t)| used.iter().map(|&j| s.terms[j] / t / scales[j]).collect()).collect();
    // Objective of the primal, per scaled term: Σ_i w_i x_ij / (y_i s_j).
    let objective: Vec<f64> = (0..used.len())
        .map(|k| samples.iter().zip(&rows).map(|(s, row)| s.weight * (1.0 + margin) * row[k]).sum::<f64>())
        .collect();
    let scaled = solve_covering(&rows, &objective)?;
    let mut constants = vec![0.0f64; width];
    for (k, &j) in used.iter().enumerate() {
        constants[j] = scaled[k] / scales[j];
    }
    let mut fit = Fit { constants, margin, r_squared: 0.0, spread: (0.0, 0.0) };
    let ratios: Vec<f64> = samples.iter().map(|s| fit.gas(&s.terms) / s.deserved_gas).collect();
    fit.spread = (ratios.iter().copied().fold(f64::INFINITY, f64::min), ratios.iter().copied().fold(0.0, f64::max));
    fit.r_squared = log_r_squared(samples, &fit);
    Some(fit)
}

/// Solves `min b · c  s.t.  A c >= 1, c >= 0` (`A` and `b` non-negative, every row of `A`
/// with a positive entry, so the primal is feasible and the dual bounded) through its dual
/// `max Σ λ  s.t.  Aᵀ λ <= b, λ >= 0`, whose origin is feasible. Returns `c`, read off the
/// reduced costs of the slacks in the optimal dual tableau.
fn solve_covering(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    const EPS: f64 = 1e-12;
    let (cases, terms) = (a.len(), b.len());
    // Tableau rows: one per dual constraint (a term); columns: λ_1..λ_cases, then the slacks.
    let width = cases + terms;
    let mut tableau: Vec<Vec<f64>> = (0..terms)
        .map(|j| {
            let mut row = vec![0.0; width + 1];
            for (i, case) in a.iter().enumerate() {
                row[i] = case[j];
            }
            row[cases + j] = 1.0;
            row[width] = b[j];
            row
        })
        .collect();
    // Reduced costs of the maximisation: -1 for every λ, 0 for the slacks.
    let mut reduced: Vec<f64> = (0..=width).map(|col| if col < cases { -1.0 } else { 0.0 }).collect();
    let mut basis: Vec<usize> = (cases..width).collect();
    for _ in 0..100_000 {
        // Bland's rule: the lowest-index improving column, then the lowest-index basic
        // variable among the tied ratios; it never cycles.
        let Some(enter) = (0..width).find(|&col| reduced[col] < -EPS) else {
            return Some((0..terms).map(|j| reduced[cases + j].max(0.0)).collect());
        };
        let leave = (0..terms)
            .filter(|&r| tableau[r][enter] > EPS)
            .map(|r| (r, tableau[r][width] / tableau[r][enter]))
            .min_by(|(r1, q1), (r2, q2)| q1.total_cmp(q2).then(basis[*r1].cmp(&basis[*r2])))?
            .0;
        let pivot = tableau[leave][enter];
        for v in tableau[leave].iter_mut() {
            *v /= pivot;
        }
        let pivot_row = tableau[leave].clone();
        for (r, row) in tableau.iter_mut().enumerate() {
            let f = row[enter];
            if r != leave && f != 0.0 {
                row.iter_mut().zip(&pivot_row).for_each(|(v, p)| *v -= f * p);
            }
        }
        let f = reduced[enter];
        reduced.iter_mut().zip(&pivot_row).for_each(|(v, p)| *v -= f * p);
        basis[leave] = enter;
    }
    None
}

fn log_r_squared(samples: &[Sample], fit: &Fit) -> f64 {
    let logs: Vec<(f64, f64)> =
        samples.iter().map(|s| (s.deserved_gas.ln(), fit.gas(&s.terms).max(f64::MIN_POSITIVE).ln())).collect();
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

    fn sample(features: Features, deserved_gas: f64) -> Sample {
        Sample { terms: features.terms(), deserved_gas, weight: 1.0 }
    }

    fn objective(samples: &[Sample], c: &[f64]) -> f64 {
        samples
            .iter()
            .map(|s| s.weight * c.iter().zip(&s.terms).map(|(c, x)| c * x).sum::<f64>() / s.deserved_gas)
            .sum()
    }

    #[test]
    fn recovers_known_constants_exactly_when_they_explain_every_case() {
        let truth = [3000.0, 20.0, 0.01, 0.05, 0.5, 0.2];
        let samples: Vec<Sample> = (0..40)
            .map(|i| {
                let x = features(i);
                sample(x, truth.iter().zip(x.terms()).map(|(c, t)| c * t).sum())
            })
            .collect();
        let fit = fit(&samples, 0.0).expect("fits");
        for (c, t) in fit.constants.iter().zip(truth) {
            assert!((c - t).abs() <= t * 1e-6, "{c} vs {t}");
        }
        assert!(fit.r_squared > 0.999_999);
        assert!((fit.spread.0 - 1.0).abs() < 1e-9 && (fit.spread.1 - 1.0).abs() < 1e-9);
    }

    #[test]
    fn noisy_cases_are_all_covered_with_the_margin_and_no_cheaper_cover_exists_nearby() {
        let samples: Vec<Sample> = (0..30)
            .map(|i| {
                let x = features(i);
                let noise = 1.0 + ((i * 37) % 11) as f64 / 20.0;
                sample(x, (5000.0 + 0.02 * x.macs as f64 + 0.1 * x.elements as f64) * noise)
            })
            .collect();
        let margin = 0.25;
        let fit = fit(&samples, margin).expect("fits");
        assert!(fit.constants.iter().all(|c| *c >= 0.0));
        for s in &samples {
            assert!(fit.gas(&s.terms) >= s.deserved_gas * (1.0 + margin) * (1.0 - 1e-9), "case under-priced");
        }
        assert!(fit.spread.0 >= 1.0 + margin - 1e-9);
        // Optimality, checked locally: moving any one constant down breaks a constraint, and
        // no feasible perturbation of the solution is cheaper.
        let best = objective(&samples, &fit.constants);
        let feasible = |c: &[f64]| {
            c.iter().all(|v| *v >= 0.0)
                && samples.iter().all(|s| {
                    c.iter().zip(&s.terms).map(|(c, x)| c * x).sum::<f64>()
                        >= s.deserved_gas * (1.0 + margin) * (1.0 - 1e-9)
                })
        };
        for j in 0..6 {
            for k in 0..6 {
                for step in [1e-3, 1e-2, 1e-1] {
                    let mut c = fit.constants.clone();
                    c[j] *= 1.0 - step;
                    c[k] += fit.constants[j] * step * 2.0;
                    if j != k && feasible(&c) {
                        assert!(objective(&samples, &c) >= best * (1.0 - 1e-9), "a cheaper cover: {c:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn one_slow_case_raises_only_the_terms_it_uses() {
        // Nine cases dominated by MACs at 0.01 gas each, and one byte-heavy case at 10x the
        // rate the others imply: the fit raises the byte price for it, not every price.
        let mut samples: Vec<Sample> = (1..10)
            .map(|i| {
                let x = Features { ops: 1, macs: 100_000 * i, elements: 0, transcendentals: 0, bytes: 100 };
                sample(x, 0.01 * x.macs as f64 + 1000.0)
            })
            .collect();
        let heavy = Features { ops: 1, macs: 0, elements: 0, transcendentals: 0, bytes: 1_000_000 };
        samples.push(sample(heavy, 100_000.0));
        let fit = fit(&samples, 0.0).expect("fits");
        assert!((fit.constants[2] - 0.01).abs() < 0.001, "per MAC {}", fit.constants[2]);
        assert!(fit.gas(&heavy.terms()) >= 100_000.0 * (1.0 - 1e-9));
        for s in &samples[..9] {
            assert!(fit.gas(&s.terms) / s.deserved_gas < 1.2, "{:?}", s.terms);
        }
    }

    #[test]
    fn nonsense_is_none() {
        assert!(fit(&[], 0.1).is_none());
        assert!(fit(&[sample(features(1), 0.0)], 0.1).is_none());
        assert!(fit(&[sample(features(1), f64::NAN)], 0.1).is_none());
        assert!(fit(&[sample(features(1), 10.0)], -1.0).is_none());
    }

    #[test]
    fn loaded_terms_sum_each_class_s_counts_and_load_terms_read_the_declared_counts() {
        let op = |class, macs| OpWork {
            class,
            in_elements: 2,
            out_elements: 3,
            macs,
            taps: 0,
            patch: 0,
            weights: 5,
            transcendentals: 0,
            channels: 4,
        };
        let work = [op(OpClass::FullyConnected, 10), op(OpClass::Pool, 7), op(OpClass::FullyConnected, 1)];
        let t = loaded_terms(1000, 20, &work);
        assert_eq!(t.len(), LOADED_TERMS);
        assert_eq!(loaded_term_names().len(), LOADED_TERMS);
        assert_eq!(&t[..3], &[1.0, 1000.0, 20.0]);
        let fc = LOADED_CLASS_TERMS;
        assert_eq!(&t[fc..fc + OpWork::COUNTS], &[2.0, 4.0, 6.0, 11.0, 0.0, 0.0, 10.0, 0.0, 8.0]);
        let pool = LOADED_CLASS_TERMS + OpClass::Pool.index() * OpWork::COUNTS;
        assert_eq!(&t[pool..pool + 4], &[1.0, 2.0, 3.0, 7.0]);
        assert_eq!(t.iter().sum::<f64>(), 1.0 + 1000.0 + 20.0 + 33.0 + 18.0 + 12.0);
        let cost = aiop_engine::Cost { ops: 4, macs: 0, elements: 0, transcendentals: 0, arena_bytes: 0 };
        let (input_tensor, output_tensor, input_len, output_len) = (0, 8, 1, 1);
        let header = aiop_engine::ModelHeader {
            version: 2,
            tensor_count: 9,
            op_count: 4,
            input_tensor,
            output_tensor,
            cost,
            input_len,
            output_len,
        };
        assert_eq!(load_terms(1 << 20, &header), vec![1.0, (1u64 << 20) as f64, 4.0, 9.0]);
    }

    #[test]
    fn a_single_case_is_covered() {
        let fit = fit(&[sample(features(3), 1234.0)], 0.5).expect("fits");
        assert!(fit.gas(&features(3).terms()) >= 1234.0 * 1.5 * (1.0 - 1e-9));
    }
}
