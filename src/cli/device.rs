//! `--device` (see `pivot::sd::device`), the model to use, and loading it.

use anyhow::{Context, Result};
use candle_core::Device;
pub use pivot::sd::device::describe;

/// What `--device` says in every command that defaults it to config.toml's `device`.
pub const DEVICE_HELP: &str = "auto, cpu, cuda[:N] or metal; auto is the GPU when pivot was built with one; default: `device` in config.toml, else auto";

/// The device a command runs on: `given` (`--device`), else config.toml's `device` (a bad one
/// named as coming from there, as the dashboard does), else auto.
pub fn pick(given: Option<&str>) -> Result<Device> {
    if let Some(spec) = given {
        return pivot::sd::device::pick(spec);
    }
    match configured(|c| c.device)? {
        Some((file, spec)) => pivot::sd::device::pick(&spec).with_context(|| format!("`device` in {}", file.display())),
        None => pivot::sd::device::pick("auto"),
    }
}

/// One entry of config.toml (`take` picks it) with the file's path, if the file sets it. No
/// config folder (no HOME, as under some cron setups) means nothing configured.
fn configured(take: impl FnOnce(pivot::tui::launch::Config) -> Option<String>) -> Result<Option<(std::path::PathBuf, String)>> {
    let Ok(dir) = pivot::session::dirs::config_dir() else { return Ok(None) };
    Ok(take(pivot::tui::launch::Config::load(&dir)?).map(|v| (dir.join("config.toml"), v)))
}

/// Load a model and print what its loading warns about on stderr.
pub fn load_model(source: &pivot::sd::source::ModelSource, dev: &Device) -> Result<pivot::sd::StableDiffusion> {
    let sd = pivot::sd::StableDiffusion::load(source, dev)?;
    sd.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
    Ok(sd)
}

/// What `--model` says ends with this in every command that defaults it.
pub const MODEL_HELP: &str = "A diffusers folder, a hub id `org/name[@revision]` (`hub:org/name` when a folder `org/` is here), or `tiny` (built-in, random weights); default: `model` in config.toml, else tiny";

/// The model a command uses: `given`, else config.toml's `model`, else the built-in tiny model —
/// said out loud, since its weights are random and its pictures noise.
pub fn chosen_model(given: Option<&str>) -> Result<pivot::sd::source::ModelSource> {
    use pivot::sd::source::ModelSource;
    if let Some(m) = given {
        return ModelSource::parse(m);
    }
    if let Some((file, m)) = configured(|c| c.model)? {
        let source = ModelSource::parse(&m).with_context(|| format!("`model` in {}", file.display()))?;
        eprintln!("note: model {} (`model` in {}; --model overrides it)", source.describe(), file.display());
        return Ok(source);
    }
    eprintln!("note: no --model and no `model` in config.toml: using the built-in tiny model (random weights: pictures are noise)");
    ModelSource::parse("tiny")
}
