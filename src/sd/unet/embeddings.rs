//! Sinusoidal timestep features and the time-embedding MLP.

use crate::sd::ops::Linear;
use candle_core::{Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

/// diffusers' `Timesteps`: `[sin, cos]` (or `[cos, sin]` when flipped) of `t·exp(−ln(10⁴)·k/(half − shift))`.
pub fn timestep_features(t: f64, batch: usize, dim: usize, flip_sin_to_cos: bool, freq_shift: f64, dev: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let t32 = t as f32;
    let mut sin = Vec::with_capacity(half);
    let mut cos = Vec::with_capacity(half);
    for k in 0..half {
        // f32 arithmetic in torch's order: exponent, exp, product.
        let exponent = -(10000f64.ln() as f32) * k as f32 / (half as f32 - freq_shift as f32);
        let arg = t32 * exponent.exp();
        sin.push(arg.sin());
        cos.push(arg.cos());
    }
    let mut row = if flip_sin_to_cos { [cos, sin].concat() } else { [sin, cos].concat() };
    row.resize(dim, 0.0); // odd dims are zero-padded, as diffusers does
    Tensor::from_vec(row, (1, dim), dev)?.repeat((batch, 1))
}

/// `time_embedding`: linear_1 → SiLU → linear_2.
#[derive(Clone, Debug)]
pub struct TimeEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimeEmbedding {
    pub fn load(vb: &VarBuilder, in_dim: usize, dim: usize) -> Result<Self> {
        Ok(Self { linear_1: Linear::load(&vb.pp("linear_1"), in_dim, dim, true)?, linear_2: Linear::load(&vb.pp("linear_2"), dim, dim, true)? })
    }
}

impl Module for TimeEmbedding {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.linear_2.forward(&self.linear_1.forward(xs)?.silu()?)
    }
}
