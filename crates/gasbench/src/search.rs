//! `aiop bench gas --search`: an adversarial search of the shape space for the calls slowest
//! per gas, op type by op type.
//!
//! Sampling ordinary shapes is not enough to make a schedule safe: a single-row input with a
//! very wide kernel once ran 9x slower per gas than ecrecover under a schedule calibrated on
//! ordinary shapes. So the search starts, for every op type of format v1, from a grid of
//! extreme shapes (a single row with the widest kernel or window, K = 1 with a huge N, a
//! reduction depth at the accumulator bound, tiny ops repeated, odd sizes that defeat the SIMD
//! tiles) and then climbs: it mutates one or two dimensions of the worst shape so far (double,
//! halve, one more, one less) and keeps the child when its ns per gas is higher. Every
//! candidate is timed as a calibration run times its cases (`measure::time_cold`: a cold call
//! through the EVM on the pricing path, less its own transaction) and compared to ecrecover
//! timed in the same run.
//!
//! The candidates are a pure function of the seed and of which candidates won; the timings
//! decide the winners, so on a noisy machine two runs with one seed may climb differently.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aiop_engine::{
    Clamp, ConvWindow, DType, FormatVersion, KernelPath, Model, ModelBuilder, Op, Padding, PoolWindow, Scale, Tensor,
    TensorData, TensorId,
};
use aiop_precompile::GasSchedule;
use serde::{Deserialize, Serialize};

use crate::GasBenchError;
use crate::cases::{ModelCase, SplitMix64, act};
use crate::measure::{Yardstick, time_cold};
use crate::timing::{Budget, Timing};

/// Most elements in one tensor, a single op's weights, the model's bytes: the engine's limits.
const MAX_ELEMENTS: u64 = 1 << 24;
const MAX_MODEL_BYTES: u64 = 4 << 20;
/// Deepest reduction whose int32 accumulator cannot overflow with biases up to 2000
/// (`depth * 127 * 255 + 2000 <= i32::MAX`).
pub const MAX_DEPTH: u32 = 66_311;
/// Largest kernel, window, stride or dilation the format holds (`u16`).
const MAX_U16: u32 = u16::MAX as u32;
/// Most ops in a candidate: the engine allows 512 ops and 1024 tensors, and a layer with
/// weights and bias takes three tensors.
const MAX_OPS: u32 = 512;

/// The op types searched: format v1's, and format v3's transformer ops (searched only under a
/// schedule whose precompile accepts format v3, [`OpKind::format`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OpKind {
    /// A fully connected layer.
    FullyConnected,
    /// A 2-D convolution.
    Conv2D,
    /// A depthwise 2-D convolution.
    DepthwiseConv2D,
    /// Max pooling over a 2-D window.
    MaxPool2D,
    /// Average pooling over a 2-D window.
    AveragePool2D,
    /// Elementwise addition.
    Add,
    /// Elementwise multiplication.
    Mul,
    /// The same elements in a new shape.
    Reshape,
    /// Softmax over the last axis.
    Softmax,
    /// The logistic function, elementwise.
    Logistic,
    /// The hyperbolic tangent, elementwise.
    Tanh,
    /// Index of the largest value along the last axis.
    ArgMax,
    /// Format v3: the product of two activations (here an activation and itself, transposed).
    BatchMatMul,
    /// Format v3: layer normalization over the last axis.
    LayerNorm,
    /// Format v3: I-BERT's integer GELU, elementwise.
    Gelu,
    /// Format v3: rows of a constant table picked by an activation.
    Gather,
    /// Format v3: the axes reordered.
    Transpose,
    /// Format v2: elementwise subtraction.
    Sub,
    /// Format v2: an int8 tensor rescaled to another scale, elementwise.
    Requantize,
    /// Format v2: TFLite's fixed-point hard swish, elementwise.
    HardSwish,
    /// Format v2: a leaky rectifier, elementwise.
    LeakyRelu,
    /// Format v2: constant padding around the input.
    Pad,
    /// Format v2: copies of one activation joined along an axis.
    Concatenation,
    /// Format v2: the mean over some axes.
    Mean,
}

impl OpKind {
    /// Every op type, in declaration order.
    pub const ALL: [OpKind; 24] = [
        OpKind::FullyConnected,
        OpKind::Conv2D,
        OpKind::DepthwiseConv2D,
        OpKind::MaxPool2D,
        OpKind::AveragePool2D,
        OpKind::Add,
        OpKind::Mul,
        OpKind::Reshape,
        OpKind::Softmax,
        OpKind::Logistic,
        OpKind::Tanh,
        OpKind::ArgMax,
        OpKind::BatchMatMul,
        OpKind::LayerNorm,
        OpKind::Gelu,
        OpKind::Gather,
        OpKind::Transpose,
        OpKind::Sub,
        OpKind::Requantize,
        OpKind::HardSwish,
        OpKind::LeakyRelu,
        OpKind::Pad,
        OpKind::Concatenation,
        OpKind::Mean,
    ];

    /// The model-format version the op type's cases are built in.
    pub fn format(self) -> FormatVersion {
        match self {
            OpKind::BatchMatMul | OpKind::LayerNorm | OpKind::Gelu | OpKind::Gather | OpKind::Transpose => {
                FormatVersion::V3
            }
            OpKind::Sub
            | OpKind::Requantize
            | OpKind::HardSwish
            | OpKind::LeakyRelu
            | OpKind::Pad
            | OpKind::Concatenation
            | OpKind::Mean => FormatVersion::V2,
            _ => FormatVersion::V1,
        }
    }

    /// The op type's name, as the engine names the op and `--search-ops` takes it.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::FullyConnected => "FullyConnected",
            OpKind::Conv2D => "Conv2D",
            OpKind::DepthwiseConv2D => "DepthwiseConv2D",
            OpKind::MaxPool2D => "MaxPool2D",
            OpKind::AveragePool2D => "AveragePool2D",
            OpKind::Add => "Add",
            OpKind::Mul => "Mul",
            OpKind::Reshape => "Reshape",
            OpKind::Softmax => "Softmax",
            OpKind::Logistic => "Logistic",
            OpKind::Tanh => "Tanh",
            OpKind::ArgMax => "ArgMax",
            OpKind::BatchMatMul => "BatchMatMul",
            OpKind::LayerNorm => "LayerNorm",
            OpKind::Gelu => "Gelu",
            OpKind::Gather => "Gather",
            OpKind::Transpose => "Transpose",
            OpKind::Sub => "Sub",
            OpKind::Requantize => "Requantize",
            OpKind::HardSwish => "HardSwish",
            OpKind::LeakyRelu => "LeakyRelu",
            OpKind::Pad => "Pad",
            OpKind::Concatenation => "Concatenation",
            OpKind::Mean => "Mean",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            OpKind::FullyConnected => "fc",
            OpKind::Conv2D => "conv",
            OpKind::DepthwiseConv2D => "depthwise",
            OpKind::MaxPool2D => "maxpool",
            OpKind::AveragePool2D => "avgpool",
            OpKind::Add => "add",
            OpKind::Mul => "mul",
            OpKind::Reshape => "reshape",
            OpKind::Softmax => "softmax",
            OpKind::Logistic => "logistic",
            OpKind::Tanh => "tanh",
            OpKind::ArgMax => "argmax",
            OpKind::BatchMatMul => "batchmatmul",
            OpKind::LayerNorm => "layernorm",
            OpKind::Gelu => "gelu",
            OpKind::Gather => "gather",
            OpKind::Transpose => "transpose",
            OpKind::Sub => "sub",
            OpKind::Requantize => "requantize",
            OpKind::HardSwish => "hardswish",
            OpKind::LeakyRelu => "leakyrelu",
            OpKind::Pad => "pad",
            OpKind::Concatenation => "concat",
            OpKind::Mean => "mean",
        }
    }

    fn windowed(self) -> bool {
        matches!(self, OpKind::Conv2D | OpKind::DepthwiseConv2D | OpKind::MaxPool2D | OpKind::AveragePool2D)
    }

    /// The dimensions a mutation may change.
    fn fields(self) -> &'static [Field] {
        use Field::*;
        match self {
            OpKind::FullyConnected => &[Ops, Rows, Depth, Out],
            OpKind::Conv2D | OpKind::DepthwiseConv2D => {
                &[Ops, Rows, Cols, Depth, Out, KernelH, KernelW, StrideH, StrideW, DilationH, DilationW, Valid]
            }
            OpKind::MaxPool2D | OpKind::AveragePool2D => {
                &[Ops, Rows, Cols, Depth, KernelH, KernelW, StrideH, StrideW, Valid]
            }
            OpKind::ArgMax | OpKind::Gather => &[Rows, Cols, Depth],
            OpKind::Pad => &[Ops, Rows, Cols, Depth, KernelH, KernelW],
            OpKind::Concatenation => &[Ops, Rows, Cols, Depth, Out, Valid],
            OpKind::Mean => &[Ops, Rows, Cols, Depth, Valid],
            OpKind::BatchMatMul => &[Ops, Rows, Cols, Depth, Valid],
            _ => &[Ops, Rows, Cols, Depth],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Ops,
    Rows,
    Cols,
    Depth,
    Out,
    KernelH,
    KernelW,
    StrideH,
    StrideW,
    DilationH,
    DilationW,
    Valid,
}

/// One point of the shape space: a model of `ops` chained ops of one type.
///
/// - FullyConnected: input `[rows, depth]` (`[depth]` for one row), `out` outputs; the first
///   layer maps `depth` to `out`, the others `out` to `out`.
/// - Conv2D: input `[rows, cols, depth]`, `out` output channels (first layer; the others keep
///   them), the kernel, stride, dilation and padding of every layer.
/// - DepthwiseConv2D: as Conv2D with `out` the depth multiplier of the first layer (the others
///   use 1).
/// - MaxPool2D, AveragePool2D: input `[rows, cols, depth]`, `kernel` the window.
/// - Add, Mul, Reshape, Logistic, Tanh: `ops` ops over `[rows, cols, depth]` (Reshape
///   alternates it with its flat form).
/// - Softmax: `ops` ops over `[rows * cols, depth]`; ArgMax: one op over `[rows, cols, depth]`.
/// - BatchMatMul: `ops` products of `x [rows, cols, depth]` (batch, M, K) with itself
///   transposed, `[rows, cols, cols]` after the first; if `valid`, with itself reshaped to
///   `[rows, depth, cols]` and stored by rows (a Reshape before each product); LayerNorm: `ops` ops over
///   `[rows * cols, depth]`; Gelu, Transpose: `ops` ops over `[rows, cols, depth]`
///   (Transpose rotates the axes); Gather: one op of `[rows, cols]` indices into a
///   `[256, depth]` table.
/// - Sub, Requantize, HardSwish, LeakyRelu (format v2): `ops` ops over `[rows, cols, depth]`;
///   Pad: `ops` pads, each adding `kernel[0] - 1` rows before and after and `kernel[1] - 1`
///   channels before and after; Concatenation: `ops` ops, each joining `out` copies of its
///   input along the channels (along the rows if `valid`); Mean: `ops` means over the channels
///   (over rows and columns if `valid`), the reduced axes kept as 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    /// The op type of every op in the model.
    pub op: OpKind,
    /// Number of chained ops.
    pub ops: u32,
    /// Rows (height) of the input.
    pub rows: u32,
    /// Columns (width) of the input; FullyConnected ignores it.
    pub cols: u32,
    /// Channels of the input, or FullyConnected's input width.
    pub depth: u32,
    /// Outputs of the first layer of FullyConnected, Conv2D and DepthwiseConv2D (see above);
    /// the other op types ignore it.
    pub out: u32,
    /// Height and width of the kernel or window.
    pub kernel: [u32; 2],
    /// Height and width of the stride (the windowed op types).
    pub stride: [u32; 2],
    /// Height and width of the dilation (Conv2D and DepthwiseConv2D).
    pub dilation: [u32; 2],
    /// `Padding::Valid` instead of `Padding::Same`.
    pub valid: bool,
}

impl Shape {
    fn new(op: OpKind, ops: u32, [rows, cols, depth]: [u32; 3], out: u32) -> Shape {
        Shape { op, ops, rows, cols, depth, out, kernel: [1, 1], stride: [1, 1], dilation: [1, 1], valid: false }
    }

    fn window(mut self, kernel: [u32; 2], stride: [u32; 2], dilation: [u32; 2], valid: bool) -> Shape {
        self.kernel = kernel;
        self.stride = stride;
        self.dilation = dilation;
        self.valid = valid;
        self
    }

    /// A name that says the whole shape (and so names its case).
    pub fn name(&self) -> String {
        let mut name = format!("searched-{}-{}x{}x{}", self.op.slug(), self.rows, self.cols, self.depth);
        if matches!(self.op, OpKind::FullyConnected | OpKind::Conv2D | OpKind::DepthwiseConv2D | OpKind::Concatenation)
        {
            name.push_str(&format!("-o{}", self.out));
        }
        if self.op == OpKind::Pad {
            name.push_str(&format!("-p{}x{}", self.kernel[0].saturating_sub(1), self.kernel[1].saturating_sub(1)));
        }
        if matches!(self.op, OpKind::Concatenation | OpKind::Mean) && self.valid {
            name.push_str("-outer");
        }
        if self.op == OpKind::BatchMatMul && self.valid {
            name.push_str("-rows");
        }
        if self.op.windowed() {
            name.push_str(&format!("-k{}x{}-s{}x{}", self.kernel[0], self.kernel[1], self.stride[0], self.stride[1]));
            if matches!(self.op, OpKind::Conv2D | OpKind::DepthwiseConv2D) {
                name.push_str(&format!("-d{}x{}", self.dilation[0], self.dilation[1]));
            }
            name.push_str(if self.valid { "-valid" } else { "-same" });
        }
        if self.ops != 1 {
            name.push_str(&format!("-x{}", self.ops));
        }
        name
    }

    /// The case this shape is, or why it is not one.
    pub fn case(&self, about: &'static str) -> Result<ModelCase, GasBenchError> {
        let name = self.name();
        let model = self.model().map_err(|reason| GasBenchError::Case { case: name.clone(), reason })?;
        ModelCase::new(&name, about, &model, false)
    }

    /// The model, built with [`ModelBuilder`] in format v1, or why the shape has none. Checks
    /// the sizes that would allocate before building; the engine's validation does the rest.
    pub fn model(&self) -> Result<Model, String> {
        let s = self;
        let dims = [s.ops, s.rows, s.cols, s.depth, s.out, s.kernel[0], s.kernel[1], s.stride[0], s.stride[1]];
        if dims.contains(&0) || s.dilation.contains(&0) {
            return Err("a zero dimension".into());
        }
        if s.ops > MAX_OPS || matches!(s.op, OpKind::ArgMax | OpKind::Gather) && s.ops != 1 {
            return Err(format!("{} ops", s.ops));
        }
        let uses_window = s.op.windowed();
        if uses_window && [s.kernel, s.stride, s.dilation].iter().flatten().any(|&d| d > MAX_U16) {
            return Err("a window dimension over 65535".into());
        }
        let image = u64::from(s.rows) * u64::from(s.cols) * u64::from(s.depth);
        if image > MAX_ELEMENTS {
            return Err(format!("{image} input elements"));
        }
        let weights = match s.op {
            OpKind::FullyConnected => {
                u64::from(s.depth) * u64::from(s.out) + u64::from(s.ops - 1) * u64::from(s.out) * u64::from(s.out)
            }
            OpKind::Conv2D => {
                let k = u64::from(s.kernel[0]) * u64::from(s.kernel[1]);
                k * u64::from(s.out) * (u64::from(s.depth) + u64::from(s.ops - 1) * u64::from(s.out))
            }
            OpKind::DepthwiseConv2D => {
                u64::from(s.kernel[0])
                    * u64::from(s.kernel[1])
                    * u64::from(s.depth)
                    * u64::from(s.out)
                    * u64::from(s.ops)
            }
            OpKind::LayerNorm => u64::from(s.depth) * 5 * u64::from(s.ops),
            OpKind::Gather => 256 * u64::from(s.depth),
            _ => 0,
        };
        if weights > MAX_MODEL_BYTES {
            return Err(format!("{weights} weights"));
        }
        let mut rng = SplitMix64(fnv(&s.name()));
        let mut b = ModelBuilder::new(s.op.format());
        let (input, output) = match s.op {
            OpKind::BatchMatMul => {
                let input = b.tensor(act(&[s.rows, s.cols, s.depth], 3));
                let (mut x, mut k) = (input, s.depth);
                for _ in 0..s.ops {
                    let out = u64::from(s.rows) * u64::from(s.cols) * u64::from(s.cols);
                    if out > MAX_ELEMENTS {
                        return Err("output too large".into());
                    }
                    // Stored by rows, the right factor is `x` read as `[batch, K, M]`: a
                    // Reshape, which moves no bytes, so the product's layout is what is timed.
                    let rhs = if s.valid {
                        let r = b.tensor(act(&[s.rows, k, s.cols], 3));
                        b.op(Op::Reshape { input: x, output: r });
                        r
                    } else {
                        x
                    };
                    let y = b.tensor(act(&[s.rows, s.cols, s.cols], 3));
                    b.op(Op::BatchMatMul {
                        lhs: x,
                        rhs,
                        output: y,
                        transpose_rhs: !s.valid,
                        output_scale: Scale::from_ratio(1, 40 * u64::from(k)),
                        clamp: Clamp::NONE,
                    });
                    (x, k) = (y, s.cols);
                }
                (input, x)
            }
            OpKind::LayerNorm => {
                let shape = [s.rows * s.cols, s.depth];
                let input = b.tensor(act(&shape, 0));
                let mut x = input;
                for _ in 0..s.ops {
                    let gamma =
                        b.tensor(Tensor::weights(&[s.depth], Scale::from_ratio(1, 127), rng.weights(s.depth as usize)));
                    let beta = b.tensor(Tensor::bias(rng.bias(s.depth as usize), Scale::from_ratio(1, 4096)));
                    let y = b.tensor(act(&shape, 0));
                    b.op(Op::LayerNorm {
                        input: x,
                        gamma,
                        beta: Some(beta),
                        output: y,
                        epsilon: 256,
                        output_scale: Scale::from_ratio(1, 4096),
                    });
                    x = y;
                }
                (input, x)
            }
            OpKind::Gelu | OpKind::Transpose => {
                let mut dims = [s.rows, s.cols, s.depth];
                let input = b.tensor(act(&dims, 0));
                let mut x = input;
                for _ in 0..s.ops {
                    if s.op == OpKind::Transpose {
                        dims = [dims[2], dims[0], dims[1]];
                    }
                    let y = b.tensor(act(&dims, 0));
                    b.op(if s.op == OpKind::Gelu {
                        Op::Gelu {
                            input: x,
                            output: y,
                            erf_clip: 50,
                            erf_one: 4_000,
                            output_scale: Scale::from_ratio(1, 8000),
                        }
                    } else {
                        Op::Transpose { input: x, output: y, perm: vec![2, 0, 1] }
                    });
                    x = y;
                }
                (input, x)
            }
            OpKind::Gather => {
                if u64::from(s.rows) * u64::from(s.cols) * u64::from(s.depth) > MAX_ELEMENTS {
                    return Err("output too large".into());
                }
                let table = b.tensor(Tensor::weights(
                    &[256, s.depth],
                    Scale::from_ratio(1, 127),
                    rng.weights(256 * s.depth as usize),
                ));
                let input = b.tensor(act(&[s.rows, s.cols], -128));
                let y = b.tensor(Tensor::activation(&[s.rows, s.cols, s.depth], 0, Scale::from_ratio(1, 127)));
                b.op(Op::Gather { table, indices: input, output: y });
                (input, y)
            }
            OpKind::FullyConnected => {
                let rank1 = s.rows == 1;
                let shape = |n: u32| if rank1 { vec![n] } else { vec![s.rows, n] };
                let input = b.tensor(act(&shape(s.depth), 3));
                let mut x = input;
                let mut k = s.depth;
                for _ in 0..s.ops {
                    let w = b.tensor(Tensor::weights(
                        &[s.out, k],
                        Scale::from_ratio(1, 127),
                        rng.weights(k as usize * s.out as usize),
                    ));
                    let bias = b.tensor(Tensor::bias(rng.bias(s.out as usize), Scale::from_ratio(1, 4096)));
                    let y = b.tensor(act(&shape(s.out), 0));
                    b.op(Op::FullyConnected {
                        input: x,
                        weights: w,
                        bias: Some(bias),
                        output: y,
                        output_scales: vec![Scale::from_ratio(1, 40 * u64::from(k)); s.out as usize],
                        clamp: Clamp::NONE,
                    });
                    (x, k) = (y, s.out);
                }
                (input, x)
            }
            OpKind::Conv2D | OpKind::DepthwiseConv2D => {
                let depthwise = s.op == OpKind::DepthwiseConv2D;
                let input = b.tensor(act(&[s.rows, s.cols, s.depth], -5));
                let (mut x, mut h, mut w, mut c) = (input, s.rows, s.cols, s.depth);
                let window = ConvWindow {
                    stride_h: s.stride[0] as u16,
                    stride_w: s.stride[1] as u16,
                    dilation_h: s.dilation[0] as u16,
                    dilation_w: s.dilation[1] as u16,
                    padding: if s.valid { Padding::Valid } else { Padding::Same },
                };
                for layer in 0..s.ops {
                    let oh = out_axis(h, s.kernel[0], s.stride[0], s.dilation[0], s.valid).ok_or("window too large")?;
                    let ow = out_axis(w, s.kernel[1], s.stride[1], s.dilation[1], s.valid).ok_or("window too large")?;
                    let (cout, dm) = match (depthwise, layer) {
                        (true, 0) => (c.checked_mul(s.out).ok_or("too many channels")?, s.out),
                        (true, _) => (c, 1),
                        (false, _) => (s.out, 1),
                    };
                    if u64::from(oh) * u64::from(ow) * u64::from(cout) > MAX_ELEMENTS {
                        return Err("output too large".into());
                    }
                    let depth =
                        u64::from(s.kernel[0]) * u64::from(s.kernel[1]) * if depthwise { 1 } else { u64::from(c) };
                    let bias = b.tensor(Tensor::bias(rng.bias(cout as usize), Scale::from_ratio(1, 4096)));
                    let y = b.tensor(act(&[oh, ow, cout], 0));
                    let scales = vec![Scale::from_ratio(1, 40 * depth); cout as usize];
                    let [kh, kw] = s.kernel;
                    if depthwise {
                        let n = kh as usize * kw as usize * cout as usize;
                        let weights =
                            b.tensor(Tensor::weights(&[kh, kw, cout], Scale::from_ratio(1, 127), rng.weights(n)));
                        b.op(Op::DepthwiseConv2D {
                            input: x,
                            weights,
                            bias: Some(bias),
                            output: y,
                            window,
                            depth_multiplier: u16::try_from(dm).map_err(|_| "depth multiplier over 65535")?,
                            output_scales: scales,
                            clamp: Clamp::NONE,
                        });
                    } else {
                        let n = cout as usize * kh as usize * kw as usize * c as usize;
                        let weights =
                            b.tensor(Tensor::weights(&[cout, kh, kw, c], Scale::from_ratio(1, 127), rng.weights(n)));
                        b.op(Op::Conv2D {
                            input: x,
                            weights,
                            bias: Some(bias),
                            output: y,
                            window,
                            output_scales: scales,
                            clamp: Clamp::NONE,
                        });
                    }
                    (x, h, w, c) = (y, oh, ow, cout);
                }
                (input, x)
            }
            OpKind::MaxPool2D | OpKind::AveragePool2D => {
                let input = b.tensor(act(&[s.rows, s.cols, s.depth], 0));
                let (mut x, mut h, mut w) = (input, s.rows, s.cols);
                let window = PoolWindow {
                    filter_h: s.kernel[0] as u16,
                    filter_w: s.kernel[1] as u16,
                    stride_h: s.stride[0] as u16,
                    stride_w: s.stride[1] as u16,
                    padding: if s.valid { Padding::Valid } else { Padding::Same },
                };
                for _ in 0..s.ops {
                    h = out_axis(h, s.kernel[0], s.stride[0], 1, s.valid).ok_or("window too large")?;
                    w = out_axis(w, s.kernel[1], s.stride[1], 1, s.valid).ok_or("window too large")?;
                    let y = b.tensor(act(&[h, w, s.depth], 0));
                    b.op(if s.op == OpKind::MaxPool2D {
                        Op::MaxPool2D { input: x, output: y, window, clamp: Clamp::NONE }
                    } else {
                        Op::AveragePool2D { input: x, output: y, window, clamp: Clamp::NONE }
                    });
                    x = y;
                }
                (input, x)
            }
            OpKind::Softmax => {
                let shape = [s.rows * s.cols, s.depth];
                let input = b.tensor(act(&shape, 0));
                let mut x = input;
                for _ in 0..s.ops {
                    let y = b.tensor(Tensor::activation(&shape, -128, Scale::from_ratio(1, 256)));
                    b.op(Op::Softmax { input: x, output: y, beta: Scale::from_ratio(1 << 23, 1), diff_min: -248 });
                    x = y;
                }
                (input, x)
            }
            OpKind::ArgMax => {
                let input = b.tensor(act(&[s.rows, s.cols, s.depth], 0));
                let y = b.tensor(Tensor {
                    dtype: DType::I32,
                    shape: vec![s.rows, s.cols],
                    zero_point: 0,
                    scale: Scale::default(),
                    data: TensorData::Activation,
                });
                b.op(Op::ArgMax { input, output: y });
                (input, y)
            }
            OpKind::Pad => {
                let [pad_rows, pad_channels] = s.kernel.map(|k| k - 1);
                let grown =
                    |d: u32, pad: u32| pad.checked_mul(2).and_then(|p| d.checked_add(p)).ok_or("padding too large");
                let mut dims = [s.rows, s.cols, s.depth];
                let input = b.tensor(act(&dims, 0));
                let mut x = input;
                for _ in 0..s.ops {
                    dims = [grown(dims[0], pad_rows)?, dims[1], grown(dims[2], pad_channels)?];
                    if dims.iter().map(|&d| u64::from(d)).product::<u64>() > MAX_ELEMENTS {
                        return Err("output too large".into());
                    }
                    let y = b.tensor(act(&dims, 0));
                    let paddings = vec![(pad_rows, pad_rows), (0, 0), (pad_channels, pad_channels)];
                    b.op(Op::Pad { input: x, output: y, paddings, value: 0 });
                    x = y;
                }
                (input, x)
            }
            OpKind::Concatenation => {
                if s.out > 255 {
                    return Err(format!("{} inputs", s.out));
                }
                let axis = if s.valid { 0 } else { 2 };
                let mut dims = [s.rows, s.cols, s.depth];
                let input = b.tensor(act(&dims, 0));
                let mut x = input;
                for _ in 0..s.ops {
                    dims[axis] = dims[axis].checked_mul(s.out).ok_or("output too large")?;
                    if dims.iter().map(|&d| u64::from(d)).product::<u64>() > MAX_ELEMENTS {
                        return Err("output too large".into());
                    }
                    let y = b.tensor(act(&dims, 0));
                    b.op(Op::Concatenation { inputs: vec![x; s.out as usize], output: y, axis: axis as u8 });
                    x = y;
                }
                (input, x)
            }
            OpKind::Mean => {
                let (axes, reduced) = if s.valid { (0b011, [1, 1, s.depth]) } else { (0b100, [s.rows, s.cols, 1]) };
                let mut dims = [s.rows, s.cols, s.depth];
                let input = b.tensor(act(&dims, 3));
                let mut x = input;
                for _ in 0..s.ops {
                    let count = if s.valid { u64::from(dims[0]) * u64::from(dims[1]) } else { u64::from(dims[2]) };
                    let y = b.tensor(act(&reduced, 0));
                    b.op(Op::Mean { input: x, output: y, axes, scale: Scale::from_ratio(1, count) });
                    (x, dims) = (y, reduced);
                }
                (input, x)
            }
            OpKind::Add
            | OpKind::Mul
            | OpKind::Reshape
            | OpKind::Logistic
            | OpKind::Tanh
            | OpKind::Sub
            | OpKind::Requantize
            | OpKind::HardSwish
            | OpKind::LeakyRelu => {
                let image = [s.rows, s.cols, s.depth];
                let flat = [s.rows * s.cols * s.depth];
                let input = b.tensor(act(&image, 0));
                let mut x = input;
                for i in 0..s.ops {
                    x = elementwise(
                        &mut b,
                        s.op,
                        x,
                        if s.op == OpKind::Reshape && i % 2 == 0 { &flat } else { &image },
                    );
                }
                (input, x)
            }
        };
        Ok(b.finish(input, output))
    }
}

/// One elementwise op of `kind` reading `x`, writing a new tensor of `shape`.
fn elementwise(b: &mut ModelBuilder, kind: OpKind, x: TensorId, shape: &[u32]) -> TensorId {
    let half = Scale::from_ratio(1, 2);
    match kind {
        OpKind::Add | OpKind::Sub => {
            let y = b.tensor(act(shape, 0));
            let (lhs, rhs, output, left_shift, lhs_scale, rhs_scale) = (x, x, y, 20, half, half);
            let (output_scale, clamp) = (Scale::from_ratio(1, 1 << 20), Clamp::NONE);
            b.op(if kind == OpKind::Add {
                Op::Add { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp }
            } else {
                Op::Sub { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp }
            });
            y
        }
        OpKind::Requantize => {
            let y = b.tensor(act(shape, 1));
            b.op(Op::Requantize { input: x, output: y, scale: Scale::from_ratio(3, 4) });
            y
        }
        OpKind::HardSwish => {
            let y = b.tensor(act(shape, 0));
            b.op(Op::HardSwish {
                input: x,
                output: y,
                reluish_multiplier: 21_845,
                reluish_exponent: 3,
                output_multiplier: 16_384,
                output_exponent: -1,
            });
            y
        }
        OpKind::LeakyRelu => {
            let y = b.tensor(act(shape, 0));
            b.op(Op::LeakyRelu {
                input: x,
                output: y,
                identity_scale: Scale::from_ratio(1, 1),
                alpha_scale: Scale::from_ratio(1, 5),
                alpha_negative: false,
            });
            y
        }
        OpKind::Mul => {
            let y = b.tensor(act(shape, 0));
            b.op(Op::Mul { lhs: x, rhs: x, output: y, output_scale: Scale::from_ratio(1, 90), clamp: Clamp::NONE });
            y
        }
        OpKind::Logistic => {
            let y = b.tensor(act(shape, -128));
            b.op(Op::Logistic {
                input: x,
                output: y,
                input_scale: Scale::from_ratio(1 << 22, 1),
                input_range_radius: 120,
            });
            y
        }
        OpKind::Tanh => {
            let y = b.tensor(act(shape, 0));
            b.op(Op::Tanh { input: x, output: y, input_scale: Scale::from_ratio(1 << 21, 1), input_range_radius: 110 });
            y
        }
        _ => {
            // Reshape keeps the quantization of its input: every activation here has zero point
            // 0 and one scale.
            let y = b.tensor(act(shape, 0));
            b.op(Op::Reshape { input: x, output: y });
            y
        }
    }
}

/// Output length of a window axis, as the engine computes it.
fn out_axis(input: u32, filter: u32, stride: u32, dilation: u32, valid: bool) -> Option<u32> {
    let effective = (u64::from(filter) - 1) * u64::from(dilation) + 1;
    let (input, stride) = (u64::from(input), u64::from(stride));
    let out = if valid { input.checked_sub(effective)? / stride + 1 } else { input.div_ceil(stride) };
    u32::try_from(out).ok()
}

/// FNV-1a: a weight seed from a case's name.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The grid of extreme shapes the search starts from for `op`, cheapest first (so that even a
/// tiny search times every op type once).
pub fn seeds(op: OpKind) -> Vec<Shape> {
    let s = |ops, dims, out| Shape::new(op, ops, dims, out);
    let w = |ops, dims, out, kernel, stride, dilation, valid| {
        Shape::new(op, ops, dims, out).window(kernel, stride, dilation, valid)
    };
    match op {
        OpKind::FullyConnected => vec![
            s(1, [1, 1, 63], 65),
            s(1, [1, 1, 1], 65_536),
            s(1, [1, 1, MAX_DEPTH], 1),
            s(1, [1, 1, MAX_DEPTH], 3),
            s(1, [65_536, 1, 1], 1),
            s(1, [4096, 1, 1], 17),
            s(1, [7, 1, 33], 17),
            s(300, [1, 1, 1], 1),
            s(64, [1, 1, 16], 16),
            s(1, [512, 1, 2048], 512),
            s(2, [64, 1, 8192], 256),
            s(1, [24, 1, MAX_DEPTH], 2),
        ],
        OpKind::Conv2D => vec![
            w(1, [8, 8, 3], 5, [3, 3], [1, 1], [1, 1], false),
            w(1, [1, 16_384, 1], 1, [1, 2048], [1, 1], [1, 1], false),
            w(1, [1, 4096, 1], 1, [1, 4096], [1, 1], [1, 1], true),
            w(1, [1, 1, MAX_DEPTH], 1, [1, 1], [1, 1], [1, 1], false),
            w(1, [1, 1, 7367], 1, [3, 3], [1, 1], [1, 1], false),
            w(1, [1, 1024, 1], 1, [1, 64], [1, 1], [1, 16], true),
            w(1, [64, 64, 8], 8, [3, 3], [4, 4], [1, 1], false),
            w(1, [1, 1, 1], 65_536, [1, 1], [1, 1], [1, 1], false),
            w(300, [1, 1, 1], 1, [1, 1], [1, 1], [1, 1], false),
        ],
        OpKind::DepthwiseConv2D => vec![
            w(1, [8, 8, 8], 1, [3, 3], [1, 1], [1, 1], false),
            w(1, [1, 16_384, 1], 1, [1, 2048], [1, 1], [1, 1], false),
            w(1, [1, 65_536, 1], 1, [1, 8192], [1, 1], [1, 1], true),
            w(1, [1, 4096, 1], 1, [1, 4096], [1, 1], [1, 1], false),
            w(1, [1, 1, 1], 1, [257, 258], [1, 1], [1, 1], false),
            w(1, [1, 1, 1], 65_535, [1, 1], [1, 1], [1, 1], false),
            w(1, [1, 1, 65_536], 1, [1, 1], [1, 1], [1, 1], false),
            w(1, [1, 1024, 1], 1, [1, 64], [1, 1], [1, 16], true),
            w(300, [1, 1, 1], 1, [1, 1], [1, 1], [1, 1], false),
        ],
        OpKind::MaxPool2D | OpKind::AveragePool2D => vec![
            w(1, [8, 8, 4], 1, [2, 2], [2, 2], [1, 1], false),
            w(1, [1, 16_384, 1], 1, [1, 2048], [1, 1], [1, 1], false),
            w(1, [1, 65_535, 1], 1, [1, 65_535], [1, 1], [1, 1], true),
            w(1, [1, 1, 65_536], 1, [1, 1], [1, 1], [1, 1], false),
            w(1, [64, 64, 8], 1, [8, 8], [1, 1], [1, 1], false),
            w(1, [256, 256, 1], 1, [16, 16], [1, 1], [1, 1], false),
            w(512, [1, 1, 1], 1, [1, 1], [1, 1], [1, 1], false),
        ],
        OpKind::Softmax => vec![
            s(1, [1, 1, 2], 1),
            s(512, [1, 1, 1], 1),
            s(1, [8, 1, 4095], 1),
            s(1, [4096, 1, 1], 1),
            s(64, [1, 1, 4095], 1),
            s(512, [1, 1, 2], 1),
        ],
        OpKind::BatchMatMul => vec![
            s(1, [1, 4, 8], 1),
            s(1, [1, 1, 33_025], 1),
            s(1, [4096, 1, 1], 1),
            s(1, [1, 4096, 1], 1),
            s(1, [1, 512, 512], 1),
            s(1, [64, 64, 64], 1),
            s(512, [1, 1, 1], 1),
            s(3, [16, 16, 16], 1),
            // Right factor stored by rows: laid out into panels on every call.
            w(1, [1, 2, 16_384], 1, [1, 1], [1, 1], [1, 1], true),
            w(1, [1, 16, 4096], 1, [1, 1], [1, 1], [1, 1], true),
            w(1, [1, 512, 512], 1, [1, 1], [1, 1], [1, 1], true),
            w(1, [64, 64, 64], 1, [1, 1], [1, 1], [1, 1], true),
            w(1, [1024, 1, 64], 1, [1, 1], [1, 1], [1, 1], true),
        ],
        OpKind::LayerNorm => vec![
            s(1, [1, 4, 32], 1),
            s(1, [4096, 1, 1], 1),
            s(1, [1 << 16, 1, 1], 1),
            s(1, [1, 1, 4096], 1),
            s(512, [1, 1, 1], 1),
            s(300, [1, 1, 64], 1),
            s(1, [4096, 1, 4096], 1),
        ],
        OpKind::Gather => vec![
            s(1, [1, 4, 8], 1),
            s(1, [1, 1, 1], 1),
            s(1, [65_536, 1, 1], 1),
            s(1, [1, 1, 65_536], 1),
            s(1, [4096, 256, 16], 1),
            s(1, [1 << 22, 1, 1], 1),
        ],
        OpKind::Transpose => vec![
            s(1, [2, 3, 4], 1),
            s(1, [4096, 4096, 1], 1),
            s(1, [1, 4096, 4096], 1),
            s(1, [256, 256, 256], 1),
            s(512, [1, 1, 1], 1),
            s(3, [1024, 64, 32], 1),
        ],
        OpKind::Pad => vec![
            w(1, [1, 1, 1], 1, [2, 2], [1, 1], [1, 1], false),
            w(512, [1, 1, 1], 1, [1, 1], [1, 1], [1, 1], false),
            w(1, [1, 1, 1], 1, [1, 1 << 20], [1, 1], [1, 1], false),
            w(1, [1, 1, 1], 1, [1 << 20, 1], [1, 1], [1, 1], false),
            w(1, [1, 4096, 1], 1, [256, 2], [1, 1], [1, 1], false),
            w(8, [64, 64, 8], 1, [2, 2], [1, 1], [1, 1], false),
            w(64, [1, 2, 1], 1, [2, 1], [1, 1], [1, 1], false),
        ],
        OpKind::Concatenation => vec![
            s(1, [1, 1, 1], 2),
            s(512, [1, 1, 1], 1),
            s(1, [1, 1, 1], 255),
            s(2, [1, 1, 1], 255),
            s(1, [1, 1, 16_384], 255),
            w(1, [16_384, 1, 1], 255, [1, 1], [1, 1], [1, 1], true),
            w(1, [1, 4096, 1], 255, [1, 1], [1, 1], [1, 1], false),
            s(300, [1, 1, 8], 1),
        ],
        OpKind::Mean => vec![
            s(1, [1, 1, 1], 1),
            s(1, [1, 1, 1 << 22], 1),
            w(1, [2048, 2048, 1], 1, [1, 1], [1, 1], [1, 1], true),
            w(1, [1, 1, 1 << 22], 1, [1, 1], [1, 1], [1, 1], true),
            s(1, [1 << 21, 1, 2], 1),
            s(512, [1, 1, 1], 1),
            s(512, [1, 1, 4096], 1),
            w(1, [1 << 21, 1, 2], 1, [1, 1], [1, 1], [1, 1], true),
        ],
        OpKind::ArgMax => vec![
            s(1, [1, 1, 1], 1),
            s(1, [1, 1, 65_536], 1),
            s(1, [65_536, 1, 1], 1),
            s(1, [4096, 1, 3], 1),
            s(1, [1, 1, 1 << 22], 1),
        ],
        _ => vec![
            s(1, [1, 1, 1], 1),
            s(512, [1, 1, 1], 1),
            s(1, [1, 1, 65_536], 1),
            s(48, [64, 64, 8], 1),
            s(512, [1, 1, 4096], 1),
            s(512, [1, 1, 33], 1),
            s(1, [1, 1, 1 << 21], 1),
        ],
    }
}

/// A child of `parent`: one or two of its dimensions doubled, halved, or moved by one.
pub(crate) fn mutate(parent: &Shape, rng: &mut SplitMix64) -> Shape {
    let mut child = parent.clone();
    let fields = parent.op.fields();
    let changes = 1 + rng.next().is_multiple_of(3) as usize;
    for _ in 0..changes {
        let field = fields[(rng.next() % fields.len() as u64) as usize];
        let value: &mut u32 = match field {
            Field::Valid => {
                child.valid = !child.valid;
                continue;
            }
            Field::Ops => &mut child.ops,
            Field::Rows => &mut child.rows,
            Field::Cols => &mut child.cols,
            Field::Depth => &mut child.depth,
            Field::Out => &mut child.out,
            Field::KernelH => &mut child.kernel[0],
            Field::KernelW => &mut child.kernel[1],
            Field::StrideH => &mut child.stride[0],
            Field::StrideW => &mut child.stride[1],
            Field::DilationH => &mut child.dilation[0],
            Field::DilationW => &mut child.dilation[1],
        };
        *value = match rng.next() % 4 {
            0 => value.saturating_mul(2),
            1 => (*value / 2).max(1),
            2 => value.saturating_add(1),
            _ => (*value - 1).max(1),
        };
    }
    child
}

/// What to search and how.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// The kernel path candidates are timed on.
    pub pricing_path: KernelPath,
    /// The schedule that prices the candidates.
    pub schedule: GasSchedule,
    /// Total time, the final re-timing included, in seconds.
    pub seconds: f64,
    /// Seed of the mutations.
    pub seed: u64,
    /// Candidates priced above this gas are skipped (they take long to time, and a call costs
    /// at most a block's gas).
    pub max_gas: u64,
    /// Candidates whose single call takes longer are skipped.
    pub call_cap: Duration,
    /// The op types to search.
    pub ops: Vec<OpKind>,
}

/// The worst shape found for one op type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchedCase {
    /// The case's name ([`Shape::name`]).
    pub name: String,
    /// The shape, from which the case is rebuilt.
    pub shape: Shape,
    /// Gas that pays for the timed work (the price less the EIP-2929 account access).
    pub gas: u64,
    /// Length of the model, in bytes.
    pub model_bytes: u64,
    /// Length of the input, in bytes.
    pub input_bytes: u64,
    /// `infer` (deployed in contract code) or `inferInline`.
    pub delivery: String,
    /// Median ns per call, less the call's own transaction.
    pub ns: f64,
    /// `ns` over `gas`.
    pub ns_per_gas: f64,
    /// ns per gas over ecrecover's in the same run: above 1 the shape is underpriced.
    pub ratio: f64,
}

/// What a search writes as JSON (`gas-search.json`, and `testdata/gas/searched-cases.json`
/// with `--write-cases`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchedFile {
    /// What the file is, for a person who opens it.
    pub about: String,
    /// The command that produced it, as a person would type it.
    pub command: String,
    /// The machine, in words (CPU model, cores).
    pub machine: String,
    /// Version of the schedule the search priced candidates under.
    pub schedule: String,
    /// The kernel path candidates were timed on.
    pub pricing_path: String,
    /// ecrecover's ns per gas in the same run (the fastest of its timings).
    pub ecrecover_ns_per_gas: f64,
    /// Candidates timed.
    pub candidates_timed: usize,
    /// Candidates skipped: invalid, over the gas cap, or too slow.
    pub candidates_skipped: usize,
    /// The worst shape found per op type.
    pub cases: Vec<SearchedCase>,
}

/// Progress of a search, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum SearchProgress<'a> {
    /// A candidate is about to be timed, `elapsed` into the search.
    Candidate {
        /// The candidate's op type.
        op: OpKind,
        /// The candidate's name ([`Shape::name`]).
        name: &'a str,
        /// Time since the search started.
        elapsed: Duration,
        /// The op type's worst ratio to ecrecover so far (0 before any).
        worst: f64,
    },
    /// The worst of each op type is timed again, longer.
    Retiming {
        /// The op type whose worst shape is timed.
        op: OpKind,
        /// Time since the search started.
        elapsed: Duration,
    },
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// ecrecover's ns per gas: the fastest of its timings over the search.
    pub line_ns_per_gas: f64,
    /// The worst shape found per op type, timed again with a longer budget.
    pub worst: Vec<SearchedCase>,
    /// Candidates timed.
    pub timed: usize,
    /// Candidates skipped: invalid, over the gas cap, or too slow.
    pub skipped: usize,
}

struct Best {
    shape: Shape,
    ratio: f64,
}

/// Runs the search (see the module documentation).
pub fn search(
    options: &SearchOptions,
    progress: &mut dyn FnMut(SearchProgress),
) -> Result<SearchResult, GasBenchError> {
    if !options.pricing_path.is_available() {
        return Err(GasBenchError::Config(format!("this CPU cannot run the {} kernel path", options.pricing_path)));
    }
    let start = Instant::now();
    let total = Duration::from_secs_f64(options.seconds.max(0.0));
    // A long search re-times its winners longer; a tiny one as briefly as it timed them.
    let (candidate_budget, final_budget) = if options.seconds >= 120.0 {
        (
            Budget { warm_up: Duration::from_millis(10), measure: Duration::from_millis(60) },
            Budget { warm_up: Duration::from_millis(100), measure: Duration::from_millis(600) },
        )
    } else {
        (Budget { warm_up: Duration::from_millis(5), measure: Duration::from_millis(25) }, Budget::QUICK)
    };
    let search_until = total.mul_f64(0.85);
    let mut line = Yardstick::new(candidate_budget)?;
    let mut rng = SplitMix64(options.seed ^ 0x5EA2_C4ED);
    let mut seen: HashSet<Shape> = HashSet::new();
    let mut best: Vec<Option<Best>> = options.ops.iter().map(|_| None).collect();
    let (mut timed, mut skipped) = (0usize, 0usize);

    // Times one candidate: its ratio to the line, or `None` when it is skipped.
    let try_shape = |shape: &Shape, line: &mut Yardstick, timed: &mut usize, skipped: &mut usize| -> Option<f64> {
        let Ok(case) = shape.case("searched candidate") else {
            *skipped += 1;
            return None;
        };
        let gas = crate::measure::Work::of(&case).ok()?.priced_gas(&options.schedule);
        if gas > options.max_gas {
            *skipped += 1;
            return None;
        }
        match time_cold(&case, options.pricing_path, options.schedule, candidate_budget, options.call_cap) {
            Ok(Some((work, t))) => {
                *timed += 1;
                if (*timed).is_multiple_of(16) {
                    line.sample(candidate_budget);
                }
                Some(t.median_ns / work.priced_gas(&options.schedule).max(1) as f64 / line.line_ns_per_gas)
            }
            _ => {
                *skipped += 1;
                None
            }
        }
    };

    // The grid: every op's first seed, then every op's second, and so on. The first seed of
    // every op is timed whatever the budget, so every op type gets a result.
    let grids: Vec<Vec<Shape>> = options.ops.iter().map(|&op| seeds(op)).collect();
    let rounds = grids.iter().map(Vec::len).max().unwrap_or(0);
    for round in 0..rounds {
        for (i, grid) in grids.iter().enumerate() {
            let Some(shape) = grid.get(round) else { continue };
            if round > 0 && start.elapsed() > search_until || !seen.insert(shape.clone()) {
                continue;
            }
            let worst = best[i].as_ref().map_or(0.0, |b| b.ratio);
            let name = shape.name();
            progress(SearchProgress::Candidate { op: shape.op, name: &name, elapsed: start.elapsed(), worst });
            if let Some(ratio) = try_shape(shape, &mut line, &mut timed, &mut skipped)
                && ratio > worst
            {
                best[i] = Some(Best { shape: shape.clone(), ratio });
            }
        }
    }

    // Hill climbing, one op type after another: mutate the worst shape so far (now and then
    // a grid shape instead, to climb from elsewhere) and keep the child if it is worse. A
    // child that wins is timed twice, keeping the lower ratio, so that one noisy timing does
    // not stop the climb.
    let mut turn = 0usize;
    while start.elapsed() < search_until && !options.ops.is_empty() {
        let i = turn % options.ops.len();
        turn += 1;
        let parent = match &best[i] {
            Some(b) if !rng.next().is_multiple_of(6) => b.shape.clone(),
            _ => grids[i][(rng.next() % grids[i].len() as u64) as usize].clone(),
        };
        let Some(child) = (0..32).map(|_| mutate(&parent, &mut rng)).find(|c| !seen.contains(c) && c.model().is_ok())
        else {
            continue;
        };
        seen.insert(child.clone());
        let worst = best[i].as_ref().map_or(0.0, |b| b.ratio);
        let name = child.name();
        progress(SearchProgress::Candidate { op: child.op, name: &name, elapsed: start.elapsed(), worst });
        let Some(ratio) = try_shape(&child, &mut line, &mut timed, &mut skipped) else { continue };
        if ratio > worst {
            let again = try_shape(&child, &mut line, &mut timed, &mut skipped).unwrap_or(0.0);
            let ratio = ratio.min(again);
            if ratio > worst {
                best[i] = Some(Best { shape: child, ratio });
            }
        }
    }

    // The worst of each op type, timed again with a longer budget, the line before and after.
    line.sample(final_budget);
    let mut worst = Vec::new();
    for (&op, found) in options.ops.iter().zip(&best) {
        let Some(found) = found else { continue };
        progress(SearchProgress::Retiming { op, elapsed: start.elapsed() });
        let case = found.shape.case("searched")?;
        let Some((work, t)) = time_cold(&case, options.pricing_path, options.schedule, final_budget, options.call_cap)?
        else {
            continue;
        };
        worst.push((found.shape.clone(), case, work, t));
    }
    line.sample(final_budget);
    let line_ns_per_gas = line.line_ns_per_gas;
    let worst = worst
        .into_iter()
        .map(|(shape, case, work, t): (Shape, ModelCase, crate::measure::Work, Timing)| {
            let gas = work.priced_gas(&options.schedule);
            let ns_per_gas = t.median_ns / gas.max(1) as f64;
            SearchedCase {
                name: case.name,
                shape,
                gas,
                model_bytes: work.model_len,
                input_bytes: work.input_len,
                delivery: match case.delivery {
                    crate::cases::Delivery::Deployed => "infer".into(),
                    crate::cases::Delivery::Inline => "inferInline".into(),
                    crate::cases::Delivery::Direct => "engine".into(),
                },
                ns: t.median_ns,
                ns_per_gas,
                ratio: ns_per_gas / line_ns_per_gas,
            }
        })
        .collect();
    Ok(SearchResult { line_ns_per_gas, worst, timed, skipped })
}

/// The worst cases as a markdown table.
pub fn markdown(file: &SearchedFile) -> String {
    let mut md = String::from("# Gas search\n\n");
    md.push_str(&format!(
        "Produced by `{}` on {}: {} candidates timed, {} skipped (invalid, over the gas cap, or too slow).\n\n",
        file.command, file.machine, file.candidates_timed, file.candidates_skipped
    ));
    md.push_str(&format!(
        "Schedule **{}**, pricing path **{}**, cold calls through the EVM, each less its own transaction. \
         ecrecover in the same run: **{:.2} ns/gas**. \"x ecrecover\" above 1.00 means the shape is underpriced.\n\n",
        file.schedule, file.pricing_path, file.ecrecover_ns_per_gas
    ));
    md.push_str("| op type | worst shape found | call | model bytes | gas priced | ns cold | ns/gas | x ecrecover |\n");
    md.push_str("|---|---|---|---:|---:|---:|---:|---:|\n");
    for c in &file.cases {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} |\n",
            c.shape.op.name(),
            c.name,
            c.delivery,
            c.model_bytes,
            c.gas,
            c.ns,
            c.ns_per_gas,
            c.ratio
        ));
    }
    md.push_str(
        "\nEach shape's full definition is in the JSON file beside this one; `--write-cases` makes them \
         cases of every `aiop bench gas` run (`testdata/gas/searched-cases.json`).\n",
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_type_has_seeds_and_its_cheapest_seed_is_a_valid_model_of_its_format() {
        for op in OpKind::ALL {
            let grid = seeds(op);
            assert!(grid.len() >= 5, "{op:?}");
            for shape in &grid {
                assert_eq!(shape.op, op);
            }
            let case = grid[0].case("test").unwrap_or_else(|e| panic!("{op:?}: {e}"));
            let header = aiop_engine::check(&case.model).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert_eq!(header.version, op.format().byte());
            let model = aiop_engine::decode(&case.model).expect("decodes");
            assert!(model.ops.iter().all(|o| o.name() == op.name()), "{}", case.name);
        }
    }

    #[test]
    fn most_seeds_are_valid_and_mutation_is_reproducible() {
        let valid = OpKind::ALL
            .iter()
            .flat_map(|&op| seeds(op))
            .filter(|s| {
                s.model()
                    .ok()
                    .and_then(|m| aiop_engine::encode(&m).ok())
                    .is_some_and(|b| aiop_engine::check(&b).is_ok())
            })
            .count();
        let all: usize = OpKind::ALL.iter().map(|&op| seeds(op).len()).sum();
        assert!(valid * 10 >= all * 9, "{valid} of {all} seeds are valid");
        let walk = |seed| {
            let mut rng = SplitMix64(seed);
            let mut shape = seeds(OpKind::DepthwiseConv2D)[1].clone();
            (0..50)
                .map(|_| {
                    shape = mutate(&shape, &mut rng);
                    shape.name()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(walk(7), walk(7));
        assert_ne!(walk(7), walk(8));
    }

    #[test]
    fn names_say_the_whole_shape() {
        let s = Shape::new(OpKind::DepthwiseConv2D, 1, [1, 65_536, 1], 1).window([1, 8192], [1, 1], [1, 1], true);
        assert_eq!(s.name(), "searched-depthwise-1x65536x1-o1-k1x8192-s1x1-d1x1-valid");
        let s = Shape::new(OpKind::Add, 512, [1, 1, 1], 1);
        assert_eq!(s.name(), "searched-add-1x1x1-x512");
        let s = Shape::new(OpKind::BatchMatMul, 2, [1, 2, 300], 1).window([1, 1], [1, 1], [1, 1], true);
        assert_eq!(s.name(), "searched-batchmatmul-1x2x300-rows-x2");
    }

    #[test]
    fn batch_matmul_by_rows_multiplies_by_a_reshape_stored_by_rows() {
        let s = Shape::new(OpKind::BatchMatMul, 2, [3, 2, 5], 1).window([1, 1], [1, 1], [1, 1], true);
        let case = s.case("test").unwrap();
        aiop_engine::check(&case.model).unwrap();
        let model = aiop_engine::decode(&case.model).unwrap();
        let kinds: Vec<_> = model
            .ops
            .iter()
            .map(|o| match o {
                Op::BatchMatMul { transpose_rhs, .. } => format!("BatchMatMul(transposed: {transpose_rhs})"),
                other => other.name().to_string(),
            })
            .collect();
        let pair = ["Reshape".to_string(), "BatchMatMul(transposed: false)".to_string()];
        assert_eq!(kinds, [pair.clone(), pair].concat());
        let transposed = Shape::new(OpKind::BatchMatMul, 1, [3, 2, 5], 1).case("test").unwrap();
        let model = aiop_engine::decode(&transposed.model).unwrap();
        assert!(matches!(model.ops[..], [Op::BatchMatMul { transpose_rhs: true, .. }]));
    }
}
