//! The terminal dashboard (`../shared/docs/TUI.md`): a pure `update` over a [`state::Model`],
//! `view` functions drawing it, a keymap and themes; the worker runs the jobs on its own thread.

pub mod app;
pub mod form;
pub mod graphics;
pub mod keymap;
pub mod launch;
pub mod log;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod update;
mod events;
pub mod showcase;
pub mod view;

#[cfg(test)]
mod update_tests;

use crate::sd::source::ModelSource;
use crate::session::dirs::config_dir;
use crate::worker::{Command, StopReason, WorkerHandle, WorkerOptions};
use anyhow::{bail, Result};
use std::io::{IsTerminal, Write};
use std::time::Instant;
use terminal::ZoomWith;
use view::dashboard::{Graphics, Look};

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub session: Option<String>,
    pub model: Option<String>,
    /// `auto`, `halfblock` or `none` (default: config.toml, else auto).
    pub graphics: Option<String>,
    pub theme: Option<String>,
    pub device: Option<String>,
}

/// The inline pictures and the zoom view for `--graphics`.
fn graphics(spec: &str, term: Option<&str>) -> Result<(Graphics, ZoomWith)> {
    Ok(match spec {
        "halfblock" => (Graphics::HalfBlock, ZoomWith::HalfBlock),
        "none" => (Graphics::None, ZoomWith::Text),
        // Inline half-blocks need only colours; only a dumb terminal gets text placeholders (from
        // TERM alone, nothing probed). The zoom view lets viuer ask the terminal for pixels.
        "auto" => match term {
            Some("dumb") => (Graphics::None, ZoomWith::Text),
            _ => (Graphics::HalfBlock, ZoomWith::Viuer),
        },
        other => bail!("--graphics must be auto, halfblock or none (got `{other}`)"),
    })
}

/// Open the dashboard (see [`launch::open`] for which session) and run it until `q`.
pub fn run(o: &Options) -> Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!("the dashboard needs a terminal (stdout is not one); `pivot demo` and the subcommands work without");
    }
    let cfg_dir = config_dir()?;
    let config = launch::Config::load(&cfg_dir)?;
    // A bad value that came from config.toml (not from the command line) is named as such.
    let file = cfg_dir.join("config.toml");
    let named = |given: bool, key: &'static str| {
        let file = file.clone();
        move |e: anyhow::Error| if given { e } else { e.context(format!("`{key}` in {}", file.display())) }
    };
    let theme = theme::Theme::load(o.theme.as_deref().or(config.theme.as_deref()), &cfg_dir).map_err(named(o.theme.is_some(), "theme"))?;
    let keys = keymap::Keymap::load(&cfg_dir)?;
    let term = std::env::var("TERM").ok();
    let (graphics, zoom) = graphics(o.graphics.as_deref().or(config.graphics.as_deref()).unwrap_or("auto"), term.as_deref()).map_err(named(o.graphics.is_some(), "graphics"))?;
    let device = crate::sd::device::pick(o.device.as_deref().or(config.device.as_deref()).unwrap_or("auto")).map_err(named(o.device.is_some(), "device"))?;
    if let (None, Some(m)) = (&o.model, &config.model) {
        ModelSource::parse(m).map_err(named(false, "model"))?;
    }
    let opened = launch::open(o.session.as_deref(), o.model.as_deref(), &config)?;
    let name = opened.session.name().to_string();
    let session_dir = opened.session.dir.clone();
    let demo = opened.session.manifest.model.source == "tiny";
    let model = o.model.as_deref().map(ModelSource::parse).transpose()?;
    let worker = WorkerHandle::spawn(opened.session, WorkerOptions { device, model });
    if let Some(item) = opened.demo_item {
        worker.send(Command::AddItem(item));
    }
    launch::remember(&name);
    crate::signals::install();
    let mut model = state::Model::new(&name, demo);
    model.help_key = keys.keys(keymap::Action::Help);
    let mut looped = app::Loop { model, keys: &keys, look: Look { theme: &theme, keys: &keys, graphics }, session_dir, started: Instant::now(), on_frame: None, cleared: false, log: None, replies: Default::default() };
    looped.log = crate::session::dirs::state_dir().ok().and_then(|d| log::EventLog::open(&d));
    if let Some(l) = looped.log.as_mut() {
        l.note(&format!("pivot {} dashboard on session {name}", env!("CARGO_PKG_VERSION")));
    }
    let mut input = terminal::TerminalInput::open(zoom)?;
    let mut term = terminal::setup()?;
    let result = looped.run(&mut term, &worker, &mut input);
    terminal::restore();
    let was_running = looped.model.running.is_some();
    // Checkpoints are written after every timestep; stopping loses at most the one in hand.
    worker.stop(StopReason::Stop);
    // Events the loop did not read (a zoom view was open, the loop ended) still go to the log.
    for e in worker.finish() {
        if let Some(l) = looped.log.as_mut() {
            l.record(&e);
        }
    }
    let gone = result.as_ref().err().is_some_and(|e| e.is::<terminal::TerminalGone>());
    if crate::signals::received().is_some() {
        // The CLI prints this and exits 128 + the signal, as the headless commands do.
        let stop = crate::signals::Interrupted::now(format!("session `{name}` keeps every finished timestep — `pivot` (or `pivot resume --session {name}`) continues"));
        if let Some(l) = looped.log.as_mut() {
            l.note(&stop.to_string());
        }
        return Err(stop.into());
    }
    let farewell = if gone {
        Some(format!("the terminal went away: stopped; session `{name}` keeps every finished timestep — `pivot` (or `pivot resume --session {name}`) continues"))
    } else {
        was_running.then(|| format!("paused; session `{name}` keeps every finished timestep — press p in `pivot` to continue"))
    };
    if let Some(text) = farewell {
        if let Some(l) = looped.log.as_mut() {
            l.note(&text);
        }
        // stderr may be the terminal that hung up: never panic on it.
        let _ = writeln!(std::io::stderr(), "{text}");
    }
    if gone {
        return Ok(());
    }
    result
}

#[cfg(test)]
mod graphics_tests {
    use super::*;

    #[test]
    fn graphics_modes_pick_inline_pictures_and_the_zoom_view() {
        assert_eq!(graphics("auto", Some("xterm-256color")).unwrap(), (Graphics::HalfBlock, ZoomWith::Viuer));
        assert_eq!(graphics("auto", None).unwrap(), (Graphics::HalfBlock, ZoomWith::Viuer));
        assert_eq!(graphics("auto", Some("dumb")).unwrap(), (Graphics::None, ZoomWith::Text));
        assert_eq!(graphics("halfblock", Some("xterm-kitty")).unwrap(), (Graphics::HalfBlock, ZoomWith::HalfBlock));
        assert_eq!(graphics("none", Some("xterm")).unwrap(), (Graphics::None, ZoomWith::Text));
        let e = graphics("sixel", None).unwrap_err().to_string();
        assert!(e.contains("auto, halfblock or none") && e.contains("sixel"), "{e}");
    }
}
