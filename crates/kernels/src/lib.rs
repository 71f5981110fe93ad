//! aiop-kernels: the exact integer kernels the aiop engine spends its time in.
//!
//! Every kernel here has a plain scalar twin in [`reference`] that is its specification (and
//! what the engine's reference path runs); the vector kernels are one driver (`simd`) over
//! an ISA's lanes (`x86::avx2`, `x86::avx512`, `x86::amx` with AVX-512's lanes and a matrix
//! product on AMX tiles, and a portable emulation of both widths for tests), and must return
//! bit-identical results for every input the caller's preconditions allow; property tests
//! declared with each kernel assert it for every ISA the CPU has, and say which they could
//! not run. [`WindowGeometry`] is the one description
//! of a sliding window, shared with the engine's validation.
//!
//! This crate must never: use floating point, saturate where the reference does not, depend
//! on the CPU for anything but speed, or panic on any input (length mismatches are errors).
//!
//! Precondition shared by all matrix kernels (the engine checks it when a model is loaded):
//! weights are in `[-127, 127]`, and `K * 127 * 255 + |bias|` fits in `i32`, so that every
//! partial sum in any order fits in `i32` and the order of summation cannot change a result.
//! The product of two activations ([`batch_matmul`]) needs `K * 255 * 255` to fit instead.
// Consensus code: every node must compute the same bytes, so no float may creep in.
#![deny(clippy::float_arithmetic)]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod aligned;
mod depthwise;
mod matmul;
mod path;
mod requant;
mod simd;
mod window;
#[cfg(target_arch = "x86_64")]
mod x86;

pub mod reference;

pub use depthwise::{PreparedDepthwise, depthwise_conv2d};
pub use matmul::{ActivationProduct, batch_matmul};
pub use path::{KernelChoice, KernelPath};
pub use requant::{
    OutputStage, Rounding, requantize, requantize_double, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};
pub use window::WindowGeometry;

use aligned::LineAligned;
use alloc::vec::Vec;

/// Why a kernel call was refused. The engine validates shapes before calling a kernel, so
/// these only surface from a caller bug or a forced path the CPU lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// The named path was forced (or packed for) but this CPU cannot run it.
    #[error("kernel path `{0}` is not supported by this CPU; use `auto` or `reference`")]
    PathUnavailable(&'static str),
    /// A kernel-path name that is none of `auto`, `reference`, `avx2`, `avx512`, `amx`.
    #[error("unknown kernel path `{0}`; expected one of: auto, reference, avx2, avx512, amx")]
    UnknownPath(alloc::string::String),
    /// A buffer's length (in elements) does not match the shape.
    #[error("kernel `{kernel}`: buffer `{buffer}` has {actual} elements, expected {expected}")]
    Length {
        /// The kernel that refused the call.
        kernel: &'static str,
        /// The argument whose length is wrong.
        buffer: &'static str,
        /// The length the shape requires, in elements.
        expected: usize,
        /// The length given, in elements.
        actual: usize,
    },
    /// A size computed from the shape does not fit in `usize`.
    #[error("kernel `{kernel}`: size overflows usize")]
    SizeOverflow {
        /// The kernel that refused the call.
        kernel: &'static str,
    },
}

/// A weight matrix of `n` rows (output channels) by `k` columns (the reduction depth),
/// laid out once, when a model is loaded, in the order the chosen path reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedMatrix {
    path: KernelPath,
    n: usize,
    k: usize,
    /// Row-major `n x k` copy of the weights for the reference path and for the products
    /// shallow enough for the scalar kernel on every path (depth below
    /// [`SCALAR_BELOW_MK`]); empty otherwise: the x86 paths use their own layout (see
    /// `packed`), and a second copy of a deep layer's weights was a tenth of its load.
    rows: Vec<i8>,
    /// Sum of each row's weights: the zero-point correction `sum_k w[n][k] * zp` is
    /// `zp * row_sums[n]`, computed once here rather than on every call.
    row_sums: Vec<i32>,
    /// The weights in the order the path's kernel reads them (empty for the reference):
    /// see `simd::pack`.
    packed: LineAligned<i8>,
    /// The output stage's widened constants for one stage, built once by
    /// [`PackedMatrix::prepare_stage`]; [`qgemm`] uses them only when its own arguments are
    /// the ones they were built from, so they can make a call faster, never different.
    prepared: Option<PreparedStage>,
}

/// The arguments a stage was prepared for, and what was built from them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PreparedStage {
    lhs_zero_point: i32,
    bias: Option<Vec<i32>>,
    multiplier: Vec<i32>,
    shift: Vec<i8>,
    rounding: Rounding,
    /// The output zero point and bounds, which the vectors hold as well (and which decide
    /// which forms of the constants they hold).
    output: (i32, i8, i8),
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    vectors: simd::StageVectors,
}

impl PreparedStage {
    /// Whether a call's arguments are the ones the vectors were built from. The matrix's own
    /// slices ([`PackedMatrix::prepared_stage`]) are known to be, as nothing can change them
    /// while they are borrowed; any others are compared by value.
    fn matches(&self, lhs_zero_point: i32, bias: Option<&[i32]>, stage: &OutputStage<'_>) -> bool {
        fn same<T: PartialEq>(own: &[T], given: &[T]) -> bool {
            core::ptr::eq(own, given) || own == given
        }
        let same_bias = match (self.bias.as_deref(), bias) {
            (Some(own), Some(given)) => same(own, given),
            (own, given) => own.is_none() && given.is_none(),
        };
        self.lhs_zero_point == lhs_zero_point
            && same_bias
            && same(&self.multiplier, stage.multiplier)
            && same(&self.shift, stage.shift)
            && self.rounding == stage.rounding
            && self.output == (stage.output_zero_point, stage.clamp_min, stage.clamp_max)
    }
}

impl PackedMatrix {
    /// Packs a row-major `n x k` weight matrix for `path`. A path this CPU lacks is refused,
    /// which is what makes running the packed kernels sound.
    pub fn pack(path: KernelPath, weights: &[i8], n: usize, k: usize) -> Result<Self, KernelError> {
        if !path.is_available() {
            return Err(KernelError::PathUnavailable(path.name()));
        }
        let expected = n.checked_mul(k).ok_or(KernelError::SizeOverflow { kernel: "pack" })?;
        check_len("pack", "weights", expected, weights.len())?;
        let row_sums = if k == 0 {
            alloc::vec![0; n]
        } else {
            weights.chunks_exact(k).map(|row| row.iter().fold(0i32, |s, &w| s.wrapping_add(i32::from(w)))).collect()
        };
        let packed = match path {
            KernelPath::Reference => LineAligned::zeroed(0),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => simd::pack::<x86::Avx2>(weights, n, k),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => simd::pack::<x86::Avx512>(weights, n, k),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Amx => simd::pack::<x86::Avx512Amx>(weights, n, k),
            #[cfg(not(target_arch = "x86_64"))]
            _ => return Err(KernelError::PathUnavailable(path.name())),
        };
        let packed = packed.ok_or(KernelError::SizeOverflow { kernel: "pack" })?;
        let rows = if path == KernelPath::Reference || k < SCALAR_BELOW_MK { weights.to_vec() } else { Vec::new() };
        Ok(Self { path, n, k, rows, row_sums, packed, prepared: None })
    }

    /// Builds, once, what every [`qgemm`] call with these arguments would build again: the
    /// output stage's per-channel constants, widened for the path's vectors. A model's layer
    /// calls its product with the same zero point, bias and stage on every run. Nothing is
    /// kept for the reference path or the dot layout, which build nothing per call.
    pub fn prepare_stage(
        &mut self,
        lhs_zero_point: i32,
        bias: Option<&[i32]>,
        stage: &OutputStage<'_>,
    ) -> Result<(), KernelError> {
        if let Some(bias) = bias {
            check_len("prepare_stage", "bias", self.n, bias.len())?;
        }
        stage.check("prepare_stage", self.n)?;
        let vectors = match self.path {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => {
                simd::prepare_stage::<x86::Avx2>(self.n, self.k, &self.row_sums, lhs_zero_point, bias, stage)
            }
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => {
                simd::prepare_stage::<x86::Avx512>(self.n, self.k, &self.row_sums, lhs_zero_point, bias, stage)
            }
            #[cfg(target_arch = "x86_64")]
            KernelPath::Amx => {
                simd::prepare_stage::<x86::Avx512Amx>(self.n, self.k, &self.row_sums, lhs_zero_point, bias, stage)
            }
            _ => None,
        };
        self.prepared = vectors.map(|vectors| PreparedStage {
            lhs_zero_point,
            bias: bias.map(<[i32]>::to_vec),
            multiplier: stage.multiplier.to_vec(),
            shift: stage.shift.to_vec(),
            rounding: stage.rounding,
            output: (stage.output_zero_point, stage.clamp_min, stage.clamp_max),
            vectors,
        });
        Ok(())
    }

    /// The arguments [`PackedMatrix::prepare_stage`] was last given (the input zero point,
    /// the bias and the output stage), borrowed from the matrix, or `None` if no stage was
    /// prepared for this path. Passing them back to [`qgemm`] or [`qgemm_gathered`] saves
    /// those kernels comparing the call's stage with the prepared one by value.
    pub fn prepared_stage(&self) -> Option<(i32, Option<&[i32]>, OutputStage<'_>)> {
        let p = self.prepared.as_ref()?;
        let (output_zero_point, clamp_min, clamp_max) = p.output;
        let stage = OutputStage {
            multiplier: &p.multiplier,
            shift: &p.shift,
            output_zero_point,
            clamp_min,
            clamp_max,
            rounding: p.rounding,
        };
        Some((p.lhs_zero_point, p.bias.as_deref(), stage))
    }

    /// The path the weights were packed for (the one [`qgemm`] runs).
    pub fn path(&self) -> KernelPath {
        self.path
    }
    /// `n`: the number of rows (output channels).
    pub fn rows(&self) -> usize {
        self.n
    }
    /// `k`: the reduction depth (weights per row).
    pub fn depth(&self) -> usize {
        self.k
    }
    /// The wrapping `i32` sum of each row's weights, one per row.
    pub fn row_sums(&self) -> &[i32] {
        &self.row_sums
    }

    /// Whether [`qgemm_gathered`] reads runs of `segment_len` activations in place for this
    /// matrix (otherwise it copies the rows out first, which is no faster than the caller
    /// doing so).
    pub fn gathers_in_place(&self, segment_len: usize) -> bool {
        match self.path {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => simd::gathers::<x86::Avx2>(self.n, self.k, segment_len),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => simd::gathers::<x86::Avx512>(self.n, self.k, segment_len),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Amx => simd::gathers::<x86::Avx512Amx>(self.n, self.k, segment_len),
            _ => false,
        }
    }
}

/// `m * k` below which [`qgemm`] may run the scalar kernel on every path (see
/// [`scalar_is_faster`]).
const SCALAR_BELOW_MK: usize = 32;

/// Whether a product is shallow enough (a few MACs per output) for the scalar kernel to beat
/// the vector one's per-call setup: always where `m * k < 4`; where `m * k < 32`, unless it
/// has the outputs (32 or more) to pay for building the output stage's vectors and those
/// vectors are small (4096 channels at most, a few dozen KiB that the allocator reuses:
/// larger ones come fresh from the system on every call, and then scalar code is faster).
/// Same bytes either way, so any path may take either.
fn scalar_is_faster(m: usize, k: usize, n: usize) -> bool {
    let mk = m.saturating_mul(k);
    mk < 4 || (mk < SCALAR_BELOW_MK && (m.saturating_mul(n) < 32 || n > 4096))
}

/// Quantized matrix multiplication with a requantizing output stage:
/// `out[m][n] = stage(bias[n] + sum_k w[n][k] * (lhs[m][k] - lhs_zero_point), n)`.
///
/// `lhs` is `m x k` row-major (one row per output pixel or batch row), `out` is `m x n`.
pub fn qgemm(
    packed: &PackedMatrix,
    lhs: &[i8],
    m: usize,
    lhs_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    let (n, k) = (packed.n, packed.k);
    let lhs_len = m.checked_mul(k).ok_or(KernelError::SizeOverflow { kernel: "qgemm" })?;
    let out_len = m.checked_mul(n).ok_or(KernelError::SizeOverflow { kernel: "qgemm" })?;
    check_len("qgemm", "lhs", lhs_len, lhs.len())?;
    check_len("qgemm", "out", out_len, out.len())?;
    if let Some(bias) = bias {
        check_len("qgemm", "bias", n, bias.len())?;
    }
    stage.check("qgemm", n)?;
    // `m >= 1` here means `k < SCALAR_BELOW_MK`, so `rows` was kept (see there).
    if scalar_is_faster(m, k, n) {
        reference::qgemm(&packed.rows, n, k, lhs, m, lhs_zero_point, bias, stage, out);
        return Ok(());
    }
    let unavailable = KernelError::PathUnavailable(packed.path.name());
    let (w, sums) = (&packed.packed, &packed.row_sums);
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    let prepared = packed.prepared.as_ref().filter(|p| p.matches(lhs_zero_point, bias, stage)).map(|p| &p.vectors);
    match packed.path {
        KernelPath::Reference => {
            reference::qgemm(&packed.rows, n, k, lhs, m, lhs_zero_point, bias, stage, out);
            Ok(())
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => {
            let isa = x86::Avx2::detect().ok_or(unavailable)?;
            simd::qgemm(isa, w, sums, n, k, lhs, m, lhs_zero_point, bias, stage, prepared, out)
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => {
            let isa = x86::Avx512::detect().ok_or(unavailable)?;
            simd::qgemm(isa, w, sums, n, k, lhs, m, lhs_zero_point, bias, stage, prepared, out)
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Amx => {
            let isa = x86::Avx512Amx::detect().ok_or(unavailable)?;
            simd::qgemm(isa, w, sums, n, k, lhs, m, lhs_zero_point, bias, stage, prepared, out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => Err(unavailable),
    }
}

/// Largest block of rows [`qgemm_gathered`] copies out when its path cannot read the runs in
/// place, in bytes (at least one row).
const GATHER_COPY_BYTES: usize = 64 * 1024;

/// [`qgemm`] on a left-hand side that is not laid out as a matrix: row `r` is the `segments`
/// runs `source[offsets[r * segments + s]..][..segment_len]`, in order, where `source` is
/// `image` followed by `extra` and `k == segments * segment_len`. A convolution's rows are
/// its kernel rows in the input image (and, for pixels at the padded border, rows built in
/// `extra`), so no im2col copy of the whole left-hand side is made; the bytes are
/// [`qgemm`]'s on the same rows, on every path (where a path cannot read the runs in place, it
/// copies blocks of rows out and runs [`qgemm`]).
#[allow(clippy::too_many_arguments)]
pub fn qgemm_gathered(
    packed: &PackedMatrix,
    (image, extra): (&[i8], &[i8]),
    offsets: &[usize],
    segment_len: usize,
    m: usize,
    lhs_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    const K: &str = "qgemm_gathered";
    let (n, k) = (packed.n, packed.k);
    let overflow = KernelError::SizeOverflow { kernel: K };
    let segments = k.checked_div(segment_len).unwrap_or(0);
    check_len(K, "segment_len * segments", k, segments.saturating_mul(segment_len))?;
    check_len(K, "offsets", m.checked_mul(segments).ok_or(overflow.clone())?, offsets.len())?;
    check_len(K, "out", m.checked_mul(n).ok_or(overflow.clone())?, out.len())?;
    let total = image.len().checked_add(extra.len()).ok_or(overflow)?;
    if let Some(bias) = bias {
        check_len(K, "bias", n, bias.len())?;
    }
    stage.check(K, n)?;
    #[cfg(target_arch = "x86_64")]
    if m.saturating_mul(k) >= SCALAR_BELOW_MK && m > 0 && n > 0 {
        let (w, sums) = (&packed.packed, &packed.row_sums);
        let prepared = packed.prepared.as_ref().filter(|p| p.matches(lhs_zero_point, bias, stage)).map(|p| &p.vectors);
        let unavailable = KernelError::PathUnavailable(packed.path.name());
        match packed.path {
            KernelPath::Avx2 if simd::gathers::<x86::Avx2>(n, k, segment_len) => {
                let isa = x86::Avx2::detect().ok_or(unavailable)?;
                #[rustfmt::skip]
                return simd::qgemm_gathered(isa, w, sums, n, k, (image, extra), offsets, segment_len, m,
                    lhs_zero_point, bias, stage, prepared, out);
            }
            KernelPath::Avx512 if simd::gathers::<x86::Avx512>(n, k, segment_len) => {
                let isa = x86::Avx512::detect().ok_or(unavailable)?;
                #[rustfmt::skip]
                return simd::qgemm_gathered(isa, w, sums, n, k, (image, extra), offsets, segment_len, m,
                    lhs_zero_point, bias, stage, prepared, out);
            }
            KernelPath::Amx if simd::gathers::<x86::Avx512Amx>(n, k, segment_len) => {
                let isa = x86::Avx512Amx::detect().ok_or(unavailable)?;
                #[rustfmt::skip]
                return simd::qgemm_gathered(isa, w, sums, n, k, (image, extra), offsets, segment_len, m,
                    lhs_zero_point, bias, stage, prepared, out);
            }
            _ => {}
        }
    }
    // The vector paths above check the runs themselves, in the loop their reads rely on.
    if let Some(&bad) = offsets.iter().find(|&&o| o.checked_add(segment_len).is_none_or(|end| end > total)) {
        return Err(KernelError::Length {
            kernel: K,
            buffer: "offsets (a run past the source)",
            expected: total,
            actual: bad,
        });
    }
    // Copy blocks of rows out (every run lies inside the source) and multiply.
    let source_byte = |j: usize| if j < image.len() { image[j] } else { extra[j - image.len()] };
    let block_rows = (GATHER_COPY_BYTES / k.max(1)).clamp(1, m.max(1));
    let mut lhs = alloc::vec![0i8; block_rows * k];
    let mut first = 0;
    while first < m {
        let rows = block_rows.min(m - first);
        let runs = lhs[..rows * k].chunks_exact_mut(segment_len.max(1));
        for (run, &at) in runs.zip(&offsets[first * segments..]) {
            match (image.get(at..at + segment_len), at.checked_sub(image.len())) {
                (Some(src), _) => run.copy_from_slice(src),
                (None, Some(e)) => run.copy_from_slice(&extra[e..e + segment_len]),
                // A run that straddles the end of the image into `extra`.
                (None, None) => run.iter_mut().enumerate().for_each(|(i, d)| *d = source_byte(at + i)),
            }
        }
        qgemm(packed, &lhs[..rows * k], rows, lhs_zero_point, bias, stage, &mut out[first * n..(first + rows) * n])?;
        first += rows;
    }
    Ok(())
}

/// One output stage for every element, vectorized where the path allows: `out[i] =
/// stage.apply(acc[i], 0)` (the elementwise ops' single scale).
pub fn requantize_uniform(
    path: KernelPath,
    acc: &[i32],
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    if !path.is_available() {
        return Err(KernelError::PathUnavailable(path.name()));
    }
    check_len("requantize_uniform", "out", acc.len(), out.len())?;
    stage.check("requantize_uniform", 1)?;
    let unavailable = KernelError::PathUnavailable(path.name());
    match path {
        KernelPath::Reference => {
            for (&v, d) in acc.iter().zip(out.iter_mut()) {
                *d = stage.apply(v, 0);
            }
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => simd::requantize_uniform(x86::Avx2::detect().ok_or(unavailable)?, acc, stage, out),
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => simd::requantize_uniform(x86::Avx512::detect().ok_or(unavailable)?, acc, stage, out),
        #[cfg(target_arch = "x86_64")]
        KernelPath::Amx => simd::requantize_uniform(x86::Avx512Amx::detect().ok_or(unavailable)?, acc, stage, out),
        #[cfg(not(target_arch = "x86_64"))]
        _ => return Err(unavailable),
    }
    Ok(())
}

/// Sums of two looked-up terms through one output stage: `out[i] = stage.apply(lhs_terms[lhs[i]
/// as u8].wrapping_add(rhs_terms[rhs[i] as u8]), 0)`. The engine's `Add` and `Sub` rescale
/// each input byte through a table of 256 terms; their sums (at most `i32::MAX` there, so
/// the wrapping never acts) take the stage as [`requantize_uniform`] does. The AMX path
/// looks the terms up 64 at a time with AVX-512 VBMI byte permutes.
pub fn requantize_term_sums(
    path: KernelPath,
    lhs_terms: &[i32; 256],
    rhs_terms: &[i32; 256],
    lhs: &[i8],
    rhs: &[i8],
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    if !path.is_available() {
        return Err(KernelError::PathUnavailable(path.name()));
    }
    check_len("requantize_term_sums", "rhs", lhs.len(), rhs.len())?;
    check_len("requantize_term_sums", "out", lhs.len(), out.len())?;
    stage.check("requantize_term_sums", 1)?;
    let unavailable = KernelError::PathUnavailable(path.name());
    #[cfg(target_arch = "x86_64")]
    let (terms, inputs) = ([lhs_terms, rhs_terms], [lhs, rhs]);
    match path {
        KernelPath::Reference => {
            for ((&a, &b), d) in lhs.iter().zip(rhs).zip(out.iter_mut()) {
                *d = stage.apply(lhs_terms[usize::from(a as u8)].wrapping_add(rhs_terms[usize::from(b as u8)]), 0);
            }
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => {
            simd::requantize_term_sums(x86::Avx2::detect().ok_or(unavailable)?, terms, inputs, stage, out)
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => {
            simd::requantize_term_sums(x86::Avx512::detect().ok_or(unavailable)?, terms, inputs, stage, out)
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Amx => {
            simd::requantize_term_sums(x86::Avx512Amx::detect().ok_or(unavailable)?, terms, inputs, stage, out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => return Err(unavailable),
    }
    Ok(())
}

/// The output stage alone, vectorized where the path allows: `out[i] = stage.apply(acc[i],
/// i % channels)` for an `m x channels` block of accumulators. Exposed so the vector
/// requantization can be tested against [`requantize`] directly.
pub fn requantize_block(
    path: KernelPath,
    acc: &[i32],
    channels: usize,
    stage: &OutputStage<'_>,
    out: &mut [i8],
) -> Result<(), KernelError> {
    if !path.is_available() {
        return Err(KernelError::PathUnavailable(path.name()));
    }
    check_len("requantize_block", "out", acc.len(), out.len())?;
    stage.check("requantize_block", channels)?;
    if channels == 0 {
        return check_len("requantize_block", "acc", 0, acc.len());
    }
    if !acc.len().is_multiple_of(channels) {
        return check_len("requantize_block", "acc", acc.len() - acc.len() % channels, acc.len());
    }
    let blocks = acc.chunks_exact(channels).zip(out.chunks_exact_mut(channels));
    let unavailable = KernelError::PathUnavailable(path.name());
    match path {
        KernelPath::Reference => {
            for (a, o) in blocks {
                for (c, (&v, d)) in a.iter().zip(o.iter_mut()).enumerate() {
                    *d = stage.apply(v, c);
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => {
            let isa = x86::Avx2::detect().ok_or(unavailable)?;
            blocks.for_each(|(a, o)| simd::requantize_channels(isa, a, stage, o));
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => {
            let isa = x86::Avx512::detect().ok_or(unavailable)?;
            blocks.for_each(|(a, o)| simd::requantize_channels(isa, a, stage, o));
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Amx => {
            let isa = x86::Avx512Amx::detect().ok_or(unavailable)?;
            blocks.for_each(|(a, o)| simd::requantize_channels(isa, a, stage, o));
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => return Err(unavailable),
    }
    Ok(())
}

pub(crate) fn check_len(
    kernel: &'static str,
    buffer: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), KernelError> {
    if expected == actual { Ok(()) } else { Err(KernelError::Length { kernel, buffer, expected, actual }) }
}
