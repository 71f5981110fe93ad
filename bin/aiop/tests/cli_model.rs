//! `aiop model run` and `aiop model inspect` as a user runs them: the binary, its stdout and
//! its exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn aiop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aiop"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("AIOP_KERNELS")
        .output()
        .expect("the aiop binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

struct Vector {
    name: String,
    model: PathBuf,
    input: String,
    output: String,
}

fn engine_vectors() -> Vec<Vector> {
    let dir = repo_root().join("testdata/vectors/engine");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/vectors/engine exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&file).expect("vector readable")).expect("vector is JSON");
            let field = |k: &str| json[k].as_str().unwrap_or_else(|| panic!("{}: no {k}", file.display())).to_owned();
            Vector {
                name: file.file_name().unwrap_or_default().to_string_lossy().into_owned(),
                model: dir.join(field("model")),
                input: field("input"),
                output: field("output"),
            }
        })
        .collect()
}

/// The vector's input as an argument; inputs too long for one argument (Linux caps one at
/// 128 KiB) go through a file, as a user would pass them.
fn input_arg(v: &Vector) -> String {
    if v.input.len() < 100_000 {
        return v.input.clone();
    }
    let file = std::env::temp_dir().join(format!("aiop-cli-{}-{}.hex", std::process::id(), v.name));
    std::fs::write(&file, &v.input).expect("write input file");
    format!("@{}", file.display())
}

#[test]
fn model_run_reproduces_every_engine_vector_on_every_path() {
    let vectors = engine_vectors();
    assert!(vectors.len() >= 42, "expected the published engine vectors, found {}", vectors.len());
    let paths = ["auto", "reference", "avx2", "avx512", "amx"];
    for kernels in paths {
        let available = aiop(&["model", "run", "testdata/models/op_zoo.aiop", "--input", "0x", "--kernels", kernels]);
        if stderr(&available).contains("not supported by this CPU") {
            eprintln!("skipping --kernels {kernels}: this CPU lacks it");
            continue;
        }
        for v in &vectors {
            let model = v.model.to_string_lossy();
            let input = input_arg(v);
            let out = aiop(&["model", "run", &model, "--input", &input, "--kernels", kernels]);
            assert!(out.status.success(), "{} (--kernels {kernels}) failed: {}", v.name, stderr(&out));
            assert_eq!(stdout(&out), v.output, "{} differs under --kernels {kernels}", v.name);
        }
    }
}

#[test]
fn aiop_kernels_env_selects_the_path_and_gives_the_same_bytes() {
    let v = &engine_vectors()[0];
    let out = Command::new(env!("CARGO_BIN_EXE_aiop"))
        .args(["model", "run", &v.model.to_string_lossy(), "--input", &v.input])
        .env("AIOP_KERNELS", "reference")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), v.output);
}

#[test]
fn model_run_reads_input_from_a_file_raw_or_hex() {
    let v = &engine_vectors()[0];
    let dir = std::env::temp_dir().join(format!("aiop-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let raw = dir.join("input.bin");
    let hex_text = dir.join("input.hex");
    std::fs::write(&raw, hex::decode(v.input.trim_start_matches("0x")).expect("hex")).expect("write");
    std::fs::write(&hex_text, format!("{}\n", v.input)).expect("write");
    for file in [&raw, &hex_text] {
        let arg = format!("@{}", file.display());
        let out = aiop(&["model", "run", &v.model.to_string_lossy(), "--input", &arg]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), v.output);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn model_run_json_reports_id_cost_and_path() {
    let v = &engine_vectors()[0];
    let out =
        aiop(&["model", "run", &v.model.to_string_lossy(), "--input", &v.input, "--json", "--kernels", "reference"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["output"], v.output.as_str());
    assert_eq!(json["kernels"], "reference");
    assert!(json["model_id"].as_str().is_some_and(|s| s.len() == 66));
}

#[test]
fn model_inspect_shows_id_ops_cost_and_limits_for_every_model() {
    let dir = repo_root().join("testdata/models");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("testdata/models") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "aiop") {
            continue;
        }
        count += 1;
        let bytes = std::fs::read(&path).expect("model readable");
        let out = aiop(&["model", "inspect", &path.to_string_lossy()]);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        let text = stdout(&out);
        let id = format!("0x{}", hex::encode(aiop_engine::model_id(&bytes)));
        assert!(text.contains(&id), "{}: id missing", path.display());
        for needle in ["MACs", "headroom", "model bytes", "input", "output"] {
            assert!(text.contains(needle), "{}: `{needle}` missing from\n{text}", path.display());
        }

        let out = aiop(&["model", "inspect", &path.to_string_lossy(), "--json"]);
        assert!(out.status.success());
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        assert_eq!(json["model_id"], id.as_str());
        assert_eq!(json["bytes"], bytes.len());
        let header = aiop_engine::check(&bytes).expect("valid model");
        assert_eq!(json["cost"]["macs"], header.cost.macs);
        let op_macs: u64 = json["ops"].as_array().expect("ops").iter().map(|o| o["macs"].as_u64().expect("macs")).sum();
        assert_eq!(op_macs, header.cost.macs, "per-op MACs add up to the model's");
    }
    assert!(count >= 7);
}

#[test]
fn errors_exit_non_zero_with_an_actionable_message() {
    let model = "testdata/models/digits_mlp_random.aiop";
    let cases: [(&[&str], &str); 6] = [
        (&["model", "run", "no/such/model.aiop", "--input", "0x00"], "cannot read model file"),
        (&["model", "run", model, "--input", "0x00"], "this model takes exactly 64 bytes"),
        (&["model", "run", model, "--input", "0xabc"], "odd number of digits"),
        (&["model", "run", model, "--input", "1234"], "0x-prefixed hex"),
        (&["model", "inspect", "Cargo.toml"], "not a valid aiop model"),
        (&["model", "run", model, "--input", "0x00", "--kernels", "gpu"], "expected one of"),
    ];
    for (args, message) in cases {
        let out = aiop(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr(&out).contains(message), "{args:?}: expected `{message}` in\n{}", stderr(&out));
    }
}

#[test]
fn model_run_inputs_runs_a_batch_one_output_line_per_input_line() {
    // The model with the most engine vectors, so the batch mixes several inputs.
    let vectors = engine_vectors();
    let mut by_model: std::collections::BTreeMap<PathBuf, Vec<&Vector>> = std::collections::BTreeMap::new();
    for v in &vectors {
        by_model.entry(v.model.clone()).or_default().push(v);
    }
    let (model, cases) = by_model.iter().max_by_key(|(_, cases)| cases.len()).expect("vectors");
    assert!(cases.len() >= 2, "want a model with several vectors");
    let model = model.to_string_lossy();
    let dir = std::env::temp_dir().join(format!("aiop-cli-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let list = dir.join("inputs.txt");
    // Blank lines are skipped; the last line has no newline.
    let text: Vec<&str> = cases.iter().map(|v| v.input.as_str()).collect();
    std::fs::write(&list, format!("{}\n\n{}", text.join("\n"), cases[0].input)).expect("write");
    let mut expected: Vec<&str> = cases.iter().map(|v| v.output.as_str()).collect();
    expected.push(&cases[0].output);
    for kernels in ["auto", "reference"] {
        let out = aiop(&["model", "run", &model, "--inputs", &list.to_string_lossy(), "--kernels", kernels]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), expected, "--kernels {kernels}");
    }

    // `--inputs -` reads stdin; `--json` lists the outputs.
    let mut child = Command::new(env!("CARGO_BIN_EXE_aiop"))
        .args(["model", "run", &model, "--inputs", "-", "--json"])
        .current_dir(repo_root())
        .env_remove("AIOP_KERNELS")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(std::fs::read(&list).expect("list").as_slice()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("waits");
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let outputs: Vec<&str> =
        json["outputs"].as_array().expect("outputs").iter().map(|o| o.as_str().expect("hex")).collect();
    assert_eq!(outputs, expected);

    // A bad line names its line number; --input and --inputs exclude each other.
    std::fs::write(&list, format!("{}\n0x00\n", cases[0].input)).expect("write");
    let out = aiop(&["model", "run", &model, "--inputs", &list.to_string_lossy()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    let out = aiop(&["model", "run", &model, "--inputs", &list.to_string_lossy(), "--input", "0x00"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
