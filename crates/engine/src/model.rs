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
    /// Version 3: version 2 and the integer-only transformer ops BatchMatMul, LayerNorm, Gelu,
    /// Gather and Transpose (double rounding, as v2).
    V3,
}

impl FormatVersion {
    /// Every version, oldest first.
    pub const ALL: [FormatVersion; 3] = [FormatVersion::V1, FormatVersion::V2, FormatVersion::V3];

    /// The header byte that names this version.
    pub const fn byte(self) -> u8 {
        match self {
            FormatVersion::V1 => 1,
            FormatVersion::V2 => 2,
            FormatVersion::V3 => 3,
        }
    }

    /// The version a header byte names, or `None` for a byte that names none.
    pub const fn from_byte(byte: u8) -> Option<FormatVersion> {
        match byte {
            1 => Some(FormatVersion::V1),
            2 => Some(FormatVersion::V2),
            3 => Some(FormatVersion::V3),
            _ => None,
        }
    }

    /// The requantization rule every requantizing op of this version uses.
    pub const fn rounding(self) -> Rounding {
        match self {
            FormatVersion::V1 => Rounding::Single,
            FormatVersion::V2 | FormatVersion::V3 => Rounding::Double,
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
    /// 8-bit signed integer (dtype code 0): activations and weights.
    I8,
    /// 32-bit signed integer (dtype code 1): biases and the ArgMax output.
    I32,
}

impl DType {
    /// Size of one element, in bytes (1 or 4).
    pub fn size(self) -> u64 {
        match self {
            DType::I8 => 1,
            DType::I32 => 4,
        }
    }
    /// The type's name, as text (`"int8"`, `"int32"`).
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
    /// Q31 multiplier: `multiplier / 2^31`; valid in `[0, 2^31 - 1]` (0 stands for zero).
    pub multiplier: i32,
    /// Power-of-two exponent applied on top of the Q31 multiplier; valid in `[-31, 30]`.
    pub shift: i8,
}

impl Scale {
    /// The scale `multiplier * 2^(shift - 31)` (not checked; validation checks the ranges).
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
    /// No data: an activation, the model input or written by one op.
    Activation,
    /// Constant int8 values (weights), row-major, each in `[-127, 127]`.
    I8(Vec<i8>),
    /// Constant int32 values (a bias), one per output channel.
    I32(Vec<i32>),
}

/// One tensor: its type, shape, quantization and, for a constant, its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Element type; must agree with `data` for a constant.
    pub dtype: DType,
    /// Dimensions, outermost first (rank 1 to 4, each at least 1, at most 2^24 elements);
    /// activations of images are `[height, width, channels]`.
    pub shape: Vec<u32>,
    /// The integer that stands for real zero. Int8 activations: `[-128, 127]`; weights and
    /// biases: 0.
    pub zero_point: i32,
    /// Informational: the real value of one step. Not used by any computation.
    pub scale: Scale,
    /// The constant values, or [`TensorData::Activation`].
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

    /// Whether the tensor is a constant (carries its values in the model).
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
    /// Lowest output value; at most `max`.
    pub min: i8,
    /// Highest output value.
    pub max: i8,
}

impl Clamp {
    /// No fused activation: the whole int8 range `[-128, 127]`.
    pub const NONE: Clamp = Clamp { min: i8::MIN, max: i8::MAX };
}

/// Stride, dilation and padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvWindow {
    /// Step between output rows, in input rows; at least 1.
    pub stride_h: u16,
    /// Step between output columns, in input columns; at least 1.
    pub stride_w: u16,
    /// Distance between kernel taps along the height, in input rows; at least 1.
    pub dilation_h: u16,
    /// Distance between kernel taps along the width, in input columns; at least 1.
    pub dilation_w: u16,
    /// Border scheme.
    pub padding: Padding,
}

/// Filter size, stride and padding of a pooling op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolWindow {
    /// Window height, in input rows; at least 1.
    pub filter_h: u16,
    /// Window width, in input columns; at least 1.
    pub filter_w: u16,
    /// Step between output rows, in input rows; at least 1.
    pub stride_h: u16,
    /// Step between output columns, in input columns; at least 1.
    pub stride_w: u16,
    /// Border scheme.
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
        /// Index of the input activation, `[.., K]`.
        input: TensorId,
        /// Index of the int8 constant weights, `[N, K]`.
        weights: TensorId,
        /// Index of the int32 constant bias, `[N]`, or `None`.
        bias: Option<TensorId>,
        /// Index of the int8 output activation, `[.., N]`.
        output: TensorId,
        /// Requantization scale of each output channel `n`, channel 0 first (`N` of them).
        output_scales: Vec<Scale>,
        /// Bounds of the int8 output (the fused activation).
        clamp: Clamp,
    },
    /// Input `[H, W, Cin]`, weights `[Cout, KH, KW, Cin]`, bias `[Cout]`, output `[OH, OW, Cout]`.
    Conv2D {
        /// Index of the input activation, `[H, W, Cin]`.
        input: TensorId,
        /// Index of the int8 constant weights, `[Cout, KH, KW, Cin]`.
        weights: TensorId,
        /// Index of the int32 constant bias, `[Cout]`, or `None`.
        bias: Option<TensorId>,
        /// Index of the int8 output activation, `[OH, OW, Cout]`.
        output: TensorId,
        /// Strides, dilations and padding.
        window: ConvWindow,
        /// Requantization scale of each output channel, channel 0 first (`Cout` of them).
        output_scales: Vec<Scale>,
        /// Bounds of the int8 output (the fused activation).
        clamp: Clamp,
    },
    /// Input `[H, W, C]`, weights `[KH, KW, C * depth_multiplier]`, output `[OH, OW, C * dm]`.
    DepthwiseConv2D {
        /// Index of the input activation, `[H, W, C]`.
        input: TensorId,
        /// Index of the int8 constant weights, `[KH, KW, Cout]`.
        weights: TensorId,
        /// Index of the int32 constant bias, `[Cout]`, or `None`.
        bias: Option<TensorId>,
        /// Index of the int8 output activation, `[OH, OW, Cout]`.
        output: TensorId,
        /// Strides, dilations and padding.
        window: ConvWindow,
        /// Output channels per input channel (`Cout = C * depth_multiplier`); at least 1.
        depth_multiplier: u16,
        /// Requantization scale of each output channel, channel 0 first (`Cout` of them).
        output_scales: Vec<Scale>,
        /// Bounds of the int8 output (the fused activation).
        clamp: Clamp,
    },
    /// Input `[H, W, C]`, output `[OH, OW, C]`: the largest value of each window's in-image
    /// taps, per channel, clamped (raw int8 values, no requantization).
    MaxPool2D {
        /// Index of the input activation, `[H, W, C]`.
        input: TensorId,
        /// Index of the output activation, `[OH, OW, C]`; same zero point and scale as the input.
        output: TensorId,
        /// Filter size, strides and padding.
        window: PoolWindow,
        /// Bounds of the int8 output (the fused activation).
        clamp: Clamp,
    },
    /// Input `[H, W, C]`, output `[OH, OW, C]`: the mean of each window's in-image taps, per
    /// channel, rounded half away from zero and clamped (raw int8 values, no requantization).
    AveragePool2D {
        /// Index of the input activation, `[H, W, C]`.
        input: TensorId,
        /// Index of the output activation, `[OH, OW, C]`; same zero point and scale as the input.
        output: TensorId,
        /// Filter size, strides and padding.
        window: PoolWindow,
        /// Bounds of the int8 output (the fused activation).
        clamp: Clamp,
    },
    /// Elementwise, same shapes. Each input is centered, shifted left by `left_shift`,
    /// rescaled by its own scale; the sum is rescaled by `output_scale`.
    Add {
        /// Index of the first input activation.
        lhs: TensorId,
        /// Index of the second input activation.
        rhs: TensorId,
        /// Index of the output activation (same shape as the inputs).
        output: TensorId,
        /// Bits each centered input is shifted left before its rescale; at most 23.
        left_shift: u8,
        /// Rescales the shifted, centered `lhs` to the common scale.
        lhs_scale: Scale,
        /// Rescales the shifted, centered `rhs` to the common scale.
        rhs_scale: Scale,
        /// Rescales the sum to the output scale.
        output_scale: Scale,
        /// Bounds of the int8 output (the fused activation).
        clamp: Clamp,
    },
    /// Elementwise, same shapes: `requant((a - zp_a) * (b - zp_b), output_scale) + zp_out`.
    Mul {
        /// Index of the first input activation.
        lhs: TensorId,
        /// Index of the second input activation.
        rhs: TensorId,
        /// Index of the output activation (same shape as the inputs).
        output: TensorId,
        /// Rescales the product of the centered inputs to the output scale.
        output_scale: Scale,
        /// Bounds of the int8 output (the fused activation).
        clamp: Clamp,
    },
    /// Same elements, new shape; the quantization must not change.
    Reshape {
        /// Index of the input activation.
        input: TensorId,
        /// Index of the output activation: same element count, zero point and scale as the input.
        output: TensorId,
    },
    /// Softmax over the last axis; output quantization is fixed: zero point -128 (scale 1/256).
    Softmax {
        /// Index of the input activation.
        input: TensorId,
        /// Index of the output activation: same shape, zero point -128.
        output: TensorId,
        /// Rescales each difference `x - row max` (in input steps) to the Q5 (5 integer bits) argument of the exponential.
        beta: Scale,
        /// Smallest difference `x - row max`, in input steps, that takes part; smaller ones output -128. At most 0.
        diff_min: i32,
    },
    /// Elementwise sigmoid. Output quantization fixed: zero point -128 (scale 1/256).
    Logistic {
        /// Index of the input activation.
        input: TensorId,
        /// Index of the output activation: same shape, zero point -128.
        output: TensorId,
        /// Rescales the centered input `x - zp_in` to the Q4 (4 integer bits) argument of the sigmoid.
        input_scale: Scale,
        /// Centered inputs at or below `-radius` output -128, at or above `radius` output 127 (input steps; any `i32`).
        input_range_radius: i32,
    },
    /// Elementwise tanh. Output quantization fixed: zero point 0 (scale 1/128).
    Tanh {
        /// Index of the input activation.
        input: TensorId,
        /// Index of the output activation: same shape, zero point 0.
        output: TensorId,
        /// Rescales the centered input `x - zp_in` to the Q4 (4 integer bits) argument of tanh.
        input_scale: Scale,
        /// Centered inputs at or below `-radius` output -128, at or above `radius` output 127 (input steps; any `i32`).
        input_range_radius: i32,
    },
    /// Index of the largest value along the last axis (first one on ties), as int32.
    ArgMax {
        /// Index of the input activation, `[d1, .., dr]`.
        input: TensorId,
        /// Index of the int32 output activation, `[d1, .., d(r-1)]` (`[1]` for rank 1); the model output.
        output: TensorId,
    },
    /// Format v2. Elementwise `lhs - rhs`, rescaled exactly as [`Op::Add`].
    Sub {
        /// Index of the activation subtracted from.
        lhs: TensorId,
        /// Index of the activation subtracted.
        rhs: TensorId,
        /// Index of the output activation (same shape as the inputs).
        output: TensorId,
        /// Bits each centered input is shifted left before its rescale; at most 23.
        left_shift: u8,
        /// Rescales the shifted, centered `lhs` to the common scale.
        lhs_scale: Scale,
        /// Rescales the shifted, centered `rhs` to the common scale.
        rhs_scale: Scale,
        /// Rescales the difference to the output scale.
        output_scale: Scale,
        /// Bounds of the int8 output (the fused activation).
        clamp: Clamp,
    },
    /// Format v2. The inputs joined along `axis`, in order; all share the output's
    /// quantization, so the bytes are copied unchanged.
    Concatenation {
        /// Indices of the input activations, in order; 1 to 255 (one may repeat).
        inputs: Vec<TensorId>,
        /// Index of the output activation; all inputs share its zero point and scale.
        output: TensorId,
        /// The axis joined along, `< rank`.
        axis: u8,
    },
    /// Format v2. The input surrounded by `paddings[axis] = (before, after)` elements of
    /// `value` on each axis; input and output share their quantization.
    Pad {
        /// Index of the input activation.
        input: TensorId,
        /// Index of the output activation: each dimension `k` is `input[k] + before_k + after_k`.
        output: TensorId,
        /// `(before, after)` elements added on each axis, axis 0 first; one pair per input axis.
        paddings: Vec<(u32, u32)>,
        /// The raw int8 value written into the padding.
        value: i8,
    },
    /// Format v2. Mean over the axes in the bit mask `axes` (bit `i` = axis `i`): the centered
    /// sum `sum(x) - zp_in * count` requantized by `scale` (which already holds the division
    /// by the element count, as TensorFlow Lite Micro adjusts its multiplier), plus `zp_out`.
    Mean {
        /// Index of the input activation, rank `r`.
        input: TensorId,
        /// Index of the output activation: the input shape with the reduced axes set to 1 or removed (`[1]` if all are).
        output: TensorId,
        /// Bit mask of the reduced axes, bit `k` = axis `k`; nonzero and `< 2^r`.
        axes: u8,
        /// Rescales the centered sum to the output scale, the division by the element count included.
        scale: Scale,
    },
    /// Format v2. TFLite's int8-to-int8 QUANTIZE: `clamp(requant(x - zp_in, scale) + zp_out)`.
    Requantize {
        /// Index of the input activation.
        input: TensorId,
        /// Index of the output activation (same shape as the input).
        output: TensorId,
        /// Rescales the centered input to the output scale.
        scale: Scale,
    },
    /// Format v2. TFLite's int8 HARD_SWISH, `x * relu6(x + 3) / 6`, in TFLite's 16-bit
    /// fixed point: Q15 multipliers with power-of-two exponents.
    HardSwish {
        /// Index of the input activation.
        input: TensorId,
        /// Index of the output activation (same shape as the input).
        output: TensorId,
        /// Q15 multiplier (`m / 2^15`) of the `relu6(x + 3) / 6` branch; in `[0, 32767]`.
        reluish_multiplier: i16,
        /// Power-of-two exponent of the reluish branch; in `[-15, 15]`.
        reluish_exponent: i8,
        /// Q15 multiplier (`m / 2^15`) taking the input to the output scale; in `[0, 32767]`.
        output_multiplier: i16,
        /// Power-of-two exponent of the output rescale; in `[-15, 0]`.
        output_exponent: i8,
    },
    /// Format v2. `requant(x - zp_in, identity)` for `x >= zp_in`, `±requant(x - zp_in, alpha)`
    /// below (negated when `alpha_negative`, for a negative slope), plus the output zero point.
    LeakyRelu {
        /// Index of the input activation.
        input: TensorId,
        /// Index of the output activation (same shape as the input).
        output: TensorId,
        /// Rescales centered inputs at or above 0 (`x >= zp_in`).
        identity_scale: Scale,
        /// Rescales centered inputs below 0, by the slope's magnitude.
        alpha_scale: Scale,
        /// Whether the slope below zero is negative (the rescaled value is negated).
        alpha_negative: bool,
    },
    /// Format v3. A product of two activations, batch by batch:
    /// `out[b, m, n] = clamp(requant(sum_k (lhs[b, m, k] - zp_lhs) * (rhs'[b, k, n] - zp_rhs),
    /// output_scale) + zp_out)`, where `rhs'` is `rhs`, or `rhs` with its last two axes
    /// swapped when `transpose_rhs` (attention scores `Q K^T`). Lhs `[.., M, K]`, rhs
    /// `[.., K, N]` (or `[.., N, K]`), output `[.., M, N]`, the same leading (batch) axes.
    BatchMatMul {
        /// Index of the left activation, `[.., M, K]`.
        lhs: TensorId,
        /// Index of the right activation, `[.., K, N]`, or `[.., N, K]` with `transpose_rhs`.
        rhs: TensorId,
        /// Index of the output activation, `[.., M, N]`.
        output: TensorId,
        /// Whether `rhs` is stored `[.., N, K]` (its last two axes swapped).
        transpose_rhs: bool,
        /// Rescales the centered product sum to the output scale.
        output_scale: Scale,
        /// Bounds of the int8 output (the fused activation).
        clamp: Clamp,
    },
    /// Format v3. Layer normalization over the last axis (length `D`), with an integer square
    /// root: per row, `d_i = D * c_i - sum(c)` for the centered inputs `c_i = x_i - zp_in`,
    /// `r = max(1, isqrt(floor(2^8 * sum(d_i^2) / D) + epsilon))`, `n_i` the normalized value
    /// in Q12 (`d_i * 2^16 / r`, through a per-row reciprocal, `docs/model-format.md`), and
    /// `out_i = clamp(requant(n_i * gamma_i + beta_i, output_scale) + zp_out)`.
    LayerNorm {
        /// Index of the input activation, `[.., D]`.
        input: TensorId,
        /// Index of the int8 constant scale `gamma`, `[D]`.
        gamma: TensorId,
        /// Index of the int32 constant shift `beta`, `[D]` (in units of gamma's step / 2^12), or `None`.
        beta: Option<TensorId>,
        /// Index of the output activation (same shape as the input).
        output: TensorId,
        /// Added under the square root, in units of `(D * input step)^2 / 2^8`:
        /// `round(2^8 * D^2 * eps / step^2)` for a real epsilon `eps`.
        epsilon: u32,
        /// Rescales `n_i * gamma_i + beta_i` to the output scale.
        output_scale: Scale,
    },
    /// Format v3. I-BERT's integer GELU (Kim et al. 2021, "i-GELU"): `erf` by a clipped
    /// second-order polynomial. For `c = x - zp_in`: `t = (min(|c|, erf_clip) - erf_clip)^2`,
    /// `l = sign(c) * (erf_one - t)`, `g = c * (l + erf_one)`, and
    /// `out = clamp(requant(g, output_scale) + zp_out)`.
    Gelu {
        /// Index of the input activation.
        input: TensorId,
        /// Index of the output activation (same shape as the input).
        output: TensorId,
        /// `floor(1.769 / (input step / sqrt 2))`: where the polynomial reaches 1; in `[0, 1448]`.
        erf_clip: u16,
        /// `floor(1 / (0.2888 * (input step / sqrt 2)^2))`: the integer that stands for 1 in the
        /// polynomial's units; in `[1, 2^21]`.
        erf_one: i32,
        /// Rescales `g` (real value `g * step * 0.2888 * (step / sqrt 2)^2 / 2`) to the output scale.
        output_scale: Scale,
    },
    /// Format v3. Rows of a constant int8 table picked by an int8 activation (an embedding
    /// lookup): `out[i, :] = table[clamp(x_i - zp_in, 0, V - 1), :]`. Table `[V, D]`, indices
    /// any shape, output `indices.shape ++ [D]`; the output has the table's quantization.
    Gather {
        /// Index of the int8 constant table, `[V, D]`.
        table: TensorId,
        /// Index of the int8 activation holding the row numbers (offset by its zero point).
        indices: TensorId,
        /// Index of the output activation, `indices.shape ++ [D]`.
        output: TensorId,
    },
    /// Format v3. The input's axes reordered: output axis `i` is input axis `perm[i]`; the
    /// quantization does not change.
    Transpose {
        /// Index of the input activation, rank `r`.
        input: TensorId,
        /// Index of the output activation, of shape `input.shape[perm[i]]`.
        output: TensorId,
        /// A permutation of `0..r`.
        perm: Vec<u8>,
    },
}

impl Op {
    /// The op's name, as the format spells it (`"Conv2D"`).
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
            Op::BatchMatMul { .. } => "BatchMatMul",
            Op::LayerNorm { .. } => "LayerNorm",
            Op::Gelu { .. } => "Gelu",
            Op::Gather { .. } => "Gather",
            Op::Transpose { .. } => "Transpose",
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
            Op::BatchMatMul { .. }
            | Op::LayerNorm { .. }
            | Op::Gelu { .. }
            | Op::Gather { .. }
            | Op::Transpose { .. } => FormatVersion::V3,
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
            Op::Add { lhs, rhs, .. }
            | Op::Mul { lhs, rhs, .. }
            | Op::Sub { lhs, rhs, .. }
            | Op::BatchMatMul { lhs, rhs, .. } => alloc::vec![lhs, rhs],
            Op::LayerNorm { input, gamma, beta, .. } => {
                let mut v = alloc::vec![input, gamma];
                v.extend(beta);
                v
            }
            Op::Gather { table, indices, .. } => alloc::vec![table, indices],
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
            | Op::LeakyRelu { input, .. }
            | Op::Gelu { input, .. }
            | Op::Transpose { input, .. } => alloc::vec![input],
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
            | Op::LeakyRelu { output, .. }
            | Op::BatchMatMul { output, .. }
            | Op::LayerNorm { output, .. }
            | Op::Gelu { output, .. }
            | Op::Gather { output, .. }
            | Op::Transpose { output, .. } => output,
        }
    }
}

/// A whole model: one int8 input tensor, ops in execution order, one output tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The format version: which ops exist and what they compute.
    pub version: FormatVersion,
    /// The tensors, indexed by [`TensorId`] (at most [`crate::limits::MAX_TENSORS`]).
    pub tensors: Vec<Tensor>,
    /// The ops, in execution order (1 to [`crate::limits::MAX_OPS`]).
    pub ops: Vec<Op>,
    /// Index of the input tensor: an int8 activation.
    pub input: TensorId,
    /// Index of the output tensor: an activation written by an op (int32 only from ArgMax).
    pub output: TensorId,
}
