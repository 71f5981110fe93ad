//! The gas schedule: what an inference costs, as a pure function of the model header, the model
//! length and the input length, known before any work is done.
//!
//! Every constant lives in [`GasSchedule::V1`]; `docs/gas.md` gives the formula and why the
//! values are what they are. Arithmetic is integer and checked: a sum that overflows saturates
//! to `u64::MAX`, which no call can pay, so it ends as out of gas.

use aiop_engine::{ModelHeader, OpClass, OpWork};

/// Gas charged for touching an account for the first time in a transaction (EIP-2929).
pub const COLD_ACCOUNT_ACCESS_GAS: u64 = 2600;
/// Gas charged for touching an account already touched in this transaction (EIP-2929).
pub const WARM_ACCOUNT_ACCESS_GAS: u64 = 100;

/// Per-unit prices are in milligas (1/1000 gas) so that cheap units, such as one int8
/// multiply-accumulate, can cost less than one gas; the variable part is summed in milligas
/// and rounded up once.
pub const MILLIGAS_PER_GAS: u64 = 1000;

/// Microgas per gas: the price unit after loading from schedule v6 on
/// ([`LoadedPrices::units_per_gas`]), fine enough for a Conv2D MAC that costs 0.0003 gas.
pub const MICROGAS_PER_GAS: u64 = 1_000_000;

/// The constants of the gas formula:
///
/// ```text
/// infer gas = base + account access
///           + ceil((per_op·ops + per_mac·macs + per_element·elements
///                   + per_transcendental·transcendentals
///                   + per_byte·(model bytes + input bytes + output bytes)) / 1000)
/// ```
///
/// with the work counts (`ops`, `macs`, `elements`, `transcendentals`, output bytes) read from
/// the model header, and the account access 2600 (cold) or 100 (warm) for `infer`, 0 for
/// `inferInline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GasSchedule {
    /// A short name recorded in the golden vectors (`"v1"`).
    pub version: &'static str,
    /// Fixed gas of every `infer` / `inferInline` call: ABI decoding, header parsing, the cache
    /// lookup, the output encoding. Also the minimum price of an inference.
    pub base: u64,
    /// Fixed gas of `cost` and `modelInfo`, and of a call refused before it is priced (bad
    /// calldata, value sent, no model at the address, wrong input length).
    pub query_base: u64,
    /// Milligas per op (dispatch, one output buffer).
    pub per_op_milligas: u64,
    /// Milligas per multiply-accumulate (and per pooling window read).
    pub per_mac_milligas: u64,
    /// Milligas per activation element read or written.
    pub per_element_milligas: u64,
    /// Milligas per fixed-point exponential / reciprocal.
    pub per_transcendental_milligas: u64,
    /// Milligas per byte of model read (decoded, validated, packed on a cold load) and per byte
    /// of input and output.
    pub per_byte_milligas: u64,
    /// The prices of a schedule that prices the loaded model (v3 on): `None` for v1 and v2,
    /// which price from the header alone.
    pub loaded: Option<&'static LoadedPrices>,
}

/// Price per unit of each [`OpWork`] count (see [`OpWork::COUNT_NAMES`]) for the ops of one
/// [`OpClass`], in the unit of its schedule's [`LoadedPrices::units_per_gas`] (milligas in v3
/// to v5, microgas from v6 on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassPrices {
    /// Price per op of the class.
    pub per_op: u64,
    /// Price per activation element the op reads.
    pub per_in_element: u64,
    /// Price per output element.
    pub per_out_element: u64,
    /// Price per multiply-accumulate (pooling: per window element read).
    pub per_mac: u64,
    /// Price per kernel tap (output position times window position, channels not counted).
    pub per_tap: u64,
    /// Price per im2col patch element (Conv2D: taps times input channels).
    pub per_patch: u64,
    /// Price per constant weight streamed.
    pub per_weight: u64,
    /// Price per fixed-point exponential / reciprocal.
    pub per_transcendental: u64,
    /// Price per output channel of a matrix op (its scale, bias and stage constants).
    pub per_channel: u64,
}

impl ClassPrices {
    /// Prices of a class that no op uses, or terms a class never counts.
    pub const ZERO: ClassPrices = ClassPrices {
        per_op: 0,
        per_in_element: 0,
        per_out_element: 0,
        per_mac: 0,
        per_tap: 0,
        per_patch: 0,
        per_weight: 0,
        per_transcendental: 0,
        per_channel: 0,
    };

    /// The prices in [`OpWork::counts`] order.
    pub fn as_array(&self) -> [u64; OpWork::COUNTS] {
        [
            self.per_op,
            self.per_in_element,
            self.per_out_element,
            self.per_mac,
            self.per_tap,
            self.per_patch,
            self.per_weight,
            self.per_transcendental,
            self.per_channel,
        ]
    }

    /// Prices from an array in [`OpWork::counts`] order.
    pub const fn from_array(p: [u64; OpWork::COUNTS]) -> ClassPrices {
        ClassPrices {
            per_op: p[0],
            per_in_element: p[1],
            per_out_element: p[2],
            per_mac: p[3],
            per_tap: p[4],
            per_patch: p[5],
            per_weight: p[6],
            per_transcendental: p[7],
            per_channel: p[8],
        }
    }
}

/// Bytes at the start of a model over which [`GasSchedule::load_gas`] of a schedule that
/// prices the loaded model charges [`LoadedPrices::per_head_byte`] on top of the bulk price.
/// Decoding, validating and packing an op and its tensors costs far more per byte than
/// copying and checking weights, but a model holds at most 512 ops and 1024 tensors: the
/// densest (512 FullyConnected ops without bias, two tensors each, about 70 bytes per op)
/// fit in about 36 KB, so past 48 KiB every further byte is bulk data (weights, biases,
/// per-channel scales), priced at the bulk rate.
pub const LOAD_HEAD_BYTES: u64 = 48 << 10;

/// The prices of a schedule that prices the loaded model (v3 on), besides its `base` and
/// `per_byte_milligas` (which, with [`LoadedPrices::per_head_byte`], make
/// [`GasSchedule::load_gas`], the part charged before loading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoadedPrices {
    /// Milligas per model byte, for the first [`LOAD_HEAD_BYTES`] bytes, charged before
    /// loading on top of `per_byte_milligas` (v3 to v5: the price of a model's records before
    /// the declared counts below are priced).
    pub per_head_byte: u64,
    /// Milligas per op the model's header declares, charged before loading (0 in v3 to v5;
    /// the fit offers it, `docs/gas.md` "Schedule v5"). The decoder reads exactly `op_count`
    /// op records and refuses the model at the first one missing, so the declared count
    /// bounds the per-op work of loading.
    pub per_declared_op: u64,
    /// Milligas per tensor the model's header declares, charged before loading (0 in v3 to
    /// v5); bounded like the ops, by `tensor_count`.
    pub per_declared_tensor: u64,
    /// Price units per gas of every term after loading: `per_model_byte`, `per_io_byte` and
    /// the class prices ([`MILLIGAS_PER_GAS`] in v3 to v5, [`MICROGAS_PER_GAS`] from v6
    /// on). The terms before loading above are always in milligas.
    pub units_per_gas: u64,
    /// Gas of the priced-after-loading part before its variable terms.
    pub base: u64,
    /// Price per model byte in the priced-after-loading part (decoding, validating and
    /// packing at the rate of the model's own bytes, now that they are known to be valid).
    pub per_model_byte: u64,
    /// Price per byte of input and of output copied.
    pub per_io_byte: u64,
    /// Prices per op class, indexed by [`OpClass::index`].
    pub classes: [ClassPrices; OpClass::COUNT],
}

impl LoadedPrices {
    /// The run of a model with per-op work `work` and `io_bytes` bytes of input and output,
    /// in price units ([`LoadedPrices::units_per_gas`]), unrounded, saturating (each product
    /// is below 2^64 * 2^64, and the sum of at most 512 ops' nine products and the byte terms
    /// saturates rather than wraps).
    pub fn run_units(&self, work: &[OpWork], model_len: u64, io_bytes: u64) -> u128 {
        let io = u128::from(self.per_io_byte).saturating_mul(u128::from(io_bytes));
        let bytes = u128::from(self.per_model_byte).saturating_mul(u128::from(model_len));
        work.iter().fold(io.saturating_add(bytes), |sum, op| {
            let prices = self.classes[op.class.index()].as_array();
            prices.iter().zip(op.counts()).fold(sum, |sum, (&price, count)| {
                sum.saturating_add(u128::from(price).saturating_mul(u128::from(count)))
            })
        })
    }
}

impl GasSchedule {
    /// The first, provisional schedule: constants set by hand from ecrecover's ~10 ns per gas
    /// and the reference kernels' speed. Superseded by [`GasSchedule::V2`]; kept, with its
    /// golden vectors, for chains that name it.
    pub const V1: GasSchedule = GasSchedule {
        version: "v1",
        base: 1000,
        query_base: 200,
        per_op_milligas: 50_000,
        per_mac_milligas: 300,
        per_element_milligas: 1_000,
        per_transcendental_milligas: 10_000,
        per_byte_milligas: 500,
        loaded: None,
    };

    /// The calibrated schedule, and the default. Each constant is the larger of two fits by
    /// `aiop bench gas --runs 2` (two invocations, four runs: a linear program over cold calls
    /// timed through the EVM on the AVX2 path, each case at its worst run relative to
    /// ecrecover in that run, with 30% headroom), so it covers every case of both. Shipped
    /// models and synthetic worst cases; `docs/gas.md` says how, `docs/gas-calibration-v2/`
    /// holds the two invocations, `docs/gas-report.md` a later one that checks the result.
    /// `query_base` is not fitted (it prices refusals and queries; kept from V1).
    pub const V2: GasSchedule = GasSchedule {
        version: "v2",
        base: 236,
        query_base: 200,
        per_op_milligas: 15_853,
        per_mac_milligas: 35,
        per_element_milligas: 318,
        per_transcendental_milligas: 4_218,
        per_byte_milligas: 282,
        loaded: None,
    };

    /// The schedule priced from the loaded model (`docs/gas.md`, "Schedule v3"): a call pays
    /// [`GasSchedule::load_gas`] (`base` and `per_byte_milligas` per model byte: decoding,
    /// validating and packing any model of that length) before the model is loaded, then the
    /// run, priced per op class from the work counts the engine computes at load
    /// ([`aiop_engine::ValidModel::work`]): ops, input and output elements, MACs, kernel taps,
    /// im2col patch elements, weights streamed, transcendentals, and the input and output
    /// bytes. Fitted by `aiop bench gas --runs 2` (30% headroom) on the shipped, synthetic,
    /// searched and MLPerf Tiny cases; `docs/gas.md` says how.
    /// The header fields `per_op_milligas` to `per_transcendental_milligas` are 0: nothing in
    /// the header is priced.
    pub const V3: GasSchedule = GasSchedule {
        version: "v3",
        base: V3_BASE,
        query_base: 200,
        per_op_milligas: 0,
        per_mac_milligas: 0,
        per_element_milligas: 0,
        per_transcendental_milligas: 0,
        per_byte_milligas: V3_LOAD_BYTE_MILLIGAS,
        loaded: Some(&V3_LOADED),
    };

    /// v3's prices under a new name, for precompile v4 (model-format v3): the format's new ops
    /// are priced by their op classes ([`aiop_engine::OpClass::of`]: BatchMatMul as Conv2D,
    /// LayerNorm as Transcendental, Gelu as Elementwise, Gather and Transpose as Data) with
    /// the work counts the engine gives them. A separate name because the price of a model a
    /// chain could not run before is part of the upgrade that lets it run.
    pub const V4: GasSchedule = GasSchedule { version: "v4", ..GasSchedule::V3 };

    /// The schedule of precompile v5: v4's prices with two raised, because a calibration run
    /// with the worst shapes of this round's searches as cases measured two above
    /// ecrecover's line under v4 (`docs/gas.md`, "Schedule v5"): a FullyConnected layer of
    /// 512 rows over a depth of 4096 (1.34x; the class had no MAC price) and 78 tiny dilated
    /// Conv2D ops (1.06x). FullyConnected gains 0.002 gas per MAC and Conv2D's price per op
    /// rises from 116.511 to 247.511 gas, enough for 1.3x headroom on both in that run. Prices
    /// only rise, so no case is cheaper than under v4.
    pub const V5: GasSchedule = GasSchedule { version: "v5", loaded: Some(&V5_LOADED), ..GasSchedule::V4 };

    /// The schedule of precompile v6 (`docs/gas.md`, "Schedule v6"), fitted on the v6
    /// calibration's runs 3 to 5 (`docs/gas-calibration-v6/`), each case at its slowest run,
    /// with every searched shape as a case, and checked by run 6. Two changes of rule besides the prices:
    /// the price before loading pays for decoding and validating alone (the precompile packs
    /// only after the full price is checked), by bytes and by the header's declared op and
    /// tensor counts, with no head-byte price; the price after loading is in microgas
    /// ([`MICROGAS_PER_GAS`]) and prices output channels.
    pub const V6: GasSchedule = GasSchedule {
        version: "v6",
        base: V6_BASE,
        query_base: 200,
        per_op_milligas: 0,
        per_mac_milligas: 0,
        per_element_milligas: 0,
        per_transcendental_milligas: 0,
        per_byte_milligas: V6_LOAD_BYTE_MILLIGAS,
        loaded: Some(&V6_LOADED),
    };

    /// Schedules under calibration, which tooling may measure (`aiop bench gas --schedule`)
    /// and no chain may run: none since v6 was published.
    pub const CANDIDATES: [GasSchedule; 0] = [];

    /// Every schedule, oldest first. A chain names the one it runs; published vectors exist
    /// for each (`testdata/vectors/precompile` for v1, `precompile-v2` for v2, `precompile-v3`
    /// for precompile v3, which prices with v3, `precompile-v4` to `precompile-v6` for
    /// precompile v4 to v6).
    pub const ALL: [GasSchedule; 6] =
        [GasSchedule::V1, GasSchedule::V2, GasSchedule::V3, GasSchedule::V4, GasSchedule::V5, GasSchedule::V6];

    /// The published schedule named `version` (`"v1"` to `"v6"`); never a candidate.
    pub fn by_version(version: &str) -> Option<GasSchedule> {
        GasSchedule::ALL.into_iter().find(|s| s.version == version)
    }

    /// Gas of the model's work, without the account access: everything an inference
    /// charges except the EIP-2929 part. Saturates at `u64::MAX`.
    pub fn inference_gas(&self, header: &ModelHeader, model_len: u64, input_len: u64) -> u64 {
        let bytes = u128::from(model_len) + u128::from(input_len) + u128::from(header.output_len);
        let terms = [
            (self.per_op_milligas, u128::from(header.op_count)),
            (self.per_mac_milligas, u128::from(header.cost.macs)),
            (self.per_element_milligas, u128::from(header.cost.elements)),
            (self.per_transcendental_milligas, u128::from(header.cost.transcendentals)),
            (self.per_byte_milligas, bytes),
        ];
        // Each product is below 2^64 · 2^66, and five of them cannot overflow u128.
        let milligas = terms
            .iter()
            .fold(0u128, |sum, &(price, count)| sum.saturating_add(u128::from(price).saturating_mul(count)));
        let variable = milligas.div_ceil(u128::from(MILLIGAS_PER_GAS));
        let variable = u64::try_from(variable).unwrap_or(u64::MAX);
        self.base.saturating_add(variable)
    }

    /// Gas `infer` charges for a model whose account access costs `access_gas`.
    pub fn infer_gas(&self, header: &ModelHeader, model_len: u64, input_len: u64, access_gas: u64) -> u64 {
        self.inference_gas(header, model_len, input_len).saturating_add(access_gas)
    }

    /// Gas of a query (`cost`, `modelInfo`) or of a refusal after an account access.
    pub fn query_gas(&self, access_gas: u64) -> u64 {
        self.query_base.saturating_add(access_gas)
    }

    /// Gas `modelInfo` charges: a query plus reading the whole model (for a schedule that
    /// prices the loaded model, a query plus [`GasSchedule::load_gas`]: `modelInfo` loads it).
    pub fn model_info_gas(&self, header: &ModelHeader, model_len: u64, access_gas: u64) -> u64 {
        if self.loaded.is_some() {
            return self.query_gas(access_gas).saturating_add(self.load_gas(header, model_len));
        }
        let read = u128::from(self.per_byte_milligas).saturating_mul(u128::from(model_len));
        let read = u64::try_from(read.div_ceil(u128::from(MILLIGAS_PER_GAS))).unwrap_or(u64::MAX);
        self.query_gas(access_gas).saturating_add(read)
    }
}

impl GasSchedule {
    /// Whether the schedule prices a call from the model header alone (v1, v2). A schedule
    /// that is not (v3 on) prices from the decoded, validated model's op list and shapes, so a
    /// call first pays [`GasSchedule::load_gas`] for the decoding, then the rest.
    pub fn priced_by_header(&self) -> bool {
        self.loaded.is_none()
    }

    /// Gas charged before a model is decoded, validated and packed: the part of the price
    /// that covers loading `model_len` bytes whose header is `header`. For a schedule priced
    /// by header it is the whole header-free part of the price that depends on the model
    /// length only. For a schedule that prices the loaded model it covers loading any model of
    /// that length and declared counts:
    ///
    /// ```text
    /// base + ceil((per_byte_milligas · len + per_head_byte · min(len, 49152)
    ///              + per_declared_op · op_count + per_declared_tensor · tensor_count) / 1000)
    /// ```
    ///
    /// (v3 to v5 price the head bytes and no declared count; v6 prices the declared counts and
    /// no head bytes).
    pub fn load_gas(&self, header: &ModelHeader, model_len: u64) -> u64 {
        let mut read = u128::from(self.per_byte_milligas).saturating_mul(u128::from(model_len));
        if let Some(prices) = self.loaded {
            let head = u128::from(model_len.min(LOAD_HEAD_BYTES));
            let terms = [
                (prices.per_head_byte, head),
                (prices.per_declared_op, u128::from(header.op_count)),
                (prices.per_declared_tensor, u128::from(header.tensor_count)),
            ];
            read = terms
                .iter()
                .fold(read, |sum, &(price, count)| sum.saturating_add(u128::from(price).saturating_mul(count)));
        }
        let read = u64::try_from(read.div_ceil(u128::from(MILLIGAS_PER_GAS))).unwrap_or(u64::MAX);
        self.base.saturating_add(read)
    }

    /// Gas `infer` charges for a loaded model, an input of `input_len` bytes and an account
    /// access of `access_gas`. For a schedule priced by header this equals
    /// [`GasSchedule::infer_gas`] on the model's header; it is never below
    /// [`GasSchedule::load_gas`] plus `access_gas`.
    ///
    /// For a schedule that prices the loaded model (v3):
    ///
    /// ```text
    /// access + max(load_gas(model bytes),
    ///              loaded.base + ceil((per_model_byte · model bytes
    ///                                  + per_io_byte · (input bytes + output bytes)
    ///                                  + Σ over ops Σ over counts price[class of op][count] · count)
    ///                                 / units_per_gas))
    /// ```
    ///
    /// with the counts of [`aiop_engine::ValidModel::work`]: the price of the model's own
    /// work, never below what was charged before loading. The variable part is summed in the
    /// table's unit (milligas in v3 to v5, microgas from v6 on) and rounded up once,
    /// and every sum saturates at `u64::MAX`.
    pub fn infer_gas_loaded(&self, model: &aiop_engine::ValidModel, input_len: u64, access_gas: u64) -> u64 {
        let model_len = u64::try_from(model.model_len()).unwrap_or(u64::MAX);
        match self.loaded {
            None => self.infer_gas(model.header(), model_len, input_len, access_gas),
            Some(prices) => {
                let output_len = u64::from(model.header().output_len);
                let work = prices.run_units(model.work(), model_len, input_len.saturating_add(output_len));
                // No published table has a zero unit; read as 1 it overcharges instead of dividing by 0.
                let units = u128::from(prices.units_per_gas.max(1));
                let work = u64::try_from(work.div_ceil(units)).unwrap_or(u64::MAX);
                let priced = prices.base.saturating_add(work);
                priced.max(self.load_gas(model.header(), model_len)).saturating_add(access_gas)
            }
        }
    }
}

impl GasSchedule {
    /// Gas of `inferBatch`: reads costing `storage_gas`, the model's load once, and its run on
    /// each of `count` inputs of `input_len` bytes. One input costs what `infer` costs.
    pub fn batch_gas(&self, model: &aiop_engine::ValidModel, input_len: u64, count: u64, storage_gas: u64) -> u64 {
        let model_len = u64::try_from(model.model_len()).unwrap_or(u64::MAX);
        let load = self.load_gas(model.header(), model_len);
        let run = self.infer_gas_loaded(model, input_len, 0).saturating_sub(load);
        storage_gas.saturating_add(load).saturating_add(run.saturating_mul(count))
    }
}

/// Schedule v3's base before loading: the minimum price of a call that loads a model (the fit
/// left it at 0; set to the fitted base after loading, so a tiny model refused at load still
/// pays the call's fixed work).
const V3_BASE: u64 = 193;
/// Schedule v3's milligas per model byte, charged before loading.
const V3_LOAD_BYTE_MILLIGAS: u64 = 281;
/// Schedule v3's prices after loading (milligas; `base` in gas) and its record price before
/// loading, fitted by `aiop bench gas --runs 2 --pricing-only --margin 0.3` (`docs/gas.md`,
/// "How v3 was fitted"; the Data class's element prices raised to Elementwise's, and the
/// Conv2D tap price added after the search under the fit found a dilated kernel at 2.1x).
const V3_LOADED: LoadedPrices = LoadedPrices {
    per_head_byte: 629,
    per_declared_op: 0,
    per_declared_tensor: 0,
    units_per_gas: MILLIGAS_PER_GAS,
    base: 193,
    per_model_byte: 0,
    per_io_byte: 278,
    classes: [
        // FullyConnected: per op, per output element, per weight.
        ClassPrices::from_array([80_356, 0, 2_466, 0, 0, 0, 129, 0, 0]),
        // Conv2D: per op, per MAC, per kernel tap (set after the fit: a dilated kernel over
        // two channels gathers its taps one short copy each), per im2col patch element.
        ClassPrices::from_array([116_511, 0, 0, 3, 1_100, 105, 0, 0, 0]),
        // DepthwiseConv2D: per tap, per weight.
        ClassPrices::from_array([0, 0, 0, 0, 507, 0, 3_313, 0, 0]),
        // Pool: per op, per output element, per tap.
        ClassPrices::from_array([16_135, 0, 8_753, 0, 116, 0, 0, 0, 0]),
        // Elementwise: per op, per input element.
        ClassPrices::from_array([30_081, 381, 0, 0, 0, 0, 0, 0, 0]),
        // Transcendental: per op, per input element, per transcendental.
        ClassPrices::from_array([26_791, 2_139, 0, 0, 0, 0, 0, 1_584, 0]),
        // Data: per op, per input element (at least Elementwise's), per output element.
        ClassPrices::from_array([22_865, 381, 50, 0, 0, 0, 0, 0, 0]),
    ],
};

/// Schedule v5's prices: v3's (and v4's), with a FullyConnected price per MAC and a higher
/// Conv2D price per op (see [`GasSchedule::V5`]).
const V5_LOADED: LoadedPrices = LoadedPrices {
    classes: {
        // Indexed by `OpClass::index`: 0 FullyConnected, 1 Conv2D (checked by a test).
        let mut classes = V3_LOADED.classes;
        classes[0].per_mac = V5_FULLY_CONNECTED_PER_MAC;
        classes[1].per_op = V5_CONV2D_PER_OP;
        classes
    },
    ..V3_LOADED
};
/// Milligas per FullyConnected MAC under v5: 1.08 covers `searched-fc-512x1x4096-o512` at
/// 1.3x in the run that found it above the line, rounded up.
const V5_FULLY_CONNECTED_PER_MAC: u64 = 2;
/// Milligas per Conv2D op under v5: v3's 116 511 plus the 130.5 gas per op that
/// `searched-conv-5x16x1-o3-k2x1-s1x1-d1x2-same-x78` lacked for 1.3x, rounded up.
const V5_CONV2D_PER_OP: u64 = 247_511;

/// Gas of every call under v6 before loading (see [`GasSchedule::V6`]).
const V6_BASE: u64 = 429;
/// Milligas per model byte decoded and validated under v6.
const V6_LOAD_BYTE_MILLIGAS: u64 = 75;

/// v6's prices: before loading in milligas per declared op and tensor, after loading in
/// microgas (`base` in gas), as `aiop bench gas --refit` fits them with `--margin 0.3` from
/// `docs/gas-calibration-v6/{3,4,5}-gas-fit-samples.json`, each case at the slowest of the
/// three runs, and rounds them up (the gas bench's tests check that the two agree).
pub const V6_LOADED: LoadedPrices = LoadedPrices {
    per_head_byte: 0,
    per_declared_op: 11_748,
    per_declared_tensor: 12_657,
    units_per_gas: MICROGAS_PER_GAS,
    base: 420,
    per_model_byte: 0,
    per_io_byte: 863_181,
    classes: [
        // FullyConnected: per op, per output element, per MAC, per weight, per channel.
        ClassPrices::from_array([82_471_042, 0, 1_547_449, 887, 0, 0, 82_703, 0, 1_811_866]),
        // Conv2D: per op, per MAC, per kernel tap, per channel.
        ClassPrices::from_array([261_541_537, 0, 0, 2_098, 1_475_861, 0, 0, 0, 5_566_844]),
        // DepthwiseConv2D: per op, per tap, per channel.
        ClassPrices::from_array([812_625_693, 0, 0, 0, 580_776, 0, 0, 0, 3_646_094]),
        // Pool: per op, per output element, per MAC (a window element read).
        ClassPrices::from_array([34_874_160, 0, 2_395_490, 164_010, 0, 0, 0, 0, 0]),
        // Elementwise: per op, per input element.
        ClassPrices::from_array([152_076_583, 308_662, 0, 0, 0, 0, 0, 0, 0]),
        // Transcendental: per op, per input element, per MAC (LayerNorm's sums), per
        // transcendental.
        ClassPrices::from_array([27_838_547, 265_279, 0, 542_800, 0, 0, 0, 4_124_018, 0]),
        // Data: per op, per input element (at least Elementwise's), per output element.
        ClassPrices::from_array([37_665_454, 308_662, 687_520, 0, 0, 0, 0, 0, 0]),
    ],
};

/// Gas per 32-byte word of account code read for a model stored across accounts (a manifest
/// and its chunks): EXTCODECOPY's copy price.
pub const CODE_READ_GAS_PER_WORD: u64 = 3;
/// Fixed gas of hashing the assembled bytes of a model stored across accounts (KECCAK256's).
pub const KECCAK_GAS: u64 = 30;
/// Gas per 32-byte word hashed (KECCAK256's).
pub const KECCAK_GAS_PER_WORD: u64 = 6;

fn words(len: u64) -> u64 {
    len.div_ceil(32)
}

/// Gas of reading `len` bytes of account code.
pub fn code_read_gas(len: u64) -> u64 {
    CODE_READ_GAS_PER_WORD.saturating_mul(words(len))
}

/// Gas of hashing `len` bytes with keccak256.
pub fn keccak_gas(len: u64) -> u64 {
    KECCAK_GAS.saturating_add(KECCAK_GAS_PER_WORD.saturating_mul(words(len)))
}

/// EIP-2929 account access gas.
pub fn account_access_gas(is_cold: bool) -> u64 {
    if is_cold { COLD_ACCOUNT_ACCESS_GAS } else { WARM_ACCOUNT_ACCESS_GAS }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiop_engine::Cost;

    fn header(ops: u16, macs: u64, elements: u64, transcendentals: u64, output_len: u32) -> ModelHeader {
        ModelHeader {
            version: 1,
            tensor_count: 0,
            op_count: ops,
            input_tensor: 0,
            output_tensor: 0,
            cost: Cost { ops: u64::from(ops), macs, elements, transcendentals, arena_bytes: 0 },
            input_len: 0,
            output_len,
        }
    }

    #[test]
    fn formula_rounds_the_variable_part_up_once() {
        let s = GasSchedule::V1;
        // 1 op (50 gas) + 1 MAC (0.3) + 1 element (1) + 1 transcendental (10) + 3 bytes (1.5)
        // = 62.8 -> 63.
        assert_eq!(s.inference_gas(&header(1, 1, 1, 1, 1), 1, 1), 1000 + 63);
        assert_eq!(s.infer_gas(&header(1, 1, 1, 1, 1), 1, 1, 2600), 1000 + 63 + 2600);
    }

    #[test]
    fn v2_prices_by_its_own_constants() {
        let s = GasSchedule::V2;
        // 15853 + 35 + 318 + 4218 + 3 * 282 = 21270 milligas -> 22 gas, plus base 236.
        assert_eq!(s.inference_gas(&header(1, 1, 1, 1, 1), 1, 1), 236 + 22);
        // digits_mlp's counts: 3 ops, 2368 MACs, 158 elements, 21 transcendentals, 2990 + 64 +
        // 10 bytes = 47559 + 82880 + 50244 + 88578 + 864048 milligas -> 1134 gas.
        assert_eq!(s.inference_gas(&header(3, 2368, 158, 21, 10), 2990, 64), 236 + 1134);
    }

    #[test]
    fn schedules_are_found_by_version_and_versions_are_unique() {
        for s in GasSchedule::ALL {
            assert_eq!(GasSchedule::by_version(s.version), Some(s));
        }
        assert_eq!(GasSchedule::by_version("v0"), None);
        let mut versions: Vec<_> = GasSchedule::ALL.iter().map(|s| s.version).collect();
        versions.dedup();
        assert_eq!(versions.len(), GasSchedule::ALL.len());
    }

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        let s = GasSchedule::V1;
        let h = header(u16::MAX, u64::MAX, u64::MAX, u64::MAX, u32::MAX);
        assert_eq!(s.infer_gas(&h, u64::MAX, u64::MAX, 2600), u64::MAX);
        assert_eq!(s.query_gas(u64::MAX), u64::MAX);
        assert!(s.model_info_gas(&h, u64::MAX, u64::MAX) == u64::MAX);
    }

    #[test]
    fn v1_and_v2_price_by_header_and_v3_from_the_loaded_model() {
        assert!(GasSchedule::V1.priced_by_header() && GasSchedule::V2.priced_by_header());
        assert!(!GasSchedule::V3.priced_by_header());
        assert_eq!(GasSchedule::by_version("v3"), Some(GasSchedule::V3));
        assert_eq!(GasSchedule::by_version("v4").map(|s| s.loaded), Some(GasSchedule::V3.loaded));
        assert!(!GasSchedule::V5.priced_by_header() && GasSchedule::V5.loaded != GasSchedule::V3.loaded);
        assert_eq!(GasSchedule::ALL.len(), 6);
    }

    /// digits_mlp (testdata/models): FC 64->32 on one row, FC 32->10, Softmax over 10.
    fn digits_mlp() -> aiop_engine::LoadedModel {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models/digits_mlp.aiop"))
            .expect("testdata/models/digits_mlp.aiop");
        aiop_engine::LoadedModel::load(&bytes, aiop_engine::KernelPath::Reference).expect("loads")
    }

    #[test]
    fn loaded_prices_for_v1_and_v2_equal_the_header_price() {
        let loaded = digits_mlp();
        for s in [GasSchedule::V1, GasSchedule::V2] {
            let len = loaded.model_len() as u64;
            assert_eq!(s.infer_gas_loaded(&loaded, 64, 2600), s.infer_gas(loaded.header(), len, 64, 2600));
            assert_eq!(s.infer_gas_loaded(&loaded, 64, 0), s.inference_gas(loaded.header(), len, 64));
        }
    }

    /// A schedule with simple v3-style prices, to check the formula by hand.
    const TEST_PRICES: LoadedPrices = LoadedPrices {
        per_head_byte: 1_000,
        per_declared_op: 0,
        per_declared_tensor: 0,
        units_per_gas: MILLIGAS_PER_GAS,
        base: 50,
        per_model_byte: 100,
        per_io_byte: 500,
        classes: [
            // FullyConnected: 10 gas per op, 0.1 per MAC, 0.2 per weight, 0.03 per output.
            ClassPrices { per_op: 10_000, per_mac: 100, per_weight: 200, per_out_element: 30, ..ClassPrices::ZERO },
            ClassPrices::ZERO,
            ClassPrices::ZERO,
            ClassPrices::ZERO,
            ClassPrices::ZERO,
            // Transcendental: 1 gas per op, 0.007 per input element, 3 per transcendental.
            ClassPrices { per_op: 1_000, per_in_element: 7, per_transcendental: 3_000, ..ClassPrices::ZERO },
            ClassPrices::ZERO,
        ],
    };

    #[test]
    fn v3_style_price_by_hand() {
        let s = GasSchedule {
            version: "test",
            base: 100,
            per_byte_milligas: 250,
            loaded: Some(&TEST_PRICES),
            ..GasSchedule::V3
        };
        let loaded = digits_mlp();
        let work = loaded.work();
        assert_eq!(work.len(), 3);
        let classes: Vec<_> = work.iter().map(|w| w.class).collect();
        assert_eq!(classes, [OpClass::FullyConnected, OpClass::FullyConnected, OpClass::Transcendental]);
        // FC 64 -> 32 on one row: 2048 MACs, 2048 weights, 64 in, 32 out, no taps.
        let fc1 = work[0];
        assert_eq!((fc1.in_elements, fc1.out_elements, fc1.macs, fc1.weights), (64, 32, 2048, 2048));
        assert_eq!((fc1.taps, fc1.patch, fc1.transcendentals), (0, 0, 0));
        // FC 32 -> 10: 320 MACs, 320 weights, 32 in, 10 out.
        let fc2 = work[1];
        assert_eq!((fc2.in_elements, fc2.out_elements, fc2.macs, fc2.weights), (32, 10, 320, 320));
        // Softmax over 10: 10 in, 10 out, 2 * 10 + 1 transcendentals.
        let softmax = work[2];
        assert_eq!((softmax.in_elements, softmax.out_elements, softmax.transcendentals), (10, 10, 21));
        // Before loading: 100 + ceil((2990 * 250 + 2990 * 1000) / 1000) = 100 + 3738 (3737.5
        // rounded up); past 49152 bytes only the bulk price grows.
        assert_eq!(s.load_gas(loaded.header(), 2990), 3838);
        assert_eq!(s.load_gas(loaded.header(), 49_152 + 4000), 100 + (49_152 * 1250 + 4000 * 250) / 1000);
        // After loading, in milligas: model bytes 2990 * 100 = 299 000; I/O (64 + 10) * 500 =
        // 37 000; FC 1: 10 000 + 2048 * 100 + 2048 * 200 + 32 * 30 = 625 360;
        // FC 2: 10 000 + 320 * 100 + 320 * 200 + 10 * 30 = 106 300;
        // Softmax: 1 000 + 10 * 7 + 21 * 3000 = 64 070.
        // Sum 1 131 730 milligas -> 1132 gas (rounded up once), plus its base 50: 1182. That is
        // below the 3838 charged before loading, so the price is 3838.
        assert_eq!(s.infer_gas_loaded(&loaded, 64, 0), 3838);
        assert_eq!(s.infer_gas_loaded(&loaded, 64, 2600), 3838 + 2600);
        assert_eq!(s.model_info_gas(loaded.header(), 2990, 2600), 200 + 2600 + 3838);
        // With a cheaper load part, the model's own work sets the price.
        const CHEAP: LoadedPrices = LoadedPrices { per_head_byte: 0, ..TEST_PRICES };
        let cheap_load = GasSchedule { per_byte_milligas: 10, base: 1, loaded: Some(&CHEAP), ..s };
        assert_eq!(cheap_load.load_gas(loaded.header(), 2990), 1 + 30);
        assert_eq!(cheap_load.infer_gas_loaded(&loaded, 64, 0), 1182);
        assert_eq!(cheap_load.infer_gas_loaded(&loaded, 64, 2600), 1182 + 2600);
    }

    #[test]
    fn v3_prices_cover_the_load_part_and_saturate() {
        let loaded = digits_mlp();
        let s = GasSchedule::V3;
        let len = loaded.model_len() as u64;
        assert!(s.infer_gas_loaded(&loaded, 64, 2600) >= s.load_gas(loaded.header(), len) + 2600);
        assert_eq!(s.infer_gas_loaded(&loaded, 64, u64::MAX), u64::MAX);
        let huge = LoadedPrices {
            per_head_byte: u64::MAX,
            per_declared_op: u64::MAX,
            per_declared_tensor: u64::MAX,
            units_per_gas: 1,
            base: u64::MAX,
            per_model_byte: u64::MAX,
            per_io_byte: u64::MAX,
            classes: [ClassPrices::from_array([u64::MAX; OpWork::COUNTS]); OpClass::COUNT],
        };
        let s =
            GasSchedule { base: u64::MAX, per_byte_milligas: u64::MAX, loaded: Some(Box::leak(Box::new(huge))), ..s };
        assert_eq!(s.load_gas(loaded.header(), u64::MAX), u64::MAX);
        assert_eq!(s.infer_gas_loaded(&loaded, u64::MAX, 0), u64::MAX);
    }

    #[test]
    fn the_declared_counts_are_priced_before_loading_when_a_schedule_prices_them() {
        const DECLARED: LoadedPrices =
            LoadedPrices { per_head_byte: 0, per_declared_op: 7_000, per_declared_tensor: 3_500, ..TEST_PRICES };
        let s = GasSchedule {
            version: "test",
            base: 10,
            per_byte_milligas: 100,
            loaded: Some(&DECLARED),
            ..GasSchedule::V3
        };
        let header = *digits_mlp().header();
        let (ops, tensors) = (u64::from(header.op_count), u64::from(header.tensor_count));
        assert!(ops > 0 && tensors > 0);
        // 10 + ceil((100 * 2990 + 7000 * ops + 3500 * tensors) / 1000), whatever the length.
        assert_eq!(s.load_gas(&header, 2990), 10 + (299_000 + 7_000 * ops + 3_500 * tensors).div_ceil(1000));
        let more = ModelHeader { op_count: header.op_count + 2, tensor_count: header.tensor_count + 1, ..header };
        assert_eq!(s.load_gas(&more, 2990) - s.load_gas(&header, 2990), 14 + 4);
        // v3 to v5 do not price them (v6 does).
        for v in [GasSchedule::V3, GasSchedule::V4, GasSchedule::V5] {
            assert_eq!(v.load_gas(&more, 2990), v.load_gas(&header, 2990), "{}", v.version);
        }
    }

    #[test]
    fn v5_is_v4_with_two_prices_raised() {
        let (v4, v5) = (GasSchedule::V4.loaded.expect("v4"), GasSchedule::V5.loaded.expect("v5"));
        let fc = OpClass::FullyConnected.index();
        let conv = OpClass::Conv2D.index();
        assert_eq!((v4.classes[fc].per_mac, v5.classes[fc].per_mac), (0, 2));
        assert_eq!((v4.classes[conv].per_op, v5.classes[conv].per_op), (116_511, 247_511));
        let mut back = *v5;
        back.classes[fc].per_mac = 0;
        back.classes[conv].per_op = 116_511;
        assert_eq!(&back, v4);
        assert_eq!(GasSchedule { version: "v4", loaded: GasSchedule::V4.loaded, ..GasSchedule::V5 }, GasSchedule::V4);
        // digits_mlp: two FullyConnected layers, 2048 + 320 MACs, 4.736 gas more than v4,
        // unless v4's price is already the load part.
        let loaded = digits_mlp();
        let len = loaded.model_len() as u64;
        let (p4, p5) =
            (GasSchedule::V4.infer_gas_loaded(&loaded, 64, 0), GasSchedule::V5.infer_gas_loaded(&loaded, 64, 0));
        assert!(p5 >= p4 && p5 >= GasSchedule::V5.load_gas(loaded.header(), len));
    }

    #[test]
    fn a_microgas_table_prices_as_the_milligas_table_a_thousand_times_coarser() {
        // No head-byte price, so the run (1182 gas, see `v3_style_price_by_hand`) sets the price.
        const CHEAP: LoadedPrices = LoadedPrices { per_head_byte: 0, ..TEST_PRICES };
        let loaded = digits_mlp();
        let milli =
            GasSchedule { version: "test", per_byte_milligas: 10, base: 1, loaded: Some(&CHEAP), ..GasSchedule::V3 };
        assert_eq!(milli.infer_gas_loaded(&loaded, 64, 0), 1182);
        let mut micro_prices = CHEAP;
        micro_prices.units_per_gas = MICROGAS_PER_GAS;
        micro_prices.per_model_byte *= 1000;
        micro_prices.per_io_byte *= 1000;
        for class in &mut micro_prices.classes {
            *class = ClassPrices::from_array(class.as_array().map(|p| p * 1000));
        }
        let micro = GasSchedule { loaded: Some(Box::leak(Box::new(micro_prices))), ..milli };
        assert_eq!(micro.infer_gas_loaded(&loaded, 64, 2600), milli.infer_gas_loaded(&loaded, 64, 2600));
        // The run is 1131.730 gas before rounding. 114 microgas more per FC MAC (2368 MACs) add
        // 0.269952 gas and stay within 1132; 115 add 0.27232 and cross it: a resolution no
        // milligas table has.
        let fc = OpClass::FullyConnected.index();
        for (extra, gas) in [(114, 1182), (115, 1183)] {
            let mut finer = micro_prices;
            finer.classes[fc].per_mac += extra;
            let finer = GasSchedule { loaded: Some(Box::leak(Box::new(finer))), ..milli };
            assert_eq!(finer.infer_gas_loaded(&loaded, 64, 0), gas, "{extra} microgas more per MAC");
        }
    }

    #[test]
    fn v6_prices_in_microgas_and_by_declared_counts_before_loading() {
        let v6 = GasSchedule::V6;
        assert_eq!(GasSchedule::by_version("v6"), Some(v6));
        assert!(GasSchedule::CANDIDATES.iter().all(|c| GasSchedule::by_version(c.version).is_none()));
        let prices = v6.loaded.expect("v6 prices the loaded model");
        assert_eq!(prices.units_per_gas, MICROGAS_PER_GAS);
        assert_eq!(prices.per_head_byte, 0);
        for old in [GasSchedule::V3, GasSchedule::V4, GasSchedule::V5] {
            assert_eq!(old.loaded.map(|p| p.units_per_gas), Some(MILLIGAS_PER_GAS), "{}", old.version);
        }
        // The Data class is never cheaper per element than Elementwise (the fit's rule).
        let (data, elementwise) = (prices.classes[OpClass::Data.index()], prices.classes[OpClass::Elementwise.index()]);
        assert!(data.per_in_element >= elementwise.per_in_element);
        assert!(data.per_out_element >= elementwise.per_out_element);
        let loaded = digits_mlp();
        let len = loaded.model_len() as u64;
        let header = loaded.header();
        let expected_load = V6_BASE
            + (V6_LOAD_BYTE_MILLIGAS * len
                + prices.per_declared_op * u64::from(header.op_count)
                + prices.per_declared_tensor * u64::from(header.tensor_count))
            .div_ceil(MILLIGAS_PER_GAS);
        assert_eq!(v6.load_gas(header, len), expected_load);
        assert!(v6.infer_gas_loaded(&loaded, 64, 0) >= expected_load);
        let more = ModelHeader { op_count: header.op_count + 2, ..*header };
        assert!(v6.load_gas(&more, len) > v6.load_gas(header, len), "v6 prices the declared ops");
    }

    #[test]
    fn access_gas_is_eip_2929() {
        assert_eq!(account_access_gas(true), 2600);
        assert_eq!(account_access_gas(false), 100);
    }
}
