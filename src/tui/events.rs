//! The dashboard's answer to the worker's events: job and run state, losses, previews, messages.

use super::keymap::Action;
use super::loss_pane::{drop_unfinished_step, follow_selection, run_for};
use super::state::{job_label, JobState, Level, Mode, Model};
use super::update::{load_item_images, say, shown_result, Effect};
use crate::session::check::FileProblem;
use crate::session::manifest::{Item, Job};
use crate::worker::{Event, Stage};

/// How long a decoded x0 stays on screen after newer timesteps arrive (seconds).
pub(super) const DECODED_HOLD: f64 = 5.0;

pub(super) fn worker(m: &mut Model, e: Event) -> Vec<Effect> {
    match e {
        Event::Manifest(man) => {
            let first = m.manifest.is_none();
            // A failure noted in the session (a run before this dashboard) is still a failure.
            for it in &man.items {
                let inversion = it.inversion.as_ref().filter(|_| it.inversion_pending()).map(|r| (Job::Invert { item: it.id.clone() }, &r.failure));
                let edits = it.edits.iter().filter(|e| e.output.is_none()).map(|e| (Job::Edit { item: it.id.clone(), edit: e.id.clone() }, &e.failure));
                for (j, failure) in inversion.into_iter().chain(edits) {
                    if let (Some(why), None) = (failure, m.job_state(&j)) {
                        m.set_job(&j, JobState::Failed(why.clone()));
                    }
                }
            }
            for j in &man.queue {
                if m.job_state(j).is_none() {
                    m.set_job(j, JobState::Queued);
                }
            }
            // What belonged to removed items goes with them (a new item may reuse the id).
            let ids: std::collections::HashSet<&str> = man.items.iter().map(|i| i.id.as_str()).collect();
            let known = |item: &str| ids.contains(item);
            // So do the states of edits written for an old caption: they never run.
            m.jobs.retain(|j, _| known(j.item()) && !man.is_stale(j));
            // Pictures of removed items and edits go too: their paths may be reused.
            let named: std::collections::HashSet<&str> = man.referenced_files().into_iter().collect();
            m.images.retain(|p| named.contains(p));
            if m.run.as_ref().is_some_and(|r| !known(&r.item)) {
                m.run = None;
            }
            m.manifest = Some(*man);
            if let Some(spot) = m.restore.take() {
                super::spot::restore(m, spot);
            }
            m.selected = m.selected.min(m.items().len().saturating_sub(1));
            if first && !m.queue_running && m.status.is_none() {
                say_work_waiting(m);
            }
            let mut fx = load_item_images(m);
            // On opening, or once the shown item is gone: the selected item's losses. (A run
            // that just finished stays in view until the selection moves.)
            if first || m.run.is_none() {
                fx.extend(follow_selection(m));
            }
            return fx;
        }
        Event::ModelReady { model, device, decoder } => {
            // The loaded model has the last word on the demo banner.
            m.demo = super::launch::is_tiny(&model);
            m.model_name = model;
            m.device = device;
            m.decoder = Some(decoder);
        }
        Event::ItemAdded { item } => {
            // Not from the add form: the demo's own photo, added as the dashboard opened.
            let by_demo = m.adding.take().is_none() && m.demo;
            // The new item is selected, unless a form or question is open: what it shows and
            // acts on would change under the user's fingers.
            let mut fx = Vec::new();
            if let Some(i) = m.items().iter().position(|it| it.id == item).filter(|_| !super::update::wants_text(m)) {
                m.selected = i;
                // The loss pane follows the selection, as it does for j/k.
                fx.extend(follow_selection(m));
            }
            fx.extend(load_item_images(m));
            // The demo's edit is asked for once its photo is in (a refused photo leaves its own
            // message, not one about a missing item); the edit's notice names both.
            if by_demo && m.demo_edit_pending {
                fx.push(Effect::Send(crate::worker::Command::AddEdit { item, specs: vec![super::launch::demo_edit()] }));
                return fx;
            }
            // The same photo added again (a new caption or settings, or by mistake): said.
            let new = m.items().iter().find(|i| i.id == item);
            let twin = new.and_then(|n| m.items().iter().find(|i| i.id != n.id && i.original_path == n.original_path && !n.original_path.is_empty()));
            let twin = twin.map(|t| format!(" (the session has this photo already, as {}: {} deletes one)", t.id, m.key(Action::DeleteItem))).unwrap_or_default();
            let what = if by_demo { format!("the demo added a generated photo, {item}, to the queue") } else { format!("added {item} to the queue{twin}") };
            fx.extend(super::queue::added(m, what, vec![Job::Invert { item }]));
            return fx;
        }
        Event::EditAdded { item, edit } if std::mem::take(&mut m.demo_edit_pending) => {
            let target = m.items().iter().find(|i| i.id == item).and_then(|i| i.edits.iter().find(|e| e.id == edit)).map(|e| e.spec.target.clone()).unwrap_or_default();
            let what = format!("the demo added a generated photo, {item}, and an edit of it, \"{target}\", to the queue");
            return super::queue::added(m, what, vec![Job::Invert { item: item.clone() }, Job::Edit { item, edit }]);
        }
        Event::EditAdded { item, edit } => {
            m.submitted_edit = None;
            let inverted = m.items().iter().find(|i| i.id == item).is_some_and(Item::is_inverted);
            let failed = matches!(m.job_state(&Job::Invert { item: item.clone() }), Some(JobState::Failed(_)));
            let first = match (inverted, failed) {
                (true, _) => String::new(),
                // It waits on the failed inversion: the way on is the item's own.
                (false, true) => {
                    format!(" (it waits: its inversion failed, {})", m.way_on(&item).1)
                }
                (false, false) => " (its inversion runs first)".to_string(),
            };
            let target = m.items().iter().find(|i| i.id == item).and_then(|i| i.edits.iter().find(|e| e.id == edit)).map(|e| format!(" \"{}\"", e.spec.target)).unwrap_or_default();
            let what = format!("queued edit {item}/{edit}{target}{first}");
            let jobs = if inverted { vec![Job::Edit { item, edit }] } else { vec![Job::Invert { item: item.clone() }, Job::Edit { item, edit }] };
            return super::queue::added(m, what, jobs);
        }
        Event::JobStarted { job } => {
            m.last_job_done = false;
            m.set_job(&job, JobState::Running);
            m.resume_asked = false;
            // Only a running queue starts jobs (this also mends an Idle that crossed a `p`).
            m.queue_running = true;
            if let Job::Invert { item } = &job {
                let keep = m.run.as_ref().is_some_and(|r| &r.item == item);
                if !keep {
                    m.run = Some(run_for(m, item));
                }
                m.selected_step = None;
                let fx = vec![Effect::LoadLosses(item.clone())];
                m.running = Some(job);
                return fx;
            }
            m.running = Some(job);
        }
        Event::Stage { stage, total_steps, job } => {
            m.sampling = None;
            // A resumed null-text stage starts at the item's saved timesteps, not at 0.
            let saved = m.items().iter().find(|i| matches!(&job, Job::Invert { item } if item == &i.id)).and_then(|i| i.inversion.as_ref()).map_or(0, |r| r.completed_steps);
            if let (Some(r), Job::Invert { .. }) = (m.run.as_mut(), &job) {
                r.stage = Some(stage);
                if total_steps > 0 {
                    r.total = total_steps;
                }
                r.evaluations = 0;
                r.stage_started = m.now;
                r.first_step_at = None;
                match stage {
                    Stage::DdimInversion | Stage::Offsets => r.done = 0,
                    Stage::NullText => r.done = saved,
                    _ => {}
                }
            }
        }
        Event::Inner(it) => {
            if let Some(r) = m.run.as_mut() {
                let row = r.losses_at(it.step);
                if it.inner == 0 {
                    row.clear();
                }
                row.push(it.loss);
                r.inner = it.inner + 1;
                r.last_loss = Some(it.loss);
                r.threshold = it.threshold;
                r.evaluations += 1;
            }
        }
        Event::Timestep { done, losses } => {
            if let Some(r) = m.run.as_mut() {
                r.done = done.step + 1;
                r.total = done.total_steps;
                if r.stage == Some(Stage::NullText) {
                    *r.losses_at(done.step) = losses;
                    if r.iterations.len() <= done.step {
                        r.iterations.resize(done.step + 1, 0);
                    }
                    r.iterations[done.step] = done.iterations;
                    // The status line names the next timestep now: its inner count, loss and
                    // threshold start afresh (the finished step's would read as the new one's).
                    let config = crate::edit::null_text::NullTextConfig { inner_steps: r.inner_max, epsilon: r.epsilon, guidance: 0.0 };
                    (r.inner, r.last_loss, r.threshold) = (0, None, config.threshold(r.done));
                } else {
                    r.evaluations += 1;
                }
                r.first_step_at.get_or_insert((m.now, r.done));
                r.last_step_at = m.now;
                // Previews at most twice a second (each is a full picture to send over SSH).
                if let Some(x0) = done.x0 {
                    r.x0 = Some((x0, done.t));
                }
                if let Some(p) = &done.preview {
                    if r.previews.len() <= done.step {
                        r.previews.resize(done.step + 1, None);
                    }
                    r.previews[done.step] = Some((p.clone(), done.t));
                }
                if let Some(p) = done.preview.filter(|_| r.preview.is_none() || m.now - r.preview_at >= 0.5) {
                    r.preview = Some(p);
                    r.preview_t = done.t;
                    r.preview_at = m.now;
                }
                if r.decoded.as_ref().is_some_and(|d| d.1 != r.preview_t && m.now - d.2 >= DECODED_HOLD) {
                    r.decoded = None;
                }
            }
        }
        Event::SampleStep { step, total, .. } => m.sampling = Some((step, total)),
        // A checkpoint just written replaces whatever was wrong with the item's last one (it may
        // carry the same name: names count the steps done).
        Event::Checkpoint { item, .. } => m.file_problems.retain(|p| !(p.item == item && p.file.starts_with("inversions/"))),
        Event::JobDone { job, summary, .. } => {
            m.last_job_done = true;
            m.set_job(&job, JobState::Done);
            m.running = None;
            m.sampling = None;
            // An edit's settings (the worker's summary ends with them) do not fit one status
            // line beside its prompts: it says what the edit list says of it (the form and
            // `session show` give the rest).
            let short = match &job {
                crate::session::manifest::Job::Edit { item, edit } => m.items().iter().find(|i| &i.id == item).and_then(|i| Some((i, i.edits.iter().find(|e| &e.id == edit)?))).map(|(i, e)| {
                    let source = e.source_prompt.as_deref().unwrap_or(&i.prompt);
                    format!("made edit {edit} of {item}: {}", crate::tui::view::session::edit_summary(source, &e.spec))
                }),
                _ => None,
            };
            say(m, short.unwrap_or(summary), Level::Info);
            // The result pane shows the new image (a finished edit replaces a browsed older one):
            // drop stale copies and read it.
            if m.selected_item().is_some_and(|it| it.id == job.item()) {
                m.shown = None;
            }
            if let Some(r) = shown_result(m) {
                m.images.remove(&r);
            }
            // An edit made again (its picture was lost) has new pictures under the same names.
            if let crate::session::manifest::Job::Edit { item, edit } = &job {
                let made: Vec<String> = m.items().iter().filter(|i| &i.id == item).flat_map(|i| &i.edits).filter(|e| &e.id == edit).flat_map(|e| e.pictures()).map(str::to_string).collect();
                made.iter().for_each(|p| m.images.remove(p));
            }
            // A run watched from another item's row: the loss pane goes back to the selection.
            let mut fx = load_item_images(m);
            fx.extend(follow_selection(m));
            return fx;
        }
        Event::Paused { job } => {
            m.last_job_done = false;
            m.set_job(&job, JobState::Paused);
            m.running = None;
            drop_unfinished_step(m, &job);
            if m.resume_asked {
                // The pause came first; the queue asked for since runs on from the checkpoint.
                say(m, format!("{} stopped at its checkpoint before the pause was withdrawn; the queue runs on", job_label(&job)), Level::Info);
            } else {
                m.queue_running = false;
                say(m, format!("paused {}: {} resumes the queue from its last finished timestep", job_label(&job), m.key(Action::PauseResume)), Level::Info);
            }
        }
        Event::Cancelled { job } => {
            m.last_job_done = false;
            m.set_job(&job, JobState::Cancelled);
            // A queued job may be cancelled while another runs.
            if m.running.as_ref() == Some(&job) {
                // The DDIM inversion and Direct's offsets keep no checkpoint: the next run does
                // them again (only null-text timesteps and a finished inversion are saved).
                let kept = match (&job, m.stage_without_checkpoint(job.item())) {
                    (Job::Invert { .. }, Some(s)) => format!("its {} keeps no checkpoint: it starts again; ", s.label()),
                    (Job::Invert { .. }, _) => "finished timesteps stay saved; ".to_string(),
                    _ => String::new(),
                };
                m.running = None;
                m.sampling = None;
                drop_unfinished_step(m, &job);
                // An inversion's queued edits were cancelled with it (each would start it again).
                let along = std::mem::take(&mut m.cancelled_along);
                let with: Vec<String> = along.iter().filter(|j| j.item() == job.item() && matches!(job, Job::Invert { .. })).map(job_label).collect();
                let (with, them) = if with.is_empty() { (String::new(), "it") } else { (format!(" with {}", with.join(", ")), "them") };
                say(m, format!("cancelled {}{with} ({kept}{} retries {them})", job_label(&job), m.key(Action::Retry)), Level::Info);
            }
        }
        Event::Recaptioned { item } => {
            // The job in hand stopped for the new caption; it stays queued and the run goes on.
            if let Some(job) = m.running.take().filter(|j| j.item() == item) {
                m.set_job(&job, JobState::Queued);
            }
            m.sampling = None;
            if m.run.as_ref().is_some_and(|r| r.item == item) {
                m.run = None;
            }
            // The caption form's message said so already, with what becomes of the edits.
        }
        Event::Failed { job, message } => {
            // A refused demo edit must not make the user's next edit read as the demo's.
            m.demo_edit_pending = false;
            if let Some(j) = job {
                m.set_job(&j, JobState::Failed(message.clone()));
                m.running = None;
                // A file the worker found unusable has its own way out (retrying cannot help).
                let problem = m.items().iter().find(|i| i.id == j.item()).and_then(|i| m.damage_of(i)).cloned();
                let text = match problem {
                    Some(p) => format!("{} failed: {}", job_label(&j), what_to_do(m, &p)),
                    None => format!("{} failed: {message} — {} retries", job_label(&j), m.key(Action::Retry)),
                };
                say(m, text, Level::Error);
                m.last_job_done = false;
                // Once a run: the queued edits of a re-captioned item fail one after another.
                if !std::mem::replace(&mut m.bell_rung, true) {
                    return bell(m);
                }
            } else if let Some(mut form) = m.adding.take() {
                // The photo was refused: the form comes back as typed, with the reason and the
                // cursor in the field it is about.
                form.field = if message.contains("caption") { 1 } else { 0 };
                m.cursor_back = 0;
                form.error = Some(message.clone());
                m.mode = Mode::AddImage(form);
                say(m, message, Level::Error);
            } else if let Some(mut form) = m.submitted_edit.take().filter(|_| m.mode == Mode::Normal) {
                // The edit was refused (a check only the model's tokenizer can make): the form
                // comes back as typed, with the reason.
                form.error = Some(message.clone());
                m.cursor_back = 0;
                m.mode = Mode::Edit(form);
                say(m, message, Level::Error);
            } else {
                say(m, message, Level::Error);
                // A refused command (a caption that could not be saved) changed nothing: the
                // loss pane shows what the session still holds.
                return follow_selection(m);
            }
        }
        Event::Warning(w) => say(m, w, Level::Warning),
        Event::Note(n) => say(m, n, Level::Info),
        Event::FileProblems(problems) => {
            // The way out reads the new list (a photo lost beside its inversion).
            m.file_problems = problems;
            let first = m.file_problems.first().map(|p| format!("item {}: {}", p.item, what_to_do(m, p)));
            if let Some(text) = first {
                let more = m.file_problems.len() - 1;
                let text = if more > 0 { format!("{text} ({more} more: `pivot session show {}`)", m.session_name) } else { text };
                say(m, text, Level::Warning);
            }
        }
        Event::Idle => {
            m.running = None;
            m.sampling = None;
            // A run that ended on a finished job, not on a pause (`p` during an edit, which has no
            // checkpoint, lets it finish), rings; a failure in it rang already.
            let (done, rung) = (std::mem::take(&mut m.last_job_done), std::mem::take(&mut m.bell_rung));
            let over = done && m.queue_running && !rung;
            // Stopped with work left (paused, failed): the queue no longer runs. Run out: it
            // still does, and new work starts at once.
            // (A run asked for after a pause took effect is about to start.)
            if !std::mem::take(&mut m.resume_asked) && !m.queue().is_empty() {
                m.queue_running = false;
            }
            // The loss pane showed the last job's item; with nothing running it shows the
            // selected one, as the session pane's marker says.
            let mut fx = follow_selection(m);
            if over {
                fx.extend(bell(m));
            }
            return fx;
        }
    }
    vec![]
}

/// On opening a session with work on its queue (the dashboard opens with the queue stopped):
/// what waits, and the key that runs it.
fn say_work_waiting(m: &mut Model) {
    let Some(job) = m.queue().first().cloned() else { return };
    let stopped = m.items().iter().find(|i| i.id == job.item()).and_then(|i| i.inversion.as_ref()).filter(|r| matches!(job, Job::Invert { .. }) && r.completed_steps > 0 && !r.is_done());
    let first = match stopped {
        Some(r) => format!("{} stopped at t {}/{}", job_label(&job), r.completed_steps, r.steps),
        None => job_label(&job),
    };
    let n = m.queue().len();
    let more = if n > 1 { format!(" and {} more", n - 1) } else { String::new() };
    say(m, format!("work waits on the queue: {first}{more}; {} runs it", m.key(Action::PauseResume)), Level::Info);
}

/// A file problem and the way out of it (the item is left to the caller to name).
pub(super) fn what_to_do(m: &Model, p: &FileProblem) -> String {
    let item = m.items().iter().find(|i| i.id == p.item);
    if item.is_some_and(|i| i.image == p.file) {
        format!("{} {}: put the photo back, or {} deletes the item", p.file, p.why, m.key(Action::DeleteItem))
    } else if item.and_then(|i| i.inversion.as_ref()).and_then(|r| r.file.as_deref()) == Some(p.file.as_str()) {
        if p.is_newer_format() {
            // A newer pivot's work, whole: inverting again would throw it away.
            return format!("{} {}", p.file, p.why);
        }
        if !m.can_invert_again(p) {
            return format!("{} {}: its photo copy is lost too, so it cannot be inverted again ({} deletes the item)", p.file, p.why, m.key(Action::DeleteItem));
        }
        format!("{} {}: {} inverts it again from the start (or `pivot resume --session {} --restart {}`)", p.file, p.why, m.key(Action::Invert), m.session_name, p.item)
    } else {
        format!("{} {}", p.file, p.why)
    }
}

/// The bell, when config.toml has not silenced it.
fn bell(m: &Model) -> Vec<Effect> {
    if m.bell { vec![Effect::Bell] } else { vec![] }
}
