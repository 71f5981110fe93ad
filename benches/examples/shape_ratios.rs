//! Times the adversarial shapes (single rows, very wide kernels and pooling windows, tiny
//! and huge channel counts) on every kernel path this CPU has, in one run, and prints each
//! path's time over the reference's: a ratio above 1.00 is a shape where the "fast" path is
//! slower than the scalar specification (which gas must then be priced by).
//!
//! Run: `cargo run --release -p aiop-benches --example shape_ratios` (add `full` for the
//! 1x65536 input / 1x8192 kernel sizes of the gas note; the default scales the row down 4x
//! so that the reference finishes quickly, which keeps the shape's character).

use std::hint::black_box;
use std::time::{Duration, Instant};

use aiop_engine::model::Clamp;
use aiop_engine::ops::{fast, reference};
use aiop_engine::validate::Geometry;
use aiop_kernels::{KernelPath, OutputStage, PackedMatrix, Rounding, WindowGeometry};

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

/// Best of several runs (at least 3, then until 0.3 s have passed or 50 runs).
fn time(mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    let start = Instant::now();
    let mut runs = 0;
    while runs < 3 || (start.elapsed() < Duration::from_millis(300) && runs < 50) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        runs += 1;
    }
    best
}

/// A 1-row image geometry: `[1, w, c]` input, `1 x kw` window, stride 1, `pad` on the left
/// (and as much on the right: output width `w + 2 * pad - kw + 1`).
fn row(w: usize, c: usize, cols: usize, kw: usize, pad: usize, dm: usize) -> Geometry {
    let out_w = w + 2 * pad - kw + 1;
    Geometry {
        rows: out_w,
        depth: kw * c,
        cols,
        out_len: out_w * cols,
        window: WindowGeometry {
            in_h: 1,
            in_w: w,
            in_c: c,
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
            depth_multiplier: dm,
        },
    }
}

fn square(hw: usize, c: usize, k: usize) -> Geometry {
    Geometry {
        rows: hw * hw,
        depth: k * k * c,
        cols: c,
        out_len: hw * hw * c,
        window: WindowGeometry {
            in_h: hw,
            in_w: hw,
            in_c: c,
            out_h: hw,
            out_w: hw,
            kernel_h: k,
            kernel_w: k,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: k / 2,
            pad_left: k / 2,
            depth_multiplier: 1,
        },
    }
}

enum Case {
    Depthwise(Geometry),
    Conv(Geometry),
    Fc(Geometry),
    MaxPool(Geometry),
    AvgPool(Geometry),
}

fn stage_for(n: usize) -> (Vec<i32>, Vec<i8>) {
    ((0..n).map(|i| (1 << 30) + (i as i32) * 4099).collect(), vec![-12; n])
}

fn run_case(case: &Case, path: KernelPath, rounding: Rounding) -> Duration {
    const CLAMP: Clamp = Clamp { min: -128, max: 127 };
    match case {
        Case::Depthwise(g) | Case::Conv(g) | Case::Fc(g) => {
            let (mult, shift) = stage_for(g.cols);
            let st = OutputStage {
                multiplier: &mult,
                shift: &shift,
                output_zero_point: -3,
                clamp_min: -128,
                clamp_max: 127,
                rounding,
            };
            let bias: Vec<i32> = (0..g.cols as i32).map(|i| i * 37 - 500).collect();
            let mut out = vec![0i8; g.out_len];
            match case {
                Case::Depthwise(g) => {
                    let x = bytes(g.window.in_h * g.window.in_w * g.window.in_c, 11);
                    let w: Vec<i8> =
                        bytes(g.window.kernel_h * g.window.kernel_w * g.cols, 7).iter().map(|&v| v.max(-127)).collect();
                    time(|| {
                        if path == KernelPath::Reference {
                            aiop_kernels::reference::depthwise_conv2d(
                                &g.window,
                                black_box(&x),
                                5,
                                &w,
                                Some(&bias),
                                &st,
                                &mut out,
                            );
                        } else {
                            aiop_kernels::depthwise_conv2d(
                                path,
                                &g.window,
                                black_box(&x),
                                5,
                                &w,
                                Some(&bias),
                                &st,
                                &mut out,
                            )
                            .unwrap();
                        }
                    })
                }
                _ => {
                    let fc = matches!(case, Case::Fc(_));
                    let x =
                        bytes(if fc { g.rows * g.depth } else { g.window.in_h * g.window.in_w * g.window.in_c }, 11);
                    let w: Vec<i8> = bytes(g.cols * g.depth, 7).iter().map(|&v| v.max(-127)).collect();
                    let packed =
                        (path != KernelPath::Reference).then(|| PackedMatrix::pack(path, &w, g.cols, g.depth).unwrap());
                    time(|| match (&packed, fc) {
                        (None, true) => aiop_kernels::reference::qgemm(
                            &w,
                            g.cols,
                            g.depth,
                            black_box(&x),
                            g.rows,
                            5,
                            Some(&bias),
                            &st,
                            &mut out,
                        ),
                        (None, false) => aiop_kernels::reference::conv2d(
                            &g.window,
                            g.cols,
                            black_box(&x),
                            5,
                            &w,
                            Some(&bias),
                            &st,
                            &mut out,
                        ),
                        (Some(p), true) => {
                            aiop_kernels::qgemm(p, black_box(&x), g.rows, 5, Some(&bias), &st, &mut out).unwrap()
                        }
                        (Some(p), false) => fast::conv2d(g, p, black_box(&x), 5, Some(&bias), &st, &mut out).unwrap(),
                    })
                }
            }
        }
        Case::MaxPool(g) | Case::AvgPool(g) => {
            let x = bytes(g.window.in_h * g.window.in_w * g.window.in_c, 11);
            let mut out = vec![0i8; g.out_len];
            let max = matches!(case, Case::MaxPool(_));
            time(|| match (path == KernelPath::Reference, max) {
                (true, true) => reference::max_pool2d(g, black_box(&x), CLAMP, &mut out),
                (true, false) => reference::average_pool2d(g, black_box(&x), CLAMP, &mut out),
                (false, true) => fast::max_pool2d(g, black_box(&x), CLAMP, &mut out),
                (false, false) => fast::average_pool2d(g, black_box(&x), CLAMP, &mut out),
            })
        }
    }
}

fn pool(w: usize, c: usize, kw: usize, pad: usize) -> Geometry {
    Geometry { out_len: (w + 2 * pad - kw + 1) * c, ..row(w, c, c, kw, pad, 1) }
}

fn main() {
    let full = std::env::args().any(|a| a == "full");
    let (w, kw) = if full { (65536, 8192) } else { (16384, 2048) };
    let mut cases: Vec<(String, Case)> = Vec::new();
    for c in [1, 3, 8, 17, 40] {
        cases.push((format!("dw [1,{w},{c}] 1x{kw} valid"), Case::Depthwise(row(w, c, c, kw, 0, 1))));
    }
    for c in [1, 16] {
        cases.push((format!("dw [1,{w},{c}] 1x{kw} same"), Case::Depthwise(row(w, c, c, kw, kw / 2, 1))));
    }
    cases.push((format!("dw [1,{w},3] 1x{kw} dm 4"), Case::Depthwise(row(w, 3, 12, kw, 0, 4))));
    cases.push(("dw [56,56,3] 3x3".into(), Case::Depthwise(square(56, 3, 3))));
    cases.push(("dw [56,56,64] 3x3".into(), Case::Depthwise(square(56, 64, 3))));
    for (c, n) in [(1, 1), (1, 8), (3, 4)] {
        cases.push((format!("conv [1,{w},{c}] 1x{kw} -> {n}"), Case::Conv(row(w, c, n, kw, 0, 1))));
    }
    cases.push((
        "conv [28,28,8] 3x3 -> 16".into(),
        Case::Conv(Geometry { cols: 16, out_len: 784 * 16, ..square(28, 8, 3) }),
    ));
    let fc =
        |m: usize, k: usize, n: usize| Geometry { rows: m, depth: k, cols: n, out_len: m * n, ..Geometry::default() };
    cases.push(("fc 1x1x100000 (K=1)".into(), Case::Fc(fc(1, 1, 100_000))));
    cases.push(("fc 1x2x100000".into(), Case::Fc(fc(1, 2, 100_000))));
    cases.push(("fc 1x100000x1".into(), Case::Fc(fc(1, 100_000, 1))));
    let pw = 15000;
    for c in [1, 3, 16] {
        cases.push((format!("maxpool [1,{pw},{c}] 1x{pw} valid"), Case::MaxPool(pool(pw, c, pw, 0))));
        cases.push((format!("avgpool [1,{pw},{c}] 1x{pw} valid"), Case::AvgPool(pool(pw, c, pw, 0))));
    }
    for c in [1, 8] {
        cases.push((format!("maxpool [1,{pw},{c}] 1x{pw} same"), Case::MaxPool(pool(pw, c, pw - 1, pw / 2 - 1))));
        cases.push((format!("avgpool [1,{pw},{c}] 1x{pw} same"), Case::AvgPool(pool(pw, c, pw - 1, pw / 2 - 1))));
    }
    let paths: Vec<KernelPath> = KernelPath::available().collect();
    print!("{:<40} {:>12}", "shape", "reference");
    for p in &paths[1..] {
        print!(" {:>14} {:>14}", format!("{} ratio", p.name()), "double ratio");
    }
    println!();
    let mut worst: f64 = 0.0;
    for (name, case) in &cases {
        let reference = [Rounding::Single, Rounding::Double].map(|r| run_case(case, KernelPath::Reference, r));
        print!("{name:<40} {:>10.3}ms", reference[0].as_secs_f64() * 1e3);
        for &p in &paths[1..] {
            for (i, rounding) in [Rounding::Single, Rounding::Double].into_iter().enumerate() {
                let (t, reference) = (run_case(case, p, rounding), reference[i]);
                let ratio = t.as_secs_f64() / reference.as_secs_f64();
                worst = worst.max(ratio);
                print!(" {:>14}", format!("{ratio:.3}{}", if ratio > 1.0 { " SLOW" } else { "" }));
            }
        }
        println!();
    }
    println!(
        "worst path/reference ratio: {worst:.3} (each ratio is over the reference with the same rounding; the reference column is single rounding)"
    );
}
