//! Small `.tflite` files built in the tests: a minimal flatbuffer writer and a model builder
//! for the parts of schema v3 the importer reads.

#![allow(dead_code)]

use std::collections::VecDeque;

/// A table field.
#[derive(Debug, Clone)]
pub(crate) enum F {
    U8(u8),
    I8(i8),
    I32(i32),
    U32(u32),
    F32(f32),
    Obj(Obj),
}

/// Something stored out of line and reached by an offset.
#[derive(Debug, Clone)]
pub(crate) enum Obj {
    /// Fields by id.
    Table(Vec<(usize, F)>),
    Bytes(Vec<u8>),
    I32s(Vec<i32>),
    F32s(Vec<f32>),
    I64s(Vec<i64>),
    Tables(Vec<Obj>),
    Str(String),
}

fn align(buf: &mut Vec<u8>, to: usize) {
    while !buf.len().is_multiple_of(to) {
        buf.push(0);
    }
}

/// Writes `obj`, queueing what it points to; returns where an offset to it must point.
fn write(buf: &mut Vec<u8>, obj: Obj, queue: &mut VecDeque<(usize, Obj)>) -> usize {
    align(buf, 8);
    match obj {
        Obj::Table(mut fields) => {
            fields.sort_by_key(|(id, _)| *id);
            let slots = fields.last().map_or(0, |(id, _)| id + 1);
            // Inline layout: the soffset, then every field in a 4-byte slot.
            let table_len = 4 + 4 * fields.len();
            let vtable_len = 4 + 2 * slots;
            let vt = buf.len();
            buf.extend((vtable_len as u16).to_le_bytes());
            buf.extend((table_len as u16).to_le_bytes());
            let mut offsets = vec![0u16; slots];
            for (k, (id, _)) in fields.iter().enumerate() {
                offsets[*id] = (4 + 4 * k) as u16;
            }
            for o in offsets {
                buf.extend(o.to_le_bytes());
            }
            align(buf, 4);
            let pos = buf.len();
            buf.extend(((pos - vt) as i32).to_le_bytes());
            for (_, f) in fields {
                let mut slot = [0u8; 4];
                match f {
                    F::U8(v) => slot[0] = v,
                    F::I8(v) => slot[0] = v as u8,
                    F::I32(v) => slot = v.to_le_bytes(),
                    F::U32(v) => slot = v.to_le_bytes(),
                    F::F32(v) => slot = v.to_le_bytes(),
                    F::Obj(o) => queue.push_back((buf.len(), o)),
                }
                buf.extend(slot);
            }
            pos
        }
        Obj::Tables(items) => {
            let pos = buf.len();
            buf.extend((items.len() as u32).to_le_bytes());
            for item in items {
                queue.push_back((buf.len(), item));
                buf.extend([0u8; 4]);
            }
            pos
        }
        Obj::Bytes(v) => vector(buf, v.len(), v),
        Obj::Str(s) => {
            let mut bytes = s.into_bytes();
            let len = bytes.len();
            bytes.push(0);
            vector(buf, len, bytes)
        }
        Obj::I32s(v) => vector(buf, v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Obj::F32s(v) => vector(buf, v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Obj::I64s(v) => {
            // Elements 8-aligned: the length goes 4 bytes before an 8-byte boundary.
            buf.extend([0u8; 4]);
            vector(buf, v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
    }
}

fn vector(buf: &mut Vec<u8>, len: usize, bytes: Vec<u8>) -> usize {
    let pos = buf.len();
    buf.extend((len as u32).to_le_bytes());
    buf.extend(bytes);
    pos
}

/// A flatbuffer with root table `root` and file identifier `TFL3`.
pub(crate) fn flatbuffer(root: Obj) -> Vec<u8> {
    let mut buf = vec![0u8; 4];
    buf.extend(b"TFL3");
    let mut queue = VecDeque::from([(0usize, root)]);
    while let Some((slot, obj)) = queue.pop_front() {
        let pos = write(&mut buf, obj, &mut queue);
        buf[slot..slot + 4].copy_from_slice(&((pos - slot) as u32).to_le_bytes());
    }
    buf
}

pub(crate) const FLOAT32: i8 = 0;
pub(crate) const INT32: i8 = 2;
pub(crate) const INT8: i8 = 9;

/// The `BuiltinOptions` union tag of an operator's options table (schema order).
fn options_type(code: i32) -> u8 {
    match code {
        0 => 11,   // ADD: AddOptions
        2 => 10,   // CONCATENATION: ConcatenationOptions
        9 => 8,    // FULLY_CONNECTED: FullyConnectedOptions
        18 => 21,  // MUL: MulOptions
        25 => 9,   // SOFTMAX: SoftmaxOptions
        34 => 22,  // PAD: PadOptions
        40 => 27,  // MEAN: ReducerOptions
        41 => 28,  // SUB: SubOptions
        42 => 29,  // DIV: DivOptions
        43 => 30,  // SQUEEZE: SqueezeOptions
        60 => 43,  // PADV2: PadV2Options
        70 => 52,  // EXPAND_DIMS: ExpandDimsOptions
        98 => 75,  // LEAKY_RELU: LeakyReluOptions
        114 => 89, // QUANTIZE: QuantizeOptions
        117 => 91, // HARD_SWISH: HardSwishOptions
        other => panic!("no options type recorded for operator {other}"),
    }
}

/// A `.tflite` model under construction: one subgraph.
#[derive(Debug, Default)]
pub(crate) struct Tflite {
    tensors: Vec<Obj>,
    buffers: Vec<Obj>,
    ops: Vec<Obj>,
    codes: Vec<i32>,
}

impl Tflite {
    pub(crate) fn new() -> Self {
        // Buffer 0 is the empty buffer of every activation.
        Tflite { buffers: vec![Obj::Table(vec![])], ..Default::default() }
    }

    /// A tensor; `data` makes it a constant.
    pub(crate) fn tensor(
        &mut self,
        shape: &[i32],
        dtype: i8,
        scales: &[f32],
        zero_points: &[i64],
        data: Option<Vec<u8>>,
    ) -> i32 {
        let buffer = match data {
            Some(bytes) => {
                self.buffers.push(Obj::Table(vec![(0, F::Obj(Obj::Bytes(bytes)))]));
                self.buffers.len() - 1
            }
            None => 0,
        };
        let mut fields = vec![
            (0, F::Obj(Obj::I32s(shape.to_vec()))),
            (1, F::I8(dtype)),
            (2, F::U32(buffer as u32)),
            (3, F::Obj(Obj::Str(format!("t{}", self.tensors.len())))),
        ];
        if !scales.is_empty() {
            fields.push((
                4,
                F::Obj(Obj::Table(vec![
                    (2, F::Obj(Obj::F32s(scales.to_vec()))),
                    (3, F::Obj(Obj::I64s(zero_points.to_vec()))),
                ])),
            ));
        }
        self.tensors.push(Obj::Table(fields));
        self.tensors.len() as i32 - 1
    }

    /// An int8 activation.
    pub(crate) fn act(&mut self, shape: &[i32], scale: f32, zero_point: i64) -> i32 {
        self.tensor(shape, INT8, &[scale], &[zero_point], None)
    }

    /// A constant int32 tensor (axes, paddings).
    pub(crate) fn int32s(&mut self, shape: &[i32], values: &[i32]) -> i32 {
        self.tensor(shape, INT32, &[], &[], Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()))
    }

    /// An operator with builtin code `code` and builtin options `options` (fields by id).
    pub(crate) fn op(&mut self, code: i32, inputs: &[i32], outputs: &[i32], options: Option<Vec<(usize, F)>>) {
        let opcode = match self.codes.iter().position(|&c| c == code) {
            Some(i) => i,
            None => {
                self.codes.push(code);
                self.codes.len() - 1
            }
        };
        let mut fields = vec![
            (0, F::U32(opcode as u32)),
            (1, F::Obj(Obj::I32s(inputs.to_vec()))),
            (2, F::Obj(Obj::I32s(outputs.to_vec()))),
        ];
        if let Some(o) = options {
            fields.push((3, F::U8(options_type(code))));
            fields.push((4, F::Obj(Obj::Table(o))));
        }
        self.ops.push(Obj::Table(fields));
    }

    /// The file, with model input `input` and output `output`.
    pub(crate) fn finish(self, input: i32, output: i32) -> Vec<u8> {
        let codes = self
            .codes
            .iter()
            .map(|&c| Obj::Table(vec![(0, F::I8(c.min(127) as i8)), (2, F::I32(1)), (3, F::I32(c))]))
            .collect();
        let subgraph = Obj::Table(vec![
            (0, F::Obj(Obj::Tables(self.tensors))),
            (1, F::Obj(Obj::I32s(vec![input]))),
            (2, F::Obj(Obj::I32s(vec![output]))),
            (3, F::Obj(Obj::Tables(self.ops))),
        ]);
        flatbuffer(Obj::Table(vec![
            (0, F::U32(3)),
            (1, F::Obj(Obj::Tables(codes))),
            (2, F::Obj(Obj::Tables(vec![subgraph]))),
            (4, F::Obj(Obj::Tables(self.buffers))),
        ]))
    }
}

/// A one-op model `code(input) -> output` with the given options.
pub(crate) fn single(
    code: i32,
    input: (&[i32], f32, i64),
    output: (&[i32], f32, i64),
    options: Option<Vec<(usize, F)>>,
) -> Vec<u8> {
    let mut t = Tflite::new();
    let x = t.act(input.0, input.1, input.2);
    let y = t.act(output.0, output.1, output.2);
    t.op(code, &[x], &[y], options);
    t.finish(x, y)
}
