//! The event loop: keys and worker events → `update` → effects; redraw on change (keys at once,
//! worker events capped at 15 fps). The loop never waits on the worker.

use super::keymap::Keymap;
use super::state::{Level, Model};
use super::update::{update, wants_text, Effect, InputKey, Msg};
use super::view::dashboard::{draw, Look};
use crate::session::manifest::Manifest;
use crate::worker::{StopReason, WorkerHandle};
use anyhow::Result;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Terminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

/// Where keys come from: the terminal, or a script (benchmarks, tests).
pub trait Input {
    /// The next key within `timeout`, if any. `Ok(None)` on timeout or a non-key event.
    fn next(&mut self, timeout: Duration) -> Result<Option<KeyEvent>>;
    /// Show a picture full size in place of the frame, with a line saying what it is (only a
    /// real terminal can). `Some(note)` when no picture was shown, for the status line.
    fn zoom(&mut self, _img: &image::RgbImage, _what: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// Ctrl-Z: give the terminal back and stop the process until the shell continues it (only a
    /// real terminal can). `Ok(false)` when nothing could take it back: no job control here.
    fn suspend(&mut self) -> Result<bool> {
        Ok(true)
    }
    /// Ring the terminal's bell (only a real terminal can).
    fn bell(&mut self) -> Result<()> {
        Ok(())
    }
    /// Text pasted in one piece since the last key, taken (only a terminal with bracketed paste
    /// has any; its `next` then wakes the loop).
    fn take_paste(&mut self) -> Option<String> {
        None
    }
}

/// Sees the model and the draw time after every frame.
pub type FrameHook<'a> = dyn FnMut(&Model, Duration) + 'a;

/// Redraw at least this often while a job runs (it/s and ETA move).
const RUNNING_REFRESH: Duration = Duration::from_millis(250);

/// How often the photo copies are looked at (one deleted, or put back).
const MISSING_RECHECK: Duration = Duration::from_secs(2);

pub struct Loop<'a> {
    pub model: Model,
    pub keys: &'a Keymap,
    pub look: Look<'a>,
    pub session_dir: PathBuf,
    pub started: Instant,
    /// The shortest time between two redraws (config.toml's `fps`).
    pub frame: Duration,
    /// Called after every frame (benchmarks measure with it).
    pub on_frame: Option<&'a mut FrameHook<'a>>,
    /// The screen was used outside the frame (zoom): clear before the next draw.
    pub cleared: bool,
    pub log: Option<super::log::EventLog>,
    /// Answers of work done off the UI thread (decodes).
    pub replies: Replies,
}

/// A channel for answers from helper threads, drained by the loop like worker events.
pub struct Replies {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    /// Checkpoints whose losses to read, on one thread that reads only the latest asked for:
    /// holding `j` through a long session asks for dozens, of which only the last is shown.
    losses: Sender<(PathBuf, String)>,
}

impl Default for Replies {
    fn default() -> Self {
        let (tx, rx) = channel();
        let (losses, asked) = channel::<(PathBuf, String)>();
        let answers = tx.clone();
        std::thread::spawn(move || {
            while let Ok(mut next) = asked.recv() {
                while let Ok(later) = asked.try_recv() {
                    next = later;
                }
                if answers.send(read_losses(&next.0, next.1)).is_err() {
                    break;
                }
            }
        });
        Self { tx, rx, losses }
    }
}

impl Replies {
    /// Runs `work` on a helper thread; its answer (if any) reaches `update` on a later turn.
    fn answer(&self, work: impl FnOnce() -> Option<Msg> + Send + 'static) {
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            if let Some(msg) = work() {
                let _ = tx.send(msg);
            }
        });
    }
}

fn translate(m: &Model, keys: &Keymap, k: &KeyEvent) -> Option<Msg> {
    if wants_text(m) {
        if k.modifiers.contains(KeyModifiers::CONTROL) {
            // Never typed as letters: Ctrl-C closes a form (and confirms a quit), Ctrl-W/U edit.
            return match k.code {
                KeyCode::Char('c') if m.mode == super::state::Mode::ConfirmQuit => Some(Msg::Input(InputKey::Char('y'))),
                KeyCode::Char('c') => Some(Msg::Input(InputKey::Esc)),
                KeyCode::Char('w') | KeyCode::Backspace => Some(Msg::Input(InputKey::DeleteWord)),
                KeyCode::Char('u') => Some(Msg::Input(InputKey::ClearField)),
                KeyCode::Char('a') => Some(Msg::Input(InputKey::Home)),
                KeyCode::Char('e') => Some(Msg::Input(InputKey::End)),
                _ => None,
            };
        }
        let key = match k.code {
            KeyCode::Char(c) => InputKey::Char(c),
            KeyCode::Backspace => InputKey::Backspace,
            KeyCode::Enter => InputKey::Enter,
            KeyCode::Esc => InputKey::Esc,
            KeyCode::Tab => InputKey::Tab,
            KeyCode::Up => InputKey::Up,
            KeyCode::Down => InputKey::Down,
            KeyCode::BackTab => InputKey::Up,
            KeyCode::Left => InputKey::Left,
            KeyCode::Right => InputKey::Right,
            KeyCode::Home => InputKey::Home,
            KeyCode::End => InputKey::End,
            KeyCode::Delete => InputKey::Delete,
            _ => return None,
        };
        return Some(Msg::Input(key));
    }
    // Any key closes the help, but a resize (delivered as a Null key) only redraws it.
    let closes_help = matches!(m.mode, super::state::Mode::Help | super::state::Mode::Messages) && k.code != KeyCode::Null;
    let unbound = match k.code {
        _ if k.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) || m.mode != super::state::Mode::Normal => None,
        KeyCode::Char(' ') => Some(Msg::Unbound("space".into())),
        KeyCode::Char(c) => Some(Msg::Unbound(c.to_string())),
        // Keys a user may reach for (to delete, to go back a page) say so too.
        KeyCode::Backspace | KeyCode::Delete | KeyCode::Insert => Some(Msg::Unbound(format!("{:?}", k.code).to_lowercase())),
        KeyCode::F(n) => Some(Msg::Unbound(format!("F{n}"))),
        _ => None,
    };
    keys.action(k).map(Msg::Action).or_else(|| closes_help.then_some(Msg::Action(super::keymap::Action::Back))).or(unbound)
}

/// The item's checkpoint file, if it has one.
fn checkpoint_of(dir: &Path, manifest: Option<&Manifest>, item: &str) -> Option<PathBuf> {
    Some(dir.join(manifest?.item(item)?.inversion.as_ref()?.file.as_ref()?))
}

fn read_losses(path: &Path, item: String) -> Msg {
    match crate::session::loss_read::finished_losses(path) {
        Ok((losses, iterations)) => Msg::Losses { item, losses, iterations },
        Err(e) => Msg::LossesUnreadable { item, why: format!("{e:#}") },
    }
}

impl Loop<'_> {
    fn apply(&mut self, effects: Vec<Effect>, worker: &WorkerHandle, input: &mut dyn Input) -> Result<()> {
        let mut queue = effects;
        while let Some(e) = (!queue.is_empty()).then(|| queue.remove(0)) {
            let reply = match e {
                Effect::Send(c) => {
                    worker.send(c);
                    None
                }
                Effect::Stop(r) => {
                    worker.stop(r);
                    None
                }
                Effect::Cancel(jobs) => {
                    worker.cancel(jobs);
                    None
                }
                Effect::LoadImage(rel) => image::open(self.session_dir.join(&rel)).ok().map(|img| Msg::Image { rel, image: img.to_rgb8() }),
                Effect::LoadLosses(item) => {
                    // Read off the UI thread: a disk may be slow.
                    if let Some(path) = checkpoint_of(&self.session_dir, self.model.manifest.as_ref(), &item) {
                        let _ = self.replies.losses.send((path, item));
                    }
                    None
                }
                Effect::Zoom(rel) => {
                    let open = |r: &str| image::open(self.session_dir.join(r)).ok().map(|i| i.to_rgb8());
                    let img = super::zoom_choice::picture(&self.model, rel.as_deref(), &open);
                    match img {
                        Some((img, what)) => match input.zoom(&img, &what)? {
                            Some(note) => super::update::say(&mut self.model, note, super::state::Level::Info),
                            None => self.cleared = true,
                        },
                        None => {
                            let add = self.model.key(super::keymap::Action::AddImage);
                            super::update::say(&mut self.model, format!("nothing to zoom: add a photo ({add})"), super::state::Level::Info);
                        }
                    }
                    None
                }
                Effect::Decode { latent, t, decoder } => {
                    // A full decode takes seconds on a CPU: never on the UI thread.
                    self.replies.answer(move || Some(Msg::Decoded { t, image: decoder.decode(&latent).map_err(|e| format!("{e:#}")) }));
                    None
                }
                Effect::CompletePath(typed) => Some(Msg::Completed(super::form::complete_path(&typed))),
                Effect::Bell => {
                    // Best effort: a terminal gone is noticed by the next read.
                    let _ = input.bell();
                    None
                }
                Effect::Quit => None,
            };
            if let Some(msg) = reply {
                queue.extend(update(&mut self.model, msg));
            }
        }
        Ok(())
    }

    /// `msg` (not a worker event: those are logged as they come) folded into the model; a warning
    /// or error it puts on the status line goes to the log too, there after the screen moved on.
    fn fold(&mut self, msg: Msg) -> Vec<Effect> {
        let before = self.model.status.clone();
        let fx = update(&mut self.model, msg);
        if let (Some(log), Some((text, level))) = (self.log.as_mut(), &self.model.status) {
            if matches!(level, Level::Warning | Level::Error) && self.model.status != before {
                log.note(&format!("dashboard: {text}"));
            }
        }
        fx
    }

    /// Run until the user quits or a stop signal arrives.
    pub fn run<B: Backend>(&mut self, terminal: &mut Terminal<B>, worker: &WorkerHandle, input: &mut dyn Input) -> Result<()>
    where
        B::Error: Send + Sync + 'static,
    {
        let mut dirty = true;
        let mut key_pending = false;
        let mut last_draw = Instant::now() - self.frame;
        let mut last_recheck = Instant::now();
        let mut watch = super::photo_watch::PhotoWatch::default();
        loop {
            if last_recheck.elapsed() >= MISSING_RECHECK {
                last_recheck = Instant::now();
                let seen = watch.look(&self.session_dir, &self.model);
                if !seen.is_empty() {
                    let fx = self.fold(Msg::FilesSeen(seen));
                    self.apply(fx, worker, input)?;
                    dirty = true;
                }
            }
            while let Ok(e) = worker.events().try_recv() {
                if let Some(log) = self.log.as_mut() {
                    log.record(&e);
                }
                let fx = update(&mut self.model, Msg::Worker(e));
                self.apply(fx, worker, input)?;
                dirty = true;
            }
            while let Ok(msg) = self.replies.rx.try_recv() {
                let fx = self.fold(msg);
                self.apply(fx, worker, input)?;
                dirty = true;
            }
            if crate::signals::received().is_some() {
                worker.stop(StopReason::Stop);
                return Ok(());
            }
            // The messages window's ages move too, a second at a time.
            let ages = self.model.mode == super::state::Mode::Messages && last_draw.elapsed() >= Duration::from_secs(1);
            let periodic = (self.model.running.is_some() && last_draw.elapsed() >= RUNNING_REFRESH.max(self.frame)) || ages;
            if (dirty && (key_pending || last_draw.elapsed() >= self.frame)) || periodic {
                update(&mut self.model, Msg::Tick { now: self.started.elapsed().as_secs_f64() });
                if std::mem::take(&mut self.cleared) {
                    super::terminal::clear(terminal)?;
                }
                let t0 = Instant::now();
                let frame = terminal.draw(|f| draw(f, &self.model, &self.look))?;
                self.model.screen = frame.area;
                if let Some(cb) = self.on_frame.as_mut() {
                    cb(&self.model, t0.elapsed());
                }
                last_draw = Instant::now();
                dirty = false;
                key_pending = false;
            }
            if self.model.quit {
                return Ok(());
            }
            let wait = if dirty { self.frame.saturating_sub(last_draw.elapsed()) } else { Duration::from_millis(50) };
            if let Some(k) = input.next(wait.max(Duration::from_millis(1)))? {
                if let Some(text) = input.take_paste() {
                    let fx = self.fold(Msg::Paste(text));
                    self.apply(fx, worker, input)?;
                    (dirty, key_pending) = (true, true);
                    continue;
                }
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                // Ctrl-L, as in a shell: draw everything again (after another program wrote over
                // the screen).
                let ctrl = |c| k.code == KeyCode::Char(c) && k.modifiers.contains(KeyModifiers::CONTROL);
                if ctrl('l') || ctrl('z') {
                    if ctrl('z') {
                        // The job stops with the process and goes on when it is continued (`fg`).
                        let stopped = Instant::now();
                        if !input.suspend()? {
                            super::update::say(&mut self.model, "ctrl-z: nothing here takes pivot to the background (it was not started from a shell with job control); q quits", Level::Info);
                        }
                        // The dashboard's clock skips the stop, or rates and ETAs would count it.
                        self.started += stopped.elapsed();
                    }
                    self.cleared = true;
                    dirty = true;
                    key_pending = true;
                    continue;
                }
                if let Some(msg) = translate(&self.model, self.keys, &k) {
                    let fx = self.fold(msg);
                    self.apply(fx, worker, input)?;
                }
                dirty = true;
                key_pending = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::state::{AddForm, Mode};

    #[test]
    fn control_keys_in_a_form_are_never_typed() {
        let keys = Keymap::default();
        let mut m = Model::new("s", false);
        m.mode = Mode::AddImage(AddForm::default());
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        assert!(matches!(translate(&m, &keys, &ctrl('c')), Some(Msg::Input(InputKey::Esc))));
        assert!(matches!(translate(&m, &keys, &ctrl('w')), Some(Msg::Input(InputKey::DeleteWord))));
        assert!(translate(&m, &keys, &ctrl('x')).is_none());
        m.mode = Mode::ConfirmQuit;
        assert!(matches!(translate(&m, &keys, &ctrl('c')), Some(Msg::Input(InputKey::Char('y')))), "Ctrl-C twice quits");
    }

    #[test]
    fn a_letter_bound_to_nothing_says_so() {
        let mut keys = Keymap::default();
        keys.apply("quit = [\"Q\"]").unwrap();
        let mut m = Model::new("s", false);
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert!(matches!(translate(&m, &keys, &key('Q')), Some(Msg::Action(crate::tui::keymap::Action::Quit))));
        let Some(msg @ Msg::Unbound(_)) = translate(&m, &keys, &key('q')) else { panic!("q is bound to nothing now") };
        m.keys = keys.clone();
        update(&mut m, msg);
        assert!(m.status.as_ref().is_some_and(|(s, _)| s == "q does nothing here: ? lists the keys"), "{:?}", m.status);
        // Ctrl with a letter is not typing: no notice for it.
        assert!(translate(&m, &keys, &KeyEvent::new(KeyCode::Char('x'), KeyModifiers::CONTROL)).is_none());
        // Backspace is bound to nothing and says so; Delete deletes, as d does.
        let Some(msg @ Msg::Unbound(_)) = translate(&m, &keys, &KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)) else { panic!("backspace") };
        update(&mut m, msg);
        assert!(m.status.as_ref().is_some_and(|(s, _)| s == "backspace does nothing here: ? lists the keys"), "{:?}", m.status);
        assert!(matches!(translate(&m, &keys, &KeyEvent::new(KeyCode::Delete, KeyModifiers::NONE)), Some(Msg::Action(crate::tui::keymap::Action::DeleteItem))));
    }

    #[test]
    fn a_warning_the_dashboard_gives_itself_is_logged_once_its_notices_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, theme) = (Keymap::default(), crate::tui::theme::Theme::built_in("default").unwrap());
        let look = Look { theme: &theme, keys: &keys, graphics: crate::tui::view::dashboard::Graphics::None };
        let log = crate::tui::log::EventLog::open(dir.path());
        let path = log.as_ref().unwrap().path.clone();
        let mut looped = Loop { model: Model::new("s", false), keys: &keys, look, session_dir: dir.path().into(), started: Instant::now(), frame: Duration::from_millis(30), on_frame: None, cleared: false, log, replies: Default::default() };
        use crate::tui::keymap::Action;
        looped.fold(Msg::Action(Action::NewEdit)); // no photo yet: a warning
        looped.fold(Msg::Action(Action::NewEdit)); // the same one again: not a second line
        looped.fold(Msg::Action(Action::Retry)); // a notice
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(text.matches("dashboard: add an image first").count(), 1, "{text}");
        assert!(!text.contains("retry"), "{text}");
    }
}
