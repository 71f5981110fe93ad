//! The fast pooling loops against the reference, bit for bit, over random geometries: window
//! sizes from 1 up to larger than the image, strides, padding (SAME-style offsets and none),
//! channel counts, clamps and extreme values.

use aiop_engine::Clamp;
use aiop_engine::ops::{fast, reference};
use aiop_engine::validate::Geometry;
use aiop_kernels::WindowGeometry;
use proptest::prelude::*;

fn geometry(in_h: usize, in_w: usize, c: usize, k: (usize, usize), s: (usize, usize), pad: (usize, usize)) -> Geometry {
    // The output size SAME/VALID would give is irrelevant here: any size whose windows start
    // inside the padded image exercises the same loops.
    let out_h = (in_h + pad.0).div_ceil(s.0).max(1);
    let out_w = (in_w + pad.1).div_ceil(s.1).max(1);
    Geometry {
        out_len: out_h * out_w * c,
        window: WindowGeometry {
            in_h,
            in_w,
            in_c: c,
            out_h,
            out_w,
            kernel_h: k.0,
            kernel_w: k.1,
            stride_h: s.0,
            stride_w: s.1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: pad.0,
            pad_left: pad.1,
            depth_multiplier: 1,
        },
        ..Geometry::default()
    }
}

fn values(len: usize, seed: u64, extreme: bool) -> Vec<i8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if extreme { if x & 1 == 0 { i8::MIN } else { i8::MAX } } else { x as i8 }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fast_pooling_equals_the_reference(
        in_h in 1usize..12, in_w in 1usize..12, c in 1usize..20,
        kh in 1usize..14, kw in 1usize..14, sh in 1usize..4, sw in 1usize..4,
        pt in 0usize..4, pl in 0usize..4,
        clamp_lo in -128i32..=127, clamp_width in 0i32..=255,
        seed in any::<u64>(), extreme in any::<bool>(),
    ) {
        let g = geometry(in_h, in_w, c, (kh, kw), (sh, sw), (pt.min(kh - 1), pl.min(kw - 1)));
        let input = values(in_h * in_w * c, seed, extreme);
        let clamp = Clamp { min: clamp_lo as i8, max: (clamp_lo + clamp_width).min(127) as i8 };
        let (mut want, mut got) = (vec![0i8; g.out_len], vec![0i8; g.out_len]);
        reference::max_pool2d(&g, &input, clamp, &mut want);
        fast::max_pool2d(&g, &input, clamp, &mut got);
        prop_assert_eq!(&got, &want, "max pool {:?}", g);
        reference::average_pool2d(&g, &input, clamp, &mut want);
        fast::average_pool2d(&g, &input, clamp, &mut got);
        prop_assert_eq!(&got, &want, "average pool {:?}", g);
    }
}
