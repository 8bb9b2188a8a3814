//! Files pivot reads whole: a named pipe or a device would block the read or never end, and a
//! folder gives the OS's bare "Is a directory"; both are refused by their kind first.

use anyhow::{bail, Result};
use std::path::Path;

/// Refuse `path` (`what` it should be: "a photo", "an inversion file") unless it is a regular
/// file; a missing or unreadable one is left to the read, which says why.
pub fn check(path: &Path, what: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => bail!("{} is a folder: name {what} in it", path.display()),
        Ok(m) if !m.is_file() => bail!("{} is not a regular file (a pipe, socket or device): save {what} to a file and name that", path.display()),
        _ => Ok(()),
    }
}

/// Refuse an output `path` that exists and is neither a regular file nor a folder (a named
/// pipe or a device): writing would replace it with a file.
pub fn check_output(path: &Path, flag: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => bail!("{flag} {} is a pipe, socket or device, not a file: name a file", path.display()),
        _ => Ok(()),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn pipes_and_folders_are_refused_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.safetensors");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(check(&fifo, "an inversion file").unwrap_err().to_string().contains("save an inversion file to a file"));
        assert!(check_output(&fifo, "--out").unwrap_err().to_string().contains("--out"));
        assert!(check(dir.path(), "a photo").unwrap_err().to_string().contains("is a folder: name a photo in it"));
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(check(&file, "a photo").is_ok() && check_output(&file, "--out").is_ok() && check(&dir.path().join("none"), "a photo").is_ok());
    }
}
