//! `--device`: see `pivot::sd::device`.

pub use pivot::sd::device::{describe, pick, DEVICE_HELP};

/// Load a model and print what its loading warns about on stderr.
pub fn load_model(source: &pivot::sd::source::ModelSource, dev: &candle_core::Device) -> anyhow::Result<pivot::sd::StableDiffusion> {
    let sd = pivot::sd::StableDiffusion::load(source, dev)?;
    sd.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
    Ok(sd)
}

/// What `--model` says ends with this in every command that defaults it.
pub const MODEL_HELP: &str = "A diffusers folder, a hub id `org/name[@revision]` (`hub:org/name` when a folder `org/` is here), or `tiny` (built-in, random weights); default: `model` in config.toml, else tiny";

/// The model a command uses: `given`, else config.toml's `model`, else the built-in tiny model —
/// said out loud, since its weights are random and its pictures noise.
pub fn chosen_model(given: Option<&str>) -> anyhow::Result<pivot::sd::source::ModelSource> {
    use anyhow::Context;
    use pivot::sd::source::ModelSource;
    if let Some(m) = given {
        return ModelSource::parse(m);
    }
    let dir = pivot::session::dirs::config_dir()?;
    if let Some(m) = pivot::tui::launch::Config::load(&dir)?.model {
        let file = dir.join("config.toml");
        let source = ModelSource::parse(&m).with_context(|| format!("`model` in {}", file.display()))?;
        eprintln!("note: model {} (`model` in {}; --model overrides it)", source.describe(), file.display());
        return Ok(source);
    }
    eprintln!("note: no --model and no `model` in config.toml: using the built-in tiny model (random weights: pictures are noise)");
    ModelSource::parse("tiny")
}
