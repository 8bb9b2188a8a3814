//! The algorithms (pure: tensors in, tensors out; progress through an [`Observer`], cancellation
//! through a [`CancelToken`]): DDIM inversion, null-text optimisation, negative-prompt inversion,
//! guided sampling, metrics and previews.

pub mod adam;
pub mod direct;
pub mod guidance;
pub mod invert;
pub mod metrics;
pub mod npi;
pub mod p2p;
pub mod null_text;
pub mod preview;
pub mod prox;
pub mod sample;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Shared flag that asks a running algorithm to stop at its next check.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Clear the flag before the next job (clones see it too).
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// One inner (Adam) iteration of null-text optimisation.
#[derive(Clone, Debug)]
pub struct InnerIteration {
    /// Sampling-step index (0 = most noisy).
    pub step: usize,
    pub t: usize,
    /// Inner iteration index within the step.
    pub inner: usize,
    /// Loss before this iteration's update.
    pub loss: f32,
    /// Early-stop threshold of this step.
    pub threshold: f64,
}

/// A finished timestep of an inversion.
#[derive(Clone, Debug)]
pub struct StepDone {
    pub step: usize,
    pub t: usize,
    pub total_steps: usize,
    /// Inner iterations used (0 for methods without optimisation).
    pub iterations: usize,
    /// Predicted x0 of this step through the latent→RGB map.
    pub preview: Option<image::RgbImage>,
    /// The predicted x0 latent itself (for a full VAE decode on demand).
    pub x0: Option<candle_core::Tensor>,
    pub elapsed: Duration,
}

/// Progress sink of the algorithms. All methods have no-op defaults.
pub trait Observer {
    fn inner(&mut self, _it: &InnerIteration) {}
    fn step_done(&mut self, _done: &StepDone) {}
}

/// Observes nothing.
pub struct Quiet;
impl Observer for Quiet {}
