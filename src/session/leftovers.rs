//! Hidden folders a killed pivot leaves in the sessions folder: a session being removed (renamed
//! aside first, so that a half-deleted folder is never taken for a session) and a session being
//! imported (copied under a staging name). Each name carries the pid of the process at work; once
//! that process is gone, nobody will finish the job, so the folder is deleted.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

const REMOVING: &str = ".removing-";
const IMPORTING: &str = ".import-";
const STAGING_PID: &str = ".tmp-";

/// Where `remove` moves session `name` before deleting it: free at once for a new session, and
/// hidden from `list` (names pivot gives sessions never start with '.').
pub(crate) fn removing_dir(root: &Path, name: &str) -> PathBuf {
    let base = format!("{REMOVING}{name}-{}", std::process::id());
    let mut dir = root.join(&base);
    // Taken only when this process removed a same-named session before and could not finish.
    let mut n = 0;
    while dir.symlink_metadata().is_ok() {
        n += 1;
        dir = root.join(format!("{base}.{n}"));
    }
    dir
}

/// Where `import` copies session `name` before renaming it into place.
pub(crate) fn staging_dir(root: &Path, name: &str) -> PathBuf {
    root.join(format!("{IMPORTING}{name}{STAGING_PID}{}", std::process::id()))
}

/// The pid in a leftover's name and what the folder was for, if it is one of ours.
fn leftover(file_name: &str) -> Option<(u32, &'static str)> {
    if let Some(rest) = file_name.strip_prefix(REMOVING) {
        // `<name>-<pid>` or `<name>-<pid>.<n>`; a name may hold '-' but the pid part cannot.
        let (_, tail) = rest.rsplit_once('-')?;
        let (pid, n) = tail.split_once('.').unwrap_or((tail, "0"));
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some((pid.parse().ok()?, "an interrupted `pivot session rm`"));
    }
    let rest = file_name.strip_prefix(IMPORTING)?;
    let (_, pid) = rest.rsplit_once(STAGING_PID)?;
    Some((pid.parse().ok()?, "an interrupted `pivot session import`"))
}

/// Whether process `pid` still runs (a process of another user counts; so does any doubt).
pub fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
        // Signal 0 only asks whether the process exists.
        if unsafe { libc::kill(pid, 0) } == 0 {
            return true;
        }
        std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Delete the leftovers of dead pivot processes under `root`; one line for the user per folder
/// (removed, or why it could not be). A missing or unreadable root has none to tidy.
pub fn collect(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut notes = Vec::new();
    for entry in entries.flatten() {
        let Ok(file_name) = entry.file_name().into_string() else { continue };
        let Some((pid, what)) = leftover(&file_name) else { continue };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || alive(pid) {
            continue;
        }
        let path = entry.path();
        notes.push(match delete(&path) {
            Ok(()) => format!("removed {} (left by {what} whose process {pid} is gone)", path.display()),
            Err(e) => format!("{e:#}"),
        });
    }
    notes.sort();
    notes
}

/// Delete a folder that is no session any more; the message says it is safe to do by hand.
pub(crate) fn delete(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| {
            format!("cannot delete all of {}: it is no longer a session, only files pivot no longer needs — delete it by hand (pivot tries again at the next `pivot session list` or dashboard start)", dir.display())
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Above any pid Linux hands out (pid_max is at most 2^22).
    const DEAD: u32 = 999_999_999;

    #[test]
    fn names_carry_the_pid_and_only_ours_are_recognised() {
        let root = Path::new("/s");
        let me = std::process::id();
        assert_eq!(leftover(&name_of(&removing_dir(root, "a-b.c"))).map(|l| l.0), Some(me));
        assert_eq!(leftover(&name_of(&staging_dir(root, "a-b.tmp-c"))).map(|l| l.0), Some(me));
        assert_eq!(leftover(".removing-kitchen-12.3").map(|l| l.0), Some(12));
        for other in ["kitchen", ".hidden", ".removing-x", ".removing-x-y", ".removing-x-12.bak", ".removing-x-12.", ".import-x", ".import-x.tmp-", ".import-x.tmp-1a"] {
            assert_eq!(leftover(other), None, "{other}");
        }
        assert!(alive(me) && !alive(DEAD));
    }

    #[test]
    fn only_leftovers_of_gone_processes_are_deleted() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let make = |n: &str| {
            std::fs::create_dir_all(r.join(n).join("inversions")).unwrap();
            std::fs::write(r.join(n).join("inversions/x.safetensors"), b"x").unwrap();
        };
        let dead = [format!(".removing-trip-{DEAD}"), format!(".import-trip.tmp-{DEAD}")];
        let kept = [name_of(&removing_dir(r, "live")), name_of(&staging_dir(r, "live")), "trip".into(), ".removing-notes".into()];
        dead.iter().chain(&kept).for_each(|n| make(n));
        std::fs::write(r.join(format!(".import-file.tmp-{DEAD}")), b"not a folder: not ours").unwrap();
        let notes = collect(r);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains(&dead[1]) && notes[0].contains("interrupted `pivot session import`") && notes[0].contains("is gone"), "{notes:?}");
        assert!(notes[1].contains(&dead[0]) && notes[1].contains("interrupted `pivot session rm`"), "{notes:?}");
        assert!(dead.iter().all(|n| !r.join(n).exists()));
        assert!(kept.iter().all(|n| r.join(n).join("inversions/x.safetensors").exists()));
        assert!(r.join(format!(".import-file.tmp-{DEAD}")).exists());
        assert!(collect(&r.join("missing")).is_empty());
    }

    fn name_of(p: &Path) -> String {
        p.file_name().unwrap().to_string_lossy().into_owned()
    }
}
