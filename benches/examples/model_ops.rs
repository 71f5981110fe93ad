//! Lists the ops of every model in `testdata/models` with their MACs, to read beside the
//! model benchmarks. Run: `cargo run --release -p aiop-benches --example model_ops`

use std::path::Path;

use aiop_engine::LoadedModel;
use aiop_kernels::KernelPath;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/models");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/models")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "aiop"))
        .collect();
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        let model = LoadedModel::load(&bytes, KernelPath::Reference).expect("load");
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        let ops: Vec<String> = model
            .model()
            .ops
            .iter()
            .zip(model.op_costs())
            .map(|(op, c)| {
                let w = op.inputs().get(1).map(|&t| format!("{:?}", model.model().tensors[usize::from(t)].shape));
                format!("{}{} {} MACs", op.name(), w.map_or(String::new(), |s| format!(" w{s}")), c.macs)
            })
            .collect();
        println!("{name}: {}", ops.join(", "));
    }
}
