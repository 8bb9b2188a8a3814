//! The caption form (`c`): an unchanged or empty caption changes nothing; a new one restarts
//! the item's inversion, and the status line says what that means for its queue and edits.

use super::form;
use super::keymap::Action;
use super::state::{Level, Mode, Model};
use super::update::{say, Effect, InputKey};
use crate::session::manifest::Job;
use crate::worker::Command;

/// A key typed into the caption form of `item`, holding `text`.
pub(super) fn caption_key(m: &mut Model, item: String, mut text: String, k: InputKey) -> Vec<Effect> {
    match k {
        InputKey::Esc => {
            // Typed and then let go: said, so that it is not taken for saved.
            if m.items().iter().any(|i| i.id == item && i.prompt != crate::edit::p2p::words::single_spaced(&text)) {
                say(m, format!("{item}: caption unchanged (what was typed is dropped; Enter saves a new one)"), Level::Info);
            }
            vec![]
        }
        // Spacing does not count: the worker stores captions single-spaced.
        InputKey::Enter if m.items().iter().any(|i| i.id == item && i.prompt == crate::edit::p2p::words::single_spaced(&text)) => {
            // The same words: nothing to redo, and the inversion must not be thrown away.
            say(m, format!("{item}: caption unchanged"), Level::Info);
            vec![]
        }
        InputKey::Enter if text.trim().is_empty() => {
            say(m, "a caption cannot be empty: type one, or Esc keeps the old one", Level::Warning);
            m.mode = Mode::Caption(item, text);
            vec![]
        }
        // A finished inversion took a whole run: throwing it away is asked about once more.
        InputKey::Enter if m.items().iter().any(|i| i.id == item && i.inversion.as_ref().is_some_and(|r| r.is_done())) => {
            m.mode = Mode::ConfirmCaption(item, text);
            vec![]
        }
        InputKey::Enter => save(m, item, text),
        other => {
            form::type_into(&mut text, other, &mut m.cursor_back);
            m.mode = Mode::Caption(item, text);
            vec![]
        }
    }
}

/// The answer to "throw the finished inversion away?": `y` saves the caption, any other key
/// goes back to the form as typed.
pub(super) fn confirm_key(m: &mut Model, item: String, text: String, k: InputKey) -> Vec<Effect> {
    match k {
        InputKey::Char('y') => save(m, item, text),
        _ => {
            m.mode = Mode::Caption(item, text);
            vec![]
        }
    }
}

fn save(m: &mut Model, item: String, text: String) -> Vec<Effect> {
    let runs = caption_changed(m, &item, &text);
    let job = Job::Invert { item: item.clone() };
    let mut fx = vec![Effect::Send(Command::SetPrompt { item, prompt: text })];
    // A running queue runs what joins it, as it runs an added photo.
    if runs {
        fx.push(Effect::Send(super::queue::join_or_run(m, vec![job])));
    }
    fx
}

/// A new caption restarts the item's inversion from the first timestep; the worker queues it
/// if it was queued or finished (the queue rule then runs it), so the status line says which.
/// Whether the queue is to run it.
fn caption_changed(m: &mut Model, item: &str, caption: &str) -> bool {
    let job = Job::Invert { item: item.into() };
    let finished = m.items().iter().any(|i| i.id == item && i.inversion.as_ref().is_some_and(|r| r.is_done()));
    let queued = finished || m.queue().contains(&job);
    let in_hand = m.running.as_ref().is_some_and(|j| j.item() == item);
    let when = match (queued, m.queue_running) {
        // The job in hand stops for it (the worker says so with `Recaptioned`).
        _ if in_hand => "the old caption's run stops".to_string(),
        (true, true) if m.running.is_some() => "it runs in turn".to_string(),
        (true, true) => "the queue runs it now".to_string(),
        (true, false) => super::queue::waiting_queue(m),
        (false, _) => format!("{} runs it", m.key(Action::Invert)),
    };
    // Finished edits stay as they are: pictures of the old caption's inversion.
    let it = m.items().iter().find(|i| i.id == item);
    let made = it.map_or(0, |i| i.edits.iter().filter(|e| e.output.is_some()).count());
    let mut edits = match made {
        0 => String::new(),
        1 => "; 1 finished edit is from the old caption".to_string(),
        n => format!("; {n} finished edits are from the old caption"),
    };
    // Edits still to come were written against the old caption: they do not run (the worker
    // refuses them); `e` on one starts a new edit from its settings. (Edits queued by a pivot
    // from before this rule do not know their caption and run with the new one.)
    let waiting: Vec<_> = it.map(|i| i.edits.iter().filter(|e| e.output.is_none()).collect()).unwrap_or_default();
    let (written, unknown): (Vec<_>, Vec<_>) = waiting.iter().partition(|e| e.source_prompt.is_some());
    let ids = |list: &[&&crate::session::manifest::EditRecord]| list.iter().map(|e| e.id.as_str()).collect::<Vec<_>>().join(", ");
    if !written.is_empty() {
        edits.push_str(&format!("; {} (not made yet) will not run: written for the old caption ({} on one makes a new edit from it)", ids(&written), m.key(Action::NewEdit)));
    }
    let words = |p: &str| p.split_whitespace().count();
    let misfit: Vec<_> = unknown.iter().filter(|e| e.spec.mode == "replace" && words(&e.spec.target) != words(caption)).copied().collect();
    if !unknown.is_empty() {
        let verb = if unknown.len() == 1 { "uses" } else { "use" };
        edits.push_str(&format!("; {} (not made yet) now {verb} the new one", ids(&unknown)));
    }
    if !misfit.is_empty() {
        edits.push_str(&format!(" ({} will fail: a word swap needs as many words)", ids(&misfit)));
    }
    say(m, format!("{item}: new caption; its inversion starts over ({when}){edits}"), Level::Info);
    // Its old state (cancelled, failed, done) was the old caption's.
    if queued {
        m.set_job(&job, super::state::JobState::Queued);
    } else {
        m.jobs.retain(|j, _| *j != job);
    }
    // The old run's losses belong to the old caption: the loss pane starts afresh.
    if m.run.as_ref().is_some_and(|r| r.item == item) {
        m.run = None;
    }
    // (The job in hand for this item stops, and the worker's run starts it over by itself.)
    queued && m.queue_running && m.running.as_ref().is_none_or(|j| j.item() != item)
}

