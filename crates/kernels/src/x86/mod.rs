//! x86-64 lanes for the [`crate::simd`] driver (AVX2, AVX-512 VNNI, and AVX-512 with AMX-INT8
//! tiles for the matrix products) and their CPU tokens.
//!
//! Each ISA here is a faster spelling of [`crate::reference`] and must return the same bytes
//! for every input. All accumulation is wrapping `i32` arithmetic, like the reference: sums
//! are then equal modulo 2^32 in any order, hence equal.
//!
//! Code here must never: run without its token (a token is made only by a successful CPU
//! check), use `vpmaddubsw` (it saturates), use the saturating `vpdpbusds`, or touch floating
//! point.

/// Declares a CPU token: a zero-sized type whose only constructor, `detect`, checks at run
/// time that the CPU has every listed feature (and never succeeds without `std`, which the
/// check needs). Its private field keeps any other code from making one.
macro_rules! token {
    ($(#[$doc:meta])* $name:ident: $($feature:tt),+) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct $name {
            _private: (),
        }

        impl $name {
            /// The token, if this CPU has the features.
            pub(crate) fn detect() -> Option<Self> {
                #[cfg(feature = "std")]
                if $(std::is_x86_feature_detected!($feature))&&+ {
                    return Some($name { _private: () });
                }
                None
            }
        }
    };
}

mod amx;
mod avx2;
mod avx512;

pub(crate) use amx::Avx512Amx;
pub(crate) use avx2::Avx2;
pub(crate) use avx512::Avx512;
