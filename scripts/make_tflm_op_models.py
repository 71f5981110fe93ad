#!/usr/bin/env python3
"""Write the single-op int8 .tflite models of testdata/tflite/tflm/, the op corpus that
scripts/check_tflm.sh runs in TensorFlow Lite Micro, LiteRT BUILTIN_REF and the engine.

No TensorFlow: the flatbuffers are assembled like scripts/make_tflite_models.py (whose Graph
builder this reuses) from fixed-seed numpy generators (`default_rng(crc32(name))`), so
re-running reproduces the files byte for byte.

  make_tflm_op_models.py           (re)write testdata/tflite/tflm/*.tflite
  make_tflm_op_models.py --check   regenerate in memory, fail if a committed file differs
                                   (or one is missing, or a stray .tflite is there)
  make_tflm_op_models.py --list    print each model's name, op and what it exercises

Every model has one int8 input and one output (int8, or int32 for ARG_MAX). Each isolates
one op; binary ops take the model input and a second operand made by an op that does not
round (MAX_POOL_2D 3x3 SAME stride 1: a different tensor with the same quantization), or by a
FULLY_CONNECTED when the two operands need different scales. The parameters are the extreme
ones: zero points -128 and 127, effective scales from 2^-30 to 2^+6 (requantization shifts
from large negative to positive), saturating outputs, and fused RELU / RELU6 / RELU_N1_TO_1
with output ranges that make the clamp bite. Positive shifts are kept where TFLM's
`x * (1 << left_shift)` cannot overflow int32 (that would be undefined behaviour in C).
"""
import math
import pathlib
import sys
import zlib

import numpy as np
from tflite.ActivationFunctionType import ActivationFunctionType as Act
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.BuiltinOptions import BuiltinOptions as Opt
from tflite.Padding import Padding
from tflite.TensorType import TensorType

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_tflite_models import M, Graph, act_opts, conv_opts, fc_opts, pool_opts, softmax_opts, argmax_opts  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "testdata" / "tflite" / "tflm"


def f32(x):
    return float(np.float32(x))


def shift_of(real):
    """The shift TFLite's QuantizeMultiplier derives for a positive real multiplier."""
    mantissa, exponent = math.frexp(real)
    if round(mantissa * (1 << 31)) == (1 << 31):
        exponent += 1
    return exponent


class G(Graph):
    description = "aiop TFLM op test model (scripts/make_tflm_op_models.py)"

    def __init__(self, name):
        super().__init__(0)
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))

    def weights(self, shape, scales, qdim=0):
        w = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        return self.tensor(shape, scale=[f32(s) for s in scales], zp=[0] * len(scales), data=w, qdim=qdim)

    def bias_values(self, magnitudes):
        return np.array([int(self.rng.integers(-m, m + 1)) for m in magnitudes], dtype=np.int32)

    def bias(self, values, scales):
        return self.tensor([len(values)], TensorType.INT32, scale=[f32(s) for s in scales], zp=[0] * len(values),
                           data=np.asarray(values, dtype=np.int32))

    def const_i32(self, values):
        values = np.asarray(values, dtype=np.int32)
        return self.tensor(list(values.shape), TensorType.INT32, data=values)

    def quant(self, t):
        return self.tensors[t]["scale"][0], self.tensors[t]["zp"][0]


def bias_magnitudes(eff_scales, depth, zp_span=255, cap=1 << 24):
    """Bias bounds per channel so that |acc| << max(shift, 0) stays below 2^30 in TFLM."""
    out = []
    for e in eff_scales:
        left = max(shift_of(e), 0)
        room = (1 << 30) // (1 << left) - depth * 127 * zp_span
        assert room > 0, f"effective scale {e} overflows int32 for depth {depth}"
        out.append(int(min(cap, room)))
    return out


def typical_acc(depth, zp):
    """A typical |accumulator| for random int8 inputs and weights (|x - zp| about 74 when zp
    is central, about 128 when it is at an end of the range)."""
    spread = 74.0 if abs(zp) < 64 else 128.0
    return math.sqrt(depth) * 73.0 * spread


def requant_layer(g, in_scale, in_zp, depth, n, out_scale, out_zp, effs=None, per_channel=True, bias_cap=3000,
                  bias_steps=None):
    """Weight and bias tensors for a layer whose per-channel effective scales
    (in_scale * w_scale / out_scale) are `effs` (default: spread the accumulator over about 80
    output steps). Biases are drawn from +-bias_cap, or, with bias_steps, from as many output
    steps (so that channels with tiny effective scales still see varied accumulators)."""
    if effs is None:
        base = 40.0 / typical_acc(depth, in_zp)
        effs = g.rng.uniform(0.5 * base, 1.5 * base, size=n if per_channel else 1)
    effs = [float(e) for e in effs]
    w_scales = [f32(e * out_scale / in_scale) for e in effs]
    real_effs = [in_scale * s / out_scale for s in w_scales]
    room = bias_magnitudes(real_effs, depth)
    if bias_steps:
        mags = [max(1, min(r, int(bias_steps / e))) for r, e in zip(room, real_effs)]
    else:
        mags = [min(r, bias_cap) for r in room]
    if not per_channel:
        mags = mags * n
    b_scales = [in_scale * w_scales[c if per_channel else 0] for c in range(n)]
    return w_scales, g.bias_values(mags), b_scales


def spread_effs(lo_exp, hi_exp, n):
    """Effective scales 2^lo .. 2^hi, log-spaced, with a non-power-of-two mantissa."""
    return [float(2.0 ** e * 0.77) for e in np.linspace(lo_exp, hi_exp, n)]


# ---- options not in make_tflite_models.py --------------------------------------------------

def dw_opts(padding, stride, multiplier, dilation=(1, 1), act=Act.NONE):
    def build(b):
        m = M("DepthwiseConv2DOptions")
        m.DepthwiseConv2DOptionsStart(b)
        m.DepthwiseConv2DOptionsAddPadding(b, padding)
        m.DepthwiseConv2DOptionsAddStrideH(b, stride[0])
        m.DepthwiseConv2DOptionsAddStrideW(b, stride[1])
        m.DepthwiseConv2DOptionsAddDepthMultiplier(b, multiplier)
        m.DepthwiseConv2DOptionsAddDilationHFactor(b, dilation[0])
        m.DepthwiseConv2DOptionsAddDilationWFactor(b, dilation[1])
        m.DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
        return m.DepthwiseConv2DOptionsEnd(b)
    return (Opt.DepthwiseConv2DOptions, build)


def concat_opts(axis):
    def build(b):
        m = M("ConcatenationOptions")
        m.ConcatenationOptionsStart(b)
        m.ConcatenationOptionsAddAxis(b, axis)
        m.ConcatenationOptionsAddFusedActivationFunction(b, Act.NONE)
        return m.ConcatenationOptionsEnd(b)
    return (Opt.ConcatenationOptions, build)


def reducer_opts(keep_dims):
    def build(b):
        m = M("ReducerOptions")
        m.ReducerOptionsStart(b)
        m.ReducerOptionsAddKeepDims(b, keep_dims)
        return m.ReducerOptionsEnd(b)
    return (Opt.ReducerOptions, build)


def leaky_opts(alpha):
    def build(b):
        m = M("LeakyReluOptions")
        m.LeakyReluOptionsStart(b)
        m.LeakyReluOptionsAddAlpha(b, alpha)
        return m.LeakyReluOptionsEnd(b)
    return (Opt.LeakyReluOptions, build)


def _int_vector(b, start, values):
    start(b, len(values))
    for v in reversed(values):
        b.PrependInt32(v)
    return b.EndVector()


def squeeze_opts(dims):
    def build(b):
        m = M("SqueezeOptions")
        vec = _int_vector(b, m.SqueezeOptionsStartSqueezeDimsVector, dims) if dims else None
        m.SqueezeOptionsStart(b)
        if vec is not None:
            m.SqueezeOptionsAddSqueezeDims(b, vec)
        return m.SqueezeOptionsEnd(b)
    return (Opt.SqueezeOptions, build)


def reshape_opts(new_shape):
    def build(b):
        m = M("ReshapeOptions")
        vec = _int_vector(b, m.ReshapeOptionsStartNewShapeVector, new_shape)
        m.ReshapeOptionsStart(b)
        m.ReshapeOptionsAddNewShape(b, vec)
        return m.ReshapeOptionsEnd(b)
    return (Opt.ReshapeOptions, build)


def empty_opts(kind):
    def build(b):
        m = M(f"{kind}Options")
        getattr(m, f"{kind}OptionsStart")(b)
        return getattr(m, f"{kind}OptionsEnd")(b)
    return (getattr(Opt, f"{kind}Options"), build)


# ---- layer helpers -------------------------------------------------------------------------

def fc_layer(g, x, n, out_scale, out_zp, act=Act.NONE, effs=None, per_channel=False, bias_cap=3000,
             bias_steps=None):
    shape = g.tensors[x]["shape"]
    in_scale, in_zp = g.quant(x)
    k = shape[-1]
    ws, bias, bs = requant_layer(g, in_scale, in_zp, k, n, out_scale, out_zp, effs, per_channel, bias_cap,
                                 bias_steps)
    w = g.weights([n, k], ws)
    b = g.bias(bias, bs)
    y = g.act(shape[:-1] + [n], out_scale, out_zp)
    g.op(Op.FULLY_CONNECTED, [x, w, b], [y], fc_opts(act))
    return y


def conv_layer(g, x, cout, k, out_hw, out_scale, out_zp, padding, stride=(1, 1), dilation=(1, 1), act=Act.NONE,
               effs=None, bias_cap=3000, bias_steps=None):
    _, h, w_, cin = g.tensors[x]["shape"]
    in_scale, in_zp = g.quant(x)
    depth = k[0] * k[1] * cin
    ws, bias, bs = requant_layer(g, in_scale, in_zp, depth, cout, out_scale, out_zp, effs, True, bias_cap,
                                 bias_steps)
    w = g.weights([cout, k[0], k[1], cin], ws)
    b = g.bias(bias, bs)
    y = g.act([1, out_hw[0], out_hw[1], cout], out_scale, out_zp)
    g.op(Op.CONV_2D, [x, w, b], [y], conv_opts(padding, stride, dilation, act))
    return y


def dw_layer(g, x, multiplier, k, out_hw, out_scale, out_zp, padding, stride=(1, 1), dilation=(1, 1), act=Act.NONE,
             effs=None, bias_cap=3000, bias_steps=None):
    cin = g.tensors[x]["shape"][3]
    in_scale, in_zp = g.quant(x)
    cout = cin * multiplier
    depth = k[0] * k[1]
    ws, bias, bs = requant_layer(g, in_scale, in_zp, depth, cout, out_scale, out_zp, effs, True, bias_cap,
                                 bias_steps)
    w = g.weights([1, k[0], k[1], cout], ws, qdim=3)
    b = g.bias(bias, bs)
    y = g.act([1, out_hw[0], out_hw[1], cout], out_scale, out_zp)
    g.op(Op.DEPTHWISE_CONV_2D, [x, w, b], [y], dw_opts(padding, stride, multiplier, dilation, act))
    return y


def neighbour_max(g, x):
    """MAX_POOL_2D 3x3, stride 1, SAME: a second operand with x's shape and quantization that
    differs from x and is computed without rounding."""
    s, zp = g.quant(x)
    y = g.act(g.tensors[x]["shape"], s, zp)
    g.op(Op.MAX_POOL_2D, [x], [y], pool_opts(Padding.SAME, (3, 3), (1, 1)))
    return y


MODELS = {}


def model(op, what):
    def register(fn):
        MODELS[fn.__name__] = (op, what, fn)
        return fn
    return register


def build(name):
    g = G(name)
    x, y = MODELS[name][2](g)
    return g.serialize([x], [y])


# ---- FULLY_CONNECTED -----------------------------------------------------------------------

@model("FULLY_CONNECTED", "per-tensor weights, input zp -128, output zp 127 (positive half saturates)")
def fc_per_tensor_zp_ends(g):
    x = g.act([1, 32], 0.05, -128)
    return x, fc_layer(g, x, 16, 0.04, 127)


@model("FULLY_CONNECTED", "per-channel, effective scales 2^-30..2^+6 (shifts -29..+7), input zp 127")
def fc_per_channel_shifts(g):
    x = g.act([1, 24], 0.02, 127)
    return x, fc_layer(g, x, 16, 0.05, -128, effs=spread_effs(-30, 6, 16), per_channel=True, bias_steps=60)


@model("FULLY_CONNECTED", "per-tensor, effective scale 2^-16 (shift -15) with biases up to 2^22")
def fc_tiny_scale_big_bias(g):
    x = g.act([1, 64], 0.1, 3)
    return x, fc_layer(g, x, 12, 0.2, -5, effs=[2.0 ** -16 * 1.37], bias_cap=1 << 22)


@model("FULLY_CONNECTED", "per-channel, fused RELU with output zp 5")
def fc_relu(g):
    x = g.act([1, 20], 0.1, -128)
    return x, fc_layer(g, x, 10, 0.05, 5, Act.RELU, per_channel=True)


@model("FULLY_CONNECTED", "per-tensor, fused RELU6 clamping at -28 (zp -128, scale 6/100)")
def fc_relu6(g):
    x = g.act([1, 20], 0.08, 10)
    base = 140.0 / typical_acc(20, 10)
    return x, fc_layer(g, x, 10, f32(6.0 / 100), -128, Act.RELU6, effs=[base])


@model("FULLY_CONNECTED", "per-channel, fused RELU_N1_TO_1 clamping at -50 and 50 (scale 1/50, zp 0)")
def fc_relu_n1_to_1(g):
    x = g.act([1, 20], 0.08, 127)
    base = 80.0 / typical_acc(20, 127)
    return x, fc_layer(g, x, 10, f32(1.0 / 50), 0, Act.RELU_N1_TO_1, per_channel=True,
                       effs=[base * 0.9, base, base * 1.1, base * 1.3, base * 0.7] * 2)


# ---- CONV_2D -------------------------------------------------------------------------------

@model("CONV_2D", "3x3 stride 2 SAME, asymmetric padding (W: 0 before, 1 after), input zp -128")
def conv_stride2_same(g):
    x = g.act([1, 7, 8, 3], 0.03, -128)
    return x, conv_layer(g, x, 4, (3, 3), (4, 4), 0.05, 20, Padding.SAME, stride=(2, 2))


@model("CONV_2D", "2x4 kernel, stride 1x3 SAME (H: 0/1, W: 1/1 padding), input zp 127, RELU6")
def conv_even_kernel_same_relu6(g):
    x = g.act([1, 6, 5, 2], 0.04, 127)
    return x, conv_layer(g, x, 3, (2, 4), (6, 2), f32(6.0 / 200), -128, Padding.SAME, stride=(1, 3), act=Act.RELU6)


@model("CONV_2D", "3x2 kernel, dilation 2x3 VALID, RELU_N1_TO_1 (scale 1/64)")
def conv_dilated_valid_relu_n1(g):
    x = g.act([1, 9, 9, 3], 0.05, 0)
    return x, conv_layer(g, x, 5, (3, 2), (5, 6), f32(1.0 / 64), 0, Padding.VALID, dilation=(2, 3),
                         act=Act.RELU_N1_TO_1)


@model("CONV_2D", "3x3 dilation 2 stride 2 SAME (H: 1/2, W: 2/2 padding), RELU with output zp 60")
def conv_dilated_stride2_same_relu(g):
    x = g.act([1, 8, 7, 2], 0.05, -30)
    return x, conv_layer(g, x, 4, (3, 3), (4, 4), 0.1, 60, Padding.SAME, stride=(2, 2), dilation=(2, 2),
                         act=Act.RELU)


@model("CONV_2D", "3x3 SAME, per-channel effective scales 2^-26..2^+4, input zp 127, output zp -128")
def conv_shifts(g):
    x = g.act([1, 4, 4, 4], 0.02, 127)
    return x, conv_layer(g, x, 8, (3, 3), (4, 4), 0.05, -128, Padding.SAME, effs=spread_effs(-26, 4, 8),
                         bias_steps=60)


@model("CONV_2D", "1x1 (pointwise), saturating output (effective scale about 2^-4), RELU")
def conv_pointwise_saturating(g):
    x = g.act([1, 5, 5, 8], 0.05, -128)
    return x, conv_layer(g, x, 6, (1, 1), (5, 5), 0.05, 0, Padding.VALID, act=Act.RELU,
                         effs=spread_effs(-5, -3, 6))


# ---- DEPTHWISE_CONV_2D ---------------------------------------------------------------------

@model("DEPTHWISE_CONV_2D", "depth multiplier 3, 3x3 stride 2 SAME (W: 0/1 padding), input zp -128")
def dw_mult3_stride2_same(g):
    x = g.act([1, 7, 6, 2], 0.03, -128)
    return x, dw_layer(g, x, 3, (3, 3), (4, 3), 0.04, -10, Padding.SAME, stride=(2, 2))


@model("DEPTHWISE_CONV_2D", "3x3 dilation 2 VALID, multiplier 1, RELU with output zp -20")
def dw_dilated_relu(g):
    x = g.act([1, 8, 8, 3], 0.05, 7)
    return x, dw_layer(g, x, 1, (3, 3), (4, 4), 0.03, -20, Padding.VALID, dilation=(2, 2), act=Act.RELU)


@model("DEPTHWISE_CONV_2D", "2x3 kernel SAME, multiplier 2, effective scales 2^-24..2^+5, input zp 127, RELU6")
def dw_shifts_relu6(g):
    x = g.act([1, 5, 5, 3], 0.02, 127)
    return x, dw_layer(g, x, 2, (2, 3), (5, 5), f32(6.0 / 255), -128, Padding.SAME, act=Act.RELU6,
                       effs=spread_effs(-24, 5, 6), bias_steps=60)


@model("DEPTHWISE_CONV_2D", "3x3 stride 1 SAME, multiplier 4, RELU_N1_TO_1, output zp 0")
def dw_mult4_relu_n1(g):
    x = g.act([1, 4, 4, 2], 0.04, -60)
    return x, dw_layer(g, x, 4, (3, 3), (4, 4), f32(1.0 / 100), 0, Padding.SAME, act=Act.RELU_N1_TO_1)


# ---- MAX_POOL_2D / AVERAGE_POOL_2D ---------------------------------------------------------

@model("MAX_POOL_2D", "3x2 stride 2 SAME (H: 1/1 padding), zp -128, RELU6 clamping at -8")
def maxpool_same_relu6(g):
    x = g.act([1, 5, 6, 3], 0.05, -128)
    y = g.act([1, 3, 3, 3], 0.05, -128)
    g.op(Op.MAX_POOL_2D, [x], [y], pool_opts(Padding.SAME, (3, 2), (2, 2), Act.RELU6))
    return x, y


@model("MAX_POOL_2D", "2x3 stride 1x2 VALID, zp 127, RELU_N1_TO_1 clamping at 27")
def maxpool_valid_relu_n1(g):
    x = g.act([1, 6, 6, 2], 0.01, 127)
    y = g.act([1, 5, 2, 2], 0.01, 127)
    g.op(Op.MAX_POOL_2D, [x], [y], pool_opts(Padding.VALID, (2, 3), (1, 2), Act.RELU_N1_TO_1))
    return x, y


@model("AVERAGE_POOL_2D", "3x3 stride 2 SAME: corner windows of 4 and 6 elements (H: 0/1, W: 1/1), zp -128")
def avgpool_same_corners(g):
    x = g.act([1, 6, 5, 3], 0.05, -128)
    y = g.act([1, 3, 3, 3], 0.05, -128)
    g.op(Op.AVERAGE_POOL_2D, [x], [y], pool_opts(Padding.SAME, (3, 3), (2, 2)))
    return x, y


@model("AVERAGE_POOL_2D", "4x4 stride 3 SAME (1/2 padding), zp 127, RELU_N1_TO_1 clamping at 77")
def avgpool_same_big_relu_n1(g):
    x = g.act([1, 7, 7, 2], 0.02, 127)
    y = g.act([1, 3, 3, 2], 0.02, 127)
    g.op(Op.AVERAGE_POOL_2D, [x], [y], pool_opts(Padding.SAME, (4, 4), (3, 3), Act.RELU_N1_TO_1))
    return x, y


@model("AVERAGE_POOL_2D", "global 5x5 VALID (25 elements: rounding of negative sums), zp 0")
def avgpool_global(g):
    x = g.act([1, 5, 5, 8], 0.05, 0)
    y = g.act([1, 1, 1, 8], 0.05, 0)
    g.op(Op.AVERAGE_POOL_2D, [x], [y], pool_opts(Padding.VALID, (5, 5), (1, 1)))
    return x, y


# ---- ADD / SUB / MUL -----------------------------------------------------------------------

def binary(g, code, kind, a, b, out_scale, out_zp, act=Act.NONE):
    y = g.act(g.tensors[a]["shape"], out_scale, out_zp)
    g.op(code, [a, b], [y], act_opts(kind, act))
    return y


@model("ADD", "same input scales, input zp -128, RELU6 clamping at 52 (saturates)")
def add_same_scale_relu6(g):
    x = g.act([1, 4, 4, 3], 0.05, -128)
    return x, binary(g, Op.ADD, "Add", x, neighbour_max(g, x), f32(6.0 / 180), -128, Act.RELU6)


@model("ADD", "input scales 1 : 1/300 (FC branch), input zp 127, output zp 127")
def add_tiny_ratio(g):
    x = g.act([1, 32], 0.05, 127)
    f = fc_layer(g, x, 32, f32(0.05 / 300), 0)
    return x, binary(g, Op.ADD, "Add", x, f, f32(0.05 * 1.2), 127)


@model("ADD", "input scales 1 : 7 (FC branch), huge output scale (40x input), output zp 127")
def add_huge_output_scale(g):
    x = g.act([1, 32], 0.05, -128)
    f = fc_layer(g, x, 32, f32(0.05 * 7), 3)
    return x, binary(g, Op.ADD, "Add", x, f, f32(0.05 * 40), 127)


@model("ADD", "output scale 1/40 of the inputs' (saturates), RELU_N1_TO_1")
def add_saturating_relu_n1(g):
    x = g.act([1, 3, 3, 4], 0.5, 0)
    return x, binary(g, Op.ADD, "Add", neighbour_max(g, x), x, f32(1.0 / 80), 0, Act.RELU_N1_TO_1)


@model("SUB", "x - max3x3(x) (never positive), zp -128, output zp 127")
def sub_same_scale(g):
    x = g.act([1, 4, 4, 3], 0.05, -128)
    return x, binary(g, Op.SUB, "Sub", x, neighbour_max(g, x), 0.06, 127)


@model("SUB", "input scales 1 : 1/300 (FC branch), input zp 127, RELU")
def sub_tiny_ratio_relu(g):
    x = g.act([1, 32], 0.05, 127)
    f = fc_layer(g, x, 32, f32(0.05 / 300), 0)
    return x, binary(g, Op.SUB, "Sub", f, x, f32(0.05 * 1.1), -60, Act.RELU)


@model("SUB", "input scales 1 : 5 (FC branch), saturating output, RELU6")
def sub_saturating_relu6(g):
    x = g.act([1, 32], 0.1, 0)
    f = fc_layer(g, x, 32, 0.5, -128)
    return x, binary(g, Op.SUB, "Sub", x, f, f32(6.0 / 255), -128, Act.RELU6)


@model("MUL", "x * max3x3(x), effective scale 1.5 (shift +1, mostly saturates), zp 0 -> -128")
def mul_positive_shift(g):
    x = g.act([1, 4, 4, 3], 0.05, 0)
    return x, binary(g, Op.MUL, "Mul", x, neighbour_max(g, x), f32(0.05 * 0.05 / 1.5), -128)


@model("MUL", "effective scale about 2^-12, input zp 127, output zp -128")
def mul_tiny_scale(g):
    x = g.act([1, 4, 4, 3], 0.05, 127)
    return x, binary(g, Op.MUL, "Mul", x, neighbour_max(g, x), f32(0.05 * 0.05 * 3100), -128)


@model("MUL", "FC branch with another scale, RELU_N1_TO_1 (scale 1/100)")
def mul_relu_n1(g):
    x = g.act([1, 32], 0.05, 5)
    f = fc_layer(g, x, 32, 0.1, -3)
    return x, binary(g, Op.MUL, "Mul", x, f, f32(1.0 / 100), 0, Act.RELU_N1_TO_1)


# ---- RESHAPE / SQUEEZE / EXPAND_DIMS -------------------------------------------------------

@model("RESHAPE", "[1,3,4,5] -> [1,60] (shape tensor), zp -128")
def reshape_4d_to_2d(g):
    x = g.act([1, 3, 4, 5], 0.05, -128)
    y = g.act([1, 60], 0.05, -128)
    g.op(Op.RESHAPE, [x, g.const_i32([1, 60])], [y])
    return x, y


@model("RESHAPE", "[1,24] -> [1,2,3,4] (shape tensor with -1 and new_shape option), zp 127")
def reshape_2d_to_4d(g):
    x = g.act([1, 24], 0.05, 127)
    y = g.act([1, 2, 3, 4], 0.05, 127)
    g.op(Op.RESHAPE, [x, g.const_i32([1, 2, -1, 4])], [y], reshape_opts([1, 2, 3, 4]))
    return x, y


@model("SQUEEZE", "[1,1,1,12] squeeze dims 1,2 -> [1,12]")
def squeeze_dims(g):
    x = g.act([1, 1, 1, 12], 0.05, -128)
    y = g.act([1, 12], 0.05, -128)
    g.op(Op.SQUEEZE, [x], [y], squeeze_opts([1, 2]))
    return x, y


@model("SQUEEZE", "[1,4,1,3] squeeze all unit dims -> [4,3]")
def squeeze_all(g):
    x = g.act([1, 4, 1, 3], 0.05, 127)
    y = g.act([4, 3], 0.05, 127)
    g.op(Op.SQUEEZE, [x], [y], squeeze_opts([]))
    return x, y


@model("EXPAND_DIMS", "[1,12] axis 1 -> [1,1,12]")
def expand_dims_axis1(g):
    x = g.act([1, 12], 0.05, 0)
    y = g.act([1, 1, 12], 0.05, 0)
    g.op(Op.EXPAND_DIMS, [x, g.const_i32([1])], [y], empty_opts("ExpandDims"))
    return x, y


@model("EXPAND_DIMS", "[1,3,4] axis -1 -> [1,3,4,1]")
def expand_dims_last(g):
    x = g.act([1, 3, 4], 0.05, -128)
    y = g.act([1, 3, 4, 1], 0.05, -128)
    g.op(Op.EXPAND_DIMS, [x, g.const_i32([-1])], [y], empty_opts("ExpandDims"))
    return x, y


# ---- SOFTMAX / LOGISTIC / TANH -------------------------------------------------------------

def softmax(g, x, beta):
    y = g.act(g.tensors[x]["shape"], 1.0 / 256, -128)
    g.op(Op.SOFTMAX, [x], [y], softmax_opts(beta))
    return y


@model("SOFTMAX", "input scale 0.5 (differences saturate: near one-hot), zp 127")
def softmax_large_scale(g):
    x = g.act([1, 10], 0.5, 127)
    return x, softmax(g, x, 1.0)


@model("SOFTMAX", "input scale 0.002 (near uniform), zp -128, 16 classes")
def softmax_small_scale(g):
    x = g.act([1, 16], 0.002, -128)
    return x, softmax(g, x, 1.0)


@model("SOFTMAX", "beta 0.25, input scale 0.1")
def softmax_beta(g):
    x = g.act([1, 12], 0.1, 0)
    return x, softmax(g, x, 0.25)


def unary(g, code, x, out_scale, out_zp, options=None):
    y = g.act(g.tensors[x]["shape"], out_scale, out_zp)
    g.op(code, [x], [y], options)
    return y


@model("LOGISTIC", "input scale 0.25 (|x| up to 64: input range radius cuts), zp -128")
def logistic_large_scale(g):
    x = g.act([1, 64], 0.25, -128)
    return x, unary(g, Op.LOGISTIC, x, 1.0 / 256, -128)


@model("LOGISTIC", "input scale 0.002, zp 127")
def logistic_small_scale(g):
    x = g.act([1, 64], 0.002, 127)
    return x, unary(g, Op.LOGISTIC, x, 1.0 / 256, -128)


@model("TANH", "input scale 0.25 (saturates), zp 127")
def tanh_large_scale(g):
    x = g.act([1, 64], 0.25, 127)
    return x, unary(g, Op.TANH, x, 1.0 / 128, 0)


@model("TANH", "input scale 0.002, zp -128")
def tanh_small_scale(g):
    x = g.act([1, 64], 0.002, -128)
    return x, unary(g, Op.TANH, x, 1.0 / 128, 0)


# ---- ARG_MAX -------------------------------------------------------------------------------

@model("ARG_MAX", "[1,24] -> int32 index; ties (first index wins) in the constant inputs")
def argmax_ties(g):
    x = g.act([1, 24], 0.05, -128)
    idx = g.tensor([1], TensorType.INT32)
    g.op(Op.ARG_MAX, [x, g.const_i32([1])], [idx], argmax_opts())
    return x, idx


# ---- CONCATENATION / PAD / MEAN ------------------------------------------------------------

@model("CONCATENATION", "x and max3x3(x) along channels -> [1,4,4,6], zp -128")
def concat_channels(g):
    x = g.act([1, 4, 4, 3], 0.05, -128)
    m = neighbour_max(g, x)
    y = g.act([1, 4, 4, 6], 0.05, -128)
    g.op(Op.CONCATENATION, [x, m], [y], concat_opts(3))
    return x, y


@model("CONCATENATION", "max3x3(x) and x along height (axis 1) -> [1,8,4,3], zp 127")
def concat_height(g):
    x = g.act([1, 4, 4, 3], 0.05, 127)
    m = neighbour_max(g, x)
    y = g.act([1, 8, 4, 3], 0.05, 127)
    g.op(Op.CONCATENATION, [m, x], [y], concat_opts(1))
    return x, y


@model("CONCATENATION", "three inputs along the last axis of [1,N] (negative axis -1)")
def concat_three_2d(g):
    x = g.act([1, 10], 0.05, 0)
    m1 = g.act([1, 10], 0.05, 0)
    g.op(Op.RESHAPE, [x, g.const_i32([1, 10])], [m1])
    y = g.act([1, 30], 0.05, 0)
    g.op(Op.CONCATENATION, [x, m1, x], [y], concat_opts(-1))
    return x, y


@model("PAD", "[1,3,4,2] padded H 1/2, W 2/0 with the zero point -128")
def pad_hw_zp_min(g):
    x = g.act([1, 3, 4, 2], 0.05, -128)
    y = g.act([1, 6, 6, 2], 0.05, -128)
    g.op(Op.PAD, [x, g.const_i32([[0, 0], [1, 2], [2, 0], [0, 0]])], [y], empty_opts("Pad"))
    return x, y


@model("PAD", "[1,3,3,2] padded H 0/1, W 1/1, C 1/2 with the zero point 127")
def pad_channels_zp_max(g):
    x = g.act([1, 3, 3, 2], 0.05, 127)
    y = g.act([1, 4, 5, 5], 0.05, 127)
    g.op(Op.PAD, [x, g.const_i32([[0, 0], [0, 1], [1, 1], [1, 2]])], [y], empty_opts("Pad"))
    return x, y


@model("PAD", "[1,10] padded 3/2, zp 9")
def pad_2d(g):
    x = g.act([1, 10], 0.05, 9)
    y = g.act([1, 15], 0.05, 9)
    g.op(Op.PAD, [x, g.const_i32([[0, 0], [3, 2]])], [y], empty_opts("Pad"))
    return x, y


def mean(g, x, axes, out_shape, out_scale, out_zp, keep):
    y = g.act(out_shape, out_scale, out_zp)
    g.op(Op.MEAN, [x, g.const_i32(axes)], [y], reducer_opts(keep))
    return y


@model("MEAN", "axes 1,2 keep_dims (global average), same quantization, zp -128")
def mean_hw_keep(g):
    x = g.act([1, 5, 5, 8], 0.05, -128)
    return x, mean(g, x, [1, 2], [1, 1, 1, 8], 0.05, -128, True)


@model("MEAN", "axes 1,2 keep_dims, requantized (output scale 3x, zp 127 -> -7)")
def mean_hw_requant(g):
    x = g.act([1, 4, 6, 5], 0.05, 127)
    return x, mean(g, x, [1, 2], [1, 1, 1, 5], 0.15, -7, True)


@model("MEAN", "axes 1,2 without keep_dims -> [1,6], output scale 1/5 of the input's (saturates)")
def mean_hw_nokeep_saturating(g):
    x = g.act([1, 3, 3, 6], 0.05, 0)
    return x, mean(g, x, [1, 2], [1, 6], 0.01, 3, False)


@model("MEAN", "axis 3 (channels) without keep_dims -> [1,4,4], zp -128 -> 20")
def mean_channels(g):
    x = g.act([1, 4, 4, 7], 0.05, -128)
    return x, mean(g, x, [3], [1, 4, 4], 0.07, 20, False)


@model("MEAN", "[1,40] axis 1 keep_dims -> [1,1], same quantization")
def mean_2d(g):
    x = g.act([1, 40], 0.05, 11)
    return x, mean(g, x, [1], [1, 1], 0.05, 11, True)


# ---- QUANTIZE (int8 -> int8) ---------------------------------------------------------------

@model("QUANTIZE", "int8 -> int8, scale x60 (effective 1/60: ties at odd multiples of 30), zp 127 -> 127")
def quantize_tiny_ratio(g):
    x = g.act([1, 64], 0.01, 127)
    return x, unary(g, Op.QUANTIZE, x, 0.6, 127)


@model("QUANTIZE", "int8 -> int8, scale /40 (effective 40, shift +6, saturates), zp 127 -> -3")
def quantize_huge_ratio(g):
    x = g.act([1, 64], 0.04, 127)
    return x, unary(g, Op.QUANTIZE, x, 0.001, -3)


@model("QUANTIZE", "int8 -> int8, same scale, zp 0 -> 100 (saturates)")
def quantize_zp_only(g):
    x = g.act([1, 64], 0.05, 0)
    return x, unary(g, Op.QUANTIZE, x, 0.05, 100)


@model("QUANTIZE", "int8 -> int8, effective scale 0.8 (rounding ties at .5 steps), zp 5 -> -5")
def quantize_ratio_0_8(g):
    x = g.act([1, 64], 0.04, 5)
    return x, unary(g, Op.QUANTIZE, x, 0.05, -5)


# ---- HARD_SWISH / LEAKY_RELU ---------------------------------------------------------------

@model("HARD_SWISH", "input scale 0.05 zp -128 ([0, 12.75]), output scale 0.03 (saturates above 7.6)")
def hard_swish_positive(g):
    x = g.act([1, 64], 0.05, -128)
    return x, unary(g, Op.HARD_SWISH, x, 0.03, -128, empty_opts("HardSwish"))


@model("HARD_SWISH", "input scale 0.1 zp 0 ([-12.8, 12.7]), output scale 0.05 zp -120")
def hard_swish_wide(g):
    x = g.act([1, 64], 0.1, 0)
    return x, unary(g, Op.HARD_SWISH, x, 0.05, -120, empty_opts("HardSwish"))


@model("HARD_SWISH", "input scale 0.01 zp 127 ([-2.55, 0]: the curved part), output scale 0.002 zp 127")
def hard_swish_negative(g):
    x = g.act([1, 64], 0.01, 127)
    return x, unary(g, Op.HARD_SWISH, x, 0.002, 127, empty_opts("HardSwish"))


@model("LEAKY_RELU", "alpha 0.01, input zp 127 (all non-positive), output zp -128")
def leaky_relu_small_alpha(g):
    x = g.act([1, 64], 0.05, 127)
    return x, unary(g, Op.LEAKY_RELU, x, 0.002, 100, leaky_opts(0.01))


@model("LEAKY_RELU", "alpha 3 (alpha multiplier > 1: positive shift), output scale /3 (saturates)")
def leaky_relu_big_alpha(g):
    x = g.act([1, 64], 0.02, 0)
    return x, unary(g, Op.LEAKY_RELU, x, 0.02 / 3, -10, leaky_opts(3.0))


@model("LEAKY_RELU", "alpha 0.2, input zp -128 (identity branch only) -> output zp -128, scale x0.8 (saturates)")
def leaky_relu_zp_ends(g):
    x = g.act([1, 64], 0.05, -128)
    return x, unary(g, Op.LEAKY_RELU, x, 0.04, -128, leaky_opts(0.2))


def main():
    args = sys.argv[1:]
    if "--list" in args:
        for name, (op, what, _) in MODELS.items():
            print(f"{name:32} {op:18} {what}")
        return 0
    check = "--check" in args
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name in MODELS:
        data = build(name)
        assert len(data) < 16384, f"{name}: {len(data)} bytes; keep the op models small"
        path = OUT / f"{name}.tflite"
        if check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path.name)
            continue
        path.write_bytes(data)
        print(f"{name}.tflite: {len(data)} bytes")
    extra = sorted(p.name for p in OUT.glob("*.tflite") if p.stem not in MODELS)
    if extra:
        print(f"{OUT}: .tflite files this script does not write: {extra}")
        return 1
    if stale:
        print(f"testdata/tflite/tflm: committed models differ from what this script writes: {stale}")
        return 1
    if check:
        print(f"{len(MODELS)} TFLM op models in testdata/tflite/tflm/ reproduced byte for byte")
    return 0


if __name__ == "__main__":
    sys.exit(main())
