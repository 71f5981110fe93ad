//! Which kernel implementation runs: chosen at run time from the CPU's features, or forced.

use core::fmt;
use core::str::FromStr;

use crate::KernelError;

/// A concrete kernel implementation. Every path computes the same bytes; they differ in speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelPath {
    /// Plain scalar Rust: the specification, available everywhere.
    Reference,
    /// x86-64 AVX2 (x86-64-v3).
    Avx2,
    /// x86-64 AVX-512 with VNNI (`vpdpbusd`).
    Avx512,
}

impl KernelPath {
    /// Every path, slowest first.
    pub const ALL: [KernelPath; 3] = [KernelPath::Reference, KernelPath::Avx2, KernelPath::Avx512];

    /// The path's name as `FromStr` for [`KernelChoice`] accepts it (`reference`, `avx2`,
    /// `avx512`).
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Reference => "reference",
            KernelPath::Avx2 => "avx2",
            KernelPath::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            KernelPath::Reference => true,
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => crate::x86::Avx2::detect().is_some(),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => crate::x86::Avx512::detect().is_some(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The paths this CPU can run, reference first.
    pub fn available() -> impl Iterator<Item = KernelPath> {
        Self::ALL.into_iter().filter(|p| p.is_available())
    }

    /// The fastest path this CPU can run.
    pub fn fastest() -> KernelPath {
        Self::available().last().unwrap_or(KernelPath::Reference)
    }
}

impl fmt::Display for KernelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the user asked for: a specific path, or the fastest available (`auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelChoice {
    /// The fastest path this CPU can run.
    #[default]
    Auto,
    /// This path, or an error where the CPU lacks it.
    Force(KernelPath),
}

impl KernelChoice {
    /// Resolves to a concrete path; a forced path this CPU lacks is an error, never a
    /// silent fallback.
    pub fn resolve(self) -> Result<KernelPath, KernelError> {
        match self {
            KernelChoice::Auto => Ok(KernelPath::fastest()),
            KernelChoice::Force(path) if path.is_available() => Ok(path),
            KernelChoice::Force(path) => Err(KernelError::PathUnavailable(path.name())),
        }
    }
}

impl FromStr for KernelChoice {
    type Err = KernelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(KernelChoice::Auto),
            "reference" | "ref" | "scalar" => Ok(KernelChoice::Force(KernelPath::Reference)),
            "avx2" => Ok(KernelChoice::Force(KernelPath::Avx2)),
            "avx512" | "avx-512" | "avx512vnni" => Ok(KernelChoice::Force(KernelPath::Avx512)),
            other => Err(KernelError::UnknownPath(other.into())),
        }
    }
}

impl fmt::Display for KernelChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelChoice::Auto => f.write_str("auto"),
            KernelChoice::Force(path) => path.fmt(f),
        }
    }
}
