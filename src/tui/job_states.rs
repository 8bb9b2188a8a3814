//! What the dashboard knows of each job's state, by job: looked up for every queue row and item
//! on every frame and worker event, so a session of thousands of jobs must not scan a list.

use super::state::JobState;
use crate::session::manifest::Job;
use std::collections::HashMap;

#[derive(Default)]
pub struct JobStates {
    /// Each job's state and when it was first seen (the order of `in_order`).
    map: HashMap<Job, (u64, JobState)>,
    next: u64,
}

impl JobStates {
    pub fn get(&self, job: &Job) -> Option<&JobState> {
        self.map.get(job).map(|(_, s)| s)
    }

    /// Sets `job`'s state; a job already known keeps its place in [`Self::in_order`].
    pub fn set(&mut self, job: &Job, state: JobState) {
        match self.map.get_mut(job) {
            Some((_, s)) => *s = state,
            None => {
                self.map.insert(job.clone(), (self.next, state));
                self.next += 1;
            }
        }
    }

    pub fn retain(&mut self, keep: impl Fn(&Job, &JobState) -> bool) {
        self.map.retain(|j, (_, s)| keep(j, s));
    }

    /// Every job with its state, in the order they were first seen.
    pub fn in_order(&self) -> Vec<(&Job, &JobState)> {
        let mut all: Vec<_> = self.map.iter().map(|(j, (at, s))| (*at, j, s)).collect();
        all.sort_by_key(|(at, ..)| *at);
        all.into_iter().map(|(_, j, s)| (j, s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_keep_the_order_jobs_came_in() {
        let job = |i: &str| Job::Invert { item: i.into() };
        let mut s = JobStates::default();
        s.set(&job("b"), JobState::Queued);
        s.set(&job("a"), JobState::Queued);
        s.set(&job("b"), JobState::Cancelled);
        assert_eq!(s.get(&job("b")), Some(&JobState::Cancelled));
        let order: Vec<String> = s.in_order().iter().map(|(j, _)| j.item().to_string()).collect();
        assert_eq!(order, ["b", "a"]);
        s.retain(|j, _| j.item() != "b");
        assert_eq!((s.get(&job("b")), s.in_order().len()), (None, 1));
    }
}
