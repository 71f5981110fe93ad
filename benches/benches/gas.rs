//! The precompile against the standard precompiles, through the real EVM call path: one
//! transaction per call, built by `AiopEvmFactory`, the model read from a data contract's
//! code. Every shipped model cold (no cache: read, decode, validate, pack, run) and warm on
//! each kernel path, a few synthetic worst cases, and ecrecover, sha256 and bn254 pairing
//! beside them, plus the empty call that `aiop bench gas` subtracts from each case.
//! `aiop bench gas` is the report (ns per gas, the fit); this is the same path under criterion.
//! Run: `cargo bench -p aiop-benches --bench gas`

// `criterion_group!` below defines `pub fn benches` with no doc comment, and rustc ignores a
// lint attribute on a macro invocation, so `missing_docs` is allowed for this whole bench binary.
#![allow(missing_docs)]

use std::path::Path;
use std::time::Duration;

use aiop_engine::KernelPath;
use aiop_gasbench::cases::{shipped_cases, synthetic_cases};
use aiop_gasbench::evm::{Cache, EvmCall};
use aiop_gasbench::yardsticks::standard_cases;
use aiop_precompile::PrecompileSpec;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const SYNTHETIC: [&str; 4] = ["tiny-ops-512", "fc-k4096-n1", "elementwise-32k-x48", "lying-header-bytes-in-code"];

fn gas(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/models");
    let spec = PrecompileSpec::V3;
    let mut cases = shipped_cases(&dir, &spec).expect("testdata/models");
    cases.extend(
        synthetic_cases().expect("synthetic cases").into_iter().filter(|c| SYNTHETIC.contains(&c.name.as_str())),
    );
    let mut g = c.benchmark_group("precompile");
    let mut baseline = EvmCall::baseline().expect("baseline call");
    g.bench_function("baseline (empty identity call)", |b| b.iter(|| baseline.run()));
    for case in
        standard_cases().iter().filter(|c| ["ecrecover", "sha256 (1 KiB)", "bn254 pairing (2 pairs)"].contains(&c.name))
    {
        let mut call = EvmCall::standard(case).expect("standard precompile call");
        g.bench_function(BenchmarkId::new("standard", case.name), |b| b.iter(|| call.run()));
    }
    for case in &cases {
        for path in KernelPath::available() {
            for (cache, label) in [(Cache::Cold, "cold"), (Cache::Warm, "warm")] {
                let mut call = EvmCall::ours(case, path, spec.schedule, cache).expect("aiop call");
                g.bench_function(BenchmarkId::new(format!("aiop/{path}/{label}"), &case.name), |b| {
                    b.iter(|| call.run())
                });
            }
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = gas }
criterion_main!(benches);
