//! What running a model costs, counted from the model alone when it is loaded.
//!
//! The precompile turns these counts into gas; they are a pure function of the model, known
//! before anything runs, and stored in the model header so a caller can price a model from
//! its first bytes. `docs/model-format.md` gives each op's formula.
//!
//! [`OpWork`] is the finer count of each op (input and output elements, kernel taps, im2col
//! patch elements, weights streamed) that schedules pricing the loaded model use (gas schedule
//! v3). It is computed at load, never stored in the model bytes.

use crate::model::{Model, Op, Tensor, TensorId};
use crate::validate::Geometry;

/// Work counts of one run of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cost {
    /// Number of ops.
    pub ops: u64,
    /// Multiply-accumulates, plus one per window element read by a pooling op.
    pub macs: u64,
    /// Activation elements read and written by all ops.
    pub elements: u64,
    /// Fixed-point exponential / reciprocal evaluations (Softmax, Logistic, Tanh).
    pub transcendentals: u64,
    /// Bytes of activation memory one run holds.
    pub arena_bytes: u64,
}

/// Ops whose kernels cost alike, priced alike by schedules that price the loaded model (gas
/// schedule v3). Every op of the format belongs to exactly one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpClass {
    /// FullyConnected: a packed matrix product.
    FullyConnected,
    /// Conv2D: an im2col patch per output position, then a packed matrix product.
    Conv2D,
    /// DepthwiseConv2D: one kernel window per output position and channel.
    DepthwiseConv2D,
    /// MaxPool2D, AveragePool2D.
    Pool,
    /// Add, Sub, Mul, Requantize, LeakyRelu, HardSwish: integer work per element.
    Elementwise,
    /// Softmax, Logistic, Tanh: fixed-point exponentials and reciprocals.
    Transcendental,
    /// Reshape, Concatenation, Pad, ArgMax, Mean: copies and reductions.
    Data,
}

impl OpClass {
    /// Number of classes.
    pub const COUNT: usize = 7;
    /// Every class, in [`OpClass::index`] order.
    pub const ALL: [OpClass; OpClass::COUNT] = [
        OpClass::FullyConnected,
        OpClass::Conv2D,
        OpClass::DepthwiseConv2D,
        OpClass::Pool,
        OpClass::Elementwise,
        OpClass::Transcendental,
        OpClass::Data,
    ];

    /// Position of the class in [`OpClass::ALL`] (and in a price table).
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            OpClass::FullyConnected => "FullyConnected",
            OpClass::Conv2D => "Conv2D",
            OpClass::DepthwiseConv2D => "DepthwiseConv2D",
            OpClass::Pool => "Pool",
            OpClass::Elementwise => "Elementwise",
            OpClass::Transcendental => "Transcendental",
            OpClass::Data => "Data",
        }
    }

    /// The class of `op`.
    pub fn of(op: &Op) -> OpClass {
        match op {
            Op::FullyConnected { .. } => OpClass::FullyConnected,
            Op::Conv2D { .. } => OpClass::Conv2D,
            Op::DepthwiseConv2D { .. } => OpClass::DepthwiseConv2D,
            Op::MaxPool2D { .. } | Op::AveragePool2D { .. } => OpClass::Pool,
            Op::Add { .. }
            | Op::Sub { .. }
            | Op::Mul { .. }
            | Op::Requantize { .. }
            | Op::LeakyRelu { .. }
            | Op::HardSwish { .. } => OpClass::Elementwise,
            Op::Softmax { .. } | Op::Logistic { .. } | Op::Tanh { .. } => OpClass::Transcendental,
            Op::Reshape { .. } | Op::Concatenation { .. } | Op::Pad { .. } | Op::ArgMax { .. } | Op::Mean { .. } => {
                OpClass::Data
            }
        }
    }
}

/// What one op does in one run, counted at load from the validated model's shapes (never
/// stored in the model: a schedule that prices the loaded model reads these). Every count is
/// an integer computed with saturating arithmetic; each is a pure function of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpWork {
    pub class: OpClass,
    /// Activation elements the op reads (each input tensor counted once per operand).
    pub in_elements: u64,
    /// Elements of the op's output.
    pub out_elements: u64,
    /// Multiply-accumulates, plus one per window element read by a pooling op (as [`Cost`]).
    pub macs: u64,
    /// Kernel taps: output positions times kernel (or pooling window) positions, channels not
    /// counted. What a wide window over few channels costs beyond its MACs. 0 for ops without
    /// a window.
    pub taps: u64,
    /// Conv2D only: taps times input channels, the elements of the im2col patches. 0 else.
    pub patch: u64,
    /// Constant int8 weights the op streams each run (FullyConnected, Conv2D, DepthwiseConv2D).
    pub weights: u64,
    /// Fixed-point exponential / reciprocal evaluations (as [`Cost`]).
    pub transcendentals: u64,
}

impl OpWork {
    /// Number of per-op counts, the length of [`OpWork::counts`].
    pub const COUNTS: usize = 8;
    /// Names of the counts, in [`OpWork::counts`] order (the first is the op itself, 1).
    pub const COUNT_NAMES: [&'static str; OpWork::COUNTS] =
        ["op", "input element", "output element", "MAC", "tap", "patch element", "weight", "transcendental"];

    /// The op itself (1) and its counts, in [`OpWork::COUNT_NAMES`] order.
    pub fn counts(&self) -> [u64; OpWork::COUNTS] {
        [1, self.in_elements, self.out_elements, self.macs, self.taps, self.patch, self.weights, self.transcendentals]
    }
}

fn elements_of(model: &Model, id: TensorId) -> u64 {
    model.tensors.get(usize::from(id)).and_then(Tensor::elements).unwrap_or(u64::MAX)
}

/// The work of `op`, whose validated geometry is `g` and cost `cost` (from
/// [`crate::validate::validate`], which calls this for every op).
pub(crate) fn op_work(model: &Model, op: &Op, g: &Geometry, cost: &Cost) -> OpWork {
    let class = OpClass::of(op);
    let in_elements = op
        .inputs()
        .into_iter()
        .filter(|&id| model.tensors.get(usize::from(id)).is_some_and(|t| !t.is_constant()))
        .fold(0u64, |sum, id| sum.saturating_add(elements_of(model, id)));
    let out_elements = elements_of(model, op.output());
    let window = |g: &Geometry| {
        let positions = (g.out_h as u64).saturating_mul(g.out_w as u64);
        positions.saturating_mul(g.kernel_h as u64).saturating_mul(g.kernel_w as u64)
    };
    let (taps, patch, weights) = match op {
        Op::FullyConnected { weights, .. } => (0, 0, elements_of(model, *weights)),
        Op::Conv2D { weights, .. } => {
            let taps = window(g);
            (taps, taps.saturating_mul(g.in_c as u64), elements_of(model, *weights))
        }
        Op::DepthwiseConv2D { weights, .. } => (window(g), 0, elements_of(model, *weights)),
        Op::MaxPool2D { .. } | Op::AveragePool2D { .. } => (window(g), 0, 0),
        _ => (0, 0, 0),
    };
    OpWork {
        class,
        in_elements,
        out_elements,
        macs: cost.macs,
        taps,
        patch,
        weights,
        transcendentals: cost.transcendentals,
    }
}
