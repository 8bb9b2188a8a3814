//! Full VAE decodes of latents on demand, off the worker thread (the dashboard's `f`): the
//! worker hands out the loaded model once; a decode runs on its own short-lived thread while
//! jobs go on.

use crate::sd::image as img;
use crate::sd::StableDiffusion;
use anyhow::Result;
use candle_core::Tensor;
use image::RgbImage;
use std::sync::Arc;

#[derive(Clone)]
pub struct Decoder(Arc<StableDiffusion>);

impl Decoder {
    pub fn new(sd: Arc<StableDiffusion>) -> Self {
        Self(sd)
    }

    /// The picture a latent `[1, C, h, w]` stands for, at the model's resolution.
    pub fn decode(&self, latent: &Tensor) -> Result<RgbImage> {
        let latent = latent.to_device(&self.0.device)?;
        img::from_tensor(&self.0.vae.decode(&latent)?)
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoder")
    }
}
