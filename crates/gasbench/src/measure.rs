//! One measurement run: every case timed through the EVM on each kernel path, the yardsticks
//! in the same run, and the fit.

use std::path::PathBuf;
use std::sync::Arc;

use aiop_engine::{KernelPath, LoadedModel, ModelHeader, ValidModel};
use aiop_precompile::gas::{ClassPrices, LoadedPrices, MICROGAS_PER_GAS, MILLIGAS_PER_GAS};
use aiop_precompile::{COLD_ACCOUNT_ACCESS_GAS, GasSchedule};

use crate::GasBenchError;
use crate::cases::{Delivery, MLPERF_PREFIX, ModelCase, searched_cases, shipped_cases, synthetic_cases};
use crate::evm::{Cache, EvmCall};
use crate::fit::{Features, Fit, LOADED_CLASS_TERMS, Sample, fit, load_terms, loaded_terms};
use crate::timing::{Budget, Timing, time};
use crate::yardsticks::standard_cases;

/// What to measure and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only the quick cases, with a short budget (a smoke test of the harness).
    pub quick: bool,
    /// The shipped models (`testdata/models`).
    pub models_dir: PathBuf,
    /// The kernel path gas is priced for.
    pub pricing_path: KernelPath,
    /// The schedule whose prices are checked.
    pub schedule: GasSchedule,
    /// Headroom the fit leaves above the line, for run-to-run noise.
    pub margin: f64,
    /// Warm-up and measuring time of each timing.
    pub budget: Budget,
    /// Whole runs to make; each case keeps its worst (slowest relative to that run's
    /// ecrecover), so noise in any one run cannot make a case look cheaper than it is.
    pub runs: usize,
    /// Time only what the fit reads (the pricing path cold, and loading alone): a faster
    /// calibration run, without the warm, fastest-path and reference columns.
    pub pricing_only: bool,
    /// Weight of an MLPerf Tiny model in the fit ([`MLPERF_WEIGHT`] by default).
    pub mlperf_weight: f64,
}

/// Weight of a shipped model in the fit: the models people deploy should sit closest to the line.
const SHIPPED_WEIGHT: f64 = 4.0;
/// Default weight of an MLPerf Tiny model in the fit: the real models, which the schedule is
/// meant to price near their cost. Schedule v6's fit saturates here: a larger weight changes
/// no constant of the v6 calibration's fits, 256 left two of the six above 2x their cost.
pub const MLPERF_WEIGHT: f64 = 1024.0;
/// Budget of the load-only timing of each case (`ValidModel::decode` alone: decoding and
/// validation, the work the precompile does before it checks the price after loading, what
/// `GasSchedule::load_gas` pays for).
const LOAD_BUDGET: Budget =
    Budget { warm_up: std::time::Duration::from_millis(50), measure: std::time::Duration::from_millis(400) };

/// Where a measured case comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The shipped models in `testdata/models` other than the MLPerf Tiny ones.
    Shipped,
    /// The MLPerf Tiny reference models (`testdata/models/mlperf_*.aiop`).
    Mlperf,
    /// The synthetic worst cases, and the worst shapes a search found.
    Synthetic,
    /// revm's standard precompiles, the yardsticks.
    Standard,
}

impl Group {
    /// The group of a case of [`shipped_cases`]. By name, not by delivery: under a schedule
    /// whose precompile accepts their format the MLPerf Tiny models are called through the EVM
    /// like the other shipped models, and they must still weigh as MLPerf models in the fit
    /// and be reported as such.
    pub fn of_shipped(case: &ModelCase) -> Group {
        if case.name.starts_with(MLPERF_PREFIX) { Group::Mlperf } else { Group::Shipped }
    }
}

/// What one of our calls does, enough to price it under any schedule.
#[derive(Debug, Clone)]
pub struct Work {
    /// The model's header: the work counts it declares, which schedules v1 and v2 price.
    pub header: ModelHeader,
    /// Length of the model, in bytes.
    pub model_len: u64,
    /// Length of the input, in bytes.
    pub input_len: u64,
    /// How the call reaches the precompile.
    pub delivery: Delivery,
    /// The model loaded on the reference path (its work counts do not depend on the path),
    /// for schedules that price the loaded model; `None` for a model refused at load, which
    /// pays [`GasSchedule::load_gas`] only.
    pub loaded: Option<Arc<LoadedModel>>,
}

impl Work {
    /// The work of `case`.
    pub fn of(case: &ModelCase) -> Result<Work, GasBenchError> {
        let header = ModelHeader::parse(&case.model)
            .map_err(|e| GasBenchError::Case { case: case.name.clone(), reason: e.to_string() })?;
        let loaded = LoadedModel::load(&case.model, KernelPath::Reference).ok().map(Arc::new);
        Ok(Work {
            header,
            model_len: case.model.len() as u64,
            input_len: case.input.len() as u64,
            delivery: case.delivery,
            loaded,
        })
    }

    /// The terms of schedules that price the loaded model (v3), as the fit reads them.
    /// `None` for a model refused at load (it pays the part charged before loading only).
    pub fn loaded_terms(&self) -> Option<Vec<f64>> {
        let io = self.input_len + u64::from(self.header.output_len);
        Some(loaded_terms(self.model_len, io, self.loaded.as_ref()?.work()))
    }

    /// The header's work counts, the terms of schedules v1 and v2.
    pub fn features(&self) -> Features {
        Features {
            ops: u64::from(self.header.op_count),
            macs: self.header.cost.macs,
            elements: self.header.cost.elements,
            transcendentals: self.header.cost.transcendentals,
            bytes: self.model_len + self.input_len + u64::from(self.header.output_len),
        }
    }

    /// The gas that pays for the timed work: the whole price less the EIP-2929 account
    /// access, which pays for a state read this in-memory benchmark does not make.
    ///
    /// A schedule that prices the loaded model charges `infer_gas_loaded` (no access), or
    /// only `load_gas` for a model refused at load.
    pub fn priced_gas(&self, schedule: &GasSchedule) -> u64 {
        if schedule.priced_by_header() {
            return schedule.inference_gas(&self.header, self.model_len, self.input_len);
        }
        match &self.loaded {
            Some(loaded) => schedule.infer_gas_loaded(loaded, self.input_len, 0),
            None => schedule.load_gas(&self.header, self.model_len),
        }
    }

    /// The gas the call charges: `infer` with the model account cold, or `inferInline`. A
    /// model timed in the engine (`Delivery::Direct`) is charged as `infer` with one cold
    /// account (a model stored across accounts pays their reads besides).
    pub fn charged_gas(&self, schedule: &GasSchedule) -> u64 {
        let access = match self.delivery {
            Delivery::Deployed | Delivery::Direct => COLD_ACCOUNT_ACCESS_GAS,
            Delivery::Inline => 0,
        };
        self.priced_gas(schedule).saturating_add(access)
    }
}

/// One case's measurements, each the median time less the case's own transaction (the same
/// calldata sent to an account with no code, `transaction`). For our cases
/// `pricing` is the cold call on the pricing path (model read from state, decoded, validated
/// and packed: no cache), `warm` the cached call on that path, `fastest` the cold call on the
/// fastest path when it is another, `reference` the cold call on the scalar reference path.
#[derive(Debug, Clone)]
pub struct Row {
    /// The case's name, or the standard precompile's.
    pub name: String,
    /// What the case is built to stress.
    pub about: String,
    /// Where the case comes from.
    pub group: Group,
    /// `None` for the standard precompiles.
    pub work: Option<Work>,
    /// Gas of a standard precompile's call.
    pub standard_gas: u64,
    /// The transaction around the call, subtracted from the others.
    pub transaction: Timing,
    /// The cold call on the pricing path (for a standard precompile, its call).
    pub pricing: Timing,
    /// The cached call on the pricing path; `None` for the standard precompiles and in a
    /// pricing-only run.
    pub warm: Option<Timing>,
    /// The cold call on the fastest path; `None` when it is the pricing path, for the
    /// standard precompiles and in a pricing-only run.
    pub fastest: Option<Timing>,
    /// The cold call on the reference path (the same as `pricing` when that is the pricing
    /// path); `None` for the standard precompiles, and in a pricing-only run priced for
    /// another path.
    pub reference: Option<Timing>,
    /// `ValidModel::decode` alone (decoding and validation; packing waits for the price after
    /// loading), outside the EVM: what `GasSchedule::load_gas` must pay for. `None` for the standard precompiles and for a
    /// model refused at load (its cold call is load alone).
    pub load: Option<Timing>,
}

impl Row {
    /// Keeps, for each timing, the slower of `self` and `other` relative to their runs'
    /// lines, expressed at `line` (ns per gas).
    fn keep_worst(&mut self, self_line: f64, other: &Row, other_line: f64, line: f64) {
        let worst = |a: Timing, b: Timing| {
            let (ra, rb) = (a.median_ns / self_line, b.median_ns / other_line);
            let pick = if rb > ra { b } else { a };
            let scale = line / if rb > ra { other_line } else { self_line };
            Timing { median_ns: pick.median_ns * scale, min_ns: pick.min_ns * scale, calls: a.calls + b.calls }
        };
        let worst_opt = |a: Option<Timing>, b: Option<Timing>| match (a, b) {
            (Some(a), Some(b)) => Some(worst(a, b)),
            (a, b) => a.or(b),
        };
        self.pricing = worst(self.pricing, other.pricing);
        self.warm = worst_opt(self.warm, other.warm);
        self.fastest = worst_opt(self.fastest, other.fastest);
        self.reference = worst_opt(self.reference, other.reference);
        self.load = worst_opt(self.load, other.load);
    }

    /// Gas that pays for the timed work under `schedule`.
    pub fn priced_gas(&self, schedule: &GasSchedule) -> u64 {
        self.work.as_ref().map_or(self.standard_gas, |w| w.priced_gas(schedule))
    }

    /// Gas the call charges under `schedule`.
    pub fn charged_gas(&self, schedule: &GasSchedule) -> u64 {
        self.work.as_ref().map_or(self.standard_gas, |w| w.charged_gas(schedule))
    }

    /// ns per gas of the load-only timing against `schedule`'s `load_gas`.
    pub fn load_ns_per_gas(&self, schedule: &GasSchedule) -> Option<f64> {
        let (load, work) = (self.load?, self.work.as_ref()?);
        Some(load.median_ns / schedule.load_gas(&work.header, work.model_len).max(1) as f64)
    }

    /// ns per gas of `timing` under `schedule`.
    pub fn ns_per_gas(&self, timing: Timing, schedule: &GasSchedule) -> f64 {
        timing.median_ns / self.priced_gas(schedule).max(1) as f64
    }
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The kernel path gas is priced for.
    pub pricing_path: KernelPath,
    /// The fastest kernel path this CPU runs.
    pub fastest_path: KernelPath,
    /// The current schedule, whose prices the run checks.
    pub schedule: GasSchedule,
    /// ecrecover's ns per gas: the fastest of five timings spread over the run (the least
    /// disturbed by other work on the machine, which makes every ratio to it conservative).
    pub line_ns_per_gas: f64,
    /// The standard precompiles first, then our cases.
    pub rows: Vec<Row>,
    /// The fit of the price after loading (schedule v3's `LoadedPrices`): every successful
    /// cold call covered.
    pub fit: Option<Fit>,
    /// The fit of the part charged before loading (`load_gas`): loading alone, and the calls
    /// refused at load, covered.
    pub load_fit: Option<Fit>,
    /// The cases the fit of the price after loading prices at exactly `1 + margin` times what
    /// they deserve: the ones that set its constants.
    pub binding: Vec<String>,
    /// The same for the fit of the part charged before loading.
    pub load_binding: Vec<String>,
    /// What both fits read, by case name: written beside the report, to refit without timing.
    pub samples: FitSamples,
    /// The fit rounded up into a schedule (milligas before loading, microgas after), with the current schedule's query price.
    pub fitted_schedule: Option<GasSchedule>,
    /// A quick run (the quick cases, a short budget): a smoke test, not a calibration.
    pub quick: bool,
    /// How many runs were merged (each case at its worst).
    pub runs: usize,
    /// The weight of an MLPerf Tiny model in the fit.
    pub mlperf_weight: f64,
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// The run will time `total` calls.
    Start {
        /// Number of timings the run will make.
        total: u64,
    },
    /// It is timing this one.
    Timing {
        /// The case's name.
        case: &'a str,
        /// What of it is timed (its transaction, a path, loading alone).
        what: &'a str,
    },
}

/// Runs the whole measurement `options.runs` times, keeps each case at its worst, and fits.
pub fn measure(options: &Options, progress: &mut dyn FnMut(Progress)) -> Result<Measurement, GasBenchError> {
    let runs = options.runs.max(1);
    let mut merged: Option<Measurement> = None;
    for run in 0..runs {
        let this = measure_once(options, &mut |p| match p {
            Progress::Start { total } if run == 0 => progress(Progress::Start { total: total * runs as u64 }),
            Progress::Start { .. } => {}
            timing => progress(timing),
        })?;
        merged = Some(match merged {
            None => this,
            Some(mut all) => {
                let line = all.line_ns_per_gas.min(this.line_ns_per_gas);
                for (kept, other) in all.rows.iter_mut().zip(&this.rows) {
                    kept.keep_worst(all.line_ns_per_gas, other, this.line_ns_per_gas, line);
                }
                all.line_ns_per_gas = line;
                all
            }
        });
    }
    let mut m = merged.ok_or_else(|| GasBenchError::Config("no run was made".into()))?;
    if let Some(row) = m.rows.iter_mut().find(|r| r.group == Group::Standard && r.name == "ecrecover") {
        row.pricing.median_ns = m.line_ns_per_gas * row.standard_gas as f64;
    }
    m.runs = runs;
    let (mut samples, mut load_samples) = (Vec::new(), Vec::new());
    let (mut names, mut load_names) = (Vec::new(), Vec::new());
    for r in &m.rows {
        let Some(work) = &r.work else { continue };
        let weight = match r.group {
            Group::Shipped => SHIPPED_WEIGHT,
            Group::Mlperf => options.mlperf_weight,
            _ => 1.0,
        };
        // A call too fast to see after its transaction still deserves its base price.
        let deserved_gas = (r.pricing.median_ns / m.line_ns_per_gas).max(1.0);
        match work.loaded_terms() {
            Some(terms) => {
                samples.push(Sample { terms, deserved_gas, weight });
                names.push(r.name.clone());
            }
            // Refused at load: the part charged before loading pays for it all.
            None => {
                load_samples.push(Sample {
                    terms: load_terms(work.model_len, &work.header),
                    deserved_gas,
                    weight: 1.0,
                });
                load_names.push(r.name.clone());
            }
        }
        // Loading alone must be paid by the part charged before loading; the typical models'
        // loads weigh as the models do.
        if let Some(load) = r.load {
            let deserved_gas = (load.median_ns / m.line_ns_per_gas).max(1.0);
            load_samples.push(Sample { terms: load_terms(work.model_len, &work.header), deserved_gas, weight });
            load_names.push(format!("{} (loading alone)", r.name));
        }
    }
    m.fit = fit(&samples, options.margin);
    m.load_fit = fit(&load_samples, options.margin);
    m.binding = binding_cases(m.fit.as_ref(), &samples, &names);
    m.load_binding = binding_cases(m.load_fit.as_ref(), &load_samples, &load_names);
    m.samples = FitSamples {
        after_loading: names.into_iter().zip(samples).collect(),
        before_loading: load_names.into_iter().zip(load_samples).collect(),
    };
    m.fitted_schedule = match (&m.fit, &m.load_fit) {
        (Some(f), Some(l)) => Some(schedule_from_fit(f, l, &options.schedule)),
        _ => None,
    };
    Ok(m)
}

/// One run: every case and yardstick timed once, no fit.
fn measure_once(options: &Options, progress: &mut dyn FnMut(Progress)) -> Result<Measurement, GasBenchError> {
    let unavailable = |path: KernelPath| GasBenchError::Config(format!("this CPU cannot run the {path} kernel path"));
    if !options.pricing_path.is_available() {
        return Err(unavailable(options.pricing_path));
    }
    let fastest_path = KernelPath::fastest();
    let mut ours: Vec<(Group, ModelCase)> = shipped_cases(&options.models_dir, &crate::evm::spec_of(options.schedule))?
        .into_iter()
        .map(|c| (Group::of_shipped(&c), c))
        .chain(synthetic_cases()?.into_iter().map(|c| (Group::Synthetic, c)))
        .chain(searched_cases()?.into_iter().map(|c| (Group::Synthetic, c)))
        .filter(|(_, c)| c.quick || !options.quick)
        .collect();
    if options.quick {
        // Keep the quick run short: the largest shipped models are exercised by the full run.
        ours.retain(|(_, c)| c.model.len() <= 1 << 16);
    }
    let standard: Vec<_> = standard_cases().into_iter().filter(|c| c.quick || !options.quick).collect();
    let mut paths = vec![(options.pricing_path, Cache::Cold)];
    if !options.pricing_only {
        paths.push((options.pricing_path, Cache::Warm));
        if fastest_path != options.pricing_path {
            paths.push((fastest_path, Cache::Cold));
        }
        if options.pricing_path != KernelPath::Reference {
            paths.push((KernelPath::Reference, Cache::Cold));
        }
    }
    let total = 4 + 2 * standard.len() + ours.len() * (2 + paths.len());
    progress(Progress::Start { total: total as u64 });

    let ecrecover = standard.iter().find(|c| c.name == "ecrecover").ok_or_else(|| GasBenchError::Case {
        case: "ecrecover".into(),
        reason: "the yardstick set has no ecrecover".into(),
    })?;
    let mut ecrecover_call = EvmCall::standard(ecrecover)?;
    progress(Progress::Timing { case: "ecrecover", what: "its transaction" });
    let ecrecover_transaction = transaction_time(&ecrecover_call, options.budget)?;
    let ecrecover_gas = ecrecover.gas()?;
    let mut line_samples = Vec::new();
    let mut time_line = |progress: &mut dyn FnMut(Progress), when: &str| {
        progress(Progress::Timing { case: "ecrecover", what: when });
        let t = time(options.budget, || ecrecover_call.run()).less(ecrecover_transaction);
        line_samples.push(t);
        t
    };

    let mut rows = Vec::new();
    let first_line = time_line(progress, "the line, at the start");
    for case in &standard {
        let (transaction, pricing) = if case.name == "ecrecover" {
            (ecrecover_transaction, first_line)
        } else {
            let mut call = EvmCall::standard(case)?;
            progress(Progress::Timing { case: case.name, what: "its transaction" });
            let transaction = transaction_time(&call, options.budget)?;
            progress(Progress::Timing { case: case.name, what: "standard precompile" });
            (transaction, time(options.budget, || call.run()).less(transaction))
        };
        rows.push(Row {
            name: case.name.to_owned(),
            about: "standard precompile (revm 42)".into(),
            group: Group::Standard,
            work: None,
            standard_gas: case.gas()?,
            transaction,
            pricing,
            warm: None,
            fastest: None,
            reference: None,
            load: None,
        });
    }
    let quarters = [ours.len() / 4, ours.len() / 2, ours.len() * 3 / 4];
    for (index, (group, case)) in ours.iter().enumerate() {
        if quarters.contains(&index) {
            time_line(progress, "the line, again");
        }
        let work = Work::of(case)?;
        let mut calls = paths
            .iter()
            .map(|&(path, cache)| Call::new(case, path, options.schedule, cache))
            .collect::<Result<Vec<_>, _>>()?;
        // The calldata is the same on every path, so is the transaction around it.
        progress(Progress::Timing { case: &case.name, what: "its transaction" });
        let transaction = calls[0].transaction_time(options.budget)?;
        let mut timings = Vec::with_capacity(paths.len());
        for (call, &(path, cache)) in calls.iter_mut().zip(&paths) {
            let what = match cache {
                Cache::Cold => format!("{path}, cold"),
                Cache::Warm => format!("{path}, warm"),
            };
            progress(Progress::Timing { case: &case.name, what: &what });
            timings.push(time(options.budget, || call.run()).less(transaction));
        }
        let timing_of = |path, cache| paths.iter().position(|p| *p == (path, cache)).map(|i| timings[i]);
        progress(Progress::Timing { case: &case.name, what: "decoding alone" });
        let load = work
            .loaded
            .is_some()
            .then(|| time(LOAD_BUDGET, || drop(std::hint::black_box(ValidModel::decode(&case.model)))));
        rows.push(Row {
            name: case.name.clone(),
            about: case.about.to_owned(),
            group: *group,
            work: Some(work),
            standard_gas: 0,
            transaction,
            pricing: timings[0],
            warm: timing_of(options.pricing_path, Cache::Warm),
            fastest: (fastest_path != options.pricing_path).then(|| timing_of(fastest_path, Cache::Cold)).flatten(),
            reference: timing_of(KernelPath::Reference, Cache::Cold),
            load,
        });
    }
    time_line(progress, "the line, at the end");

    let line_ns_per_gas = line_samples.iter().map(|t| t.median_ns / ecrecover_gas as f64).fold(f64::INFINITY, f64::min);
    if let Some(row) = rows.iter_mut().find(|r| r.name == "ecrecover") {
        row.pricing.median_ns = line_ns_per_gas * ecrecover_gas as f64;
    }

    Ok(Measurement {
        pricing_path: options.pricing_path,
        fastest_path,
        schedule: options.schedule,
        line_ns_per_gas,
        rows,
        fit: None,
        load_fit: None,
        binding: Vec::new(),
        load_binding: Vec::new(),
        samples: FitSamples::default(),
        fitted_schedule: None,
        quick: options.quick,
        runs: 1,
        mlperf_weight: options.mlperf_weight,
    })
}

/// ecrecover timed through the EVM as a run times it: the yardstick every ratio is taken to.
#[derive(Debug)]
pub struct Yardstick {
    call: EvmCall,
    transaction: Timing,
    gas: u64,
    /// The fastest ns per gas seen so far (the least disturbed timing, as a run uses).
    pub line_ns_per_gas: f64,
}

impl Yardstick {
    /// Builds the ecrecover call and times it once.
    pub fn new(budget: Budget) -> Result<Yardstick, GasBenchError> {
        let standard = standard_cases();
        let ecrecover = standard.iter().find(|c| c.name == "ecrecover").ok_or_else(|| GasBenchError::Case {
            case: "ecrecover".into(),
            reason: "the yardstick set has no ecrecover".into(),
        })?;
        let call = EvmCall::standard(ecrecover)?;
        let transaction = transaction_time(&call, budget)?;
        let mut yardstick = Yardstick { call, transaction, gas: ecrecover.gas()?, line_ns_per_gas: f64::INFINITY };
        yardstick.sample(budget);
        Ok(yardstick)
    }

    /// Times ecrecover again; returns this timing's ns per gas and keeps the fastest.
    pub fn sample(&mut self, budget: Budget) -> f64 {
        let call = &mut self.call;
        let t = time(budget, || call.run()).less(self.transaction);
        let ns_per_gas = t.median_ns / self.gas as f64;
        self.line_ns_per_gas = self.line_ns_per_gas.min(ns_per_gas);
        ns_per_gas
    }
}

/// One of our cases timed as a run times it on the pricing path: a cold call through the EVM,
/// less the same transaction sent to an account with no code. `None` when a single call takes
/// longer than `call_cap` (the case is too slow to time within a budget).
pub fn time_cold(
    case: &ModelCase,
    path: KernelPath,
    schedule: GasSchedule,
    budget: Budget,
    call_cap: std::time::Duration,
) -> Result<Option<(Work, Timing)>, GasBenchError> {
    let work = Work::of(case)?;
    let mut call = Call::new(case, path, schedule, Cache::Cold)?;
    let once = std::time::Instant::now();
    call.run();
    if once.elapsed() > call_cap {
        return Ok(None);
    }
    let transaction = call.transaction_time(budget)?;
    Ok(Some((work, time(budget, || call.run()).less(transaction))))
}

/// One of our calls, ready to time: a transaction through the EVM, or, for a model in a
/// format the precompile does not accept yet (the MLPerf Tiny models are format v2),
/// `LoadedModel::load` and `run` in the engine directly (cold: load every call; warm: run a
/// model loaded once). A direct call has no transaction around it; the EVM's own work on
/// such a call (the ABI, the code read, a few microseconds) is not in its time.
pub enum Call {
    /// A transaction through the EVM.
    Evm(Box<EvmCall>),
    /// `LoadedModel::load` and `run` in the engine, outside the EVM.
    Direct {
        /// The encoded model.
        model: Vec<u8>,
        /// The input it runs on.
        input: Vec<u8>,
        /// The kernel path it is loaded for.
        path: KernelPath,
        /// For a warm call, the model loaded once; `None` for a cold one, which loads every call.
        warm: Option<Box<LoadedModel>>,
    },
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::Evm(call) => call.fmt(f),
            Call::Direct { path, warm, .. } => {
                f.debug_struct("Call::Direct").field("path", path).field("warm", &warm.is_some()).finish()
            }
        }
    }
}

impl Call {
    /// The call of `case` on `path` under `schedule` with `cache`, checked once.
    pub fn new(case: &ModelCase, path: KernelPath, schedule: GasSchedule, cache: Cache) -> Result<Call, GasBenchError> {
        if case.delivery != Delivery::Direct {
            return Ok(Call::Evm(Box::new(EvmCall::ours(case, path, schedule, cache)?)));
        }
        let fail = |e: aiop_engine::EngineError| GasBenchError::Case { case: case.name.clone(), reason: e.to_string() };
        let loaded = LoadedModel::load(&case.model, path).map_err(fail)?;
        let expected = LoadedModel::load(&case.model, KernelPath::Reference).and_then(|m| m.run(&case.input));
        if loaded.run(&case.input).map_err(fail)? != expected.map_err(fail)? {
            return Err(GasBenchError::Case {
                case: case.name.clone(),
                reason: format!("the {path} path returned other bytes than the reference"),
            });
        }
        let warm = (cache == Cache::Warm).then(|| Box::new(loaded));
        Ok(Call::Direct { model: case.model.clone(), input: case.input.clone(), path, warm })
    }

    /// Executes the call once, for timing.
    pub fn run(&mut self) {
        match self {
            Call::Evm(call) => call.run(),
            Call::Direct { model, input, path, warm } => {
                let output = match warm {
                    Some(loaded) => loaded.run(input),
                    None => LoadedModel::load(model, *path).and_then(|loaded| loaded.run(input)),
                };
                std::hint::black_box(output.is_ok());
            }
        }
    }

    /// What is subtracted from the call's time: its transaction to an account with no code
    /// (nothing for a direct call).
    pub fn transaction_time(&self, budget: Budget) -> Result<Timing, GasBenchError> {
        match self {
            Call::Evm(call) => transaction_time(call, budget),
            Call::Direct { .. } => Ok(Timing { median_ns: 0.0, min_ns: 0.0, calls: 0 }),
        }
    }
}

/// Times `call`'s transaction sent to an account with no code: what is subtracted from it.
fn transaction_time(call: &EvmCall, budget: Budget) -> Result<Timing, GasBenchError> {
    let mut without_callee = call.without_callee()?;
    Ok(time(budget, || without_callee.run()))
}

/// The samples of both fits, each with its case's name (`gas-fit-samples.json`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FitSamples {
    /// The price after loading: every successful cold call.
    pub after_loading: Vec<(String, Sample)>,
    /// The part charged before loading: loading alone, and the calls refused at load.
    pub before_loading: Vec<(String, Sample)>,
}

impl FitSamples {
    /// The samples of several runs as one: each case at its slowest run (the most gas it
    /// deserved in any of them), in the order the cases first appear. A fit of this is safe
    /// for every run it was made of, which one run's fit is not when runs differ by more than
    /// the margin.
    pub fn slowest_of(runs: &[FitSamples]) -> FitSamples {
        fn merge<'a>(lists: impl Iterator<Item = &'a Vec<(String, Sample)>>) -> Vec<(String, Sample)> {
            let mut merged: Vec<(String, Sample)> = Vec::new();
            for (name, sample) in lists.flatten() {
                match merged.iter_mut().find(|(n, _)| n == name) {
                    Some((_, kept)) if kept.deserved_gas < sample.deserved_gas => *kept = sample.clone(),
                    Some(_) => {}
                    None => merged.push((name.clone(), sample.clone())),
                }
            }
            merged
        }
        FitSamples {
            after_loading: merge(runs.iter().map(|r| &r.after_loading)),
            before_loading: merge(runs.iter().map(|r| &r.before_loading)),
        }
    }
}

/// The names of the samples `fit` prices within a millionth of its headroom line.
fn binding_cases(fit: Option<&Fit>, samples: &[Sample], names: &[String]) -> Vec<String> {
    let Some(fit) = fit else { return Vec::new() };
    samples
        .iter()
        .zip(names)
        .filter(|(s, _)| fit.gas(&s.terms) <= (1.0 + fit.margin) * s.deserved_gas * (1.0 + 1e-6))
        .map(|(_, name)| name.clone())
        .collect()
}

/// The fitted constants (`fit` in the layout of [`crate::fit::loaded_terms`], `load_fit` in
/// that of [`crate::fit::load_terms`]) as a schedule that prices the loaded model: each price
/// rounded up, before loading in milligas, after loading in microgas (a Conv2D MAC costs
/// about 0.0003 gas, which milligas would round up 3.4 times), the bases rounded up to whole
/// gas. The query price is `current`'s (it is not fitted). The price table is leaked to be
/// `'static`, as a schedule's is (this is tooling: a few fits per run).
pub fn schedule_from_fit(fit: &Fit, load_fit: &Fit, current: &GasSchedule) -> GasSchedule {
    let in_unit = |gas: f64, units_per_gas: u64| (gas.max(0.0) * units_per_gas as f64).ceil() as u64;
    let milligas = |gas: f64| in_unit(gas, MILLIGAS_PER_GAS);
    let microgas = |gas: f64| in_unit(gas, MICROGAS_PER_GAS);
    let c = &fit.constants;
    let mut classes = [ClassPrices::ZERO; aiop_engine::OpClass::COUNT];
    for (index, class) in classes.iter_mut().enumerate() {
        let at = LOADED_CLASS_TERMS + index * aiop_engine::OpWork::COUNTS;
        let mut prices = [0u64; aiop_engine::OpWork::COUNTS];
        for (p, &g) in prices.iter_mut().zip(&c[at..at + aiop_engine::OpWork::COUNTS]) {
            *p = microgas(g);
        }
        *class = ClassPrices::from_array(prices);
    }
    // The Data class (Reshape, and format v2's Concatenation, Pad, ArgMax, Mean) is searched
    // for its format-v1 member only: its element prices are never below the elementwise
    // class's, so a large copy or reduction the cases do not hold is not priced by op alone.
    let elementwise = classes[aiop_engine::OpClass::Elementwise.index()];
    let data = &mut classes[aiop_engine::OpClass::Data.index()];
    data.per_in_element = data.per_in_element.max(elementwise.per_in_element);
    data.per_out_element = data.per_out_element.max(elementwise.per_out_element);
    let l = &load_fit.constants;
    let loaded: &'static LoadedPrices = Box::leak(Box::new(LoadedPrices {
        per_head_byte: 0,
        per_declared_op: milligas(l[2]),
        per_declared_tensor: milligas(l[3]),
        units_per_gas: MICROGAS_PER_GAS,
        base: c[0].max(0.0).ceil() as u64,
        per_model_byte: microgas(c[1]),
        per_io_byte: microgas(c[2]),
        classes,
    }));
    GasSchedule {
        version: "fitted",
        base: l[0].max(0.0).ceil() as u64,
        query_base: current.query_base,
        per_op_milligas: 0,
        per_mac_milligas: 0,
        per_element_milligas: 0,
        per_transcendental_milligas: 0,
        per_byte_milligas: milligas(l[1]),
        loaded: Some(loaded),
    }
}

/// A fit of saved samples (`gas-fit-samples.json`, or several runs' as
/// [`FitSamples::slowest_of`] merges them), made again without timing:
/// `aiop bench gas --refit FILE...`.
#[derive(Debug, Clone)]
pub struct Refit {
    /// The fitted constants rounded into a schedule, as [`schedule_from_fit`] makes it.
    pub schedule: GasSchedule,
    /// Every successful call of the samples and its ratio to ecrecover's ns per gas under
    /// `schedule` (deserved gas over priced gas), slowest per gas first.
    pub ratios: Vec<(String, f64)>,
    /// The same for loading alone against the price before loading, slowest first.
    pub load_ratios: Vec<(String, f64)>,
}

/// Suffix of a before-loading sample that times a case's loading alone.
const LOADING_ALONE: &str = " (loading alone)";

/// Fits `samples` again with `margin` and the weights the samples carry, except that the
/// MLPerf Tiny models' weigh `mlperf_weight`, and prices each of them under the rounded result
/// (from its terms, the way the precompile prices the counts). `None` where a fit is
/// impossible (no samples, or samples [`fit`] refuses).
pub fn refit(samples: &FitSamples, margin: f64, mlperf_weight: f64, current: &GasSchedule) -> Option<Refit> {
    let weighed = |(name, sample): &(String, Sample)| {
        let weight = if name.starts_with(MLPERF_PREFIX) { mlperf_weight } else { sample.weight };
        Sample { weight, ..sample.clone() }
    };
    let after: Vec<Sample> = samples.after_loading.iter().map(weighed).collect();
    let before: Vec<Sample> = samples.before_loading.iter().map(weighed).collect();
    let schedule = schedule_from_fit(&fit(&after, margin)?, &fit(&before, margin)?, current);
    let load_gas = |terms: &[f64]| price_before_loading(&schedule, terms);
    let mut ratios: Vec<(String, f64)> = samples
        .after_loading
        .iter()
        .map(|(name, s)| {
            let load = samples
                .before_loading
                .iter()
                .find(|(n, _)| n.strip_suffix(LOADING_ALONE) == Some(name))
                .map_or(0.0, |(_, l)| load_gas(&l.terms));
            (name.clone(), s.deserved_gas / price_after_loading(&schedule, &s.terms).max(load))
        })
        .collect();
    let mut load_ratios: Vec<(String, f64)> =
        samples.before_loading.iter().map(|(name, s)| (name.clone(), s.deserved_gas / load_gas(&s.terms))).collect();
    ratios.sort_by(|a, b| b.1.total_cmp(&a.1));
    load_ratios.sort_by(|a, b| b.1.total_cmp(&a.1));
    Some(Refit { schedule, ratios, load_ratios })
}

/// [`GasSchedule::load_gas`] from the [`load_terms`] of a call (base, bytes, declared ops and
/// tensors).
fn price_before_loading(schedule: &GasSchedule, terms: &[f64]) -> f64 {
    let (load, _) = crate::report::stored_constants(schedule);
    let head = terms[1].min(aiop_precompile::gas::LOAD_HEAD_BYTES as f64);
    let head_price = schedule.loaded.map_or(0, |p| p.per_head_byte) as f64;
    let milligas: f64 = load[1..].iter().zip(&terms[1..]).map(|(&p, &t)| p as f64 * t).sum::<f64>() + head_price * head;
    load[0] as f64 + (milligas / MILLIGAS_PER_GAS as f64).ceil()
}

/// The price after loading (before the maximum with the load price) from the
/// [`loaded_terms`] of a call.
fn price_after_loading(schedule: &GasSchedule, terms: &[f64]) -> f64 {
    let Some(prices) = schedule.loaded else { return 0.0 };
    let (_, stored) = crate::report::stored_constants(schedule);
    let units: f64 = stored[1..].iter().zip(&terms[1..]).map(|(&p, &t)| p as f64 * t).sum();
    stored[0] as f64 + (units / prices.units_per_gas as f64).ceil()
}

impl Measurement {
    /// The case of ours slowest per gas under `schedule` with `timing` (which of a row's
    /// timings), and its ratio to ecrecover's ns per gas.
    pub fn worst(&self, schedule: &GasSchedule, timing: impl Fn(&Row) -> Option<Timing>) -> Option<(&Row, f64)> {
        self.rows
            .iter()
            .filter(|r| r.group != Group::Standard)
            .filter_map(|r| timing(r).map(|t| (r, r.ns_per_gas(t, schedule) / self.line_ns_per_gas)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The smallest and largest ratio to ecrecover of the MLPerf Tiny models on the pricing
    /// path under `schedule`.
    pub fn mlperf_range(&self, schedule: &GasSchedule) -> Option<(f64, f64)> {
        let ratios: Vec<f64> = self
            .rows
            .iter()
            .filter(|r| r.group == Group::Mlperf)
            .map(|r| r.ns_per_gas(r.pricing, schedule) / self.line_ns_per_gas)
            .collect();
        if ratios.is_empty() {
            return None;
        }
        Some((ratios.iter().copied().fold(f64::INFINITY, f64::min), ratios.iter().copied().fold(0.0, f64::max)))
    }

    /// The case whose loading alone is slowest per gas charged before loading
    /// (`load_gas`), and its ratio to ecrecover's ns per gas.
    pub fn worst_load(&self, schedule: &GasSchedule) -> Option<(&Row, f64)> {
        self.rows
            .iter()
            .filter_map(|r| r.load_ns_per_gas(schedule).map(|npg| (r, npg / self.line_ns_per_gas)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The smallest and largest ratio to ecrecover of the shipped digits models (the typical
    /// models) on the pricing path under `schedule`.
    pub fn digits_range(&self, schedule: &GasSchedule) -> Option<(f64, f64)> {
        let ratios: Vec<f64> = self
            .rows
            .iter()
            .filter(|r| r.group == Group::Shipped && r.name.starts_with("digits_"))
            .map(|r| r.ns_per_gas(r.pricing, schedule) / self.line_ns_per_gas)
            .collect();
        if ratios.is_empty() {
            return None;
        }
        Some((ratios.iter().copied().fold(f64::INFINITY, f64::min), ratios.iter().copied().fold(0.0, f64::max)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mlperf_models_are_their_own_group_whether_or_not_the_precompile_accepts_them() {
        let models = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models"));
        for spec in [aiop_precompile::PrecompileSpec::V2, aiop_precompile::PrecompileSpec::V5] {
            let cases = shipped_cases(models, &spec).expect("the shipped models load");
            let mlperf: Vec<_> = cases.iter().filter(|c| Group::of_shipped(c) == Group::Mlperf).collect();
            assert_eq!(mlperf.len(), 6, "under {}", spec.version);
            assert!(mlperf.iter().all(|c| c.name.starts_with(MLPERF_PREFIX)));
            // Through the EVM where the spec accepts format v2, directly in the engine where not.
            let direct = mlperf.iter().all(|c| c.delivery == Delivery::Direct);
            assert_eq!(direct, !spec.accepts_format(2), "under {}", spec.version);
            assert!(cases.iter().any(|c| Group::of_shipped(c) == Group::Shipped));
        }
    }

    #[test]
    fn refitting_the_runs_v6_was_fitted_on_gives_v6() {
        const RUN_3: &str = include_str!("../../../docs/gas-calibration-v6/3-gas-fit-samples.json");
        const RUN_4: &str = include_str!("../../../docs/gas-calibration-v6/4-gas-fit-samples.json");
        const RUN_5: &str = include_str!("../../../docs/gas-calibration-v6/5-gas-fit-samples.json");
        let runs: Vec<FitSamples> = [RUN_3, RUN_4, RUN_5]
            .iter()
            .map(|run| serde_json::from_str(run).expect("the committed samples parse"))
            .collect();
        let samples = FitSamples::slowest_of(&runs);
        let v6 = GasSchedule::V6;
        let refit = refit(&samples, 0.3, MLPERF_WEIGHT, &v6).expect("the samples fit");
        assert_eq!((refit.schedule.base, refit.schedule.per_byte_milligas), (v6.base, v6.per_byte_milligas));
        assert_eq!(refit.schedule.loaded, Some(&aiop_precompile::gas::V6_LOADED));
        // Every case of the run at the fit's headroom or under it, the MLPerf Tiny models within
        // 2x of their cost (a ratio of at least 0.5).
        assert!(refit.ratios.iter().all(|(_, r)| *r <= 1.0 / 1.3 + 1e-3), "{:?}", &refit.ratios[..3]);
        let mlperf: Vec<f64> =
            refit.ratios.iter().filter(|(n, _)| n.starts_with(MLPERF_PREFIX)).map(|(_, r)| *r).collect();
        assert_eq!(mlperf.len(), 6);
        assert!(mlperf.iter().all(|&r| r >= 0.5), "{mlperf:?}");
    }

    #[test]
    fn several_runs_merge_at_each_case_s_slowest() {
        let sample = |gas: f64| Sample { terms: vec![1.0, gas], deserved_gas: gas, weight: 1.0 };
        let run = |cases: &[(&str, f64)]| FitSamples {
            after_loading: cases.iter().map(|&(n, g)| (n.to_string(), sample(g))).collect(),
            before_loading: vec![("load".to_string(), sample(cases[0].1))],
        };
        let merged =
            FitSamples::slowest_of(&[run(&[("a", 5.0), ("b", 9.0)]), run(&[("b", 7.0), ("c", 1.0), ("a", 6.0)])]);
        let gas: Vec<(&str, f64)> = merged.after_loading.iter().map(|(n, s)| (n.as_str(), s.deserved_gas)).collect();
        assert_eq!(gas, [("a", 6.0), ("b", 9.0), ("c", 1.0)]);
        assert_eq!(merged.after_loading[0].1.terms, [1.0, 6.0], "the slow run's sample is kept whole");
        assert_eq!(merged.before_loading.len(), 1);
        assert_eq!(merged.before_loading[0].1.deserved_gas, 7.0);
    }
}
