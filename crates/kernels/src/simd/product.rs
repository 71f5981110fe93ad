//! The vector driver of [`crate::batch_matmul`], the product of two activations (attention's
//! scores and values), written once over an [`Isa`].
//!
//! Neither factor is known at load, so whatever layout the product wants is built on every
//! call, and must stay cheap beside the product itself: each pass over a factor is linear and
//! reads it in order (a transpose by scattered stores made a one-row product four times
//! slower than the reference). So:
//! - the right factor stored by columns (`transpose_rhs`) is read raw, each column's bytes
//!   widened in a register (only the last, partial chunk of each column is copied out, padded);
//! - the right factor stored by rows is interleaved into panels of neighbour-row `i16` pairs,
//!   read by a broadcast of the left row's matching pair;
//! - the left factor is centered once (`a - za`), to `i16` rows or packed pairs.
//!
//! The right zero point comes out of the sums afterwards, as each row's fix
//! `-zb * sum (a - za)`: `sum (a - za)(b - zb) = sum (a - za) b + fix`, each in wrapping
//! `i32`, so it equals the reference's wrapping sum modulo 2^32, hence equals it.
//!
//! Tiles of [`TILE_ROWS`] rows by [`TILE_COLS`] columns (or vectors of columns) share every
//! load; blocks of rows and of columns keep what the tiles reread in cache.
//!
//! Many small batches cost per batch, not per product: their sums are gathered for up to
//! [`GROUP_ACCUMULATORS`] outputs and requantized together, with the stage's vectors built once
//! per call, and a batch of at most [`SMALL_PRODUCT_MACS`] multiply-accumulates skips the
//! layouts for plain loops (the gas search's worst product had been 16,382 batches of one
//! output, at 10x the reference's time).
//!
//! Must never: read or write outside the slices it is given, leave an output unwritten, or
//! touch floating point.

use alloc::vec;
use alloc::vec::Vec;

use super::{Isa, StageVectors, one_scale_vectors, requantize_uniform_with};
use crate::aligned::LineAligned;
use crate::{ActivationProduct, OutputStage};

/// Left rows per tile: each right load feeds this many multiply-accumulates.
const TILE_ROWS: usize = 4;
/// Right columns (stored by columns) or vectors of columns (stored by rows) per tile.
const TILE_COLS: usize = 2;
/// Most left rows per block, whose accumulators are requantized together.
const BLOCK_ROWS: usize = 64;
/// Bytes of the left factor's layout per block of rows, which every column (or panel) of the
/// block rereads.
const BLOCK_ROW_BYTES: usize = 128 << 10;
/// Bytes of raw right columns per block of columns, which every tile of rows rereads.
const BLOCK_COLUMN_BYTES: usize = 64 << 10;
/// Accumulators of whole batches that are requantized together, where a batch's output is
/// smaller: the stage's per-run cost is paid once per group, not per batch.
const GROUP_ACCUMULATORS: usize = 4096;
/// Most multiply-accumulates of one batch summed by the plain loops ([`small_sums`]), right
/// factor stored by columns and by rows: below them the layouts and tiles cost more than the
/// products (criterion group `batch-matmul`, its many-batch shapes).
const SMALL_PRODUCT_MACS: [usize; 2] = [256, 128];
/// Right factors stored by rows narrower than this are summed a column at a time (strided,
/// [`small_sums`]), and otherwise copied into columns, whose product reads them raw: their
/// panels would be mostly padding, a vector per pair of rows for a few columns (1x32767 by
/// 32767x3 took 4x the reference's time). Wider ones are summed a row at a time, or laid out.
const NARROW_ROWS: usize = 16;

/// How a block's right factor is laid out.
enum Right<'a> {
    /// Stored by columns, `n` rows of `k` raw bytes; `tails` holds each column's last
    /// `k % (2 * LANES)` bytes padded with zeros to `2 * LANES` (empty when that is 0).
    Columns { raw: &'a [i8], k: usize, tails: &'a [i8], column_block: usize },
    /// Stored by rows, as panels of [`TILE_COLS`] vectors of columns: panel `p`, pair `d` holds
    /// the `2 * TILE_COLS * LANES` `i16` `(b[2d][c], b[2d + 1][c])` of its columns (zero past
    /// `k` and past `n`).
    Panels { panels: &'a [i16], pairs_per_column: usize },
}

/// One block of rows of one product, as [`block_body`] reads it.
struct Block<'a> {
    /// Rows in the block.
    rows: usize,
    /// Output columns.
    n: usize,
    /// The block's left rows: for [`Right::Columns`] `rows` rows of `row_len` centered `i16`
    /// (zero past `k`); for [`Right::Panels`] `rows` rows of `row_len` packed pairs
    /// `(a[2d] - za) | (a[2d + 1] - za) << 16` (zero past `k`), as `i32`.
    left_i16: &'a [i16],
    left_pairs: &'a [i32],
    row_len: usize,
    /// `-zb * sum (a - za)` of each row, wrapping.
    row_fix: &'a [i32],
    right: Right<'a>,
}

/// `out = stage(lhs x rhs)` for every batch of `shape`, the bytes of
/// [`crate::reference::batch_matmul`]. Lengths were checked by [`crate::batch_matmul`].
/// Returns false, writing nothing, only where a layout's size overflows (unreachable under the
/// engine's limits); the caller then runs the reference.
pub(crate) fn batch_matmul<I: Isa>(
    isa: I,
    shape: &ActivationProduct,
    lhs: &[i8],
    rhs: &[i8],
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> bool {
    if shape.batch == 0 || shape.m == 0 || shape.n == 0 {
        return true;
    }
    // One column stored by rows is the same bytes as stored by columns, which is read raw
    // rather than laid out into panels mostly of padding.
    let shape = &ActivationProduct { transpose_rhs: shape.transpose_rhs || shape.n == 1, ..*shape };
    let Some(mut scratch) = Scratch::new::<I>(shape, stage) else { return false };
    isa.product(&Product { shape: *shape, lhs, rhs, stage }, &mut scratch, out);
    true
}

/// The arguments of one [`batch_matmul`], as [`Isa::product`] reads them.
pub(crate) struct Product<'a> {
    shape: ActivationProduct,
    lhs: &'a [i8],
    rhs: &'a [i8],
    stage: &'a OutputStage<'a>,
}

/// The per-call buffers of one [`batch_matmul`], reused by every batch, and its block sizes.
pub(crate) struct Scratch {
    /// Centered left rows (`transpose_rhs`), `m` rows of `row_len` `i16`.
    left_i16: LineAligned<i16>,
    /// Packed left pairs (else), `m` rows of `row_len` `i32`.
    left_pairs: LineAligned<i32>,
    row_len: usize,
    /// Each column's padded last chunk ([`Right::Columns`]).
    tails: Vec<i8>,
    /// The right factor's panels ([`Right::Panels`]).
    panels: LineAligned<i16>,
    /// A narrow right factor stored by rows, copied into `n` columns of `k` bytes (empty
    /// unless it is copied).
    columns: Vec<i8>,
    row_fix: Vec<i32>,
    /// One block's accumulators, `block_rows * n`, or (where it holds one) a group of whole
    /// batches' outputs.
    acc: Vec<i32>,
    /// The output stage's vectors, built once per call.
    stage: StageVectors,
    block_rows: usize,
    column_block: usize,
}

impl Scratch {
    /// The buffers, or `None` where a size overflows.
    fn new<I: Isa>(shape: &ActivationProduct, stage: &OutputStage<'_>) -> Option<Self> {
        let ActivationProduct { batch, m, k, n, transpose_rhs, .. } = *shape;
        let copies = copies_into_columns(shape);
        let columns = if copies { vec![0i8; k.checked_mul(n)?] } else { Vec::new() };
        let transpose_rhs = transpose_rhs || copies;
        let chunk = 2 * I::LANES;
        let (row_len, row_bytes) =
            if transpose_rhs { (k.checked_next_multiple_of(chunk)?, 2) } else { (k.div_ceil(2), 4) };
        let block_rows = (BLOCK_ROW_BYTES / row_len.saturating_mul(row_bytes).max(1)).clamp(TILE_ROWS, BLOCK_ROWS)
            / TILE_ROWS
            * TILE_ROWS;
        let column_block = (BLOCK_COLUMN_BYTES / k.max(1)).clamp(TILE_COLS, 64) / TILE_COLS * TILE_COLS;
        let left = m.checked_mul(row_len)?;
        let (left_i16, left_pairs, tails, panels) = if transpose_rhs {
            let tails = if k % chunk == 0 { Vec::new() } else { vec![0i8; n.checked_mul(chunk)?] };
            (LineAligned::zeroed(left)?, LineAligned::zeroed(0)?, tails, LineAligned::zeroed(0)?)
        } else {
            let panel_width = TILE_COLS * I::LANES;
            let panels = n.div_ceil(panel_width).checked_mul(k.div_ceil(2))?.checked_mul(2 * panel_width)?;
            (LineAligned::zeroed(0)?, LineAligned::zeroed(left)?, Vec::new(), LineAligned::zeroed(panels)?)
        };
        let whole = batch.saturating_mul(m).saturating_mul(n).min(GROUP_ACCUMULATORS);
        let acc = vec![0i32; block_rows.min(m).checked_mul(n)?.max(whole)];
        Some(Scratch {
            left_i16,
            left_pairs,
            row_len,
            tails,
            panels,
            columns,
            row_fix: vec![0; m],
            acc,
            stage: one_scale_vectors::<I>(stage),
            block_rows,
            column_block,
        })
    }
}

/// Every batch of one [`batch_matmul`]: the layouts, the blocks' sums ([`block_body`]) and
/// their output stage.
///
/// # Safety
/// The CPU must run `I`'s methods (the caller holds a token or enabled its features); `p` and
/// `scratch` must be as [`batch_matmul`] builds them, and `out` hold `batch * m * n` bytes.
#[inline(always)]
pub(crate) unsafe fn product_body<I: Isa>(isa: I, p: &Product<'_>, scratch: &mut Scratch, out: &mut [i8]) {
    let ActivationProduct { batch, m, k, n, transpose_rhs: stored_by_columns, .. } = p.shape;
    let Scratch {
        left_i16,
        left_pairs,
        row_len,
        tails,
        panels,
        columns,
        row_fix,
        acc,
        stage,
        block_rows,
        column_block,
    } = scratch;
    let copies = copies_into_columns(&p.shape);
    // The layouts' shape: a copied right factor is stored by columns.
    let laid_out = ActivationProduct { transpose_rhs: stored_by_columns || copies, ..p.shape };
    let transpose_rhs = laid_out.transpose_rhs;
    let (row_len, block_rows, column_block) = (*row_len, *block_rows, *column_block);
    // Where `acc` holds whole batches, their sums are gathered and requantized together.
    let per_batch = m * n;
    let grouped = per_batch <= acc.len();
    let group = if grouped { acc.len() / per_batch } else { 1 };
    let small = grouped && m * k * n <= SMALL_PRODUCT_MACS[usize::from(!stored_by_columns)];
    for first in (0..batch).step_by(group) {
        let last = batch.min(first + group);
        for (b, slot) in (first..last).zip((0..).step_by(per_batch)) {
            let left = &p.lhs[b * m * k..(b + 1) * m * k];
            let right = &p.rhs[b * k * n..(b + 1) * k * n];
            if small {
                small_sums(&p.shape, left, right, &mut acc[slot..slot + per_batch]);
                continue;
            }
            let right = if copies {
                copy_into_columns(right, n, columns);
                &columns[..]
            } else {
                right
            };
            lay_out_batch::<I>(&laid_out, left, right, row_len, left_i16, left_pairs, tails, panels, row_fix);
            for r0 in (0..m).step_by(block_rows) {
                let rows = block_rows.min(m - r0);
                let right = if transpose_rhs {
                    Right::Columns { raw: right, k, tails, column_block }
                } else {
                    Right::Panels { panels, pairs_per_column: k.div_ceil(2) }
                };
                let (left_i16, left_pairs) = if transpose_rhs {
                    (&left_i16[r0 * row_len..(r0 + rows) * row_len], &[][..])
                } else {
                    (&[][..], &left_pairs[r0 * row_len..(r0 + rows) * row_len])
                };
                let block = Block { rows, n, left_i16, left_pairs, row_len, row_fix: &row_fix[r0..r0 + rows], right };
                // A group keeps every block of its batches; alone, each block reuses `acc`.
                let at = if grouped { slot + r0 * n } else { 0 };
                // SAFETY: the CPU runs `I`'s methods (the caller's contract); `block` is as built here.
                unsafe { block_body::<I>(&block, &mut acc[at..at + rows * n]) };
                if !grouped {
                    let to = (b * m + r0) * n;
                    requantize_uniform_with(isa, &acc[..rows * n], stage, p.stage, &mut out[to..to + rows * n]);
                }
            }
        }
        if grouped {
            let (len, to) = ((last - first) * per_batch, first * per_batch);
            requantize_uniform_with(isa, &acc[..len], stage, p.stage, &mut out[to..to + len]);
        }
    }
}

/// One batch's layouts: the rows' fixes, the centered left rows, and the right factor's tails
/// (stored by columns) or panels (stored by rows).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lay_out_batch<I: Isa>(
    shape: &ActivationProduct,
    left: &[i8],
    right: &[i8],
    row_len: usize,
    left_i16: &mut [i16],
    left_pairs: &mut [i32],
    tails: &mut [i8],
    panels: &mut [i16],
    row_fix: &mut [i32],
) {
    let ActivationProduct { k, n, transpose_rhs, lhs_zero_point: za, rhs_zero_point: zb, .. } = *shape;
    let chunk = 2 * I::LANES;
    let center = |v: i8| i32::from(v) - za;
    for (fix, row) in row_fix.iter_mut().zip(left.chunks_exact(k.max(1))) {
        let sum = row.iter().fold(0i32, |s, &v| s.wrapping_add(center(v)));
        *fix = zb.wrapping_neg().wrapping_mul(sum);
    }
    if transpose_rhs {
        for (dst, row) in left_i16.chunks_exact_mut(row_len.max(1)).zip(left.chunks_exact(k.max(1))) {
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = center(v) as i16;
            }
        }
        let tail_from = k / chunk * chunk;
        if tail_from < k {
            for (dst, column) in tails.chunks_exact_mut(chunk).zip(right.chunks_exact(k)) {
                dst[..k - tail_from].copy_from_slice(&column[tail_from..]);
            }
        }
    } else {
        for (dst, row) in left_pairs.chunks_exact_mut(row_len.max(1)).zip(left.chunks_exact(k.max(1))) {
            for (d, pair) in dst.iter_mut().enumerate() {
                let lo = center(row[2 * d]);
                let hi = if 2 * d + 1 < k { center(row[2 * d + 1]) } else { 0 };
                *pair = (lo & 0xffff) | (hi << 16);
            }
        }
        lay_out_panels::<I>(right, k, n, k.div_ceil(2), TILE_COLS * I::LANES, panels);
    }
}

/// Whether the right factor is copied into columns ([`NARROW_ROWS`]): where it is stored by
/// rows, narrow, and read by at most one tile of rows, whose panels would not repay their
/// layout.
fn copies_into_columns(shape: &ActivationProduct) -> bool {
    !shape.transpose_rhs && shape.n < NARROW_ROWS && shape.m <= TILE_ROWS
}

/// `columns[j * k + d] = right[d * n + j]`: a right factor stored by rows, `k` rows of `n`
/// bytes, copied into `n` columns of `k` (`n` is below [`NARROW_ROWS`], so the stores go to
/// few places at a time).
#[inline(always)]
fn copy_into_columns(right: &[i8], n: usize, columns: &mut [i8]) {
    let k = right.len() / n.max(1);
    for (d, row) in right.chunks_exact(n.max(1)).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            columns[j * k + d] = v;
        }
    }
}

/// One small batch's wrapping sums `sum (a - za)(b - zb)`, by plain loops over contiguous
/// bytes (a column's depth, or a row's columns): `acc` is `m * n`.
#[inline(always)]
fn small_sums(shape: &ActivationProduct, left: &[i8], right: &[i8], acc: &mut [i32]) {
    let ActivationProduct { k, n, transpose_rhs, lhs_zero_point: za, rhs_zero_point: zb, .. } = *shape;
    let product = |a: i8, b: i8| (i32::from(a) - za) * (i32::from(b) - zb);
    if k == 0 {
        acc.fill(0);
        return;
    }
    for (row, sums) in left.chunks_exact(k).zip(acc.chunks_exact_mut(n)) {
        if transpose_rhs {
            for (sum, column) in sums.iter_mut().zip(right.chunks_exact(k)) {
                *sum = row.iter().zip(column).fold(0i32, |s, (&a, &b)| s.wrapping_add(product(a, b)));
            }
        } else if n < NARROW_ROWS {
            for (j, sum) in sums.iter_mut().enumerate() {
                let column = right[j..].iter().step_by(n);
                *sum = row.iter().zip(column).fold(0i32, |s, (&a, &b)| s.wrapping_add(product(a, b)));
            }
        } else {
            sums.fill(0);
            for (&a, right_row) in row.iter().zip(right.chunks_exact(n)) {
                for (sum, &b) in sums.iter_mut().zip(right_row) {
                    *sum = sum.wrapping_add(product(a, b));
                }
            }
        }
    }
}

/// Interleaves the right factor's rows, stored `[k][n]`, into the panels of [`Right::Panels`],
/// one vector of columns per [`Isa::interleave_pairs`]. A vector that lies inside both rows is
/// read in place; a partial one, or the odd depth's last row (paired with zeros), goes through
/// a zeroed copy.
#[inline(always)]
fn lay_out_panels<I: Isa>(
    right: &[i8],
    k: usize,
    n: usize,
    pairs_per_column: usize,
    panel_width: usize,
    panels: &mut [i16],
) {
    const { assert!(I::LANES <= 16) };
    let lanes = I::LANES;
    let panel_len = pairs_per_column * 2 * panel_width;
    for (p, panel) in panels.chunks_exact_mut(panel_len.max(1)).enumerate() {
        for (d, dst) in panel.chunks_exact_mut(2 * panel_width).enumerate() {
            let first = &right[2 * d * n..(2 * d + 1) * n];
            let second: &[i8] = if 2 * d + 1 < k { &right[(2 * d + 1) * n..(2 * d + 2) * n] } else { &[] };
            for (v, dst) in dst.chunks_exact_mut(2 * lanes).enumerate() {
                let col = p * panel_width + v * lanes;
                if col + lanes <= n && !second.is_empty() {
                    let (a, b) = (&first[col..col + lanes], &second[col..col + lanes]);
                    // SAFETY: `a` and `b` hold `LANES` bytes; `dst` is `2 * LANES` `i16`.
                    unsafe { I::interleave_pairs(a.as_ptr(), b.as_ptr(), dst.as_mut_ptr()) };
                    continue;
                }
                // Lane by lane, each lane chosen: a call to copy a few bytes cost more than the
                // pair's products.
                let (mut a, mut b) = ([0i8; 16], [0i8; 16]);
                for j in 0..lanes {
                    let c = col + j;
                    a[j] = if c < n { first[c] } else { 0 };
                    b[j] = if c < second.len() { second[c] } else { 0 };
                }
                // SAFETY: `a` and `b` hold 16 >= LANES bytes; `dst` is `2 * LANES` `i16`.
                unsafe { I::interleave_pairs(a.as_ptr(), b.as_ptr(), dst.as_mut_ptr()) };
            }
        }
    }
}

/// The wrapping sums of one [`Block`], written to `acc` (`rows * n`, row-major). Every
/// pointer read below stays inside the slice it was taken from; the slicing checks it per
/// tile.
///
/// # Safety
/// The CPU must run `I`'s methods (the caller holds a token or enabled its features); `p`
/// must be as [`batch_matmul`] builds it.
#[inline(always)]
unsafe fn block_body<I: Isa>(p: &Block<'_>, acc: &mut [i32]) {
    match p.right {
        Right::Columns { raw, k, tails, column_block } => {
            for c0 in (0..p.n).step_by(column_block) {
                let c1 = (c0 + column_block).min(p.n);
                let mut r = 0;
                // SAFETY: the CPU runs `I`'s methods (the caller's contract).
                unsafe {
                    while r + TILE_ROWS <= p.rows {
                        column_rows::<I, TILE_ROWS>(p, raw, k, tails, r, c0, c1, acc);
                        r += TILE_ROWS;
                    }
                    match p.rows - r {
                        1 => column_rows::<I, 1>(p, raw, k, tails, r, c0, c1, acc),
                        2 => column_rows::<I, 2>(p, raw, k, tails, r, c0, c1, acc),
                        3 => column_rows::<I, 3>(p, raw, k, tails, r, c0, c1, acc),
                        _ => {}
                    }
                }
            }
        }
        Right::Panels { panels, pairs_per_column } => {
            let panel_width = TILE_COLS * I::LANES;
            let panel_len = pairs_per_column * 2 * panel_width;
            // Empty panels where `k` is 0: every output is then its row's fix.
            for index in 0..p.n.div_ceil(panel_width) {
                let panel = &panels[index * panel_len..(index + 1) * panel_len];
                let (c0, mut r) = (index * panel_width, 0);
                // SAFETY: the CPU runs `I`'s methods (the caller's contract).
                unsafe {
                    while r + TILE_ROWS <= p.rows {
                        panel_rows::<I, TILE_ROWS>(p, panel, r, c0, acc);
                        r += TILE_ROWS;
                    }
                    match p.rows - r {
                        1 => panel_rows::<I, 1>(p, panel, r, c0, acc),
                        2 => panel_rows::<I, 2>(p, panel, r, c0, acc),
                        3 => panel_rows::<I, 3>(p, panel, r, c0, acc),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Rows `r..r + R` against columns `c0..c1` of a [`Right::Columns`] block.
///
/// # Safety
/// The CPU must run `I`'s methods (slices out of range panic rather than read outside).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn column_rows<I: Isa, const R: usize>(
    p: &Block<'_>,
    raw: &[i8],
    k: usize,
    tails: &[i8],
    r: usize,
    c0: usize,
    c1: usize,
    acc: &mut [i32],
) {
    let chunk = 2 * I::LANES;
    let full = k / chunk;
    let left = &p.left_i16[r * p.row_len..(r + R) * p.row_len];
    let mut c = c0;
    while c < c1 {
        let cols = (c1 - c).min(TILE_COLS);
        let column = |j: usize| &raw[(c + j) * k..(c + j) * k + full * chunk];
        let tail = |j: usize| if tails.is_empty() { &tails[..0] } else { &tails[(c + j) * chunk..(c + j + 1) * chunk] };
        // SAFETY: the CPU runs `I`'s methods (the caller's contract).
        let sums: [[i32; TILE_COLS]; R] = unsafe {
            if cols == TILE_COLS {
                column_tile::<I, R, TILE_COLS>(left, p.row_len, [column(0), column(1)], [tail(0), tail(1)], full)
            } else {
                let one = column_tile::<I, R, 1>(left, p.row_len, [column(0)], [tail(0)], full);
                core::array::from_fn(|i| [one[i][0], 0])
            }
        };
        for (i, row) in sums.iter().enumerate() {
            let fix = p.row_fix[r + i];
            for (j, &sum) in row.iter().enumerate().take(cols) {
                acc[(r + i) * p.n + c + j] = sum.wrapping_add(fix);
            }
        }
        c += cols;
    }
}

/// The `R x C` dot products of `R` centered left rows (`row_len` apart, each holding `full`
/// chunks and, where `tails` are not empty, one more) with `C` raw columns of `full` chunks and
/// their padded tails.
///
/// # Safety
/// The CPU must run `I`'s methods (the slices' extents are asserted).
#[inline(always)]
unsafe fn column_tile<I: Isa, const R: usize, const C: usize>(
    left: &[i16],
    row_len: usize,
    columns: [&[i8]; C],
    tails: [&[i8]; C],
    full: usize,
) -> [[i32; C]; R] {
    let chunk = 2 * I::LANES;
    let with_tail = !tails[0].is_empty();
    assert!(left.len() >= R * row_len && row_len >= (full + usize::from(with_tail)) * chunk);
    assert!(columns.iter().all(|c| c.len() >= full * chunk) && tails.iter().all(|t| t.len() == tails[0].len()));
    assert!(!with_tail || tails[0].len() >= chunk);
    let (x, w) = (left.as_ptr(), columns.map(|c| c.as_ptr()));
    // SAFETY: every read is inside the slices, as the asserts above bound them: row `i`'s
    // chunk `s` is `left[i * row_len + s * chunk..][..chunk]` with `(s + 1) * chunk <= row_len`,
    // column `j`'s is `columns[j][s * chunk..][..chunk]` with `s < full`, and a tail's chunk is
    // its whole slice. The CPU runs `I`'s methods (the caller's contract).
    unsafe {
        let mut sums = [[I::splat(0); C]; R];
        for s in 0..full {
            for (j, &col) in w.iter().enumerate() {
                for (i, row) in sums.iter_mut().enumerate() {
                    row[j] = I::madd_pairs_bytes(row[j], x.add(i * row_len + s * chunk), col.add(s * chunk));
                }
            }
        }
        if with_tail {
            for (j, tail) in tails.iter().enumerate() {
                for (i, row) in sums.iter_mut().enumerate() {
                    row[j] = I::madd_pairs_bytes(row[j], x.add(i * row_len + full * chunk), tail.as_ptr());
                }
            }
        }
        let mut reduced = [[0i32; C]; R];
        for (sums, reduced) in sums.iter().zip(reduced.iter_mut()) {
            for (&v, reduced) in sums.iter().zip(reduced.iter_mut()) {
                *reduced = I::reduce_add(v);
            }
        }
        reduced
    }
}

/// Rows `r..r + R` against one panel (columns `c0..c0 + TILE_COLS * LANES`) of a
/// [`Right::Panels`] block; columns past `n` are computed and dropped.
///
/// # Safety
/// The CPU must run `I`'s methods (the slices' extents are asserted).
#[inline(always)]
unsafe fn panel_rows<I: Isa, const R: usize>(p: &Block<'_>, panel: &[i16], r: usize, c0: usize, acc: &mut [i32]) {
    let lanes = I::LANES;
    let pairs = p.row_len;
    let left = &p.left_pairs[r * pairs..(r + R) * pairs];
    assert!(panel.len() >= pairs * 2 * TILE_COLS * lanes);
    let (x, w) = (panel.as_ptr(), left.as_ptr());
    // SAFETY: pair `d < pairs` of row `i < R` is `left[i * pairs + d]`, and vector `j` of pair
    // `d` is `panel[(d * TILE_COLS + j) * 2 * lanes..][..2 * lanes]`, inside the slices as the
    // assert and the slicing bound them. The CPU runs `I`'s methods (the caller's contract).
    let sums = unsafe {
        // Loops, not closures, around lane methods: a closure would not inherit the features.
        let mut sums = [[I::splat(0); TILE_COLS]; R];
        for (row, &fix) in sums.iter_mut().zip(&p.row_fix[r..r + R]) {
            *row = [I::splat(fix); TILE_COLS];
        }
        for d in 0..pairs {
            for (i, row) in sums.iter_mut().enumerate() {
                let pair = *w.add(i * pairs + d);
                for (j, v) in row.iter_mut().enumerate() {
                    *v = I::madd_pairs_splat(*v, x.add((d * TILE_COLS + j) * 2 * lanes), pair);
                }
            }
        }
        sums
    };
    const { assert!(I::LANES <= 16) };
    for (i, row) in sums.iter().enumerate() {
        let out = &mut acc[(r + i) * p.n..(r + i + 1) * p.n];
        for (j, &v) in row.iter().enumerate() {
            let col = c0 + j * lanes;
            if col + lanes <= p.n {
                // SAFETY: `out[col..col + lanes]` is inside `out`.
                unsafe { I::store_i32(v, out[col..col + lanes].as_mut_ptr()) };
            } else if col < p.n {
                let mut lanes_out = [0i32; 16];
                // SAFETY: `lanes_out` holds 16 >= LANES `i32`.
                unsafe { I::store_i32(v, lanes_out.as_mut_ptr()) };
                out[col..].copy_from_slice(&lanes_out[..p.n - col]);
            }
        }
    }
}
