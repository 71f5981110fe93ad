//! Every available kernel path against the scalar reference, bit for bit: `qgemm` (matrix-
//! vector and GEMM), `qgemm_gathered` (rows read in place from runs of a source), depthwise
//! convolution, the product of two activations and the output stage, over random shapes, zero points, multipliers, the full
//! shift range, bias and clamps, plus edge values.
//!
//! Every case runs with both requantization rules ([`Rounding::Single`] and
//! [`Rounding::Double`]); each test prints (to stderr, shown with `--nocapture`) the kernel
//! paths it ran on this CPU.
//!
//! The normal run checks thousands of cases; the `#[ignore]`d `soak_*` tests check millions:
//! `cargo test -p aiop-kernels --release -- --ignored soak` (set `AIOP_SOAK_CASES` to change
//! the count per soak test, default 1,000,000).

use std::collections::BTreeSet;
use std::sync::Mutex;

use aiop_kernels::{
    ActivationProduct, KernelPath, OutputStage, PackedMatrix, PreparedDepthwise, Rounding, WindowGeometry,
    batch_matmul, depthwise_conv2d, qgemm, qgemm_gathered, reference, requantize_block, requantize_double,
    requantize_term_sums, requantize_uniform,
};
use proptest::prelude::*;

/// Both rules; every equality check runs each case under each.
const ROUNDINGS: [Rounding; 2] = [Rounding::Single, Rounding::Double];

/// The paths this CPU runs, announced once per test (on stderr) so a run shows what it
/// actually covered: a machine without AVX-512 silently tests less.
fn paths(test: &'static str) -> Vec<KernelPath> {
    static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let paths: Vec<KernelPath> = KernelPath::available().collect();
    if SEEN.lock().map(|mut seen| seen.insert(test)).unwrap_or(false) {
        let names: Vec<&str> = paths.iter().map(|p| p.name()).collect();
        let missing: Vec<&str> = KernelPath::ALL.iter().filter(|p| !paths.contains(p)).map(|p| p.name()).collect();
        eprintln!("{test}: kernel paths run on this CPU: {names:?}; not available here: {missing:?}");
    }
    paths
}

#[derive(Debug, Clone)]
struct Stage {
    multiplier: Vec<i32>,
    shift: Vec<i8>,
    zero_point: i32,
    lo: i8,
    hi: i8,
}

impl Stage {
    fn view(&self, rounding: Rounding) -> OutputStage<'_> {
        OutputStage {
            multiplier: &self.multiplier,
            shift: &self.shift,
            output_zero_point: self.zero_point,
            clamp_min: self.lo,
            clamp_max: self.hi,
            rounding,
        }
    }
}

/// Multipliers are drawn over the whole Q31 range and near its ends; shifts over [-31, 30]
/// with the extremes weighted up; now and then an out-of-range argument, which every path
/// must clamp as the scalar rules do.
fn stage(n: usize) -> impl Strategy<Value = Stage> {
    let mult = prop_oneof![
        10 => 0..=i32::MAX,
        10 => (1 << 30)..=i32::MAX,
        3 => Just(i32::MAX),
        3 => Just(0),
        3 => Just(1 << 30),
        1 => i32::MIN..0,
    ];
    let shift = prop_oneof![
        10 => -31i8..=30,
        3 => Just(-31i8),
        3 => Just(30i8),
        10 => -2i8..=2,
        1 => any::<i8>(),
    ];
    let zp = prop_oneof![-128i32..=127, Just(-128), Just(127)];
    (prop::collection::vec(mult, n), prop::collection::vec(shift, n), zp, any::<i8>(), any::<i8>()).prop_map(
        |(multiplier, shift, zero_point, a, b)| Stage { multiplier, shift, zero_point, lo: a.min(b), hi: a.max(b) },
    )
}

fn weights(len: usize) -> impl Strategy<Value = Vec<i8>> {
    prop::collection::vec(prop_oneof![-127i8..=127, Just(-127i8), Just(127i8)], len)
}

fn activations(len: usize) -> impl Strategy<Value = Vec<i8>> {
    prop::collection::vec(prop_oneof![any::<i8>(), Just(i8::MIN), Just(i8::MAX)], len)
}

#[derive(Debug, Clone)]
struct Gemm {
    m: usize,
    n: usize,
    k: usize,
    w: Vec<i8>,
    x: Vec<i8>,
    zp: i32,
    bias: Option<Vec<i32>>,
    stage: Stage,
}

fn gemm_case(max_m: usize, max_n: usize, max_k: usize) -> impl Strategy<Value = Gemm> {
    gemm_case_in(1..=max_m, 1..=max_n, 0..=max_k)
}

fn gemm_case_in(
    m: std::ops::RangeInclusive<usize>,
    n: std::ops::RangeInclusive<usize>,
    k: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Gemm> {
    (m, n, k).prop_flat_map(|(m, n, k)| {
        let bias = prop::option::of(prop::collection::vec(-(1i32 << 20)..(1 << 20), n));
        (weights(n * k), activations(m * k), prop_oneof![-128i32..=127, Just(-128), Just(127)], bias, stage(n))
            .prop_map(move |(w, x, zp, bias, stage)| Gemm { m, n, k, w, x, zp, bias, stage })
    })
}

fn check_gemm(test: &'static str, c: &Gemm) -> Result<(), TestCaseError> {
    for rounding in ROUNDINGS {
        let st = c.stage.view(rounding);
        let mut want = vec![0i8; c.m * c.n];
        reference::qgemm(&c.w, c.n, c.k, &c.x, c.m, c.zp, c.bias.as_deref(), &st, &mut want);
        for path in paths(test) {
            let packed = PackedMatrix::pack(path, &c.w, c.n, c.k).expect("pack");
            // As packed; with this call's stage prepared; with a stage prepared for another
            // input zero point, and for another output zero point (far enough to change the
            // form of the AVX2 stage's constants), which the call must not use.
            let mut prepared = packed.clone();
            prepared.prepare_stage(c.zp, c.bias.as_deref(), &st).expect("prepare_stage");
            let mut stale = packed.clone();
            stale.prepare_stage(c.zp.wrapping_add(1), c.bias.as_deref(), &st).expect("prepare_stage");
            let other_output = OutputStage { output_zero_point: st.output_zero_point.wrapping_add(1 << 20), ..st };
            let mut stale_output = packed.clone();
            stale_output.prepare_stage(c.zp, c.bias.as_deref(), &other_output).expect("prepare_stage");
            let matrices =
                [("packed", &packed), ("prepared", &prepared), ("stale", &stale), ("stale output", &stale_output)];
            for (how, matrix) in matrices {
                let mut got = vec![0i8; c.m * c.n];
                qgemm(matrix, &c.x, c.m, c.zp, c.bias.as_deref(), &st, &mut got).expect("qgemm");
                prop_assert_eq!(&got, &want, "path {} {:?} {} m={} n={} k={}", path, rounding, how, c.m, c.n, c.k);
            }
            // The prepared arguments as the matrix hands them back (its own slices, which the
            // kernel does not compare): the ones it was given, and the same bytes.
            if let Some((zp, bias, own)) = prepared.prepared_stage() {
                prop_assert_eq!((zp, bias, own), (c.zp, c.bias.as_deref(), st));
                let mut got = vec![0i8; c.m * c.n];
                qgemm(&prepared, &c.x, c.m, zp, bias, &own, &mut got).expect("qgemm");
                prop_assert_eq!(&got, &want, "path {} {:?} own slices m={} n={} k={}", path, rounding, c.m, c.n, c.k);
            }
        }
    }
    Ok(())
}

/// A product whose rows are runs of a source (the image, then `extra`), as a convolution
/// reads its kernel rows in place.
#[derive(Debug, Clone)]
struct Gathered {
    gemm: Gemm,
    image: Vec<i8>,
    extra: Vec<i8>,
    offsets: Vec<usize>,
    segment_len: usize,
}

/// Run lengths around the paths' group sizes and the in-place threshold (16), one to four
/// runs per row, runs anywhere in the source (straddling the image's end too), rows around
/// the 4-row tile and columns across panels.
fn gathered_case() -> impl Strategy<Value = Gathered> {
    let len = prop_oneof![1usize..=20, Just(16), Just(24), Just(32), Just(48), Just(64), Just(96)];
    (1usize..=11, 1usize..=80, 1usize..=4, len, 0usize..=300, 0usize..=120).prop_flat_map(
        |(m, n, segments, segment_len, image_len, extra_len)| {
            let k = segments * segment_len;
            let total = (image_len + extra_len).max(segment_len);
            let image_len = total - extra_len.min(total);
            let offsets = prop::collection::vec(0..=total - segment_len, m * segments);
            (gemm_case_in(m..=m, n..=n, k..=k), activations(image_len), activations(total - image_len), offsets)
                .prop_map(move |(gemm, image, extra, offsets)| Gathered { gemm, image, extra, offsets, segment_len })
        },
    )
}

fn check_gathered(test: &'static str, c: &Gathered) -> Result<(), TestCaseError> {
    let g = &c.gemm;
    let source: Vec<i8> = c.image.iter().chain(&c.extra).copied().collect();
    let lhs: Vec<i8> = c.offsets.iter().flat_map(|&o| source[o..o + c.segment_len].iter().copied()).collect();
    for rounding in ROUNDINGS {
        let st = g.stage.view(rounding);
        let mut want = vec![0i8; g.m * g.n];
        reference::qgemm(&g.w, g.n, g.k, &lhs, g.m, g.zp, g.bias.as_deref(), &st, &mut want);
        for path in paths(test) {
            let mut packed = PackedMatrix::pack(path, &g.w, g.n, g.k).expect("pack");
            for how in ["packed", "prepared"] {
                if how == "prepared" {
                    packed.prepare_stage(g.zp, g.bias.as_deref(), &st).expect("prepare_stage");
                }
                let mut got = vec![0i8; g.m * g.n];
                let source = (c.image.as_slice(), c.extra.as_slice());
                qgemm_gathered(&packed, source, &c.offsets, c.segment_len, g.m, g.zp, g.bias.as_deref(), &st, &mut got)
                    .expect("qgemm_gathered");
                let (m, n, k, len) = (g.m, g.n, g.k, c.segment_len);
                prop_assert_eq!(
                    &got,
                    &want,
                    "path {} {:?} {} m={} n={} k={} run={}",
                    path,
                    rounding,
                    how,
                    m,
                    n,
                    k,
                    len
                );
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Dw {
    g: WindowGeometry,
    x: Vec<i8>,
    w: Vec<i8>,
    zp: i32,
    bias: Option<Vec<i32>>,
    stage: Stage,
}

fn dw_case() -> impl Strategy<Value = Dw> {
    (
        1usize..=9,
        1usize..=9,
        1usize..=40,
        1usize..=3,
        1usize..=4,
        1usize..=4,
        1usize..=3,
        1usize..=3,
        1usize..=2,
        1usize..=2,
        0usize..=2,
        0usize..=2,
    )
        .prop_flat_map(|(in_h, in_w, in_c, dm, kh, kw, sh, sw, dh, dw, pt, pl)| {
            let out_h = (in_h + 2 * pt).saturating_sub(dh * (kh - 1) + 1) / sh + 1;
            let out_w = (in_w + 2 * pl).saturating_sub(dw * (kw - 1) + 1) / sw + 1;
            let g = WindowGeometry {
                in_h,
                in_w,
                in_c,
                out_h,
                out_w,
                kernel_h: kh,
                kernel_w: kw,
                stride_h: sh,
                stride_w: sw,
                dilation_h: dh,
                dilation_w: dw,
                pad_top: pt,
                pad_left: pl,
                depth_multiplier: dm,
            };
            let cols = in_c * dm;
            let bias = prop::option::of(prop::collection::vec(-(1i32 << 20)..(1 << 20), cols));
            (
                activations(in_h * in_w * in_c),
                weights(kh * kw * cols),
                prop_oneof![-128i32..=127, Just(-128), Just(127)],
                bias,
                stage(cols),
            )
                .prop_map(move |(x, w, zp, bias, stage)| Dw { g, x, w, zp, bias, stage })
        })
}

/// Single rows (or single columns) with wide kernels: in_w up to 300, kernel_w up to 160,
/// padding up to the kernel width, channel counts 1..=40 with depth multipliers 1..=3, so
/// the scalar range kernel, the vector blocks and their tails all see windows clipped on
/// either side, on both sides, and not at all.
fn dw_wide_case() -> impl Strategy<Value = Dw> {
    (1usize..=2, 1usize..=300, 1usize..=40, 1usize..=3, 1usize..=160, 1usize..=3, 1usize..=3, 0usize..=1, any::<bool>())
        .prop_flat_map(|(in_h, in_w, in_c, dm, kw, sw, dw, pad_sel, transpose)| {
            let pl = [0, kw / 2, kw][pad_sel + usize::from(kw % 3 == 0)];
            let out_w = (in_w + 2 * pl).saturating_sub(dw * (kw - 1) + 1) / sw + 1;
            let mut g = WindowGeometry {
                in_h,
                in_w,
                in_c,
                out_h: in_h,
                out_w,
                kernel_h: 1,
                kernel_w: kw,
                stride_h: 1,
                stride_w: sw,
                dilation_h: 1,
                dilation_w: dw,
                pad_top: 0,
                pad_left: pl,
                depth_multiplier: dm,
            };
            if transpose {
                // The same problem down a single column.
                g = WindowGeometry {
                    in_h: g.in_w,
                    in_w: g.in_h,
                    out_h: g.out_w,
                    out_w: g.out_h,
                    kernel_h: g.kernel_w,
                    kernel_w: 1,
                    stride_h: g.stride_w,
                    stride_w: 1,
                    dilation_h: g.dilation_w,
                    dilation_w: 1,
                    pad_top: g.pad_left,
                    pad_left: 0,
                    ..g
                };
            }
            let cols = in_c * dm;
            let bias = prop::option::of(prop::collection::vec(-(1i32 << 20)..(1 << 20), cols));
            (
                activations(g.in_h * g.in_w * in_c),
                weights(g.kernel_h * g.kernel_w * cols),
                prop_oneof![-128i32..=127, Just(-128), Just(127)],
                bias,
                stage(cols),
            )
                .prop_map(move |(x, w, zp, bias, stage)| Dw { g, x, w, zp, bias, stage })
        })
}

fn check_dw(test: &'static str, c: &Dw) -> Result<(), TestCaseError> {
    let cols = c.g.in_c * c.g.depth_multiplier;
    let len = c.g.out_h * c.g.out_w * cols;
    for rounding in ROUNDINGS {
        let st = c.stage.view(rounding);
        let mut want = vec![0i8; len];
        reference::depthwise_conv2d(&c.g, &c.x, c.zp, &c.w, c.bias.as_deref(), &st, &mut want);
        for path in paths(test) {
            let mut got = vec![0i8; len];
            depthwise_conv2d(path, &c.g, &c.x, c.zp, &c.w, c.bias.as_deref(), &st, &mut got).expect("depthwise");
            prop_assert_eq!(&got, &want, "path {} {:?} {:?}", path, rounding, c.g);
            // The same layer prepared once, as a loaded model holds it.
            let layer = PreparedDepthwise::new(path, &c.g, &c.w, c.zp, c.bias.as_deref(), &st).expect("prepare");
            let mut got = vec![0i8; len];
            layer.run(&c.x, &mut got).expect("prepared depthwise");
            prop_assert_eq!(&got, &want, "prepared, path {} {:?} {:?}", path, rounding, c.g);
        }
    }
    Ok(())
}

/// Accumulators over the whole i32 range (the kernels' stage must saturate exactly like
/// `requantize`), output zero points over the whole i32 range too.
fn requant_case() -> impl Strategy<Value = (Vec<i32>, usize, Stage)> {
    (1usize..=4, 1usize..=70).prop_flat_map(|(rows, ch)| {
        let acc = prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), -1000i32..1000];
        let wide_zp = prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), -128i32..=127];
        (prop::collection::vec(acc, rows * ch), stage(ch), wide_zp).prop_map(move |(acc, mut st, zp)| {
            st.zero_point = zp;
            (acc, ch, st)
        })
    })
}

fn check_requant(test: &'static str, acc: &[i32], ch: usize, s: &Stage) -> Result<(), TestCaseError> {
    for rounding in ROUNDINGS {
        let st = s.view(rounding);
        let want: Vec<i8> = acc.iter().enumerate().map(|(i, &a)| st.apply(a, i % ch)).collect();
        for path in paths(test) {
            let mut got = vec![0i8; acc.len()];
            requantize_block(path, acc, ch, &st, &mut got).expect("requantize_block");
            prop_assert_eq!(&got, &want, "path {} {:?}", path, rounding);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Matrix-vector (m = 1), the batch-1 case, including k not a multiple of 2 or 4 and odd n.
    #[test]
    fn qgemm_matrix_vector_matches_reference(c in gemm_case(1, 80, 140)) {
        check_gemm("qgemm_matrix_vector_matches_reference", &c)?;
    }

    /// GEMM with row counts around the 4-row tile.
    #[test]
    fn qgemm_gemm_matches_reference(c in gemm_case(11, 70, 70)) {
        check_gemm("qgemm_gemm_matches_reference", &c)?;
    }

    /// Rows gathered from runs of a source (a convolution's kernel rows read in place).
    #[test]
    fn qgemm_gathered_matches_reference(c in gathered_case()) {
        check_gathered("qgemm_gathered_matches_reference", &c)?;
    }

    /// Narrow, deep matrices (the AVX-512 dot layout: at most 8 columns, depth >= 128).
    #[test]
    fn qgemm_narrow_deep_matches_reference(c in gemm_case_in(1..=5, 1..=9, 120..=700)) {
        check_gemm("qgemm_narrow_deep_matches_reference", &c)?;
    }

    #[test]
    fn depthwise_matches_reference(c in dw_case()) {
        check_dw("depthwise_matches_reference", &c)?;
    }

    /// Shallow products over many columns (K = 1 fully connected: the scalar route for tiny
    /// `m * k`), and just above that threshold.
    #[test]
    fn qgemm_shallow_wide_matches_reference(c in gemm_case_in(1..=12, 1..=300, 0..=5)) {
        check_gemm("qgemm_shallow_wide_matches_reference", &c)?;
    }

    /// One to eight columns over deep rows (the AVX2 dot route), depths around its 16- and
    /// 64-byte steps.
    #[test]
    fn qgemm_single_column_deep_matches_reference(c in gemm_case_in(1..=3, 1..=8, 120..=1100)) {
        check_gemm("qgemm_single_column_deep_matches_reference", &c)?;
    }

    #[test]
    fn requantize_matches_scalar(case in requant_case()) {
        let (acc, ch, st) = case;
        check_requant("requantize_matches_scalar", &acc, ch, &st)?;
    }

    /// One stage for every element (lengths around the vector widths and their tails).
    #[test]
    fn requantize_uniform_matches_scalar(case in requant_case()) {
        let (acc, _, s) = case;
        let one = Stage { multiplier: s.multiplier[..1].to_vec(), shift: s.shift[..1].to_vec(), ..s };
        for rounding in ROUNDINGS {
            let st = one.view(rounding);
            let want: Vec<i8> = acc.iter().map(|&a| st.apply(a, 0)).collect();
            for path in paths("requantize_uniform_matches_scalar") {
                let mut got = vec![0i8; acc.len()];
                requantize_uniform(path, &acc, &st, &mut got).expect("requantize_uniform");
                prop_assert_eq!(&got, &want, "path {} {:?}", path, rounding);
            }
        }
    }
}

/// A product of two activations deep enough that a block holds fewer than 64 right columns
/// (depths to 1,300), with the right factor either way round.
fn product_case() -> impl Strategy<Value = (ActivationProduct, Vec<i8>, Vec<i8>, Stage)> {
    (1usize..=2, 1usize..=9, 0usize..=1300, 1usize..=80, any::<bool>()).prop_flat_map(
        |(batch, m, k, n, transpose_rhs)| {
            let zp = || prop_oneof![-128i32..=127, Just(-128), Just(127)];
            (activations(batch * m * k), activations(batch * k * n), zp(), zp(), stage(1)).prop_map(
                move |(lhs, rhs, lhs_zero_point, rhs_zero_point, st)| {
                    let shape = ActivationProduct { batch, m, k, n, transpose_rhs, lhs_zero_point, rhs_zero_point };
                    (shape, lhs, rhs, st)
                },
            )
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// `BatchMatMul`: every path equals the reference.
    #[test]
    fn batch_matmul_matches_reference(case in product_case()) {
        let (shape, lhs, rhs, s) = case;
        for rounding in ROUNDINGS {
            let st = s.view(rounding);
            let mut want = vec![0i8; shape.batch * shape.m * shape.n];
            reference::batch_matmul(&shape, &lhs, &rhs, &st, &mut want);
            for path in paths("batch_matmul_matches_reference") {
                let mut got = vec![0x55i8; want.len()];
                batch_matmul(path, &shape, &lhs, &rhs, &st, &mut got).expect("batch_matmul");
                prop_assert_eq!(&got, &want, "path {} {:?} {:?}", path, shape, rounding);
            }
        }
    }
}

/// Two tables of 256 terms over the whole `i32` range (so the wrapping sum acts), byte inputs
/// of lengths around the 64-element lookups, and one stage.
fn term_sums_case() -> impl Strategy<Value = (Vec<i32>, Vec<i32>, Vec<i8>, Vec<i8>, Stage)> {
    let term = prop_oneof![6 => any::<i32>(), 3 => -(1i32 << 28)..(1 << 28), 1 => Just(i32::MIN), 1 => Just(i32::MAX)];
    let tables = (prop::collection::vec(term.clone(), 256), prop::collection::vec(term, 256));
    (tables, 0usize..300, stage(1)).prop_flat_map(|((lt, rt), len, st)| {
        let bytes = || prop::collection::vec(any::<i8>(), len);
        (Just(lt), Just(rt), bytes(), bytes(), Just(st))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// `Add`'s lookups and stage in one pass: every path equals the definition.
    #[test]
    fn requantize_term_sums_matches_scalar(case in term_sums_case()) {
        let (lt, rt, a, b, s) = case;
        let (lt, rt): ([i32; 256], [i32; 256]) = (lt.try_into().expect("256"), rt.try_into().expect("256"));
        for rounding in ROUNDINGS {
            let st = s.view(rounding);
            let want: Vec<i8> = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| st.apply(lt[usize::from(x as u8)].wrapping_add(rt[usize::from(y as u8)]), 0))
                .collect();
            for path in paths("requantize_term_sums_matches_scalar") {
                let mut got = vec![0x55i8; a.len()];
                requantize_term_sums(path, &lt, &rt, &a, &b, &st, &mut got).expect("requantize_term_sums");
                prop_assert_eq!(&got, &want, "path {} {:?}", path, rounding);
            }
        }
    }
}

proptest! {
    // Each case is up to ~2M MACs on the reference: fewer cases than the small shapes.
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Wide kernels over single rows and columns, channel counts 1..=40.
    #[test]
    fn depthwise_wide_single_row_matches_reference(c in dw_wide_case()) {
        check_dw("depthwise_wide_single_row_matches_reference", &c)?;
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Products large enough for the `amx` path's tiles (2^19 multiply-accumulates and more):
    /// 64 to 96 rows (two or three blocks of 32, the last partial), 40 to 130 columns (panels
    /// ending in one to four column blocks), depths of four to eleven tiles with and without
    /// a tail. On other paths, more cases of their own kernels.
    #[test]
    fn qgemm_on_amx_tiles_matches_reference(c in gemm_case_in(64..=96, 40..=130, 250..=700)) {
        check_gemm("qgemm_on_amx_tiles_matches_reference", &c)?;
    }
}

/// The accumulator bound of the crate's precondition: `K * 127 * 255 + |bias| = i32::MAX`
/// exactly in magnitude, with every product at its extreme, both signs.
#[test]
fn qgemm_at_accumulator_bound() {
    let bias_mag = i32::MAX as usize % (127 * 255);
    let k = (i32::MAX as usize - bias_mag) / (127 * 255);
    for (m, n) in [(2, 17), (1, 2)] {
        for (xv, zp, wv, b) in [
            (i8::MIN, 127, 127i8, -(bias_mag as i32)),
            (i8::MAX, -128, 127, bias_mag as i32),
            (i8::MIN, 127, -127, bias_mag as i32),
        ] {
            let w = vec![wv; n * k];
            let x = vec![xv; m * k];
            let bias = vec![b; n];
            for ((mult, shift), rounding) in [(i32::MAX, 30i8), (1 << 30, 1), (i32::MAX, -31), (1 << 30, -20)]
                .into_iter()
                .flat_map(|ms| ROUNDINGS.map(|r| (ms, r)))
            {
                let s =
                    Stage { multiplier: vec![mult; n], shift: vec![shift; n], zero_point: 0, lo: i8::MIN, hi: i8::MAX };
                let st = s.view(rounding);
                let mut want = vec![0i8; m * n];
                reference::qgemm(&w, n, k, &x, m, zp, Some(&bias), &st, &mut want);
                for path in paths("qgemm_at_accumulator_bound") {
                    let packed = PackedMatrix::pack(path, &w, n, k).unwrap();
                    let mut got = vec![0i8; m * n];
                    qgemm(&packed, &x, m, zp, Some(&bias), &st, &mut got).unwrap();
                    assert_eq!(got, want, "path {path} {rounding:?} x={xv} zp={zp} w={wv}");
                }
            }
        }
    }
}

/// Accumulators where rounding and overflow bugs live: the ends of `i32`, powers of two, their
/// neighbours and `3 * 2^k` (exact halves at every shift for the multiplier `2^30`), and the
/// `-2^30` product threshold of the high multiply, each with both signs.
fn extreme_accumulators() -> Vec<i32> {
    let mut accs: Vec<i32> = (0..31)
        .flat_map(|k| {
            let p = 1i32 << k;
            [p, p - 1, p + 1, p.wrapping_mul(3)]
        })
        .chain([i32::MIN, i32::MIN + 1, i32::MAX, i32::MAX - 1, 0, (1 << 30) + 1, 5, 7, 1000])
        .flat_map(|v| [v, v.wrapping_neg()])
        .collect();
    accs.sort_unstable();
    accs.dedup();
    accs
}

/// Multipliers at and around 0, 1, 0.5 and the top of the Q31 range, and two out-of-range
/// values (clamped to 0).
const EXTREME_MULTIPLIERS: [i32; 10] =
    [0, 1, 2, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, i32::MAX - 1, i32::MAX, -1, i32::MIN];

/// Every valid shift and four out-of-range ones (clamped to -31 or 30).
fn extreme_shifts() -> impl Iterator<Item = i8> {
    (-31i8..=30).chain([-32, 31, i8::MIN, i8::MAX])
}

/// Double rounding through `requantize_block` at the extremes, against `requantize_double`
/// itself. Each (accumulator, multiplier, shift) runs in its own block with the output zero
/// point chosen as minus the expected scaled value, so the `i8` output shows any error of the
/// `i32` value (it must be 0, or -1 where `-i32::MIN` does not fit a zero point); 35 channels
/// are two AVX-512 / four AVX2 vectors and a scalar tail. Then all (multiplier, shift) pairs
/// side by side as the channels of one block, every accumulator a row, under a few zero points.
#[test]
fn requantize_block_double_extremes() {
    const CH: usize = 35;
    let paths = paths("requantize_block_double_extremes");
    let accs = extreme_accumulators();
    let mut cases = 0usize;
    for shift in extreme_shifts() {
        for mult in EXTREME_MULTIPLIERS {
            let (multiplier, shifts) = (vec![mult; CH], vec![shift; CH]);
            for &x in &accs {
                let v = i64::from(requantize_double(x, mult, shift));
                let zp = i32::try_from(-v).unwrap_or(i32::MAX);
                let want = (v + i64::from(zp)).clamp(-128, 127) as i8;
                let st = OutputStage {
                    multiplier: &multiplier,
                    shift: &shifts,
                    output_zero_point: zp,
                    clamp_min: i8::MIN,
                    clamp_max: i8::MAX,
                    rounding: Rounding::Double,
                };
                let acc = vec![x; CH];
                for &path in &paths {
                    let mut got = vec![0x55i8; CH];
                    requantize_block(path, &acc, CH, &st, &mut got).unwrap();
                    assert!(
                        got.iter().all(|&g| g == want),
                        "path {path} x {x} multiplier {mult} shift {shift}: {got:?}, want {want} (scaled {v})"
                    );
                }
                cases += 1;
            }
        }
    }
    let pairs: Vec<(i32, i8)> = extreme_shifts().flat_map(|s| EXTREME_MULTIPLIERS.map(|m| (m, s))).collect();
    let multiplier: Vec<i32> = pairs.iter().map(|p| p.0).collect();
    let shift: Vec<i8> = pairs.iter().map(|p| p.1).collect();
    let acc: Vec<i32> = accs.iter().flat_map(|&x| std::iter::repeat_n(x, pairs.len())).collect();
    for zp in [0, -128, 127, 1000, -1000, i32::MIN, i32::MAX] {
        let st = OutputStage {
            multiplier: &multiplier,
            shift: &shift,
            output_zero_point: zp,
            clamp_min: i8::MIN,
            clamp_max: i8::MAX,
            rounding: Rounding::Double,
        };
        let want: Vec<i8> = acc
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let (m, s) = pairs[i % pairs.len()];
                (i64::from(requantize_double(x, m, s)) + i64::from(zp)).clamp(-128, 127) as i8
            })
            .collect();
        for &path in &paths {
            let mut got = vec![0x55i8; acc.len()];
            requantize_block(path, &acc, pairs.len(), &st, &mut got).unwrap();
            assert!(
                got == want,
                "path {path} zp {zp}: first difference at {:?}",
                got.iter().zip(&want).position(|(g, w)| g != w)
            );
        }
    }
    eprintln!(
        "requantize_block_double_extremes: {cases} centred cases and {} mixed-block values per path",
        acc.len() * 7
    );
}

/// Wrong lengths are errors on every path, never panics.
#[test]
fn bad_lengths_are_errors() {
    let stage = Stage { multiplier: vec![1 << 30; 3], shift: vec![0; 3], zero_point: 0, lo: -128, hi: 127 };
    for (path, rounding) in paths("bad_lengths_are_errors").into_iter().flat_map(|p| ROUNDINGS.map(|r| (p, r))) {
        let st = stage.view(rounding);
        assert!(PackedMatrix::pack(path, &[0; 5], 3, 2).is_err());
        let p = PackedMatrix::pack(path, &[1; 6], 3, 2).unwrap();
        let mut out = vec![0i8; 6];
        assert!(qgemm(&p, &[0; 3], 2, 0, None, &st, &mut out).is_err());
        assert!(qgemm(&p, &[0; 4], 2, 0, Some(&[0; 2]), &st, &mut out).is_err());
        assert!(qgemm(&p, &[0; 4], 2, 0, None, &st, &mut out[..5]).is_err());
        assert!(qgemm(&p, &[0; 4], 2, 0, None, &st, &mut out).is_ok());
        // Gathered rows: a run past the source, a wrong offset count, a run length that does
        // not divide the depth, and a run that ends exactly at the source's end.
        let src: (&[i8], &[i8]) = (&[1; 3], &[2; 2]);
        assert!(qgemm_gathered(&p, src, &[4, 0], 2, 2, 0, None, &st, &mut out).is_err());
        assert!(qgemm_gathered(&p, src, &[usize::MAX, 0], 2, 2, 0, None, &st, &mut out).is_err());
        assert!(qgemm_gathered(&p, src, &[0], 2, 2, 0, None, &st, &mut out).is_err());
        assert!(qgemm_gathered(&p, src, &[0, 1, 2, 3], 1, 2, 0, None, &st, &mut out).is_ok());
        assert!(qgemm_gathered(&p, src, &[0, 0], 3, 2, 0, None, &st, &mut out).is_err());
        assert!(qgemm_gathered(&p, src, &[0, 3], 2, 2, 0, None, &st, &mut out).is_ok());
        // The same on a product large enough for the vector paths, which check the runs their
        // reads rely on themselves: 8 rows of two 16-byte runs over a 64-byte source.
        let wide = PackedMatrix::pack(path, &[1; 3 * 32], 3, 32).unwrap();
        let (image, extra) = ([1i8; 48], [2i8; 16]);
        let mut offsets: Vec<usize> = (0..16).map(|i| i * 3).collect();
        let mut wide_out = vec![0i8; 8 * 3];
        let run = |offsets: &[usize], out: &mut [i8]| {
            qgemm_gathered(&wide, (&image, &extra), offsets, 16, 8, 0, None, &st, out)
        };
        assert!(run(&offsets, &mut wide_out).is_ok());
        for bad in [49, 64, usize::MAX] {
            offsets[5] = bad;
            assert!(run(&offsets, &mut wide_out).is_err(), "path {path}: run at {bad} past a 64-byte source");
        }
        let g = WindowGeometry { in_h: usize::MAX, in_w: 2, in_c: 3, ..Default::default() };
        assert!(depthwise_conv2d(path, &g, &[], 0, &[], None, &st, &mut []).is_err());
        // A layer of 3 channels (3x3 image, 1x1 kernel): prepared, it refuses inputs and
        // outputs of the wrong length; weights of the wrong length and sizes that overflow are
        // refused when it is prepared.
        let g = WindowGeometry { in_h: 3, in_w: 3, in_c: 3, out_h: 3, out_w: 3, kernel_h: 1, kernel_w: 1, ..g };
        let g = WindowGeometry { stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, depth_multiplier: 1, ..g };
        assert!(PreparedDepthwise::new(path, &g, &[1; 2], 0, None, &st).is_err());
        let huge = WindowGeometry { in_h: usize::MAX, ..g };
        assert!(PreparedDepthwise::new(path, &huge, &[1; 3], 0, None, &st).is_err());
        let layer = PreparedDepthwise::new(path, &g, &[1; 3], 0, None, &st).expect("prepare");
        assert!(layer.run(&[0; 27], &mut [0; 27]).is_ok());
        assert!(layer.run(&[0; 26], &mut [0; 27]).is_err());
        assert!(layer.run(&[0; 27], &mut [0; 28]).is_err());
        assert!(requantize_block(path, &[0; 5], 3, &st, &mut [0; 5]).is_err());
    }
}

fn soak_cases() -> u32 {
    std::env::var("AIOP_SOAK_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: soak_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    #[ignore = "soak: millions of cases; run with --release -- --ignored soak"]
    fn soak_qgemm(c in gemm_case(9, 70, 300)) {
        check_gemm("soak_qgemm", &c)?;
    }

    #[test]
    #[ignore = "soak: millions of cases; run with --release -- --ignored soak"]
    fn soak_qgemm_gathered(c in gathered_case()) {
        check_gathered("soak_qgemm_gathered", &c)?;
    }

    #[test]
    #[ignore = "soak: millions of cases; run with --release -- --ignored soak"]
    fn soak_depthwise(c in dw_case()) {
        check_dw("soak_depthwise", &c)?;
    }

    #[test]
    #[ignore = "soak: millions of cases; run with --release -- --ignored soak"]
    fn soak_requantize(case in requant_case()) {
        let (acc, ch, st) = case;
        check_requant("soak_requantize", &acc, ch, &st)?;
    }
}
