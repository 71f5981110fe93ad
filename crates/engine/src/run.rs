//! A loaded model: decoded, validated, weights packed for one kernel path, ready to run any
//! number of times. Loading does all the checking; running cannot fail on a valid input.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use aiop_kernels::reference as spec;
use aiop_kernels::{
    ActivationProduct, KernelError, KernelPath, OutputStage, PackedMatrix, PreparedDepthwise, batch_matmul,
    depthwise_conv2d, qgemm,
};

use crate::error::{EngineError, Result};
use crate::format::{self, ModelHeader};
use crate::model::{Clamp, DType, Model, Op, Scale, TensorData, TensorId};
use crate::ops::{fast, reference};
use crate::validate::{Geometry, Validated, validate};

/// What a caller needs to know about the model's input or output tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type (int8, or int32 for an ArgMax output).
    pub dtype: DType,
    /// Dimensions, outermost first.
    pub shape: Vec<u32>,
    /// The integer that stands for real zero.
    pub zero_point: i32,
    /// Informational: `multiplier * 2^(shift - 31)` is the real value of one step.
    pub scale: Scale,
}

/// A model decoded and validated, its header checked and its work counted, but not yet packed
/// for a kernel path: everything a price needs, for the work of decoding alone. The precompile
/// prices a call from this before it packs the weights ([`ValidModel::pack`]), so the price
/// charged before loading pays for decoding and validation only, and packing is paid by the
/// price of the model's own work.
#[derive(Debug)]
pub struct ValidModel {
    header: ModelHeader,
    model_len: usize,
    model: Model,
    geometry: Vec<Geometry>,
    op_costs: Vec<crate::Cost>,
    op_work: Vec<crate::OpWork>,
    input: TensorInfo,
    output: TensorInfo,
}

/// A model ready to run: a [`ValidModel`] (which it dereferences to, for its header, work
/// counts and tensors) with its weights packed for one kernel path. Cheap to share between
/// threads (`Send + Sync`).
#[derive(Debug)]
pub struct LoadedModel {
    valid: ValidModel,
    /// Weights of FullyConnected and Conv2D ops laid out for `path` (None elsewhere, and for
    /// the reference path, which reads the weights as stored).
    packed: Vec<Option<PackedMatrix>>,
    /// Per op: the depthwise layers of [`PREPARE_STAGE_FROM_CHANNELS`] channels or more,
    /// prepared for the path (their stage constants and paired taps built once).
    depthwise: Vec<Option<PreparedDepthwise>>,
    /// Each op's per-channel output multipliers and shifts, as the kernels' stage reads them
    /// (empty for ops without an output stage): split out once here, not on every run.
    stage_scales: Vec<(Vec<i32>, Vec<i8>)>,
    path: KernelPath,
}

impl core::ops::Deref for LoadedModel {
    type Target = ValidModel;

    fn deref(&self) -> &ValidModel {
        &self.valid
    }
}

/// Decodes and validates model bytes, and checks the header's declared cost and lengths
/// against the model's ops. The bytes are valid exactly when this succeeds.
pub(crate) fn decode_and_validate(bytes: &[u8]) -> Result<(ModelHeader, Model, Validated)> {
    let (header, model) = format::decode(bytes)?;
    let validated = validate(&model)?;
    let computed = &validated.cost;
    let checks = [
        ("MAC count", header.cost.macs, computed.macs),
        ("element count", header.cost.elements, computed.elements),
        ("transcendental count", header.cost.transcendentals, computed.transcendentals),
        ("arena bytes", header.cost.arena_bytes, computed.arena_bytes),
        ("input length", header.input_len.into(), validated.input_len.into()),
        ("output length", header.output_len.into(), validated.output_len.into()),
    ];
    for (field, declared, computed) in checks {
        if declared != computed {
            return Err(EngineError::HeaderMismatch { field, declared, computed });
        }
    }
    Ok((header, model, validated))
}

fn info(model: &Model, id: TensorId) -> TensorInfo {
    let t = &model.tensors[usize::from(id)];
    TensorInfo { dtype: t.dtype, shape: t.shape.clone(), zero_point: t.zero_point, scale: t.scale }
}

fn constant_i8(model: &Model, id: TensorId) -> &[i8] {
    match &model.tensors[usize::from(id)].data {
        TensorData::I8(v) => v,
        _ => &[],
    }
}

fn constant_i32(model: &Model, id: Option<TensorId>) -> Option<&[i32]> {
    match &model.tensors[usize::from(id?)].data {
        TensorData::I32(v) => Some(v),
        _ => None,
    }
}

/// A layer op's input zero point and output stage, as each of its runs calls its kernel.
fn layer_stage<'a>(
    model: &Model,
    (multiplier, shift): (&'a [i32], &'a [i8]),
    input: TensorId,
    output: TensorId,
    clamp: Clamp,
) -> (i32, OutputStage<'a>) {
    let stage = OutputStage {
        multiplier,
        shift,
        output_zero_point: model.tensors[usize::from(output)].zero_point,
        clamp_min: clamp.min,
        clamp_max: clamp.max,
        rounding: model.version.rounding(),
    };
    (model.tensors[usize::from(input)].zero_point, stage)
}

/// Output channels from which a layer's stage constants are built at load
/// ([`PackedMatrix::prepare_stage`], and [`PreparedDepthwise`] with its taps in pairs)
/// rather than on every call. Preparing costs a few
/// allocations per op: for a model of many one-channel layers that made loading 1.2x slower
/// per gas than ecrecover (the part charged before loading pays per byte, and such an op is a
/// few dozen bytes), while a layer of 32 channels has at least a few hundred bytes of scales,
/// bias and weights to pay for it.
const PREPARE_STAGE_FROM_CHANNELS: usize = 32;
/// Depth from which a layer's stage is prepared at load: preparing costs about 6 ns per
/// channel, which a layer of depth 1 (about 10 bytes a channel, `searched-fc-1x1x1-o65536`)
/// pays for with only a few times that in load price, while a layer of depth 32 has over
/// 40 bytes a channel.
const PREPARE_STAGE_FROM_DEPTH: usize = 32;

impl ValidModel {
    /// Decodes and validates `bytes` and checks the header's declared cost and lengths against
    /// the ops. The bytes are a valid model exactly when this succeeds. Its work is bounded by
    /// the model's length and its declared op and tensor counts.
    pub fn decode(bytes: &[u8]) -> Result<ValidModel> {
        let (header, model, validated) = decode_and_validate(bytes)?;
        Ok(ValidModel {
            header,
            model_len: bytes.len(),
            input: info(&model, model.input),
            output: info(&model, model.output),
            geometry: validated.geometry,
            op_costs: validated.op_costs,
            op_work: validated.op_work,
            model,
        })
    }

    /// Packs the weights of the model's matrix ops for `path` (and prepares the stage
    /// constants of its larger layers): the model, ready to run. A path this CPU cannot run is
    /// an error, never a silent fallback; nothing else about a valid model fails here.
    pub fn pack(self, path: KernelPath) -> Result<LoadedModel> {
        if !path.is_available() {
            return Err(KernelError::PathUnavailable(path.name()).into());
        }
        let model = &self.model;
        let stage_scales: Vec<(Vec<i32>, Vec<i8>)> = model
            .ops
            .iter()
            .map(|op| match op {
                Op::FullyConnected { output_scales, .. }
                | Op::Conv2D { output_scales, .. }
                | Op::DepthwiseConv2D { output_scales, .. } => (
                    output_scales.iter().map(|s| s.multiplier).collect(),
                    output_scales.iter().map(|s| s.shift).collect(),
                ),
                _ => Default::default(),
            })
            .collect();
        let mut packed = Vec::with_capacity(model.ops.len());
        let mut depthwise = Vec::with_capacity(model.ops.len());
        for ((op, g), (multiplier, shift)) in model.ops.iter().zip(&self.geometry).zip(&stage_scales) {
            depthwise.push(match op {
                Op::DepthwiseConv2D { input, weights, bias, output, clamp, .. }
                    if path != KernelPath::Reference && g.cols >= PREPARE_STAGE_FROM_CHANNELS =>
                {
                    let (input_zero_point, stage) = layer_stage(model, (multiplier, shift), *input, *output, *clamp);
                    let (w, b) = (constant_i8(model, *weights), constant_i32(model, *bias));
                    Some(PreparedDepthwise::new(path, &g.window, w, input_zero_point, b, &stage)?)
                }
                _ => None,
            });
            let matrix = match op {
                Op::FullyConnected { input, weights, bias, output, clamp, .. }
                | Op::Conv2D { input, weights, bias, output, clamp, .. }
                    if path != KernelPath::Reference =>
                {
                    let mut matrix = PackedMatrix::pack(path, constant_i8(model, *weights), g.cols, g.depth)?;
                    if g.cols < PREPARE_STAGE_FROM_CHANNELS || g.depth < PREPARE_STAGE_FROM_DEPTH {
                        packed.push(Some(matrix));
                        continue;
                    }
                    // Every run calls this product with the same stage: its widened constants
                    // are built here once (the kernel checks they match before using them).
                    let (input_zero_point, stage) = layer_stage(model, (multiplier, shift), *input, *output, *clamp);
                    matrix.prepare_stage(input_zero_point, constant_i32(model, *bias), &stage)?;
                    Some(matrix)
                }
                _ => None,
            };
            packed.push(matrix);
        }
        Ok(LoadedModel { valid: self, packed, depthwise, stage_scales, path })
    }

    /// The model's header, its cost checked against the ops.
    pub fn header(&self) -> &ModelHeader {
        &self.header
    }
    /// The cost of one run (the header's, verified).
    pub fn cost(&self) -> &crate::Cost {
        &self.header.cost
    }
    /// Each op's share of [`ValidModel::cost`], in execution order.
    pub fn op_costs(&self) -> &[crate::Cost] {
        &self.op_costs
    }
    /// Each op's work counts, computed at load from the validated shapes (not stored in the
    /// model), in execution order: what a schedule that prices the loaded model reads.
    pub fn work(&self) -> &[crate::OpWork] {
        &self.op_work
    }
    /// The decoded, validated model.
    pub fn model(&self) -> &Model {
        &self.model
    }
    /// Length of the model, in bytes.
    pub fn model_len(&self) -> usize {
        self.model_len
    }
    /// The input tensor's type, shape and quantization.
    pub fn input(&self) -> &TensorInfo {
        &self.input
    }
    /// The output tensor's type, shape and quantization.
    pub fn output(&self) -> &TensorInfo {
        &self.output
    }
    /// Bytes a run takes: one per int8 input element.
    pub fn input_len(&self) -> usize {
        self.header.input_len as usize
    }
    /// Bytes a run returns: one per int8 element, four (big-endian) per int32 element.
    pub fn output_len(&self) -> usize {
        self.header.output_len as usize
    }

    /// The requantization rule of the model's format version.
    pub fn rounding(&self) -> aiop_kernels::Rounding {
        self.model.version.rounding()
    }
}

impl LoadedModel {
    /// Decodes, validates and packs `bytes` for `path` ([`ValidModel::decode`], then
    /// [`ValidModel::pack`]). A path this CPU cannot run is an error, never a silent fallback.
    pub fn load(bytes: &[u8], path: KernelPath) -> Result<LoadedModel> {
        if !path.is_available() {
            return Err(KernelError::PathUnavailable(path.name()).into());
        }
        ValidModel::decode(bytes)?.pack(path)
    }

    /// The kernel path the weights were packed for and runs use.
    pub fn path(&self) -> KernelPath {
        self.path
    }

    /// Runs the model on `input` (the int8 input tensor's bytes, row-major).
    pub fn run(&self, input: &[u8]) -> Result<Vec<u8>> {
        if input.len() != self.input_len() {
            return Err(EngineError::InputLength {
                expected: self.input_len(),
                actual: input.len(),
                shape: format!("{:?}", self.input.shape),
            });
        }
        let model = &self.model;
        // One buffer per activation, allocated when its op runs; together they never exceed
        // the validated arena size.
        let mut values: Vec<Vec<i8>> = vec![Vec::new(); model.tensors.len()];
        values[usize::from(model.input)] = input.iter().map(|&b| b as i8).collect();
        let mut indices: Vec<i32> = Vec::new();
        for (index, op) in model.ops.iter().enumerate() {
            let g = &self.geometry[index];
            if let Op::ArgMax { input, .. } = op {
                indices = vec![0; g.out_len];
                reference::argmax(g.rows, g.depth, &values[usize::from(*input)], &mut indices);
                continue;
            }
            let mut out = vec![0i8; g.out_len];
            self.execute(index, op, g, &values, &mut out)?;
            values[usize::from(op.output())] = out;
        }
        Ok(match self.output.dtype {
            DType::I8 => values[usize::from(model.output)].iter().map(|&v| v as u8).collect(),
            DType::I32 => indices.iter().flat_map(|v| v.to_be_bytes()).collect(),
        })
    }

    /// An elementwise op: the reference on the reference path, else through a table the
    /// reference fills ([`fast::unary_through_table`]).
    fn elementwise(&self, input: &[i8], out: &mut [i8], reference: impl Fn(&[i8], &mut [i8])) {
        if self.path == KernelPath::Reference {
            reference(input, out);
        } else {
            fast::unary_through_table(input, out, reference);
        }
    }

    fn zero_point(&self, id: TensorId) -> i32 {
        self.model.tensors[usize::from(id)].zero_point
    }

    fn execute(&self, index: usize, op: &Op, g: &Geometry, values: &[Vec<i8>], out: &mut [i8]) -> Result<()> {
        let model = &self.model;
        let rounding = self.rounding();
        let value = |id: TensorId| values[usize::from(id)].as_slice();
        match op {
            Op::FullyConnected { input, weights, bias, output, clamp, .. }
            | Op::Conv2D { input, weights, bias, output, clamp, .. }
            | Op::DepthwiseConv2D { input, weights, bias, output, clamp, .. } => {
                let (multiplier, shift) = &self.stage_scales[index];
                let (zp, stage) = layer_stage(model, (multiplier, shift), *input, *output, *clamp);
                let x = value(*input);
                let w = constant_i8(model, *weights);
                let b = constant_i32(model, *bias);
                // A product prepared at load was prepared with this op's own zero point, bias
                // and stage: passed back as the matrix's copies, they need no comparison.
                let (zp, b, stage) = match &self.packed[index] {
                    Some(p) => p.prepared_stage().unwrap_or((zp, b, stage)),
                    None => (zp, b, stage),
                };
                // The reference path runs `aiop_kernels::reference`, the kernels' specification.
                match (op, &self.packed[index]) {
                    (Op::FullyConnected { .. }, Some(p)) => qgemm(p, x, g.rows, zp, b, &stage, out)?,
                    (Op::FullyConnected { .. }, None) => {
                        spec::qgemm(w, g.cols, g.depth, x, g.rows, zp, b, &stage, out);
                    }
                    (Op::Conv2D { .. }, Some(p)) => fast::conv2d(g, p, x, zp, b, &stage, out)?,
                    (Op::Conv2D { .. }, None) => spec::conv2d(&g.window, g.cols, x, zp, w, b, &stage, out),
                    // Depthwise weights need no packing: the kernel dispatches on the path.
                    _ => match &self.depthwise[index] {
                        Some(layer) => layer.run(x, out)?,
                        None => depthwise_conv2d(self.path, &g.window, x, zp, w, b, &stage, out)?,
                    },
                }
            }
            Op::MaxPool2D { input, clamp, .. } if self.path != KernelPath::Reference => {
                fast::max_pool2d(g, value(*input), *clamp, out)
            }
            Op::MaxPool2D { input, clamp, .. } => reference::max_pool2d(g, value(*input), *clamp, out),
            Op::AveragePool2D { input, clamp, .. } if self.path != KernelPath::Reference => {
                fast::average_pool2d(g, value(*input), *clamp, out)
            }
            Op::AveragePool2D { input, clamp, .. } => reference::average_pool2d(g, value(*input), *clamp, out),
            Op::Add { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp }
            | Op::Sub { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp } => {
                let p = self.binary(*lhs, *rhs, *output, *clamp);
                let scales = reference::AddScales {
                    left_shift: *left_shift,
                    lhs_scale: *lhs_scale,
                    rhs_scale: *rhs_scale,
                    output_scale: *output_scale,
                };
                let subtract = matches!(op, Op::Sub { .. });
                if self.path == KernelPath::Reference {
                    reference::add(rounding, subtract, &p, scales, value(*lhs), value(*rhs), out);
                } else {
                    fast::add(self.path, rounding, subtract, &p, scales, value(*lhs), value(*rhs), out)?;
                }
            }
            Op::Mul { lhs, rhs, output, output_scale, clamp } => {
                let p = self.binary(*lhs, *rhs, *output, *clamp);
                reference::mul(rounding, &p, *output_scale, value(*lhs), value(*rhs), out);
            }
            Op::Reshape { input, .. } => out.copy_from_slice(value(*input)),
            Op::Softmax { input, beta, diff_min, .. } => {
                reference::softmax(rounding, g.rows, g.depth, *beta, *diff_min, value(*input), out);
            }
            Op::Logistic { input, input_scale, input_range_radius, .. } => {
                let zp = self.zero_point(*input);
                self.elementwise(value(*input), out, |x, o| {
                    reference::logistic(rounding, zp, *input_scale, *input_range_radius, x, o)
                });
            }
            Op::Tanh { input, input_scale, input_range_radius, .. } => {
                let zp = self.zero_point(*input);
                self.elementwise(value(*input), out, |x, o| {
                    reference::tanh(rounding, zp, *input_scale, *input_range_radius, x, o)
                });
            }
            Op::ArgMax { .. } => {}
            Op::Concatenation { inputs, axis, .. } => {
                let axis = usize::from(*axis);
                let parts: Vec<(&[i8], usize)> = inputs
                    .iter()
                    .map(|&id| (value(id), model.tensors[usize::from(id)].shape[axis] as usize * g.depth))
                    .collect();
                reference::concatenation(g.rows, &parts, out);
            }
            Op::Pad { input, paddings, value: pad_value, .. } => {
                let shape = &model.tensors[usize::from(*input)].shape;
                reference::pad(shape, paddings, *pad_value, value(*input), out);
            }
            Op::Mean { input, output, axes, scale } => {
                let shape = &model.tensors[usize::from(*input)].shape;
                let (zp_in, zp_out) = (self.zero_point(*input), self.zero_point(*output));
                reference::mean(rounding, shape, *axes, g.depth, *scale, zp_in, zp_out, value(*input), out);
            }
            Op::Requantize { input, output, scale } => {
                let (zp_in, zp_out) = (self.zero_point(*input), self.zero_point(*output));
                self.elementwise(value(*input), out, |x, o| {
                    reference::requantize(rounding, *scale, zp_in, zp_out, x, o)
                });
            }
            Op::LeakyRelu { input, output, identity_scale, alpha_scale, alpha_negative } => {
                let (zp_in, zp_out) = (self.zero_point(*input), self.zero_point(*output));
                let scales = reference::LeakyReluScales {
                    identity: *identity_scale,
                    alpha: *alpha_scale,
                    alpha_negative: *alpha_negative,
                };
                self.elementwise(value(*input), out, |x, o| {
                    reference::leaky_relu(rounding, scales, zp_in, zp_out, x, o)
                });
            }
            Op::HardSwish {
                input,
                output,
                reluish_multiplier,
                reluish_exponent,
                output_multiplier,
                output_exponent,
            } => {
                let p = reference::HardSwishParams {
                    input_zero_point: self.zero_point(*input),
                    output_zero_point: self.zero_point(*output),
                    reluish_multiplier: *reluish_multiplier,
                    reluish_exponent: *reluish_exponent,
                    output_multiplier: *output_multiplier,
                    output_exponent: *output_exponent,
                };
                if self.path == KernelPath::Reference {
                    reference::hard_swish(&p, value(*input), out);
                } else {
                    fast::hard_swish(&p, value(*input), out);
                }
            }
            Op::BatchMatMul { lhs, rhs, output, transpose_rhs, output_scale, clamp } => {
                let stage = OutputStage {
                    multiplier: &[output_scale.multiplier],
                    shift: &[output_scale.shift],
                    output_zero_point: self.zero_point(*output),
                    clamp_min: clamp.min,
                    clamp_max: clamp.max,
                    rounding,
                };
                let shape = ActivationProduct {
                    batch: g.out_len / (g.rows * g.cols).max(1),
                    m: g.rows,
                    k: g.depth,
                    n: g.cols,
                    transpose_rhs: *transpose_rhs,
                    lhs_zero_point: self.zero_point(*lhs),
                    rhs_zero_point: self.zero_point(*rhs),
                };
                batch_matmul(self.path, &shape, value(*lhs), value(*rhs), &stage, out)?;
            }
            Op::LayerNorm { input, gamma, beta, output, epsilon, output_scale } => {
                let p = reference::LayerNormParams {
                    input_zero_point: self.zero_point(*input),
                    output_zero_point: self.zero_point(*output),
                    epsilon: *epsilon,
                    output_scale: *output_scale,
                };
                let (gamma, beta) = (constant_i8(model, *gamma), constant_i32(model, *beta));
                reference::layer_norm(rounding, &p, g.depth, gamma, beta, value(*input), out);
            }
            Op::Gelu { input, output, erf_clip, erf_one, output_scale } => {
                let p = reference::GeluParams {
                    input_zero_point: self.zero_point(*input),
                    output_zero_point: self.zero_point(*output),
                    erf_clip: *erf_clip,
                    erf_one: *erf_one,
                    output_scale: *output_scale,
                };
                if self.path == KernelPath::Reference {
                    reference::gelu(rounding, &p, value(*input), out);
                } else {
                    fast::gelu(rounding, &p, value(*input), out);
                }
            }
            Op::Gather { table, indices, .. } => {
                let zp = self.zero_point(*indices);
                reference::gather(constant_i8(model, *table), g.cols, g.depth, zp, value(*indices), out);
            }
            Op::Transpose { input, perm, .. } => {
                reference::transpose(&model.tensors[usize::from(*input)].shape, perm, value(*input), out);
            }
        }
        Ok(())
    }

    fn binary(&self, lhs: TensorId, rhs: TensorId, output: TensorId, clamp: crate::Clamp) -> reference::Binary {
        reference::Binary {
            lhs_zero_point: self.zero_point(lhs),
            rhs_zero_point: self.zero_point(rhs),
            output_zero_point: self.zero_point(output),
            clamp,
        }
    }
}
