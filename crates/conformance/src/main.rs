//! `aiop-conformance [PATH]`: runs every Ethereum state test under PATH (default
//! `../shared/ethereum-tests/GeneralStateTests`) through `AiopEvmFactory` and
//! `EthEvmFactory`, prints the counts and one line per failure, and exits non-zero on any
//! failure. It must never change what a case checks (that is the library's job) or hide a
//! failure from the exit status.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use aiop_conformance::{Runner, collect_json_files, default_tests_dir};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Run the Ethereum state tests through AiopEvmFactory and EthEvmFactory.
#[derive(Debug, Parser)]
#[command(name = "aiop-conformance")]
struct Args {
    /// A test file or a directory of them (default: ../shared/ethereum-tests/GeneralStateTests).
    path: Option<PathBuf>,
    /// Worker threads (default: every CPU).
    #[arg(short = 'j', long)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let path = args.path.unwrap_or_else(default_tests_dir);
    let start = Instant::now();
    let files = match collect_json_files(&path) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut runner = match Runner::new() {
        Ok(runner) => runner,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(threads) = args.threads {
        runner = runner.threads(threads);
    }
    let bar = ProgressBar::with_draw_target(
        Some(files.len() as u64),
        if args.no_progress { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
    );
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} files ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = runner.run_files(&files, &|_| bar.inc(1));
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for failure in &report.failures {
        println!("FAIL {failure}");
    }
    for case in &report.known_divergences {
        println!("KNOWN {case}");
    }
    print!("{report}");
    println!("{} in {:.1} s", path.display(), start.elapsed().as_secs_f64());
    if report.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
