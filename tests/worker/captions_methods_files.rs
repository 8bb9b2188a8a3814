//! New captions while queued or running, methods' own checks, and the files a job leaves behind.

use super::*;

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
