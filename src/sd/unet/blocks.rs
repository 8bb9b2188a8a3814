//! Down, mid and up blocks of the UNet (with or without cross-attention).

use super::attention::{AttentionHook, AttnKind, AttnPlace, Part};
use super::resnet::{ResnetBlock, ResnetShape};
use super::transformer::{Transformer2D, TransformerShape};
use crate::sd::input_grad::upsample_nearest;
use crate::sd::ops::Conv2d;
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// What every block needs to know to build its layers.
#[derive(Clone, Copy, Debug)]
pub struct BlockShape {
    pub c_in: usize,
    pub c_out: usize,
    pub temb: usize,
    pub groups: usize,
    pub eps: f64,
    /// Spatial transformer options when the block has cross-attention.
    pub transformer: Option<TransformerShape>,
}

impl BlockShape {
    fn resnet(&self, c_in: usize) -> ResnetShape {
        ResnetShape { c_in, c_out: self.c_out, temb: Some(self.temb), groups: self.groups, eps: self.eps }
    }
    fn attention(&self, vb: &VarBuilder, i: usize) -> Result<Option<Transformer2D>> {
        self.transformer
            .map(|t| Transformer2D::load(&vb.pp(format!("attentions.{i}")), TransformerShape { channels: self.c_out, ..t }))
            .transpose()
    }
}

fn place(part: Part, block: usize, layer: usize, level: usize) -> AttnPlace {
    AttnPlace { part, block, layer, depth: 0, level, kind: AttnKind::SelfAttn, heads: 0, queries: 0, keys: 0 }
}

fn attend(attn: Option<&Transformer2D>, h: Tensor, ctx: &Tensor, place: AttnPlace, hook: &mut dyn AttentionHook) -> Result<Tensor> {
    match attn {
        Some(a) => a.forward(&h, ctx, place, hook),
        None => Ok(h),
    }
}

/// A down block's first layer up to where the text first matters (see [`DownBlock::text_free_head`]).
#[derive(Clone, Debug)]
pub struct LayerHead {
    res: Tensor,
    tokens: Option<Tensor>,
}

#[derive(Clone, Debug)]
pub struct DownBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<Option<Transformer2D>>,
    downsample: Option<Conv2d>,
    pub index: usize,
    pub level: usize,
    heads: usize,
}

impl DownBlock {
    pub fn load(vb: &VarBuilder, s: BlockShape, layers: usize, downsample: bool, index: usize) -> Result<Self> {
        let mut resnets = Vec::new();
        let mut attentions = Vec::new();
        for i in 0..layers {
            let c_in = if i == 0 { s.c_in } else { s.c_out };
            resnets.push(ResnetBlock::load(&vb.pp(format!("resnets.{i}")), s.resnet(c_in))?);
            attentions.push(s.attention(vb, i)?);
        }
        let downsample = downsample.then(|| Conv2d::load(&vb.pp("downsamplers.0.conv"), s.c_out, s.c_out, 3, 2, 1)).transpose()?;
        Ok(Self { resnets, attentions, downsample, index, level: index, heads: s.transformer.map_or(0, |t| t.heads) })
    }

    /// Returns the block output and the skip tensors it adds (in order).
    pub fn forward(&self, xs: &Tensor, temb: &Tensor, ctx: &Tensor, hook: &mut dyn AttentionHook) -> Result<(Tensor, Vec<Tensor>)> {
        self.forward_from(xs, None, temb, ctx, hook)
    }

    /// Where the first layer's self-attention reports its maps.
    pub fn first_self_attention(&self) -> AttnPlace {
        AttnPlace { heads: self.heads, ..place(Part::Down, self.index, 0, self.level) }
    }

    /// The first layer's text-free part for input `xs`: its resnet output and, when it has a
    /// transformer, the tokens after that transformer's first self-attention.
    pub fn text_free_head(&self, xs: &Tensor, temb: &Tensor) -> Result<LayerHead> {
        let res = self.resnets[0].forward(xs, Some(temb))?;
        let tokens = match &self.attentions[0] {
            Some(a) => Some(a.text_free_head(&res, self.first_self_attention(), &mut super::attention::NoHook)?),
            None => None,
        };
        Ok(LayerHead { res, tokens })
    }

    /// [`Self::forward`], with the first layer's text-free part already computed (`head`).
    pub fn forward_from(&self, xs: &Tensor, head: Option<&LayerHead>, temb: &Tensor, ctx: &Tensor, hook: &mut dyn AttentionHook) -> Result<(Tensor, Vec<Tensor>)> {
        let mut h = xs.clone();
        let mut skips = Vec::new();
        for (i, (res, attn)) in self.resnets.iter().zip(&self.attentions).enumerate() {
            let p = AttnPlace { heads: self.heads, ..place(Part::Down, self.index, i, self.level) };
            h = match (head.filter(|_| i == 0), attn) {
                (Some(hd), Some(a)) => a.forward_from(&hd.res, hd.tokens.as_ref(), ctx, p, hook)?,
                (Some(hd), None) => hd.res.clone(),
                (None, _) => attend(attn.as_ref(), res.forward(&h, Some(temb))?, ctx, p, hook)?,
            };
            skips.push(h.clone());
        }
        if let Some(down) = &self.downsample {
            h = down.forward(&h)?;
            skips.push(h.clone());
        }
        Ok((h, skips))
    }
}

#[derive(Clone, Debug)]
pub struct MidBlock {
    resnet0: ResnetBlock,
    attention: Transformer2D,
    resnet1: ResnetBlock,
    level: usize,
    heads: usize,
}

impl MidBlock {
    pub fn load(vb: &VarBuilder, s: BlockShape, level: usize) -> Result<Self> {
        let t = s.transformer.expect("mid block always has cross-attention");
        Ok(Self {
            resnet0: ResnetBlock::load(&vb.pp("resnets.0"), s.resnet(s.c_out))?,
            attention: Transformer2D::load(&vb.pp("attentions.0"), TransformerShape { channels: s.c_out, ..t })?,
            resnet1: ResnetBlock::load(&vb.pp("resnets.1"), s.resnet(s.c_out))?,
            level,
            heads: t.heads,
        })
    }

    pub fn forward(&self, xs: &Tensor, temb: &Tensor, ctx: &Tensor, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let h = self.resnet0.forward(xs, Some(temb))?;
        let p = AttnPlace { heads: self.heads, ..place(Part::Mid, 0, 0, self.level) };
        let h = self.attention.forward(&h, ctx, p, hook)?;
        self.resnet1.forward(&h, Some(temb))
    }
}

#[derive(Clone, Debug)]
pub struct UpBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<Option<Transformer2D>>,
    upsample: Option<Conv2d>,
    pub index: usize,
    pub level: usize,
    heads: usize,
}

/// Channel plan of one up block: what comes from below and what each skip carries.
#[derive(Clone, Copy, Debug)]
pub struct UpChannels {
    pub prev_out: usize,
    pub skip_last: usize,
}

impl UpBlock {
    pub fn load(vb: &VarBuilder, s: BlockShape, ch: UpChannels, layers: usize, upsample: bool, index: usize, level: usize) -> Result<Self> {
        let mut resnets = Vec::new();
        let mut attentions = Vec::new();
        for i in 0..layers {
            let skip = if i == layers - 1 { ch.skip_last } else { s.c_out };
            let below = if i == 0 { ch.prev_out } else { s.c_out };
            resnets.push(ResnetBlock::load(&vb.pp(format!("resnets.{i}")), s.resnet(below + skip))?);
            attentions.push(s.attention(vb, i)?);
        }
        let upsample = upsample.then(|| Conv2d::load(&vb.pp("upsamplers.0.conv"), s.c_out, s.c_out, 3, 1, 1)).transpose()?;
        Ok(Self { resnets, attentions, upsample, index, level, heads: s.transformer.map_or(0, |t| t.heads) })
    }

    pub fn layers(&self) -> usize {
        self.resnets.len()
    }

    /// `skips` are this block's skip tensors in the order they are consumed;
    /// `up_to` is the spatial size to upsample to (the next skip's size).
    pub fn forward(&self, xs: &Tensor, skips: &[Tensor], temb: &Tensor, ctx: &Tensor, up_to: Option<(usize, usize)>, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let mut h = xs.clone();
        for (i, ((res, attn), skip)) in self.resnets.iter().zip(&self.attentions).zip(skips).enumerate() {
            h = Tensor::cat(&[&h, skip], 1)?;
            h = res.forward(&h, Some(temb))?;
            let p = AttnPlace { heads: self.heads, ..place(Part::Up, self.index, i, self.level) };
            h = attend(attn.as_ref(), h, ctx, p, hook)?;
        }
        if let Some(up) = &self.upsample {
            let (_, _, hh, ww) = h.dims4()?;
            let (th, tw) = up_to.unwrap_or((hh * 2, ww * 2));
            h = up.forward(&upsample_nearest(&h, th, tw)?)?;
        }
        Ok(h)
    }
}
