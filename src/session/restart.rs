//! Inverting an item again from the first timestep (`pivot resume --restart`): checked first,
//! because the restart releases the item's checkpoint and a restart that cannot run would have
//! thrown away a good inversion for nothing.

use super::gc::TRASH_FOLDER;
use super::store::Session;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Whether the photo file decodes (the session's copy is model-sized: this is quick).
fn decodes(path: &Path) -> Result<()> {
    let reader = image::ImageReader::open(path).and_then(|r| r.with_guessed_format());
    reader.map_err(anyhow::Error::from).and_then(|r| Ok(r.decode()?)).map(drop).with_context(|| format!("{} is missing or unreadable", path.display()))
}

/// `text` as one word for a POSIX shell, pasted as it is: in single quotes, where nothing
/// (`$`, backticks, `"`) is special; a quote inside becomes `'\''`.
pub fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The `pivot invert` flags that ask for `r`'s settings; the defaults are left out.
fn invert_flags(r: &super::manifest::InversionRecord) -> String {
    let mut flags = String::new();
    let mut add = |flag: &str, value: String, default: &str| {
        if value != default {
            flags.push_str(&format!(" --{flag} {value}"));
        }
    };
    add("method", r.method.clone(), "null-text");
    add("steps", r.steps.to_string(), "50");
    if r.method == "null-text" {
        add("inner", r.inner.to_string(), "10");
        add("epsilon", r.epsilon.to_string(), &1e-5f64.to_string());
    }
    add("guidance", r.guidance.to_string(), "7.5");
    add("fixed-point", r.fixed_point.to_string(), "0");
    flags
}

impl Session {
    /// Refuse, changing nothing, unless item `id` has an inversion and a photo the worker can
    /// read again (it inverts `images/<id>…`, not the original).
    pub fn check_restart(&self, id: &str) -> Result<()> {
        let Some(item) = self.manifest.item(id).filter(|i| i.inversion.is_some()) else {
            bail!("session `{}` has no inverted item `{id}` ({}); nothing was restarted", self.name(), self.manifest.item_ids_for(id));
        };
        let Err(e) = self.path(&item.image).and_then(|p| decodes(&p)) else { return Ok(()) };
        // Said only of a file that is there: a lost one is not "kept".
        let file = item.inversion.as_ref().and_then(|r| r.file.as_deref());
        let kept = match file.and_then(|f| self.path(f).ok()).is_some_and(|p| p.is_file()) {
            true => " (its inversion is kept)",
            false => "",
        };
        bail!("item `{id}` of session `{}` cannot be inverted again: {e:#}; nothing was restarted{kept} — {}", self.name(), self.add_again(item))
    }

    /// The way out of item `p.item`'s inversion file that cannot be used (`p`), as words to
    /// follow the problem: invert it again; but not when a newer pivot wrote it (the problem
    /// says to update: a restart would throw that work away), nor when the photo copy is lost too.
    pub fn inversion_way_out(&self, p: &super::check::FileProblem) -> String {
        match p.is_newer_format() {
            true => String::new(),
            false => format!(" — {}", self.invert_again_hint(&p.item)),
        }
    }

    /// How item `id` is inverted again from the first timestep, in words: `pivot resume
    /// --restart`; or, with its photo copy lost, the photo added again as a new item.
    pub fn invert_again_hint(&self, id: &str) -> String {
        match self.manifest.item(id) {
            Some(item) if self.file_problem(&item.image).is_some() => format!("its photo copy {} is lost too, so it cannot be inverted again: {}", item.image, self.add_again(item)),
            _ => format!("`pivot resume --session {} --restart {id}` inverts it again from the start", self.name()),
        }
    }

    /// How to get an item whose photo copy is lost going again: add the photo as a new item
    /// with the item's settings, under a free id (the command, with the original's path when it
    /// is still there).
    pub fn add_again(&self, item: &super::manifest::Item) -> String {
        let settings = item.inversion.as_ref().map(invert_flags).unwrap_or_default();
        let id = self.new_item_id(&item.id);
        let add = |photo: &str| format!("`pivot invert {photo} --prompt {} --session {}{settings} --item {id}`", shell_quoted(&item.prompt), self.name());
        if !item.original_path.is_empty() && Path::new(&item.original_path).is_file() {
            format!("its original {} is still there: add it again as a new item with {}", item.original_path, add(&shell_quoted(&item.original_path)))
        } else {
            format!("add the photo again as a new item with {}", add("PHOTO"))
        }
    }

    /// Release item `id`'s inversion progress (its checkpoint goes under `trash/`, its
    /// reconstruction is removed: both are remade) and queue its inversion first; call
    /// [`Self::check_restart`] for every item before restarting any. Returns a line for the user.
    pub fn restart(&mut self, id: &str) -> Result<String> {
        self.restart_at(id, Some(0))
    }

    /// [`Self::restart`] with the inversion queued at `place` (`None`: off the queue, as a
    /// cancelled or finished one whose caption changed waits to be asked for).
    pub fn restart_at(&mut self, id: &str, place: Option<usize>) -> Result<String> {
        let Some(item) = self.manifest.item_mut(id) else {
            bail!("session `{}` has no item `{id}` ({}); nothing was restarted", self.name(), self.manifest.item_ids_for(id));
        };
        let recon = item.reconstruction.take();
        let old = self.manifest.restart_inversion(id, place);
        self.commit()?;
        if let Some(r) = recon {
            self.remove_file(&r)?;
        }
        let Some(rel) = old else { return Ok(format!("item {id}: inversion restarts from the beginning")) };
        if !self.path(&rel)?.exists() {
            return Ok(format!("item {id}: inversion restarts from the beginning (its old checkpoint {rel} was missing)"));
        }
        let kept = self.move_to_trash(&rel)?.unwrap_or_else(|| format!("{TRASH_FOLDER}/{rel}"));
        Ok(format!("item {id}: inversion restarts from the beginning (the old checkpoint is kept as {kept})"))
    }
}

#[cfg(test)]
mod tests {
    use crate::session::testing::{png, session_with_cat};

    #[test]
    fn a_pasted_hint_keeps_quotes_dollars_and_backticks_as_written() {
        assert_eq!(super::shell_quoted("a $5 `id` \"bill\""), "'a $5 `id` \"bill\"'");
        assert_eq!(super::shell_quoted("it's.png"), "'it'\\''s.png'");
        // What a shell makes of it is the text again.
        let text = "it's a $HOME `id` \"x\"";
        let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", super::shell_quoted(text))).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    }

    #[test]
    fn a_missing_photo_refuses_the_restart_and_keeps_the_checkpoint() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        s.write_file("inversions/cat-1.safetensors", b"the work").unwrap();
        s.manifest.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-1.safetensors".into());
        s.commit().unwrap();
        s.write_file("images/cat.png", b"png bytes").unwrap();
        let saved = s.manifest.clone();
        // `images/cat.png` holds no image; the original `/photos/Cat.JPG` is not there either.
        let e = s.check_restart("cat").unwrap_err().to_string();
        assert!(e.contains("item `cat` of session `trip` cannot be inverted again") && e.contains("images/cat.png"), "{e}");
        assert!(e.contains("nothing was restarted (its inversion is kept)") && e.contains("add the photo again as a new item"), "{e}");
        let original = root.path().join("Cat.png");
        std::fs::write(&original, png(9)).unwrap();
        s.manifest.items[0].original_path = original.display().to_string();
        let e = s.check_restart("cat").unwrap_err().to_string();
        assert!(e.contains("its original") && e.contains(&format!("pivot invert '{}'", original.display())), "{e}");
        // The item's own settings (not the defaults), under an id the session does not have.
        assert!(e.contains("--session trip --steps 4 --inner 3 --item cat-2`"), "{e}");
        assert!(s.check_restart("dog").unwrap_err().to_string().contains("no inverted item `dog`"));
        assert!(s.dir.join("inversions/cat-1.safetensors").exists());
        std::fs::rename(s.dir.join("inversions/cat-1.safetensors"), root.path().join("away")).unwrap();
        let e = s.check_restart("cat").unwrap_err().to_string();
        assert!(e.contains("nothing was restarted —"), "a lost inversion is not kept: {e}");
        std::fs::rename(root.path().join("away"), s.dir.join("inversions/cat-1.safetensors")).unwrap();
        s.manifest = saved;
        s.write_file("images/cat.png", &png(9)).unwrap();
        s.check_restart("cat").unwrap();
        let said = s.restart("cat").unwrap();
        assert!(said.contains("kept as trash/inversions/cat-1.safetensors") && s.dir.join("trash/inversions/cat-1.safetensors").exists(), "{said}");
    }

    #[test]
    fn a_checkpoint_already_missing_is_not_said_to_be_kept() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        s.manifest.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-4.safetensors".into());
        s.commit().unwrap();
        let said = s.restart("cat").unwrap();
        assert_eq!(said, "item cat: inversion restarts from the beginning (its old checkpoint inversions/cat-4.safetensors was missing)");
        assert!(!s.dir.join("trash").exists());
        assert_eq!(s.manifest.items[0].inversion.as_ref().unwrap().file, None);
    }

    #[test]
    fn a_restart_removes_the_reconstruction_and_takes_the_queue_place_asked_for() {
        use crate::session::manifest::Job;
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        s.write_file("edits/cat-recon.png", b"old picture").unwrap();
        s.manifest.items[0].reconstruction = Some("edits/cat-recon.png".into());
        s.manifest.queue = vec![Job::Edit { item: "cat".into(), edit: "e1".into() }];
        s.commit().unwrap();
        s.restart_at("cat", None).unwrap();
        assert_eq!(s.manifest.items[0].reconstruction, None);
        assert!(!s.dir.join("edits/cat-recon.png").exists(), "the old reconstruction would show beside the new inversion");
        assert_eq!(s.manifest.queue, vec![Job::Edit { item: "cat".into(), edit: "e1".into() }], "off the queue");
        s.restart_at("cat", Some(5)).unwrap();
        assert_eq!(s.manifest.queue.last(), Some(&Job::Invert { item: "cat".into() }), "a place past the end is the end");
        s.restart("cat").unwrap();
        assert_eq!(s.manifest.queue.first(), Some(&Job::Invert { item: "cat".into() }));
        assert_eq!(s.manifest.queue.len(), 2);
    }

    #[test]
    fn the_way_out_of_an_unusable_inversion_depends_on_why() {
        use crate::session::check::FileProblem;
        let root = tempfile::tempdir().unwrap();
        let s = session_with_cat(root.path());
        let damaged = FileProblem { item: "cat".into(), file: "inversions/cat-1.safetensors".into(), why: "cannot be used: checksum".into() };
        assert_eq!(s.inversion_way_out(&damaged), " — `pivot resume --session trip --restart cat` inverts it again from the start");
        // A newer pivot's file is whole: updating reads it, a restart would throw it away.
        let why = format!("cannot be used: {}", super::super::inversion_file::NewerFormat { version: 99 });
        assert_eq!(s.inversion_way_out(&FileProblem { why, ..damaged.clone() }), "");
        std::fs::remove_file(s.dir.join("images/cat.png")).unwrap();
        let said = s.inversion_way_out(&damaged);
        assert!(said.contains("its photo copy images/cat.png is lost too") && said.contains("add the photo again") && !said.contains("--restart"), "{said}");
    }
}
