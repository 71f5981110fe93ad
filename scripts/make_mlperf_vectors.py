#!/usr/bin/env python3
"""Imports the MLPerf Tiny reference models as format v2 `.aiop` files (testdata/models/mlperf_*.aiop)
and publishes engine golden vectors for them whose outputs come from TensorFlow Lite Micro
(testdata/vectors/engine/mlperf_*-*.json).

  make_mlperf_vectors.py [--aiop BIN] [--check]

Each vector's output is TFLM's (PyPI tflite-micro, pinned in scripts/requirements.txt); the
script refuses to write one unless `aiop model run` gives the same bytes on every kernel path
this CPU has. Published files never change: a model or vector that would differ from the
committed one is an error (with --check, a file that is missing is one too). The inputs are the
first four seeded inputs of scripts/tflm_oracle.py (all -128, all 127, all at the input zero
point, one random tensor), and for keyword spotting also the benchmark's real sample.
"""
import argparse
import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tflm_oracle  # noqa: E402

ROOT = tflm_oracle.ROOT
MODELS = ROOT / "testdata" / "models"
VECTORS = ROOT / "testdata" / "vectors" / "engine"
# The MLPerf Tiny file -> the name of its import in testdata/models, and what it is.
SOURCES = {
    "kws_ref_model": ("mlperf_kws", "MLPerf Tiny keyword spotting (DS-CNN)"),
    "vww_96_int8": ("mlperf_vww", "MLPerf Tiny visual wake words (MobileNetV1 0.25, 96x96)"),
    "pretrainedResnet_quant": ("mlperf_resnet8", "MLPerf Tiny image classification (ResNet-8, CIFAR-10)"),
    "pretrainedResnet_large_int8": ("mlperf_resnet_large", "MLPerf Tiny image classification (larger ResNet, CIFAR-10)"),
    "ad01_int8": ("mlperf_ad", "MLPerf Tiny anomaly detection (FC autoencoder)"),
    "str_ww_ref_model": ("mlperf_str_ww", "MLPerf Tiny streaming wake word"),
}
LABELS = ["min", "max", "zero_point", "random1"]


def aiop(binary, *args, stdin=None):
    done = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"aiop {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def publish(path, content, check):
    if path.exists():
        if path.read_bytes() != content:
            raise SystemExit(f"{path} is published and would change; golden files never change")
        return False
    if check:
        raise SystemExit(f"{path} is missing; run scripts/make_mlperf_vectors.py")
    path.write_bytes(content)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aiop", default=str(ROOT / "target" / "release" / "aiop"))
    ap.add_argument("--check", action="store_true", help="write nothing; fail if a file is missing or differs")
    args = ap.parse_args()
    paths = [p for p in ["reference", "avx2", "avx512", "amx"]
             if subprocess.run([args.aiop, "model", "run", str(MODELS / "maxpool_same.aiop"), "--input",
                                "0x" + "00" * 50, "--kernels", p], capture_output=True).returncode == 0]
    print(f"kernel paths run: {paths}")
    written = 0
    for stem, (name, what) in SOURCES.items():
        tflite = tflm_oracle.MLPERF / f"{stem}.tflite"
        model_path = MODELS / f"{name}.aiop"
        tmp = ROOT / "target" / f"{name}.aiop"
        tmp.parent.mkdir(exist_ok=True)
        aiop(args.aiop, "model", "import-tflite", str(tflite), "--output", str(tmp))
        written += publish(model_path, tmp.read_bytes(), args.check)
        report = json.loads(aiop(args.aiop, "model", "inspect", str(model_path), "--json"))
        assert report["format_version"] == 2, f"{name}: expected format v2"
        inputs = [(label, tflm_oracle.hex_line(x)) for label, x in zip(LABELS, tflm_oracle.seeded_inputs(tflite, 4))]
        if stem == "kws_ref_model":
            sample = (tflm_oracle.MLPERF / "kws_sample_0.hex").read_text().strip()
            inputs.append(("sample0", sample))
        text = "".join(line + "\n" for _, line in inputs)
        expected = subprocess.run(
            [sys.executable, str(pathlib.Path(__file__).with_name("tflm_oracle.py")), "run", str(tflite), "--inputs", "-"],
            input=text, capture_output=True, text=True, check=True).stdout.split()
        for path in paths:
            got = aiop(args.aiop, "model", "run", str(model_path), "--inputs", "-", "--kernels", path, stdin=text).split()
            if got != expected:
                raise SystemExit(f"{name} on {path}: aiop differs from TFLM; refusing to publish")
        cost = {k: report["cost"][k] for k in ["arena_bytes", "elements", "macs", "ops", "transcendentals"]}
        for (label, input_hex), output in zip(inputs, expected):
            vector = {
                "cost": cost,
                "description": f"{what}, imported from {stem}.tflite as format v2; output from TensorFlow Lite Micro; input: {label}",
                "input": input_hex,
                "model": f"../../models/{name}.aiop",
                "model_id": report["model_id"],
                "output": output,
            }
            content = (json.dumps(vector, indent=2, sort_keys=True) + "\n").encode()
            written += publish(VECTORS / f"{name}-{label}.json", content, args.check)
        print(f"{name:<22} {len(inputs)} vectors, equal to TFLM on {paths}")
    print(f"{written} files written")


if __name__ == "__main__":
    main()
