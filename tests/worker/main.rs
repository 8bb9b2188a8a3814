//! The worker thread in-process: events in order, pause keeps the job queued, cancel drops it,
//! and a later run (asked for by name after a cancel) continues from the checkpoint.

#[path = "../common/mod.rs"]
mod common;
use common::worker::*;
use candle_core::Device;
use pivot::session::manifest::{Job, ModelRef};
use pivot::session::store::Session;
use pivot::worker::{Command, Event, NewItem, Stage, StopReason, WorkerHandle, WorkerOptions};
mod restart_and_queue;
mod captions_methods_files;

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
