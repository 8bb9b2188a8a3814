//! The worker thread's state and loop: load the model once, keep the session, run queued jobs.

use super::protocol::{Command, Event, Stage};
use super::{edit_job, invert_job, Interrupt, WorkerOptions};
use crate::sd::source::ModelSource;
use crate::sd::StableDiffusion;
use crate::session::manifest::Job;
use crate::session::store::Session;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

mod queue_edits;
mod session_edits;

/// How a job ended when it did not fail.
pub(super) enum Outcome {
    Done { summary: String, outputs: Vec<PathBuf> },
    /// Stopped on request (pause or cancel) with its checkpoints in place.
    Stopped,
}

pub(super) struct Worker {
    pub session: Session,
    options: WorkerOptions,
    sd: Option<Arc<StableDiffusion>>,
    events: Sender<Event>,
    pub interrupt: Interrupt,
    /// Commands from the UI: read between jobs and, during a run, at every step boundary.
    commands: Option<Receiver<Command>>,
    /// The run in progress, if any.
    run: Option<RunPlan>,
    /// Items whose photo this worker reported unreadable: once it reads again (put back), the
    /// UI hears the problems anew.
    pub photo_reported: std::cell::RefCell<std::collections::HashSet<String>>,
}

/// What a run still has to do.
struct RunPlan {
    /// Jobs asked for by name, in order; `None` = the whole queue.
    wanted: Option<Vec<Job>>,
    /// The job in hand (commands must not pull its item away).
    current: Option<Job>,
    /// A shutdown arrived: end after the job in hand.
    shutdown: bool,
    /// `RunQueue` arrived after a pause had stopped the job in hand: run the queue again.
    again: bool,
    /// Jobs that failed or were cancelled in this run: they wait, and so do the edits of an item
    /// whose inversion failed or was cancelled (an edit needs it); the rest of the queue goes on.
    /// A run asked for meanwhile gives the items another try.
    failed: Vec<Job>,
    /// New captions for the item of the job in hand, (that job, caption): the job stops, the
    /// caption is set, and the run goes on (the inversion starting over).
    recaptions: Vec<(Job, String)>,
}

impl RunPlan {
    /// `jobs` are asked for again: a failure or cancel earlier in this run no longer holds
    /// their items back.
    fn asked_again(&mut self, jobs: &[Job]) {
        self.failed.retain(|f| !jobs.iter().any(|j| j.item() == f.item()));
    }
}

impl Worker {
    pub fn new(session: Session, options: WorkerOptions, events: Sender<Event>, interrupt: Interrupt) -> Self {
        Self { session, options, sd: None, events, interrupt, commands: None, run: None, photo_reported: Default::default() }
    }

    pub fn emit(&self, e: Event) {
        // Nobody listening (the UI went away) is not the worker's failure.
        let _ = self.events.send(e);
    }

    pub fn events(&self) -> Sender<Event> {
        self.events.clone()
    }

    /// Commit the manifest and tell the UI.
    pub fn commit(&mut self) -> Result<()> {
        self.session.commit()?;
        self.emit_manifest();
        Ok(())
    }

    /// The manifest as it stands, for the dashboard.
    pub fn emit_manifest(&self) {
        self.emit(Event::Manifest(Box::new(self.session.manifest.clone())));
    }

    pub fn serve(mut self, commands: Receiver<Command>) {
        self.commands = Some(commands);
        self.emit_manifest();
        if let Some(n) = self.session.collected.notice(&self.session) {
            self.emit(Event::Warning(n));
        }
        // Pictures lost since the last run are made again by the queue (a read-only view has
        // nothing to queue them on).
        if self.session.writable().is_ok() {
            match self.session.requeue_lost_outputs() {
                Ok(lines) if lines.is_empty() => {}
                Ok(lines) => {
                    self.emit_manifest();
                    self.emit(Event::Warning(format!("pictures to make again: {}", lines.join("; "))));
                }
                Err(e) => self.emit(Event::Warning(format!("{e:#}"))),
            }
        }
        let mut problems = self.session.file_problems();
        if !problems.is_empty() {
            self.emit(Event::FileProblems(problems.clone()));
        }
        // Checksums read every inversion file in full (12 MB each for SD1.5): after the quick
        // checks, so that the dashboard hears of those first; `i` on a damaged item then asks.
        let damaged = self.session.damaged_inversions();
        if !damaged.is_empty() {
            problems.extend(damaged);
            self.emit(Event::FileProblems(problems));
        }
        while let Some(c) = self.commands.as_ref().and_then(|r| r.recv().ok()) {
            if !self.handle(c) {
                break;
            }
        }
    }

    /// After edit `job` failed: when its item's inversion file cannot be used (damaged, missing,
    /// made for other settings), every job of the item would fail the same way, one error each.
    /// They wait in the queue instead; says how many, for the failure's message.
    fn unusable_inversion_blocks(&mut self, job: &Job) -> Option<String> {
        let Job::Edit { item, .. } = job else { return None };
        if self.session.inversion_file_is_whole(item) {
            return None;
        }
        self.run.as_mut()?.failed.push(Job::Invert { item: item.clone() });
        let waiting = self.session.manifest.queue.iter().filter(|j| j != &job && j.item() == item).count();
        match waiting {
            0 => None,
            1 => Some(format!("; 1 more queued job of item `{item}` waits for it")),
            n => Some(format!("; {n} more queued jobs of item `{item}` wait for it")),
        }
    }

    /// Take the commands that arrived meanwhile (call between steps of a job): items, edits and
    /// captions change at once, asked-for jobs join the run, and a shutdown ends it after the job.
    pub fn between_steps(&mut self) {
        while let Some(c) = self.commands.as_ref().and_then(|r| r.try_recv().ok()) {
            self.handle(c);
        }
    }

    /// What the job in hand works on (the item, or the edit), when `c` would pull it away.
    fn busy_with(&self, c: &Command) -> Option<String> {
        let current = self.run.as_ref()?.current.as_ref()?;
        match c {
            Command::RemoveItem { item } | Command::SetPrompt { item, .. } | Command::RestartInversion { item, .. } => (current.item() == item).then(|| item.clone()),
            Command::RemoveEdit { item, edit } => (*current == Job::Edit { item: item.clone(), edit: edit.clone() }).then(|| format!("edit {item}/{edit}")),
            _ => None,
        }
    }

    /// Returns false when the thread should end.
    fn handle(&mut self, c: Command) -> bool {
        if let Some(what) = self.busy_with(&c) {
            match c {
                // The job in hand works for the old caption: it stops now, the caption follows.
                Command::SetPrompt { item, prompt } => self.recaption_after_stop(item, prompt),
                _ => self.emit(Event::Failed { job: None, message: format!("{what} is being worked on: pause it first") }),
            }
            return true;
        }
        let restart_then_run = matches!(&c, Command::RestartInversion { run: true, .. });
        let result = match c {
            Command::Shutdown => match self.run.as_mut() {
                Some(plan) => {
                    plan.shutdown = true;
                    Ok(())
                }
                None => return false,
            },
            Command::Run(jobs) if self.run.is_some() => self.join_run(Some(jobs)),
            Command::RunQueue if self.run.is_some() => self.join_run(None),
            Command::AddItem(n) => self.add_item(n).map(|(item, warnings)| {
                // One notice, naming the item: another may be running, and its progress is
                // what the dashboard shows beside it.
                let warning = (!warnings.is_empty()).then(|| format!("item {item}: {}", warnings.join("; ")));
                self.emit(Event::ItemAdded { item });
                warning.into_iter().for_each(|w| self.emit(Event::Warning(w)));
            }),
            Command::AddEdit { item, specs } => self.add_edits(&item, specs).map(|ids| ids.into_iter().for_each(|edit| self.emit(Event::EditAdded { item: item.clone(), edit }))),
            Command::RemoveItem { item } => self.remove_item(&item),
            Command::RemoveEdit { item, edit } => self.remove_edit(&item, &edit),
            Command::SetPrompt { item, prompt } => self.set_prompt(&item, prompt),
            Command::RestartInversion { item, run } => match self.restart_inversion(&item) {
                Ok(()) if run => return self.handle(Command::RunQueue),
                other => other,
            },
            Command::Enqueue { jobs, first } => self.enqueue(jobs, first),
            Command::Dequeue(jobs) => self.dequeue(jobs),
            Command::LoadModel(reply) => {
                let _ = reply.send(self.model().map(drop).map_err(|e| crate::error_text::said(&e)));
                Ok(())
            }
            Command::Run(jobs) => return self.run_jobs(Some(jobs)),
            Command::RunQueue => return self.run_jobs(None),
        };
        if let Err(e) = result {
            // A change refused halfway (a manifest that could not be saved) must not live on in
            // memory: a later job would act on it, and a retry would look like no change.
            if let Err(r) = self.session.reload_manifest() {
                self.emit(Event::Warning(format!("{r:#}")));
            }
            self.emit_manifest();
            self.emit(Event::Failed { job: None, message: crate::error_text::said(&e) });
            // The queue run asked for with it does not start.
            if restart_then_run && self.run.is_none() {
                self.emit(Event::Idle);
            }
        }
        true
    }

    /// The session's model, loaded on first use and checked against the session's fingerprint.
    pub fn model(&mut self) -> Result<Arc<StableDiffusion>> {
        if let Some(sd) = &self.sd {
            return Ok(sd.clone());
        }
        let named = &self.session.manifest.model.source;
        let source = match &self.options.model {
            Some(s) => s.clone(),
            None => ModelSource::parse_recorded(named).with_context(|| format!("session `{}` names model `{named}`; if it moved, pass --model with its new place once (the session remembers it)", self.session.name()))?,
        };
        let sd = StableDiffusion::load(&source, &self.options.device)?;
        sd.warnings.iter().for_each(|w| self.emit(Event::Warning(w.clone())));
        let bound = self.session.manifest.model.hash.clone();
        if !bound.is_empty() && !sd.made_with(&bound) {
            bail!("session `{}` was made with model `{named}` (fingerprint {bound}); `{}` has fingerprint {} — use the session's model or a new session",
                self.session.name(), source.describe(), sd.fingerprint);
        }
        // The same model from another place (a moved folder): remember the place.
        let moved = source.describe() != *named;
        if moved && !bound.is_empty() {
            self.emit(Event::Warning(format!("session `{}` now uses the model at {} (it was at {named}; the same model)", self.session.name(), source.describe())));
        } else if moved {
            // Never loaded, so nothing tells whether it is the model the session was made for.
            self.emit(Event::Warning(format!("session `{}` was made for model `{named}`; it uses {} from now on (its first load)", self.session.name(), source.describe())));
        }
        // (A fingerprint from before whole-file fingerprints is brought up to date too.)
        if bound.is_empty() || moved || bound != sd.fingerprint {
            self.session.manifest.model = crate::session::manifest::ModelRef { source: source.describe(), hash: sd.fingerprint.clone() };
            self.commit()?;
        }
        let device = crate::sd::device::describe(&sd.device);
        let sd = Arc::new(sd);
        self.emit(Event::ModelReady { model: source.describe(), device, decoder: super::Decoder::new(sd.clone()) });
        self.sd = Some(sd.clone());
        Ok(sd)
    }

    /// Run `only` (or the whole queue) in order. Returns false when a Shutdown arrived meanwhile.
    fn run_jobs(&mut self, only: Option<Vec<Job>>) -> bool {
        self.run = Some(RunPlan { wanted: only, current: None, shutdown: false, again: false, failed: Vec::new(), recaptions: Vec::new() });
        self.interrupt.set_busy(true);
        let blocked = |job: &Job, failed: &[Job]| failed.iter().any(|f| f == job || *f == Job::Invert { item: job.item().into() });
        if let Err(e) = self.drop_orphans() {
            self.emit(Event::Failed { job: None, message: crate::error_text::said(&e) });
        }
        loop {
            self.between_steps();
            let plan = self.run.as_mut().expect("a run is in progress");
            if plan.shutdown || self.interrupt.reason().is_some() {
                break;
            }
            let next = match &mut plan.wanted {
                None => self.session.manifest.queue.iter().find(|j| !blocked(j, &plan.failed)).cloned(),
                Some(list) if list.is_empty() => None,
                Some(list) => Some(list.remove(0)),
            };
            let Some(mut job) = next else { break };
            if blocked(&job, &plan.failed) {
                continue;
            }
            if let Some(why) = self.stale_edit(&job) {
                // Refused before its inversion is run for it, and off the queue: no run can make
                // it (a new edit from its settings can).
                self.run.as_mut().expect("a run is in progress").failed.push(job.clone());
                self.session.manifest.dequeue(&job);
                self.note_failure(&job, Some(why.clone()));
                if let Err(e) = self.commit() {
                    self.emit(Event::Warning(format!("{e:#}")));
                }
                self.emit(Event::Failed { job: Some(job), message: why });
                continue;
            }
            if let Job::Edit { item, .. } = &job {
                // An edit needs its item's inversion: that runs first, the edit after it.
                let inversion = Job::Invert { item: item.clone() };
                if self.session.manifest.unfinished(&inversion) {
                    if let Some(list) = self.run.as_mut().and_then(|p| p.wanted.as_mut()) {
                        list.insert(0, job.clone());
                    }
                    job = inversion;
                }
            }
            let queued = self.session.manifest.queue.contains(&job);
            // Asked for by name and finished or removed: skipped, before the model loads for it
            // (a run with nothing to do loads nothing and says no "model … on …").
            if !queued && !self.session.manifest.unfinished(&job) {
                continue;
            }
            if let Err(e) = self.model() {
                // Every job needs the model: no use trying the next one.
                self.emit(Event::Failed { job: Some(job), message: crate::error_text::said(&e) });
                break;
            }
            if !queued {
                // Asked for by name and still unfinished (a cancelled inversion): back on the
                // queue, continuing from its checkpoint.
                self.session.manifest.enqueue(job.clone());
                if let Err(e) = self.commit() {
                    self.emit(Event::Failed { job: Some(job), message: crate::error_text::said(&e) });
                    break;
                }
            }
            self.run.as_mut().expect("a run is in progress").current = Some(job.clone());
            self.interrupt.set_current(Some(job.clone()));
            self.note_failure(&job, None);
            self.emit(Event::JobStarted { job: job.clone() });
            let outcome = self.run_job(&job);
            self.run.as_mut().expect("a run is in progress").current = None;
            match outcome {
                Ok(Outcome::Done { summary, outputs }) => self.emit(Event::JobDone { job, summary, outputs }),
                Ok(Outcome::Stopped) => self.stopped(job),
                Err(e) => {
                    let mut message = format!("{e:#}");
                    self.run.as_mut().expect("a run is in progress").failed.push(job.clone());
                    self.note_failure(&job, Some(message.clone()));
                    if let Some(waiting) = self.unusable_inversion_blocks(&job) {
                        message.push_str(&waiting);
                    }
                    self.emit(Event::Failed { job: Some(job), message });
                }
            }
            // A cancel ends its job only (it is dropped here); a pause or stop ends the run.
            self.interrupt.set_current(None);
            if self.interrupt.reason().is_some() {
                break;
            }
        }
        let (shutdown, mut again) = self.run.as_ref().map_or((false, false), |p| (p.shutdown, p.again));
        let (recaptions, wanted) = self.run.take().map(|p| (p.recaptions, p.wanted)).unwrap_or_default();
        self.interrupt.set_busy(false);
        let stopped: Vec<Job> = recaptions.iter().map(|(job, _)| job.clone()).collect();
        again |= self.recaption(recaptions);
        if again && !shutdown {
            // No Idle between: the worker does not wait. A run of named jobs goes on with them.
            return self.run_jobs(wanted.map(|w| stopped.into_iter().chain(w).collect()));
        }
        self.emit(Event::Idle);
        !shutdown
    }

    fn run_job(&mut self, job: &Job) -> Result<Outcome> {
        self.emit(Event::Stage { job: job.clone(), stage: Stage::LoadingModel, total_steps: 0 });
        self.model()?;
        let out = match job {
            Job::Invert { item } => invert_job::run(self, item)?,
            Job::Edit { item, edit } => edit_job::run(self, item, edit)?,
        };
        if let Outcome::Done { .. } = out {
            self.session.manifest.dequeue(job);
            self.commit()?;
        }
        Ok(out)
    }
}

