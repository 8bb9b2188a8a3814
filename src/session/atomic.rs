//! Crash-safe writes: temp file in the same folder, fsync, rename, fsync the folder.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replace `path` with `bytes` so that a crash leaves either the old or the new file, never a mix.
/// A symbolic link is written through: the file it points at gets the bytes and the link stays.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = through_links(path);
    let path = target.as_path();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| {
        let full = e.downcast_ref::<std::io::Error>().is_some_and(|io| matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded));
        // The rename never happened: what was there before is whole.
        let why = match (full, path.exists()) {
            (true, true) => ": the disk is full — make room, then try again (the last saved version is unchanged)",
            (true, false) => ": the disk is full — make room, then try again",
            _ => "",
        };
        e.context(format!("cannot write {}{why}", path.display()))
    })
}

/// Where `path` leads once every symbolic link on its last component is followed (the target need
/// not exist yet). A loop of links stops after a bounded number of steps, leaving the last name.
pub fn through_links(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        let Ok(meta) = std::fs::symlink_metadata(&at) else { break };
        if !meta.file_type().is_symlink() {
            break;
        }
        let Ok(next) = std::fs::read_link(&at) else { break };
        at = match at.parent() {
            Some(parent) if next.is_relative() => parent.join(next),
            _ => next,
        };
    }
    at
}

/// Make a folder's entries (files created or renamed in it) durable; best effort, as some file
/// systems cannot sync a folder.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_link_is_written_through_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("sub").join("real.png");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink("sub/real.png", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A dangling link creates its target.
        let dangling = dir.path().join("dangling.png");
        std::os::unix::fs::symlink(dir.path().join("made.png"), &dangling).unwrap();
        write_atomic(&dangling, b"made").unwrap();
        assert_eq!(std::fs::read(dir.path().join("made.png")).unwrap(), b"made");
        // A plain file is replaced as before.
        write_atomic(&real, b"again").unwrap();
        assert_eq!(std::fs::read(&link).unwrap(), b"again");
    }
}
