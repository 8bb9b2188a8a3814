//! The job runner: a thread that owns the device, the loaded model and the open session, takes
//! [`Command`]s and reports [`Event`]s. The CLI and the dashboard drive the same worker, so one
//! code path runs every inversion and edit. It is the session's only writer while it runs.

pub mod decoder;
mod edit_job;
pub mod edit_spec;
mod invert_job;
mod jobs;
pub mod protocol;

pub use decoder::Decoder;
pub use protocol::{Command, Event, NewItem, Stage};

use crate::edit::CancelToken;
use crate::sd::source::ModelSource;
use crate::session::manifest::Job;
use crate::session::store::Session;
use candle_core::Device;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Why the running job was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Stop at the next timestep boundary (right after a checkpoint, so nothing is redone);
    /// the job stays queued.
    Pause,
    /// Stop at the next check (between inner iterations); the job stays queued and resumes from
    /// its last checkpoint. For signals and quitting.
    Stop,
    /// Drop the job from the queue (its checkpoints stay).
    Cancel,
}

/// The stop request shared by the handle and the thread.
#[derive(Clone, Default)]
pub(crate) struct Interrupt {
    token: CancelToken,
    reason: Arc<AtomicU8>,
    /// The worker is running jobs: a request then belongs to that run and must not be cleared
    /// by a command that only adds to it.
    busy: Arc<AtomicBool>,
    /// The job in hand: a cancel names its job, and must never stop another one.
    current: Arc<Mutex<Option<Job>>>,
}

impl Interrupt {
    /// Cancel `job` if it is the job in hand, checked and asked under the lock the worker takes
    /// to change jobs.
    fn cancel_if_current(&self, job: &Job) {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref() == Some(job) {
            self.request(StopReason::Cancel);
        }
    }

    /// Mark the job in hand (`None` when it ended). A cancel that arrived for a job that ended
    /// on its own is dropped: it must not stop the next one.
    pub(crate) fn set_current(&self, job: Option<Job>) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if job.is_none() && self.reason() == Some(StopReason::Cancel) {
            self.clear();
        }
        *current = job;
    }

    fn request(&self, r: StopReason) {
        // A stronger request wins over a pending pause.
        let code = match r {
            StopReason::Pause => 1,
            StopReason::Stop => 3,
            StopReason::Cancel => 2,
        };
        self.reason.fetch_max(code, Ordering::SeqCst);
        if r != StopReason::Pause {
            self.token.cancel();
        }
    }

    /// Withdraw a pending pause that has not yet stopped the job in hand (a cancel or stop
    /// stays). Only the worker thread calls this and `at_boundary`, so the two cannot cross.
    pub(crate) fn withdraw_pause(&self) -> bool {
        !self.token.is_cancelled() && self.reason.compare_exchange(1, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// At a timestep boundary: turn a pending pause into a stop.
    pub(crate) fn at_boundary(&self) {
        if self.reason() == Some(StopReason::Pause) {
            self.token.cancel();
        }
    }
    /// Mark the start (`true`) or end (`false`) of a run; a run's stop request ends with it.
    pub(crate) fn set_busy(&self, busy: bool) {
        if !busy {
            self.clear();
        }
        self.busy.store(busy, Ordering::SeqCst);
    }

    pub(crate) fn clear(&self) {
        self.reason.store(0, Ordering::SeqCst);
        self.token.reset();
    }
    pub(crate) fn reason(&self) -> Option<StopReason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(StopReason::Pause),
            2 => Some(StopReason::Cancel),
            3 => Some(StopReason::Stop),
            _ => None,
        }
    }
}

/// What the worker needs besides the session.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    pub device: Device,
    /// Use this model instead of the session's (it must be the same model: fingerprints are compared).
    pub model: Option<ModelSource>,
}

pub struct WorkerHandle {
    commands: Sender<Command>,
    events: Receiver<Event>,
    interrupt: Interrupt,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Start the thread; it takes over the session (and its lock) until it ends.
    pub fn spawn(session: Session, options: WorkerOptions) -> Self {
        let (commands, command_rx) = channel();
        let (event_tx, events) = channel();
        let interrupt = Interrupt::default();
        let inner = interrupt.clone();
        let thread = std::thread::Builder::new()
            .name("pivot-worker".into())
            .spawn(move || jobs::Worker::new(session, options, event_tx, inner).serve(command_rx))
            .expect("the OS refused to start the worker thread");
        Self { commands, events, interrupt, thread: Some(thread) }
    }

    /// Queue a command. A run command sent to an idle worker clears a stale stop request first;
    /// during a run it only adds jobs, so a pending cancel still holds, and so does a pending
    /// pause for `Run`. `RunQueue` withdraws the pause (the worker reads it at the next step;
    /// if the pause stopped the job first, the queue runs again after it).
    pub fn send(&self, command: Command) {
        if matches!(command, Command::RunQueue | Command::Run(_)) && !self.interrupt.busy.load(Ordering::SeqCst) {
            self.interrupt.clear();
        }
        // A closed channel means the thread ended; its last event says why.
        let _ = self.commands.send(command);
    }

    /// Ask the running job to stop at its next check (between inner iterations / steps).
    pub fn stop(&self, reason: StopReason) {
        self.interrupt.request(reason);
    }

    /// Cancel these jobs wherever they are: the one in hand stops after its current inner step
    /// (never another job that started meanwhile), queued ones leave the queue. Their
    /// checkpoints stay; `Command::Enqueue` brings them back.
    pub fn cancel(&self, jobs: Vec<Job>) {
        jobs.iter().for_each(|j| self.interrupt.cancel_if_current(j));
        self.send(Command::Dequeue(jobs));
    }

    /// Load the model now and check it is the session's; the refusal names both models.
    pub fn load_model(&self) -> Result<(), String> {
        let (tx, rx) = channel();
        self.send(Command::LoadModel(tx));
        rx.recv().unwrap_or_else(|_| Err("the worker ended before loading the model".into()))
    }

    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Stop after the job in hand and wait for the thread (the session and its lock are released).
    pub fn shutdown(self) {
        self.finish();
    }

    /// [`Self::shutdown`], returning the events nobody read (for the log).
    pub fn finish(mut self) -> Vec<Event> {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.events.try_iter().collect()
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.interrupt.request(StopReason::Stop);
            let _ = self.commands.send(Command::Shutdown);
            let _ = t.join();
        }
    }
}
