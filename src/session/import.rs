//! Bringing a session folder from elsewhere (another machine, a backup, a colleague) into the
//! sessions folder: checked where it lies, copied under a temporary name, then renamed into place,
//! so the sessions folder never holds half a session.

use super::atomic::sync_dir;
use super::dirs::make_sessions_dir;
use super::leftovers::staging_dir;
use super::lock::LOCK_FILE;
use super::names::check_name;
use super::store::{is_stale_temp, Session, MANIFEST_FILE};
use anyhow::{bail, ensure, Context, Result};
use std::path::Path;

/// Copy the session folder `src` into `root` as `name` (default: the folder's own name) and open
/// it there. `src` is only read.
/// `stop` is asked between files: a stop leaves no session and the source untouched.
pub fn import(root: &Path, src: &Path, name: Option<&str>, stop: &dyn Fn() -> bool) -> Result<Session> {
    let manifest = src.join(MANIFEST_FILE);
    if !src.exists() {
        bail!("{} does not exist: name the folder of the session to import (it holds {MANIFEST_FILE})", src.display());
    }
    if !src.is_dir() {
        bail!("{} is a file: name the folder of the session to import (it holds {MANIFEST_FILE})", src.display());
    }
    // An export is pictures and inversion files for use outside pivot, not a session.
    if !manifest.is_file() && src.join("summary.md").is_file() {
        bail!("{} is what `pivot session export` wrote, not a session: its inversion files are edited as they are (`pivot edit {}/inversions/ITEM.safetensors --target TEXT --out edit.png`); to move a session, import its own folder (under the sessions folder, beside its session.toml)", src.display(), src.display());
    }
    if !manifest.is_file() {
        bail!("{} has no {MANIFEST_FILE}, so it is not a pivot session folder (import the folder that holds {MANIFEST_FILE})", src.display());
    }
    let src_real = src.canonicalize().with_context(|| format!("cannot resolve {}", src.display()))?;
    let own_name = src_real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let named = name.is_some();
    let name = name.unwrap_or(&own_name);
    let valid = check_name("session name", name);
    if !named {
        valid.context("the folder's name cannot be a session's: give one with --name")?;
    } else {
        valid?;
    }
    // Nobody may change the folder while it is copied (a running job would leave the copy with
    // a manifest older than its checkpoints); held until the copy is done.
    let _reading = super::lock::hold_for_reading(src)?;
    // A damaged or newer manifest is refused before anything is copied.
    Session::read_manifest(&manifest, name)?;
    make_sessions_dir(root)?;
    let root_real = root.canonicalize().with_context(|| format!("cannot resolve {}", root.display()))?;
    // Under another name, a session of this folder is copied as a new one (to try other edits
    // on a copy, say).
    if src_real.parent() == Some(root_real.as_path()) && name == own_name {
        bail!("{} is already in the sessions folder, as session `{own_name}` (`--name NEW` copies it as a new session)", src.display());
    }
    let dest = root.join(name);
    if dest.exists() {
        bail!("session `{name}` already exists in {}: import it under another name with --name", root.display());
    }
    // A kill leaves this behind; `leftovers::collect` deletes it once this process is gone.
    let staging = staging_dir(root, name);
    // Every copy is on disk before the rename makes it a session: a power cut never leaves a
    // session of empty files.
    let copied = copy_session(src, &staging, stop).and_then(|()| {
        std::fs::rename(&staging, &dest).with_context(|| format!("cannot move {} to {}", staging.display(), dest.display()))?;
        sync_dir(root);
        Ok(())
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e.context(format!("session `{name}` was not imported; {} is unchanged", src.display())));
    }
    Session::open(root, name)
}

/// The manifest first (the commit point of a session another pivot may be writing: every file it
/// names exists already), then the rest, without the lock and interrupted writes.
fn copy_session(src: &Path, dest: &Path, stop: &dyn Fn() -> bool) -> Result<()> {
    std::fs::create_dir(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    copy_file(&src.join(MANIFEST_FILE), &dest.join(MANIFEST_FILE))?;
    copy_tree(src, dest, true, stop)
}

fn copy_tree(src: &Path, dest: &Path, top: bool, stop: &dyn Fn() -> bool) -> Result<()> {
    for entry in std::fs::read_dir(src).with_context(|| format!("cannot read {}", src.display()))? {
        ensure!(!stop(), "stopped before the copy was done");
        let entry = entry?;
        let name = entry.file_name();
        // What the session set aside is never read again: it stays where it is.
        let skip = is_stale_temp(&name.to_string_lossy()) || (top && (name == LOCK_FILE || name == MANIFEST_FILE || name == super::gc::TRASH_FOLDER));
        if skip {
            continue;
        }
        let (from, to) = (entry.path(), dest.join(&name));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            std::fs::create_dir(&to).with_context(|| format!("cannot create {}", to.display()))?;
            copy_tree(&from, &to, false, stop)?;
        } else if kind.is_file() || (kind.is_symlink() && from.is_file()) {
            // A link to a file (a photo kept elsewhere) is copied as the file it names.
            copy_file(&from, &to)?;
        } else if kind.is_symlink() && from.is_dir() {
            bail!("{} is a link to a folder: put the folder itself in its place, then import again", from.display());
        }
        // Broken links and special files are no part of a session pivot wrote; a missing file
        // is named after the copy.
    }
    sync_dir(dest);
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let synced = std::fs::copy(from, to).and_then(|_| std::fs::File::open(to)?.sync_all());
    synced.with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
}
