//! The sessions folder as a whole: listing its sessions and removing one.
//! (Re-exported from `store`, where callers look for them.)

use super::leftovers::{delete, removing_dir};
use super::lock::SessionLock;
use super::migrate::parse_manifest;
use super::names::check_name;
use super::store::{is_interrupted_create, no_manifest_note, MANIFEST_FILE};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::SystemTime;

/// One line of `pivot session list`.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionSummary {
    pub name: String,
    pub items: usize,
    /// The model's source as the user named it.
    pub model: String,
    /// When the manifest was last committed.
    pub modified: Option<SystemTime>,
    /// Why the session cannot be opened (unreadable, corrupt or newer manifest), if it cannot.
    pub error: Option<String>,
}

fn summarise(dir: &Path, name: String) -> SessionSummary {
    let manifest_path = dir.join(MANIFEST_FILE);
    let mut summary = SessionSummary { name, items: 0, model: String::new(), modified: None, error: None };
    summary.modified = std::fs::metadata(&manifest_path).and_then(|m| m.modified()).ok();
    let parsed = std::fs::read(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))
        .and_then(|bytes| String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", manifest_path.display())))
        .and_then(|text| parse_manifest(&text, &manifest_path));
    match parsed {
        Ok(m) => {
            summary.items = m.items.len();
            summary.model = m.model.source;
        }
        // Nothing was ever committed there: say so rather than that a file is unreadable.
        Err(_) if !manifest_path.exists() && is_interrupted_create(dir).unwrap_or(false) => summary.error = Some(interrupted_create_note(dir, &summary.name)),
        Err(_) if !manifest_path.exists() => summary.error = Some(no_manifest_note(dir)),
        Err(e) => summary.error = Some(format!("{e:#}")),
    }
    summary
}

/// What a folder left by an interrupted `Session::create` is, for `list` and `open`.
pub(crate) fn interrupted_create_note(dir: &Path, name: &str) -> String {
    format!(
        "{} holds no session: its creation was interrupted before {MANIFEST_FILE} was written, so there is nothing in it to lose (`pivot session rm {name}` removes it; `pivot session new {name}` makes the session afresh)",
        dir.display()
    )
}

/// Every session folder under `root`, sorted by name; one whose manifest cannot be read is listed
/// with `error` set. Takes no locks and changes nothing. A missing root is an empty list.
pub fn list(root: &Path) -> Result<Vec<SessionSummary>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read the sessions folder {}", root.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read the sessions folder {}", root.display()))?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        // Only folders with names pivot could have made (skips hidden folders and stray files)...
        if !entry.path().is_dir() || name.starts_with('.') {
            continue;
        }
        if let Err(e) = check_name("session name", &name) {
            // ...but a session renamed by hand is listed, with the way back to it.
            if entry.path().join(MANIFEST_FILE).is_file() {
                let error = Some(format!("{e:#}; rename the folder {} to open it", entry.path().display()));
                out.push(SessionSummary { name, items: 0, model: String::new(), modified: None, error });
            }
            continue;
        }
        out.push(summarise(&entry.path(), name));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Delete session `name` and all its files. Refused while another process has it open.
///
/// The folder is first renamed aside in one step (a hidden `.removing-…` name): whatever stops the
/// deletion halfway leaves no folder that looks like a broken session, the name is free at once,
/// and `leftovers::collect` finishes the job later.
pub fn remove(root: &Path, name: &str) -> Result<()> {
    check_name("session name", name)?;
    let dir = root.join(name);
    if !dir.is_dir() {
        bail!("no session `{name}` in {} (pivot session list shows them)", root.display());
    }
    // Never delete a folder pivot did not make.
    if !dir.join(MANIFEST_FILE).exists() && !is_interrupted_create(&dir)? {
        bail!("{} has no {MANIFEST_FILE}, so it is not a pivot session: pivot leaves it alone (remove it yourself if you mean to)", dir.display());
    }
    // Held until the files are gone, so that nobody opens the session halfway through.
    let _lock = SessionLock::acquire(&dir, name)?;
    // Files in a folder this user cannot write would stay behind under a hidden name: refused first.
    if let Some(fixed) = unwritable_folder(&dir) {
        bail!("{} cannot be read or changed by this user, so the files in it could not be deleted: nothing was deleted (`chmod -R u+rwX {}` first, if the session is yours to remove)", fixed.display(), dir.display());
    }
    let aside = removing_dir(root, name);
    std::fs::rename(&dir, &aside).with_context(|| format!("cannot move {} aside to delete it: nothing was deleted", dir.display()))?;
    // The rename must outlive a power cut, or the half-deleted folder could come back under its name.
    super::atomic::sync_dir(root);
    delete(&aside).with_context(|| format!("session `{name}` is removed (its name is free again), but not all of its files could be deleted"))
}

/// The first folder under `dir` (itself included) whose entries this user may not remove.
fn unwritable_folder(dir: &Path) -> Option<std::path::PathBuf> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    // Its entries must be listed too, or the folders inside could not be emptied.
    if unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK | libc::X_OK) } != 0 {
        return Some(dir.to_path_buf());
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Some(dir.to_path_buf()) };
    // Links are not followed: deleting one removes the link only.
    entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).find_map(|e| unwritable_folder(&e.path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::store::Session;
    use crate::session::testing::{model, session_with_cat};

    #[test]
    fn list_shows_sessions_and_flags_broken_ones() {
        let root = tempfile::tempdir().unwrap();
        assert!(list(&root.path().join("missing")).unwrap().is_empty());
        let _open = session_with_cat(root.path()); // listing takes no lock
        let broken = Session::create(root.path(), "broken", model()).unwrap();
        std::fs::write(broken.dir.join(MANIFEST_FILE), "not [ toml").unwrap();
        drop(broken);
        std::fs::create_dir(root.path().join(".hidden")).unwrap();
        std::fs::write(root.path().join("stray.txt"), "x").unwrap();
        std::fs::create_dir(root.path().join("not mine")).unwrap();
        // A session folder renamed by hand to a name pivot cannot open: listed, with the way back.
        let renamed = Session::create(root.path(), "renamed", model()).unwrap();
        drop(renamed);
        std::fs::rename(root.path().join("renamed"), root.path().join("my trip")).unwrap();
        let l = list(root.path()).unwrap();
        assert_eq!(l.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["broken", "my trip", "trip"]);
        let e = l[1].error.as_deref().unwrap();
        assert!(e.contains("is not a valid session name") && e.contains("rename the folder"), "{e}");
        let l: Vec<_> = l.into_iter().filter(|s| s.name != "my trip").collect();
        assert!(l[0].error.as_deref().unwrap().contains("not a valid session manifest"), "{:?}", l[0]);
        assert_eq!((l[1].items, l[1].model.as_str(), l[1].error.is_none()), (1, "tiny", true));
        assert!(l[1].modified.is_some());
    }

    #[test]
    fn an_interrupted_creation_is_listed_as_such_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let half = root.path().join("half");
        std::fs::create_dir(&half).unwrap();
        std::fs::write(half.join(".lock"), "1\n").unwrap();
        let e = list(root.path()).unwrap()[0].error.clone().unwrap();
        assert!(e.contains("creation was interrupted") && e.contains("pivot session rm half"), "{e}");
        remove(root.path(), "half").unwrap();
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn remove_refuses_an_open_session_and_foreign_folders() {
        let root = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        let e = remove(root.path(), "trip").unwrap_err().to_string();
        assert!(e.contains("is open in another pivot process"), "{e}");
        assert!(s.dir.join("images/cat.png").exists());
        drop(s);
        // A folder this user may not change (root may change any): refused with nothing moved.
        use std::os::unix::fs::PermissionsExt;
        let images = root.path().join("trip/images");
        std::fs::set_permissions(&images, std::fs::Permissions::from_mode(0o555)).unwrap();
        if unsafe { libc::geteuid() } != 0 {
            let e = remove(root.path(), "trip").unwrap_err().to_string();
            assert!(e.contains("trip/images cannot be read or changed by this user") && e.contains("nothing was deleted") && e.contains("chmod -R u+rwX"), "{e}");
            assert!(images.join("cat.png").exists());
            // Writable but not listable: its files could not be found to delete them.
            std::fs::set_permissions(&images, std::fs::Permissions::from_mode(0o333)).unwrap();
            assert!(remove(root.path(), "trip").unwrap_err().to_string().contains("trip/images cannot be read or changed"));
        }
        std::fs::set_permissions(&images, std::fs::Permissions::from_mode(0o755)).unwrap();
        remove(root.path(), "trip").unwrap();
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0, "nothing is left, aside or not");
        std::fs::create_dir_all(root.path().join("photos")).unwrap();
        std::fs::write(root.path().join("photos/a.jpg"), "x").unwrap();
        let listed = list(root.path()).unwrap()[0].error.clone().unwrap();
        assert!(listed.contains("has no session.toml, so it is not a pivot session (restore the file, or remove the folder)"), "{listed}");
        assert!(Session::open(root.path(), "photos").unwrap_err().to_string().contains(&listed));
        assert!(remove(root.path(), "photos").unwrap_err().to_string().contains("not a pivot session"));
        assert!(root.path().join("photos/a.jpg").exists());
        assert!(remove(root.path(), "../x").unwrap_err().to_string().contains("not a valid session name"));
        assert!(remove(root.path(), "nope").unwrap_err().to_string().starts_with("no session `nope`"));
    }
}
