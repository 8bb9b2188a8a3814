//! The queue as the worker keeps it: jobs joining a run, leaving it, stopping, and queue
//! entries whose item or edit is gone.

use super::Worker;
use crate::session::manifest::Job;
use crate::worker::protocol::Event;
use crate::worker::StopReason;
use anyhow::Result;

impl Worker {
    /// Jobs asked for during a run: queued in the session (a pause keeps them) and run after the
    /// job in hand.
    pub(super) fn join_run(&mut self, jobs: Option<Vec<Job>>) -> Result<()> {
        let Some(plan) = self.run.as_mut() else { return Ok(()) };
        match jobs {
            None => {
                plan.wanted = None;
                plan.failed.clear();
                // "Run the queue" after "pause": the later wish wins.
                if !self.interrupt.withdraw_pause() && self.interrupt.reason() == Some(StopReason::Pause) {
                    plan.again = true;
                }
            }
            Some(jobs) => {
                plan.asked_again(&jobs);
                if let Some(w) = plan.wanted.as_mut() {
                    w.extend(jobs.iter().cloned());
                }
                let unfinished: Vec<Job> = jobs.into_iter().filter(|j| self.session.manifest.unfinished(j)).collect();
                unfinished.into_iter().for_each(|j| self.session.manifest.enqueue(j));
                self.commit()?;
            }
        }
        Ok(())
    }

    /// Put unfinished `jobs` on the queue, at its front (in the order given) when `first`.
    pub(super) fn enqueue(&mut self, jobs: Vec<Job>, first: bool) -> Result<()> {
        let jobs: Vec<Job> = jobs.into_iter().filter(|j| self.session.manifest.unfinished(j)).collect();
        if let Some(plan) = self.run.as_mut() {
            plan.asked_again(&jobs);
        }
        if first {
            // After the job in hand, which keeps its place: a crash before it ends must not
            // let the one put first overtake it at the next start.
            let current = self.run.as_ref().and_then(|p| p.current.clone()).filter(|c| !jobs.contains(c));
            for j in jobs.iter().rev() {
                self.session.manifest.dequeue(j);
                let at = usize::from(current.is_some() && self.session.manifest.queue.first() == current.as_ref());
                self.session.manifest.queue.insert(at, j.clone());
            }
        } else {
            jobs.into_iter().for_each(|j| self.session.manifest.enqueue(j));
        }
        self.commit()
    }

    /// Take `jobs` off the queue and off the run's list; the job in hand among them is cancelled
    /// (it leaves the queue when it stops).
    pub(super) fn dequeue(&mut self, jobs: Vec<Job>) -> Result<()> {
        let current = self.run.as_mut().and_then(|plan| {
            if let Some(w) = plan.wanted.as_mut() {
                w.retain(|j| !jobs.contains(j));
            }
            // A cancelled inversion holds back its item's edits in this run (see `stopped`).
            plan.failed.extend(jobs.iter().filter(|j| matches!(j, Job::Invert { .. })).cloned());
            plan.current.clone()
        });
        if let Some(c) = current.as_ref().filter(|c| jobs.contains(c)) {
            self.interrupt.cancel_if_current(c);
        }
        let gone: Vec<Job> = jobs.into_iter().filter(|j| Some(j) != current.as_ref() && self.session.manifest.queue.contains(j)).collect();
        if gone.is_empty() {
            return Ok(());
        }
        gone.iter().for_each(|j| self.session.manifest.dequeue(j));
        self.commit()?;
        gone.into_iter().for_each(|job| self.emit(Event::Cancelled { job }));
        Ok(())
    }

    /// Queue entries for things the session no longer has can never run: drop them, saying so.
    pub(super) fn drop_orphans(&mut self) -> Result<()> {
        let orphans: Vec<(Job, String)> = self.session.manifest.queue.iter().filter_map(|j| self.orphan(j).map(|why| (j.clone(), why))).collect();
        if orphans.is_empty() {
            return Ok(());
        }
        for (job, why) in orphans {
            self.session.manifest.dequeue(&job);
            self.emit(Event::Warning(format!("dropped a queued job: {why}")));
        }
        self.commit()
    }

    /// Why `job` can never run (its item or edit is gone), if so.
    pub(super) fn orphan(&self, job: &Job) -> Option<String> {
        let m = &self.session.manifest;
        match job {
            Job::Invert { item } | Job::Edit { item, .. } if m.item(item).is_none() => Some(format!("the session has no item `{item}`")),
            Job::Edit { item, edit } if !m.item(item).is_some_and(|i| i.edits.iter().any(|e| &e.id == edit)) => Some(format!("item `{item}` has no edit `{edit}`")),
            _ => None,
        }
    }

    /// A job stopped on request: a cancelled one leaves the queue, a paused one goes to its
    /// front (resuming the queue continues it, not whatever was first).
    pub(super) fn stopped(&mut self, job: Job) {
        let reason = self.interrupt.reason().unwrap_or(StopReason::Stop);
        if let (StopReason::Cancel, Job::Invert { .. }, Some(plan)) = (reason, &job, self.run.as_mut()) {
            // The item's queued edits wait too: running one would start the inversion again.
            plan.failed.push(job.clone());
        }
        self.session.manifest.dequeue(&job);
        if reason != StopReason::Cancel {
            self.session.manifest.queue.insert(0, job.clone());
        }
        if let Err(e) = self.commit() {
            self.emit(Event::Failed { job: Some(job.clone()), message: crate::error_text::said(&e) });
        }
        let recaptioned = self.run.as_ref().is_some_and(|p| p.recaptions.iter().any(|(j, _)| *j == job));
        if recaptioned {
            // Not a pause: `Recaptioned` follows, and the run goes on.
            return;
        }
        self.emit(if reason == StopReason::Cancel { Event::Cancelled { job } } else { Event::Paused { job } });
    }
}
