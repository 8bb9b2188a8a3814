//! Headless driving of the worker: send commands, print its events on stderr, and turn a stop
//! signal into a pause (the job keeps its checkpoints and `pivot resume` continues it).

use super::device;
use super::progress::Progress;
use anyhow::{bail, Context, Result};
use pivot::sd::source::ModelSource;
use pivot::session::dirs::sessions_dir;
use pivot::session::manifest::{Job, ModelRef};
use pivot::session::store::Session;
use pivot::edit::CancelToken;
use pivot::signals;
use pivot::worker::{Command, Event, StopReason, WorkerHandle, WorkerOptions};
use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// Open a session (creating it for `create_with` when it does not exist) and start a worker on it.
pub fn start(name: &str, create_with: Option<&str>, model: Option<&str>, device_spec: Option<&str>) -> Result<WorkerHandle> {
    // Checked first: a bad --device or `device` in config.toml must not leave a new session behind.
    let device = device::pick(device_spec)?;
    let model = model.map(ModelSource::parse).transpose()?;
    let root = sessions_dir()?;
    let session = match (Session::exists(&root, name), create_with) {
        (true, _) => Session::open(&root, name)?,
        (false, Some(src)) => {
            let source = ModelSource::parse_recorded(src)?;
            let s = Session::create(&root, name, ModelRef { source: source.describe(), hash: String::new() })?;
            eprintln!("new session `{name}` (model {})", source.describe());
            s
        }
        // Says what is there instead: nothing, or a folder without a manifest.
        (false, None) => Session::open(&root, name)?,
    };
    Ok(WorkerHandle::spawn(session, WorkerOptions { device, model }))
}

/// Load the session's model with no job to run, so that a `--model` given is checked (and a moved
/// one remembered) all the same; what the worker says of it (a new place) is printed.
pub fn load_model(handle: &WorkerHandle) -> Result<()> {
    let loaded = handle.load_model();
    // Said as a run says them: warnings, and the files the worker found damaged or missing.
    let mut printer = Printer::default();
    for e in handle.events().try_iter().filter(|e| matches!(e, Event::Warning(_) | Event::FileProblems(_))) {
        printer.show(&e);
    }
    loaded.map_err(|e| anyhow::anyhow!(e))
}

/// What a run of jobs came to.
#[derive(Default)]
pub struct Report {
    pub done: Vec<(Job, Vec<PathBuf>)>,
}

/// Prints events; remembers what a caller needs afterwards.
#[derive(Default)]
struct Printer {
    progress: Option<Progress>,
    checkpoint: Option<(String, usize, usize)>,
    /// Leave out the "wrote FILE" lines (files of a temporary session, gone at the end).
    quiet_outputs: bool,
    /// Files whose problem is printed already (item, file): the worker sends the list again when
    /// it finds more, and a file it failed to read comes back with the reader's words for it.
    problems_said: std::collections::HashSet<(String, String)>,
}

impl Printer {
    fn close(&mut self) {
        if let Some(mut p) = self.progress.take() {
            p.finish();
        }
    }

    fn show(&mut self, e: &Event) {
        use pivot::edit::Observer;
        match e {
            Event::ModelReady { model, device, .. } => eprintln!("model {model} on {device}"),
            Event::Stage { job, stage, total_steps } if *total_steps > 0 => {
                self.close();
                self.progress = Some(Progress::new(stage.label_in(job), *total_steps));
            }
            Event::Inner(it) => self.progress.iter_mut().for_each(|p| p.inner(it)),
            Event::Timestep { done, .. } => self.progress.iter_mut().for_each(|p| p.step_done(done)),
            Event::SampleStep { step, total, .. } => {
                if let Some(p) = self.progress.as_mut() {
                    p.step_done(&pivot::edit::StepDone { step: step - 1, t: 0, total_steps: *total, iterations: 0, preview: None, x0: None, elapsed: Duration::ZERO });
                }
            }
            Event::Checkpoint { item, completed, steps } => self.checkpoint = Some((item.clone(), *completed, *steps)),
            Event::Warning(w) => eprintln!("warning: {w}"),
            Event::FileProblems(ps) => {
                for p in ps {
                    if self.problems_said.insert((p.item.clone(), p.file.clone())) {
                        eprintln!("warning: {p}");
                    }
                }
            }
            Event::JobDone { summary, outputs, .. } => {
                self.close();
                // A job's result (its PSNR, what was edited) is what a script reads: stdout, as
                // file-mode `invert` prints its figures; the session files it wrote are notes.
                println!("{summary}");
                if !self.quiet_outputs {
                    outputs.iter().for_each(|o| eprintln!("wrote {}", o.display()));
                }
            }
            _ => {}
        }
    }
}

/// Wait for the event `pick` accepts (printing the others); a failure before it is an error.
fn wait_for<T>(handle: &WorkerHandle, mut pick: impl FnMut(&Event) -> Option<T>) -> Result<T> {
    let mut printer = Printer::default();
    loop {
        let e = handle.events().recv().context("the worker stopped unexpectedly")?;
        if let Some(t) = pick(&e) {
            return Ok(t);
        }
        if let Event::Failed { message, .. } = &e {
            bail!("{message}");
        }
        printer.show(&e);
    }
}

/// The id of the item an `AddItem` just made (or its refusal, as an error).
pub fn item_added(handle: &WorkerHandle) -> Result<String> {
    wait_for(handle, |e| match e {
        Event::ItemAdded { item } => Some(item.clone()),
        _ => None,
    })
}

/// The id of the next edit an `AddEdit` made (or its refusal, as an error).
pub fn edit_added(handle: &WorkerHandle) -> Result<String> {
    wait_for(handle, |e| match e {
        Event::EditAdded { edit, .. } => Some(edit.clone()),
        _ => None,
    })
}

/// Send `command` (Run or RunQueue) and print events until the worker is idle again.
pub fn run(handle: &WorkerHandle, session: &str, command: Command) -> Result<Report> {
    run_with(handle, session, command, Printer::default())
}

/// [`run`] for a temporary session: its files are not listed, since they will be gone.
pub fn run_temporary(handle: &WorkerHandle, session: &str, command: Command) -> Result<Report> {
    run_with(handle, session, command, Printer { quiet_outputs: true, ..Printer::default() })
}

fn run_with(handle: &WorkerHandle, session: &str, command: Command, mut printer: Printer) -> Result<Report> {
    handle.send(command);
    let mut report = Report::default();
    let mut failures = Vec::new();
    let mut paused = None;
    let mut stopped = false;
    loop {
        // Checked before every event: a fast stream of events must not starve the check.
        if !stopped && signals::received().is_some() {
            stopped = true;
            handle.stop(StopReason::Stop);
        }
        let e = match handle.events().recv_timeout(Duration::from_millis(100)) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => bail!("the worker stopped unexpectedly"),
        };
        printer.show(&e);
        match e {
            Event::JobDone { job, outputs, .. } => report.done.push((job, outputs)),
            Event::Failed { job, message } => failures.push(match job {
                Some(j) => format!("{}: {message}", describe(&j)),
                None => message,
            }),
            Event::Paused { job } => {
                printer.close();
                let at = match &printer.checkpoint {
                    Some((item, k, n)) => format!(" ({item}: {k} of {n} timesteps saved)"),
                    None => String::new(),
                };
                paused = Some(format!("{}{at}; session `{session}` keeps its work — `pivot resume --session {session}` continues", describe(&job)));
            }
            Event::Idle => break,
            _ => {}
        }
    }
    printer.close();
    if !failures.is_empty() {
        // The other jobs ran; say which ones did not, each on its own line.
        bail!("{}", failures.join("\nerror: "));
    }
    if stopped {
        let what = paused.unwrap_or_else(|| format!("session `{session}` keeps its work — `pivot resume --session {session}` finishes it"));
        return Err(signals::Interrupted::now(what).into());
    }
    if let Some(p) = paused {
        eprintln!("stopped {p}");
    }
    Ok(report)
}

pub fn describe(job: &Job) -> String {
    match job {
        Job::Invert { item } => format!("the inversion of {item}"),
        Job::Edit { item, edit } => format!("edit {edit} of {item}"),
    }
}

/// Between steps of work that cannot be continued: a stop signal ends it with `lost` said.
pub fn stop_if_signalled(lost: &str) -> Result<()> {
    match signals::received() {
        Some(_) => Err(signals::Interrupted::now(lost).into()),
        None => Ok(()),
    }
}

/// A run of `session` stopped before it could copy its results to `outs` (--out, --recon, …):
/// say so, and how to get them once it is finished.
pub fn note_unwritten(outs: &[Option<&std::path::Path>], session: &str, error: Option<&anyhow::Error>) {
    if let Some(note) = unwritten_note(outs, session, error) {
        eprintln!("{note}");
    }
}

/// [`note_unwritten`]'s line. A run that failed (`error`, not a stop signal) is not finished by
/// a plain resume: its error, printed after, says what to do first.
fn unwritten_note(outs: &[Option<&std::path::Path>], session: &str, error: Option<&anyhow::Error>) -> Option<String> {
    let named: Vec<String> = outs.iter().flatten().map(|p| p.display().to_string()).collect();
    if named.is_empty() {
        return None;
    }
    let failed = error.is_some_and(|e| !e.is::<signals::Interrupted>());
    if failed {
        return Some(format!("note: {} not written; once the error below is dealt with and the work made, `pivot session export {session} DIR` copies every result", named.join(", ")));
    }
    // The same command goes on from the checkpoint and writes them; resume would run the
    // session's other queued work first.
    Some(format!("note: {} not written; the same command again continues and writes it (or `pivot session export {session} DIR` after `pivot resume --session {session}`)", named.join(", ")))
}

/// A token that a stop signal cancels, for the runs that do not go through a worker.
pub fn cancel_on_signal() -> CancelToken {
    signals::install();
    let cancel = CancelToken::new();
    let c = cancel.clone();
    std::thread::spawn(move || {
        while signals::received().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        c.cancel();
    });
    cancel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwritten_file_is_promised_by_resume_only_after_a_stop() {
        let out = std::path::Path::new("cat.png");
        assert_eq!(unwritten_note(&[None], "s", None), None);
        let stopped: anyhow::Error = signals::Interrupted::now("kept").into();
        let after_stop = unwritten_note(&[Some(out)], "s", Some(&stopped)).unwrap();
        assert!(after_stop.contains("cat.png not written; the same command again continues and writes it"), "{after_stop}");
        let failed = anyhow::anyhow!("the inversion file is damaged: --restart");
        let after_failure = unwritten_note(&[Some(out)], "s", Some(&failed)).unwrap();
        assert!(after_failure.contains("once the error below is dealt with") && !after_failure.contains("pivot resume"), "{after_failure}");
    }
}
