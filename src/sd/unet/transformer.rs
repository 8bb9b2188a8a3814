//! `Transformer2DModel` (spatial transformer) and its `BasicTransformerBlock`s.

mod backward;

use super::attention::{Attention, AttentionHook, AttnKind, AttnPlace};
use crate::sd::checkpoint;
use std::sync::Arc;
use crate::sd::ops::{geglu, Conv2d, GroupNorm, LayerNorm, Linear};
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// GEGLU feed-forward: `proj` to 2×inner, `a·gelu(b)`, then back down.
#[derive(Clone, Debug)]
struct FeedForward {
    proj: Linear,
    out: Linear,
}

impl FeedForward {
    fn load(vb: &VarBuilder, dim: usize) -> Result<Self> {
        let inner = dim * 4;
        Ok(Self { proj: Linear::load(&vb.pp("net.0.proj"), dim, inner * 2, true)?, out: Linear::load(&vb.pp("net.2"), inner, dim, true)? })
    }
}

impl Module for FeedForward {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.out.forward(&geglu(&self.proj.forward(xs)?)?)
    }
}

/// Whether a block (part) on `x` runs checkpointed: off the CPU kernels, when it needs gradients
/// and nobody observes the maps of its attention layers of `kinds`.
fn checkpointing(x: &Tensor, context: &Tensor, place: AttnPlace, kinds: &[AttnKind], hook: &dyn AttentionHook) -> bool {
    let observed = kinds.iter().any(|&kind| hook.observes(&AttnPlace { kind, ..place }));
    !observed && checkpoint::wanted(x) && (x.track_op() || context.track_op())
}

#[derive(Clone, Debug)]
struct BasicTransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff: FeedForward,
}

impl BasicTransformerBlock {
    fn load(vb: &VarBuilder, dim: usize, context_dim: usize, heads: usize) -> Result<Self> {
        Ok(Self {
            norm1: LayerNorm::load(&vb.pp("norm1"), dim, 1e-5)?,
            attn1: Attention::load(&vb.pp("attn1"), dim, None, heads)?,
            norm2: LayerNorm::load(&vb.pp("norm2"), dim, 1e-5)?,
            attn2: Attention::load(&vb.pp("attn2"), dim, Some(context_dim), heads)?,
            norm3: LayerNorm::load(&vb.pp("norm3"), dim, 1e-5)?,
            ff: FeedForward::load(&vb.pp("ff"), dim)?,
        })
    }

    /// Off the CPU kernels, a block whose maps nobody observes is checkpointed when it needs
    /// gradients: its attention maps are recomputed in the backward pass instead of kept, and
    /// its backward pass is written by hand (`backward.rs`).
    fn forward(&self, xs: &Tensor, context: &Tensor, place: AttnPlace, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        if checkpointing(xs, context, place, &[AttnKind::SelfAttn, AttnKind::Cross], hook) {
            return checkpoint::checkpointed(xs, context, Arc::new(backward::Checkpointed(self.clone(), place)));
        }
        self.run(xs, context, place, hook)
    }

    fn run(&self, xs: &Tensor, context: &Tensor, place: AttnPlace, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        self.run_after_self_attention(&self.self_attention(xs, place, hook)?, context, place, hook)
    }

    /// `x + attn1(norm1(x))`: the part of the block the text does not reach.
    fn self_attention(&self, xs: &Tensor, place: AttnPlace, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let self_place = AttnPlace { kind: AttnKind::SelfAttn, ..place };
        self.attn1.forward(&self.norm1.forward(xs)?, None, Some(self_place), hook)? + xs
    }

    /// The rest of the block from `x1` = [`Self::self_attention`]'s output.
    fn run_after_self_attention(&self, x1: &Tensor, context: &Tensor, place: AttnPlace, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let cross_place = AttnPlace { kind: AttnKind::Cross, ..place };
        let xs = (self.attn2.forward(&self.norm2.forward(x1)?, Some(context), Some(cross_place), hook)? + x1)?;
        self.ff.forward(&self.norm3.forward(&xs)?)? + xs
    }

    /// [`Self::run_after_self_attention`], checkpointed like [`Self::forward`] when it needs gradients.
    fn forward_after_self_attention(&self, x1: &Tensor, context: &Tensor, place: AttnPlace, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        if checkpointing(x1, context, place, &[AttnKind::Cross], hook) {
            return checkpoint::checkpointed(x1, context, Arc::new(backward::CheckpointedTail(self.clone(), place)));
        }
        self.run_after_self_attention(x1, context, place, hook)
    }
}

#[derive(Clone, Debug)]
enum Projection {
    Conv(Conv2d),
    Linear(Linear),
}

impl Projection {
    fn load(vb: &VarBuilder, dim: usize, linear: bool) -> Result<Self> {
        Ok(if linear { Projection::Linear(Linear::load(vb, dim, dim, true)?) } else { Projection::Conv(Conv2d::load(vb, dim, dim, 1, 1, 0)?) })
    }
}

/// Options of one spatial transformer.
#[derive(Clone, Copy, Debug)]
pub struct TransformerShape {
    pub channels: usize,
    pub heads: usize,
    pub context_dim: usize,
    pub groups: usize,
    pub depth: usize,
    pub linear_projection: bool,
}

#[derive(Clone, Debug)]
pub struct Transformer2D {
    norm: GroupNorm,
    proj_in: Projection,
    blocks: Vec<BasicTransformerBlock>,
    proj_out: Projection,
}

impl Transformer2D {
    pub fn load(vb: &VarBuilder, s: TransformerShape) -> Result<Self> {
        let blocks = (0..s.depth)
            .map(|i| BasicTransformerBlock::load(&vb.pp(format!("transformer_blocks.{i}")), s.channels, s.context_dim, s.heads))
            .collect::<Result<_>>()?;
        Ok(Self {
            norm: GroupNorm::load(&vb.pp("norm"), s.groups, s.channels, 1e-6)?,
            proj_in: Projection::load(&vb.pp("proj_in"), s.channels, s.linear_projection)?,
            blocks,
            proj_out: Projection::load(&vb.pp("proj_out"), s.channels, s.linear_projection)?,
        })
    }

    /// `place` carries part/block/layer/level; kind and depth are filled in per attention layer.
    pub fn forward(&self, xs: &Tensor, context: &Tensor, place: AttnPlace, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        self.forward_from(xs, None, context, place, hook)
    }

    /// The tokens entering the first block, after its self-attention: all the transformer
    /// computes before the text matters (see [`Self::forward_from`]).
    pub fn text_free_head(&self, xs: &Tensor, place: AttnPlace, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let first = self.blocks.first().ok_or_else(|| candle_core::Error::Msg("a transformer without blocks".into()))?;
        first.self_attention(&self.tokens_in(xs)?, AttnPlace { depth: 0, ..place }, hook)
    }

    /// [`Self::forward`], starting after the first block's self-attention when `head` (from
    /// [`Self::text_free_head`] on the same `xs`) is given.
    pub fn forward_from(&self, xs: &Tensor, head: Option<&Tensor>, context: &Tensor, place: AttnPlace, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let mut tokens = match head {
            Some(x1) => x1.clone(),
            None => self.tokens_in(xs)?,
        };
        for (depth, block) in self.blocks.iter().enumerate() {
            let place = AttnPlace { depth, ..place };
            tokens = match head {
                Some(_) if depth == 0 => block.forward_after_self_attention(&tokens, context, place, hook)?,
                _ => block.forward(&tokens, context, place, hook)?,
            };
        }
        let to_map = |t: &Tensor| t.reshape((b, h, w, c))?.permute((0, 3, 1, 2));
        let out = match &self.proj_out {
            Projection::Conv(conv) => conv.forward(&to_map(&tokens)?.contiguous()?)?,
            Projection::Linear(lin) => to_map(&lin.forward(&tokens)?)?,
        };
        out + xs
    }

    /// Group norm and `proj_in`: the feature map as `[B, h·w, C]` tokens.
    fn tokens_in(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let normed = self.norm.forward(xs)?;
        let to_tokens = |t: &Tensor| t.permute((0, 2, 3, 1))?.reshape((b, h * w, c));
        match &self.proj_in {
            Projection::Conv(conv) => to_tokens(&conv.forward(&normed)?),
            Projection::Linear(lin) => lin.forward(&to_tokens(&normed)?),
        }
    }
}
