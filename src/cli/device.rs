//! `--device`: see `pivot::sd::device`.

pub use pivot::sd::device::{describe, pick, DEVICE_HELP};

/// Load a model and print what its loading warns about on stderr.
pub fn load_model(source: &pivot::sd::source::ModelSource, dev: &candle_core::Device) -> anyhow::Result<pivot::sd::StableDiffusion> {
    let sd = pivot::sd::StableDiffusion::load(source, dev)?;
    sd.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
    Ok(sd)
}
