//! A finished inversion file, and the model it was made with (loaded and checked against it):
//! what `edit`, `attention` and `reconstruct` start from.

use anyhow::{bail, ensure, Context, Result};
use candle_core::Device;
use pivot::sd::schedule::Schedule;
use pivot::sd::source::ModelSource;
use pivot::sd::StableDiffusion;
use pivot::session::inversion_file::InversionFile;
use std::path::Path;

/// A finished inversion file.
pub fn read_inversion(path: &Path, dev: &Device) -> Result<InversionFile> {
    let file = InversionFile::load(path, dev)?;
    ensure!(
        file.is_complete(),
        "{} is an unfinished inversion ({} of {} steps): finish it in the session it comes from (`pivot resume --session NAME`), then use that session's item (`--session NAME --item ITEM`) or export it again",
        path.display(),
        file.completed,
        file.steps()
    );
    Ok(file)
}

/// The model an inversion file names, or `model` when given.
pub fn model_source(file: &InversionFile, model: Option<&str>) -> Result<ModelSource> {
    match model {
        Some(given) => ModelSource::parse(given).with_context(|| format!("--model {given} (the inversion was made with `{}`)", file.meta.model)),
        None => ModelSource::parse_recorded(&file.meta.model).with_context(|| format!("the inversion was made with model `{}`, which is not here: pass --model with its place", file.meta.model)),
    }
}

/// Load the model for `file` (read from `path`) and check that it is the one the file was made with.
pub fn model_for(file: &InversionFile, path: &Path, model: Option<&str>, dev: &Device) -> Result<(StableDiffusion, Schedule)> {
    let sd = super::device::load_model(&model_source(file, model)?, dev)?;
    let model = model.unwrap_or(&file.meta.model);
    if !sd.made_with(&file.meta.model_hash) {
        if file.meta.model == model {
            bail!("{} was made with the model at `{model}` when its files were different (fingerprint {} then, {} now): pass the model as it was", path.display(), file.meta.model_hash, sd.fingerprint);
        }
        bail!("{} was made with another model ({}, fingerprint {}); `{model}` has fingerprint {} — pass the model it was made with",
            path.display(), file.meta.model, file.meta.model_hash, sd.fingerprint);
    }
    let (c, h, w) = (file.latents.dim(1)?, file.latents.dim(2)?, file.latents.dim(3)?);
    let d = file.null_embeddings.dim(2)?;
    if c != sd.latent_channels() || d != sd.text_encoder.hidden_size() {
        bail!("{} was made with another model ({c}-channel {h}×{w} latents, {d}-wide text embeddings); this model has {} channels and {}-wide embeddings",
            path.display(), sd.latent_channels(), sd.text_encoder.hidden_size());
    }
    let side = sd.unet.config.sample_size;
    ensure!((h, w) == (side, side), "{} holds {h}×{w} latents; this model works on {side}×{side} latents ({r}×{r} pictures): it was not made by pivot with this model", path.display(), r = sd.resolution());
    ensure!(file.null_embeddings.dim(1)? == 77, "{} holds null embeddings of {} tokens; the text encoder gives 77", path.display(), file.null_embeddings.dim(1)?);
    let schedule = Schedule::new(&sd.scheduler, file.steps())?;
    let stored: Vec<i64> = schedule.timesteps.iter().map(|&t| t as i64).collect();
    ensure!(stored == file.timesteps, "the model's scheduler gives other timesteps than the inversion file's");
    Ok((sd, schedule))
}
