//! A small vision transformer: its architecture description, float forward pass (optionally
//! with every int8 tensor fake-quantized, for calibration and quantization-aware training), and
//! its integer-only model in format v3.
//!
//! The architecture JSON is an [`Arch`] with a `vit` object instead of `layers`:
//!
//! ```json
//! { "name": "digits_vit", "input_shape": [8, 8, 1], "input_divisor": 16.0,
//!   "input_scale": 0.004166666666666667, "input_zero_point": -128,
//!   "vit": { "patch": 4, "dim": 32, "heads": 2, "blocks": 2, "mlp_dim": 64, "classes": 10 } }
//! ```
//!
//! The float network (pre-LN, as in ViT): the image is cut into `patch x patch` patches, row by
//! row (`T` tokens); each patch (pixels in height, width, channel order) goes through the
//! shared linear `embed`, plus a learned position embedding. Then `blocks` encoder blocks:
//! `x += proj(attention(ln1(x)))`, `x += fc2(igelu(fc1(ln2(x))))`, with `heads`-head softmax
//! attention, scores scaled by `1 / sqrt(dim / heads)`. Then a final layer norm `norm`, the
//! mean over the tokens, and the linear `head` to the class logits. The GELU is I-BERT's
//! polynomial [`igelu`] (the one the engine computes), not the exact one.
//!
//! Weight names: `embed.weight [dim, patch*patch*channels]`, `embed.bias [dim]`,
//! `embed.position [T, dim]`; per block `i`: `block{i}.ln1.{weight,bias} [dim]`,
//! `block{i}.{q,k,v,proj}.weight [dim, dim]` and `.bias [dim]`, `block{i}.ln2.{weight,bias}`,
//! `block{i}.fc1.weight [mlp_dim, dim]`, `block{i}.fc2.weight [dim, mlp_dim]` (with biases);
//! `norm.{weight,bias} [dim]`, `head.weight [classes, dim]`, `head.bias [classes]`.
//!
//! The int8 model ([`quantize`]): the patch embedding is one FullyConnected over the 64 input
//! pixels with block-sparse weights `[T * dim, pixels]` (each token's outputs read only its
//! patch) and the position embedding folded into its bias, then a Reshape to `[T, dim]`. Each
//! block is LayerNorm, three FullyConnected (Q, K, V), with several heads a Reshape to
//! `[T, H, dh]` and a Transpose to `[H, T, dh]` each, BatchMatMul `Q K^T` (the `1 / sqrt(dh)`
//! folded into its output scale), Softmax, BatchMatMul with V, back to `[T, dim]`, the
//! projection and an Add; then LayerNorm, FullyConnected, Gelu, FullyConnected and an Add.
//! Then LayerNorm, Mean over the tokens and the head's FullyConnected: int8 logits.

use std::collections::{BTreeMap, HashMap};

use aiop_engine::{Clamp, FormatVersion, Model, ModelBuilder, Op, Scale, Tensor as QTensor, TensorId};
use candle_core::{D, Device, Tensor, Var};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::data::Dataset;
use crate::error::{Result, ToolsError};
use crate::qmath::{add_params_v2, mean_scale_v2, quantize_multiplier_v2, softmax_params_v2};
use crate::quantize::{ActQuant, quantize_weights, scale_of};
use crate::train::{Rng, TrainConfig, fit};

/// I-BERT's erf polynomial: `L(u) = sign(u) * (1 + A * (min(|u|, CLIP) - CLIP)^2)`, `A = -ERF_A`.
pub const ERF_A: f64 = 0.2888;
/// Where I-BERT's erf polynomial reaches 1.
pub const ERF_CLIP: f64 = 1.769;
/// The LayerNorm's normalized value is in Q12: 4096 stands for one standard deviation.
pub const LN_ONE: f64 = 4096.0;

fn default_epsilon() -> f64 {
    1e-5
}

/// The transformer's hyperparameters (the `vit` object of an [`Arch`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vit {
    /// Side of the square patches; the image's height and width must be multiples of it.
    pub patch: usize,
    /// Width of a token.
    pub dim: usize,
    /// Attention heads; `dim` must be a multiple of it.
    pub heads: usize,
    /// Encoder blocks.
    pub blocks: usize,
    /// Hidden width of each block's MLP.
    pub mlp_dim: usize,
    /// Number of classes (logits).
    pub classes: usize,
    /// Added to the variance in every layer norm.
    #[serde(default = "default_epsilon")]
    pub layer_norm_epsilon: f64,
}

/// How one parameter starts training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Uniform in `[-bound, bound]`.
    Uniform(f32),
    /// Every value this constant.
    Constant(f32),
}

/// The image's geometry as the transformer cuts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grid {
    h: usize,
    w: usize,
    c: usize,
    /// Patches per column and per row.
    gh: usize,
    gw: usize,
}

impl Grid {
    fn tokens(self) -> usize {
        self.gh * self.gw
    }
}

impl Vit {
    fn grid(&self, arch: &Arch) -> Result<Grid> {
        let bad = |why: String| ToolsError::Arch(format!("vit: {why}"));
        let [h, w, c] = arch.input_shape[..] else {
            return Err(bad(format!("input_shape {:?} must be [height, width, channels]", arch.input_shape)));
        };
        if self.patch == 0
            || !h.is_multiple_of(self.patch)
            || !w.is_multiple_of(self.patch)
            || h == 0
            || w == 0
            || c == 0
        {
            return Err(bad(format!("patch {} must divide the image {h}x{w} (channels {c})", self.patch)));
        }
        Ok(Grid { h, w, c, gh: h / self.patch, gw: w / self.patch })
    }

    /// Checks the hyperparameters against the input and the engine's limits.
    pub fn check(&self, arch: &Arch) -> Result<()> {
        let bad = |why: String| Err(ToolsError::Arch(format!("vit: {why}")));
        let g = self.grid(arch)?;
        if self.dim == 0 || self.heads == 0 || !self.dim.is_multiple_of(self.heads) {
            return bad(format!("dim {} must be a positive multiple of heads {}", self.dim, self.heads));
        }
        if self.mlp_dim == 0 || self.classes == 0 {
            return bad("mlp_dim and classes must be positive".into());
        }
        if self.dim > 4096 {
            return bad(format!("dim {} is over the engine's LayerNorm limit of 4096", self.dim));
        }
        if g.tokens() > 4095 {
            return bad(format!("{} tokens are over the engine's Softmax limit of 4095", g.tokens()));
        }
        if !(self.layer_norm_epsilon.is_finite() && self.layer_norm_epsilon >= 0.0) {
            return bad(format!("layer_norm_epsilon {} must be a non-negative number", self.layer_norm_epsilon));
        }
        Ok(())
    }

    /// Number of tokens.
    pub fn tokens(&self, arch: &Arch) -> Result<usize> {
        Ok(self.grid(arch)?.tokens())
    }

    /// Parameter names and shapes, in the order of the forward pass.
    pub fn parameters(&self, arch: &Arch) -> Result<Vec<(String, Vec<usize>)>> {
        let g = self.grid(arch)?;
        let (d, m) = (self.dim, self.mlp_dim);
        let mut p: Vec<(String, Vec<usize>)> = vec![
            ("embed.weight".into(), vec![d, self.patch * self.patch * g.c]),
            ("embed.bias".into(), vec![d]),
            ("embed.position".into(), vec![g.tokens(), d]),
        ];
        let linear = |p: &mut Vec<(String, Vec<usize>)>, name: String, out: usize, inp: usize| {
            p.push((format!("{name}.weight"), vec![out, inp]));
            p.push((format!("{name}.bias"), vec![out]));
        };
        let norm = |p: &mut Vec<(String, Vec<usize>)>, name: String| {
            p.push((format!("{name}.weight"), vec![d]));
            p.push((format!("{name}.bias"), vec![d]));
        };
        for i in 0..self.blocks {
            norm(&mut p, format!("block{i}.ln1"));
            for part in ["q", "k", "v", "proj"] {
                linear(&mut p, format!("block{i}.{part}"), d, d);
            }
            norm(&mut p, format!("block{i}.ln2"));
            linear(&mut p, format!("block{i}.fc1"), m, d);
            linear(&mut p, format!("block{i}.fc2"), d, m);
        }
        norm(&mut p, "norm".into());
        linear(&mut p, "head".into(), self.classes, d);
        Ok(p)
    }

    /// The initial value of a parameter: layer norms start as the identity, biases at zero,
    /// the position embedding small, matrices uniform with variance `1 / fan_in`.
    pub fn init(&self, name: &str, shape: &[usize]) -> Init {
        let is_norm = name.contains(".ln") || name.starts_with("norm.");
        if name.ends_with(".bias") {
            Init::Constant(0.0)
        } else if is_norm {
            Init::Constant(1.0)
        } else if name == "embed.position" {
            Init::Uniform(0.1)
        } else {
            let fan_in = shape.get(1).copied().unwrap_or(1).max(1);
            Init::Uniform((3.0 / fan_in as f32).sqrt())
        }
    }

    /// The float forward pass over a batch (`[B, C, H, W]` as [`Arch::batch`] makes it, or
    /// `[B, H * W * C]`), returning the logits `[B, classes]`. `probe` records activation ranges
    /// and/or fake-quantizes every tensor the int8 model stores.
    pub fn forward(
        &self,
        arch: &Arch,
        params: &HashMap<String, Tensor>,
        x: &Tensor,
        probe: &mut Probe<'_>,
    ) -> Result<Tensor> {
        let g = self.grid(arch)?;
        let (p, t, d) = (self.patch, g.tokens(), self.dim);
        let (h, dh) = (self.heads, self.dim / self.heads);
        let b = x.dim(0)?;
        let x = if x.rank() == 4 { x.permute((0, 2, 3, 1))?.contiguous()? } else { x.clone() };
        // [B, gh, p, gw, p, C] -> [B, gh, gw, p, p, C] -> [B, T, p*p*C].
        let patches = x.reshape((b * g.gh, p, g.gw, p, g.c))?.permute((0, 2, 1, 3, 4))?.contiguous()?.reshape((
            b,
            t,
            p * p * g.c,
        ))?;
        let pos = param(params, "embed.position")?;
        let mut x = probe.site("embed", probe.linear(params, "embed", &patches)?.broadcast_add(&pos)?)?;
        for i in 0..self.blocks {
            let n = |part: &str| format!("block{i}.{part}");
            let a = probe.layer_norm(params, &n("ln1"), &x, self.layer_norm_epsilon)?;
            let heads = |y: Tensor| -> Result<Tensor> { Ok(y.reshape((b, t, h, dh))?.transpose(1, 2)?.contiguous()?) };
            let q = heads(probe.fc_site(params, &n("q"), &a)?)?;
            let k = heads(probe.fc_site(params, &n("k"), &a)?)?;
            let v = heads(probe.fc_site(params, &n("v"), &a)?)?;
            let scores = (q.matmul(&k.transpose(2, 3)?.contiguous()?)? / (dh as f64).sqrt())?;
            let scores = probe.site(&n("scores"), scores)?;
            let attn = probe.fixed(candle_nn::ops::softmax_last_dim(&scores)?, softmax_quant())?;
            let o = probe.site(&n("attention"), attn.matmul(&v)?)?;
            let o = o.transpose(1, 2)?.contiguous()?.reshape((b, t, d))?;
            let proj = probe.fc_site(params, &n("proj"), &o)?;
            x = probe.site(&n("residual1"), (x + proj)?)?;
            let a = probe.layer_norm(params, &n("ln2"), &x, self.layer_norm_epsilon)?;
            let hidden = probe.fc_site(params, &n("fc1"), &a)?;
            let hidden = probe.site(&n("gelu"), igelu(&hidden)?)?;
            let out = probe.fc_site(params, &n("fc2"), &hidden)?;
            x = probe.site(&n("residual2"), (x + out)?)?;
        }
        let x = probe.layer_norm(params, "norm", &x, self.layer_norm_epsilon)?;
        let pooled = probe.site("pool", x.mean(1)?)?;
        probe.fc_site(params, "head", &pooled)
    }
}

impl Vit {
    /// The patch embedding as one FullyConnected over the flattened image: block-sparse weights
    /// `[T * dim, pixels]` (row `token * dim + j` reads only the token's patch, with `embed.weight`
    /// row `j`) and the bias `embed.bias[j] + embed.position[token, j]`.
    pub fn embedding_fc(&self, arch: &Arch, we: &[f32], be: &[f32], pos: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let g = self.grid(arch)?;
        let (t, d, p) = (g.tokens(), self.dim, self.patch);
        let pixels = g.h * g.w * g.c;
        let patch_len = p * p * g.c;
        if we.len() != d * patch_len || be.len() != d || pos.len() != t * d {
            return Err(ToolsError::Weights("the embedding tensors do not match the architecture".into()));
        }
        let mut w = vec![0f32; t * d * pixels];
        let mut bias = vec![0f32; t * d];
        for token in 0..t {
            let (py, px) = (token / g.gw, token % g.gw);
            for j in 0..d {
                let row = token * d + j;
                bias[row] = be[j] + pos[row];
                for dy in 0..p {
                    for dx in 0..p {
                        for c in 0..g.c {
                            let pixel = ((py * p + dy) * g.w + px * p + dx) * g.c + c;
                            w[row * pixels + pixel] = we[j * patch_len + (dy * p + dx) * g.c + c];
                        }
                    }
                }
            }
        }
        Ok((w, bias))
    }
}

/// The fixed quantization of a Softmax output.
fn softmax_quant() -> ActQuant {
    ActQuant { scale: 1.0 / 256.0, zero_point: -128 }
}

/// I-BERT's GELU, `x / 2 * (1 + L(x / sqrt 2))` with the erf polynomial `L` ([`ERF_A`],
/// [`ERF_CLIP`]).
pub fn igelu(x: &Tensor) -> Result<Tensor> {
    let u = (x / std::f64::consts::SQRT_2)?;
    let a = ((u.abs()?.minimum(ERF_CLIP)? - ERF_CLIP)?.sqr()? * (-ERF_A))?;
    let l = u.sign()?.mul(&(a + 1.0)?)?;
    Ok(((x * 0.5)? * (l + 1.0)?)?)
}

fn param(params: &HashMap<String, Tensor>, name: &str) -> Result<Tensor> {
    params.get(name).cloned().ok_or_else(|| ToolsError::Weights(format!("tensor {name:?} is missing")))
}

/// Each int8 tensor's observed `(min, max)`, by site name (`embed`, `block0.q`, ..., `head`).
pub type Ranges = BTreeMap<String, (f32, f32)>;

/// What the forward pass does at every tensor the int8 model stores.
#[derive(Debug, Default)]
pub struct Probe<'a> {
    /// Widen each site's range to include what it sees.
    pub observe: Option<&'a mut Ranges>,
    /// Quantize each activation with these ranges, and every weight as the quantizer does
    /// (rounding with a straight-through gradient): the int8 model simulated in float.
    pub fake_quant: Option<&'a Ranges>,
}

impl Probe<'_> {
    fn site(&mut self, name: &str, t: Tensor) -> Result<Tensor> {
        if let Some(ranges) = self.observe.as_deref_mut() {
            let v = t.flatten_all()?;
            let (lo, hi) = (v.min(0)?.to_scalar::<f32>()?, v.max(0)?.to_scalar::<f32>()?);
            let r = ranges.entry(name.to_string()).or_insert((f32::MAX, f32::MIN));
            *r = (r.0.min(lo), r.1.max(hi));
        }
        match self.fake_quant {
            Some(ranges) => {
                let &(lo, hi) = ranges
                    .get(name)
                    .ok_or_else(|| ToolsError::Quantize(format!("no calibrated range for {name:?}")))?;
                fake_quant(&t, ActQuant::from_range(lo, hi))
            }
            None => Ok(t),
        }
    }

    fn fixed(&self, t: Tensor, q: ActQuant) -> Result<Tensor> {
        if self.fake_quant.is_some() { fake_quant(&t, q) } else { Ok(t) }
    }

    /// A weight matrix `[N, K]`, fake-quantized per row when simulating int8.
    fn weight(&self, params: &HashMap<String, Tensor>, name: &str) -> Result<Tensor> {
        let w = param(params, name)?;
        if self.fake_quant.is_none() {
            return Ok(w);
        }
        let w2 = if w.rank() == 1 { w.unsqueeze(0)? } else { w.clone() };
        let scale = (w2.abs()?.max_keepdim(D::Minus1)?.detach() / 127.0)?.maximum(1e-12)?;
        let q = w2.broadcast_div(&scale)?.round()?.broadcast_mul(&scale)?;
        let q = (&w2 + (q - &w2)?.detach())?;
        Ok(if w.rank() == 1 { q.squeeze(0)? } else { q })
    }

    fn linear(&self, params: &HashMap<String, Tensor>, name: &str, x: &Tensor) -> Result<Tensor> {
        let w = self.weight(params, &format!("{name}.weight"))?;
        let b = param(params, &format!("{name}.bias"))?;
        Ok(x.broadcast_matmul(&w.t()?)?.broadcast_add(&b)?)
    }

    fn fc_site(&mut self, params: &HashMap<String, Tensor>, name: &str, x: &Tensor) -> Result<Tensor> {
        let y = self.linear(params, name, x)?;
        self.site(name, y)
    }

    fn layer_norm(&mut self, params: &HashMap<String, Tensor>, name: &str, x: &Tensor, eps: f64) -> Result<Tensor> {
        let gamma = self.weight(params, &format!("{name}.weight"))?;
        let beta = param(params, &format!("{name}.bias"))?;
        let c = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let var = c.sqr()?.mean_keepdim(D::Minus1)?;
        let n = c.broadcast_div(&(var + eps)?.sqrt()?)?;
        let y = n.broadcast_mul(&gamma)?.broadcast_add(&beta)?;
        self.site(name, y)
    }
}

/// `x` clamped to what `q` represents and rounded to its steps, with the gradient of the clamp
/// (straight through the rounding).
pub fn fake_quant(x: &Tensor, q: ActQuant) -> Result<Tensor> {
    let lo = (-128 - q.zero_point) as f64 * q.scale;
    let hi = (127 - q.zero_point) as f64 * q.scale;
    let y = x.clamp(lo, hi)?;
    let r = ((&y / q.scale)?.round()? * q.scale)?;
    Ok((&y + (r - &y)?.detach())?)
}

/// Runs the float model over `data`, recording every int8 site's range (`fake_quant`: with the
/// given ranges simulated, to calibrate the ranges a quantized model actually sees).
pub fn calibrate(
    arch: &Arch,
    params: &HashMap<String, Tensor>,
    data: &Dataset,
    fake_quant: Option<&Ranges>,
    progress: bool,
) -> Result<Ranges> {
    let vit = spec(arch)?;
    let mut ranges = Ranges::new();
    let bar = if progress { ProgressBar::new(data.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("calibrating {bar:40} {pos}/{len} samples")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for chunk in data.samples.chunks(128) {
        let rows: Vec<&[f32]> = chunk.iter().map(|s| s.values.as_slice()).collect();
        let x = arch.batch(&rows, &Device::Cpu)?;
        vit.forward(arch, params, &x, &mut Probe { observe: Some(&mut ranges), fake_quant })?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(ranges)
}

/// Top-1 class of each sample, float or with the int8 tensors simulated (`fake_quant`).
pub fn predict(
    arch: &Arch,
    params: &HashMap<String, Tensor>,
    rows: &[&[f32]],
    fake_quant: Option<&Ranges>,
) -> Result<Vec<usize>> {
    let x = arch.batch(rows, &Device::Cpu)?;
    let logits = spec(arch)?.forward(arch, params, &x, &mut Probe { observe: None, fake_quant })?;
    Ok(logits.argmax(D::Minus1)?.to_vec1::<u32>()?.into_iter().map(|i| i as usize).collect())
}

/// Quantization-aware fine-tuning: continues training `params` with every int8 tensor
/// simulated ([`Probe::fake_quant`] with `ranges`, gradients straight through the rounding),
/// and returns the tuned float parameters.
pub fn fine_tune(
    arch: &Arch,
    params: &HashMap<String, Tensor>,
    data: &Dataset,
    config: &TrainConfig,
    ranges: &Ranges,
    log: impl FnMut(&str),
) -> Result<HashMap<String, Tensor>> {
    let vit = spec(arch)?;
    let (mut vars, mut tuned) = (Vec::new(), HashMap::new());
    for (name, _) in arch.parameters()? {
        let var = Var::from_tensor(&param(params, &name)?)?;
        tuned.insert(name, var.as_tensor().clone());
        vars.push(var);
    }
    let mut rng = Rng(config.seed);
    let logits = |x: &Tensor| vit.forward(arch, &tuned, x, &mut Probe { observe: None, fake_quant: Some(ranges) });
    fit(arch, data, config, vars, &mut rng, logits, log)?;
    Ok(tuned)
}

fn spec(arch: &Arch) -> Result<&Vit> {
    arch.vit.as_ref().ok_or_else(|| ToolsError::Arch(format!("{} is not a vit architecture", arch.name)))
}

/// An int8 activation on its way through the builder.
#[derive(Debug, Clone)]
struct Act {
    id: TensorId,
    q: ActQuant,
    shape: Vec<u32>,
}

/// Builds the model while tracking each activation's quantization.
struct Build<'a> {
    b: ModelBuilder,
    params: &'a HashMap<String, Tensor>,
    ranges: &'a Ranges,
}

fn requant(real: f64, what: &str) -> Result<Scale> {
    quantize_multiplier_v2(real).ok_or_else(|| {
        ToolsError::Quantize(format!("{what}: scale ratio {real} is negative, not finite, or at least 2^30"))
    })
}

fn floats(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

impl Build<'_> {
    fn range(&self, site: &str) -> Result<ActQuant> {
        let &(lo, hi) =
            self.ranges.get(site).ok_or_else(|| ToolsError::Quantize(format!("no calibrated range for {site:?}")))?;
        Ok(ActQuant::from_range(lo, hi))
    }

    fn act(&mut self, shape: &[u32], q: ActQuant, what: &str) -> Result<Act> {
        let id = self.b.tensor(QTensor::activation(shape, q.zero_point, scale_of(q.scale, what)?));
        Ok(Act { id, q, shape: shape.to_vec() })
    }

    fn floats(&self, name: &str) -> Result<Vec<f32>> {
        floats(&param(self.params, name)?)
    }

    /// FullyConnected with per-row weights `w` (`[n, k]` row-major) and float bias `bias`,
    /// into a new activation with the quantization of `site`.
    fn fc(&mut self, x: &Act, w: &[f32], bias: &[f32], site: &str) -> Result<Act> {
        let n = bias.len();
        if n == 0 || w.is_empty() || !w.len().is_multiple_of(n) {
            return Err(ToolsError::Weights(format!("{site}: {} weights do not make {n} rows", w.len())));
        }
        let k = w.len() / n;
        let out_q = self.range(site)?;
        let (wq, w_scales) = quantize_weights(w, n);
        let mut bias_q = Vec::with_capacity(n);
        let mut out_scales = Vec::with_capacity(n);
        for (c, &ws) in w_scales.iter().enumerate() {
            let acc = x.q.scale * ws;
            let bq = (f64::from(bias[c]) / acc).round();
            let bound = (i32::MAX as f64) - (k as f64) * 127.0 * 255.0;
            if bq.abs() > bound {
                return Err(ToolsError::Quantize(format!(
                    "{site}: bias {} of channel {c} overflows at scale {acc}",
                    bias[c]
                )));
            }
            bias_q.push(bq as i32);
            out_scales.push(requant(acc / out_q.scale, site)?);
        }
        let weights = self.b.tensor(QTensor::weights(&[n as u32, k as u32], Scale::default(), wq));
        let bias = self.b.tensor(QTensor::bias(bias_q, Scale::default()));
        let mut shape = x.shape.clone();
        if let Some(last) = shape.last_mut() {
            *last = n as u32;
        }
        let out = self.act(&shape, out_q, site)?;
        self.b.op(Op::FullyConnected {
            input: x.id,
            weights,
            bias: Some(bias),
            output: out.id,
            output_scales: out_scales,
            clamp: Clamp::NONE,
        });
        Ok(out)
    }

    /// The float layer `name` (`name.weight [n, k]`, `name.bias [n]`) as a FullyConnected.
    fn linear(&mut self, x: &Act, name: &str) -> Result<Act> {
        let (w, bias) = (self.floats(&format!("{name}.weight"))?, self.floats(&format!("{name}.bias"))?);
        self.fc(x, &w, &bias, name)
    }

    fn reshape(&mut self, x: &Act, shape: &[u32]) -> Result<Act> {
        let out = self.act(shape, x.q, "reshape")?;
        self.b.op(Op::Reshape { input: x.id, output: out.id });
        Ok(out)
    }

    fn transpose(&mut self, x: &Act, perm: &[u8]) -> Result<Act> {
        let shape: Vec<u32> = perm.iter().map(|&a| x.shape[usize::from(a)]).collect();
        let out = self.act(&shape, x.q, "transpose")?;
        self.b.op(Op::Transpose { input: x.id, output: out.id, perm: perm.to_vec() });
        Ok(out)
    }

    fn layer_norm(&mut self, x: &Act, name: &str, eps: f64) -> Result<Act> {
        let gamma = self.floats(&format!("{name}.weight"))?;
        let beta = self.floats(&format!("{name}.bias"))?;
        let d = gamma.len();
        if d == 0 || beta.len() != d || x.shape.last() != Some(&(d as u32)) {
            return Err(ToolsError::Weights(format!("{name}: gamma and beta must have the input's width")));
        }
        let (gq, g_scales) = quantize_weights(&gamma, 1);
        let s_gamma = g_scales[0];
        let step = s_gamma / LN_ONE;
        let mut beta_q = Vec::with_capacity(d);
        for &v in &beta {
            let q = (f64::from(v) / step).round();
            if q.abs() > f64::from(1u32 << 30) {
                return Err(ToolsError::Quantize(format!("{name}: beta {v} is over 2^30 steps of {step}")));
            }
            beta_q.push(q as i32);
        }
        // The engine takes the root of 2^8 times the variance (16 times the deviation).
        let epsilon =
            (256.0 * (d * d) as f64 * eps / (x.q.scale * x.q.scale)).round().clamp(0.0, f64::from(u32::MAX)) as u32;
        let out_q = self.range(name)?;
        let output_scale = requant(s_gamma / (LN_ONE * out_q.scale), name)?;
        let gamma = self.b.tensor(QTensor::weights(&[d as u32], scale_of(s_gamma, name)?, gq));
        let beta = self.b.tensor(QTensor::bias(beta_q, scale_of(step, name)?));
        let out = self.act(&x.shape, out_q, name)?;
        self.b.op(Op::LayerNorm { input: x.id, gamma, beta: Some(beta), output: out.id, epsilon, output_scale });
        Ok(out)
    }

    fn add(&mut self, lhs: &Act, rhs: &Act, site: &str) -> Result<Act> {
        let out_q = self.range(site)?;
        let p = add_params_v2(lhs.q.scale as f32, rhs.q.scale as f32, out_q.scale as f32)
            .ok_or_else(|| ToolsError::Quantize(format!("{site}: Add scales out of range")))?;
        let out = self.act(&lhs.shape, out_q, site)?;
        self.b.op(Op::Add {
            lhs: lhs.id,
            rhs: rhs.id,
            output: out.id,
            left_shift: crate::qmath::ADD_LEFT_SHIFT,
            lhs_scale: p.lhs,
            rhs_scale: p.rhs,
            output_scale: p.output,
            clamp: Clamp::NONE,
        });
        Ok(out)
    }

    /// BatchMatMul into the quantization `out_q`; `extra` multiplies the real product.
    fn batch_matmul(
        &mut self,
        lhs: &Act,
        rhs: &Act,
        transpose_rhs: bool,
        extra: f64,
        out_q: ActQuant,
        site: &str,
    ) -> Result<Act> {
        let r = rhs.shape.len();
        let mut shape = lhs.shape.clone();
        let n = if transpose_rhs { rhs.shape[r - 2] } else { rhs.shape[r - 1] };
        if let Some(last) = shape.last_mut() {
            *last = n;
        }
        let output_scale = requant(lhs.q.scale * rhs.q.scale * extra / out_q.scale, site)?;
        let out = self.act(&shape, out_q, site)?;
        self.b.op(Op::BatchMatMul {
            lhs: lhs.id,
            rhs: rhs.id,
            output: out.id,
            transpose_rhs,
            output_scale,
            clamp: Clamp::NONE,
        });
        Ok(out)
    }

    fn softmax(&mut self, x: &Act) -> Result<Act> {
        let (beta, diff_min) = softmax_params_v2(1.0, x.q.scale).ok_or_else(|| {
            ToolsError::Quantize(format!(
                "softmax input scale {} is out of range (too small for 5 integer bits, or 16 or more)",
                x.q.scale
            ))
        })?;
        let out = self.act(&x.shape, softmax_quant(), "softmax")?;
        self.b.op(Op::Softmax { input: x.id, output: out.id, beta, diff_min });
        Ok(out)
    }

    fn gelu(&mut self, x: &Act, site: &str) -> Result<Act> {
        let s = x.q.scale;
        let s_e = s / std::f64::consts::SQRT_2;
        let clip = (ERF_CLIP / s_e).floor();
        let one = (1.0 / (ERF_A * s_e * s_e)).floor();
        if clip > 1448.0 || !(1.0..=f64::from(1u32 << 21)).contains(&one) {
            return Err(ToolsError::Quantize(format!(
                "{site}: Gelu input scale {s} is out of range (erf_clip {clip} must be <= 1448, erf_one {one} in [1, 2^21])"
            )));
        }
        let out_q = self.range(site)?;
        let output_scale = requant(s * ERF_A * s_e * s_e / (2.0 * out_q.scale), site)?;
        let out = self.act(&x.shape, out_q, site)?;
        self.b.op(Op::Gelu { input: x.id, output: out.id, erf_clip: clip as u16, erf_one: one as i32, output_scale });
        Ok(out)
    }

    fn mean_tokens(&mut self, x: &Act, site: &str) -> Result<Act> {
        let out_q = self.range(site)?;
        let count = u64::from(x.shape[0]);
        let scale = mean_scale_v2(x.q.scale as f32, out_q.scale as f32, count)
            .ok_or_else(|| ToolsError::Quantize(format!("{site}: Mean scale out of range")))?;
        let out = self.act(&x.shape[1..], out_q, site)?;
        self.b.op(Op::Mean { input: x.id, output: out.id, axes: 1, scale });
        Ok(out)
    }
}

/// Builds the integer-only model (format v3) from float parameters and calibrated ranges
/// ([`calibrate`]).
pub fn quantize(
    arch: &Arch,
    params: &HashMap<String, Tensor>,
    ranges: &Ranges,
    version: FormatVersion,
) -> Result<Model> {
    let vit = spec(arch)?;
    if version < FormatVersion::V3 {
        return Err(ToolsError::Quantize(format!(
            "a vision transformer needs format v3 (BatchMatMul, LayerNorm, Gelu, Transpose); {version} has none"
        )));
    }
    let g = vit.grid(arch)?;
    let (t, d, h, dh) = (g.tokens(), vit.dim, vit.heads, vit.dim / vit.heads);
    let pixels = g.h * g.w * g.c;
    let input_q = match (arch.input_scale, arch.input_zero_point) {
        (Some(scale), Some(zero_point)) => ActQuant { scale, zero_point },
        _ => {
            return Err(ToolsError::Arch(
                "vit: input_scale and input_zero_point must fix the input quantization".into(),
            ));
        }
    };
    let mut bd = Build { b: ModelBuilder::new(version), params, ranges };
    let input = bd.act(&[pixels as u32], input_q, "input")?;

    let (w, bias) =
        vit.embedding_fc(arch, &bd.floats("embed.weight")?, &bd.floats("embed.bias")?, &bd.floats("embed.position")?)?;
    let embed = bd.fc(&input, &w, &bias, "embed")?;
    let mut x = bd.reshape(&embed, &[t as u32, d as u32])?;

    let split = |bd: &mut Build<'_>, a: &Act| -> Result<Act> {
        if h == 1 {
            return Ok(a.clone());
        }
        let r = bd.reshape(a, &[t as u32, h as u32, dh as u32])?;
        bd.transpose(&r, &[1, 0, 2])
    };
    for i in 0..vit.blocks {
        let n = |part: &str| format!("block{i}.{part}");
        let a = bd.layer_norm(&x, &n("ln1"), vit.layer_norm_epsilon)?;
        let q = bd.linear(&a, &n("q"))?;
        let k = bd.linear(&a, &n("k"))?;
        let v = bd.linear(&a, &n("v"))?;
        let (q, k, v) = (split(&mut bd, &q)?, split(&mut bd, &k)?, split(&mut bd, &v)?);
        let scores_q = bd.range(&n("scores"))?;
        let scores = bd.batch_matmul(&q, &k, true, 1.0 / (dh as f64).sqrt(), scores_q, &n("scores"))?;
        let probs = bd.softmax(&scores)?;
        let attn_q = bd.range(&n("attention"))?;
        let mut o = bd.batch_matmul(&probs, &v, false, 1.0, attn_q, &n("attention"))?;
        if h > 1 {
            let back = bd.transpose(&o, &[1, 0, 2])?;
            o = bd.reshape(&back, &[t as u32, d as u32])?;
        }
        let proj = bd.linear(&o, &n("proj"))?;
        x = bd.add(&x, &proj, &n("residual1"))?;
        let a = bd.layer_norm(&x, &n("ln2"), vit.layer_norm_epsilon)?;
        let hidden = bd.linear(&a, &n("fc1"))?;
        let hidden = bd.gelu(&hidden, &n("gelu"))?;
        let out = bd.linear(&hidden, &n("fc2"))?;
        x = bd.add(&x, &out, &n("residual2"))?;
    }
    let f = bd.layer_norm(&x, "norm", vit.layer_norm_epsilon)?;
    let pooled = bd.mean_tokens(&f, "pool")?;
    let logits = bd.linear(&pooled, "head")?;
    Ok(bd.b.finish(input.id, logits.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Rng;

    fn arch(heads: usize) -> Arch {
        let json = format!(
            r#"{{ "name": "t", "input_shape": [8, 8, 1], "input_divisor": 16.0,
                 "input_scale": 0.004166666666666667, "input_zero_point": -128,
                 "vit": {{ "patch": 2, "dim": 8, "heads": {heads}, "blocks": 1, "mlp_dim": 16, "classes": 10 }} }}"#
        );
        serde_json::from_str(&json).expect("arch")
    }

    fn random_params(arch: &Arch, seed: u64) -> HashMap<String, Tensor> {
        let mut rng = Rng(seed);
        let mut params = HashMap::new();
        for (name, shape) in arch.parameters().expect("parameters") {
            let n: usize = shape.iter().product();
            let v: Vec<f32> =
                (0..n).map(|_| rng.symmetric() * 0.5 + if name.ends_with("ln1.weight") { 1.0 } else { 0.0 }).collect();
            params.insert(name, Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).expect("tensor"));
        }
        params
    }

    #[test]
    fn block_sparse_embedding_is_the_patch_embedding() {
        let arch = arch(2);
        let vit = arch.vit.clone().expect("vit");
        let params = random_params(&arch, 3);
        let mut rng = Rng(9);
        let image: Vec<f32> = (0..64).map(|_| (rng.next_u64() % 17) as f32).collect();
        let x = arch.batch(&[image.as_slice()], &Device::Cpu).expect("batch");
        let mut ranges = Ranges::new();
        // One sample: the observed range of `embed` is the min and max of its tokens.
        vit.forward(&arch, &params, &x, &mut Probe { observe: Some(&mut ranges), fake_quant: None }).expect("forward");
        let f = |n: &str| floats(&params[n]).expect("floats");
        let (w, bias) =
            vit.embedding_fc(&arch, &f("embed.weight"), &f("embed.bias"), &f("embed.position")).expect("fc");
        let out: Vec<f32> = bias
            .iter()
            .enumerate()
            .map(|(r, b)| b + (0..64).map(|k| w[r * 64 + k] * image[k] / 16.0).sum::<f32>())
            .collect();
        let (lo, hi) = out.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let (elo, ehi) = ranges["embed"];
        assert!((lo - elo).abs() < 1e-4 && (hi - ehi).abs() < 1e-4, "{lo} {hi} vs {elo} {ehi}");
        // Each row reads exactly one 2x2 patch.
        assert!(w.chunks(64).all(|row| row.iter().filter(|v| **v != 0.0).count() <= 4));
    }

    #[test]
    fn igelu_is_close_to_gelu() {
        let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.15).collect();
        let t = Tensor::from_vec(xs.clone(), xs.len(), &Device::Cpu).expect("tensor");
        let i = igelu(&t).expect("igelu").to_vec1::<f32>().expect("values");
        let e = t.gelu_erf().expect("gelu").to_vec1::<f32>().expect("values");
        for ((x, a), b) in xs.iter().zip(&i).zip(&e) {
            assert!((a - b).abs() < 0.02, "x {x}: i-GELU {a}, GELU {b}");
        }
        assert_eq!(i[40], 0.0);
    }

    #[test]
    fn fake_quant_rounds_and_clamps() {
        let q = ActQuant { scale: 0.5, zero_point: -128 };
        let t = Tensor::new(&[-1.0f32, 0.2, 0.3, 200.0], &Device::Cpu).expect("tensor");
        assert_eq!(fake_quant(&t, q).expect("fq").to_vec1::<f32>().expect("values"), [0.0, 0.0, 0.5, 127.5]);
    }

    #[test]
    fn quantize_needs_v3_and_calibrated_ranges() {
        let arch = arch(1);
        let params = random_params(&arch, 1);
        let err = quantize(&arch, &params, &Ranges::new(), FormatVersion::V2).expect_err("v2");
        assert!(err.to_string().contains("format v3"), "{err}");
        let err = quantize(&arch, &params, &Ranges::new(), FormatVersion::V3).expect_err("no ranges");
        assert!(err.to_string().contains("no calibrated range"), "{err}");
    }

    #[test]
    fn check_rejects_bad_geometry() {
        let mut arch = arch(3);
        let vit = arch.vit.clone().expect("vit");
        assert!(vit.check(&arch).is_err(), "dim 8 is no multiple of 3 heads");
        arch.input_shape = vec![64];
        assert!(arch.vit.clone().expect("vit").check(&arch).is_err());
    }
}
