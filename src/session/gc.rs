//! Garbage collection: files a crash left behind between writing and committing (checkpoints
//! under fresh names, temp files of interrupted atomic writes). Runs only with a valid manifest
//! and the lock held, and only inside the session's own folders. Only what is certainly dead is
//! deleted; any other unreferenced file is moved under `trash/`, never lost.

use super::fresh_ids::number_between;
use super::inversion_file::InversionFile;
use super::names::SESSION_FOLDERS;
use super::store::{is_stale_temp, Session};
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::path::Path;

/// Names of the plain files in `dir` (none if it does not exist). Folders, links and names that
/// are not UTF-8 are skipped: pivot never makes them, so they are not its to delete.
fn plain_files(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if let (true, Ok(name)) = (is_file, entry.file_name().into_string()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Where unreferenced files go instead of being deleted: the user may still want them (a
/// manifest restored from a backup does not know newer checkpoints; a file put there by hand).
pub const TRASH_FOLDER: &str = "trash";

/// What the trash of the session folder `dir` holds (files, bytes), without opening the session.
pub fn trash_size_in(dir: &Path) -> (usize, u64) {
    folder_size(&dir.join(TRASH_FOLDER))
}

/// What [`Session::collect_garbage`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Temp files of interrupted writes and checkpoints older than the item's committed one.
    pub deleted: Vec<String>,
    /// Other unreferenced files, moved under `trash/` (same relative path).
    pub trashed: Vec<String>,
    /// Checkpoints later than their item's committed one: pivot stopped between writing one and
    /// recording it. Moved under `trash/` too (a manifest restored from a backup would lose them
    /// if deleted), with a notice that does not call them strangers.
    pub unrecorded: Vec<String>,
}

impl Collected {
    /// One line for the user when files were moved aside, else `None`.
    pub fn notice(&self, session: &Session) -> Option<String> {
        let trash = session.dir.join(TRASH_FOLDER);
        let mut parts = Vec::new();
        if !self.unrecorded.is_empty() {
            parts.push(format!(
                "session `{}`: moved to {} {} pivot had written but not yet recorded when it stopped ({}); resume redoes {}",
                session.name(),
                trash.display(),
                if self.unrecorded.len() == 1 { "a checkpoint" } else { "checkpoints" },
                self.unrecorded.join(", "),
                if self.unrecorded.len() == 1 { "its timestep" } else { "their timesteps" }
            ));
        }
        if !self.trashed.is_empty() {
            parts.push(format!(
                "session `{}` did not refer to {} (kept under {}): {}",
                session.name(),
                if self.trashed.len() == 1 { "this file, moved aside".to_string() } else { format!("these {} files, moved aside", self.trashed.len()) },
                trash.display(),
                self.trashed.join(", ")
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// `inversions/<item>-<n>.safetensors` older than the item's committed checkpoint: what a crash
/// between the commit and the removal of the superseded file leaves. Only while the committed
/// checkpoint is there: without it (a hand-edited manifest, a lost file), an older one may be
/// all that is left of the work.
fn superseded_checkpoint(session: &Session, rel: &str) -> bool {
    same_inversion_as_committed(session, rel, false)
}

/// A checkpoint later than its item's committed one, of the same inversion: written, then
/// pivot stopped (a kill, a full disk) before the manifest named it.
fn unrecorded_checkpoint(session: &Session, rel: &str) -> bool {
    same_inversion_as_committed(session, rel, true) || unrecorded_first_checkpoint(session, rel)
}

/// The first checkpoint of an item's inversion that has none committed: same caption and
/// settings as the item's record.
fn unrecorded_first_checkpoint(session: &Session, rel: &str) -> bool {
    let Some(name) = rel.strip_prefix("inversions/") else { return false };
    session.manifest.items.iter().any(|it| {
        let Some(r) = it.inversion.as_ref().filter(|r| r.file.is_none()) else { return false };
        if number_between(name, &format!("{}-", it.id), ".safetensors").is_none() {
            return false;
        }
        let Ok(f) = InversionFile::load(&session.dir.join(rel), &candle_core::Device::Cpu) else { return false };
        let m = &f.meta;
        m.prompt == it.prompt && m.method == r.method && m.inner_steps == r.inner && m.guidance == r.guidance && m.epsilon == r.epsilon && f.steps() == r.steps
    })
}

/// Whether `rel` is a checkpoint of an item's inversion numbered after (`later`) or before its
/// committed one, and holds a later or earlier state of that same inversion. A file that only
/// has a checkpoint's name (the user's, another photo's inversion copied in) is not.
fn same_inversion_as_committed(session: &Session, rel: &str, later: bool) -> bool {
    let Some(name) = rel.strip_prefix("inversions/") else { return false };
    session.manifest.items.iter().any(|it| {
        let prefix = format!("{}-", it.id);
        let Some(file) = it.inversion.as_ref().and_then(|r| r.file.as_deref()) else { return false };
        let committed = file.strip_prefix("inversions/").and_then(|f| number_between(f, &prefix, ".safetensors"));
        let numbered = matches!((number_between(name, &prefix, ".safetensors"), committed), (Some(n), Some(c)) if if later { n > c } else { n < c });
        let (this, committed) = (session.dir.join(rel), session.dir.join(file));
        numbered && if later { is_earlier_checkpoint(&committed, &this) } else { is_earlier_checkpoint(&this, &committed) }
    })
}

/// Whether the file at `old` is an earlier state of the committed checkpoint at `committed`: the
/// same settings and model, the same encoded photo (the trajectory's first latent), fewer steps
/// done. Anything unreadable is not.
fn is_earlier_checkpoint(old: &Path, committed: &Path) -> bool {
    let load = |p: &Path| InversionFile::load(p, &candle_core::Device::Cpu).ok();
    let (Some(old), Some(new)) = (load(old), load(committed)) else { return false };
    let first = |f: &InversionFile| f.latents.get(0).and_then(|t| t.flatten_all()?.to_vec1::<f32>()).ok();
    old.meta == new.meta && old.steps() == new.steps() && old.completed < new.completed && first(&old).is_some_and(|a| Some(a) == first(&new))
}

/// Files a file manager writes into any folder it shows (and writes back when they go): left
/// where they are, without a word.
fn is_os_metadata(name: &str) -> bool {
    matches!(name, ".DS_Store" | "Thumbs.db" | "desktop.ini") || name.starts_with("._")
}

/// `dest`, or `dest.1`, `dest.2`, … if taken.
fn free_name(dest: &Path) -> std::path::PathBuf {
    let mut candidate = dest.to_path_buf();
    let mut n = 0;
    while candidate.exists() {
        n += 1;
        candidate = dest.with_file_name(format!("{}.{n}", dest.file_name().unwrap_or_default().to_string_lossy()));
    }
    candidate
}

/// Files and bytes under `dir`, its subfolders included (symbolic links are not followed).
pub fn folder_size(dir: &std::path::Path) -> (usize, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return (0, 0) };
    entries.flatten().fold((0, 0), |(n, bytes), e| match e.file_type() {
        Ok(t) if t.is_dir() => {
            let (m, b) = folder_size(&e.path());
            (n + m, bytes + b)
        }
        Ok(t) if t.is_file() => (n + 1, bytes + e.metadata().map_or(0, |m| m.len())),
        _ => (n, bytes),
    })
}

impl Session {
    /// What `trash/` holds (files, bytes): checkpoints of restarted inversions and files the
    /// manifest did not name; pivot never reads them again, the user may delete the folder.
    pub fn trash_size(&self) -> (usize, u64) {
        trash_size_in(&self.dir)
    }

    /// Tidy the session's folders after a crash: delete stale temp files (`.<name>.tmp-<pid>`,
    /// here and at the top level) and superseded checkpoints; move every other file in images/,
    /// inversions/ and edits/ that the manifest does not refer to under `trash/`. Nothing else at
    /// the top level is touched.
    ///
    /// Call it only when no write is pending (`open` does, before handing the session out): a
    /// file written but not yet committed is unreferenced.
    pub fn collect_garbage(&self) -> Result<Collected> {
        self.writable()?;
        // A file where a folder belongs would otherwise surface as a bare "Not a directory".
        for folder in SESSION_FOLDERS.iter().chain([&TRASH_FOLDER]) {
            let dir = self.dir.join(folder);
            if dir.symlink_metadata().is_ok_and(|m| !m.is_dir()) && !dir.is_dir() {
                anyhow::bail!("{} is a file where session `{}` keeps its {folder}/ folder: move the file elsewhere, then open the session again", dir.display(), self.name());
            }
        }
        let referenced: HashSet<&str> = self.manifest.referenced_files().into_iter().collect();
        let mut out = Collected { deleted: plain_files(&self.dir)?.into_iter().filter(|n| is_stale_temp(n)).collect(), ..Default::default() };
        for folder in SESSION_FOLDERS {
            // A folder linked elsewhere (a bigger disk, the user's own pictures) may hold files
            // that are not the session's: there only pivot's own dead files go.
            let linked = self.dir.join(folder).symlink_metadata().is_ok_and(|m| m.file_type().is_symlink());
            for name in plain_files(&self.dir.join(folder))? {
                let rel = format!("{folder}/{name}");
                if is_stale_temp(&name) {
                    out.deleted.push(rel);
                } else if referenced.contains(rel.as_str()) || is_os_metadata(&name) {
                    continue;
                } else if superseded_checkpoint(self, &rel) {
                    out.deleted.push(rel);
                } else if linked {
                    continue;
                } else if unrecorded_checkpoint(self, &rel) {
                    out.unrecorded.push(rel);
                } else {
                    out.trashed.push(rel);
                }
            }
        }
        for rel in &out.deleted {
            let path = self.dir.join(rel);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove the unreferenced file {}", path.display()));
                }
                _ => {}
            }
        }
        for rel in out.unrecorded.iter().chain(&out.trashed) {
            // Listed from the folders themselves: names pivot would never make (`.DS_Store`,
            // `IMG 2.jpg`) are moved aside too, not refused as a manifest's would be.
            self.move_aside(&self.dir.join(rel), rel)?;
        }
        Ok(out)
    }

    /// Move a file the manifest no longer refers to under `trash/` (same relative path, a free
    /// name if one is there already): what pivot replaces but did not make worthless is kept.
    /// Returns where it went, relative to the session folder (a name taken there gets `.1`, …).
    pub fn move_to_trash(&self, rel: &str) -> Result<Option<String>> {
        self.writable()?;
        self.move_aside(&self.path(rel)?, rel)
    }

    /// [`Self::move_to_trash`] of the file at `from`, which is `rel` in the session folder.
    fn move_aside(&self, from: &Path, rel: &str) -> Result<Option<String>> {
        let to = self.dir.join(TRASH_FOLDER).join(rel);
        if self.manifest.referenced_files().contains(&rel) {
            anyhow::bail!("refusing to move {rel} of session `{}` aside: its manifest still references it (a bug in pivot)", self.name());
        }
        if !from.exists() {
            return Ok(None);
        }
        let parent = to.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        let to = free_name(&to);
        let moved = std::fs::rename(from, &to).or_else(|e| match e.raw_os_error() {
            // A folder linked to another disk: renaming cannot cross it, a copy can.
            Some(libc::EXDEV) => std::fs::copy(from, &to).and_then(|_| std::fs::remove_file(from)),
            _ => Err(e),
        });
        moved.with_context(|| format!("cannot move {} under {TRASH_FOLDER}/", from.display()))?;
        Ok(Some(to.strip_prefix(&self.dir).unwrap_or(&to).to_string_lossy().into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use crate::session::store::Session;
    use crate::session::testing::{partial_inversion, session_with_cat};

    #[test]
    fn temp_files_and_superseded_checkpoints_go_other_unreferenced_files_move_to_trash() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        s.write_file("inversions/cat-2.safetensors", &partial_inversion(4, 3).to_bytes().unwrap()).unwrap();
        let rec = s.manifest.items[0].inversion.as_mut().unwrap();
        (rec.file, rec.completed_steps) = (Some("inversions/cat-2.safetensors".into()), 3);
        s.commit().unwrap();
        s.write_file("inversions/x-1.safetensors", b"orphan").unwrap();
        // Older than the committed checkpoint: superseded. Newer (a restored manifest?): kept.
        s.write_file("inversions/cat-1.safetensors", &partial_inversion(4, 2).to_bytes().unwrap()).unwrap();
        s.write_file("inversions/cat-7.safetensors", b"newer").unwrap();
        // A later state of the same inversion: written, never recorded (pivot stopped).
        s.write_file("inversions/cat-3.safetensors", &partial_inversion(4, 4).to_bytes().unwrap()).unwrap();
        // Only a checkpoint's name: not pivot's to delete, nor another caption's inversion.
        s.write_file("inversions/cat-0.safetensors", b"my notes").unwrap();
        let mut other = partial_inversion(4, 1);
        other.meta.prompt = "a red square".into();
        s.write_file("inversions/cat-00.safetensors", &other.to_bytes().unwrap()).unwrap();
        // Same caption and settings, another photo (its first latent differs): not this item's.
        let mut lookalike = partial_inversion(4, 1);
        lookalike.latents = (lookalike.latents + 1.0).unwrap();
        s.write_file("inversions/cat-000.safetensors", &lookalike.to_bytes().unwrap()).unwrap();
        s.write_file("edits/mine.png", b"the user's").unwrap();
        let dir = s.dir.clone();
        // Names pivot never gives (a copy made by hand) move aside too; a file manager's own
        // files stay where they are.
        std::fs::write(dir.join("images/.DS_Store"), b"finder").unwrap();
        std::fs::write(dir.join("edits/my edit (copy).png"), b"mine too").unwrap();
        std::fs::write(dir.join("edits/IMG 2.jpg"), b"mine three").unwrap();
        std::fs::write(dir.join(".session.toml.tmp-123"), b"half").unwrap();
        std::fs::create_dir_all(dir.join("edits")).unwrap();
        std::fs::write(dir.join("edits/.cat-e1.png.tmp-9"), b"half").unwrap();
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        std::fs::create_dir_all(dir.join("images/sub")).unwrap();
        std::fs::create_dir_all(dir.join("thumbs")).unwrap();
        std::fs::write(dir.join("thumbs/a.png"), b"mine").unwrap();
        drop(s);

        let s = Session::open(root.path(), "trip").unwrap(); // collects on open
        for gone in ["inversions/cat-1.safetensors", ".session.toml.tmp-123", "edits/.cat-e1.png.tmp-9"] {
            assert!(!dir.join(gone).exists(), "{gone} survived");
        }
        let trashed = ["inversions/cat-0.safetensors", "inversions/cat-00.safetensors", "inversions/cat-000.safetensors", "inversions/cat-7.safetensors", "inversions/x-1.safetensors", "edits/IMG 2.jpg", "edits/mine.png", "edits/my edit (copy).png"];
        for kept in ["images/cat.png", "inversions/cat-2.safetensors", "notes.txt", ".lock", "session.toml", "images/sub", "thumbs/a.png", "images/.DS_Store"] {
            assert!(dir.join(kept).exists(), "{kept} was deleted");
        }
        for moved in trashed {
            assert!(dir.join("trash").join(moved).exists() && !dir.join(moved).exists(), "{moved} was not moved aside");
        }
        let mut got = s.collected.trashed.clone();
        got.sort();
        let mut want = trashed.map(String::from).to_vec();
        want.sort();
        assert_eq!(got, want);
        let notice = s.collected.notice(&s).unwrap();
        assert!(notice.contains("these 8 files, moved aside") && notice.contains("trash") && notice.contains("edits/mine.png"), "{notice}");
        assert_eq!(s.collected.unrecorded, ["inversions/cat-3.safetensors"]);
        assert!(dir.join("trash/inversions/cat-3.safetensors").exists());
        assert!(notice.contains("a checkpoint pivot had written but not yet recorded when it stopped (inversions/cat-3.safetensors)"), "{notice}");
        s.write_file("images/stray.png", b"x").unwrap();
        s.write_file("edits/mine.png", b"again").unwrap();
        let again = s.collect_garbage().unwrap();
        assert_eq!((again.deleted, again.trashed), (vec![], vec!["images/stray.png".to_string(), "edits/mine.png".to_string()]));
        assert!(dir.join("trash/edits/mine.png.1").exists(), "a name taken in trash/ gets a suffix");
    }

    /// Stopped between writing an item's first checkpoint and recording it: the file is the
    /// item's own (its caption and settings), set aside with the notice that says so.
    #[test]
    fn a_first_checkpoint_never_recorded_is_named_as_pivots_own() {
        let root = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        s.write_file("inversions/cat-1.safetensors", &partial_inversion(4, 1).to_bytes().unwrap()).unwrap();
        let mut other = partial_inversion(4, 1);
        other.meta.guidance = 3.0;
        s.write_file("inversions/cat-2.safetensors", &other.to_bytes().unwrap()).unwrap();
        drop(s);
        let s = Session::open(root.path(), "trip").unwrap();
        assert_eq!(s.collected.unrecorded, ["inversions/cat-1.safetensors"]);
        assert_eq!(s.collected.trashed, ["inversions/cat-2.safetensors"], "other settings: not this item's");
    }

    /// A session folder linked elsewhere holds whatever is there: the stranger files stay where
    /// they are; pivot's own dead files (an interrupted write's) still go.
    #[cfg(unix)]
    #[test]
    fn a_linked_folder_keeps_the_files_pivot_did_not_make() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        let dir = s.dir.clone();
        drop(s);
        let _ = std::fs::remove_dir_all(dir.join("edits"));
        std::fs::write(elsewhere.path().join("holiday.png"), b"mine").unwrap();
        std::fs::write(elsewhere.path().join(".cat-e1.png.tmp-9"), b"half").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.join("edits")).unwrap();
        let s = Session::open(root.path(), "trip").unwrap();
        assert!(elsewhere.path().join("holiday.png").exists() && !dir.join("trash/edits/holiday.png").exists());
        assert!(!elsewhere.path().join(".cat-e1.png.tmp-9").exists(), "an interrupted write's file goes");
        assert_eq!((s.collected.trashed.len(), s.collected.notice(&s)), (0, None));
    }

    /// A manifest naming a checkpoint that is not there (edited by hand, a lost file): the older
    /// checkpoint may be all that is left of the work, so it is moved aside, never deleted.
    #[test]
    fn an_older_checkpoint_is_kept_when_the_committed_one_is_missing() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        s.write_file("inversions/cat-50.safetensors", b"the work").unwrap();
        s.manifest.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-99.safetensors".into());
        s.commit().unwrap();
        let dir = s.dir.clone();
        drop(s);
        let s = Session::open(root.path(), "trip").unwrap();
        assert_eq!((s.collected.deleted.clone(), s.collected.trashed.clone()), (vec![], vec!["inversions/cat-50.safetensors".to_string()]));
        assert_eq!(std::fs::read(dir.join("trash/inversions/cat-50.safetensors")).unwrap(), b"the work");
    }
}
