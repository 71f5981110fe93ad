#!/usr/bin/env python3
"""Which requantization rule do LiteRT's reference kernels (BUILTIN_REF) use, per op?

For the single-op test models (testdata/tflite/{conv_only,depthwise_only,mul_only,
fc_per_channel,add_only}.tflite) this recomputes the op's int8 outputs from its int8 inputs
with exact integer arithmetic under two rules and counts disagreements with LiteRT:

  single  (x * M + 2^(30 - s)) >> (31 - s)                  TFLITE_SINGLE_ROUNDING, the aiop rule
  double  RoundingDivideByPOT(SRDHM(x << max(s, 0), M), max(-s, 0))   TensorFlow Lite's default

Exit status 0 when every op matches exactly the rule recorded in EXPECTED (and in
docs/models.md); 1 otherwise.
"""
import math
import pathlib
import sys

import numpy as np
from ai_edge_litert import interpreter as litert

DIR = pathlib.Path(__file__).resolve().parent.parent / "testdata" / "tflite"


def quantize_multiplier(real):
    q, shift = math.frexp(real)
    t = q * (1 << 31)
    fixed = int(math.floor(t + 0.5)) if t >= 0 else -int(math.floor(-t + 0.5))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    return fixed, shift


def single(x, m, s):
    total = 31 - s
    return (x * m + (1 << (total - 1))) >> total


def double(x, m, s):
    x = x * (1 << max(s, 0))
    ab = x * m
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    v = ab + nudge
    high = np.where(v >= 0, v // (1 << 31), -((-v) // (1 << 31)))
    e = max(-s, 0)
    mask = (1 << e) - 1
    rem = high & mask
    thr = (mask >> 1) + (high < 0)
    return (high >> e) + (rem > thr)


def interp(name):
    it = litert.Interpreter(
        model_path=str(DIR / f"{name}.tflite"),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    it.allocate_tensors()
    return it


def details(it):
    return {d["index"]: d for d in it.get_tensor_details()}


def run(it, x):
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()


def conv_accumulators(x, w, b, zp, depthwise, multiplier=1):
    """SAME padding, stride 1: int64 accumulators [H, W, Cout]."""
    h, wd, c = x.shape
    if depthwise:
        _, kh, kw, cout = w.shape
    else:
        cout, kh, kw, _ = w.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xc = x.astype(np.int64) - zp
    acc = np.tile(b.astype(np.int64), (h, wd, 1))
    for ky in range(kh):
        for kx in range(kw):
            shifted = np.zeros_like(xc)
            ys, xs = ky - ph, kx - pw
            shifted[max(0, -ys):h - max(0, ys), max(0, -xs):wd - max(0, xs)] = \
                xc[max(0, ys):h - max(0, -ys), max(0, xs):wd - max(0, -xs)]
            if depthwise:
                acc += np.repeat(shifted, multiplier, axis=2) * w[0, ky, kx].astype(np.int64)
            else:
                acc += shifted @ w[:, ky, kx, :].astype(np.int64).T
    return acc


def probe(name, cases=50, relu_n1_to_1=False):
    it = interp(name)
    t = details(it)
    op_inputs = it._get_ops_details()[-1]["inputs"]
    op_output = it._get_ops_details()[-1]["outputs"][0]
    op_name = it._get_ops_details()[-1]["op_name"]
    rng = np.random.RandomState(7)
    in_d = it.get_input_details()[0]
    counts = {"single": 0, "double": 0, "total": 0}
    for _ in range(cases):
        run(it, rng.randint(-128, 128, size=in_d["shape"]).astype(np.int8))
        y_d = t[op_output]
        y = it.get_tensor(op_output).astype(np.int64)
        zp_y = y_d["quantization_parameters"]["zero_points"][0]
        s_y = np.float32(y_d["quantization_parameters"]["scales"][0])
        a_d = t[op_inputs[0]]
        a = it.get_tensor(op_inputs[0])
        s_a = np.float32(a_d["quantization_parameters"]["scales"][0])
        zp_a = a_d["quantization_parameters"]["zero_points"][0]
        if op_name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w_d = t[op_inputs[1]]
            w = it.get_tensor(op_inputs[1])
            b = it.get_tensor(op_inputs[2])
            w_scales = w_d["quantization_parameters"]["scales"].astype(np.float32)
            if op_name == "FULLY_CONNECTED":
                acc = (a.astype(np.int64) - zp_a) @ w.astype(np.int64).T + b
            else:
                dm = w.shape[3] // a.shape[3] if op_name == "DEPTHWISE_CONV_2D" else 1
                acc = conv_accumulators(a[0], w, b, zp_a, op_name == "DEPTHWISE_CONV_2D", dm)[None]
            reals = [float(np.float64(s_a) * np.float64(ws) / np.float64(s_y)) for ws in np.broadcast_to(w_scales, (acc.shape[-1],))]
            params = [quantize_multiplier(r) for r in reals]
            outs = {}
            for rule, fn in (("single", single), ("double", double)):
                o = np.stack([fn(acc[..., c], m, s) for c, (m, s) in enumerate(params)], axis=-1)
                lo, hi = -128, 127
                if relu_n1_to_1:  # fused RELU_N1_TO_1: CalculateActivationRangeQuantized in float32
                    lo = max(lo, zp_y + int(np.round(np.float32(-1.0) / s_y)))
                    hi = min(hi, zp_y + int(np.round(np.float32(1.0) / s_y)))
                outs[rule] = np.clip(o + zp_y, lo, hi)
        elif op_name == "MUL":
            b_d = t[op_inputs[1]]
            bb = it.get_tensor(op_inputs[1]).astype(np.int64) - b_d["quantization_parameters"]["zero_points"][0]
            s_b = np.float32(b_d["quantization_parameters"]["scales"][0])
            prod = (a.astype(np.int64) - zp_a) * bb
            m, s = quantize_multiplier(float(np.float64(s_a) * np.float64(s_b) / np.float64(s_y)))
            outs = {r: np.clip(fn(prod, m, s) + zp_y, -128, 127) for r, fn in (("single", single), ("double", double))}
        else:
            raise SystemExit(f"{name}: probe does not handle {op_name}")
        for rule in ("single", "double"):
            counts[rule] += int(np.sum(outs[rule] != y))
        counts["total"] += y.size
    return op_name, counts


# The finding for ai-edge-litert 2.3.0 (docs/models.md): FULLY_CONNECTED uses single rounding
# (the aiop rule); CONV_2D, DEPTHWISE_CONV_2D and MUL use TensorFlow Lite's default double rounding.
EXPECTED = {"fc_per_channel": "single", "conv_only": "double", "depthwise_only": "double", "mul_only": "double"}


def main():
    ok = True
    for name, expected in EXPECTED.items():
        fc = name == "fc_per_channel"
        op, c = probe(name, cases=1000 if fc else 50, relu_n1_to_1=fc)
        rules = [r for r in ("single", "double") if c[r] == 0]
        print(f"{name:16} {op:18} outputs {c['total']:6}  differ from single rounding: {c['single']:4}  "
              f"from double rounding: {c['double']:4}  -> {' and '.join(rules) or 'neither rule'}")
        if rules != [expected]:
            print(f"  UNEXPECTED: the recorded finding is '{expected}' rounding only")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
