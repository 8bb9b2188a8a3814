//! Garbage collection: files a crash left behind between writing and committing (checkpoints
//! under fresh names, temp files of interrupted atomic writes). Runs only with a valid manifest
//! and the lock held, and only inside the session's own folders.

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

impl Session {
    /// Delete files in images/, inversions/ and edits/ that the manifest does not reference, and
    /// stale temp files (`.<name>.tmp-<pid>`) there and at the top level. Nothing else at the top
    /// level is touched. Returns the removed relative paths.
    ///
    /// Call it only when no write is pending (`open` does, before handing the session out): a
    /// file written but not yet committed is unreferenced.
    pub fn collect_garbage(&self) -> Result<Vec<String>> {
        self.writable()?;
        let referenced: HashSet<&str> = self.manifest.referenced_files().into_iter().collect();
        let mut doomed: Vec<String> = plain_files(&self.dir)?.into_iter().filter(|n| is_stale_temp(n)).collect();
        for folder in SESSION_FOLDERS {
            for name in plain_files(&self.dir.join(folder))? {
                let rel = format!("{folder}/{name}");
                if is_stale_temp(&name) || !referenced.contains(rel.as_str()) {
                    doomed.push(rel);
                }
            }
        }
        for rel in &doomed {
            let path = self.dir.join(rel);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove the unreferenced file {}", path.display()));
                }
                _ => {}
            }
        }
        Ok(doomed)
    }
}

#[cfg(test)]
mod tests {
    use crate::session::store::Session;
    use crate::session::testing::session_with_cat;

    #[test]
    fn unreferenced_and_temp_files_go_the_rest_stays() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        s.write_file("inversions/cat-2.safetensors", b"kept").unwrap();
        s.manifest.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-2.safetensors".into());
        s.commit().unwrap();
        s.write_file("inversions/x-1.safetensors", b"orphan").unwrap();
        let dir = s.dir.clone();
        std::fs::write(dir.join(".session.toml.tmp-123"), b"half").unwrap();
        std::fs::create_dir_all(dir.join("edits")).unwrap();
        std::fs::write(dir.join("edits/.cat-e1.png.tmp-9"), b"half").unwrap();
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        std::fs::create_dir_all(dir.join("images/sub")).unwrap();
        std::fs::create_dir_all(dir.join("thumbs")).unwrap();
        std::fs::write(dir.join("thumbs/a.png"), b"mine").unwrap();
        drop(s);

        let s = Session::open(root.path(), "trip").unwrap(); // collects on open
        for gone in ["inversions/x-1.safetensors", ".session.toml.tmp-123", "edits/.cat-e1.png.tmp-9"] {
            assert!(!dir.join(gone).exists(), "{gone} survived");
        }
        for kept in ["images/cat.png", "inversions/cat-2.safetensors", "notes.txt", ".lock", "session.toml", "images/sub", "thumbs/a.png"] {
            assert!(dir.join(kept).exists(), "{kept} was deleted");
        }
        s.write_file("images/stray.png", b"x").unwrap();
        assert_eq!(s.collect_garbage().unwrap(), vec!["images/stray.png".to_string()]);
    }
}
