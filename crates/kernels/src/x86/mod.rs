//! x86-64 lanes for the [`crate::simd`] driver (AVX2 and AVX-512 VNNI) and their CPU tokens.
//!
//! Each ISA here is a faster spelling of [`crate::reference`] and must return the same bytes
//! for every input. All accumulation is wrapping `i32` arithmetic, like the reference: sums
//! are then equal modulo 2^32 in any order, hence equal.
//!
//! Code here must never: run without its token (a token is made only by a successful CPU
//! check), use `vpmaddubsw` (it saturates), use the saturating `vpdpbusds`, or touch floating
//! point.

mod avx2;
mod avx512;

pub(crate) use avx2::Avx2;
pub(crate) use avx512::Avx512;
