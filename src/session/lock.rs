//! One pivot process per session: an advisory lock (`flock`) on `<session>/.lock`.
//! The kernel drops the lock when the holder's file is closed — on exit, crash or SIGKILL — so a
//! dead holder never blocks anyone. The pid written into the file is for the message only.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = ".lock";

/// How the other process lets go: it may be a dashboard or a command-line run.
const CLOSE_HOW: &str = " (quit that dashboard, or let that run end: Ctrl-C there stops it at a checkpoint that `pivot resume` continues)";

/// Holds a session's lock until dropped.
#[derive(Debug)]
pub struct SessionLock {
    /// Closing this file releases the lock.
    file: File,
    path: PathBuf,
}

impl SessionLock {
    /// Lock session `name` in folder `dir`, or say who holds it.
    pub fn acquire(dir: &Path, name: &str) -> Result<SessionLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                let hint = match e.kind() {
                    std::io::ErrorKind::IsADirectory => format!(": it is a folder, where session `{name}` keeps its lock file; move the folder elsewhere (pivot never put anything there)"),
                    std::io::ErrorKind::PermissionDenied => format!(": the session `{name}` cannot be changed by this user (`pivot session show` and `export` still read it)"),
                    std::io::ErrorKind::ReadOnlyFilesystem => format!(
                        ": session `{name}` lies on a read-only file system, so pivot cannot change it (`pivot session show` and `export` still read it; `pivot session import` copies it into a writable sessions folder)"
                    ),
                    _ => String::new(),
                };
                anyhow::Error::new(e).context(format!("cannot open the lock file {}{hint}", path.display()))
            })?;
        // std's try_lock is flock(LOCK_EX | LOCK_NB) on Unix: per open file, so a second open in
        // this same process is refused too.
        match file.try_lock() {
            Ok(()) => {}
            // Readers share the lock: only `session import` copying the folder takes it so.
            Err(TryLockError::WouldBlock) if file.try_lock_shared().is_ok() => bail!("session `{name}` is being copied by `pivot session import` in another process: try again when the copy is done"),
            Err(TryLockError::WouldBlock) => bail!("session `{name}` is open in another pivot process{}: close it there first{CLOSE_HOW}", holder(&mut file)),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {} (does this filesystem support file locks?)", path.display()));
            }
        }
        let note_pid = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.seek(SeekFrom::Start(0))?;
            writeln!(f, "{}", std::process::id())
        };
        // The pid only improves the message another process shows; failing to write it is harmless.
        let _ = note_pid(&mut file);
        Ok(SessionLock { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the lock file at its path is still the one this lock holds: false once the
    /// session's folder was moved, renamed or deleted (writes there would start a second,
    /// unlocked session in the old place).
    pub fn still_in_place(&self) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let (Ok(held), Ok(there)) = (self.file.metadata(), std::fs::metadata(&self.path)) else { return false };
            held.dev() == there.dev() && held.ino() == there.ino()
        }
        #[cfg(not(unix))]
        {
            self.path.is_file()
        }
    }
}

/// " (pid N)" from a held lock file; the holder may not have written its pid yet.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text.trim().parse::<u32>().map(|p| format!(" (pid {p})")).unwrap_or_default()
}

/// A shared lock on a session folder that is read while nobody may change it (`session import`
/// copying it); `None` when the folder has no lock file or cannot lock (read-only media, where
/// no pivot can be writing either).
pub fn hold_for_reading(dir: &Path) -> Result<Option<File>> {
    let Ok(mut file) = File::open(dir.join(LOCK_FILE)) else { return Ok(None) };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => bail!("{} is open in another pivot process{}: a copy now could miss the files it is writing; close it there (or let its job finish), then import", dir.display(), holder(&mut file)),
        Err(TryLockError::Error(_)) => Ok(None),
    }
}

/// `Some(" (pid N)")` (or `Some("")` before the holder wrote its pid) while another process holds
/// the session in `dir` open; `None` when nobody does or it cannot be told (no lock file, no locks).
pub fn held_elsewhere(dir: &Path) -> Option<String> {
    let mut file = File::open(dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => Some(holder(&mut file)),
        _ => None,
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        // Closing the file would release it anyway; unlocking first makes the order explicit.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = SessionLock::acquire(dir.path(), "trip").unwrap();
        let e = SessionLock::acquire(dir.path(), "trip").unwrap_err().to_string();
        let me = std::process::id();
        assert_eq!(e, format!("session `trip` is open in another pivot process (pid {me}): close it there first{CLOSE_HOW}"));
        assert_eq!(std::fs::read_to_string(first.path()).unwrap().trim(), me.to_string());
        drop(first);
        SessionLock::acquire(dir.path(), "trip").unwrap();
    }

    #[test]
    fn a_session_in_use_cannot_be_held_for_reading() {
        let dir = tempfile::tempdir().unwrap();
        assert!(hold_for_reading(dir.path()).unwrap().is_none(), "no lock file: nothing to hold");
        let held = SessionLock::acquire(dir.path(), "trip").unwrap();
        let e = hold_for_reading(dir.path()).unwrap_err().to_string();
        assert!(e.contains("open in another pivot process") && e.contains("then import"), "{e}");
        drop(held);
        let reading = hold_for_reading(dir.path()).unwrap();
        assert!(reading.is_some());
        let e = SessionLock::acquire(dir.path(), "trip").unwrap_err().to_string();
        assert!(e.contains("being copied by `pivot session import`"), "a writer waits for the copy: {e}");
    }

    #[test]
    fn a_moved_folder_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("trip");
        std::fs::create_dir(&session).unwrap();
        let held = SessionLock::acquire(&session, "trip").unwrap();
        assert!(held.still_in_place());
        std::fs::rename(&session, dir.path().join("trip-moved")).unwrap();
        assert!(!held.still_in_place());
        std::fs::create_dir(&session).unwrap();
        std::fs::write(session.join(LOCK_FILE), "1\n").unwrap();
        assert!(!held.still_in_place(), "a new folder in the old place is not the session");
    }

    #[test]
    fn another_pid_is_named_in_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let held = SessionLock::acquire(dir.path(), "trip").unwrap();
        // Pretend a different process wrote its pid.
        std::fs::write(held.path(), "4242\n").unwrap();
        let e = SessionLock::acquire(dir.path(), "trip").unwrap_err().to_string();
        assert!(e.contains("another pivot process (pid 4242)"), "{e}");
        assert_eq!(held_elsewhere(dir.path()).as_deref(), Some(" (pid 4242)"));
        drop(held);
        assert_eq!(held_elsewhere(dir.path()), None, "a released lock is nobody's");
        assert_eq!(held_elsewhere(tempfile::tempdir().unwrap().path()), None, "no lock file, nobody");
    }
}
