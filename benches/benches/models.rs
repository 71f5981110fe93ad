//! Every model in `testdata/models` (the MLPerf Tiny models among them), per kernel path:
//! `model/<path>/<name>` runs a loaded model (the per-inference time a node pays; throughput is
//! the model's MACs, so "elem/s" is MAC/s) and `load/<path>/<name>` decodes, validates and
//! packs it (what a call pays on a cold cache; throughput in model bytes).
//! Run: `cargo bench -p aiop-benches --bench models -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` below defines `pub fn benches` with no doc comment, and rustc ignores a
// lint attribute on a macro invocation, so `missing_docs` is allowed for this whole bench binary.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use aiop_engine::LoadedModel;
use aiop_kernels::KernelPath;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn models(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/models");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/models")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "aiop"))
        .collect();
    files.sort();
    let mut loads = Vec::new();
    let mut g = c.benchmark_group("model");
    for file in files {
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_owned();
        let bytes = std::fs::read(&file).expect("read model");
        for path in KernelPath::available() {
            let model = LoadedModel::load(&bytes, path).expect("load");
            let input: Vec<u8> = (0..model.input_len()).map(|i| (i * 37 % 251) as u8).collect();
            g.throughput(Throughput::Elements(model.cost().macs.max(1)));
            g.bench_function(BenchmarkId::new(path.name(), &name), |b| {
                b.iter(|| model.run(black_box(&input)).expect("run"))
            });
            loads.push((path, name.clone(), bytes.clone()));
        }
    }
    g.finish();
    let mut g = c.benchmark_group("load");
    for (path, name, bytes) in loads {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new(path.name(), &name), |b| {
            b.iter(|| LoadedModel::load(black_box(&bytes), path).expect("load"))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2)).sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = models }
criterion_main!(benches);
