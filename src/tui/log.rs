//! The dashboard's log: worker events as lines in `pivot.log` in the state folder — never on the
//! screen the dashboard draws on. Inner iterations are left out (they are in the session).

use crate::worker::Event;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct EventLog {
    file: File,
    pub path: PathBuf,
}

/// One line for an event, or `None` for the chatty ones.
pub fn line(e: &Event) -> Option<String> {
    Some(match e {
        Event::Inner(_) | Event::SampleStep { .. } | Event::Manifest(_) => return None,
        Event::Timestep { done, losses } => format!("timestep {}/{} (t={}): {} inner, last loss {:?}", done.step + 1, done.total_steps, done.t, done.iterations, losses.last()),
        Event::Failed { job, message } => format!("failed {job:?}: {message}"),
        other => format!("{other:?}"),
    })
}

impl EventLog {
    /// Append to `dir/pivot.log` (created with its folder); `None` when that is impossible —
    /// a log is never a reason not to run.
    pub fn open(dir: &Path) -> Option<Self> {
        std::fs::create_dir_all(dir).ok()?;
        let path = dir.join("pivot.log");
        let file = OpenOptions::new().create(true).append(true).open(&path).ok()?;
        Some(Self { file, path })
    }

    pub fn record(&mut self, e: &Event) {
        if let Some(l) = line(e) {
            let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let _ = writeln!(self.file, "{secs} {l}");
        }
    }

    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.file, "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_lines_in_the_state_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(&dir.path().join("state")).unwrap();
        log.record(&Event::Warning("prompt truncated".into()));
        log.record(&Event::Inner(crate::edit::InnerIteration { step: 0, t: 1, inner: 0, loss: 1.0, threshold: 0.1 }));
        let text = std::fs::read_to_string(&log.path).unwrap();
        assert!(text.contains("prompt truncated"));
        assert_eq!(text.lines().count(), 1, "inner iterations are not logged");
    }
}
