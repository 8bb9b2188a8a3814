//! The queue keys (TUI.md, Queue): one rule for what runs. `p` starts and pauses the queue; while
//! it runs, added photos and edits run in turn, and when the queue runs out it stays running (new
//! work starts at once); while paused, added work waits. `i` and `r` ask for work now: they start
//! the queue and say so. `x` acts on the selected item only.

use super::keymap::Action;
use super::state::{job_label, JobState, Level, Model};
use super::update::{say, Effect};
use crate::session::manifest::Job;
use crate::worker::{Command, StopReason};

/// The queued jobs of the session (empty before the first manifest).
fn queued(m: &Model) -> &[Job] {
    m.manifest.as_ref().map(|s| s.queue.as_slice()).unwrap_or(&[])
}

/// `p`: pause the queue (the job in hand stops at its next timestep boundary), or run it.
pub(super) fn pause_resume(m: &mut Model) -> Vec<Effect> {
    let p = m.key(Action::PauseResume);
    if m.running.is_some() || m.queue_running {
        m.queue_running = false;
        let text = match &m.running {
            Some(j) => format!("pausing the queue after this timestep of {} (its checkpoint)…", job_label(j)),
            None => format!("queue paused: work you add waits for {p}"),
        };
        say(m, text, Level::Info);
        return vec![Effect::Stop(StopReason::Pause)];
    }
    let n = queued(m).len();
    if n > 0 {
        m.queue_running = true;
        say(m, format!("the queue runs ({n} job(s)); {p} pauses it"), Level::Info);
        return vec![Effect::Send(Command::RunQueue)];
    }
    if m.manifest.as_ref().is_some_and(|s| !s.unqueued_work().is_empty()) {
        let (i, r) = (m.key(Action::Invert), m.key(Action::Retry));
        say(m, format!("the queue is empty; cancelled work waits: {i} continues the selected item, {r} retries cancelled jobs"), Level::Info);
    } else {
        say(m, "the queue is empty: nothing to run", Level::Info);
    }
    vec![]
}

/// Put `job` first in the queue and run the queue (after the job in hand, if any), saying which.
pub(super) fn run_first(m: &mut Model, job: Job, restart: bool) -> Vec<Effect> {
    m.set_job(&job, JobState::Queued);
    let p = m.key(Action::PauseResume);
    let name = job_label(&job);
    let again = if restart { " again from the first timestep" } else { "" };
    let text = match &m.running {
        Some(r) if m.queue_running => format!("{name}{again} runs next, after {}", job_label(r)),
        Some(r) => format!("{name}{again} is first in the queue; the queue is pausing after {}: {p} runs it", job_label(r)),
        // Short: the status line keeps the job's progress beside it.
        None => format!("queue runs: {name}{again}"),
    };
    say(m, text, Level::Info);
    let mut fx = if restart {
        // The restart itself puts the inversion first.
        vec![Effect::Send(Command::RestartInversion { item: job.item().to_string() })]
    } else {
        vec![Effect::Send(Command::Enqueue { jobs: vec![job], first: true })]
    };
    if m.running.is_none() || m.queue_running {
        m.queue_running = true;
        fx.push(Effect::Send(Command::RunQueue));
    }
    fx
}

/// `r`: failed and cancelled jobs back on the queue, and the queue runs.
pub(super) fn retry(m: &mut Model) -> Vec<Effect> {
    let mut again: Vec<Job> = m.jobs.iter().filter(|(_, s)| matches!(s, JobState::Failed(_) | JobState::Cancelled)).map(|(j, _)| j.clone()).collect();
    // Cancelled in an earlier dashboard too: the session knows them as unqueued work.
    for j in m.manifest.as_ref().map(|s| s.unqueued_work()).unwrap_or_default() {
        if !again.contains(&j) {
            again.push(j);
        }
    }
    if again.is_empty() {
        say(m, "no failed or cancelled job to retry", Level::Info);
        return vec![];
    }
    again.iter().for_each(|j| m.set_job(j, JobState::Queued));
    let p = m.key(Action::PauseResume);
    let how = if m.queue_running { "they run in turn".to_string() } else { format!("the queue runs ({p} pauses it)") };
    say(m, format!("retrying {} job(s) (inversions continue from their checkpoints): {how}", again.len()), Level::Info);
    m.queue_running = true;
    vec![Effect::Send(Command::Enqueue { jobs: again, first: false }), Effect::Send(Command::RunQueue)]
}

/// `x`: the selected item's running job, else its queued jobs (kept listed as cancelled; `r`
/// retries them), else a word on what is running instead.
pub(super) fn cancel(m: &mut Model) -> Vec<Effect> {
    let Some(id) = m.selected_item().map(|i| i.id.clone()) else {
        say(m, "no image selected: nothing to cancel", Level::Info);
        return vec![];
    };
    if let Some(job) = m.running.clone().filter(|j| j.item() == id) {
        say(m, format!("cancelling {} after the current inner step…", job_label(&job)), Level::Info);
        return vec![Effect::Cancel(vec![job])];
    }
    let mine: Vec<Job> = queued(m).iter().filter(|j| j.item() == id).cloned().collect();
    if !mine.is_empty() {
        mine.iter().for_each(|j| m.set_job(j, JobState::Cancelled));
        let names: Vec<String> = mine.iter().map(job_label).collect();
        say(m, format!("cancelled {} (checkpoints kept; {} retries)", names.join(", "), m.key(Action::Retry)), Level::Info);
        return vec![Effect::Cancel(mine)];
    }
    let elsewhere = match &m.running {
        Some(j) => format!("; {} is running (select {} to cancel it)", job_label(j), j.item()),
        None => String::new(),
    };
    say(m, format!("{id} has no running or queued job to cancel{elsewhere}"), Level::Info);
    vec![]
}

/// After the worker added a photo or an edit: a running queue takes it in turn (and a queue that
/// ran out starts again); a paused one keeps it waiting. Says which.
pub(super) fn added(m: &mut Model, what: String) -> Vec<Effect> {
    let p = m.key(Action::PauseResume);
    if m.queue_running {
        let when = if m.running.is_some() { "it runs in turn" } else { "the queue runs it now" };
        say(m, format!("{what}: {when} ({p} pauses the queue)"), Level::Info);
        return vec![Effect::Send(Command::RunQueue)];
    }
    say(m, format!("{what}; the queue is paused: {p} runs it"), Level::Info);
    vec![]
}
