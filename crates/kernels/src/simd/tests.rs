//! The driver on every ISA against [`crate::reference`], bit for bit. [`isa_equality_tests`]
//! declares, for one ISA, a test per kernel (qgemm through panels and the dot layout,
//! depthwise, the output stage); the emulated ISAs run everywhere, the hardware ones where the
//! CPU has them, and a test whose ISA is missing says so on stderr instead of passing as if
//! it had checked. Set `AIOP_REQUIRE_ISAS=avx2,avx512,amx` to make a missing one fail instead.

use alloc::vec;
use alloc::vec::Vec;
use std::collections::BTreeSet;
use std::sync::Mutex;

use proptest::prelude::*;

use super::emulated::Emulated;
use super::{Isa, pack, round_up};
use crate::{OutputStage, Rounding, WindowGeometry, reference};

/// Announces once per test whether `isa` ran, and fails if it was required but missing.
fn announce<I: Isa>(test: &'static str, isa: Option<I>) -> Option<I> {
    static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    if SEEN.lock().map(|mut seen| seen.insert(test)).unwrap_or(false) {
        match isa {
            Some(_) => std::eprintln!("{test}: ran on {}", I::NAME),
            None => std::eprintln!("{test}: NOT RUN: this CPU lacks {}", I::NAME),
        }
    }
    if isa.is_none() {
        let required = std::env::var("AIOP_REQUIRE_ISAS").unwrap_or_default();
        assert!(!required.split(',').any(|r| r.trim() == I::NAME), "{test}: {} is required but missing", I::NAME);
    }
    isa
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

fn stage(n: usize) -> impl Strategy<Value = Stage> {
    let mult = prop_oneof![4 => 0..=i32::MAX, 2 => (1 << 30)..=i32::MAX, 1 => Just(i32::MAX), 1 => i32::MIN..0];
    let shift = prop_oneof![4 => -31i8..=30, 2 => -2i8..=2, 1 => any::<i8>()];
    (prop::collection::vec(mult, n), prop::collection::vec(shift, n), -128i32..=127, any::<i8>(), any::<i8>()).prop_map(
        |(multiplier, shift, zero_point, a, b)| Stage { multiplier, shift, zero_point, lo: a.min(b), hi: a.max(b) },
    )
}

fn bytes(len: usize, lo: i8) -> impl Strategy<Value = Vec<i8>> {
    prop::collection::vec(prop_oneof![lo..=127i8, Just(lo), Just(127i8)], len)
}

#[derive(Debug, Clone)]
struct GemmCase {
    m: usize,
    n: usize,
    k: usize,
    w: Vec<i8>,
    x: Vec<i8>,
    zp: i32,
    bias: Option<Vec<i32>>,
    stage: Stage,
}

/// Columns across one to three 64-column panels and their 16/32/48-wide tails, rows around
/// the 6- and 4-row tiles (up to 6 + 4 + 3), depths across the groups, narrow deep shapes for
/// the dot layout, and shapes for AMX's tiles: 14 to 40 rows (a block of 32 and part of one
/// row tile), up to six whole tiles of depth (64 bytes each) and a tail of groups.
fn gemm_case() -> impl Strategy<Value = GemmCase> {
    prop_oneof![
        3 => (1usize..=13, 1usize..=140, 0usize..=70),
        1 => (1usize..=5, 1usize..=8, 120usize..=300),
        1 => (14usize..=40, 1usize..=100, 60usize..=420),
    ]
    .prop_flat_map(|(m, n, k)| {
        let bias = prop::option::of(prop::collection::vec(-(1i32 << 20)..(1 << 20), n));
        (bytes(n * k, -127), bytes(m * k, i8::MIN), -128i32..=127, bias, stage(n))
            .prop_map(move |(w, x, zp, bias, stage)| GemmCase { m, n, k, w, x, zp, bias, stage })
    })
}

fn check_gemm<I: Isa>(isa: I, c: &GemmCase) -> Result<(), TestCaseError> {
    let packed = pack::<I>(&c.w, c.n, c.k).expect("pack");
    let row_sums: Vec<i32> =
        (0..c.n).map(|j| c.w[j * c.k..(j + 1) * c.k].iter().map(|&v| i32::from(v)).sum()).collect();
    for rounding in [Rounding::Single, Rounding::Double] {
        let st = c.stage.view(rounding);
        let mut want = vec![0i8; c.m * c.n];
        reference::qgemm(&c.w, c.n, c.k, &c.x, c.m, c.zp, c.bias.as_deref(), &st, &mut want);
        // Once building the stage vectors in the call, once with them prepared beforehand.
        let prepared = super::prepare_stage::<I>(c.n, c.k, &row_sums, c.zp, c.bias.as_deref(), &st);
        for prepared in [None, prepared.as_ref()] {
            let mut got = vec![0x55i8; c.m * c.n];
            let bias = c.bias.as_deref();
            super::qgemm(isa, &packed, &row_sums, c.n, c.k, &c.x, c.m, c.zp, bias, &st, prepared, &mut got)
                .expect("qgemm");
            let how = if prepared.is_some() { "prepared" } else { "built per call" };
            prop_assert_eq!(&got, &want, "{} {:?} {} m={} n={} k={}", I::NAME, rounding, how, c.m, c.n, c.k);
        }
    }
    Ok(())
}

/// The product with its rows gathered in place ([`super::qgemm_gathered`]): row `r` reads
/// the rows of `x` in reverse order, cut into the fewest runs of at least 16 whole groups
/// (one to four), with the first row's bytes moved to the end and `extra` starting half a run
/// into them (so that one run starts in the image and ends in `extra`); shapes the driver
/// would copy out instead are skipped.
fn check_gathered<I: Isa>(isa: I, c: &GemmCase) -> Result<(), TestCaseError> {
    let Some(segments) = (1..=4).find(|&s| c.k.is_multiple_of(s) && super::gathers::<I>(c.n, c.k, c.k / s)) else {
        return Ok(());
    };
    let len = c.k / segments;
    let packed = pack::<I>(&c.w, c.n, c.k).expect("pack");
    let row_sums: Vec<i32> =
        (0..c.n).map(|j| c.w[j * c.k..(j + 1) * c.k].iter().map(|&v| i32::from(v)).sum()).collect();
    let reversed: Vec<i8> = c.x.chunks_exact(c.k).rev().flatten().copied().collect();
    // Row 0 of `x` (read by the last output row) is `extra`; the image is the rest.
    let (first, rest) = c.x.split_at(c.k);
    let source: Vec<i8> = rest.iter().chain(first).copied().collect();
    let row_at = |r: usize| if r == 0 { source.len() - c.k } else { (r - 1) * c.k };
    let offsets: Vec<usize> = (0..c.m).rev().flat_map(|r| (0..segments).map(move |s| row_at(r) + s * len)).collect();
    for rounding in [Rounding::Single, Rounding::Double] {
        let st = c.stage.view(rounding);
        let mut want = vec![0i8; c.m * c.n];
        reference::qgemm(&c.w, c.n, c.k, &reversed, c.m, c.zp, c.bias.as_deref(), &st, &mut want);
        let mut got = vec![0x55i8; c.m * c.n];
        let (image, extra) = source.split_at(source.len() - c.k + len / 2);
        #[rustfmt::skip]
        super::qgemm_gathered(isa, &packed, &row_sums, c.n, c.k, (image, extra), &offsets, len, c.m, c.zp,
            c.bias.as_deref(), &st, None, &mut got).expect("qgemm_gathered");
        prop_assert_eq!(
            &got,
            &want,
            "{} {:?} gathered m={} n={} k={} runs={}",
            I::NAME,
            rounding,
            c.m,
            c.n,
            c.k,
            segments
        );
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct DwCase {
    g: WindowGeometry,
    x: Vec<i8>,
    w: Vec<i8>,
    zp: i32,
    bias: Option<Vec<i32>>,
    stage: Stage,
}

/// Depth multiplier 1 (the driver's input), channel counts across one to three 16-lane
/// blocks and their partial tails.
fn dw_case() -> impl Strategy<Value = DwCase> {
    (1usize..=6, 1usize..=6, 1usize..=40, 1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2, 0usize..=2, 0usize..=2)
        .prop_flat_map(|(in_h, in_w, c, kh, kw, s, d, pt, pl)| dw_case_of(in_h, in_w, c, (kh, kw), (s, s), d, (pt, pl)))
}

/// Undilated kernels up to 7x7 with strides up to 4 on each axis apart: the shapes
/// [`super::RowPairs`] takes, pairing across or down, beside those its gate sends to the
/// per-pixel kernels (strides above the kernel, windows mostly in the padding).
fn dw_wide_case() -> impl Strategy<Value = DwCase> {
    (
        1usize..=12,
        1usize..=12,
        1usize..=40,
        (1usize..=7, 1usize..=7),
        (1usize..=4, 1usize..=4),
        (0usize..=3, 0usize..=3),
    )
        .prop_flat_map(|(in_h, in_w, c, k, s, pad)| dw_case_of(in_h, in_w, c, k, s, 1, pad))
}

/// A case of this shape, with as much padding after as before and random values.
fn dw_case_of(
    in_h: usize,
    in_w: usize,
    c: usize,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    d: usize,
    (pt, pl): (usize, usize),
) -> impl Strategy<Value = DwCase> {
    let out_h = (in_h + 2 * pt).saturating_sub(d * (kh - 1) + 1) / sh + 1;
    let out_w = (in_w + 2 * pl).saturating_sub(d * (kw - 1) + 1) / sw + 1;
    let g = WindowGeometry {
        in_h,
        in_w,
        in_c: c,
        out_h,
        out_w,
        kernel_h: kh,
        kernel_w: kw,
        stride_h: sh,
        stride_w: sw,
        dilation_h: d,
        dilation_w: d,
        pad_top: pt,
        pad_left: pl,
        depth_multiplier: 1,
    };
    let bias = prop::option::of(prop::collection::vec(-(1i32 << 20)..(1 << 20), c));
    (bytes(in_h * in_w * c, i8::MIN), bytes(kh * kw * c, -127), -128i32..=127, bias, stage(c))
        .prop_map(move |(x, w, zp, bias, stage)| DwCase { g, x, w, zp, bias, stage })
}

fn check_dw<I: Isa>(isa: I, c: &DwCase) -> Result<(), TestCaseError> {
    let cols = c.g.in_c;
    for rounding in [Rounding::Single, Rounding::Double] {
        let st = c.stage.view(rounding);
        let len = c.g.out_h * c.g.out_w * cols;
        let mut want = vec![0i8; len];
        reference::depthwise_conv2d(&c.g, &c.x, c.zp, &c.w, c.bias.as_deref(), &st, &mut want);
        let bias = c.bias.as_deref();
        // Once building the constants in the call, once with them prepared beforehand, and once
        // without the rows of pairs (the per-pixel kernels on the shapes the rows take).
        let prepared = super::depthwise_constants::<I>(&c.g, cols, &c.w, bias, c.zp, &st);
        let per_pixel = super::depthwise_constants_choosing::<I>(&c.g, cols, &c.w, bias, c.zp, &st, false);
        for (prepared, how) in
            [(None, "built per call"), (prepared.as_ref(), "prepared"), (per_pixel.as_ref(), "per pixel")]
        {
            let mut got = vec![0x55i8; len];
            super::depthwise(isa, &c.g, cols, &c.x, c.zp, &c.w, bias, &st, prepared, &mut got).expect("depthwise");
            prop_assert_eq!(&got, &want, "{} {:?} {} {:?}", I::NAME, rounding, how, c.g);
        }
    }
    Ok(())
}

fn requant_case() -> impl Strategy<Value = (Vec<i32>, Stage)> {
    (1usize..=70).prop_flat_map(|ch| {
        let acc = prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), -1000i32..1000];
        (prop::collection::vec(acc, ch), stage(ch), any::<i32>()).prop_map(|(acc, mut st, zp)| {
            st.zero_point = zp;
            (acc, st)
        })
    })
}

fn check_requant<I: Isa>(isa: I, acc: &[i32], s: &Stage) -> Result<(), TestCaseError> {
    for rounding in [Rounding::Single, Rounding::Double] {
        let st = s.view(rounding);
        let want: Vec<i8> = acc.iter().enumerate().map(|(c, &a)| st.apply(a, c)).collect();
        let mut got = vec![0x55i8; acc.len()];
        super::requantize_channels(isa, acc, &st, &mut got);
        prop_assert_eq!(&got, &want, "{} {:?}", I::NAME, rounding);
    }
    Ok(())
}

/// A product of two activations with blocks of rows and columns, tiles and tails of every
/// size: up to 70 rows and columns (blocks hold at most 64), depths 0 to 80 (chunk tails of
/// every length at both widths), right factors either way round.
#[derive(Debug, Clone)]
struct Product {
    shape: crate::ActivationProduct,
    lhs: Vec<i8>,
    rhs: Vec<i8>,
    stage: Stage,
}

fn product_case() -> impl Strategy<Value = Product> {
    product_case_within(1..=3, 1..=70, 0..=80, 1..=70)
}

/// Many small batches: products summed by the plain loop and by the tiles, requantized in
/// groups of whole batches with a partial group at the end.
fn small_products_case() -> impl Strategy<Value = Product> {
    product_case_within(1..=300, 1..=9, 0..=20, 1..=9)
}

fn product_case_within(
    batch: core::ops::RangeInclusive<usize>,
    m: core::ops::RangeInclusive<usize>,
    k: core::ops::RangeInclusive<usize>,
    n: core::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Product> {
    (batch, m, k, n, any::<bool>()).prop_flat_map(|(batch, m, k, n, transpose_rhs)| {
        (bytes(batch * m * k, i8::MIN), bytes(batch * k * n, i8::MIN), -128i32..=127, -128i32..=127, stage(1)).prop_map(
            move |(lhs, rhs, lhs_zero_point, rhs_zero_point, stage)| Product {
                shape: crate::ActivationProduct { batch, m, k, n, transpose_rhs, lhs_zero_point, rhs_zero_point },
                lhs,
                rhs,
                stage,
            },
        )
    })
}

fn check_product<I: Isa>(isa: I, c: &Product) -> Result<(), TestCaseError> {
    let n = c.shape.batch * c.shape.m * c.shape.n;
    for rounding in [Rounding::Single, Rounding::Double] {
        let st = c.stage.view(rounding);
        let mut want = vec![0i8; n];
        reference::batch_matmul(&c.shape, &c.lhs, &c.rhs, &st, &mut want);
        let mut got = vec![0x55i8; n];
        prop_assert!(super::product::batch_matmul(isa, &c.shape, &c.lhs, &c.rhs, &st, &mut got));
        prop_assert_eq!(&got, &want, "{} {:?} {:?}", I::NAME, c.shape, rounding);
    }
    Ok(())
}

/// For each `name => token expression` pair, a module of equality tests of every kernel of
/// the driver on that ISA (skipped, and said so, where the token is `None`).
macro_rules! isa_equality_tests {
    ($($name:ident => $isa:expr;)*) => {$(
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(600))]

                #[test]
                fn qgemm_matches_reference(c in gemm_case()) {
                    if let Some(isa) = announce(concat!(stringify!($name), "::qgemm"), $isa) {
                        check_gemm(isa, &c)?;
                    }
                }

                #[test]
                fn qgemm_gathered_matches_reference(c in gemm_case()) {
                    if let Some(isa) = announce(concat!(stringify!($name), "::qgemm_gathered"), $isa) {
                        check_gathered(isa, &c)?;
                    }
                }

                #[test]
                fn depthwise_matches_reference(c in dw_case()) {
                    if let Some(isa) = announce(concat!(stringify!($name), "::depthwise"), $isa) {
                        check_dw(isa, &c)?;
                    }
                }

                #[test]
                fn depthwise_wide_matches_reference(c in dw_wide_case()) {
                    if let Some(isa) = announce(concat!(stringify!($name), "::depthwise_wide"), $isa) {
                        check_dw(isa, &c)?;
                    }
                }

                #[test]
                fn batch_matmul_matches_reference(c in product_case()) {
                    if let Some(isa) = announce(concat!(stringify!($name), "::batch_matmul"), $isa) {
                        check_product(isa, &c)?;
                    }
                }

                #[test]
                fn small_batch_matmuls_match_reference(c in small_products_case()) {
                    if let Some(isa) = announce(concat!(stringify!($name), "::batch_matmul_small"), $isa) {
                        check_product(isa, &c)?;
                    }
                }

                #[test]
                fn requantize_matches_reference(case in requant_case()) {
                    if let Some(isa) = announce(concat!(stringify!($name), "::requantize"), $isa) {
                        check_requant(isa, &case.0, &case.1)?;
                    }
                }
            }
        }
    )*};
}

isa_equality_tests! {
    emulated_256 => Some(Emulated::<8>::new());
    emulated_512 => Some(Emulated::<16>::new());
}

#[cfg(target_arch = "x86_64")]
isa_equality_tests! {
    avx2 => crate::x86::Avx2::detect();
    avx512 => crate::x86::Avx512::detect();
    amx => crate::x86::Avx512Amx::detect();
}

/// The panel layout by its definition, one index computation per weight.
fn pack_by_formula<I: Isa>(weights: &[i8], n: usize, k: usize) -> Vec<i8> {
    let (kp, np) = (round_up(k, I::GROUP).unwrap(), round_up(n, I::LANES).unwrap());
    let mut out = vec![0i8; np * kp];
    let mut c0 = 0;
    while c0 < np && kp > 0 {
        let w = I::PANEL.min(np - c0);
        for col in c0..(c0 + w).min(n) {
            for kk in 0..k {
                out[c0 * kp + (kk / I::GROUP) * w * I::GROUP + (col - c0) * I::GROUP + kk % I::GROUP] =
                    weights[col * k + kk];
            }
        }
        c0 += w;
    }
    out
}

fn check_pack<I: Isa>() {
    let mut seed = 0x1234_5678u32;
    for n in [1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 130] {
        for k in [0, 1, 2, 3, 4, 5, 31, 64, 127] {
            let weights: Vec<i8> = (0..n * k)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (seed >> 24) as i8
                })
                .collect();
            assert_eq!(&*pack::<I>(&weights, n, k).unwrap(), &pack_by_formula::<I>(&weights, n, k), "n {n} k {k}");
        }
    }
}

#[test]
fn pack_is_the_layout_its_definition_gives() {
    check_pack::<Emulated<8>>();
    check_pack::<Emulated<16>>();
}

/// Bytes that end where a page the process may not touch begins, so that a read past their
/// end faults instead of reading whatever lies there.
struct Guarded {
    map: *mut libc::c_void,
    map_len: usize,
    start: usize,
    len: usize,
}

impl Guarded {
    fn new(values: &[i8]) -> Guarded {
        // SAFETY: `sysconf` has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).expect("page size");
        let data = values.len().div_ceil(page).max(1) * page;
        // SAFETY: a fresh private anonymous mapping (checked below).
        let map = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                data + page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED, "mmap");
        // SAFETY: the last page lies inside the mapping just made.
        assert_eq!(unsafe { libc::mprotect(map.cast::<u8>().add(data).cast(), page, libc::PROT_NONE) }, 0, "mprotect");
        let start = data - values.len();
        // SAFETY: the data pages are writable, and `start + len = data`.
        unsafe { core::ptr::copy_nonoverlapping(values.as_ptr(), map.cast::<i8>().add(start), values.len()) };
        Guarded { map, map_len: data + page, start, len: values.len() }
    }

    fn bytes(&self) -> &[i8] {
        // SAFETY: `len` initialized bytes at `start`, inside the data pages, alive while `self` is.
        unsafe { core::slice::from_raw_parts(self.map.cast::<i8>().add(self.start), self.len) }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: the mapping `new` made, unmapped once.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

/// Depthwise with its input and weights ending at a guard page, for every channel count whose
/// last block is partial on 8 and on 16 lanes: the whole-vector reads of that block must stop
/// where the buffers do (a read past them faults), and the bytes must be the reference's. The
/// shapes are padded and not, one tap and odd and even tap counts, dilated, and with 16 or
/// more pixels whose window lies inside the image (so the taps run in pairs where the ISA
/// pairs them).
fn check_dw_at_buffer_end<I: Isa>(isa: I) {
    let mut seed = 0x9e37_79b9u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (seed >> 24) as i8
    };
    // (in_h, in_w, kernel_h, kernel_w, dilation, padding)
    // The last two pair down the kernel (`RowPairs`), against the input's last row.
    let shapes = [
        (3, 3, 3, 3, 1, 1),
        (4, 4, 1, 1, 1, 0),
        (2, 2, 2, 2, 1, 0),
        (8, 8, 3, 3, 1, 0),
        (9, 9, 3, 1, 2, 0),
        (6, 2, 3, 1, 1, 0),
        (5, 3, 2, 3, 1, 1),
    ];
    for cols in 3..=23 {
        for (in_h, in_w, kernel_h, kernel_w, dilation, pad) in shapes {
            let out = |size: usize, kernel: usize| size + 2 * pad - dilation * (kernel - 1);
            let g = WindowGeometry {
                in_h,
                in_w,
                in_c: cols,
                out_h: out(in_h, kernel_h),
                out_w: out(in_w, kernel_w),
                kernel_h,
                kernel_w,
                stride_h: 1,
                stride_w: 1,
                dilation_h: dilation,
                dilation_w: dilation,
                pad_top: pad,
                pad_left: pad,
                depth_multiplier: 1,
            };
            let x: Vec<i8> = (0..in_h * in_w * cols).map(|_| next()).collect();
            let w: Vec<i8> = (0..kernel_h * kernel_w * cols).map(|_| next()).collect();
            let stage = Stage {
                multiplier: (0..cols).map(|c| (1 << 30) + c as i32 * 4099).collect(),
                shift: vec![-3; cols],
                zero_point: 5,
                lo: -128,
                hi: 127,
            };
            let (gx, gw) = (Guarded::new(&x), Guarded::new(&w));
            for rounding in [Rounding::Single, Rounding::Double] {
                let st = stage.view(rounding);
                let len = g.out_h * g.out_w * cols;
                let mut want = vec![0i8; len];
                reference::depthwise_conv2d(&g, &x, -7, &w, None, &st, &mut want);
                // With the rows of pairs where the shape admits them, and without.
                let per_pixel = super::depthwise_constants_choosing::<I>(&g, cols, &w, None, -7, &st, false);
                for prepared in [None, per_pixel.as_ref()] {
                    let mut got = vec![0x55i8; len];
                    super::depthwise(isa, &g, cols, gx.bytes(), -7, gw.bytes(), None, &st, prepared, &mut got)
                        .expect("depthwise");
                    assert_eq!(got, want, "{} cols {cols} {g:?} {rounding:?}", I::NAME);
                }
            }
        }
    }
}

#[test]
fn depthwise_reads_stop_at_the_buffers_end() {
    check_dw_at_buffer_end(Emulated::<8>::new());
    check_dw_at_buffer_end(Emulated::<16>::new());
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(isa) = announce("depthwise_reads_stop_at_the_buffers_end::avx2", crate::x86::Avx2::detect()) {
            check_dw_at_buffer_end(isa);
        }
        if let Some(isa) = announce("depthwise_reads_stop_at_the_buffers_end::avx512", crate::x86::Avx512::detect()) {
            check_dw_at_buffer_end(isa);
        }
    }
}

/// The tile loads of the weights stop at the packed matrix's end: the weights lie against a
/// page the process may not touch, for shapes whose last panel is one to four column blocks
/// and whose depth ends in a whole tile or in a tail of groups. (The last two shapes, of a
/// depth below one tile, read only the tail tiles, so for them the guard proves nothing; they
/// check the one padded step against the reference.)
#[cfg(target_arch = "x86_64")]
#[test]
fn amx_tiles_read_inside_the_panels() {
    let Some(isa) = announce("amx_tiles_read_inside_the_panels", crate::x86::Avx512Amx::detect()) else {
        return;
    };
    let mut seed = 0x2545_f491u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (seed >> 24) as i8
    };
    let stage = Stage { multiplier: vec![1 << 30; 128], shift: vec![-6; 128], zero_point: 3, lo: -128, hi: 127 };
    for (m, n, k) in [
        (16, 16, 256),
        (17, 128, 320),
        (48, 48, 300),
        (40, 64, 448),
        (40, 80, 260),
        (64, 16, 600),
        (32, 32, 256),
        (40, 48, 27),
        (33, 80, 40),
    ] {
        let w: Vec<i8> = (0..n * k).map(|_| next().max(-127)).collect();
        let x: Vec<i8> = (0..m * k).map(|_| next()).collect();
        let packed = Guarded::new(&pack::<super::super::x86::Avx512Amx>(&w, n, k).expect("pack"));
        let row_sums: Vec<i32> = w.chunks_exact(k).map(|r| r.iter().map(|&v| i32::from(v)).sum()).collect();
        let st =
            Stage { multiplier: stage.multiplier[..n].to_vec(), shift: stage.shift[..n].to_vec(), ..stage.clone() };
        for rounding in [Rounding::Single, Rounding::Double] {
            let view = st.view(rounding);
            let mut want = vec![0i8; m * n];
            reference::qgemm(&w, n, k, &x, m, -5, None, &view, &mut want);
            let mut got = vec![0x55i8; m * n];
            super::qgemm(isa, packed.bytes(), &row_sums, n, k, &x, m, -5, None, &view, None, &mut got).expect("qgemm");
            assert_eq!(got, want, "amx m={m} n={n} k={k} {rounding:?}");
        }
    }
}

/// The tiles' driver handed raw rows (as `qgemm` does only for products on the tiles) still
/// computes a product below the tiles' gate: the safety net that widens them first, for rows
/// in order and for gathered runs that cross from the image into `extra`.
#[cfg(target_arch = "x86_64")]
#[test]
fn amx_widens_raw_rows_below_the_tiles_too() {
    use super::{Gemm, RawRows, StageVectors, packed_dims};
    use crate::x86::Avx512Amx;
    let Some(isa) = announce("amx_widens_raw_rows_below_the_tiles_too", Avx512Amx::detect()) else {
        return;
    };
    let (m, n, k, zp) = (6usize, 20usize, 40usize, -7i32);
    let w: Vec<i8> = (0..n * k).map(|i| ((i * 37 + 11) % 255) as i8).map(|v| v.max(-127)).collect();
    let x: Vec<i8> = (0..m * k).map(|i| ((i * 101 + 3) % 256) as u8 as i8).collect();
    let packed = pack::<Avx512Amx>(&w, n, k).expect("pack");
    let (_, kp) = packed_dims::<Avx512Amx>(n, k).expect("dims");
    assert!(kp == k && !Avx512Amx::widens_rows_itself(m, round_up(n, 16).expect("np"), kp));
    let row_sums: Vec<i32> = w.chunks_exact(k).map(|r| r.iter().map(|&v| i32::from(v)).sum()).collect();
    let st = Stage { multiplier: vec![1 << 30; n], shift: vec![-6; n], zero_point: 3, lo: -128, hi: 127 };
    // Gathered: row r is x's row m-1-r, its two runs of 20; the image ends 10 bytes into the
    // last row, so that row's first run starts in the image and ends in `extra`.
    let (image, extra) = x.split_at((m - 1) * k + 10);
    let offsets: Vec<usize> = (0..m).rev().flat_map(|r| [r * k, r * k + k / 2]).collect();
    let reversed: Vec<i8> = x.chunks_exact(k).rev().flatten().copied().collect();
    for rounding in [Rounding::Single, Rounding::Double] {
        let view = st.view(rounding);
        let np = round_up(n, Avx512Amx::LANES).expect("np");
        let sv = StageVectors::new::<Avx512Amx>(n, np, Some(&row_sums), None, zp + Avx512Amx::LHS_OFFSET, &view);
        let cases = [
            (RawRows { image: &x, extra: &[], row_len: k }, None, 1, kp, &x),
            (RawRows { image, extra, row_len: k }, Some(offsets.as_slice()), 2, k / 2, &reversed),
        ];
        for (raw, gather, segments, segment_len, rows) in cases {
            let mut want = vec![0i8; m * n];
            reference::qgemm(&w, n, k, rows, m, zp, None, &view, &mut want);
            let p = Gemm {
                packed: &packed,
                xs: &[],
                raw: Some(raw),
                m,
                n,
                np,
                kp,
                sv: &sv,
                stage: &view,
                gather,
                segments,
                segment_len,
            };
            let mut got = vec![0x55i8; m * n];
            match rounding {
                Rounding::Single => isa.gemm::<false>(&p, &mut got),
                Rounding::Double => isa.gemm::<true>(&p, &mut got),
            }
            assert_eq!(got, want, "amx raw rows below the tiles, gathered {} {rounding:?}", gather.is_some());
        }
    }
}

/// Which depthwise shapes [`super::RowPairs`] takes, and along which axis: the MLPerf Tiny
/// models' kinds of layer do (kws and vww across, str_ww's column kernels down); its gate
/// sends dilation, strides above the kernel, windows mostly in the padding, a single tap, a
/// zero point outside a byte and rows past the bound to the per-pixel kernels.
#[test]
fn row_pairs_take_the_shapes_they_pay_on() {
    use super::PairAxis::{Across, Down};
    let axis = |(in_h, in_w): (usize, usize), (kh, kw): (usize, usize), s: usize, pad: usize, d: usize, zp: i32| {
        let out = |size: usize, k: usize| (size + 2 * pad).saturating_sub(d * (k - 1) + 1) / s + 1;
        let g = WindowGeometry {
            in_h,
            in_w,
            in_c: 16,
            out_h: out(in_h, kh),
            out_w: out(in_w, kw),
            kernel_h: kh,
            kernel_w: kw,
            stride_h: s,
            stride_w: s,
            dilation_h: d,
            dilation_w: d,
            pad_top: pad,
            pad_left: pad,
            depth_multiplier: 1,
        };
        super::row_pairs::<Emulated<16>>(&g, 16, 16, &vec![1; kh * kw * 16], None, zp).map(|rows| rows.axis)
    };
    assert_eq!(axis((25, 5), (3, 3), 1, 1, 1, -3), Some(Across), "kws");
    assert_eq!(axis((48, 48), (3, 3), 2, 0, 1, 0), Some(Across), "vww, stride 2");
    assert_eq!(axis((24, 1), (10, 1), 1, 0, 1, -128), Some(Down), "str_ww");
    assert_eq!(axis((1, 30), (1, 5), 1, 0, 1, 0), Some(Across), "a row kernel");
    // The buffer-end test's shapes that pair down the kernel.
    assert_eq!(axis((6, 2), (3, 1), 1, 0, 1, 0), Some(Down), "a column kernel");
    assert_eq!(axis((5, 3), (2, 3), 1, 1, 1, 0), Some(Down), "two rows of three");
    assert_eq!(axis((8, 8), (3, 3), 1, 1, 2, 0), None, "dilation 2");
    assert_eq!(axis((12, 12), (3, 3), 4, 0, 1, 0), None, "stride above the kernel");
    assert_eq!(axis((12, 12), (3, 3), 3, 0, 1, 0), None, "more new pixels per output than pairs");
    assert_eq!(axis((12, 12), (4, 4), 3, 0, 1, 0), None, "9 new pixels, 8 pairs, at an odd stride");
    assert_eq!(axis((12, 12), (5, 5), 3, 0, 1, 0), Some(Across), "9 new pixels, 15 pairs");
    assert_eq!(axis((12, 12), (4, 4), 4, 0, 1, 0), Some(Across), "16 new pixels, half prepared, 8 pairs");
    assert_eq!(axis((1, 16), (1, 2048), 1, 1024, 1, 0), None, "mostly padding");
    assert_eq!(axis((8, 8), (1, 1), 1, 0, 1, 0), None, "one tap");
    assert_eq!(axis((8, 8), (3, 3), 1, 1, 1, 128), None, "zero point outside a byte");
    assert_eq!(axis((1, 100_000), (1, 2), 1, 0, 1, 0), None, "rows past the bound");
    assert_eq!(axis((1, 60_000), (1, 2), 1, 0, 1, 0), Some(Across), "rows within the bound");
}
