//! The architecture description of a float model (a small JSON file beside its safetensors)
//! and its float forward pass with candle-core.
//!
//! ```json
//! { "name": "digits_mlp", "input_shape": [64], "input_divisor": 16.0,
//!   "input_scale": 0.004166666666666667, "input_zero_point": -128,
//!   "layers": [ {"kind": "dense", "name": "fc1", "units": 32, "relu": true},
//!               {"kind": "dense", "name": "fc2", "units": 10}, {"kind": "softmax"} ] }
//! ```
//! Images are `[height, width, channels]`. Weight names in the safetensors file:
//! `<name>.weight` (dense `[units, inputs]`, conv2d `[filters, channels, k, k]` as in PyTorch)
//! and `<name>.bias`. A `flatten` layer flattens in height, width, channel order (the
//! engine's layout), not PyTorch's channel-first order.
//!
//! A vision transformer has a `vit` object instead of `layers` ([`crate::vit`]).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ToolsError, read};
use crate::vit::{Probe, Vit};

/// Padding of a `conv2d` layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PaddingSpec {
    /// Zero padding that keeps the height and width (odd kernels only).
    #[default]
    Same,
    /// No padding: height and width shrink by `kernel - 1`.
    Valid,
}

/// One layer of a float model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Layer {
    /// `y = x W^T + b`, optionally followed by ReLU.
    Dense {
        /// Prefix of its tensors in the safetensors file (`<name>.weight`, `<name>.bias`).
        name: String,
        /// Number of outputs.
        units: usize,
        /// Followed by ReLU.
        #[serde(default)]
        relu: bool,
    },
    /// Square kernel, stride 1, SAME (odd kernel) or VALID padding, optionally ReLU.
    Conv2d {
        /// Prefix of its tensors in the safetensors file (`<name>.weight`, `<name>.bias`).
        name: String,
        /// Number of output channels.
        filters: usize,
        /// Height and width of the kernel.
        kernel: usize,
        /// SAME (the default) or VALID.
        #[serde(default)]
        padding: PaddingSpec,
        /// Followed by ReLU.
        #[serde(default)]
        relu: bool,
    },
    /// `size x size` window, stride `size`, VALID padding.
    MaxPool2d {
        /// Height and width of the window, and its stride.
        size: usize,
    },
    /// Average over a `size x size` window, stride `size`, VALID padding.
    AvgPool2d {
        /// Height and width of the window, and its stride.
        size: usize,
    },
    /// An image to a vector, in height, width, channel order.
    Flatten,
    /// Softmax over the last axis (beta 1); only as the last layer.
    Softmax,
}

/// A float model's architecture and input conventions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arch {
    /// The model's name (informational).
    pub name: String,
    /// `[features]` or `[height, width, channels]`.
    pub input_shape: Vec<usize>,
    /// The float input is the stored data value divided by this (digits: 16).
    #[serde(default = "one")]
    pub input_divisor: f32,
    /// Fixed input quantization; calibrated from data when absent.
    #[serde(default)]
    pub input_scale: Option<f64>,
    /// Zero point of the fixed input quantization; it takes effect only with `input_scale`.
    #[serde(default)]
    pub input_zero_point: Option<i32>,
    /// The layers, input to output (empty for a vision transformer).
    #[serde(default)]
    pub layers: Vec<Layer>,
    /// A vision transformer instead of `layers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vit: Option<Vit>,
}

fn one() -> f32 {
    1.0
}

/// Shape of an activation between layers (batch excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A vector of this many features.
    Flat(usize),
    /// An image.
    Image {
        /// Height.
        h: usize,
        /// Width.
        w: usize,
        /// Channels.
        c: usize,
    },
}

impl Shape {
    /// The dimensions as an engine tensor takes them: `[n]` or `[h, w, c]`.
    pub fn dims(self) -> Vec<u32> {
        match self {
            Shape::Flat(n) => vec![n as u32],
            Shape::Image { h, w, c } => vec![h as u32, w as u32, c as u32],
        }
    }
    /// Number of elements.
    pub fn elements(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Image { h, w, c } => h * w * c,
        }
    }
}

impl Arch {
    /// Reads an architecture description from a JSON file and checks that its layers fit
    /// together.
    pub fn load(path: &Path) -> Result<Arch> {
        let arch: Arch =
            serde_json::from_slice(&read(path)?).map_err(|e| ToolsError::Arch(format!("{}: {e}", path.display())))?;
        match &arch.vit {
            Some(_) if !arch.layers.is_empty() => {
                return Err(ToolsError::Arch(format!("{}: a vit architecture has no layers", path.display())));
            }
            Some(vit) => vit.check(&arch)?,
            None => {
                arch.shapes()?;
            }
        }
        Ok(arch)
    }

    /// The input's shape; an error unless `input_shape` has one or three dimensions.
    pub fn input(&self) -> Result<Shape> {
        match self.input_shape[..] {
            [n] => Ok(Shape::Flat(n)),
            [h, w, c] => Ok(Shape::Image { h, w, c }),
            _ => Err(ToolsError::Arch(format!("input_shape {:?} must be [features] or [h, w, c]", self.input_shape))),
        }
    }

    /// The output shape of every layer, checking that the layers fit together.
    pub fn shapes(&self) -> Result<Vec<Shape>> {
        let mut shape = self.input()?;
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let bad = |why: String| ToolsError::Arch(format!("layer {i} ({layer:?}): {why}"));
            shape = match (*layer).clone() {
                Layer::Dense { units, .. } => match shape {
                    Shape::Flat(_) => Shape::Flat(units),
                    Shape::Image { .. } => return Err(bad("dense needs a flat input; add a flatten layer".into())),
                },
                Layer::Conv2d { filters, kernel, padding, .. } => match shape {
                    Shape::Image { h, w, .. } => match padding {
                        PaddingSpec::Same if kernel % 2 == 1 => Shape::Image { h, w, c: filters },
                        PaddingSpec::Same => return Err(bad("SAME padding needs an odd kernel".into())),
                        PaddingSpec::Valid if kernel <= h && kernel <= w => {
                            Shape::Image { h: h - kernel + 1, w: w - kernel + 1, c: filters }
                        }
                        PaddingSpec::Valid => return Err(bad("kernel larger than the image".into())),
                    },
                    Shape::Flat(_) => return Err(bad("conv2d needs an [h, w, c] input".into())),
                },
                Layer::MaxPool2d { size } | Layer::AvgPool2d { size } => match shape {
                    Shape::Image { h, w, c } if size >= 1 && size <= h && size <= w => {
                        Shape::Image { h: h / size, w: w / size, c }
                    }
                    _ => return Err(bad("pooling needs an [h, w, c] input at least as large as the window".into())),
                },
                Layer::Flatten => Shape::Flat(shape.elements()),
                Layer::Softmax => {
                    if i + 1 != self.layers.len() {
                        return Err(bad("softmax must be the last layer".into()));
                    }
                    shape
                }
            };
            out.push(shape);
        }
        if out.is_empty() {
            return Err(ToolsError::Arch("no layers".into()));
        }
        Ok(out)
    }

    /// Parameter names and shapes (PyTorch layout), in layer order.
    pub fn parameters(&self) -> Result<Vec<(String, Vec<usize>)>> {
        if let Some(vit) = &self.vit {
            return vit.parameters(self);
        }
        let shapes = self.shapes()?;
        let mut params = Vec::new();
        let mut input = self.input()?;
        for (layer, out) in self.layers.iter().zip(&shapes) {
            match layer {
                Layer::Dense { name, units, .. } => {
                    params.push((format!("{name}.weight"), vec![*units, input.elements()]));
                    params.push((format!("{name}.bias"), vec![*units]));
                }
                Layer::Conv2d { name, filters, kernel, .. } => {
                    let Shape::Image { c, .. } = input else { unreachable!("checked by shapes()") };
                    params.push((format!("{name}.weight"), vec![*filters, c, *kernel, *kernel]));
                    params.push((format!("{name}.bias"), vec![*filters]));
                }
                _ => {}
            }
            input = *out;
        }
        Ok(params)
    }

    /// A batch of samples as the float input tensor: `[B, F]`, or `[B, C, H, W]` for images.
    pub fn batch(&self, rows: &[&[f32]], device: &Device) -> Result<Tensor> {
        let width = self.input()?.elements();
        let mut flat = Vec::with_capacity(rows.len() * width);
        for row in rows {
            if row.len() != width {
                return Err(ToolsError::Arch(format!("a sample has {} values; the model takes {width}", row.len())));
            }
            flat.extend(row.iter().map(|v| v / self.input_divisor));
        }
        let t = Tensor::from_vec(flat, (rows.len(), width), device)?;
        Ok(match self.input()? {
            Shape::Flat(_) => t,
            Shape::Image { h, w, c } => t.reshape((rows.len(), h, w, c))?.permute((0, 3, 1, 2))?.contiguous()?,
        })
    }

    /// Runs the float model, returning every layer's output (`[B, F]` or `[B, C, H, W]`; a
    /// vision transformer: its logits alone).
    /// With `logits_only`, a final softmax is skipped (for training with cross-entropy).
    pub fn trace(&self, params: &HashMap<String, Tensor>, x: &Tensor, logits_only: bool) -> Result<Vec<Tensor>> {
        if let Some(vit) = &self.vit {
            return Ok(vec![vit.forward(self, params, x, &mut Probe::default())?]);
        }
        let get =
            |name: &str| params.get(name).ok_or_else(|| ToolsError::Weights(format!("tensor {name:?} is missing")));
        let mut outs: Vec<Tensor> = Vec::new();
        let mut x = x.clone();
        for layer in &self.layers {
            x = match layer {
                Layer::Dense { name, relu, .. } => {
                    let y = x
                        .matmul(&get(&format!("{name}.weight"))?.t()?)?
                        .broadcast_add(get(&format!("{name}.bias"))?)?;
                    if *relu { y.relu()? } else { y }
                }
                Layer::Conv2d { name, kernel, padding, relu, .. } => {
                    let pad = if *padding == PaddingSpec::Same { kernel / 2 } else { 0 };
                    let b = get(&format!("{name}.bias"))?;
                    let y = x.conv2d(get(&format!("{name}.weight"))?, pad, 1, 1, 1)?;
                    let y = y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1))?)?;
                    if *relu { y.relu()? } else { y }
                }
                Layer::MaxPool2d { size } => x.max_pool2d_with_stride((*size, *size), (*size, *size))?,
                Layer::AvgPool2d { size } => x.avg_pool2d_with_stride((*size, *size), (*size, *size))?,
                Layer::Flatten => {
                    if x.rank() == 4 {
                        x.permute((0, 2, 3, 1))?.contiguous()?.flatten_from(1)?
                    } else {
                        x
                    }
                }
                Layer::Softmax if logits_only => break,
                Layer::Softmax => candle_nn::ops::softmax_last_dim(&x)?,
            };
            outs.push(x.clone());
        }
        Ok(outs)
    }

    /// Top-1 class of each sample under the float model.
    pub fn predict(&self, params: &HashMap<String, Tensor>, rows: &[&[f32]]) -> Result<Vec<usize>> {
        let x = self.batch(rows, &Device::Cpu)?;
        let out = self.trace(params, &x, false)?.pop().ok_or_else(|| ToolsError::Arch("no layers".into()))?;
        let idx = out.flatten_from(1)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
        Ok(idx.into_iter().map(|i| i as usize).collect())
    }
}

/// Loads float weights and checks them against the architecture.
pub fn load_weights(arch: &Arch, path: &Path) -> Result<HashMap<String, Tensor>> {
    let map = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| ToolsError::Weights(format!("{}: {e}", path.display())))?;
    for (name, shape) in arch.parameters()? {
        let t = map.get(&name).ok_or_else(|| {
            ToolsError::Weights(format!("{} has no tensor {name:?} (the architecture needs {shape:?})", path.display()))
        })?;
        if t.dims() != shape.as_slice() {
            return Err(ToolsError::Weights(format!(
                "{name} has shape {:?}; the architecture needs {shape:?}",
                t.dims()
            )));
        }
    }
    Ok(map.into_iter().map(|(k, v)| (k, v.to_dtype(candle_core::DType::F32).unwrap_or(v))).collect())
}
