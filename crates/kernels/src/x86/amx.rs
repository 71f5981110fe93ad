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
//! Linux keeps the tile registers off until a process asks for them (`arch_prctl`
//! `ARCH_REQ_XCOMP_PERM`); [`Avx512Amx::detect`] asks once and makes a token only if the
//! kernel granted them and the CPU has AMX-TILE and AMX-INT8 besides the AVX-512 features.
//!
//! Must never: run a tile instruction without a token, leave a call with the tiles
//! configured (each product releases them), read outside its buffers (every tile load is
//! inside the activations' block, the panel or the panel's tail tile, checked below), or use
//! floating point.

use core::arch::asm;
use core::arch::x86_64::*;

use super::avx512::avx512_lanes;
use crate::simd::{self, Gemm, Isa, entry_points, lanes, one_intrinsic_lanes};

/// Proof that this CPU has the [`super::Avx512`] features, AMX-TILE and AMX-INT8, and that the
/// operating system let this process use the tiles: only [`Avx512Amx::detect`] makes one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512Amx {
    _private: (),
}

impl Avx512Amx {
    /// The token, if this CPU and operating system run the tiles (asked once per process).
    pub(crate) fn detect() -> Option<Self> {
        #[cfg(all(feature = "std", target_os = "linux"))]
        if super::Avx512::detect().is_some() && tiles_granted() {
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
    entry_points!(Avx512Amx, "avx512f,avx512bw,avx512vnni", gemm_body = crate::x86::amx::gemm_body);
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

/// The product on tiles where it has the rows, a whole tile of depth and the work for them
/// ([`TILES_FROM_ROWS`], [`TILES_FROM_MACS`]), else [`simd::gemm_body`]. Blocks of 32 rows are
/// copied out (gathered runs too) into rows padded with zeros to whole tiles of depth; for each
/// column pair of each panel the tiles of depth accumulate in tmm0 to tmm3, which are stored,
/// and the per-column constant and the output stage follow on the VNNI lanes, row by row. The
/// output of one pair runs while the tiles multiply the next (two buffers of sums), so that
/// the vector units and the tile unit work at the same time.
///
/// # Safety
/// As [`simd::gemm_body`], and `I` must be [`Avx512Amx`] (its token proves the tiles usable).
#[inline(always)]
pub(crate) unsafe fn gemm_body<I: Isa<X = u8>, const DOUBLE: bool>(p: &Gemm<'_, u8>, out: &mut [i8]) {
    const { assert!(I::LANES == 16 && I::GROUP == 4 && I::PANEL == 64) };
    let (full, tail) = (p.kp / TILE_BYTES, p.kp % TILE_BYTES);
    let steps = full + usize::from(tail > 0);
    // Rows of the block padded with zeros to whole tiles of depth: the last tile's products
    // past `kp` are zero, whatever weights they meet.
    let stride = steps * TILE_BYTES;
    let block_len = BLOCK_ROWS.checked_mul(stride);
    let macs = p.m.saturating_mul(p.np).saturating_mul(stride);
    let Some(block_len) = block_len.filter(|_| full > 0 && p.m >= TILES_FROM_ROWS && macs >= TILES_FROM_MACS) else {
        // SAFETY: the caller's contract.
        return unsafe { simd::gemm_body::<I, DOUBLE>(p, out) };
    };
    let mut rows_out = alloc::vec![0u8; block_len];
    let tail_weights = tail_tiles::<I>(p, full, tail);
    let mut sums = [Sums([[0; 2 * TILE_ROWS]; BLOCK_ROWS]), Sums([[0; 2 * TILE_ROWS]; BLOCK_ROWS])];
    // SAFETY: the caller's token proves the tiles usable; `CONFIG` is a valid palette-1 config.
    unsafe { asm!("ldtilecfg [{}]", in(reg) CONFIG.0.as_ptr(), options(nostack, readonly)) };
    let mut r0 = 0;
    while r0 < p.m {
        let rows = BLOCK_ROWS.min(p.m - r0);
        for (i, dst) in rows_out.chunks_exact_mut(stride).take(rows).enumerate() {
            for (s, run) in dst[..p.kp].chunks_exact_mut(p.segment_len).enumerate() {
                let at = p.segment_start(r0 + i, s);
                run.copy_from_slice(&p.xs[at..at + p.segment_len]);
            }
        }
        let two_rows = rows > TILE_ROWS;
        let (mut pending, mut stored) = (None, 0);
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
                // SAFETY: tile loads read `steps` whole tiles of depth of 32 rows of `stride`
                // bytes (`rows_out`), groups `0..16 * full` of column blocks `cb` (and `cb + 1`
                // if `two`) of the panel (inside it, as `full * 64 <= kp`), and, if `steps >
                // full`, the same blocks of the panel's tail tile; the tiles are configured.
                // The sums of the pair before lie in the other buffer.
                unsafe {
                    multiply(&tiles, two_rows, pair.two);
                    if let Some(before) = pending {
                        finish_pair::<I, DOUBLE>(p, &sums[stored], before, (r0, rows), out);
                    }
                    stored ^= 1;
                    store(&mut sums[stored], two_rows, pair.two);
                }
                pending = Some(pair);
                cb += 2;
            }
            c0 += w;
        }
        if let Some(before) = pending {
            // SAFETY: as above, for the last pair.
            unsafe { finish_pair::<I, DOUBLE>(p, &sums[stored], before, (r0, rows), out) };
        }
        r0 += rows;
    }
    // SAFETY: releases the configuration loaded above.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// The weights of the depth past the whole tiles, one tile of 16 groups per panel, padded with
/// zeros: the panel at column `c0` (`w` wide) has its last `tail / 4` groups at
/// `c0 * 64 + g * w * 4` (`g < 16`), in the panel's own layout, so that the last step of depth
/// reads them as the others read the panel. Empty where `kp` is whole tiles.
fn tail_tiles<I: Isa>(p: &Gemm<'_, u8>, full: usize, tail: usize) -> alloc::vec::Vec<i8> {
    if tail == 0 {
        return alloc::vec::Vec::new();
    }
    let mut tiles = alloc::vec![0i8; p.np * TILE_BYTES];
    let mut c0 = 0;
    while c0 < p.np {
        let w = I::PANEL.min(p.np - c0);
        let groups = &p.packed[c0 * p.kp + full * TILE_ROWS * w * I::GROUP..(c0 + w) * p.kp];
        tiles[c0 * TILE_BYTES..][..groups.len()].copy_from_slice(groups);
        c0 += w;
    }
    tiles
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

/// The per-column constant and the output stage of one column pair, for the `rows` rows of
/// the block at row `r0`, from their tile sums.
///
/// # Safety
/// As [`simd::gemm_body`]; `sums` holds the pair's sums over the whole depth.
#[inline(always)]
unsafe fn finish_pair<I: Isa<X = u8>, const DOUBLE: bool>(
    p: &Gemm<'_, u8>,
    sums: &Sums,
    pair: ColumnPair,
    (r0, rows): (usize, usize),
    out: &mut [i8],
) {
    for (i, row_sums) in sums.0.iter().enumerate().take(rows) {
        for y in pair.cb..pair.cb + 1 + usize::from(pair.two) {
            // SAFETY: 16 sums at `row_sums[16 * (y - cb)]`; `c0 + 16 * y < np`; the features
            // are the caller's.
            unsafe {
                let acc = I::load_i32(row_sums[(y - pair.cb) * I::LANES..].as_ptr());
                simd::finish::<I, DOUBLE>(p, acc, r0 + i, pair.c0 + y * I::LANES, out);
            }
        }
    }
}

/// [`accumulate`] for one or two row tiles by one or two column blocks.
///
/// # Safety
/// As [`accumulate`].
#[inline(always)]
unsafe fn multiply(tiles: &Tiles, two_rows: bool, two: bool) {
    // SAFETY: forwarded.
    unsafe {
        match (two_rows, two) {
            (true, true) => accumulate::<true, true>(tiles),
            (true, false) => accumulate::<true, false>(tiles),
            (false, true) => accumulate::<false, true>(tiles),
            (false, false) => accumulate::<false, false>(tiles),
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
/// the second column block); [`store`] takes them out.
///
/// # Safety
/// The tiles must be configured as [`CONFIG`]; `t.a` must have `(TWO_ROWS ? 32 : 16)` rows of
/// `steps * 64` bytes readable `a_stride` apart, `t.b` `16 * full` rows and, if `steps > full`,
/// `t.b_tail` 16 rows, of 64 bytes (128 with `PAIR`), readable `b_stride` apart.
#[inline(always)]
unsafe fn accumulate<const TWO_ROWS: bool, const PAIR: bool>(t: &Tiles) {
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
        }
    }
}
