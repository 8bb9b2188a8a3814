//! The queue keys (TUI.md, Queue): one rule for what runs. `p` starts and pauses the queue; while
//! it runs, added photos and edits run in turn, and when the queue runs out it stays running (new
//! work starts at once); while paused, added work waits. `i` and `r` ask for work now: they start
//! the queue and say so (a pause still pending is withdrawn: the worker runs on). `x` and `r`
//! act on the selected item only.

use super::keymap::Action;
use super::state::{job_label, JobState, Level, Model, Pane};
use super::update::{say, Effect};
use crate::session::manifest::Job;
use crate::session::check::FileProblem;
use crate::worker::{Command, StopReason};

/// A pause was asked for and the job in hand has not stopped yet.
pub(super) fn pausing(m: &Model) -> bool {
    m.running.is_some() && !m.queue_running
}

/// Run the queue now: the effect, noting when it withdraws a pending pause (if the job in hand
/// stopped first, the worker runs the queue again after it, and `Paused` says so).
fn run_now(m: &mut Model) -> Effect {
    m.resume_asked = pausing(m);
    m.queue_running = true;
    Effect::Send(Command::RunQueue)
}

/// `p`: pause the queue (the job in hand stops at its next timestep boundary), or run it; a
/// second `p` while the pause is pending withdraws it.
pub(super) fn pause_resume(m: &mut Model) -> Vec<Effect> {
    let p = m.key(Action::PauseResume);
    if pausing(m) {
        let fx = run_now(m);
        say(m, format!("pause withdrawn: the queue runs on ({p} pauses it)"), Level::Info);
        return vec![fx];
    }
    if m.running.is_some() || m.queue_running {
        m.queue_running = false;
        m.resume_asked = false;
        let stage = m.running.as_ref().and_then(|j| m.stage_without_checkpoint(j.item()));
        let text = match (&m.running, stage) {
            // An edit keeps no checkpoint: it is finished rather than thrown away.
            (Some(j @ Job::Edit { .. }), _) => format!("pausing the queue once {} is made (an edit has no checkpoint; {p} again runs on)…", job_label(j)),
            // The DDIM inversion and Direct's offsets keep no checkpoint: the pause waits for one.
            (Some(j), Some(stage)) => {
                let x = m.key(Action::Cancel);
                format!("pausing the queue at the first checkpoint of {}, after its {}, which keeps none ({x} stops at once and loses it; {p} again runs on)…", job_label(j), stage.label())
            }
            (Some(j), None) => format!("pausing the queue after this timestep of {} (its checkpoint; {p} again runs on)…", job_label(j)),
            (None, _) => format!("queue paused: work you add waits for {p}"),
        };
        say(m, text, Level::Info);
        return vec![Effect::Stop(StopReason::Pause)];
    }
    let n = m.queue().len();
    if let Some(p) = blocked_by_damage(m) {
        say(m, format!("the queue would stop on {} again: {}", p.item, super::events::what_to_do(m, &p)), Level::Warning);
        return vec![];
    }
    if n > 0 {
        let jobs = if n == 1 { "1 job".to_string() } else { format!("{n} jobs") };
        say(m, format!("the queue runs ({jobs}); {p} pauses it"), Level::Info);
        return vec![run_now(m)];
    }
    let waiting = m.manifest.as_ref().map(|s| s.unqueued_work()).unwrap_or_default();
    if !waiting.is_empty() {
        let (i, r) = (m.key(Action::Invert), m.key(Action::Retry));
        say(m, format!("the queue is empty; cancelled work waits on {}: select it, then {i} continues it or {r} retries its jobs", items_of(&waiting)), Level::Info);
    } else {
        say(m, "the queue is empty: nothing to run", Level::Info);
    }
    vec![]
}

/// The items of `jobs`, once each: "cat, sky".
fn items_of(jobs: &[Job]) -> String {
    let mut items: Vec<&str> = Vec::new();
    for j in jobs {
        if !items.contains(&j.item()) {
            items.push(j.item());
        }
    }
    items.join(", ")
}

/// Put `job` first in the queue and run the queue (after the job in hand, if any), saying which.
pub(super) fn run_first(m: &mut Model, job: Job, restart: bool) -> Vec<Effect> {
    m.set_job(&job, JobState::Queued);
    let name = job_label(&job);
    let again = if restart { " again from the first timestep" } else { "" };
    let withdrawn = if pausing(m) { " (the pause is withdrawn)" } else { "" };
    let text = match &m.running {
        Some(r) => format!("{name}{again} runs next, after {}{withdrawn}", job_label(r)),
        // Short: the status line keeps the job's progress beside it.
        None => {
            // The rest of the queue runs after it: said, so that it is no surprise.
            let more = m.queue().iter().filter(|j| **j != job).count();
            match more {
                0 => format!("queue runs: {name}{again}"),
                n => format!("queue runs: {name}{again}, then {n} more queued ({} pauses)", m.key(Action::PauseResume)),
            }
        }
    };
    say(m, text, Level::Info);
    let run = run_now(m);
    if restart {
        // The item's failed edits still queued run after the new inversion: failed no longer.
        let item = job.item().to_string();
        let failed: Vec<Job> = m.queue().iter().filter(|j| j.item() == item && matches!(m.job_state(j), Some(JobState::Failed(_)))).cloned().collect();
        failed.iter().for_each(|j| m.set_job(j, JobState::Queued));
        // One command, which puts the inversion first: a refused restart must start nothing.
        return vec![Effect::Send(Command::RestartInversion { item: job.item().to_string(), run: true })];
    }
    vec![Effect::Send(Command::Enqueue { jobs: vec![job], first: true }), run]
}

/// Failed and cancelled jobs (cancelled in an earlier dashboard too: the session knows those as
/// unqueued work).
fn retryable(m: &Model) -> Vec<Job> {
    let mut again: Vec<Job> = m.jobs.in_order().into_iter().filter(|(_, s)| matches!(s, JobState::Failed(_) | JobState::Cancelled)).map(|(j, _)| j.clone()).collect();
    for j in m.manifest.as_ref().map(|s| s.unqueued_work()).unwrap_or_default() {
        if !again.contains(&j) {
            again.push(j);
        }
    }
    again
}

/// `r`: the selected item's failed and cancelled jobs back on the queue, and the queue runs.
/// Other items' stay as they are: they may have been cancelled on purpose.
pub(super) fn retry(m: &mut Model) -> Vec<Effect> {
    let Some(id) = m.selected_item().map(|i| i.id.clone()) else {
        say(m, "no image selected: nothing to retry", Level::Info);
        return vec![];
    };
    // Every job of an item whose inversion file is damaged fails the same way again.
    if let Some(p) = m.selected_item().and_then(|i| m.inversion_damage(i)).cloned() {
        say(m, format!("item {id}: {} (retrying fails the same way)", super::events::what_to_do(m, &p)), Level::Warning);
        return vec![];
    }
    let (again, others): (Vec<Job>, Vec<Job>) = retryable(m).into_iter().partition(|j| j.item() == id);
    if again.is_empty() {
        let elsewhere = match others.len() {
            0 => String::new(),
            n => format!("; {n} wait(s) on {} (select it, then {})", items_of(&others), m.key(Action::Retry)),
        };
        say(m, format!("{id} has no failed or cancelled job to retry{elsewhere}"), Level::Info);
        return vec![];
    }
    again.iter().for_each(|j| m.set_job(j, JobState::Queued));
    let p = m.key(Action::PauseResume);
    let they = if again.len() == 1 { "it runs" } else { "they run" };
    let how = match () {
        _ if pausing(m) => format!("the pause is withdrawn, {they} in turn ({p} pauses)"),
        _ if m.queue_running => format!("{they} in turn"),
        _ => format!("the queue runs ({p} pauses it)"),
    };
    let names: Vec<String> = again.iter().map(job_label).collect();
    // Only inversions with timesteps kept continue from a checkpoint.
    let kept = |j: &&Job| m.items().iter().any(|i| i.id == j.item() && i.inversion.as_ref().is_some_and(|r| r.completed_steps > 0));
    let note = match again.iter().filter(|j| matches!(j, Job::Invert { .. })).filter(kept).count() {
        0 => "",
        1 => " (the inversion continues from its checkpoint)",
        _ => " (inversions continue from their checkpoints)",
    };
    say(m, format!("retrying {}{note}: {how}", names.join(", ")), Level::Info);
    vec![Effect::Send(Command::Enqueue { jobs: again, first: false }), run_now(m)]
}

/// `x`: the selected item's running job, else its queued jobs (kept listed as cancelled; `r`
/// retries them), else a word on what is running instead.
pub(super) fn cancel(m: &mut Model) -> Vec<Effect> {
    let Some(id) = m.selected_item().map(|i| i.id.clone()) else {
        say(m, "no image selected: nothing to cancel", Level::Info);
        return vec![];
    };
    // In the preview pane, an edit browsed to there that has no picture yet is the one meant.
    let shown = (m.focus == Pane::Preview).then(|| super::results::shown_entry(m)).flatten();
    // A made result there has nothing to cancel: the item's other work is not what it shows.
    if let Some(made) = shown.as_ref().filter(|e| e.picture.is_some()) {
        let delete = if made.edit.is_some() { format!(" ({} deletes it)", m.key(Action::DeleteItem)) } else { String::new() };
        say(m, format!("{} is made: nothing to cancel{delete}", made.name), Level::Info);
        return vec![];
    }
    let unmade = shown.filter(|e| e.picture.is_none()).and_then(|e| e.edit).map(|edit| Job::Edit { item: id.clone(), edit });
    if let Some(job) = m.running.clone().filter(|j| j.item() == id && unmade.as_ref().is_none_or(|b| b == j)) {
        let when = if matches!(job, Job::Edit { .. }) { "after its current sampling step" } else { "after the current inner step" };
        // The item's queued edits go too: each would start the inversion again (`r` retries all).
        let edits: Vec<Job> = match job {
            Job::Invert { .. } => m.queue().iter().filter(|j| j.item() == id && matches!(j, Job::Edit { .. })).cloned().collect(),
            Job::Edit { .. } => Vec::new(),
        };
        let also = if edits.is_empty() { String::new() } else { format!(" and its queued {}", edits.iter().map(job_label).collect::<Vec<_>>().join(", ")) };
        say(m, format!("cancelling {}{also} {when}…", job_label(&job)), Level::Info);
        edits.iter().for_each(|j| m.set_job(j, JobState::Cancelled));
        m.cancelled_along = edits.clone();
        return vec![Effect::Cancel(std::iter::once(job).chain(edits).collect())];
    }
    let mine: Vec<Job> = m.queue().iter().filter(|j| j.item() == id && unmade.as_ref().is_none_or(|b| b == *j)).cloned().collect();
    if !mine.is_empty() {
        mine.iter().for_each(|j| m.set_job(j, JobState::Cancelled));
        let names: Vec<String> = mine.iter().map(job_label).collect();
        // Only an inversion with finished timesteps has a checkpoint to keep.
        let saved = |j: &Job| m.items().iter().any(|i| i.id == j.item() && i.inversion.as_ref().is_some_and(|r| r.completed_steps > 0));
        let kept = if mine.iter().any(|j| matches!(j, Job::Invert { .. }) && saved(j)) { "its checkpoint kept; " } else { "" };
        say(m, format!("cancelled {} ({kept}{} retries)", names.join(", "), m.key(Action::Retry)), Level::Info);
        return vec![Effect::Cancel(mine)];
    }
    let elsewhere = match &m.running {
        Some(j) => format!("; {} is running (select {} to cancel it)", job_label(j), j.item()),
        None => String::new(),
    };
    say(m, format!("{id} has no running or queued job to cancel{elsewhere}"), Level::Info);
    vec![]
}

/// What makes a running queue take new `jobs`: joining the run in hand (a whole new run would
/// also retry other items' jobs that failed in this one), else running the queue.
pub(super) fn join_or_run(m: &Model, jobs: Vec<Job>) -> Command {
    if m.running.is_some() {
        Command::Run(jobs)
    } else {
        Command::RunQueue
    }
}

/// After the worker added a photo or an edit: a running queue takes it in turn (and a queue that
/// ran out starts again); a paused one keeps it waiting. Says which.
pub(super) fn added(m: &mut Model, what: String, jobs: Vec<Job>) -> Vec<Effect> {
    let p = m.key(Action::PauseResume);
    if m.queue_running {
        let when = if m.running.is_some() { "it runs in turn" } else { "the queue runs it now" };
        say(m, format!("{what}: {when} ({p} pauses the queue)"), Level::Info);
        return vec![Effect::Send(join_or_run(m, jobs))];
    }
    say(m, format!("{what}; {}", waiting_queue(m)), Level::Info);
    vec![]
}

/// Whether the queue stopped at a failed job (a failure ends the run as a pause does; the job
/// stays queued and `p` tries it again first) rather than at a pause.
/// The item first on the queue when its inversion file cannot be used: running the queue would
/// only fail on it again (`i` inverts it again from the first timestep, when it can be).
pub(crate) fn blocked_by_damage(m: &Model) -> Option<FileProblem> {
    let item = m.queue().first()?.item().to_string();
    // The file the item has now (a restart leaves the old one's problem behind for a while).
    let file = m.items().iter().find(|i| i.id == item).and_then(|i| i.inversion.as_ref()).and_then(|r| r.file.clone())?;
    m.file_problems.iter().find(|p| p.item == item && p.file == file).cloned()
}

pub(super) fn stopped_at_a_failure(m: &Model) -> bool {
    !m.queue_running && m.running.is_none() && m.queue().iter().any(|j| matches!(m.job_state(j), Some(JobState::Failed(_))))
}

/// What new work waits for while the queue does not run.
pub(super) fn waiting_queue(m: &Model) -> String {
    let p = m.key(Action::PauseResume);
    if stopped_at_a_failure(m) {
        format!("the queue stopped at a failed job: {p} runs it (that job again first)")
    } else {
        format!("the queue is paused: {p} runs it")
    }
}
