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
#[path = "store_tests.rs"]
mod tests;
