//! Classifier-free guidance and the null-text objective of one timestep (ALGORITHMS §3.1).

use crate::sd::schedule::Schedule;
use crate::sd::unet::{AttentionHook, TextFreeHead, UNet};
use candle_core::{Result, Tensor};

/// `e_u + w·(e_c − e_u)`.
pub fn guide(eps_uncond: &Tensor, eps_cond: &Tensor, w: f64) -> Result<Tensor> {
    eps_uncond + ((eps_cond - eps_uncond)? * w)?
}

/// Inputs of the null-text loss at one timestep that do not depend on the null embedding.
pub struct NullTextStep<'a> {
    pub unet: &'a UNet,
    pub schedule: &'a Schedule,
    /// Current latent z̄ `[1, C, h, w]`.
    pub latent: &'a Tensor,
    pub t: usize,
    /// Conditional prediction at (z̄, t), computed once per timestep.
    pub eps_cond: &'a Tensor,
    /// The inversion latent one step less noisy (the pivot).
    pub target: &'a Tensor,
    pub guidance: f64,
    /// The UNet's text-free part for (z̄, t) when computed once for all iterations (the same
    /// numbers as without it).
    pub head: Option<&'a TextFreeHead>,
}

impl NullTextStep<'_> {
    /// `mean((prev_step(guided ε) − target)²)`; differentiable w.r.t. `uncond` `[1, 77, D]`.
    pub fn loss(&self, uncond: &Tensor, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let eps_u = match self.head {
            Some(head) => self.unet.forward_with_head(head, uncond, hook)?,
            None => self.unet.forward(self.latent, self.t as f64, uncond, hook)?,
        };
        let eps = guide(&eps_u, self.eps_cond, self.guidance)?;
        let prev = self.schedule.prev_step(&eps, self.t, self.latent)?;
        (prev - self.target)?.sqr()?.mean_all()
    }
}
