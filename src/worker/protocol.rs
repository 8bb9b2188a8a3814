//! What the UI (CLI or dashboard) asks of the worker, and what the worker reports back.

use crate::edit::{InnerIteration, StepDone};
use crate::session::check::FileProblem;
use crate::session::manifest::{EditSpec, Job, Manifest};
use std::path::PathBuf;

/// A new photo for the session, with the inversion to run on it.
#[derive(Clone, Debug)]
pub struct NewItem {
    pub image: PathBuf,
    pub prompt: String,
    /// Wanted item id (a fresh one is derived from the file name when `None`).
    pub id: Option<String>,
    pub method: String,
    pub steps: usize,
    pub inner: usize,
    pub guidance: f64,
    pub epsilon: f64,
    /// Fixed-point iterations per DDIM inversion step (0: the plain step).
    pub fixed_point: usize,
}

#[derive(Clone, Debug)]
pub enum Command {
    /// Store the photo in the session and queue its inversion.
    AddItem(NewItem),
    /// Queue edits of a (possibly not yet inverted) item: all of them, or none when one is bad.
    AddEdit { item: String, specs: Vec<EditSpec> },
    /// Remove an item and its files (refused while one of its jobs runs).
    RemoveItem { item: String },
    /// Remove one edit of an item and its picture (refused while it runs).
    RemoveEdit { item: String, edit: String },
    /// Change an item's caption; its inversion starts over (the caption is the source prompt),
    /// staying queued where it was queued and unqueued otherwise.
    SetPrompt { item: String, prompt: String },
    /// Throw away an item's inversion (a damaged checkpoint, say) and queue it from the start;
    /// then, when `run`, run the queue as `RunQueue` does. A refused restart (its photo gone)
    /// runs nothing.
    RestartInversion { item: String, run: bool },
    /// Run these queued jobs in order (until done, paused or cancelled).
    Run(Vec<Job>),
    /// Run the queued jobs, oldest first, until the queue is empty or paused (a cancelled job
    /// leaves the queue and the run goes on). During a run it withdraws a pending pause; one
    /// that already stopped the job in hand is followed by a new run of the queue.
    RunQueue,
    /// Put these unfinished jobs on the queue (at its front when `first`) without starting
    /// anything; a run in progress takes them in queue order.
    Enqueue { jobs: Vec<Job>, first: bool },
    /// Take these jobs off the queue (cancelled: their checkpoints stay, `Enqueue` brings them
    /// back); the job in hand among them stops after its current inner step.
    Dequeue(Vec<Job>),
    /// Load the model now and answer whether it is the session's (the refusal names both).
    LoadModel(std::sync::mpsc::Sender<Result<(), String>>),
    /// Finish the job in hand (if any) and stop the thread.
    Shutdown,
}

/// Which stage of a job is running (for progress displays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    LoadingModel,
    Encoding,
    DdimInversion,
    NullText,
    /// Direct Inversion's offset pass (one guided call a step).
    Offsets,
    Sampling,
    Decoding,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::LoadingModel => "loading model",
            Stage::Encoding => "encoding",
            Stage::DdimInversion => "ddim inversion",
            Stage::NullText => "null-text",
            Stage::Offsets => "direct offsets",
            Stage::Sampling => "sampling",
            Stage::Decoding => "decoding",
        }
    }

    /// The label as seen in a job: its sampling stage is an inversion's reconstruction or an edit.
    pub fn label_in(self, job: &Job) -> &'static str {
        match (self, job) {
            (Stage::Sampling, Job::Invert { .. }) => "reconstruction",
            (Stage::Sampling, Job::Edit { .. }) => "editing",
            _ => self.label(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Event {
    /// The session as just committed (after every change the worker makes).
    Manifest(Box<Manifest>),
    /// The model is loaded: its description and the device it runs on.
    ModelReady { model: String, device: String, decoder: super::Decoder },
    /// An item was added (its id).
    ItemAdded { item: String },
    /// An edit was queued.
    EditAdded { item: String, edit: String },
    JobStarted { job: Job },
    Stage { job: Job, stage: Stage, total_steps: usize },
    /// One inner iteration of null-text optimisation.
    Inner(InnerIteration),
    /// A finished timestep of an inversion (inner losses, iterations used, x0 preview).
    Timestep { done: StepDone, losses: Vec<f32> },
    /// A timestep (or a whole cheap inversion) is safely in the session.
    Checkpoint { item: String, completed: usize, steps: usize },
    /// One sampling step of an edit or reconstruction.
    SampleStep { job: Job, step: usize, total: usize },
    /// A job finished; `outputs` are absolute paths of the images it wrote.
    JobDone { job: Job, summary: String, outputs: Vec<PathBuf> },
    /// Stopped on request; the job stays queued and resumes from its last checkpoint.
    Paused { job: Job },
    /// Stopped on request and removed from the queue (its checkpoints stay).
    Cancelled { job: Job },
    /// The item's caption changed while one of its jobs ran: that job stopped (it stays queued),
    /// the inversion starts over, and the run goes on.
    Recaptioned { item: String },
    /// The job failed; it stays queued (retry with RunQueue) unless the failure is in its input.
    Failed { job: Option<Job>, message: String },
    /// Something the user should know that stops nothing (a truncated prompt, say).
    Warning(String),
    /// What a command did that the UI could not know beforehand (where a restart put the old
    /// checkpoint, say).
    Note(String),
    /// Files the session refers to that are missing or damaged, found when the worker started.
    FileProblems(Vec<FileProblem>),
    /// The queue is empty or stopped; the worker waits for commands.
    Idle,
}
