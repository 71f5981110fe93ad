//! AMX-INT8 tiles for the packed matrix product; everything else on AVX-512 VNNI lanes.
//!
//! `tdpbusd` is `vpdpbusd` on whole tiles: a 16-row by 64-byte tile of unsigned activations
//! times a 16-row by 64-byte tile of signed weights (16 groups of four depths, by 16 columns)
//! accumulates into 16 by 16 wrapping `i32` sums, the same products and sums as the VNNI
//! lanes, so the per-column constant, the output stage and the packed layout are AVX-512's:
//! a weight tile is 16 consecutive groups of a panel's column block, read with the panel's row
//! stride. The depth past the last whole tile (fewer than 16 groups) is one more tile, its
//! activations padded with zeros and its weights copied once per call into a zero-padded tile
//! per panel. Products too small to pay for the tiles run on the VNNI lanes.
//!
//! The tiles read the activations as the caller gave them and flip them to unsigned bytes in
//! their own copy of each block of rows, so the driver builds no widened copy for them
//! ([`Isa::widens_rows_itself`]); and each step of depth is followed by a share of the column
//! pair before's output stage, so that the vector units work while the tile unit does.
//!
//! Every CPU with AMX has AVX-512 VBMI (Sapphire Rapids and later), and the token requires it:
//! the lanes look up `Add`'s tables of terms 64 bytes at a time ([`Isa::lookup_terms`]).
//!
//! Linux keeps the tile registers off until a process asks for them (`arch_prctl`
//! `ARCH_REQ_XCOMP_PERM`); [`Avx512Amx::detect`] asks once and makes a token only if the
//! kernel granted them and the CPU has AMX-TILE, AMX-INT8 and VBMI besides the AVX-512
//! features.
//!
//! Must never: run a tile instruction without a token, leave a call with the tiles
//! configured (each product releases them), read outside its buffers (every tile load is
//! inside the activations' block, the panel or the panel's tail tile, checked below), or use
//! floating point.

use core::arch::asm;
use core::arch::x86_64::*;

use super::avx512::avx512_lanes;
use crate::aligned::LineAligned;
use crate::simd::{self, Gemm, Isa, entry_points, lanes, one_intrinsic_lanes};

/// Proof that this CPU has the [`super::Avx512`] features, AVX-512 VBMI, AMX-TILE and AMX-INT8, and that the
/// operating system let this process use the tiles: only [`Avx512Amx::detect`] makes one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512Amx {
    _private: (),
}

impl Avx512Amx {
    /// The token, if this CPU and operating system run the tiles (asked once per process).
    pub(crate) fn detect() -> Option<Self> {
        #[cfg(all(feature = "std", target_os = "linux"))]
        if super::Avx512::detect().is_some() && std::is_x86_feature_detected!("avx512vbmi") && tiles_granted() {
            return Some(Avx512Amx { _private: () });
        }
        None
    }
}

/// Whether the CPU has AMX-TILE and AMX-INT8 (CPUID leaf 7, EDX bits 24 and 25) and Linux
/// granted this process the tile data state; the answer is kept for the process's life.
#[cfg(all(feature = "std", target_os = "linux"))]
fn tiles_granted() -> bool {
    static GRANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *GRANTED.get_or_init(|| {
        const AMX_TILE: u32 = 1 << 24;
        const AMX_INT8: u32 = 1 << 25;
        /// `arch_prctl` codes and the tile data's state component (`XFEATURE_XTILEDATA`).
        const ARCH_GET_XCOMP_PERM: u64 = 0x1022;
        const ARCH_REQ_XCOMP_PERM: u64 = 0x1023;
        const XTILEDATA: u64 = 18;
        #[allow(unused_unsafe)]
        // SAFETY: CPUID leaf 7 exists on every x86-64 CPU with AVX-512 (checked before).
        let leaf = unsafe { __cpuid_count(7, 0) };
        if leaf.edx & AMX_TILE == 0 || leaf.edx & AMX_INT8 == 0 {
            return false;
        }
        let mut granted: u64 = 0;
        // SAFETY: `arch_prctl` with these codes changes nothing but the process's permission
        // to use the tile state, and writes one `u64` to `granted` for the second.
        unsafe {
            arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) == 0
                && arch_prctl(ARCH_GET_XCOMP_PERM, (&raw mut granted) as u64) == 0
                && granted & (1 << XTILEDATA) != 0
        }
    })
}

/// The raw `arch_prctl` system call (number 158 on x86-64 Linux): its result, negative on error.
///
/// # Safety
/// `code` must be one whose `arg` is a value or a pointer the kernel may write, as it documents.
#[cfg(all(feature = "std", target_os = "linux"))]
unsafe fn arch_prctl(code: u64, arg: u64) -> i64 {
    let ret: i64;
    // SAFETY: the caller's contract; `syscall` clobbers only rax, rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") 158i64 => ret, in("rdi") code, in("rsi") arg,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

// SAFETY: the token is made only by `detect`, after the CPU and operating system checks; the
// lanes are AVX-512's, and the product's tiles compute what `Isa::gemm` documents.
unsafe impl Isa for Avx512Amx {
    const NAME: &'static str = "amx";
    avx512_lanes!();
    entry_points!(
        Avx512Amx,
        "avx512f,avx512bw,avx512vnni",
        gemm_body = crate::x86::amx::gemm_body,
        requantize_features = "avx512f,avx512bw,avx512vnni,avx512vbmi"
    );

    /// Each of the four byte planes through two `vpermi2b` (entries 0..128 and 128..256) and
    /// a blend on the index's top bit; the planes interleave back into words with unpacks. An
    /// unpack works within 16-byte lanes, so the indices are first permuted
    /// ([`TERM_INDEX_SWAP`]) to leave the 64 words in order. Only the `requantize` entry point
    /// enables VBMI: with it in every entry point, vww (which has no `Add`) ran 1.08x slower
    /// on amx, its other kernels compiled differently; called out of line from the others,
    /// resnet_large and resnet8 ran 1.02x and 1.01x slower than inlined.
    #[inline(always)]
    unsafe fn lookup_terms(table: &simd::TermTable, idx: *const i8, dst: *mut i32) {
        const { assert!(simd::TERMS_CHUNK == 64) };
        // SAFETY: `idx` has 64 readable bytes and `dst` room for 64 `i32` (the caller's
        // contract); each plane is 256 bytes, read as four vectors; the features (VBMI
        // included) are the token's.
        unsafe {
            let i = _mm512_permutexvar_epi8(
                _mm512_loadu_si512(TERM_INDEX_SWAP.as_ptr().cast()),
                _mm512_loadu_si512(idx.cast()),
            );
            let top = _mm512_movepi8_mask(i);
            let mut bytes = [_mm512_setzero_si512(); 4];
            for (plane, b) in table.planes.iter().zip(&mut bytes) {
                let t = plane.as_ptr();
                let low =
                    _mm512_permutex2var_epi8(_mm512_loadu_si512(t.cast()), i, _mm512_loadu_si512(t.add(64).cast()));
                let high = _mm512_permutex2var_epi8(
                    _mm512_loadu_si512(t.add(128).cast()),
                    i,
                    _mm512_loadu_si512(t.add(192).cast()),
                );
                *b = _mm512_mask_blend_epi8(top, low, high);
            }
            let (low01, high01) = (_mm512_unpacklo_epi8(bytes[0], bytes[1]), _mm512_unpackhi_epi8(bytes[0], bytes[1]));
            let (low23, high23) = (_mm512_unpacklo_epi8(bytes[2], bytes[3]), _mm512_unpackhi_epi8(bytes[2], bytes[3]));
            _mm512_storeu_si512(dst.cast(), _mm512_unpacklo_epi16(low01, low23));
            _mm512_storeu_si512(dst.add(16).cast(), _mm512_unpackhi_epi16(low01, low23));
            _mm512_storeu_si512(dst.add(32).cast(), _mm512_unpacklo_epi16(high01, high23));
            _mm512_storeu_si512(dst.add(48).cast(), _mm512_unpackhi_epi16(high01, high23));
        }
    }

    /// The tiles copy each block of rows out anyway: they widen the bytes in that copy.
    #[inline]
    fn widens_rows_itself(m: usize, np: usize, kp: usize) -> bool {
        tile_steps(m, np, kp).is_some()
    }
}

/// Rows per tile, and the bytes of one tile row (16 groups of four depths).
const TILE_ROWS: usize = 16;
const TILE_BYTES: usize = 64;
/// Rows of activations per block: two row tiles.
const BLOCK_ROWS: usize = 2 * TILE_ROWS;
/// Fewest rows for which the tiles run: below, most of a row tile would be padding.
const TILES_FROM_ROWS: usize = 16;
/// Fewest multiply-accumulates (rows by padded columns by depth padded to whole tiles) for
/// which the tiles run. Configuring and releasing the tiles, and the sums leaving them through
/// memory, cost about 0.4 µs a call: criterion on Sapphire Rapids, with every product on tiles
/// (benches named rows x depth x columns), put 16x72x16 (32K here) at 2.1x the VNNI time,
/// 196x144x32 (1.2M) at 0.95x, 784x576x64 (29M) at 0.68x and 256x1024x1024 at 0.43x.
/// The driver's own tests take the tiles from far smaller products, to reach every edge of
/// them with shapes the reference computes quickly.
const TILES_FROM_MACS: usize = if cfg!(test) { 1 << 12 } else { 1 << 19 };

/// Least depth (bytes) and padded columns of a product shallower than one tile that runs on
/// the tiles, as one padded step (see [`tile_steps`]). The depth bound admits 3x3 kernels over
/// three channels (27, padded to 28) and keeps off vww's 1x1 layers of depth 8 and 16, whose
/// step of 64 bytes would be an eighth or a quarter real.
const SHALLOW_FROM_DEPTH: usize = 24;
const SHALLOW_FROM_COLUMNS: usize = 48;

/// The steps of depth (whole tiles, the last padded) of a product of `m` rows, `np` padded
/// columns and depth `kp` that runs on the tiles; `None` for one that runs on the VNNI lanes
/// (fewer than [`TILES_FROM_ROWS`] rows or [`TILES_FROM_MACS`], or too shallow). A depth
/// below one tile runs as one padded step only from [`SHALLOW_FROM_DEPTH`] bytes and three
/// column blocks ([`SHALLOW_FROM_COLUMNS`]):
/// resnet_large's first layer (1024x27x40) ran 1.14x faster so in criterion, but with the
/// narrower shallow layers of resnet8 and vww on the tiles as well (1024x27x16, 2304x27x8
/// and 576x32x32: the first two faster alone in criterion, the third level) the vww model
/// ran 1.04x-1.07x slower.
fn tile_steps(m: usize, np: usize, kp: usize) -> Option<usize> {
    let (full, tail) = (kp / TILE_BYTES, kp % TILE_BYTES);
    let steps = full + usize::from(tail > 0);
    let macs = m.saturating_mul(np).saturating_mul(steps.saturating_mul(TILE_BYTES));
    let fits = BLOCK_ROWS.checked_mul(steps).and_then(|s| s.checked_mul(TILE_BYTES)).is_some();
    let deep_enough = full > 0 || (kp >= SHALLOW_FROM_DEPTH && np >= SHALLOW_FROM_COLUMNS);
    (fits && deep_enough && m >= TILES_FROM_ROWS && macs >= TILES_FROM_MACS).then_some(steps)
}

/// The byte positions of [`Isa::lookup_terms`]'s indices with bits 2-3 and 4-5 swapped: after
/// the 16-byte-lane unpacks of its planes, the 64 words come out in order.
static TERM_INDEX_SWAP: [u8; 64] = {
    let mut swap = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        swap[i] = ((i & 0b1100) << 2 | (i & 0b11_0000) >> 2 | (i & 0b11)) as u8;
        i += 1;
    }
    swap
};

/// A tile configuration as `ldtilecfg` reads it: palette, then each tile's bytes per row
/// (`u16` at byte 16 + 2t) and rows (byte 48 + t).
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

/// Palette 1, all eight tiles 16 rows of 64 bytes: tmm0 to tmm3 the sums (two row tiles by two
/// column blocks of 16 `i32`), tmm4 and tmm5 the activations, tmm6 and tmm7 the weights.
static CONFIG: TileConfig = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = TILE_BYTES as u8;
        c[48 + t] = TILE_ROWS as u8;
        t += 1;
    }
    TileConfig(c)
};

/// The sums of one block: `BLOCK_ROWS` rows by two column blocks of 16 `i32`.
#[repr(C, align(64))]
struct Sums([[i32; 2 * TILE_ROWS]; BLOCK_ROWS]);

/// One column pair of a panel: column blocks `cb` and, if `two`, `cb + 1` (16 columns each) of
/// the panel at column `c0`.
#[derive(Clone, Copy)]
struct ColumnPair {
    c0: usize,
    cb: usize,
    two: bool,
}

/// The product on tiles where [`tile_steps`] admits it (rows, depth and work enough for
/// them), else [`simd::gemm_body`]. Blocks of 32 rows are
/// copied out (gathered runs too) into rows padded with zeros to whole tiles of depth; for each
/// column pair of each panel the tiles of depth accumulate in tmm0 to tmm3, which are stored,
/// and the per-column constant and the output stage follow on the VNNI lanes, row by row. The
/// output of one pair runs while the tiles multiply the next (two buffers of sums), so that
/// the vector units and the tile unit work at the same time; the last pair of a block
/// finishes during the next block's first. Every buffer a tile load reads starts on a cache
/// line (`crate::aligned`).
///
/// # Safety
/// As [`simd::gemm_body`], and `I` must be [`Avx512Amx`] (its token proves the tiles usable).
#[inline(always)]
pub(crate) unsafe fn gemm_body<I: Isa<X = u8>, const DOUBLE: bool>(p: &Gemm<'_, u8>, out: &mut [i8]) {
    const { assert!(I::LANES == 16 && I::GROUP == 4 && I::PANEL == 64) };
    let Some(steps) = tile_steps(p.m, p.np, p.kp) else {
        // SAFETY: the caller's contract.
        return unsafe { lanes_body::<I, DOUBLE>(p, out) };
    };
    let (full, tail) = (p.kp / TILE_BYTES, p.kp % TILE_BYTES);
    // Rows of the block padded with zeros to whole tiles of depth: the last tile's products
    // past `kp` are zero, whatever weights they meet. (`tile_steps` checked the size.)
    let stride = steps * TILE_BYTES;
    // On a cache line, as the panels are (see `crate::aligned`); `tile_steps` checked the size.
    let (Some(mut rows_out), Some(tail_weights)) =
        (LineAligned::<u8>::zeroed(BLOCK_ROWS * stride), tail_tiles::<I>(p, full, tail))
    else {
        // SAFETY: the caller's contract.
        return unsafe { lanes_body::<I, DOUBLE>(p, out) };
    };
    let mut sums = [Sums([[0; 2 * TILE_ROWS]; BLOCK_ROWS]), Sums([[0; 2 * TILE_ROWS]; BLOCK_ROWS])];
    // The pair whose sums wait in `sums[ready]` for their output stage, with its block's first
    // row and rows. It waits across blocks too: the last pair of a block finishes while the
    // next block's first pair multiplies (with 40 columns, half of all pairs are last ones).
    let (mut pending, mut ready) = (None, 0);
    // SAFETY: the caller's token proves the tiles usable; `CONFIG` is a valid palette-1 config.
    unsafe { asm!("ldtilecfg [{}]", in(reg) CONFIG.0.as_ptr(), options(nostack, readonly)) };
    let mut r0 = 0;
    while r0 < p.m {
        let rows = BLOCK_ROWS.min(p.m - r0);
        for (i, dst) in rows_out.chunks_exact_mut(stride).take(rows).enumerate() {
            // SAFETY: the features are the caller's.
            unsafe { copy_row(p, r0 + i, &mut dst[..p.kp]) };
        }
        let two_rows = rows > TILE_ROWS;
        let mut c0 = 0;
        while c0 < p.np {
            let w = I::PANEL.min(p.np - c0);
            let mut cb = 0;
            while cb < w / I::LANES {
                let pair = ColumnPair { c0, cb, two: cb + 1 < w / I::LANES };
                let tiles = Tiles {
                    a: rows_out.as_ptr(),
                    a_stride: stride,
                    b: p.packed[c0 * p.kp + cb * TILE_BYTES..].as_ptr(),
                    b_tail: tail_weights.get((c0 + cb) * TILE_BYTES..).map_or(core::ptr::null(), <[i8]>::as_ptr),
                    b_stride: w * I::GROUP,
                    full,
                    steps,
                };
                let [first, second] = &mut sums;
                let (done, filling) = if ready == 0 { (&*first, second) } else { (&*second, first) };
                // No pair before the first: no rows to finish.
                let before = Finishing { sums: done, of: pending.unwrap_or(BlockPair { pair, r0, rows: 0 }) };
                // SAFETY: tile loads read `steps` whole tiles of depth of 32 rows of `stride`
                // bytes (`rows_out`), groups `0..16 * full` of column blocks `cb` (and `cb + 1`
                // if `two`) of the panel (inside it, as `full * 64 <= kp`), and, if `steps >
                // full`, the same blocks of the panel's tail tile; the tiles are configured.
                // The sums of the pair before lie in the other buffer.
                unsafe {
                    multiply::<I, DOUBLE>(&tiles, two_rows, pair.two, p, &before, out);
                    store(filling, two_rows, pair.two);
                }
                ready ^= 1;
                pending = Some(BlockPair { pair, r0, rows });
                cb += 2;
            }
            c0 += w;
        }
        r0 += rows;
    }
    if let Some(of) = pending {
        let (last, rows) = (Finishing { sums: &sums[ready], of }, of.rows);
        // SAFETY: as above, for the last pair.
        unsafe { last.rows::<I, DOUBLE>(p, 0, rows, out) };
    }
    // SAFETY: releases the configuration loaded above.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// [`simd::gemm_body`] for a product too small for the tiles; the activations widened first
/// where the driver left them raw (it does so only for products on the tiles, by the same
/// [`tile_steps`], so this copy is a safety net, not a path any call takes).
///
/// # Safety
/// As [`simd::gemm_body`].
#[inline(always)]
unsafe fn lanes_body<I: Isa<X = u8>, const DOUBLE: bool>(p: &Gemm<'_, u8>, out: &mut [i8]) {
    let Some(raw) = p.raw else {
        // SAFETY: the caller's contract.
        return unsafe { simd::gemm_body::<I, DOUBLE>(p, out) };
    };
    // `qgemm` and `qgemm_gathered` checked `m * kp`.
    let xs = simd::widen_rows::<I>(&raw, p.gather.is_some(), p.m, p.kp);
    let widened = Gemm { xs: &xs, raw: None, gather: p.gather, ..*p };
    // SAFETY: the caller's contract, with the rows now widened as `Gemm` says.
    unsafe { simd::gemm_body::<I, DOUBLE>(&widened, out) }
}

/// Row `r` of the product's activations into `dst` (its `kp` bytes), widened: read raw from
/// [`Gemm::raw`] and flipped to unsigned here, or copied from the driver's widened rows.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512BW; `p` must be as [`Gemm`] says.
#[inline(always)]
unsafe fn copy_row(p: &Gemm<'_, u8>, r: usize, dst: &mut [u8]) {
    let Some(raw) = p.raw else {
        for (s, run) in dst.chunks_exact_mut(p.segment_len).enumerate() {
            let at = p.segment_start(r, s);
            run.copy_from_slice(&p.xs[at..at + p.segment_len]);
        }
        return;
    };
    // SAFETY (all calls): the features are the caller's.
    match p.gather {
        None => unsafe { copy_widened(&raw.image[r * raw.row_len..][..raw.row_len], &mut dst[..raw.row_len]) },
        Some(offsets) => {
            for (s, run) in dst.chunks_exact_mut(p.segment_len).enumerate() {
                let at = offsets[r * p.segments + s];
                // A run may start in the image and end in the extra rows (the driver's checks
                // allow it; the engine's offsets never do).
                let in_image = raw.image.len().saturating_sub(at).min(run.len());
                let (head, rest) = run.split_at_mut(in_image);
                unsafe { copy_widened(&raw.image[at.min(raw.image.len())..][..in_image], head) };
                if !rest.is_empty() {
                    // Here `at + in_image` is at least the image's length: `max(at, len)`.
                    let from = at + in_image - raw.image.len();
                    unsafe { copy_widened(&raw.extra[from..][..rest.len()], rest) };
                }
            }
        }
    }
}

/// `dst[i] = src[i] ^ 0x80` (the activations as the unsigned bytes `tdpbusd` reads), 64 bytes
/// at a time, the last block through masked loads and stores.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512BW; `dst` must be as long as `src`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn copy_widened(src: &[i8], dst: &mut [u8]) {
    debug_assert_eq!(src.len(), dst.len());
    let flip = _mm512_set1_epi8(i8::MIN);
    let (mut i, len) = (0, src.len().min(dst.len()));
    // SAFETY (both blocks): the loads and stores touch `src[i..i + 64]` and `dst[i..i + 64]`
    // (inside both, `i + 64 <= len`), then only the `len - i` bytes the mask selects.
    while i + 64 <= len {
        unsafe {
            let x = _mm512_loadu_si512(src.as_ptr().add(i).cast());
            _mm512_storeu_si512(dst.as_mut_ptr().add(i).cast(), _mm512_xor_si512(x, flip));
        }
        i += 64;
    }
    if i < len {
        let mask: __mmask64 = (1u64 << (len - i)) - 1;
        unsafe {
            let x = _mm512_maskz_loadu_epi8(mask, src.as_ptr().add(i));
            _mm512_mask_storeu_epi8(dst.as_mut_ptr().add(i).cast(), mask, _mm512_xor_si512(x, flip));
        }
    }
}

/// The weights of the depth past the whole tiles, one tile of 16 groups per panel, padded with
/// zeros: the panel at column `c0` (`w` wide) has its last `tail / 4` groups at
/// `c0 * 64 + g * w * 4` (`g < 16`), in the panel's own layout, so that the last step of depth
/// reads them as the others read the panel. Empty where `kp` is whole tiles.
fn tail_tiles<I: Isa>(p: &Gemm<'_, u8>, full: usize, tail: usize) -> Option<LineAligned<i8>> {
    if tail == 0 {
        return LineAligned::zeroed(0);
    }
    let mut tiles = LineAligned::zeroed(p.np.checked_mul(TILE_BYTES)?)?;
    let mut c0 = 0;
    while c0 < p.np {
        let w = I::PANEL.min(p.np - c0);
        let groups = &p.packed[c0 * p.kp + full * TILE_ROWS * w * I::GROUP..(c0 + w) * p.kp];
        tiles[c0 * TILE_BYTES..][..groups.len()].copy_from_slice(groups);
        c0 += w;
    }
    Some(tiles)
}

/// Where one column pair's tiles are read: `a` the block's rows, `a_stride` apart; `b` the
/// column block's first group in the panel, its groups `b_stride` apart; `b_tail` the same
/// block in the panel's tail tile ([`tail_tiles`]); `full` steps of depth from the panel, then,
/// if `steps > full`, one from the tail tile.
struct Tiles {
    a: *const u8,
    a_stride: usize,
    b: *const i8,
    b_tail: *const i8,
    b_stride: usize,
    full: usize,
    steps: usize,
}

/// A column pair of the block of `rows` rows at row `r0`.
#[derive(Clone, Copy)]
struct BlockPair {
    pair: ColumnPair,
    r0: usize,
    rows: usize,
}

/// The per-column constant and the output stage still to run for one column pair of a block,
/// from its tile sums; `of.rows == 0` for none.
struct Finishing<'s> {
    sums: &'s Sums,
    of: BlockPair,
}

impl Finishing<'_> {
    /// The output stage of the block's rows `from..to` (clamped to its rows).
    ///
    /// # Safety
    /// As [`simd::gemm_body`]; `sums` holds the pair's sums over the whole depth.
    #[inline(always)]
    unsafe fn rows<I: Isa<X = u8>, const DOUBLE: bool>(
        &self,
        p: &Gemm<'_, u8>,
        from: usize,
        to: usize,
        out: &mut [i8],
    ) {
        let BlockPair { pair, r0, rows } = self.of;
        for i in from..to.min(rows) {
            let row_sums = &self.sums.0[i];
            for y in pair.cb..pair.cb + 1 + usize::from(pair.two) {
                // SAFETY: 16 sums at `row_sums[16 * (y - cb)]`; `c0 + 16 * y < np`; the
                // features are the caller's.
                unsafe {
                    let acc = I::load_i32(row_sums[(y - pair.cb) * I::LANES..].as_ptr());
                    simd::finish::<I, DOUBLE>(p, acc, r0 + i, pair.c0 + y * I::LANES, out);
                }
            }
        }
    }
}

/// [`accumulate`] for one or two row tiles by one or two column blocks.
///
/// # Safety
/// As [`accumulate`].
#[inline(always)]
unsafe fn multiply<I: Isa<X = u8>, const DOUBLE: bool>(
    tiles: &Tiles,
    two_rows: bool,
    two: bool,
    p: &Gemm<'_, u8>,
    before: &Finishing<'_>,
    out: &mut [i8],
) {
    // SAFETY: forwarded.
    unsafe {
        match (two_rows, two) {
            (true, true) => accumulate::<I, DOUBLE, true, true>(tiles, p, before, out),
            (true, false) => accumulate::<I, DOUBLE, true, false>(tiles, p, before, out),
            (false, true) => accumulate::<I, DOUBLE, false, true>(tiles, p, before, out),
            (false, false) => accumulate::<I, DOUBLE, false, false>(tiles, p, before, out),
        }
    }
}

/// Stores tmm0 (rows 0..16, columns 0..16 of `sums`), tmm1 (columns 16..32) if `two`, and
/// tmm2 and tmm3 (rows 16..32) if `two_rows`.
///
/// # Safety
/// The tiles must be configured as [`CONFIG`].
#[inline(always)]
unsafe fn store(sums: &mut Sums, two_rows: bool, two: bool) {
    let (c, stride) = (sums.0.as_mut_ptr().cast::<i32>(), core::mem::size_of::<[i32; 2 * TILE_ROWS]>());
    // SAFETY: each store writes 16 rows of 64 bytes, `stride` apart, inside `sums`.
    unsafe {
        asm!("tilestored [{c} + {s}*1], tmm0", c = in(reg) c, s = in(reg) stride, options(nostack));
        if two {
            asm!("tilestored [{c} + {s}*1], tmm1", c = in(reg) c.add(TILE_ROWS), s = in(reg) stride, options(nostack));
        }
        if two_rows {
            let lower = c.add(TILE_ROWS * 2 * TILE_ROWS);
            asm!("tilestored [{c} + {s}*1], tmm2", c = in(reg) lower, s = in(reg) stride, options(nostack));
            if two {
                asm!("tilestored [{c} + {s}*1], tmm3", c = in(reg) lower.add(TILE_ROWS), s = in(reg) stride, options(nostack));
            }
        }
    }
}

/// `steps` tiles of depth of one or two row tiles (`TWO_ROWS`) by one or two column blocks
/// (`PAIR`), summed from zero in tmm0 to tmm3 (tmm2 and tmm3 the second row tile, tmm1 and tmm3
/// the second column block); [`store`] takes them out. After each step's tile instructions
/// comes a share of `before`'s output stage: the tile unit multiplies while the vector units
/// finish the pair before. (Run after all the tile instructions, the stage waited behind them:
/// the reorder buffer retires in order and filled with finished vector work while the tiles
/// ran; 1024x360x40 took the tiles' time plus the stage's.)
///
/// # Safety
/// The tiles must be configured as [`CONFIG`]; `t.a` must have `(TWO_ROWS ? 32 : 16)` rows of
/// `steps * 64` bytes readable `a_stride` apart, `t.b` `16 * full` rows and, if `steps > full`,
/// `t.b_tail` 16 rows, of 64 bytes (128 with `PAIR`), readable `b_stride` apart; `before` as
/// [`Finishing::rows`] says.
#[inline(always)]
unsafe fn accumulate<I: Isa<X = u8>, const DOUBLE: bool, const TWO_ROWS: bool, const PAIR: bool>(
    t: &Tiles,
    p: &Gemm<'_, u8>,
    before: &Finishing<'_>,
    out: &mut [i8],
) {
    let share = before.of.rows.div_ceil(t.steps.max(1));
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
        for step in 0..t.steps {
            let at = t.a.add(step * TILE_BYTES);
            let bt = if step < t.full { t.b.add(step * TILE_ROWS * t.b_stride) } else { t.b_tail };
            asm!("tileloadd tmm4, [{a} + {sa}*1]", "tileloadd tmm6, [{b} + {sb}*1]", "tdpbusd tmm0, tmm4, tmm6",
                a = in(reg) at, sa = in(reg) t.a_stride, b = in(reg) bt, sb = in(reg) t.b_stride, options(nostack, readonly));
            if PAIR {
                asm!("tileloadd tmm7, [{b} + {sb}*1]", "tdpbusd tmm1, tmm4, tmm7",
                    b = in(reg) bt.add(TILE_BYTES), sb = in(reg) t.b_stride, options(nostack, readonly));
            }
            if TWO_ROWS {
                asm!("tileloadd tmm5, [{a} + {sa}*1]", "tdpbusd tmm2, tmm5, tmm6",
                    a = in(reg) at.add(TILE_ROWS * t.a_stride), sa = in(reg) t.a_stride, options(nostack, readonly));
                if PAIR {
                    asm!("tdpbusd tmm3, tmm5, tmm7", options(nostack, nomem));
                }
            }
            before.rows::<I, DOUBLE>(p, step * share, (step + 1) * share, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gate by shape alone (the test build's `TILES_FROM_MACS` is 2^12): shallow products
    /// reach the tiles only with three column blocks and 24 bytes of depth.
    #[test]
    fn tiles_take_a_shallow_depth_only_wide_enough() {
        assert_eq!(tile_steps(40, 48, 28), Some(1), "resnet_large's first layer");
        assert_eq!(tile_steps(33, 80, 40), Some(1), "resnet_large's 1x1 layer of depth 40");
        assert_eq!(tile_steps(64, 32, 28), None, "two column blocks");
        assert_eq!(tile_steps(64, 64, 16), None, "a quarter of a tile of depth");
        assert_eq!(tile_steps(64, 16, 64), Some(1), "a whole tile of depth, one column block");
        assert_eq!(tile_steps(15, 64, 64), None, "fewer rows than a tile");
        assert_eq!(tile_steps(64, 64, 0), None, "no depth");
    }

    /// `lookup_terms`' order of words without the CPU: the unpacks modelled byte by byte
    /// (each works within 16-byte lanes: `unpacklo_epi8` interleaves bytes 0..8 of each lane,
    /// `unpackhi_epi8` bytes 8..16, the `epi16` forms words 0..4 and 4..8), applied to the
    /// planes as the permuted indices select them, give word `j` for index `j`.
    #[test]
    fn term_index_swap_leaves_the_words_in_order() {
        let words: [i32; 256] = core::array::from_fn(|i| (i as i32).wrapping_mul(0x0123_4567) ^ (i as i32) << 8);
        let table = simd::TermTable::new(&words);
        let idx: [u8; 64] = core::array::from_fn(|j| (j as u8).wrapping_mul(37).wrapping_add(11));
        let permuted: [u8; 64] = core::array::from_fn(|pos| idx[usize::from(TERM_INDEX_SWAP[pos])]);
        let plane = |p: usize| -> [u8; 64] { core::array::from_fn(|pos| table.planes[p][usize::from(permuted[pos])]) };
        let bytes = [plane(0), plane(1), plane(2), plane(3)];
        // `unpack{lo,hi}_epi8(a, b)` as 16-bit words: lane `l`, word `k` from byte `k` (+8).
        let unpack8 = |a: &[u8; 64], b: &[u8; 64], high: bool| -> [u16; 32] {
            core::array::from_fn(|w| {
                let (lane, k) = (w / 8, w % 8 + if high { 8 } else { 0 });
                u16::from(a[16 * lane + k]) | u16::from(b[16 * lane + k]) << 8
            })
        };
        // `unpack{lo,hi}_epi16(x, y)` as 32-bit words: lane `l`, word `k` from words `k` (+4).
        let unpack16 = |x: &[u16; 32], y: &[u16; 32], high: bool| -> [u32; 16] {
            core::array::from_fn(|d| {
                let (lane, k) = (d / 4, d % 4 + if high { 4 } else { 0 });
                u32::from(x[8 * lane + k]) | u32::from(y[8 * lane + k]) << 16
            })
        };
        let (low01, high01) = (unpack8(&bytes[0], &bytes[1], false), unpack8(&bytes[0], &bytes[1], true));
        let (low23, high23) = (unpack8(&bytes[2], &bytes[3], false), unpack8(&bytes[2], &bytes[3], true));
        let stored = [
            unpack16(&low01, &low23, false),
            unpack16(&low01, &low23, true),
            unpack16(&high01, &high23, false),
            unpack16(&high01, &high23, true),
        ];
        for j in 0..64 {
            assert_eq!(stored[j / 16][j % 16] as i32, words[usize::from(idx[j])], "word {j}");
        }
    }
}
