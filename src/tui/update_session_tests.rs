//! Pure `update` tests about what the session holds: damaged files, captions, relaunches and
//! finished work.

use super::keymap::Action;
use super::state::{JobState, Level, Mode, Model, Pane};
use super::showcase::{manifest, running_model};
use super::update::{update, Effect, InputKey, Msg};
use super::update_tests::{act, idle_model, typed};
use crate::session::manifest::Job;
use crate::worker::{Command, Event};

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
    assert_eq!(m.way_on("cat"), (Some("i".to_string()), "i inverts the item again".to_string()));
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
    assert_eq!(m.way_on("cat").0.as_deref(), Some("r"));
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
