//! The worker thread in-process: events in order, pause keeps the job queued, cancel drops it,
//! and a later run (asked for by name after a cancel) continues from the checkpoint.

mod common;
use common::worker::*;
use candle_core::Device;
use pivot::session::manifest::{Job, ModelRef};
use pivot::session::store::Session;
use pivot::worker::{Command, Event, NewItem, Stage, StopReason, WorkerHandle, WorkerOptions};

#[test]
fn pause_keeps_the_job_cancel_drops_it_and_progress_survives_both_and_a_run_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "w");
    let item = add_photo(&h, dir.path());
    let job = Job::Invert { item: item.clone() };
    h.send(Command::Run(vec![job.clone()]));
    until(&h, |e| matches!(e, Event::Checkpoint { completed: 1, .. }).then_some(()));
    h.stop(StopReason::Pause);
    // Adding work during the run must not clear the pending pause.
    h.send(Command::Run(vec![]));
    let mut last_inner_step = 0;
    until(&h, |e| {
        if let Event::Inner(it) = e {
            last_inner_step = it.step;
        }
        matches!(e, Event::Paused { .. }).then_some(())
    });
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    let m = LAST.with(|l| l.borrow().clone()).expect("checkpoints commit the manifest");
    assert!(m.queue.contains(&job), "a paused job stays queued");
    let paused_at = m.item(&item).unwrap().inversion.as_ref().unwrap().completed_steps;
    assert!(paused_at >= 1);
    assert!(last_inner_step < paused_at, "a pause waits for the timestep's checkpoint and starts no new one ({last_inner_step} vs {paused_at})");

    // Running again continues from the checkpoint, then a cancel drops the job.
    h.send(Command::Run(vec![job.clone()]));
    let first = until(&h, |e| match e {
        Event::Timestep { done, .. } => Some(done.step),
        _ => None,
    });
    assert_eq!(first, paused_at, "the run continues at the first unfinished timestep");
    h.stop(StopReason::Cancel);
    until(&h, |e| matches!(e, Event::Cancelled { .. }).then_some(()));
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    let m = LAST.with(|l| l.borrow().clone()).unwrap();
    assert!(m.queue.is_empty(), "a cancelled job leaves the queue");
    let rec = m.item(&item).unwrap().inversion.clone().unwrap();
    assert!(rec.completed_steps > paused_at && rec.file.is_some(), "its checkpoints stay");
    assert_eq!(m.unqueued_work(), vec![job.clone()], "and it is still unfinished work");

    // Asked for by name (the dashboard's `i`), it goes back on the queue and continues.
    h.send(Command::Run(vec![job.clone()]));
    let first = until(&h, |e| match e {
        Event::Timestep { done, .. } => Some(done.step),
        _ => None,
    });
    assert_eq!(first, rec.completed_steps, "a cancelled inversion continues from its checkpoint");
    until(&h, |e| matches!(e, Event::JobDone { .. }).then_some(()));
    h.shutdown();
    let s = Session::open(&root, "w").unwrap();
    assert!(s.manifest.queue.is_empty() && s.manifest.item(&item).unwrap().inversion.as_ref().unwrap().is_done());
    assert!(s.manifest.unqueued_work().is_empty());
}

#[test]
fn a_pause_during_the_reconstruction_stops_between_sampling_steps_a_run_redoes_it_and_damage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "r");
    // DDIM over 50 steps: the inversion is quick and the reconstruction has many steps to stop in.
    let item = add_photo_with(&h, dir.path(), "ddim", 50);
    let job = Job::Invert { item: item.clone() };
    h.send(Command::Run(vec![job.clone()]));
    until(&h, |e| matches!(e, Event::SampleStep { step: 1, .. }).then_some(()));
    h.stop(StopReason::Pause);
    let mut last = 0;
    until(&h, |e| match e {
        Event::SampleStep { step, .. } => {
            last = *step;
            None
        }
        Event::JobDone { .. } => panic!("the reconstruction ran to its end after a pause"),
        Event::Paused { .. } => Some(()),
        _ => None,
    });
    assert!(last < 50, "stopped after sampling step {last} of 50");
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    h.send(Command::Run(vec![job.clone()]));
    until(&h, |e| matches!(e, Event::JobDone { .. }).then_some(()));
    h.shutdown();
    let s = Session::open(&root, "r").unwrap();
    let it = s.manifest.item(&item).unwrap();
    assert!(it.inversion.as_ref().unwrap().is_done() && it.reconstruction.is_some() && s.manifest.queue.is_empty());

    // A damaged inversion file is named as soon as a worker opens the session.
    let file = it.inversion.as_ref().unwrap().file.clone().unwrap();
    let path = s.path(&file).unwrap();
    drop(s);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let h = WorkerHandle::spawn(Session::open(&root, "r").unwrap(), WorkerOptions { device: Device::Cpu, model: None });
    let problems = until(&h, |e| match e {
        Event::FileProblems(p) => Some(p.clone()),
        _ => None,
    });
    h.shutdown();
    assert_eq!((problems.len(), problems[0].item.as_str(), problems[0].file.as_str()), (1, item.as_str(), file.as_str()), "{problems:?}");
    // So is one whose length is right but whose checksum fails (a flipped byte), for `i` to
    // offer the restart at once.
    let mut flipped = bytes.clone();
    let at = flipped.len() - 100;
    flipped[at] ^= 0x10;
    std::fs::write(&path, &flipped).unwrap();
    let h = WorkerHandle::spawn(Session::open(&root, "r").unwrap(), WorkerOptions { device: Device::Cpu, model: None });
    let problems = until(&h, |e| match e {
        Event::FileProblems(p) => Some(p.clone()),
        _ => None,
    });
    assert!(problems.len() == 1 && problems[0].file == file && problems[0].why.contains("checksum"), "{problems:?}");
    // Its queued edits fail once, not one error each: the rest wait for the restart.
    let spec = pivot::session::manifest::EditSpec { target: "a blue square".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
    let other = pivot::session::manifest::EditSpec { target: "a green square".into(), ..spec.clone() };
    h.send(Command::AddEdit { item: item.clone(), specs: vec![spec, other] });
    h.send(Command::RunQueue);
    let mut failures = Vec::new();
    loop {
        match next(&h) {
            Event::Failed { message, .. } => failures.push(message),
            Event::Idle => break,
            _ => {}
        }
    }
    h.shutdown();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("--restart") && failures[0].ends_with(&format!("1 more queued job of item `{item}` waits for it")), "{failures:?}");
    assert_eq!(Session::open(&root, "r").unwrap().manifest.queue.len(), 2, "both edits stay queued");
}

/// A cancel while the finished inversion's reconstruction is sampled: the job leaves the queue but
/// is still unfinished work (`r`, `i` and `pivot resume` finish it), and a run samples it.
#[test]
fn a_cancel_during_the_reconstruction_leaves_work_that_a_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "c");
    let item = add_photo_with(&h, dir.path(), "ddim", 50);
    let job = Job::Invert { item: item.clone() };
    h.send(Command::Run(vec![job.clone()]));
    until(&h, |e| matches!(e, Event::SampleStep { step: 1, .. }).then_some(()));
    h.stop(StopReason::Cancel);
    until(&h, |e| match e {
        Event::JobDone { .. } => panic!("the reconstruction ran to its end after a cancel"),
        Event::Cancelled { .. } => Some(()),
        _ => None,
    });
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    let m = LAST.with(|l| l.borrow().clone()).unwrap();
    let it = m.item(&item).unwrap();
    assert!(it.inversion.as_ref().unwrap().is_done() && it.reconstruction.is_none() && m.queue.is_empty());
    assert_eq!(m.unqueued_work(), vec![job.clone()], "the reconstruction is still to make");
    h.send(Command::Run(vec![job.clone()]));
    until(&h, |e| match e {
        Event::Timestep { .. } => panic!("the finished inversion ran again"),
        Event::JobDone { .. } => Some(()),
        _ => None,
    });
    h.shutdown();
    let s = Session::open(&root, "c").unwrap();
    assert!(s.manifest.item(&item).unwrap().reconstruction.is_some() && s.manifest.unqueued_work().is_empty());
}

#[test]
fn a_bad_edit_is_refused_when_queued_not_after_the_inversion() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "e");
    let item = add_photo(&h, dir.path());
    let spec = pivot::session::manifest::EditSpec {
        target: "a big blue square".into(),
        mode: "replace".into(),
        cross: 0.8,
        self_replace: 0.4,
        cross_words: vec![],
        blend: None,
        blend_threshold: 0.3,
        reweight: vec![],
        prox: None,
        blend_except: None,
    };
    h.send(Command::AddEdit { item: item.clone(), specs: vec![spec] });
    let msg = loop {
        match next(&h) {
            Event::Failed { message, .. } => break message,
            Event::EditAdded { .. } => panic!("a replace edit with another word count must be refused"),
            _ => {}
        }
    };
    assert!(msg.contains("refine"), "{msg}");
    h.shutdown();
    let s = Session::open(&root, "e").unwrap();
    assert_eq!(s.manifest.queue, vec![Job::Invert { item }]);
}

#[test]
fn a_restart_sets_the_inversion_aside_and_runs_it_from_the_first_timestep() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "r");
    let item = add_photo_with(&h, dir.path(), "null-text", 3);
    let job = Job::Invert { item: item.clone() };
    let run = |h: &WorkerHandle, job: &Job| {
        h.send(Command::Run(vec![job.clone()]));
        let mut timesteps = 0;
        until(h, |e| {
            timesteps += matches!(e, Event::Timestep { .. }) as usize;
            matches!(e, Event::JobDone { .. }).then_some(())
        });
        timesteps
    };
    let first = run(&h, &job);
    assert!(first > 0);
    let done = LAST.with(|l| l.borrow().clone()).unwrap();
    let old = done.item(&item).unwrap().inversion.clone().unwrap().file.unwrap();
    assert!(root.join("r").join(&old).exists());
    h.send(Command::RestartInversion { item: item.clone(), run: false });
    let m = until(&h, |e| match e {
        Event::Manifest(m) if m.item(&item).is_some_and(|i| i.inversion.as_ref().is_some_and(|r| r.completed_steps == 0)) => Some(m.clone()),
        _ => None,
    });
    let it = m.item(&item).unwrap();
    assert!(it.inversion.as_ref().unwrap().file.is_none() && it.reconstruction.is_none() && m.queue[0] == job);
    // Said, with where the old checkpoint went.
    let note = until(&h, |e| match e {
        Event::Note(n) => Some(n.clone()),
        _ => None,
    });
    assert!(note.contains("restarts from the beginning"), "{note}");
    let again = run(&h, &job);
    assert!(root.join("r/trash").join(&old).exists(), "the old checkpoint is set aside, not deleted");
    h.shutdown();
    assert_eq!(again, first, "every timestep ran again");
    let s = Session::open(&root, "r").unwrap();
    assert!(s.manifest.item(&item).unwrap().inversion.as_ref().unwrap().is_done());
}

#[test]
fn a_new_caption_restarts_the_inversion_and_removing_an_item_takes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "c");
    let item = add_photo(&h, dir.path());
    h.send(Command::SetPrompt { item: item.clone(), prompt: "a blue square".into() });
    let m = until(&h, |e| match e {
        Event::Manifest(m) if m.item(&item).is_some_and(|i| i.prompt == "a blue square") => Some(m.clone()),
        _ => None,
    });
    assert_eq!(m.queue[0], Job::Invert { item: item.clone() });
    let image = root.join("c").join(&m.item(&item).unwrap().image);
    assert!(image.exists());
    h.send(Command::RemoveItem { item: item.clone() });
    let mut notes = Vec::new();
    until(&h, |e| match e {
        Event::Manifest(m) if m.items.is_empty() => Some(()),
        Event::Note(n) => {
            notes.push(n.clone());
            None
        }
        _ => None,
    });
    h.shutdown();
    // The dashboard says what a new caption does: no restart note over its words.
    assert!(notes.is_empty(), "{notes:?}");
    assert!(!image.exists(), "the removed item's image is deleted");
    let s = Session::open(&root, "c").unwrap();
    assert!(s.manifest.items.is_empty() && s.manifest.queue.is_empty());
}

#[test]
fn commands_during_a_run_act_at_the_next_step_and_a_pause_keeps_the_paused_job_first() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "m");
    let a = add_photo_with(&h, dir.path(), "null-text", 30);
    let job_a = Job::Invert { item: a.clone() };
    h.send(Command::Run(vec![job_a.clone()]));
    until(&h, |e| matches!(e, Event::Checkpoint { completed: 1, .. }).then_some(()));
    // A new photo is taken mid-run, not after the job.
    let p = dir.path().join("second.png");
    image::RgbImage::from_fn(32, 32, |x, _| image::Rgb([(x * 8) as u8, 20, 200])).save(&p).unwrap();
    h.send(Command::AddItem(NewItem { image: p, prompt: "a blue square".into(), id: None, method: "null-text".into(), steps: 8, inner: 4, guidance: 7.5, epsilon: 0.0, fixed_point: 0 }));
    let b = until(&h, |e| match e {
        Event::ItemAdded { item } => Some(item.clone()),
        Event::Stage { stage: Stage::Sampling, .. } => panic!("the photo waited for the inversion's end"),
        _ => None,
    });
    // The 32×32 photo is enlarged to the model's 128×128: the user hears of it, after the item.
    let warning = until(&h, |e| match e {
        Event::Warning(w) => Some(w.clone()),
        _ => None,
    });
    assert!(warning.starts_with(&format!("item {b}: ")) && warning.contains("photo is small (32×32)") && warning.contains("128×128"), "the item is named beside another's progress: {warning}");
    // The running item cannot be pulled away; another item's inversion joins the run.
    h.send(Command::RemoveItem { item: a.clone() });
    let refused = loop {
        match next(&h) {
            Event::Failed { job: None, message } => break message,
            Event::Stage { stage: Stage::Sampling, .. } => panic!("the removal was not answered between timesteps"),
            _ => {}
        }
    };
    assert!(refused.contains("being worked on"), "{refused}");
    let job_b = Job::Invert { item: b.clone() };
    h.send(Command::Run(vec![job_b.clone()]));
    until(&h, |e| match e {
        Event::Manifest(m) if m.queue.contains(&job_b) => Some(()),
        Event::JobStarted { job } if job == &job_b => panic!("b started before a was done"),
        _ => None,
    });
    h.stop(StopReason::Pause);
    until(&h, |e| matches!(e, Event::Paused { .. }).then_some(()));
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    // Resuming the queue continues the paused job, then runs the one asked for meanwhile.
    let m = LAST.with(|l| l.borrow().clone()).unwrap();
    assert_eq!(m.queue.first(), Some(&job_a), "{:?}", m.queue);
    h.send(Command::RunQueue);
    let first = until(&h, |e| match e {
        Event::JobStarted { job } => Some(job.clone()),
        _ => None,
    });
    assert_eq!(first, job_a);
    h.shutdown();
}

/// The DDIM inversion keeps no checkpoint, but what the user does meanwhile is not held until
/// its end (50 UNet calls: minutes of SD1.5 on a CPU).
#[test]
fn commands_during_the_ddim_phase_act_at_its_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(&dir.path().join("sessions"), "m");
    let a = add_photo_with(&h, dir.path(), "ddim", 40);
    h.send(Command::Run(vec![Job::Invert { item: a }]));
    until(&h, |e| matches!(e, Event::Timestep { done, .. } if done.step == 0).then_some(()));
    let p = dir.path().join("second.png");
    image::RgbImage::from_fn(128, 128, |x, _| image::Rgb([(x * 2) as u8, 20, 200])).save(&p).unwrap();
    h.send(Command::AddItem(NewItem { image: p, prompt: "a blue square".into(), id: None, method: "ddim".into(), steps: 8, inner: 4, guidance: 7.5, epsilon: 0.0, fixed_point: 0 }));
    until(&h, |e| match e {
        Event::ItemAdded { .. } => Some(()),
        Event::Stage { stage: Stage::Sampling, .. } => panic!("the photo waited for the DDIM inversion's end"),
        _ => None,
    });
    h.shutdown();
}

#[test]
fn a_queue_run_drops_orphan_jobs_and_goes_past_a_failing_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "q");
    let item = add_photo_with(&h, dir.path(), "ddim", 4);
    h.shutdown();
    let mut s = Session::open(&root, "q").unwrap();
    // A word swap between captions of different lengths: refused when the edit is run.
    let bad = pivot::session::manifest::EditSpec { target: "a big red circle".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
    let good = pivot::session::manifest::EditSpec { target: "a blue square".into(), ..bad.clone() };
    s.manifest.items[0].edits.push(pivot::session::manifest::EditRecord::new("e1", bad));
    s.manifest.items[0].edits.push(pivot::session::manifest::EditRecord::new("e2", good));
    let e2 = Job::Edit { item: item.clone(), edit: "e2".into() };
    s.manifest.queue = vec![Job::Invert { item: "ghost".into() }, Job::Edit { item: item.clone(), edit: "e1".into() }, Job::Edit { item: item.clone(), edit: "e9".into() }, e2.clone(), Job::Invert { item: item.clone() }];
    s.commit().unwrap();
    drop(s);
    let h = WorkerHandle::spawn(Session::open(&root, "q").unwrap(), WorkerOptions { device: Device::Cpu, model: None });
    h.send(Command::RunQueue);
    let (mut warnings, mut failed, mut done) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        match next(&h) {
            Event::Warning(w) => warnings.push(w),
            Event::Failed { job, message } => failed.push((job, message)),
            Event::JobDone { job, .. } => done.push(job),
            Event::Idle => break,
            _ => {}
        }
    }
    h.shutdown();
    assert!(warnings.iter().any(|w| w.contains("dropped a queued job") && w.contains("ghost")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("no edit `e9`")), "{warnings:?}");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].1.contains("swap"), "{failed:?}");
    // A failed edit holds up no other edit of its item (a failed inversion would: they need it).
    assert_eq!(done, vec![Job::Invert { item: item.clone() }, e2], "the edit's inversion ran first, then the good edit");
    let s = Session::open(&root, "q").unwrap();
    assert_eq!(s.manifest.queue, vec![Job::Edit { item: item.clone(), edit: "e1".into() }], "orphans leave the queue, failed jobs stay");
    // Why it failed is kept for the next dashboard and `session show`; the good edit has no note.
    let edits = &s.manifest.item(&item).unwrap().edits;
    assert!(edits[0].failure.as_deref().is_some_and(|f| f.contains("swap")), "{:?}", edits[0]);
    assert_eq!(edits[1].failure, None);
}

#[test]
fn a_cancel_names_its_job_queued_ones_leave_the_queue_and_the_queue_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "c");
    let a = Job::Invert { item: add_photo_with(&h, dir.path(), "null-text", 30) };
    let b = Job::Invert { item: add_photo_with(&h, dir.path(), "ddim", 4) };
    let c = Job::Invert { item: add_photo_with(&h, dir.path(), "ddim", 4) };
    h.send(Command::RunQueue);
    until(&h, |e| matches!(e, Event::Checkpoint { completed: 1, .. }).then_some(()));
    // A queued job: off the queue at the next step; the running one goes on.
    h.cancel(vec![b.clone()]);
    let gone = until(&h, |e| match e {
        Event::Cancelled { job } => Some(job.clone()),
        Event::Paused { .. } | Event::JobStarted { .. } => panic!("cancelling a queued job touched the running one: {e:?}"),
        _ => None,
    });
    assert_eq!(gone, b);
    let m = LAST.with(|l| l.borrow().clone()).unwrap();
    assert!(!m.queue.contains(&b) && m.unqueued_work().contains(&b), "cancelled, listed as unfinished work: {:?}", m.queue);
    // Back on the queue, first after the job in hand (which a crash must not send behind it);
    // then the running job is cancelled by name and the run goes on.
    h.send(Command::Enqueue { jobs: vec![b.clone()], first: true });
    until(&h, |e| matches!(e, Event::Manifest(m) if m.queue[..2] == [a.clone(), b.clone()]).then_some(()));
    h.cancel(vec![a.clone()]);
    until(&h, |e| matches!(e, Event::Cancelled { job } if *job == a).then_some(()));
    let started: Vec<Job> = (0..2)
        .map(|_| {
            until(&h, |e| match e {
                Event::JobStarted { job } => Some(job.clone()),
                Event::Idle => panic!("a cancel ended the queue run"),
                _ => None,
            })
        })
        .collect();
    assert_eq!(started, vec![b.clone(), c.clone()], "the queue goes on in its order");
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    h.shutdown();
    let s = Session::open(&root, "c").unwrap();
    assert_eq!(s.manifest.unqueued_work(), vec![a], "only the cancelled job waits");
}

#[test]
fn a_model_other_than_the_sessions_is_refused_when_loaded_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let s = Session::create(dir.path(), "sd2", ModelRef { source: "org/other-model".into(), hash: "0123456789abcdef".into() }).unwrap();
    let h = WorkerHandle::spawn(s, WorkerOptions { device: Device::Cpu, model: Some(pivot::sd::source::ModelSource::parse("tiny").unwrap()) });
    let e = h.load_model().unwrap_err();
    assert!(e.contains("`sd2` was made with model `org/other-model`") && e.contains("`tiny`") && e.contains("use the session's model or a new session"), "{e}");
    h.shutdown();
}

#[test]
fn a_new_caption_queues_the_inversion_where_it_was_queued_or_finished() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(&dir.path().join("sessions"), "q");
    let (a, b) = (add_photo(&h, dir.path()), add_photo(&h, dir.path()));
    let (ja, jb) = (Job::Invert { item: a.clone() }, Job::Invert { item: b.clone() });
    let caption = |item: &str, prompt: &str| {
        h.send(Command::SetPrompt { item: item.into(), prompt: prompt.into() });
        until(&h, |e| match e {
            Event::Manifest(m) if m.item(item).is_some_and(|i| i.prompt == prompt) => Some(m.queue.clone()),
            _ => None,
        })
    };
    // An edit queued for b's caption now will not run under another: it leaves the queue.
    let spec = pivot::session::manifest::EditSpec { target: "a blue square".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
    h.send(Command::AddEdit { item: b.clone(), specs: vec![spec] });
    until(&h, |e| matches!(e, Event::Manifest(m) if m.queue.len() == 3).then_some(()));
    assert_eq!(caption(&b, "a green square"), vec![ja.clone(), jb.clone()], "a queued inversion keeps its place; the stale edit is gone");
    let m = LAST.with(|l| l.borrow().clone()).unwrap();
    assert!(m.unqueued_work().iter().all(|j| matches!(j, Job::Invert { .. })), "a stale edit is no work left: {:?}", m.unqueued_work());
    h.cancel(vec![ja.clone()]);
    until(&h, |e| matches!(e, Event::Cancelled { .. }).then_some(()));
    assert_eq!(caption(&a, "a blue square"), vec![jb.clone()], "a cancelled inversion is not queued again");
    // A finished one (the user was asked) joins the end of the queue.
    h.send(Command::RunQueue);
    until(&h, |e| matches!(e, Event::JobDone { job, .. } if *job == jb).then_some(()));
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    assert_eq!(caption(&b, "a red circle"), vec![jb], "a finished inversion starts over in the queue");
}

#[test]
fn run_queue_during_a_pending_pause_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(&dir.path().join("sessions"), "p");
    let item = add_photo(&h, dir.path());
    h.send(Command::RunQueue);
    until(&h, |e| matches!(e, Event::Checkpoint { completed: 1, .. }).then_some(()));
    h.stop(StopReason::Pause);
    h.send(Command::RunQueue);
    // Withdrawn in time, or the job stopped first and the queue runs again: either way it ends
    // done, with no Idle before.
    until(&h, |e| match e {
        Event::Idle => panic!("the queue stopped though asked to run after the pause"),
        Event::JobDone { job, .. } => (*job == Job::Invert { item: item.clone() }).then_some(()),
        _ => None,
    });
}

#[test]
fn a_new_caption_for_the_running_inversion_stops_it_and_the_run_starts_it_over() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "rc");
    let a = add_photo_with(&h, dir.path(), "null-text", 12);
    let job_a = Job::Invert { item: a.clone() };
    h.send(Command::RunQueue);
    until(&h, |e| matches!(e, Event::Checkpoint { completed: 2, .. }).then_some(()));
    h.send(Command::SetPrompt { item: a.clone(), prompt: "a green square".into() });
    let (mut recaptioned, mut started, mut checkpoints) = (false, 0, Vec::new());
    loop {
        match next(&h) {
            Event::Recaptioned { item } => recaptioned = item == a || panic!("{item}"),
            Event::Paused { job } | Event::Cancelled { job } => panic!("{job:?} was stopped for a caption, not paused or cancelled"),
            Event::Failed { message, .. } => panic!("{message}"),
            Event::JobStarted { job } => {
                assert!(recaptioned && job == job_a, "{job:?} started again after the new caption");
                started += 1;
            }
            Event::Checkpoint { completed, .. } if started > 0 => checkpoints.push(completed),
            Event::JobDone { job, .. } => break assert_eq!(job, job_a),
            _ => {}
        }
    }
    assert_eq!(started, 1, "the run went on by itself");
    assert_eq!(checkpoints.first(), Some(&1), "the inversion started over from the first timestep: {checkpoints:?}");
    until(&h, |e| matches!(e, Event::Idle).then_some(()));
    h.shutdown();
    let s = Session::open(&root, "rc").unwrap();
    let it = s.manifest.item(&a).unwrap();
    assert_eq!(it.prompt, "a green square");
    assert!(it.inversion.as_ref().unwrap().is_done() && s.manifest.queue.is_empty());
}

#[test]
fn a_cancelled_inversion_is_not_started_again_for_its_queued_edit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "x");
    let item = add_photo_with(&h, dir.path(), "null-text", 30);
    let spec = pivot::session::manifest::EditSpec { target: "a blue square".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
    h.send(Command::AddEdit { item: item.clone(), specs: vec![spec] });
    let edit = until(&h, |e| match e {
        Event::Manifest(m) => m.queue.iter().find(|j| matches!(j, Job::Edit { .. })).cloned(),
        _ => None,
    });
    let inversion = Job::Invert { item: item.clone() };
    h.send(Command::RunQueue);
    until(&h, |e| matches!(e, Event::Checkpoint { completed: 1, .. }).then_some(()));
    h.cancel(vec![inversion.clone()]);
    until(&h, |e| matches!(e, Event::Cancelled { job } if *job == inversion).then_some(()));
    until(&h, |e| match e {
        Event::JobStarted { job } => panic!("{job:?} started after the inversion was cancelled"),
        Event::Idle => Some(()),
        _ => None,
    });
    h.shutdown();
    let s = Session::open(&root, "x").unwrap();
    assert_eq!(s.manifest.queue, vec![edit], "the edit waits on the queue; the inversion is off it");
}

/// Proximal guidance is refused for a Direct Inversion item when queued (its offsets assume plain
/// guidance), and an NPI item's edit with it is made.
#[test]
fn proximal_guidance_is_refused_on_a_direct_item_when_queued_and_made_on_an_npi_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "p");
    let prox = pivot::session::manifest::ProxSpec { shrink: "l0".into(), quantile: 0.7, pull: "both".into(), strength: 1.0, below: 1000 };
    let spec = pivot::session::manifest::EditSpec { target: "a blue square".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: Some(prox), blend_except: None };
    let direct = add_photo_with(&h, dir.path(), "direct", 3);
    h.send(Command::AddEdit { item: direct.clone(), specs: vec![spec.clone()] });
    let msg = loop {
        match next(&h) {
            Event::Failed { message, .. } => break message,
            Event::EditAdded { .. } => panic!("proximal guidance on a Direct Inversion must be refused"),
            _ => {}
        }
    };
    assert!(msg.contains("cannot edit a Direct Inversion"), "{msg}");
    let npi = add_photo_with(&h, dir.path(), "npi", 3);
    h.send(Command::AddEdit { item: npi.clone(), specs: vec![spec] });
    let edit = until(&h, |e| match e {
        Event::EditAdded { edit, .. } => Some(edit.clone()),
        _ => None,
    });
    let job = Job::Edit { item: npi.clone(), edit };
    h.send(Command::Run(vec![Job::Invert { item: npi.clone() }, job.clone()]));
    until(&h, |e| match e {
        Event::JobDone { job: done, .. } if *done == job => Some(()),
        Event::Failed { message, .. } => panic!("{message}"),
        _ => None,
    });
    h.shutdown();
    let s = Session::open(&root, "p").unwrap();
    let made = &s.manifest.item(&npi).unwrap().edits[0];
    assert!(made.output.is_some() && made.spec.prox.is_some(), "{made:?}");
}

/// An item added with fixed-point iterations keeps them in its record and its inversion file.
#[test]
fn fixed_point_iterations_reach_the_inversion_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "fp");
    let p = dir.path().join("p.png");
    image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 90])).save(&p).unwrap();
    let invert = |fixed_point: usize| {
        h.send(Command::AddItem(NewItem { image: p.clone(), prompt: "a red square".into(), id: None, method: "npi".into(), steps: 3, inner: 10, guidance: 7.5, epsilon: 1e-5, fixed_point }));
        let item = until(&h, |e| match e {
            Event::ItemAdded { item } => Some(item.clone()),
            _ => None,
        });
        let job = Job::Invert { item: item.clone() };
        h.send(Command::Run(vec![job.clone()]));
        until(&h, |e| matches!(e, Event::JobDone { job: done, .. } if *done == job).then_some(()));
        item
    };
    let (fixed, plain) = (invert(2), invert(0));
    h.shutdown();
    let s = Session::open(&root, "fp").unwrap();
    let load = |item: &str| {
        let rec = s.manifest.item(item).unwrap().inversion.clone().unwrap();
        (rec.fixed_point, pivot::session::inversion_file::InversionFile::load(&s.path(rec.file.as_deref().unwrap()).unwrap(), &Device::Cpu).unwrap())
    };
    let ((k, f), (k0, f0)) = (load(&fixed), load(&plain));
    assert_eq!((k, f.meta.fixed_point, k0, f0.meta.fixed_point), (2, 2, 0, 0));
    // The iterations ran: the trajectory past x0 is another one.
    assert_eq!(common::max_abs_diff(&f.latents.get(0).unwrap(), &f0.latents.get(0).unwrap()), 0.0);
    assert!(common::max_abs_diff(&f.latents.get(3).unwrap(), &f0.latents.get(3).unwrap()) > 1e-4);
}

/// A checkpoint written but not committed (the manifest cannot be saved) is taken away again:
/// the folder holds only the checkpoint the saved manifest names.
#[test]
fn a_checkpoint_whose_commit_fails_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "r");
    let item = add_photo_with(&h, dir.path(), "null-text", 30);
    h.send(Command::Run(vec![Job::Invert { item: item.clone() }]));
    until(&h, |e| matches!(e, Event::Checkpoint { completed: 2, .. }).then_some(()));
    // The manifest as last committed moves aside; a folder in its place makes the next commit fail.
    let (toml, kept) = (root.join("r/session.toml"), root.join("r/saved.toml"));
    std::fs::rename(&toml, &kept).unwrap();
    std::fs::create_dir(&toml).unwrap();
    let msg = loop {
        if let Event::Failed { message, .. } = next(&h) {
            break message;
        }
    };
    h.shutdown();
    let saved: pivot::session::manifest::Manifest = toml::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    let named = saved.item(&item).unwrap().inversion.clone().unwrap().file.unwrap();
    let files: Vec<String> = std::fs::read_dir(root.join("r/inversions")).unwrap().map(|e| format!("inversions/{}", e.unwrap().file_name().to_string_lossy())).collect();
    assert_eq!(files, vec![named], "after: {msg}");
}

#[test]
fn a_photo_copy_gone_since_opening_is_reported_and_its_return_clears_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let h = start(&root, "p");
    let item = add_photo_with(&h, dir.path(), "ddim", 4);
    h.shutdown();
    let s = Session::open(&root, "p").unwrap();
    let photo = s.path(&s.manifest.item(&item).unwrap().image).unwrap();
    drop(s);
    let h = WorkerHandle::spawn(Session::open(&root, "p").unwrap(), WorkerOptions { device: Device::Cpu, model: None });
    let kept = std::fs::read(&photo).unwrap();
    std::fs::remove_file(&photo).unwrap();
    h.send(Command::RunQueue);
    // Reported as the session's file problem first, so the UI marks the item and says what to do.
    let (mut listed, mut why) = (false, None);
    loop {
        match next(&h) {
            Event::FileProblems(p) => listed |= p.iter().any(|p| p.item == item && p.is_missing()),
            Event::Failed { message, .. } => {
                assert!(listed, "failed before the missing photo was reported");
                why = Some(message);
            }
            Event::Idle => break,
            _ => {}
        }
    }
    let why = why.expect("the inversion failed");
    assert!(why.contains("put it back, or delete the item"), "{why}");
    std::fs::write(&photo, kept).unwrap();
    h.send(Command::RunQueue);
    let cleared = until(&h, |e| match e {
        Event::FileProblems(p) => Some(p.is_empty()),
        Event::JobDone { .. } => panic!("the report was not cleared"),
        _ => None,
    });
    assert!(cleared);
    until(&h, |e| matches!(e, Event::JobDone { .. }).then_some(()));
    h.shutdown();
}
