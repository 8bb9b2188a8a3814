//! Headless progress on stderr: one live line on a terminal, a line per few steps otherwise.

use pivot::edit::{InnerIteration, Observer, StepDone};
use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    label: String,
    live: bool,
    start: Instant,
    evaluations: usize,
    last: Option<InnerIteration>,
    steps_done: usize,
    total: usize,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        Self { label: label.into(), live: std::io::stderr().is_terminal(), start: Instant::now(), evaluations: 0, last: None, steps_done: 0, total }
    }

    fn eta(&self) -> String {
        if self.steps_done == 0 {
            return "--:--".into();
        }
        let per = self.start.elapsed().as_secs_f64() / self.steps_done as f64;
        let s = (per * (self.total - self.steps_done) as f64) as u64;
        format!("{}:{:02}", s / 60, s % 60)
    }

    fn line(&self) -> String {
        let rate = self.evaluations as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        let inner = match &self.last {
            Some(it) => format!("  inner {:>2}  loss {:.3e} {} {:.3e}", it.inner + 1, it.loss, if (it.loss as f64) < it.threshold { "<" } else { "≥" }, it.threshold),
            None => String::new(),
        };
        format!("{} step {:>3}/{}{inner}  {rate:.1} it/s  ETA {}", self.label, self.steps_done, self.total, self.eta())
    }

    /// A step without inner iterations (sampling, an edit) finished: `done` of the total.
    pub fn step(&mut self, done: usize) {
        self.steps_done = done;
        self.evaluations += 1;
        self.show();
    }

    /// The live line on a terminal; every tenth step (and the last) as a line otherwise.
    fn show(&self) {
        if self.live {
            eprint!("\r\x1b[2K{}", self.line());
            let _ = std::io::stderr().flush();
        } else if self.steps_done.is_multiple_of(10) || self.steps_done == self.total {
            eprintln!("{}", self.line());
        }
    }

    /// Clear the live line and print a closing one.
    pub fn finish(&mut self) {
        if self.live {
            eprint!("\r\x1b[2K");
        }
        let word = if self.steps_done < self.total { "stopped after" } else { "done:" };
        eprintln!("{} {word} {} steps in {:.1} s", self.label, self.steps_done, self.start.elapsed().as_secs_f64());
    }
}

impl Observer for Progress {
    fn inner(&mut self, it: &InnerIteration) {
        self.evaluations += 1;
        self.last = Some(it.clone());
        if self.live {
            eprint!("\r\x1b[2K{}", self.line());
            let _ = std::io::stderr().flush();
        }
    }

    fn step_done(&mut self, d: &StepDone) {
        self.steps_done = d.step + 1;
        if d.iterations == 0 {
            self.evaluations += 1;
        }
        self.show();
    }
}
