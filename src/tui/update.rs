//! The pure heart of the dashboard: `update(model, msg) -> effects`. No terminal, no files, no
//! clock: keys and worker events come in as messages, what should happen outside goes out as effects.

use super::keymap::Action;
use super::state::{Level, Mode, Model, Pane};
use crate::session::manifest::Job;
use crate::worker::{Command, Event, StopReason};
use image::RgbImage;
pub(super) use super::results::load_item_images;
pub use super::results::{result_name, shown_edit, shown_result};

/// A key while a form or question has the keyboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKey {
    Char(char),
    Backspace,
    Enter,
    Esc,
    Tab,
    Up,
    Down,
    /// Ctrl-W: the word before the cursor goes.
    DeleteWord,
    /// Ctrl-U: the whole field goes.
    ClearField,
    /// Cursor moves in the field (Ctrl-A / Ctrl-E are Home / End).
    Left,
    Right,
    Home,
    End,
    /// The character under the cursor goes.
    Delete,
}

#[derive(Clone, Debug)]
pub enum Msg {
    Action(Action),
    /// A letter or sign the keymap binds to nothing (a key rebound away, a typo).
    Unbound(String),
    Input(InputKey),
    Worker(Event),
    /// A session image was read (session-relative path).
    Image { rel: String, image: RgbImage },
    /// Inner losses and iterations of finished timesteps read back from a checkpoint.
    Losses { item: String, losses: Vec<Vec<f32>>, iterations: Vec<usize> },
    /// The item's checkpoint could not be read for its losses (damaged, or gone).
    LossesUnreadable { item: String, why: String },
    Tick { now: f64 },
    /// The add-image path after completion.
    Completed(super::form::Completion),
    /// A full VAE decode of the x0 latent of timestep `t` (or why it failed).
    Decoded { t: usize, image: std::result::Result<RgbImage, String> },
    /// Photo copies found gone, and files said missing that are there again.
    FilesSeen(super::photo_watch::Seen),
    /// Text pasted in one piece (the terminal's bracketed paste).
    Paste(String),
}

#[derive(Clone, Debug)]
pub enum Effect {
    Send(Command),
    Stop(StopReason),
    /// Read this session image (session-relative path) and answer with `Msg::Image`.
    LoadImage(String),
    /// Read the losses of an item's checkpoint and answer with `Msg::Losses`.
    LoadLosses(String),
    /// Complete a typed path from the file system and answer with `Msg::Completed`.
    CompletePath(String),
    /// Show this session image (or the live preview when `None`) at full resolution.
    Zoom(Option<String>),
    /// Cancel these jobs: the one in hand after its current inner step, queued ones at once.
    Cancel(Vec<Job>),
    /// Decode this x0 latent (of timestep `t`) off the UI thread and answer with `Msg::Decoded`.
    Decode { latent: candle_core::Tensor, t: usize, decoder: crate::worker::Decoder },
    /// Ring the terminal's bell.
    Bell,
    Quit,
}

/// Pasted text goes into the field being typed, its line breaks and tabs as spaces (a pasted
/// caption over two lines is one caption, not one submitted half-way). Anywhere else its letters
/// would be taken for keys (a `d` deletes): it is dropped, with a word.
fn paste(m: &mut Model, text: &str) -> Vec<Effect> {
    if !matches!(m.mode, Mode::AddImage(_) | Mode::Edit(_) | Mode::Caption(..) | Mode::Find(_)) {
        say(m, "pasted text goes into a form's field: nothing was done with it", Level::Info);
        return vec![];
    }
    // A choice field cycles on each space: a paste would leave it on whatever the count gives.
    let on_choice = match &m.mode {
        Mode::AddImage(a) => a.on_choice(),
        Mode::Edit(e) => e.on_choice(),
        _ => false,
    };
    if on_choice {
        say(m, "this field is a choice (Space changes it), not text: the paste was not used", Level::Info);
        return vec![];
    }
    // A path pasted as a shell would quote it, or a terminal gives a dropped file.
    let path;
    let text = match &m.mode {
        Mode::AddImage(a) if a.field == 0 => {
            path = super::form::pasted_path(text);
            path.as_str()
        }
        _ => text,
    };
    let mut fx = Vec::new();
    for c in text.trim_end_matches(['\n', '\r']).chars() {
        let c = if c.is_control() { ' ' } else { c };
        fx.extend(update(m, Msg::Input(InputKey::Char(c))));
    }
    fx
}

/// Does the keyboard belong to a form (text keys are not actions)?
pub fn wants_text(m: &Model) -> bool {
    matches!(m.mode, Mode::AddImage(_) | Mode::Edit(_) | Mode::ConfirmQuit | Mode::ConfirmDelete(_) | Mode::ConfirmDeleteEdit(..) | Mode::ConfirmRestart(_) | Mode::Caption(..) | Mode::ConfirmCaption(..) | Mode::Find(_))
}

pub fn update(m: &mut Model, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Action(a) => action(m, a),
        Msg::Unbound(key) => {
            say(m, format!("{key} does nothing here: {} lists the keys", m.key(Action::Help)), Level::Info);
            vec![]
        }
        Msg::Input(k) => input(m, k),
        Msg::Worker(e) => super::events::worker(m, e),
        Msg::Image { rel, image } => {
            let shown = super::results::on_screen(m);
            m.images.insert(rel, image, &shown);
            vec![]
        }
        Msg::FilesSeen(seen) => super::photo_watch::files_seen(m, seen),
        Msg::Paste(text) => paste(m, &text),
        Msg::LossesUnreadable { item, why } => {
            if let Some(r) = m.run.as_mut().filter(|r| r.item == item) {
                r.losses_unreadable = true;
            }
            damaged_checkpoint(m, item, why);
            vec![]
        }
        Msg::Losses { item, losses, iterations } => {
            if let Some(r) = m.run.as_mut().filter(|r| r.item == item) {
                for (i, l) in losses.into_iter().enumerate() {
                    let row = r.losses_at(i);
                    if row.is_empty() {
                        *row = l;
                    }
                }
                r.iterations = iterations;
            }
            vec![]
        }
        Msg::Tick { now } => {
            m.now = now;
            // Beside a job's progress an old notice would read as describing it.
            let stale = m.status.as_ref().is_some_and(|(_, l)| *l == Level::Info) && m.running.is_some() && now - m.status_at > NOTICE_SECS;
            if stale {
                m.status = None;
            }
            vec![]
        }
        Msg::Completed(c) => {
            if let Mode::AddImage(f) = &mut m.mode {
                f.path = c.path;
                // A name with spaces is quoted: the list is split at its gaps by the eye.
                let shown: Vec<String> = c.choices.iter().map(|n| if n.contains(char::is_whitespace) { format!("\"{n}\"") } else { n.clone() }).collect();
                f.choices = (!shown.is_empty()).then(|| format!("{} names match: {}", shown.len(), shown.join("  ")));
                m.cursor_back = 0;
            }
            vec![]
        }
        Msg::Decoded { t, image } => {
            m.decoding = false;
            match image {
                Ok(img) => {
                    let z = m.key(Action::Zoom);
                    // The panes and z follow the selected item: the run's may be another.
                    let elsewhere = m.run.as_ref().map(|r| r.item.clone()).filter(|run| m.selected_item().is_some_and(|it| it.id != *run));
                    let how = match (elsewhere, m.selected_step.is_some()) {
                        (Some(run), _) => format!("select {run} to see it ({z} then zooms it)"),
                        // The panes show a browsed timestep; the decode is the latest one's.
                        (None, true) => format!("{} back to the latest timestep shows it ({z} then zooms it)", m.key(Action::Back)),
                        (None, false) => format!("{z} zooms it"),
                    };
                    say(m, format!("x0 at t={t} decoded ({}×{}): {how}", img.width(), img.height()), Level::Info);
                    if let Some(r) = m.run.as_mut() {
                        r.decoded = Some((img, t, m.now));
                    }
                }
                Err(e) => say(m, format!("decoding x0 failed: {e}"), Level::Error),
            }
            vec![]
        }
    }
}

/// A checkpoint whose losses cannot be read is damaged: the item is marked and the way out
/// said now, not when an edit fails on it. (Not while its inversion runs: the file may be
/// replaced under the read.)
fn damaged_checkpoint(m: &mut Model, item: String, why: String) {
    let running = matches!(&m.running, Some(Job::Invert { item: i }) if *i == item);
    let file = m.items().iter().find(|i| i.id == item).and_then(|i| i.inversion.as_ref()).and_then(|r| r.file.clone());
    let Some(file) = file.filter(|f| !running && !m.file_problems.iter().any(|p| &p.file == f)) else { return };
    let p = crate::session::check::FileProblem { item, file, why: format!("cannot be read ({why})") };
    let text = format!("item {}: {}", p.item, super::events::what_to_do(m, &p));
    m.file_problems.push(p);
    say(m, text, Level::Warning);
}

/// A form opens with its cursor at the end of its first field.
pub(super) fn open_form(m: &mut Model, form: Mode) {
    m.cursor_back = 0;
    m.mode = form;
    // The form says what is wrong with it; an older note would only compete (errors stay).
    if m.status.as_ref().is_some_and(|(_, l)| *l != Level::Error) {
        m.status = None;
    }
}

/// How long an information notice stays beside a running job's progress (seconds).
pub const NOTICE_SECS: f64 = 8.0;

pub(super) fn say(m: &mut Model, text: impl Into<String>, level: Level) {
    let text = text.into();
    m.messages.note(&text, level, m.now);
    m.status = Some((text, level));
    m.status_at = m.now;
}

fn action(m: &mut Model, a: Action) -> Vec<Effect> {
    if m.mode == Mode::Help {
        // Moves scroll a help taller than the screen; any other key closes it.
        if !super::navigate::scroll_help(m, a) {
            (m.mode, m.help_scroll) = (Mode::Normal, 0);
        }
        return vec![];
    }
    if m.mode == Mode::Messages {
        if !super::navigate::scroll_messages(m, a) {
            (m.mode, m.messages_top) = (Mode::Normal, None);
        }
        return vec![];
    }
    // Moving about makes an old notice stale (it may describe where the cursor was); what the
    // move itself has to say replaces it. Warnings and errors stay until Esc or the next one.
    let moves = a == Action::NextPane || a == Action::PrevPane || super::navigate::Move::of(a, 1).is_some();
    if moves && m.status.as_ref().is_some_and(|(_, l)| *l == Level::Info) {
        m.status = None;
    }
    let item = m.selected_item().cloned();
    match a {
        Action::Quit if m.running.is_some() => m.mode = Mode::ConfirmQuit,
        Action::Quit => {
            m.quit = true;
            return vec![Effect::Quit];
        }
        Action::Help => (m.mode, m.help_scroll) = (Mode::Help, 0),
        Action::Messages => (m.mode, m.messages_top) = (Mode::Messages, None),
        Action::Back => {
            // Esc also leaves a browsed timestep for the live one.
            m.status = None;
            m.selected_step = None;
        }
        Action::NextPane | Action::PrevPane => {
            let order = [Pane::Session, Pane::Loss, Pane::Preview];
            let at = order.iter().position(|p| *p == m.focus).unwrap_or(0);
            m.focus = order[if a == Action::NextPane { (at + 1) % 3 } else { (at + 2) % 3 }];
        }
        Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::First | Action::Last | Action::PrevStep | Action::NextStep => return super::navigate::navigate(m, a),
        Action::ToggleLog => {
            m.log_scale = !m.log_scale;
            let scale = if m.log_scale { "log" } else { "linear" };
            let shown = if m.run.is_none() { " (none is shown now)" } else { "" };
            say(m, format!("loss charts: {scale} scale{shown}"), Level::Info);
        }
        Action::AddImage => {
            let (form, cursor) = m.add_draft.take().unwrap_or_default();
            open_form(m, Mode::AddImage(form));
            m.cursor_back = cursor;
        }
        Action::NewEdit => match &item {
            Some(it) => super::form_keys::open_edit_form(m, it),
            None => say(m, format!("add an image first ({})", m.key(Action::AddImage)), Level::Warning),
        },
        // Enter takes the session pane's item a step on (an inversion, or an edit of an inverted
        // one); elsewhere it must not start hours of work.
        Action::Confirm if m.focus != Pane::Session => {
            let tab = m.key(Action::NextPane);
            say(m, format!("{} acts on the session pane ({tab} goes there); {} inverts from any pane", m.key(Action::Confirm), m.key(Action::Invert)), Level::Info);
        }
        // A second Enter while the photo just added is being copied in: the selection is not
        // on it yet, so it would act on another item.
        Action::Confirm if m.adding.is_some() => {
            let path = m.adding.as_ref().map(|f| f.path.clone()).unwrap_or_default();
            say(m, format!("adding {path}… (it is selected once it is in the session)"), Level::Info);
        }
        Action::Invert | Action::Confirm => match &item {
            // A damaged checkpoint (not a missing photo) cannot be continued: offer to start over,
            // when that can be done (not over a newer pivot's file, nor without the photo).
            Some(it) if m.inversion_damage(it).is_some_and(|p| m.can_invert_again(p)) => m.mode = Mode::ConfirmRestart(it.id.clone()),
            Some(it) if m.inversion_damage(it).is_some() => {
                if let Some(p) = m.inversion_damage(it).cloned() {
                    say(m, format!("item {}: {}", it.id, super::events::what_to_do(m, &p)), Level::Warning);
                }
            }
            Some(it) if a == Action::Confirm && it.is_inverted() => super::form_keys::open_edit_form(m, it),
            Some(it) if it.is_inverted() => say(m, format!("{} is inverted; {} makes an edit", it.id, m.key(Action::NewEdit)), Level::Info),
            Some(it) if m.running.as_ref().is_some_and(|j| *j == Job::Invert { item: it.id.clone() }) => say(m, format!("{} is being inverted", it.id), Level::Info),
            Some(it) => return super::queue::run_first(m, Job::Invert { item: it.id.clone() }, false),
            None => say(m, format!("add an image first ({})", m.key(Action::AddImage)), Level::Warning),
        },
        Action::PauseResume => return super::queue::pause_resume(m),
        Action::Cancel => return super::queue::cancel(m),
        Action::Retry => return super::queue::retry(m),
        Action::Zoom => return vec![Effect::Zoom(shown_result(m))],
        Action::Decode => return decode(m),
        Action::DeleteItem | Action::EditCaption => match &item {
            // In the preview pane, `d` is about the edit shown there, not the whole photo.
            Some(it) if a == Action::DeleteItem && m.focus == Pane::Preview && shown_edit(m).is_some() => {
                let edit = shown_edit(m).unwrap_or_default();
                match m.running.as_ref() {
                    Some(j) if *j == (Job::Edit { item: it.id.clone(), edit: edit.clone() }) => {
                        say(m, format!("edit {}/{edit} is being made: {} cancels it first", it.id, m.key(Action::Cancel)), Level::Warning)
                    }
                    _ => m.mode = Mode::ConfirmDeleteEdit(it.id.clone(), edit),
                }
            }
            // Nothing else shown there is deleted alone: the whole photo is one `y` too far away.
            Some(it) if a == Action::DeleteItem && m.focus == Pane::Preview => {
                say(m, format!("{d} here deletes the edit shown; to delete {} with its inversion and edits, {d} in the session pane", it.id, d = m.key(Action::DeleteItem)), Level::Info)
            }
            // (A new caption for an item being worked on stops that work: the form says so.)
            Some(it) if a == Action::DeleteItem && m.running.as_ref().is_some_and(|j| j.item() == it.id) => {
                // Cancel, not pause: a pause stops the whole queue and waits for a checkpoint,
                // and what a cancel keeps goes with the item anyway.
                say(m, format!("{} is being worked on: cancel its work first ({}), then {}", it.id, m.key(Action::Cancel), m.key(Action::DeleteItem)), Level::Warning)
            }
            Some(it) if a == Action::DeleteItem => m.mode = Mode::ConfirmDelete(it.id.clone()),
            Some(it) => open_form(m, Mode::Caption(it.id.clone(), it.prompt.clone())),
            None => say(m, "no image selected", Level::Info),
        },
        Action::Find => super::find::open(m),
        Action::FindNext | Action::FindPrev => return super::find::again(m, a == Action::FindNext),
        Action::Save => say(m, format!("session {} is saved as it changes (every timestep, edit and setting)", m.session_name), Level::Info),
    }
    vec![]
}

/// Ask for a full decode of the latest x0 latent.
fn decode(m: &mut Model) -> Vec<Effect> {
    let x0 = m.run.as_ref().and_then(|r| r.x0.clone());
    match (x0, m.decoder.clone()) {
        _ if m.decoding => say(m, "a decode is already under way", Level::Info),
        (Some((latent, t)), Some(decoder)) => {
            m.decoding = true;
            // Only the latest timestep's x0 is kept whole: a browsed one has its preview only.
            let latest = if m.selected_step.is_some() { " (the latest timestep's: a browsed one keeps only its preview)" } else { "" };
            say(m, format!("decoding x0 at t={t} with the VAE{latest}…"), Level::Info);
            return vec![Effect::Decode { latent, t, decoder }];
        }
        (None, _) if m.running.is_none() => {
            let text = format!("{} decodes the predicted x0 while a null-text inversion runs; {} zooms a finished result", m.key(Action::Decode), m.key(Action::Zoom));
            say(m, text, Level::Info)
        }
        // Only null-text timesteps predict an x0 for the preview (npi, ddim and direct have none).
        (None, _) => match m.run.as_ref().filter(|r| r.method != "null-text") {
            Some(r) => {
                let text = format!("{}'s inversion is {}: it has no x0 to decode (null-text timesteps make one)", r.item, r.method);
                say(m, text, Level::Info)
            }
            None => say(m, "nothing to decode yet: x0 appears once a null-text timestep finishes", Level::Info),
        },
        (_, None) => say(m, "the model is still loading", Level::Info),
    }
    vec![]
}

fn input(m: &mut Model, k: InputKey) -> Vec<Effect> {
    match std::mem::replace(&mut m.mode, Mode::Normal) {
        Mode::ConfirmQuit => match k {
            InputKey::Char('y') | InputKey::Enter => {
                m.quit = true;
                vec![Effect::Stop(StopReason::Stop), Effect::Quit]
            }
            _ => vec![],
        },
        Mode::ConfirmDelete(item) => match k {
            InputKey::Char('y') => vec![Effect::Send(Command::RemoveItem { item })],
            _ => vec![],
        },
        Mode::ConfirmDeleteEdit(item, edit) => match k {
            InputKey::Char('y') => {
                // The pane moves to the deleted edit's neighbour, not back to the latest.
                if m.selected_item().is_some_and(|it| it.id == item) {
                    m.shown = super::results::neighbour(m, &format!("edit:{edit}"));
                }
                vec![Effect::Send(Command::RemoveEdit { item, edit })]
            }
            _ => vec![],
        },
        Mode::ConfirmRestart(item) => match k {
            InputKey::Char('y') => super::queue::run_first(m, Job::Invert { item }, true),
            _ => vec![],
        },
        Mode::Caption(item, text) => super::caption::caption_key(m, item, text, k),
        Mode::ConfirmCaption(item, text) => super::caption::confirm_key(m, item, text, k),
        Mode::Find(f) => super::find::key(m, f, k),
        Mode::AddImage(f) => super::form_keys::add_image(m, f, k),
        Mode::Edit(f) => super::form_keys::edit(m, f, k),
        other => {
            m.mode = other;
            vec![]
        }
    }
}
