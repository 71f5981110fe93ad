//! What makes a decoded model valid. Everything here is a consensus rule.
//!
//! Validation proves, before anything runs, every fact the interpreter relies on: tensors
//! exist and have the shapes their ops need, each activation is written once before it is
//! read, quantization parameters are in range, and every accumulator's worst case fits in
//! `i32`. All size arithmetic is checked. What proved an op valid is its [`Geometry`]; the
//! cost is counted from that by `crate::cost`, apart from the rules (only the model's total
//! MAC limit, a rule on the count, is checked here).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use aiop_kernels::WindowGeometry;

use crate::cost::{Cost, OpWork, op_cost, op_work};
use crate::error::{EngineError, Result};
use crate::limits::*;
use crate::model::{Clamp, ConvWindow, DType, Model, Op, Padding, PoolWindow, Scale, Tensor, TensorData, TensorId};

/// The shape facts one op needs at run time, derived during validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Geometry {
    /// Rows of a matrix op (product of the leading axes), or outer size for last-axis ops.
    pub rows: usize,
    /// Reduction depth of a matrix op, or last-axis length.
    pub depth: usize,
    /// Output channels / columns.
    pub cols: usize,
    /// Elements of the op's output.
    pub out_len: usize,
    /// The sliding window of Conv2D, DepthwiseConv2D and the pools (default for other ops):
    /// the one window description the reference and fast kernels read.
    pub window: WindowGeometry,
}

/// The result of validating a model: its cost, I/O sizes, and per-op geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// The whole model's cost, as the header must declare it.
    pub cost: Cost,
    /// Bytes of input a run takes: the input tensor's elements.
    pub input_len: u32,
    /// Bytes of output a run returns: the output tensor's elements times 1 or 4.
    pub output_len: u32,
    /// Each op's shape facts, in execution order.
    pub geometry: Vec<Geometry>,
    /// Each op's share of `cost` (its `ops` field is 1), in execution order.
    pub op_costs: Vec<Cost>,
    /// Each op's finer work counts (`crate::cost::OpWork`), in execution order.
    pub op_work: Vec<OpWork>,
}

/// Checks every rule of `docs/model-format.md` ("Validity"), op by op (`check_op`), and
/// counts the cost from the geometry each op's rules proved (`crate::cost`).
pub fn validate(model: &Model) -> Result<Validated> {
    if model.tensors.len() > MAX_TENSORS {
        return Err(limit_err("tensor count", model.tensors.len() as u64, MAX_TENSORS as u64));
    }
    if model.ops.is_empty() {
        return Err(EngineError::InvalidModel("a model needs at least one op".into()));
    }
    if model.ops.len() > MAX_OPS {
        return Err(limit_err("op count", model.ops.len() as u64, MAX_OPS as u64));
    }
    for (index, tensor) in model.tensors.iter().enumerate() {
        check_tensor(index, tensor)?;
    }

    let input = model_tensor(model, model.input, "input")?;
    if input.is_constant() || input.dtype != DType::I8 {
        return Err(EngineError::InvalidModel(format!("the input tensor {} must be an int8 activation", model.input)));
    }
    let output = model_tensor(model, model.output, "output")?;
    if output.is_constant() {
        return Err(EngineError::InvalidModel(format!("the output tensor {} must be an activation", model.output)));
    }

    // Dataflow: each activation other than the input is written by exactly one op, before any
    // op reads it; constants are never written; every tensor is used.
    let mut written = vec![false; model.tensors.len()];
    let mut used = vec![false; model.tensors.len()];
    written[usize::from(model.input)] = true;
    used[usize::from(model.input)] = true;
    used[usize::from(model.output)] = true;

    let mut cost = Cost { ops: model.ops.len() as u64, ..Cost::default() };
    let mut geometry = Vec::with_capacity(model.ops.len());
    let mut op_costs = Vec::with_capacity(model.ops.len());
    let mut work = Vec::with_capacity(model.ops.len());
    for (index, op) in model.ops.iter().enumerate() {
        let ctx = OpCtx { model, index, kind: op.name() };
        if op.since() > model.version {
            return Err(ctx.err(format!("needs format {} or later; the model is {}", op.since(), model.version)));
        }
        for id in op.inputs() {
            let tensor = ctx.tensor(id)?;
            // A constant read by two ops would be packed twice at load: work the model's
            // byte count (and so its gas) would not pay for.
            if tensor.is_constant() && used[usize::from(id)] {
                return Err(ctx.err(format!(
                    "constant tensor {id} is already read by another op; each constant belongs to one op"
                )));
            }
            used[usize::from(id)] = true;
            if !tensor.is_constant() && !written[usize::from(id)] {
                return Err(ctx.err(format!("reads tensor {id} before any op writes it")));
            }
        }
        let out = op.output();
        let out_tensor = ctx.tensor(out)?;
        if out_tensor.is_constant() {
            return Err(ctx.err(format!("writes tensor {out}, which is a constant")));
        }
        if written[usize::from(out)] {
            return Err(
                ctx.err(format!("writes tensor {out}, which is already written (by the input or an earlier op)"))
            );
        }
        written[usize::from(out)] = true;
        used[usize::from(out)] = true;
        if out_tensor.dtype == DType::I32 && out != model.output {
            return Err(ctx.err(format!("int32 tensor {out} must be the model output; no op reads int32 activations")));
        }

        let geom = check_op(&ctx, op)?;
        let op_cost = op_cost(model, op, &geom);
        cost.macs = add_cost(cost.macs, op_cost.macs, "MAC count", MAX_MACS)?;
        cost.elements = add_cost(cost.elements, op_cost.elements, "element count", u64::MAX)?;
        cost.transcendentals =
            add_cost(cost.transcendentals, op_cost.transcendentals, "transcendental count", u64::MAX)?;
        work.push(op_work(model, op, &geom, &op_cost));
        geometry.push(geom);
        op_costs.push(Cost { ops: 1, ..op_cost });
    }
    if model.output == model.input {
        return Err(EngineError::InvalidModel(format!(
            "the output tensor {} is the input tensor; the output must be written by an op",
            model.output
        )));
    }
    if !written[usize::from(model.output)] {
        return Err(EngineError::InvalidModel(format!("no op writes the output tensor {}", model.output)));
    }
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(EngineError::InvalidTensor { tensor: unused, reason: "no op uses this tensor; remove it".into() });
    }

    let mut arena: u64 = 0;
    for tensor in model.tensors.iter().filter(|t| !t.is_constant()) {
        let bytes = tensor.elements().unwrap_or(u64::MAX).saturating_mul(tensor.dtype.size());
        arena = arena.saturating_add(bytes);
    }
    if arena > MAX_ARENA_BYTES {
        return Err(limit_err("activation memory (bytes)", arena, MAX_ARENA_BYTES));
    }
    cost.arena_bytes = arena;

    // Bounded by MAX_TENSOR_ELEMENTS * 4 < 2^32.
    let input_len = input.elements().unwrap_or(0) as u32;
    let output_len = (output.elements().unwrap_or(0) * output.dtype.size()) as u32;
    Ok(Validated { cost, input_len, output_len, geometry, op_costs, op_work: work })
}

fn limit_err(what: &'static str, value: u64, limit: u64) -> EngineError {
    EngineError::LimitExceeded { what, value, limit }
}

fn add_cost(total: u64, add: u64, what: &'static str, max: u64) -> Result<u64> {
    let sum = total.checked_add(add).ok_or_else(|| limit_err(what, u64::MAX, max))?;
    if sum > max { Err(limit_err(what, sum, max)) } else { Ok(sum) }
}

fn model_tensor<'m>(model: &'m Model, id: TensorId, role: &str) -> Result<&'m Tensor> {
    model.tensors.get(usize::from(id)).ok_or_else(|| {
        EngineError::InvalidModel(format!(
            "the {role} tensor index {id} does not exist (the model has {} tensors)",
            model.tensors.len()
        ))
    })
}

fn check_scale(scale: Scale) -> core::result::Result<(), String> {
    if scale.multiplier < 0 {
        return Err(format!("scale multiplier {} is negative; it must be in [0, 2^31 - 1]", scale.multiplier));
    }
    if !(-31..=30).contains(&scale.shift) {
        return Err(format!("scale shift {} is outside [-31, 30]", scale.shift));
    }
    Ok(())
}

fn check_tensor(index: usize, t: &Tensor) -> Result<()> {
    let invalid = |reason: String| EngineError::InvalidTensor { tensor: index, reason };
    if t.shape.is_empty() || t.shape.len() > MAX_RANK || t.shape.contains(&0) {
        return Err(invalid(format!("shape {:?} must have rank 1 to 4 and no zero dimension", t.shape)));
    }
    let elements = t.elements().unwrap_or(u64::MAX);
    if elements > MAX_TENSOR_ELEMENTS {
        return Err(limit_err("tensor element count", elements, MAX_TENSOR_ELEMENTS));
    }
    check_scale(t.scale).map_err(invalid)?;
    match (t.dtype, &t.data) {
        (DType::I8, TensorData::Activation) => {
            if !(-128..=127).contains(&t.zero_point) {
                return Err(invalid(format!("int8 zero point {} is outside [-128, 127]", t.zero_point)));
            }
        }
        (DType::I8, TensorData::I8(values)) => {
            if t.zero_point != 0 {
                return Err(invalid(format!("constant int8 weights need zero point 0, not {}", t.zero_point)));
            }
            if values.len() as u64 != elements {
                return Err(invalid(format!("has {} values for {elements} elements", values.len())));
            }
            // `contains` on bytes is a vectorized search; `position` alone runs a byte at a
            // time, which was a sixth of loading a 1 MiB weight matrix.
            if values.contains(&i8::MIN) {
                let at = values.iter().position(|&v| v == i8::MIN).unwrap_or(0);
                return Err(invalid(format!("weight {at} is -128; int8 weights are symmetric, in [-127, 127]")));
            }
        }
        (DType::I32, TensorData::I32(values)) => {
            if t.zero_point != 0 {
                return Err(invalid(format!("int32 tensors need zero point 0, not {}", t.zero_point)));
            }
            if values.len() as u64 != elements {
                return Err(invalid(format!("has {} values for {elements} elements", values.len())));
            }
        }
        (DType::I32, TensorData::Activation) => {
            if t.zero_point != 0 {
                return Err(invalid(format!("int32 tensors need zero point 0, not {}", t.zero_point)));
            }
        }
        _ => return Err(invalid("constant data does not match the dtype".into())),
    }
    Ok(())
}

struct OpCtx<'m> {
    model: &'m Model,
    index: usize,
    kind: &'static str,
}

impl<'m> OpCtx<'m> {
    fn err(&self, reason: String) -> EngineError {
        EngineError::InvalidOp { op: self.index, kind: self.kind, reason }
    }

    fn tensor(&self, id: TensorId) -> Result<&'m Tensor> {
        self.model.tensors.get(usize::from(id)).ok_or_else(|| {
            self.err(format!("tensor index {id} does not exist (the model has {} tensors)", self.model.tensors.len()))
        })
    }

    fn activation(&self, id: TensorId, role: &str) -> Result<&'m Tensor> {
        let t = self.tensor(id)?;
        if t.is_constant() || t.dtype != DType::I8 {
            return Err(self.err(format!("{role} (tensor {id}) must be an int8 activation")));
        }
        Ok(t)
    }

    fn weights(&self, id: TensorId, rank: usize) -> Result<(&'m Tensor, &'m [i8])> {
        let t = self.tensor(id)?;
        match &t.data {
            TensorData::I8(values) if t.shape.len() == rank => Ok((t, values)),
            _ => Err(self.err(format!("weights (tensor {id}) must be constant int8 of rank {rank}"))),
        }
    }

    fn bias(&self, id: Option<TensorId>, channels: usize) -> Result<i64> {
        let Some(id) = id else { return Ok(0) };
        let t = self.tensor(id)?;
        match &t.data {
            TensorData::I32(values) if t.shape.len() == 1 && values.len() == channels => {
                Ok(values.iter().map(|&b| i64::from(b).abs()).max().unwrap_or(0))
            }
            _ => Err(self.err(format!("bias (tensor {id}) must be constant int32 of shape [{channels}]"))),
        }
    }

    fn scale(&self, scale: Scale, what: &str) -> Result<()> {
        check_scale(scale).map_err(|e| self.err(format!("{what}: {e}")))
    }

    fn output_scales(&self, scales: &[Scale], channels: usize) -> Result<()> {
        if scales.len() != channels {
            return Err(self.err(format!("has {} output scales for {channels} output channels", scales.len())));
        }
        scales.iter().try_for_each(|s| self.scale(*s, "output scale"))
    }

    fn clamp(&self, clamp: Clamp) -> Result<()> {
        if clamp.min > clamp.max {
            return Err(self.err(format!("clamp minimum {} is above the maximum {}", clamp.min, clamp.max)));
        }
        Ok(())
    }

    /// `depth * 127 * 255 + max|bias|` must fit in `i32`: then every partial sum, in any
    /// order, fits, and all kernel paths agree.
    fn accumulator_bound(&self, depth: usize, max_bias: i64) -> Result<()> {
        let worst = (depth as i64)
            .checked_mul(i64::from(MAX_WEIGHT_MAGNITUDE) * MAX_CENTERED_ACTIVATION)
            .and_then(|v| v.checked_add(max_bias));
        match worst {
            Some(w) if w <= i64::from(i32::MAX) => Ok(()),
            _ => Err(self.err(format!(
                "reduction depth {depth} with bias up to {max_bias} could overflow the int32 accumulator \
                 (depth * 127 * 255 + |bias| must be at most 2147483647)"
            ))),
        }
    }

    fn same_shape(&self, a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
        if a.shape != b.shape {
            return Err(self.err(format!("{what}: shapes {:?} and {:?} differ", a.shape, b.shape)));
        }
        Ok(())
    }

    fn expect_shape(&self, t: &Tensor, expected: &[usize], role: &str) -> Result<()> {
        let matches = t.shape.len() == expected.len() && t.shape.iter().zip(expected).all(|(&a, &b)| a as usize == b);
        if !matches {
            return Err(self.err(format!("{role} shape is {:?}; expected {:?}", t.shape, expected)));
        }
        Ok(())
    }

    fn image(&self, t: &Tensor, role: &str) -> Result<(usize, usize, usize)> {
        match t.shape[..] {
            [h, w, c] => Ok((h as usize, w as usize, c as usize)),
            _ => Err(self.err(format!("{role} must have shape [height, width, channels], not {:?}", t.shape))),
        }
    }
}

fn elems(t: &Tensor) -> u64 {
    t.elements().unwrap_or(u64::MAX)
}

/// Output size and leading padding of one spatial axis, TensorFlow Lite's rules.
fn window_axis(
    padding: Padding,
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Option<(usize, usize)> {
    if stride == 0 || dilation == 0 || filter == 0 {
        return None;
    }
    let effective = (filter - 1).checked_mul(dilation)?.checked_add(1)?;
    let out = match padding {
        Padding::Same => input.div_ceil(stride),
        Padding::Valid => (input.checked_sub(effective)? / stride) + 1,
    };
    let needed = (out - 1).checked_mul(stride)?.checked_add(effective)?;
    let total_padding = needed.saturating_sub(input);
    Some((out, total_padding / 2))
}

/// The window TensorFlow Lite's `padding` gives a kernel of `(height, width)` taps, with
/// `stride` and `dilation` per axis, over an `[in_h, in_w, in_c]` image; `None` if it does not
/// fit (a zero size, or a VALID window larger than the image).
fn window_geometry(
    padding: Padding,
    (in_h, in_w, in_c): (usize, usize, usize),
    (kernel_h, kernel_w): (usize, usize),
    (stride_h, stride_w): (usize, usize),
    (dilation_h, dilation_w): (usize, usize),
    depth_multiplier: usize,
) -> Option<WindowGeometry> {
    let (out_h, pad_top) = window_axis(padding, in_h, kernel_h, stride_h, dilation_h)?;
    let (out_w, pad_left) = window_axis(padding, in_w, kernel_w, stride_w, dilation_w)?;
    Some(WindowGeometry {
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
        depth_multiplier,
    })
}

/// The validity rules of one op: every shape, parameter range and accumulator bound its
/// kernels rely on. Returns the geometry those rules proved; what the op costs is counted from
/// it separately ([`crate::cost::op_cost`]).
fn check_op(ctx: &OpCtx<'_>, op: &Op) -> Result<Geometry> {
    let mut g = Geometry::default();
    match op {
        Op::FullyConnected { input, weights, bias, output, output_scales, clamp } => {
            let x = ctx.activation(*input, "input")?;
            let (w, _) = ctx.weights(*weights, 2)?;
            let y = ctx.tensor(*output)?;
            let (n, k) = (w.shape[0] as usize, w.shape[1] as usize);
            let last = *x.shape.last().unwrap_or(&0) as usize;
            if last != k {
                return Err(ctx.err(format!("input's last axis is {last} but the weights' depth is {k}")));
            }
            let mut expected: Vec<usize> = x.shape.iter().map(|&d| d as usize).collect();
            if let Some(l) = expected.last_mut() {
                *l = n;
            }
            ctx.expect_shape(y, &expected, "output")?;
            if y.dtype != DType::I8 {
                return Err(ctx.err("output must be int8".into()));
            }
            let max_bias = ctx.bias(*bias, n)?;
            ctx.accumulator_bound(k, max_bias)?;
            ctx.output_scales(output_scales, n)?;
            ctx.clamp(*clamp)?;
            g.rows = (elems(x) / k as u64) as usize;
            g.depth = k;
            g.cols = n;
            g.out_len = elems(y) as usize;
        }
        Op::Conv2D { input, weights, bias, output, window, output_scales, clamp }
        | Op::DepthwiseConv2D { input, weights, bias, output, window, output_scales, clamp, .. } => {
            let depthwise = matches!(op, Op::DepthwiseConv2D { .. });
            let x = ctx.activation(*input, "input")?;
            let (in_h, in_w, in_c) = ctx.image(x, "input")?;
            let (w, _) = ctx.weights(*weights, if depthwise { 3 } else { 4 })?;
            let (out_c, kh, kw, dm) = if let Op::DepthwiseConv2D { depth_multiplier, .. } = op {
                let dm = usize::from(*depth_multiplier);
                let out_c = w.shape[2] as usize;
                if dm == 0 || in_c.checked_mul(dm) != Some(out_c) {
                    return Err(ctx.err(format!(
                        "weights have {out_c} channels; expected input channels {in_c} x depth multiplier {dm}"
                    )));
                }
                (out_c, w.shape[0] as usize, w.shape[1] as usize, dm)
            } else {
                if w.shape[3] as usize != in_c {
                    return Err(
                        ctx.err(format!("weights' input channels {} differ from the input's {in_c}", w.shape[3]))
                    );
                }
                (w.shape[0] as usize, w.shape[1] as usize, w.shape[2] as usize, 1)
            };
            let ConvWindow { stride_h, stride_w, dilation_h, dilation_w, padding } = *window;
            let bad_window = || {
                ctx.err(format!(
                    "window (kernel {kh}x{kw}, stride {stride_h}x{stride_w}, dilation {dilation_h}x{dilation_w}) \
                 does not fit the {in_h}x{in_w} input; strides and dilations must be at least 1"
                ))
            };
            let win = window_geometry(
                padding,
                (in_h, in_w, in_c),
                (kh, kw),
                (stride_h.into(), stride_w.into()),
                (dilation_h.into(), dilation_w.into()),
                dm,
            )
            .ok_or_else(bad_window)?;
            let (out_h, out_w) = (win.out_h, win.out_w);
            let y = ctx.tensor(*output)?;
            ctx.expect_shape(y, &[out_h, out_w, out_c], "output")?;
            if y.dtype != DType::I8 {
                return Err(ctx.err("output must be int8".into()));
            }
            let depth = if depthwise { kh * kw } else { kh * kw * in_c };
            let max_bias = ctx.bias(*bias, out_c)?;
            ctx.accumulator_bound(depth, max_bias)?;
            ctx.output_scales(output_scales, out_c)?;
            ctx.clamp(*clamp)?;
            g = Geometry { rows: out_h * out_w, depth, cols: out_c, out_len: elems(y) as usize, window: win };
        }
        Op::MaxPool2D { input, output, window, clamp } | Op::AveragePool2D { input, output, window, clamp } => {
            let x = ctx.activation(*input, "input")?;
            let y = ctx.activation(*output, "output")?;
            let (in_h, in_w, c) = ctx.image(x, "input")?;
            let PoolWindow { filter_h, filter_w, stride_h, stride_w, padding } = *window;
            let bad_window = || {
                ctx.err(format!(
                "pool window {filter_h}x{filter_w} with stride {stride_h}x{stride_w} does not fit the {in_h}x{in_w} \
                 input; filter sizes and strides must be at least 1"
            ))
            };
            let win = window_geometry(
                padding,
                (in_h, in_w, c),
                (filter_h.into(), filter_w.into()),
                (stride_h.into(), stride_w.into()),
                (1, 1),
                1,
            )
            .ok_or_else(bad_window)?;
            let (out_h, out_w) = (win.out_h, win.out_w);
            ctx.expect_shape(y, &[out_h, out_w, c], "output")?;
            same_quantization(ctx, x, y)?;
            ctx.clamp(*clamp)?;
            g = Geometry {
                rows: out_h * out_w,
                cols: c,
                out_len: elems(y) as usize,
                window: win,
                ..Geometry::default()
            };
        }
        Op::Add { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp }
        | Op::Sub { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp } => {
            let (a, b, y) =
                (ctx.activation(*lhs, "lhs")?, ctx.activation(*rhs, "rhs")?, ctx.activation(*output, "output")?);
            ctx.same_shape(a, b, "inputs")?;
            ctx.same_shape(a, y, "input and output")?;
            if *left_shift > MAX_ADD_LEFT_SHIFT {
                return Err(ctx.err(format!("left shift {left_shift} is over {MAX_ADD_LEFT_SHIFT}")));
            }
            ctx.scale(*lhs_scale, "lhs scale")?;
            ctx.scale(*rhs_scale, "rhs scale")?;
            ctx.scale(*output_scale, "output scale")?;
            ctx.clamp(*clamp)?;
            g.out_len = elems(y) as usize;
        }
        Op::Mul { lhs, rhs, output, output_scale, clamp } => {
            let (a, b, y) =
                (ctx.activation(*lhs, "lhs")?, ctx.activation(*rhs, "rhs")?, ctx.activation(*output, "output")?);
            ctx.same_shape(a, b, "inputs")?;
            ctx.same_shape(a, y, "input and output")?;
            ctx.scale(*output_scale, "output scale")?;
            ctx.clamp(*clamp)?;
            g.out_len = elems(y) as usize;
        }
        Op::Reshape { input, output } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            if elems(x) != elems(y) {
                return Err(ctx.err(format!("input has {} elements but output has {}", elems(x), elems(y))));
            }
            same_quantization(ctx, x, y)?;
            g.out_len = elems(y) as usize;
        }
        Op::Softmax { input, output, beta, diff_min } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            ctx.same_shape(x, y, "input and output")?;
            let depth = *x.shape.last().unwrap_or(&1);
            if depth > MAX_SOFTMAX_DEPTH {
                return Err(
                    ctx.err(format!("last axis has {depth} elements; Softmax allows at most {MAX_SOFTMAX_DEPTH}"))
                );
            }
            if *diff_min > 0 {
                return Err(ctx.err(format!("diff_min {diff_min} must be at most 0")));
            }
            ctx.scale(*beta, "beta")?;
            fixed_output(ctx, y, -128)?;
            g.depth = depth as usize;
            g.rows = (elems(x) / u64::from(depth)) as usize;
            g.out_len = elems(y) as usize;
        }
        Op::Logistic { input, output, input_scale, .. } | Op::Tanh { input, output, input_scale, .. } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            ctx.same_shape(x, y, "input and output")?;
            ctx.scale(*input_scale, "input scale")?;
            fixed_output(ctx, y, if matches!(op, Op::Logistic { .. }) { -128 } else { 0 })?;
            g.out_len = elems(y) as usize;
        }
        Op::ArgMax { input, output } => {
            let x = ctx.activation(*input, "input")?;
            let y = ctx.tensor(*output)?;
            if y.dtype != DType::I32 {
                return Err(ctx.err("output must be int32".into()));
            }
            let expected: Vec<usize> = if x.shape.len() == 1 {
                vec![1]
            } else {
                x.shape[..x.shape.len() - 1].iter().map(|&d| d as usize).collect()
            };
            ctx.expect_shape(y, &expected, "output")?;
            g.depth = *x.shape.last().unwrap_or(&1) as usize;
            g.rows = (elems(x) / g.depth as u64) as usize;
            g.out_len = elems(y) as usize;
        }
        Op::Concatenation { inputs, output, axis } => {
            let y = ctx.activation(*output, "output")?;
            let axis = usize::from(*axis);
            if axis >= y.shape.len() {
                return Err(ctx.err(format!("axis {axis} is not an axis of the rank-{} output", y.shape.len())));
            }
            if inputs.is_empty() || inputs.len() > crate::format::MAX_CONCAT_INPUTS {
                return Err(ctx.err(format!(
                    "has {} inputs; Concatenation takes 1 to {}",
                    inputs.len(),
                    crate::format::MAX_CONCAT_INPUTS
                )));
            }
            let mut along: u64 = 0;
            for &id in inputs {
                let x = ctx.activation(id, "input")?;
                same_quantization(ctx, x, y)?;
                let fits = x.shape.len() == y.shape.len()
                    && x.shape.iter().zip(&y.shape).enumerate().all(|(i, (a, b))| i == axis || a == b);
                if !fits {
                    return Err(ctx.err(format!(
                        "input shape {:?} does not match the output {:?} outside axis {axis}",
                        x.shape, y.shape
                    )));
                }
                along = along.saturating_add(u64::from(x.shape[axis]));
            }
            if along != u64::from(y.shape[axis]) {
                return Err(ctx
                    .err(format!("inputs add up to {along} along axis {axis}, but the output has {}", y.shape[axis])));
            }
            g.rows = y.shape[..axis].iter().map(|&d| d as usize).product();
            g.depth = y.shape[axis + 1..].iter().map(|&d| d as usize).product();
            g.out_len = elems(y) as usize;
        }
        Op::Pad { input, output, paddings, .. } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            if paddings.len() != x.shape.len() {
                return Err(ctx.err(format!(
                    "has {} paddings for a rank-{} input; one (before, after) pair per axis",
                    paddings.len(),
                    x.shape.len()
                )));
            }
            let expected: Option<Vec<usize>> = x
                .shape
                .iter()
                .zip(paddings)
                .map(|(&d, &(before, after))| {
                    u64::from(d).checked_add(u64::from(before))?.checked_add(u64::from(after))?.try_into().ok()
                })
                .collect();
            let expected = expected.ok_or_else(|| ctx.err("padded shape overflows".into()))?;
            // The bytes are copied as they are (TensorFlow Lite Micro does not check that the
            // quantizations agree either).
            ctx.expect_shape(y, &expected, "output")?;
            g.out_len = elems(y) as usize;
        }
        Op::Mean { input, output, axes, scale } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            let rank = x.shape.len();
            if *axes == 0 || u32::from(*axes) >= 1u32 << rank {
                return Err(ctx.err(format!("axes mask {axes:#06b} must name at least one of the input's {rank} axes")));
            }
            let reduced = |i: usize| axes & (1 << i) != 0;
            let kept: Vec<usize> =
                x.shape.iter().enumerate().map(|(i, &d)| if reduced(i) { 1 } else { d as usize }).collect();
            let mut dropped: Vec<usize> =
                x.shape.iter().enumerate().filter(|&(i, _)| !reduced(i)).map(|(_, &d)| d as usize).collect();
            if dropped.is_empty() {
                dropped.push(1);
            }
            if ctx.expect_shape(y, &kept, "output").is_err() {
                ctx.expect_shape(y, &dropped, "output (reduced axes kept as 1 or dropped)")?;
            }
            let count: u64 =
                x.shape.iter().enumerate().filter(|&(i, _)| reduced(i)).map(|(_, &d)| u64::from(d)).product();
            // The centered sum of `count` values, each within [-255, 255], must fit in i32.
            if count.saturating_mul(MAX_CENTERED_ACTIVATION as u64) > i32::MAX as u64 {
                return Err(ctx.err(format!(
                    "averages {count} elements; at most {} fit the int32 sum",
                    i32::MAX as u64 / MAX_CENTERED_ACTIVATION as u64
                )));
            }
            ctx.scale(*scale, "mean scale")?;
            g.depth = count as usize;
            g.out_len = elems(y) as usize;
        }
        Op::Requantize { input, output, scale } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            ctx.same_shape(x, y, "input and output")?;
            ctx.scale(*scale, "scale")?;
            g.out_len = elems(y) as usize;
        }
        Op::LeakyRelu { input, output, identity_scale, alpha_scale, .. } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            ctx.same_shape(x, y, "input and output")?;
            ctx.scale(*identity_scale, "identity scale")?;
            ctx.scale(*alpha_scale, "alpha scale")?;
            g.out_len = elems(y) as usize;
        }
        Op::HardSwish { input, output, reluish_multiplier, reluish_exponent, output_multiplier, output_exponent } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            ctx.same_shape(x, y, "input and output")?;
            if *reluish_multiplier < 0 || *output_multiplier < 0 {
                return Err(ctx.err("hard swish multipliers must be in [0, 32767]".into()));
            }
            if !(-MAX_HARD_SWISH_EXPONENT..=MAX_HARD_SWISH_EXPONENT).contains(reluish_exponent) {
                return Err(ctx.err(format!(
                    "reluish exponent {reluish_exponent} is outside [-{MAX_HARD_SWISH_EXPONENT}, {MAX_HARD_SWISH_EXPONENT}]"
                )));
            }
            if !(-MAX_HARD_SWISH_EXPONENT..=0).contains(output_exponent) {
                return Err(
                    ctx.err(format!("output exponent {output_exponent} is outside [-{MAX_HARD_SWISH_EXPONENT}, 0]"))
                );
            }
            g.out_len = elems(y) as usize;
        }
        Op::BatchMatMul { lhs, rhs, output, transpose_rhs, output_scale, clamp } => {
            let (a, b, y) =
                (ctx.activation(*lhs, "lhs")?, ctx.activation(*rhs, "rhs")?, ctx.activation(*output, "output")?);
            let rank = a.shape.len();
            if !(2..=MAX_RANK).contains(&rank) || b.shape.len() != rank {
                return Err(ctx
                    .err(format!("lhs {:?} and rhs {:?} must have the same rank, 2 to {MAX_RANK}", a.shape, b.shape)));
            }
            if a.shape[..rank - 2] != b.shape[..rank - 2] {
                return Err(ctx.err(format!("batch axes of lhs {:?} and rhs {:?} differ", a.shape, b.shape)));
            }
            let (m, k) = (a.shape[rank - 2] as usize, a.shape[rank - 1] as usize);
            let (rhs_k, n) = if *transpose_rhs {
                (b.shape[rank - 1] as usize, b.shape[rank - 2] as usize)
            } else {
                (b.shape[rank - 2] as usize, b.shape[rank - 1] as usize)
            };
            if rhs_k != k {
                return Err(ctx.err(format!("lhs depth {k} differs from rhs depth {rhs_k}")));
            }
            let mut expected: Vec<usize> = a.shape.iter().map(|&d| d as usize).collect();
            expected[rank - 1] = n;
            ctx.expect_shape(y, &expected, "output")?;
            // Both factors are centered activations, each within [-255, 255].
            if (k as u64).saturating_mul((MAX_CENTERED_ACTIVATION * MAX_CENTERED_ACTIVATION) as u64) > i32::MAX as u64 {
                return Err(ctx.err(format!(
                    "depth {k} could overflow the int32 accumulator (depth * 255 * 255 must be at most 2147483647)"
                )));
            }
            ctx.scale(*output_scale, "output scale")?;
            ctx.clamp(*clamp)?;
            g.rows = m;
            g.depth = k;
            g.cols = n;
            g.out_len = elems(y) as usize;
        }
        Op::LayerNorm { input, gamma, beta, output, output_scale, .. } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            ctx.same_shape(x, y, "input and output")?;
            let depth = *x.shape.last().unwrap_or(&1);
            if depth > MAX_LAYER_NORM_DEPTH {
                return Err(
                    ctx.err(format!("last axis has {depth} elements; LayerNorm allows at most {MAX_LAYER_NORM_DEPTH}"))
                );
            }
            let (_, _) = ctx.weights(*gamma, 1)?;
            ctx.expect_shape(ctx.tensor(*gamma)?, &[depth as usize], "gamma")?;
            let max_beta = ctx.bias(*beta, depth as usize)?;
            if max_beta > MAX_LAYER_NORM_BETA {
                return Err(
                    ctx.err(format!("beta reaches {max_beta}; LayerNorm allows |beta| up to {MAX_LAYER_NORM_BETA}"))
                );
            }
            ctx.scale(*output_scale, "output scale")?;
            g.depth = depth as usize;
            g.rows = (elems(x) / u64::from(depth)) as usize;
            g.out_len = elems(y) as usize;
        }
        Op::Gelu { input, output, erf_clip, erf_one, output_scale } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            ctx.same_shape(x, y, "input and output")?;
            if *erf_clip > MAX_GELU_ERF_CLIP {
                return Err(ctx.err(format!("erf clip {erf_clip} is over {MAX_GELU_ERF_CLIP}")));
            }
            if !(1..=MAX_GELU_ERF_ONE).contains(erf_one) {
                return Err(ctx.err(format!("erf one {erf_one} is outside [1, {MAX_GELU_ERF_ONE}]")));
            }
            ctx.scale(*output_scale, "output scale")?;
            g.out_len = elems(y) as usize;
        }
        Op::Gather { table, indices, output } => {
            let (t, _) = ctx.weights(*table, 2)?;
            let (x, y) = (ctx.activation(*indices, "indices")?, ctx.activation(*output, "output")?);
            let (rows, depth) = (t.shape[0] as usize, t.shape[1] as usize);
            if x.shape.len() >= MAX_RANK {
                return Err(ctx.err(format!(
                    "indices have rank {}; at most {} (the output adds an axis)",
                    x.shape.len(),
                    MAX_RANK - 1
                )));
            }
            let mut expected: Vec<usize> = x.shape.iter().map(|&d| d as usize).collect();
            expected.push(depth);
            ctx.expect_shape(y, &expected, "output")?;
            if t.zero_point != y.zero_point || t.scale != y.scale {
                return Err(ctx.err("the output must have the table's zero point and scale".into()));
            }
            g.rows = elems(x) as usize;
            g.depth = depth;
            g.cols = rows;
            g.out_len = elems(y) as usize;
        }
        Op::Transpose { input, output, perm } => {
            let (x, y) = (ctx.activation(*input, "input")?, ctx.activation(*output, "output")?);
            let rank = x.shape.len();
            let mut seen = [false; MAX_RANK];
            let is_permutation = perm.len() == rank
                && perm.iter().all(|&p| usize::from(p) < rank && !core::mem::replace(&mut seen[usize::from(p)], true));
            if !is_permutation {
                return Err(ctx.err(format!("{perm:?} is not a permutation of the input's {rank} axes")));
            }
            let expected: Vec<usize> = perm.iter().map(|&p| x.shape[usize::from(p)] as usize).collect();
            ctx.expect_shape(y, &expected, "output")?;
            same_quantization(ctx, x, y)?;
            g.out_len = elems(y) as usize;
        }
    }
    Ok(g)
}

fn same_quantization(ctx: &OpCtx<'_>, x: &Tensor, y: &Tensor) -> Result<()> {
    if x.zero_point != y.zero_point || x.scale != y.scale {
        return Err(ctx.err("input and output must have the same zero point and scale".into()));
    }
    Ok(())
}

fn fixed_output(ctx: &OpCtx<'_>, y: &Tensor, zero_point: i32) -> Result<()> {
    if y.zero_point != zero_point {
        return Err(ctx.err(format!(
            "output zero point is {}; this op's output zero point is fixed at {zero_point}",
            y.zero_point
        )));
    }
    Ok(())
}
