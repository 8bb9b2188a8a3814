//! Guided DDIM sampling (ALGORITHMS §2.3): from x_T, one null (unconditional) embedding per step.

use super::guidance::guide;
use crate::sd::rng::Rng;
use crate::sd::schedule::Schedule;
use crate::sd::unet::{AttentionHook, UNet};
use candle_core::{Result, Tensor};

/// The largest guidance scale pivot takes: far past any useful one (5–15), well inside f32's
/// range, where a scale near 1e38 makes every guided prediction infinite.
pub const MAX_GUIDANCE: f64 = 1000.0;

/// The unconditional embedding used at each sampling step.
#[derive(Clone, Copy)]
pub enum NullEmbeddings<'a> {
    /// The same `[1, 77, D]` at every step (plain CFG, negative prompts, NPI).
    Fixed(&'a Tensor),
    /// Row i `[1, 77, D]` at step i (null-text inversion).
    PerStep(&'a [Tensor]),
}

impl NullEmbeddings<'_> {
    fn at(&self, i: usize) -> Result<&Tensor> {
        match self {
            NullEmbeddings::Fixed(t) => Ok(t),
            NullEmbeddings::PerStep(v) => v.get(i).ok_or_else(|| candle_core::Error::Msg(format!("no null embedding for sampling step {i} (have {})", v.len()))),
        }
    }
}

/// Offset `i` of Direct Inversion's per-step offsets.
fn offset_at(offsets: &[Tensor], i: usize) -> Result<&Tensor> {
    offsets.get(i).ok_or_else(|| candle_core::Error::Msg(format!("no source offset for sampling step {i} (have {})", offsets.len())))
}

pub struct Sampler<'a> {
    pub unet: &'a UNet,
    pub schedule: &'a Schedule,
    /// Conditional embeddings `[B, 77, D]`, one per prompt (row).
    pub cond: &'a Tensor,
    pub null: NullEmbeddings<'a>,
    pub guidance: f64,
    /// 0 = DDIM (deterministic), 1 = DDPM posterior variance.
    pub eta: f64,
    /// Direct Inversion's source offsets, one per step, added to row 0 after it (see `direct`).
    pub offsets: Option<&'a [Tensor]>,
}

impl<'a> Sampler<'a> {
    /// The sampler that replays an inversion from its x_T: the inversion's per-step null
    /// embeddings, deterministic DDIM, and Direct Inversion's offsets when it has them.
    pub fn replaying(unet: &'a UNet, schedule: &'a Schedule, cond: &'a Tensor, nulls: &'a [Tensor], guidance: f64, offsets: Option<&'a [Tensor]>) -> Self {
        Sampler { unet, schedule, cond, null: NullEmbeddings::PerStep(nulls), guidance, eta: 0.0, offsets }
    }

    /// One prediction for all rows at `t`: `[B, C, h, w]` guided ε (or v; the schedule converts).
    pub fn predict(&self, x: &Tensor, t: usize, step: usize, hook: &mut dyn AttentionHook) -> Result<Tensor> {
        let (uncond, cond) = self.predict_halves(x, t, step, hook)?;
        guide(&uncond, &cond, self.guidance)
    }

    /// The unconditional and conditional predictions `[B, C, h, w]` each, before guidance.
    pub fn predict_halves(&self, x: &Tensor, t: usize, step: usize, hook: &mut dyn AttentionHook) -> Result<(Tensor, Tensor)> {
        // Always the batched [null, cond] call, as the reference does, even at guidance 1: an
        // edit's controller works on the four rows, and u + 1·(c − u) is not always c in f32.
        let b = x.dim(0)?;
        let null = self.null.at(step)?;
        let null = null.broadcast_as((b, null.dim(1)?, null.dim(2)?))?;
        let ctx = Tensor::cat(&[&null, self.cond], 0)?;
        let out = self.unet.forward(&Tensor::cat(&[x, x], 0)?, t as f64, &ctx, hook)?;
        Ok((out.narrow(0, 0, b)?, out.narrow(0, b, b)?))
    }

    /// `x` after step `i` with Direct Inversion's offset of that step added to its source row
    /// (unchanged without offsets).
    pub fn on_trajectory(&self, x: Tensor, i: usize) -> Result<Tensor> {
        match self.offsets {
            Some(o) => super::direct::add_source_offset(&x, offset_at(o, i)?),
            None => Ok(x),
        }
    }

    /// Runs every step from `x_t` `[B, C, h, w]`; `after_step(i, latents)` sees each result and
    /// may replace it (LocalBlend) — return `None` to keep it.
    pub fn run(&self, x_t: &Tensor, hook: &mut dyn AttentionHook, rng: Option<&mut Rng>, after_step: &mut dyn FnMut(usize, &Tensor) -> Result<Option<Tensor>>) -> Result<Tensor> {
        // The offsets were found for the deterministic step: with noise added they would miss.
        if self.offsets.is_some() && self.eta != 0.0 {
            candle_core::bail!("Direct Inversion's offsets need DDIM sampling (eta 0), got eta {}", self.eta);
        }
        let mut rng = rng;
        let mut x = x_t.clone();
        for (i, &t) in self.schedule.timesteps.iter().enumerate() {
            hook.begin_step(i);
            let eps = self.predict(&x, t, i, hook)?;
            x = self.on_trajectory(self.schedule.prev_step_eta(&eps, t, &x, self.eta, rng.as_deref_mut())?, i)?;
            if let Some(replaced) = after_step(i, &x)? {
                x = replaced;
            }
        }
        Ok(x)
    }
}
