//! A restart, a new caption, commands during a run, and the queue's runs and cancels.

use super::*;

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
