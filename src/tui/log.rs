//! The dashboard's log: worker events as lines in `pivot.log` in the state folder — never on the
//! screen the dashboard draws on. Inner iterations are left out (they are in the session).

use crate::worker::Event;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Size past which an opened log is set aside (a 50-step inversion adds about 10 KB).
const ROTATE_AT: u64 = 1 << 20;

pub struct EventLog {
    file: File,
    pub path: PathBuf,
}

/// One line for an event, in words, or `None` for the chatty ones.
pub fn line(e: &Event) -> Option<String> {
    use crate::tui::state::job_label;
    Some(match e {
        Event::Inner(_) | Event::SampleStep { .. } | Event::Manifest(_) => return None,
        Event::ModelReady { model, device, .. } => format!("model {model} ready on {device}"),
        Event::ItemAdded { item } => format!("added item {item}"),
        Event::EditAdded { item, edit } => format!("queued edit {item}/{edit}"),
        Event::JobStarted { job } => format!("started {}", job_label(job)),
        Event::Stage { job, stage, total_steps: 0 } => format!("{}: {}", job_label(job), stage.label_in(job)),
        Event::Stage { job, stage, total_steps } => format!("{}: {} ({total_steps} steps)", job_label(job), stage.label_in(job)),
        // A DDIM inversion's steps are quick and optimise nothing: its stage line says enough.
        Event::Timestep { losses, .. } if losses.is_empty() => return None,
        Event::Timestep { done, losses } => {
            let last = losses.last().map_or("none".to_string(), |l| format!("{l:.3e}"));
            format!("timestep {}/{} (t={}): {} inner, last loss {last}", done.step + 1, done.total_steps, done.t, done.iterations)
        }
        Event::Checkpoint { item, completed, steps } => format!("checkpoint of {item}: {completed}/{steps} steps saved"),
        Event::JobDone { job, summary, outputs } => {
            let wrote: Vec<String> = outputs.iter().map(|p| p.display().to_string()).collect();
            let wrote = if wrote.is_empty() { String::new() } else { format!(" (wrote {})", wrote.join(", ")) };
            format!("done {}: {summary}{wrote}", job_label(job))
        }
        Event::Paused { job } => format!("paused {}", job_label(job)),
        Event::Cancelled { job } => format!("cancelled {}", job_label(job)),
        Event::Recaptioned { item } => format!("new caption for {item}: its inversion starts over"),
        Event::Failed { job: Some(job), message } => format!("failed {}: {message}", job_label(job)),
        Event::Failed { job: None, message } => format!("refused: {message}"),
        Event::Warning(w) => format!("warning: {w}"),
        Event::Note(n) => n.clone(),
        Event::FileProblems(problems) => format!("file problems: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")),
        Event::Idle => "idle".to_string(),
    })
}

impl EventLog {
    /// Append to `dir/pivot.log` (created with its folder); `None` when that is impossible —
    /// a log is never a reason not to run.
    pub fn open(dir: &Path) -> Option<Self> {
        std::fs::create_dir_all(dir).ok()?;
        let path = dir.join("pivot.log");
        // Kept from growing without end: past a mebibyte the log starts afresh and the last one
        // is kept beside it as pivot.log.1.
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > ROTATE_AT) {
            let _ = std::fs::rename(&path, dir.join("pivot.log.1"));
        }
        let file = OpenOptions::new().create(true).append(true).open(&path).ok()?;
        Some(Self { file, path })
    }

    pub fn record(&mut self, e: &Event) {
        if let Some(l) = line(e) {
            self.note(&l);
        }
    }

    pub fn note(&mut self, text: &str) {
        // One event, one line: a message's own line breaks (and other control characters) would
        // split it into lines that read as other events.
        let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let _ = writeln!(self.file, "{} {text}", utc(crate::session::store::now_unix_secs()));
    }
}

/// `secs` since 1970 as an ISO 8601 UTC time (`2026-12-02T16:57:09Z`), by the proleptic
/// Gregorian calendar (days to a date: Howard Hinnant's civil-from-days algorithm).
fn utc(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_lines_in_the_state_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(&dir.path().join("state")).unwrap();
        log.record(&Event::Warning("prompt\ntruncated".into()));
        log.record(&Event::Inner(crate::edit::InnerIteration { step: 0, t: 1, inner: 0, loss: 1.0, threshold: 0.1 }));
        let text = std::fs::read_to_string(&log.path).unwrap();
        assert!(text.contains("warning: prompt truncated"), "a message's line break stays inside its line: {text}");
        assert_eq!(text.lines().count(), 1, "inner iterations are not logged");
        let stamp = text.split(' ').next().unwrap();
        assert!(stamp.len() == 20 && stamp.as_bytes()[10] == b'T' && stamp.ends_with('Z'), "a readable time: {text}");
        // A log past the limit is set aside at the next start.
        std::fs::write(&log.path, vec![b'x'; ROTATE_AT as usize + 1]).unwrap();
        let log = EventLog::open(&dir.path().join("state")).unwrap();
        assert_eq!(std::fs::metadata(&log.path).unwrap().len(), 0);
        assert!(dir.path().join("state/pivot.log.1").exists());
    }

    #[test]
    fn lines_are_words_not_debug_dumps() {
        use crate::session::manifest::Job;
        let job = Job::Edit { item: "cat".into(), edit: "e2".into() };
        let stage = line(&Event::Stage { job: job.clone(), stage: crate::worker::Stage::Sampling, total_steps: 50 }).unwrap();
        assert_eq!(stage, "edit cat/e2: editing (50 steps)");
        let failed = line(&Event::Failed { job: Some(job), message: "out of memory".into() }).unwrap();
        assert_eq!(failed, "failed edit cat/e2: out of memory");
        let loading = line(&Event::Stage { job: Job::Invert { item: "cat".into() }, stage: crate::worker::Stage::LoadingModel, total_steps: 0 }).unwrap();
        assert_eq!(loading, "invert cat: loading model");
        let ddim = crate::edit::StepDone { step: 0, t: 1, total_steps: 50, iterations: 0, preview: None, x0: None, elapsed: std::time::Duration::ZERO };
        assert_eq!(line(&Event::Timestep { done: ddim, losses: vec![] }), None, "a DDIM step optimises nothing to log");
        for l in [stage, failed, line(&Event::Idle).unwrap()] {
            assert!(!l.contains('{') && !l.contains("Some("), "{l}");
        }
    }

    #[test]
    fn times_are_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_229_429), "2026-12-02T16:37:09Z");
    }
}
