//! A model as data: tensors and the ops that run over them, in execution order.
//!
//! This is the decoded form of the canonical bytes ([`crate::format`]); building one in code
//! and encoding it is how tools produce models.

use alloc::vec::Vec;

pub use aiop_kernels::Rounding;

/// The model-format version: which bytes are valid and what every op computes.
///
/// A version is consensus: a model's bytes name it (header byte 4), and a chain chooses which
/// versions its precompile accepts, by block. Nothing picks "the latest" implicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FormatVersion {
    /// Version 1: TensorFlow Lite int8 semantics with single-rounding requantization.
    V1,
    /// Version 2: TensorFlow Lite Micro's int8 kernels, op by op (double rounding), and the
    /// ops Sub, Concatenation, Pad, Mean, Requantize, HardSwish and LeakyRelu.
    V2,
}

impl FormatVersion {
    pub const ALL: [FormatVersion; 2] = [FormatVersion::V1, FormatVersion::V2];

    /// The header byte that names this version.
    pub const fn byte(self) -> u8 {
        match self {
            FormatVersion::V1 => 1,
            FormatVersion::V2 => 2,
        }
    }

    pub const fn from_byte(byte: u8) -> Option<FormatVersion> {
        match byte {
            1 => Some(FormatVersion::V1),
            2 => Some(FormatVersion::V2),
            _ => None,
        }
    }

    /// The requantization rule every requantizing op of this version uses.
    pub const fn rounding(self) -> Rounding {
        match self {
            FormatVersion::V1 => Rounding::Single,
            FormatVersion::V2 => Rounding::Double,
        }
    }
}

impl core::fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "v{}", self.byte())
    }
}

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    I8,
    I32,
}

impl DType {
    pub fn size(self) -> u64 {
        match self {
            DType::I8 => 1,
            DType::I32 => 4,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DType::I8 => "int8",
            DType::I32 => "int32",
        }
    }
}

/// A non-negative real number stored as integers: `multiplier * 2^(shift - 31)`, with
/// `multiplier` a Q31 value in `[0, 2^31 - 1]` and `shift` in `[-31, 30]`.
///
/// Used for requantization (where the engine computes with it) and for a tensor's scale
/// (where it is only information for tools converting real numbers in and out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scale {
    pub multiplier: i32,
    pub shift: i8,
}

impl Scale {
    pub const fn new(multiplier: i32, shift: i8) -> Self {
        Self { multiplier, shift }
    }

    /// The scale nearest to `num / den`, normalized so the multiplier is in `[2^30, 2^31)`
    /// where the range allows (round half up). For tools and tests that build models from
    /// exact ratios; a zero `den` gives the zero scale.
    pub fn from_ratio(num: u64, den: u64) -> Self {
        let mut best = Scale::new(0, -31);
        if den == 0 {
            return best;
        }
        for shift in (-31i32..=30).rev() {
            let m = ((u128::from(num) << (31 - shift)) + u128::from(den) / 2) / u128::from(den);
            if m >= 1 << 31 {
                break;
            }
            best = Scale::new(m as i32, shift as i8);
            if m >= 1 << 30 {
                break;
            }
        }
        best
    }
}

/// The values of a constant tensor, or nothing for an activation computed at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorData {
    Activation,
    I8(Vec<i8>),
    I32(Vec<i32>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    pub dtype: DType,
    /// Dimensions, outermost first; activations of images are `[height, width, channels]`.
    pub shape: Vec<u32>,
    /// The integer that stands for real zero. Int8 activations: `[-128, 127]`; weights and
    /// biases: 0.
    pub zero_point: i32,
    /// Informational: the real value of one step. Not used by any computation.
    pub scale: Scale,
    pub data: TensorData,
}

impl Tensor {
    /// An int8 activation tensor.
    pub fn activation(shape: &[u32], zero_point: i32, scale: Scale) -> Self {
        Self { dtype: DType::I8, shape: shape.to_vec(), zero_point, scale, data: TensorData::Activation }
    }
    /// Constant int8 weights (zero point 0).
    pub fn weights(shape: &[u32], scale: Scale, values: Vec<i8>) -> Self {
        Self { dtype: DType::I8, shape: shape.to_vec(), zero_point: 0, scale, data: TensorData::I8(values) }
    }
    /// Constant int32 bias (zero point 0).
    pub fn bias(values: Vec<i32>, scale: Scale) -> Self {
        let len = values.len() as u32;
        Self { dtype: DType::I32, shape: alloc::vec![len], zero_point: 0, scale, data: TensorData::I32(values) }
    }

    pub fn is_constant(&self) -> bool {
        !matches!(self.data, TensorData::Activation)
    }

    /// Number of elements, if it fits in `u64` (it always does for a validated model).
    pub fn elements(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
    }
}

/// How a window op treats the border (TensorFlow Lite's two schemes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Padding {
    /// No padding: the window stays inside the image.
    Valid,
    /// Output size `ceil(input / stride)`; padding split evenly, the odd pixel at the end.
    Same,
}

/// A fused activation, as clamp bounds on the int8 output (ReLU: `[zero_point, 127]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Clamp {
    pub min: i8,
    pub max: i8,
}

impl Clamp {
    pub const NONE: Clamp = Clamp { min: i8::MIN, max: i8::MAX };
}

/// Stride, dilation and padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvWindow {
    pub stride_h: u16,
    pub stride_w: u16,
    pub dilation_h: u16,
    pub dilation_w: u16,
    pub padding: Padding,
}

/// Filter size, stride and padding of a pooling op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolWindow {
    pub filter_h: u16,
    pub filter_w: u16,
    pub stride_h: u16,
    pub stride_w: u16,
    pub padding: Padding,
}

/// Index of a tensor in [`Model::tensors`].
pub type TensorId = u16;

/// One op. Semantics are TensorFlow Lite's int8 kernels with the model version's
/// requantization rule ([`FormatVersion::rounding`]); `docs/model-format.md` is the normative
/// text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `out[.., n] = clamp(requant(bias[n] + sum_k w[n][k] * (x[.., k] - zp_x), scale[n]) + zp_out)`.
    /// Input `[.., K]`, weights `[N, K]`, bias `[N]`, output `[.., N]`.
    FullyConnected {
        input: TensorId,
        weights: TensorId,
        bias: Option<TensorId>,
        output: TensorId,
        output_scales: Vec<Scale>,
        clamp: Clamp,
    },
    /// Input `[H, W, Cin]`, weights `[Cout, KH, KW, Cin]`, bias `[Cout]`, output `[OH, OW, Cout]`.
    Conv2D {
        input: TensorId,
        weights: TensorId,
        bias: Option<TensorId>,
        output: TensorId,
        window: ConvWindow,
        output_scales: Vec<Scale>,
        clamp: Clamp,
    },
    /// Input `[H, W, C]`, weights `[KH, KW, C * depth_multiplier]`, output `[OH, OW, C * dm]`.
    DepthwiseConv2D {
        input: TensorId,
        weights: TensorId,
        bias: Option<TensorId>,
        output: TensorId,
        window: ConvWindow,
        depth_multiplier: u16,
        output_scales: Vec<Scale>,
        clamp: Clamp,
    },
    MaxPool2D {
        input: TensorId,
        output: TensorId,
        window: PoolWindow,
        clamp: Clamp,
    },
    AveragePool2D {
        input: TensorId,
        output: TensorId,
        window: PoolWindow,
        clamp: Clamp,
    },
    /// Elementwise, same shapes. Each input is centered, shifted left by `left_shift`,
    /// rescaled by its own scale; the sum is rescaled by `output_scale`.
    Add {
        lhs: TensorId,
        rhs: TensorId,
        output: TensorId,
        left_shift: u8,
        lhs_scale: Scale,
        rhs_scale: Scale,
        output_scale: Scale,
        clamp: Clamp,
    },
    /// Elementwise, same shapes: `requant((a - zp_a) * (b - zp_b), output_scale) + zp_out`.
    Mul {
        lhs: TensorId,
        rhs: TensorId,
        output: TensorId,
        output_scale: Scale,
        clamp: Clamp,
    },
    /// Same elements, new shape; the quantization must not change.
    Reshape {
        input: TensorId,
        output: TensorId,
    },
    /// Over the last axis; output quantization is fixed: zero point -128 (scale 1/256).
    Softmax {
        input: TensorId,
        output: TensorId,
        beta: Scale,
        diff_min: i32,
    },
    /// Output quantization fixed: zero point -128 (scale 1/256).
    Logistic {
        input: TensorId,
        output: TensorId,
        input_scale: Scale,
        input_range_radius: i32,
    },
    /// Output quantization fixed: zero point 0 (scale 1/128).
    Tanh {
        input: TensorId,
        output: TensorId,
        input_scale: Scale,
        input_range_radius: i32,
    },
    /// Index of the largest value along the last axis (first one on ties), as int32.
    ArgMax {
        input: TensorId,
        output: TensorId,
    },
    /// Format v2. Elementwise `lhs - rhs`, rescaled exactly as [`Op::Add`].
    Sub {
        lhs: TensorId,
        rhs: TensorId,
        output: TensorId,
        left_shift: u8,
        lhs_scale: Scale,
        rhs_scale: Scale,
        output_scale: Scale,
        clamp: Clamp,
    },
    /// Format v2. The inputs joined along `axis`, in order; all share the output's
    /// quantization, so the bytes are copied unchanged.
    Concatenation {
        inputs: Vec<TensorId>,
        output: TensorId,
        axis: u8,
    },
    /// Format v2. The input surrounded by `paddings[axis] = (before, after)` elements of
    /// `value` on each axis; input and output share their quantization.
    Pad {
        input: TensorId,
        output: TensorId,
        paddings: Vec<(u32, u32)>,
        value: i8,
    },
    /// Format v2. Mean over the axes in the bit mask `axes` (bit `i` = axis `i`): the centered
    /// sum `sum(x) - zp_in * count` requantized by `scale` (which already holds the division
    /// by the element count, as TensorFlow Lite Micro adjusts its multiplier), plus `zp_out`.
    Mean {
        input: TensorId,
        output: TensorId,
        axes: u8,
        scale: Scale,
    },
    /// Format v2. TFLite's int8-to-int8 QUANTIZE: `clamp(requant(x - zp_in, scale) + zp_out)`.
    Requantize {
        input: TensorId,
        output: TensorId,
        scale: Scale,
    },
    /// Format v2. TFLite's int8 HARD_SWISH, `x * relu6(x + 3) / 6`, in TFLite's 16-bit
    /// fixed point: Q15 multipliers with power-of-two exponents.
    HardSwish {
        input: TensorId,
        output: TensorId,
        reluish_multiplier: i16,
        reluish_exponent: i8,
        output_multiplier: i16,
        output_exponent: i8,
    },
    /// Format v2. `requant(x - zp_in, identity)` for `x >= zp_in`, `±requant(x - zp_in, alpha)`
    /// below (negated when `alpha_negative`, for a negative slope), plus the output zero point.
    LeakyRelu {
        input: TensorId,
        output: TensorId,
        identity_scale: Scale,
        alpha_scale: Scale,
        alpha_negative: bool,
    },
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::FullyConnected { .. } => "FullyConnected",
            Op::Conv2D { .. } => "Conv2D",
            Op::DepthwiseConv2D { .. } => "DepthwiseConv2D",
            Op::MaxPool2D { .. } => "MaxPool2D",
            Op::AveragePool2D { .. } => "AveragePool2D",
            Op::Add { .. } => "Add",
            Op::Mul { .. } => "Mul",
            Op::Reshape { .. } => "Reshape",
            Op::Softmax { .. } => "Softmax",
            Op::Logistic { .. } => "Logistic",
            Op::Tanh { .. } => "Tanh",
            Op::ArgMax { .. } => "ArgMax",
            Op::Sub { .. } => "Sub",
            Op::Concatenation { .. } => "Concatenation",
            Op::Pad { .. } => "Pad",
            Op::Mean { .. } => "Mean",
            Op::Requantize { .. } => "Requantize",
            Op::HardSwish { .. } => "HardSwish",
            Op::LeakyRelu { .. } => "LeakyRelu",
        }
    }

    /// The first format version that has this op.
    pub fn since(&self) -> FormatVersion {
        match self {
            Op::Sub { .. }
            | Op::Concatenation { .. }
            | Op::Pad { .. }
            | Op::Mean { .. }
            | Op::Requantize { .. }
            | Op::HardSwish { .. }
            | Op::LeakyRelu { .. } => FormatVersion::V2,
            _ => FormatVersion::V1,
        }
    }

    /// Tensors the op reads, in order (weights and bias included).
    pub fn inputs(&self) -> Vec<TensorId> {
        match *self {
            Op::FullyConnected { input, weights, bias, .. }
            | Op::Conv2D { input, weights, bias, .. }
            | Op::DepthwiseConv2D { input, weights, bias, .. } => {
                let mut v = alloc::vec![input, weights];
                v.extend(bias);
                v
            }
            Op::Add { lhs, rhs, .. } | Op::Mul { lhs, rhs, .. } | Op::Sub { lhs, rhs, .. } => alloc::vec![lhs, rhs],
            Op::Concatenation { ref inputs, .. } => inputs.clone(),
            Op::MaxPool2D { input, .. }
            | Op::AveragePool2D { input, .. }
            | Op::Reshape { input, .. }
            | Op::Softmax { input, .. }
            | Op::Logistic { input, .. }
            | Op::Tanh { input, .. }
            | Op::ArgMax { input, .. }
            | Op::Pad { input, .. }
            | Op::Mean { input, .. }
            | Op::Requantize { input, .. }
            | Op::HardSwish { input, .. }
            | Op::LeakyRelu { input, .. } => alloc::vec![input],
        }
    }

    /// The tensor the op writes.
    pub fn output(&self) -> TensorId {
        match *self {
            Op::FullyConnected { output, .. }
            | Op::Conv2D { output, .. }
            | Op::DepthwiseConv2D { output, .. }
            | Op::MaxPool2D { output, .. }
            | Op::AveragePool2D { output, .. }
            | Op::Add { output, .. }
            | Op::Mul { output, .. }
            | Op::Reshape { output, .. }
            | Op::Softmax { output, .. }
            | Op::Logistic { output, .. }
            | Op::Tanh { output, .. }
            | Op::ArgMax { output, .. }
            | Op::Sub { output, .. }
            | Op::Concatenation { output, .. }
            | Op::Pad { output, .. }
            | Op::Mean { output, .. }
            | Op::Requantize { output, .. }
            | Op::HardSwish { output, .. }
            | Op::LeakyRelu { output, .. } => output,
        }
    }
}

/// A whole model: one int8 input tensor, ops in execution order, one output tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The format version: which ops exist and what they compute.
    pub version: FormatVersion,
    pub tensors: Vec<Tensor>,
    pub ops: Vec<Op>,
    pub input: TensorId,
    pub output: TensorId,
}
