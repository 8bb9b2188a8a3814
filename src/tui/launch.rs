//! Which session the dashboard opens: the one asked for, else the last one used, else a new one
//! for a configured model, else the built-in demo (tiny random model + a generated photo).

use crate::sd::image::test_pattern;
use crate::sd::source::ModelSource;
use crate::session::dirs::{data_dir, sessions_dir};
use crate::session::manifest::ModelRef;
use crate::session::catalog::{list, SessionSummary};
use crate::session::names::slug;
use crate::session::store::Session;
use crate::worker::NewItem;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEMO_SESSION: &str = "demo";
pub const DEMO_PROMPT: &str = "a colourful test pattern";

/// `config.toml` in the config folder (every entry optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Default model for new sessions (folder, `org/name[@rev]`, or `tiny`).
    pub model: Option<String>,
    pub theme: Option<String>,
    /// `auto`, `halfblock` or `none`.
    pub graphics: Option<String>,
    pub device: Option<String>,
    /// Ring the terminal's bell when a run is over or a job fails (default true).
    pub bell: Option<bool>,
    /// Redraws a second at most (1–60, default 15); fewer spare a slow SSH link.
    /// Read as any value, so that a wrong one is told in these words, not serde's.
    pub fps: Option<toml::Value>,
}

impl Config {
    pub const DEFAULT_FPS: u32 = 15;

    /// The shortest time between two redraws, from `fps`.
    pub fn frame(&self) -> Result<std::time::Duration> {
        let range = format!("give a whole number of redraws a second from 1 to 60 (default {})", Self::DEFAULT_FPS);
        match &self.fps {
            None => Ok(std::time::Duration::from_millis(1000 / u64::from(Self::DEFAULT_FPS))),
            Some(toml::Value::Integer(fps @ 1..=60)) => Ok(std::time::Duration::from_millis(1000 / *fps as u64)),
            Some(toml::Value::Integer(fps)) => anyhow::bail!("fps = {fps} is out of range: {range}"),
            Some(other) => anyhow::bail!("fps = {other} is not a whole number: {range}"),
        }
    }

    /// `config.toml` in `dir` (the config folder); no file means every default.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join("config.toml");
        if !path.exists() {
            return Ok(Config::default());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).map_err(|e: toml::de::Error| {
            // An unknown key's error lists the known ones already.
            let keys = if e.message().contains("expected one of") { "" } else { " (keys: model, theme, graphics, device, bell, fps)" };
            anyhow::Error::from(e).context(format!("{} is not a valid pivot config{keys}", path.display()))
        })
    }
}

fn last_session_file() -> Result<PathBuf> {
    Ok(data_dir()?.join("last_session"))
}

pub fn remember(name: &str) {
    if let Ok(p) = last_session_file() {
        let _ = crate::session::atomic::write_atomic(&p, name.as_bytes());
    }
}

/// The opened session, and the demo photo to add when the demo session is new.
pub struct Opened {
    pub session: Session,
    pub demo_item: Option<NewItem>,
    /// Folders that killed `session rm` / `session import` runs left, deleted now (one line each).
    pub tidied: Vec<String>,
}

/// The session to open: `--session`; else, for `--model M`, the last session if it uses M, else
/// another that does, else a new one named after M; else the last session; else one for
/// config.toml's model (found or made the same way); else the demo.
pub fn open(asked: Option<&str>, model: Option<&str>, config: &Config) -> Result<Opened> {
    let root = sessions_dir()?;
    let tidied = crate::session::leftovers::collect(&root);
    let last = last_session_file().ok().and_then(|p| std::fs::read_to_string(p).ok()).map(|s| s.trim().to_string()).filter(|s| Session::exists(&root, s));
    let name = match (asked, model, &last, config.model.as_deref()) {
        (Some(n), _, _, _) => n.to_string(),
        (None, Some(m), _, _) => session_for(&root, &ModelSource::parse(m)?, last.as_deref())?,
        (None, None, Some(last), _) => last.clone(),
        (None, None, None, Some(m)) => session_for(&root, &ModelSource::parse(m)?, None)?,
        (None, None, None, None) => DEMO_SESSION.to_string(),
    };
    if Session::exists(&root, &name) {
        let session = Session::open(&root, &name).with_context(|| {
            // Not named by the user: say where it came from and the ways past it.
            let which = if last.as_deref() == Some(name.as_str()) { "the session you used last" } else { "the session for this model" };
            match asked {
                None => format!("pivot opens {which}, `{name}`, and it cannot be opened; `pivot session show {name}` says what is wrong, `pivot --session OTHER` opens another (`pivot session list`)"),
                Some(_) => format!("session `{name}` cannot be opened"),
            }
        })?;
        return Ok(Opened { session, demo_item: None, tidied });
    }
    let source = match (model, config.model.as_deref()) {
        (Some(m), _) => ModelSource::parse(m)?,
        (None, Some(c)) => ModelSource::parse(c).context("`model` in config.toml, the model of new sessions")?,
        (None, None) => ModelSource::parse("tiny")?,
    };
    let session = Session::create(&root, &name, ModelRef { source: source.describe(), hash: String::new() })?;
    let demo_item = if name == DEMO_SESSION { Some(demo_item()?) } else { None };
    Ok(Opened { session, demo_item, tidied })
}

/// Whether `--model given` names another place than the model `session` was made with (a moved
/// folder, or another model: only loading it can tell). A session not yet bound takes any model.
pub fn names_another_model(given: &ModelSource, session: &ModelRef) -> bool {
    !session.hash.is_empty() && given.describe() != session.source
}

/// Whether the run uses the built-in random-weight model: `--model` when given (a new session
/// takes it, a bound one must match it), else the session's.
pub fn runs_tiny(given: Option<&ModelSource>, session: &ModelRef) -> bool {
    match given {
        Some(m) => matches!(m, ModelSource::Tiny { .. }),
        None => is_tiny(&session.source),
    }
}

/// A model as described (`ModelSource::describe`) is the tiny one.
pub fn is_tiny(described: &str) -> bool {
    described == "tiny" || described.starts_with("tiny:")
}

/// A session that uses `model` (preferring `last`), or a free name for a new one after it.
fn session_for(root: &Path, model: &ModelSource, last: Option<&str>) -> Result<String> {
    let named = model.describe();
    let sessions = list(root)?;
    let uses = |s: &&SessionSummary| s.error.is_none() && s.model == named;
    if let Some(s) = sessions.iter().filter(uses).max_by_key(|s| (Some(s.name.as_str()) == last, s.modified)) {
        return Ok(s.name.clone());
    }
    let stem = match model {
        ModelSource::Dir(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        ModelSource::Hub { repo, .. } => repo.rsplit('/').next().unwrap_or(repo).to_string(),
        ModelSource::Tiny { .. } => named.clone(),
    };
    let base = slug(&stem);
    Ok((1..).map(|k| if k == 1 { base.clone() } else { format!("{base}-{k}") }).find(|n| !Session::exists(root, n)).expect("a free name"))
}

/// The demo's photo (generated, so nothing is downloaded) with settings that finish in about a
/// minute on a laptop CPU. `PIVOT_DEMO_STEPS` shortens it further (tests).
fn demo_item() -> Result<NewItem> {
    demo_item_in(&data_dir()?)
}

/// The demo's edit of its photo: a word swap ("pattern" → "picture") with the paper's settings.
pub fn demo_edit() -> crate::session::manifest::EditSpec {
    crate::session::manifest::EditSpec {
        target: DEMO_PROMPT.replace("pattern", "picture"),
        mode: "replace".into(),
        cross: 0.8,
        self_replace: 0.4,
        cross_words: vec![],
        blend: None,
        blend_threshold: 0.3,
        reweight: vec![],
        prox: None,
        blend_except: None,
    }
}

/// [`demo_item`] with its photo written into `dir`.
pub fn demo_item_in(dir: &Path) -> Result<NewItem> {
    let path = dir.join("demo-photo.png");
    crate::sd::image::save(&test_pattern(256), &path)?;
    let steps = std::env::var("PIVOT_DEMO_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(25);
    Ok(NewItem { image: path, prompt: DEMO_PROMPT.into(), id: Some("pattern".into()), method: "null-text".into(), steps, inner: 5, guidance: 7.5, epsilon: 1e-5, fixed_point: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_finds_its_session_or_names_a_new_one_after_itself() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ma, mb) = (ModelSource::parse(a.path().to_str().unwrap()).unwrap(), ModelSource::parse(b.path().to_str().unwrap()).unwrap());
        let make = |name: &str, m: &ModelSource| drop(Session::create(root.path(), name, ModelRef { source: m.describe(), hash: String::new() }).unwrap());
        let stem = slug(&a.path().file_name().unwrap().to_string_lossy());
        assert_eq!(session_for(root.path(), &ma, None).unwrap(), stem, "none yet: named after the model's folder");
        make("default", &mb);
        make("first", &ma);
        make("second", &ma);
        let found = session_for(root.path(), &ma, None).unwrap();
        assert!(found == "first" || found == "second", "{found}");
        assert_eq!(session_for(root.path(), &ma, Some("first")).unwrap(), "first", "the last session when it uses the model");
        assert_ne!(session_for(root.path(), &ma, Some("default")).unwrap(), "default", "never a session of another model");
        assert_eq!(session_for(root.path(), &ModelSource::parse("tiny").unwrap(), None).unwrap(), "tiny");
        make("tiny", &mb);
        assert_eq!(session_for(root.path(), &ModelSource::parse("tiny").unwrap(), None).unwrap(), "tiny-2", "a taken name gets a number");
    }

    #[test]
    fn only_a_model_named_differently_from_a_bound_session_is_checked_at_start() {
        let tiny = ModelSource::parse("tiny").unwrap();
        let bound = |source: &str| ModelRef { source: source.into(), hash: "0123".into() };
        assert!(names_another_model(&tiny, &bound("stabilityai/stable-diffusion-2-1-base")));
        assert!(!names_another_model(&tiny, &bound("tiny")), "the session's own model");
        assert!(!names_another_model(&tiny, &ModelRef { source: "org/x".into(), hash: String::new() }), "not bound yet: it takes the model given");
    }

    #[test]
    fn the_demo_banner_follows_the_model_the_run_uses() {
        let tiny_session = ModelRef { source: "tiny".into(), hash: String::new() };
        let dir = tempfile::tempdir().unwrap();
        let given = ModelSource::parse(&dir.path().display().to_string()).unwrap();
        assert!(!runs_tiny(Some(&given), &tiny_session), "a new tiny session opened with --model DIR runs DIR");
        assert!(runs_tiny(None, &tiny_session));
        assert!(runs_tiny(Some(&ModelSource::parse("tiny:3").unwrap()), &ModelRef { source: "org/x".into(), hash: String::new() }));
        assert!(!runs_tiny(None, &ModelRef { source: "tinyorg/model".into(), hash: "h".into() }));
    }

    #[test]
    fn config_files_are_read_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Config::load(dir.path()).unwrap().model.is_none(), "no file: defaults");
        std::fs::write(dir.path().join("config.toml"), "model = \"~/models/sd15\"\ngraphics = \"halfblock\"\n").unwrap();
        let c = Config::load(dir.path()).unwrap();
        assert_eq!((c.model.as_deref(), c.graphics.as_deref(), c.bell), (Some("~/models/sd15"), Some("halfblock"), None));
        std::fs::write(dir.path().join("config.toml"), "bell = false\n").unwrap();
        assert_eq!(Config::load(dir.path()).unwrap().bell, Some(false));
        assert_eq!(Config::load(dir.path()).unwrap().frame().unwrap(), std::time::Duration::from_millis(66), "15 a second by default");
        std::fs::write(dir.path().join("config.toml"), "fps = 4\n").unwrap();
        assert_eq!(Config::load(dir.path()).unwrap().frame().unwrap(), std::time::Duration::from_millis(250));
        for bad in ["model = ", "colour = \"red\"", "graphics = 3", "bell = \"no\""] {
            std::fs::write(dir.path().join("config.toml"), bad).unwrap();
            let e = format!("{:#}", Config::load(dir.path()).unwrap_err());
            assert!(e.contains("config.toml") && e.contains("is not a valid pivot config") && e.contains("model") && e.contains("fps"), "{e}");
            assert_eq!(e.matches("graphics").count(), 1 + usize::from(bad.starts_with("graphics")), "the keys are listed once: {e}");
        }
    }
}
