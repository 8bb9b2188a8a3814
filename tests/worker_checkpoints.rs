//! A checkpoint that cannot be used (damaged, or another item's put in its place) is reported as
//! a file problem of its item, with the way out, instead of failing the same way on every retry
//! or editing the wrong photo.

mod common;
use common::worker::*;
use pivot::session::check::FileProblem;
use pivot::session::manifest::{EditSpec, Job};
use pivot::worker::{Command, Event};

/// A word swap of "a cat" (it needs the item's finished checkpoint).
fn dog_edit() -> EditSpec {
    EditSpec { target: "a dog".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None }
}

/// Item "a cat", inverted (3 DDIM steps), with the worker idle again: work added later joins no run.
fn inverted_cat(h: &pivot::worker::WorkerHandle, dir: &std::path::Path) -> String {
    let cat = add_photo_as(h, dir, "a cat", "ddim", 3);
    h.send(Command::Run(vec![Job::Invert { item: cat.clone() }]));
    until(h, |e| matches!(e, Event::JobDone { .. }).then_some(()));
    until(h, |e| matches!(e, Event::Idle).then_some(()));
    cat
}

/// Where item `id`'s finished inversion lies, from the manifest the worker last sent.
fn checkpoint_of(root: &std::path::Path, session: &str, id: &str) -> (String, std::path::PathBuf) {
    let m = LAST.with(|l| l.borrow().clone()).unwrap();
    let rel = m.item(id).unwrap().inversion.as_ref().unwrap().file.clone().unwrap();
    let path = root.join(session).join(&rel);
    (rel, path)
}

/// `bytes` with one bit flipped near the end (inside the tensor data).
fn flipped(mut bytes: Vec<u8>) -> Vec<u8> {
    let at = bytes.len() - 9;
    bytes[at] ^= 0x40;
    bytes
}

/// Run the queue (an edit of the item, which needs its finished checkpoint) and return the
/// problems reported and the failure message.
fn run_and_fail(h: &pivot::worker::WorkerHandle) -> (Vec<FileProblem>, String) {
    h.send(Command::RunQueue);
    let mut problems = Vec::new();
    loop {
        match next(h) {
            Event::FileProblems(p) => problems = p,
            Event::Failed { message, .. } => return (problems, message),
            Event::JobDone { .. } => panic!("a job ran on a checkpoint it should not use"),
            _ => {}
        }
    }
}

#[test]
fn damaged_or_swapped_checkpoints_are_file_problems_of_their_item() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "c");
    let cat = add_photo_as(&h, dir.path(), "a cat", "ddim", 3);
    let car = add_photo_as(&h, dir.path(), "a red car", "ddim", 3);
    h.send(Command::Run(vec![Job::Invert { item: cat.clone() }, Job::Invert { item: car.clone() }]));
    let mut done = 0;
    until(&h, |e| {
        done += matches!(e, Event::JobDone { .. }) as usize;
        (done == 2).then_some(())
    });
    // The run is over before anything else is asked (an edit added during it would join it).
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    let ((cat_rel, cat_path), (_, car_path)) = (checkpoint_of(&root, "c", &cat), checkpoint_of(&root, "c", &car));
    let good = std::fs::read(&cat_path).unwrap();
    h.send(Command::AddEdit { item: cat.clone(), specs: vec![dog_edit()] });

    // Another item's checkpoint under this item's name: refused, naming both captions.
    std::fs::copy(&car_path, &cat_path).unwrap();
    let (problems, message) = run_and_fail(&h);
    let p = problems.iter().find(|p| p.item == cat).unwrap_or_else(|| panic!("the swapped file is reported: {problems:?} {message}"));
    assert_eq!(p.file, cat_rel);
    assert!(p.why.contains("a red car") && p.why.contains("a cat"), "{}", p.why);
    assert!(message.contains("--restart") && message.contains(&cat), "{message}");

    // A flipped byte: damage, reported the same way.
    std::fs::write(&cat_path, flipped(good.clone())).unwrap();
    let (problems, message) = run_and_fail(&h);
    assert!(problems.iter().any(|p| p.item == cat && p.file == cat_rel && p.why.contains("damaged")), "{problems:?}");
    assert!(message.contains("damaged"), "{message}");

    // Put right, it is used again, and the other item was never touched.
    std::fs::write(&cat_path, &good).unwrap();
    h.send(Command::RunQueue);
    until(&h, |e| matches!(e, Event::JobDone { .. }).then_some(()));
    h.shutdown();
}

#[test]
fn a_change_that_could_not_be_saved_is_forgotten_so_a_retry_is_a_change_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "f");
    let cat = add_photo_as(&h, dir.path(), "a cat", "ddim", 3);
    // A folder where the manifest's temp file goes: the commit fails (even for root).
    let blocker = root.join("f").join(format!(".session.toml.tmp-{}", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();
    h.send(Command::SetPrompt { item: cat.clone(), prompt: "a dog".into() });
    let prompt = until_failed(&h, &cat);
    assert_eq!(prompt, "a cat", "the worker's manifest is the saved one again");
    std::fs::remove_dir(&blocker).unwrap();
    h.send(Command::SetPrompt { item: cat.clone(), prompt: "a dog".into() });
    until(&h, |e| matches!(e, Event::Manifest(m) if m.item(&cat).unwrap().prompt == "a dog").then_some(()));
    h.shutdown();
    let saved = std::fs::read_to_string(root.join("f/session.toml")).unwrap();
    assert!(saved.contains("prompt = \"a dog\""), "{saved}");
}

/// The item's caption in the last manifest sent before the failure.
fn until_failed(h: &pivot::worker::WorkerHandle, item: &str) -> String {
    let mut prompt = String::new();
    loop {
        match next(h) {
            Event::Manifest(m) => prompt = m.item(item).unwrap().prompt.clone(),
            Event::Failed { job: None, message } => {
                assert!(message.contains("session.toml"), "{message}");
                return prompt;
            }
            _ => {}
        }
    }
}

#[test]
fn a_refused_restart_starts_no_queue_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "r");
    let cat = inverted_cat(&h, dir.path());
    h.send(Command::AddEdit { item: cat.clone(), specs: vec![dog_edit()] });
    let m = until(&h, |e| match e {
        Event::Manifest(m) if m.queue.len() == 1 => Some(m.clone()),
        _ => None,
    });
    std::fs::remove_file(root.join("r").join(&m.item(&cat).unwrap().image)).unwrap();
    h.send(Command::RestartInversion { item: cat.clone(), run: true });
    let mut refused = false;
    loop {
        match next(&h) {
            Event::Failed { job: None, message } => refused = message.contains("nothing was restarted") || panic!("{message}"),
            Event::JobStarted { job } => panic!("{job:?} started after a refused restart"),
            Event::Idle => break,
            _ => {}
        }
    }
    assert!(refused);
    h.shutdown();
    let saved = std::fs::read_to_string(root.join("r/session.toml")).unwrap();
    assert!(saved.contains("completed_steps = 3"), "the inversion is kept: {saved}");
}

#[test]
fn a_run_asked_for_after_a_failure_tries_the_failed_item_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "a");
    let cat = inverted_cat(&h, dir.path());
    let (_, cat_path) = checkpoint_of(&root, "a", &cat);
    std::fs::write(&cat_path, flipped(std::fs::read(&cat_path).unwrap())).unwrap();
    // The queue: cat's edit (it fails on the damaged checkpoint), then dog's inversion, during
    // which the user asks to run the queue again (say, right after seeing the failure).
    h.send(Command::AddEdit { item: cat.clone(), specs: vec![dog_edit()] });
    let dog = add_photo_as(&h, dir.path(), "a dog", "null-text", 8);
    h.send(Command::RunQueue);
    let mut failures = 0;
    loop {
        match next(&h) {
            Event::Failed { job: Some(Job::Edit { .. }), .. } => failures += 1,
            Event::JobStarted { job: Job::Invert { item } } if item == dog => h.send(Command::RunQueue),
            Event::Idle => break,
            _ => {}
        }
    }
    assert_eq!(failures, 2, "the run asked for during dog's inversion gives cat's edit another try");
    h.shutdown();
}

#[test]
fn why_an_inversion_failed_is_kept_in_the_session_until_it_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "f");
    let cat = add_photo_as(&h, dir.path(), "a cat", "ddim", 3);
    let m = LAST.with(|l| l.borrow().clone()).unwrap();
    let photo = root.join("f").join(&m.item(&cat).unwrap().image);
    let good = std::fs::read(&photo).unwrap();
    std::fs::write(&photo, b"not a png").unwrap();
    let (_, message) = run_and_fail(&h);
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    let saved = |root: &std::path::Path| pivot::session::store::Session::open_read_only(root, "f").unwrap().manifest.item(&cat).unwrap().inversion.clone().unwrap();
    let noted = saved(&root).failure.unwrap_or_else(|| panic!("the failure is noted: {message}"));
    assert_eq!(noted, message, "the reason kept is the one reported");
    std::fs::write(&photo, good).unwrap();
    h.send(Command::RunQueue);
    until(&h, |e| matches!(e, Event::JobDone { .. }).then_some(()));
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    assert_eq!(saved(&root).failure, None, "a run that worked clears it");
    h.shutdown();
}

#[test]
fn an_edit_written_for_an_old_caption_is_refused_without_running_the_inversion_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "w");
    let cat = inverted_cat(&h, dir.path());
    h.send(Command::AddEdit { item: cat.clone(), specs: vec![dog_edit()] });
    let m = until(&h, |e| match e {
        Event::Manifest(m) if m.queue.len() == 1 => Some(m.clone()),
        _ => None,
    });
    assert_eq!(m.item(&cat).unwrap().edits[0].source_prompt.as_deref(), Some("a cat"), "an edit knows the caption it was written for");
    let edit = m.queue[0].clone();
    h.send(Command::SetPrompt { item: cat.clone(), prompt: "a kitten".into() });
    // It leaves the queue with the new caption (the finished inversion joins it, to run again).
    let m = until(&h, |e| match e {
        Event::Manifest(m) if m.item(&cat).is_some_and(|i| i.prompt == "a kitten") => Some(m.clone()),
        _ => None,
    });
    assert_eq!(m.queue, vec![Job::Invert { item: cat.clone() }], "the stale edit is off the queue");
    assert!(m.unqueued_work().is_empty() && m.is_stale(&edit), "and no work left to retry");
    // Asked for by name, it is refused before the inversion is run for it.
    h.send(Command::Run(vec![edit]));
    let message = loop {
        match next(&h) {
            Event::JobStarted { job } => panic!("{job:?} ran for an edit of the old caption"),
            Event::Failed { job: Some(Job::Edit { .. }), message } => break message,
            _ => {}
        }
    };
    assert!(message.contains("written for the caption \"a cat\"") && message.contains("now \"a kitten\""), "{message}");
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    h.shutdown();
    let s = pivot::session::store::Session::open_read_only(&root, "w").unwrap();
    assert!(s.manifest.item(&cat).unwrap().edits[0].failure.as_deref().is_some_and(|f| f.contains("written for")));
    assert!(!s.manifest.queue.iter().any(|j| matches!(j, Job::Edit { .. })), "off the queue: no run can make it");
}
