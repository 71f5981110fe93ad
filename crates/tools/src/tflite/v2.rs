//! The operators only format v2 imports, each with the parameters TensorFlow Lite Micro's
//! `Prepare` derives (`tensorflow/lite/micro/kernels/*_common.cc`), in the precision it uses.

use aiop_engine::{Op, Tensor, TensorId};

use super::{Importer, Quant, TYPE_FLOAT32, TYPE_INT8, TYPE_INT32, TfOp, TfTensor, real_scale};
use crate::error::Result;
use crate::qmath::{
    ADD_LEFT_SHIFT, add_params_v2, hard_swish_params, leaky_relu_scales, mean_scale_v2, quantize_multiplier_v2,
};

/// TFLM's `kMaxInputNum` for CONCATENATION.
const MAX_CONCAT_INPUTS: usize = 10;
/// The engine's largest HardSwish exponent magnitude (`aiop_engine::limits`).
const MAX_HARD_SWISH_EXPONENT: i32 = aiop_engine::limits::MAX_HARD_SWISH_EXPONENT as i32;

impl<'t, 'a> Importer<'t, 'a> {
    /// An axis of file tensor `t` (negative counts from the end) as an axis of its engine
    /// shape: `None` for the batch axis the importer drops from `[1, H, W, C]`.
    fn engine_axis(&self, index: usize, op: &TfOp<'_>, t: &TfTensor, axis: i32) -> Result<Option<usize>> {
        let rank = t.shape.len() as i32;
        let resolved = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&resolved) {
            return Err(self.err(
                index,
                op,
                format!("axis {axis} is not an axis of the rank-{rank} tensor {:?}", t.name),
            ));
        }
        Ok(match rank {
            4 => (resolved > 0).then(|| resolved as usize - 1),
            _ => Some(resolved as usize),
        })
    }

    /// Adds `make(out)` writing file tensor `y_idx`, whose engine shape is `shape` (or one of
    /// `alternatives`). When the file's shape is another one with the same elements, the op
    /// writes a new tensor of `shape` and a Reshape copies it to the file's tensor.
    fn push_shaped(
        &mut self,
        y_idx: i32,
        y: Quant,
        shape: &[u32],
        alternatives: &[&[u32]],
        make: impl FnOnce(TensorId) -> Op,
    ) -> Result<()> {
        let file_shape = self.shape(self.tensor(y_idx)?)?;
        if file_shape == shape || alternatives.contains(&file_shape.as_slice()) {
            let out = self.activation(y_idx, "output")?;
            self.b.op(make(out));
            return Ok(());
        }
        let tmp = self.b.tensor(Tensor::activation(shape, y.zero_point, real_scale(y.scale.into())?));
        self.b.op(make(tmp));
        let out = self.activation(y_idx, "output")?;
        self.b.op(Op::Reshape { input: tmp, output: out });
        Ok(())
    }

    /// The values of a constant int32 tensor.
    fn int32s(&self, index: usize, op: &TfOp<'_>, idx: Option<i32>, what: &str) -> Result<Vec<i32>> {
        let idx = idx.ok_or_else(|| self.err(index, op, format!("has no {what} input")))?;
        let (t, data) = self.constant(idx, what)?;
        if t.dtype != TYPE_INT32 || data.len() % 4 != 0 {
            return Err(self.err(
                index,
                op,
                format!("{what} {:?} must be int32 (TensorFlow Lite Micro reads it as int32)", t.name),
            ));
        }
        Ok(data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    /// ADD and SUB in format v2: left shift 20 and the `twice_max_input_scale` multipliers;
    /// SUB has ADD's form and, in the pinned TFLM build, ADD's derivation (`CalculateOpDataSub`).
    pub(super) fn add_or_sub_v2(
        &mut self,
        index: usize,
        op: &TfOp<'a>,
        x_idx: i32,
        y_idx: i32,
        subtract: bool,
    ) -> Result<()> {
        let rhs_idx =
            op.inputs.get(1).copied().filter(|&t| t >= 0).ok_or_else(|| self.err(index, op, "needs two inputs"))?;
        let (x_t, r_t, y_t) = (self.tensor(x_idx)?, self.tensor(rhs_idx)?, self.tensor(y_idx)?);
        if r_t.shape != x_t.shape || y_t.shape != x_t.shape {
            return Err(self.err(
                index,
                op,
                format!("shapes {:?}, {:?} -> {:?}: broadcasting is not supported", x_t.shape, r_t.shape, y_t.shape),
            ));
        }
        let (aq, bq, yq) = (self.quant(x_t)?, self.quant(r_t)?, self.quant(y_t)?);
        let fused = op.options.map_or(Ok(0), |o| o.i8(0, 0))?;
        let clamp = self.clamp(index, op, fused, yq)?;
        let p = add_params_v2(aq.scale, bq.scale, yq.scale).ok_or_else(|| {
            self.err(
                index,
                op,
                format!(
                    "scales {} and {} -> {}: TFLM's rescaling multipliers must each be in (0, 1)",
                    aq.scale, bq.scale, yq.scale
                ),
            )
        })?;
        let (lhs, rhs) = (self.activation(x_idx, "lhs")?, self.activation(rhs_idx, "rhs")?);
        let output = self.activation(y_idx, "output")?;
        let (left_shift, lhs_scale, rhs_scale, output_scale) = (ADD_LEFT_SHIFT, p.lhs, p.rhs, p.output);
        self.b.op(if subtract {
            Op::Sub { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp }
        } else {
            Op::Add { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp }
        });
        Ok(())
    }

    /// CONCATENATION: TFLM's int8 kernel copies bytes and requires every input to have the
    /// output's scale and zero point, no fused activation, and at most 10 inputs.
    pub(super) fn concatenation(&mut self, index: usize, op: &TfOp<'a>, y_idx: i32) -> Result<()> {
        let o = op.options;
        let axis = o.map_or(Ok(0), |o| o.i32(0, 0))?;
        if o.map_or(Ok(0), |o| o.i8(1, 0))? != 0 {
            return Err(self.err(index, op, "TensorFlow Lite Micro allows no fused activation on CONCATENATION"));
        }
        if op.inputs.is_empty() || op.inputs.len() > MAX_CONCAT_INPUTS {
            return Err(self.err(
                index,
                op,
                format!("has {} inputs; TensorFlow Lite Micro takes 1 to {MAX_CONCAT_INPUTS}", op.inputs.len()),
            ));
        }
        let y_t = self.tensor(y_idx)?;
        let yq = self.quant(y_t)?;
        let mut inputs = Vec::with_capacity(op.inputs.len());
        for (i, &x_idx) in op.inputs.iter().enumerate() {
            let x_t = self.tensor(x_idx)?;
            let xq = self.quant(x_t)?;
            if xq.scale != yq.scale || xq.zero_point != yq.zero_point {
                return Err(self.err(
                    index,
                    op,
                    format!(
                        "input {i} {:?} has scale {} and zero point {}, the output scale {} and zero point {}; \
                         TensorFlow Lite Micro's int8 CONCATENATION requires every input to have the output's",
                        x_t.name, xq.scale, xq.zero_point, yq.scale, yq.zero_point
                    ),
                ));
            }
            inputs.push(self.activation(x_idx, "input")?);
        }
        let axis = self
            .engine_axis(index, op, y_t, axis)?
            .ok_or_else(|| self.err(index, op, "concatenation along the batch axis is not supported"))?;
        let axis = u8::try_from(axis).map_err(|_| self.err(index, op, "axis over 255"))?;
        let output = self.activation(y_idx, "output")?;
        self.b.op(Op::Concatenation { inputs, output, axis });
        Ok(())
    }

    /// PAD and PADV2: the input's bytes copied unchanged (TFLM does not compare the input's and
    /// output's quantization), surrounded by the output zero point, or by PADV2's constant
    /// (whose quantization TFLM requires to be the output's).
    pub(super) fn pad(&mut self, index: usize, op: &TfOp<'a>, x_idx: i32, y_idx: i32) -> Result<()> {
        let (x_t, y_t) = (self.tensor(x_idx)?, self.tensor(y_idx)?);
        let yq = self.quant(y_t)?;
        self.quant(x_t)?;
        let rank = y_t.shape.len();
        if rank == 0 || x_t.shape.len() != rank {
            return Err(self.err(index, op, "input and output must have the same rank, at least 1"));
        }
        let p = self.int32s(index, op, op.inputs.get(1).copied().filter(|&t| t >= 0), "paddings")?;
        if p.len() != 2 * rank {
            return Err(self.err(
                index,
                op,
                format!("has {} paddings for rank {rank}; expected {}", p.len(), 2 * rank),
            ));
        }
        let mut pairs = Vec::with_capacity(rank);
        for (axis, pair) in p.chunks_exact(2).enumerate() {
            let (Ok(before), Ok(after)) = (u32::try_from(pair[0]), u32::try_from(pair[1])) else {
                return Err(self.err(index, op, format!("axis {axis} has negative padding {pair:?}")));
            };
            if i64::from(x_t.shape[axis]) + i64::from(before) + i64::from(after) != i64::from(y_t.shape[axis]) {
                return Err(self.err(index, op, format!("axis {axis}: the padded size is not the output's")));
            }
            pairs.push((before, after));
        }
        if rank == 4 {
            if pairs[0] != (0, 0) {
                return Err(self.err(index, op, "padding the batch axis is not supported"));
            }
            pairs.remove(0);
        }
        let value = match op.inputs.get(2).copied().filter(|&t| t >= 0) {
            None => yq.zero_point as i8,
            Some(c) => {
                let (t, data) = self.constant(c, "constant value")?;
                let scale = t.scales.first().copied().unwrap_or(0.0);
                let zero_point = t.zero_points.first().copied().unwrap_or(0);
                if t.dtype != TYPE_INT8 || data.len() != 1 {
                    return Err(self.err(index, op, "the constant value must be one int8"));
                }
                if scale != yq.scale || zero_point != i64::from(yq.zero_point) {
                    return Err(self.err(
                        index,
                        op,
                        format!(
                            "the constant value's quantization (scale {scale}, zero point {zero_point}) is not the \
                             output's; TensorFlow Lite Micro requires it to be"
                        ),
                    ));
                }
                data[0] as i8
            }
        };
        let (x, y) = (self.activation(x_idx, "input")?, self.activation(y_idx, "output")?);
        self.b.op(Op::Pad { input: x, output: y, paddings: pairs, value });
        Ok(())
    }

    /// MEAN: TFLM's int8 MEAN always requantizes (`QuantizedMeanOrSum`), with the division by
    /// the element count folded into the scale ([`mean_scale_v2`]). Reducing only axes of size
    /// 1 (or none) divides by 1: that is a Requantize.
    pub(super) fn mean(&mut self, index: usize, op: &TfOp<'a>, x_idx: i32, y_idx: i32) -> Result<()> {
        let (x_t, y_t) = (self.tensor(x_idx)?, self.tensor(y_idx)?);
        let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
        let axes = self.int32s(index, op, op.inputs.get(1).copied().filter(|&t| t >= 0), "axis")?;
        let rank = x_t.shape.len() as i32;
        let mut resolved: Vec<i32> = Vec::new();
        for &a in &axes {
            let r = if a < 0 { a + rank } else { a };
            if !(0..rank).contains(&r) {
                return Err(self.err(index, op, format!("axis {a} is not an axis of the rank-{rank} input")));
            }
            if !resolved.contains(&r) {
                resolved.push(r);
            }
        }
        let count: u64 = resolved.iter().map(|&a| u64::from(x_t.shape[a as usize].max(0) as u32)).product();
        let scale = mean_scale_v2(xq.scale, yq.scale, count).ok_or_else(|| {
            self.err(
                index,
                op,
                format!(
                    "scale ratio {} over {count} elements gives a shift outside aiop's [-31, 30]",
                    f64::from(xq.scale) / f64::from(yq.scale)
                ),
            )
        })?;
        let x_shape = self.shape(x_t)?;
        let mut mask: u8 = 0;
        for &a in &resolved {
            if let Some(e) = self.engine_axis(index, op, x_t, a)?
                && x_shape[e] != 1
            {
                mask |= 1 << e;
            }
        }
        let elements = |s: &[u32]| s.iter().map(|&d| u64::from(d)).product::<u64>();
        let kept: Vec<u32> =
            x_shape.iter().enumerate().map(|(i, &d)| if mask & (1 << i) != 0 { 1 } else { d }).collect();
        if elements(&self.shape(y_t)?) != elements(&kept) {
            return Err(self.err(index, op, "the output shape does not match the reduced input"));
        }
        let x = self.activation(x_idx, "input")?;
        if mask == 0 {
            return self.push_shaped(y_idx, yq, &x_shape, &[], |out| Op::Requantize { input: x, output: out, scale });
        }
        let mut dropped: Vec<u32> =
            x_shape.iter().enumerate().filter(|&(i, _)| mask & (1 << i) == 0).map(|(_, &d)| d).collect();
        if dropped.is_empty() {
            dropped.push(1);
        }
        self.push_shaped(y_idx, yq, &kept, &[&dropped], |out| Op::Mean { input: x, output: out, axes: mask, scale })
    }

    /// QUANTIZE from int8 to int8: TFLM's `Requantize` with `QuantizeMultiplier(in / out)`.
    pub(super) fn quantize(&mut self, index: usize, op: &TfOp<'a>, x_idx: i32, y_idx: i32) -> Result<()> {
        let (x_t, y_t) = (self.tensor(x_idx)?, self.tensor(y_idx)?);
        if x_t.dtype == TYPE_FLOAT32 || y_t.dtype == TYPE_FLOAT32 {
            return Err(self.err(
                index,
                op,
                "a float input or output: convert with inference_input_type and inference_output_type set to \
                 tf.int8 so the model is int8 end to end",
            ));
        }
        if x_t.dtype != TYPE_INT8 || y_t.dtype != TYPE_INT8 {
            return Err(self.err(index, op, "only int8-to-int8 QUANTIZE (requantization) can be imported"));
        }
        if x_t.shape != y_t.shape {
            return Err(self.err(index, op, "input and output shapes differ"));
        }
        let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
        let real = f64::from(xq.scale) / f64::from(yq.scale);
        let scale = quantize_multiplier_v2(real)
            .ok_or_else(|| self.err(index, op, format!("scale ratio {real} is at least 2^30")))?;
        let (x, y) = (self.activation(x_idx, "input")?, self.activation(y_idx, "output")?);
        self.b.op(Op::Requantize { input: x, output: y, scale });
        Ok(())
    }

    /// HARD_SWISH: TFLM's `HardSwishParams` ([`hard_swish_params`]).
    pub(super) fn hard_swish(&mut self, index: usize, op: &TfOp<'a>, x_idx: i32, y_idx: i32) -> Result<()> {
        let (x_t, y_t) = (self.tensor(x_idx)?, self.tensor(y_idx)?);
        if x_t.shape != y_t.shape {
            return Err(self.err(index, op, "input and output shapes differ"));
        }
        let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
        let p = hard_swish_params(xq.scale, yq.scale).ok_or_else(|| {
            self.err(
                index,
                op,
                format!(
                    "input scale {} / 128 over output scale {} is at least 1; TensorFlow Lite Micro rejects it",
                    xq.scale, yq.scale
                ),
            )
        })?;
        let range = -MAX_HARD_SWISH_EXPONENT..=MAX_HARD_SWISH_EXPONENT;
        if !range.contains(&p.reluish_exponent) || !range.contains(&p.output_exponent) {
            return Err(self.err(
                index,
                op,
                format!(
                    "exponents (reluish {}, output {}) are outside aiop's [-{MAX_HARD_SWISH_EXPONENT}, \
                     {MAX_HARD_SWISH_EXPONENT}]",
                    p.reluish_exponent, p.output_exponent
                ),
            ));
        }
        let (x, y) = (self.activation(x_idx, "input")?, self.activation(y_idx, "output")?);
        self.b.op(Op::HardSwish {
            input: x,
            output: y,
            reluish_multiplier: p.reluish_multiplier,
            reluish_exponent: p.reluish_exponent as i8,
            output_multiplier: p.output_multiplier,
            output_exponent: p.output_exponent as i8,
        });
        Ok(())
    }

    /// LEAKY_RELU: TFLM's identity and alpha multipliers ([`leaky_relu_scales`]).
    pub(super) fn leaky_relu(&mut self, index: usize, op: &TfOp<'a>, x_idx: i32, y_idx: i32) -> Result<()> {
        let (x_t, y_t) = (self.tensor(x_idx)?, self.tensor(y_idx)?);
        if x_t.shape != y_t.shape {
            return Err(self.err(index, op, "input and output shapes differ"));
        }
        let (xq, yq) = (self.quant(x_t)?, self.quant(y_t)?);
        let alpha = op.options.map_or(Ok(0.0), |o| o.f32(0, 0.0))?;
        let s = leaky_relu_scales(xq.scale, alpha, yq.scale).ok_or_else(|| {
            self.err(
                index,
                op,
                format!(
                    "alpha {alpha} with scales {} -> {}: a scale ratio is at least 2^30, not finite, or rounds \
                     to the multiplier -2^31 (which TensorFlow Lite Micro cannot negate)",
                    xq.scale, yq.scale
                ),
            )
        })?;
        let (x, y) = (self.activation(x_idx, "input")?, self.activation(y_idx, "output")?);
        self.b.op(Op::LeakyRelu {
            input: x,
            output: y,
            identity_scale: s.identity,
            alpha_scale: s.alpha,
            alpha_negative: s.alpha_negative,
        });
        Ok(())
    }
}
