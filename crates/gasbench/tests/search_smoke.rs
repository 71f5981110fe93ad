//! `aiop bench gas --search` for a few seconds, through the same arguments the CLI parses: a
//! smoke test of the search end to end (the grid, the climb, the re-timing, the report and the
//! case file). It asserts what the files contain, never a timing.

use aiop_engine::KernelPath;
use aiop_gasbench::cli::{GasArgs, run_gas};
use aiop_gasbench::search::{OpKind, SearchedFile};
use clap::Parser;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    gas: GasArgs,
}

#[test]
fn bench_gas_search_reports_the_worst_shape_of_every_op_type_and_writes_rebuildable_cases() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gas-search-smoke");
    let _ = std::fs::remove_dir_all(&out);
    let cases_file = out.join("cases/searched-cases.json");
    let path = if KernelPath::Avx2.is_available() { "avx2" } else { "reference" };
    let cli = Cli::try_parse_from([
        "gas",
        "--search",
        "--search-seconds",
        "4",
        "--seed",
        "7",
        "--pricing-path",
        path,
        "--out",
        out.to_str().expect("utf-8 path"),
        "--write-cases",
        "--cases-file",
        cases_file.to_str().expect("utf-8 path"),
    ])
    .expect("the search flags parse");
    let written = run_gas(cli.gas).expect("the search runs");
    assert_eq!(written, vec![out.join("gas-search.md"), out.join("gas-search.json"), cases_file.clone()]);

    let markdown = std::fs::read_to_string(out.join("gas-search.md")).expect("gas-search.md written");
    assert!(markdown.starts_with("# Gas search"), "{markdown}");
    assert!(markdown.contains("| op type | worst shape found |"), "{markdown}");
    let json = std::fs::read_to_string(out.join("gas-search.json")).expect("gas-search.json written");
    assert_eq!(json, std::fs::read_to_string(&cases_file).expect("the cases file written"));
    let file: SearchedFile = serde_json::from_str(&json).expect("the JSON is a SearchedFile");
    assert_eq!(file.schedule, "v2");
    assert_eq!(file.pricing_path, path);
    assert!(file.command.contains("--search --search-seconds 4 --seed 7"), "{}", file.command);
    assert!(file.ecrecover_ns_per_gas > 0.0);
    // Every op type of format v1 gets its worst shape, which rebuilds into the same case; the
    // format v3 op types are skipped, as precompile v2 cannot call them.
    let v1_ops: Vec<OpKind> =
        OpKind::ALL.into_iter().filter(|op| op.format() == aiop_engine::FormatVersion::V1).collect();
    assert!(file.candidates_timed >= v1_ops.len());
    let ops: Vec<OpKind> = file.cases.iter().map(|c| c.shape.op).collect();
    assert_eq!(ops, v1_ops);
    for case in &file.cases {
        assert!(markdown.contains(&format!("| {} | {} |", case.shape.op.name(), case.name)), "{markdown}");
        assert!(case.gas > 0 && case.ns_per_gas >= 0.0 && case.ratio >= 0.0, "{case:?}");
        assert!(case.delivery == "infer" || case.delivery == "inferInline", "{case:?}");
        let rebuilt = case.shape.case("test").expect("the shape rebuilds");
        assert_eq!(rebuilt.name, case.name);
        assert_eq!(rebuilt.model.len() as u64, case.model_bytes);
        aiop_engine::check(&rebuilt.model).expect("a valid model");
    }
}

#[test]
fn bench_gas_search_refuses_an_unknown_op_type() {
    let cli = Cli::try_parse_from(["gas", "--search", "--search-ops", "Conv2D,Softsign", "--out", "target/never"])
        .expect("the flags parse");
    let error = run_gas(cli.gas).expect_err("Softsign is no op type").to_string();
    assert!(error.contains("unknown op type `Softsign`") && error.contains("DepthwiseConv2D"), "{error}");
    assert!(Cli::try_parse_from(["gas", "--write-cases"]).is_err(), "--write-cases needs --search");
}

#[test]
fn bench_gas_search_prices_candidates_with_schedule_v3_from_the_loaded_model() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gas-search-smoke-v3");
    let _ = std::fs::remove_dir_all(&out);
    let path = if KernelPath::Avx2.is_available() { "avx2" } else { "reference" };
    let cli = Cli::try_parse_from([
        "gas",
        "--search",
        "--search-seconds",
        "2",
        "--schedule",
        "v3",
        "--search-ops",
        "DepthwiseConv2D,MaxPool2D",
        "--pricing-path",
        path,
        "--out",
        out.to_str().expect("utf-8 path"),
    ])
    .expect("the search flags parse");
    run_gas(cli.gas).expect("the search runs");
    let json = std::fs::read_to_string(out.join("gas-search.json")).expect("gas-search.json written");
    let file: SearchedFile = serde_json::from_str(&json).expect("the JSON is a SearchedFile");
    assert_eq!(file.schedule, "v3");
    assert!(file.command.contains("--schedule v3"), "{}", file.command);
    let ops: Vec<OpKind> = file.cases.iter().map(|c| c.shape.op).collect();
    assert_eq!(ops, vec![OpKind::DepthwiseConv2D, OpKind::MaxPool2D]);
    for case in &file.cases {
        // The gas recorded is schedule v3's price of the loaded model, less the account access.
        let rebuilt = case.shape.case("test").expect("the shape rebuilds");
        let loaded = aiop_engine::LoadedModel::load(&rebuilt.model, KernelPath::Reference).expect("loads");
        let v3 = aiop_precompile::GasSchedule::V3;
        assert_eq!(case.gas, v3.infer_gas_loaded(&loaded, rebuilt.input.len() as u64, 0), "{}", case.name);
        assert!(case.gas >= v3.load_gas(loaded.header(), case.model_bytes), "{}", case.name);
    }
}

#[test]
fn bench_gas_search_covers_the_format_v3_ops_under_schedule_v4() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gas-search-smoke-v4");
    let _ = std::fs::remove_dir_all(&out);
    let path = if KernelPath::Avx2.is_available() { "avx2" } else { "reference" };
    let cli = Cli::try_parse_from([
        "gas",
        "--search",
        "--search-seconds",
        "3",
        "--schedule",
        "v4",
        "--search-ops",
        "BatchMatMul,LayerNorm,Gelu,Gather,Transpose",
        "--pricing-path",
        path,
        "--out",
        out.to_str().expect("utf-8 path"),
    ])
    .expect("the search flags parse");
    run_gas(cli.gas).expect("the search runs");
    let json = std::fs::read_to_string(out.join("gas-search.json")).expect("gas-search.json written");
    let file: SearchedFile = serde_json::from_str(&json).expect("the JSON is a SearchedFile");
    assert_eq!(file.schedule, "v4");
    let ops: Vec<OpKind> = file.cases.iter().map(|c| c.shape.op).collect();
    assert_eq!(ops, vec![OpKind::BatchMatMul, OpKind::LayerNorm, OpKind::Gelu, OpKind::Gather, OpKind::Transpose]);
    for case in &file.cases {
        let rebuilt = case.shape.case("test").expect("the shape rebuilds");
        let loaded = aiop_engine::LoadedModel::load(&rebuilt.model, KernelPath::Reference).expect("loads");
        assert_eq!(loaded.model().version, aiop_engine::FormatVersion::V3, "{}", case.name);
        let v4 = aiop_precompile::GasSchedule::V4;
        assert_eq!(case.gas, v4.infer_gas_loaded(&loaded, rebuilt.input.len() as u64, 0), "{}", case.name);
    }
}
