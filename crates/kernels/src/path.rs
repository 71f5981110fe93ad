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
    /// AVX-512 VNNI with AMX-INT8 tiles (`tdpbusd`) for the matrix products (Intel Sapphire
    /// Rapids and later, on Linux, which must grant the process the tiles).
    Amx,
}

impl KernelPath {
    /// Every path, slowest first.
    pub const ALL: [KernelPath; 4] = [KernelPath::Reference, KernelPath::Avx2, KernelPath::Avx512, KernelPath::Amx];

    /// The path's name as `FromStr` for [`KernelChoice`] accepts it (`reference`, `avx2`,
    /// `avx512`, `amx`).
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Reference => "reference",
            KernelPath::Avx2 => "avx2",
            KernelPath::Avx512 => "avx512",
            KernelPath::Amx => "amx",
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
            #[cfg(target_arch = "x86_64")]
            KernelPath::Amx => crate::x86::Avx512Amx::detect().is_some(),
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
            "amx" | "avx512-amx" | "amx-int8" => Ok(KernelChoice::Force(KernelPath::Amx)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_parses_from_its_name_and_is_listed_slowest_first() {
        for path in KernelPath::ALL {
            assert_eq!(path.name().parse::<KernelChoice>(), Ok(KernelChoice::Force(path)));
        }
        assert_eq!("avx512-amx".parse::<KernelChoice>(), Ok(KernelChoice::Force(KernelPath::Amx)));
        assert!(KernelPath::ALL.windows(2).all(|w| w[0] < w[1]));
        // A path with tiles has the lanes of the one below it.
        assert!(!KernelPath::Amx.is_available() || KernelPath::Avx512.is_available());
    }
}
