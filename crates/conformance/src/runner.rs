//! The runner: files to test units, units to cases (one per fork and `indexes` entry), each
//! case executed once through `AiopEvmFactory` and once through `EthEvmFactory` on its own
//! copy of the pre-state, then compared with the expectation and with each other.
//!
//! Execution follows revm's own runner (`revme statetest`): the pre-state is revm's
//! in-memory `State` over a `CacheState` (`TestUnit::state`), so EIP-161 clearing of touched
//! empty accounts and self-destruction are applied on commit the way a node applies them (a
//! bare `CacheDB` keeps touched empty accounts and would give wrong roots); the spec comes
//! from the fork name with mainnet gas parameters; the block and transaction come from
//! `TestUnit::block_env` and `Test::tx_env`; an expected exception passes when the
//! transaction is rejected (or cannot even be built), and then roots are not compared with
//! the expectation (there is no post-state), only between the two factories.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use aiop_precompile::{AiopConfig, AiopEvmFactory};
use alloy_evm::{EthEvmFactory, Evm, EvmEnv, EvmFactory};
use alloy_primitives::{B256, Bytes};
use revm::{
    context::{BlockEnv, CfgEnv, TxEnv},
    context_interface::result::{ExecutionResult, HaltReason},
    database::{CacheState, State},
    primitives::hardfork::SpecId,
};
use revm_statetest_types::{SpecName, Test, TestSuite, TestUnit};

use crate::error::{ConformanceError, FailureKind};
use crate::roots::{logs_hash, state_root};

/// The checked-in location of the tests, `../shared/ethereum-tests/GeneralStateTests`
/// relative to the workspace root (found from this crate's manifest, so any working
/// directory works).
pub fn default_tests_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ethereum-tests/GeneralStateTests");
    dir.canonicalize().unwrap_or(dir)
}

/// Why cases were not run. Each is counted in [`Report::skipped`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A fork revm 42 has no `SpecId` for: `Constantinople` (the pre-Petersburg rules, never
    /// activated on mainnet; revm maps only `ConstantinopleFix` = Petersburg, and revme skips
    /// it too), `ByzantiumToConstantinopleAt5`, or a fork name the format does not know.
    UnsupportedFork(String),
    /// A file in [`KNOWN_UNPARSABLE`] that `revm-statetest-types` cannot parse (its cases
    /// are counted from the raw JSON).
    Unparsable {
        /// The file's name, as [`KNOWN_UNPARSABLE`] lists it.
        file: &'static str,
        /// Why it does not parse.
        why: &'static str,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::UnsupportedFork(fork) => write!(f, "fork {fork}: revm 42 does not implement it"),
            SkipReason::Unparsable { file, why } => write!(f, "{file}: revm-statetest-types cannot parse it: {why}"),
        }
    }
}

/// Why revm 42 does not reproduce the expected roots of the [`KNOWN_DIVERGENCES`] files.
pub const EIP7610: &str = "the pre-state has storage (no code, nonce 0) at the address a CREATE/CREATE2 \
    deploys to; EIP-7610 makes that creation fail, revm 42 checks only code and nonce for a collision \
    (no such account exists on mainnet; revme skips these files)";

/// Files (by name) whose expected post-state revm 42 itself does not reproduce, with the
/// reason. They still run through both factories, which must agree with each other; a case
/// that then misses only the expected root or logs hash is listed in
/// [`Report::known_divergences`] instead of [`Report::failures`]. Anything else (the
/// factories differ, an exception mismatch) is a failure as usual.
pub const KNOWN_DIVERGENCES: &[(&str, &str)] = &[
    ("RevertInCreateInInit_Paris.json", EIP7610),
    ("RevertInCreateInInitCreate2Paris.json", EIP7610),
    ("create2collisionStorageParis.json", EIP7610),
    ("dynamicAccountOverwriteEmpty_Paris.json", EIP7610),
    ("InitCollisionParis.json", EIP7610),
];

/// Files (by name) that `revm-statetest-types` 42 cannot parse, with the reason. Their cases
/// are counted as skipped (from the raw JSON); if the file ever parses, it runs as usual.
pub const KNOWN_UNPARSABLE: &[(&str, &str)] = &[(
    "ValueOverflowParis.json",
    "its transaction value is 2^256 + 1 (\"0x:bigint ...\"), which does not fit the format's U256 (the case \
     expects RLP_INVALID_VALUE; revme skips this file)",
)];

/// The slowest files of GeneralStateTests (release, per factory: CALLBlake2f_MaxRounds about
/// 60 s, loopMul 8 s, static_Call50000_sha256 3 s); scheduling only.
pub const SLOW_FILES: &[&str] = &["CALLBlake2f_MaxRounds.json", "loopMul.json", "static_Call50000_sha256.json"];

fn known<'a>(list: &'a [(&'static str, &'static str)], path: &Path) -> Option<&'a (&'static str, &'static str)> {
    let name = path.file_name()?.to_str()?;
    list.iter().find(|(file, _)| *file == name)
}

/// One failed case (or an unreadable file, with `case` "*").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The test file.
    pub file: PathBuf,
    /// The test's name within the file (`"*"` when the file itself failed).
    pub case: String,
    /// The fork name (empty when the file failed, or a unit panicked, as a whole).
    pub fork: String,
    /// `(data, gas, value)` indexes of the transaction.
    pub indexes: Option<(usize, usize, usize)>,
    /// Why it failed.
    pub kind: FailureKind,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.case)?;
        match self.indexes {
            Some((d, g, v)) => write!(f, " [{} d={d} g={g} v={v}]", self.fork)?,
            None if !self.fork.is_empty() => write!(f, " [{}]", self.fork)?,
            None => {}
        }
        write!(f, ": {}", self.kind)
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Test files read.
    pub files: usize,
    /// Cases that passed (both factories agree with each other and with the expectation).
    pub passed: usize,
    /// `passed`, by fork name.
    pub passed_by_fork: BTreeMap<String, usize>,
    /// Of `passed`: cases whose expected exception occurred (the transaction was rejected).
    pub passed_expected_exception: usize,
    /// Of `passed_expected_exception`: cases whose transaction could not even be built from
    /// the test (`Test::tx_env` refused it, e.g. a missing key or an unknown type), so
    /// neither factory ran.
    pub passed_unbuildable_tx: usize,
    /// Cases not run, by reason.
    pub skipped: BTreeMap<SkipReason, usize>,
    /// Every failure, sorted by file and case.
    pub failures: Vec<Failure>,
    /// Cases of the [`KNOWN_DIVERGENCES`] files where both factories agree with each other
    /// but not with the expected root (revm 42's own behaviour), sorted like `failures`.
    pub known_divergences: Vec<Failure>,
}

impl Report {
    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// Cases not run, all reasons together.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }

    /// Cases seen: passed + failed + known divergences + skipped.
    pub fn cases(&self) -> usize {
        self.passed + self.failed() + self.known_divergences.len() + self.skipped_total()
    }

    /// Whether no case failed (known divergences and skips are not failures).
    pub fn is_success(&self) -> bool {
        self.failures.is_empty()
    }

    fn pass(&mut self, fork: &str, how: Passed) {
        self.passed += 1;
        *self.passed_by_fork.entry(fork.to_owned()).or_default() += 1;
        if how != Passed::Executed {
            self.passed_expected_exception += 1;
        }
        if how == Passed::UnbuildableTx {
            self.passed_unbuildable_tx += 1;
        }
    }

    fn merge(&mut self, other: Report) {
        self.files += other.files;
        self.passed += other.passed;
        for (fork, n) in other.passed_by_fork {
            *self.passed_by_fork.entry(fork).or_default() += n;
        }
        self.passed_expected_exception += other.passed_expected_exception;
        self.passed_unbuildable_tx += other.passed_unbuildable_tx;
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        self.failures.extend(other.failures);
        self.known_divergences.extend(other.known_divergences);
    }
}

impl fmt::Display for Report {
    /// The summary: counts, skip reasons, passes by fork (failures are listed separately).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} files, {} cases: {} passed ({} of them an expected exception, {} of those a \
             transaction that cannot be built), {} failed, {} known revm divergences, {} skipped",
            self.files,
            self.cases(),
            self.passed,
            self.passed_expected_exception,
            self.passed_unbuildable_tx,
            self.failed(),
            self.known_divergences.len(),
            self.skipped_total()
        )?;
        let by_fork: Vec<String> = self.passed_by_fork.iter().map(|(fork, n)| format!("{fork} {n}")).collect();
        writeln!(f, "passed by fork: {}", by_fork.join(", "))?;
        for (reason, n) in &self.skipped {
            writeln!(f, "skipped {n}: {reason}")?;
        }
        // Grouped by reason: (cases, files).
        let mut divergences: BTreeMap<&str, (usize, BTreeMap<String, usize>)> = BTreeMap::new();
        for case in &self.known_divergences {
            let file = case.file.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let why = KNOWN_DIVERGENCES.iter().find(|(f, _)| *f == file).map_or("", |(_, why)| *why);
            let entry = divergences.entry(why).or_default();
            entry.0 += 1;
            *entry.1.entry(file).or_default() += 1;
        }
        for (why, (n, files)) in divergences {
            let files: Vec<String> = files.iter().map(|(file, n)| format!("{file} ({n})")).collect();
            writeln!(f, "known revm divergence {n}: {}: {why}", files.join(", "))?;
        }
        Ok(())
    }
}

/// All `.json` files under `path` (or `path` itself if it is a file), sorted.
pub fn collect_json_files(path: &Path) -> Result<Vec<PathBuf>, ConformanceError> {
    if !path.exists() {
        return Err(ConformanceError::PathNotFound(path.to_path_buf()));
    }
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        walk(path, &mut files)?;
    }
    if files.is_empty() {
        return Err(ConformanceError::NoJsonFiles(path.to_path_buf()));
    }
    files.sort();
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ConformanceError> {
    let io = |source| ConformanceError::Io { path: dir.to_path_buf(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    Ok(())
}

/// How a case passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Passed {
    /// Executed; output, logs hash and state root as expected.
    Executed,
    /// The expected exception: both factories rejected the transaction.
    Rejected,
    /// The expected exception: the transaction cannot be built from the test.
    UnbuildableTx,
}

/// What one factory made of one case.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// The execution result, or the rejection of the transaction as text.
    result: Result<ExecutionResult<HaltReason>, String>,
    state_root: B256,
    logs_hash: B256,
}

/// Runs state tests through both factories.
#[derive(Debug, Clone)]
pub struct Runner {
    aiop: AiopEvmFactory,
    eth: EthEvmFactory,
    threads: usize,
}

impl Runner {
    /// A runner with the factory of a chain that runs precompile v3, using every CPU.
    pub fn new() -> Result<Self, ConformanceError> {
        Ok(Self::with_factory(AiopEvmFactory::new(AiopConfig::from_genesis(aiop_precompile::PrecompileSpec::V3))?))
    }

    /// A runner around a given `AiopEvmFactory`.
    pub fn with_factory(aiop: AiopEvmFactory) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Runner { aiop, eth: EthEvmFactory::default(), threads }
    }

    /// Worker threads to use (at least one).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Runs every case of every `.json` file under `path`.
    pub fn run_path(&self, path: &Path) -> Result<Report, ConformanceError> {
        let files = collect_json_files(path)?;
        self.run_files(&files, &|_| {})
    }

    /// Runs `files` on the worker threads, calling `on_file_done` after each file (for a
    /// progress bar). The [`SLOW_FILES`] go first, then the rest largest first, so that a slow
    /// file does not start last and finish alone.
    pub fn run_files(
        &self,
        files: &[PathBuf],
        on_file_done: &(dyn Fn(&Path) + Sync),
    ) -> Result<Report, ConformanceError> {
        let weight = |path: &Path| {
            let slow = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| SLOW_FILES.contains(&n));
            (slow, std::fs::metadata(path).map_or(0, |m| m.len()))
        };
        let mut queue: Vec<((bool, u64), &PathBuf)> = files.iter().map(|path| (weight(path), path)).collect();
        queue.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let next = AtomicUsize::new(0);
        let threads = self.threads.min(queue.len()).max(1);
        let reports = std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(threads);
            for i in 0..threads {
                let worker = std::thread::Builder::new().name(format!("conformance-{i}")).spawn_scoped(scope, || {
                    let mut report = Report::default();
                    while let Some((_, path)) = queue.get(next.fetch_add(1, Ordering::Relaxed)) {
                        self.run_file_into(path, &mut report);
                        on_file_done(path);
                    }
                    report
                });
                handles.push(worker.map_err(ConformanceError::Thread)?);
            }
            // A worker cannot panic: every file runs under catch_unwind.
            Ok::<_, ConformanceError>(handles.into_iter().map(|h| h.join().unwrap_or_default()).collect::<Vec<_>>())
        })?;
        let mut total = Report::default();
        for report in reports {
            total.merge(report);
        }
        let order = |a: &Failure, b: &Failure| {
            (&a.file, &a.case, &a.fork, a.indexes).cmp(&(&b.file, &b.case, &b.fork, b.indexes))
        };
        total.failures.sort_by(order);
        total.known_divergences.sort_by(order);
        Ok(total)
    }

    /// Runs one file on this thread.
    pub fn run_file(&self, path: &Path) -> Report {
        let mut report = Report::default();
        self.run_file_into(path, &mut report);
        report
    }

    fn run_file_into(&self, path: &Path, report: &mut Report) {
        report.files += 1;
        let file_failure =
            |kind| Failure { file: path.to_path_buf(), case: "*".to_owned(), fork: String::new(), indexes: None, kind };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => return report.failures.push(file_failure(FailureKind::Read(e.to_string()))),
        };
        let suite: TestSuite = match serde_json::from_str(&text) {
            Ok(suite) => suite,
            Err(e) => match (known(KNOWN_UNPARSABLE, path), count_cases(&text)) {
                (Some(&(file, why)), Some(cases)) => {
                    *report.skipped.entry(SkipReason::Unparsable { file, why }).or_default() += cases;
                    return;
                }
                _ => return report.failures.push(file_failure(FailureKind::Parse(e.to_string()))),
            },
        };
        let divergence_allowed = known(KNOWN_DIVERGENCES, path).is_some();
        for (name, unit) in &suite.0 {
            // A panic (in the format crate or in revm) fails the unit's remaining cases as one.
            let mut unit_report = Report::default();
            let run = catch_unwind(AssertUnwindSafe(|| self.run_unit(path, name, unit, &mut unit_report)));
            if let Err(panic) = run {
                let kind = FailureKind::Panic(panic_message(panic.as_ref()));
                unit_report.failures.push(Failure { case: name.clone(), ..file_failure(kind) });
            }
            if divergence_allowed {
                let (divergent, failures) = unit_report
                    .failures
                    .into_iter()
                    .partition(|f| matches!(f.kind, FailureKind::StateRoot { .. } | FailureKind::LogsHash { .. }));
                unit_report.failures = failures;
                unit_report.known_divergences = divergent;
            }
            report.merge(unit_report);
        }
    }

    fn run_unit(&self, path: &Path, name: &str, unit: &TestUnit, report: &mut Report) {
        let pre = unit.state();
        let chain_id = unit.env.current_chain_id.map_or(1, |id| u64::try_from(id).unwrap_or(1));
        for (spec_name, tests) in &unit.post {
            let fork = format!("{spec_name:?}");
            let Some(spec) = spec_id(spec_name) else {
                *report.skipped.entry(SkipReason::UnsupportedFork(fork)).or_default() += tests.len();
                continue;
            };
            let mut cfg_env = CfgEnv::new_with_spec(spec);
            cfg_env.chain_id = chain_id;
            // EIP-4844's six blobs, EIP-7691's nine in Prague, EIP-7594's per-transaction six
            // from Osaka.
            let max_blobs =
                if spec.is_enabled_in(SpecId::PRAGUE) && !spec.is_enabled_in(SpecId::OSAKA) { 9 } else { 6 };
            cfg_env.set_max_blobs_per_tx(max_blobs);
            let block_env = unit.block_env(&mut cfg_env);
            let env = EvmEnv { cfg_env, block_env };
            for test in tests {
                let indexes = (test.indexes.data, test.indexes.gas, test.indexes.value);
                let case = Case { env: &env, pre: &pre, unit, test };
                match self.run_case(&case) {
                    Ok(how) => report.pass(&fork, how),
                    Err(kind) => report.failures.push(Failure {
                        file: path.to_path_buf(),
                        case: name.to_owned(),
                        fork: fork.clone(),
                        indexes: Some(indexes),
                        kind,
                    }),
                }
            }
        }
    }

    fn run_case(&self, case: &Case<'_>) -> Result<Passed, FailureKind> {
        let tx = match case.test.tx_env(case.unit) {
            Ok(tx) => tx,
            // The transaction cannot even be formed (bad key, type, nonce): that is the
            // exception (revme counts these as done too).
            Err(_) if case.test.expect_exception.is_some() => return Ok(Passed::UnbuildableTx),
            Err(e) => return Err(FailureKind::TxEnv(e.to_string())),
        };
        // The two executions are independent; running them side by side halves the wall time
        // of the single slowest case (stTimeConsuming/CALLBlake2f_MaxRounds, about a minute).
        let (aiop, eth) = std::thread::scope(|scope| {
            let aiop = scope.spawn(|| execute(&self.aiop, case, &tx));
            let eth = execute(&self.eth, case, &tx);
            (aiop.join(), eth)
        });
        let aiop = aiop.map_err(|panic| FailureKind::Panic(panic_message(panic.as_ref())))?;
        if aiop != eth {
            return Err(FailureKind::FactoriesDiffer(describe_difference(&aiop, &eth)));
        }
        check_expectation(&aiop, case.test, case.unit.out.as_ref(), "both")
    }
}

struct Case<'a> {
    env: &'a EvmEnv,
    pre: &'a CacheState,
    unit: &'a TestUnit,
    test: &'a Test,
}

/// The number of cases (post entries) in a state-test file, from the raw JSON.
fn count_cases(text: &str) -> Option<usize> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut cases = 0;
    for unit in value.as_object()?.values() {
        for tests in unit.get("post")?.as_object()?.values() {
            cases += tests.as_array()?.len();
        }
    }
    Some(cases)
}

/// The fork's `SpecId`, or `None` for the forks revm 42 does not implement.
fn spec_id(name: &SpecName) -> Option<SpecId> {
    match name {
        SpecName::Constantinople | SpecName::ByzantiumToConstantinopleAt5 | SpecName::Unknown => None,
        known => Some(known.to_spec_id()),
    }
}

/// Executes `tx` through an EVM from `factory` on a fresh copy of the pre-state, commits it,
/// and hashes what is left.
fn execute<F>(factory: &F, case: &Case<'_>, tx: &TxEnv) -> Outcome
where
    F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv, HaltReason = HaltReason>,
{
    let mut state = State::builder().with_cached_prestate(case.pre.clone()).build();
    let result = {
        let mut evm = factory.create_evm(&mut state, case.env.clone());
        evm.transact_commit(tx.clone()).map_err(|e| e.to_string())
    };
    Outcome {
        state_root: state_root(state.cache.trie_account()),
        logs_hash: logs_hash(result.as_ref().map_or(&[], |r| r.logs())),
        result,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn describe_difference(aiop: &Outcome, eth: &Outcome) -> String {
    let mut parts = Vec::new();
    if aiop.result != eth.result {
        parts.push(format!("result {:?} vs {:?}", aiop.result, eth.result));
    }
    if aiop.state_root != eth.state_root {
        parts.push(format!("state root {} vs {}", aiop.state_root, eth.state_root));
    }
    if aiop.logs_hash != eth.logs_hash {
        parts.push(format!("logs hash {} vs {}", aiop.logs_hash, eth.logs_hash));
    }
    parts.join("; ")
}

/// Compares one outcome with the test's expectation: passed if the expected exception
/// occurred, or if the transaction executed and the output, logs hash and state root match.
fn check_expectation(
    outcome: &Outcome,
    test: &Test,
    expected_output: Option<&Bytes>,
    factory: &'static str,
) -> Result<Passed, FailureKind> {
    let result = match (&test.expect_exception, &outcome.result) {
        (Some(_), Err(_)) => return Ok(Passed::Rejected),
        (None, Ok(result)) => result,
        (expected, got) => {
            return Err(FailureKind::UnexpectedException {
                factory,
                expected: expected.clone(),
                got: got.as_ref().err().cloned(),
            });
        }
    };
    if let (Some(expected), Some(got)) = (expected_output, result.output())
        && expected != got
    {
        return Err(FailureKind::Output { factory, got: got.clone(), expected: expected.clone() });
    }
    if outcome.logs_hash != test.logs {
        return Err(FailureKind::LogsHash { factory, got: outcome.logs_hash, expected: test.logs });
    }
    if outcome.state_root != test.hash {
        return Err(FailureKind::StateRoot { factory, got: outcome.state_root, expected: test.hash });
    }
    Ok(Passed::Executed)
}
