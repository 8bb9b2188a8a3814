//! `ResnetBlock2D` (shared by the UNet, with a time embedding, and the VAE, without).

use crate::sd::ops::{Conv2d, GroupNorm, Linear};
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

#[derive(Clone, Debug)]
pub struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

/// Shape options of one resnet block.
#[derive(Clone, Copy, Debug)]
pub struct ResnetShape {
    pub c_in: usize,
    pub c_out: usize,
    pub temb: Option<usize>,
    pub groups: usize,
    pub eps: f64,
}

impl ResnetBlock {
    pub fn load(vb: &VarBuilder, s: ResnetShape) -> Result<Self> {
        let shortcut = if s.c_in != s.c_out || vb.contains_tensor("conv_shortcut.weight") {
            Some(Conv2d::load(&vb.pp("conv_shortcut"), s.c_in, s.c_out, 1, 1, 0)?)
        } else {
            None
        };
        Ok(Self {
            norm1: GroupNorm::load(&vb.pp("norm1"), s.groups, s.c_in, s.eps)?,
            conv1: Conv2d::load(&vb.pp("conv1"), s.c_in, s.c_out, 3, 1, 1)?,
            time_emb_proj: s.temb.map(|t| Linear::load(&vb.pp("time_emb_proj"), t, s.c_out, true)).transpose()?,
            norm2: GroupNorm::load(&vb.pp("norm2"), s.groups, s.c_out, s.eps)?,
            conv2: Conv2d::load(&vb.pp("conv2"), s.c_out, s.c_out, 3, 1, 1)?,
            shortcut,
        })
    }

    /// `temb` is the already-computed time embedding `[B, temb]` (SiLU is applied here).
    pub fn forward(&self, xs: &Tensor, temb: Option<&Tensor>) -> Result<Tensor> {
        let mut h = self.conv1.forward(&self.norm1.forward_silu(xs)?)?;
        if let (Some(proj), Some(temb)) = (&self.time_emb_proj, temb) {
            let t = proj.forward(&temb.silu()?)?;
            h = h.broadcast_add(&t.unsqueeze(2)?.unsqueeze(3)?)?;
        }
        let h = self.conv2.forward(&self.norm2.forward_silu(&h)?)?;
        let skip = match &self.shortcut {
            Some(c) => c.forward(xs)?,
            None => xs.clone(),
        };
        skip + h
    }
}
