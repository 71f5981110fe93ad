//! `aiop bench gas --quick` as the README test command runs it: a smoke test of the gas
//! harness end to end (every quick case through the EVM, the yardsticks, the fit, the report
//! and the plot). It asserts what the report contains, never a timing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn aiop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aiop")).args(args).current_dir(repo_root()).output().expect("the aiop binary runs")
}

#[test]
fn bench_gas_quick_writes_a_report_with_every_case_the_fit_and_a_plot() {
    let out = tempfile::tempdir().expect("temp dir");
    let out_arg = out.path().to_str().expect("utf-8 temp path");
    let run = aiop(&["bench", "gas", "--quick", "--out", out_arg]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("ecrecover:") && stdout.contains("ns/gas"), "{stdout}");

    let report = std::fs::read_to_string(out.path().join("gas-report.md")).expect("gas-report.md written");
    assert!(report.starts_with("# Gas report (quick run"), "{report}");
    for case in ["ecrecover", "sha256 (1 KiB)", "digits_mlp", "digits_cnn", "tiny-ops-512", "lying-header-512-ops"] {
        assert!(report.contains(&format!("| {case} |")), "no row for {case}:\n{report}");
    }
    assert!(report.contains("## The fit") && report.contains("per_mac_milligas"), "{report}");
    assert!(report.contains("What a 30M-gas block holds"), "{report}");
    let plot = std::fs::read_to_string(out.path().join("gas-report.svg")).expect("gas-report.svg written");
    assert!(plot.starts_with("<svg") && plot.contains("ecrecover"), "not the plot: {}", &plot[..plot.len().min(200)]);
}

#[test]
fn bench_gas_refuses_what_it_cannot_do_with_a_message() {
    let run = aiop(&["bench", "gas", "--quick", "--schedule", "v9", "--out", "target/never"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("unknown gas schedule `v9`") && stderr.contains("v1, v2"), "{stderr}");

    let run = aiop(&["bench", "gas", "--quick", "--models", "no/such/dir", "--out", "target/never"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("no models folder at `no/such/dir`"), "{stderr}");
}

#[test]
fn bench_gas_refit_reproduces_a_schedule_from_runs_saved_samples() {
    let runs = ["3", "4", "5"].map(|run| format!("docs/gas-calibration-v6/{run}-gas-fit-samples.json"));
    let mut args = vec!["bench", "gas", "--refit"];
    args.extend(runs.iter().map(String::as_str));
    args.extend(["--margin", "0.3", "--schedule", "v6"]);
    let run = aiop(&args);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("each case at its slowest run"), "{stdout}");
    // The schedule v6 publishes, printed as a literal to paste.
    assert!(stdout.contains("base: 429,") && stdout.contains("per_io_byte: 863181,"), "{stdout}");
    assert!(stdout.contains("GasSchedule {") && stdout.contains("units_per_gas: 1000000"), "{stdout}");
    let mlperf = stdout.lines().skip_while(|l| !l.starts_with("MLPerf Tiny models:")).skip(1);
    assert_eq!(mlperf.take_while(|l| l.contains("x  mlperf_")).count(), 6, "{stdout}");
    assert!(stdout.contains("before loading, slowest:"), "{stdout}");

    let run = aiop(&["bench", "gas", "--refit", "Cargo.toml"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("not the gas-fit-samples.json of an `aiop bench gas` run"), "{stderr}");
}
