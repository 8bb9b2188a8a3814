//! Multi-head attention that materialises its probability maps and hands them to a hook.
//!
//! Prompt-to-Prompt reads and replaces these maps, so no fused or flash attention is used here.

mod backward;
pub use backward::Saved;

use crate::sd::cpu;
use crate::sd::profile;
use crate::sd::ops::{scaled_softmax_last, Linear};
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// Where in the UNet an attention layer sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    Down,
    Mid,
    Up,
}

/// Self-attention (`attn1`) or cross-attention to the text (`attn2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttnKind {
    SelfAttn,
    Cross,
}

/// Everything a controller may key its rules on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnPlace {
    pub part: Part,
    /// Index of the down/up block (0 for the mid block).
    pub block: usize,
    /// Index of the transformer model inside the block.
    pub layer: usize,
    /// Index of the transformer block inside that model (>0 only for deep transformers).
    pub depth: usize,
    /// Number of 2× downsamplings between the latent and this feature map.
    pub level: usize,
    pub kind: AttnKind,
    pub heads: usize,
    /// Query length N (pixels of the feature map).
    pub queries: usize,
    /// Key length M (N for self-attention, the text length for cross-attention).
    pub keys: usize,
}

/// Called by every attention layer with its probability maps `[B·heads, N, M]` (batch-major:
/// row `b·heads + h`). Whatever it returns is used in their place.
pub trait AttentionHook: Send {
    fn attention(&mut self, place: &AttnPlace, probs: Tensor) -> Result<Tensor> {
        let _ = place;
        Ok(probs)
    }

    /// Whether `attention` looks at the maps of this layer at all (`queries`/`keys` are not
    /// filled in yet). Where it does not, the layer may use a fused kernel that never
    /// materialises them (much less memory and time).
    fn observes(&self, place: &AttnPlace) -> bool {
        let _ = place;
        true
    }

    /// Called by samplers before the UNet call(s) of diffusion step `step` (0 = most noisy).
    fn begin_step(&mut self, step: usize) {
        let _ = step;
    }
}

/// The default hook: leaves every map as it is.
pub struct NoHook;
impl AttentionHook for NoHook {
    fn observes(&self, _: &AttnPlace) -> bool {
        false
    }
}

#[derive(Clone, Debug)]
pub struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    pub heads: usize,
    scale: f64,
}

impl Attention {
    /// `context_dim` = None for self-attention. UNet attention has no q/k/v biases.
    pub fn load(vb: &VarBuilder, dim: usize, context_dim: Option<usize>, heads: usize) -> Result<Self> {
        let kv_dim = context_dim.unwrap_or(dim);
        Ok(Self {
            to_q: Linear::load(&vb.pp("to_q"), dim, dim, false)?,
            to_k: Linear::load(&vb.pp("to_k"), kv_dim, dim, false)?,
            to_v: Linear::load(&vb.pp("to_v"), kv_dim, dim, false)?,
            to_out: Linear::load(&vb.pp("to_out.0"), dim, dim, true)?,
            heads,
            scale: 1.0 / ((dim / heads) as f64).sqrt(),
        })
    }

    pub fn from_parts(to_q: Linear, to_k: Linear, to_v: Linear, to_out: Linear, heads: usize) -> Self {
        let dim = to_q.out_dim();
        Self { to_q, to_k, to_v, to_out, heads, scale: 1.0 / ((dim / heads) as f64).sqrt() }
    }

    /// `[B, N, C]` → `[B·heads, N, C/heads]`.
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, c) = x.dims3()?;
        profile::span("attention heads split/merge", x.device(), || x.reshape((b, n, self.heads, c / self.heads))?.transpose(1, 2)?.reshape((b * self.heads, n, c / self.heads)))
    }

    fn merge_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (bh, n, d) = x.dims3()?;
        let b = bh / self.heads;
        profile::span("attention heads split/merge", x.device(), || x.reshape((b, self.heads, n, d))?.transpose(1, 2)?.reshape((b, n, self.heads * d)))
    }

    /// `xs` `[B, N, C]`; `context` `[B, M, Cctx]` for cross-attention.
    pub fn forward(&self, xs: &Tensor, context: Option<&Tensor>, place: Option<AttnPlace>, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let kv = context.unwrap_or(xs);
        if cpu::applies(xs, kv) && !place.is_some_and(|p| hook.observes(&p)) {
            let (q, k, v) = (self.to_q.forward(xs)?, self.to_k.forward(kv)?, self.to_v.forward(kv)?);
            let for_backward = q.track_op() || k.track_op() || v.track_op();
            let out = profile::span("attention forward (fused)", q.device(), || q.apply_op3(&k, &v, cpu::attention::Attention::new(self.heads, self.scale, for_backward)))?;
            return self.to_out.forward(&out);
        }
        let (q, k, v) = self.heads_qkv(xs, kv)?;
        let mut probs = self.probs(&q, &k)?;
        if let Some(mut place) = place {
            place.queries = q.dim(1)?;
            place.keys = k.dim(1)?;
            probs = hook.attention(&place, probs)?;
        }
        self.attend(&probs, &v)
    }

    /// Queries from `xs`, keys and values from `kv`, heads split.
    fn heads_qkv(&self, xs: &Tensor, kv: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let q = self.split_heads(&self.to_q.forward(xs)?)?;
        let k = self.split_heads(&self.to_k.forward(kv)?)?;
        let v = self.split_heads(&self.to_v.forward(kv)?)?;
        Ok((q, k, v))
    }

    fn probs(&self, q: &Tensor, k: &Tensor) -> Result<Tensor> {
        let scores = profile::span("attention Q·Kᵀ", q.device(), || q.matmul(&k.t()?))?;
        scaled_softmax_last(&scores, self.scale)
    }

    /// The maps applied to the values, heads merged, projected out.
    fn attend(&self, probs: &Tensor, v: &Tensor) -> Result<Tensor> {
        let out = profile::span("attention P·V", v.device(), || probs.matmul(v))?;
        self.to_out.forward(&self.merge_heads(&out)?)
    }
}
