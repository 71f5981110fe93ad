//! Prints the worked examples of docs/gas.md: for every testdata model, its work counts and
//! the gas of `infer` (model account cold) under every gas schedule. Timing is
//! `aiop bench gas`'s job; this only evaluates the formula.
//!
//! `cargo run -p aiop-precompile --example gas_table`

use aiop_precompile::{COLD_ACCOUNT_ACCESS_GAS, GasSchedule};

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models");
    let mut paths: Vec<_> =
        std::fs::read_dir(dir).expect("testdata/models").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    let versions: Vec<String> = GasSchedule::ALL.iter().map(|s| format!("gas {} (cold)", s.version)).collect();
    println!("| model | bytes | ops | MACs | elements | transc. | in | out | {} |", versions.join(" | "));
    println!("|---|---:|---:|---:|---:|---:|---:|---:|{}", "---:|".repeat(versions.len()));
    for path in paths.iter().filter(|p| p.extension().is_some_and(|x| x == "aiop")) {
        let bytes = std::fs::read(path).expect("readable model");
        let header = aiop_engine::check(&bytes).expect("testdata models are valid");
        // v1 and v2 price the header; v3 the loaded model (the same number for v1 and v2).
        let loaded = aiop_engine::LoadedModel::load(&bytes, aiop_engine::KernelPath::Reference).expect("loads");
        let gas: Vec<String> = GasSchedule::ALL
            .iter()
            .map(|s| s.infer_gas_loaded(&loaded, u64::from(header.input_len), COLD_ACCOUNT_ACCESS_GAS).to_string())
            .collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            path.file_stem().unwrap_or_default().to_string_lossy(),
            bytes.len(),
            header.op_count,
            header.cost.macs,
            header.cost.elements,
            header.cost.transcendentals,
            header.input_len,
            header.output_len,
            gas.join(" | ")
        );
    }
}
