//! A portable [`Isa`] in plain Rust with the lane widths, groups, panels and activation
//! offsets of the hardware ones: `Emulated<8>` is laid out like AVX2 (8 lanes, pairs, 16-column
//! panels, signed activations), `Emulated<16>` like AVX-512 VNNI (16 lanes, groups of four,
//! 64-column panels, activations offset by 128). The driver's loops, tails and index math then
//! run in tests at every width on any CPU, leaving only the thin hardware lanes untested
//! where the CPU lacks them.

use super::Isa;

/// Most operand values one vector holds (`LANES * GROUP` for 16 lanes of four).
const MAX: usize = 64;

/// The emulated ISA with `LANES` lanes (8 or 16).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Emulated<const LANES: usize>;

impl<const LANES: usize> Emulated<LANES> {
    /// Always available: it needs no CPU feature.
    pub(crate) fn new() -> Self {
        const { assert!(LANES == 8 || LANES == 16) };
        Emulated
    }
}

// SAFETY: the methods are plain Rust, valid on every CPU; each computes what the trait says.
unsafe impl<const LANES: usize> Isa for Emulated<LANES> {
    const NAME: &'static str = if LANES == 16 { "emulated-512" } else { "emulated-256" };
    const LANES: usize = LANES;
    const GROUP: usize = LANES / 4;
    const PANEL: usize = LANES * (LANES / 4);
    const MASKED_PARTIAL_LOADS: bool = LANES == 16;
    const LHS_OFFSET: i32 = if LANES == 16 { 128 } else { 0 };
    /// Both widths pair taps, so the driver's paired depthwise runs in tests on any CPU:
    /// `Emulated<8>` through its own pair lanes (as AVX2), `Emulated<16>` through the trait's
    /// default.
    const PAIRED_TAPS: bool = true;
    type V = [i32; MAX];
    type X = i32;
    type W = [i64; 8];
    type Bytes = [i8; 16];

    fn widen(x: i8) -> i32 {
        if LANES == 16 { i32::from((x as u8) ^ 0x80) } else { i32::from(x) }
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn splat(v: i32) -> Self::V {
        [v; MAX]
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
        core::array::from_fn(|j| a[j].wrapping_add(b[j]))
    }

    /// # Safety
    /// As [`Isa::load_i32`].
    unsafe fn load_i32(p: *const i32) -> Self::V {
        // SAFETY: `p` is valid for `LANES` reads (the caller's contract).
        core::array::from_fn(|j| if j < LANES { unsafe { p.add(j).read_unaligned() } } else { 0 })
    }

    /// # Safety
    /// As [`Isa::broadcast_group`].
    unsafe fn broadcast_group(p: *const i32) -> Self::V {
        let group = Self::GROUP;
        // SAFETY: `p` is valid for `GROUP` reads (the caller's contract).
        let values: [i32; 4] =
            core::array::from_fn(|g| if g < group { unsafe { p.add(g).read_unaligned() } } else { 0 });
        core::array::from_fn(|i| values[i % group])
    }

    /// # Safety
    /// As [`Isa::load_weights`].
    unsafe fn load_weights(p: *const i8) -> Self::V {
        let len = LANES * Self::GROUP;
        // SAFETY: `p` is valid for `LANES * GROUP` reads (the caller's contract).
        core::array::from_fn(|i| if i < len { i32::from(unsafe { p.add(i).read() }) } else { 0 })
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn madd(acc: Self::V, x: Self::V, w: Self::V) -> Self::V {
        let group = Self::GROUP;
        core::array::from_fn(|j| {
            if j >= LANES {
                return 0;
            }
            (0..group).fold(acc[j], |s, g| s.wrapping_add(x[j * group + g].wrapping_mul(w[j * group + g])))
        })
    }

    /// # Safety
    /// As [`Isa::dot_chunk`].
    unsafe fn dot_chunk(acc: Self::V, x: *const i8, w: *const i8) -> Self::V {
        // SAFETY: `DOT_CHUNK = LANES * GROUP` bytes at `x` and `w` (the caller's contract).
        unsafe {
            let xs: Self::V =
                core::array::from_fn(|i| if i < Self::DOT_CHUNK { Self::widen(x.add(i).read()) } else { 0 });
            Self::madd(acc, xs, Self::load_weights(w))
        }
    }

    /// `Emulated<8>` as `vpmaddwd` computes it, on the `i16` halves of each lane; `Emulated<16>`
    /// through the trait's default.
    ///
    /// # Safety
    /// As [`Isa::depthwise_pair`].
    unsafe fn depthwise_pair(acc: Self::V, a: *const i8, b: *const i8, w: *const i32) -> Self::V {
        if LANES == 16 {
            // SAFETY: forwarded (the caller's contract).
            return unsafe { super::depthwise_pair_by_mullo::<Self>(acc, a, b, w) };
        }
        core::array::from_fn(|j| {
            if j >= LANES {
                return acc[j];
            }
            // SAFETY: `a` and `b` are valid for `LANES` bytes and `w` for `LANES` `i32` (the
            // caller's contract).
            let (x0, x1, pair) = unsafe { (a.add(j).read(), b.add(j).read(), w.add(j).read_unaligned()) };
            let (w0, w1) = (pair as i16, (pair >> 16) as i16);
            acc[j].wrapping_add(i32::from(x0) * i32::from(w0) + i32::from(x1) * i32::from(w1))
        })
    }

    /// # Safety
    /// As [`Isa::store_i32`].
    unsafe fn store_i32(v: Self::V, p: *mut i32) {
        for (j, &lane) in v.iter().enumerate().take(LANES) {
            // SAFETY: `p` is valid for `LANES` writes (the caller's contract).
            unsafe { p.add(j).write_unaligned(lane) }
        }
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn reduce_add(v: Self::V) -> i32 {
        v[..LANES].iter().fold(0i32, |s, &x| s.wrapping_add(x))
    }

    /// # Safety
    /// As [`Isa::load_i8`].
    unsafe fn load_i8(p: *const i8) -> Self::V {
        // SAFETY: `p` is valid for `LANES` reads (the caller's contract).
        core::array::from_fn(|j| if j < LANES { i32::from(unsafe { p.add(j).read() }) } else { 0 })
    }

    /// # Safety
    /// As [`Isa::load_i8_partial`].
    unsafe fn load_i8_partial(p: *const i8, lanes: usize) -> Self::V {
        // SAFETY: `p` is valid for `lanes` reads (the caller's contract); no other byte is read.
        core::array::from_fn(|j| if j < lanes.min(LANES) { i32::from(unsafe { p.add(j).read() }) } else { 0 })
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V {
        core::array::from_fn(|j| a[j].wrapping_sub(b[j]))
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn mullo(a: Self::V, b: Self::V) -> Self::V {
        core::array::from_fn(|j| a[j].wrapping_mul(b[j]))
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn shl(acc: Self::V, counts: Self::V) -> Self::V {
        core::array::from_fn(|j| acc[j].wrapping_shl(counts[j] as u32))
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn widen_halves(acc: Self::V) -> ([i64; 8], [i64; 8]) {
        let half = LANES / 2;
        let lane = |from: usize| move |j: usize| if j < half { i64::from(acc[from + j]) } else { 0 };
        (core::array::from_fn(lane(0)), core::array::from_fn(lane(half)))
    }

    /// # Safety
    /// As [`Isa::load_i64`].
    unsafe fn load_i64(p: *const i64) -> [i64; 8] {
        // SAFETY: `p` is valid for `LANES / 2` reads (the caller's contract).
        core::array::from_fn(|j| if j < LANES / 2 { unsafe { p.add(j).read_unaligned() } } else { 0 })
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn splat_i64(v: i64) -> [i64; 8] {
        [v; 8]
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn mul_i32(x: [i64; 8], m: [i64; 8]) -> [i64; 8] {
        core::array::from_fn(|j| i64::from(x[j] as i32) * i64::from(m[j] as i32))
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn add_i64(a: [i64; 8], b: [i64; 8]) -> [i64; 8] {
        core::array::from_fn(|j| a[j].wrapping_add(b[j]))
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn sub_where_below(t: [i64; 8], p: [i64; 8], neg: [i64; 8]) -> [i64; 8] {
        core::array::from_fn(|j| if p[j] < -(1i64 << 30) { t[j].wrapping_sub(neg[j]) } else { t[j] })
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn sra_i64(t: [i64; 8], s: [i64; 8]) -> [i64; 8] {
        core::array::from_fn(|j| t[j] >> s[j].clamp(0, 63))
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn clamp_i64(y: [i64; 8], lo: [i64; 8], hi: [i64; 8]) -> [i64; 8] {
        core::array::from_fn(|j| y[j].max(lo[j]).min(hi[j]))
    }

    /// # Safety
    /// None beyond [`Isa`]'s.
    unsafe fn narrow(lo: [i64; 8], hi: [i64; 8]) -> [i8; 16] {
        let half = LANES / 2;
        core::array::from_fn(|j| match j {
            j if j < half => lo[j] as i8,
            j if j < LANES => hi[j - half] as i8,
            _ => 0,
        })
    }

    /// # Safety
    /// As [`Isa::store`].
    unsafe fn store(bytes: [i8; 16], dst: *mut i8) {
        // SAFETY: `dst` is valid for `LANES` writes (the caller's contract).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, LANES) };
    }

    fn gemm<const DOUBLE: bool>(self, p: &super::Gemm<'_, i32>, out: &mut [i8]) {
        // SAFETY: no features are needed; `p` was checked by `simd::qgemm`.
        unsafe { super::gemm_body::<Self, DOUBLE>(p, out) }
    }

    fn dot(self, p: &super::Dot<'_>, out: &mut [i8]) {
        // SAFETY: as in `gemm`.
        unsafe { super::dot_body::<Self>(p, out) }
    }

    fn requantize<const DOUBLE: bool>(self, p: &super::Requantize<'_>, out: &mut [i8]) {
        // SAFETY: no features are needed; `p` was built by `simd::requantize_channels`.
        unsafe { super::requantize_body::<Self, DOUBLE>(p, out) }
    }

    fn depthwise<const DOUBLE: bool>(self, p: &super::Depthwise<'_>, out: &mut [i8]) {
        // SAFETY: no features are needed; `p` was checked by `simd::depthwise`.
        unsafe { super::depthwise_body::<Self, DOUBLE>(p, out) }
    }

    fn product(self, p: &super::product::Product<'_>, scratch: &mut super::product::Scratch, out: &mut [i8]) {
        // SAFETY: no features are needed; `p` was built by `simd::product::batch_matmul`.
        unsafe { super::product::product_body::<Self>(self, p, scratch, out) }
    }
}
