//! `pivot session new|list|show|rm|export|import` and `pivot resume`.

use super::device;
use super::drive;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use pivot::human_size::human_size;
use pivot::sd::source::ModelSource;
use pivot::session::dirs::sessions_dir;
use pivot::session::export::export;
use pivot::session::manifest::ModelRef;
use pivot::session::store::{list, remove, Session};
use pivot::worker::Command;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// Create an empty session bound to a model.
    New {
        /// The session's name (letters, digits, `-`, `_`, `.`).
        name: String,
        /// The model every inversion and edit of the session uses (a diffusers folder, a hub id, or
        /// `tiny`); default: `model` in config.toml, else tiny.
        #[arg(long)]
        model: Option<String>,
    },
    /// The sessions in the data folder (PIVOT_DATA_DIR overrides it).
    List {
        /// One JSON array for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Items, prompts, inversions, edits and queued jobs of a session.
    Show {
        /// The session (`pivot session list` names them).
        name: String,
        /// One JSON document for scripts: the manifest (as session.toml holds it), the trash, the problems.
        #[arg(long)]
        json: bool,
    },
    /// Delete a session and everything in it, or only one of its items (`--item`) or edits
    /// (`--item --edit`), or only what its trash/ folder holds (`--trash`) (asks first; with no
    /// terminal to ask on, pass --yes).
    Rm {
        /// The session to delete from (refused while another pivot has it open).
        name: String,
        /// Only this item: its photo, inversion, reconstruction and edits.
        #[arg(long)]
        item: Option<String>,
        /// Only this edit of --item (of the only item without it), and its picture and mask.
        #[arg(long, conflicts_with = "trash")]
        edit: Option<String>,
        /// Only the files set aside under trash/ (old checkpoints of restarted inversions, files
        /// the session did not know); the session's work stays.
        #[arg(long, conflicts_with = "item")]
        trash: bool,
        /// Do not ask (needed when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// Copy a session's images, inversions, reconstructions and edits into a folder with a
    /// readable summary (to browse or share; to move a session itself, use import).
    Export {
        /// The session to export.
        name: String,
        /// A new or empty folder to copy into.
        dest: PathBuf,
    },
    /// Copy a session folder from elsewhere (another machine, a backup) into the data folder,
    /// after checking it is a session this pivot can read.
    Import {
        /// The session's folder (the one holding session.toml); it is only read.
        src: PathBuf,
        /// Its name here (default: the folder's name).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ResumeArgs {
    /// The session whose unfinished jobs to run.
    #[arg(long)]
    pub session: String,
    /// Throw away this item's inversion progress and invert it again from the start (repeatable).
    #[arg(long)]
    pub restart: Vec<String>,
    /// The session's model from another place (must be the same model): a diffusers folder, `org/name[@revision]` or `hub:org/name`.
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, help = device::DEVICE_HELP)]
    pub device: Option<String>,
    /// Restart a finished, undamaged inversion without asking.
    #[arg(long, short)]
    pub yes: bool,
}

/// A finished inversion whose file is whole costs a whole run to make again, and a newer
/// pivot's file is work this one cannot read, not damage: asked about first (on a terminal;
/// elsewhere `--yes`). Damaged or unfinished ones are restarted as asked.
fn confirm_restarts(s: &Session, a: &ResumeArgs) -> Result<()> {
    for id in &a.restart {
        let Some(r) = s.manifest.item(id).and_then(|i| i.inversion.as_ref()) else { continue };
        // Read once: the file is hashed in full.
        let problem = s.inversion_file_problem(id);
        let newer = problem.as_ref().is_some_and(|p| p.is_newer_format());
        let whole = r.file.is_some() && problem.is_none();
        let what = match (newer, r.is_done() && whole) {
            (true, _) => format!("an inversion ({}) whose file a newer pivot wrote (that pivot reads it)", r.settings()),
            (false, true) => format!("a finished inversion ({}) whose file is whole", r.settings()),
            (false, false) => continue,
        };
        if a.yes {
            continue;
        }
        if !std::io::stdin().is_terminal() {
            bail!("item `{id}` of session `{}` has {what}; nothing was restarted: pass --yes to invert it again anyway", a.session);
        }
        eprint!("item `{id}` has {what}; invert it again from the start? [y/N] ");
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer)? == 0 {
            eprintln!();
        }
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("nothing was restarted (item `{id}` keeps its inversion)");
        }
    }
    Ok(())
}

pub fn run(cmd: &SessionCommand) -> Result<()> {
    let root = sessions_dir()?;
    match cmd {
        SessionCommand::New { name, model } => {
            // A taken or bad name first: a note about the model would bury the real error.
            pivot::session::names::check_name("session name", name)?;
            if Session::exists(&root, name) {
                return Err(Session::taken(&root, name));
            }
            let source = super::device::chosen_model(model.as_deref())?;
            if let ModelSource::Dir(dir) = &source {
                // Found wanting now, not at the first inversion.
                pivot::sd::source::ModelFiles::discover(dir)?;
            }
            let s = Session::create(&root, name, ModelRef { source: source.describe(), hash: String::new() })?;
            println!("created session `{name}` in {}", s.dir.display());
        }
        SessionCommand::List { json } => {
            tidy(&root);
            let all = list(&root)?;
            if *json {
                return super::session_json::list(&root, &all);
            }
            if all.is_empty() {
                // On stderr: a script reading the list on stdout gets no lines, not a sentence.
                eprintln!("no sessions in {} yet (`pivot invert PHOTO --prompt … --session NAME` makes one)", root.display());
            }
            for s in all {
                match &s.error {
                    // A folder renamed by hand: `show` could not open it under that name either.
                    Some(e) if pivot::session::names::check_name("session name", &s.name).is_err() => println!("{:<24} cannot be opened: {e}", s.name),
                    // One line per session: the first line of the error, the rest with `show`.
                    Some(e) => println!("{:<24} cannot be opened: {} (`pivot session show {}` says more)", s.name, first_clause(e), s.name),
                    None => {
                        // What was set aside (old checkpoints, stray files) is there to be deleted.
                        let (files, bytes) = pivot::session::gc::trash_size_in(&root.join(&s.name));
                        let trash = if files > 0 { format!("  trash {}", human_size(bytes)) } else { String::new() };
                        let open = pivot::session::lock::held_elsewhere(&root.join(&s.name)).map(|pid| format!("  open in pivot{pid}")).unwrap_or_default();
                        println!("{:<24} {:>3} item(s)  model {}{trash}{open}", s.name, s.items, s.model);
                    }
                }
            }
        }
        SessionCommand::Show { name, json: true } => match Session::open_read_only(&root, name) {
            Ok(s) => super::session_json::show(&s)?,
            // A script reading stdout learns why too (the exit status is still 1).
            Err(e) => {
                super::session_json::unreadable(name, &e)?;
                return Err(e);
            }
        },
        SessionCommand::Show { name, .. } => super::session_show::show(&Session::open_read_only(&root, name)?),
        SessionCommand::Rm { name, item: Some(item), edit, yes, .. } => super::session_rm::remove_part(&root, name, item, edit.as_deref(), *yes)?,
        // An edit without --item: of the session's only item (never the whole session).
        SessionCommand::Rm { name, item: None, edit: Some(edit), yes, .. } => super::session_rm::remove_part(&root, name, &super::session_rm::only_item(&root, name)?, Some(edit), *yes)?,
        SessionCommand::Rm { name, trash: true, yes, .. } => super::session_rm::empty_trash(&root, name, *yes)?,
        SessionCommand::Rm { name, yes, .. } => {
            tidy(&root);
            // Only a session holds work to ask about; `remove` refuses other folders and clears
            // an interrupted creation (nothing in it) without asking.
            if !yes && Session::exists(&root, name) {
                if !std::io::stdin().is_terminal() {
                    bail!("session `{name}` ({}) was not removed: there is no terminal to ask on, so pass --yes to delete it (`pivot session rm {name} --yes`)", root.join(name).display());
                }
                if !confirm_removal(&root, name)? {
                    println!("session `{name}` kept");
                    return Ok(());
                }
            }
            remove(&root, name)?;
            if let Ok(state) = pivot::session::dirs::state_dir() {
                pivot::tui::spot::forget(&state, name);
            }
            println!("removed session `{name}`");
        }
        SessionCommand::Export { name, dest } => {
            let s = Session::open_read_only(&root, name)?;
            if real_path(dest).starts_with(real_path(&root)) {
                bail!("{} is inside the sessions folder {}: an export is a plain folder, not a session — export elsewhere (to move a session, `pivot session import` its folder)", dest.display(), root.display());
            }
            let written = export(&s, dest)?;
            let files = if written.len() == 1 { "file" } else { "files" };
            println!("exported session `{name}` to {} ({} {files})", dest.display(), written.len());
            for p in s.file_problems() {
                eprintln!("warning: not exported: {p}");
            }
            for p in s.damaged_inversions() {
                eprintln!("warning: exported as it is: {p}");
            }
            for it in &s.manifest.items {
                if let Some(r) = it.inversion.as_ref().filter(|r| !r.is_done() && r.file.is_some()) {
                    eprintln!("warning: item {}'s inversion is unfinished ({} of {} steps): its exported file cannot be edited; `pivot resume --session {name}` finishes it here, then export again", it.id, r.completed_steps, r.steps);
                }
            }
        }
        SessionCommand::Import { src, name } => {
            tidy(&root);
            pivot::signals::install();
            let stopped = || pivot::signals::received().is_some();
            let s = pivot::session::import::import(&root, src, name.as_deref(), &stopped).map_err(|e| match stopped() {
                true => pivot::signals::Interrupted::now(format!("nothing was imported; {} is unchanged", src.display())).into(),
                false => e,
            })?;
            if let Some(n) = s.collected.notice(&s) {
                eprintln!("warning: {n} (the folder imported from is unchanged)");
            }
            let m = &s.manifest;
            println!("imported session `{}` into {} ({} item(s), model {})", m.name, s.dir.display(), m.items.len(), m.model.source);
            // A model folder from the other machine: found by ModelSource::parse only if it is here too.
            if ModelSource::parse_recorded(&m.model.source).is_err() {
                eprintln!("warning: its model `{}` is not on this machine: pass --model with its place here once (`pivot resume`, `pivot edit` or the dashboard); the session remembers it", m.model.source);
            }
            for p in s.problems() {
                eprintln!("warning: {p}");
            }
            for p in s.damaged_inversions() {
                eprintln!("warning: {p}{}", s.inversion_way_out(&p));
            }
        }
    }
    Ok(())
}

/// The first line of an error, without a parenthesis it leaves open there.
fn first_clause(e: &str) -> &str {
    let line = e.lines().next().unwrap_or_default();
    match (line.rfind('('), line.rfind(')')) {
        (Some(open), close) if close.is_none_or(|c| c < open) => line[..open].trim_end(),
        _ => line,
    }
}

/// Finish what killed pivot processes left in the sessions folder (a removal, an import), saying so.
fn tidy(root: &std::path::Path) {
    for note in pivot::session::leftovers::collect(root) {
        eprintln!("note: {note}");
    }
}

/// Ask on the terminal before a session's work is deleted for good.
fn confirm_removal(root: &std::path::Path, name: &str) -> Result<bool> {
    // A damaged session can be removed too: say what is known of it.
    let what = match Session::open_read_only(root, name) {
        Ok(s) => {
            let edits: usize = s.manifest.items.iter().map(|i| i.edits.len()).sum();
            format!("{} item(s), {edits} edit(s), their inversions and results", s.manifest.items.len())
        }
        Err(e) => format!("all its files (its manifest cannot be read: {})", format!("{e:#}").lines().next().unwrap_or_default()),
    };
    eprint!("delete session `{name}` for good: {what}? [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer)? == 0 {
        eprintln!(); // end of input (Ctrl-D): the answer's line was never ended
    }
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `path` with symbolic links and `..` resolved, for the part of it that exists (an export's
/// destination usually does not yet).
fn real_path(path: &std::path::Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing = Vec::new();
    let mut existing = abs.as_path();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut real = std::fs::canonicalize(existing).unwrap_or_else(|_| existing.to_path_buf());
    real.extend(missing.iter().rev());
    real
}

pub fn resume(a: &ResumeArgs) -> Result<()> {
    pivot::signals::install();
    // An item named twice (`--restart cat --restart cat`) is restarted once.
    let mut a = a.clone();
    let mut seen = std::collections::HashSet::new();
    a.restart.retain(|id| seen.insert(id.clone()));
    let a = &a;
    let root = sessions_dir()?;
    let (nothing, file_problems, empty) = {
        let mut s = Session::open(&root, &a.session)?;
        if let Some(n) = s.collected.notice(&s) {
            eprintln!("warning: {n}");
        }
        for line in s.requeue_lost_outputs()? {
            eprintln!("{line}");
        }
        // The worker names the files with problems when it starts; they are printed here only
        // when it does not.
        for p in s.queue_problems() {
            eprintln!("warning: {p}");
        }
        // Every item is checked before any inversion is thrown away (a typo or a lost photo must
        // cost nothing).
        for id in &a.restart {
            s.check_restart(id)?;
        }
        confirm_restarts(&s, a)?;
        for id in &a.restart {
            eprintln!("{}", s.restart(id)?);
        }
        // Cancelled jobs are off the queue but not done; resuming the session finishes them too.
        let cancelled = s.manifest.unqueued_work();
        if !cancelled.is_empty() {
            eprintln!("back on the queue: {}", cancelled.iter().map(drive::describe).collect::<Vec<_>>().join(", "));
            cancelled.into_iter().for_each(|j| s.manifest.enqueue(j));
            s.commit()?;
        }
        let empty = s.manifest.items.is_empty();
        let nothing = s.manifest.queue.is_empty();
        // With nothing to run, the worker never opens the files: a damaged inversion is named here.
        let mut problems = s.file_problems();
        if nothing {
            problems.extend(s.damaged_inversions());
        }
        (nothing, problems, empty)
    };
    // Problems left with nothing to run need a hand: a script (cron) hears it from the exit code.
    let nothing_left = || match (empty, file_problems.is_empty()) {
        (true, _) => {
            println!("nothing to resume in session `{0}`: it has no photos yet (`pivot invert PHOTO --prompt \"…\" --session {0}` adds one)", a.session);
            Ok(())
        }
        (false, true) => {
            println!("nothing to resume in session `{}`: every job is finished", a.session);
            Ok(())
        }
        (false, false) => Err(anyhow::anyhow!("nothing to resume in session `{0}`, but the problems above need a hand (`pivot session show {0}` says what to do)", a.session)),
    };
    if nothing && a.model.is_none() {
        file_problems.iter().for_each(|p| eprintln!("warning: {p}"));
        return nothing_left();
    }
    let handle = drive::start(&a.session, None, a.model.as_deref(), a.device.as_deref())?;
    if nothing {
        // A --model given is checked even with nothing to run: it is the session's model (a
        // moved one is remembered, and said), or the user hears now.
        let checked = drive::load_model(&handle);
        handle.shutdown();
        checked?;
        return nothing_left();
    }
    let report = drive::run(&handle, &a.session, Command::RunQueue)?;
    handle.shutdown();
    println!("session `{}`: {} job(s) finished", a.session, report.done.len());
    // What still needs a hand is said last, where it is read, and in the exit status.
    let left = Session::open_read_only(&root, &a.session).map(|s| [s.file_problems(), s.damaged_inversions()].concat()).unwrap_or_default();
    left.iter().for_each(|p| eprintln!("warning: {p}"));
    anyhow::ensure!(left.is_empty(), "session `{0}`: the problems above need a hand (`pivot session show {0}` says what to do)", a.session);
    Ok(())
}
