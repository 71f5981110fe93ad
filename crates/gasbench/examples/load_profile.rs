//! Times `LoadedModel::load` (or `LoadedModel::run`, or the whole EVM call) of one case (synthetic, or a model in testdata/models), for
//! profiling: `load_profile CASE [PATH] [load|run|evm]` (evm: the whole cold call through the EVM).
use aiop_engine::LoadedModel;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or("fc-128x128".into());
    let path: aiop_engine::KernelChoice = args.get(2).cloned().unwrap_or("avx2".into()).parse().expect("a kernel path");
    let path = path.resolve().expect("an available kernel path");
    let mode = args.get(3).cloned().unwrap_or("load".into());
    let mut cases = aiop_gasbench::cases::synthetic_cases().expect("cases");
    cases.extend(
        aiop_gasbench::cases::shipped_cases(
            std::path::Path::new("testdata/models"),
            &aiop_precompile::PrecompileSpec::V3,
        )
        .expect("testdata/models"),
    );
    let case = cases.into_iter().find(|c| c.name == name).expect("a case name");
    let loaded = LoadedModel::load(&case.model, path).expect("loads");
    let schedule = aiop_precompile::PrecompileSpec::V3.schedule;
    let mut call =
        aiop_gasbench::evm::EvmCall::ours(&case, path, schedule, aiop_gasbench::evm::Cache::Cold).expect("call");
    let n: u32 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let t = std::time::Instant::now();
    for _ in 0..n {
        match mode.as_str() {
            "run" => drop(std::hint::black_box(loaded.run(&case.input).expect("runs"))),
            "evm" => call.run(),
            _ => drop(std::hint::black_box(LoadedModel::load(&case.model, path).expect("loads"))),
        }
    }
    let what = mode;
    eprintln!(
        "{name} on {path}: {:.1} us per {what}, {} bytes",
        t.elapsed().as_secs_f64() * 1e6 / n as f64,
        case.model.len()
    );
}
