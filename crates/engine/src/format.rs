//! The canonical model bytes, versions 1 to 3: decode and encode.
//!
//! Every field has a fixed width and exactly one valid value for each meaning (reserved bytes
//! are zero, enums take only their listed values, nothing may follow the last op), so each
//! model has exactly one encoding and keccak256 of the bytes identifies it. The normative
//! description is `docs/model-format.md`; the layout below must match it byte for byte.
//!
//! Decoding checks syntax only and allocates no more than the input's length;
//! [`crate::validate`] checks meaning.

use alloc::string::ToString;
use alloc::vec::Vec;

use crate::cost::Cost;
use crate::error::{EngineError, Result};
use crate::limits::{MAX_MODEL_BYTES, MAX_OPS, MAX_RANK, MAX_TENSOR_ELEMENTS, MAX_TENSORS};
use crate::model::{
    Clamp, ConvWindow, DType, FormatVersion, Model, Op, Padding, PoolWindow, Scale, Tensor, TensorData, TensorId,
};

/// Bytes 0-3 of every model: `"AIOP"`.
pub const MAGIC: [u8; 4] = *b"AIOP";
/// Tensor index that stands for "no bias".
pub const NO_TENSOR: u16 = 0xFFFF;

/// The op codes: byte 0 of every op record (codes 1-12 in version 1, 1-19 in version 2, 1-24
/// in version 3).
pub mod opcode {
    /// FullyConnected.
    pub const FULLY_CONNECTED: u8 = 1;
    /// Conv2D.
    pub const CONV_2D: u8 = 2;
    /// DepthwiseConv2D.
    pub const DEPTHWISE_CONV_2D: u8 = 3;
    /// MaxPool2D.
    pub const MAX_POOL_2D: u8 = 4;
    /// AveragePool2D.
    pub const AVERAGE_POOL_2D: u8 = 5;
    /// Add.
    pub const ADD: u8 = 6;
    /// Mul.
    pub const MUL: u8 = 7;
    /// Reshape.
    pub const RESHAPE: u8 = 8;
    /// Softmax.
    pub const SOFTMAX: u8 = 9;
    /// Logistic.
    pub const LOGISTIC: u8 = 10;
    /// Tanh.
    pub const TANH: u8 = 11;
    /// ArgMax.
    pub const ARG_MAX: u8 = 12;
    // Format v2 and later.
    /// Sub (format v2).
    pub const SUB: u8 = 13;
    /// Concatenation (format v2).
    pub const CONCATENATION: u8 = 14;
    /// Pad (format v2).
    pub const PAD: u8 = 15;
    /// Mean (format v2).
    pub const MEAN: u8 = 16;
    /// Requantize (format v2).
    pub const REQUANTIZE: u8 = 17;
    /// HardSwish (format v2).
    pub const HARD_SWISH: u8 = 18;
    /// LeakyRelu (format v2).
    pub const LEAKY_RELU: u8 = 19;
    // Format v3 and later.
    /// BatchMatMul (format v3).
    pub const BATCH_MATMUL: u8 = 20;
    /// LayerNorm (format v3).
    pub const LAYER_NORM: u8 = 21;
    /// Gelu (format v3).
    pub const GELU: u8 = 22;
    /// Gather (format v3).
    pub const GATHER: u8 = 23;
    /// Transpose (format v3).
    pub const TRANSPOSE: u8 = 24;

    /// The largest op code of a format version.
    pub const fn last(version: super::FormatVersion) -> u8 {
        match version {
            super::FormatVersion::V1 => ARG_MAX,
            super::FormatVersion::V2 => LEAKY_RELU,
            super::FormatVersion::V3 => TRANSPOSE,
        }
    }
}

/// Inputs of one Concatenation op, at most (the count is one byte).
pub const MAX_CONCAT_INPUTS: usize = 255;

/// The fixed-size start of every model: enough to price it without reading further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelHeader {
    /// Byte 4: the format version (1 or 2; see [`ModelHeader::format_version`]).
    pub version: u8,
    /// Number of tensor records, at most [`MAX_TENSORS`].
    pub tensor_count: u16,
    /// Number of op records, at most [`MAX_OPS`] (and at least 1 in a valid model).
    pub op_count: u16,
    /// Index of the model's input tensor (an int8 activation).
    pub input_tensor: TensorId,
    /// Index of the model's output tensor (an activation written by an op).
    pub output_tensor: TensorId,
    /// The run's cost as declared; loading checks it equals what the ops add up to.
    pub cost: Cost,
    /// Bytes of input a run takes.
    pub input_len: u32,
    /// Bytes of output a run returns.
    pub output_len: u32,
}

impl ModelHeader {
    /// Size of the header in bytes.
    pub const LEN: usize = 56;

    /// Reads the header from the first [`ModelHeader::LEN`] bytes of a model, in O(1).
    /// This checks the header's own syntax only; [`crate::LoadedModel::load`] checks that it
    /// agrees with the rest of the model.
    pub fn parse(bytes: &[u8]) -> Result<ModelHeader> {
        let mut r = Reader::new(bytes);
        let magic = r.bytes(4, "magic")?;
        if magic != MAGIC {
            return Err(EngineError::BadMagic);
        }
        let version = r.u8("version")?;
        if FormatVersion::from_byte(version).is_none() {
            return Err(EngineError::UnsupportedVersion(version));
        }
        r.zero_u8("header flags")?;
        r.zero_u16("header reserved bytes")?;
        let tensor_count = r.u16("tensor count")?;
        let op_count = r.u16("op count")?;
        let input_tensor = r.u16("input tensor index")?;
        let output_tensor = r.u16("output tensor index")?;
        let macs = r.u64("MAC count")?;
        let elements = r.u64("element count")?;
        let transcendentals = r.u64("transcendental count")?;
        let arena_bytes = r.u32("arena bytes")?;
        let input_len = r.u32("input length")?;
        let output_len = r.u32("output length")?;
        r.zero_u32("header reserved bytes")?;
        Ok(ModelHeader {
            version,
            tensor_count,
            op_count,
            input_tensor,
            output_tensor,
            cost: Cost {
                ops: u64::from(op_count),
                macs,
                elements,
                transcendentals,
                arena_bytes: u64::from(arena_bytes),
            },
            input_len,
            output_len,
        })
    }

    /// The format version the header names (parsing already refused unknown ones).
    pub fn format_version(&self) -> Result<FormatVersion> {
        FormatVersion::from_byte(self.version).ok_or(EngineError::UnsupportedVersion(self.version))
    }

    fn write(&self, w: &mut Vec<u8>) {
        w.extend_from_slice(&MAGIC);
        w.push(self.version);
        w.push(0);
        w.extend_from_slice(&0u16.to_le_bytes());
        for v in [self.tensor_count, self.op_count, self.input_tensor, self.output_tensor] {
            w.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.cost.macs, self.cost.elements, self.cost.transcendentals] {
            w.extend_from_slice(&v.to_le_bytes());
        }
        // The arena is bounded by MAX_ARENA_BYTES < 2^32 in a valid model.
        let arena = u32::try_from(self.cost.arena_bytes).unwrap_or(u32::MAX);
        for v in [arena, self.input_len, self.output_len, 0] {
            w.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Decodes model bytes into a [`Model`] and its declared header, checking syntax only.
pub fn decode(bytes: &[u8]) -> Result<(ModelHeader, Model)> {
    if bytes.len() > MAX_MODEL_BYTES {
        return Err(EngineError::ModelTooLarge { len: bytes.len(), limit: MAX_MODEL_BYTES });
    }
    let header = ModelHeader::parse(bytes)?;
    let version = header.format_version()?;
    let mut r = Reader::new(bytes);
    r.pos = ModelHeader::LEN;
    limit("tensor count", u64::from(header.tensor_count), MAX_TENSORS as u64)?;
    limit("op count", u64::from(header.op_count), MAX_OPS as u64)?;

    let mut tensors = Vec::with_capacity(usize::from(header.tensor_count));
    for _ in 0..header.tensor_count {
        tensors.push(read_tensor(&mut r)?);
    }
    let mut ops = Vec::with_capacity(usize::from(header.op_count));
    for _ in 0..header.op_count {
        ops.push(read_op(&mut r, version)?);
    }
    if r.pos != bytes.len() {
        return Err(EngineError::TrailingBytes { offset: r.pos, extra: bytes.len() - r.pos });
    }
    let model = Model { version, tensors, ops, input: header.input_tensor, output: header.output_tensor };
    Ok((header, model))
}

/// Encodes a model with the given header cost and lengths. Callers normally use
/// [`crate::encode`], which validates the model and computes the header; this lower-level
/// form exists so tests can build deliberately wrong models.
pub fn encode_with_header(model: &Model, header: &ModelHeader) -> Result<Vec<u8>> {
    let count = |what: &'static str, n: usize| {
        u16::try_from(n).map_err(|_| EngineError::LimitExceeded { what, value: n as u64, limit: 0xFFFF })
    };
    let header = ModelHeader {
        version: model.version.byte(),
        tensor_count: count("tensor count", model.tensors.len())?,
        op_count: count("op count", model.ops.len())?,
        input_tensor: model.input,
        output_tensor: model.output,
        ..*header
    };
    let mut w = Vec::new();
    header.write(&mut w);
    for (index, tensor) in model.tensors.iter().enumerate() {
        write_tensor(&mut w, index, tensor)?;
    }
    for (index, op) in model.ops.iter().enumerate() {
        if op.since() > model.version {
            return Err(EngineError::InvalidOp {
                op: index,
                kind: op.name(),
                reason: alloc::format!("needs format {} or later; the model is {}", op.since(), model.version),
            });
        }
        write_op(&mut w, op)?;
    }
    if w.len() > MAX_MODEL_BYTES {
        return Err(EngineError::ModelTooLarge { len: w.len(), limit: MAX_MODEL_BYTES });
    }
    Ok(w)
}

fn limit(what: &'static str, value: u64, max: u64) -> Result<()> {
    if value > max { Err(EngineError::LimitExceeded { what, value, limit: max }) } else { Ok(()) }
}

fn read_tensor(r: &mut Reader<'_>) -> Result<Tensor> {
    let dtype_at = r.pos;
    let dtype = match r.u8("tensor dtype")? {
        0 => DType::I8,
        1 => DType::I32,
        other => return Err(r.non_canonical(dtype_at, "tensor dtype", other.into(), "0 (int8) or 1 (int32)")),
    };
    let kind_at = r.pos;
    let constant = match r.u8("tensor kind")? {
        0 => false,
        1 => true,
        other => {
            return Err(r.non_canonical(kind_at, "tensor kind", other.into(), "0 (activation) or 1 (constant)"));
        }
    };
    let rank_at = r.pos;
    let rank = r.u8("tensor rank")?;
    if rank == 0 || usize::from(rank) > MAX_RANK {
        return Err(r.non_canonical(rank_at, "tensor rank", rank.into(), "between 1 and 4"));
    }
    r.zero_u8("tensor reserved byte")?;
    let mut shape = Vec::with_capacity(usize::from(rank));
    let mut elements: u64 = 1;
    for _ in 0..rank {
        let at = r.pos;
        let dim = r.u32("tensor dimension")?;
        if dim == 0 {
            return Err(r.non_canonical(at, "tensor dimension", 0, "at least 1"));
        }
        elements = elements.saturating_mul(u64::from(dim));
        shape.push(dim);
    }
    limit("tensor element count", elements, MAX_TENSOR_ELEMENTS)?;
    let zero_point = r.i32("tensor zero point")?;
    let scale = Scale { multiplier: r.i32("tensor scale multiplier")?, shift: r.i8("tensor scale shift")? };
    let data = if constant {
        // elements <= 2^24, so the byte count cannot overflow; `bytes` checks it is present
        // before anything is allocated.
        let len = (elements * dtype.size()) as usize;
        let raw = r.bytes(len, "constant tensor data")?;
        match dtype {
            DType::I8 => TensorData::I8(raw.iter().map(|&b| b as i8).collect()),
            DType::I32 => {
                TensorData::I32(raw.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
        }
    } else {
        TensorData::Activation
    };
    Ok(Tensor { dtype, shape, zero_point, scale, data })
}

fn write_tensor(w: &mut Vec<u8>, index: usize, t: &Tensor) -> Result<()> {
    let invalid = |reason: &str| EngineError::InvalidTensor { tensor: index, reason: reason.to_string() };
    if t.shape.is_empty() || t.shape.len() > MAX_RANK {
        return Err(invalid("rank must be between 1 and 4"));
    }
    w.push(match t.dtype {
        DType::I8 => 0,
        DType::I32 => 1,
    });
    w.push(u8::from(t.is_constant()));
    w.push(t.shape.len() as u8);
    w.push(0);
    for d in &t.shape {
        w.extend_from_slice(&d.to_le_bytes());
    }
    w.extend_from_slice(&t.zero_point.to_le_bytes());
    w.extend_from_slice(&t.scale.multiplier.to_le_bytes());
    w.push(t.scale.shift as u8);
    match (&t.data, t.dtype) {
        (TensorData::Activation, _) => {}
        (TensorData::I8(values), DType::I8) => w.extend(values.iter().map(|&v| v as u8)),
        (TensorData::I32(values), DType::I32) => {
            for v in values {
                w.extend_from_slice(&v.to_le_bytes());
            }
        }
        _ => return Err(invalid("constant data does not match the tensor's dtype")),
    }
    let expected = t.elements().ok_or_else(|| invalid("element count overflows"))?;
    let actual = match &t.data {
        TensorData::Activation => expected,
        TensorData::I8(v) => v.len() as u64,
        TensorData::I32(v) => v.len() as u64,
    };
    if actual != expected {
        return Err(invalid("constant data length does not match the shape"));
    }
    Ok(())
}

fn read_scale(r: &mut Reader<'_>, what: &'static str) -> Result<Scale> {
    Ok(Scale { multiplier: r.i32(what)?, shift: r.i8(what)? })
}

fn read_scales(r: &mut Reader<'_>) -> Result<Vec<Scale>> {
    let count = r.u32("output scale count")? as usize;
    // Each scale takes 5 bytes; refuse a count the remaining bytes cannot hold before
    // allocating for it.
    if count.saturating_mul(5) > r.remaining() {
        return Err(EngineError::Truncated { offset: r.pos, what: "output scales" });
    }
    let mut scales = Vec::with_capacity(count);
    for _ in 0..count {
        scales.push(read_scale(r, "output scale")?);
    }
    Ok(scales)
}

fn read_bias(r: &mut Reader<'_>) -> Result<Option<TensorId>> {
    let id = r.u16("bias tensor index")?;
    Ok(if id == NO_TENSOR { None } else { Some(id) })
}

fn read_clamp(r: &mut Reader<'_>) -> Result<Clamp> {
    Ok(Clamp { min: r.i8("clamp minimum")?, max: r.i8("clamp maximum")? })
}

fn read_padding(r: &mut Reader<'_>) -> Result<Padding> {
    let at = r.pos;
    match r.u8("padding")? {
        0 => Ok(Padding::Valid),
        1 => Ok(Padding::Same),
        other => Err(r.non_canonical(at, "padding", other.into(), "0 (VALID) or 1 (SAME)")),
    }
}

fn read_conv_window(r: &mut Reader<'_>) -> Result<ConvWindow> {
    Ok(ConvWindow {
        stride_h: r.u16("stride")?,
        stride_w: r.u16("stride")?,
        dilation_h: r.u16("dilation")?,
        dilation_w: r.u16("dilation")?,
        padding: read_padding(r)?,
    })
}

fn read_pool_window(r: &mut Reader<'_>) -> Result<PoolWindow> {
    Ok(PoolWindow {
        filter_h: r.u16("filter size")?,
        filter_w: r.u16("filter size")?,
        stride_h: r.u16("stride")?,
        stride_w: r.u16("stride")?,
        padding: read_padding(r)?,
    })
}

fn read_add_like(r: &mut Reader<'_>, sub: bool) -> Result<Op> {
    let lhs = r.u16("input tensor index")?;
    let rhs = r.u16("input tensor index")?;
    let output = r.u16("output tensor index")?;
    let left_shift = r.u8("left shift")?;
    let lhs_scale = read_scale(r, "input scale")?;
    let rhs_scale = read_scale(r, "input scale")?;
    let output_scale = read_scale(r, "output scale")?;
    let clamp = read_clamp(r)?;
    Ok(if sub {
        Op::Sub { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp }
    } else {
        Op::Add { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp }
    })
}

fn read_op(r: &mut Reader<'_>, version: FormatVersion) -> Result<Op> {
    use opcode::*;
    let at = r.pos;
    let code = r.u8("op code")?;
    if code > last(version) {
        return Err(EngineError::UnknownOp { offset: at, code });
    }
    let op = match code {
        FULLY_CONNECTED => Op::FullyConnected {
            input: r.u16("input tensor index")?,
            weights: r.u16("weights tensor index")?,
            bias: read_bias(r)?,
            output: r.u16("output tensor index")?,
            clamp: read_clamp(r)?,
            output_scales: read_scales(r)?,
        },
        CONV_2D => Op::Conv2D {
            input: r.u16("input tensor index")?,
            weights: r.u16("weights tensor index")?,
            bias: read_bias(r)?,
            output: r.u16("output tensor index")?,
            window: read_conv_window(r)?,
            clamp: read_clamp(r)?,
            output_scales: read_scales(r)?,
        },
        DEPTHWISE_CONV_2D => Op::DepthwiseConv2D {
            input: r.u16("input tensor index")?,
            weights: r.u16("weights tensor index")?,
            bias: read_bias(r)?,
            output: r.u16("output tensor index")?,
            window: read_conv_window(r)?,
            depth_multiplier: r.u16("depth multiplier")?,
            clamp: read_clamp(r)?,
            output_scales: read_scales(r)?,
        },
        MAX_POOL_2D | AVERAGE_POOL_2D => {
            let input = r.u16("input tensor index")?;
            let output = r.u16("output tensor index")?;
            let window = read_pool_window(r)?;
            let clamp = read_clamp(r)?;
            if code == MAX_POOL_2D {
                Op::MaxPool2D { input, output, window, clamp }
            } else {
                Op::AveragePool2D { input, output, window, clamp }
            }
        }
        ADD => read_add_like(r, false)?,
        MUL => Op::Mul {
            lhs: r.u16("input tensor index")?,
            rhs: r.u16("input tensor index")?,
            output: r.u16("output tensor index")?,
            output_scale: read_scale(r, "output scale")?,
            clamp: read_clamp(r)?,
        },
        RESHAPE => Op::Reshape { input: r.u16("input tensor index")?, output: r.u16("output tensor index")? },
        SOFTMAX => Op::Softmax {
            input: r.u16("input tensor index")?,
            output: r.u16("output tensor index")?,
            beta: read_scale(r, "softmax beta")?,
            diff_min: r.i32("softmax diff_min")?,
        },
        LOGISTIC | TANH => {
            let input = r.u16("input tensor index")?;
            let output = r.u16("output tensor index")?;
            let input_scale = read_scale(r, "input scale")?;
            let input_range_radius = r.i32("input range radius")?;
            if code == LOGISTIC {
                Op::Logistic { input, output, input_scale, input_range_radius }
            } else {
                Op::Tanh { input, output, input_scale, input_range_radius }
            }
        }
        ARG_MAX => Op::ArgMax { input: r.u16("input tensor index")?, output: r.u16("output tensor index")? },
        SUB => read_add_like(r, true)?,
        CONCATENATION => {
            let output = r.u16("output tensor index")?;
            let axis = r.u8("concatenation axis")?;
            let count = usize::from(r.u8("concatenation input count")?);
            // Two bytes per index, checked before allocating (a count of 0 is refused by
            // validation; the byte bounds it at 255).
            if count.saturating_mul(2) > r.remaining() {
                return Err(EngineError::Truncated { offset: r.pos, what: "concatenation inputs" });
            }
            let mut inputs = Vec::with_capacity(count);
            for _ in 0..count {
                inputs.push(r.u16("input tensor index")?);
            }
            Op::Concatenation { inputs, output, axis }
        }
        PAD => {
            let input = r.u16("input tensor index")?;
            let output = r.u16("output tensor index")?;
            let value = r.i8("pad value")?;
            let rank_at = r.pos;
            let rank = r.u8("pad rank")?;
            if rank == 0 || usize::from(rank) > MAX_RANK {
                return Err(r.non_canonical(rank_at, "pad rank", rank.into(), "between 1 and 4"));
            }
            let mut paddings = Vec::with_capacity(usize::from(rank));
            for _ in 0..rank {
                paddings.push((r.u32("padding before")?, r.u32("padding after")?));
            }
            Op::Pad { input, output, paddings, value }
        }
        MEAN => Op::Mean {
            input: r.u16("input tensor index")?,
            output: r.u16("output tensor index")?,
            axes: r.u8("mean axes")?,
            scale: read_scale(r, "mean scale")?,
        },
        REQUANTIZE => Op::Requantize {
            input: r.u16("input tensor index")?,
            output: r.u16("output tensor index")?,
            scale: read_scale(r, "requantize scale")?,
        },
        HARD_SWISH => Op::HardSwish {
            input: r.u16("input tensor index")?,
            output: r.u16("output tensor index")?,
            reluish_multiplier: r.i16("hard swish reluish multiplier")?,
            reluish_exponent: r.i8("hard swish reluish exponent")?,
            output_multiplier: r.i16("hard swish output multiplier")?,
            output_exponent: r.i8("hard swish output exponent")?,
        },
        LEAKY_RELU => {
            let input = r.u16("input tensor index")?;
            let output = r.u16("output tensor index")?;
            let identity_scale = read_scale(r, "identity scale")?;
            let alpha_scale = read_scale(r, "alpha scale")?;
            let sign_at = r.pos;
            let alpha_negative = match r.u8("alpha sign")? {
                0 => false,
                1 => true,
                other => return Err(r.non_canonical(sign_at, "alpha sign", other.into(), "0 (+) or 1 (-)")),
            };
            Op::LeakyRelu { input, output, identity_scale, alpha_scale, alpha_negative }
        }
        BATCH_MATMUL => {
            let lhs = r.u16("lhs tensor index")?;
            let rhs = r.u16("rhs tensor index")?;
            let output = r.u16("output tensor index")?;
            let flag_at = r.pos;
            let transpose_rhs = match r.u8("transpose rhs flag")? {
                0 => false,
                1 => true,
                other => return Err(r.non_canonical(flag_at, "transpose rhs flag", other.into(), "0 or 1")),
            };
            let output_scale = read_scale(r, "output scale")?;
            Op::BatchMatMul { lhs, rhs, output, transpose_rhs, output_scale, clamp: read_clamp(r)? }
        }
        LAYER_NORM => Op::LayerNorm {
            input: r.u16("input tensor index")?,
            gamma: r.u16("gamma tensor index")?,
            beta: read_bias(r)?,
            output: r.u16("output tensor index")?,
            epsilon: r.u32("layer norm epsilon")?,
            output_scale: read_scale(r, "output scale")?,
        },
        GELU => Op::Gelu {
            input: r.u16("input tensor index")?,
            output: r.u16("output tensor index")?,
            erf_clip: r.u16("gelu erf clip")?,
            erf_one: r.i32("gelu erf one")?,
            output_scale: read_scale(r, "output scale")?,
        },
        GATHER => Op::Gather {
            table: r.u16("table tensor index")?,
            indices: r.u16("indices tensor index")?,
            output: r.u16("output tensor index")?,
        },
        TRANSPOSE => {
            let input = r.u16("input tensor index")?;
            let output = r.u16("output tensor index")?;
            let rank_at = r.pos;
            let rank = r.u8("transpose rank")?;
            if rank == 0 || usize::from(rank) > MAX_RANK {
                return Err(r.non_canonical(rank_at, "transpose rank", rank.into(), "between 1 and 4"));
            }
            let perm = r.bytes(usize::from(rank), "transpose permutation")?.to_vec();
            Op::Transpose { input, output, perm }
        }
        code => return Err(EngineError::UnknownOp { offset: at, code }),
    };
    Ok(op)
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn i8(&mut self, v: i8) -> &mut Self {
        self.u8(v as u8)
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn scale(&mut self, s: Scale) -> &mut Self {
        self.i32(s.multiplier).i8(s.shift)
    }
    fn bias(&mut self, b: Option<TensorId>) -> &mut Self {
        self.u16(b.unwrap_or(NO_TENSOR))
    }
    fn clamp(&mut self, c: Clamp) -> &mut Self {
        self.i8(c.min).i8(c.max)
    }
    fn padding(&mut self, p: Padding) -> &mut Self {
        self.u8(match p {
            Padding::Valid => 0,
            Padding::Same => 1,
        })
    }
    fn conv_window(&mut self, w: &ConvWindow) -> &mut Self {
        self.u16(w.stride_h).u16(w.stride_w).u16(w.dilation_h).u16(w.dilation_w).padding(w.padding)
    }
    fn pool_window(&mut self, w: &PoolWindow) -> &mut Self {
        self.u16(w.filter_h).u16(w.filter_w).u16(w.stride_h).u16(w.stride_w).padding(w.padding)
    }
    fn scales(&mut self, scales: &[Scale]) -> Result<&mut Self> {
        let count = u32::try_from(scales.len()).map_err(|_| EngineError::LimitExceeded {
            what: "output scale count",
            value: scales.len() as u64,
            limit: u64::from(u32::MAX),
        })?;
        self.0.extend_from_slice(&count.to_le_bytes());
        for s in scales {
            self.scale(*s);
        }
        Ok(self)
    }
}

fn write_op(out: &mut Vec<u8>, op: &Op) -> Result<()> {
    use opcode::*;
    let mut w = Writer(out);
    match op {
        Op::FullyConnected { input, weights, bias, output, output_scales, clamp } => {
            w.u8(FULLY_CONNECTED)
                .u16(*input)
                .u16(*weights)
                .bias(*bias)
                .u16(*output)
                .clamp(*clamp)
                .scales(output_scales)?;
        }
        Op::Conv2D { input, weights, bias, output, window, output_scales, clamp } => {
            w.u8(CONV_2D).u16(*input).u16(*weights).bias(*bias).u16(*output);
            w.conv_window(window).clamp(*clamp).scales(output_scales)?;
        }
        Op::DepthwiseConv2D { input, weights, bias, output, window, depth_multiplier, output_scales, clamp } => {
            w.u8(DEPTHWISE_CONV_2D).u16(*input).u16(*weights).bias(*bias).u16(*output);
            w.conv_window(window).u16(*depth_multiplier).clamp(*clamp).scales(output_scales)?;
        }
        Op::MaxPool2D { input, output, window, clamp } => {
            w.u8(MAX_POOL_2D).u16(*input).u16(*output).pool_window(window).clamp(*clamp);
        }
        Op::AveragePool2D { input, output, window, clamp } => {
            w.u8(AVERAGE_POOL_2D).u16(*input).u16(*output).pool_window(window).clamp(*clamp);
        }
        Op::Add { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp } => {
            w.u8(ADD).u16(*lhs).u16(*rhs).u16(*output).u8(*left_shift);
            w.scale(*lhs_scale).scale(*rhs_scale).scale(*output_scale).clamp(*clamp);
        }
        Op::Mul { lhs, rhs, output, output_scale, clamp } => {
            w.u8(MUL).u16(*lhs).u16(*rhs).u16(*output).scale(*output_scale).clamp(*clamp);
        }
        Op::Reshape { input, output } => {
            w.u8(RESHAPE).u16(*input).u16(*output);
        }
        Op::Softmax { input, output, beta, diff_min } => {
            w.u8(SOFTMAX).u16(*input).u16(*output).scale(*beta).i32(*diff_min);
        }
        Op::Logistic { input, output, input_scale, input_range_radius } => {
            w.u8(LOGISTIC).u16(*input).u16(*output).scale(*input_scale).i32(*input_range_radius);
        }
        Op::Tanh { input, output, input_scale, input_range_radius } => {
            w.u8(TANH).u16(*input).u16(*output).scale(*input_scale).i32(*input_range_radius);
        }
        Op::ArgMax { input, output } => {
            w.u8(ARG_MAX).u16(*input).u16(*output);
        }
        Op::Sub { lhs, rhs, output, left_shift, lhs_scale, rhs_scale, output_scale, clamp } => {
            w.u8(SUB).u16(*lhs).u16(*rhs).u16(*output).u8(*left_shift);
            w.scale(*lhs_scale).scale(*rhs_scale).scale(*output_scale).clamp(*clamp);
        }
        Op::Concatenation { inputs, output, axis } => {
            let count = u8::try_from(inputs.len()).map_err(|_| EngineError::LimitExceeded {
                what: "concatenation input count",
                value: inputs.len() as u64,
                limit: MAX_CONCAT_INPUTS as u64,
            })?;
            w.u8(CONCATENATION).u16(*output).u8(*axis).u8(count);
            for input in inputs {
                w.u16(*input);
            }
        }
        Op::Pad { input, output, paddings, value } => {
            let rank = u8::try_from(paddings.len()).ok().filter(|&r| r >= 1 && usize::from(r) <= MAX_RANK).ok_or(
                EngineError::LimitExceeded { what: "pad rank", value: paddings.len() as u64, limit: MAX_RANK as u64 },
            )?;
            w.u8(PAD).u16(*input).u16(*output).i8(*value).u8(rank);
            for (before, after) in paddings {
                w.u32(*before).u32(*after);
            }
        }
        Op::Mean { input, output, axes, scale } => {
            w.u8(MEAN).u16(*input).u16(*output).u8(*axes).scale(*scale);
        }
        Op::Requantize { input, output, scale } => {
            w.u8(REQUANTIZE).u16(*input).u16(*output).scale(*scale);
        }
        Op::HardSwish { input, output, reluish_multiplier, reluish_exponent, output_multiplier, output_exponent } => {
            w.u8(HARD_SWISH).u16(*input).u16(*output);
            w.i16(*reluish_multiplier).i8(*reluish_exponent).i16(*output_multiplier).i8(*output_exponent);
        }
        Op::LeakyRelu { input, output, identity_scale, alpha_scale, alpha_negative } => {
            w.u8(LEAKY_RELU).u16(*input).u16(*output).scale(*identity_scale).scale(*alpha_scale);
            w.u8(u8::from(*alpha_negative));
        }
        Op::BatchMatMul { lhs, rhs, output, transpose_rhs, output_scale, clamp } => {
            w.u8(BATCH_MATMUL).u16(*lhs).u16(*rhs).u16(*output).u8(u8::from(*transpose_rhs));
            w.scale(*output_scale).clamp(*clamp);
        }
        Op::LayerNorm { input, gamma, beta, output, epsilon, output_scale } => {
            w.u8(LAYER_NORM).u16(*input).u16(*gamma).bias(*beta).u16(*output).u32(*epsilon).scale(*output_scale);
        }
        Op::Gelu { input, output, erf_clip, erf_one, output_scale } => {
            w.u8(GELU).u16(*input).u16(*output).u16(*erf_clip).i32(*erf_one).scale(*output_scale);
        }
        Op::Gather { table, indices, output } => {
            w.u8(GATHER).u16(*table).u16(*indices).u16(*output);
        }
        Op::Transpose { input, output, perm } => {
            let rank = u8::try_from(perm.len()).ok().filter(|&r| r >= 1 && usize::from(r) <= MAX_RANK).ok_or(
                EngineError::LimitExceeded { what: "transpose rank", value: perm.len() as u64, limit: MAX_RANK as u64 },
            )?;
            w.u8(TRANSPOSE).u16(*input).u16(*output).u8(rank);
            for &axis in perm {
                w.u8(axis);
            }
        }
    }
    Ok(())
}

/// A cursor over model bytes that never reads past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn bytes(&mut self, len: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(len).filter(|&end| end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(slice)
            }
            None => Err(EngineError::Truncated { offset: self.pos, what }),
        }
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    fn i8(&mut self, what: &'static str) -> Result<i8> {
        Ok(self.u8(what)? as i8)
    }
    fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn i16(&mut self, what: &'static str) -> Result<i16> {
        Ok(i16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn zero_u8(&mut self, what: &'static str) -> Result<()> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(()),
            v => Err(self.non_canonical(at, what, v.into(), "0")),
        }
    }
    fn zero_u16(&mut self, what: &'static str) -> Result<()> {
        let at = self.pos;
        match self.u16(what)? {
            0 => Ok(()),
            v => Err(self.non_canonical(at, what, v.into(), "0")),
        }
    }
    fn zero_u32(&mut self, what: &'static str) -> Result<()> {
        let at = self.pos;
        match self.u32(what)? {
            0 => Ok(()),
            v => Err(self.non_canonical(at, what, v.into(), "0")),
        }
    }

    fn non_canonical(&self, offset: usize, what: &'static str, value: i64, expected: &'static str) -> EngineError {
        EngineError::NonCanonical { offset, what, value, expected }
    }
}
