#!/usr/bin/env python3
"""Write the int8 .tflite test models in testdata/tflite/ directly as flatbuffers.

No TensorFlow: the flatbuffer is assembled with the `flatbuffers` runtime and the schema
classes of the `tflite` package (scripts/requirements.txt). Weights and quantization
parameters come from fixed-seed numpy generators, so re-running reproduces the files.

`--check` regenerates in memory and fails if a checked-in file differs.

Each model isolates a few ops, so a mismatch against LiteRT points at one op:
  fc_relu          FULLY_CONNECTED (per-tensor weights) + RELU, then FULLY_CONNECTED + RELU6
  fc_per_channel   FULLY_CONNECTED with per-channel weight scales, RELU_N1_TO_1
  conv_pool        CONV_2D (SAME, per-channel, RELU6), MAX_POOL_2D, DEPTHWISE_CONV_2D
                   (stride 2, depth multiplier 2), AVERAGE_POOL_2D (SAME), RESHAPE, FULLY_CONNECTED
  conv_dilated     CONV_2D with dilation 2 (VALID) and stride 2 (asymmetric SAME padding)
  add_mul          ADD (+RELU) and MUL of two convolution branches
  argmax           FULLY_CONNECTED then ARG_MAX (int32 output)
  softmax          FULLY_CONNECTED then SOFTMAX
  logistic         LOGISTIC
  tanh             TANH
  fc_from_image    FULLY_CONNECTED (per-channel) reading a [1, 3, 3, 4] image directly
  add_only         FULLY_CONNECTED then ADD (isolates ADD)
  mul_only         FULLY_CONNECTED then MUL (isolates MUL)
  conv_only        one CONV_2D
  depthwise_only   one DEPTHWISE_CONV_2D (depth multiplier 2)
  pools_only       MAX_POOL_2D (VALID, RELU) then AVERAGE_POOL_2D (SAME)
  unsupported_sub  SUB (must be rejected by the importer, naming the op)
"""
import importlib
import pathlib
import sys

import flatbuffers
import numpy as np
import tflite
from tflite.ActivationFunctionType import ActivationFunctionType as Act
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.BuiltinOptions import BuiltinOptions as Opt
from tflite.Padding import Padding
from tflite.TensorType import TensorType

def M(name):
    """A schema module of the `tflite` package (its __init__ shadows modules with classes)."""
    return importlib.import_module(f"tflite.{name}")


OUT = pathlib.Path(__file__).resolve().parent.parent / "testdata" / "tflite"


class Graph:
    # The model's description string (scripts/make_tflm_op_models.py writes its own).
    description = "aiop test model (scripts/make_tflite_models.py)"

    def __init__(self, seed):
        self.rng = np.random.RandomState(seed)
        self.tensors = []
        self.buffers = [b""]
        self.ops = []
        self.codes = []

    def tensor(self, shape, ttype=TensorType.INT8, scale=None, zp=None, data=None, qdim=0):
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append(dict(shape=list(shape), type=ttype, buffer=buf, scale=scale, zp=zp, qdim=qdim,
                                 name=f"t{len(self.tensors)}"))
        return len(self.tensors) - 1

    def act(self, shape, scale, zp):
        return self.tensor(shape, scale=[float(scale)], zp=[int(zp)])

    def weights(self, shape, scales, qdim=0):
        w = self.rng.randint(-127, 128, size=shape).astype(np.int8)
        return self.tensor(shape, scale=[float(s) for s in scales], zp=[0] * len(scales), data=w, qdim=qdim)

    def bias(self, n, scale, magnitude=3000):
        b = self.rng.randint(-magnitude, magnitude + 1, size=(n,)).astype(np.int32)
        return self.tensor([n], TensorType.INT32, scale=[float(scale)] * 1, zp=[0], data=b)

    def op(self, code, inputs, outputs, options=None):
        if code not in self.codes:
            self.codes.append(code)
        self.ops.append((self.codes.index(code), inputs, outputs, options))

    def serialize(self, inputs, outputs):
        b = flatbuffers.Builder(4096)

        def ivec(start, values):
            start(b, len(values))
            for v in reversed(values):
                b.PrependInt32(v)
            return b.EndVector()

        buffers = []
        for data in self.buffers:
            vec = b.CreateByteVector(data) if data else None
            M("Buffer").BufferStart(b)
            if vec is not None:
                M("Buffer").BufferAddData(b, vec)
            buffers.append(M("Buffer").BufferEnd(b))

        tensors = []
        for t in self.tensors:
            name = b.CreateString(t["name"])
            shape = ivec(M("Tensor").TensorStartShapeVector, t["shape"])
            quant = None
            if t["scale"] is not None:
                M("QuantizationParameters").QuantizationParametersStartScaleVector(b, len(t["scale"]))
                for s in reversed(t["scale"]):
                    b.PrependFloat32(s)
                scale = b.EndVector()
                M("QuantizationParameters").QuantizationParametersStartZeroPointVector(b, len(t["zp"]))
                for z in reversed(t["zp"]):
                    b.PrependInt64(z)
                zp = b.EndVector()
                M("QuantizationParameters").QuantizationParametersStart(b)
                M("QuantizationParameters").QuantizationParametersAddScale(b, scale)
                M("QuantizationParameters").QuantizationParametersAddZeroPoint(b, zp)
                M("QuantizationParameters").QuantizationParametersAddQuantizedDimension(b, t["qdim"])
                quant = M("QuantizationParameters").QuantizationParametersEnd(b)
            M("Tensor").TensorStart(b)
            M("Tensor").TensorAddShape(b, shape)
            M("Tensor").TensorAddType(b, t["type"])
            M("Tensor").TensorAddBuffer(b, t["buffer"])
            M("Tensor").TensorAddName(b, name)
            if quant is not None:
                M("Tensor").TensorAddQuantization(b, quant)
            tensors.append(M("Tensor").TensorEnd(b))

        ops = []
        for index, ins, outs, options in self.ops:
            opt = None
            if options is not None:
                opt_type, build = options
                opt = build(b)
            ins_v = ivec(M("Operator").OperatorStartInputsVector, ins)
            outs_v = ivec(M("Operator").OperatorStartOutputsVector, outs)
            M("Operator").OperatorStart(b)
            M("Operator").OperatorAddOpcodeIndex(b, index)
            M("Operator").OperatorAddInputs(b, ins_v)
            M("Operator").OperatorAddOutputs(b, outs_v)
            if opt is not None:
                M("Operator").OperatorAddBuiltinOptionsType(b, opt_type)
                M("Operator").OperatorAddBuiltinOptions(b, opt)
            ops.append(M("Operator").OperatorEnd(b))

        def tvec(start, items):
            start(b, len(items))
            for it in reversed(items):
                b.PrependUOffsetTRelative(it)
            return b.EndVector()

        tensors_v = tvec(M("SubGraph").SubGraphStartTensorsVector, tensors)
        ops_v = tvec(M("SubGraph").SubGraphStartOperatorsVector, ops)
        in_v = ivec(M("SubGraph").SubGraphStartInputsVector, inputs)
        out_v = ivec(M("SubGraph").SubGraphStartOutputsVector, outputs)
        sg_name = b.CreateString("main")
        M("SubGraph").SubGraphStart(b)
        M("SubGraph").SubGraphAddTensors(b, tensors_v)
        M("SubGraph").SubGraphAddInputs(b, in_v)
        M("SubGraph").SubGraphAddOutputs(b, out_v)
        M("SubGraph").SubGraphAddOperators(b, ops_v)
        M("SubGraph").SubGraphAddName(b, sg_name)
        subgraph = M("SubGraph").SubGraphEnd(b)

        codes = []
        for code in self.codes:
            M("OperatorCode").OperatorCodeStart(b)
            M("OperatorCode").OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            M("OperatorCode").OperatorCodeAddBuiltinCode(b, code)
            M("OperatorCode").OperatorCodeAddVersion(b, 1)
            codes.append(M("OperatorCode").OperatorCodeEnd(b))
        codes_v = tvec(M("Model").ModelStartOperatorCodesVector, codes)
        subgraphs_v = tvec(M("Model").ModelStartSubgraphsVector, [subgraph])
        buffers_v = tvec(M("Model").ModelStartBuffersVector, buffers)
        desc = b.CreateString(self.description)
        M("Model").ModelStart(b)
        M("Model").ModelAddVersion(b, 3)
        M("Model").ModelAddOperatorCodes(b, codes_v)
        M("Model").ModelAddSubgraphs(b, subgraphs_v)
        M("Model").ModelAddDescription(b, desc)
        M("Model").ModelAddBuffers(b, buffers_v)
        b.Finish(M("Model").ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


# ---- options -------------------------------------------------------------------------------

def conv_opts(padding, stride=(1, 1), dilation=(1, 1), act=Act.NONE):
    def build(b):
        m = M("Conv2DOptions")
        m.Conv2DOptionsStart(b)
        m.Conv2DOptionsAddPadding(b, padding)
        m.Conv2DOptionsAddStrideH(b, stride[0])
        m.Conv2DOptionsAddStrideW(b, stride[1])
        m.Conv2DOptionsAddDilationHFactor(b, dilation[0])
        m.Conv2DOptionsAddDilationWFactor(b, dilation[1])
        m.Conv2DOptionsAddFusedActivationFunction(b, act)
        return m.Conv2DOptionsEnd(b)
    return (Opt.Conv2DOptions, build)


def dw_opts(padding, stride, multiplier, act=Act.NONE):
    def build(b):
        m = M("DepthwiseConv2DOptions")
        m.DepthwiseConv2DOptionsStart(b)
        m.DepthwiseConv2DOptionsAddPadding(b, padding)
        m.DepthwiseConv2DOptionsAddStrideH(b, stride[0])
        m.DepthwiseConv2DOptionsAddStrideW(b, stride[1])
        m.DepthwiseConv2DOptionsAddDepthMultiplier(b, multiplier)
        m.DepthwiseConv2DOptionsAddDilationHFactor(b, 1)
        m.DepthwiseConv2DOptionsAddDilationWFactor(b, 1)
        m.DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
        return m.DepthwiseConv2DOptionsEnd(b)
    return (Opt.DepthwiseConv2DOptions, build)


def pool_opts(padding, filt, stride, act=Act.NONE):
    def build(b):
        m = M("Pool2DOptions")
        m.Pool2DOptionsStart(b)
        m.Pool2DOptionsAddPadding(b, padding)
        m.Pool2DOptionsAddFilterHeight(b, filt[0])
        m.Pool2DOptionsAddFilterWidth(b, filt[1])
        m.Pool2DOptionsAddStrideH(b, stride[0])
        m.Pool2DOptionsAddStrideW(b, stride[1])
        m.Pool2DOptionsAddFusedActivationFunction(b, act)
        return m.Pool2DOptionsEnd(b)
    return (Opt.Pool2DOptions, build)


def fc_opts(act=Act.NONE):
    def build(b):
        m = M("FullyConnectedOptions")
        m.FullyConnectedOptionsStart(b)
        m.FullyConnectedOptionsAddFusedActivationFunction(b, act)
        return m.FullyConnectedOptionsEnd(b)
    return (Opt.FullyConnectedOptions, build)


def act_opts(kind, act):
    def build(b):
        m = M(f"{kind}Options")
        getattr(m, f"{kind}OptionsStart")(b)
        getattr(m, f"{kind}OptionsAddFusedActivationFunction")(b, act)
        return getattr(m, f"{kind}OptionsEnd")(b)
    return (getattr(Opt, f"{kind}Options"), build)


def softmax_opts(beta):
    def build(b):
        M("SoftmaxOptions").SoftmaxOptionsStart(b)
        M("SoftmaxOptions").SoftmaxOptionsAddBeta(b, beta)
        return M("SoftmaxOptions").SoftmaxOptionsEnd(b)
    return (Opt.SoftmaxOptions, build)


def argmax_opts():
    def build(b):
        M("ArgMaxOptions").ArgMaxOptionsStart(b)
        M("ArgMaxOptions").ArgMaxOptionsAddOutputType(b, TensorType.INT32)
        return M("ArgMaxOptions").ArgMaxOptionsEnd(b)
    return (Opt.ArgMaxOptions, build)


# ---- layers --------------------------------------------------------------------------------

def out_scale(g, in_scale, w_scales, depth):
    """An output scale that spreads a layer's typical accumulator over the int8 range."""
    typical = in_scale * float(np.mean(w_scales)) * np.sqrt(depth) * 73.0 * 74.0
    return float(np.float32(typical / 40.0))


def w_scales(g, n, per_channel=True, mean=0.012):
    if per_channel:
        return [float(np.float32(s)) for s in g.rng.uniform(0.4 * mean, 1.6 * mean, size=n)]
    return [float(np.float32(g.rng.uniform(0.4 * mean, 1.6 * mean)))]


# Bounded activations get weights scaled so that a typical pre-activation lands inside the
# bound, and an output scale that spans the bound, so the clamp is exercised but not everywhere.
BOUNDED = {Act.RELU6: (3.0, 6.0 / 220.0, -120), Act.RELU_N1_TO_1: (0.7, 1.0 / 110.0, 0)}


def bounded_weights(g, n, in_scale, depth, act, per_channel=True):
    target, s, zp = BOUNDED[act]
    mean = target / (in_scale * np.sqrt(depth) * 73.0 * 74.0)
    return w_scales(g, n, per_channel, mean), float(np.float32(s)), zp


def fc(g, x, in_shape, in_scale, n, act=Act.NONE, per_channel=False, zp=None):
    k = in_shape[-1]
    if act in BOUNDED:
        ws, s, zp = bounded_weights(g, n, in_scale, k, act, per_channel)
    else:
        ws = w_scales(g, n, per_channel)
        s = out_scale(g, in_scale, ws, k)
        zp = int(g.rng.randint(-20, 20)) if zp is None else zp
    w = g.weights([n, k], ws)
    b = g.bias(n, in_scale * ws[0])
    y = g.act(list(in_shape[:-1]) + [n], s, zp)
    g.op(Op.FULLY_CONNECTED, [x, w, b], [y], fc_opts(act))
    return y, s


def conv(g, x, in_scale, cin, cout, k, out_shape, padding, stride=(1, 1), dilation=(1, 1), act=Act.NONE):
    depth = k[0] * k[1] * cin
    if act in BOUNDED:
        ws, s, zp = bounded_weights(g, cout, in_scale, depth, act)
    else:
        ws = w_scales(g, cout)
        s = out_scale(g, in_scale, ws, depth)
        zp = int(g.rng.randint(-30, 30))
    w = g.weights([cout, k[0], k[1], cin], ws)
    b = g.bias(cout, in_scale * ws[0])
    y = g.act(out_shape, s, zp)
    g.op(Op.CONV_2D, [x, w, b], [y], conv_opts(padding, stride, dilation, act))
    return y, s


def model_fc_relu():
    g = Graph(11)
    x = g.act([1, 48], 0.05, 3)
    h, s = fc(g, x, [1, 48], 0.05, 24, Act.RELU)
    y, _ = fc(g, h, [1, 24], s, 12, Act.RELU6)
    return g.serialize([x], [y])


def model_fc_per_channel():
    g = Graph(12)
    x = g.act([1, 40], 0.03, -7)
    y, _ = fc(g, x, [1, 40], 0.03, 16, Act.RELU_N1_TO_1, per_channel=True)
    return g.serialize([x], [y])


def model_conv_pool():
    g = Graph(13)
    x = g.act([1, 9, 9, 3], 0.02, -5)
    c1, s1 = conv(g, x, 0.02, 3, 8, (3, 3), [1, 9, 9, 8], Padding.SAME, act=Act.RELU6)
    p1 = g.tensors[c1]
    m1 = g.act([1, 4, 4, 8], s1, p1["zp"][0])
    g.op(Op.MAX_POOL_2D, [c1], [m1], pool_opts(Padding.VALID, (2, 2), (2, 2)))
    ws = w_scales(g, 16)
    dw = g.weights([1, 3, 3, 16], ws, qdim=3)
    db = g.bias(16, s1 * ws[0])
    s2 = out_scale(g, s1, ws, 9)
    d1 = g.act([1, 2, 2, 16], s2, 4)
    g.op(Op.DEPTHWISE_CONV_2D, [m1, dw, db], [d1], dw_opts(Padding.SAME, (2, 2), 2, Act.RELU))
    a1 = g.act([1, 1, 1, 16], s2, 4)
    g.op(Op.AVERAGE_POOL_2D, [d1], [a1], pool_opts(Padding.SAME, (3, 3), (2, 2)))
    flat = g.act([1, 16], s2, 4)
    shape = g.tensor([2], TensorType.INT32, data=np.array([1, 16], dtype=np.int32))
    g.op(Op.RESHAPE, [a1, shape], [flat])
    y, _ = fc(g, flat, [1, 16], s2, 10)
    return g.serialize([x], [y])


def model_conv_dilated():
    g = Graph(14)
    x = g.act([1, 11, 10, 4], 0.04, 9)
    c1, s1 = conv(g, x, 0.04, 4, 6, (3, 2), [1, 7, 8, 6], Padding.VALID, dilation=(2, 2))
    c2, _ = conv(g, c1, s1, 6, 5, (2, 3), [1, 4, 4, 5], Padding.SAME, stride=(2, 2), act=Act.RELU)
    return g.serialize([x], [c2])


def model_add_mul():
    g = Graph(15)
    x = g.act([1, 5, 5, 6], 0.03, -11)
    a, sa = conv(g, x, 0.03, 6, 6, (1, 1), [1, 5, 5, 6], Padding.SAME)
    c, sc = conv(g, x, 0.03, 6, 6, (3, 3), [1, 5, 5, 6], Padding.SAME)
    s_sum = float(np.float32((sa + sc) * 1.3))
    total = g.act([1, 5, 5, 6], s_sum, -17)
    g.op(Op.ADD, [a, c], [total], act_opts("Add", Act.RELU))
    s_prod = float(np.float32(s_sum * sa * 30.0))
    prod = g.act([1, 5, 5, 6], s_prod, 6)
    g.op(Op.MUL, [total, a], [prod], act_opts("Mul", Act.NONE))
    return g.serialize([x], [prod])


def model_argmax():
    g = Graph(16)
    x = g.act([1, 30], 0.05, 0)
    y, _ = fc(g, x, [1, 30], 0.05, 10)
    axis = g.tensor([1], TensorType.INT32, data=np.array([1], dtype=np.int32))
    idx = g.tensor([1], TensorType.INT32)
    g.op(Op.ARG_MAX, [y, axis], [idx], argmax_opts())
    return g.serialize([x], [idx])


def model_softmax():
    g = Graph(17)
    x = g.act([1, 20], 0.05, 2)
    y, _ = fc(g, x, [1, 20], 0.05, 10)
    p = g.act([1, 10], 1.0 / 256, -128)
    g.op(Op.SOFTMAX, [y], [p], softmax_opts(1.0))
    return g.serialize([x], [p])


def model_logistic():
    g = Graph(18)
    x = g.act([1, 64], 0.06, 10)
    y = g.act([1, 64], 1.0 / 256, -128)
    g.op(Op.LOGISTIC, [x], [y])
    return g.serialize([x], [y])


def model_tanh():
    g = Graph(19)
    x = g.act([1, 64], 0.03, -4)
    y = g.act([1, 64], 1.0 / 128, 0)
    g.op(Op.TANH, [x], [y])
    return g.serialize([x], [y])


def model_unsupported_sub():
    g = Graph(20)
    x = g.act([1, 8], 0.05, 0)
    z = g.act([1, 8], 0.05, 0)
    y = g.act([1, 8], 0.1, 0)
    g.op(Op.SUB, [x, z], [y])
    return g.serialize([x], [y])


def model_add_only():
    g = Graph(21)
    x = g.act([1, 24], 0.05, -3)
    a, sa = fc(g, x, [1, 24], 0.05, 24)
    y = g.act([1, 24], float(np.float32((0.05 + sa) * 0.9)), 5)
    g.op(Op.ADD, [x, a], [y], act_opts("Add", Act.NONE))
    return g.serialize([x], [y])


def model_mul_only():
    g = Graph(22)
    x = g.act([1, 24], 0.05, -3)
    a, sa = fc(g, x, [1, 24], 0.05, 24)
    y = g.act([1, 24], float(np.float32(0.05 * sa * 45.0)), -2)
    g.op(Op.MUL, [x, a], [y], act_opts("Mul", Act.NONE))
    return g.serialize([x], [y])


def model_conv_only():
    g = Graph(23)
    x = g.act([1, 8, 8, 3], 0.03, 1)
    y, _ = conv(g, x, 0.03, 3, 8, (3, 3), [1, 8, 8, 8], Padding.SAME)
    return g.serialize([x], [y])


def model_depthwise_only():
    g = Graph(24)
    x = g.act([1, 8, 8, 4], 0.03, -6)
    ws = w_scales(g, 8)
    dw = g.weights([1, 3, 3, 8], ws, qdim=3)
    db = g.bias(8, 0.03 * ws[0])
    s = out_scale(g, 0.03, ws, 9)
    y = g.act([1, 8, 8, 8], s, 3)
    g.op(Op.DEPTHWISE_CONV_2D, [x, dw, db], [y], dw_opts(Padding.SAME, (1, 1), 2))
    return g.serialize([x], [y])


def model_pools_only():
    g = Graph(25)
    x = g.act([1, 7, 7, 3], 0.03, -6)
    m1 = g.act([1, 3, 3, 3], 0.03, -6)
    g.op(Op.MAX_POOL_2D, [x], [m1], pool_opts(Padding.VALID, (3, 2), (2, 2), Act.RELU))
    a1 = g.act([1, 2, 2, 3], 0.03, -6)
    g.op(Op.AVERAGE_POOL_2D, [m1], [a1], pool_opts(Padding.SAME, (2, 3), (2, 2)))
    return g.serialize([x], [a1])


def model_fc_from_image():
    g = Graph(26)
    x = g.act([1, 3, 3, 4], 0.04, 12)
    ws = w_scales(g, 10)
    w = g.weights([10, 36], ws)
    b = g.bias(10, 0.04 * ws[0])
    y = g.act([1, 10], out_scale(g, 0.04, ws, 36), -9)
    g.op(Op.FULLY_CONNECTED, [x, w, b], [y], fc_opts(Act.RELU))
    return g.serialize([x], [y])


MODELS = {
    "fc_relu": model_fc_relu,
    "fc_per_channel": model_fc_per_channel,
    "conv_pool": model_conv_pool,
    "conv_dilated": model_conv_dilated,
    "add_mul": model_add_mul,
    "argmax": model_argmax,
    "softmax": model_softmax,
    "logistic": model_logistic,
    "tanh": model_tanh,
    "fc_from_image": model_fc_from_image,
    "add_only": model_add_only,
    "mul_only": model_mul_only,
    "conv_only": model_conv_only,
    "depthwise_only": model_depthwise_only,
    "pools_only": model_pools_only,
    "unsupported_sub": model_unsupported_sub,
}


def main():
    check = "--check" in sys.argv[1:]
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, make in MODELS.items():
        data = make()
        path = OUT / f"{name}.tflite"
        if check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path.name)
            continue
        path.write_bytes(data)
        print(f"{name}.tflite: {len(data)} bytes")
    if stale:
        print(f"checked-in models differ from what this script writes: {stale}")
        return 1
    if check:
        print(f"{len(MODELS)} .tflite models reproduced byte for byte")
    return 0


if __name__ == "__main__":
    sys.exit(main())
