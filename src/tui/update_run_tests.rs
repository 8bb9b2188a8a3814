//! Pure `update` tests of runs: worker events filling the loss pane and its ETA, browsing
//! timesteps, and the preview pane's keys (decode, choose, delete, cancel the shown result).

use super::keymap::Action;
use super::state::{JobState, Level, Mode, Model, Pane};
use super::showcase::{manifest, running_model};
use super::update::{update, Effect, InputKey, Msg};
use crate::edit::{InnerIteration, StepDone};
use crate::session::manifest::Job;
use crate::worker::{Command, Event, Stage};
use std::time::Duration;

use super::update_tests::{act, idle_model};

#[test]
fn worker_events_fill_the_run() {
    let mut m = idle_model();
    let job = Job::Invert { item: "dog".into() };
    let fx = update(&mut m, Msg::Worker(Event::JobStarted { job: job.clone() }));
    assert!(fx.iter().any(|e| matches!(e, Effect::LoadLosses(i) if i == "dog")), "resumed runs show their saved losses");
    update(&mut m, Msg::Losses { item: "dog".into(), losses: vec![vec![1e-3, 5e-4]; 23], iterations: vec![2; 23] });
    update(&mut m, Msg::Worker(Event::Stage { job: job.clone(), stage: Stage::DdimInversion, total_steps: 50 }));
    assert_eq!(m.run.as_ref().unwrap().done, 0);
    update(&mut m, Msg::Worker(Event::Stage { job: job.clone(), stage: Stage::NullText, total_steps: 50 }));
    assert_eq!(m.run.as_ref().unwrap().done, 23, "null-text resumes at the saved timesteps");
    for j in 0..3 {
        update(&mut m, Msg::Worker(Event::Inner(InnerIteration { step: 23, t: 521, inner: j, loss: 1e-3 / (j + 1) as f32, threshold: 4.7e-4 })));
    }
    let r = m.run.as_ref().unwrap();
    assert_eq!((r.inner, r.losses[23].len(), r.losses[0].len()), (3, 3, 2));
    assert_eq!(m.item_state(&m.items()[1].clone()), "inverting 24/50", "the step being optimised, as the title says");
    let done = StepDone { step: 23, t: 521, total_steps: 50, iterations: 3, preview: Some(super::showcase::picture(4, 4)), x0: None, elapsed: Duration::from_secs(9) };
    update(&mut m, Msg::Tick { now: 12.0 });
    update(&mut m, Msg::Worker(Event::Timestep { done, losses: vec![1e-3, 5e-4, 3e-4] }));
    let r = m.run.as_ref().unwrap();
    assert_eq!((r.done, r.iterations[23], r.preview_t), (24, 3, 521));
    // The status line names the next timestep now: nothing of the finished one's inner loop.
    let line = crate::tui::view::status::progress(&m).unwrap();
    assert!(line.contains("t 25/50 · inner 0/") && !line.contains("loss ") && r.threshold == 1e-5 + 24.0 * 2e-5, "{line}");
    assert_eq!(r.preview_at(23).map(|(p, t)| (p.width(), t)), Some((4, 521)), "every timestep's x0 is kept for browsing");
    // The ETA of a resumed run comes from the steps it did itself: one step in 2 s, 25 to go.
    let next = StepDone { step: 24, t: 501, total_steps: 50, iterations: 3, preview: None, x0: None, elapsed: Duration::from_secs(11) };
    update(&mut m, Msg::Tick { now: 14.0 });
    update(&mut m, Msg::Worker(Event::Timestep { done: next, losses: vec![1e-3] }));
    let line = crate::tui::view::status::progress(&m).unwrap();
    assert!(line.ends_with("ETA 0:50"), "{line}");
    update(&mut m, Msg::Worker(Event::Inner(InnerIteration { step: 25, t: 481, inner: 0, loss: 1e-3, threshold: 5e-4 })));
    assert_eq!(m.run.as_ref().unwrap().losses.len(), 26);
    update(&mut m, Msg::Worker(Event::Paused { job: job.clone() }));
    assert_eq!(m.job_state(&job), Some(&JobState::Paused));
    assert_eq!(m.running, None);
    let r = m.run.as_ref().unwrap();
    assert_eq!((r.losses.len(), r.done), (25, 25), "the unsaved step in progress leaves the chart");
    update(&mut m, Msg::Worker(Event::JobDone { job: job.clone(), summary: "item dog: done".into(), outputs: vec![] }));
    assert_eq!(m.job_state(&job), Some(&JobState::Done));
}

#[test]
fn while_nothing_runs_the_loss_pane_follows_the_selected_item() {
    let mut m = idle_model();
    let shown = |m: &Model| m.run.as_ref().map(|r| (r.item.clone(), r.done));
    assert_eq!(shown(&m), Some(("cat".to_string(), 50)), "the first item's losses on opening");
    m.focus = Pane::Session;
    let fx = act(&mut m, Action::Down);
    assert!(fx.iter().any(|e| matches!(e, Effect::LoadLosses(i) if i == "dog")), "{fx:?}");
    assert_eq!(shown(&m), Some(("dog".to_string(), 23)), "a partly inverted item shows its saved steps");
    act(&mut m, Action::Down);
    assert_eq!(shown(&m), None, "an item not inverted yet has no losses");
    // While an inversion runs, the pane stays on it wherever the selection goes.
    let job = Job::Invert { item: "dog".into() };
    update(&mut m, Msg::Worker(Event::JobStarted { job: job.clone() }));
    act(&mut m, Action::Up);
    act(&mut m, Action::Up);
    assert_eq!(shown(&m).map(|s| s.0), Some("dog".to_string()));
    // Once it is over, the pane goes back to the selected item (and loads its losses).
    let fx = update(&mut m, Msg::Worker(Event::JobDone { job, summary: "item dog: done".into(), outputs: vec![] }));
    assert_eq!(shown(&m).map(|s| s.0), Some("cat".to_string()));
    assert!(fx.iter().any(|e| matches!(e, Effect::LoadLosses(i) if i == "cat")), "{fx:?}");
    // An edit has no curve: the pane goes on following the selection.
    update(&mut m, Msg::Worker(Event::JobStarted { job: Job::Edit { item: "dog".into(), edit: "e1".into() } }));
    act(&mut m, Action::Down);
    act(&mut m, Action::Up);
    assert_eq!(shown(&m).map(|s| s.0), Some("cat".to_string()), "the selected item's losses while an edit runs");
}

#[test]
fn an_added_photo_is_selected_and_the_loss_pane_follows_it() {
    let mut m = idle_model();
    assert_eq!(m.run.as_ref().map(|r| r.item.as_str()), Some("cat"));
    let mut manifest = m.manifest.clone().unwrap();
    manifest.items[2].inversion = None;
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest))));
    update(&mut m, Msg::Worker(Event::ItemAdded { item: "sky".into() }));
    assert_eq!(m.selected, 2);
    assert!(m.run.is_none(), "the pane still showed cat's losses under the new item");
    // Keys for the loss chart say why nothing moves.
    act(&mut m, Action::PrevStep);
    assert!(m.status.as_ref().is_some_and(|(t, _)| t.contains("no loss curve")), "{:?}", m.status);
    act(&mut m, Action::ToggleLog);
    assert!(m.status.as_ref().is_some_and(|(t, _)| t.contains("scale")), "{:?}", m.status);
}

#[test]
fn sampling_is_named_for_the_job_it_serves() {
    let mut m = idle_model();
    let progress = |m: &Model| crate::tui::view::status::progress(m).unwrap();
    let invert = Job::Invert { item: "dog".into() };
    update(&mut m, Msg::Worker(Event::JobStarted { job: invert.clone() }));
    update(&mut m, Msg::Worker(Event::Stage { job: invert.clone(), stage: Stage::Sampling, total_steps: 50 }));
    update(&mut m, Msg::Worker(Event::SampleStep { job: invert.clone(), step: 3, total: 50 }));
    assert_eq!(progress(&m), "reconstruction dog 3/50");
    update(&mut m, Msg::Worker(Event::JobDone { job: invert, summary: "item dog: done".into(), outputs: vec![] }));
    let edit = Job::Edit { item: "dog".into(), edit: "cat".into() };
    update(&mut m, Msg::Worker(Event::JobStarted { job: edit.clone() }));
    update(&mut m, Msg::Worker(Event::Stage { job: edit.clone(), stage: Stage::Sampling, total_steps: 50 }));
    update(&mut m, Msg::Worker(Event::SampleStep { job: edit, step: 7, total: 50 }));
    assert_eq!(progress(&m), "editing dog/cat 7/50", "names the edit: a notice beside it may be about another");
}

#[test]
fn f_decodes_the_latest_x0_off_the_ui_thread_and_z_then_has_it() {
    let mut idle = idle_model();
    act(&mut idle, Action::Decode);
    assert!(idle.status.as_ref().is_some_and(|(s, _)| s.contains("while a null-text inversion runs")), "nothing runs: {:?}", idle.status);
    let mut m = running_model();
    act(&mut m, Action::Decode);
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("nothing to decode yet")), "{:?}", m.status);
    // An npi inversion never has one: said so, not "yet".
    m.run.as_mut().unwrap().method = "npi".into();
    act(&mut m, Action::Decode);
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("dog's inversion is npi: it has no x0 to decode")), "{:?}", m.status);
    m.run.as_mut().unwrap().method = "null-text".into();
    let sd = std::sync::Arc::new(crate::sd::StableDiffusion::tiny(1, &candle_core::Device::Cpu).unwrap());
    let decoder = crate::worker::Decoder::new(sd);
    update(&mut m, Msg::Worker(Event::ModelReady { model: "tiny".into(), device: "cpu".into(), decoder }));
    let x0 = candle_core::Tensor::zeros((1, 4, 2, 2), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let step = |t| StepDone { step: 23, t, total_steps: 50, iterations: 3, preview: Some(super::showcase::picture(4, 4)), x0: Some(x0.clone()), elapsed: Duration::ZERO };
    update(&mut m, Msg::Worker(Event::Timestep { done: step(521), losses: vec![1e-3] }));
    let fx = act(&mut m, Action::Decode);
    assert!(matches!(&fx[..], [Effect::Decode { t: 521, .. }]), "{fx:?}");
    assert!(m.decoding);
    assert!(act(&mut m, Action::Decode).is_empty(), "one decode at a time");
    update(&mut m, Msg::Decoded { t: 521, image: Ok(super::showcase::picture(8, 8)) });
    assert!(!m.decoding);
    assert_eq!(m.run.as_ref().unwrap().decoded.as_ref().map(|d| d.1), Some(521));
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("z zooms")));
    // Decoded while a past timestep is browsed: said to be the latest one's, and how to see it.
    act(&mut m, Action::PrevStep);
    let fx = act(&mut m, Action::Decode);
    assert!(matches!(&fx[..], [Effect::Decode { t: 521, .. }]) && m.status.as_ref().is_some_and(|(s, _)| s.contains("the latest timestep's")), "{fx:?} {:?}", m.status);
    update(&mut m, Msg::Decoded { t: 521, image: Ok(super::showcase::picture(8, 8)) });
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("esc back to the latest timestep shows it")), "{:?}", m.status);
    act(&mut m, Action::Back);
    // Newer timesteps replace it only after a few seconds on screen.
    let now = m.now;
    update(&mut m, Msg::Tick { now: now + 1.0 });
    update(&mut m, Msg::Worker(Event::Timestep { done: step(501), losses: vec![1e-3] }));
    assert!(m.run.as_ref().unwrap().decoded.is_some());
    update(&mut m, Msg::Tick { now: now + 11.0 });
    update(&mut m, Msg::Worker(Event::Timestep { done: step(481), losses: vec![1e-3] }));
    assert!(m.run.as_ref().unwrap().decoded.is_none());
    // A failed decode says why and frees the key.
    act(&mut m, Action::Decode);
    update(&mut m, Msg::Decoded { t: 481, image: Err("out of memory".into()) });
    assert!(!m.decoding && m.status.as_ref().is_some_and(|(s, l)| s.contains("out of memory") && *l == Level::Error));
    // With another item selected the panes and z show that one: the message says where to look.
    let run = m.run.as_ref().unwrap().item.clone();
    m.selected = m.items().iter().position(|i| i.id != run).unwrap();
    assert!(matches!(&act(&mut m, Action::Decode)[..], [Effect::Decode { .. }]));
    update(&mut m, Msg::Decoded { t: 481, image: Ok(super::showcase::picture(8, 8)) });
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains(&format!("select {run} to see it (z then zooms it)"))), "{:?}", m.status);
}

#[test]
fn browsing_timesteps_returns_to_the_live_one() {
    let mut m = running_model();
    act(&mut m, Action::PrevStep);
    act(&mut m, Action::PrevStep);
    assert_eq!(m.selected_step, Some(20));
    act(&mut m, Action::NextStep);
    assert_eq!(m.selected_step, Some(21));
    act(&mut m, Action::NextStep);
    assert_eq!(m.selected_step, None, "] onto the latest follows the run again");
    act(&mut m, Action::PrevStep);
    act(&mut m, Action::Back);
    assert_eq!(m.selected_step, None, "Esc follows the run again");
}

#[test]
fn the_eta_counts_down_and_prices_steps_at_recent_iteration_counts() {
    let mut m = idle_model();
    let job = Job::Invert { item: "dog".into() };
    update(&mut m, Msg::Worker(Event::JobStarted { job: job.clone() }));
    update(&mut m, Msg::Worker(Event::Stage { job: job.clone(), stage: Stage::NullText, total_steps: 10 }));
    let step = |m: &mut Model, s: usize, iterations: usize, now: f64| {
        update(m, Msg::Tick { now });
        let done = StepDone { step: s, t: 900 - 100 * s, total_steps: 10, iterations, preview: None, x0: None, elapsed: Duration::from_secs(1) };
        update(m, Msg::Worker(Event::Timestep { done, losses: vec![1e-3; iterations] }));
    };
    let eta = |m: &Model| crate::tui::view::status::progress(m).unwrap().rsplit("ETA ").next().unwrap().to_string();
    // Warm-up step, then two steps of 1 iteration (2 units, 2 s each: 1 s a unit), then one of 9.
    step(&mut m, 0, 1, 5.0);
    step(&mut m, 1, 1, 7.0);
    step(&mut m, 2, 1, 9.0);
    assert_eq!(eta(&m), "0:14", "7 steps to go at 2 s each");
    step(&mut m, 3, 9, 19.0);
    // 14 units in 14 s; the 6 steps to go are priced at the recent 9 iterations: 6 × 10 s.
    assert_eq!(eta(&m), "1:00", "not the mean step's 14/3 s × 6 = 0:28");
    update(&mut m, Msg::Tick { now: 25.0 });
    assert_eq!(eta(&m), "0:54", "counts down while a step runs");
    update(&mut m, Msg::Tick { now: 40.0 });
    assert_eq!(eta(&m), "0:50", "a step running long takes at most its own price off");
}

#[test]
fn j_and_k_in_the_preview_pane_choose_which_result_is_shown() {
    let mut m = idle_model();
    let mut manifest = manifest();
    manifest.items[0].edits[1].output = Some("edits/cat-e2.png".into());
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest))));
    m.selected = 0;
    assert_eq!(super::update::shown_result(&m).as_deref(), Some("edits/cat-e2.png"), "the latest edit by default");
    m.focus = Pane::Preview;
    let fx = act(&mut m, Action::Up);
    assert_eq!(super::update::shown_result(&m).as_deref(), Some("edits/cat-e1.png"));
    assert!(fx.iter().any(|e| matches!(e, Effect::LoadImage(p) if p == "edits/cat-e1.png")), "{fx:?}");
    assert!(matches!(&m.status, Some((s, _)) if s.contains("edit e1") && s.contains("2/3")), "{:?}", m.status);
    act(&mut m, Action::Up);
    act(&mut m, Action::Up);
    assert_eq!(super::update::shown_result(&m).as_deref(), Some("edits/cat-recon.png"), "stops at the reconstruction");
    act(&mut m, Action::Down);
    assert_eq!(super::update::shown_result(&m).as_deref(), Some("edits/cat-e1.png"));
    // Another item shows its own latest result; coming back starts from the latest again.
    m.focus = Pane::Session;
    act(&mut m, Action::Down);
    act(&mut m, Action::Up);
    assert_eq!(super::update::shown_result(&m).as_deref(), Some("edits/cat-e2.png"));
}

#[test]
fn d_in_the_preview_pane_deletes_the_shown_edit_and_its_picture_leaves_the_cache() {
    let mut m = idle_model();
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    m.selected = 0;
    m.images.insert("edits/cat-e1.png".into(), image::RgbImage::new(2, 2), &[]);
    // In the session pane, `d` is about the photo.
    act(&mut m, Action::DeleteItem);
    assert_eq!(m.mode, Mode::ConfirmDelete("cat".into()));
    update(&mut m, Msg::Input(InputKey::Esc));
    m.focus = Pane::Preview;
    act(&mut m, Action::DeleteItem);
    assert_eq!(m.mode, Mode::ConfirmDeleteEdit("cat".into(), "e1".into()));
    let fx = update(&mut m, Msg::Input(InputKey::Char('y')));
    assert!(matches!(&fx[..], [Effect::Send(Command::RemoveEdit { item, edit })] if item == "cat" && edit == "e1"), "{fx:?}");
    let mut man = manifest();
    man.items[0].edits.remove(0);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    assert!(!m.images.contains_key("edits/cat-e1.png"), "a later edit e1 must not show this picture");
    assert_eq!(m.shown.as_deref(), Some("edit:e2"), "the pane moves to the deleted edit's neighbour");
    // With the reconstruction shown, `d` there deletes nothing and says where the photo is deleted.
    m.shown = Some("recon".into());
    act(&mut m, Action::DeleteItem);
    assert_eq!(m.mode, Mode::Normal);
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("d in the session pane")), "{:?}", m.status);
}

#[test]
fn x_in_the_preview_pane_cancels_only_the_edit_browsed_to() {
    let mut m = running_model();
    let mut man = manifest();
    let mut e3 = man.items[0].edits[1].clone();
    e3.id = "e3".into();
    man.items[0].edits.push(e3);
    let (e2, e3) = (Job::Edit { item: "cat".into(), edit: "e2".into() }, Job::Edit { item: "cat".into(), edit: "e3".into() });
    man.queue.push(e3.clone());
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    m.selected = 0;
    m.focus = Pane::Preview;
    // On a made edit, x has nothing to cancel (not the item's queued work, which it does not show).
    assert_eq!(super::update::shown_edit(&m).as_deref(), Some("e1"));
    assert!(act(&mut m, Action::Cancel).is_empty());
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("is made: nothing to cancel (d deletes it)")), "{:?}", m.status);
    act(&mut m, Action::Down); // e1 (made) → e2 (queued)
    assert_eq!(super::update::shown_edit(&m).as_deref(), Some("e2"));
    let fx = act(&mut m, Action::Cancel);
    assert!(matches!(&fx[..], [Effect::Cancel(jobs)] if *jobs == vec![e2.clone()]), "{fx:?}");
    // Elsewhere, x means the photo's queued jobs, all of them.
    m.focus = Pane::Session;
    let fx = act(&mut m, Action::Cancel);
    assert!(matches!(&fx[..], [Effect::Cancel(jobs)] if *jobs == vec![e2, e3]), "{fx:?}");
}
