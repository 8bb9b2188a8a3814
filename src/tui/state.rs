//! What the dashboard shows: plain data folded from keys and worker events by `update`.

use crate::session::check::FileProblem;
use crate::session::manifest::{Item, Job, Manifest};
use crate::worker::Stage;
use super::keymap::{Action, Keymap};
use image::RgbImage;
pub use super::form_fields::{AddForm, EditForm};

/// Serialised (lower case) for the spot a session's dashboard reopens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pane {
    Session,
    Loss,
    Preview,
}

#[derive(Clone, Debug, PartialEq)]
pub enum JobState {
    Queued,
    Running,
    Paused,
    Done,
    Failed(String),
    Cancelled,
}

/// Live view of the inversion being run (kept after it ends, for the loss pane).
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub item: String,
    /// The inversion method (`null-text`, `npi`, `ddim`): only null-text has losses.
    pub method: String,
    pub stage: Option<Stage>,
    pub total: usize,
    /// Finished timesteps.
    pub done: usize,
    /// Inner iteration (1-based) of the running timestep.
    pub inner: usize,
    pub inner_max: usize,
    pub epsilon: f64,
    pub last_loss: Option<f32>,
    pub threshold: f64,
    /// Inner losses per timestep (index = sampling step).
    pub losses: Vec<Vec<f32>>,
    pub iterations: Vec<usize>,
    /// UNet evaluations (inner iterations, or steps of cheap stages) since the stage began.
    pub evaluations: usize,
    pub stage_started: f64,
    /// When the first step of this run finished and how many were done then (the ETA excludes
    /// the warm-up before it, and steps a resumed run did not do).
    pub first_step_at: Option<(f64, usize)>,
    pub last_step_at: f64,
    pub preview: Option<RgbImage>,
    pub preview_t: usize,
    /// Every timestep's x0 preview and t this dashboard saw (index = sampling step), for the
    /// timestep browsed with `[ ]` (small: 64×64 for SD1.5).
    pub previews: Vec<Option<(RgbImage, usize)>>,
    /// When the shown preview arrived (`Model::now`).
    pub preview_at: f64,
    /// The latest predicted x0 latent and its t (what `f` decodes).
    pub x0: Option<(candle_core::Tensor, usize)>,
    /// A full VAE decode of x0, its t and when it arrived; shown in place of the latent
    /// preview until newer timesteps have arrived for a few seconds.
    pub decoded: Option<(RgbImage, usize, f64)>,
    /// Reading the losses back from the checkpoint failed (the loss pane says so, not "loading").
    pub losses_unreadable: bool,
}

impl Run {
    /// The timestep titles name: while null-text runs, the one being optimised (1-based), which
    /// the inner count and the loss pane refer to; otherwise how many are finished.
    pub fn named_step(&self, running: bool) -> usize {
        if running && self.stage == Some(Stage::NullText) {
            (self.done + 1).min(self.total)
        } else {
            self.done
        }
    }

    /// The x0 preview of timestep `step`, when this dashboard saw it.
    pub fn preview_at(&self, step: usize) -> Option<(&RgbImage, usize)> {
        self.previews.get(step).and_then(|p| p.as_ref()).map(|(img, t)| (img, *t))
    }

    /// The inner losses of timestep `step` (rows up to it are created empty).
    pub fn losses_at(&mut self, step: usize) -> &mut Vec<f32> {
        if self.losses.len() <= step {
            self.losses.resize(step + 1, Vec::new());
        }
        &mut self.losses[step]
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Normal,
    Help,
    /// The status line's recent messages (see [`super::messages`]).
    Messages,
    AddImage(AddForm),
    Edit(EditForm),
    ConfirmQuit,
    /// Asking before deleting this item.
    ConfirmDelete(String),
    /// Asking before deleting this edit of this item.
    ConfirmDeleteEdit(String, String),
    /// Throw away an item's (damaged) inversion and start it again?
    ConfirmRestart(String),
    /// Editing an item's caption: (item, text).
    Caption(String, String),
    /// A new caption for an item whose inversion is finished: throw that away? (item, text).
    ConfirmCaption(String, String),
    /// The find line (`/`) is open.
    Find(super::find::Finding),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

pub struct Model {
    pub session_name: String,
    pub manifest: Option<Manifest>,
    pub selected: usize,
    /// The result (`recon` or `edit:<id>`, see `results::Entry`) chosen with `j/k` in the preview
    /// pane; `None` shows the latest.
    pub shown: Option<String>,
    pub focus: Pane,
    pub mode: Mode,
    pub jobs: super::job_states::JobStates,
    pub running: Option<Job>,
    pub run: Option<Run>,
    /// Sampling progress of an edit / reconstruction (step, total).
    pub sampling: Option<(usize, usize)>,
    pub status: Option<(String, Level)>,
    /// When the status message was said (`now`): notices expire while a job runs.
    pub status_at: f64,
    /// Everything the status line said lately, for the messages window.
    pub messages: super::messages::Messages,
    /// The message at the top of the messages window once scrolled back (`None`: the newest
    /// at the bottom). A message, not a row: a resize re-wraps them and it stays on top.
    pub messages_top: Option<usize>,
    /// The queue runs (`p` toggles it): work added then starts in turn; when false, added work
    /// waits for `p`. Starts false: the dashboard never starts work before being asked.
    pub queue_running: bool,
    /// The queue was asked to run while a pause was pending: if the job in hand stopped first,
    /// the worker runs the queue again after it.
    pub resume_asked: bool,
    /// Ring the terminal's bell when a run is over or a job fails (config.toml `bell`): tmux
    /// flags the window, so a run left in another window or a detached session gets noticed.
    pub bell: bool,
    /// The last job to stop finished (it was not paused, cancelled or failed): an idle worker
    /// after it means the run is over.
    pub last_job_done: bool,
    /// The bell rang during this run (a failure): the run's end does not ring again.
    pub bell_rung: bool,
    /// The keymap, for hints that name the key bound to an action.
    pub keys: Keymap,
    pub log_scale: bool,
    pub selected_step: Option<usize>,
    pub model_name: String,
    pub device: String,
    /// The session runs the random-weight built-in model.
    pub demo: bool,
    /// The demo session's own edit was asked for as the dashboard opened (its notice names both).
    pub demo_edit_pending: bool,
    /// Decoded images by session-relative path.
    pub images: super::image_cache::ImageCache,
    /// Seconds since the dashboard started (from ticks; keeps `update` pure).
    pub now: f64,
    pub quit: bool,
    /// Key hint for the status line (from the keymap).
    pub help_key: String,
    /// How far the help window is scrolled (a list taller than the screen).
    pub help_scroll: usize,
    /// The screen's size at the last frame (80×24 until the first), for what scrolls.
    pub screen: ratatui::layout::Rect,
    /// Items the session pane's list showed at the last frame (0 until the first): a page. The
    /// view, which alone knows the pane's room, sets it as it draws.
    pub list_rows: std::cell::Cell<usize>,
    /// Decodes latents with the session's VAE (from the worker once the model is loaded).
    pub decoder: Option<crate::worker::Decoder>,
    /// A decode is under way.
    pub decoding: bool,
    /// The add-image form as submitted, until the worker adds the item (a refusal reopens it).
    pub adding: Option<AddForm>,
    /// The edit form as submitted, until the worker adds the edit (a refusal reopens it).
    pub submitted_edit: Option<EditForm>,
    /// A form closed with Esc after something was typed in it, with its cursor (characters
    /// before the field's end): opening it again brings both back.
    pub add_draft: Option<(AddForm, usize)>,
    /// One per item: a look at another item's form keeps this one's.
    pub edit_drafts: Vec<(EditForm, usize)>,
    /// Queued edits cancelled along with the running inversion of their item, until the worker
    /// has stopped it (its notice names them).
    pub cancelled_along: Vec<Job>,
    /// Files the worker found missing or damaged when it opened the session.
    pub file_problems: Vec<FileProblem>,
    /// The text cursor of the form field being typed in, in characters from the field's end.
    pub cursor_back: usize,
    /// Where the last dashboard on this session was, taken up when the first manifest arrives.
    pub restore: Option<super::spot::Spot>,
    /// The last search kept with Enter, for `n` / `N`.
    pub found: Option<String>,
}

impl Model {
    pub fn new(session_name: &str, demo: bool) -> Self {
        Self {
            session_name: session_name.into(),
            manifest: None,
            selected: 0,
            shown: None,
            focus: Pane::Session,
            mode: Mode::Normal,
            jobs: Default::default(),
            running: None,
            run: None,
            sampling: None,
            status: None,
            status_at: 0.0,
            messages: Default::default(),
            messages_top: None,
            queue_running: false,
            resume_asked: false,
            bell: false,
            last_job_done: false,
            bell_rung: false,
            keys: Keymap::default(),
            log_scale: true,
            selected_step: None,
            model_name: String::new(),
            device: String::new(),
            demo,
            demo_edit_pending: false,
            images: Default::default(),
            now: 0.0,
            quit: false,
            help_key: "?".into(),
            help_scroll: 0,
            screen: ratatui::layout::Rect::new(0, 0, 80, 24),
            list_rows: Default::default(),
            decoder: None,
            decoding: false,
            adding: None,
            submitted_edit: None,
            add_draft: None,
            edit_drafts: Vec::new(),
            cancelled_along: Vec::new(),
            file_problems: Vec::new(),
            cursor_back: 0,
            restore: None,
            found: None,
        }
    }

    /// The key bound first to `action`, for hints ("p pauses").
    pub fn key(&self, action: Action) -> String {
        self.keys.first_key(action)
    }

    pub fn items(&self) -> &[Item] {
        self.manifest.as_ref().map(|m| m.items.as_slice()).unwrap_or(&[])
    }

    pub fn selected_item(&self) -> Option<&Item> {
        self.items().get(self.selected)
    }

    pub fn job_state(&self, job: &Job) -> Option<&JobState> {
        self.jobs.get(job)
    }

    pub fn set_job(&mut self, job: &Job, state: JobState) {
        self.jobs.set(job, state);
    }

    /// One word for an item's state in the session pane.
    pub fn item_state(&self, item: &Item) -> String {
        let job = Job::Invert { item: item.id.clone() };
        if self.running.as_ref() == Some(&job) {
            // The stage's own progress: the DDIM pass is not the inversion's, and null-text
            // names the step being optimised, as the titles do.
            if let Some((step, total)) = self.sampling {
                // The inversion is whole: its reconstruction is being sampled.
                return format!("recon {step}/{total}");
            }
            return match self.run.as_ref().filter(|r| r.item == item.id && r.total > 0) {
                None => "starting".into(),
                // For npi and ddim items the DDIM pass is the whole inversion ("ddim" would read
                // as the method).
                Some(r) if r.stage == Some(Stage::DdimInversion) && matches!(r.method.as_str(), "npi" | "ddim") => format!("inverting {}/{}", r.done, r.total),
                Some(r) if r.stage == Some(Stage::DdimInversion) => format!("ddim {}/{}", r.done, r.total),
                Some(r) if r.stage == Some(Stage::Offsets) => format!("offsets {}/{}", r.done, r.total),
                Some(r) => format!("inverting {}/{}", r.named_step(true), r.total),
            };
        }
        if let Some(p) = self.damage_of(item) {
            // "missing" only when it is: a truncated photo is a damaged one.
            let gone = p.is_missing();
            return match (p.file == item.image, gone) {
                (true, true) => "photo missing".into(),
                (true, false) => "photo damaged".into(),
                // Whole, but this pivot cannot read it.
                (false, _) if p.is_newer_format() => "newer file".into(),
                (false, _) => "damaged".into(),
            };
        }
        match (self.job_state(&job), &item.inversion) {
            (Some(JobState::Failed(_)), _) => "failed".into(),
            _ if item.is_inverted() => "inverted".into(),
            // Stopped while sampling the reconstruction: the inversion is whole, its job is not.
            (state, Some(r)) if r.is_done() => match state {
                // A paused job stays first on the queue: paused is what it is.
                Some(JobState::Paused) => "paused".into(),
                // Every timestep is kept: only the reconstruction waits (not "queued", which
                // reads as an inversion to come).
                _ if self.queue().contains(&job) => "recon queued".into(),
                Some(JobState::Cancelled) => "cancelled".into(),
                _ => "no recon".into(),
            },
            (Some(JobState::Paused), Some(r)) => format!("paused {}/{}", r.completed_steps, r.steps),
            (_, Some(r)) if r.completed_steps > 0 && self.queue().contains(&job) => format!("queued {}/{}", r.completed_steps, r.steps),
            (_, Some(r)) if r.completed_steps > 0 => format!("resumable {}/{}", r.completed_steps, r.steps),
            _ if self.queue().contains(&job) => "queued".into(),
            (Some(JobState::Cancelled), _) => "cancelled".into(),
            _ => "new".into(),
        }
    }

    /// The session's queued jobs, in order (empty before the first manifest).
    pub fn queue(&self) -> &[Job] {
        self.manifest.as_ref().map(|s| s.queue.as_slice()).unwrap_or(&[])
    }

    /// A problem with the item's photo or its current inversion file (a later checkpoint under a
    /// new name supersedes a damaged one).
    pub fn damage_of(&self, item: &Item) -> Option<&FileProblem> {
        let inversion = item.inversion.as_ref().and_then(|r| r.file.as_deref());
        self.file_problems.iter().find(|p| p.item == item.id && (p.file == item.image || Some(p.file.as_str()) == inversion))
    }

    /// A problem with the item's current inversion file (not its photo): every job of the item
    /// fails on it the same way until the item is inverted again.
    pub fn inversion_damage(&self, item: &Item) -> Option<&FileProblem> {
        self.damage_of(item).filter(|p| p.file != item.image)
    }

    /// Whether the item of a problem with its inversion file can be inverted again: its file is
    /// not a newer pivot's (a restart would throw that away) and its photo copy is there.
    pub fn can_invert_again(&self, p: &FileProblem) -> bool {
        let photo_lost = self.items().iter().find(|i| i.id == p.item).is_some_and(|i| self.file_problems.iter().any(|q| q.item == i.id && q.file == i.image));
        !p.is_newer_format() && !photo_lost
    }

    /// The key that gets the item's failed work going again, if one does, and the way on in
    /// words: `r` retries, but a damaged inversion file fails every job the same way until `i`
    /// inverts the item again (when it can be: not a newer pivot's file, nor with its photo lost).
    pub fn way_on(&self, item: &str) -> (Option<String>, String) {
        match self.items().iter().find(|i| i.id == item).and_then(|i| self.inversion_damage(i)) {
            None => (Some(self.key(Action::Retry)), format!("{} retries", self.key(Action::Retry))),
            Some(p) if self.can_invert_again(p) => (Some(self.key(Action::Invert)), format!("{} inverts the item again", self.key(Action::Invert))),
            Some(p) if p.is_newer_format() => (None, "update pivot: a newer one wrote its inversion file".into()),
            Some(_) => (Some(self.key(Action::DeleteItem)), format!("its photo copy is lost too: {} deletes the item", self.key(Action::DeleteItem))),
        }
    }

    /// The stage of the item's running inversion when that stage keeps no checkpoint (the DDIM
    /// pass, Direct's offsets): a pause waits for its end, a cancel loses it.
    pub fn stage_without_checkpoint(&self, item: &str) -> Option<Stage> {
        self.run.as_ref().filter(|r| r.item == item).and_then(|r| r.stage).filter(|s| matches!(s, Stage::DdimInversion | Stage::Offsets))
    }
}

/// A job as the dashboard names it: `invert dog`, `edit cat/e2`.
pub fn job_label(job: &Job) -> String {
    match job {
        Job::Invert { item } => format!("invert {item}"),
        Job::Edit { item, edit } => format!("edit {item}/{edit}"),
    }
}
