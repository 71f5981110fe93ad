//! The fast Conv2D (im2col blocks, or the kernel rows read in place) against the reference,
//! bit for bit, on every kernel path this CPU has: channel counts and kernel widths on both
//! sides of the in-place threshold (kernel rows of at least 16 bytes, whole groups), strides,
//! padding at every edge, dilation down and across, and both rounding rules.

use aiop_engine::ops::fast;
use aiop_engine::validate::Geometry;
use aiop_kernels::{KernelPath, OutputStage, PackedMatrix, Rounding, WindowGeometry, reference};
use proptest::prelude::*;

fn values(len: usize, seed: u64, lo: i8) -> Vec<i8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x as i8).max(lo)
        })
        .collect()
}

/// Output size of one axis for an image padded by `pad` on the leading side and whatever the
/// last window needs on the other (SAME-style), or `None` when no window fits.
fn out_size(size: usize, taps: usize, stride: usize, dilation: usize, pad: usize) -> Option<usize> {
    let span = (taps - 1) * dilation + 1;
    (size + 2 * pad).checked_sub(span).map(|room| room / stride + 1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn fast_conv2d_equals_the_reference(
        in_h in 1usize..10, in_w in 1usize..12, c in prop_oneof![1usize..=6, Just(8), Just(16), Just(20), Just(32)],
        kh in 1usize..5, kw in 1usize..6, sh in 1usize..3, sw in 1usize..3,
        dh in 1usize..3, dw in prop_oneof![3 => Just(1usize), 1 => Just(2)],
        pt in 0usize..3, pl in 0usize..3, cout in 1usize..70,
        zp in -128i32..=127, seed in any::<u64>(), bias in any::<bool>(),
    ) {
        let (pt, pl) = (pt.min((kh - 1) * dh), pl.min((kw - 1) * dw));
        let (Some(out_h), Some(out_w)) = (out_size(in_h, kh, sh, dh, pt), out_size(in_w, kw, sw, dw, pl)) else {
            return Ok(());
        };
        let window = WindowGeometry {
            in_h, in_w, in_c: c, out_h, out_w, kernel_h: kh, kernel_w: kw, stride_h: sh, stride_w: sw,
            dilation_h: dh, dilation_w: dw, pad_top: pt, pad_left: pl, depth_multiplier: 1,
        };
        let depth = kh * kw * c;
        let g = Geometry { rows: out_h * out_w, depth, cols: cout, out_len: out_h * out_w * cout, window };
        let input = values(in_h * in_w * c, seed, i8::MIN);
        let weights = values(cout * depth, seed ^ 0x9e37_79b9, -127);
        let bias: Option<Vec<i32>> = bias.then(|| (0..cout as i32).map(|j| (j - 30) * 977).collect());
        let multiplier: Vec<i32> = (0..cout as u32).map(|j| (1 << 30) + (j * 7_654_321) as i32 % (1 << 29)).collect();
        let shift: Vec<i8> = (0..cout).map(|j| -((j % 12) as i8) - 4).collect();
        for rounding in [Rounding::Single, Rounding::Double] {
            let stage = OutputStage {
                multiplier: &multiplier, shift: &shift, output_zero_point: -3, clamp_min: -128, clamp_max: 127, rounding,
            };
            let mut want = vec![0i8; g.out_len];
            reference::conv2d(&window, cout, &input, zp, &weights, bias.as_deref(), &stage, &mut want);
            for path in KernelPath::available() {
                let packed = PackedMatrix::pack(path, &weights, cout, depth).expect("pack");
                let mut got = vec![0x55i8; g.out_len];
                fast::conv2d(&g, &packed, &input, zp, bias.as_deref(), &stage, &mut got).expect("conv2d");
                prop_assert_eq!(&got, &want, "path {} {:?} {:?} cout={}", path, rounding, window, cout);
            }
        }
    }
}

/// Says which paths the test above ran on (a machine without AVX-512 tests less) and checks
/// that its shapes reach the in-place product on each vector path.
#[test]
fn the_paths_run_and_the_in_place_product_is_reached() {
    let paths: Vec<&str> = KernelPath::available().map(|p| p.name()).collect();
    eprintln!("fast_conv2d_equals_the_reference: kernel paths run on this CPU: {paths:?}");
    for path in KernelPath::available().filter(|&p| p != KernelPath::Reference) {
        // A 3x3 kernel over 16 channels: kernel rows of 48 bytes.
        let packed = PackedMatrix::pack(path, &vec![1; 16 * 144], 16, 144).expect("pack");
        assert!(packed.gathers_in_place(48), "{path} reads 48-byte kernel rows in place");
        assert!(!packed.gathers_in_place(9), "{path} copies 9-byte kernel rows out");
    }
}
