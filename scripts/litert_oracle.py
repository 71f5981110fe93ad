#!/usr/bin/env python3
"""Run every testdata/tflite/*.tflite model in LiteRT's reference kernels (BUILTIN_REF) on a
fixed set of inputs and record the outputs in testdata/tflite/<name>.litert.json.

  litert_oracle.py --write   (re)write the expectation files
  litert_oracle.py --check   recompute with the installed LiteRT and fail on any byte that
                             differs from the checked-in files

The Rust test crates/tools/tests/tflite_litert.rs imports each model with `import-tflite`,
runs it in the engine, and compares every output byte with these files.

Inputs per model: all -128, all 127, all equal to the input zero point, then random int8
vectors from a generator seeded by the model name. int8 outputs are recorded as raw bytes;
int32 outputs as big-endian 4-byte values (the engine's output encoding).
"""
import argparse
import json
import pathlib
import sys
import zlib

import numpy as np
from ai_edge_litert import interpreter as litert

DIR = pathlib.Path(__file__).resolve().parent.parent / "testdata" / "tflite"
RANDOM_CASES = 200
SKIP = {"unsupported_sub"}


def cases_for(name, interp):
    detail = interp.get_input_details()[0]
    shape = tuple(detail["shape"])
    zp = int(detail["quantization"][1])
    rng = np.random.RandomState(zlib.crc32(name.encode()))
    inputs = [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8), np.full(shape, zp, np.int8)]
    inputs += [rng.randint(-128, 128, size=shape).astype(np.int8) for _ in range(RANDOM_CASES)]
    return inputs


def run(path):
    interp = litert.Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
    )
    interp.allocate_tensors()
    name = path.stem
    in_index = interp.get_input_details()[0]["index"]
    out_detail = interp.get_output_details()[0]
    cases = []
    for x in cases_for(name, interp):
        interp.set_tensor(in_index, x)
        interp.invoke()
        y = interp.get_tensor(out_detail["index"])
        if y.dtype == np.int8:
            out = y.tobytes()
        elif y.dtype == np.int32:
            out = y.astype(">i4").tobytes()
        else:
            raise SystemExit(f"{name}: output type {y.dtype} is not int8 or int32")
        cases.append({"input": "0x" + x.tobytes().hex(), "output": "0x" + out.hex()})
    return {
        "model": path.name,
        "oracle": "ai-edge-litert BUILTIN_REF (reference kernels)",
        "cases": cases,
    }


def main():
    parser = argparse.ArgumentParser()
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args()
    failures = 0
    for path in sorted(DIR.glob("*.tflite")):
        if path.stem in SKIP:
            continue
        result = run(path)
        text = json.dumps(result, indent=1) + "\n"
        target = DIR / f"{path.stem}.litert.json"
        if args.write:
            target.write_text(text)
            print(f"{target.name}: {len(result['cases'])} cases")
        else:
            old = json.loads(target.read_text()) if target.exists() else None
            if old != result:
                failures += 1
                print(f"MISMATCH {target.name}: LiteRT now computes other bytes than the checked-in file")
            else:
                print(f"ok {target.name}: {len(result['cases'])} cases reproduced by LiteRT BUILTIN_REF")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
