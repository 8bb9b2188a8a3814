//! The queue keys (`p`, `i`, `x`, `r`) and what the status line and titles say about the queue,
//! as the audit found them wanting: `x` acts on the selected item, the queue runs only when it
//! says so, hints name the keys bound now, and notices do not outstay what they were about.

use super::keymap::{Action, Keymap};
use super::showcase::{manifest, running_model};
use super::state::{JobState, Level, Model};
use super::update::{update, Effect, Msg};
use super::view::session::queue_title;
use crate::session::manifest::Job;
use crate::worker::{Command, Event, StopReason};

fn act(m: &mut Model, a: Action) -> Vec<Effect> {
    update(m, Msg::Action(a))
}

fn said(m: &Model) -> String {
    m.status.as_ref().map(|(s, _)| s.clone()).unwrap_or_default()
}

/// Whether these effects ask the worker to run anything.
fn starts_work(fx: &[Effect]) -> bool {
    fx.iter().any(|e| matches!(e, Effect::Send(Command::RunQueue | Command::Run(_))))
}

fn invert(item: &str) -> Job {
    Job::Invert { item: item.into() }
}

#[test]
fn x_cancels_the_selected_items_job_never_another_one() {
    let mut m = running_model(); // dog runs; sky and cat/e2 are queued
    m.selected = 2;
    let fx = act(&mut m, Action::Cancel);
    assert!(matches!(&fx[..], [Effect::Cancel(j)] if *j == vec![invert("sky")]), "the selected item's queued job: {fx:?}");
    assert_eq!(m.job_state(&invert("sky")), Some(&JobState::Cancelled));
    assert!(said(&m).contains("cancelled invert sky") && said(&m).contains("r retries"), "{}", said(&m));
    // The worker confirms; the running job is untouched.
    update(&mut m, Msg::Worker(Event::Cancelled { job: invert("sky") }));
    assert_eq!(m.running, Some(invert("dog")));
    m.selected = 0;
    let edit = Job::Edit { item: "cat".into(), edit: "e2".into() };
    assert!(matches!(&act(&mut m, Action::Cancel)[..], [Effect::Cancel(j)] if *j == vec![edit.clone()]));
    // Nothing of cat's left: say so, and which job runs.
    let mut man = manifest();
    man.queue.retain(|j| *j == invert("dog"));
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    assert!(act(&mut m, Action::Cancel).is_empty());
    assert!(said(&m).contains("cat has no running or queued job to cancel; invert dog is running (select dog to cancel it)"), "{}", said(&m));
    m.selected = 1;
    assert!(matches!(&act(&mut m, Action::Cancel)[..], [Effect::Cancel(j)] if *j == vec![invert("dog")]), "the selected item's running job");
    update(&mut m, Msg::Worker(Event::Cancelled { job: invert("dog") }));
    assert_eq!(m.running, None);
    // `r` brings back the selected item's cancelled jobs only: the others were cancelled on purpose.
    let fx = act(&mut m, Action::Retry);
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { jobs, .. }), Effect::Send(Command::RunQueue)] if *jobs == vec![invert("dog")]), "{fx:?}");
    assert_eq!(m.job_state(&invert("sky")), Some(&JobState::Cancelled));
    m.selected = 0;
    let fx = act(&mut m, Action::Retry);
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { jobs, .. }), _] if *jobs == vec![edit.clone()]), "{fx:?}");
}

#[test]
fn r_retries_the_selected_items_jobs_and_names_the_items_where_others_wait() {
    let mut m = running_model(); // dog runs; sky and cat/e2 are queued
    m.set_job(&invert("sky"), JobState::Cancelled);
    m.set_job(&Job::Edit { item: "cat".into(), edit: "e2".into() }, JobState::Failed("boom".into()));
    m.selected = 1;
    assert!(act(&mut m, Action::Retry).is_empty(), "dog has nothing to retry");
    assert!(said(&m).contains("dog has no failed or cancelled job to retry; 2 wait(s) on sky, cat (select it, then r)"), "{}", said(&m));
    m.selected = 2;
    let fx = act(&mut m, Action::Retry);
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { jobs, .. }), Effect::Send(Command::RunQueue)] if *jobs == vec![invert("sky")]), "{fx:?}");
    assert!(said(&m).contains("retrying invert sky: it runs in turn"), "no checkpoint to continue from is promised: {}", said(&m));
    assert!(matches!(m.job_state(&Job::Edit { item: "cat".into(), edit: "e2".into() }), Some(JobState::Failed(_))), "another item's job stays as it was");
}

#[test]
fn a_second_p_or_an_i_or_r_while_pausing_withdraws_the_pause_and_says_what_happens() {
    let mut m = running_model();
    assert!(matches!(&act(&mut m, Action::PauseResume)[..], [Effect::Stop(StopReason::Pause)]));
    assert!(said(&m).contains("p again runs on"), "{}", said(&m));
    // p p: a change of mind; the queue runs on.
    assert!(matches!(&act(&mut m, Action::PauseResume)[..], [Effect::Send(Command::RunQueue)]));
    assert!(m.queue_running && said(&m).contains("pause withdrawn: the queue runs on"), "{}", said(&m));
    assert_eq!(queue_title(&m), "Queue (running):");
    // The worker withdrew it in time: the job goes on, and a later pause is a plain pause.
    update(&mut m, Msg::Worker(Event::JobDone { job: invert("dog"), summary: "done".into(), outputs: vec![] }));
    assert_eq!(queue_title(&m), "Queue (idle · runs new work):", "between jobs, or once it ran out, nothing runs");
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert("sky") }));
    act(&mut m, Action::PauseResume);
    update(&mut m, Msg::Worker(Event::Paused { job: invert("sky") }));
    update(&mut m, Msg::Worker(Event::Idle));
    assert!(!m.queue_running && said(&m).contains("paused invert sky"), "{}", said(&m));
    // p then r: r runs now. If the pause stopped the job first, the worker runs the queue again
    // (no Idle between) and the status line says so.
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert("sky") }));
    act(&mut m, Action::PauseResume);
    m.set_job(&invert("sky"), JobState::Running);
    m.selected = 0;
    m.set_job(&Job::Edit { item: "cat".into(), edit: "e2".into() }, JobState::Cancelled);
    let fx = act(&mut m, Action::Retry);
    assert!(matches!(&fx[..], [_, Effect::Send(Command::RunQueue)]), "{fx:?}");
    assert!(said(&m).contains("the pause is withdrawn"), "{}", said(&m));
    update(&mut m, Msg::Worker(Event::Paused { job: invert("sky") }));
    assert!(m.queue_running && said(&m).contains("stopped at its checkpoint before the pause was withdrawn; the queue runs on"), "{}", said(&m));
    update(&mut m, Msg::Worker(Event::Idle));
    assert!(m.queue_running, "a run asked for after the pause follows");
    // p then i: the same, and i says so.
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert("sky") }));
    act(&mut m, Action::PauseResume);
    m.selected = 1;
    let fx = act(&mut m, Action::Invert);
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { first: true, .. }), Effect::Send(Command::RunQueue)]), "{fx:?}");
    assert!(said(&m).contains("invert dog runs next, after invert sky (the pause is withdrawn)"), "{}", said(&m));
}

#[test]
fn only_p_i_and_r_start_the_queue_adding_work_waits_while_it_is_paused() {
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    assert_eq!(queue_title(&m), "Queue (paused · p runs):", "a dashboard never starts work unasked");
    // Added work waits while paused, and the status line says so (a photo and an edit alike).
    assert!(!starts_work(&update(&mut m, Msg::Worker(Event::ItemAdded { item: "sky".into() }))));
    assert!(said(&m).contains("the queue is paused: p runs it"), "{}", said(&m));
    assert!(!starts_work(&update(&mut m, Msg::Worker(Event::EditAdded { item: "sky".into(), edit: "e1".into() }))), "an edit of an item not inverted yet starts nothing");
    assert!(said(&m).contains("its inversion runs first") && said(&m).contains("p runs it"), "{}", said(&m));
    // After its inversion failed, an edit waits on it, and the way on is said.
    m.set_job(&invert("sky"), JobState::Failed("boom".into()));
    update(&mut m, Msg::Worker(Event::EditAdded { item: "sky".into(), edit: "e1".into() }));
    assert!(said(&m).contains("(it waits: its inversion failed, r retries)"), "{}", said(&m));
    m.set_job(&invert("sky"), JobState::Queued);
    // p runs the whole queue; a pause is "pausing" until the job in hand stops.
    assert!(matches!(&act(&mut m, Action::PauseResume)[..], [Effect::Send(Command::RunQueue)]));
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert("dog") }));
    assert_eq!(queue_title(&m), "Queue (running):");
    assert!(matches!(&act(&mut m, Action::PauseResume)[..], [Effect::Stop(StopReason::Pause)]));
    assert_eq!(queue_title(&m), "Queue (pausing…):");
    update(&mut m, Msg::Worker(Event::Paused { job: invert("dog") }));
    update(&mut m, Msg::Worker(Event::Idle));
    assert_eq!(queue_title(&m), "Queue (paused · p runs):");
    // r after a pause runs the whole queue (not only the retried job), and says so.
    m.set_job(&invert("sky"), JobState::Failed("boom".into()));
    m.selected = 2;
    let fx = act(&mut m, Action::Retry);
    assert!(matches!(&fx[..], [Effect::Send(Command::Enqueue { .. }), Effect::Send(Command::RunQueue)]), "{fx:?}");
    assert!(m.queue_running && said(&m).contains("the queue runs (p pauses it)"), "{}", said(&m));
    // While it runs, added work joins it; once it has run out it stays running and starts new work.
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert("sky") }));
    assert!(starts_work(&update(&mut m, Msg::Worker(Event::ItemAdded { item: "cat".into() }))));
    assert!(said(&m).contains("it runs in turn"), "{}", said(&m));
    let mut empty = manifest();
    empty.queue.clear();
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(empty))));
    update(&mut m, Msg::Worker(Event::JobDone { job: invert("sky"), summary: "done".into(), outputs: vec![] }));
    update(&mut m, Msg::Worker(Event::Idle));
    assert!(m.queue_running, "run out, not paused");
    assert!(matches!(&update(&mut m, Msg::Worker(Event::EditAdded { item: "cat".into(), edit: "e2".into() }))[..], [Effect::Send(Command::RunQueue)]));
    assert!(said(&m).contains("the queue runs it now"), "{}", said(&m));
}

#[test]
fn hints_name_the_keys_bound_now() {
    let mut keys = Keymap::default();
    keys.apply("pause_resume = \"P\"\nretry = [\"R\", \"r\"]\nzoom = \"v\"").unwrap();
    let mut m = Model::new("kitchen", false);
    m.keys = keys.clone();
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    assert_eq!(queue_title(&m), "Queue (paused · P runs):");
    update(&mut m, Msg::Worker(Event::ItemAdded { item: "sky".into() }));
    assert!(said(&m).contains("P runs it"), "{}", said(&m));
    update(&mut m, Msg::Worker(Event::Failed { job: Some(invert("sky")), message: "boom".into() }));
    assert!(said(&m).ends_with("R retries"), "the first binding: {}", said(&m));
    let help = keys.help();
    assert!(help.iter().any(|(_, d)| d.contains("then v zooms it")), "{help:?}");
}

#[test]
fn info_notices_expire_beside_a_running_jobs_progress_errors_stay() {
    let mut m = running_model();
    update(&mut m, Msg::Worker(Event::ItemAdded { item: "sky".into() }));
    let at = m.now;
    update(&mut m, Msg::Tick { now: at + 1.0 });
    assert!(m.status.is_some(), "fresh");
    update(&mut m, Msg::Tick { now: at + super::update::NOTICE_SECS + 1.0 });
    assert_eq!(m.status, None, "an old notice would read as describing the running job");
    m.status = Some(("out of memory".into(), Level::Error));
    update(&mut m, Msg::Tick { now: at + 100.0 });
    assert!(m.status.is_some(), "errors stay");
}

#[test]
fn closing_the_add_form_takes_its_refusal_off_the_status_line() {
    use super::state::AddForm;
    use super::update::InputKey;
    let mut m = Model::new("kitchen", false);
    m.adding = Some(AddForm { field: 1, path: "/tmp/notes.png".into(), prompt: "a cat".into(), ..AddForm::default() });
    update(&mut m, Msg::Worker(Event::Failed { job: None, message: "notes.png is not a readable image".into() }));
    assert!(matches!(m.status, Some((_, Level::Error))));
    update(&mut m, Msg::Input(InputKey::Esc));
    assert!(m.status.as_ref().is_some_and(|(s, l)| *l == Level::Info && s.contains("opens the form again")), "Esc closes the form and its refusal with it: {:?}", m.status);
    act(&mut m, Action::AddImage);
    assert_eq!(m.status, None, "a reopened form starts clean");
}

#[test]
fn the_bell_rings_when_a_run_is_over_or_a_job_fails_never_for_what_the_user_stopped() {
    let bells = |fx: &[Effect]| fx.iter().filter(|e| matches!(e, Effect::Bell)).count();
    let mut m = running_model(); // dog runs
    m.bell = true;
    let done = |job: Job| Msg::Worker(Event::JobDone { job, summary: "done".into(), outputs: vec![] });
    // A job finished and the next one starts: the run goes on, no bell.
    assert_eq!(bells(&update(&mut m, done(invert("dog")))), 0);
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert("sky") }));
    // The last job finished and the worker has nothing left to run: the run is over.
    assert_eq!(bells(&update(&mut m, done(invert("sky")))), 0);
    assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Idle))), 1);
    assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Idle))), 0, "once");
    // A failure rings at once; the idle worker after it does not ring again.
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert("sky") }));
    assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Failed { job: Some(invert("sky")), message: "out of memory".into() }))), 1);
    assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Idle))), 0);
    // Paused or cancelled: the user did it, no bell.
    for stopped in [Event::Paused { job: invert("sky") }, Event::Cancelled { job: invert("sky") }] {
        update(&mut m, Msg::Worker(Event::JobStarted { job: invert("sky") }));
        assert_eq!(bells(&update(&mut m, Msg::Worker(stopped))), 0);
        assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Idle))), 0);
    }
    // `p` during an edit lets it finish (it has no checkpoint): the run stops on a pause, no bell.
    let edit = Job::Edit { item: "cat".into(), edit: "e2".into() };
    update(&mut m, Msg::Worker(Event::JobStarted { job: edit.clone() }));
    act(&mut m, Action::PauseResume);
    assert_eq!(bells(&update(&mut m, done(edit.clone()))), 0);
    assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Idle))), 0);
    // Several failures in one run (the queued edits of a re-captioned item) ring once, and a run
    // that rang for a failure does not ring again at its end.
    m.queue_running = true;
    let failed = |job: &Job| Msg::Worker(Event::Failed { job: Some(job.clone()), message: "written for the old caption".into() });
    assert_eq!(bells(&update(&mut m, failed(&edit))) + bells(&update(&mut m, failed(&edit))), 1);
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert("sky") }));
    update(&mut m, done(invert("sky")));
    assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Idle))), 0);
    // A refused command (no job) is said, not rung; config.toml's `bell = false` silences it all.
    assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Failed { job: None, message: "no".into() }))), 0);
    m.bell = false;
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert("sky") }));
    assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Failed { job: Some(invert("sky")), message: "x".into() }))), 0);
    update(&mut m, done(invert("sky")));
    assert_eq!(bells(&update(&mut m, Msg::Worker(Event::Idle))), 0);
}

#[test]
fn a_queue_stopped_at_a_failed_job_says_so_not_paused() {
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest())))); // sky and cat/e2 queued
    assert_eq!(queue_title(&m), "Queue (paused · p runs):");
    update(&mut m, Msg::Worker(Event::Failed { job: Some(invert("sky")), message: "boom".into() }));
    update(&mut m, Msg::Worker(Event::Idle));
    assert_eq!(queue_title(&m), "Queue (stopped · p runs):");
    update(&mut m, Msg::Worker(Event::ItemAdded { item: "moon".into() }));
    assert!(said(&m).contains("the queue stopped at a failed job: p runs it (that job again first)"), "{}", said(&m));
    // r puts it back to run: the queue is no longer stopped at it.
    m.selected = m.items().iter().position(|i| i.id == "sky").unwrap();
    act(&mut m, Action::Retry);
    assert_ne!(queue_title(&m), "Queue (stopped · p runs):");
}

#[test]
fn a_pause_during_a_phase_without_checkpoints_says_it_waits_for_the_first() {
    let mut m = running_model(); // dog runs
    update(&mut m, Msg::Worker(Event::Stage { job: invert("dog"), stage: crate::worker::Stage::DdimInversion, total_steps: 50 }));
    let fx = act(&mut m, Action::PauseResume);
    assert!(matches!(&fx[..], [Effect::Stop(StopReason::Pause)]), "{fx:?}");
    assert!(said(&m).starts_with("pausing the queue at the first checkpoint of invert dog, after its ddim inversion, which keeps none (x stops at once"), "{}", said(&m));
}

#[test]
fn p_does_not_run_a_queue_that_would_stop_on_a_damaged_inversion_again() {
    use crate::session::check::FileProblem;
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    // dog heads the queue; its checkpoint is truncated, and its job failed on it.
    let problem = FileProblem { item: "dog".into(), file: "inversions/x-1.safetensors".into(), why: "is truncated (10 of 99 bytes)".into() };
    update(&mut m, Msg::Worker(Event::FileProblems(vec![problem.clone()])));
    update(&mut m, Msg::Worker(Event::Failed { job: Some(invert("dog")), message: "the checkpoint is damaged".into() }));
    assert_eq!(queue_title(&m), "Queue (stopped · i inverts dog again):");
    let fx = act(&mut m, Action::PauseResume);
    assert!(!starts_work(&fx) && said(&m).contains("the queue would stop on dog again") && said(&m).contains("i inverts it again"), "{fx:?} {}", said(&m));
    // With its photo copy lost too, or written by a newer pivot, inverting again is not offered.
    let photo = FileProblem { item: "dog".into(), file: "images/dog.png".into(), why: "is missing".into() };
    update(&mut m, Msg::Worker(Event::FileProblems(vec![problem.clone(), photo])));
    act(&mut m, Action::PauseResume);
    assert!(said(&m).contains("photo copy is lost too") && !said(&m).contains("inverts it again"), "{}", said(&m));
    assert_eq!(queue_title(&m), "Queue (stopped · dog cannot go on):");
    let newer = FileProblem { why: format!("cannot be used: {}", crate::session::inversion_file::NewerFormat { version: 9 }), ..problem.clone() };
    update(&mut m, Msg::Worker(Event::FileProblems(vec![newer])));
    act(&mut m, Action::PauseResume);
    assert!(said(&m).contains("update pivot to read it") && !said(&m).contains("inverts it again"), "{}", said(&m));
    // i does not offer to throw a newer pivot's file away; the item says what it is.
    m.selected = 1;
    act(&mut m, Action::Invert);
    assert_eq!(m.mode, super::state::Mode::Normal);
    assert!(said(&m).contains("item dog: inversions/x-1.safetensors cannot be used") && said(&m).contains("update pivot"), "{}", said(&m));
    assert_eq!(m.item_state(&m.items()[1].clone()), "newer file");
    assert_eq!(m.way_on("dog"), (None, "update pivot: a newer one wrote its inversion file".to_string()));
    // Once it has another file (the restart's), the queue runs as usual.
    let mut fresh = manifest();
    fresh.items[1].inversion.as_mut().unwrap().file = Some("inversions/dog-2.safetensors".into());
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(fresh))));
    assert!(starts_work(&act(&mut m, Action::PauseResume)));
}

#[test]
fn i_says_the_rest_of_the_queue_runs_after_its_item() {
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    let others = m.queue().iter().filter(|j| **j != invert("sky")).count();
    assert!(others > 0);
    m.selected = 2; // sky
    let fx = act(&mut m, Action::Invert);
    assert!(starts_work(&fx));
    assert!(said(&m).contains(&format!("queue runs: invert sky, then {others} more queued (p pauses)")), "{}", said(&m));
}
