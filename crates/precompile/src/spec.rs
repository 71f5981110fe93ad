//! The precompile's versioned behaviour and its activation by block, like a hardfork.
//!
//! A [`PrecompileSpec`] fixes everything a call's output and gas depend on besides the
//! calldata and state: the model-format versions accepted, where a model may be stored, the
//! functions offered, the revert scheme and the gas schedule. A chain's genesis lists
//! [`Activations`] (block → spec); each call runs the spec of the block it executes in. There
//! is no default spec: a chain names its own, so upgrading the binary never changes a chain.

use aiop_engine::FormatVersion;

use crate::error::ConfigError;
use crate::gas::GasSchedule;

/// How a refused call's revert data is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevertScheme {
    /// Solidity's `Error(string)` with an English message (precompile versions v1 and v2).
    /// The text is consensus on the chains that run it and is kept byte for byte.
    Message,
    /// `AiopError(uint16 code, uint256 detail0, uint256 detail1)`: numbers only, from the table
    /// in [`crate::revert`] (`docs/errors.md`); messages are built off-chain from the code.
    Coded,
}

/// One version of the precompile's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrecompileSpec {
    /// The name a genesis uses (`"v1"` to `"v6"`); the same as its gas schedule's.
    pub version: &'static str,
    /// Model-format versions a call may use; any other is refused.
    pub formats: &'static [FormatVersion],
    /// Whether a model may be stored across accounts (a manifest naming chunk accounts,
    /// `docs/storage.md`); otherwise only a single model account is read.
    pub manifests: bool,
    /// Whether `inferBatch` is offered; otherwise its selector is unknown.
    pub batch: bool,
    /// How refusals are encoded.
    pub reverts: RevertScheme,
    /// How calls are priced.
    pub schedule: GasSchedule,
}

impl PrecompileSpec {
    /// The first precompile: format v1 in one account, `Error(string)` reverts, gas v1.
    pub const V1: PrecompileSpec = PrecompileSpec {
        version: "v1",
        formats: &[FormatVersion::V1],
        manifests: false,
        batch: false,
        reverts: RevertScheme::Message,
        schedule: GasSchedule::V1,
    };

    /// v1 repriced by the calibrated gas schedule v2; nothing else changes.
    pub const V2: PrecompileSpec = PrecompileSpec { version: "v2", schedule: GasSchedule::V2, ..PrecompileSpec::V1 };

    /// The upgrade for real models, activated as one: format v2 (TensorFlow Lite Micro's
    /// semantics) beside v1, models stored across accounts, `inferBatch`, coded reverts and gas
    /// schedule v3 (priced from the op list and shapes).
    pub const V3: PrecompileSpec = PrecompileSpec {
        version: "v3",
        formats: &[FormatVersion::V1, FormatVersion::V2],
        manifests: true,
        batch: true,
        reverts: RevertScheme::Coded,
        schedule: GasSchedule::V3,
    };

    /// v3 and model-format v3 (the integer-only transformer ops: BatchMatMul, LayerNorm, Gelu,
    /// Gather, Transpose), priced by gas schedule v4: v3's prices, which cover the new ops by
    /// their op classes. Nothing a v3 chain computes changes.
    pub const V4: PrecompileSpec = PrecompileSpec {
        version: "v4",
        formats: &[FormatVersion::V1, FormatVersion::V2, FormatVersion::V3],
        schedule: GasSchedule::V4,
        ..PrecompileSpec::V3
    };

    /// v4 repriced by gas schedule v5 (a FullyConnected MAC price and a higher Conv2D op
    /// price, for two shapes measured above ecrecover's line under v4). Outputs, formats,
    /// storage, functions and revert data are v4's; only gas changes.
    pub const V5: PrecompileSpec = PrecompileSpec { version: "v5", schedule: GasSchedule::V5, ..PrecompileSpec::V4 };

    /// v5 repriced by gas schedule v6, refitted with every searched shape as a case: the load
    /// priced for decoding alone (by bytes and declared op and tensor counts), prices in
    /// microgas after loading, output channels priced. Outputs, formats, storage, functions
    /// and revert data are v5's; only gas changes, lower for the MLPerf Tiny models and higher
    /// for the shapes the searches found.
    pub const V6: PrecompileSpec = PrecompileSpec { version: "v6", schedule: GasSchedule::V6, ..PrecompileSpec::V5 };

    /// Every spec, oldest first.
    pub const ALL: [PrecompileSpec; 6] = [
        PrecompileSpec::V1,
        PrecompileSpec::V2,
        PrecompileSpec::V3,
        PrecompileSpec::V4,
        PrecompileSpec::V5,
        PrecompileSpec::V6,
    ];

    /// The spec named `version`.
    pub fn by_version(version: &str) -> Option<PrecompileSpec> {
        PrecompileSpec::ALL.into_iter().find(|s| s.version == version)
    }

    /// The names of every spec, for error messages: `"v1, v2, v3"`.
    pub fn names() -> String {
        PrecompileSpec::ALL.map(|s| s.version).join(", ")
    }

    /// Whether a model of format version byte `version` may be used.
    pub fn accepts_format(&self, version: u8) -> bool {
        FormatVersion::from_byte(version).is_some_and(|v| self.formats.contains(&v))
    }

    fn rank(&self) -> usize {
        PrecompileSpec::ALL.iter().position(|s| s == self).unwrap_or(usize::MAX)
    }
}

/// From which block a spec runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Activation {
    /// The first block that runs `spec`.
    pub block: u64,
    /// The spec that runs from `block` until the next activation.
    pub spec: PrecompileSpec,
}

/// A chain's precompile history: which spec each block runs. It starts at block 0 (the
/// genesis names the spec it launches with), activation blocks strictly increase and a later
/// activation never goes back to an older spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Activations {
    list: Vec<Activation>,
}

impl Activations {
    /// Checks and builds an activation list.
    pub fn new(list: Vec<Activation>) -> Result<Self, ConfigError> {
        let Some(first) = list.first() else {
            return Err(ConfigError::NoActivation);
        };
        if first.block != 0 {
            return Err(ConfigError::FirstActivationNotAtGenesis { block: first.block });
        }
        for pair in list.windows(2) {
            let (earlier, later) = (pair[0], pair[1]);
            if later.block <= earlier.block {
                return Err(ConfigError::ActivationsOutOfOrder { earlier: earlier.block, later: later.block });
            }
            if later.spec.rank() <= earlier.spec.rank() {
                return Err(ConfigError::ActivationDowngrade {
                    block: later.block,
                    from: earlier.spec.version,
                    to: later.spec.version,
                });
            }
        }
        Ok(Activations { list })
    }

    /// A chain that runs `spec` from genesis on.
    pub fn from_genesis(spec: PrecompileSpec) -> Self {
        Activations { list: vec![Activation { block: 0, spec }] }
    }

    /// The spec block `block` runs.
    pub fn spec_at(&self, block: u64) -> PrecompileSpec {
        let index = self.list.partition_point(|a| a.block <= block);
        // The first activation is at block 0, so `index >= 1`.
        self.list[index.saturating_sub(1)].spec
    }

    /// The activations, oldest first.
    pub fn list(&self) -> &[Activation] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(block: u64, spec: PrecompileSpec) -> Activation {
        Activation { block, spec }
    }

    #[test]
    fn each_block_runs_the_spec_activated_last_at_or_before_it() {
        let a = Activations::new(vec![at(0, PrecompileSpec::V2), at(100, PrecompileSpec::V3)]).unwrap();
        assert_eq!(a.spec_at(0), PrecompileSpec::V2);
        assert_eq!(a.spec_at(99), PrecompileSpec::V2);
        assert_eq!(a.spec_at(100), PrecompileSpec::V3);
        assert_eq!(a.spec_at(u64::MAX), PrecompileSpec::V3);
    }

    #[test]
    fn malformed_activation_lists_are_refused() {
        assert_eq!(Activations::new(vec![]), Err(ConfigError::NoActivation));
        assert_eq!(
            Activations::new(vec![at(5, PrecompileSpec::V3)]),
            Err(ConfigError::FirstActivationNotAtGenesis { block: 5 })
        );
        assert_eq!(
            Activations::new(vec![at(0, PrecompileSpec::V1), at(0, PrecompileSpec::V3)]),
            Err(ConfigError::ActivationsOutOfOrder { earlier: 0, later: 0 })
        );
        assert_eq!(
            Activations::new(vec![at(0, PrecompileSpec::V3), at(9, PrecompileSpec::V2)]),
            Err(ConfigError::ActivationDowngrade { block: 9, from: "v3", to: "v2" })
        );
    }

    #[test]
    fn specs_are_found_by_name_and_share_their_schedule_name() {
        for spec in PrecompileSpec::ALL {
            assert_eq!(PrecompileSpec::by_version(spec.version), Some(spec));
            assert_eq!(spec.version, spec.schedule.version);
        }
        assert!(PrecompileSpec::V3.accepts_format(2) && !PrecompileSpec::V2.accepts_format(2));
        assert!(PrecompileSpec::V4.accepts_format(3) && !PrecompileSpec::V3.accepts_format(3));
        assert_eq!(
            PrecompileSpec { version: "v4", schedule: GasSchedule::V4, ..PrecompileSpec::V5 },
            PrecompileSpec::V4
        );
        assert_eq!(
            PrecompileSpec { version: "v5", schedule: GasSchedule::V5, ..PrecompileSpec::V6 },
            PrecompileSpec::V5
        );
        assert!(PrecompileSpec::ALL.iter().all(|s| s.accepts_format(1) && !s.accepts_format(4)));
    }
}
