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
    /// Steps already done before this run (a resumed inversion), known at its first step.
    before: Option<usize>,
    total: usize,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        Self { label: label.into(), live: std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb"), start: Instant::now(), evaluations: 0, last: None, steps_done: 0, before: None, total }
    }

    /// Steps this run did.
    fn ran(&self) -> usize {
        self.steps_done.saturating_sub(self.before.unwrap_or(0))
    }

    /// Record that `done` steps are finished, the first of this run being step `done − 1`.
    fn reached(&mut self, done: usize) {
        self.before.get_or_insert(done.saturating_sub(1));
        self.steps_done = done;
    }

    fn eta(&self) -> String {
        if self.ran() == 0 {
            return "--:--".into();
        }
        let per = self.start.elapsed().as_secs_f64() / self.ran() as f64;
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
        self.reached(done);
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
        let plural = |n: usize| if n == 1 { "step" } else { "steps" };
        let before = match self.before {
            Some(b) if b > 0 => format!(" ({b} {} done before; {} of {} now)", plural(b), self.steps_done, self.total),
            _ => String::new(),
        };
        eprintln!("{} {word} {} {} in {:.1} s{before}", self.label, self.ran(), plural(self.ran()), self.start.elapsed().as_secs_f64());
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
        self.reached(d.step + 1);
        if d.iterations == 0 {
            self.evaluations += 1;
        }
        self.show();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_run_counts_and_prices_only_its_own_steps() {
        let mut p = Progress::new("null-text", 100);
        p.live = false;
        for done in 14..=20 {
            p.reached(done);
        }
        assert_eq!((p.ran(), p.before), (7, Some(13)));
        let mut fresh = Progress::new("sampling", 4);
        fresh.reached(1);
        assert_eq!((fresh.ran(), fresh.before), (1, Some(0)));
    }
}
