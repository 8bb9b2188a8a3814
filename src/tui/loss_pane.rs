//! Which inversion's losses the loss pane holds: the running one's, else the selected item's.

use super::state::{Model, Run};
use super::update::Effect;
use crate::session::manifest::Job;

/// While no inversion runs, the loss pane shows the selected item: its saved losses, or none yet.
pub(super) fn follow_selection(m: &mut Model) -> Vec<Effect> {
    // A running inversion holds the pane (its curve grows there); an edit has no curve.
    if matches!(m.running, Some(Job::Invert { .. })) {
        return vec![];
    }
    let Some(it) = m.selected_item() else {
        m.run = None;
        return vec![];
    };
    if m.run.as_ref().is_some_and(|r| r.item == it.id) {
        return vec![];
    }
    if it.inversion.as_ref().is_none_or(|r| r.completed_steps == 0) {
        m.run = None;
        return vec![];
    }
    let id = it.id.clone();
    m.run = Some(run_for(m, &id));
    m.selected_step = None;
    vec![Effect::LoadLosses(id)]
}

pub(super) fn run_for(m: &Model, item: &str) -> Run {
    let rec = m.items().iter().find(|i| i.id == item).and_then(|i| i.inversion.clone());
    Run {
        item: item.into(),
        method: rec.as_ref().map_or_else(|| "null-text".into(), |r| r.method.clone()),
        total: rec.as_ref().map_or(0, |r| r.steps),
        done: rec.as_ref().map_or(0, |r| r.completed_steps),
        inner_max: rec.as_ref().map_or(10, |r| r.inner),
        epsilon: rec.as_ref().map_or(1e-5, |r| r.epsilon),
        stage_started: m.now,
        ..Run::default()
    }
}

/// A stopped inversion's timestep in progress is not saved: its inner losses go from the chart,
/// which then ends where the checkpoint does (as the title and the item list say).
pub(super) fn drop_unfinished_step(m: &mut Model, job: &Job) {
    if let (Job::Invert { item }, Some(r)) = (job, m.run.as_mut()) {
        if r.item == *item {
            r.losses.truncate(r.done);
            r.inner = 0;
            r.last_loss = None;
        }
    }
}
