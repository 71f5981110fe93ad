#!/usr/bin/env python3
"""TensorFlow Lite Micro as the oracle for aiop's int8 semantics.

  tflm_oracle.py inputs MODEL.tflite [--count N]
      the seeded inputs of a model, one 0x-hex line each: all -128, all 127, all equal to the
      input zero point, then random int8 tensors from numpy's default_rng seeded with the
      crc32 of the model's file stem (so every machine draws the same ones); N in all (200)
  tflm_oracle.py run MODEL.tflite [--inputs FILE|-] [--runtime tflm|litert-ref]
      runs the model on each 0x-hex input line (default: the seeded inputs) and prints one
      0x-hex output per line (int8 outputs as raw bytes, int32 as big-endian 4-byte values:
      the engine's output encoding)
  tflm_oracle.py compare [--aiop BIN] [--only SUBSTRING] [--no-fail] [--write-pins] [--verbose]
      the check scripts/check_tflm.sh runs: every op model in testdata/tflite/tflm/ and every
      MLPerf Tiny model in ../shared/models/mlperf-tiny/ (with the real kws_sample_0.hex for
      kws) is imported with `aiop model import-tflite`, run with `aiop model run --inputs` on
      every kernel path this CPU has, and compared byte for byte with TFLM; the same inputs are
      compared with LiteRT's BUILTIN_REF kernels, whose known differences from TFLM are pinned
      in testdata/tflite/tflm/litert_differences.json. Prints one table row per model.

The runtimes: TFLM is PyPI `tflite-micro` (`runtime.Interpreter.from_file`), LiteRT is PyPI
`ai-edge-litert` with `OpResolverType.BUILTIN_REF` (no XNNPACK), both pinned in
scripts/requirements.txt.
"""
import argparse
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import zlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
OP_MODELS = ROOT / "testdata" / "tflite" / "tflm"
PINS = OP_MODELS / "litert_differences.json"
MLPERF = pathlib.Path(os.environ.get("AIOP_MLPERF_DIR", ROOT.parent / "shared" / "models" / "mlperf-tiny"))
COUNT = 200
KERNEL_PATHS = ["reference", "avx2", "avx512", "amx"]


# ---- inputs --------------------------------------------------------------------------------

def input_spec(path):
    """(shape, zero point) of a model's int8 input, read with TFLM."""
    detail = tflm(path).get_input_details(0)
    if detail["dtype"] != np.int8:
        raise SystemExit(f"{path.name}: input type {detail['dtype']} is not int8")
    zps = detail["quantization_parameters"]["zero_points"]
    return tuple(int(d) for d in detail["shape"]), int(zps[0]) if len(zps) else 0


def seeded_inputs(path, count=COUNT):
    shape, zp = input_spec(path)
    rng = np.random.default_rng(zlib.crc32(path.stem.encode()))
    inputs = [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8), np.full(shape, zp, np.int8)][:count]
    while len(inputs) < count:
        inputs.append(rng.integers(-128, 128, size=shape, dtype=np.int8))
    return inputs


def hex_line(array_or_bytes):
    data = array_or_bytes if isinstance(array_or_bytes, bytes) else array_or_bytes.tobytes()
    return "0x" + data.hex()


def parse_lines(text, shape):
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("0x"):
            raise SystemExit(f"input line {number} is not 0x-hex")
        data = bytes.fromhex(line[2:])
        if len(data) != int(np.prod(shape)):
            raise SystemExit(f"input line {number} has {len(data)} bytes; the model takes {int(np.prod(shape))}")
        out.append(np.frombuffer(data, np.int8).reshape(shape))
    return out


# ---- runtimes ------------------------------------------------------------------------------

def tflm(path):
    from tflite_micro.python.tflite_micro import runtime
    return runtime.Interpreter.from_file(str(path))


def encode_output(name, y):
    if y.dtype == np.int8:
        return y.tobytes()
    if y.dtype == np.int32:
        return y.astype(">i4").tobytes()
    raise SystemExit(f"{name}: output type {y.dtype} is not int8 or int32")


def run_tflm(path, inputs):
    interp = tflm(path)
    outs = []
    for x in inputs:
        interp.set_input(x, 0)
        interp.invoke()
        outs.append(encode_output(path.name, interp.get_output(0)))
    return outs


def run_litert_ref(path, inputs):
    from ai_edge_litert import interpreter as litert
    interp = litert.Interpreter(model_path=str(path), experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    in_index = interp.get_input_details()[0]["index"]
    out_index = interp.get_output_details()[0]["index"]
    outs = []
    for x in inputs:
        interp.set_tensor(in_index, x)
        interp.invoke()
        outs.append(encode_output(path.name, interp.get_tensor(out_index)))
    return outs


RUNTIMES = {"tflm": run_tflm, "litert-ref": run_litert_ref}


# ---- the comparison ------------------------------------------------------------------------

def op_names(path):
    """The builtin op names of a .tflite file, in first-use order."""
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator
    names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    m = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = m.Subgraphs(0)
    seen = []
    for i in range(sg.OperatorsLength()):
        code = m.OperatorCodes(sg.Operators(i).OpcodeIndex())
        n = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        if n not in seen:
            seen.append(n)
    return seen


class Aiop:
    def __init__(self, binary, work):
        self.binary = str(binary)
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.paths = []
        self.skipped = []
        for kernels in KERNEL_PATHS:
            # The kernel path is chosen after the file is read and before it is parsed, so any
            # file tells whether this CPU has the path.
            r = self.call(["model", "run", str(ROOT / "Cargo.toml"), "--input", "0x", "--kernels", kernels])
            (self.skipped if "not supported by this CPU" in r.stderr else self.paths).append(kernels)

    def call(self, args, **kw):
        return subprocess.run([self.binary, *args], capture_output=True, text=True, **kw)

    def import_tflite(self, path, name):
        """(aiop file, None) or (None, (status, detail))."""
        out = self.work / f"{name}.aiop"
        r = self.call(["model", "import-tflite", str(path), "-o", str(out)])
        if r.returncode == 0:
            return out, None
        err = " ".join(r.stderr.split())
        unsupported = re.search(r"operator \d+ is ([A-Z0-9_]+).*which aiop cannot import", err)
        if unsupported:
            return None, ("unsupported", unsupported.group(1))
        return None, ("import error", err.removeprefix("error: "))

    def run(self, model, inputs_file, kernels):
        r = self.call(["model", "run", str(model), "--inputs", str(inputs_file), "--kernels", kernels])
        if r.returncode != 0:
            return None, " ".join(r.stderr.split()).removeprefix("error: ")
        return [bytes.fromhex(line[2:]) for line in r.stdout.split()], None


def differences(got, want, int8):
    """(inputs differing, bytes differing, largest difference in int8 steps, first example)."""
    n_in = n_bytes = largest = 0
    example = None
    for i, (a, b) in enumerate(zip(got, want)):
        if a == b:
            continue
        n_in += 1
        if len(a) != len(b):
            n_bytes += max(len(a), len(b))
            example = example or f"input {i}: output is {len(a)} bytes, expected {len(b)}"
            continue
        for j, (p, q) in enumerate(zip(a, b)):
            if p != q:
                n_bytes += 1
                if int8:
                    d = abs((p ^ 0x80) - (q ^ 0x80))
                    largest = max(largest, d)
                if example is None:
                    example = f"input {i}, byte {j}: {_val(a, j, int8)} vs {_val(b, j, int8)}"
    return n_in, n_bytes, largest, example


def _val(data, j, int8):
    return int(np.frombuffer(data[j:j + 1], np.int8)[0]) if int8 else f"0x{data[j]:02x}"


def models():
    """(name, path, op under test or None, extra inputs) for every model the check runs: the op
    models grouped by op, in the order make_tflm_op_models.py lists them, then MLPerf Tiny."""
    from make_tflm_op_models import MODELS
    order = list(dict.fromkeys(op for op, _, _ in MODELS.values()))
    ops = []
    for p in OP_MODELS.glob("*.tflite"):
        op = MODELS[p.stem][0] if p.stem in MODELS else "?"
        ops.append((order.index(op) if op in order else len(order), p.stem, p, op))
    out = [(name, p, op, []) for _, name, p, op in sorted(ops)]
    if not MLPERF.is_dir():
        raise SystemExit(f"{MLPERF}: the MLPerf Tiny models are missing (shared/models/mlperf-tiny beside the "
                         "checkout, or set AIOP_MLPERF_DIR)")
    for p in sorted(MLPERF.glob("*.tflite")):
        extra = []
        if p.stem.startswith("kws"):
            sample = MLPERF / "kws_sample_0.hex"
            extra = [sample.read_text().strip()]
        out.append((p.stem, p, None, extra))
    return out


def compare(args):
    started = time.monotonic()
    work = pathlib.Path(args.work)
    aiop = Aiop(args.aiop, work)
    pins = json.loads(PINS.read_text()) if PINS.exists() else {}
    pinned = pins.get("tflm_vs_litert_ref", {})
    print(f"aiop: {args.aiop}")
    print(f"kernel paths run: {' '.join(aiop.paths)}" +
          (f" (not on this CPU: {' '.join(aiop.skipped)})" if aiop.skipped else ""))
    rows = []
    new_pins = {}
    for name, path, op_under_test, extra in models():
        if args.only and args.only not in name:
            continue
        t0 = time.monotonic()
        inputs = seeded_inputs(path)
        shape = inputs[0].shape
        inputs += parse_lines("\n".join(extra), shape)
        ref = run_tflm(path, inputs)
        lite = run_litert_ref(path, inputs)
        int8 = tflm(path).get_output_details(0)["dtype"] == np.int8
        lt_in, lt_bytes, _, _ = differences(lite, ref, int8)
        new_pins[name] = {"inputs": len(inputs), "differing_inputs": lt_in, "differing_bytes": lt_bytes}
        row = dict(name=name, op=op_under_test, ops=op_names(path), n=len(inputs), tflm_vs_litert=lt_in,
                   pin=pinned.get(name), status="ok", detail="", paths=[], vs_tflm=None, vs_litert=None)
        inputs_file = work / f"{name}.inputs"
        inputs_file.write_text("".join(hex_line(x) + "\n" for x in inputs))
        model, failure = aiop.import_tflite(path, name)
        if failure:
            row["status"], row["detail"] = failure
        else:
            results = {}
            for kernels in aiop.paths:
                outs, err = aiop.run(model, inputs_file, kernels)
                if err:
                    row["status"], row["detail"] = "run error", f"--kernels {kernels}: {err}"
                    break
                if len(outs) != len(inputs):
                    row["status"], row["detail"] = "run error", f"--kernels {kernels}: {len(outs)} outputs"
                    break
                results[kernels] = outs
                row["paths"].append(kernels)
            if row["status"] == "ok":
                first = results[aiop.paths[0]]
                for k, outs in results.items():
                    if outs != first:
                        d = differences(outs, first, int8)
                        row["status"] = "PATHS DISAGREE"
                        row["detail"] = f"--kernels {k} vs {aiop.paths[0]}: {d[0]} inputs differ ({d[3]})"
                worst = max((differences(outs, ref, int8) for outs in results.values()), key=lambda d: d[0])
                row["vs_tflm"] = worst
                row["vs_litert"] = differences(first, lite, int8)[0]
                if worst[0] and row["status"] == "ok":
                    row["status"] = "DIFFERS"
                    row["detail"] = f"first: {worst[3]} (aiop vs TFLM)"
        row["pin_ok"] = row["pin"] == new_pins[name]
        row["seconds"] = time.monotonic() - t0
        rows.append(row)
        if args.verbose:
            print(f"  {name}: {row['status']} ({row['seconds']:.1f} s)", flush=True)

    if args.write_pins:
        if args.only:
            new_pins = {**pinned, **new_pins}
        about = ("LiteRT BUILTIN_REF (ai-edge-litert) against TFLM (tflite-micro), per model, on the seeded inputs "
                 "of scripts/tflm_oracle.py: inputs compared, inputs and bytes whose output differs. Expected "
                 "differences (LiteRT requantizes FULLY_CONNECTED in float), pinned so that a change on either "
                 "side is noticed. Rewrite with scripts/check_tflm.sh --write-pins.")
        body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(new_pins.items()))
        PINS.write_text(f'{{\n "about": {json.dumps(about)},\n "tflm_vs_litert_ref": {{\n{body}\n }}\n}}\n')
        print(f"wrote {PINS.relative_to(ROOT)}")
        for row in rows:
            row["pin_ok"] = True

    print_table(rows)
    failed = [r for r in rows if r["status"] != "ok"]
    pin_failed = [r for r in rows if not r["pin_ok"]]
    stale_pins = sorted(set(pinned) - {r["name"] for r in rows}) if not args.only else []
    print()
    elapsed = time.monotonic() - started
    print(f"{len(rows)} models, {sum(r['n'] for r in rows)} inputs, each run in TFLM, in LiteRT BUILTIN_REF and in "
          f"aiop on {len(aiop.paths)} kernel path(s) ({', '.join(aiop.paths)}): {elapsed:.0f} s")
    unsupported = {}
    for r in failed:
        if r["status"] == "unsupported":
            unsupported.setdefault(r["detail"], []).append(r["name"])
        else:
            print(f"FAIL {r['name']}: {r['status']}" + (f": {r['detail']}" if r["detail"] else ""))
    for op, names in unsupported.items():
        print(f"FAIL {op} is not supported by the importer: {', '.join(names)}")
    for r in pin_failed:
        print(f"FAIL {r['name']}: TFLM vs LiteRT REF now {new_pins[r['name']]}, pinned {r['pin']} in "
              f"{PINS.relative_to(ROOT)} (a runtime or a model changed? rerun with --write-pins after checking why)")
    for name in stale_pins:
        print(f"FAIL {name}: pinned in {PINS.relative_to(ROOT)} but no such model (rerun with --write-pins)")
    ok = not failed and not pin_failed and not stale_pins
    if ok:
        print("tflm: aiop is bit-exact with TensorFlow Lite Micro on every model, input and kernel path")
        return 0
    not_exact = len(failed)
    print(f"tflm: {not_exact} of {len(rows)} models are not bit-exact with TensorFlow Lite Micro"
          + (f", {len(pin_failed) + len(stale_pins)} LiteRT pins changed" if pin_failed or stale_pins else ""))
    if args.no_fail:
        print("tflm: --no-fail given: reporting only, exit status 0")
        return 0
    return 1


SHORT = {"FULLY_CONNECTED": "FC", "CONV_2D": "CONV", "DEPTHWISE_CONV_2D": "DWCONV", "AVERAGE_POOL_2D": "AVGPOOL",
         "MAX_POOL_2D": "MAXPOOL"}


def print_table(rows):
    """One row per model; then one row per op: the op models of that op added up, and the
    MLPerf Tiny models that contain it."""
    head = ["op", "model", "other ops", "inputs", "vs TFLM compared/differing", "bytes/max step",
            "vs LiteRT REF compared/differing", "TFLM vs LiteRT (pinned)", "status"]
    left = {0, 1, 2, 8}
    lines = []
    for r in rows:
        op = r["op"] or "MLPerf Tiny"
        others = [SHORT.get(o, o) for o in r["ops"] if o != r["op"]]
        compared = 0 if r["vs_tflm"] is None else r["n"]
        if r["vs_tflm"] is None:
            t_diff, t_bytes, l_diff = "-", "-", "-"
        else:
            t_diff, t_bytes, l_diff = str(r["vs_tflm"][0]), f"{r['vs_tflm'][1]}/{r['vs_tflm'][2]}", str(r["vs_litert"])
        t_diff, l_diff = f"{compared}/{t_diff}", f"{compared}/{l_diff}"
        pin = str(r["tflm_vs_litert"])
        if not r["pin_ok"]:
            pin += f" (pinned {r['pin']['differing_inputs'] if r['pin'] else 'none'}!)"
        status = r["status"]
        if status == "unsupported":
            status += f" ({r['detail']})"
        elif status in ("import error", "run error", "PATHS DISAGREE"):
            status += f": {r['detail'][:80]}"
        lines.append([op, r["name"], ",".join(others), str(r["n"]), t_diff, t_bytes, l_diff, pin, status])
    print()
    _print_grid(head, lines, left)

    by_op = {}
    for r in rows:
        for op in ([r["op"]] if r["op"] else r["ops"]):
            by_op.setdefault(op, []).append(r)
    head = ["op", "op models", "ok", "differ", "unsupported", "other failures", "inputs compared", "differing vs TFLM",
            "differing vs LiteRT REF", "MLPerf Tiny models with it: ok / not"]
    lines = []
    for op, rs in by_op.items():
        own = [r for r in rs if r["op"] == op]
        mlperf = [r for r in rs if r["op"] is None]
        compared = [r for r in own if r["vs_tflm"] is not None]
        count = lambda status: str(sum(r["status"] == status for r in own))
        lines.append([
            op, str(len(own)), count("ok"), count("DIFFERS"), count("unsupported"),
            str(sum(r["status"] not in ("ok", "DIFFERS", "unsupported") for r in own)),
            str(sum(r["n"] for r in compared)), str(sum(r["vs_tflm"][0] for r in compared)),
            str(sum(r["vs_litert"] for r in compared)),
            f"{sum(r['status'] == 'ok' for r in mlperf)} / {sum(r['status'] != 'ok' for r in mlperf)}" if mlperf else "",
        ])
    print()
    _print_grid(head, lines, {0})


def _print_grid(head, lines, left):
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(head)]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(fmt(head).rstrip())
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print(fmt(line).rstrip())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inputs")
    p.add_argument("model", type=pathlib.Path)
    p.add_argument("--count", type=int, default=COUNT)
    p = sub.add_parser("run")
    p.add_argument("model", type=pathlib.Path)
    p.add_argument("--inputs", help="file of 0x-hex lines, or - for stdin (default: the seeded inputs)")
    p.add_argument("--runtime", choices=sorted(RUNTIMES), default="tflm")
    p = sub.add_parser("compare")
    p.add_argument("--aiop", default=str(ROOT / "target" / "release" / "aiop"))
    p.add_argument("--work", default=str(ROOT / "target" / "tflm-check"))
    p.add_argument("--only", help="only models whose name contains this")
    p.add_argument("--no-fail", action="store_true", help="print the table, exit 0 even on differences")
    p.add_argument("--write-pins", action="store_true", help=f"rewrite {PINS.name} from this run")
    p.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.command in ("inputs", "run"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `... | head` ends quietly

    if args.command == "inputs":
        for x in seeded_inputs(args.model, args.count):
            print(hex_line(x))
        return 0
    if args.command == "run":
        shape, _ = input_spec(args.model)
        if args.inputs is None:
            inputs = seeded_inputs(args.model)
        else:
            text = sys.stdin.read() if args.inputs == "-" else pathlib.Path(args.inputs).read_text()
            inputs = parse_lines(text, shape)
        for y in RUNTIMES[args.runtime](args.model, inputs):
            print(hex_line(y))
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
