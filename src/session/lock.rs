//! One pivot process per session: an advisory lock (`flock`) on `<session>/.lock`.
//! The kernel drops the lock when the holder's file is closed — on exit, crash or SIGKILL — so a
//! dead holder never blocks anyone. The pid written into the file is for the message only.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = ".lock";

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
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                // The holder may not have written its pid yet.
                let pid = text.trim().parse::<u32>().map(|p| format!(" (pid {p})")).unwrap_or_default();
                bail!("session `{name}` is open in another pivot process{pid}: close it there first");
            }
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
        assert_eq!(e, format!("session `trip` is open in another pivot process (pid {me}): close it there first"));
        assert_eq!(std::fs::read_to_string(first.path()).unwrap().trim(), me.to_string());
        drop(first);
        SessionLock::acquire(dir.path(), "trip").unwrap();
    }

    #[test]
    fn another_pid_is_named_in_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let held = SessionLock::acquire(dir.path(), "trip").unwrap();
        // Pretend a different process wrote its pid.
        std::fs::write(held.path(), "4242\n").unwrap();
        let e = SessionLock::acquire(dir.path(), "trip").unwrap_err().to_string();
        assert!(e.contains("another pivot process (pid 4242)"), "{e}");
    }
}
