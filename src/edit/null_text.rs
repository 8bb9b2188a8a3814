//! Null-text optimisation (Mokady et al. 2023; ALGORITHMS §3.1, §P.6): one unconditional
//! embedding per timestep, optimised so that guided DDIM retraces the inversion trajectory.
//!
//! Resumable: [`NullTextProgress`] after timestep k holds everything the next step needs (the
//! current latent and the embeddings so far), and a fresh Adam per timestep means continuing
//! from it gives bit-identical results to an uninterrupted run.

use super::adam::Adam;
use super::guidance::{guide, NullTextStep};
use super::preview::latent_to_rgb;
use super::{CancelToken, InnerIteration, Observer, StepDone};
use crate::sd::schedule::Schedule;
use crate::sd::unet::{NoHook, UNet};
use anyhow::{bail, ensure, Result};
use candle_core::{DType, Tensor, Var};
use std::time::Instant;

/// Why null-text inversion is refused at guidance 1: the guided step is the conditional one, the
/// null embedding never enters it, and every inner iteration would be wasted.
pub const NULL_TEXT_AT_GUIDANCE_1: &str = "null-text inversion at guidance 1 optimises nothing (an unguided step never uses the null embedding): use --method ddim, or a guidance above 1";

/// The most timesteps null-text takes: the paper's learning rate `0.01·(1 − i/100)` (made for 50
/// steps) is 0 at step 100 and negative after, where Adam would climb the loss.
pub const MAX_STEPS: usize = 100;

/// Refuses a step count the learning-rate schedule cannot serve.
pub fn check_steps(steps: usize) -> Result<()> {
    ensure!(
        steps <= MAX_STEPS,
        "null-text inversion takes at most {MAX_STEPS} steps (got {steps}): its learning rate 0.01·(1 − i/100) reaches 0 at step {MAX_STEPS}; use 50 steps (the paper's), or the ddim or npi method for longer schedules"
    );
    Ok(())
}

/// Where a non-finite loss most likely came from, when the guidance is far above the usual
/// (it multiplies the difference of the two predictions).
fn guidance_hint(guidance: f64) -> String {
    let g = if guidance >= 1e6 { format!("{guidance:e}") } else { guidance.to_string() };
    if guidance > 30.0 { format!(" — guidance {g} is far above the usual 7.5: try a smaller one") } else { String::new() }
}

/// Parameters of the optimisation (paper defaults: 10 inner steps, ε = 1e-5, guidance 7.5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NullTextConfig {
    pub inner_steps: usize,
    pub epsilon: f64,
    pub guidance: f64,
}

impl Default for NullTextConfig {
    fn default() -> Self {
        Self { inner_steps: 10, epsilon: 1e-5, guidance: 7.5 }
    }
}

impl NullTextConfig {
    /// Learning rate of step i: `0.01·(1 − i/100)`.
    pub fn lr(step: usize) -> f64 {
        1e-2 * (1.0 - step as f64 / 100.0)
    }
    /// Early-stop threshold of step i: `ε + 2e-5·i`.
    pub fn threshold(&self, step: usize) -> f64 {
        self.epsilon + step as f64 * 2e-5
    }
}

/// State after a number of finished timesteps.
#[derive(Clone, Debug)]
pub struct NullTextProgress {
    /// z̄ at the start of the next timestep (x_T before the first).
    pub latent: Tensor,
    /// The "" embedding: warm start of the first timestep.
    pub initial: Tensor,
    /// One `[1, 77, D]` per finished timestep.
    pub embeddings: Vec<Tensor>,
    /// Per finished timestep, `inner_steps` losses (NaN = not run).
    pub losses: Vec<Vec<f32>>,
    pub iterations: Vec<usize>,
}

impl NullTextProgress {
    pub fn start(x_t: &Tensor, empty: &Tensor) -> Self {
        Self { latent: x_t.clone(), initial: empty.clone(), embeddings: Vec::new(), losses: Vec::new(), iterations: Vec::new() }
    }

    pub fn completed(&self) -> usize {
        self.embeddings.len()
    }
}

/// What one optimised timestep produced.
pub struct StepResult {
    pub embedding: Tensor,
    /// `inner_steps` losses before each update (NaN = not run).
    pub losses: Vec<f32>,
    pub iterations: usize,
    /// z̄ after the guided step with the final embedding.
    pub next_latent: Tensor,
    pub preview: image::RgbImage,
    /// The predicted x0 latent of the guided step.
    pub x0: Tensor,
}

/// How a run ended.
pub enum NullTextOutcome {
    Finished(NullTextProgress),
    /// Cancelled; holds the state after the last finished timestep.
    Cancelled(NullTextProgress),
}

/// Called with the progress after every finished timestep (checkpoints).
pub trait Checkpoint {
    fn save(&mut self, progress: &NullTextProgress) -> Result<()>;
}

impl<F: FnMut(&NullTextProgress) -> Result<()>> Checkpoint for F {
    fn save(&mut self, progress: &NullTextProgress) -> Result<()> {
        self(progress)
    }
}

pub struct NullTextInversion<'a> {
    pub unet: &'a UNet,
    pub schedule: &'a Schedule,
    /// DDIM inversion latents, T + 1 of them (`[0]` = x0).
    pub trajectory: &'a [Tensor],
    /// Source prompt embedding `[1, 77, D]`.
    pub cond: &'a Tensor,
    pub config: NullTextConfig,
}

impl NullTextInversion<'_> {
    /// Continue from `progress` until every timestep is done or `cancel` is set.
    pub fn run(&self, mut progress: NullTextProgress, observer: &mut dyn Observer, checkpoint: &mut dyn Checkpoint, cancel: &CancelToken) -> Result<NullTextOutcome> {
        let n = self.schedule.timesteps.len();
        check_steps(n)?;
        ensure!(self.trajectory.len() == n + 1, "the inversion has {} latents but {n} steps need {}", self.trajectory.len(), n + 1);
        let start = Instant::now();
        while progress.completed() < n {
            let i = progress.completed();
            let warm = progress.embeddings.last().unwrap_or(&progress.initial).clone();
            match self.step(i, &progress.latent, &warm, observer, cancel)? {
                None => return Ok(NullTextOutcome::Cancelled(progress)),
                Some(r) => {
                    progress.embeddings.push(r.embedding);
                    progress.losses.push(r.losses);
                    progress.iterations.push(r.iterations);
                    progress.latent = r.next_latent;
                    checkpoint.save(&progress)?;
                    let t = self.schedule.timesteps[i];
                    observer.step_done(&StepDone { step: i, t, total_steps: n, iterations: r.iterations, preview: Some(r.preview), x0: Some(r.x0), elapsed: start.elapsed() });
                }
            }
        }
        Ok(NullTextOutcome::Finished(progress))
    }

    /// Optimise the embedding of step `i` from z̄ = `latent`, warm-started at `warm`.
    /// `None` when cancelled before the step finished.
    pub fn step(&self, i: usize, latent: &Tensor, warm: &Tensor, observer: &mut dyn Observer, cancel: &CancelToken) -> Result<Option<StepResult>> {
        let n = self.schedule.timesteps.len();
        let t = self.schedule.timesteps[i];
        let cfg = &self.config;
        let threshold = cfg.threshold(i);
        // The latent and timestep stay put for the whole step: the UNet's text-free part once.
        let head = self.unet.text_free_head(latent, t as f64)?;
        let eps_cond = self.unet.forward_with_head(&head, self.cond, &mut NoHook)?.detach();
        let target = &self.trajectory[n - 1 - i];
        let objective = NullTextStep { unet: self.unet, schedule: self.schedule, latent, t, eps_cond: &eps_cond, target, guidance: cfg.guidance, head: Some(&head) };
        let shape = warm.shape().clone();
        let mut param: Vec<f32> = warm.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let mut adam = Adam::new(NullTextConfig::lr(i), param.len());
        let mut losses = vec![f32::NAN; cfg.inner_steps];
        let mut used = 0;
        for (j, slot) in losses.iter_mut().enumerate() {
            if cancel.is_cancelled() {
                return Ok(None);
            }
            let u = Var::from_tensor(&Tensor::from_slice(&param, &shape, warm.device())?)?;
            let loss_t = objective.loss(u.as_tensor(), &mut NoHook)?;
            // The backward pass is queued before the loss is read: on a GPU, reading it first
            // would wait for the forward pass and only then start queueing the backward's ops.
            let grads = crate::runtime::on_workers_for(loss_t.device(), || loss_t.backward())?;
            let loss = loss_t.to_dtype(DType::F32)?.to_scalar::<f32>()?;
            if !loss.is_finite() {
                bail!("null-text loss became {loss} at step {i} (t = {t}, inner iteration {j}){}; stopping — nothing from this step is kept", guidance_hint(cfg.guidance));
            }
            let g = grads.get(u.as_tensor()).ok_or_else(|| anyhow::anyhow!("no gradient reached the null embedding"))?;
            let g: Vec<f32> = g.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            adam.step(&mut param, &g);
            *slot = loss;
            used = j + 1;
            observer.inner(&InnerIteration { step: i, t, inner: j, loss, threshold });
            if (loss as f64) < threshold {
                break;
            }
        }
        if param.iter().any(|v| !v.is_finite()) {
            bail!("the null embedding of step {i} (t = {t}) is not finite{}; stopping — nothing from this step is kept", guidance_hint(cfg.guidance));
        }
        let emb = Tensor::from_slice(&param, &shape, warm.device())?;
        // Final guided step with the final embedding: one batch-2 call, as the reference does.
        let x2 = Tensor::cat(&[latent, latent], 0)?;
        let ctx = Tensor::cat(&[&emb, self.cond], 0)?;
        let out = self.unet.forward(&x2, t as f64, &ctx, &mut NoHook)?;
        let eps = guide(&out.narrow(0, 0, 1)?, &out.narrow(0, 1, 1)?, cfg.guidance)?;
        let next = self.schedule.prev_step(&eps, t, latent)?;
        let (_, x0) = self.schedule.eps_and_x0(&eps, self.schedule.alpha(t as i64), latent)?;
        let preview = latent_to_rgb(&x0)?;
        Ok(Some(StepResult { embedding: emb, losses, iterations: used, next_latent: next, preview, x0 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runaway_loss_names_a_huge_guidance_only() {
        assert_eq!(guidance_hint(7.5), "");
        assert!(guidance_hint(1e40).contains("guidance 1e40 is far above the usual 7.5"), "{}", guidance_hint(1e40));
        assert!(guidance_hint(50.0).contains("guidance 50 is"), "{}", guidance_hint(50.0));
    }

    #[test]
    fn the_learning_rate_stays_positive_on_every_step_allowed() {
        assert!((NullTextConfig::lr(49) - 0.0051).abs() < 1e-12);
        assert!(NullTextConfig::lr(MAX_STEPS - 1) > 0.0);
        check_steps(MAX_STEPS).unwrap();
        let e = check_steps(MAX_STEPS + 1).unwrap_err().to_string();
        assert!(e.contains("at most 100 steps (got 101)") && e.contains("ddim or npi"), "{e}");
    }
}
