//! Direct Inversion (Ju et al. 2024, "PnP Inversion"; ALGORITHMS §5.3): after a plain DDIM
//! inversion, one guided prediction per step gives the offset that puts the source branch back
//! on the inverted trajectory. Sampling adds it to the source row after every step (before
//! LocalBlend), so the source reproduces the trajectory exactly and the target is left free. No
//! optimisation and no backward pass: T more UNet calls than DDIM inversion.

use super::sample::{NullEmbeddings, Sampler};
use super::{CancelToken, Observer, StepDone};
use crate::sd::schedule::Schedule;
use crate::sd::unet::{NoHook, UNet};
use anyhow::{bail, Result};
use candle_core::Tensor;
use std::time::Instant;

/// The sampler whose guided steps the offsets correct: the source prompt `cond`, the `empty`
/// prompt at every step (as an edit of the inversion samples), `guidance`.
pub fn offset_sampler<'a>(unet: &'a UNet, schedule: &'a Schedule, cond: &'a Tensor, empty: &'a Tensor, guidance: f64) -> Sampler<'a> {
    Sampler { unet, schedule, cond, null: NullEmbeddings::Fixed(empty), guidance, eta: 0.0, offsets: None }
}

/// The source offsets `o_i = z_{T−1−i} − prev_step(ε_i, t_i, z_{T−i})`, `[1, C, h, w]` each,
/// where `z` is the DDIM `trajectory` (`[0]` = x0, `[T]` = x_T) and `ε_i` the `sampler`'s
/// guided prediction (see [`offset_sampler`]).
pub fn source_offsets(sampler: &Sampler, trajectory: &[Tensor], observer: &mut dyn Observer, cancel: &CancelToken) -> Result<Vec<Tensor>> {
    let start = Instant::now();
    let schedule = sampler.schedule;
    let n = schedule.timesteps.len();
    if trajectory.len() != n + 1 {
        bail!("Direct Inversion needs the {} latents of a {n}-step trajectory, got {}", n + 1, trajectory.len());
    }
    let mut offsets = Vec::with_capacity(n);
    for (i, &t) in schedule.timesteps.iter().enumerate() {
        if cancel.is_cancelled() {
            bail!("Direct Inversion cancelled after {i} of {n} steps");
        }
        let z = &trajectory[n - i];
        let eps = sampler.predict(z, t, i, &mut NoHook)?;
        let stepped = schedule.prev_step(&eps, t, z)?;
        offsets.push((&trajectory[n - 1 - i] - stepped)?);
        observer.step_done(&StepDone { step: i, t, total_steps: n, iterations: 0, preview: None, x0: None, elapsed: start.elapsed() });
    }
    Ok(offsets)
}

/// `x` `[B, C, h, w]` with `offset` `[1, C, h, w]` added to row 0 (the source) only.
pub fn add_source_offset(x: &Tensor, offset: &Tensor) -> candle_core::Result<Tensor> {
    let source = (x.narrow(0, 0, 1)? + offset)?;
    match x.dim(0)? {
        1 => Ok(source),
        b => Tensor::cat(&[&source, &x.narrow(0, 1, b - 1)?], 0),
    }
}
