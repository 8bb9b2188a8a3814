//! pivot's own `UNet2DConditionModel` (diffusers weight names, SD 1.x and 2.x options).
//!
//! Every attention layer reports its probability maps to an [`AttentionHook`]; all ops are
//! differentiable (see `sd::ops`), so the gradient w.r.t. the text embedding is the true one.

pub mod attention;
pub mod blocks;
pub mod embeddings;
pub mod resnet;
pub mod transformer;

pub use attention::{AttentionHook, AttnKind, AttnPlace, NoHook, Part};

use crate::sd::config::UNetConfig;
use crate::sd::ops::{Conv2d, GroupNorm};
use anyhow::Context;
use blocks::{BlockShape, DownBlock, MidBlock, UpBlock, UpChannels};
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use embeddings::{timestep_features, TimeEmbedding};
use transformer::TransformerShape;

/// What [`UNet::text_free_head`] computed, for [`UNet::forward_with_head`].
#[derive(Clone, Debug)]
pub struct TextFreeHead {
    latents: Tensor,
    t: f64,
    temb: Tensor,
    conv_in: Tensor,
    first: Option<blocks::LayerHead>,
}

#[derive(Clone, Debug)]
pub struct UNet {
    pub config: UNetConfig,
    time_embedding: TimeEmbedding,
    conv_in: Conv2d,
    down: Vec<DownBlock>,
    /// `None` when the config has `mid_block_type: null`.
    mid: Option<MidBlock>,
    up: Vec<UpBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
}

/// Receives named intermediate outputs (parity tests compare them with diffusers').
pub type Tap<'a> = &'a mut (dyn FnMut(&str, &Tensor) + Send);

impl UNet {
    pub fn load(vb: &VarBuilder, config: &UNetConfig) -> anyhow::Result<Self> {
        config.check_supported()?;
        Self::build(vb, config).context("UNet weights do not match unet/config.json")
    }

    fn build(vb: &VarBuilder, cfg: &UNetConfig) -> Result<Self> {
        let ch = &cfg.block_out_channels;
        let n = ch.len();
        let heads = cfg.heads_per_block().map_err(candle_core::Error::wrap)?;
        let depth = cfg.transformer_layers_per_block.expand(n, "transformer_layers_per_block").map_err(candle_core::Error::wrap)?;
        let layers = cfg.layers_per_block.expand(n, "layers_per_block").map_err(candle_core::Error::wrap)?;
        let temb = ch[0] * 4;
        let shape = |c_in: usize, c_out: usize, i: usize, cross: bool| BlockShape {
            c_in,
            c_out,
            temb,
            groups: cfg.norm_num_groups,
            eps: cfg.norm_eps,
            transformer: cross.then_some(TransformerShape {
                channels: c_out,
                heads: heads[i],
                context_dim: cfg.cross_attention_dim,
                groups: cfg.norm_num_groups,
                depth: depth[i],
                linear_projection: cfg.use_linear_projection,
            }),
        };
        let mut down = Vec::new();
        for i in 0..n {
            let c_in = if i == 0 { ch[0] } else { ch[i - 1] };
            let cross = cfg.down_block_types[i].starts_with("CrossAttn");
            down.push(DownBlock::load(&vb.pp(format!("down_blocks.{i}")), shape(c_in, ch[i], i, cross), layers[i], i + 1 < n, i)?);
        }
        let mid = match cfg.mid_block_type {
            Some(_) => Some(MidBlock::load(&vb.pp("mid_block"), shape(ch[n - 1], ch[n - 1], n - 1, true), n - 1)?),
            None => None,
        };
        let mut up = Vec::new();
        let mut prev_out = ch[n - 1];
        for i in 0..n {
            let rev = n - 1 - i;
            let c_out = ch[rev];
            let skip_last = ch[rev.saturating_sub(1)];
            let cross = cfg.up_block_types[i].starts_with("CrossAttn");
            let ucs = UpChannels { prev_out, skip_last };
            up.push(UpBlock::load(&vb.pp(format!("up_blocks.{i}")), shape(0, c_out, rev, cross), ucs, layers[rev] + 1, i + 1 < n, i, rev)?);
            prev_out = c_out;
        }
        Ok(Self {
            config: cfg.clone(),
            time_embedding: TimeEmbedding::load(&vb.pp("time_embedding"), ch[0], temb)?,
            conv_in: Conv2d::load(&vb.pp("conv_in"), cfg.in_channels, ch[0], 3, 1, 1)?,
            down,
            mid,
            up,
            conv_norm_out: GroupNorm::load(&vb.pp("conv_norm_out"), cfg.norm_num_groups, ch[0], cfg.norm_eps)?,
            conv_out: Conv2d::load(&vb.pp("conv_out"), ch[0], cfg.out_channels, 3, 1, 1)?,
        })
    }

    /// Noise (or v) prediction for latents `[B, C, h, w]` at timestep `t`, text `context` `[B, 77, D]`.
    pub fn forward(&self, xs: &Tensor, t: f64, context: &Tensor, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        self.forward_tapped(xs, t, context, hook, &mut |_, _| {})
    }

    pub fn forward_tapped(&self, xs: &Tensor, t: f64, context: &Tensor, hook: &mut dyn AttentionHook, tap: Tap) -> Result<Tensor> {
        crate::runtime::on_workers_for(xs.device(), || self.run(xs, t, context, hook, tap))
    }

    /// All the UNet computes for latents `xs` at `t` before the text first matters: null-text
    /// inversion calls the UNet 1 + N times per timestep with the same latent and only the
    /// embedding changing, so this part is computed once (see [`Self::forward_with_head`]).
    pub fn text_free_head(&self, xs: &Tensor, t: f64) -> Result<TextFreeHead> {
        crate::runtime::on_workers_for(xs.device(), || {
            let (temb, h) = self.stem(xs, t, &mut |_, _| {})?;
            let first = self.down.first().map(|d| d.text_free_head(&h, &temb)).transpose()?;
            Ok(TextFreeHead { latents: xs.clone(), t, temb, conv_in: h, first })
        })
    }

    /// [`Self::forward`] of the head's latents and timestep, from the head. The hook sees every
    /// attention layer but the first self-attention (computed without it); a hook that watches
    /// that layer gets the whole forward pass instead.
    pub fn forward_with_head(&self, head: &TextFreeHead, context: &Tensor, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let watched = self.down.first().is_some_and(|d| hook.observes(&d.first_self_attention()));
        if watched {
            return self.forward(&head.latents, head.t, context, hook);
        }
        crate::runtime::on_workers_for(head.latents.device(), || self.run_from(&head.latents, head.t, context, hook, &mut |_, _| {}, Some(head)))
    }

    /// Time embedding and `conv_in`.
    fn stem(&self, xs: &Tensor, t: f64, tap: Tap) -> Result<(Tensor, Tensor)> {
        let b = xs.dim(0)?;
        let cfg = &self.config;
        let tproj = timestep_features(t, b, cfg.block_out_channels[0], cfg.flip_sin_to_cos, cfg.freq_shift, xs.device())?.to_dtype(xs.dtype())?;
        tap("time_proj", &tproj);
        let temb = self.time_embedding.forward(&tproj)?;
        tap("time_embedding", &temb);
        let h = self.conv_in.forward(xs)?;
        tap("conv_in", &h);
        Ok((temb, h))
    }

    fn run(&self, xs: &Tensor, t: f64, context: &Tensor, hook: &mut dyn AttentionHook, tap: Tap) -> Result<Tensor> {
        self.run_from(xs, t, context, hook, tap, None)
    }

    fn run_from(&self, xs: &Tensor, t: f64, context: &Tensor, hook: &mut dyn AttentionHook, tap: Tap, head: Option<&TextFreeHead>) -> Result<Tensor> {
        let b = xs.dim(0)?;
        if context.dim(0)? != b {
            candle_core::bail!("UNet batch mismatch: {b} latents but {} text embeddings", context.dim(0)?);
        }
        let (temb, mut h) = match head {
            Some(hd) => (hd.temb.clone(), hd.conv_in.clone()),
            None => self.stem(xs, t, tap)?,
        };
        let mut skips = vec![h.clone()];
        for (i, block) in self.down.iter().enumerate() {
            let first = head.and_then(|hd| hd.first.as_ref()).filter(|_| i == 0);
            let (out, s) = block.forward_from(&h, first, &temb, context, hook)?;
            h = out;
            skips.extend(s);
            tap(&format!("down_blocks_{}", block.index), &h);
        }
        if let Some(mid) = &self.mid {
            h = mid.forward(&h, &temb, context, hook)?;
            tap("mid_block", &h);
        }
        for block in &self.up {
            let take = block.layers();
            let mine = skips.split_off(skips.len() - take);
            let consumed: Vec<Tensor> = mine.into_iter().rev().collect();
            let up_to = skips.last().map(|s| (s.dim(2).unwrap_or(0), s.dim(3).unwrap_or(0)));
            h = block.forward(&h, &consumed, &temb, context, up_to, hook)?;
            tap(&format!("up_blocks_{}", block.index), &h);
        }
        h = self.conv_norm_out.forward(&h)?;
        tap("conv_norm_out", &h);
        let out = self.conv_out.forward(&h.silu()?)?;
        tap("conv_out", &out);
        Ok(out)
    }

    /// Number of attention layers the hook is called for in one forward (self + cross).
    pub fn attention_layers(&self) -> usize {
        let cfg = &self.config;
        let n = cfg.block_out_channels.len();
        // The config was checked when the UNet was built.
        let layers = cfg.layers_per_block.expand(n, "").unwrap_or_default();
        let depth = cfg.transformer_layers_per_block.expand(n, "").unwrap_or_default();
        let cross = |types: &[String], i: usize| types[i].starts_with("CrossAttn");
        let down: usize = (0..n).filter(|&i| cross(&cfg.down_block_types, i)).map(|i| layers[i] * depth[i]).sum();
        let up: usize = (0..n).filter(|&i| cross(&cfg.up_block_types, i)).map(|i| (layers[n - 1 - i] + 1) * depth[n - 1 - i]).sum();
        let mid = if self.mid.is_some() { depth[n - 1] } else { 0 };
        2 * (down + up + mid)
    }
}
