#!/usr/bin/env python3
"""aiop's kernels beside LiteRT with XNNPACK, on the MLPerf Tiny models, in one run.

For every MLPerf Tiny model (../shared/models/mlperf-tiny, or $AIOP_MLPERF_DIR) and its import
in testdata/models, on one seeded random input:
  - LiteRT (PyPI ai-edge-litert, pinned in scripts/requirements.txt) with its default op
    resolver, which applies the XNNPACK delegate, and num_threads=1;
  - LiteRT's built-in kernels without delegates (BUILTIN_WITHOUT_DEFAULT_DELEGATES), to show
    that XNNPACK is what the first column ran;
  - `aiop model run --repeat N` on each kernel path this CPU has (the model loaded once, as
    LiteRT's interpreter is allocated once).
Each sample is the wall time of one invocation. The rounds are interleaved (LiteRT, then aiop,
then LiteRT again...) so that a noisy neighbour slows both sides alike; each figure is the
median of all its samples. Prints a Markdown table of times and ratios (aiop / XNNPACK: below
1.00 aiop is faster) and writes it with the raw samples as JSON with --out.

The outputs are compared too: LiteRT's XNNPACK is not bit-exact with TFLM (its requantization
rounds differently), so differing bytes are counted, not failed; TFLM is the oracle
(scripts/check_tflm.sh).

Usage: scripts/compare_xnnpack.py [--aiop target/release/aiop] [--runs 200] [--rounds 3]
                                  [--out target/xnnpack] [--models kws,vww,...]
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import tflm_oracle  # noqa: E402  (the MLPerf directory and the seeded inputs, shared with the oracle)
from make_mlperf_vectors import SOURCES  # noqa: E402

from ai_edge_litert import interpreter as litert  # noqa: E402


def litert_interpreter(path, resolver):
    kwargs = {"model_path": str(path), "num_threads": 1}
    if resolver is not None:
        kwargs["experimental_op_resolver_type"] = resolver
    interp = litert.Interpreter(**kwargs)
    interp.allocate_tensors()
    return interp


def litert_samples(interp, x, runs):
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    interp.set_tensor(inp, x)
    interp.invoke()
    samples = []
    for _ in range(runs):
        interp.set_tensor(inp, x)
        start = time.perf_counter_ns()
        interp.invoke()
        samples.append(time.perf_counter_ns() - start)
    return samples, interp.get_tensor(out).tobytes()


def aiop_samples(binary, model, input_file, path, runs):
    done = subprocess.run(
        [binary, "model", "run", str(model), "--input", f"@{input_file}", "--kernels", path, "--json",
         "--repeat", str(runs)],
        capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"aiop model run {model} --kernels {path}: {done.stderr.strip()}")
    report = json.loads(done.stdout)
    return report["timing"]["samples_ns"], bytes.fromhex(report["output"][2:])


def available_paths(binary):
    paths = []
    for path in ["reference", "avx2", "avx512", "amx"]:
        probe = subprocess.run([binary, "model", "run", str(ROOT / "testdata" / "models" / "maxpool_same.aiop"),
                                "--input", "0x" + "00" * 50, "--kernels", path], capture_output=True)
        if probe.returncode == 0:
            paths.append(path)
    return paths


def median(samples):
    ordered = sorted(samples)
    return ordered[len(ordered) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aiop", default=str(ROOT / "target" / "release" / "aiop"))
    ap.add_argument("--runs", type=int, default=200, help="invocations per side per round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--out", type=pathlib.Path, help="directory for xnnpack.md and xnnpack.json")
    ap.add_argument("--models", help="comma-separated short names (kws, vww, resnet8, ...); default all")
    ap.add_argument("--no-reference", action="store_true", help="skip aiop's scalar reference path (slow)")
    args = ap.parse_args()
    if not pathlib.Path(args.aiop).is_file():
        raise SystemExit(f"{args.aiop}: no aiop binary; build it with `cargo build --release -p aiop`")
    paths = [p for p in available_paths(args.aiop) if not (args.no_reference and p == "reference")]
    wanted = set(args.models.split(",")) if args.models else None

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stem, (name, what) in SOURCES.items():
            short = name.removeprefix("mlperf_")
            if wanted and short not in wanted:
                continue
            tflite = tflm_oracle.MLPERF / f"{stem}.tflite"
            model = ROOT / "testdata" / "models" / f"{name}.aiop"
            x = tflm_oracle.seeded_inputs(tflite, 4)[3]
            input_file = pathlib.Path(tmp) / f"{name}.bin"
            input_file.write_bytes(x.tobytes())
            xnnpack = litert_interpreter(tflite, None)
            builtin = litert_interpreter(tflite, litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            samples = {"litert-xnnpack": [], "litert-builtin": [], **{f"aiop-{p}": [] for p in paths}}
            outputs = {}
            for _ in range(args.rounds):
                for label, interp in [("litert-xnnpack", xnnpack), ("litert-builtin", builtin)]:
                    s, outputs[label] = litert_samples(interp, x, args.runs)
                    samples[label] += s
                for p in paths:
                    # The scalar reference is 10-20x slower; fewer runs keep the report short.
                    runs = max(10, args.runs // 10) if p == "reference" else args.runs
                    s, outputs[f"aiop-{p}"] = aiop_samples(args.aiop, model, input_file, p, runs)
                    samples[f"aiop-{p}"] += s
            aiop_out = outputs[f"aiop-{paths[-1]}"]
            differing = {label: sum(a != b for a, b in zip(out, aiop_out)) for label, out in outputs.items()}
            rows.append({"model": name, "what": what, "median_ns": {k: median(v) for k, v in samples.items()},
                         "fastest_ns": {k: min(v) for k, v in samples.items()},
                         "output_bytes": len(aiop_out), "bytes_differing_from_aiop": differing,
                         "samples_ns": samples})
            print(f"{name}: " + ", ".join(f"{k} {median(v) / 1000:.1f} us" for k, v in samples.items()),
                  file=sys.stderr)

    fastest = paths[-1]
    head = ["model", "LiteRT XNNPACK µs", "LiteRT built-in µs"] + [f"aiop {p} µs" for p in paths] + \
        [f"aiop {p} / XNNPACK" for p in paths if p != "reference"] + \
        [f"fastest run: aiop {p} / XNNPACK" for p in paths if p != "reference"] + ["output bytes ≠ XNNPACK"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 1 + "---:|" * (len(head) - 1)]
    for r in rows:
        m = r["median_ns"]
        cells = [r["model"], f"{m['litert-xnnpack'] / 1000:.1f}", f"{m['litert-builtin'] / 1000:.1f}"]
        cells += [f"{m[f'aiop-{p}'] / 1000:.1f}" for p in paths]
        cells += [f"{m[f'aiop-{p}'] / m['litert-xnnpack']:.2f}x" for p in paths if p != "reference"]
        f = r["fastest_ns"]
        cells += [f"{f[f'aiop-{p}'] / f['litert-xnnpack']:.2f}x" for p in paths if p != "reference"]
        cells += [f"{r['bytes_differing_from_aiop']['litert-xnnpack']} of {r['output_bytes']}"]
        lines.append("| " + " | ".join(cells) + " |")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    import ai_edge_litert
    header = (f"CPU: {cpu}; aiop kernel paths: {', '.join(paths)} (fastest: {fastest}); "
              f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')}, num_threads=1; "
              f"{args.rounds} interleaved rounds of {args.runs} runs per side; medians, and the ratio "
              f"of each side's fastest run (a shared machine's bursts of load slow some runs of either side).")
    table = header + "\n\n" + "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "xnnpack.md").write_text(table)
        (args.out / "xnnpack.json").write_text(json.dumps({"command": " ".join(sys.argv), "cpu": cpu,
                                                          "paths": paths, "models": rows}, indent=1))


if __name__ == "__main__":
    main()
