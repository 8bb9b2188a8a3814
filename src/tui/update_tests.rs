//! Pure `update` tests: keys → actions → state, and worker events → state.

use super::keymap::Action;
use super::state::{JobState, Level, Mode, Model, Pane};
use super::showcase::{manifest, running_model};
use super::update::{update, Effect, InputKey, Msg};
use crate::session::manifest::Job;
use crate::worker::{Command, Event, StopReason};

pub(super) fn idle_model() -> Model {
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    m
}

pub(super) fn act(m: &mut Model, a: Action) -> Vec<Effect> {
    update(m, Msg::Action(a))
}

pub(super) fn typed(m: &mut Model, s: &str) {
    for c in s.chars() {
        update(m, Msg::Input(InputKey::Char(c)));
    }
}

#[test]
fn moving_focusing_and_help() {
    let mut m = idle_model();
    assert_eq!(m.selected, 0);
    let fx = act(&mut m, Action::Down);
    assert_eq!(m.selected, 1);
    assert!(fx.iter().any(|e| matches!(e, Effect::LoadImage(p) if p == "images/dog.png")), "{fx:?}");
    act(&mut m, Action::Down);
    act(&mut m, Action::Down);
    assert_eq!(m.selected, 2, "stops at the last item");
    act(&mut m, Action::NextPane);
    assert_eq!(m.focus, Pane::Loss);
    act(&mut m, Action::Help);
    assert_eq!(m.mode, Mode::Help);
    act(&mut m, Action::Invert);
    assert_eq!(m.mode, Mode::Normal, "any key closes help without acting");
    act(&mut m, Action::ToggleLog);
    assert!(!m.log_scale);
}

#[test]
fn enter_inverts_or_opens_an_edit_from_the_session_pane_only() {
    let mut m = idle_model();
    act(&mut m, Action::Down);
    act(&mut m, Action::NextPane);
    assert!(act(&mut m, Action::Confirm).is_empty(), "Enter in the loss pane sends nothing");
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("acts on the session pane")), "{:?}", m.status);
    m.focus = Pane::Session;
    assert!(!act(&mut m, Action::Confirm).is_empty(), "Enter on the session pane's item inverts it");
    m.selected = 0;
    assert!(act(&mut m, Action::Confirm).is_empty(), "an inverted item is not inverted again");
    assert!(matches!(&m.mode, Mode::Edit(f) if f.item == "cat"), "Enter on an inverted item opens its edit form: {:?}", m.mode);
}

#[test]
fn cancelling_a_running_inversion_takes_its_items_queued_edits_along() {
    let mut mf = manifest();
    mf.queue.push(Job::Edit { item: "dog".into(), edit: "e7".into() });
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(mf))));
    update(&mut m, Msg::Worker(Event::JobStarted { job: Job::Invert { item: "dog".into() } }));
    m.selected = 1;
    let fx = act(&mut m, Action::Cancel);
    let want = vec![Job::Invert { item: "dog".into() }, Job::Edit { item: "dog".into(), edit: "e7".into() }];
    assert!(matches!(&fx[..], [Effect::Cancel(jobs)] if *jobs == want), "{fx:?}");
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("and its queued edit dog/e7")), "{:?}", m.status);
    // When the worker has stopped it, the notice still names the edit that went with it.
    update(&mut m, Msg::Worker(Event::Cancelled { job: Job::Invert { item: "dog".into() } }));
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.starts_with("cancelled invert dog with edit dog/e7 (") && s.ends_with("r retries them)")), "{:?}", m.status);
}

#[test]
fn invert_pause_cancel_and_retry_become_worker_effects() {
    let mut m = idle_model();
    act(&mut m, Action::Down);
    let fx = act(&mut m, Action::Invert);
    let dog = vec![Job::Invert { item: "dog".into() }];
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { jobs, first: true }), Effect::Send(Command::RunQueue)] if *jobs == dog), "i: first in the queue, which runs: {fx:?}");
    assert!(m.queue_running && m.status.as_ref().is_some_and(|(s, _)| s.contains("queue runs: invert dog")), "{:?}", m.status);
    update(&mut m, Msg::Worker(Event::Idle));
    assert!(!m.queue_running, "stopped with work left: paused");
    m.selected = 0;
    assert!(act(&mut m, Action::Invert).is_empty(), "an inverted item is not inverted again");
    assert!(matches!(&act(&mut m, Action::PauseResume)[..], [Effect::Send(Command::RunQueue)]), "idle with a queue: p resumes");
    update(&mut m, Msg::Worker(Event::JobStarted { job: Job::Invert { item: "dog".into() } }));
    assert!(matches!(&act(&mut m, Action::PauseResume)[..], [Effect::Stop(StopReason::Pause)]));
    m.selected = 1;
    assert!(matches!(&act(&mut m, Action::Cancel)[..], [Effect::Cancel(j)] if *j == dog));
    update(&mut m, Msg::Worker(Event::Failed { job: Some(Job::Invert { item: "dog".into() }), message: "loss became NaN at step 3".into() }));
    assert!(matches!(m.status, Some((ref s, Level::Error)) if s.contains("NaN")));
    assert_eq!(m.running, None);
    let fx = act(&mut m, Action::Retry);
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { jobs, first: false }), Effect::Send(Command::RunQueue)] if jobs[0] == Job::Invert { item: "dog".into() }), "{fx:?}");
}

#[test]
fn quitting_while_a_job_runs_asks_first_and_pauses_it() {
    let mut m = running_model();
    assert!(act(&mut m, Action::Quit).is_empty());
    assert_eq!(m.mode, Mode::ConfirmQuit);
    update(&mut m, Msg::Input(InputKey::Char('n')));
    assert_eq!(m.mode, Mode::Normal);
    act(&mut m, Action::Quit);
    let fx = update(&mut m, Msg::Input(InputKey::Char('y')));
    assert!(matches!(&fx[..], [Effect::Stop(StopReason::Stop), Effect::Quit]) && m.quit, "{fx:?}");
    let mut idle = idle_model();
    assert!(matches!(&act(&mut idle, Action::Quit)[..], [Effect::Quit]));
}

#[test]
fn the_forms_validate_before_queueing() {
    let mut m = idle_model();
    act(&mut m, Action::AddImage);
    typed(&mut m, "/no/such/photo.png");
    update(&mut m, Msg::Input(InputKey::Enter));
    match &m.mode {
        Mode::AddImage(f) => assert!(f.error.as_deref().unwrap_or_default().contains("does not exist")),
        other => panic!("{other:?}"),
    }
    update(&mut m, Msg::Input(InputKey::Esc));
    assert_eq!(m.mode, Mode::Normal);
    // A file the worker refuses (not an image) brings the form back as typed, with the reason.
    let notes = std::env::temp_dir().join(format!("pivot-notes-{}.png", std::process::id()));
    std::fs::write(&notes, b"not a picture").unwrap();
    act(&mut m, Action::AddImage);
    assert!(matches!(&m.mode, Mode::AddImage(f) if f.path == "/no/such/photo.png" && f.error.is_none()), "the draft closed with Esc comes back: {:?}", m.mode);
    update(&mut m, Msg::Input(InputKey::ClearField));
    typed(&mut m, notes.to_str().unwrap());
    update(&mut m, Msg::Input(InputKey::Enter));
    typed(&mut m, "a cat");
    let fx = update(&mut m, Msg::Input(InputKey::Enter));
    std::fs::remove_file(&notes).unwrap();
    assert!(matches!(&fx[..], [Effect::Send(Command::AddItem(_))]), "{fx:?}");
    assert_eq!(m.mode, Mode::Normal);
    update(&mut m, Msg::Worker(Event::Failed { job: None, message: "notes.png is not a readable image".into() }));
    match &m.mode {
        Mode::AddImage(f) => assert!(f.prompt == "a cat" && f.error.as_deref() == Some("notes.png is not a readable image"), "{f:?}"),
        other => panic!("{other:?}"),
    }
    update(&mut m, Msg::Input(InputKey::Esc));
    m.status = Some(("an older note".into(), Level::Warning));
    act(&mut m, Action::NewEdit);
    assert_eq!(m.status, None, "a form clears older notes");
    update(&mut m, Msg::Input(InputKey::ClearField));
    typed(&mut m, "a big cat sitting next to a mirror");
    assert!(update(&mut m, Msg::Input(InputKey::Enter)).is_empty());
    assert!(matches!(&m.mode, Mode::Edit(f) if f.error.as_deref().unwrap_or_default().contains("refine")));
    update(&mut m, Msg::Input(InputKey::Tab));
    update(&mut m, Msg::Input(InputKey::Char(' ')));
    assert!(matches!(&m.mode, Mode::Edit(f) if f.error.is_none()), "switching to refine mends the refusal, which goes");
    let fx = update(&mut m, Msg::Input(InputKey::Enter));
    assert!(matches!(&fx[..], [Effect::Send(Command::AddEdit { item, specs })] if item == "cat" && specs[0].mode == "refine"), "{fx:?}");
    let fx = update(&mut m, Msg::Worker(Event::EditAdded { item: "cat".into(), edit: "e3".into() }));
    assert!(fx.is_empty(), "a paused queue keeps the edit waiting: {fx:?}");
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("queued edit cat/e3") && s.contains("the queue is paused: p runs it")), "{:?}", m.status);
}

#[test]
fn delete_and_caption_ask_first_and_refuse_a_running_item() {
    let mut m = running_model();
    act(&mut m, Action::DeleteItem);
    // A cancel is the way (a pause would stop the whole queue, and wait for a checkpoint).
    assert!(matches!(m.status, Some((ref s, Level::Warning)) if s.contains("cancel its work first (x), then d")), "dog is running: {:?}", m.status);
    m.selected = 0;
    act(&mut m, Action::DeleteItem);
    assert_eq!(m.mode, Mode::ConfirmDelete("cat".into()));
    assert!(update(&mut m, Msg::Input(InputKey::Char('n'))).is_empty());
    act(&mut m, Action::DeleteItem);
    let fx = update(&mut m, Msg::Input(InputKey::Char('y')));
    assert!(matches!(&fx[..], [Effect::Send(Command::RemoveItem { item })] if item == "cat"), "{fx:?}");
    act(&mut m, Action::EditCaption);
    typed(&mut m, " at night");
    // cat's inversion is finished: the new caption asks once more; any key but y goes back.
    assert!(update(&mut m, Msg::Input(InputKey::Enter)).is_empty());
    assert!(matches!(&m.mode, Mode::ConfirmCaption(item, _) if item == "cat"), "{:?}", m.mode);
    assert!(update(&mut m, Msg::Input(InputKey::Char('n'))).is_empty());
    assert!(matches!(&m.mode, Mode::Caption(_, text) if text.ends_with("mirror at night")), "the form comes back as typed: {:?}", m.mode);
    update(&mut m, Msg::Input(InputKey::Enter));
    let fx = update(&mut m, Msg::Input(InputKey::Char('y')));
    assert!(matches!(&fx[..], [Effect::Send(Command::SetPrompt { item, prompt }), ..] if item == "cat" && prompt.ends_with("mirror at night")), "{fx:?}");
}

#[test]
fn an_inversion_stopped_while_sampling_its_reconstruction_is_work_left_for_i() {
    let mut man = manifest();
    man.items[0].reconstruction = None;
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    m.set_job(&Job::Invert { item: "cat".into() }, JobState::Cancelled);
    assert_eq!(m.item_state(&m.items()[0]), "cancelled");
    // Paused there, it stays first on the queue: it reads "paused", not "queued".
    let mut paused = m.manifest.clone().unwrap();
    paused.queue.insert(0, Job::Invert { item: "cat".into() });
    let mut p = Model::new("kitchen", false);
    update(&mut p, Msg::Worker(Event::Manifest(Box::new(paused))));
    p.set_job(&Job::Invert { item: "cat".into() }, JobState::Paused);
    assert_eq!(p.item_state(&p.items()[0]), "paused");
    // Reopened after a kill there: every timestep is kept, only the reconstruction waits.
    p.jobs.retain(|_, _| false);
    assert_eq!(p.item_state(&p.items()[0]), "recon queued");
    // A part-done inversion waiting its turn is queued, with its count.
    let mut part = p.manifest.clone().unwrap();
    part.items[0].inversion.as_mut().unwrap().completed_steps = 15;
    update(&mut p, Msg::Worker(Event::Manifest(Box::new(part))));
    assert_eq!(p.item_state(&p.items()[0]), "queued 15/50");
    let fx = act(&mut m, Action::Confirm);
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { jobs, first: true }), ..] if *jobs == vec![Job::Invert { item: "cat".into() }]), "Enter runs it again: {fx:?}");
    // While it is sampled, the row says so (not "inverting 50/50").
    let mut m = running_model(); // dog runs
    m.sampling = Some((3, 50));
    let dog = m.items().iter().find(|i| i.id == "dog").unwrap().clone();
    assert_eq!(m.item_state(&dog), "recon 3/50");
}
