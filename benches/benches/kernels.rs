//! Kernel benchmarks: int8 `qgemm` (matrix-vector 1xKxN, small-CNN conv shapes as im2col
//! GEMMs, a 256x1024x1024 GEMM), depthwise convolution and products of two activations on every
//! kernel path this CPU has,
//! beside the same shapes in f32 with candle-core (CPU, one thread) as the float baseline.
//!
//! Each int8 kernel runs with both requantization rules: the plain path name is single
//! rounding (format v1), `<path>-double` is double rounding (format v2).
//!
//! Throughput is in elements = multiply-accumulates, so criterion's "elem/s" is MAC/s.
//! Run: `cargo bench -p aiop-benches --bench kernels -- --warm-up-time 1 --measurement-time 3`
//! (a filter such as `matvec/1x4096x4096` narrows it).

// `criterion_group!` below defines `pub fn benches` with no doc comment, and rustc ignores a
// lint attribute on a macro invocation, so `missing_docs` is allowed for this whole bench binary.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use aiop_kernels::{
    ActivationProduct, KernelPath, OutputStage, PackedMatrix, PreparedDepthwise, Rounding, WindowGeometry,
    batch_matmul, depthwise_conv2d, qgemm,
};
use candle_core::{Device, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// A deterministic byte stream (xorshift), so every run benchmarks the same data.
fn bytes(len: usize, seed: u64) -> Vec<i8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as i8
        })
        .collect()
}

fn weights(len: usize, seed: u64) -> Vec<i8> {
    bytes(len, seed).into_iter().map(|v| v.max(-127)).collect()
}

fn floats(len: usize, seed: u64) -> Vec<f32> {
    bytes(len, seed).into_iter().map(|v| f32::from(v) / 128.0).collect()
}

/// Both rules, each with the benchmark name suffix that marks it.
const ROUNDINGS: [(Rounding, &str); 2] = [(Rounding::Single, ""), (Rounding::Double, "-double")];

struct Stage {
    multiplier: Vec<i32>,
    shift: Vec<i8>,
}

impl Stage {
    fn new(n: usize) -> Self {
        Stage { multiplier: (0..n).map(|i| (1 << 30) + (i as i32) * 4099).collect(), shift: vec![-8; n] }
    }
    fn view(&self, rounding: Rounding) -> OutputStage<'_> {
        OutputStage {
            multiplier: &self.multiplier,
            shift: &self.shift,
            output_zero_point: -3,
            clamp_min: -128,
            clamp_max: 127,
            rounding,
        }
    }
}

/// `m x k` by `k x n` on every path and in candle f32, in one criterion group.
fn gemm_group(c: &mut Criterion, group: &str, shapes: &[(usize, usize, usize)]) {
    let mut g = c.benchmark_group(group);
    for &(m, k, n) in shapes {
        let id = format!("{m}x{k}x{n}");
        g.throughput(Throughput::Elements((m * k * n) as u64));
        let w = weights(n * k, 7);
        let x = bytes(m * k, 11);
        let bias: Vec<i32> = (0..n as i32).map(|i| i * 37 - 500).collect();
        let stage = Stage::new(n);
        let mut out = vec![0i8; m * n];
        for path in KernelPath::available() {
            let packed = PackedMatrix::pack(path, &w, n, k).expect("pack");
            for (rounding, suffix) in ROUNDINGS {
                let st = stage.view(rounding);
                g.bench_function(BenchmarkId::new(format!("{}{suffix}", path.name()), &id), |b| {
                    b.iter(|| qgemm(&packed, black_box(&x), m, 5, Some(&bias), &st, &mut out).expect("qgemm"))
                });
            }
        }
        let dev = Device::Cpu;
        let xf = Tensor::from_vec(floats(m * k, 11), (m, k), &dev).expect("tensor");
        let wf = Tensor::from_vec(floats(k * n, 7), (k, n), &dev).expect("tensor");
        g.bench_function(BenchmarkId::new("candle-f32", &id), |b| {
            b.iter(|| black_box(xf.matmul(&wf).expect("matmul")))
        });
    }
    g.finish();
}

fn matvec(c: &mut Criterion) {
    let sizes = [64, 256, 1024, 4096];
    let shapes: Vec<_> = sizes.iter().flat_map(|&k| sizes.iter().map(move |&n| (1, k, n))).collect();
    gemm_group(c, "matvec", &shapes);
}

/// Conv layers of small CNNs as the GEMMs the engine runs after im2col (rows = output
/// pixels, depth = KH*KW*Cin, columns = Cout): the digits CNN's layers, then
/// MobileNet-like 3x3 and 1x1 layers.
fn conv(c: &mut Criterion) {
    gemm_group(
        c,
        "conv",
        &[
            (64, 9, 8),      // 8x8x1 -> 3x3 conv, 8 channels
            (16, 72, 16),    // 4x4x8 -> 3x3 conv, 16 channels
            (784, 9, 16),    // 28x28x1 -> 3x3, 16
            (196, 144, 32),  // 14x14x16 -> 3x3, 32
            (784, 576, 64),  // 28x28x64 -> 3x3, 64
            (3136, 64, 128), // 56x56x64 -> 1x1, 128
            (1024, 360, 40), // MLPerf Tiny resnet_large: 32x32x40 -> 3x3, 40
            (256, 720, 80),  // 16x16x80 -> 3x3, 80
            (64, 1440, 160), // 8x8x160 -> 3x3, 160
            (1024, 27, 40),  // resnet_large's first layer: 32x32x3 -> 3x3, 40 (depth below a tile)
            (256, 40, 80),   // resnet_large's 1x1 stride-2 layer: 16x16 pixels of 40 -> 80
            (1024, 27, 16),  // resnet8's first layer: 32x32x3 -> 3x3, 16
            (2304, 27, 8),   // vww's first layer: 48x48 pixels of 3x3x3 -> 8
            (576, 32, 32),   // vww's 1x1 layer: 24x24x32 -> 32
        ],
    );
}

fn big_gemm(c: &mut Criterion) {
    gemm_group(c, "gemm", &[(256, 1024, 1024)]);
}

/// The adversarial shapes (see `examples/shape_ratios.rs`): K = 1 over 100,000 columns, one
/// deep column, and a single-row wide-kernel conv as its GEMM (im2col rows of 2048 taps).
fn adversarial(c: &mut Criterion) {
    gemm_group(c, "adversarial", &[(1, 1, 100_000), (1, 2, 100_000), (1, 100_000, 1), (64, 2048, 1)]);
    let mut g = c.benchmark_group("adversarial-depthwise");
    for &(w, ch, kw, pad) in &[(16384usize, 1usize, 2048usize, 0usize), (16384, 3, 2048, 0), (16384, 16, 2048, 1024)] {
        let out_w = w + 2 * pad - kw + 1;
        let geo = WindowGeometry {
            in_h: 1,
            in_w: w,
            in_c: ch,
            out_h: 1,
            out_w,
            kernel_h: 1,
            kernel_w: kw,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: pad,
            depth_multiplier: 1,
        };
        let id = format!("1x{w}x{ch}_1x{kw}_pad{pad}");
        g.throughput(Throughput::Elements((out_w * kw * ch) as u64));
        let x = bytes(w * ch, 11);
        let wt = weights(kw * ch, 7);
        let stage = Stage::new(ch);
        let mut out = vec![0i8; out_w * ch];
        for path in KernelPath::available() {
            for (rounding, suffix) in ROUNDINGS {
                let st = stage.view(rounding);
                g.bench_function(BenchmarkId::new(format!("{}{suffix}", path.name()), &id), |b| {
                    b.iter(|| depthwise_conv2d(path, &geo, black_box(&x), 1, &wt, None, &st, &mut out).expect("dw"))
                });
            }
        }
    }
    g.finish();
}

fn depthwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("depthwise");
    for &(hw, ch) in &[(56usize, 64usize), (28, 128), (14, 256)] {
        let geo = WindowGeometry {
            in_h: hw,
            in_w: hw,
            in_c: ch,
            out_h: hw,
            out_w: hw,
            kernel_h: 3,
            kernel_w: 3,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 1,
            pad_left: 1,
            depth_multiplier: 1,
        };
        let id = format!("{hw}x{hw}x{ch}_3x3");
        g.throughput(Throughput::Elements((hw * hw * ch * 9) as u64));
        let x = bytes(hw * hw * ch, 3);
        let w = weights(9 * ch, 5);
        let stage = Stage::new(ch);
        let mut out = vec![0i8; hw * hw * ch];
        for path in KernelPath::available() {
            for (rounding, suffix) in ROUNDINGS {
                let st = stage.view(rounding);
                g.bench_function(BenchmarkId::new(format!("{}{suffix}", path.name()), &id), |b| {
                    b.iter(|| depthwise_conv2d(path, &geo, black_box(&x), 1, &w, None, &st, &mut out).expect("dw"))
                });
            }
        }
    }
    g.finish();
}

/// The depthwise layers of the MLPerf Tiny models, prepared once as the engine prepares them
/// (`PreparedDepthwise`), double rounding: `hxwxc_khxkw_s<stride>`, SAME padding where the
/// model pads (kws, vww), VALID where it does not (str_ww's columns).
fn depthwise_models(c: &mut Criterion) {
    let mut g = c.benchmark_group("depthwise-models");
    let shapes: &[(usize, usize, usize, usize, usize, usize, bool)] = &[
        (25, 5, 64, 3, 3, 1, true),
        (48, 48, 8, 3, 3, 1, true),
        (48, 48, 16, 3, 3, 2, true),
        (24, 24, 32, 3, 3, 1, true),
        (12, 12, 64, 3, 3, 1, true),
        (6, 6, 128, 3, 3, 1, true),
        (28, 1, 128, 5, 1, 1, false),
        (24, 1, 128, 10, 1, 1, false),
    ];
    for &(in_h, in_w, ch, kh, kw, s, same) in shapes {
        let (out_h, out_w) = if same { (in_h.div_ceil(s), in_w.div_ceil(s)) } else { (in_h - kh + 1, in_w - kw + 1) };
        let pad = |size: usize, out: usize, k: usize| ((out - 1) * s + k).saturating_sub(size) / 2;
        let geo = WindowGeometry {
            in_h,
            in_w,
            in_c: ch,
            out_h,
            out_w,
            kernel_h: kh,
            kernel_w: kw,
            stride_h: s,
            stride_w: s,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: pad(in_h, out_h, kh),
            pad_left: pad(in_w, out_w, kw),
            depth_multiplier: 1,
        };
        let id = format!("{in_h}x{in_w}x{ch}_{kh}x{kw}_s{s}");
        g.throughput(Throughput::Elements((out_h * out_w * ch * kh * kw) as u64));
        let x = bytes(in_h * in_w * ch, 3);
        let w = weights(kh * kw * ch, 5);
        let stage = Stage::new(ch);
        let st = stage.view(Rounding::Double);
        let mut out = vec![0i8; out_h * out_w * ch];
        for path in KernelPath::available() {
            let layer = PreparedDepthwise::new(path, &geo, &w, -3, None, &st).expect("prepare");
            g.bench_function(BenchmarkId::new(path.name(), &id), |b| {
                b.iter(|| layer.run(black_box(&x), &mut out).expect("dw"))
            });
        }
    }
    g.finish();
}

/// Narrow, deep products (at most 8 columns, depth at least 128): the dot layout.
fn narrow_deep(c: &mut Criterion) {
    gemm_group(c, "narrow-deep", &[(3, 2048, 8)]);
}

/// Products of two activations (`BatchMatMul`: attention scores and values), `batch x m x k x
/// n`: the gas search's worst shape (1025 by 1021 with itself transposed), its runner-up, and
/// attention-sized heads with the right factor either way round.
fn activation_products(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch-matmul");
    let shapes = [
        (1, 1025, 1021, 1025, true),
        (2, 127, 254, 127, true),
        (4, 64, 64, 64, true),
        (4, 64, 64, 64, false),
        (1, 1, 1024, 1024, false),
        // Many tiny products: the per-batch cost (the gas search's worst, 16382x1x1 times itself
        // transposed, ran at 3.1x ecrecover's time per gas).
        (16_382, 1, 1, 1, true),
        (4096, 2, 8, 2, false),
        // Either side of the plain loops' bounds (256 MACs a batch by columns, 128 by rows).
        (8192, 1, 65, 1, true),
        (4096, 3, 8, 3, false),
        (2048, 4, 16, 4, false),
        (2048, 1, 256, 1, true),
        (1024, 8, 8, 8, true),
        (1024, 8, 8, 8, false),
        (512, 16, 16, 16, false),
        (512, 16, 16, 16, true),
        // One column stored by rows (the gas search's worst after the fix, on amx).
        (1, 1, 32_767, 1, false),
        (1, 1, 32_767, 3, false),
        (1, 4, 8192, 5, false),
        (1, 4, 8192, 17, false),
    ];
    for (batch, m, k, n, transpose_rhs) in shapes {
        let shape = ActivationProduct { batch, m, k, n, transpose_rhs, lhs_zero_point: 5, rhs_zero_point: -7 };
        let lhs = bytes(batch * m * k, 1);
        let rhs = bytes(batch * k * n, 2);
        let mut out = vec![0i8; batch * m * n];
        let st = Stage::new(1);
        let stage = st.view(Rounding::Double);
        let id = format!("{batch}x{m}x{k}x{n}{}", if transpose_rhs { "-t" } else { "" });
        g.throughput(Throughput::Elements((batch * m * k * n) as u64));
        for path in KernelPath::available() {
            g.bench_function(BenchmarkId::new(path.name(), &id), |b| {
                b.iter(|| batch_matmul(path, &shape, black_box(&lhs), black_box(&rhs), &stage, &mut out).expect("bmm"))
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    // candle's CPU matmul parallelises over rayon's pool; the int8 kernels run on one core,
    // so the baseline does too.
    // SAFETY: set before any thread is started (criterion and candle start none before this).
    unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = matvec, conv, big_gemm, depthwise, depthwise_models, adversarial, narrow_deep, activation_products }
criterion_main!(benches);
