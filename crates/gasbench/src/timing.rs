//! Wall-clock timing of one call, robust to a noisy shared machine: many samples, each long
//! enough to dwarf the clock's resolution, and the median of them.

use std::time::{Duration, Instant};

/// Timing of one kind of call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Median nanoseconds per call.
    pub median_ns: f64,
    /// Fastest sample, nanoseconds per call.
    pub min_ns: f64,
    /// Calls timed in all.
    pub calls: u64,
}

/// How long to spend on each case.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Time spent calling before any sample is kept (at least one call).
    pub warm_up: Duration,
    /// Time spent taking samples after the warm-up (at least five samples).
    pub measure: Duration,
}

impl Budget {
    /// The budget of a quick run: 20 ms of warm-up, 120 ms of samples.
    pub const QUICK: Budget = Budget { warm_up: Duration::from_millis(20), measure: Duration::from_millis(120) };
    /// The budget of a full run: 200 ms of warm-up, 1.5 s of samples.
    pub const FULL: Budget = Budget { warm_up: Duration::from_millis(200), measure: Duration::from_millis(1500) };
}

/// Times `call`, which must do the same work every time.
pub fn time(budget: Budget, mut call: impl FnMut()) -> Timing {
    let start = Instant::now();
    let mut calls_in_warm_up = 0u64;
    while start.elapsed() < budget.warm_up || calls_in_warm_up == 0 {
        call();
        calls_in_warm_up += 1;
    }
    // Batch calls so each sample lasts at least ~50 us.
    let per_call = start.elapsed().as_nanos() as f64 / calls_in_warm_up as f64;
    let batch = ((50_000.0 / per_call.max(1.0)).ceil() as u64).clamp(1, 1 << 20);
    let mut samples = Vec::new();
    let measure_start = Instant::now();
    while (measure_start.elapsed() < budget.measure || samples.len() < 5) && samples.len() < 100_000 {
        let t = Instant::now();
        for _ in 0..batch {
            call();
        }
        samples.push(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    Timing { median_ns: samples[samples.len() / 2], min_ns: samples[0], calls: batch * samples.len() as u64 }
}

impl Timing {
    /// This timing less a `baseline` measured in the same run (what surrounds the timed work),
    /// never below zero.
    pub fn less(self, baseline: Timing) -> Timing {
        Timing {
            median_ns: (self.median_ns - baseline.median_ns).max(0.0),
            min_ns: (self.min_ns - baseline.min_ns).max(0.0),
            calls: self.calls,
        }
    }
}
