//! DDIM inversion with the Prompt-to-Prompt step convention (ALGORITHMS §2.2): guidance 1,
//! source prompt, T UNet calls, T + 1 latents (`[0]` = x0, `[T]` = x_T).

use super::{CancelToken, Observer, StepDone};
use crate::sd::schedule::Schedule;
use crate::sd::unet::{NoHook, UNet};
use anyhow::{bail, Result};
use candle_core::Tensor;
use std::time::Instant;

/// With `fixed_point` > 0 each step's latent is refined that many times by fixed-point iteration
/// (ALGORITHMS §5.7): `z_t ← the latent from which prev_step with the model's output at z_t lands
/// on z_{t−Δ}` (for ε: `next_step(ε(z_t, t), t, z_{t−Δ})`), the implicit step that a sampling
/// step from z_t (which evaluates the model at z_t, not at z_{t−Δ}) undoes; one more UNet call
/// per iteration.
pub fn ddim_invert(unet: &UNet, schedule: &Schedule, x0: &Tensor, cond: &Tensor, fixed_point: usize, observer: &mut dyn Observer, cancel: &CancelToken) -> Result<Vec<Tensor>> {
    let start = Instant::now();
    let n = schedule.timesteps.len();
    let mut latents = Vec::with_capacity(n + 1);
    latents.push(x0.clone());
    for i in 0..n {
        if cancel.is_cancelled() {
            bail!("inversion cancelled after {i} of {n} steps");
        }
        let t = schedule.timesteps[n - 1 - i];
        let cur = &latents[i];
        let eps = unet.forward(cur, t as f64, cond, &mut NoHook)?;
        let mut next = schedule.next_step(&eps, t, cur)?;
        for _ in 0..fixed_point {
            let out = unet.forward(&next, t as f64, cond, &mut NoHook)?;
            next = schedule.invert_prev_step(&out, t, cur)?;
        }
        latents.push(next);
        observer.step_done(&StepDone { step: i, t, total_steps: n, iterations: 0, preview: None, x0: None, elapsed: start.elapsed() });
    }
    Ok(latents)
}
