//! Post-training quantization of a float model ([`Arch`] + weights) into an aiop model.
//!
//! - Weights: per output channel, symmetric, `scale = max|w| / 127`, values in `[-127, 127]`.
//! - Activations: per tensor, asymmetric, from the minimum and maximum seen on calibration
//!   data (the range always includes 0, so real zero is exact).
//! - Biases: int32 at scale `input_scale * weight_scale[c]`.
//! - Requantization: `input_scale * weight_scale[c] / output_scale` through TensorFlow Lite's
//!   `QuantizeMultiplier` ([`crate::qmath`]): in format v1 its single-rounding build (shifts
//!   above 30 saturated), in format v2 TensorFlow Lite Micro's (double-rounding) build, with
//!   Softmax scaled as TFLM's `PreprocessSoftmaxScaling` scales it.

use std::collections::HashMap;

use aiop_engine::{
    Clamp, ConvWindow, FormatVersion, Model, ModelBuilder, Op, Padding, PoolWindow, Scale, Tensor as QTensor, TensorId,
};
use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};

use crate::arch::{Arch, Layer, PaddingSpec, Shape};
use crate::data::Dataset;
use crate::error::{Result, ToolsError};
use crate::qmath::{quantize_multiplier, quantize_multiplier_v2, softmax_params, softmax_params_v2};

/// Per-tensor affine quantization of an activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActQuant {
    /// Real value of one int8 step.
    pub scale: f64,
    /// The int8 value that stands for real 0.
    pub zero_point: i32,
}

impl ActQuant {
    /// The int8 quantization covering `[min, max]` (extended to include 0).
    pub fn from_range(min: f32, max: f32) -> ActQuant {
        let (lo, hi) = (f64::from(min.min(0.0)), f64::from(max.max(0.0)));
        if hi - lo <= f64::EPSILON {
            return ActQuant { scale: 1.0, zero_point: 0 };
        }
        let scale = (hi - lo) / 255.0;
        let zero_point = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
        ActQuant { scale, zero_point }
    }
}

/// Observed ranges: the input's and each layer output's `(min, max)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The float input's `(min, max)`.
    pub input: (f32, f32),
    /// Each layer output's `(min, max)`, in layer order.
    pub layers: Vec<(f32, f32)>,
}

/// Runs the float model over `data` in batches, recording every activation's range.
pub fn calibrate(arch: &Arch, params: &HashMap<String, Tensor>, data: &Dataset, progress: bool) -> Result<Calibration> {
    not_vit(arch)?;
    let mut cal = Calibration { input: (f32::MAX, f32::MIN), layers: vec![(f32::MAX, f32::MIN); arch.layers.len()] };
    let bar = if progress { ProgressBar::new(data.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("calibrating {bar:40} {pos}/{len} samples")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let widen = |r: &mut (f32, f32), t: &Tensor| -> Result<()> {
        let v = t.flatten_all()?;
        r.0 = r.0.min(v.min(0)?.to_scalar::<f32>()?);
        r.1 = r.1.max(v.max(0)?.to_scalar::<f32>()?);
        Ok(())
    };
    for chunk in data.samples.chunks(64) {
        let rows: Vec<&[f32]> = chunk.iter().map(|s| s.values.as_slice()).collect();
        let x = arch.batch(&rows, &Device::Cpu)?;
        widen(&mut cal.input, &x)?;
        for (range, out) in cal.layers.iter_mut().zip(arch.trace(params, &x, false)?) {
            widen(range, &out)?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(cal)
}

/// Layer models only: a vision transformer has its own calibration and quantizer.
fn not_vit(arch: &Arch) -> Result<()> {
    match arch.vit {
        Some(_) => Err(ToolsError::Arch(format!("{} is a vit architecture: use aiop_tools::vit", arch.name))),
        None => Ok(()),
    }
}

/// A tensor's (informational) scale.
pub(crate) fn scale_of(real: f64, what: &str) -> Result<Scale> {
    quantize_multiplier(real)
        .ok_or_else(|| ToolsError::Quantize(format!("{what}: scale {real} is not a positive number")))
}

/// A requantization scale, derived as format `version` derives it.
fn requant_of(version: FormatVersion, real: f64, what: &str) -> Result<Scale> {
    match version {
        FormatVersion::V1 => scale_of(real, what),
        FormatVersion::V2 | FormatVersion::V3 => quantize_multiplier_v2(real).ok_or_else(|| {
            ToolsError::Quantize(format!("{what}: scale ratio {real} is negative, not finite, or at least 2^30"))
        }),
    }
}

fn floats(params: &HashMap<String, Tensor>, name: &str) -> Result<Vec<f32>> {
    let t = params.get(name).ok_or_else(|| ToolsError::Weights(format!("tensor {name:?} is missing")))?;
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// Per-channel symmetric quantization of `channels` rows of weights.
pub(crate) fn quantize_weights(w: &[f32], channels: usize) -> (Vec<i8>, Vec<f64>) {
    let per = w.len() / channels;
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(channels);
    for row in w.chunks(per) {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s = if max > 0.0 { f64::from(max) / 127.0 } else { 1.0 };
        q.extend(row.iter().map(|&v| (f64::from(v) / s).round().clamp(-127.0, 127.0) as i8));
        scales.push(s);
    }
    (q, scales)
}

/// What the quantizer tracks between layers.
struct Cursor {
    id: TensorId,
    quant: ActQuant,
    shape: Shape,
}

/// Builds the int8 model of format `version` from float parameters and calibration ranges.
pub fn quantize(
    arch: &Arch,
    params: &HashMap<String, Tensor>,
    cal: &Calibration,
    version: FormatVersion,
) -> Result<Model> {
    not_vit(arch)?;
    let shapes = arch.shapes()?;
    let mut b = ModelBuilder::new(version);
    let input_quant = match (arch.input_scale, arch.input_zero_point) {
        (Some(scale), Some(zero_point)) => ActQuant { scale, zero_point },
        _ => ActQuant::from_range(cal.input.0, cal.input.1),
    };
    let input_shape = arch.input()?;
    let input = b.tensor(QTensor::activation(
        &input_shape.dims(),
        input_quant.zero_point,
        scale_of(input_quant.scale, "input")?,
    ));
    let mut cur = Cursor { id: input, quant: input_quant, shape: input_shape };

    for (index, layer) in arch.layers.iter().enumerate() {
        let out_shape = shapes[index];
        let (lo, hi) = cal.layers[index];
        match layer {
            Layer::Dense { name, units, relu } | Layer::Conv2d { name, filters: units, relu, .. } => {
                let out_q = ActQuant::from_range(lo, hi);
                let w = floats(params, &format!("{name}.weight"))?;
                let bias = floats(params, &format!("{name}.bias"))?;
                let w = match layer {
                    // PyTorch [F, C, K, K] -> engine [F, K, K, C].
                    Layer::Conv2d { kernel, .. } => {
                        let c = w.len() / (units * kernel * kernel);
                        let mut t = vec![0f32; w.len()];
                        for f in 0..*units {
                            for ic in 0..c {
                                for ky in 0..*kernel {
                                    for kx in 0..*kernel {
                                        t[((f * kernel + ky) * kernel + kx) * c + ic] =
                                            w[((f * c + ic) * kernel + ky) * kernel + kx];
                                    }
                                }
                            }
                        }
                        t
                    }
                    _ => w,
                };
                let (wq, w_scales) = quantize_weights(&w, *units);
                let mut bias_q = Vec::with_capacity(*units);
                let mut out_scales = Vec::with_capacity(*units);
                for (c, &ws) in w_scales.iter().enumerate() {
                    let acc_scale = cur.quant.scale * ws;
                    let bq = (f64::from(bias[c]) / acc_scale).round();
                    if bq.abs() > 1e9 {
                        return Err(ToolsError::Quantize(format!(
                            "{name}: bias {} of channel {c} overflows int32 at scale {acc_scale}",
                            bias[c]
                        )));
                    }
                    bias_q.push(bq as i32);
                    out_scales.push(requant_of(version, acc_scale / out_q.scale, name)?);
                }
                let out_scale = scale_of(out_q.scale, name)?;
                let w_dims: Vec<u32> = match layer {
                    Layer::Conv2d { kernel, .. } => {
                        let Shape::Image { c, .. } = cur.shape else { unreachable!("checked by shapes()") };
                        vec![*units as u32, *kernel as u32, *kernel as u32, c as u32]
                    }
                    _ => vec![*units as u32, cur.shape.elements() as u32],
                };
                let w_id = b.tensor(QTensor::weights(&w_dims, Scale::default(), wq));
                let b_id = b.tensor(QTensor::bias(bias_q, Scale::default()));
                let out = b.tensor(QTensor::activation(&out_shape.dims(), out_q.zero_point, out_scale));
                let clamp =
                    if *relu { Clamp { min: out_q.zero_point.clamp(-128, 127) as i8, max: 127 } } else { Clamp::NONE };
                b.op(match layer {
                    Layer::Conv2d { padding, .. } => Op::Conv2D {
                        input: cur.id,
                        weights: w_id,
                        bias: Some(b_id),
                        output: out,
                        window: ConvWindow {
                            stride_h: 1,
                            stride_w: 1,
                            dilation_h: 1,
                            dilation_w: 1,
                            padding: if *padding == PaddingSpec::Same { Padding::Same } else { Padding::Valid },
                        },
                        output_scales: out_scales,
                        clamp,
                    },
                    _ => Op::FullyConnected {
                        input: cur.id,
                        weights: w_id,
                        bias: Some(b_id),
                        output: out,
                        output_scales: out_scales,
                        clamp,
                    },
                });
                cur = Cursor { id: out, quant: out_q, shape: out_shape };
            }
            Layer::MaxPool2d { size } | Layer::AvgPool2d { size } => {
                let s = *size as u16;
                let window = PoolWindow { filter_h: s, filter_w: s, stride_h: s, stride_w: s, padding: Padding::Valid };
                let out = b.tensor(QTensor::activation(
                    &out_shape.dims(),
                    cur.quant.zero_point,
                    scale_of(cur.quant.scale, "pool")?,
                ));
                b.op(if matches!(layer, Layer::MaxPool2d { .. }) {
                    Op::MaxPool2D { input: cur.id, output: out, window, clamp: Clamp::NONE }
                } else {
                    Op::AveragePool2D { input: cur.id, output: out, window, clamp: Clamp::NONE }
                });
                cur = Cursor { id: out, quant: cur.quant, shape: out_shape };
            }
            Layer::Flatten => {
                let out = b.tensor(QTensor::activation(
                    &out_shape.dims(),
                    cur.quant.zero_point,
                    scale_of(cur.quant.scale, "flatten")?,
                ));
                b.op(Op::Reshape { input: cur.id, output: out });
                cur = Cursor { id: out, quant: cur.quant, shape: out_shape };
            }
            Layer::Softmax => {
                let params = match version {
                    FormatVersion::V1 => softmax_params(1.0, cur.quant.scale),
                    FormatVersion::V2 | FormatVersion::V3 => softmax_params_v2(1.0, cur.quant.scale),
                };
                let (beta, diff_min) = params.ok_or_else(|| {
                    ToolsError::Quantize(format!(
                        "softmax input scale {} is out of range (too small for 5 integer bits, or 16 or more)",
                        cur.quant.scale
                    ))
                })?;
                let out_q = ActQuant { scale: 1.0 / 256.0, zero_point: -128 };
                let out = b.tensor(QTensor::activation(&out_shape.dims(), -128, scale_of(out_q.scale, "softmax")?));
                b.op(Op::Softmax { input: cur.id, output: out, beta, diff_min });
                cur = Cursor { id: out, quant: out_q, shape: out_shape };
            }
        }
    }
    Ok(b.finish(input, cur.id))
}
