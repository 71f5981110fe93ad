//! Training a float model described by an [`Arch`] with candle-nn (AdamW, cross-entropy).
//! Initialization and shuffling use a fixed-seed generator, so a run is repeatable on one
//! machine; the checked-in safetensors are the artifact, not the run.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW};

use crate::arch::Arch;
use crate::data::Dataset;
use crate::error::{Result, ToolsError};

/// splitmix64.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[-1, 1)`.
    pub fn symmetric(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    /// Shuffles `v` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Samples per optimizer step.
    pub batch_size: usize,
    /// AdamW's learning rate.
    pub learning_rate: f64,
    /// AdamW's weight decay.
    pub weight_decay: f64,
    /// Seed of the initial weights and the shuffling.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 60, batch_size: 32, learning_rate: 3e-3, weight_decay: 1e-4, seed: 1 }
    }
}

/// Trains from scratch and returns the float parameters (PyTorch layout).
pub fn train(
    arch: &Arch,
    data: &Dataset,
    config: &TrainConfig,
    mut log: impl FnMut(&str),
) -> Result<HashMap<String, Tensor>> {
    let device = Device::Cpu;
    let mut rng = Rng(config.seed);
    let mut vars = Vec::new();
    let mut params = HashMap::new();
    for (name, shape) in arch.parameters()? {
        let fan_in: usize = shape[1..].iter().product::<usize>().max(1);
        let fan_in = if name.ends_with(".bias") { arch_fan_in(arch, &name)? } else { fan_in };
        let bound = (1.0 / fan_in as f32).sqrt() * if name.ends_with(".weight") { 3f32.sqrt() } else { 1.0 };
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.symmetric() * bound).collect();
        let var = Var::from_tensor(&Tensor::from_vec(values, shape.as_slice(), &device)?)?;
        params.insert(name, var.as_tensor().clone());
        vars.push(var);
    }
    let mut opt = candle_nn::AdamW::new(
        vars,
        ParamsAdamW { lr: config.learning_rate, weight_decay: config.weight_decay, ..Default::default() },
    )?;
    let mut order: Vec<usize> = (0..data.len()).collect();
    for epoch in 0..config.epochs {
        rng.shuffle(&mut order);
        let (mut total, mut batches) = (0f32, 0);
        for chunk in order.chunks(config.batch_size) {
            let rows: Vec<&[f32]> = chunk.iter().map(|&i| data.samples[i].values.as_slice()).collect();
            let labels: Vec<u32> = chunk.iter().map(|&i| data.samples[i].label as u32).collect();
            let x = arch.batch(&rows, &device)?;
            let y = Tensor::from_vec(labels, chunk.len(), &device)?;
            let logits = arch.trace(&params, &x, true)?.pop().ok_or_else(|| ToolsError::Arch("no layers".into()))?;
            let loss = candle_nn::loss::cross_entropy(&logits.flatten_from(1)?, &y)?;
            opt.backward_step(&loss)?;
            total += loss.to_scalar::<f32>()?;
            batches += 1;
        }
        if epoch % 10 == 9 || epoch + 1 == config.epochs {
            log(&format!("epoch {:>3}: mean loss {:.4}", epoch + 1, total / batches as f32));
        }
    }
    Ok(params)
}

fn arch_fan_in(arch: &Arch, bias: &str) -> Result<usize> {
    let weight = bias.replace(".bias", ".weight");
    let params = arch.parameters()?;
    let shape = params.iter().find(|(n, _)| *n == weight).map(|(_, s)| s.clone()).unwrap_or_default();
    Ok(shape.get(1..).map_or(1, |s| s.iter().product::<usize>()).max(1))
}

/// Saves parameters as safetensors.
pub fn save(params: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    candle_core::safetensors::save(params, path).map_err(|e| ToolsError::Weights(format!("{}: {e}", path.display())))
}
