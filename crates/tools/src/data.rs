//! Labelled data sets as CSV: one sample a line, `label,v0,v1,...` (the digits export in
//! `testdata/digits/` uses pixels 0..16).

use std::path::Path;

use crate::error::{Result, ToolsError, read};

/// One labelled sample with its raw values (as stored, before any division).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Class index.
    pub label: usize,
    /// The values, as stored.
    pub values: Vec<f32>,
}

/// A data set read from CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The samples, in file order.
    pub samples: Vec<Sample>,
}

impl Dataset {
    /// Reads `label,v0,...` lines; every line must have the same number of values.
    pub fn load_csv(path: &Path) -> Result<Dataset> {
        let text = String::from_utf8(read(path)?).map_err(|_| ToolsError::Data {
            path: path.into(),
            line: 0,
            reason: "not UTF-8 text".into(),
        })?;
        let mut samples = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| ToolsError::Data { path: path.into(), line: index + 1, reason };
            let mut fields = line.split(',');
            let label = fields.next().unwrap_or("").trim();
            let label: usize = label.parse().map_err(|_| err(format!("label {label:?} is not a class index")))?;
            let values = fields
                .map(|f| f.trim().parse::<f32>().map_err(|_| err(format!("value {f:?} is not a number"))))
                .collect::<Result<Vec<f32>>>()?;
            if let Some(first) = samples.first().map(|s: &Sample| s.values.len())
                && first != values.len()
            {
                return Err(err(format!("has {} values; earlier lines have {first}", values.len())));
            }
            samples.push(Sample { label, values });
        }
        if samples.is_empty() {
            return Err(ToolsError::Data { path: path.into(), line: 0, reason: "no samples".into() });
        }
        Ok(Dataset { samples })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples (never so for a data set `load_csv` returned).
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The first `limit` samples (all when `None`).
    pub fn take(&self, limit: Option<usize>) -> Dataset {
        let n = limit.unwrap_or(self.len()).min(self.len());
        Dataset { samples: self.samples[..n].to_vec() }
    }
}
