//! Where pivot keeps its files: the platform's data/config/state folders, each overridable by
//! an environment variable (tests and portable installs set `PIVOT_DATA_DIR` and friends).

use anyhow::{Context, Result};
use directories::ProjectDirs;
use std::ffi::OsString;
use std::path::PathBuf;

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

/// Where sessions live: `<data_dir>/sessions`.
pub fn sessions_dir() -> Result<PathBuf> {
    Ok(data_dir()?.join("sessions"))
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
    fn sessions_live_under_the_data_dir() {
        if let (Ok(data), Ok(sessions)) = (data_dir(), sessions_dir()) {
            assert_eq!(sessions, data.join("sessions"));
        }
    }
}
