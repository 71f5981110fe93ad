//! Property tests: no byte string makes the engine panic or allocate without bound; the
//! encoding is canonical and round-trips; every kernel path agrees on random models.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use aiop_engine::{
    Clamp, ConvWindow, FormatVersion, KernelPath, LoadedModel, Model, ModelBuilder, Op, Padding, PoolWindow, Scale,
    Tensor, decode, encode,
};
use proptest::prelude::*;

/// Counts live and peak heap bytes, so a test can bound what decoding allocates.
struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarding to the system allocator with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Loads `bytes` (decode, validate, pack) and, if valid, runs it once; returns whether it
/// loaded. Asserts the allocation bound of loading: a constant plus a multiple of the input.
/// Tests in this file run their proptest loops on one thread each, so other tests' allocations
/// can only raise the measured peak (making the bound conservative, never hiding a breach
/// beyond what they add).
fn load_bounded(bytes: &[u8]) -> bool {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let loaded = LoadedModel::load(bytes, KernelPath::Reference);
    let grown = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    let bound = 64 * bytes.len() + (4 << 20);
    assert!(grown <= bound, "loading {} bytes allocated {grown} bytes (bound {bound})", bytes.len());
    match loaded {
        Ok(model) => {
            let input = vec![0u8; model.input_len()];
            model.run(&input).expect("a loaded model runs on an input of the right length");
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

/// splitmix64, for building random models from one proptest-chosen seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn weights(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.range(-127, 127) as i8).collect()
    }
    fn scale(&mut self) -> Scale {
        Scale::new(self.range(0, i32::MAX as i64) as i32, self.range(-31, 30) as i8)
    }
    fn zp(&mut self) -> i32 {
        match self.range(0, 5) {
            0 => -128,
            1 => 127,
            _ => self.range(-128, 127) as i32,
        }
    }
    fn clamp(&mut self) -> Clamp {
        let a = self.range(-128, 127) as i8;
        let b = self.range(-128, 127) as i8;
        if self.range(0, 2) == 0 { Clamp::NONE } else { Clamp { min: a.min(b), max: a.max(b) } }
    }
    fn padding(&mut self) -> Padding {
        if self.range(0, 1) == 0 { Padding::Valid } else { Padding::Same }
    }
}

fn out_size(padding: Padding, input: u32, filter: u32, stride: u32, dilation: u32) -> Option<u32> {
    let effective = (filter - 1) * dilation + 1;
    match padding {
        Padding::Same => Some(input.div_ceil(stride)),
        Padding::Valid => input.checked_sub(effective).map(|d| d / stride + 1),
    }
}

/// A random valid model: an image branch (Conv2D / DepthwiseConv2D / pooling) or a vector
/// branch (FullyConnected), then a random head. Random parameters everywhere the format allows.
/// The seed's lowest bit picks the format version; a version 2 model also gets a random tail
/// of the ops only version 2 has.
fn random_model(seed: u64) -> Model {
    let version = match seed % 3 {
        0 => FormatVersion::V1,
        1 => FormatVersion::V2,
        _ => FormatVersion::V3,
    };
    let mut rng = Rng(seed);
    let mut b = ModelBuilder::new(version);
    let (h, w, c) = (rng.range(1, 9) as u32, rng.range(1, 9) as u32, rng.range(1, 6) as u32);
    let input = b.tensor(Tensor::activation(&[h, w, c], rng.zp(), Scale::default()));
    let (mut cur, mut shape) = (input, vec![h, w, c]);
    for _ in 0..rng.range(1, 3) {
        let [h, w, c] = [shape[0], shape[1], shape[2]];
        let kind = rng.range(0, 3);
        let (kh, kw) = (rng.range(1, 4) as u32, rng.range(1, 4) as u32);
        let (sh, sw) = (rng.range(1, 3) as u16, rng.range(1, 3) as u16);
        let (dh, dw) = if kind <= 1 { (rng.range(1, 2) as u16, rng.range(1, 2) as u16) } else { (1, 1) };
        let padding = rng.padding();
        let (Some(oh), Some(ow)) =
            (out_size(padding, h, kh, sh.into(), dh.into()), out_size(padding, w, kw, sw.into(), dw.into()))
        else {
            continue;
        };
        let window = ConvWindow { stride_h: sh, stride_w: sw, dilation_h: dh, dilation_w: dw, padding };
        let bias = rng.range(0, 1) == 0;
        match kind {
            0 => {
                let cout = rng.range(1, 20) as u32;
                let wt = b.tensor(Tensor::weights(
                    &[cout, kh, kw, c],
                    Scale::default(),
                    rng.weights((cout * kh * kw * c) as usize),
                ));
                let bs = bias.then(|| {
                    b.tensor(Tensor::bias(
                        (0..cout).map(|_| rng.range(-100_000, 100_000) as i32).collect(),
                        Scale::default(),
                    ))
                });
                let out = b.tensor(Tensor::activation(&[oh, ow, cout], rng.zp(), Scale::default()));
                let output_scales = (0..cout).map(|_| rng.scale()).collect();
                b.op(Op::Conv2D {
                    input: cur,
                    weights: wt,
                    bias: bs,
                    output: out,
                    window,
                    output_scales,
                    clamp: rng.clamp(),
                });
                (cur, shape) = (out, vec![oh, ow, cout]);
            }
            1 => {
                let dm = rng.range(1, 3) as u32;
                let cout = c * dm;
                let wt = b.tensor(Tensor::weights(
                    &[kh, kw, cout],
                    Scale::default(),
                    rng.weights((kh * kw * cout) as usize),
                ));
                let bs = bias.then(|| {
                    b.tensor(Tensor::bias(
                        (0..cout).map(|_| rng.range(-100_000, 100_000) as i32).collect(),
                        Scale::default(),
                    ))
                });
                let out = b.tensor(Tensor::activation(&[oh, ow, cout], rng.zp(), Scale::default()));
                let output_scales = (0..cout).map(|_| rng.scale()).collect();
                b.op(Op::DepthwiseConv2D {
                    input: cur,
                    weights: wt,
                    bias: bs,
                    output: out,
                    window,
                    depth_multiplier: dm as u16,
                    output_scales,
                    clamp: rng.clamp(),
                });
                (cur, shape) = (out, vec![oh, ow, cout]);
            }
            _ => {
                let zp = b_zero_point(&b, cur);
                let out = b.tensor(Tensor::activation(&[oh, ow, c], zp, Scale::default()));
                let window =
                    PoolWindow { filter_h: kh as u16, filter_w: kw as u16, stride_h: sh, stride_w: sw, padding };
                let clamp = rng.clamp();
                b.op(if kind == 2 {
                    Op::MaxPool2D { input: cur, output: out, window, clamp }
                } else {
                    Op::AveragePool2D { input: cur, output: out, window, clamp }
                });
                (cur, shape) = (out, vec![oh, ow, c]);
            }
        }
    }
    // Flatten, then a FullyConnected layer, then a random head.
    let k: u32 = shape.iter().product();
    let zp = b_zero_point(&b, cur);
    let flat = b.tensor(Tensor::activation(&[k], zp, Scale::default()));
    b.op(Op::Reshape { input: cur, output: flat });
    let n = rng.range(1, 40) as u32;
    let wt = b.tensor(Tensor::weights(&[n, k], Scale::default(), rng.weights((n * k) as usize)));
    let fc_out = b.tensor(Tensor::activation(&[n], rng.zp(), Scale::default()));
    let output_scales = (0..n).map(|_| rng.scale()).collect();
    b.op(Op::FullyConnected {
        input: flat,
        weights: wt,
        bias: None,
        output: fc_out,
        output_scales,
        clamp: rng.clamp(),
    });
    let head = match rng.range(0, 4) {
        0 => {
            let y = b.tensor(Tensor::activation(&[n], -128, Scale::default()));
            let diff_min = -(rng.range(0, 5000) as i32);
            b.op(Op::Softmax { input: fc_out, output: y, beta: rng.scale(), diff_min });
            y
        }
        1 => {
            let y = b.tensor(Tensor::activation(&[n], -128, Scale::default()));
            let radius = rng.range(-10, 300) as i32;
            b.op(Op::Logistic { input: fc_out, output: y, input_scale: rng.scale(), input_range_radius: radius });
            y
        }
        2 => {
            let y = b.tensor(Tensor::activation(&[n], 0, Scale::default()));
            let radius = rng.range(-10, 300) as i32;
            b.op(Op::Tanh { input: fc_out, output: y, input_scale: rng.scale(), input_range_radius: radius });
            y
        }
        3 => {
            let y = b.tensor(Tensor::activation(&[n], rng.zp(), Scale::default()));
            let (s1, s2, s3) = (rng.scale(), rng.scale(), rng.scale());
            let shift = rng.range(0, 23) as u8;
            b.op(Op::Add {
                lhs: fc_out,
                rhs: fc_out,
                output: y,
                left_shift: shift,
                lhs_scale: s1,
                rhs_scale: s2,
                output_scale: s3,
                clamp: rng.clamp(),
            });
            let z = b.tensor(Tensor::activation(&[n], rng.zp(), Scale::default()));
            b.op(Op::Mul { lhs: y, rhs: fc_out, output: z, output_scale: rng.scale(), clamp: rng.clamp() });
            z
        }
        _ => {
            let y =
                b.tensor(Tensor { dtype: aiop_engine::DType::I32, ..Tensor::activation(&[1], 0, Scale::default()) });
            b.op(Op::ArgMax { input: fc_out, output: y });
            y
        }
    };
    let head_is_int32 = b.clone().finish(0, 0).tensors[usize::from(head)].dtype == aiop_engine::DType::I32;
    let head = if version >= FormatVersion::V2 && !head_is_int32 && rng.range(0, 4) != 0 {
        v2_tail(&mut b, &mut rng, fc_out, n)
    } else {
        head
    };
    let head_is_int32 = b.clone().finish(0, 0).tensors[usize::from(head)].dtype == aiop_engine::DType::I32;
    let head = if version == FormatVersion::V3 && !head_is_int32 { v3_tail(&mut b, &mut rng, head) } else { head };
    b.finish(input, head)
}

/// A chain of the version 2 ops over the `[n]` int8 activation `x`; returns the last output.
/// Some ops read `x` again, so the earlier head stays used.
fn v2_tail(b: &mut ModelBuilder, rng: &mut Rng, x: u16, n: u32) -> u16 {
    let act = |b: &mut ModelBuilder, shape: &[u32], zp: i32| b.tensor(Tensor::activation(shape, zp, Scale::default()));
    // Sub of x and x with independent scales.
    let sub = act(b, &[n], rng.zp());
    b.op(Op::Sub {
        lhs: x,
        rhs: x,
        output: sub,
        left_shift: rng.range(0, 23) as u8,
        lhs_scale: rng.scale(),
        rhs_scale: rng.scale(),
        output_scale: rng.scale(),
        clamp: rng.clamp(),
    });
    let req = act(b, &[n], rng.zp());
    b.op(Op::Requantize { input: sub, output: req, scale: rng.scale() });
    let leaky = act(b, &[n], rng.zp());
    b.op(Op::LeakyRelu {
        input: req,
        output: leaky,
        identity_scale: rng.scale(),
        alpha_scale: rng.scale(),
        alpha_negative: rng.range(0, 1) == 1,
    });
    let swish = act(b, &[n], rng.zp());
    b.op(Op::HardSwish {
        input: leaky,
        output: swish,
        reluish_multiplier: rng.range(0, 32767) as i16,
        reluish_exponent: rng.range(-15, 15) as i8,
        output_multiplier: rng.range(0, 32767) as i16,
        output_exponent: rng.range(-15, 0) as i8,
    });
    // Pad to [n + a + c], then view as [1, m] and concatenate with x viewed alike.
    let (before, after) = (rng.range(0, 3) as u32, rng.range(0, 3) as u32);
    let zp_swish = b_zero_point(b, swish);
    let padded = act(b, &[n + before + after], zp_swish);
    b.op(Op::Pad { input: swish, output: padded, paddings: vec![(before, after)], value: rng.range(-128, 127) as i8 });
    let m = n + before + after;
    let row = act(b, &[1, m], zp_swish);
    b.op(Op::Reshape { input: padded, output: row });
    // Concatenation needs one quantization: requantize a copy of x onto the swish output's.
    let x_again = act(b, &[n], zp_swish);
    b.op(Op::Requantize { input: x, output: x_again, scale: rng.scale() });
    let x_row = act(b, &[1, n], zp_swish);
    b.op(Op::Reshape { input: x_again, output: x_row });
    let axis = rng.range(0, 1) as u8;
    let joined_shape = if axis == 0 { [2, m] } else { [1, m + n] };
    if axis == 0 && m != n {
        // Along axis 0 the other axis must agree: pad the copy of x to m as well.
        let x_padded = act(b, &[1, m], zp_swish);
        b.op(Op::Pad { input: x_row, output: x_padded, paddings: vec![(0, 0), (0, m - n)], value: 0 });
        let joined = act(b, &joined_shape, zp_swish);
        b.op(Op::Concatenation { inputs: vec![row, x_padded], output: joined, axis });
        mean_of(b, rng, joined)
    } else {
        let joined = act(b, &joined_shape, zp_swish);
        b.op(Op::Concatenation { inputs: vec![row, x_row], output: joined, axis });
        mean_of(b, rng, joined)
    }
}

/// The version 3 ops over the int8 activation `x` (any shape, `n` elements): `x` as a row and
/// its transpose multiply to `[n, n]`, then LayerNorm, Gelu and a Gather of a random table.
fn v3_tail(b: &mut ModelBuilder, rng: &mut Rng, x: u16) -> u16 {
    let tensor = b.clone().finish(0, 0).tensors[usize::from(x)].clone();
    let n = tensor.shape.iter().product::<u32>();
    let act = |b: &mut ModelBuilder, shape: &[u32], zp: i32| b.tensor(Tensor::activation(shape, zp, Scale::default()));
    let row = b.tensor(Tensor { shape: vec![1, n], ..tensor.clone() });
    b.op(Op::Reshape { input: x, output: row });
    let column = b.tensor(Tensor { shape: vec![n, 1], ..tensor });
    b.op(Op::Transpose { input: row, output: column, perm: vec![1, 0] });
    let transpose_rhs = rng.range(0, 1) == 1;
    let square = act(b, &[n, n], rng.zp());
    // column [n, 1] times row [1, n] (or, transposed, the column read as [n, 1] = [N, K]).
    let rhs = if transpose_rhs { column } else { row };
    b.op(Op::BatchMatMul {
        lhs: column,
        rhs,
        output: square,
        transpose_rhs,
        output_scale: rng.scale(),
        clamp: rng.clamp(),
    });
    let gamma = b.tensor(Tensor::weights(&[n], Scale::default(), rng.weights(n as usize)));
    let beta =
        b.tensor(Tensor::bias((0..n).map(|_| rng.range(-(1 << 30), 1 << 30) as i32).collect(), Scale::default()));
    let normalized = act(b, &[n, n], rng.zp());
    b.op(Op::LayerNorm {
        input: square,
        gamma,
        beta: Some(beta),
        output: normalized,
        epsilon: rng.range(0, i64::from(u32::MAX)) as u32,
        output_scale: rng.scale(),
    });
    let gelu = act(b, &[n, n], rng.zp());
    b.op(Op::Gelu {
        input: normalized,
        output: gelu,
        erf_clip: rng.range(0, 1448) as u16,
        erf_one: rng.range(1, 1 << 21) as i32,
        output_scale: rng.scale(),
    });
    let depth = rng.range(1, 4) as u32;
    let rows = rng.range(1, 300) as u32;
    let table = b.tensor(Tensor::weights(&[rows, depth], Scale::default(), rng.weights((rows * depth) as usize)));
    let gathered = act(b, &[n, n, depth], 0);
    b.op(Op::Gather { table, indices: gelu, output: gathered });
    gathered
}

/// Mean of a rank-2 activation over a random non-empty set of its axes.
fn mean_of(b: &mut ModelBuilder, rng: &mut Rng, x: u16) -> u16 {
    let shape = b.clone().finish(0, 0).tensors[usize::from(x)].shape.clone();
    let axes = rng.range(1, 3) as u8;
    let keep = rng.range(0, 1) == 0;
    let out_shape: Vec<u32> = if keep {
        shape.iter().enumerate().map(|(i, &d)| if axes & (1 << i) != 0 { 1 } else { d }).collect()
    } else {
        let kept: Vec<u32> = shape.iter().enumerate().filter(|&(i, _)| axes & (1 << i) == 0).map(|(_, &d)| d).collect();
        if kept.is_empty() { vec![1] } else { kept }
    };
    let y = b.tensor(Tensor::activation(&out_shape, rng.zp(), Scale::default()));
    b.op(Op::Mean { input: x, output: y, axes, scale: rng.scale() });
    y
}

fn b_zero_point(b: &ModelBuilder, id: u16) -> i32 {
    b.clone().finish(0, 0).tensors[usize::from(id)].zero_point
}

fn valid_model_bytes() -> impl Strategy<Value = Vec<u8>> {
    any::<u64>().prop_map(|seed| encode(&random_model(seed)).expect("random_model builds valid models"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_models_round_trip(seed in any::<u64>()) {
        let model = random_model(seed);
        let bytes = encode(&model).unwrap();
        prop_assert_eq!(decode(&bytes).unwrap(), model);
    }

    #[test]
    fn every_kernel_path_agrees_on_random_models(seed in any::<u64>(), input_seed in any::<u64>()) {
        let bytes = encode(&random_model(seed)).unwrap();
        let reference = LoadedModel::load(&bytes, KernelPath::Reference).unwrap();
        let mut rng = Rng(input_seed);
        let input: Vec<u8> = (0..reference.input_len()).map(|_| rng.next() as u8).collect();
        let expected = reference.run(&input).unwrap();
        for path in KernelPath::available() {
            let out = LoadedModel::load(&bytes, path).unwrap().run(&input).unwrap();
            prop_assert_eq!(&out, &expected, "path {}", path);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        load_bounded(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_magic_never_panic(
        version in 1u8..=2,
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = b"AIOP".to_vec();
        bytes.extend([version, 0, 0, 0]);
        bytes.extend(tail);
        load_bounded(&bytes);
    }

    #[test]
    fn mutated_models_load_or_fail_cleanly_and_stay_canonical(
        bytes in valid_model_bytes(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let mut bytes = bytes;
        for (at, value, how) in edits {
            match how {
                0 | 1 if !bytes.is_empty() => { let i = at.index(bytes.len()); bytes[i] = value; }
                2 if !bytes.is_empty() => { bytes.truncate(at.index(bytes.len())); }
                _ => bytes.push(value),
            }
        }
        if load_bounded(&bytes) {
            // Canonical: the only encoding of what was decoded is these very bytes.
            prop_assert_eq!(encode(&decode(&bytes).unwrap()).unwrap(), bytes);
        }
    }
}

#[test]
fn a_declared_count_larger_than_the_bytes_allocates_nothing_large() {
    // Header claims 1024 tensors and 512 ops, then ends: decoding must fail after reserving
    // at most the bounded per-entry space, never anything proportional to a declared size.
    let mut bytes = b"AIOP\x01\x00\x00\x00".to_vec();
    bytes.extend_from_slice(&1024u16.to_le_bytes());
    bytes.extend_from_slice(&512u16.to_le_bytes());
    bytes.resize(56, 0);
    assert!(!load_bounded(&bytes));
}

#[test]
fn random_models_cover_every_op() {
    let mut seen = std::collections::BTreeSet::new();
    let mut macs = 0u64;
    for seed in 0..400 {
        let model = random_model(seed);
        macs += LoadedModel::load(&encode(&model).unwrap(), KernelPath::Reference).unwrap().cost().macs;
        seen.extend(model.ops.iter().map(|op| op.name()));
    }
    assert_eq!(seen.len(), 24, "ops covered: {seen:?}");
    assert!(macs > 400 * 100, "random models are too small to exercise the kernels: {macs} MACs");
}
