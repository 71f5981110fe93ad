//! Import of int8 TensorFlow Lite models (`.tflite` flatbuffers, schema v3).
//!
//! The importer writes either model-format version ([`FormatVersion`]):
//!
//! - **v2** (the default): TensorFlow Lite Micro's int8 kernels, op by op, with double
//!   rounding. Every parameter is derived from the file's float scales exactly as TFLM's
//!   `Prepare` derives it, in the precision it uses ([`crate::qmath`] names the TFLM build).
//!   v2 adds SUB, CONCATENATION, PAD, PADV2, MEAN, QUANTIZE (int8 to int8), HARD_SWISH,
//!   LEAKY_RELU, SQUEEZE and EXPAND_DIMS.
//! - **v1**: single rounding, parameters derived as LiteRT derives them (single-rounding
//!   build), so the imported model computes, byte for byte, what LiteRT's reference kernels
//!   (`BUILTIN_REF`) compute for FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D, ADD, RESHAPE
//!   and ARG_MAX. SOFTMAX, LOGISTIC and TANH import with TensorFlow Lite Micro's integer
//!   (gemmlowp) semantics, which is what the engine computes; LiteRT itself evaluates those
//!   three int8 ops with float lookup tables, so they can differ from LiteRT by one step on
//!   some inputs (see `docs/models.md`).

mod fb;
mod names;
mod v2;

use std::collections::HashMap;

use aiop_engine::{
    Clamp, ConvWindow, DType, FormatVersion, Model, ModelBuilder, Op, Padding, PoolWindow, Scale, Tensor, TensorId,
};

use crate::error::{Result, ToolsError};
use crate::qmath::{q4_input_params, quantize_multiplier, quantize_multiplier_v2, softmax_params, softmax_params_v2};
use fb::Table;
pub use names::op_name;

/// The operators a format v1 import accepts.
pub const SUPPORTED_V1: &str = "FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D, ADD, \
     MUL, RESHAPE, SOFTMAX, LOGISTIC, TANH, ARG_MAX (int8, with fused NONE/RELU/RELU6/RELU_N1_TO_1)";

/// The operators a format v2 import accepts.
pub const SUPPORTED_V2: &str = "FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D, ADD, \
     SUB, MUL, RESHAPE, SQUEEZE, EXPAND_DIMS, SOFTMAX, LOGISTIC, TANH, ARG_MAX, CONCATENATION, PAD, PADV2, MEAN, \
     QUANTIZE (int8 to int8), HARD_SWISH, LEAKY_RELU (int8, with fused NONE/RELU/RELU6/RELU_N1_TO_1)";

/// The operators the importer accepts for a format version.
pub fn supported(version: FormatVersion) -> &'static str {
    match version {
        FormatVersion::V1 => SUPPORTED_V1,
        FormatVersion::V2 | FormatVersion::V3 => SUPPORTED_V2,
    }
}

const ADD: i32 = 0;
const AVERAGE_POOL_2D: i32 = 1;
const CONCATENATION: i32 = 2;
const CONV_2D: i32 = 3;
const DEPTHWISE_CONV_2D: i32 = 4;
const DEQUANTIZE: i32 = 6;
const FULLY_CONNECTED: i32 = 9;
const LOGISTIC: i32 = 14;
const MAX_POOL_2D: i32 = 17;
const MUL: i32 = 18;
const RESHAPE: i32 = 22;
const SOFTMAX: i32 = 25;
const TANH: i32 = 28;
const PAD: i32 = 34;
const MEAN: i32 = 40;
const SUB: i32 = 41;
const SQUEEZE: i32 = 43;
const ARG_MAX: i32 = 56;
const PADV2: i32 = 60;
const EXPAND_DIMS: i32 = 70;
const LEAKY_RELU: i32 = 98;
const QUANTIZE: i32 = 114;
const HARD_SWISH: i32 = 117;

/// Operators both format versions import.
fn in_v1(code: i32) -> bool {
    matches!(
        code,
        ADD | AVERAGE_POOL_2D
            | CONV_2D
            | DEPTHWISE_CONV_2D
            | FULLY_CONNECTED
            | LOGISTIC
            | MAX_POOL_2D
            | MUL
            | RESHAPE
            | SOFTMAX
            | TANH
            | ARG_MAX
    )
}

/// Operators only format v2 imports.
fn only_in_v2(code: i32) -> bool {
    matches!(
        code,
        SUB | CONCATENATION | PAD | PADV2 | MEAN | QUANTIZE | HARD_SWISH | LEAKY_RELU | SQUEEZE | EXPAND_DIMS
    )
}

const CUSTOM: i32 = 32;

const TYPE_FLOAT32: i8 = 0;
const TYPE_INT32: i8 = 2;
const TYPE_INT8: i8 = 9;

fn type_name(t: i8) -> &'static str {
    match t {
        0 => "FLOAT32",
        1 => "FLOAT16",
        2 => "INT32",
        3 => "UINT8",
        4 => "INT64",
        5 => "STRING",
        6 => "BOOL",
        7 => "INT16",
        9 => "INT8",
        _ => "another type",
    }
}

/// One tensor of the file.
#[derive(Debug, Clone)]
struct TfTensor {
    name: String,
    shape: Vec<i32>,
    dtype: i8,
    buffer: usize,
    scales: Vec<f32>,
    zero_points: Vec<i64>,
    quantized_dimension: i32,
}

/// One operator of the file.
#[derive(Debug, Clone)]
struct TfOp<'a> {
    code: i32,
    /// The name of a custom operator (`code` is then [`CUSTOM`]).
    custom: Option<String>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: Option<Table<'a>>,
}

/// The parsed parts of a `.tflite` file the importer uses.
struct TfModel<'a> {
    tensors: Vec<TfTensor>,
    buffers: Vec<&'a [u8]>,
    ops: Vec<TfOp<'a>>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
}

fn bad(what: impl Into<String>) -> ToolsError {
    ToolsError::TfliteFormat(what.into())
}

fn parse(data: &[u8]) -> Result<TfModel<'_>> {
    if data.len() < 8 || &data[4..8] != b"TFL3" {
        return Err(bad("not a TensorFlow Lite flatbuffer (no TFL3 identifier at byte 4)"));
    }
    let root = Table::root(data)?;
    let version = root.u32(0, 0)?;
    if version != 3 {
        return Err(bad(format!("schema version {version}; only version 3 is supported")));
    }
    let mut codes = Vec::new();
    for oc in root.vector(1, 4)?.map(|v| v.tables()).transpose()?.unwrap_or_default() {
        let deprecated = i32::from(oc.i8(0, 0)?);
        let builtin = oc.i32(3, 0)?;
        let code = deprecated.max(builtin);
        codes.push(if code == 32 { Err(oc.string(1)?.unwrap_or_default()) } else { Ok(code) });
    }
    let mut buffers = Vec::new();
    for b in root.vector(4, 4)?.map(|v| v.tables()).transpose()?.unwrap_or_default() {
        if b.u32(1, 0)? != 0 || b.u32(2, 0)? != 0 {
            return Err(bad("buffers stored outside the flatbuffer (files over 2 GB) are not supported"));
        }
        buffers.push(b.vector(0, 1)?.map_or(&[][..], |v| v.bytes()));
    }
    let subgraphs = root.vector(2, 4)?.map(|v| v.tables()).transpose()?.unwrap_or_default();
    if subgraphs.len() != 1 {
        return Err(bad(format!(
            "the model has {} subgraphs; only single-subgraph models (no control flow) can be imported",
            subgraphs.len()
        )));
    }
    let sg = subgraphs[0];
    let mut tensors = Vec::new();
    for t in sg.vector(0, 4)?.map(|v| v.tables()).transpose()?.unwrap_or_default() {
        let (scales, zero_points, quantized_dimension) = match t.table(4)? {
            Some(q) => (
                q.vector(2, 4)?.map(|v| v.f32s()).transpose()?.unwrap_or_default(),
                q.vector(3, 8)?.map(|v| v.i64s()).transpose()?.unwrap_or_default(),
                q.i32(6, 0)?,
            ),
            None => (Vec::new(), Vec::new(), 0),
        };
        tensors.push(TfTensor {
            name: t.string(3)?.unwrap_or_default(),
            shape: t.vector(0, 4)?.map(|v| v.i32s()).transpose()?.unwrap_or_default(),
            dtype: t.i8(1, 0)?,
            buffer: t.u32(2, 0)? as usize,
            scales,
            zero_points,
            quantized_dimension,
        });
    }
    let mut ops = Vec::new();
    for (index, op) in sg.vector(3, 4)?.map(|v| v.tables()).transpose()?.unwrap_or_default().into_iter().enumerate() {
        let opcode = op.u32(0, 0)? as usize;
        let (code, custom) = match codes.get(opcode) {
            Some(Ok(c)) => (*c, None),
            Some(Err(custom)) => (CUSTOM, Some(custom.clone())),
            None => return Err(bad(format!("operator {index} uses operator code {opcode}, which does not exist"))),
        };
        ops.push(TfOp {
            code,
            custom,
            inputs: op.vector(1, 4)?.map(|v| v.i32s()).transpose()?.unwrap_or_default(),
            outputs: op.vector(2, 4)?.map(|v| v.i32s()).transpose()?.unwrap_or_default(),
            options: op.table(4)?,
        });
    }
    Ok(TfModel {
        tensors,
        buffers,
        ops,
        inputs: sg.vector(1, 4)?.map(|v| v.i32s()).transpose()?.unwrap_or_default(),
        outputs: sg.vector(2, 4)?.map(|v| v.i32s()).transpose()?.unwrap_or_default(),
    })
}

/// Imports an int8 `.tflite` model as a model of format `version`. Unsupported operators
/// (for that version) are rejected by name.
pub fn import(data: &[u8], version: FormatVersion) -> Result<Model> {
    let tf = parse(data)?;
    // Reject unsupported operators first, so the error names the op, whatever else is wrong.
    for (index, op) in tf.ops.iter().enumerate() {
        let known = in_v1(op.code) || (version >= FormatVersion::V2 && only_in_v2(op.code));
        if !known {
            return Err(unsupported(index, op, version));
        }
    }
    if tf.inputs.len() != 1 || tf.outputs.len() != 1 {
        return Err(bad(format!(
            "the model has {} inputs and {} outputs; aiop models have exactly one of each",
            tf.inputs.len(),
            tf.outputs.len()
        )));
    }
    let mut imp = Importer { tf: &tf, version, b: ModelBuilder::new(version), ids: HashMap::new() };
    let input = imp.activation(tf.inputs[0], "model input")?;
    for (index, op) in tf.ops.iter().enumerate() {
        imp.op(index, op)?;
    }
    let output = *imp.ids.get(&tf.outputs[0]).ok_or_else(|| bad("no operator writes the model output"))?;
    Ok(imp.b.finish(input, output))
}

/// The error for an operator `version` does not import, with a hint where one helps.
fn unsupported(index: usize, op: &TfOp<'_>, version: FormatVersion) -> ToolsError {
    let mut name = match &op.custom {
        Some(custom) => format!("CUSTOM ({custom})"),
        None => op_name(op.code),
    };
    if version == FormatVersion::V1 && only_in_v2(op.code) {
        name.push_str(" (format v1 does not have it; format v2 does: import with --format-version 2)");
    }
    if matches!(op.code, QUANTIZE | DEQUANTIZE) {
        name.push_str(
            " (a float input or output: convert with inference_input_type and inference_output_type \
             set to tf.int8 so the model is int8 end to end)",
        );
    }
    ToolsError::UnsupportedOp { index, op: name, supported: supported(version) }
}

struct Importer<'t, 'a> {
    tf: &'t TfModel<'a>,
    version: FormatVersion,
    b: ModelBuilder,
    /// Engine ids of the file's activation tensors, created on first use.
    ids: HashMap<i32, TensorId>,
}

/// Per-tensor quantization of an activation.
#[derive(Debug, Clone, Copy)]
struct Quant {
    scale: f32,
    zero_point: i32,
}

impl<'t, 'a> Importer<'t, 'a> {
    fn tensor(&self, index: i32) -> Result<&'t TfTensor> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.tf.tensors.get(i))
            .ok_or_else(|| bad(format!("tensor index {index} does not exist")))
    }

    /// Shape without a leading batch of 1 on images (`[1, H, W, C]` -> `[H, W, C]`).
    fn shape(&self, t: &TfTensor) -> Result<Vec<u32>> {
        let dims: Vec<u32> = t
            .shape
            .iter()
            .map(|&d| {
                u32::try_from(d).map_err(|_| bad(format!("tensor {:?} has a dynamic or negative dimension", t.name)))
            })
            .collect::<Result<_>>()?;
        Ok(match dims.len() {
            0 => vec![1],
            4 if dims[0] == 1 => dims[1..].to_vec(),
            4 => return Err(bad(format!("tensor {:?} has batch {}; only batch 1 can be imported", t.name, dims[0]))),
            _ => dims,
        })
    }

    fn quant(&self, t: &TfTensor) -> Result<Quant> {
        if t.scales.len() != 1 || t.zero_points.len() > 1 {
            return Err(bad(format!("activation {:?} needs one scale and zero point (per-tensor)", t.name)));
        }
        let zp = t.zero_points.first().copied().unwrap_or(0);
        let valid = t.scales[0].is_finite() && t.scales[0] > 0.0 && (-128..=127).contains(&zp);
        if !valid {
            return Err(bad(format!("activation {:?} has scale {} and zero point {zp}", t.name, t.scales[0])));
        }
        Ok(Quant { scale: t.scales[0], zero_point: zp as i32 })
    }

    /// The engine id of activation tensor `index`, creating it on first use.
    fn activation(&mut self, index: i32, role: &str) -> Result<TensorId> {
        if let Some(&id) = self.ids.get(&index) {
            return Ok(id);
        }
        let t = self.tensor(index)?;
        if t.buffer != 0 && self.tf.buffers.get(t.buffer).is_some_and(|b| !b.is_empty()) {
            return Err(bad(format!(
                "{role} {:?} is a constant; aiop ops take constants only as weights and biases",
                t.name
            )));
        }
        let shape = self.shape(t)?;
        let tensor = match t.dtype {
            TYPE_INT8 => {
                let q = self.quant(t)?;
                Tensor::activation(&shape, q.zero_point, real_scale(f64::from(q.scale))?)
            }
            TYPE_INT32 => Tensor { dtype: DType::I32, ..Tensor::activation(&shape, 0, Scale::default()) },
            TYPE_FLOAT32 => {
                return Err(bad(format!(
                    "{role} {:?} is FLOAT32; only int8 models can be imported (convert with \
                     inference_input_type and inference_output_type set to tf.int8 so the model is int8 end to end)",
                    t.name
                )));
            }
            other => {
                return Err(bad(format!(
                    "{role} {:?} is {}; only int8 models can be imported",
                    t.name,
                    type_name(other)
                )));
            }
        };
        let id = self.b.tensor(tensor);
        self.ids.insert(index, id);
        Ok(id)
    }

    fn constant(&self, index: i32, what: &str) -> Result<(&'t TfTensor, &'a [u8])> {
        let t = self.tensor(index)?;
        let data = self.tf.buffers.get(t.buffer).copied().unwrap_or(&[]);
        if data.is_empty() {
            return Err(bad(format!("{what} {:?} must be a constant stored in the file", t.name)));
        }
        Ok((t, data))
    }

    /// Constant int8 weights; per-channel scales must run along `channel_axis` of the file's shape.
    fn weights(&mut self, index: i32, shape: &[u32], channel_axis: i32) -> Result<(TensorId, Vec<f32>)> {
        let (t, data) = self.constant(index, "weights")?;
        if t.scales.len() > 1 && t.quantized_dimension != channel_axis {
            return Err(bad(format!(
                "weights {:?} are quantized per channel along axis {}; aiop needs the output-channel axis {channel_axis}",
                t.name, t.quantized_dimension
            )));
        }
        if t.dtype != TYPE_INT8 {
            return Err(bad(format!(
                "weights {:?} are {}; only int8 weights can be imported",
                t.name,
                type_name(t.dtype)
            )));
        }
        if t.zero_points.iter().any(|&z| z != 0) {
            return Err(bad(format!(
                "weights {:?} have a non-zero zero point; int8 weights must be symmetric",
                t.name
            )));
        }
        let count: u64 = shape.iter().map(|&d| u64::from(d)).product();
        if data.len() as u64 != count {
            return Err(bad(format!("weights {:?} hold {} bytes for shape {shape:?}", t.name, data.len())));
        }
        let values: Vec<i8> = data.iter().map(|&b| b as i8).collect();
        if values.contains(&i8::MIN) {
            return Err(bad(format!(
                "weights {:?} contain -128; aiop (like TensorFlow Lite's int8 spec) needs weights in [-127, 127]",
                t.name
            )));
        }
        let id = self.b.tensor(Tensor::weights(shape, Scale::default(), values));
        Ok((id, t.scales.clone()))
    }

    fn bias(&mut self, index: Option<i32>, channels: usize) -> Result<Option<TensorId>> {
        let Some(index) = index.filter(|&i| i >= 0) else { return Ok(None) };
        let (t, data) = self.constant(index, "bias")?;
        if t.dtype != TYPE_INT32 || data.len() != 4 * channels {
            return Err(bad(format!("bias {:?} must be int32 with {channels} values", t.name)));
        }
        let values = data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(Some(self.b.tensor(Tensor::bias(values, Scale::default()))))
    }

    fn err(&self, index: usize, op: &TfOp<'_>, reason: impl Into<String>) -> ToolsError {
        ToolsError::Unimportable { index, op: op_name(op.code), reason: reason.into() }
    }

    fn op(&mut self, index: usize, op: &TfOp<'a>) -> Result<()> {
        let input = |i: usize| op.inputs.get(i).copied().filter(|&t| t >= 0);
        let (Some(x_idx), Some(&y_idx)) = (input(0), op.outputs.first()) else {
            return Err(self.err(index, op, "needs an input and an output"));
        };
        if self.ids.contains_key(&y_idx) {
            return Err(self.err(index, op, "writes a tensor that is already written"));
        }
        if self.version < FormatVersion::V2 && only_in_v2(op.code) {
            return Err(unsupported(index, op, self.version));
        }
        let opts = op.options;
        let x_t = self.tensor(x_idx)?;
        let y_t = self.tensor(y_idx)?;
        match op.code {
            FULLY_CONNECTED => {
                let fused = opts.map_or(Ok(0), |o| o.i8(0, 0))?;
                if opts.map_or(Ok(0), |o| o.i8(1, 0))? != 0 {
                    return Err(self.err(index, op, "only the DEFAULT weights format can be imported"));
                }
                let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
                let w_t = self.tensor(input(1).ok_or_else(|| self.err(index, op, "has no weights"))?)?;
                let [n, k] = w_t.shape[..] else { return Err(self.err(index, op, "weights must have rank 2")) };
                let (n, k) = (n as u32, k as u32);
                let x_shape = self.shape(x_t)?;
                let elements: u64 = x_shape.iter().map(|&d| u64::from(d)).product();
                if k == 0 || !elements.is_multiple_of(u64::from(k)) {
                    return Err(self.err(index, op, format!("input {x_shape:?} cannot be split into rows of {k}")));
                }
                let rows = (elements / u64::from(k)) as u32;
                let mut x = self.activation(x_idx, "input")?;
                if x_shape.len() != 2 || x_shape[1] != k {
                    let r = self.b.tensor(Tensor::activation(&[rows, k], xq.zero_point, real_scale(xq.scale.into())?));
                    self.b.op(Op::Reshape { input: x, output: r });
                    x = r;
                }
                let (w, w_scales) = self.weights(input(1).unwrap_or(-1), &[n, k], 0)?;
                let bias = self.bias(input(2), n as usize)?;
                if self.version >= FormatVersion::V2 && w_scales.len() == 1 {
                    self.fc_bias_scale_check_v2(index, op, xq, w_scales[0], input(2), yq)?;
                }
                let output_scales = self.channel_scales(index, op, xq, &w_scales, yq, n as usize)?;
                let clamp = self.clamp(index, op, fused, yq)?;
                let y_shape = self.shape(y_t)?;
                let y = if y_shape == [rows, n] {
                    self.activation(y_idx, "output")?
                } else {
                    self.b.tensor(Tensor::activation(&[rows, n], yq.zero_point, real_scale(yq.scale.into())?))
                };
                self.b.op(Op::FullyConnected { input: x, weights: w, bias, output: y, output_scales, clamp });
                if y_shape != [rows, n] {
                    let out = self.activation(y_idx, "output")?;
                    self.b.op(Op::Reshape { input: y, output: out });
                }
            }
            CONV_2D | DEPTHWISE_CONV_2D => {
                let o = opts.ok_or_else(|| self.err(index, op, "has no options"))?;
                let depthwise = op.code == DEPTHWISE_CONV_2D;
                let padding = padding(o.i8(0, 0)?).ok_or_else(|| self.err(index, op, "unknown padding"))?;
                let (stride_w, stride_h) = (o.i32(1, 0)?, o.i32(2, 0)?);
                let (fused, dil_w, dil_h, multiplier) = if depthwise {
                    (o.i8(4, 0)?, o.i32(5, 1)?, o.i32(6, 1)?, o.i32(3, 0)?)
                } else {
                    (o.i8(3, 0)?, o.i32(4, 1)?, o.i32(5, 1)?, 1)
                };
                let small = |v: i32| u16::try_from(v).ok().filter(|&v| v >= 1);
                let (Some(sh), Some(sw), Some(dh), Some(dw)) =
                    (small(stride_h), small(stride_w), small(dil_h), small(dil_w))
                else {
                    return Err(self.err(index, op, "strides and dilations must be in 1..=65535"));
                };
                let window = ConvWindow { stride_h: sh, stride_w: sw, dilation_h: dh, dilation_w: dw, padding };
                let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
                let w_idx = input(1).ok_or_else(|| self.err(index, op, "has no weights"))?;
                let w_shape: Vec<u32> = self.tensor(w_idx)?.shape.iter().map(|&d| d.max(0) as u32).collect();
                let x = self.activation(x_idx, "input")?;
                let y = self.activation(y_idx, "output")?;
                if depthwise {
                    let [1, kh, kw, cout] = w_shape[..] else {
                        return Err(self.err(
                            index,
                            op,
                            format!("depthwise weights {w_shape:?} must be [1, KH, KW, C]"),
                        ));
                    };
                    let cin = *self.shape(x_t)?.last().unwrap_or(&1);
                    let dm = if multiplier > 0 { multiplier as u32 } else { cout / cin.max(1) };
                    let (w, w_scales) = self.weights(w_idx, &[kh, kw, cout], 3)?;
                    let bias = self.bias(input(2), cout as usize)?;
                    let output_scales = self.channel_scales(index, op, xq, &w_scales, yq, cout as usize)?;
                    let clamp = self.clamp(index, op, fused, yq)?;
                    let depth_multiplier =
                        u16::try_from(dm).map_err(|_| self.err(index, op, "depth multiplier over 65535"))?;
                    self.b.op(Op::DepthwiseConv2D {
                        input: x,
                        weights: w,
                        bias,
                        output: y,
                        window,
                        depth_multiplier,
                        output_scales,
                        clamp,
                    });
                } else {
                    let [cout, ..] = w_shape[..] else { return Err(self.err(index, op, "weights must have rank 4")) };
                    if w_shape.len() != 4 {
                        return Err(self.err(index, op, "weights must have rank 4"));
                    }
                    let (w, w_scales) = self.weights(w_idx, &w_shape, 0)?;
                    let bias = self.bias(input(2), cout as usize)?;
                    let output_scales = self.channel_scales(index, op, xq, &w_scales, yq, cout as usize)?;
                    let clamp = self.clamp(index, op, fused, yq)?;
                    self.b.op(Op::Conv2D { input: x, weights: w, bias, output: y, window, output_scales, clamp });
                }
            }
            MAX_POOL_2D | AVERAGE_POOL_2D => {
                let o = opts.ok_or_else(|| self.err(index, op, "has no options"))?;
                let padding = padding(o.i8(0, 0)?).ok_or_else(|| self.err(index, op, "unknown padding"))?;
                let small = |v: i32| u16::try_from(v).ok().filter(|&v| v >= 1);
                let (Some(stride_w), Some(stride_h), Some(filter_w), Some(filter_h)) =
                    (small(o.i32(1, 0)?), small(o.i32(2, 0)?), small(o.i32(3, 0)?), small(o.i32(4, 0)?))
                else {
                    return Err(self.err(index, op, "filter sizes and strides must be in 1..=65535"));
                };
                let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
                self.same_quant(index, op, xq, yq)?;
                let clamp = self.clamp(index, op, o.i8(5, 0)?, yq)?;
                let window = PoolWindow { filter_h, filter_w, stride_h, stride_w, padding };
                let (x, y) = (self.activation(x_idx, "input")?, self.activation(y_idx, "output")?);
                self.b.op(if op.code == MAX_POOL_2D {
                    Op::MaxPool2D { input: x, output: y, window, clamp }
                } else {
                    Op::AveragePool2D { input: x, output: y, window, clamp }
                });
            }
            ADD if self.version >= FormatVersion::V2 => self.add_or_sub_v2(index, op, x_idx, y_idx, false)?,
            ADD | MUL => {
                let rhs_idx = input(1).ok_or_else(|| self.err(index, op, "needs two inputs"))?;
                let r_t = self.tensor(rhs_idx)?;
                if r_t.shape != x_t.shape || y_t.shape != x_t.shape {
                    return Err(self.err(
                        index,
                        op,
                        format!(
                            "shapes {:?}, {:?} -> {:?}: broadcasting is not supported",
                            x_t.shape, r_t.shape, y_t.shape
                        ),
                    ));
                }
                let (aq, bq, yq) = (self.quant(x_t)?, self.quant(r_t)?, self.quant(y_t)?);
                let fused = opts.map_or(Ok(0), |o| o.i8(0, 0))?;
                let clamp = self.clamp(index, op, fused, yq)?;
                let (lhs, rhs) = (self.activation(x_idx, "lhs")?, self.activation(rhs_idx, "rhs")?);
                let output = self.activation(y_idx, "output")?;
                let scale =
                    |r: f64| real_scale(r).map_err(|_| self.err(index, op, format!("scale ratio {r} is out of range")));
                if op.code == ADD {
                    // add.cc Prepare (int8): left shift 20, inputs rescaled to twice the larger scale.
                    const LEFT_SHIFT: u8 = 20;
                    let twice_max = f64::from(2.0 * aq.scale.max(bq.scale));
                    let lhs_scale = scale(f64::from(aq.scale) / twice_max)?;
                    let rhs_scale = scale(f64::from(bq.scale) / twice_max)?;
                    let output_scale = scale(twice_max / f64::from((1u32 << LEFT_SHIFT) as f32 * yq.scale))?;
                    self.b.op(Op::Add {
                        lhs,
                        rhs,
                        output,
                        left_shift: LEFT_SHIFT,
                        lhs_scale,
                        rhs_scale,
                        output_scale,
                        clamp,
                    });
                } else {
                    let real = f64::from(aq.scale) * f64::from(bq.scale) / f64::from(yq.scale);
                    let output_scale = match self.version {
                        FormatVersion::V1 => scale(real)?,
                        FormatVersion::V2 | FormatVersion::V3 => self.requant_v2(index, op, real)?,
                    };
                    self.b.op(Op::Mul { lhs, rhs, output, output_scale, clamp });
                }
            }
            RESHAPE => {
                let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
                self.same_quant(index, op, xq, yq)?;
                let (x, y) = (self.activation(x_idx, "input")?, self.activation(y_idx, "output")?);
                self.b.op(Op::Reshape { input: x, output: y });
            }
            SOFTMAX => {
                let beta = opts.map_or(Ok(0.0), |o| o.f32(0, 0.0))?;
                let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
                self.fixed_output(index, op, yq, 1.0 / 256.0, -128)?;
                let (beta, diff_min) = match self.version {
                    FormatVersion::V1 => softmax_params(f64::from(beta), f64::from(xq.scale))
                        .ok_or_else(|| self.err(index, op, "beta * input scale is too small for 5 integer bits"))?,
                    FormatVersion::V2 | FormatVersion::V3 => softmax_params_v2(f64::from(beta), f64::from(xq.scale))
                        .ok_or_else(|| {
                            self.err(
                                index,
                                op,
                                format!(
                                    "beta * input scale = {}: TFLM needs it above 2^-26, and aiop's scales below 16",
                                    f64::from(beta) * f64::from(xq.scale)
                                ),
                            )
                        })?,
                };
                let (x, y) = (self.activation(x_idx, "input")?, self.activation(y_idx, "output")?);
                self.b.op(Op::Softmax { input: x, output: y, beta, diff_min });
            }
            LOGISTIC | TANH => {
                let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
                let (input_scale, input_range_radius) = q4_input_params(f64::from(xq.scale))
                    .ok_or_else(|| self.err(index, op, format!("input scale {} is out of range", xq.scale)))?;
                let (x, y) = (self.activation(x_idx, "input")?, self.activation(y_idx, "output")?);
                // TFLM checks only LOGISTIC's output zero point (and nothing of TANH's output): the
                // bytes do not depend on the output scale. The engine fixes both zero points.
                let v2 = self.version >= FormatVersion::V2;
                if op.code == LOGISTIC {
                    self.fixed_output(index, op, yq, if v2 { yq.scale } else { 1.0 / 256.0 }, -128)?;
                    self.b.op(Op::Logistic { input: x, output: y, input_scale, input_range_radius });
                } else {
                    self.fixed_output(index, op, yq, if v2 { yq.scale } else { 1.0 / 128.0 }, 0)?;
                    self.b.op(Op::Tanh { input: x, output: y, input_scale, input_range_radius });
                }
            }
            ARG_MAX => {
                let (axis_t, axis_data) = self.constant(input(1).unwrap_or(-1), "axis")?;
                let axis = match (axis_t.dtype, axis_data.len()) {
                    (TYPE_INT32, 4) => {
                        i64::from(i32::from_le_bytes([axis_data[0], axis_data[1], axis_data[2], axis_data[3]]))
                    }
                    (4, 8) => i64::from_le_bytes(axis_data.try_into().unwrap_or([0; 8])),
                    _ => return Err(self.err(index, op, "axis must be one int32 or int64")),
                };
                let rank = x_t.shape.len() as i64;
                if axis != rank - 1 && axis != -1 {
                    return Err(self.err(index, op, format!("axis {axis}: only the last axis is supported")));
                }
                if y_t.dtype != TYPE_INT32 {
                    return Err(self.err(
                        index,
                        op,
                        format!("output type {}: only INT32 indices are supported", type_name(y_t.dtype)),
                    ));
                }
                self.quant(x_t)?;
                let x = self.activation(x_idx, "input")?;
                let x_shape = self.shape(x_t)?;
                let expected: Vec<u32> =
                    if x_shape.len() == 1 { vec![1] } else { x_shape[..x_shape.len() - 1].to_vec() };
                if self.shape(y_t)?.iter().product::<u32>() != expected.iter().product::<u32>() {
                    return Err(self.err(index, op, "output shape does not match the input"));
                }
                let y =
                    self.b.tensor(Tensor { dtype: DType::I32, ..Tensor::activation(&expected, 0, Scale::default()) });
                self.ids.insert(y_idx, y);
                self.b.op(Op::ArgMax { input: x, output: y });
            }
            SUB => self.add_or_sub_v2(index, op, x_idx, y_idx, true)?,
            CONCATENATION => self.concatenation(index, op, y_idx)?,
            PAD | PADV2 => self.pad(index, op, x_idx, y_idx)?,
            MEAN => self.mean(index, op, x_idx, y_idx)?,
            QUANTIZE => self.quantize(index, op, x_idx, y_idx)?,
            HARD_SWISH => self.hard_swish(index, op, x_idx, y_idx)?,
            LEAKY_RELU => self.leaky_relu(index, op, x_idx, y_idx)?,
            SQUEEZE | EXPAND_DIMS => {
                let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
                self.same_quant(index, op, xq, yq)?;
                let (x, y) = (self.activation(x_idx, "input")?, self.activation(y_idx, "output")?);
                self.b.op(Op::Reshape { input: x, output: y });
            }
            _ => return Err(unsupported(index, op, self.version)),
        }
        Ok(())
    }

    /// Per-channel requantization scales, `input * weight[c] / output` in double precision as
    /// in TensorFlow Lite's `PopulateConvolutionQuantizationParams`.
    fn channel_scales(
        &self,
        index: usize,
        op: &TfOp<'_>,
        x: Quant,
        w: &[f32],
        y: Quant,
        n: usize,
    ) -> Result<Vec<Scale>> {
        if w.len() != 1 && w.len() != n {
            return Err(self.err(index, op, format!("weights have {} scales for {n} output channels", w.len())));
        }
        (0..n)
            .map(|c| {
                let ws = f64::from(if w.len() == 1 { w[0] } else { w[c] });
                let real = f64::from(x.scale) * ws / f64::from(y.scale);
                let scale = match self.version {
                    FormatVersion::V1 => quantize_multiplier(real),
                    FormatVersion::V2 | FormatVersion::V3 => quantize_multiplier_v2(real),
                };
                scale.ok_or_else(|| self.err(index, op, format!("channel {c} has scale ratio {real}")))
            })
            .collect()
    }

    /// A requantization scale of format v2 (TFLM's `QuantizeMultiplier`, double-rounding build).
    fn requant_v2(&self, index: usize, op: &TfOp<'_>, real: f64) -> Result<Scale> {
        quantize_multiplier_v2(real)
            .ok_or_else(|| self.err(index, op, format!("scale ratio {real} is negative, not finite, or at least 2^30")))
    }

    /// A per-tensor FULLY_CONNECTED in format v2: TFLM's `GetQuantizedConvolutionMultipler`
    /// (whose scale, `input_scale * weight_scale / output_scale` in double in the pinned build,
    /// is what [`Self::channel_scales`] computes) fails unless the bias scale is within 2% of an
    /// output step of `input_scale * weight_scale`.
    fn fc_bias_scale_check_v2(
        &self,
        index: usize,
        op: &TfOp<'_>,
        x: Quant,
        w: f32,
        bias: Option<i32>,
        y: Quant,
    ) -> Result<()> {
        if let Some(b) = bias {
            let bias_scale = self.tensor(b)?.scales.first().copied().unwrap_or(0.0);
            let diff = (f64::from(x.scale) * f64::from(w) - f64::from(bias_scale)).abs();
            if diff / f64::from(y.scale) > 0.02 {
                return Err(self.err(
                    index,
                    op,
                    format!(
                        "bias scale {bias_scale} is not input scale * weight scale ({} * {w}); \
                         TensorFlow Lite Micro rejects the model",
                        x.scale
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The fused activation as clamp bounds (`CalculateActivationRangeQuantized`, in f32).
    fn clamp(&self, index: usize, op: &TfOp<'_>, fused: i8, y: Quant) -> Result<Clamp> {
        let q = |f: f32| i64::from(y.zero_point).saturating_add((f / y.scale).round() as i64);
        let (lo, hi) = match fused {
            0 => (-128, 127),
            1 => (q(0.0).max(-128), 127),
            2 => (q(-1.0).max(-128), q(1.0).min(127)),
            3 => (q(0.0).max(-128), q(6.0).min(127)),
            4 => return Err(self.err(index, op, "fused TANH activation is not supported")),
            5 => return Err(self.err(index, op, "fused SIGN_BIT activation is not supported")),
            other => return Err(self.err(index, op, format!("unknown fused activation {other}"))),
        };
        if lo > hi {
            return Err(self.err(index, op, "the fused activation's range is empty at this output scale"));
        }
        Ok(Clamp { min: lo.clamp(-128, 127) as i8, max: hi.clamp(-128, 127) as i8 })
    }

    fn same_quant(&self, index: usize, op: &TfOp<'_>, x: Quant, y: Quant) -> Result<()> {
        if x.scale != y.scale || x.zero_point != y.zero_point {
            return Err(self.err(
                index,
                op,
                format!(
                    "input (scale {}, zero point {}) and output (scale {}, zero point {}) must have the same quantization",
                    x.scale, x.zero_point, y.scale, y.zero_point
                ),
            ));
        }
        Ok(())
    }

    fn fixed_output(&self, index: usize, op: &TfOp<'_>, y: Quant, scale: f32, zero_point: i32) -> Result<()> {
        if y.scale != scale || y.zero_point != zero_point {
            return Err(self.err(
                index,
                op,
                format!(
                    "output quantization must be scale {scale} zero point {zero_point}, not {} {}",
                    y.scale, y.zero_point
                ),
            ));
        }
        Ok(())
    }
}

fn padding(p: i8) -> Option<Padding> {
    match p {
        0 => Some(Padding::Same),
        1 => Some(Padding::Valid),
        _ => None,
    }
}

fn real_scale(real: f64) -> Result<Scale> {
    quantize_multiplier(real).ok_or_else(|| bad(format!("scale {real} is not a positive number")))
}
