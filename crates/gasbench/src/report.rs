//! The gas report: a Markdown table people read in review and an SVG plot of time against
//! gas with ecrecover's line, both written from one run's measurements.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::fit::{Fit, TERMS};
use crate::timing::Timing;

/// Where a measured case comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Shipped,
    Synthetic,
    Standard,
}

impl Group {
    fn label(self) -> &'static str {
        match self {
            Group::Shipped => "shipped model",
            Group::Synthetic => "synthetic worst case",
            Group::Standard => "standard precompile",
        }
    }
}

/// One case's measurements. For our precompile `pricing` is the cold call on the pricing path
/// (the model loaded from state and packed, no cache), `warm` the cached call on that path,
/// and `reference` the cold call on the scalar reference path.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub group: Group,
    pub gas: u64,
    pub pricing: Timing,
    pub warm: Option<Timing>,
    pub reference: Option<Timing>,
    /// Gas under the fitted constants (our cases only).
    pub fitted_gas: Option<u64>,
}

impl Row {
    pub fn ns_per_gas(&self) -> f64 {
        self.pricing.median_ns / self.gas.max(1) as f64
    }
}

/// Everything the report says.
#[derive(Debug, Clone)]
pub struct Report {
    pub title: String,
    pub command: String,
    pub machine: String,
    pub pricing_path: String,
    pub schedule_name: String,
    pub rows: Vec<Row>,
    pub fit: Option<Fit>,
    pub plot_file: String,
}

impl Report {
    /// ns per gas of ecrecover in this run: the line.
    pub fn ecrecover_ns_per_gas(&self) -> Option<f64> {
        self.rows.iter().find(|r| r.group == Group::Standard && r.name == "ecrecover").map(Row::ns_per_gas)
    }

    /// The case of ours that is slowest per gas, and its ratio to ecrecover.
    pub fn worst(&self) -> Option<(&Row, f64)> {
        let line = self.ecrecover_ns_per_gas()?;
        self.rows
            .iter()
            .filter(|r| r.group != Group::Standard)
            .map(|r| (r, r.ns_per_gas() / line))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The worst ratio on the reference path (what an operator without AVX2 gets).
    pub fn worst_reference(&self) -> Option<(&Row, f64)> {
        let line = self.ecrecover_ns_per_gas()?;
        self.rows
            .iter()
            .filter_map(|r| r.reference.map(|t| (r, t.median_ns / r.gas.max(1) as f64 / line)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let line = self.ecrecover_ns_per_gas().unwrap_or(f64::NAN);
        let _ = writeln!(md, "# {}\n", self.title);
        let _ = writeln!(md, "Produced by `{}` on {}.", self.command, self.machine);
        let _ = writeln!(
            md,
            "Gas schedule: **{}**. Pricing path: **{}** (cold: the model read from state, decoded, validated and packed; no cache).\n",
            self.schedule_name, self.pricing_path
        );
        let _ = writeln!(md, "ecrecover in this run: **{line:.2} ns/gas** ({:.0} Mgas/s).\n", 1000.0 / line);
        if let Some((row, ratio)) = self.worst() {
            let _ = writeln!(
                md,
                "Worst case of ours on the pricing path: **{}** at **{ratio:.2}x** ecrecover's ns/gas (target: at most 1.00x).",
                row.name
            );
        }
        if let Some((row, ratio)) = self.worst_reference() {
            let _ = writeln!(
                md,
                "Worst case on the scalar reference path: **{}** at **{ratio:.2}x** ecrecover's ns/gas.",
                row.name
            );
        }
        let _ = writeln!(md, "\n![ns against gas]({})\n", self.plot_file);
        let _ = writeln!(
            md,
            "| case | kind | gas | ns (pricing, cold) | ns/gas | Mgas/s | x ecrecover | ns warm | ns reference (cold) | reference x ecrecover |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for row in &self.rows {
            let npg = row.ns_per_gas();
            let warm = row.warm.map_or("".into(), |t| format!("{:.0}", t.median_ns));
            let (reference, reference_ratio) = row.reference.map_or((String::new(), String::new()), |t| {
                (format!("{:.0}", t.median_ns), format!("{:.2}", t.median_ns / row.gas.max(1) as f64 / line))
            });
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {:.2} | {:.0} | {:.2} | {} | {} | {} |",
                row.name,
                row.group.label(),
                row.gas,
                row.pricing.median_ns,
                npg,
                1000.0 / npg,
                npg / line,
                warm,
                reference,
                reference_ratio
            );
        }
        if let Some(fit) = &self.fit {
            let _ = writeln!(md, "\n## Fitted constants\n");
            let _ = writeln!(
                md,
                "Non-negative least squares of the cold pricing-path times (relative error), scaled by {:.3} so that no case is slower per gas than ecrecover. R-squared (log space): {:.3}.\n",
                fit.safety_scale, fit.r_squared
            );
            let _ = writeln!(md, "| term | gas per unit |");
            let _ = writeln!(md, "|---|---:|");
            for (name, c) in TERMS.iter().zip(fit.constants) {
                let _ = writeln!(md, "| {name} | {c:.6} |");
            }
        }
        md
    }

    /// Writes the plot as SVG to `path`.
    pub fn plot(&self, path: &std::path::Path) -> Result<(), String> {
        let line = self.ecrecover_ns_per_gas().ok_or("no ecrecover measurement")?;
        let root = SVGBackend::new(path, (960, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let gas = |r: &Row| r.gas.max(1) as f64;
        let (min_gas, max_gas) =
            self.rows.iter().map(gas).fold((f64::MAX, 1.0f64), |(lo, hi), g| (lo.min(g), hi.max(g)));
        let (min_ns, max_ns) = self
            .rows
            .iter()
            .map(|r| r.pricing.median_ns.max(1.0))
            .fold((f64::MAX, 1.0f64), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let x_range = (min_gas / 2.0)..(max_gas * 2.0);
        let y_range = (min_ns.min(min_gas * line) / 2.0)..(max_ns.max(max_gas * line) * 2.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("aiop precompile: time against gas ({})", self.pricing_path), ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x_range.clone().log_scale(), y_range.log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("gas charged")
            .y_desc("ns per call (median)")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                [x_range.start, x_range.end].into_iter().map(|g| (g, g * line)),
                RED.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(format!("ecrecover: {line:.2} ns/gas"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
        let groups = [(Group::Shipped, BLUE), (Group::Synthetic, MAGENTA), (Group::Standard, GREEN)];
        for (group, colour) in groups {
            let points: Vec<(f64, f64)> =
                self.rows.iter().filter(|r| r.group == group).map(|r| (gas(r), r.pricing.median_ns.max(1.0))).collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(points.into_iter().map(|p| Circle::new(p, 5, colour.filled())))
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
