//! Accuracy of an int8 model through the engine, beside its float model through candle-core.

use std::collections::HashMap;

use aiop_engine::{DType, KernelPath, LoadedModel};
use candle_core::Tensor;
use indicatif::{ProgressBar, ProgressStyle};

use crate::arch::Arch;
use crate::data::Dataset;
use crate::error::{Result, ToolsError};
use crate::qmath::scale_value;

/// Results of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Samples evaluated.
    pub samples: usize,
    /// Samples whose int8 top-1 class is their label.
    pub int8_correct: usize,
    /// Samples whose float top-1 class is their label; present when a float model was given.
    pub float_correct: Option<usize>,
    /// Samples where the int8 and float top-1 classes are the same; present when a float
    /// model was given.
    pub agreement: Option<usize>,
}

fn pct(n: usize, d: usize) -> f64 {
    100.0 * n as f64 / d.max(1) as f64
}

impl EvalReport {
    /// int8 top-1 accuracy, in percent.
    pub fn int8_accuracy(&self) -> f64 {
        pct(self.int8_correct, self.samples)
    }
    /// Float top-1 accuracy, in percent.
    pub fn float_accuracy(&self) -> Option<f64> {
        self.float_correct.map(|c| pct(c, self.samples))
    }
    /// Share of samples where int8 and float agree, in percent.
    pub fn agreement_rate(&self) -> Option<f64> {
        self.agreement.map(|c| pct(c, self.samples))
    }
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "samples      {}", self.samples)?;
        if let Some(acc) = self.float_accuracy() {
            writeln!(f, "float top-1  {acc:.2}% ({}/{})", self.float_correct.unwrap_or(0), self.samples)?;
        }
        writeln!(f, "int8 top-1   {:.2}% ({}/{})", self.int8_accuracy(), self.int8_correct, self.samples)?;
        if let (Some(a), Some(fl)) = (self.agreement_rate(), self.float_accuracy()) {
            writeln!(f, "difference   {:+.2} percentage points (int8 - float)", self.int8_accuracy() - fl)?;
            writeln!(f, "agreement    {a:.2}% ({}/{})", self.agreement.unwrap_or(0), self.samples)?;
        }
        Ok(())
    }
}

/// Quantizes one sample (`value / divisor`) into the model's input bytes.
pub fn quantize_input(model: &LoadedModel, values: &[f32], divisor: f32) -> Result<Vec<u8>> {
    let info = model.input();
    let scale = scale_value(info.scale);
    if scale <= 0.0 {
        return Err(ToolsError::Quantize(
            "the model's input tensor has no scale; it cannot take real-valued data".into(),
        ));
    }
    if values.len() != model.input_len() {
        return Err(ToolsError::Quantize(format!(
            "a sample has {} values; the model's input {:?} takes {}",
            values.len(),
            info.shape,
            model.input_len()
        )));
    }
    Ok(values
        .iter()
        .map(|&v| {
            ((f64::from(v / divisor) / scale).round() + f64::from(info.zero_point)).clamp(-128.0, 127.0) as i8 as u8
        })
        .collect())
}

/// The top-1 class from a model's output bytes: the first largest int8 value, or the first
/// int32 of an ArgMax output.
pub fn top1(model: &LoadedModel, output: &[u8]) -> usize {
    match model.output().dtype {
        DType::I32 => output.get(..4).map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]).max(0) as usize),
        DType::I8 => {
            let depth = model.output().shape.last().copied().unwrap_or(1) as usize;
            let row = &output[..depth.min(output.len())];
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if (v as i8) > (row[best] as i8) {
                    best = i;
                }
            }
            best
        }
    }
}

/// Top-1 class of every sample under the int8 model (reference kernels).
pub fn int8_predictions(model_bytes: &[u8], data: &Dataset, divisor: f32, progress: bool) -> Result<Vec<usize>> {
    let model = LoadedModel::load(model_bytes, KernelPath::Reference)?;
    let bar = if progress { ProgressBar::new(data.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("int8 {bar:40} {pos}/{len}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut out = Vec::with_capacity(data.len());
    for s in &data.samples {
        let input = quantize_input(&model, &s.values, divisor)?;
        out.push(top1(&model, &model.run(&input)?));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Evaluates the int8 model and, if given, the float model on `data`.
pub fn evaluate(
    model_bytes: &[u8],
    data: &Dataset,
    float: Option<(&Arch, &HashMap<String, Tensor>)>,
    divisor: f32,
    progress: bool,
) -> Result<EvalReport> {
    let divisor = float.map_or(divisor, |(arch, _)| arch.input_divisor);
    let int8 = int8_predictions(model_bytes, data, divisor, progress)?;
    let labels: Vec<usize> = data.samples.iter().map(|s| s.label).collect();
    let int8_correct = int8.iter().zip(&labels).filter(|(p, l)| p == l).count();
    let (mut float_correct, mut agreement) = (None, None);
    if let Some((arch, params)) = float {
        let mut preds = Vec::with_capacity(data.len());
        for chunk in data.samples.chunks(256) {
            let rows: Vec<&[f32]> = chunk.iter().map(|s| s.values.as_slice()).collect();
            preds.extend(arch.predict(params, &rows)?);
        }
        float_correct = Some(preds.iter().zip(&labels).filter(|(p, l)| p == l).count());
        agreement = Some(preds.iter().zip(&int8).filter(|(a, b)| a == b).count());
    }
    Ok(EvalReport { samples: data.len(), int8_correct, float_correct, agreement })
}
