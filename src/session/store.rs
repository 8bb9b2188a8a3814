//! A session on disk (ARCHITECTURE "Sessions on disk"): `<root>/<name>/` with `session.toml`
//! and `images/`, `inversions/`, `edits/`. Files are written under fresh names first and the
//! manifest is replaced atomically last, so the manifest write is the commit point; whatever a
//! crash leaves unreferenced is collected at the next open. An open session holds its lock.
//!
//! Also here (split out to keep files short): `fresh_ids.rs` (new ids and paths), `check.rs`
//! (`problems`), `gc.rs` (`collect_garbage`), `catalog.rs` (`list`, `remove`), `restart.rs`
//! (`check_restart`, `restart`).

use super::atomic::write_atomic;
use super::catalog::interrupted_create_note;
use super::dirs::{env_note, make_sessions_dir};
use super::gc::Collected;
use super::lock::{SessionLock, LOCK_FILE};
use super::manifest::{Manifest, ModelRef, FORMAT_VERSION};
use super::migrate::parse_manifest;
use super::names::{check_name, check_rel_path};
use super::validate::check_manifest;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub use super::catalog::{list, remove, SessionSummary};

/// The manifest's file name inside a session folder.
pub const MANIFEST_FILE: &str = "session.toml";

/// Temp files `write_atomic` leaves behind when killed mid-write (`.<name>.tmp-<pid>`).
/// Only that exact shape counts: a user's `.notes.tmp-old` is not pivot's to delete.
pub(crate) fn is_stale_temp(file_name: &str) -> bool {
    let Some((name, pid)) = file_name.strip_prefix('.').and_then(|rest| rest.rsplit_once(".tmp-")) else {
        return false;
    };
    !name.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
}

/// An open (locked) session.
#[derive(Debug)]
pub struct Session {
    /// Absolute path of the session folder.
    pub dir: PathBuf,
    pub manifest: Manifest,
    name: String,
    /// Held for as long as the session is open; `None` when opened read-only.
    lock: Option<SessionLock>,
    /// What opening it tidied away (tell the user about anything moved to `trash/`).
    pub collected: Collected,
}

/// pivot's copy of the manifest it last saved, beside it.
pub const MANIFEST_BACKUP: &str = "session.toml.bak";

/// `e` (session.toml could not be read) with the way back when the copy beside it reads fine
/// and differs from it.
fn with_backup_hint(e: anyhow::Error, manifest_path: &Path, text: &str) -> anyhow::Error {
    // Written by a newer pivot: the copy is older still, and putting it back would undo that.
    let version = toml::from_str::<toml::Table>(text).ok().and_then(|d| d.get("format_version").and_then(toml::Value::as_integer));
    if version.is_some_and(|v| v > i64::from(FORMAT_VERSION)) {
        return e;
    }
    let backup = manifest_path.with_file_name(MANIFEST_BACKUP);
    let Ok(saved) = std::fs::read_to_string(&backup) else { return e };
    if saved == text || parse_manifest(&saved, &backup).is_err() {
        return e;
    }
    anyhow::anyhow!(
        "{}; {} is what pivot last saved, and it reads fine: `cp {} {}` brings it back (changes made by hand since are lost)",
        crate::error_text::said(&e),
        backup.display(),
        super::restart::shell_quoted(&backup.display().to_string()),
        super::restart::shell_quoted(&manifest_path.display().to_string())
    )
}

fn absolute_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = root.join(name);
    std::path::absolute(&dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

/// A folder left by a `create` that died before its first commit: only the lock and temp files.
pub(crate) fn is_interrupted_create(dir: &Path) -> Result<bool> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name != LOCK_FILE && !is_stale_temp(&name) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Undo a `create` that made `dir` but could not commit, removing only what it made: the lock
/// file (its lock still held, so nobody else is using it) and the folder, if nothing else has
/// appeared there. The manifest's temp file is gone already (`write_atomic` removes it).
fn unmake(dir: &Path, lock: SessionLock) -> bool {
    let _ = std::fs::remove_file(lock.path());
    let gone = std::fs::remove_dir(dir).is_ok();
    drop(lock);
    gone
}

pub fn now_unix_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// What a folder in the sessions folder without a manifest is, for `list` and `open`.
pub(crate) fn no_manifest_note(dir: &Path) -> String {
    let backup = dir.join(MANIFEST_BACKUP);
    // pivot's own copy of what it last saved brings the session back.
    if std::fs::read_to_string(&backup).is_ok_and(|saved| parse_manifest(&saved, &backup).is_ok()) {
        let q = |p: &Path| super::restart::shell_quoted(&p.display().to_string());
        return format!("{} has no {MANIFEST_FILE}; {MANIFEST_BACKUP} beside it is what pivot last saved, and it reads fine: `cp {} {}` brings the session back", dir.display(), q(&backup), q(&dir.join(MANIFEST_FILE)));
    }
    format!("{} has no {MANIFEST_FILE}, so it is not a pivot session (restore the file, or remove the folder)", dir.display())
}

impl Session {
    /// The refusal of a session name in use (`create`, and `session new` before its model note).
    pub fn taken(root: &Path, name: &str) -> anyhow::Error {
        anyhow::anyhow!("session `{name}` already exists in {}: pick another name (or remove it with `pivot session rm {name}`)", root.display())
    }

    /// New session `<root>/<name>/` (refuses a name in use; creates root if needed), manifest
    /// committed at once. When that fails, the folder is removed again if this call made it.
    pub fn create(root: &Path, name: &str, model: ModelRef) -> Result<Session> {
        check_name("session name", name)?;
        make_sessions_dir(root)?;
        let dir = absolute_dir(root, name)?;
        let made = match std::fs::create_dir(&dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if dir.join(MANIFEST_FILE).exists() {
                    return Err(Self::taken(root, name));
                }
                if !dir.is_dir() || !is_interrupted_create(&dir)? {
                    bail!("{} exists and is not a pivot session: pick another name or move it away", dir.display());
                }
                false
            }
            Err(e) => return Err(e).with_context(|| format!("cannot create {}{}", dir.display(), env_note(&dir))),
        };
        let lock = SessionLock::acquire(&dir, name).inspect_err(|_| {
            // Only if empty: the lock file may be another creator's, whose lock must not go.
            if made {
                let _ = std::fs::remove_dir(&dir);
            }
        })?;
        // Another process may have finished creating it between our checks and the lock.
        if dir.join(MANIFEST_FILE).exists() {
            return Err(Self::taken(root, name));
        }
        let manifest = Manifest::new(name, model, now_unix_secs());
        let mut session = Session { dir, manifest, name: name.into(), lock: Some(lock), collected: Collected::default() };
        if let Err(e) = session.commit() {
            let gone = made && session.lock.take().is_some_and(|lock| unmake(&session.dir, lock));
            let what = if gone { "nothing of it was left behind" } else { "what is left of it holds nothing to lose" };
            return Err(e.context(format!("session `{name}` was not created ({what}); fix the cause and run the command again")));
        }
        Ok(session)
    }

    /// Lock, read + migrate the manifest, then collect garbage. Nothing is collected (or
    /// otherwise touched) when the manifest cannot be read.
    pub fn open(root: &Path, name: &str) -> Result<Session> {
        let (dir, manifest_path) = Self::locate(root, name)?;
        // A manifest this pivot cannot use (newer, damaged) is refused before anything is
        // written into the folder, the lock file included; read again under the lock.
        Self::read_manifest(&manifest_path, name)?;
        let lock = SessionLock::acquire(&dir, name)?;
        let manifest = Self::read_manifest(&manifest_path, name)?;
        let mut session = Session { dir, manifest, name: name.into(), lock: Some(lock), collected: Collected::default() };
        session.collected = session.collect_garbage()?;
        Ok(session)
    }

    /// The committed manifest, without the lock (a session another pivot works on can be shown
    /// and exported: the manifest is replaced atomically). Such a session cannot be changed.
    pub fn open_read_only(root: &Path, name: &str) -> Result<Session> {
        let (dir, manifest_path) = Self::locate(root, name)?;
        let manifest = Self::read_manifest(&manifest_path, name)?;
        Ok(Session { dir, manifest, name: name.into(), lock: None, collected: Collected::default() })
    }

    /// The session folder and its manifest's path, named in the error when either is missing.
    fn locate(root: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
        check_name("session name", name)?;
        let dir = absolute_dir(root, name)?;
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            if dir.is_dir() && is_interrupted_create(&dir).unwrap_or(false) {
                bail!(interrupted_create_note(&dir, name));
            }
            if dir.is_dir() {
                bail!(no_manifest_note(&dir));
            }
            bail!("no session `{name}` in {} (pivot session list shows them)", root.display());
        }
        Ok((dir, manifest_path))
    }

    pub(crate) fn read_manifest(manifest_path: &Path, name: &str) -> Result<Manifest> {
        let bytes = std::fs::read(manifest_path).with_context(|| format!("cannot read {}", manifest_path.display()))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!(
                "{} is not a valid session manifest (not UTF-8 text): fix or restore it; the session's images and tensors are untouched",
                manifest_path.display()
            )
        })?;
        let mut manifest = parse_manifest(&text, manifest_path).map_err(|e| with_backup_hint(e, manifest_path, &text))?;
        // A renamed folder renames the session.
        manifest.name = name.into();
        Ok(manifest)
    }

    /// Forget changes made to `manifest` since the last commit (one that failed, say): read the
    /// committed manifest again, so memory never claims what the disk does not hold.
    pub fn reload_manifest(&mut self) -> Result<()> {
        self.manifest = Self::read_manifest(&self.dir.join(MANIFEST_FILE), &self.name)?;
        Ok(())
    }

    pub(crate) fn writable(&self) -> Result<()> {
        match &self.lock {
            None => bail!("session `{}` was opened read-only (a bug in pivot: nothing was changed)", self.name),
            Some(lock) if !lock.still_in_place() => bail!(
                "session `{}`'s folder {} was moved, renamed or deleted while pivot was working in it; pivot stopped writing there (if it was moved, what pivot saved went with it: move it back, or import it from its new place, then `pivot resume`)",
                self.name,
                self.dir.display()
            ),
            Some(_) => Ok(()),
        }
    }

    /// Whether `<root>/<name>/session.toml` exists (false for an invalid name).
    pub fn exists(root: &Path, name: &str) -> bool {
        check_name("session name", name).is_ok() && root.join(name).join(MANIFEST_FILE).is_file()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Absolute path of a session-relative path (`images/<f>`, `inversions/<f>`, `edits/<f>`);
    /// anything that could escape the session folder is refused.
    pub fn path(&self, rel: &str) -> Result<PathBuf> {
        check_rel_path(rel)?;
        Ok(self.dir.join(rel))
    }

    /// Write the manifest atomically — the commit point. Sets format and app version to this build's.
    pub fn commit(&mut self) -> Result<()> {
        self.writable()?;
        self.manifest.format_version = FORMAT_VERSION;
        self.manifest.app_version = env!("CARGO_PKG_VERSION").into();
        check_manifest(&self.manifest).context("pivot refused to save an invalid session manifest (a bug in pivot; the saved session is unchanged)")?;
        let text = toml::to_string_pretty(&self.manifest).context("cannot serialise the session manifest")?;
        let text = format!("# pivot session; images/, inversions/ and edits/ hold its files.\n{text}");
        write_atomic(&self.dir.join(MANIFEST_FILE), text.as_bytes())?;
        // A copy of what was saved, for when session.toml is broken later (by hand, or by the
        // disk): best effort, as the commit itself is done.
        let _ = write_atomic(&self.dir.join(MANIFEST_BACKUP), text.as_bytes());
        Ok(())
    }

    /// Atomically write a session file (creates its folder). Write under a fresh name, then commit.
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.writable()?;
        write_atomic(&self.path(rel)?, bytes)
    }

    /// Remove a session file if present, once a commit no longer references it. Refuses a file
    /// the manifest still references (that would lose committed work).
    pub fn remove_file(&self, rel: &str) -> Result<()> {
        self.writable()?;
        let path = self.path(rel)?;
        if self.manifest.referenced_files().contains(&rel) {
            bail!("refusing to remove {rel} from session `{}`: its manifest still references it (a bug in pivot)", self.name);
        }
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| format!("cannot remove {}", path.display())),
            _ => Ok(()),
        }
    }

    /// Refuse to mix models: `hash` is the loaded model's `StableDiffusion::fingerprint`.
    pub fn check_model(&self, hash: &str) -> Result<()> {
        let m = &self.manifest.model;
        if m.hash != hash {
            bail!(
                "session `{}` was made with model `{}` (fingerprint {}), but the loaded model's fingerprint is {hash}: use --model {} with this session, or start a new session",
                self.name, m.source, m.hash, m.source
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::testing::{model, session_with_cat};

    #[test]
    fn only_pivots_own_temp_names_are_stale() {
        for ours in [".session.toml.tmp-123", ".cat-10.safetensors.tmp-9"] {
            assert!(is_stale_temp(ours), "{ours}");
        }
        for theirs in [".backup.tmp-old", ".my-favourite.tmp-v2.png", "x.tmp-1", ".tmp-1", ".a.tmp-"] {
            assert!(!is_stale_temp(theirs), "{theirs}");
        }
    }

    #[test]
    fn a_locked_session_opens_read_only_and_cannot_be_changed_that_way() {
        let root = tempfile::tempdir().unwrap();
        let held = session_with_cat(root.path());
        assert!(Session::open(root.path(), "trip").is_err(), "the lock holds");
        let mut view = Session::open_read_only(root.path(), "trip").unwrap();
        assert_eq!(view.manifest, held.manifest);
        assert!(view.commit().unwrap_err().to_string().contains("read-only"));
        assert!(view.write_file("images/x.png", b"x").is_err() && !root.path().join("trip/images/x.png").exists());
    }

    #[test]
    fn save_and_reopen_gives_the_same_manifest_and_bytes() {
        let root = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        let tensor_bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        s.write_file("inversions/cat-1.safetensors", &tensor_bytes).unwrap();
        let mut s = s;
        s.manifest.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-1.safetensors".into());
        s.commit().unwrap();
        let saved = s.manifest.clone();
        drop(s);
        let s = Session::open(root.path(), "trip").unwrap();
        assert_eq!(s.manifest, saved);
        assert_eq!(std::fs::read(s.path("inversions/cat-1.safetensors").unwrap()).unwrap(), tensor_bytes);
        assert_eq!(std::fs::read(s.path("images/cat.png").unwrap()).unwrap(), crate::session::testing::png(7));
        assert!(s.dir.is_absolute());
    }

    #[test]
    fn a_full_manifest_survives_commit_and_open() {
        for version in ["v1", "v3"] {
            let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/sessions/{version}/session.toml"));
            let full = parse_manifest(&std::fs::read_to_string(&fixture).unwrap(), &fixture).unwrap();
            let root = tempfile::tempdir().unwrap();
            let mut s = Session::create(root.path(), "holiday", model()).unwrap();
            s.manifest = full;
            s.commit().unwrap();
            let saved = s.manifest.clone();
            drop(s);
            assert_eq!(Session::open(root.path(), "holiday").unwrap().manifest, saved, "{version}");
        }
    }

    #[test]
    fn create_refuses_a_taken_name_and_open_a_missing_one() {
        let root = tempfile::tempdir().unwrap();
        drop(Session::create(root.path(), "trip", model()).unwrap());
        let e = Session::create(root.path(), "trip", model()).unwrap_err().to_string();
        assert!(e.contains("session `trip` already exists"), "{e}");
        let e = Session::open(root.path(), "nope").unwrap_err().to_string();
        assert!(e.starts_with("no session `nope` in ") && e.contains("pivot session list"), "{e}");
        assert!(Session::exists(root.path(), "trip") && !Session::exists(root.path(), "nope") && !Session::exists(root.path(), "../trip"));
        for bad in ["../x", "/etc", "a/b", ".."] {
            assert!(Session::create(root.path(), bad, model()).unwrap_err().to_string().contains("not a valid session name"));
            assert!(Session::open(root.path(), bad).unwrap_err().to_string().contains("not a valid session name"));
        }
    }

    #[test]
    fn a_broken_manifest_names_the_copy_pivot_last_saved() {
        let root = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        let path = s.dir.join(MANIFEST_FILE);
        drop(s);
        let saved = std::fs::read_to_string(&path).unwrap();
        assert_eq!(std::fs::read_to_string(path.with_file_name(MANIFEST_BACKUP)).unwrap(), saved);
        std::fs::write(&path, saved.replace("[[items]]", "[[items")).unwrap();
        let e = format!("{:#}", Session::open(root.path(), "trip").unwrap_err());
        assert!(e.contains("is not a valid session manifest") && e.contains(&format!("{MANIFEST_BACKUP} is what pivot last saved")) && e.contains("`cp "), "{e}");
        // Put back as the hint says, the session opens as it was.
        std::fs::copy(path.with_file_name(MANIFEST_BACKUP), &path).unwrap();
        assert_eq!(Session::open(root.path(), "trip").unwrap().manifest.items.len(), 1);
        // A manifest deleted outright is brought back the same way.
        std::fs::remove_file(&path).unwrap();
        let e = format!("{:#}", Session::open(root.path(), "trip").unwrap_err());
        assert!(e.contains("has no session.toml") && e.contains("`cp ") && e.contains("brings the session back"), "{e}");
    }

    #[test]
    fn an_open_session_cannot_be_opened_twice() {
        let root = tempfile::tempdir().unwrap();
        let _s = Session::create(root.path(), "trip", model()).unwrap();
        let e = Session::open(root.path(), "trip").unwrap_err().to_string();
        assert!(e.contains("session `trip` is open in another pivot process") && e.contains("close it there first"), "{e}");
    }

    #[test]
    fn a_newer_manifest_is_refused_and_left_as_it_was() {
        let root = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        let path = s.dir.join(MANIFEST_FILE);
        drop(s);
        let (now, next) = (FORMAT_VERSION, FORMAT_VERSION + 1);
        let newer = std::fs::read_to_string(&path).unwrap().replace(&format!("format_version = {now}"), &format!("format_version = {next}"));
        std::fs::write(&path, &newer).unwrap();
        std::fs::remove_file(path.with_file_name(".lock")).unwrap();
        let e = Session::open(root.path(), "trip").unwrap_err().to_string();
        assert!(e.contains(&format!("format_version {next}")) && e.contains(&format!("reads up to {now}")) && e.contains("update pivot"), "{e}");
        assert!(!e.contains(MANIFEST_BACKUP), "the older copy is not offered in place of a newer pivot's: {e}");
        assert!(!path.with_file_name(".lock").exists(), "nothing is written into a newer session's folder");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), newer);
    }

    #[test]
    fn a_corrupt_manifest_is_reported_and_nothing_is_deleted() {
        let root = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        let path = s.dir.join(MANIFEST_FILE);
        let good = std::fs::read(&path).unwrap();
        s.write_file("inversions/orphan-1.safetensors", b"x").unwrap();
        drop(s);
        // An unknown key would vanish at the next commit: refused like any other damage.
        let unknown = [good.clone(), b"\nmy_notes = \"keep me\"\n".to_vec()].concat();
        for bad in [b"\xff\xfe not toml [[[".to_vec(), good[..good.len() / 2].to_vec(), unknown] {
            std::fs::write(&path, &bad).unwrap();
            let e = Session::open(root.path(), "trip").unwrap_err().to_string();
            assert!(e.contains("session.toml is not a valid session manifest") && e.contains("fix or restore it"), "{e}");
            assert_eq!(std::fs::read(&path).unwrap(), bad);
            assert!(root.path().join("trip/inversions/orphan-1.safetensors").exists(), "GC ran on a corrupt session");
            assert!(root.path().join("trip/images/cat.png").exists());
        }
    }

    #[test]
    fn paths_outside_the_session_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        for bad in ["../x", "/etc/passwd", "a/b", "..", "images/../../x", "images/a/b.png", "C:\\x", "images/ünï.png", "session.toml"] {
            assert!(s.path(bad).is_err(), "{bad}");
            assert!(s.write_file(bad, b"x").is_err(), "{bad}");
            assert!(s.remove_file(bad).is_err(), "{bad}");
        }
        assert_eq!(s.path("edits/cat-e1.png").unwrap(), s.dir.join("edits/cat-e1.png"));
    }

    #[test]
    fn referenced_files_are_not_removed_and_other_models_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        assert!(s.remove_file("images/cat.png").unwrap_err().to_string().contains("still references it"));
        s.remove_file("edits/never-written.png").unwrap();
        s.check_model(&model().hash).unwrap();
        let e = s.check_model("other").unwrap_err().to_string();
        assert!(e.contains("was made with model `tiny`"), "{e}");
    }
}
