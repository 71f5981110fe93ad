//! The gas report: a Markdown page people read in review and an SVG plot of time against gas
//! with ecrecover's line, both written from one run's measurements.

use std::fmt::Write as _;

use aiop_precompile::GasSchedule;
use plotters::prelude::*;

use crate::fit::loaded_term_names;
use crate::measure::{Group, Measurement, Row};
use crate::timing::Timing;

/// A block's gas, for "what a block holds".
pub const BLOCK_GAS: u64 = 30_000_000;
/// Gas of a transaction before its calldata and execution.
const TX_BASE_GAS: u64 = 21_000;

impl Group {
    fn label(self) -> &'static str {
        match self {
            Group::Shipped => "shipped model",
            Group::Mlperf => "MLPerf Tiny model",
            Group::Synthetic => "synthetic worst case",
            Group::Standard => "standard precompile",
        }
    }
}

/// A measurement with what the page says about where it came from.
#[derive(Debug, Clone)]
pub struct Report {
    /// The run the page reports.
    pub measurement: Measurement,
    /// The command that produced it, as a person would type it.
    pub command: String,
    /// The machine, in words (CPU model, cores).
    pub machine: String,
    /// File name of the plot, relative to the Markdown page.
    pub plot_file: String,
}

fn ratio_cell(row: &Row, timing: Option<Timing>, schedule: &GasSchedule, line: f64) -> String {
    timing.map_or(String::new(), |t| format!("{:.2}", row.ns_per_gas(t, schedule) / line))
}

fn ns_cell(timing: Option<Timing>) -> String {
    timing.map_or(String::new(), |t| format!("{:.0}", t.median_ns))
}

impl Report {
    /// The Markdown page (`gas-report.md`).
    pub fn markdown(&self) -> String {
        let m = &self.measurement;
        let line = m.line_ns_per_gas;
        let schedule = &m.schedule;
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# Gas report{}\n",
            if m.quick { " (quick run: a smoke test, not a calibration)" } else { "" }
        );
        if m.runs > 1 {
            let _ = writeln!(
                md,
                "Produced by `{}` on {}: {} whole runs, each case at its worst run relative to that run's ecrecover, \
                 expressed at the fastest ecrecover of all of them.\n",
                self.command, self.machine, m.runs
            );
        } else {
            let _ =
                writeln!(md, "Produced by `{}` on {}, all figures from this one run.\n", self.command, self.machine);
        }
        let _ = writeln!(
            md,
            "Every call is a whole transaction through revm 42 as `AiopEvmFactory` builds it (the model read from a data \
             contract's code, the account cold), less the time of the same transaction sent to an account with no code \
             (what the transaction's own 21000 and calldata gas pay for; {:.0} ns for the smallest). The yardsticks go \
             through the same path. Gas per call is what the precompile charges less the EIP-2929 account access, which \
             pays for a state read that this in-memory benchmark does not make.\n",
            m.rows.iter().map(|r| r.transaction.median_ns).fold(f64::INFINITY, f64::min)
        );
        let _ = writeln!(
            md,
            "- Schedule checked: **{}**. Pricing path: **{}** (cold: no model cache, so every call decodes, validates and \
             packs its model). Fastest path here: {}.",
            schedule.version, m.pricing_path, m.fastest_path
        );
        let _ = writeln!(
            md,
            "- ecrecover: **{line:.2} ns/gas** ({:.0} Mgas/s), the fastest of five timings spread over each run (the least disturbed, so every ratio to it errs on the safe side).",
            1000.0 / line
        );
        if let Some((row, ratio)) = m.worst(schedule, |r| Some(r.pricing)) {
            let _ = writeln!(
                md,
                "- Worst case of ours on the pricing path: **{}** at **{ratio:.2}x** ecrecover's ns/gas (target: at most 1.00x).",
                row.name
            );
        }
        if let Some((lo, hi)) = m.digits_range(schedule) {
            let _ = writeln!(
                md,
                "- Shipped digits models on the pricing path: **{lo:.2}x to {hi:.2}x** ecrecover's ns/gas (target: at least 0.50x)."
            );
        }
        if let Some((lo, hi)) = m.mlperf_range(schedule) {
            let _ = writeln!(
                md,
                "- MLPerf Tiny models on the pricing path: **{lo:.2}x to {hi:.2}x** ecrecover's ns/gas, so priced at \
                 **{:.2}x to {:.2}x** their cost at ecrecover's line (target: at most 2x, ideally near 1.3x).",
                1.0 / hi,
                1.0 / lo
            );
        }
        if let Some((row, ratio)) = m.worst_load(schedule) {
            let _ = writeln!(
                md,
                "- Loading alone (`ValidModel::decode`: decode and validate; packing waits for the full price) \
                 against the gas charged before loading \
                 (`load_gas`): worst **{}** at **{ratio:.2}x** ecrecover's ns/gas.",
                row.name
            );
        }
        if let Some((row, ratio)) = m.worst(schedule, |r| r.fastest) {
            let _ = writeln!(
                md,
                "- Worst case on the fastest path ({}): **{}** at **{ratio:.2}x**.",
                m.fastest_path, row.name
            );
        }
        if let Some((row, ratio)) = m.worst(schedule, |r| r.reference) {
            let _ = writeln!(
                md,
                "- Worst case on the scalar reference path (a node without AVX2): **{}** at **{ratio:.2}x** ecrecover's ns/gas.",
                row.name
            );
        }
        let _ = writeln!(md, "\n![time against gas]({})\n", self.plot_file);

        let _ = writeln!(md, "## Every case under schedule {}\n", schedule.version);
        let _ = writeln!(
            md,
            "Times are medians in ns per call, less the case's own transaction (the same calldata sent to an account \
             with no code). \"x ecrecover\" is the case's ns/gas over ecrecover's: \
             above 1.00 the case is underpriced.\n"
        );
        let _ = writeln!(
            md,
            "| case | kind | gas charged | gas priced | ns transaction (subtracted) | ns cold ({p}) | ns/gas | Mgas/s | x ecrecover | ns warm ({p}) | ns cold ({f}) | x ecrecover ({f}) | ns cold (reference) | x ecrecover (reference) | ns decoding alone | load gas | x ecrecover (load) | gas priced (fitted) | x ecrecover (fitted) |",
            p = m.pricing_path,
            f = m.fastest_path
        );
        let _ = writeln!(
            md,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let fitted = m.fitted_schedule.as_ref();
        for row in &m.rows {
            let npg = row.ns_per_gas(row.pricing, schedule);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.name,
                row.group.label(),
                row.charged_gas(schedule),
                row.priced_gas(schedule),
                row.transaction.median_ns,
                row.pricing.median_ns,
                npg,
                1000.0 / npg.max(1e-9),
                npg / line,
                ns_cell(row.warm),
                ns_cell(row.fastest),
                ratio_cell(row, row.fastest, schedule, line),
                ns_cell(row.reference),
                ratio_cell(row, row.reference, schedule, line),
                ns_cell(row.load),
                row.work
                    .as_ref()
                    .filter(|_| row.load.is_some())
                    .map_or(String::new(), |w| schedule.load_gas(&w.header, w.model_len).to_string()),
                row.load_ns_per_gas(schedule).map_or(String::new(), |npg| format!("{:.2}", npg / line)),
                fitted.filter(|_| row.work.is_some()).map_or(String::new(), |f| row.priced_gas(f).to_string()),
                fitted.filter(|_| row.work.is_some()).map_or(String::new(), |f| ratio_cell(
                    row,
                    Some(row.pricing),
                    f,
                    line
                )),
            );
        }
        let _ = writeln!(md, "\n### What the synthetic cases stress\n");
        for row in m.rows.iter().filter(|r| r.group == Group::Synthetic) {
            let _ = writeln!(md, "- `{}`: {}", row.name, row.about);
        }

        if let (Some(fit), Some(fitted)) = (&m.fit, &m.fitted_schedule) {
            let _ = writeln!(md, "\n## The fit\n");
            let _ = writeln!(
                md,
                "Two linear programs over the cold pricing-path times. The price after loading: every successful call of \
                 ours gets at least {:.2}x the gas it deserves at ecrecover's rate ({:.0}% headroom for run-to-run noise), \
                 at the least weighted mean price (MLPerf Tiny models weigh {}, shipped models 4, synthetic 1). The \
                 part charged before loading: every case's loading alone, and every call refused at load, gets the \
                 same headroom. Fitted over deserved gas (after loading): {:.2}x to {:.2}x; R-squared (log space) \
                 {:.3}.\n",
                1.0 + fit.margin,
                fit.margin * 100.0,
                m.mlperf_weight,
                fit.spread.0,
                fit.spread.1,
                fit.r_squared
            );
            let _ = writeln!(
                md,
                "Cases on the line (priced at exactly the headroom, so they set the constants): after loading {}; \
                 before loading {}.\n",
                m.binding.join(", "),
                m.load_binding.join(", ")
            );
            let _ = writeln!(md, "Terms no case uses, and terms the program leaves at zero, are omitted.\n");
            let _ = writeln!(
                md,
                "| term | fitted gas per unit | rounded into a schedule (milligas before loading, microgas after; bases in gas) |"
            );
            let _ = writeln!(md, "|---|---:|---:|");
            let (load_stored, stored) = stored_constants(fitted);
            if let Some(load_fit) = &m.load_fit {
                for ((name, c), stored) in crate::fit::LOAD_TERMS.iter().zip(&load_fit.constants).zip(load_stored) {
                    let _ = writeln!(md, "| {name} | {c:.6} | {stored} |");
                }
            }
            for ((name, c), stored) in loaded_term_names().iter().zip(&fit.constants).zip(stored) {
                if *c > 0.0 {
                    let _ = writeln!(md, "| {name} (after loading) | {c:.6} | {stored} |");
                }
            }
            let mut under_fit = Vec::new();
            if let Some((row, ratio)) = m.worst(fitted, |r| Some(r.pricing)) {
                under_fit.push(format!("worst case **{}** at **{ratio:.2}x** ecrecover's ns/gas", row.name));
            }
            if let Some((lo, hi)) = m.digits_range(fitted) {
                under_fit.push(format!("shipped digits models {lo:.2}x to {hi:.2}x"));
            }
            if let Some((lo, hi)) = m.mlperf_range(fitted) {
                under_fit.push(format!("MLPerf Tiny models {lo:.2}x to {hi:.2}x"));
            }
            if let Some((row, ratio)) = m.worst_load(fitted) {
                under_fit.push(format!("loading alone worst **{}** at **{ratio:.2}x**", row.name));
            }
            if let Some((row, ratio)) = m.worst(fitted, |r| r.reference) {
                under_fit.push(format!("reference path worst **{}** at **{ratio:.2}x**", row.name));
            }
            let _ = writeln!(md, "\nUnder the fitted schedule, in this run: {}.", under_fit.join("; "));
            let _ =
                writeln!(md, "\nAs a schedule (`crates/precompile/src/gas.rs`), to adopt under a new version name:\n");
            let _ = writeln!(md, "```rust\n{}\n```", schedule_literal(fitted));
        }

        if m.rows.iter().any(|r| r.group == Group::Mlperf) {
            let _ = writeln!(md, "\n## The MLPerf Tiny models under schedule {}\n", schedule.version);
            let _ = writeln!(
                md,
                "Format v2, which the precompile does not accept yet: each is timed in the engine (`LoadedModel::load` and \
                 `run` on the pricing path, cold), without the EVM call around it. \"Cost at the line\" is its time \
                 at ecrecover's ns per gas; \"priced / cost\" above 1 means it pays more than its time deserves.\n"
            );
            let _ = writeln!(
                md,
                "| model | bytes | ops | MACs | gas priced | gas (cold infer) | ns cold ({p}) | cost at the line (gas) | x ecrecover | priced / cost |",
                p = m.pricing_path
            );
            let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            for row in m.rows.iter().filter(|r| r.group == Group::Mlperf) {
                let Some(work) = &row.work else { continue };
                let priced = row.priced_gas(schedule);
                let deserved = row.pricing.median_ns / line;
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} |",
                    row.name,
                    work.model_len,
                    work.header.op_count,
                    work.header.cost.macs,
                    priced,
                    row.charged_gas(schedule),
                    row.pricing.median_ns,
                    deserved,
                    deserved / priced.max(1) as f64,
                    priced as f64 / deserved.max(1e-9)
                );
            }
        }

        let _ = writeln!(md, "\n## What a {}M-gas block holds\n", BLOCK_GAS / 1_000_000);
        let _ = writeln!(
            md,
            "Calls per block counts the precompile's gas alone (many calls from one contract); transactions per block \
             counts one `infer` per transaction to the precompile (21000 + calldata + the call).\n"
        );
        let _ = writeln!(md, "| model | gas (cold) | calls per block | transactions per block |");
        let _ = writeln!(md, "|---|---:|---:|---:|");
        for row in m.rows.iter().filter(|r| matches!(r.group, Group::Shipped | Group::Mlperf)) {
            let Some(work) = &row.work else { continue };
            let gas = row.charged_gas(schedule);
            let tx = TX_BASE_GAS + calldata_gas(work.input_len, work.delivery, work.model_len) + gas;
            let _ = writeln!(md, "| {} | {} | {} | {} |", row.name, gas, BLOCK_GAS / gas.max(1), BLOCK_GAS / tx);
        }
        md
    }

    /// Writes the plot as SVG to `path`: gas charged against time, one point per case, with
    /// ecrecover's line. Points above the line are underpriced.
    pub fn plot(&self, path: &std::path::Path) -> Result<(), String> {
        let m = &self.measurement;
        let line = m.line_ns_per_gas;
        let root = SVGBackend::new(path, (960, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let points: Vec<(Group, f64, f64)> = m
            .rows
            .iter()
            .map(|r| (r.group, r.priced_gas(&m.schedule).max(1) as f64, r.pricing.median_ns.max(1.0)))
            .collect();
        let (min_gas, max_gas) = points.iter().fold((f64::MAX, 1.0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
        let (min_ns, max_ns) = points.iter().fold((f64::MAX, 1.0f64), |(lo, hi), p| (lo.min(p.2), hi.max(p.2)));
        let x_range = (min_gas / 2.0)..(max_gas * 2.0);
        let y_range = (min_ns.min(min_gas * line) / 2.0)..(max_ns.max(max_gas * line) * 2.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "aiop precompile, schedule {}: time against gas ({}, cold)",
                    m.schedule.version, m.pricing_path
                ),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x_range.clone().log_scale(), y_range.log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("gas priced (log)")
            .y_desc("ns per call, median (log)")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                [x_range.start, x_range.end].into_iter().map(|g| (g, g * line)),
                RED.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(format!("ecrecover: {line:.2} ns/gas (above: underpriced)"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
        let groups =
            [(Group::Shipped, BLUE), (Group::Mlperf, CYAN), (Group::Synthetic, MAGENTA), (Group::Standard, GREEN)];
        for (group, colour) in groups {
            let series: Vec<(f64, f64)> = points.iter().filter(|p| p.0 == group).map(|p| (p.1, p.2)).collect();
            if series.is_empty() {
                continue;
            }
            chart
                .draw_series(series.into_iter().map(|p| Circle::new(p, 5, colour.filled())))
                .map_err(|e| e.to_string())?
                .label(group.label())
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Calldata gas (EIP-2028: 16 per non-zero byte, 4 per zero byte) of one call, counting the
/// ABI words as zero bytes except their few significant ones, and the payload as non-zero.
fn calldata_gas(input_len: u64, delivery: crate::cases::Delivery, model_len: u64) -> u64 {
    let payload = input_len + if delivery == crate::cases::Delivery::Deployed { 0 } else { model_len };
    // Selector (4 non-zero), head and length words (mostly zero), payload padded to words.
    let words = 4 + payload.div_ceil(32);
    4 * 16 + (words * 32 - payload) * 4 + payload * 16
}

/// The constants of `schedule` in the loaded-model term order of
/// [`crate::fit::loaded_term_names`] (bases in gas, the others in the schedule's units:
/// milligas before loading, [`aiop_precompile::LoadedPrices::units_per_gas`] after).
pub(crate) fn stored_constants(schedule: &GasSchedule) -> (Vec<u64>, Vec<u64>) {
    let Some(prices) = schedule.loaded else {
        return (vec![schedule.base, schedule.per_byte_milligas, 0, 0], vec![0; crate::fit::LOADED_TERMS]);
    };
    let mut out = vec![prices.base, prices.per_model_byte, prices.per_io_byte];
    for class in &prices.classes {
        out.extend(class.as_array());
    }
    (vec![schedule.base, schedule.per_byte_milligas, prices.per_declared_op, prices.per_declared_tensor], out)
}

/// A `GasSchedule` literal for the constants of `schedule` (with its price table for a
/// schedule that prices the loaded model).
pub fn schedule_literal(schedule: &GasSchedule) -> String {
    let mut text = format!(
        "GasSchedule {{\n    version: \"vN\",\n    base: {},\n    query_base: {},\n    per_op_milligas: {},\n    \
         per_mac_milligas: {},\n    per_element_milligas: {},\n    per_transcendental_milligas: {},\n    \
         per_byte_milligas: {},\n    loaded: {},\n}}",
        schedule.base,
        schedule.query_base,
        schedule.per_op_milligas,
        schedule.per_mac_milligas,
        schedule.per_element_milligas,
        schedule.per_transcendental_milligas,
        schedule.per_byte_milligas,
        if schedule.loaded.is_some() { "Some(&LOADED)" } else { "None" }
    );
    if let Some(prices) = schedule.loaded {
        text.push_str(&format!(
            "\n\nconst LOADED: LoadedPrices = LoadedPrices {{\n    per_head_byte: {},\n    per_declared_op: {},\n    \
             per_declared_tensor: {},\n    units_per_gas: {},\n    base: {},\n    per_model_byte: {},\n    \
             per_io_byte: {},\n    classes: [\n",
            prices.per_head_byte,
            prices.per_declared_op,
            prices.per_declared_tensor,
            prices.units_per_gas,
            prices.base,
            prices.per_model_byte,
            prices.per_io_byte
        ));
        for (class, p) in aiop_engine::OpClass::ALL.iter().zip(&prices.classes) {
            text.push_str(&format!(
                "        // {}\n        ClassPrices::from_array({:?}),\n",
                class.name(),
                p.as_array()
            ));
        }
        text.push_str("    ],\n};");
    }
    text
}
