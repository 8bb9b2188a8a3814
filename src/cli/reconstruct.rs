//! `pivot reconstruct`: an inversion sampled back into a picture, to see how close it came.

use super::inversion_model::{model_for, read_inversion};
use super::invert::reconstruct_image;
use super::{device, outputs};
use anyhow::Result;
use clap::Args;
use pivot::edit::sample::Sampler;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReconstructArgs {
    #[command(flatten)]
    pub from: super::inversion_source::InversionSource,
    /// Model to use (a diffusers folder, `org/name[@revision]`, `hub:org/name` or `tiny`); default: the one named in the file or the session.
    #[arg(long)]
    pub model: Option<String>,
    /// Where to write the reconstructed image (PNG, JPEG, WebP, BMP, TIFF or GIF, by its extension).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, help = device::DEVICE_HELP)]
    pub device: Option<String>,
}

pub fn reconstruct(a: &ReconstructArgs) -> Result<()> {
    outputs::check_image(&a.out, "--out")?;
    let dev = device::pick(a.device.as_deref())?;
    let found = a.from.find(a.model.as_deref())?;
    let file = read_inversion(&found.path, &dev).map_err(|e| found.restart_hint(e))?;
    let (sd, schedule) = model_for(&file, &found.path, found.model.as_deref(), &dev)?;
    outputs::say_replaced();
    let (cond, _) = sd.encode_prompt(&file.meta.prompt)?;
    let (nulls, offsets) = (file.embeddings()?, file.source_offsets()?);
    let sampler = Sampler::replaying(&sd.unet, &schedule, &cond, &nulls, file.meta.guidance, offsets.as_deref());
    let (_, image) = reconstruct_image(&sd, &sampler, &file.x_t()?)?;
    outputs::save_image(&image, &a.out)?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
