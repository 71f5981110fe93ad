//! `aiop bench gas`: arguments, progress bar and the files it writes.

use std::path::{Path, PathBuf};

use aiop_engine::{KernelChoice, KernelPath};
use aiop_precompile::GasSchedule;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use std::time::Duration;

use crate::measure::{FitSamples, Options, Progress, measure, refit};
use crate::report::{Report, schedule_literal};
use crate::search::{OpKind, SearchOptions, SearchProgress, SearchedFile, markdown as search_markdown, search};
use crate::timing::Budget;
use crate::{GasBenchError, Measurement};

/// The arguments of `aiop bench gas`.
#[derive(Debug, Args)]
// Keeps this doc comment out of `--help`: the `aiop bench gas` subcommand's own doc describes it.
#[command(about = None, long_about = None)]
pub struct GasArgs {
    /// A short run of the quick cases (seconds, not minutes): a smoke test of the harness. Its
    /// figures are not a calibration, and it writes to target/gas-report-quick unless --out is given.
    #[arg(long)]
    pub quick: bool,
    /// Folder for `gas-report.md` and `gas-report.svg` [default: docs, or target/gas-report-quick with --quick].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The shipped models to time, every `.aiop` file in this folder.
    #[arg(long, value_name = "DIR", default_value = "testdata/models")]
    pub models: PathBuf,
    /// The kernel path gas is priced for: `avx2` (x86-64-v3, what client builds assume), or
    /// `reference` to price for nodes without SIMD.
    #[arg(long, default_value = "avx2")]
    pub pricing_path: KernelChoice,
    /// The schedule whose prices are checked: `v1` to `v6`, or a candidate under calibration.
    #[arg(long, default_value = GasSchedule::V2.version)]
    pub schedule: String,
    /// Headroom the fitted constants leave above ecrecover's line, for run-to-run noise.
    #[arg(long, default_value_t = 0.25)]
    pub margin: f64,
    /// Weight of an MLPerf Tiny model in the fit, against 4 for the other shipped models and 1
    /// for synthetic and searched cases (with --refit, replaces the weight the samples carry).
    #[arg(long, default_value_t = crate::measure::MLPERF_WEIGHT, value_name = "W")]
    pub mlperf_weight: f64,
    /// Whole runs to make (each about five minutes; the quick run seconds). Every case keeps
    /// its worst run, relative to that run's ecrecover: on a shared machine, run at least two.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub runs: u16,
    /// Time only what the fit reads (the pricing path cold, and loading alone), not the warm,
    /// fastest-path and reference columns: a faster calibration run.
    #[arg(long)]
    pub pricing_only: bool,
    /// Search the shape space of every format-v1 op type for the calls slowest per gas under
    /// --schedule (cold, on --pricing-path, against ecrecover timed in the same run) instead of
    /// timing the fixed cases. Writes gas-search.md and gas-search.json to --out
    /// [default: target/gas-search].
    #[arg(long)]
    pub search: bool,
    /// Total time of a search, in seconds (the final re-timing of each op type's worst included).
    #[arg(long, default_value_t = 300, value_name = "N", requires = "search")]
    pub search_seconds: u64,
    /// Seed of the search's mutations.
    #[arg(long, default_value_t = 1, requires = "search")]
    pub seed: u64,
    /// Candidates priced above this gas are skipped.
    #[arg(long, default_value_t = 4_000_000, value_name = "GAS", requires = "search")]
    pub search_max_gas: u64,
    /// Only these op types (comma separated, e.g. `DepthwiseConv2D,MaxPool2D`) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "OPS", requires = "search")]
    pub search_ops: Vec<String>,
    /// Also write the worst case of each op type to --cases-file, which makes them cases of
    /// every later `aiop bench gas` run (after a rebuild: the file is built in).
    #[arg(long, requires = "search")]
    pub write_cases: bool,
    /// Fit the samples a run saved (its `gas-fit-samples.json`) again with --margin, without
    /// timing anything, and print the schedule and every case's ratio under it: how a
    /// published schedule is reproduced from its calibration runs. Given several files, each
    /// case is fitted at its slowest run.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["search", "quick"])]
    pub refit: Vec<PathBuf>,
    /// Where --write-cases writes.
    #[arg(long, value_name = "FILE", default_value = "testdata/gas/searched-cases.json")]
    pub cases_file: PathBuf,
}

/// Runs `aiop bench gas` and returns what it wrote.
pub fn run_gas(args: GasArgs) -> Result<Vec<PathBuf>, GasBenchError> {
    let schedule = GasSchedule::by_version(&args.schedule)
        .or_else(|| GasSchedule::CANDIDATES.into_iter().find(|s| s.version == args.schedule))
        .ok_or_else(|| {
            let known: Vec<_> = GasSchedule::ALL.iter().chain(&GasSchedule::CANDIDATES).map(|s| s.version).collect();
            GasBenchError::Config(format!("unknown gas schedule `{}`: use one of {}", args.schedule, known.join(", ")))
        })?;
    let pricing_path = args.pricing_path.resolve().map_err(|e| GasBenchError::Config(e.to_string()))?;
    if args.search {
        return run_search(&args, schedule, pricing_path);
    }
    if !args.refit.is_empty() {
        return run_refit(&args.refit, &args, &schedule);
    }
    if !args.models.is_dir() {
        return Err(GasBenchError::Config(format!(
            "no models folder at `{}`: run from the repository root, or pass --models DIR",
            args.models.display()
        )));
    }
    check_weights(&args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| if args.quick { PathBuf::from("target/gas-report-quick") } else { PathBuf::from("docs") });
    let options = Options {
        quick: args.quick,
        models_dir: args.models.clone(),
        pricing_path,
        schedule,
        margin: args.margin,
        budget: if args.quick { Budget::QUICK } else { Budget::FULL },
        runs: usize::from(args.runs),
        pricing_only: args.pricing_only,
        mlperf_weight: args.mlperf_weight,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:32} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let measurement = measure(&options, &mut |p| match p {
        Progress::Start { total } => bar.set_length(total),
        Progress::Timing { case, what } => {
            bar.set_message(format!("{case} ({what})"));
            bar.inc(1);
        }
    });
    bar.finish_and_clear();
    let measurement = measurement?;
    let report =
        Report { command: command_line(&args), machine: machine(), plot_file: "gas-report.svg".into(), measurement };
    std::fs::create_dir_all(&out).map_err(|e| io_error(&out, e))?;
    let markdown = out.join("gas-report.md");
    let plot = out.join("gas-report.svg");
    std::fs::write(&markdown, report.markdown()).map_err(|e| io_error(&markdown, e))?;
    report.plot(&plot).map_err(|reason| GasBenchError::Io { path: plot.display().to_string(), reason })?;
    let samples = out.join("gas-fit-samples.json");
    let json = serde_json::to_string_pretty(&report.measurement.samples)
        .map_err(|e| GasBenchError::Io { path: samples.display().to_string(), reason: e.to_string() })?;
    std::fs::write(&samples, json).map_err(|e| io_error(&samples, e))?;
    print_summary(&report.measurement);
    Ok(vec![markdown, plot, samples])
}

/// `aiop bench gas --refit FILE...`: writes nothing, prints the fit.
fn run_refit(files: &[PathBuf], args: &GasArgs, schedule: &GasSchedule) -> Result<Vec<PathBuf>, GasBenchError> {
    let margin = args.margin;
    check_weights(args)?;
    let runs = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).map_err(|e| io_error(file, e))?;
            serde_json::from_str::<FitSamples>(&text).map_err(|e| GasBenchError::Io {
                path: file.display().to_string(),
                reason: format!("not the gas-fit-samples.json of an `aiop bench gas` run: {e}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = files.iter().map(|f| format!("`{}`", f.display())).collect();
    let names = names.join(", ");
    let refit = refit(&FitSamples::slowest_of(&runs), margin, args.mlperf_weight, schedule)
        .ok_or_else(|| GasBenchError::Config(format!("{names}: no samples both fits accept")))?;
    let each = if files.len() > 1 { ", each case at its slowest run" } else { "" };
    println!("fitted (margin {:.0}%) from {names}{each}:\n{}", margin * 100.0, schedule_literal(&refit.schedule));
    println!("slowest per gas under it (x ecrecover's ns/gas):");
    for (name, ratio) in refit.ratios.iter().take(10) {
        println!("  {ratio:>6.2}x  {name}");
    }
    println!("MLPerf Tiny models:");
    for (name, ratio) in refit.ratios.iter().filter(|(name, _)| name.starts_with(crate::cases::MLPERF_PREFIX)) {
        println!("  {ratio:>6.2}x  {name}");
    }
    if let Some((name, ratio)) = refit.load_ratios.first() {
        println!("before loading, slowest: {ratio:.2}x  {name}");
    }
    Ok(Vec::new())
}

/// `aiop bench gas --search`.
fn run_search(args: &GasArgs, schedule: GasSchedule, pricing_path: KernelPath) -> Result<Vec<PathBuf>, GasBenchError> {
    let ops = if args.search_ops.is_empty() {
        OpKind::ALL.to_vec()
    } else {
        args.search_ops
            .iter()
            .map(|name| {
                OpKind::ALL.into_iter().find(|op| op.name().eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
                    let known: Vec<_> = OpKind::ALL.iter().map(|op| op.name()).collect();
                    GasBenchError::Config(format!("unknown op type `{name}`: use one of {}", known.join(", ")))
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    // Op types of a format the schedule's precompile does not accept cannot be called.
    let spec = crate::evm::spec_of(schedule);
    let (ops, skipped): (Vec<OpKind>, Vec<OpKind>) =
        ops.into_iter().partition(|op| spec.formats.contains(&op.format()));
    if !skipped.is_empty() {
        let names: Vec<_> = skipped.iter().map(|op| op.name()).collect();
        eprintln!(
            "skipping {} (format {}, which precompile {} does not accept; search them with --schedule v4)",
            names.join(", "),
            skipped[0].format(),
            spec.version
        );
    }
    if ops.is_empty() {
        return Err(GasBenchError::Config(format!("no op type to search under schedule {}", schedule.version)));
    }
    let options = SearchOptions {
        pricing_path,
        schedule,
        seconds: args.search_seconds as f64,
        seed: args.seed,
        max_gas: args.search_max_gas,
        call_cap: Duration::from_secs(2),
        ops,
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("target/gas-search"));
    let bar = ProgressBar::new(args.search_seconds.max(1));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:32} {pos}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = search(&options, &mut |p| match p {
        SearchProgress::Candidate { op, name, elapsed, worst } => {
            bar.set_position(elapsed.as_secs());
            bar.set_message(format!("{} (worst {worst:.2}x): {name}", op.name()));
        }
        SearchProgress::Retiming { op, elapsed } => {
            bar.set_position(elapsed.as_secs());
            bar.set_message(format!("timing the worst {} again", op.name()));
        }
    });
    bar.finish_and_clear();
    let result = result?;
    let mut command = format!("aiop bench gas --search --search-seconds {} --seed {}", args.search_seconds, args.seed);
    if args.schedule != GasSchedule::V2.version {
        command.push_str(&format!(" --schedule {}", args.schedule));
    }
    if args.pricing_path != KernelChoice::Force(KernelPath::Avx2) {
        command.push_str(&format!(" --pricing-path {}", args.pricing_path));
    }
    if !args.search_ops.is_empty() {
        command.push_str(&format!(" --search-ops {}", args.search_ops.join(",")));
    }
    let file = SearchedFile {
        about: "Worst shapes per op type found by `aiop bench gas --search`; crates/gasbench/src/search.rs \
                builds each case from its `shape`"
            .into(),
        command,
        machine: machine(),
        schedule: schedule.version.into(),
        pricing_path: pricing_path.to_string(),
        ecrecover_ns_per_gas: result.line_ns_per_gas,
        candidates_timed: result.timed,
        candidates_skipped: result.skipped,
        cases: result.worst,
    };
    let json = serde_json::to_string_pretty(&file).map_err(|e| GasBenchError::Config(e.to_string()))? + "\n";
    std::fs::create_dir_all(&out).map_err(|e| io_error(&out, e))?;
    let markdown = out.join("gas-search.md");
    let json_path = out.join("gas-search.json");
    std::fs::write(&markdown, search_markdown(&file)).map_err(|e| io_error(&markdown, e))?;
    std::fs::write(&json_path, &json).map_err(|e| io_error(&json_path, e))?;
    let mut written = vec![markdown, json_path];
    if args.write_cases {
        if let Some(dir) = args.cases_file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        std::fs::write(&args.cases_file, &json).map_err(|e| io_error(&args.cases_file, e))?;
        written.push(args.cases_file.clone());
    }
    println!(
        "ecrecover: {:.2} ns/gas; {} candidates timed, {} skipped",
        file.ecrecover_ns_per_gas, file.candidates_timed, file.candidates_skipped
    );
    println!("schedule {}, {} cold: the worst shape found per op type", file.schedule, file.pricing_path);
    for c in &file.cases {
        println!(
            "  {:<16} {:>6.2}x ecrecover  {:>8.2} ns/gas  {:>9} gas  {:>12.0} ns  {}",
            c.shape.op.name(),
            c.ratio,
            c.ns_per_gas,
            c.gas,
            c.ns,
            c.name
        );
    }
    Ok(written)
}

/// The fit's headroom and the MLPerf weight are numbers it can use.
fn check_weights(args: &GasArgs) -> Result<(), GasBenchError> {
    if !(0.0..=10.0).contains(&args.margin) {
        return Err(GasBenchError::Config(format!("--margin {} is not between 0 and 10", args.margin)));
    }
    if !(args.mlperf_weight.is_finite() && args.mlperf_weight >= 0.0) {
        return Err(GasBenchError::Config(format!("--mlperf-weight {} is not a weight (>= 0)", args.mlperf_weight)));
    }
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> GasBenchError {
    GasBenchError::Io { path: path.display().to_string(), reason: e.to_string() }
}

fn command_line(args: &GasArgs) -> String {
    let mut command = String::from("aiop bench gas");
    if args.quick {
        command.push_str(" --quick");
    }
    if args.pricing_path != KernelChoice::Force(KernelPath::Avx2) {
        command.push_str(&format!(" --pricing-path {}", args.pricing_path));
    }
    if args.schedule != GasSchedule::V2.version {
        command.push_str(&format!(" --schedule {}", args.schedule));
    }
    if args.runs != 1 {
        command.push_str(&format!(" --runs {}", args.runs));
    }
    if args.margin != 0.25 {
        command.push_str(&format!(" --margin {}", args.margin));
    }
    if args.pricing_only {
        command.push_str(" --pricing-only");
    }
    if args.mlperf_weight != crate::measure::MLPERF_WEIGHT {
        command.push_str(&format!(" --mlperf-weight {}", args.mlperf_weight));
    }
    command
}

/// The CPU model and core count, from /proc/cpuinfo where there is one.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu} ({cores} cores available, one used)")
}

fn print_summary(m: &Measurement) {
    let line = m.line_ns_per_gas;
    println!("ecrecover: {line:.2} ns/gas ({:.0} Mgas/s)", 1000.0 / line);
    if let Some((row, ratio)) = m.worst(&m.schedule, |r| Some(r.pricing)) {
        println!(
            "schedule {}: worst case on {} is {} at {ratio:.2}x ecrecover's ns/gas",
            m.schedule.version, m.pricing_path, row.name
        );
    }
    if let Some((lo, hi)) = m.digits_range(&m.schedule) {
        println!("schedule {}: shipped digits models at {lo:.2}x to {hi:.2}x", m.schedule.version);
    }
    if let Some((lo, hi)) = m.mlperf_range(&m.schedule) {
        println!("schedule {}: MLPerf Tiny models at {lo:.2}x to {hi:.2}x", m.schedule.version);
    }
    if let Some((row, ratio)) = m.worst_load(&m.schedule) {
        println!("schedule {}: loading alone, worst {} at {ratio:.2}x", m.schedule.version, row.name);
    }
    if let Some((row, ratio)) = m.worst(&m.schedule, |r| r.reference) {
        println!("schedule {}: worst case on the reference path is {} at {ratio:.2}x", m.schedule.version, row.name);
    }
    if let (Some(fit), Some(fitted)) = (&m.fit, &m.fitted_schedule) {
        println!(
            "fitted (margin {:.0}%, R-squared {:.3}):\n{}",
            fit.margin * 100.0,
            fit.r_squared,
            schedule_literal(fitted)
        );
        if let Some((row, ratio)) = m.worst(fitted, |r| Some(r.pricing)) {
            println!("fitted: worst case {} at {ratio:.2}x", row.name);
        }
        if let Some((lo, hi)) = m.mlperf_range(fitted) {
            println!("fitted: MLPerf Tiny models at {lo:.2}x to {hi:.2}x");
        }
        if let Some((row, ratio)) = m.worst_load(fitted) {
            println!("fitted: loading alone, worst {} at {ratio:.2}x", row.name);
        }
        println!("fitted: on the line after loading: {}", m.binding.join(", "));
        println!("fitted: on the line before loading: {}", m.load_binding.join(", "));
    }
}
