//! Where pivot keeps its files: the platform's data/config/state folders, each overridable by
//! an environment variable (tests and portable installs set `PIVOT_DATA_DIR` and friends).

use anyhow::{bail, Context, Result};
use directories::ProjectDirs;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The override if set and non-empty, else the platform default.
fn chosen(over: Option<OsString>, default: impl FnOnce() -> Result<PathBuf>) -> Result<PathBuf> {
    match over {
        Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
        _ => default(),
    }
}

fn project_dirs() -> Result<ProjectDirs> {
    ProjectDirs::from("", "", "pivot").context(
        "cannot find your home directory to keep pivot's files in: set HOME, or set PIVOT_DATA_DIR (and PIVOT_CONFIG_DIR) to a folder",
    )
}

/// Sessions and other data (`$PIVOT_DATA_DIR`, else e.g. `~/.local/share/pivot`).
pub fn data_dir() -> Result<PathBuf> {
    chosen(std::env::var_os("PIVOT_DATA_DIR"), || Ok(project_dirs()?.data_dir().to_path_buf()))
}

/// Settings (`$PIVOT_CONFIG_DIR`, else e.g. `~/.config/pivot`).
pub fn config_dir() -> Result<PathBuf> {
    chosen(std::env::var_os("PIVOT_CONFIG_DIR"), || Ok(project_dirs()?.config_dir().to_path_buf()))
}

/// Log files (`$PIVOT_STATE_DIR`, else the platform state folder, else `<data_dir>/state` where
/// the platform has none).
pub fn state_dir() -> Result<PathBuf> {
    chosen(std::env::var_os("PIVOT_STATE_DIR"), || {
        if let Some(p) = project_dirs().ok().as_ref().and_then(|d| d.state_dir()) {
            return Ok(p.to_path_buf());
        }
        Ok(data_dir()?.join("state"))
    })
}

/// Where sessions live: `<data_dir>/sessions`. Refused at once when a file stands where a folder
/// of that path should be (found otherwise only at the first write, after work has begun).
pub fn sessions_dir() -> Result<PathBuf> {
    let dir = data_dir()?.join("sessions");
    if let Some(problem) = blocked_by_file(&dir) {
        bail!("{problem}{}", env_note(&dir));
    }
    Ok(dir)
}

/// Create the sessions folder `root` if it is not there yet.
pub fn make_sessions_dir(root: &Path) -> Result<()> {
    std::fs::create_dir_all(root).with_context(|| format!("cannot create the sessions folder {}{}", root.display(), env_note(root)))
}

/// What stops `dir` from being a folder: the nearest part of it that exists, when that is no folder.
fn blocked_by_file(dir: &Path) -> Option<String> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    (!existing.is_dir()).then(|| format!("{} is a file, not a folder, so pivot cannot keep its sessions in {}", existing.display(), dir.display()))
}

/// For messages about a path the user did not type: where it came from, when that was
/// `PIVOT_DATA_DIR`, and what to do about it then.
pub fn env_note(path: &Path) -> String {
    match std::env::var_os("PIVOT_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(v) if path.starts_with(&v) => format!(" (the folder comes from PIVOT_DATA_DIR={}: set it to a folder you can write to, or unset it)", Path::new(&v).display()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The env-reading functions are thin wrappers over `chosen`; testing it avoids mutating the
    // process environment while other tests run.
    #[test]
    fn an_override_wins_unless_empty() {
        let default = || Ok(PathBuf::from("/default"));
        assert_eq!(chosen(Some("/tmp/p".into()), default).unwrap(), PathBuf::from("/tmp/p"));
        assert_eq!(chosen(Some("".into()), default).unwrap(), PathBuf::from("/default"));
        assert_eq!(chosen(None, default).unwrap(), PathBuf::from("/default"));
    }

    #[test]
    fn a_file_in_the_way_of_the_sessions_folder_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("data");
        std::fs::write(&file, "x").unwrap();
        let e = blocked_by_file(&file.join("sessions")).unwrap();
        assert!(e.starts_with(&format!("{} is a file, not a folder", file.display())), "{e}");
        assert_eq!(blocked_by_file(&tmp.path().join("new/sessions")), None);
        assert_eq!(blocked_by_file(tmp.path()), None);
    }

    #[test]
    fn sessions_live_under_the_data_dir() {
        if let (Ok(data), Ok(sessions)) = (data_dir(), sessions_dir()) {
            assert_eq!(sessions, data.join("sessions"));
        }
    }
}
