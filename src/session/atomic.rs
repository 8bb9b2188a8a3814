//! Crash-safe writes: temp file in the same folder, fsync, rename, fsync the folder.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Replace `path` with `bytes` so that a crash leaves either the old or the new file, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
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

/// Make a folder's entries (files created or renamed in it) durable; best effort, as some file
/// systems cannot sync a folder.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
