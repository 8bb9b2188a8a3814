//! Sampling `[source, target]` from the inverted x_T with a fresh controller (§4.10).

use super::blend::LocalBlend;
use super::controller::{Controller, EditTables};
use crate::edit::prox::ProxRun;
use crate::edit::sample::{NullEmbeddings, Sampler};
use crate::edit::CancelToken;
use crate::sd::schedule::Schedule;
use crate::sd::unet::UNet;
use candle_core::{Result, Tensor};

pub struct P2pEdit<'a> {
    pub unet: &'a UNet,
    pub schedule: &'a Schedule,
    /// `[1, 77, D]` each.
    pub source: &'a Tensor,
    pub target: &'a Tensor,
    pub nulls: NullEmbeddings<'a>,
    pub guidance: f64,
    pub tables: EditTables,
    pub blend: Option<LocalBlend>,
    /// Direct Inversion's source offsets (one per step), when the inversion is one.
    pub offsets: Option<&'a [Tensor]>,
    /// Proximal guidance instead of plain guidance (ProxEdit), with the inversion it pulls to.
    pub prox: Option<ProxRun<'a>>,
}

/// Final latents `[2, C, h, w]` (row 0 source, row 1 target) and the controller (its attention store).
pub fn run_edit(e: &P2pEdit, x_t: &Tensor, per_step: &mut dyn FnMut(usize, &Tensor)) -> Result<(Tensor, Controller)> {
    let never = CancelToken::new();
    let done = run_edit_until(e, x_t, per_step, &never)?;
    Ok(done.expect("an edit nobody can cancel finishes"))
}

/// [`run_edit`] that checks `cancel` before every step; `None` when cancelled.
pub fn run_edit_until(e: &P2pEdit, x_t: &Tensor, per_step: &mut dyn FnMut(usize, &Tensor), cancel: &CancelToken) -> Result<Option<(Tensor, Controller)>> {
    let cond = Tensor::cat(&[e.source, e.target], 0)?;
    let sampler = Sampler { unet: e.unet, schedule: e.schedule, cond: &cond, null: e.nulls, guidance: e.guidance, eta: 0.0, offsets: e.offsets };
    let mut controller = Controller::new(e.tables.clone());
    let x = Tensor::cat(&[x_t, x_t], 0)?;
    let (h, w) = (x.dim(2)?, x.dim(3)?);
    // The blend needs the controller's store after each step; run the loop here.
    let mut latents = x;
    for (i, &t) in e.schedule.timesteps.iter().enumerate() {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        crate::sd::unet::AttentionHook::begin_step(&mut controller, i);
        let stepped = match &e.prox {
            None => e.schedule.prev_step(&sampler.predict(&latents, t, i, &mut controller)?, t, &latents)?,
            Some(p) => {
                let (u, c) = sampler.predict_halves(&latents, t, i, &mut controller)?;
                p.step(e.schedule, (&u, &c), e.guidance, i, &latents)?
            }
        };
        // The source row back on the inverted trajectory, before the blend reads it.
        latents = sampler.on_trajectory(stepped, i)?;
        if let Some(b) = &e.blend {
            if let Some(mask) = b.mask(i, &controller.store, h, w)? {
                latents = b.apply(&latents, &mask)?;
            }
        }
        per_step(i, &latents);
    }
    Ok(Some((latents, controller)))
}
