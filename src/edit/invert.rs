//! DDIM inversion with the Prompt-to-Prompt step convention (ALGORITHMS §2.2): guidance 1,
//! source prompt, T UNet calls, T + 1 latents (`[0]` = x0, `[T]` = x_T).

use super::{CancelToken, Observer, StepDone};
use crate::sd::schedule::Schedule;
use crate::sd::unet::{NoHook, UNet};
use anyhow::{bail, Result};
use candle_core::Tensor;
use std::time::Instant;

pub fn ddim_invert(unet: &UNet, schedule: &Schedule, x0: &Tensor, cond: &Tensor, observer: &mut dyn Observer, cancel: &CancelToken) -> Result<Vec<Tensor>> {
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
        let next = schedule.next_step(&eps, t, cur)?;
        latents.push(next);
        observer.step_done(&StepDone { step: i, t, total_steps: n, iterations: 0, preview: None, x0: None, elapsed: start.elapsed() });
    }
    Ok(latents)
}
