//! `AutoencoderKL`: encode to the posterior mean, decode latents to images.

use super::config::VaeConfig;
use super::input_grad::upsample_nearest;
use super::ops::{Conv2d, GroupNorm, Linear};
use super::unet::attention::{Attention, NoHook};
use super::unet::resnet::{ResnetBlock, ResnetShape};
use anyhow::Context;
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

const EPS: f64 = 1e-6;

/// The VAE's single-head mid-block attention; accepts `to_q/to_k/to_v/to_out.0` and the
/// legacy `query/key/value/proj_attn` names.
#[derive(Clone, Debug)]
struct VaeAttention {
    group_norm: GroupNorm,
    attn: Attention,
}

impl VaeAttention {
    fn load(vb: &VarBuilder, c: usize, groups: usize) -> Result<Self> {
        let legacy = vb.contains_tensor("query.weight");
        let names = if legacy { ["query", "key", "value", "proj_attn"] } else { ["to_q", "to_k", "to_v", "to_out.0"] };
        let lin = |n: &str| -> Result<Linear> {
            let v = vb.pp(n);
            let w = if legacy { v.get_unchecked("weight")? } else { v.get_with_hints((c, c), "weight", candle_nn::Init::Randn { mean: 0.0, stdev: 1.0 / (c as f64).sqrt() })? };
            Linear::from_weight(w, Some(v.get_with_hints(c, "bias", super::ops::BIAS_INIT)?))
        };
        let norm_name = if vb.contains_tensor("group_norm.weight") || !legacy { "group_norm" } else { "norm" };
        Ok(Self {
            group_norm: GroupNorm::load(&vb.pp(norm_name), groups, c, EPS)?,
            attn: Attention::from_parts(lin(names[0])?, lin(names[1])?, lin(names[2])?, lin(names[3])?, 1),
        })
    }
}

impl Module for VaeAttention {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let tokens = self.group_norm.forward(xs)?.reshape((b, c, h * w))?.transpose(1, 2)?;
        let out = self.attn.forward(&tokens, None, None, &mut NoHook)?;
        out.transpose(1, 2)?.reshape((b, c, h, w))? + xs
    }
}

#[derive(Clone, Debug)]
struct Mid {
    resnet0: ResnetBlock,
    attention: Option<VaeAttention>,
    resnet1: ResnetBlock,
}

impl Mid {
    fn load(vb: &VarBuilder, c: usize, groups: usize, attention: bool) -> Result<Self> {
        let rs = ResnetShape { c_in: c, c_out: c, temb: None, groups, eps: EPS };
        Ok(Self {
            resnet0: ResnetBlock::load(&vb.pp("resnets.0"), rs)?,
            attention: attention.then(|| VaeAttention::load(&vb.pp("attentions.0"), c, groups)).transpose()?,
            resnet1: ResnetBlock::load(&vb.pp("resnets.1"), rs)?,
        })
    }
}

impl Module for Mid {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut h = self.resnet0.forward(xs, None)?;
        if let Some(a) = &self.attention {
            h = a.forward(&h)?;
        }
        self.resnet1.forward(&h, None)
    }
}

fn resnets(vb: &VarBuilder, n: usize, c_in: usize, c_out: usize, groups: usize) -> Result<Vec<ResnetBlock>> {
    (0..n)
        .map(|i| ResnetBlock::load(&vb.pp(format!("resnets.{i}")), ResnetShape { c_in: if i == 0 { c_in } else { c_out }, c_out, temb: None, groups, eps: EPS }))
        .collect()
}

#[derive(Clone, Debug)]
struct Encoder {
    conv_in: Conv2d,
    blocks: Vec<(Vec<ResnetBlock>, Option<Conv2d>)>,
    mid: Mid,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

#[derive(Clone, Debug)]
struct Decoder {
    conv_in: Conv2d,
    mid: Mid,
    blocks: Vec<(Vec<ResnetBlock>, Option<Conv2d>)>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

#[derive(Clone, Debug)]
pub struct Vae {
    pub config: VaeConfig,
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Option<Conv2d>,
    post_quant_conv: Option<Conv2d>,
}

impl Vae {
    pub fn load(vb: &VarBuilder, config: &VaeConfig) -> anyhow::Result<Self> {
        config.check_supported()?;
        Self::build(vb, config).context("VAE weights do not match vae/config.json")
    }

    fn build(vb: &VarBuilder, cfg: &VaeConfig) -> Result<Self> {
        let ch = &cfg.block_out_channels;
        let (n, g, lat) = (ch.len(), cfg.norm_num_groups, cfg.latent_channels);
        let top = ch[n - 1];
        let e = vb.pp("encoder");
        let mut eblocks = Vec::new();
        for i in 0..n {
            let v = e.pp(format!("down_blocks.{i}"));
            let c_in = if i == 0 { ch[0] } else { ch[i - 1] };
            let down = (i + 1 < n).then(|| Conv2d::load(&v.pp("downsamplers.0.conv"), ch[i], ch[i], 3, 2, 0)).transpose()?;
            eblocks.push((resnets(&v, cfg.layers_per_block, c_in, ch[i], g)?, down));
        }
        let encoder = Encoder {
            conv_in: Conv2d::load(&e.pp("conv_in"), cfg.in_channels, ch[0], 3, 1, 1)?,
            blocks: eblocks,
            mid: Mid::load(&e.pp("mid_block"), top, g, cfg.mid_block_add_attention)?,
            norm_out: GroupNorm::load(&e.pp("conv_norm_out"), g, top, EPS)?,
            conv_out: Conv2d::load(&e.pp("conv_out"), top, 2 * lat, 3, 1, 1)?,
        };
        let d = vb.pp("decoder");
        let mut dblocks = Vec::new();
        let mut prev = top;
        for i in 0..n {
            let v = d.pp(format!("up_blocks.{i}"));
            let c_out = ch[n - 1 - i];
            let up = (i + 1 < n).then(|| Conv2d::load(&v.pp("upsamplers.0.conv"), c_out, c_out, 3, 1, 1)).transpose()?;
            dblocks.push((resnets(&v, cfg.layers_per_block + 1, prev, c_out, g)?, up));
            prev = c_out;
        }
        let decoder = Decoder {
            conv_in: Conv2d::load(&d.pp("conv_in"), lat, top, 3, 1, 1)?,
            mid: Mid::load(&d.pp("mid_block"), top, g, cfg.mid_block_add_attention)?,
            blocks: dblocks,
            norm_out: GroupNorm::load(&d.pp("conv_norm_out"), g, ch[0], EPS)?,
            conv_out: Conv2d::load(&d.pp("conv_out"), ch[0], cfg.out_channels, 3, 1, 1)?,
        };
        Ok(Self {
            config: cfg.clone(),
            encoder,
            decoder,
            quant_conv: cfg.use_quant_conv.then(|| Conv2d::load(&vb.pp("quant_conv"), 2 * lat, 2 * lat, 1, 1, 0)).transpose()?,
            post_quant_conv: cfg.use_post_quant_conv.then(|| Conv2d::load(&vb.pp("post_quant_conv"), lat, lat, 1, 1, 0)).transpose()?,
        })
    }

    /// Posterior `(mean, logvar)` of images in `[-1, 1]`, `[B, 3, H, W]` (unscaled latents).
    pub fn encode_posterior(&self, images: &Tensor) -> Result<(Tensor, Tensor)> {
        let e = &self.encoder;
        let mut h = e.conv_in.forward(images)?;
        for (res, down) in &e.blocks {
            for r in res {
                h = r.forward(&h, None)?;
            }
            if let Some(d) = down {
                // diffusers pads right/bottom by one before the stride-2 conv.
                h = d.forward(&h.pad_with_zeros(2, 0, 1)?.pad_with_zeros(3, 0, 1)?)?;
            }
        }
        h = e.mid.forward(&h)?;
        h = e.conv_out.forward(&e.norm_out.forward_silu(&h)?)?;
        if let Some(q) = &self.quant_conv {
            h = q.forward(&h)?;
        }
        let lat = self.config.latent_channels;
        let logvar = h.narrow(1, lat, lat)?.clamp(-30f32, 20f32)?;
        Ok((h.narrow(1, 0, lat)?, logvar))
    }

    /// x0 for diffusion: posterior MEAN (not a sample) × scaling factor (ALGORITHMS §1.4).
    pub fn encode(&self, images: &Tensor) -> Result<Tensor> {
        // `shift_factor` is left out, as diffusers' Stable Diffusion pipelines leave it out.
        let (mean, _) = self.encode_posterior(images)?;
        mean * self.config.scaling_factor
    }

    /// Images in roughly `[-1, 1]` (not clamped) from diffusion latents.
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        // A true division, as §1.4 asks and torch does on the CPU (candle's `/ f64` multiplies by
        // the reciprocal, which differs in the last bit; torch's CUDA kernel does that too).
        let scale = Tensor::new(self.config.scaling_factor as f32, latents.device())?.to_dtype(latents.dtype())?;
        let z = latents.broadcast_div(&scale)?;
        let d = &self.decoder;
        let mut h = match &self.post_quant_conv {
            Some(p) => p.forward(&z)?,
            None => z,
        };
        h = d.mid.forward(&d.conv_in.forward(&h)?)?;
        for (res, up) in &d.blocks {
            for r in res {
                h = r.forward(&h, None)?;
            }
            if let Some(u) = up {
                let (_, _, hh, ww) = h.dims4()?;
                h = u.forward(&upsample_nearest(&h, hh * 2, ww * 2)?)?;
            }
        }
        d.conv_out.forward(&d.norm_out.forward_silu(&h)?)
    }

    /// Spatial downscale factor between images and latents.
    pub fn factor(&self) -> usize {
        1 << (self.config.block_out_channels.len() - 1)
    }
}
