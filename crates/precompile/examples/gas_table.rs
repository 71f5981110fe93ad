//! Prints the gas of `infer` under `GasSchedule::V1` for every testdata model (the worked
//! examples of docs/gas.md), with the time a cold call's work takes here on the reference
//! kernels (load: decode + validate + pack, then run), as a sanity check of the provisional
//! constants against the ~10 ns/gas of ecrecover. Off-chain tooling: it reads a clock.
//!
//! `cargo run --release -p aiop-precompile --example gas_table`

use std::time::Instant;

use aiop_engine::{KernelPath, LoadedModel};
use aiop_precompile::{COLD_ACCOUNT_ACCESS_GAS, GasSchedule};

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models");
    let mut paths: Vec<_> =
        std::fs::read_dir(dir).expect("testdata/models").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    let s = GasSchedule::V1;
    println!(
        "| model | bytes | ops | MACs | elements | transc. | in | out | gas (cold) | ref. µs (load+run) | ns/gas |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for path in paths.iter().filter(|p| p.extension().is_some_and(|x| x == "aiop")) {
        let bytes = std::fs::read(path).unwrap();
        let header = aiop_engine::check(&bytes).unwrap();
        let input = vec![0u8; header.input_len as usize];
        let gas = s.infer_gas(&header, bytes.len() as u64, input.len() as u64, COLD_ACCOUNT_ACCESS_GAS);
        let rounds = 200;
        let start = Instant::now();
        for _ in 0..rounds {
            let m = LoadedModel::load(&bytes, KernelPath::Reference).unwrap();
            std::hint::black_box(m.run(&input).unwrap());
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.2} |",
            path.file_stem().unwrap().to_string_lossy(),
            bytes.len(),
            header.op_count,
            header.cost.macs,
            header.cost.elements,
            header.cost.transcendentals,
            header.input_len,
            header.output_len,
            gas,
            ns / 1000.0,
            ns / gas as f64
        );
    }
}
