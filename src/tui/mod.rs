//! The terminal dashboard (`../shared/docs/TUI.md`): a pure `update` over a [`state::Model`],
//! `view` functions drawing it, a keymap and themes; the worker runs the jobs on its own thread.

pub mod app;
mod caption;
pub mod find;
pub mod edit_request;
pub mod form;
pub mod form_fields;
mod form_keys;
pub mod graphics;
pub mod keymap;
pub mod launch;
mod messages;
mod navigate;
mod photo_watch;
mod prox_field;
mod results;
pub mod spot;
pub mod settings;
pub mod log;
mod loss_pane;
mod queue;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod update;
pub(crate) mod events;
pub mod image_cache;
pub mod job_states;
pub mod showcase;
pub mod view;
mod zoom_choice;

#[cfg(test)]
mod update_tests;
#[cfg(test)]
mod update_session_tests;
#[cfg(test)]
mod update_run_tests;
#[cfg(test)]
mod find_tests;
#[cfg(test)]
mod results_tests;
#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod form_item_tests;

use crate::sd::source::ModelSource;
use crate::session::dirs::config_dir;
use crate::worker::{Command, StopReason, WorkerHandle, WorkerOptions};
use anyhow::{bail, Result};
use std::io::{IsTerminal, Write};
use std::time::Instant;
use view::dashboard::Look;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub session: Option<String>,
    pub model: Option<String>,
    /// `auto`, `halfblock` or `none` (default: config.toml, else auto).
    pub graphics: Option<String>,
    pub theme: Option<String>,
    pub device: Option<String>,
}

/// `NO_COLOR` set and not empty (https://no-color.org).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Open the dashboard (see [`launch::open`] for which session) and run it until `q`.
pub fn run(o: &Options) -> Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!("the dashboard needs a terminal (stdout is not one); `pivot demo` and the subcommands work without one");
    }
    let term = std::env::var("TERM").ok();
    if term.as_deref() == Some("dumb") {
        bail!("the dashboard needs a terminal that can move its cursor, and TERM=dumb cannot; `pivot demo` and the subcommands work without one");
    }
    let settings::Settings { config, theme, keys, graphics, zoom, device, frame } = settings::Settings::resolve(o, &config_dir()?, term.as_deref(), no_color())?;
    let theme = theme.limited_to(settings::terminal_colours(term.as_deref(), std::env::var("COLORTERM").ok().as_deref(), std::env::var_os("TMUX").is_some()));
    if no_color() && graphics == view::dashboard::Graphics::HalfBlock {
        // Pictures asked for under NO_COLOR: crossterm would drop their colours too (the theme
        // has none left to draw with), leaving grey blocks.
        ratatui::crossterm::style::force_color_output(true);
    }
    let opened = launch::open(o.session.as_deref(), o.model.as_deref(), &config)?;
    let name = opened.session.name().to_string();
    let session_dir = opened.session.dir.clone();
    let model = o.model.as_deref().map(ModelSource::parse).transpose()?;
    // The model the run uses, not the one an empty session was created with.
    let demo = launch::runs_tiny(model.as_ref(), &opened.session.manifest.model);
    let check = model.as_ref().is_some_and(|given| launch::names_another_model(given, &opened.session.manifest.model));
    let worker = WorkerHandle::spawn(opened.session, WorkerOptions { device, model });
    if check {
        // Only loading tells a moved model from another one: refuse now, not at the first action.
        eprintln!("checking that {} is the model session `{name}` was made with…", o.model.as_deref().unwrap_or_default());
        if let Err(e) = worker.load_model() {
            worker.shutdown();
            bail!("{e}");
        }
    }
    // A new demo session gets its photo and an edit of it: `p` shows the whole way, photo to edit.
    let demo_edit = opened.demo_item.is_some();
    if let Some(item) = opened.demo_item {
        worker.send(Command::AddItem(item));
    }
    launch::remember(&name);
    crate::signals::install();
    let mut model = state::Model::new(&name, demo);
    model.demo_edit_pending = demo_edit;
    let state_dir = crate::session::dirs::state_dir().ok();
    model.restore = state_dir.as_deref().and_then(|d| spot::load(d, &name));
    model.help_key = keys.keys(keymap::Action::Help);
    model.bell = config.bell.unwrap_or(true);
    model.keys = keys.clone();
    let mut keeper = state_dir.clone().map(spot::Keeper::new);
    let mut keep_spot = |m: &state::Model, _: std::time::Duration| keeper.iter_mut().for_each(|k| k.frame(m));
    let mut looped = app::Loop { model, keys: &keys, look: Look { theme: &theme, keys: &keys, graphics }, session_dir, started: Instant::now(), frame, on_frame: Some(&mut keep_spot), cleared: false, log: None, replies: Default::default() };
    looped.log = state_dir.as_deref().and_then(log::EventLog::open);
    if let Some(l) = looped.log.as_mut() {
        l.note(&format!("pivot {} dashboard on session {name}", env!("CARGO_PKG_VERSION")));
        opened.tidied.iter().for_each(|t| l.note(t));
    }
    // The log names each folder; the status line only says what happened.
    match opened.tidied.len() {
        0 => {}
        1 => update::say(&mut looped.model, "removed a folder that an interrupted `pivot session rm` or `import` left (pivot.log names it)", state::Level::Info),
        n => update::say(&mut looped.model, format!("removed {n} folders that interrupted `pivot session rm` or `import` runs left (pivot.log names them)"), state::Level::Info),
    }
    if !keys.left_keyless.is_empty() {
        update::say(&mut looped.model, keys.left_keyless.join("; "), state::Level::Warning);
    }
    if let Some(locale) = settings::non_utf8_locale(|k| std::env::var(k).ok()) {
        let warning = format!("the locale ({locale}) is not UTF-8: borders, charts and pictures may show as other characters; LC_ALL=C.UTF-8 pivot draws them right");
        // Also on the shell's screen, where it stays after quitting (notices may replace it).
        eprintln!("warning: {warning}");
        update::say(&mut looped.model, warning, state::Level::Warning);
    }
    let mut input = terminal::TerminalInput::open(zoom, theme.palette == graphics::halfblock::ColorMode::TrueColor)?;
    let mut term = terminal::setup()?;
    let result = looped.run(&mut term, &worker, &mut input);
    terminal::restore();
    if let Some(d) = &state_dir {
        spot::save(d, &looped.model);
    }
    let was_running = looped.model.running.is_some();
    // What a stop keeps: an inversion's timesteps; an edit (or a reconstruction) starts over.
    let kept = match &looped.model.running {
        Some(crate::session::manifest::Job::Edit { item, edit }) => format!("keeps everything finished (the edit {item}/{edit} being made starts again from its first step)"),
        _ => "keeps every finished timestep".to_string(),
    };
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
        let stop = crate::signals::Interrupted::now(format!("session `{name}` keeps every finished timestep — `pivot --session {name}` (or headless `pivot resume --session {name}`) continues"));
        if let Some(l) = looped.log.as_mut() {
            l.note(&stop.to_string());
        }
        return Err(stop.into());
    }
    let farewell = if gone {
        Some(format!("the terminal went away: stopped; session `{name}` {kept} — `pivot --session {name}` (or headless `pivot resume --session {name}`) continues"))
    } else {
        was_running.then(|| format!("paused; session `{name}` {kept} — `pivot --session {name}` opens it again, where {} continues", keys.first_key(keymap::Action::PauseResume)))
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
