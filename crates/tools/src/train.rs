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
use crate::vit::Init;

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
    /// Decay the learning rate to zero along a half cosine (else it stays constant).
    pub cosine: bool,
    /// Augment images: move each training image by up to this many pixels in each direction
    /// (drawn per sample and epoch), filling with zeros. 0: no augmentation.
    pub shift: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 60, batch_size: 32, learning_rate: 3e-3, weight_decay: 1e-4, seed: 1, cosine: false, shift: 0 }
    }
}

/// Trains from scratch and returns the float parameters (PyTorch layout).
pub fn train(
    arch: &Arch,
    data: &Dataset,
    config: &TrainConfig,
    log: impl FnMut(&str),
) -> Result<HashMap<String, Tensor>> {
    let device = Device::Cpu;
    let mut rng = Rng(config.seed);
    let mut vars = Vec::new();
    let mut params = HashMap::new();
    for (name, shape) in arch.parameters()? {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = match arch.vit.as_ref().map(|v| v.init(&name, &shape)) {
            Some(Init::Constant(c)) => vec![c; n],
            Some(Init::Uniform(bound)) => (0..n).map(|_| rng.symmetric() * bound).collect(),
            None => {
                let fan_in: usize = shape[1..].iter().product::<usize>().max(1);
                let fan_in = if name.ends_with(".bias") { arch_fan_in(arch, &name)? } else { fan_in };
                let bound = (1.0 / fan_in as f32).sqrt() * if name.ends_with(".weight") { 3f32.sqrt() } else { 1.0 };
                (0..n).map(|_| rng.symmetric() * bound).collect()
            }
        };
        let var = Var::from_tensor(&Tensor::from_vec(values, shape.as_slice(), &device)?)?;
        params.insert(name, var.as_tensor().clone());
        vars.push(var);
    }
    fit(arch, data, config, vars, &mut rng, |x| last(arch.trace(&params, x, true)?), log)?;
    Ok(params)
}

fn last(mut outs: Vec<Tensor>) -> Result<Tensor> {
    outs.pop().ok_or_else(|| ToolsError::Arch("no layers".into()))
}

/// The optimization loop: AdamW on `vars` against the cross-entropy of `logits(x)`, the data
/// shuffled by `rng` every epoch; with `config.cosine` the learning rate decays to zero along a
/// half cosine.
pub fn fit(
    arch: &Arch,
    data: &Dataset,
    config: &TrainConfig,
    vars: Vec<Var>,
    rng: &mut Rng,
    logits: impl Fn(&Tensor) -> Result<Tensor>,
    mut log: impl FnMut(&str),
) -> Result<()> {
    let device = Device::Cpu;
    let mut opt = candle_nn::AdamW::new(
        vars,
        ParamsAdamW { lr: config.learning_rate, weight_decay: config.weight_decay, ..Default::default() },
    )?;
    let mut order: Vec<usize> = (0..data.len()).collect();
    let steps_per_epoch = data.len().div_ceil(config.batch_size.max(1));
    let total = (steps_per_epoch * config.epochs).max(1);
    let mut step = 0;
    for epoch in 0..config.epochs {
        rng.shuffle(&mut order);
        let (mut sum, mut batches) = (0f32, 0);
        for chunk in order.chunks(config.batch_size.max(1)) {
            if config.cosine {
                let progress = step as f64 / total as f64;
                opt.set_learning_rate(config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            }
            step += 1;
            let shifted: Vec<Vec<f32>> = match (config.shift, &arch.input_shape[..]) {
                (0, _) | (_, [_]) => Vec::new(),
                (s, _) => chunk.iter().map(|&i| shift_image(arch, &data.samples[i].values, s, rng)).collect(),
            };
            let rows: Vec<&[f32]> = if shifted.is_empty() {
                chunk.iter().map(|&i| data.samples[i].values.as_slice()).collect()
            } else {
                shifted.iter().map(Vec::as_slice).collect()
            };
            let labels: Vec<u32> = chunk.iter().map(|&i| data.samples[i].label as u32).collect();
            let x = arch.batch(&rows, &device)?;
            let y = Tensor::from_vec(labels, chunk.len(), &device)?;
            let loss = candle_nn::loss::cross_entropy(&logits(&x)?.flatten_from(1)?, &y)?;
            opt.backward_step(&loss)?;
            sum += loss.to_scalar::<f32>()?;
            batches += 1;
        }
        if epoch % 10 == 9 || epoch + 1 == config.epochs {
            log(&format!("epoch {:>3}: mean loss {:.4}", epoch + 1, sum / batches as f32));
        }
    }
    Ok(())
}

/// An `[h, w, c]` image moved by a random offset in `[-max, max]` on each axis, zeros filling
/// what comes in from outside.
fn shift_image(arch: &Arch, values: &[f32], max: usize, rng: &mut Rng) -> Vec<f32> {
    let [h, w, c] = arch.input_shape[..] else { return values.to_vec() };
    let span = 2 * max as u64 + 1;
    let dy = (rng.next_u64() % span) as isize - max as isize;
    let dx = (rng.next_u64() % span) as isize - max as isize;
    let mut out = vec![0f32; values.len()];
    for y in 0..h as isize {
        for x in 0..w as isize {
            let (sy, sx) = (y - dy, x - dx);
            if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                let (to, from) = (((y as usize) * w + x as usize) * c, ((sy as usize) * w + sx as usize) * c);
                if let (Some(dst), Some(src)) = (out.get_mut(to..to + c), values.get(from..from + c)) {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
    out
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
