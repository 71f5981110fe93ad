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
    /// Conv2D: an im2col patch per output position, then a packed matrix product; and
    /// BatchMatMul (format v3), whose two activations are laid out on every run.
    Conv2D,
    /// DepthwiseConv2D: one kernel window per output position and channel.
    DepthwiseConv2D,
    /// MaxPool2D, AveragePool2D.
    Pool,
    /// Add, Sub, Mul, Requantize, LeakyRelu, HardSwish, Gelu: integer work per element.
    Elementwise,
    /// Softmax, Logistic, Tanh: fixed-point exponentials and reciprocals; LayerNorm: a square
    /// root and a reciprocal per row.
    Transcendental,
    /// Reshape, Concatenation, Pad, ArgMax, Mean, Gather, Transpose: copies and reductions.
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

    /// The class's name, as text.
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
            | Op::HardSwish { .. }
            | Op::Gelu { .. } => OpClass::Elementwise,
            Op::Softmax { .. } | Op::Logistic { .. } | Op::Tanh { .. } | Op::LayerNorm { .. } => {
                OpClass::Transcendental
            }
            // Both factors are activations, laid out for the kernel on every run, as Conv2D's
            // patches are: priced per MAC and per element laid out.
            Op::BatchMatMul { .. } => OpClass::Conv2D,
            Op::Reshape { .. }
            | Op::Concatenation { .. }
            | Op::Pad { .. }
            | Op::ArgMax { .. }
            | Op::Mean { .. }
            | Op::Gather { .. }
            | Op::Transpose { .. } => OpClass::Data,
        }
    }
}

/// What one op does in one run, counted at load from the validated model's shapes (never
/// stored in the model: a schedule that prices the loaded model reads these). Every count is
/// an integer computed with saturating arithmetic; each is a pure function of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpWork {
    /// The op's price class.
    pub class: OpClass,
    /// Activation elements the op reads (each input counted once per operand: an Add of a
    /// tensor with itself reads it twice).
    pub in_elements: u64,
    /// Elements of the op's output.
    pub out_elements: u64,
    /// Multiply-accumulates, plus one per window element read by a pooling op (as [`Cost`]).
    pub macs: u64,
    /// Kernel taps: output positions times kernel (or pooling window) positions, channels not
    /// counted. What a wide window over few channels costs beyond its MACs. BatchMatMul: two
    /// per output (a dot product and a requantization, whatever the depth). 0 for other ops.
    pub taps: u64,
    /// Conv2D: taps times input channels, the elements of the im2col patches; BatchMatMul: the
    /// elements of both factors, laid out each run. 0 else.
    pub patch: u64,
    /// Constant int8 weights the op streams each run (FullyConnected, Conv2D, DepthwiseConv2D).
    pub weights: u64,
    /// Fixed-point exponential / reciprocal evaluations (as [`Cost`]).
    pub transcendentals: u64,
    /// Output channels of a FullyConnected, Conv2D or DepthwiseConv2D op: each has a scale and
    /// a bias to decode and validate and, on a cold call, stage constants to prepare, whatever
    /// the shape (the search found a 65536-channel Conv2D that no per-element price covers
    /// without over-charging ordinary layers). 0 for other ops.
    pub channels: u64,
}

impl OpWork {
    /// Number of per-op counts, the length of [`OpWork::counts`].
    pub const COUNTS: usize = 9;
    /// Names of the counts, in [`OpWork::counts`] order (the first is the op itself, 1).
    pub const COUNT_NAMES: [&'static str; OpWork::COUNTS] = [
        "op",
        "input element",
        "output element",
        "MAC",
        "tap",
        "patch element",
        "weight",
        "transcendental",
        "output channel",
    ];

    /// The op itself (1) and its counts, in [`OpWork::COUNT_NAMES`] order.
    pub fn counts(&self) -> [u64; OpWork::COUNTS] {
        [
            1,
            self.in_elements,
            self.out_elements,
            self.macs,
            self.taps,
            self.patch,
            self.weights,
            self.transcendentals,
            self.channels,
        ]
    }
}

fn elements_of(model: &Model, id: TensorId) -> u64 {
    model.tensors.get(usize::from(id)).and_then(Tensor::elements).unwrap_or(u64::MAX)
}

/// The cost of one run of `op` (its `ops` field 0), counted from the geometry validation
/// proved for it ([`crate::validate::validate`] calls this for every op after its rules
/// passed, so every count is of real, bounded shapes). `docs/model-format.md` gives each
/// formula.
pub(crate) fn op_cost(model: &Model, op: &Op, g: &Geometry) -> Cost {
    let elements = |id: TensorId| elements_of(model, id);
    let out = elements(op.output());
    // What ops that read one activation and write one read and write.
    let in_out = |input: &TensorId| elements(*input).saturating_add(out);
    let (macs, elements, transcendentals) = match op {
        Op::FullyConnected { input, .. } => (product(&[g.rows, g.depth, g.cols]), in_out(input), 0),
        Op::Conv2D { input, .. } | Op::DepthwiseConv2D { input, .. } => {
            (out.saturating_mul(g.depth as u64), in_out(input), 0)
        }
        Op::MaxPool2D { input, .. } | Op::AveragePool2D { input, .. } => {
            let reads = out.saturating_mul(g.window.kernel_h as u64).saturating_mul(g.window.kernel_w as u64);
            (reads, in_out(input), 0)
        }
        Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } => (0, out.saturating_mul(3), 0),
        Op::Reshape { .. } | Op::Requantize { .. } | Op::LeakyRelu { .. } | Op::HardSwish { .. } => {
            (0, out.saturating_mul(2), 0)
        }
        // Two exponentials per element and one reciprocal per row.
        Op::Softmax { .. } => (0, out.saturating_mul(2), out.saturating_mul(2).saturating_add(g.rows as u64)),
        Op::Logistic { .. } | Op::Tanh { .. } => (0, out.saturating_mul(2), out),
        Op::ArgMax { input, .. } | Op::Pad { input, .. } | Op::Mean { input, .. } => (0, in_out(input), 0),
        Op::Concatenation { inputs, .. } => {
            let read = inputs.iter().fold(0u64, |sum, &id| sum.saturating_add(elements(id)));
            (0, read.saturating_add(out), 0)
        }
        Op::BatchMatMul { lhs, rhs, .. } => {
            (out.saturating_mul(g.depth as u64), elements(*lhs).saturating_add(elements(*rhs)).saturating_add(out), 0)
        }
        // A sum, a sum of squares and a scaling per element; per row an integer square root
        // (counted as two transcendentals) and a reciprocal (one).
        Op::LayerNorm { input, .. } => (out.saturating_mul(3), in_out(input), (g.rows as u64).saturating_mul(3)),
        // The polynomial and its requantization: each input counted as three reads.
        Op::Gelu { .. } => (0, out.saturating_mul(4), 0),
        Op::Gather { indices, .. } => (0, in_out(indices), 0),
        // Each element is read through a strided index (two reads), and the odometer's set-up
        // counts as 64 reads (the search found small transposes under-priced without it).
        Op::Transpose { input, .. } => {
            (0, elements(*input).saturating_mul(2).saturating_add(out).saturating_add(64), 0)
        }
    };
    Cost { macs, elements, transcendentals, ..Cost::default() }
}

fn product(factors: &[usize]) -> u64 {
    factors.iter().fold(1u64, |p, &f| p.saturating_mul(f as u64))
}

/// The work of `op`, whose validated geometry is `g` and cost `cost` (from [`op_cost`]; both
/// computed by [`crate::validate::validate`] for every op).
pub(crate) fn op_work(model: &Model, op: &Op, g: &Geometry, cost: &Cost) -> OpWork {
    let class = OpClass::of(op);
    let out_elements = elements_of(model, op.output());
    // Every op's element count is its activation inputs' elements plus its output's
    // (`docs/model-format.md`, section 6): what it reads is the rest.
    let in_elements = cost.elements.saturating_sub(out_elements);
    let window = |g: &Geometry| {
        let positions = (g.window.out_h as u64).saturating_mul(g.window.out_w as u64);
        positions.saturating_mul(g.window.kernel_h as u64).saturating_mul(g.window.kernel_w as u64)
    };
    let (taps, patch, weights) = match op {
        Op::FullyConnected { weights, .. } => (0, 0, elements_of(model, *weights)),
        Op::Conv2D { weights, .. } => {
            let taps = window(g);
            (taps, taps.saturating_mul(g.window.in_c as u64), elements_of(model, *weights))
        }
        Op::DepthwiseConv2D { weights, .. } => (window(g), 0, elements_of(model, *weights)),
        Op::MaxPool2D { .. } | Op::AveragePool2D { .. } => (window(g), 0, 0),
        // Each output is one dot product and one requantization: two taps.
        Op::BatchMatMul { .. } => (out_elements.saturating_mul(2), in_elements, 0),
        _ => (0, 0, 0),
    };
    let channels = match op {
        Op::FullyConnected { .. } | Op::Conv2D { .. } | Op::DepthwiseConv2D { .. } => g.cols as u64,
        _ => 0,
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
        channels,
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::model::{Clamp, ConvWindow, FormatVersion, Padding, PoolWindow, Scale};
    use crate::{ModelBuilder, validate::validate};

    fn act(b: &mut ModelBuilder, shape: &[u32]) -> TensorId {
        b.tensor(Tensor::activation(shape, 0, Scale::from_ratio(1, 32)))
    }

    #[test]
    fn conv_depthwise_and_pool_count_taps_patches_and_weights() {
        let mut b = ModelBuilder::new(FormatVersion::V1);
        // 1x64x2 input; Conv2D 1x5 kernel, 2 -> 3 channels, valid: 1x60 output.
        let x = act(&mut b, &[1, 64, 2]);
        let w = b.tensor(Tensor::weights(&[3, 1, 5, 2], Scale::from_ratio(1, 127), vec![1; 30]));
        let y = act(&mut b, &[1, 60, 3]);
        let window = ConvWindow { stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, padding: Padding::Valid };
        let scales = vec![Scale::from_ratio(1, 400); 3];
        b.op(Op::Conv2D {
            input: x,
            weights: w,
            bias: None,
            output: y,
            window,
            output_scales: scales,
            clamp: Clamp::NONE,
        });
        // Depthwise 1x7 kernel, multiplier 2: 1x54x6 output.
        let dw = b.tensor(Tensor::weights(&[1, 7, 6], Scale::from_ratio(1, 127), vec![1; 42]));
        let z = act(&mut b, &[1, 54, 6]);
        b.op(Op::DepthwiseConv2D {
            input: y,
            weights: dw,
            bias: None,
            output: z,
            window,
            depth_multiplier: 2,
            output_scales: vec![Scale::from_ratio(1, 400); 6],
            clamp: Clamp::NONE,
        });
        // Max pool 1x4, stride 2, valid: 1x26x6 output.
        let p = act(&mut b, &[1, 26, 6]);
        let pool = PoolWindow { filter_h: 1, filter_w: 4, stride_h: 1, stride_w: 2, padding: Padding::Valid };
        b.op(Op::MaxPool2D { input: z, output: p, window: pool, clamp: Clamp::NONE });
        let model = b.finish(x, p);
        let v = validate(&model).expect("valid");
        let [conv, depthwise, max] = [v.op_work[0], v.op_work[1], v.op_work[2]];
        assert_eq!(conv.class, OpClass::Conv2D);
        // 60 positions x 5 taps = 300 taps; x 2 channels = 600 patch elements; x 3 = 1800 MACs.
        assert_eq!((conv.taps, conv.patch, conv.macs, conv.weights), (300, 600, 1800, 30));
        assert_eq!((conv.in_elements, conv.out_elements, conv.channels), (128, 180, 3));
        assert_eq!(depthwise.class, OpClass::DepthwiseConv2D);
        // 54 positions x 7 taps = 378 taps; x 6 output channels = 2268 MACs.
        assert_eq!((depthwise.taps, depthwise.patch, depthwise.macs, depthwise.weights), (378, 0, 2268, 42));
        assert_eq!(depthwise.channels, 6);
        assert_eq!(max.class, OpClass::Pool);
        // 26 positions x 4 window positions = 104 taps; x 6 channels = 624 window reads.
        assert_eq!((max.taps, max.macs, max.weights, max.in_elements, max.out_elements), (104, 624, 0, 324, 156));
        assert_eq!(max.channels, 0);
        for (w, c) in v.op_work.iter().zip(&v.op_costs) {
            assert_eq!(w.macs, c.macs);
            assert_eq!(w.in_elements + w.out_elements, c.elements);
            assert_eq!(w.counts()[0], 1);
        }
    }
}
