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

fn typed(m: &mut Model, s: &str) {
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

#[test]
fn damaged_files_mark_their_items_until_a_new_checkpoint_replaces_them() {
    use crate::session::check::FileProblem;
    let mut m = idle_model();
    let cat = |m: &Model| m.item_state(&m.items()[0]);
    assert_eq!(cat(&m), "inverted");
    let problem = |file: &str| FileProblem { item: "cat".into(), file: file.into(), why: "is truncated (10 of 99 bytes)".into() };
    update(&mut m, Msg::Worker(Event::FileProblems(vec![problem("inversions/x-1.safetensors"), problem("edits/cat-e1.png")])));
    assert_eq!(cat(&m), "damaged");
    let (text, level) = m.status.clone().unwrap();
    assert_eq!(level, Level::Warning);
    assert!(text.contains("inversions/x-1.safetensors is truncated") && text.contains("i inverts it again") && text.contains("1 more"), "{text}");
    // The job that found it failing says the way out, not "r retries" (which fails the same way).
    update(&mut m, Msg::Worker(Event::Failed { job: Some(Job::Invert { item: "cat".into() }), message: "the checkpoint is damaged; `pivot resume …`".into() }));
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.starts_with("invert cat failed") && s.contains("i inverts it again") && !s.contains("retries")), "{:?}", m.status);
    // r would fail the same way: it names i instead, as the failed jobs' hints do.
    assert!(act(&mut m, Action::Retry).is_empty());
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("i inverts it again") && s.contains("retrying fails the same way")), "{:?}", m.status);
    assert_eq!(m.way_on("cat"), ("i".to_string(), "inverts the item again"));
    // i on the damaged item asks, then throws the inversion away and runs it from the start.
    act(&mut m, Action::Invert);
    assert_eq!(m.mode, Mode::ConfirmRestart("cat".into()));
    assert!(update(&mut m, Msg::Input(InputKey::Char('n'))).is_empty(), "any other key leaves it");
    act(&mut m, Action::Invert);
    // A failed edit of the item, still queued, runs after the new inversion: no longer failed.
    let edit = Job::Edit { item: "cat".into(), edit: "e1".into() };
    m.manifest.as_mut().unwrap().queue.push(edit.clone());
    m.set_job(&edit, JobState::Failed("the checkpoint is damaged".into()));
    let fx = update(&mut m, Msg::Input(InputKey::Char('y')));
    assert_eq!(m.job_state(&edit), Some(&JobState::Queued));
    assert!(matches!(&fx[..], [Effect::Send(Command::RestartInversion { item, run: true })] if item == "cat"), "{fx:?}");
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("queue runs: invert cat again from the first timestep")), "{:?}", m.status);
    // A fresh checkpoint under another name supersedes the damaged file.
    let mut fresh = manifest();
    fresh.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-2.safetensors".into());
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(fresh))));
    assert_eq!(cat(&m), "inverted");
    assert_eq!(m.way_on("cat").0, "r");
    update(&mut m, Msg::Worker(Event::FileProblems(vec![problem("images/cat.png")])));
    assert_eq!(cat(&m), "photo damaged", "a truncated photo is there, damaged");
    update(&mut m, Msg::Worker(Event::FileProblems(vec![FileProblem { why: "is missing".into(), ..problem("images/cat.png") }])));
    assert_eq!(cat(&m), "photo missing");
    assert!(m.status.as_ref().unwrap().0.contains("d deletes the item"));
    // Put back (the loop looks for it every few seconds), it is what it was before.
    let fx = update(&mut m, Msg::FilesSeen(super::photo_watch::Seen { gone: vec![], back: vec!["images/cat.png".into()] }));
    assert_eq!(cat(&m), "inverted");
    assert!(m.status.as_ref().unwrap().0.contains("item cat: its photo copy images/cat.png is there again"), "{:?}", m.status);
    assert!(fx.iter().all(|e| matches!(e, Effect::LoadImage(_))), "{fx:?}");
}

#[test]
fn an_unchanged_or_empty_caption_keeps_the_inversion() {
    let mut m = idle_model();
    act(&mut m, Action::EditCaption);
    assert!(update(&mut m, Msg::Input(InputKey::Enter)).is_empty(), "Enter on the same words sends nothing");
    assert_eq!(m.mode, Mode::Normal);
    assert!(m.status.clone().unwrap().0.contains("unchanged"));
    // Spacing does not make a new caption either (the worker stores it single-spaced).
    act(&mut m, Action::EditCaption);
    let spaced = match &m.mode {
        Mode::Caption(_, text) => format!("  {}  ", text.replace(' ', "   ")),
        other => panic!("{other:?}"),
    };
    update(&mut m, Msg::Input(InputKey::ClearField));
    typed(&mut m, &spaced);
    assert!(update(&mut m, Msg::Input(InputKey::Enter)).is_empty(), "{spaced:?} is the same caption");
    assert!(m.status.clone().unwrap().0.contains("unchanged"));
    act(&mut m, Action::EditCaption);
    for _ in 0..80 {
        update(&mut m, Msg::Input(InputKey::Backspace));
    }
    typed(&mut m, "   ");
    assert!(update(&mut m, Msg::Input(InputKey::Enter)).is_empty());
    assert!(matches!(m.mode, Mode::Caption(..)), "an empty caption keeps the form open");
    assert!(m.status.clone().unwrap().0.contains("cannot be empty"));
    // Esc after typing says the caption stayed; Esc on the words it had says nothing.
    typed(&mut m, "a new caption");
    update(&mut m, Msg::Input(InputKey::Esc));
    assert!(m.status.clone().unwrap().0.contains("caption unchanged (what was typed is dropped"), "{:?}", m.status);
    m.status = None;
    act(&mut m, Action::EditCaption);
    update(&mut m, Msg::Input(InputKey::Esc));
    assert_eq!(m.status, None);
}

#[test]
fn another_items_inversion_waits_for_the_job_in_hand_and_removed_items_leave_no_trace() {
    let mut m = running_model();
    m.selected = 2; // sky, while dog runs
    let fx = act(&mut m, Action::Invert);
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { first: true, .. }), Effect::Send(Command::RunQueue)]), "{fx:?}");
    assert!(m.status.clone().unwrap().0.contains("invert sky runs next, after invert dog"), "{:?}", m.status);
    m.set_job(&Job::Invert { item: "cat".into() }, JobState::Failed("boom".into()));
    let mut without = manifest();
    without.items.retain(|i| i.id != "dog" && i.id != "cat");
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(without))));
    assert!(m.run.is_none(), "the removed item's run is not shown");
    assert!(m.job_state(&Job::Invert { item: "cat".into() }).is_none(), "a new item reusing the id starts clean");
}

#[test]
fn r_retries_work_cancelled_before_the_dashboard_started() {
    let mut m = Model::new("kitchen", false);
    let mut man = manifest();
    man.queue.retain(|j| j != &Job::Invert { item: "dog".into() });
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    m.selected = 1;
    let fx = act(&mut m, Action::Retry);
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { jobs, .. }), Effect::Send(Command::RunQueue)] if *jobs == vec![Job::Invert { item: "dog".into() }]), "{fx:?}");
}

#[test]
fn a_failure_noted_in_the_session_shows_after_a_relaunch() {
    let mut m = Model::new("kitchen", false);
    let mut man = manifest();
    man.items[0].edits[1].failure = Some("word swap (replace) needs prompts with the same number of words".into());
    let dog = man.items.iter_mut().find(|i| i.inversion.as_ref().is_some_and(|r| !r.is_done())).expect("an unfinished inversion");
    dog.inversion.as_mut().unwrap().failure = Some("images/dog.png is unreadable".into());
    let dog = Job::Invert { item: dog.id.clone() };
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    let e2 = Job::Edit { item: "cat".into(), edit: "e2".into() };
    assert!(matches!(m.job_state(&e2), Some(JobState::Failed(why)) if why.contains("word swap")), "{:?}", m.job_state(&e2));
    assert!(matches!(m.job_state(&dog), Some(JobState::Failed(why)) if why.contains("unreadable")), "{:?}", m.job_state(&dog));
}

#[test]
fn moving_about_clears_a_notice_but_not_a_warning() {
    let mut m = idle_model();
    super::update::say(&mut m, "following the latest timestep", Level::Info);
    act(&mut m, Action::Down);
    assert_eq!(m.status, None, "a notice about where the cursor was goes when it moves");
    super::update::say(&mut m, "could not note the state of edit cat/e2", Level::Warning);
    act(&mut m, Action::Down);
    act(&mut m, Action::NextPane);
    assert!(matches!(&m.status, Some((s, Level::Warning)) if s.contains("could not note")), "{:?}", m.status);
}

#[test]
fn a_new_caption_for_the_item_being_inverted_is_typed_into_its_form_and_stops_the_run() {
    let mut m = running_model(); // dog is being inverted
    let dog = Job::Invert { item: "dog".into() };
    assert_eq!(m.running.as_ref(), Some(&dog));
    act(&mut m, Action::EditCaption);
    assert!(matches!(&m.mode, Mode::Caption(item, _) if item == "dog"), "the form opens: typed letters are text, not commands ({:?})", m.mode);
    typed(&mut m, " at dusk");
    let fx = update(&mut m, Msg::Input(InputKey::Enter));
    assert!(matches!(&fx[..], [Effect::Send(Command::SetPrompt { item, prompt })] if item == "dog" && prompt.ends_with("at dusk")), "{fx:?}");
    update(&mut m, Msg::Worker(Event::Recaptioned { item: "dog".into() }));
    assert_eq!(m.running, None);
    assert_eq!(m.job_state(&dog), Some(&JobState::Queued), "the stopped inversion waits its turn again");
    assert!(m.run.is_none(), "the old caption's losses leave the loss pane");
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("the old caption's run stops")), "{:?}", m.status);
    // Deleting it while it runs still asks for a pause first.
    let mut m = running_model();
    act(&mut m, Action::DeleteItem);
    assert_eq!(m.mode, Mode::Normal);
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("cancel its work first")), "{:?}", m.status);
}

#[test]
fn the_first_manifest_takes_the_dashboard_back_to_where_it_was() {
    let mut m = Model::new("kitchen", false);
    m.restore = Some(super::spot::Spot { item: Some("dog".into()), focus: Some(Pane::Loss), shown: None });
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    assert_eq!((m.selected_item().map(|i| i.id.as_str()), m.focus), (Some("dog"), Pane::Loss));
    assert!(m.restore.is_none());
    // The dashboard opens with the queue stopped: what waits on it is said, with the key.
    assert_eq!(m.status.as_ref().map(|s| s.0.as_str()), Some("work waits on the queue: invert dog stopped at t 23/50 and 2 more; p runs it"));
    // Later manifests leave the selection to the user.
    m.selected = 0;
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    assert_eq!(m.selected, 0);
}

#[test]
fn the_demo_photo_and_its_edit_get_one_notice() {
    let mut m = Model::new("demo", true);
    // A new demo session: nothing on its queue yet.
    let mut new = manifest();
    new.queue.clear();
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(new))));
    m.demo_edit_pending = true;
    let fx = update(&mut m, Msg::Worker(Event::ItemAdded { item: "cat".into() }));
    assert!(m.status.is_none(), "the edit's notice says it: {:?}", m.status);
    assert!(fx.iter().any(|e| matches!(e, Effect::Send(Command::AddEdit { item, specs }) if item == "cat" && specs[0].target == "a colourful test picture")), "{fx:?}");
    update(&mut m, Msg::Worker(Event::EditAdded { item: "cat".into(), edit: "e2".into() }));
    let (text, _) = m.status.clone().unwrap();
    assert!(text.starts_with("the demo added a generated photo, cat, and an edit of it, \"a lion sitting next to a mirror\", to the queue; the queue is paused: p runs it"), "{text}");
    // A later edit is the user's own.
    update(&mut m, Msg::Worker(Event::EditAdded { item: "cat".into(), edit: "e2".into() }));
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.starts_with("queued edit cat/e2")), "{:?}", m.status);
}

/// Direct Inversion's offsets assume plain guidance: the edit form refuses the proximal field for
/// such an item before queueing, with its cursor there, and queues the edit once it is cleared.
#[test]
fn the_edit_form_refuses_proximal_guidance_for_a_direct_inversion_at_its_field() {
    let mut direct = manifest();
    direct.items[0].inversion.as_mut().unwrap().method = "direct".into();
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(direct))));
    m.selected = 0;
    act(&mut m, Action::NewEdit);
    let caption = m.items()[0].prompt.clone();
    update(&mut m, Msg::Input(InputKey::ClearField));
    typed(&mut m, &caption.replacen("cat", "dog", 1));
    update(&mut m, Msg::Input(InputKey::Up));
    typed(&mut m, "l0");
    assert!(update(&mut m, Msg::Input(InputKey::Enter)).is_empty());
    match &m.mode {
        Mode::Edit(f) => assert!(f.field == 7 && f.error.as_deref().is_some_and(|e| e.contains("Direct Inversion") && e.contains("clear the proximal field")), "{f:?}"),
        other => panic!("{other:?}"),
    }
    update(&mut m, Msg::Input(InputKey::ClearField));
    let fx = update(&mut m, Msg::Input(InputKey::Enter));
    assert!(matches!(&fx[..], [Effect::Send(Command::AddEdit { specs, .. })] if specs[0].prox.is_none()), "{fx:?}");
}

/// A finished edit's status says what the edit list says of it (its words, blend, exclusion and
/// proximal guidance), not the worker's whole summary, which a status line would cut mid-way.
#[test]
fn a_finished_edit_is_said_in_the_edit_lists_words() {
    let mut made = manifest();
    let e1 = &mut made.items[0].edits[0];
    e1.spec.blend = Some(["cat".into(), "tiger".into()]);
    e1.spec.blend_except = Some(crate::session::manifest::BlendExcept { words: ["mirror".into(), "mirror".into()], threshold: 0.3 });
    e1.spec.prox = Some(crate::session::manifest::ProxSpec { shrink: "l1".into(), quantile: 0.7, pull: "inversion".into(), strength: 1.0, below: 400 });
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(made))));
    let job = Job::Edit { item: "cat".into(), edit: "e1".into() };
    update(&mut m, Msg::Worker(Event::JobDone { job, summary: "item cat, edit e1: a long summary (replace, cross 0.8, …)".into(), outputs: vec![] }));
    let (text, _) = m.status.clone().unwrap();
    assert!(text.starts_with("made edit e1 of cat: ") && text.contains("tiger") && text.ends_with("+blend except prox l1"), "{text}");
}
